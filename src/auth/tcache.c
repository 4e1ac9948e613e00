/* The verified-token cache: what the auth hook learned from the store about
 * a bearer token (its SHA-256 → user, role, token id, scope, expiry), so
 * that an authenticated request does no store query.
 *
 * Invariants:
 * 1. An entry is trusted for at most AUTH_TC_TRUST_MS after the start of
 *    the store read that verified it (`verified`, monotonic ms). Past that a
 *    request re-verifies before it is served (auth_token_check), so a change
 *    made by any process sharing the store (a revocation, a user disabled, a
 *    password reset) holds within AUTH_TC_TRUST_MS. From AUTH_TC_REFRESH_MS
 *    on, the first request that sees the entry claims its refresh
 *    (TC_REFRESH) and re-verifies while the others keep using it, so a hot
 *    token is read about once per AUTH_TC_REFRESH_MS, by one request.
 * 2. Expiry is checked on every use against the wall clock: it is exact.
 * 3. A change made through this server drops the entries it affects
 *    (auth_tcache_drop) once committed. A drop bumps gen, scans, and bumps
 *    gen again. put stores nothing when gen moved since its caller read it
 *    before the store read (the first bump), so a read that raced the change
 *    cannot put back what the drop removed; a per-thread copy is used only
 *    while gen is what it was when it was taken (the second bump ends the
 *    copies taken during the scan).
 * 4. Bounded: TC_SHARDS × per_shard slots. An entry lives in one of the
 *    `ways` slots from its hash's home slot on; a full window evicts its
 *    least recently used entry. Each shard has its own mutex, held for
 *    a copy or a scan, never across a store query.
 * 5. A per-thread copy (l1) of the last entry the thread used serves the
 *    repeat requests of a connection (one thread each) without writing to
 *    the shard, so that 64 connections on one token do not bounce one lock.
 *    It is used for L1_MS at most and never past AUTH_TC_REFRESH_MS of the
 *    entry's verification, so 1-3 hold for it as for the shard.
 * 6. Last use: a hit records the time in the entry (`used`); auth's
 *    maintenance thread writes it to tokens.last_used_at once it is a
 *    minute newer than what the store holds (`flushed`): off the request
 *    path, at most once a minute per token. An evicted entry's unwritten
 *    use is lost; last_used_at is informational.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth_int.h"
#include "base/mem.h"

#define TC_SHARDS 64
#define TC_WAYS 8
#define L1_MS 100

struct tc_entry {
	char hash[65];    /* "": a free slot */
	int64_t verified; /* monotonic ms: start of the store read behind it */
	int64_t claimed;  /* monotonic ms of the last refresh claim */
	int64_t touched;  /* monotonic ms of the last hit: eviction order */
	int64_t used;     /* wall ms of the last use */
	int64_t flushed;  /* wall ms: tokens.last_used_at is known to be at least this */
	int64_t expires;  /* wall ms, <0: never */
	auth_user u;
};

/* The padding keeps each shard's mutex off its neighbours' cache lines. */
struct tc_shard {
	pthread_mutex_t mu;
	struct tc_entry *slot;
	size_t n;
	char pad[64];
};

struct auth_tcache {
	struct tc_shard shard[TC_SHARDS];
	size_t per_shard; /* a power of two */
	size_t ways;
	_Atomic uint64_t gen;
	uint64_t instance; /* tells the caches of one process apart for l1 */
};

struct tc_l1 {
	uint64_t instance, gen;
	int64_t taken;
	struct tc_entry e;
};

static _Atomic uint64_t tc_instances;
static __thread struct tc_l1 l1;

int auth_tcache_new(size_t max, auth_tcache **out)
{
	auth_tcache *tc = xcalloc(1, sizeof *tc);
	size_t per = 1;
	if (max == 0)
		max = AUTH_TC_DEFAULT_MAX;
	while (per * 2 * TC_SHARDS <= max)
		per *= 2;
	tc->per_shard = per;
	tc->ways = per < TC_WAYS ? per : TC_WAYS;
	/* calloc'ed pages are only touched as slots fill: an idle cache
	 * costs no resident memory. */
	for (int i = 0; i < TC_SHARDS; i++) {
		pthread_mutex_init(&tc->shard[i].mu, NULL);
		tc->shard[i].slot = xcalloc(per, sizeof(struct tc_entry));
	}
	tc->instance = atomic_fetch_add(&tc_instances, 1) + 1;
	*out = tc;
	return 0;
}

void auth_tcache_free(auth_tcache **ptc)
{
	auth_tcache *tc = *ptc;
	if (!tc)
		return;
	for (int i = 0; i < TC_SHARDS; i++) {
		pthread_mutex_destroy(&tc->shard[i].mu);
		free(tc->shard[i].slot);
	}
	free(tc);
	*ptc = NULL;
}

/* The hash is lower-case hex (sn_sha256_hex): its first 16 digits are as
 * uniform as the digest. */
static uint64_t hash_bits(const char *hex)
{
	uint64_t v = 0;
	for (int i = 0; i < 16 && hex[i]; i++)
		v = v << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : (hex[i] | 0x20) - 'a' + 10);
	return v;
}

static struct tc_shard *shard_of(auth_tcache *tc, uint64_t h)
{
	return &tc->shard[h % TC_SHARDS];
}

static struct tc_entry *slot_at(auth_tcache *tc, struct tc_shard *s, uint64_t h, size_t i)
{
	return &s->slot[((h / TC_SHARDS) + i) & (tc->per_shard - 1)];
}

static struct tc_entry *find(auth_tcache *tc, struct tc_shard *s, uint64_t h, const char *hash)
{
	for (size_t i = 0; i < tc->ways; i++) {
		struct tc_entry *e = slot_at(tc, s, h, i);
		if (e->hash[0] && strcmp(e->hash, hash) == 0)
			return e;
	}
	return NULL;
}

static int l1_serves(const auth_tcache *tc, uint64_t gen, const char *hash, int64_t mono,
		     int64_t now)
{
	return l1.instance == tc->instance && l1.gen == gen && mono - l1.taken < L1_MS &&
	       mono - l1.e.verified < AUTH_TC_REFRESH_MS && strcmp(l1.e.hash, hash) == 0 &&
	       !auth_token_expired(l1.e.expires, now);
}

int auth_tcache_get(auth_tcache *tc, const char *hash, int64_t mono, int64_t now, auth_user *u)
{
	uint64_t gen = atomic_load_explicit(&tc->gen, memory_order_acquire);
	if (l1_serves(tc, gen, hash, mono, now)) {
		*u = l1.e.u;
		return TC_HIT;
	}
	uint64_t h = hash_bits(hash);
	struct tc_shard *s = shard_of(tc, h);
	int res = TC_MISS;
	pthread_mutex_lock(&s->mu);
	struct tc_entry *e = find(tc, s, h, hash);
	if (!e || mono - e->verified >= AUTH_TC_TRUST_MS || auth_token_expired(e->expires, now))
		goto out;
	e->touched = mono;
	e->used = now > e->used ? now : e->used;
	*u = e->u;
	res = TC_HIT;
	if (mono - e->verified < AUTH_TC_REFRESH_MS) {
		l1.instance = tc->instance;
		l1.gen = gen;
		l1.taken = mono;
		l1.e = *e;
	} else if (e->claimed <= e->verified) {
		e->claimed = mono;
		res = TC_REFRESH;
	}
out:
	pthread_mutex_unlock(&s->mu);
	return res;
}

uint64_t auth_tcache_gen(auth_tcache *tc)
{
	return atomic_load_explicit(&tc->gen, memory_order_acquire);
}

/* A free slot of h's window, else its least recently used entry. */
static struct tc_entry *victim(auth_tcache *tc, struct tc_shard *s, uint64_t h)
{
	struct tc_entry *best = NULL;
	for (size_t i = 0; i < tc->ways; i++) {
		struct tc_entry *e = slot_at(tc, s, h, i);
		if (!e->hash[0])
			return e;
		if (!best || e->touched < best->touched)
			best = e;
	}
	return best;
}

void auth_tcache_put(auth_tcache *tc, const char *hash, const struct auth_tc_val *v, int64_t mono,
		     int64_t now, uint64_t gen)
{
	uint64_t h = hash_bits(hash);
	struct tc_shard *s = shard_of(tc, h);
	pthread_mutex_lock(&s->mu);
	/* Under the lock: a drop's scan of this shard either came before (and
	 * its first bump is seen here) or comes after (and removes this). */
	if (atomic_load_explicit(&tc->gen, memory_order_acquire) != gen)
		goto out;
	struct tc_entry *e = find(tc, s, h, hash);
	if (!e) {
		e = victim(tc, s, h);
		if (!e->hash[0])
			s->n++;
		memset(e, 0, sizeof *e);
		memcpy(e->hash, hash, sizeof e->hash);
		e->hash[64] = '\0';
		e->claimed = INT64_MIN;
	}
	/* An older read finishing late must not roll back a newer one. */
	if (mono < e->verified)
		goto out;
	e->u = v->u;
	e->expires = v->expires;
	e->verified = mono;
	e->touched = mono;
	e->used = now > e->used ? now : e->used;
	e->flushed = v->last_used > e->flushed ? v->last_used : e->flushed;
out:
	pthread_mutex_unlock(&s->mu);
}

/* Removes the entries match() accepts (with the two bumps of invariant 3);
 * returns how many. */
static size_t drop_where(auth_tcache *tc, int (*match)(const struct tc_entry *, const void *),
			 const void *arg)
{
	size_t dropped = 0;
	atomic_fetch_add_explicit(&tc->gen, 1, memory_order_acq_rel);
	for (int i = 0; i < TC_SHARDS; i++) {
		struct tc_shard *s = &tc->shard[i];
		pthread_mutex_lock(&s->mu);
		for (size_t j = 0; j < tc->per_shard && s->n; j++) {
			struct tc_entry *e = &s->slot[j];
			if (e->hash[0] && match(e, arg)) {
				e->hash[0] = '\0';
				s->n--;
				dropped++;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	atomic_fetch_add_explicit(&tc->gen, 1, memory_order_acq_rel);
	return dropped;
}

struct drop_key {
	const char *token_id, *user_id, *hash;
};

static int drop_match(const struct tc_entry *e, const void *arg)
{
	const struct drop_key *k = arg;
	return (k->token_id && strcmp(e->u.token_id, k->token_id) == 0) ||
	       (k->user_id && strcmp(e->u.id, k->user_id) == 0) ||
	       (k->hash && strcmp(e->hash, k->hash) == 0);
}

size_t auth_tcache_drop(auth_tcache *tc, const char *token_id, const char *user_id)
{
	struct drop_key k = { token_id, user_id, NULL };
	if (!token_id && !user_id)
		return 0;
	return drop_where(tc, drop_match, &k);
}

/* Only when the entry exists: a stream of unknown tokens must not keep
 * ending every thread's copy. */
void auth_tcache_remove(auth_tcache *tc, const char *hash)
{
	uint64_t h = hash_bits(hash);
	struct tc_shard *s = shard_of(tc, h);
	pthread_mutex_lock(&s->mu);
	int present = find(tc, s, h, hash) != NULL;
	pthread_mutex_unlock(&s->mu);
	if (present) {
		struct drop_key k = { NULL, NULL, hash };
		drop_where(tc, drop_match, &k);
	}
}

size_t auth_tcache_size(auth_tcache *tc)
{
	size_t n = 0;
	for (int i = 0; i < TC_SHARDS; i++) {
		pthread_mutex_lock(&tc->shard[i].mu);
		n += tc->shard[i].n;
		pthread_mutex_unlock(&tc->shard[i].mu);
	}
	return n;
}

size_t auth_tcache_capacity(const auth_tcache *tc)
{
	return tc->per_shard * TC_SHARDS;
}

size_t auth_tcache_due(auth_tcache *tc, int64_t gap_ms, struct auth_tc_use *out, size_t max)
{
	size_t k = 0;
	for (int i = 0; i < TC_SHARDS && k < max; i++) {
		struct tc_shard *s = &tc->shard[i];
		pthread_mutex_lock(&s->mu);
		for (size_t j = 0; j < tc->per_shard && k < max && s->n; j++) {
			struct tc_entry *e = &s->slot[j];
			if (!e->hash[0] || e->used <= e->flushed || e->used - e->flushed < gap_ms)
				continue;
			memcpy(out[k].token_id, e->u.token_id, sizeof out[k].token_id);
			out[k].used = e->used;
			e->flushed = e->used;
			k++;
		}
		pthread_mutex_unlock(&s->mu);
	}
	return k;
}
