/* Internals shared by the metrics store's files: the block codec
 * (mx_gorilla.c), rollups and quantile sketches (mx_sketch.c), the log
 * (mx_db_wal.c), the writer of blocks (mx_db_flush.c), queries
 * (mx_db_query.c) and the core (mx_db.c, whose top comment gives the
 * design and its invariants). */
#ifndef SN_MX_DB_INT_H
#define SN_MX_DB_INT_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "metrics/mx.h"

/* ---- Byte buffers and varints --------------------------------------- */

typedef struct mx_bytes {
	uint8_t *p;
	size_t len, cap;
} mx_bytes;

/* The writers are inline: the log record and the codecs put a few bytes
 * a call, millions of times a second; only growing calls out. */
void mx_bytes_grow(mx_bytes *b, size_t more);
static inline void mx_bytes_reserve(mx_bytes *b, size_t more)
{
	if (b->len + more > b->cap)
		mx_bytes_grow(b, more);
}
void mx_bytes_put(mx_bytes *b, const void *p, size_t n);
void mx_bytes_release(mx_bytes *b);
static inline void mx_put_uvar(mx_bytes *b, uint64_t v)
{
	mx_bytes_reserve(b, 10);
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}
static inline uint64_t mx_zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t mx_unzz(uint64_t z) { return (int64_t)(z >> 1) ^ -(int64_t)(z & 1); }
static inline void mx_put_svar(mx_bytes *b, int64_t v) { mx_put_uvar(b, mx_zz(v)); }

/* A reader over a byte range; err is set once anything is read past the
 * end or malformed, and every later read gives 0. */
typedef struct mx_rd {
	const uint8_t *p, *end;
	int err;
} mx_rd;
uint64_t mx_get_uvar(mx_rd *r);
static inline int64_t mx_get_svar(mx_rd *r) { return mx_unzz(mx_get_uvar(r)); }
uint8_t mx_get_u8(mx_rd *r);
double mx_get_f64(mx_rd *r);
/* Little-endian, whatever the host's order. */
static inline void mx_put_f64(mx_bytes *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	mx_bytes_reserve(b, 8);
	for (int i = 0; i < 8; i++)
		b->p[b->len + (size_t)i] = (uint8_t)(u >> (8 * i));
	b->len += 8;
}

/* ---- Blocks of points (mx_gorilla.c) -------------------------------- */

/* Most points in one block; a head seals when it holds this many. */
#define MX_BLOCK_MAX 4096
/* A head is rewritten whole at every checkpoint until it seals, so a slow
 * series (a point every 10 s: 4,096 points in 11 hours) would be written
 * some 680 times, about 2,048 points a time. A write therefore seals a
 * head instead of rewriting it once it was written MX_SEAL_WRITES times
 * and holds MX_SEAL_MIN points: no head row outgrows what the last
 * MX_SEAL_WRITES checkpoints brought or MX_SEAL_MIN points, whichever is
 * more, and blocks stay large enough to compress (docs/scaling.md). */
#define MX_SEAL_WRITES 16
#define MX_SEAL_MIN 512
#define MX_DAY_MS 86400000LL
#define MX_ROLL_MS 60000LL

static inline int64_t mx_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Powers of ten 10^0..10^MX_DEC_MAX (exact doubles). */
#define MX_DEC_MAX 9
extern const double mx_p10[MX_DEC_MAX + 1];
/* The fewest decimals k (0..MX_DEC_MAX) such that every v[i] is exactly
 * llrint(v[i] * 10^k) / 10^k (bit for bit), or -1 when there is none. */
int mx_decimals(const double *v, size_t n);

/* Encodes n ≥ 1 points sorted by time: delta-of-delta timestamps; values
 * as XOR of doubles (Gorilla) or, when they are decimals, as bit-packed
 * differences of their integer mantissas. Appends to out. */
void mx_block_encode(const int64_t *ts, const double *v, size_t n, mx_bytes *out);
/* The same with k = mx_decimals(v, n) (the flush computes it once for the
 * block and its rollups). */
void mx_block_encode_dec(const int64_t *ts, const double *v, size_t n, int k, mx_bytes *out);
/* The point count of an encoded block, or -EINVAL. */
int mx_block_count(const uint8_t *p, size_t len, size_t *n);
/* Decodes all points into ts[] and v[] (room for the block's count). */
int mx_block_decode(const uint8_t *p, size_t len, int64_t *ts, double *v, size_t cap,
		    size_t *n);

/* ---- Quantile sketches and rollups (mx_sketch.c) -------------------- */

/* DDSketch: relative accuracy 0.5 %, so p50..p99 land within 1 % of the
 * exact order statistic. Keys index logarithmic bins of |v|; values below
 * MX_SK_MIN count as zero. A store is dense between lo and lo + len. */
#define MX_SK_ALPHA 0.005
#define MX_SK_MIN 1e-300
#define MX_SK_BINS 4096 /* most bins per sign; past it the lowest collapse */
typedef struct mx_sk_store {
	int32_t lo;
	uint32_t len, cap;
	uint64_t *c;
} mx_sk_store;
typedef struct mx_sk {
	uint64_t n, zero;
	mx_sk_store pos, neg;
} mx_sk;
int32_t mx_sk_key(double absv);
void mx_sk_add(mx_sk *s, double v);
/* sign: 1 positive, -1 negative, 0 the zero bin (key ignored). */
void mx_sk_add_key(mx_sk *s, int sign, int32_t key, uint64_t count);
/* The value of rank floor(q * (n - 1)) (0-based), within MX_SK_ALPHA. */
double mx_sk_quantile(const mx_sk *s, double q);
void mx_sk_reset(mx_sk *s);
void mx_sk_release(mx_sk *s);

/* One minute of a block's points. */
typedef struct mx_roll {
	int64_t ts;   /* the minute's start */
	uint64_t count;
	double sum, min, max;
} mx_roll;

/* Rollups of n sorted points per minute: roll gets count, sum, min, max;
 * sk (unless NULL) gets each minute's sketch bins, in the same order: the
 * format of rows without MX_KIND_SPANS. k: mx_decimals(v, n). */
void mx_roll_encode(const int64_t *ts, const double *v, size_t n, int k, mx_bytes *roll,
		    mx_bytes *sk);
/* Sketches of n sorted points per span of MX_SPAN_MS (the sk of rows with
 * MX_KIND_SPANS): a minute's bins cost about as much as its count, sum,
 * min and max, ten minutes' bins little more. */
#define MX_SPAN_MS 600000LL
void mx_span_encode(const int64_t *ts, const double *v, size_t n, mx_bytes *sk);
typedef struct mx_span_rd {
	mx_rd s;
	int64_t span;
	int32_t key_prev[2];
	size_t left;
} mx_span_rd;
int mx_span_open(mx_span_rd *it, const uint8_t *sk, size_t slen);
/* 1 with the next span's start in *ts, 0 at the end, -EINVAL; each span
 * must then be read by mx_span_sketch (dst NULL: skipped). */
int mx_span_next(mx_span_rd *it, int64_t *ts);
int mx_span_sketch(mx_span_rd *it, mx_sk *dst);
/* Iterates a rollup blob (and its sketch blob when sk is not NULL). */
typedef struct mx_roll_rd {
	mx_rd r, s;
	int has_sk, sk_due;
	int dec;        /* decimals of the stats, -1: doubles */
	int64_t minute, min_m;
	int32_t key_prev[2];
	size_t left;
} mx_roll_rd;
int mx_roll_open(mx_roll_rd *it, const uint8_t *roll, size_t rlen, const uint8_t *sk, size_t slen);
/* 1 with the next minute in *out, 0 at the end, -EINVAL. */
int mx_roll_next(mx_roll_rd *it, mx_roll *out);
/* Adds the sketch bins of the minute mx_roll_next gave to dst. */
int mx_roll_sketch(mx_roll_rd *it, mx_sk *dst);

/* ---- The store's state (mx_db.c) ------------------------------------ */

/* Points in memory: time order in heads and sealed blocks, arrival order
 * in the out-of-order buffer. */
typedef struct mx_pts {
	int64_t *ts;
	double *v;
	size_t n, cap;
} mx_pts;

/* A block sealed in memory (a full head, or out-of-order points sorted),
 * kept until its row is committed (invariant 4 of mx_db.c). */
typedef struct mx_pend {
	int64_t seq;
	int ooo;
	mx_pts p;
} mx_pend;

typedef struct mx_series {
	/* Identity: set at creation, never changed (reg). */
	uint32_t sid;
	uint64_t hash;
	char *agent, *metric;
	mx_tag *tags;
	unsigned ntags;
	char *key;      /* agent \x1f metric \x1f tags (mx_db_tags_text) */
	atomic_int def_durable; /* its definition is in a synced log record or the db */
	/* Data (hl). */
	mx_pts head;
	int64_t head_seq, head_day;
	uint32_t head_writes; /* times the open head was copied for writing */
	mx_pts ooo;
	mx_pend *pend;
	size_t npend;
	int64_t next_seq;
	int64_t last_ts;   /* the largest time seen: below it, a sample is out of order */
	double last_v;     /* the value of the last arrival at last_ts */
	int has_last;
	uint64_t last_lsn; /* the last log record applied */
	uint64_t lsn_loaded; /* its row's lsn at open: replay skips records up to it */
	uint64_t ver, ver_db; /* applies so far, and as of the last commit */
	int in_db;         /* its row exists */
} mx_series;

/* A log lane: one file and the thread writing it. mu is held from taking
 * a group off the queue until its sync ended, so holding every lane's mu
 * means every group with an lsn is in its file. */
#define MX_LANES 2
/* Lanes take turns while syncs average at least this (bench/metrics.sh:
 * with 0.1-0.5 ms syncs on 2 loaded cores, two lanes lost a fifth of the
 * single-sample requests/s to the extra groups and wake-ups). */
#define MX_LANE_MIN_US 1000
typedef struct mx_lane {
	pthread_mutex_t mu;
	pthread_cond_t cv;     /* with qmu: its turn came, or stop */
	int fd;
	uint64_t size;         /* bytes of records in fd (mu) */
	uint64_t alloc;        /* bytes of fd: size, then zeros (mu) */
	unsigned idx;
	pthread_t thread;
	int on;
	struct mx_db *db;
} mx_lane;

#define MX_CHUNK_BITS 12
#define MX_CHUNK (1u << MX_CHUNK_BITS)

struct mx_req;

/* The statements the metrics store runs only on some backends, chosen
 * once at open (mx_db_dialect); NULL: none. Invariant 1 of mx_db.c needs
 * a committed write to be durable: SQLite's WAL mode syncs commits only
 * under synchronous=FULL, PostgreSQL only with synchronous_commit on. */
typedef struct mx_dialect {
	const char *write_pre;  /* before a write transaction, outside it */
	const char *write_in;   /* first inside it (ends with it) */
	const char *write_post; /* after it, whatever its outcome */
	const char *ckpt_post;  /* after a checkpoint removed the log */
} mx_dialect;

struct mx_db {
	char *dir;
	int64_t retention_ms;
	uint64_t max_series;
	int group_ms;
	store *st;
	int own_st;
	const mx_dialect *dl;
	/* Registry (reg): series by sid in chunks (never moved, so readers of
	 * a published sid need no lock), and a hash of sids by identity. */
	pthread_rwlock_t reg;
	mx_series ***chunks;
	size_t nchunks;
	atomic_uint_fast32_t nseries; /* sids 1..nseries exist */
	uint32_t *hash;
	size_t hcap;
	/* Data of every series (heads, buffers, pending blocks). */
	pthread_rwlock_t hl;
	atomic_uint_fast64_t nsamples;
	atomic_uint_fast64_t pend_points;
	/* Append queue (qmu): lanes take groups from it in turn (next_lane),
	 * and db->lsn, the last lsn given to a group, is kept with it. */
	pthread_mutex_t qmu;
	struct mx_req *qhead, *qtail;
	unsigned next_lane;
	/* The turn passes to the next lane only while syncs take at least
	 * lane_min_us on average (sync_us, a moving average): on a disk that
	 * syncs faster, one lane makes larger groups for less CPU. */
	int64_t lane_min_us;
	atomic_int_fast64_t sync_us;
	int stop;
	uint64_t lsn;
	/* The log: lanes, each a file of the current generation written and
	 * synced by its own thread (mx_db_wal.c). */
	mx_lane lanes[MX_LANES];
	uint64_t walgen;       /* all lanes' mu held to change it */
	atomic_uint_fast64_t wal_bytes;
	/* Groups leave the log in lsn order (applymu): done_lsn is the last
	 * lsn applied or given up (a failed write), applied_lsn the last one
	 * applied. */
	pthread_mutex_t applymu;
	pthread_cond_t applycv;
	uint64_t done_lsn;
	atomic_uint_fast64_t applied_lsn;
	atomic_int broken;     /* a failed write could not be undone: refuse appends */
	/* Partitions: parts is held shared while tables are read and
	 * exclusively to drop one; daymu guards the sorted list of days that
	 * have a table. */
	pthread_rwlock_t parts;
	pthread_mutex_t daymu;
	int64_t *days;
	size_t ndays, capdays;
	/* Flushes, checkpoints and retention, one at a time. */
	pthread_mutex_t flushmu;
	int64_t last_ckpt_ms;
	pthread_t bg;
	int bg_on;
	pthread_mutex_t bgmu;
	pthread_cond_t bgcv;
};

static inline mx_series *mx_db_series(mx_db *db, uint32_t sid)
{
	mx_series **c = db->chunks[sid >> MX_CHUNK_BITS];
	return c ? c[sid & (MX_CHUNK - 1)] : NULL;
}

void mx_pts_push(mx_pts *p, int64_t ts, double v);
void mx_pts_release(mx_pts *p);
/* Sorts by time, keeping arrival order among equal times. */
void mx_pts_sort(mx_pts *p);
/* "k=v\x1ek=v" (keys cannot hold '=', values no control bytes). */
char *mx_db_tags_text(const mx_tag *tags, unsigned n);
int mx_db_tags_parse(const char *text, mx_tag **tags, unsigned *n, char **buf);
/* Registers a series with a known sid (open, replay): 0 or -EEXIST. */
int mx_db_series_add(mx_db *db, uint32_t sid, const char *agent, const char *metric,
		     const char *tags_text, mx_series **out);
/* Applies one sample of record lsn to s (hl held for writing). */
void mx_db_apply(mx_db *db, mx_series *s, int64_t ts, double v, uint64_t lsn);

/* ---- The log (mx_db_wal.c) ------------------------------------------ */
uint32_t mx_crc32c(uint32_t crc, const void *p, size_t n);
/* Replays the records of every log file of dir in lsn order (each file's
 * torn tail cut off); sets *maxgen and raises db->lsn to the last record
 * seen. */
int mx_wal_replay(mx_db *db, uint64_t *maxgen, char *err, size_t errlen);
/* Starts log generation gen: every lane's file (no writer yet). */
int mx_wal_start(mx_db *db, uint64_t gen);
/* Moves the lanes to generation walgen + 1 and returns once every record
 * of the older files is applied; *gen: the new generation. */
int mx_wal_rotate(mx_db *db, uint64_t *gen);
void mx_wal_close(mx_db *db);
/* Removes log files of generations below gen. */
void mx_wal_remove_below(mx_db *db, uint64_t gen);
int mx_wal_writer_start(mx_db *db);
void mx_wal_writer_stop(mx_db *db);
/* Writes, syncs and applies nreq prepared requests from first on as one
 * group on lane, on the calling thread, and finishes each (all with -EIO
 * when the log is stopped or broken). */
void mx_wal_commit(mx_db *db, unsigned lane, struct mx_req *first, size_t nreq);
/* Finishes nreq requests from first on with rc (each freed or woken). */
void mx_wal_finish(struct mx_req *first, size_t nreq, int rc);

/* Moves the out-of-order buffer, or the head, to a pending block (hl
 * held for writing). */
void mx_db_seal_ooo(mx_db *db, mx_series *s);
void mx_db_seal_head(mx_db *db, mx_series *s);

/* ---- Blocks in the database (mx_db_flush.c) -------------------------- */
extern const store_domain mx_db_domain;
/* The dialect of db->st (own_st set first). */
const mx_dialect *mx_db_dialect(const mx_db *db);
int mx_db_schema(mx_db *db, char *err, size_t errlen);
/* Gives a new SQLite file of ours MX_PAGE_SIZE pages (once, while empty). */
int mx_db_page_size(const char *url, char *err, size_t errlen);
int mx_db_load(mx_db *db, char *err, size_t errlen);
/* Writes every dirty series (all = 0: only those with pending blocks). */
int mx_db_write(mx_db *db, int all);
/* Rotates the log, writes every dirty series, removes the old log. */
int mx_db_checkpoint(mx_db *db);
int mx_db_bg_start(mx_db *db);
/* A block row's kind: bit 0 out-of-order points, bit 1 sketches per span
 * (mx_span_encode) instead of per minute (rows written before it). */
#define MX_KIND_OOO 1
#define MX_KIND_SPANS 2
/* Tests set it to write rows as before MX_KIND_SPANS (per-minute sketches). */
extern int mx_db_old_rows;
/* Tests only: series a write transaction holds at most (0: MX_PART_SERIES
 * of mx_db_flush.c), and the part (1 = the first) of every write that
 * fails before its commit (0: none). */
extern unsigned mx_db_part_series;
extern unsigned mx_db_fail_part;
/* Tests and bench/mx_ckpt.c only: MX_SEAL_WRITES and MX_SEAL_MIN in force
 * (0: those; UINT_MAX writes: heads seal only when full or at a day's end). */
extern unsigned mx_db_seal_writes, mx_db_seal_min;
void mx_db_bg_stop(mx_db *db);
/* The partition table of a day, e.g. "mx_b_19876"; MX_HEADS_DAY: the
 * table of heads written at checkpoints. */
#define MX_HEADS_DAY INT64_MIN
void mx_db_part_name(int64_t day, char *out, size_t outlen);
#endif
