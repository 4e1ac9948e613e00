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
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/util.h"
#include "blob/blob.h"
#include "dataset/ds.h"
#include "dataset/ds_import.h"
#include "dataset/ds_int.h"
#include "dataset/ds_tar.h"
#include "test_db.h"

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

/* ---- tar ---- */

struct tar_log {
	char text[8192]; /* "path:size=content;" per member */
	size_t len;
};

static int tl_begin(void *ud, const char *path, uint64_t size)
{
	struct tar_log *l = ud;
	l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, "%s:%llu=", path,
				   (unsigned long long)size);
	return 0;
}

static int tl_data(void *ud, const char *p, size_t n)
{
	struct tar_log *l = ud;
	assert_true(l->len + n < sizeof l->text);
	memcpy(l->text + l->len, p, n);
	l->len += n;
	l->text[l->len] = '\0';
	return 0;
}

static int tl_end(void *ud)
{
	struct tar_log *l = ud;
	l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, ";");
	return 0;
}

static const ds_tar_cb tl_cb = { tl_begin, tl_data, tl_end };

/* A raw header block: name, size, type, with a valid checksum. */
static void raw_hdr(char *b, const char *name, size_t size, char type, const char *magic)
{
	memset(b, 0, 512);
	snprintf(b, 100, "%s", name);
	snprintf(b + 100, 8, "%07o", 0644);
	char num[32];
	snprintf(num, sizeof num, "%011zo", size & 077777777777);
	memcpy(b + 124, num, 12);
	b[156] = type;
	memcpy(b + 257, magic, 8);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)b[i];
	snprintf(b + 148, 8, "%06o", sum);
}

/* Appends a member with data (padded) to a tar being built. */
static void add_member(char *t, size_t *n, const char *name, const char *data, size_t len,
		       char type)
{
	raw_hdr(t + *n, name, len, type, "ustar\0" "00");
	*n += 512;
	memcpy(t + *n, data, len);
	memset(t + *n + len, 0, ds_tar_pad(len));
	*n += len + ds_tar_pad(len);
}

/* Feeds t[0..n) in chunks of chunk bytes; the log and both results. */
static int tar_read(const char *t, size_t n, size_t chunk, struct tar_log *l, const char **why)
{
	ds_tar *r = ds_tar_new(&tl_cb, l);
	int rc = 0;
	memset(l, 0, sizeof *l);
	for (size_t off = 0; rc == 0 && off < n; off += chunk)
		rc = ds_tar_feed(r, t + off, n - off < chunk ? n - off : chunk);
	if (rc == 0)
		rc = ds_tar_finish(r);
	static char err[2048];
	snprintf(err, sizeof err, "%s", ds_tar_error(r) ? ds_tar_error(r) : "");
	*why = err;
	ds_tar_free(&r);
	return rc;
}

static void test_tar_roundtrip(void **s)
{
	(void)s;
	static char t[65536];
	char longp[300];
	size_t n = 0, hl;
	struct tar_log l;
	const char *why;
	memset(longp, 'p', sizeof longp - 1);
	longp[sizeof longp - 1] = '\0';
	longp[100] = '/';
	assert_int_equal(ds_tar_header("a.csv", 4, 0644, t + n, &hl), 0);
	n += hl;
	memcpy(t + n, "a,b\n", 4);
	memset(t + n + 4, 0, ds_tar_pad(4));
	n += 512;
	assert_int_equal(ds_tar_header(longp, 3, 0644, t + n, &hl), 0);
	assert_int_equal(hl, 3 * 512); /* a pax header block, its records, the header */
	n += hl;
	memcpy(t + n, "xyz", 3);
	n += 512;
	assert_int_equal(ds_tar_header("empty", 0, 0644, t + n, &hl), 0);
	n += hl;
	add_member(t, &n, "dir/", "", 0, '5');
	add_member(t, &n, "g", "19 comment=ignored\n", 19, 'g');
	add_member(t, &n, "././@LongLink", "gnu/long/name.txt", 18, 'L');
	add_member(t, &n, "gnu/long/na", "hi", 2, '0');
	add_member(t, &n, "x", "18 path=pax/p.bin\n10 size=5\n", 28, 'x');
	add_member(t, &n, "ignored", "12345", 5, '0');
	memset(t + n, 0, 1024);
	n += 1024;
	char want[1024];
	snprintf(want, sizeof want, "a.csv:4=a,b\n;%s:3=xyz;empty:0=;gnu/long/name.txt:2=hi;"
		 "pax/p.bin:5=12345;", longp);
	/* Every chunk size gives the same members. */
	for (size_t chunk = 1; chunk <= 1100; chunk += chunk < 20 ? 1 : 37) {
		if (tar_read(t, n, chunk, &l, &why))
			fail_msg("chunk %zu: %s", chunk, why);
		assert_string_equal(l.text, want);
	}
	assert_int_equal(tar_read(t, n, n, &l, &why), 0);
	assert_string_equal(l.text, want);
	/* Cut anywhere before the end blocks: refused. */
	for (size_t cut = 0; cut < n - 1024; cut += 97)
		if (tar_read(t, cut, 512, &l, &why) != -EBADMSG)
			fail_msg("a tar cut at %zu was taken", cut);
	/* One zero block then nothing: taken, as GNU tar does. */
	assert_int_equal(tar_read(t, n - 512, 4096, &l, &why), 0);
}

static void test_tar_refusals(void **s)
{
	(void)s;
	static char t[8192];
	struct tar_log l;
	const char *why;
	static const struct { char type; const char *word; } refused[] = {
		{ '1', "hard link" }, { '2', "symbolic link" }, { '3', "character device" },
		{ '4', "block device" }, { '6', "fifo" }, { 'S', "unsupported type" },
	};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		size_t n = 0;
		add_member(t, &n, "ok.txt", "ok", 2, '0');
		add_member(t, &n, "evil", "", 0, refused[i].type);
		memset(t + n, 0, 1024);
		assert_int_equal(tar_read(t, n + 1024, 512, &l, &why), -EPERM);
		assert_non_null(strstr(why, "'evil'"));
		assert_non_null(strstr(why, refused[i].word));
	}
	size_t n = 0;
	add_member(t, &n, "a", "x", 1, '0');
	t[148] ^= 1; /* checksum */
	memset(t + n, 0, 1024);
	assert_int_equal(tar_read(t, n + 1024, 512, &l, &why), -EBADMSG);
	assert_non_null(strstr(why, "checksum"));
	n = 0;
	raw_hdr(t, "a", 1, '0', "nottar\0\0");
	assert_int_equal(tar_read(t, 1536, 512, &l, &why), -EBADMSG);
	static const char *const bad_pax[] = {
		"5 a=b\n", "99 path=x\n", "10 pathx\n", "x path=y\n", "13 size=-1\n", "11 size=\n",
	};
	for (size_t i = 0; i < sizeof bad_pax / sizeof bad_pax[0]; i++) {
		n = 0;
		add_member(t, &n, "x", bad_pax[i], strlen(bad_pax[i]), 'x');
		add_member(t, &n, "a", "x", 1, '0');
		memset(t + n, 0, 1024);
		if (tar_read(t, n + 1024, 512, &l, &why) != -EBADMSG)
			fail_msg("pax '%s' taken", bad_pax[i]);
	}
	/* A pax path with a NUL byte. */
	n = 0;
	add_member(t, &n, "x", "12 path=a\0b\n", 12, 'x');
	add_member(t, &n, "a", "x", 1, '0');
	memset(t + n, 0, 1024);
	assert_int_equal(tar_read(t, n + 1024, 512, &l, &why), -EBADMSG);
	/* A pax header over the bound is refused before being read. */
	n = 0;
	raw_hdr(t, "x", DS_TAR_META_MAX + 1, 'x', "ustar\0" "00");
	assert_int_equal(tar_read(t, 512, 512, &l, &why), -EBADMSG);
	/* A base-256 size is read; a negative one refused. */
	n = 0;
	raw_hdr(t, "b", 0, '0', "ustar\0" "00");
	memset(t + 124, 0, 12);
	t[124] = (char)0x80;
	t[135] = 3;
	memset(t + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)t[i];
	snprintf(t + 148, 8, "%06o", sum);
	memcpy(t + 512, "abc", 3);
	memset(t + 515, 0, 512 - 3 + 1024);
	assert_int_equal(tar_read(t, 2048, 512, &l, &why), 0);
	assert_string_equal(l.text, "b:3=abc;");
	t[124] = (char)0xff;
	assert_int_equal(tar_read(t, 2048, 512, &l, &why), -EBADMSG);
	/* A path over the limit is refused, never cut. */
	static char t2[16384];
	char name[5001];
	memset(name, 'a', 5000);
	name[5000] = '\0';
	n = 0;
	add_member(t2, &n, "././@LongLink", name, 5000, 'L');
	add_member(t2, &n, "short", "x", 1, '0');
	memset(t2 + n, 0, 1024);
	assert_int_equal(tar_read(t2, n + 1024, 512, &l, &why), -EBADMSG);
	assert_non_null(strstr(why, "path over"));
}

/* A pushed file's blob, written the way an upload writes it (pieces of
 * any size, several MiB in all: the writer's direct pieces, handed round
 * its I/O thread's buffers several times, and its plain tail), reads back
 * byte for byte under its SHA-256; in a directory on tmpfs, which refuses
 * O_DIRECT, the same. */
static void blob_large_in(const char *base)
{
	char dir[128], url[256], err[256], sha[65], want[65];
	snprintf(dir, sizeof dir, "%s/sentinel-ds-blob.XXXXXX", base);
	if (!mkdtemp(dir))
		return; /* no such file system here */
	const store_domain *const d[] = { &blob_store_domain };
	store_opts so = { .domains = d, .ndomains = 1 };
	store *st = NULL;
	blob_store *bs = NULL;
	assert_int_equal(test_db_url(dir, "s.db", url, sizeof url), 0);
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);
	assert_int_equal(blob_store_open(dir, st, BLOB_RECOVER, &bs, err, sizeof err), 0);
	size_t n = (9u << 20) + 777, at = 0, step = 1;
	char *data = malloc(n);
	uint64_t seed = 3, bytes = 0;
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		data[i] = (char)(seed >> 56);
	}
	sn_sha256 *h = sn_sha256_new();
	sn_sha256_update(h, data, n);
	sn_sha256_final(&h, want);
	blob_writer *w = NULL;
	assert_int_equal(blob_writer_new(bs, &w), 0);
	while (at < n) { /* 1, 7, 49, ... bytes, then one piece past 1 MiB */
		size_t k = step < n - at ? step : n - at;
		assert_int_equal(blob_write(w, data + at, k), 0);
		at += k;
		step = step < 100000 ? step * 7 : (3u << 19);
	}
	assert_int_equal(blob_commit(&w, sha, &bytes, NULL), 0);
	assert_string_equal(sha, want);
	assert_int_equal(bytes, n);
	int fd = -1;
	uint64_t size = 0;
	assert_int_equal(blob_open(bs, sha, &fd, &size), 0);
	assert_int_equal(size, n);
	char *back = malloc(n);
	assert_int_equal(pread(fd, back, n, 0), (ssize_t)n);
	assert_memory_equal(back, data, n);
	close(fd);
	free(back);
	free(data);
	blob_store_free(&bs);
	store_free(&st);
	test_db_drop(url);
	snprintf(url, sizeof url, "rm -rf %s", dir);
	assert_int_equal(system(url), 0);
}

static void test_blob_large(void **s)
{
	(void)s;
	blob_large_in("/tmp");
	blob_large_in("/dev/shm");
}

/* A write that fails in the writer's I/O thread (here past RLIMIT_FSIZE:
 * EFBIG) fails a later blob_write or the commit with that error, and
 * nothing is kept: no blob, no staging file. */
static void test_blob_write_error(void **s)
{
	(void)s;
	char dir[128], url[256], err[256], sha[65];
	snprintf(dir, sizeof dir, "/tmp/sentinel-ds-blobe.XXXXXX");
	assert_non_null(mkdtemp(dir));
	const store_domain *const d[] = { &blob_store_domain };
	store_opts so = { .domains = d, .ndomains = 1 };
	store *st = NULL;
	blob_store *bs = NULL;
	assert_int_equal(test_db_url(dir, "s.db", url, sizeof url), 0);
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);
	assert_int_equal(blob_store_open(dir, st, BLOB_RECOVER, &bs, err, sizeof err), 0);
	size_t piece = 65536, n = 8u << 20;
	char *data = calloc(1, piece);
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (5u << 19); /* 2.5 MiB */
	void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	blob_writer *w = NULL;
	assert_int_equal(blob_writer_new(bs, &w), 0);
	int rc = 0;
	for (size_t at = 0; at < n && !rc; at += piece)
		rc = blob_write(w, data, piece);
	int crc = blob_commit(&w, sha, NULL, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, was);
	assert_true(rc == 0 || rc == -EFBIG);
	assert_int_equal(crc, -EFBIG);
	assert_null(w);
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	DIR *dp = opendir(tmp);
	assert_non_null(dp);
	struct dirent *e;
	while ((e = readdir(dp)))
		if (e->d_name[0] != '.' || strncmp(e->d_name, ".blob-", 6) == 0)
			fail_msg("left in DATA/tmp: %s", e->d_name);
	closedir(dp);
	free(data);
	blob_store_free(&bs);
	store_free(&st);
	test_db_drop(url);
	snprintf(url, sizeof url, "rm -rf %s", dir);
	assert_int_equal(system(url), 0);
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
		cmocka_unit_test(test_tar_roundtrip),
		cmocka_unit_test(test_tar_refusals),
		cmocka_unit_test(test_blob_large),
		cmocka_unit_test(test_blob_write_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
