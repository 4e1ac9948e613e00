/* Runtimes: the trees jobs run in. `host` is built in (the host's /usr,
 * /bin, /lib*, /sbin, read-only). A `venv` runtime adds a Python virtual
 * environment on top of host. An `image` runtime is a root filesystem
 * unpacked from a `docker save` archive or a plain rootfs tarball into
 * DATA/runtimes/<sha256 of the tarball>/rootfs.
 *
 * Layout under DATA/runtimes/:
 *   incoming/          drop folder scanned by rt_scan
 *   <sha256>/rootfs/   an unpacked image (shared by all names that use it)
 *   names/<name>.json  one record per registered runtime
 *   .staging-<id>/     work in progress (an ingest, a removal); one left
 *                      by a crash is removed by rt_init
 *   .lock              the registry lock (flock)
 * A record is written (atomically) only after its tree is complete, and a
 * tree is renamed into place only once fully extracted: a refused or
 * failed ingest leaves nothing behind.
 *
 * Contract: every function returns 0 or a negative errno (classes in
 * rt_int.h: -EINVAL bad request, -ENOENT, -EEXIST, -EPERM and -EBADMSG a
 * refused or unreadable archive, -EFBIG, -ENOSPC, -EBUSY) and, on error, a
 * one-line message in err. All are thread-safe and safe against other
 * processes on the same data directory; none blocks forever, and none holds
 * the registry lock across an extraction or a tree removal. */
#ifndef SN_RT_H
#define SN_RT_H
#include <stdint.h>
#include <jansson.h>

#define RT_NAME_MAX 64
#define RT_DEFAULT_MAX_BYTES (8ull << 30)

typedef struct rt_info {
	char *name;
	char *kind;   /* "host", "venv" or "image" */
	char *sha256; /* image: of the tarball; else NULL */
	char *path;   /* image: the rootfs dir; venv: the venv dir; host: NULL */
	char *source; /* image: the file it came from */
	int64_t created_ms;
	uint64_t bytes; /* image: unpacked size */
} rt_info;

void rt_info_release(rt_info *r);
/* NULL only when out of memory. */
json_t *rt_info_json(const rt_info *r);

/* Names: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, not "host". */
int rt_name_valid(const char *name);

/* Creates the drop folder and removes staging directories left by a crash
 * (those no live process owns). Call once at start. */
int rt_init(const char *data, char *err, size_t errlen);

int rt_lookup(const char *data, const char *name, rt_info *out, char *err, size_t errlen);
/* Unpacks tar_path (docker save or rootfs tarball; gzip/xz/zstd allowed)
 * and registers it as name. Refuses a tar_path that is not a regular file,
 * absolute paths, "..", links escaping the root, device nodes, paths deeper
 * than 256 components or longer than 4095 bytes (-EPERM), unreadable
 * archives (-EBADMSG) and more than max_bytes unpacked (-EFBIG). */
int rt_ingest(const char *data, const char *tar_path, const char *name, uint64_t max_bytes,
	      rt_info *out, char *err, size_t errlen);
int rt_register_venv(const char *data, const char *name, const char *dir, rt_info *out,
		     char *err, size_t errlen);
/* A JSON array of rt_info objects, host first. */
int rt_list(const char *data, json_t **out, char *err, size_t errlen);
/* Removes the record, and the tree when no other record uses it. */
int rt_remove(const char *data, const char *name, char *err, size_t errlen);
/* Tarballs in incoming/ whose content is not registered under any name:
 * a JSON array of {"file", "bytes", "sha256"}. */
int rt_scan(const char *data, json_t **out, char *err, size_t errlen);
/* Path of the drop folder (caller frees). */
char *rt_incoming_dir(const char *data);

/* The HTTP API (rt_http.c): calls rt_init, appends the routes to out (at
 * most max) and returns how many. data is borrowed and must outlive the
 * server. Uploads are spooled to a file by the HTTP layer, capped at
 * RT_UPLOAD_MAX. */
#define RT_UPLOAD_MAX ((size_t)RT_DEFAULT_MAX_BYTES)
struct http_route;
size_t rt_routes(const char *data, struct http_route *out, size_t max);
#endif
