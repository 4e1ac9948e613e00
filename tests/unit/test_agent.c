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
		cmocka_unit_test(test_noop_result),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
