/* base/csv: RFC 4180 edge cases, every refusal with its line and field,
 * chunk independence (the same records whatever the feed sizes), and the
 * batch callback (the same records, in order, as record by record). */
#include <errno.h>
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

/* Records written out as text, so that two runs compare with strcmp:
 * "row@line:" then per field 'q' or 'u', its length, '=' and its bytes. */
struct out {
	char *s;
	size_t n, cap;
	int stop_at; /* row at which the callback returns 42; -1 never */
};

static void put(struct out *o, const char *p, size_t n)
{
	if (o->n + n + 1 > o->cap) {
		o->cap = (o->n + n + 1) * 2;
		o->s = xrealloc(o->s, o->cap);
	}
	memcpy(o->s + o->n, p, n);
	o->n += n;
	o->s[o->n] = '\0';
}

/* g_noline: records are written without their line (a batch has none);
 * g_batch: run_cuts sets the batch callback too. */
static int g_noline, g_batch;

static int collect(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct out *o = ud;
	char tmp[64];
	int k = g_noline ? snprintf(tmp, sizeof tmp, "%llu:", (unsigned long long)row)
			 : snprintf(tmp, sizeof tmp, "%llu@%llu:", (unsigned long long)row,
				    (unsigned long long)line);
	put(o, tmp, (size_t)k);
	for (size_t i = 0; i < nf; i++) {
		assert_int_equal(f[i].p[f[i].n], '\0');
		assert_null(memchr(f[i].p, '\0', f[i].n));
		k = snprintf(tmp, sizeof tmp, "%c%zu=", f[i].quoted ? 'q' : 'u', f[i].n);
		put(o, tmp, (size_t)k);
		put(o, f[i].p, f[i].n);
		put(o, "|", 1);
	}
	put(o, "\n", 1);
	return o->stop_at >= 0 && row == (uint64_t)o->stop_at ? 42 : 0;
}

/* The batch callback: each record as collect writes it (rows in order,
 * fields as fn gets them); reads the last of the CSV_BATCH_PAD bytes past
 * every field, where ASan would see a read out of the reader's buffer. */
static int collect_batch(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	struct out *o = ud;
	assert_true(nrec >= 1);
	for (size_t i = 0; i < nrec; i++) {
		for (size_t j = 0; j < nf; j++) {
			volatile char past = f[i * nf + j].p[f[i * nf + j].n + CSV_BATCH_PAD - 1];
			(void)past;
		}
		int rc = collect(ud, row + i, 0, f + i * nf, nf);
		if (rc)
			return rc;
	}
	(void)o;
	return 0;
}

struct result {
	int rc;
	char *recs;
	char why[200];
	uint64_t line, field;
	char delim;
};

/* Feeds s[0..n) in pieces cut at the offsets in cuts[0..ncut) (ascending). */
static struct result run_cuts(const char *s, size_t n, char delim, const size_t *cuts,
			      size_t ncut)
{
	struct out o = { .stop_at = -1 };
	struct result res = { 0 };
	put(&o, "", 0);
	csv_reader *r = csv_new(delim, collect, &o);
	if (g_batch)
		csv_set_batch(r, collect_batch);
	size_t at = 0;
	int rc = 0;
	for (size_t i = 0; i <= ncut && !rc; i++) {
		size_t to = i < ncut ? cuts[i] : n;
		rc = csv_feed(r, s + at, to - at);
		at = to;
	}
	if (!rc)
		rc = csv_finish(r);
	res.rc = rc;
	res.recs = o.s;
	res.delim = csv_delimiter(r);
	const char *why = csv_error(r, &res.line, &res.field);
	if (why)
		snprintf(res.why, sizeof res.why, "%s", why);
	/* sticky: every later call returns the same */
	assert_int_equal(csv_finish(r), rc);
	if (rc)
		assert_int_equal(csv_feed(r, "x", 1), rc);
	csv_free(&r);
	assert_null(r);
	return res;
}

static struct result run(const char *s, char delim)
{
	return run_cuts(s, strlen(s), delim, NULL, 0);
}

static void expect_recs(const char *s, char delim, const char *want)
{
	struct result res = run(s, delim);
	if (res.rc)
		fail_msg("%s: line %llu field %llu", res.why, (unsigned long long)res.line,
			 (unsigned long long)res.field);
	assert_string_equal(res.recs, want);
	free(res.recs);
}

static void expect_refusal(const char *s, size_t n, const char *why, uint64_t line,
			   uint64_t field)
{
	struct result res = run_cuts(s, n, 0, NULL, 0);
	assert_int_equal(res.rc, -EINVAL);
	if (!strstr(res.why, why))
		fail_msg("want '%s', got '%s'", why, res.why);
	assert_int_equal(res.line, line);
	assert_int_equal(res.field, field);
	free(res.recs);
}

static void test_rfc4180(void **state)
{
	(void)state;
	/* quoted fields, doubled quotes, CRLF, newline inside quotes */
	expect_recs("a,\"b \"\"x\"\"\",c\r\n1,\"2\r\n3\",4\r\n5,6,7\r\n", 0,
		    "0@1:u1=a|q5=b \"x\"|u1=c|\n1@2:u1=1|q4=2\r\n3|u1=4|\n2@4:u1=5|u1=6|u1=7|\n");
	/* LF, last record without line end, empty and empty quoted fields */
	expect_recs("a,b,c\n,\"\",\n\"\",,x", 0,
		    "0@1:u1=a|u1=b|u1=c|\n1@2:u0=|q0=|u0=|\n2@3:q0=|u0=|u1=x|\n");
	/* BOM cut; a BOM later is data */
	expect_recs("\xef\xbb\xbfh\n\xef\xbb\xbf\n", 0, "0@1:u1=h|\n1@2:u3=\xef\xbb\xbf|\n");
	/* blank lines are skipped but counted as lines */
	expect_recs("\n\r\na,b\n\n1,2\r\n\r\n3,4\n\n", 0,
		    "0@3:u1=a|u1=b|\n1@5:u1=1|u1=2|\n2@7:u1=3|u1=4|\n");
	/* a header alone; quoted delimiter and quote at field start only */
	expect_recs("x;y\n", 0, "0@1:u1=x|u1=y|\n");
	expect_recs("a,b\n\"1,2\",\"\"\"\"\n", 0, "0@1:u1=a|u1=b|\n1@2:q3=1,2|q1=\"|\n");
	/* multi-byte UTF-8 passes; quoted CRLF then the record's CRLF */
	expect_recs("n\n\"é\xe2\x82\xac\xf0\x9f\x98\x80\r\n\"\r\n", 0,
		    "0@1:u1=n|\n1@2:q11=é\xe2\x82\xac\xf0\x9f\x98\x80\r\n|\n");
	/* the given delimiter wins over detection */
	expect_recs("a;b,c\n1;2,3\n", ',', "0@1:u3=a;b|u1=c|\n1@2:u3=1;2|u1=3|\n");
}

static void test_detect(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		char want;
	} cases[] = {
		{ "a,b,c\n1,2,3\n", ',' },	{ "a;b;c\n1;2;3\n", ';' },
		{ "a\tb\tc\n1\t2\t3\n", '\t' }, { "a|b|c\n1|2|3\n", '|' },
		{ "a;b,c\n1;2,3\n", ',' },	/* tie: ',' */
		{ "\"a,b,c\";d\nx;y\n", ';' },	/* quoted delimiters do not count */
		{ "single\n1\n", ',' },		{ "\n\na|b\n1|2\n", '|' }, /* first line with text */
		{ "a;b|c|d\n1;2|3|4", '|' },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct result res = run(cases[i].in, 0);
		assert_int_equal(res.rc, 0);
		assert_int_equal(res.delim, cases[i].want);
		free(res.recs);
	}
	/* before the header is complete the delimiter is not known */
	struct out o = { .stop_at = -1 };
	csv_reader *r = csv_new(0, collect, &o);
	assert_int_equal(csv_feed(r, "a;b", 3), 0);
	assert_int_equal(csv_delimiter(r), 0);
	assert_int_equal(csv_records(r), 0);
	assert_int_equal(csv_feed(r, "\n1;2\n", 5), 0);
	assert_int_equal(csv_delimiter(r), ';');
	assert_int_equal(csv_records(r), 2);
	assert_int_equal(csv_finish(r), 0);
	assert_null(csv_error(r, NULL, NULL));
	csv_free(&r);
	free(o.s);
}

static void test_refusals(void **state)
{
	(void)state;
	expect_refusal("a,b\n1,\"2\n3\n", 11, "unterminated quoted field", 2, 2);
	expect_refusal("a,b\n1,2\n3\n", 10, "1 fields, the header has 2", 3, 0);
	expect_refusal("a,b\n1,2\n3,4,5\n", 14, "more fields than the header's 2", 3, 3);
	expect_refusal("a,b\n1,2\n3,\"x\ny\xff\"\n", 17, "invalid UTF-8", 4, 2);
	expect_refusal("a,b\n1,\xc3\x28\n", 9, "invalid UTF-8", 2, 2);
	expect_refusal("a,b\n1,\xed\xa0\x80\n", 10, "invalid UTF-8", 2, 2); /* surrogate */
	expect_refusal("a,b\n1,\xc3", 7, "invalid UTF-8", 2, 2); /* cut at the end */
	expect_refusal("a,b\n1,x\0y\n", 10, "NUL byte", 2, 2);
	expect_refusal("a,b\n\"x\0\",1\n", 11, "NUL byte", 2, 1);
	expect_refusal("", 0, "empty input", 1, 0);
	expect_refusal("\n\r\n\n", 4, "empty input", 4, 0);
	expect_refusal("\xef\xbb\xbf", 3, "empty input", 1, 0);
	expect_refusal("a,b\n1,x\"y\n", 10, "quote inside an unquoted field", 2, 2);
	expect_refusal("a,b\n1,\"x\"y\n", 11, "text after a closing quote", 2, 2);
	expect_refusal("a,b\n1,2\r3,4\n", 12, "CR not followed by LF", 2, 0);
	expect_refusal("a,b\n1,2\r", 8, "CR not followed by LF", 2, 0);

	/* a record over 1 MiB, unquoted and quoted; one at the limit passes */
	size_t n = CSV_MAX_RECORD + 16;
	char *big = xmalloc(n + 1);
	memcpy(big, "h\n", 2);
	memset(big + 2, 'x', n - 2);
	expect_refusal(big, n, "record longer than", 2, 0);
	big[2] = '"';
	big[n - 1] = '"';
	expect_refusal(big, n, "record longer than", 2, 0);
	memset(big + 2, 'x', CSV_MAX_RECORD);
	big[2 + CSV_MAX_RECORD] = '\n';
	struct result res = run_cuts(big, CSV_MAX_RECORD + 3, 0, NULL, 0);
	assert_int_equal(res.rc, 0);
	free(res.recs);
	free(big);

	/* more than CSV_MAX_FIELDS fields in the header */
	n = (size_t)CSV_MAX_FIELDS + 1;
	char *wide = xmalloc(2 * n);
	for (size_t i = 0; i < n; i++) {
		wide[2 * i] = 'c';
		wide[2 * i + 1] = i + 1 < n ? ',' : '\n';
	}
	expect_refusal(wide, 2 * n, "more than 65536 fields", 1, 65537);
	wide[2 * n - 3] = '\n'; /* exactly CSV_MAX_FIELDS: accepted */
	res = run_cuts(wide, 2 * n - 2, 0, NULL, 0);
	assert_int_equal(res.rc, 0);
	free(res.recs);
	free(wide);
}

static void test_callback_stop(void **state)
{
	(void)state;
	struct out o = { .stop_at = 1 };
	const char *s = "a\n1\n2\n3\n";
	csv_reader *r = csv_new(0, collect, &o);
	assert_int_equal(csv_feed(r, s, strlen(s)), 42);
	assert_string_equal(o.s, "0@1:u1=a|\n1@2:u1=1|\n");
	assert_int_equal(csv_feed(r, s, strlen(s)), 42);
	assert_int_equal(csv_finish(r), 42);
	assert_null(csv_error(r, NULL, NULL));
	csv_free(&r);
	free(o.s);

	char err[128] = "untouched";
	o = (struct out){ .stop_at = 0 };
	assert_int_equal(csv_parse(s, strlen(s), 0, collect, &o, err, sizeof err), 42);
	assert_string_equal(err, "untouched");
	free(o.s);
	o = (struct out){ .stop_at = -1 };
	assert_int_equal(csv_parse("a,b\n1,\"2", 8, 0, collect, &o, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2, field 2: unterminated quoted field");
	assert_int_equal(csv_parse("a,b\n1\n", 6, 0, collect, &o, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 2: 1 fields, the header has 2");
	free(o.s);

	/* a batch callback's stop: no record after the one it stopped at */
	char big[4096];
	size_t bl = (size_t)snprintf(big, sizeof big, "a,b\n");
	for (int i = 1; i <= 300; i++)
		bl += (size_t)snprintf(big + bl, sizeof big - bl, "%d,x\n", i);
	for (int stop = 1; stop <= 300; stop += 37) {
		o = (struct out){ .stop_at = stop };
		g_noline = 1;
		r = csv_new(0, collect, &o);
		csv_set_batch(r, collect_batch);
		assert_int_equal(csv_feed(r, big, bl), 42);
		assert_int_equal(csv_finish(r), 42);
		g_noline = 0;
		char want[32];
		snprintf(want, sizeof want, "%d:u%d=%d|u1=x|\n", stop, stop < 10 ? 1 : stop < 100 ? 2 : 3,
			 stop);
		size_t wl = strlen(want);
		assert_true(o.n >= wl && strcmp(o.s + o.n - wl, want) == 0);
		csv_free(&r);
		free(o.s);
	}
}

static void same_at_every_cut(const char *s, size_t n)
{
	struct result whole = run_cuts(s, n, 0, NULL, 0);
	for (size_t i = 0; i <= n; i++) {
		struct result part = run_cuts(s, n, 0, &i, 1);
		assert_int_equal(part.rc, whole.rc);
		assert_string_equal(part.recs, whole.recs);
		assert_string_equal(part.why, whole.why);
		assert_int_equal(part.line, whole.line);
		assert_int_equal(part.field, whole.field);
		free(part.recs);
	}
	/* one byte at a time */
	size_t *cuts = xmalloc((n + 1) * sizeof *cuts);
	for (size_t i = 0; i < n; i++)
		cuts[i] = i + 1;
	struct result bytes = run_cuts(s, n, 0, cuts, n ? n - 1 : 0);
	assert_int_equal(bytes.rc, whole.rc);
	assert_string_equal(bytes.recs, whole.recs);
	assert_string_equal(bytes.why, whole.why);
	free(bytes.recs);
	free(cuts);
	free(whole.recs);
}

static void test_chunks(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"\xef\xbb\xbf" "id;name;note\r\n1;\"a \"\"b\"\"\";\"x\r\ny\"\r\n\r\n2;;\"\"\r\n3;long field "
		"with many bytes to cross a word;z",
		"a,b\n1,\"2\n3\n",
		"a,b\n1,2\n3,\"x\ny\xff\"\n",
		"a|b\n1|x\"y\n",
		"a,b\n1,2\r3,4\n",
		"a,b\n\xe2\x82\xac,\xf0\x9f\x98\x80\n",
		"\n\n\"h,1\"\t\"h2\"\n\"\"\t\"\"\"\"\n",
		"a,b\n1,\"x\"y\n",
		"a\n\xef\xbb",
	};
	for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
		same_at_every_cut(inputs[i], strlen(inputs[i]));
	same_at_every_cut("a,b\n1,x\0y\n", 10);
}

/* Records wider than the reader's first field arrays (16) and than one
 * 64-byte block, unquoted: every field in place, the arrays grown in the
 * middle of a block, and one field too many refused at its own number,
 * whatever the chunking. */
static void test_wide_records(void **state)
{
	(void)state;
	struct out text = { 0 }, want = { 0 };
	char tmp[32];
	put(&text, "", 0);
	put(&want, "", 0);
	for (int r = 0; r < 3; r++) {
		int k = snprintf(tmp, sizeof tmp, "%d@%d:", r, r + 1);
		put(&want, tmp, (size_t)k);
		for (int c = 0; c < 40; c++) {
			char f[16];
			int fl = r ? snprintf(f, sizeof f, "%d", r * 1000 + c) : snprintf(f, sizeof f, "c%d", c);
			put(&text, f, (size_t)fl);
			put(&text, c < 39 ? "," : "\n", 1);
			k = snprintf(tmp, sizeof tmp, "u%d=", fl);
			put(&want, tmp, (size_t)k);
			put(&want, f, (size_t)fl);
			put(&want, "|", 1);
		}
		put(&want, "\n", 1);
	}
	expect_recs(text.s, 0, want.s);
	same_at_every_cut(text.s, text.n);
	static const char extra[] = "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
				    "24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41\n";
	put(&text, extra, sizeof extra - 1);
	expect_refusal(text.s, text.n, "more fields than the header's 40", 4, 41);
	same_at_every_cut(text.s, text.n);
	free(text.s);
	free(want.s);
}

/* The reader scans 64 bytes at a time and checks UTF-8 only in records
 * with a non-ASCII byte: a bad byte (or a good sequence) at every offset
 * of long fields, quoted and not, across block borders and at every
 * chunk cut near it, is found in the right field (a bad byte past offset
 * 31 of a block once went unseen). */
static void test_utf8_every_offset(void **state)
{
	(void)state;
	char s[400];
	for (int q = 0; q < 2; q++) {
		for (size_t at = 0; at < 200; at++) {
			/* "h1,h2\n", 70 x, then the second field [q]y...y[q] of a
			 * length that puts the bad byte 1..40 bytes before the
			 * record's end, so at every bit of the last block */
			size_t n = 0, l2 = at + 2 + at % 40;
			memcpy(s, "h1,h2\n", 6);
			n = 6;
			memset(s + n, 'x', 70);
			n += 70;
			s[n++] = ',';
			if (q)
				s[n++] = '"';
			size_t f2 = n;
			memset(s + n, 'y', l2);
			n += l2;
			if (q)
				s[n++] = '"';
			s[n++] = '\n';
			s[f2 + at] = '\xff';
			struct result res = run_cuts(s, n, 0, NULL, 0);
			if (res.rc != -EINVAL || !strstr(res.why, "invalid UTF-8") || res.line != 2 ||
			    res.field != 2)
				fail_msg("q %d at %zu: rc %d '%s' field %llu", q, at, res.rc, res.why,
					 (unsigned long long)res.field);
			free(res.recs);
			for (size_t c = f2 + at - 1; c <= f2 + at + 1; c++) {
				struct result part = run_cuts(s, n, 0, &c, 1);
				assert_int_equal(part.rc, -EINVAL);
				assert_string_equal(part.why, "invalid UTF-8");
				assert_int_equal(part.field, 2);
				free(part.recs);
			}
			/* the same place in the first field: field 1 */
			s[f2 + at] = 'y';
			s[6 + at % 70] = '\xff';
			res = run_cuts(s, n, 0, NULL, 0);
			assert_int_equal(res.rc, -EINVAL);
			assert_int_equal(res.field, 1);
			free(res.recs);
			/* a valid two-byte sequence there passes */
			s[6 + at % 70] = 'x';
			s[f2 + at] = '\xc3';
			s[f2 + at + 1] = '\xa9';
			res = run_cuts(s, n, 0, NULL, 0);
			if (res.rc)
				fail_msg("q %d at %zu: %s", q, at, res.why);
			free(res.recs);
			s[f2 + at] = s[f2 + at + 1] = 'y';
		}
	}
}

/* Records at the length limit, with the input cut near their end and at
 * block borders: the chunking never changes the answer (invariant 4),
 * including where the record ends in a newline inside quotes or a
 * delimiter right at the input's end. */
static void test_limit_chunks(void **state)
{
	(void)state;
	static const char *const tails[] = { "", "\n", ",", ",\n", "\"", "\"\n", "\n\"\n",
					     "x\n", "\n\n" };
	size_t cap = CSV_MAX_RECORD + 16;
	char *s = xmalloc(cap);
	for (int q = 0; q < 2; q++) {
		for (size_t len = CSV_MAX_RECORD - 3; len <= CSV_MAX_RECORD + 1; len++) {
			for (size_t t = 0; t < sizeof tails / sizeof tails[0]; t++) {
				size_t n = 0;
				memcpy(s, "h,i\n", 4);
				n = 4;
				if (q)
					s[n++] = '"';
				memset(s + n, 'x', len - (size_t)q);
				n += len - (size_t)q;
				/* a delimiter (unquoted) or newline (quoted) 100 bytes in */
				s[4 + 100] = q ? '\n' : ',';
				size_t tl = strlen(tails[t]);
				memcpy(s + n, tails[t], tl);
				n += tl;
				struct result whole = run_cuts(s, n, 0, NULL, 0);
				size_t cuts[] = { n - 3, n - 2, n - 1, n, 4 + 64, 4 + 100, 4 + 101 };
				for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
					struct result part = run_cuts(s, n, 0, &cuts[c], 1);
					if (part.rc != whole.rc || strcmp(part.why, whole.why) ||
					    strcmp(part.recs, whole.recs))
						fail_msg("q %d len %zu tail %zu cut %zu: '%s' vs '%s'", q,
							 len, t, cuts[c], part.why, whole.why);
					free(part.recs);
				}
				free(whole.recs);
			}
		}
	}
	free(s);
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* Random tables written out with random quoting read back as they were,
 * whatever the chunking. */
static void test_roundtrip_random(void **state)
{
	(void)state;
	static const char alphabet[] = "ab,;\"\n\r x1\xc3\xa9|\t";
	uint64_t seed = 12345;
#define RND() rnd(&seed)
	for (int iter = 0; iter < 300; iter++) {
		size_t ncols = 1 + RND() % 5, nrows = RND() % 8;
		char delim = ",;\t|"[RND() % 4];
		struct out text = { 0 }, want = { 0 };
		put(&text, "", 0);
		put(&want, "", 0);
		uint64_t line = 1;
		for (size_t r = 0; r <= nrows; r++) {
			char tmp[64];
			int k = snprintf(tmp, sizeof tmp, "%zu@%llu:", r, (unsigned long long)line);
			put(&want, tmp, (size_t)k);
			int blank_risk = ncols == 1;
			for (size_t c = 0; c < ncols; c++) {
				char f[64];
				size_t fmax = RND() % 4 ? 6 : 40, fl = RND() % fmax;
				for (size_t i = 0; i < fl; i++) {
					char ch = alphabet[RND() % (sizeof alphabet - 1)];
					if (ch == '\xc3') {
						if (i + 1 == fl)
							ch = 'e';
						else
							f[i++] = ch, ch = '\xa9';
					} else if (ch == '\xa9') {
						ch = 'f';
					}
					f[i] = ch;
				}
				int needq = RND() % 3 == 0 || (blank_risk && fl == 0);
				for (size_t i = 0; i < fl; i++)
					needq |= f[i] == delim || f[i] == '"' || f[i] == '\n' ||
						 f[i] == '\r';
				if (needq) {
					put(&text, "\"", 1);
					for (size_t i = 0; i < fl; i++) {
						if (f[i] == '"')
							put(&text, "\"", 1);
						line += f[i] == '\n';
						put(&text, f + i, 1);
					}
					put(&text, "\"", 1);
				} else {
					put(&text, f, fl);
				}
				if (c + 1 < ncols)
					put(&text, &delim, 1);
				k = snprintf(tmp, sizeof tmp, "%c%zu=", needq ? 'q' : 'u', fl);
				put(&want, tmp, (size_t)k);
				put(&want, f, fl);
				put(&want, "|", 1);
			}
			put(&want, "\n", 1);
			if (r < nrows || RND() % 2) {
				int crlf = RND() % 2;
				put(&text, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
			}
			line++;
		}
		size_t cuts[3];
		for (int i = 0; i < 3; i++)
			cuts[i] = text.n ? RND() % (text.n + 1) : 0;
		for (int i = 0; i < 3; i++)
			for (int j = i + 1; j < 3; j++)
				if (cuts[j] < cuts[i]) {
					size_t t = cuts[i];
					cuts[i] = cuts[j];
					cuts[j] = t;
				}
		struct result res = run_cuts(text.s, text.n, delim, cuts, 3);
		if (res.rc)
			fail_msg("iter %d: %s (line %llu field %llu)", iter, res.why,
				 (unsigned long long)res.line, (unsigned long long)res.field);
		assert_string_equal(res.recs, want.s);
		free(res.recs);
		free(text.s);
		free(want.s);
	}
#undef RND
}

/* Tables of many windows of the reader's whole-record path (16 KiB):
 * plain records among quoted ones, CRLF, blank lines, non-ASCII text, a
 * record longer than a window, and now and then a fault (a ragged record,
 * a CR alone, a stray quote, a NUL, invalid UTF-8). Fed whole, the input
 * goes through that path; fed a byte at a time or cut at random places,
 * through the byte-wise reader or both: the records and the error must be
 * the same every way. */
static void test_fast_path_same(void **state)
{
	(void)state;
	static const char *const plain[] = { "1", "22", "-3.5", "abc", "", "user12345",
					     "2024-01-02", "\xc3\xa9t\xc3\xa9", "x y", "NA" };
	static const char *const odd[] = { "\"q,\"\"x\"\"\"", "\"multi\nline\"", "\"\"",
					   "\"a\r\nb\"" };
	static const char *const faults[] = { "x\"y", "a\rb", "\xff", "\xc3", "z\0z" };
	uint64_t seed = 777;
#define RND() rnd(&seed)
	for (int iter = 0; iter < 24; iter++) {
		size_t ncols = 1 + RND() % 9, nrows = 300 + RND() % 3000;
		char delim = ",;\t|"[RND() % 4];
		int fault_rate = iter % 3 == 0 ? 0 : 3000 + (int)(RND() % 30000);
		struct out text = { 0 };
		put(&text, "", 0);
		for (size_t c = 0; c < ncols; c++) {
			char h[16];
			int k = snprintf(h, sizeof h, "h%zu", c);
			put(&text, h, (size_t)k);
			put(&text, c + 1 < ncols ? &delim : "\n", 1);
		}
		for (size_t r = 0; r < nrows; r++) {
			if (RND() % 50 == 0) {
				int crlf = RND() % 2;
				put(&text, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
			}
			size_t nc = ncols;
			if (fault_rate && RND() % (uint64_t)fault_rate == 0)
				nc = RND() % 2 ? ncols + 1 : ncols - 1;
			for (size_t c = 0; c < nc; c++) {
				unsigned pick = (unsigned)(RND() % 100);
				const char *v = plain[RND() % 10];
				size_t vl = strlen(v);
				if (pick < 3) {
					v = odd[RND() % 4];
					vl = strlen(v);
				} else if (fault_rate && RND() % (uint64_t)fault_rate == 0) {
					size_t f = RND() % 5;
					v = faults[f];
					vl = f == 4 ? 3 : strlen(v);
				} else if (iter % 4 == 1 && RND() % 2000 == 0) {
					vl = 17000; /* longer than a window */
					v = NULL;
				}
				if (v && ncols == 1 && vl == 0)
					v = "\"\"", vl = 2; /* a blank line is no record */
				if (v) {
					put(&text, v, vl);
				} else {
					for (size_t i = 0; i < vl; i++)
						put(&text, "w", 1);
				}
				if (c + 1 < nc)
					put(&text, &delim, 1);
			}
			if (RND() % 4)
				put(&text, "\n", 1);
			else
				put(&text, "\r\n", 2);
		}
		struct result whole = run_cuts(text.s, text.n, delim, NULL, 0);
		size_t *cuts = xmalloc((text.n + 1) * sizeof *cuts);
		for (size_t i = 0; i < text.n; i++)
			cuts[i] = i + 1;
		struct result bytes = run_cuts(text.s, text.n, delim, cuts, text.n ? text.n - 1 : 0);
		for (int i = 0; i < 5; i++)
			cuts[i] = text.n ? RND() % (text.n + 1) : 0;
		for (int i = 0; i < 5; i++)
			for (int j = i + 1; j < 5; j++)
				if (cuts[j] < cuts[i]) {
					size_t t = cuts[i];
					cuts[i] = cuts[j];
					cuts[j] = t;
				}
		struct result some = run_cuts(text.s, text.n, delim, cuts, 5);
		const struct result *other[] = { &bytes, &some };
		for (int i = 0; i < 2; i++) {
			if (other[i]->rc != whole.rc || strcmp(other[i]->why, whole.why) ||
			    other[i]->line != whole.line || other[i]->field != whole.field)
				fail_msg("iter %d (%s): rc %d '%s' %llu:%llu, whole rc %d '%s' %llu:%llu",
					 iter, i ? "cuts" : "bytes", other[i]->rc, other[i]->why,
					 (unsigned long long)other[i]->line,
					 (unsigned long long)other[i]->field, whole.rc, whole.why,
					 (unsigned long long)whole.line, (unsigned long long)whole.field);
			assert_string_equal(other[i]->recs, whole.recs);
		}
		if (!fault_rate && whole.rc)
			fail_msg("iter %d: %s (line %llu)", iter, whole.why,
				 (unsigned long long)whole.line);
		/* the batch callback: the same records, errors and stops */
		g_noline = 1;
		struct result ref = run_cuts(text.s, text.n, delim, cuts, 5);
		g_batch = 1;
		struct result bw = run_cuts(text.s, text.n, delim, NULL, 0);
		struct result bc = run_cuts(text.s, text.n, delim, cuts, 5);
		g_batch = g_noline = 0;
		const struct result *bat[] = { &bw, &bc };
		for (int i = 0; i < 2; i++) {
			if (bat[i]->rc != whole.rc || strcmp(bat[i]->why, whole.why) ||
			    bat[i]->line != whole.line || bat[i]->field != whole.field)
				fail_msg("iter %d batch %d: rc %d '%s', whole rc %d '%s'", iter, i,
					 bat[i]->rc, bat[i]->why, whole.rc, whole.why);
			assert_string_equal(bat[i]->recs, ref.recs);
		}
		free(ref.recs);
		free(bw.recs);
		free(bc.recs);
		free(whole.recs);
		free(bytes.recs);
		free(some.recs);
		free(cuts);
		free(text.s);
	}
#undef RND
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4180),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_callback_stop),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_wide_records),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_utf8_every_offset),
		cmocka_unit_test(test_limit_chunks),
		cmocka_unit_test(test_fast_path_same),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
