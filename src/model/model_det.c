/* Detectors: a model version scoring an agent's metrics. Every step the
 * detector thread builds, for each detector, the vector of the last closed
 * bucket of each feature ("metric[:agg]", the agent's series merged),
 * scores it with the model, and stores the samples anomaly.score and
 * anomaly.flag (1/0) tagged detector=ID under the detector's agent (as the
 * server itself: mx_api_push with no user); a flagged bucket is recorded
 * in the anomalies table and published on the hub's topic "anomaly" (to
 * the detector's owner). POST …/replay scores past buckets the same way.
 *
 * Invariants:
 *  1. A bucket is scored only when every feature has a value in it.
 *  2. The thread scores bucket b of a detector once: last_ts (the start of
 *     the last bucket it scored) only grows, and is written after the
 *     samples are durable. A replay does not move it.
 *  3. A detector names a fixed version (M@latest is resolved at create),
 *     whose dimension equals its number of features. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "model/model_int.h"

#define DET_FEATURES_MAX 256
#define DET_STEP_MIN_MS 1000
#define DET_STEP_MAX_MS (24 * 3600 * 1000LL)
#define DET_TICK_MS 1000
#define ANOMALIES_MAX 10000
#define DET_PER_USER 100  /* each costs a query per feature every step */
#define DET_MAX 2000

struct feature {
	char metric[MX_NAME_MAX + 1];
	enum mx_agg agg;
};

typedef struct det {
	char id[48], owner[48], item_id[48], agent[MX_NAME_MAX + 1];
	char model[MD_NAME_MAX + 1];
	int64_t version, step_ms, last_ts, created_at;
	struct feature *f;
	int nf;
	char *features; /* the JSON text */
} det;

static void det_release(det *d)
{
	free(d->f);
	free(d->features);
	memset(d, 0, sizeof *d);
}

/* "metric[:agg]" entries of a JSON array into d->f; -EINVAL with why. */
static int parse_features(const json_t *arr, det *d, char *err, size_t errlen)
{
	size_t i;
	json_t *x;
	if (!json_is_array(arr) || !json_array_size(arr) || json_array_size(arr) > DET_FEATURES_MAX) {
		snprintf(err, errlen, "field 'features' must be a list of 1 to %d \"metric[:agg]\"",
			 DET_FEATURES_MAX);
		return -EINVAL;
	}
	d->f = xcalloc(json_array_size(arr), sizeof *d->f);
	json_array_foreach(arr, i, x) {
		const char *s = json_string_value(x), *colon = s ? strrchr(s, ':') : NULL;
		size_t n = colon ? (size_t)(colon - s) : s ? strlen(s) : 0;
		struct feature *f = &d->f[i];
		f->agg = MX_AVG;
		if (colon && mx_agg_parse(colon + 1, &f->agg))
			colon = NULL, n = s ? strlen(s) : 0; /* a metric may hold ':' */
		if (!s || n == 0 || n > MX_NAME_MAX) {
			snprintf(err, errlen, "features[%zu]: not \"metric[:agg]\"", i);
			return -EINVAL;
		}
		memcpy(f->metric, s, n);
		f->metric[n] = '\0';
		if (!mx_name_ok(f->metric)) {
			snprintf(err, errlen, "features[%zu]: '%s' is no metric name", i, f->metric);
			return -EINVAL;
		}
	}
	d->nf = (int)json_array_size(arr);
	return 0;
}

#define DET_COLS "id, owner_id, model_item_id, model_name, version, agent, features, step_ms," \
	" last_ts, created_at"

static int det_of_row(store_rows *rows, det *d)
{
	char err[200];
	memset(d, 0, sizeof *d);
	sn_strlcpy(d->id, store_rows_text(rows, 0), sizeof d->id);
	sn_strlcpy(d->owner, store_rows_text(rows, 1), sizeof d->owner);
	sn_strlcpy(d->item_id, store_rows_text(rows, 2), sizeof d->item_id);
	sn_strlcpy(d->model, store_rows_text(rows, 3), sizeof d->model);
	d->version = store_rows_int(rows, 4);
	sn_strlcpy(d->agent, store_rows_text(rows, 5), sizeof d->agent);
	d->features = xstrdup(store_rows_text(rows, 6));
	d->step_ms = store_rows_int(rows, 7);
	d->last_ts = store_rows_isnull(rows, 8) ? INT64_MIN : store_rows_int(rows, 8);
	d->created_at = store_rows_int(rows, 9);
	json_t *arr = json_loads(d->features, 0, NULL);
	int rc = parse_features(arr, d, err, sizeof err);
	json_decref(arr);
	return rc ? -EBADMSG : 0;
}

/* The detector id as u sees it: owner and admins; else -ENOENT. */
static int det_get(store_conn *c, const char *id, const auth_user *u, det *d)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT " DET_COLS " FROM detectors WHERE id = $1", &rows,
			     SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = det_of_row(rows, d);
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	if (rc == 0 && u && u->role < ROLE_ADMIN && strcmp(d->owner, u->id) != 0) {
		det_release(d);
		rc = -ENOENT;
	}
	return rc;
}

static json_t *det_json(const det *d)
{
	char step[32];
	json_t *feat = json_loads(d->features, 0, NULL);
	if (d->step_ms % 60000 == 0)
		snprintf(step, sizeof step, "%" PRId64 "m", d->step_ms / 60000);
	else
		snprintf(step, sizeof step, "%" PRId64 "s", d->step_ms / 1000);
	return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s,s:I,s:s,s:o,s:o}", "id", d->id, "model", d->model,
			 "version", (json_int_t)d->version, "agent", d->agent, "features",
			 feat ? feat : json_array(), "step", step, "step_ms",
			 (json_int_t)d->step_ms, "owner_id", d->owner, "last_ts",
			 d->last_ts == INT64_MIN ? json_null() : http_json_time(d->last_ts),
			 "created_at", http_json_time(d->created_at));
}

/* ---- scoring a range of buckets ---- */

/* The feature values by bucket: vals[b * nf + i], have[b] counts the
 * features present in bucket b. */
struct grid {
	int64_t from, step;
	size_t nb;
	int nf, cur;
	float *vals;
	int *have;
};

static int on_result(void *ctx, const mx_result *r)
{
	struct grid *g = ctx;
	for (size_t k = 0; k < r->n; k++) {
		int64_t b = (r->pts[k].ts_ms - g->from) / g->step;
		if (r->pts[k].ts_ms < g->from || b < 0 || (size_t)b >= g->nb ||
		    !isfinite((float)r->pts[k].v))
			continue;
		float *slot = &g->vals[(size_t)b * (size_t)g->nf + (size_t)g->cur];
		/* One series per agent (merged by agent): a second result for the
		 * same bucket would be another agent, which the filter excludes. */
		if (isnan(*slot))
			g->have[b]++;
		*slot = (float)r->pts[k].v;
	}
	return 0;
}

static int grid_fill(model_api *a, const det *d, struct grid *g)
{
	static const char *const by[] = { "agent" };
	mx_db *db = a->mx ? mx_api_db(a->mx) : NULL;
	if (!db)
		return -ENOSYS;
	for (size_t i = 0; i < g->nb * (size_t)g->nf; i++)
		g->vals[i] = NAN;
	for (int i = 0; i < d->nf; i++) {
		mx_filter f = { .metric = d->f[i].metric, .agent = d->agent, .from_ms = g->from,
				.to_ms = g->from + (int64_t)g->nb * g->step };
		g->cur = i;
		int rc = mx_db_query(db, &f, g->step, d->f[i].agg, by, 1, on_result, g);
		if (rc)
			return rc;
	}
	return 0;
}

static int batch_add(mx_batch *b, const det *d, int64_t ts, const char *metric, double v)
{
	mx_tag tag = { "detector", d->id };
	char err[200];
	int rc = mx_batch_add(b, d->agent, metric, ts, v, &tag, 1, err, sizeof err);
	if (rc)
		log_warn("models: detector %s: %s", d->id, err);
	return rc;
}

static int anomaly_record(model_api *a, const det *d, int64_t ts, double score, double thr)
{
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO anomalies (detector_id, ts, score, threshold) VALUES"
				" ($1, $2, $3, $4) ON CONFLICT (detector_id, ts) DO UPDATE SET"
				" score = excluded.score, threshold = excluded.threshold", NULL,
				SARGS(SA_TEXT(d->id), SA_INT(ts), SA_DBL(score), SA_DBL(thr)));
	store_release(&c);
	json_t *e = rc ? NULL : json_pack("{s:s,s:s,s:s,s:I,s:f,s:f}", "detector", d->id, "agent",
					  d->agent, "model", d->model, "ts", (json_int_t)ts, "score",
					  score, "threshold", thr);
	char *ev = e ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (ev && a->events)
		hub_publish_owned(a->events, "anomaly", d->owner, ev);
	free(ev);
	return rc;
}

typedef struct det_counts {
	size_t buckets, scored, anomalies;
} det_counts;

/* Scores the buckets of [from, from + nb * step) that have every feature;
 * stores the samples, records and publishes the anomalies. */
static int det_score_range(model_api *a, const det *d, int64_t from, size_t nb, det_counts *n)
{
	struct grid g = { .from = from, .step = d->step_ms, .nb = nb, .nf = d->nf };
	store_conn *c = NULL;
	md_version v = { 0 };
	ml_model *m = NULL;
	mx_batch *b = NULL;
	float *x = NULL, *scores = NULL;
	int64_t *ts = NULL;
	size_t k = 0;
	char err[512];
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = md_version_get(c, d->item_id, d->version, &v);
	store_release(&c);
	if (rc == 0 && (rc = md_cache_get(a, d->item_id, &v, &m, err, sizeof err)))
		log_warn("models: detector %s: %s", d->id, err);
	if (rc == 0 && ml_model_dim(m) != d->nf)
		rc = -EBADMSG;
	memset(n, 0, sizeof *n);
	n->buckets = nb;
	if (rc)
		goto out;
	g.vals = xmalloc(nb * (size_t)d->nf * sizeof *g.vals);
	g.have = xcalloc(nb, sizeof *g.have);
	if ((rc = grid_fill(a, d, &g)))
		goto out;
	x = xmalloc(nb * (size_t)d->nf * sizeof *x);
	ts = xmalloc(nb * sizeof *ts);
	for (size_t i = 0; i < nb; i++) {
		if (g.have[i] != d->nf)
			continue;
		memcpy(x + k * (size_t)d->nf, g.vals + i * (size_t)d->nf, (size_t)d->nf * sizeof *x);
		ts[k++] = from + (int64_t)i * d->step_ms;
	}
	if (k == 0)
		goto out;
	scores = xmalloc(k * sizeof *scores);
	ml_scorer *s = ml_scorer_new(m, k < 1024 ? k : 1024);
	for (size_t i = 0; rc == 0 && i < k; i += 1024)
		rc = ml_scorer_score(s, x + i * (size_t)d->nf, k - i < 1024 ? k - i : 1024, scores + i);
	ml_scorer_free(&s);
	double thr = ml_model_threshold(m);
	b = mx_batch_new();
	for (size_t i = 0; rc == 0 && i < k; i++) {
		int flag = (double)scores[i] > thr;
		rc = batch_add(b, d, ts[i], "anomaly.score", scores[i]);
		if (rc == 0)
			rc = batch_add(b, d, ts[i], "anomaly.flag", flag);
		if (rc == 0 && mx_batch_len(b) + 2 > MX_BATCH_MAX) {
			rc = mx_api_push(a->mx, NULL, b, err, sizeof err);
			mx_batch_free(&b);
			b = mx_batch_new();
		}
	}
	if (rc == 0 && mx_batch_len(b))
		rc = mx_api_push(a->mx, NULL, b, err, sizeof err);
	n->scored = rc ? 0 : k;
	for (size_t i = 0; rc == 0 && i < k; i++)
		if ((double)scores[i] > thr && (rc = anomaly_record(a, d, ts[i], scores[i], thr)) == 0)
			n->anomalies++;
out:
	mx_batch_free(&b);
	ml_model_free(&m);
	md_version_release(&v);
	free(g.vals);
	free(g.have);
	free(x);
	free(ts);
	free(scores);
	return rc;
}

/* ---- the detector thread ---- */

/* Scores d's closed buckets after last_ts (at most the latest few, so a
 * server that was down does not replay days: users replay on purpose). */
static void det_tick(model_api *a, det *d, int64_t now)
{
	int64_t last_closed = (now / d->step_ms) * d->step_ms - d->step_ms;
	int64_t from = d->last_ts == INT64_MIN ? last_closed : d->last_ts + d->step_ms;
	det_counts n;
	if (from > last_closed)
		return;
	if ((last_closed - from) / d->step_ms >= 10)
		from = last_closed - 9 * d->step_ms;
	int rc = det_score_range(a, d, from, (size_t)((last_closed - from) / d->step_ms + 1), &n);
	/* A model version deleted under the detector fails every step: said
	 * once an hour, and the buckets are passed over. */
	if (rc && (d->last_ts == INT64_MIN || last_closed % 3600000 < d->step_ms))
		log_warn("models: detector %s: cannot score: %s", d->id,
			 rc == -ENOENT ? "its model version is gone" : rc == -EBADMSG
			 ? "its model changed dimension" : strerror(rc < -1000 ? EIO : -rc));
	if (rc && rc != -ENOENT && rc != -EBADMSG)
		return;
	store_conn *c = NULL;
	if (store_acquire(a->st, &c) == 0)
		store_exec(c, "UPDATE detectors SET last_ts = $2 WHERE id = $1 AND (last_ts IS NULL OR"
			   " last_ts < $2)", NULL, SARGS(SA_TEXT(d->id), SA_INT(last_closed)));
	store_release(&c);
}

static void det_pass(model_api *a)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	det *ds = NULL;
	size_t n = 0, cap = 0;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT " DET_COLS " FROM detectors ORDER BY id", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			ds = xrealloc(ds, cap * sizeof *ds);
		}
		rc = det_of_row(rows, &ds[n]) == 0 ? (n++, 0) : (det_release(&ds[n]), 0);
	}
	store_rows_free(&rows);
	store_release(&c);
	int64_t now = sn_now_ms();
	for (size_t i = 0; i < n; i++) {
		det_tick(a, &ds[i], now);
		det_release(&ds[i]);
	}
	free(ds);
}

static void *det_main(void *arg)
{
	model_api *a = arg;
	pthread_mutex_lock(&a->mu);
	while (!a->quit) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)DET_TICK_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&a->cv, &a->mu, &until);
		if (a->quit)
			break;
		pthread_mutex_unlock(&a->mu);
		det_pass(a);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int md_det_start(model_api *a)
{
	if (!a->mx)
		return 0;
	if (pthread_create(&a->det_th, NULL, det_main, a))
		return -EAGAIN;
	a->det_started = 1;
	return 0;
}

void md_det_stop(model_api *a)
{
	pthread_mutex_lock(&a->mu);
	a->quit = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->det_started)
		pthread_join(a->det_th, NULL);
	a->det_started = 0;
}

/* ---- routes ---- */

static int range_args(http_req *r, int64_t *from, int64_t *to)
{
	int64_t now = sn_now_ms();
	const char *f = http_req_query(r, "from"), *t = http_req_query(r, "to");
	*from = now - 3600000;
	*to = now;
	if ((f && *f && sn_time_arg(f, now, from)) || (t && *t && sn_time_arg(t, now, to)) ||
	    *to <= *from) {
		http_reply_error(r, 400, "bad_request", "from and to: RFC 3339, unix ms, now or -1h,"
				 " with from < to");
		return -EINVAL;
	}
	return 0;
}

/* -EPERM when u may create no more detectors. */
static int det_quota(store_conn *c, const auth_user *u)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT COUNT(*), SUM(CASE WHEN owner_id = $1 THEN 1 ELSE 0 END)"
			     " FROM detectors", &rows, SARGS(SA_TEXT(u->id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = store_rows_int(rows, 0) >= DET_MAX || store_rows_int(rows, 1) >= DET_PER_USER
			? -EPERM : 0;
	store_rows_free(&rows);
	return rc;
}

/* POST /api/v1/detectors */
static void h_create(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const auth_user *u = auth_caller(r);
	const char *spec = NULL, *agent = NULL, *step = "1m";
	char name[MD_NAME_MAX + 1], err[300];
	int64_t ver = 0;
	det d = { 0 };
	md_item it;
	md_version v = { 0 };
	store_conn *c = NULL;
	json_t *j = NULL;
	int rc;
	if (http_body_str(r, "model", 1, MD_NAME_MAX + 24, &spec) ||
	    http_body_str(r, "agent", 1, MX_NAME_MAX, &agent) ||
	    http_body_str(r, "step", 0, 32, &step))
		return;
	if (md_spec_parse(spec, name, &ver) || !mx_name_ok(agent) ||
	    sn_parse_duration_ms(step, &d.step_ms) || d.step_ms < DET_STEP_MIN_MS ||
	    d.step_ms > DET_STEP_MAX_MS || d.step_ms % 1000) {
		http_reply_error(r, 400, "bad_request", "model is \"M@v\", agent an agent name, step"
				 " whole seconds from 1s to 1d");
		return;
	}
	if (parse_features(json_object_get(http_req_json(r), "features"), &d, err, sizeof err)) {
		http_reply_error(r, 400, "bad_request", "%s", err);
		goto out;
	}
	rc = store_acquire(a->st, &c);
	if (rc == 0 && (rc = md_item_get(c, name, u, &it)) == 0)
		rc = md_version_get(c, it.id, ver, &v);
	if (rc) {
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model or version" : "cannot read the model");
		goto out;
	}
	if (!a->mx || !mx_api_may_read(a->mx, u, agent)) {
		http_reply_error(r, 404, "not_found", "no such agent");
		goto out;
	}
	if (v.dim != d.nf) {
		http_reply_error(r, 422, "invalid", "the model takes %" PRId64 " features, not %d",
				 v.dim, d.nf);
		goto out;
	}
	if ((rc = det_quota(c, u)) == -EPERM) {
		http_reply_error(r, 422, "refused", "at most %d detectors per member and %d in all",
				 DET_PER_USER, DET_MAX);
		goto out;
	} else if (rc) {
		md_reply_rc(r, rc, "cannot count the detectors");
		goto out;
	}
	char *id = sn_id_new("det_"), *feat = json_dumps(json_object_get(http_req_json(r),
									 "features"), JSON_COMPACT);
	sn_strlcpy(d.id, id, sizeof d.id);
	sn_strlcpy(d.owner, u->id, sizeof d.owner);
	sn_strlcpy(d.item_id, it.id, sizeof d.item_id);
	sn_strlcpy(d.model, name, sizeof d.model);
	sn_strlcpy(d.agent, agent, sizeof d.agent);
	d.version = v.number;
	d.features = feat;
	d.created_at = sn_now_ms();
	d.last_ts = INT64_MIN;
	free(id);
	rc = store_exec(c, "INSERT INTO detectors (id, owner_id, model_item_id, model_name, version,"
			" agent, features, step_ms, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
			NULL, SARGS(SA_TEXT(d.id), SA_TEXT(d.owner), SA_TEXT(d.item_id),
				    SA_TEXT(d.model), SA_INT(d.version), SA_TEXT(d.agent),
				    SA_TEXT(feat), SA_INT(d.step_ms), SA_INT(d.created_at)));
	if (rc) {
		md_reply_rc(r, rc, "cannot create the detector");
		goto out;
	}
	http_req_set_target(r, d.id);
	j = det_json(&d);
	if (j)
		http_reply_json(r, 201, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
out:
	store_release(&c);
	md_version_release(&v);
	det_release(&d);
}

/* GET /api/v1/detectors: the caller's (admins: all), by id. */
static void h_list(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const auth_user *u = auth_caller(r);
	const char *cursor = NULL;
	int limit, n = 0;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array();
	char last[48] = "";
	if (http_page(r, &limit, &cursor)) {
		json_decref(items);
		return;
	}
	int rc = items ? store_acquire(a->st, &c) : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, "SELECT " DET_COLS " FROM detectors WHERE id > $1 AND ($2 = 1 OR"
				 " owner_id = $3) ORDER BY id LIMIT $4", &rows,
				 SARGS(SA_TEXT(cursor ? cursor : ""), SA_INT(u->role >= ROLE_ADMIN),
				       SA_TEXT(u->id), SA_INT(limit + 1)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		det d;
		rc = 0;
		if (n++ == limit) {
			rc = 1;
			break;
		}
		if (det_of_row(rows, &d) == 0) {
			if (json_array_append_new(items, det_json(&d)))
				rc = -ENOMEM;
			sn_strlcpy(last, d.id, sizeof last);
		}
		det_release(&d);
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		json_decref(items);
		md_reply_rc(r, rc, "cannot list the detectors");
		return;
	}
	http_reply_list(r, items, rc == 1 ? last : NULL);
}

/* GET and DELETE /api/v1/detectors/{id} */
static void h_get(http_req *r, void *ctx)
{
	model_api *a = ctx;
	store_conn *c = NULL;
	det d = { 0 };
	int del = strcmp(http_req_method(r), "DELETE") == 0;
	if (del)
		http_req_set_target(r, http_req_param(r, "id"));
	int rc = store_acquire(a->st, &c);
	if (rc == 0 && del)
		rc = store_begin(c);
	if (rc == 0)
		rc = det_get(c, http_req_param(r, "id"), auth_caller(r), &d);
	if (rc == 0 && del)
		rc = store_exec(c, "DELETE FROM anomalies WHERE detector_id = $1", NULL,
				SARGS(SA_TEXT(d.id)));
	if (rc == 0 && del)
		rc = store_exec(c, "DELETE FROM detectors WHERE id = $1", NULL, SARGS(SA_TEXT(d.id)));
	if (rc == 0 && del)
		rc = store_commit(c);
	store_release(&c);
	if (rc)
		md_reply_rc(r, rc, rc == -ENOENT ? "no such detector" : "cannot read the detector");
	else if (del)
		http_reply_json(r, 200, json_pack("{s:s}", "deleted", d.id));
	else
		http_reply_json(r, 200, det_json(&d));
	det_release(&d);
}

/* POST /api/v1/detectors/{id}/replay?from&to */
static void h_replay(http_req *r, void *ctx)
{
	model_api *a = ctx;
	store_conn *c = NULL;
	det d = { 0 };
	det_counts n;
	int64_t from, to;
	if (range_args(r, &from, &to))
		return;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = det_get(c, http_req_param(r, "id"), auth_caller(r), &d);
	store_release(&c);
	if (rc) {
		md_reply_rc(r, rc, rc == -ENOENT ? "no such detector" : "cannot read the detector");
		return;
	}
	from = from / d.step_ms * d.step_ms;
	int64_t nb = (to - from + d.step_ms - 1) / d.step_ms;
	if (nb > MX_QUERY_MAX_BUCKETS) {
		http_reply_error(r, 400, "bad_request", "at most %d steps per replay",
				 MX_QUERY_MAX_BUCKETS);
	} else if ((rc = det_score_range(a, &d, from, (size_t)nb, &n))) {
		http_reply_errno(r, rc == -EBADMSG ? -EPERM : rc, rc == -EBADMSG
				 ? "the model no longer matches the detector's features" : NULL);
	} else {
		http_reply_json(r, 200, json_pack("{s:s,s:o,s:o,s:I,s:I,s:I}", "detector", d.id,
						  "from", http_json_time(from), "to",
						  http_json_time(from + nb * d.step_ms), "buckets",
						  (json_int_t)n.buckets, "scored", (json_int_t)n.scored,
						  "anomalies", (json_int_t)n.anomalies));
	}
	det_release(&d);
}

/* GET /api/v1/detectors/{id}/anomalies?from&to (default: the last hour),
 * in time order, at most ANOMALIES_MAX. */
static void h_anomalies(http_req *r, void *ctx)
{
	model_api *a = ctx;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	det d = { 0 };
	int64_t from, to;
	json_t *items = json_array();
	if (range_args(r, &from, &to)) {
		json_decref(items);
		return;
	}
	int rc = items ? store_acquire(a->st, &c) : -ENOMEM;
	if (rc == 0)
		rc = det_get(c, http_req_param(r, "id"), auth_caller(r), &d);
	if (rc == 0)
		rc = store_query(c, "SELECT ts, score, threshold FROM anomalies WHERE detector_id = $1"
				 " AND ts >= $2 AND ts < $3 ORDER BY ts LIMIT $4", &rows,
				 SARGS(SA_TEXT(d.id), SA_INT(from), SA_INT(to),
				       SA_INT(ANOMALIES_MAX)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		json_t *e = json_pack("{s:I,s:o,s:f,s:f}", "ts", (json_int_t)store_rows_int(rows, 0),
				      "time", http_json_time(store_rows_int(rows, 0)), "score",
				      store_rows_double(rows, 1), "threshold", store_rows_double(rows, 2));
		rc = !e || json_array_append_new(items, e) ? -ENOMEM : 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	det_release(&d);
	if (rc) {
		json_decref(items);
		md_reply_rc(r, rc, rc == -ENOENT ? "no such detector" : "cannot read the anomalies");
		return;
	}
	http_reply_list(r, items, NULL);
}

size_t md_det_routes(model_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/detectors", h_create, 0, ROLE_MEMBER, "detector.create", 0, a },
		{ "GET", "/api/v1/detectors", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/detectors/{id}", h_get, 0, ROLE_MEMBER, NULL, 0, a },
		{ "DELETE", "/api/v1/detectors/{id}", h_get, 0, ROLE_MEMBER, "detector.delete", 0, a },
		{ "POST", "/api/v1/detectors/{id}/replay", h_replay, 0, ROLE_MEMBER, "detector.replay",
		  0, a },
		{ "GET", "/api/v1/detectors/{id}/anomalies", h_anomalies, 0, ROLE_MEMBER, NULL, 0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
