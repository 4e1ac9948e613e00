/* A replica that does not lead serves its address by relaying every
 * request to the one that does (http/proxy.h, server/replica.h): nodes,
 * users and browsers may use any replica. */
#ifndef SN_FOLLOW_H
#define SN_FOLLOW_H
#include <stddef.h>
#include "http/http.h"
#include "store/store.h"

typedef struct follow follow;

/* Listens on cfg->listen (cfg's limits and TLS) and relays to the leader
 * that replica_upstream names, asking st again at most once a second or
 * after the leader could not be reached. */
int follow_start(store *st, const http_config *cfg, follow **out, char *err, size_t errlen);
/* Relays on a second address too (--ingest-listen: its agents reach the
 * leader through any replica); it closes with follow_stop, for the real
 * ingest listener to take the address. */
int follow_add_ingest(follow *f, const http_config *cfg, char *err, size_t errlen);
unsigned follow_port(const follow *f);
/* Forgets the leader's address and ends the relays in flight to it: a new
 * leader has advertised itself (replica_lead's on_lead; ctx is the
 * follow). */
void follow_forget(void *f);
/* This replica leads now: stops accepting and returns the listening socket
 * for the real server (http_config.listen_fd), or -1. */
int follow_handover(follow *f);
/* Ends the relays in flight, closes the listeners but the handed-over
 * one, and frees f. */
void follow_stop(follow **f);
#endif
