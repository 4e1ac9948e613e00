/* base/: times, sizes, durations, capped buffers, the event hub. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/dl.h"
#include "base/hub.h"
#include "base/log.h"
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
	assert_int_equal(hub_declare(h, "job", HUB_OWNER), 0);
	assert_int_equal(hub_declare(h, "audit", HUB_ADMIN), 0);
	assert_int_equal(hub_declare(h, "x", HUB_MEMBER), 0);
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

/* Runs fn with stderr sent to a temporary file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(tmp), 2), 2);
	fn();
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	long n = ftell(tmp);
	assert_true(n >= 0);
	char *out = calloc(1, (size_t)n + 1);
	assert_non_null(out);
	rewind(tmp);
	assert_int_equal(fread(out, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return out;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void log_forged_field(void)
{
	json_t *f = json_pack("{s:s,s:s,s:i}", "user", "bob\nFAKE 2026 info root logged in",
			      "path", "/x", "status", 401);
	assert_non_null(f);
	log_fields(LOG_INFO, "request", f);
	json_decref(f);
}

static void log_forged_msg(void)
{
	log_info("login %s", "a\r\nFAKE \xff\x1b[2J\\n\x7f");
}

static void log_spaced_value(void)
{
	json_t *f = json_pack("{s:s,s:s}", "user", "x status=200", "q", "say \"hi\"");
	assert_non_null(f);
	log_fields(LOG_INFO, "request", f);
	json_decref(f);
}

static void log_bad_utf8_json(void)
{
	json_t *f = json_object();
	assert_int_equal(json_object_set_new(f, "path", json_string_nocheck("/\xff\nFAKE")), 0);
	log_info("cut \xe2\x82 here\nFAKE");
	log_fields(LOG_INFO, "request", f);
	json_decref(f);
}

static void test_log_escapes(void **state)
{
	(void)state;
	assert_int_equal(log_setup("info", "text"), 0);
	char *out = capture_stderr(log_forged_field);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, " request user=\"bob\\nFAKE 2026 info root logged in\""));
	assert_non_null(strstr(out, " status=401"));
	free(out);

	out = capture_stderr(log_forged_msg);
	assert_int_equal(count_lines(out), 1);
	assert_non_null(strstr(out, " login a\\r\\nFAKE \\xff\\x1b[2J\\\\n\\x7f\n"));
	free(out);

	/* A value with a space cannot pose as a second field. */
	out = capture_stderr(log_spaced_value);
	assert_non_null(strstr(out, " user=\"x status=200\""));
	assert_non_null(strstr(out, " q=\"say \\\"hi\\\"\""));
	free(out);

	/* JSON: invalid UTF-8 in the message is escaped, not dropped; a field
	 * jansson cannot encode sends the record as text rather than losing it. */
	assert_int_equal(log_setup(NULL, "json"), 0);
	out = capture_stderr(log_bad_utf8_json);
	assert_int_equal(log_setup(NULL, "text"), 0);
	assert_int_equal(count_lines(out), 2);
	char *nl = strchr(out, '\n');
	json_error_t jerr;
	json_t *rec = json_loadb(out, (size_t)(nl - out), 0, &jerr);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "msg")),
			    "cut \\xe2\\x82 here\\nFAKE");
	json_decref(rec);
	assert_non_null(strstr(nl + 1, " request path=/\\xff\\nFAKE\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_buf_cap),
		cmocka_unit_test(test_hub),
		cmocka_unit_test(test_dl),
		cmocka_unit_test(test_log_escapes),
	};
	return cmocka_run_group_tests_name("base", tests, NULL, NULL);
}
