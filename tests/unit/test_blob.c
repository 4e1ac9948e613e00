/* The blob store: the streaming writer (hash, dedup, abort, concurrent
 * writers of the same content), names from outside refused, whole-file
 * adoption with an expected hash, references, upload sessions (wrong
 * offset, torn tail) and gc's cutoffs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/util.h"
#include "blob/blob.h"
#include "test_db.h"

static char dir[64], url[256];
static store *st;
static blob_store *bs;

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static int setup(void **state)
{
	(void)state;
	char err[256];
	const store_domain *const d[] = { &blob_store_domain };
	store_opts so = { .domains = d, .ndomains = 1 };
	snprintf(dir, sizeof dir, "/tmp/sentinel-blob-test.XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_db_url(dir, "s.db", url, sizeof url), 0);
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);
	assert_int_equal(blob_store_open(dir, st, BLOB_RECOVER, &bs, err, sizeof err), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	blob_store_free(&bs);
	store_free(&st);
	test_db_drop(url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

/* Entries of DATA/SUB, counted recursively for regular files. */
static int count_files(const char *sub)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "find %s/%s -type f | wc -l", dir, sub);
	FILE *f = popen(cmd, "r");
	int n = -1;
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &n), 1);
	pclose(f);
	return n;
}

static void put(const char *s, size_t n, char sha[65], int *existed)
{
	blob_writer *w = NULL;
	uint64_t bytes = 0;
	assert_int_equal(blob_writer_new(bs, &w), 0);
	/* In two pieces: the hash is the content's, however it is cut. */
	assert_int_equal(blob_write(w, s, n / 2), 0);
	assert_int_equal(blob_write(w, s + n / 2, n - n / 2), 0);
	assert_int_equal(blob_commit(&w, sha, &bytes, existed), 0);
	assert_null(w);
	assert_int_equal(bytes, n);
}

static void test_writer_dedup(void **state)
{
	(void)state;
	char sha[65], path[256];
	int existed = -1;
	put("abc", 3, sha, &existed);
	assert_string_equal(sha, ABC_SHA);
	assert_int_equal(existed, 0);
	put("abc", 3, sha, &existed);
	assert_int_equal(existed, 1);
	assert_int_equal(count_files("blobs/sha256"), 1);
	assert_int_equal(count_files("tmp"), 0);
	snprintf(path, sizeof path, "%s/blobs/sha256/ba/%s", dir, ABC_SHA + 2);
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(sn_read_file(path, 100, &data, &len), 0);
	assert_memory_equal(data, "abc", 3);
	free(data);
}

static void test_abort_leaves_nothing(void **state)
{
	(void)state;
	blob_writer *w = NULL;
	assert_int_equal(blob_writer_new(bs, &w), 0);
	assert_int_equal(count_files("tmp"), 1);
	assert_int_equal(blob_write(w, "partial", 7), 0);
	blob_abort(&w);
	assert_null(w);
	assert_int_equal(count_files("tmp"), 0);
	assert_int_equal(count_files("blobs/sha256"), 0);
}

#define NWRITERS 8
#define BIG (1 << 20)
static char big[BIG];

struct job {
	char sha[65];
	int existed, rc;
};

static void *writer_thread(void *arg)
{
	struct job *j = arg;
	blob_writer *w = NULL;
	j->rc = blob_writer_new(bs, &w);
	for (size_t off = 0; j->rc == 0 && off < BIG; off += 4096)
		j->rc = blob_write(w, big + off, 4096);
	if (j->rc == 0)
		j->rc = blob_commit(&w, j->sha, NULL, &j->existed);
	else
		blob_abort(&w);
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	pthread_t t[NWRITERS];
	struct job j[NWRITERS];
	char want[65];
	int created = 0, fd = -1;
	uint64_t size = 0;
	for (size_t i = 0; i < BIG; i++)
		big[i] = (char)(i * 7 + i / 4096);
	sn_sha256_hex(big, BIG, want);
	memset(j, 0, sizeof j);
	for (int i = 0; i < NWRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &j[i]), 0);
	for (int i = 0; i < NWRITERS; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NWRITERS; i++) {
		assert_int_equal(j[i].rc, 0);
		assert_string_equal(j[i].sha, want);
		created += !j[i].existed;
	}
	assert_int_equal(created, 1); /* link(2): exactly one writer made it */
	assert_int_equal(count_files("blobs/sha256"), 1);
	assert_int_equal(count_files("tmp"), 0);
	assert_int_equal(blob_open(bs, want, &fd, &size), 0);
	assert_int_equal(size, BIG);
	assert_int_equal(blob_verify_fd(fd, want), 0);
	close(fd);
}

static void test_invalid_names(void **state)
{
	(void)state;
	static const char *bad[] = {
		"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adf",
		"../../../../../../../../../../../../../../../../../../etc/passwd",
		"ba/7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
		"",
	};
	int fd = -1;
	uint64_t size;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_false(blob_sha_valid(bad[i]));
		assert_int_equal(blob_open(bs, bad[i], &fd, &size), -EINVAL);
	}
	assert_false(blob_sha_valid(NULL));
	assert_true(blob_sha_valid(ABC_SHA));
	assert_int_equal(blob_open(bs, ABC_SHA, &fd, &size), -ENOENT);
}

static void test_put_file_expect(void **state)
{
	(void)state;
	char path[128], sha[65];
	int existed = -1;
	snprintf(path, sizeof path, "%s/tmp/spooled", dir);
	assert_int_equal(sn_write_file_atomic(path, "abc", 3, 0600), 0);
	char wrong[65];
	memset(wrong, 'a', 64);
	wrong[64] = '\0';
	assert_int_equal(blob_put_file(bs, path, wrong, sha, NULL, &existed), -EBADMSG);
	assert_int_equal(access(path, F_OK), 0); /* left for the caller */
	assert_int_equal(count_files("blobs/sha256"), 0);
	assert_int_equal(blob_put_file(bs, path, ABC_SHA, sha, NULL, &existed), 0);
	assert_string_equal(sha, ABC_SHA);
	assert_int_equal(existed, 0);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void test_ref_needs_blob(void **state)
{
	(void)state;
	store_conn *c = NULL;
	char sha[65];
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(blob_ref_add(bs, c, ABC_SHA, "test", "r1"), -ENOENT);
	put("abc", 3, sha, NULL);
	assert_int_equal(blob_ref_add(bs, c, ABC_SHA, "test", "r1"), 0);
	assert_int_equal(blob_ref_add(bs, c, ABC_SHA, "test", "r1"), 0); /* twice: no error */
	assert_int_equal(blob_ref_add(bs, c, ABC_SHA, "Bad-Domain", "r1"), -EINVAL);
	assert_int_equal(blob_ref_del(c, ABC_SHA, "test", "r1"), 0);
	store_release(&c);
}

/* Appends n bytes of s to session id at start. */
static int append(const char *id, int64_t start, const char *s, int64_t n, blob_upload *up)
{
	char path[128];
	snprintf(path, sizeof path, "%s/chunk", dir);
	assert_int_equal(sn_write_file_atomic(path, s, (size_t)n, 0600), 0);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	int rc = blob_upload_append(bs, id, start, -1, fd, n, up);
	close(fd);
	unlink(path);
	return rc;
}

static void test_upload_offsets_and_torn_tail(void **state)
{
	(void)state;
	blob_upload up;
	char path[128];
	assert_int_equal(blob_upload_create(bs, "u_1", 3, ABC_SHA, &up), 0);
	assert_int_equal(append(up.id, 0, "a", 1, &up), 0);
	assert_int_equal(append(up.id, 0, "a", 1, &up), -ERANGE);
	assert_int_equal(up.received, 1);
	assert_int_equal(append(up.id, 1, "bcd", 3, &up), -EFBIG);
	/* A crash during an append leaves bytes past received: dropped. */
	snprintf(path, sizeof path, "%s/tmp/upload-%s", dir, up.id);
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "XYZ", 3), 3);
	close(fd);
	assert_int_equal(blob_upload_commit(bs, up.id, &up), -ERANGE);
	assert_int_equal(append(up.id, 1, "bc", 2, &up), 0);
	assert_int_equal(blob_upload_commit(bs, up.id, &up), 0);
	assert_string_equal(up.sha256, ABC_SHA);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(append(up.id, 3, "d", 1, &up), -EALREADY);
	assert_int_equal(blob_upload_create(bs, "u_1", -1, "not-a-sha", &up), -EINVAL);
	assert_int_equal(blob_upload_get(bs, "../../etc/passwd", &up), -ENOENT);
}

static void age(const char *sha, int64_t ms)
{
	char path[256];
	snprintf(path, sizeof path, "%s/blobs/sha256/%.2s/%s", dir, sha, sha + 2);
	struct timespec ts[2];
	int64_t t = sn_now_ms() - ms;
	ts[0].tv_sec = ts[1].tv_sec = t / 1000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_gc_cutoffs(void **state)
{
	(void)state;
	char sha[65], kept[65];
	blob_gc_stats s;
	blob_upload up;
	store_conn *c = NULL;
	const int64_t hour = 3600 * 1000;
	put("abc", 3, sha, NULL);
	put("kept", 4, kept, NULL);
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(blob_ref_add(bs, c, kept, "test", "r"), 0);
	age(sha, 2 * hour);
	age(kept, 2 * hour);
	assert_int_equal(blob_gc(bs, sn_now_ms(), hour, 0, NULL, NULL, &s), 0);
	assert_int_equal(s.blobs, 1);
	assert_int_equal(s.bytes, 3);
	/* An open session older than the blob protects it. */
	assert_int_equal(blob_upload_create(bs, "u_1", -1, NULL, &up), 0);
	assert_int_equal(store_exec(c, "UPDATE blob_uploads SET created_at = $1", NULL,
				    SARGS(SA_INT(sn_now_ms() - 3 * hour))), 0);
	assert_int_equal(blob_gc(bs, sn_now_ms(), hour, 1, NULL, NULL, &s), 0);
	assert_int_equal(s.blobs, 0);
	assert_int_equal(s.kept_young, 1);
	/* Once it expires, gc removes it and then the blob. */
	assert_int_equal(store_exec(c, "UPDATE blob_uploads SET expires_at = 1", NULL, SNOARGS), 0);
	assert_int_equal(blob_gc(bs, sn_now_ms(), hour, 1, NULL, NULL, &s), 0);
	assert_int_equal(s.sessions, 1);
	assert_int_equal(s.blobs, 1);
	assert_int_equal(count_files("blobs/sha256"), 1); /* the referenced one */
	assert_int_equal(count_files("tmp"), 0);
	store_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_writer_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_file_expect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ref_needs_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upload_offsets_and_torn_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_cutoffs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
