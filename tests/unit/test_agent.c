/* agent/: the built-in montecarlo-pi program against values computed
 * independently (tests/integration/t520's Python reference), the samples
 * summary, the result journal (group commit, done marks, torn appends,
 * the older per-file entries) and the heartbeat interval of a reply. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "agent/agent_int.h"
#include "base/mem.h"
#include "base/util.h"

static void check_pi(uint64_t n, uint64_t seed, uint64_t hits)
{
	json_t *st = NULL;
	assert_int_equal(ag_montecarlo_pi(n, seed, NULL, &st), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "n")), (json_int_t)n);
	double mean = 4.0 * (double)hits / (double)n;
	assert_true(json_real_value(json_object_get(st, "mean")) == mean);
	/* m2 of hits samples at 4 and n-hits at 0 around the mean. */
	double m2 = (double)hits * (4 - mean) * (4 - mean) + (double)(n - hits) * mean * mean;
	assert_true(json_real_value(json_object_get(st, "m2")) == m2);
	assert_true(json_real_value(json_object_get(st, "min")) == (hits < n ? 0.0 : 4.0));
	assert_true(json_real_value(json_object_get(st, "max")) == (hits ? 4.0 : 0.0));
	json_decref(st);
}

/* SplitMix64 seeded with the offset, two doubles per iteration from the
 * top 53 bits: hit counts from a Python reference with 64-bit integers. */
static void test_montecarlo_pi(void **state)
{
	(void)state;
	check_pi(1000, 42, 766);
	check_pi(100000, 0, 78600);
	check_pi(1, 12345, 1);
	json_t *st = NULL;
	assert_int_equal(ag_montecarlo_pi(0, 7, NULL, &st), 0);
	assert_int_equal(json_integer_value(json_object_get(st, "n")), 0);
	json_decref(st);
}

static void test_montecarlo_stop(void **state)
{
	(void)state;
	int stop = 1;
	json_t *st = NULL;
	assert_int_equal(ag_montecarlo_pi(1u << 21, 1, &stop, &st), -ECANCELED);
	assert_null(st);
}

/* The closed form of montecarlo-pi equals the running summary of the
 * same samples (to rounding). */
static void test_stats(void **state)
{
	(void)state;
	double v[] = { 1, 2, 3, 4 };
	json_t *st = ag_stats_of(v, 4);
	assert_int_equal(json_integer_value(json_object_get(st, "n")), 4);
	assert_true(json_real_value(json_object_get(st, "mean")) == 2.5);
	assert_true(json_real_value(json_object_get(st, "m2")) == 5.0);
	assert_true(json_real_value(json_object_get(st, "min")) == 1.0);
	assert_true(json_real_value(json_object_get(st, "max")) == 4.0);
	json_decref(st);
	double s[10] = { 4, 0, 4, 4, 0, 4, 4, 4, 0, 4 };
	json_t *w = ag_stats_of(s, 10), *c = NULL;
	assert_int_equal(ag_montecarlo_pi(10, 0, NULL, &c), 0);
	json_decref(c);
	double mean = json_real_value(json_object_get(w, "mean"));
	double m2 = json_real_value(json_object_get(w, "m2"));
	assert_true(mean == 2.8);
	assert_true(m2 > 33.6 - 1e-9 && m2 < 33.6 + 1e-9);
	json_decref(w);
	st = ag_stats_of(NULL, 0);
	assert_int_equal(json_integer_value(json_object_get(st, "n")), 0);
	json_decref(st);
}

/* An agent with only its journal, in a fresh directory. */
static char *journal_agent(agent *a, char *tmpl)
{
	char err[256];
	assert_non_null(mkdtemp(tmpl));
	memset(a, 0, sizeof *a);
	pthread_mutex_init(&a->mu, NULL);
	a->journal_dir = xasprintf("%s/journal", tmpl);
	assert_int_equal(sn_mkdir_p(a->journal_dir, 0700), 0);
	assert_int_equal(ag_journal_open(a, err, sizeof err), 0);
	return xasprintf("%s/results.log", a->journal_dir);
}

static void reopen(agent *a)
{
	char err[256];
	ag_journal_close(a);
	assert_int_equal(ag_journal_open(a, err, sizeof err), 0);
}

static void journal_free(agent *a, char *tmpl, char *log)
{
	ag_journal_close(a);
	unlink(log);
	free(log);
	rmdir(a->journal_dir);
	free(a->journal_dir);
	rmdir(tmpl);
	pthread_mutex_destroy(&a->mu);
}

static json_t *body_of(int attempt)
{
	json_t *b = json_pack("{s:i, s:s, s:{s:{}}, s:[]}", "attempt", attempt, "status",
			      "completed", "result", "stats", "artifacts");
	assert_non_null(b);
	return b;
}

static void put(agent *a, const char *chunk, int attempt, const char *dir)
{
	json_t *b = body_of(attempt);
	ag_journal_put(a, chunk, attempt, dir, b);
	json_decref(b);
}

static size_t lines_of(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

/* Group commit: many results queued, one append and one fdatasync; a
 * reopen takes them all back; the log is 0600. */
static void test_journal_group_commit(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/sentinel-agent-XXXXXX";
	agent a;
	char *log = journal_agent(&a, tmpl), id[32];
	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof id, "job-%d", i);
		put(&a, id, 1, NULL);
	}
	assert_int_equal(ag_journal_pending(&a), 100);
	assert_int_equal(lines_of(log), 0); /* queued: nothing written yet */
	assert_int_equal(ag_journal_commit(&a), 0);
	assert_int_equal(a.jr.commits, 1);
	assert_int_equal(lines_of(log), 100);
	struct stat st;
	assert_int_equal(stat(log, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 100);
	assert_int_equal(a.jr.nready, 100);
	json_t *ids = json_array();
	ag_journal_ids(&a, ids);
	assert_int_equal(json_array_size(ids), 100);
	assert_string_equal(json_string_value(json_array_get(ids, 7)), "job-7");
	json_decref(ids);
	journal_free(&a, tmpl, log);
}

/* A done result is not taken back; a lost chunk's results are dropped
 * with their attempt directory; a torn last line (a crash during an
 * append) is cut off and what follows it is read. */
static void test_journal_done_and_torn(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/sentinel-agent-XXXXXX";
	agent a;
	char *log = journal_agent(&a, tmpl);
	char *work = xasprintf("%s/work-ck_1-1", tmpl);
	assert_int_equal(sn_mkdir_p(work, 0700), 0);
	put(&a, "ck_1-x", 1, work);
	put(&a, "ck_2-x", 1, NULL);
	put(&a, "ck_3-x", 2, NULL);
	assert_int_equal(ag_journal_commit(&a), 0);
	assert_true(ag_journal_holds_dir(&a, work));
	ag_journal_done(&a, "ck_2-x", 1);
	assert_int_equal(ag_journal_commit(&a), 0); /* appends the done mark */
	ag_journal_drop_chunk(&a, "ck_1");          /* not a chunk it holds */
	assert_int_equal(ag_journal_pending(&a), 2);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 2);
	json_t *ids = json_array();
	ag_journal_ids(&a, ids);
	assert_int_equal(json_array_size(ids), 2);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "ck_1-x");
	assert_string_equal(json_string_value(json_array_get(ids, 1)), "ck_3-x");
	json_decref(ids);
	ag_journal_drop_chunk(&a, "ck_1-x");
	struct stat st;
	assert_int_not_equal(stat(work, &st), 0);
	assert_int_equal(ag_journal_commit(&a), 0);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 1);
	/* A torn append: half a line at the end. */
	FILE *f = fopen(log, "a");
	assert_non_null(f);
	fputs("0123456789abcdef {\"chunk\":\"ck_9-x\",\"att", f);
	fclose(f);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 1);
	put(&a, "ck_4-x", 1, NULL);
	assert_int_equal(ag_journal_commit(&a), 0);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 2); /* ck_3 and ck_4: the torn part is gone */
	/* A line whose checksum fails ends the log. */
	assert_int_equal(stat(log, &st), 0);
	int fd = open(log, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "x", 1, st.st_size - 3), 1);
	close(fd);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 1);
	free(work);
	journal_free(&a, tmpl, log);
}

/* The older journal's one file per result is taken into the log and
 * its file removed. */
static void test_journal_old_entries(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/sentinel-agent-XXXXXX";
	agent a;
	char *log = journal_agent(&a, tmpl);
	ag_journal_close(&a);
	char *old = xasprintf("%s/ck_5-x-2.json", a.journal_dir);
	const char *text = "{\"chunk\":\"ck_5-x\",\"attempt\":2,\"body\":{\"attempt\":2,"
			   "\"status\":\"completed\",\"result\":{\"stats\":{}},\"artifacts\":[]}}";
	assert_int_equal(sn_write_file_atomic(old, text, strlen(text), 0600), 0);
	char err[256];
	assert_int_equal(ag_journal_open(&a, err, sizeof err), 0);
	assert_int_equal(ag_journal_pending(&a), 1);
	assert_int_not_equal(access(old, F_OK), 0);
	reopen(&a);
	assert_int_equal(ag_journal_pending(&a), 1);
	free(old);
	journal_free(&a, tmpl, log);
}

/* The register and heartbeat replies' interval: heartbeat_ms wins over
 * the whole seconds of heartbeat_s (500 ms was read as 1 s). */
static void test_heartbeat_interval(void **state)
{
	(void)state;
	json_t *r = json_pack("{s:i, s:i}", "heartbeat_s", 1, "heartbeat_ms", 500);
	assert_int_equal(ag_hb_from_reply(r), 500);
	json_decref(r);
	r = json_pack("{s:i}", "heartbeat_s", 5);
	assert_int_equal(ag_hb_from_reply(r), 5000);
	json_decref(r);
	r = json_pack("{s:i, s:i}", "heartbeat_s", 2, "heartbeat_ms", 5);
	assert_int_equal(ag_hb_from_reply(r), 2000); /* out of range: the seconds */
	json_decref(r);
	r = json_object();
	assert_int_equal(ag_hb_from_reply(r), 0);
	json_decref(r);
}

/* A follower's leader_url: only an http(s) URL without blanks or control
 * bytes that fits is taken; a dropped lead raises the generation that ends
 * calls still waiting on it. */
static void test_lead_learn(void **state)
{
	(void)state;
	agent a;
	memset(&a, 0, sizeof a);
	pthread_mutex_init(&a.mu, NULL);
	char big[400];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "http://", 7);
	const char *bad[] = { "ftp://x:1", "http://a b:1", "http://a\x01:1", "", big };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ag_lead_learn(&a, bad[i]);
		assert_string_equal(a.lead, "");
	}
	assert_int_equal(a.lead_gen, 0);
	ag_lead_learn(&a, "https://leader:8443");
	assert_string_equal(a.lead, "https://leader:8443");
	ag_lead_learn(&a, "https://leader:8443");
	assert_int_equal(a.lead_gen, 1);
	ag_lead_drop(&a);
	assert_string_equal(a.lead, "");
	assert_int_equal(a.lead_gen, 2);
	ag_lead_drop(&a); /* nothing to drop */
	assert_int_equal(a.lead_gen, 2);
	/* Dropped for not being named (not for failing): taken again at once. */
	ag_lead_learn(&a, "https://leader:8443");
	assert_string_equal(a.lead, "https://leader:8443");
	pthread_mutex_destroy(&a.mu);
}

/* noop's result, as the agent journals it without running anything. */
static void test_noop_result(void **state)
{
	(void)state;
	json_t *b = ag_noop_result(3);
	assert_non_null(b);
	assert_int_equal(json_integer_value(json_object_get(b, "attempt")), 3);
	assert_string_equal(json_string_value(json_object_get(b, "status")), "completed");
	assert_true(json_is_object(json_object_get(json_object_get(b, "result"), "stats")));
	assert_int_equal(json_array_size(json_object_get(b, "artifacts")), 0);
	json_decref(b);
}

/* ---- runtimes ---- */

/* A plain rootfs tarball (ustar) holding one file etc/marker. */
static void write_tar(const char *path, const char *content)
{
	char h[512] = { 0 }, pad[2048] = { 0 }; /* to the block, then two zero blocks */
	size_t n = strlen(content);
	unsigned sum = 0;
	memcpy(h, "etc/marker", 10);
	snprintf(h + 100, 8, "%07o", 0644);
	snprintf(h + 108, 8, "%07o", 0);
	snprintf(h + 116, 8, "%07o", 0);
	snprintf(h + 124, 12, "%011o", (unsigned)n); /* n is tiny */
	snprintf(h + 136, 12, "%011o", 0);
	memset(h + 148, ' ', 8);
	h[156] = '0';
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (int i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(h, 1, 512, f), 512);
	assert_int_equal(fwrite(content, 1, n, f), n);
	assert_int_equal(fwrite(pad, 1, (512 - n % 512) % 512 + 1024, f), (512 - n % 512) % 512 + 1024);
	fclose(f);
}

static void sha_of(const char *path, char sha[65])
{
	assert_int_equal(sn_sha256_file(path, sha), 0);
}

/* The server keeps an image's tarball beside its tree (nodes fetch it by
 * hash); a node's own ingest does not; a tree from before gets one when a
 * name sharing it is ingested. */
static void test_rt_archive(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-agent-rt-XXXXXX", err[512], sha[65], bad[65];
	rt_info r;
	uint64_t size;
	int fd;
	struct stat st;
	assert_non_null(mkdtemp(dir));
	char *tar = xasprintf("%s/img.tar", dir), *data = xasprintf("%s/data", dir);
	char *arch = NULL;
	write_tar(tar, "one\n");
	sha_of(tar, sha);
	assert_int_equal(rt_ingest_flags(data, tar, "a", NULL, RT_DEFAULT_MAX_BYTES, RT_NO_ARCHIVE,
					 &r, err, sizeof err), 0);
	rt_info_release(&r);
	arch = xasprintf("%s/runtimes/%s/archive", data, sha);
	assert_int_equal(stat(arch, &st), -1);
	assert_int_equal(rt_archive_open(data, sha, &fd, &size), -ENOENT);
	/* A second name on the same content (an ingest that keeps archives). */
	assert_int_equal(rt_ingest(data, tar, "b", NULL, RT_DEFAULT_MAX_BYTES, &r, err, sizeof err), 0);
	rt_info_release(&r);
	assert_int_equal(rt_archive_open(data, sha, &fd, &size), 0);
	assert_int_equal(size, 2048);
	char got[65];
	sha_of(arch, got);
	assert_string_equal(got, sha);
	close(fd);
	/* New content: the archive is there from the start. */
	write_tar(tar, "two\n");
	sha_of(tar, bad);
	assert_int_equal(rt_ingest(data, tar, "c", NULL, RT_DEFAULT_MAX_BYTES, &r, err, sizeof err), 0);
	rt_info_release(&r);
	assert_int_equal(rt_archive_open(data, bad, &fd, &size), 0);
	close(fd);
	assert_int_equal(rt_archive_open(data, "../x", &fd, &size), -EINVAL);
	memset(bad, 'f', 64);
	assert_int_equal(rt_archive_open(data, bad, &fd, &size), -ENOENT);
	/* Removing the last name removes the archive with the tree. */
	assert_int_equal(rt_remove(data, "c", err, sizeof err), 0);
	sha_of(tar, bad);
	assert_int_equal(rt_archive_open(data, bad, &fd, &size), -ENOENT);
	ag_remove_rf(dir);
	free(arch);
	free(tar);
	free(data);
}

/* An agent with a state dir and no server. */
static void rt_agent(agent *a, char *dir)
{
	char err[256];
	assert_non_null(mkdtemp(dir));
	memset(a, 0, sizeof *a);
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->cache_mu, NULL);
	pthread_mutex_init(&a->rt_mu, NULL);
	a->state = xstrdup(dir);
	a->cache_dir = xasprintf("%s/cache", dir);
	a->work_dir = xasprintf("%s/work", dir);
	assert_int_equal(sn_mkdir_p(a->cache_dir, 0700), 0);
	assert_int_equal(sn_mkdir_p(a->work_dir, 0700), 0);
	assert_int_equal(rt_init(a->state, err, sizeof err), 0);
}

static void rt_agent_free(agent *a)
{
	ag_remove_rf(a->state);
	json_decref(a->rt_names);
	json_decref(a->rt_shas);
	free(a->state);
	free(a->cache_dir);
	free(a->work_dir);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->cache_mu);
	pthread_mutex_destroy(&a->rt_mu);
}

/* ag_rt_resolve of the chunk given as JSON text: its rc, and the kind and
 * path of what it found. */
static int resolve(agent *a, const char *chunk, char *kind, size_t n, char *path, size_t pn)
{
	char err[512];
	rt_info r;
	json_t *c = json_loads(chunk, 0, NULL);
	assert_non_null(c);
	int rc = ag_rt_resolve(a, c, &r, err, sizeof err);
	json_decref(c);
	kind[0] = path[0] = '\0';
	if (rc == 0) {
		snprintf(kind, n, "%s", r.kind);
		snprintf(path, pn, "%s", r.path ? r.path : "");
		rt_info_release(&r);
	}
	return rc;
}

static int has(json_t *arr, const char *s)
{
	json_t *x;
	size_t i;
	json_array_foreach(arr, i, x)
		if (strcmp(json_string_value(x), s) == 0)
			return 1;
	return 0;
}

/* A chunk's runtime on the node: host; an image by the hash its spec gives
 * (here already: nothing fetched); a venv by name (one registered on the
 * node); refused: a runtime this node lacks, a bad spec. The heartbeat
 * lists host, venv:NAME and image:SHA, and follows registrations. Before,
 * every runtime but host failed the chunk. */
static void test_rt_resolve(void **state)
{
	(void)state;
	agent a;
	char dir[] = "/tmp/test-agent-rtr-XXXXXX", err[512], sha[65], kind[16], path[4096];
	char chunk[512];
	rt_info r;
	rt_agent(&a, dir);
	assert_int_equal(resolve(&a, "{}", kind, sizeof kind, path, sizeof path), 0);
	assert_string_equal(kind, "host");
	assert_int_equal(resolve(&a, "{\"runtime\":\"host\"}", kind, sizeof kind, path,
				 sizeof path), 0);
	assert_string_equal(kind, "host");
	assert_int_equal(resolve(&a, "{\"runtime\":\"pyv\"}", kind, sizeof kind, path,
				 sizeof path), -ENOENT);
	assert_int_equal(resolve(&a, "{\"runtime\":\"x\",\"runtime_spec\":{\"name\":\"x\","
				 "\"kind\":\"image\",\"sha256\":\"nope\"}}", kind, sizeof kind, path,
				 sizeof path), -EINVAL);
	assert_int_equal(resolve(&a, "{\"runtime_spec\":{\"name\":\"x\",\"kind\":\"zip\"}}",
				 kind, sizeof kind, path, sizeof path), -EINVAL);

	/* An image fetched earlier: registered under its hash. */
	char *tar = xasprintf("%s/work/img.tar", dir);
	write_tar(tar, "img\n");
	sha_of(tar, sha);
	assert_int_equal(rt_ingest_flags(a.state, tar, sha, "server", RT_DEFAULT_MAX_BYTES,
					 RT_NO_ARCHIVE, &r, err, sizeof err), 0);
	rt_info_release(&r);
	snprintf(chunk, sizeof chunk, "{\"runtime\":\"img\",\"runtime_spec\":{\"name\":\"img\","
		 "\"kind\":\"image\",\"sha256\":\"%s\"}}", sha);
	assert_int_equal(resolve(&a, chunk, kind, sizeof kind, path, sizeof path), 0);
	assert_string_equal(kind, "image");
	char *want = xasprintf("%s/runtimes/%s/rootfs", a.state, sha);
	assert_string_equal(path, want);
	free(want);
	assert_int_equal(a.rt_fetches, 0);
	/* The old form (a name only) finds an image registered here by name. */
	assert_int_equal(rt_ingest_flags(a.state, tar, "img", NULL, RT_DEFAULT_MAX_BYTES,
					 RT_NO_ARCHIVE, &r, err, sizeof err), 0);
	rt_info_release(&r);
	assert_int_equal(resolve(&a, "{\"runtime\":\"img\"}", kind, sizeof kind, path,
				 sizeof path), 0);
	assert_string_equal(kind, "image");

	json_t *l = ag_rt_list(&a), *blobs = json_array();
	char *img = xasprintf("image:%s", sha);
	assert_true(has(l, "host"));
	assert_true(has(l, img));
	assert_int_equal(json_array_size(l), 2); /* one tree under two names */
	json_decref(l);
	assert_int_equal(ag_rt_add_images(&a, blobs), 0);
	assert_int_equal(json_array_size(blobs), 1);
	assert_string_equal(json_string_value(json_array_get(blobs, 0)), sha);
	json_decref(blobs);

	/* A venv of the Python under /usr, registered while the agent runs. */
	char *venv = xasprintf("%s/venv", dir), *bin = xasprintf("%s/venv/bin", dir);
	char *py = xasprintf("%s/python3", bin), *cfgp = xasprintf("%s/pyvenv.cfg", venv);
	struct stat st;
	if (stat("/usr/bin/python3", &st) == 0) {
		assert_int_equal(sn_mkdir_p(bin, 0755), 0);
		assert_int_equal(symlink("/usr/bin/python3", py), 0);
		assert_int_equal(sn_write_file_atomic(cfgp, "home = /usr/bin\n", 15, 0644), 0);
		assert_int_equal(rt_register_venv(a.state, "pyv", venv, &r, err, sizeof err), 0);
		rt_info_release(&r);
		assert_int_equal(resolve(&a, "{\"runtime\":\"pyv\"}", kind, sizeof kind, path,
					 sizeof path), 0);
		assert_string_equal(kind, "venv");
		assert_int_equal(resolve(&a, "{\"runtime\":\"pyv\",\"runtime_spec\":{\"name\":"
					 "\"pyv\",\"kind\":\"venv\"}}", kind, sizeof kind, path,
					 sizeof path), 0);
		assert_string_equal(kind, "venv");
		/* A name that is an image here is no venv. */
		assert_int_equal(resolve(&a, "{\"runtime_spec\":{\"name\":\"img\",\"kind\":"
					 "\"venv\"}}", kind, sizeof kind, path, sizeof path), -ENOENT);
		l = ag_rt_list(&a);
		assert_true(has(l, "venv:pyv"));
		json_decref(l);
	}
	free(venv);
	free(bin);
	free(py);
	free(cfgp);
	free(img);
	free(tar);
	rt_agent_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_montecarlo_pi),
		cmocka_unit_test(test_montecarlo_stop),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_journal_group_commit),
		cmocka_unit_test(test_journal_done_and_torn),
		cmocka_unit_test(test_journal_old_entries),
		cmocka_unit_test(test_heartbeat_interval),
		cmocka_unit_test(test_lead_learn),
		cmocka_unit_test(test_noop_result),
		cmocka_unit_test(test_rt_archive),
		cmocka_unit_test(test_rt_resolve),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
