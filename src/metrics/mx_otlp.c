/* OTLP/HTTP JSON (opentelemetry-proto, proto3 JSON mapping): metrics and
 * GenAI spans.
 *
 * Field names are read in lowerCamelCase and, failing that, as the proto's
 * own snake_case names (both are valid proto3 JSON). 64-bit integers may be
 * strings or numbers; fields at their default (0, "", false) may be left
 * out, so a missing count is 0 and a missing time is "now".
 *
 * Mapping (docs/metrics.md): agent = resource attribute service.name
 * (required); gauge and sum points → one sample each (asDouble or asInt);
 * histogram, exponentialHistogram and summary points → NAME.count and,
 * when the point has one, NAME.sum; points flagged "no recorded value"
 * (flags bit 0) are skipped. Tags: every point attribute (an attribute that
 * is not a valid tag refuses the request) then the resource's other
 * attributes, skipping those that are not valid tags, repeat a point key or
 * come past MX_TAGS_MAX (SDKs describe the process at length; that must not
 * refuse its metrics). Attribute values become strings: ints in decimal,
 * doubles shortest round-trip, booleans true/false, arrays and kvlists as
 * compact JSON, bytes as their base64 text.
 *
 * Spans with gen_ai.request.model (or gen_ai.response.model) become LLM
 * calls (mx_call_add) at their start time, latency end − start, tokens from
 * gen_ai.usage.input_tokens / output_tokens (prompt_tokens /
 * completion_tokens, the older names, as fallbacks), status "error" when
 * status.code is 2 (STATUS_CODE_ERROR) else "ok", tagged with
 * gen_ai.operation.name and gen_ai.provider.name (or gen_ai.system) when
 * present. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "metrics/mx_parse.h"

/* Strings made while converting attributes; freed together. */
struct strs {
	char *p[2 * MX_TAGS_MAX + 8];
	unsigned n;
};

static void strs_release(struct strs *s)
{
	for (unsigned i = 0; i < s->n; i++)
		free(s->p[i]);
	s->n = 0;
}

static const char *strs_keep(struct strs *s, char *p)
{
	if (s->n == sizeof s->p / sizeof s->p[0]) {
		free(p);
		return NULL;
	}
	return s->p[s->n++] = p;
}

struct ctx {
	char *err;
	size_t errlen;
	int64_t now_ms;
	mx_batch *b;
	mx_price_fn price;
	void *price_ctx;
	size_t calls;
};

static int fail(struct ctx *c, const char *path, const char *why)
{
	snprintf(c->err, c->errlen, "%s: %s", path, why);
	return -EINVAL;
}

static const json_t *get(const json_t *o, const char *camel, const char *snake)
{
	const json_t *j = json_object_get(o, camel);
	return j || !snake ? j : json_object_get(o, snake);
}

/* An array member; absent or null is an empty array. */
static int arr(struct ctx *c, const json_t *o, const char *camel, const char *snake,
	       const char *path, const json_t **out)
{
	const json_t *j = get(o, camel, snake);
	char p[600];
	*out = j && !json_is_null(j) ? j : NULL;
	if (*out && !json_is_array(j)) {
		snprintf(p, sizeof p, "%s.%s", path, camel);
		return fail(c, p, "not an array");
	}
	return 0;
}

/* int64 or uint64 as a JSON integer or a decimal string. */
static int int_of(const json_t *j, int is_signed, int64_t *i, uint64_t *u)
{
	if (json_is_integer(j)) {
		json_int_t v = json_integer_value(j);
		if (!is_signed && v < 0)
			return -EINVAL;
		*i = v;
		*u = (uint64_t)v;
		return 0;
	}
	const char *s = json_string_value(j);
	if (!s || !((*s >= '0' && *s <= '9') || (is_signed && *s == '-')))
		return -EINVAL;
	char *end;
	errno = 0;
	if (is_signed)
		*i = strtoll(s, &end, 10);
	else
		*u = strtoull(s, &end, 10);
	if (errno || *end || end == s)
		return -EINVAL;
	return 0;
}

/* A time in unix nanoseconds → ms (floor); absent or 0 → now. */
static int time_of(struct ctx *c, const json_t *o, const char *camel, const char *snake,
		   int64_t *ms)
{
	const json_t *j = get(o, camel, snake);
	int64_t i;
	uint64_t u = 0;
	if (!j) {
		*ms = c->now_ms;
		return 0;
	}
	if (int_of(j, 0, &i, &u))
		return -EINVAL;
	*ms = u ? (int64_t)(u / 1000000) : c->now_ms;
	return 0;
}

/* A double as a JSON number or a string ("NaN", "Infinity", "1.5"). */
static int double_of(const json_t *j, double *v)
{
	if (json_is_number(j)) {
		*v = json_number_value(j);
		return 0;
	}
	const char *s = json_string_value(j);
	if (!s || !*s)
		return -EINVAL;
	if (!strcmp(s, "NaN") || !strcmp(s, "Infinity") || !strcmp(s, "-Infinity")) {
		*v = !strcmp(s, "NaN") ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	char *end;
	*v = strtod(s, &end);
	return *end || isspace((unsigned char)*s) ? -EINVAL : 0;
}

static char *fmt_double(double v)
{
	for (int prec = 15; prec < 17; prec++) {
		char *s = xasprintf("%.*g", prec, v);
		if (strtod(s, NULL) == v)
			return s;
		free(s);
	}
	return xasprintf("%.17g", v);
}

/* AnyValue → plain JSON (for arrays and kvlists), or NULL when malformed. */
static json_t *any_json(const json_t *v, int depth)
{
	const json_t *j;
	int64_t i;
	uint64_t u;
	double d;
	if (depth > 16 || !json_is_object(v))
		return NULL;
	if ((j = get(v, "stringValue", "string_value")))
		return json_is_string(j) ? json_copy((json_t *)j) : NULL;
	if ((j = get(v, "boolValue", "bool_value")))
		return json_is_boolean(j) ? json_copy((json_t *)j) : NULL;
	if ((j = get(v, "intValue", "int_value")))
		return int_of(j, 1, &i, &u) ? NULL : json_integer(i);
	if ((j = get(v, "doubleValue", "double_value")))
		return double_of(j, &d) || !isfinite(d) ? NULL : json_real(d);
	if ((j = get(v, "bytesValue", "bytes_value")))
		return json_is_string(j) ? json_copy((json_t *)j) : NULL;
	int kv = 0;
	if ((j = get(v, "arrayValue", "array_value")) ||
	    (kv = 1, j = get(v, "kvlistValue", "kvlist_value"))) {
		const json_t *vals = json_object_get(j, "values");
		json_t *out = kv ? json_object() : json_array();
		size_t idx;
		const json_t *e;
		if (vals && !json_is_array(vals))
			goto bad;
		json_array_foreach((json_t *)vals, idx, e) {
			const char *k = kv ? json_string_value(json_object_get(e, "key")) : NULL;
			json_t *x = any_json(kv ? json_object_get(e, "value") : e, depth + 1);
			if (!x || (kv && !k) ||
			    (kv ? json_object_set_new(out, k, x) : json_array_append_new(out, x)))
				goto bad;
		}
		return out;
bad:
		json_decref(out);
		return NULL;
	}
	return json_null(); /* an empty AnyValue */
}

/* AnyValue → its string form (kept in s), or NULL when malformed. */
static const char *any_str(const json_t *v, struct strs *s)
{
	const json_t *j;
	if (!json_is_object(v))
		return NULL;
	if ((j = get(v, "stringValue", "string_value")) ||
	    (j = get(v, "bytesValue", "bytes_value"))) {
		const char *str = json_string_value(j);
		return str && strlen(str) == json_string_length(j) ? str : NULL;
	}
	json_t *x = any_json(v, 0);
	if (!x)
		return NULL;
	char *out = NULL;
	if (json_is_null(x))
		out = xstrdup("");
	else if (json_is_true(x) || json_is_false(x))
		out = xstrdup(json_is_true(x) ? "true" : "false");
	else if (json_is_integer(x))
		out = xasprintf("%lld", (long long)json_integer_value(x));
	else if (json_is_real(x))
		out = fmt_double(json_real_value(x));
	else
		out = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(x);
	return out ? strs_keep(s, out) : NULL;
}

/* The attributes array at o: each {key, value} into t (skip: leave out the
 * ones that are not valid tags instead of refusing, and stop at max). The
 * key service.name goes to *svc when svc is not NULL. */
static int attrs(struct ctx *c, const json_t *o, const char *path, mx_tag *t, unsigned *n,
		 unsigned max, int skip, const char **svc, struct strs *s)
{
	const json_t *a, *e;
	size_t i;
	char p[700];
	int rc = arr(c, o, "attributes", NULL, path, &a);
	if (rc)
		return rc;
	json_array_foreach((json_t *)a, i, e) {
		snprintf(p, sizeof p, "%s.attributes[%zu]", path, i);
		const char *k = json_string_value(json_object_get(e, "key"));
		const char *v = any_str(json_object_get(e, "value"), s);
		if (!k || !v) {
			if (skip)
				continue;
			return fail(c, p, "not {key, value} with a valid AnyValue");
		}
		if (svc && !strcmp(k, "service.name")) {
			*svc = v;
			continue;
		}
		size_t vl = strlen(v);
		int ok = strlen(k) <= MX_TAG_KEY_MAX && strspn(k, "abcdefghijklmnopqrstuvwxyz"
								 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
								 "0123456789_.-") == strlen(k) &&
			 *k && strcmp(k, "agent") && vl <= MX_TAG_VAL_MAX && sn_utf8_valid(v, vl, 1);
		int dup = 0;
		for (unsigned j = 0; j < *n; j++)
			dup |= !strcmp(t[j].k, k);
		if (skip && (!ok || dup || *n >= max))
			continue;
		if (*n >= max)
			return fail(c, p, "more than 16 attributes");
		t[(*n)++] = (mx_tag){ k, v };
	}
	return 0;
}

/* Point attributes (strict) then the resource's (lenient). */
static int point_tags(struct ctx *c, const json_t *pt, const char *path, const mx_tag *rt,
		      unsigned nrt, mx_tag *t, unsigned *n, struct strs *s)
{
	*n = 0;
	int rc = attrs(c, pt, path, t, n, MX_TAGS_MAX, 0, NULL, s);
	for (unsigned i = 0; !rc && i < nrt && *n < MX_TAGS_MAX; i++) {
		int dup = 0;
		for (unsigned j = 0; j < *n; j++)
			dup |= !strcmp(t[j].k, rt[i].k);
		if (!dup)
			t[(*n)++] = rt[i];
	}
	return rc;
}

static int add(struct ctx *c, const char *path, const char *agent, const char *metric,
	       int64_t ts, double v, const mx_tag *t, unsigned n)
{
	char berr[300];
	int rc = mx_batch_add(c->b, agent, metric, ts, v, t, n, berr, sizeof berr);
	if (rc)
		snprintf(c->err, c->errlen, "%s: %s", path, berr);
	return rc;
}

/* A resource: its agent and its attributes as (lenient) tags. */
static int resource(struct ctx *c, const json_t *r, const char *path, const char **agent,
		    mx_tag *t, unsigned *n, struct strs *s)
{
	char p[600];
	snprintf(p, sizeof p, "%s.resource", path);
	*agent = NULL;
	*n = 0;
	int rc = attrs(c, json_object_get(r, "resource"), p, t, n, MX_TAGS_MAX, 1, agent, s);
	if (!rc && !*agent)
		rc = fail(c, p, "no service.name attribute");
	return rc;
}

static const char *const hist_kinds[][2] = {
	{ "histogram", NULL },
	{ "exponentialHistogram", "exponential_histogram" },
	{ "summary", NULL },
};

static int metric_points(struct ctx *c, const json_t *m, const char *path, const char *agent,
			 const mx_tag *rt, unsigned nrt)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	const json_t *data = NULL, *pts;
	const char *kind = NULL;
	int hist = -1, rc;
	char p[700], q[800];
	if (!name)
		return fail(c, path, "no name");
	if ((data = get(m, "gauge", NULL)))
		kind = "gauge";
	else if ((data = get(m, "sum", NULL)))
		kind = "sum";
	for (int i = 0; !data && i < 3; i++)
		if ((data = get(m, hist_kinds[i][0], hist_kinds[i][1])))
			kind = hist_kinds[i][0], hist = i;
	if (!data)
		return 0; /* a kind this store does not keep */
	snprintf(p, sizeof p, "%s.%s", path, kind);
	rc = arr(c, data, "dataPoints", "data_points", p, &pts);
	size_t i;
	const json_t *pt;
	json_array_foreach((json_t *)pts, i, pt) {
		mx_tag t[MX_TAGS_MAX];
		unsigned n;
		int64_t ts, iv;
		uint64_t uv = 0, flags = 0;
		double v = 0;
		struct strs s = { .n = 0 };
		const json_t *j;
		if (rc)
			break;
		snprintf(q, sizeof q, "%s.dataPoints[%zu]", p, i);
		if ((j = get(pt, "flags", NULL)) && int_of(j, 0, &iv, &flags))
			rc = fail(c, q, "flags: not an integer");
		else if (flags & 1)
			continue;
		else if (time_of(c, pt, "timeUnixNano", "time_unix_nano", &ts))
			rc = fail(c, q, "timeUnixNano: not unix nanoseconds");
		else
			rc = point_tags(c, pt, q, rt, nrt, t, &n, &s);
		if (!rc && hist < 0) {
			if ((j = get(pt, "asDouble", "as_double"))) {
				if (double_of(j, &v))
					rc = fail(c, q, "asDouble: not a number");
			} else if ((j = get(pt, "asInt", "as_int"))) {
				if (int_of(j, 1, &iv, &uv))
					rc = fail(c, q, "asInt: not an int64");
				v = (double)iv;
			} else {
				rc = fail(c, q, "no asDouble or asInt");
			}
			if (!rc)
				rc = add(c, q, agent, name, ts, v, t, n);
		} else if (!rc) {
			char cn[MX_NAME_MAX + 8];
			if (strlen(name) > MX_NAME_MAX - 6) {
				rc = fail(c, q, "metric name too long for NAME.count");
			} else if ((j = get(pt, "count", NULL)) && int_of(j, 0, &iv, &uv)) {
				rc = fail(c, q, "count: not a uint64");
			} else {
				snprintf(cn, sizeof cn, "%s.count", name);
				rc = add(c, q, agent, cn, ts, (double)uv, t, n);
			}
			if (!rc && (j = get(pt, "sum", NULL))) {
				snprintf(cn, sizeof cn, "%s.sum", name);
				rc = double_of(j, &v) ? fail(c, q, "sum: not a number")
						      : add(c, q, agent, cn, ts, v, t, n);
			}
		}
		strs_release(&s);
	}
	return rc;
}

static json_t *load(struct ctx *c, const char *p, size_t n)
{
	json_error_t je;
	json_t *root = json_loadb(p, n, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* jansson quotes the bytes near the error, which may be a cut or
		 * invalid sequence: the message goes to JSON, so it must be UTF-8. */
		char *text = sn_utf8_sanitize(je.text);
		snprintf(c->err, c->errlen, "body: line %d: %s", je.line, text);
		free(text);
		size_t n = strlen(c->err);
		while (n && !sn_utf8_valid(c->err, n, 0))
			c->err[--n] = '\0'; /* a sequence snprintf cut */
	}
	else if (!json_is_object(root)) {
		snprintf(c->err, c->errlen, "body: not a JSON object");
		json_decref(root);
		root = NULL;
	}
	return root;
}

/* Calls fn on every item of root.L1[i].L2[j].L3[k] (each level with its
 * snake_case alias and, for L2, the pre-1.0 name) with the resource's agent
 * and tags. */
typedef int (*item_fn)(struct ctx *c, const json_t *item, const char *path, const char *agent,
		       const mx_tag *rt, unsigned nrt);

static int walk(struct ctx *c, const json_t *root, const char *const names[6],
		const char *old2, item_fn fn)
{
	const json_t *rs, *r, *ss, *s, *items, *item;
	size_t i, j, k;
	char p1[64], p2[160], p3[300];
	int rc = arr(c, root, names[0], names[1], "body", &rs);
	json_array_foreach((json_t *)rs, i, r) {
		mx_tag rt[MX_TAGS_MAX];
		unsigned nrt;
		const char *agent;
		ss = items = NULL;
		struct strs strs = { .n = 0 };
		if (rc)
			break;
		snprintf(p1, sizeof p1, "%s[%zu]", names[0], i);
		rc = resource(c, r, p1, &agent, rt, &nrt, &strs);
		if (!rc && !get(r, names[2], names[3]) && json_object_get(r, old2))
			rc = arr(c, r, old2, NULL, p1, &ss);
		else if (!rc)
			rc = arr(c, r, names[2], names[3], p1, &ss);
		json_array_foreach((json_t *)ss, j, s) {
			if (rc)
				break;
			snprintf(p2, sizeof p2, "%s.%s[%zu]", p1, names[2], j);
			rc = arr(c, s, names[4], NULL, p2, &items);
			json_array_foreach((json_t *)items, k, item) {
				if (rc)
					break;
				snprintf(p3, sizeof p3, "%s.%s[%zu]", p2, names[4], k);
				rc = fn(c, item, p3, agent, rt, nrt);
			}
		}
		strs_release(&strs);
	}
	return rc;
}

int mx_parse_otlp_metrics(const char *p, size_t n, int64_t now_ms, mx_batch *b, char *err,
			  size_t errlen)
{
	static const char *const names[6] = { "resourceMetrics", "resource_metrics",
					      "scopeMetrics",    "scope_metrics",
					      "metrics",         NULL };
	struct ctx c = { .err = err, .errlen = errlen, .now_ms = now_ms, .b = b };
	json_t *root = load(&c, p, n);
	if (!root)
		return -EINVAL;
	int rc = walk(&c, root, names, "instrumentationLibraryMetrics", metric_points);
	json_decref(root);
	return rc;
}

/* The string form of the attribute key in the span, or NULL. */
static const char *span_attr(const json_t *span, const char *key, struct strs *s)
{
	const json_t *a = json_object_get(span, "attributes"), *e;
	size_t i;
	json_array_foreach((json_t *)a, i, e) {
		const char *k = json_string_value(json_object_get(e, "key"));
		if (k && !strcmp(k, key))
			return any_str(json_object_get(e, "value"), s);
	}
	return NULL;
}

static int tokens(struct ctx *c, const json_t *span, const char *path, const char *key,
		  const char *old, double *v, struct strs *s)
{
	const char *t = span_attr(span, key, s);
	char p[800], *end;
	if (!t)
		t = span_attr(span, old, s);
	*v = 0;
	if (!t)
		return 0;
	*v = strtod(t, &end);
	if (*end || end == t || !(*v >= 0) || !isfinite(*v)) {
		snprintf(p, sizeof p, "%s.attributes[%s]", path, key);
		return fail(c, p, "not a number of tokens");
	}
	return 0;
}

static int span_call(struct ctx *c, const json_t *span, const char *path, const char *agent,
		     const mx_tag *rt, unsigned nrt)
{
	struct strs s = { .n = 0 };
	mx_tag t[2];
	unsigned nt = 0;
	int64_t start, iv;
	uint64_t us = 0, ue = 0;
	double tin, tout, cost;
	char berr[300];
	int rc = 0;
	(void)rt, (void)nrt; /* a call's tags are its own, not the process's */
	const char *model = span_attr(span, "gen_ai.request.model", &s);
	if (!model)
		model = span_attr(span, "gen_ai.response.model", &s);
	if (!model)
		goto out; /* not a GenAI span */
	const json_t *js = get(span, "startTimeUnixNano", "start_time_unix_nano");
	const json_t *je = get(span, "endTimeUnixNano", "end_time_unix_nano");
	if ((js && int_of(js, 0, &iv, &us)) || (je && int_of(je, 0, &iv, &ue)) || ue < us) {
		rc = fail(c, path, "startTimeUnixNano/endTimeUnixNano: not times, or end before start");
		goto out;
	}
	start = us ? (int64_t)(us / 1000000) : c->now_ms;
	rc = tokens(c, span, path, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", &tin,
		    &s);
	if (!rc)
		rc = tokens(c, span, path, "gen_ai.usage.output_tokens",
			    "gen_ai.usage.completion_tokens", &tout, &s);
	if (rc)
		goto out;
	const json_t *code = json_object_get(json_object_get(span, "status"), "code");
	int error = (json_is_integer(code) && json_integer_value(code) == 2) ||
		    (json_is_string(code) && !strcmp(json_string_value(code), "STATUS_CODE_ERROR"));
	const char *op = span_attr(span, "gen_ai.operation.name", &s);
	const char *prov = span_attr(span, "gen_ai.provider.name", &s);
	if (op)
		t[nt++] = (mx_tag){ "gen_ai.operation.name", op };
	if (prov)
		t[nt++] = (mx_tag){ "gen_ai.provider.name", prov };
	else if ((prov = span_attr(span, "gen_ai.system", &s)))
		t[nt++] = (mx_tag){ "gen_ai.system", prov };
	rc = mx_call_add(c->b, agent, model, error ? "error" : "ok", start,
			 (double)(ue - us) / 1e6, tin, tout, -1, t, nt, c->price, c->price_ctx,
			 &cost, berr, sizeof berr);
	if (rc)
		snprintf(c->err, c->errlen, "%s: %s", path, berr);
	else
		c->calls++;
out:
	strs_release(&s);
	return rc;
}

int mx_parse_otlp_traces(const char *p, size_t n, int64_t now_ms, mx_price_fn price,
			 void *price_ctx, mx_batch *b, size_t *calls, char *err, size_t errlen)
{
	static const char *const names[6] = { "resourceSpans", "resource_spans",
					      "scopeSpans",    "scope_spans",
					      "spans",         NULL };
	struct ctx c = { .err = err, .errlen = errlen, .now_ms = now_ms, .b = b,
			 .price = price, .price_ctx = price_ctx };
	json_t *root = load(&c, p, n);
	*calls = 0;
	if (!root)
		return -EINVAL;
	int rc = walk(&c, root, names, "instrumentationLibrarySpans", span_call);
	json_decref(root);
	*calls = c.calls;
	return rc;
}
