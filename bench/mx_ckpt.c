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
 *                                                DIR: an empty scratch directory) */
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

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: mx_ckpt URL DIR [NSERIES] [POINTS]\n");
		return 2;
	}
	unsigned nseries = argc > 3 ? (unsigned)atoi(argv[3]) : 10000;
	unsigned points = argc > 4 ? (unsigned)atoi(argv[4]) : 100;
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
