/* The blob cache: STATE/cache/<sha256>, read-only files, each verified
 * against its name when fetched. Use is recorded in the mtime (touched on
 * every hit), so eviction past cache_max removes the least recently used
 * first. A chunk's inputs are hard links into its attempt directory, so
 * evicting a blob a running chunk uses frees nothing until the chunk ends
 * and never breaks it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/mem.h"
#include "base/util.h"

static int sha_valid(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 64;
}

struct entry {
	char name[65];
	int64_t mtime_ns;
	uint64_t size;
};

static int by_age(const void *x, const void *y)
{
	const struct entry *p = x, *q = y;
	return p->mtime_ns < q->mtime_ns ? -1 : p->mtime_ns > q->mtime_ns;
}

/* Lists the cached blobs (and, with clean, removes partial downloads a
 * crash left behind). */
static size_t scan(agent *a, struct entry **out, uint64_t *total, int clean)
{
	DIR *d = opendir(a->cache_dir);
	struct entry *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	*total = 0;
	while (d && (e = readdir(d))) {
		struct stat st;
		if (clean && strncmp(e->d_name, ".part-", 6) == 0) {
			unlinkat(dirfd(d), e->d_name, 0);
			continue;
		}
		if (!sha_valid(e->d_name) || fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		memcpy(v[n].name, e->d_name, 65);
		v[n].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		v[n].size = (uint64_t)st.st_size;
		*total += v[n].size;
		n++;
	}
	if (d)
		closedir(d);
	*out = v;
	return n;
}

void ag_cache_init(agent *a)
{
	struct entry *v;
	uint64_t total;
	scan(a, &v, &total, 1);
	free(v);
}

/* Removes the oldest blobs until the cache fits, never keep. */
static void evict(agent *a, const char *keep)
{
	struct entry *v;
	uint64_t total;
	size_t n = scan(a, &v, &total, 0);
	qsort(v, n, sizeof *v, by_age);
	for (size_t i = 0; i < n && total > a->cfg.cache_max; i++) {
		if (strcmp(v[i].name, keep) == 0)
			continue;
		char *p = xasprintf("%s/%s", a->cache_dir, v[i].name);
		if (unlink(p) == 0)
			total -= v[i].size;
		free(p);
	}
	free(v);
}

static int fetch(agent *a, const char *sha, const char *path, char *err, size_t errlen)
{
	char rnd[17], got[65];
	uint8_t r[8];
	sn_random(r, sizeof r);
	sn_hex(r, sizeof r, rnd);
	char *tmp = xasprintf("%s/.part-%s", a->cache_dir, rnd);
	char *target = xasprintf("/api/v1/node/blobs/%s", sha);
	hc_resp resp = { 0 };
	int rc, fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
		goto out;
	}
	ag_req req = { .method = "GET", .path = target, .in_fd = -1, .out_fd = fd };
	if ((rc = ag_call(a, &req, &resp, err, errlen)))
		goto out;
	if (resp.status != 200) {
		snprintf(err, errlen, "blob %.12s: the server answered %ld", sha, resp.status);
		rc = resp.status == 404 ? -ENOENT : -EIO;
		goto out;
	}
	if (fsync(fd) || (rc = sn_sha256_file(tmp, got))) {
		rc = rc ? rc : -errno;
		snprintf(err, errlen, "blob %.12s: %s", sha, strerror(-rc));
		goto out;
	}
	if (strcmp(got, sha) != 0) {
		snprintf(err, errlen, "blob %.12s: the download hashes to %.12s", sha, got);
		rc = -EBADMSG;
		goto out;
	}
	if (fchmod(fd, 0444) || rename(tmp, path)) {
		rc = -errno;
		snprintf(err, errlen, "blob %.12s: %s", sha, strerror(-rc));
	}
out:
	if (fd >= 0) {
		close(fd);
		if (rc)
			unlink(tmp);
	}
	hc_resp_release(&resp);
	free(target);
	free(tmp);
	return rc;
}

/* Links the cached blob at dst (under cache_mu, so no eviction runs
 * between the check and the link). 1 when linked, 0 when not cached. */
static int link_cached(const char *p, const char *dst, int *rc)
{
	struct stat st;
	*rc = 0;
	if (lstat(p, &st) || !S_ISREG(st.st_mode))
		return 0;
	utimensat(AT_FDCWD, p, NULL, AT_SYMLINK_NOFOLLOW);
	if (link(p, dst) && errno != EEXIST)
		*rc = -errno;
	return 1;
}


/* Copies src into the cache as sha (read-only), hashing what it copies. */
static int copy_in(agent *a, const char *src, const char *sha, const char *path, char *err,
		   size_t errlen)
{
	char rnd[17], got[65] = "";
	uint8_t r[8];
	sn_random(r, sizeof r);
	sn_hex(r, sizeof r, rnd);
	char *tmp = xasprintf("%s/.part-%s", a->cache_dir, rnd);
	int rc = 0, in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (in < 0 || out < 0)
		rc = -errno;
	else
		rc = sn_copy_hashed(in, out, got);
	if (!rc && strcmp(got, sha) != 0)
		rc = -ESTALE;
	if (!rc && (fsync(out) || fchmod(out, 0444) || rename(tmp, path)))
		rc = -errno;
	if (rc == -ESTALE)
		snprintf(err, errlen, "%s changed since the node started (hashes to %.12s, not "
			 "%.12s): restart the node", src, got, sha);
	else if (rc)
		snprintf(err, errlen, "copying %s into the cache: %s", src, strerror(-rc));
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* Links the cached blob sha at dst, filling the cache first when it lacks
 * it: from local file src when given (checked against sha), else fetched
 * from the server. */
static int cache_link(agent *a, const char *sha, const char *src, const char *dst, char *err,
		      size_t errlen)
{
	char *p = xasprintf("%s/%s", a->cache_dir, sha);
	int rc = 0;
	pthread_mutex_lock(&a->cache_mu);
	int hit = link_cached(p, dst, &rc);
	pthread_mutex_unlock(&a->cache_mu);
	if (!hit) {
		rc = src ? copy_in(a, src, sha, p, err, errlen) : fetch(a, sha, p, err, errlen);
		if (rc)
			goto out;
		pthread_mutex_lock(&a->cache_mu);
		/* Gone already: other fetches evicted it, the cap is below one chunk's need. */
		if (!link_cached(p, dst, &rc))
			rc = -ENOSPC;
		evict(a, sha);
		pthread_mutex_unlock(&a->cache_mu);
	}
	if (rc)
		snprintf(err, errlen, "%s: %s", dst, strerror(-rc));
out:
	free(p);
	return rc;
}

int ag_cache_get(agent *a, const char *sha, const char *dst, char *err, size_t errlen)
{
	if (!sha || !sha_valid(sha)) {
		snprintf(err, errlen, "invalid blob hash '%s'", sha ? sha : "(none)");
		return -EINVAL;
	}
	return cache_link(a, sha, NULL, dst, err, errlen);
}

int ag_cache_put_local(agent *a, const char *src, const char *sha, const char *dst, char *err,
		       size_t errlen)
{
	if (!sha || !sha_valid(sha)) {
		snprintf(err, errlen, "invalid hash for %s", src);
		return -EINVAL;
	}
	return cache_link(a, sha, src, dst, err, errlen);
}

json_t *ag_cache_list(agent *a)
{
	struct entry *v;
	uint64_t total;
	size_t n = scan(a, &v, &total, 0);
	json_t *arr = json_array();
	/* A heartbeat carries at most this many: enough for locality, bounded. */
	for (size_t i = 0; arr && i < n && i < 4096; i++)
		if (json_array_append_new(arr, json_string(v[i].name))) {
			json_decref(arr);
			arr = NULL;
		}
	free(v);
	return arr;
}
