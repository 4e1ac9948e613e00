/* Influx line protocol (InfluxDB v2 reference):
 *
 *   measurement[,tag=value…] field=value[,field=value…] [timestamp]
 *
 * Escapes: in the measurement "\," and "\ "; in tag keys, tag values and
 * field keys also "\="; "\\" is one backslash everywhere; a backslash
 * before any other byte is itself. Field values: floats (1, -1.5, 1e-3),
 * integers 12i, unsigned 12u, booleans t T true True TRUE f F false False
 * FALSE (stored 1/0), strings "…" (refused: the store keeps numbers).
 * Lines end with LF or CRLF; blank lines and lines starting with '#' are
 * skipped; spaces may repeat between sections.
 *
 * Mapping: the tag "agent" names the agent (and is not a tag), else the
 * caller's default; each field is a sample of metric measurement.field, or
 * measurement when the field is "value"; timestamps are converted from the
 * request's precision to milliseconds rounding toward −∞.
 *
 * This is the benchmark's hot path: one pass per line, tokens unescaped
 * into one scratch buffer that grows to the longest line, the common
 * float forms converted exactly without strtod (see num_float). */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "metrics/mx_parse.h"

struct field {
	const char *key; /* in the scratch buffer */
	double v;
};

struct lp {
	char *buf; /* scratch: a line's tokens, unescaped and NUL-terminated */
	size_t cap;
	struct field *f;
	size_t nf, fcap;
	size_t line;
	char *err;
	size_t errlen;
};

int mx_precision_parse(const char *s, enum mx_precision *out)
{
	static const char *const names[] = { "ns", "us", "ms", "s" };
	if (!s) {
		*out = MX_NS;
		return 0;
	}
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i])) {
			*out = (enum mx_precision)i;
			return 0;
		}
	return -EINVAL;
}

static int fail(struct lp *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct lp *l, const char *fmt, ...)
{
	char why[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "line %zu: %s", l->line, why);
	return -EINVAL;
}

enum { ST_COMMA = 1, ST_SPACE = 2, ST_EQ = 4, ESC_EQ = 8 };

/* Copies the token at *pp (up to e) into *dst unescaped and NUL-terminated,
 * stopping at an unescaped byte in the stop set (flags). Returns the stop
 * byte (or 0 at e); *pp points at it. */
static int token(const char **pp, const char *e, int flags, char **dst)
{
	const char *p = *pp;
	char *d = *dst;
	int stop = 0;
	for (; p < e; p++) {
		char c = *p;
		if (c == '\\' && p + 1 < e) {
			char x = p[1];
			if (x == '\\' || x == ',' || x == ' ' || (x == '=' && (flags & ESC_EQ))) {
				*d++ = x;
				p++;
				continue;
			}
		} else if ((c == ',' && (flags & ST_COMMA)) || (c == ' ' && (flags & ST_SPACE)) ||
			   (c == '=' && (flags & ST_EQ))) {
			stop = c;
			break;
		}
		*d++ = c;
	}
	*d++ = '\0';
	*dst = d;
	*pp = p;
	return stop;
}

static const double pow10_exact[] = {
	1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* -?(digits[.digits]|.digits)([eE][+-]?digits)? exactly as strtod would
 * round it: when the digits fit in 2^53 and the power of ten is at most 22
 * both are exact doubles and one multiplication or division rounds once
 * (Clinger's fast path); anything else goes to strtod. No hex, inf or nan. */
static int num_float(const char *s, size_t n, double *out)
{
	size_t i = 0;
	int neg = 0, digits = 0, exp10 = 0, sig = 0;
	uint64_t mant = 0;
	if (i < n && s[i] == '-')
		neg = 1, i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (mant == 0 && s[i] == '0')
			continue;
		if (sig < 19)
			mant = mant * 10 + (uint64_t)(s[i] - '0');
		else
			exp10++;
		sig++;
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
			if (mant == 0 && s[i] == '0') {
				exp10--;
				continue;
			}
			if (sig < 19) {
				mant = mant * 10 + (uint64_t)(s[i] - '0');
				exp10--;
			}
			sig++;
		}
	}
	if (!digits)
		return -EINVAL;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0, e = 0, ed = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, ed++)
			if (e < 100000)
				e = e * 10 + (s[i] - '0');
		if (!ed)
			return -EINVAL;
		exp10 += eneg ? -e : e;
	}
	if (i != n)
		return -EINVAL;
	if (sig <= 19 && mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
		double v = (double)mant;
		v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
		*out = neg ? -v : v;
		return 0;
	}
	char tmp[512];
	if (n >= sizeof tmp)
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	*out = strtod(tmp, NULL);
	return 0;
}

/* -?digits within int64 (neg allowed) or uint64. */
static int num_int(const char *s, size_t n, int allow_neg, double *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0;
	if (allow_neg && i < n && s[i] == '-')
		neg = 1, i++;
	if (i == n)
		return -EINVAL;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (allow_neg && v > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
		return -ERANGE;
	*out = neg ? -(double)v : (double)v;
	return 0;
}

static int bool_word(const char *s, size_t n, double *out)
{
	static const char *const t[] = { "t", "T", "true", "True", "TRUE" };
	static const char *const f[] = { "f", "F", "false", "False", "FALSE" };
	for (int i = 0; i < 5; i++) {
		if (strlen(t[i]) == n && !memcmp(s, t[i], n)) {
			*out = 1;
			return 0;
		}
		if (strlen(f[i]) == n && !memcmp(s, f[i], n)) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int field_value(struct lp *l, const char **pp, const char *e, const char *key,
		       double *v)
{
	char q[200];
	const char *s = *pp, *p = s;
	if (p < e && *p == '"')
		return fail(l, "field \"%s\": string fields are not stored",
			    mx_quote(key, strlen(key), q, sizeof q));
	while (p < e && *p != ',' && *p != ' ')
		p++;
	*pp = p;
	size_t n = (size_t)(p - s);
	int rc = -EINVAL;
	if (n == 0)
		return fail(l, "field \"%s\": no value", mx_quote(key, strlen(key), q, sizeof q));
	if (s[n - 1] == 'i')
		rc = num_int(s, n - 1, 1, v);
	else if (s[n - 1] == 'u')
		rc = num_int(s, n - 1, 0, v);
	else if ((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '.')
		rc = num_float(s, n, v);
	else
		rc = bool_word(s, n, v);
	if (rc == -ERANGE)
		return fail(l, "field \"%s\": integer out of range",
			    mx_quote(key, strlen(key), q, sizeof q));
	if (rc) {
		char qv[200];
		return fail(l, "field \"%s\": \"%s\" is not a number or boolean",
			    mx_quote(key, strlen(key), q, sizeof q), mx_quote(s, n, qv, sizeof qv));
	}
	return 0;
}

static int64_t floordiv(int64_t a, int64_t d)
{
	return a / d - (a % d < 0);
}

static int timestamp(struct lp *l, const char *s, const char *e, enum mx_precision prec,
		     int64_t *ms)
{
	size_t i = 0, n = (size_t)(e - s);
	int neg = n && s[0] == '-';
	uint64_t u = 0;
	char q[200];
	for (i = (size_t)neg; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (u > (UINT64_MAX - 9) / 10)
			break;
		u = u * 10 + (uint64_t)(s[i] - '0');
	}
	if (i != n || n == (size_t)neg || u > (uint64_t)INT64_MAX)
		return fail(l, "timestamp \"%s\" is not an integer", mx_quote(s, n, q, sizeof q));
	int64_t t = neg ? -(int64_t)u : (int64_t)u;
	switch (prec) {
	case MX_NS:
		*ms = floordiv(t, 1000000);
		return 0;
	case MX_US:
		*ms = floordiv(t, 1000);
		return 0;
	case MX_MS:
		*ms = t;
		return 0;
	case MX_S:
		if (t > INT64_MAX / 1000 || t < INT64_MIN / 1000)
			return fail(l, "timestamp out of range");
		*ms = t * 1000;
		return 0;
	}
	return -EINVAL;
}

/* measurement[,tags] — the agent tag taken out. */
static int head(struct lp *l, const char **pp, const char *e, char **d, const char **meas,
		const char **agent, mx_tag *tags, unsigned *ntags)
{
	char q[200];
	*meas = *d;
	int stop = token(pp, e, ST_COMMA | ST_SPACE, d);
	if (**meas == '\0')
		return fail(l, "no measurement");
	while (stop == ',') {
		(*pp)++;
		const char *k = *d, *v;
		if (token(pp, e, ST_COMMA | ST_SPACE | ST_EQ | ESC_EQ, d) != '=')
			return fail(l, "tag \"%s\" has no value", mx_quote(k, strlen(k), q, sizeof q));
		(*pp)++;
		v = *d;
		stop = token(pp, e, ST_COMMA | ST_SPACE | ST_EQ | ESC_EQ, d);
		if (stop == '=')
			return fail(l, "tag \"%s\": unescaped '=' in the value",
				    mx_quote(k, strlen(k), q, sizeof q));
		if (*v == '\0')
			return fail(l, "tag \"%s\" has an empty value",
				    mx_quote(k, strlen(k), q, sizeof q));
		if (!strcmp(k, "agent")) {
			if (*agent)
				return fail(l, "tag \"agent\" appears twice");
			*agent = v;
			continue;
		}
		if (*ntags == MX_TAGS_MAX)
			return fail(l, "more than %d tags", MX_TAGS_MAX);
		tags[(*ntags)++] = (mx_tag){ k, v };
	}
	if (stop != ' ')
		return fail(l, "no fields");
	return 0;
}

static int line(struct lp *l, mx_batch *b, const char *s, const char *e,
		enum mx_precision prec, const char *dflt_agent, int64_t now_ms)
{
	mx_tag tags[MX_TAGS_MAX];
	unsigned ntags = 0;
	const char *meas, *agent = NULL, *p = s;
	size_t need = 2 * (size_t)(e - s) + 2;
	char q[200], berr[300];
	if (need > l->cap) {
		l->cap = need;
		l->buf = xrealloc(l->buf, need);
	}
	char *d = l->buf;
	int rc = head(l, &p, e, &d, &meas, &agent, tags, &ntags);
	if (rc)
		return rc;
	if (!agent)
		agent = dflt_agent;
	if (!agent)
		return fail(l, "no agent tag (and no agent in the query)");
	l->nf = 0;
	for (;;) {
		while (p < e && *p == ' ')
			p++;
		const char *k = d;
		int stop = token(&p, e, ST_COMMA | ST_SPACE | ST_EQ | ESC_EQ, &d);
		if (stop != '=' || *k == '\0')
			return fail(l, "field \"%s\" has no value", mx_quote(k, strlen(k), q, sizeof q));
		p++;
		if (l->nf == l->fcap) {
			l->fcap = l->fcap ? 2 * l->fcap : 16;
			l->f = xrealloc(l->f, l->fcap * sizeof *l->f);
		}
		struct field *f = &l->f[l->nf++];
		f->key = k;
		rc = field_value(l, &p, e, k, &f->v);
		if (rc)
			return rc;
		if (p == e || *p == ' ')
			break;
		p++; /* ',' */
	}
	while (p < e && *p == ' ')
		p++;
	int64_t ts = now_ms;
	if (p < e) {
		const char *t = p;
		while (p < e && *p != ' ')
			p++;
		rc = timestamp(l, t, p, prec, &ts);
		if (rc)
			return rc;
		while (p < e && *p == ' ')
			p++;
		if (p < e)
			return fail(l, "text after the timestamp");
	}
	size_t ml = strlen(meas);
	for (size_t i = 0; i < l->nf; i++) {
		const char *key = l->f[i].key, *metric = meas;
		char name[MX_NAME_MAX + 1];
		size_t kl = strlen(key);
		if (strcmp(key, "value")) {
			if (ml + 1 + kl > MX_NAME_MAX)
				return fail(l, "field \"%s\": metric name longer than %d bytes",
					    mx_quote(key, kl, q, sizeof q), MX_NAME_MAX);
			memcpy(name, meas, ml);
			name[ml] = '.';
			memcpy(name + ml + 1, key, kl + 1);
			metric = name;
		}
		rc = mx_batch_add(b, agent, metric, ts, l->f[i].v, tags, ntags, berr, sizeof berr);
		if (rc == -E2BIG) {
			snprintf(l->err, l->errlen, "line %zu: %s", l->line, berr);
			return rc;
		}
		if (rc)
			return fail(l, "field \"%s\": %s", mx_quote(key, kl, q, sizeof q), berr);
	}
	return 0;
}

int mx_parse_lp(const char *p, size_t n, enum mx_precision prec, const char *agent,
		int64_t now_ms, mx_batch *b, char *err, size_t errlen)
{
	struct lp l = { .err = err, .errlen = errlen };
	const char *end = p + n;
	int rc = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		l.line++;
		if (e > p && e[-1] == '\r')
			e--;
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p < e && *p != '#') {
			if (memchr(p, '\0', (size_t)(e - p))) {
				rc = fail(&l, "NUL byte");
				goto out;
			}
			rc = line(&l, b, p, e, prec, agent, now_ms);
			if (rc)
				goto out;
		}
		p = nl ? nl + 1 : end;
	}
out:
	free(l.buf);
	free(l.f);
	return rc;
}
