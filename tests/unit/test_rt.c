/* Runtimes (src/runtime/): member-path normalisation, safe extraction of
 * crafted archives (built here with libarchive), layer whiteouts, deep and
 * sparse members, tree removal, error classes, and the registry's ingest /
 * lookup / list / remove and its start-up cleanup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include "base/mem.h"
#include "base/util.h"
#include "http/http.h"
#include "runtime/rt.h"
#include "runtime/rt_int.h"

struct ent {
	const char *name;
	unsigned type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR; 1 = hard link;
			* 2 = sparse file: data, then a hole up to SPARSE_SIZE */
	const char *data; /* content, or link target */
};

#define SPARSE_SIZE 100000

/* A tar image in memory; the caller frees *out. */
static size_t make_tar(const struct ent *e, size_t n, char **out)
{
	size_t cap = 1 << 20, used = 0;
	char *buf = xmalloc(cap);
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].name);
		archive_entry_set_perm(ae, 0755);
		if (e[i].type == 1) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_hardlink(ae, e[i].data);
		} else if (e[i].type == 2) {
			archive_entry_set_filetype(ae, AE_IFREG);
			archive_entry_set_size(ae, SPARSE_SIZE);
			archive_entry_sparse_add_entry(ae, 0, (la_int64_t)strlen(e[i].data));
		} else {
			archive_entry_set_filetype(ae, e[i].type);
		}
		if (e[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, e[i].data);
		if (e[i].type == AE_IFREG)
			archive_entry_set_size(ae, (la_int64_t)strlen(e[i].data));
		if (e[i].type == AE_IFCHR)
			archive_entry_set_rdev(ae, 0x0103);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		if (e[i].type == AE_IFREG || e[i].type == 2)
			archive_write_data(a, e[i].data, strlen(e[i].data));
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	*out = buf;
	return used;
}

static char tmpdir[128];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/sentinel-rt-test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rt_rm_tree(AT_FDCWD, tmpdir);
	return 0;
}

/* Extracts entries into a fresh dir sub/; returns the rc, *root its fd. */
static int extract(const char *sub, const struct ent *e, size_t n, int layer, uint64_t max,
		   int *root, char *err)
{
	char *buf, path[256];
	size_t len = make_tar(e, n, &buf);
	snprintf(path, sizeof path, "%s/%s", tmpdir, sub);
	mkdir(path, 0755);
	*root = open(path, O_RDONLY | O_DIRECTORY);
	int rc = rt_extract_mem(buf, len, *root, layer, max, err, 256);
	free(buf);
	return rc;
}

static int exists(int root, const char *p)
{
	struct stat st;
	return fstatat(root, p, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void test_norm(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(rt_norm_path("./a//b/./c", out, sizeof out), 0);
	assert_string_equal(out, "a/b/c");
	assert_int_equal(rt_norm_path("./", out, sizeof out), 1);
	assert_int_equal(rt_norm_path("a/../b", out, sizeof out), -EPERM);
	assert_int_equal(rt_norm_path("..", out, sizeof out), -EPERM);
	assert_int_equal(rt_norm_path("/etc/x", out, sizeof out), -EPERM);
	assert_int_equal(rt_norm_path("a..b/..c", out, sizeof out), 0);
	assert_string_equal(out, "a..b/..c");
	char small[4];
	assert_int_equal(rt_norm_path("abcdef", small, sizeof small), -ENAMETOOLONG);
	/* At most RT_DEPTH_MAX components, however short. */
	char deep[2 * RT_DEPTH_MAX + 8], norm[RT_PATH_MAX];
	for (int i = 0; i < RT_DEPTH_MAX; i++)
		memcpy(deep + 2 * i, "a/", 2);
	deep[2 * RT_DEPTH_MAX - 1] = '\0';
	assert_int_equal(rt_norm_path(deep, norm, sizeof norm), 0);
	memcpy(deep + 2 * RT_DEPTH_MAX - 1, "/b", 3);
	assert_int_equal(rt_norm_path(deep, norm, sizeof norm), -ENAMETOOLONG);
}

static void test_extract_ok(void **state)
{
	(void)state;
	const struct ent e[] = {
		{ "./", AE_IFDIR, NULL },
		{ "dir", AE_IFDIR, NULL },
		{ "dir/f", AE_IFREG, "hello" },
		{ "deep/er/file", AE_IFREG, "implicit parents" },
		{ "dir/abs", AE_IFLNK, "/dir/f" },
		{ "dir/rel", AE_IFLNK, "../dir/f" },
		{ "hard", 1, "dir/f" },
	};
	char err[256];
	int root;
	assert_int_equal(extract("ok", e, 7, 0, 1 << 20, &root, err), 0);
	assert_true(exists(root, "dir/f") && exists(root, "deep/er/file") && exists(root, "hard"));
	char link[64] = "";
	assert_int_equal(readlinkat(root, "dir/abs", link, sizeof link), 6);
	struct stat a, b;
	fstatat(root, "dir/f", &a, 0);
	fstatat(root, "hard", &b, 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(root);
}

static void test_extract_refused(void **state)
{
	(void)state;
	static const struct { struct ent e; const char *why; } cases[] = {
		{ { "../x", AE_IFREG, "x" }, "member path" },
		{ { "/etc/x", AE_IFREG, "x" }, "member path" },
		{ { "a/../../x", AE_IFREG, "x" }, "member path" },
		{ { "esc", AE_IFLNK, "../../../../etc" }, "symlink" },
		{ { "d/esc", AE_IFLNK, "../../etc" }, "symlink" },
		{ { "hl", 1, "../outside" }, "hard link" },
		{ { "hl", 1, "/etc/passwd" }, "hard link" },
		{ { "null", AE_IFCHR, NULL }, "device" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[256], sub[32];
		int root;
		struct ent e[2] = { { "first", AE_IFREG, "1" }, cases[i].e };
		snprintf(sub, sizeof sub, "bad%zu", i);
		assert_int_equal(extract(sub, e, 2, 0, 1 << 20, &root, err), -EPERM);
		if (!strstr(err, cases[i].why))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].why);
		close(root);
	}
}

static void test_budget(void **state)
{
	(void)state;
	char big[5000];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const struct ent e[] = { { "big", AE_IFREG, big } };
	char err[256];
	int root;
	assert_int_equal(extract("budget", e, 1, 0, 4096, &root, err), -EFBIG);
	assert_non_null(strstr(err, "size limit"));
	close(root);
}

/* Whiteouts delete only lower layers' files; a symlink planted by a lower
 * layer is never followed out of the root. */
static void test_layers(void **state)
{
	(void)state;
	const struct ent l1[] = {
		{ "a/keep", AE_IFREG, "k" }, { "a/gone", AE_IFREG, "g" },
		{ "o/old", AE_IFREG, "o" }, { "esc", AE_IFLNK, "/" },
	};
	const struct ent l2[] = {
		{ "a/.wh.gone", AE_IFREG, "" }, { "o/.wh..wh..opq", AE_IFREG, "" },
		{ "o/new", AE_IFREG, "n" }, { "esc/tmp/sentinel-rt-escape", AE_IFREG, "inside" },
	};
	char err[256];
	int root, root2;
	assert_int_equal(extract("layers", l1, 4, 1, 1 << 20, &root, err), 0);
	assert_int_equal(extract("layers", l2, 4, 1, 1 << 20, &root2, err), 0);
	assert_true(exists(root, "a/keep"));
	assert_false(exists(root, "a/gone"));
	assert_false(exists(root, "a/.wh.gone"));
	assert_false(exists(root, "o/old"));
	assert_true(exists(root, "o/new"));
	assert_true(exists(root, "tmp/sentinel-rt-escape"));
	assert_int_equal(access("/tmp/sentinel-rt-escape", F_OK), -1);
	close(root);
	close(root2);
	/* Whiteouts that would name the directory itself or its parent. */
	static const char *const bad[] = { ".wh...", ".wh..", "a/.wh...", ".wh." };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const struct ent l3[] = { { bad[i], AE_IFREG, "" } };
		assert_int_equal(extract("layers", l3, 1, 1, 1 << 20, &root, err), -EPERM);
		assert_non_null(strstr(err, "whiteout"));
		close(root);
		assert_true(exists(AT_FDCWD, tmpdir));
	}
	char p[256];
	snprintf(p, sizeof p, "%s/layers/a/keep", tmpdir);
	assert_int_equal(access(p, F_OK), 0);
}

/* A path of n components "a/a/.../f" (caller frees). */
static char *deep_path(int n)
{
	char *p = xmalloc(2 * (size_t)n + 1);
	for (int i = 0; i < n - 1; i++)
		memcpy(p + 2 * i, "a/", 2);
	memcpy(p + 2 * (n - 1), "f", 2);
	return p;
}

/* A PAX member 2041 components deep once overflowed the stack (parent_fd
 * recursed per component); now the walk is iterative and such a path is
 * refused, while one of RT_DEPTH_MAX components, its parents implied, is
 * extracted. */
static void test_deep_path(void **state)
{
	(void)state;
	char err[256], *ok = deep_path(RT_DEPTH_MAX), *deep = deep_path(2041);
	int root;
	const struct ent e1[] = { { ok, AE_IFREG, "x" } };
	assert_int_equal(extract("deep-ok", e1, 1, 0, 1 << 20, &root, err), 0);
	assert_true(exists(root, ok));
	close(root);
	const struct ent e2[] = { { "first", AE_IFREG, "1" }, { deep, AE_IFREG, "x" } };
	assert_int_equal(extract("deep", e2, 2, 0, 1 << 20, &root, err), -EPERM);
	assert_non_null(strstr(err, "too deep"));
	close(root);
	/* Long components: under RT_DEPTH_MAX but over RT_PATH_MAX bytes. */
	char long_path[RT_PATH_MAX + 300];
	memset(long_path, 'n', sizeof long_path - 1);
	long_path[sizeof long_path - 1] = '\0';
	for (size_t i = 200; i < sizeof long_path - 1; i += 201)
		long_path[i] = '/';
	const struct ent e3[] = { { long_path, AE_IFREG, "x" } };
	assert_int_equal(extract("long", e3, 1, 0, 1 << 20, &root, err), -EPERM);
	assert_non_null(strstr(err, "too long"));
	close(root);
	free(ok);
	free(deep);
}

/* A hard link whose target path goes through a symlink resolves inside the
 * root; when that leads nowhere the archive is refused (-EPERM, 422), not
 * an internal error (it was -ENOTDIR, a 500). */
static void test_hardlink_through_symlink(void **state)
{
	(void)state;
	const struct ent e[] = {
		{ "d/f", AE_IFREG, "data" }, { "lf", AE_IFLNK, "d/f" }, { "ld", AE_IFLNK, "/d" },
		{ "h1", 1, "ld/f" },
	};
	char err[256];
	int root;
	assert_int_equal(extract("hlsym", e, 4, 0, 1 << 20, &root, err), 0);
	struct stat a, b;
	assert_int_equal(fstatat(root, "d/f", &a, 0), 0);
	assert_int_equal(fstatat(root, "h1", &b, 0), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	close(root);
	static const char *const bad[] = { "lf/x", "nolink/x", "ld/missing", "d" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char sub[32];
		const struct ent e2[] = { e[0], e[1], e[2], { "h2", 1, bad[i] } };
		snprintf(sub, sizeof sub, "hlsym%zu", i);
		int rc = extract(sub, e2, 4, 0, 1 << 20, &root, err);
		if (rc != -EPERM)
			fail_msg("hard link to %s: rc %d (%s)", bad[i], rc, err);
		close(root);
	}
}

/* A sparse member that ends in a hole gets its full size (it was cut at
 * its last data block), and its logical size is charged to the budget. */
static void test_sparse(void **state)
{
	(void)state;
	const struct ent e[] = { { "s", 2, "head" } };
	char err[256];
	int root;
	assert_int_equal(extract("sparse", e, 1, 0, 1 << 20, &root, err), 0);
	struct stat st;
	assert_int_equal(fstatat(root, "s", &st, 0), 0);
	assert_int_equal(st.st_size, SPARSE_SIZE);
	char head[5] = "";
	int fd = openat(root, "s", O_RDONLY);
	assert_int_equal(read(fd, head, 4), 4);
	assert_string_equal(head, "head");
	close(fd);
	close(root);
	assert_int_equal(extract("sparse2", e, 1, 0, SPARSE_SIZE / 2, &root, err), -EFBIG);
	close(root);
}

/* rt_rm_tree holds one descriptor whatever the depth (it held one per
 * level and recursed: a deep tree ran out of descriptors or stack). */
static void test_rm_deep(void **state)
{
	(void)state;
	char path[256];
	snprintf(path, sizeof path, "%s/rmdeep", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 3000; i++) {
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		int f = openat(fd, "file", O_WRONLY | O_CREAT, 0644);
		close(f);
		int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
	}
	close(fd);
	struct rlimit old, low = { 128, 128 };
	getrlimit(RLIMIT_NOFILE, &old);
	low.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_NOFILE, &low);
	int rc = rt_rm_tree(AT_FDCWD, path);
	setrlimit(RLIMIT_NOFILE, &old);
	assert_int_equal(rc, 0);
	assert_int_equal(access(path, F_OK), -1);
}

static void test_err_status(void **state)
{
	(void)state;
	static const struct { int rc, status; const char *code; } want[] = {
		{ -EINVAL, 400, "bad_request" }, { -ENOENT, 404, "not_found" },
		{ -EEXIST, 409, "conflict" }, { -EFBIG, 413, "too_large" },
		{ -EPERM, 422, "refused" }, { -EBADMSG, 422, "bad_archive" },
		{ -ENOSPC, 507, "insufficient_storage" }, { -EDQUOT, 507, "insufficient_storage" },
		{ -EBUSY, 503, "busy" }, { -ENOMEM, 500, "internal" }, { -EIO, 500, "internal" },
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *code = NULL;
		assert_int_equal(http_errno_status(want[i].rc, &code), want[i].status);
		assert_string_equal(code, want[i].code);
	}
}

/* Errors met while applying entries are the archive's fault (422), with
 * the member named; a corrupt archive is -EBADMSG. */
static void test_error_classes(void **state)
{
	(void)state;
	const struct ent e[] = { { "file", AE_IFREG, "x" }, { "file/under", AE_IFREG, "y" } };
	char err[256];
	int root;
	assert_int_equal(extract("classes", e, 2, 0, 1 << 20, &root, err), -EPERM);
	assert_non_null(strstr(err, "file/under"));
	close(root);
	char *buf;
	size_t len = make_tar(e, 1, &buf);
	assert_int_equal(mkdirat(AT_FDCWD, tmpdir, 0755), -1);
	root = open(tmpdir, O_RDONLY | O_DIRECTORY);
	/* Cut inside the member's data: a truncated archive. */
	assert_int_equal(rt_extract_mem(buf, 520, root, 0, 1 << 20, err, sizeof err), -EBADMSG);
	memset(buf, 0x5a, len);
	assert_int_equal(rt_extract_mem(buf, len, root, 0, 1 << 20, err, sizeof err), -EBADMSG);
	close(root);
	free(buf);
}

/* Staging directories left by a crash go at start; one whose owner is
 * alive (holds its flock) stays. */
static void test_init_cleans_staging(void **state)
{
	(void)state;
	char data[256], p[512], err[256];
	snprintf(data, sizeof data, "%s/initdata", tmpdir);
	snprintf(p, sizeof p, "%s/runtimes/.staging-crashed/rootfs/deep/er", data);
	assert_int_equal(sn_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof p, "%s/runtimes/.staging-alive", data);
	assert_int_equal(mkdir(p, 0700), 0);
	int held = open(p, O_RDONLY | O_DIRECTORY);
	assert_int_equal(flock(held, LOCK_EX), 0);
	assert_int_equal(rt_init(data, err, sizeof err), 0);
	assert_int_equal(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/runtimes/.staging-crashed", data);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof p, "%s/runtimes/incoming", data);
	assert_int_equal(access(p, F_OK), 0);
	close(held);
}

static void test_registry(void **state)
{
	(void)state;
	const struct ent e[] = { { "etc/marker", AE_IFREG, "m" } };
	char *buf, tar[256], data[256], err[256];
	size_t len = make_tar(e, 1, &buf);
	snprintf(tar, sizeof tar, "%s/img.tar", tmpdir);
	snprintf(data, sizeof data, "%s/data", tmpdir);
	assert_int_equal(sn_write_file_atomic(tar, buf, len, 0644), 0);
	free(buf);
	rt_info r;
	assert_int_equal(rt_ingest(data, tar, "img", NULL, 1 << 20, &r, err, sizeof err), 0);
	assert_string_equal(r.kind, "image");
	assert_int_equal(strlen(r.sha256), 64);
	char *marker = xasprintf("%s/etc/marker", r.path);
	assert_int_equal(access(marker, F_OK), 0);
	free(marker);
	rt_info_release(&r);
	assert_int_equal(rt_ingest(data, tar, "img", NULL, 1 << 20, &r, err, sizeof err), -EEXIST);
	assert_int_equal(rt_ingest(data, tar, "host", NULL, 1 << 20, &r, err, sizeof err), -EINVAL);
	assert_int_equal(rt_lookup(data, "img", &r, err, sizeof err), 0);
	rt_info_release(&r);
	assert_int_equal(rt_lookup(data, "host", &r, err, sizeof err), 0);
	assert_null(r.path);
	rt_info_release(&r);
	assert_int_equal(rt_lookup(data, "nope", &r, err, sizeof err), -ENOENT);
	json_t *arr;
	assert_int_equal(rt_list(data, &arr, err, sizeof err), 0);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	assert_int_equal(rt_remove(data, "img", err, sizeof err), 0);
	assert_int_equal(rt_remove(data, "img", err, sizeof err), -ENOENT);
	assert_int_equal(rt_remove(data, "host", err, sizeof err), -EPERM);
	assert_true(rt_name_valid("py3.11-sci_v2"));
	assert_false(rt_name_valid("-x"));
	assert_false(rt_name_valid("a/b"));
	assert_false(rt_name_valid(""));
}

/* Writes the tar of entries to dir/file; returns the path (caller frees). */
static char *write_tar(const char *dir, const char *file, const struct ent *e, size_t n)
{
	char *buf, *path = xasprintf("%s/%s", dir, file);
	size_t len = make_tar(e, n, &buf);
	assert_int_equal(sn_write_file_atomic(path, buf, len, 0644), 0);
	free(buf);
	return path;
}

/* scan hashes a drop-folder file only when it is new or changed: the
 * cache of (size, mtime, ctime, inode) -> sha256 answers otherwise. */
static void test_scan_cache(void **state)
{
	(void)state;
	const struct ent a[] = { { "etc/a", AE_IFREG, "aaaa" } };
	const struct ent b[] = { { "etc/b", AE_IFREG, "bbbb" } };
	char data[256], err[256], *inc;
	json_t *arr;
	snprintf(data, sizeof data, "%s/scandata", tmpdir);
	assert_int_equal(rt_init(data, err, sizeof err), 0);
	inc = rt_incoming_dir(data);
	char *tar = write_tar(inc, "x.tar", a, 1), sha[65];
	assert_int_equal(sn_sha256_file(tar, sha), 0);
	unsigned long n0 = rt_hash_calls;
	assert_int_equal(rt_scan(data, &arr, err, sizeof err), 0);
	assert_int_equal(rt_hash_calls, n0 + 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "sha256")), sha);
	json_decref(arr);
	assert_int_equal(rt_scan(data, &arr, err, sizeof err), 0);
	assert_int_equal(rt_hash_calls, n0 + 1); /* unchanged: the cached hash */
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "sha256")), sha);
	json_decref(arr);
	/* touch: mtime (and ctime) move, so it is hashed again. */
	struct timespec ts[2] = { { 1000, 0 }, { 1000, 0 } };
	assert_int_equal(utimensat(AT_FDCWD, tar, ts, 0), 0);
	assert_int_equal(rt_scan(data, &arr, err, sizeof err), 0);
	assert_int_equal(rt_hash_calls, n0 + 2);
	json_decref(arr);
	/* Same size, mtime set back: the content changed and ctime says so. */
	char *buf;
	size_t len = make_tar(b, 1, &buf);
	int fd = open(tar, O_WRONLY);
	assert_int_equal(pwrite(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	free(buf);
	assert_int_equal(utimensat(AT_FDCWD, tar, ts, 0), 0);
	assert_int_equal(rt_scan(data, &arr, err, sizeof err), 0);
	assert_int_equal(rt_hash_calls, n0 + 3);
	char sha2[65];
	assert_int_equal(sn_sha256_file(tar, sha2), 0);
	assert_string_not_equal(sha, sha2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "sha256")), sha2);
	json_decref(arr);
	/* A file gone from the folder leaves the cache. */
	unlink(tar);
	assert_int_equal(rt_scan(data, &arr, err, sizeof err), 0);
	assert_int_equal(json_array_size(arr), 0);
	json_decref(arr);
	char *cache = xasprintf("%s/runtimes/scan-cache.json", data), *text;
	assert_int_equal(sn_read_file(cache, 1 << 20, &text, &len), 0);
	assert_null(strstr(text, "x.tar"));
	free(text);
	free(cache);
	free(tar);
	free(inc);
}

static void write_str(const char *path, const char *s)
{
	assert_int_equal(sn_write_file_atomic(path, s, strlen(s), 0755), 0);
}

/* A venv whose interpreter the sandbox cannot see is refused when it is
 * registered, naming the interpreter, not when a job fails to start. */
static void test_venv_outside(void **state)
{
	(void)state;
	char p[512], data[256], err[512];
	rt_info r;
	snprintf(data, sizeof data, "%s/venvdata", tmpdir);
	snprintf(p, sizeof p, "%s/pyenv/bin", tmpdir);
	assert_int_equal(sn_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof p, "%s/pyenv/bin/python3.11", tmpdir);
	write_str(p, "#!/bin/false\n");
	snprintf(p, sizeof p, "%s/venv/bin", tmpdir);
	assert_int_equal(sn_mkdir_p(p, 0755), 0);
	snprintf(p, sizeof p, "%s/venv/pyvenv.cfg", tmpdir);
	char *cfg = xasprintf("home = %s/pyenv/bin\nversion = 3.11.4\n", tmpdir);
	write_str(p, cfg);
	free(cfg);
	char *target = xasprintf("%s/pyenv/bin/python3.11", tmpdir);
	snprintf(p, sizeof p, "%s/venv/bin/python3", tmpdir);
	assert_int_equal(symlink(target, p), 0);
	snprintf(p, sizeof p, "%s/venv", tmpdir);
	assert_int_equal(rt_register_venv(data, "pv", p, &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, target));
	assert_non_null(strstr(err, "outside what a job in the sandbox sees"));
	free(target);
	/* --copies: the interpreter is inside the venv, but its base (home)
	 * is not. */
	snprintf(p, sizeof p, "%s/venv/bin/python3", tmpdir);
	unlink(p);
	write_str(p, "#!/bin/false\n");
	snprintf(p, sizeof p, "%s/venv", tmpdir);
	assert_int_equal(rt_register_venv(data, "pv", p, &r, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "pyvenv.cfg home"));
	/* The same with its base under /usr: accepted. */
	snprintf(p, sizeof p, "%s/venv/pyvenv.cfg", tmpdir);
	write_str(p, "home = /usr/bin\n");
	snprintf(p, sizeof p, "%s/venv", tmpdir);
	assert_int_equal(rt_register_venv(data, "pv", p, &r, err, sizeof err), 0);
	assert_string_equal(r.kind, "venv");
	rt_info_release(&r);
}

static int is_rfc3339(const char *s)
{
	int64_t ms;
	return s && strlen(s) == 24 && s[10] == 'T' && s[23] == 'Z' && sn_time_parse(s, &ms) == 0;
}

/* Replies: created_at in RFC 3339 (no created_ms), the tree's real size
 * (not the budget's count, and not 0 for a name that shares a tree), the
 * tarball's size, and the source the caller names (an upload's spool file
 * is not shown). A record from before created_at still reads. */
static void test_ingest_reply(void **state)
{
	(void)state;
	const struct ent e[] = { { "etc", AE_IFDIR, NULL }, { "etc/f", AE_IFREG, "12345" },
				 { "etc/g", AE_IFREG, "678" }, { "etc/h", 1, "etc/f" } };
	char data[256], err[256];
	struct stat st;
	rt_info r, r2;
	snprintf(data, sizeof data, "%s/replydata", tmpdir);
	char *tar = write_tar(tmpdir, "reply.tar", e, 4);
	assert_int_equal(stat(tar, &st), 0);
	assert_int_equal(rt_ingest(data, tar, "one", "upload", 1 << 20, &r, err, sizeof err), 0);
	assert_int_equal(r.bytes, 8); /* f and g; h is f again */
	assert_int_equal(r.archive_bytes, (uint64_t)st.st_size);
	assert_string_equal(r.source, "upload");
	json_t *j = rt_info_json(&r);
	assert_true(is_rfc3339(json_string_value(json_object_get(j, "created_at"))));
	assert_null(json_object_get(j, "created_ms"));
	assert_int_equal(json_integer_value(json_object_get(j, "bytes")), 8);
	assert_string_equal(json_string_value(json_object_get(j, "source")), "upload");
	json_decref(j);
	assert_int_equal(rt_ingest(data, tar, "two", NULL, 1 << 20, &r2, err, sizeof err), 0);
	assert_int_equal(r2.bytes, 8);
	assert_string_equal(r2.sha256, r.sha256);
	assert_string_equal(r2.source, tar);
	rt_info_release(&r2);
	assert_int_equal(rt_lookup(data, "one", &r2, err, sizeof err), 0);
	assert_int_equal(r2.created_ms, r.created_ms);
	assert_int_equal(r2.bytes, 8);
	rt_info_release(&r2);
	/* A record of an older version: created_ms, no config. */
	char *rec = xasprintf("%s/runtimes/names/old.json", data);
	char *text = xasprintf("{\"name\": \"old\", \"kind\": \"image\", \"created_ms\": "
			       "1700000000000, \"bytes\": 3, \"sha256\": \"%s\"}", r.sha256);
	write_str(rec, text);
	assert_int_equal(rt_lookup(data, "old", &r2, err, sizeof err), 0);
	assert_int_equal(r2.created_ms, 1700000000000);
	assert_null(r2.config.env);
	assert_null(r2.config.cmd);
	j = rt_info_json(&r2);
	assert_string_equal(json_string_value(json_object_get(j, "created_at")),
			    "2023-11-14T22:13:20.000Z");
	json_decref(j);
	rt_info_release(&r2);
	free(rec);
	free(text);
	rt_info_release(&r);
	free(tar);
}

/* A docker save archive at tmpdir/file: one layer (entries), a config
 * file (JSON text) and the manifest. The caller frees the path. */
static char *write_docker(const char *file, const struct ent *e, size_t n, const char *config)
{
	char *layer, *path = xasprintf("%s/%s", tmpdir, file);
	size_t llen = make_tar(e, n, &layer);
	const char *manifest = "[{\"Config\": \"cfg.json\", \"Layers\": [\"l/layer.tar\"]}]";
	const struct { const char *name, *data; size_t len; } m[] = {
		{ "l/layer.tar", layer, llen },
		{ "manifest.json", manifest, strlen(manifest) },
		{ "cfg.json", config, strlen(config) },
	};
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < 3; i++) {
		struct archive_entry *ae = archive_entry_new();
		archive_entry_set_pathname(ae, m[i].name);
		archive_entry_set_filetype(ae, AE_IFREG);
		archive_entry_set_perm(ae, 0644);
		archive_entry_set_size(ae, (la_int64_t)m[i].len);
		assert_int_equal(archive_write_header(a, ae), ARCHIVE_OK);
		archive_write_data(a, m[i].data, m[i].len);
		archive_entry_free(ae);
	}
	archive_write_close(a);
	archive_write_free(a);
	free(layer);
	return path;
}

/* The image config of a docker save archive is kept in the record (Env,
 * WorkingDir, Entrypoint, Cmd), its WorkingDir made in the tree; a bad one
 * refuses the archive. */
static void test_image_config(void **state)
{
	(void)state;
	const struct ent e[] = { { "bin/tool", AE_IFREG, "x" } };
	char data[256], err[256];
	rt_info r;
	snprintf(data, sizeof data, "%s/cfgdata", tmpdir);
	char *tar = write_docker("cfg.tar", e, 1,
		"{\"config\": {\"Env\": [\"PATH=/opt/bin:/usr/bin\", \"A=b=c\"], "
		"\"WorkingDir\": \"/app//sub/\", \"Entrypoint\": [\"/bin/tool\", \"-v\"], "
		"\"Cmd\": [\"run\"], \"User\": \"1000\"}}");
	assert_int_equal(rt_ingest(data, tar, "cfg", NULL, 1 << 20, &r, err, sizeof err), 0);
	rt_info_release(&r);
	assert_int_equal(rt_lookup(data, "cfg", &r, err, sizeof err), 0);
	assert_string_equal(r.config.env[0], "PATH=/opt/bin:/usr/bin");
	assert_string_equal(r.config.env[1], "A=b=c");
	assert_null(r.config.env[2]);
	assert_string_equal(r.config.workdir, "/app/sub");
	assert_string_equal(r.config.entrypoint[1], "-v");
	assert_null(r.config.entrypoint[2]);
	assert_string_equal(r.config.cmd[0], "run");
	char *wd = xasprintf("%s/app/sub", r.path);
	struct stat st;
	assert_int_equal(stat(wd, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(wd);
	json_t *j = rt_info_json(&r);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "config"),
							      "working_dir")), "/app/sub");
	json_decref(j);
	rt_info_release(&r);
	/* A second name on the same tree gets the config from image.json. */
	assert_int_equal(rt_ingest(data, tar, "cfg2", NULL, 1 << 20, &r, err, sizeof err), 0);
	assert_string_equal(r.config.cmd[0], "run");
	assert_int_equal(r.bytes, 1);
	rt_info_release(&r);
	free(tar);
	/* No config file, or no "config" in it: nothing set. */
	tar = write_docker("nocfg.tar", e, 1, "{\"architecture\": \"amd64\"}");
	assert_int_equal(rt_ingest(data, tar, "nocfg", NULL, 1 << 20, &r, err, sizeof err), 0);
	assert_null(r.config.env);
	assert_null(r.config.workdir);
	rt_info_release(&r);
	free(tar);
	static const char *const bad[] = {
		"{\"config\": {\"Env\": [\"NOEQUALS\"]}}",
		"{\"config\": {\"Env\": \"PATH=/x\"}}",
		"{\"config\": {\"WorkingDir\": \"relative\"}}",
		"{\"config\": {\"WorkingDir\": \"/a/../../b\"}}",
		"{\"config\": {\"Cmd\": [\"a\\u0000b\"]}}",
		"{\"config\": {\"Entrypoint\": [1]}}",
		"not json",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		tar = write_docker("bad.tar", e, 1, bad[i]);
		assert_int_equal(rt_ingest(data, tar, "bad", NULL, 1 << 20, &r, err, sizeof err),
				 -EBADMSG);
		free(tar);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_norm),
		cmocka_unit_test(test_extract_ok),
		cmocka_unit_test(test_extract_refused),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_layers),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_deep_path),
		cmocka_unit_test(test_hardlink_through_symlink),
		cmocka_unit_test(test_sparse),
		cmocka_unit_test(test_rm_deep),
		cmocka_unit_test(test_err_status),
		cmocka_unit_test(test_error_classes),
		cmocka_unit_test(test_init_cleans_staging),
		cmocka_unit_test(test_scan_cache),
		cmocka_unit_test(test_venv_outside),
		cmocka_unit_test(test_ingest_reply),
		cmocka_unit_test(test_image_config),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
