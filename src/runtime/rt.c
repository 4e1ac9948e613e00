/* The runtime registry: records under DATA/runtimes/names/, trees under
 * DATA/runtimes/<sha256>/rootfs (see rt.h for the layout and the
 * all-or-nothing rule). Records are small JSON files written atomically.
 *
 * Concurrency (threads of the server, and CLI processes on the same data):
 * 1. Changes to names/ and to the set of trees happen only under the
 *    registry lock, an flock on DATA/runtimes/.lock. It is held for short,
 *    bounded steps only: a name check, a rename, a record write, creating or
 *    claiming a directory. Extraction, hashing and removing trees run
 *    without it (an 8 GiB image must not stall every other change), and
 *    nobody waits for the lock forever (lock_take gives up: -EBUSY).
 * 2. Work in progress lives in DATA/runtimes/.staging-<id>: an ingest
 *    unpacks there, a removal renames the tree there before deleting it.
 *    Whoever owns a staging dir holds an flock on it, taken under the
 *    registry lock when the dir is made or claimed. A staging dir whose
 *    flock is free was left by a crash: rt_init removes it.
 * 3. A record names a tree that exists: the tree is renamed into place (or
 *    found there) under the same lock hold that writes the record, and a
 *    tree is moved away only under the lock hold that removed its last
 *    record.
 * 4. A tree's image.json (size, image config) is written in the staging dir
 *    before the rename and never changed after: a name that shares the tree
 *    reads it without the lock (if the tree goes meanwhile, commit_image
 *    notices under the lock and the ingest unpacks after all).
 * 5. scan-cache.json is only a cache: written whole and atomically by any
 *    scan without the lock, it can lose an entry (a later hash) but never
 *    give a file another file's hash (its key is the file's stat identity).
 *    Ingest never uses it: what is registered is hashed as it is read. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "runtime/rt.h"
#include "runtime/rt_int.h"

/* Records and image.json carry an image config, which came from a file of
 * at most 1 MiB (rt_int.h): twice that bounds them. */
#define META_MAX (2 * 1024 * 1024)
#define SCAN_CACHE_MAX (16 * 1024 * 1024)
#define STAGING ".staging-"
#define LOCK_WAIT_MS 30000

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

_Atomic unsigned long rt_hash_calls;

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void config_release(rt_image_config *c)
{
	strv_free(c->env);
	strv_free(c->entrypoint);
	strv_free(c->cmd);
	free(c->workdir);
	memset(c, 0, sizeof *c);
}

void rt_info_release(rt_info *r)
{
	config_release(&r->config);
	free(r->name);
	free(r->kind);
	free(r->sha256);
	free(r->path);
	free(r->source);
	memset(r, 0, sizeof *r);
}

/* A JSON string of s; a path that is not UTF-8 (a file name from the CLI)
 * is kept readable with '?' for every byte outside printable ASCII. */
static json_t *jstr(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char *copy = xstrdup(s);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static int set_opt(json_t *j, const char *k, const char *v)
{
	return v ? json_object_set_new(j, k, jstr(v)) : 0;
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; a && v[i]; i++)
		if (json_array_append_new(a, jstr(v[i]))) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

static int set_strv(json_t *j, const char *k, char *const *v)
{
	return v ? json_object_set_new(j, k, strv_json(v)) : 0;
}

/* The record form of an image config: only what the image sets. */
static json_t *config_json(const rt_image_config *c)
{
	json_t *j = json_object();
	if (j && (set_strv(j, "env", c->env) || set_opt(j, "working_dir", c->workdir) ||
		  set_strv(j, "entrypoint", c->entrypoint) || set_strv(j, "cmd", c->cmd))) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* A NULL-terminated copy of a JSON array of strings; NULL when a is not
 * one (checked at ingest: only a hand-edited record gets here). */
static char **strv_from(json_t *a)
{
	size_t i;
	json_t *e;
	if (!json_is_array(a))
		return NULL;
	char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
	json_array_foreach(a, i, e) {
		if (!json_is_string(e)) {
			strv_free(v);
			return NULL;
		}
		v[i] = xstrdup(json_string_value(e));
	}
	return v;
}

static char *opt_str(json_t *j, const char *k);

static void config_load(json_t *j, rt_image_config *c)
{
	memset(c, 0, sizeof *c);
	c->env = strv_from(json_object_get(j, "env"));
	c->entrypoint = strv_from(json_object_get(j, "entrypoint"));
	c->cmd = strv_from(json_object_get(j, "cmd"));
	c->workdir = opt_str(j, "working_dir");
}

static int set_time(json_t *j, const char *k, int64_t ms)
{
	char t[40];
	if (ms <= 0)
		return json_object_set_new(j, k, json_null());
	sn_time_format(ms, t, sizeof t);
	return json_object_set_new(j, k, json_string(t));
}

static int set_int(json_t *j, const char *k, uint64_t v)
{
	return json_object_set_new(j, k, json_integer((json_int_t)v));
}

json_t *rt_info_json(const rt_info *r)
{
	json_t *j = json_pack("{s:o, s:o}", "name", jstr(r->name), "kind", jstr(r->kind));
	int image = r->sha256 != NULL;
	if (j && (set_time(j, "created_at", r->created_ms) || set_int(j, "bytes", r->bytes) ||
		  set_opt(j, "sha256", r->sha256) || set_opt(j, "path", r->path) ||
		  set_opt(j, "source", r->source) ||
		  (image && set_int(j, "archive_bytes", r->archive_bytes)) ||
		  (image && json_object_set_new(j, "config", config_json(&r->config))))) {
		json_decref(j);
		j = NULL;
	}
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
	int rc = sn_read_file(path, META_MAX, &text, &len);
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
	/* Records before created_at kept epoch milliseconds. */
	const char *at = json_string_value(json_object_get(j, "created_at"));
	if (!at || sn_time_parse(at, &out->created_ms))
		out->created_ms = json_integer_value(json_object_get(j, "created_ms"));
	out->bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
	out->archive_bytes = (uint64_t)json_integer_value(json_object_get(j, "archive_bytes"));
	config_load(json_object_get(j, "config"), &out->config);
	json_decref(j);
	return 0;
}

static int write_record(const char *data, const rt_info *r)
{
	char *dir = xasprintf("%s/runtimes/names", data), *path = record_path(data, r->name);
	json_t *j = rt_info_json(r);
	char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	int rc = text ? sn_mkdir_p(dir, 0755) : -ENOMEM;
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

static int sha_valid(const char *sha)
{
	return sha && strlen(sha) == 64 && strspn(sha, "0123456789abcdef") == 64;
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
	if (!rc && strcmp(out->kind, "image") == 0 && sha_valid(out->sha256)) {
		free(out->path);
		out->path = xasprintf("%s/runtimes/%s/rootfs", data, out->sha256);
	}
	if (rc == -ENOENT)
		snprintf(err, errlen, "no runtime named '%s' (see 'sentinel runtime ls')", name);
	else if (rc)
		snprintf(err, errlen, "runtime '%s': unreadable record: %s", name, strerror(-rc));
	return rc;
}

int rt_archive_open(const char *data, const char *sha, int *fd, uint64_t *size)
{
	struct stat st;
	if (!sha_valid(sha))
		return -EINVAL;
	char *path = xasprintf("%s/runtimes/%s/" RT_ARCHIVE, data, sha);
	int rc = 0, f = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(path);
	if (f < 0)
		return errno == ENOTDIR || errno == ELOOP ? -ENOENT : -errno;
	if (fstat(f, &st))
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -ENOENT;
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* ---- the registry lock and staging directories (invariants 1, 2) ---- */

static int ensure_dir(const char *data, char *err, size_t errlen);

/* Takes the registry lock: *fd holds it until lock_release. Polls rather
 * than blocks, so a holder that never lets go costs a 503, not a thread. */
static int lock_take(const char *data, int *fd, char *err, size_t errlen)
{
	char *path = xasprintf("%s/runtimes/.lock", data);
	int rc = ensure_dir(data, err, errlen);
	*fd = -1;
	if (rc)
		goto out;
	*fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (*fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	for (int waited = 0; flock(*fd, LOCK_EX | LOCK_NB); waited += 5) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		if (waited >= LOCK_WAIT_MS) {
			rc = -EBUSY;
			snprintf(err, errlen, "the runtime registry is busy; try again");
			break;
		}
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	}
	if (rc) {
		close(*fd);
		*fd = -1;
	}
out:
	free(path);
	return rc;
}

static void lock_release(int *fd)
{
	if (*fd >= 0)
		close(*fd); /* releases the flock */
	*fd = -1;
}

/* A staging directory owned by this thread: its name under runtimes/ and
 * the descriptor holding its flock. */
struct stage {
	int dirfd; /* DATA/runtimes */
	int fd;
	char *name;
};

static void stage_drop(struct stage *s)
{
	if (s->name && s->dirfd >= 0)
		rt_rm_tree(s->dirfd, s->name);
	if (s->fd >= 0)
		close(s->fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	free(s->name);
	s->fd = s->dirfd = -1;
	s->name = NULL;
}

/* Locks the directory fd unless someone else holds it; under the
 * registry lock, so that making and claiming never race. */
static int claim(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) ? -errno : 0;
}

/* Makes an empty staging directory, owned by s (invariant 2). Called
 * under the registry lock. */
static int stage_new(const char *data, struct stage *s, char *err, size_t errlen)
{
	char *dir = rt_dir(data);
	int rc = 0;
	s->name = sn_id_new(STAGING);
	s->fd = -1;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0 || mkdirat(s->dirfd, s->name, 0700) ||
	    (s->fd = openat(s->dirfd, s->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    claim(s->fd)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create a staging directory in %s: %s", dir,
			 strerror(errno));
	}
	free(dir);
	return rc;
}

/* Removes the staging directories that no live owner holds (left by a
 * crash). Each is claimed under the lock and removed outside it. */
static int clean_stale(const char *data, char *err, size_t errlen)
{
	char *dir = rt_dir(data);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;
	free(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!rc && (e = readdir(d))) {
		int lk, fd;
		if (strncmp(e->d_name, STAGING, strlen(STAGING)))
			continue;
		if ((rc = lock_take(data, &lk, err, errlen)))
			break;
		fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && claim(fd)) {
			close(fd);
			fd = -1; /* in use */
		}
		lock_release(&lk);
		if (fd >= 0) {
			rt_rm_tree(dirfd(d), e->d_name);
			close(fd);
		}
	}
	closedir(d);
	return rc;
}

int rt_init(const char *data, char *err, size_t errlen)
{
	char *inc = rt_incoming_dir(data);
	int rc = sn_mkdir_p(inc, 0755);
	err[0] = '\0';
	if (rc)
		snprintf(err, errlen, "cannot create %s: %s", inc, strerror(-rc));
	else
		rc = clean_stale(data, err, errlen);
	if (rc && !err[0])
		snprintf(err, errlen, "cleaning %s/runtimes: %s", data, strerror(-rc));
	free(inc);
	return rc;
}

/* ---- ingest ---- */

/* Opens path for reading if it is a regular file. O_NONBLOCK: opening a
 * FIFO (dropped in incoming/, or swapped in after a check) must not wait
 * for a writer; for a regular file the flag means nothing. */
static int open_regular(const char *path, int *fd, char *err, size_t errlen)
{
	struct stat st;
	*fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (*fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc == -ENOENT || rc == -ENOTDIR ? -ENOENT : rc;
	}
	if (fstat(*fd, &st) || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EPERM;
	}
	return 0;
}

static int hash_fd(int fd, char sha[65])
{
	rt_hash_calls++;
	char *buf = xmalloc(1 << 16);
	sn_sha256 *h = sn_sha256_new();
	ssize_t n;
	while ((n = read(fd, buf, 1 << 16)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			sn_sha256_update(h, buf, (size_t)n);
	int rc = n < 0 ? -errno : 0;
	sn_sha256_final(&h, sha);
	free(buf);
	return rc;
}

static int tree_exists(const char *data, const char *sha)
{
	struct stat st;
	char *final = xasprintf("%s/runtimes/%s", data, sha);
	int rc = stat(final, &st) == 0;
	free(final);
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

static int ensure_dir(const char *data, char *err, size_t errlen)
{
	char *dir = rt_dir(data);
	int rc = sn_mkdir_p(dir, 0755);
	if (rc)
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
	free(dir);
	return rc;
}

static char *meta_path(const char *data, const char *tree)
{
	return xasprintf("%s/runtimes/%s/image.json", data, tree);
}

/* What a tree's image.json keeps (rt.h): its size and image config. */
static int write_meta(const char *data, const char *tree, const rt_info *r)
{
	char *path = meta_path(data, tree), *text = NULL;
	json_t *j = json_pack("{s:I, s:o}", "bytes", (json_int_t)r->bytes, "config",
			      config_json(&r->config));
	int rc = j && (text = json_dumps(j, JSON_COMPACT)) ? 0 : -ENOMEM;
	if (!rc)
		rc = sn_write_file_atomic(path, text, strlen(text), 0644);
	free(text);
	json_decref(j);
	free(path);
	return rc;
}

/* Size and config of the published tree of sha, for a name that shares
 * it. -ENOENT: the tree is gone (removed since the caller looked). A tree
 * from before image.json is measured and has no config. */
static int read_meta(const char *data, const char *sha, rt_info *r)
{
	char *path = meta_path(data, sha), *text = NULL;
	size_t len;
	int rc = sn_read_file(path, META_MAX, &text, &len);
	json_t *j = rc ? NULL : json_loadb(text, len, 0, NULL);
	free(text);
	free(path);
	if (j) {
		r->bytes = (uint64_t)json_integer_value(json_object_get(j, "bytes"));
		config_release(&r->config);
		config_load(json_object_get(j, "config"), &r->config);
		json_decref(j);
		return 0;
	}
	char *rootfs = xasprintf("%s/runtimes/%s/rootfs", data, sha);
	rc = rt_tree_bytes(rootfs, &r->bytes);
	free(rootfs);
	return rc == -ENOENT ? rc : 0;
}

/* Copies the tarball open on fd (from offset 0) to name under dirfd,
 * hashing what it copies: the copy is the archive kept and the one
 * unpacked, so tree and archive are the content of hash sha even when the
 * source file changes meanwhile (-EBUSY then). *out: the copy, open. */
static int copy_archive(int fd, int dirfd, const char *name, const char *sha, int *out,
			char *err, size_t errlen)
{
	char got[65];
	int rc = 0, dst = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				 0644);
	*out = -1;
	if (dst < 0)
		rc = -errno;
	else
		rc = sn_copy_hashed(fd, dst, got);
	if (rc)
		snprintf(err, errlen, "keeping the archive: %s", strerror(-rc));
	else if (strcmp(got, sha) != 0) {
		snprintf(err, errlen, "the tarball changed while it was ingested; try again");
		rc = -EBUSY;
	}
	if (rc && dst >= 0)
		close(dst);
	else
		*out = dst;
	return rc;
}

/* Unpacks the tarball into a new staging dir (without the registry lock;
 * the lock is taken briefly to make the dir); r gets the tree's size and
 * image config, also written to the tree's image.json. keep: the tarball
 * is copied to the dir's archive first and unpacked from that copy. */
static int unpack_stage(const char *data, int fd, uint64_t max, int keep, struct stage *s,
			rt_info *r, char *err, size_t errlen)
{
	json_t *config = NULL;
	int copy = -1, lk, rc = lock_take(data, &lk, err, errlen);
	if (rc)
		return rc;
	rc = stage_new(data, s, err, errlen);
	lock_release(&lk);
	if (rc)
		return rc;
	char *rootfs = xasprintf("%s/runtimes/%s/rootfs", data, s->name);
	if (mkdirat(s->fd, "rootfs", 0755)) {
		rc = -errno;
		snprintf(err, errlen, "cannot create %s: %s", rootfs, strerror(errno));
	} else if (!keep || !(rc = copy_archive(fd, s->fd, RT_ARCHIVE, r->sha256, &copy, err,
						 errlen))) {
		rc = rt_unpack_fd(copy >= 0 ? copy : fd, rootfs, max, &r->bytes, &config, err,
				  errlen);
	}
	if (copy >= 0)
		close(copy);
	if (!rc) {
		config_release(&r->config);
		config_load(config, &r->config);
		if ((rc = write_meta(data, s->name, r)))
			snprintf(err, errlen, "writing %s/image.json: %s", s->name, strerror(-rc));
	}
	json_decref(config);
	if (!rc && fchmod(s->fd, 0755)) {
		rc = -errno;
		snprintf(err, errlen, "chmod %s: %s", rootfs, strerror(errno));
	}
	free(rootfs);
	return rc;
}

/* Under the registry lock: the name is still free, the tree is in place
 * (renamed from the staging dir, or there already), the record written
 * (invariant 3). -EAGAIN: no staging dir and the tree was removed since
 * the caller looked; unpack and come back. */
static int commit_image(const char *data, const char *sha, struct stage *s, rt_info *r,
			rt_info *out, char *err, size_t errlen)
{
	char *final = xasprintf("%s/runtimes/%s", data, sha);
	int lk, rc = lock_take(data, &lk, err, errlen);
	if (rc)
		goto out;
	if ((rc = name_free(data, r->name, err, errlen)))
		goto unlock;
	if (!tree_exists(data, sha)) {
		if (!s->name) {
			rc = -EAGAIN;
			goto unlock;
		}
		char *stage = xasprintf("%s/runtimes/%s", data, s->name);
		rc = rename(stage, final) ? -errno : 0;
		free(stage);
		if (rc) {
			snprintf(err, errlen, "rename into %s: %s", final, strerror(-rc));
			goto unlock;
		}
		free(s->name); /* the tree is published: stage_drop leaves it */
		s->name = NULL;
	}
	rc = commit_record(data, r, out, err, errlen);
unlock:
	lock_release(&lk);
out:
	free(final);
	return rc;
}

/* A tree published before archives were kept (or ingested with
 * RT_NO_ARCHIVE) gets one when a name shares it: best effort, renamed into
 * place whole, so rt_archive_open sees all of it or nothing. Without the
 * lock: a removal racing this moves the tree, and the copy with it. */
static void backfill_archive(const char *data, const char *sha, int fd)
{
	char err[256], *dir = xasprintf("%s/runtimes/%s", data, sha), *tmp = sn_id_new(".archive-");
	int copy = -1, dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd >= 0 && faccessat(dfd, RT_ARCHIVE, F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
		if (copy_archive(fd, dfd, tmp, sha, &copy, err, sizeof err) == 0 &&
		    renameat(dfd, tmp, dfd, RT_ARCHIVE) == 0)
			tmp[0] = '\0';
		if (tmp[0])
			unlinkat(dfd, tmp, 0);
	}
	if (copy >= 0)
		close(copy);
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
}

int rt_ingest(const char *data, const char *tar_path, const char *name, const char *source,
	      uint64_t max_bytes, rt_info *out, char *err, size_t errlen)
{
	return rt_ingest_flags(data, tar_path, name, source, max_bytes, 0, out, err, errlen);
}

int rt_ingest_flags(const char *data, const char *tar_path, const char *name, const char *source,
		    uint64_t max_bytes, unsigned flags, rt_info *out, char *err, size_t errlen)
{
	int keep = !(flags & RT_NO_ARCHIVE), unpacked = 0;
	char sha[65], *abs = NULL;
	struct stage s = { -1, -1, NULL };
	rt_info r = { 0 };
	struct stat st;
	int rc, fd = -1;
	err[0] = '\0';
	/* Checked again under the lock; failing early spares an extraction. */
	if ((rc = name_free(data, name, err, errlen)))
		goto out;
	if ((rc = open_regular(tar_path, &fd, err, errlen)))
		goto out;
	if ((rc = ensure_dir(data, err, errlen)))
		goto out;
	if ((rc = hash_fd(fd, sha)) || (rc = fstat(fd, &st) ? -errno : 0)) {
		snprintf(err, errlen, "%s: %s", tar_path, strerror(-rc));
		goto out;
	}
	abs = source ? NULL : realpath(tar_path, NULL);
	r.name = xstrdup(name);
	r.kind = xstrdup("image");
	r.sha256 = xstrdup(sha);
	r.source = xstrdup(source ? source : abs ? abs : tar_path);
	r.archive_bytes = (uint64_t)st.st_size;
	r.created_ms = sn_now_ms();
	/* The tree is not at its place yet: resolve the directory above it. */
	char *dir = rt_dir(data), *rdir = realpath(dir, NULL);
	r.path = xasprintf("%s/%s/rootfs", rdir ? rdir : dir, sha);
	free(rdir);
	free(dir);
	/* A tree already there (same content, another name) is shared: its
	 * image.json gives the size and config. If it goes before the commit,
	 * commit_image says -EAGAIN and this unpacks after all. */
	for (int tries = 0; tries < 3; tries++) {
		if (!s.name && (!tree_exists(data, sha) || read_meta(data, sha, &r) == -ENOENT)) {
			rc = unpack_stage(data, fd, max_bytes, keep, &s, &r, err, errlen);
			if (rc)
				goto out;
			unpacked = 1;
		}
		rc = commit_image(data, sha, &s, &r, out, err, errlen);
		if (rc != -EAGAIN)
			break;
	}
	if (rc == -EAGAIN)
		snprintf(err, errlen, "the tree of %s was removed while ingesting; try again", sha);
	if (!rc && keep && !unpacked)
		backfill_archive(data, sha, fd);
out:
	stage_drop(&s); /* a duplicate or failed tree; nothing after a rename */
	if (fd >= 0)
		close(fd);
	rt_info_release(&r);
	free(abs);
	return rc;
}

/* What a venv job sees of the host besides the venv itself: the host
 * runtime's directories (sbx_plan.c's host_dirs; the runtime module does
 * not include the sandbox's headers). */
static const char *const host_dirs[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					 "/libx32", NULL };

static int under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* Is the real path p visible in the sandbox of a venv job? The host dirs
 * are compared resolved too: /bin may be a link to /usr/bin. */
static int visible(const char *p, const char *venv)
{
	int ok = under(p, venv);
	for (size_t i = 0; !ok && host_dirs[i]; i++) {
		char *real = realpath(host_dirs[i], NULL);
		ok = under(p, host_dirs[i]) || (real && under(p, real));
		free(real);
	}
	return ok;
}

/* The `home` of pyvenv.cfg (the base interpreter's directory), or NULL. */
static char *venv_home(const char *cfg_path)
{
	char *text = NULL, *home = NULL, *save = NULL;
	size_t len;
	if (sn_read_file(cfg_path, 64 * 1024, &text, &len))
		return NULL;
	for (char *line = strtok_r(text, "\n", &save); line && !home;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		size_t k = strcspn(line, " \t=");
		if (eq && k == 4 && strncmp(line, "home", 4) == 0) {
			char *v = eq + 1 + strspn(eq + 1, " \t");
			size_t n = strlen(v);
			while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
				n--;
			home = xstrndup(v, n);
		}
	}
	free(text);
	return home;
}

/* A venv's interpreter (bin/python3, else bin/python, resolved) and its
 * base installation (pyvenv.cfg's home) must be visible in the sandbox:
 * one under /root or /opt (pyenv, a hand-built Python) would only fail at
 * run time, as "cannot run 'python'". */
static int venv_runnable(const char *abs, const char *cfg_path, char *err, size_t errlen)
{
	char *py = xasprintf("%s/bin/python3", abs), *real = realpath(py, NULL), *home = NULL;
	char *real_home = NULL;
	int rc = 0;
	if (!real) {
		free(py);
		py = xasprintf("%s/bin/python", abs);
		real = realpath(py, NULL);
	}
	if (!real) {
		snprintf(err, errlen, "%s: no interpreter (bin/python3 or bin/python): %s", abs,
			 strerror(errno));
		rc = -EINVAL;
	} else if (!visible(real, abs)) {
		snprintf(err, errlen, "venv %s: its interpreter %s (%s) is outside what a job in "
			 "the sandbox sees (the host's /usr, /bin, /sbin, /lib* and the venv): "
			 "make the venv with a Python under /usr", abs, real, py);
		rc = -EINVAL;
	} else if ((home = venv_home(cfg_path)) && (real_home = realpath(home, NULL)) &&
		   !visible(real_home, abs)) {
		snprintf(err, errlen, "venv %s: its base Python (pyvenv.cfg home = %s) is outside "
			 "what a job in the sandbox sees (the host's /usr, /bin, /sbin, /lib* and "
			 "the venv): make the venv with a Python under /usr", abs, home);
		rc = -EINVAL;
	}
	free(real_home);
	free(home);
	free(real);
	free(py);
	return rc;
}

int rt_register_venv(const char *data, const char *name, const char *dir, rt_info *out,
		     char *err, size_t errlen)
{
	char *abs = realpath(dir, NULL), *py = NULL;
	struct stat st;
	rt_info r = { 0 };
	int lk = -1, rc;
	err[0] = '\0';
	py = abs ? xasprintf("%s/pyvenv.cfg", abs) : NULL;
	if ((rc = name_free(data, name, err, errlen)))
		goto out;
	if (!py || stat(py, &st)) {
		snprintf(err, errlen, "%s is not a Python virtual environment (no pyvenv.cfg)", dir);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = venv_runnable(abs, py, err, errlen)))
		goto out;
	r.name = xstrdup(name);
	r.kind = xstrdup("venv");
	r.path = xstrdup(abs);
	r.created_ms = sn_now_ms();
	if ((rc = ensure_dir(data, err, errlen)) || (rc = lock_take(data, &lk, err, errlen)))
		goto out;
	if (!(rc = name_free(data, name, err, errlen)))
		rc = commit_record(data, &r, out, err, errlen);
	lock_release(&lk);
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

/* Appends r's JSON to arr; -ENOMEM when it cannot be built. */
static int append_info(json_t *arr, const rt_info *r)
{
	return json_array_append_new(arr, rt_info_json(r)) ? -ENOMEM : 0;
}

int rt_list(const char *data, json_t **out, char *err, size_t errlen)
{
	char **names;
	size_t n = list_names(data, &names);
	json_t *arr = json_array();
	rt_info r;
	int rc = arr ? 0 : -ENOMEM;
	host_info(&r);
	if (!rc)
		rc = append_info(arr, &r);
	rt_info_release(&r);
	for (size_t i = 0; i < n && !rc; i++)
		if (rt_lookup(data, names[i], &r, err, errlen) == 0) {
			rc = append_info(arr, &r);
			rt_info_release(&r);
		}
	free_names(names, n);
	err[0] = '\0';
	if (rc) {
		snprintf(err, errlen, "cannot list the runtimes: %s", strerror(-rc));
		json_decref(arr);
		return rc;
	}
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

/* Under the registry lock: moves the tree of sha into a staging dir that s
 * owns, for removal without the lock (invariant 3). */
static int stage_tree(const char *data, const char *sha, struct stage *s)
{
	char *dir = rt_dir(data);
	int rc = 0;
	s->name = sn_id_new(STAGING);
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s->fd = s->dirfd < 0 ? -1 : openat(s->dirfd, sha, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					    O_CLOEXEC);
	if (s->fd < 0 || claim(s->fd) || renameat(s->dirfd, sha, s->dirfd, s->name))
		rc = -errno;
	if (rc) {
		free(s->name); /* nothing was moved: leave the tree alone */
		s->name = NULL;
	}
	free(dir);
	return rc;
}

int rt_remove(const char *data, const char *name, char *err, size_t errlen)
{
	struct stage s = { -1, -1, NULL };
	rt_info r;
	int lk;
	if (strcmp(name, "host") == 0) {
		snprintf(err, errlen, "the host runtime is built in and cannot be removed");
		return -EPERM;
	}
	int rc = lock_take(data, &lk, err, errlen);
	if (rc)
		return rc;
	rc = rt_lookup(data, name, &r, err, errlen);
	if (rc) {
		lock_release(&lk);
		return rc;
	}
	char *path = record_path(data, name);
	if (unlink(path)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	/* A tree that cannot be moved away stays: the record is gone, and a
	 * later ingest of the same content reuses it. */
	if (!rc && sha_valid(r.sha256) && !sha_in_use(data, r.sha256, NULL))
		(void)stage_tree(data, r.sha256, &s);
	lock_release(&lk);
	stage_drop(&s);
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

/* ---- scan, with a cache of hashes (rt.h) ---- */

static char *cache_path(const char *data)
{
	return xasprintf("%s/runtimes/scan-cache.json", data);
}

/* The cache as an object {file: {size, mtime_ns, ctime_ns, ino, sha256}};
 * an empty one when it is missing or unreadable (it is only a cache). */
static json_t *cache_load(const char *data)
{
	char *path = cache_path(data), *text = NULL;
	size_t len;
	json_t *j = sn_read_file(path, SCAN_CACHE_MAX, &text, &len) ? NULL
								    : json_loadb(text, len, 0, NULL);
	free(text);
	free(path);
	if (!json_is_object(j)) {
		json_decref(j);
		j = json_object();
	}
	return j;
}

/* Scans run concurrently without the lock: each writes the whole cache
 * atomically and the last one wins, which at worst costs a hash later. */
static void cache_save(const char *data, json_t *cache)
{
	char *path = cache_path(data), *text = json_dumps(cache, JSON_COMPACT);
	if (text)
		(void)sn_write_file_atomic(path, text, strlen(text), 0644);
	free(text);
	free(path);
}

static int64_t ns(struct timespec t)
{
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The identity of a file's content as far as stat tells: any write moves
 * ctime (which no user can set back), replacing the file changes the inode. */
static json_t *stat_key(const struct stat *st)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "size", (json_int_t)st->st_size, "mtime_ns",
			 (json_int_t)ns(st->st_mtim), "ctime_ns", (json_int_t)ns(st->st_ctim), "ino",
			 (json_int_t)st->st_ino);
}

/* Does the cache entry old carry every field of key, equal? */
static int same_key(json_t *old, json_t *key)
{
	const char *k;
	json_t *v;
	json_object_foreach(key, k, v)
		if (!json_equal(v, json_object_get(old, k)))
			return 0;
	return 1;
}

/* The sha256 of the open file fd, from the cache when its stat key is
 * unchanged; fresh gets the entry for the next scan. */
static int cached_hash(int fd, const char *file, const struct stat *st, json_t *cache,
		       json_t *fresh, char sha[65])
{
	json_t *key = stat_key(st), *old = json_object_get(cache, file);
	const char *osha = json_string_value(json_object_get(old, "sha256"));
	int rc = 0;
	if (!key)
		return -ENOMEM;
	if (sha_valid(osha) && same_key(old, key))
		memcpy(sha, osha, 65);
	else
		rc = hash_fd(fd, sha);
	/* A name that is not UTF-8 cannot be a key: it is hashed every time. */
	if (!rc && !json_object_set_new(key, "sha256", json_string(sha)))
		(void)json_object_set(fresh, file, key);
	json_decref(key);
	return rc;
}

/* One drop-folder file for rt_scan, or NULL when it is not a new tarball.
 * A name that is not UTF-8 is skipped: it could not be named in a JSON
 * register request anyway. */
static json_t *scan_one(const char *data, const char *dir, const char *file, json_t *cache,
			json_t *fresh)
{
	char sha[65], err[256], *p = xasprintf("%s/%s", dir, file);
	struct stat st;
	json_t *j = NULL;
	int fd = -1;
	if (file[0] != '.' && is_tarball(file) && open_regular(p, &fd, err, sizeof err) == 0 &&
	    fstat(fd, &st) == 0 && cached_hash(fd, file, &st, cache, fresh, sha) == 0 &&
	    !sha_in_use(data, sha, NULL))
		j = json_pack("{s:s, s:I, s:s}", "file", file, "bytes", (json_int_t)st.st_size,
			      "sha256", sha);
	if (fd >= 0)
		close(fd);
	free(p);
	return j;
}

int rt_scan(const char *data, json_t **out, char *err, size_t errlen)
{
	char *dir = rt_incoming_dir(data);
	DIR *d = opendir(dir);
	struct dirent *e;
	json_t *arr = json_array(), *cache = cache_load(data), *fresh = json_object();
	int rc = arr && cache && fresh ? 0 : -ENOMEM;
	err[0] = '\0';
	if (!d && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
	}
	while (!rc && d && (e = readdir(d))) {
		json_t *j = scan_one(data, dir, e->d_name, cache, fresh);
		if (j && json_array_append_new(arr, j)) {
			rc = -ENOMEM;
			snprintf(err, errlen, "cannot list %s", dir);
		}
	}
	if (d)
		closedir(d);
	/* Entries of files gone from the folder are dropped with the rest. */
	if (!rc && !json_equal(cache, fresh))
		cache_save(data, fresh);
	json_decref(cache);
	json_decref(fresh);
	free(dir);
	if (rc) {
		if (rc == -ENOMEM && !err[0])
			snprintf(err, errlen, "out of memory");
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}
