/* Dataset helpers: item names, file-set paths and manifests, the
 * streaming multipart reader (fed whole and byte by byte), the line diff. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "dataset/ds.h"
#include "dataset/ds_import.h"
#include "dataset/ds_int.h"

static void test_names(void **s)
{
	(void)s;
	assert_true(ds_name_valid("iris"));
	assert_true(ds_name_valid("a.b_c-D9"));
	assert_false(ds_name_valid(""));
	assert_false(ds_name_valid(".hidden"));
	assert_false(ds_name_valid("a/b"));
	assert_false(ds_name_valid("a b"));
	assert_false(ds_name_valid("é"));
	char n[DS_NAME_MAX + 2];
	memset(n, 'a', sizeof n);
	n[DS_NAME_MAX] = '\0';
	assert_true(ds_name_valid(n));
	n[DS_NAME_MAX] = 'a';
	n[DS_NAME_MAX + 1] = '\0';
	assert_false(ds_name_valid(n));
}

static int norm(const char *in, char out[DS_PATH_MAX])
{
	return ds_path_normalize(in, strlen(in), out);
}

static void test_paths(void **s)
{
	char out[DS_PATH_MAX];
	(void)s;
	assert_int_equal(norm("a/./b//c.csv", out), 0);
	assert_string_equal(out, "a/b/c.csv");
	assert_int_equal(norm("./x", out), 0);
	assert_string_equal(out, "x");
	assert_int_equal(norm("/etc/passwd", out), -EINVAL);
	assert_int_equal(norm("a/../b", out), -EINVAL);
	assert_int_equal(norm("..", out), -EINVAL);
	assert_int_equal(norm("a\\b", out), -EINVAL);
	assert_int_equal(norm("a\nb", out), -EINVAL);
	assert_int_equal(norm("./", out), -EINVAL);
	assert_int_equal(norm("", out), -EINVAL);
	assert_int_equal(ds_path_normalize("a\0b", 3, out), -EINVAL);
	assert_int_equal(norm("\xff", out), -EINVAL);
}

static void test_manifest(void **s)
{
	static const char sha[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	ds_manifest m = { 0 }, back = { 0 };
	char *text = NULL;
	size_t len;
	(void)s;
	assert_int_equal(ds_manifest_add(&m, "b.csv", sha, 3, 0644), 0);
	assert_int_equal(ds_manifest_add(&m, "a/x", sha, 1, 0644), 0);
	assert_int_equal(ds_manifest_add(&m, "./b.csv", sha, 3, 0644), -EEXIST);
	assert_int_equal(ds_manifest_add(&m, "a", sha, 3, 0644), -EEXIST);
	assert_int_equal(ds_manifest_add(&m, "b.csv/y", sha, 3, 0644), -EEXIST);
	assert_int_equal(ds_manifest_add(&m, "../y", sha, 3, 0644), -EINVAL);
	assert_int_equal(ds_manifest_dump(&m, &text, &len), 0);
	assert_string_equal(text, "{\"files\":[{\"mode\":\"0644\",\"path\":\"a/x\",\"sha256\":\"" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
			    "\",\"size\":1},{\"mode\":\"0644\",\"path\":\"b.csv\",\"sha256\":\""
			    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"size\":3}]}");
	assert_int_equal(ds_manifest_parse(text, len, &back), 0);
	assert_int_equal(back.n, 2);
	assert_non_null(ds_manifest_find(&back, "b.csv"));
	ds_manifest_release(&back);
	static const char abs_path[] = "{\"files\":[{\"path\":\"/x\",\"sha256\":\""
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		"\",\"size\":1,\"mode\":\"0644\"}]}";
	assert_int_equal(ds_manifest_parse(abs_path, strlen(abs_path), &back), -EBADMSG);
	assert_int_equal(ds_manifest_parse("[]", 2, &back), -EBADMSG);
	free(text);
	ds_manifest_release(&m);
}

/* ---- multipart ---- */

struct got {
	char log[4096];
	size_t n;
};

static void logf_(struct got *g, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	g->n += (size_t)vsnprintf(g->log + g->n, sizeof g->log - g->n, fmt, ap);
	va_end(ap);
}

static int begin(void *ud, const char *name, const char *filename, const char *ctype)
{
	logf_(ud, "[%s|%s|%s:", name, filename ? filename : "-", ctype ? ctype : "-");
	return 0;
}

static int data(void *ud, const char *p, size_t n)
{
	logf_(ud, "%.*s", (int)n, p);
	return 0;
}

static int end(void *ud)
{
	logf_(ud, "]");
	return 0;
}

static const ds_mp_cb cb = { begin, data, end };

/* Feeds body in pieces of step bytes; returns finish's result. */
static int run_mp(const char *ct, const char *body, size_t len, size_t step, struct got *g)
{
	ds_mp *m = NULL;
	memset(g, 0, sizeof *g);
	int rc = ds_mp_new(ct, &cb, g, &m);
	if (rc)
		return rc;
	for (size_t i = 0; rc == 0 && i < len; i += step)
		rc = ds_mp_feed(m, body + i, len - i < step ? len - i : step);
	if (rc == 0)
		rc = ds_mp_finish(m);
	ds_mp_free(&m);
	return rc;
}

static void test_multipart(void **s)
{
	static const char body[] =
		"preamble\r\n--XyZ\r\n"
		"Content-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".csv\"\r\n"
		"Content-Type: text/csv\r\n\r\n"
		"a,b\r\n1,2\r\n--X not yet\r\n-\r\n--XyZ\r\n"
		"Content-Disposition: form-data; name=note\r\n\r\n"
		"\r\n--XyZ--\r\nepilogue";
	const char *want = "[file|a \"q\".csv|text/csv:a,b\r\n1,2\r\n--X not yet\r\n-][note|-|-:]";
	struct got g;
	(void)s;
	for (size_t step = 1; step <= sizeof body; step++) {
		assert_int_equal(run_mp("multipart/form-data; boundary=XyZ", body, sizeof body - 1,
					step, &g), 0);
		assert_string_equal(g.log, want);
	}
	assert_int_equal(run_mp("multipart/form-data; boundary=\"XyZ\"", body, sizeof body - 1, 7, &g), 0);
	assert_int_equal(run_mp("multipart/form-data", body, sizeof body - 1, 7, &g), -EINVAL);
	assert_int_equal(run_mp("text/csv; boundary=XyZ", body, sizeof body - 1, 7, &g), -EINVAL);
	/* Cut short: no closing boundary. */
	assert_int_equal(run_mp("multipart/form-data; boundary=XyZ", body, 60, 5, &g), -EBADMSG);
	/* A part without a name. */
	static const char noname[] = "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--";
	assert_int_equal(run_mp("multipart/form-data; boundary=b", noname, sizeof noname - 1, 3, &g),
			 -EBADMSG);
	/* Garbage after a boundary. */
	static const char junk[] = "--b!x";
	assert_int_equal(run_mp("multipart/form-data; boundary=b", junk, sizeof junk - 1, 1, &g),
			 -EBADMSG);
}

static void test_line_diff(void **s)
{
	char *d = NULL;
	size_t add, del;
	(void)s;
	const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
	const char *b = "1\n2\nthree\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n";
	assert_int_equal(ds_line_diff(a, strlen(a), b, strlen(b), "a", "b", &d, &add, &del), 0);
	assert_int_equal(add, 2);
	assert_int_equal(del, 1);
	assert_string_equal(d, "--- a\n+++ b\n@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+three\n 4\n 5\n 6\n"
			       "@@ -10,3 +10,4 @@\n 10\n 11\n 12\n+13\n");
	free(d);
	assert_int_equal(ds_line_diff(a, strlen(a), a, strlen(a), "a", "b", &d, &add, &del), 0);
	assert_string_equal(d, "");
	assert_int_equal(add + del, 0);
	free(d);
	assert_int_equal(ds_line_diff("", 0, "x\n", 2, "a", "b", &d, &add, &del), 0);
	assert_string_equal(d, "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x\n");
	free(d);
}

static int blocked(const char *a)
{
	unsigned char b[16];
	int fam = strchr(a, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(fam, a, b), 1);
	return ds_import_addr_blocked(fam, b);
}

static void test_import_addrs(void **s)
{
	(void)s;
	static const char *const no[] = {
		"127.0.0.1", "127.9.9.9", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
		"169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3",
		"224.0.0.1", "255.255.255.255", "::", "::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "fc00::1", "fd12::1",
		"fe80::1", "febf::1", "ff02::1",
	};
	static const char *const yes[] = {
		"1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "11.0.0.1",
		"2001:4860:4860::8888", "::ffff:8.8.8.8", "2606:4700::1",
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (!blocked(no[i]))
			fail_msg("%s should be refused", no[i]);
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (blocked(yes[i]))
			fail_msg("%s should be allowed", yes[i]);
}

static void test_import_names(void **s)
{
	(void)s;
	char out[DS_PATH_MAX];
	assert_int_equal(ds_import_filename("http://h/a/b/iris.csv?x=1#f", out), 0);
	assert_string_equal(out, "iris.csv");
	assert_int_equal(ds_import_filename("https://h:8080/my%20data.tsv", out), 0);
	assert_string_equal(out, "my data.tsv");
	assert_int_equal(ds_import_filename("http://h", out), 0);
	assert_string_equal(out, "data");
	assert_int_equal(ds_import_filename("http://h/dir/", out), 0);
	assert_string_equal(out, "data");
	assert_int_equal(ds_import_filename("http://h/a%2F..%2Fb", out), -EINVAL);
	assert_int_equal(ds_import_filename("http://h/..", out), -EINVAL);
	assert_int_equal(ds_import_filename("http://h/%00x", out), -EINVAL);

	ds_api *api = calloc(1, sizeof *api);
	char err[200];
	assert_int_equal(ds_import_configure(api, 0, NULL, err, sizeof err), 0);
	assert_int_equal(api->import_enabled, 0);
	assert_int_equal(ds_import_configure(api, 0, "10.0.0.0/8, files.lan:8080,[::1]:80,"
					     "127.0.0.1:9000,fd00::/8", err, sizeof err), 0);
	assert_int_equal(api->import_enabled, 1);
	assert_int_equal(api->nallow, 5);
	assert_int_equal(api->allow[0].prefix, 8);
	assert_string_equal(api->allow[1].host, "files.lan");
	assert_int_equal(api->allow[1].port, 8080);
	assert_int_equal(api->allow[2].family, AF_INET6);
	assert_int_equal(api->allow[2].port, 80);
	assert_int_equal(api->allow[3].port, 9000);
	assert_int_equal(api->allow[3].prefix, 32);
	static const char *const bad[] = { "10.0.0.0/33", "h:0", "h:99999", "a/b", "[::1", "x:1:2" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ds_import_configure(api, 1, bad[i], err, sizeof err) != -EINVAL)
			fail_msg("%s should be refused", bad[i]);
	free(api);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_line_diff),
		cmocka_unit_test(test_import_addrs),
		cmocka_unit_test(test_import_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
