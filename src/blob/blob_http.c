/* Handlers of the blob and upload routes (blob_http.h). A session that the
 * caller may not touch is answered as a missing one (404), like a blob
 * they may not read. Every error is the JSON envelope. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "blob/blob_http.h"

struct reader {
	char domain[33];
	blob_may_read_fn fn;
	void *ctx;
};

struct blob_api {
	blob_store *bs;
	struct reader readers[BLOB_READERS_MAX];
	int nreaders;
};

/* References are checked a page at a time, so that a blob held by many
 * records costs bounded memory. */
#define REF_PAGE 64

static void reply_rc(http_req *r, int rc, const char *what)
{
	/* The store's own codes: busy is the client's retry, others are ours. */
	if (rc == STORE_EBUSY)
		rc = -ETIMEDOUT;
	http_reply_errno(r, rc, "%s", what);
}

/* ---- access ---- */

static const struct reader *reader_of(const blob_api *api, const char *domain)
{
	for (int i = 0; i < api->nreaders; i++)
		if (strcmp(api->readers[i].domain, domain) == 0)
			return &api->readers[i];
	return NULL;
}

/* One page of sha's references after (domain, ref); *n of them. */
static int ref_page(store_conn *c, const char *sha, const char *after_d, const char *after_r,
		    char dom[][33], char ref[][256], int *n)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT domain, ref FROM blob_refs WHERE sha256 = $1 AND"
			     " (domain > $2 OR (domain = $2 AND ref > $3)) ORDER BY domain, ref LIMIT 64",
			     &rows, SARGS(SA_TEXT(sha), SA_TEXT(after_d), SA_TEXT(after_r)));
	*n = 0;
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(dom[*n], store_rows_text(rows, 0), 33);
		sn_strlcpy(ref[*n], store_rows_text(rows, 1), 256);
		(*n)++;
		rc = 0;
	}
	store_rows_free(&rows);
	return rc < 0 ? rc : 0;
}

/* 1 when u may read sha (blob_http.h), 0 when not, <0 on error. */
static int may_read(blob_api *api, const char *sha, const auth_user *u)
{
	char dom[REF_PAGE][33], ref[REF_PAGE][256], last_d[33] = "", last_r[256] = "";
	store_conn *c = NULL;
	int n, ok = 0, rc = store_acquire(blob_store_db(api->bs), &c);
	while (rc == 0 && !ok && (rc = ref_page(c, sha, last_d, last_r, dom, ref, &n)) == 0 && n) {
		if (u->role >= ROLE_ADMIN) {
			ok = 1;
			break;
		}
		for (int i = 0; i < n && !ok && rc == 0; i++) {
			const struct reader *rd = reader_of(api, dom[i]);
			/* A domain with no hook grants nothing but to admins. */
			int v = rd ? rd->fn(rd->ctx, c, ref[i], u) : 0;
			if (v < 0)
				rc = v;
			ok = v > 0;
		}
		sn_strlcpy(last_d, dom[n - 1], sizeof last_d);
		sn_strlcpy(last_r, ref[n - 1], sizeof last_r);
		if (n < REF_PAGE)
			break;
	}
	store_release(&c);
	return rc ? rc : ok;
}

/* The upload domain's hook: a committed session is its owner's. */
static int upload_may_read(void *ctx, store_conn *c, const char *ref, const auth_user *u)
{
	store_rows *rows = NULL;
	(void)ctx;
	int rc = store_query(c, "SELECT owner_id FROM blob_uploads WHERE id = $1 AND state = 'committed'",
			     &rows, SARGS(SA_TEXT(ref)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = strcmp(store_rows_text(rows, 0), u->id) == 0;
	store_rows_free(&rows);
	return rc;
}

/* ---- GET/HEAD /api/v1/blobs/{sha256} ---- */

/* A decimal of at most 19 digits (no sign, no space); -1 when not one. */
static int64_t parse_dec(const char *s, const char **end)
{
	int64_t v = 0;
	int n = 0;
	for (; *s >= '0' && *s <= '9' && n < 19; s++, n++)
		v = v * 10 + (*s - '0');
	*end = s;
	return n && !(*s >= '0' && *s <= '9') ? v : -1;
}

/* Range: bytes=a-b | a- | -n. 1: *off and *len set; 0: no usable single range
 * (malformed or several: the whole is sent, as RFC 9110 allows); -1: not
 * satisfiable (416). */
static int parse_range(const char *h, uint64_t size, uint64_t *off, uint64_t *len)
{
	const char *p, *e;
	if (!h || strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
		return 0;
	p = h + 6;
	if (*p == '-') {
		int64_t n = parse_dec(p + 1, &e);
		if (n < 0 || *e)
			return 0;
		if (n == 0 || size == 0)
			return -1;
		*len = (uint64_t)n < size ? (uint64_t)n : size;
		*off = size - *len;
		return 1;
	}
	int64_t a = parse_dec(p, &e), b;
	if (a < 0 || *e != '-')
		return 0;
	if (e[1] == '\0') {
		b = INT64_MAX;
	} else if ((b = parse_dec(e + 1, &e)) < 0 || *e || b < a) {
		return 0;
	}
	if ((uint64_t)a >= size)
		return -1;
	uint64_t last = (uint64_t)b < size - 1 ? (uint64_t)b : size - 1;
	*off = (uint64_t)a;
	*len = last - (uint64_t)a + 1;
	return 1;
}

/* If-None-Match: "*" or a list of (weak or strong) tags. */
static int etag_matches(const char *h, const char *etag)
{
	size_t el = strlen(etag);
	while (h && *h) {
		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		if (*h == '*')
			return 1;
		if (strncmp(h, "W/", 2) == 0)
			h += 2;
		size_t n = strcspn(h, ",");
		while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
			n--;
		if (n == el && strncmp(h, etag, n) == 0)
			return 1;
		h += strcspn(h, ",");
	}
	return 0;
}

static void h_blob(http_req *r, void *ctx)
{
	blob_api *api = ctx;
	const char *sha = http_req_param(r, "sha256"), *verify = http_req_query(r, "verify");
	const auth_user *u = auth_caller(r);
	char etag[70], range[80];
	uint64_t size, off = 0, len;
	int fd = -1;
	if (!blob_sha_valid(sha)) {
		http_reply_error(r, 400, "bad_request", "a blob is named by 64 lowercase hex digits");
		return;
	}
	int rc = may_read(api, sha, u);
	if (rc < 0) {
		reply_rc(r, rc, "cannot read the blob's references");
		return;
	}
	if (rc == 0 || (rc = blob_open(api->bs, sha, &fd, &size)) == -ENOENT) {
		/* Referenced but missing breaks blob.h's invariant 3: say so. */
		if (rc)
			log_error("blob %s is referenced but missing from the store", sha);
		http_reply_error(r, 404, "not_found", "no such blob");
		return;
	}
	if (rc) {
		reply_rc(r, rc, "cannot open the blob");
		return;
	}
	/* Checked before the first byte goes out, so that a damaged blob is a
	 * clean 500 rather than a cut stream. */
	if (verify && strcmp(verify, "0") != 0 && (rc = blob_verify_fd(fd, sha))) {
		close(fd);
		if (rc == -EBADMSG) {
			log_error("blob %s: its content no longer matches its SHA-256", sha);
			http_reply_error(r, 500, "blob_corrupt", "the stored content does not match its SHA-256");
		} else {
			reply_rc(r, rc, "cannot read the blob");
		}
		return;
	}
	snprintf(etag, sizeof etag, "\"%s\"", sha);
	http_reply_header(r, "ETag", etag);
	http_reply_header(r, "Accept-Ranges", "bytes");
	if (etag_matches(http_req_header(r, "If-None-Match"), etag)) {
		close(fd);
		http_reply_data(r, 304, NULL, NULL, 0);
		return;
	}
	len = size;
	int rg = parse_range(http_req_header(r, "Range"), size, &off, &len);
	if (rg < 0) {
		close(fd);
		snprintf(range, sizeof range, "bytes */%" PRIu64, size);
		http_reply_header(r, "Content-Range", range);
		http_reply_error(r, 416, "range_not_satisfiable", "the blob has %" PRIu64 " bytes", size);
		return;
	}
	if (rg > 0) {
		snprintf(range, sizeof range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
			 off + len - 1, size);
		http_reply_header(r, "Content-Range", range);
	}
	http_reply_fd(r, rg > 0 ? 206 : 200, "application/octet-stream", fd, off, len);
}

/* ---- uploads ---- */

static json_t *upload_json(const blob_upload *up)
{
	return json_pack("{s:s,s:s,s:o,s:o,s:I,s:s,s:o,s:o,s:o}", "id", up->id, "owner", up->owner,
			 "size", up->size < 0 ? json_null() : json_integer(up->size), "expect_sha256",
			 up->expect[0] ? json_string(up->expect) : json_null(), "received",
			 (json_int_t)up->received, "state", up->committed ? "committed" : "open",
			 "sha256", up->committed ? json_string(up->sha256) : json_null(), "created_at",
			 http_json_time(up->created_at), "expires_at",
			 up->committed ? json_null() : http_json_time(up->expires_at));
}

static void set_offset(http_req *r, int64_t received)
{
	char v[24];
	snprintf(v, sizeof v, "%" PRId64, received);
	http_reply_header(r, "Upload-Offset", v);
}

/* The session named by the path if the caller may touch it: 0, or
 * replies (404 for someone else's) and returns non-zero. */
static int session_of(http_req *r, blob_api *api, blob_upload *up)
{
	const char *id = http_req_param(r, "id");
	const auth_user *u = auth_caller(r);
	char target[64];
	int rc = blob_upload_get(api->bs, id, up);
	if (rc == 0 && strcmp(up->owner, u->id) != 0 && u->role < ROLE_ADMIN)
		rc = -ENOENT;
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such upload session");
	else if (rc)
		reply_rc(r, rc, "cannot read the upload session");
	else {
		snprintf(target, sizeof target, "upload:%s", up->id);
		http_req_set_target(r, target);
	}
	return rc;
}

/* {"size"?: N, "sha256"?: HEX} */
static void h_create(http_req *r, void *ctx)
{
	blob_api *api = ctx;
	const char *sha = NULL;
	int64_t size = -1;
	blob_upload up;
	char target[64];
	if (http_body_int(r, "size", 0, 0, BLOB_UPLOAD_MAX, &size) ||
	    http_body_str(r, "sha256", 0, 64, &sha))
		return;
	if (sha && !blob_sha_valid(sha)) {
		http_reply_error(r, 400, "bad_request", "field 'sha256' must be 64 lowercase hex digits");
		return;
	}
	int rc = blob_upload_create(api->bs, auth_caller(r)->id, size, sha, &up);
	if (rc == -EDQUOT) {
		http_reply_error(r, 429, "too_many_uploads",
				 "you have %d open upload sessions: commit or delete some first",
				 BLOB_UPLOADS_PER_USER);
		return;
	}
	if (rc) {
		reply_rc(r, rc, "cannot open an upload session");
		return;
	}
	snprintf(target, sizeof target, "upload:%s", up.id);
	http_req_set_target(r, target);
	set_offset(r, 0);
	http_reply_json(r, 201, upload_json(&up));
}

static void h_status(http_req *r, void *ctx)
{
	blob_upload up;
	if (session_of(r, ctx, &up))
		return;
	set_offset(r, up.received);
	http_reply_json(r, 200, upload_json(&up));
}

/* Content-Range: "bytes a-b/total", or a star for an unknown total. 0, or -EINVAL. */
static int parse_content_range(const char *h, int64_t *a, int64_t *b, int64_t *total)
{
	const char *e;
	if (!h || strncmp(h, "bytes ", 6) != 0)
		return -EINVAL;
	if ((*a = parse_dec(h + 6, &e)) < 0 || *e != '-' || (*b = parse_dec(e + 1, &e)) < 0 ||
	    *e != '/' || *b < *a)
		return -EINVAL;
	if (strcmp(e + 1, "*") == 0) {
		*total = -1;
		return 0;
	}
	if ((*total = parse_dec(e + 1, &e)) < 0 || *e || *b >= *total)
		return -EINVAL;
	return 0;
}

static void h_append(http_req *r, void *ctx)
{
	blob_api *api = ctx;
	blob_upload up;
	int64_t a, b, total;
	const char *path = http_req_body_path(r);
	struct stat st;
	if (session_of(r, api, &up))
		return;
	if (parse_content_range(http_req_header(r, "Content-Range"), &a, &b, &total)) {
		http_reply_error(r, 400, "bad_request",
				 "Content-Range must be 'bytes FIRST-LAST/TOTAL' or 'bytes FIRST-LAST/*'");
		return;
	}
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0 || fstat(fd, &st) || st.st_size != b - a + 1) {
		if (fd >= 0)
			close(fd);
		http_reply_error(r, 400, "bad_request", "the body must hold the %" PRId64
				 " bytes its Content-Range names", b - a + 1);
		return;
	}
	int rc = blob_upload_append(api->bs, up.id, a, total, fd, b - a + 1, &up);
	close(fd);
	if (rc == 0 || rc == -ERANGE)
		set_offset(r, up.received);
	if (rc == 0)
		http_reply_json(r, 200, upload_json(&up));
	else if (rc == -ERANGE)
		http_reply_error(r, 409, "wrong_offset", "the upload is at byte %" PRId64
				 ": send from there", up.received);
	else if (rc == -EALREADY)
		http_reply_error(r, 409, "committed", "the upload is committed");
	else if (rc == -EBUSY)
		http_reply_error(r, 409, "in_use", "another request is writing this upload");
	else if (rc == -EFBIG)
		http_reply_error(r, 413, "too_large", "the upload would exceed %" PRId64 " bytes",
				 up.size >= 0 ? up.size : BLOB_UPLOAD_MAX);
	else if (rc == -EINVAL)
		http_reply_error(r, 400, "bad_request", "the total in Content-Range is not the"
				 " session's size");
	else if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such upload session");
	else
		reply_rc(r, rc, "cannot store the chunk");
}

static void h_commit(http_req *r, void *ctx)
{
	blob_api *api = ctx;
	blob_upload up;
	if (session_of(r, api, &up))
		return;
	int rc = blob_upload_commit(api->bs, up.id, &up);
	if (rc == 0)
		http_reply_json(r, 200, json_pack("{s:s,s:I}", "sha256", up.sha256, "bytes",
						  (json_int_t)up.received));
	else if (rc == -ERANGE)
		http_reply_error(r, 409, "incomplete", "%" PRId64 " of %" PRId64 " bytes arrived",
				 up.received, up.size);
	else if (rc == -EBADMSG)
		http_reply_error(r, 422, "sha256_mismatch", "the content's SHA-256 is not %s; the upload"
				 " is discarded", up.expect);
	else if (rc == -EBUSY)
		http_reply_error(r, 409, "in_use", "another request is writing this upload");
	else if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such upload session");
	else
		reply_rc(r, rc, "cannot commit the upload");
}

static void h_delete(http_req *r, void *ctx)
{
	blob_api *api = ctx;
	blob_upload up;
	if (session_of(r, api, &up))
		return;
	int rc = blob_upload_delete(api->bs, up.id);
	if (rc == 0)
		http_reply_json(r, 200, json_pack("{s:s}", "deleted", up.id));
	else if (rc == -EBUSY)
		http_reply_error(r, 409, "in_use", "another request is writing this upload");
	else if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such upload session");
	else
		reply_rc(r, rc, "cannot delete the upload");
}

/* ---- setup ---- */

int blob_api_reader_add(blob_api *api, const char *domain, blob_may_read_fn fn, void *ctx)
{
	if (reader_of(api, domain))
		return -EEXIST;
	if (api->nreaders == BLOB_READERS_MAX)
		return -ENOSPC;
	struct reader *rd = &api->readers[api->nreaders];
	if (sn_strlcpy(rd->domain, domain, sizeof rd->domain))
		return -EINVAL;
	rd->fn = fn;
	rd->ctx = ctx;
	api->nreaders++;
	return 0;
}

int blob_api_new(blob_store *bs, blob_api **out)
{
	blob_api *api = xcalloc(1, sizeof *api);
	api->bs = bs;
	int rc = blob_api_reader_add(api, "upload", upload_may_read, NULL);
	if (rc) {
		free(api);
		return rc;
	}
	*out = api;
	return 0;
}

void blob_api_free(blob_api **api)
{
	xfree(api);
}

size_t blob_routes(blob_api *api, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/blobs/{sha256}", h_blob, 0, ROLE_MEMBER, NULL, 0, api },
		{ "POST", "/api/v1/uploads", h_create, 0, ROLE_MEMBER, "upload.create", 0, api },
		{ "GET", "/api/v1/uploads/{id}", h_status, 0, ROLE_MEMBER, NULL, 0, api },
		{ "PATCH", "/api/v1/uploads/{id}", h_append, HTTP_RAW_BODY | HTTP_SPOOL_BODY,
		  ROLE_MEMBER, "upload.append", BLOB_PATCH_MAX, api },
		{ "POST", "/api/v1/uploads/{id}/commit", h_commit, 0, ROLE_MEMBER, "upload.commit", 0,
		  api },
		{ "DELETE", "/api/v1/uploads/{id}", h_delete, 0, ROLE_MEMBER, "upload.delete", 0, api },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
