/* Users: the /me and /users routes.
 * Rules: admins manage members; only a superadmin creates, changes or
 * removes admins and superadmins; the last enabled superadmin can be
 * neither demoted, disabled nor removed (409). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include "auth/auth_int.h"
#include "base/mem.h"
#include "base/util.h"

#define USER_COLS "id, username, role, disabled, created_at, updated_at"
#define PASSWORD_MIN 8

static json_t *user_row_json(store_rows *rows)
{
	return json_pack("{s:s,s:s,s:s,s:b,s:o,s:o}", "id", store_rows_text(rows, 0), "username",
			 store_rows_text(rows, 1), "role", store_rows_text(rows, 2), "disabled",
			 (int)store_rows_int(rows, 3), "created_at",
			 http_json_time(store_rows_int(rows, 4)), "updated_at",
			 http_json_time(store_rows_int(rows, 5)));
}

static json_t *groups_of(store_conn *c, const char *uid)
{
	store_rows *rows = NULL;
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, "SELECT g.name FROM group_members m JOIN user_groups g"
				 " ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY g.name", &rows,
				 SARGS(SA_TEXT(uid)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = json_array_append_new(arr, json_string(store_rows_text(rows, 0))) ? -EILSEQ : 0;
	store_rows_free(&rows);
	if (rc < 0) {
		json_decref(arr);
		arr = NULL;
	}
	return arr;
}

/* The user as JSON, or NULL (absent, a store error or not encodable). */
json_t *auth_user_json(store_conn *c, const char *id)
{
	store_rows *rows = NULL;
	json_t *o = NULL;
	if (store_query(c, "SELECT " USER_COLS " FROM users WHERE id = $1", &rows,
			SARGS(SA_TEXT(id))) == 0 &&
	    store_rows_next(rows) == 1)
		o = user_row_json(rows);
	store_rows_free(&rows);
	if (o && json_object_set_new(o, "groups", groups_of(c, id))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int auth_id_shaped(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0 || !s[n])
		return 0;
	return strspn(s + n, "0123456789abcdef") == strlen(s + n);
}

/* An {id} that has the shape of a user id ("u_" and hex digits) is looked
 * up as an id only, anything else as a username only: a name can never
 * shadow an id (names of that shape are refused at creation; a legacy
 * user named so is reached by its id). */
int auth_user_load(store_conn *c, const char *id_or_name, auth_user *u, int *disabled)
{
	store_rows *rows = NULL;
	int rc = store_query(c, auth_id_shaped(id_or_name, "u_")
				? "SELECT id, username, role, disabled FROM users WHERE id = $1"
				: "SELECT id, username, role, disabled FROM users WHERE username = $1",
			     &rows, SARGS(SA_TEXT(id_or_name)));
	if (rc)
		return rc;
	rc = store_rows_next(rows);
	if (rc == 1) {
		memset(u, 0, sizeof *u);
		sn_strlcpy(u->id, store_rows_text(rows, 0), sizeof u->id);
		sn_strlcpy(u->username, store_rows_text(rows, 1), sizeof u->username);
		if (auth_role_parse(store_rows_text(rows, 2), &u->role))
			u->role = ROLE_NONE;
		if (disabled)
			*disabled = (int)store_rows_int(rows, 3);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

static int valid_username(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !isalnum((unsigned char)s[0]) || auth_id_shaped(s, "u_"))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

static void h_me(http_req *r, void *ctx)
{
	auth *a = ctx;
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc)
		auth_store_fail(r, rc);
	else
		http_reply_json(r, 200, auth_user_json(c, auth_caller(r)->id));
	store_release(&c);
}

static int load_pw_hash(auth *a, const char *uid, char hash[AUTH_HASH_MAX])
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT pw_hash FROM users WHERE id = $1", &rows,
				 SARGS(SA_TEXT(uid)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(hash, store_rows_text(rows, 0), AUTH_HASH_MAX);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

/* Proves the caller's current password under the throttle (failures per
 * account, as for logins: a stolen session must not become a password
 * oracle). Fills old_hash; replies and returns non-zero when not proven. */
static int prove_password(http_req *r, auth *a, const char *cur, char old_hash[AUTH_HASH_MAX])
{
	const auth_user *me = auth_caller(r);
	struct auth_attempt t;
	int64_t retry;
	int rc = auth_throttle_begin(a, me->id, NULL, &t, &retry);
	if (rc) {
		auth_reply_throttled(r, retry, "password checks");
		return rc;
	}
	rc = load_pw_hash(a, me->id, old_hash);
	if (rc == 0)
		rc = auth_verify(a, old_hash, cur);
	if (rc == -EINVAL)
		rc = -EACCES;
	auth_throttle_end(a, &t, rc == 0 ? ATTEMPT_OK : rc == -EACCES ? ATTEMPT_FAILED
				    : ATTEMPT_UNVERIFIED);
	if (rc == -EACCES)
		http_reply_error(r, 403, "forbidden", "field 'current_password' is wrong");
	else if (rc == -EBUSY)
		auth_reply_busy(r);
	else if (rc)
		auth_store_fail(r, rc);
	return rc;
}

/* Anyone changes their own password by proving the current one; the
 * other sessions end, the one in use stays. No store connection is held
 * while hashing; the update applies only if the hash is still the one
 * proven, so two concurrent changes cannot both win. */
static void h_me_password(http_req *r, void *ctx)
{
	auth *a = ctx;
	const auth_user *me = auth_caller(r);
	const char *cur, *pw;
	char hash[AUTH_HASH_MAX], old_hash[AUTH_HASH_MAX];
	store_conn *c = NULL;
	int64_t n = 0;
	if (http_body_str(r, "current_password", 1, 1024, &cur) ||
	    http_body_str(r, "new_password", 1, 1024, &pw))
		return;
	http_req_set_target(r, me->username);
	if (strlen(pw) < PASSWORD_MIN) {
		http_reply_error(r, 422, "weak_password",
				 "field 'new_password' needs at least %d characters", PASSWORD_MIN);
		return;
	}
	if (prove_password(r, a, cur, old_hash))
		return;
	int rc = auth_hash(a, pw, hash);
	if (rc == -EBUSY) {
		auth_reply_busy(r);
		return;
	}
	if (rc) {
		http_reply_error(r, 500, "internal", "cannot hash the password");
		return;
	}
	int64_t now = sn_now_ms();
	if ((rc = store_acquire(a->st, &c)) || (rc = store_begin(c)) ||
	    (rc = store_exec(c, "UPDATE users SET pw_hash = $1, updated_at = $2 WHERE id = $3"
				" AND pw_hash = $4", &n,
			     SARGS(SA_TEXT(hash), SA_INT(now), SA_TEXT(me->id), SA_TEXT(old_hash)))))
		goto fail;
	if (n == 0) {
		http_reply_error(r, 409, "conflict", "the password changed meanwhile; try again");
		goto out;
	}
	if ((rc = store_exec(c, "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND kind = 'session'"
				" AND revoked_at IS NULL AND id <> $3", NULL,
			     SARGS(SA_INT(now), SA_TEXT(me->id), SA_TEXT(me->token_id)))) ||
	    (rc = auth_commit_audited(a, c, r, 200)))
		goto fail;
	/* The session in use is re-read, and stays: it was not revoked. */
	auth_tcache_drop(a->tcache, NULL, me->id);
	http_reply_json(r, 200, json_pack("{s:b}", "changed", 1));
	goto out;
fail:
	auth_store_fail(r, rc);
out:
	store_release(&c);
}

static void h_list(http_req *r, void *ctx)
{
	int limit;
	const char *cursor;
	if (http_page(r, &limit, &cursor) == 0)
		auth_reply_page(r, ctx, "SELECT " USER_COLS " FROM users WHERE username > $1"
				" ORDER BY username LIMIT $2",
				SARGS(SA_TEXT(cursor ? cursor : ""), SA_INT(limit + 1)), limit,
				user_row_json, "username");
}

static int check_password(http_req *r, const char *pw)
{
	if (strlen(pw) < PASSWORD_MIN) {
		http_reply_error(r, 422, "weak_password", "field 'password' needs at least %d characters",
				 PASSWORD_MIN);
		return -EINVAL;
	}
	return 0;
}

static void h_create(http_req *r, void *ctx)
{
	auth *a = ctx;
	const auth_user *me = auth_caller(r);
	const char *username, *password, *role_s = "member";
	enum auth_role role;
	char hash[AUTH_HASH_MAX];
	store_conn *c = NULL;
	if (http_body_str(r, "username", 1, 64, &username) ||
	    http_body_str(r, "password", 1, 1024, &password) ||
	    http_body_str(r, "role", 0, 16, &role_s))
		return;
	if (!valid_username(username)) {
		http_reply_error(r, 400, "bad_request", "field 'username' must be 1-64 letters, digits,"
				 " '.', '_' or '-', starting with a letter or digit, and not shaped"
				 " like a user id (u_ and hex digits)");
		return;
	}
	if (auth_role_parse(role_s, &role)) {
		http_reply_error(r, 400, "bad_request",
				 "field 'role' must be member, admin or superadmin");
		return;
	}
	if (check_password(r, password))
		return;
	if (role >= ROLE_ADMIN && me->role < ROLE_SUPERADMIN) {
		http_reply_error(r, 403, "forbidden", "only a superadmin creates %s users", role_s);
		return;
	}
	int rc = auth_hash(a, password, hash);
	if (rc) {
		if (rc == -EBUSY)
			auth_reply_busy(r);
		else
			http_reply_error(r, 500, "internal", "cannot hash the password");
		return;
	}
	char *id = sn_id_new("u_");
	int64_t now = sn_now_ms();
	http_req_set_target(r, username);
	rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO users (id, username, pw_hash, role, disabled, created_at,"
				   " updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5)", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(username), SA_TEXT(hash), SA_TEXT(role_s),
				      SA_INT(now)));
	if (rc == 0)
		rc = auth_commit_audited(a, c, r, 201);
	if (rc == STORE_ECONSTRAINT)
		http_reply_error(r, 409, "conflict", "user '%s' already exists", username);
	else if (rc)
		auth_store_fail(r, rc);
	else
		http_reply_json(r, 201, auth_user_json(c, id));
	store_release(&c);
	free(id);
}

/* Loads the {id} user and checks the caller may manage it; replies on error. */
static int load_target(http_req *r, store_conn *c, auth_user *u, int *disabled, int manage)
{
	const auth_user *me = auth_caller(r);
	const char *id = http_req_param(r, "id");
	http_req_set_target(r, id);
	int rc = auth_user_load(c, id, u, disabled);
	if (rc == -ENOENT) {
		http_reply_error(r, 404, "not_found", "no user '%s'", id);
		return rc;
	}
	if (rc)
		return auth_store_fail(r, rc);
	if (!manage && (me->role >= ROLE_ADMIN || strcmp(me->id, u->id) == 0))
		return 0;
	if (me->role < ROLE_ADMIN || (u->role >= ROLE_ADMIN && me->role < ROLE_SUPERADMIN)) {
		http_reply_error(r, 403, "forbidden", "you may not %s user '%s'",
				 manage ? "change" : "see", u->username);
		return -EPERM;
	}
	return 0;
}

static void h_get(http_req *r, void *ctx)
{
	auth *a = ctx;
	auth_user u;
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc)
		auth_store_fail(r, rc);
	else if (load_target(r, c, &u, NULL, 0) == 0)
		http_reply_json(r, 200, auth_user_json(c, u.id));
	store_release(&c);
}

/* Whether taking superadmin rights from u would leave none enabled. */
static int last_superadmin(http_req *r, store_conn *c, const auth_user *u)
{
	store_rows *rows = NULL;
	if (u->role != ROLE_SUPERADMIN)
		return 0;
	int rc = store_query(c, "SELECT COUNT(*) FROM users WHERE role = 'superadmin' AND disabled = 0"
			     " AND id <> $1", &rows, SARGS(SA_TEXT(u->id)));
	int last = rc == 0 && store_rows_next(rows) == 1 && store_rows_int(rows, 0) == 0;
	store_rows_free(&rows);
	if (last)
		http_reply_error(r, 409, "conflict", "'%s' is the last enabled superadmin", u->username);
	return last;
}

static void h_patch(http_req *r, void *ctx)
{
	auth *a = ctx;
	const auth_user *me = auth_caller(r);
	auth_user u;
	const char *role_s = NULL, *password = NULL;
	int disabled = -1, was_disabled = 0;
	enum auth_role role = ROLE_NONE;
	char hash[AUTH_HASH_MAX];
	store_conn *c = NULL;
	if (http_body_str(r, "role", 0, 16, &role_s) || http_body_bool(r, "disabled", 0, &disabled) ||
	    http_body_str(r, "password", 0, 1024, &password))
		return;
	if (role_s && auth_role_parse(role_s, &role)) {
		http_reply_error(r, 400, "bad_request",
				 "field 'role' must be member, admin or superadmin");
		return;
	}
	if (role >= ROLE_ADMIN && me->role < ROLE_SUPERADMIN) {
		http_reply_error(r, 403, "forbidden", "only a superadmin grants the %s role", role_s);
		return;
	}
	if (password && check_password(r, password))
		return;
	int rc = password ? auth_hash(a, password, hash) : 0;
	if (rc) {
		if (rc == -EBUSY)
			auth_reply_busy(r);
		else
			http_reply_error(r, 500, "internal", "cannot hash the password");
		return;
	}
	rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc) {
		auth_store_fail(r, rc);
		goto out;
	}
	if (load_target(r, c, &u, &was_disabled, 1))
		goto out;
	if (((role_s && role != ROLE_SUPERADMIN) || disabled == 1) && last_superadmin(r, c, &u))
		goto out;
	int64_t now = sn_now_ms();
	if ((role_s && (rc = store_exec(c, "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3",
					NULL, SARGS(SA_TEXT(role_s), SA_INT(now), SA_TEXT(u.id))))) ||
	    (disabled >= 0 &&
	     (rc = store_exec(c, "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3", NULL,
			      SARGS(SA_INT(disabled), SA_INT(now), SA_TEXT(u.id))))) ||
	    (password &&
	     (rc = store_exec(c, "UPDATE users SET pw_hash = $1, updated_at = $2 WHERE id = $3", NULL,
			      SARGS(SA_TEXT(hash), SA_INT(now), SA_TEXT(u.id))))) ||
	    /* A reset is how an admin recovers a compromised account: every
	     * token ends, API tokens included. Disabling ends the sessions; API
	     * tokens survive it but fail while disabled (auth_hook). */
	    ((password || disabled == 1) &&
	     (rc = store_exec(c, "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2 AND"
				 " ($3 = 1 OR kind = 'session') AND revoked_at IS NULL", NULL,
			      SARGS(SA_INT(now), SA_TEXT(u.id), SA_INT(password != NULL))))) ||
	    (rc = auth_commit_audited(a, c, r, 200))) {
		auth_store_fail(r, rc);
		goto out;
	}
	/* The cache holds the role and the tokens' validity; re-enabling
	 * changes neither (no refusal is cached). */
	if (role_s || disabled == 1 || password)
		auth_tcache_drop(a->tcache, NULL, u.id);
	http_reply_json(r, 200, auth_user_json(c, u.id));
out:
	store_release(&c);
}

static void h_delete(http_req *r, void *ctx)
{
	auth *a = ctx;
	auth_user u;
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc) {
		auth_store_fail(r, rc);
		goto out;
	}
	if (load_target(r, c, &u, NULL, 1) || last_superadmin(r, c, &u))
		goto out;
	if (strcmp(u.id, auth_caller(r)->id) == 0) {
		http_reply_error(r, 409, "conflict", "you cannot remove yourself");
		goto out;
	}
	if ((rc = store_exec(c, "DELETE FROM users WHERE id = $1", NULL, SARGS(SA_TEXT(u.id)))) ||
	    (rc = auth_commit_audited(a, c, r, 200))) {
		auth_store_fail(r, rc);
		goto out;
	}
	auth_tcache_drop(a->tcache, NULL, u.id);
	http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", u.id, "deleted", 1));
out:
	store_release(&c);
}

/* Like an admin's reset (h_patch): every token of the user ends, API tokens
 * included, since a lost password may be a stolen one. Hashes before
 * taking a connection, as everywhere. */
int auth_reset_password(store *st, const char *username, const char *password)
{
	char hash[AUTH_HASH_MAX];
	store_conn *c = NULL;
	auth_user u;
	int rc;
	if (strlen(password) < PASSWORD_MIN)
		return -EINVAL;
	if ((rc = auth_password_hash(password, hash)))
		return rc;
	int64_t now = sn_now_ms();
	if ((rc = store_acquire(st, &c)) || (rc = store_begin(c)) ||
	    (rc = auth_user_load(c, username, &u, NULL)) ||
	    (rc = store_exec(c, "UPDATE users SET pw_hash = $1, updated_at = $2 WHERE id = $3", NULL,
			     SARGS(SA_TEXT(hash), SA_INT(now), SA_TEXT(u.id)))) ||
	    (rc = store_exec(c, "UPDATE tokens SET revoked_at = $1 WHERE user_id = $2"
				" AND revoked_at IS NULL", NULL, SARGS(SA_INT(now), SA_TEXT(u.id)))) ||
	    (rc = auth_audit_local_in(c, "user.reset_password", u.username, 200)))
		goto out;
	rc = store_commit(c);
out:
	sodium_memzero(hash, sizeof hash);
	store_release(&c);
	return rc;
}

size_t auth_user_routes(auth *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/me", h_me, 0, ROLE_MEMBER, NULL, 0, a },
		{ "POST", "/api/v1/me/password", h_me_password, 0, ROLE_MEMBER, "user.password", 0, a },
		{ "GET", "/api/v1/users", h_list, 0, ROLE_ADMIN, NULL, 0, a },
		{ "POST", "/api/v1/users", h_create, 0, ROLE_ADMIN, "user.create", 0, a },
		{ "GET", "/api/v1/users/{id}", h_get, 0, ROLE_MEMBER, NULL, 0, a },
		{ "PATCH", "/api/v1/users/{id}", h_patch, 0, ROLE_ADMIN, "user.update", 0, a },
		{ "DELETE", "/api/v1/users/{id}", h_delete, 0, ROLE_ADMIN, "user.delete", 0, a },
	};
	return auth_copy_routes(routes, sizeof routes / sizeof routes[0], out, max);
}
