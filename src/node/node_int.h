/* Internals of the node registry, shared by node.c (the table, the store,
 * snapshots, retention), node_auth.c (signed requests, the nonce cache) and
 * node_http.c (the routes); visible to the unit tests.
 *
 * Invariants:
 * 1. reg->mu guards the table (v, n) and every field of every node_rec; no
 *    store call and no listener call is made with it held.
 * 2. reg->wmu serialises the user routes' and register's writes, so that
 *    the order of writes to the store is the order of the memory updates.
 *    Heartbeats do not take it: they write only their own columns (facts,
 *    datasets, blobs, last_heartbeat), which no other writer touches.
 * 3. A node_lists is immutable once published in a node_rec; a change
 *    builds a new one. Snapshots hold references, so node_snapshot costs a
 *    copy of the scalars and a reference count per node, never a string copy.
 * 4. rec->online is the registry's last view of node_online(); every
 *    change of it goes through node_transitions() or the heartbeat, which
 *    publish the event and call the listener's changed() exactly once. */
#ifndef SN_NODE_INT_H
#define SN_NODE_INT_H
#include <pthread.h>
#include <stdint.h>
#include <jansson.h>
#include "base/sig.h"
#include "node/node.h"

/* Live nonces one key's set keeps (a power of two). Past it the older half
 * is forgotten and the key's requests must be newer than those (node_auth.c):
 * a node may sign any number of requests a second; one that arrives behind
 * 2,048 newer ones of its key is refused (401 stale_timestamp) and signed
 * again. */
#define NODE_NONCES_PER_KEY 4096
/* Unclaimed nodes at once: registration by a new key is refused (503)
 * beyond, so that a flood of fresh keys cannot grow the table unbounded. */
#define NODE_PENDING_MAX 1024
/* A heartbeat writes last_heartbeat to the store at most this often (its
 * facts at once when they change): a heartbeat must not cost a write. */
#define NODE_HB_STORE_MS 10000
/* Access entries (users, groups) one node may list. */
#define NODE_ACCESS_MAX 256
/* Node-local datasets, blobs and runtimes one node may report. */
#define NODE_DATASETS_MAX 1024
#define NODE_BLOBS_MAX 16384
#define NODE_RUNTIMES_MAX 256

/* ---- the nonce set of one key (node_auth.c) ---- */

typedef struct nonce_set nonce_set;
/* max: live entries, a power of two. */
nonce_set *nonce_set_new(size_t max);
void nonce_set_free(nonce_set **s);
/* Records nonce until expires_ms. 0: new; -EEXIST: already recorded and
 * not expired at now_ms; -ETIME: expires_ms at or below the set's floor,
 * which rises when max nonces are live (the older half is forgotten). */
int nonce_set_add(nonce_set *s, const uint8_t nonce[16], int64_t expires_ms, int64_t now_ms);
/* 1 when nonce is recorded and not expired at now_ms. */
int nonce_set_has(const nonce_set *s, const uint8_t nonce[16], int64_t now_ms);
/* Live entries at now_ms. */
size_t nonce_set_count(const nonce_set *s, int64_t now_ms);

/* ---- the table (node.c) ---- */

enum node_state { NODE_PENDING, NODE_CLAIMED, NODE_REMOVED };

struct node_lists {
	int refs; /* atomic */
	char **users;    size_t nusers;
	char **groups;   size_t ngroups;
	char **blobs;    size_t nblobs;    /* sorted */
	char **datasets; size_t ndatasets; /* "name\tmanifest_sha256" */
	char **runtimes; size_t nruntimes;
};

struct node_rec {
	char id[32];
	char pubkey[65];
	char name[130];
	char owner[48];      /* "" while pending */
	char claim[7];
	enum node_state state;
	json_t *facts;       /* stored: cores, memory_mb, platform, version, gpus, max_parallel */
	json_t *datasets;    /* as the node last sent them (array) */
	struct node_lists *lists;
	int draining;        /* set by the owner (stored) */
	int node_draining;   /* reported by the node (memory only) */
	int public_use;
	int online;          /* invariant 4 */
	int running;         /* chunks in the last heartbeat */
	int gpus_free;
	double load1;
	int64_t created_at, claimed_at, last_heartbeat;
	int64_t stored_heartbeat; /* the last_heartbeat the store holds */
	nonce_set *nonces;   /* NULL until the key's first request */
};

struct node_reg {
	store *st;
	hub *events;
	node_config cfg;
	node_listener l;
	char leader_url[256]; /* node_reg_set_leader_url; under mu */
	int64_t skew_ms;     /* SENTINEL_TEST_CLOCK_SKEW_MS */
	pthread_mutex_t mu;  /* invariant 1 */
	pthread_mutex_t wmu; /* invariant 2 */
	struct node_rec **v; /* sorted by id */
	size_t n, cap;
	size_t npending;
	/* Nonces of register calls by keys not yet known: random 128-bit
	 * nonces do not collide across keys, so one set serves them all. */
	nonce_set *newcomers;
	pthread_t thread;
	int thread_on;
	int stop;
	pthread_cond_t cond;
};

/* The node id of a key: "nd_" + 20 hex of SHA-256(pub). */
void node_id_of(const uint8_t pub[SN_SIG_PUB], char id[32]);
/* Lookup under reg->mu: the record, or NULL. */
struct node_rec *node_find(node_reg *r, const char *id);
/* Inserts rec (under reg->mu); the table owns it. */
void node_insert(node_reg *r, struct node_rec *rec);
/* Unlinks and frees the record of id (under reg->mu). */
void node_drop(node_reg *r, const char *id);
struct node_rec *node_rec_new(void);
void node_rec_free(struct node_rec *rec);
/* Empty lists (one reference); node_lists_set puts them in a record,
 * dropping the record's reference to the old ones. */
struct node_lists *node_lists_new(void);
/* A deep copy, to change before it is published. */
struct node_lists *node_lists_dup(const struct node_lists *l);
void node_lists_unref(struct node_lists *l);
void node_lists_set(struct node_rec *rec, struct node_lists *nl);
void node_strv_free(char **v, size_t n);
/* "pending", "online", "offline", "draining" at now (under reg->mu). */
const char *node_public_state(node_reg *r, const struct node_rec *rec, int64_t now);
/* Detects online/offline changes at now; publishes and notifies (takes
 * reg->mu itself; call without it). */
void node_transitions(node_reg *r);
/* Publishes a node event ("claimed", "online", ...) on topic "node" for
 * the owner, then calls the listener's changed(). Without reg->mu. */
void node_announce(node_reg *r, const char *id, const char *owner, const char *name,
		   const char *what);
/* The lists' vectors of a JSON array: blobs (strings, sorted) and
 * datasets (objects with name and manifest_sha256: "name\tsha"). */
char **node_blobs_strv(const json_t *a, size_t *n);
char **node_datasets_strv(const json_t *a, size_t *n);
/* The JSON array of a char* vector, or NULL on failure. */
json_t *node_strv_json(char *const *v, size_t n);
/* The stored facts' integer (0 when absent). */
int64_t node_fact_int(const json_t *facts, const char *key);

/* node_http.c */
size_t node_user_routes(node_reg *r, http_route *out, size_t max);
size_t node_agent_routes(node_reg *r, http_route *out, size_t max);
#endif
