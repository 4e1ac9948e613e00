/* Users, passwords (Argon2id), bearer tokens, roles, groups and the audit
 * log, with their HTTP handlers. Roles are ordered: a route's min_role is
 * the least role that may call it. */
#ifndef SN_AUTH_H
#define SN_AUTH_H
#include <stddef.h>
#include <stdint.h>
#include "base/hub.h"
#include "http/http.h"
#include "store/store.h"

enum auth_role { ROLE_NONE = 0, ROLE_MEMBER = 1, ROLE_ADMIN = 2, ROLE_SUPERADMIN = 3 };

/* What a token may call: everything its user may (login sessions always),
 * or only the routes flagged HTTP_INGEST (docs/metrics.md, Tokens). */
enum auth_scope { AUTH_SCOPE_ALL = 0, AUTH_SCOPE_METRICS_WRITE = 1 };

/* The caller of a request, as the auth hook found it. A zeroed one has
 * scope all (what the node hook leaves). */
typedef struct auth_user {
	char id[48];
	char username[72];
	enum auth_role role;
	char token_id[48];
	enum auth_scope scope;
	int via_cookie;  /* the token came in the browser session cookie */
} auth_user;

/* Browser sessions (docs/web.md): the token in an HttpOnly cookie, and a
 * script-readable CSRF cookie whose value the client echoes in X-CSRF-Token. */
#define AUTH_SESSION_COOKIE "sentinel_session"
#define AUTH_CSRF_COOKIE "sentinel_csrf"
#define AUTH_CSRF_HEADER "X-CSRF-Token"

typedef struct auth_config {
	int64_t session_ttl_ms;     /* login tokens */
	int login_max_failures;     /* per user; per address it is 4x */
	int64_t login_lockout_ms;   /* first lockout; doubles up to 15 min */
	int64_t audit_retention_ms; /* audit rows older than this are deleted (0: 365 days) */
	int hash_slots;             /* concurrent Argon2id runs (0: the cores online) */
	int hash_queue;             /* runs that may wait for a slot (0: 8 per slot) */
	int token_cache_max;        /* verified tokens kept in memory (0: 65,536) */
} auth_config;

typedef struct auth auth;

/* The auth domain's schema, for store_open (store_opts.domains). */
extern const store_domain auth_store_domain;

/* The store and hub are borrowed and must outlive the auth. Deletes audit
 * rows past the retention now and then daily from a thread of its own
 * (stopped by auth_free); a failed deletion is logged and retried. */
int auth_new(store *st, hub *events, const auth_config *cfg, auth **out);
void auth_free(auth **a);

/* On an empty store, creates the superadmin "admin". password: the given
 * one, or NULL to generate one; *generated (caller frees) is set when a
 * password was generated, NULL otherwise or when users already exist;
 * *created tells whether this call created the user (0: users existed, and
 * password was not used). */
int auth_bootstrap(auth *a, const char *password, char **generated, int *created);

/* Records in the audit a change made on the store by a local command, with
 * no server (actor "local:<unix user>", no address; outcome from status as
 * for requests), and publishes nothing. 0 or the store error. */
int auth_audit_local(store *st, const char *action, const char *target, int status);
/* Offline password reset (sentinel admin reset-password): sets username's
 * password (at least 8 characters, else -EINVAL), revokes all its tokens and
 * records it with auth_audit_local, in one transaction. -ENOENT: no such user. */
int auth_reset_password(store *st, const char *username, const char *password);

/* Appends this module's routes to out (at most max); returns how many. */
size_t auth_routes(auth *a, http_route *out, size_t max);
/* The http hooks: bearer-token check and role check; audit of mutations. */
int auth_hook(http_req *r, const http_route *route, void *a);
void auth_audit_hook(http_req *r, const http_route *route, int status, void *a);
/* The authenticated caller of r, or NULL on a public route. */
const auth_user *auth_caller(const http_req *r);

const char *auth_role_name(enum auth_role role);
/* -EINVAL for an unknown name. */
int auth_role_parse(const char *name, enum auth_role *out);

/* "all", "metrics:write"; parse: -EINVAL for anything else. */
const char *auth_scope_name(enum auth_scope scope);
int auth_scope_parse(const char *name, enum auth_scope *out);
/* Whether a token of this scope may call a route with these flags. */
int auth_scope_allows(enum auth_scope scope, unsigned route_flags);

/* Argon2id (libsodium); out must hold AUTH_HASH_MAX bytes. */
#define AUTH_HASH_MAX 128
int auth_password_hash(const char *password, char out[AUTH_HASH_MAX]);
/* 0 when the password matches, -EACCES when not, -EINVAL for a bad hash. */
int auth_password_verify(const char *hash, const char *password);
/* A new random token (caller frees) and its stored hash (65 bytes). */
char *auth_token_new(char hash_out[65]);
/* Whether a token that expires at expires_ms (<0: never) is expired at now_ms. */
int auth_token_expired(int64_t expires_ms, int64_t now_ms);
#endif
