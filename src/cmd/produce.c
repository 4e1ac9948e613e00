/* sentinel produce: sends feature vectors to an engine, reads the replies
 * and prints a summary (sent, anomalies, errors, vectors/s, latency).
 *
 * Vector i goes over connection i % C; each connection keeps at most
 * --window vectors in flight and a FIFO of their indices and send times,
 * which the in-order replies pop (the engine answers in order). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "base/util.h"
#include "cmd/commands.h"
#include "ml/ml_config.h"
#include "ml/ml_csv.h"
#include "ml/ml_net.h"
#include "ml/ml_nn.h"

/* --random N reaches 2^40 vectors: a pool of distinct lines, reused in turn,
 * bounds the memory and the formatting (the engine's work is the same). */
#define POOL_MAX 65536        /* distinct random lines */
#define SEND_CHUNK (64 * 1024)
#define REPLY_MAX 4096        /* longest reply line accepted */
#define LAT_MAX (1u << 22)    /* latency samples kept (reservoir) */
#define DATA_MAX (1ULL << 30)
#define TOKEN_MAX 4096        /* longest --token-file accepted (as the engine's) */

static const cfg_opt produce_opts[] = {
	{ "host", "HOST", "127.0.0.1", "engine host (also env ENGINE_HOST)", 0 },
	{ "port", "PORT", "9000", "engine port (also env ENGINE_PORT)", 0 },
	{ "file", "FILE.csv", NULL, "send the rows of a CSV (header row; see --columns)", CFG_NOENV },
	{ "columns", "A,B,..", NULL, "columns of --file to send (default: all)", CFG_NOENV },
	{ "random", "N", NULL, "send N random vectors", CFG_NOENV },
	{ "model", "DIR", NULL, "with --random: draw from the model's mean and std", CFG_NOENV },
	{ "dim", "D", NULL, "with --random and no --model: vector length", CFG_NOENV },
	{ "seed", "N", "1", "seed of --random", CFG_NOENV },
	{ "rate", "R", "0", "vectors per second over all connections (0: as fast as possible)", 0 },
	{ "connections", "C", "1", "parallel connections", 0 },
	{ "window", "W", "1024", "vectors in flight per connection", 0 },
	{ "output", "FILE", NULL, "write every reply, in input order, to FILE", CFG_NOENV },
	{ "token-file", "FILE", NULL, "send 'AUTH <token>' first (token: FILE's first line; see engine --token-file)", 0 },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec produce_spec = {
	.cmd = "produce",
	.synopsis = "(--file FILE.csv | --random N) [--host H] [--port P] [--rate R] [--connections C]",
	.summary = "Send feature vectors to a sentinel engine and summarise the replies.\n"
		   "Exits 1 when any reply was an error.",
	.opts = produce_opts,
	.max_args = 0,
};

/* The vectors to send: nlines distinct lines, vector i is line i % nlines. */
struct lines {
	char *text;
	size_t *off; /* [nlines + 1] */
	size_t nlines, total;
};

struct pconn {
	int fd;
	size_t next;        /* next vector index of this connection */
	size_t *fifo_idx;   /* ring [window] */
	int64_t *fifo_ns;
	size_t head, count;
	char *obuf;
	size_t olen, ooff;
	char ibuf[REPLY_MAX];
	size_t ilen;
	int done;
};

struct prod {
	struct lines L;
	size_t window, nconn, total, sent, replies, anomalies, errors;
	double rate;
	int64_t t0;
	struct pconn *c;
	float *lat; /* microseconds */
	size_t nlat, seen;
	ml_rng rng;
	/* --output: per vector 0/1 anomaly flag, 2 error; score */
	unsigned char *status;
	float *score;
	char **errmsg;
	char first_error[REPLY_MAX];
	char *auth;   /* "AUTH <token>\n" sent first on each connection, or NULL */
	size_t authlen;
};

static void lines_add(struct lines *L, const float *v, int d, size_t *cap)
{
	char num[32];
	for (int j = 0; j < d; j++) {
		int n = ml_format_float(v[j], num);
		/* Room for the number and the ',' or '\n' that follows it. */
		if (L->total + (size_t)n + 2 > *cap) {
			*cap = *cap * 2 + 4096;
			L->text = xrealloc(L->text, *cap);
		}
		memcpy(L->text + L->total, num, (size_t)n);
		L->total += (size_t)n;
		L->text[L->total++] = j + 1 < d ? ',' : '\n';
	}
	L->off[++L->nlines] = L->total;
}

static int load_file(const cfg *c, struct lines *L, char *err, size_t errlen)
{
	char *data = NULL, sub[512];
	size_t len, cap = 0;
	ml_table t = { 0 };
	int rc = sn_read_file(cfg_get(c, "file"), DATA_MAX, &data, &len);
	if (rc) {
		snprintf(err, errlen, "%s: %s", cfg_get(c, "file"), strerror(-rc));
		return rc;
	}
	rc = ml_csv_read(data, len, cfg_get(c, "columns"), &t, sub, sizeof sub);
	free(data);
	if (rc) {
		snprintf(err, errlen, "%s: %s", cfg_get(c, "file"), sub);
		return rc;
	}
	if (!t.nrows) {
		snprintf(err, errlen, "%s: no data rows", cfg_get(c, "file"));
		ml_table_release(&t);
		return -EINVAL;
	}
	L->off = xmalloc((t.nrows + 1) * sizeof(size_t));
	L->off[0] = 0;
	for (size_t r = 0; r < t.nrows; r++)
		lines_add(L, t.x + r * t.ncols, t.ncols, &cap);
	ml_table_release(&t);
	return 0;
}

static double gauss(ml_rng *r)
{
	double u = ml_rng_uniform(r), v = ml_rng_uniform(r);
	/* Box-Muller; u is in [0, 1), so 1 - u is never 0 and the log finite. */
	return sqrt(-2.0 * log(1.0 - u)) * cos(2 * M_PI * v);
}

static int make_random(const cfg *c, size_t n, struct lines *L, char *err, size_t errlen)
{
	ml_config conf = { 0 };
	long long dim = 0, seed;
	size_t cap = 0;
	int rc = 0;
	if (cfg_get_int(c, "seed", &seed, err, errlen))
		return -EINVAL;
	if (cfg_get(c, "model")) {
		char *path = xasprintf("%s/config.json", cfg_get(c, "model")), *text = NULL, sub[512];
		size_t len;
		rc = sn_read_file(path, ML_CONFIG_MAX, &text, &len);
		if (rc)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		else if ((rc = ml_config_parse(text, len, &conf, sub, sizeof sub)))
			snprintf(err, errlen, "%s", sub);
		free(path);
		free(text);
		if (rc)
			return rc;
		dim = conf.dim;
	} else if (!cfg_get(c, "dim") || cfg_get_int(c, "dim", &dim, err, errlen) || dim < 1 ||
		   dim > 65536) {
		snprintf(err, errlen, "--random needs --model DIR or --dim D (1..65536)");
		return -EINVAL;
	}
	ml_rng r;
	ml_rng_seed(&r, (uint64_t)seed);
	size_t pool = n < POOL_MAX ? n : POOL_MAX;
	float *v = xmalloc((size_t)dim * sizeof(float));
	L->off = xmalloc((pool + 1) * sizeof(size_t));
	L->off[0] = 0;
	for (size_t i = 0; i < pool; i++) {
		for (int j = 0; j < dim; j++) {
			double g = gauss(&r);
			v[j] = conf.dim ? (float)(conf.mean[j] + conf.std[j] * g) : (float)g;
		}
		lines_add(L, v, (int)dim, &cap);
	}
	free(v);
	ml_config_release(&conf);
	return 0;
}

static void record_latency(struct prod *P, int64_t ns)
{
	float us = (float)ns / 1000.0f;
	P->seen++;
	if (P->nlat < LAT_MAX) {
		P->lat[P->nlat++] = us;
	} else {
		/* Reservoir sampling (algorithm R): every latency seen so far is
		 * kept with the same probability, so the percentiles stay unbiased
		 * in bounded memory. */
		uint64_t k = ml_rng_next(&P->rng) % P->seen;
		if (k < LAT_MAX)
			P->lat[k] = us;
	}
}

static void handle_reply(struct prod *P, struct pconn *c, const char *s, size_t n, int64_t now)
{
	size_t slot = c->head;
	size_t idx = c->fifo_idx[slot];
	record_latency(P, now - c->fifo_ns[slot]);
	c->head = (c->head + 1) % P->window;
	c->count--;
	P->replies++;
	/* A score reply is "SCORE,F": exactly one flag character after the
	 * comma; anything else counts as an error reply. */
	int is_err = n >= 6 && memcmp(s, "error,", 6) == 0;
	const char *comma = memchr(s, ',', n);
	if (is_err || !comma || comma + 2 != s + n) {
		P->errors++;
		if (!P->first_error[0])
			snprintf(P->first_error, sizeof P->first_error, "%.*s", (int)n, s);
		if (P->status) {
			P->status[idx] = 2;
			P->errmsg[idx] = xstrndup(s, n);
		}
		return;
	}
	int anomalous = comma[1] == '1';
	P->anomalies += (size_t)anomalous;
	if (P->status) {
		P->status[idx] = (unsigned char)anomalous;
		if (ml_parse_float(s, (size_t)(comma - s), &P->score[idx]))
			P->score[idx] = NAN;
	}
}

/* Reads replies; returns -EPIPE when the engine closed early. */
static int pconn_read(struct prod *P, struct pconn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->ibuf + c->ilen, sizeof c->ibuf - c->ilen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			return c->count || c->next < P->total ? -EPIPE : 0;
		c->ilen += (size_t)n;
		int64_t now = sn_mono_ns();
		char *p = c->ibuf, *end = c->ibuf + c->ilen, *nl;
		while ((nl = memchr(p, '\n', (size_t)(end - p)))) {
			/* A line for no vector in flight: the engine's refusal of
			 * the connection (too many connections), or a protocol fault. */
			if (c->count == 0) {
				if (!P->first_error[0])
					snprintf(P->first_error, sizeof P->first_error, "%.*s",
						 (int)(nl - p), p);
				return -EPROTO;
			}
			handle_reply(P, c, p, (size_t)(nl - p), now);
			p = nl + 1;
		}
		c->ilen = (size_t)(end - p);
		/* A full buffer without a '\n': no reply is that long. */
		if (c->ilen == sizeof c->ibuf)
			return -EPROTO;
		memmove(c->ibuf, p, c->ilen);
	}
}

/* Queues up to budget vectors (window permitting) and writes. */
static int pconn_write(struct prod *P, struct pconn *c, size_t total, size_t *budget, int64_t now)
{
	/* Refills obuf only once it is all sent (the AUTH line included). */
	while (c->ooff == c->olen && *budget && c->count < P->window && c->next < total) {
		c->olen = c->ooff = 0;
		while (*budget && c->count < P->window && c->next < total &&
		       c->olen < SEND_CHUNK) {
			size_t li = c->next % P->L.nlines;
			size_t len = P->L.off[li + 1] - P->L.off[li];
			memcpy(c->obuf + c->olen, P->L.text + P->L.off[li], len);
			c->olen += len;
			size_t slot = (c->head + c->count) % P->window;
			c->fifo_idx[slot] = c->next;
			c->fifo_ns[slot] = now;
			c->count++;
			c->next += P->nconn;
			P->sent++;
			(*budget)--;
		}
		break;
	}
	while (c->ooff < c->olen) {
		ssize_t n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -EPIPE;
		c->ooff += (size_t)n;
	}
	return 0;
}

static int run(struct prod *P, const char *host, const char *port, size_t total, char *err,
	       size_t errlen)
{
	int ep = epoll_create1(EPOLL_CLOEXEC), rc = 0;
	size_t maxline = 0;
	for (size_t i = 0; i < P->L.nlines; i++)
		if (P->L.off[i + 1] - P->L.off[i] > maxline)
			maxline = P->L.off[i + 1] - P->L.off[i];
	P->c = xcalloc(P->nconn, sizeof *P->c);
	for (size_t i = 0; i < P->nconn; i++) {
		struct pconn *c = &P->c[i];
		c->fd = -1;
		c->next = i;
		c->fifo_idx = xmalloc(P->window * sizeof(size_t));
		c->fifo_ns = xmalloc(P->window * sizeof(int64_t));
		/* The fill loop stops once SEND_CHUNK is reached, so by at most one
		 * line past it. */
		c->obuf = xmalloc(SEND_CHUNK + maxline + P->authlen);
		if ((rc = ml_net_connect(host, port, &c->fd, err, errlen)))
			goto out;
		/* pconn_write sends what obuf holds before queueing vectors */
		if (P->auth) {
			memcpy(c->obuf, P->auth, P->authlen);
			c->olen = P->authlen;
		}
		/* Edge-triggered: pconn_read reads until EAGAIN, and pconn_write
		 * runs on every loop turn, not on EPOLLOUT. */
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
	}
	P->t0 = sn_mono_ns();
	P->total = total;
	while (P->replies < total) {
		int64_t now = sn_mono_ns();
		size_t budget = (size_t)-1;
		int timeout = -1;
		if (P->rate > 0) {
			/* +1: the first vector leaves at once. The budget is shared by
			 * all connections, so --rate is the total rate. */
			double allowed = P->rate * (double)(now - P->t0) / 1e9 + 1;
			budget = allowed > (double)P->sent ? (size_t)(allowed - (double)P->sent) : 0;
			/* Wake every millisecond to release the budget that accrued. */
			if (P->sent < total)
				timeout = 1;
		}
		for (size_t i = 0; i < P->nconn && !rc; i++)
			rc = pconn_write(P, &P->c[i], total, &budget, now);
		if (rc)
			break;
		struct epoll_event evs[64];
		int n = epoll_wait(ep, evs, 64, timeout);
		for (int i = 0; i < n && !rc; i++)
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				rc = pconn_read(P, evs[i].data.ptr);
	}
	if (rc)
		snprintf(err, errlen, "%s after %zu of %zu replies",
			 rc == -EPROTO ? "unexpected reply from the engine" :
					 "the engine closed the connection",
			 P->replies, total);
out:
	for (size_t i = 0; i < P->nconn; i++) {
		if (P->c[i].fd >= 0)
			close(P->c[i].fd);
		free(P->c[i].fifo_idx);
		free(P->c[i].fifo_ns);
		free(P->c[i].obuf);
	}
	free(P->c);
	close(ep);
	return rc;
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static void summary(struct prod *P, double secs)
{
	qsort(P->lat, P->nlat, sizeof(float), cmp_float);
	float p50 = P->nlat ? P->lat[(size_t)(0.50 * (double)(P->nlat - 1))] : 0;
	float p99 = P->nlat ? P->lat[(size_t)(0.99 * (double)(P->nlat - 1))] : 0;
	printf("sent %zu, replies %zu, anomalies %zu, errors %zu, %.3f s, %.0f vectors/s, latency p50 %.1f us, p99 %.1f us\n",
	       P->sent, P->replies, P->anomalies, P->errors, secs,
	       secs > 0 ? (double)P->replies / secs : 0.0, p50, p99);
	if (P->first_error[0])
		printf("first error reply: %s\n", P->first_error);
}

static int write_output(struct prod *P, const char *path, size_t total)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	for (size_t i = 0; i < total; i++) {
		if (P->status[i] == 2)
			fprintf(f, "%s\n", P->errmsg[i]);
		else
			/* 9 significant digits round-trip a float, as the engine writes. */
			fprintf(f, "%.9g,%d\n", (double)P->score[i], P->status[i]);
	}
	return fclose(f) ? -errno : 0;
}

static int load_token(const char *path, struct prod *P, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len;
	int rc = sn_read_file(path, TOKEN_MAX, &data, &len);
	if (rc) {
		snprintf(err, errlen, "--token-file %s: %s", path, strerror(-rc));
		return rc;
	}
	len = strcspn(data, "\r\n");
	if (len == 0) {
		snprintf(err, errlen, "--token-file %s: the first line is empty", path);
		rc = -EINVAL;
	} else {
		P->auth = xasprintf("AUTH %.*s\n", (int)len, data);
		P->authlen = strlen(P->auth);
	}
	memset(data, 0, len);
	free(data);
	return rc;
}

static int get_opts(const cfg *c, struct prod *P, size_t *total, char *err, size_t errlen)
{
	long long conns, window, n = 0;
	const char *rate = cfg_get(c, "rate");
	char *end;
	if (!!cfg_get(c, "file") == !!cfg_get(c, "random")) {
		snprintf(err, errlen, "give exactly one of --file FILE.csv and --random N");
		return -EINVAL;
	}
	if (cfg_get_int(c, "connections", &conns, err, errlen) ||
	    cfg_get_int(c, "window", &window, err, errlen) ||
	    (cfg_get(c, "random") && cfg_get_int(c, "random", &n, err, errlen)))
		return -EINVAL;
	P->rate = strtod(rate, &end);
	if (end == rate || *end || P->rate < 0 || conns < 1 || conns > 4096 || window < 1 ||
	    window > 1000000 || (cfg_get(c, "random") && (n < 1 || n > (1LL << 40)))) {
		snprintf(err, errlen, "out of range: need rate >= 0, 1 <= connections <= 4096, 1 <= window <= 1000000, --random N >= 1");
		return -EINVAL;
	}
	P->nconn = (size_t)conns;
	P->window = (size_t)window;
	*total = (size_t)n;
	return 0;
}

int produce_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	int code = 1;
	char err[600];
	size_t total = 0;
	struct prod P = { 0 };
	if (cfg_cmd_init(&produce_spec, argc, argv, &c, &code))
		return code;
	if (get_opts(c, &P, &total, err, sizeof err)) {
		fprintf(stderr, "sentinel produce: %s\n", err);
		code = 2;
		goto out;
	}
	/* ENGINE_HOST / ENGINE_PORT (the seed's names) apply below flags and SENTINEL_*. */
	const char *host = cfg_get(c, "host"), *port = cfg_get(c, "port");
	if (strcmp(cfg_source(c, "host"), "default") == 0 && getenv("ENGINE_HOST"))
		host = getenv("ENGINE_HOST");
	if (strcmp(cfg_source(c, "port"), "default") == 0 && getenv("ENGINE_PORT"))
		port = getenv("ENGINE_PORT");
	if ((cfg_get(c, "token-file") && load_token(cfg_get(c, "token-file"), &P, err, sizeof err)) ||
	    (cfg_get(c, "file") ? load_file(c, &P.L, err, sizeof err) :
				  make_random(c, total, &P.L, err, sizeof err))) {
		fprintf(stderr, "sentinel produce: %s\n", err);
		goto out;
	}
	if (cfg_get(c, "file"))
		total = P.L.nlines;
	if (cfg_get(c, "output")) {
		P.status = xcalloc(total, 1);
		P.score = xcalloc(total, sizeof(float));
		P.errmsg = xcalloc(total, sizeof(char *));
	}
	P.lat = xmalloc((total < LAT_MAX ? total : LAT_MAX) * sizeof(float));
	/* A fixed seed for the latency reservoir: not --seed, which picks the
	 * vectors. */
	ml_rng_seed(&P.rng, 7);
	int rc = run(&P, host, port, total, err, sizeof err);
	double secs = (double)(sn_mono_ns() - P.t0) / 1e9;
	if (P.t0)
		summary(&P, secs);
	if (rc) {
		fprintf(stderr, "sentinel produce: %s%s%s\n", err, P.first_error[0] ? ": " : "",
			P.first_error);
		goto out;
	}
	if (P.status && (rc = write_output(&P, cfg_get(c, "output"), total))) {
		fprintf(stderr, "sentinel produce: %s: %s\n", cfg_get(c, "output"), strerror(-rc));
		goto out;
	}
	/* A script must not take a run with refused vectors for a clean one. */
	if (P.errors) {
		fprintf(stderr, "sentinel produce: %zu of %zu replies were errors\n", P.errors, P.replies);
		goto out;
	}
	code = 0;
out:
	if (P.errmsg)
		for (size_t i = 0; i < total; i++)
			free(P.errmsg[i]);
	free(P.errmsg);
	free(P.status);
	free(P.score);
	free(P.lat);
	free(P.L.text);
	free(P.L.off);
	if (P.auth)
		memset(P.auth, 0, P.authlen);
	free(P.auth);
	cfg_free(&c);
	return code;
}
