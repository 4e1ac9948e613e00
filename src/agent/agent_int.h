/* Internals shared by the agent's files. Locking: agent.mu guards every
 * mutable field of struct agent and of the chunks on its list; the worker
 * running a chunk alone touches its run state (ag_run). agent.jr.mu guards
 * the journal; it is never held while taking agent.mu (the order is mu,
 * then jr.mu). */
#ifndef SN_AGENT_INT_H
#define SN_AGENT_INT_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "agent/agent.h"
#include "base/sig.h"
#include "http/client.h"
#include "runtime/rt.h"

#define AG_MAX_GPUS 64
/* Each JSON reply of the server is small; one of a long poll for work may
 * hold up to max_parallel chunks. */
#define AG_CALL_TIMEOUT_S 30L
/* Runtimes a heartbeat reports: the server takes at most 256. */
#define AG_RUNTIMES_MAX 256

enum ag_state { AG_UNREG, AG_PENDING, AG_ONLINE, AG_REMOVED };
/* Why a running chunk is being stopped. Cancel and lost drop the result;
 * so does a hand-back (second SIGTERM). */
enum ag_stop { AG_RUN, AG_STOP_CANCEL, AG_STOP_LOST, AG_STOP_HANDBACK };

typedef struct ag_chunk {
	char *id, *job_id;
	int64_t attempt;
	json_t *spec;         /* the chunk as received */
	int cancel_pipe[2];   /* a byte in [1] stops the run (sbx_opts.cancel_fd);
			       * -1 for built-ins that only read stop */
	int stop;             /* enum ag_stop, read atomically by the run */
	int gpu[AG_MAX_GPUS]; /* indices held */
	int ngpu;
	int finished;         /* its run is done (result journalled); the work loop frees it */
	struct agent *a;
	struct ag_chunk *next;  /* agent.chunks */
	struct ag_chunk *qnext; /* agent.runq */
} ag_chunk;

/* A result in the journal (agent_journal.c). */
enum ag_rec_state {
	REC_QUEUED,     /* in memory only */
	REC_COMMITTING, /* being appended by a commit */
	REC_READY,      /* durable, to send */
	REC_INFLIGHT,   /* durable, being sent */
};
typedef struct ag_rec {
	char *chunk;
	int64_t attempt;
	char *workdir;        /* the attempt directory (artifacts), or NULL */
	json_t *body;         /* the POST …/result body; the sender alone touches it */
	size_t len;           /* bytes of its journal line: bounds a batch */
	int state;            /* enum ag_rec_state */
	int dropped;          /* lost while committing or in flight: forget it after */
	struct ag_rec *next;
} ag_rec;

typedef struct ag_journal {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;               /* journal/results.log, O_APPEND */
	uint64_t size, dead;  /* bytes in the log; of them, those of done results and marks */
	ag_rec *head, **tailp;
	size_t nqueued, nready;
	json_t *marks;        /* done marks not yet appended: [["chunk",attempt]…] */
	int64_t retry_at_ms, backoff_ms;
	int quit, started;
	uint64_t commits;     /* appends made durable (one fdatasync each) */
	pthread_t th;
} ag_journal;

typedef struct ag_local {
	char *name, *path;
	int is_file;
} ag_local;

typedef struct agent {
	agent_config cfg;
	char **servers;
	size_t nservers;
	size_t cur;            /* the server that answered last */
	/* The leading replica, as a follower told (ag_lead_learn): tried first
	 * while it answers; after a failure not taken again for a while. */
	char lead[256];
	char lead_failed[256];
	int64_t lead_retry_ms;
	unsigned lead_gen;     /* raised at each change of lead: calls to the old one end */
	uint8_t pub[SN_SIG_PUB], sec[SN_SIG_SEC];
	char node_id[32];
	char *state, *journal_dir, *cache_dir, *work_dir;
	char *name;

	pthread_mutex_t mu;
	pthread_cond_t cv;     /* state, drain, chunk completion */
	enum ag_state st;
	int draining, handback, quit;
	int stop_poll;         /* set (atomically) with draining or quit: ends a long poll */
	int64_t hb_ms;
	ag_chunk *chunks;
	int nchunks;
	int ngpus, gpu_busy[AG_MAX_GPUS];
	int claim_printed;
	/* The worker pool: built-in and script chunks run on up to
	 * max_parallel long-lived threads (noop runs inline, on no thread). */
	ag_chunk *runq, **runq_tail;
	int nrunq, nidle, nworkers, workers_quit;
	pthread_t *workers;
	pthread_cond_t wcv;
	ag_journal jr;

	json_t *datasets;      /* what register and heartbeat report */
	ag_local *locals;
	size_t nlocals;
	pthread_mutex_t cache_mu;
	/* Runtimes (agent_rt.c): rt_mu serialises image fetches; the lists are
	 * the heartbeat thread's alone. */
	pthread_mutex_t rt_mu;
	unsigned long rt_fetches;  /* images fetched and unpacked (atomic) */
	json_t *rt_names, *rt_shas; /* heartbeat "runtimes"; images' sha256 */
	int64_t rt_key;            /* mtime (ns) of runtimes/names/ they were read at */
} agent;

/* ---- agent_http.c: signed requests, fail-over between servers ---- */
/* A follower's "leader_url" from a heartbeat's answer: requests go there
 * first from now on (one hop fewer), the configured servers staying the
 * fall-back. Ignored when not an http(s) URL, or for a minute after that
 * URL failed. */
void ag_lead_learn(agent *a, const char *url);
/* The configured server answered a heartbeat itself (it leads, or its
 * leader names no URL for nodes): the lead is forgotten and calls still
 * waiting on it end (a hung leader would hold them for their timeout). */
void ag_lead_drop(agent *a);
typedef struct ag_req {
	const char *method, *path;
	const json_t *json;     /* body, or NULL */
	int in_fd;              /* a file body (PUT blob), or -1 */
	int64_t in_len;
	int out_fd;             /* a 2xx body goes there, or -1 */
	long timeout_s;         /* 0: no limit on the whole transfer */
	const int *abort_flag;  /* non-zero (read under no lock): stop waiting */
	int configured;         /* the configured servers only, never the lead */
} ag_req;
/* 0 with *out set (any status; release it), or -EIO when no server could
 * be reached (err filled), -ECANCELED when abort_flag stopped it. */
int ag_call(agent *a, const ag_req *r, hc_resp *out, char *err, size_t errlen);
/* A JSON request: 0 with *status and *reply (may be NULL for an empty or
 * non-JSON body; caller decrefs) or a negative errno as ag_call. */
int ag_call_json(agent *a, const char *method, const char *path, const json_t *body,
		 long timeout_s, const int *abort_flag, long *status, json_t **reply, char *err,
		 size_t errlen);
/* The same for a request made up by the caller (r->json is the body). */
int ag_call_req_json(agent *a, const ag_req *r, long *status, json_t **reply, char *err,
		     size_t errlen);
/* The error code of a {"error":{"code"}} reply, or "". */
const char *ag_err_code(const json_t *reply);

/* ---- agent_cache.c: blobs by SHA-256 ---- */
/* Hard-links blob sha at dst (a new name), fetching and verifying it into
 * the cache first when absent; evicts least recently used blobs past
 * cache_max. */
int ag_cache_get(agent *a, const char *sha, const char *dst, char *err, size_t errlen);
/* Hard-links at dst a read-only copy in the cache of the local file src,
 * which must hash to sha (-ESTALE when it changed); copied only when not
 * cached yet. */
int ag_cache_put_local(agent *a, const char *src, const char *sha, const char *dst, char *err,
		       size_t errlen);
/* Removes partial downloads a crash left behind. */
void ag_cache_init(agent *a);
/* The hashes held, as a JSON array (new reference, NULL out of memory). */
json_t *ag_cache_list(agent *a);

/* ---- agent_rt.c: runtimes (STATE/runtimes, a registry as rt.h's) ---- */
/* The runtime a chunk runs in (its "runtime_spec", else its "runtime"
 * name), into *out (release it with rt_info_release): host; an image by
 * its tarball's SHA-256, fetched, verified and unpacked when not here yet;
 * a venv or image registered here under that name. -ENOENT when this node
 * does not have it, other -errno; err says why. */
int ag_rt_resolve(agent *a, const json_t *chunk, rt_info *out, char *err, size_t errlen);
/* The heartbeat's "runtimes": "host", "venv:NAME", "image:SHA256" (new
 * reference; NULL when out of memory). Heartbeat thread only. */
json_t *ag_rt_list(agent *a);
/* Appends the SHA-256 of every image held to blobs (the heartbeat's
 * "blobs": a scheduler that counts a job's image among its inputs then
 * prefers nodes holding it). Heartbeat thread only. */
int ag_rt_add_images(agent *a, json_t *blobs);

/* ---- agent_journal.c ---- */
/* Opens (creates) journal/results.log and takes back every result it
 * holds without a done mark, and those of the older one-file-per-result
 * journal (made durable in the log, then their files removed). */
int ag_journal_open(agent *a, char *err, size_t errlen);
/* Queues the result of (chunk, attempt) for the next group commit; body
 * is the POST …/result body (a reference is taken). workdir: the attempt
 * directory holding its artifacts, removed once the result is done. */
void ag_journal_put(agent *a, const char *chunk_id, int64_t attempt, const char *workdir,
		    json_t *body);
/* Appends every queued result and pending done mark in one write, then
 * one fdatasync. 0, or a negative errno (the results stay queued). */
int ag_journal_commit(agent *a);
/* The result of (chunk, attempt) is done (taken, refused for good, lost):
 * forgotten, with a done mark for the log and its attempt dir removed. */
void ag_journal_done(agent *a, const char *chunk_id, int64_t attempt);
/* Starts the sender thread: commits, then sends in batches. */
int ag_journal_start(agent *a);
/* The server answers again: a result waiting for a retry goes now. */
void ag_journal_kick(agent *a);
/* Stops the sender, commits what is queued and, with send, tries once more
 * to send everything. */
void ag_journal_stop(agent *a, int send);
void ag_journal_close(agent *a);
/* Adds the chunk ids of journalled results to arr (their leases must be
 * kept alive until the results are taken). */
void ag_journal_ids(agent *a, json_t *arr);
/* 1 when a result in the journal keeps its artifacts in dir. */
int ag_journal_holds_dir(agent *a, const char *dir);
/* Drops the results of a chunk the server says is lost. */
void ag_journal_drop_chunk(agent *a, const char *chunk_id);
/* Results not done yet (queued or durable). */
size_t ag_journal_pending(agent *a);

/* ---- agent_run.c ---- */
/* Runs a chunk (on a worker) and journals its result, unless stopped. */
void ag_chunk_run(ag_chunk *c);
/* The result body of a noop chunk (new reference). */
json_t *ag_noop_result(int64_t attempt);

/* Welford summary of samples as {"n","mean","m2","min","max"} (new ref). */
json_t *ag_stats_of(const double *v, size_t n);
/* The montecarlo-pi stat over iterations samples from seed (docs/jobs.md);
 * -ECANCELED when *stop became non-zero. */
int ag_montecarlo_pi(uint64_t iterations, uint64_t seed, const int *stop, json_t **stat);

/* ---- agent.c ---- */
/* The heartbeat interval a register or heartbeat reply gives, in ms
 * (heartbeat_ms, else heartbeat_s), or 0 when it gives none in range. */
int64_t ag_hb_from_reply(const json_t *reply);
void ag_remove_rf(const char *path);
#endif
