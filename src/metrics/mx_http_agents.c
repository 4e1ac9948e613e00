/* The agent routes (docs/metrics.md, "Query and export" and "Agents"):
 * list, show, change who may see or push (owner or admin), forget. A
 * caller who may not read an agent gets the answer of a missing one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

/* ---- the agent's JSON ---- */

/* The latest value of each metric (its newest series) and the tags every
 * series of the agent has in common (host=…, say). */
struct latest {
	json_t *metrics;
	mx_tag tags[MX_TAGS_MAX];
	char keys[MX_TAGS_MAX][MX_TAG_KEY_MAX + 1];
	char vals[MX_TAGS_MAX][MX_TAG_VAL_MAX + 1];
	unsigned ntags;
	int first;
	int64_t newest;
};

static int latest_cb(void *ctx, const mx_sample *s)
{
	struct latest *l = ctx;
	json_t *m = json_object_get(l->metrics, s->metric);
	json_t *ts = m ? json_object_get(m, "ts_ms") : NULL;
	if (!m || json_integer_value(ts) < s->ts_ms) {
		json_t *v = json_pack("{s:f,s:o,s:I}", "value", s->value, "ts", http_json_time(s->ts_ms),
				      "ts_ms", (json_int_t)s->ts_ms);
		if (!v || json_object_set_new(l->metrics, s->metric, v))
			return -ENOMEM;
	}
	if (l->first) {
		l->first = 0;
		for (unsigned i = 0; i < s->ntags; i++) {
			sn_strlcpy(l->keys[i], s->tags[i].k, sizeof l->keys[i]);
			sn_strlcpy(l->vals[i], s->tags[i].v, sizeof l->vals[i]);
		}
		l->ntags = s->ntags;
		return 0;
	}
	unsigned k = 0;
	for (unsigned i = 0; i < l->ntags; i++) {
		int keep = 0;
		for (unsigned j = 0; j < s->ntags && !keep; j++)
			keep = strcmp(s->tags[j].k, l->keys[i]) == 0 && strcmp(s->tags[j].v, l->vals[i]) == 0;
		if (keep && k != i) {
			memcpy(l->keys[k], l->keys[i], sizeof l->keys[k]);
			memcpy(l->vals[k], l->vals[i], sizeof l->vals[k]);
		}
		k += keep;
	}
	l->ntags = k;
	return 0;
}

static int latest_json(mx_api *a, const char *agent, json_t **metrics, json_t **tags)
{
	struct latest *l = xcalloc(1, sizeof *l);
	mx_filter f = { NULL, agent, NULL, 0, 0, INT64_MAX, NULL, NULL };
	int rc;
	l->metrics = json_object();
	l->first = 1;
	*tags = json_object();
	rc = l->metrics && *tags ? mx_db_latest(a->db, &f, latest_cb, l) : -ENOMEM;
	const char *k;
	json_t *m;
	json_object_foreach(l->metrics, k, m)
		json_object_del(m, "ts_ms");
	for (unsigned i = 0; rc == 0 && i < l->ntags; i++)
		if (json_object_set_new(*tags, l->keys[i], json_string(l->vals[i])))
			rc = -ENOMEM;
	if (rc) {
		json_decref(l->metrics);
		json_decref(*tags);
		*tags = NULL;
	} else {
		*metrics = l->metrics;
	}
	free(l);
	return rc;
}

static int one_text(store_conn *c, const char *sql, const char *arg, char *out, size_t outlen)
{
	store_rows *rows = NULL;
	int rc = store_query(c, sql, &rows, SARGS(SA_TEXT(arg)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(out, store_rows_text(rows, 0), outlen);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

static int agent_json(mx_api *a, store_conn *c, const mx_agent_info *in, json_t **out)
{
	char owner[72] = "";
	json_t *shares = json_array(), *metrics = NULL, *tags = NULL;
	int rc = shares ? 0 : -ENOMEM;
	if (rc == 0 && in->owner[0]) {
		rc = one_text(c, "SELECT username FROM users WHERE id = $1", in->owner, owner,
			      sizeof owner);
		if (rc == -ENOENT) /* a removed user: the id is all there is */
			rc = sn_strlcpy(owner, in->owner, sizeof owner) ? -EIO : 0;
	}
	for (size_t i = 0; rc == 0 && i < in->nshares; i++) {
		char group[72];
		rc = one_text(c, "SELECT name FROM user_groups WHERE id = $1", in->shares[i].group,
			      group, sizeof group);
		if (rc == -ENOENT) { /* a removed group: its share grants nothing */
			rc = 0;
			continue;
		}
		json_t *s = rc ? NULL : json_pack("{s:s,s:s}", "group", group, "access",
						  in->shares[i].write ? "write" : "read");
		if (rc == 0 && (!s || json_array_append_new(shares, s)))
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = latest_json(a, in->name, &metrics, &tags);
	if (rc) {
		json_decref(shares);
		return rc;
	}
	int online = sn_now_ms() - in->last_seen <= a->cfg.agent_timeout_ms;
	*out = json_pack("{s:s,s:o,s:b,s:o,s:s,s:o,s:o,s:o,s:o}", "name", in->name, "owner",
			 owner[0] ? json_string(owner) : json_null(), "public", in->public_,
			 "shares", shares, "status", online ? "online" : "offline", "first_seen",
			 http_json_time(in->first_seen), "last_seen", http_json_time(in->last_seen),
			 "metrics", metrics, "tags", tags);
	return *out ? 0 : -ENOMEM;
}

static void reply_rc(http_req *r, int rc, const char *what)
{
	if (rc == STORE_EBUSY)
		rc = -ETIMEDOUT;
	else if (rc < -1000)
		rc = -EIO;
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such agent");
	else
		http_reply_errno(r, rc, "%s", what);
}

/* ---- handlers ---- */

/* GET /api/v1/agents; the cursor is the last name given. */
static void h_list(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	mx_viewer v;
	const char *cursor = NULL;
	char (*names)[MX_NAME_MAX + 1] = NULL;
	size_t n = 0, i;
	int limit, rc = 0;
	store_conn *c = NULL;
	json_t *items = NULL;
	if (http_page(r, &limit, &cursor))
		return;
	mx_viewer_init(&v, auth_caller(r));
	mx_agents_list(a->agents, &v, cursor, &names, &n);
	items = json_array();
	rc = items ? store_acquire(a->st, &c) : -ENOMEM;
	for (i = 0; rc == 0 && i < n && i < (size_t)limit; i++) {
		mx_agent_info info;
		json_t *j = NULL;
		if (mx_agents_get(a->agents, &v, names[i], &info, NULL))
			continue; /* deleted meanwhile */
		rc = agent_json(a, c, &info, &j);
		if (rc == 0 && json_array_append_new(items, j))
			rc = -ENOMEM;
	}
	store_release(&c);
	if (rc) {
		json_decref(items);
		reply_rc(r, rc, "cannot list the agents");
	} else {
		http_reply_list(r, items, n > (size_t)limit ? names[limit - 1] : NULL);
	}
	free(names);
}

static int lookup(http_req *r, mx_api *a, mx_viewer *v, mx_agent_info *info,
		  enum mx_access *acc)
{
	const char *name = http_req_param(r, "agent");
	mx_viewer_init(v, auth_caller(r));
	if (!mx_name_ok(name) || mx_agents_get(a->agents, v, name, info, acc)) {
		http_reply_error(r, 404, "not_found", "no such agent");
		return -ENOENT;
	}
	return 0;
}

static void reply_agent(http_req *r, mx_api *a, const mx_agent_info *info)
{
	store_conn *c = NULL;
	json_t *j = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = agent_json(a, c, info, &j);
	store_release(&c);
	if (rc)
		reply_rc(r, rc, "cannot read the agent");
	else
		http_reply_json(r, 200, j);
}

/* GET /api/v1/agents/{agent} */
static void h_get(http_req *r, void *ctx)
{
	mx_viewer v;
	mx_agent_info info;
	if (lookup(r, ctx, &v, &info, NULL) == 0)
		reply_agent(r, ctx, &info);
}

static void set_target(http_req *r)
{
	char t[MX_NAME_MAX + 8];
	snprintf(t, sizeof t, "agent:%s", http_req_param(r, "agent"));
	http_req_set_target(r, t);
}

/* The shares of the body, group names resolved to ids: 0, or replies 400
 * (or the store's error) and returns nonzero. */
static int read_shares(http_req *r, mx_api *a, const json_t *list, share_grant *out, size_t *n)
{
	store_conn *c = NULL;
	char err[512];
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = share_list_read(c, list, out, n, err, sizeof err);
	store_release(&c);
	if (rc == -EINVAL)
		http_reply_error(r, 400, "bad_request", "%s", err);
	else if (rc)
		reply_rc(r, rc, "cannot read the groups");
	return rc;
}

/* PATCH /api/v1/agents/{agent} (owner or admin): public, shares. */
static void h_patch(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	mx_viewer v;
	mx_agent_info info;
	enum mx_access acc;
	int pub = -1;
	share_grant *shares = xcalloc(SHARE_MAX, sizeof *shares);
	size_t nshares = 0;
	const json_t *list = http_req_json(r) ? json_object_get(http_req_json(r), "shares") : NULL;
	set_target(r);
	if (lookup(r, a, &v, &info, &acc))
		goto out;
	if (acc < MX_OWNER) {
		http_reply_error(r, 403, "forbidden", "only the owner or an admin changes it");
		goto out;
	}
	if (http_body_bool(r, "public", 0, &pub))
		goto out;
	if (list && read_shares(r, a, list, shares, &nshares))
		goto out;
	int rc = mx_agents_update(a->agents, info.name, pub, shares, nshares, list != NULL);
	if (rc == 0)
		rc = mx_agents_get(a->agents, &v, info.name, &info, NULL);
	if (rc)
		reply_rc(r, rc, "cannot change the agent");
	else
		reply_agent(r, a, &info);
out:
	free(shares);
}

/* DELETE /api/v1/agents/{agent} (owner or admin): the samples stay until
 * retention; the name may be taken again. */
static void h_delete(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	mx_viewer v;
	mx_agent_info info;
	enum mx_access acc;
	set_target(r);
	if (lookup(r, a, &v, &info, &acc))
		return;
	if (acc < MX_OWNER) {
		http_reply_error(r, 403, "forbidden", "only the owner or an admin removes it");
		return;
	}
	int rc = mx_agents_delete(a->agents, info.name);
	if (rc)
		reply_rc(r, rc, "cannot remove the agent");
	else
		http_reply_json(r, 200, json_pack("{s:s}", "deleted", info.name));
}

size_t mx_agent_routes(mx_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/agents", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/agents/{agent}", h_get, 0, ROLE_MEMBER, NULL, 0, a },
		{ "PATCH", "/api/v1/agents/{agent}", h_patch, 0, ROLE_MEMBER, "agent.update", 0, a },
		{ "DELETE", "/api/v1/agents/{agent}", h_delete, 0, ROLE_MEMBER, "agent.delete", 0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *routes);
	return n;
}
