/* Event hub access rules and refusals (security review items 1b and 4). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/hub.h"
#include "base/mem.h"
#include "base/utf8.h"

static void test_refusals(void **state)
{
	(void)state;
	hub *h = hub_new();
	assert_int_equal(hub_publish(h, "audit", "{}"), 0); /* undeclared */
	assert_int_equal(hub_declare(h, "audit", HUB_ADMIN), 0);
	assert_int_equal(hub_declare(h, "audit", HUB_ADMIN), 0);
	assert_int_equal(hub_declare(h, "audit", HUB_MEMBER), -EEXIST);
	assert_int_equal(hub_publish(h, "audit", NULL), 0);
	assert_int_equal(hub_publish(h, NULL, "{}"), 0);
	assert_int_equal(hub_publish(h, "auditx", "{}"), 0); /* not a subtopic */
	assert_int_equal(hub_publish(h, "audit.login", "{}"), 1);
	assert_null(xstrdup(NULL));
	hub_free(&h);
}

static int next(hub *h, const hub_viewer *v, uint64_t *cur, char **owner_topic)
{
	char *d = NULL;
	int rc = hub_next_for(h, v, NULL, cur, 10, owner_topic, &d);
	free(d);
	return rc;
}

static void test_access(void **state)
{
	(void)state;
	hub *h = hub_new();
	assert_int_equal(hub_declare(h, "audit", HUB_ADMIN), 0);
	assert_int_equal(hub_declare(h, "job", HUB_OWNER), 0);
	assert_int_equal(hub_declare(h, "node", HUB_MEMBER), 0);
	hub_publish(h, "audit", "{}");
	hub_publish_owned(h, "job.1", "u_alice", "{}");
	hub_publish_owned(h, "job.2", "u_bob", "{}");
	hub_publish(h, "node", "{}");
	hub_viewer anon = { NULL, 0 }, alice = { "u_alice", 0 }, admin = { "u_root", 1 };
	char *t = NULL;
	uint64_t cur = 0;
	assert_int_equal(next(h, &anon, &cur, &t), -ETIMEDOUT);
	cur = 0;
	assert_int_equal(next(h, &alice, &cur, &t), 0);
	assert_string_equal(t, "job.1");
	free(t);
	assert_int_equal(next(h, &alice, &cur, &t), 0);
	assert_string_equal(t, "node");
	free(t);
	assert_int_equal(next(h, &alice, &cur, &t), -ETIMEDOUT);
	cur = 0;
	int n = 0;
	while (next(h, &admin, &cur, &t) == 0) {
		free(t);
		n++;
	}
	assert_int_equal(n, 4);
	assert_int_equal(hub_may_read(h, &alice, "audit", NULL), 0);
	assert_int_equal(hub_may_read(h, NULL, "audit", NULL), 1);
	hub_free(&h);
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(sn_utf8_valid("héllo €", strlen("héllo €"), 1));
	assert_false(sn_utf8_valid("\xff", 1, 0));
	assert_false(sn_utf8_valid("\xc3\x28", 2, 0));
	assert_false(sn_utf8_valid("\xc0\xaf", 2, 0));         /* overlong '/' */
	assert_false(sn_utf8_valid("\xed\xa0\x80", 3, 0));     /* surrogate */
	assert_false(sn_utf8_valid("\xf4\x90\x80\x80", 4, 0)); /* above U+10FFFF */
	assert_false(sn_utf8_valid("\xe2\x82", 2, 0));         /* truncated */
	assert_false(sn_utf8_valid("a\nb", 3, 1));
	assert_true(sn_utf8_valid("a\nb", 3, 0));
	assert_false(sn_utf8_valid("a\0b", 3, 1));
	assert_false(sn_utf8_valid("\x7f", 1, 1));
	char *s = sn_utf8_sanitize("a\xff" "b\xc3");
	assert_string_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	assert_true(sn_utf8_valid(s, strlen(s), 1));
	free(s);
	assert_null(sn_utf8_sanitize(NULL));
}

/* The durable log's side of the hub (server/evlog.h): restored events
 * keep their ids (gaps allowed), new ones continue after them, and a gated
 * hub shows viewers only what the log has marked visible, while the log's
 * own reader sees everything with its owner. */
static void test_restore_and_gate(void **state)
{
	(void)state;
	hub *h = hub_new();
	hub_viewer admin = { "u1", 1 }, bob = { "bob", 0 };
	char *t = NULL, *o = NULL, *d = NULL;
	uint64_t cur = 0, id = 0;
	assert_int_equal(hub_restore(h, 5, "job", "bob", "{\"n\":5}"), 0);
	assert_int_equal(hub_restore(h, 9, "job", "ann", "{\"n\":9}"), 0);
	assert_int_equal(hub_restore(h, 9, "job", NULL, "{}"), -EINVAL);   /* not above the newest */
	assert_int_equal(hub_restore(h, 12, NULL, NULL, "{}"), -EINVAL);
	assert_int_equal(hub_declare(h, "job", HUB_OWNER), 0);
	hub_gate(h);
	/* Replay from before the restored ids: both, in order, gaps skipped. */
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), 0);
	assert_int_equal(cur, 5);
	assert_string_equal(d, "{\"n\":5}");
	free(t), free(d);
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), 0);
	assert_int_equal(cur, 9);
	free(t), free(d);
	/* Access still applies to restored events: bob sees only his. */
	uint64_t bc = 0;
	assert_int_equal(hub_next_for(h, &bob, NULL, &bc, 0, &t, &d), 0);
	assert_int_equal(bc, 5);
	free(t), free(d);
	assert_int_equal(hub_next_for(h, &bob, NULL, &bc, 0, &t, &d), -ETIMEDOUT);
	/* New events continue after the restored ones and stay hidden from
	 * viewers until the log has them. */
	assert_int_equal(hub_publish_owned(h, "job", "bob", "{\"n\":10}"), 10);
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), -ETIMEDOUT);
	assert_int_equal(cur, 9);
	uint64_t lc = 9;
	assert_int_equal(hub_next_raw(h, &lc, 0, &id, &t, &o, &d), 0);
	assert_int_equal(id, 10);
	assert_string_equal(o, "bob");
	free(t), free(o), free(d);
	hub_set_visible(h, 99); /* capped at the newest */
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), 0);
	assert_int_equal(cur, 10);
	free(t), free(d);
	assert_int_equal(hub_publish(h, "job", "{\"n\":11}"), 11);
	hub_set_visible(h, 10); /* never backwards */
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), -ETIMEDOUT);
	hub_set_visible(h, 11);
	assert_int_equal(hub_next_for(h, &admin, NULL, &cur, 0, &t, &d), 0);
	assert_int_equal(cur, 11);
	free(t), free(d);
	/* A restore after events were published is refused. */
	assert_int_equal(hub_restore(h, 11, "job", NULL, "{}"), -EINVAL);
	hub_close(h);
	assert_int_equal(hub_next_raw(h, &lc, 0, &id, &t, &o, &d), 0); /* 11 is left */
	assert_int_equal(id, 11);
	assert_null(o);
	free(t), free(d);
	assert_int_equal(hub_next_raw(h, &lc, 0, &id, &t, &o, &d), -EPIPE);
	hub_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_restore_and_gate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
