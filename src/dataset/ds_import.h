/* Dataset import from a URL (?import=URL on a push): the server's
 * settings. Off until the admin enables it (docs/security.md). */
#ifndef SN_DS_IMPORT_H
#define SN_DS_IMPORT_H
#include <stddef.h>
#include "dataset/ds.h"

#define DS_IMPORT_ALLOW_MAX 32 /* entries of --import-allow */

/* Enables ?import= when enabled or allow is non-empty. allow: a comma list
 * of host[:port], IP[:port] ([V6]:port) or CIDR entries whose addresses
 * may be fetched although private, loopback or link-local; -EINVAL with a
 * message naming the entry otherwise. */
int ds_import_configure(ds_api *api, int enabled, const char *allow, char *err, size_t errlen);
#endif
