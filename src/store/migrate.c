/* The migration runner: applies the numbered migrations that each domain
 * registers (store.h), and knows no domain's tables. Invariants:
 *  1. A migration and its schema_migrations row commit together, so a
 *     crash leaves a domain at one recorded version, never between two.
 *  2. Versions are re-read inside each migration's write transaction: two
 *     servers starting on one database apply each migration once.
 *  3. Nothing is applied until every domain given (and the format) is
 *     known to be no newer than this binary: a refused database is left
 *     exactly as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "store/store_int.h"

static int query_int(store_conn *c, const char *sql, int nargs, const store_arg *args, int *out)
{
	store_rows *r = NULL;
	int rc = store_query(c, sql, &r, nargs, args);
	if (rc)
		return rc;
	rc = store_rows_next(r);
	*out = rc == 1 ? (int)store_rows_int(r, 0) : 0;
	store_rows_free(&r);
	return rc < 0 ? rc : 0;
}

static int format_version(store_conn *c, int *out)
{
	return query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_version", SNOARGS, out);
}

static int domain_version(store_conn *c, const char *domain, int *out)
{
	return query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE domain = $1",
			 SARGS(SA_TEXT(domain)), out);
}

int store_schema_version(store *s, const char *domain)
{
	store_conn *c = NULL;
	int v = -1;
	int rc = store_acquire(s, &c);
	if (rc == 0 && (rc = domain_version(c, domain, &v)))
		v = rc;
	store_release(&c);
	return rc ? rc : v;
}

/* A list the runner cannot apply safely is a programming error: say so
 * at start rather than half-migrate. */
static int check_domains(const store_domain *const *d, size_t n, char *err, size_t errlen)
{
	int legacy = 0;
	for (size_t i = 0; i < n; i++) {
		if (!d[i]->name || !*d[i]->name || d[i]->n < 1) {
			snprintf(err, errlen, "store: domain %zu has no name or no migrations", i);
			return -EINVAL;
		}
		for (int k = 0; k < d[i]->n; k++)
			if (d[i]->migrations[k].version != k + 1) {
				snprintf(err, errlen, "store: domain %s: migration %d is numbered %d",
					 d[i]->name, k + 1, d[i]->migrations[k].version);
				return -EINVAL;
			}
		for (size_t j = 0; j < i; j++)
			if (strcmp(d[i]->name, d[j]->name) == 0) {
				snprintf(err, errlen, "store: domain %s given twice", d[i]->name);
				return -EINVAL;
			}
		legacy += d[i]->legacy != 0;
	}
	if (legacy > 1) {
		snprintf(err, errlen, "store: more than one legacy domain");
		return -EINVAL;
	}
	return 0;
}

/* Creates the bookkeeping tables and, on a database of the store-wide
 * format (1, 2), records its versions as the legacy domain's. Without a
 * legacy domain given, such a database is left in its format: the upgrade
 * happens when a binary that has that domain opens it. */
static int prepare(store_conn *c, const store_domain *const *d, size_t n, char *err,
		   size_t errlen)
{
	const store_domain *legacy = NULL;
	int fmt = 0, rc;
	for (size_t i = 0; i < n; i++)
		if (d[i]->legacy)
			legacy = d[i];
	if ((rc = store_begin(c)) ||
	    (rc = store_exec(c, "CREATE TABLE IF NOT EXISTS schema_version ("
				" version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)", NULL, SNOARGS)) ||
	    (rc = store_exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
				" domain TEXT NOT NULL, version BIGINT NOT NULL,"
				" applied_at BIGINT NOT NULL, PRIMARY KEY (domain, version))",
			     NULL, SNOARGS)) ||
	    (rc = format_version(c, &fmt)))
		goto fail;
	if (fmt > STORE_FORMAT) {
		snprintf(err, errlen, "database schema version %d is newer than this sentinel"
			 " understands (%d); upgrade sentinel", fmt, STORE_FORMAT);
		rc = STORE_ETOONEW;
		goto out;
	}
	if (fmt < STORE_FORMAT && (legacy || fmt == 0)) {
		/* Each old row becomes the legacy domain's row of the same number,
		 * with its original time. */
		if ((legacy && (rc = store_exec(c, "INSERT INTO schema_migrations (domain, version,"
						   " applied_at) SELECT $1, version, applied_at"
						   " FROM schema_version", NULL,
						SARGS(SA_TEXT(legacy->name))))) ||
		    (rc = store_exec(c, "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
				     NULL, SARGS(SA_INT(STORE_FORMAT), SA_INT(sn_now_ms())))))
			goto fail;
	}
	if ((rc = store_commit(c)))
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "cannot prepare the schema records: %s", store_errmsg(c));
out:
	store_rollback(c);
	return rc;
}

static int apply(store *s, store_conn *c, const store_domain *d, char *err, size_t errlen)
{
	int v = 0, rc = 0, i;
	for (i = 0; i < d->n; i++) {
		const store_migration *m = &d->migrations[i];
		if ((rc = store_begin(c)) || (rc = domain_version(c, d->name, &v)))
			goto fail;
		if (v >= m->version) {
			store_rollback(c);
			continue;
		}
		char *sql = store_be(s)->ddl ? store_be(s)->ddl(m->sql) : NULL;
		rc = store_exec(c, sql ? sql : m->sql, NULL, SNOARGS);
		free(sql);
		if (rc)
			goto fail;
		const char *extra = store_be(s) == &store_pg_backend ? m->sql_pg : m->sql_sqlite;
		if (extra && (rc = store_exec(c, extra, NULL, SNOARGS)))
			goto fail;
		if ((rc = store_exec(c, "INSERT INTO schema_migrations (domain, version, applied_at)"
				        " VALUES ($1, $2, $3)", NULL,
				     SARGS(SA_TEXT(d->name), SA_INT(m->version), SA_INT(sn_now_ms())))) ||
		    (rc = store_commit(c)))
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "migration %s %d failed: %s", d->name, d->migrations[i].version,
		 store_errmsg(c));
	store_rollback(c);
	return rc;
}

int store_migrate(store *s, const store_domain *const *d, size_t n, char *err, size_t errlen)
{
	store_conn *c = NULL;
	int rc = check_domains(d, n, err, errlen);
	if (rc || (rc = store_acquire(s, &c))) {
		if (rc == -ETIMEDOUT)
			snprintf(err, errlen, "store: no connection to migrate with");
		return rc;
	}
	if ((rc = prepare(c, d, n, err, errlen)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		if ((rc = domain_version(c, d[i]->name, &v))) {
			snprintf(err, errlen, "cannot read the %s schema version: %s", d[i]->name,
				 store_errmsg(c));
			goto out;
		}
		if (v > d[i]->n) {
			snprintf(err, errlen, "database schema version %d of %s is newer than this"
				 " sentinel understands (%d); upgrade sentinel", v, d[i]->name, d[i]->n);
			rc = STORE_ETOONEW;
			goto out;
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = apply(s, c, d[i], err, errlen);
out:
	store_release(&c);
	return rc;
}
