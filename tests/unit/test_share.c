/* Unit tests of src/auth/share.c: the access rule (owner, admin, server,
 * public, group shares), the in-memory grant, and its SQL on a store with
 * the auth schema and a shares table of the test's own. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "auth/share.h"
#include "base/mem.h"
#include "test_db.h"

static auth_user user(const char *id, enum auth_role role)
{
	auth_user u = { .role = role };
	sn_strlcpy(u.id, id, sizeof u.id);
	return u;
}

static void test_rule(void **state)
{
	(void)state;
	auth_user admin = user("u_admin", ROLE_ADMIN), owner = user("u_own", ROLE_MEMBER);
	auth_user other = user("u_other", ROLE_MEMBER);
	/* Owners, admins and the server: every right, whatever else holds. */
	assert_int_equal(share_access(NULL, "u_own", 0, SHARE_NONE), SHARE_OWNER);
	assert_int_equal(share_access(&admin, "u_own", 0, SHARE_NONE), SHARE_OWNER);
	assert_int_equal(share_access(&owner, "u_own", 0, SHARE_NONE), SHARE_OWNER);
	assert_int_equal(share_access(&admin, "", 0, SHARE_NONE), SHARE_OWNER);
	/* No owner: no member owns it, not even one with an empty id. */
	auth_user blank = user("", ROLE_MEMBER);
	assert_int_equal(share_access(&blank, "", 0, SHARE_NONE), SHARE_NONE);
	assert_false(share_owns(&other, ""));
	/* Others: the best of the grant and public's read. */
	assert_int_equal(share_access(&other, "u_own", 0, SHARE_NONE), SHARE_NONE);
	assert_int_equal(share_access(&other, "u_own", 1, SHARE_NONE), SHARE_READ);
	assert_int_equal(share_access(&other, "u_own", 0, SHARE_READ), SHARE_READ);
	assert_int_equal(share_access(&other, "u_own", 1, SHARE_READ), SHARE_READ);
	assert_int_equal(share_access(&other, "u_own", 0, SHARE_WRITE), SHARE_WRITE);
	assert_int_equal(share_access(&other, "u_own", 1, SHARE_WRITE), SHARE_WRITE);
}

static void test_grant_of(void **state)
{
	(void)state;
	const share_grant s[] = { { "g_r", 0 }, { "g_w", 1 }, { "g_r2", 0 } };
	const char g1[][SHARE_GROUP_ID] = { "g_x", "g_r" };
	const char g2[][SHARE_GROUP_ID] = { "g_r2", "g_w" };
	const char g3[][SHARE_GROUP_ID] = { "g_x" };
	assert_int_equal(share_grant_of(s, 3, g1, 2), SHARE_READ);
	assert_int_equal(share_grant_of(s, 3, g2, 2), SHARE_WRITE);
	assert_int_equal(share_grant_of(s, 3, g3, 1), SHARE_NONE);
	assert_int_equal(share_grant_of(s, 0, g2, 2), SHARE_NONE);
	assert_int_equal(share_grant_of(s, 3, g2, 0), SHARE_NONE);
	/* A read share after a write one never lowers the grant. */
	const share_grant t[] = { { "g_w", 1 }, { "g_r", 0 } };
	const char g4[][SHARE_GROUP_ID] = { "g_r", "g_w" };
	assert_int_equal(share_grant_of(t, 2, g4, 2), SHARE_WRITE);
}

/* ---- on a store ---- */

struct fx {
	char dir[64], url[256];
	store *st;
	store_conn *c;
};

static const share_table tbl = { "t_shares", "item_id", "t_items" };

static void exec(store_conn *c, const char *sql)
{
	assert_int_equal(store_exec(c, sql, NULL, SNOARGS), 0);
}

/* Users u1 (in g1 and g2), u2 (in g2), u3 (in none); items i1 (u1's,
 * private), i2 (u1's, public), i3 (u2's). */
static int fx_setup(void **state)
{
	static const store_domain *const d[] = { &auth_store_domain };
	struct fx *f = xcalloc(1, sizeof *f);
	char err[256];
	store_opts so = { .domains = d, .ndomains = 1 };
	snprintf(f->dir, sizeof f->dir, "/tmp/test_share.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	if (test_db_url(f->dir, "db", f->url, sizeof f->url) ||
	    store_open(f->url, &so, &f->st, err, sizeof err) || store_acquire(f->st, &f->c))
		return -1;
	exec(f->c, "INSERT INTO users (id, username, pw_hash, role, created_at, updated_at) VALUES"
	     " ('u1', 'one', 'x', 'member', 0, 0), ('u2', 'two', 'x', 'member', 0, 0),"
	     " ('u3', 'three', 'x', 'member', 0, 0)");
	exec(f->c, "INSERT INTO user_groups (id, name, created_at) VALUES ('g1', 'beta', 0),"
	     " ('g2', 'alpha', 0)");
	exec(f->c, "INSERT INTO group_members (group_id, user_id, added_at) VALUES"
	     " ('g1', 'u1', 0), ('g2', 'u1', 0), ('g2', 'u2', 0)");
	exec(f->c, "CREATE TABLE t_items (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL,"
	     " public BIGINT NOT NULL DEFAULT 0)");
	exec(f->c, "CREATE TABLE t_shares (item_id TEXT NOT NULL, group_id TEXT NOT NULL,"
	     " access TEXT NOT NULL, PRIMARY KEY (item_id, group_id))");
	exec(f->c, "INSERT INTO t_items (id, owner_id, public) VALUES ('i1', 'u1', 0),"
	     " ('i2', 'u1', 1), ('i3', 'u2', 0)");
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	store_release(&f->c);
	store_free(&f->st);
	test_db_drop(f->url);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	int rc = system(cmd);
	free(cmd);
	free(f);
	return rc;
}

static int list_read(store_conn *c, const char *text, share_grant *out, size_t *n, char *err)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	err[0] = '\0';
	int rc = share_list_read(c, j, out, n, err, 256);
	json_decref(j);
	return rc;
}

static void test_list_read(void **state)
{
	struct fx *f = *state;
	share_grant g[SHARE_MAX];
	size_t n = 99;
	char err[256];
	assert_int_equal(list_read(f->c, "[{\"group\":\"beta\",\"access\":\"read\"},"
				   "{\"group\":\"alpha\",\"access\":\"write\"}]", g, &n, err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(g[0].group, "g1");
	assert_int_equal(g[0].write, 0);
	assert_string_equal(g[1].group, "g2");
	assert_int_equal(g[1].write, 1);
	assert_int_equal(list_read(f->c, "[]", g, &n, err), 0);
	assert_int_equal(n, 0);

	assert_int_equal(list_read(f->c, "{}", g, &n, err), -EINVAL);
	assert_string_equal(err, "field 'shares' must be a list of at most 64"
			    " {\"group\",\"access\"}");
	assert_int_equal(list_read(f->c, "[{\"group\":\"beta\",\"access\":\"admin\"}]", g, &n, err),
			 -EINVAL);
	assert_string_equal(err, "a share is {\"group\": NAME, \"access\": \"read\"|\"write\"}");
	assert_int_equal(list_read(f->c, "[{\"group\":1,\"access\":\"read\"}]", g, &n, err), -EINVAL);
	assert_string_equal(err, "a share is {\"group\": NAME, \"access\": \"read\"|\"write\"}");
	/* The first error in the list's order is the one named. */
	assert_int_equal(list_read(f->c, "[{\"group\":\"gamma\",\"access\":\"read\"},"
				   "{\"access\":\"read\"}]", g, &n, err), -EINVAL);
	assert_string_equal(err, "no such group: gamma");

	/* SHARE_MAX shares pass, one more does not. */
	char *big = xstrdup("[");
	for (int i = 0; i <= SHARE_MAX; i++) {
		char *next = xasprintf("%s%s{\"group\":\"alpha\",\"access\":\"read\"}", big,
				       i ? "," : "");
		free(big);
		big = next;
		char *text = xasprintf("%s]", big);
		int rc = list_read(f->c, text, g, &n, err);
		free(text);
		assert_int_equal(rc, i < SHARE_MAX ? 0 : -EINVAL);
	}
	free(big);
}

/* The access of every user to every item, as share_store_access gives it
 * and as the visibility filter of a list selects the readable ones. */
static void check_access(store_conn *c, const char *const users[3],
			 const enum share_access want[3][3])
{
	static const char *const items[] = { "i1", "i2", "i3" };
	static const char *const owners[] = { "u1", "u1", "u2" };
	for (int ui = 0; ui < 3; ui++) {
		auth_user u = user(users[ui], ROLE_MEMBER);
		store_rows *rows = NULL;
		int vis[3] = { 0 };
		assert_int_equal(store_query(c, "SELECT i.id FROM t_items i WHERE "
					     SHARE_VISIBLE_SQL("t_shares", "$1", "$2"), &rows,
					     SARGS(SA_INT(0), SA_TEXT(u.id))), 0);
		while (store_rows_next(rows) == 1)
			vis[store_rows_text(rows, 0)[1] - '1'] = 1;
		store_rows_free(&rows);
		for (int ii = 0; ii < 3; ii++) {
			enum share_access a = SHARE_OWNER + 1;
			int pub = ii == 1;
			assert_int_equal(share_store_access(c, &tbl, items[ii], owners[ii], pub, &u, &a),
					 0);
			assert_int_equal(a, want[ui][ii]);
			assert_int_equal(vis[ii], want[ui][ii] != SHARE_NONE);
			assert_int_equal(share_store_may_read(c, &tbl, items[ii], &u),
					 want[ui][ii] != SHARE_NONE);
		}
	}
}

static void test_store(void **state)
{
	struct fx *f = *state;
	static const char *const users[3] = { "u1", "u2", "u3" };
	const share_grant s1[] = { { "g2", 0 }, { "g2", 1 } };   /* the last wins */
	const share_grant s3[] = { { "g1", 1 } };
	json_t *j = NULL;
	char groups[4][SHARE_GROUP_ID];
	size_t n = 0;

	assert_int_equal(share_user_groups(f->c, "u1", groups, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(share_user_groups(f->c, "u1", groups, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(share_user_groups(f->c, "u3", groups, 4, &n), 0);
	assert_int_equal(n, 0);

	const enum share_access none[3][3] = {
		{ SHARE_OWNER, SHARE_OWNER, SHARE_NONE },
		{ SHARE_NONE, SHARE_READ, SHARE_OWNER },
		{ SHARE_NONE, SHARE_READ, SHARE_NONE },
	};
	check_access(f->c, users, none);

	assert_int_equal(share_store_replace(f->c, &tbl, "i1", s1, 2), 0);
	assert_int_equal(share_store_replace(f->c, &tbl, "i3", s3, 1), 0);
	const enum share_access shared[3][3] = {
		{ SHARE_OWNER, SHARE_OWNER, SHARE_WRITE },
		{ SHARE_WRITE, SHARE_READ, SHARE_OWNER },
		{ SHARE_NONE, SHARE_READ, SHARE_NONE },
	};
	check_access(f->c, users, shared);
	assert_int_equal(share_store_json(f->c, &tbl, "i1", &j), 0);
	char *text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text, "[{\"group\":\"alpha\",\"access\":\"write\"}]");
	free(text);
	json_decref(j);

	/* PATCH: public on i1, i3's shares replaced by a read share for
	 * alpha (ordered by name in the JSON); a bad list changes nothing
	 * of the shares. */
	char err[256];
	json_t *list = json_loads("[{\"group\":\"beta\",\"access\":\"read\"},"
				  "{\"group\":\"alpha\",\"access\":\"read\"}]", 0, NULL);
	assert_int_equal(share_store_patch(f->c, &tbl, "i1", 1, NULL, err, sizeof err), 0);
	assert_int_equal(share_store_patch(f->c, &tbl, "i3", -1, list, err, sizeof err), 0);
	json_decref(list);
	list = json_loads("[{\"group\":\"nope\",\"access\":\"read\"}]", 0, NULL);
	assert_int_equal(share_store_patch(f->c, &tbl, "i3", -1, list, err, sizeof err), -EINVAL);
	assert_string_equal(err, "no such group: nope");
	json_decref(list);
	assert_int_equal(share_store_json(f->c, &tbl, "i3", &j), 0);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text, "[{\"group\":\"alpha\",\"access\":\"read\"},"
			    "{\"group\":\"beta\",\"access\":\"read\"}]");
	free(text);
	json_decref(j);
	auth_user u3 = user("u3", ROLE_MEMBER);
	assert_int_equal(share_store_may_read(f->c, &tbl, "i1", &u3), 1);
	assert_int_equal(share_store_may_read(f->c, &tbl, "missing", &u3), 0);

	/* Removing them all. */
	assert_int_equal(share_store_replace(f->c, &tbl, "i3", NULL, 0), 0);
	assert_int_equal(share_store_json(f->c, &tbl, "i3", &j), 0);
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule),
		cmocka_unit_test(test_grant_of),
		cmocka_unit_test_setup_teardown(test_list_read, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
