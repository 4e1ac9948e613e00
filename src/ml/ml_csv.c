/* CSV tables and float text. See ml_csv.h. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/csv.h"
#include "base/mem.h"
#include "ml/ml_csv.h"

/* ---- numbers ---- */

static const double pow10_tab[23] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

/* The slow, always-right path. */
static int parse_float_slow(const char *s, size_t n, float *out)
{
	char tmp[128];
	if (n >= sizeof tmp)
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	char *end;
	errno = 0;
	float v = strtof(tmp, &end);
	if (end != tmp + n)
		return -EINVAL;
	if (!isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

/* Clinger's fast path: with at most 15 significant digits and |exp| <= 22
 * the double m * 10^e is correctly rounded; rounding it again to float is
 * then exact unless the double sits on a float rounding midpoint, which is
 * detected and sent to strtof. Anything unusual goes to strtof as well. */
int ml_parse_float(const char *s, size_t n, float *out)
{
	size_t i = 0;
	int neg = 0, digits = 0, exp10 = 0, any = 0;
	uint64_t m = 0;
	if (n == 0)
		return -EINVAL;
	if (s[0] == '-' || s[0] == '+')
		neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
		if (m == 0 && s[i] == '0')
			continue;
		if (digits++ >= 18)
			return parse_float_slow(s, n, out);
		m = m * 10 + (uint64_t)(s[i] - '0');
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, any = 1) {
			if (m == 0 && s[i] == '0') {
				exp10--;
				continue;
			}
			if (digits++ >= 18)
				return parse_float_slow(s, n, out);
			m = m * 10 + (uint64_t)(s[i] - '0');
			exp10--;
		}
	}
	if (!any)
		return parse_float_slow(s, n, out); /* "inf", "nan", ".e1", junk */
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0, e = 0, edig = 0;
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			eneg = s[i++] == '-';
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, edig++)
			if (e < 10000)
				e = e * 10 + (s[i] - '0');
		if (!edig)
			return -EINVAL;
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return -EINVAL;
	if (m == 0) {
		*out = neg ? -0.0f : 0.0f;
		return 0;
	}
	if (digits > 15 || exp10 > 22 || exp10 < -22)
		return parse_float_slow(s, n, out);
	double d = exp10 >= 0 ? (double)m * pow10_tab[exp10] : (double)m / pow10_tab[-exp10];
	if (d < 0x1p-126 || d >= 0x1p127)
		return parse_float_slow(s, n, out);
	uint64_t bits;
	memcpy(&bits, &d, sizeof bits);
	if ((bits & ((1ULL << 29) - 1)) == (1ULL << 28))
		return parse_float_slow(s, n, out);
	*out = neg ? -(float)d : (float)d;
	return 0;
}

int ml_format_float(float v, char *out)
{
	return snprintf(out, 24, "%.9g", (double)v);
}

/* ---- CSV: tables read through base/csv, as the server reads uploads ---- */

struct ctx {
	const char *columns;
	ml_table t;
	char **hdr; /* [nhdr] trimmed header names */
	size_t nhdr;
	int *pick; /* [nhdr]: kept index or -1 */
	size_t cap; /* rows allocated in t.x */
	char *err;
	size_t errlen;
	int said; /* err holds the callback's own message */
};

/* Spaces around a value are not part of it ("4, 5 ,6" reads as numbers). */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

void ml_table_release(ml_table *t)
{
	for (int i = 0; i < t->ncols; i++)
		free(t->names[i]);
	free(t->names);
	free(t->x);
	memset(t, 0, sizeof *t);
}

/* Maps the wanted names to header positions: pick[col] = kept index or -1. */
static int select_columns(struct ctx *c)
{
	ml_table *t = &c->t;
	int nhdr = (int)c->nhdr;
	if (!c->columns || !*c->columns) {
		t->names = xcalloc((size_t)nhdr, sizeof(char *));
		for (int i = 0; i < nhdr; i++) {
			c->pick[i] = i;
			t->names[i] = xstrdup(c->hdr[i]);
		}
		t->ncols = nhdr;
		return 0;
	}
	for (int i = 0; i < nhdr; i++)
		c->pick[i] = -1;
	char *list = xstrdup(c->columns), *save = NULL;
	int n = 0, rc = 0;
	for (const char *p = c->columns; *p; p++)
		n += *p == ',';
	t->names = xcalloc((size_t)n + 1, sizeof(char *));
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = -1;
		for (int i = 0; i < nhdr; i++)
			if (strcmp(c->hdr[i], tok) == 0)
				found = i;
		if (found < 0) {
			snprintf(c->err, c->errlen, "column '%s' not found in the header", tok);
			rc = -EINVAL;
			break;
		}
		if (c->pick[found] >= 0) {
			snprintf(c->err, c->errlen, "column '%s' selected twice", tok);
			rc = -EINVAL;
			break;
		}
		c->pick[found] = t->ncols;
		t->names[t->ncols++] = xstrdup(tok);
	}
	if (!rc && t->ncols == 0) {
		snprintf(c->err, c->errlen, "--columns selects no column");
		rc = -EINVAL;
	}
	free(list);
	return rc;
}

static int on_header(struct ctx *c, const csv_field *f, size_t nf)
{
	c->hdr = xcalloc(nf, sizeof(char *));
	c->pick = xmalloc(nf * sizeof(int));
	for (size_t i = 0; i < nf; i++) {
		const char *s = f[i].p;
		size_t n = f[i].n;
		trim(&s, &n);
		if (!n) {
			snprintf(c->err, c->errlen, "header: column %zu has an empty name", i + 1);
			return -EINVAL;
		}
		c->hdr[c->nhdr++] = xstrndup(s, n);
	}
	return select_columns(c);
}

static int on_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct ctx *c = ud;
	ml_table *t = &c->t;
	int rc;
	if (row == 0) {
		rc = on_header(c, f, nf);
		c->said = rc != 0;
		return rc;
	}
	/* The cell cap bounds t.x whatever the file's size. */
	if ((t->nrows + 1) * (size_t)t->ncols > ML_CSV_MAX_CELLS) {
		snprintf(c->err, c->errlen, "more than %u values", ML_CSV_MAX_CELLS);
		c->said = 1;
		return -EINVAL;
	}
	if (t->nrows == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 256;
		t->x = xrealloc(t->x, c->cap * (size_t)t->ncols * sizeof(float));
	}
	for (size_t i = 0; i < nf; i++) {
		int k = c->pick[i];
		if (k < 0)
			continue;
		const char *s = f[i].p;
		size_t n = f[i].n;
		float v;
		trim(&s, &n);
		rc = n ? ml_parse_float(s, n, &v) : -ENODATA;
		if (rc == -ENODATA)
			snprintf(c->err, c->errlen, "row %llu (line %llu), column '%s': missing value",
				 (unsigned long long)row, (unsigned long long)line, c->hdr[i]);
		else if (rc)
			snprintf(c->err, c->errlen,
				 "row %llu (line %llu), column '%s': '%.*s' is not %s",
				 (unsigned long long)row, (unsigned long long)line, c->hdr[i],
				 (int)(n < 40 ? n : 40), s,
				 rc == -ERANGE ? "a finite number" : "a number");
		if (rc) {
			c->said = 1;
			return -EINVAL;
		}
		t->x[t->nrows * (size_t)t->ncols + (size_t)k] = v;
	}
	t->nrows++;
	return 0;
}

/* The reader's refusal, with the row it was reading (the records it had
 * delivered, header included, is that row's number). */
static void reader_error(const csv_reader *r, char *err, size_t errlen)
{
	uint64_t line = 0, field = 0, row = csv_records(r);
	const char *why = csv_error(r, &line, &field);
	char where[96];
	if (row)
		snprintf(where, sizeof where, "row %llu (line %llu)", (unsigned long long)row,
			 (unsigned long long)line);
	else
		snprintf(where, sizeof where, "header (line %llu)", (unsigned long long)line);
	if (field)
		snprintf(err, errlen, "%s, column %llu: %s", where, (unsigned long long)field,
			 why ? why : "malformed");
	else
		snprintf(err, errlen, "%s: %s", where, why ? why : "malformed");
}

int ml_csv_read(const char *data, size_t len, const char *columns, ml_table *out, char *err,
		size_t errlen)
{
	struct ctx c = { .columns = columns, .err = err, .errlen = errlen };
	memset(out, 0, sizeof *out);
	csv_reader *r = csv_new(0, on_record, &c);
	int rc = csv_feed(r, data, len);
	if (!rc)
		rc = csv_finish(r);
	if (rc) {
		if (!c.said)
			reader_error(r, err, errlen);
		rc = -EINVAL;
		goto out;
	}
	*out = c.t;
	memset(&c.t, 0, sizeof c.t);
out:
	csv_free(&r);
	ml_table_release(&c.t);
	for (size_t i = 0; i < c.nhdr; i++)
		free(c.hdr[i]);
	free(c.hdr);
	free(c.pick);
	return rc;
}
