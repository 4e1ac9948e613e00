/* Internals of the runtime module: safe archive extraction (rt_extract.c),
 * shared with the registry (rt.c), the HTTP handlers, the fuzz target and
 * the unit tests.
 *
 * Error classes (what every function below and rt_ingest return):
 *   -EPERM     the archive is refused: a member the policy forbids (absolute,
 *              "..", escaping link, device, too deep or too long) or one that
 *              cannot be applied (a parent that is a file, a hard link to
 *              nothing, a layer that is not a regular file)       -> 422
 *   -EBADMSG   not a readable archive: corrupt, truncated, bad manifest  -> 422
 *   -EFBIG     over the byte budget or RT_MAX_ENTRIES                  -> 413
 *   -ENOSPC    the disk (or quota) is full                             -> 507
 *   anything else is an internal fault (memory, I/O, libarchive missing) -> 500 */
#ifndef SN_RT_INT_H
#define SN_RT_INT_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define RT_MAX_ENTRIES 1000000
#define RT_ENTRY_COST 512 /* bytes charged per entry (and implied dir) against the budget */
/* A member path, normalised, is shorter than RT_PATH_MAX bytes and has at
 * most RT_DEPTH_MAX components: bounds for every buffer and walk below. */
#define RT_PATH_MAX 4096
#define RT_DEPTH_MAX 256
/* The image config (docker save's Config file): read whole up to 1 MiB like
 * manifest.json; Env, Entrypoint and Cmd hold at most RT_CONFIG_LIST_MAX
 * strings, each shorter than RT_CONFIG_STR_MAX bytes. */
#define RT_CONFIG_LIST_MAX 256
#define RT_CONFIG_STR_MAX 32768

/* Unpacks the archive open on fd (a regular file; read from offset 0) into
 * the empty directory dest: a `docker save` archive (layers applied in
 * manifest order, whiteouts honoured) or a plain rootfs tarball. *bytes
 * gets the unpacked size (the files' sizes, each inode once). *config gets
 * the image config in the record's form ({"env", "working_dir",
 * "entrypoint", "cmd"}, each only when the image sets it; a WorkingDir
 * missing from the tree is created) or NULL when there is none; the caller
 * owns it. On error dest, and dest.outer beside it, may hold partial
 * content: the caller removes them. */
int rt_unpack_fd(int fd, const char *dest, uint64_t max_bytes, uint64_t *bytes, json_t **config,
		 char *err, size_t errlen);
/* Size of the files in the tree dir, hard-linked inodes counted once,
 * symlinks not followed. 0 or -errno (-ENOENT: no such tree). */
int rt_tree_bytes(const char *dir, uint64_t *bytes);
/* Extracts one tar image held in memory into the directory fd root as a
 * rootfs (layer = 1: whiteouts applied). For the fuzz target and tests. */
int rt_extract_mem(const void *data, size_t n, int root, int layer, uint64_t max_bytes,
		   char *err, size_t errlen);
/* rm -rf of name under dirfd, never following symlinks, without recursion
 * (a tree may be deeper than any stack). 0 or -errno. */
int rt_rm_tree(int dirfd, const char *name);
/* Normalises an archive member path: strips "./" and empty components;
 * refuses absolute paths and ".." (-EPERM), paths of RT_DEPTH_MAX+1
 * components or that do not fit outlen (-ENAMETOOLONG). 0, or 1 for the
 * root itself. */
int rt_norm_path(const char *in, char *out, size_t outlen);
/* Test hook: how many times rt_scan and rt_ingest read a tarball to hash
 * it. */
extern _Atomic unsigned long rt_hash_calls;
#endif
