/* POST /api/v1/datasets/{name}/versions: the body is taken piece by piece
 * (HTTP_STREAM_BODY) and each file is hashed into the blob store, parsed
 * as CSV and profiled in that one pass; nothing is held in memory but one
 * CSV record and the profiles, nothing is read twice.
 *
 * Failure keeps nothing: the file being written is aborted (blob_abort),
 * no version or reference is written. Files of a set committed before the
 * failure have no reference and go at the next gc. A crash mid-body leaves
 * only a staging file, removed at the next start (blob.h, invariant 1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>
#include "base/csv.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds_import.h"
#include "dataset/ds_int.h"
#include "dataset/ds_tar.h"
#include "dataset/profile.h"

/* The CSV check and profile of a file run on a thread of their own, beside
 * the connection's thread that hashes and stores it: the two halves of the
 * one pass take about as long, so a push goes near the speed of the slower.
 * The connection thread packs the body into FEED_BLOCK pieces and queues
 * them (at most FEED_QUEUE: back-pressure, bounded memory); a file smaller
 * than one block never starts the thread. Blocks the thread is done with
 * wait in spare for the connection thread to fill again (a fresh 1 MiB
 * malloc is a fresh mapping: ~256 page faults). Invariants: only the
 * feeder thread touches csv and prof between its start and its join; rc
 * and spare are under mu.
 * Measured (perf, bench/datasets.sh's 1 GiB table, 2 cores): each thread
 * takes ~1 s of CPU per GiB. Here: csv ~0.25, profile ~0.7 (the float
 * column the most, ~0.17). The connection's: SHA-256 ~0.6, the kernel's
 * receive ~0.35 (a select, a recv and an ACK per 16 KiB: libmicrohttpd's
 * default 32 KiB pool; a 1 MiB pool saves ~0.25 s/GiB but every keep-alive
 * request then zeroes the whole pool, MHD_pool_reset: -31% small requests
 * per second), the copies ~0.05. */
#define FEED_BLOCK ((size_t)1 << 20)
#define FEED_QUEUE 4

struct feeder {
	pthread_t tid;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *q[FEED_QUEUE];
	size_t qlen[FEED_QUEUE];
	int head, count, done;
	char *spare[FEED_QUEUE + 1];
	int nspare;
	int rc;
	csv_reader *csv;
	char *blk;          /* the block being filled by the connection thread */
	size_t blen;
};

/* The file being received. */
struct cur {
	struct feeder fd;
	int open, skip;     /* skip: a multipart field other than "file" */
	blob_writer *w;
	csv_reader *csv;    /* NULL once refused (not a table) */
	ds_profile *prof;
	size_t ncols;       /* the header's field count */
	int declared;       /* named .csv/.tsv or sent as CSV: it must parse */
	char path[DS_PATH_MAX];
};

struct push {
	int started, multipart, failed;
	ds_mp *mp;
	ds_tar *tar;        /* an application/x-tar body */
	struct cur cur;
	ds_manifest set;    /* the files received, in order */
	json_t *profiles;   /* path -> profile */
	sn_refusal ref;
};

/* Records p's refusal (the first one wins) and returns -EBADMSG. */
#define fail(p, ...) sn_refuse(&(p)->ref, -EBADMSG, __VA_ARGS__)

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->count && !f->done)
			pthread_cond_wait(&f->cv, &f->mu);
		if (!f->count)
			break;
		char *b = f->q[f->head];
		size_t n = f->qlen[f->head];
		int failed = f->rc;
		pthread_mutex_unlock(&f->mu);
		/* After an error the rest is drained unread: the sender waits on us. */
		int rc = failed ? 0 : csv_feed(f->csv, b, n);
		pthread_mutex_lock(&f->mu);
		if (f->nspare < FEED_QUEUE + 1)
			f->spare[f->nspare++] = b;
		else
			free(b);
		if (rc && !f->rc)
			f->rc = rc;
		f->head = (f->head + 1) % FEED_QUEUE;
		f->count--;
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

/* Queues the filled block (starting the thread on the first one). 0, or
 * the feeder's error so far. */
static int feeder_push(struct feeder *f)
{
	if (!f->started) {
		pthread_mutex_init(&f->mu, NULL);
		pthread_cond_init(&f->cv, NULL);
		if (pthread_create(&f->tid, NULL, feeder_main, f)) {
			pthread_cond_destroy(&f->cv);
			pthread_mutex_destroy(&f->mu);
			/* No thread: check this block here, as a small file would be. */
			int rc = csv_feed(f->csv, f->blk, f->blen);
			f->blen = 0;
			return rc;
		}
		f->started = 1;
	}
	pthread_mutex_lock(&f->mu);
	while (f->count == FEED_QUEUE)
		pthread_cond_wait(&f->cv, &f->mu);
	f->q[(f->head + f->count) % FEED_QUEUE] = f->blk;
	f->qlen[(f->head + f->count) % FEED_QUEUE] = f->blen;
	f->count++;
	int rc = f->rc;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	f->blk = NULL;
	f->blen = 0;
	return rc;
}

/* An empty block: a spare one when the thread has given one back. */
static char *feeder_block(struct feeder *f)
{
	char *b = NULL;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		if (f->nspare)
			b = f->spare[--f->nspare];
		pthread_mutex_unlock(&f->mu);
	}
	return b ? b : xmalloc(FEED_BLOCK);
}

/* After the join: the spare blocks go. */
static void feeder_free_spares(struct feeder *f)
{
	while (f->nspare)
		free(f->spare[--f->nspare]);
}

static int feeder_data(struct feeder *f, const char *d, size_t n)
{
	while (n) {
		if (!f->blk)
			f->blk = feeder_block(f);
		size_t k = FEED_BLOCK - f->blen < n ? FEED_BLOCK - f->blen : n;
		memcpy(f->blk + f->blen, d, k);
		f->blen += k;
		d += k;
		n -= k;
		if (f->blen == FEED_BLOCK) {
			int rc = feeder_push(f);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* Ends the input: the last block, the thread's join, csv_finish. Returns
 * the first error of csv_feed or csv_finish. */
static int feeder_end(struct feeder *f)
{
	int rc = 0;
	if (f->started) {
		if (f->blen)
			feeder_push(f);
		pthread_mutex_lock(&f->mu);
		f->done = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->tid, NULL);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		f->started = 0;
		feeder_free_spares(f);
		rc = f->rc;
	} else if (f->blen) {
		rc = csv_feed(f->csv, f->blk, f->blen);
	}
	free(f->blk);
	f->blk = NULL;
	f->blen = 0;
	return rc ? rc : csv_finish(f->csv);
}

/* Stops a feeder whatever its state (a refused or cut-off push). */
static void feeder_stop(struct feeder *f)
{
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->done = 1;
		if (!f->rc)
			f->rc = -ECANCELED;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->tid, NULL);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		f->started = 0;
		feeder_free_spares(f);
	}
	free(f->blk);
	f->blk = NULL;
}

static void cur_release(struct cur *c)
{
	feeder_stop(&c->fd);
	if (c->w)
		blob_abort(&c->w);
	csv_free(&c->csv);
	ds_profile_free(&c->prof);
	memset(c, 0, sizeof *c);
}

static void push_free(void *v)
{
	struct push *p = v;
	cur_release(&p->cur);
	ds_mp_free(&p->mp);
	ds_tar_free(&p->tar);
	ds_manifest_release(&p->set);
	json_decref(p->profiles);
	free(p);
}

static int on_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct cur *c = ud;
	(void)line;
	if (row == 0)
		c->ncols = nf;
	return ds_profile_add(c->prof, row, f, nf);
}

/* The reader's batches of plain records: the profile takes each column's
 * cells of a batch in one run (profile.h). */
static int on_batch(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	struct cur *c = ud;
	return ds_profile_add_batch(c->prof, row, f, nrec, nf);
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int is_csv_type(const char *ct)
{
	return ct && (strncasecmp(ct, "text/csv", 8) == 0 ||
		      strncasecmp(ct, "text/tab-separated-values", 25) == 0);
}

/* Starts the next file of the push: its path, and the CSV check and
 * profile its bytes go through (whether they arrive or are read back). */
static int cur_open(struct push *p, const char *path, const char *ctype)
{
	struct cur *c = &p->cur;
	if (ds_path_normalize(path, strlen(path), c->path))
		return fail(p, 422, "bad_path", "invalid file path '%s': no absolute path, '..',"
			    " backslash or control character", path);
	if (ds_manifest_find(&p->set, c->path))
		return fail(p, 422, "bad_path", "the path '%s' appears twice", c->path);
	c->declared = is_csv_type(ctype) || ends_with(c->path, ".csv") || ends_with(c->path, ".tsv");
	c->prof = ds_profile_new();
	c->csv = csv_new(ends_with(c->path, ".tsv") ? '\t' : 0, on_record, c);
	csv_set_batch(c->csv, on_batch);
	c->fd.csv = c->csv;
	return 0;
}

static int file_open(ds_api *api, struct push *p, const char *path, const char *ctype)
{
	struct cur *c = &p->cur;
	int rc = cur_open(p, path, ctype);
	if (rc)
		return rc;
	if ((rc = blob_writer_new(api->bs, &c->w)))
		return fail(p, 500, "internal", "cannot store the file: %s", strerror(-rc));
	c->open = 1;
	return 0;
}

/* A CSV refusal: fatal for a declared table, else the file is no table. */
static int csv_refused(struct push *p, int rc)
{
	struct cur *c = &p->cur;
	uint64_t line = 0, field = 0;
	const char *why = csv_error(c->csv, &line, &field);
	if (c->declared) {
		if (!why)
			return fail(p, 500, "internal", "%s: cannot profile: %s", c->path, strerror(-rc));
		if (field)
			return fail(p, 422, "malformed_csv", "%s: line %llu, field %llu: %s", c->path,
				    (unsigned long long)line, (unsigned long long)field, why);
		return fail(p, 422, "malformed_csv", "%s: line %llu: %s", c->path,
			    (unsigned long long)line, why);
	}
	csv_free(&c->csv);
	ds_profile_free(&c->prof);
	return 0;
}

/* The CSV check and profile of n more bytes of the current file. */
static int cur_check(struct push *p, const char *d, size_t n)
{
	struct cur *c = &p->cur;
	int rc;
	if (c->csv && (rc = feeder_data(&c->fd, d, n))) {
		/* csv_refused reads the reader's error: the thread must be done. */
		feeder_stop(&c->fd);
		return csv_refused(p, rc);
	}
	return 0;
}

static int file_data(struct push *p, const char *d, size_t n)
{
	struct cur *c = &p->cur;
	if (c->skip)
		return 0;
	int rc = blob_write(c->w, d, n);
	if (rc)
		return rc; /* the HTTP layer's mapping: -ENOSPC 507, else 500 */
	return cur_check(p, d, n);
}

/* Ends the current file's check; a table's profile goes into p->profiles. */
static int cur_profile(struct push *p)
{
	struct cur *c = &p->cur;
	json_t *prof = NULL;
	int rc;
	if (c->csv && (rc = feeder_end(&c->fd)) && (rc = csv_refused(p, rc)))
		return rc;
	/* A file not declared a table is one when it parsed whole with at
	 * least two columns (a one-column "table" is any text). */
	if (c->csv && (c->declared || c->ncols >= 2)) {
		if ((rc = ds_profile_json(c->prof, csv_delimiter(c->csv), &prof)))
			return rc;
		if (json_object_set_new(p->profiles, c->path, prof))
			return -ENOMEM;
	}
	return 0;
}

/* Records the current file (its blob stored) in the set and releases it. */
static int cur_add(struct push *p, const char *sha, uint64_t bytes)
{
	struct cur *c = &p->cur;
	int rc = ds_manifest_add(&p->set, c->path, sha, bytes, 0644);
	if (rc == -E2BIG)
		rc = fail(p, 422, "bad_path", "a file set holds at most %d files", DS_SET_FILES_MAX);
	else if (rc)
		rc = fail(p, 422, "bad_path", "the path '%s' clashes with another file of the set",
			  c->path);
	cur_release(c);
	return rc;
}

static int file_close(struct push *p)
{
	struct cur *c = &p->cur;
	char sha[65];
	uint64_t bytes = 0;
	int rc;
	if (c->skip) {
		memset(c, 0, sizeof *c);
		return 0;
	}
	if ((rc = cur_profile(p)) || (rc = blob_commit(&c->w, sha, &bytes, NULL)))
		return rc;
	return cur_add(p, sha, bytes);
}

/* ---- multipart callbacks ---- */

struct mp_ud {
	ds_api *api;
	struct push *p;
};

static int mp_begin(void *ud, const char *name, const char *filename, const char *ctype)
{
	struct mp_ud *m = ud;
	if (strcmp(name, "file") != 0) {
		m->p->cur.skip = 1;
		return 0;
	}
	if (!filename || !*filename)
		return fail(m->p, 422, "bad_path", "a 'file' part needs a filename");
	return file_open(m->api, m->p, filename, ctype);
}

static int mp_data(void *ud, const char *d, size_t n)
{
	return file_data(((struct mp_ud *)ud)->p, d, n);
}

static int mp_end(void *ud)
{
	return file_close(((struct mp_ud *)ud)->p);
}

static const ds_mp_cb mp_cb = { mp_begin, mp_data, mp_end };

/* ---- tar callbacks: a member is a file part ---- */

static int tar_begin(void *ud, const char *path, uint64_t size)
{
	struct mp_ud *m = ud;
	(void)size;
	return file_open(m->api, m->p, path, NULL);
}

static const ds_tar_cb tar_cb = { tar_begin, mp_data, mp_end };

/* The reader's own refusals name the member; the callbacks' are in p. */
static int tar_refused(struct push *p, int rc)
{
	const char *why = ds_tar_error(p->tar);
	if (p->ref.status || !why)
		return rc;
	return fail(p, 422, rc == -EPERM ? "refused_member" : "bad_archive", "%s", why);
}

/* ---- the request ---- */

/* A quick look before the body is read: a push the caller may not make
 * is refused without reading gigabytes (the transaction checks again). */
static int precheck(ds_api *api, http_req *r, struct push *p)
{
	store_conn *c = NULL;
	ds_item it;
	int rc = store_acquire(api->st, &c);
	if (rc == 0)
		rc = ds_item_get(c, &ds_kind_dataset, http_req_param(r, "name"), auth_caller(r), &it);
	store_release(&c);
	if (rc == -ENOENT)
		return 0; /* created on push, or refused then as not found */
	if (rc)
		return fail(p, 503, "store_busy", "cannot read the dataset");
	if (it.access < SHARE_WRITE)
		return fail(p, 403, "forbidden", "you may read this dataset but not push to it");
	return 0;
}

static struct mp_ud *mp_ud_of(http_req *r);

/* What every kind of push checks first: the name, and write access. */
static int push_begin(ds_api *api, http_req *r, struct push *p)
{
	p->started = 1;
	if (!ds_name_valid(http_req_param(r, "name")))
		return fail(p, 400, "bad_request", "a name is 1 to %d of [A-Za-z0-9._-], not"
			    " starting with a dot", DS_NAME_MAX);
	return precheck(api, r, p);
}

static int push_start(ds_api *api, http_req *r, struct push *p)
{
	const char *ct = http_req_header(r, "Content-Type");
	const char *fn = http_req_query(r, "filename");
	int rc = push_begin(api, r, p);
	if (rc)
		return rc;
	if (ct && strncasecmp(ct, "application/x-tar", 17) == 0) {
		p->tar = ds_tar_new(&tar_cb, mp_ud_of(r));
		return 0;
	}
	if (ct && strncasecmp(ct, "multipart/", 10) == 0) {
		p->multipart = 1;
		if (ds_mp_new(ct, &mp_cb, mp_ud_of(r), &p->mp))
			return fail(p, 400, "bad_request", "a multipart/form-data body needs a boundary");
		return 0;
	}
	if (!fn)
		fn = is_csv_type(ct) ? (strncasecmp(ct, "text/tab", 8) == 0 ? "data.tsv" : "data.csv")
				     : "data";
	return file_open(api, p, fn, ct);
}

/* Per-request state: the push, and the multipart callbacks' ctx. */
struct state {
	struct push *p;
	struct mp_ud ud;
};

static void state_free(void *v)
{
	struct state *s = v;
	push_free(s->p);
	free(s);
}

static struct mp_ud *mp_ud_of(http_req *r)
{
	return &((struct state *)http_req_state(r))->ud;
}

static struct push *state_of(ds_api *api, http_req *r)
{
	struct state *s = http_req_state(r);
	if (!s) {
		s = xcalloc(1, sizeof *s);
		s->p = xcalloc(1, sizeof *s->p);
		s->p->profiles = json_object();
		s->ud = (struct mp_ud){ api, s->p };
		http_req_set_state(r, s, state_free);
	}
	return s->p;
}

static int on_chunk(http_req *r, const char *d, size_t n, void *ctx)
{
	ds_rctx *x = ctx;
	struct push *p = state_of(x->api, r);
	int rc = 0;
	if (!p->profiles)
		return -ENOMEM;
	if (http_req_query(r, "upload") || http_req_query(r, "import")) {
		p->started = 1; /* a body beside ?upload= or ?import=: refused at the end */
		return 0;
	}
	if (!p->started && (rc = push_start(x->api, r, p)))
		return rc;
	if (p->tar)
		return (rc = ds_tar_feed(p->tar, d, n)) ? tar_refused(p, rc) : 0;
	return p->multipart ? ds_mp_feed(p->mp, d, n) : file_data(p, d, n);
}

/* `?upload=ID`: the content is the caller's committed upload session (the
 * CLI sends files over 64 MiB that way, resumably). The blob exists; it is
 * read once here for the CSV check and profile, and recorded as the file. */
static int push_session(ds_api *api, http_req *r, struct push *p, const char *id)
{
	const auth_user *u = auth_caller(r);
	blob_upload up;
	int rc = push_begin(api, r, p);
	if (rc)
		return rc;
	/* Someone else's session is as absent as an unknown one: no oracle. */
	if (blob_upload_get(api->bs, id, &up) ||
	    (strcmp(up.owner, u->id) != 0 && u->role < ROLE_ADMIN))
		return fail(p, 404, "not_found", "no upload session %s", id);
	if (!up.committed)
		return fail(p, 409, "conflict", "upload session %s is not committed yet", id);
	if (http_req_streamed(r))
		return fail(p, 400, "bad_request", "with ?upload= the body must be empty");
	const char *fn = http_req_query(r, "filename");
	if ((rc = cur_open(p, fn ? fn : "data", NULL)))
		return rc;
	int fd = -1;
	uint64_t size = 0;
	if ((rc = blob_open(api->bs, up.sha256, &fd, &size)))
		return fail(p, 500, "internal", "cannot read the uploaded blob: %s", strerror(-rc));
	char *b = xmalloc(FEED_BLOCK);
	for (;;) {
		ssize_t k = read(fd, b, FEED_BLOCK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k < 0 ? -errno : 0;
			break;
		}
		if ((rc = cur_check(p, b, (size_t)k)))
			break;
	}
	free(b);
	close(fd);
	if (rc)
		return p->ref.status ? rc : fail(p, 500, "internal", "cannot read the uploaded blob");
	if ((rc = cur_profile(p)))
		return rc;
	return cur_add(p, up.sha256, size);
}

static int import_data(void *ud, const char *d, size_t n)
{
	return file_data(ud, d, n);
}

/* `?import=URL`: the server fetches the file itself (ds_import.c), and the
 * bytes take the path of a raw push's body. Any member who may push may
 * import once the admin has enabled it: the admin's allow-list, not the
 * caller's role, bounds what the server may reach. */
static int push_import(ds_api *api, http_req *r, struct push *p, const char *url)
{
	const char *fn = http_req_query(r, "filename");
	char name[DS_PATH_MAX];
	ds_import_err e;
	p->started = 1;
	if (!api->import_enabled)
		return fail(p, 403, "import_disabled", "import from a URL is off on this server (an"
			    " admin enables it with --import or --import-allow)");
	int rc = push_begin(api, r, p);
	if (rc)
		return rc;
	if (!fn && ds_import_filename(url, name))
		return fail(p, 422, "bad_path", "the URL's last path segment is no valid file name:"
			    " name the file with ?filename=");
	if ((rc = file_open(api, p, fn ? fn : name, NULL)))
		return rc;
	if ((rc = ds_import_fetch(api, url, import_data, p, &e)))
		return e.status ? fail(p, e.status, e.code, "%s", e.msg) : rc;
	return file_close(p);
}

/* Ends the body: every file closed into p->set. */
static int push_finish(ds_api *api, http_req *r, struct push *p)
{
	int rc = 0;
	if (!p->profiles)
		return -ENOMEM;
	const char *session = http_req_query(r, "upload");
	const char *url = http_req_query(r, "import");
	if (session)
		return p->started ? fail(p, 400, "bad_request", "with ?upload= the body must be empty")
				  : push_session(api, r, p, session);
	if (url)
		return p->started ? fail(p, 400, "bad_request", "with ?import= the body must be empty")
				  : push_import(api, r, p, url);
	if (!p->started && (rc = push_start(api, r, p)))
		return rc;
	if (p->multipart && (rc = ds_mp_finish(p->mp)))
		return p->ref.status ? rc : fail(p, 422, "bad_multipart", "the multipart body is cut short"
					     " or malformed");
	if (p->tar) {
		if ((rc = ds_tar_finish(p->tar)))
			return tar_refused(p, rc);
		if (p->set.n == 0)
			return fail(p, 400, "bad_request", "the archive holds no regular file");
		return 0;
	}
	if (!p->multipart && (rc = file_close(p)))
		return rc;
	if (p->set.n == 0)
		return fail(p, 400, "bad_request", "the body holds no part named 'file'");
	return 0;
}

/* The version of p->set: the file itself, or a manifest blob. */
static int push_record(ds_api *api, http_req *r, struct push *p, ds_version *v, int *dedup)
{
	ds_newver nv = { .message = http_req_query(r, "message"), .profiles = p->profiles };
	const char **blobs = xcalloc(p->set.n + 1, sizeof *blobs);
	char sha[65], *text = NULL;
	size_t len = 0;
	blob_writer *w = NULL;
	int rc = 0;
	for (size_t i = 0; i < p->set.n; i++) {
		blobs[i] = p->set.files[i].sha256;
		nv.bytes += (int64_t)p->set.files[i].size;
	}
	nv.nblobs = p->set.n;
	nv.files = (int64_t)p->set.n;
	if (p->set.n == 1) {
		nv.kind = "file";
		nv.sha256 = p->set.files[0].sha256;
		nv.filename = p->set.files[0].path;
	} else {
		nv.kind = "fileset";
		if ((rc = ds_manifest_dump(&p->set, &text, &len)) || (rc = blob_writer_new(api->bs, &w)) ||
		    (rc = blob_write(w, text, len)) || (rc = blob_commit(&w, sha, NULL, NULL)))
			goto out;
		nv.sha256 = sha;
		blobs[nv.nblobs++] = sha;
	}
	nv.blobs = blobs;
	rc = ds_version_add(api, &ds_kind_dataset, http_req_param(r, "name"), auth_caller(r), &nv,
			    v, dedup);
out:
	if (w)
		blob_abort(&w);
	free(text);
	free(blobs);
	return rc;
}

static void h_push(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	struct push *p = state_of(x->api, r);
	const char *name = http_req_param(r, "name");
	ds_version v = { 0 };
	int dedup = 0, rc = http_req_stream_error(r);
	char t[DS_NAME_MAX + 16];
	snprintf(t, sizeof t, "dataset:%s", name);
	http_req_set_target(r, t);
	if (rc == 0)
		rc = push_finish(x->api, r, p);
	if (p->ref.status) {
		http_reply_error(r, p->ref.status, p->ref.code, "%s", p->ref.msg);
		return;
	}
	if (rc) {
		http_reply_errno(r, rc, rc == -EFBIG ? "the push exceeds the size limit" : NULL);
		return;
	}
	if ((rc = push_record(x->api, r, p, &v, &dedup))) {
		if (rc == -EACCES)
			http_reply_error(r, 403, "forbidden", "you may read this dataset but not push to it");
		else
			ds_reply_rc(r, rc, rc == -ENOENT ? "no such dataset" : "cannot record the version");
		return;
	}
	json_t *j = ds_version_json(&ds_kind_dataset, name, &v);
	ds_version_release(&v);
	if (!j || json_object_set_new(j, "deduplicated", json_boolean(dedup))) {
		json_decref(j);
		http_reply_errno(r, -ENOMEM, NULL);
		return;
	}
	http_reply_json(r, dedup ? 200 : 201, j);
}

size_t ds_push_routes(ds_api *api, http_route *out, size_t max)
{
	api->push_stream = (http_stream){ on_chunk, &api->datasets };
	const http_route routes[] = {
		{ "POST", "/api/v1/datasets/{name}/versions", h_push, HTTP_RAW_BODY | HTTP_STREAM_BODY,
		  ROLE_MEMBER, "dataset.push", (size_t)api->max_size, &api->push_stream },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
