/* Store front end: a fixed pool of backend connections.
 * Invariants: a connection is either in the free list or held by exactly one
 * caller; in_tx is true only between a successful begin and commit/rollback;
 * a released connection is never in a transaction. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "store/store_int.h"

/* The pool size can be set per store (tests use 1) up to this. */
#define POOL_MAX 64

struct store_conn {
	store *owner;
	void *db;
	int in_tx;
	int pipelined; /* store_pipeline: execs in a transaction are queued */
	int queued;    /* statements wait in the backend's queue */
	store_conn *next_free;
};

struct store_rows {
	store_conn *c;
	void *rows;
};

struct store {
	const struct store_backend *be;
	char *dsn;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC: a clock change moves no deadline */
	store_conn conns[POOL_MAX];
	int nconns;
	int64_t acquire_timeout_ms;
	store_conn *free_list;
	atomic_uint_fast64_t errors;
	char *fence; /* store_set_fence, or NULL */
};

/* Counts and logs failures; a constraint violation is an answer (409 and
 * the like), not a store fault, so it is neither. */
static int note(store_conn *c, int rc, const char *sql)
{
	if (rc < 0 && rc != STORE_ECONSTRAINT) {
		atomic_fetch_add(&c->owner->errors, 1);
		log_warn("store: %s (%d) in: %.120s", store_errmsg(c), rc, sql);
	}
	return rc;
}

int store_open(const char *url, const store_opts *opts, store **out, char *err, size_t errlen)
{
	static const store_opts none = { 0 };
	const struct store_backend *be = &store_sqlite_backend;
	const char *dsn = url;
	int rc = 0;
	if (!opts)
		opts = &none;
	*out = NULL;
	if (strncmp(url, "sqlite:", 7) == 0) {
		dsn = url + 7;
	} else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
		be = &store_pg_backend; /* libpq takes the URL whole (TLS: ?sslmode=...) */
	}
	if (opts->pool_size < 0 || opts->pool_size > POOL_MAX || opts->acquire_timeout_ms < 0) {
		snprintf(err, errlen, "store: pool size must be 1-%d and the timeout positive", POOL_MAX);
		return -EINVAL;
	}
	store *s = xcalloc(1, sizeof *s);
	s->be = be;
	s->dsn = xstrdup(dsn);
	s->nconns = opts->pool_size ? opts->pool_size : STORE_POOL_SIZE;
	s->acquire_timeout_ms = opts->acquire_timeout_ms ? opts->acquire_timeout_ms
							 : STORE_ACQUIRE_TIMEOUT_MS;
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_condattr_destroy(&ca);
	for (int i = 0; i < s->nconns; i++) {
		store_conn *c = &s->conns[i];
		c->owner = s;
		rc = be->connect(s->dsn, &c->db, err, errlen);
		if (rc)
			goto fail;
		c->next_free = s->free_list;
		s->free_list = c;
		/* The first connection migrates, so the others see the final schema. */
		if (i == 0) {
			rc = store_migrate(s, opts->domains, opts->ndomains, err, errlen);
			if (rc)
				goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	store_free(&s);
	return rc;
}

void store_free(store **ps)
{
	store *s = *ps;
	if (!s)
		return;
	for (int i = 0; i < s->nconns; i++)
		if (s->conns[i].db)
			s->be->disconnect(s->conns[i].db);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s->dsn);
	free(s->fence);
	free(s);
	*ps = NULL;
}

const struct store_backend *store_be(const store *s)
{
	return s->be;
}

const char *store_backend(const store *s)
{
	return s->be->name;
}

uint64_t store_error_count(const store *s)
{
	return atomic_load(&((store *)s)->errors);
}

int store_acquire(store *s, store_conn **out)
{
	struct timespec until;
	int rc = 0;
	*out = NULL;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += s->acquire_timeout_ms / 1000;
	until.tv_nsec += (s->acquire_timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->free_list && rc == 0)
		rc = pthread_cond_timedwait(&s->cv, &s->mu, &until);
	store_conn *c = s->free_list;
	/* A connection freed just as the wait timed out is still taken. */
	if (c)
		s->free_list = c->next_free;
	pthread_mutex_unlock(&s->mu);
	if (!c) {
		atomic_fetch_add(&s->errors, 1);
		log_warn("store: no free connection within %lld ms", (long long)s->acquire_timeout_ms);
		return rc == ETIMEDOUT ? -ETIMEDOUT : -rc;
	}
	c->next_free = NULL;
	*out = c;
	return 0;
}

/* Sends what store_pipeline queued, before anything that must see it. */
static int flush(store_conn *c)
{
	if (!c->queued)
		return 0;
	c->queued = 0;
	return note(c, c->owner->be->flush(c->db), "(pipeline)");
}

int store_wait_notify(store_conn *c, int fd, int timeout_ms, char *payload, size_t len)
{
	if (!c->owner->be->wait_notify)
		return -ENOTSUP;
	return c->owner->be->wait_notify(c->db, fd, timeout_ms, payload, len);
}

int store_pipeline(store_conn *c, int on)
{
	int rc = flush(c);
	c->pipelined = on && c->owner->be->defer;
	return rc;
}

void store_release(store_conn **pc)
{
	store_conn *c = *pc;
	if (!c)
		return;
	if (c->in_tx)
		store_rollback(c);
	c->pipelined = 0;
	store *s = c->owner;
	pthread_mutex_lock(&s->mu);
	c->next_free = s->free_list;
	s->free_list = c;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	*pc = NULL;
}

/* A pipelined transaction's start, queued with its first statements: the
 * begin, the write lock and the fence cost no round trip of their own.
 * Refused by the fence, the flush fails with STORE_EBUSY and the server
 * runs nothing after it. */
static int begin_queued(store_conn *c)
{
	const struct store_backend *be = c->owner->be;
	int rc = 0;
	for (const char *const *sql = be->begin_steps; rc == 0 && *sql; sql++)
		rc = note(c, be->defer(c->db, *sql, 0, NULL, 0), *sql);
	if (rc == 0 && c->owner->fence)
		rc = note(c, be->defer(c->db, c->owner->fence, 0, NULL, 1), c->owner->fence);
	if (rc) {
		be->discard(c->db);
		return rc;
	}
	c->queued = 1;
	c->in_tx = 1;
	return 0;
}

int store_begin(store_conn *c)
{
	if (c->in_tx)
		return -EALREADY;
	if (c->pipelined && c->owner->be->begin_steps)
		return begin_queued(c);
	int rc = note(c, c->owner->be->exec(c->db, c->owner->be->begin_sql, NULL, 0, NULL), "BEGIN");
	if (rc == 0)
		c->in_tx = 1;
	if (rc == 0 && c->owner->fence) {
		store_rows *r = NULL;
		if ((rc = store_query(c, c->owner->fence, &r, SNOARGS)) == 0) {
			rc = store_rows_next(r);
			if (rc == 0)
				log_error("store: another replica leads this database: write refused");
			rc = rc == 1 ? 0 : rc == 0 ? STORE_EBUSY : rc;
		}
		store_rows_free(&r);
		if (rc)
			store_rollback(c);
	}
	return rc;
}

void store_set_fence(store *s, const char *sql)
{
	free(s->fence);
	s->fence = sql ? xstrdup(sql) : NULL;
}

int store_commit(store_conn *c)
{
	if (!c->in_tx)
		return -EINVAL;
	/* Pipelined: the COMMIT goes with the queued statements (the server
	 * skips it after an error in them: the transaction is then aborted). */
	int with_queue = c->queued && c->pipelined;
	int rc = with_queue ? note(c, c->owner->be->defer(c->db, "COMMIT", 0, NULL, 0), "COMMIT")
			    : 0;
	if (rc == 0)
		rc = flush(c);
	if (rc || with_queue) {
		if (rc)
			store_rollback(c);
		c->in_tx = 0;
		return rc;
	}
	rc = note(c, c->owner->be->exec(c->db, "COMMIT", NULL, 0, NULL), "COMMIT");
	/* A failed COMMIT may leave the transaction open (SQLITE_BUSY): end it. */
	if (rc)
		store_rollback(c);
	c->in_tx = 0;
	return rc;
}

int store_rollback(store_conn *c)
{
	if (!c->in_tx)
		return 0;
	/* Cleared first: even a failed ROLLBACK leaves no transaction to resume. */
	c->in_tx = 0;
	if (c->queued) {
		c->owner->be->discard(c->db);
		c->queued = 0;
	}
	return note(c, c->owner->be->exec(c->db, "ROLLBACK", NULL, 0, NULL), "ROLLBACK");
}

int store_exec(store_conn *c, const char *sql, int64_t *changes, int nargs, const store_arg *args)
{
	if (c->pipelined && c->in_tx && !changes) {
		c->queued = 1;
		return note(c, c->owner->be->defer(c->db, sql, nargs, args, 0), sql);
	}
	int rc = flush(c);
	return rc ? rc : note(c, c->owner->be->exec(c->db, sql, changes, nargs, args), sql);
}

int store_query(store_conn *c, const char *sql, store_rows **out, int nargs, const store_arg *args)
{
	void *rows = NULL;
	int rc = flush(c);
	if (rc)
		return rc;
	rc = note(c, c->owner->be->query(c->db, sql, &rows, nargs, args), sql);
	if (rc)
		return rc;
	store_rows *r = xmalloc(sizeof *r);
	r->c = c;
	r->rows = rows;
	*out = r;
	return 0;
}

int store_rows_next(store_rows *r)
{
	int rc = r->c->owner->be->next(r->rows);
	return rc < 0 ? note(r->c, rc, "(step)") : rc;
}

int store_rows_isnull(store_rows *r, int col)
{
	return r->c->owner->be->isnull(r->rows, col);
}

const char *store_rows_text(store_rows *r, int col)
{
	const char *t = r->c->owner->be->text(r->rows, col);
	return t ? t : "";
}

int64_t store_rows_int(store_rows *r, int col)
{
	return r->c->owner->be->integer(r->rows, col);
}

double store_rows_double(store_rows *r, int col)
{
	return r->c->owner->be->dbl(r->rows, col);
}

const void *store_rows_blob(store_rows *r, int col, size_t *len)
{
	return r->c->owner->be->blob(r->rows, col, len);
}

void store_rows_free(store_rows **pr)
{
	store_rows *r = *pr;
	if (!r)
		return;
	r->c->owner->be->rows_free(r->rows);
	free(r);
	*pr = NULL;
}

const char *store_errmsg(store_conn *c)
{
	return c->owner->be->errmsg(c->db);
}

/* ---- Array literals ------------------------------------------------- */

static int array_sep(buf *b)
{
	return buf_puts(b, b->len ? "," : "{");
}

int store_array_text(buf *b, const char *s)
{
	int rc = array_sep(b);
	if (rc == 0 && !s)
		return buf_puts(b, "NULL");
	if (rc == 0)
		rc = buf_puts(b, "\"");
	for (const char *p = s; rc == 0 && *p;) {
		size_t k = strcspn(p, "\"\\");
		rc = buf_append(b, p, k);
		p += k;
		if (rc == 0 && *p) {
			char esc[2] = { '\\', *p++ };
			rc = buf_append(b, esc, 2);
		}
	}
	return rc == 0 ? buf_puts(b, "\"") : rc;
}

int store_array_int(buf *b, int64_t v)
{
	int rc = array_sep(b);
	return rc ? rc : buf_printf(b, "%lld", (long long)v);
}

int store_array_double(buf *b, double v)
{
	int rc = array_sep(b);
	return rc ? rc : buf_printf(b, "%.17g", v);
}

int store_array_close(buf *b)
{
	return buf_puts(b, b->len ? "}" : "{}");
}
