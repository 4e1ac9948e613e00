/* The runtimes API: GET /api/v1/runtimes[/{name}], GET /api/v1/runtimes/scan,
 * POST /api/v1/runtimes/register, POST /api/v1/runtimes/upload?name=N,
 * DELETE /api/v1/runtimes/{name}. Reads are for members; scan and every
 * change are admin-only. The registry (rt.c) serialises changes itself,
 * holding its lock only for short steps: handlers take no lock, so a slow
 * or hostile upload never stalls the others. Every error is the JSON
 * envelope, its status from http_errno_status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "auth/auth.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/http.h"
#include "runtime/rt.h"

static void reply_rc(http_req *r, int rc, const char *err)
{
	if (err[0])
		http_reply_errno(r, rc, "%s", err);
	else
		http_reply_errno(r, rc, NULL);
}

/* A 201 with the new runtime, or a 500 when it cannot be encoded. */
static void reply_info(http_req *r, int status, const rt_info *info)
{
	json_t *j = rt_info_json(info);
	if (j)
		http_reply_json(r, status, j);
	else
		http_reply_error(r, 500, "internal", "cannot encode the runtime");
}

/* The registry and the drop folder are small: one page holds them. */
static void reply_all(http_req *r, const char *data,
		      int (*fn)(const char *, json_t **, char *, size_t))
{
	json_t *arr;
	char err[256];
	int rc = fn(data, &arr, err, sizeof err);
	if (rc)
		reply_rc(r, rc, err);
	else
		http_reply_list(r, arr, NULL);
}

static void h_list(http_req *r, void *ctx)
{
	reply_all(r, ctx, rt_list);
}

static void h_get(http_req *r, void *ctx)
{
	rt_info info;
	char err[256];
	int rc = rt_lookup(ctx, http_req_param(r, "name"), &info, err, sizeof err);
	if (rc) {
		reply_rc(r, rc, err);
		return;
	}
	reply_info(r, 200, &info);
	rt_info_release(&info);
}

static void h_scan(http_req *r, void *ctx)
{
	reply_all(r, ctx, rt_scan);
}

/* {"name": N, "file": "x.tar"} (a file in the drop folder) or
 * {"name": N, "venv": "/abs/dir"}. */
static void h_register(http_req *r, void *ctx)
{
	const char *name = NULL, *file = NULL, *venv = NULL;
	char err[512] = "";
	rt_info info = { 0 };
	if (http_body_str(r, "name", 1, RT_NAME_MAX, &name) ||
	    http_body_str(r, "file", 0, 255, &file) || http_body_str(r, "venv", 0, 4096, &venv))
		return;
	if (!file == !venv) {
		http_reply_error(r, 400, "bad_request", "give exactly one of 'file' and 'venv'");
		return;
	}
	if (file && (strchr(file, '/') || file[0] == '.' || !file[0])) {
		http_reply_error(r, 400, "bad_request", "'file' must name a file in the drop folder");
		return;
	}
	http_req_set_target(r, name);
	char *inc = rt_incoming_dir(ctx), *path = file ? xasprintf("%s/%s", inc, file) : NULL;
	int rc = venv ? rt_register_venv(ctx, name, venv, &info, err, sizeof err)
		      : rt_ingest(ctx, path, name, NULL, RT_DEFAULT_MAX_BYTES, &info, err, sizeof err);
	if (rc)
		reply_rc(r, rc, err);
	else
		reply_info(r, 201, &info);
	rt_info_release(&info);
	free(path);
	free(inc);
}

/* The body is the tarball; ?name=N. The record's source is "upload": the
 * spool file it was read from is gone after the request. */
static void h_upload(http_req *r, void *ctx)
{
	const char *name = http_req_query(r, "name");
	const char *path = http_req_body_path(r);
	char err[512] = "";
	rt_info info = { 0 };
	struct stat st;
	if (!name || !rt_name_valid(name)) {
		http_reply_error(r, 400, "bad_request", "query parameter 'name' missing or invalid");
		return;
	}
	if (!path || stat(path, &st) || st.st_size == 0) {
		http_reply_error(r, 400, "bad_request", "empty body: send the tarball");
		return;
	}
	http_req_set_target(r, name);
	/* The body was streamed to a spool file (never held in memory); the
	 * http layer removes it after the request. */
	int rc = rt_ingest(ctx, path, name, "upload", RT_DEFAULT_MAX_BYTES, &info, err, sizeof err);
	if (rc)
		reply_rc(r, rc, err);
	else
		reply_info(r, 201, &info);
	rt_info_release(&info);
}

static void h_delete(http_req *r, void *ctx)
{
	char err[256];
	const char *name = http_req_param(r, "name");
	http_req_set_target(r, name);
	int rc = rt_remove(ctx, name, err, sizeof err);
	json_t *j = rc ? NULL : json_pack("{s:s}", "deleted", name);
	if (rc == -EPERM)
		http_reply_error(r, 403, "forbidden", "%s", err);
	else if (rc)
		reply_rc(r, rc, err);
	else if (j)
		http_reply_json(r, 200, j);
	else
		http_reply_error(r, 500, "internal", "cannot encode the reply");
}

size_t rt_routes(const char *data, http_route *out, size_t max)
{
	void *d = (void *)data;
	/* The drop folder exists from the start, for users to copy images
	 * into; what a crash left half-done goes. */
	char err[512];
	if (rt_init(data, err, sizeof err))
		log_warn("runtimes: %s", err);
	const http_route routes[] = {
		{ "GET", "/api/v1/runtimes", h_list, 0, ROLE_MEMBER, NULL, 0, d },
		{ "GET", "/api/v1/runtimes/scan", h_scan, 0, ROLE_ADMIN, NULL, 0, d },
		{ "POST", "/api/v1/runtimes/register", h_register, 0, ROLE_ADMIN, "runtime.register", 0,
		  d },
		{ "POST", "/api/v1/runtimes/upload", h_upload, HTTP_RAW_BODY | HTTP_SPOOL_BODY, ROLE_ADMIN,
		  "runtime.upload", RT_UPLOAD_MAX, d },
		{ "GET", "/api/v1/runtimes/{name}", h_get, 0, ROLE_MEMBER, NULL, 0, d },
		{ "DELETE", "/api/v1/runtimes/{name}", h_delete, 0, ROLE_ADMIN, "runtime.delete", 0, d },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
