/* `sentinel sandbox run`: the sandbox by hand, the same code the node uses. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "base/util.h"
#include "cmd/commands.h"
#include "runtime/rt.h"
#include "sandbox/sbx.h"

static const cfg_opt run_opts[] = {
	{ "mem", "SIZE", "1G", "memory limit (cgroup; 0: none)", 0 },
	{ "time", "DURATION", "0", "wall-time limit, e.g. 10s (0: none)", 0 },
	{ "kill-after", "DURATION", "10s",
	  "at the time limit SIGTERM first, SIGKILL this much later (0: at once)", 0 },
	{ "cpus", "N", "0", "CPU quota in CPUs, e.g. 1.5 (0: none)", 0 },
	{ "pids", "N", "1024", "most processes at once (0: none)", 0 },
	{ "network", "MODE", "none",
	  "none (loopback only) or egress (outbound through pasta; host unreachable)", 0 },
	{ "gpus", "N|LIST", NULL, "NVIDIA GPUs: all, a count, or a list like 0,2", CFG_NOENV },
	{ "runtime", "NAME", "host", "runtime to run in (see 'sentinel runtime ls')", 0 },
	{ "rootfs", "DIR", NULL, "use DIR as the root tree instead of a runtime", CFG_NOENV },
	{ "ro", "SRC:DST", NULL, "bind host SRC read-only at DST", CFG_MULTI | CFG_NOENV },
	{ "rw", "SRC:DST", NULL, "bind host SRC read-write at DST", CFG_MULTI | CFG_NOENV },
	{ "workdir", "DIR", NULL, "host dir bound read-write at /work, the cwd (else /tmp)",
	  CFG_NOENV },
	{ "env", "K=V", NULL, "set a variable inside", CFG_MULTI | CFG_NOENV },
	{ "cwd", "DIR", NULL, "start directory inside (default: /work with --workdir, the image's "
	  "WorkingDir, else /tmp)", CFG_NOENV },
	{ "tmp-size", "SIZE", "64M", "size of /tmp", 0 },
	{ "output-limit", "SIZE", "64M", "cap on stdout+stderr bytes", 0 },
	{ "file-size", "SIZE", "1G", "largest file the command may write", 0 },
	{ "json", NULL, NULL, "print the result as one JSON line on stderr", CFG_FLAG | CFG_NOENV },
	{ "result", "FILE", NULL, "write the JSON result to FILE instead", CFG_NOENV },
	{ "data", "DIR", NULL, "data directory (runtimes; see sentinel status --local)", CFG_DATADIR },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec run_spec = {
	.cmd = "sandbox run",
	.synopsis = "[options] -- CMD [ARG...]",
	.summary = "Run CMD isolated: new mount/PID/network/IPC/UTS namespaces, a read-only root,\n"
		   "an unprivileged uid, no capabilities, seccomp, cgroup limits. Exits with\n"
		   "CMD's status (128+N for signal N; 125: sandbox error; 126/127: cannot run).",
	.opts = run_opts,
	.max_args = -1,
};

static int cancel_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int e = errno;
	ssize_t n = write(cancel_pipe[1], &sig, 1);
	(void)n;
	errno = e;
}

/* The line callback: pass each line through to our own stdout/stderr. */
static void pass_line(void *ud, int stream, const char *line, size_t len)
{
	(void)ud;
	while (len) {
		ssize_t n = write(stream, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		line += n;
		len -= (size_t)n;
	}
}

static int parse_binds(cfg *c, const char *name, int rw, sbx_bind *binds, size_t *nb,
		       char *err, size_t errlen)
{
	size_t n;
	const char *const *v = cfg_get_multi(c, name, &n);
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(v[i], ':');
		if (*nb == SBX_MAX_BINDS) {
			snprintf(err, errlen, "too many binds (max %d)", SBX_MAX_BINDS);
			return -E2BIG;
		}
		if (!colon || colon == v[i] || !colon[1]) {
			snprintf(err, errlen, "--%s %s: expected SRC:DST", name, v[i]);
			return -EINVAL;
		}
		if (!sbx_bind_dst_valid(colon + 1)) {
			snprintf(err, errlen, "--%s %s: DST must be an absolute path outside /proc, "
				 "/dev and /work, without '..'", name, v[i]);
			return -EINVAL;
		}
		binds[*nb].src = xstrndup(v[i], (size_t)(colon - v[i]));
		binds[*nb].dst = xstrdup(colon + 1);
		binds[*nb].rw = rw;
		(*nb)++;
	}
	return 0;
}

static int parse_limits(cfg *c, sbx_opts *o, char *err, size_t errlen)
{
	long long pids;
	const char *cpus = cfg_get(c, "cpus");
	char *end = NULL;
	if (cfg_get_size(c, "mem", &o->mem_bytes, err, errlen) ||
	    cfg_get_duration_ms(c, "time", &o->time_ms, err, errlen) ||
	    cfg_get_duration_ms(c, "kill-after", &o->kill_after_ms, err, errlen) ||
	    cfg_get_int(c, "pids", &pids, err, errlen) ||
	    cfg_get_size(c, "tmp-size", &o->tmp_bytes, err, errlen) ||
	    cfg_get_size(c, "output-limit", &o->output_bytes, err, errlen) ||
	    cfg_get_size(c, "file-size", &o->file_bytes, err, errlen))
		return -EINVAL;
	o->cpus = strtod(cpus, &end);
	if (!*cpus || *end || o->cpus < 0 || o->cpus > 4096) {
		snprintf(err, errlen, "--cpus: invalid number '%s'", cpus);
		return -EINVAL;
	}
	if (pids < 0 || !o->tmp_bytes) {
		snprintf(err, errlen, "--pids must be >= 0 and --tmp-size > 0");
		return -EINVAL;
	}
	if (o->mem_bytes && o->mem_bytes < (4u << 20)) {
		snprintf(err, errlen, "--mem must be at least 4M (or 0 for none)");
		return -EINVAL;
	}
	o->pids = (uint64_t)pids;
	const char *net = cfg_get(c, "network");
	if (strcmp(net, "none") == 0) {
		o->network = SBX_NET_NONE;
	} else if (strcmp(net, "egress") == 0) {
		o->network = SBX_NET_EGRESS;
	} else {
		snprintf(err, errlen, "--network: expected none or egress, not '%s'", net);
		return -EINVAL;
	}
	return 0;
}

/* A --workdir that does not exist yet is created for the job's uid, so
 * that the command can write there; an existing one is used as it is. A
 * user who owns the parent may swap the name for a symlink at any moment:
 * the directory is made with mkdirat and chowned through a descriptor
 * opened with O_NOFOLLOW, and only when it is the empty root-owned
 * directory just made — never by path. */
static int open_workdir(const char *dir, uid_t uid, gid_t gid)
{
	char *path = xstrdup(dir);
	size_t n = strlen(path);
	int pfd = -1, fd = -1, rc, made;
	struct stat st;
	while (n > 1 && path[n - 1] == '/') /* a trailing slash would follow a symlink */
		path[--n] = '\0';
	char *slash = strrchr(path, '/');
	const char *parent = slash == path ? "/" : slash ? path : ".";
	const char *name = slash ? slash + 1 : path;
	if (slash)
		*slash = '\0';
	if (!*name)
		name = ".";
	if ((rc = sn_mkdir_p(parent, 0755)))
		goto out;
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		rc = -errno;
		goto out;
	}
	made = mkdirat(pfd, name, 0755) == 0;
	if (!made && errno != EEXIST) {
		rc = -errno;
		goto out;
	}
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		rc = errno == ELOOP ? -ENOTDIR : -errno;
		goto out;
	}
	/* Not root: the user namespace maps the job's uid to ours already. */
	if (!made || geteuid() != 0)
		goto out;
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || st.st_nlink != 2) {
		rc = -EBUSY; /* swapped for another directory since mkdirat */
		goto out;
	}
	if (fchown(fd, uid, gid))
		rc = -errno;
out:
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	free(path);
	return rc;
}

static int make_workdir(const char *dir, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	int rc = open_workdir(dir, uid, gid);
	if (rc == -ENOTDIR)
		snprintf(err, errlen, "--workdir %s: is a symbolic link or not a directory", dir);
	else if (rc == -EBUSY)
		snprintf(err, errlen, "--workdir %s: replaced while being created", dir);
	else if (rc)
		snprintf(err, errlen, "--workdir %s: %s", dir, strerror(-rc));
	return rc;
}

/* A NULL-terminated array of a's entries then b's (pointers borrowed). */
static const char **concat(const char *const *a, size_t na, const char *const *b, size_t nb)
{
	const char **v = xcalloc(na + nb + 1, sizeof *v);
	memcpy(v, a, na * sizeof *v);
	memcpy(v + na, b, nb * sizeof *v);
	return v;
}

static size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

/* An image's config, as docker applies it: its Env under the caller's
 * --env (later entries win), its Entrypoint + Cmd when no command is
 * given. The arrays made here are freed by run_cmd when they differ from
 * its own; their strings belong to rt. */
static void apply_image(sbx_opts *o, const rt_image_config *ic)
{
	size_t ne = strv_len(ic->env);
	if (ne) {
		o->env = concat((const char *const *)ic->env, ne, o->env, o->nenv);
		o->nenv += ne;
	}
	/* As docker run: WorkingDir unless the user chose (--cwd, or --workdir's /work). */
	if (ic->workdir && !o->cwd && !o->workdir)
		o->cwd = ic->workdir;
	if (!o->argv[0] && (ic->entrypoint || ic->cmd))
		o->argv = (char *const *)concat((const char *const *)ic->entrypoint,
						strv_len(ic->entrypoint),
						(const char *const *)ic->cmd, strv_len(ic->cmd));
}

static int resolve_runtime(cfg *c, sbx_opts *o, rt_info *rt, char *err, size_t errlen)
{
	const char *rootfs = cfg_get(c, "rootfs"), *name = cfg_get(c, "runtime");
	if (rootfs) {
		o->rootfs = rootfs;
		return 0;
	}
	if (!name || strcmp(name, "host") == 0)
		return 0;
	int rc = rt_lookup(cfg_get(c, "data"), name, rt, err, errlen);
	if (rc)
		return rc;
	if (strcmp(rt->kind, "venv") == 0)
		o->venv = rt->path;
	else
		o->rootfs = rt->path;
	apply_image(o, &rt->config);
	return 0;
}

static int write_result(cfg *c, const sbx_result *res)
{
	json_t *j = sbx_result_json(res);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	const char *path = cfg_get(c, "result");
	int rc = 0;
	json_decref(j);
	if (!s) {
		fprintf(stderr, "sentinel sandbox run: cannot encode the result\n");
		return -ENOMEM;
	}
	if (path) {
		char *line = xasprintf("%s\n", s);
		rc = sn_write_file_atomic(path, line, strlen(line), 0644);
		if (rc)
			fprintf(stderr, "sentinel sandbox run: --result %s: %s\n", path, strerror(-rc));
		free(line);
	} else {
		fprintf(stderr, "%s\n", s);
	}
	free(s);
	return rc;
}

static int run_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	int code = 0, nargs;
	char err[512] = "";
	sbx_opts o;
	sbx_bind binds[SBX_MAX_BINDS];
	size_t nb = 0, nenv = 0;
	rt_info rt = { 0 };
	sbx_result res;
	if (cfg_cmd_init(&run_spec, argc, argv, &c, &code))
		return code;
	sbx_opts_init(&o);
	char *const *args = cfg_args(c, &nargs);
	const char *const *env = cfg_get_multi(c, "env", &nenv);
	code = 2;
	if (parse_limits(c, &o, err, sizeof err) ||
	    parse_binds(c, "ro", 0, binds, &nb, err, sizeof err) ||
	    parse_binds(c, "rw", 1, binds, &nb, err, sizeof err))
		goto out;
	o.argv = args;
	o.env = env;
	o.nenv = nenv;
	o.binds = binds;
	o.nbinds = nb;
	o.workdir = cfg_get(c, "workdir");
	o.cwd = cfg_get(c, "cwd");
	o.gpus = cfg_get(c, "gpus");
	if (o.workdir && make_workdir(o.workdir, o.uid, o.gid, err, sizeof err))
		goto out;
	if (resolve_runtime(c, &o, &rt, err, sizeof err))
		goto out;
	if (!o.argv[0]) {
		snprintf(err, sizeof err, "no command given (usage: sentinel sandbox run [options] "
			 "-- CMD [ARG...]; or a runtime whose image sets Entrypoint or Cmd)");
		goto out;
	}
	if (pipe2(cancel_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
		struct sigaction sa = { .sa_handler = on_signal };
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		o.cancel_fd = cancel_pipe[0];
	}
	/* A closed stdout must not kill the supervisor before it cleans up. */
	signal(SIGPIPE, SIG_IGN);
	int rc = sbx_run(&o, pass_line, NULL, &res, err, sizeof err);
	if (rc) {
		code = 125;
		goto out;
	}
	if (res.truncated)
		fprintf(stderr, "sentinel: output truncated at %llu bytes (--output-limit)\n",
			(unsigned long long)o.output_bytes);
	if (res.exec_errno)
		fprintf(stderr, "sentinel: cannot run '%s': %s\n", o.argv[0], strerror(res.exec_errno));
	if (res.killed_by != SBX_KILL_NONE)
		fprintf(stderr, "sentinel: killed by the %s limit\n", sbx_kill_name(res.killed_by));
	if ((cfg_get_bool(c, "json") || cfg_get(c, "result")) && write_result(c, &res))
		code = 125;
	else
		code = res.signal ? 128 + res.signal : res.exit_code;
	err[0] = '\0';
out:
	if (err[0])
		fprintf(stderr, "sentinel sandbox run: %s\n", err);
	for (size_t i = 0; i < nb; i++) {
		free((char *)binds[i].src);
		free((char *)binds[i].dst);
	}
	if (o.env != env)
		free((void *)o.env);
	if (o.argv != args)
		free((void *)o.argv);
	rt_info_release(&rt);
	cfg_free(&c);
	return code;
}

int sandbox_cmd(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "run") == 0)
		return run_cmd(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: sentinel sandbox run [options] -- CMD [ARG...]\n"
		       "Run 'sentinel sandbox run --help' for the options.\n");
		return 0;
	}
	fprintf(stderr, "sentinel sandbox: expected 'run' (try 'sentinel sandbox run --help')\n");
	return 2;
}
