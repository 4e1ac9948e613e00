/* Internals shared by the store front end and its backends. */
#ifndef SN_STORE_INT_H
#define SN_STORE_INT_H
#include "store/store.h"

/* A backend: a table of functions chosen once at store_open. */
struct store_backend {
	const char *name;
	int (*connect)(const char *dsn, void **conn, char *err, size_t errlen);
	void (*disconnect)(void *conn);
	int (*exec)(void *conn, const char *sql, int64_t *changes, int nargs, const store_arg *args);
	int (*query)(void *conn, const char *sql, void **rows, int nargs, const store_arg *args);
	int (*next)(void *rows);
	int (*isnull)(void *rows, int col);
	const char *(*text)(void *rows, int col);
	int64_t (*integer)(void *rows, int col);
	double (*dbl)(void *rows, int col);
	const void *(*blob)(void *rows, int col, size_t *len);
	void (*rows_free)(void *rows);
	const char *(*errmsg)(void *conn);
	/* Migration DDL in this backend's dialect (malloc'd, the caller
	 * frees), or NULL for a backend that runs the portable text as is. */
	char *(*ddl)(const char *sql);
	/* Pipelining (store_pipeline), or NULL where statements run at once:
	 * defer queues a statement, flush sends the queue and returns the
	 * first error, discard drops it. A fence statement (store_set_fence)
	 * queued with fence = 1 fails the flush with STORE_EBUSY, and aborts
	 * the transaction, when it finds no row. */
	int (*defer)(void *conn, const char *sql, int nargs, const store_arg *args, int fence);
	int (*flush)(void *conn);
	void (*discard)(void *conn);
	/* store_wait_notify, or NULL (SQLite) */
	int (*wait_notify)(void *conn, int fd, int timeout_ms, char *payload, size_t len);
	/* SQL that starts a write transaction (SQLite: BEGIN IMMEDIATE), and
	 * the same as single statements for a pipeline (NULL-terminated; NULL
	 * where there is no pipelining). */
	const char *begin_sql;
	const char *const *begin_steps;
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* The backend chosen at open. */
const struct store_backend *store_be(const store *s);

/* Applies the pending migrations of the given domains (migrate.c). */
int store_migrate(store *s, const store_domain *const *domains, size_t n, char *err,
		  size_t errlen);
#endif
