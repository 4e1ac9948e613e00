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
#include <time.h>
#include <cmocka.h>
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx.h"
#include "metrics/mx_parse.h"

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

/* Names and tag sets are interned across the whole batch (mx_batch.c
 * invariant 3): equal strings and equal tag sets (in any input order) get
 * one copy, so equal pointers mean the same series and different ones a
 * different series; a refused sample interns nothing. */
static void test_batch_intern(void **state)
{
	(void)state;
	char err[256];
	mx_batch *b = mx_batch_new();
	char a1[8], a2[8], m[8];
	mx_tag t1[] = { { "model", "gpt" }, { "host", "h1" } };
	mx_tag t2[] = { { "host", "h1" }, { "model", "gpt" } }; /* the same set */
	mx_tag t3[] = { { "host", "h2" }, { "model", "gpt" } };
	mx_tag bad_t[] = { { "host", "h9" }, { "agent", "x" } };
	for (int i = 0; i < 30; i++) {
		/* Fresh buffers each time: the batch never keeps the caller's. */
		snprintf(a1, sizeof a1, "ag%d", i % 3);
		snprintf(m, sizeof m, "m%d", i % 2);
		const mx_tag *t = i % 3 == 0 ? t1 : i % 3 == 1 ? t2 : t3;
		assert_int_equal(mx_batch_add(b, a1, m, i, i, t, 2, err, sizeof err), 0);
		/* Refused: a new agent with a reserved key; nothing interned. */
		snprintf(a2, sizeof a2, "new%d", i);
		assert_int_equal(mx_batch_add(b, a2, "m0", i, i, bad_t, 2, err, sizeof err),
				 -EINVAL);
	}
	assert_int_equal(mx_batch_len(b), 30);
	/* The agent's name equal to a metric's: one copy serves both. */
	assert_int_equal(mx_batch_add(b, "m1", "ag2", 0, 0, NULL, 0, err, sizeof err), 0);
	assert_int_equal(mx_batch_add(b, "m1", "m1", 0, 0, NULL, 0, err, sizeof err), 0);
	for (size_t i = 0; i < 30; i++) {
		const mx_sample *x = mx_batch_get(b, i);
		for (size_t j = 0; j < i; j++) {
			const mx_sample *y = mx_batch_get(b, j);
			assert_int_equal(x->agent == y->agent, !strcmp(x->agent, y->agent));
			assert_int_equal(x->metric == y->metric, !strcmp(x->metric, y->metric));
			int same_tags = (i % 3 == 2) == (j % 3 == 2);
			assert_int_equal(x->tags == y->tags, same_tags);
		}
		assert_string_equal(x->tags[0].k, "host");
		assert_string_equal(x->tags[0].v, i % 3 == 2 ? "h2" : "h1");
		assert_string_equal(x->tags[1].v, "gpt");
	}
	const mx_sample *u = mx_batch_get(b, 30), *v = mx_batch_get(b, 31);
	assert_ptr_equal(u->agent, mx_batch_get(b, 1)->metric);
	assert_ptr_equal(u->metric, mx_batch_get(b, 2)->agent);
	assert_ptr_equal(v->agent, u->agent);
	assert_ptr_equal(v->metric, u->agent);
	assert_ptr_equal(v->tags, u->tags);
	mx_batch_free(&b);
}

/* ---- Line protocol ---------------------------------------------------- */

static char *lp(const char *text, enum mx_precision prec, const char *agent, int *rc,
		char *err, size_t errlen)
{
	mx_batch *b = mx_batch_new();
	err[0] = '\0';
	*rc = mx_parse_lp(text, strlen(text), prec, agent, 777, b, err, errlen);
	char *d = dump(b);
	mx_batch_free(&b);
	return d;
}

#define assert_lp(text, prec, agent, want)                                      \
	do {                                                                    \
		int rc_;                                                        \
		char e_[512];                                                   \
		char *d_ = lp(text, prec, agent, &rc_, e_, sizeof e_);          \
		if (rc_)                                                        \
			fail_msg("%s: %s", text, e_);                           \
		assert_string_equal(d_, want);                                  \
		free(d_);                                                       \
	} while (0)

static void test_lp_basic(void **state)
{
	(void)state;
	/* Tags sorted, agent tag taken out, "value" field is the measurement. */
	assert_lp("cpu,host=h1,agent=a1,dc=eu usage=1.5,value=2i,ok=t 1700000000123456789\n",
		  MX_NS, NULL,
		  "a1 cpu.usage 1700000000123 1.5 dc=eu,host=h1\n"
		  "a1 cpu 1700000000123 2 dc=eu,host=h1\n"
		  "a1 cpu.ok 1700000000123 1 dc=eu,host=h1\n");
	/* Default agent, no timestamp (now), comments, blank lines, CRLF, runs of
	 * spaces, leading blanks, no trailing newline. */
	assert_lp("# a comment\r\n\r\n   \n  mem   used=10u,free=-3i   \r\n\tm f=1e3  5\n#x y=1",
		  MX_MS, "dflt",
		  "dflt mem.used 777 10\n"
		  "dflt mem.free 777 -3\n"
		  "dflt m.f 5 1000\n");
	/* Every boolean spelling. */
	assert_lp("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 0", MX_S, "x",
		  "x m.a 0 1\nx m.b 0 1\nx m.c 0 1\nx m.d 0 1\nx m.e 0 1\n"
		  "x m.f 0 0\nx m.g 0 0\nx m.h 0 0\nx m.i 0 0\nx m.j 0 0\n");
	/* Floats: exponents, leading dot, trailing dot, signs, extremes. */
	assert_lp("m a=-0.5,b=.25,c=3.,d=1E2,e=2.5e-3,f=1e+2,g=-9223372036854775808i,"
		  "h=18446744073709551615u,i=0,j=-0 0",
		  MX_NS, "x",
		  "x m.a 0 -0.5\nx m.b 0 0.25\nx m.c 0 3\nx m.d 0 100\n"
		  "x m.e 0 0.0025000000000000001\nx m.f 0 100\n"
		  "x m.g 0 -9.2233720368547758e+18\nx m.h 0 1.8446744073709552e+19\n"
		  "x m.i 0 0\nx m.j 0 -0\n");
	/* Precisions, rounding toward minus infinity. */
	assert_lp("m value=1 1700000000999999999\nm value=1 -1\n", MX_NS, "x",
		  "x m 1700000000999 1\nx m -1 1\n");
	assert_lp("m value=1 1500\nm value=1 -1500\nm value=1 -1000\n", MX_US, "x",
		  "x m 1 1\nx m -2 1\nx m -1 1\n");
	assert_lp("m value=1 -12\n", MX_MS, "x", "x m -12 1\n");
	assert_lp("m value=1 1700000000\n", MX_S, "x", "x m 1700000000000 1\n");
	/* An empty body and only comments give nothing. */
	assert_lp("", MX_NS, NULL, "");
	assert_lp("# only\n\n\r\n", MX_NS, NULL, "");
	enum mx_precision p;
	assert_int_equal(mx_precision_parse(NULL, &p), 0);
	assert_int_equal(p, MX_NS);
	assert_int_equal(mx_precision_parse("us", &p), 0);
	assert_int_equal(p, MX_US);
	assert_int_equal(mx_precision_parse("s", &p), 0);
	assert_int_equal(p, MX_S);
	assert_int_equal(mx_precision_parse("n", &p), -EINVAL);
	assert_int_equal(mx_precision_parse("MS", &p), -EINVAL);
}

static void test_lp_escapes(void **state)
{
	(void)state;
	/* Tag values: \, \= \space and \\; other backslashes are literal. */
	assert_lp("m,k1=a\\,b\\=c\\ d\\\\e\\x,k2=\"q\\ r\" f=1 0", MX_NS, "x",
		  "x m.f 0 1 k1=a,b=c d\\e\\x,k2=\"q r\"\n");
	/* Keys, fields, measurements and agents unescape too, then meet the name
	 * rules (seen in the refusal, which quotes the unescaped name). */
	static const char *const named[][2] = {
		{ "m,k\\ 1=a f=1", "line 1: field \"f\": tags: key \"k 1\"" },
		{ "m,k\\,1=a f=1", "line 1: field \"f\": tags: key \"k,1\"" },
		{ "m,k\\=1=a f=1", "line 1: field \"f\": tags: key \"k=1\"" },
		{ "m f\\=g=1", "line 1: field \"f=g\": metric: \"m.f=g\"" },
		{ "m f\\ g=1", "line 1: field \"f g\": metric: \"m.f g\"" },
		{ "m\\,n f=1", "line 1: field \"f\": metric: \"m,n.f\"" },
		{ "m\\=n f=1", "line 1: field \"f\": metric: \"m\\x5c=n.f\"" },
		{ "m,agent=a\\,b f=1", "line 1: field \"f\": agent: \"a,b\"" },
		{ "m\\\\n f=1", "line 1: field \"f\": metric: \"m\\x5cn.f\"" },
	};
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
		char err[512];
		int rc;
		free(lp(named[i][0], MX_NS, "x", &rc, err, sizeof err));
		if (rc != -EINVAL || strncmp(err, named[i][1], strlen(named[i][1])))
			fail_msg("%s: rc %d err \"%s\", want \"%s\"", named[i][0], rc, err,
				 named[i][1]);
	}
	/* A UTF-8 tag value goes through unchanged. */
	assert_lp("m,city=Z\xc3\xbcrich value=1 0", MX_NS, "x", "x m 0 1 city=Z\xc3\xbcrich\n");
}

static void test_lp_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *in, *agent, *why;
	} cases[] = {
		{ "m f=1\nm s=\"x y\",g=1\n", "a", "line 2: field \"s\": string fields are not stored" },
		{ "# c\n\nm f=1\nm,t=1 f=\"\"", "a", "line 4: field \"f\": string fields are not stored" },
		{ "m f=1", NULL, "line 1: no agent tag" },
		{ "m,agent=a,agent=b f=1", NULL, "line 1: tag \"agent\" appears twice" },
		{ "m", "a", "line 1: no fields" },
		{ "m ", "a", "line 1: field \"\" has no value" },
		{ "m,t f=1", "a", "line 1: tag \"t\" has no value" },
		{ "m,t= f=1", "a", "line 1: tag \"t\" has an empty value" },
		{ "m,t=a=b f=1", "a", "line 1: tag \"t\": unescaped '='" },
		{ "m, f=1", "a", "line 1: tag \"\" has no value" },
		{ ",t=1 f=1", "a", "line 1: no measurement" },
		{ " f=1", "a", "line 1: no fields" },
		{ "m f", "a", "line 1: field \"f\" has no value" },
		{ "m =1", "a", "line 1: field \"\" has no value" },
		{ "m f=", "a", "line 1: field \"f\": no value" },
		{ "m f=1,", "a", "line 1: field \"\" has no value" },
		{ "m f=1.2.3", "a", "line 1: field \"f\": \"1.2.3\" is not a number" },
		{ "m f=1e", "a", "line 1: field \"f\": \"1e\" is not" },
		{ "m f=inf", "a", "line 1: field \"f\": \"inf\" is not" },
		{ "m f=NaN", "a", "line 1: field \"f\": \"NaN\" is not" },
		{ "m f=0x10", "a", "line 1: field \"f\": \"0x10\" is not" },
		{ "m f=+1", "a", "line 1: field \"f\": \"+1\" is not" },
		{ "m f=-", "a", "line 1: field \"f\": \"-\" is not" },
		{ "m f=tru", "a", "line 1: field \"f\": \"tru\" is not" },
		{ "m f=1.5i", "a", "line 1: field \"f\": \"1.5i\" is not" },
		{ "m f=-1u", "a", "line 1: field \"f\": \"-1u\" is not" },
		{ "m f=9223372036854775808i", "a", "line 1: field \"f\": integer out of range" },
		{ "m f=18446744073709551616u", "a", "line 1: field \"f\": integer out of range" },
		{ "m f=1e400", "a", "line 1: field \"f\": value: not a finite number" },
		{ "m f=1 12x", "a", "line 1: timestamp \"12x\" is not an integer" },
		{ "m f=1 1.5", "a", "line 1: timestamp \"1.5\" is not an integer" },
		{ "m f=1 1 2", "a", "line 1: text after the timestamp" },
		{ "m f=1 99999999999999999999", "a", "line 1: timestamp \"99999999999999999999\"" },
		{ "m\\ x f=1", "a", "line 1: field \"f\": metric: \"m x.f\"" },
		{ "m,agent=a\\ b f=1", NULL, "line 1: field \"f\": agent: \"a b\"" },
		{ "m,k=a\tb f=1", "a", "line 1: field \"f\": tags: value of \"k\" is not UTF-8" },
		{ "m,k=\xff f=1", "a", "line 1: field \"f\": tags: value of \"k\" is not UTF-8" },
		{ "m,k/x=1 f=1", "a", "line 1: field \"f\": tags: key \"k/x\"" },
		{ "m,a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1,l=1,m=1,n=1,o=1,p=1,q=1 f=1", "a",
		  "line 1: more than 16 tags" },
		{ "m f=1\rx", "a", "line 1: field \"f\": \"1\\x0dx\" is not" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char err[512];
		int rc;
		char *d = lp(cases[i].in, MX_NS, cases[i].agent, &rc, err, sizeof err);
		free(d);
		if (rc != -EINVAL || strncmp(err, cases[i].why, strlen(cases[i].why)))
			fail_msg("case %zu (%s): rc %d err \"%s\", want \"%s\"", i, cases[i].in, rc, err,
				 cases[i].why);
	}
	/* Seconds that do not fit in int64 milliseconds. */
	int rc;
	char e2[256];
	free(lp("m f=1 9999999999999999", MX_S, "a", &rc, e2, sizeof e2));
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(e2, "line 1: timestamp out of range");
	/* A NUL byte inside a line (the text is given with its length). */
	char err[256];
	mx_batch *b = mx_batch_new();
	assert_int_equal(mx_parse_lp("m f=1\nm,t=a\0b f=1", 18, MX_NS, "a", 0, b, err, sizeof err),
			 -EINVAL);
	assert_string_equal(err, "line 2: NUL byte");
	/* A metric name longer than 128 bytes. */
	char line[400];
	memset(line, 'm', 120);
	snprintf(line + 120, sizeof line - 120, " field_name=1");
	assert_int_equal(mx_parse_lp(line, strlen(line), MX_NS, "a", 0, b, err, sizeof err),
			 -EINVAL);
	assert_string_equal(err, "line 1: field \"field_name\": metric name longer than 128 bytes");
	mx_batch_free(&b);
}

/* The float reader agrees with strtod bit for bit on random decimals, in
 * and out of its fast path. */
static void test_lp_floats(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252ULL;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	for (int iter = 0; iter < 20000; iter++) {
		char num[80], text[120], err[256];
		int o = 0, nd = 1 + (int)(RND() % 22), dot = (int)(RND() % (nd + 2));
		if (RND() % 2)
			num[o++] = '-';
		for (int i = 0; i < nd; i++) {
			if (i == dot)
				num[o++] = '.';
			num[o++] = (char)('0' + RND() % 10);
		}
		if (RND() % 3 == 0)
			o += snprintf(num + o, sizeof num - (size_t)o, "e%d", (int)(RND() % 80) - 40);
		num[o] = '\0';
		snprintf(text, sizeof text, "m f=%s 0", num);
		mx_batch *b = mx_batch_new();
		int rc = mx_parse_lp(text, strlen(text), MX_NS, "a", 0, b, err, sizeof err);
		if (rc)
			fail_msg("%s: %s", text, err);
		double want = strtod(num, NULL), got = mx_batch_get(b, 0)->value;
		if (memcmp(&want, &got, sizeof want))
			fail_msg("%s: %.17g, strtod %.17g", num, got, want);
		mx_batch_free(&b);
	}
#undef RND
}

/* Throughput on typical lines: printed, not asserted (CI machines vary). */
static void test_lp_speed(void **state)
{
	(void)state;
	size_t cap = 8 << 20, n = 0, lines = 20000;
	char *text = xmalloc(cap), err[256];
	for (size_t i = 0; i < lines; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "cpu,host=h%03zu,region=eu-west-1%s usage_user=%zu.%02zu,"
				      "usage_system=%zu.5,usage_idle=9%zu.25,iowait=%zui "
				      "17000000%011zu\n",
				      i % 50, i % 2 ? ",agent=node-7" : "", i % 97, i % 100, i % 13,
				      i % 10, i % 7, i * 1000);
	double best = 0;
	for (int r = 0; r < 5; r++) {
		mx_batch *b = mx_batch_new();
		/* CPU time of this thread: the machine may be busy with others. */
		struct timespec t0, t1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
		assert_int_equal(mx_parse_lp(text, n, MX_NS, "dflt", 0, b, err, sizeof err), 0);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
		int64_t dt = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
		assert_int_equal(mx_batch_len(b), 4 * lines);
		double rate = 4.0 * (double)lines / ((double)dt / 1e9);
		best = rate > best ? rate : best;
		mx_batch_free(&b);
	}
	print_message("line protocol: %.2fM fields/s of CPU time (best of 5, %zu lines of 4 fields)\n",
		      best / 1e6, lines);
	free(text);
}

/* ---- JSON samples and calls ------------------------------------------- */

static json_t *js(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	return j;
}

/* Parses text as samples (calls when calls is set) and returns the dump or
 * the error as "ERR rc: message". */
static double test_cost;

static int price(void *ctx, const char *model, int64_t ts, double *in, double *out)
{
	(void)ctx;
	if (!strcmp(model, "gpt-4o")) {
		/* A later price version: the call's time picks the one in force. */
		*in = ts >= 1718000002000 ? 5 : 2.5;
		*out = 10;
		return 0;
	}
	if (!strcmp(model, "text-embedding-3-small")) {
		*in = 0.02, *out = 0;
		return 0;
	}
	if (!strcmp(model, "broken"))
		return -EIO;
	return -ENOENT;
}

static char *parse_json(const char *text, int calls, const char *agent)
{
	char err[512];
	json_t *j = js(text);
	mx_batch *b = mx_batch_new();
	int rc = calls ? mx_parse_calls(j, agent, 777, price, NULL, b, &test_cost, err, sizeof err)
		       : mx_parse_samples(j, agent, 777, b, err, sizeof err);
	char *d = rc ? xasprintf("ERR %d: %s", rc, err) : dump(b);
	mx_batch_free(&b);
	json_decref(j);
	return d;
}

#define assert_json(text, calls, agent, want)                           \
	do {                                                            \
		char *d_ = parse_json(text, calls, agent);              \
		assert_string_equal(d_, want);                          \
		free(d_);                                               \
	} while (0)

static void test_json_samples(void **state)
{
	(void)state;
	assert_json("{\"agent\":\"a\",\"metric\":\"m\",\"value\":1.5}", 0, NULL, "a m 777 1.5\n");
	assert_json("{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":2,\"ts\":1000,"
		    "\"tags\":{\"z\":\"1\",\"b\":\"\"}},"
		    "{\"agent\":\"b\",\"metric\":\"m.x\",\"value\":-3e2,\"ts\":\"2024-01-01T00:00:00.25Z\"},"
		    "{\"agent\":\"b\",\"metric\":\"m.x\",\"value\":0,\"ts\":\"2024-01-01T01:00:00+01:00\"},"
		    "{\"agent\":\"b\",\"metric\":\"m.x\",\"value\":1,\"ts\":1500.9,\"tags\":null},"
		    "{\"agent\":\"b\",\"metric\":\"m.x\",\"value\":1,\"ts\":null,\"extra\":[1]}]}",
		    0, NULL,
		    "a m 1000 2 b=,z=1\n"
		    "b m.x 1704067200250 -300\n"
		    "b m.x 1704067200000 0\n"
		    "b m.x 1500 1\n"
		    "b m.x 777 1\n");
	assert_json("{\"samples\":[]}", 0, NULL, "");
	/* Node pushes: the agent is the node's; naming it again is fine. */
	assert_json("{\"samples\":[{\"metric\":\"cpu\",\"value\":1},"
		    "{\"agent\":\"n1\",\"metric\":\"cpu\",\"value\":2}]}",
		    0, "n1", "n1 cpu 777 1\nn1 cpu 777 2\n");
	static const char *const bad[][2] = {
		{ "[1]", "ERR -22: body: not a JSON object" },
		{ "{\"samples\":{}}", "ERR -22: samples: not an array" },
		{ "{\"samples\":[1]}", "ERR -22: samples[0].sample: not an object" },
		{ "{\"metric\":\"m\",\"value\":1}", "ERR -22: agent: missing or not a string" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1},"
		  "{\"agent\":\"a\",\"value\":1}]}",
		  "ERR -22: samples[1].metric: missing or not a string" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":\"1\"}]}",
		  "ERR -22: samples[0].value: missing or not a number" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":true}]}",
		  "ERR -22: samples[0].value: missing or not a number" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1},"
		  "{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"ts\":\"yesterday\"}]}",
		  "ERR -22: samples[1].ts: not unix milliseconds or RFC 3339" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"ts\":[1]}]}",
		  "ERR -22: samples[0].ts: not unix milliseconds or RFC 3339" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"ts\":1e300}]}",
		  "ERR -22: samples[0].ts: not unix milliseconds or RFC 3339" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":[]}]}",
		  "ERR -22: samples[0].tags: not an object" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":{\"k\":1}}]}",
		  "ERR -22: samples[0].tags.k: not a string" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":{\"a b\":\"1\"}}]}",
		  "ERR -22: samples[0].tags: key \"a b\" is not 1-64 bytes of [A-Za-z0-9_.-]" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":{\"agent\":\"x\"}}]}",
		  "ERR -22: samples[0].tags: key \"agent\" is reserved" },
		{ "{\"agent\":\"a b\",\"metric\":\"m\",\"value\":1}",
		  "ERR -22: agent: \"a b\" is not 1-128 bytes of [A-Za-z0-9_.:-]" },
		{ "{\"agent\":\"a\",\"metric\":\"\\u00e9\",\"value\":1}",
		  "ERR -22: metric: \"\\xc3\\xa9\" is not 1-128 bytes of [A-Za-z0-9_.:-]" },
		{ "{\"samples\":[{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":"
		  "{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":\"1\",\"e\":\"1\",\"f\":\"1\",\"g\":\"1\","
		  "\"h\":\"1\",\"i\":\"1\",\"j\":\"1\",\"k\":\"1\",\"l\":\"1\",\"m\":\"1\",\"n\":\"1\","
		  "\"o\":\"1\",\"p\":\"1\",\"q\":\"1\"}}]}",
		  "ERR -22: samples[0].tags: more than 16" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_json(bad[i][0], 0, NULL, bad[i][1]);
	assert_json("{\"samples\":[{\"agent\":\"n2\",\"metric\":\"cpu\",\"value\":1}]}", 0, "n1",
		    "ERR -22: samples[0].agent: must be absent or this node's name");
	/* Past MX_BATCH_MAX samples: refused before any is read. */
	json_t *many = json_pack("{s:[]}", "samples");
	json_t *arr = json_object_get(many, "samples");
	for (int i = 0; i <= MX_BATCH_MAX; i++)
		json_array_append_new(arr, json_integer(i));
	char err[256];
	mx_batch *b = mx_batch_new();
	assert_int_equal(mx_parse_samples(many, NULL, 0, b, err, sizeof err), -E2BIG);
	assert_string_equal(err, "samples: more than 100000");
	mx_batch_free(&b);
	json_decref(many);
}

/* The six samples of a call, as dump prints them; tags sort as
 * PRE(keys before "model") model price status POST. */
static char *call_lines(const char *agent, int64_t ts, const char *pre, const char *model,
			const char *status, double lat, double tin, double tout, double cost,
			int unknown)
{
	char tags[300], ptags[300];
	snprintf(tags, sizeof tags, "%smodel=%s,status=%s", pre, model, status);
	snprintf(ptags, sizeof ptags, "%smodel=%s%s,status=%s", pre, model,
		 unknown ? ",price=unknown" : "", status);
	return xasprintf("%s llm.calls %lld 1 %s\n%s llm.errors %lld %d %s\n"
			 "%s llm.latency_ms %lld %.17g %s\n%s llm.tokens_in %lld %.17g %s\n"
			 "%s llm.tokens_out %lld %.17g %s\n%s llm.cost_usd %lld %.17g %s\n",
			 agent, (long long)ts, tags, agent, (long long)ts, strcmp(status, "ok") != 0,
			 tags, agent, (long long)ts, lat, tags, agent, (long long)ts, tin, tags,
			 agent, (long long)ts, tout, tags, agent, (long long)ts, cost, ptags);
}

/* flat(body, want_rc, want): the fast path's result and batch (dump). */
static void assert_flat(const char *body, int want_rc, const char *want)
{
	char err[512] = "";
	mx_batch *b = mx_batch_new();
	int rc = mx_parse_sample_flat(body, strlen(body), 777, b, err, sizeof err);
	assert_int_equal(rc, want_rc);
	if (want)
		assert_dump(b, want);
	mx_batch_free(&b);
}

static void test_json_flat(void **state)
{
	(void)state;
	assert_flat("{\"agent\":\"a\",\"metric\":\"m\",\"value\":1.5}", 1, "a m 777 1.5\n");
	assert_flat(" {\"tags\":{\"z\":\"1\",\"b\":\"\"} , \"ts\":1000,\"value\":-3e2,\r\n"
		    "\"metric\":\"m.x\",\"agent\":\"a\"}\n", 1, "a m.x 1000 -300 b=,z=1\n");
	assert_flat("{\"agent\":\"a\",\"metric\":\"m\",\"value\":7,\"tags\":{}}", 1, "a m 777 7\n");
	/* Anything else is left to the JSON path, with nothing added. */
	static const char *const other[] = {
		"{\"samples\":[]}",
		"{\"agent\":\"a\",\"metric\":\"m\"}",
		"{\"agent\":\"a\",\"agent\":\"b\",\"metric\":\"m\",\"value\":1}",
		"{\"agent\":\"a\\u0062\",\"metric\":\"m\",\"value\":1}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"ts\":1.5}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"ts\":\"2024-01-01T00:00:00Z\"}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":01}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1.}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1e999}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":99999999999999999999}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":{\"k\":\"v\",\"k\":\"w\"}}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"tags\":null}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,\"extra\":1}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1,}",
		"{\"agent\":\"a\",\"metric\":\"m\",\"value\":1} x",
		"{\"agent\":\"\xc3\xa9\",\"metric\":\"m\",\"value\":1}",
		"[1]",
		"",
	};
	for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
		assert_flat(other[i], 0, "");
	/* A refusal of the sample itself is the JSON path's, word for word. */
	const char *bad = "{\"agent\":\"a b\",\"metric\":\"m\",\"value\":1}";
	char e1[512] = "", e2[512] = "";
	mx_batch *b = mx_batch_new();
	assert_int_equal(mx_parse_sample_flat(bad, strlen(bad), 777, b, e1, sizeof e1), -EINVAL);
	json_t *j = json_loads(bad, 0, NULL);
	assert_int_equal(mx_parse_samples(j, NULL, 777, b, e2, sizeof e2), -EINVAL);
	assert_string_equal(e1, e2);
	json_decref(j);
	mx_batch_free(&b);
}

static void test_json_calls(void **state)
{
	(void)state;
	char *a = call_lines("bot", 1718000000000, "", "gpt-4o", "ok", 812.5, 100, 20,
			     100 * 2.5 / 1e6 + 20 * 10 / 1e6, 0);
	char *b2 = call_lines("bot", 1718000003000, "", "gpt-4o", "ok", 10, 1000, 0,
			      1000 * 5.0 / 1e6, 0);
	char *c = call_lines("bot", 777, "app=x,", "mystery", "timeout", 5, 1, 2, 0, 1);
	char *d = call_lines("bot", 5, "", "gpt-4o", "error", 0, 0, 0, 0.5, 0);
	char *want = xasprintf("%s%s%s%s", a, b2, c, d);
	assert_json("{\"calls\":["
		    "{\"model\":\"gpt-4o\",\"latency_ms\":812.5,\"tokens_in\":100,\"tokens_out\":20,"
		    "\"status\":\"ok\",\"ts\":\"2024-06-10T06:13:20Z\"},"
		    "{\"model\":\"gpt-4o\",\"latency_ms\":10,\"tokens_in\":1000,\"tokens_out\":0,"
		    "\"status\":\"ok\",\"ts\":1718000003000},"
		    "{\"model\":\"mystery\",\"latency_ms\":5,\"tokens_in\":1,\"tokens_out\":2,"
		    "\"status\":\"timeout\",\"tags\":{\"app\":\"x\"}},"
		    "{\"model\":\"gpt-4o\",\"latency_ms\":0,\"tokens_in\":0,\"tokens_out\":0,"
		    "\"cost_usd\":0.5,\"status\":\"error\",\"ts\":5}]}",
		    1, "bot", want);
	double total = (100 * 2.5 / 1e6 + 20 * 10 / 1e6) + 1000 * 5.0 / 1e6 + 0 + 0.5;
	assert_true(fabs(test_cost - total) < 1e-15);
	free(a), free(b2), free(c), free(d), free(want);
	/* One call alone. */
	a = call_lines("bot", 777, "", "gpt-4o", "ok", 1, 2, 3, 7, 0);
	assert_json("{\"model\":\"gpt-4o\",\"latency_ms\":1,\"tokens_in\":2,\"tokens_out\":3,"
		    "\"status\":\"ok\",\"cost_usd\":7}",
		    1, "bot", a);
	assert_true(test_cost == 7);
	free(a);
	static const char *const bad[][2] = {
		{ "{\"calls\":[{\"model\":\"m\",\"latency_ms\":1,\"tokens_in\":1,\"tokens_out\":1,"
		  "\"status\":\"ok\"},{\"latency_ms\":1}]}",
		  "ERR -22: calls[1].model: missing or not a string" },
		{ "{\"model\":\"m\",\"latency_ms\":1,\"tokens_in\":1,\"tokens_out\":1}",
		  "ERR -22: status: missing or not a string" },
		{ "{\"calls\":[{\"model\":\"m\",\"latency_ms\":-1,\"tokens_in\":1,\"tokens_out\":1,"
		  "\"status\":\"ok\"}]}",
		  "ERR -22: calls[0].latency_ms: not a finite number >= 0" },
		{ "{\"calls\":[{\"model\":\"m\",\"latency_ms\":1,\"tokens_out\":1,\"status\":\"ok\"}]}",
		  "ERR -22: calls[0].tokens_in: missing or not a number" },
		{ "{\"calls\":[{\"model\":\"m\",\"latency_ms\":1,\"tokens_in\":1,\"tokens_out\":1,"
		  "\"cost_usd\":\"1\",\"status\":\"ok\"}]}",
		  "ERR -22: calls[0].cost_usd: missing or not a number" },
		{ "{\"calls\":[{\"model\":\"m\",\"latency_ms\":1,\"tokens_in\":1,\"tokens_out\":1,"
		  "\"status\":\"ok\",\"tags\":{\"model\":\"x\"}}]}",
		  "ERR -22: calls[0].tags: key \"model\" is set by the call" },
		{ "{\"calls\":[{\"model\":\"m\\n\",\"latency_ms\":1,\"tokens_in\":1,\"tokens_out\":1,"
		  "\"status\":\"ok\"}]}",
		  "ERR -22: calls[0].tags: value of \"model\" is not UTF-8 without control bytes" },
		{ "{\"calls\":[{\"model\":\"broken\",\"latency_ms\":1,\"tokens_in\":1,"
		  "\"tokens_out\":1,\"status\":\"ok\"}]}",
		  "ERR -5: calls[0].cost_usd: pricing failed (Input/output error)" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_json(bad[i][0], 1, "bot", bad[i][1]);
	json_t *many = json_pack("{s:[]}", "calls");
	for (int i = 0; i <= 10000; i++)
		json_array_append_new(json_object_get(many, "calls"), json_object());
	char err[256];
	mx_batch *b = mx_batch_new();
	double cost;
	assert_int_equal(mx_parse_calls(many, "bot", 0, NULL, NULL, b, &cost, err, sizeof err),
			 -E2BIG);
	assert_string_equal(err, "calls: more than 10000");
	mx_batch_free(&b);
	json_decref(many);
}

/* ---- OTLP ------------------------------------------------------------- */

static char *fixture(const char *name, size_t *n)
{
	char path[512], *p = NULL;
	/* From the repository root, or next to this file when run elsewhere. */
	snprintf(path, sizeof path, "tests/fixtures/otlp/%s", name);
	if (sn_read_file(path, 1 << 20, &p, n)) {
		const char *f = __FILE__, *slash = strrchr(f, '/');
		snprintf(path, sizeof path, "%.*s/../fixtures/otlp/%s", (int)(slash - f), f, name);
		if (sn_read_file(path, 1 << 20, &p, n))
			fail_msg("cannot read fixture %s", name);
	}
	return p;
}

static char *otlp(const char *text, size_t n, int traces, size_t *calls)
{
	char err[512];
	mx_batch *b = mx_batch_new();
	int rc = traces ? mx_parse_otlp_traces(text, n, 777, price, NULL, b, calls, err, sizeof err)
			: mx_parse_otlp_metrics(text, n, 777, b, err, sizeof err);
	char *d = rc ? xasprintf("ERR %d: %s", rc, err) : dump(b);
	mx_batch_free(&b);
	return d;
}

#define RES "service.version=1.4.2,telemetry.sdk.language=python," \
	    "telemetry.sdk.name=opentelemetry,telemetry.sdk.version=1.27.0"

static void test_otlp_metrics_fixture(void **state)
{
	(void)state;
	size_t n;
	char *text = fixture("metrics.json", &n);
	char *got = otlp(text, n, 0, NULL);
	char *want = xasprintf(
		"chat-agent queue.depth 1718000000123 17 queue=inbox," RES "\n"
		"chat-agent agent.requests 1718000000500 42 http.response.status_code=200,"
		"route=/chat," RES "\n"
		"chat-agent gen_ai.client.operation.duration.count 1718000000999 3 "
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o," RES "\n"
		"chat-agent gen_ai.client.operation.duration.sum 1718000000999 2.75 "
		"gen_ai.operation.name=chat,gen_ai.request.model=gpt-4o," RES "\n"
		"chat-agent gen_ai.client.token.usage.count 1718000001000 0 "
		"gen_ai.request.model=gpt-4o,gen_ai.token.type=input," RES "\n"
		"chat-agent worker.healthy 1718000002000 %.17g load=0.1,ok=true," RES
		",zones=[\"a\",2]\n"
		"embedder process.cpu.utilization 1718000003000 0.25 process.pid=4242\n",
		-1.5e-3);
	assert_string_equal(got, want);
	free(got), free(want), free(text);
}

static void test_otlp_traces_fixture(void **state)
{
	(void)state;
	size_t n, calls = 99;
	char *text = fixture("traces.json", &n);
	char *got = otlp(text, n, 1, &calls);
	char *a = call_lines("chat-agent", 1718000001000,
			     "gen_ai.operation.name=chat,gen_ai.system=openai,", "gpt-4o", "ok", 1250,
			     120, 48, 120 * 2.5 / 1e6 + 48 * 10 / 1e6, 0);
	char *b = call_lines("chat-agent", 1718000002500,
			     "gen_ai.operation.name=embeddings,gen_ai.provider.name=openai,",
			     "text-embedding-3-small", "ok", 80.5, 512, 0, 512 * 0.02 / 1e6, 0);
	char *c = call_lines("chat-agent", 1718000003000,
			     "gen_ai.operation.name=chat,gen_ai.provider.name=anthropic,",
			     "claude-3-5-sonnet", "error", 300, 10, 0, 0, 1);
	char *want = xasprintf("%s%s%s", a, b, c);
	assert_string_equal(got, want);
	assert_int_equal(calls, 3);
	free(a), free(b), free(c), free(got), free(want), free(text);
}

#define assert_otlp(text, traces, want)                                 \
	do {                                                            \
		size_t c_;                                              \
		char *d_ = otlp(text, strlen(text), traces, &c_);       \
		assert_string_equal(d_, want);                          \
		free(d_);                                               \
	} while (0)

#define SVC(x) "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":" \
	       "{\"stringValue\":\"" x "\"}}]},"

static void test_otlp_edges(void **state)
{
	(void)state;
	/* snake_case names, numbers for int64, the pre-1.0 scope name, an
	 * exponential histogram and a summary, a kvlist and an empty value. */
	assert_otlp("{\"resource_metrics\":[" SVC("s") "\"scope_metrics\":[{\"metrics\":["
		    "{\"name\":\"g\",\"gauge\":{\"data_points\":[{\"time_unix_nano\":2000000,"
		    "\"as_int\":-5,\"attributes\":[{\"key\":\"kv\",\"value\":{\"kvlist_value\":"
		    "{\"values\":[{\"key\":\"x\",\"value\":{\"boolValue\":false}}]}}},"
		    "{\"key\":\"e\",\"value\":{}}]}]}},"
		    "{\"name\":\"eh\",\"exponential_histogram\":{\"data_points\":[{\"timeUnixNano\":"
		    "\"3999999\",\"count\":4,\"sum\":1}]}},"
		    "{\"name\":\"su\",\"summary\":{\"dataPoints\":[{\"count\":\"2\",\"sum\":\"0.5\"}]}},"
		    "{\"name\":\"ignored\"}]}]},"
		    SVC("t") "\"instrumentationLibraryMetrics\":[{\"metrics\":[{\"name\":\"h\","
		    "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"0\",\"asDouble\":\"1.25\"}]}}]}]}]}",
		    0,
		    "s g 2 -5 e=,kv={\"x\":false}\n"
		    "s eh.count 3 4\ns eh.sum 3 1\n"
		    "s su.count 777 2\ns su.sum 777 0.5\n"
		    "t h 777 1.25\n");
	/* An empty request is fine. */
	assert_otlp("{}", 0, "");
	assert_otlp("{\"resourceSpans\":[]}", 1, "");
	static const char *const bad[][2] = {
		{ "not json", "ERR -22: body: line 1: " },
		{ "[]", "ERR -22: body: not a JSON object" },
		{ "{\"resourceMetrics\":{}}", "ERR -22: body.resourceMetrics: not an array" },
		{ "{\"resourceMetrics\":[{\"scopeMetrics\":[]}]}",
		  "ERR -22: resourceMetrics[0].resource: no service.name attribute" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asDouble\":1},{\"timeUnixNano\":\"1\"}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1]: "
		  "no asDouble or asInt" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asDouble\":\"NaN\"}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "value: not a finite number" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":\"1.5\"}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "asInt: not an int64" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":1,\"timeUnixNano\":\"-1\"}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "timeUnixNano: not unix nanoseconds" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":1,\"attributes\":[{\"key\":\"a b\","
		  "\"value\":{\"stringValue\":\"x\"}}]}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "tags: key \"a b\"" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":1,\"attributes\":[{\"key\":\"k\"}]}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]"
		  ".attributes[0]: not {key, value}" },
		{ "{\"resourceMetrics\":[" SVC("s") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g/x\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":1}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "metric: \"g/x\"" },
		{ "{\"resourceMetrics\":[" SVC("a b") "\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
		  "\"gauge\":{\"dataPoints\":[{\"asInt\":1}]}}]}]}]}",
		  "ERR -22: resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: "
		  "agent: \"a b\"" },
		{ "{\"resourceSpans\":[" SVC("s") "\"scopeSpans\":[{\"spans\":[{\"attributes\":["
		  "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"m\"}}],"
		  "\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"4\"}]}]}]}",
		  "ERR -22: resourceSpans[0].scopeSpans[0].spans[0]: startTimeUnixNano/endTimeUnixNano" },
		{ "{\"resourceSpans\":[" SVC("s") "\"scopeSpans\":[{\"spans\":[{\"attributes\":["
		  "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"m\"}},"
		  "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"stringValue\":\"many\"}}]}]}]}]}",
		  "ERR -22: resourceSpans[0].scopeSpans[0].spans[0].attributes[gen_ai.usage.input_tokens]: "
		  "not a number of tokens" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t c;
		char *d = otlp(bad[i][0], strlen(bad[i][0]), strstr(bad[i][0], "Spans") != NULL, &c);
		if (strncmp(d, bad[i][1], strlen(bad[i][1])))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, d, bad[i][1]);
		free(d);
	}
	/* A span status given as the enum's name; a span with only the older
	 * token names. */
	char *want = call_lines("s", 0, "", "m", "error", 0.001, 3, 4, 0, 1);
	assert_otlp("{\"resourceSpans\":[" SVC("s") "\"scopeSpans\":[{\"spans\":[{\"attributes\":["
		    "{\"key\":\"gen_ai.request.model\",\"value\":{\"stringValue\":\"m\"}},"
		    "{\"key\":\"gen_ai.usage.prompt_tokens\",\"value\":{\"intValue\":3}},"
		    "{\"key\":\"gen_ai.usage.completion_tokens\",\"value\":{\"doubleValue\":4}}],"
		    "\"status\":{\"code\":\"STATUS_CODE_ERROR\"},"
		    "\"startTimeUnixNano\":\"1000\",\"endTimeUnixNano\":2000}]}]}]}",
		    1, want);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch_valid),
		cmocka_unit_test(test_batch_refusals),
		cmocka_unit_test(test_batch_max),
		cmocka_unit_test(test_batch_intern),
		cmocka_unit_test(test_lp_basic),
		cmocka_unit_test(test_lp_escapes),
		cmocka_unit_test(test_lp_refusals),
		cmocka_unit_test(test_lp_floats),
		cmocka_unit_test(test_lp_speed),
		cmocka_unit_test(test_json_samples),
		cmocka_unit_test(test_json_flat),
		cmocka_unit_test(test_json_calls),
		cmocka_unit_test(test_otlp_metrics_fixture),
		cmocka_unit_test(test_otlp_traces_fixture),
		cmocka_unit_test(test_otlp_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
