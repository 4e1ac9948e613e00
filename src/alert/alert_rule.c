/* Alert rule specs: validation of what a client sends, and the stored form.
 * The stored form is a body this parser accepts and that gives back the
 * same spec, so a rule is read back from the store by the code that
 * checked it when it was created. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "alert/alert_int.h"

static const char *const op_names[] = { ">", ">=", "<", "<=", "==" };
static const char *const state_names[] = { "ok", "pending", "firing" };

const char *alert_op_name(enum alert_op op)
{
	return op_names[op];
}

const char *alert_state_name(enum alert_state s)
{
	return state_names[s];
}

int alert_holds(enum alert_op op, double v, double t)
{
	switch (op) {
	case ALERT_GT: return v > t;
	case ALERT_GE: return v >= t;
	case ALERT_LT: return v < t;
	case ALERT_LE: return v <= t;
	case ALERT_EQ: return v == t;
	}
	return 0;
}

void alert_dur_format(int64_t ms, char *out, size_t outlen)
{
	static const struct { int64_t ms; const char *unit; } units[] = {
		{ 86400000, "d" }, { 3600000, "h" }, { 60000, "m" }, { 1000, "s" },
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (ms > 0 && ms % units[i].ms == 0) {
			snprintf(out, outlen, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
			return;
		}
	snprintf(out, outlen, "%lldms", (long long)ms);
}

void alert_spec_release(alert_spec *s)
{
	for (unsigned i = 0; i < s->ntags; i++) {
		free((char *)s->tags[i].k);
		free((char *)s->tags[i].v);
	}
	free(s->tags);
	free(s->name);
	free(s->detector);
	free(s->agent);
	free(s->metric);
	memset(s, 0, sizeof *s);
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -EINVAL; } while (0)

/* An optional string field: absent leaves *out NULL; present it must be a
 * string of 1..max bytes without control characters (jansson has already
 * checked the UTF-8). */
static int str_field(const json_t *o, const char *k, size_t max, const char **out, char *err,
		     size_t errlen)
{
	const json_t *v = json_object_get(o, k);
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		FAIL("%s: must be a string", k);
	size_t n = json_string_length(v);
	if (n == 0 || n > max)
		FAIL("%s: must be 1 to %zu bytes", k, max);
	if (!sn_utf8_valid(json_string_value(v), n, 1))
		FAIL("%s: must not hold control characters", k);
	*out = json_string_value(v);
	return 0;
}

/* A name of the metrics alphabet, as mx_name_ok checks it. */
static int mx_field(const json_t *o, const char *k, int required, const char **out, char *err,
		    size_t errlen)
{
	int rc = str_field(o, k, MX_NAME_MAX, out, err, errlen);
	if (rc)
		return rc;
	if (!*out && required)
		FAIL("%s: is required", k);
	if (*out && !mx_name_ok(*out))
		FAIL("%s: must be 1 to %d bytes of A-Z a-z 0-9 _ . : -", k, MX_NAME_MAX);
	return 0;
}

/* A duration "5m" (a string, as the API writes them): absent gives def. */
static int dur_field(const json_t *o, const char *k, int64_t def, int64_t min, int64_t *out,
		     char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, k);
	*out = def;
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) > 32 ||
	    sn_parse_duration_ms(json_string_value(v), out))
		FAIL("%s: must be a duration such as \"30s\", \"5m\" or \"1h\"", k);
	if (*out < min || *out > ALERT_DUR_MAX_MS)
		FAIL("%s: must be from %lld ms to 7 days", k, (long long)min);
	return 0;
}

static int tag_key_ok(const char *k, size_t n)
{
	if (n == 0 || n > MX_TAG_KEY_MAX || strcmp(k, "agent") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", k[i]) ||
		    !k[i])
			return 0;
	return 1;
}

static int tag_cmp(const void *a, const void *b)
{
	return strcmp(((const mx_tag *)a)->k, ((const mx_tag *)b)->k);
}

/* tags: an object of at most MX_TAGS_MAX string values, checked as the
 * ingest checks them (docs/metrics.md, "Words"). */
static int tags_field(const json_t *o, alert_spec *s, char *err, size_t errlen)
{
	const json_t *t = json_object_get(o, "tags"), *v;
	const char *k;
	if (!t)
		return 0;
	if (!json_is_object(t))
		FAIL("tags: must be an object of strings");
	if (json_object_size(t) > MX_TAGS_MAX)
		FAIL("tags: at most %d", MX_TAGS_MAX);
	s->tags = xcalloc(json_object_size(t) + 1, sizeof *s->tags);
	json_object_foreach((json_t *)t, k, v) {
		if (!tag_key_ok(k, strlen(k)))
			FAIL("tags: key \"%.64s\" must be 1 to %d bytes of A-Z a-z 0-9 _ . - (not \"agent\")",
			     k, MX_TAG_KEY_MAX);
		if (!json_is_string(v) || json_string_length(v) > MX_TAG_VAL_MAX ||
		    !sn_utf8_valid(json_string_value(v), json_string_length(v), 1))
			FAIL("tags.%s: must be a string of at most %d bytes without control characters",
			     k, MX_TAG_VAL_MAX);
		s->tags[s->ntags].k = xstrdup(k);
		s->tags[s->ntags++].v = xstrdup(json_string_value(v));
	}
	qsort(s->tags, s->ntags, sizeof *s->tags, tag_cmp);
	return 0;
}

static int op_field(const json_t *o, enum alert_op *op, char *err, size_t errlen)
{
	const char *v = json_string_value(json_object_get(o, "op"));
	for (size_t i = 0; v && i < sizeof op_names / sizeof op_names[0]; i++)
		if (strcmp(v, op_names[i]) == 0) {
			*op = (enum alert_op)i;
			return 0;
		}
	FAIL("op: must be one of \">\", \">=\", \"<\", \"<=\", \"==\"");
}

static int metric_rule(const json_t *o, alert_spec *s, char *err, size_t errlen)
{
	const char *agent, *metric, *agg = "avg";
	const json_t *th = json_object_get(o, "threshold");
	int rc;
	if ((rc = mx_field(o, "metric", 1, &metric, err, errlen)) ||
	    (rc = mx_field(o, "agent", 0, &agent, err, errlen)) ||
	    (rc = tags_field(o, s, err, errlen)))
		return rc;
	if (json_object_get(o, "agg") && !(agg = json_string_value(json_object_get(o, "agg"))))
		FAIL("agg: must be a string");
	if (mx_agg_parse(agg, &s->agg))
		FAIL("agg: must be one of avg, min, max, sum, count, rate, p50, p90, p95, p99");
	if ((rc = op_field(o, &s->op, err, errlen)) ||
	    (rc = dur_field(o, "window", -1, ALERT_WINDOW_MIN_MS, &s->window_ms, err, errlen)))
		return rc;
	if (s->window_ms < 0)
		FAIL("window: is required");
	if (!json_is_number(th) || !isfinite(json_number_value(th)))
		FAIL("threshold: must be a finite number");
	s->threshold = json_number_value(th);
	s->metric = xstrdup(metric);
	s->agent = xstrdup(agent);
	return 0;
}

/* Fires while the detector flagged an anomaly within the window. */
static int detector_rule(const json_t *o, alert_spec *s, char *err, size_t errlen)
{
	static const char *const not_with[] = { "metric", "agent", "tags", "agg", "op", "threshold" };
	const char *id;
	int rc;
	for (size_t i = 0; i < sizeof not_with / sizeof not_with[0]; i++)
		if (json_object_get(o, not_with[i]))
			FAIL("%s: does not go with detector (a detector rule fires while it flags anomalies)",
			     not_with[i]);
	if ((rc = mx_field(o, "detector", 1, &id, err, errlen)) ||
	    (rc = dur_field(o, "window", ALERT_DETECTOR_WINDOW_MS, ALERT_WINDOW_MIN_MS, &s->window_ms,
			    err, errlen)))
		return rc;
	s->detector = xstrdup(id);
	s->metric = xstrdup("anomaly.flag");
	s->tags = xcalloc(1, sizeof *s->tags);
	s->tags[0].k = xstrdup("detector");
	s->tags[0].v = xstrdup(id);
	s->ntags = 1;
	s->agg = MX_MAX;
	s->op = ALERT_GT;
	s->threshold = 0;
	return 0;
}

static int spec_parse(const json_t *o, alert_spec *s, char *err, size_t errlen)
{
	static const char *const known[] = { "name", "detector", "agent", "metric", "tags", "agg",
					     "window", "op", "threshold", "for" };
	const char *k, *name;
	const json_t *v;
	int rc;
	if (!json_is_object(o))
		FAIL("the body must be a JSON object");
	json_object_foreach((json_t *)o, k, v) {
		size_t i = 0;
		while (i < sizeof known / sizeof known[0] && strcmp(k, known[i]))
			i++;
		if (i == sizeof known / sizeof known[0])
			FAIL("unknown field \"%.64s\"", k);
	}
	if ((rc = str_field(o, "name", ALERT_NAME_MAX, &name, err, errlen)))
		return rc;
	if (!name)
		FAIL("name: is required");
	if ((rc = dur_field(o, "for", 0, 0, &s->for_ms, err, errlen)))
		return rc;
	rc = json_object_get(o, "detector") ? detector_rule(o, s, err, errlen)
					    : metric_rule(o, s, err, errlen);
	if (rc == 0)
		s->name = xstrdup(name);
	return rc;
}

int alert_spec_parse(const json_t *body, alert_spec *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	int rc = spec_parse(body, out, err, errlen);
	if (rc)
		alert_spec_release(out);
	return rc;
}

json_t *alert_spec_json(const alert_spec *s)
{
	char window[24], forv[24];
	alert_dur_format(s->window_ms, window, sizeof window);
	alert_dur_format(s->for_ms, forv, sizeof forv);
	if (s->for_ms == 0)
		snprintf(forv, sizeof forv, "0s");
	if (s->detector)
		return json_pack("{s:s,s:s,s:s,s:s}", "name", s->name, "detector", s->detector,
				 "window", window, "for", forv);
	json_t *tags = json_object();
	for (unsigned i = 0; tags && i < s->ntags; i++)
		if (json_object_set_new(tags, s->tags[i].k, json_string(s->tags[i].v))) {
			json_decref(tags);
			return NULL;
		}
	/* json_pack steals tags even when it fails. */
	return json_pack("{s:s,s:s*,s:s,s:o,s:s,s:s,s:s,s:f,s:s}", "name", s->name, "agent",
			 s->agent, "metric", s->metric, "tags", tags, "agg", mx_agg_name(s->agg),
			 "window", window, "op", alert_op_name(s->op), "threshold", s->threshold,
			 "for", forv);
}

enum alert_event alert_step(enum alert_state *state, int64_t *since, int holds, int64_t for_ms,
			    int64_t now)
{
	switch (*state) {
	case ALERT_OK:
		if (!holds)
			return ALERT_EV_NONE;
		*since = now;
		*state = for_ms > 0 ? ALERT_PENDING : ALERT_FIRING;
		return for_ms > 0 ? ALERT_EV_NONE : ALERT_EV_FIRING;
	case ALERT_PENDING:
		if (!holds) {
			*state = ALERT_OK;
			*since = now;
			return ALERT_EV_NONE;
		}
		if (now - *since < for_ms)
			return ALERT_EV_NONE;
		*state = ALERT_FIRING;
		*since = now;
		return ALERT_EV_FIRING;
	case ALERT_FIRING:
		if (holds)
			return ALERT_EV_NONE;
		*state = ALERT_OK;
		*since = now;
		return ALERT_EV_RESOLVED;
	}
	return ALERT_EV_NONE;
}
