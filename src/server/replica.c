/* Leader election among replicas on one PostgreSQL database (replica.h).
 * Invariants:
 *  1. A replica serves only between winning the lock (with a new epoch
 *     committed) and losing it; the epoch grows with every leader.
 *  2. Every write transaction checks the epoch under the store's write
 *     lock, which the next leader's epoch raise also takes: a write of
 *     the old leader either commits before the raise (and the new leader's
 *     recovery reads it) or is refused.
 *  3. A follower ends a lock session only while replica_leader names it
 *     (pid) as the lock's holder and its beat is older than the follower's
 *     lease: a new leader between its lock and its first beat (pid NULL
 *     since its epoch raise) is never ended. Beats are the database's
 *     clock, so replicas' clocks need not agree. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "server/replica.h"

/* The session lock (any constant below 2^31: classid 0 in pg_locks). */
#define LEAD_KEY 730914726
#define XSTR(x) #x
#define STR(x) XSTR(x)
#define POLL_MS 250
/* How long a leader that lost its lock connection tries to take it back
 * before it gives up and exits. */
#define REGAIN_MS 60000
/* Exit status of a replica that lost the lead (EX_TEMPFAIL). */
#define LOST_EXIT 75
/* The most time between two beats of the leader; shorter for short leases
 * (a quarter of the lease), so a lease is missed only after several beats
 * are. */
#define BEAT_MS 1000
#define DB_NOW_MS "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
/* Advisory locks are per database; pg_locks shows the whole cluster's. */
#define LOCK_HELD                                                                   \
	"SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0" \
	" AND objid = " STR(LEAD_KEY) " AND objsubid = 1 AND database ="                   \
	" (SELECT oid FROM pg_database WHERE datname = current_database())"

struct replica {
	store *st;
	store_conn *lock; /* holds the session lock; never released to the pool */
	int64_t epoch;
	int64_t lease_ms, beat_ms; /* lease_ms 0: no beats are judged */
	int64_t beat_at;          /* monotonic ms of the last beat written */
	int stale_said;           /* a failed end of a stale session was logged */
	char *name;
	pthread_t watcher;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
};

static int query_int(store_conn *c, const char *sql, int nargs, const store_arg *args,
		     int64_t *out)
{
	store_rows *r = NULL;
	int rc = store_query(c, sql, &r, nargs, args);
	if (rc == 0) {
		rc = store_rows_next(r);
		*out = rc == 1 ? store_rows_int(r, 0) : 0;
		rc = rc == 1 ? 0 : rc == 0 ? -ENOENT : rc;
	}
	store_rows_free(&r);
	return rc;
}

static int try_lock(store_conn *c, int *got)
{
	int64_t v = 0;
	int rc = query_int(c, "SELECT pg_try_advisory_lock(" STR(LEAD_KEY) ")", SNOARGS, &v);
	*got = rc == 0 && v == 1;
	return rc;
}

static int holds_lock(store_conn *c)
{
	int64_t n = 0;
	return query_int(c, "SELECT count(*) FROM (" LOCK_HELD ") AS l WHERE pid = pg_backend_pid()",
			 SNOARGS, &n) == 0 &&
	       n == 1;
}

/* The leader's beat, on its lock session (whose pid it records: invariant
 * 3). 0; -ESTALE when another epoch leads; another error when the
 * database cannot be asked. */
static int beat(replica *r)
{
	int64_t changed = 0;
	int rc = store_exec(r->lock, "UPDATE replica_leader SET beat = " DB_NOW_MS ","
				     " pid = pg_backend_pid() WHERE id = 1 AND epoch = $1",
			    &changed, SARGS(SA_INT(r->epoch)));
	if (rc == 0 && changed != 1)
		rc = -ESTALE;
	if (rc == 0)
		r->beat_at = sn_mono_ns() / 1000000;
	return rc;
}

/* A follower's check of the lead: a leader that holds the lock but has not
 * beaten for lease_ms (stopped, frozen, its process wedged) has its lock
 * session ended, so that the lock is free at the next try. The epoch the
 * next leader raises fences every later write of the old one (invariant
 * 2), and the old one, once it runs again, finds its lock gone and exits. */
static void end_stale(replica *r)
{
	store_rows *rows = NULL;
	/* Every session of the old leader's process (store/pg.c names them
	 * all alike), the lock session among them: another may hold the
	 * store's write lock in a transaction it will never end, and the
	 * epoch raise waits for that lock. */
	int rc = store_query(r->lock, "SELECT holder, epoch, " DB_NOW_MS " - beat,"
				      " (SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a"
				      " WHERE a.datname = current_database() AND (a.pid = l.pid OR"
				      " a.application_name = (SELECT b.application_name FROM"
				      " pg_stat_activity b WHERE b.pid = l.pid AND b.application_name"
				      " LIKE 'sentinel %'))) FROM replica_leader l"
				      " WHERE id = 1 AND beat < " DB_NOW_MS " - $1"
				      " AND pid IN (" LOCK_HELD ")",
			     &rows, SARGS(SA_INT(r->lease_ms)));
	if (rc == 0 && store_rows_next(rows) == 1) {
		log_warn("replica: the leader (%s, epoch %lld) has not renewed its lead for %lld ms"
			 " (--lead-timeout %lld ms); ending its %lld database sessions to take over",
			 store_rows_text(rows, 0), (long long)store_rows_int(rows, 1),
			 (long long)store_rows_int(rows, 2), (long long)r->lease_ms,
			 (long long)store_rows_int(rows, 3));
	} else if (rc && !r->stale_said) {
		/* No table yet (nobody led), or no right to end the session (the
		 * replicas log in as different roles): said once. */
		log_info("replica: cannot check the leader's lease: %s", store_errmsg(r->lock));
		r->stale_said = 1;
	}
	store_rows_free(&rows);
}

static int read_epoch(store_conn *c, int64_t *epoch)
{
	return query_int(c, "SELECT epoch FROM replica_leader WHERE id = 1", SNOARGS, epoch);
}

/* Raises the epoch under the store's write lock (invariant 2). */
static int raise_epoch(replica *r, char *err, size_t errlen)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(r->st, &c);
	if (rc == 0 && (rc = store_begin(c)) == 0 &&
	    (rc = store_exec(c, "CREATE TABLE IF NOT EXISTS replica_leader (id BIGINT PRIMARY KEY,"
				" epoch BIGINT NOT NULL, holder TEXT NOT NULL, since BIGINT NOT NULL)",
			     NULL, SNOARGS)) == 0 &&
	    (rc = store_exec(c, "ALTER TABLE replica_leader ADD COLUMN IF NOT EXISTS url TEXT,"
				" ADD COLUMN IF NOT EXISTS secret TEXT,"
				" ADD COLUMN IF NOT EXISTS beat BIGINT,"
				" ADD COLUMN IF NOT EXISTS pid BIGINT", NULL, SNOARGS)) == 0 &&
	    (rc = store_query(c, "INSERT INTO replica_leader (id, epoch, holder, since, beat)"
				 " VALUES (1, 1, $1, $2, " DB_NOW_MS ") ON CONFLICT (id) DO UPDATE SET"
				 " epoch = replica_leader.epoch + 1, holder = $1, since = $2,"
				 " url = NULL, secret = NULL, beat = " DB_NOW_MS ", pid = NULL"
				 " RETURNING epoch", &rows,
			      SARGS(SA_TEXT(r->name), SA_INT(sn_now_ms())))) == 0) {
		rc = store_rows_next(rows);
		r->epoch = rc == 1 ? store_rows_int(rows, 0) : 0;
		rc = rc == 1 ? 0 : -EIO;
		store_rows_free(&rows);
		if (rc == 0)
			rc = store_commit(c);
	}
	if (rc)
		snprintf(err, errlen, "cannot record the new leader: %s",
			 c ? store_errmsg(c) : "no store connection");
	store_release(&c);
	return rc;
}

/* After the lock connection broke: the lead is ours again only if we can
 * take the lock and nobody led meanwhile. Exits the process otherwise. */
static void regain_or_exit(replica *r)
{
	log_warn("replica: lost the connection that holds the lead; taking it back");
	for (int waited = 0; waited < REGAIN_MS; waited += POLL_MS) {
		int got = 0;
		int64_t epoch = 0;
		if (try_lock(r->lock, &got) == 0) {
			if (!got) {
				log_error("replica: another replica leads now; exiting (%d)", LOST_EXIT);
				break;
			}
			if (read_epoch(r->lock, &epoch) == 0) {
				if (epoch == r->epoch && beat(r) == 0) {
					log_info("replica: the lead is ours again (epoch %lld)",
						 (long long)epoch);
					return;
				}
				if (epoch == r->epoch) { /* the beat failed: asked again */
					sn_sleep_ms(POLL_MS);
					continue;
				}
				log_error("replica: replica epoch %lld led meanwhile; exiting (%d)",
					  (long long)epoch, LOST_EXIT);
				break;
			}
		}
		sn_sleep_ms(POLL_MS);
	}
	log_error("replica: the lead is lost; exiting so that one replica leads");
	fflush(NULL);
	_exit(LOST_EXIT);
}

static void *watch(void *arg)
{
	replica *r = arg;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += POLL_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->cv, &r->mu, &until);
		if (r->stopping)
			break;
		pthread_mutex_unlock(&r->mu);
		if (!holds_lock(r->lock))
			regain_or_exit(r);
		else if (r->lease_ms && sn_mono_ns() / 1000000 - r->beat_at >= r->beat_ms &&
			 beat(r) == -ESTALE)
			regain_or_exit(r); /* another epoch: it exits */
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* 1 when stop_fd is readable within ms. */
static int stopped(int stop_fd, int ms)
{
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };
	if (stop_fd < 0) {
		sn_sleep_ms(ms);
		return 0;
	}
	return poll(&p, 1, ms) > 0;
}

/* Waits POLL_MS for news of the lead on the lock connection (it LISTENs):
 * "lead" (a new leader has said where it is) goes to on_lead; "leave" (the
 * leader gave the lock back) ends the wait at once. 1 when stop_fd became
 * readable. A connection that cannot wait sleeps the rest. */
static int wait_news(replica *r, int stop_fd, void (*on_lead)(void *), void *ctx)
{
	char what[64];
	int64_t until = sn_now_ms() + POLL_MS;
	for (int64_t left = POLL_MS; left > 0; left = until - sn_now_ms()) {
		int n = store_wait_notify(r->lock, stop_fd, (int)left, what, sizeof what);
		if (n < 0)
			return stopped(stop_fd, (int)left);
		if (stopped(stop_fd, 0))
			return 1;
		if (n == 1 && !strcmp(what, "lead")) {
			log_info("replica: a new leader has said where it is");
			if (on_lead)
				on_lead(ctx);
		} else if (n == 1 && !strcmp(what, "leave")) {
			log_info("replica: the leader gave the lead back; asking for it");
			return 0;
		}
	}
	return 0;
}

int replica_lead(store *st, const char *name, int64_t lease_ms, int stop_fd,
		 void (*on_lead)(void *), void *ctx, replica **out, char *err, size_t errlen)
{
	*out = NULL;
	if (strcmp(store_backend(st), "postgres") != 0)
		return 0;
	replica *r = xcalloc(1, sizeof *r);
	r->st = st;
	r->lease_ms = lease_ms > 0 ? lease_ms : 0;
	r->beat_ms = r->lease_ms / 4 < BEAT_MS ? r->lease_ms / 4 : BEAT_MS;
	if (r->beat_ms < POLL_MS)
		r->beat_ms = POLL_MS;
	r->name = xstrdup(name);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	int rc = store_acquire(st, &r->lock), got = 0, said = 0;
	if (rc) {
		snprintf(err, errlen, "replica: no store connection for the lead");
		goto fail;
	}
	/* Replicas wake each other: a new leader says where it is, a leader
	 * that stops says it left (the lock is free now, not at the next poll). */
	int listening = store_exec(r->lock, "LISTEN sentinel_replica", NULL, SNOARGS) == 0;
	for (;;) {
		if ((rc = try_lock(r->lock, &got)) == 0 && got)
			break;
		if (rc == 0 && r->lease_ms)
			end_stale(r);
		if (rc && !said)
			log_warn("replica: cannot ask for the lead (%s); trying again",
				 store_errmsg(r->lock));
		else if (!said)
			log_info("replica: another replica leads this database; following it (requests"
				 " here are relayed to it)");
		said = 1;
		if (listening ? wait_news(r, stop_fd, on_lead, ctx) : stopped(stop_fd, POLL_MS)) {
			snprintf(err, errlen, "stopped while following");
			rc = -ECANCELED;
			goto fail;
		}
	}
	if (listening)
		store_exec(r->lock, "UNLISTEN *", NULL, SNOARGS);
	if ((rc = raise_epoch(r, err, errlen)))
		goto fail;
	if (r->lease_ms && (rc = beat(r))) {
		snprintf(err, errlen, "cannot record the new leader's lease: %s",
			 store_errmsg(r->lock));
		goto fail;
	}
	char fence[96];
	snprintf(fence, sizeof fence, "SELECT 1 FROM replica_leader WHERE id = 1 AND epoch = %lld",
		 (long long)r->epoch);
	store_set_fence(st, fence);
	log_info("replica: %s leads this database (epoch %lld)", name, (long long)r->epoch);
	if ((rc = -pthread_create(&r->watcher, NULL, watch, r))) {
		snprintf(err, errlen, "replica: cannot start the lock watcher");
		goto fail;
	}
	*out = r;
	return 0;
fail:
	store_release(&r->lock); /* ends the session's lock only with the connection */
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->name);
	free(r);
	return rc;
}

int64_t replica_epoch(const replica *r)
{
	return r ? r->epoch : 0;
}

void replica_free(replica **pr)
{
	replica *r = *pr;
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->stopping = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->watcher, NULL);
	store_exec(r->lock, "SELECT pg_advisory_unlock(" STR(LEAD_KEY) ")", NULL, SNOARGS);
	store_exec(r->lock, "SELECT pg_notify('sentinel_replica', 'leave')", NULL, SNOARGS);
	store_release(&r->lock);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	free(r->name);
	free(r);
	*pr = NULL;
}

int replica_advertise(replica *r, const char *url, const char *secret)
{
	if (!r)
		return 0;
	store_conn *c = NULL;
	int64_t changed = 0;
	int rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE replica_leader SET url = $1, secret = $2"
				   " WHERE id = 1 AND epoch = $3", &changed,
				SARGS(SA_TEXT(url), SA_TEXT(secret), SA_INT(r->epoch)));
	if (rc == 0 && changed == 1)
		store_exec(c, "SELECT pg_notify('sentinel_replica', 'lead')", NULL, SNOARGS);
	store_release(&c);
	return rc ? rc : changed == 1 ? 0 : -ESTALE;
}

int replica_upstream(store *st, char *url, size_t urllen, char *secret, size_t secretlen)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT url, secret FROM replica_leader WHERE id = 1"
				    " AND url IS NOT NULL AND secret IS NOT NULL", &rows, SNOARGS);
	if (rc == 0) {
		rc = store_rows_next(rows);
		if (rc == 1) {
			sn_strlcpy(url, store_rows_text(rows, 0), urllen);
			sn_strlcpy(secret, store_rows_text(rows, 1), secretlen);
		}
		rc = rc == 1 ? 0 : -EAGAIN;
	} else {
		rc = -EAGAIN; /* no replica has led yet: no table */
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}
