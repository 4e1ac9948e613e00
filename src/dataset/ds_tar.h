/* Tar file sets: a streaming reader of ustar/pax archives for pushes, and
 * the member headers of a file set's tar download.
 *
 * The reader takes regular files and directories only; a link, device or
 * fifo member is refused by name (a file set holds files, and a link could
 * name what the set does not hold). pax "path" and "size" records and GNU
 * long names (type L) apply to the next member; global pax headers are
 * read and ignored. Input may be fed in pieces of any size. */
#ifndef SN_DS_TAR_H
#define SN_DS_TAR_H
#include <stddef.h>
#include <stdint.h>

#define DS_TAR_META_MAX ((size_t)64 << 10) /* bytes of one pax header or GNU long name */
#define DS_TAR_HDR_MAX 4096                /* what ds_tar_header writes, at most */

typedef struct ds_tar ds_tar;
typedef struct ds_tar_cb {
	/* A regular file member: its path (as in the archive) and size. */
	int (*begin)(void *ud, const char *path, uint64_t size);
	int (*data)(void *ud, const char *p, size_t n);
	int (*end)(void *ud);
} ds_tar_cb;

ds_tar *ds_tar_new(const ds_tar_cb *cb, void *ud);
/* 0; -EBADMSG for a malformed archive, -EPERM for a member of a refused
 * type (ds_tar_error says which and why); or what a callback returned. */
int ds_tar_feed(ds_tar *t, const char *p, size_t n);
/* -EBADMSG when the archive is cut short (before its end-of-archive
 * block, or inside a member). */
int ds_tar_finish(ds_tar *t);
/* The message of the last -EBADMSG or -EPERM, or NULL. */
const char *ds_tar_error(const ds_tar *t);
void ds_tar_free(ds_tar **t);

/* The header blocks of a regular file member (a pax header first when
 * the path is over 100 bytes or the size over 8 GiB) into out, at most
 * DS_TAR_HDR_MAX bytes; *len a multiple of 512. -EINVAL for a path over
 * DS_PATH_MAX. */
int ds_tar_header(const char *path, uint64_t size, unsigned mode, char *out, size_t *len);
/* Bytes of the zero padding after a member of size bytes. */
size_t ds_tar_pad(uint64_t size);
#endif
