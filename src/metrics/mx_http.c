/* The ingest routes (docs/metrics.md, "Ingest"): JSON samples, LLM calls,
 * Influx line protocol, OTLP/HTTP JSON metrics and traces, and nodes'
 * own figures. Each parses the whole request into one batch and stores it
 * all or nothing through mx_api_push; the reply comes once it is durable.
 *
 * These routes are the hot path: they carry HTTP_INGEST and no audit
 * action, build no JSON for their replies, and allocate one batch (its
 * arena) per request. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"
#include "metrics/mx_parse.h"

#define NODE_NAME_TTL_MS 30000 /* a renamed node pushes under its new name after this */

/* Replies with a small JSON text built by the caller (taken). */
static void reply_text(http_req *r, int status, char *s)
{
	http_reply_data(r, status, "application/json", s, strlen(s));
}

/* Fills b from the request; err gets the refusal's words (-EALREADY: the
 * refusal is answered already). */
typedef int (*parse_fn)(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen);
/* The success reply's JSON text (malloc'd), or NULL for 204: made before
 * the push, while what it tells (counts, cost) is at hand. */
typedef char *(*ok_fn)(http_req *r, void *ctx, const mx_batch *b);

/* A request whose batch is in the group commit. */
struct ingest_wait {
	http_req *r;
	mx_batch *b;
	char *ok;
};

static void ingest_done(void *ctx, int rc, const char *err)
{
	struct ingest_wait *w = ctx;
	http_req *r = w->r;
	if (rc)
		mx_reply_push_error(r, rc, err);
	else if (w->ok)
		reply_text(r, 200, w->ok);
	else
		http_reply_data(r, 204, NULL, NULL, 0);
	if (rc || !w->ok)
		free(w->ok);
	mx_batch_free(&w->b);
	free(w);
	http_req_resume(r);
}

/* Parses with parse, then pushes as u (used before this returns). The reply comes once the
 * batch is durable, from the metrics log's writer (http_req_defer): the
 * connection's thread does not wait, on the ingest listener's event loop. */
static void ingest(http_req *r, mx_api *a, const auth_user *u, parse_fn parse, void *pctx,
		   ok_fn ok)
{
	char err[512] = "";
	mx_batch *b = mx_batch_new();
	int rc = parse(r, pctx, b, err, sizeof err);
	if (rc) {
		if (rc != -EALREADY)
			mx_reply_push_error(r, rc, err);
		mx_batch_free(&b);
		return;
	}
	struct ingest_wait *w = xmalloc(sizeof *w);
	*w = (struct ingest_wait){ r, b, ok ? ok(r, pctx, b) : NULL };
	http_req_defer(r);
	rc = mx_api_push_async(a, u, b, r, ingest_done, w, err, sizeof err);
	if (rc != 1) /* refused or empty: nothing queued, answer now */
		ingest_done(w, rc, err);
}

static const json_t *json_body(http_req *r, char *err, size_t errlen)
{
	const json_t *j = http_req_json(r);
	if (!j)
		snprintf(err, errlen, "the body must be a JSON object");
	return j;
}

/* ---- POST /api/v1/metrics ---- */

/* The route is HTTP_LAZY_JSON: one flat sample, the common body, skips the
 * JSON tree (building and freeing it was about a tenth of the ingest
 * listener's CPU per request). */
static int parse_samples(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen)
{
	const char *agent = ctx;
	size_t n;
	const char *p = http_req_body(r, &n);
	int rc = agent ? 0 : mx_parse_sample_flat(p, n, sn_now_ms(), b, err, errlen);
	if (rc)
		return rc < 0 ? rc : 0;
	if (http_req_json_parse(r))
		return -EALREADY;
	const json_t *j = json_body(r, err, errlen);
	return j ? mx_parse_samples(j, agent, sn_now_ms(), b, err, errlen) : -EINVAL;
}

static char *ok_samples(http_req *r, void *ctx, const mx_batch *b)
{
	(void)r;
	(void)ctx;
	return xasprintf("{\"accepted\":%zu}\n", mx_batch_len(b));
}

static void h_samples(http_req *r, void *ctx)
{
	ingest(r, ctx, auth_caller(r), parse_samples, NULL, ok_samples);
}

/* ---- POST /api/v1/agents/{agent}/calls ---- */

struct calls_ctx {
	mx_api *a;
	const char *agent;
	double cost;
};

static int parse_calls(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen)
{
	struct calls_ctx *x = ctx;
	const json_t *j = json_body(r, err, errlen);
	return j ? mx_parse_calls(j, x->agent, sn_now_ms(), mx_price_at, x->a->prices, b, &x->cost,
				  err, errlen) : -EINVAL;
}

static char *ok_calls(http_req *r, void *ctx, const mx_batch *b)
{
	const struct calls_ctx *x = ctx;
	const json_t *calls = json_object_get(http_req_json(r), "calls");
	size_t n = json_is_array(calls) ? json_array_size(calls) : 1;
	char num[32];
	(void)b;
	mx_fmt_double(x->cost, num);
	return xasprintf("{\"accepted\":%zu,\"cost_usd\":%s}\n", n, num);
}

static void h_calls(http_req *r, void *ctx)
{
	struct calls_ctx x = { ctx, http_req_param(r, "agent"), 0 };
	if (!mx_name_ok(x.agent)) {
		http_reply_error(r, 400, "bad_request", "an agent name is 1 to %d characters of"
				 " [A-Za-z0-9_.:-]", MX_NAME_MAX);
		return;
	}
	ingest(r, x.a, auth_caller(r), parse_calls, &x, ok_calls);
}

/* ---- POST /api/v1/metrics/write (line protocol) ---- */

struct lp_ctx {
	enum mx_precision prec;
	const char *agent;
};

static int parse_lp(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen)
{
	struct lp_ctx *x = ctx;
	size_t len = 0;
	const char *body = http_req_body(r, &len);
	return mx_parse_lp(body ? body : "", body ? len : 0, x->prec, x->agent, sn_now_ms(), b, err,
			   errlen);
}

static void h_write(http_req *r, void *ctx)
{
	struct lp_ctx x = { MX_NS, http_req_query(r, "agent") };
	if (mx_precision_parse(http_req_query(r, "precision"), &x.prec)) {
		http_reply_error(r, 400, "bad_request", "query parameter 'precision' is ns, us, ms or s");
		return;
	}
	if (x.agent && !mx_name_ok(x.agent)) {
		http_reply_error(r, 400, "bad_request", "query parameter 'agent': an agent name is 1 to"
				 " %d characters of [A-Za-z0-9_.:-]", MX_NAME_MAX);
		return;
	}
	ingest(r, ctx, auth_caller(r), parse_lp, &x, NULL);
}

/* ---- POST /v1/metrics, /v1/traces (OTLP/HTTP JSON) ---- */

/* OTLP/HTTP also has a protobuf encoding, which Sentinel does not take:
 * say so instead of a parse error. */
static int otlp_json(http_req *r)
{
	const char *ct = http_req_header(r, "Content-Type");
	if (!ct || strncasecmp(ct, "application/json", 16) == 0)
		return 1;
	http_reply_error(r, 415, "unsupported_media_type", "OTLP is taken in its JSON encoding"
			 " (Content-Type: application/json), not protobuf");
	return 0;
}

static int parse_otlp_metrics(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen)
{
	size_t len = 0;
	const char *body = http_req_body(r, &len);
	(void)ctx;
	return mx_parse_otlp_metrics(body ? body : "", body ? len : 0, sn_now_ms(), b, err, errlen);
}

static int parse_otlp_traces(http_req *r, void *ctx, mx_batch *b, char *err, size_t errlen)
{
	mx_api *a = ctx;
	size_t len = 0, calls = 0;
	const char *body = http_req_body(r, &len);
	return mx_parse_otlp_traces(body ? body : "", body ? len : 0, sn_now_ms(), mx_price_at,
				    a->prices, b, &calls, err, errlen);
}

static char *ok_otlp(http_req *r, void *ctx, const mx_batch *b)
{
	(void)r;
	(void)ctx;
	(void)b;
	return xstrdup("{\"partialSuccess\":{}}\n");
}

static void h_otlp_metrics(http_req *r, void *ctx)
{
	if (otlp_json(r))
		ingest(r, ctx, auth_caller(r), parse_otlp_metrics, NULL, ok_otlp);
}

static void h_otlp_traces(http_req *r, void *ctx)
{
	if (otlp_json(r))
		ingest(r, ctx, auth_caller(r), parse_otlp_traces, ctx, ok_otlp);
}

/* ---- POST /api/v1/node/metrics ---- */

/* The agent name of a node: its name with every byte outside the agent
 * alphabet turned into '_' (node names may hold spaces). */
static void agent_of_node_name(const char *in, char out[MX_NAME_MAX + 1])
{
	size_t i = 0;
	for (; in[i] && i < MX_NAME_MAX; i++) {
		char c = in[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			 c == '_' || c == '.' || c == ':' || c == '-';
		out[i] = ok ? c : '_';
	}
	if (i == 0)
		out[i++] = '_';
	out[i] = '\0';
}

/* The node's agent name: from the cache (at most NODE_NAME_TTL_MS old),
 * else from a registry snapshot. -ENOENT when the node is not claimed. */
static int node_name(mx_api *a, const char *id, char out[MX_NAME_MAX + 1])
{
	int64_t now = sn_now_ms();
	pthread_mutex_lock(&a->nodes_mu);
	for (size_t i = 0; i < a->nnode_names; i++)
		if (strcmp(a->node_names[i].id, id) == 0 && now - a->node_names[i].at < NODE_NAME_TTL_MS) {
			sn_strlcpy(out, a->node_names[i].name, MX_NAME_MAX + 1);
			pthread_mutex_unlock(&a->nodes_mu);
			return 0;
		}
	pthread_mutex_unlock(&a->nodes_mu);
	node_info *v = NULL;
	size_t n = 0;
	int rc = node_snapshot(a->nodes, &v, &n);
	if (rc)
		return rc;
	/* The cache is rebuilt whole from the snapshot: removed nodes leave it. */
	struct mx_node_name *names = xcalloc(n ? n : 1, sizeof *names);
	rc = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		sn_strlcpy(names[i].id, v[i].id, sizeof names[i].id);
		agent_of_node_name(v[i].name[0] ? v[i].name : v[i].id, names[i].name);
		names[i].at = now;
		if (strcmp(v[i].id, id) == 0) {
			sn_strlcpy(out, names[i].name, MX_NAME_MAX + 1);
			rc = 0;
		}
	}
	node_snapshot_free(&v, n);
	pthread_mutex_lock(&a->nodes_mu);
	free(a->node_names);
	a->node_names = names;
	a->nnode_names = n;
	pthread_mutex_unlock(&a->nodes_mu);
	return rc;
}

static void h_node_metrics(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	const node_caller *nc = node_caller_of(r);
	char name[MX_NAME_MAX + 1];
	if (!nc || !node_body_ok(r))
		return;
	if (!nc->owner[0] || node_name(a, nc->id, name)) {
		http_reply_error(r, 403, "forbidden", "the node is not claimed");
		return;
	}
	/* The node pushes as its owner (a member: the owner's admin rights
	 * do not travel with a node). */
	auth_user owner = { .role = ROLE_MEMBER };
	sn_strlcpy(owner.id, nc->owner, sizeof owner.id);
	sn_strlcpy(owner.username, nc->id, sizeof owner.username);
	ingest(r, a, &owner, parse_samples, name, ok_samples);
}

size_t mx_ingest_routes(mx_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/metrics", h_samples, HTTP_INGEST | HTTP_LAZY_JSON, ROLE_MEMBER, NULL,
		  MX_BODY_MAX, a },
		{ "POST", "/api/v1/agents/{agent}/calls", h_calls, HTTP_INGEST, ROLE_MEMBER, NULL,
		  MX_BODY_MAX, a },
		{ "POST", "/api/v1/metrics/write", h_write, HTTP_INGEST | HTTP_RAW_BODY, ROLE_MEMBER, NULL,
		  MX_BODY_MAX, a },
		{ "POST", "/v1/metrics", h_otlp_metrics, HTTP_INGEST | HTTP_RAW_BODY, ROLE_MEMBER, NULL,
		  MX_BODY_MAX, a },
		{ "POST", "/v1/traces", h_otlp_traces, HTTP_INGEST | HTTP_RAW_BODY, ROLE_MEMBER, NULL,
		  MX_BODY_MAX, a },
		{ "POST", "/api/v1/node/metrics", h_node_metrics, HTTP_NODE, 0, NULL, MX_BODY_MAX, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *routes);
	return n;
}
