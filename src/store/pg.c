/* PostgreSQL backend (libpq, loaded on first use like SQLite's).
 *
 * What makes the portable SQL of store.h behave as on SQLite:
 *  - Parameters go as text, typed by what the caller bound: SA_INT int8,
 *    SA_DBL float8, SA_BLOB bytea (binary), SA_TEXT and SA_NULL unknown
 *    (PostgreSQL infers them from where they stand, as SQLite's affinity
 *    would convert them).
 *  - Results come as text; integers parse as numbers (a boolean reads 1 or
 *    0, a numeric such as SUM's is truncated as SQLite's CAST would).
 *  - A write transaction takes one advisory lock first: writers take turns
 *    as under SQLite's BEGIN IMMEDIATE, so code that reads, decides and
 *    writes inside a transaction keeps the guarantees it was written for,
 *    also across several servers on one database.
 *  - Migration DDL is translated word by word (INTEGER is BIGINT, as
 *    SQLite's integers are 64-bit; BLOB is BYTEA; REAL is DOUBLE PRECISION).
 *
 * A connection that breaks (server restart, failover) is reset on its next
 * use, no sooner than a backoff after the last failed try; meanwhile every
 * call fails with STORE_EBUSY, which HTTP answers 503 with Retry-After.
 * Nothing is retried behind the caller's back: a statement that may or may
 * not have run is the caller's to judge, as with a crash. */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libpq-fe.h>
#include "base/dl.h"
#include "base/mem.h"
#include "base/util.h"
#include "store/store_int.h"

#define PG_FUNCS(X) \
	X(PQclear) \
	X(PQcmdStatus) \
	X(PQconsumeInput) \
	X(PQcmdTuples) \
	X(PQconnectdb) \
	X(PQenterPipelineMode) \
	X(PQerrorMessage) \
	X(PQexec) \
	X(PQexecPrepared) \
	X(PQexitPipelineMode) \
	X(PQfinish) \
	X(PQfreemem) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQnotifies) \
	X(PQntuples) \
	X(PQpipelineSync) \
	X(PQprepare) \
	X(PQreset) \
	X(PQresultErrorField) \
	X(PQresultStatus) \
	X(PQsendQueryPrepared) \
	X(PQsetNoticeProcessor) \
	X(PQsocket) \
	X(PQstatus) \
	X(PQtransactionStatus) \
	X(PQunescapeBytea)
#define PG_FIELD(f) __typeof__(&f) f;
static struct {
	PG_FUNCS(PG_FIELD)
} pq;
#define PG_NAME(f) #f,
static const char *const pq_names[] = { PG_FUNCS(PG_NAME) };
static sn_dl_lib pq_lib = SN_DL_LIB("libpq.so.5", "libpq5", pq_names, &pq);
_Static_assert(sizeof pq == sizeof pq_names / sizeof pq_names[0] * sizeof(void *),
	       "one pointer per name");

/* Type OIDs of the built-in types we bind (pg_type.h, stable forever). */
enum { OID_BYTEA = 17, OID_INT8 = 20, OID_TEXT = 25, OID_FLOAT8 = 701 };

/* The lock every write transaction takes (any constant: ours alone). */
#define PG_WRITE_LOCK "7309147261"
/* Reconnection backoff after a failed try: doubles up to the maximum. */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
/* Prepared statements a connection keeps (by SQL text and argument types). */
#define STMT_CACHE 128
#define ARGS_MAX 64

struct stmt {
	char *sql;
	char types[ARGS_MAX + 1]; /* one letter per argument: the binding's type */
	int id;
	int pinned; /* named by statements queued for the pipeline: not evicted */
};

/* A statement queued by pg_defer: its arguments as libpq takes them, owned. */
struct queued {
	char *sql;
	int fence; /* no row: the transaction is refused (pg_defer) */
	char types[ARGS_MAX + 1];
	int nargs;
	char *vals[ARGS_MAX];
	int lens[ARGS_MAX], fmts[ARGS_MAX];
};

struct conn {
	PGconn *pg;
	char *dsn;
	struct stmt cache[STMT_CACHE];
	int next_slot; /* round robin eviction */
	int next_id;
	int ready;           /* connected and set up (setup_session) */
	struct queued *q;    /* pg_defer's statements, sent by pg_flush */
	int nq, capq;
	int64_t retry_at_ms; /* broken: no reset before this */
	int64_t backoff_ms;
	char err[512];
};

struct rows {
	PGresult *res;
	int n, at;
	/* Unescaped byteas of the current row, freed on the next row: each
	 * stays valid until then, as store.h promises (a row's blobs are read
	 * side by side). */
	unsigned char **bytes;
	int nbytes, capbytes;
};

static void rows_drop_bytes(struct rows *r)
{
	for (int i = 0; i < r->nbytes; i++)
		pq.PQfreemem(r->bytes[i]);
	r->nbytes = 0;
}

static void pg_discard(void *p);

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* NOTICEs ("relation exists, skipping") are not errors */
}

static void set_err(struct conn *c, const char *what)
{
	snprintf(c->err, sizeof c->err, "%s", what ? what : "?");
	size_t n = strlen(c->err);
	while (n && (c->err[n - 1] == '\n' || c->err[n - 1] == ' '))
		c->err[--n] = '\0';
}

static void forget_statements(struct conn *c)
{
	for (int i = 0; i < STMT_CACHE; i++) {
		free(c->cache[i].sql);
		c->cache[i].sql = NULL;
		c->cache[i].pinned = 0;
	}
}

/* SQLSTATE classes to store codes; a lost connection is busy (503): the
 * database is away, not our request wrong. */
static int map_state(struct conn *c, PGresult *res)
{
	const char *st = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (pq.PQstatus(c->pg) != CONNECTION_OK || !st)
		return STORE_EBUSY;
	if (strncmp(st, "23", 2) == 0)
		return STORE_ECONSTRAINT;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0 ||
	    strncmp(st, "57P", 3) == 0 || strncmp(st, "08", 2) == 0 || strcmp(st, "53300") == 0)
		return STORE_EBUSY;
	if (strcmp(st, "53100") == 0)
		return -ENOSPC;
	if (strcmp(st, "53200") == 0)
		return -ENOMEM;
	return -EIO;
}

/* Every session of this process is named "sentinel <pid> <random>": one
 * name a process, no other's. A replica that takes the lead from a hung
 * leader ends all of the old leader's sessions by that name, not only its
 * lock session: another might hold the write lock in an open transaction,
 * which would stop the new leader's epoch raise forever (replica.c). */
static char app_name[48];
static pthread_once_t app_once = PTHREAD_ONCE_INIT;

static void app_name_init(void)
{
	uint8_t r[8];
	char hex[2 * sizeof r + 1];
	sn_random(r, sizeof r);
	sn_hex(r, sizeof r, hex);
	snprintf(app_name, sizeof app_name, "sentinel %ld %s", (long)getpid(), hex);
}

/* What every session needs: times and text compare as on SQLite whatever
 * the server's or the database's defaults, and the process's name. Run on
 * each new connection, resets included (a reset is a new session). 0, or
 * -1 with c->err set. */
static int setup_session(struct conn *c)
{
	char sql[128];
	pq.PQsetNoticeProcessor(c->pg, quiet, NULL);
	pthread_once(&app_once, app_name_init);
	snprintf(sql, sizeof sql, "SET TIME ZONE 'UTC'; SET client_encoding = 'UTF8';"
		 " SET application_name = '%s'", app_name);
	PGresult *res = pq.PQexec(c->pg, sql);
	int ok = pq.PQresultStatus(res) == PGRES_COMMAND_OK;
	pq.PQclear(res);
	if (!ok)
		set_err(c, pq.PQerrorMessage(c->pg));
	return ok ? 0 : -1;
}

/* Makes sure the connection is up: resets a broken one when its backoff
 * is over. 0, or STORE_EBUSY while the database is unreachable. */
static int ensure(struct conn *c)
{
	if (c->ready && pq.PQstatus(c->pg) == CONNECTION_OK)
		return 0;
	int64_t now = mono_ms();
	if (now < c->retry_at_ms)
		return STORE_EBUSY;
	forget_statements(c);
	pq.PQreset(c->pg);
	c->ready = pq.PQstatus(c->pg) == CONNECTION_OK && setup_session(c) == 0;
	if (c->ready) {
		c->backoff_ms = 0;
		return 0;
	}
	if (pq.PQstatus(c->pg) != CONNECTION_OK)
		set_err(c, pq.PQerrorMessage(c->pg));
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->retry_at_ms = now + c->backoff_ms;
	return STORE_EBUSY;
}

static int pg_connect(const char *dsn, void **out, char *err, size_t errlen)
{
	if (sn_dl_use(&pq_lib, err, errlen))
		return -ENOENT;
	PGconn *pg = pq.PQconnectdb(dsn);
	if (!pg) {
		snprintf(err, errlen, "cannot connect to PostgreSQL: out of memory");
		return -ENOMEM;
	}
	if (pq.PQstatus(pg) != CONNECTION_OK) {
		/* libpq's message names host and port, never the password. */
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", pq.PQerrorMessage(pg));
		size_t n = strlen(err);
		while (n && err[n - 1] == '\n')
			err[--n] = '\0';
		pq.PQfinish(pg);
		return STORE_EBUSY;
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->pg = pg;
	c->dsn = xstrdup(dsn);
	if (setup_session(c)) {
		snprintf(err, errlen, "cannot configure the PostgreSQL session: %s", c->err);
		pq.PQfinish(pg);
		free(c->dsn);
		free(c);
		return -EIO;
	}
	c->ready = 1;
	*out = c;
	return 0;
}

static void pg_disconnect(void *p)
{
	struct conn *c = p;
	forget_statements(c);
	pg_discard(c);
	free(c->q);
	pq.PQfinish(c->pg);
	free(c->dsn);
	free(c);
}

static char type_letter(enum store_type t)
{
	switch (t) {
	case STORE_INT: return 'i';
	case STORE_DOUBLE: return 'd';
	case STORE_BLOB: return 'b';
	case STORE_TEXT: return 't';
	case STORE_NULL: break;
	}
	return 'n';
}

static unsigned oid_of(char letter)
{
	switch (letter) {
	case 'i': return OID_INT8;
	case 'd': return OID_FLOAT8;
	case 'b': return OID_BYTEA;
	default: return 0;
	}
}

/* The name of a prepared statement for sql with these argument types,
 * preparing it on a miss. */
static int stmt_name(struct conn *c, const char *sql, const char *types, int nargs, int pin,
		     char name[24])
{
	for (int i = 0; i < STMT_CACHE; i++) {
		struct stmt *s = &c->cache[i];
		if (s->sql && strcmp(s->types, types) == 0 && strcmp(s->sql, sql) == 0) {
			snprintf(name, 24, "sn%d", s->id);
			if (pin)
				s->pinned = 1;
			return 0;
		}
	}
	unsigned oids[ARGS_MAX];
	for (int i = 0; i < nargs; i++)
		oids[i] = oid_of(types[i]);
	int id = ++c->next_id;
	snprintf(name, 24, "sn%d", id);
	int rc = 0;
	/* A text or NULL argument whose type the server cannot infer from where
	 * it first stands ("$1 IS NULL OR col = $1", or one the SQL does not
	 * use) is typed text, one at a time: SQLite took any. Once per
	 * statement and connection. In a transaction a failed PREPARE would
	 * abort it: a savepoint keeps the retries from doing so. */
	int in_tx = pq.PQtransactionStatus(c->pg) == PQTRANS_INTRANS;
	if (in_tx)
		pq.PQclear(pq.PQexec(c->pg, "SAVEPOINT sn_prepare"));
	for (int tries = 0; tries <= nargs; tries++) {
		if (tries && in_tx)
			pq.PQclear(pq.PQexec(c->pg, "ROLLBACK TO SAVEPOINT sn_prepare"));
		PGresult *res = pq.PQprepare(c->pg, name, sql, nargs, oids);
		if (pq.PQresultStatus(res) == PGRES_COMMAND_OK) {
			pq.PQclear(res);
			rc = 0;
			break;
		}
		set_err(c, pq.PQerrorMessage(c->pg));
		rc = map_state(c, res);
		const char *st = pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
		const char *msg = pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *dollar = msg ? strchr(msg, '$') : NULL;
		int k = dollar ? atoi(dollar + 1) : 0;
		int retry = st && strcmp(st, "42P18") == 0 && k >= 1 && k <= nargs && oids[k - 1] == 0;
		pq.PQclear(res);
		if (!retry)
			break;
		oids[k - 1] = OID_TEXT;
	}
	if (in_tx)
		pq.PQclear(pq.PQexec(c->pg, rc ? "ROLLBACK TO SAVEPOINT sn_prepare; RELEASE SAVEPOINT sn_prepare"
					    : "RELEASE SAVEPOINT sn_prepare"));
	if (rc)
		return rc;
	/* At most PIPE_MAX of the slots are pinned: one is free to take. */
	while (c->cache[c->next_slot].pinned)
		c->next_slot = (c->next_slot + 1) % STMT_CACHE;
	struct stmt *s = &c->cache[c->next_slot];
	c->next_slot = (c->next_slot + 1) % STMT_CACHE;
	if (s->sql) {
		/* Evicted: deallocated on the server too, or it would pile up. */
		char sqlx[48];
		snprintf(sqlx, sizeof sqlx, "DEALLOCATE sn%d", s->id);
		pq.PQclear(pq.PQexec(c->pg, sqlx));
		free(s->sql);
	}
	s->sql = xstrdup(sql);
	snprintf(s->types, sizeof s->types, "%s", types);
	s->id = id;
	s->pinned = pin;
	return 0;
}

static void format_double(double d, char *buf, size_t n)
{
	if (isnan(d))
		snprintf(buf, n, "NaN");
	else if (isinf(d))
		snprintf(buf, n, d > 0 ? "Infinity" : "-Infinity");
	else
		snprintf(buf, n, "%.17g", d);
}

/* One argument as libpq takes it (*val NULL for SQL NULL; num holds the
 * text of a number); returns its type letter (stmt_name's key). A NaN binds
 * NULL, as SQLite binds it, so that a NOT NULL column refuses it on both. */
static char encode_arg(const store_arg *a, char num[32], const char **val, int *len, int *fmt)
{
	*val = NULL;
	*len = 0;
	*fmt = 0;
	switch (a->type) {
	case STORE_NULL: break;
	case STORE_INT:
		snprintf(num, 32, "%lld", (long long)a->i);
		*val = num;
		break;
	case STORE_DOUBLE:
		if (!isnan(a->d)) {
			format_double(a->d, num, 32);
			*val = num;
		}
		break;
	case STORE_TEXT: *val = a->s; break;
	case STORE_BLOB:
		*val = a->s ? a->s : "";
		*len = (int)a->i;
		*fmt = 1;
		break;
	}
	return type_letter(a->type);
}

/* Runs sql with args; *out gets the result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK), which the caller clears. */
static int run(struct conn *c, const char *sql, int nargs, const store_arg *args, PGresult **out)
{
	*out = NULL;
	int rc = ensure(c);
	if (rc) {
		if (!c->err[0])
			set_err(c, "the database is unreachable");
		return rc;
	}
	if (nargs > ARGS_MAX) {
		set_err(c, "too many arguments");
		return -EINVAL;
	}
	char types[ARGS_MAX + 1];
	const char *vals[ARGS_MAX];
	int lens[ARGS_MAX], fmts[ARGS_MAX];
	char nums[ARGS_MAX][32];
	for (int i = 0; i < nargs; i++)
		types[i] = encode_arg(&args[i], nums[i], &vals[i], &lens[i], &fmts[i]);
	types[nargs] = '\0';
	char name[24];
	PGresult *res = NULL;
	if (nargs == 0 && strchr(sql, ';')) {
		/* Several statements (migrations, BEGIN with its lock): no parameters. */
		res = pq.PQexec(c->pg, sql);
	} else {
		if ((rc = stmt_name(c, sql, types, nargs, 0, name)))
			goto lost;
		res = pq.PQexecPrepared(c->pg, name, nargs, vals, lens, fmts, 0);
	}
	ExecStatusType st = pq.PQresultStatus(res);
	/* COMMIT of a transaction an error aborted answers ROLLBACK, not an
	 * error: the caller must hear that nothing was kept. */
	if (st == PGRES_COMMAND_OK && strcmp(pq.PQcmdStatus(res), "ROLLBACK") == 0 &&
	    strcmp(sql, "COMMIT") == 0) {
		set_err(c, "the transaction was rolled back by an earlier error");
		pq.PQclear(res);
		return -EIO;
	}
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		*out = res;
		return 0;
	}
	set_err(c, pq.PQerrorMessage(c->pg));
	rc = map_state(c, res);
	pq.PQclear(res);
lost:
	if (pq.PQstatus(c->pg) != CONNECTION_OK) {
		/* Broken mid-call: the first reset may be tried at once. */
		forget_statements(c);
		c->retry_at_ms = 0;
	}
	return rc;
}

#define WRITE_LOCK_SQL "SELECT pg_advisory_xact_lock(" PG_WRITE_LOCK ")"
static const char *const begin_steps[] = { "BEGIN", WRITE_LOCK_SQL, NULL };

static int pg_exec(void *p, const char *sql, int64_t *changes, int nargs, const store_arg *args)
{
	PGresult *res = NULL;
	int rc = run(p, sql, nargs, args, &res);
	if (rc == 0 && changes) {
		const char *n = pq.PQcmdTuples(res);
		*changes = n && *n ? strtoll(n, NULL, 10) : 0;
	}
	pq.PQclear(res);
	return rc;
}

/* Statements sent per pipeline sync: their results must fit the socket
 * buffers while we are still sending, or both ends would wait. Also the
 * most statement slots one flush pins (PIPE_MAX < STMT_CACHE). */
#define PIPE_MAX 64

static void queued_free(struct queued *q)
{
	free(q->sql);
	for (int i = 0; i < q->nargs; i++)
		free(q->vals[i]);
}

static void pg_discard(void *p)
{
	struct conn *c = p;
	for (int i = 0; i < c->nq; i++)
		queued_free(&c->q[i]);
	c->nq = 0;
}

/* Queues a statement whose outcome is learnt at pg_flush. */
static int pg_defer(void *p, const char *sql, int nargs, const store_arg *args, int fence)
{
	struct conn *c = p;
	if (nargs > ARGS_MAX) {
		set_err(c, "too many arguments");
		return -EINVAL;
	}
	if (c->nq == c->capq) {
		c->capq = c->capq ? c->capq * 2 : 64;
		c->q = xrealloc(c->q, (size_t)c->capq * sizeof *c->q);
	}
	struct queued *q = &c->q[c->nq++];
	memset(q, 0, sizeof *q);
	/* The server must stop the pipeline itself, before any later statement
	 * (a COMMIT among them) runs: a fence that finds no row divides by
	 * zero (SQLSTATE 22012), which pipe_group reads as "refused". */
	q->sql = fence ? xasprintf("SELECT 1 / (SELECT count(*)::integer FROM (%s) AS fence)", sql)
		       : xstrdup(sql);
	q->fence = fence;
	q->nargs = nargs;
	for (int i = 0; i < nargs; i++) {
		char num[32];
		const char *v;
		q->types[i] = encode_arg(&args[i], num, &v, &q->lens[i], &q->fmts[i]);
		if (v) {
			/* Owned until the flush: the caller's buffers may be gone. */
			size_t n = q->fmts[i] ? (size_t)q->lens[i] : strlen(v) + 1;
			q->vals[i] = xmalloc(n ? n : 1);
			memcpy(q->vals[i], v, n);
		}
	}
	q->types[nargs] = '\0';
	return 0;
}

/* Sends queued[from, to) in one pipeline and reads every result: one round
 * trip instead of one per statement. The first error is returned; the
 * server skips the rest of the group (the transaction is aborted anyway). */
static int pipe_group(struct conn *c, int from, int to)
{
	char names[PIPE_MAX][24];
	int rc = 0, n = to - from;
	for (int i = 0; i < n && rc == 0; i++) {
		struct queued *q = &c->q[from + i];
		rc = stmt_name(c, q->sql, q->types, q->nargs, 1, names[i]);
	}
	if (rc)
		goto out;
	if (!pq.PQenterPipelineMode(c->pg)) {
		set_err(c, pq.PQerrorMessage(c->pg));
		rc = -EIO;
		goto out;
	}
	int sent = 0;
	for (; sent < n; sent++) {
		struct queued *q = &c->q[from + sent];
		if (!pq.PQsendQueryPrepared(c->pg, names[sent], q->nargs, (const char *const *)q->vals,
					    q->lens, q->fmts, 0))
			break;
	}
	int synced = sent == n && pq.PQpipelineSync(c->pg);
	if (!synced) {
		set_err(c, pq.PQerrorMessage(c->pg));
		rc = map_state(c, NULL);
	}
	/* Each statement's results end with a NULL (an aborted one's too: the
	 * server skips the rest of a group after an error); then the sync's.
	 * A broken connection gives NULLs only. */
	for (int i = 0; i < sent; i++) {
		PGresult *res;
		while ((res = pq.PQgetResult(c->pg))) {
			if (pq.PQresultStatus(res) == PGRES_FATAL_ERROR && rc == 0) {
				const char *code = pq.PQresultErrorField(res, PG_DIAG_SQLSTATE);
				if (c->q[from + i].fence && code && !strcmp(code, "22012")) {
					set_err(c, "another replica leads this database: write refused");
					rc = STORE_EBUSY;
				} else {
					set_err(c, pq.PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
					rc = map_state(c, res);
				}
			}
			pq.PQclear(res);
		}
	}
	if (synced) {
		PGresult *res = pq.PQgetResult(c->pg);
		if (pq.PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == 0) {
			set_err(c, pq.PQerrorMessage(c->pg));
			rc = map_state(c, res);
		}
		pq.PQclear(res);
	}
	if (!pq.PQexitPipelineMode(c->pg)) {
		PGresult *res;
		while ((res = pq.PQgetResult(c->pg)))
			pq.PQclear(res);
		if (!pq.PQexitPipelineMode(c->pg) && rc == 0) {
			set_err(c, pq.PQerrorMessage(c->pg));
			rc = -EIO;
		}
	}
out:
	for (int i = 0; i < STMT_CACHE; i++)
		c->cache[i].pinned = 0;
	if (pq.PQstatus(c->pg) != CONNECTION_OK) {
		forget_statements(c);
		c->retry_at_ms = 0;
	}
	return rc;
}

/* Sends what pg_defer queued; 0 or the first error. The queue is empty
 * afterwards either way. */
static int pg_flush(void *p)
{
	struct conn *c = p;
	int rc = c->nq ? ensure(c) : 0;
	for (int from = 0; rc == 0 && from < c->nq; from += PIPE_MAX)
		rc = pipe_group(c, from, from + PIPE_MAX < c->nq ? from + PIPE_MAX : c->nq);
	pg_discard(c);
	return rc;
}

static int pg_query(void *p, const char *sql, void **out, int nargs, const store_arg *args)
{
	PGresult *res = NULL;
	int rc = run(p, sql, nargs, args, &res);
	if (rc)
		return rc;
	struct rows *r = xcalloc(1, sizeof *r);
	r->res = res;
	r->n = pq.PQntuples(res);
	r->at = -1;
	*out = r;
	return 0;
}

static int pg_next(void *p)
{
	struct rows *r = p;
	rows_drop_bytes(r);
	if (r->at < r->n)
		r->at++;
	return r->at < r->n;
}

static int pg_isnull(void *p, int col)
{
	struct rows *r = p;
	return pq.PQgetisnull(r->res, r->at, col);
}

static const char *pg_text(void *p, int col)
{
	struct rows *r = p;
	return pq.PQgetisnull(r->res, r->at, col) ? NULL : pq.PQgetvalue(r->res, r->at, col);
}

static int64_t pg_int(void *p, int col)
{
	const char *t = pg_text(p, col);
	if (!t || !*t)
		return 0;
	if (t[0] == 't' && !t[1])
		return 1;
	if (t[0] == 'f' && !t[1])
		return 0;
	char *end;
	long long v = strtoll(t, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E') {
		double d = strtod(t, NULL);
		return isfinite(d) ? (int64_t)d : 0;
	}
	return v;
}

static double pg_dbl(void *p, int col)
{
	const char *t = pg_text(p, col);
	return t ? strtod(t, NULL) : 0.0;
}

static const void *pg_blob(void *p, int col, size_t *len)
{
	struct rows *r = p;
	*len = 0;
	const char *t = pg_text(p, col);
	if (!t)
		return NULL;
	size_t n = 0;
	unsigned char *b = pq.PQunescapeBytea((const unsigned char *)t, &n);
	if (!b)
		return NULL;
	if (r->nbytes == r->capbytes) {
		r->capbytes = r->capbytes ? r->capbytes * 2 : 4;
		r->bytes = xrealloc(r->bytes, (size_t)r->capbytes * sizeof *r->bytes);
	}
	r->bytes[r->nbytes++] = b;
	*len = n;
	return n ? b : NULL;
}

static void pg_rows_free(void *p)
{
	struct rows *r = p;
	rows_drop_bytes(r);
	free(r->bytes);
	pq.PQclear(r->res);
	free(r);
}

static const char *pg_errmsg(void *p)
{
	return ((struct conn *)p)->err;
}

/* Word-by-word DDL translation outside quotes; the caller frees. */
static char *pg_ddl(const char *sql)
{
	static const struct {
		const char *from, *to;
	} words[] = {
		{ "INTEGER", "BIGINT" },
		{ "BLOB", "BYTEA" },
		{ "REAL", "DOUBLE PRECISION" },
	};
	size_t cap = strlen(sql) * 2 + 64, n = 0;
	char *out = xmalloc(cap);
	char quote = 0;
	for (const char *s = sql; *s;) {
		if (quote) {
			if (*s == quote)
				quote = 0;
			out[n++] = *s++;
			continue;
		}
		if (*s == '\'' || *s == '"') {
			quote = *s;
			out[n++] = *s++;
			continue;
		}
		if (isalpha((unsigned char)*s) || *s == '_') {
			const char *w = s;
			while (isalnum((unsigned char)*s) || *s == '_')
				s++;
			size_t wl = (size_t)(s - w);
			const char *rep = NULL;
			for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
				if (strlen(words[k].from) == wl && strncasecmp(w, words[k].from, wl) == 0)
					rep = words[k].to;
			size_t rl = rep ? strlen(rep) : wl;
			if (n + rl + 1 >= cap) {
				cap = (cap + rl) * 2;
				out = xrealloc(out, cap);
			}
			memcpy(out + n, rep ? rep : w, rl);
			n += rl;
			continue;
		}
		if (n + 2 >= cap) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		out[n++] = *s++;
	}
	out[n] = '\0';
	return out;
}

/* Notifications arrive on the connection's socket between queries (the
 * session has LISTENed): one is taken per call, the rest wait in libpq. */
static int pg_wait_notify(void *p, int fd, int timeout_ms, char *payload, size_t len)
{
	struct conn *c = p;
	if (!c->ready || pq.PQstatus(c->pg) != CONNECTION_OK)
		return -ENOTCONN;
	for (int round = 0; round < 2; round++) {
		PGnotify *n = pq.PQnotifies(c->pg);
		if (n) {
			snprintf(payload, len, "%s", n->extra ? n->extra : "");
			pq.PQfreemem(n);
			return 1;
		}
		if (round)
			return 0;
		struct pollfd w[2] = { { .fd = pq.PQsocket(c->pg), .events = POLLIN },
				       { .fd = fd, .events = POLLIN } };
		int r = poll(w, fd >= 0 ? 2 : 1, timeout_ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0 || !(w[0].revents & (POLLIN | POLLHUP | POLLERR)))
			return 0;
		if (!pq.PQconsumeInput(c->pg)) {
			snprintf(c->err, sizeof c->err, "%s", pq.PQerrorMessage(c->pg));
			return -EIO;
		}
	}
	return 0;
}

const struct store_backend store_pg_backend = {
	.name = "postgres",
	.connect = pg_connect,
	.disconnect = pg_disconnect,
	.exec = pg_exec,
	.query = pg_query,
	.next = pg_next,
	.isnull = pg_isnull,
	.text = pg_text,
	.integer = pg_int,
	.dbl = pg_dbl,
	.blob = pg_blob,
	.rows_free = pg_rows_free,
	.errmsg = pg_errmsg,
	.ddl = pg_ddl,
	.defer = pg_defer,
	.flush = pg_flush,
	.discard = pg_discard,
	.wait_notify = pg_wait_notify,
	.begin_sql = "BEGIN; " WRITE_LOCK_SQL,
	.begin_steps = begin_steps,
};
