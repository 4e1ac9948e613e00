/* Metrics: batches of samples (what the parsers produce) and the metrics
 * store (what keeps, queries and exports them). docs/metrics.md is the
 * contract; the store's layout and its invariants are at the top of
 * mx_db.c.
 *
 * Ownership: strings returned or passed to callbacks are borrowed for the
 * call; everything a function allocates is freed by its _free. */
#ifndef SN_MX_H
#define SN_MX_H
#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

#define MX_NAME_MAX 128     /* agent and metric names: [A-Za-z0-9_.:-]{1,128} */
#define MX_TAG_KEY_MAX 64   /* [A-Za-z0-9_.-]{1,64}, "agent" reserved */
#define MX_TAG_VAL_MAX 256  /* UTF-8, no control bytes, may be empty */
#define MX_TAGS_MAX 16

typedef struct mx_tag {
	const char *k, *v;
} mx_tag;

/* One sample. Tags are sorted by key, keys unique. */
typedef struct mx_sample {
	const char *agent;
	const char *metric;
	int64_t ts_ms;
	double value; /* finite */
	const mx_tag *tags;
	unsigned ntags;
} mx_sample;

/* ---- Batches (mx_batch.c) ------------------------------------------- */

/* A request's samples, validated and copied into the batch's own arena. */
typedef struct mx_batch mx_batch;

mx_batch *mx_batch_new(void);
void mx_batch_free(mx_batch **b);
/* Validates names, tags and value, copies everything, sorts the tags.
 * -EINVAL with why (a short phrase naming the field, e.g. "tags: key
 * \"a b\" has a space") in err; -E2BIG past MX_BATCH_MAX samples. */
#define MX_BATCH_MAX 100000
int mx_batch_add(mx_batch *b, const char *agent, const char *metric, int64_t ts_ms,
		 double value, const mx_tag *tags, unsigned ntags, char *err, size_t errlen);
/* The same for a sample of the agent and tags of like, an earlier sample
 * of b (or a copy of one), and of metric: only the metric, the value and
 * the count are checked. For parsers that met the tags before in the same
 * request. */
int mx_batch_add_like(mx_batch *b, const mx_sample *like, const char *metric, int64_t ts_ms,
		      double value, char *err, size_t errlen);
size_t mx_batch_len(const mx_batch *b);
/* The distinct agents of b's samples, in the order they first appear
 * (the batch's copies); *n gets how many. */
const char *const *mx_batch_agents(const mx_batch *b, size_t *n);
/* The hash the store keys a series by (agent, metric, tags sorted by key);
 * mx_batch_series_hash gives the same for a sample of a batch (x from
 * mx_batch_get or a copy) without reading its strings. */
uint64_t mx_series_hash(const char *agent, const char *metric, const mx_tag *tags, unsigned n);
uint64_t mx_batch_series_hash(const mx_sample *x);
const mx_sample *mx_batch_get(const mx_batch *b, size_t i);
/* 1 when name is a valid agent or metric name. */
int mx_name_ok(const char *name);

/* ---- The store (mx_db*.c) ------------------------------------------- */

typedef struct mx_db mx_db;

typedef struct mx_db_config {
	const char *dir;          /* DATA/metrics: write-ahead log (and blocks, st NULL) */
	int64_t retention_ms;     /* 0: 30 days */
	uint64_t max_series;      /* 0: 100,000 */
	int group_commit_ms;      /* 0: 10 */
} mx_db_config;

/* Opens (and recovers: replays the write-ahead log) the store in cfg->dir.
 * st may be NULL (then blocks live in an SQLite file in dir) or a store
 * whose database gets the metrics tables (mx_series, mx_heads, mx_b_<day>
 * ...; one metrics store per database); the caller frees with
 * mx_db_free, which flushes what is in memory. */
int mx_db_open(const mx_db_config *cfg, store *st, mx_db **out, char *err, size_t errlen);
void mx_db_free(mx_db **db);

/* Appends every sample of b, and returns once they are durable (the group
 * holding them was fdatasync'ed): 0, -EUSERS (too many series: nothing
 * stored; HTTP 429 too_many_series), or an I/O error (nothing
 * acknowledged). Thread safe; concurrent callers share group commits. */
int mx_db_append(mx_db *db, const mx_batch *b);
/* The same without waiting: returns 1 when the batch was queued, and then
 * cb(ctx, rc) runs exactly once, on the log writer's thread, once the
 * group holding it is durable (rc 0) or failed; b must stay valid until
 * then. cb must be quick (the writer's next group waits for it) and must
 * not append. Returns 0 for an empty batch and a negative errno when
 * nothing was queued (cb is then never called). */
typedef void (*mx_append_cb)(void *ctx, int rc);
int mx_db_append_async(mx_db *db, const mx_batch *b, mx_append_cb cb, void *ctx);
/* The same, but the batch waits in this thread's own group until this
 * thread calls mx_db_commit_local(db), which writes and syncs that group
 * itself, as one, and runs the callbacks on this thread before it
 * returns (an event loop committing its turn's requests: no hand-off to
 * the writer and no wake-up back); a group of few requests or of many
 * samples is queued for the writer then instead, as mx_db_append_async
 * does (its callbacks run there). A thread holding
 * another db's group queues for the writer at once. The caller must
 * commit soon: nothing of the group is durable, or seen by queries,
 * before. */
int mx_db_append_local(mx_db *db, const mx_batch *b, mx_append_cb cb, void *ctx);
void mx_db_commit_local(mx_db *db);

enum mx_agg {
	MX_AVG, MX_MIN, MX_MAX, MX_SUM, MX_COUNT, MX_RATE, MX_P50, MX_P90, MX_P95, MX_P99,
};
/* "avg" … "p99" → 0, or -EINVAL. */
int mx_agg_parse(const char *s, enum mx_agg *out);
const char *mx_agg_name(enum mx_agg a);

/* A selection of series and a time range [from_ms, to_ms). */
typedef struct mx_filter {
	const char *metric;       /* NULL: every metric (export only) */
	const char *agent;        /* NULL: every agent */
	const mx_tag *tags;       /* equality filters, all must hold */
	unsigned ntags;
	int64_t from_ms, to_ms;
	/* Visibility: called once per agent met; 0 skips the agent's series.
	 * NULL: everything is visible. */
	int (*agent_ok)(void *ctx, const char *agent);
	void *agent_ctx;
} mx_filter;

typedef struct mx_point {
	int64_t ts_ms;
	double v;
} mx_point;

/* One result series. agent is NULL when agents were merged; tags are the
 * series' own (no by) or just the by-keys. */
typedef struct mx_result {
	const char *agent;
	const char *metric;
	const mx_tag *tags;
	unsigned ntags;
	const mx_point *pts; /* time order, empty buckets left out */
	size_t n;
} mx_result;

#define MX_QUERY_MAX_BUCKETS 10000
#define MX_QUERY_MAX_SERIES 10000

/* Aggregates the filter's series into buckets of step_ms (starting at
 * multiples of step_ms since the epoch). by: NULL (one result per series)
 * or tag keys to merge by ("agent" keeps agents apart). Calls cb once per
 * result series; a nonzero return from cb stops and is returned.
 * -EINVAL (bad step, too many buckets), -E2BIG (too many series). */
int mx_db_query(mx_db *db, const mx_filter *f, int64_t step_ms, enum mx_agg agg,
		const char *const *by, unsigned nby,
		int (*cb)(void *ctx, const mx_result *r), void *ctx);

/* Raw samples of the filter, series after series, each in time order (in
 * arrival order for equal times), exactly as appended. Streams: memory does
 * not grow with the answer. A nonzero return from cb stops and is
 * returned. */
int mx_db_export(mx_db *db, const mx_filter *f,
		 int (*cb)(void *ctx, const mx_sample *s), void *ctx);

/* The latest sample of every series of the filter (time range ignored). */
int mx_db_latest(mx_db *db, const mx_filter *f,
		 int (*cb)(void *ctx, const mx_sample *s), void *ctx);

/* Drops whole partitions older than the retention now. */
int mx_db_retain(mx_db *db, int64_t now_ms);
/* Moves what is in memory to blocks and truncates the log (tests, bench,
 * shutdown). */
int mx_db_flush(mx_db *db);

typedef struct mx_db_stats {
	/* bytes_on_disk: the files of dir (the blocks only when st was NULL). */
	uint64_t series, samples, bytes_on_disk, wal_bytes;
} mx_db_stats;
void mx_db_stats_get(mx_db *db, mx_db_stats *out);
#endif
