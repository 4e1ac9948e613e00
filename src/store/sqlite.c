/* SQLite backend: WAL, busy timeout, foreign keys on. Placeholders are the
 * portable $1..$n; each is bound by name so their order in the SQL text
 * does not matter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "base/mem.h"
#include "store/store_int.h"

#define BUSY_TIMEOUT_MS 10000

struct rows {
	sqlite3_stmt *st;
	int first_rc; /* result of the first step, taken at query time */
	int stepped;
};

static int map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_ROW: case SQLITE_DONE: return 0;
	case SQLITE_CONSTRAINT: return STORE_ECONSTRAINT;
	case SQLITE_BUSY: case SQLITE_LOCKED: return STORE_EBUSY;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_IOERR: return -EIO;
	case SQLITE_CANTOPEN: return -ENOENT;
	default: return -EIO;
	}
}

static int sq_connect(const char *dsn, void **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(dsn, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", dsn,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return map_rc(rc);
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	static const char *const pragmas =
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
	char *msg = NULL;
	rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database %s: %s", dsn, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		return map_rc(rc);
	}
	*out = db;
	return 0;
}

static void sq_disconnect(void *db)
{
	sqlite3_close_v2(db);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, int nargs, const store_arg *args)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc) ? map_rc(rc) : -EINVAL;
	for (int i = 0; i < nargs; i++) {
		char name[16];
		snprintf(name, sizeof name, "$%d", i + 1);
		int idx = sqlite3_bind_parameter_index(st, name);
		if (idx == 0)
			continue; /* an argument the statement does not use */
		const store_arg *a = &args[i];
		switch (a->type) {
		case STORE_NULL: rc = sqlite3_bind_null(st, idx); break;
		case STORE_INT: rc = sqlite3_bind_int64(st, idx, a->i); break;
		case STORE_DOUBLE: rc = sqlite3_bind_double(st, idx, a->d); break;
		case STORE_TEXT: rc = sqlite3_bind_text(st, idx, a->s, -1, SQLITE_TRANSIENT); break;
		}
		if (rc != SQLITE_OK) {
			sqlite3_finalize(st);
			return map_rc(rc);
		}
	}
	*out = st;
	return 0;
}

static int sq_exec(void *db, const char *sql, int64_t *changes, int nargs, const store_arg *args)
{
	if (nargs == 0 && !changes && strchr(sql, ';')) {
		/* Several statements (migrations, BEGIN/COMMIT): no parameters. */
		return map_rc(sqlite3_exec(db, sql, NULL, NULL, NULL));
	}
	sqlite3_stmt *st = NULL;
	int rc = prepare(db, sql, &st, nargs, args);
	if (rc)
		return rc;
	int s;
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = s == SQLITE_DONE ? 0 : map_rc(sqlite3_extended_errcode(db));
	if (rc == 0 && changes)
		*changes = sqlite3_changes64(db);
	sqlite3_finalize(st);
	return rc;
}

static int sq_query(void *db, const char *sql, void **out, int nargs, const store_arg *args)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare(db, sql, &st, nargs, args);
	if (rc)
		return rc;
	/* Step once now so that errors (busy, constraint on RETURNING) reach the caller here. */
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = map_rc(sqlite3_extended_errcode(db));
		sqlite3_finalize(st);
		return rc ? rc : -EIO;
	}
	struct rows *r = xcalloc(1, sizeof *r);
	r->st = st;
	r->first_rc = s;
	*out = r;
	return 0;
}

static int sq_next(void *p)
{
	struct rows *r = p;
	if (!r->stepped) {
		r->stepped = 1;
		return r->first_rc == SQLITE_ROW;
	}
	int s = sqlite3_step(r->st);
	if (s == SQLITE_ROW)
		return 1;
	if (s == SQLITE_DONE)
		return 0;
	return map_rc(s) ? map_rc(s) : -EIO;
}

static int sq_isnull(void *p, int col)
{
	return sqlite3_column_type(((struct rows *)p)->st, col) == SQLITE_NULL;
}

static const char *sq_text(void *p, int col)
{
	return (const char *)sqlite3_column_text(((struct rows *)p)->st, col);
}

static int64_t sq_int(void *p, int col)
{
	return sqlite3_column_int64(((struct rows *)p)->st, col);
}

static double sq_dbl(void *p, int col)
{
	return sqlite3_column_double(((struct rows *)p)->st, col);
}

static void sq_rows_free(void *p)
{
	struct rows *r = p;
	sqlite3_finalize(r->st);
	free(r);
}

static const char *sq_errmsg(void *db)
{
	return sqlite3_errmsg(db);
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.connect = sq_connect,
	.disconnect = sq_disconnect,
	.exec = sq_exec,
	.query = sq_query,
	.next = sq_next,
	.isnull = sq_isnull,
	.text = sq_text,
	.integer = sq_int,
	.dbl = sq_dbl,
	.rows_free = sq_rows_free,
	.errmsg = sq_errmsg,
	.begin_sql = "BEGIN IMMEDIATE",
};
