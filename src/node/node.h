/* The server's node registry: registration of node keys, claim codes,
 * signed-request checks (base/sig.h), heartbeats, permissions, drain and
 * removal, retention. docs/jobs.md is the wire contract.
 *
 * One definition of offline: node_online() is the only function that
 * decides whether a node is online; the API, the scheduler and the reaper
 * all call it. The registry keeps every claimed node in memory (loaded at
 * start, written through to the store), so the scheduler reads a snapshot
 * without touching the store. */
#ifndef SN_NODE_H
#define SN_NODE_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/hub.h"
#include "http/http.h"
#include "store/store.h"

typedef struct node_reg node_reg;

extern const store_domain node_store_domain;

typedef struct node_config {
	int64_t node_timeout_ms;  /* offline after this long without a heartbeat: 30 s */
	int64_t heartbeat_ms;     /* what nodes are told to use: 5 s */
	int64_t clock_window_ms;  /* accepted timestamp skew: 60 s */
	int64_t pending_ttl_ms;   /* unclaimed nodes removed after: 1 h */
	int64_t offline_ttl_ms;   /* offline nodes removed after: 30 d */
} node_config;

/* Called (without any registry lock held) after each accepted heartbeat,
 * with the node's id and the heartbeat body; it may add members to reply
 * ("cancel", "lost"); a negative errno answers the heartbeat with it. And
 * changed() on every change of a node's standing (claimed, drained,
 * permissions, facts on re-registration, removed, online, offline). An
 * offline node is offline in every snapshot at once; changed() for it
 * comes from the registry's thread (within a second), never from inside
 * node_snapshot, so a caller may hold its own locks across node_snapshot. */
typedef struct node_listener {
	int (*heartbeat)(void *ctx, const char *node_id, const json_t *body, json_t *reply);
	void (*changed)(void *ctx, const char *node_id);
	void *ctx;
} node_listener;

int node_reg_new(store *st, hub *events, const node_config *cfg, node_reg **out);
void node_reg_free(node_reg **r);
void node_reg_listen(node_reg *r, const node_listener *l);
/* Where nodes reach this server directly while it leads replicas
 * (server/replica.h): a heartbeat relayed by a follower is answered with
 * it ("leader_url"), and the node talks to the leader from then on, one
 * hop fewer. NULL or "": never said. */
void node_reg_set_leader_url(node_reg *r, const char *url);
/* The registry's routes: register and heartbeat (HTTP_NODE) and the
 * user routes. Returns how many were written to out. */
size_t node_routes(node_reg *r, http_route *out, size_t max);

/* The auth hook for HTTP_NODE routes (http_hooks.auth): checks the
 * signature, clock window, nonce and the key's standing from the head. On
 * 0 the request carries the caller (node_caller). Otherwise it has
 * replied 401/403. */
int node_auth_hook(node_reg *r, http_req *req, const http_route *route);

typedef struct node_caller {
	char id[32];        /* "nd_" + 20 hex */
	char owner[48];     /* user id, "" while pending */
} node_caller;
/* The signed caller of an HTTP_NODE request, or NULL. */
const node_caller *node_caller_of(const http_req *req);
/* For HTTP_NODE handlers once the body is in: 1 when it matches the
 * signed body hash, else replies 400 bad_body_hash and returns 0. */
int node_body_ok(http_req *req);

/* The one definition: online when the last heartbeat is at most
 * node_timeout_ms old at now_ms. */
int node_online(const node_reg *r, int64_t last_heartbeat_ms, int64_t now_ms);
/* The clock the registry and the scheduler use (ms since the epoch);
 * SENTINEL_TEST_CLOCK_SKEW_MS (tests only, read at start) shifts it. */
int64_t node_now_ms(const node_reg *r);

/* A claimed node as the scheduler sees it. Strings are copies owned by
 * the snapshot. */
typedef struct node_info {
	char id[32];
	char owner[48];
	char name[130];
	int online, draining;
	int max_parallel, gpus;
	int64_t last_heartbeat_ms;
	int public_use;           /* anyone may use it */
	char **users;  size_t nusers;   /* user ids that may use it */
	char **groups; size_t ngroups;  /* group ids whose members may use it */
	char **blobs;  size_t nblobs;   /* sorted sha256 hex it holds */
	char **datasets; size_t ndatasets; /* "name\tmanifest_sha256" node-local data */
	char **runtimes; size_t nruntimes; /* runtimes the node holds (last heartbeat) */
	int running;              /* chunks the node ran at its last heartbeat */
	int gpus_free;            /* free GPUs it reported then */
} node_info;

/* Every claimed, not removed node, with online computed by node_online
 * at node_now_ms. Free with node_snapshot_free. */
int node_snapshot(node_reg *r, node_info **out, size_t *n);
void node_snapshot_free(node_info **v, size_t n);
/* `sentinel up`'s local node: the key pub is recorded as claimed by
 * owner_id before its agent first registers (a pending record of it is
 * claimed; a node already claimed or removed is left alone). 0 or <0. */
int node_preclaim(node_reg *r, const uint8_t pub[32], const char *owner_id, const char *name);
/* 1 when user (with the given group ids) may use the node. */
int node_may_use(const node_info *n, const char *user_id, char *const *groups, size_t ngroups);
/* The dataset module's node-local provider (ds_local_fn, dataset/ds.h;
 * ctx: the node_reg): in *out a new array of the datasets on the claimed
 * nodes u may use (admins: all), one item per (name, manifest) with a
 * location per node, sorted by name then manifest. 0 or <0. */
struct auth_user;
int node_local_datasets(void *ctx, const struct auth_user *u, json_t **out);
#endif
