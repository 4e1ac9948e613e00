/* Per-run cgroups, v1 and v2 behind one table of functions (STYLE.md rule 4).
 *
 * Layouts differ: pure v2 (one hierarchy, all controllers), pure v1 (one
 * hierarchy per controller or per co-mounted group) and hybrid (v1
 * controllers plus a v2 mount holding the rest, e.g. only hugetlb). So we do
 * not ask "v1 or v2?" but, once per process, for each controller we use
 * (memory, pids, cpu, cpuacct): which hierarchy carries it. Each such
 * hierarchy gets a directory per run, created under the supervisor's own
 * cgroup in it: <mount>/<own path>/sentinel/run-<pid>-<n>.
 *
 * Invariants:
 * 1. A run's directories are named after the supervisor's pid; a directory
 *    whose supervisor is gone is a leftover that sbx_cg_reap_leftovers()
 *    empties (SIGKILL) and removes.
 * 2. sbx_cg_free() leaves no directory of the run behind unless a process
 *    survives SIGKILL for over a second (then the next start reaps it).
 * 3. A controller that cannot be used is reported as degraded, never
 *    silently dropped. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

enum { C_MEMORY = 1, C_PIDS = 2, C_CPU = 4, C_CPUACCT = 8 };
#define MAX_HIER 4

struct cg_ops {
	const char *name;
	/* The file the child writes "0" into to join (sbx_cg_join_fds). */
	const char *join_file;
	int (*set_mem)(int dfd, uint64_t bytes);
	int (*set_pids)(int dfd, uint64_t n);
	int (*set_cpu)(int dfd, double cpus);
	void (*stats)(int dfd, unsigned ctrls, struct sbx_cg_stats *st);
	void (*kill)(int dfd);
};

struct hier {
	const struct cg_ops *ops;
	unsigned ctrls;
	char *base; /* <mount>/<own path>/sentinel */
};

struct cg_dir {
	const struct hier *h;
	char *path;
	int dfd;
	int procs_fd;
};

struct sbx_cg {
	struct cg_dir d[MAX_HIER];
	size_t n;
	int join[MAX_HIER];
};

static struct hier hiers[MAX_HIER];
static size_t nhiers;
static unsigned avail; /* C_* bits some hierarchy carries */
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static unsigned run_seq;
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- small file helpers ---------------------------------------------------- */

static int write_at(int dfd, const char *name, const char *s)
{
	int fd = openat(dfd, name, O_WRONLY | O_TRUNC | O_CLOEXEC); /* as a shell does */
	if (fd < 0)
		return -errno;
	size_t n = strlen(s);
	int rc = write(fd, s, n) == (ssize_t)n ? 0 : -errno;
	close(fd);
	return rc;
}

static int read_at(int dfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int rc = n < 0 ? -errno : 0;
	buf[n < 0 ? 0 : n] = '\0';
	close(fd);
	return rc;
}

/* The number after "key " in a "key value" file; 0 when absent. */
static uint64_t read_key(int dfd, const char *name, const char *key)
{
	char buf[4096];
	if (read_at(dfd, name, buf, sizeof buf))
		return 0;
	size_t kl = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
			return strtoull(l + kl + 1, NULL, 10);
	return 0;
}

static int read_u64(int dfd, const char *name, uint64_t *v)
{
	char buf[64];
	int rc = read_at(dfd, name, buf, sizeof buf);
	if (!rc)
		*v = strtoull(buf, NULL, 10);
	return rc;
}

static int write_u64(int dfd, const char *name, uint64_t v)
{
	char s[32];
	snprintf(s, sizeof s, "%" PRIu64, v);
	return write_at(dfd, name, s);
}

/* SIGKILLs every process listed in cgroup.procs, a bounded number of times. */
static void kill_listed(int dfd)
{
	char buf[8192];
	for (int round = 0; round < 8; round++) {
		if (read_at(dfd, "cgroup.procs", buf, sizeof buf) || !buf[0])
			return;
		for (char *p = buf; *p;) {
			char *end;
			long pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (pid > 0)
				kill((pid_t)pid, SIGKILL);
			p = end + (*end == '\n');
		}
	}
}

/* --- cgroup v1 --------------------------------------------------------------- */

static int v1_set_mem(int dfd, uint64_t bytes)
{
	int rc = write_u64(dfd, "memory.limit_in_bytes", bytes);
	/* memsw (memory+swap) exists only with swap accounting; without it a
	 * job could swap instead of being killed, which is slower but bounded. */
	if (!rc && faccessat(dfd, "memory.memsw.limit_in_bytes", F_OK, 0) == 0)
		rc = write_u64(dfd, "memory.memsw.limit_in_bytes", bytes);
	return rc;
}

static int v1_set_pids(int dfd, uint64_t n)
{
	return write_u64(dfd, "pids.max", n);
}

static int v1_set_cpu(int dfd, double cpus)
{
	uint64_t period = 100000;
	int rc = write_u64(dfd, "cpu.cfs_period_us", period);
	if (!rc)
		rc = write_u64(dfd, "cpu.cfs_quota_us", (uint64_t)(cpus * (double)period));
	return rc;
}

static void v1_stats(int dfd, unsigned ctrls, struct sbx_cg_stats *st)
{
	uint64_t v;
	if (ctrls & C_MEMORY) {
		/* On v1 an OOM kill shows in oom_control's oom_kill; failcnt stays 0. */
		st->oom_kills += read_key(dfd, "memory.oom_control", "oom_kill");
		if (!read_u64(dfd, "memory.max_usage_in_bytes", &v)) {
			st->peak_bytes = v;
			st->have_peak = 1;
		}
	}
	if (ctrls & C_PIDS)
		st->pids_hits += read_key(dfd, "pids.events", "max");
	if ((ctrls & C_CPUACCT) && !read_u64(dfd, "cpuacct.usage", &v)) {
		st->cpu_ns = v;
		st->have_cpu = 1;
	}
}

/* v1 joins through "tasks", which moves only the writing thread: writing
 * "0" there is the one migration the kernel makes without taking
 * cgroup_threadgroup_rwsem for writing, whose percpu_down_write waits a
 * full RCU grace period (~10 ms at HZ=250) whenever no other migration
 * happened in the last one (cgroup_procs_write_start). Moving one thread
 * moves the whole process because the child is single-threaded when it
 * joins (a clone without CLONE_THREAD), and what it forks later inherits. */
static const struct cg_ops v1_ops = {
	.name = "v1",
	.join_file = "tasks",
	.set_mem = v1_set_mem,
	.set_pids = v1_set_pids,
	.set_cpu = v1_set_cpu,
	.stats = v1_stats,
	.kill = kill_listed,
};

/* --- cgroup v2 --------------------------------------------------------------- */

static int v2_set_mem(int dfd, uint64_t bytes)
{
	int rc = write_u64(dfd, "memory.max", bytes);
	if (!rc && faccessat(dfd, "memory.swap.max", F_OK, 0) == 0)
		rc = write_at(dfd, "memory.swap.max", "0");
	return rc;
}

static int v2_set_pids(int dfd, uint64_t n)
{
	return write_u64(dfd, "pids.max", n);
}

static int v2_set_cpu(int dfd, double cpus)
{
	char s[64];
	snprintf(s, sizeof s, "%" PRIu64 " 100000", (uint64_t)(cpus * 100000.0));
	return write_at(dfd, "cpu.max", s);
}

static void v2_stats(int dfd, unsigned ctrls, struct sbx_cg_stats *st)
{
	uint64_t v;
	if (ctrls & C_MEMORY) {
		st->oom_kills += read_key(dfd, "memory.events", "oom_kill");
		if (!read_u64(dfd, "memory.peak", &v)) {
			st->peak_bytes = v;
			st->have_peak = 1;
		}
	}
	if (ctrls & C_PIDS)
		st->pids_hits += read_key(dfd, "pids.events", "max");
	/* cpu.stat's usage is there in every v2 cgroup. */
	if ((ctrls & C_CPUACCT)) {
		st->cpu_ns = read_key(dfd, "cpu.stat", "usage_usec") * 1000;
		st->have_cpu = 1;
	}
}

static void v2_kill(int dfd)
{
	if (write_at(dfd, "cgroup.kill", "1"))
		kill_listed(dfd);
}

/* v2 refuses "cgroup.threads" moves across domains: the child is cloned
 * into its v2 cgroup (CLONE_INTO_CGROUP, sbx.c), and cgroup.procs is the
 * fallback where clone3 cannot. */
static const struct cg_ops v2_ops = {
	.name = "v2",
	.join_file = "cgroup.procs",
	.set_mem = v2_set_mem,
	.set_pids = v2_set_pids,
	.set_cpu = v2_set_cpu,
	.stats = v2_stats,
	.kill = v2_kill,
};

/* --- detection, once per process -------------------------------------------- */

static unsigned ctrl_bits(const char *list)
{
	static const struct { const char *n; unsigned b; } names[] = {
		{ "memory", C_MEMORY }, { "pids", C_PIDS }, { "cpu", C_CPU }, { "cpuacct", C_CPUACCT },
	};
	unsigned bits = 0;
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s", list);
	char *save = NULL;
	for (char *t = strtok_r(tmp, ", \n", &save); t; t = strtok_r(NULL, ", \n", &save))
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(t, names[i].n) == 0)
				bits |= names[i].b;
	return bits;
}

/* Our own cgroup path in the hierarchy whose /proc/self/cgroup entry has
 * these controllers (v1) or is "0::" (v2). */
static int own_path(unsigned ctrls, int v2, char *out, size_t len)
{
	int rc = -ENOENT;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		line[strcspn(line, "\n")] = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		int match = v2 ? (c1[1] == '\0' && strncmp(line, "0:", 2) == 0)
			       : (c1[1] && (ctrl_bits(c1 + 1) & ctrls) == ctrls);
		if (match) {
			snprintf(out, len, "%s", c2 + 1);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static void add_hier(const struct cg_ops *ops, unsigned ctrls, const char *mnt, const char *root,
		     const char *own)
{
	if (!ctrls || nhiers == MAX_HIER)
		return;
	/* The mount may show a subtree (a container): strip its root. */
	size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
	if (rl && strncmp(own, root, rl) != 0)
		return;
	const char *rel = own + rl;
	hiers[nhiers].ops = ops;
	hiers[nhiers].ctrls = ctrls;
	hiers[nhiers].base = xasprintf("%s%s%ssentinel", mnt, rel,
				       rel[0] && rel[strlen(rel) - 1] == '/' ? "" : "/");
	nhiers++;
	avail |= ctrls;
}

/* v2: the controllers we want must be enabled for our base's children. */
static unsigned v2_enable(const char *mnt, const char *rel, unsigned want)
{
	char *own = xasprintf("%s%s", mnt, rel), *base = xasprintf("%s/sentinel", own);
	char ctl[256] = "";
	unsigned got = 0;
	int dfd = -1;
	if (mkdir(base, 0755) && errno != EEXIST)
		goto out;
	static const char *const names[] = { "+memory", "+pids", "+cpu" };
	static const unsigned bits[] = { C_MEMORY, C_PIDS, C_CPU };
	for (int pass = 0; pass < 2; pass++) {
		dfd = open(pass == 0 ? own : base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			goto out;
		for (int i = 0; i < 3; i++)
			if (want & bits[i])
				write_at(dfd, "cgroup.subtree_control", names[i]);
		close(dfd);
		dfd = -1;
	}
	dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && !read_at(dfd, "cgroup.subtree_control", ctl, sizeof ctl))
		got = ctrl_bits(ctl) & want;
	got |= C_CPUACCT & want; /* cpu.stat is always there */
out:
	if (dfd >= 0)
		close(dfd);
	free(own);
	free(base);
	return got;
}

static void detect(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], own[PATH_MAX];
	unsigned want = C_MEMORY | C_PIDS | C_CPU | C_CPUACCT, v2_want = 0;
	char v2_mnt[PATH_MAX] = "", v2_root[PATH_MAX] = "";
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char root[PATH_MAX], mnt[PATH_MAX], fstype[64], super[1024];
		char *dash = strstr(line, " - ");
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fstype, super) != 2)
			continue;
		if (strcmp(fstype, "cgroup") == 0) {
			unsigned c = ctrl_bits(super) & want;
			if (c && !own_path(c, 0, own, sizeof own)) {
				add_hier(&v1_ops, c, mnt, root, own);
				want &= ~c;
			}
		} else if (strcmp(fstype, "cgroup2") == 0 && !v2_mnt[0]) {
			snprintf(v2_mnt, sizeof v2_mnt, "%s", mnt);
			snprintf(v2_root, sizeof v2_root, "%s", root);
		}
	}
	fclose(f);
	if (v2_mnt[0] && want && !own_path(0, 1, own, sizeof own)) {
		char ctl[256] = "", *p = xasprintf("%s/cgroup.controllers", v2_mnt);
		FILE *cf = fopen(p, "re");
		if (cf) {
			if (!fgets(ctl, sizeof ctl, cf))
				ctl[0] = '\0';
			fclose(cf);
		}
		free(p);
		/* v2 carries only what its root offers and is not bound to v1. */
		v2_want = (ctrl_bits(ctl) | C_CPUACCT) & want;
		if (v2_want & ~C_CPUACCT) {
			size_t rl = strcmp(v2_root, "/") == 0 ? 0 : strlen(v2_root);
			const char *rel = strncmp(own, v2_root, rl) == 0 ? own + rl : "";
			unsigned got = v2_enable(v2_mnt, rel, v2_want);
			/* A non-root cgroup holding processes (ours) cannot hand
			 * controllers to children ("no internal processes"): then
			 * use the top of the mount, which can. */
			if (rel[0] && (got & ~C_CPUACCT) != (v2_want & ~C_CPUACCT)) {
				unsigned top = v2_enable(v2_mnt, "", v2_want);
				if ((top & ~C_CPUACCT) > (got & ~C_CPUACCT)) {
					char *stale = xasprintf("%s%s/sentinel", v2_mnt, rel);
					rmdir(stale);
					free(stale);
					got = top;
					rel = "";
				}
			}
			add_hier(&v2_ops, got, v2_mnt, "/", rel);
		}
	}
	for (size_t i = 0; i < nhiers; i++)
		log_debug("sandbox: cgroup %s carries 0x%x at %s", hiers[i].ops->name,
			  hiers[i].ctrls, hiers[i].base);
}

/* --- per run ------------------------------------------------------------------ */

static void dir_close(struct cg_dir *d)
{
	if (d->procs_fd >= 0)
		close(d->procs_fd);
	if (d->dfd >= 0)
		close(d->dfd);
	d->procs_fd = d->dfd = -1;
}

/* Empties and removes one run directory; 0 or -errno (EBUSY: still busy). */
static int dir_remove(const struct cg_ops *ops, const char *path, int dfd)
{
	for (int i = 0; i < 200; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		if (dfd >= 0)
			ops->kill(dfd);
		struct timespec ts = { 0, 5 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return -EBUSY;
}

static int set_limits(const struct hier *h, int dfd, const struct sbx_cg_limits *l)
{
	int rc = 0;
	if ((h->ctrls & C_MEMORY) && l->mem_bytes)
		rc = h->ops->set_mem(dfd, l->mem_bytes);
	if (!rc && (h->ctrls & C_PIDS) && l->pids)
		rc = h->ops->set_pids(dfd, l->pids);
	if (!rc && (h->ctrls & C_CPU) && l->cpus > 0)
		rc = h->ops->set_cpu(dfd, l->cpus);
	return rc;
}

static unsigned deg_bits(unsigned ctrls, const struct sbx_cg_limits *l)
{
	return ((ctrls & C_MEMORY) && l->mem_bytes ? SBX_DEG_MEMORY : 0) |
	       ((ctrls & C_PIDS) && l->pids ? SBX_DEG_PIDS : 0) |
	       ((ctrls & C_CPU) && l->cpus > 0 ? SBX_DEG_CPU : 0);
}

void sbx_cg_create(const struct sbx_cg_limits *l, sbx_cg **out, unsigned *degraded)
{
	pthread_once(&detect_once, detect);
	sbx_cg *cg = xcalloc(1, sizeof *cg);
	unsigned lost = (C_MEMORY | C_PIDS | C_CPU) & ~avail;
	pthread_mutex_lock(&seq_lock);
	unsigned seq = ++run_seq;
	pthread_mutex_unlock(&seq_lock);
	/* Only hierarchies that carry a requested limit, or CPU accounting:
	 * each costs a mkdir, a migration and an rmdir per run. (rusage is no
	 * substitute: a job killed with its init is never reaped by it.) */
	unsigned wanted = (l->mem_bytes ? C_MEMORY : 0) | (l->pids ? C_PIDS : 0) |
			  (l->cpus > 0 ? C_CPU : 0) | C_CPUACCT;
	for (size_t i = 0; i < nhiers; i++) {
		const struct hier *h = &hiers[i];
		struct cg_dir *d = &cg->d[cg->n];
		if (!(h->ctrls & wanted))
			continue;
		d->h = h;
		d->dfd = d->procs_fd = -1;
		d->path = xasprintf("%s/run-%d-%u", h->base, (int)getpid(), seq);
		if (mkdir(h->base, 0755) && errno != EEXIST)
			goto lose;
		if (sbx_sys.cg_mkdir(d->path, 0755))
			goto lose;
		d->dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d->dfd < 0 || set_limits(h, d->dfd, l))
			goto lose_rm;
		d->procs_fd = openat(d->dfd, h->ops->join_file, O_WRONLY | O_CLOEXEC);
		if (d->procs_fd < 0)
			goto lose_rm;
		cg->join[cg->n++] = d->procs_fd;
		continue;
lose_rm:
		dir_close(d);
		rmdir(d->path);
lose:
		log_warn("sandbox: cgroup %s %s unusable (%s); falling back to rlimits",
			 h->ops->name, d->path, strerror(errno));
		lost |= h->ctrls;
		xfree(&d->path);
	}
	assert(cg->n <= MAX_HIER);
	*degraded = deg_bits(lost, l);
	*out = cg;
}

size_t sbx_cg_join_fds(const sbx_cg *cg, const int **fds)
{
	*fds = cg->join;
	return cg->n;
}

int sbx_cg_v2_dir(const sbx_cg *cg, int *dfd)
{
	for (size_t i = 0; i < cg->n; i++)
		if (cg->d[i].h->ops == &v2_ops) {
			*dfd = cg->d[i].dfd;
			return (int)i;
		}
	return -1;
}

void sbx_cg_kill(sbx_cg *cg)
{
	for (size_t i = 0; i < cg->n; i++)
		cg->d[i].h->ops->kill(cg->d[i].dfd);
}

void sbx_cg_stats(sbx_cg *cg, struct sbx_cg_stats *st)
{
	memset(st, 0, sizeof *st);
	for (size_t i = 0; i < cg->n; i++)
		cg->d[i].h->ops->stats(cg->d[i].dfd, cg->d[i].h->ctrls, st);
}

void sbx_cg_free(sbx_cg **pcg)
{
	sbx_cg *cg = *pcg;
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		struct cg_dir *d = &cg->d[i];
		if (d->procs_fd >= 0) {
			close(d->procs_fd);
			d->procs_fd = -1;
		}
		int rc = dir_remove(d->h->ops, d->path, d->dfd);
		if (rc)
			log_warn("sandbox: cannot remove cgroup %s: %s", d->path, strerror(-rc));
		dir_close(d);
		free(d->path);
	}
	free(cg);
	*pcg = NULL;
}

/* Invariant 1: run-<pid>-<n> whose pid is not alive is a leftover. */
void sbx_cg_reap_leftovers(void)
{
	pthread_once(&detect_once, detect);
	for (size_t i = 0; i < nhiers; i++) {
		DIR *dir = opendir(hiers[i].base);
		struct dirent *e;
		if (!dir)
			continue;
		while ((e = readdir(dir))) {
			int pid;
			unsigned n;
			if (sscanf(e->d_name, "run-%d-%u", &pid, &n) != 2 || pid <= 0)
				continue;
			if (pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
				continue;
			char *p = xasprintf("%s/%s", hiers[i].base, e->d_name);
			int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (dfd >= 0)
				hiers[i].ops->kill(dfd);
			int rc = dir_remove(hiers[i].ops, p, dfd);
			log_info("sandbox: removed leftover cgroup %s%s", p, rc ? " (failed)" : "");
			if (dfd >= 0)
				close(dfd);
			free(p);
		}
		closedir(dir);
	}
}

/* For tests: a back-end applied to, and read from, any directory. */
int sbx_cg_backend_apply(int v2, int dfd, const struct sbx_cg_limits *l)
{
	struct hier h = { .ops = v2 ? &v2_ops : &v1_ops,
			  .ctrls = C_MEMORY | C_PIDS | C_CPU | C_CPUACCT };
	return set_limits(&h, dfd, l);
}

void sbx_cg_backend_stats(int v2, int dfd, struct sbx_cg_stats *st)
{
	memset(st, 0, sizeof *st);
	(v2 ? &v2_ops : &v1_ops)->stats(dfd, C_MEMORY | C_PIDS | C_CPU | C_CPUACCT, st);
}
