/* Jobs, chunks and the scheduler. docs/jobs.md is the wire contract; the
 * top of sched.c states the invariants and the state diagram of chunks and
 * leases. The scheduler is event-driven (new pending chunk, heartbeat,
 * completion, node change) and there is one reaper. */
#ifndef SN_SCHED_H
#define SN_SCHED_H
#include <stddef.h>
#include <stdint.h>
#include "base/buf.h"
#include "base/hub.h"
#include "blob/blob.h"
#include "http/http.h"
#include "node/node.h"
#include "store/store.h"

typedef struct sched sched;
struct auth_user;

#define SCHED_CHUNKS_MAX 1000000               /* chunks of one job */
#define SCHED_ARTIFACT_MAX ((size_t)64 << 30)  /* one artifact upload from a node */

extern const store_domain sched_store_domain;

typedef struct sched_config {
	int64_t lease_ms;          /* a chunk's lease, renewed by heartbeats: 3x node timeout */
	uint64_t chunk_log_max;    /* log bytes kept per chunk attempt: 16 MiB */
	const char *data;          /* the data directory (runtimes, rt.h); NULL: host only */
} sched_config;

/* Registers itself as nodes' listener and starts its threads (scheduler,
 * reaper). */
int sched_new(store *st, hub *events, blob_store *blobs, node_reg *nodes,
	      const sched_config *cfg, sched **out);
/* Stops the threads; long polls in flight return empty. */
void sched_free(sched **s);
/* Job, config and node-facing routes. */
size_t sched_routes(sched *s, http_route *out, size_t max);
/* The blob API's may_read hook of the "job" references (artifacts,
 * scripts and inputs of a job): the job's owner and admins may read them.
 * Register it with blob_api_reader_add(api, "job", sched_blob_may_read, s). */
int sched_blob_may_read(void *ctx, store_conn *c, const char *ref, const struct auth_user *u);
/* Prometheus lines (assignment latency, chunks by state) for /metrics. */
void sched_metrics(sched *s, buf *out);
#endif
