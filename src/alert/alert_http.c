/* The alert routes (docs/metrics.md, "Alerts"): rules, their events, and
 * the webhook setting. A member sees and deletes their own rules and
 * events; admins all of them. A rule someone may not see is answered 404,
 * as one that does not exist. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "alert/alert_int.h"

#define RULE_COLS "r.id, r.owner_id, u.username, r.spec, r.created_at"

/* A detector rule's stored form names the detector only; the API shows
 * the metric rule it stands for too. */
static int detector_fields(json_t *o)
{
	const char *d = json_string_value(json_object_get(o, "detector"));
	return d && (json_object_set_new(o, "metric", json_string("anomaly.flag")) ||
		     json_object_set_new(o, "tags", json_pack("{s:s}", "detector", d)) ||
		     json_object_set_new(o, "agg", json_string("max")) ||
		     json_object_set_new(o, "op", json_string(">")) ||
		     json_object_set_new(o, "threshold", json_real(0)));
}

/* A rule row (RULE_COLS) as the API shows it: the spec's fields, then who,
 * when and the live state. */
static int rule_json(alert_mgr *a, store_rows *rows, json_t **out)
{
	json_t *o = json_loads(store_rows_text(rows, 3), 0, NULL);
	const char *id = store_rows_text(rows, 0);
	if (!json_is_object(o) || detector_fields(o) ||
	    json_object_set_new(o, "id", json_string(id)) ||
	    json_object_set_new(o, "owner_id", json_string(store_rows_text(rows, 1))) ||
	    json_object_set_new(o, "owner", store_rows_isnull(rows, 2) ? json_null()
					     : json_string(store_rows_text(rows, 2))) ||
	    json_object_set_new(o, "created_at", http_json_time(store_rows_int(rows, 4)))) {
		json_decref(o);
		return -ENOMEM;
	}
	alert_rule_live(a, id, o);
	*out = o;
	return 0;
}

int alert_rule_get(alert_mgr *a, const auth_user *u, const char *id, json_t **out)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(alert_store(a), &c);
	if (rc == 0)
		rc = store_query(c, "SELECT " RULE_COLS " FROM alert_rules r LEFT JOIN users u ON"
				 " u.id = r.owner_id WHERE r.id = $1 AND ($2 = 1 OR r.owner_id = $3)",
				 &rows, SARGS(SA_TEXT(id), SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = rule_json(a, rows, out);
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

static void reply_rule(http_req *r, alert_mgr *a, const char *id, int status)
{
	json_t *o = NULL;
	int rc = alert_rule_get(a, auth_caller(r), id, &o);
	if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such alert rule" : NULL);
	else
		http_reply_json(r, status, o);
}

static void target(http_req *r, const char *kind, const char *id)
{
	char t[80];
	snprintf(t, sizeof t, "%s:%.64s", kind, id);
	http_req_set_target(r, t);
}

static void h_create(http_req *r, void *ctx)
{
	alert_mgr *a = ctx;
	char id[ALERT_ID_MAX], err[300];
	int rc = alert_rule_create(a, auth_caller(r), http_req_json(r), id, err, sizeof err);
	if (rc == -EINVAL)
		http_reply_error(r, 400, "bad_request", "%s", err);
	else if (rc == -EPERM)
		http_reply_errno(r, rc, "%s", err);
	else if (rc)
		http_reply_errno(r, rc, NULL);
	else {
		target(r, "alert", id);
		reply_rule(r, a, id, 201);
	}
}

static void h_show(http_req *r, void *ctx)
{
	reply_rule(r, ctx, http_req_param(r, "id"), 200);
}

static void h_replace(http_req *r, void *ctx)
{
	alert_mgr *a = ctx;
	const char *id = http_req_param(r, "id");
	char err[300];
	target(r, "alert", id);
	int rc = alert_rule_replace(a, auth_caller(r), id, http_req_json(r), err, sizeof err);
	if (rc == -EINVAL)
		http_reply_error(r, 400, "bad_request", "%s", err);
	else if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such alert rule" : NULL);
	else
		reply_rule(r, a, id, 200);
}

static void h_delete(http_req *r, void *ctx)
{
	const char *id = http_req_param(r, "id");
	target(r, "alert", id);
	int rc = alert_rule_delete(ctx, auth_caller(r), id);
	if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such alert rule" : NULL);
	else
		http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", id, "deleted", 1));
}

/* A cursor "ts.id" of the last item of a page, newest first. */
static int cursor_parse(http_req *r, const char *cursor, int64_t *ts, char id[40])
{
	*ts = INT64_MAX;
	sn_strlcpy(id, "~", 40);
	if (cursor && sscanf(cursor, "%" SCNd64 ".%39s", ts, id) != 2) {
		http_reply_error(r, 400, "bad_request", "query parameter 'cursor' is malformed");
		return -EINVAL;
	}
	return 0;
}

/* Replies a page of a list, newest first: sql's rows (at most limit + 1,
 * its last parameter, ordered by time then id descending; the id in
 * column 0, the time in column ts_col) made items by item_json, and the
 * cursor "ts.id" of the last item when a row is left over. */
static void reply_page(http_req *r, alert_mgr *a, int limit, int ts_col,
		       int (*item_json)(alert_mgr *a, store_rows *rows, json_t **out),
		       const char *sql, int nargs, const store_arg *args)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char next[64] = "";
	int n = 0;
	json_t *items = json_array(), *j;
	int rc = items ? store_acquire(alert_store(a), &c) : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, sql, &rows, nargs, args);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (++n > limit)
			break;
		snprintf(next, sizeof next, "%" PRId64 ".%.40s", store_rows_int(rows, ts_col),
			 store_rows_text(rows, 0));
		if ((rc = item_json(a, rows, &j)) == 0 && json_array_append_new(items, j))
			rc = -ENOMEM;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc) {
		json_decref(items);
		http_reply_errno(r, rc, NULL);
		return;
	}
	http_reply_list(r, items, n > limit ? next : NULL);
}

static void h_list(http_req *r, void *ctx)
{
	const auth_user *u = auth_caller(r);
	const char *cursor;
	char cid[40];
	int64_t cts;
	int limit;
	if (http_page(r, &limit, &cursor) || cursor_parse(r, cursor, &cts, cid))
		return;
	reply_page(r, ctx, limit, 4, rule_json,
		   "SELECT " RULE_COLS " FROM alert_rules r LEFT JOIN users u ON u.id = r.owner_id"
		   " WHERE ($1 = 1 OR r.owner_id = $2) AND (r.created_at < $3 OR (r.created_at = $3"
		   " AND r.id < $4)) ORDER BY r.created_at DESC, r.id DESC LIMIT $5",
		   SARGS(SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id), SA_INT(cts), SA_TEXT(cid),
			 SA_INT(limit + 1)));
}

/* An event row (id, ts, body): the stored body is the event as it was
 * published. */
static int event_json(alert_mgr *a, store_rows *rows, json_t **out)
{
	(void)a;
	*out = json_loads(store_rows_text(rows, 2), 0, NULL);
	return *out ? 0 : -ENOMEM;
}

/* Events of one rule (rule_id) or of every rule the caller sees, newest
 * first. */
static void events(http_req *r, alert_mgr *a, const char *rule_id)
{
	const auth_user *u = auth_caller(r);
	const char *cursor;
	char cid[40];
	int64_t cts;
	int limit;
	json_t *rule = NULL;
	if (http_page(r, &limit, &cursor) || cursor_parse(r, cursor, &cts, cid))
		return;
	int rc = rule_id ? alert_rule_get(a, u, rule_id, &rule) : 0;
	json_decref(rule);
	if (rc) {
		http_reply_errno(r, rc, rc == -ENOENT ? "no such alert rule" : NULL);
		return;
	}
	/* CAST: PostgreSQL cannot type a parameter it first meets in IS NULL. */
	reply_page(r, a, limit, 1, event_json,
		   "SELECT id, ts, body FROM alert_events WHERE ($1 = 1 OR owner_id = $2) AND"
		   " (CAST($3 AS TEXT) IS NULL OR rule_id = $3) AND (ts < $4 OR (ts = $4 AND id < $5))"
		   " ORDER BY ts DESC, id DESC LIMIT $6",
		   SARGS(SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id), SA_TEXT(rule_id), SA_INT(cts),
			 SA_TEXT(cid), SA_INT(limit + 1)));
}

static void h_events(http_req *r, void *ctx)
{
	events(r, ctx, http_req_param(r, "id"));
}

static void h_events_all(http_req *r, void *ctx)
{
	events(r, ctx, NULL);
}

static void reply_webhooks(http_req *r, alert_mgr *a)
{
	json_t *o = alert_webhooks_json(a);
	if (o)
		http_reply_json(r, 200, o);
	else
		http_reply_errno(r, -ENOMEM, NULL);
}

static void h_webhooks_get(http_req *r, void *ctx)
{
	reply_webhooks(r, ctx);
}

/* Stored first, then used: a store failure changes nothing. */
static void h_webhooks_put(http_req *r, void *ctx)
{
	alert_mgr *a = ctx;
	json_t *body = http_req_json(r), *urls = json_object_get(body, "urls");
	const char *k;
	json_t *v;
	char err[300], *text = NULL;
	http_req_set_target(r, "settings:webhooks");
	json_object_foreach(body, k, v)
		if (strcmp(k, "urls")) {
			http_reply_error(r, 400, "bad_request", "unknown field \"%.64s\"", k);
			return;
		}
	int rc = alert_hooks_check(urls, err, sizeof err);
	if (rc) {
		http_reply_error(r, 400, "bad_request", "%s", err);
		return;
	}
	store_conn *c = NULL;
	if (!(text = json_dumps(urls, JSON_COMPACT)))
		rc = -ENOMEM;
	if (rc == 0 && (rc = store_acquire(alert_store(a), &c)) == 0)
		rc = store_exec(c, "INSERT INTO alert_settings (name, value) VALUES ('webhooks', $1)"
				" ON CONFLICT (name) DO UPDATE SET value = excluded.value", NULL,
				SARGS(SA_TEXT(text)));
	store_release(&c);
	free(text);
	if (rc == 0)
		rc = alert_webhooks_set(a, urls);
	if (rc)
		http_reply_errno(r, rc, NULL);
	else
		reply_webhooks(r, a);
}

size_t alert_http_routes(alert_mgr *a, http_route *out, size_t max)
{
	/* Literal paths before {id}: the first match wins. */
	const http_route routes[] = {
		{ "POST", "/api/v1/alerts", h_create, 0, ROLE_MEMBER, "alert.create", 0, a },
		{ "GET", "/api/v1/alerts", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/alerts/events", h_events_all, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/alerts/{id}", h_show, 0, ROLE_MEMBER, NULL, 0, a },
		{ "PUT", "/api/v1/alerts/{id}", h_replace, 0, ROLE_MEMBER, "alert.update", 0, a },
		{ "DELETE", "/api/v1/alerts/{id}", h_delete, 0, ROLE_MEMBER, "alert.delete", 0, a },
		{ "GET", "/api/v1/alerts/{id}/events", h_events, 0, ROLE_MEMBER, NULL, 0, a },
		{ "GET", "/api/v1/settings/webhooks", h_webhooks_get, 0, ROLE_ADMIN, NULL, 0, a },
		{ "PUT", "/api/v1/settings/webhooks", h_webhooks_put, 0, ROLE_ADMIN,
		  "settings.webhooks", 64 << 10, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
