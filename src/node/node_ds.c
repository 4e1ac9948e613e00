/* Node-local datasets as GET /api/v1/datasets?kind=local lists them: the
 * dataset module's provider (ds_api_set_local_provider), built from the
 * registry's table. One item per (name, manifest): the same content on
 * several nodes is one dataset with several locations. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth.h"
#include "base/mem.h"
#include "base/util.h"
#include "node/node_int.h"

#define KEY_MAX (128 + 1 + 64 + 1) /* "name\tmanifest": a node's dataset name is <= 128 bytes */

/* The group ids of user_id. */
static int groups_of(node_reg *r, const char *user_id, char ***out, size_t *n)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char **v = NULL;
	size_t nv = 0;
	int rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT group_id FROM group_members WHERE user_id = $1", &rows,
				 SARGS(SA_TEXT(user_id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		v = xrealloc(v, (nv + 1) * sizeof *v);
		v[nv++] = xstrdup(store_rows_text(rows, 0));
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		node_strv_free(v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return 0;
}

/* Adds rec's location of dataset d to the item of its (name, manifest) in
 * by_key, making the item on its first location. Under reg->mu. */
static int add_location(node_reg *r, const struct node_rec *rec, const json_t *d, int64_t now,
			json_t *by_key)
{
	const char *name = json_string_value(json_object_get(d, "name"));
	const char *sha = json_string_value(json_object_get(d, "manifest_sha256"));
	const char *path = json_string_value(json_object_get(d, "path"));
	char key[KEY_MAX];
	if (!name || !sha)
		return 0; /* read_datasets stored only valid ones */
	/* '\t' sorts before every byte a name may hold (node names refuse
	 * control bytes), so keys sort by name, then manifest. */
	snprintf(key, sizeof key, "%s\t%s", name, sha);
	json_t *item = json_object_get(by_key, key);
	if (!item) {
		item = json_pack("{s:s,s:s,s:s,s:I,s:I,s:[]}", "name", name, "kind", "local",
				 "manifest_sha256", sha, "bytes",
				 json_integer_value(json_object_get(d, "bytes")), "files",
				 json_integer_value(json_object_get(d, "files")), "location");
		if (!item || json_object_set_new(by_key, key, item))
			return -ENOMEM;
	}
	json_t *loc = json_pack("{s:s,s:s,s:s,s:s?}", "node_id", rec->id, "node_name", rec->name,
				"node_state", node_public_state(r, rec, now), "path", path);
	if (!loc || json_array_append_new(json_object_get(item, "location"), loc))
		return -ENOMEM;
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int node_local_datasets(void *ctx, const struct auth_user *u, json_t **out)
{
	node_reg *r = ctx;
	char **groups = NULL;
	size_t ngroups = 0;
	int admin = u->role >= ROLE_ADMIN, rc = 0;
	json_t *by_key = json_object(), *items = json_array();
	const char **keys = NULL;
	if (!by_key || !items) {
		rc = -ENOMEM;
		goto out;
	}
	if (!admin && (rc = groups_of(r, u->id, &groups, &ngroups)))
		goto out;
	pthread_mutex_lock(&r->mu);
	int64_t now = node_now_ms(r);
	for (size_t i = 0; i < r->n && rc == 0; i++) {
		const struct node_rec *rec = r->v[i];
		/* A pending node is nobody's to use yet; a removed one is gone. */
		if (rec->state != NODE_CLAIMED)
			continue;
		node_info ni = { .public_use = rec->public_use, .users = rec->lists->users,
				 .nusers = rec->lists->nusers, .groups = rec->lists->groups,
				 .ngroups = rec->lists->ngroups };
		sn_strlcpy(ni.owner, rec->owner, sizeof ni.owner);
		if (!admin && !node_may_use(&ni, u->id, groups, ngroups))
			continue;
		size_t j;
		json_t *d;
		json_array_foreach(rec->datasets, j, d) {
			if ((rc = add_location(r, rec, d, now, by_key)))
				break;
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (rc)
		goto out;
	size_t n = json_object_size(by_key), k = 0;
	const char *key;
	json_t *item;
	keys = xcalloc(n ? n : 1, sizeof *keys);
	json_object_foreach(by_key, key, item)
		keys[k++] = key;
	qsort(keys, k, sizeof *keys, key_cmp);
	for (size_t i = 0; i < k && rc == 0; i++)
		if (json_array_append(items, json_object_get(by_key, keys[i])))
			rc = -ENOMEM;
	if (rc == 0) {
		*out = items;
		items = NULL;
	}
out:
	free(keys);
	json_decref(by_key);
	json_decref(items);
	node_strv_free(groups, ngroups);
	return rc;
}
