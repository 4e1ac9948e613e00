/* Internals of the runtime module: safe archive extraction (rt_extract.c),
 * shared with the registry (rt.c) and the fuzz target. */
#ifndef SN_RT_INT_H
#define SN_RT_INT_H
#include <stddef.h>
#include <stdint.h>

#define RT_MAX_ENTRIES 1000000
#define RT_ENTRY_COST 512 /* bytes charged per entry against the budget */

/* Unpacks the archive at path into the empty directory dest: a `docker
 * save` archive (layers applied in manifest order, whiteouts honoured) or
 * a plain rootfs tarball. *bytes gets the unpacked size. On error dest may
 * hold partial content: the caller removes it. */
int rt_unpack_file(const char *path, const char *dest, uint64_t max_bytes, uint64_t *bytes,
		   char *err, size_t errlen);
/* Extracts one tar image held in memory into the directory fd root as a
 * rootfs (layer = 1: whiteouts applied). For the fuzz target and tests. */
int rt_extract_mem(const void *data, size_t n, int root, int layer, uint64_t max_bytes,
		   char *err, size_t errlen);
/* rm -rf of name under dirfd, never following symlinks. 0 or -errno. */
int rt_rm_tree(int dirfd, const char *name);
/* Normalises an archive member path: strips "./" and empty components;
 * refuses absolute paths and "..". 0, 1 (the root itself) or -EPERM. */
int rt_norm_path(const char *in, char *out, size_t outlen);
#endif
