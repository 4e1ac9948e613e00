/* The dataset routes that read a version's content: download, preview
 * and diff. Each resolves item and version with the read rule first, so a
 * private dataset is a 404 here as everywhere. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "base/csv.h"
#include "base/mem.h"
#include "base/util.h"
#include "dataset/diff.h"
#include "dataset/ds_int.h"
#include "dataset/ds_tar.h"

#define MANIFEST_MAX ((size_t)64 << 20) /* DS_SET_FILES_MAX entries fit well below */
#define PREVIEW_MAX 1000
#define READ_CHUNK 65536

/* Item and version of the path (and a query parameter naming another
 * version): 0, or replies and returns nonzero. */
int ds_resolve(ds_rctx *x, http_req *r, const char *vstr, ds_item *it, ds_version *v)
{
	store_conn *c = NULL;
	int64_t num;
	int rc = store_acquire(x->api->st, &c);
	if (rc == 0)
		rc = ds_item_get(c, x->k, http_req_param(r, "name"), auth_caller(r), it);
	if (rc == 0)
		rc = sn_parse_number(vstr, &num) ? -ENOENT : ds_version_get(c, it->id, num, v);
	store_release(&c);
	if (rc)
		ds_reply_rc(r, rc, rc == -ENOENT ? "no such item or version" : "cannot read the version");
	return rc;
}

/* Reads a whole blob of at most max bytes into a new buffer. */
int ds_blob_read_all(blob_store *bs, const char *sha, size_t max, char **out, size_t *len)
{
	int fd = -1;
	uint64_t size;
	int rc = blob_open(bs, sha, &fd, &size);
	if (rc)
		return rc;
	if (size > max) {
		close(fd);
		return -EFBIG;
	}
	char *b = xmalloc((size_t)size + 1);
	size_t got = 0;
	while (got < size) {
		ssize_t n = pread(fd, b + got, (size_t)size - got, (off_t)got);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(b);
		return rc;
	}
	b[got] = '\0';
	*out = b;
	*len = got;
	return 0;
}

/* The files of a version as a manifest (a single file: one entry). */
static int version_files(blob_store *bs, const ds_version *v, ds_manifest *m)
{
	char *text = NULL;
	size_t len = 0;
	if (strcmp(v->kind, "file") == 0) {
		memset(m, 0, sizeof *m);
		return ds_manifest_add(m, v->filename ? v->filename : "data", v->sha256,
				       (uint64_t)v->bytes, 0644);
	}
	int rc = ds_blob_read_all(bs, v->sha256, MANIFEST_MAX, &text, &len);
	if (rc == 0)
		rc = ds_manifest_parse(text, len, m);
	free(text);
	return rc;
}

/* The file path of v (NULL: the single file): its sha and path. */
static int version_file(blob_store *bs, const ds_version *v, const char *path, char sha[65],
			char fpath[DS_PATH_MAX])
{
	ds_manifest m = { 0 };
	char norm[DS_PATH_MAX];
	if (!path && strcmp(v->kind, "file") != 0)
		return -EISDIR;
	int rc = version_files(bs, v, &m);
	if (rc == 0 && path && ds_path_normalize(path, strlen(path), norm))
		rc = -ENOENT;
	const ds_mfile *f = rc ? NULL : path ? ds_manifest_find(&m, norm) : &m.files[0];
	if (rc == 0 && !f)
		rc = -ENOENT;
	if (rc == 0) {
		sn_strlcpy(sha, f->sha256, 65);
		sn_strlcpy(fpath, f->path, DS_PATH_MAX);
	}
	ds_manifest_release(&m);
	return rc;
}

/* The profile of path in v, or NULL (not a table). */
static json_t *profile_of(const ds_version *v, const char *path)
{
	json_t *all = v->profiles ? json_loads(v->profiles, 0, NULL) : NULL;
	json_t *p = json_incref(json_object_get(all, path));
	json_decref(all);
	return p;
}

static int ends_with_tsv(const char *s)
{
	size_t n = strlen(s);
	return n >= 4 && strcasecmp(s + n - 4, ".tsv") == 0;
}

static void reply_file_rc(http_req *r, int rc)
{
	if (rc == -ENOENT)
		http_reply_error(r, 404, "not_found", "no such file in this version");
	else
		ds_reply_rc(r, rc, "cannot read the version's files");
}

/* ---- a version as a tar, streamed ---- */

/* One member at a time: its header, its blob read as it goes out, its
 * padding; then the end-of-archive blocks. Only one blob is open and one
 * header held at any time. */
struct tar_dl {
	blob_store *bs;
	ds_manifest m;
	size_t i;          /* the next file to start */
	int fd;            /* the file being sent, or -1 */
	uint64_t left, off;
	char pend[DS_TAR_HDR_MAX + 1024]; /* header, padding or the end blocks */
	size_t plen, poff;
	int ended;
};

static void tar_dl_free(void *v)
{
	struct tar_dl *t = v;
	if (t->fd >= 0)
		close(t->fd);
	ds_manifest_release(&t->m);
	free(t);
}

/* Queues what comes next when nothing is pending: 0, 1 at the end. */
static int tar_dl_next(struct tar_dl *t)
{
	t->plen = t->poff = 0;
	if (t->fd >= 0) {
		const ds_mfile *f = &t->m.files[t->i - 1];
		close(t->fd);
		t->fd = -1;
		t->plen = ds_tar_pad(f->size);
		memset(t->pend, 0, t->plen);
		return 0;
	}
	if (t->i < t->m.n) {
		const ds_mfile *f = &t->m.files[t->i++];
		uint64_t size;
		if (blob_open(t->bs, f->sha256, &t->fd, &size))
			return -EIO;
		/* The header promised f->size bytes: anything else would corrupt the stream. */
		if (size != f->size)
			return -EIO;
		t->left = size;
		t->off = 0;
		return ds_tar_header(f->path, f->size, f->mode ? f->mode : 0644, t->pend, &t->plen);
	}
	if (t->ended)
		return 1;
	t->ended = 1;
	t->plen = 1024;
	memset(t->pend, 0, t->plen);
	return 0;
}

static long tar_dl_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct tar_dl *t = cls;
	(void)pos;
	for (;;) {
		if (t->poff < t->plen) {
			size_t k = t->plen - t->poff < max ? t->plen - t->poff : max;
			memcpy(out, t->pend + t->poff, k);
			t->poff += k;
			return (long)k;
		}
		if (t->fd >= 0 && t->left) {
			size_t want = t->left < max ? (size_t)t->left : max;
			ssize_t n = pread(t->fd, out, want, (off_t)t->off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -EIO;
			t->left -= (uint64_t)n;
			t->off += (uint64_t)n;
			return (long)n;
		}
		int rc = tar_dl_next(t);
		if (rc)
			return rc > 0 ? 0 : rc;
	}
}

/* The tar's exact length, for Content-Length. */
static int tar_length(const ds_manifest *m, uint64_t *len)
{
	char hdr[DS_TAR_HDR_MAX];
	size_t hl;
	*len = 1024;
	for (size_t i = 0; i < m->n; i++) {
		int rc = ds_tar_header(m->files[i].path, m->files[i].size, 0644, hdr, &hl);
		if (rc)
			return rc;
		*len += hl + m->files[i].size + ds_tar_pad(m->files[i].size);
	}
	return 0;
}

static void reply_tar(ds_rctx *x, http_req *r, const char *name, const ds_version *v)
{
	struct tar_dl *t = xcalloc(1, sizeof *t);
	uint64_t len = 0;
	char disp[DS_NAME_MAX + 64];
	t->bs = x->api->bs;
	t->fd = -1;
	int rc = version_files(x->api->bs, v, &t->m);
	if (rc == 0)
		rc = tar_length(&t->m, &len);
	if (rc) {
		tar_dl_free(t);
		reply_file_rc(r, rc);
		return;
	}
	snprintf(disp, sizeof disp, "attachment; filename=\"%s-v%lld.tar\"", name,
		 (long long)v->number);
	http_reply_header(r, "Content-Disposition", disp);
	http_reply_callback(r, 200, "application/x-tar", len, tar_dl_read, t, tar_dl_free);
}

/* GET …/versions/{v}/content[?path=][?format=tar] */
static void h_content(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	ds_item it;
	ds_version v = { 0 };
	char sha[65], fpath[DS_PATH_MAX];
	const char *path = http_req_query(r, "path"), *ct = "application/octet-stream";
	int fd = -1;
	uint64_t size;
	const char *format = http_req_query(r, "format");
	if (format && strcmp(format, "tar") != 0 && strcmp(format, "json") != 0) {
		http_reply_error(r, 400, "bad_request", "format is json (the default) or tar");
		return;
	}
	if (ds_resolve(x, r, http_req_param(r, "v"), &it, &v))
		return;
	if (format && strcmp(format, "tar") == 0 && !path && x->k == &ds_kind_dataset) {
		reply_tar(x, r, it.name, &v);
		ds_version_release(&v);
		return;
	}
	int rc = version_file(x->api->bs, &v, path, sha, fpath);
	if (rc == -EISDIR) {
		rc = 0;
		sn_strlcpy(sha, v.sha256, sizeof sha);
		ct = "application/json";
	} else if (rc == 0) {
		json_t *prof = profile_of(&v, fpath);
		if (x->k == &ds_kind_script)
			ct = "text/plain; charset=utf-8";
		else if (prof)
			ct = ends_with_tsv(fpath) ? "text/tab-separated-values" : "text/csv";
		json_decref(prof);
	}
	if (rc == 0)
		rc = blob_open(x->api->bs, sha, &fd, &size);
	ds_version_release(&v);
	if (rc) {
		reply_file_rc(r, rc);
		return;
	}
	http_reply_fd(r, 200, ct, fd, 0, size);
}

/* ---- preview ---- */

struct preview {
	json_t *rows, *types; /* types: the profile's columns */
	size_t limit;
	int truncated;
};

static int is_null(const csv_field *f)
{
	static const char *const marks[] = { "", "NA", "N/A", "null", "NULL", "NaN" };
	if (f->quoted)
		return 0;
	for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
		if (strcmp(f->p, marks[i]) == 0)
			return 1;
	return 0;
}

/* A value as its column's type makes it; a value the type does not take
 * (the profile is of the whole file) stays a string. */
static json_t *typed(const csv_field *f, const char *type)
{
	char *end = NULL;
	if (is_null(f))
		return json_null();
	if (strcmp(type, "int") == 0) {
		errno = 0;
		long long v = strtoll(f->p, &end, 10);
		if (!errno && end != f->p && !*end)
			return json_integer(v);
	} else if (strcmp(type, "float") == 0) {
		double d = strtod(f->p, &end);
		if (end != f->p && !*end)
			return json_real(d);
	} else if (strcmp(type, "bool") == 0) {
		if (strcasecmp(f->p, "true") == 0)
			return json_true();
		if (strcasecmp(f->p, "false") == 0)
			return json_false();
	}
	return json_stringn(f->p, f->n);
}

static int preview_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct preview *pv = ud;
	(void)line;
	if (row == 0)
		return 0;
	if (row > pv->limit) {
		pv->truncated = 1;
		return 1;
	}
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	for (size_t i = 0; i < nf; i++) {
		const char *t = json_string_value(
			json_object_get(json_array_get(pv->types, i), "type"));
		if (json_array_append_new(a, typed(&f[i], t ? t : "string"))) {
			json_decref(a);
			return -ENOMEM;
		}
	}
	return json_array_append_new(pv->rows, a) ? -ENOMEM : 0;
}

/* Reads fd through the CSV reader until pv has its rows. */
static int preview_read(int fd, char delim, struct preview *pv)
{
	char *buf = xmalloc(READ_CHUNK);
	csv_reader *cr = csv_new(delim, preview_record, pv);
	off_t off = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, READ_CHUNK, off);
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0) {
			rc = csv_finish(cr);
			break;
		}
		off += n;
		if ((rc = csv_feed(cr, buf, (size_t)n)))
			break;
	}
	csv_free(&cr);
	free(buf);
	return rc == 1 ? 0 : rc;
}

/* GET …/versions/{v}/preview[?limit=100][&path=] */
static void h_preview(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	ds_item it;
	ds_version v = { 0 };
	char sha[65], fpath[DS_PATH_MAX];
	const char *ls = http_req_query(r, "limit");
	int64_t limit = 100;
	int fd = -1;
	uint64_t size;
	json_t *prof = NULL;
	struct preview pv = { 0 };
	if (ls && (sn_parse_number(ls, &limit) || limit > PREVIEW_MAX)) {
		http_reply_error(r, 400, "bad_request", "limit must be from 1 to %d", PREVIEW_MAX);
		return;
	}
	if (ds_resolve(x, r, http_req_param(r, "v"), &it, &v))
		return;
	int rc = version_file(x->api->bs, &v, http_req_query(r, "path"), sha, fpath);
	if (rc == 0)
		prof = profile_of(&v, fpath);
	ds_version_release(&v);
	if (rc == -EISDIR) {
		http_reply_error(r, 400, "bad_request", "a file set's preview needs ?path=");
		return;
	}
	if (rc) {
		reply_file_rc(r, rc);
		return;
	}
	if (!prof) {
		http_reply_error(r, 422, "not_a_table", "%s is not a table", fpath);
		return;
	}
	const char *d = json_string_value(json_object_get(prof, "delimiter"));
	pv.types = json_object_get(prof, "columns");
	pv.rows = json_array();
	pv.limit = (size_t)limit;
	if ((rc = blob_open(x->api->bs, sha, &fd, &size)) == 0) {
		rc = pv.rows ? preview_read(fd, d && *d ? d[0] : 0, &pv) : -ENOMEM;
		close(fd);
	}
	json_t *cols = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(pv.types, i, c) {
		json_t *e = json_pack("{s:O,s:O}", "name", json_object_get(c, "name"), "type",
				      json_object_get(c, "type"));
		if (!e || !cols || json_array_append_new(cols, e))
			rc = rc ? rc : -ENOMEM;
	}
	json_t *j = rc ? NULL : json_pack("{s:s,s:O,s:O,s:b}", "path", fpath, "columns", cols,
					  "rows", pv.rows, "truncated", pv.truncated);
	json_decref(cols);
	json_decref(pv.rows);
	json_decref(prof);
	if (rc || !j)
		ds_reply_rc(r, rc ? rc : -ENOMEM, "cannot read the table");
	else
		http_reply_json(r, 200, j);
}

/* ---- diff ---- */

/* The column types of a profile, pointing into it. */
static ds_coltype *coltypes(json_t *prof, size_t *n)
{
	json_t *cols = json_object_get(prof, "columns"), *c;
	size_t i;
	*n = json_array_size(cols);
	ds_coltype *t = xcalloc(*n + 1, sizeof *t);
	json_array_foreach(cols, i, c) {
		t[i].name = json_string_value(json_object_get(c, "name"));
		t[i].type = json_string_value(json_object_get(c, "type"));
		if (!t[i].name || !t[i].type)
			t[i].name = t[i].type = "";
	}
	return t;
}

/* Splits ?key=a,b into keys (at most DS_DIFF_KEY_MAX); -EINVAL beyond. */
static int split_key(char *s, const char **keys, size_t *n)
{
	*n = 0;
	for (char *save = NULL, *k = strtok_r(s, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		if (*n == DS_DIFF_KEY_MAX)
			return -EINVAL;
		keys[(*n)++] = k;
	}
	return 0;
}

/* The table (or binary) diff of one file of each version. */
static int diff_file(ds_rctx *x, http_req *r, ds_version *a, ds_version *b, const char *path,
		     json_t **out, char *err, size_t errlen)
{
	char sa[65], sb[65], pa[DS_PATH_MAX], pb[DS_PATH_MAX], *keybuf = NULL;
	const char *keys[DS_DIFF_KEY_MAX], *ls = http_req_query(r, "limit");
	const char *key = http_req_query(r, "key");
	json_t *fa = NULL, *fb = NULL, *d = NULL;
	ds_coltype *ta = NULL, *tb = NULL;
	int fda = -1, fdb = -1;
	uint64_t size;
	int64_t limit = 50;
	ds_diff_opts o = { 0 };
	int rc = version_file(x->api->bs, a, path, sa, pa);
	if (rc == 0)
		rc = version_file(x->api->bs, b, path, sb, pb);
	if (rc)
		return rc;
	if (ls && (sn_parse_number(ls, &limit) || limit > DS_DIFF_LIMIT_MAX)) {
		snprintf(err, errlen, "limit must be from 1 to %d", DS_DIFF_LIMIT_MAX);
		return -EINVAL;
	}
	fa = profile_of(a, pa);
	fb = profile_of(b, pb);
	if (!fa || !fb) {
		*out = json_pack("{s:s,s:s,s:b}", "kind", "binary", "path", pb, "identical",
				 strcmp(sa, sb) == 0);
		rc = *out ? 0 : -ENOMEM;
		goto out;
	}
	keybuf = key ? xstrdup(key) : NULL;
	if (keybuf && split_key(keybuf, keys, &o.nkey)) {
		snprintf(err, errlen, "a key has at most %d columns", DS_DIFF_KEY_MAX);
		rc = -EINVAL;
		goto out;
	}
	o.key = keys;
	o.limit = (size_t)limit;
	o.sha_a = sa;
	o.sha_b = sb;
	o.types_a = ta = coltypes(fa, &o.ntypes_a);
	o.types_b = tb = coltypes(fb, &o.ntypes_b);
	if ((rc = blob_open(x->api->bs, sa, &fda, &size)) || (rc = blob_open(x->api->bs, sb, &fdb, &size)))
		goto out;
	if ((rc = ds_diff_fds(fda, fdb, pa, pb, &o, &d, err, errlen)))
		goto out;
	*out = json_pack("{s:s,s:s,s:o}", "kind", "table", "path", pb, "diff", d);
	rc = *out ? 0 : -ENOMEM;
out:
	if (fda >= 0)
		close(fda);
	if (fdb >= 0)
		close(fdb);
	free(keybuf);
	free(ta);
	free(tb);
	json_decref(fa);
	json_decref(fb);
	return rc;
}

static int add_path(json_t *list, const char *p)
{
	return json_array_append_new(list, json_string(p)) ? -ENOMEM : 0;
}

/* Files added, removed and changed between two sets, by hash. */
static int diff_sets(blob_store *bs, ds_version *a, ds_version *b, json_t **out)
{
	ds_manifest ma = { 0 }, mb = { 0 };
	json_t *add = json_array(), *del = json_array(), *chg = json_array();
	int64_t same = 0;
	int rc = add && del && chg ? 0 : -ENOMEM;
	if (rc == 0 && (rc = version_files(bs, a, &ma)) == 0)
		rc = version_files(bs, b, &mb);
	for (size_t i = 0; rc == 0 && i < ma.n; i++) {
		const ds_mfile *f = ds_manifest_find(&mb, ma.files[i].path);
		if (!f)
			rc = add_path(del, ma.files[i].path);
		else if (strcmp(f->sha256, ma.files[i].sha256) != 0)
			rc = add_path(chg, f->path);
		else
			same++;
	}
	for (size_t i = 0; rc == 0 && i < mb.n; i++)
		if (!ds_manifest_find(&ma, mb.files[i].path))
			rc = add_path(add, mb.files[i].path);
	if (rc == 0) {
		*out = json_pack("{s:s,s:O,s:O,s:O,s:I}", "kind", "fileset", "added", add, "removed",
				 del, "changed", chg, "unchanged", (json_int_t)same);
		rc = *out ? 0 : -ENOMEM;
	}
	json_decref(add);
	json_decref(del);
	json_decref(chg);
	ds_manifest_release(&ma);
	ds_manifest_release(&mb);
	return rc;
}

/* GET /api/v1/datasets/{name}/diff?from=&to=[&key=][&limit=][&path=] */
static void h_diff(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	ds_item it;
	ds_version a = { 0 }, b = { 0 };
	const char *from = http_req_query(r, "from"), *to = http_req_query(r, "to");
	const char *path = http_req_query(r, "path");
	int64_t fa, fb;
	json_t *j = NULL;
	char err[512] = "";
	int rc;
	if (sn_parse_number(from, &fa) || sn_parse_number(to, &fb)) {
		http_reply_error(r, 400, "bad_request", "from and to must be version numbers");
		return;
	}
	if (ds_resolve(x, r, from, &it, &a))
		return;
	if (ds_resolve(x, r, to, &it, &b)) {
		ds_version_release(&a);
		return;
	}
	if (path || (strcmp(a.kind, "file") == 0 && strcmp(b.kind, "file") == 0))
		rc = diff_file(x, r, &a, &b, path, &j, err, sizeof err);
	else
		rc = diff_sets(x->api->bs, &a, &b, &j);
	ds_version_release(&a);
	ds_version_release(&b);
	if (rc == 0 && (json_object_set_new(j, "from", json_integer(fa)) ||
			json_object_set_new(j, "to", json_integer(fb))))
		rc = -ENOMEM;
	if (rc == 0)
		http_reply_json(r, 200, j);
	else if (rc == -EINVAL || rc == -EBADMSG)
		http_reply_error(r, 400, "bad_request", "%s", *err ? err : "cannot diff these versions");
	else {
		json_decref(j);
		reply_file_rc(r, rc);
	}
}

size_t ds_read_routes(ds_api *api, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/datasets/{name}/versions/{v}/content", h_content, 0, ROLE_MEMBER,
		  NULL, 0, &api->datasets },
		{ "GET", "/api/v1/scripts/{name}/versions/{v}/content", h_content, 0, ROLE_MEMBER,
		  NULL, 0, &api->scripts },
		{ "GET", "/api/v1/datasets/{name}/versions/{v}/preview", h_preview, 0, ROLE_MEMBER,
		  NULL, 0, &api->datasets },
		{ "GET", "/api/v1/datasets/{name}/diff", h_diff, 0, ROLE_MEMBER, NULL, 0,
		  &api->datasets },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
