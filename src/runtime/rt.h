/* Runtimes: the trees jobs run in. `host` is built in (the host's /usr,
 * /bin, /lib*, /sbin, read-only). A `venv` runtime adds a Python virtual
 * environment on top of host. An `image` runtime is a root filesystem
 * unpacked from a `docker save` archive or a plain rootfs tarball into
 * DATA/runtimes/<sha256 of the tarball>/rootfs.
 *
 * `data` (first argument everywhere) is the data directory, the server's
 * --data; the module owns DATA/runtimes/ and nothing else:
 *   incoming/          drop folder scanned by rt_scan
 *   <sha256>/rootfs/   an unpacked image (shared by all names that use it)
 *   <sha256>/image.json  its unpacked size and image config (written before
 *                      the tree is published; absent in trees of old versions)
 *   <sha256>/archive   the tarball itself, byte for byte (what a server hands
 *                      its nodes, which unpack their own copy: rt_archive_open);
 *                      absent with RT_NO_ARCHIVE and in trees of old versions
 *                      until a name sharing the tree is ingested
 *   names/<name>.json  one record per registered runtime
 *   scan-cache.json    (size, mtime, ctime, inode) -> sha256 of drop-folder
 *                      files, so rt_scan hashes only what changed
 *   .staging-<id>/     work in progress (an ingest, a removal); one left
 *                      by a crash is removed by rt_init
 *   .lock              the registry lock (flock)
 * A record is written (atomically) only after its tree is complete, and a
 * tree is renamed into place only once fully extracted: a refused or
 * failed ingest leaves nothing behind.
 *
 * Errors: every function returns 0 or a negative errno and, on error, a
 * one-line message in err (errlen > 0). The classes (rt_int.h has the
 * archive ones; http_errno_status maps them to HTTP):
 *   -EINVAL   bad name or argument (not a venv, a venv whose interpreter
 *             the sandbox cannot see)                       400
 *   -ENOENT   no such runtime or file                       404
 *   -EEXIST   the name is taken                             409
 *   -EPERM    refused archive member, not a regular file,
 *             removing `host`                               422 (403 for host)
 *   -EBADMSG  unreadable archive or image config            422
 *   -EFBIG    over max_bytes or the entry cap               413
 *   -ENOSPC   disk or quota full                            507
 *   -EBUSY    the registry lock stayed held for 30 s        503
 *   other     memory, I/O, libarchive missing               500
 *
 * Memory: an rt_info filled by a function here is the caller's; release
 * its insides with rt_info_release (the struct itself is the caller's, on
 * the stack or not). On error the out-parameter is left untouched and
 * needs no release.
 *
 * Concurrency: all functions are thread-safe and safe against other
 * processes (CLI commands, a second server) on the same data directory.
 * Changes are serialised by an flock on DATA/runtimes/.lock, which works
 * across processes; there is no in-process mutex. The lock is held only
 * for short steps (a name check, a rename, a record write), never across
 * an extraction, a hash or a tree removal, and is waited for at most 30 s
 * (-EBUSY). */
#ifndef SN_RT_H
#define SN_RT_H
#include <stdint.h>
#include <jansson.h>

#define RT_NAME_MAX 64
#define RT_DEFAULT_MAX_BYTES (8ull << 30)

/* What a `docker save` image's config says about how to run it. Arrays are
 * NULL-terminated; a NULL array or string means the image does not set it. */
typedef struct rt_image_config {
	char **env;        /* "K=V" entries (Env) */
	char *workdir;     /* WorkingDir: absolute, exists in the tree */
	char **entrypoint; /* Entrypoint */
	char **cmd;        /* Cmd */
} rt_image_config;

typedef struct rt_info {
	char *name;
	char *kind;   /* "host", "venv" or "image" */
	char *sha256; /* image: of the tarball; else NULL */
	char *path;   /* image: the rootfs dir; venv: the venv dir; host: NULL */
	char *source; /* image: the file it came from, or "upload" */
	int64_t created_ms;      /* replies show it as "created_at" (RFC 3339) */
	uint64_t bytes;          /* image: unpacked size (sum of its files' sizes) */
	uint64_t archive_bytes;  /* image: size of the tarball */
	rt_image_config config;  /* image: from docker save; all NULL otherwise */
} rt_info;

void rt_info_release(rt_info *r);
/* The reply form of r (times RFC 3339). NULL only when out of memory. */
json_t *rt_info_json(const rt_info *r);

/* Names: [A-Za-z0-9][A-Za-z0-9._-]{0,63}, not "host". */
int rt_name_valid(const char *name);

/* Creates the drop folder and removes staging directories left by a crash
 * (those no live process owns). Call once at start. Errors: I/O, -EBUSY. */
int rt_init(const char *data, char *err, size_t errlen);

/* The runtime called name ("host" included). -EINVAL bad name, -ENOENT
 * none, another -errno for an unreadable record. */
int rt_lookup(const char *data, const char *name, rt_info *out, char *err, size_t errlen);
/* Unpacks tar_path (docker save or rootfs tarball; gzip/xz/zstd allowed)
 * and registers it as name; source is recorded as where it came from
 * (NULL: tar_path, made absolute). Refuses a bad or taken name (-EINVAL,
 * -EEXIST), a tar_path that is missing (-ENOENT) or not a regular file,
 * absolute paths, "..", links escaping the root, device nodes, paths
 * deeper than 256 components or longer than 4095 bytes (-EPERM), unreadable
 * archives or image configs (-EBADMSG) and more than max_bytes unpacked
 * (-EFBIG); -ENOSPC, -EBUSY as above. Content already unpacked under
 * another name is shared, not unpacked again. */
int rt_ingest(const char *data, const char *tar_path, const char *name, const char *source,
	      uint64_t max_bytes, rt_info *out, char *err, size_t errlen);
/* rt_ingest's flags for rt_ingest_flags. RT_NO_ARCHIVE: keep no copy of
 * the tarball beside the tree (a node, which never serves one). */
#define RT_NO_ARCHIVE 1u
#define RT_ARCHIVE "archive" /* its file name in DATA/runtimes/<sha256>/ */
/* rt_ingest with flags; rt_ingest is rt_ingest_flags(..., 0, ...). Unless
 * RT_NO_ARCHIVE, the tarball is copied into the staging dir (hashed as it
 * is copied) and the tree unpacked from that copy: the archive kept is
 * exactly the content of the tree's hash (-EBUSY when the file changed
 * between the two reads). The server's disk holds each image twice. */
int rt_ingest_flags(const char *data, const char *tar_path, const char *name, const char *source,
		    uint64_t max_bytes, unsigned flags, rt_info *out, char *err, size_t errlen);
/* Opens the kept tarball of the image tree sha (the SHA-256 of that
 * tarball): *fd (read-only; the caller closes it) and *size. -EINVAL for
 * a sha that is not 64 lowercase hex digits, -ENOENT when no tree or no
 * archive of it is kept, another -errno on I/O errors. */
int rt_archive_open(const char *data, const char *sha, int *fd, uint64_t *size);
/* Registers the virtual environment dir as name. -EINVAL when dir has no
 * pyvenv.cfg or when its interpreter (bin/python3 resolved, and the
 * pyvenv.cfg `home`) lies outside what the sandbox shows a venv job: the
 * host's /usr, /bin, /sbin, /lib* and the venv itself; -EEXIST, -EBUSY. */
int rt_register_venv(const char *data, const char *name, const char *dir, rt_info *out,
		     char *err, size_t errlen);
/* A JSON array of rt_info objects (rt_info_json), host first, then by
 * name; unreadable records are left out. -ENOMEM. */
int rt_list(const char *data, json_t **out, char *err, size_t errlen);
/* Removes the record, and the tree when no other record uses it. -ENOENT,
 * -EPERM for host, -EBUSY, -errno when the record cannot be unlinked. */
int rt_remove(const char *data, const char *name, char *err, size_t errlen);
/* Tarballs in incoming/ whose content is not registered under any name:
 * a JSON array of {"file", "bytes", "sha256"}. A file is hashed only when
 * new or changed since the last scan. -errno when incoming/ is unreadable,
 * -ENOMEM. */
int rt_scan(const char *data, json_t **out, char *err, size_t errlen);
/* Path of the drop folder (caller frees). */
char *rt_incoming_dir(const char *data);

/* ---- HTTP (rt_http.c, the only file of the module that knows http/ and
 * auth/) ----
 * Calls rt_init, appends the routes to out (at most max) and returns how
 * many. data is borrowed and must outlive the server. Uploads are spooled
 * to a file by the HTTP layer, capped at RT_UPLOAD_MAX. */
#define RT_UPLOAD_MAX ((size_t)RT_DEFAULT_MAX_BYTES)
struct http_route;
size_t rt_routes(const char *data, struct http_route *out, size_t max);
#endif
