/* Password hashing and verification, tokens and their expiry, the auth
 * schema, a busy store, the offline password reset and local audit. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <pwd.h>
#include "auth/auth_int.h"
#include "base/util.h"
#include "test_db.h"

static void test_password(void **state)
{
	(void)state;
	char h1[AUTH_HASH_MAX], h2[AUTH_HASH_MAX];
	assert_int_equal(sn_base_init(), 0);
	assert_int_equal(auth_password_hash("correct horse", h1), 0);
	assert_int_equal(strncmp(h1, "$argon2id$", 10), 0);
	assert_int_equal(auth_password_verify(h1, "correct horse"), 0);
	assert_int_equal(auth_password_verify(h1, "correct horsE"), -13 /* EACCES */);
	assert_int_equal(auth_password_verify(h1, ""), -13);
	/* Salted: the same password hashes differently. */
	assert_int_equal(auth_password_hash("correct horse", h2), 0);
	assert_string_not_equal(h1, h2);
	assert_int_equal(auth_password_verify(h2, "correct horse"), 0);
	/* Anything but an Argon2id string is refused. */
	assert_int_equal(auth_password_verify("plaintext", "plaintext"), -22);
	assert_int_equal(auth_password_verify("", ""), -22);
}

static void test_token(void **state)
{
	(void)state;
	char h1[65], h2[65], check[65];
	char *t1 = auth_token_new(h1), *t2 = auth_token_new(h2);
	assert_int_equal(strncmp(t1, "snt_", 4), 0);
	assert_int_equal(strlen(t1), 4 + 64);
	assert_string_not_equal(t1, t2);
	assert_string_not_equal(h1, h2);
	/* Only the hash is stored: it must be the SHA-256 of the token text. */
	sn_sha256_hex(t1, strlen(t1), check);
	assert_string_equal(h1, check);
	assert_string_not_equal(h1, t1 + 4);
	free(t1);
	free(t2);
}

static void test_expiry(void **state)
{
	(void)state;
	assert_false(auth_token_expired(-1, 1000));           /* never expires */
	assert_false(auth_token_expired(2000, 1999));
	assert_true(auth_token_expired(2000, 2000));          /* expiry instant is expired */
	assert_true(auth_token_expired(2000, 5000));
	assert_false(auth_token_expired(INT64_MAX, sn_now_ms()));
}

static void test_roles(void **state)
{
	(void)state;
	enum auth_role r;
	assert_int_equal(auth_role_parse("admin", &r), 0);
	assert_int_equal(r, ROLE_ADMIN);
	assert_int_equal(auth_role_parse("superadmin", &r), 0);
	assert_int_equal(r, ROLE_SUPERADMIN);
	assert_int_not_equal(auth_role_parse("root", &r), 0);
	assert_int_not_equal(auth_role_parse("none", &r), 0);
	assert_true(ROLE_MEMBER < ROLE_ADMIN && ROLE_ADMIN < ROLE_SUPERADMIN);
	assert_string_equal(auth_role_name(ROLE_MEMBER), "member");
}

/* A store in a fresh directory and an auth on it with an admin. */
struct fixture {
	char dir[64], url[256];
	store *st;
	auth *a;
};

static const store_domain *const auth_domains[] = { &auth_store_domain };

/* pool_size and timeout_ms 0: the store's defaults. */
static void fixture_open_pool(struct fixture *f, const auth_config *cfg, int pool_size,
			      int64_t timeout_ms)
{
	char err[256];
	char *gen = NULL;
	int created = -1;
	store_opts so = { .domains = auth_domains, .ndomains = 1, .pool_size = pool_size,
			  .acquire_timeout_ms = timeout_ms };
	snprintf(f->dir, sizeof f->dir, "/tmp/test_auth.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(test_db_url(f->dir, "db", f->url, sizeof f->url), 0);
	assert_int_equal(store_open(f->url, &so, &f->st, err, sizeof err), 0);
	assert_int_equal(auth_new(f->st, NULL, cfg, &f->a), 0);
	assert_int_equal(auth_bootstrap(f->a, "adminpass123", &gen, &created), 0);
	assert_null(gen);
	assert_int_equal(created, 1);
}

static void fixture_open(struct fixture *f, const auth_config *cfg)
{
	fixture_open_pool(f, cfg, 0, 0);
}

static void fixture_close(struct fixture *f)
{
	char cmd[128];
	auth_free(&f->a);
	store_free(&f->st);
	test_db_drop(f->url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void test_id_shape(void **state)
{
	(void)state;
	assert_true(auth_id_shaped("u_0123abcdef", "u_"));
	assert_false(auth_id_shaped("u_", "u_"));
	assert_false(auth_id_shaped("u_grace", "u_"));
	assert_false(auth_id_shaped("u_ABCD", "u_"));  /* ids are lower-case hex */
	assert_false(auth_id_shaped("g_00ff", "u_"));
	assert_true(auth_id_shaped("g_00ff", "g_"));
	assert_false(auth_id_shaped("admin", "u_"));
}

/* Attempts in flight count: 5 reserved and not yet ended refuse a 6th, as
 * 5 failures would; a pair's limit binds no other user and no other address,
 * and the user's failures from elsewhere only add a delay. */
static void test_throttle_parallel(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { .login_max_failures = 5, .login_lockout_ms = 60000 };
	struct auth_attempt t[6], o;
	int64_t retry;
	fixture_open(&f, &cfg);
	for (int i = 0; i < 5; i++)
		assert_int_equal(auth_throttle_begin(f.a, "x", "10.0.0.1", &t[i], &retry), 0);
	assert_int_equal(auth_throttle_begin(f.a, "x", "10.0.0.1", &t[5], &retry), -EAGAIN);
	assert_true(retry >= 1000);
	assert_int_equal(auth_throttle_begin(f.a, "y", "10.0.0.1", &o, &retry), 0);
	auth_throttle_end(f.a, &o, ATTEMPT_OK);
	for (int i = 0; i < 5; i++)
		auth_throttle_end(f.a, &t[i], ATTEMPT_FAILED);
	assert_int_equal(auth_throttle_begin(f.a, "x", "10.0.0.1", &t[5], &retry), -EAGAIN);
	assert_true(retry > 50000);  /* now locked for the lockout */
	assert_int_equal(auth_throttle_begin(f.a, "x", "10.0.0.2", &o, &retry), 0);
	assert_true(o.delay_ms > 0 && o.delay_ms <= 8000);
	auth_throttle_end(f.a, &o, ATTEMPT_OK);
	/* An attempt that was never verified (busy, store error) counts nothing. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(auth_throttle_begin(f.a, "z", "10.0.0.3", &o, &retry), 0);
		auth_throttle_end(f.a, &o, ATTEMPT_UNVERIFIED);
	}
	assert_int_equal(auth_throttle_begin(f.a, "z", "10.0.0.3", &o, &retry), 0);
	auth_throttle_end(f.a, &o, ATTEMPT_UNVERIFIED);
	/* The address limit (4 x 5) counts every user from it. */
	for (int i = 0; i < 20; i++) {
		char u[16];
		snprintf(u, sizeof u, "n%d", i);
		assert_int_equal(auth_throttle_begin(f.a, u, "10.0.0.4", &o, &retry), 0);
		auth_throttle_end(f.a, &o, ATTEMPT_FAILED);
	}
	assert_int_equal(auth_throttle_begin(f.a, "fresh", "10.0.0.4", &o, &retry), -EAGAIN);
	/* The password-change throttle is per account. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(auth_throttle_begin(f.a, "u_1", NULL, &o, &retry), 0);
		auth_throttle_end(f.a, &o, ATTEMPT_FAILED);
	}
	assert_int_equal(auth_throttle_begin(f.a, "u_1", NULL, &o, &retry), -EAGAIN);
	assert_int_equal(auth_throttle_begin(f.a, "u_2", NULL, &o, &retry), 0);
	auth_throttle_end(f.a, &o, ATTEMPT_OK);
	fixture_close(&f);
}

static void *gate_waiter(void *arg)
{
	auth *a = arg;
	intptr_t rc = auth_gate_enter(a);
	if (rc == 0)
		auth_gate_leave(a);
	return (void *)rc;
}

static int gate_waiting(auth *a)
{
	pthread_mutex_lock(&a->hash_mu);
	int n = a->hash_waiting;
	pthread_mutex_unlock(&a->hash_mu);
	return n;
}

/* One slot and a queue of one: the holder runs, one waits, the next is
 * told -EBUSY at once (never queued without bound). */
static void test_hash_gate(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { .hash_slots = 1, .hash_queue = 1 };
	pthread_t th;
	void *res;
	fixture_open(&f, &cfg);
	assert_int_equal(auth_gate_enter(f.a), 0);
	assert_int_equal(pthread_create(&th, NULL, gate_waiter, f.a), 0);
	while (gate_waiting(f.a) < 1)
		usleep(1000);
	assert_int_equal(auth_gate_enter(f.a), -EBUSY);
	char h[AUTH_HASH_MAX];
	assert_int_equal(auth_hash(f.a, "some password", h), -EBUSY);
	auth_gate_leave(f.a);
	assert_int_equal(pthread_join(th, &res), 0);
	assert_int_equal((intptr_t)res, 0);
	assert_int_equal(auth_hash(f.a, "some password", h), 0);
	assert_int_equal(auth_verify(f.a, h, "some password"), 0);
	fixture_close(&f);
}

/* The probe verifier checks that while a password is verified, every
 * store connection can be taken: the login holds none while hashing. */
#define STORE_POOL STORE_POOL_SIZE
static struct {
	store *st;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int taken, calls, all_free;
	pthread_t grabber;
} probe = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *grab_all(void *arg)
{
	(void)arg;
	store_conn *c[STORE_POOL] = { 0 };
	for (int i = 0; i < STORE_POOL; i++)
		store_acquire(probe.st, &c[i]);
	pthread_mutex_lock(&probe.mu);
	probe.taken = 1;
	pthread_cond_signal(&probe.cv);
	pthread_mutex_unlock(&probe.mu);
	for (int i = 0; i < STORE_POOL; i++)
		store_release(&c[i]);
	return NULL;
}

static int probe_verify(const char *hash, const char *password)
{
	struct timespec until;
	probe.taken = 0;
	assert_int_equal(pthread_create(&probe.grabber, NULL, grab_all, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 5;
	pthread_mutex_lock(&probe.mu);
	while (!probe.taken && pthread_cond_timedwait(&probe.cv, &probe.mu, &until) == 0)
		;
	probe.all_free = probe.taken;
	probe.calls++;
	pthread_mutex_unlock(&probe.mu);
	return auth_password_verify(hash, password);
}

static void test_login_holds_no_connection_while_hashing(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	char uid[48];
	int64_t retry;
	fixture_open(&f, &cfg);
	probe.st = f.st;
	f.a->pw.verify = probe_verify;
	int rc = auth_login_check(f.a, "admin", "adminpass123", "10.0.0.1", uid, &retry);
	/* The grabber finishes once the login gave its connection back. */
	assert_int_equal(pthread_join(probe.grabber, NULL), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(probe.calls, 1);
	assert_true(probe.all_free);
	assert_int_equal(strncmp(uid, "u_", 2), 0);
	rc = auth_login_check(f.a, "admin", "wrong-password", "10.0.0.1", uid, &retry);
	assert_int_equal(pthread_join(probe.grabber, NULL), 0);
	assert_int_equal(rc, -EACCES);
	assert_true(probe.all_free);
	fixture_close(&f);
}

static int64_t count(store *st, const char *sql, const char *arg)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int64_t n = -1;
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(store_query(c, sql, &r, SARGS(SA_TEXT(arg))), 0);
	if (store_rows_next(r) == 1)
		n = store_rows_int(r, 0);
	store_rows_free(&r);
	store_release(&c);
	return n;
}

/* The auth domain owns its schema: its versions are recorded under its
 * name, and the audit table stays insert-only (its triggers). A second
 * bootstrap on a store with users creates nothing and says so. */
static void test_schema(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	store_conn *c = NULL;
	char *gen = NULL;
	int created = -1;
	fixture_open(&f, &cfg);
	assert_int_equal(store_schema_version(f.st, "auth"), auth_store_domain.n);
	assert_true(auth_store_domain.legacy);
	assert_int_equal(auth_bootstrap(f.a, "otherpass123", &gen, &created), 0);
	assert_int_equal(created, 0);
	assert_null(gen);
	assert_int_equal(store_acquire(f.st, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO audit (id, ts, action, outcome, status)"
				       " VALUES ('a1', $1, 'x', 'success', 200)", NULL,
				    SARGS(SA_INT(sn_now_ms()))), 0);
	assert_int_not_equal(store_exec(c, "UPDATE audit SET action = 'y'", NULL, SNOARGS), 0);
	assert_int_not_equal(store_exec(c, "DELETE FROM audit", NULL, SNOARGS), 0);
	store_release(&c);
	fixture_close(&f);
}

/* With every connection held, a login gives up after the store timeout
 * with -ETIMEDOUT, which the HTTP layer answers 503 store_busy (before,
 * store_acquire waited for ever). */
static void test_store_busy(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	store_conn *held = NULL;
	char uid[48];
	const char *code = NULL;
	int64_t retry;
	fixture_open_pool(&f, &cfg, 1, 50);
	assert_int_equal(store_acquire(f.st, &held), 0);
	assert_int_equal(auth_login_check(f.a, "admin", "adminpass123", "10.0.0.1", uid, &retry),
			 -ETIMEDOUT);
	assert_int_equal(http_errno_status(-ETIMEDOUT, &code), 503);
	assert_string_equal(code, "store_busy");
	assert_int_equal(auth_audit_local(f.st, "x.y", "t", 200), -ETIMEDOUT);
	store_release(&held);
	assert_int_equal(auth_login_check(f.a, "admin", "adminpass123", "10.0.0.1", uid, &retry), 0);
	fixture_close(&f);
}

/* The offline reset: checks the password length and the user, sets the
 * hash, revokes every token (API ones too) and leaves one audit row by
 * local:<unix user>; local audit rows of other commands likewise. */
static void test_reset_password(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	store_conn *c = NULL;
	char actor[128], uid[48];
	int64_t retry;
	const struct passwd *pw = getpwuid(getuid());
	snprintf(actor, sizeof actor, "local:%s", pw->pw_name);
	fixture_open(&f, &cfg);
	assert_int_equal(store_acquire(f.st, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO tokens (id, user_id, hash, kind, name, created_at)"
				       " SELECT 'tok_1', id, 'h1', 'api', 'ci', 1 FROM users", NULL,
				    SNOARGS), 0);
	store_release(&c);
	assert_int_equal(auth_reset_password(f.st, "admin", "short"), -EINVAL);
	assert_int_equal(auth_reset_password(f.st, "nobody", "longenough1"), -ENOENT);
	assert_int_equal(count(f.st, "SELECT COUNT(*) FROM audit WHERE actor = $1", actor), 0);
	assert_int_equal(auth_reset_password(f.st, "admin", "brand-new-pw"), 0);
	assert_int_equal(auth_login_check(f.a, "admin", "adminpass123", "10.0.0.1", uid, &retry),
			 -EACCES);
	assert_int_equal(auth_login_check(f.a, "admin", "brand-new-pw", "10.0.0.1", uid, &retry), 0);
	assert_int_equal(count(f.st, "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL"
				     " AND name = $1", "ci"), 0);
	assert_int_equal(count(f.st, "SELECT COUNT(*) FROM audit WHERE actor = $1 AND action ="
				     " 'user.reset_password' AND target = 'admin' AND outcome = 'success'"
				     " AND address IS NULL", actor), 1);
	assert_int_equal(auth_audit_local(f.st, "runtime.ingest", "py3", 500), 0);
	assert_int_equal(count(f.st, "SELECT COUNT(*) FROM audit WHERE actor = $1 AND action ="
				     " 'runtime.ingest' AND outcome = 'failure'", actor), 1);
	fixture_close(&f);
}

/* ---- the token cache and scopes ---- */

/* An ingest token reaches HTTP_INGEST routes only; scope all reaches all. */
static void test_scope(void **state)
{
	(void)state;
	enum auth_scope sc;
	assert_int_equal(auth_scope_parse("all", &sc), 0);
	assert_int_equal(sc, AUTH_SCOPE_ALL);
	assert_int_equal(auth_scope_parse("metrics:write", &sc), 0);
	assert_int_equal(sc, AUTH_SCOPE_METRICS_WRITE);
	assert_int_equal(auth_scope_parse("metrics:read", &sc), -EINVAL);
	assert_int_equal(auth_scope_parse("", &sc), -EINVAL);
	assert_string_equal(auth_scope_name(AUTH_SCOPE_METRICS_WRITE), "metrics:write");
	assert_string_equal(auth_scope_name(AUTH_SCOPE_ALL), "all");
	assert_true(auth_scope_allows(AUTH_SCOPE_ALL, 0));
	assert_true(auth_scope_allows(AUTH_SCOPE_ALL, HTTP_INGEST));
	assert_true(auth_scope_allows(AUTH_SCOPE_METRICS_WRITE, HTTP_INGEST));
	assert_true(auth_scope_allows(AUTH_SCOPE_METRICS_WRITE, HTTP_INGEST | HTTP_RAW_BODY));
	assert_false(auth_scope_allows(AUTH_SCOPE_METRICS_WRITE, 0));
	assert_false(auth_scope_allows(AUTH_SCOPE_METRICS_WRITE, HTTP_RAW_BODY | HTTP_STREAM_BODY));
	/* A zeroed caller (the node hook's) has scope all. */
	auth_user z;
	memset(&z, 0, sizeof z);
	assert_int_equal(z.scope, AUTH_SCOPE_ALL);
}

static void tc_val(struct auth_tc_val *v, const char *uid, const char *tid, int64_t expires)
{
	memset(v, 0, sizeof *v);
	snprintf(v->u.id, sizeof v->u.id, "%s", uid);
	snprintf(v->u.token_id, sizeof v->u.token_id, "%s", tid);
	snprintf(v->u.username, sizeof v->u.username, "user-%s", uid);
	v->u.role = ROLE_MEMBER;
	v->expires = expires;
}

static void tc_hash(int i, char out[65])
{
	char in[32];
	snprintf(in, sizeof in, "token-%d", i);
	sn_sha256_hex(in, strlen(in), out);
}

/* Trust: an entry serves until 750 ms of age; from then on one caller
 * (the first) is told to re-verify while the others go on, and at 1 s it
 * serves no one. Expiry is exact. */
static void test_tcache_trust(void **state)
{
	(void)state;
	auth_tcache *tc = NULL;
	struct auth_tc_val v;
	auth_user u;
	char h[65], h2[65];
	const int64_t now = sn_now_ms(), t0 = 5000;
	assert_int_equal(auth_tcache_new(0, &tc), 0);
	assert_int_equal(auth_tcache_capacity(tc), 65536);
	tc_hash(1, h);
	tc_hash(2, h2);
	assert_int_equal(auth_tcache_get(tc, h, t0, now, &u), TC_MISS);
	tc_val(&v, "u_1", "tok_1", -1);
	auth_tcache_put(tc, h, &v, t0, now, auth_tcache_gen(tc));
	assert_int_equal(auth_tcache_get(tc, h, t0 + 1, now, &u), TC_HIT);
	assert_string_equal(u.token_id, "tok_1");
	assert_string_equal(u.username, "user-u_1");
	assert_int_equal(auth_tcache_get(tc, h2, t0 + 1, now, &u), TC_MISS);
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_REFRESH_MS - 1, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_REFRESH_MS, now, &u), TC_REFRESH);
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_REFRESH_MS + 5, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_TRUST_MS - 1, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_TRUST_MS, now, &u), TC_MISS);
	/* The refresh lands: trusted anew, claimable again later. */
	auth_tcache_put(tc, h, &v, t0 + 800, now, auth_tcache_gen(tc));
	assert_int_equal(auth_tcache_get(tc, h, t0 + AUTH_TC_TRUST_MS, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h, t0 + 800 + AUTH_TC_REFRESH_MS, now, &u), TC_REFRESH);
	/* A late read older than what is cached changes nothing. */
	tc_val(&v, "u_1", "tok_old", -1);
	auth_tcache_put(tc, h, &v, t0 + 10, now, auth_tcache_gen(tc));
	assert_int_equal(auth_tcache_get(tc, h, t0 + 801, now, &u), TC_HIT);
	assert_string_equal(u.token_id, "tok_1");
	/* Expiry: valid up to the instant, not at it, cache or no cache. */
	tc_val(&v, "u_2", "tok_2", now + 10);
	auth_tcache_put(tc, h2, &v, t0, now, auth_tcache_gen(tc));
	assert_int_equal(auth_tcache_get(tc, h2, t0 + 1, now + 9, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h2, t0 + 2, now + 9, &u), TC_HIT); /* per-thread copy */
	assert_int_equal(auth_tcache_get(tc, h2, t0 + 3, now + 10, &u), TC_MISS);
	auth_tcache_free(&tc);
	assert_null(tc);
}

/* A drop ends the entries of a token or of a user at once, the per-thread
 * copy included, and a store read that began before the drop cannot put
 * its (stale) answer back. */
static void test_tcache_drop(void **state)
{
	(void)state;
	auth_tcache *tc = NULL;
	struct auth_tc_val v;
	auth_user u;
	char h[4][65];
	const int64_t now = sn_now_ms();
	assert_int_equal(auth_tcache_new(1024, &tc), 0);
	for (int i = 0; i < 4; i++) {
		char tid[16];
		tc_hash(i, h[i]);
		snprintf(tid, sizeof tid, "tok_%d", i);
		tc_val(&v, i < 2 ? "u_a" : "u_b", tid, -1);
		auth_tcache_put(tc, h[i], &v, 100, now, auth_tcache_gen(tc));
	}
	assert_int_equal(auth_tcache_size(tc), 4);
	/* Fill this thread's copy with h[0], then drop its token. */
	assert_int_equal(auth_tcache_get(tc, h[0], 101, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_get(tc, h[0], 102, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_drop(tc, "tok_0", NULL), 1);
	assert_int_equal(auth_tcache_get(tc, h[0], 103, now, &u), TC_MISS);
	assert_int_equal(auth_tcache_get(tc, h[1], 103, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_drop(tc, NULL, "u_b"), 2);
	assert_int_equal(auth_tcache_get(tc, h[2], 104, now, &u), TC_MISS);
	assert_int_equal(auth_tcache_get(tc, h[3], 104, now, &u), TC_MISS);
	assert_int_equal(auth_tcache_get(tc, h[1], 104, now, &u), TC_HIT);
	assert_int_equal(auth_tcache_drop(tc, NULL, NULL), 0);
	/* A read that raced a drop. */
	uint64_t gen = auth_tcache_gen(tc);
	assert_int_equal(auth_tcache_drop(tc, "tok_2", NULL), 0);
	tc_val(&v, "u_b", "tok_2", -1);
	auth_tcache_put(tc, h[2], &v, 105, now, gen);
	assert_int_equal(auth_tcache_get(tc, h[2], 106, now, &u), TC_MISS);
	auth_tcache_put(tc, h[2], &v, 107, now, auth_tcache_gen(tc));
	assert_int_equal(auth_tcache_get(tc, h[2], 108, now, &u), TC_HIT);
	/* remove: a failed re-verification. */
	auth_tcache_remove(tc, h[2]);
	assert_int_equal(auth_tcache_get(tc, h[2], 109, now, &u), TC_MISS);
	assert_int_equal(auth_tcache_size(tc), 1);
	auth_tcache_free(&tc);
}

/* Bounded: 20,000 tokens through a cache of 512 leave at most 512; the
 * latest is there, and a token in steady use survives the churn (the
 * window evicts its least recently used entry). */
static void test_tcache_bound(void **state)
{
	(void)state;
	auth_tcache *tc = NULL;
	struct auth_tc_val v;
	auth_user u;
	char h[65], hot[65];
	const int64_t now = sn_now_ms();
	assert_int_equal(auth_tcache_new(1000, &tc), 0);
	assert_int_equal(auth_tcache_capacity(tc), 512);
	tc_hash(-1, hot);
	tc_val(&v, "u_hot", "tok_hot", -1);
	auth_tcache_put(tc, hot, &v, 1, now, auth_tcache_gen(tc));
	for (int i = 0; i < 20000; i++) {
		tc_hash(i, h);
		tc_val(&v, "u_x", "tok_x", -1);
		auth_tcache_put(tc, h, &v, 2 + i / 100, now, auth_tcache_gen(tc));
		assert_true(auth_tcache_size(tc) <= 512);
		assert_int_equal(auth_tcache_get(tc, h, 2 + i / 100, now, &u), TC_HIT);
		if (i % 4 == 0)
			assert_int_equal(auth_tcache_get(tc, hot, 2 + i / 100, now, &u), TC_HIT);
	}
	assert_true(auth_tcache_size(tc) >= 256);
	auth_tcache_free(&tc);
	/* The smallest cache still holds one per shard. */
	assert_int_equal(auth_tcache_new(1, &tc), 0);
	assert_int_equal(auth_tcache_capacity(tc), 64);
	auth_tcache_free(&tc);
}

static int64_t fake_mono;
static int64_t fake_clock(void)
{
	return fake_mono;
}

/* Inserts an API token of admin's (scope given) and returns its hash. */
static void add_token(store *st, const char *tid, const char *scope, int64_t expires, char hash[65])
{
	store_conn *c = NULL;
	free(auth_token_new(hash));
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(store_exec(c, "INSERT INTO tokens (id, user_id, hash, kind, name, created_at,"
				       " expires_at, scope) SELECT $1, id, $2, 'api', 'n', 1, $3, $4"
				       " FROM users WHERE username = 'admin'", NULL,
				    SARGS(SA_TEXT(tid), SA_TEXT(hash),
					  expires < 0 ? SA_NULL : SA_INT(expires), SA_TEXT(scope))), 0);
	store_release(&c);
}

static void sql(store *st, const char *q)
{
	store_conn *c = NULL;
	assert_int_equal(store_acquire(st, &c), 0);
	assert_int_equal(store_exec(c, q, NULL, SNOARGS), 0);
	store_release(&c);
}

/* auth_token_check: a hit needs no store connection (the only one is
 * held); a change another process makes in the store shows once the entry
 * is 1 s old (revocation, disabled user, expiry moved); the scope is read. */
static void test_token_check(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	store_conn *held = NULL;
	auth_user u;
	char h1[65], h2[65], h3[65];
	fixture_open_pool(&f, &cfg, 1, 50);
	f.a->mono_ms = fake_clock;
	fake_mono = 1000000;
	add_token(f.st, "tok_a", "all", -1, h1);
	add_token(f.st, "tok_m", "metrics:write", -1, h2);
	add_token(f.st, "tok_e", "all", sn_now_ms() + 3600000, h3);
	assert_int_equal(auth_token_check(f.a, h1, &u), 0);
	assert_string_equal(u.token_id, "tok_a");
	assert_string_equal(u.username, "admin");
	assert_int_equal(u.role, ROLE_SUPERADMIN);
	assert_int_equal(u.scope, AUTH_SCOPE_ALL);
	assert_int_equal(auth_token_check(f.a, h2, &u), 0);
	assert_int_equal(u.scope, AUTH_SCOPE_METRICS_WRITE);
	assert_int_equal(auth_token_check(f.a, h3, &u), 0);
	/* Cached: served with the store's one connection held. */
	assert_int_equal(store_acquire(f.st, &held), 0);
	fake_mono += 500;
	assert_int_equal(auth_token_check(f.a, h1, &u), 0);
	assert_int_equal(auth_token_check(f.a, h2, &u), 0);
	char unknown[65];
	tc_hash(7, unknown);
	assert_int_equal(auth_token_check(f.a, unknown, &u), -ETIMEDOUT);
	/* Due for refresh, store busy: still within its trust, still served. */
	fake_mono += AUTH_TC_REFRESH_MS - 500;
	assert_int_equal(auth_token_check(f.a, h1, &u), 0);
	store_release(&held);
	assert_int_equal(auth_token_check(f.a, unknown, &u), -EACCES);
	/* Another process revokes tok_a, disables nobody yet, moves tok_e's
	 * expiry to the past: nothing shows before the entries are 1 s old. */
	fake_mono += AUTH_TC_TRUST_MS; /* every entry re-read once */
	assert_int_equal(auth_token_check(f.a, h1, &u), 0);
	assert_int_equal(auth_token_check(f.a, h2, &u), 0);
	assert_int_equal(auth_token_check(f.a, h3, &u), 0);
	sql(f.st, "UPDATE tokens SET revoked_at = 1 WHERE id = 'tok_a'");
	sql(f.st, "UPDATE tokens SET expires_at = 1 WHERE id = 'tok_e'");
	fake_mono += AUTH_TC_REFRESH_MS - 1;
	assert_int_equal(auth_token_check(f.a, h1, &u), 0);
	assert_int_equal(auth_token_check(f.a, h3, &u), 0);
	fake_mono += AUTH_TC_TRUST_MS - AUTH_TC_REFRESH_MS + 1;
	assert_int_equal(auth_token_check(f.a, h1, &u), -EACCES);
	assert_int_equal(auth_token_check(f.a, h3, &u), -EACCES);
	assert_int_equal(auth_token_check(f.a, h2, &u), 0);
	sql(f.st, "UPDATE users SET disabled = 1 WHERE username = 'admin'");
	fake_mono += AUTH_TC_TRUST_MS;
	assert_int_equal(auth_token_check(f.a, h2, &u), -EPERM);
	sql(f.st, "UPDATE users SET disabled = 0 WHERE username = 'admin'");
	assert_int_equal(auth_token_check(f.a, h2, &u), 0);
	/* A local drop needs no clock at all. */
	assert_true(auth_tcache_drop(f.a->tcache, NULL, u.id) >= 1);
	sql(f.st, "UPDATE tokens SET revoked_at = 1 WHERE id = 'tok_m'");
	assert_int_equal(auth_token_check(f.a, h2, &u), -EACCES);
	fixture_close(&f);
}

/* Last use: recorded by a hit, written by the flusher, not rewritten
 * within the minute. */
static void test_last_used(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	auth_user u;
	char h[65];
	fixture_open(&f, &cfg);
	add_token(f.st, "tok_l", "all", -1, h);
	assert_int_equal(count(f.st, "SELECT COUNT(*) FROM tokens WHERE id = $1 AND"
				     " last_used_at IS NULL", "tok_l"), 1);
	int64_t before = sn_now_ms();
	assert_int_equal(auth_token_check(f.a, h, &u), 0);
	assert_int_equal(auth_flush_last_used(f.a), 0);
	int64_t t1 = count(f.st, "SELECT last_used_at FROM tokens WHERE id = $1", "tok_l");
	assert_true(t1 >= before && t1 <= sn_now_ms());
	usleep(5000);
	assert_int_equal(auth_token_check(f.a, h, &u), 0);
	assert_int_equal(auth_flush_last_used(f.a), 0);
	assert_int_equal(count(f.st, "SELECT last_used_at FROM tokens WHERE id = $1", "tok_l"), t1);
	/* The store already holds a use newer than a minute ago: a cached
	 * token does not write it again (what another server wrote counts). */
	add_token(f.st, "tok_n", "all", -1, h);
	sql(f.st, "UPDATE tokens SET last_used_at = 4102444800000 WHERE id = 'tok_n'");
	assert_int_equal(auth_token_check(f.a, h, &u), 0);
	assert_int_equal(auth_flush_last_used(f.a), 0);
	assert_int_equal(count(f.st, "SELECT last_used_at FROM tokens WHERE id = $1", "tok_n"),
			 4102444800000LL);
	fixture_close(&f);
}

/* Eight threads check tokens while the main thread drops and revokes:
 * nothing breaks (under the sanitizers), and after the revocation and its
 * drop no check lets the revoked token in. */
struct hammer {
	auth *a;
	char (*h)[65];
	int n;
	_Atomic int stop;
	_Atomic int bad; /* the revoked token accepted after its drop */
	_Atomic int revoked;
};

static void *hammer_main(void *arg)
{
	struct hammer *hm = arg;
	auth_user u;
	for (unsigned i = 0; !hm->stop; i++) {
		int rev = hm->revoked;
		int rc = auth_token_check(hm->a, hm->h[i % (unsigned)hm->n], &u);
		if (i % (unsigned)hm->n == 0 && rev && rc == 0)
			hm->bad++;
	}
	return NULL;
}

static void test_tcache_threads(void **state)
{
	(void)state;
	struct fixture f;
	auth_config cfg = { 0 };
	char h[8][65];
	pthread_t th[8];
	struct hammer hm = { .h = h, .n = 8 };
	fixture_open(&f, &cfg);
	hm.a = f.a;
	for (int i = 0; i < 8; i++) {
		char tid[16];
		snprintf(tid, sizeof tid, "tok_%d", i);
		add_token(f.st, tid, "all", -1, h[i]);
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &hm), 0);
	for (int i = 0; i < 50; i++) {
		auth_tcache_drop(f.a->tcache, i % 2 ? "tok_3" : NULL, i % 2 ? NULL : "u_none");
		usleep(1000);
	}
	sql(f.st, "UPDATE tokens SET revoked_at = 1 WHERE id = 'tok_0'");
	auth_tcache_drop(f.a->tcache, "tok_0", NULL);
	hm.revoked = 1;
	usleep(100000);
	hm.stop = 1;
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(hm.bad, 0);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_id_shape),
		cmocka_unit_test(test_throttle_parallel),
		cmocka_unit_test(test_hash_gate),
		cmocka_unit_test(test_login_holds_no_connection_while_hashing),
		cmocka_unit_test(test_schema),
		cmocka_unit_test(test_store_busy),
		cmocka_unit_test(test_reset_password),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_tcache_trust),
		cmocka_unit_test(test_tcache_drop),
		cmocka_unit_test(test_tcache_bound),
		cmocka_unit_test(test_token_check),
		cmocka_unit_test(test_last_used),
		cmocka_unit_test(test_tcache_threads),
	};
	return cmocka_run_group_tests_name("auth", tests, NULL, NULL);
}
