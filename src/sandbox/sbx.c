/* The sandbox supervisor: sbx_run().
 *
 * Invariants (asserted where cheap, relied upon everywhere):
 * 1. Everything the child needs (mount plan, argv, env, seccomp BPF,
 *    rlimits, cgroup fds) is built here before clone; the child allocates
 *    nothing (sbx_child.c).
 * 2. The child is PID 1 of a fresh PID namespace ("init"). Killing it kills
 *    every process of the run; init has PR_SET_PDEATHSIG(SIGKILL), so a
 *    supervisor killed by SIGKILL takes the run down with it. Mounts live
 *    only in the run's private mount namespace, which dies with init: no
 *    mount is ever visible to, or left on, the host.
 * 3. The supervisor keeps the only write end of the "life" pipe, the read
 *    ends of stdout/stderr/status, and no write end of them after clone.
 *    Hence EOF on all three means every process of the run is gone.
 * 4. Limits the supervisor enforces (wall time, output, cancel) kill init
 *    with SIGKILL and the cgroups' processes; killed_by records the first
 *    cause. The wall time first sends SIGTERM to init, which passes it to
 *    every process of the run (kill(-1)), and SIGKILLs kill_after_ms later
 *    unless the run is over by then (Slurm's KillWait), so jobs can
 *    checkpoint. Limits the kernel enforces (memory, pids) are read back from
 *    the cgroup counters (the OOM counter, not failcnt).
 * 5. The per-run cgroups are removed before sbx_run returns, on every path
 *    (sbx_cg.c); leftovers of a killed supervisor are reaped on the next
 *    start (sbx_reap_leftovers).
 *
 * States of a run and the functions behind the transitions:
 *   PLAN (sbx_plan_build, sbx_plan.c) -> CGROUPS (sbx_cg_create) -> CLONED (sbx_sys.clone)
 *   -> RUNNING (pump) -> DRAINED (all EOF) -> REAPED (wait4) -> FREED
 *   (sbx_cg_free, sbx_plan_release). Any failure jumps to the cleanup of the
 *   states already reached, in reverse order. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

#define DRAIN_MS 2000
#define JOB_STACK (256 * 1024)

/* --- output ---------------------------------------------------------------------- */

struct stream {
	int fd;
	int id; /* 1 or 2 */
	char *buf;
	size_t len;
};

struct run {
	const sbx_opts *o;
	sbx_line_fn fn;
	void *ud;
	struct stream s[2];
	int status_fd;
	uint64_t delivered;
	int truncated;
	enum sbx_kill killed_by;
	int kill_sig;   /* the last signal a limit sent: SIGTERM, SIGKILL or 0 */
	pid_t init;
	sbx_cg *cg;
	struct sbx_msg setup, exec, exit;
};

static void kill_run(struct run *r, enum sbx_kill why)
{
	if (r->killed_by == SBX_KILL_NONE)
		r->killed_by = why;
	r->kill_sig = SIGKILL;
	kill(r->init, SIGKILL);
	sbx_cg_kill(r->cg);
}

/* Delivers n bytes of one line, within the output cap. */
static void deliver(struct run *r, struct stream *s, const char *p, size_t n)
{
	if (r->truncated || !n)
		return;
	uint64_t cap = r->o->output_bytes;
	if (cap && r->delivered + n > cap) {
		n = (size_t)(cap - r->delivered);
		r->truncated = 1;
	}
	if (n && r->fn)
		r->fn(r->ud, s->id, p, n);
	r->delivered += n;
	if (r->truncated)
		kill_run(r, SBX_KILL_OUTPUT);
}

/* Emits the complete lines in s->buf; with flush, the rest too. */
static void emit_lines(struct run *r, struct stream *s, int flush)
{
	size_t off = 0;
	for (;;) {
		char *nl = memchr(s->buf + off, '\n', s->len - off);
		if (!nl)
			break;
		size_t n = (size_t)(nl - (s->buf + off)) + 1;
		deliver(r, s, s->buf + off, n);
		off += n;
	}
	if ((flush || s->len - off == SBX_LINE_MAX) && s->len > off) {
		deliver(r, s, s->buf + off, s->len - off);
		off = s->len;
	}
	memmove(s->buf, s->buf + off, s->len - off);
	s->len -= off;
}

static void read_stream(struct run *r, struct stream *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, SBX_LINE_MAX - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		emit_lines(r, s, 1);
		close(s->fd);
		s->fd = -1;
		return;
	}
	s->len += (size_t)n;
	emit_lines(r, s, 0);
}

static void read_status(struct run *r)
{
	struct sbx_msg m;
	ssize_t n = read(r->status_fd, &m, sizeof m);
	if (n < 0 && errno == EINTR)
		return;
	if (n != (ssize_t)sizeof m) {
		close(r->status_fd);
		r->status_fd = -1;
		return;
	}
	if (m.kind == SBX_MSG_SETUP)
		r->setup = m;
	else if (m.kind == SBX_MSG_EXEC)
		r->exec = m;
	else if (m.kind == SBX_MSG_EXIT)
		r->exit = m;
}

/* The time limit: SIGTERM to init (passed to the whole run) and a grace
 * period, or SIGKILL at once without one. */
static void time_up(struct run *r, int64_t now, int64_t *term_until)
{
	if (r->o->kill_after_ms <= 0) {
		kill_run(r, SBX_KILL_TIME);
		return;
	}
	r->killed_by = SBX_KILL_TIME;
	r->kill_sig = SIGTERM;
	*term_until = now + r->o->kill_after_ms;
	kill(r->init, SIGTERM);
}

/* Runs until stdout, stderr and the status pipe are all at EOF (invariant 3). */
static void pump(struct run *r)
{
	int64_t start = sn_mono_ns() / 1000000, drain_until = 0, term_until = 0;
	int64_t deadline = r->o->time_ms ? start + r->o->time_ms : 0;
	for (;;) {
		struct pollfd pf[4];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (r->s[i].fd >= 0)
				pf[n++] = (struct pollfd){ .fd = r->s[i].fd, .events = POLLIN };
		if (r->status_fd >= 0)
			pf[n++] = (struct pollfd){ .fd = r->status_fd, .events = POLLIN };
		if (!n)
			return;
		int with_cancel = r->o->cancel_fd >= 0 && r->kill_sig != SIGKILL;
		if (with_cancel)
			pf[n++] = (struct pollfd){ .fd = r->o->cancel_fd, .events = POLLIN };
		int64_t now = sn_mono_ns() / 1000000, wait = -1;
		if (deadline && r->killed_by == SBX_KILL_NONE)
			wait = deadline > now ? deadline - now : 0;
		if (term_until && r->kill_sig == SIGTERM)
			wait = term_until > now ? term_until - now : 0;
		if (drain_until)
			wait = drain_until > now ? drain_until - now : 0;
		int rc = poll(pf, (nfds_t)n, (int)wait);
		if (rc < 0 && errno != EINTR)
			return;
		now = sn_mono_ns() / 1000000;
		if (rc == 0 && drain_until && now >= drain_until)
			return; /* a process outlived SIGKILL: give up on its pipes */
		if (deadline && now >= deadline && r->killed_by == SBX_KILL_NONE)
			time_up(r, now, &term_until);
		if (term_until && now >= term_until && r->kill_sig == SIGTERM)
			kill_run(r, SBX_KILL_TIME);
		if (with_cancel && (pf[n - 1].revents & (POLLIN | POLLHUP)))
			kill_run(r, SBX_KILL_CANCEL);
		for (int i = 0; i < 2; i++)
			if (r->s[i].fd >= 0 && !r->truncated)
				for (int j = 0; j < n; j++)
					if (pf[j].fd == r->s[i].fd && pf[j].revents)
						read_stream(r, &r->s[i]);
		for (int i = 0; i < 2 && r->truncated; i++)
			if (r->s[i].fd >= 0) {
				close(r->s[i].fd); /* nothing more is delivered */
				r->s[i].fd = -1;
			}
		for (int j = 0; j < n; j++)
			if (r->status_fd >= 0 && pf[j].fd == r->status_fd && pf[j].revents)
				read_status(r);
		if (r->kill_sig == SIGKILL && !drain_until)
			drain_until = now + DRAIN_MS;
	}
}

/* --- the run ----------------------------------------------------------------------- */

void sbx_opts_init(sbx_opts *o)
{
	memset(o, 0, sizeof *o);
	o->tmp_bytes = 64ull << 20;
	o->output_bytes = 64ull << 20;
	o->file_bytes = 1ull << 30;
	o->uid = SBX_NOBODY;
	o->gid = SBX_NOBODY;
	o->cancel_fd = -1;
	o->kill_after_ms = 10000;
}

void sbx_reap_leftovers(void)
{
	sbx_cg_reap_leftovers();
}

static pthread_once_t reap_once = PTHREAD_ONCE_INIT;

static int check_opts(const sbx_opts *o, char *err, size_t errlen)
{
	if (!o->argv || !o->argv[0] || !o->argv[0][0]) {
		snprintf(err, errlen, "no command given");
		return -EINVAL;
	}
	if (o->nbinds > SBX_MAX_BINDS || o->nenv > SBX_MAX_ENV) {
		snprintf(err, errlen, "too many binds or environment entries (max %d, %d)",
			 SBX_MAX_BINDS, SBX_MAX_ENV);
		return -E2BIG;
	}
	for (size_t i = 0; i < o->nenv; i++)
		if (!strchr(o->env[i], '=') || o->env[i][0] == '=') {
			snprintf(err, errlen, "environment entry '%s' is not K=V", o->env[i]);
			return -EINVAL;
		}
	if (o->cpus < 0 || o->time_ms < 0 || o->kill_after_ms < 0 || !o->tmp_bytes) {
		snprintf(err, errlen, "invalid limits");
		return -EINVAL;
	}
	return 0;
}

static int write_map(pid_t pid, const char *file, const char *text)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = write(fd, text, strlen(text)) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* Outside root: map the job's uid/gid to ours, then let the child go on. */
static int userns_setup(pid_t pid, const sbx_opts *o, int sync_w)
{
	char m[64];
	snprintf(m, sizeof m, "%u %u 1\n", (unsigned)o->uid, (unsigned)geteuid());
	int rc = write_map(pid, "uid_map", m);
	if (!rc)
		rc = write_map(pid, "setgroups", "deny");
	snprintf(m, sizeof m, "%u %u 1\n", (unsigned)o->gid, (unsigned)getegid());
	if (!rc)
		rc = write_map(pid, "gid_map", m);
	if (!rc && write(sync_w, "g", 1) != 1)
		rc = -EPIPE;
	return rc;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void fill_result(struct run *r, int wst, const struct rusage *ru, int64_t t0,
			unsigned degraded, sbx_result *res)
{
	struct sbx_cg_stats st;
	sbx_cg_stats(r->cg, &st);
	memset(res, 0, sizeof *res);
	int status = r->exit.kind ? r->exit.status : wst;
	res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	res->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	res->wall_ms = (sn_mono_ns() - t0) / 1000000;
	res->cpu_ms = st.have_cpu ? (int64_t)(st.cpu_ns / 1000000)
				  : (int64_t)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1000 +
					    (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1000;
	res->peak_memory_bytes = st.have_peak ? st.peak_bytes : (uint64_t)ru->ru_maxrss * 1024;
	res->degraded = degraded;
	res->truncated = r->truncated;
	res->exec_errno = r->exec.kind ? r->exec.err : 0;
	res->killed_by = r->killed_by;
	res->kill_signal = r->kill_sig;
	if (res->killed_by == SBX_KILL_NONE && st.oom_kills) {
		res->killed_by = SBX_KILL_MEMORY;
		res->kill_signal = SIGKILL; /* the OOM killer's */
	}
	if (res->killed_by == SBX_KILL_NONE && st.pids_hits && (res->signal || res->exit_code))
		res->killed_by = SBX_KILL_PIDS;
}

/* The pipes of a run: [0] read end, [1] write end; -1 when closed. */
struct pipes {
	int out[2], err[2], stat[2], life[2], sync[2], net[2];
};

static int open_pipes(struct pipes *p, int userns, int egress)
{
	if (pipe2(p->out, O_CLOEXEC) || pipe2(p->err, O_CLOEXEC) || pipe2(p->stat, O_CLOEXEC) ||
	    pipe2(p->life, O_CLOEXEC) || (userns && pipe2(p->sync, O_CLOEXEC)) ||
	    (egress && pipe2(p->net, O_CLOEXEC)))
		return -errno;
	return 0;
}

static void close_pipes(struct pipes *p)
{
	int *fds[] = { &p->out[0], &p->out[1], &p->err[0], &p->err[1], &p->stat[0], &p->stat[1],
		       &p->life[0], &p->life[1], &p->sync[0], &p->sync[1], &p->net[0], &p->net[1] };
	for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
		close_fd(fds[i]);
}

/* Where this process's argv strings lie (fields 48 and 49 of
 * /proc/self/stat), read once; NULLs when unknown. */
static pthread_once_t args_once = PTHREAD_ONCE_INIT;
static char *args_start, *args_end;

static void find_args(void)
{
	char buf[2048];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'), *save = NULL;
	unsigned long long v[2] = { 0, 0 };
	int field = 2; /* the fields after "(comm)" start at 3 */
	for (char *t = p ? strtok_r(p + 1, " ", &save) : NULL; t; t = strtok_r(NULL, " ", &save))
		if (++field == 48 || field == 49)
			v[field - 48] = strtoull(t, NULL, 10);
	if (v[0] && v[1] > v[0]) {
		args_start = (char *)(uintptr_t)v[0];
		args_end = (char *)(uintptr_t)v[1];
	}
}

/* Everything the child needs, prepared here (invariant 1). */
static void child_args(struct sbx_child_args *a, const sbx_opts *o, const struct sbx_plan *plan,
		       const struct pipes *p, const sbx_cg *cg, unsigned degraded, int userns,
		       void *stack)
{
	struct rlimit inf = { RLIM_INFINITY, RLIM_INFINITY };
	*a = (struct sbx_child_args){
		.ops = plan->ops, .nops = plan->n, .root = plan->root,
		.argv = plan->argv, .envp = plan->envp, .path = plan->path, .cwd = plan->cwd,
		.uid = o->uid, .gid = o->gid, .userns = userns,
		.as = inf, .nproc = inf, .fsize = inf,
		.out_w = p->out[1], .err_w = p->err[1], .status_w = p->stat[1],
		.life_r = p->life[0], .sync_r = p->sync[0], .net_r = p->net[0],
		.workdir_fd = plan->workdir_fd,
		.tree_fd = plan->tree_fd,
		.job_stack = stack, .job_stack_size = JOB_STACK, .cg_born = -1,
	};
	a->ncg = sbx_cg_join_fds(cg, &a->cg_fds);
	pthread_once(&args_once, find_args);
	a->arg_start = args_start;
	a->arg_end = args_end;
	if (o->file_bytes)
		a->fsize = (struct rlimit){ o->file_bytes, o->file_bytes };
	/* Degraded limits fall back to rlimits (and are reported as such). */
	if ((degraded & SBX_DEG_MEMORY) && o->mem_bytes)
		a->as = (struct rlimit){ o->mem_bytes, o->mem_bytes };
	if ((degraded & SBX_DEG_PIDS) && o->pids)
		a->nproc = (struct rlimit){ o->pids, o->pids };
}

/* CLONED: the child is init of the new namespaces. Keeps only the read
 * ends and the life pipe's write end (invariant 3). */
static int start(struct run *r, struct sbx_child_args *a, struct pipes *p, char *err,
		 size_t errlen)
{
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
			      CLONE_NEWUTS | (a->userns ? CLONE_NEWUSER : 0);
	int cg_dfd = -1;
	long pid = -1;
	/* Born in the v2 cgroup: a cgroup.procs write would take
	 * cgroup_threadgroup_rwsem for writing and wait an RCU grace period
	 * (sbx_cg.c). The child reads cg_born from its copy of *a. */
	a->cg_born = sbx_cg_v2_dir(r->cg, &cg_dfd);
	if (a->cg_born >= 0) {
		pid = sbx_sys.clone(flags, cg_dfd);
		/* Before Linux 5.7 (ENOSYS, E2BIG), a container's seccomp profile
		 * (ENOSYS, EPERM), or a cgroup clone3 cannot enter: the child
		 * joins by writing instead. Resource errors stay errors. */
		if (pid < 0 && (errno == ENOSYS || errno == E2BIG || errno == EPERM ||
				errno == EINVAL || errno == EOPNOTSUPP || errno == EBUSY)) {
			a->cg_born = -1;
			pid = sbx_sys.clone(flags, -1);
		}
	} else {
		pid = sbx_sys.clone(flags, -1);
	}
	if (pid == 0)
		sbx_child_main(a);
	if (pid < 0) {
		int e = errno;
		snprintf(err, errlen, "clone: %s", strerror(e));
		return -e;
	}
	r->init = (pid_t)pid;
	int *ends[] = { &p->out[1], &p->err[1], &p->stat[1], &p->life[0], &p->sync[0], &p->net[0] };
	for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
		close_fd(ends[i]);
	assert(p->out[1] < 0 && p->err[1] < 0 && p->stat[1] < 0 && p->life[1] >= 0);
	r->s[0].fd = p->out[0];
	r->s[1].fd = p->err[0];
	r->status_fd = p->stat[0];
	p->out[0] = p->err[0] = p->stat[0] = -1;
	r->s[0].buf = xmalloc(SBX_LINE_MAX);
	r->s[1].buf = xmalloc(SBX_LINE_MAX);
	if (a->userns) {
		int rc = userns_setup(r->init, r->o, p->sync[1]);
		if (rc) {
			snprintf(err, errlen, "user namespace maps: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The child reported a failed setup step: name it. */
static int setup_error(const struct run *r, const struct sbx_plan *plan, char *err, size_t errlen)
{
	int e = r->setup.err ? r->setup.err : EIO;
	if (r->setup.stage >= 0 && (size_t)r->setup.stage < plan->n)
		snprintf(err, errlen, "sandbox setup: %s: %s",
			 plan->ops[r->setup.stage].dst, strerror(e));
	else
		snprintf(err, errlen, "sandbox setup: %s: %s", sbx_stage_name(r->setup.stage),
			 strerror(e));
	return -e;
}

int sbx_run(const sbx_opts *o, sbx_line_fn fn, void *ud, sbx_result *res, char *err,
	    size_t errlen)
{
	struct sbx_plan plan = { .workdir_fd = -1, .tree_fd = -1 };
	struct run r = { .o = o, .fn = fn, .ud = ud, .status_fd = -1, .init = -1 };
	struct pipes p = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 } };
	struct sbx_net *net = xcalloc(1, sizeof *net); /* ~1.5 KiB: off the stack; pid 0: none */
	struct sbx_child_args a;
	const struct sock_fprog *filter;
	void *job_stack = xmalloc(JOB_STACK);
	unsigned degraded = 0;
	int rc, userns = geteuid() != 0;
	err[0] = '\0';
	r.s[0] = (struct stream){ .fd = -1, .id = 1 };
	r.s[1] = (struct stream){ .fd = -1, .id = 2 };

	if ((rc = check_opts(o, err, errlen)))
		goto out;
	pthread_once(&reap_once, sbx_reap_leftovers);
	if ((rc = sbx_plan_build(&plan, o, err, errlen)))
		goto out;
	if ((rc = sbx_net_prepare(net, o->network, err, errlen)))
		goto out;
	if ((rc = sbx_seccomp_filter(&filter))) {
		snprintf(err, errlen, "seccomp filter: %s", strerror(-rc));
		goto out;
	}
	struct sbx_cg_limits lim = { .mem_bytes = o->mem_bytes, .pids = o->pids, .cpus = o->cpus };
	sbx_cg_create(&lim, &r.cg, &degraded);
	if ((rc = open_pipes(&p, userns, o->network == SBX_NET_EGRESS))) {
		snprintf(err, errlen, "pipe: %s", strerror(-rc));
		goto out;
	}
	child_args(&a, o, &plan, &p, r.cg, degraded, userns, job_stack);
	a.filter = filter;
	a.block = net->addrs;
	a.nblock = net->naddrs;
	int64_t t0 = sn_mono_ns();
	rc = start(&r, &a, &p, err, errlen);
	if (!rc && o->network == SBX_NET_EGRESS && !(rc = sbx_net_start(net, r.init, err, errlen)) &&
	    write(p.net[1], "n", 1) != 1)
		rc = -EPIPE;
	if (!rc)
		pump(&r);
	/* REAPED: init is waited for on every path once it exists. */
	int wst = 0;
	struct rusage ru;
	memset(&ru, 0, sizeof ru);
	if (r.init > 0) {
		if (r.killed_by != SBX_KILL_NONE || rc)
			kill(r.init, SIGKILL);
		while (wait4(r.init, &wst, 0, &ru) < 0 && errno == EINTR)
			;
	}
	sbx_net_stop(net);
	if (!rc && r.setup.kind)
		rc = setup_error(&r, &plan, err, errlen);
	else if (!rc)
		fill_result(&r, wst, &ru, t0, degraded, res);
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&r.s[i].fd);
		free(r.s[i].buf);
	}
	close_fd(&r.status_fd);
	close_pipes(&p);
	sbx_cg_free(&r.cg);
	sbx_plan_release(&plan);
	free(net);
	free(job_stack);
	return rc;
}

const char *sbx_kill_name(enum sbx_kill k)
{
	static const char *const names[] = { "none", "memory", "time", "pids", "output", "cancel" };
	return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "none";
}

json_t *sbx_result_json(const sbx_result *r)
{
	static const struct { unsigned bit; const char *name; } degs[] = {
		{ SBX_DEG_MEMORY, "memory" }, { SBX_DEG_PIDS, "pids" }, { SBX_DEG_CPU, "cpu" },
	};
	json_t *j = json_object(), *deg = json_array();
	if (!j || !deg)
		goto fail;
	for (size_t i = 0; i < sizeof degs / sizeof degs[0]; i++)
		if ((r->degraded & degs[i].bit) && json_array_append_new(deg, json_string(degs[i].name)))
			goto fail;
	/* json_object_set_new takes the value even when it fails. */
	if (json_object_set_new(j, "exit_code",
				r->exit_code >= 0 ? json_integer(r->exit_code) : json_null()) ||
	    json_object_set_new(j, "signal", r->signal ? json_integer(r->signal) : json_null()) ||
	    json_object_set_new(j, "killed_by", json_string(sbx_kill_name(r->killed_by))) ||
	    json_object_set_new(j, "wall_ms", json_integer(r->wall_ms)) ||
	    json_object_set_new(j, "cpu_ms", json_integer(r->cpu_ms)) ||
	    json_object_set_new(j, "peak_memory_bytes", json_integer((json_int_t)r->peak_memory_bytes)) ||
	    json_object_set(j, "degraded", deg) ||
	    json_object_set_new(j, "truncated", json_boolean(r->truncated)))
		goto fail;
	if (r->exec_errno && json_object_set_new(j, "error", json_string(strerror(r->exec_errno))))
		goto fail;
	if (r->kill_signal && json_object_set_new(j, "kill_signal",
						  json_string(r->kill_signal == SIGTERM ? "SIGTERM"
											 : "SIGKILL")))
		goto fail;
	json_decref(deg);
	return j;
fail:
	json_decref(deg);
	json_decref(j);
	return NULL;
}
