/* The follower's relay (proxy.h), on libmicrohttpd with a thread per
 * connection and libcurl's multi interface driven by that same thread
 * (hc_relay_step): the exchange with the leader moves only while the
 * connection's thread asks it to, so no second thread, pipe or lock is
 * needed.
 *  - The first call (the head) starts the exchange; with a body, it waits
 *    for the leader's 100 Continue before returning, since only then does
 *    libmicrohttpd let the client send the body: a refusal from the head
 *    is answered at once and the connection closed, no body byte read.
 *  - Each body piece is handed to curl as it is (read_body reads it in
 *    place) and the exchange stepped until curl has taken all of it.
 *  - The answer's body is stepped into `out` only when libmicrohttpd asks
 *    for more (read_answer): what is held is at most what one step read.
 * Invariants:
 *  1. A relayed request carries exactly one X-Forwarded-For, -Host (when
 *     the client sent a Host), -Proto and replica header, all ours.
 *  2. Nothing of a request outlives its completion callback, which ends
 *     the exchange if it still runs. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/client.h"
#include "http/http_int.h"
#include "http/mhd.h"
#include "http/proxy.h"

#define HDRS_MAX 100
#define BLOCK (32 * 1024)
#define STEP_MS 1000
/* How long a stop waits for the relays in flight to be answered. */
#define STOP_WAIT_MS (2 * STEP_MS + 500)
/* The most of an answer's body one step may leave waiting (one read of
 * the socket, in practice). */
#define OUT_MAX ((size_t)64 << 20)

struct http_proxy {
	struct MHD_Daemon *d;
	http_upstream_fn up;
	void *ctx;
	unsigned port;
	atomic_int stopping;
	atomic_uint leader; /* which leader relays go to: raised on news of a new one */
	atomic_int active;  /* requests between on_uri and on_completed */
	char *tls_cert, *tls_key;
};

struct preq {
	http_proxy *p;
	char *uri; /* the raw target, as received */
	int started, early;
	char *hdrs[HDRS_MAX + 4 + 1]; /* the client's, our 4 (invariant 1), a NULL */
	size_t nhdrs;
	int64_t body_len;
	char method[16];
	char *url;
	hc_relay_job *job;
	unsigned leader;   /* p->leader when the exchange began */
	int rc, ended; /* the exchange's outcome, once ended */
	const char *in; /* the body piece being sent, and what is left of it */
	size_t in_n;
	int in_eof;
	int go, head;
	long status;
	char **rh; /* the answer's header lines */
	size_t nrh;
	buf out;
	size_t out_at;
	char err[256];
};

/* Hop-by-hop headers (RFC 9110 7.6.1), what curl sets itself, and what only
 * this relay may say (invariant 1). */
static int dropped(const char *name)
{
	static const char *const names[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "TE",
		"Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "Expect",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", HTTP_REPLICA_HEADER,
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return 1;
	return 0;
}

/* ---- the exchange's callbacks (run inside hc_relay_step) ---- */

static size_t read_body(void *ud, char *p, size_t n)
{
	struct preq *q = ud;
	q->go = 1; /* curl asks only after 100 Continue (or its wait for it) */
	if (!q->in_n)
		return q->in_eof ? 0 : HC_RELAY_WAIT;
	size_t k = n < q->in_n ? n : q->in_n;
	memcpy(p, q->in, k);
	q->in += k;
	q->in_n -= k;
	return k;
}

static int on_head(void *ud, long status, char *const *lines, size_t n)
{
	struct preq *q = ud;
	q->status = status;
	q->rh = xcalloc(n + 1, sizeof *q->rh);
	for (size_t i = 0; i < n; i++)
		q->rh[q->nrh++] = xstrdup(lines[i]);
	q->head = 1;
	return 0;
}

static void on_continue(void *ud)
{
	((struct preq *)ud)->go = 1;
}

static int on_body(void *ud, const char *p, size_t n)
{
	struct preq *q = ud;
	return buf_append(&q->out, p, n) ? 1 : 0;
}

/* Steps the exchange until done(q) or its end; 0, or -ECANCELED when the
 * proxy stops meanwhile or another replica took the lead (the one asked
 * may be hung: stopped, not dead, its socket still open). */
static int step_until(struct preq *q, int (*done)(const struct preq *))
{
	while (!q->ended && !done(q)) {
		if (atomic_load(&q->p->stopping) || atomic_load(&q->p->leader) != q->leader)
			return -ECANCELED;
		q->ended = hc_relay_step(q->job, STEP_MS);
	}
	return 0;
}

static int got_go(const struct preq *q)
{
	return q->go || q->head;
}

static int got_head(const struct preq *q)
{
	return q->head;
}

static int piece_sent(const struct preq *q)
{
	return q->in_n == 0 || q->head;
}

static int got_out(const struct preq *q)
{
	return q->out.len > q->out_at;
}

/* ---- the connection's side ---- */

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
			       const char *value)
{
	(void)kind;
	struct preq *q = cls;
	/* An empty body is sent as none: no 100 Continue to wait for. */
	if (!strcasecmp(key, "Content-Length") && strtoll(value ? value : "0", NULL, 10) > 0)
		q->body_len = strtoll(value, NULL, 10);
	else if (!strcasecmp(key, "Transfer-Encoding") && q->body_len == HC_RELAY_NO_BODY)
		q->body_len = -1;
	if (dropped(key) || q->nhdrs == HDRS_MAX)
		return MHD_YES;
	q->hdrs[q->nhdrs++] = xasprintf("%s: %s", key, value ? value : "");
	return MHD_YES;
}

/* A replica that stops relaying (it leads now) closes the connection after
 * the error: the client's next request reaches the server that took over
 * the address. */
static enum MHD_Result reply_error(const struct preq *q, struct MHD_Connection *conn,
				   unsigned status, const char *code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_t *o = http_error_json(code, msg, NULL);
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	size_t n = body ? strlen(body) : 0;
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(n, body ? body : (char *)"", MHD_RESPMEM_MUST_COPY);
	free(body);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	if (status == 503)
		MHD_add_response_header(resp, "Retry-After", "1");
	if (atomic_load(&q->p->stopping))
		MHD_add_response_header(resp, "Connection", "close");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* Ends the exchange (once) and keeps its outcome. */
static int finish(struct preq *q)
{
	if (q->job) {
		q->rc = hc_relay_end(&q->job, q->err, sizeof q->err);
		q->ended = 1;
	}
	return q->rc;
}

static ssize_t read_answer(void *cls, uint64_t pos, char *out, size_t max)
{
	(void)pos;
	struct preq *q = cls;
	if (step_until(q, got_out) == 0 && got_out(q)) {
		size_t k = q->out.len - q->out_at;
		k = k < max ? k : max;
		memcpy(out, q->out.data + q->out_at, k);
		q->out_at += k;
		if (q->out_at == q->out.len) {
			buf_reset(&q->out); /* keeps its memory for the next piece */
			q->out_at = 0;
		}
		return (ssize_t)k;
	}
	return finish(q) == 0 ? MHD_CONTENT_READER_END_OF_STREAM
			      : MHD_CONTENT_READER_END_WITH_ERROR;
}

/* Queues the answer once its head is there (or the exchange failed);
 * close: the connection ends after it (the client's body was not read). */
static enum MHD_Result answer(struct preq *q, struct MHD_Connection *conn, int close)
{
	q->in_eof = 1;
	hc_relay_resume(q->job);
	int gone = step_until(q, got_head);
	if (!q->head) {
		int rc = finish(q);
		if (rc == -ECONNREFUSED)
			q->p->up(q->p->ctx, 1, NULL, 0, NULL, 0);
		log_warn("replica proxy: %s %s: %s", q->method, q->uri,
			 gone ? "cancelled: the lead changed or this replica stops" : q->err);
		return rc == -ECONNREFUSED || gone
			       ? reply_error(q, conn, 503, "no_leader",
					     "the leading replica cannot be reached; try again")
			       : reply_error(q, conn, 502, "bad_gateway",
					     "the leading replica gave no answer");
	}
	uint64_t size = MHD_SIZE_UNKNOWN;
	for (size_t i = 0; i < q->nrh; i++)
		if (!strncasecmp(q->rh[i], "Content-Length:", 15))
			size = strtoull(q->rh[i] + 15, NULL, 10);
	if (q->status == 204 || q->status == 304)
		size = 0;
	struct MHD_Response *resp = MHD_create_response_from_callback(size, BLOCK, read_answer,
								       q, NULL);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; i < q->nrh; i++) {
		char *colon = strchr(q->rh[i], ':');
		if (!colon)
			continue;
		*colon = '\0';
		const char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!dropped(q->rh[i]) && strcasecmp(q->rh[i], "Date"))
			MHD_add_response_header(resp, q->rh[i], v);
		*colon = ':';
	}
	if (close)
		MHD_add_response_header(resp, "Connection", "close");
	enum MHD_Result r = MHD_queue_response(conn, (unsigned)q->status, resp);
	MHD_destroy_response(resp);
	return r;
}

/* The first call: check the target, find the leader, start the exchange;
 * with a body, wait until the leader accepts the head. */
static void begin(struct preq *q, struct MHD_Connection *conn, const char *method)
{
	char base[256], secret[128], addr[64];
	if (!http_target_ok(q->uri)) {
		q->early = 1;
		reply_error(q, conn, 400, "bad_target",
			    "the request path or query is not valid UTF-8 or holds control characters");
		return;
	}
	if (strlen(method) >= sizeof q->method) {
		q->early = 1;
		reply_error(q, conn, 501, "not_implemented", "unknown method");
		return;
	}
	if (q->p->up(q->p->ctx, 0, base, sizeof base, secret, sizeof secret)) {
		q->early = 1;
		reply_error(q, conn, 503, "no_leader", "no replica leads the database now; try again");
		return;
	}
	sn_strlcpy(q->method, method, sizeof q->method);
	q->leader = atomic_load(&q->p->leader);
	q->url = xasprintf("%s%s", base, q->uri);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect, q);
	http_conn_addr(conn, addr, sizeof addr);
	q->hdrs[q->nhdrs++] = xasprintf("X-Forwarded-For: %s", addr);
	const char *host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	if (host)
		q->hdrs[q->nhdrs++] = xasprintf("X-Forwarded-Host: %s", host);
	q->hdrs[q->nhdrs++] = xasprintf("X-Forwarded-Proto: %s", q->p->tls_cert ? "https" : "http");
	q->hdrs[q->nhdrs++] = xasprintf("%s: %s", HTTP_REPLICA_HEADER, secret);
	explicit_bzero(secret, sizeof secret);
	hc_relay r = { .method = q->method, .url = q->url, .headers = (const char *const *)q->hdrs,
		       .body_len = q->body_len, .read_body = read_body, .on_head = on_head,
		       .on_body = on_body, .on_continue = on_continue, .ud = q };
	if (hc_relay_begin(&r, &q->job, q->err, sizeof q->err)) {
		q->early = 1;
		reply_error(q, conn, 503, "busy", "the replica cannot relay requests now");
		return;
	}
	if (q->body_len == HC_RELAY_NO_BODY)
		return;
	/* libmicrohttpd sends the client its 100 Continue only after this
	 * call: until the leader has accepted the head, no body byte is read,
	 * and a refusal closes the connection, as the leader does itself. */
	step_until(q, got_go);
	if (!q->go || q->head) {
		q->early = 1;
		answer(q, conn, 1);
	}
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	(void)cls, (void)url, (void)version;
	struct preq *q = *con_cls;
	if (!q->started) {
		q->started = 1;
		begin(q, conn, method);
		return MHD_YES;
	}
	if (q->early) /* answered at the first call: the body is dropped */
		return *upload_data_size = 0, MHD_YES;
	if (*upload_data_size && q->head) /* the leader answered mid-body */
		return *upload_data_size = 0, MHD_YES;
	if (*upload_data_size) {
		q->in = upload_data;
		q->in_n = *upload_data_size;
		hc_relay_resume(q->job);
		step_until(q, piece_sent);
		q->in_n = 0;
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(q, conn, 0);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	struct preq *q = xcalloc(1, sizeof *q);
	q->p = cls;
	atomic_fetch_add(&q->p->active, 1);
	q->uri = xstrdup(uri ? uri : "/");
	q->body_len = HC_RELAY_NO_BODY;
	buf_init(&q->out, OUT_MAX);
	return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)conn, (void)toe;
	struct preq *q = *con_cls;
	if (!q)
		return;
	finish(q);
	for (size_t i = 0; i < q->nhdrs; i++)
		free(q->hdrs[i]);
	for (size_t i = 0; i < q->nrh; i++)
		free(q->rh[i]);
	free(q->rh);
	buf_release(&q->out);
	free(q->url);
	free(q->uri);
	atomic_fetch_sub(&q->p->active, 1);
	free(q);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("replica proxy: libmicrohttpd: %s", msg);
}

int http_proxy_start(const http_config *cfg, http_upstream_fn up, void *ctx, http_proxy **out,
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
	http_proxy *p = xcalloc(1, sizeof *p);
	p->up = up;
	p->ctx = ctx;
	unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_INTERNAL_POLLING_THREAD;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->tls_cert) {
		if ((rc = http_tls_read(cfg, &p->tls_cert, &p->tls_key, err, errlen)))
			goto fail;
		flags |= MHD_USE_TLS;
	}
	struct MHD_OptionItem tls_opts[] = {
		{ cfg->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, p->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, p->tls_key },
		{ MHD_OPTION_END, 0, NULL },
	};
	errno = 0;
	p->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, p,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, p,
				MHD_OPTION_URI_LOG_CALLBACK, on_uri, p,
				MHD_OPTION_CONNECTION_LIMIT, cfg->max_conns ? cfg->max_conns : 512,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				cfg->max_conns_per_ip ? cfg->max_conns_per_ip : 64,
				MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s ? cfg->timeout_s : 60,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
	if (!p->d) {
		http_start_error(cfg, errno, err, errlen);
		rc = -EADDRINUSE;
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(p->d, MHD_DAEMON_INFO_BIND_PORT);
	p->port = di ? di->port : 0;
	*out = p;
	return 0;
fail:
	free(p->tls_cert);
	free(p->tls_key);
	free(p);
	return rc;
}

unsigned http_proxy_port(const http_proxy *p)
{
	return p->port;
}

int http_proxy_quiesce(http_proxy *p)
{
	MHD_socket fd = MHD_quiesce_daemon(p->d);
	return fd == MHD_INVALID_SOCKET ? -1 : fd;
}

void http_proxy_abandon(http_proxy *p)
{
	if (p)
		atomic_fetch_add(&p->leader, 1);
}

void http_proxy_stop(http_proxy **pp)
{
	http_proxy *p = *pp;
	if (!p)
		return;
	*pp = NULL;
	atomic_store(&p->stopping, 1);
	/* Relays in flight end within a step and are answered (503 before an
	 * answer began) while the daemon still sends: stopping it first would
	 * close their connections unanswered. */
	for (int ms = 0; ms < STOP_WAIT_MS && atomic_load(&p->active) > 0; ms += 10)
		sn_sleep_ms(10);
	MHD_stop_daemon(p->d);
	free(p->tls_cert);
	free(p->tls_key);
	free(p);
}
