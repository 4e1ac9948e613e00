/* Blocks in the database: the schema, loading at open, writing series
 * (pending blocks, buffers, heads), checkpoints, retention and the
 * background thread that drives them. Invariants 1, 2 and 4 of mx_db.c
 * are kept here: a series' memory is copied under hl, its rows and its
 * lsn are committed in one transaction, and only then is memory freed. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_db_int.h"

/* A checkpoint at least this often, or once the log holds MX_WAL_MAX
 * (-DMX_CKPT_MS=... in a scratch build makes a benchmark meet several). */
#ifndef MX_CKPT_MS
#define MX_CKPT_MS 60000
#endif
/* Points a write copies before it lets hl go for a moment: the writer's
 * apply step waits on hl, and with it every appender (copying all heads
 * of 500 series 60 s old held hl 21 ms at once). */
#define MX_COPY_CHUNK (1u << 16)
#define MX_WAL_MAX (64u << 20)
/* Pending points that make the background thread write them out early. */
#define MX_PEND_MAX (1u << 18)
/* Series, and points, a write transaction holds at most (write_locked). */
#define MX_PART_SERIES 256
#define MX_PART_POINTS (1u << 18)
#define MX_BG_TICK_MS 250

#define SCHEMA_SERIES "CREATE TABLE IF NOT EXISTS mx_series (sid BIGINT PRIMARY KEY," \
	" agent TEXT NOT NULL, metric TEXT NOT NULL, tags TEXT NOT NULL, lsn BIGINT NOT NULL," \
	" next_seq BIGINT NOT NULL, last_ts BIGINT, last_v DOUBLE PRECISION)"
#define SCHEMA_PARTS "CREATE TABLE IF NOT EXISTS mx_parts (day BIGINT PRIMARY KEY)"
#define SCHEMA_META "CREATE TABLE IF NOT EXISTS mx_meta (k TEXT PRIMARY KEY, v BIGINT NOT NULL)"
/* The columns of a block row; small ones first, so that a reader of roll
 * does not page through raw. */
#define BLOCK_COLS "seq BIGINT NOT NULL, kind INTEGER NOT NULL, n INTEGER NOT NULL," \
	" first_ts BIGINT NOT NULL, last_ts BIGINT NOT NULL, sum DOUBLE PRECISION," \
	" min DOUBLE PRECISION, max DOUBLE PRECISION, roll BYTEA, sk BYTEA, raw BYTEA"
/* Heads written at checkpoints, one row a series, replaced in place (the
 * key is SQLite's row id): rewriting them in the day tables left holes. */
#define SCHEMA_HEADS "CREATE TABLE IF NOT EXISTS mx_heads (sid INTEGER PRIMARY KEY, " \
	BLOCK_COLS ", day BIGINT NOT NULL)"

static const store_migration mx_migs[] = {
	{ 1, SCHEMA_SERIES "; " SCHEMA_PARTS "; " SCHEMA_META "; " SCHEMA_HEADS ";", NULL, NULL },
};
const store_domain mx_db_domain = { "metrics", mx_migs, 1, 0 };

void mx_db_part_name(int64_t day, char *out, size_t outlen)
{
	if (day == MX_HEADS_DAY)
		snprintf(out, outlen, "mx_heads");
	else if (day < 0)
		snprintf(out, outlen, "mx_b_n%lld", (long long)-day);
	else
		snprintf(out, outlen, "mx_b_%lld", (long long)day);
}

/* A row that does not fit a page's cell room spills into overflow pages
 * that are filled whole, so rows larger than a page pack well and rows of
 * a third to a whole page pack worst (2 rows of 5.8 KiB in 16 KiB: 71 %).
 * Blocks of 4,096 points are 4-7 KiB for gauges (bench/metrics.sh's query
 * set: 2.04 bytes a sample in 16 KiB pages, 1.63 in 4 KiB, rows 5.8 KiB)
 * and much smaller for counters (several to a page either way); small
 * pages also cost less for every table and index (bench/mx_bench.c disk:
 * 1.29). */
#define MX_PAGE_SIZE 4096

int mx_db_page_size(const char *url, char *err, size_t errlen)
{
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	store_opts so = { .pool_size = 1 };
	int rc = store_open(url, &so, &s, err, errlen);
	if (rc)
		return rc;
	if ((rc = store_acquire(s, &c)))
		goto out;
	int64_t size = 0, pages = 0;
	if (store_query(c, "PRAGMA page_size", &r, SNOARGS) == 0 && store_rows_next(r) == 1)
		size = store_rows_int(r, 0);
	store_rows_free(&r);
	if (store_query(c, "PRAGMA page_count", &r, SNOARGS) == 0 && store_rows_next(r) == 1)
		pages = store_rows_int(r, 0);
	store_rows_free(&r);
	/* Only a new file: VACUUM rewrites everything. The page size cannot
	 * change in WAL mode, and this is the only connection. */
	_Static_assert(MX_PAGE_SIZE == 4096, "the PRAGMA below says 4096");
	if (size != MX_PAGE_SIZE && pages < 16)
		rc = store_exec(c, "PRAGMA journal_mode=DELETE; PRAGMA page_size=4096; VACUUM;"
				" PRAGMA journal_mode=WAL;", NULL, SNOARGS);
	if (rc)
		snprintf(err, errlen, "metrics: cannot set the page size of %s", url);
out:
	store_release(&c);
	store_free(&s);
	return rc;
}

int mx_db_schema(mx_db *db, char *err, size_t errlen)
{
	store_conn *c = NULL;
	int rc = 0;
	if (db->own_st)
		return 0; /* opened with mx_db_domain */
	static const char *const sql[] = { SCHEMA_SERIES, SCHEMA_PARTS, SCHEMA_META,
					   SCHEMA_HEADS };
	if ((rc = store_acquire(db->st, &c)))
		goto out;
	for (size_t i = 0; i < 4 && !rc; i++)
		rc = store_exec(c, sql[i], NULL, SNOARGS);
out:
	if (rc)
		snprintf(err, errlen, "metrics: cannot create tables: %d", rc);
	store_release(&c);
	return rc;
}

static int load_series(mx_db *db, store_conn *c)
{
	store_rows *r = NULL;
	int rc = store_query(c, "SELECT sid, agent, metric, tags, lsn, next_seq, last_ts, last_v"
			     " FROM mx_series", &r, SNOARGS);
	int more = 0;
	while (!rc && (more = store_rows_next(r)) == 1) {
		mx_series *s = NULL;
		int64_t sid = store_rows_int(r, 0);
		if (sid <= 0 || (uint64_t)sid > db->max_series) {
			/* A lower --metrics-max-series than before: such series
			 * are not loaded (their rows stay). */
			continue;
		}
		rc = mx_db_series_add(db, (uint32_t)sid, store_rows_text(r, 1),
				      store_rows_text(r, 2), store_rows_text(r, 3), &s);
		if (rc)
			break;
		s->last_lsn = s->lsn_loaded = (uint64_t)store_rows_int(r, 4);
		s->next_seq = store_rows_int(r, 5);
		s->in_db = 1;
		if (!store_rows_isnull(r, 6)) {
			s->last_ts = store_rows_int(r, 6);
			s->last_v = store_rows_double(r, 7);
			s->has_last = 1;
		}
	}
	store_rows_free(&r);
	return rc ? rc : more < 0 ? more : 0;
}

static void days_add(mx_db *db, int64_t day)
{
	size_t i = 0;
	while (i < db->ndays && db->days[i] < day)
		i++;
	if (i < db->ndays && db->days[i] == day)
		return;
	if (db->ndays == db->capdays) {
		db->capdays = db->capdays ? db->capdays * 2 : 16;
		db->days = xrealloc(db->days, db->capdays * sizeof *db->days);
	}
	memmove(db->days + i + 1, db->days + i, (db->ndays - i) * sizeof *db->days);
	db->days[i] = day;
	db->ndays++;
}

static int64_t query_int(store_conn *c, const char *sql, int nargs, const store_arg *args,
			 int64_t dflt)
{
	store_rows *r = NULL;
	int64_t v = dflt;
	if (store_query(c, sql, &r, nargs, args) == 0 && store_rows_next(r) == 1 &&
	    !store_rows_isnull(r, 0))
		v = store_rows_int(r, 0);
	store_rows_free(&r);
	return v;
}

static int ensure_part(mx_db *db, store_conn *c, int64_t day, int64_t **fresh, size_t *nfresh);

/* The heads written before a restart become blocks of their days (new
 * heads start with new seqs and would replace their rows). */
static int heads_to_days(mx_db *db, store_conn *c)
{
	store_rows *r = NULL;
	int64_t *days = NULL, *fresh = NULL;
	size_t n = 0, nfresh = 0;
	int rc = store_query(c, "SELECT DISTINCT day FROM mx_heads", &r, SNOARGS), more = 0;
	while (!rc && (more = store_rows_next(r)) == 1) {
		days = xrealloc(days, (n + 1) * sizeof *days);
		days[n++] = store_rows_int(r, 0);
	}
	store_rows_free(&r);
	if (rc || more < 0 || !n)
		goto out;
	if ((rc = store_begin(c)))
		goto out;
	for (size_t i = 0; i < n && !rc; i++) {
		char t[32], sql[300];
		mx_db_part_name(days[i], t, sizeof t);
		rc = ensure_part(db, c, days[i], &fresh, &nfresh);
		snprintf(sql, sizeof sql, "INSERT INTO %s (sid, seq, kind, n, first_ts, last_ts, sum,"
			 " min, max, roll, sk, raw) SELECT sid, seq, kind, n, first_ts, last_ts, sum,"
			 " min, max, roll, sk, raw FROM mx_heads WHERE day = $1", t);
		if (!rc)
			rc = store_exec(c, sql, NULL, SARGS(SA_INT(days[i])));
	}
	if (!rc)
		rc = store_exec(c, "DELETE FROM mx_heads", NULL, SNOARGS);
	if (!rc)
		rc = store_commit(c);
	if (!rc)
		for (size_t i = 0; i < nfresh; i++)
			days_add(db, fresh[i]);
out:
	store_rollback(c);
	free(days);
	free(fresh);
	return rc ? rc : more < 0 ? more : 0;
}

int mx_db_load(mx_db *db, char *err, size_t errlen)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int rc = store_acquire(db->st, &c);
	if (rc)
		goto out;
	rc = store_query(c, "SELECT day FROM mx_parts", &r, SNOARGS);
	int more = 0;
	while (!rc && (more = store_rows_next(r)) == 1)
		days_add(db, store_rows_int(r, 0));
	store_rows_free(&r);
	if (!rc && more < 0)
		rc = more;
	if (rc || (rc = load_series(db, c)))
		goto out;
	db->lsn = (uint64_t)query_int(c, "SELECT v FROM mx_meta WHERE k = 'lsn'", SNOARGS, 0);
	if ((rc = heads_to_days(db, c)))
		goto out;
	for (size_t i = 0; i < db->ndays; i++) {
		char t[32], sql[96];
		mx_db_part_name(db->days[i], t, sizeof t);
		snprintf(sql, sizeof sql, "SELECT SUM(n) FROM %s", t);
		atomic_fetch_add(&db->nsamples, (uint64_t)query_int(c, sql, SNOARGS, 0));
	}
out:
	if (rc)
		snprintf(err, errlen, "metrics: cannot load the series: %d", rc);
	store_release(&c);
	return rc;
}

/* ---- Writing series ------------------------------------------------- */

typedef struct wblk {
	int64_t seq;
	int ooo, owned; /* owned: a copy of the head, freed here */
	mx_pts p;
} wblk;

typedef struct wjob {
	mx_series *s;
	uint64_t ver, lsn;
	int64_t next_seq, last_ts;
	double last_v;
	int has_last, in_db;
	wblk *b;
	size_t nb;
} wjob;

unsigned mx_db_seal_writes, mx_db_seal_min;

/* Copies what a series must write (hl held for writing). */
static void job_take(mx_db *db, mx_series *s, wjob *j)
{
	if (s->ooo.n)
		mx_db_seal_ooo(db, s);
	unsigned sw = mx_db_seal_writes ? mx_db_seal_writes : MX_SEAL_WRITES;
	unsigned sm = mx_db_seal_min ? mx_db_seal_min : MX_SEAL_MIN;
	if (s->head.n >= sm && s->head_writes >= sw && s->ver != s->ver_db)
		mx_db_seal_head(db, s);
	*j = (wjob){ .s = s, .ver = s->ver, .lsn = s->last_lsn, .next_seq = s->next_seq,
		     .last_ts = s->last_ts, .last_v = s->last_v, .has_last = s->has_last,
		     .in_db = s->in_db };
	j->b = xmalloc((s->npend + 1) * sizeof *j->b);
	for (size_t i = 0; i < s->npend; i++)
		j->b[j->nb++] = (wblk){ s->pend[i].seq, s->pend[i].ooo, 0, s->pend[i].p };
	if (s->head.n && s->ver != s->ver_db) {
		wblk *w = &j->b[j->nb++];
		*w = (wblk){ s->head_seq, 0, 1, { 0 } };
		w->p.n = w->p.cap = s->head.n;
		w->p.ts = xmalloc(s->head.n * sizeof *w->p.ts);
		w->p.v = xmalloc(s->head.n * sizeof *w->p.v);
		memcpy(w->p.ts, s->head.ts, s->head.n * sizeof *w->p.ts);
		memcpy(w->p.v, s->head.v, s->head.n * sizeof *w->p.v);
		s->head_writes++;
	}
}

static int ensure_part(mx_db *db, store_conn *c, int64_t day, int64_t **fresh, size_t *nfresh)
{
	for (size_t i = 0; i < db->ndays; i++)
		if (db->days[i] == day)
			return 0;
	for (size_t i = 0; i < *nfresh; i++)
		if ((*fresh)[i] == day)
			return 0;
	char t[32], sql[512];
	mx_db_part_name(day, t, sizeof t);
	snprintf(sql, sizeof sql, "CREATE TABLE IF NOT EXISTS %s (sid BIGINT NOT NULL, "
		 BLOCK_COLS ", PRIMARY KEY (sid, seq))", t);
	int rc = store_exec(c, sql, NULL, SNOARGS);
	if (!rc)
		rc = store_exec(c, "DELETE FROM mx_parts WHERE day = $1", NULL, SARGS(SA_INT(day)));
	/* With changes asked for, this runs at once, the queue before it: a
	 * pipelined write prepares its statements before sending them, and
	 * the inserts into the new table must find it. */
	int64_t changes = 0;
	if (!rc)
		rc = store_exec(c, "INSERT INTO mx_parts (day) VALUES ($1)", &changes,
				SARGS(SA_INT(day)));
	if (rc)
		return rc;
	*fresh = xrealloc(*fresh, (*nfresh + 1) * sizeof **fresh);
	(*fresh)[(*nfresh)++] = day;
	return 0;
}

int mx_db_old_rows;

/* ---- A part's heads and series rows over arrays (PostgreSQL) ----------
 * Each statement costs PostgreSQL a fixed part besides its rows (the
 * scheduler's chunks: sched_store.c), and a series' checkpoint was three
 * (its head row's delete and insert, its series row). On PostgreSQL a
 * part's heads are one upsert and its series rows one insert and one
 * update, over arrays; the heads' blobs go end to end in one bytea each,
 * cut by offsets. A part holds each series once, so no two elements of an
 * array touch the same row. SQLite runs the single-row statements. */
enum { AH_SID, AH_SEQ, AH_KIND, AH_N, AH_FIRST, AH_LAST, AH_SUM, AH_MIN, AH_MAX, AH_DAY,
       AH_ROLL_AT, AH_ROLL_LEN, AH_SK_AT, AH_SK_LEN, AH_RAW_AT, AH_RAW_LEN, AH_NCOLS };
enum { AS_SID, AS_LSN, AS_NEXT, AS_LAST_TS, AS_LAST_V, AS_AGENT, AS_METRIC, AS_TAGS, AS_NCOLS };

#define AR_NCOLS (AH_NCOLS + AS_NCOLS + AS_LAST_V + 1)

typedef struct arows {
	buf col[AR_NCOLS];
	buf *h, *ins, *upd; /* in col: heads' columns, series inserts, updates */
	mx_bytes hb[3];     /* roll, sk, raw */
	size_t nh, nins, nupd;
} arows;

static void arows_init(arows *a)
{
	*a = (arows){ .h = a->col, .ins = a->col + AH_NCOLS, .upd = a->col + AH_NCOLS + AS_NCOLS };
	for (int i = 0; i < AR_NCOLS; i++)
		buf_init(&a->col[i], (size_t)1 << 30);
}

static void arows_reset(arows *a)
{
	for (int i = 0; i < AR_NCOLS; i++)
		buf_reset(&a->col[i]);
	for (int i = 0; i < 3; i++)
		a->hb[i].len = 0;
	a->nh = a->nins = a->nupd = 0;
}

static void arows_release(arows *a)
{
	for (int i = 0; i < AR_NCOLS; i++)
		buf_release(&a->col[i]);
	for (int i = 0; i < 3; i++)
		mx_bytes_release(&a->hb[i]);
}

/* Appends a blob to one of the heads' byteas and its 1-based offset and
 * length to their arrays. */
static int arows_blob(arows *a, int which, int col, const mx_bytes *b)
{
	int rc = store_array_int(&a->h[col], (int64_t)a->hb[which].len + 1);
	if (rc == 0)
		rc = store_array_int(&a->h[col + 1], (int64_t)b->len);
	if (rc == 0)
		mx_bytes_put(&a->hb[which], b->p, b->len);
	return rc;
}

static int arows_head(arows *a, uint32_t sid, int64_t seq, int kind, size_t n,
		      const int64_t *ts, double sum, double mn, double mx, int64_t day,
		      const mx_bytes *roll, const mx_bytes *sk, const mx_bytes *raw)
{
	buf *h = a->h;
	int rc = store_array_int(&h[AH_SID], sid);
	if (rc == 0)
		rc = store_array_int(&h[AH_SEQ], seq);
	if (rc == 0)
		rc = store_array_int(&h[AH_KIND], kind);
	if (rc == 0)
		rc = store_array_int(&h[AH_N], (int64_t)n);
	if (rc == 0)
		rc = store_array_int(&h[AH_FIRST], ts[0]);
	if (rc == 0)
		rc = store_array_int(&h[AH_LAST], ts[n - 1]);
	if (rc == 0)
		rc = store_array_double(&h[AH_SUM], sum);
	if (rc == 0)
		rc = store_array_double(&h[AH_MIN], mn);
	if (rc == 0)
		rc = store_array_double(&h[AH_MAX], mx);
	if (rc == 0)
		rc = store_array_int(&h[AH_DAY], day);
	if (rc == 0)
		rc = arows_blob(a, 0, AH_ROLL_AT, roll);
	if (rc == 0)
		rc = arows_blob(a, 1, AH_SK_AT, sk);
	if (rc == 0)
		rc = arows_blob(a, 2, AH_RAW_AT, raw);
	a->nh += rc == 0;
	return rc;
}

/* The series row of j: to the inserts or the updates. */
static int arows_series(arows *a, const wjob *j)
{
	const mx_series *s = j->s;
	buf *v = j->in_db ? a->upd : a->ins;
	int rc = store_array_int(&v[AS_SID], s->sid);
	if (rc == 0)
		rc = store_array_int(&v[AS_LSN], (int64_t)j->lsn);
	if (rc == 0)
		rc = store_array_int(&v[AS_NEXT], j->next_seq);
	if (rc == 0)
		rc = j->has_last ? store_array_int(&v[AS_LAST_TS], j->last_ts)
				 : store_array_text(&v[AS_LAST_TS], NULL);
	if (rc == 0)
		rc = j->has_last ? store_array_double(&v[AS_LAST_V], j->last_v)
				 : store_array_text(&v[AS_LAST_V], NULL);
	if (rc == 0 && !j->in_db) {
		char *tt = mx_db_tags_text(s->tags, s->ntags);
		rc = store_array_text(&v[AS_AGENT], s->agent);
		if (rc == 0)
			rc = store_array_text(&v[AS_METRIC], s->metric);
		if (rc == 0)
			rc = store_array_text(&v[AS_TAGS], tt);
		free(tt);
	}
	if (rc == 0 && j->in_db)
		a->nupd++;
	else if (rc == 0)
		a->nins++;
	return rc;
}

/* Runs sql over the n rows held in cols[0, ncols) (the array literals,
 * closed here, are its first arguments) and nextra arguments after them. */
static int arows_exec(store_conn *c, const char *sql, buf *cols, int ncols, size_t n,
		      const store_arg *extra, int nextra)
{
	store_arg args[AH_NCOLS + 3];
	int rc = 0;
	for (int i = 0; i < ncols && rc == 0 && n; i++) {
		rc = store_array_close(&cols[i]);
		args[i] = SA_TEXT(cols[i].data);
	}
	for (int i = 0; i < nextra; i++)
		args[ncols + i] = extra[i];
	return rc || !n ? rc : store_exec(c, sql, NULL, ncols + nextra, args);
}

static int arows_flush(store_conn *c, arows *a)
{
	store_arg blobs[3];
	for (int i = 0; i < 3; i++)
		blobs[i] = SA_BLOB(a->hb[i].p, a->hb[i].len);
	int rc = arows_exec(c, "INSERT INTO mx_heads (sid, seq, kind, n, first_ts, last_ts, sum,"
			    " min, max, roll, sk, raw, day) SELECT u.sid, u.seq, u.kind, u.n,"
			    " u.first_ts, u.last_ts, u.sum, u.min, u.max,"
			    " substring($17::bytea from u.ra for u.rl),"
			    " substring($18::bytea from u.sa for u.sl),"
			    " substring($19::bytea from u.wa for u.wl), u.day"
			    " FROM unnest($1::bigint[], $2::bigint[], $3::integer[], $4::integer[],"
			    " $5::bigint[], $6::bigint[], $7::float8[], $8::float8[], $9::float8[],"
			    " $10::bigint[], $11::integer[], $12::integer[], $13::integer[],"
			    " $14::integer[], $15::integer[], $16::integer[]) AS u(sid, seq, kind, n,"
			    " first_ts, last_ts, sum, min, max, day, ra, rl, sa, sl, wa, wl)"
			    " ON CONFLICT (sid) DO UPDATE SET seq = EXCLUDED.seq, kind = EXCLUDED.kind,"
			    " n = EXCLUDED.n, first_ts = EXCLUDED.first_ts, last_ts = EXCLUDED.last_ts,"
			    " sum = EXCLUDED.sum, min = EXCLUDED.min, max = EXCLUDED.max,"
			    " roll = EXCLUDED.roll, sk = EXCLUDED.sk, raw = EXCLUDED.raw,"
			    " day = EXCLUDED.day", a->h, AH_NCOLS, a->nh, blobs, 3);
	if (rc == 0)
		rc = arows_exec(c, "INSERT INTO mx_series (sid, lsn, next_seq, last_ts, last_v, agent,"
				" metric, tags) SELECT * FROM unnest($1::bigint[], $2::bigint[],"
				" $3::bigint[], $4::bigint[], $5::float8[], $6::text[], $7::text[],"
				" $8::text[])", a->ins, AS_NCOLS, a->nins, NULL, 0);
	if (rc == 0)
		rc = arows_exec(c, "UPDATE mx_series AS s SET lsn = u.lsn, next_seq = u.next_seq,"
				" last_ts = u.last_ts, last_v = u.last_v FROM unnest($1::bigint[],"
				" $2::bigint[], $3::bigint[], $4::bigint[], $5::float8[])"
				" AS u(sid, lsn, next_seq, last_ts, last_v) WHERE s.sid = u.sid",
				a->upd, AS_LAST_V + 1, a->nupd, NULL, 0);
	arows_reset(a);
	return rc;
}

static int put_run(store_conn *c, arows *a, const char *t, uint32_t sid, const wblk *w, size_t i0,
		   size_t n, mx_bytes *raw, mx_bytes *roll, mx_bytes *sk)
{
	const int64_t *ts = w->p.ts + i0;
	const double *v = w->p.v + i0;
	raw->len = roll->len = sk->len = 0;
	int dec = mx_decimals(v, n);
	mx_block_encode_dec(ts, v, n, dec, raw);
	int kind = w->ooo ? MX_KIND_OOO : 0;
	if (mx_db_old_rows) {
		mx_roll_encode(ts, v, n, dec, roll, sk);
	} else {
		mx_roll_encode(ts, v, n, dec, roll, NULL);
		mx_span_encode(ts, v, n, sk);
		kind |= MX_KIND_SPANS;
	}
	double sum = 0, mn = v[0], mx = v[0];
	for (size_t i = 0; i < n; i++) {
		sum += v[i];
		mn = v[i] < mn ? v[i] : mn;
		mx = v[i] > mx ? v[i] : mx;
	}
	char sql[320];
	int rc = 0;
	int64_t day = mx_floor_div(ts[0], MX_DAY_MS);
	if (a && w->owned)
		return arows_head(a, sid, w->seq, kind, n, ts, sum, mn, mx, day, roll, sk, raw);
	if (w->owned) {
		/* A head: its row replaced in place (same row id). */
		rc = store_exec(c, "DELETE FROM mx_heads WHERE sid = $1", NULL, SARGS(SA_INT(sid)));
		t = "mx_heads";
	} else if (!w->ooo) {
		/* A sealed head: its last partial version goes. */
		rc = store_exec(c, "DELETE FROM mx_heads WHERE sid = $1 AND seq = $2", NULL,
				SARGS(SA_INT(sid), SA_INT(w->seq)));
	}
	snprintf(sql, sizeof sql, "INSERT INTO %s (sid, seq, kind, n, first_ts, last_ts, sum, min,"
		 " max, roll, sk, raw%s) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12%s)",
		 t, w->owned ? ", day" : "", w->owned ? ", $13" : "");
	store_arg args[] = { SA_INT(sid), SA_INT(w->seq), SA_INT(kind), SA_INT(n), SA_INT(ts[0]),
			     SA_INT(ts[n - 1]), SA_DBL(sum), SA_DBL(mn), SA_DBL(mx),
			     SA_BLOB(roll->p, roll->len), SA_BLOB(sk->p, sk->len),
			     SA_BLOB(raw->p, raw->len), SA_INT(day) };
	if (!rc)
		rc = store_exec(c, sql, NULL, w->owned ? 13 : 12, args);
	return rc;
}

/* a: NULL on SQLite, else the part's arrays, which get the head and the
 * series row. */
static int put_job(mx_db *db, store_conn *c, arows *a, const wjob *j, int64_t **fresh,
		   size_t *nfresh, mx_bytes bufs[3])
{
	mx_series *s = j->s;
	int rc = 0;
	for (size_t b = 0; b < j->nb && !rc; b++) {
		const wblk *w = &j->b[b];
		/* One row per day the block's points fall in. */
		for (size_t i = 0; i < w->p.n && !rc;) {
			int64_t day = mx_floor_div(w->p.ts[i], MX_DAY_MS);
			size_t e = i;
			while (e < w->p.n && mx_floor_div(w->p.ts[e], MX_DAY_MS) == day)
				e++;
			char t[32];
			mx_db_part_name(day, t, sizeof t);
			rc = w->owned ? 0 : ensure_part(db, c, day, fresh, nfresh);
			if (!rc)
				rc = put_run(c, a, t, s->sid, w, i, e - i, &bufs[0], &bufs[1],
					     &bufs[2]);
			i = e;
		}
	}
	store_arg last_ts = j->has_last ? SA_INT(j->last_ts) : SA_NULL;
	store_arg last_v = j->has_last ? SA_DBL(j->last_v) : SA_NULL;
	if (rc || a)
		return rc ? rc : arows_series(a, j);
	if (!j->in_db) {
		char *tt = mx_db_tags_text(s->tags, s->ntags);
		rc = store_exec(c, "INSERT INTO mx_series (sid, agent, metric, tags, lsn, next_seq,"
				" last_ts, last_v) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", NULL,
				SARGS(SA_INT(s->sid), SA_TEXT(s->agent), SA_TEXT(s->metric),
				      SA_TEXT(tt), SA_INT(j->lsn), SA_INT(j->next_seq), last_ts, last_v));
		free(tt);
	} else {
		rc = store_exec(c, "UPDATE mx_series SET lsn = $2, next_seq = $3, last_ts = $4,"
				" last_v = $5 WHERE sid = $1", NULL,
				SARGS(SA_INT(s->sid), SA_INT(j->lsn), SA_INT(j->next_seq), last_ts,
				      last_v));
	}
	return rc;
}

/* After the commit: the written pending blocks leave memory (hl held). */
static void job_done(mx_db *db, wjob *j)
{
	mx_series *s = j->s;
	s->ver_db = j->ver;
	s->in_db = 1;
	size_t k = 0;
	for (size_t i = 0; i < s->npend; i++) {
		int written = 0;
		for (size_t b = 0; b < j->nb && !written; b++)
			written = !j->b[b].owned && j->b[b].seq == s->pend[i].seq;
		if (written) {
			atomic_fetch_sub(&db->pend_points, s->pend[i].p.n);
			mx_pts_release(&s->pend[i].p);
		} else {
			s->pend[k++] = s->pend[i];
		}
	}
	s->npend = k;
}

static void job_release(wjob *j)
{
	for (size_t b = 0; b < j->nb; b++)
		if (j->b[b].owned)
			mx_pts_release(&j->b[b].p);
	free(j->b);
}

/* SQLite: NORMAL does not sync commits, so a write turns FULL on for its
 * commit (the log may go once it is synced) and off again: other commits
 * on the connection need not wait for a sync. The file of our own also
 * gets its WAL truncated after a checkpoint, or it keeps its largest size.
 * PostgreSQL: a commit is synced while synchronous_commit is on, the
 * default, which a server may turn off: the write turns it on for its own
 * transaction. No page size, no VACUUM, nothing after a checkpoint. */
static const mx_dialect dl_sqlite_own = {
	.write_pre = "PRAGMA synchronous=FULL",
	.write_post = "PRAGMA synchronous=NORMAL",
	.ckpt_post = "PRAGMA wal_checkpoint(TRUNCATE)",
};
static const mx_dialect dl_sqlite = {
	.write_pre = "PRAGMA synchronous=FULL",
	.write_post = "PRAGMA synchronous=NORMAL",
};
static const mx_dialect dl_pg = {
	.write_in = "SET LOCAL synchronous_commit = on",
};

const mx_dialect *mx_db_dialect(const mx_db *db)
{
	if (strcmp(store_backend(db->st), "postgres") == 0)
		return &dl_pg;
	return db->own_st ? &dl_sqlite_own : &dl_sqlite;
}

static int dl_exec(store_conn *c, const char *sql)
{
	return sql ? store_exec(c, sql, NULL, SNOARGS) : 0;
}

unsigned mx_db_part_series, mx_db_fail_part;

/* Writes jobs[0, n) and, when lsn is not 0, the log's lsn in one
 * transaction, then lets the written points go (flushmu held). part
 * counts from 1. */
static int write_part(mx_db *db, store_conn *c, arows *a, wjob *jobs, size_t n, uint64_t lsn,
		      unsigned part, mx_bytes bufs[3])
{
	int64_t *fresh = NULL;
	size_t nfresh = 0;
	int rc = store_begin(c);
	if (!rc)
		rc = dl_exec(c, db->dl->write_in);
	for (size_t i = 0; i < n && !rc; i++)
		rc = put_job(db, c, a, &jobs[i], &fresh, &nfresh, bufs);
	if (!rc && a)
		rc = arows_flush(c, a);
	if (!rc && lsn)
		rc = store_exec(c, "DELETE FROM mx_meta WHERE k = 'lsn'", NULL, SNOARGS);
	if (!rc && lsn)
		rc = store_exec(c, "INSERT INTO mx_meta (k, v) VALUES ('lsn', $1)", NULL,
				SARGS(SA_INT(lsn)));
	if (!rc && part == mx_db_fail_part)
		rc = -EIO;
	if (!rc)
		rc = store_commit(c);
	if (rc) {
		store_rollback(c);
		log_error("metrics: writing blocks failed: %d", rc);
		goto out;
	}
	pthread_mutex_lock(&db->daymu);
	for (size_t i = 0; i < nfresh; i++)
		days_add(db, fresh[i]);
	pthread_mutex_unlock(&db->daymu);
	pthread_rwlock_wrlock(&db->hl);
	for (size_t i = 0; i < n; i++)
		job_done(db, &jobs[i]);
	pthread_rwlock_unlock(&db->hl);
out:
	free(fresh);
	return rc;
}

/* flushmu held. */
static int write_locked(mx_db *db, int all)
{
	wjob *jobs = NULL;
	size_t nj = 0, capj = 0;
	store_conn *c = NULL;
	mx_bytes bufs[3] = { { 0 } };
	arows a;
	int rc = 0, pg = db->dl == &dl_pg;
	if (pg)
		arows_init(&a);
	/* Series are copied a chunk at a time, hl let go between chunks:
	 * each copy is still taken after the rotation's records were applied
	 * (invariant 1) and carries its own lsn (invariant 2); lsn and ns
	 * are read first, so lsn is at most that of any copy, and every
	 * series with a record in the old files has a sid <= ns. */
	pthread_rwlock_wrlock(&db->hl);
	uint64_t lsn = atomic_load(&db->applied_lsn);
	uint32_t ns = (uint32_t)atomic_load(&db->nseries);
	size_t copied = 0;
	for (uint32_t sid = 1; sid <= ns; sid++) {
		if (copied >= MX_COPY_CHUNK) {
			pthread_rwlock_unlock(&db->hl);
			copied = 0;
			pthread_rwlock_wrlock(&db->hl);
		}
		mx_series *s = mx_db_series(db, sid);
		if (!s || (s->ver == s->ver_db && !s->npend) || (!all && !s->npend))
			continue;
		if (nj == capj) {
			capj = capj ? capj * 2 : 64;
			jobs = xrealloc(jobs, capj * sizeof *jobs);
		}
		job_take(db, s, &jobs[nj++]);
		copied += s->head.n + s->ooo.n + 1;
	}
	pthread_rwlock_unlock(&db->hl);
	if (!nj)
		goto out;
	/* On PostgreSQL every write transaction takes the writers' advisory
	 * lock (src/store/pg.c), the scheduler's too: one transaction for
	 * every series held it 3.3 s at 10,000 series, statement by
	 * statement (bench/mx_ckpt.c). So the series go in parts of their own
	 * transactions, each a pipeline. A part is whole for each series
	 * (rows and lsn together), which is all that invariants 1 and 2 ask;
	 * the log files go only after the last part (mx_db_checkpoint), and
	 * replay skips what a committed part holds. */
	if ((rc = store_acquire(db->st, &c)) || (rc = dl_exec(c, db->dl->write_pre)) ||
	    (rc = store_pipeline(c, 1)))
		goto out;
	size_t per = mx_db_part_series ? mx_db_part_series : MX_PART_SERIES;
	unsigned part = 0;
	for (size_t i = 0; i < nj && !rc;) {
		size_t e = i, pts = 0;
		while (e < nj && e - i < per && pts < MX_PART_POINTS) {
			for (size_t b = 0; b < jobs[e].nb; b++)
				pts += jobs[e].b[b].p.n;
			e++;
		}
		rc = write_part(db, c, pg ? &a : NULL, jobs + i, e - i, e == nj ? lsn : 0, ++part,
				bufs);
		i = e;
	}
out:
	if (c) {
		store_rollback(c); /* a write_in that failed left it open */
		store_pipeline(c, 0);
		dl_exec(c, db->dl->write_post);
		store_release(&c);
	}
	for (size_t i = 0; i < nj; i++)
		job_release(&jobs[i]);
	free(jobs);
	for (int i = 0; i < 3; i++)
		mx_bytes_release(&bufs[i]);
	if (pg)
		arows_release(&a);
	return rc;
}

int mx_db_write(mx_db *db, int all)
{
	pthread_mutex_lock(&db->flushmu);
	int rc = write_locked(db, all);
	pthread_mutex_unlock(&db->flushmu);
	return rc;
}

int mx_db_checkpoint(mx_db *db)
{
	pthread_mutex_lock(&db->flushmu);
	/* Once rotated, every record of the old files is applied. */
	uint64_t gen;
	int rc = mx_wal_rotate(db, &gen);
	if (!rc)
		rc = write_locked(db, 1);
	if (!rc) {
		mx_wal_remove_below(db, gen);
		store_conn *c = NULL;
		if (db->dl->ckpt_post && store_acquire(db->st, &c) == 0) {
			dl_exec(c, db->dl->ckpt_post);
			store_release(&c);
		}
	}
	db->last_ckpt_ms = sn_mono_ns() / 1000000;
	pthread_mutex_unlock(&db->flushmu);
	return rc;
}

int mx_db_retain(mx_db *db, int64_t now_ms)
{
	int64_t cutoff = now_ms - db->retention_ms;
	store_conn *c = NULL;
	int rc = 0;
	pthread_mutex_lock(&db->flushmu);
	pthread_rwlock_wrlock(&db->parts);
	if ((rc = store_acquire(db->st, &c)))
		goto out;
	while (db->ndays && (db->days[0] + 1) * MX_DAY_MS <= cutoff) {
		char t[32], sql[96];
		mx_db_part_name(db->days[0], t, sizeof t);
		snprintf(sql, sizeof sql, "SELECT SUM(n) FROM %s", t);
		int64_t n = query_int(c, sql, SNOARGS, 0);
		snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS %s", t);
		if ((rc = store_begin(c)) || (rc = store_exec(c, sql, NULL, SNOARGS)) ||
		    (rc = store_exec(c, "DELETE FROM mx_parts WHERE day = $1", NULL,
				     SARGS(SA_INT(db->days[0])))) ||
		    (rc = store_commit(c)))
			break;
		atomic_fetch_sub(&db->nsamples, (uint64_t)n);
		pthread_mutex_lock(&db->daymu);
		memmove(db->days, db->days + 1, (db->ndays - 1) * sizeof *db->days);
		db->ndays--;
		pthread_mutex_unlock(&db->daymu);
	}
out:
	store_release(&c);
	pthread_rwlock_unlock(&db->parts);
	pthread_mutex_unlock(&db->flushmu);
	return rc;
}

/* ---- The background thread ------------------------------------------ */

static void *bg_main(void *arg)
{
	mx_db *db = arg;
	pthread_mutex_lock(&db->bgmu);
	while (db->bg_on == 1) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += MX_BG_TICK_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&db->bgcv, &db->bgmu, &until);
		if (db->bg_on != 1)
			break;
		pthread_mutex_unlock(&db->bgmu);
		int64_t now = sn_mono_ns() / 1000000;
		uint64_t wal = atomic_load(&db->wal_bytes);
		if (wal >= MX_WAL_MAX || (wal && now - db->last_ckpt_ms >= MX_CKPT_MS))
			mx_db_checkpoint(db);
		else if (atomic_load(&db->pend_points) >= MX_PEND_MAX)
			mx_db_write(db, 0);
		pthread_mutex_lock(&db->bgmu);
	}
	pthread_mutex_unlock(&db->bgmu);
	return NULL;
}

int mx_db_bg_start(mx_db *db)
{
	db->bg_on = 1;
	if (pthread_create(&db->bg, NULL, bg_main, db)) {
		db->bg_on = 0;
		return -EAGAIN;
	}
	return 0;
}

void mx_db_bg_stop(mx_db *db)
{
	if (!db->bg_on)
		return;
	pthread_mutex_lock(&db->bgmu);
	db->bg_on = 2;
	pthread_cond_broadcast(&db->bgcv);
	pthread_mutex_unlock(&db->bgmu);
	pthread_join(db->bg, NULL);
	db->bg_on = 0;
}
