/* libFuzzer target: metrics/mx_otlp (OTLP JSON metrics and traces). Byte 0
 * picks metrics or traces. Invariants: what parses is a batch of valid
 * samples (and traces give six samples a call); a refusal says why in
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
	if (model[0] == 'g') {
		*in = 2.5, *out = 10;
		return 0;
	}
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	size_t calls = 0;
	if (size == 0)
		return 0;
	mx_batch *b = mx_batch_new();
	const char *p = (const char *)data + 1;
	int traces = data[0] & 1;
	int rc = traces ? mx_parse_otlp_traces(p, size - 1, 99, price, NULL, b, &calls, err,
					       sizeof err)
			: mx_parse_otlp_metrics(p, size - 1, 99, b, err, sizeof err);
	if (rc) {
		json_t *j = json_string(err);
		if (!j || (rc != -EINVAL && rc != -E2BIG))
			abort();
		json_decref(j);
	} else {
		if (traces && mx_batch_len(b) != 6 * calls)
			abort();
		for (size_t i = 0; i < mx_batch_len(b); i++) {
			const mx_sample *s = mx_batch_get(b, i);
			if (!mx_name_ok(s->agent) || !mx_name_ok(s->metric) || !isfinite(s->value))
				abort();
			for (unsigned t = 1; t < s->ntags; t++)
				if (strcmp(s->tags[t - 1].k, s->tags[t].k) >= 0)
					abort();
		}
	}
	mx_batch_free(&b);
	return 0;
}
