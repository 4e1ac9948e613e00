/* POST /api/v1/models/{name}/versions: a tar of a model directory
 * (application/x-tar) or a multipart/form-data body with the parts
 * model.onnx and config.json (by field name or by file name). The body is
 * streamed (HTTP_STREAM_BODY: it counts against the upload quotas and the
 * free disk reserve like any upload) through the dataset module's tar and
 * multipart readers straight into blob writers; other members and parts
 * are skipped. Then both files are loaded by ml_model_load_files: a model
 * the loader refuses is 422 with its message and no version is recorded
 * (its blobs, referenced by nothing, go at the next gc). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "dataset/ds_tar.h"
#include "model/model_int.h"

enum { F_ONNX, F_CONFIG, F_N };

struct push {
	model_api *a;
	int started;
	ds_mp *mp;
	ds_tar *tar;
	int cur;               /* the file being received (F_*), or -1: skipped */
	blob_writer *w;
	uint64_t got;          /* bytes of the current file */
	int have[F_N];
	char sha[F_N][65];
	uint64_t bytes[F_N];
	sn_refusal ref;
};

/* Records p's refusal (the first one wins) and returns -EINVAL. */
#define fail(p, ...) sn_refuse(&(p)->ref, -EINVAL, __VA_ARGS__)

static void push_free(void *v)
{
	struct push *p = v;
	if (p->w)
		blob_abort(&p->w);
	ds_mp_free(&p->mp);
	ds_tar_free(&p->tar);
	free(p);
}

/* Which file a member or part is: by its last path component. */
static int file_of(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	if (!base)
		return -1;
	if (strcmp(base, ML_MODEL_FILE) == 0)
		return F_ONNX;
	if (strcmp(base, ML_CONFIG_FILE) == 0)
		return F_CONFIG;
	return -1;
}

static int file_begin(struct push *p, int f, const char *path)
{
	p->cur = f;
	p->got = 0;
	if (f < 0)
		return 0;
	if (p->have[f])
		return fail(p, 400, "bad_request", "%s appears twice in the body", path);
	int rc = blob_writer_new(p->a->bs, &p->w);
	return rc ? fail(p, 500, "internal", "cannot store the file: %s", strerror(-rc)) : 0;
}

static int file_data(void *ud, const char *d, size_t n)
{
	struct push *p = ud;
	if (p->cur < 0)
		return 0;
	p->got += n;
	if (p->cur == F_CONFIG && p->got > MD_CONFIG_MAX)
		return fail(p, 413, "too_large", "config.json is larger than %zu MiB",
			    MD_CONFIG_MAX >> 20);
	return blob_write(p->w, d, n);
}

static int file_end(void *ud)
{
	struct push *p = ud;
	int f = p->cur, rc;
	p->cur = -1;
	if (f < 0)
		return 0;
	if ((rc = blob_commit(&p->w, p->sha[f], &p->bytes[f], NULL)))
		return rc;
	p->have[f] = 1;
	return 0;
}

static int tar_begin(void *ud, const char *path, uint64_t size)
{
	(void)size;
	return file_begin(ud, file_of(path), path);
}

static int mp_begin(void *ud, const char *name, const char *filename, const char *ctype)
{
	int f = file_of(name);
	(void)ctype;
	if (f < 0 && strcmp(name, "file") == 0)
		f = file_of(filename);
	return file_begin(ud, f, name);
}

static const ds_tar_cb tar_cb = { tar_begin, file_data, file_end };
static const ds_mp_cb mp_cb = { mp_begin, file_data, file_end };

/* A look before the body: a push the caller may not make is refused
 * without reading it (the transaction checks again). */
static int precheck(struct push *p, http_req *r)
{
	store_conn *c = NULL;
	md_item it;
	int rc = store_acquire(p->a->st, &c);
	if (rc == 0)
		rc = md_item_get(c, http_req_param(r, "name"), auth_caller(r), &it);
	store_release(&c);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return fail(p, 503, "store_busy", "cannot read the model");
	if (it.access < SHARE_WRITE)
		return fail(p, 403, "forbidden", "you may read this model but not push to it");
	return 0;
}

static int push_start(struct push *p, http_req *r)
{
	const char *ct = http_req_header(r, "Content-Type");
	int rc;
	p->started = 1;
	if (!md_name_valid(http_req_param(r, "name")))
		return fail(p, 400, "bad_request", "a name is 1 to %d of [A-Za-z0-9._-], not"
			    " starting with a dot", MD_NAME_MAX);
	if ((rc = precheck(p, r)))
		return rc;
	if (ct && strncasecmp(ct, "application/x-tar", 17) == 0) {
		p->tar = ds_tar_new(&tar_cb, p);
		return 0;
	}
	if (ct && strncasecmp(ct, "multipart/", 10) == 0) {
		if (ds_mp_new(ct, &mp_cb, p, &p->mp))
			return fail(p, 400, "bad_request", "a multipart/form-data body needs a boundary");
		return 0;
	}
	return fail(p, 415, "unsupported_media_type", "send application/x-tar (a model directory)"
		    " or multipart/form-data with model.onnx and config.json");
}

static struct push *state_of(model_api *a, http_req *r)
{
	struct push *p = http_req_state(r);
	if (!p) {
		p = xcalloc(1, sizeof *p);
		p->a = a;
		p->cur = -1;
		http_req_set_state(r, p, push_free);
	}
	return p;
}

static int tar_refused(struct push *p, int rc)
{
	const char *why = ds_tar_error(p->tar);
	if (p->ref.status || !why)
		return rc;
	return fail(p, 422, rc == -EPERM ? "refused_member" : "bad_archive", "%s", why);
}

static int on_chunk(http_req *r, const char *d, size_t n, void *ctx)
{
	struct push *p = state_of(ctx, r);
	int rc;
	if (!p->started && (rc = push_start(p, r)))
		return rc;
	if (p->tar)
		return (rc = ds_tar_feed(p->tar, d, n)) ? tar_refused(p, rc) : 0;
	return ds_mp_feed(p->mp, d, n);
}

static int push_finish(struct push *p, http_req *r)
{
	int rc;
	if (!p->started && (rc = push_start(p, r)))
		return rc;
	if (p->tar && (rc = ds_tar_finish(p->tar)))
		return tar_refused(p, rc);
	if (p->mp && (rc = ds_mp_finish(p->mp)))
		return p->ref.status ? rc : fail(p, 422, "bad_multipart", "the multipart body is cut short"
					     " or malformed");
	if (!p->have[F_ONNX] || !p->have[F_CONFIG])
		return fail(p, 400, "bad_request", "the body must hold both %s and %s",
			    ML_MODEL_FILE, ML_CONFIG_FILE);
	return 0;
}

/* POST /api/v1/models/{name}/versions */
static void h_push(http_req *r, void *ctx)
{
	model_api *a = ctx;
	struct push *p = state_of(a, r);
	const char *name = http_req_param(r, "name");
	ml_model *m = NULL;
	md_version v = { 0 };
	char err[512], t[MD_NAME_MAX + 16];
	int dedup = 0, rc = http_req_stream_error(r);
	snprintf(t, sizeof t, "model:%s", name);
	http_req_set_target(r, t);
	if (rc == 0)
		rc = push_finish(p, r);
	if (p->ref.status) {
		http_reply_error(r, p->ref.status, p->ref.code, "%s", p->ref.msg);
		return;
	}
	if (rc) {
		http_reply_errno(r, rc, rc == -EFBIG ? "the push exceeds the size limit" : NULL);
		return;
	}
	if ((rc = md_load_blobs(a->bs, p->sha[F_ONNX], p->sha[F_CONFIG], &m, err, sizeof err))) {
		http_reply_error(r, 422, "bad_model", "%s", err);
		return;
	}
	md_newver nv = { p->sha[F_ONNX], p->sha[F_CONFIG], p->bytes[F_ONNX], p->bytes[F_CONFIG], m,
			 NULL };
	rc = md_version_add(a, name, auth_caller(r), &nv, &v, &dedup);
	ml_model_free(&m);
	if (rc) {
		md_reply_rc(r, rc, rc == -EACCES ? "you may read this model but not push to it"
				   : rc == -ENOENT ? "no such model" : "cannot record the version");
		return;
	}
	json_t *j = md_version_json(name, &v);
	md_version_release(&v);
	if (!j || json_object_set_new(j, "deduplicated", json_boolean(dedup))) {
		json_decref(j);
		http_reply_errno(r, -ENOMEM, NULL);
		return;
	}
	http_reply_json(r, dedup ? 200 : 201, j);
}

size_t md_push_routes(model_api *a, http_route *out, size_t max)
{
	a->push_stream = (http_stream){ on_chunk, a };
	const http_route routes[] = {
		{ "POST", "/api/v1/models/{name}/versions", h_push, HTTP_RAW_BODY | HTTP_STREAM_BODY,
		  ROLE_MEMBER, "model.push", MD_PUSH_MAX, &a->push_stream },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
