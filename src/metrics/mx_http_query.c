/* The read routes of the metrics (docs/metrics.md, "Query and export"):
 * aggregated queries, raw exports streamed as CSV or NDJSON (gzip when
 * asked), an agent's LLM-call summary, and the Prometheus text of the
 * latest values. Every one applies the caller's visibility through the
 * store's agent_ok callback: an agent the caller may not read is skipped,
 * never refused, so that a metric filter reveals nothing.
 *
 * Query parameters are taken from the raw request target (tag.K=V has
 * names no fixed list knows), percent-decoded, and checked: UTF-8 without
 * control bytes, at most MX_QS_MAX of them, names and tags by the rules of
 * mx.h. Anything else is a 400 naming the parameter. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

#define ANSWER_MAX ((size_t)64 << 20) /* a query's JSON answer */
#define DEFAULT_RANGE_MS (3600 * 1000LL)
#define DEFAULT_STEP_MS 60000

/* ---- query string ---- */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes in[0..n) (percent escapes, '+' as space) into out. -EINVAL for a
 * broken escape. */
static int pct_decode(const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '%') {
			int hi = i + 2 < n ? hexval(in[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(in[i + 2]) : -1;
			/* %00 would cut the value short unseen: refused with the rest. */
			if (hi < 0 || lo < 0 || (hi | lo) == 0)
				return -EINVAL;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i] == '+' ? ' ' : in[i];
		}
	}
	out[o] = '\0';
	return 0;
}

int mx_qs_parse(http_req *r, mx_qs *q)
{
	const char *t = http_req_raw_target(r);
	const char *s = t ? strchr(t, '?') : NULL;
	memset(q, 0, sizeof *q);
	if (!s || !*++s)
		return 0;
	size_t len = strlen(s);
	if (len > MX_QS_BYTES) {
		http_reply_error(r, 400, "bad_request", "the query string exceeds %d bytes", MX_QS_BYTES);
		return -EINVAL;
	}
	q->buf = xmalloc(2 * len + 2);
	char *o = q->buf;
	while (*s) {
		size_t n = strcspn(s, "&");
		if (n) {
			if (q->n == MX_QS_MAX) {
				http_reply_error(r, 400, "bad_request", "more than %d query parameters", MX_QS_MAX);
				return -EINVAL;
			}
			const char *eq = memchr(s, '=', n);
			size_t kn = eq ? (size_t)(eq - s) : n;
			q->k[q->n] = o;
			if (pct_decode(s, kn, o)) {
				http_reply_error(r, 400, "bad_request", "a query parameter has a broken %%-escape");
				return -EINVAL;
			}
			o += strlen(o) + 1;
			q->v[q->n] = o;
			if (pct_decode(eq ? eq + 1 : s + n, eq ? n - kn - 1 : 0, o)) {
				http_reply_error(r, 400, "bad_request", "query parameter '%s' has a broken"
						 " %%-escape", q->k[q->n]);
				return -EINVAL;
			}
			if (!sn_utf8_valid(q->k[q->n], strlen(q->k[q->n]), 1) ||
			    !sn_utf8_valid(o, strlen(o), 1)) {
				http_reply_error(r, 400, "bad_request", "query parameters must be UTF-8"
						 " without control characters");
				return -EINVAL;
			}
			o += strlen(o) + 1;
			q->n++;
		}
		s += n;
		if (*s == '&')
			s++;
	}
	return 0;
}

void mx_qs_release(mx_qs *q)
{
	xfree(&q->buf);
}

const char *mx_qs_get(const mx_qs *q, const char *name)
{
	for (size_t i = 0; i < q->n; i++)
		if (strcmp(q->k[i], name) == 0)
			return q->v[i];
	return NULL;
}

/* ---- parameters ---- */

static int tag_key_ok(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > MX_TAG_KEY_MAX || strcmp(k, "agent") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return 0;
	}
	return 1;
}

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(((const mx_tag *)a)->k, ((const mx_tag *)b)->k);
}

static int bad(http_req *r, const char *what)
{
	http_reply_error(r, 400, "bad_request", "%s", what);
	return -EINVAL;
}

int mx_sel_parse(http_req *r, mx_sel *p, int need_metric)
{
	int64_t now = sn_now_ms();
	const char *v;
	int rc = mx_qs_parse(r, &p->qs);
	if (rc)
		return rc;
	p->metric = mx_qs_get(&p->qs, "metric");
	p->agent = mx_qs_get(&p->qs, "agent");
	if (need_metric && !p->metric)
		return bad(r, "query parameter 'metric' is required");
	if (p->metric && !mx_name_ok(p->metric))
		return bad(r, "query parameter 'metric': a metric name is 1 to 128 characters of"
			   " [A-Za-z0-9_.:-]");
	if (p->agent && !mx_name_ok(p->agent))
		return bad(r, "query parameter 'agent': an agent name is 1 to 128 characters of"
			   " [A-Za-z0-9_.:-]");
	p->to = now;
	p->from = now - DEFAULT_RANGE_MS;
	if ((v = mx_qs_get(&p->qs, "to")) && sn_time_arg(v, now, &p->to))
		return bad(r, "query parameter 'to' is an RFC 3339 time, unix milliseconds, 'now'"
			   " or a duration before now such as -1h");
	if ((v = mx_qs_get(&p->qs, "from")) && sn_time_arg(v, now, &p->from))
		return bad(r, "query parameter 'from' is an RFC 3339 time, unix milliseconds, 'now'"
			   " or a duration before now such as -1h");
	if (p->from >= p->to)
		return bad(r, "'from' must be before 'to'");
	p->ntags = 0;
	for (size_t i = 0; i < p->qs.n; i++) {
		const char *k = p->qs.k[i];
		if (strncmp(k, "tag.", 4) != 0)
			continue;
		if (p->ntags == MX_TAGS_MAX) {
			http_reply_error(r, 400, "bad_request", "at most %d tag filters", MX_TAGS_MAX);
			return -EINVAL;
		}
		if (!tag_key_ok(k + 4)) {
			http_reply_error(r, 400, "bad_request", "query parameter '%s': a tag key is 1 to"
					 " %d characters of [A-Za-z0-9_.-], not 'agent'", k, MX_TAG_KEY_MAX);
			return -EINVAL;
		}
		if (strlen(p->qs.v[i]) > MX_TAG_VAL_MAX) {
			http_reply_error(r, 400, "bad_request", "query parameter '%s': a tag value is at"
					 " most %d bytes", k, MX_TAG_VAL_MAX);
			return -EINVAL;
		}
		p->tags[p->ntags++] = (mx_tag){ k + 4, p->qs.v[i] };
	}
	qsort(p->tags, p->ntags, sizeof *p->tags, tag_cmp);
	for (unsigned i = 1; i < p->ntags; i++)
		if (strcmp(p->tags[i].k, p->tags[i - 1].k) == 0) {
			http_reply_error(r, 400, "bad_request", "tag filter '%s' is given twice",
					 p->tags[i].k);
			return -EINVAL;
		}
	return 0;
}

/* The agent_ok of the store's filter. */
static int viewer_ok(void *ctx, const char *agent)
{
	struct mx_sel_vis *x = ctx;
	return mx_agents_access(x->a->agents, &x->v, agent) >= MX_READ;
}

void mx_sel_filter(mx_sel *p, mx_api *a, const auth_user *u, mx_filter *f)
{
	p->vis.a = a;
	mx_viewer_init(&p->vis.v, u);
	*f = (mx_filter){ p->metric, p->agent, p->tags, p->ntags, p->from, p->to, NULL, NULL };
	/* Admins see everything: no callback at all. */
	if (u && u->role < ROLE_ADMIN) {
		f->agent_ok = viewer_ok;
		f->agent_ctx = &p->vis;
	}
}

void mx_sel_release(mx_sel *p)
{
	mx_qs_release(&p->qs);
}

/* ---- JSON text by hand (the answers are large; jansson would hold a
 * tree of them) ---- */

void mx_json_str(buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			buf_append(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			buf_printf(b, "\\u%04x", c);
		} else {
			buf_append(b, p, 1);
		}
	}
	buf_append(b, "\"", 1);
}

/* 10^k for k in 0..38, exact. */
static unsigned __int128 fmt_p10(int k)
{
	static const uint64_t p[20] = { 1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL,
		1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL,
		100000000000ULL, 1000000000000ULL, 10000000000000ULL, 100000000000000ULL,
		1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
		1000000000000000000ULL, 10000000000000000000ULL };
	return k < 20 ? p[k] : (unsigned __int128)p[k - 19] * p[19];
}

/* q × 10^-s rounds to M × 2^E (the double of M, E) under round-half-even:
 * exact, in 128-bit integers (callers keep every product below 2^128). */
static int fmt_reads_back(uint64_t q, int s, uint64_t M, int E)
{
	unsigned __int128 p10 = fmt_p10(s);
	unsigned __int128 a = (unsigned __int128)q << -E, b = (unsigned __int128)M * p10;
	unsigned __int128 d = a > b ? a - b : b - a;
	/* Below a power of two the gap to the next smaller double is half. */
	unsigned __int128 lim = (a < b && M == 1ULL << 52) ? p10 / 2 : p10;
	if (2 * d < lim)
		return 1;
	/* A tie goes to the even mantissa (below a power of two, v's). */
	return 2 * d == lim && !(M & 1);
}

/* M × 2^E >= 10^e, for -E in 1..69 and e in -7..14. */
static int fmt_ge_pow10(uint64_t M, int E, int e)
{
	unsigned __int128 p10 = fmt_p10(e < 0 ? -e : e);
	if (e < 0)
		return (unsigned __int128)M * p10 >= (unsigned __int128)1 << -E;
	return (unsigned __int128)M >= p10 << -E;
}

/* The p significant digits of %.{p}g of |v| = M × 2^E, given the exact
 * decimal exponent *e of |v|: the digits as an integer in [10^(p-1),
 * 10^p), *e raised when they round up to the next power of ten. */
static uint64_t fmt_digits(uint64_t M, int E, int p, int *e, int *s_out)
{
	for (int tries = 0; tries < 2; tries++) {
		int s = p - 1 - *e;
		if (s < 0 || s > 22)
			return 0;
		unsigned __int128 n = (unsigned __int128)M * fmt_p10(s), one = (unsigned __int128)1 << -E;
		uint64_t q = (uint64_t)(n >> -E);
		unsigned __int128 rem = n & (one - 1), half = one >> 1;
		if (rem > half || (rem == half && (q & 1)))
			q++;
		uint64_t lo = (uint64_t)fmt_p10(p - 1), hi = (uint64_t)fmt_p10(p);
		if (q >= hi)
			++*e;
		else if (q < lo)
			return 0;
		else {
			*s_out = s;
			return q;
		}
	}
	return 0;
}

/* %.{p}g's text of digits q (p of them) with exponent e. */
static void fmt_text(int neg, uint64_t q, int p, int e, char *out)
{
	char d[24];
	int nd = p;
	for (int i = p - 1; i >= 0; i--, q /= 10)
		d[i] = (char)('0' + q % 10);
	while (nd > 1 && d[nd - 1] == '0')
		nd--;
	char *o = out;
	if (neg)
		*o++ = '-';
	if (e < -4 || e >= p) {
		*o++ = d[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, d + 1, (size_t)nd - 1);
			o += nd - 1;
		}
		int x = e < 0 ? -e : e; /* below 100 here */
		*o++ = 'e';
		*o++ = e < 0 ? '-' : '+';
		*o++ = (char)('0' + x / 10);
		*o++ = (char)('0' + x % 10);
		*o = '\0';
		return;
	}
	if (e < 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -e - 1; i++)
			*o++ = '0';
		memcpy(o, d, (size_t)nd);
		o += nd;
	} else {
		for (int i = 0; i <= e; i++)
			*o++ = i < nd ? d[i] : '0';
		if (nd > e + 1) {
			*o++ = '.';
			memcpy(o, d + e + 1, (size_t)(nd - e - 1));
			o += nd - e - 1;
		}
	}
	*o = '\0';
}

/* The integer way for 2^-17 <= |v| < 1e14 (what metrics hold): 0, or -1
 * to leave it to snprintf. */
static int fmt_fast(double v, char out[32])
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	int bexp = (int)((u >> 52) & 0x7ff);
	double av = fabs(v);
	if (bexp == 0 || bexp == 0x7ff || !(av < 1e14))
		return -1;
	uint64_t M = (u & ((1ULL << 52) - 1)) | 1ULL << 52;
	int E = bexp - 1075; /* |v| = M × 2^E */
	if (E >= 0 || E < -69)
		return -1;
	/* A guess from the binary exponent (floor of log2 × log10 2, within
	 * one), made exact. */
	int e0 = ((bexp - 1023) * 78913) >> 18;
	if (!fmt_ge_pow10(M, E, e0))
		e0--;
	else if (fmt_ge_pow10(M, E, e0 + 1))
		e0++;
	for (int p = 15; p <= 17; p++) {
		int e = e0, s = 0;
		uint64_t q = fmt_digits(M, E, p, &e, &s);
		if (!q)
			return -1;
		if (p == 17 || fmt_reads_back(q, s, M, E)) {
			fmt_text((int)(u >> 63), q, p, e, out);
			return 0;
		}
	}
	return -1;
}

void mx_fmt_double(double v, char out[32])
{
	if (!isfinite(v)) {
		snprintf(out, 32, "null");
		return;
	}
	if (fmt_fast(v, out) == 0)
		return;
	/* The shortest of %.15g..%.17g that reads back as v. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			return;
	}
}

void mx_json_tags(buf *b, const mx_tag *t, unsigned n)
{
	buf_append(b, "{", 1);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			buf_append(b, ",", 1);
		mx_json_str(b, t[i].k);
		buf_append(b, ":", 1);
		mx_json_str(b, t[i].v);
	}
	buf_append(b, "}", 1);
}

/* ---- GET /api/v1/metrics/query ---- */

struct qout {
	buf b;
	size_t nseries;
	int full;
};

static int query_cb(void *ctx, const mx_result *res)
{
	struct qout *o = ctx;
	buf *b = &o->b;
	char pt[64], num[32];
	if (o->nseries++)
		buf_append(b, ",", 1);
	buf_puts(b, "{\"agent\":");
	if (res->agent)
		mx_json_str(b, res->agent);
	else
		buf_puts(b, "null");
	buf_puts(b, ",\"metric\":");
	mx_json_str(b, res->metric);
	buf_puts(b, ",\"tags\":");
	mx_json_tags(b, res->tags, res->ntags);
	buf_puts(b, ",\"points\":[");
	for (size_t i = 0; i < res->n; i++) {
		/* By hand: snprintf took a fifth of a large answer's time. */
		char *o = pt;
		if (i)
			*o++ = ',';
		*o++ = '[';
		int64_t t = res->pts[i].ts_ms;
		uint64_t ut = t < 0 ? -(uint64_t)t : (uint64_t)t;
		char d[24];
		int nd = 0;
		do
			d[nd++] = (char)('0' + ut % 10);
		while ((ut /= 10));
		if (t < 0)
			*o++ = '-';
		while (nd)
			*o++ = d[--nd];
		*o++ = ',';
		mx_fmt_double(res->pts[i].v, num);
		size_t nl = strlen(num);
		memcpy(o, num, nl);
		o += nl;
		*o++ = ']';
		buf_append(b, pt, (size_t)(o - pt));
	}
	buf_puts(b, "]}");
	/* The buffer's own cap is out of reach (SIZE_MAX / 2): the answer's
	 * limit is checked here, once a series is in. */
	if (b->len > ANSWER_MAX) {
		o->full = 1;
		return 1;
	}
	return 0;
}

int mx_by_parse(http_req *r, const char *s, char *copy, const char **by, unsigned *nby)
{
	*nby = 0;
	if (!s)
		return 0;
	sn_strlcpy(copy, s, MX_QS_BYTES);
	for (char *save = NULL, *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		if (*nby == MX_TAGS_MAX + 1)
			return bad(r, "query parameter 'by' names at most 17 keys");
		if (strcmp(k, "agent") != 0 && !tag_key_ok(k)) {
			http_reply_error(r, 400, "bad_request", "query parameter 'by': '%s' is no tag key", k);
			return -EINVAL;
		}
		by[(*nby)++] = k;
	}
	if (*nby == 0)
		return bad(r, "query parameter 'by' is a comma-separated list of tag keys");
	return 0;
}

static void h_query(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	mx_sel p;
	mx_filter f;
	enum mx_agg agg = MX_AVG;
	int64_t step = DEFAULT_STEP_MS;
	const char *by[MX_TAGS_MAX + 1], *v;
	unsigned nby = 0;
	char *bycopy = xmalloc(MX_QS_BYTES + 1);
	struct qout o = { .nseries = 0 };
	buf_init(&o.b, SIZE_MAX / 2);
	memset(&p, 0, sizeof p);
	if (mx_sel_parse(r, &p, 1))
		goto out;
	if ((v = mx_qs_get(&p.qs, "agg")) && mx_agg_parse(v, &agg)) {
		bad(r, "query parameter 'agg' is avg, min, max, sum, count, rate, p50, p90, p95 or p99");
		goto out;
	}
	if ((v = mx_qs_get(&p.qs, "step")) && (sn_parse_duration_ms(v, &step) || step < 1000)) {
		bad(r, "query parameter 'step' is a duration of at least 1s (10s, 1m, 5m, 1h)");
		goto out;
	}
	if ((p.to - 1) / step - p.from / step + 1 > MX_QUERY_MAX_BUCKETS) {
		http_reply_error(r, 400, "bad_request", "the range holds more than %d steps of %lld ms:"
				 " raise 'step' or narrow 'from'/'to'", MX_QUERY_MAX_BUCKETS,
				 (long long)step);
		goto out;
	}
	if (mx_by_parse(r, mx_qs_get(&p.qs, "by"), bycopy, by, &nby))
		goto out;
	mx_sel_filter(&p, a, auth_caller(r), &f);
	buf_puts(&o.b, "{\"series\":[");
	int rc = mx_db_query(a->db, &f, step, agg, nby ? by : NULL, nby, query_cb, &o);
	if (o.full) {
		http_reply_error(r, 400, "bad_request", "the answer exceeds %zu MiB: raise 'step' or"
				 " narrow the filter", ANSWER_MAX >> 20);
	} else if (rc == -E2BIG) {
		http_reply_error(r, 400, "bad_request", "more than %d series: narrow the filter or"
				 " merge them with 'by'", MX_QUERY_MAX_SERIES);
	} else if (rc == -EINVAL) {
		bad(r, "the store refused the step or range (at most 10000 steps)");
	} else if (rc) {
		http_reply_errno(r, rc, "cannot query the metrics");
	} else {
		buf_puts(&o.b, "]}\n");
		size_t n;
		char *data = buf_detach(&o.b, &n);
		http_reply_data(r, 200, "application/json", data, n);
	}
out:
	free(bycopy);
	buf_release(&o.b);
	mx_sel_release(&p);
}

/* ---- GET /api/v1/metrics/prometheus ---- */

struct prom {
	char **lines;
	size_t n, cap;
	size_t bytes;
};

/* [^a-zA-Z0-9_] → '_'; a label name may not start with a digit. */
static void prom_name(buf *b, const char *s, int label)
{
	if (label && *s >= '0' && *s <= '9')
		buf_append(b, "_", 1);
	for (; *s; s++) {
		char c = *s;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '_';
		buf_append(b, ok ? s : "_", 1);
	}
}

static void prom_value(buf *b, const char *s)
{
	buf_append(b, "\"", 1);
	for (; *s; s++)
		buf_puts(b, *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : (char[2]){ *s, 0 });
	buf_append(b, "\"", 1);
}

static int prom_cb(void *ctx, const mx_sample *s)
{
	struct prom *p = ctx;
	buf b;
	char num[32], seen[MX_TAGS_MAX][MX_TAG_KEY_MAX + 2];
	unsigned nseen = 0;
	buf_init(&b, 16384);
	buf_puts(&b, "sentinel_agent_");
	prom_name(&b, s->metric, 0);
	buf_puts(&b, "{agent=");
	prom_value(&b, s->agent);
	for (unsigned i = 0; i < s->ntags; i++) {
		/* Two keys that map to one label name ("a.b", "a_b"): the first wins,
		 * since a repeated label makes the whole scrape invalid. */
		buf lb;
		buf_init(&lb, MX_TAG_KEY_MAX + 2);
		prom_name(&lb, s->tags[i].k, 1);
		int dup = strcmp(lb.data, "agent") == 0;
		for (unsigned j = 0; j < nseen && !dup; j++)
			dup = strcmp(seen[j], lb.data) == 0;
		if (!dup) {
			sn_strlcpy(seen[nseen++], lb.data, sizeof seen[0]);
			buf_printf(&b, ",%s=", lb.data);
			prom_value(&b, s->tags[i].v);
		}
		buf_release(&lb);
	}
	mx_fmt_double(s->value, num);
	buf_printf(&b, "} %s %lld\n", num, (long long)s->ts_ms);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->lines = xrealloc(p->lines, p->cap * sizeof *p->lines);
	}
	p->bytes += b.len;
	p->lines[p->n++] = buf_detach(&b, NULL);
	buf_release(&b);
	return p->bytes > ANSWER_MAX;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lines sorted as text keep each family together (every line of family F
 * starts with "F{"), so that one TYPE line heads each. */
static void h_prometheus(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	mx_sel p;
	mx_filter f;
	struct prom pr = { 0 };
	buf out;
	buf_init(&out, SIZE_MAX / 2);
	memset(&p, 0, sizeof p);
	if (mx_sel_parse(r, &p, 0))
		goto out;
	mx_sel_filter(&p, a, auth_caller(r), &f);
	int rc = mx_db_latest(a->db, &f, prom_cb, &pr);
	if (rc == 1) {
		http_reply_error(r, 400, "bad_request", "the answer exceeds %zu MiB: name an agent",
				 ANSWER_MAX >> 20);
		goto out;
	}
	if (rc) {
		http_reply_errno(r, rc, "cannot read the latest values");
		goto out;
	}
	if (pr.n)
		qsort(pr.lines, pr.n, sizeof *pr.lines, str_cmp);
	size_t famlen = 0;
	for (size_t i = 0; i < pr.n; i++) {
		size_t n = strcspn(pr.lines[i], "{");
		if (i == 0 || n != famlen || strncmp(pr.lines[i], pr.lines[i - 1], n) != 0)
			buf_printf(&out, "# TYPE %.*s gauge\n", (int)n, pr.lines[i]);
		famlen = n;
		buf_puts(&out, pr.lines[i]);
	}
	size_t n;
	char *data = buf_detach(&out, &n);
	http_reply_data(r, 200, "text/plain; version=0.0.4; charset=utf-8", data, n);
out:
	for (size_t i = 0; i < pr.n; i++)
		free(pr.lines[i]);
	free(pr.lines);
	buf_release(&out);
	mx_sel_release(&p);
}

size_t mx_query_routes(mx_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/metrics/query", h_query, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/metrics/export", mx_h_export, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/metrics/prometheus", h_prometheus, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/agents/{agent}/summary", mx_h_summary, 0, ROLE_MEMBER, NULL, 0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *routes);
	return n;
}
