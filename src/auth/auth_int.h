/* Internals shared by the files of src/auth. */
#ifndef SN_AUTH_INT_H
#define SN_AUTH_INT_H
#include <pthread.h>
#include "auth/auth.h"

#define THROTTLE_SLOTS 1024

struct throttle_slot {
	char key[128];
	int failures;
	int64_t last_ms;
};

struct auth {
	store *st;
	hub *events;
	auth_config cfg;
	pthread_mutex_t mu;                 /* guards throttle */
	struct throttle_slot throttle[THROTTLE_SLOTS];
};

/* Records r's audit row (outcome from status) in c's open transaction and
 * commits both; on 0 the done hook will not record r again. */
int auth_commit_audited(auth *a, store_conn *c, http_req *r, int status);
/* Replies 500 for a store error rc (and logs it); returns rc. */
int auth_store_fail(http_req *r, int rc);
/* Looks a user up by id or username; fills *u. -ENOENT when absent. */
int auth_user_load(store_conn *c, const char *id_or_name, auth_user *u, int *disabled);
json_t *auth_user_json(store_conn *c, const char *id);

/* Login throttle (tokens.c). */
int64_t auth_throttle_wait_ms(auth *a, const char *user, const char *addr);
void auth_throttle_fail(auth *a, const char *user, const char *addr);
void auth_throttle_ok(auth *a, const char *user);

size_t auth_user_routes(auth *a, http_route *out, size_t max);
size_t auth_token_routes(auth *a, http_route *out, size_t max);
size_t auth_group_routes(auth *a, http_route *out, size_t max);
size_t auth_audit_routes(auth *a, http_route *out, size_t max);


/* Reads up to limit rows into a JSON array with fn; when a further row
 * exists, *next is the value of field key of the last item (caller frees).
 * Returns 0 or the store error. */
int auth_collect(store_rows *rows, int limit, json_t *(*fn)(store_rows *), const char *key,
		 json_t **items, char **next);
/* Replies with one page of a list: sql's last argument must be limit + 1,
 * so that a further row tells there is a next page. */
void auth_reply_page(http_req *r, auth *a, const char *sql, int nargs, const store_arg *args,
		     int limit, json_t *(*fn)(store_rows *), const char *key);
/* Adds route table entries from a local array. */
size_t auth_copy_routes(const http_route *src, size_t n, http_route *out, size_t max);
#endif
