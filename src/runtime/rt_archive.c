#define RT_AR_IMPL
#include <stdio.h>
#include "base/dl.h"
#include "runtime/rt_archive.h"

struct rt_ar rt_ar;

#define RT_AR_NAME(f) #f,
static const char *const names[] = { RT_AR_FUNCS(RT_AR_NAME) };
static sn_dl_lib lib = SN_DL_LIB("libarchive.so.13", "libarchive13", names, &rt_ar);

_Static_assert(sizeof rt_ar == sizeof names / sizeof names[0] * sizeof(void *),
	       "one pointer per name");

int rt_ar_load(char *err, size_t errlen)
{
	return sn_dl_use(&lib, err, errlen);
}
