/* Internals of the HTTP layer: shared by server.c (the request cycle) and
 * reply.c (what handlers call), and visible to the unit tests. */
#ifndef SN_HTTP_INT_H
#define SN_HTTP_INT_H
#include <jansson.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include "http/http.h"
#include "http/mhd.h"

#define HTTP_MAX_PARAMS 8

#define MAX_PARAMS HTTP_MAX_PARAMS
#define MAX_HEADERS 16
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

/* One per TCP connection, from accept to close (NOTIFY_CONNECTION), on the
 * server's list for the header watchdog. */
struct http_conn {
	struct http_conn *next, *prev;
	int fd;             /* our dup of the socket: shutdown() through it can
			     * never hit a reused descriptor number */
	int64_t since_ms;   /* start of the current wait for a request head */
	int waiting;        /* 1 while no complete request head has arrived */
	int reserve;        /* accepted into a reserved slot */
	char *raw_uri;      /* the request target as sent (before decoding) */
	unsigned char ip[17]; /* family (4 or 6), then the client's address */
};

/* Most event loops of one server (--ingest-threads is at most 64). */
#define HTTP_LOOPS_MAX 64

struct http_server {
	/* One daemon; an event-loop server has one per thread (nd), each with
	 * its own listening socket on the same port (SO_REUSEPORT): the kernel
	 * spreads connections over them. One daemon with a thread pool let
	 * whichever thread woke first accept a burst of connections, and
	 * at times one thread served all 64 of a benchmark's (a quarter
	 * fewer requests/s and a third more CPU per request than an even
	 * split, here). */
	struct MHD_Daemon *d[HTTP_LOOPS_MAX];
	unsigned nd;
	http_config cfg;    /* strings are not kept; limits with defaults filled */
	pthread_mutex_t conns_mu; /* guards conns, nconns and the quota table */
	struct http_conn *conns;
	unsigned nconns;
	pthread_t watchdog;
	int watchdog_on;
	atomic_int stopping;
	atomic_uint_fast64_t upload_pending; /* declared, not yet written bytes */
	atomic_uint_fast64_t upload_total;   /* spooled bytes of requests in flight */
	struct upload_quota { char user[72]; uint64_t bytes; } quota[256];
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
	char *web_dir;      /* NULL: no console configured */
	char **origins;     /* allowed_origins, lower case, norigins of them */
	size_t norigins;
	char *replica_secret; /* a replica listener's (http_config), or NULL */
	pthread_mutex_t defer_mu; /* orders a deferred request's suspension
				   * and its resumption (http_req_resume) */
	struct http_ev *ev; /* the event loop (evloop.c) when it serves, not MHD */
};

struct http_req {
	http_server *srv;
	struct MHD_Connection *conn; /* libmicrohttpd's, or NULL on the event loop */
	struct http_ev_req *ev;      /* the event loop's (evloop.c), or NULL */
	int close;          /* the connection closes after the reply (refuse_now) */
	const http_route *route;
	const char *method, *path;
	char *param_name[MAX_PARAMS], *param_val[MAX_PARAMS];
	int nparams;
	char id[65];        /* X-Request-Id: printable ASCII, at most 64 bytes */
	struct http_conn *hc; /* NULL when the connection has none (never in MHD) */
	uint64_t quota;     /* bytes reserved on the upload quotas */
	uint64_t pending;   /* declared bytes not yet written (upload_pending) */
	int quota_err;      /* a chunked body went over a quota: 429 */
	char addr[64];
	int replica;        /* came through a replica with the secret */
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
	void *state;    /* HTTP_STREAM_BODY: the route's, freed with state_free */
	void (*state_free)(void *);
	int stream_err; /* first nonzero on_chunk result */
	char *spool_path;
	uint64_t spooled;
	int spool_err;  /* errno of a failed write, 0 when none */
	uint64_t discarded;
	struct MHD_Response *resp;
	char *hdr_name[MAX_HEADERS], *hdr_val[MAX_HEADERS];
	int nhdrs;
	/* http_req_defer: deferred is set by the handler's thread; resumed and
	 * suspended are under srv->defer_mu (event loop); done is posted by
	 * http_req_resume (thread per connection). */
	int deferred, resumed, suspended;
	sem_t done;
};

/* Matches path against pattern segment by segment; "{name}" takes one
 * non-empty segment; a trailing slash on path is ignored. On a match returns
 * 1 and fills names/vals (n of them, newly allocated, caller frees);
 * otherwise returns 0 and allocates nothing. */
int http_match(const char *pattern, const char *path, char **names, char **vals, int *n);
/* 1 when the raw request target (path and query, percent-encoded) decodes
 * to valid UTF-8 without NUL or control bytes. */
int http_target_ok(const char *raw);
struct sockaddr_storage;
/* A peer address as a key (ip: family byte 4 or 6, then the address; all
 * zero when unknown) and as text (addr, n bytes: "" when unknown); either
 * may be NULL. */
void http_sockaddr(const struct sockaddr *sa, unsigned char ip[17], char *addr, size_t n);
/* The connection's peer address as text ("" when unknown). */
void http_conn_addr(struct MHD_Connection *conn, char *out, size_t n);
/* Why a daemon on cfg did not start (errno e): a bad certificate or key
 * when TLS is on and the address was not the trouble. */
void http_start_error(const http_config *cfg, int e, char *err, size_t errlen);
/* Reads cfg's TLS certificate and key (the caller frees both, also on
 * failure) and checks that libmicrohttpd speaks TLS; err on failure. */
int http_tls_read(const http_config *cfg, char **cert, char **key, char *err, size_t errlen);
/* "HOST:PORT" or "[V6]:PORT" (HOST an IP literal or localhost) into ss. */
int http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len);
/* The error envelope {"error":{"code","message","request_id"}}. */
json_t *http_error_json(const char *code, const char *message, const char *request_id);
/* How long an SSE stream waits for an event before it sends a keep-alive
 * comment (reply.c; SENTINEL_SSE_KEEPALIVE_MS changes it for tests). */
extern int http_sse_keepalive_ms;

/* ---- the request cycle (server.c), for libmicrohttpd and the event loop ----
 * begin: after srv, method, path, hc (and ev, addr) are set: counts the
 * request in flight, takes its id and address, runs the checks made before
 * the body; returns 0, or 1 with an answer set, or 2 with an answer set
 * that must not read a byte of the body (close after it).
 * piece: n more body bytes. dispatch: after the last (the handler runs,
 * or the refusal found meanwhile is answered). reply: just before the
 * answer goes out (the done hook, the route's figures). end: logs the
 * request and frees what it holds, and r itself unless the event loop
 * made it (aborted: the answer did not go out whole). */
int http_cycle_begin(http_req *r);
void http_cycle_piece(http_req *r, const char *p, size_t n);
void http_cycle_dispatch(http_req *r);
void http_cycle_reply(http_req *r);
void http_cycle_end(http_req *r, int aborted);

/* ---- the event loop (evloop.c) and its parsers (ev_parse.c) ---- */

#define HTTP_EV_HEADERS_MAX 64
#define HTTP_EV_QUERY_MAX 32

/* A parsed request head; every string points into the parsed bytes. */
struct http_ev_head {
	char *method, *target;
	int minor;          /* HTTP/1.minor */
	char *name[HTTP_EV_HEADERS_MAX], *value[HTTP_EV_HEADERS_MAX];
	int nh;
	int64_t length;     /* Content-Length, -1 when none */
	int chunked, keep_alive, expect_continue;
};
/* The length of the head at the start of p[0..n) (through its empty
 * line), or 0 while it is incomplete. from: where to resume scanning, at
 * most the previous call's n minus 2 (an end may have begun in the last
 * two bytes seen); 0 always works. */
size_t http_ev_head_end(const char *p, size_t n, size_t from);
/* Parses the head p[0..n) in place (NULs written). 0, or -EINVAL
 * (malformed: 400), -E2BIG (too many fields: 431), -ENOTSUP (a transfer
 * coding other than chunked: 501), -EPROTONOSUPPORT (not HTTP/1.x: 505). */
int http_ev_parse_head(char *p, size_t n, struct http_ev_head *h);
/* The first field of that name (any case), or NULL. */
const char *http_ev_header(const struct http_ev_head *h, const char *name);
/* A chunked body's decoder, zeroed to start. */
struct http_ev_chunked {
	int state, digits, line;
	uint64_t left;
	size_t meta;
};
/* Consumes the framing in in[0..n) up to and including the next span of
 * data (in[*data_off..+*data_len), *data_len 0 when none). Returns the
 * bytes consumed, or -EINVAL for a malformed body. */
long http_ev_chunked(struct http_ev_chunked *c, const char *in, size_t n, size_t *data_off,
		     size_t *data_len);
int http_ev_chunked_done(const struct http_ev_chunked *c);
/* Percent-decodes s in place ('+' is a space when plus); returns the
 * decoded length ("%00" decodes to a NUL inside it). Also server.c's. */
size_t http_ev_unescape(char *s, int plus);

/* What the event loop keeps of a request: its head, query, and reply. */
struct http_ev_req {
	struct ev_conn *conn;
	http_req *next;     /* on the loop's queue of resumed requests */
	char *head;
	struct http_ev_head h;
	char *qname[HTTP_EV_QUERY_MAX], *qval[HTTP_EV_QUERY_MAX]; /* in head */
	int nq;
	char *body;         /* the reply's */
	size_t len;
	char *ctype;        /* ctype_buf, or allocated when longer */
	char ctype_buf[64];
};
struct sockaddr_storage;
/* Serves srv (its cfg with defaults) on addr with cfg.event_threads loops;
 * sets srv->ev and srv->port. 0, or a negative errno with err. */
int http_ev_start(http_server *srv, const struct sockaddr_storage *addr, socklen_t sl,
		  char *err, size_t errlen);
/* Stops accepting (closing the listening sockets). */
void http_ev_quiesce(http_server *srv);
/* Stops the loops and frees every connection (no request may be in flight). */
void http_ev_stop(http_server *srv);
/* http_req_resume of a request of the event loop. */
void http_ev_resume(http_req *r);
/* http_req_at_turn_end of a request of the event loop (-ENOTSUP off its thread). */
int http_ev_at_turn_end(http_req *r, void (*fn)(void *), void *arg);
/* Frees what the loop kept of r (e itself lies in r's block). */
void http_ev_req_free(struct http_ev_req *e);

/* ---- the console (static.c) and browser requests (browser.c) ---- */

/* 1 when path (decoded, starting with '/') may name a file of the web
 * directory: at most HTTP_STATIC_PATH_MAX bytes, segments non-empty (one
 * trailing '/' aside) and none starting with '.' (so no "." or ".." and no
 * hidden files), no backslash. */
#define HTTP_STATIC_PATH_MAX 1024
int http_static_path_ok(const char *path);
/* 1 for paths the console never serves: /api, /v1, /metrics and below. */
int http_static_excluded(const char *path);
/* Whether an Accept-Encoding value accepts coding (q-values: q=0 refuses;
 * "*" stands for codings not named). */
int http_accepts_encoding(const char *accept, const char *coding);
/* Serves r (GET or HEAD, no route matched) from the web directory: the
 * file, index.html for extension-less paths, a 404 for missing assets, or
 * the "console not built" page. Always replies. */
void http_static_serve(http_req *r);
/* Adds the console's security headers (CSP, nosniff, Referrer-Policy). */
void http_static_security_headers(http_req *r);
/* Parses allowed_origins into srv->origins: 0, or -EINVAL with err. */
int http_origins_init(http_server *srv, const char *list, char *err, size_t errlen);
void http_origins_release(http_server *srv);
/* 1 when origin is listed (exactly, ignoring case). */
int http_origin_listed(const http_server *srv, const char *origin);
/* A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method):
 * answers it (204 for a listed origin, 403 otherwise) and returns 1; 0 when
 * r is no preflight. */
int http_cors_preflight(http_req *r);
/* Adds Access-Control-Allow-Origin/-Credentials and Vary: Origin to resp
 * when r's Origin is listed. */
void http_cors_headers(http_req *r, struct MHD_Response *resp);
#endif
