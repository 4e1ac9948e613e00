/* Several `sentinel server` replicas on one PostgreSQL database: one leads
 * (serves the API, schedules, reaps), the others stand by and take over
 * when it dies. The scheduler, the metrics head blocks and the event hub
 * live in the leader's memory, so exactly one replica may act at a time:
 *
 *  - The leader holds a session advisory lock on a connection of its own;
 *    a standby polls for it and starts serving only once it has it.
 *  - Each new leader raises an epoch (table replica_leader) and fences the
 *    store with it (store_set_fence): once another replica has led, every
 *    write transaction of the old one fails.
 *  - A leader that loses its lock connection (the database restarted or
 *    failed over) takes the lock again if it can and nobody led meanwhile
 *    (same epoch), and goes on; otherwise it exits at once (75) and its
 *    supervisor restarts it as a standby.
 *
 * With SQLite there is one server per data directory: replica_lead does
 * nothing. */
#ifndef SN_REPLICA_H
#define SN_REPLICA_H
#include <stdint.h>
#include "store/store.h"

typedef struct replica replica;

/* Becomes the leader of st's database, waiting as a standby while another
 * replica leads. Returns early with -ECANCELED when stop_fd becomes
 * readable (a signal arrived). *out (NULL on SQLite) is freed with
 * replica_free; err gets a one-line message on failure. */
int replica_lead(store *st, const char *name, int stop_fd, replica **out, char *err,
		 size_t errlen);
/* The epoch this replica leads in (0 on SQLite). */
int64_t replica_epoch(const replica *r);
/* Stops watching the lock and gives it back. */
void replica_free(replica **r);
#endif
