/* Safe extraction of image tarballs with libarchive.
 *
 * Invariants:
 * 1. Every path we create or remove is resolved with openat2(RESOLVE_IN_ROOT)
 *    for its parent directory (or walked one real directory at a time with
 *    O_NOFOLLOW, falling back to openat2 at the first symlink) and acted on
 *    with *at() calls on its last component, which never follow a symlink.
 *    So no entry — and no symlink planted by an earlier entry or layer — can
 *    make us touch anything outside the root: symlinks resolve as they will
 *    inside the sandbox.
 * 2. Member names that are absolute or contain "..", link targets that
 *    climb above the root, hard links to names outside the root, device
 *    nodes, paths deeper than RT_DEPTH_MAX or longer than RT_PATH_MAX are
 *    refused with -EPERM; more than RT_MAX_ENTRIES entries or the byte
 *    budget with -EFBIG: the whole archive fails (error classes: rt_int.h).
 * 3. setuid/setgid bits are dropped; ownership is kept when we are root.
 * 4. A layer's whiteouts (.wh.NAME, .wh..wh..opq) are applied in a pass over
 *    its headers before its files are written, so they only ever delete
 *    what lower layers put there.
 * 5. Nothing here recurses on archive content and nothing can block
 *    forever: only regular files are ever opened for reading (O_NONBLOCK,
 *    then fstat), so a FIFO in an archive is refused, not waited on.
 *
 * 6. The image config is read from the manifest's Config file and checked
 *    (types, sizes, K=V, an absolute WorkingDir) before any layer is
 *    applied: a bad one refuses the archive (-EBADMSG).
 *
 * Flow: rt_unpack_fd -> has_manifest ? (pass over the outer archive into
 * dest.outer, then apply_layers: read_config, per layer pass(whiteouts =
 * 1), pass(0), make_workdir) : pass(-1); then rt_tree_bytes. pass ->
 * extract_entry | whiteout for each header. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <fts.h>
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

_Static_assert(RT_PATH_MAX <= PATH_MAX, "a normalised path fits the kernel's limit");

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

/* A failed system call while applying an entry. Most errnos here are caused
 * by the archive's content (a parent that is a file, a hard link to a
 * missing name or through a dangling symlink, a directory mode that forbids
 * writing into it) and refuse the archive (-EPERM, 422); a full disk is
 * -ENOSPC (507); only faults of the machine stay as they are (500). */
static int fs_fail(struct ctx *c, int rc, const char *what, const char *name)
{
	switch (-rc) {
	case ENOSPC:
	case EDQUOT:
		rc = -ENOSPC;
		break;
	case ENOMEM:
	case EIO:
	case EMFILE:
	case ENFILE:
	case EROFS:
	case EFBIG:
		break;
	default:
		snprintf(c->err, c->errlen, "%s %s: %s", what, name, strerror(-rc));
		return -EPERM;
	}
	snprintf(c->err, c->errlen, "%s %s: %s", what, name, strerror(-rc));
	return rc;
}

int rt_norm_path(const char *in, char *out, size_t outlen)
{
	size_t o = 0, depth = 0;
	if (in[0] == '/')
		return -EPERM;
	for (const char *p = in; *p;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.')
			return -EPERM;
		if (n && !(n == 1 && p[0] == '.')) {
			if (++depth > RT_DEPTH_MAX || n + 2 > outlen - o)
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

static int charge(struct ctx *c, uint64_t n, const char *name)
{
	if (n > c->budget)
		return refuse(c, -EFBIG, "archive exceeds the size limit at", name);
	c->budget -= n;
	c->used += n;
	return 0;
}

/* Every inode (entry or implied directory) costs RT_ENTRY_COST, and there
 * are at most RT_MAX_ENTRIES of them. */
static int charge_entry(struct ctx *c, const char *name)
{
	if (++c->entries > RT_MAX_ENTRIES)
		return refuse(c, -EFBIG, "too many entries in the archive at", name);
	return charge(c, RT_ENTRY_COST, name);
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

/* One step of parent_fd's walk: the directory name under cur (whose path
 * from the root is prefix), created when missing. A real directory is
 * opened without following anything; at a symlink (or anything else) the
 * prefix is resolved as a whole inside the root (invariant 1). */
static int step_into(struct ctx *c, int cur, const char *name, const char *prefix)
{
	int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT) {
		/* A directory the archive implies costs an inode like an entry. */
		if (charge_entry(c, prefix))
			return -EFBIG;
		if (mkdirat(cur, name, 0755) && errno != EEXIST)
			return -errno;
	}
	return open_in_root(c->root, prefix);
}

/* The parent directory of norm, its missing ancestors created (0755).
 * Iterative, one descriptor held at a time: norm has at most RT_DEPTH_MAX
 * components, so the walk is bounded and no stack grows with the path. */
static int parent_fd(struct ctx *c, const char *norm)
{
	char dir[RT_PATH_MAX];
	split(norm, dir, sizeof dir);
	int cur = open_in_root(c->root, dir);
	if (cur != -ENOENT || !dir[0])
		return cur;
	cur = open_in_root(c->root, "");
	for (char *p = dir; cur >= 0 && *p;) {
		char *e = strchrnul(p, '/'), sep = *e;
		*e = '\0'; /* dir is now the prefix up to and including p */
		int next = step_into(c, cur, p, dir);
		*e = sep;
		close(cur);
		cur = next;
		p = sep ? e + 1 : e;
	}
	return cur;
}

/* Unlinks every entry of the directory fd except subdirectories; *sub gets
 * the name of the first subdirectory left (caller frees) or NULL when the
 * directory is now empty. fd stays open. */
static int clear_files(int fd, char **sub)
{
	int dfd = dup(fd), rc = 0;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *e;
	*sub = NULL;
	if (!d) {
		rc = -errno;
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	rewinddir(d);
	while (!rc && !*sub && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (!unlinkat(fd, e->d_name, 0) || errno == ENOENT)
			continue;
		if (errno == EISDIR || errno == EPERM)
			*sub = xstrdup(e->d_name);
		else
			rc = -errno;
	}
	closedir(d);
	return rc;
}

/* Depth-first removal with a heap stack of names and one descriptor: down
 * into the first subdirectory left, up through ".." once a directory is
 * empty. The tree is ours (a staging dir or an image nobody else writes),
 * so ".." is the directory we came from. */
int rt_rm_tree(int dirfd, const char *name)
{
	struct stat st;
	char **stack = NULL, *sub;
	size_t depth = 0, cap = 0;
	int fd, rc = 0;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW))
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dirfd, name, 0) && errno != ENOENT ? -errno : 0;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (!(rc = clear_files(fd, &sub))) {
		int next;
		if (sub) {
			next = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next < 0) {
				rc = -errno;
				free(sub);
				break;
			}
			if (depth == cap)
				stack = xrealloc(stack, (cap = cap ? 2 * cap : 16) * sizeof *stack);
			stack[depth++] = sub;
		} else if (depth) {
			next = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (next < 0) {
				rc = -errno;
				break;
			}
			sub = stack[--depth];
			rc = unlinkat(next, sub, AT_REMOVEDIR) && errno != ENOENT ? -errno : 0;
			free(sub);
		} else {
			break;
		}
		close(fd);
		fd = next;
		if (rc)
			break;
	}
	close(fd);
	while (depth)
		free(stack[--depth]);
	free(stack);
	if (!rc && unlinkat(dirfd, name, AT_REMOVEDIR) && errno != ENOENT)
		rc = -errno;
	return rc;
}

/* Empties the directory dfd (closed here). */
static int rm_dir_contents(int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int rc = 0;
	if (!d) {
		rc = -errno;
		close(dfd);
		return rc;
	}
	while (!rc && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			rc = rt_rm_tree(dirfd(d), e->d_name);
	closedir(d);
	return rc;
}

/* Writes an entry's data blocks at their offsets (sparse members leave
 * holes), then sets the file's size: a member that ends in a hole has no
 * block there, and must still get its full size. Blocks must lie within
 * the declared size; the logical size is what the budget is charged. */
static int write_data(struct ctx *c, struct archive *a, struct archive_entry *e, int fd,
		      const char *name)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	uint64_t charged = 0, size = UINT64_MAX;
	int r, rc;
	if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0)
		size = (uint64_t)archive_entry_size(e);
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off < 0 || (uint64_t)off > size || len > size - (uint64_t)off)
			return refuse(c, -EBADMSG, "data beyond the member's size in", name);
		if ((rc = charge(c, len, name)))
			return rc;
		charged += len;
		ssize_t w = len ? pwrite(fd, buf, len, off) : 0;
		if (w < 0 || (size_t)w != len) /* short: the file system is full */
			return fs_fail(c, w < 0 ? -errno : -ENOSPC, "write failed for", name);
	}
	if (r != ARCHIVE_EOF)
		return refuse(c, -EBADMSG, archive_error_string(a) ? archive_error_string(a) :
			      "read error", name);
	if (size == UINT64_MAX)
		return 0;
	if (size > charged && (rc = charge(c, size - charged, name)))
		return rc;
	return ftruncate(fd, (off_t)size) ? fs_fail(c, -errno, "cannot size", name) : 0;
}

static void set_meta(struct ctx *c, int pfd, const char *base, struct archive_entry *e, int fd)
{
	mode_t mode = archive_entry_perm(e) & 01777;
	/* Best effort, like tar: a mode or owner that cannot be set does not
	 * fail the image. */
	if (c->is_root_user)
		(void)!fchownat(pfd, base, (uid_t)archive_entry_uid(e),
				(gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW);
	if (fd >= 0) {
		(void)!fchmod(fd, mode);
		struct timespec ts[2] = { { archive_entry_mtime(e), 0 }, { archive_entry_mtime(e), 0 } };
		(void)!futimens(fd, ts);
	} else if (archive_entry_filetype(e) == AE_IFDIR) {
		(void)!fchmodat(pfd, base, mode, 0);
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

/* A hard link to lnorm, an earlier member: its parent resolves inside the
 * root like any path (invariant 1), and linkat never follows the last
 * component, so a link to a symlink links the symlink itself. */
static int make_hardlink(struct ctx *c, const char *lnorm, int pfd, const char *base)
{
	char ldir[RT_PATH_MAX];
	const char *lbase = split(lnorm, ldir, sizeof ldir);
	int lfd = open_in_root(c->root, ldir);
	if (lfd < 0)
		return fs_fail(c, lfd, "cannot resolve the hard link target", lnorm);
	int rc = linkat(lfd, lbase, pfd, base, 0) ? fs_fail(c, -errno, "cannot hard link to",
							      lnorm) : 0;
	close(lfd);
	return rc;
}

static int extract_entry(struct ctx *c, struct archive *a, struct archive_entry *e,
			 const char *norm)
{
	char dir[RT_PATH_MAX], lnorm[RT_PATH_MAX];
	const char *base = split(norm, dir, sizeof dir);
	const char *hl = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	int rc, fd = -1, pfd;
	if (!hl && (type == AE_IFCHR || type == AE_IFBLK))
		return refuse(c, -EPERM, "device node refused", norm);
	if (hl && (rc = rt_norm_path(hl, lnorm, sizeof lnorm)) != 0)
		return refuse(c, -EPERM, rc == -ENAMETOOLONG ? "hard link target too long or too deep"
			      : "hard link target outside the root", hl);
	if (!hl && type == AE_IFLNK) {
		const char *t = archive_entry_symlink(e);
		int depth = 0;
		for (const char *p = norm; *p; p++)
			depth += *p == '/';
		if (!t || !*t || link_escapes(t, depth))
			return refuse(c, -EPERM, "symlink pointing outside the root", norm);
	}
	pfd = parent_fd(c, norm);
	if (pfd == -EFBIG)
		return pfd;
	if (pfd < 0)
		return fs_fail(c, pfd, "cannot resolve the parent of", norm);
	rc = clear_slot(pfd, base, type == AE_IFDIR && !hl);
	if (rc < 0) {
		rc = fs_fail(c, rc, "cannot replace", norm);
		goto out;
	}
	if (hl) {
		rc = make_hardlink(c, lnorm, pfd, base);
	} else if (type == AE_IFDIR) {
		rc = rc == 1 || !mkdirat(pfd, base, 0755) ? 0 : fs_fail(c, -errno, "mkdir", norm);
		if (!rc)
			set_meta(c, pfd, base, e, -1);
	} else if (type == AE_IFLNK) {
		rc = symlinkat(archive_entry_symlink(e), pfd, base) ? fs_fail(c, -errno, "symlink",
									      norm) : 0;
		if (!rc)
			set_meta(c, pfd, base, e, -1);
	} else if (type == AE_IFIFO) {
		rc = mkfifoat(pfd, base, archive_entry_perm(e) & 0777) ? fs_fail(c, -errno, "mkfifo",
										 norm) : 0;
	} else if (type == AE_IFREG) {
		if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > c->budget) {
			rc = refuse(c, -EFBIG, "archive exceeds the size limit at", norm);
			goto out;
		}
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		rc = fd < 0 ? fs_fail(c, -errno, "cannot create", norm) : write_data(c, a, e, fd, norm);
		if (!rc)
			set_meta(c, pfd, base, e, fd);
	} else {
		rc = 0; /* sockets and the like: nothing to create */
	}
out:
	if (fd >= 0)
		close(fd);
	close(pfd);
	return rc < 0 ? rc : 0;
}

/* Pass 1 of a layer (invariant 4): apply its whiteouts. */
static int whiteout(struct ctx *c, const char *norm)
{
	char dir[RT_PATH_MAX];
	const char *base = split(norm, dir, sizeof dir);
	int pfd = open_in_root(c->root, dir);
	int rc = 0;
	if (pfd == -ENOENT || pfd == -ENOTDIR)
		return 0;
	if (pfd < 0)
		return fs_fail(c, pfd, "cannot resolve whiteout", norm);
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
	return rc ? fs_fail(c, rc, "cannot apply whiteout", norm) : 0;
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

static const char *ar_why(struct archive *a)
{
	return archive_error_string(a) ? archive_error_string(a) : "?";
}

/* A member name, normalised into norm; 1 for the root itself. */
static int member_path(struct ctx *c, const char *name, char norm[RT_PATH_MAX])
{
	int rc = rt_norm_path(name, norm, RT_PATH_MAX);
	if (rc == -ENAMETOOLONG)
		return refuse(c, -EPERM, "member path too long or too deep (at most 4095 bytes and "
			      "256 components)", name);
	if (rc < 0)
		return refuse(c, -EPERM, "member path refused (absolute or '..')", name);
	return rc;
}

/* One pass over an archive; whiteouts: 1 = apply only them, 0 = skip them
 * (extract the rest), -1 = plain archive (no whiteout semantics). */
static int pass(struct ctx *c, open_fn op, void *arg, int whiteouts)
{
	struct archive *a = new_reader();
	struct archive_entry *e;
	char norm[RT_PATH_MAX];
	if (!a) {
		char why[300];
		rt_ar_load(why, sizeof why);
		return refuse(c, -ENOSYS, "cannot read archives", why);
	}
	int rc = op(a, arg), r;
	if (rc) {
		rc = refuse(c, -EBADMSG, "not a readable archive", ar_why(a));
		goto out;
	}
	/* Headers are counted per pass, whether or not they create anything:
	 * a pass reads at most RT_MAX_ENTRIES of them. */
	for (size_t n = 0; (r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN;) {
		const char *name = archive_entry_pathname(e);
		if (++n > RT_MAX_ENTRIES) {
			rc = refuse(c, -EFBIG, "too many entries in", "archive");
			goto out;
		}
		if (!name)
			continue;
		rc = member_path(c, name, norm);
		if (rc == 1) {
			rc = 0;
			continue;
		}
		if (rc)
			goto out;
		int wh = whiteouts >= 0 && is_whiteout(norm);
		if (whiteouts == 1)
			rc = wh ? whiteout(c, norm) : 0;
		else if (!wh)
			rc = charge_entry(c, norm) ? -EFBIG : extract_entry(c, a, e, norm);
		if (rc)
			goto out;
	}
	if (r != ARCHIVE_EOF)
		rc = refuse(c, -EBADMSG, "corrupt archive", ar_why(a));
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

/* Each pass reads the file from its start. libarchive never closes fd. */
static int open_fd(struct archive *a, void *arg)
{
	int fd = *(int *)arg;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return -1;
	return archive_read_open_fd(a, fd, 64 * 1024) == ARCHIVE_OK ? 0 : -1;
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

/* Is there a top-level manifest.json? (docker save) Reading the headers
 * means decompressing the data between them: stop once the members seen
 * exceed the budget (the extraction pass then refuses the archive). */
static int has_manifest(int fd, uint64_t max_bytes)
{
	struct archive *a = new_reader();
	struct archive_entry *e;
	char norm[RT_PATH_MAX];
	uint64_t seen = 0;
	size_t n = 0;
	int found = 0;
	if (!a)
		return 0;
	if (open_fd(a, &fd) == 0)
		while (!found && seen <= max_bytes && ++n <= RT_MAX_ENTRIES &&
		       archive_read_next_header(a, &e) == ARCHIVE_OK) {
			found = archive_entry_pathname(e) &&
				rt_norm_path(archive_entry_pathname(e), norm, sizeof norm) == 0 &&
				strcmp(norm, "manifest.json") == 0;
			if (archive_entry_size(e) > 0)
				seen += (uint64_t)archive_entry_size(e);
			seen += RT_ENTRY_COST;
		}
	archive_read_free(a);
	return found;
}

/* Opens a file named by the archive (a layer, the manifest) inside the
 * unpacked outer archive, never outside it, and only if it is a regular
 * file: O_NONBLOCK so that opening a FIFO cannot wait for a writer
 * (invariant 5). */
static int open_member(struct ctx *c, int outer, const char *name)
{
	char norm[RT_PATH_MAX], dir[RT_PATH_MAX];
	struct stat st;
	if (rt_norm_path(name, norm, sizeof norm) != 0)
		return refuse(c, -EPERM, "manifest.json names a file outside the archive", name);
	const char *base = split(norm, dir, sizeof dir);
	int dfd = open_in_root(outer, dir);
	if (dfd < 0)
		return dfd == -ENOENT ? refuse(c, -EBADMSG, "missing in the docker archive", name)
				      : fs_fail(c, dfd, "cannot open", name);
	int rc = 0, fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		rc = refuse(c, -EBADMSG, "missing in the docker archive", name);
	else if (fd < 0)
		rc = fs_fail(c, -errno, "cannot open", name);
	close(dfd);
	/* O_NONBLOCK may stay: it means nothing for a regular file. */
	if (!rc && (fstat(fd, &st) || !S_ISREG(st.st_mode)))
		rc = refuse(c, -EPERM, "not a regular file in the docker archive", name);
	if (rc && fd >= 0)
		close(fd);
	return rc ? rc : fd;
}

/* Reads the JSON file name of the outer archive (manifest.json, the image
 * config), whole, up to MANIFEST_MAX bytes. */
static int read_json_member(struct ctx *c, int outer, const char *name, json_t **out)
{
	char *text = xmalloc(MANIFEST_MAX + 1);
	size_t len = 0;
	ssize_t n = 1;
	int rc = 0, fd = open_member(c, outer, name);
	if (fd < 0) {
		free(text);
		return fd;
	}
	while (len <= MANIFEST_MAX && (n = read(fd, text + len, MANIFEST_MAX + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0)
		rc = fs_fail(c, -errno, "cannot read", name);
	else if (len > MANIFEST_MAX)
		rc = refuse(c, -EBADMSG, "over 1 MiB in the docker archive", name);
	else if (!(*out = json_loadb(text, len, 0, NULL)))
		rc = refuse(c, -EBADMSG, "not JSON in the docker archive", name);
	free(text);
	return rc;
}

/* An image config string is usable as an argument or environment entry:
 * no NUL inside (execve would cut it), bounded. */
static int config_str_ok(json_t *v)
{
	return json_is_string(v) && json_string_length(v) < RT_CONFIG_STR_MAX &&
	       strlen(json_string_value(v)) == json_string_length(v);
}

/* Copies the image config's list field (Env, Entrypoint, Cmd) into out as
 * key. Absent or null: the image does not set it. Env entries must be K=V. */
static int config_list(struct ctx *c, json_t *cfg, const char *field, const char *key,
		       json_t *out)
{
	json_t *v = json_object_get(cfg, field), *e, *copy;
	size_t i;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > RT_CONFIG_LIST_MAX)
		return refuse(c, -EBADMSG, "image config: not an array of at most 256 strings:",
			      field);
	if (!(copy = json_array()))
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		int env_ok = strcmp(key, "env") ||
			     (json_is_string(e) && json_string_value(e)[0] != '=' &&
			      strchr(json_string_value(e), '='));
		if (!config_str_ok(e) || !env_ok) {
			json_decref(copy);
			return refuse(c, -EBADMSG, "image config: a bad entry in", field);
		}
		if (json_array_append(copy, e)) {
			json_decref(copy);
			return -ENOMEM;
		}
	}
	return json_object_set_new(out, key, copy) ? -ENOMEM : 0;
}

/* WorkingDir: absolute, no "..", normalised ("/" for the root). */
static int config_workdir(struct ctx *c, json_t *cfg, json_t *out)
{
	json_t *v = json_object_get(cfg, "WorkingDir");
	char norm[RT_PATH_MAX];
	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_value(v)[0]))
		return 0;
	const char *wd = json_string_value(v);
	int rc = config_str_ok(v) && wd[0] == '/' ? rt_norm_path(wd + 1, norm, sizeof norm) : -1;
	if (rc < 0)
		return refuse(c, -EBADMSG, "image config: WorkingDir is not an absolute path "
			      "without '..':", wd ? wd : "(not a string)");
	json_t *j = rc == 1 ? json_string("/") : json_sprintf("/%s", norm);
	return json_object_set_new(out, "working_dir", j) ? -ENOMEM : 0;
}

/* The Config file named by the manifest, in the record's form (rt_int.h);
 * *out stays NULL when the manifest names none. */
static int read_config(struct ctx *c, int outer, json_t *manifest, json_t **out)
{
	json_t *name = json_object_get(json_array_get(manifest, 0), "Config"), *doc = NULL, *j;
	int rc;
	if (!name)
		return 0;
	if (!config_str_ok(name))
		return refuse(c, -EBADMSG, "manifest.json: Config is not a", "string");
	if ((rc = read_json_member(c, outer, json_string_value(name), &doc)))
		return rc;
	json_t *cfg = json_object_get(doc, "config");
	if (!(j = json_object()))
		rc = -ENOMEM;
	else if (cfg && !json_is_object(cfg))
		rc = refuse(c, -EBADMSG, "image config: not an object:", "config");
	if (!rc && cfg && !(rc = config_list(c, cfg, "Env", "env", j)) &&
	    !(rc = config_list(c, cfg, "Entrypoint", "entrypoint", j)) &&
	    !(rc = config_list(c, cfg, "Cmd", "cmd", j)))
		rc = config_workdir(c, cfg, j);
	if (rc == -ENOMEM)
		snprintf(c->err, c->errlen, "out of memory reading the image config");
	json_decref(doc);
	if (rc)
		json_decref(j);
	else
		*out = j;
	return rc;
}

/* The image's WorkingDir exists in the tree: the sandbox starts the job
 * there and the tree is read-only then (docker creates it the same way). */
static int make_workdir(struct ctx *c, json_t *config)
{
	const char *wd = json_string_value(json_object_get(config, "working_dir"));
	char norm[RT_PATH_MAX], dir[RT_PATH_MAX];
	if (!wd || rt_norm_path(wd + 1, norm, sizeof norm) != 0)
		return 0; /* unset, or "/" */
	const char *base = split(norm, dir, sizeof dir);
	int pfd = parent_fd(c, norm), rc = 0;
	if (pfd == -EFBIG)
		return pfd;
	if (pfd < 0)
		return fs_fail(c, pfd, "cannot resolve the WorkingDir", wd);
	if (mkdirat(pfd, base, 0755) && errno != EEXIST)
		rc = fs_fail(c, -errno, "cannot create the WorkingDir", wd);
	close(pfd);
	return rc;
}

static int apply_layers(struct ctx *c, int outer, json_t **config)
{
	json_t *m = NULL, *l;
	size_t i;
	int rc = read_json_member(c, outer, "manifest.json", &m);
	if (rc)
		return rc;
	json_t *layers = json_object_get(json_array_get(m, 0), "Layers");
	if (!json_is_array(layers) || !json_array_size(layers)) {
		rc = refuse(c, -EBADMSG, "manifest.json has no", "Layers");
		goto out;
	}
	/* Before the layers: a bad config fails the archive cheaply. */
	if ((rc = read_config(c, outer, m, config)))
		goto out;
	json_array_foreach(layers, i, l) {
		if (!json_is_string(l)) {
			rc = refuse(c, -EBADMSG, "manifest.json: a layer is not a", "string");
			break;
		}
		int lfd = open_member(c, outer, json_string_value(l));
		if (lfd < 0) {
			rc = lfd;
			break;
		}
		rc = pass(c, open_fd, &lfd, 1);
		if (!rc)
			rc = pass(c, open_fd, &lfd, 0);
		close(lfd);
		if (rc)
			break;
	}
	if (!rc)
		rc = make_workdir(c, *config);
out:
	json_decref(m);
	return rc;
}

struct linked {
	ino_t ino;
	uint64_t size;
};

static int cmp_ino(const void *a, const void *b)
{
	ino_t x = ((const struct linked *)a)->ino, y = ((const struct linked *)b)->ino;
	return x < y ? -1 : x > y;
}

int rt_tree_bytes(const char *dir, uint64_t *bytes)
{
	char *paths[] = { (char *)dir, NULL };
	/* fts keeps its walk on the heap, not our stack; FTS_PHYSICAL: links
	 * are not followed; a tree is one file system (FTS_XDEV). */
	FTS *f = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR | FTS_XDEV, NULL);
	FTSENT *e;
	struct linked *l = NULL; /* inodes with several names: counted once */
	size_t n = 0, cap = 0;
	uint64_t sum = 0;
	int rc = 0;
	if (!f)
		return -errno;
	while (!rc && (e = fts_read(f))) {
		/* A directory the image made unreadable (mode 0, and we are not
		 * root) is left out of the size rather than failing the ingest. */
		if (e->fts_info == FTS_ERR || e->fts_info == FTS_NS)
			rc = -(e->fts_errno ? e->fts_errno : EIO);
		else if (e->fts_info == FTS_F && e->fts_statp->st_nlink > 1) {
			if (n == cap)
				l = xrealloc(l, (cap = cap ? 2 * cap : 64) * sizeof *l);
			l[n++] = (struct linked){ e->fts_statp->st_ino, (uint64_t)e->fts_statp->st_size };
		} else if (e->fts_info == FTS_F) {
			sum += (uint64_t)e->fts_statp->st_size;
		}
	}
	if (!rc && errno) /* fts_read's NULL: 0 at the end, else an error */
		rc = -errno;
	fts_close(f);
	if (n)
		qsort(l, n, sizeof *l, cmp_ino);
	for (size_t i = 0; i < n; i++)
		if (!i || l[i].ino != l[i - 1].ino)
			sum += l[i].size;
	free(l);
	*bytes = sum;
	return rc;
}

int rt_unpack_fd(int fd, const char *dest, uint64_t max_bytes, uint64_t *bytes, json_t **config,
		 char *err, size_t errlen)
{
	struct ctx c, oc;
	int root = -1, outer = -1, rc;
	char *outer_dir = xasprintf("%s.outer", dest);
	ctx_init(&c, -1, max_bytes, err, errlen);
	*config = NULL;
	*bytes = 0;
	root = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dest, strerror(-rc));
		goto out;
	}
	c.root = root;
	if (!has_manifest(fd, max_bytes)) {
		rc = pass(&c, open_fd, &fd, -1);
		goto size;
	}
	/* docker save: unpack the outer archive beside dest, then its layers. */
	if (mkdir(outer_dir, 0700) || (outer = open(outer_dir, O_RDONLY | O_DIRECTORY |
						    O_CLOEXEC)) < 0) {
		rc = fs_fail(&c, -errno, "cannot create", outer_dir);
		goto out;
	}
	ctx_init(&oc, outer, max_bytes, err, errlen);
	rc = pass(&oc, open_fd, &fd, -1);
	if (!rc)
		rc = apply_layers(&c, outer, config);
size:
	/* The budget's count includes per-entry costs and files that later
	 * layers replaced: the size reported is the tree's. */
	if (!rc && (rc = rt_tree_bytes(dest, bytes)))
		snprintf(err, errlen, "measuring %s: %s", dest, strerror(-rc));
out:
	if (rc) {
		json_decref(*config);
		*config = NULL;
	}
	if (outer >= 0)
		close(outer);
	rt_rm_tree(AT_FDCWD, outer_dir);
	if (root >= 0)
		close(root);
	free(outer_dir);
	return rc;
}
