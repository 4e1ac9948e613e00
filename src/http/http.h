/* The HTTP server wrapper (libmicrohttpd): a route table with {params},
 * body limits, JSON bodies and JSON error envelopes, request ids, an access
 * log line per request, per-route metrics and Server-Sent Events.
 *
 * A handler runs once the whole body has arrived (bounded by the route's
 * limit) and must set exactly one reply with an http_reply_* call; a
 * handler that sets none answers 500, unless it defers (http_req_defer).
 * On a server with a thread per connection (the default), handlers run on
 * the connection's thread and may block. On an event-loop server
 * (http_config.event_threads) a few threads serve every connection: its
 * routes must answer at once or defer, never wait. */
#ifndef SN_HTTP_H
#define SN_HTTP_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/buf.h"
#include "base/hub.h"

typedef struct http_server http_server;
typedef struct http_req http_req;

/* ctx is the route's own ctx (the module's state). */
typedef void (*http_handler)(http_req *r, void *ctx);

enum {
	HTTP_PUBLIC = 1,   /* no authentication */
	HTTP_RAW_BODY = 2, /* the body is not JSON: no 415, no parsing */
	HTTP_SPOOL_BODY = 4, /* with RAW: the body streams to a file in the spool
			      * directory, never held in memory (uploads) */
	HTTP_STREAM_BODY = 8, /* with RAW: the body goes piece by piece to the
			       * route's on_chunk as it arrives (one pass: hash,
			       * parse and store while receiving), never held */
	HTTP_NODE = 16,       /* called by nodes: the auth hook checks a signed
			       * request (node/node.h), not a user token */
	HTTP_INGEST = 32,     /* metrics ingest: the one kind of route an API token
			       * of scope metrics:write may call (docs/metrics.md) */
	HTTP_LAZY_JSON = 64,  /* a JSON route whose body is parsed only when the
			       * handler calls http_req_json_parse (it may read
			       * the bytes first: a hot path's own parser) */
};

/* HTTP_STREAM_BODY: called with each piece of the body in order, on the
 * connection's thread, after authentication. Per-request state lives in
 * http_req_set_state. A nonzero return (a negative errno) drops the rest
 * of the body unread into on_chunk; the handler (run after the last byte,
 * as for any route) sees it in http_req_stream_error and replies. */
typedef int (*http_chunk_fn)(http_req *r, const char *p, size_t n, void *ctx);

#define HTTP_JSON_MAX ((size_t)1 << 20)

typedef struct http_route {
	const char *method;
	const char *pattern;  /* "/api/v1/users/{id}" */
	http_handler fn;
	unsigned flags;
	int min_role;         /* meaning given by the auth hook */
	const char *action;   /* audit action for mutating routes, e.g. "user.create" */
	size_t body_max;      /* 0: HTTP_JSON_MAX */
	void *ctx;            /* passed to fn; HTTP_STREAM_BODY: an http_stream */
} http_route;

/* The ctx of an HTTP_STREAM_BODY route: its chunk callback, and the ctx
 * that both it and the route's fn receive. */
typedef struct http_stream {
	http_chunk_fn on_chunk;
	void *ctx;
} http_stream;

/* Hooks given by the application. auth: called for every non-public route
 * as soon as the request head has arrived, before any body byte is read
 * (it must not look at the body); returns 0 to go on, or replies (401/403)
 * and returns non-zero, and the connection is then closed.
 * done: called after every routed request with its final status. */
typedef struct http_hooks {
	int (*auth)(http_req *r, const http_route *route, void *app);
	void (*done)(http_req *r, const http_route *route, int status, void *app);
} http_hooks;

/* Limits that hold against anonymous clients (docs/security.md lists
 * them with their defaults; 0 picks the default). */
typedef struct http_config {
	const char *listen;    /* "HOST:PORT", "[::1]:PORT" */
	const char *tls_cert;  /* PEM file paths, both or neither */
	const char *tls_key;
	unsigned max_conns;
	unsigned max_conns_per_ip;  /* 64 */
	unsigned reserved_conns;    /* slots kept for authenticated requests: 8 */
	unsigned timeout_s;         /* idle connection timeout: 60 */
	unsigned header_timeout_s;  /* whole request head, from connect or the
				     * previous request's end: 10 */
	const char *spool_dir; /* where HTTP_SPOOL_BODY bodies go (same file system
				* as their final place, so handlers can rename) */
	uint64_t min_free_disk;     /* spooling stops short of this much free space
				     * on the spool's file system: 1 GiB */
	uint64_t upload_user_max;   /* spooled bytes in flight per user: 16 GiB */
	uint64_t upload_total_max;  /* and in all: 64 GiB */
	const char *web_dir;   /* the console's files (docs/web.md), served for
				* GET/HEAD that no route matches outside /api/,
				* /v1/ and /metrics; NULL or missing: a page that
				* says how to build the console */
	const char *allowed_origins; /* comma-separated scheme://host[:port] that
				      * may call the API cross-origin; NULL: none */
	int listen_fd;              /* > 0: serve on this listening socket
				     * (http_proxy_quiesce's); listen still
				     * names the address */
	const char *replica_secret; /* a replica listener (http/proxy.h): every
				     * request must carry this secret in
				     * X-Sentinel-Replica (else 403), and its
				     * X-Forwarded-For is the client's address */
	unsigned event_threads;     /* 0: a thread per connection; n: an event
				     * loop (epoll) on n threads, for routes that
				     * answer at once or defer (the ingest
				     * listener): our own HTTP/1.1 (evloop.c),
				     * or libmicrohttpd's with TLS. Replies from
				     * memory only (no files, callbacks, SSE);
				     * no CORS (allowed_origins unused) */
} http_config;

/* Starts listening. Routes must outlive the server. err gets a message. */
int http_server_start(const http_config *cfg, const http_route *routes, size_t nroutes,
		      const http_hooks *hooks, void *app, hub *events, http_server **out,
		      char *err, size_t errlen);
/* Stops accepting, waits up to grace_ms for in-flight requests, then stops.
 * Returns 0, or -EBUSY when requests were still running after grace_ms: the
 * server is then left running (its threads may still use the application's
 * state) and *s is NULL; the caller should exit the process without freeing
 * what handlers use, since a handler blocked in I/O may never return. */
int http_server_stop(http_server **s, int grace_ms);
unsigned http_server_port(const http_server *s);
/* Appends Prometheus text for requests by route and status and latency,
 * of n servers (a NULL one is skipped); listeners[k] (NULL: none) becomes a
 * label "listener" on the series of srvs[k]. */
void http_server_metrics(http_server *const *srvs, const char *const *listeners, size_t n,
			 buf *out);

/* A reply that comes later (a group commit): the handler calls
 * http_req_defer, starts the work and returns without a reply; then, on
 * any thread, exactly once, the work sets the reply with the http_reply_*
 * calls and calls http_req_resume (which answers 500 when no reply was
 * set). r and what it holds stay valid until then. On an event-loop server
 * the connection is suspended meanwhile (its thread serves others); on a
 * thread-per-connection server its thread waits. resume may come before
 * the handler has returned. */
void http_req_defer(http_req *r);
void http_req_resume(http_req *r);
/* On an event loop's thread (http_config.event_threads, our own loop):
 * calls fn(arg) on this thread once the current turn's events are
 * handled, before the loop waits again (registered twice in a turn, it
 * runs once), so that work the turn's requests started can be done as one
 * (a group commit); requests it resumes are answered right after. 0, or
 * -ENOTSUP elsewhere (libmicrohttpd, a thread per connection, another
 * thread) and -ENOSPC when the turn holds too many hooks: fn is not
 * called then. */
int http_req_at_turn_end(http_req *r, void (*fn)(void *), void *arg);

/* Request accessors; returned strings are borrowed for the request's life. */
const char *http_req_method(const http_req *r);
const char *http_req_path(const http_req *r);
const char *http_req_param(const http_req *r, const char *name);
const char *http_req_query(const http_req *r, const char *name);
const char *http_req_header(const http_req *r, const char *name);
const char *http_req_addr(const http_req *r);
/* 1 when the request came through another replica (a follower's relay, on
 * the replica listener with its secret: http_config.replica_secret). */
int http_req_relayed(const http_req *r);
const char *http_req_id(const http_req *r);
const char *http_req_body(const http_req *r, size_t *len);
/* The file holding a spooled body (HTTP_SPOOL_BODY), or NULL. The handler
 * may rename it; whatever is left there is removed after the request. */
const char *http_req_body_path(const http_req *r);
/* Per-request state of a streaming route; free_fn (may be NULL) runs when
 * the request ends, whatever happened. Setting it again frees the old one. */
void http_req_set_state(http_req *r, void *state, void (*free_fn)(void *));
void *http_req_state(const http_req *r);
/* The first nonzero on_chunk result, or a transport error of the body
 * (-EFBIG past body_max, -EDQUOT/-EBUSY past a quota, -ENOSPC at the free
 * disk reserve); 0 when the whole body was handed over. */
int http_req_stream_error(const http_req *r);
/* Bytes of the body handed to on_chunk so far. */
uint64_t http_req_streamed(const http_req *r);
/* The parsed JSON body (an object), or NULL when there was none. */
json_t *http_req_json(const http_req *r);
/* HTTP_LAZY_JSON: parses the body as dispatch does for other JSON routes.
 * 0 (http_req_json has it, or NULL for an empty body), or -EINVAL after
 * replying 400 bad_json. */
int http_req_json_parse(http_req *r);

/* What the auth hook learned, for handlers, the access log and the audit. */
void http_req_set_auth(http_req *r, void *user, void (*user_free)(void *), const char *actor);
void *http_req_user(const http_req *r);
const char *http_req_actor(const http_req *r);
/* The route a request matched (NULL before routing). */
const http_route *http_req_route(const http_req *r);
/* Marks the request as audited by its handler (in the transaction of its
 * change), so that the done hook does not record it again. */
void http_req_set_audited(http_req *r);
int http_req_audited(const http_req *r);
/* The audit target of a mutating request, e.g. "user:u_123" (copied). */
void http_req_set_target(http_req *r, const char *target);
const char *http_req_target(const http_req *r);
/* The request target exactly as the client sent it (path and query, not
 * decoded): what a signed request covers. */
const char *http_req_raw_target(const http_req *r);

/* Whether the server speaks TLS (cookies get Secure). */
int http_req_tls(const http_req *r);
/* 1 when r carries no Origin header, or one that is the server's own
 * (scheme and Host header) or listed in allowed_origins; 0 otherwise. */
int http_req_origin_ok(const http_req *r);

/* Cookies. HTTP_COOKIE_SCAN_MAX: the most of a Cookie header that is read
 * (cookies of other sites on the same host count against it too). */
#define HTTP_COOKIE_SCAN_MAX 16384
/* Finds cookie name in the value of a Cookie header ("a=1; b=2": spaces or
 * tabs around names and values, ';' between; a value in double quotes is
 * taken without them; the first of several of one name wins). Copies the
 * value into out (outlen bytes, NUL included). Returns its length, -ENOENT
 * when absent, -E2BIG when it does not fit. Pure: no allocation. */
int http_cookie_find(const char *header, const char *name, char *out, size_t outlen);
/* The same on r's Cookie header. */
int http_req_cookie(const http_req *r, const char *name, char *out, size_t outlen);

/* Replies. json is stolen. */
void http_reply_json(http_req *r, int status, json_t *json);
void http_reply_error(http_req *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* data (len bytes) must come from malloc: the reply takes it and frees it
 * once sent, also when the reply is refused. */
void http_reply_data(http_req *r, int status, const char *content_type, char *data, size_t len);
void http_reply_header(http_req *r, const char *name, const char *value);
/* Streams len bytes of the open file fd from offset (sendfile where it
 * can); the reply takes fd and closes it once sent, also when refused.
 * HEAD gets the headers (Content-Length: len) and no body. */
void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t offset,
		   uint64_t len);
/* A body produced as it is sent: read fills out (max bytes) with what
 * comes at pos and returns the count (> 0), 0 at the end, or a negative
 * errno (the connection is then closed mid-body). len: the body's length
 * (Content-Length), or HTTP_LEN_UNKNOWN. free_fn(cls) runs once the reply
 * is done with, whatever happened. Runs on the connection's thread. */
#define HTTP_LEN_UNKNOWN UINT64_MAX
typedef long (*http_read_fn)(void *cls, uint64_t pos, char *out, size_t max);
void http_reply_callback(http_req *r, int status, const char *content_type, uint64_t len,
			 http_read_fn read, void *cls, void (*free_fn)(void *));
/* The status and error code for a negative errno rc, the one mapping of
 * every module's errors to HTTP: -EINVAL 400 bad_request, -EACCES 403
 * forbidden, -ENOENT 404 not_found, -EEXIST 409 conflict, -EFBIG 413
 * too_large, -EPERM 422 refused, -EBADMSG 422 bad_archive (malformed
 * content), -EAGAIN/-EBUSY 503 busy, -ETIMEDOUT 503 store_busy,
 * -ENOSPC/-EDQUOT 507 insufficient_storage; anything else 500 internal. */
int http_errno_status(int rc, const char **code);
/* Replies with http_errno_status(rc) and the formatted message (or
 * strerror when fmt is NULL); a 500 is also logged. */
void http_reply_errno(http_req *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A list page: {"items": items, "next_cursor": cursor or null}. */
void http_reply_list(http_req *r, json_t *items, const char *next_cursor);
/* Streams hub events whose topic starts with prefix and that viewer may
 * receive (copied; see hub_next_for) as SSE, starting after Last-Event-ID
 * when the client sends it, with keep-alive comments. */
void http_reply_sse(http_req *r, const char *prefix, const hub_viewer *viewer);

/* A time as the API writes it: RFC 3339 UTC string, or null when ms < 0. */
json_t *http_json_time(int64_t ms);

/* Body field helpers: on a missing or mistyped field they reply 400 naming
 * the field and return -EINVAL. required=0 leaves *out untouched if absent. */
int http_body_str(http_req *r, const char *field, int required, size_t maxlen, const char **out);
int http_body_bool(http_req *r, const char *field, int required, int *out);
int http_body_int(http_req *r, const char *field, int required, int64_t min, int64_t max,
		  int64_t *out);
/* limit (default 50, 1..1000) and cursor query parameters; replies 400. */
int http_page(http_req *r, int *limit, const char **cursor);
#endif
