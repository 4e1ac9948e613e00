#define HTTP_MHD_IMPL
#include <stdio.h>
#include "base/dl.h"
#include "http/mhd.h"

struct http_mhd http_mhd;

#define HTTP_MHD_NAME(f) #f,
static const char *const names[] = { HTTP_MHD_FUNCS(HTTP_MHD_NAME) };
static sn_dl_lib lib = SN_DL_LIB("libmicrohttpd.so.12", "libmicrohttpd12", names, &http_mhd);

_Static_assert(sizeof http_mhd == sizeof names / sizeof names[0] * sizeof(void *),
	       "one pointer per name");

int http_mhd_load(char *err, size_t errlen)
{
	return sn_dl_use(&lib, err, errlen);
}
