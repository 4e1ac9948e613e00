/* Who may read or write an item that a user owns and may share: datasets
 * and scripts, models and agents all follow this one rule.
 *
 *  - admins and the owner have every right (SHARE_OWNER): PATCH, DELETE;
 *    so does the server itself (u NULL); an item with no owner (owner_id
 *    "", registered by the server) gives every right to admins only;
 *  - a share with a group gives its members "read" or "write";
 *  - public gives read to every user;
 *  - anyone else has no access, and routes answer them as for a missing
 *    item (404).
 *
 * A domain keeps its shares in its own table, (KEY, group_id, access) with
 * access "read" or "write" and the primary key (KEY, group_id); it names
 * that table and column in a share_table. The functions that read the
 * store take a connection the caller holds (in its transaction or not).
 *
 * Contract: functions return 0 or a negative errno (or a store code) and
 * fill their out-parameters only on success; none keeps a pointer. */
#ifndef SN_SHARE_H
#define SN_SHARE_H
#include <stddef.h>
#include <jansson.h>
#include "auth/auth.h"
#include "store/store.h"

#define SHARE_MAX 64       /* groups one item is shared with */
#define SHARE_GROUP_ID 48  /* bytes of a group id, NUL included */

enum share_access { SHARE_NONE = 0, SHARE_READ = 1, SHARE_WRITE = 2, SHARE_OWNER = 3 };

/* One share: a group id and whether it gives write (else read). */
typedef struct share_grant {
	char group[SHARE_GROUP_ID];
	int write;
} share_grant;

/* A domain's tables: its shares table and the column there that holds
 * the item's key, and its items table (columns id, owner_id, public;
 * NULL when the domain keeps its items otherwise). SQL identifiers
 * written by the domain, never user input. */
typedef struct share_table {
	const char *shares; /* "ds_shares" */
	const char *key;    /* "item_id" */
	const char *items;  /* "ds_items", or NULL */
} share_table;

/* 1 when u has every right on an item of owner_id without its shares
 * being looked at: u NULL (the server), an admin, or the owner. */
int share_owns(const auth_user *u, const char *owner_id);
/* u's access to an item of owner_id and public_, where grant is the most
 * that the item's shares give to a group of u (SHARE_NONE, SHARE_READ or
 * SHARE_WRITE). */
enum share_access share_access(const auth_user *u, const char *owner_id, int public_,
			       enum share_access grant);
/* The most that shares give to a member of groups (both group ids). */
enum share_access share_grant_of(const share_grant *shares, size_t nshares,
				 const char (*groups)[SHARE_GROUP_ID], size_t ngroups);

/* u's access to the item key of t, owned by owner_id: share_access with
 * the grant read from t's shares (no query for owners and admins). */
int share_store_access(store_conn *c, const share_table *t, const char *key,
		       const char *owner_id, int public_, const auth_user *u,
		       enum share_access *out);
/* A visibility filter for a list query, true where the user $U (a
 * parameter) may read the row of alias i (columns id, owner_id, public)
 * or where $ADMIN is 1. TABLE's key column must be item_id. */
#define SHARE_VISIBLE_SQL(TABLE, ADMIN, U) \
	"(" ADMIN " = 1 OR i.owner_id = " U " OR i.public = 1 OR EXISTS (SELECT 1 FROM " TABLE \
	" s JOIN group_members m ON m.group_id = s.group_id WHERE s.item_id = i.id AND" \
	" m.user_id = " U "))"

/* 1 when u may read the item id of t's items table, 0 when not or when
 * there is no such item, or a store error (the blob API's may_read). */
int share_store_may_read(store_conn *c, const share_table *t, const char *id,
			 const auth_user *u);
/* The groups user_id belongs to (ids), at most max of them (the rest are
 * left out). */
int share_user_groups(store_conn *c, const char *user_id, char (*out)[SHARE_GROUP_ID],
		      size_t max, size_t *n);
/* The shares of item key as the API shows them: a new array of
 * {"group": NAME, "access": "read"|"write"}, by group name. */
int share_store_json(store_conn *c, const share_table *t, const char *key, json_t **out);
/* Replaces the shares of item key with shares (n of them; a group named
 * twice keeps its last access). n 0: removes them all. */
int share_store_replace(store_conn *c, const share_table *t, const char *key,
			const share_grant *shares, size_t n);
/* What PATCH changes of the item id of t's items table: public (when
 * public_ >= 0) and, when list is not NULL, the shares, replaced by the
 * list (share_list_read's checks; -EINVAL with err for a 400). */
int share_store_patch(store_conn *c, const share_table *t, const char *id, int public_,
		      const json_t *list, char *err, size_t errlen);

/* Reads the "shares" list of a request body, [{"group": NAME, "access":
 * "read"|"write"}, ...], at most SHARE_MAX, resolving the group names to
 * ids on c into out (SHARE_MAX entries). -EINVAL with a message for a 400
 * in err (a bad list or share, an unknown group: the first found, in
 * order), or a store error. */
int share_list_read(store_conn *c, const json_t *list, share_grant *out, size_t *n, char *err,
		    size_t errlen);
#endif
