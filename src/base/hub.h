/* An in-process publish/subscribe hub for live events (SSE).
 * Invariants: event ids are strictly increasing from 1; the hub keeps the
 * last HUB_RING events so a reader that reconnects with Last-Event-ID, or
 * falls briefly behind, loses nothing; a reader further behind is told it
 * lagged (-ESTALE) and skips to the oldest kept event. */
#ifndef SN_HUB_H
#define SN_HUB_H
#include <stdint.h>

#define HUB_RING 4096

typedef struct hub hub;

hub *hub_new(void);
/* Wakes every reader with -EPIPE and refuses new events; idempotent. */
void hub_close(hub *h);
/* Frees the hub; no reader may be waiting. */
void hub_free(hub **h);
/* Copies topic and data (a JSON text). Returns the new event id, or 0 when closed. */
uint64_t hub_publish(hub *h, const char *topic, const char *data);
uint64_t hub_last_id(hub *h);
/* Waits up to timeout_ms for the first event with id > *cursor whose topic
 * starts with prefix (NULL or "" = all). On 0, *cursor, *topic and *data
 * (caller frees both) are set. -ETIMEDOUT, -EPIPE (closed) or -ESTALE
 * (events were dropped; *cursor moved past them). */
int hub_next(hub *h, const char *prefix, uint64_t *cursor, int timeout_ms, char **topic,
	     char **data);
#endif
