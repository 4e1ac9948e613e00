/* Training as a job. On the node: model_train_run, the fit and save of
 * `sentinel train` with options from the job's config. On the server: a
 * thread that follows the hub's topic "job" and, for each finished job of
 * program "train", registers its artifacts model.onnx and config.json as a
 * new version of the config's model, owned by (and checked against) the
 * job's owner; GET /api/v1/trainings/{job} tells how that went.
 *
 * Invariants:
 *  1. Each finished training job gets exactly one model_trains row:
 *     "registered" (with the version, written in the version's own
 *     transaction) or "failed" (with why). A job without a row is looked
 *     at again (at start, when the hub dropped events, and every minute),
 *     so no completion is missed when the hub's ring overflows; one the
 *     hub announced finished before the scheduler's writer committed that
 *     (the event goes out first) every RETRY_MS for a minute.
 *  2. The artifacts are loaded by ml_model_load_files, as a push is,
 *     before anything is recorded. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml_trainer.h"
#include "model/model_int.h"
#include "model/model_train.h"

#define SCAN_MS 60000
#define SCAN_BATCH 100
#define RETRY_MS 200   /* a finished job the store does not show finished yet */
#define RETRY_FOR_MS 60000 /* ... looked at that long, then left to the scan */
#define RETRY_MAX 32

/* ---- options, as `sentinel train` takes them ---- */

/* "a,b" or ["a","b"] into a comma list (caller frees), NULL when absent. */
static int get_columns(const json_t *p, char **out, char *err, size_t errlen)
{
	const json_t *c = json_object_get(p, "columns"), *x;
	size_t i;
	*out = NULL;
	if (!c || json_is_null(c))
		return 0;
	if (json_is_string(c)) {
		*out = xstrdup(json_string_value(c));
		return 0;
	}
	if (!json_is_array(c) || !json_array_size(c))
		goto bad;
	json_array_foreach(c, i, x) {
		const char *s = json_string_value(x);
		if (!s || !*s || strchr(s, ','))
			goto bad;
		char *n = xasprintf("%s%s%s", *out ? *out : "", *out ? "," : "", s);
		free(*out);
		*out = n;
	}
	return 0;
bad:
	free(*out);
	*out = NULL;
	snprintf(err, errlen, "columns: a list of column names (no commas) or \"a,b\"");
	return -EINVAL;
}

static int get_hidden(const json_t *p, int **out, int *n, char *err, size_t errlen)
{
	const json_t *h = json_object_get(p, "hidden"), *x;
	size_t i;
	*out = NULL;
	*n = 0;
	if (!h || json_is_string(h)) {
		if (ml_widths_parse(h ? json_string_value(h) : "16,8,16", out, n) == 0)
			return 0;
	} else if (json_is_array(h)) {
		json_array_foreach(h, i, x) {
			json_int_t w = json_integer_value(x);
			if (!json_is_integer(x) || w < 1 || w > ML_MAX_WIDTH || *n >= ML_MAX_LAYERS - 1)
				goto bad;
			*out = xrealloc(*out, (size_t)(*n + 1) * sizeof(int));
			(*out)[(*n)++] = (int)w;
		}
		if (*n)
			return 0;
	}
bad:
	free(*out);
	*out = NULL;
	snprintf(err, errlen, "hidden: a list of 1 to %d widths, each 1..%d", ML_MAX_LAYERS - 1,
		 ML_MAX_WIDTH);
	return -EINVAL;
}

/* The fit options of params, by the names, ranges and defaults of
 * ml_trainer.h (those of `sentinel train`); *hidden is the caller's to
 * free. */
static int get_opts(const json_t *p, ml_fit_opts *o, int **hidden, char *err, size_t errlen)
{
	const char *act = json_string_value(json_object_get(p, "activation")), *name;
	int rc;
	ml_fit_opts_default(o);
	if ((rc = get_hidden(p, hidden, &o->nhidden, err, errlen)))
		return rc;
	o->hidden = *hidden;
	if (json_object_get(p, "activation") && !act) {
		snprintf(err, errlen, "activation: must be a string");
		return -EINVAL;
	}
	if (act && ml_act_parse(act, &o->act)) {
		snprintf(err, errlen, "activation: unknown activation '%s'", act);
		return -EINVAL;
	}
	for (size_t i = 0; (name = ml_fit_opt_name(i)); i++) {
		const json_t *x = json_object_get(p, name);
		if (!x)
			continue;
		if (!json_is_number(x)) {
			snprintf(err, errlen, "%s: must be a number", name);
			return -EINVAL;
		}
		if ((rc = ml_fit_opt_set(o, name, json_number_value(x), err, errlen)))
			return rc;
	}
	return 0;
}

int model_train_run(const json_t *params, const char *csv_path, const char *out_dir,
		    json_t **summary, char *err, size_t errlen)
{
	int *hidden = NULL, rc;
	char *data = NULL, *cols = NULL;
	size_t len = 0;
	ml_table t = { 0 };
	ml_config conf = { 0 };
	ml_mlp m = { 0 };
	ml_fit_opts o = { 0 };
	if (summary)
		*summary = NULL;
	if (!json_is_object(params)) {
		snprintf(err, errlen, "the job's config must be an object of training options");
		return -EINVAL;
	}
	if ((rc = get_opts(params, &o, &hidden, err, errlen)) ||
	    (rc = get_columns(params, &cols, err, errlen)))
		goto out;
	if ((rc = sn_read_file(csv_path, MODEL_TRAIN_DATA_MAX, &data, &len))) {
		snprintf(err, errlen, "the dataset: %s", rc == -E2BIG ? "larger than 1 GiB"
			 : strerror(-rc));
		goto out;
	}
	if ((rc = ml_csv_read(data, len, cols, &t, err, errlen)) ||
	    (rc = ml_fit(&t, &o, &conf, &m, err, errlen)) ||
	    (rc = ml_save(out_dir, &m, &conf, err, errlen)))
		goto out;
	if (summary)
		*summary = json_pack("{s:I,s:i,s:i,s:f,s:f,s:f}", "rows", (json_int_t)t.nrows,
				     "features", t.ncols, "epochs", conf.epochs, "train_loss",
				     isfinite(conf.train_loss) ? conf.train_loss : -1.0, "val_loss",
				     isfinite(conf.val_loss) ? conf.val_loss : -1.0, "threshold",
				     conf.threshold);
out:
	ml_mlp_release(&m);
	ml_config_release(&conf);
	ml_table_release(&t);
	free(data);
	free(cols);
	free(hidden);
	return rc;
}

/* ---- the server: registering finished jobs ---- */

struct job_facts {
	char owner[48];
	char state[16];
	char config[65];
	int is_train;
	char model[MD_NAME_MAX + 1];
	char onnx[65], cfg[65];
	int64_t onnx_bytes, cfg_bytes;
};

static int record_failed(model_api *a, const char *job, const char *owner, const char *model,
			 const char *why)
{
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO model_trains (job_id, owner_id, model, state, error,"
				" created_at) VALUES ($1, $2, $3, 'failed', $4, $5) ON CONFLICT DO"
				" NOTHING", NULL, SARGS(SA_TEXT(job), SA_TEXT(owner),
							SA_TEXT(model && *model ? model : NULL),
							SA_TEXT(why), SA_INT(sn_now_ms())));
	store_release(&c);
	log_msg(LOG_INFO, "models: training job %s not registered: %s", job, why);
	return rc;
}

/* The job row, its program and config; f->is_train 0 for other jobs. */
static int job_read(store_conn *c, const char *job, struct job_facts *f)
{
	store_rows *rows = NULL;
	json_t *tmpl = NULL, *cfg = NULL;
	int rc = store_query(c, "SELECT owner_id, state, tmpl, config_sha256 FROM jobs WHERE id = $1"
			     " AND NOT EXISTS (SELECT 1 FROM model_trains t WHERE t.job_id = $1)",
			     &rows, SARGS(SA_TEXT(job)));
	memset(f, 0, sizeof *f);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(f->owner, store_rows_text(rows, 0), sizeof f->owner);
		sn_strlcpy(f->state, store_rows_text(rows, 1), sizeof f->state);
		tmpl = json_loads(store_rows_text(rows, 2), 0, NULL);
		sn_strlcpy(f->config, store_rows_text(rows, 3), sizeof f->config);
		rc = 0;
	}
	store_rows_free(&rows);
	const char *prog = json_string_value(json_object_get(tmpl, "program"));
	f->is_train = prog && strcmp(prog, "train") == 0;
	json_decref(tmpl);
	if (rc || !f->is_train || !f->config[0])
		return rc;
	if ((rc = store_query(c, "SELECT body FROM configs WHERE sha256 = $1", &rows,
			      SARGS(SA_TEXT(f->config)))) == 0 && (rc = store_rows_next(rows)) == 1) {
		cfg = json_loads(store_rows_text(rows, 0), 0, NULL);
		rc = 0;
	}
	store_rows_free(&rows);
	const char *model = json_string_value(json_object_get(cfg, "model"));
	if (model && md_name_valid(model))
		sn_strlcpy(f->model, model, sizeof f->model);
	json_decref(cfg);
	return rc < 0 ? rc : 0;
}

static int artifacts_read(store_conn *c, const char *job, struct job_facts *f)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT path, sha256, bytes FROM artifacts WHERE job_id = $1"
			     " ORDER BY idx", &rows, SARGS(SA_TEXT(job)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		const char *p = store_rows_text(rows, 0);
		rc = 0;
		if (strcmp(p, ML_MODEL_FILE) == 0) {
			sn_strlcpy(f->onnx, store_rows_text(rows, 1), sizeof f->onnx);
			f->onnx_bytes = store_rows_int(rows, 2);
		} else if (strcmp(p, ML_CONFIG_FILE) == 0) {
			sn_strlcpy(f->cfg, store_rows_text(rows, 1), sizeof f->cfg);
			f->cfg_bytes = store_rows_int(rows, 2);
		}
	}
	store_rows_free(&rows);
	return rc;
}

/* Registers job's model if it is a finished training job not seen yet;
 * 1 when it is a training job the store does not show finished yet. */
static int train_handle(model_api *a, const char *job)
{
	struct job_facts f;
	store_conn *c = NULL;
	auth_user u;
	ml_model *m = NULL;
	md_version v = { 0 };
	char err[512];
	int dedup, rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = job_read(c, job, &f);
	if (rc == 0 && f.is_train && strcmp(f.state, "completed") == 0)
		rc = artifacts_read(c, job, &f);
	int user_rc = rc == 0 && f.is_train ? md_user_get(c, f.owner, &u) : 0;
	store_release(&c);
	if (rc || !f.is_train)
		return rc;
	/* The hub may announce a state before the scheduler's commit of it. */
	if (strcmp(f.state, "completed") && strcmp(f.state, "failed"))
		return 1;
	if (!f.model[0])
		return record_failed(a, job, f.owner, NULL, "the job's config names no valid 'model'");
	if (strcmp(f.state, "failed") == 0)
		return record_failed(a, job, f.owner, f.model, "the training job failed (its logs"
				     " and chunks tell why)");
	if (user_rc)
		return record_failed(a, job, f.owner, f.model, "the job's owner is gone or disabled");
	if (!f.onnx[0] || !f.cfg[0])
		return record_failed(a, job, f.owner, f.model, "the job left no model.onnx and"
				     " config.json");
	if (md_load_blobs(a->bs, f.onnx, f.cfg, &m, err, sizeof err))
		return record_failed(a, job, f.owner, f.model, err);
	md_newver nv = { f.onnx, f.cfg, (uint64_t)f.onnx_bytes, (uint64_t)f.cfg_bytes, m, job };
	rc = md_version_add(a, f.model, &u, &nv, &v, &dedup);
	ml_model_free(&m);
	if (rc == -EACCES || rc == -ENOENT)
		return record_failed(a, job, f.owner, f.model, "the job's owner may not push to"
				     " this model");
	if (rc == 0)
		log_msg(LOG_INFO, "models: job %s registered as %s@%lld", job, f.model,
			(long long)v.number);
	md_version_release(&v);
	return rc;
}

/* Finished training jobs without a record (invariant 1). */
static void train_scan(model_api *a)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char (*ids)[48] = xcalloc(SCAN_BATCH, sizeof *ids);
	size_t n = 0;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id FROM jobs j WHERE state IN ('completed', 'failed') AND"
				 " tmpl LIKE '%\"program\":\"train\"%' AND NOT EXISTS (SELECT 1 FROM"
				 " model_trains t WHERE t.job_id = j.id) ORDER BY created_at LIMIT $1",
				 &rows, SARGS(SA_INT(SCAN_BATCH)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(ids[n++], store_rows_text(rows, 0), sizeof ids[0]);
		rc = 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	for (size_t i = 0; i < n; i++)
		if ((rc = train_handle(a, ids[i])) < 0)
			log_msg(LOG_WARN, "models: job %s: %s", ids[i], strerror(rc < -1000 ? EIO : -rc));
	free(ids);
}

static int quitting(model_api *a)
{
	pthread_mutex_lock(&a->mu);
	int q = a->quit;
	pthread_mutex_unlock(&a->mu);
	return q;
}

/* Jobs announced finished before the scheduler's commit showed them so
 * (train_handle answered 1, or the store failed): each is looked at again
 * every RETRY_MS, not left to the next minute's scan. A fixed array: when
 * it is full, the scan is brought forward instead. */
struct retry_list {
	char id[RETRY_MAX][48];
	int64_t until[RETRY_MAX];
	size_t n;
};

static void retry_add(struct retry_list *l, const char *id, int64_t *next_scan)
{
	int64_t now = sn_now_ms();
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->id[i], id) == 0)
			return;
	if (l->n == RETRY_MAX || strlen(id) >= sizeof l->id[0]) {
		if (*next_scan > now + RETRY_MS)
			*next_scan = now + RETRY_MS;
		return;
	}
	sn_strlcpy(l->id[l->n], id, sizeof l->id[0]);
	l->until[l->n++] = now + RETRY_FOR_MS;
}

static void retry_run(model_api *a, struct retry_list *l)
{
	for (size_t i = 0; i < l->n;) {
		int rc = train_handle(a, l->id[i]);
		if (rc && sn_now_ms() < l->until[i]) {
			i++;
			continue;
		}
		if (rc < 0)
			log_msg(LOG_WARN, "models: job %s: %s", l->id[i],
				strerror(rc < -1000 ? EIO : -rc));
		l->n--;
		memmove(l->id[i], l->id[l->n], sizeof l->id[0]);
		l->until[i] = l->until[l->n];
	}
}

static void *train_main(void *arg)
{
	model_api *a = arg;
	uint64_t cursor = hub_last_id(a->events);
	int64_t next_scan = 0, next_retry = 0;
	struct retry_list *retry = xcalloc(1, sizeof *retry);
	while (!quitting(a)) {
		char *topic = NULL, *data = NULL;
		if (sn_now_ms() >= next_scan) {
			train_scan(a);
			next_scan = sn_now_ms() + SCAN_MS;
		}
		if (retry->n && sn_now_ms() >= next_retry) {
			retry_run(a, retry);
			next_retry = sn_now_ms() + RETRY_MS;
		}
		int rc = hub_next_for(a->events, NULL, "job", &cursor, retry->n ? RETRY_MS : 500,
				      &topic, &data);
		if (rc == -ESTALE) {
			next_scan = 0;
		} else if (rc == -EPIPE) {
			break;
		} else if (rc == 0 && strcmp(topic, "job") == 0) {
			json_t *e = json_loads(data, 0, NULL);
			const char *id = json_string_value(json_object_get(e, "id"));
			const char *st = json_string_value(json_object_get(e, "state"));
			if (id && st && (!strcmp(st, "completed") || !strcmp(st, "failed")))
				rc = train_handle(a, id);
			if (rc && id) {
				if (!retry->n)
					next_retry = sn_now_ms() + RETRY_MS;
				retry_add(retry, id, &next_scan);
			}
			json_decref(e);
		}
		free(topic);
		free(data);
	}
	free(retry);
	return NULL;
}

int md_train_start(model_api *a)
{
	if (!a->events)
		return 0;
	if (pthread_create(&a->train_th, NULL, train_main, a))
		return -EAGAIN;
	a->train_started = 1;
	return 0;
}

void md_train_stop(model_api *a)
{
	pthread_mutex_lock(&a->mu);
	a->quit = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->train_started)
		pthread_join(a->train_th, NULL);
	a->train_started = 0;
}

/* GET /api/v1/trainings/{job}: the job's registration, to its owner and
 * admins; "pending" while the job is not finished or not looked at yet. */
static void h_training(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const auth_user *u = auth_caller(r);
	const char *job = http_req_param(r, "job");
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *j = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT t.owner_id, t.model, t.state, t.version, t.error,"
				 " t.created_at FROM model_trains t WHERE t.job_id = $1", &rows,
				 SARGS(SA_TEXT(job)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (u->role < ROLE_ADMIN && strcmp(store_rows_text(rows, 0), u->id) != 0)
			rc = -ENOENT;
		else
			j = json_pack("{s:s,s:o,s:s,s:o,s:o,s:o}", "job", job, "model",
				      store_rows_isnull(rows, 1) ? json_null()
				      : json_string(store_rows_text(rows, 1)), "state",
				      store_rows_text(rows, 2), "version", store_rows_isnull(rows, 3)
				      ? json_null() : json_integer(store_rows_int(rows, 3)), "error",
				      store_rows_isnull(rows, 4) ? json_null()
				      : json_string(store_rows_text(rows, 4)), "finished_at",
				      http_json_time(store_rows_int(rows, 5)));
	} else if (rc == 0) {
		struct job_facts f;
		store_rows_free(&rows);
		rc = job_read(c, job, &f);
		if (rc == 0 && (!f.is_train || (u->role < ROLE_ADMIN && strcmp(f.owner, u->id))))
			rc = -ENOENT;
		if (rc == 0)
			j = json_pack("{s:s,s:o,s:s,s:n,s:n,s:n}", "job", job, "model", f.model[0]
				      ? json_string(f.model) : json_null(), "state", "pending",
				      "version", "error", "finished_at");
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc)
		md_reply_rc(r, rc, rc == -ENOENT ? "no such training job" : "cannot read it");
	else if (!j)
		http_reply_errno(r, -ENOMEM, NULL);
	else
		http_reply_json(r, 200, j);
}

size_t md_train_routes(model_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/trainings/{job}", h_training, 0, ROLE_MEMBER, NULL, 0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
