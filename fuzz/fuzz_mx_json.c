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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	double cost = 0;
	if (size == 0)
		return 0;
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
