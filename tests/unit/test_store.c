/* The store on SQLite: migrations, placeholders, transactions, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void test_migrate_and_query(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	store_rows *r = NULL;
	char err[256];
	assert_int_equal(store_open(url, &s, err, sizeof err), 0);
	assert_true(store_schema_version(s) >= 1);
	assert_string_equal(store_backend(s), "sqlite");
	store_acquire(s, &c);
	/* $2 before $1 in the text: arguments bind by number, not position. */
	assert_int_equal(store_exec(c, "INSERT INTO user_groups (id, name, description, created_at)"
				       " VALUES ($2, $1, $3, $4)", NULL,
				    SARGS(SA_TEXT("ml"), SA_TEXT("g1"), SA_NULL, SA_INT(5))),
			 STORE_ECONSTRAINT); /* description is NOT NULL */
	int64_t n = -1;
	assert_int_equal(store_exec(c, "INSERT INTO user_groups (id, name, description, created_at)"
				       " VALUES ($2, $1, $3, $4)", &n,
				    SARGS(SA_TEXT("ml"), SA_TEXT("g1"), SA_TEXT("d"), SA_INT(5))), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_exec(c, "INSERT INTO user_groups (id, name, description, created_at)"
				       " VALUES ('g2', $1, '', 1)", NULL, SARGS(SA_TEXT("ml"))),
			 STORE_ECONSTRAINT); /* unique name */
	assert_int_equal(store_query(c, "SELECT id, name, created_at, description FROM user_groups"
					" WHERE name = $1", &r, SARGS(SA_TEXT("ml"))), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_string_equal(store_rows_text(r, 0), "g1");
	assert_int_equal(store_rows_int(r, 2), 5);
	assert_int_equal(store_rows_next(r), 0);
	store_rows_free(&r);
	/* A rolled-back transaction leaves nothing. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "DELETE FROM user_groups", NULL, SNOARGS), 0);
	assert_int_equal(store_rollback(c), 0);
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM user_groups", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	/* A transaction left open is rolled back on release. */
	assert_int_equal(store_begin(c), 0);
	assert_int_equal(store_exec(c, "DELETE FROM user_groups", NULL, SNOARGS), 0);
	store_release(&c);
	store_acquire(s, &c);
	assert_int_equal(store_query(c, "SELECT COUNT(*) FROM user_groups", &r, SNOARGS), 0);
	assert_int_equal(store_rows_next(r), 1);
	assert_int_equal(store_rows_int(r, 0), 1);
	store_rows_free(&r);
	/* The audit table is insert-only. */
	assert_int_equal(store_exec(c, "INSERT INTO audit (id, ts, action, outcome, status)"
				       " VALUES ('a1', 1, 'x', 'success', 200)", NULL, SNOARGS), 0);
	assert_int_not_equal(store_exec(c, "UPDATE audit SET action = 'y'", NULL, SNOARGS), 0);
	assert_int_not_equal(store_exec(c, "DELETE FROM audit", NULL, SNOARGS), 0);
	/* Bad SQL is an error, not a crash. */
	assert_true(store_query(c, "SELEC nonsense", &r, SNOARGS) < 0);
	assert_true(store_error_count(s) > 0);
	store_release(&c);
	store_free(&s);
	assert_null(s);
	/* Reopening applies nothing new and keeps the data. */
	assert_int_equal(store_open(url, &s, err, sizeof err), 0);
	store_free(&s);
}

static void test_newer_schema_refused(void **state)
{
	(void)state;
	store *s = NULL;
	store_conn *c = NULL;
	char err[256];
	assert_int_equal(store_open(url, &s, err, sizeof err), 0);
	store_acquire(s, &c);
	assert_int_equal(store_exec(c, "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)",
				    NULL, SNOARGS), 0);
	store_release(&c);
	store_free(&s);
	assert_int_equal(store_open(url, &s, err, sizeof err), STORE_ETOONEW);
	assert_null(s);
	assert_non_null(strstr(err, "newer"));
}

static void test_unsupported(void **state)
{
	(void)state;
	store *s = NULL;
	char err[256];
	assert_int_not_equal(store_open("sqlite:/nonexistent/dir/x.db", &s, err, sizeof err), 0);
	assert_non_null(strstr(err, "/nonexistent/dir/x.db"));
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_and_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
