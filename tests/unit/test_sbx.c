/* The sandbox's C API (src/sandbox/sbx.c): the line callback, results,
 * option checks, cancellation, a symlinked work directory, and the
 * recovery paths with injected faults in clone, mount, pivot_root and
 * cgroup creation (sbx_int.h).
 * Needs root (as CI runs); skipped otherwise. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/magic.h>
#include <cmocka.h>
#include "base/mem.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

struct lines {
	int n;
	int stream[64];
	char *text[64];
	size_t len[64];
};

static void collect(void *ud, int stream, const char *line, size_t len)
{
	struct lines *l = ud;
	if (l->n == 64)
		return;
	l->stream[l->n] = stream;
	l->text[l->n] = xstrndup(line, len);
	l->len[l->n] = len;
	l->n++;
}

static void lines_free(struct lines *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->text[i]);
	memset(l, 0, sizeof *l);
}

static int need_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	return 0;
}

/* Run directories of this process left in any hierarchy we know of. */
static int leftovers(void)
{
	static const char *const bases[] = { "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids",
					     "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct",
					     "/sys/fs/cgroup", NULL };
	char cmd[512];
	int n = 0;
	for (size_t i = 0; bases[i]; i++) {
		snprintf(cmd, sizeof cmd, "find %s -maxdepth 6 -type d -name 'run-%d-*' 2>/dev/null | wc -l",
			 bases[i], (int)getpid());
		FILE *f = popen(cmd, "r");
		int k = 0;
		if (f) {
			if (fscanf(f, "%d", &k) != 1)
				k = 0;
			pclose(f);
		}
		n += k;
	}
	return n;
}

static char *sh_argv[] = { "/bin/sh", "-c", NULL, NULL };

static void opts_sh(sbx_opts *o, const char *script)
{
	sbx_opts_init(o);
	sh_argv[2] = (char *)script;
	o->argv = sh_argv;
	o->mem_bytes = 64 << 20;
	o->pids = 64;
}

static void test_lines(void **state)
{
	need_root(state);
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256];
	opts_sh(&o, "printf 'one\\ntwo\\n'; printf 'err\\n' >&2; sleep 0.1; printf 'last'");
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.text[0], "one\n");
	assert_int_equal(l.stream[0], 1);
	assert_string_equal(l.text[1], "two\n");
	assert_string_equal(l.text[2], "err\n");
	assert_int_equal(l.stream[2], 2);
	assert_string_equal(l.text[3], "last");
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.signal, 0);
	assert_int_equal(r.killed_by, SBX_KILL_NONE);
	lines_free(&l);
}

static void test_long_line(void **state)
{
	need_root(state);
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256];
	/* 150000 bytes then a newline: pieces of SBX_LINE_MAX, the last with '\n'. */
	opts_sh(&o, "head -c 150000 /dev/zero | tr '\\0' x; echo");
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.len[0], SBX_LINE_MAX);
	assert_int_equal(l.len[1], SBX_LINE_MAX);
	assert_int_equal(l.len[2], 150001 - 2 * SBX_LINE_MAX);
	assert_int_equal(l.text[2][l.len[2] - 1], '\n');
	lines_free(&l);
}

static void test_exit_and_signal(void **state)
{
	need_root(state);
	sbx_opts o;
	sbx_result r;
	char err[256];
	opts_sh(&o, "exit 42");
	assert_int_equal(sbx_run(&o, NULL, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.exit_code, 42);
	opts_sh(&o, "kill -TERM $$");
	assert_int_equal(sbx_run(&o, NULL, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.exit_code, -1);
	assert_int_equal(r.signal, 15);
	json_t *j = sbx_result_json(&r);
	assert_true(json_is_null(json_object_get(j, "exit_code")));
	assert_int_equal(json_integer_value(json_object_get(j, "signal")), 15);
	assert_string_equal(json_string_value(json_object_get(j, "killed_by")), "none");
	json_decref(j);
}

static void test_bad_opts(void **state)
{
	(void)state;
	sbx_opts o;
	sbx_result r;
	char err[256];
	sbx_opts_init(&o);
	assert_int_equal(sbx_run(&o, NULL, NULL, &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "no command"));
	static const char *const env[] = { "NOEQUALS" };
	opts_sh(&o, "true");
	o.env = env;
	o.nenv = 1;
	assert_int_equal(sbx_run(&o, NULL, NULL, &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "NOEQUALS"));
	assert_true(sbx_bind_dst_valid("/data"));
	assert_false(sbx_bind_dst_valid("data"));
	assert_false(sbx_bind_dst_valid("/"));
	assert_false(sbx_bind_dst_valid("/a/../etc"));
	assert_false(sbx_bind_dst_valid("/proc/sys"));
	assert_false(sbx_bind_dst_valid("/work/x"));
	assert_true(sbx_bind_dst_valid("/processing"));
}

static void test_cancel(void **state)
{
	need_root(state);
	sbx_opts o;
	sbx_result r;
	char err[256];
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	opts_sh(&o, "sleep 60");
	o.cancel_fd = p[0];
	assert_int_equal(sbx_run(&o, NULL, NULL, &r, err, sizeof err), 0);
	assert_int_equal(r.killed_by, SBX_KILL_CANCEL);
	assert_int_equal(r.signal, 9);
	assert_true(r.wall_ms < 5000);
	close(p[0]);
	close(p[1]);
}

/* A failure in the child's setup: an error naming the step, no callback,
 * no cgroup left. */
static void fault_case(const char *call, int nth, int e, const char *want)
{
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256];
	opts_sh(&o, "echo should-not-run");
	assert_int_equal(sbx_fault_set(call, nth, e), 0);
	int rc = sbx_run(&o, collect, &l, &r, err, sizeof err);
	sbx_fault_set(call, 0, 0);
	assert_int_equal(rc, -e);
	if (!strstr(err, want))
		fail_msg("error '%s' does not mention '%s'", err, want);
	assert_int_equal(l.n, 0);
	assert_int_equal(leftovers(), 0);
	lines_free(&l);
}

static void test_faults(void **state)
{
	need_root(state);
	fault_case("clone", 1, EAGAIN, "clone");
	fault_case("mount", 1, EACCES, "making mounts private");
	fault_case("mount", 2, EACCES, "mounting the root tmpfs");
	fault_case("mount", 3, ENOMEM, "/usr"); /* the first bind */
	fault_case("pivot_root", 1, EINVAL, "pivot_root");
	assert_int_equal(sbx_fault_set("nonesuch", 1, EIO), -EINVAL);
}

/* A work directory that is a symlink (to a root-owned directory here) is
 * refused before anything runs: it is never bound, so the job cannot
 * write through it, whatever the link points at. */
static void test_workdir_symlink(void **state)
{
	need_root(state);
	char dir[] = "/tmp/sentinel-wd-test.XXXXXX", target[64], link[64], slashed[72], probe[80];
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256];
	assert_non_null(mkdtemp(dir));
	snprintf(target, sizeof target, "%s/target", dir);
	snprintf(link, sizeof link, "%s/link", dir);
	snprintf(slashed, sizeof slashed, "%s/", link);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(chmod(target, 0777), 0);
	assert_int_equal(symlink(target, link), 0);
	opts_sh(&o, "echo ran; touch /work/x");
	o.workdir = link;
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), -ENOTDIR);
	assert_non_null(strstr(err, "symbolic link"));
	o.workdir = slashed;
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), -ENOTDIR);
	assert_int_equal(l.n, 0);
	struct stat st;
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_uid, 0);
	snprintf(probe, sizeof probe, "%s/x", target);
	assert_int_equal(access(probe, F_OK), -1);
	o.workdir = target; /* the directory itself is fine */
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(access(probe, F_OK), 0);
	lines_free(&l);
	char cmd[80];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* A work directory the job's uid does not own needs an ID-mapped mount;
 * where the kernel or file system refuses one (here: an injected EINVAL
 * from the tree's mount_setattr), the run fails before starting and says
 * whose directory it is, its mode and the fix. Other errors stay plain. */
static void test_workdir_idmap_refused(void **state)
{
	need_root(state);
	char dir[] = "/tmp/sentinel-idmap-test.XXXXXX", err[512];
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0700), 0);
	opts_sh(&o, "echo ran > /work/ran");
	o.workdir = dir;
	assert_int_equal(sbx_fault_set("clone_tree", 1, EINVAL), 0);
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), -EINVAL);
	if (!strstr(err, dir) || !strstr(err, "owner 0:0, mode 0700") || !strstr(err, "ID-mapped") ||
	    !strstr(err, "chown the directory to 65534:65534"))
		fail_msg("unhelpful error: %s", err);
	assert_int_equal(sbx_fault_set("clone_tree", 1, EPERM), 0);
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "cannot clone its mount"));
	sbx_fault_set("clone_tree", 0, 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(leftovers(), 0);
	/* Without a fault the job writes there, as the directory's owner. */
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(r.exit_code, 0);
	char probe[64];
	struct stat st;
	snprintf(probe, sizeof probe, "%s/ran", dir);
	assert_int_equal(stat(probe, &st), 0);
	assert_int_equal(st.st_uid, 0);
	char cmd[80];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	lines_free(&l);
}

/* --gpus against a fake device directory and a fake `ldconfig -p`. */
struct fake_gpu {
	char dir[64], dev[80], lib[80], ldc[96];
};

static void fake_gpu_make(struct fake_gpu *g, int ngpus)
{
	char path[160];
	snprintf(g->dir, sizeof g->dir, "/tmp/sentinel-gpu-test.XXXXXX");
	assert_non_null(mkdtemp(g->dir));
	snprintf(g->dev, sizeof g->dev, "%s/dev", g->dir);
	snprintf(g->lib, sizeof g->lib, "%s/lib", g->dir);
	snprintf(g->ldc, sizeof g->ldc, "%s/ldconfig.txt", g->dir);
	assert_int_equal(mkdir(g->dev, 0755), 0);
	assert_int_equal(mkdir(g->lib, 0755), 0);
	static const char *const nodes[] = { "nvidiactl", "nvidia-uvm", "nvidia-modeset", NULL };
	for (int i = 0; i < ngpus; i++) {
		snprintf(path, sizeof path, "%s/nvidia%d", g->dev, i);
		fclose(fopen(path, "w"));
	}
	for (size_t i = 0; ngpus && nodes[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", g->dev, nodes[i]);
		fclose(fopen(path, "w"));
	}
	static const char *const libs[] = { "libcuda.so.1", "libnvidia-ml.so.1", "libfoo.so.1", NULL };
	FILE *ldc = fopen(g->ldc, "w");
	assert_non_null(ldc);
	fprintf(ldc, "4 libs found in cache `/etc/ld.so.cache'\n");
	for (size_t i = 0; libs[i]; i++) {
		snprintf(path, sizeof path, "%s/%s", g->lib, libs[i]);
		fclose(fopen(path, "w"));
		fprintf(ldc, "\t%s (libc6,x86-64) => %s\n", libs[i], path);
	}
	fprintf(ldc, "\tlibnvidia-gone.so.1 (libc6,x86-64) => %s/missing.so\n", g->lib);
	fclose(ldc);
	setenv("SENTINEL_SBX_DEV_ROOT", g->dev, 1);
	setenv("SENTINEL_SBX_LDCONFIG", g->ldc, 1);
}

static void fake_gpu_free(struct fake_gpu *g)
{
	char cmd[96];
	unsetenv("SENTINEL_SBX_DEV_ROOT");
	unsetenv("SENTINEL_SBX_LDCONFIG");
	snprintf(cmd, sizeof cmd, "rm -rf %s", g->dir);
	assert_int_equal(system(cmd), 0);
}

/* Whether the plan has an op of kind k onto dst. */
static int plan_has(const struct sbx_plan *p, enum sbx_op_kind k, const char *dst)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ops[i].kind == k && strcmp(p->ops[i].dst, dst) == 0)
			return 1;
	return 0;
}

static int gpu_plan(const char *spec, struct sbx_plan *p, char *err, size_t errlen)
{
	sbx_opts o;
	opts_sh(&o, "true");
	o.gpus = spec;
	memset(p, 0, sizeof *p);
	return sbx_plan_build(p, &o, err, errlen);
}

static void test_gpu_plan(void **state)
{
	need_root(state);
	struct fake_gpu g;
	struct sbx_plan p;
	char err[256], lib[128];
	fake_gpu_make(&g, 2);
	assert_int_equal(gpu_plan("1", &p, err, sizeof err), 0);
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia0"));
	assert_false(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia1"));
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidiactl"));
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia-uvm"));
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia-modeset"));
	assert_false(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia-uvm-tools")); /* not on the host */
	snprintf(lib, sizeof lib, "%s/libcuda.so.1", g.lib);
	assert_true(plan_has(&p, SOP_FILE_BIND, lib));
	snprintf(lib, sizeof lib, "%s/libnvidia-ml.so.1", g.lib);
	assert_true(plan_has(&p, SOP_FILE_BIND, lib));
	snprintf(lib, sizeof lib, "%s/libfoo.so.1", g.lib);
	assert_false(plan_has(&p, SOP_FILE_BIND, lib));
	snprintf(lib, sizeof lib, "%s/missing.so", g.lib);
	assert_false(plan_has(&p, SOP_FILE_BIND, lib));
	for (size_t i = 0; i < p.n; i++)
		if (p.ops[i].kind == SOP_FILE_BIND && strstr(p.ops[i].dst, "lib"))
			assert_int_equal(p.ops[i].rw, 0); /* the driver's files read-only */
	assert_string_equal(p.gpu_env, "CUDA_VISIBLE_DEVICES=0");
	int found = 0;
	for (size_t i = 0; i < p.nenv; i++)
		found |= strcmp(p.envp[i], "CUDA_VISIBLE_DEVICES=0") == 0;
	assert_true(found);
	sbx_plan_release(&p);

	assert_int_equal(gpu_plan("all", &p, err, sizeof err), 0);
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia1"));
	assert_string_equal(p.gpu_env, "CUDA_VISIBLE_DEVICES=0,1");
	sbx_plan_release(&p);
	assert_int_equal(gpu_plan("1,0", &p, err, sizeof err), 0);
	assert_true(plan_has(&p, SOP_DEV_BIND, "/dev/nvidia1"));
	sbx_plan_release(&p);
	static const char *const bad[] = { "3", "0", "2,0", "0,0", "x", "", "1,", NULL };
	for (size_t i = 0; bad[i]; i++) {
		assert_int_equal(gpu_plan(bad[i], &p, err, sizeof err), -EINVAL);
		assert_non_null(strstr(err, "--gpus"));
		sbx_plan_release(&p);
	}
	fake_gpu_free(&g);

	fake_gpu_make(&g, 0); /* a machine without a GPU */
	assert_int_equal(gpu_plan("1", &p, err, sizeof err), -ENODEV);
	assert_non_null(strstr(err, "no NVIDIA GPU"));
	sbx_plan_release(&p);
	fake_gpu_free(&g);
}

/* The same binds in a real run: only the chosen GPU's node is there. */
static void test_gpu_run(void **state)
{
	need_root(state);
	struct fake_gpu g;
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256];
	fake_gpu_make(&g, 2);
	opts_sh(&o, "test -e /dev/nvidia1 && echo leak; test -e /dev/nvidia0 && test -e /dev/nvidiactl"
		    " && echo \"$CUDA_VISIBLE_DEVICES\"");
	o.gpus = "1";
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text[0], "0\n");
	lines_free(&l);
	fake_gpu_free(&g);
}

/* No cgroup can be made: the limits fall back to rlimits, reported. */
static void test_degraded(void **state)
{
	need_root(state);
	sbx_opts o;
	sbx_result r;
	char err[256];
	opts_sh(&o, "ulimit -v; true");
	o.cpus = 1;
	struct lines l = { 0 };
	sbx_fault_set("cg_mkdir", -1, EACCES);
	int rc = sbx_run(&o, collect, &l, &r, err, sizeof err);
	sbx_fault_set("cg_mkdir", 0, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(r.exit_code, 0);
	assert_int_equal(r.degraded, SBX_DEG_MEMORY | SBX_DEG_PIDS | SBX_DEG_CPU);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.text[0], "65536\n"); /* RLIMIT_AS = 64M, in KiB */
	json_t *j = sbx_result_json(&r);
	char *s = json_dumps(json_object_get(j, "degraded"), JSON_COMPACT);
	assert_string_equal(s, "[\"memory\",\"pids\",\"cpu\"]");
	free(s);
	json_decref(j);
	lines_free(&l);
	assert_int_equal(leftovers(), 0);
}

/* The run joins a v1 hierarchy through "tasks" (moving only the joining
 * thread skips the global rwsem whose write side waits an RCU grace
 * period, ~10 ms) and v2 through cgroup.procs; the job and what it forks
 * still land in every run cgroup. */
static void test_join_files(void **state)
{
	need_root(state);
	struct sbx_cg_limits lim = { .mem_bytes = 64 << 20, .pids = 64 }; /* as opts_sh */
	unsigned degraded = 0;
	sbx_cg *cg = NULL;
	const int *fds;
	sbx_cg_create(&lim, &cg, &degraded);
	size_t n = sbx_cg_join_fds(cg, &fds);
	if (!n) {
		sbx_cg_free(&cg);
		skip();
	}
	for (size_t i = 0; i < n; i++) {
		struct statfs sf;
		char link[64], path[4096];
		snprintf(link, sizeof link, "/proc/self/fd/%d", fds[i]);
		ssize_t k = readlink(link, path, sizeof path - 1);
		assert_true(k > 0);
		path[k] = '\0';
		assert_int_equal(fstatfs(fds[i], &sf), 0);
		const char *want = sf.f_type == CGROUP2_SUPER_MAGIC ? "/cgroup.procs" : "/tasks";
		assert_true(sf.f_type == CGROUP2_SUPER_MAGIC || sf.f_type == CGROUP_SUPER_MAGIC);
		size_t wl = strlen(want);
		assert_true((size_t)k > wl);
		assert_string_equal(path + k - wl, want);
	}
	sbx_cg_free(&cg);

	/* A child of the job, forked after the join, is in as many run
	 * cgroups as there are hierarchies to join. */
	sbx_opts o;
	sbx_result r;
	struct lines l = { 0 };
	char err[256], want[16];
	opts_sh(&o, "sleep 1 & grep -c '/sentinel/run-' /proc/$!/cgroup; kill $!");
	assert_int_equal(sbx_run(&o, collect, &l, &r, err, sizeof err), 0);
	assert_int_equal(r.degraded, degraded);
	assert_int_equal(l.n, 1);
	snprintf(want, sizeof want, "%zu\n", n);
	assert_string_equal(l.text[0], want);
	lines_free(&l);
	assert_int_equal(leftovers(), 0);
}

/* A child cloned with a v2 cgroup's descriptor is born in it
 * (CLONE_INTO_CGROUP): no cgroup.procs write, no RCU grace period. The
 * machine's cgroup2 mount serves even without controllers. */
static void test_clone_into_cgroup(void **state)
{
	need_root(state);
	char line[4096], mnt[1024] = "", own[1024] = "", dir[2048], want[2048];
	FILE *f = fopen("/proc/self/mountinfo", "r");
	assert_non_null(f);
	while (!mnt[0] && fgets(line, sizeof line, f)) {
		char m[1024], fs[64];
		char *dash = strstr(line, " - ");
		if (dash && sscanf(line, "%*s %*s %*s %*s %1023s", m) == 1 &&
		    sscanf(dash + 3, "%63s", fs) == 1 && strcmp(fs, "cgroup2") == 0)
			snprintf(mnt, sizeof mnt, "%s", m);
	}
	fclose(f);
	f = fopen("/proc/self/cgroup", "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "0::", 3) == 0)
			snprintf(own, sizeof own, "%.*s", (int)strcspn(line + 3, "\n"), line + 3);
	fclose(f);
	if (!mnt[0] || !own[0])
		skip();
	const char *sep = own[strlen(own) - 1] == '/' ? "" : "/";
	/* A path too long for the buffers is a host this test cannot use. */
	if (snprintf(dir, sizeof dir, "%s%s%ssentinel-clone-%d", mnt, own, sep, (int)getpid()) >=
		    (int)sizeof dir ||
	    snprintf(want, sizeof want, "0::%s%ssentinel-clone-%d\n", own, sep, (int)getpid()) >=
		    (int)sizeof want)
		skip();
	if (mkdir(dir, 0755))
		skip(); /* a delegated or read-only hierarchy */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	long pid = sbx_sys.clone(0, dfd);
	if (pid == 0) {
		char got[4096] = "";
		FILE *c = fopen("/proc/self/cgroup", "r");
		int ok = 0;
		while (c && fgets(got, sizeof got, c))
			ok |= strcmp(got, want) == 0;
		_exit(ok ? 0 : 3);
	}
	int st = -1;
	if (pid > 0)
		assert_int_equal(waitpid((pid_t)pid, &st, 0), pid);
	close(dfd);
	rmdir(dir);
	if (pid < 0 && (errno == ENOSYS || errno == E2BIG))
		skip(); /* before Linux 5.7 */
	assert_true(pid > 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* The back-ends' file formats, on a fake cgroup directory: the v2 one is
 * otherwise not exercised on a v1 or hybrid machine. */
static void put(const char *dir, const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect(const char *dir, const char *name, const char *want)
{
	char p[256], got[128] = "";
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	if (!fgets(got, sizeof got, f))
		got[0] = '\0';
	fclose(f);
	assert_string_equal(got, want);
}

static void test_backends(void **state)
{
	(void)state;
	char dir[] = "/tmp/sentinel-cg-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct sbx_cg_limits l = { .mem_bytes = 100 << 20, .pids = 64, .cpus = 1.5 };
	struct sbx_cg_stats st;

	/* v2: memory.max (+ swap.max 0 where present), pids.max, cpu.max. */
	put(dir, "memory.max", "max");
	put(dir, "memory.swap.max", "max");
	put(dir, "pids.max", "max");
	put(dir, "cpu.max", "max 100000");
	assert_int_equal(sbx_cg_backend_apply(1, dfd, &l), 0);
	expect(dir, "memory.max", "104857600");
	expect(dir, "memory.swap.max", "0");
	expect(dir, "pids.max", "64");
	expect(dir, "cpu.max", "150000 100000");
	put(dir, "memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\n");
	put(dir, "memory.peak", "104857600\n");
	put(dir, "pids.events", "max 7\n");
	put(dir, "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
	sbx_cg_backend_stats(1, dfd, &st);
	assert_int_equal(st.oom_kills, 1); /* oom_kill, not "oom" or "max" */
	assert_int_equal(st.peak_bytes, 104857600);
	assert_int_equal(st.pids_hits, 7);
	assert_int_equal(st.cpu_ns, 2500000);
	assert_true(st.have_peak && st.have_cpu);

	/* v1: limit_in_bytes then memsw, cfs quota, and the OOM counter of
	 * oom_control (failcnt stays 0 on a memory kill). */
	put(dir, "memory.limit_in_bytes", "9223372036854771712");
	put(dir, "memory.memsw.limit_in_bytes", "9223372036854771712");
	put(dir, "cpu.cfs_period_us", "100000");
	put(dir, "cpu.cfs_quota_us", "-1");
	assert_int_equal(sbx_cg_backend_apply(0, dfd, &l), 0);
	expect(dir, "memory.limit_in_bytes", "104857600");
	expect(dir, "memory.memsw.limit_in_bytes", "104857600");
	expect(dir, "cpu.cfs_quota_us", "150000");
	expect(dir, "pids.max", "64");
	put(dir, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
	put(dir, "memory.failcnt", "0");
	put(dir, "memory.max_usage_in_bytes", "4096");
	put(dir, "cpuacct.usage", "123456789");
	sbx_cg_backend_stats(0, dfd, &st);
	assert_int_equal(st.oom_kills, 3);
	assert_int_equal(st.peak_bytes, 4096);
	assert_int_equal(st.pids_hits, 7);
	assert_int_equal(st.cpu_ns, 123456789);

	/* A missing limit file is an error the caller turns into "degraded". */
	char p[256];
	snprintf(p, sizeof p, "%s/pids.max", dir);
	unlink(p);
	assert_int_equal(sbx_cg_backend_apply(1, dfd, &l), -ENOENT);
	close(dfd);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_exit_and_signal),
		cmocka_unit_test(test_bad_opts),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_workdir_symlink),
		cmocka_unit_test(test_workdir_idmap_refused),
		cmocka_unit_test(test_gpu_plan),
		cmocka_unit_test(test_gpu_run),
		cmocka_unit_test(test_degraded),
		cmocka_unit_test(test_backends),
		cmocka_unit_test(test_join_files),
		cmocka_unit_test(test_clone_into_cgroup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
