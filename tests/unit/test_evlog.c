/* The event hub's durable log (server/evlog.h), on SQLite or, with
 * SENTINEL_TEST_PG, on PostgreSQL: events are shown once kept, restored
 * with their ids by the next process, new ids continue after them, old
 * rows are pruned, and a store that refuses the writes delays events by
 * EVLOG_GIVEUP_MS at most. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "base/hub.h"
#include "server/evlog.h"
#include "store/store.h"
#include "test_db.h"

static const hub_viewer admin = { "u1", 1 };

/* The next event a viewer may see within ms, its id in *id; its data. */
static char *next_seen(hub *h, uint64_t *cur, int ms)
{
	char *t = NULL, *d = NULL;
	if (hub_next_for(h, &admin, NULL, cur, ms, &t, &d))
		return NULL;
	free(t);
	return d;
}

static void open_log(store *st, hub **h, evlog **e)
{
	char err[256];
	*h = hub_new();
	assert_int_equal(evlog_open(st, *h, e, err, sizeof err), 0);
	assert_int_equal(hub_declare(*h, "t", HUB_MEMBER), 0);
}

static void close_log(hub **h, evlog **e)
{
	hub_close(*h);
	evlog_close(e);
	hub_free(h);
}

static void test_keep_restore_prune(void **state)
{
	(void)state;
	char dir[] = "/tmp/sentinel-evlog-test.XXXXXX", url[256], err[256], cmd[160];
	const store_domain *const d[] = { &evlog_store_domain };
	store_opts so = { .domains = d, .ndomains = 1 };
	store *st = NULL;
	hub *h = NULL;
	evlog *e = NULL;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_db_url(dir, "e.db", url, sizeof url), 0);
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);

	open_log(st, &h, &e);
	uint64_t cur = 0;
	for (int i = 1; i <= 3; i++) {
		char data[32];
		snprintf(data, sizeof data, "{\"n\":%d}", i);
		assert_int_equal(hub_publish_owned(h, "t", i == 2 ? "bob" : NULL, data), (uint64_t)i);
	}
	for (int i = 1; i <= 3; i++) {
		char *got = next_seen(h, &cur, 5000);
		assert_non_null(got);
		assert_int_equal(cur, (uint64_t)i);
		/* Seen means kept. */
		assert_true(test_db_int(st, "SELECT COUNT(*) FROM events") >= i);
		free(got);
	}
	close_log(&h, &e);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM events WHERE owner = 'bob' AND id = 2"), 1);

	/* The next process: the same ids, then new ones after them. */
	open_log(st, &h, &e);
	assert_int_equal(hub_last_id(h), 3);
	cur = 0;
	char *got = next_seen(h, &cur, 1000);
	assert_string_equal(got, "{\"n\":1}");
	free(got);
	assert_int_equal(hub_publish(h, "t", "{\"n\":4}"), 4);
	cur = 3;
	got = next_seen(h, &cur, 5000);
	assert_string_equal(got, "{\"n\":4}");
	free(got);
	/* Past EVLOG_KEEP events the oldest rows go. */
	for (int i = 0; i < EVLOG_KEEP + 1100; i++) {
		uint64_t id = hub_publish(h, "t", "{}");
		/* Paced, so that the writer never falls a ring behind. */
		if (i % 1000 == 999) {
			cur = id - 1;
			got = next_seen(h, &cur, 10000);
			assert_non_null(got);
			free(got);
		}
	}
	close_log(&h, &e);
	int64_t n = test_db_int(st, "SELECT COUNT(*) FROM events");
	assert_true(n >= EVLOG_KEEP && n < EVLOG_KEEP + 1100);
	assert_int_equal(test_db_int(st, "SELECT MAX(id) FROM events"), 4 + EVLOG_KEEP + 1100);

	/* A store that refuses the log's writes (SQLite: another writer holds
	 * the lock past the busy timeout): the event is shown after
	 * EVLOG_GIVEUP_MS, unkept. PostgreSQL's writers queue on the lock
	 * instead of failing, so this part is SQLite's. */
	if (!test_db_pg()) {
		open_log(st, &h, &e);
		store_conn *c = NULL;
		assert_int_equal(store_acquire(st, &c), 0);
		assert_int_equal(store_begin(c), 0);
		uint64_t id = hub_publish(h, "t", "{\"late\":1}");
		cur = id - 1;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		got = next_seen(h, &cur, 30000);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_string_equal(got, "{\"late\":1}");
		free(got);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		assert_true(ms >= EVLOG_GIVEUP_MS - 100);
		assert_int_equal(evlog_dropped(e), 1);
		store_rollback(c);
		store_release(&c);
		close_log(&h, &e);
	}
	store_free(&st);
	test_db_drop(url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_restore_prune),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
