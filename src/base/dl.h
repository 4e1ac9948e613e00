/* Libraries loaded on first use. Heavy libraries that only some commands
 * need (libarchive, OpenBLAS, libcurl, libcrypto, libmicrohttpd) would
 * otherwise cost every process their start-up (see bench/sandbox.sh: each
 * adds ~5 ms to a sandbox run). Each such library is one sn_dl_lib,
 * declared static next to the code that calls it:
 *
 *   static const char *const names[] = { "archive_read_new", ... };
 *   static sn_dl_lib lib = SN_DL_LIB("libarchive.so.13", "libarchive13", names, &fns);
 *   if (sn_dl_use(&lib, err, errlen)) ...     (or sn_dl_need(&lib))
 */
#ifndef SN_DL_H
#define SN_DL_H
#include <stddef.h>

typedef struct sn_dl_lib {
	const char *soname;       /* e.g. "libarchive.so.13" */
	const char *package;      /* the Debian package named in errors */
	const char *const *names; /* the symbols, in the order of fns */
	size_t n;
	void **fns;               /* n function pointers, filled on success */
	int state;                /* 0 not tried, 1 loaded, < 0 the error (guarded) */
	char err[256];
} sn_dl_lib;

/* fns is a struct of n function pointers (one per name, same order). */
#define SN_DL_LIB(soname, package, names, fns) \
	{ soname, package, names, sizeof(names) / sizeof((names)[0]), (void **)(fns), 0, "" }

/* Loads lib on the first call from any thread; later calls return the
 * first result. 0, or -ENOENT with a message naming the library or symbol
 * and the Debian package in err (may be NULL). */
int sn_dl_use(sn_dl_lib *lib, char *err, size_t errlen);
/* For a library the process cannot go on without: as sn_dl_use, but on
 * failure prints the message and aborts. */
void sn_dl_need(sn_dl_lib *lib);
/* The raw loader: opens soname and resolves names[0..n) into fns. The
 * handle stays open for the life of the process. */
int sn_dl_load(const char *soname, const char *const *names, void **fns, size_t n, char *err,
	       size_t errlen);
#endif
