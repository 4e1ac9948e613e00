/* Login, logout, API tokens and the login throttle.
 * Throttle invariant: a key (user or address) with at least max failures
 * whose last failure is more recent than its lockout is refused with 429
 * before the password is checked; a success clears the user's key;
 * failures older than THROTTLE_FORGET_MS are forgotten. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

#define THROTTLE_FORGET_MS (15 * 60 * 1000LL)
#define LOCKOUT_MAX_MS (15 * 60 * 1000LL)
#define ADDR_FACTOR 4

static struct throttle_slot *slot(auth *a, const char *key, int create, int64_t now)
{
	struct throttle_slot *oldest = &a->throttle[0];
	for (int i = 0; i < THROTTLE_SLOTS; i++) {
		struct throttle_slot *s = &a->throttle[i];
		if (s->key[0] && now - s->last_ms > THROTTLE_FORGET_MS)
			s->key[0] = '\0';
		if (s->key[0] && strcmp(s->key, key) == 0)
			return s;
		if (!s->key[0] || s->last_ms < oldest->last_ms)
			oldest = s;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof *oldest);
	sn_strlcpy(oldest->key, key, sizeof oldest->key);
	return oldest;
}

static int64_t wait_for(auth *a, struct throttle_slot *s, int max, int64_t now)
{
	if (!s || s->failures < max)
		return 0;
	int64_t lock = a->cfg.login_lockout_ms;
	for (int i = max; i < s->failures && lock < LOCKOUT_MAX_MS; i++)
		lock *= 2;
	if (lock > LOCKOUT_MAX_MS)
		lock = LOCKOUT_MAX_MS;
	int64_t left = s->last_ms + lock - now;
	return left > 0 ? left : 0;
}

int64_t auth_throttle_wait_ms(auth *a, const char *user, const char *addr)
{
	char key[128];
	int64_t now = sn_now_ms(), w1, w2;
	pthread_mutex_lock(&a->mu);
	snprintf(key, sizeof key, "u:%s", user);
	w1 = wait_for(a, slot(a, key, 0, now), a->cfg.login_max_failures, now);
	snprintf(key, sizeof key, "a:%s", addr);
	w2 = wait_for(a, slot(a, key, 0, now), a->cfg.login_max_failures * ADDR_FACTOR, now);
	pthread_mutex_unlock(&a->mu);
	return w1 > w2 ? w1 : w2;
}

void auth_throttle_fail(auth *a, const char *user, const char *addr)
{
	char key[128];
	int64_t now = sn_now_ms();
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < 2; i++) {
		snprintf(key, sizeof key, i ? "a:%s" : "u:%s", i ? addr : user);
		struct throttle_slot *s = slot(a, key, 1, now);
		s->failures++;
		s->last_ms = now;
	}
	pthread_mutex_unlock(&a->mu);
}

void auth_throttle_ok(auth *a, const char *user)
{
	char key[128];
	pthread_mutex_lock(&a->mu);
	snprintf(key, sizeof key, "u:%s", user);
	struct throttle_slot *s = slot(a, key, 0, sn_now_ms());
	if (s)
		s->key[0] = '\0';
	pthread_mutex_unlock(&a->mu);
}

/* A hash to verify against for unknown users, so that the answer takes as
 * long whether or not the user exists. Made once, of a random password. */
static char dummy_hash[AUTH_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_init(void)
{
	char pw[33];
	unsigned char raw[16];
	sn_random(raw, sizeof raw);
	sn_hex(raw, sizeof raw, pw);
	auth_password_hash(pw, dummy_hash);
}

static void dummy_verify(const char *password)
{
	pthread_once(&dummy_once, dummy_init);
	auth_password_verify(dummy_hash, password);
}

static int insert_token(store_conn *c, const char *user_id, const char *kind, const char *name,
			int64_t expires, char **token, char **id)
{
	char hash[65];
	*token = auth_token_new(hash);
	*id = sn_id_new("tok_");
	int rc = store_exec(c, "INSERT INTO tokens (id, user_id, hash, kind, name, created_at, expires_at)"
			       " VALUES ($1, $2, $3, $4, $5, $6, $7)",
			    NULL, SARGS(SA_TEXT(*id), SA_TEXT(user_id), SA_TEXT(hash), SA_TEXT(kind),
					SA_TEXT(name), SA_INT(sn_now_ms()),
					expires < 0 ? SA_NULL : SA_INT(expires)));
	if (rc) {
		xfree(token);
		xfree(id);
	}
	return rc;
}

static void h_login(http_req *r, void *ctx)
{
	auth *a = ctx;
	const char *username, *password;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char *token = NULL, *tid = NULL;
	if (http_body_str(r, "username", 1, 64, &username) ||
	    http_body_str(r, "password", 1, 1024, &password))
		return;
	http_req_set_auth(r, NULL, NULL, username);
	int64_t wait = auth_throttle_wait_ms(a, username, http_req_addr(r));
	if (wait > 0) {
		char ra[32];
		snprintf(ra, sizeof ra, "%lld", (long long)(wait + 999) / 1000);
		http_reply_header(r, "Retry-After", ra);
		http_reply_error(r, 429, "too_many_requests",
				 "too many failed logins; retry in %s s", ra);
		return;
	}
	store_acquire(a->st, &c);
	int rc = store_query(c, "SELECT id, pw_hash, disabled FROM users WHERE username = $1", &rows,
			     SARGS(SA_TEXT(username)));
	if (rc || (rc = store_rows_next(rows)) < 0) {
		auth_store_fail(r, rc);
		goto out;
	}
	if (rc == 0) {
		dummy_verify(password);
		goto denied;
	}
	char *uid = xstrdup(store_rows_text(rows, 0));
	int ok = auth_password_verify(store_rows_text(rows, 1), password) == 0;
	int disabled = (int)store_rows_int(rows, 2);
	store_rows_free(&rows);
	if (!ok) {
		free(uid);
		goto denied;
	}
	if (disabled) {
		free(uid);
		http_reply_error(r, 403, "forbidden", "the account is disabled");
		goto out;
	}
	int64_t exp = sn_now_ms() + a->cfg.session_ttl_ms;
	if ((rc = store_begin(c)) == 0 &&
	    (rc = insert_token(c, uid, "session", "login", exp, &token, &tid)) == 0) {
		http_req_set_target(r, tid);
		rc = auth_commit_audited(a, c, r, 200);
	}
	if (rc) {
		free(uid);
		auth_store_fail(r, rc);
		goto out;
	}
	auth_throttle_ok(a, username);
	/* Sessions long past their expiry are of no use, not even to the audit
	 * (which keeps its own rows): drop them here, where they are made. */
	store_exec(c, "DELETE FROM tokens WHERE kind = 'session' AND expires_at < $1", NULL,
		   SARGS(SA_INT(sn_now_ms() - 7 * 86400000LL)));
	json_t *o = json_object();
	json_object_set_new(o, "token", json_string(token));
	json_object_set_new(o, "expires_at", http_json_time(exp));
	json_object_set_new(o, "user", auth_user_json(c, uid));
	free(uid);
	http_reply_json(r, 200, o);
	goto out;
denied:
	auth_throttle_fail(a, username, http_req_addr(r));
	http_reply_error(r, 401, "unauthorized", "wrong username or password");
out:
	free(token);
	free(tid);
	store_rows_free(&rows);
	store_release(&c);
}

/* Revokes token tid if the caller may: their own, or as an admin a
 * member's, or as a superadmin anyone's (the rule of users.c). A token the
 * caller may not touch is reported as absent (-ENOENT). */
static int revoke(auth *a, http_req *r, const char *tid)
{
	const auth_user *me = auth_caller(r);
	store_conn *c = NULL;
	int64_t n = 0;
	store_acquire(a->st, &c);
	int rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
				   " AND (user_id = $3 OR $4 = 'superadmin' OR ($4 = 'admin' AND user_id IN"
				   " (SELECT id FROM users WHERE role = 'member')))", &n,
				SARGS(SA_INT(sn_now_ms()), SA_TEXT(tid), SA_TEXT(me->id),
				      SA_TEXT(auth_role_name(me->role))));
	if (rc == 0 && n)
		rc = auth_commit_audited(a, c, r, 200);
	store_release(&c);
	if (rc)
		return auth_store_fail(r, rc);
	return n ? 0 : -ENOENT;
}

static void h_logout(http_req *r, void *ctx)
{
	const auth_user *u = auth_caller(r);
	http_req_set_target(r, u->token_id);
	if (revoke(ctx, r, u->token_id) == 0)
		http_reply_json(r, 200, json_pack("{s:b}", "revoked", 1));
}

static json_t *token_json(store_rows *rows)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", store_rows_text(rows, 0), "name",
			 store_rows_text(rows, 1), "kind", store_rows_text(rows, 2), "created_at",
			 http_json_time(store_rows_int(rows, 3)), "expires_at",
			 http_json_time(store_rows_isnull(rows, 4) ? -1 : store_rows_int(rows, 4)),
			 "revoked_at",
			 http_json_time(store_rows_isnull(rows, 5) ? -1 : store_rows_int(rows, 5)),
			 "last_used_at",
			 http_json_time(store_rows_isnull(rows, 6) ? -1 : store_rows_int(rows, 6)));
}

static void h_token_create(http_req *r, void *ctx)
{
	auth *a = ctx;
	const auth_user *u = auth_caller(r);
	const char *name = NULL;
	int64_t days = 0;
	store_conn *c = NULL;
	char *token = NULL, *tid = NULL;
	if (http_body_str(r, "name", 1, 128, &name) ||
	    http_body_int(r, "expires_in_days", 0, 0, 3650, &days))
		return;
	if (!*name) {
		http_reply_error(r, 400, "bad_request", "field 'name' must not be empty");
		return;
	}
	int64_t now = sn_now_ms(), exp = days > 0 ? now + days * 86400000LL : -1;
	store_acquire(a->st, &c);
	int rc = store_begin(c);
	if (rc == 0 && (rc = insert_token(c, u->id, "api", name, exp, &token, &tid)) == 0) {
		http_req_set_target(r, tid);
		rc = auth_commit_audited(a, c, r, 201);
	}
	store_release(&c);
	if (rc) {
		auth_store_fail(r, rc);
		free(token);
		free(tid);
		return;
	}
	http_reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:s,s:o,s:o}", "id", tid, "token", token,
					   "name", name, "kind", "api", "created_at",
					   http_json_time(now), "expires_at", http_json_time(exp)));
	free(token);
	free(tid);
}

static void h_token_list(http_req *r, void *ctx)
{
	int limit;
	const char *cursor;
	if (http_page(r, &limit, &cursor) == 0)
		auth_reply_page(r, ctx, "SELECT id, name, kind, created_at, expires_at, revoked_at,"
				" last_used_at FROM tokens WHERE user_id = $1 AND kind = 'api' AND id > $2"
				" ORDER BY id LIMIT $3",
				SARGS(SA_TEXT(auth_caller(r)->id), SA_TEXT(cursor ? cursor : ""),
				      SA_INT(limit + 1)), limit, token_json, "id");
}

static void h_token_revoke(http_req *r, void *ctx)
{
	const char *id = http_req_param(r, "id");
	http_req_set_target(r, id);
	int rc = revoke(ctx, r, id);
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no active token '%s'", id);
	else if (rc == 0)
		http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", id, "revoked", 1));
}

size_t auth_token_routes(auth *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/auth/login", h_login, HTTP_PUBLIC, 0, "auth.login", 0, a },
		{ "POST", "/api/v1/auth/logout", h_logout, 0, ROLE_MEMBER, "auth.logout", 0, a },
		{ "POST", "/api/v1/tokens", h_token_create, 0, ROLE_MEMBER, "token.create", 0, a },
		{ "GET", "/api/v1/tokens", h_token_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "DELETE", "/api/v1/tokens/{id}", h_token_revoke, 0, ROLE_MEMBER, "token.revoke", 0, a },
	};
	return auth_copy_routes(routes, sizeof routes / sizeof routes[0], out, max);
}
