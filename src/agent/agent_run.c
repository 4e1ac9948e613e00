/* One chunk on a worker of the pool: built-in programs in-process (no
 * directory, no files), scripts in the sandbox; output lines streamed to
 * the server in batches; the result (with result.json summarised and the
 * output files as artifacts) queued to the journal, whose sender commits
 * and sends it.
 *
 * A script attempt's directory, STATE/work/<chunk>-<attempt>/:
 *   job/     the script (and config.json), bound read-only at /job
 *   data/    the inputs (hard links into the cache), bound read-only at /data
 *   w/       bound read-write at /work, the job's cwd and home
 *   w/out/   the output dir: result.json and the artifacts
 * It is removed once the result left the journal. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "model/model_train.h"
#include "sandbox/sbx.h"

/* A batch is sent every 200 ms or at 64 KiB; at most 1 MiB of lines waits
 * (the server's cap on one log request). A chunk that prints faster than
 * the server takes its lines is held back (its output pipe fills and its
 * writes block) rather than losing lines; only when the queue stays full
 * for LOG_STALL_MS (the server is away) are lines dropped, and counted. */
#define LOG_FLUSH_MS 200
#define LOG_FLUSH_BYTES ((size_t)64 << 10)
#define LOG_QUEUE_MAX (((size_t)1 << 20) - ((size_t)4 << 10))
#define LOG_QUEUE_LINES 10000 /* the server's cap on lines in one log request */
#define LOG_STALL_MS 5000
#define RESULT_MAX ((size_t)16 << 20)
#define ARTIFACTS_MAX 1000
#define ARTIFACT_DEPTH_MAX 16

static int stopped(ag_chunk *c)
{
	return __atomic_load_n(&c->stop, __ATOMIC_RELAXED) != AG_RUN;
}

/* ---- statistics ---- */

json_t *ag_stats_of(const double *v, size_t n)
{
	double mean = 0, m2 = 0, lo = 0, hi = 0;
	for (size_t i = 0; i < n; i++) {
		double d = v[i] - mean;
		mean += d / (double)(i + 1);
		m2 += d * (v[i] - mean);
		lo = i == 0 || v[i] < lo ? v[i] : lo;
		hi = i == 0 || v[i] > hi ? v[i] : hi;
	}
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)n, "mean", mean, "m2", m2,
			 "min", lo, "max", hi);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int ag_montecarlo_pi(uint64_t iterations, uint64_t seed, const int *stop, json_t **stat)
{
	uint64_t s = seed, hits = 0;
	*stat = NULL;
	for (uint64_t i = 0; i < iterations; i++) {
		double x = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
		double y = (double)(splitmix64(&s) >> 11) * 0x1.0p-53;
		hits += x * x + y * y <= 1.0;
		if ((i & 0xfffff) == 0xfffff && stop && __atomic_load_n(stop, __ATOMIC_RELAXED))
			return -ECANCELED;
	}
	/* The samples are 0 and 4 only: the mean and the sum of squared
	 * deviations (Welford's m2) in closed form are exact to rounding, where
	 * a running update would add n rounding steps. */
	double n = (double)iterations, h = (double)hits;
	double mean = iterations ? 4.0 * h / n : 0;
	double m2 = h * (4.0 - mean) * (4.0 - mean) + (n - h) * mean * mean;
	*stat = json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)iterations, "mean", mean,
			  "m2", m2, "min", hits < iterations ? 0.0 : 4.0, "max", hits ? 4.0 : 0.0);
	return *stat ? 0 : -ENOMEM;
}

/* ---- log streaming ---- */

struct logq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t space; /* the sender took the queue: room again */
	json_t *lines;
	size_t bytes;
	uint64_t dropped;
	int done;
	int started;    /* its sender thread: started by the first line only */
	ag_chunk *c;
	pthread_t th;
};

static void *log_main(void *arg);

/* Whether a line of this cost fits in the queue (leaving room for the
 * note that counts dropped lines). q->mu held. */
static int fits(const struct logq *q, size_t cost)
{
	return q->bytes + cost <= LOG_QUEUE_MAX && json_array_size(q->lines) + 1 < LOG_QUEUE_LINES;
}

/* What a line adds to the JSON body of a log request: its escaped text and
 * {"stream":N,"text":""}, (so that a full queue fits the server's 1 MiB). */
static size_t json_cost(const char *text)
{
	size_t n = 24;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++)
		n += *p == '"' || *p == '\\' ? 2 : *p < 0x20 ? 6 : 1;
	return n;
}

static void on_line(void *ud, int stream, const char *line, size_t len)
{
	struct logq *q = ud;
	if (len && line[len - 1] == '\n')
		len--;
	char *raw = xstrndup(line, len);
	char *text = sn_utf8_sanitize(raw);
	json_t *l = json_pack("{s:i, s:s}", "stream", stream, "text", text);
	size_t cost = json_cost(text);
	pthread_mutex_lock(&q->mu);
	/* A chunk that prints nothing costs no thread. */
	if (!q->started && pthread_create(&q->th, NULL, log_main, q) == 0)
		q->started = 1;
	if (q->started && !fits(q, cost)) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += LOG_STALL_MS / 1000;
		pthread_cond_signal(&q->cv);
		while (!fits(q, cost) && q->bytes && !stopped(q->c) &&
		       pthread_cond_timedwait(&q->space, &q->mu, &until) == 0)
			;
	}
	if (!l || !q->started || !fits(q, cost) || json_array_append(q->lines, l)) {
		q->dropped++;
	} else {
		q->bytes += cost;
		if (q->bytes >= LOG_FLUSH_BYTES)
			pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	json_decref(l);
	free(text);
	free(raw);
}

static void send_lines(struct logq *q, json_t *lines, uint64_t dropped)
{
	ag_chunk *c = q->c;
	char err[256], *target = xasprintf("/api/v1/node/chunks/%s/log", c->id);
	long status = 0;
	json_t *reply = NULL, *body = NULL;
	if (dropped) {
		char *t = xasprintf("[sentinel node: %llu output lines dropped: the server could "
				    "not take them fast enough]", (unsigned long long)dropped);
		json_t *l = json_pack("{s:i, s:s}", "stream", 2, "text", t);
		if (!l || json_array_append_new(lines, l))
			log_msg(LOG_WARN, "node: chunk %s: cannot note dropped lines", c->id);
		free(t);
	}
	body = json_pack("{s:I, s:O}", "attempt", (json_int_t)c->attempt, "lines", lines);
	if (!body) {
		log_msg(LOG_WARN, "node: chunk %s: cannot encode its output", c->id);
		goto out;
	}
	if (ag_call_json(c->a, "POST", target, body, AG_CALL_TIMEOUT_S, NULL, &status, &reply, err,
			 sizeof err)) {
		log_msg(LOG_WARN, "node: chunk %s: output lines lost: %s", c->id, err);
	} else if (status == 409) {
		log_msg(LOG_WARN, "node: chunk %s: the lease is lost; stopping it", c->id);
		pthread_mutex_lock(&c->a->mu);
		if (c->stop == AG_RUN) {
			__atomic_store_n(&c->stop, AG_STOP_LOST, __ATOMIC_RELAXED);
			if (c->cancel_pipe[1] >= 0 && write(c->cancel_pipe[1], "x", 1) < 0)
				log_msg(LOG_WARN, "node: chunk %s: cannot signal its stop", c->id);
		}
		pthread_mutex_unlock(&c->a->mu);
	} else if (status >= 300) {
		log_msg(LOG_WARN, "node: chunk %s: output lines refused (%ld %s)", c->id, status,
			ag_err_code(reply));
	}
out:
	json_decref(reply);
	json_decref(body);
	free(target);
}

static void *log_main(void *arg)
{
	struct logq *q = arg;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		if (!q->done && q->bytes < LOG_FLUSH_BYTES) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += LOG_FLUSH_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&q->cv, &q->mu, &ts);
		}
		json_t *lines = q->lines;
		uint64_t dropped = q->dropped;
		int done = q->done;
		if (json_array_size(lines) || dropped) {
			q->lines = json_array();
			q->bytes = 0;
			q->dropped = 0;
			pthread_cond_broadcast(&q->space);
			pthread_mutex_unlock(&q->mu);
			if (!q->lines)
				abort(); /* out of memory, as xmalloc would */
			send_lines(q, lines, dropped);
			json_decref(lines);
			pthread_mutex_lock(&q->mu);
		} else if (done) {
			break;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static int logq_start(struct logq *q, ag_chunk *c)
{
	memset(q, 0, sizeof *q);
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	pthread_cond_init(&q->space, NULL);
	q->c = c;
	q->lines = json_array();
	return q->lines ? 0 : -ENOMEM;
}

static void logq_finish(struct logq *q)
{
	pthread_mutex_lock(&q->mu);
	q->done = 1;
	pthread_cond_signal(&q->cv);
	int started = q->started;
	pthread_mutex_unlock(&q->mu);
	if (started)
		pthread_join(q->th, NULL);
	json_decref(q->lines);
	pthread_cond_destroy(&q->cv);
	pthread_cond_destroy(&q->space);
	pthread_mutex_destroy(&q->mu);
}

/* ---- built-in programs ---- */

static int run_sleep(ag_chunk *c, double secs)
{
	int64_t end = sn_mono_ns() + (int64_t)(secs * 1e9);
	for (;;) {
		int64_t left = (end - sn_mono_ns()) / 1000000;
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = c->cancel_pipe[0], .events = POLLIN };
		if (poll(&p, 1, left > 1000 ? 1000 : (int)left) > 0 || stopped(c))
			return -ECANCELED;
	}
}

static int run_builtin(ag_chunk *c, const char *program, json_t **result, char **error)
{
	json_t *spec = c->spec, *stat = NULL;
	int rc = 0;
	*result = NULL;
	if (strcmp(program, "noop") == 0) {
		/* nothing */
	} else if (strcmp(program, "sleep") == 0) {
		json_t *a0 = json_array_get(json_object_get(spec, "args"), 0);
		double secs = json_is_number(a0) ? json_number_value(a0)
			    : json_is_string(a0) ? strtod(json_string_value(a0), NULL) : 0;
		if (!(secs >= 0 && secs <= 86400 * 30)) {
			*error = xstrdup("sleep: args[0] must be a number of seconds");
			return -EINVAL;
		}
		rc = run_sleep(c, secs);
	} else if (strcmp(program, "montecarlo-pi") == 0) {
		json_int_t it = json_integer_value(json_object_get(spec, "iterations"));
		json_int_t seed = json_integer_value(json_object_get(spec, "seed_offset"));
		if (it < 0) {
			*error = xstrdup("montecarlo-pi: negative iterations");
			return -EINVAL;
		}
		rc = ag_montecarlo_pi((uint64_t)it, (uint64_t)seed, (const int *)&c->stop, &stat);
	} else {
		*error = xasprintf("unknown built-in program '%s'", program);
		return -EINVAL;
	}
	if (rc)
		return rc;
	*result = stat ? json_pack("{s:{s:o}}", "stats", "pi", stat) : json_pack("{s:{}}", "stats");
	return *result ? 0 : -ENOMEM;
}

/* ---- the attempt directory and inputs ---- */

/* A name the job gives (script file name, dataset name) used as one
 * path component. */
static int component_ok(const char *s)
{
	return s && *s && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

/* mkdir -p of the parent of path inside the attempt's tree. */
static int mkdir_parent(const char *path)
{
	char *p = xstrdup(path), *slash = strrchr(p, '/');
	int rc = 0;
	if (slash) {
		*slash = '\0';
		rc = sn_mkdir_p(p, 0755);
	}
	free(p);
	return rc;
}

struct run {
	ag_chunk *c;
	char *dir, *w;
	rt_info rt;           /* the chunk's runtime (zeroed until resolved) */
	sbx_bind binds[SBX_MAX_BINDS];
	size_t nbinds;
	char *owned[2 * SBX_MAX_BINDS + 72]; /* binds' paths, env entries */
	size_t nowned;
	char err[512];
};

static const char *own(struct run *r, char *s)
{
	if (r->nowned < sizeof r->owned / sizeof r->owned[0])
		r->owned[r->nowned++] = s;
	return s;
}

static int bind_add(struct run *r, char *src, char *dst)
{
	if (r->nbinds == SBX_MAX_BINDS) {
		snprintf(r->err, sizeof r->err, "too many inputs (max %d)", SBX_MAX_BINDS - 1);
		free(src);
		free(dst);
		return -E2BIG;
	}
	r->binds[r->nbinds].src = own(r, src);
	r->binds[r->nbinds].dst = own(r, dst);
	r->binds[r->nbinds].rw = 0;
	r->nbinds++;
	return 0;
}

/* Fetches the files of a set (from the chunk's list, else from its
 * manifest blob) into dst, checking each path as a manifest does. */
static int input_set(struct run *r, json_t *in, const char *dst)
{
	ds_manifest m = { 0 };
	json_t *files = json_object_get(in, "files"), *f;
	char *text = NULL;
	size_t i, len;
	int rc = 0;
	if (json_is_array(files)) {
		json_array_foreach(files, i, f) {
			const char *p = json_string_value(json_object_get(f, "path"));
			const char *sha = json_string_value(json_object_get(f, "sha256"));
			json_int_t n = json_integer_value(json_object_get(f, "bytes"));
			if (!p || !sha || (rc = ds_manifest_add(&m, p, sha, (uint64_t)n, 0644))) {
				snprintf(r->err, sizeof r->err, "input set: bad file entry %zu", i);
				rc = -EINVAL;
				goto out;
			}
		}
	} else {
		char *mpath = xasprintf("%s/manifest-%.16s", r->dir, dst + strlen(r->dir));
		const char *sha = json_string_value(json_object_get(in, "sha256"));
		for (char *s = mpath + strlen(r->dir) + 1; *s; s++)
			if (*s == '/')
				*s = '_';
		rc = ag_cache_get(r->c->a, sha, mpath, r->err, sizeof r->err);
		if (!rc && (rc = sn_read_file(mpath, (size_t)64 << 20, &text, &len)) == 0 &&
		    (rc = ds_manifest_parse(text, len, &m)))
			snprintf(r->err, sizeof r->err, "input set: its manifest is invalid");
		free(mpath);
		if (rc)
			goto out;
	}
	for (i = 0; i < m.n; i++) {
		char *p = xasprintf("%s/%s", dst, m.files[i].path);
		if (!(rc = mkdir_parent(p)))
			rc = ag_cache_get(r->c->a, m.files[i].sha256, p, r->err, sizeof r->err);
		free(p);
		if (rc)
			goto out;
	}
out:
	ds_manifest_release(&m);
	free(text);
	return rc;
}

/* A dataset of this node's own disks, bound where an uploaded one would
 * be laid out; its content must be what the job was scheduled for. */
static int input_local(struct run *r, json_t *in, const char *name, const char *dst)
{
	agent *a = r->c->a;
	const char *want = json_string_value(json_object_get(in, "sha256"));
	const ag_local *l = NULL;
	for (size_t i = 0; i < a->nlocals; i++)
		if (strcmp(a->locals[i].name, name) == 0)
			l = &a->locals[i];
	if (!l) {
		snprintf(r->err, sizeof r->err, "node-local dataset '%s' is not on this node", name);
		return -ENOENT;
	}
	size_t i;
	json_t *d;
	const char *have_sha = NULL;
	json_array_foreach(a->datasets, i, d) {
		const char *have = json_string_value(json_object_get(d, "manifest_sha256"));
		if (have && strcmp(json_string_value(json_object_get(d, "name")), name) == 0)
			have_sha = have;
		if (want && have && strcmp(json_string_value(json_object_get(d, "name")), name) == 0 &&
		    strcmp(have, want) != 0) {
			snprintf(r->err, sizeof r->err, "node-local dataset '%s' is not the version "
				 "the job asks for", name);
			return -ESTALE;
		}
	}
	const char *base = strrchr(l->path, '/');
	struct stat st;
	base = base ? base + 1 : l->path;
	if (sn_mkdir_p(dst, 0755))
		return -errno;
	if (!l->is_file)
		return bind_add(r, xstrdup(l->path), xasprintf("/data/%s", name));
	char *mp = xasprintf("%s/%s", dst, base);
	/* A file only its owner may read (0600) stays unreadable to the job's
	 * uid through a bind: the job gets a read-only copy from the cache,
	 * checked against the hash it was scheduled for (a file's manifest
	 * hash is its SHA-256). */
	if (stat(l->path, &st) == 0 && st.st_uid != SBX_NOBODY && !(st.st_mode & S_IROTH)) {
		int rc = ag_cache_put_local(a, l->path, have_sha, mp, r->err, sizeof r->err);
		free(mp);
		return rc;
	}
	int fd = open(mp, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
	free(mp);
	if (fd < 0)
		return -errno;
	close(fd);
	return bind_add(r, xstrdup(l->path), xasprintf("/data/%s/%s", name, base));
}

static int inputs(struct run *r)
{
	json_t *ins = json_object_get(r->c->spec, "inputs"), *in;
	size_t i;
	int rc = 0;
	json_array_foreach(ins, i, in) {
		const char *name = json_string_value(json_object_get(in, "name"));
		const char *kind = json_string_value(json_object_get(in, "kind"));
		if (!component_ok(name) || !ds_name_valid(name) || !kind) {
			snprintf(r->err, sizeof r->err, "input %zu: bad name or kind", i);
			return -EINVAL;
		}
		char *dst = xasprintf("%s/data/%s", r->dir, name);
		if (strcmp(kind, "file") == 0) {
			json_t *f0 = json_array_get(json_object_get(in, "files"), 0);
			const char *fn = json_string_value(json_object_get(f0, "path"));
			const char *sha = json_string_value(json_object_get(f0, "sha256"));
			if (!fn)
				fn = json_string_value(json_object_get(in, "filename"));
			if (!sha)
				sha = json_string_value(json_object_get(in, "sha256"));
			if (!fn)
				fn = name;
			char *p = xasprintf("%s/%s", dst, fn);
			if (!component_ok(fn)) {
				snprintf(r->err, sizeof r->err, "input %s: bad file name", name);
				rc = -EINVAL;
			} else if (!(rc = sn_mkdir_p(dst, 0755))) {
				rc = ag_cache_get(r->c->a, sha, p, r->err, sizeof r->err);
			}
			free(p);
		} else if (strcmp(kind, "set") == 0) {
			rc = input_set(r, in, dst);
		} else if (strcmp(kind, "local") == 0) {
			rc = input_local(r, in, name, dst);
		} else {
			snprintf(r->err, sizeof r->err, "input %s: unknown kind '%s'", name, kind);
			rc = -EINVAL;
		}
		free(dst);
		if (rc) {
			if (!r->err[0])
				snprintf(r->err, sizeof r->err, "input %s: %s", name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* ---- result.json and artifacts ---- */

/* A result whose samples are summarised into stats. */
static int summarise(json_t *res, char *err, size_t errlen)
{
	json_t *samples = json_object_get(res, "samples"), *v, *stats;
	const char *k;
	if (!json_is_object(res)) {
		snprintf(err, errlen, "result.json is not a JSON object");
		return -EBADMSG;
	}
	if (!samples)
		return 0;
	stats = json_object_get(res, "stats");
	if (!stats && (json_object_set_new(res, "stats", json_object()) ||
		       !(stats = json_object_get(res, "stats"))))
		return -ENOMEM;
	json_object_foreach(samples, k, v) {
		size_t n = json_array_size(v), i;
		double *x = xmalloc((n ? n : 1) * sizeof *x);
		json_t *e;
		int bad = !json_is_array(v);
		json_array_foreach(v, i, e) {
			bad |= !json_is_number(e);
			x[i] = json_number_value(e);
		}
		json_t *st = bad ? NULL : ag_stats_of(x, n);
		free(x);
		if (bad) {
			snprintf(err, errlen, "result.json: samples.%s is not a list of numbers", k);
			return -EBADMSG;
		}
		if (!st || json_object_set_new(stats, k, st))
			return -ENOMEM;
	}
	return json_object_del(res, "samples") ? -ENOMEM : 0;
}

/* Reads a file the job wrote, never through a link it left. */
static int read_job_file(int dirfd, const char *name, size_t max, char **out, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	int rc = 0;
	*out = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		rc = -E2BIG;
		goto out;
	}
	*out = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, *out, (size_t)st.st_size);
	if (n < 0) {
		rc = -errno;
		xfree(out);
		goto out;
	}
	(*out)[n] = '\0';
	*len = (size_t)n;
out:
	close(fd);
	return rc;
}

static int hash_fd(int fd, char sha[65], uint64_t *size)
{
	sn_sha256 *h = sn_sha256_new();
	char b[65536];
	ssize_t n;
	*size = 0;
	while ((n = read(fd, b, sizeof b)) > 0) {
		sn_sha256_update(h, b, (size_t)n);
		*size += (uint64_t)n;
	}
	sn_sha256_final(&h, sha);
	return n < 0 ? -errno : 0;
}

/* Adds every regular file under dirfd (links and specials skipped) to arts. */
static int walk(int dfd, const char *prefix, int depth, json_t *arts, char *err, size_t errlen)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;
	if (!d) {
		close(dfd);
		return -errno;
	}
	while (!rc && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    (!*prefix && !strcmp(e->d_name, "result.json")))
			continue;
		char *rel = *prefix ? xasprintf("%s/%s", prefix, e->d_name) : xstrdup(e->d_name);
		int fd = openat(dirfd(d), e->d_name,
				O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) || !sn_utf8_valid(rel, strlen(rel), 1)) {
			if (fd >= 0)
				close(fd);
		} else if (S_ISDIR(st.st_mode) && depth < ARTIFACT_DEPTH_MAX) {
			rc = walk(fd, rel, depth + 1, arts, err, errlen);
		} else if (S_ISREG(st.st_mode)) {
			char sha[65];
			uint64_t size;
			if (json_array_size(arts) >= ARTIFACTS_MAX) {
				snprintf(err, errlen, "more than %d files in the output dir",
					 ARTIFACTS_MAX);
				rc = -E2BIG;
			} else if (!(rc = hash_fd(fd, sha, &size))) {
				json_t *a = json_pack("{s:s, s:s, s:I}", "path", rel, "sha256", sha,
						      "bytes", (json_int_t)size);
				if (!a || json_array_append_new(arts, a))
					rc = -ENOMEM;
			}
			close(fd);
		} else {
			close(fd);
		}
		free(rel);
	}
	closedir(d);
	return rc;
}

/* ---- the sandboxed script ---- */

/* How the script runs: by its extension (.py: python3, .sh: sh), else its
 * language, else its "#!" line (split as the kernel does: the interpreter
 * and at most one argument). Cached files are read-only and never
 * executable, so the script is always an interpreter's argument. */
static int interpreter(struct run *r, const char *file, char **argv, size_t *na)
{
	const char *dot = strrchr(file, '.');
	const char *lang = json_string_value(json_object_get(json_object_get(r->c->spec, "script"),
							     "language"));
	char *path = xasprintf("%s/job/%s", r->dir, file), line[256];
	FILE *f = NULL;
	int rc = 0;
	if ((dot && strcmp(dot, ".py") == 0) || (lang && strcmp(lang, "python") == 0)) {
		argv[(*na)++] = xstrdup("python3");
	} else if ((dot && strcmp(dot, ".sh") == 0) || (lang && strcmp(lang, "shell") == 0)) {
		argv[(*na)++] = xstrdup("sh");
	} else if ((f = fopen(path, "re")) && fgets(line, sizeof line, f) &&
		   strncmp(line, "#!", 2) == 0) {
		char *save = NULL, *interp = strtok_r(line + 2, " \t\r\n", &save);
		char *arg = interp ? strtok_r(NULL, "\r\n", &save) : NULL;
		if (interp)
			argv[(*na)++] = xstrdup(interp);
		if (arg)
			argv[(*na)++] = xstrdup(arg);
		rc = interp ? 0 : -ENOEXEC;
	} else {
		rc = -ENOEXEC;
	}
	if (rc)
		snprintf(r->err, sizeof r->err, "cannot tell how to run %s: name it .py or .sh, or "
			 "start it with #!", file);
	if (f)
		fclose(f);
	free(path);
	return rc;
}

static char *arg_text(json_t *v)
{
	if (json_is_string(v))
		return xstrdup(json_string_value(v));
	if (json_is_integer(v))
		return xasprintf("%lld", (long long)json_integer_value(v));
	if (json_is_real(v))
		return xasprintf("%.17g", json_real_value(v));
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The image's Env first (as docker run: the job's entries win), then
 * SENTINEL_* and the job's env. env holds SBX_MAX_ENV entries. */
static int build_env(struct run *r, const char **env, size_t *nenv)
{
	ag_chunk *c = r->c;
	json_t *spec = c->spec, *v;
	const char *k;
	size_t n = 0;
	for (char **e = r->rt.config.env; e && *e; e++) {
		if (n >= SBX_MAX_ENV - 70) {
			snprintf(r->err, sizeof r->err, "the runtime image sets more than %d "
				 "variables", SBX_MAX_ENV - 70);
			return -E2BIG;
		}
		env[n++] = *e;
	}
	env[n++] = own(r, xasprintf("SENTINEL_ITERATIONS=%lld",
				 (long long)json_integer_value(json_object_get(spec, "iterations"))));
	env[n++] = own(r, xasprintf("SENTINEL_SEED_OFFSET=%lld",
				 (long long)json_integer_value(json_object_get(spec, "seed_offset"))));
	env[n++] = own(r, xasprintf("SENTINEL_CHUNK=%s", c->id));
	env[n++] = own(r, xasprintf("SENTINEL_JOB=%s", c->job_id));
	env[n++] = own(r, xasprintf("SENTINEL_ATTEMPT=%lld", (long long)c->attempt));
	env[n++] = "SENTINEL_OUTPUT=/work/out";
	size_t base = n;
	json_object_foreach(json_object_get(spec, "env"), k, v) {
		if (!*k || strchr(k, '=') || !json_is_string(v) || n - base >= 58) {
			snprintf(r->err, sizeof r->err, "env: '%s' is not a NAME with a string value "
				 "(at most 58)", k);
			return -EINVAL;
		}
		env[n++] = own(r, xasprintf("%s=%s", k, json_string_value(v)));
	}
	*nenv = n;
	return 0;
}

/* Limits and the GPUs held into o. */
static int limits(struct run *r, sbx_opts *o, char *gpus, size_t gpuslen)
{
	json_t *l = json_object_get(r->c->spec, "limits");
	const char *net = json_string_value(json_object_get(l, "network"));
	json_int_t t = json_integer_value(json_object_get(l, "time_s"));
	json_int_t mem = json_integer_value(json_object_get(l, "memory_mb"));
	json_t *cpus = json_object_get(l, "cpus");
	o->time_ms = t > 0 ? (int64_t)t * 1000 : 0;
	o->mem_bytes = mem > 0 ? (uint64_t)mem << 20 : 0;
	o->cpus = json_is_number(cpus) ? json_number_value(cpus) : 0;
	o->pids = 4096;
	if (!net || strcmp(net, "none") == 0) {
		o->network = SBX_NET_NONE;
	} else if (strcmp(net, "egress") == 0) {
		o->network = SBX_NET_EGRESS;
	} else {
		snprintf(r->err, sizeof r->err, "limits.network: unknown mode '%s'", net);
		return -EINVAL;
	}
	size_t off = 0;
	gpus[0] = '\0';
	for (int i = 0; i < r->c->ngpu && off + 8 < gpuslen; i++)
		off += (size_t)snprintf(gpus + off, gpuslen - off, "%s%d", i ? "," : "",
					r->c->gpu[i]);
	o->gpus = r->c->ngpu ? gpus : NULL;
	return 0;
}

static int prepare(struct run *r, const char **script)
{
	ag_chunk *c = r->c;
	json_t *sc = json_object_get(c->spec, "script");
	const char *fn = json_string_value(json_object_get(sc, "filename"));
	const char *sha = json_string_value(json_object_get(sc, "sha256"));
	int rc;
	*script = fn;
	if ((rc = ag_rt_resolve(c->a, c->spec, &r->rt, r->err, sizeof r->err)))
		return rc;
	if (!component_ok(fn)) {
		snprintf(r->err, sizeof r->err, "the chunk names no valid script file");
		return -EINVAL;
	}
	char *job = xasprintf("%s/job", r->dir), *data = xasprintf("%s/data", r->dir);
	char *out = xasprintf("%s/out", r->w), *p = xasprintf("%s/%s", job, fn);
	/* r->dir is new (made by the caller): its subdirectories one mkdir each. */
	if (mkdir(job, 0755) || mkdir(data, 0755) || mkdir(r->w, 0755) || mkdir(out, 0755)) {
		rc = -errno;
		snprintf(r->err, sizeof r->err, "%s: %s", r->dir, strerror(-rc));
		goto out;
	}
	/* The job's uid owns its workdir, so no ID-mapped mount is needed. */
	if (geteuid() == 0 && (chown(r->w, SBX_NOBODY, SBX_NOBODY) ||
			       chown(out, SBX_NOBODY, SBX_NOBODY))) {
		rc = -errno;
		snprintf(r->err, sizeof r->err, "%s: %s", r->w, strerror(-rc));
		goto out;
	}
	if ((rc = ag_cache_get(c->a, sha, p, r->err, sizeof r->err)))
		goto out;
	json_t *cfg = json_object_get(c->spec, "config");
	const char *csha = json_string_value(json_object_get(c->spec, "config_sha256"));
	if (!csha)
		csha = json_is_string(cfg) ? json_string_value(cfg)
					   : json_string_value(json_object_get(cfg, "sha256"));
	if (csha) {
		char *cp = xasprintf("%s/config.json", job);
		rc = ag_cache_get(c->a, csha, cp, r->err, sizeof r->err);
		free(cp);
		if (rc)
			goto out;
	}
	r->nbinds = 0;
	bind_add(r, job, xstrdup("/job"));
	bind_add(r, data, xstrdup("/data"));
	job = data = NULL;
	rc = inputs(r);
out:
	free(job);
	free(data);
	free(out);
	free(p);
	return rc;
}

/* The error text of a finished run, or NULL when it succeeded. */
static char *run_error(const sbx_result *res)
{
	if (res->killed_by != SBX_KILL_NONE)
		return xasprintf("killed: %s", sbx_kill_name(res->killed_by));
	if (res->exec_errno)
		return xasprintf("cannot run the script: %s", strerror(res->exec_errno));
	if (res->signal)
		return xasprintf("died of signal %d", res->signal);
	if (res->exit_code)
		return xasprintf("exit status %d", res->exit_code);
	return NULL;
}

static int run_script(struct run *r, json_t **result, json_t **sandbox, json_t *arts,
		      char **error)
{
	ag_chunk *c = r->c;
	const char *fn, *env[SBX_MAX_ENV];
	char *argv[260] = { NULL }, gpus[256];
	size_t nenv = 0, na = 0, i;
	sbx_opts o;
	sbx_result res;
	struct logq q;
	json_t *v;
	int rc, logging = 0;
	sbx_opts_init(&o);
	if ((rc = prepare(r, &fn)) || (rc = build_env(r, env, &nenv)) ||
	    (rc = limits(r, &o, gpus, sizeof gpus)))
		goto out;
	if ((rc = interpreter(r, fn, argv, &na)))
		goto out;
	argv[na++] = xasprintf("/job/%s", fn);
	json_array_foreach(json_object_get(c->spec, "args"), i, v) {
		if (na + 1 >= sizeof argv / sizeof argv[0]) {
			snprintf(r->err, sizeof r->err, "too many args (max 256)");
			rc = -E2BIG;
			goto out;
		}
		argv[na++] = arg_text(v);
	}
	o.argv = argv;
	o.env = env;
	o.nenv = nenv;
	o.binds = r->binds;
	o.nbinds = r->nbinds;
	o.workdir = r->w;
	o.cancel_fd = c->cancel_pipe[0];
	/* The image's WorkingDir is not used: a chunk starts in /work, as
	 * `sandbox run --workdir` does. */
	if (strcmp(r->rt.kind, "image") == 0)
		o.rootfs = r->rt.path;
	else if (strcmp(r->rt.kind, "venv") == 0)
		o.venv = r->rt.path;
	if ((rc = logq_start(&q, c)))
		goto out;
	logging = 1;
	rc = sbx_run(&o, on_line, &q, &res, r->err, sizeof r->err);
	logq_finish(&q);
	if (rc)
		goto out;
	*sandbox = sbx_result_json(&res);
	*error = run_error(&res);
	char *text = NULL, *outdir = xasprintf("%s/out", r->w);
	size_t len = 0;
	int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	free(outdir);
	if (dfd < 0) {
		snprintf(r->err, sizeof r->err, "the output dir is gone: %s", strerror(errno));
		rc = -ENOENT;
		goto out;
	}
	int rrc = read_job_file(dfd, "result.json", RESULT_MAX, &text, &len);
	if (rrc == 0) {
		json_error_t je;
		*result = json_loadb(text, len, 0, &je);
		if (!*result)
			snprintf(r->err, sizeof r->err, "result.json: %s (line %d)", je.text, je.line);
		else if (summarise(*result, r->err, sizeof r->err))
			json_decref(*result), *result = NULL;
		if (!*result && !*error)
			*error = xstrdup(r->err);
	} else if (rrc != -ENOENT && !*error) {
		*error = xasprintf("result.json: %s", rrc == -E2BIG ? "larger than 16 MiB"
						   : rrc == -EINVAL ? "not a regular file" : strerror(-rrc));
	}
	free(text);
	if ((rc = walk(dfd, "", 0, arts, r->err, sizeof r->err)) && !*error) {
		*error = xasprintf("artifacts: %s", r->err);
		json_array_clear(arts);
	}
	rc = 0;
out:
	(void)logging;
	if (rc && !*error)
		*error = xstrdup(r->err[0] ? r->err : strerror(-rc));
	for (i = 0; i < na; i++)
		free(argv[i]);
	return rc;
}

/* ---- the built-in program train ---- */

/* Trains on the chunk's one file input with the options of the job's
 * config (model/model_train.h), in-process as `sentinel train` would, and
 * leaves model.onnx and config.json in w/out as the chunk's artifacts. The
 * attempt directory is laid out as a script's, so inputs are fetched and
 * artifacts sent the same way. */
static int run_train(struct run *r, json_t **result, json_t *arts, char **error)
{
	ag_chunk *c = r->c;
	json_t *params = NULL, *summary = NULL, *in = json_array_get(json_object_get(c->spec,
									       "inputs"), 0);
	const char *csha = json_string_value(json_object_get(c->spec, "config_sha256"));
	const char *name = json_string_value(json_object_get(in, "name"));
	const char *fn = json_string_value(json_object_get(json_array_get(json_object_get(in,
				"files"), 0), "path")) ?: json_string_value(json_object_get(in, "filename"));
	char *data = xasprintf("%s/data", r->dir), *out = xasprintf("%s/out", r->w);
	char *cpath = xasprintf("%s/config.json", r->dir), *csv = NULL, *text = NULL;
	size_t len = 0;
	int rc = 0;
	if (!csha || !name || json_array_size(json_object_get(c->spec, "inputs")) != 1 ||
	    strcmp(json_string_value(json_object_get(in, "kind")) ?: "", "file") != 0) {
		*error = xstrdup("train: needs a config of options and one dataset input that is a"
				 " file (a CSV)");
		rc = -EINVAL;
		goto out;
	}
	if (mkdir(data, 0755) || mkdir(r->w, 0755) || mkdir(out, 0755)) {
		rc = -errno;
		goto out;
	}
	if ((rc = ag_cache_get(c->a, csha, cpath, r->err, sizeof r->err)) ||
	    (rc = sn_read_file(cpath, (size_t)1 << 20, &text, &len)) || (rc = inputs(r)))
		goto out;
	params = json_loadb(text, len, 0, NULL);
	csv = xasprintf("%s/%s/%s", data, name, fn ? fn : name);
	if ((rc = model_train_run(params, csv, out, &summary, r->err, sizeof r->err))) {
		*error = xasprintf("train: %s", r->err);
		goto out;
	}
	if ((rc = walk(open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC), "", 0, arts, r->err,
		       sizeof r->err)))
		goto out;
	*result = json_pack("{s:{},s:O}", "stats", "output", summary);
	rc = *result ? 0 : -ENOMEM;
out:
	if (rc && !*error)
		*error = xasprintf("train: %s", r->err[0] ? r->err : strerror(-rc));
	json_decref(params);
	json_decref(summary);
	free(data);
	free(out);
	free(cpath);
	free(csv);
	free(text);
	return rc;
}

/* ---- the chunk's thread ---- */

static void run_free(struct run *r)
{
	rt_info_release(&r->rt);
	for (size_t i = 0; i < r->nowned; i++)
		free(r->owned[i]);
	free(r->w);
	free(r->dir);
}

static json_t *result_body(int64_t attempt, const char *status, json_t *result,
			   json_t *sandbox, json_t *arts, const char *error)
{
	return json_pack("{s:I, s:s, s:O?, s:O?, s:O, s:s*}", "attempt", (json_int_t)attempt,
			 "status", status, "result", result, "sandbox", sandbox, "artifacts", arts,
			 "error", error);
}

json_t *ag_noop_result(int64_t attempt)
{
	json_t *arts = json_array(), *res = json_pack("{s:{}}", "stats");
	json_t *body = arts && res ? result_body(attempt, "completed", res, NULL, arts, NULL) : NULL;
	json_decref(arts);
	json_decref(res);
	return body;
}

void ag_chunk_run(ag_chunk *c)
{
	agent *a = c->a;
	struct run r = { .c = c };
	json_t *result = NULL, *sandbox = NULL, *arts = json_array(), *body;
	char *error = NULL;
	const char *program = json_string_value(json_object_get(c->spec, "program"));
	int rc;
	if (!arts)
		abort();
	if (program && strcmp(program, "train") != 0) {
		rc = run_builtin(c, program, &result, &error);
	} else {
		r.dir = xasprintf("%s/%s-%lld", a->work_dir, c->id, (long long)c->attempt);
		r.w = xasprintf("%s/w", r.dir);
		/* a leftover of an earlier run of this agent (work/ exists: agent_init) */
		rc = mkdir(r.dir, 0700) ? -errno : 0;
		if (rc == -EEXIST) {
			ag_remove_rf(r.dir);
			rc = mkdir(r.dir, 0700) ? -errno : 0;
		}
		if (rc == 0 && program)
			rc = run_train(&r, &result, arts, &error);
		else if (rc == 0)
			rc = run_script(&r, &result, &sandbox, arts, &error);
		else
			error = xasprintf("%s: %s", r.dir, strerror(-rc));
	}
	if (stopped(c)) {
		log_msg(LOG_INFO, "node: chunk %s stopped (%s); no result sent", c->id,
			c->stop == AG_STOP_CANCEL ? "cancelled" : c->stop == AG_STOP_LOST ? "lost"
			: "handed back");
		if (r.dir)
			ag_remove_rf(r.dir);
	} else {
		if (rc && !error)
			error = xstrdup(strerror(-rc));
		body = result_body(c->attempt, error ? "failed" : "completed", error ? NULL : result,
				   sandbox, arts, error);
		if (!body)
			abort(); /* out of memory, as xmalloc would */
		/* The attempt dir goes with the result, once the server took it. */
		ag_journal_put(a, c->id, c->attempt, r.dir, body);
		json_decref(body);
		log_msg(program && !error ? LOG_DEBUG : LOG_INFO, "node: chunk %s attempt %lld %s%s",
			c->id, (long long)c->attempt, error ? "failed: " : "completed",
			error ? error : "");
	}
	json_decref(result);
	json_decref(sandbox);
	json_decref(arts);
	free(error);
	run_free(&r);
}
