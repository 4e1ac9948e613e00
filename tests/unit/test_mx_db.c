/* The metrics store: the block codec (Gorilla) and sketches against exact
 * values, queries of every aggregation against a brute-force reference
 * over the same samples (tag filters, groupings, aligned and unaligned
 * steps, memory and blocks), export round trips, out-of-order samples,
 * recovery from the log (a crash without flush, a torn tail), the series
 * limit and retention.
 *
 * With SENTINEL_TEST_PG set (a PostgreSQL server's URL, as scripts/pg.sh
 * start prints), the blocks go to PostgreSQL instead of the SQLite file of
 * the store's directory: each directory a test opens gets a fresh
 * database of its own, and copying a directory (a crash's state) copies
 * its database too. The same checks run on both. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "metrics/mx.h"
#include "metrics/mx_db_int.h"
#include "metrics/mx_api_int.h"
#include "store/store.h"

static char dir[64];

/* ---- PostgreSQL (SENTINEL_TEST_PG) ---------------------------------- */

static const char *pg_url;  /* the server's URL, or NULL: SQLite */
static char pg_made[16][32]; /* databases made by this test case */
static int pg_nmade;
static store *pg_st;         /* the store of the open mx_db (one at a time) */

/* The database of a store directory: one per path. */
static void pg_name(const char *path, char out[32])
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const char *c = path; *c; c++)
		h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
	snprintf(out, 32, "mxt_%016llx", (unsigned long long)h);
}

/* URL with its database name replaced by name. */
static char *pg_url_of(const char *name)
{
	const char *slash = strrchr(pg_url, '/');
	size_t n = (size_t)(slash - pg_url) + 1;
	char *u = malloc(n + strlen(name) + 1);
	memcpy(u, pg_url, n);
	strcpy(u + n, name);
	return u;
}

/* Runs sql on the server's own database (CREATE/DROP DATABASE). */
static void pg_admin(const char *sql)
{
	store *s = NULL;
	store_conn *c = NULL;
	char err[256] = "";
	store_opts so = { .pool_size = 1 };
	if (store_open(pg_url, &so, &s, err, sizeof err))
		fail_msg("cannot open %s: %s", pg_url, err);
	assert_int_equal(store_acquire(s, &c), 0);
	if (store_exec(c, sql, NULL, SNOARGS))
		fail_msg("%s: %s", sql, store_errmsg(c));
	store_release(&c);
	store_free(&s);
}

/* A fresh database for path, a copy of from's when from is not NULL. */
static void pg_make(const char *path, const char *from)
{
	char name[32], tmpl[32], sql[160];
	pg_name(path, name);
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s", name);
	pg_admin(sql);
	if (from)
		pg_name(from, tmpl);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s%s%s", name, from ? " TEMPLATE " : "",
		 from ? tmpl : "");
	pg_admin(sql);
	int seen = 0;
	for (int i = 0; i < pg_nmade; i++)
		seen |= strcmp(pg_made[i], name) == 0;
	if (!seen) {
		assert_true(pg_nmade < 16);
		snprintf(pg_made[pg_nmade++], 32, "%s", name);
	}
}

/* Opens the metrics store of cfg->dir: on PostgreSQL with the directory's
 * database (made on first use). */
static int open_cfg(const mx_db_config *cfg, mx_db **db, char *err, size_t errlen)
{
	if (!pg_url)
		return mx_db_open(cfg, NULL, db, err, errlen);
	assert_null(pg_st);
	char name[32];
	pg_name(cfg->dir, name);
	int made = 0;
	for (int i = 0; i < pg_nmade; i++)
		made |= strcmp(pg_made[i], name) == 0;
	if (!made)
		pg_make(cfg->dir, NULL);
	char *url = pg_url_of(name);
	int rc = store_open(url, NULL, &pg_st, err, errlen);
	free(url);
	if (!rc && (rc = mx_db_open(cfg, pg_st, db, err, errlen)))
		store_free(&pg_st);
	return rc;
}

static void close_db(mx_db **db)
{
	mx_db_free(db);
	store_free(&pg_st);
}

/* A crash: the store goes without its last checkpoint (what is only in
 * the log stays only there), as if the process died. */
static void crash_db(mx_db **db)
{
	atomic_store(&(*db)->broken, 1);
	close_db(db);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sentinel-mxdb-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	pg_url = getenv("SENTINEL_TEST_PG");
	if (pg_url && !*pg_url)
		pg_url = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	/* FORCE: a failed check leaves its store open (and leaked). */
	pg_st = NULL;
	for (int i = 0; i < pg_nmade; i++) {
		char sql[80];
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %.31s WITH (FORCE)", pg_made[i]);
		pg_admin(sql);
	}
	pg_nmade = 0;
	return system(cmd);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static double rndu(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

static mx_db *open_db(uint64_t max_series)
{
	mx_db_config cfg = { .dir = dir, .max_series = max_series };
	mx_db *db = NULL;
	char err[256] = "";
	int rc = open_cfg(&cfg, &db, err, sizeof err);
	if (rc)
		fail_msg("mx_db_open: %d %s", rc, err);
	return db;
}

/* ---- The codec ------------------------------------------------------ */

static void roundtrip(const int64_t *ts, const double *v, size_t n)
{
	mx_bytes b = { 0 };
	mx_block_encode(ts, v, n, &b);
	int64_t *t2 = malloc(n * sizeof *t2);
	double *v2 = malloc(n * sizeof *v2);
	size_t got = 0, cnt = 0;
	assert_int_equal(mx_block_count(b.p, b.len, &cnt), 0);
	assert_int_equal(cnt, n);
	assert_int_equal(mx_block_decode(b.p, b.len, t2, v2, n, &got), 0);
	assert_int_equal(got, n);
	assert_memory_equal(t2, ts, n * sizeof *ts);
	assert_memory_equal(v2, v, n * sizeof *v); /* bit for bit */
	/* A truncated block is refused, never read past its end. */
	if (b.len > 12)
		assert_int_not_equal(mx_block_decode(b.p, b.len / 2, t2, v2, n, &got), 0);
	free(t2);
	free(v2);
	mx_bytes_release(&b);
}

static void test_gorilla(void **state)
{
	(void)state;
	enum { N = 3000 };
	static int64_t ts[N];
	static double v[N];
	/* Random doubles, random spacing (equal times included). */
	for (int i = 0; i < N; i++) {
		ts[i] = (i ? ts[i - 1] : 1700000000000LL) + (int64_t)(rnd() % 3) * (rnd() % 5000);
		uint64_t u = rnd();
		memcpy(&v[i], &u, 8);
		if (!isfinite(v[i]))
			v[i] = (double)u;
	}
	roundtrip(ts, v, N);
	/* Edge values: ±0, denormals, extremes, huge deltas of time. */
	double edge[] = { 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
			  -1.7976931348623157e308, 1.0, 1.0, 0.1, -0.0, 0.0, 123456789.123, 1e-9 };
	int64_t ets[14];
	size_t ne = sizeof edge / sizeof *edge;
	for (size_t i = 0; i < ne; i++)
		ets[i] = i < 4 ? (int64_t)i * 1000 : (int64_t)(i * i) * 4000000000000LL - 9000000000000000LL;
	for (size_t i = 1; i < ne; i++)
		if (ets[i] < ets[i - 1])
			ets[i] = ets[i - 1];
	roundtrip(ets, edge, ne);
	roundtrip(ets, edge, 1);
	/* Decimals (2 places), counters and constants take the integer path. */
	for (int i = 0; i < N; i++) {
		ts[i] = 1700000000000LL + i * 1000LL;
		v[i] = round((50 + 10 * sin(i / 50.0) + rndu()) * 100) / 100;
	}
	roundtrip(ts, v, N);
	mx_bytes b = { 0 };
	mx_block_encode(ts, v, N, &b);
	assert_true(b.len < N * 2); /* < 2 bytes a point */
	mx_bytes_release(&b);
	for (int i = 0; i < N; i++)
		v[i] = i ? v[i - 1] + (double)(rnd() % 100) : 1e6;
	roundtrip(ts, v, N);
	for (int i = 0; i < N; i++)
		v[i] = 42;
	roundtrip(ts, v, N);
	/* A gauge's random walk of 2 decimals (Gaussian steps, sigma 1) at a
	 * regular 1 s: Rice codes and no timestamp bits, near the entropy of
	 * the steps (8.7 bits); then rare jumps past the Rice codes' escape,
	 * and the same with one irregular time. */
	double g = 100;
	for (int i = 0; i < N; i++) {
		double u1 = rndu() + 1e-12, u2 = rndu();
		g += sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
		v[i] = round(g * 100) / 100;
	}
	roundtrip(ts, v, N);
	mx_block_encode(ts, v, N, &b);
	assert_true(b.len < N * 115 / 100); /* < 9.2 bits a point */
	mx_bytes_release(&b);
	for (int i = 0; i < N; i += 97)
		v[i] = (double)(rnd() % 100000000) / 100;
	roundtrip(ts, v, N);
	ts[N / 2] += 1;
	roundtrip(ts, v, N);
	ts[N / 2] -= 1;
	/* Mixed: decimals with one value that is not. */
	v[17] = 1.0 / 3;
	roundtrip(ts, v, N);
	/* Negative times. */
	for (int i = 0; i < 10; i++)
		ts[i] = -5000 + i * 777;
	roundtrip(ts, v, 10);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double exact_q(double *sorted, size_t n, double q)
{
	return sorted[(size_t)floor(q * (double)(n - 1))];
}

static void test_sketch(void **state)
{
	(void)state;
	enum { N = 20000 };
	static double v[N];
	const double qs[] = { 0.5, 0.9, 0.95, 0.99 };
	for (int dist = 0; dist < 3; dist++) {
		mx_sk s = { 0 };
		for (int i = 0; i < N; i++) {
			v[i] = dist == 0 ? 1 + rndu() * 1000 : dist == 1 ? exp(rndu() * 20 - 5)
								      : (rndu() - 0.3) * 100;
			if (dist == 2 && i % 50 == 0)
				v[i] = 0;
			mx_sk_add(&s, v[i]);
		}
		qsort(v, N, sizeof *v, cmp_dbl);
		for (int k = 0; k < 4; k++) {
			double e = exact_q(v, N, qs[k]), got = mx_sk_quantile(&s, qs[k]);
			assert_true(fabs(got - e) <= 0.01 * fabs(e) + 1e-12);
		}
		mx_sk_release(&s);
	}
}

/* Bins per 10 minutes give each span's points' sketch exactly; a cut
 * blob is refused. */
static void test_spans(void **state)
{
	(void)state;
	enum { N = 5000 };
	static int64_t ts[N];
	static double v[N];
	int64_t t = -3 * MX_SPAN_MS - 7000;
	for (int i = 0; i < N; i++) {
		t += (int64_t)(rnd() % 2000) + (i % 997 == 0 ? 2 * MX_SPAN_MS : 0);
		ts[i] = t;
		v[i] = i % 5 == 0 ? 0 : (rndu() - 0.2) * 1000;
	}
	mx_bytes b = { 0 };
	mx_span_encode(ts, v, N, &b);
	mx_span_rd it;
	int64_t sp;
	int i = 0, got, nspans = 0;
	assert_int_equal(mx_span_open(&it, b.p, b.len), 0);
	while ((got = mx_span_next(&it, &sp)) == 1) {
		mx_sk have = { 0 }, want = { 0 };
		assert_int_equal(mx_span_sketch(&it, &have), 0);
		assert_int_equal(sp, mx_floor_div(ts[i], MX_SPAN_MS) * MX_SPAN_MS);
		for (; i < N && ts[i] < sp + MX_SPAN_MS; i++)
			mx_sk_add(&want, v[i]);
		assert_int_equal(have.n, want.n);
		for (double q = 0; q <= 1; q += 0.05) {
			double x = mx_sk_quantile(&have, q), y = mx_sk_quantile(&want, q);
			assert_memory_equal(&x, &y, sizeof x);
		}
		mx_sk_release(&have);
		mx_sk_release(&want);
		nspans++;
	}
	assert_int_equal(got, 0);
	assert_int_equal(i, N);
	assert_true(nspans > 10);
	for (size_t cut = 0; cut < b.len; cut += 1 + cut / 8) {
		mx_sk s = { 0 };
		int rc = mx_span_open(&it, b.p, cut);
		while (rc == 0 && (rc = mx_span_next(&it, &sp)) == 1)
			rc = mx_span_sketch(&it, &s);
		assert_int_equal(rc, -EINVAL);
		mx_sk_release(&s);
	}
	mx_bytes_release(&b);
}

/* ---- Store helpers -------------------------------------------------- */

typedef struct ref {
	int agent, host, model; /* indexes into names below */
	int64_t ts;
	double v;
} ref;

static const char *agents[] = { "a1", "a2", "a3" };
static const char *hosts[] = { "h1", "h2" };
static const char *models[] = { "gpt", "claude", "llama" };

static mx_batch *batch_of(const ref *r, size_t n)
{
	mx_batch *b = mx_batch_new();
	char err[128];
	for (size_t i = 0; i < n; i++) {
		mx_tag t[2] = { { "host", hosts[r[i].host] }, { "model", models[r[i].model] } };
		if (mx_batch_add(b, agents[r[i].agent], "lat", r[i].ts, r[i].v, t, 2, err, sizeof err))
			abort(); /* called on other threads too: no cmocka assert */
	}
	return b;
}

static void push(mx_db *db, const ref *r, size_t n)
{
	mx_batch *b = batch_of(r, n);
	assert_int_equal(mx_db_append(db, b), 0);
	mx_batch_free(&b);
}

/* Results of a query, flattened: group label, ts, value. */
typedef struct qres {
	char label[128];
	int64_t ts;
	double v;
} qres;
typedef struct qout {
	qres *r;
	size_t n, cap;
	size_t nseries;
} qout;

static int collect(void *ctx, const mx_result *r)
{
	qout *o = ctx;
	char label[128];
	int k = snprintf(label, sizeof label, "%s|", r->agent ? r->agent : "*");
	for (unsigned i = 0; i < r->ntags; i++)
		k += snprintf(label + k, sizeof label - (size_t)k, "%s=%s,", r->tags[i].k, r->tags[i].v);
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			assert_true(r->pts[i].ts_ms > r->pts[i - 1].ts_ms);
		if (o->n == o->cap) {
			o->cap = o->cap ? o->cap * 2 : 256;
			o->r = realloc(o->r, o->cap * sizeof *o->r);
		}
		qres *q = &o->r[o->n++];
		snprintf(q->label, sizeof q->label, "%s", label);
		q->ts = r->pts[i].ts_ms;
		q->v = r->pts[i].v;
	}
	o->nseries++;
	return 0;
}

/* The reference: the same query by brute force over the samples. */
static void reference(const ref *r, size_t n, const mx_filter *f, int64_t step, enum mx_agg agg,
		      const char *const *by, unsigned nby, qout *o)
{
	/* Group label per sample, then per (label, bucket) the values. */
	typedef struct item {
		char label[128];
		int64_t b;
		double v;
	} item;
	item *it = malloc(n * sizeof *it);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (r[i].ts < f->from_ms || r[i].ts >= f->to_ms)
			continue;
		if (f->agent && strcmp(f->agent, agents[r[i].agent]))
			continue;
		int ok = 1;
		for (unsigned t = 0; t < f->ntags; t++) {
			const char *v = strcmp(f->tags[t].k, "host") == 0 ? hosts[r[i].host]
				      : strcmp(f->tags[t].k, "model") == 0 ? models[r[i].model] : NULL;
			ok &= v && strcmp(v, f->tags[t].v) == 0;
		}
		if (!ok)
			continue;
		char label[128];
		int k;
		if (!by) {
			k = snprintf(label, sizeof label, "%s|host=%s,model=%s,", agents[r[i].agent],
				     hosts[r[i].host], models[r[i].model]);
		} else {
			int has_agent = 0;
			for (unsigned j = 0; j < nby; j++)
				has_agent |= strcmp(by[j], "agent") == 0;
			k = snprintf(label, sizeof label, "%s|", has_agent ? agents[r[i].agent] : "*");
			for (unsigned j = 0; j < nby; j++) {
				if (strcmp(by[j], "host") == 0)
					k += snprintf(label + k, sizeof label - (size_t)k, "host=%s,",
						      hosts[r[i].host]);
				if (strcmp(by[j], "model") == 0)
					k += snprintf(label + k, sizeof label - (size_t)k, "model=%s,",
						      models[r[i].model]);
			}
		}
		(void)k;
		snprintf(it[m].label, sizeof it[m].label, "%s", label);
		it[m].b = (int64_t)floor((double)r[i].ts / (double)step) * step;
		it[m].v = r[i].v;
		m++;
	}
	/* O(m^2) grouping is fine for test sizes. */
	char *done = calloc(m ? m : 1, 1);
	double *vals = malloc((m ? m : 1) * sizeof *vals);
	for (size_t i = 0; i < m; i++) {
		if (done[i])
			continue;
		size_t c = 0;
		double sum = 0, mn = it[i].v, mx = it[i].v;
		for (size_t j = i; j < m; j++) {
			if (done[j] || it[j].b != it[i].b || strcmp(it[j].label, it[i].label))
				continue;
			done[j] = 1;
			vals[c++] = it[j].v;
			sum += it[j].v;
			mn = fmin(mn, it[j].v);
			mx = fmax(mx, it[j].v);
		}
		qsort(vals, c, sizeof *vals, cmp_dbl);
		double v = 0;
		switch (agg) {
		case MX_AVG: v = sum / (double)c; break;
		case MX_MIN: v = mn; break;
		case MX_MAX: v = mx; break;
		case MX_SUM: v = sum; break;
		case MX_COUNT: v = (double)c; break;
		case MX_RATE: v = sum / ((double)step / 1000); break;
		case MX_P50: v = exact_q(vals, c, 0.5); break;
		case MX_P90: v = exact_q(vals, c, 0.9); break;
		case MX_P95: v = exact_q(vals, c, 0.95); break;
		case MX_P99: v = exact_q(vals, c, 0.99); break;
		}
		if (o->n == o->cap) {
			o->cap = o->cap ? o->cap * 2 : 256;
			o->r = realloc(o->r, o->cap * sizeof *o->r);
		}
		qres *q = &o->r[o->n++];
		snprintf(q->label, sizeof q->label, "%s", it[i].label);
		q->ts = it[i].b;
		q->v = v;
	}
	free(done);
	free(vals);
	free(it);
}

static int cmp_qres(const void *a, const void *b)
{
	const qres *x = a, *y = b;
	int c = strcmp(x->label, y->label);
	return c ? c : (x->ts > y->ts) - (x->ts < y->ts);
}

static void check_query(mx_db *db, const ref *r, size_t n, const mx_filter *f, int64_t step,
			enum mx_agg agg, const char *const *by, unsigned nby)
{
	qout got = { 0 }, want = { 0 };
	assert_int_equal(mx_db_query(db, f, step, agg, by, nby, collect, &got), 0);
	reference(r, n, f, step, agg, by, nby, &want);
	qsort(got.r, got.n, sizeof *got.r, cmp_qres);
	qsort(want.r, want.n, sizeof *want.r, cmp_qres);
	if (got.n != want.n)
		fail_msg("agg %s step %lld: %zu points, want %zu", mx_agg_name(agg), (long long)step,
			 got.n, want.n);
	double tol = agg >= MX_P50 ? 0.01 : 1e-9;
	for (size_t i = 0; i < got.n; i++) {
		if (strcmp(got.r[i].label, want.r[i].label) || got.r[i].ts != want.r[i].ts ||
		    fabs(got.r[i].v - want.r[i].v) > tol * fabs(want.r[i].v) + 1e-9)
			fail_msg("agg %s step %lld: %s %lld = %.17g, want %s %lld = %.17g",
				 mx_agg_name(agg), (long long)step, got.r[i].label,
				 (long long)got.r[i].ts, got.r[i].v, want.r[i].label,
				 (long long)want.r[i].ts, want.r[i].v);
	}
	free(got.r);
	free(want.r);
}

/* Samples over ~3 hours across a day boundary, some out of order. */
static ref *make_samples(size_t n, int64_t t0)
{
	ref *r = malloc(n * sizeof *r);
	for (size_t i = 0; i < n; i++) {
		r[i] = (ref){ (int)(rnd() % 3), (int)(rnd() % 2), (int)(rnd() % 3),
			      t0 + (int64_t)i * 977 + (int64_t)(rnd() % 500), 0 };
		if (i % 37 == 0)
			r[i].ts -= (int64_t)(rnd() % 600000); /* out of order */
		r[i].v = i % 3 ? round(rndu() * 100000) / 100 : rndu() * 50 - 10;
	}
	return r;
}

static void all_queries(mx_db *db, const ref *r, size_t n, int64_t t0)
{
	const char *by_model[] = { "model" }, *by_agent_host[] = { "agent", "host" };
	mx_tag host1[] = { { "host", "h1" } };
	int64_t end = t0 + (int64_t)n * 977 + 1000;
	/* Aligned to the minute (rollups), cut at either end or both (rollups
	 * inside, points in the cut minutes) and steps off the minute (points). */
	int64_t from_al = (t0 / 60000) * 60000 + 60000 * 3, to_al = (end / 60000) * 60000 - 60000 * 2;
	int64_t from10 = (t0 / 600000 + 1) * 600000, to10 = (end / 600000) * 600000;
	struct {
		int64_t from, to, step;
	} rg[] = { { from_al, to_al, 60000 }, { from_al, to_al, 300000 },
		   { from_al + 1234, to_al - 777, 60000 }, { from_al + 59999, to_al, 120000 },
		   { from_al, to_al + 1, 180000 }, { from_al, to_al, 45000 },
		   { t0 - 3600000, end + 3600000, 3600000 },
		   /* Whole spans (span sketches), spans cut (points). */
		   { from10, to10, 600000 }, { from10, to10, 1200000 },
		   { from10 + 60000, to10, 600000 }, { from10, to10 - 1, 1800000 } };
	for (size_t g = 0; g < sizeof rg / sizeof *rg; g++) {
		for (int agg = MX_AVG; agg <= MX_P99; agg++) {
			mx_filter f = { .metric = "lat", .from_ms = rg[g].from, .to_ms = rg[g].to };
			check_query(db, r, n, &f, rg[g].step, (enum mx_agg)agg, NULL, 0);
			f.tags = host1;
			f.ntags = 1;
			check_query(db, r, n, &f, rg[g].step, (enum mx_agg)agg, by_model, 1);
			f.ntags = 0;
			f.agent = "a2";
			check_query(db, r, n, &f, rg[g].step, (enum mx_agg)agg, by_agent_host, 2);
		}
	}
}

static void test_query(void **state)
{
	(void)state;
	size_t n = 12000;
	int64_t t0 = 1700000000000LL / MX_DAY_MS * MX_DAY_MS + MX_DAY_MS - 3600000; /* 1 h before midnight */
	ref *r = make_samples(n, t0);
	mx_db *db = open_db(0);
	for (size_t i = 0; i < n; i += 1000)
		push(db, r + i, n - i < 1000 ? n - i : 1000);
	/* In memory (heads, buffers, pending blocks)... */
	all_queries(db, r, n, t0);
	/* ...in blocks... */
	assert_int_equal(mx_db_flush(db), 0);
	all_queries(db, r, n, t0);
	/* ...and both, after a restart. */
	close_db(&db);
	db = open_db(0);
	ref *r2 = make_samples(3000, t0 + 3600000);
	push(db, r2, 3000);
	ref *all = malloc((n + 3000) * sizeof *all);
	memcpy(all, r, n * sizeof *r);
	memcpy(all + n, r2, 3000 * sizeof *r2);
	all_queries(db, all, n + 3000, t0);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, n + 3000);
	assert_int_equal(st.series, 18);
	/* Bounds. */
	qout o = { 0 };
	mx_filter f = { .metric = "lat", .from_ms = 0, .to_ms = 10001 };
	assert_int_equal(mx_db_query(db, &f, 1, MX_AVG, NULL, 0, collect, &o), -EINVAL);
	f.to_ms = 10000;
	assert_int_equal(mx_db_query(db, &f, 1, MX_AVG, NULL, 0, collect, &o), 0);
	assert_int_equal(mx_db_query(db, &f, 0, MX_AVG, NULL, 0, collect, &o), -EINVAL);
	close_db(&db);
	free(all);
	free(r2);
	free(r);
}

/* Rows written as before sketches per span (kind without MX_KIND_SPANS,
 * per-minute sketches) answer as they did, next to rows of the new
 * format. */
typedef struct qset {
	qout o[4];
} qset;

static void old_queries(mx_db *db, int64_t from, int64_t to, qset *q)
{
	static const enum mx_agg aggs[] = { MX_AVG, MX_P50, MX_P99, MX_P90 };
	static const int64_t steps[] = { 60000, 600000, 300000, 1800000 };
	for (int i = 0; i < 4; i++) {
		mx_filter f = { .metric = "lat", .from_ms = from, .to_ms = to };
		q->o[i] = (qout){ 0 };
		assert_int_equal(mx_db_query(db, &f, steps[i], aggs[i], NULL, 0, collect, &q->o[i]),
				 0);
		qsort(q->o[i].r, q->o[i].n, sizeof *q->o[i].r, cmp_qres);
	}
}

static void test_old_rows(void **state)
{
	(void)state;
	size_t n = 8000;
	int64_t t0 = 1700000000000LL / MX_DAY_MS * MX_DAY_MS + MX_DAY_MS - 3600000;
	ref *r = make_samples(n, t0);
	mx_db_old_rows = 1;
	mx_db *db = open_db(0);
	push(db, r, n);
	assert_int_equal(mx_db_flush(db), 0);
	int64_t from = (t0 / 600000 + 1) * 600000, to = ((t0 + (int64_t)n * 977) / 600000) * 600000;
	qset before, after;
	old_queries(db, from, to, &before);
	close_db(&db);
	mx_db_old_rows = 0;
	db = open_db(0);
	old_queries(db, from, to, &after);
	for (int i = 0; i < 4; i++) {
		assert_true(before.o[i].n > 0);
		assert_int_equal(after.o[i].n, before.o[i].n);
		for (size_t k = 0; k < before.o[i].n; k++) {
			assert_string_equal(after.o[i].r[k].label, before.o[i].r[k].label);
			assert_int_equal(after.o[i].r[k].ts, before.o[i].r[k].ts);
			assert_memory_equal(&after.o[i].r[k].v, &before.o[i].r[k].v, sizeof(double));
		}
		free(before.o[i].r);
		free(after.o[i].r);
	}
	/* New rows beside the old ones; every query against the reference. */
	ref *r2 = make_samples(3000, t0 + 3600000);
	push(db, r2, 3000);
	assert_int_equal(mx_db_flush(db), 0);
	ref *all = malloc((n + 3000) * sizeof *all);
	memcpy(all, r, n * sizeof *r);
	memcpy(all + n, r2, 3000 * sizeof *r2);
	all_queries(db, all, n + 3000, t0);
	close_db(&db);
	free(all);
	free(r2);
	free(r);
}

/* ---- Export --------------------------------------------------------- */

typedef struct xout {
	ref *r;
	size_t n;
} xout;

static int idx_of(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static int xcollect(void *ctx, const mx_sample *s)
{
	xout *o = ctx;
	assert_string_equal(s->metric, "lat");
	assert_int_equal(s->ntags, 2);
	o->r[o->n++] = (ref){ idx_of(agents, 3, s->agent), idx_of(hosts, 2, s->tags[0].v),
			      idx_of(models, 3, s->tags[1].v), s->ts_ms, s->value };
	return 0;
}

static int cmp_ref_series(const ref *x, const ref *y)
{
	if (x->agent != y->agent)
		return x->agent - y->agent;
	if (x->host != y->host)
		return x->host - y->host;
	return x->model - y->model;
}

static void check_export(mx_db *db, const ref *r, size_t n)
{
	xout o = { malloc((n + 1) * sizeof(ref)), 0 };
	mx_filter f = { .from_ms = INT64_MIN / 2, .to_ms = INT64_MAX / 2 };
	assert_int_equal(mx_db_export(db, &f, xcollect, &o), 0);
	assert_int_equal(o.n, n);
	/* Per series: exactly the series' samples, stable-sorted by time
	 * (arrival order among equal times). */
	size_t pos = 0;
	while (pos < o.n) {
		size_t e = pos;
		while (e < o.n && cmp_ref_series(&o.r[e], &o.r[pos]) == 0)
			e++;
		ref *want = malloc((e - pos) * sizeof *want);
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (cmp_ref_series(&r[i], &o.r[pos]) == 0)
				want[m++] = r[i];
		assert_int_equal(m, e - pos);
		/* insertion sort: stable */
		for (size_t i = 1; i < m; i++)
			for (size_t j = i; j > 0 && want[j - 1].ts > want[j].ts; j--) {
				ref t = want[j];
				want[j] = want[j - 1];
				want[j - 1] = t;
			}
		for (size_t i = 0; i < m; i++) {
			assert_int_equal(o.r[pos + i].ts, want[i].ts);
			assert_memory_equal(&o.r[pos + i].v, &want[i].v, sizeof(double));
		}
		free(want);
		pos = e;
	}
	free(o.r);
}

static void test_export(void **state)
{
	(void)state;
	size_t n = 9000;
	int64_t t0 = 1700000000000LL;
	ref *r = make_samples(n, t0);
	/* Equal times in one series, arriving in a known order; -0 and
	 * denormals kept bit for bit. */
	for (size_t i = 100; i < 110; i++) {
		r[i] = (ref){ 0, 0, 0, r[99].ts - 5, (double)i };
	}
	r[200].v = -0.0;
	r[201].v = 5e-324;
	mx_db *db = open_db(0);
	for (size_t i = 0; i < n; i += 700)
		push(db, r + i, n - i < 700 ? n - i : 700);
	check_export(db, r, n);
	assert_int_equal(mx_db_flush(db), 0);
	check_export(db, r, n);
	/* Latest: the last arrival at the largest time. */
	close_db(&db);
	db = open_db(0);
	check_export(db, r, n);
	close_db(&db);
	free(r);
}

/* One long series across checkpoints: its head is written partial
 * (mx_heads), grows, seals into a day table, and a restart moves the
 * last partial head to its day; nothing is seen twice. */
static void test_heads(void **state)
{
	(void)state;
	size_t n = 10000;
	ref *r = malloc(n * sizeof *r);
	for (size_t i = 0; i < n; i++)
		r[i] = (ref){ 1, 1, 2, 1700000000000LL + (int64_t)i * 1000, round(rndu() * 1e4) / 100 };
	mx_db *db = open_db(0);
	push(db, r, 3000);
	assert_int_equal(mx_db_flush(db), 0);
	check_export(db, r, 3000);
	push(db, r + 3000, 2000); /* the head seals at MX_BLOCK_MAX */
	check_export(db, r, 5000);
	assert_int_equal(mx_db_flush(db), 0);
	check_export(db, r, 5000);
	push(db, r + 5000, 1000);
	assert_int_equal(mx_db_flush(db), 0);
	close_db(&db);
	db = open_db(0);
	check_export(db, r, 6000);
	push(db, r + 6000, 4000);
	check_export(db, r, n);
	int64_t t0 = r[0].ts / 60000 * 60000;
	for (int agg = MX_AVG; agg <= MX_P99; agg++) {
		mx_filter f = { .metric = "lat", .from_ms = t0, .to_ms = t0 + 60000 * 200 };
		check_query(db, r, n, &f, 60000, (enum mx_agg)agg, NULL, 0);
	}
	assert_int_equal(mx_db_flush(db), 0);
	check_export(db, r, n);
	close_db(&db);
	free(r);
}

/* Rows of table t holding sid 1 (mx_heads, or a day table of blocks). */
static int64_t rows_of(mx_db *db, const char *t)
{
	store_conn *c = NULL;
	store_rows *q = NULL;
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE sid = 1", t);
	assert_int_equal(store_acquire(pg_url ? pg_st : db->st, &c), 0);
	assert_int_equal(store_query(c, sql, &q, SNOARGS), 0);
	assert_int_equal(store_rows_next(q), 1);
	int64_t n = store_rows_int(q, 0);
	store_rows_free(&q);
	store_release(&c);
	return n;
}

/* A slow series: its head seals at the checkpoint that finds it written
 * mx_db_seal_writes times and holding mx_db_seal_min points, not only
 * when full, so no head row is rewritten without end; the blocks read
 * back as the points pushed, before and after a restart. */
static void test_seal_sooner(void **state)
{
	(void)state;
	size_t n = 24;
	ref *r = malloc(n * sizeof *r);
	for (size_t i = 0; i < n; i++)
		r[i] = (ref){ 1, 1, 2, 1700000000000LL + (int64_t)i * 10000, round(rndu() * 1e4) / 100 };
	char day[32];
	mx_db_part_name(r[0].ts / MX_DAY_MS, day, sizeof day);
	mx_db_seal_writes = 3;
	mx_db_seal_min = 10;
	mx_db *db = open_db(0);
	/* Checkpoint k (1-based) after 2 points each: the head is written
	 * partial at 1-4 (at 4: written 3 times, 8 points), seals at 5
	 * (10 points), is written at 6-9 and seals again at 10. */
	for (size_t k = 1; k <= 10; k++) {
		push(db, r + 2 * (k - 1), 2);
		assert_int_equal(mx_db_flush(db), 0);
		int64_t blocks = k < 5 ? 0 : k < 10 ? 1 : 2;
		if (blocks)
			assert_int_equal(rows_of(db, day), blocks);
		assert_int_equal(rows_of(db, "mx_heads"), k == 5 || k == 10 ? 0 : 1);
		check_export(db, r, 2 * k);
	}
	push(db, r + 20, 4);
	assert_int_equal(mx_db_flush(db), 0);
	close_db(&db);
	mx_db_seal_writes = mx_db_seal_min = 0;
	db = open_db(0);
	check_export(db, r, n);
	int64_t t0 = r[0].ts / 60000 * 60000;
	for (int agg = MX_AVG; agg <= MX_P99; agg++) {
		mx_filter f = { .metric = "lat", .from_ms = t0, .to_ms = t0 + 60000 * 5 };
		check_query(db, r, n, &f, 60000, (enum mx_agg)agg, NULL, 0);
	}
	close_db(&db);
	free(r);
}

/* ---- Recovery ------------------------------------------------------- */

/* A crash: the process dies with heads unwritten. The test cannot kill
 * itself, so it closes the store without its last checkpoint (crash_db),
 * copies what is left (the log is synced before append returns), and
 * opens the copy. */
static void copy_dir(const char *from, const char *to)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf %s && cp -a %s %s", to, from, to);
	assert_int_equal(system(cmd), 0);
	if (pg_url)
		pg_make(to, from); /* from's store is closed: a template has no users */
}

static void test_recovery(void **state)
{
	(void)state;
	size_t n = 5000;
	int64_t t0 = 1700000000000LL;
	ref *r = make_samples(n, t0);
	char crash[96];
	snprintf(crash, sizeof crash, "%s/crash", dir);
	char sub[96];
	snprintf(sub, sizeof sub, "%s/live", dir);
	mx_db_config cfg = { .dir = sub };
	mx_db *db = NULL;
	char err[256];
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	push(db, r, 2000);
	assert_int_equal(mx_db_flush(db), 0); /* some in blocks */
	for (size_t i = 2000; i < n; i += 500)
		push(db, r + i, 500); /* the rest only in the log */
	crash_db(&db);
	copy_dir(sub, crash);
	cfg.dir = crash;
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	check_export(db, r, n);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, n);
	/* Replay twice does not double anything (a crash right after the
	 * recovery checkpoint). */
	push(db, r, 100);
	char crash2[96];
	snprintf(crash2, sizeof crash2, "%s/crash2", dir);
	crash_db(&db);
	copy_dir(crash, crash2);
	cfg.dir = crash2;
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	ref *both = malloc((n + 100) * sizeof *both);
	memcpy(both, r, n * sizeof *r);
	memcpy(both + n, r, 100 * sizeof *r);
	check_export(db, both, n + 100);
	close_db(&db);
	free(both);
	free(r);
}

/* A checkpoint writes its series in parts, a transaction each (the
 * writers' lock is never held for all of them). One part failing leaves
 * the parts before it committed and their points out of memory, the rest
 * in memory and in the log: the store reads every sample once, before and
 * after a crash, and replay skips what the committed parts hold. */
static void test_parts(void **state)
{
	(void)state;
	size_t n = 3000;
	int64_t t0 = 1700000000000LL;
	ref *r = make_samples(n, t0);
	char live[96], crash[96];
	snprintf(live, sizeof live, "%s/parts", dir);
	snprintf(crash, sizeof crash, "%s/parts-crash", dir);
	mx_db_config cfg = { .dir = live };
	mx_db *db = NULL;
	char err[256];
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	mx_db_part_series = 4; /* 18 series: 5 parts */
	push(db, r, 2000);
	mx_db_fail_part = 3;
	assert_int_not_equal(mx_db_flush(db), 0);
	mx_db_fail_part = 0;
	check_export(db, r, 2000);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, 2000);
	push(db, r + 2000, 1000);
	crash_db(&db);
	copy_dir(live, crash);
	cfg.dir = crash;
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	check_export(db, r, n);
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, n);
	/* A checkpoint in parts that all commit, then a clean restart. */
	assert_int_equal(mx_db_flush(db), 0);
	close_db(&db);
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	check_export(db, r, n);
	mx_db_part_series = 0;
	close_db(&db);
	free(r);
}

/* Tag values with what array literals quote (PostgreSQL writes a part's
 * series rows over arrays): the series row comes back with the same tags,
 * so a restarted store finds the series again instead of making another,
 * and its last sample (NULL before the first) survives both the insert
 * and the update of the row. */
static int tcollect(void *ctx, const mx_sample *s)
{
	size_t *n = ctx;
	assert_int_equal(s->ntags, 2);
	assert_string_equal(s->tags[0].v, "q\"u\\o,te {x} NULL ");
	assert_string_equal(s->tags[1].v, "");
	(*n)++;
	return 0;
}

typedef struct lout {
	size_t n;
	int64_t ts;
	double v;
} lout;

static int lcollect(void *ctx, const mx_sample *s)
{
	lout *o = ctx;
	o->n++;
	o->ts = s->ts_ms;
	o->v = s->value;
	return 0;
}

static void test_tags_quoted(void **state)
{
	(void)state;
	mx_tag t[2] = { { "a", "q\"u\\o,te {x} NULL " }, { "b", "" } };
	char err[128];
	mx_db *db = open_db(0);
	for (int round = 0; round < 3; round++) {
		mx_batch *b = mx_batch_new();
		for (int i = 0; i < 10; i++)
			assert_int_equal(mx_batch_add(b, "a1", "lat", 1700000000000LL + round * 100000 +
						      i * 1000, i + 0.25, t, 2, err, sizeof err), 0);
		assert_int_equal(mx_db_append(db, b), 0);
		mx_batch_free(&b);
		assert_int_equal(mx_db_flush(db), 0);
		close_db(&db);
		db = open_db(0);
		mx_db_stats st;
		mx_db_stats_get(db, &st);
		assert_int_equal(st.series, 1);
		assert_int_equal(st.samples, 10 * (round + 1));
		size_t n = 0;
		mx_filter f = { .tags = t, .ntags = 2, .from_ms = INT64_MIN / 2,
				.to_ms = INT64_MAX / 2 };
		assert_int_equal(mx_db_export(db, &f, tcollect, &n), 0);
		assert_int_equal(n, 10 * (size_t)(round + 1));
		lout last = { 0 };
		assert_int_equal(mx_db_latest(db, &f, lcollect, &last), 0);
		assert_int_equal(last.n, 1);
		assert_int_equal(last.ts, 1700000000000LL + round * 100000 + 9000);
		assert_true(last.v == 9.25);
	}
	close_db(&db);
}

/* The records of a log file: lsn and offset, in file order (a header of
 * length 0 starts the zeros written ahead of the records). */
typedef struct lrec {
	uint64_t lsn;
	long off;
	uint32_t len;
} lrec;

static size_t log_records(const char *path, lrec *out, size_t max)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t h[16];
	size_t n = 0;
	long off = 0;
	while (n < max && fread(h, 1, 16, f) == 16) {
		uint32_t len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
			       (uint32_t)h[3] << 24;
		uint64_t lsn = 0;
		for (int k = 0; k < 8; k++)
			lsn |= (uint64_t)h[8 + k] << (8 * k);
		if (len == 0)
			break;
		out[n++] = (lrec){ lsn, off, len };
		off += 16 + (long)len;
		assert_int_equal(fseek(f, off, SEEK_SET), 0);
	}
	fclose(f);
	return n;
}

/* Four batches acknowledged one after the other go to the two lanes' files
 * in turn; a crash tears the last record of either file. Replay merges the
 * files by lsn, keeps every other record (those of the other file after
 * the torn one included), cuts the torn tail, and appends after it stay. */
static void test_torn_tail(void **state)
{
	(void)state;
	_Static_assert(MX_LANES == 2, "the test tears each of two lanes");
	size_t n = 5000;
	ref *r = make_samples(n, 1700000000000LL);
	char sub[96], crash[96], wal[2][160];
	snprintf(sub, sizeof sub, "%s/live", dir);
	snprintf(crash, sizeof crash, "%s/crash", dir);
	mx_db_config cfg = { .dir = sub };
	mx_db *db = NULL;
	char err[256];
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	db->lane_min_us = 0; /* turns whatever this disk's syncs take */
	for (int b = 0; b < 4; b++)
		push(db, r + b * 1000, 1000);
	char saved[96];
	snprintf(saved, sizeof saved, "%s/saved", dir);
	crash_db(&db);
	copy_dir(sub, saved);
	/* Which lsns each file holds: batch b is lsn b + 1 (a new store). */
	lrec rec[2][8];
	size_t nrec[2];
	for (int l = 0; l < 2; l++) {
		snprintf(wal[l], sizeof wal[l], "%s/wal.1.%d", saved, l);
		nrec[l] = log_records(wal[l], rec[l], 8);
		assert_true(nrec[l] >= 1); /* both lanes wrote */
	}
	assert_int_equal(nrec[0] + nrec[1], 4);
	for (int l = 0; l < 2; l++) {
		copy_dir(saved, crash);
		char path[200];
		snprintf(path, sizeof path, "%s/wal.1.%d", crash, l);
		lrec *last = &rec[l][nrec[l] - 1];
		assert_int_equal(truncate(path, last->off + 16 + last->len / 2), 0);
		cfg.dir = crash;
		int rc = open_cfg(&cfg, &db, err, sizeof err);
		if (rc)
			fail_msg("open: %d %s", rc, err);
		ref *want = malloc(5000 * sizeof *want);
		size_t m = 0;
		for (uint64_t b = 0; b < 4; b++)
			if (b + 1 != last->lsn) {
				memcpy(want + m, r + b * 1000, 1000 * sizeof *r);
				m += 1000;
			}
		check_export(db, want, m);
		mx_db_stats st;
		mx_db_stats_get(db, &st);
		assert_int_equal(st.samples, 3000);
		/* Appends after the cut are kept. */
		push(db, r + 4000, 1000);
		close_db(&db);
		assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
		memcpy(want + m, r + 4000, 1000 * sizeof *r);
		check_export(db, want, m + 1000);
		close_db(&db);
		free(want);
	}
	/* A log of one file (wal.<gen>, before lanes) is read as lane 0, and a
	 * damaged record (not the first: it defines the series) ends that
	 * file only. */
	assert_true(nrec[0] >= 2);
	copy_dir(saved, crash);
	char from[200], to[200];
	snprintf(from, sizeof from, "%s/wal.1.0", crash);
	snprintf(to, sizeof to, "%s/wal.1", crash);
	assert_int_equal(rename(from, to), 0);
	int fd = open(to, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\xff", 1, rec[0][1].off + 16 + 3), 1);
	close(fd);
	cfg.dir = crash;
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	ref *want = malloc(4000 * sizeof *want);
	size_t m = 0;
	for (uint64_t b = 0; b < 4; b++)
		if (b + 1 != rec[0][1].lsn) {
			memcpy(want + m, r + b * 1000, 1000 * sizeof *r);
			m += 1000;
		}
	check_export(db, want, m);
	close_db(&db);
	free(want);
	free(r);
}

/* ---- Limits and retention ------------------------------------------- */

static void test_max_series(void **state)
{
	(void)state;
	mx_db *db = open_db(5);
	ref r[6];
	for (int i = 0; i < 6; i++)
		r[i] = (ref){ i % 3, i / 3, 0, 1700000000000LL + i, i };
	push(db, r, 4);
	/* Two more series would make six: refused, nothing stored. */
	mx_batch *b = mx_batch_new();
	char err[128];
	for (int i = 0; i < 6; i++) {
		mx_tag t[2] = { { "host", hosts[r[i].host] }, { "model", models[r[i].model] } };
		assert_int_equal(mx_batch_add(b, agents[r[i].agent], "lat", r[i].ts + 1000, 1, t, 2,
					      err, sizeof err), 0);
	}
	assert_int_equal(mx_db_append(db, b), -EUSERS);
	mx_batch_free(&b);
	check_export(db, r, 4);
	push(db, r + 4, 1); /* the fifth fits */
	check_export(db, r, 5);
	close_db(&db);
}

/* Series interleaved within batches (a series met again later in the
 * batch is resolved by the append's cache of the batch's pointers), new
 * series among known ones, the same series in several batches: every
 * sample lands in its own series. */
static void test_interleaved(void **state)
{
	(void)state;
	mx_db *db = open_db(0);
	enum { N = 3 * 18 * 7 };
	ref r[N];
	for (int i = 0; i < N; i++) {
		int k = i % 18, round = i / 18;
		/* Batch 2 adds the series of agent a3 (k >= 12). */
		if (round < 7 && k >= 12) {
			k -= 6;
		}
		r[i] = (ref){ k / 6, k % 2, k / 2 % 3, 1700000000000LL + round * 1000 + k,
			      (double)i };
	}
	push(db, r, N / 3);
	push(db, r + N / 3, N / 3);
	push(db, r + 2 * N / 3, N / 3);
	check_export(db, r, N);
	close_db(&db);
	db = open_db(0);
	check_export(db, r, N);
	close_db(&db);
}

static void test_retention(void **state)
{
	(void)state;
	int64_t day = MX_DAY_MS, t0 = 19000 * day;
	mx_db_config cfg = { .dir = dir, .retention_ms = 2 * day };
	mx_db *db = NULL;
	char err[256];
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	ref r[5];
	for (int i = 0; i < 5; i++)
		r[i] = (ref){ 0, 0, 0, t0 + i * day + 1000, i };
	push(db, r, 5);
	assert_int_equal(mx_db_flush(db), 0);
	/* now = day 4 + 1 h: days 0 and 1 end more than 2 days ago. */
	assert_int_equal(mx_db_retain(db, t0 + 4 * day + 3600000), 0);
	check_export(db, r + 2, 3);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, 3);
	close_db(&db);
	assert_int_equal(open_cfg(&cfg, &db, err, sizeof err), 0);
	check_export(db, r + 2, 3);
	close_db(&db);
}

/* ---- Concurrency ---------------------------------------------------- */

typedef struct thr {
	mx_db *db;
	int id;
} thr;

static void *appender(void *arg)
{
	thr *t = arg;
	for (int i = 0; i < 200; i++) {
		ref r = { t->id % 3, t->id % 2, t->id % 3, 1700000000000LL + i * 1000, t->id * 1000 + i };
		push(t->db, &r, 1);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	(void)state;
	mx_db *db = open_db(0);
	/* Both lanes in turn (other tests run on one while the disk is fast),
	 * a checkpoint rotating them meanwhile. */
	db->lane_min_us = 0;
	enum { T = 16 };
	pthread_t th[T];
	thr a[T];
	for (int i = 0; i < T; i++) {
		a[i] = (thr){ db, i };
		pthread_create(&th[i], NULL, appender, &a[i]);
	}
	/* Queries meanwhile see consistent data (no crash, no error). */
	for (int k = 0; k < 20; k++) {
		qout o = { 0 };
		mx_filter f = { .metric = "lat", .from_ms = 1700000000000LL - 60000,
				.to_ms = 1700000000000LL + 600000 };
		assert_int_equal(mx_db_query(db, &f, 60000, MX_COUNT, NULL, 0, collect, &o), 0);
		free(o.r);
		if (k == 10)
			assert_int_equal(mx_db_flush(db), 0);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, T * 200);
	qout o = { 0 };
	mx_filter f = { .metric = "lat", .from_ms = 1700000000000LL - 60000,
			.to_ms = 1700000000000LL + 600000 };
	assert_int_equal(mx_db_query(db, &f, 3600000, MX_COUNT, NULL, 0, collect, &o), 0);
	double total = 0;
	for (size_t i = 0; i < o.n; i++)
		total += o.r[i].v;
	assert_true(total == T * 200);
	free(o.r);
	close_db(&db);
}

/* Callbacks of local appends: how many ran, the last error, whether one
 * ran on another thread than the one that appended. */
typedef struct lcb {
	int calls, rc, elsewhere;
	pthread_t th;
	sem_t sem;
} lcb;

static void local_cb(void *ctx, int rc)
{
	lcb *c = ctx;
	c->calls++;
	if (rc)
		c->rc = rc;
	if (!pthread_equal(pthread_self(), c->th))
		c->elsewhere = 1;
	sem_post(&c->sem);
}

/* A thread committing its own groups: 20 of 8 batches of 10 samples. */
typedef struct lthr {
	mx_db *db;
	int id, bad;
} lthr;

enum { LG = 20, LB = 8 };

static void *local_appender(void *arg)
{
	lthr *t = arg;
	lcb c = { .th = pthread_self() };
	sem_init(&c.sem, 0, 0);
	for (int g = 0; g < LG; g++) {
		mx_batch *b[LB];
		for (int k = 0; k < LB; k++) {
			ref r[10];
			for (int i = 0; i < 10; i++)
				r[i] = (ref){ t->id % 3, 1, k % 3,
					      1700000000000LL + (g * LB * 10 + k * 10 + i) * 1000,
					      t->id * 1e6 + g * LB * 10 + k * 10 + i };
			b[k] = batch_of(r, 10);
			if (mx_db_append_local(t->db, b[k], local_cb, &c) != 1)
				t->bad = 1;
		}
		int before = c.calls;
		mx_db_commit_local(t->db);
		if (before != g * LB || c.calls != (g + 1) * LB)
			t->bad = 1;
		for (int k = 0; k < LB; k++)
			mx_batch_free(&b[k]);
	}
	if (c.rc || c.elsewhere)
		t->bad = 1;
	sem_destroy(&c.sem);
	return NULL;
}

/* Appends locally n batches of per samples from r on, commits, and checks
 * where the callbacks ran: here, before the commit returned (mine), or on
 * the writer's thread. */
static void local_round(mx_db *db, const ref *r, int n, size_t per, int mine)
{
	lcb c = { .th = pthread_self() };
	sem_init(&c.sem, 0, 0);
	mx_batch **b = calloc((size_t)n, sizeof *b);
	for (int k = 0; k < n; k++) {
		b[k] = batch_of(r + (size_t)k * per, per);
		assert_int_equal(mx_db_append_local(db, b[k], local_cb, &c), 1);
	}
	assert_int_equal(c.calls, 0);
	mx_db_commit_local(db);
	if (mine)
		assert_int_equal(c.calls, n);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	for (int k = 0; k < n; k++)
		assert_int_equal(sem_timedwait(&c.sem, &dl), 0);
	assert_int_equal(c.calls, n);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.elsewhere, !mine);
	for (int k = 0; k < n; k++)
		mx_batch_free(&b[k]);
	free(b);
	sem_destroy(&c.sem);
}

/* mx_db_append_local: batches wait in the calling thread's own group (not
 * applied, their callbacks not run) until that thread commits them: as
 * one group on its own thread, running the callbacks before it returns,
 * or, for a group of few requests or many samples, through the writer.
 * With threads appending through the writer meanwhile and a checkpoint
 * rotating the log, a crash keeps every acknowledged sample. A thread
 * holding a group of one store queues another store's batch for that
 * store's writer. */
static void test_local_groups(void **state)
{
	(void)state;
	mx_db *db = open_db(0);
	db->lane_min_us = 0;
	int64_t t0 = 1700000000000LL;
	ref *r = make_samples(4000, t0);
	lcb c = { .th = pthread_self() };
	sem_init(&c.sem, 0, 0);
	mx_batch *b[2];
	mx_batch *empty = mx_batch_new();
	assert_int_equal(mx_db_append_local(db, empty, local_cb, &c), 0);
	b[0] = batch_of(r, 10);
	assert_int_equal(mx_db_append_local(db, b[0], local_cb, &c), 1);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, 0); /* not before the commit */
	mx_db_commit_local(db);
	assert_int_equal(sem_wait(&c.sem), 0); /* one request: the writer's */
	mx_batch_free(&b[0]);
	local_round(db, r + 10, 10, 20, 1);     /* 10 requests, 200 samples: here */
	local_round(db, r + 210, 3, 20, 0);     /* 3 requests: the writer */
	local_round(db, r + 270, 10, 200, 0);   /* 2,000 samples: the writer */
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, 2270);
	mx_db_commit_local(db); /* nothing left: nothing happens */

	enum { T = 4, L = 2 };
	pthread_t th[T + L];
	thr a[T];
	lthr l[L];
	for (int i = 0; i < T; i++) {
		a[i] = (thr){ db, i };
		pthread_create(&th[i], NULL, appender, &a[i]);
	}
	for (int i = 0; i < L; i++) {
		l[i] = (lthr){ db, 10 + i, 0 };
		pthread_create(&th[T + i], NULL, local_appender, &l[i]);
	}
	assert_int_equal(mx_db_flush(db), 0);
	for (int i = 0; i < T + L; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < L; i++)
		assert_int_equal(l[i].bad, 0);
	size_t total = 2270 + T * 200 + L * LG * LB * 10;
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, total);

	/* A group for db held, a batch for another store goes to its writer. */
	char sub[96];
	snprintf(sub, sizeof sub, "%s/other", dir);
	mx_db_config cfg2 = { .dir = sub };
	mx_db *db2 = NULL;
	char err[256];
	assert_int_equal(mx_db_open(&cfg2, NULL, &db2, err, sizeof err), 0);
	b[0] = batch_of(r, 10);
	b[1] = batch_of(r + 10, 10);
	sem_destroy(&c.sem);
	c = (lcb){ .th = pthread_self() };
	sem_init(&c.sem, 0, 0);
	assert_int_equal(mx_db_append_local(db, b[0], local_cb, &c), 1);
	assert_int_equal(mx_db_append_local(db2, b[1], local_cb, &c), 1);
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	assert_int_equal(sem_timedwait(&c.sem, &dl), 0); /* db2's, without a commit */
	assert_int_equal(c.elsewhere, 1);
	mx_db_commit_local(db2); /* not this thread's group's store */
	assert_int_equal(c.calls, 1);
	mx_db_commit_local(db); /* one request: through the writer too */
	assert_int_equal(sem_timedwait(&c.sem, &dl), 0);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.rc, 0);
	sem_destroy(&c.sem);
	mx_db_free(&db2);
	for (int k = 0; k < 2; k++)
		mx_batch_free(&b[k]);
	mx_batch_free(&empty);

	/* A broken log refuses a group either way, with every callback run
	 * here, and keeps nothing of it. */
	atomic_store(&db->broken, 1);
	for (int n = 1; n <= 10; n += 9) {
		c = (lcb){ .th = pthread_self() };
		sem_init(&c.sem, 0, 0);
		mx_batch *e[10];
		for (int k = 0; k < n; k++) {
			e[k] = batch_of(r + 3000 + k, 1);
			assert_int_equal(mx_db_append_local(db, e[k], local_cb, &c), 1);
		}
		mx_db_commit_local(db);
		assert_int_equal(c.calls, n);
		assert_int_equal(c.rc, -EIO);
		assert_int_equal(c.elsewhere, 0);
		for (int k = 0; k < n; k++)
			mx_batch_free(&e[k]);
		sem_destroy(&c.sem);
	}
	crash_db(&db);
	db = open_db(0);
	mx_db_stats_get(db, &st);
	assert_int_equal(st.samples, total + 10);
	close_db(&db);
	free(r);
}

/* mx_fmt_double (the query and export answers' numbers) against the
 * shortest of %.15g..%.17g that reads back, its definition. */
static void fmt_ref(double v, char out[32])
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			return;
	}
}

static void test_fmt_double(void **state)
{
	(void)state;
	uint64_t x = 0x243f6a8885a308d3ULL;
	static const double fixed[] = { 1, -1, 0.1, 0.2, 0.3, 100, 98.56, 1e-5, 9.99999e-5, 1e-4,
					0.0001234, 123456789012345.0, 99999999999999.98,
					9999999999999.999, 0.5, 4503599627370496.0, 7.62939453125e-06,
					1e13, 1e14, 0, -0.0, 1e300, 5e-324, 2.2250738585072014e-308 };
	char got[32], want[32];
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
		mx_fmt_double(fixed[i], got);
		fmt_ref(fixed[i], want);
		assert_string_equal(got, want);
	}
	for (int i = 0; i < 300000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		switch (i % 4) {
		case 0: /* any bits */
			memcpy(&v, &x, sizeof v);
			break;
		case 1: /* decimals, as pushed */
			v = (double)(int64_t)(x % 2000000000) / mx_p10[x >> 60 & 7] - 1e6;
			break;
		case 2: /* quotients, as averages */
			v = (double)(x % 100000007) / (double)(1 + (x >> 40) % 997);
			break;
		default: /* every magnitude the integer way serves, and its edges */
			v = ldexp((double)(x >> 11) / 9007199254740992.0 + 0.5, (int)(x % 70) - 20);
			if (x >> 63)
				v = -v;
			break;
		}
		if (!isfinite(v))
			continue;
		mx_fmt_double(v, got);
		fmt_ref(v, want);
		if (strcmp(got, want))
			fail_msg("%.17g: got %s, want %s", v, got, want);
	}
}

static void test_agg_names(void **state)
{
	(void)state;
	enum mx_agg a;
	for (int i = MX_AVG; i <= MX_P99; i++) {
		assert_int_equal(mx_agg_parse(mx_agg_name((enum mx_agg)i), &a), 0);
		assert_int_equal(a, i);
	}
	assert_int_equal(mx_agg_parse("p42", &a), -EINVAL);
	assert_int_equal(mx_agg_parse(NULL, &a), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gorilla),
		cmocka_unit_test(test_sketch),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_agg_names),
		cmocka_unit_test(test_fmt_double),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_seal_sooner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_quoted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interleaved, setup, teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_local_groups, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
