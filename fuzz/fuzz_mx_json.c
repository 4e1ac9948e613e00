/* libFuzzer target: metrics/mx_parse_json (JSON samples and LLM calls).
 * Byte 0 picks samples or calls and whether a node agent is given; the
 * rest is JSON. Invariants: what parses is a batch of valid samples (calls
 * give six each, and a finite total cost); a refusal names the field in
 * text that can be sent as JSON. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "metrics/mx_parse.h"

static int price(void *ctx, const char *model, int64_t ts, double *in, double *out)
{
	(void)ctx, (void)ts;
	if (model[0] == 'e')
		return -EIO;
	if (model[0] == 'g') {
		*in = 2.5, *out = 10;
		return 0;
	}
	return -ENOENT;
}

/* The one-sample fast path against the JSON path: whatever it takes, it
 * takes as mx_parse_samples does (the same sample, or the same refusal),
 * and what it declines it leaves untouched. */
static void flat_same(const char *p, size_t n)
{
	char e1[512] = "", e2[512] = "";
	mx_batch *a = mx_batch_new(), *b = mx_batch_new();
	int rc = mx_parse_sample_flat(p, n, 5, a, e1, sizeof e1);
	if (rc == 0) {
		if (mx_batch_len(a))
			abort();
		goto out;
	}
	json_t *body = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
	if (!body || !json_is_object(body))
		abort(); /* the fast path took what the JSON path refuses */
	int rc2 = mx_parse_samples(body, NULL, 5, b, e2, sizeof e2);
	json_decref(body);
	if (rc < 0) {
		if (rc2 != rc || strcmp(e1, e2))
			abort();
		goto out;
	}
	if (rc != 1 || rc2 || mx_batch_len(a) != 1 || mx_batch_len(b) != 1)
		abort();
	const mx_sample *x = mx_batch_get(a, 0), *y = mx_batch_get(b, 0);
	if (strcmp(x->agent, y->agent) || strcmp(x->metric, y->metric) || x->ts_ms != y->ts_ms ||
	    memcmp(&x->value, &y->value, sizeof x->value) || x->ntags != y->ntags)
		abort();
	for (unsigned t = 0; t < x->ntags; t++)
		if (strcmp(x->tags[t].k, y->tags[t].k) || strcmp(x->tags[t].v, y->tags[t].v))
			abort();
out:
	mx_batch_free(&a);
	mx_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	double cost = 0;
	if (size == 0)
		return 0;
	flat_same((const char *)data + 1, size - 1);
	json_t *body = json_loadb((const char *)data + 1, size - 1, 0, NULL);
	if (!body)
		return 0;
	mx_batch *b = mx_batch_new();
	const char *agent = data[0] & 2 ? "n1" : NULL;
	int calls = data[0] & 1;
	int rc = calls ? mx_parse_calls(body, agent ? agent : "bot", 5, price, NULL, b, &cost,
					err, sizeof err)
		       : mx_parse_samples(body, agent, 5, b, err, sizeof err);
	if (rc) {
		json_t *j = json_string(err);
		if (!j || (rc != -EINVAL && rc != -E2BIG && rc != -EIO))
			abort();
		json_decref(j);
	} else {
		if (calls && (mx_batch_len(b) % 6 || !isfinite(cost) || cost < 0))
			abort();
		for (size_t i = 0; i < mx_batch_len(b); i++) {
			const mx_sample *s = mx_batch_get(b, i);
			if (!mx_name_ok(s->agent) || !mx_name_ok(s->metric) || !isfinite(s->value) ||
			    (agent && strcmp(s->agent, agent)))
				abort();
			for (unsigned t = 1; t < s->ntags; t++)
				if (strcmp(s->tags[t - 1].k, s->tags[t].k) >= 0)
					abort();
		}
	}
	mx_batch_free(&b);
	json_decref(body);
	return 0;
}
