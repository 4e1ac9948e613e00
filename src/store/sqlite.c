/* SQLite backend: WAL, busy timeout, foreign keys on. Placeholders are the
 * portable $1..$n; each is bound by name so their order in the SQL text
 * does not matter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "base/dl.h"
#include "base/mem.h"
#include "store/store_int.h"

/* libsqlite3 is loaded on first use (base/dl.h): linked, its ~1,600 symbol
 * relocations were 80 percent of the dynamic loader's work in every
 * sentinel process, also those (sandbox run, engine) that never open a
 * store. */
#define SQ_FUNCS(X) \
	X(sqlite3_bind_blob) \
	X(sqlite3_bind_double) \
	X(sqlite3_bind_int64) \
	X(sqlite3_bind_null) \
	X(sqlite3_bind_parameter_index) \
	X(sqlite3_bind_text) \
	X(sqlite3_busy_timeout) \
	X(sqlite3_changes64) \
	X(sqlite3_clear_bindings) \
	X(sqlite3_close) \
	X(sqlite3_close_v2) \
	X(sqlite3_column_blob) \
	X(sqlite3_column_bytes) \
	X(sqlite3_column_double) \
	X(sqlite3_column_int64) \
	X(sqlite3_column_text) \
	X(sqlite3_column_type) \
	X(sqlite3_errmsg) \
	X(sqlite3_errstr) \
	X(sqlite3_exec) \
	X(sqlite3_extended_errcode) \
	X(sqlite3_finalize) \
	X(sqlite3_free) \
	X(sqlite3_open_v2) \
	X(sqlite3_prepare_v2) \
	X(sqlite3_reset) \
	X(sqlite3_step)
#define SQ_FIELD(f) __typeof__(&f) f;
static struct {
	SQ_FUNCS(SQ_FIELD)
} sq;
#define SQ_NAME(f) #f,
static const char *const sq_names[] = { SQ_FUNCS(SQ_NAME) };
static sn_dl_lib sq_lib = SN_DL_LIB("libsqlite3.so.0", "libsqlite3-0", sq_names, &sq);
_Static_assert(sizeof sq == sizeof sq_names / sizeof sq_names[0] * sizeof(void *),
	       "one pointer per name");
#define sqlite3_bind_blob sq.sqlite3_bind_blob
#define sqlite3_bind_double sq.sqlite3_bind_double
#define sqlite3_bind_int64 sq.sqlite3_bind_int64
#define sqlite3_bind_null sq.sqlite3_bind_null
#define sqlite3_bind_parameter_index sq.sqlite3_bind_parameter_index
#define sqlite3_bind_text sq.sqlite3_bind_text
#define sqlite3_busy_timeout sq.sqlite3_busy_timeout
#define sqlite3_changes64 sq.sqlite3_changes64
#define sqlite3_clear_bindings sq.sqlite3_clear_bindings
#define sqlite3_close sq.sqlite3_close
#define sqlite3_close_v2 sq.sqlite3_close_v2
#define sqlite3_column_blob sq.sqlite3_column_blob
#define sqlite3_column_bytes sq.sqlite3_column_bytes
#define sqlite3_column_double sq.sqlite3_column_double
#define sqlite3_column_int64 sq.sqlite3_column_int64
#define sqlite3_column_text sq.sqlite3_column_text
#define sqlite3_column_type sq.sqlite3_column_type
#define sqlite3_errmsg sq.sqlite3_errmsg
#define sqlite3_errstr sq.sqlite3_errstr
#define sqlite3_exec sq.sqlite3_exec
#define sqlite3_extended_errcode sq.sqlite3_extended_errcode
#define sqlite3_finalize sq.sqlite3_finalize
#define sqlite3_free sq.sqlite3_free
#define sqlite3_open_v2 sq.sqlite3_open_v2
#define sqlite3_prepare_v2 sq.sqlite3_prepare_v2
#define sqlite3_reset sq.sqlite3_reset
#define sqlite3_step sq.sqlite3_step

/* How long a statement waits for another connection's write lock (WAL has
 * one writer at a time); longer than any one transaction of ours runs. */
#define BUSY_TIMEOUT_MS 10000

/* A connection keeps its prepared statements, keyed by SQL text, so that a
 * request does not pay for parsing the same SQL again. Invariant: a cached
 * statement is either idle (reset, bindings cleared) or held by one rows. */
#define STMT_CACHE 48

struct cached {
	char *sql;
	sqlite3_stmt *st;
	int busy;
};

struct conn {
	sqlite3 *db;
	struct cached cache[STMT_CACHE];
};

struct rows {
	sqlite3_stmt *st;
	struct cached *slot; /* NULL: a statement of its own, finalized at free */
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
	if (sn_dl_use(&sq_lib, err, errlen))
		return -ENOENT;
	int rc = sqlite3_open_v2(dsn, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", dsn,
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return map_rc(rc);
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	/* WAL: readers never wait for the writer; NORMAL: a commit survives a
	 * crash of the process (not of the machine); foreign keys are off by
	 * default in SQLite and the schema's cascades rely on them. */
	static const char *const pragmas =
		"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;";
	char *msg = NULL;
	/* Switching a new file to WAL takes an exclusive lock that SQLite may
	 * refuse at once, without the busy handler, while another connection
	 * opens the same file (it would deadlock): the pragmas are idempotent,
	 * so try again for up to 2 s. */
	for (int tries = 0; (rc = sqlite3_exec(db, pragmas, NULL, NULL, &msg)) == SQLITE_BUSY &&
			    tries < 100; tries++) {
		sqlite3_free(msg);
		msg = NULL;
		usleep(20000);
	}
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot configure database %s: %s", dsn, msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_close(db);
		return map_rc(rc);
	}
	struct conn *c = xcalloc(1, sizeof *c);
	c->db = db;
	*out = c;
	return 0;
}

static void sq_disconnect(void *p)
{
	struct conn *c = p;
	for (int i = 0; i < STMT_CACHE; i++) {
		sqlite3_finalize(c->cache[i].st);
		free(c->cache[i].sql);
	}
	sqlite3_close_v2(c->db);
	free(c);
}

/* Gives an idle cached statement for sql, or prepares one (and caches it
 * when a slot is free). */
static int stmt_get(struct conn *c, const char *sql, sqlite3_stmt **st, struct cached **slot)
{
	struct cached *free_slot = NULL;
	for (int i = 0; i < STMT_CACHE; i++) {
		struct cached *k = &c->cache[i];
		if (!k->sql) {
			if (!free_slot)
				free_slot = k;
		} else if (!k->busy && strcmp(k->sql, sql) == 0) {
			k->busy = 1;
			*st = k->st;
			*slot = k;
			return 0;
		}
	}
	int rc = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);
	if (rc != SQLITE_OK)
		return map_rc(rc) ? map_rc(rc) : -EINVAL;
	/* A full cache: the statement is finalized after use (stmt_put). */
	*slot = NULL;
	if (free_slot) {
		free_slot->sql = xstrdup(sql);
		free_slot->st = *st;
		free_slot->busy = 1;
		*slot = free_slot;
	}
	return 0;
}

static void stmt_put(sqlite3_stmt *st, struct cached *slot)
{
	if (!slot) {
		sqlite3_finalize(st);
		return;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	slot->busy = 0;
}

static int prepare(struct conn *c, const char *sql, sqlite3_stmt **out, struct cached **slot,
		   int nargs, const store_arg *args)
{
	sqlite3_stmt *st = NULL;
	int rc = stmt_get(c, sql, &st, slot);
	if (rc)
		return rc;
	for (int i = 0; i < nargs; i++) {
		/* "$N" by hand: a printf per bound argument was ~4% of the
		 * scheduler's CPU under load. */
		char name[16], *e = name + sizeof name - 1;
		*e = '\0';
		for (int v = i + 1; v; v /= 10)
			*--e = (char)('0' + v % 10);
		*--e = '$';
		int idx = sqlite3_bind_parameter_index(st, e);
		if (idx == 0)
			continue; /* an argument the statement does not use */
		const store_arg *a = &args[i];
		switch (a->type) {
		case STORE_NULL: rc = sqlite3_bind_null(st, idx); break;
		case STORE_INT: rc = sqlite3_bind_int64(st, idx, a->i); break;
		case STORE_DOUBLE: rc = sqlite3_bind_double(st, idx, a->d); break;
		case STORE_TEXT: rc = sqlite3_bind_text(st, idx, a->s, -1, SQLITE_TRANSIENT); break;
		/* A zero-length blob with a NULL pointer would bind SQL NULL. */
		case STORE_BLOB: rc = sqlite3_bind_blob(st, idx, a->s ? a->s : "", (int)a->i,
						       SQLITE_TRANSIENT); break;
		}
		if (rc != SQLITE_OK) {
			stmt_put(st, *slot);
			return map_rc(rc);
		}
	}
	*out = st;
	return 0;
}

static int sq_exec(void *p, const char *sql, int64_t *changes, int nargs, const store_arg *args)
{
	struct conn *c = p;
	if (nargs == 0 && !changes && strchr(sql, ';')) {
		/* Several statements (migrations): no parameters. */
		return map_rc(sqlite3_exec(c->db, sql, NULL, NULL, NULL));
	}
	sqlite3_stmt *st = NULL;
	struct cached *slot = NULL;
	int rc = prepare(c, sql, &st, &slot, nargs, args);
	if (rc)
		return rc;
	int s;
	/* Rows of an exec (RETURNING, a PRAGMA) are of no use: drain them. */
	while ((s = sqlite3_step(st)) == SQLITE_ROW)
		;
	rc = s == SQLITE_DONE ? 0 : map_rc(sqlite3_extended_errcode(c->db));
	if (rc == 0 && changes)
		*changes = sqlite3_changes64(c->db);
	stmt_put(st, slot);
	return rc;
}

static int sq_query(void *p, const char *sql, void **out, int nargs, const store_arg *args)
{
	struct conn *c = p;
	sqlite3_stmt *st = NULL;
	struct cached *slot = NULL;
	int rc = prepare(c, sql, &st, &slot, nargs, args);
	if (rc)
		return rc;
	/* Step once now so that errors (busy, constraint on RETURNING) reach the caller here. */
	int s = sqlite3_step(st);
	if (s != SQLITE_ROW && s != SQLITE_DONE) {
		rc = map_rc(sqlite3_extended_errcode(c->db));
		stmt_put(st, slot);
		return rc ? rc : -EIO;
	}
	struct rows *r = xcalloc(1, sizeof *r);
	r->st = st;
	r->slot = slot;
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

static const void *sq_blob(void *p, int col, size_t *len)
{
	sqlite3_stmt *st = ((struct rows *)p)->st;
	/* column_blob before column_bytes, as SQLite documents. */
	const void *b = sqlite3_column_blob(st, col);
	int n = sqlite3_column_bytes(st, col);
	*len = b && n > 0 ? (size_t)n : 0;
	return *len ? b : NULL;
}

static void sq_rows_free(void *p)
{
	struct rows *r = p;
	stmt_put(r->st, r->slot);
	free(r);
}

static const char *sq_errmsg(void *p)
{
	return sqlite3_errmsg(((struct conn *)p)->db);
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
	.blob = sq_blob,
	.rows_free = sq_rows_free,
	.errmsg = sq_errmsg,
	.begin_sql = "BEGIN IMMEDIATE",
};
