/* Figures of this machine, of a process tree and of NVIDIA GPUs (see
 * agent_metrics.h), and the node agent's push of its own.
 *
 * Why a scan of /proc for the tree: /proc/PID/task/TID/children needs
 * CONFIG_PROC_CHILDREN and one read per thread of every process, while one
 * read of /proc/N/stat per process gives parent, times, RSS and threads
 * together; a few hundred processes cost about a millisecond.
 *
 * Why the CPU time sums cutime and cstime: a descendant that exits and is
 * reaped by its parent moves its time into the parent's cutime/cstime, so
 * the sum over the live tree only loses what leaves the tree by being
 * reaped outside it (the collector adds what it reaps itself). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "agent/agent_metrics.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

extern char **environ;

/* /proc/stat's first line and /proc/meminfo are each a few KiB. */
#define PROC_TEXT_MAX (64 << 10)
/* nvidia-smi's answer for 64 GPUs or a few thousand apps. */
#define SMI_OUT_MAX (256 << 10)
#define SMI_TIMEOUT_MS 5000
#define NODE_PUSH_TIMEOUT_S 5L

/* ---- this machine ---- */

int agm_parse_cpu_line(const char *text, uint64_t *busy, uint64_t *total)
{
	unsigned long long v[10] = { 0 };
	const char *p = strstr(text, "cpu ");
	/* Only the aggregate line: "cpu0 …" lines do not match "cpu ". */
	if (!p || (p != text && p[-1] != '\n'))
		return -EINVAL;
	int n = sscanf(p + 4, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	if (n < 4)
		return -EINVAL;
	/* user nice system idle iowait irq softirq steal guest guest_nice:
	 * guest time is already inside user and nice; idle and iowait are
	 * not busy. */
	uint64_t all = 0;
	/* A sum past 2^64 is no counter of this machine. */
	for (int i = 0; i < n && i < 8; i++)
		if (__builtin_add_overflow(all, v[i], &all))
			return -EINVAL;
	*total = all;
	*busy = all - v[3] - (n > 4 ? v[4] : 0);
	return 0;
}

int agm_parse_meminfo(const char *text, uint64_t *total, uint64_t *avail)
{
	unsigned long long t = 0, a = 0;
	int got = 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (sscanf(p, "MemTotal: %llu kB", &t) == 1)
			got |= 1;
		else if (sscanf(p, "MemAvailable: %llu kB", &a) == 1)
			got |= 2;
	}
	if (got != 3)
		return -EINVAL;
	*total = (uint64_t)t << 10;
	*avail = (uint64_t)a << 10;
	return 0;
}

int agm_host_read(agm_host *out)
{
	char *text = NULL;
	double load[3] = { 0 };
	memset(out, 0, sizeof *out);
	int rc = sn_read_file("/proc/stat", PROC_TEXT_MAX, &text, NULL);
	/* /proc/stat grows with the cores and interrupts: only its start is
	 * needed, but a large one is read whole rather than refused. */
	if (rc == -E2BIG)
		rc = sn_read_file("/proc/stat", (size_t)16 << 20, &text, NULL);
	if (rc || (rc = agm_parse_cpu_line(text, &out->cpu_busy, &out->cpu_total)))
		goto out;
	xfree(&text);
	if ((rc = sn_read_file("/proc/meminfo", PROC_TEXT_MAX, &text, NULL)) ||
	    (rc = agm_parse_meminfo(text, &out->mem_total, &out->mem_avail)))
		goto out;
	if (getloadavg(load, 1) == 1)
		out->load1 = load[0];
out:
	free(text);
	return rc;
}

double agm_host_cpu_percent(const agm_host *before, const agm_host *now)
{
	if (now->cpu_total <= before->cpu_total || now->cpu_busy < before->cpu_busy)
		return 0;
	return 100.0 * (double)(now->cpu_busy - before->cpu_busy) /
	       (double)(now->cpu_total - before->cpu_total);
}

/* ---- a process tree ---- */

int agm_parse_stat(const char *line, agm_proc *out)
{
	const char *p = strrchr(line, ')');
	int pid;
	char st;
	int ppid;
	unsigned long long ut, stm, cut, cst, rss;
	long threads;
	memset(out, 0, sizeof *out);
	if (!p || sscanf(line, "%d", &pid) != 1)
		return -EINVAL;
	/* After ") ": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice num_threads
	 * itrealvalue starttime vsize rss (fields 3..24 of proc(5)). */
	int n = sscanf(p + 1,
		       " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu %*d %*d %ld"
		       " %*d %*u %*u %llu",
		       &st, &ppid, &ut, &stm, &cut, &cst, &threads, &rss);
	if (n != 8)
		return -EINVAL;
	out->pid = pid;
	out->ppid = ppid;
	out->state = st;
	out->ticks = ut + stm + cut + cst;
	out->rss_pages = rss;
	out->threads = threads > 0 ? (unsigned)threads : 0;
	return 0;
}

static int by_pid(const void *a, const void *b)
{
	pid_t x = ((const agm_proc *)a)->pid, y = ((const agm_proc *)b)->pid;
	return (x > y) - (x < y);
}

static int pid_cmp(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Every process's stat line (processes that vanish meanwhile are
 * skipped). Sorted by pid. */
static int scan_proc(agm_proc **out, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t len = 0, cap = 256;
	agm_proc *v = xmalloc(cap * sizeof *v);
	if (!d) {
		free(v);
		return -errno;
	}
	while ((e = readdir(d))) {
		char path[sizeof e->d_name + 16], line[1024];
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t r = read(fd, line, sizeof line - 1);
		close(fd);
		if (r <= 0)
			continue;
		line[r] = '\0';
		if (len == cap)
			v = xrealloc(v, (cap *= 2) * sizeof *v);
		if (agm_parse_stat(line, &v[len]) == 0)
			len++;
	}
	closedir(d);
	qsort(v, len, sizeof *v, by_pid);
	*out = v;
	*n = len;
	return 0;
}

/* 1 when p descends from root: walks up the parents, memoising in mark
 * (0 unknown, 1 inside, 2 outside). The walk is bounded by n steps: pid
 * reuse cannot make it loop. */
static int descends(const agm_proc *v, size_t n, unsigned char *mark, size_t i, pid_t root)
{
	size_t path[64], np = 0, steps = 0;
	int in = 0;
	for (;;) {
		if (mark[i]) {
			in = mark[i] == 1;
			break;
		}
		if (v[i].ppid == root) {
			in = 1;
			break;
		}
		agm_proc key = { .pid = v[i].ppid };
		const agm_proc *up = v[i].ppid > 0 ? bsearch(&key, v, n, sizeof *v, by_pid) : NULL;
		if (!up || ++steps > n)
			break;
		if (np < sizeof path / sizeof path[0])
			path[np++] = i;
		i = (size_t)(up - v);
	}
	mark[i] = in ? 1 : 2;
	while (np)
		mark[path[--np]] = in ? 1 : 2;
	return in;
}

int agm_tree_read(pid_t root, agm_tree *out)
{
	agm_proc *v = NULL;
	size_t n = 0;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	memset(out, 0, sizeof *out);
	int rc = scan_proc(&v, &n);
	if (rc)
		return rc;
	unsigned char *mark = xcalloc(n ? n : 1, 1);
	out->pids = xmalloc((n ? n : 1) * sizeof *out->pids);
	for (size_t i = 0; i < n; i++) {
		if (v[i].pid == root || !descends(v, n, mark, i, root))
			continue;
		out->cpu_us += v[i].ticks * 1000000 / (uint64_t)(tck > 0 ? tck : 100);
		if (v[i].state == 'Z')
			continue;
		out->pids[out->npids++] = v[i].pid;
		out->rss_bytes += v[i].rss_pages * (uint64_t)(page > 0 ? page : 4096);
		out->threads += v[i].threads;
		out->procs++;
	}
	/* v is sorted by pid, so pids is too (agm_parse_apps searches it). */
	free(mark);
	free(v);
	return 0;
}

void agm_tree_release(agm_tree *t)
{
	free(t->pids);
	t->pids = NULL;
	t->npids = 0;
}

/* ---- GPUs ---- */

char *agm_smi_path(void)
{
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ":");
		/* An empty PATH entry is the current directory: not searched for
		 * a program we run on our own. */
		if (n && p[0] == '/') {
			char *f = xasprintf("%.*s/nvidia-smi", (int)n, p);
			if (access(f, X_OK) == 0)
				return f;
			free(f);
		}
		p += n + (p[n] == ':');
	}
	return NULL;
}

/* The fields of one CSV line of nvidia-smi, trimmed, into f (at most
 * max); returns how many. line is modified. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	for (char *s = line; s && n < max;) {
		char *c = strchr(s, ',');
		if (c)
			*c = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		size_t l = strlen(s);
		while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
			s[--l] = '\0';
		f[n++] = s;
		s = c ? c + 1 : NULL;
	}
	return n;
}

/* A number field; "[N/A]", "[Not Supported]" and the like give -1. */
static double num_field(const char *s)
{
	char *end;
	double d = strtod(s, &end);
	return end != s && *end == '\0' && d >= 0 && d < 1e300 ? d : -1;
}

/* Each line of text (a copy: the caller's is left alone) to fn. */
static void each_line(const char *text, void (*fn)(void *ctx, char *line), void *ctx)
{
	char *copy = xstrdup(text), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		fn(ctx, l);
	free(copy);
}

struct gpus_ctx {
	agm_gpu *out;
	size_t max, *n;
};

static void gpu_line(void *ctx, char *line)
{
	struct gpus_ctx *c = ctx;
	char *f[5];
	if (*c->n >= c->max || split_fields(line, f, 5) != 5)
		return;
	double idx = num_field(f[0]);
	if (idx < 0 || idx > 1e6)
		return;
	agm_gpu *g = &c->out[(*c->n)++];
	memset(g, 0, sizeof *g);
	g->index = (int)idx;
	snprintf(g->uuid, sizeof g->uuid, "%s", f[1]);
	g->util = num_field(f[2]);
	g->mem_used = num_field(f[3]);
	g->mem_total = num_field(f[4]);
	/* MiB (nounits) to bytes. */
	if (g->mem_used >= 0)
		g->mem_used *= 1048576.0;
	if (g->mem_total >= 0)
		g->mem_total *= 1048576.0;
}

void agm_parse_gpus(const char *text, agm_gpu *out, size_t max, size_t *n)
{
	struct gpus_ctx c = { out, max, n };
	*n = 0;
	each_line(text, gpu_line, &c);
}

struct apps_ctx {
	const pid_t *pids;
	size_t npids;
	agm_gpu *g;
	size_t n;
};

static void app_line(void *ctx, char *line)
{
	struct apps_ctx *c = ctx;
	char *f[3];
	if (split_fields(line, f, 3) != 3)
		return;
	double pid = num_field(f[0]), mem = num_field(f[2]);
	if (pid < 1 || pid > 1e9)
		return;
	pid_t p = (pid_t)pid;
	if (!bsearch(&p, c->pids, c->npids, sizeof p, pid_cmp))
		return;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->g[i].uuid, f[1]) == 0) {
			c->g[i].apps++;
			if (mem > 0)
				c->g[i].app_mem += mem * 1048576.0;
		}
}

void agm_parse_apps(const char *text, const pid_t *pids, size_t npids, agm_gpu *g, size_t n)
{
	struct apps_ctx c = { pids, npids, g, n };
	if (npids)
		each_line(text, app_line, &c);
}

/* Runs smi with args (no shell) and reads its standard output, at most
 * SMI_OUT_MAX bytes and SMI_TIMEOUT_MS; the child is killed past that and
 * always reaped here (by its pid: a caller reaping with wait(-1) must not
 * run at the same time on another thread). */
static int run_smi(const char *smi, const char *query, char **out)
{
	char *argv[] = { (char *)"nvidia-smi", (char *)query, (char *)"--format=csv,noheader,nounits",
			 NULL };
	int pfd[2] = { -1, -1 }, rc = 0, status;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	pid_t pid = -1;
	char *text = xmalloc(SMI_OUT_MAX + 1);
	size_t len = 0;
	*out = NULL;
	if (pipe2(pfd, O_CLOEXEC)) {
		free(text);
		return -errno;
	}
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = -posix_spawn(&pid, smi, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pfd[1]);
	if (rc)
		goto out;
	int64_t deadline = sn_mono_ns() + (int64_t)SMI_TIMEOUT_MS * 1000000;
	for (;;) {
		int left = (int)((deadline - sn_mono_ns()) / 1000000);
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		if (left <= 0 || poll(&p, 1, left) <= 0) {
			rc = -ETIMEDOUT;
			break;
		}
		ssize_t r = read(pfd[0], text + len, SMI_OUT_MAX - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == SMI_OUT_MAX) {
			rc = -E2BIG;
			break;
		}
	}
	if (rc)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!rc && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		rc = -EIO;
out:
	close(pfd[0]);
	text[len] = '\0';
	if (rc)
		free(text);
	else
		*out = text;
	return rc;
}

int agm_gpu_read(const char *smi, const pid_t *pids, size_t npids, agm_gpu *out, size_t max,
		 size_t *n)
{
	char *text = NULL;
	*n = 0;
	int rc = run_smi(smi, "--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total",
			 &text);
	if (rc)
		return rc;
	agm_parse_gpus(text, out, max, n);
	xfree(&text);
	if (npids && *n) {
		rc = run_smi(smi, "--query-compute-apps=pid,gpu_uuid,used_memory", &text);
		if (rc)
			return rc;
		agm_parse_apps(text, pids, npids, out, *n);
		free(text);
	}
	return 0;
}

/* ---- the node's own figures ---- */

struct ag_metrics {
	agm_host prev;
	int have_prev;
	int64_t last_ns;   /* monotonic time of the last push (0: none yet) */
	char *smi;         /* nvidia-smi, looked up once */
};

ag_metrics *ag_metrics_new(void)
{
	ag_metrics *m = xcalloc(1, sizeof *m);
	m->smi = agm_smi_path();
	return m;
}

void ag_metrics_free(ag_metrics **m)
{
	if (!*m)
		return;
	free((*m)->smi);
	free(*m);
	*m = NULL;
}

static int add(json_t *arr, const char *metric, double v, int64_t ts, int gpu)
{
	json_t *s = json_pack("{s:s,s:f,s:I}", "metric", metric, "value", v, "ts", (json_int_t)ts);
	if (s && gpu >= 0) {
		char idx[16];
		snprintf(idx, sizeof idx, "%d", gpu);
		json_t *tags = json_pack("{s:s}", "gpu", idx);
		if (!tags || json_object_set_new(s, "tags", tags))
			json_decref(s), s = NULL;
	}
	return s ? json_array_append_new(arr, s) : -1;
}

/* The batch of one tick (NULL out of memory). */
static json_t *node_batch(ag_metrics *m, const agm_host *h, const agm_gpu *g, size_t ng)
{
	int64_t ts = sn_now_ms();
	json_t *arr = json_array(), *body = arr ? json_pack("{s:o}", "samples", arr) : NULL;
	int bad = !body;
	if (m->have_prev)
		bad |= add(arr, AGM_NODE_CPU, agm_host_cpu_percent(&m->prev, h), ts, -1);
	bad |= add(arr, AGM_NODE_MEM_USED, (double)(h->mem_total - h->mem_avail), ts, -1) ||
	       add(arr, AGM_NODE_MEM_TOTAL, (double)h->mem_total, ts, -1) ||
	       add(arr, AGM_NODE_LOAD1, h->load1, ts, -1);
	for (size_t i = 0; i < ng && !bad; i++) {
		if (g[i].util >= 0)
			bad |= add(arr, AGM_GPU_UTIL, g[i].util, ts, g[i].index);
		if (g[i].mem_used >= 0)
			bad |= add(arr, AGM_GPU_MEM_USED, g[i].mem_used, ts, g[i].index);
		if (g[i].mem_total >= 0)
			bad |= add(arr, AGM_GPU_MEM_TOTAL, g[i].mem_total, ts, g[i].index);
	}
	if (bad) {
		json_decref(body);
		return NULL;
	}
	return body;
}

void ag_metrics_tick(struct agent *a, ag_metrics *m)
{
	agm_host h;
	agm_gpu g[AGM_GPUS_MAX];
	size_t ng = 0;
	char err[256];
	long status = 0;
	json_t *reply = NULL;
	int64_t now = sn_mono_ns();
	/* A little early counts: the control thread wakes every heartbeat,
	 * whose period rarely divides the push period exactly. */
	if (m->last_ns && now - m->last_ns < (int64_t)(AGM_NODE_PERIOD_MS - 500) * 1000000)
		return;
	m->last_ns = now;
	if (agm_host_read(&h)) {
		log_msg(LOG_DEBUG, "node: cannot read /proc for the node's figures");
		return;
	}
	if (m->smi && agm_gpu_read(m->smi, NULL, 0, g, AGM_GPUS_MAX, &ng))
		ng = 0;
	json_t *body = node_batch(m, &h, g, ng);
	m->prev = h;
	m->have_prev = 1;
	if (!body)
		return;
	/* Through the configured servers, as the heartbeat this push rides
	 * behind on the control thread: sent to a hung leader directly, it
	 * would hold the next heartbeats for its whole timeout (the node lost,
	 * its chunks run again), while a follower ends its relayed calls the
	 * moment it takes the lead. */
	ag_req r = { .method = "POST", .path = "/api/v1/node/metrics", .json = body, .in_fd = -1,
		     .out_fd = -1, .timeout_s = NODE_PUSH_TIMEOUT_S, .configured = 1 };
	if (ag_call_req_json(a, &r, &status, &reply, err, sizeof err))
		log_msg(LOG_DEBUG, "node: metrics: %s", err);
	else if (status != 200)
		log_msg(LOG_DEBUG, "node: metrics refused (%ld %s)", status, ag_err_code(reply));
	json_decref(reply);
	json_decref(body);
}
