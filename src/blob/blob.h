/* The content-addressed blob store: files named by the SHA-256 of their
 * content under DATA/blobs/sha256/ab/cdef... (ab: the first two hex digits),
 * the references that records hold on them (table blob_refs), resumable
 * upload sessions, and the collection of unreferenced blobs.
 *
 * Invariants:
 *  1. A file under DATA/blobs/sha256/ is whole and its name is the SHA-256
 *     of its content: content is staged in DATA/tmp/ (same file system),
 *     hashed in the same pass as it is written, fsynced, linked into place
 *     (link(2): exactly one of several writers of the same content creates
 *     it, the others see it existed), and the directory is fsynced before
 *     the commit returns. A crash leaves at most a staging file, removed at
 *     the next server start.
 *  2. Identical content is stored once.
 *  3. A reference is added (blob_ref_add) only after its blob is committed,
 *     in the transaction of the record that holds it; gc never deletes a
 *     blob that has a reference, nor one whose mtime is younger than its
 *     grace (commits and blob_ref_add refresh the mtime, under a shared
 *     lock that gc's deletion takes exclusively), nor one younger than the
 *     oldest open upload session. So no record points at a missing blob,
 *     as long as a record's transaction is shorter than the grace (1 min
 *     at least).
 *  4. A sha256 from outside is used only after blob_sha_valid (64 lowercase
 *     hex digits): no path is ever built from a user's string.
 *
 * Contract: functions return 0 or a negative errno. A blob_store and its
 * writers may be used from several threads (one writer by one thread at a
 * time); they never hold a store connection between calls. */
#ifndef SN_BLOB_H
#define SN_BLOB_H
#include <stddef.h>
#include <stdint.h>
#include "store/store.h"

typedef struct blob_store blob_store;
typedef struct blob_writer blob_writer;

/* The blob domain's schema (blob_refs, blob_uploads), for store_open. */
extern const store_domain blob_store_domain;

enum {
	/* At a server's start: remove every staging file of DATA/tmp (none
	 * can be in flight yet), expired upload sessions and staging files of
	 * sessions that have no record. Without it (gc beside a live server)
	 * nothing of DATA/tmp is touched at open. */
	BLOB_RECOVER = 1,
};

/* Creates DATA/blobs/sha256 and DATA/tmp when missing. st is borrowed and
 * must outlive the blob store. err gets a one-line message. */
int blob_store_open(const char *data, store *st, unsigned flags, blob_store **out, char *err,
		    size_t errlen);
void blob_store_free(blob_store **bs);
store *blob_store_db(const blob_store *bs);

/* 1 when s is 64 lowercase hex digits, else 0. */
int blob_sha_valid(const char *s);

/* Streaming writer. write may be called any number of times; commit or
 * abort ends the writer and frees it (also on error). After a failed
 * write, commit fails with that error and keeps nothing. */
int blob_writer_new(blob_store *bs, blob_writer **out);
int blob_write(blob_writer *w, const void *p, size_t n);
/* sha_out gets the content's SHA-256; *existed (may be NULL) tells whether
 * that content was already stored (then the staging file is dropped).
 * bytes (may be NULL) gets the size. */
int blob_commit(blob_writer **w, char sha_out[65], uint64_t *bytes, int *existed);
void blob_abort(blob_writer **w);

/* Moves a whole file (on DATA's file system, e.g. the HTTP layer's spool
 * file or an upload's staging file) into the store: one read to hash it,
 * then a link, no copy; path is removed on success. With expect (not
 * NULL), content whose SHA-256 differs is refused with -EBADMSG and path
 * is left where it is. */
int blob_put_file(blob_store *bs, const char *path, const char *expect, char sha_out[65],
		  uint64_t *bytes, int *existed);

/* Opens a blob read-only: *fd (the caller closes it) and *size. -EINVAL
 * for an invalid sha, -ENOENT when it is not stored. */
int blob_open(blob_store *bs, const char *sha, int *fd, uint64_t *size);
/* Re-hashes an open blob: 0 when its content matches sha, -EBADMSG when
 * not. Reads with pread: the fd's offset is not moved. */
int blob_verify_fd(int fd, const char *sha);

/* References, written by the domain that holds a record naming a blob, in
 * the transaction of that record (c). The blob must be stored (-ENOENT
 * otherwise); adding a reference twice is no error. domain: [a-z_]+. */
int blob_ref_add(blob_store *bs, store_conn *c, const char *sha, const char *domain,
		 const char *ref);
/* Removes one reference (no error when absent). */
int blob_ref_del(store_conn *c, const char *sha, const char *domain, const char *ref);

/* ---- resumable upload sessions ----
 * A session's content is staged in DATA/tmp/upload-<id>; its record is
 * in blob_uploads. The record's `received` is the truth: whatever the
 * staging file holds past it (an append cut short by a crash) is dropped
 * at the next append or commit. The hash is computed at commit, in one
 * read of the staging file (a hash state cannot outlive a restart). Every
 * change of a session holds an exclusive flock on its staging file: two
 * calls on one session never interleave, and gc never removes a session
 * while a request uses it. */
#define BLOB_UPLOAD_TTL_MS ((int64_t)24 * 3600 * 1000) /* open sessions expire */
#define BLOB_UPLOAD_MAX ((int64_t)1 << 40)     /* 1 TiB: the most one session holds */
#define BLOB_UPLOADS_PER_USER 64               /* open sessions per owner */
#define BLOB_UPLOAD_ID_MAX 32

typedef struct blob_upload {
	char id[BLOB_UPLOAD_ID_MAX];
	char owner[48];
	int64_t size;        /* declared total, -1 when not given */
	char expect[65];     /* declared SHA-256, "" when not given */
	int64_t received;    /* bytes stored so far */
	int committed;
	char sha256[65];     /* once committed */
	int64_t created_at, expires_at; /* ms */
} blob_upload;

/* -EDQUOT when owner already has BLOB_UPLOADS_PER_USER open sessions,
 * -EINVAL for a size out of [0, BLOB_UPLOAD_MAX] or an invalid expect. */
int blob_upload_create(blob_store *bs, const char *owner, int64_t size, const char *expect,
		       blob_upload *out);
/* -ENOENT for an unknown id, or an open session that has expired. */
int blob_upload_get(blob_store *bs, const char *id, blob_upload *out);
/* Appends len bytes read from src_fd (from its offset 0) at offset start.
 * total: the whole size as the client says it (-1: unknown). -ERANGE when
 * start is not the session's received count (*out then holds the session),
 * -EFBIG past the declared size or BLOB_UPLOAD_MAX, -EINVAL when total
 * contradicts the declared size, -EALREADY when committed, -EBUSY while
 * another call holds the session. */
int blob_upload_append(blob_store *bs, const char *id, int64_t start, int64_t total, int src_fd,
		       int64_t len, blob_upload *out);
/* Moves the content into the store and records the reference
 * ("upload", id). -ERANGE when fewer bytes than the declared size
 * arrived; -EBADMSG when the content's SHA-256 is not the declared one:
 * the session and its content are removed. Committing twice returns the
 * same result. */
int blob_upload_commit(blob_store *bs, const char *id, blob_upload *out);
/* Removes an open session with its content, or a committed one with its
 * reference (the blob then goes at the next gc, unless referenced). */
int blob_upload_delete(blob_store *bs, const char *id);

/* ---- collection (sentinel gc) ---- */
#define BLOB_GC_GRACE_MS ((int64_t)3600 * 1000)
#define BLOB_GC_GRACE_MIN_MS ((int64_t)60 * 1000)

typedef struct blob_gc_stats {
	uint64_t blobs, bytes;     /* unreferenced blobs (deleted with apply) */
	uint64_t kept_young;       /* unreferenced but too young */
	uint64_t sessions;         /* expired sessions (removed with apply) */
	uint64_t staging;          /* stale staging files (removed with apply) */
} blob_gc_stats;

/* Called for each unreferenced blob that is (or would be) deleted. */
typedef void (*blob_gc_fn)(void *ctx, const char *sha, uint64_t bytes);

/* Finds what nothing needs: blobs with no reference whose mtime is older
 * than now - grace_ms and than the oldest open upload session, expired
 * sessions, staging files left by a crash (older than the grace, and not
 * locked by a live writer). With apply, removes them. grace_ms below
 * BLOB_GC_GRACE_MIN_MS is raised to it. */
int blob_gc(blob_store *bs, int64_t now_ms, int64_t grace_ms, int apply, blob_gc_fn fn,
	    void *ctx, blob_gc_stats *stats);
#endif
