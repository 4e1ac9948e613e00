/* sentinel engine: scores feature vectors over TCP (docs/engine.md).
 *
 * Threads: the main thread owns the listening socket and waits for
 * SIGINT/SIGTERM; N workers each run an epoll loop, share the listening
 * socket (EPOLLEXCLUSIVE wakes one of them per connection) and own the
 * connections they accept.
 *
 * Invariants of a worker:
 *  1. Replies leave a connection in the order its lines arrived: lines are
 *     queued as entries (a row to score, or an error) in arrival order,
 *     and a flush appends every entry's reply in queue order.
 *  2. A connection is freed only after the queue holds no entry of it:
 *     closes are deferred to the end of the loop iteration, after the
 *     flush.
 *  3. Memory per connection is bounded: the input buffer by the line cap
 *     plus one read, the output by OUT_CAP plus one read's replies (no
 *     reading while the output is over the cap).
 *  4. With --token-file, nothing of a connection is scored before its first
 *     line was "AUTH <token>"; any other first line gets one error reply,
 *     the write side is shut after it and the rest of the input is dropped. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ml/ml_blas.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "ml/ml.h"
#include "ml/ml_csv.h"
#include "ml/ml_net.h"
#include "model/model_client.h"

/* Invariant 3 in numbers: a read adds at most READ_CHUNK bytes of lines and
 * the costliest is "\n" (a 17-byte error reply), so one read's replies stay
 * under 17 x READ_CHUNK (4.25 MiB) on top of OUT_CAP. */
#define READ_CHUNK (256 * 1024)
#define OUT_CAP (4 * 1024 * 1024)
#define MAX_EVENTS 256
#define TOKEN_MAX 4096 /* longest --token-file accepted */

static const cfg_opt engine_opts[] = {
	{ "model", "DIR", NULL, "model directory with model.onnx and config.json, or NAME@V with --server (required)", 0 },
	{ "server", "URL", NULL, "pull --model NAME@V from this server's registry", CFG_NOENV },
	{ "token", "TOKEN", NULL, "API token for --server (default: from 'sentinel login')", 0 },
	{ "insecure", NULL, NULL, "accept a self-signed TLS certificate of --server", CFG_FLAG },
	{ "listen", "ADDR", "0.0.0.0:9000", "address to listen on (HOST:PORT, [V6]:PORT)", 0 },
	{ "threads", "N", "0", "worker threads (0: one per CPU, at most 64)", 0 },
	{ "max-connections", "N", "1024", "connections served at once; more are refused", 0 },
	{ "max-line", "BYTES", "65536", "longest request line", 0 },
	{ "batch", "N", "1024", "most vectors scored in one batch", 0 },
	{ "interpret", NULL, NULL, "run the ONNX graph interpreter even for dense models", CFG_FLAG },
	{ "token-file", "FILE", NULL, "require a first line 'AUTH <token>' from every client (token: FILE's first line)", 0 },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec engine_spec = {
	.cmd = "engine",
	.synopsis = "--model DIR | --server URL --model NAME@V [--listen 0.0.0.0:9000] [options]",
	.summary = "Serve an anomaly model: one line of comma-separated features in, one line\n"
		   "'score,is_anomaly' out (docs/engine.md).",
	.opts = engine_opts,
	.max_args = 0,
};

struct conn {
	int fd;
	int closing;      /* EOF or error seen: close once the output is sent */
	int discarding;   /* inside an over-long line: drop bytes up to '\n' */
	int dead;         /* write failed: drop everything */
	int authed;       /* AUTH passed, or no token is required */
	int rejected;     /* AUTH failed: drop input, shut the write side once sent */
	int shut;
	unsigned events;  /* epoll interest currently registered */
	char *in;
	size_t ilen;
	char *out;
	size_t olen, ooff, ocap;
	struct conn *next, *prev;     /* all connections of the worker */
	struct conn *tnext;           /* touched in this iteration */
	int touched;
};

enum { E_ROW, E_EMPTY, E_COUNT, E_NAN, E_INF, E_LONG, E_FAIL, E_AUTH };

struct entry {
	struct conn *c;
	int kind;
	int arg, arg2;
};

struct engine {
	ml_model *model;
	int lfd, stopfd;
	int dim;
	size_t max_line, batch;
	long max_conns;
	atomic_long nconns;
	double threshold;
	int has_token;
	size_t token_len;
	unsigned char token_hash[crypto_generichash_BYTES];
};

struct worker {
	struct engine *e;
	pthread_t tid;
	int ep;
	ml_scorer *scorer;
	float *rows, *scores;
	size_t nrows;
	struct entry *ents;
	size_t nents;
	struct conn *conns, *touched;
	char *rbuf;
	int spare_fd;        /* /dev/null, given up to accept-and-close at EMFILE */
	int64_t emfile_logged_ms;
};

static void out_append(struct conn *c, const char *s, size_t n)
{
	if (c->dead)
		return;
	/* No cap here: settle() stops reading while the output is over OUT_CAP. */
	if (c->olen + n > c->ocap) {
		size_t cap = c->ocap ? c->ocap : 4096;
		while (cap < c->olen + n)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->ocap = cap;
	}
	memcpy(c->out + c->olen, s, n);
	c->olen += n;
}

static void touch(struct worker *w, struct conn *c)
{
	if (!c->touched) {
		c->touched = 1;
		c->tnext = w->touched;
		w->touched = c;
	}
}

static void error_reply(struct worker *w, const struct entry *en)
{
	char msg[128];
	int n = 0;
	switch (en->kind) {
	case E_EMPTY:
		n = snprintf(msg, sizeof msg, "error,empty line\n");
		break;
	case E_COUNT:
		n = snprintf(msg, sizeof msg, "error,expected %d values, got %d\n", w->e->dim,
			     en->arg);
		break;
	case E_NAN:
		n = snprintf(msg, sizeof msg, "error,value %d is not a number\n", en->arg);
		break;
	case E_INF:
		n = snprintf(msg, sizeof msg, "error,value %d is not finite\n", en->arg);
		break;
	case E_LONG:
		n = snprintf(msg, sizeof msg, "error,line longer than %zu bytes\n", w->e->max_line);
		break;
	case E_AUTH:
		n = snprintf(msg, sizeof msg, "error,unauthorized: the first line must be AUTH <token>\n");
		break;
	default:
		n = snprintf(msg, sizeof msg, "error,scoring failed\n");
		break;
	}
	out_append(en->c, msg, (size_t)n);
}

/* Scores the queued rows and appends every queued reply in order. */
static void flush_batch(struct worker *w)
{
	int failed = 0;
	/* The scorer names no row at fault, so a failure fails the whole batch. */
	if (w->nrows)
		failed = ml_scorer_score(w->scorer, w->rows, w->nrows, w->scores) != 0;
	for (size_t i = 0; i < w->nents; i++) {
		struct entry *en = &w->ents[i];
		if (en->kind == E_ROW && failed)
			en->kind = E_FAIL;
		if (en->kind != E_ROW) {
			error_reply(w, en);
			continue;
		}
		/* ml_format_float writes < 24 bytes; ",1\n" follows. */
		char line[40];
		float s = w->scores[en->arg];
		int n = ml_format_float(s, line);
		line[n++] = ',';
		/* Compared in double: a float threshold would round and flip scores
		 * that lie between the two. */
		line[n++] = (double)s > w->e->threshold ? '1' : '0';
		line[n++] = '\n';
		out_append(en->c, line, (size_t)n);
	}
	w->nrows = 0;
	w->nents = 0;
}

static void queue(struct worker *w, struct conn *c, int kind, int arg)
{
	if (w->nents == w->e->batch || (kind == E_ROW && w->nrows == w->e->batch))
		flush_batch(w);
	struct entry *en = &w->ents[w->nents++];
	en->c = c;
	en->kind = kind;
	en->arg = kind == E_ROW ? (int)w->nrows++ : arg;
}

/* Parses one request line (without its '\n') into the next batch row. */
static void handle_line(struct worker *w, struct conn *c, char *s, size_t n)
{
	int d = w->e->dim;
	if (n > w->e->max_line) {
		queue(w, c, E_LONG, 0);
		return;
	}
	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0) {
		queue(w, c, E_EMPTY, 0);
		return;
	}
	if (w->nrows == w->e->batch || w->nents == w->e->batch)
		flush_batch(w); /* so that queueing this row cannot flush it away */
	float *row = w->rows + w->nrows * (size_t)d;
	const char *p = s, *end = s + n;
	int k = 0;
	for (;;) {
		const char *q = memchr(p, ',', (size_t)(end - p));
		const char *fe = q ? q : end, *fs = p;
		while (fs < fe && (*fs == ' ' || *fs == '\t'))
			fs++;
		while (fe > fs && (fe[-1] == ' ' || fe[-1] == '\t'))
			fe--;
		if (k < d) {
			int rc = ml_parse_float(fs, (size_t)(fe - fs), &row[k]);
			if (rc) {
				queue(w, c, rc == -ERANGE ? E_INF : E_NAN, k + 1);
				return;
			}
		}
		k++;
		if (!q)
			break;
		p = q + 1;
	}
	if (k != d) {
		queue(w, c, E_COUNT, k);
		return;
	}
	queue(w, c, E_ROW, 0);
}

/* The first line of a connection when a token is required. Hashing both
 * sides makes the comparison constant-time whatever their lengths. */
static void check_auth(struct worker *w, struct conn *c, const char *s, size_t n)
{
	unsigned char h[crypto_generichash_BYTES];
	if (n && s[n - 1] == '\r')
		n--;
	int ok = n > 5 && memcmp(s, "AUTH ", 5) == 0 &&
		 crypto_generichash(h, sizeof h, (const unsigned char *)s + 5, n - 5, NULL, 0) == 0 &&
		 sodium_memcmp(h, w->e->token_hash, sizeof h) == 0;
	if (ok) {
		c->authed = 1;
		return;
	}
	queue(w, c, E_AUTH, 0);
	c->rejected = 1;
}

static void line(struct worker *w, struct conn *c, char *s, size_t n)
{
	if (c->authed)
		handle_line(w, c, s, n);
	else
		check_auth(w, c, s, n);
}

/* Splits the input buffer into lines; keeps the partial tail. */
static void handle_input(struct worker *w, struct conn *c, int eof)
{
	char *p = c->in, *end = c->in + c->ilen;
	for (;;) {
		char *nl = c->rejected ? NULL : memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		if (c->discarding)
			c->discarding = 0;
		else
			line(w, c, p, (size_t)(nl - p));
		p = nl + 1;
	}
	size_t rest = (size_t)(end - p);
	if (c->rejected) {
		rest = 0;
	} else if (!c->authed && rest > w->e->max_line) {
		/* An over-long first line is refused as a bad AUTH, not buffered. */
		check_auth(w, c, "", 0);
		rest = 0;
	} else if (c->discarding) {
		rest = 0;
	} else if (rest > w->e->max_line) {
		queue(w, c, E_LONG, 0);
		c->discarding = 1;
		rest = 0;
	} else if (eof && rest) {
		line(w, c, p, rest);
		rest = 0;
	}
	memmove(c->in, p, rest);
	c->ilen = rest;
}

static void conn_read(struct worker *w, struct conn *c)
{
	/* handle_input leaves at most max_line bytes (one partial line), so
	 * room is at least READ_CHUNK. */
	size_t room = w->e->max_line + READ_CHUNK - c->ilen;
	ssize_t n = read(c->fd, c->in + c->ilen, room);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	touch(w, c);
	if (n <= 0) {
		c->closing = 1;
		if (n < 0)
			c->dead = 1;
		handle_input(w, c, 1);
		return;
	}
	c->ilen += (size_t)n;
	handle_input(w, c, 0);
}

static void conn_write(struct conn *c)
{
	while (!c->dead && c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->out + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->dead = 1;
			break;
		}
		c->ooff += (size_t)n;
	}
	if (c->ooff == c->olen || c->dead)
		c->ooff = c->olen = 0;
	/* Compacting only after OUT_CAP/2 bytes were sent keeps the copying
	 * amortised O(1) per byte for a slow reader. */
	if (c->ooff > OUT_CAP / 2) {
		memmove(c->out, c->out + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
	}
}

static void conn_free(struct worker *w, struct conn *c)
{
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	atomic_fetch_sub(&w->e->nconns, 1);
	free(c->in);
	free(c->out);
	free(c);
}

/* After the flush: send, then close or update the epoll interest. */
static void settle(struct worker *w, struct conn *c)
{
	conn_write(c);
	int pending = c->olen > c->ooff;
	if (c->dead || (c->closing && !pending)) {
		conn_free(w, c);
		return;
	}
	/* The client reads the refusal, then EOF; its further lines are read
	 * and dropped until it closes (closing at once could reset the
	 * connection before the refusal is read). */
	if (c->rejected && !pending && !c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = 1;
	}
	unsigned ev = 0;
	/* Back-pressure: a client that does not read its replies is not read. */
	if (!c->closing && c->olen - c->ooff < OUT_CAP)
		ev |= EPOLLIN;
	if (pending)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		struct epoll_event e = { .events = ev, .data.ptr = c };
		epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &e);
		c->events = ev;
	}
}

static void accept_all(struct worker *w)
{
	for (;;) {
		int fd = accept4(w->e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		/* EAGAIN: the backlog is empty (or another worker took it). */
		if (fd < 0 && (errno == EMFILE || errno == ENFILE) && w->spare_fd >= 0) {
			/* Out of descriptors the pending connection would stay in the
			 * backlog and keep the listener readable: the worker would spin.
			 * Free the spare, take the connection and close it (the client
			 * sees a close, not a hang), then take the spare back. */
			int64_t now = sn_now_ms();
			if (now - w->emfile_logged_ms > 1000) {
				log_warn("engine: accept: %s: refusing connections", strerror(errno));
				w->emfile_logged_ms = now;
			}
			close(w->spare_fd);
			fd = accept4(w->e->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				close(fd);
			w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (fd >= 0)
				continue;
			return;
		}
		if (fd < 0)
			return;
		/* Add, then check: workers racing for the last slot cannot both win. */
		if (atomic_fetch_add(&w->e->nconns, 1) >= w->e->max_conns) {
			static const char msg[] = "error,too many connections\n";
			atomic_fetch_sub(&w->e->nconns, 1);
			/* Best effort and never blocking: the worker serves others. */
			if (send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("engine: refused connection: %s", strerror(errno));
			close(fd);
			continue;
		}
		/* Replies are short lines: Nagle would delay each one. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct conn *c = xcalloc(1, sizeof *c);
		c->fd = fd;
		c->authed = !w->e->has_token;
		c->in = xmalloc(w->e->max_line + READ_CHUNK);
		c->events = EPOLLIN;
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e)) {
			log_warn("engine: epoll_ctl: %s", strerror(errno));
			conn_free(w, c);
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(w->ep, evs, MAX_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("engine: epoll_wait: %s", strerror(errno));
			break;
		}
		int stop = 0;
		for (int i = 0; i < n; i++) {
			/* data.ptr: w for the listening socket, NULL for the stop
			 * eventfd, else a connection. */
			if (evs[i].data.ptr == w) {
				accept_all(w);
			} else if (evs[i].data.ptr == NULL) {
				/* The eventfd is never read: it stays readable and so
				 * wakes every worker from one write. */
				stop = 1;
			} else {
				struct conn *c = evs[i].data.ptr;
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					conn_read(w, c);
				if (evs[i].events & EPOLLOUT)
					touch(w, c);
			}
		}
		/* One batch for all the lines this wakeup read, then the writes
		 * and closes (invariant 2). */
		flush_batch(w);
		while (w->touched) {
			struct conn *c = w->touched;
			w->touched = c->tnext;
			c->touched = 0;
			settle(w, c);
		}
		if (stop)
			break;
	}
	while (w->conns)
		conn_free(w, w->conns);
	return NULL;
}

static int worker_init(struct worker *w, struct engine *e)
{
	w->e = e;
	w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0)
		return -errno;
	struct epoll_event le = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = w };
	struct epoll_event se = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, e->lfd, &le) ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, e->stopfd, &se))
		return -errno;
	w->scorer = ml_scorer_new(e->model, e->batch);
	w->rows = xmalloc(e->batch * (size_t)e->dim * sizeof(float));
	w->scores = xmalloc(e->batch * sizeof(float));
	w->ents = xmalloc(e->batch * sizeof(struct entry));
	return 0;
}

static void worker_release(struct worker *w)
{
	if (w->ep >= 0)
		close(w->ep);
	if (w->spare_fd >= 0)
		close(w->spare_fd);
	ml_scorer_free(&w->scorer);
	free(w->rows);
	free(w->scores);
	free(w->ents);
}

static int get_limits(const cfg *c, struct engine *e, long long *threads, char *err, size_t n)
{
	long long conns, line, batch;
	if (cfg_get_int(c, "threads", threads, err, n) ||
	    cfg_get_int(c, "max-connections", &conns, err, n) ||
	    cfg_get_int(c, "max-line", &line, err, n) || cfg_get_int(c, "batch", &batch, err, n))
		return -EINVAL;
	if (*threads < 0 || *threads > 64 || conns < 1 || conns > 1000000 || line < 16 ||
	    line > (64 << 20) || batch < 1 || batch > 65536) {
		snprintf(err, n, "out of range: need 0 <= threads <= 64, 1 <= max-connections <= 1000000, 16 <= max-line <= 64M, 1 <= batch <= 65536");
		return -EINVAL;
	}
	if (*threads == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		*threads = ncpu < 1 ? 1 : ncpu > 64 ? 64 : ncpu;
	}
	e->max_conns = (long)conns;
	e->max_line = (size_t)line;
	e->batch = (size_t)batch;
	return 0;
}

static int serve(struct engine *e, int nthreads)
{
	struct worker *ws = xcalloc((size_t)nthreads, sizeof *ws);
	int started = 0, rc = 0, sig;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* Blocked before the workers start: they inherit the mask, so only
	 * sigwait below ever takes these signals. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (int i = 0; i < nthreads; i++)
		ws[i].ep = ws[i].spare_fd = -1;
	for (int i = 0; i < nthreads && !rc; i++) {
		rc = worker_init(&ws[i], e);
		if (!rc && pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
			rc = -EAGAIN;
		if (!rc)
			started++;
	}
	if (!rc) {
		sigwait(&set, &sig);
		log_info("engine: %s, shutting down", strsignal(sig));
	} else {
		log_error("engine: cannot start workers: %s", strerror(-rc));
	}
	/* Also after a failed start: the workers already running must end. */
	uint64_t one = 1;
	if (write(e->stopfd, &one, sizeof one) < 0)
		log_error("engine: eventfd: %s", strerror(errno));
	for (int i = 0; i < started; i++)
		pthread_join(ws[i].tid, NULL);
	for (int i = 0; i < nthreads; i++)
		worker_release(&ws[i]);
	free(ws);
	return rc;
}

/* The token: the first line of path, without its line end; not empty. */
static int load_token(const char *path, struct engine *e, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len;
	int rc = sn_read_file(path, TOKEN_MAX, &data, &len);
	if (rc) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(-rc));
		return rc;
	}
	/* The first line, found by length: a NUL must not end it early (the
	 * token would silently be shorter than the file says). */
	size_t line = 0;
	while (line < len && data[line] != '\n' && data[line] != '\r')
		line++;
	if (line == 0) {
		snprintf(err, errlen, "--token-file %s: the first line is empty", path);
		rc = -EINVAL;
	} else if (memchr(data, '\0', line)) {
		snprintf(err, errlen, "--token-file %s: the token holds a NUL byte", path);
		rc = -EINVAL;
	} else {
		/* Before any worker runs: they hash AUTH lines with the same code. */
		rc = sn_crypto_init() ||
		     crypto_generichash(e->token_hash, sizeof e->token_hash, (unsigned char *)data, line,
					NULL, 0) ? -EINVAL : 0;
		e->has_token = 1;
		e->token_len = line;
	}
	sodium_memzero(data, len);
	free(data);
	return rc;
}

/* --server URL --model NAME@V: the registered version, pulled into a
 * private temporary directory, loaded, and the directory removed. */
static int load_remote(const cfg *c, unsigned flags, ml_model **out, char *err, size_t errlen)
{
	cli cl;
	char dir[] = "/tmp/sentinel-model-XXXXXX";
	int rc = cli_open(&cl, c, "engine", 1) ? -EACCES : 0;
	if (rc) {
		snprintf(err, errlen, "no token for --server");
		return rc;
	}
	if (!mkdtemp(dir)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	model_conn mc = { cl.server, cl.token, cl.insecure };
	if ((rc = model_pull(&mc, cfg_get(c, "model"), dir, NULL, err, errlen)) == 0)
		rc = ml_model_load(dir, flags, out, err, errlen);
	char *f1 = xasprintf("%s/" ML_MODEL_FILE, dir), *f2 = xasprintf("%s/" ML_CONFIG_FILE, dir);
	unlink(f1);
	unlink(f2);
	rmdir(dir);
	free(f1);
	free(f2);
out:
	cli_release(&cl);
	return rc;
}

int engine_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	int code = 1;
	char err[600], addr[128];
	long long threads;
	struct engine e = { .lfd = -1, .stopfd = -1 };
	if (cfg_cmd_init(&engine_spec, argc, argv, &c, &code))
		return code;
	if (!cfg_get(c, "model") || get_limits(c, &e, &threads, err, sizeof err)) {
		fprintf(stderr, "sentinel engine: %s\n", cfg_get(c, "model") ? err : "--model DIR is required");
		code = 2;
		goto out;
	}
	if (cfg_get(c, "token-file") && load_token(cfg_get(c, "token-file"), &e, err, sizeof err)) {
		fprintf(stderr, "sentinel engine: %s\n", err);
		goto out;
	}
	/* "AUTH " + the token must fit a line, or no client could ever log in. */
	if (e.has_token && e.max_line < e.token_len + 5) {
		fprintf(stderr, "sentinel engine: --max-line %zu is shorter than the AUTH line (%zu bytes)\n",
			e.max_line, e.token_len + 5);
		goto out;
	}
	/* The workers are the parallelism: BLAS threads per call would
	 * oversubscribe the CPUs. */
	openblas_set_num_threads(1);
	unsigned lflags = cfg_get_bool(c, "interpret") ? ML_LOAD_INTERPRET : 0;
	if (cfg_get(c, "server") ? load_remote(c, lflags, &e.model, err, sizeof err)
				 : ml_model_load(cfg_get(c, "model"), lflags, &e.model, err, sizeof err)) {
		fprintf(stderr, "sentinel engine: cannot load model from %s: %s\n", cfg_get(c, "model"),
			err);
		goto out;
	}
	e.dim = ml_model_dim(e.model);
	e.threshold = ml_model_threshold(e.model);
	if (ml_net_listen(cfg_get(c, "listen"), &e.lfd, addr, sizeof addr, err, sizeof err)) {
		fprintf(stderr, "sentinel engine: %s\n", err);
		goto out;
	}
	e.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e.stopfd < 0) {
		fprintf(stderr, "sentinel engine: eventfd: %s\n", strerror(errno));
		goto out;
	}
	printf("engine listening on %s (model %s: %d features, %s, threshold %.6g, %lld threads%s)\n",
	       addr, cfg_get(c, "model"), e.dim, ml_model_kind(e.model), e.threshold, threads,
	       e.has_token ? ", clients must AUTH" : "");
	if (!e.has_token && strncmp(addr, "127.", 4) && strncmp(addr, "[::1]", 5))
		log_warn("engine: no --token-file: anyone who can reach %s can use the model", addr);
	fflush(stdout);
	code = serve(&e, (int)threads) ? 1 : 0;
out:
	if (e.lfd >= 0)
		close(e.lfd);
	if (e.stopfd >= 0)
		close(e.stopfd);
	ml_model_free(&e.model);
	cfg_free(&c);
	return code;
}
