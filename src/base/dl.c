#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/dl.h"

int sn_dl_load(const char *soname, const char *const *names, void **fns, size_t n, char *err,
	       size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s: %s", soname, dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		fns[i] = dlsym(h, names[i]);
		if (!fns[i]) {
			snprintf(err, errlen, "%s has no symbol %s", soname, names[i]);
			return -ENOENT;
		}
	}
	return 0;
}

/* One lock for every library: loading happens once per library and
 * process, so contention does not matter; the state is read without it
 * once loaded (acquire pairs with the release below). */
static pthread_mutex_t dl_mu = PTHREAD_MUTEX_INITIALIZER;

int sn_dl_use(sn_dl_lib *lib, char *err, size_t errlen)
{
	int st = __atomic_load_n(&lib->state, __ATOMIC_ACQUIRE);
	if (st == 0) {
		pthread_mutex_lock(&dl_mu);
		st = lib->state;
		if (st == 0) {
			char e[200];
			st = sn_dl_load(lib->soname, lib->names, lib->fns, lib->n, e, sizeof e) ? -ENOENT : 1;
			if (st < 0)
				snprintf(lib->err, sizeof lib->err, "%s (Debian package %s)", e, lib->package);
			__atomic_store_n(&lib->state, st, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&dl_mu);
	}
	if (st == 1)
		return 0;
	if (err)
		snprintf(err, errlen, "%s", lib->err);
	return st;
}

void sn_dl_need(sn_dl_lib *lib)
{
	char err[256];
	if (sn_dl_use(lib, err, sizeof err)) {
		fprintf(stderr, "sentinel: %s\n", err);
		abort();
	}
}
