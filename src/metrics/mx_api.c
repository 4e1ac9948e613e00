/* The metrics API: its lifecycle (the store, the agent registry, the
 * prices, the housekeeping thread), the one push path every ingest route,
 * detector and node takes, and the route table.
 *
 * The push path (mx_api_push), in order: the registry checks that the
 * caller may write to every agent of the batch, from memory (new agents
 * are registered: one store write each, the first time only); the store
 * appends the batch and returns once its group commit is durable; the
 * agents' last_seen is updated in memory. No audit row, no store query for
 * known agents, and no lock held across I/O but the group commit wait. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/statvfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

#define RETAIN_EVERY_MS (3600 * 1000LL)

/* Append only: never edit a migration that has shipped. owner_id NULL: an
 * agent the server registered (detector scores): admins only. */
static const store_migration migs[] = {
	{ 1,
	  "CREATE TABLE mx_agents ("
	  " name TEXT PRIMARY KEY,"
	  " owner_id TEXT,"
	  " public INTEGER NOT NULL DEFAULT 0,"
	  " first_seen BIGINT NOT NULL,"
	  " last_seen BIGINT NOT NULL);"
	  "CREATE INDEX mx_agents_owner ON mx_agents(owner_id);"
	  "CREATE TABLE mx_agent_shares ("
	  " agent TEXT NOT NULL REFERENCES mx_agents(name) ON DELETE CASCADE,"
	  " group_id TEXT NOT NULL,"
	  " access TEXT NOT NULL CHECK (access IN ('read','write')),"
	  " PRIMARY KEY (agent, group_id));"
	  "CREATE TABLE mx_prices ("
	  " model TEXT NOT NULL,"
	  " version BIGINT NOT NULL,"
	  " input_per_mtok DOUBLE PRECISION NOT NULL,"
	  " output_per_mtok DOUBLE PRECISION NOT NULL,"
	  " valid_from BIGINT NOT NULL,"
	  " created_by TEXT NOT NULL,"
	  " created_at BIGINT NOT NULL,"
	  " PRIMARY KEY (model, version));",
	  NULL, NULL },
};
const store_domain mx_store_domain = { "agents", migs, (int)(sizeof migs / sizeof migs[0]), 0 };

static void retain(mx_api *a)
{
	int rc = mx_db_retain(a->db, sn_now_ms());
	if (rc)
		log_warn("metrics: retention failed: %s", strerror(-rc));
}

/* Housekeeping: last_seen to the store every MX_SEEN_SAVE_MS, retention
 * every hour. */
static void *housekeeping(void *arg)
{
	mx_api *a = arg;
	int64_t next_retain = sn_now_ms() + RETAIN_EVERY_MS;
	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += MX_SEEN_SAVE_MS / 1000;
		pthread_cond_timedwait(&a->cv, &a->mu, &until);
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->mu);
		if (mx_agents_save_seen(a->agents))
			log_warn("metrics: cannot save the agents' last_seen (retried)");
		if (sn_now_ms() >= next_retain) {
			retain(a);
			next_retain = sn_now_ms() + RETAIN_EVERY_MS;
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int mx_api_new(store *st, hub *events, node_reg *nodes, const mx_api_config *cfg,
	       mx_api **out, char *err, size_t errlen)
{
	mx_api *a = xcalloc(1, sizeof *a);
	char *dir = a->dir = xasprintf("%s/metrics", cfg->data ? cfg->data : ".");
	mx_db_config dc = { dir, cfg->retention_ms, cfg->max_series, 0 };
	int rc;
	a->st = st;
	a->events = events;
	a->nodes = nodes;
	a->cfg = *cfg;
	a->cfg.data = NULL; /* not kept: borrowed */
	if (a->cfg.agent_timeout_ms <= 0)
		a->cfg.agent_timeout_ms = 60000;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_mutex_init(&a->nodes_mu, NULL);
	if ((rc = mx_agents_new(st, &a->agents))) {
		snprintf(err, errlen, "cannot load the agents: %s", strerror(rc < -1000 ? EIO : -rc));
		goto fail;
	}
	if ((rc = mx_prices_new(st, &a->prices))) {
		snprintf(err, errlen, "cannot load the prices: %s", strerror(rc < -1000 ? EIO : -rc));
		goto fail;
	}
	if ((rc = sn_mkdir_p(dir, 0700))) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		goto fail;
	}
	/* On SQLite, blocks get a file of their own (pages sized for them, and
	 * checkpoints that never hold the metadata's one write lock); on
	 * PostgreSQL the server's database is the one place for everything,
	 * the log alone staying in dir. */
	store *blocks = strcmp(store_backend(st), "postgres") == 0 ? st : NULL;
	if ((rc = mx_db_open(&dc, blocks, &a->db, err, errlen)))
		goto fail;
	retain(a);
	if ((rc = -pthread_create(&a->thread, NULL, housekeeping, a))) {
		snprintf(err, errlen, "cannot start the metrics thread: %s", strerror(-rc));
		goto fail;
	}
	a->thread_on = 1;
	*out = a;
	return 0;
fail:
	mx_api_free(&a);
	return rc;
}

void mx_api_free(mx_api **ap)
{
	mx_api *a = *ap;
	if (!a)
		return;
	if (a->thread_on) {
		pthread_mutex_lock(&a->mu);
		a->stopping = 1;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	mx_db_free(&a->db);
	mx_agents_free(&a->agents);
	mx_prices_free(&a->prices);
	free(a->node_names);
	free(a->dir);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->nodes_mu);
	xfree(ap);
}

mx_db *mx_api_db(mx_api *a)
{
	return a->db;
}

void mx_viewer_init(mx_viewer *v, const auth_user *u)
{
	v->u = u;
	v->loaded = 0;
	v->ngroups = 0;
}

int mx_api_may_read(mx_api *a, const auth_user *u, const char *agent)
{
	mx_viewer v;
	if (!u) /* the server: also agents no longer (or not yet) registered */
		return 1;
	mx_viewer_init(&v, u);
	return mx_agents_access(a->agents, &v, agent) >= MX_READ;
}

/* Free bytes in the metrics directory, read at most once a second: a
 * statvfs per push would cost more than the push at ingest rates, and a
 * second of samples is far below the reserve. */
static uint64_t room_left(mx_api *a)
{
	int64_t now = sn_now_ms();
	if (now - atomic_load(&a->room_at) >= 1000) {
		struct statvfs v;
		atomic_store(&a->room, statvfs(a->dir, &v) ? UINT64_MAX
			     : (uint64_t)v.f_bavail * v.f_frsize);
		atomic_store(&a->room_at, now);
	}
	return atomic_load(&a->room);
}

/* What comes before the append: the free-disk reserve and the caller's
 * right to every agent of b. */
static int push_check(mx_api *a, const auth_user *u, const mx_batch *b, char *err, size_t errlen)
{
	/* Samples are data kept like uploads: the same reserve holds for them. */
	if (room_left(a) < a->cfg.min_free_disk) {
		snprintf(err, errlen, "less than --min-free-disk (%llu bytes) is free for metrics:"
			 " nothing of the request was stored", (unsigned long long)a->cfg.min_free_disk);
		return -ENOSPC;
	}
	int rc = mx_agents_claim(a->agents, u, b, err, errlen);
	return rc < -1000 ? -EIO : rc;
}

/* What comes after: the error's words, or the agents seen. */
static int push_done(mx_api *a, const mx_batch *b, int rc, char *err, size_t errlen)
{
	if (rc == -EUSERS)
		snprintf(err, errlen, "too many series (at most %llu): nothing of the request was stored",
			 (unsigned long long)(a->cfg.max_series ? a->cfg.max_series : 100000));
	else if (rc)
		snprintf(err, errlen, "cannot store the samples: %s", strerror(-rc));
	else
		mx_agents_seen(a->agents, b, sn_now_ms());
	return rc;
}

int mx_api_push(mx_api *a, const auth_user *u, const mx_batch *b, char *err, size_t errlen)
{
	if (mx_batch_len(b) == 0)
		return 0;
	int rc = push_check(a, u, b, err, errlen);
	if (rc)
		return rc;
	return push_done(a, b, mx_db_append(a->db, b), err, errlen);
}

struct push_wait {
	mx_api *a;
	const mx_batch *b;
	mx_push_cb cb;
	void *ctx;
};

static void push_cb(void *arg, int rc)
{
	struct push_wait w = *(struct push_wait *)arg;
	char err[256] = "";
	free(arg);
	w.cb(w.ctx, push_done(w.a, w.b, rc, err, sizeof err), err);
}

static void commit_turn(void *arg)
{
	mx_api *a = arg;
	mx_db_commit_local(a->db);
}

int mx_api_push_async(mx_api *a, const auth_user *u, const mx_batch *b, http_req *r,
		      mx_push_cb cb, void *ctx, char *err, size_t errlen)
{
	if (mx_batch_len(b) == 0)
		return 0;
	int rc = push_check(a, u, b, err, errlen);
	if (rc)
		return rc;
	struct push_wait *w = xmalloc(sizeof *w);
	*w = (struct push_wait){ a, b, cb, ctx };
	/* On an event loop the loop commits its turn's requests itself. */
	if (r && http_req_at_turn_end(r, commit_turn, a) == 0)
		rc = mx_db_append_local(a->db, b, push_cb, w);
	else
		rc = mx_db_append_async(a->db, b, push_cb, w);
	if (rc <= 0) {
		free(w);
		return push_done(a, b, rc, err, errlen);
	}
	return 1;
}

void mx_reply_push_error(http_req *r, int rc, const char *err)
{
	if (rc == -EINVAL)
		http_reply_error(r, 400, "bad_request", "%s", err);
	else if (rc == -EACCES)
		http_reply_error(r, 403, "forbidden", "%s", err);
	else if (rc == -E2BIG)
		http_reply_error(r, 413, "too_large", "%s", *err ? err : "too many samples in one request");
	else if (rc == -EUSERS)
		http_reply_error(r, 429, "too_many_series", "%s", err);
	else
		http_reply_errno(r, rc, "%s", *err ? err : "cannot store the samples");
}

size_t mx_api_routes(mx_api *a, http_route *out, size_t max)
{
	size_t n = mx_ingest_routes(a, out, max);
	n += mx_query_routes(a, out + n, max - n);
	n += mx_agent_routes(a, out + n, max - n);
	n += mx_price_routes(a, out + n, max - n);
	return n;
}
