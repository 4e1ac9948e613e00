/* Internals of the scheduler: the in-memory core (sched.c), the store
 * writer and loader (sched_store.c), the routes (sched_http.c) and the
 * statistics (sched_stats.c). The core knows no store, no HTTP and no
 * registry: it is fed node snapshots as plain arrays and emits the store
 * writes it decides as ops, so test_sched.c drives it alone. */
#ifndef SN_SCHED_INT_H
#define SN_SCHED_INT_H
#include <pthread.h>
#include <stdint.h>
#include <jansson.h>
#include "sched/sched.h"

/* ---- statistics (sched_stats.c) ---- */
#define SC_STAT_NAME_MAX 64
#define SC_STATS_MAX 64 /* named stats in one result */

typedef struct sc_stat {
	char name[SC_STAT_NAME_MAX];
	double n, mean, m2, min, max;
} sc_stat;

typedef struct sc_stats {
	sc_stat *v;
	size_t n;
} sc_stats;

/* Chan et al.'s parallel merge of b into a (n, mean, m2, min, max). */
void sc_stat_merge(sc_stat *a, const sc_stat *b);
/* Merges every stat of b into a (by name; new names appended). */
void sc_stats_merge(sc_stats *a, const sc_stats *b);
void sc_stats_release(sc_stats *s);
/* Reads {"stats":{name:{n,mean,m2,min,max}}} or {"samples":{name:[x…]}}
 * (summarised here) from a result object (NULL: no stats). -EINVAL with a
 * message in err for a malformed one. */
int sc_stats_from_result(const json_t *result, sc_stats *out, char *err, size_t errlen);
/* {name:{n,mean,m2,std,min,max}}; std is sqrt(m2/(n-1)) (null below 2). */
json_t *sc_stats_json(const sc_stats *s);
/* Parses what sc_stats_json wrote (the stored job stats). */
int sc_stats_parse(const char *text, sc_stats *out);

/* ---- the core (sched.c) ---- */
enum sc_ck_state { CK_PENDING, CK_RUNNING, CK_COMPLETED, CK_FAILED, CK_CANCELLED, CK_NSTATES };
enum sc_job_state { JOB_PENDING, JOB_RUNNING, JOB_COMPLETED, JOB_FAILED, JOB_CANCELLED };
enum sc_access { SC_PRIVATE, SC_PUBLIC, SC_LIST };

extern const char *const sc_ck_state_names[CK_NSTATES];
extern const char *const sc_job_state_names[5];

typedef struct sc_chunk {
	uint8_t state;      /* enum sc_ck_state */
	uint8_t reported;   /* the attempt ended by a result (duplicates are answered) */
	uint8_t log_capped; /* the attempt's log reached the cap */
	uint16_t failures;  /* program failures, counted against max_attempts */
	uint32_t attempt;   /* the current (running) or last attempt; 0: none yet */
	int32_t node;       /* index in the core's node table while RUNNING, else -1 */
	uint32_t log_bytes; /* of the current attempt (saturating) */
	uint32_t hpos;      /* its index in its node's held list while RUNNING */
	int64_t lease_until;
	int64_t started_at; /* ms its current (or last) attempt was assigned */
	int64_t pending_us; /* monotonic µs it became pending (runnable): queue wait from here */
	uint64_t done_seq;  /* the op that ended the attempt; durable once written */
} sc_chunk;

typedef struct sc_job {
	char id[24];
	char owner[48];
	char name[130];
	int state;            /* enum sc_job_state */
	int priority;
	int64_t created_at;
	int64_t total_iterations; /* -1: iterations unused (one chunk) */
	int64_t chunk_size;
	uint32_t nchunks;
	int max_attempts;
	int gpus;             /* per chunk */
	int access;           /* enum sc_access */
	char **users;  size_t nusers;  /* SC_LIST: node owners allowed */
	char **groups; size_t ngroups; /* SC_LIST: node permitted to one of these */
	char **owner_groups; size_t nowner_groups; /* the owner's group ids */
	char **pins;   size_t npins;   /* "name\tmanifest" node-local datasets */
	char **blobs;  size_t nblobs;  /* sorted: what its nodes may fetch */
	char **inputs; size_t ninputs; /* input blobs, for locality */
	char **parents; size_t nparents; /* unfinished dependencies */
	char *tmpl;           /* the chunk JSON's fixed members, "{…}" */
	sc_chunk *ck;
	/* Its PENDING chunks: [fresh, nchunks), all pending (a new job is one
	 * range, not a list of its chunks), then the ring rq of those pending
	 * again (lost, failed with attempts left, retried; taken first). */
	uint32_t fresh;
	uint32_t *rq;
	uint32_t rqhead, rqlen, rqcap;
	uint32_t count[CK_NSTATES];
	uint64_t log_seq;     /* last chunk_logs seq used */
	int64_t completed_iterations; /* writer-owned: mirrors the store */
	sc_stats stats;       /* writer-owned: the merged stats as committed */
	uint64_t last_seq;    /* its latest op */
	int64_t finished_at;  /* ms, 0 while active */
	int64_t ev_us;        /* monotonic µs of its last job event */
	int ev_dirty;         /* progress not yet announced (coalesced: SC_EVENT_US) */
} sc_job;

/* A node as the core tracks it: its facts come from the latest snapshot. */
typedef struct sc_held {
	sc_job *job;
	uint32_t idx;
	int64_t ready_us;      /* outbox: when it became assignable to this node */
} sc_held;

typedef struct sc_node {
	char id[32];
	const node_info *info; /* in the current snapshot, or NULL */
	int polling;           /* /work requests waiting */
	int want, want_gpus;   /* what the waiting poll asked for */
	int64_t wait_us;       /* monotonic µs its current poll began */
	int64_t room_us;       /* monotonic µs it last had a slot freed while full */
	sc_held *held;  size_t nheld, capheld;   /* RUNNING chunks it holds */
	sc_held *outbox; size_t nout, capout;    /* assigned, not yet handed over (also held) */
	int gpus_held, gpus_out;
	pthread_cond_t cv;     /* signalled when its outbox fills */
} sc_node;

typedef struct sc_owner {
	char id[48];
	sc_job **jobs; size_t njobs; /* active, by priority then age */
} sc_owner;

/* Store writes the core decides, in order; sched_store.c applies them. */
enum sc_op_kind {
	OP_ASSIGN,    /* chunk running on node, attempt started */
	OP_COMPLETE,  /* chunk completed; job iterations and stats merged */
	OP_ATTEMPT,   /* attempt ended without completing (failed, lost, cancelled) */
	OP_CHUNK,     /* chunk state (pending/failed/cancelled), failures */
	OP_JOB,       /* job state and reason */
	OP_LOG,       /* one log line */
};

typedef struct sc_op {
	struct sc_op *next;
	enum sc_op_kind kind;
	uint64_t seq;
	char job[24];
	uint32_t idx, attempt;
	int state;            /* chunk or job state; OP_LOG: stream */
	int failures;
	int flag;             /* OP_JOB: 1 closes open chunks, 2 reopens failed ones */
	char node[32];        /* OP_ASSIGN, OP_COMPLETE, OP_ATTEMPT: the attempt's node */
	int64_t at, lease_until;
	int64_t started_at;   /* OP_COMPLETE, OP_ATTEMPT: when the attempt was assigned */
	int64_t iterations;
	char *reason;         /* OP_ATTEMPT / OP_JOB; OP_LOG: the text */
	char *sandbox;        /* JSON text or NULL */
	char *result;         /* OP_COMPLETE: the chunk's result JSON text */
	char *artifacts;      /* OP_COMPLETE: JSON array text or NULL */
	sc_stats stats;       /* OP_COMPLETE: the chunk's stats */
	int has_output;       /* OP_COMPLETE: the result has an "output" */
	sc_job *jobp;         /* OP_COMPLETE: for the writer-owned job fields */
	int job_done;         /* OP_COMPLETE: the job completes with it */
} sc_op;

typedef int (*sc_online_fn)(void *ctx, const node_info *n, int64_t now);

/* A latency histogram (µs buckets, sc_lat_bounds_us; the last is +Inf). */
#define SC_LAT_NB 18
typedef struct sc_hist {
	uint64_t n, sum_us, bucket[SC_LAT_NB];
} sc_hist;
extern const int64_t sc_lat_bounds_us[SC_LAT_NB];

/* A job's progress (chunk counts) is announced at most once per this
 * many µs; state changes at once. 100,000 chunk events would flush the
 * hub's ring (4,096 events) and cost a publish per chunk. */
#define SC_EVENT_US 100000

/* Chunks completed per minute over the last SC_TP_MINUTES, per job owner:
 * slot m % SC_TP_MINUTES counts minute m (unix ms / 60,000) when
 * minute[slot] == m; an older minute there counts as 0. In memory only:
 * a restart starts from zero. */
#define SC_TP_MINUTES 60
typedef struct sc_tp {
	char owner[48];
	int64_t minute[SC_TP_MINUTES];
	uint32_t count[SC_TP_MINUTES];
} sc_tp;

typedef struct sc_core {
	int64_t lease_ms;
	uint64_t log_max;
	sc_online_fn online;  /* the one definition (node_online) */
	void *online_ctx;
	sc_job **jobs; size_t njobs, capjobs;  /* active and recently finished */
	sc_job **jidx; size_t jcap;           /* open-addressed index of jobs by id */
	sc_owner *owners; size_t nowners;
	size_t rr;            /* round-robin cursor over owners */
	sc_node **nodes; size_t nnodes, capnodes; /* never freed before the core */
	sc_node **cand;       /* sc_dispatch's scratch: nodes with room (capnodes) */
	const node_info *snap; size_t nsnap;
	sc_op *ops, **ops_tail; /* to write, in order */
	uint64_t seq;         /* last op seq given */
	uint64_t count[CK_NSTATES];
	/* assignment latency: assignable (pending, and an eligible node with
	 * room waiting) -> in the node's hands (the /work reply); queue wait:
	 * pending -> assigned (in a burst, mostly the wait for a free slot) */
	sc_hist lat, qwait;
	size_t ev_dirty;      /* jobs with progress not yet announced */
	void (*event)(void *ctx, const char *topic, const char *owner, const char *json);
	void *event_ctx;
	sc_tp *tp; size_t ntp;  /* completions per minute, an entry per owner */
} sc_core;

/* Outcomes of sc_result. */
enum { SC_ACCEPTED = 1, SC_DUPLICATE = 2, SC_LEASE_LOST = 3, SC_UNKNOWN = 4 };

typedef struct sc_report {
	int completed;        /* else failed */
	const char *reason;   /* failed: "failed", "time", "memory"… */
	const char *error;    /* failed: the agent's message */
	const char *result;   /* completed: the result JSON text */
	const char *sandbox;  /* JSON text or NULL */
	const char *artifacts; /* JSON array text or NULL */
	int has_output;       /* completed: the result has an "output" */
	sc_stats stats;       /* completed: taken by the core */
} sc_report;

void sc_core_init(sc_core *c, int64_t lease_ms, uint64_t log_max);
void sc_core_release(sc_core *c);
/* Chunks completed in each of the SC_TP_MINUTES minutes up to and with
 * the one holding now (oldest first), of owner's jobs (NULL: everyone's).
 * out[0] counts the minute starting at *first_ms. */
void sc_throughput(const sc_core *c, const char *owner, int64_t now,
		   uint64_t out[SC_TP_MINUTES], int64_t *first_ms);
/* Replaces the node facts (the array must stay valid until the next call);
 * nodes missing from it lose their leases at the next sc_reap. */
void sc_set_nodes(sc_core *c, const node_info *v, size_t n);
sc_node *sc_node_get(sc_core *c, const char *id);
/* Adds a job (taken); its pending chunks become assignable unless it
 * waits for parents. */
void sc_add_job(sc_core *c, sc_job *j, int64_t now);
sc_job *sc_job_find(sc_core *c, const char *id);
/* A chunk loaded as RUNNING (after a restart) goes back to its node,
 * with its lease. */
void sc_adopt_running(sc_core *c, sc_job *j, uint32_t idx, const char *node, int64_t lease_until);
void sc_job_free(sc_job *j);
/* Assigns pending chunks to polling nodes; returns how many. */
size_t sc_dispatch(sc_core *c, int64_t now);
/* A /work long poll of n begins (asking for want chunks and gpus) or
 * ends; sc_handed records the assignment latency of the first k chunks of
 * its outbox and takes them out (they are in the node's hands); the rest
 * stay for its next poll. */
void sc_poll_begin(sc_core *c, sc_node *n, int want, int gpus);
void sc_poll_end(sc_core *c, sc_node *n);
void sc_handed(sc_core *c, sc_node *n, size_t k);
/* Announces the coalesced progress of jobs whose SC_EVENT_US window has
 * passed at now_us (monotonic); returns how many jobs still wait. */
size_t sc_events_flush(sc_core *c, int64_t now_us);
/* Pending chunks of j not yet assigned. */
uint32_t sc_queued(const sc_job *j);
/* A result of chunk (job, idx, attempt) from node. On SC_ACCEPTED or
 * SC_DUPLICATE, *wait_seq is the op the caller waits for before replying. */
int sc_result(sc_core *c, const char *node, const char *job, uint32_t idx, uint32_t attempt,
	      sc_report *rep, int64_t now, uint64_t *wait_seq);
/* Renews the leases of the chunks node reports; appends to cancel and
 * lost (json arrays) the ids the node must stop. */
void sc_heartbeat(sc_core *c, const char *node, const char *const *running, size_t n,
		  int64_t now, json_t *cancel, json_t *lost);
/* Takes back the chunks of offline or vanished nodes (lost_node) and
 * those whose lease expired; returns how many. */
size_t sc_reap(sc_core *c, int64_t now);
/* -ENOENT, -EALREADY when finished. */
int sc_cancel(sc_core *c, const char *job, int64_t now);
/* Failed or cancelled chunks back to pending; -EALREADY when none. */
int sc_retry(sc_core *c, const char *job, int64_t now);
/* A log line of a running attempt: 0, -ESTALE (lease lost), -EFBIG (cap). */
int sc_log(sc_core *c, const char *node, const char *job, uint32_t idx, uint32_t attempt,
	   int stream, const char *text, size_t len, int64_t now);
/* Takes every queued op (the caller frees them with sc_op_free). */
sc_op *sc_ops_take(sc_core *c);
void sc_op_free(sc_op *o);
/* Drops jobs finished more than SC_GC_GRACE_MS before now whose ops are
 * all durable (seq <= durable): until then their nodes are told "cancel"
 * rather than "lost", and duplicates are answered from memory. */
#define SC_GC_GRACE_MS 60000
void sc_gc_jobs(sc_core *c, uint64_t durable, int64_t now);
/* Checks every invariant (debug builds assert them). */
void sc_check(const sc_core *c);
/* "jb_x-12" -> job "jb_x", index 12. -EINVAL when malformed. */
int sc_chunk_id_parse(const char *id, char job[24], uint32_t *idx);
void sc_chunk_id(const sc_job *j, uint32_t idx, char *out, size_t n);
/* Iterations and seed offset of a chunk. */
int64_t sc_chunk_iterations(const sc_job *j, uint32_t idx);
int64_t sc_chunk_seed(const sc_job *j, uint32_t idx);
/* 1 when node n may run chunks of j (access, permissions, pins). */
int sc_eligible(const sc_job *j, const node_info *n);

/* ---- the scheduler (sched.c, sched_store.c, sched_http.c) ---- */
struct sched {
	sched_config cfg;
	int64_t started_ms;  /* node_now_ms at sched_new: throughput counts from here */
	store *st;
	hub *events;
	blob_store *blobs;
	node_reg *nodes;
	pthread_mutex_t mu;
	pthread_cond_t wcv;     /* writer: ops queued, or stopping */
	pthread_cond_t dcv;     /* durable seq moved */
	pthread_cond_t rcv;     /* reaper wake */
	pthread_cond_t lcv;     /* new log lines or job state (log followers) */
	sc_core core;
	node_info *snap; size_t nsnap;
	int snap_dirty;
	uint64_t durable;       /* ops with seq <= durable are committed */
	int stopping;
	int kick;                /* a node changed: the reaper runs its pass now */
	int quiesce;             /* the HTTP server is stopping: long polls end */
	pthread_t writer, reaper;
	int writer_started, reaper_started;
	uint64_t write_batches, write_ops, write_errors;
	int write_delay_ms;       /* SENTINEL_TEST_SCHED_WRITE_DELAY_MS: tests only */
	http_stream put_stream; /* PUT /node/blobs: streamed to the blob store */
};

/* sched_store.c */
extern const store_domain sched_store_domain;
/* Loads the active jobs and their chunks into the core (at start). */
int sched_load(sched *s);
void *sched_writer_main(void *arg);
/* Waits (mu held) until seq is durable; -ETIMEDOUT after ms. */
int sched_wait_durable(sched *s, uint64_t seq, int64_t ms);
/* Waits (mu not held) until every op of job taken so far is in the store,
 * so that a reply mixing the in-memory state with store rows (chunk
 * attempts, log lines) is consistent. Bounded; gives up silently. */
void sched_job_settle(sched *s, const char *job);
/* Configs no job references are kept this long after their last upsert
 * or submit by hash (seed 002's cleanup). */
#define SCHED_CONFIG_TTL_MS ((int64_t)7 * 24 * 3600 * 1000)
/* How often the reaper runs sched_configs_gc (also once at start). */
#define SCHED_CONFIG_GC_US ((int64_t)3600 * 1000000)
/* Deletes the configs stored before cutoff_ms that no job references;
 * *removed (may be NULL) counts them. */
int sched_configs_gc(store *st, int64_t cutoff_ms, int64_t *removed);
/* Inserts a job and its chunks, deps, blobs in one transaction. */
int sched_store_job(sched *s, sc_job *j, const char *config_sha, const char *access_json,
		    const char *reason);

/* sched_http.c */
size_t sched_http_routes(sched *s, http_route *out, size_t max);
size_t sched_logs_routes(sched *s, http_route *out, size_t max);
/* sched_jobs.c */
size_t sched_job_routes(sched *s, http_route *out, size_t max);
/* Loads job id (any state) into the core; -ENOENT. mu held. */
int sched_load_job(sched *s, store_conn *c, const char *id);
/* Parses a job's stored access JSON into j. */
int sched_access_parse(sc_job *j, const char *access_json);
int sched_hb(void *ctx, const char *node_id, const json_t *body, json_t *reply);
void sched_node_changed(void *ctx, const char *node_id);
/* Refreshes the snapshot when marked dirty (mu held). */
void sched_refresh_nodes(sched *s);
#endif
