/* Store URLs for the unit tests: SQLite in the test's directory, or, when
 * SENTINEL_TEST_PG names a PostgreSQL server (postgres://...; make test-pg,
 * scripts/pg.sh run), a fresh database on it, so that every test that
 * opens a store runs on either backend with the same code.
 *
 * Header only: each unit test is one .c file linked with libsentinel.a
 * (Makefile), and the test binaries must not link libpq (the store loads
 * it on first use), so databases are made and dropped with psql, which
 * comes with every PostgreSQL server install. */
#ifndef SN_TEST_DB_H
#define SN_TEST_DB_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "store/store.h"

/* The server's URL, or NULL: the tests run on SQLite. */
static inline const char *test_db_server(void)
{
	const char *u = getenv("SENTINEL_TEST_PG");
	return u && *u ? u : NULL;
}

static inline int test_db_pg(void)
{
	return test_db_server() != NULL;
}

/* Runs one statement on the server's maintenance database. Test URLs and
 * names never hold a quote, so single quotes keep them whole for sh. */
static inline int test_db_psql(const char *sql)
{
	char cmd[1024];
	int n = snprintf(cmd, sizeof cmd,
			 "PGOPTIONS='-c client_min_messages=warning' psql -q -X -v ON_ERROR_STOP=1"
			 " '%s' -c '%s' >/dev/null", test_db_server(), sql);
	if (n < 0 || (size_t)n >= sizeof cmd || strchr(test_db_server(), '\''))
		return -1;
	return system(cmd) == 0 ? 0 : -1;
}

/* The server URL with its database (the last path part) replaced by name;
 * a query string (?sslmode=...) is kept. */
static inline int test_db_url_for(const char *name, char *url, size_t n)
{
	const char *srv = test_db_server();
	const char *q = strchr(srv, '?');
	size_t end = q ? (size_t)(q - srv) : strlen(srv);
	size_t slash = end;
	while (slash > 0 && srv[slash - 1] != '/')
		slash--;
	if (slash == 0)
		return -1;
	int w = snprintf(url, n, "%.*s%s%s", (int)slash, srv, name, q ? q : "");
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* Fills url (n bytes) with a store URL naming a fresh, empty database:
 * "sqlite:DIR/NAME", or on PostgreSQL a new database u_PID_COUNT (NAME is
 * not used: names must be unique across the runs that share a server).
 * 0, or -1 when the database cannot be made. */
static inline int test_db_url(const char *dir, const char *name, char *url, size_t n)
{
	static unsigned counter;
	if (!test_db_server()) {
		int w = snprintf(url, n, "sqlite:%s/%s", dir, name);
		return w < 0 || (size_t)w >= n ? -1 : 0;
	}
	char db[64], drop[128], sql[128];
	snprintf(db, sizeof db, "u_%ld_%u", (long)getpid(), ++counter);
	/* One left by a run that crashed under the same pid goes first. */
	snprintf(drop, sizeof drop, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
	if (test_db_url_for(db, url, n) || test_db_psql(drop) || test_db_psql(sql)) {
		fprintf(stderr, "test_db: cannot create database %s on %s\n", db, test_db_server());
		return -1;
	}
	return 0;
}

/* Drops a database test_db_url made (its stores closed or not: FORCE
 * ends their connections); nothing for SQLite, whose file goes with its
 * directory. */
static inline void test_db_drop(const char *url)
{
	if (!test_db_server() || strncmp(url, "postgres", 8) != 0)
		return;
	const char *q = strchr(url, '?');
	size_t end = q ? (size_t)(q - url) : strlen(url);
	size_t slash = end;
	while (slash > 0 && url[slash - 1] != '/')
		slash--;
	char sql[160];
	snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %.*s WITH (FORCE)", (int)(end - slash),
		 url + slash);
	if (test_db_psql(sql))
		fprintf(stderr, "test_db: cannot drop the database of %s\n", url);
}
/* The integer in the first column of sql's first row (a count), -1 when
 * there is no row; the query must run (include after cmocka.h). */
static inline int64_t test_db_int(store *st, const char *sql)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int64_t n = -1;
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(store_query(c, sql, &r, SNOARGS), 0);
	if (store_rows_next(r) == 1)
		n = store_rows_int(r, 0);
	store_rows_free(&r);
	store_release(&c);
	return n;
}
#endif
