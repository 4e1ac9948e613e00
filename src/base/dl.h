/* Libraries loaded on first use. Heavy libraries that only some commands
 * need (libarchive, OpenBLAS) would otherwise cost every process their
 * start-up (see bench/sandbox.sh: each adds ~5 ms to a sandbox run). */
#ifndef SN_DL_H
#define SN_DL_H
#include <stddef.h>

/* Opens soname and resolves names[0..n) into fns. 0, or -ENOENT with a
 * message naming the library or symbol in err. */
int sn_dl_load(const char *soname, const char *const *names, void **fns, size_t n, char *err,
	       size_t errlen);
#endif
