/* The limits that keep password checks from being guessed or abused: the
 * attempt throttle and the gate that bounds concurrent Argon2id work.
 *
 * Throttle. A key is "p:USER\x1fADDR" (a user from one address), "a:ADDR"
 * (an address, any user), "u:USER" (a user, any address) or "m:UID" (the
 * password change of a signed-in user). Invariants:
 *  1. An attempt is counted before it is verified: auth_throttle_begin
 *     reserves one in-flight place on each limiting key under a->mu, and
 *     auth_throttle_end turns it into a failure or drops it. So N parallel
 *     attempts are limited as N sequential ones: a key admits an attempt
 *     only while failures + in_flight < limit, and once over its limit at
 *     most one attempt at a time after its lockout has run out.
 *  2. Only keys that name the caller's own address (p:, a:) or the caller's
 *     own account (m:) ever refuse. The u: key only delays (exponentially,
 *     capped at DELAY_MAX_MS): failures from elsewhere never lock a user
 *     out, they slow every guess at that user.
 *  3. A slot with attempts in flight is never forgotten nor reused; idle
 *     slots are forgotten THROTTLE_FORGET_MS after their last failure.
 *
 * Hash gate. At most hash_slots Argon2id computations run at once (each
 * takes ~64 MiB and a core for tens of ms); up to hash_queue more wait;
 * beyond that the caller is told -EBUSY at once (503), so a flood of logins
 * can neither exhaust memory nor queue without bound. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "auth/auth_int.h"
#include "base/mem.h"
#include "base/util.h"

#define THROTTLE_FORGET_MS (15 * 60 * 1000LL)
#define LOCKOUT_MAX_MS (15 * 60 * 1000LL)
#define ADDR_FACTOR 4
#define DELAY_BASE_MS 500LL
#define DELAY_MAX_MS 8000LL

static int slot_idle(const struct throttle_slot *s)
{
	return s->in_flight == 0;
}

/* Finds key; with create, takes a free or the least recently used idle slot.
 * NULL when absent (or, with create, when every slot has attempts in flight). */
static struct throttle_slot *slot(auth *a, const char *key, int create, int64_t now)
{
	struct throttle_slot *victim = NULL;
	for (int i = 0; i < THROTTLE_SLOTS; i++) {
		struct throttle_slot *s = &a->throttle[i];
		if (s->key[0] && slot_idle(s) && now - s->last_ms > THROTTLE_FORGET_MS)
			s->key[0] = '\0';
		if (s->key[0] && strcmp(s->key, key) == 0)
			return s;
		if (slot_idle(s) && (!victim || !s->key[0] ||
				     (victim->key[0] && s->last_ms < victim->last_ms)))
			victim = s;
	}
	if (!create || !victim)
		return NULL;
	memset(victim, 0, sizeof *victim);
	sn_strlcpy(victim->key, key, sizeof victim->key);
	victim->last_ms = now;
	return victim;
}

/* How long a key over its limit stays locked: the lockout, doubled for
 * each failure beyond the limit, at most LOCKOUT_MAX_MS. */
static int64_t lockout_left(auth *a, const struct throttle_slot *s, int limit, int64_t now)
{
	int64_t lock = a->cfg.login_lockout_ms;
	for (int i = limit; i < s->failures && lock < LOCKOUT_MAX_MS; i++)
		lock *= 2;
	if (lock > LOCKOUT_MAX_MS)
		lock = LOCKOUT_MAX_MS;
	int64_t left = s->last_ms + lock - now;
	return left > 0 ? left : 0;
}

/* 0 when s admits one more attempt now, else how long to wait (ms, >= 1). */
static int64_t admits(auth *a, const struct throttle_slot *s, int limit, int64_t now)
{
	if (s->failures + s->in_flight < limit)
		return 0;
	if (s->failures >= limit) {
		int64_t left = lockout_left(a, s, limit, now);
		if (left == 0 && s->in_flight == 0)
			return 0;
		return left > 1000 ? left : 1000;
	}
	/* Under the limit only because of attempts in flight: they decide. */
	return 1000;
}

static int64_t delay_for(auth *a, const struct throttle_slot *s)
{
	int over = s ? s->failures - a->cfg.login_max_failures : -1;
	if (over < 0)
		return 0;
	int64_t d = DELAY_BASE_MS << (over < 8 ? over : 8);
	return d < DELAY_MAX_MS ? d : DELAY_MAX_MS;
}

int auth_throttle_begin(auth *a, const char *user, const char *addr, struct auth_attempt *t,
			int64_t *retry_ms)
{
	char keys[2][128];
	int limits[2], n = 0, rc = 0;
	int64_t now = sn_now_ms(), wait = 0;
	memset(t, 0, sizeof *t);
	*retry_ms = 0;
	if (addr) {
		snprintf(keys[n], sizeof keys[n], "p:%s\x1f%s", user, addr);
		limits[n++] = a->cfg.login_max_failures;
		snprintf(keys[n], sizeof keys[n], "a:%s", addr);
		limits[n++] = a->cfg.login_max_failures * ADDR_FACTOR;
		snprintf(t->user_key, sizeof t->user_key, "u:%s", user);
	} else {
		snprintf(keys[n], sizeof keys[n], "m:%s", user);
		limits[n++] = a->cfg.login_max_failures;
	}
	pthread_mutex_lock(&a->mu);
	/* Each slot is marked in flight as soon as it is found, so that finding
	 * the next one cannot evict it. */
	for (int i = 0; i < n; i++) {
		struct throttle_slot *s = slot(a, keys[i], 1, now);
		if (!s) {
			wait = 1000;
			break;
		}
		int64_t w = admits(a, s, limits[i], now);
		if (w > wait)
			wait = w;
		s->in_flight++;
		t->held[t->nheld++] = s;
	}
	if (wait > 0) {
		for (int i = 0; i < t->nheld; i++)
			t->held[i]->in_flight--;
		memset(t, 0, sizeof *t);
		*retry_ms = wait;
		rc = -EAGAIN;
		goto out;
	}
	if (t->user_key[0])
		t->delay_ms = delay_for(a, slot(a, t->user_key, 0, now));
out:
	pthread_mutex_unlock(&a->mu);
	return rc;
}

void auth_throttle_end(auth *a, struct auth_attempt *t, enum auth_outcome outcome)
{
	int64_t now = sn_now_ms();
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < t->nheld; i++) {
		struct throttle_slot *s = t->held[i];
		s->in_flight--;
		if (outcome == ATTEMPT_FAILED) {
			s->failures++;
			s->last_ms = now;
		} else if (outcome == ATTEMPT_OK && strncmp(s->key, "a:", 2) != 0) {
			/* The address keeps its count: one user's success says
			 * nothing about the other names tried from there. */
			s->failures = 0;
		}
	}
	if (t->user_key[0]) {
		struct throttle_slot *u = slot(a, t->user_key, outcome == ATTEMPT_FAILED, now);
		if (u && outcome == ATTEMPT_FAILED) {
			u->failures++;
			u->last_ms = now;
		} else if (u && outcome == ATTEMPT_OK) {
			u->failures = 0;
		}
	}
	pthread_mutex_unlock(&a->mu);
	t->nheld = 0;
}

void auth_sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void auth_gate_init(auth *a, int slots, int queue)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	a->hash_slots = slots > 0 ? slots : (cores > 0 ? (int)cores : 1);
	a->hash_queue = queue > 0 ? queue : 8 * a->hash_slots;
	pthread_mutex_init(&a->hash_mu, NULL);
	pthread_cond_init(&a->hash_cv, NULL);
}

int auth_gate_enter(auth *a)
{
	int rc = 0;
	pthread_mutex_lock(&a->hash_mu);
	if (a->hash_running >= a->hash_slots) {
		if (a->hash_waiting >= a->hash_queue) {
			rc = -EBUSY;
			goto out;
		}
		a->hash_waiting++;
		while (a->hash_running >= a->hash_slots)
			pthread_cond_wait(&a->hash_cv, &a->hash_mu);
		a->hash_waiting--;
	}
	a->hash_running++;
out:
	pthread_mutex_unlock(&a->hash_mu);
	return rc;
}

void auth_gate_leave(auth *a)
{
	pthread_mutex_lock(&a->hash_mu);
	a->hash_running--;
	pthread_cond_signal(&a->hash_cv);
	pthread_mutex_unlock(&a->hash_mu);
}

int auth_hash(auth *a, const char *password, char out[AUTH_HASH_MAX])
{
	int rc = auth_gate_enter(a);
	if (rc)
		return rc;
	rc = a->pw.hash(password, out);
	auth_gate_leave(a);
	return rc;
}

int auth_verify(auth *a, const char *hash, const char *password)
{
	int rc = auth_gate_enter(a);
	if (rc)
		return rc;
	rc = a->pw.verify(hash, password);
	auth_gate_leave(a);
	return rc;
}

void auth_reply_busy(http_req *r)
{
	http_reply_header(r, "Retry-After", "1");
	http_reply_error(r, 503, "busy", "too many password checks in progress; retry");
}

void auth_reply_throttled(http_req *r, int64_t retry_ms, const char *what)
{
	char ra[32];
	snprintf(ra, sizeof ra, "%lld", (long long)(retry_ms + 999) / 1000);
	http_reply_header(r, "Retry-After", ra);
	http_reply_error(r, 429, "too_many_requests", "too many failed %s; retry in %s s", what, ra);
}
