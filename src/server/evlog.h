/* A durable log of the event hub (table events), so that an SSE client's
 * Last-Event-ID replays what it missed across a restart of the server and
 * across a takeover by another replica (server/replica.h).
 *
 * Invariants:
 *  1. A viewer sees an event only once the log has committed it
 *     (hub_gate): an id a client saw is in the store, and the next process
 *     or replica continues after the newest id kept, so it never hands the
 *     same id to another event.
 *  2. The newest EVLOG_KEEP events are kept (the hub's ring: what a
 *     reconnecting client can be replayed); older rows are deleted.
 *  3. Liveness wins over replay: events the store refuses for
 *     EVLOG_GIVEUP_MS (it is away, or this replica was fenced) are shown
 *     unlogged, with an error in the log. */
#ifndef SN_EVLOG_H
#define SN_EVLOG_H
#include "base/hub.h"
#include "store/store.h"

#define EVLOG_KEEP HUB_RING
#define EVLOG_GIVEUP_MS 5000

typedef struct evlog evlog;

extern const store_domain evlog_store_domain;

/* Puts the newest kept events back into h (before anything publishes),
 * gates it, and starts the writer. *out is freed with evlog_close. */
int evlog_open(store *st, hub *h, evlog **out, char *err, size_t errlen);
/* After hub_close: writes what is left, stops the writer, frees. */
void evlog_close(evlog **e);
/* Events shown without being kept (the store refused them). */
uint64_t evlog_dropped(const evlog *e);
#endif
