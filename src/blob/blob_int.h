/* Internals shared by blob.c (files and references), blob_upload.c
 * (sessions) and blob_gc.c (collection). */
#ifndef SN_BLOB_INT_H
#define SN_BLOB_INT_H
#include <stdint.h>
#include "blob/blob.h"

struct blob_store {
	store *st;
	char *root;  /* DATA/blobs/sha256 */
	char *tmp;   /* DATA/tmp: staging, same file system as root */
	char *lock;  /* DATA/blobs/.lock: shared while a blob is linked or
		      * touched, exclusive while gc deletes one */
};

#define BLOB_STAGING_PREFIX ".blob-"
#define BLOB_UPLOAD_PREFIX "upload-"

/* DATA/blobs/sha256/ab/cdef... for a valid sha (caller frees). */
char *blob_path(const blob_store *bs, const char *sha);
/* Opens the lock file and takes it (LOCK_SH or LOCK_EX); the fd, or
 * -errno. Each call opens its own description: flock is per description,
 * so threads of one process do not share (and release) each other's lock. */
int blob_lock(const blob_store *bs, int how);
void blob_unlock(int fd);
/* Links the fsynced file at staging into place as sha under the shared
 * lock; an existing blob gets its mtime refreshed (*existed = 1). The
 * staging path is left to the caller. */
int blob_link(blob_store *bs, const char *staging, const char *sha, int *existed);
/* SHA-256 and size of an open file from offset 0 (pread). */
int blob_hash_fd(int fd, char sha[65], uint64_t *bytes);
/* 1 when id has the form of our session ids ("up_" + 20 hex). */
int blob_upload_id_valid(const char *id);
/* DATA/tmp/upload-<id> (caller frees). */
char *blob_upload_path(const blob_store *bs, const char *id);
/* Removes expired open sessions (and their staging files) whose staging
 * file no request holds; with apply 0 only counts them. */
int blob_upload_expire(blob_store *bs, int64_t now_ms, int apply, uint64_t *n);
/* Removes staging files of DATA/tmp older than cutoff_ms that no live
 * writer or request holds: writers' (.blob-*) and sessions' that have no
 * open record (upload-*). With apply 0 only counts them (stats->staging). */
int blob_sweep_tmp(blob_store *bs, int64_t cutoff_ms, int apply, blob_gc_stats *stats);
/* created_at of the oldest unexpired open session, or INT64_MAX when none. */
int blob_upload_oldest(blob_store *bs, int64_t now_ms, int64_t *out);
#endif
