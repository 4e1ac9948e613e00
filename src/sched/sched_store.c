/* The scheduler's store: the schema, the writer that makes the core's ops
 * durable (many per transaction: group commit, never a sync per chunk),
 * the job insert, and the load of active jobs at start.
 *
 * Durability: a completion or failure is answered only once its op is
 * committed (sched_wait_durable); an assignment is written lazily in the
 * next batch and may be re-derived after a crash (the chunk is then
 * pending again, and the node that held it is told lease_lost). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "sched/sched_int.h"

static const store_migration migrations[] = {
	{ 1,
	  "CREATE TABLE configs (sha256 TEXT PRIMARY KEY, body TEXT NOT NULL,"
	  " created_at BIGINT NOT NULL);"
	  "CREATE TABLE jobs ("
	  " id TEXT PRIMARY KEY, name TEXT NOT NULL, owner_id TEXT NOT NULL,"
	  " state TEXT NOT NULL, reason TEXT, priority BIGINT NOT NULL,"
	  " access TEXT NOT NULL, tmpl TEXT NOT NULL, config_sha256 TEXT,"
	  " total_iterations BIGINT, chunk_size BIGINT NOT NULL, nchunks BIGINT NOT NULL,"
	  " max_attempts BIGINT NOT NULL, gpus BIGINT NOT NULL,"
	  " completed_iterations BIGINT NOT NULL DEFAULT 0, stats TEXT,"
	  " created_at BIGINT NOT NULL, started_at BIGINT, finished_at BIGINT);"
	  "CREATE INDEX jobs_owner ON jobs(owner_id, created_at);"
	  "CREATE INDEX jobs_state ON jobs(state);"
	  "CREATE TABLE job_deps (job_id TEXT NOT NULL, parent_id TEXT NOT NULL,"
	  " PRIMARY KEY (job_id, parent_id));"
	  "CREATE INDEX job_deps_parent ON job_deps(parent_id);"
	  /* role: blob (what its nodes may fetch), input (for locality) or
	   * pin ("name\tmanifest" of node-local data, not a blob). */
	  "CREATE TABLE job_blobs (job_id TEXT NOT NULL, sha256 TEXT NOT NULL,"
	  " role TEXT NOT NULL, PRIMARY KEY (job_id, sha256, role));"
	  "CREATE TABLE chunks (job_id TEXT NOT NULL, idx BIGINT NOT NULL,"
	  " state TEXT NOT NULL, attempt BIGINT NOT NULL DEFAULT 0,"
	  " failures BIGINT NOT NULL DEFAULT 0, node_id TEXT, lease_until BIGINT,"
	  " result TEXT, finished_at BIGINT, PRIMARY KEY (job_id, idx));"
	  "CREATE TABLE attempts (job_id TEXT NOT NULL, idx BIGINT NOT NULL,"
	  " attempt BIGINT NOT NULL, node_id TEXT NOT NULL, state TEXT NOT NULL,"
	  " reason TEXT, started_at BIGINT NOT NULL, finished_at BIGINT, sandbox TEXT,"
	  " PRIMARY KEY (job_id, idx, attempt));"
	  "CREATE TABLE chunk_logs (job_id TEXT NOT NULL, seq BIGINT NOT NULL,"
	  " idx BIGINT NOT NULL, attempt BIGINT NOT NULL, stream BIGINT NOT NULL,"
	  " text TEXT NOT NULL, PRIMARY KEY (job_id, seq));"
	  "CREATE TABLE artifacts (job_id TEXT NOT NULL, idx BIGINT NOT NULL,"
	  " path TEXT NOT NULL, sha256 TEXT NOT NULL, bytes BIGINT NOT NULL,"
	  " PRIMARY KEY (job_id, idx, path));",
	  NULL, NULL },
	/* The completed chunks whose result has an "output": a job's outputs
	 * are read from here (at most 1,000), not by scanning its chunks. */
	{ 2,
	  "CREATE TABLE job_outputs (job_id TEXT NOT NULL, idx BIGINT NOT NULL,"
	  " PRIMARY KEY (job_id, idx));"
	  "INSERT INTO job_outputs (job_id, idx) SELECT job_id, idx FROM chunks"
	  " WHERE state = 'completed' AND result LIKE '%\"output\"%';",
	  NULL, NULL },
	/* PostgreSQL: a chunk row is updated twice after its insert (assigned,
	 * then ended) and an attempt (until 4) once. Room left in each page lets those
	 * updates stay on the page (heap-only tuples: no new index entry, no
	 * other page dirtied). Rows inserted from now on get it. */
	{ 3, "SELECT 1", NULL,
	  "ALTER TABLE chunks SET (fillfactor = 40);"
	  "ALTER TABLE attempts SET (fillfactor = 60);" },
	/* An attempt's row is written once, when it ends; while it runs, the
	 * chunk's row says where and since when (a write fewer a chunk). The
	 * running rows written before are folded into their chunks. */
	{ 4,
	  "ALTER TABLE chunks ADD COLUMN started_at BIGINT;"
	  "UPDATE chunks SET started_at = (SELECT a.started_at FROM attempts a"
	  " WHERE a.job_id = chunks.job_id AND a.idx = chunks.idx AND a.attempt = chunks.attempt)"
	  " WHERE state = 'running';"
	  "DELETE FROM attempts WHERE state = 'running' AND EXISTS (SELECT 1 FROM chunks c"
	  " WHERE c.job_id = attempts.job_id AND c.idx = attempts.idx"
	  " AND c.attempt = attempts.attempt AND c.state = 'running');",
	  NULL, "ALTER TABLE attempts RESET (fillfactor);" },
	/* A chunk's completed attempt is its chunk's row (node, started_at,
	 * finished_at, sandbox): a completion writes one row, not two. The
	 * attempts table keeps the attempts that did not complete it. The
	 * completed rows written before are folded into their chunks. */
	{ 5,
	  "ALTER TABLE chunks ADD COLUMN sandbox TEXT;"
	  "UPDATE chunks SET node_id = a.node_id, started_at = a.started_at,"
	  " sandbox = a.sandbox FROM (SELECT job_id, idx, attempt, node_id, started_at, sandbox"
	  " FROM attempts WHERE state = 'completed') AS a WHERE a.job_id = chunks.job_id"
	  " AND a.idx = chunks.idx AND a.attempt = chunks.attempt AND chunks.state = 'completed';"
	  "DELETE FROM attempts WHERE state IN ('completed', 'running') AND EXISTS (SELECT 1"
	  " FROM chunks c WHERE c.job_id = attempts.job_id AND c.idx = attempts.idx"
	  " AND c.attempt = attempts.attempt AND c.state = 'completed' AND c.node_id IS NOT NULL);",
	  NULL, NULL },
};
const store_domain sched_store_domain = {
	"sched", migrations, (int)(sizeof migrations / sizeof migrations[0]), 0,
};

/* ---- the writer ---- */

/* The job-level sums of one batch, installed in the job once committed. */
struct jsum {
	sc_job *j;
	int64_t iterations;
	sc_stats stats;
	int done;
	int64_t at;
};

struct batch {
	struct jsum *v;
	size_t n;
};

static struct jsum *jsum_of(struct batch *b, sc_job *j)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].j == j)
			return &b->v[i];
	b->v = xrealloc(b->v, (b->n + 1) * sizeof *b->v);
	struct jsum *t = &b->v[b->n++];
	memset(t, 0, sizeof *t);
	t->j = j;
	sc_stats_merge(&t->stats, &j->stats);
	return t;
}

static void batch_release(struct batch *b, int install)
{
	for (size_t i = 0; i < b->n; i++) {
		struct jsum *t = &b->v[i];
		if (install) {
			sc_stats_release(&t->j->stats);
			t->j->stats = t->stats;
			t->j->completed_iterations += t->iterations;
		} else {
			sc_stats_release(&t->stats);
		}
	}
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

static int artifacts_write(sched *s, store_conn *c, const sc_op *o)
{
	json_t *a = o->artifacts ? json_loads(o->artifacts, 0, NULL) : NULL;
	size_t i;
	json_t *e;
	int rc = 0;
	json_array_foreach(a, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *sha = json_string_value(json_object_get(e, "sha256"));
		json_int_t bytes = json_integer_value(json_object_get(e, "bytes"));
		if (!path || !sha)
			continue;
		rc = blob_ref_add(s->blobs, c, sha, "job", o->job);
		if (rc == -ENOENT || rc == -EINVAL) {
			/* Checked when the result came in; gone since (gc): the
			 * row would name a missing blob. */
			log_warn("sched: artifact %s of %s-%u is not stored", sha, o->job, o->idx);
			rc = 0;
			continue;
		}
		if (rc == 0)
			rc = store_exec(c, "INSERT INTO artifacts (job_id, idx, path, sha256, bytes)"
					" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING", NULL,
					SARGS(SA_TEXT(o->job), SA_INT(o->idx), SA_TEXT(path),
					      SA_TEXT(sha), SA_INT(bytes)));
		if (rc)
			break;
	}
	json_decref(a);
	return rc;
}

/* ---- multi-row writes (PostgreSQL) ----
 * On PostgreSQL each statement costs the database a parse-free but still
 * per-statement execution (about 15 µs here), so a busy batch's chunk
 * assignments and completions are sent as two statements over arrays
 * (UPDATE … FROM unnest(…)) instead of two per chunk (a completion's
 * attempt is its chunk's row: migration 5). SQLite runs the single-row statements, which cost it a
 * few µs each.
 *
 * Ops on different chunks commute: they touch rows keyed by the chunk
 * (chunks) or by the chunk and attempt (attempts). So assignments and
 * completions are held back and written together, and any other op runs
 * at once, unless it touches a chunk with a held op: then the held ones are
 * written first. Invariants while held:
 *  - a chunk is in the assign set at most once and in the complete set at most
 *    once; flushes write assignments before completions, so a chunk in
 *    both had its assignment first (a completion after the assignment is
 *    held; an assignment after a completion flushes first);
 *  - OP_JOB with a flag (it updates every open chunk of a job) and every
 *    op of a chunk with a held op flush first. OP_LOG, artifacts and
 *    job_outputs rows touch no row a held op writes. */
/* An attempt's row is written once, when it ends; a row of the same
 * attempt already there is one that a server before migration 4 wrote
 * while it ran, and is ended here. */
#define ATTEMPT_UPSERT                                                                      \
	" ON CONFLICT (job_id, idx, attempt) DO UPDATE SET state = EXCLUDED.state,"         \
	" reason = EXCLUDED.reason, finished_at = EXCLUDED.finished_at,"                    \
	" sandbox = EXCLUDED.sandbox"
#define ROWS_MAX 4096             /* chunks per statement */
#define ROWS_BYTES (8u << 20)     /* array text per statement */
#define ROWS_MIN_OPS 8            /* smaller batches: single-row statements */

struct rowset {
	buf col[8];
	size_t n;
	uint64_t *keys;   /* open addressing, 0 = empty; 2 x ROWS_MAX slots */
};

struct rows {
	int on;                  /* the store is PostgreSQL */
	int planned;             /* the join settings are made in this transaction */
	struct rowset assign, complete;
};

#define KEY_SLOTS (2 * ROWS_MAX)

static uint64_t chunk_key(const sc_op *o)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = o->job; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h ^= (uint64_t)o->idx * 0x9e3779b97f4a7c15ULL;
	return h ? h : 1;
}

/* 1 when key is held (a hash match: at worst a needless flush). */
static int keys_has(const struct rowset *r, uint64_t key)
{
	if (!r->n)
		return 0;
	for (size_t i = key & (KEY_SLOTS - 1);; i = (i + 1) & (KEY_SLOTS - 1)) {
		if (r->keys[i] == key)
			return 1;
		if (!r->keys[i])
			return 0;
	}
}

static void keys_add(struct rowset *r, uint64_t key)
{
	size_t i = key & (KEY_SLOTS - 1);
	while (r->keys[i] && r->keys[i] != key)
		i = (i + 1) & (KEY_SLOTS - 1);
	r->keys[i] = key;
}

static void rowset_init(struct rowset *r)
{
	for (size_t i = 0; i < sizeof r->col / sizeof r->col[0]; i++)
		buf_init(&r->col[i], (size_t)1 << 30);
	r->n = 0;
	r->keys = xcalloc(KEY_SLOTS, sizeof *r->keys);
}

static void rowset_reset(struct rowset *r)
{
	for (size_t i = 0; i < sizeof r->col / sizeof r->col[0]; i++)
		buf_reset(&r->col[i]);
	if (r->n)
		memset(r->keys, 0, KEY_SLOTS * sizeof *r->keys);
	r->n = 0;
}

static void rowset_release(struct rowset *r)
{
	for (size_t i = 0; i < sizeof r->col / sizeof r->col[0]; i++)
		buf_release(&r->col[i]);
	free(r->keys);
	r->keys = NULL;
}

static size_t rowset_bytes(const struct rowset *r)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof r->col / sizeof r->col[0]; i++)
		n += r->col[i].len;
	return n;
}

static int rowset_close(struct rowset *r, int ncols)
{
	int rc = 0;
	for (int i = 0; i < ncols && rc == 0; i++)
		rc = store_array_close(&r->col[i]);
	return rc;
}

/* Writes the held rows: assignments, then completions. */
static int rows_flush(store_conn *c, struct rows *w)
{
	struct rowset *a = &w->assign, *d = &w->complete;
	int rc = 0;
	/* The planner sees the chunks and attempts of a job inserted moments
	 * ago with the statistics of an empty table, and joins them to the
	 * arrays by hashing after a scan of the whole table (3 ms a statement
	 * for 20,000 chunks, measured with auto_explain). Each row is one probe
	 * of the primary key: the join is a nested loop whatever the
	 * estimates. Generic plans are cached with the settings they were made
	 * under, and these statements run nowhere else. */
	if ((a->n || d->n) && !w->planned) {
		static const char *const set[] = { "SET LOCAL enable_hashjoin = off",
						   "SET LOCAL enable_mergejoin = off",
						   "SET LOCAL enable_seqscan = off" };
		for (size_t i = 0; i < sizeof set / sizeof set[0] && rc == 0; i++)
			rc = store_exec(c, set[i], NULL, SNOARGS);
		w->planned = rc == 0;
	}
	if (rc == 0 && a->n && (rc = rowset_close(a, 6)) == 0)
		rc = store_exec(c, "UPDATE chunks AS c SET state = 'running', attempt = u.attempt,"
				" node_id = u.node, lease_until = u.lease, started_at = u.at"
				" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],"
				" $5::bigint[], $6::bigint[]) AS u(job_id, idx, attempt, node, lease, at)"
				" WHERE c.job_id = u.job_id AND c.idx = u.idx", NULL,
				SARGS(SA_TEXT(a->col[0].data), SA_TEXT(a->col[1].data),
				      SA_TEXT(a->col[2].data), SA_TEXT(a->col[3].data),
				      SA_TEXT(a->col[4].data), SA_TEXT(a->col[5].data)));
	if (rc == 0 && d->n && (rc = rowset_close(d, 8)) == 0)
		rc = store_exec(c, "UPDATE chunks AS c SET state = 'completed', attempt = u.attempt,"
				" node_id = u.node, result = u.result, started_at = u.started,"
				" finished_at = u.at, sandbox = u.sandbox"
				" FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[],"
				" $5::bigint[], $6::bigint[], $7::text[], $8::text[])"
				" AS u(job_id, idx, attempt, node, started, at, sandbox, result)"
				" WHERE c.job_id = u.job_id AND c.idx = u.idx", NULL,
				SARGS(SA_TEXT(d->col[0].data), SA_TEXT(d->col[1].data),
				      SA_TEXT(d->col[2].data), SA_TEXT(d->col[6].data),
				      SA_TEXT(d->col[7].data), SA_TEXT(d->col[4].data),
				      SA_TEXT(d->col[5].data), SA_TEXT(d->col[3].data)));
	rowset_reset(a);
	rowset_reset(d);
	return rc;
}

/* Holds o's rows when it is an assignment or a completion (*held = 1),
 * after flushing what it must follow; any other op is flushed past when it
 * touches a held chunk, and then runs as before (*held = 0). */
static int rows_hold(store_conn *c, struct rows *w, const sc_op *o, int *held)
{
	*held = 0;
	if (!w->on || o->kind == OP_LOG)
		return 0;
	uint64_t key = chunk_key(o);
	int clash;
	switch (o->kind) {
	case OP_ASSIGN:
		clash = keys_has(&w->assign, key) || keys_has(&w->complete, key);
		break;
	case OP_COMPLETE:
		clash = keys_has(&w->complete, key);
		break;
	case OP_JOB:
		clash = o->flag != 0;
		break;
	default:
		clash = keys_has(&w->assign, key) || keys_has(&w->complete, key);
	}
	struct rowset *r = o->kind == OP_ASSIGN ? &w->assign : o->kind == OP_COMPLETE ?
			   &w->complete : NULL;
	if (r && (r->n >= ROWS_MAX || rowset_bytes(r) >= ROWS_BYTES))
		clash = 1;
	int rc = clash ? rows_flush(c, w) : 0;
	if (rc || !r)
		return rc;
	/* Columns: job, idx, attempt, then node, lease_until, at (assign) or
	 * result, at, sandbox, node, started_at (complete), as rows_flush
	 * binds them. */
	buf *col = r->col;
	int assign = o->kind == OP_ASSIGN;
	if ((rc = store_array_text(&col[0], o->job)) == 0 &&
	    (rc = store_array_int(&col[1], o->idx)) == 0 &&
	    (rc = store_array_int(&col[2], o->attempt)) == 0 &&
	    (rc = store_array_text(&col[3], assign ? o->node : o->result)) == 0 &&
	    (rc = store_array_int(&col[4], assign ? o->lease_until : o->at)) == 0)
		rc = assign ? store_array_int(&col[5], o->at) : store_array_text(&col[5], o->sandbox);
	if (rc == 0 && !assign && (rc = store_array_text(&col[6], o->node)) == 0)
		rc = store_array_int(&col[7], o->started_at);
	if (rc)
		return rc;
	keys_add(r, key);
	r->n++;
	*held = 1;
	return 0;
}

/* An ended attempt's row, whole. */
static int attempt_write(store_conn *c, const sc_op *o, const char *state, const char *reason)
{
	return store_exec(c, "INSERT INTO attempts (job_id, idx, attempt, node_id, state, reason,"
			  " started_at, finished_at, sandbox) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
			  " $9)" ATTEMPT_UPSERT, NULL,
			  SARGS(SA_TEXT(o->job), SA_INT(o->idx), SA_INT(o->attempt),
				SA_TEXT(o->node), SA_TEXT(state), SA_TEXT(reason),
				SA_INT(o->started_at), SA_INT(o->at), SA_TEXT(o->sandbox)));
}

static int op_apply(sched *s, store_conn *c, const sc_op *o, struct batch *b,
		    struct rows *w)
{
	const char *st;
	int held = 0;
	int rc = rows_hold(c, w, o, &held);
	if (rc)
		return rc;
	switch (o->kind) {
	case OP_ASSIGN:
		if (held)
			return 0;
		return store_exec(c, "UPDATE chunks SET state = 'running', attempt = $3, node_id = $4,"
				  " lease_until = $5, started_at = $6 WHERE job_id = $1 AND idx = $2",
				  NULL, SARGS(SA_TEXT(o->job), SA_INT(o->idx), SA_INT(o->attempt),
					      SA_TEXT(o->node), SA_INT(o->lease_until), SA_INT(o->at)));
	case OP_COMPLETE: {
		/* The completed attempt is the chunk's row (migration 5). */
		if (!held)
			rc = store_exec(c, "UPDATE chunks SET state = 'completed', attempt = $3,"
					" node_id = $4, result = $5, started_at = $6, finished_at = $7,"
					" sandbox = $8 WHERE job_id = $1 AND idx = $2", NULL,
					SARGS(SA_TEXT(o->job), SA_INT(o->idx), SA_INT(o->attempt),
					      SA_TEXT(o->node), SA_TEXT(o->result),
					      SA_INT(o->started_at), SA_INT(o->at), SA_TEXT(o->sandbox)));
		if (rc == 0)
			rc = artifacts_write(s, c, o);
		if (rc == 0 && o->has_output)
			rc = store_exec(c, "INSERT INTO job_outputs (job_id, idx) VALUES ($1, $2)"
					" ON CONFLICT DO NOTHING", NULL,
					SARGS(SA_TEXT(o->job), SA_INT(o->idx)));
		if (rc == 0) {
			struct jsum *t = jsum_of(b, o->jobp);
			t->iterations += o->iterations;
			sc_stats_merge(&t->stats, &o->stats);
			t->done |= o->job_done;
			t->at = o->at;
		}
		return rc;
	}
	case OP_ATTEMPT: {
		char state[16];
		const char *tab = strchr(o->reason, '\t');
		snprintf(state, sizeof state, "%.*s", (int)(tab - o->reason), o->reason);
		return attempt_write(c, o, state, *(tab + 1) ? tab + 1 : NULL);
	}
	case OP_CHUNK:
		return store_exec(c, "UPDATE chunks SET state = $3, failures = $4, node_id = NULL"
				  " WHERE job_id = $1 AND idx = $2", NULL,
				  SARGS(SA_TEXT(o->job), SA_INT(o->idx),
					SA_TEXT(sc_ck_state_names[o->state]), SA_INT(o->failures)));
	case OP_JOB:
		st = sc_job_state_names[o->state];
		rc = store_exec(c, "UPDATE jobs SET state = $2, reason = $3,"
				" started_at = CASE WHEN $2 = 'running' AND started_at IS NULL"
				" THEN $4 ELSE started_at END,"
				" finished_at = CASE WHEN $2 IN ('pending','running') THEN NULL ELSE $4 END"
				" WHERE id = $1", NULL,
				SARGS(SA_TEXT(o->job), SA_TEXT(st), SA_TEXT(o->reason), SA_INT(o->at)));
		if (rc == 0 && o->flag == 1)
			rc = store_exec(c, "UPDATE chunks SET state = 'cancelled', node_id = NULL"
					" WHERE job_id = $1 AND state IN ('pending','running')", NULL,
					SARGS(SA_TEXT(o->job)));
		if (rc == 0 && o->flag == 2)
			rc = store_exec(c, "UPDATE chunks SET state = 'pending', failures = 0"
					" WHERE job_id = $1 AND state IN ('failed','cancelled')", NULL,
					SARGS(SA_TEXT(o->job)));
		return rc;
	case OP_LOG:
		return store_exec(c, "INSERT INTO chunk_logs (job_id, seq, idx, attempt, stream, text)"
				  " VALUES ($1, $2, $3, $4, $5, $6)", NULL,
				  SARGS(SA_TEXT(o->job), SA_INT(o->iterations), SA_INT(o->idx),
					SA_INT(o->attempt), SA_INT(o->state), SA_TEXT(o->reason)));
	}
	return -EINVAL;
}

static int jsums_write(store_conn *c, struct batch *b)
{
	int rc = 0;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		struct jsum *t = &b->v[i];
		json_t *js = sc_stats_json(&t->stats);
		char *text = js ? json_dumps(js, JSON_COMPACT) : NULL;
		json_decref(js);
		if (!text)
			return -ENOMEM;
		rc = store_exec(c, "UPDATE jobs SET completed_iterations = completed_iterations + $2,"
				" stats = $3, state = CASE WHEN $4 = 1 THEN 'completed' ELSE state END,"
				" finished_at = CASE WHEN $4 = 1 THEN $5 ELSE finished_at END,"
				" reason = CASE WHEN $4 = 1 THEN NULL ELSE reason END WHERE id = $1",
				NULL, SARGS(SA_TEXT(t->j->id), SA_INT(t->iterations), SA_TEXT(text),
					    SA_INT(t->done), SA_INT(t->at)));
		free(text);
	}
	return rc;
}

/* Applies ops[from, to) in one transaction. */
static int batch_run(sched *s, sc_op *from, sc_op *to)
{
	store_conn *c = NULL;
	struct batch b = { 0 };
	/* A batch of a few ops (an idle scheduler) gains nothing from arrays. */
	size_t nops = 0;
	for (sc_op *o = from; o != to && nops < ROWS_MIN_OPS; o = o->next)
		nops++;
	struct rows w = { .on = nops >= ROWS_MIN_OPS && strcmp(store_backend(s->st), "postgres") == 0 };
	if (w.on) {
		rowset_init(&w.assign);
		rowset_init(&w.complete);
	}
	int rc = store_acquire(s->st, &c);
	/* Many small writes: on PostgreSQL one round trip for them all, the
	 * begin, write lock, fence and commit included (an op's error then
	 * shows at the commit, and ops_write retries alone). */
	if (rc == 0)
		rc = store_pipeline(c, 1);
	if (rc == 0)
		rc = store_begin(c);
	for (sc_op *o = from; rc == 0 && o != to; o = o->next)
		if ((rc = op_apply(s, c, o, &b, &w)))
			log_error("sched: op %d of %s-%u: %s", o->kind, o->job, o->idx,
				  store_errmsg(c));
	if (rc == 0 && w.on)
		rc = rows_flush(c, &w);
	if (w.on) {
		rowset_release(&w.assign);
		rowset_release(&w.complete);
	}
	if (rc == 0)
		rc = jsums_write(c, &b);
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	batch_release(&b, rc == 0);
	return rc;
}

/* A batch that fails because the database is away (STORE_EBUSY: locked
 * past the timeout, or a PostgreSQL server restarting or failing over) is
 * retried until it is back: those ops were acknowledged and must not be
 * lost. Otherwise each op is retried alone; one that fails again and again
 * is logged and dropped so that it cannot stall every later one. */
static void ops_write(sched *s, sc_op *ops)
{
	if (!ops)
		return;
	int rc = batch_run(s, ops, NULL);
	for (long wait_ms = 20; rc == STORE_EBUSY || rc == -ETIMEDOUT; rc = batch_run(s, ops, NULL)) {
		if (wait_ms == 20)
			log_warn("sched: the store is unavailable; holding the writes until it is back");
		sn_sleep_ms(wait_ms);
		wait_ms = wait_ms < 1000 ? wait_ms * 2 : 1000;
	}
	if (rc == 0)
		return;
	s->write_errors++;
	for (sc_op *o = ops; o; o = o->next) {
		int rc = 0;
		for (int tries = 0; tries < 5; tries++) {
			if ((rc = batch_run(s, o, o->next)) == 0)
				break;
			sn_sleep_ms(20L << tries);
		}
		if (rc)
			log_error("sched: dropped a write (op %d of %s-%u): %s", o->kind, o->job,
				  o->idx, strerror(rc < 0 && rc > -4096 ? -rc : EIO));
	}
}

void *sched_writer_main(void *arg)
{
	sched *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->core.ops && !s->stopping)
			pthread_cond_wait(&s->wcv, &s->mu);
		if (!s->core.ops && s->stopping)
			break;
		uint64_t last = s->core.seq;
		sc_op *ops = sc_ops_take(&s->core);
		pthread_mutex_unlock(&s->mu);
		if (s->write_delay_ms)
			sn_sleep_ms(s->write_delay_ms);
		ops_write(s, ops);
		size_t n = 0;
		for (sc_op *o = ops; o; o = o->next)
			n++;
		sc_op_free(ops);
		pthread_mutex_lock(&s->mu);
		s->durable = last;
		s->write_batches++;
		s->write_ops += n;
		pthread_cond_broadcast(&s->dcv);
		pthread_cond_broadcast(&s->lcv);
		sc_gc_jobs(&s->core, s->durable, node_now_ms(s->nodes));
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int sched_wait_durable(sched *s, uint64_t seq, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_signal(&s->wcv);
	while (s->durable < seq)
		if (pthread_cond_timedwait(&s->dcv, &s->mu, &ts))
			return s->durable < seq ? -ETIMEDOUT : 0;
	return 0;
}

/* ---- a new job ---- */

int sched_configs_gc(store *st, int64_t cutoff_ms, int64_t *removed)
{
	store_conn *c = NULL;
	int64_t n = 0;
	/* NOT IN over one subquery: both backends hash it once (jobs has no
	 * index on config_sha256); NULLs are excluded, or NOT IN keeps all. */
	int rc = store_acquire(st, &c);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM configs WHERE created_at < $1 AND sha256 NOT IN"
				" (SELECT config_sha256 FROM jobs WHERE config_sha256 IS NOT NULL)",
				&n, SARGS(SA_INT(cutoff_ms)));
	store_release(&c);
	if (rc == 0 && removed)
		*removed = n;
	return rc;
}

static int blobs_insert(store_conn *c, const char *id, char *const *v, size_t n, const char *role)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = store_exec(c, "INSERT INTO job_blobs (job_id, sha256, role) VALUES ($1, $2, $3)"
				" ON CONFLICT DO NOTHING", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(v[i]), SA_TEXT(role)));
	return rc;
}

int sched_store_job(sched *s, sc_job *j, const char *config_sha, const char *access_json,
		    const char *reason)
{
	store_conn *c = NULL;
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO jobs (id, name, owner_id, state, reason, priority,"
				" access, tmpl, config_sha256, total_iterations, chunk_size, nchunks,"
				" max_attempts, gpus, created_at, finished_at) VALUES ($1, $2, $3, $4,"
				" $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)", NULL,
				SARGS(SA_TEXT(j->id), SA_TEXT(j->name), SA_TEXT(j->owner),
				      SA_TEXT(sc_job_state_names[j->state]), SA_TEXT(reason),
				      SA_INT(j->priority), SA_TEXT(access_json), SA_TEXT(j->tmpl),
				      SA_TEXT(config_sha),
				      j->total_iterations < 0 ? SA_NULL : SA_INT(j->total_iterations),
				      SA_INT(j->chunk_size), SA_INT(j->nchunks), SA_INT(j->max_attempts),
				      SA_INT(j->gpus), SA_INT(j->created_at),
				      j->state > JOB_RUNNING ? SA_INT(j->created_at) : SA_NULL));
	/* Every chunk in one statement: a 100,000-chunk job is one insert. */
	if (rc == 0)
		rc = store_exec(c, "WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s"
				" WHERE i + 1 < $2) INSERT INTO chunks (job_id, idx, state)"
				" SELECT $1, i, $3 FROM s", NULL,
				SARGS(SA_TEXT(j->id), SA_INT(j->nchunks),
				      SA_TEXT(j->state > JOB_RUNNING ? "cancelled" : "pending")));
	for (size_t i = 0; rc == 0 && i < j->nparents; i++)
		rc = store_exec(c, "INSERT INTO job_deps (job_id, parent_id) VALUES ($1, $2)"
				" ON CONFLICT DO NOTHING", NULL,
				SARGS(SA_TEXT(j->id), SA_TEXT(j->parents[i])));
	if (rc == 0)
		rc = blobs_insert(c, j->id, j->blobs, j->nblobs, "blob");
	if (rc == 0)
		rc = blobs_insert(c, j->id, j->inputs, j->ninputs, "input");
	if (rc == 0)
		rc = blobs_insert(c, j->id, j->pins, j->npins, "pin");
	for (size_t i = 0; rc == 0 && i < j->nblobs; i++)
		if (strcmp(j->blobs[i], config_sha ? config_sha : "") != 0)
			rc = blob_ref_add(s->blobs, c, j->blobs[i], "job", j->id);
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	return rc;
}

/* ---- load at start ---- */

static char **strv_push(char **v, size_t *n, const char *s)
{
	v = xrealloc(v, (*n + 1) * sizeof *v);
	v[(*n)++] = xstrdup(s);
	return v;
}

static int load_lists(store_conn *c, sc_job *j)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT sha256, role FROM job_blobs WHERE job_id = $1", &rows,
			     SARGS(SA_TEXT(j->id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		const char *sha = store_rows_text(rows, 0), *role = store_rows_text(rows, 1);
		if (strcmp(role, "pin") == 0)
			j->pins = strv_push(j->pins, &j->npins, sha);
		else if (strcmp(role, "input") == 0)
			j->inputs = strv_push(j->inputs, &j->ninputs, sha);
		else
			j->blobs = strv_push(j->blobs, &j->nblobs, sha);
		rc = 0;
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT d.parent_id FROM job_deps d JOIN jobs p ON p.id ="
				 " d.parent_id WHERE d.job_id = $1 AND p.state IN ('pending','running')",
				 &rows, SARGS(SA_TEXT(j->id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		j->parents = strv_push(j->parents, &j->nparents, store_rows_text(rows, 0));
		rc = 0;
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT group_id FROM group_members WHERE user_id = $1", &rows,
				 SARGS(SA_TEXT(j->owner)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		j->owner_groups = strv_push(j->owner_groups, &j->nowner_groups,
					    store_rows_text(rows, 0));
		rc = 0;
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT COALESCE(MAX(seq), 0) FROM chunk_logs WHERE job_id = $1",
				 &rows, SARGS(SA_TEXT(j->id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		j->log_seq = (uint64_t)store_rows_int(rows, 0);
		rc = 0;
	}
	store_rows_free(&rows);
	return rc;
}

static int state_index(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return 0;
}

static int load_chunks(sched *s, store_conn *c, sc_job *j, int64_t now)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT idx, state, attempt, failures, node_id, started_at"
			     " FROM chunks WHERE job_id = $1", &rows, SARGS(SA_TEXT(j->id)));
	j->ck = xcalloc(j->nchunks, sizeof *j->ck);
	char **nodes = xcalloc(j->nchunks, sizeof *nodes);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		int64_t idx = store_rows_int(rows, 0);
		rc = 0;
		if (idx < 0 || idx >= j->nchunks)
			continue;
		sc_chunk *ck = &j->ck[idx];
		ck->state = (uint8_t)state_index(sc_ck_state_names, CK_NSTATES, store_rows_text(rows, 1));
		ck->attempt = (uint32_t)store_rows_int(rows, 2);
		ck->failures = (uint16_t)store_rows_int(rows, 3);
		ck->node = -1;
		ck->started_at = store_rows_isnull(rows, 5) ? now : store_rows_int(rows, 5);
		if (ck->state == CK_RUNNING && !store_rows_isnull(rows, 4))
			nodes[idx] = xstrdup(store_rows_text(rows, 4));
		else if (ck->state == CK_RUNNING)
			ck->state = CK_PENDING;
	}
	store_rows_free(&rows);
	if (rc == 0) {
		sc_add_job(&s->core, j, now);
		/* A running chunk keeps a fresh lease: its node renews it with
		 * its next heartbeat or loses it (sc_reap). */
		for (uint32_t i = 0; i < j->nchunks; i++)
			if (nodes[i])
				sc_adopt_running(&s->core, j, i, nodes[i], now + s->cfg.lease_ms);
	}
	for (uint32_t i = 0; i < j->nchunks; i++)
		free(nodes[i]);
	free(nodes);
	return rc;
}

static sc_job *job_from_row(store_rows *rows)
{
	sc_job *j = xcalloc(1, sizeof *j);
	sn_strlcpy(j->id, store_rows_text(rows, 0), sizeof j->id);
	sn_strlcpy(j->name, store_rows_text(rows, 1), sizeof j->name);
	sn_strlcpy(j->owner, store_rows_text(rows, 2), sizeof j->owner);
	j->state = state_index(sc_job_state_names, 5, store_rows_text(rows, 3));
	j->priority = (int)store_rows_int(rows, 4);
	j->tmpl = xstrdup(store_rows_text(rows, 6));
	j->total_iterations = store_rows_isnull(rows, 7) ? -1 : store_rows_int(rows, 7);
	j->chunk_size = store_rows_int(rows, 8);
	j->nchunks = (uint32_t)store_rows_int(rows, 9);
	j->max_attempts = (int)store_rows_int(rows, 10);
	j->gpus = (int)store_rows_int(rows, 11);
	j->completed_iterations = store_rows_int(rows, 12);
	j->created_at = store_rows_int(rows, 14);
	return j;
}

#define JOB_LOAD_COLS "id, name, owner_id, state, priority, access, tmpl, total_iterations," \
	" chunk_size, nchunks, max_attempts, gpus, completed_iterations, stats, created_at"

int sched_load_job(sched *s, store_conn *c, const char *id)
{
	store_rows *rows = NULL;
	sc_job *j = NULL;
	int rc = store_query(c, "SELECT " JOB_LOAD_COLS " FROM jobs WHERE id = $1", &rows,
			     SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		j = job_from_row(rows);
		rc = sched_access_parse(j, store_rows_text(rows, 5));
		if (rc == 0)
			rc = sc_stats_parse(store_rows_text(rows, 13), &j->stats);
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	if (rc == 0 && j->nchunks == 0)
		rc = -EBADMSG;
	if (rc == 0)
		rc = load_lists(c, j);
	if (rc == 0) {
		rc = load_chunks(s, c, j, node_now_ms(s->nodes));
		if (rc == 0)
			return 0; /* the core has it */
	}
	sc_job_free(j);
	return rc;
}

int sched_load(sched *s)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char **ids = NULL;
	size_t n = 0;
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id FROM jobs WHERE state IN ('pending','running')"
				 " ORDER BY created_at", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		ids = strv_push(ids, &n, store_rows_text(rows, 0));
		rc = 0;
	}
	store_rows_free(&rows);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && (rc = sched_load_job(s, c, ids[i])))
			log_error("sched: cannot load job %s: %s", ids[i], store_errmsg(c));
		free(ids[i]);
	}
	pthread_mutex_unlock(&s->mu);
	free(ids);
	store_release(&c);
	return rc;
}
