/* detect/det: the streaming detector on synthetic series with planted
 * anomalies; determinism, the probation, bounded memory, option checks. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/mem.h"
#include "detect/det.h"

#define N 4000
#define PERIOD 48
#define STEP_MS (30 * 60 * 1000) /* a period is a day: time features help */
#define SPIKE 2600
#define SHIFT 3300

/* A daily-looking series: a sine of period 48 plus seeded noise (xorshift,
 * so the series does not depend on libc's rand). */
static void series(double *v, int n, int plant)
{
	uint64_t s = 88172645463325252ULL;
	for (int i = 0; i < n; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		double u = (double)(s >> 11) / 9007199254740992.0 - 0.5;
		v[i] = 10 + 3 * sin(2 * M_PI * i / PERIOD) + 0.2 * u;
	}
	if (plant) {
		v[SPIKE] += 9;
		/* A level shift that stays inside the range seen: only the model
		 * (the sine's shape broken) can tell. */
		for (int i = SHIFT; i < n; i++)
			v[i] = 10 + 1.5 * (v[i] - 10) + 1.0;
	}
}

static void run(const det_opts *o, const double *v, int n, det_out *out)
{
	det *d = NULL;
	char err[128];
	assert_int_equal(det_new(o, &d, err, sizeof err), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(det_feed(d, (int64_t)i * STEP_MS, v[i], &out[i]), 0);
	det_free(&d);
	assert_null(d);
}

static void test_deterministic(void **state)
{
	(void)state;
	det_opts o;
	det_opts_default(&o);
	o.refit = 1000;
	double *v = xmalloc(N * sizeof *v);
	det_out *a = xmalloc(N * sizeof *a), *b = xmalloc(N * sizeof *b);
	series(v, N, 1);
	run(&o, v, N, a);
	run(&o, v, N, b);
	assert_memory_equal(a, b, N * sizeof *a);
	/* Another seed fits other weights: the raw scores differ somewhere. */
	o.seed = 2;
	run(&o, v, N, b);
	int differ = 0;
	for (int i = 0; i < N; i++)
		differ |= a[i].raw != b[i].raw;
	assert_true(differ);
	free(v);
	free(a);
	free(b);
}

static void test_probation(void **state)
{
	(void)state;
	det_opts o;
	det_opts_default(&o);
	o.probation = 600;
	double *v = xmalloc(N * sizeof *v);
	det_out *out = xmalloc(N * sizeof *out);
	series(v, N, 0);
	/* A spike inside the probation is not scored. */
	v[300] += 50;
	run(&o, v, 1000, out);
	for (int i = 0; i < o.probation; i++) {
		assert_int_equal(out[i].scored, 0);
		assert_true(out[i].score == 0 && out[i].raw == 0 && out[i].flag == 0);
	}
	for (int i = o.probation; i < 1000; i++) {
		assert_int_equal(out[i].scored, 1);
		assert_true(out[i].score >= 0 && out[i].score <= 1);
		assert_true(out[i].raw >= 0 && out[i].raw < 1);
	}
	assert_int_equal(det_probation_for(100), 15);
	assert_int_equal(det_probation_for(22695), 750);
	free(v);
	free(out);
}

/* The spike and the shift are flagged within a few samples, with at most
 * three flags elsewhere after the probation. */
static void test_planted(void **state)
{
	(void)state;
	det_opts o;
	det_opts_default(&o);
	o.suppress = 100;
	double *v = xmalloc(N * sizeof *v);
	det_out *out = xmalloc(N * sizeof *out);
	series(v, N, 1);
	run(&o, v, N, out);
	int spike = 0, shift = 0, other = 0;
	for (int i = 0; i < N; i++) {
		if (!out[i].flag)
			continue;
		if (i >= SPIKE && i < SPIKE + 10)
			spike++;
		else if (i >= SHIFT && i < SHIFT + PERIOD)
			shift++;
		else
			other++;
	}
	printf("flags: spike %d, shift %d, elsewhere %d\n", spike, shift, other);
	assert_true(spike >= 1);
	assert_true(shift >= 1);
	assert_true(other <= 3);
	/* Without the anomalies the same detector stays almost silent. */
	series(v, N, 0);
	run(&o, v, N, out);
	other = 0;
	for (int i = 0; i < N; i++)
		other += out[i].flag;
	assert_true(other <= 3);
	free(v);
	free(out);
}

static void test_memory_bounded(void **state)
{
	(void)state;
	det_opts o;
	det_opts_default(&o);
	o.history = 1000;
	o.refit = 500;
	det *d = NULL;
	char err[128];
	det_out out;
	assert_int_equal(det_new(&o, &d, err, sizeof err), 0);
	size_t m0 = det_memory(d);
	assert_true(m0 < (size_t)1 << 20);
	for (int i = 0; i < 20000; i++) {
		double v = 5 + sin(i * 0.1) + (i % 7) * 0.01;
		assert_int_equal(det_feed(d, (int64_t)i * 1000, v, &out), 0);
		assert_int_equal(det_memory(d), m0);
	}
	/* One fit at the probation's end, then one per refit period. */
	assert_int_equal(det_fits(d), 1 + (20000 - 750) / 500);
	assert_int_equal(det_feed(d, 0, NAN, &out), -EINVAL);
	assert_int_equal(det_feed(d, 0, INFINITY, &out), -EINVAL);
	det_free(&d);
}

static void test_options(void **state)
{
	(void)state;
	det_opts o;
	det *d = NULL;
	char err[128];
	struct { int field, value; } bad[] = { { 0, 1 }, { 0, 300 }, { 1, 10 }, { 2, 100 } };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		det_opts_default(&o);
		int *f[] = { &o.window, &o.probation, &o.history };
		*f[bad[i].field] = bad[i].value;
		err[0] = '\0';
		assert_int_equal(det_new(&o, &d, err, sizeof err), -EINVAL);
		assert_null(d);
		assert_true(err[0] != '\0');
	}
	det_opts_default(&o);
	o.threshold = 0;
	assert_int_equal(det_new(&o, &d, err, sizeof err), -EINVAL);
	/* A constant series cannot be fitted, yet feeding it is no error. */
	det_opts_default(&o);
	o.probation = 100;
	o.refit = 100;
	assert_int_equal(det_new(&o, &d, err, sizeof err), 0);
	det_out out;
	for (int i = 0; i < 400; i++)
		assert_int_equal(det_feed(d, i, 7.0, &out), 0);
	assert_int_equal(out.flag, 0);
	assert_int_equal(det_feed(d, 400, 70.0, &out), 0);
	assert_int_equal(out.flag, 1); /* the spatial check */
	det_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_probation),
		cmocka_unit_test(test_planted),
		cmocka_unit_test(test_memory_bounded),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
