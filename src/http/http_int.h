/* Internals of the HTTP layer: shared by server.c (the request cycle) and
 * reply.c (what handlers call), and visible to the unit tests. */
#ifndef SN_HTTP_INT_H
#define SN_HTTP_INT_H
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include "http/http.h"
#include "http/mhd.h"

#define HTTP_MAX_PARAMS 8

#define MAX_PARAMS HTTP_MAX_PARAMS
#define MAX_HEADERS 8
#define NSTATUS 500 /* status codes 100..599 */
/* The most of a refused body that is read (and dropped) before answering. */
#define DISCARD_MAX ((uint64_t)64 << 20)
#define NBUCKETS 13

struct route_stats {
	atomic_uint_fast64_t status[NSTATUS];
	atomic_uint_fast64_t bucket[NBUCKETS];
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
};

struct http_server {
	struct MHD_Daemon *d;
	const http_route *routes;
	size_t nroutes;
	http_hooks hooks;
	void *app;
	hub *events;
	unsigned port;
	atomic_int inflight;
	struct route_stats *stats; /* nroutes + 1: the last is "unmatched" */
	char *tls_cert, *tls_key;
	char *spool_dir;
};

struct http_req {
	http_server *srv;
	struct MHD_Connection *conn;
	const http_route *route;
	const char *method, *path;
	char *param_name[MAX_PARAMS], *param_val[MAX_PARAMS];
	int nparams;
	char id[40];
	char addr[64];
	int64_t start_ns;
	buf body;
	int too_large;
	json_t *json;
	void *user;
	void (*user_free)(void *);
	char *actor, *target;
	int status;     /* 0 until a reply is queued */
	int audited;    /* the handler wrote the audit row itself */
	int early;      /* an error reply was queued at the first call */
	int discard;    /* an error reply waits until the body has been read */
	int spool_fd;   /* HTTP_SPOOL_BODY: the open file, else -1 */
	char *spool_path;
	uint64_t spooled;
	int spool_err;  /* errno of a failed write, 0 when none */
	uint64_t discarded;
	struct MHD_Response *resp;
	char *hdr_name[MAX_HEADERS], *hdr_val[MAX_HEADERS];
	int nhdrs;
};

/* Matches path against pattern segment by segment; "{name}" takes one
 * non-empty segment; a trailing slash on path is ignored. On a match returns
 * 1 and fills names/vals (n of them, newly allocated, caller frees);
 * otherwise returns 0 and allocates nothing. */
int http_match(const char *pattern, const char *path, char **names, char **vals, int *n);
/* The error envelope {"error":{"code","message","request_id"}}. */
json_t *http_error_json(const char *code, const char *message, const char *request_id);
/* How long an SSE stream waits for an event before it sends a keep-alive
 * comment (reply.c; SENTINEL_SSE_KEEPALIVE_MS changes it for tests). */
extern int http_sse_keepalive_ms;
#endif
