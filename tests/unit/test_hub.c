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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_access),
		cmocka_unit_test(test_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
