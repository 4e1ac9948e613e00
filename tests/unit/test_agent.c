/* agent/: the built-in montecarlo-pi program against values computed
 * independently (tests/integration/t520's Python reference), the samples
 * summary, and the result journal's bookkeeping. */
#include <errno.h>
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

/* A journalled result lists its chunk (the heartbeat keeps its lease) and
 * a "lost" drop removes the entry and its attempt directory. */
static void test_journal(void **state)
{
	(void)state;
	char tmpl[] = "/tmp/sentinel-agent-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	agent a;
	memset(&a, 0, sizeof a);
	pthread_mutex_init(&a.mu, NULL);
	a.journal_dir = xasprintf("%s/journal", tmpl);
	char *work = xasprintf("%s/work-ck_1-1", tmpl);
	assert_int_equal(sn_mkdir_p(a.journal_dir, 0700), 0);
	assert_int_equal(sn_mkdir_p(work, 0700), 0);
	json_t *body = json_pack("{s:i, s:s}", "attempt", 1, "status", "completed"), *ids;
	char *name = NULL;
	assert_int_equal(ag_journal_put(&a, "ck_1-x", 1, work, body, &name), 0);
	assert_string_equal(name, "ck_1-x-1.json");
	struct stat st;
	char *p = xasprintf("%s/%s", a.journal_dir, name);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ids = json_array();
	ag_journal_ids(&a, ids);
	assert_int_equal(json_array_size(ids), 1);
	assert_string_equal(json_string_value(json_array_get(ids, 0)), "ck_1-x");
	ag_journal_ids(&a, ids); /* listed once, as a running chunk still sending would be */
	assert_int_equal(json_array_size(ids), 1);
	json_decref(ids);
	ag_journal_drop_chunk(&a, "ck_1");
	assert_int_equal(stat(p, &st), 0);
	ag_journal_drop_chunk(&a, "ck_1-x");
	assert_int_not_equal(stat(p, &st), 0);
	assert_int_not_equal(stat(work, &st), 0);
	json_decref(body);
	free(p);
	free(name);
	free(work);
	rmdir(a.journal_dir);
	free(a.journal_dir);
	rmdir(tmpl);
	pthread_mutex_destroy(&a.mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_montecarlo_pi),
		cmocka_unit_test(test_montecarlo_stop),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests_name("agent", tests, NULL, NULL);
}
