/* Items (datasets and scripts): lookup and access, version records, and
 * the routes that read or change items as a whole (list, get, PATCH,
 * DELETE, versions). A caller who may not read an item gets the answer
 * of a missing one. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "auth/share.h"
#include "base/util.h"
#include "dataset/ds_int.h"

const ds_kind ds_kind_dataset = { "dataset", "datasets" };
const ds_kind ds_kind_script = { "script", "scripts" };

const share_table ds_shares = { "ds_shares", "item_id", "ds_items" };

void ds_reply_rc(http_req *r, int rc, const char *what)
{
	if (rc == STORE_EBUSY)
		rc = -ETIMEDOUT;
	else if (rc == STORE_ECONSTRAINT)
		rc = -EEXIST;
	else if (rc < -1000)
		rc = -EIO;
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "%s", what);
	else
		http_reply_errno(r, rc, "%s", what);
}

/* ---- access ---- */

int ds_item_get(store_conn *c, const ds_kind *k, const char *name, const auth_user *u,
		ds_item *out)
{
	store_rows *rows = NULL;
	if (!ds_name_valid(name))
		return -ENOENT;
	int rc = store_query(c, "SELECT id, owner_id, public, archived FROM ds_items"
			     " WHERE kind = $1 AND name = $2", &rows,
			     SARGS(SA_TEXT(k->name), SA_TEXT(name)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		memset(out, 0, sizeof *out);
		sn_strlcpy(out->id, store_rows_text(rows, 0), sizeof out->id);
		sn_strlcpy(out->owner_id, store_rows_text(rows, 1), sizeof out->owner_id);
		sn_strlcpy(out->name, name, sizeof out->name);
		out->public_ = (int)store_rows_int(rows, 2);
		out->archived = (int)store_rows_int(rows, 3);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	if (rc == 0 && (rc = share_store_access(c, &ds_shares, out->id, out->owner_id, out->public_,
						u, &out->access)) == 0 && out->access == SHARE_NONE)
		rc = -ENOENT;
	return rc;
}

/* The blob API's hook: ref is an item id. */
static int item_may_read(void *ctx, store_conn *c, const char *ref, const auth_user *u)
{
	(void)ctx;
	return share_store_may_read(c, &ds_shares, ref, u);
}

/* ---- versions ---- */

void ds_version_release(ds_version *v)
{
	free(v->filename);
	free(v->message);
	free(v->profiles);
	free(v->language);
	free(v->uploader);
	memset(v, 0, sizeof *v);
}

static char *text_or_null(store_rows *rows, int col)
{
	return store_rows_isnull(rows, col) ? NULL : xstrdup(store_rows_text(rows, col));
}

int ds_version_get(store_conn *c, const char *item_id, int64_t number, ds_version *out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT v.number, v.parent, v.bytes, v.files, v.created_at, v.sha256,"
			     " v.kind, v.filename, v.message, v.profiles, v.language, u.username"
			     " FROM ds_versions v LEFT JOIN users u ON u.id = v.uploader_id"
			     " WHERE v.item_id = $1 AND v.number = $2", &rows,
			     SARGS(SA_TEXT(item_id), SA_INT(number)));
	memset(out, 0, sizeof *out);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		out->number = store_rows_int(rows, 0);
		out->parent = store_rows_isnull(rows, 1) ? 0 : store_rows_int(rows, 1);
		out->bytes = store_rows_int(rows, 2);
		out->files = store_rows_int(rows, 3);
		out->created_at = store_rows_int(rows, 4);
		sn_strlcpy(out->sha256, store_rows_text(rows, 5), sizeof out->sha256);
		sn_strlcpy(out->kind, store_rows_text(rows, 6), sizeof out->kind);
		out->filename = text_or_null(rows, 7);
		out->message = text_or_null(rows, 8);
		out->profiles = text_or_null(rows, 9);
		out->language = text_or_null(rows, 10);
		out->uploader = text_or_null(rows, 11);
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

json_t *ds_version_json(const ds_kind *k, const char *item_name, const ds_version *v)
{
	json_t *prof = v->profiles ? json_loads(v->profiles, 0, NULL) : NULL;
	json_t *j = json_pack("{s:s,s:I,s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:s,s:o}", k->name,
			      item_name, "number", (json_int_t)v->number, "kind", v->kind, "sha256",
			      v->sha256, "filename", str_or_null(v->filename), "bytes",
			      (json_int_t)v->bytes, "files", (json_int_t)v->files, "parent",
			      v->parent ? json_integer(v->parent) : json_null(), "uploader",
			      str_or_null(v->uploader), "created_at",
			      http_json_time(v->created_at), "message",
			      v->message ? v->message : "", "profiles",
			      prof ? prof : json_object());
	if (j && v->language && json_object_set_new(j, "language", json_string(v->language))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Inserts the item kind/name owned by u; -EEXIST when another request
 * created it first. */
static int item_create(store_conn *c, const ds_kind *k, const char *name, const auth_user *u)
{
	char *id = sn_id_new("ds_");
	int64_t now = sn_now_ms();
	int rc = store_exec(c, "INSERT INTO ds_items (id, kind, name, owner_id, created_at, updated_at)"
			    " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING", NULL,
			    SARGS(SA_TEXT(id), SA_TEXT(k->name), SA_TEXT(name), SA_TEXT(u->id),
				  SA_INT(now)));
	free(id);
	return rc;
}

static int version_insert(ds_api *api, store_conn *c, const ds_item *it, const auth_user *u,
			  const ds_newver *nv, int64_t number)
{
	char *prof = nv->profiles && json_object_size(nv->profiles)
		? json_dumps(nv->profiles, JSON_COMPACT) : NULL;
	int rc = nv->profiles && json_object_size(nv->profiles) && !prof ? -ENOMEM : 0;
	int64_t now = sn_now_ms();
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO ds_versions (item_id, number, kind, sha256, filename,"
				" bytes, files, parent, uploader_id, created_at, message, language,"
				" profiles) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)", NULL,
				SARGS(SA_TEXT(it->id), SA_INT(number), SA_TEXT(nv->kind),
				      SA_TEXT(nv->sha256), SA_TEXT(nv->filename), SA_INT(nv->bytes),
				      SA_INT(nv->files), number > 1 ? SA_INT(number - 1) : SA_NULL,
				      SA_TEXT(u->id), SA_INT(now),
				      SA_TEXT(nv->message ? nv->message : ""), SA_TEXT(nv->language),
				      SA_TEXT(prof)));
	for (size_t i = 0; rc == 0 && i < nv->nblobs; i++) {
		rc = store_exec(c, "INSERT INTO ds_blobs (item_id, sha256) VALUES ($1, $2)"
				" ON CONFLICT DO NOTHING", NULL,
				SARGS(SA_TEXT(it->id), SA_TEXT(nv->blobs[i])));
		if (rc == 0)
			rc = blob_ref_add(api->bs, c, nv->blobs[i], "dataset", it->id);
	}
	if (rc == 0)
		rc = store_exec(c, "UPDATE ds_items SET updated_at = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(it->id), SA_INT(now)));
	free(prof);
	return rc;
}

/* The number of an existing version of item with sha, or 0; or the next
 * free number in *next. */
static int version_lookup(store_conn *c, const char *item_id, const char *sha, int64_t *same,
			  int64_t *next)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT MIN(CASE WHEN sha256 = $2 THEN number END), MAX(number)"
			     " FROM ds_versions WHERE item_id = $1", &rows,
			     SARGS(SA_TEXT(item_id), SA_TEXT(sha)));
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

int ds_version_add(ds_api *api, const ds_kind *k, const char *name, const auth_user *u,
		   const ds_newver *nv, ds_version *out, int *dedup)
{
	store_conn *c = NULL;
	ds_item it;
	int64_t same = 0, next = 1;
	int rc = store_acquire(api->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0 && (rc = ds_item_get(c, k, name, u, &it)) == -ENOENT) {
		/* Missing, or not readable: creating succeeds only for the first. */
		if ((rc = item_create(c, k, name, u)) == 0)
			rc = ds_item_get(c, k, name, u, &it);
	}
	if (rc == 0 && it.access < SHARE_WRITE)
		rc = -EACCES;
	if (rc == 0)
		rc = version_lookup(c, it.id, nv->sha256, &same, &next);
	*dedup = same > 0;
	if (rc == 0 && !same)
		rc = version_insert(api, c, &it, u, nv, next);
	if (rc == 0)
		rc = ds_version_get(c, it.id, same ? same : next, out);
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	return rc;
}

/* ---- item JSON ---- */

#define ITEM_COLS "i.id, i.name, u.username, i.public, i.archived, i.created_at, i.updated_at," \
	" (SELECT COUNT(*) FROM ds_versions v WHERE v.item_id = i.id)," \
	" (SELECT MAX(number) FROM ds_versions v WHERE v.item_id = i.id)"

/* The item JSON of a row selected with ITEM_COLS. */
static int item_json(store_conn *c, const ds_kind *k, store_rows *rows, json_t **out)
{
	json_t *shares = NULL;
	int rc = share_store_json(c, &ds_shares, store_rows_text(rows, 0), &shares);
	if (rc)
		return rc;
	*out = json_pack("{s:s,s:s,s:o,s:b,s:b,s:o,s:o,s:o,s:I,s:o}", "name",
			 store_rows_text(rows, 1), "kind", k->name, "owner",
			 store_rows_isnull(rows, 2) ? json_null() : json_string(store_rows_text(rows, 2)),
			 "public", (int)store_rows_int(rows, 3), "archived",
			 (int)store_rows_int(rows, 4), "shares", shares, "created_at",
			 http_json_time(store_rows_int(rows, 5)), "updated_at",
			 http_json_time(store_rows_int(rows, 6)), "versions",
			 (json_int_t)store_rows_int(rows, 7), "latest_version",
			 store_rows_isnull(rows, 8) ? json_null() : json_integer(store_rows_int(rows, 8)));
	return *out ? 0 : -ENOMEM;
}

/* The item JSON of it, read on c. */
static int item_json_by_id(store_conn *c, const ds_kind *k, const char *id, json_t **out)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT " ITEM_COLS " FROM ds_items i LEFT JOIN users u"
			     " ON u.id = i.owner_id WHERE i.id = $1", &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = item_json(c, k, rows, out);
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	return rc;
}

/* ---- handlers ---- */

static void set_target(http_req *r, const ds_kind *k, const char *name)
{
	char t[DS_NAME_MAX + 16];
	snprintf(t, sizeof t, "%s:%s", k->name, name);
	http_req_set_target(r, t);
}

/* 1 when the local item (name, sha) comes after cursor "NAME:SHA" in the
 * provider's order (name, then manifest). */
static int local_after(const char *name, const char *sha, const char *cursor)
{
	const char *colon = strrchr(cursor, ':');
	size_t n = colon ? (size_t)(colon - cursor) : strlen(cursor);
	int c = strncmp(name, cursor, n);
	if (c == 0 && strlen(name) != n)
		c = 1;
	if (c == 0)
		c = strcmp(sha, colon ? colon + 1 : "");
	return c > 0;
}

/* GET /api/v1/datasets?kind=local: the provider's items after cursor,
 * filtered by q; the cursor is the last item's "NAME:SHA" (a node's
 * dataset name may hold ':', a SHA-256 never does: split at the last). */
static void list_local(http_req *r, ds_api *api, int limit, const char *cursor, const char *q)
{
	json_t *all = NULL, *items = json_array(), *it;
	char last[DS_NAME_MAX + 72] = "";
	size_t i;
	int more = 0;
	int rc = items ? 0 : -ENOMEM;
	if (rc == 0 && api->local_fn)
		rc = api->local_fn(api->local_ctx, auth_caller(r), &all);
	json_array_foreach(all, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *sha = json_string_value(json_object_get(it, "manifest_sha256"));
		if (rc)
			break;
		if (!name || !sha) {
			rc = -EINVAL;
			break;
		}
		if (cursor && !local_after(name, sha, cursor))
			continue;
		if (q && *q && !strstr(name, q))
			continue;
		if ((int)json_array_size(items) == limit) {
			more = 1;
			break;
		}
		if (json_array_append(items, it)) {
			rc = -ENOMEM;
			break;
		}
		snprintf(last, sizeof last, "%s:%s", name, sha);
	}
	json_decref(all);
	if (rc) {
		json_decref(items);
		ds_reply_rc(r, rc, "cannot list the node-local datasets");
		return;
	}
	http_reply_list(r, items, more ? last : NULL);
}

/* GET /api/v1/{datasets,scripts} */
static void h_list(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const auth_user *u = auth_caller(r);
	const char *cursor = NULL, *owner = http_req_query(r, "owner"), *q = http_req_query(r, "q");
	const char *arch = http_req_query(r, "archived"), *kind = http_req_query(r, "kind");
	int limit, n = 0, rc;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array(), *it = NULL;
	char last[DS_NAME_MAX + 1] = "";
	if (http_page(r, &limit, &cursor))
		goto out;
	/* Uploaded items unless asked: a client that pages the default list
	 * never meets the other cursor form. */
	if (kind && strcmp(kind, x->k->name) != 0) {
		if (x->k == &ds_kind_dataset && strcmp(kind, "local") == 0)
			list_local(r, x->api, limit, cursor, q);
		else
			http_reply_error(r, 400, "bad_request", "query parameter 'kind' is %s",
					 x->k == &ds_kind_dataset ? "dataset or local" : "script");
		goto out;
	}
	rc = items ? store_acquire(x->api->st, &c) : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, "SELECT " ITEM_COLS " FROM ds_items i LEFT JOIN users u"
				 " ON u.id = i.owner_id WHERE i.kind = $1 AND i.name > $2"
				 " AND i.archived = $3 AND ($4 = '' OR u.username = $4) AND "
				 SHARE_VISIBLE_SQL("ds_shares", "$5", "$6") " ORDER BY i.name",
				 &rows, SARGS(SA_TEXT(x->k->name), SA_TEXT(cursor ? cursor : ""),
					      SA_INT(arch && strcmp(arch, "1") == 0),
					      SA_TEXT(owner ? owner : ""),
					      SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id)));
	/* q is matched here: a substring, case-sensitive, on every backend. */
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (q && *q && !strstr(store_rows_text(rows, 1), q))
			continue;
		if (n == limit) {
			rc = 1;
			break;
		}
		if ((rc = item_json(c, x->k, rows, &it)) == 0 && json_array_append_new(items, it))
			rc = -ENOMEM;
		sn_strlcpy(last, store_rows_text(rows, 1), sizeof last);
		n++;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		ds_reply_rc(r, rc, "cannot list");
		goto out;
	}
	http_reply_list(r, items, rc == 1 ? last : NULL);
	items = NULL;
out:
	json_decref(items);
}

/* GET /api/v1/{datasets,scripts}/{name} */
static void h_get(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	store_conn *c = NULL;
	ds_item it;
	json_t *j = NULL;
	int rc = store_acquire(x->api->st, &c);
	if (rc == 0 && (rc = ds_item_get(c, x->k, http_req_param(r, "name"), auth_caller(r), &it)) == 0)
		rc = item_json_by_id(c, x->k, it.id, &j);
	store_release(&c);
	if (rc)
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item" : "cannot read it");
	else
		http_reply_json(r, 200, j);
}

/* PATCH /api/v1/{datasets,scripts}/{name} */
static void h_patch(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const char *name = http_req_param(r, "name");
	int pub = -1, arch = -1, rc;
	store_conn *c = NULL;
	ds_item it;
	char err[512];
	json_t *j = NULL, *shares = json_object_get(http_req_json(r), "shares");
	set_target(r, x->k, name);
	if (http_body_bool(r, "public", 0, &pub) || http_body_bool(r, "archived", 0, &arch))
		return;
	rc = store_acquire(x->api->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0 && (rc = ds_item_get(c, x->k, name, auth_caller(r), &it)) == 0 &&
	    it.access < SHARE_OWNER)
		rc = -EACCES;
	if (rc == 0 && arch >= 0)
		rc = store_exec(c, "UPDATE ds_items SET archived = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(it.id), SA_INT(arch)));
	if (rc == 0 && (rc = share_store_patch(c, &ds_shares, it.id, pub, shares, err,
					       sizeof err)) == -EINVAL) {
		store_release(&c);
		http_reply_error(r, 400, "bad_request", "%s", err);
		return;
	}
	if (rc == 0)
		rc = store_exec(c, "UPDATE ds_items SET updated_at = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(it.id), SA_INT(sn_now_ms())));
	if (rc == 0)
		rc = item_json_by_id(c, x->k, it.id, &j);
	if (rc == 0 && (rc = store_commit(c)))
		json_decref(j);
	store_release(&c);
	if (rc == -EACCES)
		http_reply_error(r, 403, "forbidden", "only the owner or an admin changes it");
	else if (rc)
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item" : "cannot change it");
	else
		http_reply_json(r, 200, j);
}

/* DELETE /api/v1/{datasets,scripts}/{name} (admins): the references go
 * with the item; the blobs stay until gc. */
static void h_delete(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const char *name = http_req_param(r, "name");
	store_conn *c = NULL;
	store_rows *rows = NULL;
	ds_item it;
	char (*shas)[65] = NULL;
	size_t n = 0, cap = 0;
	set_target(r, x->k, name);
	int rc = store_acquire(x->api->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = ds_item_get(c, x->k, name, auth_caller(r), &it);
	if (rc == 0)
		rc = store_query(c, "SELECT sha256 FROM ds_blobs WHERE item_id = $1", &rows,
				 SARGS(SA_TEXT(it.id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			shas = xrealloc(shas, cap * sizeof *shas);
		}
		sn_strlcpy(shas[n++], store_rows_text(rows, 0), 65);
		rc = 0;
	}
	store_rows_free(&rows);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = blob_ref_del(c, shas[i], "dataset", it.id);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM ds_blobs WHERE item_id = $1", NULL, SARGS(SA_TEXT(it.id)));
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM ds_versions WHERE item_id = $1", NULL, SARGS(SA_TEXT(it.id)));
	if (rc == 0)
		rc = share_store_replace(c, &ds_shares, it.id, NULL, 0);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM ds_items WHERE id = $1", NULL, SARGS(SA_TEXT(it.id)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	free(shas);
	if (rc)
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item" : "cannot delete it");
	else
		http_reply_json(r, 200, json_pack("{s:s}", "deleted", name));
}

/* GET …/{name}/versions, newest first; the cursor is a version number. */
static void h_versions(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const char *cursor = NULL;
	int limit, n = 0;
	int64_t before = INT64_MAX, last = 0;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	ds_item it;
	json_t *items = NULL;
	if (http_page(r, &limit, &cursor))
		return;
	if (cursor && sn_parse_number(cursor, &before)) {
		http_reply_error(r, 400, "bad_request", "invalid cursor");
		return;
	}
	int rc = store_acquire(x->api->st, &c);
	if (rc == 0)
		rc = ds_item_get(c, x->k, http_req_param(r, "name"), auth_caller(r), &it);
	if (rc == 0)
		rc = store_query(c, "SELECT number FROM ds_versions WHERE item_id = $1 AND number < $2"
				 " ORDER BY number DESC LIMIT $3", &rows,
				 SARGS(SA_TEXT(it.id), SA_INT(before), SA_INT(limit + 1)));
	int64_t nums[1001];
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		nums[n++] = store_rows_int(rows, 0);
		rc = 0;
	}
	store_rows_free(&rows);
	items = rc ? NULL : json_array();
	if (rc == 0 && !items)
		rc = -ENOMEM;
	for (int i = 0; rc == 0 && i < n && i < limit; i++) {
		ds_version v;
		if ((rc = ds_version_get(c, it.id, nums[i], &v)))
			break;
		json_t *j = ds_version_json(x->k, it.name, &v);
		ds_version_release(&v);
		rc = !j || json_array_append_new(items, j) ? -ENOMEM : 0;
		last = nums[i];
	}
	store_release(&c);
	if (rc) {
		json_decref(items);
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item" : "cannot list the versions");
		return;
	}
	char next[24];
	snprintf(next, sizeof next, "%" PRId64, last);
	http_reply_list(r, items, n > limit ? next : NULL);
}

/* GET …/{name}/versions/{v} */
static void h_version(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	store_conn *c = NULL;
	ds_item it;
	ds_version v = { 0 };
	int64_t num;
	if (sn_parse_number(http_req_param(r, "v"), &num)) {
		http_reply_error(r, 404, "not_found", "no such version");
		return;
	}
	int rc = store_acquire(x->api->st, &c);
	if (rc == 0)
		rc = ds_item_get(c, x->k, http_req_param(r, "name"), auth_caller(r), &it);
	if (rc == 0)
		rc = ds_version_get(c, it.id, num, &v);
	store_release(&c);
	if (rc) {
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item or version" : "cannot read the version");
		return;
	}
	json_t *j = ds_version_json(x->k, it.name, &v);
	ds_version_release(&v);
	if (!j)
		http_reply_errno(r, -ENOMEM, NULL);
	else
		http_reply_json(r, 200, j);
}

/* ---- setup ---- */

void ds_api_set_local_provider(ds_api *api, ds_local_fn fn, void *ctx)
{
	api->local_fn = fn;
	api->local_ctx = ctx;
}

int ds_api_new(store *st, blob_store *bs, blob_api *blobs, uint64_t max_size, ds_api **out)
{
	ds_api *api = xcalloc(1, sizeof *api);
	api->st = st;
	api->bs = bs;
	api->max_size = max_size ? max_size : DS_MAX_SIZE_DEFAULT;
	api->datasets = (ds_rctx){ api, &ds_kind_dataset };
	api->scripts = (ds_rctx){ api, &ds_kind_script };
	int rc = blob_api_reader_add(blobs, "dataset", item_may_read, api);
	if (rc) {
		free(api);
		return rc;
	}
	*out = api;
	return 0;
}

void ds_api_free(ds_api **api)
{
	xfree(api);
}

/* The item routes of one kind into out. */
static size_t item_routes(ds_rctx *x, http_route *out, size_t max)
{
	static const char *const pds[] = { "/api/v1/datasets", "/api/v1/datasets/{name}",
					   "/api/v1/datasets/{name}/versions",
					   "/api/v1/datasets/{name}/versions/{v}" };
	static const char *const psc[] = { "/api/v1/scripts", "/api/v1/scripts/{name}",
					   "/api/v1/scripts/{name}/versions",
					   "/api/v1/scripts/{name}/versions/{v}" };
	int sc = x->k == &ds_kind_script;
	const char *const *p = sc ? psc : pds;
	const http_route routes[] = {
		{ "GET", p[0], h_list, 0, ROLE_MEMBER, NULL, 0, x },
		{ "GET", p[1], h_get, 0, ROLE_MEMBER, NULL, 0, x },
		{ "PATCH", p[1], h_patch, 0, ROLE_MEMBER, sc ? "script.update" : "dataset.update", 0, x },
		{ "DELETE", p[1], h_delete, 0, ROLE_ADMIN, sc ? "script.delete" : "dataset.delete", 0, x },
		{ "GET", p[2], h_versions, 0, ROLE_MEMBER, NULL, 0, x },
		{ "GET", p[3], h_version, 0, ROLE_MEMBER, NULL, 0, x },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}

size_t ds_routes(ds_api *api, http_route *out, size_t max)
{
	size_t n = item_routes(&api->datasets, out, max);
	n += item_routes(&api->scripts, out + n, max - n);
	n += ds_push_routes(api, out + n, max - n);
	n += ds_read_routes(api, out + n, max - n);
	n += ds_script_routes(api, out + n, max - n);
	return n;
}
