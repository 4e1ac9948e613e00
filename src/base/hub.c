#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/hub.h"
#include "base/mem.h"

struct ev {
	uint64_t id;
	char *topic;
	char *data;
};

struct hub {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ev ring[HUB_RING]; /* event with id n lives at ring[n % HUB_RING] */
	uint64_t last;            /* id of the newest event, 0 when none */
	int closed;
};

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
		free(h->ring[i].data);
	}
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	*ph = NULL;
}

uint64_t hub_publish(hub *h, const char *topic, const char *data)
{
	char *t = xstrdup(topic), *d = xstrdup(data);
	uint64_t id = 0;
	pthread_mutex_lock(&h->mu);
	if (!h->closed) {
		id = ++h->last;
		struct ev *e = &h->ring[id % HUB_RING];
		free(e->topic);
		free(e->data);
		*e = (struct ev){ id, t, d };
		t = d = NULL;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	free(t);
	free(d);
	return id;
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
		if (*cursor > h->last)
			*cursor = h->last; /* a cursor from the future (server restarted) */
		uint64_t oldest = h->last >= HUB_RING ? h->last - HUB_RING + 1 : 1;
		if (*cursor + 1 < oldest) {
			*cursor = oldest - 1;
			rc = -ESTALE;
			break;
		}
		int found = 0;
		while (*cursor < h->last) {
			struct ev *e = &h->ring[(*cursor + 1) % HUB_RING];
			(*cursor)++;
			if (plen == 0 || strncmp(e->topic, prefix, plen) == 0) {
				*topic = xstrdup(e->topic);
				*data = xstrdup(e->data);
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
