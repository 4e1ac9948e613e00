/* Several `sentinel server` replicas on one PostgreSQL database: one leads
 * (schedules, reaps, serves the API), the others follow: they serve on
 * their own address by relaying every request to the leader
 * (server/follow.h), and one of them takes over when it dies. The
 * scheduler, the metrics head blocks and the event hub live in the
 * leader's memory, so exactly one replica acts at a time:
 *
 *  - The leader holds a session advisory lock on a connection of its own;
 *    a follower polls for it and starts acting only once it has it.
 *  - Each new leader raises an epoch (table replica_leader) and fences the
 *    store with it (store_set_fence): once another replica has led, every
 *    write transaction of the old one fails.
 *  - A leader that loses its lock connection (the database restarted or
 *    failed over) takes the lock again if it can and nobody led meanwhile
 *    (same epoch), and goes on; otherwise it exits at once (75) and its
 *    supervisor restarts it as a follower.
 *  - The leader beats (replica_leader.beat, the database's clock); a leader
 *    alive to the database but not beating (stopped, frozen) has its lock
 *    session ended by a follower after the lease (--lead-timeout), so a
 *    hung leader does not hold the whole group: it is treated as dead.
 *
 * With SQLite there is one server per data directory: replica_lead does
 * nothing. */
#ifndef SN_REPLICA_H
#define SN_REPLICA_H
#include <stdint.h>
#include "store/store.h"

typedef struct replica replica;

/* Becomes the leader of st's database, following while another replica
 * leads: on_lead(ctx) (may be NULL) is called there whenever a new leader
 * has advertised itself (replica_advertise). Returns early with -ECANCELED
 * when stop_fd becomes readable (a signal arrived). lease_ms > 0: the
 * leader beats (writes the database's time) at least every second, and a
 * follower ends the lock session of a leader whose last beat is older
 * than lease_ms, then takes the lead; 0: only a leader's end (its session
 * gone) frees the lead. *out (NULL on SQLite) is freed with replica_free;
 * err gets a one-line message on failure. */
int replica_lead(store *st, const char *name, int64_t lease_ms, int stop_fd,
		 void (*on_lead)(void *), void *ctx, replica **out, char *err, size_t errlen);
/* The epoch this replica leads in (0 on SQLite). */
int64_t replica_epoch(const replica *r);
/* The leader tells the other replicas where its replica listener is
 * (http/proxy.h) and the secret that listener asks for; a new leader's
 * epoch clears both until it does. 0; -ESTALE when another replica leads
 * now. Nothing on SQLite (r NULL). */
int replica_advertise(replica *r, const char *url, const char *secret);
/* What the leader advertised: 0, or -EAGAIN when none leads or none has
 * advertised yet. */
int replica_upstream(store *st, char *url, size_t urllen, char *secret, size_t secretlen);
/* Stops watching the lock and gives it back, and tells the followers so
 * (one of them leads within milliseconds, not at its next poll). */
void replica_free(replica **r);
#endif
