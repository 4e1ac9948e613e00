/* Internals shared by the dataset files: the api's state, item lookup and
 * access, version records. */
#ifndef SN_DS_INT_H
#define SN_DS_INT_H
#include <jansson.h>
#include "auth/auth.h"
#include "auth/share.h"
#include "dataset/ds.h"

/* What a route names: "dataset" or "script". */
typedef struct ds_kind {
	const char *name;   /* kind column, and the version JSON's item field */
	const char *plural; /* route segment */
} ds_kind;
extern const ds_kind ds_kind_dataset, ds_kind_script;

/* A route's ctx: the api and the kind of item it serves. */
typedef struct ds_rctx {
	ds_api *api;
	const ds_kind *k;
} ds_rctx;

/* An --import-allow entry: a host name, or an address range. */
typedef struct ds_allow {
	int family;             /* AF_INET, AF_INET6; 0: host names host */
	unsigned char addr[16]; /* network byte order */
	int prefix;             /* bits */
	char host[256];
	int port;               /* 0: any */
} ds_allow;

struct ds_api {
	store *st;
	blob_store *bs;
	uint64_t max_size;
	ds_rctx datasets, scripts;
	http_stream push_stream; /* ctx: &datasets */
	int import_enabled;
	size_t nallow;
	ds_allow allow[32]; /* DS_IMPORT_ALLOW_MAX */
	ds_local_fn local_fn; /* node-local datasets for ?kind=local, or NULL */
	void *local_ctx;
};

/* The items' shares (auth/share.h: the access rule). */
extern const share_table ds_shares;

typedef struct ds_item {
	char id[48];
	char name[DS_NAME_MAX + 1];
	char owner_id[48];
	int public_, archived;
	enum share_access access; /* the caller's */
} ds_item;

/* Looks up the item kind/name for u: -ENOENT when missing or not readable
 * by u (the same answer). */
int ds_item_get(store_conn *c, const ds_kind *k, const char *name, const auth_user *u,
		ds_item *out);

/* A version as stored. */
typedef struct ds_version {
	int64_t number, parent, bytes, files, created_at;
	char sha256[65];
	char kind[8]; /* "file" | "fileset" */
	char *filename, *message, *profiles, *language, *uploader;
} ds_version;
void ds_version_release(ds_version *v);
/* -ENOENT when item has no version number. */
int ds_version_get(store_conn *c, const char *item_id, int64_t number, ds_version *out);
json_t *ds_version_json(const ds_kind *k, const char *item_name, const ds_version *v);

/* A version to record (ds_version_add). */
typedef struct ds_newver {
	const char *kind; /* "file" | "fileset" */
	const char *sha256, *filename, *message, *language;
	int64_t bytes, files;
	json_t *profiles;           /* may be NULL */
	const char *const *blobs;   /* every blob it references (files and manifest) */
	size_t nblobs;
} ds_newver;

/* Creates the item on its first push (owned by u), checks u may write it,
 * and records the version with its references in one transaction; an
 * identical version (same sha256) is answered instead, with *dedup = 1.
 * -ENOENT (not readable), -EACCES (readable, not writable). */
int ds_version_add(ds_api *api, const ds_kind *k, const char *name, const auth_user *u,
		   const ds_newver *nv, ds_version *out, int *dedup);

/* Replies for a store or domain error. */
void ds_reply_rc(http_req *r, int rc, const char *what);

/* Item and version vstr of the request's {name}, read rule applied: 0,
 * or replies and returns nonzero. */
int ds_resolve(ds_rctx *x, http_req *r, const char *vstr, ds_item *it, ds_version *v);
/* A whole blob of at most max bytes in a new NUL-terminated buffer. */
int ds_blob_read_all(blob_store *bs, const char *sha, size_t max, char **out, size_t *len);

/* ---- import (ds_import.c) ---- */

/* Refused by default: loopback, private, link-local, CGNAT, unspecified,
 * multicast, reserved, and the IPv6 forms that embed such an IPv4. */
int ds_import_addr_blocked(int family, const unsigned char *addr);

/* A refusal of the import itself (not of the content). */
typedef struct ds_import_err {
	int status;         /* 0: the error came from on_data */
	const char *code;
	char msg[400];
} ds_import_err;

/* Fetches url (the caller checked api->import_enabled; redirects followed up to 5 times, each target checked
 * again) into on_data, bounded by the api's max size, 10 min in all and
 * 30 s without progress. 0, or an error: e->status set for the import's
 * own (403 refused address, 400 bad URL, 413, 502, 504), else
 * on_data's rc as it returned it. */
int ds_import_fetch(ds_api *api, const char *url, int (*on_data)(void *, const char *, size_t),
		    void *ud, ds_import_err *e);
/* The URL's last path segment, percent-decoded; "data" when empty;
 * -EINVAL when it is no valid file name. */
int ds_import_filename(const char *url, char out[DS_PATH_MAX]);

/* Routes of the other files. */
size_t ds_push_routes(ds_api *api, http_route *out, size_t max);
size_t ds_read_routes(ds_api *api, http_route *out, size_t max);
size_t ds_script_routes(ds_api *api, http_route *out, size_t max);
#endif
