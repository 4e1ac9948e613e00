/* Internals shared by the files of src/auth. */
#ifndef SN_AUTH_INT_H
#define SN_AUTH_INT_H
#include <pthread.h>
#include "auth/auth.h"

/* Every connection (--max-connections, 512 by default) may hold two slots
 * in flight at once; the rest remember failures. */
#define THROTTLE_SLOTS 4096

struct throttle_slot {
	char key[128];
	int failures;
	int in_flight;  /* attempts reserved and not yet ended */
	int64_t last_ms;
};

/* The password functions, replaceable by tests. */
struct auth_pw_ops {
	int (*hash)(const char *password, char out[AUTH_HASH_MAX]);
	int (*verify)(const char *hash, const char *password);
};

/* The verified-token cache (tcache.c; its invariants are there). */
#define AUTH_TC_DEFAULT_MAX 65536
#define AUTH_TC_TRUST_MS 1000   /* an entry is never used past this age */
#define AUTH_TC_REFRESH_MS 750  /* from this age one request re-verifies it */
#define AUTH_LAST_USED_GAP_MS 60000 /* last_used_at is written at most this often */
typedef struct auth_tcache auth_tcache;
enum { TC_MISS = 0, TC_HIT = 1, TC_REFRESH = 2 };
/* What a store read found about a token. */
struct auth_tc_val {
	auth_user u;
	int64_t expires;   /* wall ms, <0: never */
	int64_t last_used; /* wall ms in the store, 0: never */
};
/* A last use to write to the store. */
struct auth_tc_use {
	char token_id[48];
	int64_t used;
};
/* max 0: AUTH_TC_DEFAULT_MAX; the capacity is the largest 64 × 2^k <= max
 * (at least 64). */
int auth_tcache_new(size_t max, auth_tcache **out);
void auth_tcache_free(auth_tcache **tc);
/* Looks hash (64 hex digits) up at monotonic mono and wall now. TC_HIT:
 * *u is trusted. TC_REFRESH: *u is still trusted, and this caller has
 * claimed the entry's re-verification. TC_MISS: verify from the store. A
 * hit records now as the token's last use. Thread-safe, as is all below. */
int auth_tcache_get(auth_tcache *tc, const char *hash, int64_t mono, int64_t now, auth_user *u);
/* Read before a store read whose result goes to auth_tcache_put. */
uint64_t auth_tcache_gen(auth_tcache *tc);
/* Stores v as verified at mono (taken before the store read began, as gen
 * was); does nothing when a drop ran since gen was read. */
void auth_tcache_put(auth_tcache *tc, const char *hash, const struct auth_tc_val *v, int64_t mono,
		     int64_t now, uint64_t gen);
/* Drops the entries of a token and/or of a user (either may be NULL), at
 * once for every thread; returns how many. */
size_t auth_tcache_drop(auth_tcache *tc, const char *token_id, const char *user_id);
/* Drops hash's entry (a failed re-verification). */
void auth_tcache_remove(auth_tcache *tc, const char *hash);
size_t auth_tcache_size(auth_tcache *tc);
size_t auth_tcache_capacity(const auth_tcache *tc);
/* Fills out (at most max) with the last uses at least gap_ms newer than
 * what the store holds, and counts them as written. */
size_t auth_tcache_due(auth_tcache *tc, int64_t gap_ms, struct auth_tc_use *out, size_t max);

struct auth {
	store *st;
	hub *events;
	auth_config cfg;
	struct auth_pw_ops pw;
	pthread_mutex_t mu;                 /* guards throttle and audit_* */
	struct throttle_slot throttle[THROTTLE_SLOTS];
	int64_t audit_minute;               /* the minute audit_rows counts */
	int audit_rows;                     /* coalesced rows created in it */
	pthread_mutex_t hash_mu;            /* guards hash_* */
	pthread_cond_t hash_cv;
	int hash_slots, hash_queue, hash_running, hash_waiting;
	auth_tcache *tcache;
	int64_t (*mono_ms)(void);           /* the cache's clock, replaceable by tests */
	pthread_mutex_t retention_mu;       /* guards stopping */
	pthread_cond_t retention_cv;
	pthread_t retention_thread;
	int retention_started, stopping;
};

/* ---- browser sessions (session.c) ---- */

/* The CSRF token of a session token: hex SHA-256 of a label and the token. */
void auth_csrf_token(const char *token, char out[65]);
/* Adds the Set-Cookie headers of a new browser session (token, its CSRF
 * token, life in ms) to r's reply; with token NULL, the ones that clear
 * both cookies. */
void auth_session_cookies(http_req *r, const char *token, const char *csrf, int64_t life_ms);
/* The checks of a cookie-authenticated request other than GET, HEAD and
 * OPTIONS: X-CSRF-Token must be the session's CSRF token (403 csrf_failed)
 * and Origin, when sent, the server's own or an allowed one (403
 * origin_refused). 0, or replies and returns 1. */
int auth_session_check(http_req *r, const char *token);

/* Records r's audit row (outcome from status) in c's open transaction and
 * commits both; on 0 the done hook will not record r again. */
int auth_commit_audited(auth *a, store_conn *c, http_req *r, int status);
/* auth_audit_local's row, in c's transaction (committed by the caller). */
int auth_audit_local_in(store_conn *c, const char *action, const char *target, int status);
/* Replies for a store error rc (and logs it): 503 store_busy for a busy
 * store (-ETIMEDOUT, STORE_EBUSY), else 500; returns rc. */
int auth_store_fail(http_req *r, int rc);
/* Looks a user up by id when id_or_name has the shape of one ("u_" and hex
 * digits), else by username (such names are refused at creation); fills *u.
 * -ENOENT when absent. */
int auth_user_load(store_conn *c, const char *id_or_name, auth_user *u, int *disabled);
json_t *auth_user_json(store_conn *c, const char *id);

/* The attempt throttle and hash gate (limits.c); see the invariants there. */
enum auth_outcome { ATTEMPT_UNVERIFIED, ATTEMPT_FAILED, ATTEMPT_OK };
struct auth_attempt {
	struct throttle_slot *held[2]; /* reserved: in flight until auth_throttle_end */
	int nheld;
	char user_key[128];            /* the delay-only key, or "" */
	int64_t delay_ms;              /* wait this long before verifying */
};
/* Reserves an attempt: a login of user from addr, or with addr NULL a
 * password change of the account whose id is user. 0, or -EAGAIN with
 * *retry_ms set when a limit refuses it. Every 0 is followed by one
 * auth_throttle_end. */
int auth_throttle_begin(auth *a, const char *user, const char *addr, struct auth_attempt *t,
			int64_t *retry_ms);
void auth_throttle_end(auth *a, struct auth_attempt *t, enum auth_outcome outcome);
void auth_sleep_ms(int64_t ms);
/* slots/queue <= 0: the cores online, and 8 waiting per slot. */
void auth_gate_init(auth *a, int slots, int queue);
/* 0 (then auth_gate_leave), or -EBUSY when the wait queue is full. */
int auth_gate_enter(auth *a);
void auth_gate_leave(auth *a);
/* Hash and verify through the gate: also -EBUSY. Never call them while
 * holding a store connection: they take tens of milliseconds. */
int auth_hash(auth *a, const char *password, char out[AUTH_HASH_MAX]);
int auth_verify(auth *a, const char *hash, const char *password);
/* 503 busy with Retry-After; 429 with Retry-After (what: "logins"...). */
void auth_reply_busy(http_req *r);
void auth_reply_throttled(http_req *r, int64_t retry_ms, const char *what);
/* Checks a login of username from addr: throttle, delay, hash check, with no
 * store connection held while hashing. 0 with uid (48 bytes) filled; -EACCES
 * for a wrong password, an unknown user or a disabled account alike;
 * -EAGAIN (*retry_ms), -EBUSY, or a store error. */
int auth_login_check(auth *a, const char *username, const char *password, const char *addr,
		     char uid[48], int64_t *retry_ms);
/* Whether s has the shape of an internal id: prefix then hex digits. */
int auth_id_shaped(const char *s, const char *prefix);
/* Checks a bearer token by its hash (64 hex digits): from the cache, else
 * the store, whose answer is then cached. 0 with *u filled; -EACCES when
 * the token is unknown, expired or revoked; -EPERM when its user is
 * disabled; or a store error. */
int auth_token_check(auth *a, const char *hash, auth_user *u);
/* Writes the cached last uses that are due to tokens.last_used_at (the
 * maintenance thread does every 10 s). 0 or the store error. */
int auth_flush_last_used(auth *a);
/* Deletes audit rows older than the retention (at start and daily). */
int auth_audit_purge(auth *a, int64_t now);

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
