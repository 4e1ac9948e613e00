/* `sentinel migrate`: copies a one-box installation's state from SQLite
 * (DATA/sentinel.db and the metrics blocks in DATA/metrics/blocks.db) to a
 * fresh PostgreSQL database, and proves the copy.
 *
 *  1. Both ends are opened with the server's domains: the destination's
 *     schema is made by the real migrations, and an older source is
 *     brought up to date first, as a server of this version would.
 *  2. Every table of the sources is copied but the migrations' own
 *     bookkeeping, parents before children (foreign keys), column by
 *     column with the type its declaration gives (SQLite's affinity
 *     rules). A value of another storage class than its column's (a
 *     fraction in an INTEGER column) is an error, not a silent conversion.
 *     Tables that only the metrics code creates (mx_series, mx_b_<day> ...)
 *     are created from the source's own statement, which is the metrics
 *     code's portable DDL.
 *  3. Each table is verified on both ends: its row count and a SHA-256 over
 *     its rows in primary-key order, each value encoded with a type tag.
 *  4. All of it is one destination transaction, committed only when every
 *     table matched: a failure leaves the destination without a row.
 *
 * The destination must hold no row in any table to copy: merging two
 * installations is not a migration. Blobs are files (DATA/blobs), not
 * rows: the server on PostgreSQL keeps using the same data directory. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/cfg.h"
#include "base/mem.h"
#include "base/util.h"
#include "cmd/commands.h"
#include "server/server.h"
#include "store/store.h"

/* Rows the destination reads per FETCH while it is verified: libpq holds a
 * whole result in memory, and a day of metrics blocks can be large. */
#define FETCH_ROWS 500
#define COLS_MAX 64 /* the PostgreSQL backend binds at most 64 arguments */
/* A statement of COLS_MAX columns is a few KiB. */
#define SQL_MAX (64u << 10)

/* Tables whose migrations insert their rows (audit_purge: its one row,
 * which triggers keep the only one): copied as updates of those rows. */
static const char *const seeded[] = { "audit_purge", NULL };

struct col {
	char *name;
	char *decl;           /* the declared type, for messages */
	enum store_type type; /* what its values are bound and hashed as */
	int pk;               /* position in the primary key (1...), or 0 */
};

struct table {
	char *name;
	char *ddl;     /* the source's CREATE TABLE */
	int metrics;   /* from blocks.db: created on the destination if absent */
	int seeded;
	int done;      /* copied (ordering) */
	struct col *cols;
	int ncols;
	char **refs;   /* tables its foreign keys reference */
	int nrefs;
};

struct tables {
	struct table *t;
	size_t n;
};

struct digest {
	int64_t rows;
	char sha[65];
};

static void tables_release(struct tables *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		struct table *t = &ts->t[i];
		for (int k = 0; k < t->ncols; k++) {
			free(t->cols[k].name);
			free(t->cols[k].decl);
		}
		for (int k = 0; k < t->nrefs; k++)
			free(t->refs[k]);
		free(t->cols);
		free(t->refs);
		free(t->name);
		free(t->ddl);
	}
	free(ts->t);
	ts->t = NULL;
	ts->n = 0;
}

/* SQLite's affinity rules, in their order; BYTEA is the portable blob. */
static int decl_type(const char *decl, enum store_type *out)
{
	char up[64];
	size_t i = 0;
	for (; decl[i] && i + 1 < sizeof up; i++)
		up[i] = (char)(decl[i] >= 'a' && decl[i] <= 'z' ? decl[i] - 32 : decl[i]);
	up[i] = '\0';
	if (strstr(up, "INT"))
		*out = STORE_INT;
	else if (strstr(up, "CHAR") || strstr(up, "CLOB") || strstr(up, "TEXT"))
		*out = STORE_TEXT;
	else if (strstr(up, "BLOB") || strstr(up, "BYTEA"))
		*out = STORE_BLOB;
	else if (strstr(up, "REAL") || strstr(up, "FLOA") || strstr(up, "DOUB"))
		*out = STORE_DOUBLE;
	else
		return -EINVAL;
	return 0;
}

/* Names go into SQL unquoted by the code that made them: anything else
 * is not a table of ours. */
static int plain_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || *p == '_' || (p > s && *p >= '0' && *p <= '9')))
			return 0;
	return 1;
}

static int read_columns(store_conn *c, struct table *t, char *err, size_t errlen)
{
	store_rows *r = NULL;
	int rc = store_query(c, "SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid", &r,
			     SARGS(SA_TEXT(t->name)));
	int more = 0;
	while (!rc && (more = store_rows_next(r)) == 1) {
		const char *name = store_rows_text(r, 0), *decl = store_rows_text(r, 1);
		enum store_type ty;
		if (!plain_name(name) || decl_type(decl, &ty) || t->ncols == COLS_MAX) {
			snprintf(err, errlen, "%s.%s: a column migrate cannot copy (type '%s')", t->name,
				 name, decl);
			rc = -EINVAL;
			break;
		}
		t->cols = xrealloc(t->cols, (size_t)(t->ncols + 1) * sizeof *t->cols);
		t->cols[t->ncols++] = (struct col){ xstrdup(name), xstrdup(decl), ty,
						    (int)store_rows_int(r, 2) };
	}
	store_rows_free(&r);
	if (!rc && more < 0)
		rc = more;
	if (!rc)
		rc = store_query(c, "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1)", &r,
				 SARGS(SA_TEXT(t->name)));
	while (!rc && (more = store_rows_next(r)) == 1) {
		t->refs = xrealloc(t->refs, (size_t)(t->nrefs + 1) * sizeof *t->refs);
		t->refs[t->nrefs++] = xstrdup(store_rows_text(r, 0));
	}
	store_rows_free(&r);
	if (!rc && more < 0)
		rc = more;
	if (rc && !*err)
		snprintf(err, errlen, "cannot read the columns of %s: %s", t->name, store_errmsg(c));
	return rc;
}

/* Appends the tables of one source (its migrations' bookkeeping and
 * SQLite's own tables left out). */
static int list_tables(store_conn *c, int metrics, struct tables *ts, char *err, size_t errlen)
{
	store_rows *r = NULL;
	int rc = store_query(c, "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
			     " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
			     " AND name NOT IN ('schema_version', 'schema_migrations') ORDER BY name",
			     &r, SNOARGS);
	size_t first = ts->n;
	int more = 0;
	while (!rc && (more = store_rows_next(r)) == 1) {
		const char *name = store_rows_text(r, 0);
		for (size_t i = 0; i < ts->n; i++)
			if (strcmp(ts->t[i].name, name) == 0)
				rc = -EEXIST;
		if (rc || !plain_name(name)) {
			snprintf(err, errlen, "table '%s': %s", name,
				 rc ? "in both source files" : "not a name migrate can copy");
			rc = -EINVAL;
			break;
		}
		ts->t = xrealloc(ts->t, (ts->n + 1) * sizeof *ts->t);
		struct table *t = &ts->t[ts->n++];
		*t = (struct table){ .name = xstrdup(name), .ddl = xstrdup(store_rows_text(r, 1)),
				     .metrics = metrics };
		for (int k = 0; seeded[k]; k++)
			t->seeded |= strcmp(seeded[k], name) == 0;
	}
	store_rows_free(&r);
	if (!rc && more < 0)
		rc = more;
	if (rc && !*err)
		snprintf(err, errlen, "cannot list the source's tables: %s", store_errmsg(c));
	for (size_t i = first; i < ts->n && !rc; i++)
		rc = read_columns(c, &ts->t[i], err, errlen);
	return rc;
}

/* Puts parents before the tables whose foreign keys reference them
 * (names alphabetical otherwise). A reference to itself is left to the
 * rows' own order. */
static int order_tables(struct tables *ts, char *err, size_t errlen)
{
	struct table *out = xcalloc(ts->n ? ts->n : 1, sizeof *out);
	size_t n = 0;
	while (n < ts->n) {
		size_t before = n;
		for (size_t i = 0; i < ts->n; i++) {
			struct table *t = &ts->t[i];
			int ready = !t->done;
			for (int k = 0; k < t->nrefs && ready; k++)
				for (size_t j = 0; j < ts->n; j++)
					if (j != i && !ts->t[j].done && strcmp(ts->t[j].name, t->refs[k]) == 0)
						ready = 0;
			if (ready) {
				t->done = 1;
				out[n++] = *t;
			}
		}
		if (n == before) {
			snprintf(err, errlen, "the source's foreign keys form a cycle");
			free(out);
			return -EINVAL;
		}
	}
	free(ts->t);
	ts->t = out;
	return 0;
}

/* ---- the canonical encoding: a tag, then 8 bytes big-endian or a length
 * and the bytes. Both ends hash what the store API gives back. */

static void put_u64(sn_sha256 *h, char tag, uint64_t v)
{
	unsigned char b[9] = { (unsigned char)tag };
	for (int i = 0; i < 8; i++)
		b[1 + i] = (unsigned char)(v >> (56 - 8 * i));
	sn_sha256_update(h, b, sizeof b);
}

static void hash_value(sn_sha256 *h, store_rows *r, int col, enum store_type type)
{
	if (store_rows_isnull(r, col)) {
		sn_sha256_update(h, "N", 1);
		return;
	}
	switch (type) {
	case STORE_INT:
		put_u64(h, 'I', (uint64_t)store_rows_int(r, col));
		break;
	case STORE_DOUBLE: {
		double d = store_rows_double(r, col);
		uint64_t bits;
		memcpy(&bits, &d, sizeof bits);
		put_u64(h, 'D', d != d ? 0x7ff8000000000000ull : bits); /* one NaN */
		break;
	}
	case STORE_BLOB: {
		size_t n = 0;
		const void *p = store_rows_blob(r, col, &n);
		put_u64(h, 'B', n);
		sn_sha256_update(h, p, n);
		break;
	}
	default: {
		const char *s = store_rows_text(r, col);
		put_u64(h, 'T', strlen(s));
		sn_sha256_update(h, s, strlen(s));
		break;
	}
	}
}

/* "a, b, c" (with typeof(x) after each column for the copy's check). */
static char *col_list(const struct table *t, int with_types)
{
	buf b;
	buf_init(&b, SQL_MAX);
	for (int k = 0; k < t->ncols; k++) {
		buf_printf(&b, "%s%s", k ? ", " : "", t->cols[k].name);
		if (with_types)
			buf_printf(&b, ", typeof(%s)", t->cols[k].name);
	}
	return buf_detach(&b, NULL);
}

/* Primary-key order, alike on both ends: bytes for text (PostgreSQL's
 * database collation may differ), NULLs first. A table without a key is
 * ordered by all its columns. */
static char *order_by(const struct table *t, int pg)
{
	buf b;
	buf_init(&b, SQL_MAX);
	int keyed = 0;
	for (int k = 0; k < t->ncols; k++)
		keyed |= t->cols[k].pk > 0;
	for (int pos = 1, first = 1; pos <= t->ncols; pos++)
		for (int k = 0; k < t->ncols; k++) {
			const struct col *c = &t->cols[k];
			if (keyed ? c->pk != pos : k != pos - 1)
				continue;
			buf_printf(&b, "%s%s%s NULLS FIRST", first ? "" : ", ", c->name,
				      pg && c->type == STORE_TEXT ? " COLLATE \"C\"" : "");
			first = 0;
		}
	return buf_detach(&b, NULL);
}

/* Row count and SHA-256 of a table. On PostgreSQL a cursor, read
 * FETCH_ROWS at a time, inside the copy's transaction. */
static int table_digest(store_conn *c, const struct table *t, int pg, struct digest *d)
{
	char *cols = col_list(t, 0), *order = order_by(t, pg);
	char *sel = xasprintf("%sSELECT %s FROM %s ORDER BY %s%s",
			      pg ? "DECLARE sn_migrate NO SCROLL CURSOR FOR " : "", cols, t->name, order,
			      pg ? ";" : "");
	char fetch[64];
	snprintf(fetch, sizeof fetch, "FETCH %d FROM sn_migrate", FETCH_ROWS);
	sn_sha256 *h = sn_sha256_new();
	store_rows *r = NULL;
	int rc = pg ? store_exec(c, sel, NULL, SNOARGS) : 0;
	d->rows = 0;
	while (!rc) {
		int64_t got = 0;
		int more = 0;
		if ((rc = store_query(c, pg ? fetch : sel, &r, SNOARGS)))
			break;
		while ((more = store_rows_next(r)) == 1) {
			for (int k = 0; k < t->ncols; k++)
				hash_value(h, r, k, t->cols[k].type);
			got++;
		}
		store_rows_free(&r);
		rc = more < 0 ? more : 0;
		d->rows += got;
		if (!pg || got == 0)
			break;
	}
	if (pg && !rc)
		rc = store_exec(c, "CLOSE sn_migrate;", NULL, SNOARGS);
	sn_sha256_final(&h, d->sha);
	free(sel);
	free(order);
	free(cols);
	return rc;
}

/* ---- the copy */

static const char *const storage_class[] = { [STORE_INT] = "integer", [STORE_DOUBLE] = "real",
					     [STORE_TEXT] = "text", [STORE_BLOB] = "blob" };

/* The value of column k of the copy's query (value 2k, typeof 2k+1), as
 * its declared type binds it; another storage class is an error. */
static int bind_value(store_rows *r, const struct table *t, int k, store_arg *a, char *err,
		      size_t errlen)
{
	const struct col *c = &t->cols[k];
	const char *cls = store_rows_text(r, 2 * k + 1);
	if (strcmp(cls, "null") == 0) {
		*a = SA_NULL;
		return 0;
	}
	if (strcmp(cls, storage_class[c->type]) != 0 &&
	    !(c->type == STORE_DOUBLE && strcmp(cls, "integer") == 0)) {
		snprintf(err, errlen, "%s.%s: a value of class %s in a column of type %s: copying it"
			 " would change it", t->name, c->name, cls, c->decl);
		return -EINVAL;
	}
	switch (c->type) {
	case STORE_INT: *a = SA_INT(store_rows_int(r, 2 * k)); break;
	case STORE_DOUBLE: *a = SA_DBL(store_rows_double(r, 2 * k)); break;
	case STORE_BLOB: {
		size_t n = 0;
		const void *p = store_rows_blob(r, 2 * k, &n);
		*a = SA_BLOB(p, n);
		break;
	}
	default: *a = SA_TEXT(store_rows_text(r, 2 * k)); break;
	}
	return 0;
}

/* INSERT of every column, $k+1 for column k; with upd, the UPDATE of the
 * other columns by the key instead (NULL when every column is the key). */
static char *write_sql(const struct table *t, int upd)
{
	buf b;
	buf_init(&b, SQL_MAX);
	int set = 0, where = 0;
	if (!upd) {
		char *cols = col_list(t, 0);
		buf_printf(&b, "INSERT INTO %s (%s) VALUES (", t->name, cols);
		for (int k = 0; k < t->ncols; k++)
			buf_printf(&b, "%s$%d", k ? ", " : "", k + 1);
		buf_puts(&b, ")");
		free(cols);
		return buf_detach(&b, NULL);
	}
	buf_printf(&b, "UPDATE %s SET ", t->name);
	for (int k = 0; k < t->ncols; k++)
		if (!t->cols[k].pk)
			buf_printf(&b, "%s%s = $%d", set++ ? ", " : "", t->cols[k].name, k + 1);
	for (int k = 0; k < t->ncols; k++)
		if (t->cols[k].pk)
			buf_printf(&b, " %s %s = $%d", where++ ? "AND" : "WHERE", t->cols[k].name, k + 1);
	if (!set || !where) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

static int copy_table(store_conn *src, store_conn *dst, const struct table *t, char *err,
		      size_t errlen)
{
	char *cols = col_list(t, 1);
	char *sel = xasprintf("SELECT %s FROM %s", cols, t->name);
	char *ins = write_sql(t, 0), *upd = t->seeded ? write_sql(t, 1) : NULL;
	store_arg args[COLS_MAX];
	store_rows *r = NULL;
	int more = 0, rc = store_query(src, sel, &r, SNOARGS);
	if (rc)
		snprintf(err, errlen, "cannot read %s: %s", t->name, store_errmsg(src));
	while (!rc && (more = store_rows_next(r)) == 1) {
		for (int k = 0; k < t->ncols && !rc; k++)
			rc = bind_value(r, t, k, &args[k], err, errlen);
		if (rc)
			break;
		int64_t changed = 0;
		if (upd)
			rc = store_exec(dst, upd, &changed, t->ncols, args);
		if (!rc && !changed)
			rc = store_exec(dst, ins, NULL, t->ncols, args);
		if (rc)
			snprintf(err, errlen, "cannot write a row of %s: %s", t->name, store_errmsg(dst));
	}
	if (!rc && more < 0) {
		rc = more;
		snprintf(err, errlen, "cannot read %s: %s", t->name, store_errmsg(src));
	}
	store_rows_free(&r);
	free(upd);
	free(ins);
	free(sel);
	free(cols);
	return rc;
}

/* ---- the destination before the copy */

/* The single number sql answers, or -1. */
static int64_t count_of(store_conn *c, const char *sql, int nargs, const store_arg *args)
{
	store_rows *r = NULL;
	int64_t n = -1;
	if (store_query(c, sql, &r, nargs, args) == 0 && store_rows_next(r) == 1)
		n = store_rows_int(r, 0);
	store_rows_free(&r);
	return n;
}

/* The table exists on the destination (metrics tables are made from the
 * source's statement), has every column of the source's, and no row but
 * what the migrations seeded. -EEXIST: it holds rows. */
static int dst_prepare(store_conn *dst, const struct table *t, char *err, size_t errlen)
{
	static const char *const has_table =
		"SELECT count(*) FROM information_schema.tables"
		" WHERE table_schema = current_schema() AND table_name = $1";
	static const char *const has_col =
		"SELECT count(*) FROM information_schema.columns"
		" WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2";
	int64_t n = count_of(dst, has_table, SARGS(SA_TEXT(t->name)));
	int rc = n < 0 ? -EIO : 0;
	if (!rc && n == 0 && t->metrics && (rc = store_exec(dst, t->ddl, NULL, SNOARGS)) == 0)
		n = 1;
	if (rc) {
		snprintf(err, errlen, "cannot create %s on the destination: %s", t->name,
			 store_errmsg(dst));
		return rc;
	}
	if (n == 0) {
		snprintf(err, errlen, "the destination's schema has no table %s (was the source"
			 " written by a newer binary?)", t->name);
		return -ENOENT;
	}
	for (int k = 0; k < t->ncols; k++) {
		if (count_of(dst, has_col, SARGS(SA_TEXT(t->name), SA_TEXT(t->cols[k].name))) == 1)
			continue;
		snprintf(err, errlen, "the destination's table %s has no column %s", t->name,
			 t->cols[k].name);
		return -ENOENT;
	}
	char *sql = xasprintf("SELECT count(*) FROM %s", t->name);
	n = count_of(dst, sql, SNOARGS);
	free(sql);
	if (n < 0) {
		snprintf(err, errlen, "cannot count the rows of %s on the destination: %s", t->name,
			 store_errmsg(dst));
		return -EIO;
	}
	if (n > 0 && !t->seeded) {
		snprintf(err, errlen, "the destination already holds data (%" PRId64 " rows in %s):"
			 " migrate into a new, empty database", n, t->name);
		return -EEXIST;
	}
	return 0;
}

/* ---- the command */

static const cfg_opt migrate_opts[] = {
	{ "from", "URL", NULL, "the source store, sqlite:PATH (default: sqlite:DATA/sentinel.db)",
	  CFG_NOENV },
	{ "data", "DIR", NULL, "the source's data directory: its metrics/blocks.db is copied too"
	  " (default: the directory of --from)", 0 },
	{ "to", "URL", NULL, "the destination, postgres://... : a new, empty database", CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec migrate_spec = {
	"migrate", "--data DIR | --from sqlite:PATH --to postgres://...",
	"Copy a one-box installation's whole state (users, tokens, groups, audit,\n"
	"datasets, scripts, jobs, nodes, alerts, models, metrics) from SQLite to a\n"
	"new PostgreSQL database, in one transaction, and verify every table by its\n"
	"row count and a SHA-256 of its rows on both ends: the destination gets all\n"
	"of it or nothing. Stop the server first. The source is brought up to this\n"
	"version's schema first, as starting this version's server would. A\n"
	"destination that holds any row already is refused. Blobs are files in\n"
	"DATA/blobs, not rows: run the server on PostgreSQL with the same --data.",
	migrate_opts, 0,
};

struct ends {
	store *src, *mx, *dst;
	store_conn *csrc, *cmx, *cdst;
};

static void ends_release(struct ends *e)
{
	store_release(&e->cdst); /* rolls back what was not committed */
	store_release(&e->cmx);
	store_release(&e->csrc);
	store_free(&e->dst);
	store_free(&e->mx);
	store_free(&e->src);
}

/* Opens the three stores (mx_path may be NULL) and a transaction on each:
 * the sources' hold their writers off, so both passes read the same rows. */
static int ends_open(struct ends *e, const char *src_path, const char *mx_path, const char *to,
		     char *err, size_t errlen)
{
	size_t nd;
	const store_domain *const *domains = server_domains(&nd);
	store_opts all = { .domains = domains, .ndomains = nd, .pool_size = 1 };
	store_opts none = { .pool_size = 1 };
	char *url = xasprintf("sqlite:%s", src_path), *mx_url = NULL;
	int rc = store_open(url, &all, &e->src, err, errlen);
	if (!rc && mx_path) {
		mx_url = xasprintf("sqlite:%s", mx_path);
		rc = store_open(mx_url, &none, &e->mx, err, errlen);
	}
	if (!rc && (rc = store_open(to, &all, &e->dst, err, errlen)))
		snprintf(err + strlen(err), errlen - strlen(err), " (the destination)");
	if (!rc && ((rc = store_acquire(e->src, &e->csrc)) || (rc = store_begin(e->csrc))))
		snprintf(err, errlen, "cannot lock the source %s: %s", src_path,
			 e->csrc ? store_errmsg(e->csrc) : strerror(-rc));
	if (!rc && e->mx && ((rc = store_acquire(e->mx, &e->cmx)) || (rc = store_begin(e->cmx))))
		snprintf(err, errlen, "cannot lock the source %s: %s", mx_path,
			 e->cmx ? store_errmsg(e->cmx) : strerror(-rc));
	if (!rc && ((rc = store_acquire(e->dst, &e->cdst)) || (rc = store_begin(e->cdst))))
		snprintf(err, errlen, "cannot start a transaction on the destination: %s",
			 e->cdst ? store_errmsg(e->cdst) : strerror(-rc));
	free(mx_url);
	free(url);
	return rc;
}

/* Verifies every table on both ends and prints the table; 0 when all
 * matched. */
static int verify(struct ends *e, const struct tables *ts, int64_t *rows, char *err, size_t errlen)
{
	int bad = 0, rc = 0;
	printf("%-24s %10s  %-64s  %s\n", "table", "rows", "sha256", "ok");
	for (size_t i = 0; i < ts->n && !rc; i++) {
		const struct table *t = &ts->t[i];
		struct digest s, d;
		if ((rc = table_digest(t->metrics ? e->cmx : e->csrc, t, 0, &s)))
			snprintf(err, errlen, "cannot read %s back from the source: %s", t->name,
				 store_errmsg(t->metrics ? e->cmx : e->csrc));
		else if ((rc = table_digest(e->cdst, t, 1, &d)))
			snprintf(err, errlen, "cannot read %s back from the destination: %s", t->name,
				 store_errmsg(e->cdst));
		if (rc)
			break;
		int ok = s.rows == d.rows && strcmp(s.sha, d.sha) == 0;
		printf("%-24s %10" PRId64 "  %s  %s\n", t->name, s.rows, s.sha, ok ? "ok" : "MISMATCH");
		if (!ok)
			printf("%-24s %10" PRId64 "  %s  (the destination)\n", "", d.rows, d.sha);
		bad += !ok;
		*rows += s.rows;
	}
	if (!rc && bad) {
		snprintf(err, errlen, "%d table(s) differ after the copy: nothing was kept", bad);
		rc = -EIO;
	}
	return rc;
}

static int migrate(struct ends *e, struct tables *ts, int *code, char *err, size_t errlen)
{
	int rc = list_tables(e->csrc, 0, ts, err, errlen);
	if (!rc && e->cmx)
		rc = list_tables(e->cmx, 1, ts, err, errlen);
	if (!rc)
		rc = order_tables(ts, err, errlen);
	for (size_t i = 0; i < ts->n && !rc; i++)
		rc = dst_prepare(e->cdst, &ts->t[i], err, errlen);
	if (rc == -EEXIST)
		*code = 2;
	for (size_t i = 0; i < ts->n && !rc; i++)
		rc = copy_table(ts->t[i].metrics ? e->cmx : e->csrc, e->cdst, &ts->t[i], err, errlen);
	int64_t rows = 0;
	if (!rc)
		rc = verify(e, ts, &rows, err, errlen);
	if (!rc && (rc = store_commit(e->cdst)))
		snprintf(err, errlen, "cannot commit on the destination: %s", store_errmsg(e->cdst));
	if (!rc)
		printf("Copied and verified %zu tables, %" PRId64 " rows.\n", ts->n, rows);
	return rc;
}

int migrate_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	struct ends e = { 0 };
	struct tables ts = { 0 };
	char err[1024] = "", *src = NULL, *data = NULL, *mx = NULL;
	int code;
	if (cfg_cmd_init(&migrate_spec, argc, argv, &c, &code))
		return code;
	const char *from = cfg_get(c, "from"), *to = cfg_get(c, "to");
	code = 2;
	if (!to || (strncmp(to, "postgres://", 11) != 0 && strncmp(to, "postgresql://", 13) != 0)) {
		fprintf(stderr, "sentinel migrate: --to postgres://... is required (the destination)\n");
		goto out;
	}
	if (from && strncmp(from, "sqlite:", 7) != 0) {
		fprintf(stderr, "sentinel migrate: --from takes sqlite:PATH\n");
		goto out;
	}
	if (!from && !cfg_get(c, "data")) {
		fprintf(stderr, "sentinel migrate: give --data DIR or --from sqlite:PATH\n");
		goto out;
	}
	if (from) {
		src = xstrdup(from + 7);
		char *d = xstrdup(src);
		data = xstrdup(cfg_get(c, "data") ? cfg_get(c, "data") : dirname(d));
		free(d);
	} else {
		data = xstrdup(cfg_get(c, "data"));
		src = xasprintf("%s/sentinel.db", data);
	}
	mx = xasprintf("%s/metrics/blocks.db", data);
	code = 1;
	if (access(src, R_OK) != 0) {
		fprintf(stderr, "sentinel migrate: no database at %s (wrong --data or --from?)\n", src);
		goto out;
	}
	printf("Source: %s\n", src);
	if (access(mx, R_OK) == 0) {
		printf("Metrics: %s\n", mx);
	} else {
		printf("Metrics: none (no %s)\n", mx);
		free(mx);
		mx = NULL;
	}
	if (ends_open(&e, src, mx, to, err, sizeof err) || migrate(&e, &ts, &code, err, sizeof err)) {
		fprintf(stderr, "sentinel migrate: %s\n", err);
		goto out;
	}
	char *abs = realpath(data, NULL);
	printf("Blobs are files, not rows: they stay in %s/blobs. Run the server on PostgreSQL\n"
	       "with the same data directory: sentinel server --data %s --db URL\n",
	       abs ? abs : data, abs ? abs : data);
	free(abs);
	code = 0;
out:
	ends_release(&e);
	tables_release(&ts);
	free(mx);
	free(data);
	free(src);
	cfg_free(&c);
	return code;
}
