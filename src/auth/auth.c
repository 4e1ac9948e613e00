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

#define DAY_MS (86400 * 1000LL)

static void *retention_main(void *arg)
{
	auth *a = arg;
	pthread_mutex_lock(&a->retention_mu);
	while (!a->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 86400;
		if (pthread_cond_timedwait(&a->retention_cv, &a->retention_mu, &until) == ETIMEDOUT &&
		    !a->stopping) {
			pthread_mutex_unlock(&a->retention_mu);
			auth_audit_purge(a, sn_now_ms());
			pthread_mutex_lock(&a->retention_mu);
		}
	}
	pthread_mutex_unlock(&a->retention_mu);
	return NULL;
}

int auth_new(store *st, hub *events, const auth_config *cfg, auth **out)
{
	auth *a = xcalloc(1, sizeof *a);
	a->st = st;
	a->events = events;
	a->cfg = *cfg;
	a->pw.hash = auth_password_hash;
	a->pw.verify = auth_password_verify;
	if (a->cfg.session_ttl_ms <= 0)
		a->cfg.session_ttl_ms = 24 * 3600 * 1000LL;
	if (a->cfg.login_max_failures <= 0)
		a->cfg.login_max_failures = 5;
	if (a->cfg.login_lockout_ms <= 0)
		a->cfg.login_lockout_ms = 60 * 1000;
	if (a->cfg.audit_retention_ms <= 0)
		a->cfg.audit_retention_ms = 365 * DAY_MS;
	pthread_mutex_init(&a->mu, NULL);
	auth_gate_init(a, a->cfg.hash_slots, a->cfg.hash_queue);
	pthread_mutex_init(&a->retention_mu, NULL);
	pthread_cond_init(&a->retention_cv, NULL);
	auth_audit_purge(a, sn_now_ms());
	if (pthread_create(&a->retention_thread, NULL, retention_main, a) == 0)
		a->retention_started = 1;
	else
		log_warn("auth: cannot start the daily audit retention; old rows go at the next start");
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

/* Validates the bearer token; records last use at most once a minute so
 * that reads do not turn into writes. */
int auth_hook(http_req *r, const http_route *route, void *ctx)
{
	auth *a = ctx;
	const char *h = http_req_header(r, "Authorization");
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = 1;
	if (!h || strncasecmp(h, "Bearer ", 7) != 0 || strlen(h + 7) > 200) {
		http_reply_header(r, "WWW-Authenticate", "Bearer");
		http_reply_error(r, 401, "unauthorized", "missing or malformed Authorization: Bearer token");
		return 1;
	}
	char hash[65];
	const char *tok = h + 7;
	sn_sha256_hex(tok, strlen(tok), hash);
	int q = store_acquire(a->st, &c);
	if (q == 0)
		q = store_query(c,
			    "SELECT t.id, t.expires_at, t.revoked_at, t.last_used_at, u.id, u.username,"
			    " u.role, u.disabled FROM tokens t JOIN users u ON u.id = t.user_id"
			    " WHERE t.hash = $1", &rows, SARGS(SA_TEXT(hash)));
	if (q || (q = store_rows_next(rows)) < 0) {
		auth_store_fail(r, q);
		goto out;
	}
	int64_t now = sn_now_ms();
	if (q == 0 || !store_rows_isnull(rows, 2) ||
	    auth_token_expired(store_rows_isnull(rows, 1) ? -1 : store_rows_int(rows, 1), now)) {
		http_reply_header(r, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
		http_reply_error(r, 401, "unauthorized", "the token is invalid, expired or revoked");
		goto out;
	}
	if (store_rows_int(rows, 7)) {
		http_reply_error(r, 401, "unauthorized", "the account is disabled");
		goto out;
	}
	auth_user *u = xcalloc(1, sizeof *u);
	sn_strlcpy(u->token_id, store_rows_text(rows, 0), sizeof u->token_id);
	sn_strlcpy(u->id, store_rows_text(rows, 4), sizeof u->id);
	sn_strlcpy(u->username, store_rows_text(rows, 5), sizeof u->username);
	if (auth_role_parse(store_rows_text(rows, 6), &u->role))
		u->role = ROLE_NONE;
	int64_t last = store_rows_isnull(rows, 3) ? 0 : store_rows_int(rows, 3);
	store_rows_free(&rows);
	http_req_set_auth(r, u, user_free, u->username);
	/* Best effort: a failed update only delays the record to the next use. */
	if (now - last > 60000)
		store_exec(c, "UPDATE tokens SET last_used_at = $1 WHERE id = $2", NULL,
			   SARGS(SA_INT(now), SA_TEXT(u->token_id)));
	if ((int)u->role < route->min_role) {
		http_reply_error(r, 403, "forbidden", "this needs the %s role",
				 auth_role_name((enum auth_role)route->min_role));
		goto out;
	}
	rc = 0;
out:
	store_rows_free(&rows);
	store_release(&c);
	return rc;
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
