/* The metrics routes, the agent registry and the price table
 * (docs/metrics.md): what stands between HTTP callers and the metrics
 * store (mx.h). Alerts and detectors read and write through it too. */
#ifndef SN_MX_API_H
#define SN_MX_API_H
#include <stddef.h>
#include <stdint.h>
#include "auth/auth.h"
#include "base/hub.h"
#include "http/http.h"
#include "metrics/mx.h"
#include "node/node.h"
#include "store/store.h"

typedef struct mx_api mx_api;

typedef struct mx_api_config {
	const char *data;          /* the data directory: the store lives in DATA/metrics */
	int64_t retention_ms;      /* --metrics-retention (30d) */
	uint64_t max_series;       /* --metrics-max-series (100000) */
	int64_t agent_timeout_ms;  /* --agent-timeout (60s) */
	uint64_t min_free_disk;    /* --min-free-disk: pushes are refused (507) below it */
} mx_api_config;

/* The agent registry and prices of this domain, for store_open. */
extern const store_domain mx_store_domain;

/* st, events and nodes are borrowed and must outlive the api. Opens the
 * metrics store (replaying its log). err gets a message. */
int mx_api_new(store *st, hub *events, node_reg *nodes, const mx_api_config *cfg,
	       mx_api **out, char *err, size_t errlen);
/* Flushes and closes the metrics store. */
void mx_api_free(mx_api **a);
size_t mx_api_routes(mx_api *a, http_route *out, size_t max);
/* The store, for readers (alerts, detectors); owned by the api. */
mx_db *mx_api_db(mx_api *a);
/* 1 when u may read agent's samples; u NULL is the server itself (all). */
int mx_api_may_read(mx_api *a, const auth_user *u, const char *agent);
/* Stores b as the routes do: u must be allowed to write to every agent of
 * b (new agents become u's); u NULL is the server itself (detector scores:
 * no check, new agents owned by nobody but admins). Durable on 0;
 * -EACCES (err names the agent), -EUSERS, -ENOSPC (the free-disk reserve
 * of the metrics directory), or an I/O error. */
int mx_api_push(mx_api *a, const auth_user *u, const mx_batch *b, char *err, size_t errlen);
/* The same without waiting for the group commit: returns 1 when b was
 * queued, and cb(ctx, rc, err) then runs once, when it is durable (rc 0)
 * or failed (err: the words for the reply); b must stay valid until then.
 * cb runs on the metrics log's writer thread, or, when r (the request
 * pushing b, may be NULL) is on an event loop, on that loop's thread at
 * the end of its turn, which commits the turn's batches itself
 * (http_req_at_turn_end). Returns 0 (an empty batch) or a refusal (err
 * filled) when nothing was queued: cb is not called. */
typedef void (*mx_push_cb)(void *ctx, int rc, const char *err);
int mx_api_push_async(mx_api *a, const auth_user *u, const mx_batch *b, http_req *r,
		      mx_push_cb cb, void *ctx, char *err, size_t errlen);
#endif
