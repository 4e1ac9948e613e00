/* libFuzzer target: alert rule specs (alert_spec_parse) on any JSON a
 * client may send, and the stored form: a spec that parses must give a
 * stored form that parses back to the same spec, and the same stored form
 * again. Also the webhook URL list check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "alert/alert_int.h"

static void same(const alert_spec *a, const alert_spec *b)
{
	if (strcmp(a->name, b->name) || strcmp(a->metric, b->metric) ||
	    !a->agent != !b->agent || (a->agent && strcmp(a->agent, b->agent)) ||
	    !a->detector != !b->detector || (a->detector && strcmp(a->detector, b->detector)) ||
	    a->ntags != b->ntags || a->agg != b->agg || a->op != b->op ||
	    a->window_ms != b->window_ms || a->for_ms != b->for_ms ||
	    memcmp(&a->threshold, &b->threshold, sizeof a->threshold))
		abort();
	for (unsigned i = 0; i < a->ntags; i++)
		if (strcmp(a->tags[i].k, b->tags[i].k) || strcmp(a->tags[i].v, b->tags[i].v))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	alert_spec s, back;
	char err[300];
	if (!j)
		return 0;
	if (alert_spec_parse(j, &s, err, sizeof err) == 0) {
		json_t *stored = alert_spec_json(&s);
		if (!stored || alert_spec_parse(stored, &back, err, sizeof err))
			abort();
		same(&s, &back);
		json_t *again = alert_spec_json(&back);
		if (!again || !json_equal(stored, again))
			abort();
		json_decref(again);
		json_decref(stored);
		alert_spec_release(&back);
		alert_spec_release(&s);
	} else if (!err[0]) {
		abort(); /* a refusal always says why */
	}
	alert_hooks_check(json_object_get(j, "urls"), err, sizeof err);
	json_decref(j);
	return 0;
}
