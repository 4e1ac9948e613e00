/* The event hub's durable log (evlog.h). One writer thread follows the
 * hub as a reader of everything, commits events in batches (one
 * transaction for what has arrived meanwhile) and then makes them visible
 * to viewers. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "server/evlog.h"

#define BATCH_MAX 512
#define PRUNE_EVERY 1024

static const store_migration migrations[] = {
	{ 1,
	  "CREATE TABLE events (id BIGINT PRIMARY KEY, topic TEXT NOT NULL, owner TEXT,"
	  " data TEXT NOT NULL, created_at BIGINT NOT NULL);",
	  NULL, NULL },
};
const store_domain evlog_store_domain = {
	"events", migrations, (int)(sizeof migrations / sizeof migrations[0]), 0,
};

struct item {
	uint64_t id;
	char *topic, *owner, *data;
};

struct evlog {
	store *st;
	hub *h;
	uint64_t cursor;      /* the newest event taken from the hub */
	pthread_t thread;
	_Atomic uint64_t dropped;
};

static void items_free(struct item *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].topic);
		free(v[i].owner);
		free(v[i].data);
	}
}

static int batch_write(evlog *e, const struct item *v, size_t n, int64_t prune_below)
{
	store_conn *c = NULL;
	int64_t now = sn_now_ms();
	int rc = store_acquire(e->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_pipeline(c, 1);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = store_exec(c, "INSERT INTO events (id, topic, owner, data, created_at)"
				" VALUES ($1, $2, $3, $4, $5)", NULL,
				SARGS(SA_INT((int64_t)v[i].id), SA_TEXT(v[i].topic),
				      SA_TEXT(v[i].owner), SA_TEXT(v[i].data), SA_INT(now)));
	if (rc == 0 && prune_below > 0)
		rc = store_exec(c, "DELETE FROM events WHERE id < $1", NULL,
				SARGS(SA_INT(prune_below)));
	if (rc == 0)
		rc = store_commit(c);
	else if (c)
		store_rollback(c);
	store_release(&c);
	return rc;
}

/* Commits v[0, n), retrying while the store is away, up to
 * EVLOG_GIVEUP_MS. */
static void batch_keep(evlog *e, const struct item *v, size_t n, int64_t prune_below)
{
	int64_t t0 = sn_now_ms();
	long wait = 20;
	int rc;
	while ((rc = batch_write(e, v, n, prune_below)) != 0) {
		if (sn_now_ms() - t0 >= EVLOG_GIVEUP_MS) {
			log_error("events: %zu event(s) (ids %llu-%llu) shown without being kept: %s",
				  n, (unsigned long long)v[0].id, (unsigned long long)v[n - 1].id,
				  rc == STORE_EBUSY ? "the store is busy or unavailable"
				  : strerror(rc < 0 && rc > -4096 ? -rc : EIO));
			atomic_fetch_add(&e->dropped, n);
			return;
		}
		sn_sleep_ms(wait);
		wait = wait < 500 ? wait * 2 : 500;
	}
}

static void *writer_main(void *arg)
{
	evlog *e = arg;
	struct item *v = xcalloc(BATCH_MAX, sizeof *v);
	uint64_t since_prune = 0;
	for (;;) {
		size_t n = 0;
		int rc = hub_next_raw(e->h, &e->cursor, 1000, &v[0].id, &v[0].topic, &v[0].owner,
				      &v[0].data);
		if (rc == -EPIPE)
			break;
		if (rc == -ESTALE)
			log_error("events: the log fell %d events behind; some were not kept", HUB_RING);
		if (rc)
			continue;
		/* What else has arrived: one transaction for all of it. */
		for (n = 1; n < BATCH_MAX; n++)
			if (hub_next_raw(e->h, &e->cursor, 0, &v[n].id, &v[n].topic, &v[n].owner,
					 &v[n].data))
				break;
		since_prune += n;
		int64_t prune_below = 0;
		if (since_prune >= PRUNE_EVERY && v[n - 1].id > EVLOG_KEEP) {
			prune_below = (int64_t)(v[n - 1].id - EVLOG_KEEP);
			since_prune = 0;
		}
		batch_keep(e, v, n, prune_below);
		hub_set_visible(e->h, e->cursor);
		items_free(v, n);
	}
	free(v);
	return NULL;
}

/* The newest EVLOG_KEEP events, oldest first, back into the hub. */
static int restore(evlog *e, char *err, size_t errlen)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int rc = store_acquire(e->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id, topic, owner, data FROM"
				    " (SELECT id, topic, owner, data FROM events ORDER BY id DESC LIMIT $1) AS t"
				    " ORDER BY id", &r, SARGS(SA_INT(EVLOG_KEEP)));
	size_t n = 0;
	while (rc == 0 && (rc = store_rows_next(r)) == 1) {
		int64_t id = store_rows_int(r, 0);
		rc = id > 0 ? hub_restore(e->h, (uint64_t)id, store_rows_text(r, 1),
					  store_rows_text(r, 2), store_rows_text(r, 3)) : -EINVAL;
		n++;
	}
	store_rows_free(&r);
	store_release(&c);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read the event log: %s",
			 strerror(rc > -4096 ? -rc : EIO));
		return rc;
	}
	e->cursor = hub_last_id(e->h);
	if (n)
		log_info("events: %zu kept event(s) restored, ids continue after %llu", n,
			 (unsigned long long)e->cursor);
	return 0;
}

int evlog_open(store *st, hub *h, evlog **out, char *err, size_t errlen)
{
	evlog *e = xcalloc(1, sizeof *e);
	e->st = st;
	e->h = h;
	int rc = restore(e, err, errlen);
	if (rc == 0) {
		hub_gate(h);
		if ((rc = -pthread_create(&e->thread, NULL, writer_main, e)))
			snprintf(err, errlen, "cannot start the event log: %s", strerror(-rc));
	}
	if (rc) {
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void evlog_close(evlog **pe)
{
	evlog *e = *pe;
	if (!e)
		return;
	pthread_join(e->thread, NULL);
	free(e);
	*pe = NULL;
}

uint64_t evlog_dropped(const evlog *e)
{
	return atomic_load(&((evlog *)e)->dropped);
}
