/* The store on SQLite: the migration runner (per-domain versions, the
 * upgrade of a store-wide database, refusal of newer ones), placeholders,
 * transactions, errors, the acquire timeout. */
#include <errno.h>
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
#include "store/store.h"

static char dir[64], url[128];

static int setup(void **state)
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
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

/* Two test domains. Their migrations fail when run twice (plain CREATE
 * TABLE), so a re-run shows as an error. */
static const store_migration shelf_m[] = {
	{ 1, "CREATE TABLE shelf (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	     " description TEXT NOT NULL, created_at BIGINT NOT NULL);", NULL },
	{ 2, "CREATE TABLE shelf_log (id TEXT PRIMARY KEY);",
	  "CREATE TRIGGER shelf_log_no_delete BEFORE DELETE ON shelf_log"
	  " BEGIN SELECT RAISE(ABORT, 'insert-only'); END;" },
	{ 3, "ALTER TABLE shelf ADD COLUMN size BIGINT NOT NULL DEFAULT 0;", NULL },
};
static const store_domain shelf = { "shelf", shelf_m, 3, 0 };
static const store_domain shelf_v2 = { "shelf", shelf_m, 2, 0 };
static const store_domain shelf_legacy = { "shelf", shelf_m, 3, 1 };
static const store_migration box_m[] = {
	{ 1, "CREATE TABLE box (id TEXT PRIMARY KEY);", NULL },
};
static const store_domain box = { "box", box_m, 1, 0 };

static int open_with(const store_domain *a, const store_domain *b, store **s, char *err, size_t n)
{
	const store_domain *d[] = { a, b };
	store_opts so = { .domains = d, .ndomains = a ? (b ? 2 : 1) : 0 };
	return store_open(url, &so, s, err, n);
}

static int64_t query1(store *s, const char *sql)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int64_t v = -1;
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_query(c, sql, &r, SNOARGS), 0);
	if (store_rows_next(r) == 1)
		v = store_rows_int(r, 0);
	store_rows_free(&r);
	store_release(&c);
	return v;
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
	assert_string_equal(store_backend(s), "sqlite");
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
	/* The SQLite-only part of a migration ran. */
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
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM shelf"), 1);
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
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM schema_migrations"), 3);
	assert_int_equal(query1(s, "SELECT MAX(version) FROM schema_version"), STORE_FORMAT);
	store_free(&s);
	assert_int_equal(open_with(NULL, NULL, &s, err, sizeof err), 0);
	store_free(&s);
	assert_int_equal(open_with(&shelf, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 3);
	assert_int_equal(store_schema_version(s, "box"), 1);
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM schema_migrations WHERE domain = 'shelf'"), 3);
	store_free(&s);
	/* A list the runner cannot apply in order is refused up front. */
	static const store_migration bad_m[] = { { 2, "SELECT 1;", NULL } };
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
	assert_int_equal(query1(s, "SELECT MAX(version) FROM schema_version"), 2);
	store_free(&s);
	assert_int_equal(open_with(&shelf_legacy, &box, &s, err, sizeof err), 0);
	assert_int_equal(store_schema_version(s, "shelf"), 3);
	assert_int_equal(query1(s, "SELECT applied_at FROM schema_migrations WHERE domain = 'shelf'"
				   " AND version = 2"), 222);
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(query1(s, "SELECT size FROM shelf LIMIT 1"), -1); /* column exists, no rows */
	store_free(&s);
	/* A second start is a no-op. */
	assert_int_equal(open_with(&shelf_legacy, &box, &s, err, sizeof err), 0);
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM schema_version"), 3);
	assert_int_equal(query1(s, "SELECT COUNT(*) FROM schema_migrations"), 4);
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

/* With every connection held, store_acquire gives up after the timeout
 * (before, it waited for ever); a connection given back meanwhile is
 * handed to the waiter. */
/* Blobs keep every byte (zeros included), an empty blob reads back as
 * empty, and NULL as NULL. */
static void test_blob(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	unsigned char b[3000];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (unsigned char)(i * 7);
	b[10] = 0;
	assert_int_equal(store_open(url, NULL, &s, err, sizeof err), 0);
	assert_int_equal(store_acquire(s, &c), 0);
	assert_int_equal(store_exec(c, "CREATE TABLE bl (id BIGINT, b BLOB)", NULL, SNOARGS), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(1), SA_BLOB(b, sizeof b))), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(2), SA_BLOB(NULL, 0))), 0);
	assert_int_equal(store_exec(c, "INSERT INTO bl (id, b) VALUES ($1, $2)", NULL,
				    SARGS(SA_INT(3), SA_NULL)), 0);
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
	assert_int_equal(store_rows_next(r), 0);
	store_rows_free(&r);
	store_release(&c);
	store_free(&s);
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
		cmocka_unit_test_setup_teardown(test_legacy_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acquire_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
