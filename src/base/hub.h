/* An in-process publish/subscribe hub for live events (SSE).
 * Invariants: event ids are strictly increasing from 1; the hub keeps the
 * last HUB_RING events so a reader that reconnects with Last-Event-ID, or
 * falls briefly behind, loses nothing; a reader further behind is told it
 * lagged (-ESTALE) and skips to the oldest kept event. */
#ifndef SN_HUB_H
#define SN_HUB_H
#include <stdint.h>

#define HUB_RING 4096
#define HUB_MAX_TOPICS 64

typedef struct hub hub;

/* Who may receive the events of a topic. Every topic is declared before
 * its first event; an event on an undeclared topic is refused, so that a
 * new topic cannot leak to readers by default. */
enum hub_access {
	HUB_ADMIN = 1,  /* admins only (e.g. the audit log) */
	HUB_OWNER = 2,  /* the event's owner and admins */
	HUB_MEMBER = 3, /* every authenticated user */
};

/* A reader as the access rules see it. */
typedef struct hub_viewer {
	const char *user_id; /* NULL: anonymous */
	int admin;
} hub_viewer;

hub *hub_new(void);
/* Wakes every reader with -EPIPE and refuses new events; idempotent. */
void hub_close(hub *h);
/* Frees the hub; no reader may be waiting. */
void hub_free(hub **h);
/* Declares topic (and its subtopics "topic.x") with its access rule.
 * -EEXIST when declared with another rule, -ENOSPC past HUB_MAX_TOPICS. */
int hub_declare(hub *h, const char *topic, enum hub_access who);
/* Copies topic, owner (a user id, may be NULL) and data (a JSON text).
 * Returns the new event id, or 0 when closed, when an argument is NULL or
 * when the topic is undeclared (logged). */
uint64_t hub_publish(hub *h, const char *topic, const char *data);
uint64_t hub_publish_owned(hub *h, const char *topic, const char *owner, const char *data);
/* 1 when v may receive an event of topic owned by owner. */
int hub_may_read(hub *h, const hub_viewer *v, const char *topic, const char *owner);
uint64_t hub_last_id(hub *h);
/* Waits up to timeout_ms for the first event with id > *cursor whose topic
 * starts with prefix (NULL or "" = all). On 0, *cursor, *topic and *data
 * (caller frees both) are set. -ETIMEDOUT, -EPIPE (closed) or -ESTALE
 * (events were dropped; *cursor moved past them). */
int hub_next(hub *h, const char *prefix, uint64_t *cursor, int timeout_ms, char **topic,
	     char **data);
/* As hub_next, but skips the events v may not receive (replay included).
 * v NULL is the server itself: it sees everything. */
int hub_next_for(hub *h, const hub_viewer *v, const char *prefix, uint64_t *cursor,
		 int timeout_ms, char **topic, char **data);

/* ---- a durable log of the events (server/evlog.c) ---- */
/* From now on viewers (hub_next_for with v) see only events up to the id
 * given to hub_set_visible: the log's writer shows what it has kept. */
void hub_gate(hub *h);
void hub_set_visible(hub *h, uint64_t id);
/* Puts back an event a previous process kept, before any publish: ids
 * ascend (gaps allowed); later events continue after the last. -EINVAL
 * when id is not above the newest. */
int hub_restore(hub *h, uint64_t id, const char *topic, const char *owner, const char *data);
/* hub_next for the log's writer: every event, with its id and owner
 * (NULL when none; the caller frees topic, owner and data). */
int hub_next_raw(hub *h, uint64_t *cursor, int timeout_ms, uint64_t *id, char **topic,
		 char **owner, char **data);
#endif
