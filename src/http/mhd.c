#define HTTP_MHD_IMPL
#include <pthread.h>
#include <stdio.h>
#include "base/dl.h"
#include "http/mhd.h"

struct http_mhd http_mhd;

#define HTTP_MHD_NAME(f) #f,
static const char *const names[] = { HTTP_MHD_FUNCS(HTTP_MHD_NAME) };
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_err[256];

_Static_assert(sizeof http_mhd == sizeof names / sizeof names[0] * sizeof(void *),
	       "one pointer per name");

static void load(void)
{
	load_rc = sn_dl_load("libmicrohttpd.so.12", names, (void **)&http_mhd,
			     sizeof names / sizeof names[0], load_err, sizeof load_err);
}

int http_mhd_load(char *err, size_t errlen)
{
	pthread_once(&once, load);
	if (load_rc)
		snprintf(err, errlen, "%s (Debian package libmicrohttpd12)", load_err);
	return load_rc;
}
