/* Datasets and scripts: versioned content in the blob store, with owners,
 * group shares and a public flag, and their HTTP routes (docs/api.md).
 *
 * A dataset (or script: the same records, kind "script") has versions
 * 1, 2, ...; a version is one blob (a single file) or a manifest blob that
 * names one blob per file (a file set). A version and its blob references
 * are written in one transaction; every blob of an item holds the reference
 * ("dataset", item id), so the blob API's may_read hook applies the item's
 * read rule to GET /api/v1/blobs/{sha}.
 *
 * Who may read an item: admins, its owner, members of a group it is shared
 * with, everyone when public; anyone else is answered 404 as for a missing
 * one. Who may push: admins, the owner, groups shared with "write". PATCH:
 * owner or admin; DELETE: admin.
 *
 * Contract: functions return 0 or a negative errno. */
#ifndef SN_DS_H
#define SN_DS_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "blob/blob.h"
#include "blob/blob_http.h"
#include "http/http.h"
#include "store/store.h"

#define DS_NAME_MAX 128
#define DS_MAX_SIZE_DEFAULT ((uint64_t)64 << 30) /* one dataset push, all files */
#define DS_SCRIPT_MAX ((size_t)1 << 20)          /* one script version */
#define DS_PATH_MAX 1024                         /* bytes of a path in a file set */
#define DS_SET_FILES_MAX 10000                   /* files in one set */

/* The dataset domain's schema, for store_open. */
extern const store_domain ds_store_domain;

typedef struct ds_api ds_api;

/* bs and st are borrowed and must outlive the api. max_size: the most one
 * dataset push may stream (0: DS_MAX_SIZE_DEFAULT). Registers the may_read
 * hook of the "dataset" references on blobs. */
int ds_api_new(store *st, blob_store *bs, blob_api *blobs, uint64_t max_size, ds_api **out);
void ds_api_free(ds_api **api);
/* Node-local datasets (data on a node's own disks, never uploaded): the
 * dataset module knows no nodes, so the server gives it a provider. fn
 * fills *out with a new JSON array of the local items u may see (those on
 * nodes u may use; admins: all), each {"name", "kind": "local",
 * "manifest_sha256", "bytes", "files", "location": [{"node_id",
 * "node_name", "node_state", "path"?}]}, sorted by name then
 * manifest_sha256; 0 or a negative errno. GET /api/v1/datasets?kind=local
 * lists them; without a provider that list is empty. */
struct auth_user;
typedef int (*ds_local_fn)(void *ctx, const struct auth_user *u, json_t **out);
void ds_api_set_local_provider(ds_api *api, ds_local_fn fn, void *ctx);
/* Appends the routes to out (at most max); returns how many. */
size_t ds_routes(ds_api *api, http_route *out, size_t max);

/* 1 when s is a valid item name ([A-Za-z0-9._-]{1,128}, no leading dot). */
int ds_name_valid(const char *s);

/* Normalises a path of a file set into out (DS_PATH_MAX bytes): "." and
 * empty components dropped; -EINVAL for an absolute path, a ".." component,
 * a backslash, a control byte or NUL, invalid UTF-8, nothing left, or more
 * than DS_PATH_MAX - 1 bytes. */
int ds_path_normalize(const char *in, size_t n, char out[DS_PATH_MAX]);

/* ---- manifests ---- */
typedef struct ds_mfile {
	char *path;
	char sha256[65];
	uint64_t size;
	unsigned mode;
} ds_mfile;

typedef struct ds_manifest {
	ds_mfile *files;
	size_t n, cap;
} ds_manifest;

/* Adds a file (the path is normalised); -EINVAL for a bad path, -EEXIST
 * for a duplicate one, -E2BIG past DS_SET_FILES_MAX. */
int ds_manifest_add(ds_manifest *m, const char *path, const char *sha, uint64_t size,
		    unsigned mode);
/* The canonical JSON text (files sorted by path, compact, keys sorted);
 * the caller frees *out. */
int ds_manifest_dump(ds_manifest *m, char **out, size_t *len);
/* Parses and validates a manifest (every rule of ds_manifest_add, and
 * valid SHA-256 names); -EBADMSG when it is not one. */
int ds_manifest_parse(const char *text, size_t len, ds_manifest *out);
/* The file of path, or NULL. */
const ds_mfile *ds_manifest_find(const ds_manifest *m, const char *path);
void ds_manifest_release(ds_manifest *m);

/* ---- multipart/form-data, streaming ---- */
typedef struct ds_mp ds_mp;
typedef struct ds_mp_cb {
	/* name, filename (NULL when absent) and ctype (NULL) of a part. */
	int (*begin)(void *ud, const char *name, const char *filename, const char *ctype);
	int (*data)(void *ud, const char *p, size_t n);
	int (*end)(void *ud);
} ds_mp_cb;

#define DS_MP_HEADERS_MAX 8192 /* bytes of one part's headers */

/* content_type: the request's header (its boundary parameter is read);
 * -EINVAL when it has none, or an invalid one. */
int ds_mp_new(const char *content_type, const ds_mp_cb *cb, void *ud, ds_mp **out);
/* -EBADMSG for a malformed body, or what a callback returned. */
int ds_mp_feed(ds_mp *m, const char *p, size_t n);
/* -EBADMSG when the closing boundary has not arrived. */
int ds_mp_finish(ds_mp *m);
void ds_mp_free(ds_mp **m);

/* ---- line diff (scripts) ---- */
#define DS_LDIFF_CELLS ((size_t)4 << 20) /* LCS table cells: beyond, the middle is replaced whole */
/* A unified diff of a against b (3 lines of context) into *out (caller
 * frees); *added / *removed count the lines. */
int ds_line_diff(const char *a, size_t na, const char *b, size_t nb, const char *label_a,
		 const char *label_b, char **out, size_t *added, size_t *removed);

/* ---- resolution for jobs (ds_resolve.c; used by src/sched) ---- */
struct auth_user;

typedef struct ds_ref {
	char name[DS_NAME_MAX + 1];
	int64_t version;
	char sha256[65];            /* the file, or the manifest of a file set */
	char kind[8];               /* "file" | "fileset" */
	char filename[DS_PATH_MAX]; /* "" when none */
	int64_t bytes, files;
} ds_ref;

/* Resolves spec, "name@version" or "name" (the latest version), of kind
 * "dataset" or "script" for u under the read rule above. -EINVAL for a
 * malformed spec or kind; -ENOENT when the item or version is missing or
 * not readable by u (the same answer). */
int ds_ref_resolve(store_conn *c, const char *kind, const char *spec, const struct auth_user *u,
		   ds_ref *out);
/* ---- end of resolution for jobs ---- */
#endif
