/* How long a metrics checkpoint keeps the store's writers waiting (not a
 * test). On PostgreSQL every write transaction takes one advisory lock
 * first (src/store/pg.c), the scheduler's included, so a checkpoint that
 * writes every changed series in one transaction stalls chunk dispatch
 * for as long as it runs (docs/scaling.md, 10k agents).
 *
 * Fills NSERIES series with POINTS points each, then checkpoints twice
 * (first: every series and head new; second: one more point in every
 * series, so every head row is rewritten, the steady state) while a
 * prober thread begins and commits an empty write transaction every
 * millisecond on its own connection, as the scheduler's writer does.
 * Prints each checkpoint's time and the prober's longest wait.
 *
 *   make BUILD=build BIN=sentinel WEB=0 build/libsentinel.a
 *   cc -O2 -std=gnu17 -D_GNU_SOURCE -Isrc -Ibuild/gen -pthread -o build/mx_ckpt \
 *      bench/mx_ckpt.c build/libsentinel.a $(pkg-config --libs jansson libsodium \
 *      libprotobuf-c) -lm -ldl
 *   build/mx_ckpt URL DIR [NSERIES] [POINTS]   (URL: postgres://… or sqlite:PATH,
 *                                                or own: the metrics' own file
 *                                                DIR/blocks.db, as a server on
 *                                                SQLite has it, and no prober;
 *                                                DIR: an empty scratch directory)
 *
 * Steady state (what a checkpoint writes as heads grow, docs/scaling.md):
 *
 *   build/mx_ckpt URL DIR steady NSERIES PPC CYCLES full|seal
 *
 * runs CYCLES rounds of PPC points a series (10 s apart, within one day)
 * and a checkpoint, and prints per tenth of the rounds the mean time and
 * bytes a checkpoint wrote (PostgreSQL: WAL bytes, pg_current_wal_lsn;
 * own: bytes this process wrote, /proc/self/io wchar), then the blocks
 * stored. full: heads seal only when full (4,096 points) or at the day's
 * end, as before 2026-11-28; seal: as the store does (MX_SEAL_WRITES,
 * MX_SEAL_MIN). Run each with its own DIR and database. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "metrics/mx.h"
#include "metrics/mx_db_int.h"
#include "store/store.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static store *st;
static atomic_int probing;
static double worst_s;
static long probes;

static void *prober(void *arg)
{
	(void)arg;
	store_conn *c = NULL;
	if (store_acquire(st, &c)) {
		fprintf(stderr, "prober: no connection\n");
		return NULL;
	}
	while (atomic_load(&probing)) {
		double t0 = now_s();
		if (store_begin(c) || store_commit(c)) {
			fprintf(stderr, "prober: %s\n", store_errmsg(c));
			store_rollback(c);
		}
		double w = now_s() - t0;
		worst_s = w > worst_s ? w : worst_s;
		probes++;
		usleep(1000);
	}
	store_release(&c);
	return NULL;
}

static void fill(mx_db *db, unsigned nseries, unsigned points, int64_t t0)
{
	mx_batch *b = mx_batch_new();
	char err[128], agent[32], metric[32];
	for (unsigned p = 0; p < points; p++)
		for (unsigned s = 0; s < nseries; s++) {
			snprintf(agent, sizeof agent, "agent-%u", s / 20);
			snprintf(metric, sizeof metric, "m%u", s % 20);
			mx_tag tag = { "model", "gpt-4o" };
			if (mx_batch_add(b, agent, metric, t0 + (int64_t)p * 10000, (double)(p % 97),
					 &tag, 1, err, sizeof err)) {
				fprintf(stderr, "mx_batch_add: %s\n", err);
				exit(1);
			}
			if (mx_batch_len(b) == 10000) {
				if (mx_db_append(db, b)) {
					fprintf(stderr, "mx_db_append failed\n");
					exit(1);
				}
				mx_batch_free(&b);
				b = mx_batch_new();
			}
		}
	if (mx_batch_len(b) && mx_db_append(db, b)) {
		fprintf(stderr, "mx_db_append failed\n");
		exit(1);
	}
	mx_batch_free(&b);
}

static void checkpoint(mx_db *db, const char *what)
{
	pthread_t t;
	worst_s = 0;
	probes = 0;
	atomic_store(&probing, 1);
	if (st)
		pthread_create(&t, NULL, prober, NULL);
	usleep(20000);
	double t0 = now_s();
	int rc = mx_db_checkpoint(db);
	double dt = now_s() - t0;
	usleep(20000);
	atomic_store(&probing, 0);
	if (st)
		pthread_join(t, NULL);
	printf("| %s | %d | %.0f | %.1f | %ld |\n", what, rc, dt * 1000, worst_s * 1000, probes);
}

/* Bytes written so far: the cluster's WAL position, or this process's
 * write calls (the metrics' own SQLite file). */
static double written_bytes(void)
{
	if (st) {
		store_conn *c = NULL;
		store_rows *r = NULL;
		double b = -1;
		if (store_acquire(st, &c) == 0 &&
		    store_query(c, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", &r, SNOARGS) == 0 &&
		    store_rows_next(r) == 1)
			b = store_rows_double(r, 0);
		store_rows_free(&r);
		store_release(&c);
		return b;
	}
	FILE *f = fopen("/proc/self/io", "r");
	char line[128];
	double b = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "wchar:", 6) == 0)
			b = atof(line + 6);
	if (f)
		fclose(f);
	return b;
}

/* Block rows stored, their bytes (points, rollups, sketches) and points. */
static void stored(mx_db *db, const char *url)
{
	store *s = st;
	char err[256] = "", path[4096];
	if (!s) {
		snprintf(path, sizeof path, "sqlite:%s/blocks.db", url);
		store_opts so = { .pool_size = 1 };
		if (store_open(path, &so, &s, err, sizeof err)) {
			fprintf(stderr, "store_open: %s\n", err);
			return;
		}
	}
	(void)db;
	store_conn *c = NULL;
	store_rows *r = NULL;
	double rows = 0, bytes = 0, pts = 0;
	int64_t days[64];
	size_t nd = 0;
	if (store_acquire(s, &c) == 0 && store_query(c, "SELECT day FROM mx_parts", &r, SNOARGS) == 0)
		while (store_rows_next(r) == 1 && nd < 64)
			days[nd++] = store_rows_int(r, 0);
	store_rows_free(&r);
	for (size_t i = 0; i <= nd && c; i++) {
		char t[32], sql[256];
		if (i < nd)
			mx_db_part_name(days[i], t, sizeof t);
		else
			snprintf(t, sizeof t, "mx_heads");
		snprintf(sql, sizeof sql, "SELECT count(*), coalesce(sum(length(raw) + length(roll) +"
			 " coalesce(length(sk), 0)), 0), coalesce(sum(n), 0) FROM %s", t);
		r = NULL;
		if (store_query(c, sql, &r, SNOARGS) == 0 && store_rows_next(r) == 1) {
			rows += store_rows_double(r, 0);
			bytes += store_rows_double(r, 1);
			pts += store_rows_double(r, 2);
		}
		store_rows_free(&r);
	}
	store_release(&c);
	if (s != st)
		store_free(&s);
	printf("# stored: %.0f block rows (heads included), %.0f points, %.2f bytes a point"
	       " (points, rollups and sketches), %.0f points a row\n",
	       rows, pts, pts ? bytes / pts : 0, rows ? pts / rows : 0);
}

static int steady(mx_db *db, const char *dir, unsigned nseries, unsigned ppc, unsigned cycles)
{
	int64_t day = 86400000;
	int64_t t0 = ((int64_t)time(NULL) * 1000 / day - 1) * day;
	if ((int64_t)cycles * ppc * 10000 >= day) {
		fprintf(stderr, "steady: CYCLES x PPC x 10 s must stay within a day\n");
		return 2;
	}
	printf("# %s: %u series, %u points a series a checkpoint, %u checkpoints; heads %s\n",
	       st ? store_backend(st) : "own SQLite file", nseries, ppc, cycles,
	       mx_db_seal_writes == UINT_MAX ? "sealed when full" : "sealed sooner");
	printf("| checkpoints | head points (last) | ms a checkpoint | KB written a checkpoint |\n"
	       "| --- | ---: | ---: | ---: |\n");
	unsigned step = cycles >= 10 ? cycles / 10 : 1;
	double ms = 0, bytes = 0, tot_ms = 0, tot_b = 0;
	for (unsigned k = 0; k < cycles; k++) {
		fill(db, nseries, ppc, t0 + (int64_t)k * ppc * 10000);
		double b0 = written_bytes(), a = now_s();
		if (mx_db_checkpoint(db)) {
			fprintf(stderr, "checkpoint %u failed\n", k);
			return 1;
		}
		double dt = (now_s() - a) * 1000, db_ = written_bytes() - b0;
		ms += dt;
		bytes += db_;
		tot_ms += dt;
		tot_b += db_;
		if ((k + 1) % step == 0 || k + 1 == cycles) {
			unsigned n = (k % step) + 1;
			mx_series *s = mx_db_series(db, 1);
			printf("| %u-%u | %zu | %.1f | %.0f |\n", k + 2 - n, k + 1, s ? s->head.n : 0,
			       ms / n, bytes / n / 1024);
			ms = bytes = 0;
		}
	}
	printf("# all %u checkpoints: %.0f ms, %.1f MB written (%.1f bytes a point pushed)\n", cycles,
	       tot_ms, tot_b / 1048576, tot_b / ((double)cycles * ppc * nseries));
	stored(db, dir);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mx_ckpt URL DIR [NSERIES] [POINTS]\n");
		return 2;
	}
	int stdy = argc > 3 && strcmp(argv[3], "steady") == 0;
	if (stdy && (argc != 8 || (strcmp(argv[7], "full") && strcmp(argv[7], "seal")))) {
		fprintf(stderr, "usage: mx_ckpt URL DIR steady NSERIES PPC CYCLES full|seal\n");
		return 2;
	}
	int a = stdy ? 4 : 3; /* NSERIES */
	unsigned nseries = argc > a ? (unsigned)atoi(argv[a]) : 10000;
	unsigned points = argc > a + 1 ? (unsigned)atoi(argv[a + 1]) : 100;
	if (stdy && strcmp(argv[7], "full") == 0)
		mx_db_seal_writes = UINT_MAX;
	char err[256] = "";
	store_opts so = { .pool_size = 4 };
	if (strcmp(argv[1], "own") && store_open(argv[1], &so, &st, err, sizeof err)) {
		fprintf(stderr, "store_open: %s\n", err);
		return 1;
	}
	mx_db_config cfg = { .dir = argv[2] };
	mx_db *db = NULL;
	if (mx_db_open(&cfg, st, &db, err, sizeof err)) {
		fprintf(stderr, "mx_db_open: %s\n", err);
		return 1;
	}
	if (stdy) {
		int rc = steady(db, argv[2], nseries, points, (unsigned)atoi(argv[6]));
		mx_db_free(&db);
		store_free(&st);
		return rc;
	}
	int64_t t0 = ((int64_t)time(NULL) - 86400) * 1000;
	fill(db, nseries, points, t0);
	printf("# %s: %u series x %u points\n", st ? store_backend(st) : "own SQLite file", nseries,
	       points);
	printf("| checkpoint | rc | ms | longest writer wait, ms | probes |\n| --- | ---: | ---: | ---: | ---: |\n");
	checkpoint(db, "first (new series and heads)");
	fill(db, nseries, 1, t0 + (int64_t)points * 10000);
	checkpoint(db, "second (every head rewritten)");
	mx_db_free(&db);
	store_free(&st);
	return 0;
}
