/* Login, logout and API tokens. The login throttle and the hash gate are
 * in limits.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "auth/auth_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

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

static int dummy_verify(auth *a, const char *password)
{
	pthread_once(&dummy_once, dummy_init);
	return auth_verify(a, dummy_hash, password);
}

/* Copies what a login needs out of the store and gives the connection
 * back before any hashing starts. */
static int load_login(auth *a, const char *username, char hash[AUTH_HASH_MAX], char uid[48],
		      int *disabled)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id, pw_hash, disabled FROM users WHERE username = $1",
				 &rows, SARGS(SA_TEXT(username)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(uid, store_rows_text(rows, 0), 48);
		sn_strlcpy(hash, store_rows_text(rows, 1), AUTH_HASH_MAX);
		*disabled = (int)store_rows_int(rows, 2);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

int auth_login_check(auth *a, const char *username, const char *password, const char *addr,
		     char uid[48], int64_t *retry_ms)
{
	struct auth_attempt t;
	char hash[AUTH_HASH_MAX];
	int disabled = 0;
	int rc = auth_throttle_begin(a, username, addr, &t, retry_ms);
	if (rc)
		return rc;
	if (t.delay_ms > 0)
		auth_sleep_ms(t.delay_ms);
	rc = load_login(a, username, hash, uid, &disabled);
	if (rc == -ENOENT)
		rc = dummy_verify(a, password) == -EBUSY ? -EBUSY : -EACCES;
	else if (rc == 0)
		rc = auth_verify(a, hash, password);
	/* A bad stored hash and a disabled account fail like a wrong password,
	 * so that the answer tells nothing about the account. */
	if (rc == -EINVAL || (rc == 0 && disabled))
		rc = -EACCES;
	auth_throttle_end(a, &t, rc == 0 ? ATTEMPT_OK : rc == -EACCES ? ATTEMPT_FAILED
				    : ATTEMPT_UNVERIFIED);
	sodium_memzero(hash, sizeof hash);
	return rc;
}

static int insert_token(store_conn *c, const char *user_id, const char *kind, const char *name,
			int64_t expires, enum auth_scope scope, char **token, char **id)
{
	char hash[65];
	*token = auth_token_new(hash);
	*id = sn_id_new("tok_");
	int rc = store_exec(c, "INSERT INTO tokens (id, user_id, hash, kind, name, created_at, expires_at,"
			       " scope) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
			    NULL, SARGS(SA_TEXT(*id), SA_TEXT(user_id), SA_TEXT(hash), SA_TEXT(kind),
					SA_TEXT(name), SA_INT(sn_now_ms()),
					expires < 0 ? SA_NULL : SA_INT(expires),
					SA_TEXT(auth_scope_name(scope))));
	if (rc) {
		xfree(token);
		xfree(id);
	}
	return rc;
}

/* A browser session (csrf set) gets its CSRF token instead of the token,
 * which only the HttpOnly cookie holds. */
static json_t *login_json(store_conn *c, const char *token, const char *csrf, int64_t exp,
			  const char *uid)
{
	json_t *o = json_object();
	if (o && json_object_set_new(o, csrf ? "csrf_token" : "token",
				     json_string(csrf ? csrf : token)) == 0 &&
	    json_object_set_new(o, "expires_at", http_json_time(exp)) == 0 &&
	    json_object_set_new(o, "user", auth_user_json(c, uid)) == 0)
		return o;
	json_decref(o);
	return NULL;
}

static void h_login(http_req *r, void *ctx)
{
	auth *a = ctx;
	const char *username, *password, *session = "token";
	store_conn *c = NULL;
	char *token = NULL, *tid = NULL, uid[48], csrf[65];
	int64_t retry = 0;
	if (http_body_str(r, "username", 1, 64, &username) ||
	    http_body_str(r, "password", 1, 1024, &password) ||
	    http_body_str(r, "session", 0, 16, &session))
		return;
	int cookie = strcmp(session, "cookie") == 0;
	if (!cookie && strcmp(session, "token") != 0) {
		http_reply_error(r, 400, "bad_request", "field 'session' must be token or cookie");
		return;
	}
	http_req_set_auth(r, NULL, NULL, username);
	int rc = auth_login_check(a, username, password, http_req_addr(r), uid, &retry);
	if (rc == -EAGAIN) {
		auth_reply_throttled(r, retry, "logins");
		return;
	}
	if (rc == -EBUSY) {
		auth_reply_busy(r);
		return;
	}
	if (rc == -EACCES) {
		http_reply_error(r, 401, "invalid_credentials", "wrong username or password");
		return;
	}
	if (rc) {
		auth_store_fail(r, rc);
		return;
	}
	int64_t exp = sn_now_ms() + a->cfg.session_ttl_ms;
	if ((rc = store_acquire(a->st, &c)) == 0 && (rc = store_begin(c)) == 0 &&
	    (rc = insert_token(c, uid, "session", "login", exp, AUTH_SCOPE_ALL, &token,
				       &tid)) == 0) {
		http_req_set_target(r, tid);
		rc = auth_commit_audited(a, c, r, 200);
	}
	if (rc) {
		auth_store_fail(r, rc);
		goto out;
	}
	/* Sessions long past their expiry are of no use, not even to the audit
	 * (which keeps its own rows): drop them here, where they are made. */
	store_exec(c, "DELETE FROM tokens WHERE kind = 'session' AND expires_at < $1", NULL,
		   SARGS(SA_INT(sn_now_ms() - 7 * 86400000LL)));
	if (cookie) {
		auth_csrf_token(token, csrf);
		auth_session_cookies(r, token, csrf, a->cfg.session_ttl_ms);
	}
	http_reply_json(r, 200, login_json(c, token, cookie ? csrf : NULL, exp, uid));
out:
	free(token);
	free(tid);
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
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL"
				   " AND (user_id = $3 OR $4 = 'superadmin' OR ($4 = 'admin' AND user_id IN"
				   " (SELECT id FROM users WHERE role = 'member')))", &n,
				SARGS(SA_INT(sn_now_ms()), SA_TEXT(tid), SA_TEXT(me->id),
				      SA_TEXT(auth_role_name(me->role))));
	if (rc == 0 && n)
		rc = auth_commit_audited(a, c, r, 200);
	store_release(&c);
	/* After the commit: a request that reads the store from now on sees the
	 * revocation, and none can put the token back in the cache. */
	if (rc == 0 && n)
		auth_tcache_drop(a->tcache, tid, NULL);
	if (rc)
		return auth_store_fail(r, rc);
	return n ? 0 : -ENOENT;
}

static void h_logout(http_req *r, void *ctx)
{
	const auth_user *u = auth_caller(r);
	http_req_set_target(r, u->token_id);
	if (revoke(ctx, r, u->token_id) != 0)
		return;
	if (u->via_cookie)
		auth_session_cookies(r, NULL, NULL, 0);
	http_reply_json(r, 200, json_pack("{s:b}", "revoked", 1));
}

static json_t *token_json(store_rows *rows)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o}", "id", store_rows_text(rows, 0),
			 "scope", store_rows_text(rows, 7), "name",
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
	const char *name = NULL, *scope_s = "all";
	enum auth_scope scope;
	int64_t days = 0;
	store_conn *c = NULL;
	char *token = NULL, *tid = NULL;
	if (http_body_str(r, "name", 1, 128, &name) ||
	    http_body_int(r, "expires_in_days", 0, 0, 3650, &days) ||
	    http_body_str(r, "scope", 0, 32, &scope_s))
		return;
	if (!*name) {
		http_reply_error(r, 400, "bad_request", "field 'name' must not be empty");
		return;
	}
	if (auth_scope_parse(scope_s, &scope)) {
		http_reply_error(r, 400, "bad_request", "field 'scope' must be all or metrics:write");
		return;
	}
	int64_t now = sn_now_ms(), exp = days > 0 ? now + days * 86400000LL : -1;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0 && (rc = insert_token(c, u->id, "api", name, exp, scope, &token, &tid)) == 0) {
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
	http_reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o}", "id", tid, "token", token,
					   "name", name, "kind", "api", "scope", auth_scope_name(scope),
					   "created_at", http_json_time(now), "expires_at",
					   http_json_time(exp)));
	free(token);
	free(tid);
}

static void h_token_list(http_req *r, void *ctx)
{
	int limit;
	const char *cursor;
	if (http_page(r, &limit, &cursor) == 0)
		auth_reply_page(r, ctx, "SELECT id, name, kind, created_at, expires_at, revoked_at,"
				" last_used_at, scope FROM tokens WHERE user_id = $1 AND kind = 'api' AND id > $2"
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

/* The token in use as the auth hook verified it: answered from what the
 * hook found (the token cache), with no store read, so it is also what
 * bench/http.sh times as the cost of authentication itself. */
static void h_token_self(http_req *r, void *ctx)
{
	(void)ctx;
	const auth_user *u = auth_caller(r);
	http_reply_json(r, 200, json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "id", u->token_id, "scope",
					   auth_scope_name(u->scope), "user", "id", u->id,
					   "username", u->username, "role", auth_role_name(u->role)));
}

size_t auth_token_routes(auth *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/auth/login", h_login, HTTP_PUBLIC, 0, "auth.login", 0, a },
		{ "POST", "/api/v1/auth/logout", h_logout, 0, ROLE_MEMBER, "auth.logout", 0, a },
		{ "GET", "/api/v1/auth/token", h_token_self, 0, ROLE_MEMBER, NULL, 0, a },
		{ "POST", "/api/v1/tokens", h_token_create, 0, ROLE_MEMBER, "token.create", 0, a },
		{ "GET", "/api/v1/tokens", h_token_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "DELETE", "/api/v1/tokens/{id}", h_token_revoke, 0, ROLE_MEMBER, "token.revoke", 0, a },
	};
	return auth_copy_routes(routes, sizeof routes / sizeof routes[0], out, max);
}
