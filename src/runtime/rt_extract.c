/* Safe extraction of image tarballs with libarchive.
 *
 * Invariants:
 * 1. Every path we create or remove is resolved with openat2(RESOLVE_IN_ROOT)
 *    for its parent directory and acted on with *at() calls on its last
 *    component, which never follow a symlink. So no entry — and no symlink
 *    planted by an earlier entry or layer — can make us touch anything
 *    outside the root: symlinks resolve as they will inside the sandbox.
 * 2. Member names that are absolute or contain "..", link targets that
 *    climb above the root, hard links to names outside the root, device
 *    nodes, more than RT_MAX_ENTRIES entries and more than the byte budget
 *    are refused with -EPERM (or -EFBIG for size): the whole archive fails.
 * 3. setuid/setgid bits are dropped; ownership is kept when we are root.
 * 4. A layer's whiteouts (.wh.NAME, .wh..wh..opq) are applied in a pass over
 *    its headers before its files are written, so they only ever delete
 *    what lower layers put there. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <jansson.h>
#include "base/mem.h"
#include "runtime/rt_archive.h"
#include "runtime/rt_int.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define MANIFEST_MAX (1 << 20)

struct ctx {
	int root;
	uint64_t budget;   /* bytes left */
	uint64_t used;
	size_t entries;
	int is_root_user;
	char *err;
	size_t errlen;
};

static int refuse(struct ctx *c, int rc, const char *what, const char *name)
{
	snprintf(c->err, c->errlen, "%s: %s", what, name);
	return rc;
}

int rt_norm_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	if (in[0] == '/')
		return -EPERM;
	for (const char *p = in; *p;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EPERM;
		if (n && !(n == 1 && p[0] == '.')) {
			if (o + n + 2 > outlen)
				return -ENAMETOOLONG;
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = *e ? e + 1 : e;
	}
	out[o] = '\0';
	return o ? 0 : 1;
}

/* A relative symlink target must stay within the root when followed from
 * the link's directory (dir_depth components deep). */
static int link_escapes(const char *target, int dir_depth)
{
	if (target[0] == '/')
		return 0; /* absolute: resolved inside the root when used */
	int depth = dir_depth;
	for (const char *p = target; *p;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return 1;
		} else if (n && !(n == 1 && p[0] == '.')) {
			depth++;
		}
		p = *e ? e + 1 : e;
	}
	return 0;
}

static int open_in_root(int root, const char *path)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	long fd = syscall(SYS_openat2, root, path[0] ? path : ".", &how, sizeof how);
	return fd < 0 ? -errno : (int)fd;
}

/* Splits norm into its parent (in dir) and last component (returned). */
static const char *split(const char *norm, char *dir, size_t dirlen)
{
	const char *slash = strrchr(norm, '/');
	size_t n = slash ? (size_t)(slash - norm) : 0;
	snprintf(dir, dirlen, "%.*s", (int)n, norm);
	return slash ? slash + 1 : norm;
}

/* The parent directory of norm, created (0755) when missing. */
static int parent_fd(struct ctx *c, const char *norm, int create)
{
	char dir[PATH_MAX];
	split(norm, dir, sizeof dir);
	int fd = open_in_root(c->root, dir);
	if (fd != -ENOENT || !create || !dir[0])
		return fd;
	int pfd = parent_fd(c, dir, 1);
	if (pfd < 0)
		return pfd;
	char tmp[PATH_MAX];
	const char *base = split(dir, tmp, sizeof tmp);
	int rc = mkdirat(pfd, base, 0755) && errno != EEXIST ? -errno : 0;
	close(pfd);
	return rc ? rc : open_in_root(c->root, dir);
}

static int rm_dir_contents(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;
	if (!d) {
		close(dfd);
		return -errno;
	}
	while ((e = readdir(d)) && !rc)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = rt_rm_tree(dirfd(d), e->d_name);
	closedir(d);
	return rc;
}

int rt_rm_tree(int dirfd, const char *name)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int rc = rm_dir_contents(fd);
		if (rc)
			return rc;
		return unlinkat(dirfd, name, AT_REMOVEDIR) ? -errno : 0;
	}
	return unlinkat(dirfd, name, 0) && errno != ENOENT ? -errno : 0;
}

static int charge(struct ctx *c, uint64_t n, const char *name)
{
	if (n > c->budget)
		return refuse(c, -EFBIG, "archive exceeds the size limit at", name);
	c->budget -= n;
	c->used += n;
	return 0;
}

static int write_data(struct ctx *c, struct archive *a, int fd, const char *name)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		int rc = charge(c, len, name);
		if (rc)
			return rc;
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			return refuse(c, -errno, "write failed for", name);
	}
	if (r != ARCHIVE_EOF)
		return refuse(c, -EIO, archive_error_string(a) ? archive_error_string(a) : "read error",
			      name);
	return 0;
}

static void set_meta(struct ctx *c, int pfd, const char *base, struct archive_entry *e, int fd)
{
	mode_t mode = archive_entry_perm(e) & 01777;
	if (c->is_root_user)
		fchownat(pfd, base, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
			 AT_SYMLINK_NOFOLLOW);
	if (fd >= 0) {
		fchmod(fd, mode);
		struct timespec ts[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
		futimens(fd, ts);
	} else if (archive_entry_filetype(e) == AE_IFDIR) {
		fchmodat(pfd, base, mode, 0);
	}
}

/* Makes room for a new entry: removes what is there, except a directory
 * that an entry for a directory keeps (tar order: dir, then contents). */
static int clear_slot(int pfd, const char *base, int keep_dir)
{
	struct stat st;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW))
		return 0;
	if (keep_dir && S_ISDIR(st.st_mode))
		return 1;
	return rt_rm_tree(pfd, base);
}

static int extract_entry(struct ctx *c, struct archive *a, struct archive_entry *e,
			 const char *norm)
{
	char dir[PATH_MAX];
	const char *base = split(norm, dir, sizeof dir);
	const char *hl = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	char lnorm[PATH_MAX];
	int rc, fd = -1;
	if (!hl && (type == AE_IFCHR || type == AE_IFBLK))
		return refuse(c, -EPERM, "device node refused", norm);
	if (hl && rt_norm_path(hl, lnorm, sizeof lnorm) != 0)
		return refuse(c, -EPERM, "hard link target outside the root", hl);
	if (!hl && type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		int depth = 0;
		for (const char *p = norm; *p; p++)
			depth += *p == '/';
		if (!t || !*t || link_escapes(t, depth))
			return refuse(c, -EPERM, "symlink pointing outside the root", norm);
	}
	int pfd = parent_fd(c, norm, 1);
	if (pfd < 0)
		return refuse(c, pfd, "cannot resolve the parent of", norm);
	rc = clear_slot(pfd, base, type == AE_IFDIR && !hl);
	if (rc < 0)
		goto fail;
	if (hl) {
		char ldir[PATH_MAX];
		const char *lbase = split(lnorm, ldir, sizeof ldir);
		int lfd = open_in_root(c->root, ldir);
		rc = lfd < 0 ? lfd : linkat(lfd, lbase, pfd, base, 0) ? -errno : 0;
		if (lfd >= 0)
			close(lfd);
	} else if (type == AE_IFDIR) {
		rc = rc == 1 || !mkdirat(pfd, base, 0755) ? 0 : -errno;
		if (!rc)
			set_meta(c, pfd, base, e, -1);
	} else if (type == AE_IFLNK) {
		rc = symlinkat(archive_entry_symlink(e), pfd, base) ? -errno : 0;
		if (!rc)
			set_meta(c, pfd, base, e, -1);
	} else if (type == AE_IFIFO) {
		rc = mkfifoat(pfd, base, archive_entry_perm(e) & 0777) ? -errno : 0;
	} else if (type == AE_IFREG) {
		if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > c->budget) {
			rc = refuse(c, -EFBIG, "archive exceeds the size limit at", norm);
			goto out;
		}
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		rc = fd < 0 ? -errno : write_data(c, a, fd, norm);
		if (!rc)
			set_meta(c, pfd, base, e, fd);
		if (rc)
			goto out;
	} else {
		rc = 0; /* sockets and the like: nothing to create */
	}
fail:
	if (rc < 0 && !c->err[0])
		refuse(c, rc, strerror(-rc), norm);
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return rc < 0 ? rc : 0;
}

/* Pass 1 of a layer (invariant 4): apply its whiteouts. */
static int whiteout(struct ctx *c, const char *norm)
{
	char dir[PATH_MAX];
	const char *base = split(norm, dir, sizeof dir);
	int pfd = open_in_root(c->root, dir);
	int rc = 0;
	if (pfd == -ENOENT || pfd == -ENOTDIR)
		return 0;
	if (pfd < 0)
		return refuse(c, pfd, "cannot resolve whiteout", norm);
	if (strcmp(base, WH_OPAQUE) == 0) {
		int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = dfd < 0 ? -errno : rm_dir_contents(dfd);
	} else {
		const char *victim = base + strlen(WH_PREFIX);
		/* ".wh.." or ".wh..." would name the directory or its parent. */
		if (!victim[0] || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0) {
			close(pfd);
			return refuse(c, -EPERM, "whiteout naming no file refused", norm);
		}
		rc = rt_rm_tree(pfd, victim);
	}
	close(pfd);
	return rc ? refuse(c, rc, "cannot apply whiteout", norm) : 0;
}

static int is_whiteout(const char *norm)
{
	const char *b = strrchr(norm, '/');
	return strncmp(b ? b + 1 : norm, WH_PREFIX, strlen(WH_PREFIX)) == 0;
}

typedef int (*open_fn)(struct archive *a, void *arg);

static struct archive *new_reader(void)
{
	if (rt_ar_load(NULL, 0))
		return NULL;
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_filter_all(a);
	archive_read_support_format_tar(a);
	return a;
}

/* One pass over an archive; whiteouts: 1 = apply only them, 0 = skip them
 * (extract the rest), -1 = plain archive (no whiteout semantics). */
static int pass(struct ctx *c, open_fn op, void *arg, int whiteouts)
{
	struct archive *a = new_reader();
	struct archive_entry *e;
	char norm[PATH_MAX];
	if (!a) {
		char why[300];
		rt_ar_load(why, sizeof why);
		return refuse(c, -ENOSYS, "cannot read archives", why);
	}
	int rc = op(a, arg), r;
	if (rc) {
		rc = refuse(c, -EINVAL, "not a readable archive", archive_error_string(a) ?
			    archive_error_string(a) : "?");
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
	       r == ARCHIVE_WARN) {
		const char *name = archive_entry_pathname(e);
		if (!name)
			continue;
		if (++c->entries > RT_MAX_ENTRIES) {
			rc = refuse(c, -EFBIG, "too many entries in", "archive");
			goto out;
		}
		rc = rt_norm_path(name, norm, sizeof norm);
		if (rc < 0) {
			rc = refuse(c, -EPERM, "member path refused (absolute or '..')", name);
			goto out;
		}
		if (rc == 1) {
			rc = 0;
			continue;
		}
		int wh = whiteouts >= 0 && is_whiteout(norm);
		if (whiteouts == 1)
			rc = wh ? whiteout(c, norm) : 0;
		else if (!wh)
			rc = charge(c, RT_ENTRY_COST, norm) ? -EFBIG : extract_entry(c, a, e, norm);
		if (rc)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rc = refuse(c, -EINVAL, "corrupt archive", archive_error_string(a) ?
			    archive_error_string(a) : "?");
out:
	archive_read_free(a);
	return rc;
}

struct mem_src {
	const void *data;
	size_t n;
};

static int open_mem(struct archive *a, void *arg)
{
	struct mem_src *m = arg;
	return archive_read_open_memory(a, m->data, m->n) == ARCHIVE_OK ? 0 : -1;
}

static int open_fd(struct archive *a, void *arg)
{
	return archive_read_open_fd(a, *(int *)arg, 64 * 1024) == ARCHIVE_OK ? 0 : -1;
}

static int open_path(struct archive *a, void *arg)
{
	return archive_read_open_filename(a, arg, 64 * 1024) == ARCHIVE_OK ? 0 : -1;
}

static void ctx_init(struct ctx *c, int root, uint64_t max, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	c->root = root;
	c->budget = max;
	c->is_root_user = geteuid() == 0;
	c->err = err;
	c->errlen = errlen;
	err[0] = '\0';
}

int rt_extract_mem(const void *data, size_t n, int root, int layer, uint64_t max_bytes,
		   char *err, size_t errlen)
{
	struct ctx c;
	struct mem_src m = { data, n };
	ctx_init(&c, root, max_bytes, err, errlen);
	int rc = layer ? pass(&c, open_mem, &m, 1) : 0;
	return rc ? rc : pass(&c, open_mem, &m, layer ? 0 : -1);
}

/* Is there a top-level manifest.json? (docker save) */
static int has_manifest(const char *path)
{
	struct archive *a = new_reader();
	struct archive_entry *e;
	char norm[PATH_MAX];
	int found = 0;
	if (!a)
		return 0;
	if (archive_read_open_filename(a, path, 64 * 1024) == ARCHIVE_OK)
		while (!found && archive_read_next_header(a, &e) == ARCHIVE_OK)
			found = archive_entry_pathname(e) &&
				rt_norm_path(archive_entry_pathname(e), norm, sizeof norm) == 0 &&
				strcmp(norm, "manifest.json") == 0;
	archive_read_free(a);
	return found;
}

/* Opens a file named by the archive (a layer) inside the unpacked outer
 * archive, never outside it. */
static int open_member(int outer, const char *name)
{
	char norm[PATH_MAX], dir[PATH_MAX];
	if (rt_norm_path(name, norm, sizeof norm) != 0)
		return -EPERM;
	const char *base = split(norm, dir, sizeof dir);
	int dfd = open_in_root(outer, dir);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = fd < 0 ? -errno : fd;
	close(dfd);
	return rc;
}

static int apply_layers(struct ctx *c, int outer)
{
	char *text = NULL;
	json_t *m = NULL;
	int rc, fd = open_member(outer, "manifest.json");
	if (fd < 0)
		return refuse(c, fd, "docker archive without a readable", "manifest.json");
	text = xmalloc(MANIFEST_MAX + 1);
	ssize_t n = read(fd, text, MANIFEST_MAX + 1);
	close(fd);
	if (n < 0 || n > MANIFEST_MAX) {
		rc = refuse(c, -EINVAL, "manifest.json unreadable or over 1 MiB", "manifest.json");
		goto out;
	}
	m = json_loadb(text, (size_t)n, 0, NULL);
	json_t *layers = json_object_get(json_array_get(m, 0), "Layers");
	if (!json_is_array(layers) || !json_array_size(layers)) {
		rc = refuse(c, -EINVAL, "manifest.json has no", "Layers");
		goto out;
	}
	size_t i;
	json_t *l;
	rc = 0;
	json_array_foreach(layers, i, l) {
		if (!json_is_string(l)) {
			rc = refuse(c, -EINVAL, "manifest.json: a layer is not a", "string");
			break;
		}
		for (int p = 1; p >= 0 && !rc; p--) {
			int lfd = open_member(outer, json_string_value(l));
			if (lfd < 0) {
				rc = refuse(c, lfd, "missing layer", json_string_value(l));
				break;
			}
			rc = pass(c, open_fd, &lfd, p);
			close(lfd);
		}
		if (rc)
			break;
	}
out:
	json_decref(m);
	free(text);
	return rc;
}

int rt_unpack_file(const char *path, const char *dest, uint64_t max_bytes, uint64_t *bytes,
		   char *err, size_t errlen)
{
	struct ctx c, oc;
	int root = -1, outer = -1, rc;
	char *outer_dir = xasprintf("%s.outer", dest);
	ctx_init(&c, -1, max_bytes, err, errlen);
	root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		rc = refuse(&c, -errno, strerror(errno), dest);
		goto out;
	}
	c.root = root;
	if (!has_manifest(path)) {
		rc = pass(&c, open_path, (void *)path, -1);
		goto out;
	}
	/* docker save: unpack the outer archive beside dest, then its layers. */
	if (mkdir(outer_dir, 0700) || (outer = open(outer_dir, O_RDONLY | O_DIRECTORY |
						    O_CLOEXEC)) < 0) {
		rc = refuse(&c, -errno, strerror(errno), outer_dir);
		goto out;
	}
	ctx_init(&oc, outer, max_bytes, err, errlen);
	rc = pass(&oc, open_path, (void *)path, -1);
	if (!rc)
		rc = apply_layers(&c, outer);
out:
	if (outer >= 0)
		close(outer);
	if (strchr(outer_dir, '/')) {
		char d[PATH_MAX];
		const char *b = split(outer_dir, d, sizeof d);
		int dfd = open(d[0] ? d : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			rt_rm_tree(dfd, b);
			close(dfd);
		}
	} else {
		rt_rm_tree(AT_FDCWD, outer_dir);
	}
	if (root >= 0)
		close(root);
	free(outer_dir);
	*bytes = c.used;
	return rc;
}
