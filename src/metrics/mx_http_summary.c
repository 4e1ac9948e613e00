/* GET /api/v1/agents/{agent}/summary: what a team lead asks of an agent's
 * LLM calls over [from, to): calls, errors and their rate, latency p50,
 * p95 and p99, tokens and cost, in all and by model — from the llm.*
 * samples the calls became (docs/metrics.md, "Ingest").
 *
 * Each figure is one store query with a single bucket: a step of `to`
 * milliseconds puts all of [from, to) (from >= 0) in the bucket starting
 * at 0, so the store's rollups and quantile sketches answer it (the
 * percentiles are within the store's 1%). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

enum { F_CALLS, F_ERRORS, F_P50, F_P95, F_P99, F_TIN, F_TOUT, F_COST, NFIG };

static const struct {
	const char *metric;
	enum mx_agg agg;
} parts[NFIG] = {
	{ "llm.calls", MX_SUM }, { "llm.errors", MX_SUM }, { "llm.latency_ms", MX_P50 },
	{ "llm.latency_ms", MX_P95 }, { "llm.latency_ms", MX_P99 }, { "llm.tokens_in", MX_SUM },
	{ "llm.tokens_out", MX_SUM }, { "llm.cost_usd", MX_SUM },
};

struct fig {
	double v[NFIG];
	int set[NFIG];
};

struct model_fig {
	char *model;
	struct fig f;
};

struct sum {
	struct fig total;
	struct model_fig *m;
	size_t n;
	int part;   /* the figure being filled */
	int by_model;
};

static struct fig *model_of(struct sum *s, const char *model)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->m[i].model, model) == 0)
			return &s->m[i].f;
	s->m = xrealloc(s->m, (s->n + 1) * sizeof *s->m);
	memset(&s->m[s->n], 0, sizeof *s->m);
	s->m[s->n].model = xstrdup(model);
	return &s->m[s->n++].f;
}

static int sum_cb(void *ctx, const mx_result *r)
{
	struct sum *s = ctx;
	struct fig *f = &s->total;
	if (r->n == 0)
		return 0;
	if (s->by_model) {
		const char *model = "";
		for (unsigned i = 0; i < r->ntags; i++)
			if (strcmp(r->tags[i].k, "model") == 0)
				model = r->tags[i].v;
		f = model_of(s, model);
	}
	/* One bucket: at most one point (summed across, should a store split
	 * it). Percentiles keep the single value. */
	for (size_t i = 0; i < r->n; i++)
		f->v[s->part] = parts[s->part].agg == MX_SUM ? f->v[s->part] + r->pts[i].v : r->pts[i].v;
	f->set[s->part] = 1;
	return 0;
}

static json_t *num_or_null(const struct fig *f, int k)
{
	return f->set[k] ? json_real(f->v[k]) : json_null();
}

static json_t *fig_json(const struct fig *f)
{
	double calls = f->v[F_CALLS], errors = f->v[F_ERRORS];
	return json_pack("{s:f,s:f,s:f,s:{s:o,s:o,s:o},s:f,s:f,s:f}", "calls", calls, "errors",
			 errors, "error_rate", calls > 0 ? errors / calls : 0.0, "latency_ms", "p50",
			 num_or_null(f, F_P50), "p95", num_or_null(f, F_P95), "p99",
			 num_or_null(f, F_P99), "tokens_in", f->v[F_TIN], "tokens_out", f->v[F_TOUT],
			 "cost_usd", f->v[F_COST]);
}

static int model_cmp(const void *a, const void *b)
{
	return strcmp(((const struct model_fig *)a)->model, ((const struct model_fig *)b)->model);
}

static int summarise(mx_api *a, const mx_sel *p, const char *agent, struct sum *s)
{
	static const char *const by_agent[] = { "agent" }, *const by_model[] = { "model" };
	int rc = 0;
	for (int pass = 0; pass < 2 && rc == 0; pass++)
		for (int k = 0; k < NFIG && rc == 0; k++) {
			mx_filter f = { parts[k].metric, agent, p->tags, p->ntags, p->from, p->to, NULL,
					NULL };
			s->part = k;
			s->by_model = pass;
			rc = mx_db_query(a->db, &f, p->to, parts[k].agg, pass ? by_model : by_agent, 1,
					 sum_cb, s);
		}
	return rc;
}

void mx_h_summary(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	const char *agent = http_req_param(r, "agent");
	mx_viewer v;
	mx_agent_info info;
	mx_sel p;
	struct sum s;
	json_t *j = NULL, *models = NULL;
	memset(&p, 0, sizeof p);
	memset(&s, 0, sizeof s);
	mx_viewer_init(&v, auth_caller(r));
	if (!mx_name_ok(agent) || mx_agents_get(a->agents, &v, agent, &info, NULL)) {
		http_reply_error(r, 404, "not_found", "no such agent");
		goto out;
	}
	if (mx_sel_parse(r, &p, 0))
		goto out;
	if (p.from < 0) {
		http_reply_error(r, 400, "bad_request", "'from' must not be before 1970");
		goto out;
	}
	int rc = summarise(a, &p, agent, &s);
	if (rc) {
		http_reply_errno(r, rc == -E2BIG ? -EINVAL : rc, "cannot summarise the calls");
		goto out;
	}
	if (s.n)
		qsort(s.m, s.n, sizeof *s.m, model_cmp);
	models = json_array();
	for (size_t i = 0; models && i < s.n; i++) {
		json_t *m = fig_json(&s.m[i].f);
		if (!m || json_object_set_new(m, "model", json_string(s.m[i].model)) ||
		    json_array_append_new(models, m)) {
			json_decref(m);
			json_decref(models);
			models = NULL;
		}
	}
	j = fig_json(&s.total);
	/* json_pack takes models (o) also when it fails. */
	json_t *more = json_pack("{s:s,s:o,s:o,s:o}", "agent", agent, "from", http_json_time(p.from),
				 "to", http_json_time(p.to), "by_model", models ? models : json_null());
	if (!j || !more || !models || json_object_update(j, more)) {
		json_decref(j);
		json_decref(more);
		http_reply_errno(r, -ENOMEM, "cannot encode the summary");
		goto out;
	}
	json_decref(more);
	http_reply_json(r, 200, j);
out:
	for (size_t i = 0; i < s.n; i++)
		free(s.m[i].model);
	free(s.m);
	mx_sel_release(&p);
}
