/* The node registry: the schema, the in-memory table (loaded at start,
 * written through), snapshots for the scheduler, the one definition of
 * online, and retention. Signed requests are in node_auth.c, the routes in
 * node_http.c; node_int.h states the locking invariants.
 *
 * A node's standing:
 *   (unknown) --register--> pending --claim--> claimed --DELETE--> removed
 *   pending --pending_ttl_ms without a claim--> (unknown)   [node_retain]
 *   claimed --offline_ttl_ms without a heartbeat--> (unknown) [node_retain]
 * A removed key stays in the table so that it is refused (403) for good;
 * a key that retention forgot may register again and be claimed anew. */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/sig.h"
#include "base/util.h"
#include "node/node_int.h"

static const store_migration node_migrations[] = {
	/* Version 1 was the scaffolding's table, which nothing ever wrote. */
	{ 1, "CREATE TABLE nodes (id TEXT PRIMARY KEY, pubkey TEXT NOT NULL UNIQUE);", NULL, NULL },
	{ 2,
	  "DROP TABLE nodes;"
	  "CREATE TABLE nodes ("
	  " id TEXT PRIMARY KEY,"
	  " pubkey TEXT NOT NULL UNIQUE,"
	  " name TEXT NOT NULL,"
	  " owner_id TEXT,"
	  " state TEXT NOT NULL CHECK (state IN ('pending','claimed','removed')),"
	  " facts TEXT NOT NULL DEFAULT '{}',"
	  " datasets TEXT NOT NULL DEFAULT '[]',"
	  " blobs TEXT NOT NULL DEFAULT '[]',"
	  " draining INTEGER NOT NULL DEFAULT 0,"
	  " public_use INTEGER NOT NULL DEFAULT 0,"
	  " created_at BIGINT NOT NULL,"
	  " claimed_at BIGINT,"
	  " last_heartbeat BIGINT);"
	  "CREATE INDEX nodes_owner ON nodes(owner_id);"
	  "CREATE TABLE node_access ("
	  " node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,"
	  " kind TEXT NOT NULL CHECK (kind IN ('user','group')),"
	  " principal TEXT NOT NULL,"
	  " PRIMARY KEY (node_id, kind, principal));",
	  NULL, NULL },
};
const store_domain node_store_domain = { "node", node_migrations,
					 (int)(sizeof node_migrations / sizeof node_migrations[0]), 0 };

/* ---- small pieces ---- */

void node_id_of(const uint8_t pub[SN_SIG_PUB], char id[32])
{
	char h[65];
	sn_sha256_hex(pub, SN_SIG_PUB, h);
	snprintf(id, 32, "nd_%.20s", h);
}

int64_t node_fact_int(const json_t *facts, const char *key)
{
	json_t *v = json_object_get(facts, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

void node_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

json_t *node_strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

struct node_lists *node_lists_new(void)
{
	struct node_lists *l = xcalloc(1, sizeof *l);
	l->refs = 1;
	return l;
}

void node_lists_unref(struct node_lists *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	node_strv_free(l->users, l->nusers);
	node_strv_free(l->groups, l->ngroups);
	node_strv_free(l->blobs, l->nblobs);
	node_strv_free(l->datasets, l->ndatasets);
	node_strv_free(l->runtimes, l->nruntimes);
	free(l);
}

static char **strv_dup(char *const *v, size_t n)
{
	char **o = xcalloc(n + 1, sizeof *o);
	for (size_t i = 0; i < n; i++)
		o[i] = xstrdup(v[i]);
	return o;
}

struct node_lists *node_lists_dup(const struct node_lists *l)
{
	struct node_lists *o = node_lists_new();
	o->users = strv_dup(l->users, o->nusers = l->nusers);
	o->groups = strv_dup(l->groups, o->ngroups = l->ngroups);
	o->blobs = strv_dup(l->blobs, o->nblobs = l->nblobs);
	o->datasets = strv_dup(l->datasets, o->ndatasets = l->ndatasets);
	o->runtimes = strv_dup(l->runtimes, o->nruntimes = l->nruntimes);
	return o;
}

void node_lists_set(struct node_rec *rec, struct node_lists *nl)
{
	node_lists_unref(rec->lists);
	rec->lists = nl;
}

struct node_rec *node_rec_new(void)
{
	struct node_rec *rec = xcalloc(1, sizeof *rec);
	rec->facts = json_object();
	rec->datasets = json_array();
	rec->lists = node_lists_new();
	if (!rec->facts || !rec->datasets) {
		log_error("node: out of memory for a node record");
		abort();
	}
	return rec;
}

void node_rec_free(struct node_rec *rec)
{
	if (!rec)
		return;
	json_decref(rec->facts);
	json_decref(rec->datasets);
	node_lists_unref(rec->lists);
	nonce_set_free(&rec->nonces);
	free(rec);
}

/* ---- the table: records sorted by id ---- */

static size_t lower_bound(const node_reg *r, const char *id)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(r->v[mid]->id, id) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct node_rec *node_find(node_reg *r, const char *id)
{
	size_t i = lower_bound(r, id);
	return i < r->n && strcmp(r->v[i]->id, id) == 0 ? r->v[i] : NULL;
}

void node_insert(node_reg *r, struct node_rec *rec)
{
	size_t i = lower_bound(r, rec->id);
	if (r->n == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 16;
		r->v = xrealloc(r->v, r->cap * sizeof *r->v);
	}
	memmove(r->v + i + 1, r->v + i, (r->n - i) * sizeof *r->v);
	r->v[i] = rec;
	r->n++;
	if (rec->state == NODE_PENDING)
		r->npending++;
}

void node_drop(node_reg *r, const char *id)
{
	size_t i = lower_bound(r, id);
	if (i >= r->n || strcmp(r->v[i]->id, id) != 0)
		return;
	struct node_rec *rec = r->v[i];
	if (rec->state == NODE_PENDING)
		r->npending--;
	memmove(r->v + i, r->v + i + 1, (r->n - i - 1) * sizeof *r->v);
	r->n--;
	node_rec_free(rec);
}

/* ---- time and standing ---- */

int node_online(const node_reg *r, int64_t last_heartbeat_ms, int64_t now_ms)
{
	/* No heartbeat yet (0) is offline; at exactly node_timeout_ms it is
	 * still online. */
	return last_heartbeat_ms > 0 && now_ms - last_heartbeat_ms <= r->cfg.node_timeout_ms;
}

int64_t node_now_ms(const node_reg *r)
{
	return sn_now_ms() + r->skew_ms;
}

const char *node_public_state(node_reg *r, const struct node_rec *rec, int64_t now)
{
	if (rec->state == NODE_PENDING)
		return "pending";
	if (rec->state == NODE_REMOVED)
		return "removed";
	if (!node_online(r, rec->last_heartbeat, now))
		return "offline";
	return rec->draining || rec->node_draining ? "draining" : "online";
}

int node_may_use(const node_info *n, const char *user_id, char *const *groups, size_t ngroups)
{
	if (!user_id)
		return 0;
	if (n->public_use || strcmp(n->owner, user_id) == 0)
		return 1;
	for (size_t i = 0; i < n->nusers; i++)
		if (strcmp(n->users[i], user_id) == 0)
			return 1;
	for (size_t i = 0; i < n->ngroups; i++)
		for (size_t j = 0; j < ngroups; j++)
			if (strcmp(n->groups[i], groups[j]) == 0)
				return 1;
	return 0;
}

/* ---- events ---- */

void node_announce(node_reg *r, const char *id, const char *owner, const char *name,
		   const char *what)
{
	json_t *ev = json_pack("{s:s,s:s,s:s}", "event", what, "id", id, "name", name);
	char *s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (s && r->events)
		hub_publish_owned(r->events, "node", owner && *owner ? owner : NULL, s);
	else if (!s)
		log_warn("node: cannot encode the %s event of %s", what, id);
	free(s);
	json_decref(ev);
	pthread_mutex_lock(&r->mu);
	node_listener l = r->l;
	pthread_mutex_unlock(&r->mu);
	if (l.changed)
		l.changed(l.ctx, id);
}

struct change {
	char id[32], owner[48], name[130];
	const char *what;
};

static void announce_all(node_reg *r, struct change *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		node_announce(r, v[i].id, v[i].owner, v[i].name, v[i].what);
	free(v);
}

static void change_add(struct change **v, size_t *n, const struct node_rec *rec, const char *what)
{
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	struct change *c = &(*v)[(*n)++];
	sn_strlcpy(c->id, rec->id, sizeof c->id);
	sn_strlcpy(c->owner, rec->owner, sizeof c->owner);
	sn_strlcpy(c->name, rec->name, sizeof c->name);
	c->what = what;
}

void node_transitions(node_reg *r)
{
	struct change *v = NULL;
	size_t n = 0;
	pthread_mutex_lock(&r->mu);
	int64_t now = node_now_ms(r);
	for (size_t i = 0; i < r->n; i++) {
		struct node_rec *rec = r->v[i];
		if (rec->state != NODE_CLAIMED)
			continue;
		int on = node_online(r, rec->last_heartbeat, now);
		if (on != rec->online) {
			rec->online = on;
			change_add(&v, &n, rec, on ? "online" : "offline");
		}
	}
	pthread_mutex_unlock(&r->mu);
	announce_all(r, v, n);
}

/* ---- snapshots ---- */

/* What node_snapshot hands out: the array callers see is v; each entry's
 * strings belong to lists[i], referenced for the snapshot's life. */
struct snap {
	size_t n;
	struct node_lists **lists;
	node_info v[];
};

int node_snapshot(node_reg *r, node_info **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&r->mu);
	size_t cnt = 0, k = 0;
	int stale = 0;
	for (size_t i = 0; i < r->n; i++)
		cnt += r->v[i]->state == NODE_CLAIMED;
	if (cnt == 0) {
		pthread_mutex_unlock(&r->mu);
		return 0;
	}
	struct snap *s = xmalloc(sizeof *s + cnt * sizeof(node_info));
	s->n = cnt;
	s->lists = xmalloc(cnt * sizeof *s->lists);
	int64_t now = node_now_ms(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct node_rec *rec = r->v[i];
		if (rec->state != NODE_CLAIMED)
			continue;
		node_info *ni = &s->v[k];
		struct node_lists *l = rec->lists;
		memset(ni, 0, sizeof *ni);
		sn_strlcpy(ni->id, rec->id, sizeof ni->id);
		sn_strlcpy(ni->owner, rec->owner, sizeof ni->owner);
		sn_strlcpy(ni->name, rec->name, sizeof ni->name);
		ni->online = node_online(r, rec->last_heartbeat, now);
		stale |= ni->online != rec->online;
		ni->draining = rec->draining || rec->node_draining;
		ni->max_parallel = (int)node_fact_int(rec->facts, "max_parallel");
		ni->gpus = (int)node_fact_int(rec->facts, "gpus");
		ni->last_heartbeat_ms = rec->last_heartbeat;
		ni->public_use = rec->public_use;
		ni->users = l->users;
		ni->nusers = l->nusers;
		ni->groups = l->groups;
		ni->ngroups = l->ngroups;
		ni->blobs = l->blobs;
		ni->nblobs = l->nblobs;
		ni->datasets = l->datasets;
		ni->ndatasets = l->ndatasets;
		ni->runtimes = l->runtimes;
		ni->nruntimes = l->nruntimes;
		ni->running = rec->running;
		ni->gpus_free = rec->gpus_free;
		__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
		s->lists[k++] = l;
	}
	/* A change of standing seen here is announced by the registry's
	 * thread: the caller may hold locks its changed() listener takes. */
	if (stale)
		pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mu);
	*out = s->v;
	*n = cnt;
	return 0;
}

void node_snapshot_free(node_info **v, size_t n)
{
	if (!*v)
		return;
	struct snap *s = (struct snap *)((char *)*v - offsetof(struct snap, v));
	(void)n;
	for (size_t i = 0; i < s->n; i++)
		node_lists_unref(s->lists[i]);
	free(s->lists);
	free(s);
	*v = NULL;
}

/* ---- loading ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **node_blobs_strv(const json_t *a, size_t *n)
{
	size_t i, k = 0;
	json_t *x;
	char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
	json_array_foreach(a, i, x)
		if (json_is_string(x))
			v[k++] = xstrdup(json_string_value(x));
	qsort(v, k, sizeof *v, cmp_str);
	*n = k;
	return v;
}

char **node_datasets_strv(const json_t *a, size_t *n)
{
	size_t i, k = 0;
	json_t *x;
	char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
	json_array_foreach(a, i, x) {
		const char *name = json_string_value(json_object_get(x, "name"));
		const char *sha = json_string_value(json_object_get(x, "manifest_sha256"));
		if (name && sha)
			v[k++] = xasprintf("%s\t%s", name, sha);
	}
	*n = k;
	return v;
}

static json_t *load_json(const char *text, int array)
{
	json_t *j = json_loads(text, 0, NULL);
	if (j && (array ? json_is_array(j) : json_is_object(j)))
		return j;
	json_decref(j);
	return array ? json_array() : json_object();
}

static struct node_rec *rec_of_row(store_rows *rows)
{
	uint8_t pub[SN_SIG_PUB];
	if (sn_unhex(store_rows_text(rows, 1), pub, sizeof pub))
		return NULL;
	struct node_rec *rec = node_rec_new();
	sn_strlcpy(rec->id, store_rows_text(rows, 0), sizeof rec->id);
	sn_strlcpy(rec->pubkey, store_rows_text(rows, 1), sizeof rec->pubkey);
	sn_strlcpy(rec->name, store_rows_text(rows, 2), sizeof rec->name);
	sn_strlcpy(rec->owner, store_rows_text(rows, 3), sizeof rec->owner);
	const char *st = store_rows_text(rows, 4);
	rec->state = strcmp(st, "claimed") == 0 ? NODE_CLAIMED
		     : strcmp(st, "removed") == 0 ? NODE_REMOVED : NODE_PENDING;
	json_decref(rec->facts);
	json_decref(rec->datasets);
	rec->facts = load_json(store_rows_text(rows, 5), 0);
	rec->datasets = load_json(store_rows_text(rows, 6), 1);
	json_t *blobs = load_json(store_rows_text(rows, 7), 1);
	if (!rec->facts || !rec->datasets || !blobs) {
		json_decref(blobs);
		node_rec_free(rec);
		return NULL;
	}
	rec->lists->blobs = node_blobs_strv(blobs, &rec->lists->nblobs);
	rec->lists->datasets = node_datasets_strv(rec->datasets, &rec->lists->ndatasets);
	json_decref(blobs);
	rec->draining = (int)store_rows_int(rows, 8);
	rec->public_use = (int)store_rows_int(rows, 9);
	rec->created_at = store_rows_int(rows, 10);
	rec->claimed_at = store_rows_isnull(rows, 11) ? 0 : store_rows_int(rows, 11);
	rec->last_heartbeat = store_rows_isnull(rows, 12) ? 0 : store_rows_int(rows, 12);
	rec->stored_heartbeat = rec->last_heartbeat;
	sn_sig_claim_code(pub, rec->claim);
	return rec;
}

static void strv_push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[(*n)++] = xstrdup(s);
}

static int load(node_reg *r)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int64_t now = node_now_ms(r);
	int rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id, pubkey, name, owner_id, state, facts, datasets, blobs,"
				 " draining, public_use, created_at, claimed_at, last_heartbeat"
				 " FROM nodes", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		struct node_rec *rec = rec_of_row(rows);
		if (!rec) {
			log_warn("node: skipping the unreadable stored node %s", store_rows_text(rows, 0));
			continue;
		}
		rec->online = rec->state == NODE_CLAIMED && node_online(r, rec->last_heartbeat, now);
		node_insert(r, rec);
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT node_id, kind, principal FROM node_access", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		struct node_rec *rec = node_find(r, store_rows_text(rows, 0));
		if (!rec)
			continue;
		struct node_lists *l = rec->lists;
		if (strcmp(store_rows_text(rows, 1), "user") == 0)
			strv_push(&l->users, &l->nusers, store_rows_text(rows, 2));
		else
			strv_push(&l->groups, &l->ngroups, store_rows_text(rows, 2));
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

/* ---- retention ---- */

/* Removes unclaimed nodes past pending_ttl_ms and claimed ones offline
 * past offline_ttl_ms (rows and memory). A failed deletion is logged and
 * retried on the next run. */
static void node_retain(node_reg *r)
{
	char (*ids)[32] = NULL;
	size_t n = 0;
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	int64_t now = node_now_ms(r);
	for (size_t i = 0; i < r->n; i++) {
		const struct node_rec *rec = r->v[i];
		int64_t seen = rec->last_heartbeat > 0 ? rec->last_heartbeat : rec->claimed_at;
		if ((rec->state == NODE_PENDING && now - rec->created_at > r->cfg.pending_ttl_ms) ||
		    (rec->state == NODE_CLAIMED && now - seen > r->cfg.offline_ttl_ms)) {
			ids = xrealloc(ids, (n + 1) * sizeof *ids);
			sn_strlcpy(ids[n++], rec->id, sizeof *ids);
		}
	}
	pthread_mutex_unlock(&r->mu);
	struct change *ch = NULL;
	size_t nch = 0;
	store_conn *c = NULL;
	int rc = n ? store_acquire(r->st, &c) : 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if ((rc = store_exec(c, "DELETE FROM nodes WHERE id = $1", NULL, SARGS(SA_TEXT(ids[i])))))
			break;
		pthread_mutex_lock(&r->mu);
		struct node_rec *rec = node_find(r, ids[i]);
		if (rec) {
			log_info("node: %s (%s) removed by retention (%s)", rec->id, rec->name,
				 rec->state == NODE_PENDING ? "never claimed" : "offline too long");
			if (rec->state == NODE_CLAIMED)
				change_add(&ch, &nch, rec, "removed");
			node_drop(r, ids[i]);
		}
		pthread_mutex_unlock(&r->mu);
	}
	store_release(&c);
	pthread_mutex_unlock(&r->wmu);
	if (rc)
		log_error("node: retention could not delete nodes: %d", rc);
	free(ids);
	announce_all(r, ch, nch);
}

#define RETAIN_EVERY_MS 60000
/* How often the thread looks for nodes that went offline when no
 * snapshot asked sooner. */
#define TICK_MS 1000

static void *reg_thread(void *arg)
{
	node_reg *r = arg;
	int64_t last_retain = sn_mono_ns() / 1000000;
	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += TICK_MS / 1000;
		pthread_cond_timedwait(&r->cond, &r->mu, &ts);
		if (r->stop)
			break;
		pthread_mutex_unlock(&r->mu);
		node_transitions(r);
		int64_t mono = sn_mono_ns() / 1000000;
		if (mono - last_retain >= RETAIN_EVERY_MS) {
			last_retain = mono;
			node_retain(r);
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- life cycle ---- */

static int64_t env_skew(void)
{
	long long v;
	if (!sn_env_int("SENTINEL_TEST_CLOCK_SKEW_MS", LLONG_MIN, LLONG_MAX, &v))
		return 0;
	log_warn("node: SENTINEL_TEST_CLOCK_SKEW_MS shifts the registry's clock by %lld ms (tests only)",
		 v);
	return v;
}

int node_reg_new(store *st, hub *events, const node_config *cfg, node_reg **out)
{
	node_reg *r = xcalloc(1, sizeof *r);
	pthread_condattr_t ca;
	r->st = st;
	r->events = events;
	r->cfg = *cfg;
	r->skew_ms = env_skew();
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->wmu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	r->newcomers = nonce_set_new(NODE_NONCES_PER_KEY);
	int rc = 0;
	if (events && (rc = hub_declare(events, "node", HUB_OWNER)))
		goto fail;
	if ((rc = load(r)))
		goto fail;
	node_retain(r);
	if ((rc = -pthread_create(&r->thread, NULL, reg_thread, r)))
		goto fail;
	r->thread_on = 1;
	*out = r;
	return 0;
fail:
	node_reg_free(&r);
	return rc < -1000 ? -EIO : rc;
}

void node_reg_free(node_reg **rp)
{
	node_reg *r = *rp;
	if (!r)
		return;
	if (r->thread_on) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	for (size_t i = 0; i < r->n; i++)
		node_rec_free(r->v[i]);
	free(r->v);
	nonce_set_free(&r->newcomers);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->wmu);
	pthread_mutex_destroy(&r->mu);
	free(r);
	*rp = NULL;
}

void node_reg_listen(node_reg *r, const node_listener *l)
{
	pthread_mutex_lock(&r->mu);
	r->l = *l;
	pthread_mutex_unlock(&r->mu);
}

void node_reg_set_leader_url(node_reg *r, const char *url)
{
	pthread_mutex_lock(&r->mu);
	sn_strlcpy(r->leader_url, url ? url : "", sizeof r->leader_url);
	pthread_mutex_unlock(&r->mu);
}

size_t node_routes(node_reg *r, http_route *out, size_t max)
{
	size_t n = node_agent_routes(r, out, max);
	return n + node_user_routes(r, out + n, max - n);
}

int node_preclaim(node_reg *r, const uint8_t pub[SN_SIG_PUB], const char *owner_id, const char *name)
{
	char id[32], hex[2 * SN_SIG_PUB + 1];
	int64_t now = node_now_ms(r);
	store_conn *c = NULL;
	node_id_of(pub, id);
	sn_hex(pub, SN_SIG_PUB, hex);
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	struct node_rec *old = node_find(r, id);
	/* A node claimed by someone (or removed by an admin) stays as it is:
	 * `sentinel up` never takes a node back. */
	int known = old && old->state != NODE_PENDING;
	pthread_mutex_unlock(&r->mu);
	int rc = known ? 0 : store_acquire(r->st, &c);
	if (!known && rc == 0)
		rc = store_exec(c, "INSERT INTO nodes (id, pubkey, name, owner_id, state, created_at,"
				" claimed_at) VALUES ($1,$2,$3,$4,'claimed',$5,$5) ON CONFLICT (id) DO"
				" UPDATE SET state = 'claimed', owner_id = $4, claimed_at = $5"
				" WHERE nodes.state = 'pending'", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(hex), SA_TEXT(name), SA_TEXT(owner_id),
				      SA_INT(now)));
	store_release(&c);
	if (!known && rc == 0) {
		pthread_mutex_lock(&r->mu);
		struct node_rec *rec = node_find(r, id);
		if (!rec) {
			rec = node_rec_new();
			sn_strlcpy(rec->id, id, sizeof rec->id);
			sn_strlcpy(rec->pubkey, hex, sizeof rec->pubkey);
			sn_strlcpy(rec->name, name, sizeof rec->name);
			sn_sig_claim_code(pub, rec->claim);
			rec->created_at = now;
			rec->state = NODE_CLAIMED;
			node_insert(r, rec);
		} else if (rec->state == NODE_PENDING) {
			r->npending--;
		}
		rec->state = NODE_CLAIMED;
		sn_strlcpy(rec->owner, owner_id, sizeof rec->owner);
		rec->claimed_at = now;
		pthread_mutex_unlock(&r->mu);
	}
	pthread_mutex_unlock(&r->wmu);
	return rc;
}
