/* libFuzzer target: metrics/mx_lp (Influx line protocol). Byte 0 picks the
 * precision and whether a default agent is given. Invariants: what parses
 * is a batch of valid samples (names, sorted unique tags, finite values);
 * a refusal names its line and can be sent as JSON; and the same text with
 * CRLF line ends gives the same answer. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "metrics/mx_parse.h"

static uint64_t digest(const mx_batch *b)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < mx_batch_len(b); i++) {
		const mx_sample *s = mx_batch_get(b, i);
		if (!mx_name_ok(s->agent) || !mx_name_ok(s->metric) || !isfinite(s->value) ||
		    s->ntags > MX_TAGS_MAX)
			abort();
		for (unsigned t = 0; t < s->ntags; t++) {
			if (!sn_utf8_valid(s->tags[t].v, strlen(s->tags[t].v), 1) ||
			    !strcmp(s->tags[t].k, "agent") ||
			    (t && strcmp(s->tags[t - 1].k, s->tags[t].k) >= 0))
				abort();
			for (const char *p = s->tags[t].k; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			for (const char *p = s->tags[t].v; *p; p++)
				h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		}
		for (const char *p = s->metric; *p; p++)
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
		h = (h ^ (uint64_t)s->ts_ms) * 0x100000001b3ULL;
		uint64_t v;
		memcpy(&v, &s->value, sizeof v);
		h = (h ^ v) * 0x100000001b3ULL;
	}
	return h;
}

static int run(const char *p, size_t n, enum mx_precision prec, const char *agent,
	       uint64_t *h, char *err, size_t errlen)
{
	mx_batch *b = mx_batch_new();
	int rc = mx_parse_lp(p, n, prec, agent, 1234, b, err, errlen);
	if (rc) {
		json_t *j = json_string(err);
		if (!j || strncmp(err, "line ", 5) || (rc != -EINVAL && rc != -E2BIG))
			abort();
		json_decref(j);
	}
	*h = rc ? 0 : digest(b);
	mx_batch_free(&b);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char e1[512], e2[512];
	uint64_t h1, h2;
	if (size == 0)
		return 0;
	enum mx_precision prec = (enum mx_precision)(data[0] & 3);
	const char *agent = data[0] & 4 ? "dflt" : NULL;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	int rc = run(p, n, prec, agent, &h1, e1, sizeof e1);
	if (memchr(p, '\r', n))
		return 0;
	char *crlf = xmalloc(2 * n + 1);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			crlf[m++] = '\r';
		crlf[m++] = p[i];
	}
	if (run(crlf, m, prec, agent, &h2, e2, sizeof e2) != rc || h1 != h2 ||
	    (rc && strcmp(e1, e2)))
		abort();
	free(crlf);
	return 0;
}
