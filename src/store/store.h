/* The metadata store: a narrow database interface with SQLite (and, later,
 * PostgreSQL) behind it. Domain code writes portable SQL with $1, $2 ...
 * placeholders, TEXT/BIGINT/DOUBLE PRECISION columns, and no backend-only
 * features; times are BIGINT milliseconds since the epoch.
 *
 * A store is a pool of connections. store_acquire checks one out; it is in
 * autocommit mode until store_begin. Every acquired connection is given back
 * with store_release, which rolls back a transaction left open. */
#ifndef SN_STORE_H
#define SN_STORE_H
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"

typedef struct store store;
typedef struct store_conn store_conn;
typedef struct store_rows store_rows;

enum store_type { STORE_NULL, STORE_INT, STORE_DOUBLE, STORE_TEXT, STORE_BLOB };

/* STORE_BLOB: s points at i bytes (BYTEA / BLOB columns). */
typedef struct store_arg {
	enum store_type type;
	int64_t i;
	double d;
	const char *s;
} store_arg;

#define SA_INT(v)  ((store_arg){ .type = STORE_INT, .i = (int64_t)(v) })
#define SA_DBL(v)  ((store_arg){ .type = STORE_DOUBLE, .d = (double)(v) })
static inline store_arg store_arg_text(const char *s)
{
	return (store_arg){ .type = s ? STORE_TEXT : STORE_NULL, .s = s };
}
/* A NULL string binds SQL NULL. */
#define SA_TEXT(v) store_arg_text(v)
#define SA_NULL    ((store_arg){ .type = STORE_NULL })
/* n bytes at p (p may be NULL when n is 0: an empty blob). */
#define SA_BLOB(p, n) ((store_arg){ .type = STORE_BLOB, .i = (int64_t)(n), .s = (const char *)(p) })
/* Expands to "count, array" for the query functions. */
#define SARGS(...) (int)(sizeof((store_arg[]){ __VA_ARGS__ }) / sizeof(store_arg)), \
	(store_arg[]){ __VA_ARGS__ }
#define SNOARGS 0, NULL

/* Error codes beyond -errno. */
#define STORE_ECONSTRAINT (-1001) /* unique or foreign-key violation */
#define STORE_EBUSY       (-1002) /* locked past the busy timeout; HTTP: as -ETIMEDOUT */
#define STORE_ETOONEW     (-1003) /* the schema is newer than this binary */

/* Migrations. Each domain (auth, and later others) owns its schema: a list
 * of numbered migrations, versions 1..n in order, append only (never edit
 * one that has shipped). The store runner knows no domain: store_open
 * applies each pending migration of each domain given in store_opts, in
 * its own transaction together with its row in
 * schema_migrations(domain, version, applied_at).
 *
 * schema_version(version, applied_at) records the store's own bookkeeping
 * format: releases before per-domain versions wrote their store-wide
 * migrations 1 and 2 there; STORE_FORMAT (3) means per-domain versions.
 * The domain flagged legacy adopts those old rows as its own versions when
 * such a database is upgraded in place.
 *
 * A database whose format, or the version of any domain given, is newer
 * than this binary knows is refused with STORE_ETOONEW and left alone. */
typedef struct store_migration {
	int version;
	const char *sql;        /* portable SQL for every backend */
	const char *sql_sqlite; /* SQLite-only additions (triggers), or NULL */
	const char *sql_pg;     /* PostgreSQL's equivalent of sql_sqlite, or NULL */
} store_migration;

typedef struct store_domain {
	const char *name;                   /* [a-z_]+, unique */
	const store_migration *migrations;  /* versions 1..n, in order */
	int n;
	int legacy; /* its versions were the store-wide ones (at most one domain) */
} store_domain;

#define STORE_FORMAT 3
/* How long store_acquire waits for a free connection by default. Long
 * enough for a burst of short transactions, short enough that a client
 * hears 503 store_busy before its own timeout. */
#define STORE_ACQUIRE_TIMEOUT_MS 5000
#define STORE_POOL_SIZE 8

typedef struct store_opts {
	const store_domain *const *domains; /* migrated in this order */
	size_t ndomains;
	int64_t acquire_timeout_ms; /* 0: STORE_ACQUIRE_TIMEOUT_MS */
	int pool_size;              /* 0: STORE_POOL_SIZE */
} store_opts;

/* url: "sqlite:PATH", a plain path (SQLite), or "postgres://..." /
 * "postgresql://..." (libpq's URL: TLS with ?sslmode=require or
 * verify-full). opts may be NULL (no domains, defaults). Applies pending
 * migrations. On error, err holds a one-line message. The caller frees the
 * store with store_free. */
int store_open(const char *url, const store_opts *opts, store **out, char *err, size_t errlen);
void store_free(store **s);
const char *store_backend(const store *s);
/* The recorded version of domain's schema (0: none yet), or <0 on error. */
int store_schema_version(store *s, const char *domain);
/* Errors seen since start (for /metrics). */
uint64_t store_error_count(const store *s);

/* Replicas on one database (server/replica.h): sql (no arguments) runs
 * right after every store_begin; a transaction where it returns no row is
 * rolled back and store_begin fails with STORE_EBUSY (HTTP: 503), so a
 * replica that lost the lead can no longer write. Set once, before other threads use
 * the store; sql is copied. */
void store_set_fence(store *s, const char *sql);

/* Checks a connection out. Waits at most the store's acquire timeout for
 * one to be free: -ETIMEDOUT then (*out NULL), which HTTP handlers answer
 * with http_reply_errno: 503 store_busy and Retry-After. */
int store_acquire(store *s, store_conn **out);
void store_release(store_conn **c);
int store_begin(store_conn *c);
int store_commit(store_conn *c);
int store_rollback(store_conn *c);

/* Pipelining for a transaction of many small writes (the scheduler's
 * batches): while on, store_exec without *changes inside a transaction
 * only queues the statement and returns 0; the queue goes to the database
 * in one round trip before the next query, exec with *changes, commit, or
 * store_pipeline(c, 0), and the first error of the queue is returned
 * there (a failed COMMIT then keeps nothing). A rollback drops the queue.
 * Turned on before store_begin, the begin, the write lock and the fence
 * are queued too, and the COMMIT goes with the last of the queue: a
 * transaction of queued writes is then one round trip in all; a refusal
 * by the fence shows at that flush, as STORE_EBUSY.
 * SQLite runs each statement at once: nothing changes but the speed.
 * Off again at store_release. */
int store_pipeline(store_conn *c, int on);

/* PostgreSQL's notifications, on a connection that ran LISTEN (with
 * store_exec) and is kept out of the pool: waits up to timeout_ms for one,
 * or less once fd (>= 0) is readable. 1 with its payload (cut to len), 0
 * when none came, -ENOTSUP (SQLite), another negative errno when the
 * connection broke. */
int store_wait_notify(store_conn *c, int fd, int timeout_ms, char *payload, size_t len);

/* Runs a statement; *changes (may be NULL) gets the affected row count. */
int store_exec(store_conn *c, const char *sql, int64_t *changes, int nargs, const store_arg *args);
/* Runs a query; iterate with store_rows_next, free with store_rows_free. */
int store_query(store_conn *c, const char *sql, store_rows **out, int nargs, const store_arg *args);
/* 1: a row is ready, 0: no more rows, <0: error. */
int store_rows_next(store_rows *r);
int store_rows_isnull(store_rows *r, int col);
/* Text of a column, valid until the next store_rows_next; "" for NULL. */
const char *store_rows_text(store_rows *r, int col);
int64_t store_rows_int(store_rows *r, int col);
double store_rows_double(store_rows *r, int col);
/* Bytes of a blob column and their count in *len, valid until the next
 * store_rows_next; NULL with *len 0 for NULL or an empty blob. */
const void *store_rows_blob(store_rows *r, int col, size_t *len);
void store_rows_free(store_rows **r);

/* Array literals for PostgreSQL's statements over arrays ($1::bigint[],
 * unnest): each call appends one element to b, which holds "{a,b" until
 * store_array_close ("{}" when empty). A NULL s is NULL; texts are quoted
 * with \ before " and \; doubles must be finite and come back exact.
 * 0 or buf's error. */
int store_array_text(buf *b, const char *s);
int store_array_int(buf *b, int64_t v);
int store_array_double(buf *b, double v);
int store_array_close(buf *b);

/* Last error message of this connection (for logs, never for clients). */
const char *store_errmsg(store_conn *c);
#endif
