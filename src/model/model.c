/* The model registry: models (items with owner, public flag and group
 * shares, as datasets), their versions (model.onnx and config.json as two
 * blobs, checked by ml_model_load_files before anything is recorded), the
 * routes that read or change them, and the api's setup.
 *
 * Invariants:
 *  1. A version row exists only for files the loader accepted, and holds
 *     both blob references ("model", item id) in its transaction.
 *  2. Version numbers of a model are 1, 2, … in push order; a deleted
 *     number is never given again while a later one exists.
 *  3. A blob reference is removed with the last version of the item that
 *     names that blob. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "auth/share.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "dataset/ds_tar.h"
#include "model/model_int.h"

static const store_migration migs[] = {
	{ 1,
	  "CREATE TABLE model_items (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	  " owner_id TEXT NOT NULL, public BIGINT NOT NULL DEFAULT 0,"
	  " created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);"
	  "CREATE TABLE model_shares (item_id TEXT NOT NULL, group_id TEXT NOT NULL,"
	  " access TEXT NOT NULL, PRIMARY KEY (item_id, group_id));"
	  "CREATE TABLE model_versions (item_id TEXT NOT NULL, number BIGINT NOT NULL,"
	  " onnx_sha256 TEXT NOT NULL, config_sha256 TEXT NOT NULL,"
	  " onnx_bytes BIGINT NOT NULL, config_bytes BIGINT NOT NULL, dim BIGINT NOT NULL,"
	  " threshold DOUBLE PRECISION NOT NULL, features TEXT NOT NULL, kind TEXT NOT NULL,"
	  " uploader_id TEXT, job_id TEXT, created_at BIGINT NOT NULL,"
	  " PRIMARY KEY (item_id, number));"
	  /* A training job seen finished: registered (version), or failed (error). */
	  "CREATE TABLE model_trains (job_id TEXT PRIMARY KEY, owner_id TEXT NOT NULL,"
	  " model TEXT, state TEXT NOT NULL, version BIGINT, error TEXT,"
	  " created_at BIGINT NOT NULL);"
	  "CREATE TABLE detectors (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL,"
	  " model_item_id TEXT NOT NULL, model_name TEXT NOT NULL, version BIGINT NOT NULL,"
	  " agent TEXT NOT NULL, features TEXT NOT NULL, step_ms BIGINT NOT NULL,"
	  " last_ts BIGINT, created_at BIGINT NOT NULL);"
	  "CREATE TABLE anomalies (detector_id TEXT NOT NULL, ts BIGINT NOT NULL,"
	  " score DOUBLE PRECISION NOT NULL, threshold DOUBLE PRECISION NOT NULL,"
	  " PRIMARY KEY (detector_id, ts));",
	  NULL, NULL },
};
const store_domain model_store_domain = { "model", migs, 1, 0 };

static const share_table md_shares = { "model_shares", "item_id", "model_items" };

/* ---- small parts ---- */

int md_name_valid(const char *s)
{
	return ds_name_valid(s);
}

int md_spec_parse(const char *spec, char name[MD_NAME_MAX + 1], int64_t *version)
{
	const char *at = spec ? strchr(spec, '@') : NULL;
	size_t n = at ? (size_t)(at - spec) : spec ? strlen(spec) : 0;
	*version = 0;
	if (!spec || n == 0 || n > MD_NAME_MAX)
		return -EINVAL;
	memcpy(name, spec, n);
	name[n] = '\0';
	if (!md_name_valid(name))
		return -EINVAL;
	if (at && strcmp(at + 1, "latest") != 0 && sn_parse_number(at + 1, version))
		return -EINVAL;
	return 0;
}

void md_reply_rc(http_req *r, int rc, const char *what)
{
	if (rc == STORE_EBUSY)
		rc = -ETIMEDOUT;
	else if (rc == STORE_ECONSTRAINT)
		rc = -EEXIST;
	else if (rc < -1000)
		rc = -EIO;
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "%s", what);
	else if (rc == -EACCES)
		http_reply_error(r, 403, "forbidden", "%s", what);
	else
		http_reply_errno(r, rc, "%s", what);
}

int md_user_get(store_conn *c, const char *user_id, auth_user *out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT username, role FROM users WHERE id = $1 AND disabled = 0",
			     &rows, SARGS(SA_TEXT(user_id)));
	memset(out, 0, sizeof *out);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		enum auth_role role = ROLE_MEMBER;
		sn_strlcpy(out->id, user_id, sizeof out->id);
		sn_strlcpy(out->username, store_rows_text(rows, 0), sizeof out->username);
		auth_role_parse(store_rows_text(rows, 1), &role);
		out->role = role;
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

/* ---- access ---- */

int md_item_get(store_conn *c, const char *name, const auth_user *u, md_item *out)
{
	store_rows *rows = NULL;
	if (!md_name_valid(name))
		return -ENOENT;
	int rc = store_query(c, "SELECT id, owner_id, public FROM model_items WHERE name = $1",
			     &rows, SARGS(SA_TEXT(name)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		memset(out, 0, sizeof *out);
		sn_strlcpy(out->id, store_rows_text(rows, 0), sizeof out->id);
		sn_strlcpy(out->owner_id, store_rows_text(rows, 1), sizeof out->owner_id);
		sn_strlcpy(out->name, name, sizeof out->name);
		out->public_ = (int)store_rows_int(rows, 2);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	if (rc == 0 && (rc = share_store_access(c, &md_shares, out->id, out->owner_id, out->public_,
						u, &out->access)) == 0 && out->access == SHARE_NONE)
		rc = -ENOENT;
	return rc;
}

/* The blob API's hook: ref is a model's id. */
static int item_may_read(void *ctx, store_conn *c, const char *ref, const auth_user *u)
{
	(void)ctx;
	return share_store_may_read(c, &md_shares, ref, u);
}

/* ---- versions ---- */

void md_version_release(md_version *v)
{
	free(v->features);
	free(v->uploader);
	free(v->job_id);
	memset(v, 0, sizeof *v);
}

int md_version_get(store_conn *c, const char *item_id, int64_t number, md_version *out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT v.number, v.onnx_sha256, v.config_sha256, v.onnx_bytes,"
			     " v.config_bytes, v.dim, v.threshold, v.features, v.kind, u.username,"
			     " v.job_id, v.created_at FROM model_versions v LEFT JOIN users u"
			     " ON u.id = v.uploader_id WHERE v.item_id = $1 AND (v.number = $2 OR"
			     " ($2 = 0 AND v.number = (SELECT MAX(number) FROM model_versions"
			     " WHERE item_id = $1)))", &rows, SARGS(SA_TEXT(item_id), SA_INT(number)));
	memset(out, 0, sizeof *out);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		out->number = store_rows_int(rows, 0);
		sn_strlcpy(out->onnx_sha, store_rows_text(rows, 1), sizeof out->onnx_sha);
		sn_strlcpy(out->config_sha, store_rows_text(rows, 2), sizeof out->config_sha);
		out->onnx_bytes = store_rows_int(rows, 3);
		out->config_bytes = store_rows_int(rows, 4);
		out->dim = store_rows_int(rows, 5);
		out->threshold = store_rows_double(rows, 6);
		out->features = xstrdup(store_rows_text(rows, 7));
		sn_strlcpy(out->kind, store_rows_text(rows, 8), sizeof out->kind);
		out->uploader = store_rows_isnull(rows, 9) ? NULL : xstrdup(store_rows_text(rows, 9));
		out->job_id = store_rows_isnull(rows, 10) ? NULL : xstrdup(store_rows_text(rows, 10));
		out->created_at = store_rows_int(rows, 11);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *md_version_json(const char *name, const md_version *v)
{
	json_t *feat = json_loads(v->features ? v->features : "[]", 0, NULL);
	json_t *files = json_pack("[{s:s,s:s,s:I},{s:s,s:s,s:I}]", "path", ML_MODEL_FILE, "sha256",
				  v->onnx_sha, "bytes", (json_int_t)v->onnx_bytes, "path",
				  ML_CONFIG_FILE, "sha256", v->config_sha, "bytes",
				  (json_int_t)v->config_bytes);
	return json_pack("{s:s,s:I,s:I,s:f,s:o,s:s,s:o,s:o,s:o,s:o}", "model", name, "version",
			 (json_int_t)v->number, "dim", (json_int_t)v->dim, "threshold",
			 v->threshold, "features", feat ? feat : json_array(), "kind", v->kind,
			 "files", files ? files : json_array(), "uploader", str_or_null(v->uploader),
			 "job", str_or_null(v->job_id), "created_at", http_json_time(v->created_at));
}

/* Inserts the model name owned by u; nothing when another request
 * created it first. */
static int item_create(store_conn *c, const char *name, const auth_user *u)
{
	char *id = sn_id_new("md_");
	int64_t now = sn_now_ms();
	int rc = store_exec(c, "INSERT INTO model_items (id, name, owner_id, created_at, updated_at)"
			    " VALUES ($1, $2, $3, $4, $4) ON CONFLICT DO NOTHING", NULL,
			    SARGS(SA_TEXT(id), SA_TEXT(name), SA_TEXT(u->id), SA_INT(now)));
	free(id);
	return rc;
}

/* The features of m as a JSON array text (caller frees). */
static char *features_text(const ml_model *m)
{
	json_t *a = json_array();
	for (int i = 0; a && i < ml_model_dim(m); i++) {
		const char *f = ml_model_feature(m, i);
		if (json_array_append_new(a, f ? json_string(f) : json_null()))
			break;
	}
	char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	return s ? s : xstrdup("[]");
}

static int version_insert(model_api *a, store_conn *c, const md_item *it, const auth_user *u,
			  const md_newver *nv, int64_t number)
{
	char *feat = features_text(nv->m);
	int rc = store_exec(c, "INSERT INTO model_versions (item_id, number, onnx_sha256,"
			    " config_sha256, onnx_bytes, config_bytes, dim, threshold, features, kind,"
			    " uploader_id, job_id, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,"
			    "$11,$12,$13)", NULL,
			    SARGS(SA_TEXT(it->id), SA_INT(number), SA_TEXT(nv->onnx_sha),
				  SA_TEXT(nv->config_sha), SA_INT(nv->onnx_bytes),
				  SA_INT(nv->config_bytes), SA_INT(ml_model_dim(nv->m)),
				  SA_DBL(ml_model_threshold(nv->m)), SA_TEXT(feat),
				  SA_TEXT(ml_model_kind(nv->m)), SA_TEXT(u->id), SA_TEXT(nv->job_id),
				  SA_INT(sn_now_ms())));
	free(feat);
	if (rc == 0)
		rc = blob_ref_add(a->bs, c, nv->onnx_sha, "model", it->id);
	if (rc == 0)
		rc = blob_ref_add(a->bs, c, nv->config_sha, "model", it->id);
	if (rc == 0)
		rc = store_exec(c, "UPDATE model_items SET updated_at = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(it->id), SA_INT(sn_now_ms())));
	return rc;
}

/* The number of a version of item with the same files (0: none), and the
 * next free number. */
static int version_lookup(store_conn *c, const char *item_id, const md_newver *nv,
			  int64_t *same, int64_t *next)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT MIN(CASE WHEN onnx_sha256 = $2 AND config_sha256 = $3"
			     " THEN number END), MAX(number) FROM model_versions WHERE item_id = $1",
			     &rows, SARGS(SA_TEXT(item_id), SA_TEXT(nv->onnx_sha),
					  SA_TEXT(nv->config_sha)));
	*same = 0;
	*next = 1;
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		*same = store_rows_isnull(rows, 0) ? 0 : store_rows_int(rows, 0);
		*next = store_rows_isnull(rows, 1) ? 1 : store_rows_int(rows, 1) + 1;
		rc = 0;
	}
	store_rows_free(&rows);
	return rc;
}

int md_version_add(model_api *a, const char *name, const auth_user *u, const md_newver *nv,
		   md_version *out, int *dedup)
{
	store_conn *c = NULL;
	md_item it;
	int64_t same = 0, next = 1;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0 && (rc = md_item_get(c, name, u, &it)) == -ENOENT) {
		/* Missing, or not readable: creating succeeds only for the first. */
		if ((rc = item_create(c, name, u)) == 0)
			rc = md_item_get(c, name, u, &it);
	}
	if (rc == 0 && it.access < SHARE_WRITE)
		rc = -EACCES;
	if (rc == 0)
		rc = version_lookup(c, it.id, nv, &same, &next);
	*dedup = same > 0;
	if (rc == 0 && !same)
		rc = version_insert(a, c, &it, u, nv, next);
	if (rc == 0 && nv->job_id)
		rc = store_exec(c, "INSERT INTO model_trains (job_id, owner_id, model, state, version,"
				" created_at) VALUES ($1, $2, $3, 'registered', $4, $5)", NULL,
				SARGS(SA_TEXT(nv->job_id), SA_TEXT(u->id), SA_TEXT(name),
				      SA_INT(same ? same : next), SA_INT(sn_now_ms())));
	if (rc == 0)
		rc = md_version_get(c, it.id, same ? same : next, out);
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	return rc;
}

/* ---- loading ---- */

int md_load_blobs(blob_store *bs, const char *onnx_sha, const char *config_sha, ml_model **out,
		  char *err, size_t errlen)
{
	int fo = -1, fc = -1;
	uint64_t size;
	char po[40], pc[40];
	int rc = blob_open(bs, onnx_sha, &fo, &size);
	if (rc == 0)
		rc = blob_open(bs, config_sha, &fc, &size);
	if (rc) {
		snprintf(err, errlen, "cannot open the model's files: %s", strerror(-rc));
		goto out;
	}
	/* The loader reads paths; a blob's own path is the store's business,
	 * so it reads the descriptors we hold. */
	snprintf(po, sizeof po, "/proc/self/fd/%d", fo);
	snprintf(pc, sizeof pc, "/proc/self/fd/%d", fc);
	rc = ml_model_load_files(po, pc, 0, out, err, errlen);
out:
	if (fo >= 0)
		close(fo);
	if (fc >= 0)
		close(fc);
	return rc;
}

int md_cache_get(model_api *a, const char *item_id, const md_version *v, ml_model **out,
		 char *err, size_t errlen)
{
	struct md_cached *e, *victim = NULL;
	ml_model *m = NULL;
	pthread_mutex_lock(&a->cache_mu);
	for (int i = 0; i < MD_CACHE; i++) {
		e = &a->cache[i];
		if (e->m && e->version == v->number && strcmp(e->item_id, item_id) == 0) {
			e->used = ++a->tick;
			*out = ml_model_ref(e->m);
			pthread_mutex_unlock(&a->cache_mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&a->cache_mu);
	/* Loaded outside the lock: two first requests may both load; the
	 * second to finish replaces nothing (the slot check below). */
	int rc = md_load_blobs(a->bs, v->onnx_sha, v->config_sha, &m, err, errlen);
	if (rc)
		return rc;
	pthread_mutex_lock(&a->cache_mu);
	for (int i = 0; i < MD_CACHE; i++) {
		e = &a->cache[i];
		if (e->m && e->version == v->number && strcmp(e->item_id, item_id) == 0) {
			victim = NULL;
			break;
		}
		if (!victim || !e->m || (victim->m && e->used < victim->used))
			victim = e;
	}
	if (victim) {
		ml_model_free(&victim->m);
		sn_strlcpy(victim->item_id, item_id, sizeof victim->item_id);
		victim->version = v->number;
		victim->m = ml_model_ref(m);
		victim->used = ++a->tick;
	}
	pthread_mutex_unlock(&a->cache_mu);
	*out = m;
	return 0;
}

void md_cache_drop(model_api *a, const char *item_id, int64_t version)
{
	pthread_mutex_lock(&a->cache_mu);
	for (int i = 0; i < MD_CACHE; i++) {
		struct md_cached *e = &a->cache[i];
		if (e->m && strcmp(e->item_id, item_id) == 0 && (!version || e->version == version))
			ml_model_free(&e->m);
	}
	pthread_mutex_unlock(&a->cache_mu);
}

int md_resolve(model_api *a, http_req *r, const char *vstr, md_item *it, md_version *v)
{
	store_conn *c = NULL;
	int64_t num = 0;
	int rc = vstr && strcmp(vstr, "latest") != 0 && sn_parse_number(vstr, &num) ? -ENOENT : 0;
	if (rc == 0)
		rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = md_item_get(c, http_req_param(r, "name"), auth_caller(r), it);
	if (rc == 0)
		rc = md_version_get(c, it->id, num, v);
	store_release(&c);
	if (rc)
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model or version" : "cannot read the model");
	return rc;
}

/* ---- item JSON ---- */

#define ITEM_COLS "i.id, i.name, u.username, i.public, i.created_at, i.updated_at," \
	" (SELECT COUNT(*) FROM model_versions v WHERE v.item_id = i.id)," \
	" (SELECT MAX(number) FROM model_versions v WHERE v.item_id = i.id)"

static int item_json(store_conn *c, store_rows *rows, json_t **out)
{
	json_t *shares = NULL;
	int rc = share_store_json(c, &md_shares, store_rows_text(rows, 0), &shares);
	if (rc)
		return rc;
	*out = json_pack("{s:s,s:o,s:b,s:o,s:o,s:o,s:I,s:o}", "name", store_rows_text(rows, 1),
			 "owner", store_rows_isnull(rows, 2) ? json_null()
							     : json_string(store_rows_text(rows, 2)),
			 "public", (int)store_rows_int(rows, 3), "shares", shares, "created_at",
			 http_json_time(store_rows_int(rows, 4)), "updated_at",
			 http_json_time(store_rows_int(rows, 5)), "versions",
			 (json_int_t)store_rows_int(rows, 6), "latest_version",
			 store_rows_isnull(rows, 7) ? json_null() : json_integer(store_rows_int(rows, 7)));
	return *out ? 0 : -ENOMEM;
}

static int item_json_by_id(store_conn *c, const char *id, json_t **out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT " ITEM_COLS " FROM model_items i LEFT JOIN users u"
			     " ON u.id = i.owner_id WHERE i.id = $1", &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = item_json(c, rows, out);
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	return rc;
}

static void set_target(http_req *r, const char *name)
{
	char t[MD_NAME_MAX + 16];
	snprintf(t, sizeof t, "model:%s", name ? name : "");
	http_req_set_target(r, t);
}

/* ---- handlers ---- */

/* GET /api/v1/models[?q=][&owner=]: by name; the cursor is the last name. */
static void h_list(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const auth_user *u = auth_caller(r);
	const char *cursor = NULL, *owner = http_req_query(r, "owner"), *q = http_req_query(r, "q");
	int limit, n = 0, rc;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array(), *it = NULL;
	char last[MD_NAME_MAX + 1] = "";
	if (http_page(r, &limit, &cursor))
		goto out;
	rc = items ? store_acquire(a->st, &c) : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, "SELECT " ITEM_COLS " FROM model_items i LEFT JOIN users u"
				 " ON u.id = i.owner_id WHERE i.name > $1 AND ($2 = '' OR"
				 " u.username = $2) AND " SHARE_VISIBLE_SQL("model_shares", "$3", "$4")
				 " ORDER BY i.name", &rows,
				 SARGS(SA_TEXT(cursor ? cursor : ""), SA_TEXT(owner ? owner : ""),
				       SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (q && *q && !strstr(store_rows_text(rows, 1), q))
			continue;
		if (n == limit) {
			rc = 1;
			break;
		}
		if ((rc = item_json(c, rows, &it)) == 0 && json_array_append_new(items, it))
			rc = -ENOMEM;
		sn_strlcpy(last, store_rows_text(rows, 1), sizeof last);
		n++;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		md_reply_rc(r, rc, "cannot list the models");
		goto out;
	}
	http_reply_list(r, items, rc == 1 ? last : NULL);
	items = NULL;
out:
	json_decref(items);
}

/* GET /api/v1/models/{name} */
static void h_get(http_req *r, void *ctx)
{
	model_api *a = ctx;
	store_conn *c = NULL;
	md_item it;
	json_t *j = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0 && (rc = md_item_get(c, http_req_param(r, "name"), auth_caller(r), &it)) == 0)
		rc = item_json_by_id(c, it.id, &j);
	store_release(&c);
	if (rc)
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model" : "cannot read the model");
	else
		http_reply_json(r, 200, j);
}

/* Begins a transaction on *c with the model name, which the caller must
 * own or be an admin for: 0, -ENOENT, -EACCES or a store error. */
static int owned_begin(model_api *a, http_req *r, const char *name, store_conn **c,
		       md_item *it)
{
	int rc = store_acquire(a->st, c);
	if (rc == 0)
		rc = store_begin(*c);
	if (rc == 0 && (rc = md_item_get(*c, name, auth_caller(r), it)) == 0 &&
	    it->access < SHARE_OWNER)
		rc = -EACCES;
	return rc;
}

/* PATCH /api/v1/models/{name} {"public"?, "shares"?} (owner or admin) */
static void h_patch(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const char *name = http_req_param(r, "name");
	int pub = -1, rc;
	store_conn *c = NULL;
	md_item it;
	char err[512];
	json_t *j = NULL, *shares = json_object_get(http_req_json(r), "shares");
	set_target(r, name);
	if (http_body_bool(r, "public", 0, &pub))
		return;
	rc = owned_begin(a, r, name, &c, &it);
	if (rc == 0 && (rc = share_store_patch(c, &md_shares, it.id, pub, shares, err,
					       sizeof err)) == -EINVAL) {
		store_release(&c);
		http_reply_error(r, 400, "bad_request", "%s", err);
		return;
	}
	if (rc == 0)
		rc = store_exec(c, "UPDATE model_items SET updated_at = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(it.id), SA_INT(sn_now_ms())));
	if (rc == 0)
		rc = item_json_by_id(c, it.id, &j);
	if (rc == 0 && (rc = store_commit(c)))
		json_decref(j);
	store_release(&c);
	if (rc)
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model" : rc == -EACCES
			    ? "only the owner or an admin changes a model" : "cannot change the model");
	else
		http_reply_json(r, 200, j);
}

/* Drops the references of version number (0: every version) of item
 * that no other remaining version holds, then the rows. */
static int versions_delete(store_conn *c, const char *item_id, int64_t number)
{
	store_rows *rows = NULL;
	char (*shas)[65] = NULL;
	size_t n = 0, cap = 0;
	int rc = store_query(c, "SELECT onnx_sha256 FROM model_versions WHERE item_id = $1 AND"
			     " ($2 = 0 OR number = $2) UNION SELECT config_sha256 FROM"
			     " model_versions WHERE item_id = $1 AND ($2 = 0 OR number = $2)",
			     &rows, SARGS(SA_TEXT(item_id), SA_INT(number)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			shas = xrealloc(shas, cap * sizeof *shas);
		}
		sn_strlcpy(shas[n++], store_rows_text(rows, 0), 65);
		rc = 0;
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM model_versions WHERE item_id = $1 AND ($2 = 0 OR"
				" number = $2)", NULL, SARGS(SA_TEXT(item_id), SA_INT(number)));
	for (size_t i = 0; rc == 0 && i < n; i++) {
		int64_t left = 0;
		rc = store_query(c, "SELECT COUNT(*) FROM model_versions WHERE item_id = $1 AND"
				 " (onnx_sha256 = $2 OR config_sha256 = $2)", &rows,
				 SARGS(SA_TEXT(item_id), SA_TEXT(shas[i])));
		if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
			left = store_rows_int(rows, 0);
			rc = 0;
		}
		store_rows_free(&rows);
		if (rc == 0 && left == 0)
			rc = blob_ref_del(c, shas[i], "model", item_id);
	}
	free(shas);
	return rc;
}

/* DELETE /api/v1/models/{name}[/versions/{v}] (owner or admin). The
 * blobs stay until gc once nothing references them. */
static void h_delete(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const char *name = http_req_param(r, "name"), *vs = http_req_param(r, "v");
	store_conn *c = NULL;
	md_item it;
	md_version v = { 0 };
	int64_t num = 0;
	set_target(r, name);
	int rc = vs && sn_parse_number(vs, &num) ? -ENOENT : 0;
	if (rc == 0)
		rc = owned_begin(a, r, name, &c, &it);
	if (rc == 0 && num)
		rc = md_version_get(c, it.id, num, &v);
	md_version_release(&v);
	if (rc == 0)
		rc = versions_delete(c, it.id, num);
	if (rc == 0 && !num)
		rc = share_store_replace(c, &md_shares, it.id, NULL, 0);
	if (rc == 0 && !num)
		rc = store_exec(c, "DELETE FROM model_items WHERE id = $1", NULL, SARGS(SA_TEXT(it.id)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	if (rc) {
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model or version" : rc == -EACCES
			    ? "only the owner or an admin deletes a model" : "cannot delete it");
		return;
	}
	md_cache_drop(a, it.id, num);
	http_reply_json(r, 200, num ? json_pack("{s:s,s:I}", "deleted", name, "version",
						 (json_int_t)num)
				    : json_pack("{s:s}", "deleted", name));
}

/* GET /api/v1/models/{name}/versions, newest first; cursor: a number. */
static void h_versions(http_req *r, void *ctx)
{
	model_api *a = ctx;
	const char *cursor = NULL;
	int limit, n = 0;
	int64_t before = INT64_MAX, last = 0, nums[1001];
	store_conn *c = NULL;
	store_rows *rows = NULL;
	md_item it;
	json_t *items = NULL;
	if (http_page(r, &limit, &cursor))
		return;
	if (cursor && sn_parse_number(cursor, &before)) {
		http_reply_error(r, 400, "bad_request", "invalid cursor");
		return;
	}
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = md_item_get(c, http_req_param(r, "name"), auth_caller(r), &it);
	if (rc == 0)
		rc = store_query(c, "SELECT number FROM model_versions WHERE item_id = $1 AND"
				 " number < $2 ORDER BY number DESC LIMIT $3", &rows,
				 SARGS(SA_TEXT(it.id), SA_INT(before), SA_INT(limit + 1)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		nums[n++] = store_rows_int(rows, 0);
		rc = 0;
	}
	store_rows_free(&rows);
	items = rc ? NULL : json_array();
	if (rc == 0 && !items)
		rc = -ENOMEM;
	for (int i = 0; rc == 0 && i < n && i < limit; i++) {
		md_version v;
		if ((rc = md_version_get(c, it.id, nums[i], &v)))
			break;
		json_t *j = md_version_json(it.name, &v);
		md_version_release(&v);
		rc = !j || json_array_append_new(items, j) ? -ENOMEM : 0;
		last = nums[i];
	}
	store_release(&c);
	if (rc) {
		json_decref(items);
		md_reply_rc(r, rc, rc == -ENOENT ? "no such model" : "cannot list the versions");
		return;
	}
	char next[24];
	snprintf(next, sizeof next, "%" PRId64, last);
	http_reply_list(r, items, n > limit ? next : NULL);
}

/* GET /api/v1/models/{name}/versions/{v} ({v}: a number or latest) */
static void h_version(http_req *r, void *ctx)
{
	md_item it;
	md_version v;
	if (md_resolve(ctx, r, http_req_param(r, "v"), &it, &v))
		return;
	json_t *j = md_version_json(it.name, &v);
	md_version_release(&v);
	if (!j)
		http_reply_errno(r, -ENOMEM, NULL);
	else
		http_reply_json(r, 200, j);
}

/* ---- the content as a tar: model.onnx, then config.json ---- */

struct tar_dl {
	int fd[2];
	uint64_t size[2];
	char hdr[2][DS_TAR_HDR_MAX];
	size_t hlen[2];
	uint64_t len;
};

/* Copies the part of [start, start + n) of a region that falls in
 * [pos, pos + max) to out. */
static size_t region(uint64_t start, uint64_t n, uint64_t pos, size_t max, uint64_t *off)
{
	if (pos >= start + n || pos + max <= start)
		return 0;
	*off = pos > start ? pos - start : 0;
	uint64_t end = start + n < pos + max ? start + n : pos + max;
	return (size_t)(end - (start + *off));
}

static long tar_dl_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct tar_dl *t = cls;
	uint64_t at = 0, off;
	size_t done = 0;
	if (pos >= t->len)
		return 0;
	for (int i = 0; i < 2 && done < max; i++) {
		size_t k = region(at, t->hlen[i], pos + done, max - done, &off);
		if (k)
			memcpy(out + done, t->hdr[i] + off, k), done += k;
		at += t->hlen[i];
		k = region(at, t->size[i], pos + done, max - done, &off);
		if (k) {
			ssize_t got = pread(t->fd[i], out + done, k, (off_t)off);
			if (got <= 0)
				return got < 0 ? -errno : -EIO;
			return (long)(done + (size_t)got);
		}
		at += t->size[i];
		k = region(at, ds_tar_pad(t->size[i]), pos + done, max - done, &off);
		if (k)
			memset(out + done, 0, k), done += k;
		at += ds_tar_pad(t->size[i]);
	}
	if (done < max && pos + done >= at) {
		size_t k = (size_t)(t->len - (pos + done));
		k = k < max - done ? k : max - done;
		memset(out + done, 0, k);
		done += k;
	}
	return (long)done;
}

static void tar_dl_free(void *cls)
{
	struct tar_dl *t = cls;
	for (int i = 0; i < 2; i++)
		if (t->fd[i] >= 0)
			close(t->fd[i]);
	free(t);
}

/* GET /api/v1/models/{name}/versions/{v}/content */
static void h_content(http_req *r, void *ctx)
{
	model_api *a = ctx;
	md_item it;
	md_version v;
	if (md_resolve(a, r, http_req_param(r, "v"), &it, &v))
		return;
	struct tar_dl *t = xcalloc(1, sizeof *t);
	const char *shas[2] = { v.onnx_sha, v.config_sha };
	const char *names[2] = { ML_MODEL_FILE, ML_CONFIG_FILE };
	int rc = 0;
	t->fd[0] = t->fd[1] = -1;
	for (int i = 0; rc == 0 && i < 2; i++) {
		rc = blob_open(a->bs, shas[i], &t->fd[i], &t->size[i]);
		if (rc == 0)
			rc = ds_tar_header(names[i], t->size[i], 0644, t->hdr[i], &t->hlen[i]);
		t->len += t->hlen[i] + t->size[i] + ds_tar_pad(t->size[i]);
	}
	t->len += 1024;
	md_version_release(&v);
	if (rc) {
		tar_dl_free(t);
		md_reply_rc(r, rc, "cannot read the model's files");
		return;
	}
	char cd[MD_NAME_MAX + 64];
	snprintf(cd, sizeof cd, "attachment; filename=\"%s.tar\"", it.name);
	http_reply_header(r, "Content-Disposition", cd);
	http_reply_callback(r, 200, "application/x-tar", t->len, tar_dl_read, t, tar_dl_free);
}

/* ---- setup ---- */

int model_api_new(store *st, hub *events, blob_store *blobs, blob_api *bapi, mx_api *mx,
		  sched *sc, model_api **out)
{
	model_api *a = xcalloc(1, sizeof *a);
	int rc;
	(void)sc; /* training jobs are followed through the hub's topic "job" */
	a->st = st;
	a->events = events;
	a->bs = blobs;
	a->mx = mx;
	pthread_mutex_init(&a->cache_mu, NULL);
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (bapi && (rc = blob_api_reader_add(bapi, "model", item_may_read, a)))
		goto fail;
	if (events && (rc = hub_declare(events, "anomaly", HUB_OWNER)))
		goto fail;
	if ((rc = md_train_start(a)) || (rc = md_det_start(a)))
		goto fail;
	*out = a;
	return 0;
fail:
	model_api_free(&a);
	return rc;
}

void model_api_free(model_api **ap)
{
	model_api *a = *ap;
	if (!a)
		return;
	md_train_stop(a);
	md_det_stop(a);
	for (int i = 0; i < MD_CACHE; i++)
		ml_model_free(&a->cache[i].m);
	pthread_mutex_destroy(&a->cache_mu);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
	*ap = NULL;
}

size_t model_routes(model_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/models", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/models/{name}", h_get, 0, ROLE_MEMBER, NULL, 0, a },
		{ "PATCH", "/api/v1/models/{name}", h_patch, 0, ROLE_MEMBER, "model.update", 0, a },
		{ "DELETE", "/api/v1/models/{name}", h_delete, 0, ROLE_MEMBER, "model.delete", 0, a },
		{ "GET", "/api/v1/models/{name}/versions", h_versions, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/models/{name}/versions/{v}", h_version, 0, ROLE_MEMBER, NULL, 0, a },
		{ "DELETE", "/api/v1/models/{name}/versions/{v}", h_delete, 0, ROLE_MEMBER,
		  "model.delete", 0, a },
		{ "GET", "/api/v1/models/{name}/versions/{v}/content", h_content, 0, ROLE_MEMBER, NULL,
		  0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	n += md_push_routes(a, out + n, max - n);
	n += md_score_routes(a, out + n, max - n);
	n += md_train_routes(a, out + n, max - n);
	n += md_det_routes(a, out + n, max - n);
	return n;
}
