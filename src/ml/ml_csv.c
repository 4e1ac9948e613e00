/* CSV tables and float text. See ml_csv.h. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- CSV ---- */

struct reader {
	const char *p, *end;
	size_t line; /* 1-based line of the cursor */
	char field[ML_CSV_MAX_FIELD + 1];
	size_t flen;
	int quoted;
};

/* Reads one field into r->field. Returns 0 with *last = 1 at the end of
 * the record (or of the data), -E2BIG when the field is too long, -EINVAL
 * on a stray quote or an unterminated quoted field. */
static int next_field(struct reader *r, int *last)
{
	r->flen = 0;
	r->quoted = 0;
	*last = 0;
	if (r->p < r->end && *r->p == '"') {
		r->quoted = 1;
		r->p++;
		for (;;) {
			if (r->p >= r->end)
				return -EINVAL;
			char c = *r->p++;
			if (c == '"') {
				if (r->p < r->end && *r->p == '"') {
					r->p++;
				} else {
					break;
				}
			}
			if (c == '\n')
				r->line++;
			if (r->flen >= ML_CSV_MAX_FIELD)
				return -E2BIG;
			r->field[r->flen++] = c;
		}
	}
	if (r->quoted) {
		if (r->p < r->end && *r->p == '\r')
			r->p++;
		if (r->p < r->end && *r->p != ',' && *r->p != '\n')
			return -EINVAL;
	}
	while (r->p < r->end && *r->p != ',' && *r->p != '\n') {
		if (*r->p == '"')
			return -EINVAL;
		if (r->flen >= ML_CSV_MAX_FIELD)
			return -E2BIG;
		r->field[r->flen++] = *r->p++;
	}
	if (!r->quoted && r->flen && r->field[r->flen - 1] == '\r')
		r->flen--;
	r->field[r->flen] = '\0';
	if (r->p >= r->end) {
		*last = 1;
	} else if (*r->p == '\n') {
		*last = 1;
		r->p++;
		r->line++;
	} else {
		r->p++; /* ',' */
	}
	return 0;
}

static void trim(char *s, size_t *n)
{
	size_t a = 0, b = *n;
	while (a < b && (s[a] == ' ' || s[a] == '\t'))
		a++;
	while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r'))
		b--;
	memmove(s, s + a, b - a);
	s[b - a] = '\0';
	*n = b - a;
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
static int select_columns(char **hdr, int nhdr, const char *columns, int *pick, ml_table *t,
			  char *err, size_t errlen)
{
	if (!columns || !*columns) {
		t->names = xcalloc((size_t)nhdr, sizeof(char *));
		for (int i = 0; i < nhdr; i++) {
			pick[i] = i;
			t->names[i] = xstrdup(hdr[i]);
		}
		t->ncols = nhdr;
		return 0;
	}
	for (int i = 0; i < nhdr; i++)
		pick[i] = -1;
	char *list = xstrdup(columns), *save = NULL;
	int n = 0, rc = 0;
	for (const char *c = columns; *c; c++)
		n += *c == ',';
	t->names = xcalloc((size_t)n + 1, sizeof(char *));
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int found = -1;
		for (int i = 0; i < nhdr; i++)
			if (strcmp(hdr[i], tok) == 0)
				found = i;
		if (found < 0) {
			snprintf(err, errlen, "column '%s' not found in the header", tok);
			rc = -EINVAL;
			break;
		}
		if (pick[found] >= 0) {
			snprintf(err, errlen, "column '%s' selected twice", tok);
			rc = -EINVAL;
			break;
		}
		pick[found] = t->ncols;
		t->names[t->ncols++] = xstrdup(tok);
	}
	if (!rc && t->ncols == 0) {
		snprintf(err, errlen, "--columns selects no column");
		rc = -EINVAL;
	}
	free(list);
	return rc;
}

static int read_header(struct reader *r, char ***hdr, int *nhdr, char *err, size_t errlen)
{
	int last = 0, rc = 0;
	*hdr = NULL;
	*nhdr = 0;
	if (r->p >= r->end) {
		snprintf(err, errlen, "empty file: expected a header row");
		return -EINVAL;
	}
	while (!last) {
		rc = next_field(r, &last);
		if (rc) {
			snprintf(err, errlen, "header (line 1): %s",
				 rc == -E2BIG ? "field too long" : "malformed quoted field");
			return -EINVAL;
		}
		if (*nhdr >= ML_CSV_MAX_COLS) {
			snprintf(err, errlen, "header: more than %d columns", ML_CSV_MAX_COLS);
			return -EINVAL;
		}
		trim(r->field, &r->flen);
		if (!r->flen) {
			snprintf(err, errlen, "header: column %d has an empty name", *nhdr + 1);
			return -EINVAL;
		}
		*hdr = xrealloc(*hdr, (size_t)(*nhdr + 1) * sizeof(char *));
		(*hdr)[(*nhdr)++] = xstrdup(r->field);
	}
	return 0;
}

int ml_csv_read(const char *data, size_t len, const char *columns, ml_table *out, char *err,
		size_t errlen)
{
	struct reader *r = xcalloc(1, sizeof *r);
	char **hdr = NULL;
	int nhdr = 0, *pick = NULL, rc;
	size_t cap = 0;
	ml_table t = { 0 };
	memset(out, 0, sizeof *out);
	r->p = data;
	r->end = data + len;
	r->line = 1;
	rc = read_header(r, &hdr, &nhdr, err, errlen);
	if (rc)
		goto out;
	pick = xmalloc((size_t)nhdr * sizeof(int));
	rc = select_columns(hdr, nhdr, columns, pick, &t, err, errlen);
	if (rc)
		goto out;
	while (r->p < r->end) {
		size_t line = r->line, row = t.nrows + 1;
		if (*r->p == '\n' || (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n')) {
			r->p += *r->p == '\r' ? 2 : 1; /* blank line */
			r->line++;
			continue;
		}
		if ((t.nrows + 1) * (size_t)t.ncols > ML_CSV_MAX_CELLS) {
			snprintf(err, errlen, "more than %u values", ML_CSV_MAX_CELLS);
			rc = -EINVAL;
			goto out;
		}
		if (t.nrows == cap) {
			cap = cap ? cap * 2 : 256;
			t.x = xrealloc(t.x, cap * t.ncols * sizeof(float));
		}
		int last = 0, col = 0;
		while (!last) {
			rc = next_field(r, &last);
			if (rc) {
				snprintf(err, errlen, "row %zu (line %zu), column %d: %s", row, line,
					 col + 1,
					 rc == -E2BIG ? "field too long" : "malformed quoted field");
				rc = -EINVAL;
				goto out;
			}
			if (col >= nhdr) {
				snprintf(err, errlen,
					 "row %zu (line %zu): more fields than the header's %d", row,
					 line, nhdr);
				rc = -EINVAL;
				goto out;
			}
			int k = pick[col];
			if (k >= 0) {
				trim(r->field, &r->flen);
				float v;
				int prc = r->flen ? ml_parse_float(r->field, r->flen, &v) : -ENODATA;
				if (prc) {
					if (prc == -ENODATA)
						snprintf(err, errlen,
							 "row %zu (line %zu), column '%s': missing value",
							 row, line, hdr[col]);
					else
						snprintf(err, errlen,
							 "row %zu (line %zu), column '%s': '%.40s' is not %s",
							 row, line, hdr[col], r->field,
							 prc == -ERANGE ? "a finite number" : "a number");
					rc = -EINVAL;
					goto out;
				}
				t.x[t.nrows * t.ncols + k] = v;
			}
			col++;
		}
		if (col != nhdr) {
			snprintf(err, errlen, "row %zu (line %zu): %d fields, the header has %d", row,
				 line, col, nhdr);
			rc = -EINVAL;
			goto out;
		}
		t.nrows++;
	}
	*out = t;
	memset(&t, 0, sizeof t);
out:
	ml_table_release(&t);
	for (int i = 0; i < nhdr; i++)
		free(hdr[i]);
	free(hdr);
	free(pick);
	free(r);
	return rc;
}
