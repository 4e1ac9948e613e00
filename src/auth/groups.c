/* Groups and membership (used by later access policies). Everyone may list
 * and read groups; admins change them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth_int.h"
#include "base/mem.h"
#include "base/util.h"

static json_t *group_row_json(store_rows *rows)
{
	return json_pack("{s:s,s:s,s:s,s:o,s:I}", "id", store_rows_text(rows, 0), "name",
			 store_rows_text(rows, 1), "description", store_rows_text(rows, 2),
			 "created_at", http_json_time(store_rows_int(rows, 3)), "members",
			 (json_int_t)store_rows_int(rows, 4));
}

#define GROUP_SELECT "SELECT g.id, g.name, g.description, g.created_at," \
	" (SELECT COUNT(*) FROM group_members m WHERE m.group_id = g.id) FROM user_groups g"

static int load_group(http_req *r, store_conn *c, char id[48], json_t **out)
{
	const char *key = http_req_param(r, "id");
	store_rows *rows = NULL;
	http_req_set_target(r, key);
	/* As for users: an id-shaped key is an id, anything else a name. */
	int rc = store_query(c, auth_id_shaped(key, "g_") ? GROUP_SELECT " WHERE g.id = $1"
							: GROUP_SELECT " WHERE g.name = $1",
			     &rows, SARGS(SA_TEXT(key)));
	if (rc || (rc = store_rows_next(rows)) < 0) {
		auth_store_fail(r, rc);
	} else if (rc == 0) {
		http_reply_error(r, 404, "not_found", "no group '%s'", key);
		rc = -ENOENT;
	} else {
		sn_strlcpy(id, store_rows_text(rows, 0), 48);
		if (out)
			*out = group_row_json(rows);
		rc = 0;
	}
	store_rows_free(&rows);
	return rc;
}

static void h_list(http_req *r, void *ctx)
{
	int limit;
	const char *cursor;
	if (http_page(r, &limit, &cursor) == 0)
		auth_reply_page(r, ctx, GROUP_SELECT " WHERE g.name > $1 ORDER BY g.name LIMIT $2",
				SARGS(SA_TEXT(cursor ? cursor : ""), SA_INT(limit + 1)), limit,
				group_row_json, "name");
}

static void h_create(http_req *r, void *ctx)
{
	auth *a = ctx;
	const char *name, *desc = "";
	store_conn *c = NULL;
	if (http_body_str(r, "name", 1, 64, &name) || http_body_str(r, "description", 0, 1024, &desc))
		return;
	if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
			      strlen(name) || auth_id_shaped(name, "g_")) {
		http_reply_error(r, 400, "bad_request",
				 "field 'name' must be 1-64 letters, digits, '.', '_' or '-', and not"
				 " shaped like a group id (g_ and hex digits)");
		return;
	}
	char *id = sn_id_new("g_");
	http_req_set_target(r, name);
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO user_groups (id, name, description, created_at)"
				   " VALUES ($1, $2, $3, $4)", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(name), SA_TEXT(desc), SA_INT(sn_now_ms())));
	if (rc == 0)
		rc = auth_commit_audited(a, c, r, 201);
	if (rc == STORE_ECONSTRAINT) {
		http_reply_error(r, 409, "conflict", "group '%s' already exists", name);
	} else if (rc) {
		auth_store_fail(r, rc);
	} else {
		json_t *g = NULL;
		store_rows *rows = NULL;
		if (store_query(c, GROUP_SELECT " WHERE g.id = $1", &rows, SARGS(SA_TEXT(id))) == 0 &&
		    store_rows_next(rows) == 1)
			g = group_row_json(rows);
		store_rows_free(&rows);
		http_reply_json(r, 201, g ? g : json_pack("{s:s}", "id", id));
	}
	store_release(&c);
	free(id);
}

static void h_get(http_req *r, void *ctx)
{
	auth *a = ctx;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *g = NULL;
	char gid[48];
	int rc = store_acquire(a->st, &c);
	if (rc) {
		auth_store_fail(r, rc);
		goto out;
	}
	if (load_group(r, c, gid, &g))
		goto out;
	json_t *members = json_array();
	rc = members ? 0 : -ENOMEM;
	if (rc == 0)
		rc = store_query(c, "SELECT u.id, u.username FROM group_members m JOIN users u"
				 " ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.username", &rows,
				 SARGS(SA_TEXT(gid)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = json_array_append_new(members, json_pack("{s:s,s:s}", "id",
							      store_rows_text(rows, 0), "username",
							      store_rows_text(rows, 1))) ? -EILSEQ : 0;
	if (rc < 0) {
		json_decref(members);
		json_decref(g);
		auth_store_fail(r, rc);
		goto out;
	}
	/* The set steals members, also when it fails (g NULL: not encodable). */
	if (json_object_set_new(g, "member_list", members)) {
		json_decref(g);
		auth_store_fail(r, -EILSEQ);
		goto out;
	}
	http_reply_json(r, 200, g);
out:
	store_rows_free(&rows);
	store_release(&c);
}

static void h_delete(http_req *r, void *ctx)
{
	auth *a = ctx;
	store_conn *c = NULL;
	char gid[48];
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc)
		auth_store_fail(r, rc);
	else if (load_group(r, c, gid, NULL) == 0) {
		rc = store_exec(c, "DELETE FROM user_groups WHERE id = $1", NULL, SARGS(SA_TEXT(gid)));
		if (rc == 0)
			rc = auth_commit_audited(a, c, r, 200);
		if (rc)
			auth_store_fail(r, rc);
		else
			http_reply_json(r, 200, json_pack("{s:s,s:b}", "id", gid, "deleted", 1));
	}
	store_release(&c);
}

static void member_change(http_req *r, auth *a, int add)
{
	store_conn *c = NULL;
	char gid[48];
	auth_user u;
	int64_t n = 0;
	const char *who = http_req_param(r, "user");
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc) {
		auth_store_fail(r, rc);
		goto out;
	}
	if (load_group(r, c, gid, NULL))
		goto out;
	char *target = xasprintf("%s/%s", http_req_param(r, "id"), who);
	http_req_set_target(r, target);
	free(target);
	rc = auth_user_load(c, who, &u, NULL);
	if (rc == -ENOENT) {
		http_reply_error(r, 404, "not_found", "no user '%s'", who);
		goto out;
	}
	if (!rc)
		rc = add ? store_exec(c, "INSERT INTO group_members (group_id, user_id, added_at)"
				         " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", &n,
				      SARGS(SA_TEXT(gid), SA_TEXT(u.id), SA_INT(sn_now_ms())))
			 : store_exec(c, "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
				      &n, SARGS(SA_TEXT(gid), SA_TEXT(u.id)));
	/* An add is idempotent and always recorded; removing a non-member
	 * changed nothing: no row, and a 404 below. */
	if (rc == 0 && (add || n > 0))
		rc = auth_commit_audited(a, c, r, 200);
	if (rc) {
		auth_store_fail(r, rc);
	} else if (!add && n == 0) {
		http_reply_error(r, 404, "not_found", "'%s' is not a member", u.username);
	} else {
		http_reply_json(r, 200, json_pack("{s:s,s:s,s:b}", "group", gid, "user", u.id,
						   "member", add));
	}
out:
	store_release(&c);
}

static void h_member_add(http_req *r, void *ctx)
{
	member_change(r, ctx, 1);
}

static void h_member_remove(http_req *r, void *ctx)
{
	member_change(r, ctx, 0);
}

size_t auth_group_routes(auth *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/groups", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "POST", "/api/v1/groups", h_create, 0, ROLE_ADMIN, "group.create", 0, a },
		{ "GET", "/api/v1/groups/{id}", h_get, 0, ROLE_MEMBER, NULL, 0, a },
		{ "DELETE", "/api/v1/groups/{id}", h_delete, 0, ROLE_ADMIN, "group.delete", 0, a },
		{ "PUT", "/api/v1/groups/{id}/members/{user}", h_member_add, 0, ROLE_ADMIN,
		  "group.member_add", 0, a },
		{ "DELETE", "/api/v1/groups/{id}/members/{user}", h_member_remove, 0, ROLE_ADMIN,
		  "group.member_remove", 0, a },
	};
	return auth_copy_routes(routes, sizeof routes / sizeof routes[0], out, max);
}
