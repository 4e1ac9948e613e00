/* Chunk statistics and their exact merge. A job's result is the merge of
 * its chunks' stats by Chan, Golub and LeVeque's pairwise formula:
 *   n = na + nb, d = mean_b - mean_a,
 *   mean = mean_a + d * nb / n,  m2 = m2_a + m2_b + d^2 * na * nb / n,
 * which equals the figures over all samples at once up to rounding, in
 * whatever order and grouping the chunks complete. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "sched/sched_int.h"

void sc_stat_merge(sc_stat *a, const sc_stat *b)
{
	if (b->n <= 0)
		return;
	if (a->n <= 0) {
		char name[SC_STAT_NAME_MAX];
		memcpy(name, a->name, sizeof name);
		*a = *b;
		memcpy(a->name, name, sizeof name);
		return;
	}
	double n = a->n + b->n, d = b->mean - a->mean;
	a->mean += d * (b->n / n);
	a->m2 += b->m2 + d * d * (a->n * b->n / n);
	a->n = n;
	if (b->min < a->min)
		a->min = b->min;
	if (b->max > a->max)
		a->max = b->max;
}

static sc_stat *stats_find(sc_stats *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

static sc_stat *stats_add(sc_stats *s, const char *name)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	sc_stat *t = &s->v[s->n++];
	memset(t, 0, sizeof *t);
	sn_strlcpy(t->name, name, sizeof t->name);
	return t;
}

void sc_stats_merge(sc_stats *a, const sc_stats *b)
{
	for (size_t i = 0; i < b->n; i++) {
		sc_stat *t = stats_find(a, b->v[i].name);
		if (!t)
			t = stats_add(a, b->v[i].name);
		sc_stat_merge(t, &b->v[i]);
	}
}

void sc_stats_release(sc_stats *s)
{
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int num(const json_t *o, const char *k, double *out)
{
	const json_t *v = json_object_get(o, k);
	if (!json_is_number(v))
		return -EINVAL;
	*out = json_number_value(v);
	return isfinite(*out) ? 0 : -EINVAL;
}

static int name_ok(const char *k)
{
	size_t n = strlen(k);
	return n > 0 && n < SC_STAT_NAME_MAX;
}

static int stat_obj(const char *k, const json_t *v, sc_stat *t, char *err, size_t errlen)
{
	if (!json_is_object(v) || num(v, "n", &t->n) || num(v, "mean", &t->mean) ||
	    num(v, "m2", &t->m2) || num(v, "min", &t->min) || num(v, "max", &t->max) ||
	    t->n < 0 || t->m2 < 0 || t->n != floor(t->n) || (t->n > 0 && t->min > t->max)) {
		snprintf(err, errlen, "stats.%s needs numbers n (a count), mean, m2 >= 0, min <= max", k);
		return -EINVAL;
	}
	return 0;
}

/* Welford over one array of samples. */
static int stat_samples(const char *k, const json_t *a, sc_stat *t, char *err, size_t errlen)
{
	size_t i;
	const json_t *x;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "samples.%s must be an array of numbers", k);
		return -EINVAL;
	}
	json_array_foreach(a, i, x) {
		double v = json_number_value(x);
		if (!json_is_number(x) || !isfinite(v)) {
			snprintf(err, errlen, "samples.%s[%zu] is not a finite number", k, i);
			return -EINVAL;
		}
		t->n += 1;
		double d = v - t->mean;
		t->mean += d / t->n;
		t->m2 += d * (v - t->mean);
		if (t->n == 1 || v < t->min)
			t->min = v;
		if (t->n == 1 || v > t->max)
			t->max = v;
	}
	return 0;
}

int sc_stats_from_result(const json_t *result, sc_stats *out, char *err, size_t errlen)
{
	const char *k;
	const json_t *v;
	int rc = 0;
	memset(out, 0, sizeof *out);
	if (!result || json_is_null(result))
		return 0;
	if (!json_is_object(result)) {
		snprintf(err, errlen, "result must be an object");
		return -EINVAL;
	}
	const json_t *st = json_object_get(result, "stats"), *sm = json_object_get(result, "samples");
	if ((st && !json_is_object(st)) || (sm && !json_is_object(sm))) {
		snprintf(err, errlen, "result.stats and result.samples must be objects");
		return -EINVAL;
	}
	if (json_object_size(st) + json_object_size(sm) > SC_STATS_MAX) {
		snprintf(err, errlen, "at most %d named stats", SC_STATS_MAX);
		return -EINVAL;
	}
	json_object_foreach((json_t *)st, k, v) {
		sc_stat t = { 0 };
		if (!name_ok(k) || stats_find(out, k)) {
			snprintf(err, errlen, "bad or repeated stat name");
			rc = -EINVAL;
		} else if ((rc = stat_obj(k, v, &t, err, errlen)) == 0) {
			sc_stat_merge(stats_add(out, k), &t);
		}
		if (rc)
			goto out;
	}
	json_object_foreach((json_t *)sm, k, v) {
		sc_stat t = { 0 };
		if (!name_ok(k)) {
			snprintf(err, errlen, "bad stat name");
			rc = -EINVAL;
		} else if ((rc = stat_samples(k, v, &t, err, errlen)) == 0) {
			sc_stat *d = stats_find(out, k);
			sc_stat_merge(d ? d : stats_add(out, k), &t);
		}
		if (rc)
			goto out;
	}
out:
	if (rc)
		sc_stats_release(out);
	return rc;
}

json_t *sc_stats_json(const sc_stats *s)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < s->n; i++) {
		const sc_stat *t = &s->v[i];
		json_t *sd = t->n >= 2 ? json_real(sqrt(t->m2 / (t->n - 1))) : json_null();
		json_t *e = json_pack("{s:I,s:f,s:f,s:o,s:f,s:f}", "n", (json_int_t)t->n, "mean",
				      t->mean, "m2", t->m2, "std", sd, "min", t->min, "max", t->max);
		if (!e || json_object_set_new(o, t->name, e)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

int sc_stats_parse(const char *text, sc_stats *out)
{
	char err[160];
	json_t *o = text && *text ? json_loads(text, 0, NULL) : NULL;
	memset(out, 0, sizeof *out);
	if (!o)
		return text && *text ? -EBADMSG : 0;
	json_t *wrap = json_pack("{s:O}", "stats", o);
	/* std is ignored: m2 is the exact state. */
	int rc = wrap ? sc_stats_from_result(wrap, out, err, sizeof err) : -ENOMEM;
	json_decref(wrap);
	json_decref(o);
	return rc;
}
