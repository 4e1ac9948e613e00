/* The auth module's core: set-up, the request hooks, roles. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "auth/auth_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

static const char *const role_names[] = { "none", "member", "admin", "superadmin" };

const char *auth_role_name(enum auth_role role)
{
	return role >= ROLE_NONE && role <= ROLE_SUPERADMIN ? role_names[role] : "none";
}

int auth_role_parse(const char *name, enum auth_role *out)
{
	for (int i = ROLE_MEMBER; i <= ROLE_SUPERADMIN; i++)
		if (strcmp(name, role_names[i]) == 0) {
			*out = (enum auth_role)i;
			return 0;
		}
	return -EINVAL;
}

static const char *const scope_names[] = { "all", "metrics:write" };

const char *auth_scope_name(enum auth_scope scope)
{
	return scope == AUTH_SCOPE_METRICS_WRITE ? scope_names[1] : scope_names[0];
}

int auth_scope_parse(const char *name, enum auth_scope *out)
{
	for (int i = AUTH_SCOPE_ALL; i <= AUTH_SCOPE_METRICS_WRITE; i++)
		if (strcmp(name, scope_names[i]) == 0) {
			*out = (enum auth_scope)i;
			return 0;
		}
	return -EINVAL;
}

/* An ingest token can push but not read: not even /me. */
int auth_scope_allows(enum auth_scope scope, unsigned route_flags)
{
	return scope == AUTH_SCOPE_ALL || (route_flags & HTTP_INGEST);
}

#define DAY_MS (86400 * 1000LL)
#define MAINT_TICK_S 10

static int64_t mono_ms(void)
{
	return sn_mono_ns() / 1000000;
}

/* The maintenance thread: cached last uses every MAINT_TICK_S, the audit
 * retention daily; a last pass of last uses at stop. */
static void *maint_main(void *arg)
{
	auth *a = arg;
	int64_t next_purge = mono_ms() + DAY_MS;
	pthread_mutex_lock(&a->retention_mu);
	while (!a->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += MAINT_TICK_S;
		pthread_cond_timedwait(&a->retention_cv, &a->retention_mu, &until);
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->retention_mu);
		auth_flush_last_used(a);
		if (mono_ms() >= next_purge) {
			auth_audit_purge(a, sn_now_ms());
			next_purge = mono_ms() + DAY_MS;
		}
		pthread_mutex_lock(&a->retention_mu);
	}
	pthread_mutex_unlock(&a->retention_mu);
	auth_flush_last_used(a);
	return NULL;
}

/* A batch of last uses per transaction: the flusher holds one store
 * connection for a few milliseconds at most. */
#define FLUSH_BATCH 512

int auth_flush_last_used(auth *a)
{
	struct auth_tc_use *due = xmalloc(FLUSH_BATCH * sizeof *due);
	store_conn *c = NULL;
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = auth_tcache_due(a->tcache, AUTH_LAST_USED_GAP_MS, due, FLUSH_BATCH))) {
		if ((rc = store_acquire(a->st, &c)) == 0 && (rc = store_begin(c)) == 0) {
			/* Several servers may share the store: never move it back. */
			for (size_t i = 0; rc == 0 && i < n; i++)
				rc = store_exec(c, "UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND"
						   " (last_used_at IS NULL OR last_used_at < $1)", NULL,
						SARGS(SA_INT(due[i].used), SA_TEXT(due[i].token_id)));
			if (rc == 0)
				rc = store_commit(c);
		}
		store_release(&c);
		if (n < FLUSH_BATCH)
			break;
	}
	/* A failure loses these uses until the token's next one. */
	if (rc)
		log_warn("auth: cannot record tokens' last use (store error %d)", rc);
	free(due);
	return rc;
}

int auth_new(store *st, hub *events, const auth_config *cfg, auth **out)
{
	auth *a = xcalloc(1, sizeof *a);
	a->st = st;
	a->events = events;
	a->cfg = *cfg;
	a->pw.hash = auth_password_hash;
	a->pw.verify = auth_password_verify;
	a->mono_ms = mono_ms;
	if (a->cfg.session_ttl_ms <= 0)
		a->cfg.session_ttl_ms = 24 * 3600 * 1000LL;
	if (a->cfg.login_max_failures <= 0)
		a->cfg.login_max_failures = 5;
	if (a->cfg.login_lockout_ms <= 0)
		a->cfg.login_lockout_ms = 60 * 1000;
	if (a->cfg.audit_retention_ms <= 0)
		a->cfg.audit_retention_ms = 365 * DAY_MS;
	pthread_mutex_init(&a->mu, NULL);
	auth_tcache_new(cfg->token_cache_max > 0 ? (size_t)cfg->token_cache_max : 0, &a->tcache);
	auth_gate_init(a, a->cfg.hash_slots, a->cfg.hash_queue);
	pthread_mutex_init(&a->retention_mu, NULL);
	pthread_cond_init(&a->retention_cv, NULL);
	auth_audit_purge(a, sn_now_ms());
	if (pthread_create(&a->retention_thread, NULL, maint_main, a) == 0)
		a->retention_started = 1;
	else
		log_warn("auth: cannot start the maintenance thread; old audit rows go at the next"
			 " start, tokens' last use is not recorded");
	*out = a;
	return 0;
}

void auth_free(auth **pa)
{
	auth *a = *pa;
	if (!a)
		return;
	if (a->retention_started) {
		pthread_mutex_lock(&a->retention_mu);
		a->stopping = 1;
		pthread_cond_signal(&a->retention_cv);
		pthread_mutex_unlock(&a->retention_mu);
		pthread_join(a->retention_thread, NULL);
	}
	pthread_cond_destroy(&a->retention_cv);
	pthread_mutex_destroy(&a->retention_mu);
	pthread_cond_destroy(&a->hash_cv);
	pthread_mutex_destroy(&a->hash_mu);
	pthread_mutex_destroy(&a->mu);
	auth_tcache_free(&a->tcache);
	free(a);
	*pa = NULL;
}

int auth_store_fail(http_req *r, int rc)
{
	log_error("auth: store error %d on %s %s", rc, http_req_method(r), http_req_path(r));
	/* A lock held past SQLite's busy timeout and a pool with no free
	 * connection are the same to a client: retry later. */
	if (rc == STORE_EBUSY || rc == -ETIMEDOUT)
		http_reply_errno(r, -ETIMEDOUT, "the store is busy; retry");
	else
		http_reply_error(r, 500, "internal", "store error");
	return rc;
}

static int count_users(store_conn *c, int64_t *n)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT COUNT(*) FROM users", &rows, SNOARGS);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		*n = store_rows_int(rows, 0);
		rc = 0;
	} else if (rc == 0) {
		rc = -EIO;
	}
	store_rows_free(&rows);
	return rc;
}

/* Hashes with no connection held (as everywhere), then re-checks in the
 * inserting transaction that no other server made the first user. */
int auth_bootstrap(auth *a, const char *password, char **generated, int *created)
{
	store_conn *c = NULL;
	char *gen = NULL, *id = NULL, hash[AUTH_HASH_MAX];
	int64_t n = 0;
	int rc;
	*generated = NULL;
	*created = 0;
	if ((rc = store_acquire(a->st, &c)) == 0)
		rc = count_users(c, &n);
	store_release(&c);
	if (rc || n > 0)
		goto out;
	if (!password || !*password) {
		unsigned char raw[12];
		gen = xmalloc(25);
		sn_random(raw, sizeof raw);
		sn_hex(raw, sizeof raw, gen);
		password = gen;
	}
	if ((rc = a->pw.hash(password, hash)) || (rc = store_acquire(a->st, &c)))
		goto out;
	if ((rc = store_begin(c)) || (rc = count_users(c, &n)) || n > 0)
		goto out;
	id = sn_id_new("u_");
	int64_t now = sn_now_ms();
	rc = store_exec(c, "INSERT INTO users (id, username, pw_hash, role, disabled, created_at, updated_at)"
			   " VALUES ($1, 'admin', $2, 'superadmin', 0, $3, $3)",
			NULL, SARGS(SA_TEXT(id), SA_TEXT(hash), SA_INT(now)));
	if (rc || (rc = store_commit(c)))
		goto out;
	*created = 1;
	*generated = gen;
	gen = NULL;
out:
	store_release(&c);
	free(id);
	free(gen);
	return rc;
}

size_t auth_routes(auth *a, http_route *out, size_t max)
{
	size_t n = 0;
	n += auth_token_routes(a, out + n, max - n);
	n += auth_user_routes(a, out + n, max - n);
	n += auth_group_routes(a, out + n, max - n);
	n += auth_audit_routes(a, out + n, max - n);
	return n;
}

static void user_free(void *p)
{
	free(p);
}

const auth_user *auth_caller(const http_req *r)
{
	return http_req_user(r);
}

/* The store's word on a token: -EACCES unknown, revoked or expired at
 * now; -EPERM for a disabled user. */
static int load_token(auth *a, const char *hash, int64_t now, struct auth_tc_val *v)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT t.id, t.expires_at, t.revoked_at, t.last_used_at, t.scope,"
				 " u.id, u.username, u.role, u.disabled FROM tokens t JOIN users u"
				 " ON u.id = t.user_id WHERE t.hash = $1", &rows, SARGS(SA_TEXT(hash)));
	if (rc || (rc = store_rows_next(rows)) < 0)
		goto out;
	memset(v, 0, sizeof *v);
	v->expires = rc == 1 && !store_rows_isnull(rows, 1) ? store_rows_int(rows, 1) : -1;
	if (rc == 0 || !store_rows_isnull(rows, 2) || auth_token_expired(v->expires, now)) {
		rc = -EACCES;
		goto out;
	}
	if (store_rows_int(rows, 8)) {
		rc = -EPERM;
		goto out;
	}
	sn_strlcpy(v->u.token_id, store_rows_text(rows, 0), sizeof v->u.token_id);
	v->last_used = store_rows_isnull(rows, 3) ? 0 : store_rows_int(rows, 3);
	/* A scope this server does not know grants nothing beyond ingest. */
	if (auth_scope_parse(store_rows_text(rows, 4), &v->u.scope))
		v->u.scope = AUTH_SCOPE_METRICS_WRITE;
	sn_strlcpy(v->u.id, store_rows_text(rows, 5), sizeof v->u.id);
	sn_strlcpy(v->u.username, store_rows_text(rows, 6), sizeof v->u.username);
	if (auth_role_parse(store_rows_text(rows, 7), &v->u.role))
		v->u.role = ROLE_NONE;
	rc = 0;
out:
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

int auth_token_check(auth *a, const char *hash, auth_user *u)
{
	int64_t mono = a->mono_ms(), now = sn_now_ms();
	int hit = auth_tcache_get(a->tcache, hash, mono, now, u);
	if (hit == TC_HIT)
		return 0;
	uint64_t gen = auth_tcache_gen(a->tcache);
	struct auth_tc_val v;
	int rc = load_token(a, hash, now, &v);
	if (rc == 0) {
		auth_tcache_put(a->tcache, hash, &v, mono, now, gen);
		*u = v.u;
	} else if (rc == -EACCES || rc == -EPERM) {
		auth_tcache_remove(a->tcache, hash);
	} else if (hit == TC_REFRESH) {
		/* The entry is still within its trust (*u filled by the get): a
		 * store hiccup fails no request before the trust runs out. */
		rc = 0;
	}
	return rc;
}

#define TOKEN_MAX 200

/* The request's token: the Authorization header's bearer token, or without
 * that header the browser session cookie (*cookie set). 0, or -EINVAL when
 * neither holds one (or it is longer than TOKEN_MAX). */
static int request_token(http_req *r, char tok[TOKEN_MAX + 1], int *cookie)
{
	const char *h = http_req_header(r, "Authorization");
	*cookie = 0;
	if (h) {
		if (strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) > TOKEN_MAX || !h[7])
			return -EINVAL;
		memcpy(tok, h + 7, strlen(h + 7) + 1);
		return 0;
	}
	*cookie = 1;
	return http_req_cookie(r, AUTH_SESSION_COOKIE, tok, TOKEN_MAX + 1) > 0 ? 0 : -EINVAL;
}

/* Validates the bearer token or session cookie (from the cache: no store
 * query on a hit), then for a cookie the CSRF token and origin of a
 * mutation, then the token's scope and the route's role. */
int auth_hook(http_req *r, const http_route *route, void *ctx)
{
	auth *a = ctx;
	auth_user u;
	char hash[65], tok[TOKEN_MAX + 1];
	int cookie;
	if (request_token(r, tok, &cookie)) {
		http_reply_header(r, "WWW-Authenticate", "Bearer");
		http_reply_error(r, 401, "unauthorized", "missing or malformed Authorization: Bearer token"
				 " (or session cookie)");
		return 1;
	}
	sn_sha256_hex(tok, strlen(tok), hash);
	int rc = auth_token_check(a, hash, &u);
	if (rc == -EACCES) {
		/* A dead session's cookies go too, so the browser stops sending them. */
		if (cookie)
			auth_session_cookies(r, NULL, NULL, 0);
		http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		http_reply_error(r, 401, "unauthorized", cookie ? "the session is invalid, expired or"
				 " revoked: log in again" : "the token is invalid, expired or revoked");
		return 1;
	}
	if (rc == -EPERM) {
		http_reply_error(r, 401, "unauthorized", "the account is disabled");
		return 1;
	}
	if (rc) {
		auth_store_fail(r, rc);
		return 1;
	}
	auth_user *caller = xmalloc(sizeof *caller);
	*caller = u;
	caller->via_cookie = cookie;
	http_req_set_auth(r, caller, user_free, caller->username);
	if (cookie && auth_session_check(r, tok))
		return 1;
	if (!auth_scope_allows(u.scope, route->flags)) {
		http_reply_header(r, "WWW-Authenticate", "Bearer error=\"insufficient_scope\"");
		http_reply_error(r, 403, "insufficient_scope", "a token of scope %s may only push"
				 " metrics", auth_scope_name(u.scope));
		return 1;
	}
	if ((int)u.role < route->min_role) {
		http_reply_error(r, 403, "forbidden", "this needs the %s role",
				 auth_role_name((enum auth_role)route->min_role));
		return 1;
	}
	return 0;
}

int auth_collect(store_rows *rows, int limit, json_t *(*fn)(store_rows *), const char *key,
		 json_t **items, char **next)
{
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;
	*next = NULL;
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		if ((int)json_array_size(arr) == limit) {
			const char *v = json_string_value(json_object_get(json_array_get(arr,
									(size_t)limit - 1), key));
			*next = v ? xstrdup(v) : NULL;
			break;
		}
		/* A row jansson cannot encode (not UTF-8) fails the page: a list
		 * that silently skips rows would mislead, above all the audit. */
		rc = json_array_append_new(arr, fn(rows)) ? -EILSEQ : 0;
	}
	if (rc < 0) {
		json_decref(arr);
		return rc;
	}
	*items = arr;
	return 0;
}

void auth_reply_page(http_req *r, auth *a, const char *sql, int nargs, const store_arg *args,
		     int limit, json_t *(*fn)(store_rows *), const char *key)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = NULL;
	char *next = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, sql, &rows, nargs, args);
	if (rc || (rc = auth_collect(rows, limit, fn, key, &items, &next)))
		auth_store_fail(r, rc);
	else
		http_reply_list(r, items, next);
	free(next);
	store_rows_free(&rows);
	store_release(&c);
}

size_t auth_copy_routes(const http_route *src, size_t n, http_route *out, size_t max)
{
	if (n > max)
		n = max;
	memcpy(out, src, n * sizeof *out);
	return n;
}
