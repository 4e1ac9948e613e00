/* Runtimes on a node. STATE/runtimes is a runtime registry of its own
 * (rt.h, the code the server uses, so the same archive rules hold):
 * - venv runtimes and images an operator registered there by name
 *   (`sentinel runtime register NAME --venv DIR --data STATE`, `runtime
 *   ingest FILE --name NAME --data STATE`);
 * - images fetched from the server, registered under their tarball's
 *   SHA-256 as name (64 hex digits are a valid name), so that a name the
 *   server reuses for other content never finds an old tree.
 * A chunk names its runtime in "runtime" (the name) and, from servers that
 * resolve it, "runtime_spec" {"name","kind","sha256"}: an image is found by
 * its hash (fetched by GET /api/v1/node/blobs/{sha256} when absent, checked
 * against it, unpacked, the tarball dropped); a venv by its name, which
 * must be a venv here. Without a spec the name is looked up here.
 * Unpacked images are kept: a second chunk on the same image fetches
 * nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

static int hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Fetches the tarball sha into the cache, unpacks it as runtime `sha` and
 * drops the tarball (the tree is what stays). rt_mu held. */
static int fetch_image(agent *a, const char *sha, rt_info *out, char *err, size_t errlen)
{
	char *tar = xasprintf("%s/.rt-%s.tar", a->work_dir, sha);
	int64_t t0 = sn_mono_ns();
	unlink(tar); /* a crash's leftover link */
	int rc = ag_cache_get(a, sha, tar, err, errlen);
	if (rc == -ENOENT)
		snprintf(err, errlen, "runtime image %.12s: the server does not serve its archive "
			 "(an image ingested by an older server: ingest it again there)", sha);
	if (!rc)
		rc = rt_ingest_flags(a->state, tar, sha, "server", RT_DEFAULT_MAX_BYTES,
				     RT_NO_ARCHIVE, out, err, errlen);
	unlink(tar);
	pthread_mutex_lock(&a->cache_mu);
	char *cached = xasprintf("%s/%s", a->cache_dir, sha);
	unlink(cached);
	free(cached);
	pthread_mutex_unlock(&a->cache_mu);
	if (!rc) {
		__atomic_add_fetch(&a->rt_fetches, 1, __ATOMIC_RELAXED);
		log_msg(LOG_INFO, "node: runtime image %.12s fetched and unpacked (%llu bytes, "
			"%lld ms)", sha, (unsigned long long)out->bytes,
			(long long)((sn_mono_ns() - t0) / 1000000));
	}
	free(tar);
	return rc;
}

/* The image whose tarball hashes to sha: here already, or fetched. One
 * preparation at a time (rt_mu): two chunks of one new image fetch it once. */
static int image(agent *a, const char *sha, rt_info *out, char *err, size_t errlen)
{
	pthread_mutex_lock(&a->rt_mu);
	int rc = rt_lookup(a->state, sha, out, err, errlen);
	if (rc == 0 && (strcmp(out->kind, "image") || !out->sha256 || strcmp(out->sha256, sha))) {
		rt_info_release(out);
		snprintf(err, errlen, "runtime %.12s: the record in %s/runtimes names other content",
			 sha, a->state);
		rc = -EEXIST;
	} else if (rc == -ENOENT) {
		rc = fetch_image(a, sha, out, err, errlen);
	}
	pthread_mutex_unlock(&a->rt_mu);
	return rc;
}

int ag_rt_resolve(agent *a, const json_t *chunk, rt_info *out, char *err, size_t errlen)
{
	const json_t *spec = json_object_get(chunk, "runtime_spec"), *v = json_object_get(chunk,
											"runtime");
	if (!json_is_object(spec))
		spec = json_is_object(v) ? v : NULL;
	const char *name = spec ? json_string_value(json_object_get(spec, "name"))
				: json_string_value(v);
	const char *kind = json_string_value(json_object_get(spec, "kind"));
	const char *sha = json_string_value(json_object_get(spec, "sha256"));
	int rc;
	memset(out, 0, sizeof *out);
	if (kind ? strcmp(kind, "host") == 0 : !name || strcmp(name, "host") == 0)
		return rt_lookup(a->state, "host", out, err, errlen);
	if (kind && strcmp(kind, "image") == 0) {
		if (!hex64(sha)) {
			snprintf(err, errlen, "runtime '%s': the chunk gives no valid sha256",
				 name ? name : "?");
			return -EINVAL;
		}
		return image(a, sha, out, err, errlen);
	}
	if (kind && strcmp(kind, "venv") != 0) {
		snprintf(err, errlen, "runtime '%s': unknown kind '%s'", name ? name : "?", kind);
		return -EINVAL;
	}
	if (!name) {
		snprintf(err, errlen, "the chunk names no runtime");
		return -EINVAL;
	}
	rc = rt_lookup(a->state, name, out, err, errlen);
	if (rc == 0 && kind && strcmp(out->kind, kind) != 0) {
		snprintf(err, errlen, "runtime '%s' is a %s on this node, the job wants a %s", name,
			 out->kind, kind);
		rt_info_release(out);
		rc = -ENOENT;
	} else if (rc == -ENOENT) {
		snprintf(err, errlen, "runtime '%s' is not available on this node (a venv is "
			 "registered on each node: sentinel runtime register %s --venv DIR --data %s)",
			 name, name, a->state);
	}
	return rc;
}

static int add_str(json_t *arr, const char *s)
{
	json_t *x;
	size_t i;
	json_array_foreach(arr, i, x)
		if (strcmp(json_string_value(x), s) == 0)
			return 0;
	return json_array_append_new(arr, json_string(s)) ? -ENOMEM : 0;
}

/* Rebuilds the lists from the registry when its names/ directory changed
 * (each registration or removal renames or unlinks a record there).
 * File times are coarse (a clock tick): two changes within one tick give
 * one mtime, so a directory changed in the last 2 s is read again anyway.
 * Heartbeat thread only. */
static void refresh(agent *a)
{
	char err[256] = "", *dir = xasprintf("%s/runtimes/names", a->state);
	struct stat st;
	struct timespec now;
	int64_t key = stat(dir, &st) ? -1 : (int64_t)st.st_mtim.tv_sec * 1000000000 +
						 st.st_mtim.tv_nsec;
	free(dir);
	clock_gettime(CLOCK_REALTIME, &now);
	if (a->rt_names && key == a->rt_key &&
	    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - key > 2000000000LL)
		return;
	json_t *all = NULL, *names = json_array(), *shas = json_array(), *r;
	size_t i;
	int rc = names && shas ? rt_list(a->state, &all, err, sizeof err) : -ENOMEM;
	json_array_foreach(rc ? NULL : all, i, r) {
		const char *kind = json_string_value(json_object_get(r, "kind"));
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *sha = json_string_value(json_object_get(r, "sha256"));
		char *s = NULL;
		/* A heartbeat with more is refused whole (docs/jobs.md). */
		if (!kind || !name || json_array_size(names) >= AG_RUNTIMES_MAX)
			continue;
		if (strcmp(kind, "host") == 0)
			s = xstrdup("host");
		else if (strcmp(kind, "venv") == 0)
			s = xasprintf("venv:%s", name);
		else if (strcmp(kind, "image") == 0 && hex64(sha))
			s = xasprintf("image:%s", sha);
		if (s && (rc = add_str(names, s)) == 0 && strcmp(kind, "image") == 0)
			rc = add_str(shas, sha);
		free(s);
		if (rc)
			break;
	}
	json_decref(all);
	if (rc) {
		log_msg(LOG_WARN, "node: cannot list the runtimes of %s: %s", a->state,
			err[0] ? err : strerror(-rc));
		json_decref(names);
		json_decref(shas);
		return; /* the last lists stay; tried again next beat */
	}
	json_decref(a->rt_names);
	json_decref(a->rt_shas);
	a->rt_names = names;
	a->rt_shas = shas;
	a->rt_key = key;
}

json_t *ag_rt_list(agent *a)
{
	refresh(a);
	return a->rt_names ? json_deep_copy(a->rt_names) : json_pack("[s]", "host");
}

int ag_rt_add_images(agent *a, json_t *blobs)
{
	json_t *x;
	size_t i;
	refresh(a);
	json_array_foreach(a->rt_shas, i, x)
		if (json_array_append(blobs, x))
			return -ENOMEM;
	return 0;
}
