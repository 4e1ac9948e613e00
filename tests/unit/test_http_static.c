/* The console's pure parts: the Cookie header parser, the check of a
 * static file's path, the Accept-Encoding q-values and the paths the
 * console never serves (src/http/browser.c, src/http/static.c). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "http/http_int.h"

/* The value of name in header, or "<ENOENT>" / "<E2BIG>". */
static const char *cookie(const char *header, const char *name)
{
	static char out[64];
	int n = http_cookie_find(header, name, out, sizeof out);
	if (n == -ENOENT)
		return "<ENOENT>";
	if (n == -E2BIG)
		return "<E2BIG>";
	assert_int_equal((size_t)n, strlen(out));
	return out;
}

static void test_cookie_basic(void **state)
{
	(void)state;
	assert_string_equal(cookie("sentinel_session=abc", "sentinel_session"), "abc");
	assert_string_equal(cookie("a=1; sentinel_session=abc; b=2", "sentinel_session"), "abc");
	assert_string_equal(cookie("a=1;sentinel_session=abc;b=2", "sentinel_session"), "abc");
	assert_string_equal(cookie("  a=1 ;\tsentinel_session = abc  ; b=2", "sentinel_session"), "abc");
	assert_string_equal(cookie("sentinel_session=\"abc\"", "sentinel_session"), "abc");
	/* Quotes do not protect a ';' (RFC 6265 values hold none). */
	assert_string_equal(cookie("x=\"a;b\"; s=1", "s"), "1");
	assert_string_equal(cookie("x=\"a;b\"; s=1", "x"), "\"a");
	assert_string_equal(cookie("s=1; s=2", "s"), "1");          /* the first wins */
	assert_string_equal(cookie("s=", "s"), "");
	assert_string_equal(cookie("s=\"\"", "s"), "");
	assert_string_equal(cookie("s=a=b", "s"), "a=b");
}

static void test_cookie_absent(void **state)
{
	(void)state;
	assert_string_equal(cookie(NULL, "s"), "<ENOENT>");
	assert_string_equal(cookie("", "s"), "<ENOENT>");
	assert_string_equal(cookie(";;; ;", "s"), "<ENOENT>");
	assert_string_equal(cookie("s", "s"), "<ENOENT>");             /* no '=' */
	assert_string_equal(cookie("s; t=1", "s"), "<ENOENT>");
	assert_string_equal(cookie("ss=1; xs=2", "s"), "<ENOENT>");    /* names match whole */
	assert_string_equal(cookie("S=1", "s"), "<ENOENT>");           /* and with case */
	assert_string_equal(cookie("s_x=1", "s"), "<ENOENT>");
	assert_string_equal(cookie("s=1", ""), "<ENOENT>");
	assert_string_equal(cookie("=1; =2", ""), "<ENOENT>");
}

static void test_cookie_bounds(void **state)
{
	(void)state;
	char big[100];
	memset(big, 'v', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char *h = NULL;
	assert_true(asprintf(&h, "s=%s", big) > 0);
	assert_string_equal(cookie(h, "s"), "<E2BIG>");
	free(h);
	/* 63 bytes fit in 64 with the NUL; 64 do not. */
	big[64] = '\0';
	assert_true(asprintf(&h, "s=%s", big) > 0);
	assert_string_equal(cookie(h, "s"), "<E2BIG>");
	free(h);
	big[63] = '\0';
	assert_true(asprintf(&h, "s=%s", big) > 0);
	assert_int_equal(strlen(cookie(h, "s")), 63);
	free(h);
	/* Past HTTP_COOKIE_SCAN_MAX nothing is read. */
	size_t n = HTTP_COOKIE_SCAN_MAX + 16;
	h = malloc(n + 8);
	memset(h, 'x', n);
	memcpy(h, "a=", 2);
	memcpy(h + n, "; s=1", 6);
	assert_string_equal(cookie(h, "s"), "<ENOENT>");
	memcpy(h + 100, "; s=2;", 6);
	assert_string_equal(cookie(h, "s"), "2");
	free(h);
}

static void test_path_ok(void **state)
{
	(void)state;
	const char *good[] = { "/", "/index.html", "/assets/app-1.js", "/a/b/c", "/a/b/",
			       "/jobs/123", "/files/with..dots", "/é.txt", "/a-b_c~d" };
	const char *bad[] = { "", "index.html", "/..", "/../x", "/a/../b", "/a/..", "/.",
			      "/./x", "/.env", "/.git/config", "/a/.hidden", "//x", "/a//b",
			      "/a\\..\\b", "/a//", "/..." };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		if (!http_static_path_ok(good[i]))
			fail_msg("refused %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (http_static_path_ok(bad[i]))
			fail_msg("allowed %s", bad[i]);
	char *longp = malloc(HTTP_STATIC_PATH_MAX + 2);
	longp[0] = '/';
	memset(longp + 1, 'a', HTTP_STATIC_PATH_MAX);
	longp[HTTP_STATIC_PATH_MAX + 1] = '\0';
	assert_false(http_static_path_ok(longp));
	longp[HTTP_STATIC_PATH_MAX] = '\0';
	assert_true(http_static_path_ok(longp));
	free(longp);
}

static void test_excluded(void **state)
{
	(void)state;
	const char *api[] = { "/api", "/api/", "/api/v1/x", "/v1", "/v1/x", "/metrics", "/metrics/x" };
	const char *web[] = { "/", "/apis", "/api-docs", "/v10", "/metricsx", "/x/api/v1" };
	for (size_t i = 0; i < sizeof api / sizeof api[0]; i++)
		assert_true(http_static_excluded(api[i]));
	for (size_t i = 0; i < sizeof web / sizeof web[0]; i++)
		assert_false(http_static_excluded(web[i]));
}

static void test_accept_encoding(void **state)
{
	(void)state;
	assert_false(http_accepts_encoding(NULL, "br"));
	assert_false(http_accepts_encoding("", "br"));
	assert_true(http_accepts_encoding("br", "br"));
	assert_true(http_accepts_encoding("gzip, deflate, br", "br"));
	assert_true(http_accepts_encoding("gzip,br", "gzip"));
	assert_true(http_accepts_encoding("BR", "br"));
	assert_false(http_accepts_encoding("gzip", "br"));
	assert_false(http_accepts_encoding("brotli", "br"));
	assert_false(http_accepts_encoding("br;q=0", "br"));
	assert_false(http_accepts_encoding("br; q=0", "br"));
	assert_false(http_accepts_encoding("br;q=0.0", "br"));
	assert_false(http_accepts_encoding("br;q=0.000", "br"));
	assert_true(http_accepts_encoding("br;q=0.001", "br"));
	assert_true(http_accepts_encoding("br;q=0.5", "br"));
	assert_true(http_accepts_encoding("br;q=1", "br"));
	assert_true(http_accepts_encoding("br;Q=1.0", "br"));
	assert_true(http_accepts_encoding("*", "br"));
	assert_false(http_accepts_encoding("*;q=0", "br"));
	assert_true(http_accepts_encoding("br, *;q=0", "br"));
	assert_false(http_accepts_encoding("br;q=0, *", "br"));   /* named beats the star */
	assert_false(http_accepts_encoding("gzip;q=0.5, br;q=0", "br"));
	assert_true(http_accepts_encoding("gzip;q=0.5, br;q=0", "gzip"));
	assert_true(http_accepts_encoding("  gzip  ;  q=0.5  ", "gzip"));
	assert_false(http_accepts_encoding(",,;q=1,", "br"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cookie_basic),
		cmocka_unit_test(test_cookie_absent),
		cmocka_unit_test(test_cookie_bounds),
		cmocka_unit_test(test_path_ok),
		cmocka_unit_test(test_excluded),
		cmocka_unit_test(test_accept_encoding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
