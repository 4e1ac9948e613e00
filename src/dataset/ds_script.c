/* Scripts: small texts (Python or shell) versioned like datasets, with the
 * same records, access rules and blob store (ds.c serves the item routes),
 * and a line diff of their own (LCS on the lines that differ, bounded). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "dataset/ds_int.h"

#define CONTEXT 3
#define DIFF_OUT_MAX ((size_t)16 << 20) /* two 1 MiB texts never need more */

struct line {
	const char *p;
	size_t n; /* without the line end */
};

static struct line *split_lines(const char *s, size_t n, size_t *count)
{
	size_t cap = 16, k = 0;
	struct line *l = xmalloc(cap * sizeof *l);
	for (size_t i = 0; i < n;) {
		const char *nl = memchr(s + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (s + i)) : n - i;
		if (k == cap) {
			cap *= 2;
			l = xrealloc(l, cap * sizeof *l);
		}
		l[k++] = (struct line){ s + i, len };
		i += len + 1;
	}
	*count = k;
	return l;
}

static int line_eq(const struct line *a, const struct line *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

/* One edit: '=' (both), '-' (a only), '+' (b only); pa, pb: lines of a
 * and b before it. */
struct op {
	char t;
	size_t pa, pb;
};

struct ops {
	struct op *v;
	size_t n, cap, pa, pb;
};

static void op_push(struct ops *o, char t)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->v = xrealloc(o->v, o->cap * sizeof *o->v);
	}
	o->v[o->n++] = (struct op){ t, o->pa, o->pb };
	o->pa += t != '+';
	o->pb += t != '-';
}

/* The edits of a[0..na) to b[0..nb): common prefix and suffix, and an
 * LCS of the middle when its table fits DS_LDIFF_CELLS (else the middle
 * is replaced whole: a correct, if not minimal, diff). */
static void edits(const struct line *a, size_t na, const struct line *b, size_t nb, struct ops *o)
{
	size_t pre = 0, suf = 0;
	while (pre < na && pre < nb && line_eq(&a[pre], &b[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && line_eq(&a[na - 1 - suf], &b[nb - 1 - suf]))
		suf++;
	for (size_t i = 0; i < pre; i++)
		op_push(o, '=');
	size_t ma = na - pre - suf, mb = nb - pre - suf;
	const struct line *xa = a + pre, *xb = b + pre;
	if (ma && mb && (ma + 1) <= DS_LDIFF_CELLS / (mb + 1)) {
		size_t w = mb + 1;
		uint32_t *L = xcalloc((ma + 1) * w, sizeof *L);
		for (size_t i = ma; i-- > 0;)
			for (size_t j = mb; j-- > 0;)
				L[i * w + j] = line_eq(&xa[i], &xb[j]) ? L[(i + 1) * w + j + 1] + 1
					: L[(i + 1) * w + j] >= L[i * w + j + 1] ? L[(i + 1) * w + j]
					: L[i * w + j + 1];
		size_t i = 0, j = 0;
		while (i < ma && j < mb) {
			if (line_eq(&xa[i], &xb[j])) {
				op_push(o, '=');
				i++, j++;
			} else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
				op_push(o, '-');
				i++;
			} else {
				op_push(o, '+');
				j++;
			}
		}
		for (; i < ma; i++)
			op_push(o, '-');
		for (; j < mb; j++)
			op_push(o, '+');
		free(L);
	} else {
		for (size_t i = 0; i < ma; i++)
			op_push(o, '-');
		for (size_t j = 0; j < mb; j++)
			op_push(o, '+');
	}
	for (size_t i = 0; i < suf; i++)
		op_push(o, '=');
}

/* Appends the hunks of o to out, CONTEXT lines around each change. */
static int hunks(const struct ops *o, const struct line *a, const struct line *b, buf *out)
{
	size_t i = 0;
	int rc = 0;
	while (rc == 0) {
		size_t c = i;
		while (c < o->n && o->v[c].t == '=')
			c++;
		if (c == o->n)
			break;
		size_t start = c > i + CONTEXT ? c - CONTEXT : i, e = c, k = c + 1;
		while (k < o->n) {
			if (o->v[k].t != '=') {
				e = k++;
				continue;
			}
			size_t run = 0;
			while (k + run < o->n && o->v[k + run].t == '=')
				run++;
			if (k + run == o->n || run > 2 * CONTEXT)
				break;
			k += run;
		}
		size_t end = e + 1 + CONTEXT < o->n ? e + 1 + CONTEXT : o->n;
		size_t a0 = o->v[start].pa, b0 = o->v[start].pb;
		size_t a1 = end < o->n ? o->v[end].pa : o->pa, b1 = end < o->n ? o->v[end].pb : o->pb;
		rc = buf_printf(out, "@@ -%zu,%zu +%zu,%zu @@\n", a1 > a0 ? a0 + 1 : a0, a1 - a0,
				b1 > b0 ? b0 + 1 : b0, b1 - b0);
		for (size_t t = start; rc == 0 && t < end; t++) {
			const struct op *op = &o->v[t];
			const struct line *l = op->t == '+' ? &b[op->pb] : &a[op->pa];
			char mark = op->t == '=' ? ' ' : op->t;
			if ((rc = buf_append(out, &mark, 1)) == 0 && (rc = buf_append(out, l->p, l->n)) == 0)
				rc = buf_append(out, "\n", 1);
		}
		i = end;
	}
	return rc;
}

int ds_line_diff(const char *a, size_t na, const char *b, size_t nb, const char *label_a,
		 const char *label_b, char **out, size_t *added, size_t *removed)
{
	size_t la, lb, len;
	struct line *A = split_lines(a, na, &la), *B = split_lines(b, nb, &lb);
	struct ops o = { 0 };
	buf text;
	buf_init(&text, DIFF_OUT_MAX);
	edits(A, la, B, lb, &o);
	*added = *removed = 0;
	for (size_t i = 0; i < o.n; i++) {
		*added += o.v[i].t == '+';
		*removed += o.v[i].t == '-';
	}
	int rc = 0;
	if (*added || *removed) {
		rc = buf_printf(&text, "--- %s\n+++ %s\n", label_a, label_b);
		if (rc == 0)
			rc = hunks(&o, A, B, &text);
	}
	if (rc == 0 && (rc = buf_append(&text, "", 0)) == 0) {
		char *s = buf_detach(&text, &len);
		*out = s ? s : xstrdup("");
	}
	buf_release(&text);
	free(o.v);
	free(A);
	free(B);
	return rc;
}

/* ---- routes ---- */

static const char *guess_language(const char *s, size_t n)
{
	if (n > 2 && s[0] == '#' && s[1] == '!') {
		const char *nl = memchr(s, '\n', n);
		size_t l = nl ? (size_t)(nl - s) : n;
		if (!memmem(s, l, "python", 6) && memmem(s, l, "sh", 2))
			return "shell";
	}
	return "python";
}

/* POST /api/v1/scripts/{name}/versions: the raw body is the text. */
static void h_push(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const char *name = http_req_param(r, "name"), *lang = http_req_query(r, "language");
	size_t n = 0;
	const char *body = http_req_body(r, &n);
	char sha[65], t[DS_NAME_MAX + 16];
	blob_writer *w = NULL;
	ds_version v = { 0 };
	int dedup = 0, rc;
	snprintf(t, sizeof t, "script:%s", name);
	http_req_set_target(r, t);
	if (!ds_name_valid(name)) {
		http_reply_error(r, 400, "bad_request", "a name is 1 to %d of [A-Za-z0-9._-], not"
				 " starting with a dot", DS_NAME_MAX);
		return;
	}
	if (lang && strcmp(lang, "python") && strcmp(lang, "shell")) {
		http_reply_error(r, 400, "bad_request", "language is python or shell");
		return;
	}
	if (!body)
		body = "";
	if (memchr(body, '\0', n) || !sn_utf8_valid(body, n, 0)) {
		http_reply_error(r, 422, "not_text", "a script is UTF-8 text without NUL bytes");
		return;
	}
	if ((rc = blob_writer_new(x->api->bs, &w)) == 0 && (rc = blob_write(w, body, n)) == 0)
		rc = blob_commit(&w, sha, NULL, NULL);
	if (w)
		blob_abort(&w);
	if (rc) {
		ds_reply_rc(r, rc, "cannot store the script");
		return;
	}
	const char *blobs[] = { sha };
	ds_newver nv = { "file", sha, name, http_req_query(r, "message"),
			 lang ? lang : guess_language(body, n), (int64_t)n, 1, NULL, blobs, 1 };
	if ((rc = ds_version_add(x->api, x->k, name, auth_caller(r), &nv, &v, &dedup))) {
		if (rc == -EACCES)
			http_reply_error(r, 403, "forbidden", "you may read this script but not push to it");
		else
			ds_reply_rc(r, rc, rc == -ENOENT ? "no such script" : "cannot record the version");
		return;
	}
	json_t *j = ds_version_json(x->k, name, &v);
	ds_version_release(&v);
	if (!j || json_object_set_new(j, "deduplicated", json_boolean(dedup))) {
		json_decref(j);
		http_reply_errno(r, -ENOMEM, NULL);
		return;
	}
	http_reply_json(r, dedup ? 200 : 201, j);
}

/* GET /api/v1/scripts/{name}/diff?from=&to= */
static void h_diff(http_req *r, void *ctx)
{
	ds_rctx *x = ctx;
	const char *from = http_req_query(r, "from"), *to = http_req_query(r, "to");
	ds_item it;
	ds_version a = { 0 }, b = { 0 };
	char *ta = NULL, *tb = NULL, *d = NULL, la[DS_NAME_MAX + 32], lb[DS_NAME_MAX + 32];
	size_t na = 0, nb = 0, added = 0, removed = 0;
	int64_t fa, fb;
	int rc;
	if (sn_parse_number(from, &fa) || sn_parse_number(to, &fb)) {
		http_reply_error(r, 400, "bad_request", "from and to must be version numbers");
		return;
	}
	if (ds_resolve(x, r, from, &it, &a))
		return;
	if (ds_resolve(x, r, to, &it, &b))
		goto out;
	snprintf(la, sizeof la, "%s@%s", it.name, from);
	snprintf(lb, sizeof lb, "%s@%s", it.name, to);
	if ((rc = ds_blob_read_all(x->api->bs, a.sha256, DS_SCRIPT_MAX, &ta, &na)) == 0 &&
	    (rc = ds_blob_read_all(x->api->bs, b.sha256, DS_SCRIPT_MAX, &tb, &nb)) == 0)
		rc = ds_line_diff(ta, na, tb, nb, la, lb, &d, &added, &removed);
	if (rc) {
		ds_reply_rc(r, rc, "cannot diff the versions");
		goto out;
	}
	json_t *j = json_pack("{s:I,s:I,s:b,s:I,s:I,s:s}", "from", (json_int_t)fa, "to",
			      (json_int_t)fb, "identical", strcmp(a.sha256, b.sha256) == 0, "added",
			      (json_int_t)added, "removed", (json_int_t)removed, "diff", d);
	if (j)
		http_reply_json(r, 200, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
out:
	free(ta);
	free(tb);
	free(d);
	ds_version_release(&a);
	ds_version_release(&b);
}

size_t ds_script_routes(ds_api *api, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/scripts/{name}/versions", h_push, HTTP_RAW_BODY, ROLE_MEMBER,
		  "script.push", DS_SCRIPT_MAX, &api->scripts },
		{ "GET", "/api/v1/scripts/{name}/diff", h_diff, 0, ROLE_MEMBER, NULL, 0, &api->scripts },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
