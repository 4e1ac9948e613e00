/* Internals shared by the agent's files. Locking: agent.mu guards every
 * mutable field of struct agent and of the chunks on its list; a chunk's
 * own thread alone touches its run state (ag_run). */
#ifndef SN_AGENT_INT_H
#define SN_AGENT_INT_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "agent/agent.h"
#include "base/sig.h"
#include "http/client.h"

#define AG_MAX_GPUS 64
/* Each JSON reply of the server is small; one of a long poll for work may
 * hold up to max_parallel chunks. */
#define AG_CALL_TIMEOUT_S 30L

enum ag_state { AG_UNREG, AG_PENDING, AG_ONLINE, AG_REMOVED };
/* Why a running chunk is being stopped. Cancel and lost drop the result;
 * so does a hand-back (second SIGTERM). */
enum ag_stop { AG_RUN, AG_STOP_CANCEL, AG_STOP_LOST, AG_STOP_HANDBACK };

typedef struct ag_chunk {
	char *id, *job_id;
	int64_t attempt;
	json_t *spec;         /* the chunk as received */
	int cancel_pipe[2];   /* a byte in [1] stops the run (sbx_opts.cancel_fd) */
	int stop;             /* enum ag_stop, read atomically by the run */
	int gpu[AG_MAX_GPUS]; /* indices held */
	int ngpu;
	int finished;         /* its thread is done; the work loop joins it */
	pthread_t th;
	struct agent *a;
	struct ag_chunk *next;
} ag_chunk;

typedef struct ag_local {
	char *name, *path;
	int is_file;
} ag_local;

typedef struct agent {
	agent_config cfg;
	char **servers;
	size_t nservers;
	size_t cur;            /* the server that answered last */
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
	char **sending;        /* journal names a chunk thread is sending now */
	size_t nsending;

	json_t *datasets;      /* what register and heartbeat report */
	ag_local *locals;
	size_t nlocals;
	pthread_mutex_t cache_mu;
} agent;

/* ---- agent_http.c: signed requests, fail-over between servers ---- */
typedef struct ag_req {
	const char *method, *path;
	const json_t *json;     /* body, or NULL */
	int in_fd;              /* a file body (PUT blob), or -1 */
	int64_t in_len;
	int out_fd;             /* a 2xx body goes there, or -1 */
	long timeout_s;         /* 0: no limit on the whole transfer */
	const int *abort_flag;  /* non-zero (read under no lock): stop waiting */
} ag_req;
/* 0 with *out set (any status; release it), or -EIO when no server could
 * be reached (err filled), -ECANCELED when abort_flag stopped it. */
int ag_call(agent *a, const ag_req *r, hc_resp *out, char *err, size_t errlen);
/* A JSON request: 0 with *status and *reply (may be NULL for an empty or
 * non-JSON body; caller decrefs) or a negative errno as ag_call. */
int ag_call_json(agent *a, const char *method, const char *path, const json_t *body,
		 long timeout_s, const int *abort_flag, long *status, json_t **reply, char *err,
		 size_t errlen);
/* The error code of a {"error":{"code"}} reply, or "". */
const char *ag_err_code(const json_t *reply);

/* ---- agent_cache.c: blobs by SHA-256 ---- */
/* Hard-links blob sha at dst (a new name), fetching and verifying it into
 * the cache first when absent; evicts least recently used blobs past
 * cache_max. */
int ag_cache_get(agent *a, const char *sha, const char *dst, char *err, size_t errlen);
/* Removes partial downloads a crash left behind. */
void ag_cache_init(agent *a);
/* The hashes held, as a JSON array (new reference, NULL out of memory). */
json_t *ag_cache_list(agent *a);

/* ---- agent_journal.c ---- */
/* Writes the result of (chunk, attempt) durably; *name gets the entry's
 * file name (caller frees). */
int ag_journal_put(agent *a, const char *chunk_id, int64_t attempt, const char *workdir,
		   json_t *result, char **name);
/* Sends one entry (artifacts, then the result). 0 once it left the journal
 * (200 or 409), -EAGAIN when it stays for a later try, -EBUSY when another
 * thread is sending it. */
int ag_journal_send(agent *a, const char *name);
/* Sends every entry not being sent by a chunk thread. */
void ag_journal_replay(agent *a);
/* Adds the chunk ids of journalled results to arr (their leases must be
 * kept alive until the results are taken). */
void ag_journal_ids(agent *a, json_t *arr);
/* Drops the entry of a chunk the server says is lost. */
void ag_journal_drop_chunk(agent *a, const char *chunk_id);

/* ---- agent_run.c ---- */
/* The chunk's thread. */
void *ag_chunk_main(void *arg);
/* Welford summary of samples as {"n","mean","m2","min","max"} (new ref). */
json_t *ag_stats_of(const double *v, size_t n);
/* The montecarlo-pi stat over iterations samples from seed (docs/jobs.md);
 * -ECANCELED when *stop became non-zero. */
int ag_montecarlo_pi(uint64_t iterations, uint64_t seed, const int *stop, json_t **stat);

/* ---- agent.c ---- */
void ag_remove_rf(const char *path);
#endif
