/* The scheduler core: jobs, chunks, leases and fair-share assignment, in
 * memory, under the scheduler's one mutex (sched.mu). It decides; the
 * writer (sched_store.c) makes its decisions durable from the ops it
 * queues, in order, many per transaction.
 *
 * Chunk states and the function behind each transition:
 *
 *                 sc_add_job, sc_retry
 *                        |
 *                        v
 *   +--------------> PENDING --- sc_cancel, job_close ---> CANCELLED
 *   |                    |                                     ^
 *   | lose()             | assign() (sc_dispatch)              |
 *   | lost_node,         v                                     |
 *   | lease_expired   RUNNING --- sc_cancel, job_close --------+
 *   | (sc_reap)          |   \
 *   +--------------------+    +-- sc_result(completed) ---> COMPLETED
 *   |                    |
 *   +-- sc_result(failed), failures < max_attempts
 *                        |
 *                        +-- sc_result(failed), failures == max ---> FAILED
 *
 * Leases: assign() gives the attempt a lease until now + lease_ms, renewed
 * by each heartbeat that lists the chunk (sc_heartbeat); lose() ends it.
 * The job: PENDING -> RUNNING (first assign) -> COMPLETED (last chunk,
 * sc_result) | FAILED (a chunk out of attempts, or a parent failed:
 * job_close) | CANCELLED (sc_cancel); sc_retry reopens a failed or
 * cancelled job.
 *
 * Invariants (sc_check asserts them in debug builds):
 *  1. A chunk is RUNNING iff its node >= 0, and then it is in exactly one
 *     node's held list, that one; every held entry is a RUNNING chunk.
 *  2. A job's queue holds exactly its PENDING chunks, each once.
 *  3. job.count[s] is the number of its chunks in state s; the core's
 *     count[] is the sum over the jobs in memory.
 *  4. An attempt ends once: sc_result accepts a result only from the node
 *     that holds the attempt's lease (RUNNING, same node, same attempt);
 *     the same result again is a duplicate (answered, not applied); any
 *     other is lease_lost. So a chunk is completed, and its iterations
 *     and stats counted, exactly once.
 *  5. A lost attempt (lost_node, lease_expired) never counts against
 *     max_attempts; a failed one does.
 *  6. A job is COMPLETED iff every chunk is; the op that completes its last
 *     chunk completes the job, in the same transaction.
 *  7. node.gpus_held is the sum of the GPUs of its held chunks; a node
 *     never holds more than max_parallel chunks at assignment time.
 *  8. Offline has one definition: core.online (node_online, counted from
 *     the scheduler's start at the earliest: online_fn). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "sched/sched_int.h"

const char *const sc_ck_state_names[CK_NSTATES] = { "pending", "running", "completed", "failed",
						      "cancelled" };
const char *const sc_job_state_names[5] = { "pending", "running", "completed", "failed",
					    "cancelled" };
const int64_t sc_lat_bounds_us[SC_LAT_NB] = { 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
					      10000, 25000, 50000, 100000, 250000, 1000000,
					      2500000, 10000000, INT64_MAX };

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int default_online(void *ctx, const node_info *n, int64_t now)
{
	(void)ctx;
	(void)now;
	return n->online;
}

void sc_core_init(sc_core *c, int64_t lease_ms, uint64_t log_max)
{
	memset(c, 0, sizeof *c);
	c->lease_ms = lease_ms;
	c->log_max = log_max;
	c->online = default_online;
	c->ops_tail = &c->ops;
}

void sc_job_free(sc_job *j)
{
	if (!j)
		return;
	char **lists[] = { j->users, j->groups, j->owner_groups, j->pins, j->blobs, j->inputs,
			   j->parents };
	size_t counts[] = { j->nusers, j->ngroups, j->nowner_groups, j->npins, j->nblobs,
			    j->ninputs, j->nparents };
	for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
		for (size_t i = 0; i < counts[l]; i++)
			free(lists[l][i]);
		free(lists[l]);
	}
	free(j->tmpl);
	free(j->ck);
	free(j->rq);
	sc_stats_release(&j->stats);
	free(j);
}

void sc_op_free(sc_op *o)
{
	while (o) {
		sc_op *next = o->next;
		free(o->reason);
		free(o->sandbox);
		free(o->result);
		free(o->artifacts);
		sc_stats_release(&o->stats);
		free(o);
		o = next;
	}
}

void sc_core_release(sc_core *c)
{
	for (size_t i = 0; i < c->njobs; i++)
		sc_job_free(c->jobs[i]);
	free(c->jobs);
	free(c->jidx);
	free(c->cand);
	for (size_t i = 0; i < c->nowners; i++)
		free(c->owners[i].jobs);
	free(c->owners);
	free(c->tp);
	for (size_t i = 0; i < c->nnodes; i++) {
		sc_node *n = c->nodes[i];
		pthread_cond_destroy(&n->cv);
		free(n->held);
		free(n->outbox);
		free(n);
	}
	free(c->nodes);
	sc_op_free(c->ops);
	memset(c, 0, sizeof *c);
}

/* ---- ids ---- */

void sc_chunk_id(const sc_job *j, uint32_t idx, char *out, size_t n)
{
	snprintf(out, n, "%s-%u", j->id, idx);
}

int sc_chunk_id_parse(const char *id, char job[24], uint32_t *idx)
{
	const char *dash = id ? strrchr(id, '-') : NULL;
	char *end;
	if (!dash || dash == id || (size_t)(dash - id) >= 24 || dash[1] < '0' || dash[1] > '9')
		return -EINVAL;
	unsigned long v = strtoul(dash + 1, &end, 10);
	if (*end || v > UINT32_MAX || (dash[1] == '0' && dash[2]))
		return -EINVAL;
	memcpy(job, id, (size_t)(dash - id));
	job[dash - id] = '\0';
	*idx = (uint32_t)v;
	return 0;
}

int64_t sc_chunk_iterations(const sc_job *j, uint32_t idx)
{
	if (j->total_iterations < 0)
		return 0;
	int64_t left = j->total_iterations - (int64_t)idx * j->chunk_size;
	return left < j->chunk_size ? left : j->chunk_size;
}

int64_t sc_chunk_seed(const sc_job *j, uint32_t idx)
{
	return j->total_iterations < 0 ? 0 : (int64_t)idx * j->chunk_size;
}

/* ---- ops and events ---- */

static sc_op *op_new(sc_core *c, enum sc_op_kind k, sc_job *j, uint32_t idx)
{
	sc_op *o = xcalloc(1, sizeof *o);
	o->kind = k;
	o->seq = ++c->seq;
	sn_strlcpy(o->job, j->id, sizeof o->job);
	o->idx = idx;
	o->attempt = idx < j->nchunks ? j->ck[idx].attempt : 0;
	*c->ops_tail = o;
	c->ops_tail = &o->next;
	j->last_seq = o->seq;
	return o;
}

sc_op *sc_ops_take(sc_core *c)
{
	sc_op *o = c->ops;
	c->ops = NULL;
	c->ops_tail = &c->ops;
	return o;
}

static void chunk_event(sc_core *c, sc_job *j, uint32_t idx, const char *reason)
{
	if (!c->event)
		return;
	char id[48], text[256];
	sc_chunk_id(j, idx, id, sizeof id);
	json_t *e = json_pack("{s:s,s:s,s:I,s:s,s:I}", "id", id, "job_id", j->id, "index",
			      (json_int_t)idx, "state", sc_ck_state_names[j->ck[idx].state],
			      "attempt", (json_int_t)j->ck[idx].attempt);
	if (e && reason && json_object_set_new(e, "reason", json_string(reason)))
		log_warn("sched: chunk event without its reason");
	size_t len = e ? json_dumpb(e, text, sizeof text - 1, JSON_COMPACT) : 0;
	if (len && len < sizeof text - 1) {
		text[len] = '\0';
		c->event(c->event_ctx, "chunk", j->owner, text);
	}
	json_decref(e);
}

/* The job's state and chunk counts; a state change is announced at once,
 * progress through job_progress. */
static void job_event(sc_core *c, sc_job *j)
{
	if (j->ev_dirty) {
		j->ev_dirty = 0;
		c->ev_dirty--;
	}
	j->ev_us = mono_us();
	if (!c->event)
		return;
	char text[320];
	snprintf(text, sizeof text, "{\"id\":\"%s\",\"state\":\"%s\",\"completed_chunks\":%u,"
		 "\"total_chunks\":%u,\"chunks\":{\"pending\":%u,\"running\":%u,\"completed\":%u,"
		 "\"failed\":%u,\"cancelled\":%u}}", j->id, sc_job_state_names[j->state],
		 j->count[CK_COMPLETED], j->nchunks, j->count[CK_PENDING], j->count[CK_RUNNING],
		 j->count[CK_COMPLETED], j->count[CK_FAILED], j->count[CK_CANCELLED]);
	c->event(c->event_ctx, "job", j->owner, text);
}

/* A chunk of j moved: its progress event, coalesced to one per
 * SC_EVENT_US (the reaper flushes what is left: sc_events_flush). */
static void job_progress(sc_core *c, sc_job *j, int64_t now_us)
{
	if (now_us - j->ev_us >= SC_EVENT_US) {
		job_event(c, j);
	} else if (!j->ev_dirty) {
		j->ev_dirty = 1;
		c->ev_dirty++;
	}
}

size_t sc_events_flush(sc_core *c, int64_t now_us)
{
	for (size_t i = 0; c->ev_dirty && i < c->njobs; i++) {
		sc_job *j = c->jobs[i];
		if (j->ev_dirty && now_us - j->ev_us >= SC_EVENT_US)
			job_event(c, j);
	}
	return c->ev_dirty;
}

static void set_state(sc_core *c, sc_job *j, uint32_t idx, int st)
{
	sc_chunk *ck = &j->ck[idx];
	j->count[ck->state]--;
	c->count[ck->state]--;
	ck->state = (uint8_t)st;
	j->count[st]++;
	c->count[st]++;
}

/* ---- queues ---- */

uint32_t sc_queued(const sc_job *j)
{
	return j->nchunks - j->fresh + j->rqlen;
}

/* A chunk pending again joins the ring (grown by doubling). */
static void q_push(sc_job *j, uint32_t idx)
{
	if (j->rqlen == j->rqcap) {
		uint32_t cap = j->rqcap ? 2 * j->rqcap : 8;
		uint32_t *v = xmalloc(cap * sizeof *v);
		for (uint32_t i = 0; i < j->rqlen; i++)
			v[i] = j->rq[(j->rqhead + i) % j->rqcap];
		free(j->rq);
		j->rq = v;
		j->rqcap = cap;
		j->rqhead = 0;
	}
	j->rq[(j->rqhead + j->rqlen++) % j->rqcap] = idx;
}

/* Chunks pending again first (they waited longest), then the range. */
static uint32_t q_pop(sc_job *j)
{
	if (j->rqlen) {
		uint32_t idx = j->rq[j->rqhead];
		j->rqhead = (j->rqhead + 1) % j->rqcap;
		j->rqlen--;
		return idx;
	}
	assert(j->fresh < j->nchunks);
	return j->fresh++;
}

static void q_clear(sc_job *j)
{
	j->fresh = j->nchunks;
	j->rqlen = 0;
	j->rqhead = 0;
}

/* ---- the job index (by id) ---- */

static size_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

static void jidx_put(sc_job **tab, size_t cap, sc_job *j)
{
	size_t i = id_hash(j->id) & (cap - 1);
	while (tab[i])
		i = (i + 1) & (cap - 1);
	tab[i] = j;
}

/* Rebuilt whole on growth and after jobs leave memory (sc_gc_jobs): both
 * are per job, never per chunk. The table is kept at most half full. */
static void jidx_rebuild(sc_core *c)
{
	size_t cap = 64;
	while (cap < 2 * (c->njobs + 1))
		cap *= 2;
	free(c->jidx);
	c->jidx = xcalloc(cap, sizeof *c->jidx);
	c->jcap = cap;
	for (size_t i = 0; i < c->njobs; i++)
		jidx_put(c->jidx, cap, c->jobs[i]);
}

static sc_owner *owner_get(sc_core *c, const char *id)
{
	for (size_t i = 0; i < c->nowners; i++)
		if (strcmp(c->owners[i].id, id) == 0)
			return &c->owners[i];
	c->owners = xrealloc(c->owners, (c->nowners + 1) * sizeof *c->owners);
	sc_owner *o = &c->owners[c->nowners++];
	memset(o, 0, sizeof *o);
	sn_strlcpy(o->id, id, sizeof o->id);
	return o;
}

/* Higher priority first, then older. */
static int job_before(const sc_job *a, const sc_job *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->created_at < b->created_at ||
	       (a->created_at == b->created_at && strcmp(a->id, b->id) < 0);
}

static void owner_add_job(sc_core *c, sc_job *j)
{
	sc_owner *o = owner_get(c, j->owner);
	size_t at = o->njobs;
	o->jobs = xrealloc(o->jobs, (o->njobs + 1) * sizeof *o->jobs);
	while (at > 0 && job_before(j, o->jobs[at - 1])) {
		o->jobs[at] = o->jobs[at - 1];
		at--;
	}
	o->jobs[at] = j;
	o->njobs++;
}

static void owner_drop_job(sc_core *c, sc_job *j)
{
	for (size_t i = 0; i < c->nowners; i++) {
		sc_owner *o = &c->owners[i];
		for (size_t k = 0; k < o->njobs; k++) {
			if (o->jobs[k] != j)
				continue;
			memmove(&o->jobs[k], &o->jobs[k + 1], (o->njobs - k - 1) * sizeof *o->jobs);
			o->njobs--;
			return;
		}
	}
}

/* ---- nodes ---- */

sc_node *sc_node_get(sc_core *c, const char *id)
{
	for (size_t i = 0; i < c->nnodes; i++)
		if (strcmp(c->nodes[i]->id, id) == 0)
			return c->nodes[i];
	if (c->nnodes == c->capnodes) {
		c->capnodes = c->capnodes ? 2 * c->capnodes : 8;
		c->nodes = xrealloc(c->nodes, c->capnodes * sizeof *c->nodes);
		c->cand = xrealloc(c->cand, c->capnodes * sizeof *c->cand);
	}
	sc_node *n = xcalloc(1, sizeof *n);
	sn_strlcpy(n->id, id, sizeof n->id);
	pthread_cond_init(&n->cv, NULL);
	for (size_t i = 0; i < c->nsnap; i++)
		if (strcmp(c->snap[i].id, id) == 0)
			n->info = &c->snap[i];
	c->nodes[c->nnodes++] = n;
	return n;
}

static int node_index(const sc_core *c, const sc_node *n)
{
	for (size_t i = 0; i < c->nnodes; i++)
		if (c->nodes[i] == n)
			return (int)i;
	return -1;
}

void sc_set_nodes(sc_core *c, const node_info *v, size_t n)
{
	c->snap = v;
	c->nsnap = n;
	for (size_t i = 0; i < c->nnodes; i++)
		c->nodes[i]->info = NULL;
	for (size_t i = 0; i < n; i++)
		sc_node_get(c, v[i].id)->info = &v[i];
}

static size_t held_push(sc_held **v, size_t *n, size_t *cap, sc_job *j, uint32_t idx)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[*n] = (sc_held){ j, idx, 0 };
	return (*n)++;
}

/* The held list: a chunk knows its slot (hpos), so leaving is O(1). */
static void hold(sc_node *n, sc_job *j, uint32_t idx)
{
	j->ck[idx].hpos = (uint32_t)held_push(&n->held, &n->nheld, &n->capheld, j, idx);
}

static void unhold(sc_node *n, sc_job *j, uint32_t idx)
{
	uint32_t at = j->ck[idx].hpos;
	assert(at < n->nheld && n->held[at].job == j && n->held[at].idx == idx);
	n->held[at] = n->held[--n->nheld];
	if (at < n->nheld)
		n->held[at].job->ck[n->held[at].idx].hpos = at;
}

/* The outbox is handed over whole at each poll: a search is short. */
static int held_del(sc_held *v, size_t *n, const sc_job *j, uint32_t idx)
{
	for (size_t i = 0; i < *n; i++) {
		if (v[i].job == j && v[i].idx == idx) {
			v[i] = v[--*n];
			return 1;
		}
	}
	return 0;
}

static int has_str(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sc_eligible(const sc_job *j, const node_info *n)
{
	/* A pin is node-local data ("name\tmanifest") or a venv ("venv:NAME"). */
	for (size_t i = 0; i < j->npins; i++)
		if (!has_str(n->datasets, n->ndatasets, j->pins[i]) &&
		    !has_str(n->runtimes, n->nruntimes, j->pins[i]))
			return 0;
	int own = strcmp(n->owner, j->owner) == 0;
	if (!own && !node_may_use(n, j->owner, j->owner_groups, j->nowner_groups))
		return 0;
	switch (j->access) {
	case SC_PRIVATE:
		return own;
	case SC_PUBLIC:
		return 1;
	default:
		if (own || has_str(j->users, j->nusers, n->owner))
			return 1;
		for (size_t i = 0; i < j->ngroups; i++)
			if (has_str(n->groups, n->ngroups, j->groups[i]))
				return 1;
		return 0;
	}
}

/* Chunks n may take now: it must be polling, online, not draining. */
static int node_room(sc_core *c, const sc_node *n, int64_t now)
{
	if (!n->polling || !n->info || n->info->draining || !c->online(c->online_ctx, n->info, now))
		return 0;
	int room = n->info->max_parallel - (int)n->nheld;
	if (n->want - (int)n->nout < room)
		room = n->want - (int)n->nout;
	return room > 0 ? room : 0;
}

static int gpus_free(const sc_node *n)
{
	int a = n->info->gpus - n->gpus_held, b = n->want_gpus - n->gpus_out;
	return a < b ? a : b;
}

static size_t locality(const sc_job *j, const node_info *n)
{
	size_t hits = 0;
	for (size_t i = 0; i < j->ninputs; i++)
		hits += n->nblobs && bsearch(&j->inputs[i], n->blobs, n->nblobs, sizeof *n->blobs,
					     cmp_str) != NULL;
	return hits;
}

/* Among the nodes with room (c->cand, filled by sc_dispatch), the eligible
 * ones holding the most of the inputs first, then the most room. */
static sc_node *best_node(sc_core *c, size_t ncand, const sc_job *j, int64_t now)
{
	sc_node *best = NULL;
	size_t best_loc = 0;
	int best_room = 0;
	for (size_t i = 0; i < ncand; i++) {
		sc_node *n = c->cand[i];
		int room = node_room(c, n, now);
		if (!room || (j->gpus && gpus_free(n) < j->gpus) || !sc_eligible(j, n->info))
			continue;
		size_t loc = j->ninputs ? locality(j, n->info) : 0;
		if (!best || loc > best_loc || (loc == best_loc && room > best_room)) {
			best = n;
			best_loc = loc;
			best_room = room;
		}
	}
	return best;
}

static void hist_add(sc_hist *h, int64_t us)
{
	if (us < 0)
		us = 0;
	size_t b = 0;
	while (us > sc_lat_bounds_us[b])
		b++;
	h->bucket[b]++;
	h->n++;
	h->sum_us += (uint64_t)us;
}

static void job_set(sc_core *c, sc_job *j, int st, const char *reason, int flag, int64_t now)
{
	j->state = st;
	sc_op *o = op_new(c, OP_JOB, j, UINT32_MAX);
	o->state = st;
	o->flag = flag;
	o->at = now;
	o->reason = xstrdup(reason);
	job_event(c, j);
}

static void assign(sc_core *c, sc_job *j, sc_node *n, int64_t now, int64_t now_us)
{
	uint32_t idx = q_pop(j);
	sc_chunk *ck = &j->ck[idx];
	assert(ck->state == CK_PENDING && ck->node < 0);
	set_state(c, j, idx, CK_RUNNING);
	ck->attempt++;
	ck->reported = 0;
	ck->log_bytes = 0;
	ck->log_capped = 0;
	ck->node = node_index(c, n);
	ck->lease_until = now + c->lease_ms;
	ck->started_at = now;
	hold(n, j, idx);
	size_t at = held_push(&n->outbox, &n->nout, &n->capout, j, idx);
	/* Assignable from when it was pending and this node could take it. */
	int64_t ready = ck->pending_us;
	if (n->wait_us > ready)
		ready = n->wait_us;
	if (n->room_us > ready)
		ready = n->room_us;
	n->outbox[at].ready_us = ready;
	n->gpus_held += j->gpus;
	n->gpus_out += j->gpus;
	hist_add(&c->qwait, now_us - ck->pending_us);
	if (j->state == JOB_PENDING)
		job_set(c, j, JOB_RUNNING, NULL, 0, now);
	sc_op *o = op_new(c, OP_ASSIGN, j, idx);
	sn_strlcpy(o->node, n->id, sizeof o->node);
	o->at = now;
	o->lease_until = ck->lease_until;
	if (n->nout == 1)
		pthread_cond_signal(&n->cv);
	job_progress(c, j, now_us);
}

/* Fair share: owners take turns, one chunk each (round-robin from c->rr);
 * within an owner, its jobs by priority then age. Only the nodes with room
 * are looked at, and nothing is scanned when none has any. */
size_t sc_dispatch(sc_core *c, int64_t now)
{
	size_t total = 0, ncand = 0;
	if (!c->nowners)
		return 0;
	for (size_t i = 0; i < c->nnodes; i++)
		if (node_room(c, c->nodes[i], now))
			c->cand[ncand++] = c->nodes[i];
	int64_t now_us = ncand ? mono_us() : 0;
	for (int moved = 1; moved && ncand;) {
		moved = 0;
		for (size_t k = 0; k < c->nowners && !moved; k++) {
			size_t oi = (c->rr + k) % c->nowners;
			sc_owner *o = &c->owners[oi];
			for (size_t i = 0; i < o->njobs && !moved; i++) {
				sc_job *j = o->jobs[i];
				if (!sc_queued(j) || j->nparents || j->state > JOB_RUNNING)
					continue;
				sc_node *n = best_node(c, ncand, j, now);
				if (!n)
					continue;
				assign(c, j, n, now, now_us);
				c->rr = oi + 1;
				moved = 1;
				total++;
				if (!node_room(c, n, now)) {
					for (size_t q = 0; q < ncand; q++)
						if (c->cand[q] == n)
							c->cand[q] = c->cand[--ncand];
				}
			}
		}
	}
	return total;
}

void sc_poll_begin(sc_core *c, sc_node *n, int want, int gpus)
{
	(void)c;
	if (n->polling++ == 0)
		n->wait_us = mono_us();
	n->want = want;
	n->want_gpus = gpus;
}

void sc_poll_end(sc_core *c, sc_node *n)
{
	(void)c;
	if (--n->polling == 0)
		n->want = n->want_gpus = 0;
}

void sc_handed(sc_core *c, sc_node *n, size_t k)
{
	int64_t now_us = k ? mono_us() : 0;
	if (k > n->nout)
		k = n->nout;
	for (size_t i = 0; i < k; i++) {
		hist_add(&c->lat, now_us - n->outbox[i].ready_us);
		n->gpus_out -= n->outbox[i].job->gpus;
	}
	/* An empty outbox may be NULL: memmove is not called with it. */
	if (k && n->nout > k)
		memmove(n->outbox, n->outbox + k, (n->nout - k) * sizeof *n->outbox);
	n->nout -= k;
}

/* The chunk leaves its node (RUNNING ends). */
static void release(sc_core *c, sc_job *j, uint32_t idx)
{
	sc_chunk *ck = &j->ck[idx];
	assert(ck->state == CK_RUNNING && ck->node >= 0 && (size_t)ck->node < c->nnodes);
	sc_node *n = c->nodes[ck->node];
	/* A full node gains room now: what waits for it is assignable from here. */
	if (n->info && (int)n->nheld >= n->info->max_parallel)
		n->room_us = mono_us();
	unhold(n, j, idx);
	n->gpus_held -= j->gpus;
	if (n->nout && held_del(n->outbox, &n->nout, j, idx))
		n->gpus_out -= j->gpus;
	ck->node = -1;
}

static void log_line(sc_core *c, sc_job *j, uint32_t idx, int stream, const char *text)
{
	sc_op *o = op_new(c, OP_LOG, j, idx);
	o->state = stream;
	o->iterations = (int64_t)++j->log_seq;
	o->reason = xstrdup(text);
}

/* The attempt's row is written when it ends, whole (sched_store.c): node
 * is where it ran. */
static void attempt_end(sc_core *c, sc_job *j, uint32_t idx, const char *node, const char *state,
			const char *reason, const char *sandbox, int64_t now)
{
	sc_op *o = op_new(c, OP_ATTEMPT, j, idx);
	sn_strlcpy(o->node, node, sizeof o->node);
	o->started_at = j->ck[idx].started_at;
	o->at = now;
	o->reason = xasprintf("%s\t%s", state, reason ? reason : "");
	o->sandbox = xstrdup(sandbox);
}

static void chunk_op(sc_core *c, sc_job *j, uint32_t idx)
{
	sc_op *o = op_new(c, OP_CHUNK, j, idx);
	o->state = j->ck[idx].state;
	o->failures = j->ck[idx].failures;
}

static void to_pending(sc_core *c, sc_job *j, uint32_t idx)
{
	set_state(c, j, idx, CK_PENDING);
	j->ck[idx].pending_us = mono_us();
	q_push(j, idx);
	chunk_op(c, j, idx);
}

/* A lost attempt: back to pending, not counted against max_attempts. */
static void lose(sc_core *c, sc_job *j, uint32_t idx, const char *reason, int64_t now)
{
	sc_chunk *ck = &j->ck[idx];
	char line[160];
	const sc_node *n = c->nodes[ck->node];
	snprintf(line, sizeof line, "sentinel: attempt %u lost (%s, node %s); the chunk runs again",
		 ck->attempt, reason, n->id);
	release(c, j, idx);
	attempt_end(c, j, idx, n->id, "lost", reason, NULL, now);
	log_line(c, j, idx, 0, line);
	to_pending(c, j, idx);
	chunk_event(c, j, idx, reason);
	job_progress(c, j, mono_us());
}

static void job_close(sc_core *c, sc_job *j, int st, const char *reason, int64_t now);

/* Dependents of a finished job: started when it completed, failed when not. */
static void job_children(sc_core *c, sc_job *p, int64_t now)
{
	for (size_t i = 0; i < c->njobs; i++) {
		sc_job *j = c->jobs[i];
		for (size_t k = 0; k < j->nparents; k++) {
			if (strcmp(j->parents[k], p->id) != 0)
				continue;
			free(j->parents[k]);
			j->parents[k] = j->parents[--j->nparents];
			if (p->state != JOB_COMPLETED && j->state <= JOB_RUNNING) {
				char *why = xasprintf("dependency %s %s", p->id,
						      sc_job_state_names[p->state]);
				job_close(c, j, JOB_FAILED, why, now);
				free(why);
			} else if (!j->nparents) {
				/* Runnable from now: its queue wait starts here (once per job). */
				int64_t us = mono_us();
				for (uint32_t x = 0; x < j->nchunks; x++)
					if (j->ck[x].state == CK_PENDING)
						j->ck[x].pending_us = us;
			}
			break;
		}
	}
}

/* Ends a job that did not complete: open chunks are cancelled (running
 * ones are told to stop through heartbeats: sc_heartbeat). */
static void job_close(sc_core *c, sc_job *j, int st, const char *reason, int64_t now)
{
	for (uint32_t idx = 0; idx < j->nchunks; idx++) {
		sc_chunk *ck = &j->ck[idx];
		if (ck->state == CK_RUNNING) {
			const sc_node *n = c->nodes[ck->node];
			release(c, j, idx);
			attempt_end(c, j, idx, n->id, "cancelled", reason, NULL, now);
		}
		if (ck->state == CK_RUNNING || ck->state == CK_PENDING)
			set_state(c, j, idx, CK_CANCELLED);
	}
	q_clear(j);
	j->finished_at = now;
	owner_drop_job(c, j);
	job_set(c, j, st, reason, 1, now);
	job_children(c, j, now);
}

/* Counts one completion of owner's at now (unix ms). */
static void tp_add(sc_core *c, const char *owner, int64_t now)
{
	sc_tp *t = NULL;
	for (size_t i = 0; i < c->ntp && !t; i++)
		if (strcmp(c->tp[i].owner, owner) == 0)
			t = &c->tp[i];
	if (!t) {
		c->tp = xrealloc(c->tp, (c->ntp + 1) * sizeof *c->tp);
		t = &c->tp[c->ntp++];
		memset(t, 0, sizeof *t);
		sn_strlcpy(t->owner, owner, sizeof t->owner);
	}
	int64_t m = now / 60000;
	size_t slot = (size_t)(m % SC_TP_MINUTES);
	if (t->minute[slot] != m) {
		t->minute[slot] = m;
		t->count[slot] = 0;
	}
	t->count[slot]++;
}

void sc_throughput(const sc_core *c, const char *owner, int64_t now,
		   uint64_t out[SC_TP_MINUTES], int64_t *first_ms)
{
	int64_t last = now / 60000, first = last - SC_TP_MINUTES + 1;
	memset(out, 0, SC_TP_MINUTES * sizeof *out);
	for (size_t i = 0; i < c->ntp; i++) {
		const sc_tp *t = &c->tp[i];
		if (owner && strcmp(t->owner, owner) != 0)
			continue;
		for (size_t s = 0; s < SC_TP_MINUTES; s++)
			if (t->minute[s] >= first && t->minute[s] <= last)
				out[t->minute[s] - first] += t->count[s];
	}
	*first_ms = first * 60000;
}

int sc_result(sc_core *c, const char *node, const char *job, uint32_t idx, uint32_t attempt,
	      sc_report *rep, int64_t now, uint64_t *wait_seq)
{
	sc_job *j = sc_job_find(c, job);
	if (!j || idx >= j->nchunks)
		return SC_UNKNOWN;
	sc_chunk *ck = &j->ck[idx];
	if (ck->attempt == attempt && ck->reported && ck->state != CK_RUNNING) {
		*wait_seq = ck->done_seq;
		return SC_DUPLICATE;
	}
	if (ck->state != CK_RUNNING || ck->attempt != attempt ||
	    strcmp(c->nodes[ck->node]->id, node) != 0)
		return SC_LEASE_LOST;
	release(c, j, idx);
	ck->reported = 1;
	if (rep->completed) {
		set_state(c, j, idx, CK_COMPLETED);
		tp_add(c, j->owner, now);
		sc_op *o = op_new(c, OP_COMPLETE, j, idx);
		sn_strlcpy(o->node, node, sizeof o->node);
		o->started_at = ck->started_at;
		o->at = now;
		o->iterations = sc_chunk_iterations(j, idx);
		o->result = xstrdup(rep->result);
		o->sandbox = xstrdup(rep->sandbox);
		o->artifacts = xstrdup(rep->artifacts);
		o->has_output = rep->has_output;
		o->stats = rep->stats;
		memset(&rep->stats, 0, sizeof rep->stats);
		o->jobp = j;
		o->job_done = j->count[CK_COMPLETED] == j->nchunks;
		if (!o->job_done)
			job_progress(c, j, mono_us());
		if (o->job_done) {
			j->state = JOB_COMPLETED;
			j->finished_at = now;
			owner_drop_job(c, j);
			job_event(c, j);
			job_children(c, j, now);
		}
		*wait_seq = ck->done_seq = o->seq;
		return SC_ACCEPTED;
	}
	ck->failures++;
	const char *reason = rep->reason && *rep->reason ? rep->reason : "failed";
	attempt_end(c, j, idx, node, "failed", reason, rep->sandbox, now);
	if (rep->error && *rep->error) {
		char *line = xasprintf("sentinel: attempt %u failed (%s): %s", attempt, reason,
				       rep->error);
		log_line(c, j, idx, 0, line);
		free(line);
	}
	if (ck->failures >= j->max_attempts) {
		set_state(c, j, idx, CK_FAILED);
		chunk_op(c, j, idx);
		chunk_event(c, j, idx, reason);
		char *why = xasprintf("chunk %u failed after %u attempts: %s%s%s", idx, ck->failures,
				      reason, rep->error ? ": " : "", rep->error ? rep->error : "");
		job_close(c, j, JOB_FAILED, why, now);
		free(why);
	} else {
		to_pending(c, j, idx);
		chunk_event(c, j, idx, reason);
		job_progress(c, j, mono_us());
	}
	*wait_seq = ck->done_seq = c->seq;
	return SC_ACCEPTED;
}

void sc_heartbeat(sc_core *c, const char *node, const char *const *running, size_t n,
		  int64_t now, json_t *cancel, json_t *lost)
{
	sc_node *nd = sc_node_get(c, node);
	for (size_t i = 0; i < n; i++) {
		char job[24];
		uint32_t idx;
		sc_job *j = NULL;
		if (sc_chunk_id_parse(running[i], job, &idx) == 0)
			j = sc_job_find(c, job);
		sc_chunk *ck = j && idx < j->nchunks ? &j->ck[idx] : NULL;
		json_t *to = lost;
		if (ck && ck->state == CK_RUNNING && c->nodes[ck->node] == nd) {
			ck->lease_until = now + c->lease_ms;
			continue;
		}
		if (ck && ck->state == CK_COMPLETED)
			continue; /* its result is in; a heartbeat may cross it */
		if (ck && (ck->state == CK_CANCELLED || j->state == JOB_CANCELLED ||
			   j->state == JOB_FAILED))
			to = cancel;
		if (json_array_append_new(to, json_string(running[i])))
			log_warn("sched: heartbeat reply list");
	}
}

size_t sc_reap(sc_core *c, int64_t now)
{
	size_t lost = 0;
	for (size_t i = 0; i < c->nnodes; i++) {
		sc_node *n = c->nodes[i];
		int alive = n->info && c->online(c->online_ctx, n->info, now);
		for (size_t k = n->nheld; k-- > 0;) {
			sc_held h = n->held[k];
			if (alive && h.job->ck[h.idx].lease_until >= now)
				continue;
			/* lose() moves the last entry (already seen) into slot k. */
			lose(c, h.job, h.idx, alive ? "lease_expired" : "lost_node", now);
			lost++;
		}
	}
	return lost;
}

sc_job *sc_job_find(sc_core *c, const char *id)
{
	if (!c->jcap)
		return NULL;
	for (size_t i = id_hash(id) & (c->jcap - 1); c->jidx[i]; i = (i + 1) & (c->jcap - 1))
		if (strcmp(c->jidx[i]->id, id) == 0)
			return c->jidx[i];
	return NULL;
}

void sc_add_job(sc_core *c, sc_job *j, int64_t now)
{
	int64_t us = mono_us();
	/* The pending tail is the range; pending chunks before it (after a
	 * restart: lost, failed, retried ones) go to the ring. */
	j->fresh = j->nchunks;
	while (j->fresh > 0 && j->ck[j->fresh - 1].state == CK_PENDING)
		j->fresh--;
	j->rqlen = j->rqhead = 0;
	for (uint32_t i = 0; i < j->nchunks; i++) {
		sc_chunk *ck = &j->ck[i];
		j->count[ck->state]++;
		c->count[ck->state]++;
		if (ck->state == CK_PENDING) {
			ck->pending_us = us;
			ck->node = -1;
			if (i < j->fresh)
				q_push(j, i);
		} else if (ck->state != CK_RUNNING) {
			ck->node = -1;
		}
	}
	if (j->nblobs > 1)
		qsort(j->blobs, j->nblobs, sizeof *j->blobs, cmp_str);
	if (c->njobs == c->capjobs) {
		c->capjobs = c->capjobs ? 2 * c->capjobs : 16;
		c->jobs = xrealloc(c->jobs, c->capjobs * sizeof *c->jobs);
	}
	c->jobs[c->njobs++] = j;
	if (2 * (c->njobs + 1) > c->jcap)
		jidx_rebuild(c);
	else
		jidx_put(c->jidx, c->jcap, j);
	if (j->state <= JOB_RUNNING)
		owner_add_job(c, j);
	else if (!j->finished_at)
		j->finished_at = now;
	/* A parent already gone from memory has finished: the caller keeps
	 * only unfinished ones (sched_store.c), so nothing waits forever. */
}

void sc_adopt_running(sc_core *c, sc_job *j, uint32_t idx, const char *node, int64_t lease_until)
{
	sc_node *n = sc_node_get(c, node);
	sc_chunk *ck = &j->ck[idx];
	ck->node = node_index(c, n);
	ck->lease_until = lease_until;
	hold(n, j, idx);
	n->gpus_held += j->gpus;
}

int sc_cancel(sc_core *c, const char *id, int64_t now)
{
	sc_job *j = sc_job_find(c, id);
	if (!j)
		return -ENOENT;
	if (j->state > JOB_RUNNING)
		return -EALREADY;
	job_close(c, j, JOB_CANCELLED, "cancelled", now);
	return 0;
}

int sc_retry(sc_core *c, const char *id, int64_t now)
{
	sc_job *j = sc_job_find(c, id);
	if (!j)
		return -ENOENT;
	if (j->state != JOB_FAILED && j->state != JOB_CANCELLED)
		return -EALREADY;
	if (j->nparents)
		return -EPERM;
	int64_t us = mono_us();
	for (uint32_t idx = 0; idx < j->nchunks; idx++) {
		sc_chunk *ck = &j->ck[idx];
		if (ck->state != CK_FAILED && ck->state != CK_CANCELLED)
			continue;
		set_state(c, j, idx, CK_PENDING);
		ck->failures = 0;
		ck->pending_us = us;
		q_push(j, idx);
	}
	j->finished_at = 0;
	owner_add_job(c, j);
	job_set(c, j, j->count[CK_COMPLETED] ? JOB_RUNNING : JOB_PENDING, NULL, 2, now);
	return 0;
}

int sc_log(sc_core *c, const char *node, const char *job, uint32_t idx, uint32_t attempt,
	   int stream, const char *text, size_t len, int64_t now)
{
	(void)now;
	sc_job *j = sc_job_find(c, job);
	sc_chunk *ck = j && idx < j->nchunks ? &j->ck[idx] : NULL;
	if (!ck || ck->state != CK_RUNNING || ck->attempt != attempt ||
	    strcmp(c->nodes[ck->node]->id, node) != 0)
		return -ESTALE;
	if (ck->log_capped)
		return -EFBIG;
	if ((uint64_t)ck->log_bytes + len > c->log_max) {
		ck->log_capped = 1;
		log_line(c, j, idx, 0, "sentinel: the log reached its cap; the rest is dropped");
		return -EFBIG;
	}
	ck->log_bytes += (uint32_t)len;
	char *t = xstrndup(text, len);
	log_line(c, j, idx, stream, t);
	free(t);
	return 0;
}

void sc_gc_jobs(sc_core *c, uint64_t durable, int64_t now)
{
	size_t before = c->njobs;
	for (size_t i = 0; i < c->njobs;) {
		sc_job *j = c->jobs[i];
		if (j->state <= JOB_RUNNING || j->last_seq > durable || j->count[CK_RUNNING] ||
		    j->finished_at + SC_GC_GRACE_MS > now) {
			i++;
			continue;
		}
		for (int s = 0; s < CK_NSTATES; s++)
			c->count[s] -= j->count[s];
		if (j->ev_dirty)
			c->ev_dirty--;
		c->jobs[i] = c->jobs[--c->njobs];
		sc_job_free(j);
	}
	if (c->njobs != before)
		jidx_rebuild(c);
}

void sc_check(const sc_core *c)
{
#ifndef NDEBUG
	uint64_t total[CK_NSTATES] = { 0 };
	for (size_t i = 0; i < c->njobs; i++) {
		const sc_job *j = c->jobs[i];
		uint32_t cnt[CK_NSTATES] = { 0 };
		for (uint32_t k = 0; k < j->nchunks; k++) {
			const sc_chunk *ck = &j->ck[k];
			cnt[ck->state]++;
			assert((ck->state == CK_RUNNING) == (ck->node >= 0));
			if (ck->state == CK_RUNNING) {
				/* Its slot names it; a slot names one chunk, so once. */
				const sc_node *n = c->nodes[ck->node];
				assert(ck->hpos < n->nheld && n->held[ck->hpos].job == j &&
				       n->held[ck->hpos].idx == k);
			}
		}
		/* The range and the ring: pending chunks only, each once. */
		uint8_t *seen = xcalloc(j->nchunks ? j->nchunks : 1, 1);
		for (uint32_t k = j->fresh; k < j->nchunks; k++) {
			assert(j->ck[k].state == CK_PENDING);
			seen[k] = 1;
		}
		for (uint32_t q = 0; q < j->rqlen; q++) {
			uint32_t idx = j->rq[(j->rqhead + q) % j->rqcap];
			assert(idx < j->nchunks && j->ck[idx].state == CK_PENDING && !seen[idx]);
			seen[idx] = 1;
		}
		free(seen);
		assert(sc_queued(j) == cnt[CK_PENDING]);
		assert(sc_job_find((sc_core *)c, j->id) == j);
		for (int s = 0; s < CK_NSTATES; s++) {
			assert(cnt[s] == j->count[s]);
			total[s] += cnt[s];
		}
		assert((j->state == JOB_COMPLETED) == (cnt[CK_COMPLETED] == j->nchunks));
	}
	for (int s = 0; s < CK_NSTATES; s++)
		assert(total[s] == c->count[s]);
	for (size_t i = 0; i < c->nnodes; i++) {
		const sc_node *n = c->nodes[i];
		int gpus = 0;
		for (size_t h = 0; h < n->nheld; h++) {
			const sc_job *j = n->held[h].job;
			assert(j->ck[n->held[h].idx].state == CK_RUNNING);
			assert(j->ck[n->held[h].idx].node == (int32_t)i);
			assert(j->ck[n->held[h].idx].hpos == h);
			gpus += j->gpus;
		}
		assert(gpus == n->gpus_held);
	}
#else
	(void)c;
#endif
}

/* ---- the scheduler: threads, node facts, events, metrics ---- */

/* A node's silence counts from the later of its last beat and this
 * scheduler's start (the server's start, or its taking of the lead): a
 * server that was down or a leader that hung must not make every node lost
 * the moment the next one starts (Slurm counts SlurmdTimeout from the
 * controller's start alike). The nodes' own state still says "offline". */
static int online_fn(void *ctx, const node_info *n, int64_t now)
{
	const sched *s = ctx;
	int64_t seen = n->last_heartbeat_ms;
	if (seen > 0 && seen < s->started_ms)
		seen = s->started_ms;
	return node_online(s->nodes, seen, now);
}

static void publish(void *ctx, const char *topic, const char *owner, const char *json)
{
	hub_publish_owned(ctx, topic, owner, json);
}

void sched_refresh_nodes(sched *s)
{
	node_info *v = NULL;
	size_t n = 0;
	if (!s->snap_dirty && s->snap)
		return;
	if (node_snapshot(s->nodes, &v, &n)) {
		log_warn("sched: no node snapshot; keeping the last one");
		return;
	}
	sc_set_nodes(&s->core, v, n);
	node_snapshot_free(&s->snap, s->nsnap);
	s->snap = v;
	s->nsnap = n;
	s->snap_dirty = 0;
}

/* The HTTP server closes the hub as it stops (http_server_stop): long
 * polls and log followers must end then, or they would hold its grace
 * period. hub_next on a closed hub answers -EPIPE at once. mu held. */
static void quiesce_check(sched *s)
{
	uint64_t cur = hub_last_id(s->events);
	char *t = NULL, *d = NULL;
	pthread_mutex_unlock(&s->mu);
	int rc = hub_next(s->events, "\x01", &cur, 0, &t, &d);
	pthread_mutex_lock(&s->mu);
	free(t);
	free(d);
	if (rc != -EPIPE)
		return;
	s->quiesce = 1;
	for (size_t i = 0; i < s->core.nnodes; i++)
		pthread_cond_broadcast(&s->core.nodes[i]->cv);
	pthread_cond_broadcast(&s->lcv);
}

static void deadline_after_us(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += us / 1000000;
	ts->tv_nsec += (us % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The one reaper: takes back the chunks of offline nodes and expired
 * leases twice a second (leases and node_timeout are whole seconds), and
 * at once when a node changed (s->kick). Between, it wakes every
 * SC_EVENT_US only while a job's progress waits to be announced. Hourly it
 * removes old unreferenced configs. */
/* Retention of configs, on the node clock (SENTINEL_TEST_CLOCK_SKEW_MS
 * ages them in tests). Without s->mu: it is a store write. */
static void configs_gc(sched *s)
{
	int64_t n = 0;
	int rc = sched_configs_gc(s->st, node_now_ms(s->nodes) - SCHED_CONFIG_TTL_MS, &n);
	if (rc)
		log_warn("sched: cannot remove old configs (%d); next try in an hour", rc);
	else if (n)
		log_info("sched: removed %lld configs no job references", (long long)n);
}

static void *reaper_main(void *arg)
{
	sched *s = arg;
	int64_t next = 0, next_gc = mono_us() + SCHED_CONFIG_GC_US;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		int64_t now_us = mono_us();
		if (now_us >= next_gc) {
			next_gc = now_us + SCHED_CONFIG_GC_US;
			pthread_mutex_unlock(&s->mu);
			configs_gc(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		if (now_us >= next || s->kick) {
			s->kick = 0;
			next = now_us + 500000;
			if (s->events && !s->quiesce)
				quiesce_check(s);
			s->snap_dirty = 1;
			sched_refresh_nodes(s);
			int64_t now = node_now_ms(s->nodes);
			if (sc_reap(&s->core, now) || s->core.nowners)
				sc_dispatch(&s->core, now);
			sc_gc_jobs(&s->core, s->durable, now);
			if (s->core.ops)
				pthread_cond_signal(&s->wcv);
#ifndef NDEBUG
			sc_check(&s->core);
#endif
		}
		int64_t wait = next - mono_us();
		if (sc_events_flush(&s->core, mono_us()) && wait > SC_EVENT_US / 2)
			wait = SC_EVENT_US / 2;
		struct timespec ts;
		deadline_after_us(&ts, wait > 0 ? wait : 0);
		if (!s->kick && !s->stopping)
			pthread_cond_timedwait(&s->rcv, &s->mu, &ts);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* A slow store, for the tests of what reads the store after an event:
 * the writer waits this long before each batch (events go out at once). */
static int env_write_delay(void)
{
	long long v;
	if (!sn_env_int("SENTINEL_TEST_SCHED_WRITE_DELAY_MS", 1, 10000, &v))
		return 0;
	log_warn("sched: SENTINEL_TEST_SCHED_WRITE_DELAY_MS delays every write by %lld ms"
		 " (tests only)", v);
	return (int)v;
}

int sched_new(store *st, hub *events, blob_store *blobs, node_reg *nodes,
	      const sched_config *cfg, sched **out)
{
	sched *s = xcalloc(1, sizeof *s);
	s->cfg = *cfg;
	s->st = st;
	s->events = events;
	s->blobs = blobs;
	s->nodes = nodes;
	s->started_ms = node_now_ms(nodes);
	s->write_delay_ms = env_write_delay();
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->wcv, NULL);
	pthread_cond_init(&s->dcv, NULL);
	pthread_cond_init(&s->rcv, NULL);
	pthread_cond_init(&s->lcv, NULL);
	sc_core_init(&s->core, cfg->lease_ms, cfg->chunk_log_max);
	s->core.online = online_fn;
	s->core.online_ctx = s;
	int rc = 0;
	if (events && ((rc = hub_declare(events, "job", HUB_OWNER)) ||
		       (rc = hub_declare(events, "chunk", HUB_OWNER))))
		goto fail;
	if (events) {
		s->core.event = publish;
		s->core.event_ctx = events;
	}
	if ((rc = sched_load(s)))
		goto fail;
	configs_gc(s); /* at start; then hourly on the reaper */
	const node_listener l = { sched_hb, sched_node_changed, s };
	node_reg_listen(nodes, &l);
	if ((rc = -pthread_create(&s->writer, NULL, sched_writer_main, s)))
		goto fail;
	s->writer_started = 1;
	if ((rc = -pthread_create(&s->reaper, NULL, reaper_main, s)))
		goto fail;
	s->reaper_started = 1;
	*out = s;
	return 0;
fail:
	sched_free(&s);
	return rc;
}

void sched_free(sched **sp)
{
	sched *s = *sp;
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	pthread_cond_broadcast(&s->wcv);
	pthread_cond_broadcast(&s->rcv);
	pthread_cond_broadcast(&s->lcv);
	pthread_cond_broadcast(&s->dcv);
	for (size_t i = 0; i < s->core.nnodes; i++)
		pthread_cond_broadcast(&s->core.nodes[i]->cv);
	pthread_mutex_unlock(&s->mu);
	if (s->reaper_started)
		pthread_join(s->reaper, NULL);
	if (s->writer_started)
		pthread_join(s->writer, NULL);
	sc_core_release(&s->core);
	node_snapshot_free(&s->snap, s->nsnap);
	pthread_cond_destroy(&s->wcv);
	pthread_cond_destroy(&s->dcv);
	pthread_cond_destroy(&s->rcv);
	pthread_cond_destroy(&s->lcv);
	pthread_mutex_destroy(&s->mu);
	xfree(sp);
}

size_t sched_routes(sched *s, http_route *out, size_t max)
{
	size_t n = sched_job_routes(s, out, max);
	return n + sched_http_routes(s, out + n, max - n);
}

static void hist_print(buf *out, const char *name, const char *help, const sc_hist *h)
{
	uint64_t cum = 0;
	buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int b = 0; b < SC_LAT_NB; b++) {
		cum += h->bucket[b];
		if (sc_lat_bounds_us[b] == INT64_MAX)
			buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
		else
			buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
				   (double)sc_lat_bounds_us[b] / 1e6, (unsigned long long)cum);
	}
	buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, (double)h->sum_us / 1e6, name,
		   (unsigned long long)h->n);
}

void sched_metrics(sched *s, buf *out)
{
	pthread_mutex_lock(&s->mu);
	buf_printf(out, "# HELP sentinel_sched_chunks Chunks of the jobs in memory, by state.\n"
			"# TYPE sentinel_sched_chunks gauge\n");
	for (int k = 0; k < CK_NSTATES; k++)
		buf_printf(out, "sentinel_sched_chunks{state=\"%s\"} %llu\n", sc_ck_state_names[k],
			   (unsigned long long)s->core.count[k]);
	hist_print(out, "sentinel_sched_assign_latency_seconds",
		   "From assignable (pending, and an eligible node with a free slot polling) to in"
		   " the node's hands (its work reply).", &s->core.lat);
	hist_print(out, "sentinel_sched_queue_wait_seconds",
		   "From pending to assigned to a node (in a burst, mostly the wait for a free"
		   " slot).", &s->core.qwait);
	buf_printf(out, "# HELP sentinel_sched_write_batches_total Store transactions of the"
			" scheduler's writer.\n# TYPE sentinel_sched_write_batches_total counter\n"
			"sentinel_sched_write_batches_total %llu\n"
			"# HELP sentinel_sched_write_ops_total Writes made durable by the writer.\n"
			"# TYPE sentinel_sched_write_ops_total counter\nsentinel_sched_write_ops_total %llu\n"
			"# HELP sentinel_sched_write_errors_total Writer batches that failed.\n"
			"# TYPE sentinel_sched_write_errors_total counter\n"
			"sentinel_sched_write_errors_total %llu\n",
		   (unsigned long long)s->write_batches, (unsigned long long)s->write_ops,
		   (unsigned long long)s->write_errors);
	pthread_mutex_unlock(&s->mu);
}
