/* HTTP server on libmicrohttpd, one thread per connection (or, for
 * http_config.event_threads, epoll loops: evloop.c without TLS, else
 * libmicrohttpd's). The request cycle below (http_cycle_*) is shared by
 * libmicrohttpd's callbacks and evloop.c, so a route behaves the same on
 * every listener.
 *
 * Life of a request (on_request is called several times per request):
 *   1. first call: allocate http_req, answer a CORS preflight (browser.c),
 *      match the route (a GET or HEAD that matches none, outside the API,
 *      is the console's: static.c), check the declared length; errors
 *      found here (404, 405, 413, 415) are answered at once,
 *      or after a bounded body has been read and dropped (so that the client,
 *      still sending, sees the answer rather than a reset);
 *   2. calls with upload data: append to the body up to the route's limit,
 *      or write it to a spool file (HTTP_SPOOL_BODY);
 *   3. final call: parse JSON, run the auth hook and the handler, queue the
 *      reply. queue() runs the done hook (audit) before the reply is queued,
 *      so a client that sees the response can already read its audit row.
 * Invariants: at most one reply is queued per request; r->status is the
 * status of that reply; inflight counts requests between step 1 and the
 * completion callback, and shutdown waits for it to reach zero. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "http/http.h"
#include "http/http_int.h"
#include "http/mhd.h"
#include "http/proxy.h"

/* Upper bounds of the latency histogram's buckets, in seconds. */
static const double buckets_s[NBUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					    0.5, 1, 2.5, 5, 10 };

/* ---- routing ---- */

static int seg_len(const char *s)
{
	const char *e = strchr(s, '/');
	return e ? (int)(e - s) : (int)strlen(s);
}

static void free_params(char **names, char **vals, int n);

static void clear_params(http_req *r)
{
	free_params(r->param_name, r->param_val, r->nparams);
	r->nparams = 0;
}

static void free_params(char **names, char **vals, int n)
{
	for (int i = 0; i < n; i++) {
		free(names[i]);
		free(vals[i]);
	}
}

int http_match(const char *pattern, const char *path, char **names, char **vals, int *n)
{
	const char *p = pattern, *s = path;
	*n = 0;
	while (*p && *s) {
		if (*p != '/' || *s != '/')
			goto no;
		p++, s++;
		int pl = seg_len(p), sl = seg_len(s);
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (sl == 0 || *n == HTTP_MAX_PARAMS)
				goto no;
			names[*n] = xstrndup(p + 1, (size_t)pl - 2);
			vals[*n] = xstrndup(s, (size_t)sl);
			(*n)++;
		} else if (pl != sl || strncmp(p, s, (size_t)pl) != 0) {
			goto no;
		}
		p += pl, s += sl;
	}
	if (*s == '/' && s[1] == '\0')
		s++; /* a trailing slash is the same resource */
	if (*p == '\0' && *s == '\0')
		return 1;
no:
	free_params(names, vals, *n);
	*n = 0;
	return 0;
}

static int match(http_req *r, const char *pattern, const char *path)
{
	clear_params(r);
	return http_match(pattern, path, r->param_name, r->param_val, &r->nparams);
}

/* Sets r->route; returns 0, or 404/405 (allow gets the methods for 405).
 * The first matching route wins: tables list literal paths before {param}
 * ones that would shadow them. Linear: a few dozen routes cost less than a
 * tree would save. */
static int route(http_req *r, buf *allow)
{
	http_server *srv = r->srv;
	int path_found = 0;
	for (size_t i = 0; i < srv->nroutes; i++) {
		const http_route *rt = &srv->routes[i];
		if (!match(r, rt->pattern, r->path))
			continue;
		if (strcmp(rt->method, r->method) == 0 ||
		    (strcmp(r->method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			r->route = rt;
			return 0;
		}
		if (!strstr(allow->data ? allow->data : "", rt->method))
			buf_printf(allow, "%s%s", allow->len ? ", " : "", rt->method);
		path_found = 1;
	}
	clear_params(r);
	return path_found ? 405 : 404;
}

/* ---- metrics ---- */

static void stats_record(http_req *r)
{
	http_server *srv = r->srv;
	size_t idx = r->route ? (size_t)(r->route - srv->routes) : srv->nroutes;
	struct route_stats *st = &srv->stats[idx];
	/* Relaxed atomics: counters may lag a scrape by one request, never tear. */
	if (r->status >= 100 && r->status < 600)
		atomic_fetch_add(&st->status[r->status - 100], 1);
	double secs = (double)(sn_mono_ns() - r->start_ns) / 1e9;
	for (int b = 0; b < NBUCKETS; b++)
		if (secs <= buckets_s[b]) {
			atomic_fetch_add(&st->bucket[b], 1);
			break;
		}
	atomic_fetch_add(&st->count, 1);
	atomic_fetch_add(&st->sum_us, (uint64_t)(secs * 1e6));
}

/* ---- spooled bodies ---- */

static size_t body_max(const http_req *r)
{
	return r->route && r->route->body_max ? r->route->body_max : HTTP_JSON_MAX;
}

/* The spool file lives in DATA/tmp, on the same file system as the final
 * place, so that a handler can rename it instead of copying 8 GiB; mkostemp
 * gives it mode 0600 and a name no one can guess. */
static int spool_open(http_req *r)
{
	if (!r->srv->spool_dir)
		return -ENOTDIR;
	r->spool_path = xasprintf("%s/.body-XXXXXX", r->srv->spool_dir);
	r->spool_fd = mkostemp(r->spool_path, O_CLOEXEC);
	if (r->spool_fd < 0) {
		int rc = -errno;
		log_error("http: cannot create a spool file in %s: %s", r->srv->spool_dir,
			  strerror(errno));
		xfree(&r->spool_path);
		return rc;
	}
	return 0;
}

/* Bytes free for us on the spool's file system, minus what uploads in
 * flight have announced but not written yet. */
static uint64_t spool_room(http_server *srv)
{
	struct statvfs v;
	if (statvfs(srv->spool_dir, &v))
		return UINT64_MAX; /* cannot tell: the write itself will say ENOSPC */
	uint64_t avail = (uint64_t)v.f_bavail * v.f_frsize;
	uint64_t pending = atomic_load(&srv->upload_pending);
	return avail > pending ? avail - pending : 0;
}

/* Reserves n bytes on the global and the caller's in-flight quotas.
 * 0, or -EDQUOT (the user's), -EBUSY (the global) and nothing reserved. */
static int quota_take(http_req *r, uint64_t n)
{
	http_server *srv = r->srv;
	const char *user = r->actor ? r->actor : "";
	int rc = 0;
	pthread_mutex_lock(&srv->conns_mu);
	struct upload_quota *q = NULL, *free_slot = NULL;
	for (size_t i = 0; i < sizeof srv->quota / sizeof srv->quota[0]; i++) {
		if (srv->quota[i].bytes && strcmp(srv->quota[i].user, user) == 0)
			q = &srv->quota[i];
		else if (!srv->quota[i].bytes && !free_slot)
			free_slot = &srv->quota[i];
	}
	if (!q && !free_slot) {
		rc = -EBUSY; /* 256 users uploading at once */
		goto out;
	}
	if (!q) {
		q = free_slot;
		sn_strlcpy(q->user, user, sizeof q->user);
	}
	if (q->bytes + n > srv->cfg.upload_user_max) {
		rc = -EDQUOT;
		goto out;
	}
	if (atomic_load(&srv->upload_total) + n > srv->cfg.upload_total_max) {
		rc = -EBUSY;
		goto out;
	}
	q->bytes += n;
	atomic_fetch_add(&srv->upload_total, n);
	r->quota += n;
out:
	pthread_mutex_unlock(&srv->conns_mu);
	return rc;
}

static void quota_release(http_req *r)
{
	http_server *srv = r->srv;
	if (!r->quota)
		return;
	const char *user = r->actor ? r->actor : "";
	pthread_mutex_lock(&srv->conns_mu);
	for (size_t i = 0; i < sizeof srv->quota / sizeof srv->quota[0]; i++)
		if (srv->quota[i].bytes && strcmp(srv->quota[i].user, user) == 0) {
			srv->quota[i].bytes -= r->quota < srv->quota[i].bytes ? r->quota
									  : srv->quota[i].bytes;
			break;
		}
	atomic_fetch_sub(&srv->upload_total, r->quota);
	pthread_mutex_unlock(&srv->conns_mu);
	r->quota = 0;
}

/* Answers a refused quota reservation. */
static void quota_refuse(http_req *r, int rc)
{
	http_reply_header(r, "Retry-After", "30");
	if (rc == -EDQUOT)
		http_reply_error(r, 429, "upload_quota",
				 "your uploads in flight would exceed %llu bytes; retry when they finish",
				 (unsigned long long)r->srv->cfg.upload_user_max);
	else
		http_reply_error(r, 503, "busy", "too many uploads in flight; retry later");
}

/* Checks the space and quotas for a spooled body of declared length len
 * (0: unknown, chunked) before its first byte is read. 0, or replies. */
static int spool_admit(http_req *r, uint64_t len)
{
	http_server *srv = r->srv;
	if (spool_room(srv) < srv->cfg.min_free_disk + len) {
		http_reply_error(r, 507, "insufficient_storage",
				 "not enough free disk space for this upload (the server keeps %llu bytes free)",
				 (unsigned long long)srv->cfg.min_free_disk);
		return 1;
	}
	int rc = len ? quota_take(r, len) : 0;
	if (rc) {
		quota_refuse(r, rc);
		return 1;
	}
	atomic_fetch_add(&srv->upload_pending, len);
	r->pending = len;
	return 0;
}

/* How often a chunked body (no declared length) re-checks the free space. */
#define SPOOL_CHECK_EVERY ((uint64_t)8 << 20)

/* Counts n more body bytes against the limit, the quotas and the free
 * disk (spooled and streamed bodies both land in DATA). 0, or nonzero with
 * the reason recorded (too_large, quota_err, spool_err). */
static int body_account(http_req *r, size_t n)
{
	http_server *srv = r->srv;
	if (r->too_large || r->spool_err || r->quota_err)
		return 1;
	if (n > body_max(r) - r->spooled) {
		r->too_large = 1;
		return 1;
	}
	uint64_t from_pending = n < r->pending ? n : r->pending;
	r->pending -= from_pending;
	atomic_fetch_sub(&srv->upload_pending, from_pending);
	if (r->spooled + n > r->quota) {
		/* Chunked, or more than declared: reserve as it comes. */
		uint64_t want = r->spooled + n - r->quota;
		if (want < SPOOL_CHECK_EVERY)
			want = SPOOL_CHECK_EVERY;
		int rc = quota_take(r, want);
		if (rc) {
			r->quota_err = rc;
			return 1;
		}
		if (spool_room(srv) < srv->cfg.min_free_disk + want) {
			r->spool_err = ENOSPC;
			return 1;
		}
	}
	r->spooled += n;
	return 0;
}

static void spool_write(http_req *r, const char *p, size_t n)
{
	if (body_account(r, n))
		return;
	while (n > 0) {
		ssize_t w = write(r->spool_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			r->spool_err = errno;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* ---- the request cycle ---- */

/* A client's X-Request-Id is kept when it is 1..64 printable ASCII bytes
 * (it reaches logs, headers and the audit table), else one is made. */
static void set_request_id(http_req *r)
{
	const char *given = http_req_header(r, "X-Request-Id");
	size_t n = given ? strlen(given) : 0;
	int ok = n > 0 && n < sizeof r->id;
	for (size_t i = 0; ok && i < n; i++)
		ok = given[i] > 0x20 && given[i] < 0x7f;
	if (ok) {
		memcpy(r->id, given, n + 1);
		return;
	}
	/* Random bytes come from a per-thread pool, 32 ids at a time:
	 * sn_random is a getrandom() call, and one per request showed in the
	 * ingest listener's profile. */
	static _Thread_local unsigned char pool[256];
	static _Thread_local size_t left;
	if (left < 8) {
		sn_random(pool, sizeof pool);
		left = sizeof pool;
	}
	left -= 8;
	sn_hex(pool + left, 8, r->id);
}

/* On a replica listener: 1 when the request carries the replica secret
 * (compared in constant time), and then r->addr is the client's address
 * that the relaying replica gives in X-Forwarded-For (an IP literal). */
static int from_replica(http_req *r)
{
	const char *want = r->srv->replica_secret;
	const char *got = http_req_header(r, HTTP_REPLICA_HEADER);
	size_t n = strlen(want);
	if (!got || strlen(got) != n)
		return 0;
	unsigned char d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(got[i] ^ want[i]);
	if (d)
		return 0;
	const char *xff = http_req_header(r, "X-Forwarded-For");
	unsigned char ip[16];
	if (xff && strlen(xff) < sizeof r->addr &&
	    (inet_pton(AF_INET, xff, ip) == 1 || inet_pton(AF_INET6, xff, ip) == 1))
		memcpy(r->addr, xff, strlen(xff) + 1);
	return 1;
}

void http_sockaddr(const struct sockaddr *sa, unsigned char ip[17], char *addr, size_t n)
{
	if (ip)
		memset(ip, 0, 17);
	if (addr && n)
		*addr = '\0';
	const void *a = NULL;
	int fam = sa ? sa->sa_family : 0;
	if (fam == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (fam == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!a)
		return;
	if (ip) {
		ip[0] = fam == AF_INET ? 4 : 6;
		memcpy(ip + 1, a, fam == AF_INET ? 4 : 16);
	}
	if (addr)
		inet_ntop(fam, a, addr, (socklen_t)n);
}

static const struct sockaddr *client_sockaddr(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci ? ci->client_addr : NULL;
}

void http_conn_addr(struct MHD_Connection *conn, char *out, size_t n)
{
	http_sockaddr(client_sockaddr(conn), NULL, out, n);
}

/* The event loop sets r->addr when it accepts the connection. */
static void set_addr(http_req *r)
{
	if (r->srv->replica_secret) {
		r->addr[0] = '\0';
		r->replica = from_replica(r);
	} else if (!r->ev) {
		http_conn_addr(r->conn, r->addr, sizeof r->addr);
	}
}

/* "application/json" with or without parameters (charset); nothing else,
 * so that a form post from a browser never reaches a JSON handler. */
static int is_json_type(const char *ct)
{
	if (!ct)
		return 0;
	size_t n = strlen("application/json");
	return strncasecmp(ct, "application/json", n) == 0 && (ct[n] == '\0' || ct[n] == ';' ||
								 ct[n] == ' ');
}


int http_target_ok(const char *raw)
{
	char *dec = xstrdup(raw);
	int ok = sn_utf8_valid(dec, http_ev_unescape(dec, 0), 1);
	free(dec);
	return ok;
}

/* Answers now and closes the connection afterwards: the body (if any) is
 * never read. Returns 1. */
static int refuse_now(http_req *r)
{
	r->close = 1;
	return 1;
}

/* Checks done before the body is read: routing, the request target,
 * authentication and authorisation (from the headers alone), the declared
 * length and type, and for spooled bodies the disk and the quotas.
 * Returns 0, or replies and returns 1 (2: close without reading the body). */
static int early_checks(http_req *r)
{
	http_server *srv = r->srv;
	const char *raw = r->hc && r->hc->raw_uri ? r->hc->raw_uri : r->path;
	if (srv->replica_secret && !r->replica) {
		http_reply_error(r, 403, "not_a_replica",
				 "this listener serves the other replicas of this database only");
		return refuse_now(r) + 1;
	}
	if (!http_target_ok(raw)) {
		/* Before routing: "%00" would cut the routed path short, and bytes
		 * that are not UTF-8 cannot reach JSON, the log or the audit. */
		http_reply_error(r, 400, "bad_target",
				 "the request path or query is not valid UTF-8 or holds control characters");
		return refuse_now(r) + 1;
	}
	if (http_cors_preflight(r))
		return 1;
	buf allow;
	buf_init(&allow, 256);
	int st = route(r, &allow);
	/* An event loop serves its routes only: the console's files are read
	 * with blocking I/O. */
	int get = !srv->cfg.event_threads &&
		  (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0);
	if (st == 404 && get && !http_static_excluded(r->path) && r->hc && r->hc->reserve) {
		/* Reserved slots are for authenticated API calls, as for public routes. */
		http_reply_header(r, "Retry-After", "5");
		http_reply_error(r, 503, "busy", "the server is at its connection limit");
	} else if (st == 404 && get && !http_static_excluded(r->path)) {
		/* The console: a fallback, not a route per file. */
		http_static_serve(r);
	} else if (st == 404) {
		http_reply_error(r, 404, "not_found", "no route for %s %s", r->method, r->path);
	} else if (st == 405) {
		http_reply_header(r, "Allow", allow.data);
		http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
				 r->method, r->path, allow.data);
	}
	buf_release(&allow);
	if (st)
		return 1;
	int is_public = r->route->flags & HTTP_PUBLIC;
	if (r->hc && r->hc->reserve && is_public) {
		http_reply_header(r, "Retry-After", "5");
		http_reply_error(r, 503, "busy", "the server is at its connection limit");
		return refuse_now(r) + 1;
	}
	if (!is_public && srv->hooks.auth && srv->hooks.auth(r, r->route, srv->app))
		return refuse_now(r) + 1;
	const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t len = cl ? strtoull(cl, NULL, 10) : 0;
	if (len > body_max(r)) {
		http_reply_error(r, 413, "too_large", "request body exceeds %zu bytes", body_max(r));
		return 1;
	}
	int has_body = len > 0 || http_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
	if (has_body && !(r->route->flags & HTTP_RAW_BODY) &&
	    !is_json_type(http_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		http_reply_error(r, 415, "unsupported_media_type",
				 "request body must be application/json");
		return 1;
	}
	/* Every raw body is an upload that ends on disk (spooled, streamed, or
	 * stored by its handler): all count against the quotas and the reserve. */
	if ((r->route->flags & HTTP_RAW_BODY) && has_body && spool_admit(r, len))
		return refuse_now(r) + 1;
	return 0;
}

static void dispatch(http_req *r)
{
	/* A streaming handler holds state (a half-written blob) that only it
	 * can undo: it always runs, and learns of the failure here. */
	if (r->route->flags & HTTP_STREAM_BODY) {
		if (!r->stream_err)
			r->stream_err = r->too_large ? -EFBIG : r->quota_err ? r->quota_err
					: r->spool_err ? -r->spool_err : 0;
		r->route->fn(r, ((const http_stream *)r->route->ctx)->ctx);
		if (!r->deferred && !r->status)
			http_reply_error(r, 500, "internal", "the handler gave no reply");
		return;
	}
	if (r->too_large) {
		http_reply_error(r, 413, "too_large", "request body exceeds %zu bytes", body_max(r));
		return;
	}
	if (r->quota_err) {
		quota_refuse(r, r->quota_err);
		return;
	}
	if (r->spool_err) {
		log_error("http: cannot spool the body of %s %s: %s", r->method, r->path,
			  strerror(r->spool_err));
		http_reply_error(r, r->spool_err == ENOSPC ? 507 : 500,
				 r->spool_err == ENOSPC ? "insufficient_storage" : "internal",
				 "cannot store the request body: %s", strerror(r->spool_err));
		return;
	}
	if (!(r->route->flags & (HTTP_RAW_BODY | HTTP_LAZY_JSON)) && http_req_json_parse(r))
		return;
	r->route->fn(r, r->route->ctx);
	/* A deferred reply may be being set on another thread: hands off. */
	if (!r->deferred && !r->status)
		http_reply_error(r, 500, "internal", "the handler gave no reply");
}

int http_req_json_parse(http_req *r)
{
	if (r->json || r->body.len == 0)
		return 0;
	json_error_t je;
	r->json = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, &je);
	if (!r->json) {
		http_reply_error(r, 400, "bad_json", "malformed JSON at line %d column %d: %s",
				 je.line, je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(r->json)) {
		http_reply_error(r, 400, "bad_json", "the request body must be a JSON object");
		return -EINVAL;
	}
	return 0;
}

void http_cycle_dispatch(http_req *r)
{
	if (r->spool_fd >= 0) {
		if (close(r->spool_fd) && !r->spool_err)
			r->spool_err = errno;
		r->spool_fd = -1;
	}
	if (!r->discard) /* else its answer is set (spool_open failed) */
		dispatch(r);
}

void http_req_defer(http_req *r)
{
	r->deferred = 1;
	if (!r->srv->cfg.event_threads)
		sem_init(&r->done, 0, 0);
}

int http_req_at_turn_end(http_req *r, void (*fn)(void *), void *arg)
{
	return r->ev ? http_ev_at_turn_end(r, fn, arg) : -ENOTSUP;
}

void http_req_resume(http_req *r)
{
	http_server *srv = r->srv;
	if (!r->status)
		http_reply_error(r, 500, "internal", "the handler gave no reply");
	if (r->ev) {
		http_ev_resume(r);
		return;
	}
	if (!srv->cfg.event_threads) {
		sem_post(&r->done); /* r may be gone after this */
		return;
	}
	pthread_mutex_lock(&srv->defer_mu);
	r->resumed = 1;
	int suspended = r->suspended;
	struct MHD_Connection *conn = r->conn;
	pthread_mutex_unlock(&srv->defer_mu);
	/* Once resumed, MHD may finish and free r at any moment. */
	if (suspended)
		MHD_resume_connection(conn);
}

/* After a handler deferred: 1 when its reply is there (waited for, on a
 * thread-per-connection server), 0 when the connection was suspended until
 * http_req_resume (MHD then calls on_request again). */
static int defer_wait(http_req *r)
{
	http_server *srv = r->srv;
	if (!srv->cfg.event_threads) {
		while (sem_wait(&r->done) && errno == EINTR)
			;
		return 1;
	}
	pthread_mutex_lock(&srv->defer_mu);
	int done = r->resumed;
	if (!done) {
		MHD_suspend_connection(r->conn);
		r->suspended = 1;
	}
	pthread_mutex_unlock(&srv->defer_mu);
	return done;
}

void http_cycle_reply(http_req *r)
{
	http_server *srv = r->srv;
	if (r->route && srv->hooks.done)
		srv->hooks.done(r, r->route, r->status, srv->app);
	stats_record(r);
}

static enum MHD_Result queue(http_req *r)
{
	http_cycle_reply(r);
	if (r->close)
		MHD_add_response_header(r->resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)r->status, r->resp);
	MHD_destroy_response(r->resp);
	r->resp = NULL;
	return ok;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

int http_cycle_begin(http_req *r)
{
	http_server *srv = r->srv;
	r->start_ns = sn_mono_ns();
	r->spool_fd = -1;
	if (r->hc && !r->ev) {
		pthread_mutex_lock(&srv->conns_mu);
		r->hc->waiting = 0;
		pthread_mutex_unlock(&srv->conns_mu);
	}
	atomic_fetch_add(&srv->inflight, 1);
	set_request_id(r);
	set_addr(r);
	int early = early_checks(r);
	if (early)
		return early;
	buf_init(&r->body, body_max(r));
	if ((r->route->flags & HTTP_SPOOL_BODY) && spool_open(r)) {
		http_reply_error(r, 500, "internal", "cannot store the request body");
		r->discard = 1;
	}
	return 0;
}

void http_cycle_piece(http_req *r, const char *p, size_t n)
{
	if (r->discard)
		return;
	if (r->route->flags & HTTP_STREAM_BODY) {
		if (!r->stream_err && !body_account(r, n)) {
			const http_stream *hs = r->route->ctx;
			r->stream_err = hs->on_chunk(r, p, n, hs->ctx);
		}
	} else if (r->spool_fd >= 0) {
		spool_write(r, p, n);
	/* A raw body kept in memory counts like a spooled one; a refusal's
	 * reason is recorded for dispatch to answer. */
	} else if (!(r->route->flags & HTTP_RAW_BODY) || !body_account(r, n)) {
		if (!r->too_large && buf_append(&r->body, p, n))
			r->too_large = 1;
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	http_server *srv = cls;
	http_req *r = *con_cls;
	(void)version;
	if (!r) {
		r = xcalloc(1, sizeof *r);
		r->srv = srv;
		r->conn = conn;
		r->method = method;
		r->path = url;
		r->hc = conn_of(conn);
		*con_cls = r;
		int early = http_cycle_begin(r);
		if (early) {
			/* A client that sent its body without waiting for 100-continue
			 * would see a reset instead of our answer if we closed the
			 * connection on unread data: read (and drop) a bounded body first,
			 * except for refusals that must not read a byte (early == 2). */
			const char *cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
			uint64_t len = cl ? strtoull(cl, NULL, 10) : 0;
			int body = len > 0 || http_req_header(r, MHD_HTTP_HEADER_TRANSFER_ENCODING);
			if (early == 1 && body && !http_req_header(r, MHD_HTTP_HEADER_EXPECT) &&
			    len <= DISCARD_MAX) {
				r->discard = 1;
				return MHD_YES;
			}
			r->early = 1;
			return queue(r);
		}
		return MHD_YES;
	}
	if (r->early)
		return MHD_NO;
	if (r->suspended) /* resumed: the deferred reply is set */
		return queue(r);
	if (r->discard) {
		r->discarded += *upload_size;
		if (*upload_size && r->discarded > DISCARD_MAX)
			return MHD_NO;
		if (*upload_size) {
			*upload_size = 0;
			return MHD_YES;
		}
		return queue(r);
	}
	if (*upload_size) {
		http_cycle_piece(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	http_cycle_dispatch(r);
	if (r->deferred && !defer_wait(r))
		return MHD_YES;
	return queue(r);
}

void http_cycle_end(http_req *r, int aborted)
{
	http_server *srv = r->srv;
	if (log_enabled(LOG_INFO)) {
		/* A refused path may not be UTF-8: log it with U+FFFD, not drop the line. */
		char *path = sn_utf8_sanitize(r->path), *method = sn_utf8_sanitize(r->method);
		json_t *f = json_pack("{s:s,s:s,s:i,s:f,s:s,s:s,s:s?,s:b}", "method", method,
				      "path", path, "status", r->status, "ms",
				      (double)((sn_mono_ns() - r->start_ns) / 1000) / 1e3, "id", r->id,
				      "addr", r->addr, "user", r->actor, "aborted", aborted);
		log_fields(LOG_INFO, "request", f);
		json_decref(f);
		free(path);
		free(method);
	}
	if (r->hc && !r->ev) {
		pthread_mutex_lock(&srv->conns_mu);
		r->hc->waiting = 1;
		r->hc->since_ms = sn_now_ms();
		pthread_mutex_unlock(&srv->conns_mu);
	}
	quota_release(r);
	atomic_fetch_sub(&srv->upload_pending, r->pending);
	if (r->resp)
		MHD_destroy_response(r->resp);
	if (r->spool_fd >= 0)
		close(r->spool_fd);
	if (r->spool_path) {
		unlink(r->spool_path);
		free(r->spool_path);
	}
	clear_params(r);
	for (int i = 0; i < r->nhdrs; i++) {
		free(r->hdr_name[i]);
		free(r->hdr_val[i]);
	}
	if (r->user && r->user_free)
		r->user_free(r->user);
	if (r->state && r->state_free)
		r->state_free(r->state);
	if (r->deferred && !r->ev && !srv->cfg.event_threads)
		sem_destroy(&r->done);
	json_decref(r->json);
	buf_release(&r->body);
	http_ev_req_free(r->ev);
	free(r->actor);
	free(r->target);
	if (!r->ev) /* the event loop's block: the loop frees or keeps it */
		free(r);
	atomic_fetch_sub(&srv->inflight, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	http_req *r = *con_cls;
	(void)cls;
	(void)conn;
	if (!r)
		return;
	http_cycle_end(r, toe != MHD_REQUEST_TERMINATED_COMPLETED_OK);
	*con_cls = NULL;
}

/* ---- connections: header deadline and reserved slots ---- */

/* Reserved connections must send a complete head quickly. */
#define RESERVE_HEADER_MS 2000

/* The client's address as a key: family byte, then 4 or 16 bytes (all
 * zero when unknown). */
static void conn_ip(struct MHD_Connection *conn, unsigned char ip[17])
{
	http_sockaddr(client_sockaddr(conn), ip, NULL, 0);
}

/* Open connections from ip (conns_mu held). */
static unsigned ip_conns(http_server *srv, const unsigned char ip[17])
{
	unsigned n = 0;
	for (struct http_conn *c = srv->conns; c; c = c->next)
		n += memcmp(c->ip, ip, 17) == 0;
	return n;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	http_server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct http_conn *c = xcalloc(1, sizeof *c);
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
		c->since_ms = sn_now_ms();
		c->waiting = 1;
		if (srv->nd > 1)
			conn_ip(conn, c->ip);
		pthread_mutex_lock(&srv->conns_mu);
		/* Each loop's daemon counts only its own connections by address:
		 * the limit of the whole server is kept here, as MHD closes a
		 * connection over its limit (at once, no reply). */
		int over = srv->nd > 1 && c->ip[0] &&
			   ip_conns(srv, c->ip) >= srv->cfg.max_conns_per_ip;
		srv->nconns++;
		c->reserve = srv->nconns + srv->cfg.reserved_conns > srv->cfg.max_conns;
		c->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->conns_mu);
		if (over && c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		*socket_context = c;
		return;
	}
	struct http_conn *c = *socket_context;
	if (!c)
		return;
	pthread_mutex_lock(&srv->conns_mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->nconns--;
	pthread_mutex_unlock(&srv->conns_mu);
	if (c->fd >= 0)
		close(c->fd);
	free(c->raw_uri);
	free(c);
	*socket_context = NULL;
}

/* Keeps the request target as the client sent it: MHD hands on_request a
 * decoded path that "%00" cuts short. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	struct http_conn *c = conn_of(conn);
	if (c) {
		free(c->raw_uri);
		c->raw_uri = xstrdup(uri);
	}
	return NULL;
}

/* Closes connections whose request head is late (slowloris): the idle
 * timeout alone lets a client hold a slot by trickling a byte at a time. */
static void *watchdog(void *arg)
{
	http_server *srv = arg;
	while (!atomic_load(&srv->stopping)) {
		usleep(200 * 1000);
		int64_t now = sn_now_ms();
		pthread_mutex_lock(&srv->conns_mu);
		for (struct http_conn *c = srv->conns; c; c = c->next) {
			int64_t limit = c->reserve ? RESERVE_HEADER_MS
						   : (int64_t)srv->cfg.header_timeout_s * 1000;
			if (c->waiting && c->fd >= 0 && now - c->since_ms > limit) {
				shutdown(c->fd, SHUT_RDWR);
				c->waiting = 0; /* once */
			}
		}
		pthread_mutex_unlock(&srv->conns_mu);
	}
	return NULL;
}

/* libmicrohttpd's own messages (protocol errors of clients, mostly) are
 * debug: at info they would let any client fill the log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("http: %s", msg);
	free(msg);
}

int http_parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || colon == listen || strlen(listen) >= sizeof host)
		return -EINVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == '\0')
		return -EINVAL;
	size_t hl = (size_t)(colon - listen);
	memcpy(host, listen, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof *ss);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof *a;
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	/* No resolver at start-up: "localhost" is the one name taken. */
	if (strcmp(host, "localhost") == 0)
		sn_strlcpy(host, "127.0.0.1", sizeof host);
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	*len = sizeof *a;
	return 0;
}

void http_start_error(const http_config *cfg, int e, char *err, size_t errlen)
{
	if (cfg->tls_cert && e != EADDRINUSE && e != EACCES && e != EADDRNOTAVAIL)
		snprintf(err, errlen, "cannot start HTTPS on %s: the TLS certificate or key is"
			 " invalid or they do not match", cfg->listen);
	else
		snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen,
			 e ? strerror(e) : "libmicrohttpd refused the settings");
}

int http_tls_read(const http_config *cfg, char **cert, char **key, char *err, size_t errlen)
{
	size_t n;
	int rc;
	if ((rc = sn_read_file(cfg->tls_cert, 1 << 20, cert, &n)) ||
	    (rc = sn_read_file(cfg->tls_key, 1 << 20, key, &n))) {
		snprintf(err, errlen, "cannot read TLS certificate or key: %s", strerror(-rc));
		return rc;
	}
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(err, errlen, "this libmicrohttpd has no TLS support");
		return -ENOTSUP;
	}
	return 0;
}

int http_server_start(const http_config *cfg, const http_route *routes, size_t nroutes,
		      const http_hooks *hooks, void *app, hub *events, http_server **out,
		      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int rc = http_mhd_load(err, errlen);
	if (rc)
		return rc;
	if (http_parse_listen(cfg->listen, &ss, &sl)) {
		snprintf(err, errlen, "invalid listen address '%s' (expected HOST:PORT)", cfg->listen);
		return -EINVAL;
	}
	if (!cfg->tls_cert != !cfg->tls_key) {
		snprintf(err, errlen, "--tls-cert and --tls-key must be given together");
		return -EINVAL;
	}
	const char *ka = getenv("SENTINEL_SSE_KEEPALIVE_MS");
	if (ka && atoi(ka) > 0)
		http_sse_keepalive_ms = atoi(ka);
	http_server *s = xcalloc(1, sizeof *s);
	s->cfg = *cfg;
	s->cfg.listen = s->cfg.tls_cert = s->cfg.tls_key = s->cfg.spool_dir = NULL;
	s->replica_secret = cfg->replica_secret ? xstrdup(cfg->replica_secret) : NULL;
	s->cfg.replica_secret = NULL;
	/* A replica listener serves the other replicas, all from one or a few
	 * addresses: the per-address limit would cap them all together. */
	if (s->replica_secret)
		s->cfg.max_conns_per_ip = s->cfg.max_conns ? s->cfg.max_conns : 512;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 512;
	if (!s->cfg.max_conns_per_ip)
		s->cfg.max_conns_per_ip = 64;
	if (!s->cfg.reserved_conns)
		s->cfg.reserved_conns = 8;
	if (s->cfg.reserved_conns >= s->cfg.max_conns)
		s->cfg.reserved_conns = s->cfg.max_conns / 2;
	if (!s->cfg.timeout_s)
		s->cfg.timeout_s = 60;
	if (!s->cfg.header_timeout_s)
		s->cfg.header_timeout_s = 10;
	if (!s->cfg.min_free_disk)
		s->cfg.min_free_disk = (uint64_t)1 << 30;
	if (!s->cfg.upload_user_max)
		s->cfg.upload_user_max = (uint64_t)16 << 30;
	if (!s->cfg.upload_total_max)
		s->cfg.upload_total_max = (uint64_t)64 << 30;
	pthread_mutex_init(&s->conns_mu, NULL);
	pthread_mutex_init(&s->defer_mu, NULL);
	s->routes = routes;
	s->nroutes = nroutes;
	s->hooks = *hooks;
	s->app = app;
	s->events = events;
	s->stats = xcalloc(nroutes + 1, sizeof *s->stats);
	s->spool_dir = cfg->spool_dir ? xstrdup(cfg->spool_dir) : NULL;
	s->web_dir = cfg->web_dir ? xstrdup(cfg->web_dir) : NULL;
	s->cfg.web_dir = s->cfg.allowed_origins = NULL;
	if ((rc = http_origins_init(s, cfg->allowed_origins, err, errlen)))
		goto fail;
	if (s->cfg.event_threads && !cfg->tls_cert) {
		if ((rc = http_ev_start(s, &ss, sl, err, errlen)))
			goto fail;
		*out = s;
		return 0;
	}
	unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG;
	s->nd = s->cfg.event_threads ? s->cfg.event_threads : 1;
	if (s->nd > HTTP_LOOPS_MAX)
		s->nd = HTTP_LOOPS_MAX;
	if (s->cfg.event_threads)
		flags |= MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
	else
		flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert) {
		if ((rc = http_tls_read(cfg, &s->tls_cert, &s->tls_key, err, errlen)))
			goto fail;
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem tls_opts[] = {
		{ cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	/* Several loops share the port; each takes its share of the
	 * connection limit, as the workers of MHD's own thread pool do. */
	struct MHD_OptionItem loop_opts[] = {
		{ s->nd > 1 ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_END, 1, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	unsigned limit = (s->cfg.max_conns + s->nd - 1) / s->nd;
	errno = 0;
	/* A socket handed over (a follower that now leads) keeps the address
	 * without a moment of refused connections. */
	struct MHD_OptionItem addr_opts[] = {
		{ cfg->listen_fd > 0 ? MHD_OPTION_LISTEN_SOCKET : MHD_OPTION_SOCK_ADDR,
		  cfg->listen_fd > 0 ? cfg->listen_fd : 0, cfg->listen_fd > 0 ? NULL : &ss },
		{ MHD_OPTION_END, 0, NULL },
	};
	if (cfg->listen_fd > 0)
		s->nd = 1;
	for (unsigned i = 0; i < s->nd; i++) {
		s->d[i] = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
					   MHD_OPTION_ARRAY, addr_opts,
					   MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
					   MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
					   MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
					   MHD_OPTION_CONNECTION_LIMIT, limit,
					   MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->cfg.max_conns_per_ip,
					   MHD_OPTION_CONNECTION_TIMEOUT, s->cfg.timeout_s,
					   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
					   MHD_OPTION_ARRAY, tls_opts,
					   MHD_OPTION_ARRAY, loop_opts,
					   MHD_OPTION_END);
		if (!s->d[i])
			break;
		if (i == 0) {
			/* Port 0: the others bind the port the first one got. */
			const union MHD_DaemonInfo *di =
				MHD_get_daemon_info(s->d[0], MHD_DAEMON_INFO_BIND_PORT);
			s->port = di ? di->port : 0;
			struct sockaddr_storage bound;
			socklen_t bl = sizeof bound;
			if (!s->port && cfg->listen_fd > 0 &&
			    getsockname(cfg->listen_fd, (struct sockaddr *)&bound, &bl) == 0)
				s->port = ntohs(bound.ss_family == AF_INET6
						? ((struct sockaddr_in6 *)&bound)->sin6_port
						: ((struct sockaddr_in *)&bound)->sin_port);
			if (ss.ss_family == AF_INET6)
				((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)s->port);
			else
				((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)s->port);
		}
	}
	if (!s->d[s->nd - 1]) {
		int e = errno;
		for (unsigned i = 0; i < s->nd && s->d[i]; i++)
			MHD_stop_daemon(s->d[i]);
		http_start_error(cfg, e, err, errlen);
		rc = -EADDRINUSE;
		goto fail;
	}
	if ((rc = -pthread_create(&s->watchdog, NULL, watchdog, s))) {
		snprintf(err, errlen, "cannot start the connection watchdog: %s", strerror(-rc));
		for (unsigned i = 0; i < s->nd; i++)
			MHD_stop_daemon(s->d[i]);
		goto fail;
	}
	s->watchdog_on = 1;
	*out = s;
	return 0;
fail:
	pthread_mutex_destroy(&s->conns_mu);
	pthread_mutex_destroy(&s->defer_mu);
	http_origins_release(s);
	free(s->web_dir);
	free(s->tls_cert);
	free(s->tls_key);
	free(s->spool_dir);
	free(s->replica_secret);
	free(s->stats);
	free(s);
	return rc;
}

unsigned http_server_port(const http_server *s)
{
	return s->port;
}

/* A server left running at shutdown (requests stuck in I/O): still
 * referenced, so that leak checkers at exit see it as reachable. */
static http_server *abandoned;

int http_server_stop(http_server **ps, int grace_ms)
{
	http_server *s = *ps;
	if (!s)
		return 0;
	*ps = NULL;
	if (s->ev)
		http_ev_quiesce(s);
	for (unsigned i = 0; i < s->nd; i++) {
		MHD_socket fd = MHD_quiesce_daemon(s->d[i]);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	if (s->events)
		hub_close(s->events);
	for (int waited = 0; atomic_load(&s->inflight) > 0 && waited < grace_ms; waited += 10)
		usleep(10000);
	if (atomic_load(&s->inflight) > 0) {
		/* MHD_stop_daemon joins every connection thread: a handler stuck in
		 * I/O would hold shutdown forever. Leave them to process exit. */
		log_warn("http: %d requests still running after %d ms; not waiting for them",
			 atomic_load(&s->inflight), grace_ms);
		abandoned = s;
		return -EBUSY;
	}
	atomic_store(&s->stopping, 1);
	if (s->watchdog_on)
		pthread_join(s->watchdog, NULL);
	for (unsigned i = 0; i < s->nd; i++)
		MHD_stop_daemon(s->d[i]);
	if (s->ev)
		http_ev_stop(s);
	pthread_mutex_destroy(&s->conns_mu);
	pthread_mutex_destroy(&s->defer_mu);
	http_origins_release(s);
	free(s->web_dir);
	free(s->spool_dir);
	free(s->tls_cert);
	free(s->tls_key);
	free(s->replica_secret);
	free(s->stats);
	free(s);
	return 0;
}

/* The label that tells a listener's series apart: none for the first. */
static void listener_label(buf *out, const char *listener)
{
	if (listener)
		buf_printf(out, ",listener=\"%s\"", listener);
}

void http_server_metrics(http_server *const *srvs, const char *const *listeners, size_t n,
			 buf *out)
{
	buf_puts(out, "# HELP sentinel_http_requests_total HTTP requests by route and status.\n"
		      "# TYPE sentinel_http_requests_total counter\n");
	for (size_t k = 0; k < n; k++) {
		http_server *s = srvs[k];
		for (size_t i = 0; s && i <= s->nroutes; i++) {
			const char *m = i < s->nroutes ? s->routes[i].method : "";
			const char *p = i < s->nroutes ? s->routes[i].pattern : "unmatched";
			for (int c = 0; c < NSTATUS; c++) {
				uint64_t v = atomic_load(&s->stats[i].status[c]);
				if (!v)
					continue;
				buf_printf(out, "sentinel_http_requests_total{method=\"%s\",route=\"%s\"", m, p);
				listener_label(out, listeners[k]);
				buf_printf(out, ",status=\"%d\"} %llu\n", c + 100, (unsigned long long)v);
			}
		}
	}
	buf_puts(out, "# HELP sentinel_http_request_duration_seconds Request latency by route.\n"
		      "# TYPE sentinel_http_request_duration_seconds histogram\n");
	for (size_t k = 0; k < n; k++) {
		http_server *s = srvs[k];
		for (size_t i = 0; s && i <= s->nroutes; i++) {
			struct route_stats *st = &s->stats[i];
			uint64_t count = atomic_load(&st->count);
			if (!count)
				continue;
			const char *m = i < s->nroutes ? s->routes[i].method : "";
			const char *p = i < s->nroutes ? s->routes[i].pattern : "unmatched";
			uint64_t cum = 0;
			for (int b = 0; b <= NBUCKETS; b++) {
				cum += b < NBUCKETS ? atomic_load(&st->bucket[b]) : 0;
				buf_printf(out, "sentinel_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\"",
					   m, p);
				listener_label(out, listeners[k]);
				if (b < NBUCKETS)
					buf_printf(out, ",le=\"%g\"} %llu\n", buckets_s[b], (unsigned long long)cum);
				else
					buf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)count);
			}
			buf_printf(out, "sentinel_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"", m, p);
			listener_label(out, listeners[k]);
			buf_printf(out, "} %.6f\n", (double)atomic_load(&st->sum_us) / 1e6);
			buf_printf(out, "sentinel_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"", m, p);
			listener_label(out, listeners[k]);
			buf_printf(out, "} %llu\n", (unsigned long long)count);
		}
	}
}
