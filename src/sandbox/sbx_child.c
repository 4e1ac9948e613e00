/* The child side of a sandbox run. sbx_child_main() runs in the process
 * cloned into the new namespaces, as their PID 1 ("init"):
 *
 *   join cgroups -> private mounts -> tmpfs root -> mount plan (every path
 *   resolved inside the new root, sbx_plan.c) -> pivot_root
 *   -> read-only root -> loopback up -> fork the job -> reap until the job
 *   exits -> report its wait status -> exit (the kernel then kills every
 *   other process of the PID namespace, and the mount namespace dies).
 *
 * The job process: default signals, stdio on the pipes, every other fd
 * close-on-exec, rlimits, unprivileged uid/gid, empty capability sets and
 * bounding set, no_new_privs, seccomp, execve.
 *
 * Invariant: nothing here allocates or takes a lock (the supervisor may be
 * multi-threaded and we are a copy of it); all data was prepared by the
 * supervisor. Failures are reported on the status pipe as (stage, errno). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sandbox/sbx_int.h"

static void report(int fd, int kind, int stage, int err, int status)
{
	struct sbx_msg m = { .kind = kind, .stage = stage, .err = err, .status = status };
	ssize_t n = write(fd, &m, sizeof m);
	(void)n;
}

static __attribute__((noreturn)) void fail(const struct sbx_child_args *a, int stage)
{
	report(a->status_w, SBX_MSG_SETUP, stage, errno, 0);
	_exit(125);
}

/* Every path of the plan is looked up from the new root's descriptor with
 * RESOLVE_IN_ROOT: a symlink of an image (say data -> /etc) resolves as it
 * will inside the sandbox, never onto the host. Last components are made
 * with *at() calls that do not follow symlinks; mounts go onto descriptors. */
static int open_in_root(int root, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(O_PATH | O_CLOEXEC | flags),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

/* Opens the parent of the in-root path dst and points *name at its last
 * component (in buf). */
static int open_parent(int root, const char *dst, char *buf, size_t len, const char **name)
{
	size_t n = strlen(dst);
	if (n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, dst, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = '\0';
	char *slash = strrchr(buf, '/');
	if (!slash || !slash[1]) {
		errno = EINVAL;
		return -1;
	}
	*name = slash + 1;
	if (slash == buf)
		return open_in_root(root, "/", O_DIRECTORY);
	*slash = '\0';
	return open_in_root(root, buf, O_DIRECTORY);
}

/* "/proc/self/fd/N" without snprintf (no allocation here). */
static void fd_path(char buf[32], int fd)
{
	char digits[12];
	size_t n = 0;
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) && n < sizeof digits);
	memcpy(buf, "/proc/self/fd/", 14);
	for (size_t i = 0; i < n; i++)
		buf[14 + i] = digits[n - 1 - i];
	buf[14 + n] = '\0';
}

/* The supervisor's descriptor of the work directory belongs to the host's
 * mount namespace, which open_tree cannot clone from: the path is opened
 * again in ours, and bound only if it is the very same directory. */
static int bind_same_dir(const struct sbx_op *op, int tgt, uint64_t attr)
{
	struct stat want, got;
	int rc = -1, e, fd = open(op->src, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(op->src_fd, &want) || fstat(fd, &got) || !S_ISDIR(got.st_mode) ||
	    want.st_dev != got.st_dev || want.st_ino != got.st_ino)
		errno = ESTALE;
	else
		rc = sbx_sys.bind(NULL, fd, tgt, attr);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int mount_op(const struct sbx_op *op, int tgt)
{
	uint64_t attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (op->rw ? 0 : MOUNT_ATTR_RDONLY);
	char at[32];
	fd_path(at, tgt);
	switch (op->kind) {
	case SOP_BIND:
		if (op->src_fd >= 0)
			return bind_same_dir(op, tgt, attr);
		return sbx_sys.bind(op->src, -1, tgt, attr);
	case SOP_FILE_BIND:
		return sbx_sys.bind(op->src, -1, tgt, attr);
	case SOP_TREE:
		return sbx_sys.attach(op->src_fd, tgt);
	case SOP_DEV_BIND:
		return sbx_sys.bind(op->src, -1, tgt, 0);
	case SOP_TMPFS:
		return sbx_sys.mount("tmpfs", at, "tmpfs", MS_NOSUID | MS_NODEV, op->data);
	case SOP_PROC:
		return sbx_sys.mount("proc", at, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	default:
		return 0;
	}
}

/* Makes the last component of op->dst in its parent dir. */
static int make_entry(const struct sbx_op *op, int dir, const char *name)
{
	int fd, rc;
	switch (op->kind) {
	case SOP_DIR:
	case SOP_BIND:
	case SOP_TREE:
	case SOP_TMPFS:
	case SOP_PROC:
		rc = mkdirat(dir, name, op->kind == SOP_DIR ? op->mode
					  : op->kind == SOP_PROC ? 0555 : 0755);
		return rc && errno != EEXIST ? -1 : 0;
	case SOP_FILE_BIND:
	case SOP_DEV_BIND:
		rc = mknodat(dir, name, S_IFREG | 0644, 0);
		return rc && errno != EEXIST ? -1 : 0;
	case SOP_SYMLINK:
		return symlinkat(op->src, dir, name) && errno != EEXIST ? -1 : 0;
	case SOP_WRITE:
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			    op->mode);
		if (fd < 0)
			return -1;
		size_t n = strlen(op->data);
		rc = write(fd, op->data, n) == (ssize_t)n ? 0 : -1;
		close(fd);
		return rc;
	}
	errno = EINVAL;
	return -1;
}

static int run_op(const struct sbx_op *op, int root)
{
	char buf[PATH_MAX];
	const char *name;
	int rc = -1, tgt = -1, e;
	int dir = open_parent(root, op->dst, buf, sizeof buf, &name);
	if (dir < 0)
		return -1;
	if (make_entry(op, dir, name))
		goto out;
	if (op->kind == SOP_DIR || op->kind == SOP_SYMLINK || op->kind == SOP_WRITE) {
		rc = 0;
		goto out;
	}
	int is_dir = op->kind != SOP_FILE_BIND && op->kind != SOP_DEV_BIND;
	tgt = open_in_root(root, op->dst, is_dir ? O_DIRECTORY : 0);
	if (tgt >= 0)
		rc = mount_op(op, tgt);
out:
	e = errno;
	if (tgt >= 0)
		close(tgt);
	close(dir);
	errno = e;
	return rc;
}

static int lo_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	int rc = -1;
	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

static void write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, s, strlen(s));
		(void)n;
		close(fd);
	}
}

/* The filesystem: everything from the private propagation to the
 * read-only root after pivot_root. */
static void build_root(const struct sbx_child_args *a)
{
	if (sbx_sys.mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		fail(a, SBX_STAGE_NS);
	if (sbx_sys.mount("tmpfs", a->root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755"))
		fail(a, SBX_STAGE_ROOT);
	int root = open(a->root, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		fail(a, SBX_STAGE_ROOT);
	for (size_t i = 0; i < a->nops; i++)
		if (run_op(&a->ops[i], root))
			fail(a, (int)i);
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * lazy unmount then drops the whole host tree from this namespace. */
	if (fchdir(root) || sbx_sys.pivot_root(".", ".") || umount2(".", MNT_DETACH) || chdir("/"))
		fail(a, SBX_STAGE_PIVOT);
	close(root);
	if (sbx_sys.mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
		fail(a, SBX_STAGE_PIVOT);
}

static void drop_privileges(const struct sbx_child_args *a)
{
	/* The bounding set first: dropping it needs CAP_SETPCAP, which the
	 * uid change below takes away. */
	for (int c = 0; c <= 63; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL)
			fail(a, SBX_STAGE_IDS);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	/* Raw system calls: glibc's wrappers broadcast the change to every
	 * thread it believes exists (SIGSETXID) and wait for them; the
	 * supervisor's threads were not copied here, so they would hang. */
	if (syscall(SYS_setgroups, 0, NULL) && !(a->userns && errno == EPERM))
		fail(a, SBX_STAGE_IDS);
	if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) ||
	    syscall(SYS_setresuid, a->uid, a->uid, a->uid))
		fail(a, SBX_STAGE_IDS);
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct d[2];
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d))
		fail(a, SBX_STAGE_IDS);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		fail(a, SBX_STAGE_IDS);
}

/* Only ever lowers a limit (raising needs CAP_SYS_RESOURCE, which a
 * container-started supervisor may lack). */
static int lower(int res, const struct rlimit *want)
{
	struct rlimit cur;
	if (want->rlim_max == RLIM_INFINITY)
		return 0;
	if (getrlimit(res, &cur))
		return -1;
	if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < want->rlim_max)
		return 0;
	return setrlimit(res, want);
}

static void set_limits(const struct sbx_child_args *a)
{
	struct rlimit zero = { 0, 0 };
	if (lower(RLIMIT_CORE, &zero) || lower(RLIMIT_FSIZE, &a->fsize) ||
	    lower(RLIMIT_AS, &a->as) || lower(RLIMIT_NPROC, &a->nproc))
		fail(a, SBX_STAGE_LIMITS);
}

/* execvpe without allocation: argv[0] searched in a->path. */
static int exec_search(const struct sbx_child_args *a)
{
	const char *file = a->argv[0];
	if (strchr(file, '/'))
		return execve(file, a->argv, a->envp);
	char buf[PATH_MAX];
	int seen_eacces = 0;
	size_t fl = strlen(file);
	for (const char *p = a->path; p;) {
		const char *end = strchr(p, ':');
		size_t dl = end ? (size_t)(end - p) : strlen(p);
		if (dl + fl + 2 <= sizeof buf) {
			memcpy(buf, p, dl);
			buf[dl] = '/';
			memcpy(buf + dl + 1, file, fl + 1);
			execve(dl ? buf : file, a->argv, a->envp);
			if (errno == EACCES)
				seen_eacces = 1;
			else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
				return -1;
		}
		p = end ? end + 1 : NULL;
	}
	errno = seen_eacces ? EACCES : ENOENT;
	return -1;
}

static __attribute__((noreturn)) void job_main(const struct sbx_child_args *a)
{
	sigset_t all;
	sigemptyset(&all);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &all, NULL);
	setsid();
	write_str("/proc/self/oom_score_adj", "0");
	/* Lift the three pipe ends above stdio before placing them. */
	int out = fcntl(a->out_w, F_DUPFD_CLOEXEC, 10);
	int err = fcntl(a->err_w, F_DUPFD_CLOEXEC, 10);
	/* Not O_CLOEXEC: init closed everything, so this may be fd 0 itself,
	 * which dup2 then leaves as it is. */
	int null = open("/dev/null", O_RDONLY);
	if (out < 0 || err < 0 || null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0)
		fail(a, SBX_STAGE_FORK);
	syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
	set_limits(a);
	if (chdir(a->cwd))
		fail(a, SBX_STAGE_CWD);
	drop_privileges(a);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, a->filter, 0, 0))
		fail(a, SBX_STAGE_SECCOMP);
	exec_search(a);
	int e = errno;
	report(a->status_w, SBX_MSG_EXEC, 0, e, 0);
	_exit(e == ENOENT ? 127 : 126);
}

static int job_entry(void *arg)
{
	job_main(arg);
}

/* Closes every inherited descriptor but the ones the run needs: the
 * supervisor may hold sockets and files that must not stay open for as
 * long as the job runs. */
static void close_others(const struct sbx_child_args *a)
{
	int keep[8 + 8];
	size_t n = 0;
	int fixed[] = { a->out_w, a->err_w, a->status_w, a->life_r, a->sync_r, a->workdir_fd,
			a->tree_fd, a->net_r };
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if (fixed[i] >= 0)
			keep[n++] = fixed[i];
	for (size_t i = 0; i < a->ncg && n < sizeof keep / sizeof keep[0]; i++)
		keep[n++] = a->cg_fds[i];
	for (size_t i = 1; i < n; i++) /* insertion sort: a handful of ints */
		for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned from = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			syscall(SYS_close_range, from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0U, 0);
}

/* /proc/1/cmdline is world-readable inside the sandbox: init, a copy of
 * the supervisor, must not show the supervisor's arguments (a node's may
 * carry a token). Its copy of the argv area is overwritten. */
static void hide_cmdline(const struct sbx_child_args *a)
{
	static const char name[] = "sentinel-sandbox-init";
	if (!a->arg_start || a->arg_end <= a->arg_start)
		return;
	size_t n = (size_t)(a->arg_end - a->arg_start);
	memset(a->arg_start, 0, n);
	memcpy(a->arg_start, name, n < sizeof name ? n - 1 : sizeof name - 1);
}

/* The supervisor's SIGTERM at the time limit goes to every process of
 * the run; kill(-1) in a PID namespace spares only its init. */
static void pass_term(int sig)
{
	int e = errno;
	kill(-1, sig);
	errno = e;
}

void sbx_child_main(const struct sbx_child_args *a)
{
	close_others(a);
	hide_cmdline(a);
	/* If the supervisor is already gone, the death signal came too late. */
	struct pollfd pf = { .fd = a->life_r, .events = POLLIN };
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) || poll(&pf, 1, 0) != 0)
		_exit(125);
	if (a->userns) {
		char c;
		if (read(a->sync_r, &c, 1) != 1)
			fail(a, SBX_STAGE_SYNC);
	}
	for (size_t i = 0; i < a->ncg; i++) {
		if ((int)i != a->cg_born && write(a->cg_fds[i], "0", 1) != 1)
			fail(a, SBX_STAGE_CGROUP);
		close(a->cg_fds[i]);
	}
	/* The OOM killer should pick the job, not its init. */
	write_str("/proc/self/oom_score_adj", "-1000");
	build_root(a);
	if (lo_up())
		fail(a, SBX_STAGE_NET);
	if (a->net_r >= 0) {
		char c;
		if (read(a->net_r, &c, 1) != 1)
			fail(a, SBX_STAGE_NET);
		close(a->net_r);
		if (sbx_net_block(a->block, a->nblock))
			fail(a, SBX_STAGE_NET);
	}
	if (sethostname("sentinel", 8))
		fail(a, SBX_STAGE_NET);
	struct sigaction sa = { .sa_handler = pass_term, .sa_flags = SA_RESTART };
	sigaction(SIGTERM, &sa, NULL);
	/* vfork-style: the job borrows our memory until it execs (no page
	 * table copy); we are suspended meanwhile. */
	long pid = clone(job_entry, (char *)a->job_stack + a->job_stack_size,
			 CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)a);
	if (pid < 0)
		fail(a, SBX_STAGE_FORK);
	close(a->out_w);
	close(a->err_w);
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, 0);
		if (p == (pid_t)pid) {
			report(a->status_w, SBX_MSG_EXIT, 0, 0, st);
			_exit(0);
		}
		if (p < 0 && errno != EINTR)
			_exit(125);
	}
}

const char *sbx_stage_name(int stage)
{
	switch (stage) {
	case SBX_STAGE_CGROUP: return "joining the cgroups";
	case SBX_STAGE_NS: return "making mounts private";
	case SBX_STAGE_ROOT: return "mounting the root tmpfs";
	case SBX_STAGE_PIVOT: return "pivot_root";
	case SBX_STAGE_NET: return "setting up the network namespace";
	case SBX_STAGE_FORK: return "starting the job process";
	case SBX_STAGE_IDS: return "dropping privileges";
	case SBX_STAGE_SECCOMP: return "loading the seccomp filter";
	case SBX_STAGE_LIMITS: return "setting rlimits";
	case SBX_STAGE_CWD: return "entering the working directory";
	case SBX_STAGE_SYNC: return "waiting for the user namespace maps";
	default: return "setup";
	}
}
