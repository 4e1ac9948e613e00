/* GET /api/v1/metrics/export: raw samples as CSV or NDJSON, gzip when the
 * client accepts it, streamed without holding the answer.
 *
 * The store pushes samples to a callback (mx_db_export) while the HTTP
 * layer pulls the body (http_reply_callback). A producer thread per export
 * joins the two through a bounded queue of QUEUE chunks of CHUNK bytes:
 *
 *   producer (export_main)                 consumer (exp_read, MHD's thread)
 *   formats a line, compresses it,  ──►    takes the oldest chunk and copies
 *   fills a chunk; waits while the         it out; waits while the queue is
 *   queue is full or until cancel          empty and the producer not done
 *
 * Invariants: memory stays below (QUEUE + 2) * CHUNK plus zlib's state,
 * whatever the answer's size; exp_free (run once the reply is done with,
 * also when the client went away) sets cancel, which makes the producer's
 * next callback stop the export, and joins the thread before freeing. A
 * store error mid-stream ends the body with a read error (the client sees
 * a cut connection, never a short answer that looks whole). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "base/dl.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

#define CHUNK (64 * 1024)
#define QUEUE 4

/* zlib, loaded on first use (base/dl.h). */
static struct {
	int (*init2)(z_streamp, int, int, int, int, int, const char *, int);
	int (*deflate)(z_streamp, int);
	int (*end)(z_streamp);
} zl;
static const char *const zl_names[] = { "deflateInit2_", "deflate", "deflateEnd" };
static sn_dl_lib zl_lib = SN_DL_LIB("libz.so.1", "zlib1g", zl_names, &zl);

enum { FMT_CSV, FMT_NDJSON };

struct chunk {
	char *p;
	size_t n, off;
};

struct exp {
	mx_api *a;
	mx_sel sel;
	mx_filter f;
	auth_user user; /* a copy: the request's caller may be gone before the stream ends */
	int format, gzip;
	/* The producer's side. */
	buf line;
	char *fill; /* the chunk being filled, CHUNK bytes */
	size_t filled;
	z_stream z;
	int z_on;
	/* Shared, under mu. */
	pthread_t th;
	int th_on;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct chunk q[QUEUE];
	size_t qhead, qlen;
	int done, cancel, rc;
};

/* Hands the filled chunk to the queue; waits for room. -ECANCELED when
 * the consumer is gone. */
static int push_chunk(struct exp *x)
{
	int rc = 0;
	if (x->filled == 0)
		return 0;
	pthread_mutex_lock(&x->mu);
	while (x->qlen == QUEUE && !x->cancel)
		pthread_cond_wait(&x->cv, &x->mu);
	if (x->cancel) {
		rc = -ECANCELED;
	} else {
		x->q[(x->qhead + x->qlen) % QUEUE] = (struct chunk){ x->fill, x->filled, 0 };
		x->qlen++;
		x->fill = xmalloc(CHUNK);
		x->filled = 0;
		pthread_cond_broadcast(&x->cv);
	}
	pthread_mutex_unlock(&x->mu);
	return rc;
}

/* Appends p[0..n) to the body (compressed when gzip). flush: Z_FINISH at
 * the end, else Z_NO_FLUSH. */
static int emit(struct exp *x, const char *p, size_t n, int flush)
{
	if (!x->gzip) {
		while (n) {
			size_t k = CHUNK - x->filled < n ? CHUNK - x->filled : n;
			memcpy(x->fill + x->filled, p, k);
			x->filled += k;
			p += k;
			n -= k;
			if (x->filled == CHUNK && push_chunk(x))
				return -ECANCELED;
		}
		return 0;
	}
	x->z.next_in = (Bytef *)p;
	x->z.avail_in = (uInt)n;
	for (;;) {
		x->z.next_out = (Bytef *)x->fill + x->filled;
		x->z.avail_out = (uInt)(CHUNK - x->filled);
		int zr = zl.deflate(&x->z, flush);
		x->filled = CHUNK - x->z.avail_out;
		if (zr == Z_STREAM_ERROR)
			return -EIO;
		if (x->filled == CHUNK && push_chunk(x))
			return -ECANCELED;
		if (flush == Z_FINISH ? zr == Z_STREAM_END : x->z.avail_in == 0 && x->z.avail_out)
			return 0;
	}
}

/* A CSV field: quoted (RFC 4180) when it holds a comma, a quote or a line
 * break. */
static void csv_field(buf *b, const char *s)
{
	if (!s[strcspn(s, ",\"\r\n")]) {
		buf_puts(b, s);
		return;
	}
	buf_append(b, "\"", 1);
	for (; *s; s++)
		buf_append(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
	buf_append(b, "\"", 1);
}

/* Tags as k=v;k=v; a ';' or '\' in a value is preceded by '\' so that the
 * text splits back unambiguously (keys hold neither, nor '='). */
static void tags_text(buf *b, const mx_tag *t, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (i)
			buf_append(b, ";", 1);
		buf_puts(b, t[i].k);
		buf_append(b, "=", 1);
		for (const char *s = t[i].v; *s; s++) {
			if (*s == ';' || *s == '\\')
				buf_append(b, "\\", 1);
			buf_append(b, s, 1);
		}
	}
}

static int export_cb(void *ctx, const mx_sample *s)
{
	struct exp *x = ctx;
	buf *b = &x->line;
	char num[32], ts[24];
	if (x->cancel) /* read without the lock: a late stop only costs one more line */
		return -ECANCELED;
	buf_reset(b);
	mx_fmt_double(s->value, num);
	snprintf(ts, sizeof ts, "%lld", (long long)s->ts_ms);
	if (x->format == FMT_CSV) {
		buf tags;
		buf_puts(b, s->agent);
		buf_append(b, ",", 1);
		buf_puts(b, s->metric);
		buf_append(b, ",", 1);
		buf_puts(b, ts);
		buf_append(b, ",", 1);
		buf_puts(b, num);
		buf_append(b, ",", 1);
		buf_init(&tags, SIZE_MAX / 2);
		tags_text(&tags, s->tags, s->ntags);
		csv_field(b, tags.data ? tags.data : "");
		buf_release(&tags);
		buf_append(b, "\r\n", 2);
	} else {
		buf_puts(b, "{\"agent\":");
		mx_json_str(b, s->agent);
		buf_puts(b, ",\"metric\":");
		mx_json_str(b, s->metric);
		buf_puts(b, ",\"ts\":");
		buf_puts(b, ts);
		buf_puts(b, ",\"value\":");
		buf_puts(b, num);
		buf_puts(b, ",\"tags\":");
		mx_json_tags(b, s->tags, s->ntags);
		buf_puts(b, "}\n");
	}
	return emit(x, b->data, b->len, Z_NO_FLUSH);
}

static void *export_main(void *arg)
{
	struct exp *x = arg;
	int rc = 0;
	if (x->format == FMT_CSV)
		rc = emit(x, "agent,metric,ts,value,tags\r\n", 28, Z_NO_FLUSH);
	if (rc == 0)
		rc = mx_db_export(x->a->db, &x->f, export_cb, x);
	if (rc == 0 && x->gzip)
		rc = emit(x, "", 0, Z_FINISH);
	if (rc == 0)
		rc = push_chunk(x);
	if (rc && rc != -ECANCELED)
		log_warn("metrics: export stopped: %s", strerror(rc < 0 ? -rc : rc));
	pthread_mutex_lock(&x->mu);
	x->done = 1;
	x->rc = rc;
	pthread_cond_broadcast(&x->cv);
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

static long exp_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct exp *x = cls;
	long n = 0;
	(void)pos;
	pthread_mutex_lock(&x->mu);
	while (x->qlen == 0 && !x->done)
		pthread_cond_wait(&x->cv, &x->mu);
	if (x->qlen) {
		struct chunk *c = &x->q[x->qhead];
		size_t k = c->n - c->off < max ? c->n - c->off : max;
		memcpy(out, c->p + c->off, k);
		c->off += k;
		n = (long)k;
		if (c->off == c->n) {
			free(c->p);
			x->qhead = (x->qhead + 1) % QUEUE;
			x->qlen--;
			pthread_cond_broadcast(&x->cv);
		}
	} else if (x->rc) {
		n = -EIO;
	}
	pthread_mutex_unlock(&x->mu);
	return n;
}

static void exp_free(void *cls)
{
	struct exp *x = cls;
	if (x->th_on) {
		pthread_mutex_lock(&x->mu);
		x->cancel = 1;
		pthread_cond_broadcast(&x->cv);
		pthread_mutex_unlock(&x->mu);
		pthread_join(x->th, NULL);
	}
	for (size_t i = 0; i < x->qlen; i++)
		free(x->q[(x->qhead + i) % QUEUE].p);
	if (x->z_on)
		zl.end(&x->z);
	free(x->fill);
	buf_release(&x->line);
	mx_sel_release(&x->sel);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cv);
	free(x);
}

/* 1 when Accept-Encoding lists gzip without q=0. */
static int wants_gzip(http_req *r)
{
	const char *h = http_req_header(r, "Accept-Encoding");
	const char *g = h ? strstr(h, "gzip") : NULL;
	if (!g)
		return 0;
	const char *end = g + strcspn(g, ",");
	const char *q = strstr(g, "q=");
	return !(q && q < end && strtod(q + 2, NULL) == 0);
}

void mx_h_export(http_req *r, void *ctx)
{
	mx_api *a = ctx;
	struct exp *x = xcalloc(1, sizeof *x);
	const char *fmt;
	char err[256];
	const auth_user *u = auth_caller(r);
	x->a = a;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cv, NULL);
	buf_init(&x->line, SIZE_MAX / 2);
	x->fill = xmalloc(CHUNK);
	if (mx_sel_parse(r, &x->sel, 0))
		goto fail;
	fmt = mx_qs_get(&x->sel.qs, "format");
	if (!fmt || strcmp(fmt, "csv") == 0) {
		x->format = FMT_CSV;
	} else if (strcmp(fmt, "ndjson") == 0) {
		x->format = FMT_NDJSON;
	} else {
		http_reply_error(r, 400, "bad_request", "query parameter 'format' is csv or ndjson");
		goto fail;
	}
	if (u)
		x->user = *u;
	mx_sel_filter(&x->sel, a, u ? &x->user : NULL, &x->f);
	if (wants_gzip(r)) {
		if (sn_dl_use(&zl_lib, err, sizeof err)) {
			http_reply_error(r, 500, "internal", "%s", err);
			goto fail;
		}
		/* 15 + 16: a gzip wrapper; level 1: an export is CPU-bound on
		 * compression well before the network. */
		if (zl.init2(&x->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
			     (int)sizeof x->z) != Z_OK) {
			http_reply_error(r, 500, "internal", "cannot start gzip");
			goto fail;
		}
		x->z_on = 1;
		x->gzip = 1;
	}
	if (pthread_create(&x->th, NULL, export_main, x)) {
		http_reply_error(r, 503, "busy", "cannot start the export");
		goto fail;
	}
	x->th_on = 1;
	if (x->gzip)
		http_reply_header(r, "Content-Encoding", "gzip");
	http_reply_header(r, "Vary", "Accept-Encoding");
	http_reply_callback(r, 200, x->format == FMT_CSV ? "text/csv; charset=utf-8"
			    : "application/x-ndjson", HTTP_LEN_UNKNOWN, exp_read, x, exp_free);
	return;
fail:
	exp_free(x);
}
