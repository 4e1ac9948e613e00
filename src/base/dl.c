#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
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
	/* The handle stays open for the life of the process. */
	return 0;
}
