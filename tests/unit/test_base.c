/* base/: times, sizes, durations, capped buffers, the event hub. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/dl.h"
#include "base/hub.h"
#include "base/util.h"

static void test_time(void **state)
{
	(void)state;
	char t[40];
	int64_t ms;
	sn_time_format(0, t, sizeof t);
	assert_string_equal(t, "1970-01-01T00:00:00.000Z");
	sn_time_format(1795376273123LL, t, sizeof t);
	assert_int_equal(sn_time_parse(t, &ms), 0);
	assert_int_equal(ms, 1795376273123LL);
	assert_int_equal(sn_time_parse("2026-11-22T19:37:53Z", &ms), 0);
	assert_int_equal(sn_time_parse("2026-11-22T20:37:53+01:00", &ms), 0);
	int64_t ms2;
	assert_int_equal(sn_time_parse("2026-11-22T19:37:53.000Z", &ms2), 0);
	assert_int_equal(ms, ms2);
	assert_int_equal(sn_time_parse("1000", &ms), 0);
	assert_int_equal(ms, 1000);
	assert_int_not_equal(sn_time_parse("2026-13-01T00:00:00Z", &ms), 0);
	assert_int_not_equal(sn_time_parse("2026-11-22T19:37:53", &ms), 0);
	assert_int_not_equal(sn_time_parse("yesterday", &ms), 0);
	assert_int_not_equal(sn_time_parse("", &ms), 0);
}

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	int64_t d;
	assert_int_equal(sn_parse_size("1M", &v), 0);
	assert_int_equal(v, 1 << 20);
	assert_int_equal(sn_parse_size("64KiB", &v), 0);
	assert_int_equal(v, 64 << 10);
	assert_int_equal(sn_parse_size("100", &v), 0);
	assert_int_equal(v, 100);
	assert_int_not_equal(sn_parse_size("-1", &v), 0);
	assert_int_not_equal(sn_parse_size("12X", &v), 0);
	assert_int_not_equal(sn_parse_size("99999999999999T", &v), 0);
	assert_int_equal(sn_parse_duration_ms("1.5s", &d), 0);
	assert_int_equal(d, 1500);
	assert_int_equal(sn_parse_duration_ms("250ms", &d), 0);
	assert_int_equal(d, 250);
	assert_int_equal(sn_parse_duration_ms("2h", &d), 0);
	assert_int_equal(d, 7200000);
	assert_int_not_equal(sn_parse_duration_ms("2 weeks", &d), 0);
}

static void test_buf_cap(void **state)
{
	(void)state;
	buf b;
	buf_init(&b, 8);
	assert_int_equal(buf_puts(&b, "12345"), 0);
	assert_int_equal(buf_puts(&b, "6789"), -7 /* E2BIG */);
	assert_int_equal(b.len, 5); /* unchanged by the failed append */
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_puts(&b, "678"), 0);
	assert_int_equal(b.len, 8);
	buf_release(&b);
}

static void test_hub(void **state)
{
	(void)state;
	hub *h = hub_new();
	uint64_t cur = 0;
	char *t = NULL, *d = NULL;
	assert_int_equal(hub_next(h, NULL, &cur, 10, &t, &d), -110 /* ETIMEDOUT */);
	assert_int_equal(hub_publish(h, "job.1", "{\"a\":1}"), 1);
	assert_int_equal(hub_publish(h, "audit", "{}"), 2);
	assert_int_equal(hub_next(h, "audit", &cur, 10, &t, &d), 0);
	assert_string_equal(t, "audit");
	assert_int_equal(cur, 2);
	free(t);
	free(d);
	/* Falling behind more than the ring holds reports the gap. */
	for (int i = 0; i < HUB_RING + 10; i++)
		hub_publish(h, "x", "{}");
	cur = 0;
	assert_int_equal(hub_next(h, NULL, &cur, 10, &t, &d), -116 /* ESTALE */);
	assert_int_equal(hub_next(h, NULL, &cur, 10, &t, &d), 0);
	free(t);
	free(d);
	hub_close(h);
	cur = hub_last_id(h);
	assert_int_equal(hub_next(h, NULL, &cur, 1000, &t, &d), -32 /* EPIPE */);
	assert_int_equal(hub_publish(h, "x", "{}"), 0);
	hub_free(&h);
	assert_null(h);
}

static void test_dl(void **state)
{
	(void)state;
	void *fns[2];
	char err[256];
	static const char *const ok_names[] = { "json_object", "json_delete" };
	static const char *const bad_names[] = { "json_object", "no_such_symbol_here" };
	assert_int_equal(sn_dl_load("libjansson.so.4", ok_names, fns, 2, err, sizeof err), 0);
	assert_non_null(fns[0]);
	assert_non_null(fns[1]);
	assert_int_equal(sn_dl_load("libjansson.so.4", bad_names, fns, 2, err, sizeof err), -2);
	assert_non_null(strstr(err, "no_such_symbol_here"));
	assert_int_equal(sn_dl_load("libsentinel-missing.so.9", ok_names, fns, 2, err, sizeof err), -2);
	assert_non_null(strstr(err, "libsentinel-missing.so.9"));
	/* The lazily loaded SHA-256 streams: pieces hash like the whole. */
	char whole[65], parts[65];
	sn_sha256_hex("hello world", 11, whole);
	assert_string_equal(whole, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
	sn_sha256 *h = sn_sha256_new();
	sn_sha256_update(h, "hello ", 6);
	sn_sha256_update(h, "world", 5);
	sn_sha256_final(&h, parts);
	assert_null(h);
	assert_string_equal(whole, parts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_hub),
		cmocka_unit_test(test_dl),
	};
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
