#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/hub.h"
#include "base/log.h"
#include "base/mem.h"

struct ev {
	uint64_t id;
	char *topic;
	char *owner;
	char *data;
};

struct topic_rule {
	char name[64];
	enum hub_access who;
};

struct hub {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ev ring[HUB_RING]; /* event with id n lives at ring[n % HUB_RING] */
	uint64_t last;            /* id of the newest event, 0 when none */
	/* With a durable log (hub_gate): viewers see ids <= visible, the
	 * events the log has kept, so that no id a viewer saw can be handed
	 * out again by the next process or replica. */
	int gated;
	uint64_t visible;
	int closed;
	struct topic_rule rules[HUB_MAX_TOPICS]; /* guarded by mu */
	int nrules;
};

/* The condition variable runs on the monotonic clock so that a wall-clock
 * step cannot stretch or cut a reader's wait. */
hub *hub_new(void)
{
	hub *h = xcalloc(1, sizeof *h);
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	return h;
}

void hub_close(hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->closed = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void hub_free(hub **ph)
{
	hub *h = *ph;
	if (!h)
		return;
	for (int i = 0; i < HUB_RING; i++) {
		free(h->ring[i].topic);
		free(h->ring[i].owner);
		free(h->ring[i].data);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	*ph = NULL;
}

/* The rule of topic (exact name or "name." prefix), or NULL. Needs mu. */
static const struct topic_rule *rule_of(hub *h, const char *topic)
{
	for (int i = 0; i < h->nrules; i++) {
		size_t n = strlen(h->rules[i].name);
		if (strncmp(topic, h->rules[i].name, n) == 0 && (topic[n] == '\0' || topic[n] == '.'))
			return &h->rules[i];
	}
	return NULL;
}

int hub_declare(hub *h, const char *topic, enum hub_access who)
{
	int rc = 0;
	if (!topic || !*topic || strlen(topic) >= sizeof h->rules[0].name)
		return -EINVAL;
	pthread_mutex_lock(&h->mu);
	for (int i = 0; i < h->nrules; i++)
		if (strcmp(h->rules[i].name, topic) == 0) {
			rc = h->rules[i].who == who ? 0 : -EEXIST;
			goto out;
		}
	if (h->nrules == HUB_MAX_TOPICS) {
		rc = -ENOSPC;
		goto out;
	}
	memcpy(h->rules[h->nrules].name, topic, strlen(topic) + 1);
	h->rules[h->nrules].who = who;
	h->nrules++;
out:
	pthread_mutex_unlock(&h->mu);
	return rc;
}

/* Needs mu. An event with no rule is never readable (it cannot exist:
 * publish refuses it), except by the server itself. */
static int may_read(hub *h, const hub_viewer *v, const char *topic, const char *owner)
{
	if (!v)
		return 1;
	const struct topic_rule *rl = rule_of(h, topic);
	if (!rl || !v->user_id)
		return 0;
	switch (rl->who) {
	case HUB_MEMBER:
		return 1;
	case HUB_OWNER:
		return v->admin || (owner && strcmp(owner, v->user_id) == 0);
	case HUB_ADMIN:
		return v->admin;
	}
	return 0;
}

int hub_may_read(hub *h, const hub_viewer *v, const char *topic, const char *owner)
{
	pthread_mutex_lock(&h->mu);
	int ok = may_read(h, v, topic, owner);
	pthread_mutex_unlock(&h->mu);
	return ok;
}

uint64_t hub_publish_owned(hub *h, const char *topic, const char *owner, const char *data)
{
	if (!topic || !data) {
		log_error("hub: refused an event without %s", topic ? "data" : "topic");
		return 0;
	}
	char *t = xstrdup(topic), *o = xstrdup(owner), *d = xstrdup(data);
	uint64_t id = 0;
	pthread_mutex_lock(&h->mu);
	int declared = rule_of(h, topic) != NULL;
	if (!h->closed && declared) {
		id = ++h->last;
		struct ev *e = &h->ring[id % HUB_RING];
		free(e->topic);
		free(e->owner);
		free(e->data);
		*e = (struct ev){ id, t, o, d };
		t = o = d = NULL;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	if (!declared)
		log_error("hub: refused an event on the undeclared topic '%s'", topic);
	free(t);
	free(o);
	free(d);
	return id;
}

uint64_t hub_publish(hub *h, const char *topic, const char *data)
{
	return hub_publish_owned(h, topic, NULL, data);
}

uint64_t hub_last_id(hub *h)
{
	pthread_mutex_lock(&h->mu);
	uint64_t id = h->last;
	pthread_mutex_unlock(&h->mu);
	return id;
}

int hub_next(hub *h, const char *prefix, uint64_t *cursor, int timeout_ms, char **topic,
	     char **data)
{
	return hub_next_for(h, NULL, prefix, cursor, timeout_ms, topic, data);
}

/* hub_next_for; *owner too when owner is not NULL. */
static int next_ev(hub *h, const hub_viewer *v, const char *prefix, uint64_t *cursor,
		   int timeout_ms, char **topic, char **owner, char **data)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	size_t plen = prefix ? strlen(prefix) : 0;
	int rc;
	pthread_mutex_lock(&h->mu);
	for (;;) {
		uint64_t top = v && h->gated ? h->visible : h->last;
		/* A cursor from the future (ids restart at 1 with a process that
		 * keeps no log), or past what viewers may see yet. */
		if (*cursor > top)
			*cursor = top;
		uint64_t oldest = h->last >= HUB_RING ? h->last - HUB_RING + 1 : 1;
		/* The ring overwrote what the reader had not seen: say so rather
		 * than skip silently. */
		if (*cursor + 1 < oldest) {
			*cursor = oldest - 1;
			rc = -ESTALE;
			break;
		}
		int found = 0;
		while (*cursor < top) {
			struct ev *e = &h->ring[(*cursor + 1) % HUB_RING];
			(*cursor)++;
			/* Restored ids may have gaps: a slot may hold an older id. */
			if (e->id == *cursor && (plen == 0 || strncmp(e->topic, prefix, plen) == 0) &&
			    may_read(h, v, e->topic, e->owner)) {
				*topic = xstrdup(e->topic);
				*data = xstrdup(e->data);
				if (owner)
					*owner = xstrdup(e->owner);
				found = 1;
				break;
			}
		}
		if (found) {
			rc = 0;
			break;
		}
		if (h->closed) {
			rc = -EPIPE;
			break;
		}
		if (pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int hub_next_for(hub *h, const hub_viewer *v, const char *prefix, uint64_t *cursor,
		 int timeout_ms, char **topic, char **data)
{
	return next_ev(h, v, prefix, cursor, timeout_ms, topic, NULL, data);
}

void hub_gate(hub *h)
{
	pthread_mutex_lock(&h->mu);
	h->gated = 1;
	h->visible = h->last;
	pthread_mutex_unlock(&h->mu);
}

void hub_set_visible(hub *h, uint64_t id)
{
	pthread_mutex_lock(&h->mu);
	if (id > h->last)
		id = h->last;
	if (id > h->visible) {
		h->visible = id;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
}

int hub_restore(hub *h, uint64_t id, const char *topic, const char *owner, const char *data)
{
	if (!topic || !data || id == 0)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&h->mu);
	if (id <= h->last) {
		rc = -EINVAL;
	} else {
		struct ev *e = &h->ring[id % HUB_RING];
		free(e->topic);
		free(e->owner);
		free(e->data);
		*e = (struct ev){ id, xstrdup(topic), xstrdup(owner), xstrdup(data) };
		h->last = id;
		if (h->gated)
			h->visible = id;
	}
	pthread_mutex_unlock(&h->mu);
	return rc;
}

int hub_next_raw(hub *h, uint64_t *cursor, int timeout_ms, uint64_t *id, char **topic,
		 char **owner, char **data)
{
	int rc = next_ev(h, NULL, NULL, cursor, timeout_ms, topic, owner, data);
	if (rc == 0)
		*id = *cursor;
	return rc;
}
