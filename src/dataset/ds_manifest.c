/* Item names, file-set paths and manifests. A manifest's text is
 * canonical (files sorted by path, compact JSON with sorted keys), so two
 * sets with the same files have the same manifest blob, and the same
 * version hash. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "blob/blob.h"
#include "dataset/ds.h"

int ds_name_valid(const char *s)
{
	size_t n = 0;
	if (!s || !*s || *s == '.')
		return 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return n <= DS_NAME_MAX;
}

int ds_path_normalize(const char *in, size_t n, char out[DS_PATH_MAX])
{
	size_t o = 0, i = 0;
	if (n == 0 || in[0] == '/' || memchr(in, '\0', n) || memchr(in, '\\', n) ||
	    !sn_utf8_valid(in, n, 1))
		return -EINVAL;
	while (i < n) {
		size_t len = 0;
		while (i + len < n && in[i + len] != '/')
			len++;
		const char *c = in + i;
		i += len + 1;
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return -EINVAL;
		if (o + (o > 0) + len >= DS_PATH_MAX)
			return -EINVAL;
		if (o)
			out[o++] = '/';
		memcpy(out + o, c, len);
		o += len;
	}
	if (o == 0)
		return -EINVAL;
	out[o] = '\0';
	return 0;
}

const ds_mfile *ds_manifest_find(const ds_manifest *m, const char *path)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->files[i].path, path) == 0)
			return &m->files[i];
	return NULL;
}

int ds_manifest_add(ds_manifest *m, const char *path, const char *sha, uint64_t size,
		    unsigned mode)
{
	char norm[DS_PATH_MAX];
	if (ds_path_normalize(path, strlen(path), norm))
		return -EINVAL;
	/* A file and a directory of the same name cannot both be extracted. */
	size_t nl = strlen(norm);
	for (size_t i = 0; i < m->n; i++) {
		const char *p = m->files[i].path;
		size_t pl = strlen(p);
		if (strcmp(p, norm) == 0 || (pl < nl && strncmp(norm, p, pl) == 0 && norm[pl] == '/') ||
		    (nl < pl && strncmp(p, norm, nl) == 0 && p[nl] == '/'))
			return -EEXIST;
	}
	if (m->n == DS_SET_FILES_MAX)
		return -E2BIG;
	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 16;
		m->files = xrealloc(m->files, m->cap * sizeof *m->files);
	}
	ds_mfile *f = &m->files[m->n++];
	f->path = xstrdup(norm);
	sn_strlcpy(f->sha256, sha, sizeof f->sha256);
	f->size = size;
	f->mode = mode & 0777;
	return 0;
}

void ds_manifest_release(ds_manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->files[i].path);
	free(m->files);
	memset(m, 0, sizeof *m);
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const ds_mfile *)a)->path, ((const ds_mfile *)b)->path);
}

int ds_manifest_dump(ds_manifest *m, char **out, size_t *len)
{
	json_t *files = json_array(), *root = NULL;
	char mode[8];
	int rc = files ? 0 : -ENOMEM;
	/* qsort's pointer must not be NULL, even for no element (an empty set). */
	if (m->n > 1)
		qsort(m->files, m->n, sizeof *m->files, by_path);
	for (size_t i = 0; rc == 0 && i < m->n; i++) {
		snprintf(mode, sizeof mode, "%04o", m->files[i].mode);
		json_t *f = json_pack("{s:s,s:s,s:I,s:s}", "path", m->files[i].path, "sha256",
				      m->files[i].sha256, "size", (json_int_t)m->files[i].size,
				      "mode", mode);
		if (!f || json_array_append_new(files, f))
			rc = -ENOMEM;
	}
	if (rc == 0 && !(root = json_pack("{s:O}", "files", files)))
		rc = -ENOMEM;
	char *s = rc ? NULL : json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (rc == 0 && !s)
		rc = -ENOMEM;
	if (rc == 0) {
		*len = strlen(s);
		*out = s;
	}
	json_decref(files);
	json_decref(root);
	return rc;
}

int ds_manifest_parse(const char *text, size_t len, ds_manifest *out)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *files, *f;
	ds_manifest m = { 0 };
	size_t i;
	int rc = 0;
	files = root ? json_object_get(root, "files") : NULL;
	if (!json_is_array(files)) {
		rc = -EBADMSG;
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *path = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		const char *mode = json_string_value(json_object_get(f, "mode"));
		json_t *size = json_object_get(f, "size");
		char *end = NULL;
		unsigned long mv = mode ? strtoul(mode, &end, 8) : 0;
		if (!path || !blob_sha_valid(sha) || !json_is_integer(size) ||
		    json_integer_value(size) < 0 || !mode || !*mode || *end || mv > 0777 ||
		    ds_manifest_add(&m, path, sha, (uint64_t)json_integer_value(size), (unsigned)mv) ||
		    strcmp(m.files[m.n - 1].path, path) != 0) {
			rc = -EBADMSG;
			goto out;
		}
	}
	*out = m;
	memset(&m, 0, sizeof m);
out:
	ds_manifest_release(&m);
	json_decref(root);
	return rc;
}
