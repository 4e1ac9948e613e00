/* --network egress: outbound connections through pasta (Debian's passt
 * package), a user-mode network stack attached to the run's network
 * namespace. pasta terminates the job's TCP/UDP/ICMP in its own process and
 * opens ordinary sockets on the host for them, so no packet of the job is
 * routed by the host and no host firewall rule is needed.
 *
 * What stays unreachable, and why:
 * - the host's loopback: 127.0.0.0/8 and ::1 are the namespace's own lo;
 *   pasta runs with -T none -U none (no namespace-to-host port forwarding)
 *   and --no-map-gw (the gateway address is not remapped to the host).
 * - the host's own addresses: pasta would connect to them from the host, so
 *   the child adds an unreachable route for each one the host has when the
 *   run starts (sbx_net_block); the address pasta copies onto the
 *   namespace's interface is local there anyway.
 * - inbound: -t none -u none, nothing is forwarded into the namespace.
 * DNS: queries to DNS_ADDR:53 are forwarded by pasta to the host's first
 * resolver (also one on the host's loopback); /etc/resolv.conf inside
 * names DNS_ADDR.
 *
 * Lifetime: pasta is a child of the supervisor with PR_SET_PDEATHSIG, in
 * the foreground; it writes its pid (-P, a pipe) once the namespace is
 * configured, which is when the child is let go on. It holds the namespace
 * through its tap device, so sbx_net_stop() ends it after the run. */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/util.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

/* pasta configures the namespace in a few ms; a loaded 2-core CI machine
 * gets a generous margin before the run is failed. */
#define READY_MS 10000

static int find_pasta(char *out, size_t len)
{
	const char *env = getenv("SENTINEL_PASTA");
	static const char *const dirs[] = { "/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin", NULL };
	if (env && *env) {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) ? -ENOENT : 0;
	}
	for (size_t i = 0; dirs[i]; i++) {
		snprintf(out, len, "%s/pasta", dirs[i]);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* The host's addresses, snapshotted for the child's unreachable routes;
 * -E2BIG past SBX_NET_ADDRS (refused rather than leaving some reachable). */
static int host_addrs(struct sbx_net *n)
{
	struct ifaddrs *ifa = NULL;
	struct sbx_addr spare;
	int rc = 0;
	n->naddrs = 0;
	if (getifaddrs(&ifa))
		return -errno;
	for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		struct sbx_addr *a = n->naddrs < SBX_NET_ADDRS ? &n->addrs[n->naddrs] : &spare;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s = (const void *)i->ifa_addr;
			if ((ntohl(s->sin_addr.s_addr) >> 24) == 127)
				continue; /* the namespace's own lo */
			a->family = AF_INET;
			memcpy(a->addr, &s->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s = (const void *)i->ifa_addr;
			if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr) || IN6_IS_ADDR_LINKLOCAL(&s->sin6_addr))
				continue; /* lo, and link-local needs an interface pasta never uses */
			a->family = AF_INET6;
			memcpy(a->addr, &s->sin6_addr, 16);
		} else {
			continue;
		}
		if (a == &spare) {
			rc = -E2BIG;
			break;
		}
		n->naddrs++;
	}
	freeifaddrs(ifa);
	return rc;
}

int sbx_net_prepare(struct sbx_net *n, int mode, char *err, size_t errlen)
{
	memset(n, 0, sizeof *n);
	n->pid = -1;
	n->mode = mode;
	if (mode == SBX_NET_NONE)
		return 0;
	if (geteuid() != 0) {
		snprintf(err, errlen, "--network egress needs root (pasta joins the run's network "
			 "namespace, which a user namespace would own)");
		return -EPERM;
	}
	if (find_pasta(n->pasta, sizeof n->pasta)) {
		snprintf(err, errlen, "--network egress needs pasta, which was not found (install "
			 "the Debian package passt, or set SENTINEL_PASTA)");
		return -ENOENT;
	}
	int rc = host_addrs(n);
	if (rc)
		snprintf(err, errlen, "--network egress: %s", rc == -E2BIG
			 ? "the host has more than 64 addresses, which could not all be made "
			   "unreachable from the sandbox" : strerror(-rc));
	return rc;
}

/* Reads pasta's pid line from fd within READY_MS; 0 or -errno. */
static int wait_ready(int fd)
{
	char buf[32];
	size_t len = 0;
	int64_t until = sn_mono_ns() / 1000000 + READY_MS;
	for (;;) {
		int64_t left = until - sn_mono_ns() / 1000000;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (left <= 0)
			return -ETIMEDOUT;
		int rc = poll(&pf, 1, (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return rc ? -errno : -ETIMEDOUT;
		ssize_t k = read(fd, buf + len, sizeof buf - 1 - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -ECHILD; /* pasta exited without configuring the namespace */
		len += (size_t)k;
		if (memchr(buf, '\n', len) || len == sizeof buf - 1)
			return 0;
	}
}

/* Forked pasta: fds 3 (the namespace) and 4 (the pid pipe), stderr to err_w. */
static __attribute__((noreturn)) void exec_pasta(const struct sbx_net *n, int ns_fd, int pid_w,
						  int err_w)
{
	char *argv[] = { (char *)n->pasta, "-f", "-q", "--runas", "0:0", "--config-net",
			 "--no-map-gw", "-t", "none", "-u", "none", "-T", "none", "-U", "none",
			 "--dns-forward", SBX_NET_DNS, "--netns", "/proc/self/fd/3",
			 "-P", "/proc/self/fd/4", NULL };
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int null = open("/dev/null", O_RDWR);
	/* Lift above 4 first so that the dup2s below cannot clobber each other. */
	int a = fcntl(ns_fd, F_DUPFD, 10), b = fcntl(pid_w, F_DUPFD, 10), c = fcntl(err_w, F_DUPFD, 10);
	if (null < 0 || a < 0 || b < 0 || c < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
	    dup2(c, 2) < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
		_exit(126);
	syscall(SYS_close_range, 5, ~0U, 0);
	/* The run's network must not outlive a supervisor killed by SIGKILL. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* Ignored signals survive execve; pasta refuses to start with SIGPIPE
	 * ignored (the CLI ignores it). */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(n->pasta, argv, envp);
	_exit(127);
}

int sbx_net_start(struct sbx_net *n, pid_t init, char *err, size_t errlen)
{
	char path[64], msg[256] = "";
	int ns_fd = -1, pid_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, rc = 0;
	if (n->mode == SBX_NET_NONE)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/ns/net", (int)init);
	ns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0 || pipe2(pid_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC | O_NONBLOCK)) {
		rc = -errno;
		snprintf(err, errlen, "--network egress: %s", strerror(-rc));
		goto out;
	}
	/* Raw clone as in sbx_sys.c: no atfork handlers in a threaded caller. */
	long pid = syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0)
		exec_pasta(n, ns_fd, pid_p[1], err_p[1]);
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "--network egress: fork: %s", strerror(-rc));
		goto out;
	}
	n->pid = (pid_t)pid;
	close(pid_p[1]);
	close(err_p[1]);
	pid_p[1] = err_p[1] = -1;
	rc = wait_ready(pid_p[0]);
	if (rc) {
		ssize_t k = read(err_p[0], msg, sizeof msg - 1);
		msg[k > 0 ? k : 0] = '\0';
		msg[strcspn(msg, "\n")] = '\0';
		snprintf(err, errlen, "--network egress: pasta (%s) did not set up the network%s%s%s",
			 n->pasta, rc == -ETIMEDOUT ? " in time" : "", msg[0] ? ": " : "", msg);
		rc = rc == -ETIMEDOUT ? rc : -ENETUNREACH;
	}
out:
	if (ns_fd >= 0)
		close(ns_fd);
	for (int i = 0; i < 2; i++) {
		if (pid_p[i] >= 0)
			close(pid_p[i]);
		if (err_p[i] >= 0)
			close(err_p[i]);
	}
	return rc;
}

void sbx_net_stop(struct sbx_net *n)
{
	if (n->pid <= 0)
		return;
	kill(n->pid, SIGKILL);
	while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
		;
	n->pid = -1;
}

/* Child side (no allocation): an unreachable route for each host address,
 * through one rtnetlink socket; each request is acknowledged. */
int sbx_net_block(const struct sbx_addr *addrs, size_t n)
{
	int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = 0;
	if (s < 0)
		return -1;
	for (size_t i = 0; i < n && !rc; i++) {
		struct {
			struct nlmsghdr h;
			struct rtmsg r;
			char attrs[64];
		} req;
		size_t alen = addrs[i].family == AF_INET ? 4 : 16;
		memset(&req, 0, sizeof req);
		req.h.nlmsg_type = RTM_NEWROUTE;
		req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
		req.h.nlmsg_seq = (unsigned)i + 1;
		req.r.rtm_family = (unsigned char)addrs[i].family;
		req.r.rtm_dst_len = (unsigned char)(alen * 8);
		req.r.rtm_table = RT_TABLE_MAIN;
		req.r.rtm_protocol = RTPROT_STATIC;
		req.r.rtm_scope = RT_SCOPE_UNIVERSE;
		req.r.rtm_type = RTN_UNREACHABLE;
		struct rtattr *ra = (struct rtattr *)req.attrs;
		ra->rta_type = RTA_DST;
		ra->rta_len = (unsigned short)RTA_LENGTH(alen);
		memcpy(RTA_DATA(ra), addrs[i].addr, alen);
		req.h.nlmsg_len = (unsigned)(NLMSG_LENGTH(sizeof req.r) + RTA_SPACE(alen));
		if (send(s, &req, req.h.nlmsg_len, 0) < 0) {
			rc = -1;
			break;
		}
		char ans[512];
		ssize_t k = recv(s, ans, sizeof ans, 0);
		const struct nlmsghdr *h = (const void *)ans;
		if (k < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) {
			errno = EPROTO;
			rc = -1;
		} else {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (e->error) {
				errno = -e->error;
				rc = -1;
			}
		}
	}
	int e = errno;
	close(s);
	errno = e;
	return rc;
}
