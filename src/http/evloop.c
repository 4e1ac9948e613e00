/* The event loop of a server with http_config.event_threads (the ingest
 * listener): plain HTTP/1.1 on epoll, written for requests that answer
 * once their batch is durable (http_req_defer), thousands a second on
 * few threads. With TLS, such a server runs on libmicrohttpd instead.
 *
 * Why not libmicrohttpd here: per deferred request it removed the socket
 * from epoll and added it back (suspend, resume), woke the loop through a
 * pipe per resumption and read the socket twice; those system calls and
 * the thread switches were over half of the ingest listener's CPU per
 * request (docs/metrics.md has the figures).
 *
 * Per loop thread: its own epoll, its own listening socket on the shared
 * port (SO_REUSEPORT; a socket handed over in listen_fd is shared by all
 * loops, EPOLLEXCLUSIVE), its connections, and a queue of resumed
 * requests with an eventfd. Level-triggered: a request costs one read
 * and one write, and the socket stays in epoll from accept to close.
 * After each turn's events, the hooks its handlers registered run
 * (http_req_at_turn_end: the ingest routes' group commit), and what they
 * resume on the loop's own thread is answered at once, without the queue
 * or the eventfd.
 *
 * A connection is in one state at a time:
 *   HEAD     reading a request head (the header deadline runs);
 *   BODY     reading its body (Content-Length or chunked) into the
 *            request cycle of server.c (limits, quotas as on any server);
 *   DISCARD  reading and dropping the body of a refused request, so that
 *            a client still sending sees the answer, not a reset;
 *   DISPATCH the handler runs (on the loop thread);
 *   WAIT     the handler deferred: nothing is read until the reply;
 *   WRITE    the reply did not fit in the socket: waiting for room.
 * Invariants: a connection holds at most one request; only its loop
 * thread touches it (other threads reach a request only through
 * http_ev_resume, which queues it); a closed connection (fd -1) stays
 * allocated until the loop's turn ends, so code that closed it deep in
 * a call chain can still look at it on the way out; one closed while its
 * request waits is freed when that request comes back. Bytes of a next
 * (pipelined) request wait in the buffer until the reply is written, and
 * are taken in a loop, not by recursion. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/http_int.h"

#define IN_CAP 16384        /* a connection's read buffer */
#define HEAD_MAX 32768      /* the longest request head */
#define ACCEPT_BURST 16     /* connections taken per wake-up of a loop */
#define EVENTS 128
/* Reserved connections must send a complete head quickly (server.c too). */
#define RESERVE_HEAD_MS 2000
#define TURN_HOOKS 8        /* distinct turn-end hooks a turn can hold */
#define BLOCK_BYTES 1024    /* a request block's room for its head, at least */

enum { ST_HEAD, ST_BODY, ST_DISCARD, ST_DISPATCH, ST_WAIT, ST_WRITE };

struct ev_loop;

struct ev_conn {
	struct ev_conn *next, *prev;
	struct ev_loop *lp;
	int fd;
	int state;
	int dead;        /* closed while its request waits: freed on resumption */
	int close_after; /* close once the reply is written */
	int in_off_epoll; /* EPOLLIN taken off: the buffer is full while waiting */
	int resumed_inline; /* the handler resumed before returning (loop thread) */
	int processing;  /* inside conn_process: answer() must not re-enter it */
	char *in;
	size_t in_off, in_len, in_cap, scanned; /* scanned: of the head at in_off */
	buf out;
	size_t out_off;
	http_req *r;
	struct ev_block *spare; /* the last request's block, for the next */
	int64_t left;    /* body bytes still to come; -1: chunked */
	uint64_t got;    /* body bytes taken (or dropped) so far */
	struct http_ev_chunked ch;
	int64_t since_ms; /* start of the wait for a head, or of the last progress */
	struct http_conn hc; /* reserve, raw_uri, ip: read by server.c */
	char addr[64];
};

struct ev_loop {
	struct http_ev *ev;
	pthread_t tid;
	int epfd, efd, lfd;
	int own_lfd;     /* lfd is this loop's (closed by it) */
	struct ev_conn *conns;
	struct ev_conn *closed; /* freed at the end of the turn */
	pthread_mutex_t mu; /* guards done and woken */
	http_req *done_head, *done_tail;
	int woken;
	/* Resumed on the loop's own thread (a turn-end hook's commit): no
	 * lock, no wake-up; answered after the hooks. */
	http_req *mine_head, *mine_tail;
	/* http_req_at_turn_end's hooks of the current turn, each once. */
	struct turn_hook { void (*fn)(void *); void *arg; } hooks[TURN_HOOKS];
	unsigned nhooks;
	time_t date_t;
	char date[40];
	int64_t last_sweep_ms;
};

struct ip_count {
	unsigned char ip[17];
	unsigned n;
};

struct http_ev {
	http_server *srv;
	struct ev_loop loops[HTTP_LOOPS_MAX];
	unsigned nloops, started;
	atomic_int stopping, quit;
	pthread_mutex_t mu; /* guards nconns and ips */
	unsigned nconns;
	struct ip_count *ips;
	size_t nips, ips_cap;
};

static void conn_process(struct ev_conn *c);

/* ---- connections ---- */

/* Counts a new connection from ip; 0, or -EBUSY over a limit (nothing
 * counted). Sets *reserve when it takes one of the reserved slots. */
static int admit(struct http_ev *ev, const unsigned char ip[17], int *reserve)
{
	http_server *srv = ev->srv;
	pthread_mutex_lock(&ev->mu);
	int rc = -EBUSY;
	struct ip_count *slot = NULL;
	for (size_t i = 0; i < ev->nips && !slot; i++)
		if (memcmp(ev->ips[i].ip, ip, 17) == 0)
			slot = &ev->ips[i];
	if (ev->nconns >= srv->cfg.max_conns ||
	    (slot && slot->n >= srv->cfg.max_conns_per_ip))
		goto out;
	if (!slot) {
		if (ev->nips == ev->ips_cap) {
			ev->ips_cap = ev->ips_cap ? 2 * ev->ips_cap : 16;
			ev->ips = xrealloc(ev->ips, ev->ips_cap * sizeof *ev->ips);
		}
		slot = &ev->ips[ev->nips++];
		memcpy(slot->ip, ip, 17);
		slot->n = 0;
	}
	slot->n++;
	ev->nconns++;
	*reserve = ev->nconns + srv->cfg.reserved_conns > srv->cfg.max_conns;
	rc = 0;
out:
	pthread_mutex_unlock(&ev->mu);
	return rc;
}

static void release_ip(struct http_ev *ev, const unsigned char ip[17])
{
	pthread_mutex_lock(&ev->mu);
	ev->nconns--;
	for (size_t i = 0; i < ev->nips; i++)
		if (memcmp(ev->ips[i].ip, ip, 17) == 0) {
			if (--ev->ips[i].n == 0)
				ev->ips[i] = ev->ips[--ev->nips];
			break;
		}
	pthread_mutex_unlock(&ev->mu);
}

static void conn_free(struct ev_conn *c)
{
	release_ip(c->lp->ev, c->hc.ip);
	free(c->in);
	free(c->spare);
	buf_release(&c->out);
	free(c);
}

/* Ends the connection's request (server.c logs and frees it). */
static void end_request(struct ev_conn *c, int aborted)
{
	http_cycle_end(c->r, aborted);
	free(c->spare);
	c->spare = (struct ev_block *)c->r; /* r is the block's first member */
	c->r = NULL;
	c->hc.raw_uri = NULL; /* it lay in the request's block */
}

/* Closes the socket. A connection whose request waits for its reply stays
 * (dead) until the reply comes; any other ends its request and is freed
 * at the end of the loop's turn. */
static void conn_close(struct ev_conn *c)
{
	struct ev_loop *lp = c->lp;
	if (c->fd < 0)
		return; /* closed already, on its way out */
	epoll_ctl(lp->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else if (lp->conns == c)
		lp->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	if (c->state == ST_WAIT) {
		c->dead = 1;
		return;
	}
	if (c->r)
		end_request(c, 1);
	c->next = lp->closed;
	lp->closed = c;
}

static void free_closed(struct ev_loop *lp)
{
	while (lp->closed) {
		struct ev_conn *c = lp->closed;
		lp->closed = c->next;
		conn_free(c);
	}
}

static void accept_some(struct ev_loop *lp)
{
	for (int k = 0; k < ACCEPT_BURST; k++) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof sa;
		int fd = accept4(lp->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_debug("http: accept: %s", strerror(errno));
			return;
		}
		unsigned char ip[17];
		char addr[64];
		http_sockaddr((struct sockaddr *)&sa, ip, addr, sizeof addr);
		int reserve = 0;
		if (atomic_load(&lp->ev->stopping) || admit(lp->ev, ip, &reserve)) {
			/* Over a limit: closed at once, no reply, as libmicrohttpd does. */
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct ev_conn *c = xcalloc(1, sizeof *c);
		c->lp = lp;
		c->fd = fd;
		c->in = xmalloc(IN_CAP);
		c->in_cap = IN_CAP;
		buf_init(&c->out, SIZE_MAX);
		c->since_ms = sn_now_ms();
		c->hc.fd = -1;
		c->hc.reserve = reserve;
		memcpy(c->hc.ip, ip, 17);
		memcpy(c->addr, addr, sizeof addr);
		struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &e)) {
			close(fd);
			c->fd = -1;
			conn_free(c);
			continue;
		}
		c->next = lp->conns;
		if (lp->conns)
			lp->conns->prev = c;
		lp->conns = c;
	}
}

/* ---- replies ---- */

static const struct {
	int status;
	const char *text;
} reasons[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 204, "No Content" }, { 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 411, "Length Required" },
	{ 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
	{ 501, "Not Implemented" }, { 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" }, { 507, "Insufficient Storage" },
};

static const char *reason(int st)
{
	for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].status == st)
			return reasons[i].text;
	return st < 300 ? "OK" : st < 500 ? "Client Error" : "Server Error";
}

static const char *date_now(struct ev_loop *lp)
{
	time_t t = time(NULL);
	if (t != lp->date_t) {
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(lp->date, sizeof lp->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		lp->date_t = t;
	}
	return lp->date;
}

/* A header a handler set goes out only when it cannot split the reply. */
static int header_ok(const char *s)
{
	return !strpbrk(s, "\r\n");
}

/* Appends the decimal digits of v (no printf: this is per request). */
static void put_u(buf *o, uint64_t v)
{
	char t[24];
	int i = sizeof t;
	do
		t[--i] = (char)('0' + v % 10);
	while (v /= 10);
	buf_append(o, t + i, sizeof t - (size_t)i);
}

/* Appends "name: value\r\n". */
static void put_field(buf *o, const char *name, const char *value)
{
	buf_puts(o, name);
	buf_append(o, ": ", 2);
	buf_puts(o, value);
	buf_append(o, "\r\n", 2);
}

/* Appends the status line and Date. */
static void put_status(struct ev_conn *c, int status)
{
	buf *o = &c->out;
	buf_puts(o, "HTTP/1.1 ");
	put_u(o, (uint64_t)status);
	buf_append(o, " ", 1);
	buf_puts(o, reason(status));
	buf_append(o, "\r\n", 2);
	put_field(o, "Date", date_now(c->lp));
}

/* Appends r's reply to the connection's output, then ends r. */
static void put_reply(struct ev_conn *c)
{
	http_req *r = c->r;
	struct http_ev_req *e = r->ev;
	buf *o = &c->out;
	if (r->close)
		c->close_after = 1;
	http_cycle_reply(r);
	put_status(c, r->status);
	put_field(o, "X-Request-Id", r->id);
	if (e->ctype && header_ok(e->ctype))
		put_field(o, "Content-Type", e->ctype);
	int cache_set = 0;
	for (int i = 0; i < r->nhdrs; i++) {
		if (!header_ok(r->hdr_name[i]) || !header_ok(r->hdr_val[i])) {
			log_error("http: header %s not sent: it holds a line break", r->hdr_name[i]);
			continue;
		}
		put_field(o, r->hdr_name[i], r->hdr_val[i]);
		cache_set |= strcasecmp(r->hdr_name[i], "Cache-Control") == 0;
	}
	if (!cache_set)
		buf_puts(o, "Cache-Control: no-store\r\n");
	if (c->close_after)
		buf_puts(o, "Connection: close\r\n");
	if (r->status != 204) { /* a 204 has no length field (RFC 9110 8.6) */
		buf_puts(o, "Content-Length: ");
		put_u(o, e->len);
		buf_append(o, "\r\n", 2);
	}
	buf_append(o, "\r\n", 2);
	if (strcmp(r->method, "HEAD") != 0 && e->len && r->status != 204)
		buf_append(o, e->body, e->len);
	end_request(c, 0);
}

/* Writes what the output holds. 0 when it is all out (or the connection
 * was closed after it), 1 when the socket is full (EPOLLOUT armed). */
static int flush_out(struct ev_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* Not EPOLLRDHUP: a client that shut its side still reads. */
			struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
			epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e);
			c->state = ST_WRITE;
			c->since_ms = sn_now_ms();
			return 1;
		}
		if (n <= 0) {
			conn_close(c);
			return 0;
		}
		c->out_off += (size_t)n;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	if (c->state == ST_WRITE || c->in_off_epoll) {
		struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
		epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->in_off_epoll = 0;
	}
	if (c->close_after) {
		/* Half-close first: the client reads the reply before the reset
		 * that unread bytes of its body would cause. */
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
		return 0;
	}
	c->state = ST_HEAD;
	c->since_ms = sn_now_ms();
	return 0;
}

/* The request's reply is set: sends it and goes on with the next request. */
static void answer(struct ev_conn *c)
{
	put_reply(c);
	if (flush_out(c) == 0 && c->fd >= 0 && c->state == ST_HEAD && c->in_len > c->in_off &&
	    !c->processing)
		conn_process(c);
}

/* An error of the connection itself, before a request exists (a bad
 * head): answered and closed. */
static void refuse_head(struct ev_conn *c, int status, const char *code, const char *msg)
{
	json_t *j = http_error_json(code, msg, NULL);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	buf *o = &c->out;
	put_status(c, status);
	put_field(o, "Content-Type", "application/json");
	buf_puts(o, "Cache-Control: no-store\r\nConnection: close\r\nContent-Length: ");
	put_u(o, strlen(s) + 1);
	buf_append(o, "\r\n\r\n", 4);
	buf_puts(o, s);
	buf_append(o, "\n", 1);
	free(s);
	c->close_after = 1;
	flush_out(c);
}

/* ---- requests ---- */

/* Splits the query q (in place) into decoded names and values. */
static void query_parse(struct http_ev_req *e, char *q)
{
	char *s = q;
	while (*s && e->nq < HTTP_EV_QUERY_MAX) {
		char *amp = strchr(s, '&');
		if (amp)
			*amp = '\0';
		if (*s) {
			char *eq = strchr(s, '=');
			if (eq)
				*eq = '\0';
			/* "?k" without '=' has no value: looked up, it is absent,
			 * as libmicrohttpd answers. */
			e->qname[e->nq] = s;
			e->qval[e->nq] = eq ? eq + 1 : NULL;
			http_ev_unescape(e->qname[e->nq], 1);
			if (eq)
				http_ev_unescape(eq + 1, 1);
			e->nq++;
		}
		if (!amp)
			break;
		s = amp + 1;
	}
}

/* A request of the loop in one allocation: the request, what the loop
 * keeps of it, its head parsed in place, and a copy of the raw target
 * (the head's decoded target and query are cut in place). Once the
 * request ended (server.c's http_cycle_end frees what it holds), its
 * connection keeps the block for the next request whose head fits: about
 * 3 KiB, past malloc's per-thread cache, that every request allocated
 * and freed. */
struct ev_block {
	http_req r;
	struct http_ev_req e;
	size_t cap; /* of bytes */
	char bytes[];
};

/* Starts the request whose head is the first hl bytes of the buffer. */
static void begin(struct ev_conn *c, size_t hl)
{
	http_server *srv = c->lp->ev->srv;
	struct ev_block *blk = c->spare;
	size_t need = 2 * (hl + 1);
	c->spare = NULL;
	if (!blk || blk->cap < need) {
		free(blk);
		size_t cap = need < BLOCK_BYTES ? BLOCK_BYTES : need;
		blk = xmalloc(sizeof *blk + cap);
		blk->cap = cap;
	}
	memset(blk, 0, offsetof(struct ev_block, cap));
	struct http_ev_req *e = &blk->e;
	e->head = blk->bytes;
	memcpy(e->head, c->in + c->in_off, hl);
	e->head[hl] = '\0';
	c->in_off += hl;
	c->scanned = 0;
	int rc = http_ev_parse_head(e->head, hl, &e->h);
	if (rc) {
		c->spare = blk;
		if (rc == -E2BIG)
			refuse_head(c, 431, "headers_too_large", "the request has too many header fields");
		else if (rc == -ENOTSUP)
			refuse_head(c, 501, "not_implemented",
				    "the only transfer coding taken is chunked");
		else if (rc == -EPROTONOSUPPORT)
			refuse_head(c, 505, "http_version", "this server speaks HTTP/1.0 and 1.1");
		else
			refuse_head(c, 400, "bad_request", "malformed request head");
		return;
	}
	c->hc.raw_uri = blk->bytes + hl + 1;
	memcpy(c->hc.raw_uri, e->h.target, strlen(e->h.target) + 1);
	/* The routed path is the decoded target up to '?', as libmicrohttpd
	 * gives it; the checks on the raw target come first (server.c). */
	char *q = strchr(e->h.target, '?');
	if (q) {
		*q = '\0';
		query_parse(e, q + 1);
	}
	http_ev_unescape(e->h.target, 0);
	http_req *r = &blk->r;
	r->srv = srv;
	r->ev = e;
	e->conn = c;
	r->method = e->h.method;
	r->path = e->h.target;
	r->hc = &c->hc;
	memcpy(r->addr, c->addr, sizeof r->addr);
	c->r = r;
	c->close_after = !e->h.keep_alive;
	c->left = e->h.chunked ? -1 : e->h.length > 0 ? e->h.length : 0;
	memset(&c->ch, 0, sizeof c->ch);
	c->got = 0;
	int early = http_cycle_begin(r);
	int has_body = c->left != 0;
	if (early) {
		/* As server.c's on_request: a bounded body sent without waiting
		 * for 100-continue is read and dropped, so the client sees the
		 * answer; otherwise answer now and close. */
		if (early == 1 && has_body && !e->h.expect_continue &&
		    (c->left < 0 || (uint64_t)c->left <= DISCARD_MAX)) {
			c->state = ST_DISCARD;
			return;
		}
		if (has_body)
			c->close_after = 1;
		answer(c);
		return;
	}
	c->state = ST_BODY;
	if (has_body && e->h.expect_continue && c->in_len == c->in_off) {
		/* A fresh socket always has room for these 25 bytes. */
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL) != (ssize_t)sizeof cont - 1)
			conn_close(c);
	}
}

static void dispatch(struct ev_conn *c)
{
	http_req *r = c->r;
	c->state = ST_DISPATCH;
	c->resumed_inline = 0;
	http_cycle_dispatch(r);
	if (r->deferred && !c->resumed_inline) {
		c->state = ST_WAIT;
		return;
	}
	answer(c);
}

/* Takes body bytes from the buffer: 1 when the body is complete, 0 when
 * more must come, -1 for a malformed chunk, -2 when a refused body goes on
 * past what is read of it (DISCARD_MAX). */
static int take_body(struct ev_conn *c, int drop)
{
	while (c->left != 0 && c->in_off < c->in_len) {
		const char *p = c->in + c->in_off;
		size_t n = c->in_len - c->in_off, off = 0, len;
		if (c->left > 0) {
			len = n < (uint64_t)c->left ? n : (size_t)c->left;
			c->left -= (int64_t)len;
			c->in_off += len;
		} else {
			long used = http_ev_chunked(&c->ch, p, n, &off, &len);
			if (used < 0)
				return -1;
			c->in_off += (size_t)used;
			if (http_ev_chunked_done(&c->ch))
				c->left = 0;
		}
		c->got += len;
		if (!drop && len)
			http_cycle_piece(c->r, p + off, len);
		http_req *r = c->r;
		int refused = drop || r->too_large || r->quota_err || r->spool_err;
		if (refused && c->got > DISCARD_MAX + (drop ? 0 : r->spooled + r->body.len))
			return -2;
	}
	return c->left == 0;
}

/* Goes on with what the buffer holds, as far as it can. */
static void conn_step(struct ev_conn *c)
{
	while (c->fd >= 0) {
		if (c->state == ST_HEAD) {
			if (c->in_off == c->in_len)
				return;
			size_t from = c->scanned > 2 ? c->scanned - 2 : 0;
			size_t hl = http_ev_head_end(c->in + c->in_off, c->in_len - c->in_off, from);
			if (!hl) {
				c->scanned = c->in_len - c->in_off;
				if (c->scanned >= HEAD_MAX)
					refuse_head(c, 431, "headers_too_large",
						    "the request head exceeds 32768 bytes");
				return;
			}
			begin(c, hl);
			continue;
		}
		if (c->state != ST_BODY && c->state != ST_DISCARD)
			return;
		int done = take_body(c, c->state == ST_DISCARD);
		if (done == 0)
			return;
		if (done < 0) /* no more of this body is read */
			c->close_after = 1;
		if (done == -1 && c->state == ST_BODY) {
			http_reply_error(c->r, 400, "bad_request", "malformed chunked body");
			answer(c);
		} else if (c->state == ST_DISCARD) {
			answer(c);
		} else {
			dispatch(c); /* answers the refusal (413, 429, 507) */
		}
	}
}

static void conn_process(struct ev_conn *c)
{
	c->processing = 1;
	conn_step(c);
	c->processing = 0;
}

static void conn_readable(struct ev_conn *c)
{
	if (c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off && c->in_len > c->in_cap / 2) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->scanned = c->state == ST_HEAD ? c->scanned : 0;
		c->in_off = 0;
	}
	if (c->in_len == c->in_cap && c->state == ST_HEAD && c->in_cap < HEAD_MAX) {
		/* A long head: the buffer grows to HEAD_MAX, for good. */
		c->in = xrealloc(c->in, HEAD_MAX);
		c->in_cap = HEAD_MAX;
	}
	size_t cap = c->in_cap;
	if (c->in_len >= cap) {
		/* Full while a reply is pending (a pipelining client): stop
		 * reading until it is out. (A head that fills HEAD_MAX was
		 * refused, and a body is always taken whole.) Nothing armed: a
		 * client that shut its side still gets its answers. */
		struct epoll_event e = { .events = 0, .data.ptr = c };
		epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->in_off_epoll = 1;
		return;
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == 0 && c->state == ST_WAIT) {
		/* The client shut its side after a whole request: it still reads
		 * the answer (and those of requests still in the buffer); the
		 * end of input is read again once reading resumes, and closes. */
		struct epoll_event e = { .events = 0, .data.ptr = c };
		epoll_ctl(c->lp->epfd, EPOLL_CTL_MOD, c->fd, &e);
		c->in_off_epoll = 1;
		return;
	}
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (c->state != ST_HEAD)
		c->since_ms = sn_now_ms();
	conn_process(c);
}

/* Appends r to a list of resumed requests. */
static void req_list_add(http_req **head, http_req **tail, http_req *r)
{
	r->ev->next = NULL;
	if (*tail)
		(*tail)->ev->next = r;
	else
		*head = r;
	*tail = r;
}

/* Answers a list of resumed requests (their replies set). */
static void answer_list(http_req *r)
{
	while (r) {
		http_req *next = r->ev->next;
		struct ev_conn *c = r->ev->conn;
		if (c->dead) {
			end_request(c, 1);
			conn_free(c);
		} else {
			c->state = ST_DISPATCH;
			answer(c);
		}
		r = next;
	}
}

/* Requests resumed by other threads, their replies set. */
static void drain_done(struct ev_loop *lp)
{
	uint64_t v;
	if (read(lp->efd, &v, sizeof v) < 0 && errno != EAGAIN)
		log_debug("http: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&lp->mu);
	http_req *r = lp->done_head;
	lp->done_head = lp->done_tail = NULL;
	lp->woken = 0;
	pthread_mutex_unlock(&lp->mu);
	answer_list(r);
}

/* The turn's hooks, then the requests they resumed. Answering may take a
 * pipelined request whose handler adds a hook: the caller runs this again
 * until none is left, so that no request waits for the next event. */
static void turn_end(struct ev_loop *lp)
{
	struct turn_hook h[TURN_HOOKS];
	unsigned n = lp->nhooks;
	memcpy(h, lp->hooks, n * sizeof *h);
	lp->nhooks = 0;
	for (unsigned i = 0; i < n; i++)
		h[i].fn(h[i].arg);
	http_req *r = lp->mine_head;
	lp->mine_head = lp->mine_tail = NULL;
	answer_list(r);
}

int http_ev_at_turn_end(http_req *r, void (*fn)(void *), void *arg)
{
	struct ev_loop *lp = r->ev->conn->lp;
	if (!pthread_equal(pthread_self(), lp->tid))
		return -ENOTSUP;
	for (unsigned i = 0; i < lp->nhooks; i++)
		if (lp->hooks[i].fn == fn && lp->hooks[i].arg == arg)
			return 0;
	if (lp->nhooks == TURN_HOOKS)
		return -ENOSPC;
	lp->hooks[lp->nhooks++] = (struct turn_hook){ fn, arg };
	return 0;
}

void http_ev_resume(http_req *r)
{
	struct ev_conn *c = r->ev->conn;
	struct ev_loop *lp = c->lp;
	if (pthread_equal(pthread_self(), lp->tid)) {
		if (c->state == ST_DISPATCH && c->r == r) {
			c->resumed_inline = 1;
			return;
		}
		req_list_add(&lp->mine_head, &lp->mine_tail, r);
		return;
	}
	pthread_mutex_lock(&lp->mu);
	req_list_add(&lp->done_head, &lp->done_tail, r);
	int wake = !lp->woken;
	lp->woken = 1;
	pthread_mutex_unlock(&lp->mu);
	uint64_t one = 1;
	if (wake && write(lp->efd, &one, sizeof one) < 0)
		log_error("http: cannot wake the event loop: %s", strerror(errno));
}

/* Once a second: heads that are late (slowloris), stalled bodies and
 * writes. A connection waiting for its reply is never timed out. */
static void sweep(struct ev_loop *lp, int64_t now)
{
	http_server *srv = lp->ev->srv;
	struct ev_conn *next;
	for (struct ev_conn *c = lp->conns; c; c = next) {
		next = c->next;
		int64_t limit;
		if (c->state == ST_HEAD)
			limit = c->hc.reserve ? RESERVE_HEAD_MS : (int64_t)srv->cfg.header_timeout_s * 1000;
		else if (c->state == ST_BODY || c->state == ST_DISCARD || c->state == ST_WRITE)
			limit = (int64_t)srv->cfg.timeout_s * 1000;
		else
			continue;
		if (now - c->since_ms > limit)
			conn_close(c);
	}
}

static void *loop_main(void *arg)
{
	struct ev_loop *lp = arg;
	struct http_ev *ev = lp->ev;
	struct epoll_event evs[EVENTS];
	char name[16];
	snprintf(name, sizeof name, "http-ev%u", (unsigned)(lp - ev->loops));
	pthread_setname_np(pthread_self(), name);
	while (!atomic_load(&ev->quit)) {
		int n = epoll_wait(lp->epfd, evs, EVENTS, 500);
		if (n < 0 && errno != EINTR) {
			log_error("http: epoll_wait: %s", strerror(errno));
			break;
		}
		int done = 0;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &lp->lfd) {
				accept_some(lp);
				continue;
			}
			if (p == &lp->efd) {
				done = 1;
				continue;
			}
			struct ev_conn *c = p;
			uint32_t what = evs[i].events;
			if (c->fd < 0)
				continue;
			if (c->state == ST_WRITE && (what & EPOLLOUT)) {
				if (flush_out(c) == 0 && c->fd >= 0 && c->in_len > c->in_off)
					conn_process(c);
			} else if (what & EPOLLIN) {
				conn_readable(c);
			} else if (what & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
				conn_close(c);
			}
		}
		/* Resumptions after the events, then the turn's hooks: a
		 * connection closed above that waited is dead by now and only
		 * freed. */
		if (done)
			drain_done(lp);
		while (lp->nhooks || lp->mine_head)
			turn_end(lp);
		if (atomic_load(&ev->stopping) && lp->lfd >= 0) {
			epoll_ctl(lp->epfd, EPOLL_CTL_DEL, lp->lfd, NULL);
			if (lp->own_lfd)
				close(lp->lfd);
			lp->lfd = -1;
		}
		int64_t now = sn_now_ms();
		if (now - lp->last_sweep_ms >= 1000) {
			lp->last_sweep_ms = now;
			sweep(lp, now);
		}
		free_closed(lp);
	}
	return NULL;
}

/* ---- start and stop ---- */

static int listen_on(const struct sockaddr_storage *ss, socklen_t sl, int reuseport)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)ss, sl) || listen(fd, 1024)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void loop_release(struct ev_loop *lp)
{
	while (lp->conns) {
		struct ev_conn *c = lp->conns;
		if (c->state == ST_WAIT)
			c->state = ST_HEAD; /* no resumption can come any more */
		conn_close(c);
	}
	free_closed(lp);
	if (lp->lfd >= 0 && lp->own_lfd)
		close(lp->lfd);
	if (lp->efd >= 0)
		close(lp->efd);
	if (lp->epfd >= 0)
		close(lp->epfd);
	pthread_mutex_destroy(&lp->mu);
}

static void ev_free(struct http_ev *ev)
{
	for (unsigned i = 0; i < ev->nloops; i++)
		loop_release(&ev->loops[i]);
	pthread_mutex_destroy(&ev->mu);
	free(ev->ips);
	free(ev);
}

int http_ev_start(http_server *srv, const struct sockaddr_storage *addr, socklen_t sl,
		  char *err, size_t errlen)
{
	struct http_ev *ev = xcalloc(1, sizeof *ev);
	struct sockaddr_storage ss = *addr;
	int rc = 0;
	ev->srv = srv;
	pthread_mutex_init(&ev->mu, NULL);
	unsigned n = srv->cfg.event_threads;
	if (n > HTTP_LOOPS_MAX)
		n = HTTP_LOOPS_MAX;
	int shared = srv->cfg.listen_fd > 0;
	for (unsigned i = 0; i < n; i++) {
		struct ev_loop *lp = &ev->loops[i];
		lp->ev = ev;
		lp->lfd = lp->efd = lp->epfd = -1;
		pthread_mutex_init(&lp->mu, NULL);
		ev->nloops++;
		if (shared) {
			/* Loops accept until EAGAIN: a blocking socket would hold one. */
			int fl = fcntl(srv->cfg.listen_fd, F_GETFL);
			if (fl >= 0 && !(fl & O_NONBLOCK))
				fcntl(srv->cfg.listen_fd, F_SETFL, fl | O_NONBLOCK);
			lp->lfd = srv->cfg.listen_fd;
		} else {
			int fd = listen_on(&ss, sl, n > 1);
			if (fd < 0) {
				http_start_error(&srv->cfg, -fd, err, errlen);
				rc = -EADDRINUSE;
				goto fail;
			}
			lp->lfd = fd;
			lp->own_lfd = 1;
			if (i == 0) {
				/* Port 0: the other loops bind the port the first one got. */
				socklen_t bl = sizeof ss;
				getsockname(fd, (struct sockaddr *)&ss, &bl);
			}
		}
		lp->epfd = epoll_create1(EPOLL_CLOEXEC);
		lp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		struct epoll_event le = { .events = EPOLLIN | (shared && n > 1 ? EPOLLEXCLUSIVE : 0),
					  .data.ptr = &lp->lfd };
		struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &lp->efd };
		if (lp->epfd < 0 || lp->efd < 0 || epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->lfd, &le) ||
		    epoll_ctl(lp->epfd, EPOLL_CTL_ADD, lp->efd, &ee)) {
			rc = -errno;
			snprintf(err, errlen, "cannot start the event loop: %s", strerror(errno));
			goto fail;
		}
	}
	if (shared) {
		socklen_t bl = sizeof ss;
		getsockname(srv->cfg.listen_fd, (struct sockaddr *)&ss, &bl);
	}
	srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						  : ((struct sockaddr_in *)&ss)->sin_port);
	for (unsigned i = 0; i < n; i++) {
		if ((rc = -pthread_create(&ev->loops[i].tid, NULL, loop_main, &ev->loops[i]))) {
			snprintf(err, errlen, "cannot start the event loop: %s", strerror(-rc));
			atomic_store(&ev->quit, 1);
			for (unsigned k = 0; k < i; k++)
				pthread_join(ev->loops[k].tid, NULL);
			goto fail;
		}
		ev->started++;
	}
	srv->ev = ev;
	return 0;
fail:
	if (shared) /* the caller keeps the socket it handed over */
		for (unsigned i = 0; i < ev->nloops; i++)
			ev->loops[i].lfd = -1;
	ev_free(ev);
	return rc;
}

static void wake_all(struct http_ev *ev)
{
	uint64_t one = 1;
	for (unsigned i = 0; i < ev->started; i++)
		if (write(ev->loops[i].efd, &one, sizeof one) < 0)
			log_debug("http: eventfd: %s", strerror(errno));
}

void http_ev_quiesce(http_server *srv)
{
	struct http_ev *ev = srv->ev;
	atomic_store(&ev->stopping, 1);
	wake_all(ev);
	if (srv->cfg.listen_fd > 0) {
		/* A socket handed over is closed once no loop polls it. */
		for (int tries = 0; tries < 200; tries++) {
			int open = 0;
			for (unsigned i = 0; i < ev->started; i++)
				open |= ev->loops[i].lfd >= 0;
			if (!open)
				break;
			usleep(5000);
		}
		close(srv->cfg.listen_fd);
		srv->cfg.listen_fd = -1;
	}
}

void http_ev_stop(http_server *srv)
{
	struct http_ev *ev = srv->ev;
	atomic_store(&ev->quit, 1);
	wake_all(ev);
	for (unsigned i = 0; i < ev->started; i++)
		pthread_join(ev->loops[i].tid, NULL);
	srv->ev = NULL;
	ev_free(ev);
}

void http_ev_req_free(struct http_ev_req *e)
{
	if (!e)
		return;
	free(e->body);
	if (e->ctype != e->ctype_buf)
		free(e->ctype);
}
