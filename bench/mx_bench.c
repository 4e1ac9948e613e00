/* In-process benchmark of the metrics store (not a test):
 *   batch      append in batches of 10,000 samples, samples/s (and with
 *              mx_batch_add's time counted too)
 *   single     64 threads appending one sample each time, appends/s
 *   query      a 1-minute avg over 4M samples of 50 series, median ms
 *   disk       bytes on disk per sample, 4M samples of 500 series at 1 s
 *              (counters and 2-decimal gauges), after mx_db_flush
 *
 *   make BUILD=build BIN=sentinel build/libsentinel.a
 *   cc -O2 -std=gnu17 -D_GNU_SOURCE -Isrc -Ibuild/gen -pthread -o build/mx_bench \
 *      bench/mx_bench.c build/libsentinel.a $(pkg-config --libs jansson libsodium \
 *      libprotobuf-c) -lm -ldl
 *   build/mx_bench [DIR] [MSAMPLES] [disk]  (DIR: scratch space, default /tmp;
 *                                           disk: batch and disk only)
 *   MX_BENCH_OLD_ROWS=1: rows as before sketches per 10 minutes (a baseline) */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "metrics/mx.h"
#include "metrics/mx_db_int.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static mx_db *open_in(const char *base, const char *name, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/mx_bench.%s", base, name);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		exit(1);
	mx_db_config cfg = { .dir = path, .max_series = 100000 };
	mx_db *db = NULL;
	char err[256];
	if (mx_db_open(&cfg, NULL, &db, err, sizeof err)) {
		fprintf(stderr, "mx_bench: %s\n", err);
		exit(1);
	}
	return db;
}

/* Series i: agent a<i/10>, metric m<i%10>, tags model and host; even ones
 * are counters, odd ones gauges with 2 decimals (a random walk). */
typedef struct gen {
	size_t nseries;
	double *val;
	char (*agent)[16], (*metric)[16], (*model)[16], (*host)[16];
} gen;

static void gen_init(gen *g, size_t nseries, int one_metric)
{
	g->nseries = nseries;
	g->val = calloc(nseries, sizeof *g->val);
	g->agent = calloc(nseries, sizeof *g->agent);
	g->metric = calloc(nseries, sizeof *g->metric);
	g->model = calloc(nseries, sizeof *g->model);
	g->host = calloc(nseries, sizeof *g->host);
	for (size_t i = 0; i < nseries; i++) {
		snprintf(g->agent[i], 16, "a%zu", one_metric ? i : i / 10);
		snprintf(g->metric[i], 16, "m%zu", one_metric ? 0 : i % 10);
		snprintf(g->model[i], 16, "model%zu", i % 3);
		snprintf(g->host[i], 16, "h%zu", i % 7);
		g->val[i] = i % 2 ? 50 : 1000;
	}
}

static double gen_next(gen *g, size_t i)
{
	if (i % 2 == 0)
		return g->val[i] += (double)(rnd() % 50);
	double v = g->val[i] + ((double)(rnd() % 41) - 20) / 100;
	v = v < 0 ? -v : v > 100 ? 200 - v : v;
	return g->val[i] = round(v * 100) / 100;
}

/* Appends total samples, series after series within each second; *built:
 * the seconds spent building batches (NULL: not counted). */
static double fill(mx_db *db, gen *g, size_t total, size_t batch, int64_t t0, double *built)
{
	double spent = 0, b0;
	size_t done = 0;
	int64_t sec = 0;
	char err[128];
	while (done < total) {
		b0 = now_s();
		mx_batch *b = mx_batch_new();
		for (size_t k = 0; k < batch && done < total; k++, done++) {
			size_t i = done % g->nseries;
			if (i == 0 && done)
				sec++;
			mx_tag t[2] = { { "host", g->host[i] }, { "model", g->model[i] } };
			mx_batch_add(b, g->agent[i], g->metric[i], t0 + sec * 1000, gen_next(g, i), t, 2,
				     err, sizeof err);
		}
		double s = now_s();
		if (built)
			*built += s - b0;
		if (mx_db_append(db, b)) {
			fprintf(stderr, "mx_bench: append failed\n");
			exit(1);
		}
		spent += now_s() - s;
		mx_batch_free(&b);
	}
	return spent;
}

typedef struct thr {
	mx_db *db;
	int id, n;
} thr;

static void *single(void *arg)
{
	thr *t = arg;
	char agent[16], err[128];
	snprintf(agent, sizeof agent, "s%d", t->id);
	for (int i = 0; i < t->n; i++) {
		mx_batch *b = mx_batch_new();
		mx_batch_add(b, agent, "lat", 1700000000000LL + i, i, NULL, 0, err, sizeof err);
		if (mx_db_append(t->db, b))
			exit(1);
		mx_batch_free(&b);
	}
	return NULL;
}

static int count_pts(void *ctx, const mx_result *r)
{
	*(size_t *)ctx += r->n;
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	const char *base = argc > 1 ? argv[1] : "/tmp";
	const char *old = getenv("MX_BENCH_OLD_ROWS");
	mx_db_old_rows = old && strcmp(old, "1") == 0;
	size_t total = (size_t)((argc > 2 ? atof(argv[2]) : 4) * 1e6);
	char path[512];
	int64_t t0 = 1700000000000LL / 3600000 * 3600000;

	/* batch */
	gen g;
	gen_init(&g, 500, 0);
	mx_db *db = open_in(base, "batch", path, sizeof path);
	double built = 0;
	double s = fill(db, &g, total, 10000, t0, &built);
	printf("batch\t%.0f samples/s (%zu in batches of 10000); with building the batches"
	       " %.0f samples/s\n", (double)total / s, total, (double)total / (s + built));
	double f0 = now_s();
	mx_db_flush(db);
	printf("flush\t%.2f s\n", now_s() - f0);
	mx_db_stats st;
	mx_db_stats_get(db, &st);
	printf("disk\t%.3f bytes/sample (%llu bytes, %llu samples, 500 series at 1 s)\n",
	       (double)st.bytes_on_disk / (double)st.samples, (unsigned long long)st.bytes_on_disk,
	       (unsigned long long)st.samples);
	mx_db_free(&db);
	if (argc > 3 && strcmp(argv[3], "disk") == 0)
		return 0;

	/* single */
	db = open_in(base, "single", path, sizeof path);
	enum { T = 64, PER = 400 };
	pthread_t th[T];
	thr a[T];
	s = now_s();
	for (int i = 0; i < T; i++) {
		a[i] = (thr){ db, i, PER };
		pthread_create(&th[i], NULL, single, &a[i]);
	}
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	printf("single\t%.0f appends/s (64 threads, one sample each)\n", T * PER / (now_s() - s));
	mx_db_free(&db);

	/* query */
	gen q;
	gen_init(&q, 50, 1);
	db = open_in(base, "query", path, sizeof path);
	fill(db, &q, total, 10000, t0, NULL);
	mx_db_flush(db);
	int64_t secs = (int64_t)(total / 50);
	mx_filter f = { .metric = NULL, .from_ms = t0, .to_ms = t0 + (secs / 60 + 1) * 60000 };
	/* 50 series of one metric; "lat" odd ones are gauges, even counters. */
	double ms[15];
	f.metric = "m0";
	size_t pts = 0;
	for (int k = 0; k < 15; k++) {
		pts = 0;
		double q0 = now_s();
		mx_db_query(db, &f, 60000, MX_AVG, NULL, 0, count_pts, &pts);
		ms[k] = (now_s() - q0) * 1000;
	}
	qsort(ms, 15, sizeof *ms, cmp_d);
	double p0 = now_s();
	mx_db_query(db, &f, 60000, MX_P99, NULL, 0, count_pts, &pts);
	double p99 = (now_s() - p0) * 1000;
	f.from_ms += 1;
	p0 = now_s();
	mx_db_query(db, &f, 60000, MX_AVG, NULL, 0, count_pts, &pts);
	double raw = (now_s() - p0) * 1000;
	printf("query\t%.2f ms median of 15, 1-minute avg over 50 series (%zu samples, %zu points out);"
	       " p99 %.1f ms; unaligned (raw points) %.1f ms\n", ms[7], total, pts, p99, raw);
	mx_db_free(&db);
	return 0;
}
