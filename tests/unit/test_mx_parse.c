/* metrics/mx_batch and metrics/mx_parse*: validation of samples, the JSON
 * sample and call parsers, Influx line protocol, OTLP JSON; every refusal
 * names its index or line and field. */
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
#include "metrics/mx.h"

/* A batch as text, one sample a line: "agent metric ts value k=v,k=v". */
static char *dump(const mx_batch *b)
{
	size_t cap = 256, n = 0;
	char *s = xmalloc(cap);
	s[0] = '\0';
	for (size_t i = 0; i < mx_batch_len(b); i++) {
		const mx_sample *x = mx_batch_get(b, i);
		char line[4096];
		int o = snprintf(line, sizeof line, "%s %s %lld %.17g", x->agent, x->metric,
				 (long long)x->ts_ms, x->value);
		for (unsigned t = 0; t < x->ntags; t++)
			o += snprintf(line + o, sizeof line - (size_t)o, "%c%s=%s", t ? ',' : ' ',
				      x->tags[t].k, x->tags[t].v);
		snprintf(line + o, sizeof line - (size_t)o, "\n");
		size_t l = strlen(line);
		if (n + l + 1 > cap) {
			cap = (n + l + 1) * 2;
			s = xrealloc(s, cap);
		}
		memcpy(s + n, line, l + 1);
		n += l;
	}
	return s;
}

#define assert_dump(b, want)                      \
	do {                                      \
		char *d_ = dump(b);               \
		assert_string_equal(d_, want);    \
		free(d_);                         \
	} while (0)

static void test_batch_valid(void **state)
{
	(void)state;
	char err[256];
	mx_batch *b = mx_batch_new();
	mx_tag t[] = { { "zone", "eu" }, { "host", "h1" }, { "a.b-c_d", "" } };
	assert_int_equal(mx_batch_add(b, "agent-1:x", "cpu.percent", 1000, 1.5, t, 3, err,
				      sizeof err), 0);
	/* Same agent, metric and tags in another order: shared copies, same text. */
	mx_tag t2[] = { { "host", "h1" }, { "a.b-c_d", "" }, { "zone", "eu" } };
	assert_int_equal(mx_batch_add(b, "agent-1:x", "cpu.percent", 2000, -0.0, t2, 3, err,
				      sizeof err), 0);
	assert_int_equal(mx_batch_add(b, "b", "m", -5, 1e300, NULL, 0, err, sizeof err), 0);
	assert_int_equal(mx_batch_len(b), 3);
	assert_ptr_equal(mx_batch_get(b, 0)->tags, mx_batch_get(b, 1)->tags);
	assert_null(mx_batch_get(b, 3));
	assert_dump(b, "agent-1:x cpu.percent 1000 1.5 a.b-c_d=,host=h1,zone=eu\n"
		       "agent-1:x cpu.percent 2000 -0 a.b-c_d=,host=h1,zone=eu\n"
		       "b m -5 1.0000000000000001e+300\n");
	/* Names at their limits. */
	char n128[129], n129[130], k64[65], v256[257];
	memset(n128, 'a', 128), n128[128] = '\0';
	memset(n129, 'a', 129), n129[129] = '\0';
	memset(k64, 'k', 64), k64[64] = '\0';
	memset(v256, 'v', 256), v256[256] = '\0';
	mx_tag big[MX_TAGS_MAX];
	char keys[MX_TAGS_MAX][8];
	for (int i = 0; i < MX_TAGS_MAX; i++) {
		snprintf(keys[i], sizeof keys[i], "k%02d", MX_TAGS_MAX - i);
		big[i] = (mx_tag){ keys[i], "é" };
	}
	assert_int_equal(mx_batch_add(b, n128, n128, 0, 0, big, MX_TAGS_MAX, err, sizeof err), 0);
	assert_string_equal(mx_batch_get(b, 3)->tags[0].k, "k01");
	mx_tag lim[] = { { k64, v256 } };
	assert_int_equal(mx_batch_add(b, "a", "m", 0, 0, lim, 1, err, sizeof err), 0);
	assert_true(mx_name_ok(n128));
	assert_false(mx_name_ok(n129));
	assert_false(mx_name_ok(""));
	assert_false(mx_name_ok(NULL));
	assert_false(mx_name_ok("a b"));
	assert_false(mx_name_ok("a/b"));
	assert_false(mx_name_ok("é"));
	mx_batch_free(&b);
	assert_null(b);
	mx_batch_free(&b);
}

static void test_batch_refusals(void **state)
{
	(void)state;
	char err[256];
	char k65[66], v257[258], n129[130];
	memset(k65, 'k', 65), k65[65] = '\0';
	memset(v257, 'v', 257), v257[257] = '\0';
	memset(n129, 'n', 129), n129[129] = '\0';
	struct {
		const char *agent, *metric;
		double v;
		mx_tag t[MX_TAGS_MAX + 1];
		unsigned nt;
		const char *why;
	} cases[] = {
		{ "a b", "m", 1, { { 0 } }, 0, "agent: \"a b\"" },
		{ "", "m", 1, { { 0 } }, 0, "agent: \"\"" },
		{ n129, "m", 1, { { 0 } }, 0, "agent:" },
		{ "a", "m\n", 1, { { 0 } }, 0, "metric: \"m\\x0a\"" },
		{ "a", "m", NAN, { { 0 } }, 0, "value: not a finite number" },
		{ "a", "m", INFINITY, { { 0 } }, 0, "value: not a finite number" },
		{ "a", "m", -INFINITY, { { 0 } }, 0, "value: not a finite number" },
		{ "a", "m", 1, { { "agent", "x" } }, 1, "tags: key \"agent\" is reserved" },
		{ "a", "m", 1, { { "a:b", "x" } }, 1, "tags: key \"a:b\"" },
		{ "a", "m", 1, { { "", "x" } }, 1, "tags: key \"\"" },
		{ "a", "m", 1, { { k65, "x" } }, 1, "tags: key \"kkkk" },
		{ "a", "m", 1, { { "k", v257 } }, 1, "tags: value of \"k\" is longer" },
		{ "a", "m", 1, { { "k", "\x7f" } }, 1, "tags: value of \"k\" is not UTF-8" },
		{ "a", "m", 1, { { "k", "a\tb" } }, 1, "tags: value of \"k\" is not UTF-8" },
		{ "a", "m", 1, { { "k", "\xc3" } }, 1, "tags: value of \"k\" is not UTF-8" },
		{ "a", "m", 1, { { "k", "\xed\xa0\x80" } }, 1, "tags: value of \"k\" is not UTF-8" },
		{ "a", "m", 1, { { "k", NULL } }, 1, "tags: value of \"k\"" },
		{ "a", "m", 1, { { "k", "1" }, { "j", "2" }, { "k", "3" } }, 3,
		  "tags: key \"k\" appears twice" },
		{ "a", "m", 1, { { 0 } }, MX_TAGS_MAX + 1, "tags: more than 16" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mx_batch *b = mx_batch_new();
		err[0] = '\0';
		int rc = mx_batch_add(b, cases[i].agent, cases[i].metric, 0, cases[i].v, cases[i].t,
				      cases[i].nt, err, sizeof err);
		if (rc != -EINVAL || strncmp(err, cases[i].why, strlen(cases[i].why)))
			fail_msg("case %zu: rc %d err \"%s\", want \"%s\"", i, rc, err, cases[i].why);
		assert_int_equal(mx_batch_len(b), 0);
		mx_batch_free(&b);
	}
}

static void test_batch_max(void **state)
{
	(void)state;
	char err[256];
	mx_batch *b = mx_batch_new();
	mx_tag t[] = { { "host", "h" } };
	for (int i = 0; i < MX_BATCH_MAX; i++) {
		char m[16];
		snprintf(m, sizeof m, "m%d", i % 7);
		assert_int_equal(mx_batch_add(b, "a", m, i, i, t, 1, err, sizeof err), 0);
	}
	assert_int_equal(mx_batch_add(b, "a", "m", 0, 0, NULL, 0, err, sizeof err), -E2BIG);
	assert_int_equal(mx_batch_len(b), MX_BATCH_MAX);
	const mx_sample *s = mx_batch_get(b, 99999);
	assert_string_equal(s->metric, "m4"); /* 99999 % 7 */
	assert_true(s->value == 99999.0 && s->ts_ms == 99999);
	mx_batch_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_valid),
		cmocka_unit_test(test_batch_refusals),
		cmocka_unit_test(test_batch_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
