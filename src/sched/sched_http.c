/* The node-facing routes (docs/jobs.md, "Node routes": work, log, result,
 * results, blobs), the heartbeat listener, and the job logs route. Every
 * node route is signed (HTTP_NODE): the caller is node_caller_of(). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "auth/auth.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "runtime/rt.h"
#include "sched/sched_int.h"

#define WORK_WAIT_MAX_S 25
#define RESULTS_MAX 1000          /* results in one POST /node/results */
#define ARTIFACTS_MAX 1000        /* artifacts of one chunk */
#define DURABLE_WAIT_MS 20000     /* a result waits this long for its commit */
#define HB_RUNNING_MAX 100000     /* chunk ids in one heartbeat */
#define LOG_LINES_MAX 10000       /* lines in one log post */
/* A work reply stops taking chunks past this size (chunks of a job whose
 * inputs list large file sets are big); the rest wait in the outbox for the
 * node's next poll. One chunk always goes, within the reply's hard cap. */
#define WORK_REPLY_SOFT ((size_t)8 << 20)
#define WORK_REPLY_MAX ((size_t)512 << 20)

static void deadline_in(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The caller, with its body checked against the signed hash; else replied. */
static const node_caller *caller(http_req *r)
{
	const node_caller *nc = node_caller_of(r);
	if (!nc) {
		http_reply_error(r, 401, "unknown_node", "a signed node request is needed");
		return NULL;
	}
	return node_body_ok(r) ? nc : NULL;
}

/* ---- work ---- */

static int chunk_text(buf *b, const sc_job *j, uint32_t idx, int64_t lease_s)
{
	char id[48];
	sc_chunk_id(j, idx, id, sizeof id);
	return buf_printf(b, "{\"id\":\"%s\",\"job_id\":\"%s\",\"attempt\":%u,\"index\":%u,"
		      "\"iterations\":%" PRId64 ",\"seed_offset\":%" PRId64 ",\"lease_s\":%" PRId64
		      ",", id, j->id, j->ck[idx].attempt, idx, sc_chunk_iterations(j, idx),
		   sc_chunk_seed(j, idx), lease_s) ||
	       /* The job's fixed members, serialised once when it was created. */
	       buf_puts(b, j->tmpl + 1);
}

static void h_work(http_req *r, void *ctx)
{
	sched *s = ctx;
	const node_caller *nc = caller(r);
	int64_t slots = 1, gpus = 0, wait_s = WORK_WAIT_MAX_S;
	if (!nc || http_body_int(r, "free_slots", 1, 0, 4096, &slots) ||
	    http_body_int(r, "free_gpus", 0, 0, 1024, &gpus) ||
	    http_body_int(r, "wait_s", 0, 0, WORK_WAIT_MAX_S, &wait_s))
		return;
	buf b;
	buf_init(&b, WORK_REPLY_MAX);
	buf_printf(&b, "{\"chunks\":[");
	struct timespec until;
	deadline_in(&until, wait_s * 1000);
	pthread_mutex_lock(&s->mu);
	sched_refresh_nodes(s);
	sc_node *n = sc_node_get(&s->core, nc->id);
	sc_poll_begin(&s->core, n, (int)slots, (int)gpus);
	if (sc_dispatch(&s->core, node_now_ms(s->nodes)))
		pthread_cond_signal(&s->wcv);
	while (!n->nout && !s->stopping && !s->quiesce && slots > 0)
		if (pthread_cond_timedwait(&n->cv, &s->mu, &until))
			break;
	size_t k = 0;
	for (; k < n->nout && (k == 0 || b.len < WORK_REPLY_SOFT); k++) {
		size_t mark = b.len;
		if ((k && buf_puts(&b, ",")) ||
		    chunk_text(&b, n->outbox[k].job, n->outbox[k].idx, s->cfg.lease_ms / 1000)) {
			/* Cut back to whole chunks; this one waits for the next poll. */
			b.len = mark;
			b.data[mark] = '\0';
			break;
		}
	}
	sc_handed(&s->core, n, k);
	sc_poll_end(&s->core, n);
	pthread_mutex_unlock(&s->mu);
	buf_printf(&b, "]}");
	size_t len;
	char *data = buf_detach(&b, &len);
	http_reply_data(r, 200, "application/json", data, len);
}

/* ---- results ---- */

struct outcome {
	int status;          /* 200, or the error's */
	const char *code;
	char msg[200];
	int duplicate;
	uint64_t seq;
};

static int refuse(struct outcome *o, int status, const char *code, const char *msg)
{
	o->status = status;
	o->code = code;
	snprintf(o->msg, sizeof o->msg, "%s", msg);
	return -EINVAL;
}

static int artifacts_ok(sched *s, const json_t *a, struct outcome *o)
{
	size_t i;
	const json_t *e;
	if (a && !json_is_null(a) && (!json_is_array(a) || json_array_size(a) > ARTIFACTS_MAX))
		return refuse(o, 400, "bad_request", "artifacts must be an array of at most 1000");
	json_array_foreach(a, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *sha = json_string_value(json_object_get(e, "sha256"));
		json_t *bytes = json_object_get(e, "bytes");
		int fd = -1;
		uint64_t size;
		char norm[DS_PATH_MAX];
		if (!path || ds_path_normalize(path, strlen(path), norm) || strcmp(norm, path) ||
		    !sha || !blob_sha_valid(sha) || !json_is_integer(bytes))
			return refuse(o, 400, "bad_request", "each artifact needs a relative path"
				      " (no '..'), sha256 and bytes");
		if (blob_open(s->blobs, sha, &fd, &size))
			return refuse(o, 422, "artifact_missing",
				      "an artifact was not uploaded (PUT /api/v1/node/blobs/{sha256})");
		close(fd);
	}
	return 0;
}

/* The store's word on a chunk the core no longer holds (its job finished
 * and left memory, or the server restarted): the same attempt's result is
 * a duplicate once recorded, anything else lost its lease. */
static void stored_outcome(sched *s, const char *job, uint32_t idx, uint32_t attempt,
			   struct outcome *o)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT state FROM attempts WHERE job_id = $1 AND idx = $2 AND"
				 " attempt = $3 UNION ALL SELECT state FROM chunks WHERE job_id = $1"
				 " AND idx = $2 AND attempt = $3 AND state = 'completed'", &rows,
				 SARGS(SA_TEXT(job), SA_INT(idx), SA_INT(attempt)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		const char *st = store_rows_text(rows, 0);
		o->duplicate = !strcmp(st, "completed") || !strcmp(st, "failed");
		rc = 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0)
		refuse(o, 503, "store_busy", "the store is busy; send it again");
	else if (!o->duplicate)
		refuse(o, 409, "lease_lost", "this node no longer holds the chunk's lease");
}

/* One result (the body of /chunks/{id}/result, or an item of /results),
 * read and checked outside the scheduler's lock. */
struct res {
	char job[24];
	uint32_t idx, attempt;
	int out;             /* sc_result's outcome; 0 while not applied */
	sc_report rep;
	char *res_text, *sb_text, *arts_text;
};

static void res_release(struct res *x)
{
	sc_stats_release(&x->rep.stats);
	free(x->res_text);
	free(x->sb_text);
	free(x->arts_text);
	memset(x, 0, sizeof *x);
}

/* 0 when x is ready for sc_result; else o holds the refusal. */
static int res_prepare(sched *s, const char *chunk, const json_t *body, struct res *x,
		       struct outcome *o)
{
	char err[200];
	const char *status = json_string_value(json_object_get(body, "status"));
	const json_t *att = json_object_get(body, "attempt"), *res = json_object_get(body, "result");
	const json_t *sb = json_object_get(body, "sandbox"), *arts = json_object_get(body, "artifacts");
	memset(o, 0, sizeof *o);
	memset(x, 0, sizeof *x);
	o->status = 200;
	if (sc_chunk_id_parse(chunk, x->job, &x->idx))
		return refuse(o, 404, "not_found", "no such chunk");
	if (!json_is_integer(att) || json_integer_value(att) < 1 ||
	    json_integer_value(att) > UINT32_MAX || !status ||
	    (strcmp(status, "completed") && strcmp(status, "failed")))
		return refuse(o, 400, "bad_request", "fields 'attempt' (>= 1) and 'status'"
			      " (\"completed\" or \"failed\") are required");
	x->attempt = (uint32_t)json_integer_value(att);
	x->rep.completed = !strcmp(status, "completed");
	x->rep.error = json_string_value(json_object_get(body, "error"));
	x->rep.reason = json_string_value(json_object_get(body, "reason"));
	if (!x->rep.reason)
		x->rep.reason = json_string_value(json_object_get(sb, "killed_by"));
	if (x->rep.completed && sc_stats_from_result(res, &x->rep.stats, err, sizeof err))
		return refuse(o, 422, "bad_result", err);
	if ((sb && !json_is_null(sb) && !json_is_object(sb)) || artifacts_ok(s, arts, o)) {
		if (o->status == 200)
			refuse(o, 400, "bad_request", "sandbox must be an object");
		res_release(x);
		return -EINVAL;
	}
	if (res && json_is_object(res))
		x->res_text = json_dumps(res, JSON_COMPACT);
	x->rep.has_output = json_object_get(res, "output") != NULL;
	if (sb && json_is_object(sb))
		x->sb_text = json_dumps(sb, JSON_COMPACT);
	if (json_array_size(arts))
		x->arts_text = json_dumps(arts, JSON_COMPACT);
	if ((res && json_is_object(res) && !x->res_text) || (sb && json_is_object(sb) && !x->sb_text) ||
	    (json_array_size(arts) && !x->arts_text)) {
		res_release(x);
		return refuse(o, 500, "internal", "out of memory");
	}
	x->rep.result = x->res_text;
	x->rep.sandbox = x->sb_text;
	x->rep.artifacts = x->arts_text;
	return 0;
}

/* mu held. */
static void res_apply(sched *s, const node_caller *nc, struct res *x, struct outcome *o,
		      int64_t now)
{
	x->out = sc_result(&s->core, nc->id, x->job, x->idx, x->attempt, &x->rep, now, &o->seq);
}

/* After the lock: the outcome, the store asked where the core knew nothing. */
static void res_finish(sched *s, struct res *x, struct outcome *o)
{
	if (x->out == SC_DUPLICATE)
		o->duplicate = 1;
	else if (x->out == SC_LEASE_LOST)
		refuse(o, 409, "lease_lost", "this node no longer holds the chunk's lease");
	else if (x->out == SC_UNKNOWN)
		stored_outcome(s, x->job, x->idx, x->attempt, o);
	res_release(x);
}

void sched_job_settle(sched *s, const char *job)
{
	pthread_mutex_lock(&s->mu);
	sc_job *j = sc_job_find(&s->core, job);
	if (j)
		(void)sched_wait_durable(s, j->last_seq, DURABLE_WAIT_MS);
	pthread_mutex_unlock(&s->mu);
}

/* Waits for the commit of everything answered as accepted. */
static int durable(sched *s, uint64_t seq)
{
	pthread_mutex_lock(&s->mu);
	int rc = sched_wait_durable(s, seq, DURABLE_WAIT_MS);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static void h_result(http_req *r, void *ctx)
{
	sched *s = ctx;
	const node_caller *nc = caller(r);
	struct outcome o;
	struct res x;
	if (!nc)
		return;
	if (res_prepare(s, http_req_param(r, "id"), http_req_json(r), &x, &o) == 0) {
		pthread_mutex_lock(&s->mu);
		int64_t now = node_now_ms(s->nodes);
		res_apply(s, nc, &x, &o, now);
		if (x.out == SC_ACCEPTED)
			sc_dispatch(&s->core, now);
		pthread_mutex_unlock(&s->mu);
		res_finish(s, &x, &o);
	}
	if (o.status == 200 && durable(s, o.seq))
		refuse(&o, 503, "busy", "the result is not committed yet; send it again");
	if (o.status != 200) {
		http_reply_error(r, o.status, o.code, "%s", o.msg);
		return;
	}
	json_t *j = json_pack("{s:b,s:b}", "accepted", 1, "duplicate", o.duplicate);
	if (j)
		http_reply_json(r, 200, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
}

/* Many results: read outside the lock, applied under one lock with one
 * dispatch after them, so that they are committed in one transaction, and
 * answered once that commit is durable. */
static void h_results(http_req *r, void *ctx)
{
	sched *s = ctx;
	const node_caller *nc = caller(r);
	json_t *list = json_object_get(http_req_json(r), "results"), *e;
	size_t i;
	if (!nc)
		return;
	if (!json_is_array(list) || json_array_size(list) > RESULTS_MAX) {
		http_reply_error(r, 400, "bad_request", "field 'results' must be an array of at most %d",
				 RESULTS_MAX);
		return;
	}
	size_t n = json_array_size(list), applied = 0;
	struct outcome *o = xcalloc(n ? n : 1, sizeof *o);
	struct res *x = xcalloc(n ? n : 1, sizeof *x);
	int *ready = xcalloc(n ? n : 1, sizeof *ready);
	uint64_t seq = 0;
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "chunk"));
		if (!json_is_object(e) || !id)
			refuse(&o[i], 400, "bad_request", "each result needs 'chunk' (its id)");
		else
			ready[i] = res_prepare(s, id, e, &x[i], &o[i]) == 0;
	}
	pthread_mutex_lock(&s->mu);
	int64_t now = node_now_ms(s->nodes);
	for (i = 0; i < n; i++) {
		if (!ready[i])
			continue;
		res_apply(s, nc, &x[i], &o[i], now);
		applied += x[i].out == SC_ACCEPTED;
	}
	if (applied)
		sc_dispatch(&s->core, now);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n; i++) {
		if (ready[i])
			res_finish(s, &x[i], &o[i]);
		if (o[i].status == 200 && o[i].seq > seq)
			seq = o[i].seq;
	}
	free(ready);
	free(x);
	int late = seq && durable(s, seq);
	json_t *out = json_array();
	for (i = 0; out && i < n; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(list, i), "chunk"));
		json_t *y = o[i].status == 200 && !late
			    ? json_pack("{s:s?,s:b,s:b}", "chunk", id, "accepted", 1, "duplicate",
					o[i].duplicate)
			    : json_pack("{s:s?,s:{s:s,s:s,s:i}}", "chunk", id, "error", "code",
					late ? "busy" : o[i].code, "message", late ? "not committed yet"
					: o[i].msg, "status", late ? 503 : o[i].status);
		if (!y || json_array_append_new(out, y)) {
			json_decref(out);
			out = NULL;
		}
	}
	free(o);
	json_t *j = out ? json_pack("{s:o}", "results", out) : NULL;
	if (j)
		http_reply_json(r, 200, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
}

/* ---- logs from nodes ---- */

static void h_log(http_req *r, void *ctx)
{
	sched *s = ctx;
	const node_caller *nc = caller(r);
	char job[24];
	uint32_t idx;
	int64_t attempt;
	if (!nc || http_body_int(r, "attempt", 1, 1, UINT32_MAX, &attempt))
		return;
	json_t *lines = json_object_get(http_req_json(r), "lines"), *l;
	size_t i;
	if (sc_chunk_id_parse(http_req_param(r, "id"), job, &idx)) {
		http_reply_error(r, 404, "not_found", "no such chunk");
		return;
	}
	if (!json_is_array(lines) || json_array_size(lines) > LOG_LINES_MAX) {
		http_reply_error(r, 400, "bad_request", "field 'lines' must be an array of at most %d",
				 LOG_LINES_MAX);
		return;
	}
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	int64_t now = node_now_ms(s->nodes);
	json_array_foreach(lines, i, l) {
		const char *text = json_string_value(json_object_get(l, "text"));
		json_int_t stream = json_integer_value(json_object_get(l, "stream"));
		if (!text)
			continue;
		rc = sc_log(&s->core, nc->id, job, idx, (uint32_t)attempt, stream == 2 ? 2 : 1, text,
			    json_string_length(json_object_get(l, "text")), now);
		if (rc)
			break;
	}
	pthread_cond_signal(&s->wcv);
	pthread_mutex_unlock(&s->mu);
	if (rc == -ESTALE)
		http_reply_error(r, 409, "lease_lost", "this node no longer holds the chunk's lease");
	else
		http_reply_data(r, 204, "text/plain", NULL, 0);
}

/* ---- blobs ---- */

/* 1 when a chunk that nc holds names sha (script, config, inputs, its
 * runtime image: an input that is no blob). mu held. */
static int node_may_fetch(sched *s, const char *node, const char *sha)
{
	sc_node *n = sc_node_get(&s->core, node);
	for (size_t i = 0; i < n->nheld; i++) {
		const sc_job *j = n->held[i].job;
		for (size_t k = 0; k < j->nblobs; k++)
			if (strcmp(j->blobs[k], sha) == 0)
				return 1;
		for (size_t k = 0; k < j->ninputs; k++)
			if (strcmp(j->inputs[k], sha) == 0)
				return 1;
	}
	return 0;
}

static void h_blob_get(http_req *r, void *ctx)
{
	sched *s = ctx;
	const node_caller *nc = caller(r);
	const char *sha = http_req_param(r, "sha256");
	if (!nc)
		return;
	pthread_mutex_lock(&s->mu);
	int may = blob_sha_valid(sha) && node_may_fetch(s, nc->id, sha);
	pthread_mutex_unlock(&s->mu);
	if (!may) {
		http_reply_error(r, 404, "not_found", "no such blob for this node");
		return;
	}
	int fd = -1;
	uint64_t size = 0;
	int rc = blob_open(s->blobs, sha, &fd, &size);
	/* A runtime image's tarball is kept by the runtime registry. */
	if (rc == -ENOENT && s->cfg.data)
		rc = rt_archive_open(s->cfg.data, sha, &fd, &size);
	if (rc == 0) {
		http_reply_fd(r, 200, "application/octet-stream", fd, 0, size);
		return;
	}
	/* A config lives in its table, not in the blob store. */
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char *body = NULL;
	if ((rc = store_acquire(s->st, &c)) == 0 &&
	    (rc = store_query(c, "SELECT body FROM configs WHERE sha256 = $1", &rows,
			      SARGS(SA_TEXT(sha)))) == 0 && (rc = store_rows_next(rows)) == 1) {
		body = xstrdup(store_rows_text(rows, 0));
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such blob for this node" : NULL);
	else
		http_reply_data(r, 200, "application/json", body, strlen(body));
}

struct put {
	blob_writer *w;
	int err;
};

static void put_free(void *v)
{
	struct put *p = v;
	blob_abort(&p->w);
	free(p);
}

/* Only a node that holds a lease uploads (artifacts of its chunks). */
static struct put *put_state(sched *s, http_req *r)
{
	struct put *p = http_req_state(r);
	if (p)
		return p;
	p = xcalloc(1, sizeof *p);
	http_req_set_state(r, p, put_free);
	const node_caller *nc = node_caller_of(r);
	pthread_mutex_lock(&s->mu);
	int holds = nc && sc_node_get(&s->core, nc->id)->nheld > 0;
	pthread_mutex_unlock(&s->mu);
	const char *body_sha = http_req_header(r, "X-Sentinel-Body-SHA256");
	const char *sha = http_req_param(r, "sha256");
	if (!holds)
		p->err = -EACCES;
	else if (!blob_sha_valid(sha) || !body_sha || strcmp(body_sha, sha) != 0)
		p->err = -EBADMSG; /* the signed body hash must be the path's */
	else
		p->err = blob_writer_new(s->blobs, &p->w);
	return p;
}

static int put_chunk(http_req *r, const char *d, size_t n, void *ctx)
{
	struct put *p = put_state(ctx, r);
	if (!p->err)
		p->err = blob_write(p->w, d, n);
	return p->err;
}

static void h_blob_put(http_req *r, void *ctx)
{
	sched *s = ctx;
	struct put *p = put_state(s, r);
	const char *sha = http_req_param(r, "sha256");
	char got[65];
	uint64_t bytes = 0;
	int rc = p->err ? p->err : http_req_stream_error(r);
	if (rc == -EACCES) {
		http_reply_error(r, 403, "forbidden", "this node holds no chunk to upload for");
		return;
	}
	if (rc == -EBADMSG) {
		http_reply_error(r, 400, "bad_body_hash", "the signed body hash must be the path's");
		return;
	}
	if (rc == 0)
		rc = blob_commit(&p->w, got, &bytes, NULL);
	if (rc) {
		http_reply_errno(r, rc, NULL);
		return;
	}
	if (strcmp(got, sha) != 0) {
		http_reply_error(r, 422, "hash_mismatch", "the content's sha256 is %s", got);
		return;
	}
	json_t *j = json_pack("{s:s,s:I}", "sha256", got, "bytes", (json_int_t)bytes);
	if (j)
		http_reply_json(r, 201, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
}

/* ---- heartbeats and node changes ---- */

int sched_hb(void *ctx, const char *node_id, const json_t *body, json_t *reply)
{
	sched *s = ctx;
	const json_t *run = json_object_get(body, "running"), *x;
	size_t i, n = 0;
	json_t *cancel = json_array(), *lost = json_array();
	const char **ids = xcalloc(json_array_size(run) + 1, sizeof *ids);
	json_array_foreach(run, i, x)
		if (json_is_string(x) && n < HB_RUNNING_MAX)
			ids[n++] = json_string_value(x);
	pthread_mutex_lock(&s->mu);
	s->snap_dirty = 1;
	sched_refresh_nodes(s);
	int64_t now = node_now_ms(s->nodes);
	if (cancel && lost)
		sc_heartbeat(&s->core, node_id, ids, n, now, cancel, lost);
	sc_dispatch(&s->core, now);
	pthread_cond_signal(&s->wcv);
	pthread_mutex_unlock(&s->mu);
	free(ids);
	int rc = cancel && lost && !json_object_set_new(reply, "cancel", cancel) &&
		 !json_object_set_new(reply, "lost", lost) ? 0 : -ENOMEM;
	if (rc) {
		json_decref(cancel);
		json_decref(lost);
	}
	return rc;
}

void sched_node_changed(void *ctx, const char *node_id)
{
	sched *s = ctx;
	(void)node_id;
	pthread_mutex_lock(&s->mu);
	s->snap_dirty = 1;
	s->kick = 1;
	pthread_cond_signal(&s->rcv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- job logs (user route) ---- */

struct follow {
	sched *s;
	char job[24];
	int64_t after;
	int sse, done, idle;
	char *pend;
	size_t npend, off;
};

static void follow_free(void *v)
{
	struct follow *f = v;
	free(f->pend);
	free(f);
}

/* The next page of lines into f->pend; 0 when none. */
static int follow_page(struct follow *f, int *finished)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	buf b;
	buf_init(&b, (size_t)16 << 20);
	int rc = store_acquire(f->s->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT seq, idx, attempt, stream, text FROM chunk_logs WHERE job_id = $1"
				 " AND seq > $2 ORDER BY seq LIMIT 500", &rows,
				 SARGS(SA_TEXT(f->job), SA_INT(f->after)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		f->after = store_rows_int(rows, 0);
		rc = 0;
		if (!f->sse) {
			buf_printf(&b, "[%" PRId64 "#%" PRId64 "] %s\n", store_rows_int(rows, 1),
				   store_rows_int(rows, 2), store_rows_text(rows, 4));
			continue;
		}
		json_t *e = json_pack("{s:I,s:I,s:I,s:s}", "chunk", (json_int_t)store_rows_int(rows, 1),
				      "attempt", (json_int_t)store_rows_int(rows, 2), "stream",
				      (json_int_t)store_rows_int(rows, 3), "text", store_rows_text(rows, 4));
		char *t = e ? json_dumps(e, JSON_COMPACT) : NULL;
		if (t)
			buf_printf(&b, "event: log\ndata: %s\n\n", t);
		free(t);
		json_decref(e);
	}
	store_rows_free(&rows);
	if (rc == 0 && finished) {
		char st[16] = "";
		if ((rc = store_query(c, "SELECT state FROM jobs WHERE id = $1", &rows,
				      SARGS(SA_TEXT(f->job)))) == 0 && store_rows_next(rows) == 1)
			sn_strlcpy(st, store_rows_text(rows, 0), sizeof st);
		store_rows_free(&rows);
		*finished = strcmp(st, "pending") && strcmp(st, "running");
	}
	store_release(&c);
	free(f->pend);
	f->pend = buf_detach(&b, &f->npend);
	f->off = 0;
	return rc < 0 ? rc : f->npend > 0;
}

static long follow_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct follow *f = cls;
	(void)pos;
	while (f->off == f->npend) {
		if (f->done)
			return 0;
		int finished = 0;
		/* The job's state is read after the lines: every line of a
		 * finished job was committed before its state was. */
		int rc = follow_page(f, f->sse ? &finished : NULL);
		if (rc < 0)
			return rc;
		if (rc > 0)
			continue;
		if (!f->sse || finished) {
			if (finished && (rc = follow_page(f, NULL)) > 0)
				continue;
			if (!f->sse || f->done)
				return 0;
			/* Every line is out: the end event, then the stream closes. */
			static const char end[] = "event: end\ndata: {}\n\n";
			free(f->pend);
			f->pend = xstrdup(end);
			f->npend = sizeof end - 1;
			f->off = 0;
			f->done = 1;
			continue;
		}
		/* Waits a second at a time (a stopping server is noticed soon),
		 * with a keep-alive comment every 15 s. */
		pthread_mutex_lock(&f->s->mu);
		struct timespec until;
		deadline_in(&until, 1000);
		int waited = f->s->stopping || f->s->quiesce ? 0
			     : pthread_cond_timedwait(&f->s->lcv, &f->s->mu, &until);
		int stop = f->s->stopping || f->s->quiesce;
		pthread_mutex_unlock(&f->s->mu);
		if (stop)
			return 0;
		if (waited && ++f->idle >= 15) {
			static const char ka[] = ": keep-alive\n\n";
			size_t n = sizeof ka - 1 < max ? sizeof ka - 1 : max;
			f->idle = 0;
			memcpy(out, ka, n);
			return (long)n;
		}
	}
	size_t n = f->npend - f->off < max ? f->npend - f->off : max;
	memcpy(out, f->pend + f->off, n);
	f->off += n;
	return (long)n;
}

static void h_logs(http_req *r, void *ctx)
{
	sched *s = ctx;
	const char *id = http_req_param(r, "id"), *fq = http_req_query(r, "follow");
	const auth_user *u = auth_caller(r);
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT owner_id FROM jobs WHERE id = $1", &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = u->role >= ROLE_ADMIN || !strcmp(store_rows_text(rows, 0), u->id) ? 0 : -ENOENT;
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	store_release(&c);
	if (rc) {
		http_reply_errno(r, rc, rc == -ENOENT ? "no such job" : NULL);
		return;
	}
	/* The lines are read from the store: a job seen finished shows its
	 * whole log. */
	sched_job_settle(s, id);
	struct follow *f = xcalloc(1, sizeof *f);
	f->s = s;
	sn_strlcpy(f->job, id, sizeof f->job);
	f->sse = fq && (!strcmp(fq, "1") || !strcmp(fq, "true"));
	if (f->sse)
		http_reply_header(r, "Cache-Control", "no-cache");
	http_reply_callback(r, 200, f->sse ? "text/event-stream" : "text/plain; charset=utf-8",
			    HTTP_LEN_UNKNOWN, follow_read, f, follow_free);
}

size_t sched_logs_routes(sched *s, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/jobs/{id}/logs", h_logs, 0, ROLE_MEMBER, NULL, 0, s },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}

size_t sched_http_routes(sched *s, http_route *out, size_t max)
{
	s->put_stream = (http_stream){ put_chunk, s };
	const http_route routes[] = {
		{ "POST", "/api/v1/node/work", h_work, HTTP_NODE, 0, NULL, 0, s },
		{ "POST", "/api/v1/node/chunks/{id}/log", h_log, HTTP_NODE, 0, NULL, 0, s },
		{ "POST", "/api/v1/node/chunks/{id}/result", h_result, HTTP_NODE, 0, NULL, 0, s },
		{ "POST", "/api/v1/node/results", h_results, HTTP_NODE, 0, NULL, 0, s },
		{ "GET", "/api/v1/node/blobs/{sha256}", h_blob_get, HTTP_NODE, 0, NULL, 0, s },
		{ "PUT", "/api/v1/node/blobs/{sha256}", h_blob_put,
		  HTTP_NODE | HTTP_RAW_BODY | HTTP_STREAM_BODY, 0, NULL, SCHED_ARTIFACT_MAX, &s->put_stream },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
