/* Signed node requests on the server: the auth hook for HTTP_NODE routes
 * (signature, clock window, nonce, the key's standing), the caller it
 * leaves on the request, the body hash check, and the nonce sets. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/sig.h"
#include "base/util.h"
#include "node/node_int.h"

/* ---- nonce sets ----
 * Open addressing with linear probing. A slot is empty (expires 0), live
 * (expires >= now) or expired; an expired slot still ends no probe (it
 * may sit in another nonce's chain) but is reused by an insert that probes
 * past it. When the used slots would pass half the table, it is rebuilt
 * from the live entries alone, which is also where the cap is checked:
 * used <= max always holds, and the table never grows past 2 * max.
 *
 * A key with max live nonces does not get refused (a node running short
 * chunks signs a thousand requests a second, and was locked out for the
 * rest of the minute, its heartbeats too): the older half is forgotten and
 * the set's floor rises to the newest expiry forgotten. A nonce expiring at
 * or below the floor is refused from then on, as if it were past the clock
 * window, so a forgotten one can never be replayed. All of a key's nonces
 * share its clock: the floor only asks its later requests to be newer than
 * its older ones. */

struct nonce_slot {
	uint8_t nonce[16];
	int64_t expires;
};

struct nonce_set {
	struct nonce_slot *t;
	size_t cap;    /* power of two */
	size_t used;   /* live and expired slots */
	size_t max;
	int64_t floor; /* expiries at or below it: forgotten, and refused */
};

#define NONCE_MIN_CAP 64

static size_t slot_of(const uint8_t nonce[16], size_t cap)
{
	uint64_t h;
	/* Nonces are random: their first bytes are as good as a hash. */
	memcpy(&h, nonce, sizeof h);
	return (size_t)h & (cap - 1);
}

nonce_set *nonce_set_new(size_t max)
{
	nonce_set *s = xcalloc(1, sizeof *s);
	s->max = max < NONCE_MIN_CAP / 2 ? NONCE_MIN_CAP / 2 : max;
	s->cap = NONCE_MIN_CAP;
	s->t = xcalloc(s->cap, sizeof *s->t);
	return s;
}

void nonce_set_free(nonce_set **s)
{
	if (!*s)
		return;
	free((*s)->t);
	xfree(s);
}

static void put(struct nonce_slot *t, size_t cap, const struct nonce_slot *e)
{
	size_t i = slot_of(e->nonce, cap);
	while (t[i].expires)
		i = (i + 1) & (cap - 1);
	t[i] = *e;
}

static int live(const nonce_set *s, const struct nonce_slot *e, int64_t now)
{
	return e->expires && e->expires >= now && e->expires > s->floor;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Max live: the floor rises to the median expiry, forgetting the older
 * half (ties may take more). */
static void raise_floor(nonce_set *s, int64_t now, size_t n)
{
	int64_t *v = xmalloc(n * sizeof *v);
	size_t k = 0;
	for (size_t i = 0; i < s->cap && k < n; i++)
		if (live(s, &s->t[i], now))
			v[k++] = s->t[i].expires;
	qsort(v, k, sizeof *v, cmp_i64);
	if (k)
		s->floor = v[(k - 1) / 2];
	free(v);
}

/* Rebuilds the table from the live entries, sized for one more. */
static void rebuild(nonce_set *s, int64_t now)
{
	size_t n = nonce_set_count(s, now);
	if (n + 1 > s->max) {
		raise_floor(s, now, n);
		n = nonce_set_count(s, now);
	}
	size_t cap = NONCE_MIN_CAP;
	while (cap < 4 * (n + 1) && cap < 2 * s->max)
		cap *= 2;
	struct nonce_slot *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < s->cap; i++)
		if (live(s, &s->t[i], now))
			put(t, cap, &s->t[i]);
	free(s->t);
	s->t = t;
	s->cap = cap;
	s->used = n;
}

int nonce_set_has(const nonce_set *s, const uint8_t nonce[16], int64_t now_ms)
{
	for (size_t i = slot_of(nonce, s->cap); s->t[i].expires; i = (i + 1) & (s->cap - 1))
		if (memcmp(s->t[i].nonce, nonce, 16) == 0 && live(s, &s->t[i], now_ms))
			return 1;
	return 0;
}

int nonce_set_add(nonce_set *s, const uint8_t nonce[16], int64_t expires_ms, int64_t now_ms)
{
	size_t reuse = SIZE_MAX, i;
	if (expires_ms <= s->floor)
		return -ETIME;
	for (i = slot_of(nonce, s->cap); s->t[i].expires; i = (i + 1) & (s->cap - 1)) {
		if (!live(s, &s->t[i], now_ms)) {
			if (reuse == SIZE_MAX)
				reuse = i;
		} else if (memcmp(s->t[i].nonce, nonce, 16) == 0) {
			return -EEXIST;
		}
	}
	struct nonce_slot e;
	memcpy(e.nonce, nonce, 16);
	e.expires = expires_ms > 0 ? expires_ms : 1;
	if (reuse != SIZE_MAX) {
		s->t[reuse] = e;
		return 0;
	}
	if (2 * (s->used + 1) > s->cap) {
		rebuild(s, now_ms);
		if (e.expires <= s->floor)
			return -ETIME;
		put(s->t, s->cap, &e);
	} else {
		s->t[i] = e;
	}
	s->used++;
	return 0;
}

size_t nonce_set_count(const nonce_set *s, int64_t now_ms)
{
	size_t n = 0;
	for (size_t i = 0; i < s->cap; i++)
		n += live(s, &s->t[i], now_ms);
	return n;
}

/* ---- the caller ---- */

/* What the hook leaves on a node request. The auth_user comes first, so
 * that auth_caller() of a node request (the audit, upload quotas) reads a
 * caller named "node:<id>" with no role, never a user. */
struct node_auth {
	auth_user u;
	node_caller c;
	char body[65];
};

const node_caller *node_caller_of(const http_req *req)
{
	const http_route *rt = http_req_route(req);
	const struct node_auth *a = http_req_user(req);
	/* Only the node hook authenticates HTTP_NODE routes. */
	if (!rt || !(rt->flags & HTTP_NODE) || !a)
		return NULL;
	return &a->c;
}

int node_body_ok(http_req *req)
{
	const struct node_auth *a = node_caller_of(req) ? http_req_user(req) : NULL;
	size_t len = 0;
	const char *body = http_req_body(req, &len);
	if (a && sn_sig_body_ok(a->body, body, len))
		return 1;
	http_reply_error(req, 400, "bad_body_hash", "the body does not match its signed hash (%s)",
			 SN_SIG_HDR_BODY);
	return 0;
}

/* The request target as the client sent it (path and query, still
 * percent-encoded): what the node signed. http.h has no accessor for it
 * (http_req_target is the audit target), so this reads the HTTP layer's
 * internals; the decoded path without the query is the fallback. */
/* ---- the hook ---- */

static int refuse(http_req *req, int status, const char *code, const char *msg)
{
	if (status == 503)
		http_reply_header(req, "Retry-After", "1");
	http_reply_error(req, status, code, "%s", msg);
	return status == 503 ? -EBUSY : -EACCES;
}

int node_auth_hook(node_reg *r, http_req *req, const http_route *route)
{
	const char *key = http_req_header(req, SN_SIG_HDR_KEY);
	const char *ts = http_req_header(req, SN_SIG_HDR_TS);
	const char *nonce_hex = http_req_header(req, SN_SIG_HDR_NONCE);
	const char *body = http_req_header(req, SN_SIG_HDR_BODY);
	const char *sig = http_req_header(req, SN_SIG_HDR_SIG);
	uint8_t pub[SN_SIG_PUB], nonce[16];
	int64_t ts_ms = 0;
	char id[32], hex[2 * SN_SIG_PUB + 1], actor[40];
	if (!key || !ts || !nonce_hex || !body || !sig)
		return refuse(req, 401, "unsigned", "this route takes a signed node request"
			      " (X-Sentinel-Key, -Timestamp, -Nonce, -Body-SHA256, -Signature)");
	if (sn_sig_verify(http_req_method(req), http_req_raw_target(req), key, ts, nonce_hex, body, sig, pub,
			  &ts_ms) || sn_unhex(nonce_hex, nonce, sizeof nonce))
		return refuse(req, 401, "bad_signature", "the request signature does not verify");
	int64_t now = node_now_ms(r), skew = ts_ms - now;
	if (skew > r->cfg.clock_window_ms || skew < -r->cfg.clock_window_ms) {
		http_reply_error(req, 401, "stale_timestamp",
				 "the timestamp is %" PRId64 " ms off the server's clock (at most %" PRId64
				 " accepted): check the node's clock", skew, r->cfg.clock_window_ms);
		return -EACCES;
	}
	node_id_of(pub, id);
	sn_hex(pub, SN_SIG_PUB, hex);
	int reg = strcmp(route->pattern, "/api/v1/node/register") == 0, rc = 0;
	char owner[48] = "";
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = node_find(r, id);
	if (rec && strcmp(rec->pubkey, hex) != 0)
		rec = NULL; /* another key with the same id prefix: never seen one */
	if (!rec && !reg)
		rc = refuse(req, 401, "unknown_node", "this node key is not registered: register first");
	else if (rec && rec->state == NODE_REMOVED)
		rc = refuse(req, 403, "node_removed", "this node was removed by an administrator");
	else if (rec && rec->state == NODE_PENDING && !reg)
		rc = refuse(req, 403, "node_unclaimed",
			    "this node is not claimed yet: a user claims it with its claim code");
	if (rc)
		goto out;
	/* A nonce is kept until its timestamp leaves the window: no replay
	 * can be accepted after it is forgotten. The newcomers' set is asked
	 * too, since a key's first register went there. */
	int64_t expires = ts_ms + r->cfg.clock_window_ms;
	if (nonce_set_has(r->newcomers, nonce, now)) {
		rc = -EEXIST;
	} else if (rec) {
		if (!rec->nonces)
			rec->nonces = nonce_set_new(NODE_NONCES_PER_KEY);
		rc = nonce_set_add(rec->nonces, nonce, expires, now);
	} else {
		rc = nonce_set_add(r->newcomers, nonce, expires, now);
	}
	if (rc == -EEXIST)
		rc = refuse(req, 401, "replayed", "this nonce was already used: a replayed request");
	else if (rc)
		rc = refuse(req, 401, "stale_timestamp", "signed before the newest requests of this"
			    " key that the server remembers (node_int.h: NODE_NONCES_PER_KEY): sign"
			    " it again");
	else if (rec)
		sn_strlcpy(owner, rec->owner, sizeof owner);
out:
	pthread_mutex_unlock(&r->mu);
	if (rc)
		return rc;
	struct node_auth *a = xcalloc(1, sizeof *a);
	sn_strlcpy(a->c.id, id, sizeof a->c.id);
	sn_strlcpy(a->c.owner, owner, sizeof a->c.owner);
	sn_strlcpy(a->body, body, sizeof a->body);
	snprintf(actor, sizeof actor, "node:%s", id);
	sn_strlcpy(a->u.id, id, sizeof a->u.id);
	sn_strlcpy(a->u.username, actor, sizeof a->u.username);
	a->u.role = ROLE_NONE;
	http_req_set_auth(req, a, free, actor);
	return 0;
}
