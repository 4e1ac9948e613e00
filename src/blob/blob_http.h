/* The blob and upload API: GET/HEAD /api/v1/blobs/{sha256} and the
 * resumable uploads (/api/v1/uploads...), over a blob_store.
 *
 * Who may read a blob: an admin, any referenced blob; anyone else, a blob
 * that at least one record they may read references. Each domain that
 * references blobs registers a may_read hook for its references; a blob no
 * hook grants is answered 404, exactly as a missing one (no existence
 * oracle). The upload domain registers its own: a committed session
 * ("upload", id) is readable by its owner.
 *
 * Contract: register hooks before the server starts (the table is read
 * without a lock afterwards); a hook runs on a request's thread, with a
 * store connection that the request holds, and returns 1 (may read), 0
 * (may not) or a negative errno. */
#ifndef SN_BLOB_HTTP_H
#define SN_BLOB_HTTP_H
#include <stddef.h>
#include "auth/auth.h"
#include "blob/blob.h"
#include "http/http.h"

typedef struct blob_api blob_api;
typedef int (*blob_may_read_fn)(void *ctx, store_conn *c, const char *ref, const auth_user *u);

#define BLOB_READERS_MAX 16
/* One PATCH body at most: the HTTP layer answers 413 beyond. */
#define BLOB_PATCH_MAX ((size_t)4 << 30)

/* bs is borrowed and must outlive the api. */
int blob_api_new(blob_store *bs, blob_api **out);
void blob_api_free(blob_api **api);
/* -EEXIST for a domain registered twice, -ENOSPC past BLOB_READERS_MAX. */
int blob_api_reader_add(blob_api *api, const char *domain, blob_may_read_fn fn, void *ctx);
/* Appends the routes to out (at most max); returns how many. */
size_t blob_routes(blob_api *api, http_route *out, size_t max);
#endif
