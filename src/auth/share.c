/* The sharing rule of items (share.h), and its SQL: a domain names its
 * shares table, so that datasets, models and agents read and write their
 * shares with the same statements. The SQL text is built from the
 * table's identifiers (the domain's constants) into a buffer; the store
 * caches a statement by its text, so each table's text is prepared once
 * per connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "auth/share.h"
#include "base/mem.h"

#define SQL_MAX 512

int share_owns(const auth_user *u, const char *owner_id)
{
	return !u || u->role >= ROLE_ADMIN || (owner_id[0] && strcmp(owner_id, u->id) == 0);
}

enum share_access share_access(const auth_user *u, const char *owner_id, int public_,
			       enum share_access grant)
{
	if (share_owns(u, owner_id))
		return SHARE_OWNER;
	if (grant >= SHARE_WRITE)
		return SHARE_WRITE;
	return grant == SHARE_READ || public_ ? SHARE_READ : SHARE_NONE;
}

static int in_groups(const char *group, const char (*groups)[SHARE_GROUP_ID], size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(groups[i], group) == 0)
			return 1;
	return 0;
}

enum share_access share_grant_of(const share_grant *shares, size_t nshares,
				 const char (*groups)[SHARE_GROUP_ID], size_t ngroups)
{
	enum share_access best = SHARE_NONE;
	for (size_t i = 0; i < nshares && best < SHARE_WRITE; i++)
		if (in_groups(shares[i].group, groups, ngroups))
			best = shares[i].write ? SHARE_WRITE : SHARE_READ;
	return best;
}

/* The text of fmt with the shares table's name for the first %s and its
 * key column for the others, up to three of them; or, for an items
 * statement, the items table's name for the only %s. */
static const char *sql_of(char buf[SQL_MAX], const share_table *t, const char *fmt)
{
	int n = snprintf(buf, SQL_MAX, fmt, t->shares, t->key, t->key);
	/* The formats are ours and the names short: a cut text is a bug. */
	return n > 0 && n < SQL_MAX ? buf : "SELECT share_sql_too_long";
}

int share_store_access(store_conn *c, const share_table *t, const char *key,
		       const char *owner_id, int public_, const auth_user *u,
		       enum share_access *out)
{
	char sql[SQL_MAX];
	store_rows *rows = NULL;
	int64_t best = 0;
	if (share_owns(u, owner_id)) {
		*out = SHARE_OWNER;
		return 0;
	}
	int rc = store_query(c, sql_of(sql, t, "SELECT MAX(CASE WHEN s.access = 'write' THEN 2"
				       " ELSE 1 END) FROM %s s JOIN group_members m ON m.group_id ="
				       " s.group_id WHERE s.%s = $1 AND m.user_id = $2"),
			     &rows, SARGS(SA_TEXT(key), SA_TEXT(u->id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		best = store_rows_isnull(rows, 0) ? 0 : store_rows_int(rows, 0);
		rc = 0;
	}
	store_rows_free(&rows);
	if (rc)
		return rc;
	*out = share_access(u, owner_id, public_,
			    best == 2 ? SHARE_WRITE : best == 1 ? SHARE_READ : SHARE_NONE);
	return 0;
}

static const char *items_sql(char buf[SQL_MAX], const share_table *t, const char *fmt)
{
	int n = snprintf(buf, SQL_MAX, fmt, t->items);
	return n > 0 && n < SQL_MAX ? buf : "SELECT share_sql_too_long";
}

int share_store_may_read(store_conn *c, const share_table *t, const char *id,
			 const auth_user *u)
{
	char sql[SQL_MAX], owner[SHARE_GROUP_ID] = "";
	store_rows *rows = NULL;
	int public_ = 0;
	enum share_access a = SHARE_NONE;
	int rc = store_query(c, items_sql(sql, t, "SELECT owner_id, public FROM %s WHERE id = $1"),
			     &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(owner, store_rows_text(rows, 0), sizeof owner);
		public_ = (int)store_rows_int(rows, 1);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	if (rc == -ENOENT)
		return 0;
	if (rc == 0)
		rc = share_store_access(c, t, id, owner, public_, u, &a);
	return rc ? rc : a != SHARE_NONE;
}

int share_user_groups(store_conn *c, const char *user_id, char (*out)[SHARE_GROUP_ID],
		      size_t max, size_t *n)
{
	store_rows *rows = NULL;
	size_t k = 0;
	int rc = store_query(c, "SELECT group_id FROM group_members WHERE user_id = $1", &rows,
			     SARGS(SA_TEXT(user_id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (k < max)
			sn_strlcpy(out[k++], store_rows_text(rows, 0), SHARE_GROUP_ID);
	}
	store_rows_free(&rows);
	if (rc < 0)
		return rc;
	*n = k;
	return 0;
}

int share_store_json(store_conn *c, const share_table *t, const char *key, json_t **out)
{
	char sql[SQL_MAX];
	store_rows *rows = NULL;
	json_t *a = json_array();
	int rc = a ? store_query(c, sql_of(sql, t, "SELECT g.name, s.access FROM %s s JOIN"
					   " user_groups g ON g.id = s.group_id WHERE s.%s = $1"
					   " ORDER BY g.name"), &rows, SARGS(SA_TEXT(key)))
		   : -ENOMEM;
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		json_t *s = json_pack("{s:s,s:s}", "group", store_rows_text(rows, 0), "access",
				      store_rows_text(rows, 1));
		rc = !s || json_array_append_new(a, s) ? -ENOMEM : 0;
	}
	store_rows_free(&rows);
	if (rc < 0) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

int share_store_replace(store_conn *c, const share_table *t, const char *key,
			const share_grant *shares, size_t n)
{
	char sql[SQL_MAX];
	int rc = store_exec(c, sql_of(sql, t, "DELETE FROM %s WHERE %s = $1"), NULL,
			    SARGS(SA_TEXT(key)));
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_exec(c, sql_of(sql, t, "INSERT INTO %s (%s, group_id, access) VALUES"
					  " ($1, $2, $3) ON CONFLICT (%s, group_id) DO UPDATE SET"
					  " access = excluded.access"), NULL,
				SARGS(SA_TEXT(key), SA_TEXT(shares[i].group),
				      SA_TEXT(shares[i].write ? "write" : "read")));
	return rc;
}

/* The id of group name: 0, -ENOENT, or a store error. */
static int group_id(store_conn *c, const char *name, char out[SHARE_GROUP_ID])
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT id FROM user_groups WHERE name = $1", &rows,
			     SARGS(SA_TEXT(name)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(out, store_rows_text(rows, 0), SHARE_GROUP_ID);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

int share_list_read(store_conn *c, const json_t *list, share_grant *out, size_t *n, char *err,
		    size_t errlen)
{
	size_t i, k = 0;
	const json_t *s;
	if (!json_is_array(list) || json_array_size(list) > SHARE_MAX) {
		snprintf(err, errlen, "field 'shares' must be a list of at most %d"
			 " {\"group\",\"access\"}", SHARE_MAX);
		return -EINVAL;
	}
	json_array_foreach(list, i, s) {
		const char *g = json_string_value(json_object_get(s, "group"));
		const char *acc = json_string_value(json_object_get(s, "access"));
		if (!g || !acc || (strcmp(acc, "read") && strcmp(acc, "write"))) {
			snprintf(err, errlen, "a share is {\"group\": NAME, \"access\":"
				 " \"read\"|\"write\"}");
			return -EINVAL;
		}
		int rc = group_id(c, g, out[k].group);
		if (rc == -ENOENT) {
			snprintf(err, errlen, "no such group: %s", g);
			return -EINVAL;
		}
		if (rc)
			return rc;
		out[k++].write = strcmp(acc, "write") == 0;
	}
	*n = k;
	return 0;
}

int share_store_patch(store_conn *c, const share_table *t, const char *id, int public_,
		      const json_t *list, char *err, size_t errlen)
{
	char sql[SQL_MAX];
	share_grant shares[SHARE_MAX];
	size_t n = 0;
	int rc = 0;
	if (public_ >= 0)
		rc = store_exec(c, items_sql(sql, t, "UPDATE %s SET public = $2 WHERE id = $1"), NULL,
				SARGS(SA_TEXT(id), SA_INT(public_)));
	if (rc == 0 && list && (rc = share_list_read(c, list, shares, &n, err, errlen)) == 0)
		rc = share_store_replace(c, t, id, shares, n);
	return rc;
}
