/* Blob files and references (blob.h states the invariants).
 *
 * Life of a blob: blob_writer_new (staging file DATA/tmp/.blob-XXXXXX,
 * flocked so gc can tell it is alive) -> blob_write* (written and hashed
 * in one pass) -> blob_commit: fsync, blob_link (link(2) into
 * DATA/blobs/sha256/ab/, fsync of the directory), unlink of the staging
 * file -> blob_ref_add by the record's domain -> ... -> blob_ref_del ->
 * blob_gc removes the file once no reference is left and the grace is
 * over. blob_abort or any error unlinks the staging file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "blob/blob_int.h"

static const store_migration migrations[] = {
	/* blob_refs: who holds each blob; the primary key makes adding a
	 * reference twice a no-op. blob_uploads: resumable sessions; received
	 * is the committed length of the staging file. */
	{ 1,
	  "CREATE TABLE blob_refs ("
	  " sha256 TEXT NOT NULL,"
	  " domain TEXT NOT NULL,"
	  " ref TEXT NOT NULL,"
	  " created_at BIGINT NOT NULL,"
	  " PRIMARY KEY (sha256, domain, ref));"
	  "CREATE INDEX blob_refs_ref ON blob_refs(domain, ref);"
	  "CREATE TABLE blob_uploads ("
	  " id TEXT PRIMARY KEY,"
	  " owner_id TEXT NOT NULL,"
	  " size BIGINT,"
	  " expect_sha256 TEXT,"
	  " received BIGINT NOT NULL DEFAULT 0,"
	  " state TEXT NOT NULL CHECK (state IN ('open','committed')),"
	  " sha256 TEXT,"
	  " created_at BIGINT NOT NULL,"
	  " expires_at BIGINT NOT NULL);"
	  "CREATE INDEX blob_uploads_owner ON blob_uploads(owner_id, state);"
	  "CREATE INDEX blob_uploads_state ON blob_uploads(state, created_at);",
	  NULL, NULL },
};

const store_domain blob_store_domain = {
	.name = "blob",
	.migrations = migrations,
	.n = (int)(sizeof migrations / sizeof migrations[0]),
	.legacy = 0,
};

/* A large content bypasses the page cache: O_DIRECT writes of WBUF-sized
 * aligned pieces cost a fraction of the CPU of buffered writes (1 GiB
 * written and fsynced here: ~1.4 s of system time buffered, ~0.2 s
 * direct), and CPU is what an upload that also hashes and profiles lacks.
 * A file smaller than WBUF never leaves the buffer before the commit and
 * is written plainly, as is the last piece of a large one; a file system
 * that refuses O_DIRECT (tmpfs) gets plain writes of the same pieces.
 *
 * A direct write returns only once the device has the data (~1 ms per
 * WBUF here: a second per GiB the caller, an upload's connection thread,
 * would not be receiving). So full buffers go to an I/O thread of the
 * writer's own, started at the first one, which writes them in order
 * while the caller fills the next; its first error is taken up by the
 * next blob_write or the commit. The caller still hashes each piece as it
 * comes, while it is in cache (the thread would read it back from memory,
 * and take cache from an upload's CSV thread on the other core).
 * Invariants: while direct is set, every write so far was a whole WBUF
 * from an aligned buffer, so the file offset stays WALIGN-aligned; while
 * the thread runs only it touches fd and direct. */
#define WBUF ((size_t)1 << 20)
#define WALIGN 4096
#define NBUF 3 /* buffers of a large writer: one filling, two with the thread */

struct blob_writer {
	blob_store *bs;
	int fd;
	char *path;
	sn_sha256 *h;
	uint64_t bytes;
	int err; /* first failed write, sticky */
	char *buf; /* the one being filled, WALIGN-aligned, WBUF bytes; NULL: writes go straight out */
	size_t blen;
	int direct; /* 1 on, 0 not tried yet, -1 refused or ended */
	char *bufs[NBUF]; /* every buffer allocated */
	int nbufs;
	/* the I/O thread; under mu: */
	pthread_t tid;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *q[NBUF]; /* full buffers in order, from qhead */
	int qhead, qn;
	char *spare[NBUF]; /* written, free for the caller */
	int nspare;
	int done, cancel, terr; /* no more buffers; drop the queued ones; its first error */
};

int blob_sha_valid(const char *s)
{
	if (!s)
		return 0;
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

char *blob_path(const blob_store *bs, const char *sha)
{
	return xasprintf("%s/%.2s/%s", bs->root, sha, sha + 2);
}

int blob_lock(const blob_store *bs, int how)
{
	int fd = open(bs->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, how) < 0) {
		if (errno != EINTR) {
			int rc = -errno;
			close(fd);
			return rc;
		}
	}
	return fd;
}

void blob_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing the only descriptor releases the flock */
}

store *blob_store_db(const blob_store *bs)
{
	return bs->st;
}

/* Everything a crash can leave in DATA/tmp is of no use once the server
 * restarts: writers live in its process, and sessions whose record is
 * gone have nothing to resume. */
static int recover(blob_store *bs)
{
	uint64_t n;
	int rc = blob_upload_expire(bs, sn_now_ms(), 1, &n);
	if (rc == 0) {
		blob_gc_stats s = { 0 };
		/* cutoff INT64_MAX: every staging file is old enough */
		rc = blob_sweep_tmp(bs, INT64_MAX, 1, &s);
	}
	return rc;
}

int blob_store_open(const char *data, store *st, unsigned flags, blob_store **out, char *err,
		    size_t errlen)
{
	blob_store *bs = xcalloc(1, sizeof *bs);
	bs->st = st;
	bs->root = xasprintf("%s/blobs/sha256", data);
	bs->tmp = xasprintf("%s/tmp", data);
	bs->lock = xasprintf("%s/blobs/.lock", data);
	const char *bad = bs->root;
	int rc = sn_mkdir_p(bs->root, 0700);
	if (rc == 0 && (rc = sn_mkdir_p(bs->tmp, 0700)))
		bad = bs->tmp;
	if (rc) {
		snprintf(err, errlen, "cannot create %s: %s", bad, strerror(-rc));
		goto fail;
	}
	if ((flags & BLOB_RECOVER) && (rc = recover(bs))) {
		snprintf(err, errlen, "cannot clean up %s after a restart: %s", bs->tmp, strerror(-rc));
		goto fail;
	}
	*out = bs;
	return 0;
fail:
	blob_store_free(&bs);
	return rc;
}

void blob_store_free(blob_store **pbs)
{
	blob_store *bs = *pbs;
	if (!bs)
		return;
	free(bs->root);
	free(bs->tmp);
	free(bs->lock);
	free(bs);
	*pbs = NULL;
}

/* ---- writing ---- */

int blob_writer_new(blob_store *bs, blob_writer **out)
{
	blob_writer *w = xcalloc(1, sizeof *w);
	w->bs = bs;
	w->path = xasprintf("%s/" BLOB_STAGING_PREFIX "XXXXXX", bs->tmp);
	w->fd = mkostemp(w->path, O_CLOEXEC);
	if (w->fd < 0) {
		int rc = -errno;
		free(w->path);
		free(w);
		return rc;
	}
	/* Held until the writer ends: gc removes only staging files whose
	 * lock it can take (a crashed writer's). */
	flock(w->fd, LOCK_EX | LOCK_NB);
	w->h = sn_sha256_new();
	*out = w;
	return 0;
}

static void direct_off(blob_writer *w)
{
	int fl = fcntl(w->fd, F_GETFL);
	if (w->direct == 1 && fl >= 0)
		fcntl(w->fd, F_SETFL, fl & ~O_DIRECT);
	w->direct = -1;
}

/* write(2) of all of c[0..n); a direct write refused (EINVAL: an alignment
 * the device does not take) is done again plainly. */
static int put(blob_writer *w, const char *c, size_t n)
{
	while (n > 0) {
		ssize_t k = write(w->fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EINVAL && w->direct == 1) {
			direct_off(w);
			continue;
		}
		if (k < 0)
			return -errno;
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Writes a full buffer, direct from the first one on when allowed. */
static int write_full(blob_writer *w, const char *b)
{
	if (w->direct == 0) {
		int fl = fcntl(w->fd, F_GETFL);
		w->direct = fl >= 0 && fcntl(w->fd, F_SETFL, fl | O_DIRECT) == 0 ? 1 : -1;
	}
	return put(w, b, WBUF);
}

static void *io_main(void *arg)
{
	blob_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->qn && !w->done)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->qn)
			break;
		char *b = w->q[w->qhead];
		int skip = w->terr || w->cancel;
		pthread_mutex_unlock(&w->mu);
		int rc = skip ? 0 : write_full(w, b);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->terr)
			w->terr = rc;
		w->qhead = (w->qhead + 1) % NBUF;
		w->qn--;
		w->spare[w->nspare++] = b;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Ends the I/O thread once it has written what it holds (or dropped it:
 * cancel); its error, if any, becomes the writer's. */
static void io_stop(blob_writer *w, int cancel)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->mu);
	w->done = 1;
	w->cancel |= cancel;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	w->started = 0;
	if (w->terr && !w->err)
		w->err = w->terr;
}

/* The full buffer goes to the I/O thread (started at the first), and the
 * caller gets an empty one: a spare, a new one while fewer than NBUF
 * exist, else the next the thread frees. Without a thread the caller
 * writes it itself. 0 or the first write error so far. */
static int hand_off(blob_writer *w)
{
	if (!w->started) {
		if (pthread_mutex_init(&w->mu, NULL))
			goto sync;
		if (pthread_cond_init(&w->cv, NULL)) {
			pthread_mutex_destroy(&w->mu);
			goto sync;
		}
		if (pthread_create(&w->tid, NULL, io_main, w)) {
			pthread_cond_destroy(&w->cv);
			pthread_mutex_destroy(&w->mu);
			goto sync;
		}
		w->started = 1;
	}
	pthread_mutex_lock(&w->mu);
	w->q[(w->qhead + w->qn) % NBUF] = w->buf;
	w->qn++;
	pthread_cond_broadcast(&w->cv);
	w->buf = NULL;
	if (!w->nspare && w->nbufs < NBUF && (w->buf = aligned_alloc(WALIGN, WBUF)))
		w->bufs[w->nbufs++] = w->buf;
	while (!w->buf && !w->nspare)
		pthread_cond_wait(&w->cv, &w->mu);
	if (!w->buf)
		w->buf = w->spare[--w->nspare];
	w->blen = 0;
	int rc = w->terr;
	pthread_mutex_unlock(&w->mu);
	return rc;
sync:
	w->blen = 0;
	return write_full(w, w->buf);
}

int blob_write(blob_writer *w, const void *p, size_t n)
{
	const char *c = p;
	if (w->err)
		return w->err;
	sn_sha256_update(w->h, p, n);
	w->bytes += n;
	/* base/mem.h has no aligned allocator; without the buffer the writer
	 * writes each piece as it comes, as it always could. */
	if (!w->buf && !w->nbufs && (w->buf = aligned_alloc(WALIGN, WBUF)))
		w->bufs[w->nbufs++] = w->buf;
	if (!w->buf)
		w->err = put(w, c, n);
	while (w->buf && n > 0 && !w->err) {
		size_t k = WBUF - w->blen < n ? WBUF - w->blen : n;
		memcpy(w->buf + w->blen, c, k);
		w->blen += k;
		c += k;
		n -= k;
		if (w->blen == WBUF)
			w->err = hand_off(w);
	}
	return w->err;
}

/* The last piece, plainly (it is not WALIGN-sized), once the thread has
 * written the rest. */
static int flush_last(blob_writer *w)
{
	if (!w->blen)
		return 0;
	direct_off(w);
	size_t n = w->blen;
	w->blen = 0;
	return put(w, w->buf, n);
}

static void writer_free(blob_writer **pw, int unlink_staging)
{
	blob_writer *w = *pw;
	if (!w)
		return;
	io_stop(w, 1);
	if (unlink_staging)
		unlink(w->path);
	if (w->fd >= 0)
		close(w->fd);
	if (w->h) {
		char discard[65];
		sn_sha256_final(&w->h, discard);
	}
	for (int i = 0; i < w->nbufs; i++)
		free(w->bufs[i]);
	free(w->path);
	free(w);
	*pw = NULL;
}

void blob_abort(blob_writer **w)
{
	writer_free(w, 1);
}

int blob_link(blob_store *bs, const char *staging, const char *sha, int *existed)
{
	char *path = blob_path(bs, sha);
	char *dir = xasprintf("%s/%.2s", bs->root, sha);
	int lk = -1, rc = 0, ex = 0;
	if (mkdir(dir, 0700) == 0)
		rc = sn_fsync_dir(bs->root); /* the new directory's entry is durable too */
	else if (errno != EEXIST)
		rc = -errno;
	if (rc || (rc = lk = blob_lock(bs, LOCK_SH)) < 0)
		goto out;
	rc = 0;
	if (link(staging, path) == 0) {
		rc = sn_fsync_dir(dir);
	} else if (errno == EEXIST) {
		/* Same name, same content. The fresh mtime keeps gc's hands off
		 * it until the caller's record holds a reference. */
		ex = 1;
		if (utimensat(AT_FDCWD, path, NULL, 0))
			rc = -errno;
	} else {
		rc = -errno;
	}
out:
	blob_unlock(lk);
	if (rc == 0 && existed)
		*existed = ex;
	free(path);
	free(dir);
	return rc;
}

int blob_commit(blob_writer **pw, char sha_out[65], uint64_t *bytes, int *existed)
{
	blob_writer *w = *pw;
	io_stop(w, 0);
	int rc = w->err ? w->err : flush_last(w);
	char sha[65];
	sn_sha256_final(&w->h, sha);
	if (rc == 0 && fsync(w->fd))
		rc = -errno;
	if (rc == 0)
		rc = blob_link(w->bs, w->path, sha, existed);
	if (rc == 0) {
		memcpy(sha_out, sha, 65);
		if (bytes)
			*bytes = w->bytes;
	}
	writer_free(pw, 1); /* linked or failed: the staging name goes either way */
	return rc;
}

int blob_hash_fd(int fd, char sha[65], uint64_t *bytes)
{
	enum { CHUNK = 1 << 16 };
	char *b = xmalloc(CHUNK);
	sn_sha256 *h = sn_sha256_new();
	uint64_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(fd, b, CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		sn_sha256_update(h, b, (size_t)n);
		off += (uint64_t)n;
	}
	sn_sha256_final(&h, sha);
	free(b);
	if (bytes)
		*bytes = off;
	return rc;
}

int blob_put_file(blob_store *bs, const char *path, const char *expect, char sha_out[65],
		  uint64_t *bytes, int *existed)
{
	char sha[65];
	uint64_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int rc = blob_hash_fd(fd, sha, &n);
	if (rc == 0 && expect && strcmp(expect, sha) != 0)
		rc = -EBADMSG;
	/* fsync works on a read-only descriptor: the data written through
	 * another one reaches the disk before the name does. */
	if (rc == 0 && fsync(fd))
		rc = -errno;
	close(fd);
	if (rc == 0)
		rc = blob_link(bs, path, sha, existed);
	if (rc == 0) {
		unlink(path);
		memcpy(sha_out, sha, 65);
		if (bytes)
			*bytes = n;
	}
	return rc;
}

/* ---- reading ---- */

int blob_open(blob_store *bs, const char *sha, int *fd, uint64_t *size)
{
	if (!blob_sha_valid(sha))
		return -EINVAL;
	char *path = blob_path(bs, sha);
	struct stat st;
	int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int rc = f < 0 ? -errno : fstat(f, &st) ? -errno : S_ISREG(st.st_mode) ? 0 : -ENOENT;
	free(path);
	if (rc) {
		if (f >= 0)
			close(f);
		return rc == -ELOOP ? -ENOENT : rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

int blob_verify_fd(int fd, const char *sha)
{
	char got[65];
	int rc = blob_hash_fd(fd, got, NULL);
	if (rc)
		return rc;
	return strcmp(got, sha) == 0 ? 0 : -EBADMSG;
}

/* ---- references ---- */

static int domain_valid(const char *d)
{
	if (!d || !*d || strlen(d) > 32)
		return 0;
	for (; *d; d++)
		if (!((*d >= 'a' && *d <= 'z') || *d == '_'))
			return 0;
	return 1;
}

int blob_ref_add(blob_store *bs, store_conn *c, const char *sha, const char *domain,
		 const char *ref)
{
	if (!blob_sha_valid(sha) || !domain_valid(domain) || !ref || !*ref)
		return -EINVAL;
	char *path = blob_path(bs, sha);
	/* Under the shared lock: gc, which deletes under the exclusive one,
	 * then sees the fresh mtime and leaves the blob to this reference. */
	int lk = blob_lock(bs, LOCK_SH), rc = lk < 0 ? lk : 0;
	if (rc == 0 && utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW))
		rc = -errno;
	blob_unlock(lk);
	free(path);
	if (rc)
		return rc;
	return store_exec(c,
			  "INSERT INTO blob_refs (sha256, domain, ref, created_at) VALUES ($1, $2, $3, $4)"
			  " ON CONFLICT DO NOTHING",
			  NULL, SARGS(SA_TEXT(sha), SA_TEXT(domain), SA_TEXT(ref), SA_INT(sn_now_ms())));
}

int blob_ref_del(store_conn *c, const char *sha, const char *domain, const char *ref)
{
	return store_exec(c, "DELETE FROM blob_refs WHERE sha256 = $1 AND domain = $2 AND ref = $3",
			  NULL, SARGS(SA_TEXT(sha), SA_TEXT(domain), SA_TEXT(ref)));
}
