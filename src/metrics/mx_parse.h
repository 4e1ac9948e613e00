/* Ingest parsers: JSON samples and LLM calls, Influx line protocol, OTLP
 * JSON metrics and traces (docs/metrics.md, "Ingest"). Each fills a batch
 * all or nothing: on an error the batch may hold part of the request and
 * the caller drops it (stores nothing). err names the index or line and
 * the field, e.g. "samples[3].value: not a finite number" or "line 7:
 * field \"x\": string fields are not stored". 0 or -EINVAL (-E2BIG past
 * MX_BATCH_MAX samples). now_ms stands in for a missing time. */
#ifndef SN_MX_PARSE_H
#define SN_MX_PARSE_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "metrics/mx.h"

/* The price of model at ts_ms, per million tokens: 0, or -ENOENT when the
 * model has none. */
typedef int (*mx_price_fn)(void *ctx, const char *model, int64_t ts_ms, double *in_per_mtok,
			   double *out_per_mtok);

/* {"agent","metric","value","ts"?,"tags"?} or {"samples":[…]}. agent:
 * when non-NULL every sample's agent is this one and a sample naming
 * another is refused (node pushes; the field may then be absent). */
int mx_parse_samples(const json_t *body, const char *agent, int64_t now_ms, mx_batch *b,
		     char *err, size_t errlen);
/* The common one-sample body read straight from its bytes p[0..n), with
 * no JSON tree: {"agent","metric","value","ts"?,"tags"?} in any order,
 * strings of printable ASCII without escapes, ts an integer, tags an
 * object of such strings, no other member. 1: the sample is in b, as
 * mx_parse_samples would have put it; 0: the body is not of that form
 * (nothing added: parse it as JSON); or mx_batch_add's refusal, as
 * mx_parse_samples words it. */
int mx_parse_sample_flat(const char *p, size_t n, int64_t now_ms, mx_batch *b, char *err,
			 size_t errlen);

/* One LLM call or {"calls":[…]} for agent, turned into the llm.* samples;
 * *cost_usd gets the total cost (given or priced). price may be NULL. */
int mx_parse_calls(const json_t *body, const char *agent, int64_t now_ms, mx_price_fn price,
		   void *price_ctx, mx_batch *b, double *cost_usd, char *err, size_t errlen);

enum mx_precision { MX_NS, MX_US, MX_MS, MX_S };
/* "ns"|"us"|"ms"|"s" (NULL: ns) → 0, or -EINVAL. */
int mx_precision_parse(const char *s, enum mx_precision *out);
/* Influx line protocol. agent: the agent of lines without an agent tag
 * (NULL: such a line is an error). */
int mx_parse_lp(const char *p, size_t n, enum mx_precision prec, const char *agent,
		int64_t now_ms, mx_batch *b, char *err, size_t errlen);

/* OTLP/HTTP JSON ExportMetricsServiceRequest. */
int mx_parse_otlp_metrics(const char *p, size_t n, int64_t now_ms, mx_batch *b, char *err,
			  size_t errlen);
/* OTLP/HTTP JSON ExportTraceServiceRequest: GenAI spans become LLM calls
 * (as mx_parse_calls); *calls gets how many. */
int mx_parse_otlp_traces(const char *p, size_t n, int64_t now_ms, mx_price_fn price,
			 void *price_ctx, mx_batch *b, size_t *calls, char *err, size_t errlen);

/* ---- Shared by the parsers (mx_parse_json.c) ------------------------- */

/* One LLM call → the six llm.* samples for agent, tagged model and status
 * plus tags (which may not set model, status or price). cost_usd < 0: not
 * given, priced by price (NULL: none) at ts_ms; an unpriced model costs 0
 * and its llm.cost_usd sample gets the tag price=unknown. *cost gets the
 * call's cost. err as mx_batch_add's (the caller prefixes the index). */
int mx_call_add(mx_batch *b, const char *agent, const char *model, const char *status,
		int64_t ts_ms, double latency_ms, double tokens_in, double tokens_out,
		double cost_usd, const mx_tag *tags, unsigned ntags, mx_price_fn price,
		void *price_ctx, double *cost, char *err, size_t errlen);
/* Outside text for an error message (which ends up in JSON): printable
 * ASCII as is, other bytes as \xHH, at most 40 input bytes. Returns out. */
const char *mx_quote(const char *s, size_t n, char *out, size_t outlen);
#endif
