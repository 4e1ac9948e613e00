/* The runtime registry: records under DATA/runtimes/names/, trees under
 * DATA/runtimes/<sha256>/rootfs (see rt.h for the layout and the
 * all-or-nothing rule). Records are small JSON files written atomically. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "runtime/rt.h"
#include "runtime/rt_int.h"

#define RECORD_MAX (64 * 1024)

static char *rt_dir(const char *data)
{
	return xasprintf("%s/runtimes", data);
}

static char *record_path(const char *data, const char *name)
{
	return xasprintf("%s/runtimes/names/%s.json", data, name);
}

char *rt_incoming_dir(const char *data)
{
	return xasprintf("%s/runtimes/incoming", data);
}

int rt_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (!n || n > RT_NAME_MAX || !isalnum((unsigned char)name[0]) || strcmp(name, "host") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}

void rt_info_release(rt_info *r)
{
	free(r->name);
	free(r->kind);
	free(r->sha256);
	free(r->path);
	free(r->source);
	memset(r, 0, sizeof *r);
}

json_t *rt_info_json(const rt_info *r)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I}", "name", r->name, "kind", r->kind,
			      "created_ms", (json_int_t)r->created_ms, "bytes", (json_int_t)r->bytes);
	if (r->sha256)
		json_object_set_new(j, "sha256", json_string(r->sha256));
	if (r->path)
		json_object_set_new(j, "path", json_string(r->path));
	if (r->source)
		json_object_set_new(j, "source", json_string(r->source));
	return j;
}

static char *opt_str(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? xstrdup(s) : NULL;
}

static int read_record(const char *path, rt_info *out)
{
	char *text = NULL;
	size_t len;
	int rc = sn_read_file(path, RECORD_MAX, &text, &len);
	if (rc)
		return rc;
	json_t *j = json_loadb(text, len, 0, NULL);
	free(text);
	if (!j || !json_is_string(json_object_get(j, "name")) ||
	    !json_is_string(json_object_get(j, "kind"))) {
		json_decref(j);
		return -EINVAL;
	}
	memset(out, 0, sizeof *out);
	out->name = opt_str(j, "name");
	out->kind = opt_str(j, "kind");
	out->sha256 = opt_str(j, "sha256");
	out->path = opt_str(j, "path");
	out->source = opt_str(j, "source");
	out->created_ms = json_integer_value(json_object_get(j, "created_ms"));
	out->bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
	json_decref(j);
	return 0;
}

static int write_record(const char *data, const rt_info *r)
{
	char *dir = xasprintf("%s/runtimes/names", data), *path = record_path(data, r->name);
	json_t *j = rt_info_json(r);
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc = sn_mkdir_p(dir, 0755);
	if (!rc)
		rc = sn_write_file_atomic(path, text, strlen(text), 0644);
	free(text);
	json_decref(j);
	free(path);
	free(dir);
	return rc;
}

static void host_info(rt_info *r)
{
	memset(r, 0, sizeof *r);
	r->name = xstrdup("host");
	r->kind = xstrdup("host");
}

int rt_lookup(const char *data, const char *name, rt_info *out, char *err, size_t errlen)
{
	if (strcmp(name, "host") == 0) {
		host_info(out);
		return 0;
	}
	if (!rt_name_valid(name)) {
		snprintf(err, errlen, "invalid runtime name '%s'", name);
		return -EINVAL;
	}
	char *path = record_path(data, name);
	int rc = read_record(path, out);
	free(path);
	/* An image's tree is found by its hash: the data directory may move. */
	if (!rc && strcmp(out->kind, "image") == 0 && out->sha256 &&
	    strlen(out->sha256) == 64 && strspn(out->sha256, "0123456789abcdef") == 64) {
		free(out->path);
		out->path = xasprintf("%s/runtimes/%s/rootfs", data, out->sha256);
	}
	if (rc == -ENOENT)
		snprintf(err, errlen, "no runtime named '%s' (see 'sentinel runtime ls')", name);
	else if (rc)
		snprintf(err, errlen, "runtime '%s': unreadable record: %s", name, strerror(-rc));
	return rc;
}


/* rm -rf of an absolute or relative path. */
static void rm_path(const char *path)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	const char *base = path;
	int dfd = AT_FDCWD;
	if (slash) {
		*slash = '\0';
		base = slash + 1;
		dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd >= 0 || dfd == AT_FDCWD)
		rt_rm_tree(dfd, base);
	if (dfd >= 0)
		close(dfd);
	free(dir);
}

/* Unpacks into DATA/runtimes/<sha>/ unless it is there already. */
static int unpack_tree(const char *data, const char *tar, const char *sha, uint64_t max,
		       uint64_t *bytes, char *err, size_t errlen)
{
	char *final = xasprintf("%s/runtimes/%s", data, sha);
	char *rnd = sn_id_new(".staging-");
	char *stage = xasprintf("%s/runtimes/%s", data, rnd);
	char *rootfs = xasprintf("%s/rootfs", stage);
	struct stat st;
	int rc = 0;
	if (stat(final, &st) == 0)
		goto out; /* the same content was ingested before */
	if (mkdir(stage, 0700) || mkdir(rootfs, 0755)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", stage, strerror(errno));
		goto out;
	}
	rc = rt_unpack_file(tar, rootfs, max, bytes, err, errlen);
	if (!rc && chmod(stage, 0755))
		rc = -errno;
	if (!rc && rename(stage, final) && errno != EEXIST && errno != ENOTEMPTY) {
		rc = -errno;
		snprintf(err, errlen, "rename into %s: %s", final, strerror(errno));
	}
out:
	rm_path(stage); /* gone after a rename; the partial tree after a failure */
	free(final);
	free(rnd);
	free(stage);
	free(rootfs);
	return rc;
}

/* 0 when name is a valid runtime name that no runtime holds yet. */
static int name_free(const char *data, const char *name, char *err, size_t errlen)
{
	struct stat st;
	if (!rt_name_valid(name)) {
		snprintf(err, errlen, "invalid runtime name '%s' (letters, digits, '._-', max %d; "
			 "not 'host')", name, RT_NAME_MAX);
		return -EINVAL;
	}
	char *path = record_path(data, name);
	int taken = stat(path, &st) == 0;
	free(path);
	if (taken) {
		snprintf(err, errlen, "a runtime named '%s' exists (remove it first)", name);
		return -EEXIST;
	}
	return 0;
}

/* Writes r's record; on success *out takes r's insides and r is emptied. */
static int commit_record(const char *data, rt_info *r, rt_info *out, char *err, size_t errlen)
{
	int rc = write_record(data, r);
	if (rc) {
		snprintf(err, errlen, "writing the record: %s", strerror(-rc));
		return rc;
	}
	*out = *r;
	memset(r, 0, sizeof *r);
	return 0;
}

int rt_ingest(const char *data, const char *tar_path, const char *name, uint64_t max_bytes,
	      rt_info *out, char *err, size_t errlen)
{
	char sha[65], *dir = rt_dir(data), *abs = NULL;
	struct stat st;
	rt_info r = { 0 };
	uint64_t bytes = 0;
	int rc;
	err[0] = '\0';
	if ((rc = name_free(data, name, err, errlen)))
		goto out;
	if (stat(tar_path, &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a readable file", tar_path);
		rc = -ENOENT;
		goto out;
	}
	if ((rc = sn_mkdir_p(dir, 0755)) || (rc = sn_sha256_file(tar_path, sha))) {
		snprintf(err, errlen, "%s: %s", tar_path, strerror(-rc));
		goto out;
	}
	if ((rc = unpack_tree(data, tar_path, sha, max_bytes, &bytes, err, errlen)))
		goto out;
	abs = realpath(tar_path, NULL);
	r.name = xstrdup(name);
	r.kind = xstrdup("image");
	r.sha256 = xstrdup(sha);
	r.path = xasprintf("%s/runtimes/%s/rootfs", data, sha);
	char *rp = realpath(r.path, NULL);
	if (rp) {
		free(r.path);
		r.path = rp;
	}
	r.source = xstrdup(abs ? abs : tar_path);
	r.created_ms = sn_now_ms();
	r.bytes = bytes;
	rc = commit_record(data, &r, out, err, errlen);
out:
	rt_info_release(&r);
	free(abs);
	free(dir);
	return rc;
}

int rt_register_venv(const char *data, const char *name, const char *dir, rt_info *out,
		     char *err, size_t errlen)
{
	char *abs = realpath(dir, NULL), *py = NULL;
	struct stat st;
	rt_info r = { 0 };
	int rc = name_free(data, name, err, errlen);
	if (rc)
		goto out;
	py = abs ? xasprintf("%s/pyvenv.cfg", abs) : NULL;
	if (!py || stat(py, &st)) {
		snprintf(err, errlen, "%s is not a Python virtual environment (no pyvenv.cfg)", dir);
		rc = -EINVAL;
		goto out;
	}
	r.name = xstrdup(name);
	r.kind = xstrdup("venv");
	r.path = xstrdup(abs);
	r.created_ms = sn_now_ms();
	rc = commit_record(data, &r, out, err, errlen);
out:
	rt_info_release(&r);
	free(abs);
	free(py);
	return rc;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The registered names, sorted (caller frees each and the array). */
static size_t list_names(const char *data, char ***out)
{
	char *dir = xasprintf("%s/runtimes/names", data);
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 5 && strcmp(e->d_name + l - 5, ".json") == 0 && e->d_name[0] != '.') {
			names = xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = xstrndup(e->d_name, l - 5);
		}
	}
	if (d)
		closedir(d);
	free(dir);
	if (n)
		qsort(names, n, sizeof *names, cmp_names);
	*out = names;
	return n;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int rt_list(const char *data, json_t **out, char *err, size_t errlen)
{
	char **names;
	size_t n = list_names(data, &names);
	json_t *arr = json_array();
	rt_info r;
	host_info(&r);
	json_array_append_new(arr, rt_info_json(&r));
	rt_info_release(&r);
	for (size_t i = 0; i < n; i++)
		if (rt_lookup(data, names[i], &r, err, errlen) == 0) {
			json_array_append_new(arr, rt_info_json(&r));
			rt_info_release(&r);
		}
	free_names(names, n);
	err[0] = '\0';
	*out = arr;
	return 0;
}

/* Is sha used by a record other than skip? */
static int sha_in_use(const char *data, const char *sha, const char *skip)
{
	char **names, err[256];
	size_t n = list_names(data, &names);
	int used = 0;
	for (size_t i = 0; i < n && !used; i++) {
		rt_info r;
		if ((skip && strcmp(names[i], skip) == 0) || rt_lookup(data, names[i], &r, err,
									sizeof err))
			continue;
		used = r.sha256 && strcmp(r.sha256, sha) == 0;
		rt_info_release(&r);
	}
	free_names(names, n);
	return used;
}

int rt_remove(const char *data, const char *name, char *err, size_t errlen)
{
	rt_info r;
	if (strcmp(name, "host") == 0) {
		snprintf(err, errlen, "the host runtime is built in and cannot be removed");
		return -EPERM;
	}
	int rc = rt_lookup(data, name, &r, err, errlen);
	if (rc)
		return rc;
	char *path = record_path(data, name);
	if (unlink(path)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (!rc && r.sha256 && strlen(r.sha256) == 64 && strspn(r.sha256, "0123456789abcdef") == 64 &&
	    !sha_in_use(data, r.sha256, NULL)) {
		char *tree = xasprintf("%s/runtimes/%s", data, r.sha256);
		rm_path(tree);
		free(tree);
	}
	free(path);
	rt_info_release(&r);
	return rc;
}

static int is_tarball(const char *n)
{
	static const char *const ext[] = { ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst", NULL };
	size_t l = strlen(n);
	for (size_t i = 0; ext[i]; i++) {
		size_t el = strlen(ext[i]);
		if (l > el && strcmp(n + l - el, ext[i]) == 0)
			return 1;
	}
	return 0;
}

int rt_scan(const char *data, json_t **out, char *err, size_t errlen)
{
	char *dir = rt_incoming_dir(data);
	DIR *d = opendir(dir);
	struct dirent *e;
	json_t *arr = json_array();
	int rc = 0;
	if (!d && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	}
	while (d && (e = readdir(d))) {
		char sha[65], *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (e->d_name[0] != '.' && is_tarball(e->d_name) && stat(p, &st) == 0 &&
		    S_ISREG(st.st_mode) && sn_sha256_file(p, sha) == 0 && !sha_in_use(data, sha, NULL))
			json_array_append_new(arr, json_pack("{s:s, s:I, s:s}", "file", e->d_name,
							     "bytes", (json_int_t)st.st_size,
							     "sha256", sha));
		free(p);
	}
	if (d)
		closedir(d);
	free(dir);
	if (rc) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}
