/* The node registry's in-memory pieces: nonce sets (replays refused for
 * the whole window, bounded, never forgetting a live nonce), node_online
 * at its boundary, node_may_use, loading from the store, snapshots (only
 * claimed nodes; their lists outlive a change), retention at start and the
 * test clock skew. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "auth/auth.h"
#include "base/hub.h"
#include "base/mem.h"
#include "base/util.h"
#include "node/node.h"
#include "node/node_int.h"
#include "test_db.h"

static void nonce_of(uint64_t i, uint8_t n[16])
{
	/* Spread like random nonces in the bytes the set hashes. */
	uint64_t h = i * 0x9e3779b97f4a7c15ull;
	memcpy(n, &h, 8);
	memcpy(n + 8, &i, 8);
}

static void test_nonce_set(void **s)
{
	uint8_t a[16], b[16];
	(void)s;
	nonce_set *ns = nonce_set_new(64);
	nonce_of(1, a);
	nonce_of(2, b);
	assert_int_equal(nonce_set_add(ns, a, 1000, 0), 0);
	assert_int_equal(nonce_set_add(ns, a, 1000, 500), -EEXIST);
	assert_int_equal(nonce_set_add(ns, a, 1000, 1000), -EEXIST); /* at its expiry: still live */
	assert_true(nonce_set_has(ns, a, 1000));
	assert_false(nonce_set_has(ns, b, 0));
	assert_int_equal(nonce_set_add(ns, b, 2000, 0), 0);
	assert_int_equal(nonce_set_count(ns, 0), 2);
	/* Past its expiry a nonce is out of the window: the clock check
	 * refuses it, and the set may forget it. */
	assert_false(nonce_set_has(ns, a, 1001));
	assert_int_equal(nonce_set_count(ns, 1001), 1);
	assert_int_equal(nonce_set_add(ns, a, 3000, 1001), 0);
	assert_int_equal(nonce_set_add(ns, a, 3000, 1002), -EEXIST);
	nonce_set_free(&ns);
	assert_null(ns);
}

static void test_nonce_set_full(void **s)
{
	uint8_t n[16];
	(void)s;
	nonce_set *ns = nonce_set_new(64);
	/* 64 live nonces of one key, expiring at 10001..10064. */
	for (uint64_t i = 0; i < 64; i++) {
		nonce_of(i, n);
		assert_int_equal(nonce_set_add(ns, n, 10001 + (int64_t)i, 0), 0);
	}
	/* One more: accepted, the older half forgotten, the floor at 10032. */
	nonce_of(64, n);
	assert_int_equal(nonce_set_add(ns, n, 10065, 0), 0);
	assert_int_equal(nonce_set_count(ns, 0), 33);
	/* A forgotten nonce cannot come back: at or below the floor is refused. */
	for (uint64_t i = 0; i < 32; i++) {
		nonce_of(i, n);
		assert_false(nonce_set_has(ns, n, 0));
		assert_int_equal(nonce_set_add(ns, n, 10001 + (int64_t)i, 0), -ETIME);
	}
	nonce_of(1000, n);
	assert_int_equal(nonce_set_add(ns, n, 10032, 0), -ETIME);
	/* The kept half is still refused as replayed; newer ones go in. */
	for (uint64_t i = 32; i <= 64; i++) {
		nonce_of(i, n);
		assert_int_equal(nonce_set_add(ns, n, 10001 + (int64_t)i, 5000), -EEXIST);
	}
	nonce_of(1001, n);
	assert_int_equal(nonce_set_add(ns, n, 10033, 0), 0);
	/* Once they expire there is room again, the floor staying. */
	nonce_of(1002, n);
	assert_int_equal(nonce_set_add(ns, n, 20000, 10070), 0);
	assert_int_equal(nonce_set_count(ns, 10070), 1);
	nonce_set_free(&ns);
	/* The one that fills the set is itself older than the kept half:
	 * refused by the floor it raised, the others kept. */
	ns = nonce_set_new(64);
	for (uint64_t i = 0; i < 64; i++) {
		nonce_of(i, n);
		assert_int_equal(nonce_set_add(ns, n, 10001 + (int64_t)i, 0), 0);
	}
	nonce_of(64, n);
	assert_int_equal(nonce_set_add(ns, n, 10010, 0), -ETIME);
	assert_false(nonce_set_has(ns, n, 0));
	assert_int_equal(nonce_set_count(ns, 0), 32);
	nonce_set_free(&ns);
}

/* One key signing faster than its set holds (a node running short chunks):
 * 10 requests a ms, each live for 60 s. None is refused, every nonce
 * sent again is, and memory stays bounded. */
static void test_nonce_set_flood(void **s)
{
	uint8_t n[16];
	(void)s;
	nonce_set *ns = nonce_set_new(256);
	for (uint64_t i = 1; i <= 50000; i++) {
		int64_t t = (int64_t)(i / 10);
		nonce_of(i, n);
		assert_int_equal(nonce_set_add(ns, n, t + 60000, t), 0);
		if (i % 101 == 0)
			for (uint64_t back = 1; back <= 500 && back < i; back += 37) {
				nonce_of(i - back, n);
				int rc = nonce_set_add(ns, n, (int64_t)((i - back) / 10) + 60000, t);
				assert_true(rc == -EEXIST || rc == -ETIME);
			}
		assert_true(nonce_set_count(ns, t) <= 256);
	}
	nonce_set_free(&ns);
}

/* A steady stream: one request per ms, each live for a 100 ms window.
 * Every nonce still live is refused again; memory stays bounded. */
static void test_nonce_set_stream(void **s)
{
	uint8_t n[16];
	(void)s;
	nonce_set *ns = nonce_set_new(128);
	for (uint64_t t = 1; t <= 20000; t++) {
		nonce_of(t, n);
		assert_int_equal(nonce_set_add(ns, n, (int64_t)t + 100, (int64_t)t), 0);
		if (t % 97 == 0)
			for (uint64_t back = 0; back <= 100 && back < t; back += 7) {
				nonce_of(t - back, n);
				assert_int_equal(nonce_set_add(ns, n, (int64_t)(t - back) + 100,
							       (int64_t)t), -EEXIST);
			}
		assert_true(nonce_set_count(ns, (int64_t)t) <= 101);
	}
	nonce_set_free(&ns);
}

/* ---- a registry on a temporary store ---- */

struct fx {
	char dir[64], url[256];
	store *st;
	node_reg *r;
};

static const store_domain *const domains[] = { &auth_store_domain, &node_store_domain };
static const node_config cfg = { 30000, 5000, 60000, 3600000, 30LL * 86400000 };

static void fx_store(struct fx *f)
{
	char err[256];
	store_opts so = { .domains = domains, .ndomains = 2 };
	snprintf(f->dir, sizeof f->dir, "/tmp/test_node.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(test_db_url(f->dir, "db", f->url, sizeof f->url), 0);
	assert_int_equal(store_open(f->url, &so, &f->st, err, sizeof err), 0);
}

static void fx_close(struct fx *f)
{
	char cmd[128];
	node_reg_free(&f->r);
	assert_null(f->r);
	store_free(&f->st);
	test_db_drop(f->url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void exec(struct fx *f, const char *sql)
{
	store_conn *c = NULL;
	assert_int_equal(store_acquire(f->st, &c), 0);
	assert_int_equal(store_exec(c, sql, NULL, SNOARGS), 0);
	store_release(&c);
}

/* A stored node; its key is pub[0] = k (ids are made up: the registry
 * trusts its own rows). */
static void add_node(struct fx *f, const char *id, int k, const char *state, const char *owner,
		     int64_t created, int64_t hb)
{
	char pub[65], sql[1024];
	memset(pub, '0', 64);
	pub[64] = '\0';
	pub[0] = (char)('0' + k);
	snprintf(sql, sizeof sql,
		 "INSERT INTO nodes (id, pubkey, name, owner_id, state, facts, datasets, blobs,"
		 " created_at, last_heartbeat) VALUES ('%s', '%s', 'n-%s', %s%s%s, '%s',"
		 " '{\"max_parallel\":4,\"gpus\":1}', '[{\"name\":\"d\",\"manifest_sha256\":\"ab\"}]',"
		 " '[\"bb\",\"aa\"]', %lld, %lld)",
		 id, pub, id, owner ? "'" : "", owner ? owner : "NULL", owner ? "'" : "", state,
		 (long long)created, (long long)hb);
	exec(f, sql);
}

static void test_online_boundary(void **s)
{
	struct fx f = { 0 };
	(void)s;
	fx_store(&f);
	assert_int_equal(node_reg_new(f.st, NULL, &cfg, &f.r), 0);
	assert_true(node_online(f.r, 1000, 1000));
	assert_true(node_online(f.r, 1000, 31000));  /* exactly node_timeout_ms: online */
	assert_false(node_online(f.r, 1000, 31001)); /* one ms later: offline */
	assert_false(node_online(f.r, 0, 1000));     /* never a heartbeat */
	int64_t d = node_now_ms(f.r) - sn_now_ms();
	assert_true(d >= -1000 && d <= 1000);
	fx_close(&f);
}

static void test_skew(void **s)
{
	struct fx f = { 0 };
	(void)s;
	fx_store(&f);
	setenv("SENTINEL_TEST_CLOCK_SKEW_MS", "-7200000", 1);
	int rc = node_reg_new(f.st, NULL, &cfg, &f.r);
	unsetenv("SENTINEL_TEST_CLOCK_SKEW_MS");
	assert_int_equal(rc, 0);
	int64_t d = node_now_ms(f.r) - sn_now_ms();
	assert_true(d >= -7201000 && d <= -7199000);
	fx_close(&f);
}

static void test_may_use(void **s)
{
	char *users[] = { "u_bob" }, *groups[] = { "g_a", "g_b" };
	char *mine[] = { "g_x", "g_b" }, *none[] = { "g_x" };
	node_info n = { 0 };
	(void)s;
	snprintf(n.owner, sizeof n.owner, "u_alice");
	assert_true(node_may_use(&n, "u_alice", NULL, 0));
	assert_false(node_may_use(&n, "u_bob", NULL, 0));
	assert_false(node_may_use(&n, NULL, NULL, 0));
	n.users = users;
	n.nusers = 1;
	assert_true(node_may_use(&n, "u_bob", NULL, 0));
	assert_false(node_may_use(&n, "u_carol", mine, 2));
	n.groups = groups;
	n.ngroups = 2;
	assert_true(node_may_use(&n, "u_carol", mine, 2));
	assert_false(node_may_use(&n, "u_carol", none, 1));
	n.public_use = 1;
	assert_true(node_may_use(&n, "u_carol", NULL, 0));
}

static void test_load_snapshot(void **s)
{
	struct fx f = { 0 };
	node_info *v = NULL, *v2 = NULL;
	size_t n = 0, n2 = 0;
	(void)s;
	fx_store(&f);
	int64_t now = sn_now_ms();
	add_node(&f, "nd_a", 1, "claimed", "u_alice", now - 1000, now - 1000);
	add_node(&f, "nd_b", 2, "claimed", "u_bob", now - 1000, now - 60000);
	add_node(&f, "nd_c", 3, "pending", NULL, now - 1000, 0);
	add_node(&f, "nd_d", 4, "removed", "u_bob", now - 1000, now - 1000);
	exec(&f, "INSERT INTO node_access VALUES ('nd_a', 'user', 'u_bob'), ('nd_a', 'group', 'g_1')");
	assert_int_equal(node_reg_new(f.st, NULL, &cfg, &f.r), 0);
	assert_int_equal(node_snapshot(f.r, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "nd_a");
	assert_string_equal(v[0].owner, "u_alice");
	assert_string_equal(v[0].name, "n-nd_a");
	assert_true(v[0].online);
	assert_int_equal(v[0].max_parallel, 4);
	assert_int_equal(v[0].gpus, 1);
	assert_int_equal(v[0].nusers, 1);
	assert_string_equal(v[0].users[0], "u_bob");
	assert_int_equal(v[0].ngroups, 1);
	assert_string_equal(v[0].groups[0], "g_1");
	assert_int_equal(v[0].nblobs, 2);
	assert_string_equal(v[0].blobs[0], "aa"); /* sorted */
	assert_int_equal(v[0].ndatasets, 1);
	assert_string_equal(v[0].datasets[0], "d\tab");
	assert_string_equal(v[1].id, "nd_b");
	assert_false(v[1].online); /* its last heartbeat is older than node_timeout_ms */
	assert_int_equal(v[1].nusers, 0);

	/* A change publishes new lists; the snapshot taken before keeps its own. */
	pthread_mutex_lock(&f.r->mu);
	struct node_rec *rec = node_find(f.r, "nd_a");
	assert_non_null(rec);
	assert_int_equal(strlen(rec->claim), 6); /* computed from the key at load */
	node_lists_set(rec, node_lists_new());
	pthread_mutex_unlock(&f.r->mu);
	assert_int_equal(node_snapshot(f.r, &v2, &n2), 0);
	assert_int_equal(v2[0].nusers, 0);
	assert_string_equal(v[0].users[0], "u_bob");
	node_snapshot_free(&v, n);
	assert_null(v);
	node_snapshot_free(&v2, n2);
	/* The removed key is remembered (refused), not handed to the scheduler. */
	pthread_mutex_lock(&f.r->mu);
	rec = node_find(f.r, "nd_d");
	assert_non_null(rec);
	assert_int_equal(rec->state, NODE_REMOVED);
	assert_int_equal(f.r->npending, 1);
	pthread_mutex_unlock(&f.r->mu);
	fx_close(&f);
}

static void test_retention_at_start(void **s)
{
	struct fx f = { 0 };
	node_info *v = NULL;
	size_t n = 0;
	(void)s;
	fx_store(&f);
	int64_t now = sn_now_ms(), day = 86400000;
	add_node(&f, "nd_old_pending", 1, "pending", NULL, now - 3600001 - 1000, 0);
	add_node(&f, "nd_new_pending", 2, "pending", NULL, now - 60000, 0);
	add_node(&f, "nd_gone", 3, "claimed", "u_a", now - 40 * day, now - 31 * day);
	add_node(&f, "nd_quiet", 4, "claimed", "u_a", now - 40 * day, now - 29 * day);
	add_node(&f, "nd_removed", 5, "removed", "u_a", now - 400 * day, now - 400 * day);
	exec(&f, "INSERT INTO node_access VALUES ('nd_gone', 'user', 'u_b')");
	assert_int_equal(node_reg_new(f.st, NULL, &cfg, &f.r), 0);
	assert_int_equal(node_snapshot(f.r, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "nd_quiet");
	node_snapshot_free(&v, n);
	pthread_mutex_lock(&f.r->mu);
	assert_null(node_find(f.r, "nd_old_pending"));
	assert_non_null(node_find(f.r, "nd_new_pending"));
	assert_null(node_find(f.r, "nd_gone"));
	assert_non_null(node_find(f.r, "nd_removed"));
	assert_int_equal(f.r->npending, 1);
	pthread_mutex_unlock(&f.r->mu);
	/* The rows went too (and the access rows with them). */
	store_conn *c = NULL;
	store_rows *rows = NULL;
	assert_int_equal(store_acquire(f.st, &c), 0);
	assert_int_equal(store_query(c, "SELECT (SELECT COUNT(*) FROM nodes),"
				     " (SELECT COUNT(*) FROM node_access)", &rows, SNOARGS), 0);
	assert_int_equal(store_rows_next(rows), 1);
	assert_int_equal(store_rows_int(rows, 0), 3);
	assert_int_equal(store_rows_int(rows, 1), 0);
	store_rows_free(&rows);
	store_release(&c);
	fx_close(&f);
}

struct seen {
	pthread_mutex_t mu;
	int n;
	char last[32];
};

static void on_changed(void *ctx, const char *node_id)
{
	struct seen *s = ctx;
	pthread_mutex_lock(&s->mu);
	s->n++;
	snprintf(s->last, sizeof s->last, "%s", node_id);
	pthread_mutex_unlock(&s->mu);
}

/* changed() calls so far, once the registry's thread (which may be
 * announcing the same change) is past it: the event comes first. */
static int seen_count(struct seen *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->n;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* A node whose heartbeat is older than node_timeout_ms goes offline once:
 * one "offline" event for its owner, one changed(). A snapshot sees it
 * offline at once, whatever the registry's thread has announced. */
static void test_transitions(void **s)
{
	struct fx f = { 0 };
	struct seen seen = { PTHREAD_MUTEX_INITIALIZER, 0, "" };
	node_info *v = NULL;
	size_t n = 0;
	char *topic = NULL, *data = NULL;
	(void)s;
	fx_store(&f);
	hub *h = hub_new();
	int64_t now = sn_now_ms();
	add_node(&f, "nd_a", 1, "claimed", "u_alice", now - 1000, now - 1000);
	assert_int_equal(node_reg_new(f.st, h, &cfg, &f.r), 0);
	node_listener l = { NULL, on_changed, &seen };
	node_reg_listen(f.r, &l);
	uint64_t cur = hub_last_id(h);
	pthread_mutex_lock(&f.r->mu);
	struct node_rec *rec = node_find(f.r, "nd_a");
	assert_true(rec->online);
	rec->last_heartbeat = now - 31000;
	pthread_mutex_unlock(&f.r->mu);
	assert_int_equal(node_snapshot(f.r, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_false(v[0].online);
	node_snapshot_free(&v, n);
	node_transitions(f.r);
	node_transitions(f.r);
	hub_viewer alice = { "u_alice", 0 }, bob = { "u_bob", 0 };
	uint64_t c2 = cur;
	assert_int_equal(hub_next_for(h, &alice, "node", &cur, 5000, &topic, &data), 0);
	assert_string_equal(topic, "node");
	assert_string_equal(data, "{\"event\":\"offline\",\"id\":\"nd_a\",\"name\":\"n-nd_a\"}");
	free(topic);
	free(data);
	assert_int_equal(hub_next_for(h, &bob, "node", &c2, 10, &topic, &data), -ETIMEDOUT);
	/* The registry's own thread may have announced it: once in all. */
	for (int i = 0; i < 500 && seen_count(&seen) == 0; i++)
		usleep(10000);
	usleep(50000);
	assert_int_equal(seen_count(&seen), 1);
	pthread_mutex_lock(&seen.mu);
	assert_string_equal(seen.last, "nd_a");
	pthread_mutex_unlock(&seen.mu);
	assert_int_equal(hub_next_for(h, &alice, "node", &cur, 10, &topic, &data), -ETIMEDOUT);
	fx_close(&f);
	hub_close(h);
	hub_free(&h);
}

static void test_node_id(void **s)
{
	uint8_t pub[SN_SIG_PUB] = { 1, 2, 3 };
	char id[32], h[65];
	(void)s;
	node_id_of(pub, id);
	sn_sha256_hex(pub, sizeof pub, h);
	assert_int_equal(strlen(id), 23);
	assert_memory_equal(id, "nd_", 3);
	assert_memory_equal(id + 3, h, 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nonce_set),       cmocka_unit_test(test_nonce_set_full),
		cmocka_unit_test(test_nonce_set_stream), cmocka_unit_test(test_nonce_set_flood),
		cmocka_unit_test(test_online_boundary),
		cmocka_unit_test(test_skew),            cmocka_unit_test(test_may_use),
		cmocka_unit_test(test_load_snapshot),   cmocka_unit_test(test_retention_at_start),
		cmocka_unit_test(test_transitions),     cmocka_unit_test(test_node_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
