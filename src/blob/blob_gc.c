/* Collection: unreferenced blobs, expired upload sessions and staging files
 * left by a crash. Runs in `sentinel gc`, possibly beside a live server
 * on the same data directory, so every removal is re-checked under a lock
 * that the server's side of the same race holds (blob.h, invariant 3):
 *  - a blob: the exclusive blob lock, then its mtime and references again;
 *  - a staging file: its own flock, held by a live writer or request. */
#include <dirent.h>
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

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* 1 when the name is free to remove: no live holder of its flock. */
static int unheld(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : 1;
	int ok = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return ok;
}

/* 1 when an open session record has this id (its file is not an orphan);
 * <0 on a store error. */
static int session_open(blob_store *bs, const char *id)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int rc = store_acquire(bs->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT 1 FROM blob_uploads WHERE id = $1 AND state = 'open'", &r,
				 SARGS(SA_TEXT(id)));
	if (rc == 0)
		rc = store_rows_next(r);
	store_rows_free(&r);
	store_release(&c);
	return rc;
}

int blob_sweep_tmp(blob_store *bs, int64_t cutoff_ms, int apply, blob_gc_stats *stats)
{
	DIR *d = opendir(bs->tmp);
	int rc = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		const char *n = e->d_name;
		int staging = strncmp(n, BLOB_STAGING_PREFIX, strlen(BLOB_STAGING_PREFIX)) == 0;
		int upload = strncmp(n, BLOB_UPLOAD_PREFIX, strlen(BLOB_UPLOAD_PREFIX)) == 0 &&
			     blob_upload_id_valid(n + strlen(BLOB_UPLOAD_PREFIX));
		struct stat st;
		if ((!staging && !upload) || fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) ||
		    mtime_ms(&st) >= cutoff_ms)
			continue;
		if (upload && (rc = session_open(bs, n + strlen(BLOB_UPLOAD_PREFIX))) != 0) {
			rc = rc < 0 ? rc : 0;
			continue;
		}
		if (!unheld(dirfd(d), n))
			continue;
		stats->staging++;
		if (apply)
			unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
	return rc;
}

/* 1 when some record references sha, 0 when none, <0 on a store error. */
static int referenced(blob_store *bs, const char *sha)
{
	store_conn *c = NULL;
	store_rows *r = NULL;
	int rc = store_acquire(bs->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT 1 FROM blob_refs WHERE sha256 = $1 LIMIT 1", &r,
				 SARGS(SA_TEXT(sha)));
	if (rc == 0)
		rc = store_rows_next(r);
	store_rows_free(&r);
	store_release(&c);
	return rc;
}

/* Deletes one candidate if, under the exclusive lock, it is still old and
 * unreferenced. 1: deleted, 0: kept, <0: error. */
static int delete_blob(blob_store *bs, int dirfd, const char *name, const char *sha,
		       int64_t cutoff_ms)
{
	struct stat st;
	int lk = blob_lock(bs, LOCK_EX), rc = lk < 0 ? lk : 0;
	if (rc == 0 && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    mtime_ms(&st) < cutoff_ms && (rc = referenced(bs, sha)) == 0)
		rc = unlinkat(dirfd, name, 0) ? -errno : 1;
	else if (rc > 0)
		rc = 0;
	blob_unlock(lk);
	return rc;
}

/* One directory DATA/blobs/sha256/ab. */
static int gc_dir(blob_store *bs, const char *ab, int64_t cutoff_ms, int apply, blob_gc_fn fn,
		  void *ctx, blob_gc_stats *stats)
{
	char *path = xasprintf("%s/%s", bs->root, ab);
	DIR *d = opendir(path);
	int rc = 0, deleted = 0;
	if (!d) {
		free(path);
		return errno == ENOENT ? 0 : -errno;
	}
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		char sha[65];
		struct stat st;
		if (strlen(e->d_name) != 62)
			continue;
		/* Lengths checked above: ab is 2, the name 62, sha holds 64 + NUL. */
		memcpy(sha, ab, 2);
		memcpy(sha + 2, e->d_name, 62);
		sha[64] = '\0';
		if (!blob_sha_valid(sha) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if ((rc = referenced(bs, sha)) != 0) {
			rc = rc < 0 ? rc : 0;
			continue;
		}
		if (mtime_ms(&st) >= cutoff_ms) {
			stats->kept_young++;
			continue;
		}
		if (apply && (rc = delete_blob(bs, dirfd(d), e->d_name, sha, cutoff_ms)) <= 0) {
			if (rc == 0)
				stats->kept_young++; /* touched or referenced meanwhile */
			continue;
		}
		rc = 0;
		deleted += apply;
		stats->blobs++;
		stats->bytes += (uint64_t)st.st_size;
		if (fn)
			fn(ctx, sha, (uint64_t)st.st_size);
	}
	closedir(d);
	if (deleted)
		sn_fsync_dir(path);
	free(path);
	return rc;
}

int blob_gc(blob_store *bs, int64_t now_ms, int64_t grace_ms, int apply, blob_gc_fn fn,
	    void *ctx, blob_gc_stats *stats)
{
	int64_t oldest;
	memset(stats, 0, sizeof *stats);
	if (grace_ms < BLOB_GC_GRACE_MIN_MS)
		grace_ms = BLOB_GC_GRACE_MIN_MS;
	int64_t cutoff = now_ms - grace_ms;
	int rc = blob_upload_expire(bs, now_ms, apply, &stats->sessions);
	if (rc == 0)
		rc = blob_sweep_tmp(bs, cutoff, apply, stats);
	/* An open session may end in a blob that already exists; anything
	 * younger than the oldest one is left to it. */
	if (rc == 0 && (rc = blob_upload_oldest(bs, now_ms, &oldest)) == 0 && oldest < cutoff)
		cutoff = oldest;
	DIR *d = rc ? NULL : opendir(bs->root);
	if (rc == 0 && !d)
		rc = -errno;
	for (struct dirent *e; rc == 0 && (e = readdir(d));) {
		const char *n = e->d_name;
		char probe[65];
		/* Two hex digits: pad to a full sha to reuse its check. */
		snprintf(probe, sizeof probe, "%.2s%062d", n, 0);
		if (strlen(n) == 2 && blob_sha_valid(probe))
			rc = gc_dir(bs, n, cutoff, apply, fn, ctx, stats);
	}
	if (d)
		closedir(d);
	return rc;
}
