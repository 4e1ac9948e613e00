/* JSON samples and LLM calls (docs/metrics.md, "Ingest"), and what the
 * other parsers share: a call's samples (mx_call_add) and quoting outside
 * text in errors (mx_quote).
 *
 * Errors are "PREFIX.FIELD: why" where PREFIX is "samples[i]" or
 * "calls[i]" for an array and empty for a single object, so that a client
 * can find the element at fault. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "metrics/mx_parse.h"

#define CALLS_MAX 10000

const char *mx_quote(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n && i < 40 && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	if (outlen)
		out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

int mx_call_add(mx_batch *b, const char *agent, const char *model, const char *status,
		int64_t ts_ms, double latency_ms, double tokens_in, double tokens_out,
		double cost_usd, const mx_tag *tags, unsigned ntags, mx_price_fn price,
		void *price_ctx, double *cost, char *err, size_t errlen)
{
	mx_tag t[MX_TAGS_MAX];
	int unpriced = 0, rc;
	/* model, status and perhaps price=unknown are added to the call's own. */
	if (ntags > MX_TAGS_MAX - 3) {
		snprintf(err, errlen, "tags: more than %d (model, status and price are added)",
			 MX_TAGS_MAX - 3);
		return -EINVAL;
	}
	for (unsigned i = 0; i < ntags; i++) {
		if (!strcmp(tags[i].k, "model") || !strcmp(tags[i].k, "status") ||
		    !strcmp(tags[i].k, "price")) {
			snprintf(err, errlen, "tags: key \"%s\" is set by the call", tags[i].k);
			return -EINVAL;
		}
		t[i] = tags[i];
	}
	t[ntags] = (mx_tag){ "model", model };
	t[ntags + 1] = (mx_tag){ "status", status };
	if (cost_usd < 0) {
		double in = 0, out = 0;
		rc = price ? price(price_ctx, model, ts_ms, &in, &out) : -ENOENT;
		if (rc == -ENOENT) {
			unpriced = 1;
			cost_usd = 0;
		} else if (rc) {
			snprintf(err, errlen, "cost_usd: pricing failed (%s)", strerror(-rc));
			return rc;
		} else {
			cost_usd = tokens_in * in / 1e6 + tokens_out * out / 1e6;
		}
	}
	const struct {
		const char *metric;
		double v;
	} s[] = {
		{ "llm.calls", 1 },
		{ "llm.errors", strcmp(status, "ok") != 0 },
		{ "llm.latency_ms", latency_ms },
		{ "llm.tokens_in", tokens_in },
		{ "llm.tokens_out", tokens_out },
	};
	for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
		rc = mx_batch_add(b, agent, s[i].metric, ts_ms, s[i].v, t, ntags + 2, err, errlen);
		if (rc)
			return rc;
	}
	if (unpriced)
		t[ntags + 2] = (mx_tag){ "price", "unknown" };
	rc = mx_batch_add(b, agent, "llm.cost_usd", ts_ms, cost_usd, t, ntags + 2 + unpriced, err,
			  errlen);
	if (rc)
		return rc;
	*cost = cost_usd;
	return 0;
}

/* A string member without NUL bytes, or NULL. */
static const char *str_of(const json_t *j)
{
	const char *s = json_string_value(j);
	return s && strlen(s) == json_string_length(j) ? s : NULL;
}

/* ts: absent or null → now; unix ms (number, fractions floored); RFC 3339. */
static int ts_of(const json_t *j, int64_t now_ms, int64_t *out)
{
	if (!j || json_is_null(j)) {
		*out = now_ms;
		return 0;
	}
	if (json_is_integer(j)) {
		*out = json_integer_value(j);
		return 0;
	}
	if (json_is_real(j)) {
		double v = floor(json_real_value(j));
		if (!(v >= -9.2e18 && v <= 9.2e18))
			return -EINVAL;
		*out = (int64_t)v;
		return 0;
	}
	const char *s = str_of(j);
	return s ? sn_time_parse(s, out) : -EINVAL;
}

/* tags: absent, null or an object of at most max strings. */
static int tags_of(const json_t *j, mx_tag *t, unsigned max, unsigned *n, const char *pre,
		   char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	char q[200];
	*n = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_object(j)) {
		snprintf(err, errlen, "%stags: not an object", pre);
		return -EINVAL;
	}
	if (json_object_size(j) > max) {
		snprintf(err, errlen, "%stags: more than %u", pre, max);
		return -EINVAL;
	}
	json_object_foreach((json_t *)j, k, v) {
		const char *s = str_of(v);
		if (!s) {
			snprintf(err, errlen, "%stags.%s: not a string", pre,
				 mx_quote(k, strlen(k), q, sizeof q));
			return -EINVAL;
		}
		t[(*n)++] = (mx_tag){ k, s };
	}
	return 0;
}

/* The elements of {"NAME":[…]} or the body itself as the only one; pre
 * gets "NAME[i]." for elements of an array. */
struct elems {
	const json_t *arr, *one;
	const char *name;
};

static int elems_of(const json_t *body, const char *name, size_t max, struct elems *e,
		    char *err, size_t errlen)
{
	*e = (struct elems){ .name = name };
	if (!json_is_object(body)) {
		snprintf(err, errlen, "body: not a JSON object");
		return -EINVAL;
	}
	const json_t *a = json_object_get(body, name);
	if (!a) {
		e->one = body;
		return 0;
	}
	if (!json_is_array(a)) {
		snprintf(err, errlen, "%s: not an array", name);
		return -EINVAL;
	}
	if (json_array_size(a) > max) {
		snprintf(err, errlen, "%s: more than %zu", name, max);
		return -E2BIG;
	}
	e->arr = a;
	return 0;
}

static size_t elems_len(const struct elems *e)
{
	return e->arr ? json_array_size(e->arr) : 1;
}

static const json_t *elem(const struct elems *e, size_t i, char *pre, size_t prelen)
{
	if (!e->arr) {
		pre[0] = '\0';
		return e->one;
	}
	snprintf(pre, prelen, "%s[%zu].", e->name, i);
	return json_array_get(e->arr, i);
}

/* The prefixed error of a member: "samples[2].value: why". */
static int bad(char *err, size_t errlen, const char *pre, const char *field, const char *why)
{
	snprintf(err, errlen, "%s%s: %s", pre, field, why);
	return -EINVAL;
}

static int one_sample(const json_t *o, const char *pre, const char *agent, int64_t now_ms,
		      mx_batch *b, char *err, size_t errlen)
{
	mx_tag tags[MX_TAGS_MAX];
	unsigned nt;
	int64_t ts;
	char berr[300];
	if (!json_is_object(o))
		return bad(err, errlen, pre, "sample", "not an object");
	const json_t *ja = json_object_get(o, "agent");
	const char *a = str_of(ja);
	if (agent) {
		if (ja && (!a || strcmp(a, agent)))
			return bad(err, errlen, pre, "agent", "must be absent or this node's name");
		a = agent;
	} else if (!a) {
		return bad(err, errlen, pre, "agent", "missing or not a string");
	}
	const char *m = str_of(json_object_get(o, "metric"));
	if (!m)
		return bad(err, errlen, pre, "metric", "missing or not a string");
	const json_t *jv = json_object_get(o, "value");
	if (!json_is_number(jv))
		return bad(err, errlen, pre, "value", "missing or not a number");
	if (ts_of(json_object_get(o, "ts"), now_ms, &ts))
		return bad(err, errlen, pre, "ts", "not unix milliseconds or RFC 3339");
	int rc = tags_of(json_object_get(o, "tags"), tags, MX_TAGS_MAX, &nt, pre, err, errlen);
	if (rc)
		return rc;
	rc = mx_batch_add(b, a, m, ts, json_number_value(jv), tags, nt, berr, sizeof berr);
	if (rc)
		snprintf(err, errlen, "%s%s", rc == -E2BIG ? "" : pre, berr);
	return rc;
}

int mx_parse_samples(const json_t *body, const char *agent, int64_t now_ms, mx_batch *b,
		     char *err, size_t errlen)
{
	struct elems e;
	char pre[48];
	int rc = elems_of(body, "samples", MX_BATCH_MAX, &e, err, errlen);
	for (size_t i = 0; !rc && i < elems_len(&e); i++) {
		const json_t *o = elem(&e, i, pre, sizeof pre);
		rc = one_sample(o, pre, agent, now_ms, b, err, errlen);
	}
	return rc;
}

/* A non-negative finite number member (opt: may be absent or null, *v = -1). */
static int num_of(const json_t *o, const char *field, int opt, double *v, const char *pre,
		  char *err, size_t errlen)
{
	const json_t *j = json_object_get(o, field);
	if (opt && (!j || json_is_null(j))) {
		*v = -1;
		return 0;
	}
	if (!json_is_number(j))
		return bad(err, errlen, pre, field, "missing or not a number");
	*v = json_number_value(j);
	if (!(*v >= 0) || !isfinite(*v))
		return bad(err, errlen, pre, field, "not a finite number >= 0");
	return 0;
}

static int one_call(const json_t *o, const char *pre, const char *agent, int64_t now_ms,
		    mx_price_fn price, void *price_ctx, mx_batch *b, double *cost, char *err,
		    size_t errlen)
{
	mx_tag tags[MX_TAGS_MAX];
	unsigned nt;
	int64_t ts;
	double lat, tin, tout, usd;
	char berr[300];
	if (!json_is_object(o))
		return bad(err, errlen, pre, "call", "not an object");
	const char *model = str_of(json_object_get(o, "model"));
	if (!model)
		return bad(err, errlen, pre, "model", "missing or not a string");
	const char *status = str_of(json_object_get(o, "status"));
	if (!status)
		return bad(err, errlen, pre, "status", "missing or not a string");
	int rc = num_of(o, "latency_ms", 0, &lat, pre, err, errlen);
	if (!rc)
		rc = num_of(o, "tokens_in", 0, &tin, pre, err, errlen);
	if (!rc)
		rc = num_of(o, "tokens_out", 0, &tout, pre, err, errlen);
	if (!rc)
		rc = num_of(o, "cost_usd", 1, &usd, pre, err, errlen);
	if (rc)
		return rc;
	if (ts_of(json_object_get(o, "ts"), now_ms, &ts))
		return bad(err, errlen, pre, "ts", "not unix milliseconds or RFC 3339");
	rc = tags_of(json_object_get(o, "tags"), tags, MX_TAGS_MAX, &nt, pre, err, errlen);
	if (rc)
		return rc;
	rc = mx_call_add(b, agent, model, status, ts, lat, tin, tout, usd, tags, nt, price,
			 price_ctx, cost, berr, sizeof berr);
	if (rc)
		snprintf(err, errlen, "%s%s", rc == -E2BIG ? "" : pre, berr);
	return rc;
}

int mx_parse_calls(const json_t *body, const char *agent, int64_t now_ms, mx_price_fn price,
		   void *price_ctx, mx_batch *b, double *cost_usd, char *err, size_t errlen)
{
	struct elems e;
	char pre[48];
	double total = 0;
	int rc = elems_of(body, "calls", CALLS_MAX, &e, err, errlen);
	for (size_t i = 0; !rc && i < elems_len(&e); i++) {
		double c = 0;
		const json_t *o = elem(&e, i, pre, sizeof pre);
		rc = one_call(o, pre, agent, now_ms, price, price_ctx, b, &c, err, errlen);
		total += c;
	}
	/* The total goes into the JSON reply, which has no infinities. */
	if (!rc && !isfinite(total)) {
		snprintf(err, errlen, "calls: the total cost is not a finite number");
		rc = -EINVAL;
	}
	*cost_usd = total;
	return rc;
}

/* ---- the one-sample fast path ---- */

static const char *flat_ws(const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* A string of printable ASCII without escapes: copied NUL-terminated to
 * out[*o..] (room permitting); returns what follows its closing quote,
 * or NULL. */
static const char *flat_str(const char *p, const char *e, char *out, size_t cap, size_t *o,
			    const char **s)
{
	if (p == e || *p != '"')
		return NULL;
	const char *q = ++p;
	while (q < e && *q != '"') {
		if (*q < 0x20 || *q > 0x7e || *q == '\\')
			return NULL;
		q++;
	}
	size_t n = (size_t)(q - p);
	if (q == e || *o + n + 1 > cap)
		return NULL;
	*s = out + *o;
	memcpy(out + *o, p, n);
	out[*o + n] = '\0';
	*o += n + 1;
	return q + 1;
}

/* A JSON number as jansson reads it: an integer that fits int64 (*is_int),
 * or a finite real. NULL when it is neither (jansson's error then). */
static const char *flat_num(const char *p, const char *e, double *v, int64_t *i, int *is_int)
{
	const char *s = p;
	int real = 0;
	if (p < e && *p == '-')
		p++;
	if (p == e || *p < '0' || *p > '9' || (*p == '0' && p + 1 < e && p[1] >= '0' && p[1] <= '9'))
		return NULL;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	if (p < e && *p == '.') {
		real = 1;
		if (++p == e || *p < '0' || *p > '9')
			return NULL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		real = 1;
		if (++p < e && (*p == '+' || *p == '-'))
			p++;
		if (p == e || *p < '0' || *p > '9')
			return NULL;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	char tmp[64];
	size_t n = (size_t)(p - s);
	if (n >= sizeof tmp)
		return NULL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	if (!real) {
		long long ll = strtoll(tmp, NULL, 10);
		if (errno == ERANGE)
			return NULL;
		*i = ll;
		*v = (double)ll;
	} else {
		*v = strtod(tmp, NULL);
		if (!isfinite(*v))
			return NULL;
	}
	*is_int = !real;
	return p;
}

/* The next member's name; NULL at a malformed one. */
static const char *flat_key(const char *p, const char *e, char *out, size_t cap, size_t *o,
			    const char **k)
{
	p = flat_str(p, e, out, cap, o, k);
	if (!p)
		return NULL;
	p = flat_ws(p, e);
	return p < e && *p == ':' ? flat_ws(p + 1, e) : NULL;
}

/* After a member: 1 at ',' (p moved past it), 2 at '}' (past it), 0 else. */
static int flat_next(const char **pp, const char *e)
{
	const char *p = flat_ws(*pp, e);
	if (p < e && (*p == ',' || *p == '}')) {
		*pp = flat_ws(p + 1, e);
		return *p == ',' ? 1 : 2;
	}
	return 0;
}

static const char *flat_tags(const char *p, const char *e, char *out, size_t cap, size_t *o,
			     mx_tag *t, unsigned *nt)
{
	if (p == e || *p != '{')
		return NULL;
	p = flat_ws(p + 1, e);
	if (p < e && *p == '}')
		return p + 1;
	for (int more = 1; more == 1;) {
		const char *k, *v;
		if (*nt == MX_TAGS_MAX || !(p = flat_key(p, e, out, cap, o, &k)) ||
		    !(p = flat_str(p, e, out, cap, o, &v)))
			return NULL;
		for (unsigned i = 0; i < *nt; i++)
			if (strcmp(t[i].k, k) == 0)
				return NULL; /* a duplicate: jansson refuses it */
		t[(*nt)++] = (mx_tag){ k, v };
		if (!(more = flat_next(&p, e)))
			return NULL;
	}
	return p;
}

int mx_parse_sample_flat(const char *p, size_t n, int64_t now_ms, mx_batch *b, char *err,
			 size_t errlen)
{
	char out[2048], berr[300];
	size_t o = 0;
	const char *e = p + n, *agent = NULL, *metric = NULL;
	double value = 0, tsd;
	int64_t ts = now_ms, iv;
	int have_value = 0, have_ts = 0, have_tags = 0, is_int;
	mx_tag tags[MX_TAGS_MAX];
	unsigned nt = 0;
	if (n >= sizeof out)
		return 0;
	p = flat_ws(p, e);
	if (p == e || *p != '{')
		return 0;
	p = flat_ws(p + 1, e);
	for (int more = 1; more == 1;) {
		const char *k;
		if (!(p = flat_key(p, e, out, sizeof out, &o, &k)))
			return 0;
		if (!strcmp(k, "agent") && !agent) {
			p = flat_str(p, e, out, sizeof out, &o, &agent);
		} else if (!strcmp(k, "metric") && !metric) {
			p = flat_str(p, e, out, sizeof out, &o, &metric);
		} else if (!strcmp(k, "value") && !have_value) {
			p = flat_num(p, e, &value, &iv, &is_int);
			have_value = 1;
		} else if (!strcmp(k, "ts") && !have_ts) {
			p = flat_num(p, e, &tsd, &ts, &is_int);
			if (p && !is_int)
				return 0;
			have_ts = 1;
		} else if (!strcmp(k, "tags") && !have_tags) {
			p = flat_tags(p, e, out, sizeof out, &o, tags, &nt);
			have_tags = 1;
		} else {
			return 0;
		}
		if (!p || !(more = flat_next(&p, e)))
			return 0;
	}
	if (p != e || !agent || !metric || !have_value)
		return 0;
	int rc = mx_batch_add(b, agent, metric, ts, value, tags, nt, berr, sizeof berr);
	if (rc) {
		snprintf(err, errlen, "%s", berr);
		return rc;
	}
	return 1;
}
