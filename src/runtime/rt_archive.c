#define RT_AR_IMPL
#include <pthread.h>
#include <stdio.h>
#include "base/dl.h"
#include "runtime/rt_archive.h"

struct rt_ar rt_ar;

#define RT_AR_NAME(f) #f,
static const char *const names[] = { RT_AR_FUNCS(RT_AR_NAME) };
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_err[256];

_Static_assert(sizeof rt_ar == sizeof names / sizeof names[0] * sizeof(void *),
	       "one pointer per name");

static void load(void)
{
	load_rc = sn_dl_load("libarchive.so.13", names, (void **)&rt_ar,
			     sizeof names / sizeof names[0], load_err, sizeof load_err);
}

int rt_ar_load(char *err, size_t errlen)
{
	pthread_once(&once, load);
	if (load_rc && err)
		snprintf(err, errlen, "%s (Debian package libarchive13)", load_err);
	return load_rc;
}
