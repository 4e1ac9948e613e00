/* dataset/profile: figures against a reference computed here on random
 * data, the HyperLogLog's error, type inference edge cases, bounds. The
 * reference tests run twice: record by record (ds_profile_add), and in
 * batches of random sizes (ds_profile_add_batch, the reader's batches),
 * whose runs parse, count and hash by other code. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/csv.h"
#include "base/mem.h"
#include "dataset/profile.h"

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* Set by the batch tests' setup: profile_text and column_of go through
 * the batch path. */
static int g_batch;
static uint64_t g_seed = 3;

static int feed(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	(void)line;
	return ds_profile_add(ud, row, f, nf);
}

static int feed_batch(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	return ds_profile_add_batch(ud, row, f, nrec, nf);
}

static int batch_on(void **state)
{
	(void)state;
	g_batch = 1;
	return 0;
}

static int batch_off(void **state)
{
	(void)state;
	g_batch = 0;
	return 0;
}

/* Profiles a whole CSV text through the reader, as an upload would. */
static json_t *profile_text(const char *s, size_t n)
{
	ds_profile *p = ds_profile_new();
	char err[200] = "";
	csv_reader *r = csv_new(0, feed, p);
	if (g_batch)
		csv_set_batch(r, feed_batch);
	int rc = csv_feed(r, s, n);
	if (!rc)
		rc = csv_finish(r);
	if (rc)
		fail_msg("csv: %d %s", rc, csv_error(r, NULL, NULL) ? csv_error(r, NULL, NULL) : err);
	json_t *j = NULL;
	assert_int_equal(ds_profile_json(p, csv_delimiter(r), &j), 0);
	assert_non_null(j);
	csv_free(&r);
	ds_profile_free(&p);
	assert_null(p);
	return j;
}

static json_t *column(json_t *j, const char *name)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(j, "columns"), i, c)
		if (!strcmp(json_string_value(json_object_get(c, "name")), name))
			return c;
	fail_msg("no column %s", name);
	return NULL;
}

static double num(json_t *c, const char *k)
{
	json_t *v = json_object_get(c, k);
	if (!json_is_number(v))
		fail_msg("%s is not a number", k);
	return json_number_value(v);
}

struct text {
	char *s;
	size_t n, cap;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		if ((size_t)k < t->cap - t->n) {
			t->n += (size_t)k;
			return;
		}
		t->cap = t->cap * 2 + (size_t)k + 64;
		t->s = xrealloc(t->s, t->cap);
	}
}

static void test_against_reference(void **state)
{
	(void)state;
	enum { N = 5000, NWORDS = 15 };
	static const char *const words[NWORDS] = { "red",   "green", "blue",  "cyan", "magenta",
						   "black", "white", "amber", "olive", "navy",
						   "teal",  "ruby",  "gold",  "jade", "plum" };
	uint64_t seed = 7, wcount[NWORDS] = { 0 };
	struct text t = { 0 };
	double sum = 0, fmin = INFINITY, fmax = -INFINITY, *xs = xmalloc(N * sizeof *xs);
	long long imin = LLONG_MAX, imax = LLONG_MIN, isum = 0;
	size_t nint = 0, nfloat = 0, nnull_i = 0, ntrue = 0;
	char dmin[11] = "9999-99-99", dmax[11] = "0000-00-00";
	add(&t, "i;f;w;b;d\n");
	for (int r = 0; r < N; r++) {
		char d[11];
		if (rnd(&seed) % 10 == 0) {
			add(&t, "%s;", rnd(&seed) % 2 ? "" : "NA");
			nnull_i++;
		} else {
			long long v = (long long)(rnd(&seed) % 2000001) - 1000000;
			add(&t, "%lld;", v);
			imin = v < imin ? v : imin;
			imax = v > imax ? v : imax;
			isum += v;
			nint++;
		}
		double x = ((double)rnd(&seed) / (1u << 31) - 0.5) * 1e4;
		add(&t, "%.17g;", x);
		xs[nfloat++] = x;
		sum += x;
		fmin = x < fmin ? x : fmin;
		fmax = x > fmax ? x : fmax;
		int w = (int)(rnd(&seed) % NWORDS);
		w = w > 7 && rnd(&seed) % 2 ? 0 : w; /* skewed: red is the most frequent */
		wcount[w]++;
		add(&t, "\"%s\";", words[w]);
		int b = (int)(rnd(&seed) % 2);
		ntrue += b;
		add(&t, "%s;", b ? "true" : "False");
		snprintf(d, sizeof d, "%04d-%02d-%02d", 1990 + (int)(rnd(&seed) % 40),
			 1 + (int)(rnd(&seed) % 12), 1 + (int)(rnd(&seed) % 28));
		if (strcmp(d, dmin) < 0)
			memcpy(dmin, d, sizeof d);
		if (strcmp(d, dmax) > 0)
			memcpy(dmax, d, sizeof d);
		add(&t, "%s\n", d);
	}
	json_t *j = profile_text(t.s, t.n);
	assert_int_equal(json_integer_value(json_object_get(j, "rows")), N);
	assert_string_equal(json_string_value(json_object_get(j, "delimiter")), ";");
	assert_int_equal(json_integer_value(json_object_get(j, "column_count")), 5);

	json_t *c = column(j, "i");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "int");
	assert_int_equal(json_integer_value(json_object_get(c, "nulls")), nnull_i);
	assert_int_equal(json_integer_value(json_object_get(c, "count")), nint);
	assert_true(json_is_integer(json_object_get(c, "min")));
	assert_int_equal(json_integer_value(json_object_get(c, "min")), imin);
	assert_int_equal(json_integer_value(json_object_get(c, "max")), imax);
	assert_true(fabs(num(c, "mean") - (double)isum / (double)nint) < 1e-6);
	assert_false(json_boolean_value(json_object_get(c, "distinct_exact")));
	assert_true(json_is_null(json_object_get(c, "top")));
	assert_non_null(strstr(json_string_value(json_object_get(c, "top_dropped")), "1000"));

	c = column(j, "f");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "float");
	double mean = sum / N, ss = 0;
	for (size_t i = 0; i < nfloat; i++)
		ss += (xs[i] - mean) * (xs[i] - mean);
	assert_true(num(c, "min") == fmin && num(c, "max") == fmax);
	assert_true(fabs(num(c, "mean") - mean) < 1e-9 * 1e4);
	assert_true(fabs(num(c, "std") - sqrt(ss / (N - 1))) < 1e-9 * sqrt(ss / (N - 1)));
	double dist = num(c, "distinct");
	assert_true(fabs(dist - N) < 0.02 * N);

	c = column(j, "w");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "string");
	assert_int_equal(json_integer_value(json_object_get(c, "distinct")), NWORDS);
	assert_true(json_boolean_value(json_object_get(c, "distinct_exact")));
	json_t *top = json_object_get(c, "top");
	assert_int_equal(json_array_size(top), DS_TOP_SHOW);
	assert_string_equal(json_string_value(json_object_get(json_array_get(top, 0), "value")),
			    "red");
	uint64_t prev = UINT64_MAX;
	for (size_t i = 0; i < json_array_size(top); i++) {
		json_t *e = json_array_get(top, i);
		const char *v = json_string_value(json_object_get(e, "value"));
		uint64_t cnt = (uint64_t)json_integer_value(json_object_get(e, "count"));
		int w = 0;
		while (strcmp(words[w], v))
			w++;
		assert_int_equal(cnt, wcount[w]);
		assert_true(cnt <= prev);
		prev = cnt;
	}
	assert_int_equal(num(c, "min_length"), 3);
	assert_int_equal(num(c, "max_length"), 7);

	c = column(j, "b");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "bool");
	top = json_object_get(c, "top");
	assert_int_equal(json_array_size(top), 2);
	size_t k = strcmp(json_string_value(json_object_get(json_array_get(top, 0), "value")),
			  "true") == 0 ? 0 : 1;
	assert_int_equal(json_integer_value(json_object_get(json_array_get(top, k), "count")),
			 ntrue);

	c = column(j, "d");
	assert_string_equal(json_string_value(json_object_get(c, "type")), "date");
	assert_string_equal(json_string_value(json_object_get(c, "min")), dmin);
	assert_string_equal(json_string_value(json_object_get(c, "max")), dmax);
	json_decref(j);
	free(xs);
	free(t.s);
}

static void test_hll(void **state)
{
	(void)state;
	static const unsigned sizes[] = { 100, 5000, 100000, 1000000 };
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		for (unsigned set = 0; set < 3; set++) {
			uint8_t *regs = xcalloc(1u << DS_HLL_P, 1);
			char v[48];
			for (unsigned i = 0; i < sizes[s]; i++) {
				int n = snprintf(v, sizeof v, "set%u-value-%u", set, i);
				ds_hll_add(regs, ds_hash(v, (size_t)n));
				ds_hll_add(regs, ds_hash(v, (size_t)n)); /* repeats change nothing */
			}
			double e = ds_hll_estimate(regs), err = fabs(e - sizes[s]) / sizes[s];
			if (err > 0.02)
				fail_msg("%u distinct (set %u): estimate %.0f, error %.2f%%",
					 sizes[s], set, e, err * 100);
			free(regs);
		}
	}
	uint8_t *empty = xcalloc(1u << DS_HLL_P, 1);
	assert_true(ds_hll_estimate(empty) == 0.0);
	free(empty);

	/* through a profile: 100k distinct values of one column */
	struct text t = { 0 };
	add(&t, "id\n");
	for (unsigned i = 0; i < 100000; i++)
		add(&t, "user-%u\n", i * 7919u);
	json_t *j = profile_text(t.s, t.n);
	json_t *c = column(j, "id");
	assert_false(json_boolean_value(json_object_get(c, "distinct_exact")));
	assert_true(fabs(num(c, "distinct") - 100000) < 2000);
	json_decref(j);
	free(t.s);
}

/* The type of a one-column table of the given values ('"' first: quoted). */
static json_t *one_column(const char *const *vals, size_t n)
{
	ds_profile *p = ds_profile_new();
	csv_field f = { .p = "c", .n = 1 };
	assert_int_equal(ds_profile_add(p, 0, &f, 1), 0);
	for (size_t i = 0; i < n; i++) {
		int q = vals[i][0] == '"';
		f = (csv_field){ .p = vals[i] + q, .n = strlen(vals[i] + q), .quoted = q };
		assert_int_equal(ds_profile_add(p, i + 1, &f, 1), 0);
	}
	json_t *j = NULL;
	assert_int_equal(ds_profile_json(p, ',', &j), 0);
	ds_profile_free(&p);
	json_t *c = json_incref(json_array_get(json_object_get(j, "columns"), 0));
	json_decref(j);
	return c;
}

#define TYPE_IS(want, ...)                                                                  \
	do {                                                                                \
		static const char *const v_[] = { __VA_ARGS__ };                            \
		json_t *c_ = one_column(v_, sizeof v_ / sizeof v_[0]);                      \
		const char *got_ = json_string_value(json_object_get(c_, "type"));          \
		if (strcmp(got_, want))                                                     \
			fail_msg("%s: want %s, got %s", v_[0], want, got_);                 \
		json_decref(c_);                                                            \
	} while (0)

static void test_types(void **state)
{
	(void)state;
	TYPE_IS("int", "1", "-2", "+3", "007");
	TYPE_IS("int", "9223372036854775807", "-9223372036854775808");
	TYPE_IS("float", "9223372036854775808");
	TYPE_IS("float", "1", "2.5");
	TYPE_IS("float", "1e3", ".5", "1.", "-0.0", "6.02E+23");
	TYPE_IS("string", "1", "inf");
	TYPE_IS("string", "0x10");
	TYPE_IS("string", " 1");
	TYPE_IS("string", "1e");
	TYPE_IS("string", "1e999"); /* not finite */
	TYPE_IS("bool", "true", "FALSE", "True");
	TYPE_IS("string", "true", "1");
	TYPE_IS("string", "yes");
	TYPE_IS("date", "2024-02-29", "1999-12-31");
	TYPE_IS("string", "2023-02-29");
	TYPE_IS("string", "2024-13-01");
	TYPE_IS("string", "2024-1-01");
	TYPE_IS("timestamp", "2024-01-01", "2024-01-01T10:00:00Z");
	TYPE_IS("timestamp", "2024-01-01T10:00:00Z", "2024-01-01");
	TYPE_IS("timestamp", "2024-01-01 10:00", "2024-01-01T10:00:00.123456789+02:00",
		"2024-06-30T23:59:60z", "2024-01-01T00:00-0530", "2024-01-01T00:00:00+01");
	TYPE_IS("string", "2024-01-01T25:00");
	TYPE_IS("string", "2024-01-01T10:00:00.");
	TYPE_IS("string", "2024-01-01T10:00:00+2:00");
	TYPE_IS("string", "2024-01-01T10:00:00Zjunk");
	TYPE_IS("null", "", "NA", "null", "NULL", "NaN", "N/A");
	TYPE_IS("int", "", "NA", "5");
	TYPE_IS("string", "\"", "5");  /* quoted "" is a value */
	TYPE_IS("string", "\"NA", "5"); /* quoted NA too */
	TYPE_IS("string", "nan");

	/* instants compare as instants, print as written */
	static const char *const ts[] = { "2024-01-01T09:00:00Z", "2024-01-01T10:00:00+02:00",
					  "2024-01-01", "2024-01-01T23:30:00-01:00" };
	json_t *c = one_column(ts, 4);
	assert_string_equal(json_string_value(json_object_get(c, "min")), "2024-01-01");
	assert_string_equal(json_string_value(json_object_get(c, "max")),
			    "2024-01-01T23:30:00-01:00");
	json_decref(c);
	static const char *const ts2[] = { "2024-01-01T09:00:00Z", "2024-01-01T10:00:00+02:00" };
	c = one_column(ts2, 2);
	assert_string_equal(json_string_value(json_object_get(c, "min")),
			    "2024-01-01T10:00:00+02:00");
	json_decref(c);

	/* one value: no std; no value: no min */
	static const char *const one[] = { "4" };
	c = one_column(one, 1);
	assert_true(json_is_null(json_object_get(c, "std")));
	assert_int_equal(json_integer_value(json_object_get(c, "max")), 4);
	json_decref(c);
	/* only empty quoted strings: an empty top value (found by fuzz_csv) */
	static const char *const empties[] = { "\"", "\"" };
	c = one_column(empties, 2);
	json_t *e = json_array_get(json_object_get(c, "top"), 0);
	assert_string_equal(json_string_value(json_object_get(e, "value")), "");
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
	json_decref(c);
	static const char *const none[] = { "" };
	c = one_column(none, 1);
	assert_null(json_object_get(c, "min"));
	assert_int_equal(json_integer_value(json_object_get(c, "nulls")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "distinct")), 0);
	json_decref(c);
}

/* The profile of one column fed value by value (NULL: an empty field). */
static json_t *column_of(char **vals, size_t n)
{
	ds_profile *p = ds_profile_new();
	csv_field f = { .p = "c", .n = 1 };
	assert_int_equal(ds_profile_add(p, 0, &f, 1), 0);
	if (g_batch) {
		/* each value in a heap block of its own with exactly CSV_BATCH_PAD
		 * bytes after it, as the reader's batches promise: ASan sees any
		 * read past them */
		csv_field *fs = xcalloc(n ? n : 1, sizeof *fs);
		for (size_t i = 0; i < n; i++) {
			size_t l = vals[i] ? strlen(vals[i]) : 0;
			char *c = xcalloc(l + CSV_BATCH_PAD, 1);
			memcpy(c, vals[i] ? vals[i] : "", l);
			fs[i] = (csv_field){ .p = c, .n = l };
		}
		for (size_t i = 0; i < n;) {
			size_t k = 1 + rnd(&g_seed) % 300;
			k = k < n - i ? k : n - i;
			assert_int_equal(ds_profile_add_batch(p, i + 1, fs + i, k, 1), 0);
			i += k;
		}
		for (size_t i = 0; i < n; i++)
			free((char *)fs[i].p);
		free(fs);
	}
	for (size_t i = 0; !g_batch && i < n; i++) {
		f = (csv_field){ .p = vals[i] ? vals[i] : "", .n = vals[i] ? strlen(vals[i]) : 0 };
		assert_int_equal(ds_profile_add(p, i + 1, &f, 1), 0);
	}
	json_t *j = NULL;
	assert_int_equal(ds_profile_json(p, ',', &j), 0);
	ds_profile_free(&p);
	json_t *c = json_incref(json_array_get(json_object_get(j, "columns"), 0));
	json_decref(j);
	return c;
}

static int same_json(json_t *a, json_t *b, const char *k)
{
	return json_equal(json_object_get(a, k), json_object_get(b, k)) ||
	       (!json_object_get(a, k) && !json_object_get(b, k));
}

/* Random columns, low and high cardinality (across the exact table's 1000
 * values), ints, decimals, both, and a late string or date: mean and std
 * within 1e-12 of a two-pass long double reference; type, min, max and
 * lengths those of the distinct values alone in first-seen order (a value
 * seen again changes nothing but counts). */
static void test_moments_random(void **state)
{
	(void)state;
	uint64_t seed = 11;
	for (int round = 0; round < 60; round++) {
		size_t n = 1 + rnd(&seed) % 20000, card = 1 + rnd(&seed) % (round % 3 ? 40 : 3000);
		int kind = (int)(rnd(&seed) % 4); /* 0 ints, 1 decimals, 2 both, 3 ints then a word */
		double off = (double)(rnd(&seed) % 2000001) - 1e6, scale = 1 + rnd(&seed) % 1000;
		char **v = xcalloc(n, sizeof *v), **uniq = xcalloc(n, sizeof *uniq);
		size_t nu = 0, nv = 0;
		long double sum = 0, ss = 0;
		int isint = 1, numeric = 1;
		for (size_t i = 0; i < n; i++) {
			uint64_t k = rnd(&seed) % card;
			char b[64];
			if (rnd(&seed) % 20 == 0)
				continue; /* a null */
			if (kind == 3 && i == n / 2 && n > 1)
				snprintf(b, sizeof b, "%s", round % 2 ? "word" : "2024-01-01");
			else if (kind == 0 || (kind == 2 && k % 2) || kind == 3)
				snprintf(b, sizeof b, "%lld", (long long)off + (long long)(k * scale));
			else
				snprintf(b, sizeof b, "%.2f", off + (double)k * scale / 64.0);
			v[i] = xstrdup(b);
			size_t u = 0;
			while (u < nu && strcmp(uniq[u], b))
				u++;
			if (u == nu)
				uniq[nu++] = v[i];
			char *end;
			double x = strtod(b, &end);
			numeric &= *end == '\0';
			isint &= strchr(b, '.') == NULL;
			sum += x;
			nv++;
		}
		long double mean = nv ? sum / nv : 0;
		for (size_t i = 0; i < n; i++)
			if (v[i]) {
				long double d = strtod(v[i], NULL) - mean;
				ss += d * d;
			}
		json_t *c = column_of(v, n), *u = column_of(uniq, nu);
		const char *type = json_string_value(json_object_get(c, "type"));
		assert_int_equal(json_integer_value(json_object_get(c, "count")), nv);
		assert_true(same_json(c, u, "type") && same_json(c, u, "min") &&
			    same_json(c, u, "max") && same_json(c, u, "min_length") &&
			    same_json(c, u, "max_length"));
		if (nv && numeric)
			assert_string_equal(type, isint ? "int" : "float");
		if (nv && numeric) {
			double sd = nv > 1 ? (double)sqrtl(ss / (nv - 1)) : 0;
			double tol = 1e-12 * (fabs((double)mean) + sd);
			if (fabs(num(c, "mean") - (double)mean) > tol)
				fail_msg("round %d: mean %.17g, reference %.17Lg", round, num(c, "mean"),
					 mean);
			if (nv > 1 && fabs(num(c, "std") - sd) > 1e-12 * sd)
				fail_msg("round %d: std %.17g, reference %.17g", round, num(c, "std"), sd);
		}
		json_decref(c);
		json_decref(u);
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		free(uniq);
	}
}

static void test_bounds_and_errors(void **state)
{
	(void)state;
	ds_profile *p = ds_profile_new();
	csv_field f[2] = { { .p = "a", .n = 1 }, { .p = "b", .n = 1 } };
	assert_int_equal(ds_profile_add(p, 1, f, 2), -EINVAL); /* no header yet */
	assert_int_equal(ds_profile_add(p, 0, f, 2), 0);
	assert_int_equal(ds_profile_add(p, 0, f, 2), -EINVAL); /* a second header */
	assert_int_equal(ds_profile_add(p, 1, f, 1), -EINVAL); /* ragged */
	/* long distinct values: the exact table gives up on its byte cap */
	char big[1001];
	memset(big, 'x', 1000);
	big[1000] = '\0';
	for (int i = 0; i < 40; i++) {
		big[i] = 'y';
		f[0] = (csv_field){ .p = big, .n = 1000 };
		f[1] = (csv_field){ .p = "1", .n = 1 };
		assert_int_equal(ds_profile_add(p, (uint64_t)i + 1, f, 2), 0);
	}
	json_t *j = NULL;
	assert_int_equal(ds_profile_json(p, '\t', &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "delimiter")), "\t");
	json_t *c = json_array_get(json_object_get(j, "columns"), 0);
	assert_true(json_is_null(json_object_get(c, "top")));
	assert_non_null(strstr(json_string_value(json_object_get(c, "top_dropped")), "bytes"));
	assert_int_equal(json_integer_value(json_object_get(c, "distinct")), 40);
	c = json_array_get(json_object_get(j, "columns"), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "distinct")), 1);
	json_decref(j);
	ds_profile_free(&p);

	/* columns past the cap are counted, not profiled */
	size_t n = DS_PROFILE_MAX_COLS + 5;
	csv_field *wide = xcalloc(n, sizeof *wide);
	for (size_t i = 0; i < n; i++)
		wide[i] = (csv_field){ .p = "c", .n = 1 };
	p = ds_profile_new();
	assert_int_equal(ds_profile_add(p, 0, wide, n), 0);
	assert_int_equal(ds_profile_add(p, 1, wide, n), 0);
	assert_int_equal(ds_profile_json(p, ',', &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "column_count")), n);
	assert_int_equal(json_array_size(json_object_get(j, "columns")), DS_PROFILE_MAX_COLS);
	json_decref(j);
	ds_profile_free(&p);
	free(wide);
}

/* ds_parse_float against strtod, bit for bit, on random decimals of every
 * shape its fast path takes or declines (up to 20 digits, up to 24 after
 * the point, signs, leading zeros, exponents), and ds_parse_float's
 * refusals against the grammar. */
static void test_parse_float(void **state)
{
	(void)state;
	uint64_t seed = 99;
	char s[80];
	for (int it = 0; it < 400000; it++) {
		size_t n = 0;
		uint64_t r = rnd(&seed);
		if (r % 4 == 0)
			s[n++] = r % 8 == 0 ? '-' : '+';
		size_t ip = rnd(&seed) % 12, fp = rnd(&seed) % 25;
		if (rnd(&seed) % 3 == 0)
			ip = rnd(&seed) % 21;
		for (size_t i = 0; i < ip; i++)
			s[n++] = (char)('0' + (i == 0 && rnd(&seed) % 4 ? 1 + rnd(&seed) % 9 : rnd(&seed) % 10));
		int point = fp || rnd(&seed) % 2;
		if (point) {
			s[n++] = '.';
			for (size_t i = 0; i < fp; i++)
				s[n++] = (char)('0' + rnd(&seed) % 10);
		}
		if (rnd(&seed) % 16 == 0)
			n += (size_t)snprintf(s + n, sizeof s - n, "e%d", (int)(rnd(&seed) % 80) - 40);
		s[n] = '\0';
		double got = 0, want = strtod(s, NULL);
		int rc = ds_parse_float(s, n, &got);
		int ok = ip + fp > 0;
		if (!ok) {
			assert_int_equal(rc, -EINVAL);
			continue;
		}
		if (rc || memcmp(&got, &want, sizeof got))
			fail_msg("%s: rc %d, %.17g, strtod %.17g", s, rc, got, want);
	}
	/* exact edges of the fast path: 2^53, 2^53 + 1, 22 and 23 places */
	static const char *const edge[] = { "9007199254740992",     "9007199254740993",
					    "-9007199254740993.0",  "0.0000000000000000000001",
					    "0.00000000000000000000001", "1.7976931348623157",
					    "-0",                   "-0.000",
					    "123456789012345678901234567890" };
	for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
		double got, want = strtod(edge[i], NULL);
		assert_int_equal(ds_parse_float(edge[i], strlen(edge[i]), &got), 0);
		if (memcmp(&got, &want, sizeof got))
			fail_msg("%s: %.17g, strtod %.17g", edge[i], got, want);
	}
	static const char *const bad[] = { "", "-", ".", "+.", "1e", "1e+", "1x", "0x10", " 1",
					   "1 ", "inf", "nan", "1..2", "--1", "1.2.3" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		double x;
		if (ds_parse_float(bad[i], strlen(bad[i]), &x) != -EINVAL)
			fail_msg("'%s' taken", bad[i]);
	}
	double x;
	assert_int_equal(ds_parse_float("1e999", 5, &x), -ERANGE);
	/* no NUL needed after the text: the bytes past n are not read as digits */
	assert_int_equal(ds_parse_float("12.5x", 4, &x), 0);
	assert_true(x == 12.5);
}

/* ds_hash's values are stored (HLL estimates): its word-wise tail must
 * give what the byte-wise definition gives, at every length and offset. */
static uint64_t mum_ref(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t hash_ref(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xa0761d6478bd642fULL);
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w = 0;
		for (int k = 0; k < 8; k++)
			w |= (uint64_t)(unsigned char)p[i + k] << (8 * k);
		h = mum_ref(h ^ 0xe7037ed1a0b428dbULL, w ^ 0x8ebc6af09c88c6e3ULL) ^ h;
	}
	uint64_t w = 0;
	for (size_t k = 0; i + k < n; k++)
		w |= (uint64_t)(unsigned char)p[i + k] << (8 * k);
	h = mum_ref(h ^ 0x589965cc75374cc3ULL, w ^ 0x1d8e4e27c47d124fULL);
	return mum_ref(h ^ 0xa0761d6478bd642fULL, h ^ 0xe7037ed1a0b428dbULL);
}

static void test_hash_reference(void **state)
{
	(void)state;
	uint64_t seed = 5;
	char buf[96];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)rnd(&seed);
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; off + n <= 80; n++) {
			/* a heap copy of exactly n bytes: ASan sees any read past it */
			char *v = xmalloc(n ? n : 1);
			memcpy(v, buf + off, n);
			if (ds_hash(v, n) != hash_ref(v, n))
				fail_msg("length %zu offset %zu", n, off);
			free(v);
		}
	/* a known value pins the definition itself */
	assert_true(ds_hash("", 0) == hash_ref("", 0));
}

struct tv {
	char *s;
	uint64_t count;
};

static int tv_cmp(const void *a, const void *b)
{
	const struct tv *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	size_t nx = strlen(x->s), ny = strlen(y->s), n = nx < ny ? nx : ny;
	int r = memcmp(x->s, y->s, n);
	return r ? r : (nx > ny) - (nx < ny);
}

/* The exact table (a tag per slot, probed a group at a time; values of up
 * to 8 bytes compared as words, longer ones by hash and bytes): up to
 * DS_TOP_TRACK distinct values of every length class, long ones alike but
 * for their middle bytes, each seen a random number of times in a random
 * order, count exactly, with the top values and counts of a brute-force
 * reference; one more distinct value drops the table. */
static void test_exact_table(void **state)
{
	(void)state;
	uint64_t seed = 99;
	static const size_t kinds[] = { 1, 7, 300, DS_TOP_TRACK, DS_TOP_TRACK + 1 };
	for (size_t r = 0; r < 10; r++) {
		size_t k = kinds[r % 5], total = 0;
		struct tv *v = xcalloc(k, sizeof *v);
		for (size_t i = 0; i < k; i++) {
			char b[64];
			size_t cls = (i + r) % 4;
			if (cls == 0)
				snprintf(b, sizeof b, "%zu", i); /* 1 to 4 bytes */
			else if (cls == 1)
				snprintf(b, sizeof b, "v%07zu", i); /* 8 */
			else if (cls == 2)
				snprintf(b, sizeof b, "2024-%05zu", i); /* 10 */
			else
				snprintf(b, sizeof b, "prefix--%06zu--suffix--", i); /* 24: same ends */
			v[i].s = xstrdup(b);
			v[i].count = 1 + rnd(&seed) % 5;
			total += v[i].count;
		}
		char **col = xcalloc(total, sizeof *col);
		size_t n = 0;
		for (size_t i = 0; i < k; i++)
			for (uint64_t c = 0; c < v[i].count; c++)
				col[n++] = v[i].s;
		for (size_t i = n; i > 1; i--) {
			size_t j = rnd(&seed) % i;
			char *t = col[i - 1];
			col[i - 1] = col[j];
			col[j] = t;
		}
		json_t *c = column_of(col, n);
		assert_int_equal(json_integer_value(json_object_get(c, "count")), n);
		json_t *top = json_object_get(c, "top");
		if (k > DS_TOP_TRACK) {
			assert_true(json_is_null(top));
			assert_false(json_is_true(json_object_get(c, "distinct_exact")));
		} else {
			assert_true(json_is_true(json_object_get(c, "distinct_exact")));
			assert_int_equal(json_integer_value(json_object_get(c, "distinct")), k);
			qsort(v, k, sizeof *v, tv_cmp);
			assert_int_equal(json_array_size(top), k < DS_TOP_SHOW ? k : DS_TOP_SHOW);
			for (size_t i = 0; i < json_array_size(top); i++) {
				json_t *e = json_array_get(top, i);
				assert_string_equal(json_string_value(json_object_get(e, "value")), v[i].s);
				assert_int_equal(json_integer_value(json_object_get(e, "count")), v[i].count);
			}
		}
		json_decref(c);
		for (size_t i = 0; i < k; i++)
			free(v[i].s);
		free(v);
		free(col);
	}
}

static void fmt_decimal(char *b, size_t cap, uint64_t *seed)
{
	static const char *const odd[] = { "+1.5", "1e3", "-2.5E-3", "12345678.9", ".5", "5.",
					   "-0.0", "-.25", "0", "-0", "00012.50",
					   "123456789012345678", "-9007199254740993", "1234567.8",
					   "99999999", "-99999999" };
	uint64_t r = rnd(seed);
	int fl = (int)(r % 8), neg = (int)(r >> 3) % 3 == 0;
	uint64_t ip = rnd(seed) % 100000000, fp = rnd(seed) % 10000000;
	if (r % 29 == 0) {
		snprintf(b, cap, "%s", odd[(r >> 5) % (sizeof odd / sizeof odd[0])]);
		return;
	}
	ip %= (uint64_t)pow(10, 8 - fl - neg > 0 ? 8 - fl - neg : 1); /* most fit 8 bytes */
	if (!fl)
		snprintf(b, cap, "%s%llu", neg ? "-" : "", (unsigned long long)ip);
	else
		snprintf(b, cap, "%s%llu.%0*llu", neg ? "-" : "", (unsigned long long)ip, fl,
			 (unsigned long long)(fp % (uint64_t)pow(10, fl)));
}

/* The runs' number parsers (eight digits at a time, the point cut out of
 * the word) against strtod: past the exact table every value of a float or
 * int column is parsed by them or, for the forms they leave, by the general
 * parser; min and max must be strtod's doubles bit for bit, the mean that
 * of the long double sum. Ints of 9 to 16 digits take the two-word path. */
static void test_fast_numbers(void **state)
{
	(void)state;
	for (int round = 0; round < 8; round++) {
		uint64_t seed = 100 + (uint64_t)round;
		size_t n = 20000;
		char **v = xcalloc(n, sizeof *v);
		double lo = INFINITY, hi = -INFINITY;
		long double sum = 0;
		int ints = round % 2;
		for (size_t i = 0; i < n; i++) {
			char b[64];
			if (ints) {
				uint64_t r = rnd(&seed);
				int digits = 1 + (int)(r % 16);
				long long x = (long long)(rnd(&seed) * 65537 + rnd(&seed)) %
					      (long long)pow(10, digits);
				snprintf(b, sizeof b, "%lld", r % 3 ? x : -x);
			} else {
				fmt_decimal(b, sizeof b, &seed);
			}
			v[i] = xstrdup(b);
			double x = strtod(b, NULL);
			lo = x < lo ? x : lo;
			hi = x > hi ? x : hi;
			sum += x;
		}
		for (int batch = 0; batch < 2; batch++) {
			g_batch = batch;
			json_t *c = column_of(v, n);
			g_batch = 0;
			assert_string_equal(json_string_value(json_object_get(c, "type")),
					    ints ? "int" : "float");
			assert_int_equal(json_integer_value(json_object_get(c, "count")), n);
			if (num(c, "min") != lo || num(c, "max") != hi)
				fail_msg("round %d batch %d: min %.17g max %.17g, strtod %.17g %.17g",
					 round, batch, num(c, "min"), num(c, "max"), lo, hi);
			double mean = (double)(sum / n);
			if (fabs(num(c, "mean") - mean) > 1e-12 * (fabs(mean) + num(c, "std")))
				fail_msg("round %d batch %d: mean %.17g, reference %.17g", round, batch,
					 num(c, "mean"), mean);
			json_decref(c);
		}
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
	}
}

/* A batch whose records are all of one kind but for a null or an odd value
 * here and there, a column that turns from int to float to string, and
 * one that turns from table to stream: the same figures as record by
 * record (the moments to rounding). */
static void test_batch_same(void **state)
{
	(void)state;
	uint64_t seed = 42;
	for (int round = 0; round < 6; round++) {
		struct text t = { 0 };
		size_t rows = 3000 + rnd(&seed) % 5000;
		add(&t, "a,b,c,d,e\n");
		for (size_t r = 0; r < rows; r++) {
			uint64_t x = rnd(&seed);
			char dec[64];
			fmt_decimal(dec, sizeof dec, &seed);
			add(&t, "%llu,", (unsigned long long)(x % (round % 2 ? 500 : 5000)));
			if (r == rows / 2 && round % 3 == 0)
				add(&t, "2.5,"); /* the int column turns float */
			else if (r == rows * 3 / 4 && round % 3 == 1)
				add(&t, "word,"); /* or string */
			else
				add(&t, "%lld,", (long long)(x % 100000) - 50000);
			add(&t, "%s,", x % 97 == 0 ? "NA" : x % 89 == 0 ? "\"NA\"" : dec);
			add(&t, "%s,", x % 83 == 0 ? "" : x % 2 ? "user" : "u");
			add(&t, "name%llu\n", (unsigned long long)(x % 3000));
		}
		g_batch = 0;
		json_t *a = profile_text(t.s, t.n);
		g_batch = 1;
		json_t *b = profile_text(t.s, t.n);
		g_batch = 0;
		size_t i;
		json_t *ca;
		json_array_foreach(json_object_get(a, "columns"), i, ca) {
			json_t *cb = json_array_get(json_object_get(b, "columns"), i);
			const char *k;
			json_t *va;
			json_object_foreach(ca, k, va) {
				json_t *vb = json_object_get(cb, k);
				if ((!strcmp(k, "mean") || !strcmp(k, "std")) && json_is_real(va)) {
					double x = json_real_value(va), y = json_number_value(vb);
					if (fabs(x - y) > 1e-12 * (fabs(x) + 1))
						fail_msg("round %d column %zu %s: %.17g vs %.17g", round, i,
							 k, x, y);
				} else if (!json_equal(va, vb)) {
					char *sa = json_dumps(va, JSON_ENCODE_ANY),
					     *sb = json_dumps(vb, JSON_ENCODE_ANY);
					fail_msg("round %d column %zu %s: %s vs %s", round, i, k, sa, sb);
				}
			}
		}
		assert_int_equal(json_object_size(json_array_get(json_object_get(a, "columns"), 0)),
				 json_object_size(json_array_get(json_object_get(b, "columns"), 0)));
		json_decref(a);
		json_decref(b);
		free(t.s);
	}
}

/* ---- histograms ----
 * The reference: the definition in profile.c's histogram section, computed
 * here from the whole column at once (the least e, then each value's bin);
 * the profile must give it whatever the order of the values, one by one or
 * in batches, from the exact table or from the stream. */

/* floor(x / 2^e), and -1 for a negative x whose quotient underflows. */
static double ref_floor(double x, int e)
{
	double p = floor(ldexp(x, -e));
	return p == 0 && x < 0 ? -1 : p;
}

static int ref_fits(double lo, double hi, int e)
{
	double a = ref_floor(lo, e), b = ref_floor(hi, e);
	return fabs(a) < 0x1p53 && fabs(b) < 0x1p53 && b - a < DS_HIST_BINS;
}

static json_t *ref_bin(json_t *lo, json_t *hi, uint64_t n)
{
	json_t *o = json_object();
	json_object_set_new(o, "lo", lo);
	json_object_set_new(o, "hi", hi);
	json_object_set_new(o, "count", json_integer((json_int_t)n));
	return o;
}

static double ref_edge(double k, int e)
{
	double x = ldexp(k, e);
	return isinf(x) ? copysign(DBL_MAX, x) : x;
}

/* The histogram of vals[0..n): ints when every one is an int text;
 * json_null() for a float column with an int text of 2^53 or more. */
static json_t *ref_histogram(char **vals, size_t n)
{
	int isint = 1, bigint = 0;
	int64_t *iv = xcalloc(n, sizeof *iv);
	double *dv = xcalloc(n, sizeof *dv), dlo = INFINITY, dhi = -INFINITY;
	int64_t ilo = INT64_MAX, ihi = INT64_MIN;
	uint64_t cnt[DS_HIST_BINS] = { 0 };
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char *end;
		errno = 0;
		long long v = strtoll(vals[i], &end, 10);
		if (errno || *end)
			isint = 0;
		else if (v >= 1LL << 53 || v <= -(1LL << 53))
			bigint = 1;
		iv[i] = v;
		dv[i] = strtod(vals[i], NULL);
		ilo = iv[i] < ilo ? iv[i] : ilo;
		ihi = iv[i] > ihi ? iv[i] : ihi;
		dlo = fmin(dlo, dv[i]);
		dhi = fmax(dhi, dv[i]);
	}
	if (isint) {
		int e = 0;
		while ((uint64_t)(ihi >> e) - (uint64_t)(ilo >> e) >= DS_HIST_BINS)
			e++;
		for (size_t i = 0; i < n; i++)
			cnt[(iv[i] >> e) - (ilo >> e)]++;
		for (int64_t k = ilo >> e; k <= ihi >> e; k++) {
			int64_t lo = (int64_t)((uint64_t)k << e);
			json_array_append_new(a, ref_bin(json_integer(lo),
							 json_integer(lo + (int64_t)(((uint64_t)1 << e) - 1)),
							 cnt[k - (ilo >> e)]));
			if (k == INT64_MAX >> e)
				break;
		}
	} else if (bigint) {
		json_decref(a);
		a = json_null();
	} else {
		int e = -1022;
		while (!ref_fits(dlo, dhi, e))
			e++;
		double base = ref_floor(dlo, e);
		for (size_t i = 0; i < n; i++)
			cnt[(size_t)(ref_floor(dv[i], e) - base)]++;
		if (dlo == dhi)
			json_array_append_new(a, ref_bin(json_real(dlo), json_real(dhi), n));
		else
			for (double k = base; k <= ref_floor(dhi, e); k++)
				json_array_append_new(a, ref_bin(json_real(ref_edge(k, e)),
								 json_real(ref_edge(k + 1, e)),
								 cnt[(size_t)(k - base)]));
	}
	free(iv);
	free(dv);
	return a;
}

/* vals as a one-column CSV in their order, one by one or in batches. */
static json_t *hist_of(char **vals, size_t n, int batch)
{
	struct text t = { 0 };
	add(&t, "v\n");
	for (size_t i = 0; i < n; i++)
		add(&t, "%s\n", vals[i]);
	int was = g_batch;
	g_batch = batch;
	json_t *j = profile_text(t.s, t.n);
	g_batch = was;
	free(t.s);
	json_t *c = column(j, "v"), *h = json_incref(json_object_get(c, "histogram"));
	if (h) { /* the counts cover the column's values */
		size_t i;
		json_t *b;
		json_int_t sum = 0;
		json_array_foreach(h, i, b)
			sum += json_integer_value(json_object_get(b, "count"));
		assert_int_equal(sum, json_integer_value(json_object_get(c, "count")));
		assert_true(json_integer_value(json_object_get(json_array_get(h, 0), "count")) > 0);
		assert_true(json_integer_value(json_object_get(
				    json_array_get(h, json_array_size(h) - 1), "count")) > 0);
		assert_true(json_array_size(h) <= DS_HIST_BINS);
	}
	json_decref(j);
	return h;
}

/* vals in several orders (as given, reversed, shuffled), each one by one
 * and in batches: the same histogram every time, ref when not NULL (and
 * none at all when ref is json_null()). Takes ref. */
static void hist_check(const char *what, char **vals, size_t n, json_t *ref, uint64_t *seed)
{
	json_t *first = NULL;
	for (int order = 0; order < 5; order++) {
		if (order == 1) {
			for (size_t i = 0; i < n / 2; i++) {
				char *t = vals[i];
				vals[i] = vals[n - 1 - i];
				vals[n - 1 - i] = t;
			}
		} else if (order > 1) {
			for (size_t i = n; i > 1; i--) {
				size_t j = rnd(seed) % i;
				char *t = vals[i - 1];
				vals[i - 1] = vals[j];
				vals[j] = t;
			}
		}
		for (int batch = 0; batch < 2; batch++) {
			json_t *h = hist_of(vals, n, batch), *want = first ? first : ref;
			if (!first && h)
				first = json_incref(h);
			if (json_is_null(ref) ? h != NULL : (want && !json_equal(h, want))) {
				char *a = h ? json_dumps(h, 0) : NULL, *b = json_dumps(want, JSON_ENCODE_ANY);
				fail_msg("%s, order %d, batch %d:\n got %s\nwant %s", what, order, batch,
					 a ? a : "none", b);
			}
			json_decref(h);
		}
	}
	json_decref(first);
	json_decref(ref);
}

struct hcol {
	char **v;
	size_t n;
};

static void hput(struct hcol *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hput(struct hcol *c, const char *fmt, ...)
{
	char b[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	c->v = xrealloc(c->v, (c->n + 1) * sizeof *c->v);
	c->v[c->n++] = xstrdup(b);
}

static void hfree(struct hcol *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

/* Checks c against the reference (or no histogram: none set), then empties it. */
static void hdone(const char *what, struct hcol *c, int none, uint64_t *seed)
{
	hist_check(what, c->v, c->n, none ? json_null() : ref_histogram(c->v, c->n), seed);
	hfree(c);
}

static void test_histogram(void **state)
{
	(void)state;
	uint64_t seed = 2024;
	struct hcol c = { 0 };
	/* ints, from the table (few values) and from the stream */
	for (int i = 0; i < 200; i++)
		hput(&c, "%d", (int)(rnd(&seed) % 44) - 3);
	hdone("small ints", &c, 0, &seed);
	for (int i = 0; i < 3000; i++)
		hput(&c, "%lld", (long long)(rnd(&seed) % 10001) - 5000);
	hdone("ints", &c, 0, &seed);
	for (int i = 0; i < 3000; i++)
		hput(&c, "%lld", (long long)(rnd(&seed) << 31 ^ rnd(&seed)) - (1LL << 61));
	hput(&c, "9223372036854775807");
	hput(&c, "-9223372036854775808");
	hdone("the whole int64 range", &c, 0, &seed);
	for (int i = 0; i < 3000; i++)
		hput(&c, "%d", i % 2 ? 7 : -7);
	hdone("two ints", &c, 0, &seed);
	for (int i = 0; i < 300; i++)
		hput(&c, "7");
	hist_check("one int", c.v, c.n, json_loads("[{\"lo\":7,\"hi\":7,\"count\":300}]", 0, NULL),
		   &seed);
	hfree(&c);
	/* floats: negative, tiny, huge; one value: width 0 */
	for (int i = 0; i < 3000; i++)
		hput(&c, "%.2f", ((double)rnd(&seed) - 2147483648.0) / 1e4);
	hput(&c, "12");
	hdone("floats", &c, 0, &seed);
	for (int i = 0; i < 3000; i++)
		hput(&c, "%.16e", ldexp((double)rnd(&seed), (int)(rnd(&seed) % 1960) - 1000) *
					   (i % 3 ? 1 : -1)); /* no int texts (see below) */
	hput(&c, "1.7976931348623157e308");
	hput(&c, "-1.7976931348623157e308");
	hdone("floats over the whole range", &c, 0, &seed);
	for (int i = 0; i < 2000; i++)
		hput(&c, "%s", i % 3 == 0 ? "-5e-324" : i % 3 == 1 ? "1e-320" : "0");
	hdone("subnormals", &c, 0, &seed);
	for (int i = 0; i < 2000; i++)
		hput(&c, "%.17g", i % 2 ? -4.9406564584124654e-324 : 1e300 + i);
	hdone("a subnormal under a wide width", &c, 0, &seed);
	for (int i = 0; i < 1500; i++)
		hput(&c, "2.5%0*d", i % 100, 0); /* distinct texts, one value */
	hist_check("one float", c.v, c.n,
		   json_loads("[{\"lo\":2.5,\"hi\":2.5,\"count\":1500}]", 0, NULL), &seed);
	hfree(&c);
	/* where the bound on indices sets e: values a few ulps below 2^21
	 * (as 1200 texts: trailing zeros) fit at e = -32 in bins up to
	 * 2^53 - 1, and 2^21 itself, short enough for a run, needs e = -31 */
	for (int i = 0; i < 1200; i++) {
		char b[64];
		snprintf(b, sizeof b, "%.17g", ldexp(1, 21) - ldexp(1 + i % 20, -32));
		hput(&c, "%s%0*d", b, i / 20, 0);
	}
	hput(&c, "2097152");
	hdone("indices near 2^53", &c, 0, &seed);
	/* an int column that turns float, wherever the float is */
	for (int i = 0; i < 3000; i++)
		hput(&c, "%d", i);
	hput(&c, "0.5");
	hdone("ints and a float", &c, 0, &seed);
	/* ... at width 1: 31 ints as 1178 texts (signs, leading zeros)
	 * leave the exact table */
	for (int i = 0; i < 1200; i++)
		hput(&c, "%s%0*d", i / 589 % 2 ? "+" : "", 1 + i / 31 % 19, i % 31);
	{
		json_t *h = hist_of(c.v, c.n, 0);
		assert_int_equal(json_array_size(h), 31); /* width 1 */
		json_decref(h);
	}
	hput(&c, "2.5");
	hdone("ints at width 1 and a float", &c, 0, &seed);
	/* ... and a float's finer width: bins of 1/16 from 1 to 2 */
	for (int i = 0; i < 30; i++)
		hput(&c, "%s", i % 3 == 0 ? "1" : i % 3 == 1 ? "2" : "1.5");
	hdone("ints and a float at a finer width", &c, 0, &seed);
	/* an int beyond 2^53 in a float column: none, from the table or not */
	for (int i = 0; i < 3000; i++)
		hput(&c, "%d", i);
	hput(&c, "9007199254740993");
	hput(&c, "0.5");
	hdone("a big int and a float", &c, 1, &seed);
	for (int i = 0; i < 3; i++)
		hput(&c, "%s", i == 0 ? "-9007199254740992" : i == 1 ? "1.5" : "4");
	hdone("a big int and a float, few", &c, 1, &seed);
	for (int i = 0; i < 3000; i++)
		hput(&c, "%d.25", i);
	hput(&c, "9007199254740991"); /* 2^53 - 1: kept */
	hdone("an int below 2^53 and floats", &c, 0, &seed);
	/* a column that becomes string has none */
	for (int i = 0; i < 3000; i++)
		hput(&c, "%d", i);
	hput(&c, "word");
	hdone("ints and a word", &c, 1, &seed);
	hput(&c, "1");
	hput(&c, "word");
	hdone("an int and a word", &c, 1, &seed);
	/* no value: no histogram */
	hput(&c, "NA");
	hdone("nulls", &c, 1, &seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_against_reference),
		cmocka_unit_test(test_hll),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_moments_random),
		cmocka_unit_test(test_bounds_and_errors),
		cmocka_unit_test(test_parse_float),
		cmocka_unit_test(test_hash_reference),
		cmocka_unit_test(test_exact_table),
		cmocka_unit_test(test_fast_numbers),
		cmocka_unit_test(test_batch_same),
		cmocka_unit_test(test_histogram),
		/* the reference tests again, through the batch path */
		cmocka_unit_test_setup_teardown(test_against_reference, batch_on, batch_off),
		cmocka_unit_test_setup_teardown(test_hll, batch_on, batch_off),
		cmocka_unit_test_setup_teardown(test_moments_random, batch_on, batch_off),
		cmocka_unit_test_setup_teardown(test_exact_table, batch_on, batch_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
