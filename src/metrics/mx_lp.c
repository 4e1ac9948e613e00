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
 * float forms converted exactly without strtod (see num_float). A request
 * often repeats its tags (several measurements of a host, several scrapes
 * of a series): the tags of a line (",tag=v,..." from the end of the
 * measurement to the first unescaped space) are looked up by their raw
 * bytes among the ones accepted before, and the line's samples reuse the
 * batch's copies of their agent and tags (mx_batch_add_like). Equal bytes
 * parse the same, so that skips tokenizing, validating, sorting and
 * interning them and changes no answer; a request whose tags do not
 * repeat turns the lookups off. */
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
	size_t klen;
	double v;
};

/* Accepted tags: their raw bytes (in the request) and what they gave. */
struct tent {
	uint64_t h;
	const char *raw; /* NULL: empty slot */
	size_t len;
	/* Agent and tags as interned by the batch. */
	const char *agent;
	const mx_tag *tags;
	unsigned ntags;
};

/* Open addressing, cap a power of two, n <= cap / 2. */
struct tcache {
	struct tent *e;
	size_t n, cap;
	size_t looks, hits;
	int off; /* the request's tags do not repeat: no more lookups */
};

struct lp {
	char *buf; /* scratch: a line's tokens, unescaped and NUL-terminated */
	size_t cap;
	struct field *f;
	size_t nf, fcap;
	size_t line;
	char *err;
	size_t errlen;
	struct tcache tc;
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

/* Where head_tags() stops on a line it accepts: the first space from s
 * (an unescaped byte) that no backslash escapes, as token() reads them. */
static const char *tags_end(const char *s, const char *e)
{
	const char *sp = memchr(s, ' ', (size_t)(e - s));
	if (!sp)
		return e;
	if (!memchr(s, '\\', (size_t)(sp - s)))
		return sp;
	for (const char *p = s; p < e; p++) {
		if (*p == '\\' && p + 1 < e &&
		    (p[1] == '\\' || p[1] == ',' || p[1] == ' ' || p[1] == '='))
			p++;
		else if (*p == ' ')
			return p;
	}
	return e;
}

static uint64_t raw_hash(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n, w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	for (w = 0; n; n--)
		w = w << 8 | (unsigned char)s[n - 1];
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ h >> 29;
}

/* At this many lookups and each power of two after, under an eighth of
 * them hits: the request's tags do not repeat enough to pay for hashing
 * them (and for a table that grows with them). */
#define TAGS_TRIAL 256

/* The entry of tags [s, s + n), or the empty slot where they would go
 * (NULL when lookups are off). */
static struct tent *tags_find(struct tcache *c, const char *s, size_t n)
{
	if (c->off)
		return NULL;
	c->looks++;
	if (c->looks >= TAGS_TRIAL && !(c->looks & (c->looks - 1)) && c->hits < c->looks / 8) {
		c->off = 1;
		return NULL;
	}
	if ((c->n + 1) * 2 > c->cap) {
		struct tcache g = *c;
		g.cap = c->cap ? c->cap * 2 : 64;
		g.e = xcalloc(g.cap, sizeof *g.e);
		for (size_t i = 0; i < c->cap; i++) {
			size_t j = c->e[i].h & (g.cap - 1);
			if (!c->e[i].raw)
				continue;
			while (g.e[j].raw)
				j = (j + 1) & (g.cap - 1);
			g.e[j] = c->e[i];
		}
		free(c->e);
		*c = g;
	}
	uint64_t h = raw_hash(s, n);
	for (size_t i = h & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
		struct tent *e = &c->e[i];
		if (!e->raw) {
			e->h = h;
			return e;
		}
		if (e->h == h && e->len == n && !memcmp(e->raw, s, n)) {
			c->hits++;
			return e;
		}
	}
}

/* The tags after the measurement (stop: the byte that ended it), the
 * agent tag taken out. */
static int head_tags(struct lp *l, const char **pp, const char *e, char **d, int stop,
		     const char **agent, mx_tag *tags, unsigned *ntags)
{
	char q[200];
	while (stop == ',') {
		(*pp)++;
		const char *k = *d, *v;
		if (token(pp, e, ST_COMMA | ST_SPACE | ST_EQ | ESC_EQ, d) != '=')
			return fail(l, "tag \"%s\" has no value", mx_quote(k, strlen(k), q, sizeof q));
		(*pp)++;
		v = *d;
		size_t kl = (size_t)(v - k) - 1;
		stop = token(pp, e, ST_COMMA | ST_SPACE | ST_EQ | ESC_EQ, d);
		if (stop == '=')
			return fail(l, "tag \"%s\": unescaped '=' in the value",
				    mx_quote(k, strlen(k), q, sizeof q));
		if (*v == '\0')
			return fail(l, "tag \"%s\" has an empty value",
				    mx_quote(k, strlen(k), q, sizeof q));
		if (kl == 5 && !memcmp(k, "agent", 5)) {
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

/* The samples of a line's fields at ts. c: the entry of the line's tags
 * (NULL: lookups off); filled (c->raw set) when they were met before, then
 * agent and tags are unused and the batch's copies serve; an empty slot
 * gets the copies once the batch took a sample. [t, he): the tags' bytes. */
static int add_fields(struct lp *l, mx_batch *b, struct tent *c, const char *t,
		      const char *he, const char *meas, size_t ml, const char *agent,
		      const mx_tag *tags, unsigned ntags, int64_t ts)
{
	char q[200], berr[300];
	for (size_t i = 0; i < l->nf; i++) {
		const struct field *f = &l->f[i];
		const char *metric = meas;
		char name[MX_NAME_MAX + 1];
		int rc;
		if (f->klen != 5 || memcmp(f->key, "value", 5)) {
			if (ml + 1 + f->klen > MX_NAME_MAX)
				return fail(l, "field \"%s\": metric name longer than %d bytes",
					    mx_quote(f->key, f->klen, q, sizeof q), MX_NAME_MAX);
			memcpy(name, meas, ml);
			name[ml] = '.';
			memcpy(name + ml + 1, f->key, f->klen + 1);
			metric = name;
		}
		if (c && c->raw)
			rc = mx_batch_add_like(b, &(mx_sample){ .agent = c->agent, .tags = c->tags,
							       .ntags = c->ntags },
					       metric, ts, f->v, berr, sizeof berr);
		else
			rc = mx_batch_add(b, agent, metric, ts, f->v, tags, ntags, berr, sizeof berr);
		if (rc == -E2BIG) {
			snprintf(l->err, l->errlen, "line %zu: %s", l->line, berr);
			return rc;
		}
		if (rc)
			return fail(l, "field \"%s\": %s", mx_quote(f->key, f->klen, q, sizeof q),
				    berr);
		if (c && !c->raw) {
			const mx_sample *x = mx_batch_get(b, mx_batch_len(b) - 1);
			c->agent = x->agent;
			c->tags = x->tags;
			c->ntags = x->ntags;
			c->raw = t;
			c->len = (size_t)(he - t);
			l->tc.n++;
		}
	}
	return 0;
}

static int line(struct lp *l, mx_batch *b, const char *s, const char *e,
		enum mx_precision prec, const char *dflt_agent, int64_t now_ms)
{
	mx_tag tags[MX_TAGS_MAX];
	unsigned ntags = 0;
	const char *agent = NULL, *p = s;
	size_t need = 2 * (size_t)(e - s) + 2;
	char q[200];
	int rc;
	if (need > l->cap) {
		l->cap = need;
		l->buf = xrealloc(l->buf, need);
	}
	char *d = l->buf;
	const char *meas = d;
	int mstop = token(&p, e, ST_COMMA | ST_SPACE, &d);
	size_t ml = (size_t)(d - meas) - 1;
	if (ml == 0)
		return fail(l, "no measurement");
	/* The tags' bytes [t, he) from the byte that ended the measurement
	 * (so "m value" and "m, value" differ); a line without a space after
	 * them has no fields, an error to find the usual way. */
	const char *t = p, *he = tags_end(p, e);
	struct tent *c = he < e ? tags_find(&l->tc, t, (size_t)(he - t)) : NULL;
	if (c && c->raw) {
		p = he;
	} else {
		if ((rc = head_tags(l, &p, e, &d, mstop, &agent, tags, &ntags)))
			return rc;
		if (!agent)
			agent = dflt_agent;
		if (!agent)
			return fail(l, "no agent tag (and no agent in the query)");
	}
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
		f->klen = (size_t)(d - k) - 1;
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
		const char *ts0 = p;
		while (p < e && *p != ' ')
			p++;
		rc = timestamp(l, ts0, p, prec, &ts);
		if (rc)
			return rc;
		while (p < e && *p == ' ')
			p++;
		if (p < e)
			return fail(l, "text after the timestamp");
	}
	return add_fields(l, b, c, t, he, meas, ml, agent, tags, ntags, ts);
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
	free(l.tc.e);
	return rc;
}
