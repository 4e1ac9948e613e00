/* Resumable upload sessions (blob.h). States and transitions:
 *
 *   (none) --blob_upload_create--> open --blob_upload_append--> open
 *   open --blob_upload_commit--> committed (reference ("upload", id))
 *   open --commit with a wrong sha256 / blob_upload_delete / expiry--> (none)
 *   committed --blob_upload_delete--> (none) (reference dropped)
 *
 * Invariants:
 *  1. An open session's staging file exists from before its record is
 *     inserted until after the record leaves the open state: a record
 *     never names a missing file (a file without a record is an orphan
 *     that blob_sweep_tmp removes).
 *  2. The record's received is the committed length; the file's bytes past
 *     it (an append cut short by a crash) are truncated before any use.
 *  3. Every change holds an exclusive flock on the staging file and
 *     re-reads the record under it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "blob/blob_int.h"

#define COLS "id, owner_id, size, expect_sha256, received, state, sha256, created_at, expires_at"

int blob_upload_id_valid(const char *id)
{
	if (!id || strncmp(id, "up_", 3) != 0 || strlen(id) != 23)
		return 0;
	for (const char *p = id + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

char *blob_upload_path(const blob_store *bs, const char *id)
{
	return xasprintf("%s/" BLOB_UPLOAD_PREFIX "%s", bs->tmp, id);
}

static void from_row(store_rows *r, blob_upload *u)
{
	memset(u, 0, sizeof *u);
	sn_strlcpy(u->id, store_rows_text(r, 0), sizeof u->id);
	sn_strlcpy(u->owner, store_rows_text(r, 1), sizeof u->owner);
	u->size = store_rows_isnull(r, 2) ? -1 : store_rows_int(r, 2);
	sn_strlcpy(u->expect, store_rows_text(r, 3), sizeof u->expect);
	u->received = store_rows_int(r, 4);
	u->committed = strcmp(store_rows_text(r, 5), "committed") == 0;
	sn_strlcpy(u->sha256, store_rows_text(r, 6), sizeof u->sha256);
	u->created_at = store_rows_int(r, 7);
	u->expires_at = store_rows_int(r, 8);
}

/* -ENOENT for an unknown id or an expired open session. */
static int load(store_conn *c, const char *id, blob_upload *u)
{
	store_rows *r = NULL;
	if (!blob_upload_id_valid(id))
		return -ENOENT;
	int rc = store_query(c, "SELECT " COLS " FROM blob_uploads WHERE id = $1", &r,
			     SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(r)) == 1) {
		from_row(r, u);
		rc = !u->committed && u->expires_at <= sn_now_ms() ? -ENOENT : 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&r);
	return rc;
}

static int load_once(blob_store *bs, const char *id, blob_upload *u)
{
	store_conn *c = NULL;
	int rc = store_acquire(bs->st, &c);
	if (rc == 0)
		rc = load(c, id, u);
	store_release(&c);
	return rc;
}

int blob_upload_get(blob_store *bs, const char *id, blob_upload *out)
{
	return load_once(bs, id, out);
}

int blob_upload_create(blob_store *bs, const char *owner, int64_t size, const char *expect,
		       blob_upload *out)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	char *id = sn_id_new("up_"), *path = blob_upload_path(bs, id);
	int64_t now = sn_now_ms(), n = 0;
	int fd = -1, rc;
	if (size > BLOB_UPLOAD_MAX || size < -1 || (expect && !blob_sha_valid(expect))) {
		rc = -EINVAL;
		goto out;
	}
	if ((rc = store_acquire(bs->st, &c)) ||
	    (rc = store_query(c, "SELECT COUNT(*) FROM blob_uploads WHERE owner_id = $1"
			      " AND state = 'open' AND expires_at > $2", &r,
			      SARGS(SA_TEXT(owner), SA_INT(now)))) ||
	    (rc = store_rows_next(r)) < 0)
		goto out;
	n = rc == 1 ? store_rows_int(r, 0) : 0;
	store_rows_free(&r);
	if (n >= BLOB_UPLOADS_PER_USER) {
		rc = -EDQUOT;
		goto out;
	}
	/* The file first (invariant 1), its name durable before the record. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || (rc = sn_fsync_dir(bs->tmp))) {
		rc = fd < 0 ? -errno : rc;
		goto out;
	}
	rc = store_exec(c, "INSERT INTO blob_uploads (id, owner_id, size, expect_sha256, received,"
			" state, created_at, expires_at) VALUES ($1, $2, $3, $4, 0, 'open', $5, $6)",
			NULL, SARGS(SA_TEXT(id), SA_TEXT(owner), size < 0 ? SA_NULL : SA_INT(size),
				    SA_TEXT(expect), SA_INT(now), SA_INT(now + BLOB_UPLOAD_TTL_MS)));
	if (rc == 0)
		rc = load(c, id, out);
out:
	if (fd >= 0) {
		close(fd);
		if (rc)
			unlink(path);
	}
	store_rows_free(&r);
	store_release(&c);
	free(path);
	free(id);
	return rc;
}

/* Takes the session's staging file (invariant 3) and re-reads its record:
 * 0 with *fd and *u, -EALREADY (committed, *u set), -EBUSY (another call
 * holds it), -ENOENT. */
static int take(blob_store *bs, const char *id, int *fd, blob_upload *u)
{
	int rc = load_once(bs, id, u);
	if (rc || u->committed)
		return rc ? rc : -EALREADY;
	char *path = blob_upload_path(bs, id);
	int f = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	free(path);
	if (f < 0 && errno != ENOENT)
		return -errno;
	if (f < 0) {
		/* Committed or removed between the two reads (invariant 1). */
		rc = load_once(bs, id, u);
		return rc ? rc : u->committed ? -EALREADY : -ENOENT;
	}
	if (flock(f, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(f);
		return rc;
	}
	if ((rc = load_once(bs, id, u)) || u->committed) {
		close(f);
		return rc ? rc : -EALREADY;
	}
	*fd = f;
	return 0;
}

/* Copies len bytes of src (from 0) to dst at off: in the kernel when it
 * can, else through a buffer. */
static int copy_range(int src, int dst, int64_t off, int64_t len)
{
	loff_t so = 0, dofs = off;
	while (len > 0) {
		ssize_t n = copy_file_range(src, &so, dst, &dofs, (size_t)len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP))
			break;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* the source is shorter than it said */
		len -= n;
	}
	enum { CHUNK = 1 << 16 };
	char *b = len > 0 ? xmalloc(CHUNK) : NULL;
	int rc = 0;
	while (len > 0 && rc == 0) {
		ssize_t n = pread(src, b, len < CHUNK ? (size_t)len : CHUNK, so);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		for (ssize_t w = 0; w < n && rc == 0;) {
			ssize_t k = pwrite(dst, b + w, (size_t)(n - w), dofs);
			if (k < 0 && errno != EINTR)
				rc = -errno;
			if (k > 0) {
				w += k;
				dofs += k;
			}
		}
		so += n;
		len -= n;
	}
	free(b);
	return rc;
}

int blob_upload_append(blob_store *bs, const char *id, int64_t start, int64_t total, int src_fd,
		       int64_t len, blob_upload *out)
{
	int fd = -1, rc = take(bs, id, &fd, out);
	store_conn *c = NULL;
	int64_t changes = 0;
	if (rc)
		return rc;
	int64_t limit = out->size >= 0 ? out->size : BLOB_UPLOAD_MAX;
	if (start != out->received)
		rc = -ERANGE;
	else if (len < 0 || (total >= 0 && out->size >= 0 && total != out->size) ||
		 (total >= 0 && start + len > total))
		rc = -EINVAL;
	else if (len > limit - start)
		rc = -EFBIG;
	if (rc)
		goto out;
	/* Invariant 2: what a crashed append left past received goes. */
	if (ftruncate(fd, out->received) || (rc = copy_range(src_fd, fd, start, len)) ||
	    fdatasync(fd)) {
		rc = rc ? rc : -errno;
		goto out;
	}
	if ((rc = store_acquire(bs->st, &c)) ||
	    (rc = store_exec(c, "UPDATE blob_uploads SET received = $1 WHERE id = $2 AND received = $3"
			     " AND state = 'open'", &changes,
			     SARGS(SA_INT(start + len), SA_TEXT(id), SA_INT(start)))))
		goto out;
	if (changes != 1) {
		rc = -EBUSY; /* cannot happen under the lock; never report a lost write as stored */
		goto out;
	}
	out->received = start + len;
out:
	store_release(&c);
	close(fd);
	return rc;
}

/* Removes an open session's record, then its file (invariant 1). */
static int drop_open(blob_store *bs, store_conn *c, const char *id)
{
	int rc = store_exec(c, "DELETE FROM blob_uploads WHERE id = $1 AND state = 'open'", NULL,
			    SARGS(SA_TEXT(id)));
	if (rc == 0) {
		char *path = blob_upload_path(bs, id);
		unlink(path);
		free(path);
	}
	return rc;
}

int blob_upload_commit(blob_store *bs, const char *id, blob_upload *out)
{
	int fd = -1, rc = take(bs, id, &fd, out);
	store_conn *c = NULL;
	char sha[65], *path = NULL;
	int64_t changes = 0;
	if (rc)
		return rc == -EALREADY ? 0 : rc;
	if (out->size >= 0 && out->received != out->size) {
		rc = -ERANGE;
		goto out;
	}
	if (ftruncate(fd, out->received) || fsync(fd)) {
		rc = -errno;
		goto out;
	}
	if ((rc = blob_hash_fd(fd, sha, NULL)) || (rc = store_acquire(bs->st, &c)))
		goto out;
	if (out->expect[0] && strcmp(out->expect, sha) != 0) {
		/* Nothing of a wrong upload is kept: the client starts again. */
		rc = drop_open(bs, c, id);
		rc = rc ? rc : -EBADMSG;
		goto out;
	}
	path = blob_upload_path(bs, id);
	/* Linked before the record says committed: a crash in between leaves
	 * an open session whose next commit finds the blob there. */
	if ((rc = blob_link(bs, path, sha, NULL)) || (rc = store_begin(c)) ||
	    (rc = store_exec(c, "UPDATE blob_uploads SET state = 'committed', sha256 = $1"
			     " WHERE id = $2 AND state = 'open'", &changes,
			     SARGS(SA_TEXT(sha), SA_TEXT(id)))))
		goto out;
	if (changes != 1) {
		rc = -EBUSY;
		goto out;
	}
	if ((rc = blob_ref_add(bs, c, sha, "upload", id)) || (rc = store_commit(c)))
		goto out;
	unlink(path);
	out->committed = 1;
	memcpy(out->sha256, sha, sizeof sha);
out:
	store_release(&c); /* rolls back a transaction left open */
	free(path);
	close(fd);
	return rc;
}

int blob_upload_delete(blob_store *bs, const char *id)
{
	blob_upload u;
	store_conn *c = NULL;
	int fd = -1, rc = take(bs, id, &fd, &u);
	if (rc && rc != -EALREADY)
		return rc;
	if ((rc = store_acquire(bs->st, &c)))
		goto out;
	if (fd >= 0) {
		rc = drop_open(bs, c, id);
	} else if ((rc = store_begin(c)) == 0) {
		/* Committed: the record and its reference go together. */
		if ((rc = store_exec(c, "DELETE FROM blob_uploads WHERE id = $1", NULL,
				     SARGS(SA_TEXT(id)))) == 0 &&
		    (rc = blob_ref_del(c, u.sha256, "upload", id)) == 0)
			rc = store_commit(c);
	}
out:
	store_release(&c);
	if (fd >= 0)
		close(fd);
	return rc;
}

int blob_upload_expire(blob_store *bs, int64_t now_ms, int apply, uint64_t *n)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	char **ids = NULL;
	size_t nids = 0, cap = 0;
	int rc = store_acquire(bs->st, &c);
	*n = 0;
	if (rc || (rc = store_query(c, "SELECT id FROM blob_uploads WHERE state = 'open'"
				    " AND expires_at <= $1", &r, SARGS(SA_INT(now_ms)))))
		goto out;
	/* Collected first: no change is made while the query is open. */
	while ((rc = store_rows_next(r)) == 1) {
		if (nids == cap)
			ids = xrealloc(ids, (cap = cap ? 2 * cap : 16) * sizeof *ids);
		ids[nids++] = xstrdup(store_rows_text(r, 0));
	}
	store_rows_free(&r);
	for (size_t i = 0; rc == 0 && i < nids; i++) {
		char *path = blob_upload_path(bs, ids[i]);
		int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		free(path);
		/* A request that holds the session finishes first; next time. */
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB)) {
			close(fd);
			continue;
		}
		(*n)++;
		if (apply)
			rc = drop_open(bs, c, ids[i]);
		if (fd >= 0)
			close(fd);
	}
out:
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	store_rows_free(&r);
	store_release(&c);
	return rc < 0 ? rc : 0;
}

int blob_upload_oldest(blob_store *bs, int64_t now_ms, int64_t *out)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int rc = store_acquire(bs->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT MIN(created_at) FROM blob_uploads WHERE state = 'open'"
				 " AND expires_at > $1", &r, SARGS(SA_INT(now_ms)));
	if (rc == 0 && (rc = store_rows_next(r)) == 1)
		rc = 0;
	*out = rc == 0 && r && !store_rows_isnull(r, 0) ? store_rows_int(r, 0) : INT64_MAX;
	store_rows_free(&r);
	store_release(&c);
	return rc;
}
