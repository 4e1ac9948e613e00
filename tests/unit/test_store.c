/* The store: the migration runner (per-domain versions, the upgrade of a
 * store-wide database, refusal of newer ones), placeholders, transactions,
 * errors, types, the acquire timeout. On SQLite, or on PostgreSQL when
 * SENTINEL_TEST_PG names a server (test_db.h); what only one backend has
 * (the legacy format and file paths: SQLite; reconnection, an aborted
 * transaction's COMMIT: PostgreSQL) is tested on that one. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/util.h"
#include "server/server.h"
#include "store/store.h"
#include "test_db.h"

static char dir[64], url[256];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sentinel-store-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return test_db_url(dir, "s.db", url, sizeof url);
}

/* For the tests about SQLite itself: its file, whatever the run's backend. */
static int setup_sqlite(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sentinel-store-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(url, sizeof url, "sqlite:%s/s.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	test_db_drop(url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

/* Two test domains. Their migrations fail when run twice (plain CREATE
 * TABLE), so a re-run shows as an error. */
static const store_migration shelf_m[] = {
	{ 1, "CREATE TABLE shelf (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	     " description TEXT NOT NULL, created_at BIGINT NOT NULL);", NULL, NULL },
	{ 2, "CREATE TABLE shelf_log (id TEXT PRIMARY KEY);",
	  "CREATE TRIGGER shelf_log_no_delete BEFORE DELETE ON shelf_log"
	  " BEGIN SELECT RAISE(ABORT, 'insert-only'); END;",
	  "CREATE FUNCTION shelf_log_no_delete() RETURNS trigger LANGUAGE plpgsql AS"
	  " $$ BEGIN RAISE EXCEPTION 'insert-only'; END $$;"
	  " CREATE TRIGGER shelf_log_no_delete BEFORE DELETE ON shelf_log"
	  " FOR EACH ROW EXECUTE FUNCTION shelf_log_no_delete();" },
	{ 3, "ALTER TABLE shelf ADD COLUMN size BIGINT NOT NULL DEFAULT 0;", NULL, NULL },
};
static const store_domain shelf = { "shelf", shelf_m, 3, 0 };
static const store_domain shelf_v2 = { "shelf", shelf_m, 2, 0 };
static const store_domain shelf_legacy = { "shelf", shelf_m, 3, 1 };
static const store_migration box_m[] = {
	{ 1, "CREATE TABLE box (id TEXT PRIMARY KEY);", NULL, NULL },
};
static const store_domain box = { "box", box_m, 1, 0 };

static int open_with(const store_domain *a, const store_domain *b, store **s, char *err, size_t n)
{
	const store_domain *d[] = { a, b };
	store_opts so = { .domains = d, .ndomains = a ? (b ? 2 : 1) : 0 };
	return store_open(url, &so, s, err, n);
}

static void test_migrate_and_query(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 3);
	assert_string_equal(store_backend(s), test_db_pg() ? "postgres" : "sqlite");
	store_acquire(s, &c);
	/* $2 before $1 in the text: arguments bind by number, not position. */
	assert_int_equal(store_exec(c, "INSERT INTO shelf (id, name, description, created_at)"
				       " VALUES ($2, $1, $3, $4)", NULL,
				    SARGS(SA_TEXT("ml"), SA_TEXT("g1"), SA_NULL, SA_INT(5))),
			 STORE_ECONSTRAINT); /* description is NOT NULL */
	int64_t n = -1;
	assert_int_equal(store_exec(c, "INSERT INTO shelf (id, name, description, created_at)"
				       " VALUES ($2, $1, $3, $4)", &n,
				    SARGS(SA_TEXT("ml"), SA_TEXT("g1"), SA_TEXT("d"), SA_INT(5))), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_exec(c, "INSERT INTO shelf (id, name, description, created_at)"
				       " VALUES ('g2', $1, '', 1)", NULL, SARGS(SA_TEXT("ml"))),
			 STORE_ECONSTRAINT); /* unique name */
	assert_int_equal(store_query(c, "SELECT id, name, created_at, description FROM shelf"
					" WHERE name = $1", &r, SARGS(SA_TEXT("ml"))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_string_equal(store_rows_text(r, 0), "g1");
	assert_int_equal(store_rows_int(r, 2), 5);
	assert_int_equal(store_rows_next(r), 0);
	store_rows_free(&r);
	/* A rolled-back transaction leaves nothing. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "DELETE FROM shelf", NULL, SNOARGS), 0);
	assert_int_equal(store_rollback(c), 0);
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM shelf", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	/* A transaction left open is rolled back on release. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "DELETE FROM shelf", NULL, SNOARGS), 0);
	store_release(&c);
	store_acquire(s, &c);
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM shelf", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	/* The backend's own part of a migration ran. */
	assert_int_equal(store_exec(c, "INSERT INTO shelf_log (id) VALUES ('l1')", NULL, SNOARGS), 0);
	assert_int_not_equal(store_exec(c, "DELETE FROM shelf_log", NULL, SNOARGS), 0);
	/* Bad SQL is an error, not a crash. */
	assert_true(store_query(c, "SELEC nonsense", &r, SNOARGS) < 0);
	assert_true(store_error_count(s) > 0);
	store_release(&c);
	store_free(&s);
	assert_null(s);
	/* Reopening applies nothing new (a re-run would fail) and keeps the data. */
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM shelf"), 1);
	store_free(&s);
}

/* Each domain has its own versions; a domain that grows gets only its new
 * migrations, each recorded in schema_migrations; a store opened without a
 * domain leaves its tables alone. */
static void test_domains(void **state)
{
	(void)state;
	store *s = NULL;
	char err[256];
	assert_int_equal(open_with(&shelf_v2, &box, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 2);
	assert_int_equal(store_schema_version(s, "box"), 1);
	assert_int_equal(store_schema_version(s, "other"), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations"), 3);
	assert_int_equal(test_db_int(s, "SELECT MAX(version) FROM schema_version"), STORE_FORMAT);
	store_free(&s);
	assert_int_equal(open_with(NULL, NULL, &s, err, sizeof err), 0);
	store_free(&s);
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 3);
	assert_int_equal(store_schema_version(s, "box"), 1);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations WHERE domain = 'shelf'"), 3);
	store_free(&s);
	/* A list the runner cannot apply in order is refused up front. */
	static const store_migration bad_m[] = { { 2, "SELECT 1;", NULL, NULL } };
	static const store_domain bad = { "bad", bad_m, 1, 0 };
	assert_int_equal(open_with(&bad, NULL, &s, err, sizeof err), -EINVAL);
	assert_null(s);
	assert_int_equal(open_with(&box, &box, &s, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "twice"));
}

/* A database of the store-wide format (schema_version 1..2, no
 * schema_migrations) is upgraded in place: the legacy domain adopts the
 * old versions with their times, runs only what is new, and the format is
 * recorded once. Opened without the legacy domain, it waits as it is. */
static void test_legacy_upgrade(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256];
	/* What the release before per-domain versions left: migrations 1 and 2. */
	assert_int_equal(open_with(&shelf_v2, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "DROP TABLE schema_migrations; DELETE FROM schema_version;"
				       " INSERT INTO schema_version VALUES (1, 111);"
				       " INSERT INTO schema_version VALUES (2, 222);", NULL, SNOARGS), 0);
	store_release(&c);
	store_free(&s);
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	assert_int_equal(test_db_int(s, "SELECT MAX(version) FROM schema_version"), 2);
	store_free(&s);
	assert_int_equal(open_with(&shelf_legacy, &box, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 3);
	assert_int_equal(test_db_int(s, "SELECT applied_at FROM schema_migrations WHERE domain = 'shelf'"
				   " AND version = 2"), 222);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(test_db_int(s, "SELECT size FROM shelf LIMIT 1"), -1); /* column exists, no rows */
	store_free(&s);
	/* A second start is a no-op. */
	assert_int_equal(open_with(&shelf_legacy, &box, &s, err, sizeof err), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations"), 4);
	store_free(&s);
}

/* A newer format or a newer domain version is refused, and nothing is
 * written: not even the domains that could have been migrated. */
static void test_newer_schema_refused(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256];
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), 0);
	store_acquire(s, &c);
	assert_int_equal(store_exec(c, "INSERT INTO schema_migrations (domain, version, applied_at)"
				       " VALUES ('shelf', 9, 0)", NULL, SNOARGS), 0);
	store_release(&c);
	store_free(&s);
	assert_int_equal(open_with(&box, &shelf, &s, err, sizeof err), STORE_ETOONEW);
	assert_null(s);
	assert_non_null(strstr(err, "newer"));
	assert_non_null(strstr(err, "shelf"));
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "box"), 1); /* only now */
	store_acquire(s, &c);
	assert_int_equal(store_exec(c, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)",
				    NULL, SNOARGS), 0);
	store_release(&c);
	store_free(&s);
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), STORE_ETOONEW);
	assert_null(s);
	assert_non_null(strstr(err, "newer"));
	assert_non_null(strstr(err, "999"));
}

static void test_unsupported(void **state)
{
	(void)state;
	store *s = NULL;
	char err[256];
	assert_int_not_equal(store_open("sqlite:/nonexistent/dir/x.db", NULL, &s, err, sizeof err), 0);
	assert_non_null(strstr(err, "/nonexistent/dir/x.db"));
	assert_null(s);
}

static void *release_later(void *arg)
{
	store_conn *c = arg;
	usleep(50 * 1000);
	store_release(&c);
	return NULL;
}

/* Blobs keep every byte (zeros included), an empty blob reads back as
 * empty, and NULL as NULL. The table comes from a migration: BLOB is
 * translated for PostgreSQL (BYTEA) there. */
static void test_blob(void **state)
{
	(void)state;
	static const store_migration bl_m[] = {
		{ 1, "CREATE TABLE bl (id INTEGER PRIMARY KEY, b BLOB);", NULL, NULL },
	};
	static const store_domain bl = { "bl", bl_m, 1, 0 };
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	unsigned char b[3000];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)(i * 7);
	b[10] = 0;
	b[sizeof b - 1] = 0;
	assert_int_equal(open_with(&bl, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(1), SA_BLOB(b, sizeof b))), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(2), SA_BLOB(NULL, 0))), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(3), SA_NULL)), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(4), SA_BLOB("\0\0", 2))), 0);
	/* A blob compares as bytes in WHERE too. */
	assert_int_equal(store_query(c, "SELECT id FROM bl WHERE b = $1", &r,
				     SARGS(SA_BLOB(b, sizeof b))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	assert_int_equal(store_query(c, "SELECT b FROM bl ORDER BY id", &r, SNOARGS), 0);
	size_t len = 99;
	assert_int_equal(store_rows_next(r), 1);
	const void *p = store_rows_blob(r, 0, &len);
	assert_int_equal(len, sizeof b);
	assert_memory_equal(p, b, sizeof b);
	assert_int_equal(store_rows_next(r), 1);
	assert_null(store_rows_blob(r, 0, &len));
	assert_int_equal(len, 0);
	assert_false(store_rows_isnull(r, 0));
	assert_int_equal(store_rows_next(r), 1);
	assert_null(store_rows_blob(r, 0, &len));
	assert_true(store_rows_isnull(r, 0));
	assert_int_equal(store_rows_next(r), 1);
	p = store_rows_blob(r, 0, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(p, "\0\0", 2);
	assert_int_equal(store_rows_next(r), 0);
	store_rows_free(&r);
	store_release(&c);
	store_free(&s);
}

static const store_migration num_m[] = {
	{ 1, "CREATE TABLE num (id INTEGER PRIMARY KEY, i BIGINT, d DOUBLE PRECISION);", NULL, NULL },
};
static const store_domain num = { "num", num_m, 1, 0 };

static double dbl_back(store_conn *c, int64_t id)
{
	store_rows *r = NULL;
	double d = -1;
	assert_int_equal(store_query(c, "SELECT d FROM num WHERE id = $1", &r, SARGS(SA_INT(id))), 0);
	assert_int_equal(store_rows_next(r), 1);
	d = store_rows_double(r, 0);
	store_rows_free(&r);
	return d;
}

/* Numbers come back exactly: int64 extremes, doubles to the last bit
 * (17 significant digits), infinities, and NaN where the backend keeps it;
 * a comparison reads as 1 or 0 on both backends (PostgreSQL: a boolean). */
static void test_numbers(void **state)
{
	(void)state;
	static const double ds[] = { 0.1, 1.0 / 3.0, -2.5e-300, 1.7976931348623157e308,
				     4.9406564584124654e-324, 2.2250738585072014e-308,
				     123456789.12345679 };
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	assert_int_equal(open_with(&num, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO num (id, i) VALUES (1, $1)", NULL,
				    SARGS(SA_INT(INT64_MAX))), 0);
	assert_int_equal(store_exec(c, "INSERT INTO num (id, i) VALUES (2, $1)", NULL,
				    SARGS(SA_INT(INT64_MIN))), 0);
	assert_int_equal(store_query(c, "SELECT i FROM num WHERE i = $1 OR i = $2 ORDER BY i", &r,
				     SARGS(SA_INT(INT64_MIN), SA_INT(INT64_MAX))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_true(store_rows_int(r, 0) == INT64_MIN);
	assert_int_equal(store_rows_next(r), 1);
	assert_true(store_rows_int(r, 0) == INT64_MAX);
	assert_string_equal(store_rows_text(r, 0), "9223372036854775807");
	assert_int_equal(store_rows_next(r), 0);
	store_rows_free(&r);
	for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
		int64_t id = 10 + (int64_t)k;
		assert_int_equal(store_exec(c, "INSERT INTO num (id, d) VALUES ($1, $2)", NULL,
					    SARGS(SA_INT(id), SA_DBL(ds[k]))), 0);
		double back = dbl_back(c, id);
		assert_memory_equal(&back, &ds[k], sizeof back); /* bit for bit */
	}
	assert_int_equal(store_exec(c, "INSERT INTO num (id, d) VALUES (30, $1), (31, $2)", NULL,
				    SARGS(SA_DBL(INFINITY), SA_DBL(-INFINITY))), 0);
	assert_true(isinf(dbl_back(c, 30)) && dbl_back(c, 30) > 0);
	assert_true(isinf(dbl_back(c, 31)) && dbl_back(c, 31) < 0);
	/* A double bound in a comparison. */
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM num WHERE d > $1", &r,
				     SARGS(SA_DBL(1e308))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 2); /* DBL_MAX and +inf */
	store_rows_free(&r);
	/* A NaN binds NULL on both backends (SQLite's rule, kept on
	 * PostgreSQL so that a NOT NULL column refuses it on both). */
	assert_int_equal(store_exec(c, "INSERT INTO num (id, d) VALUES (32, $1)", NULL,
				    SARGS(SA_DBL(NAN))), 0);
	assert_int_equal(store_query(c, "SELECT d IS NULL FROM num WHERE id = 32", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	if (test_db_pg()) {
		/* SQLite stores -0.0 as the integer 0; PostgreSQL keeps it. */
		assert_int_equal(store_exec(c, "INSERT INTO num (id, d) VALUES (33, $1)", NULL,
					    SARGS(SA_DBL(-0.0))), 0);
		assert_true(signbit(dbl_back(c, 33)));
	}
	/* Booleans as ints. */
	assert_int_equal(store_query(c, "SELECT 1 = 1, 1 = 0, EXISTS (SELECT 1 FROM num),"
					" $1 < $2", &r, SARGS(SA_INT(1), SA_INT(2))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	assert_int_equal(store_rows_int(r, 1), 0);
	assert_int_equal(store_rows_int(r, 2), 1);
	assert_int_equal(store_rows_int(r, 3), 1);
	store_rows_free(&r);
	store_release(&c);
	store_free(&s);
}

struct opener {
	const char *url;
	int rc;
};

static void *open_in_thread(void *arg)
{
	struct opener *o = arg;
	const store_domain *d[] = { &shelf, &box };
	store_opts so = { .domains = d, .ndomains = 2, .pool_size = 2 };
	store *s = NULL;
	char err[256];
	o->rc = store_open(o->url, &so, &s, err, sizeof err);
	store_free(&s);
	return NULL;
}

/* Servers starting at once on one empty database: both open, each
 * migration is applied once (a second run of shelf's plain CREATE TABLE
 * would fail one of them). */
static void test_concurrent_open(void **state)
{
	(void)state;
	struct opener o[4];
	pthread_t th[4];
	store *s = NULL;
	char err[256];
	for (int i = 0; i < 4; i++) {
		o[i] = (struct opener){ url, -1 };
		assert_int_equal(pthread_create(&th[i], NULL, open_in_thread, &o[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(o[i].rc, 0);
	}
	assert_int_equal(open_with(&shelf, &box, &s, err, sizeof err), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations"), 4);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_version"), 1);
	store_free(&s);
}

/* A migration that fails leaves its domain at the version before, with
 * nothing of the failed migration kept (its DDL is in the same
 * transaction); the open fails and says which migration. Fixed, the next
 * open goes on from there. Migrations run in their order: 2 sees 1's table. */
static void test_failing_migration(void **state)
{
	(void)state;
	static const store_migration bad_m[] = {
		{ 1, "CREATE TABLE ok1 (id TEXT PRIMARY KEY);", NULL, NULL },
		{ 2, "CREATE TABLE half (id TEXT); INSERT INTO nowhere (id) VALUES ('x');", NULL, NULL },
	};
	static const store_migration good_m[] = {
		{ 1, "CREATE TABLE ok1 (id TEXT PRIMARY KEY);", NULL, NULL },
		{ 2, "CREATE TABLE half (id TEXT); INSERT INTO ok1 (id) VALUES ('x');", NULL, NULL },
	};
	static const store_domain bad = { "dom", bad_m, 2, 0 };
	static const store_domain good = { "dom", good_m, 2, 0 };
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	assert_true(open_with(&box, &bad, &s, err, sizeof err) < 0);
	assert_null(s);
	assert_non_null(strstr(err, "migration dom 2"));
	assert_int_equal(open_with(NULL, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "dom"), 1);
	assert_int_equal(store_schema_version(s, "box"), 1); /* before dom: kept */
	assert_int_equal(store_acquire(s, &c), 0);
	assert_true(store_query(c, "SELECT id FROM half", &r, SNOARGS) < 0);
	store_release(&c);
	store_free(&s);
	assert_int_equal(open_with(&box, &good, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "dom"), 2);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM ok1"), 1);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM half"), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations WHERE domain = 'dom'"), 2);
	store_free(&s);
}

/* A statement that fails inside a transaction: on PostgreSQL it aborts the
 * transaction, and COMMIT must say so (the server answers ROLLBACK, not an
 * error) rather than report a write that was not kept. SQLite keeps the
 * transaction going after a failed statement, so there the COMMIT keeps
 * the statements that worked: the caller rolls back on any error. */
static void test_failed_commit(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256];
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('a')", NULL, SNOARGS), 0);
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('b')", NULL, SNOARGS), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('a')", NULL, SNOARGS),
			 STORE_ECONSTRAINT);
	if (test_db_pg()) {
		/* Later statements fail too, and COMMIT keeps nothing. */
		assert_true(store_exec(c, "INSERT INTO box (id) VALUES ('c')", NULL, SNOARGS) < 0);
		assert_true(store_commit(c) < 0);
		assert_non_null(strstr(store_errmsg(c), "rolled back"));
		assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 1);
		/* A constraint checked at COMMIT: the COMMIT fails with
		 * ECONSTRAINT, and the transaction is over and kept nothing. */
		assert_int_equal(store_exec(c, "CREATE TABLE dfr (id BIGINT, CONSTRAINT dfr_u UNIQUE (id)"
					       " DEFERRABLE INITIALLY DEFERRED)", NULL, SNOARGS), 0);
		assert_int_equal(store_begin(c), 0);
		assert_int_equal(store_exec(c, "INSERT INTO dfr (id) VALUES (1), (1)", NULL, SNOARGS), 0);
		assert_int_equal(store_commit(c), STORE_ECONSTRAINT);
		assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM dfr"), 0);
	} else {
		assert_int_equal(store_commit(c), 0);
		assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 2);
	}
	/* The connection is usable afterwards, in and out of transactions. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('d')", NULL, SNOARGS), 0);
	assert_int_equal(store_commit(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('d')", NULL, SNOARGS),
			 STORE_ECONSTRAINT);
	store_release(&c);
	store_free(&s);
}

/* store_wait_notify: a connection that LISTENs gets what another one
 * NOTIFYs, one at a time, in order; none within the wait is 0; a readable
 * fd ends the wait early. SQLite has none. */
static void test_notify(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *l = NULL, *c = NULL;
	char err[256], what[16];
	int fds[2];
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &l), 0);
	assert_int_equal(pipe(fds), 0);
	if (!test_db_pg()) {
		assert_int_equal(store_wait_notify(l, -1, 10, what, sizeof what), -ENOTSUP);
		goto out;
	}
	assert_int_equal(store_exec(l, "LISTEN t_chan", NULL, SNOARGS), 0);
	assert_int_equal(store_wait_notify(l, -1, 20, what, sizeof what), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "SELECT pg_notify('t_chan', 'one')", NULL, SNOARGS), 0);
	assert_int_equal(store_exec(c, "SELECT pg_notify('t_chan', 'two, longer than the room')",
				    NULL, SNOARGS), 0);
	assert_int_equal(store_wait_notify(l, -1, 5000, what, sizeof what), 1);
	assert_string_equal(what, "one");
	assert_int_equal(store_wait_notify(l, -1, 5000, what, sizeof what), 1);
	assert_string_equal(what, "two, longer tha");
	assert_int_equal(write(fds[1], "x", 1), 1);
	int64_t t0 = sn_now_ms();
	assert_int_equal(store_wait_notify(l, fds[0], 5000, what, sizeof what), 0);
	assert_true(sn_now_ms() - t0 < 2000);
out:
	close(fds[0]);
	close(fds[1]);
	store_release(&c);
	store_release(&l);
	store_free(&s);
}

/* store_pipeline: queued writes reach the database before a query, at
 * commit, or when it is turned off; an error in the queue fails the
 * commit and keeps nothing; a rollback drops the queue. The same
 * outcomes on both backends (SQLite runs each at once). */
static void test_pipeline(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256], id[16];
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	/* More statements than one pipeline group, with every argument type. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_pipeline(c, 1), 0);
	for (int i = 0; i < 150; i++) {
		snprintf(id, sizeof id, "p%03d", i);
		assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ($1)", NULL,
					    SARGS(SA_TEXT(id), SA_INT(i), SA_DBL(0.5), SA_NULL,
						  SA_BLOB("x", 1))), 0);
	}
	/* A query sees what was queued before it, in the same transaction. */
	store_rows *r = NULL;
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM box", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 150);
	store_rows_free(&r);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('q')", NULL, SNOARGS), 0);
	assert_int_equal(store_commit(c), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 151);
	/* A failing statement in the queue: the commit fails, nothing kept. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_pipeline(c, 1), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('r')", NULL, SNOARGS), 0);
	int rc = store_exec(c, "INSERT INTO box (id) VALUES ('q')", NULL, SNOARGS);
	if (test_db_pg()) {
		assert_int_equal(rc, 0); /* queued: the error comes at the commit */
		assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('s')", NULL, SNOARGS), 0);
		assert_int_equal(store_commit(c), STORE_ECONSTRAINT);
		assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 151);
	} else {
		assert_int_equal(rc, STORE_ECONSTRAINT);
		assert_int_equal(store_rollback(c), 0);
	}
	/* A rollback drops the queue; turned off, writes run at once again. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_pipeline(c, 1), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('t')", NULL, SNOARGS), 0);
	assert_int_equal(store_rollback(c), 0);
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('u')", NULL, SNOARGS), 0);
	assert_int_equal(store_pipeline(c, 0), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('u')", NULL, SNOARGS),
			 STORE_ECONSTRAINT);
	assert_int_equal(store_rollback(c), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 151);
	store_release(&c);
	store_free(&s);
}

static int64_t int_on(store_conn *c, const char *sql)
{
	store_rows *r = NULL;
	int64_t n = -1;
	assert_int_equal(store_query(c, sql, &r, SNOARGS), 0);
	if (store_rows_next(r) == 1)
		n = store_rows_int(r, 0);
	store_rows_free(&r);
	return n;
}

/* store_pipeline before store_begin: the begin, the fence and the commit
 * travel with the queue. A fence that finds no row refuses the whole
 * transaction (STORE_EBUSY, nothing kept, no statement after it run);
 * an error among the statements keeps nothing either; the connection
 * serves the next transaction either way. */
static void test_pipeline_begin(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256];
	assert_int_equal(open_with(&box, NULL, &s, err, sizeof err), 0);
	store_set_fence(s, "SELECT 1 FROM box WHERE id = 'fence'");
	assert_int_equal(store_acquire(s, &c), 0);
	/* No fence row: refused. */
	assert_int_equal(store_pipeline(c, 1), 0);
	int rc = store_begin(c);
	if (rc == 0) {
		assert_true(test_db_pg()); /* queued: the refusal comes at the commit */
		assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('a')", NULL, SNOARGS), 0);
		rc = store_commit(c);
	}
	assert_int_equal(rc, STORE_EBUSY);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 0);
	store_release(&c);
	store_set_fence(s, NULL);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('fence')", NULL, SNOARGS), 0);
	store_release(&c);
	store_set_fence(s, "SELECT 1 FROM box WHERE id = 'fence'");
	/* With it: the queue, a query between (it sees the queue), the commit. */
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_pipeline(c, 1), 0);
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('b')", NULL, SNOARGS), 0);
	assert_int_equal(int_on(c, "SELECT COUNT(*) FROM box"), 2);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('c')", NULL, SNOARGS), 0);
	assert_int_equal(store_commit(c), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 3);
	/* An error in the queue: nothing of it kept, the COMMIT skipped. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('d')", NULL, SNOARGS), 0);
	rc = store_exec(c, "INSERT INTO box (id) VALUES ('b')", NULL, SNOARGS);
	if (rc == 0)
		rc = store_commit(c);
	else
		store_rollback(c);
	assert_int_equal(rc, STORE_ECONSTRAINT);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 3);
	/* The same connection goes on. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('e')", NULL, SNOARGS), 0);
	assert_int_equal(store_commit(c), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM box"), 4);
	store_release(&c);
	store_free(&s);
}

static int exec_b(store *s, const char *fmt, const char *name)
{
	char sql[256];
	store_conn *c = NULL;
	snprintf(sql, sizeof sql, fmt, name);
	assert_int_equal(store_acquire(s, &c), 0);
	int rc = store_exec(c, sql, NULL, SNOARGS);
	store_release(&c);
	return rc;
}

static void kill_others(store *b)
{
	int64_t n = 0;
	store_conn *c = NULL;
	assert_int_equal(store_acquire(b, &c), 0);
	assert_int_equal(store_exec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
				       " WHERE datname = current_database() AND pid <> pg_backend_pid()",
				    &n, SNOARGS), 0);
	assert_true(n >= 1);
	store_release(&c);
	usleep(50 * 1000); /* the backend is gone once it has read the signal */
}

/* The next calls on c until one works (at most ms): each fails with
 * STORE_EBUSY meanwhile, never anything else. */
static int until_up(store_conn *c, int ms)
{
	int rc = STORE_EBUSY, tries = 0;
	for (int waited = 0; waited <= ms; waited += 20, tries++) {
		rc = store_exec(c, "INSERT INTO box (id) VALUES ($1)", NULL,
				SARGS(SA_TEXT(tries ? "retry" : "first")));
		if (rc == 0 || rc == STORE_ECONSTRAINT)
			return 0;
		assert_int_equal(rc, STORE_EBUSY);
		assert_true(store_errmsg(c)[0] != '\0');
		usleep(20 * 1000);
	}
	return rc;
}

/* PostgreSQL: the server ends our connections (restart, failover,
 * pg_terminate_backend). The next call fails with STORE_EBUSY or works on
 * a new connection, and a later one works, with the session set up as at
 * open (UTC, whatever the database's default). While the database refuses
 * connections every call is STORE_EBUSY (with a backoff between tries of
 * at least 100 ms), and the store comes back by itself. */
static void test_reconnect(void **state)
{
	(void)state;
	if (!test_db_pg())
		skip();
	const store_domain *d[] = { &box };
	store_opts so = { .domains = d, .ndomains = 1, .pool_size = 1 };
	store *a = NULL, *b = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256], name[64];
	assert_int_equal(store_open(url, &so, &a, err, sizeof err), 0);
	assert_int_equal(store_open(url, &so, &b, err, sizeof err), 0);
	assert_int_equal(store_acquire(b, &c), 0);
	assert_int_equal(store_query(c, "SELECT current_database()", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	snprintf(name, sizeof name, "%s", store_rows_text(r, 0));
	store_rows_free(&r);
	store_release(&c);
	assert_int_equal(exec_b(b, "ALTER DATABASE %s SET TimeZone = 'America/New_York'", name), 0);

	assert_int_equal(store_acquire(a, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('before')", NULL, SNOARGS), 0);
	kill_others(b);
	assert_int_equal(until_up(c, 3000), 0);
	assert_int_equal(store_query(c, "SELECT current_setting('TimeZone'), COUNT(*) FROM box", &r,
				     SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_string_equal(store_rows_text(r, 0), "UTC");
	assert_true(store_rows_int(r, 1) >= 2);
	store_rows_free(&r);

	/* Killed inside a transaction, with the database closed meanwhile. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('in-tx')", NULL, SNOARGS), 0);
	/* (Only from another database: none may close its own.) */
	char sql[160];
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS false", name);
	assert_int_equal(test_db_psql(sql), 0);
	kill_others(b);
	for (int i = 0; i < 5; i++)
		assert_int_equal(store_exec(c, "INSERT INTO box (id) VALUES ('x')", NULL, SNOARGS),
				 STORE_EBUSY);
	assert_true(store_commit(c) < 0);
	store_release(&c);
	assert_int_equal(store_acquire(a, &c), 0);
	assert_int_equal(store_exec(c, "SELECT 1", NULL, SNOARGS), STORE_EBUSY);
	snprintf(sql, sizeof sql, "ALTER DATABASE %s ALLOW_CONNECTIONS true", name);
	assert_int_equal(test_db_psql(sql), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(until_up(c, 5000), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* The backoff runs out within its maximum (2 s) and a bit. */
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 3000);
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM box WHERE id = 'in-tx'", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 0); /* the transaction was lost, not half-kept */
	store_rows_free(&r);
	store_release(&c);
	store_free(&a);
	store_free(&b);
}

/* The server's own domains, on this backend: a database is brought up
 * one migration of each domain at a time (as successive releases would
 * upgrade it, each step on the schema the one before left), then
 * reopened, which applies nothing; every version is recorded once. */
static void test_server_domains(void **state)
{
	(void)state;
	size_t n = 0;
	const store_domain *const *all = server_domains(&n);
	store_domain step[16];
	const store_domain *d[16];
	store *s = NULL;
	char err[512];
	int top = 0, total = 0;
	assert_true(n <= 16);
	for (size_t i = 0; i < n; i++) {
		top = all[i]->n > top ? all[i]->n : top;
		total += all[i]->n;
	}
	for (int k = 1; k <= top + 1; k++) {
		for (size_t i = 0; i < n; i++) {
			step[i] = *all[i];
			step[i].n = k < all[i]->n ? k : all[i]->n;
			d[i] = &step[i];
		}
		store_opts so = { .domains = d, .ndomains = n, .pool_size = 1 };
		if (store_open(url, &so, &s, err, sizeof err))
			fail_msg("step %d: %s", k, err);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(store_schema_version(s, all[i]->name), step[i].n);
		store_free(&s);
	}
	assert_int_equal(open_with(NULL, NULL, &s, err, sizeof err), 0);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM schema_migrations"), total);
	assert_int_equal(test_db_int(s, "SELECT COUNT(*) FROM (SELECT domain, version FROM schema_migrations"
				   " GROUP BY domain, version) t"), total);
	store_free(&s);
}

/* A server that cannot be reached: the open fails with a message naming
 * it, never a crash or a hang. */
static void test_pg_unreachable(void **state)
{
	(void)state;
	store *s = NULL;
	char err[256];
	if (!test_db_pg())
		skip();
	assert_int_equal(store_open("postgres://sentinel@127.0.0.1:1/nothing?connect_timeout=2",
				    NULL, &s, err, sizeof err), STORE_EBUSY);
	assert_null(s);
	assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
}

static void test_acquire_timeout(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *held = NULL, *c = (store_conn *)1;
	char err[256];
	struct timespec t0, t1;
	pthread_t th;
	store_opts so = { .pool_size = 1, .acquire_timeout_ms = 100 };
	assert_int_equal(store_open(url, &so, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &held), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(store_acquire(s, &c), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_null(c);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 90);
	store_release(&held);
	store_free(&s);
	/* Long enough that the release below comes first on any machine. */
	so.acquire_timeout_ms = 60000;
	assert_int_equal(store_open(url, &so, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &held), 0);
	assert_int_equal(pthread_create(&th, NULL, release_later, held), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_non_null(c);
	assert_int_equal(pthread_join(th, NULL), 0);
	store_release(&c);
	store_free(&s);
	so.pool_size = 65;
	assert_int_equal(store_open(url, &so, &s, err, sizeof err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_and_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_upgrade, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup_sqlite, teardown),
		cmocka_unit_test_setup_teardown(test_acquire_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_migration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_begin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test(test_pg_unreachable),
		cmocka_unit_test_setup_teardown(test_server_domains, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
