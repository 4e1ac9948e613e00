/* The audit log: one insert-only row per mutating request, published as an
 * "audit" event. A change is committed together with its row
 * (auth_commit_audited), so no crash leaves one without the other; requests
 * that changed nothing are recorded by the http done hook before the reply
 * is queued.
 *
 * Refusals (401, 403, 429, 503) coalesce, so that no one who can reach the
 * port grows the table at request rate: they share one row, with a count,
 * per status, action, address, minute and actor (username or login name);
 * past AUDIT_REFUSAL_ROWS_PER_MIN rows in a minute, further refusals of that
 * minute share one row per status and action with actor and address "*".
 * Only such a row's count ever changes; every other row is insert-only
 * (triggers in migration 2).
 *
 * Retention: auth_audit_purge deletes the rows older than the retention in
 * one statement, at start and daily. The delete trigger admits only rows
 * older than audit_purge.cutoff, which a trigger keeps at least a day in
 * the past; no route writes either table. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth/auth_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

#define AUDIT_REFUSAL_ROWS_PER_MIN 300

static const char *outcome(int status)
{
	if (status < 400)
		return "success";
	if (status == 401 || status == 403 || status == 429)
		return "denied";
	return "failure";
}

/* Time-ordered id: 12 hex digits of milliseconds, then randomness. */
static char *audit_id(int64_t now)
{
	unsigned char r[6];
	char hex[13];
	sn_random(r, sizeof r);
	sn_hex(r, sizeof r, hex);
	return xasprintf("a_%012llx%s", (unsigned long long)now, hex);
}

static int audit_insert(store_conn *c, http_req *r, const char *action, int status,
			const char *id, int64_t now)
{
	const auth_user *u = auth_caller(r);
	int rc = store_exec(c, "INSERT INTO audit (id, ts, actor_id, actor, action, target, outcome,"
			       " status, address, request_id) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
			    NULL, SARGS(SA_TEXT(id), SA_INT(now), SA_TEXT(u ? u->id : NULL),
					SA_TEXT(http_req_actor(r)), SA_TEXT(action),
					SA_TEXT(http_req_target(r)), SA_TEXT(outcome(status)),
					SA_INT(status), SA_TEXT(http_req_addr(r)), SA_TEXT(http_req_id(r))));
	if (rc)
		log_error("audit: cannot record %s by %s: %d", action,
			  http_req_actor(r) ? http_req_actor(r) : "-", rc);
	return rc;
}

/* "local:<unix user>": who ran a local command; the uid when the user has
 * no name (a container without /etc/passwd entry). */
static void local_actor(char *out, size_t n)
{
	const struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name && *pw->pw_name)
		snprintf(out, n, "local:%s", pw->pw_name);
	else
		snprintf(out, n, "local:uid=%u", (unsigned)getuid());
}

int auth_audit_local_in(store_conn *c, const char *action, const char *target, int status)
{
	char actor[96];
	int64_t now = sn_now_ms();
	char *id = audit_id(now);
	local_actor(actor, sizeof actor);
	int rc = store_exec(c, "INSERT INTO audit (id, ts, actor_id, actor, action, target, outcome,"
			       " status, address, request_id) VALUES ($1,$2,NULL,$3,$4,$5,$6,$7,NULL,NULL)",
			    NULL, SARGS(SA_TEXT(id), SA_INT(now), SA_TEXT(actor), SA_TEXT(action),
					SA_TEXT(target), SA_TEXT(outcome(status)), SA_INT(status)));
	if (rc)
		log_error("audit: cannot record %s by %s: %d", action, actor, rc);
	free(id);
	return rc;
}

int auth_audit_local(store *st, const char *action, const char *target, int status)
{
	store_conn *c = NULL;
	int rc = store_acquire(st, &c);
	if (rc == 0)
		rc = auth_audit_local_in(c, action, target, status);
	store_release(&c);
	return rc;
}

static int coalesces(int status)
{
	return status == 401 || status == 403 || status == 429 || status == 503;
}

/* Records refusal r in its minute's row; *fresh tells whether the row is
 * new (then it is published). */
static int audit_coalesce(auth *a, store_conn *c, http_req *r, const char *action, int status,
			  const char *id, int64_t now, int *fresh)
{
	const auth_user *u = auth_caller(r);
	const char *actor = http_req_actor(r), *addr = http_req_addr(r), *target = http_req_target(r);
	int64_t minute = now / 60000;
	store_rows *rows = NULL;
	pthread_mutex_lock(&a->mu);
	if (a->audit_minute != minute) {
		a->audit_minute = minute;
		a->audit_rows = 0;
	}
	int over = a->audit_rows >= AUDIT_REFUSAL_ROWS_PER_MIN;
	pthread_mutex_unlock(&a->mu);
	if (over) {
		u = NULL;
		actor = addr = "*";
		target = NULL;
	}
	/* The actor is free text (a login name), so it goes last: the fields
	 * before it contain no '|', which keeps the key unambiguous. */
	char *key = xasprintf("%d|%s|%s|%lld|%s", status, action, addr ? addr : "",
			      (long long)minute, actor ? actor : "");
	int rc = store_query(c, "INSERT INTO audit (id, ts, actor_id, actor, action, target, outcome,"
				" status, address, request_id, count, coalesce_key)"
				" VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,1,$11)"
				" ON CONFLICT (coalesce_key) DO UPDATE SET count = audit.count + 1"
				" RETURNING count", &rows,
			     SARGS(SA_TEXT(id), SA_INT(now), SA_TEXT(u ? u->id : NULL), SA_TEXT(actor),
				   SA_TEXT(action), SA_TEXT(target), SA_TEXT(outcome(status)),
				   SA_INT(status), SA_TEXT(addr), SA_TEXT(http_req_id(r)), SA_TEXT(key)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		*fresh = store_rows_int(rows, 0) == 1;
		rc = 0;
	} else if (rc == 0) {
		rc = -EIO;
	}
	store_rows_free(&rows);
	free(key);
	if (rc) {
		log_error("audit: cannot record %s by %s: %d", action, actor ? actor : "-", rc);
	} else if (*fresh) {
		pthread_mutex_lock(&a->mu);
		if (a->audit_minute == minute)
			a->audit_rows++;
		pthread_mutex_unlock(&a->mu);
	}
	return rc;
}

static void audit_publish(auth *a, http_req *r, const char *action, int status, const char *id,
			  int64_t now)
{
	if (!a->events)
		return;
	json_t *ev = json_pack("{s:s,s:o,s:s?,s:s,s:s?,s:s,s:i}", "id", id, "ts", http_json_time(now),
			       "actor", http_req_actor(r), "action", action, "target",
			       http_req_target(r), "outcome", outcome(status), "status", status);
	char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (s)
		hub_publish(a->events, "audit", s);
	else
		log_warn("audit: cannot encode the event of %s", action);
	free(s);
	json_decref(ev);
}

static const char *action_of(const http_route *route)
{
	return route->action ? route->action : route->pattern;
}

int auth_commit_audited(auth *a, store_conn *c, http_req *r, int status)
{
	const char *action = action_of(http_req_route(r));
	int64_t now = sn_now_ms();
	char *id = audit_id(now);
	int rc = audit_insert(c, r, action, status, id, now);
	if (rc == 0)
		rc = store_commit(c);
	if (rc == 0) {
		http_req_set_audited(r);
		audit_publish(a, r, action, status, id, now);
	}
	free(id);
	return rc;
}

/* The done hook records what no handler recorded itself: refusals and
 * failures, which changed nothing. Refusals of anonymous callers are
 * recorded too (coalesced, so they cost a row per minute, not per request). */
void auth_audit_hook(http_req *r, const http_route *route, int status, void *ctx)
{
	auth *a = ctx;
	const char *m = http_req_method(r);
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || http_req_audited(r))
		return;
	/* An anonymous caller on a non-public route did nothing but be
	 * refused; anything else from one is not worth a row. */
	if (!auth_caller(r) && !(route->flags & HTTP_PUBLIC) && !coalesces(status))
		return;
	/* Nodes' routine traffic (work, logs, results) and metrics ingest
	 * would be a row per request; their refusals still count, and routes
	 * with an action (register) are recorded. */
	if ((route->flags & (HTTP_NODE | HTTP_INGEST)) && !route->action && !coalesces(status))
		return;
	int64_t now = sn_now_ms();
	char *id = audit_id(now);
	store_conn *c = NULL;
	int fresh = 1, rc = store_acquire(a->st, &c);
	if (rc)
		/* The row is lost, but not silently: the log keeps what it would hold. */
		log_error("audit: cannot record %s by %s (status %d): store busy", action_of(route),
			  http_req_actor(r) ? http_req_actor(r) : "-", status);
	else if (coalesces(status))
		rc = audit_coalesce(a, c, r, action_of(route), status, id, now, &fresh);
	else
		rc = audit_insert(c, r, action_of(route), status, id, now);
	store_release(&c);
	if (rc == 0 && fresh)
		audit_publish(a, r, action_of(route), status, id, now);
	free(id);
}

int auth_audit_purge(auth *a, int64_t now)
{
	int64_t cutoff = now - a->cfg.audit_retention_ms, n = 0;
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc) {
		log_error("audit: cannot delete the rows past the retention: store busy");
		return rc;
	}
	rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE audit_purge SET cutoff = $1 WHERE id = 1", NULL,
				SARGS(SA_INT(cutoff)));
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM audit WHERE ts < $1", &n, SARGS(SA_INT(cutoff)));
	if (rc == 0)
		rc = store_commit(c);
	if (rc)
		log_error("audit: cannot delete the rows past the retention: %s (%d)",
			  store_errmsg(c), rc);
	else if (n > 0)
		log_info("audit: deleted %lld rows older than the retention", (long long)n);
	store_release(&c);
	return rc;
}

static json_t *audit_row_json(store_rows *rows)
{
	json_t *o = json_pack("{s:s,s:o,s:s,s:s,s:i,s:I}", "id", store_rows_text(rows, 0), "ts",
			      http_json_time(store_rows_int(rows, 1)), "action",
			      store_rows_text(rows, 4), "outcome", store_rows_text(rows, 6), "status",
			      (int)store_rows_int(rows, 7), "count", (json_int_t)store_rows_int(rows, 10));
	static const struct { int col; const char *key; } opt[] = {
		{ 2, "actor_id" }, { 3, "actor" }, { 5, "target" }, { 8, "address" }, { 9, "request_id" },
	};
	for (size_t i = 0; o && i < sizeof opt / sizeof opt[0]; i++)
		if (json_object_set_new(o, opt[i].key, store_rows_isnull(rows, opt[i].col)
					   ? json_null() : json_string(store_rows_text(rows, opt[i].col)))) {
			json_decref(o);
			o = NULL;
		}
	return o;
}

static int time_param(http_req *r, const char *name, int64_t *out)
{
	const char *v = http_req_query(r, name);
	if (!v)
		return 0;
	if (sn_time_parse(v, out)) {
		http_reply_error(r, 400, "bad_request",
				 "query parameter '%s' must be an RFC 3339 time", name);
		return -EINVAL;
	}
	return 0;
}

/* Characters of s (valid UTF-8, as every query is): the bytes that do
 * not continue a sequence. */
static int64_t chars(const char *s)
{
	int64_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static void h_list(http_req *r, void *ctx)
{
	int limit;
	const char *cursor;
	int64_t since = 0, until = INT64_MAX;
	if (http_page(r, &limit, &cursor) || time_param(r, "since", &since) ||
	    time_param(r, "until", &until))
		return;
	const char *actor = http_req_query(r, "actor"), *action = http_req_query(r, "action");
	const char *outc = http_req_query(r, "outcome"), *target = http_req_query(r, "target");
	const char *prefix = http_req_query(r, "target_prefix");
	if ((target && strlen(target) > 512) || (prefix && strlen(prefix) > 512)) {
		http_reply_error(r, 400, "bad_request", "query parameters 'target' and 'target_prefix'"
				 " are at most 512 bytes");
		return;
	}
	/* substr(target, 1, n) takes n characters in SQLite and PostgreSQL alike. */
	/* Newest first; the cursor is the id of the last row of the previous page. */
	auth_reply_page(r, ctx, "SELECT id, ts, actor_id, actor, action, target, outcome, status,"
			" address, request_id, count FROM audit WHERE ($1 = '' OR id < $1)"
			" AND ($2 = '' OR actor = $2 OR actor_id = $2) AND ($3 = '' OR action = $3)"
			" AND ($4 = '' OR outcome = $4) AND ts >= $5 AND ts < $6"
			" AND ($8 = '' OR target = $8)"
			" AND ($9 = '' OR substr(target, 1, CAST($10 AS INTEGER)) = $9)"
			" ORDER BY id DESC LIMIT $7",
			SARGS(SA_TEXT(cursor ? cursor : ""), SA_TEXT(actor ? actor : ""),
			      SA_TEXT(action ? action : ""), SA_TEXT(outc ? outc : ""), SA_INT(since),
			      SA_INT(until), SA_INT(limit + 1), SA_TEXT(target ? target : ""), SA_TEXT(prefix ? prefix : ""),
			      SA_INT(prefix ? chars(prefix) : 0)), limit, audit_row_json, "id");
}

size_t auth_audit_routes(auth *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/audit", h_list, 0, ROLE_ADMIN, NULL, 0, a },
	};
	return auth_copy_routes(routes, sizeof routes / sizeof routes[0], out, max);
}
