/* The mount plan: built by the supervisor before clone, executed by the
 * child (sbx_child.c) without allocating. For the host runtime it binds
 * /usr, /bin, /sbin, /lib* read-only and writes a minimal /etc; for an
 * image it binds the tree's top-level entries; then come /proc, a minimal
 * /dev, the /tmp tmpfs, a venv, the work directory and the caller's binds.
 * Every destination is the path inside the sandbox: the child resolves it
 * from the new root's descriptor, never as a host path (sbx_child.c);
 * parents come before children. The plan also owns the job's argv and
 * environment, and the work directory's descriptor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "base/mem.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

#define ROOT_DIR "/run/sentinel-sandbox"
#define ROOT_DIR_USER "/tmp/.sentinel-sandbox"
#define BASE_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

static const char *const host_dirs[] = { "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32",
					 NULL };
/* Top-level entries of an image the sandbox provides itself. */
static const char *const image_skip[] = { ".", "..", "proc", "dev", "tmp", "sys", "work", NULL };
static const char *const devices[] = { "null", "zero", "full", "random", "urandom", NULL };


const char *sbx_plan_own(struct sbx_plan *p, char *s)
{
	p->strs = xrealloc(p->strs, (p->nstrs + 1) * sizeof *p->strs);
	p->strs[p->nstrs++] = s;
	return s;
}

void sbx_plan_add(struct sbx_plan *p, enum sbx_op_kind k, const char *src, const char *dst,
		const char *data, mode_t mode, int rw)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->ops = xrealloc(p->ops, p->cap * sizeof *p->ops);
	}
	p->ops[p->n++] = (struct sbx_op){
		.kind = k,
		.src = src ? sbx_plan_own(p, xstrdup(src)) : NULL,
		.src_fd = -1,
		.dst = sbx_plan_own(p, xstrdup(dst)),
		.data = data ? sbx_plan_own(p, xstrdup(data)) : NULL,
		.mode = mode,
		.rw = rw,
	};
}

/* Adds a SOP_DIR for every parent of dst (inside), outermost first. */
void sbx_plan_add_parents(struct sbx_plan *p, const char *dst)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s", dst);
	for (char *s = strchr(tmp + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		sbx_plan_add(p, SOP_DIR, NULL, tmp, NULL, 0755, 0);
		*s = '/';
	}
}

/* A bind of a host path: directory or file, by what it is. */
static int add_bind(struct sbx_plan *p, const char *src, const char *dst, int rw)
{
	struct stat st;
	if (stat(src, &st))
		return -errno;
	sbx_plan_add_parents(p, dst);
	sbx_plan_add(p, S_ISDIR(st.st_mode) ? SOP_BIND : SOP_FILE_BIND, src, dst, NULL, 0, rw);
	return 0;
}

/* A user namespace whose one uid and gid mapping puts the job's ids
 * (uid, gid) where the directory's owner (owner, group) is: an ID-mapped
 * mount through it shows the owner's files as the job's, and files the
 * job makes land on disk as the owner's. Made by a child that waits on a
 * pipe while its maps are written, as util-linux and crun do. */
static int idmap_userns(uid_t owner, gid_t group, uid_t uid, gid_t gid, int *out)
{
	int pfd[2], rc = 0, fd;
	char path[64], map[64];
	if (pipe2(pfd, O_CLOEXEC))
		return -errno;
	/* Raw clone: no atfork handlers; the child only reads and exits. */
	long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0) {
		char c;
		close(pfd[1]);
		ssize_t n = read(pfd[0], &c, 1);
		_exit(n < 0);
	}
	close(pfd[0]);
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	const char *files[] = { "uid_map", "gid_map" };
	unsigned ids[][2] = { { owner, uid }, { group, gid } };
	for (int i = 0; i < 2 && !rc; i++) {
		snprintf(path, sizeof path, "/proc/%ld/%s", pid, files[i]);
		snprintf(map, sizeof map, "%u %u 1\n", ids[i][0], ids[i][1]);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, map, strlen(map)) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	snprintf(path, sizeof path, "/proc/%ld/ns/user", pid);
	if (!rc && (*out = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = -errno;
out:
	close(pfd[1]); /* the child sees EOF and exits */
	if (pid > 0)
		while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
			;
	return rc;
}

/* As root the work directory's tree is cloned here, detached, from the
 * descriptor opened without following a last symlink: what the child
 * attaches is that very directory even if a user who owns the parent swaps
 * the name. A directory the job's uid does not own is ID-mapped to its
 * owner. Without root (a user namespace cannot clone host mounts) the
 * child binds the path only if its own O_NOFOLLOW open finds the same
 * directory. */
static int add_workdir(struct sbx_plan *p, const sbx_opts *o, char *err, size_t errlen)
{
	char *d = xstrdup(o->workdir);
	size_t n = strlen(d);
	int rc = 0, userns = -1;
	struct stat st;
	while (n > 1 && d[n - 1] == '/') /* a trailing slash would follow a symlink */
		d[--n] = '\0';
	p->workdir_fd = open(d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p->workdir_fd < 0 || fstat(p->workdir_fd, &st)) {
		rc = -errno;
		snprintf(err, errlen, "--workdir %s: %s", o->workdir,
			 rc == -ELOOP || rc == -ENOTDIR ? "is a symbolic link or not a directory"
							: strerror(-rc));
		goto out;
	}
	if (geteuid() != 0) {
		sbx_plan_add(p, SOP_BIND, d, "/work", NULL, 0, 1);
		p->ops[p->n - 1].src_fd = p->workdir_fd;
		goto out;
	}
	int mapped = st.st_uid != o->uid || st.st_gid != o->gid;
	if (mapped && (rc = idmap_userns(st.st_uid, st.st_gid, o->uid, o->gid, &userns))) {
		snprintf(err, errlen, "--workdir %s: user namespace for the ID mapping: %s",
			 o->workdir, strerror(-rc));
		goto out;
	}
	p->tree_fd = sbx_sys.clone_tree(p->workdir_fd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
					userns);
	if (p->tree_fd < 0) {
		rc = -errno;
		if (mapped && (rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP))
			snprintf(err, errlen, "--workdir %s (owner %u:%u, mode %04o): this kernel or "
				 "file system cannot make ID-mapped mounts (%s), which the job (uid "
				 "%u) needs to write there as the owner; chown the directory to "
				 "%u:%u, or use one on ext4, xfs or btrfs (Linux >= 5.12) or tmpfs "
				 "(Linux >= 6.3)", o->workdir, (unsigned)st.st_uid,
				 (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777), strerror(-rc),
				 (unsigned)o->uid, (unsigned)o->uid, (unsigned)o->gid);
		else
			snprintf(err, errlen, "--workdir %s: cannot clone its mount: %s", o->workdir,
				 strerror(-rc));
		goto out;
	}
	sbx_plan_add(p, SOP_TREE, d, "/work", NULL, 0, 1);
	p->ops[p->n - 1].src_fd = p->tree_fd;
out:
	if (userns >= 0)
		close(userns);
	free(d);
	return rc;
}

/* Copies a top-level entry of a tree: directories and files as read-only
 * binds, symlinks as symlinks (their text is resolved inside). */
static void add_entry(struct sbx_plan *p, const char *tree, const char *name, const char *dstdir)
{
	char src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX];
	struct stat st;
	snprintf(src, sizeof src, "%s/%s", tree, name);
	snprintf(dst, sizeof dst, "%s/%s", dstdir, name);
	if (lstat(src, &st))
		return;
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(src, link, sizeof link - 1);
		if (n > 0) {
			link[n] = '\0';
			sbx_plan_add(p, SOP_SYMLINK, link, dst, NULL, 0, 0);
		}
	} else if (S_ISDIR(st.st_mode)) {
		sbx_plan_add(p, SOP_BIND, src, dst, NULL, 0, 0);
	} else if (S_ISREG(st.st_mode)) {
		sbx_plan_add(p, SOP_FILE_BIND, src, dst, NULL, 0, 0);
	}
}

static void add_host_etc(struct sbx_plan *p, uid_t uid, gid_t gid, int egress)
{
	char *passwd = xasprintf("root:x:0:0:root:/root:/bin/sh\n"
				 "sandbox:x:%u:%u:sandbox:/tmp:/bin/sh\n", (unsigned)uid, (unsigned)gid);
	char *group = xasprintf("root:x:0:\nsandbox:x:%u:\n", (unsigned)gid);
	sbx_plan_add(p, SOP_DIR, NULL, "/etc", NULL, 0755, 0);
	sbx_plan_add(p, SOP_WRITE, NULL, "/etc/passwd", sbx_plan_own(p, passwd), 0644, 0);
	sbx_plan_add(p, SOP_WRITE, NULL, "/etc/group", sbx_plan_own(p, group), 0644, 0);
	sbx_plan_add(p, SOP_WRITE, NULL, "/etc/hosts", "127.0.0.1 localhost sentinel\n::1 localhost\n",
	    0644, 0);
	sbx_plan_add(p, SOP_WRITE, NULL, "/etc/hostname", "sentinel\n", 0644, 0);
	sbx_plan_add(p, SOP_WRITE, NULL, "/etc/nsswitch.conf",
	    egress ? "passwd: files\ngroup: files\nhosts: files dns\n"
		   : "passwd: files\ngroup: files\nhosts: files\n", 0644, 0);
	if (egress)
		sbx_plan_add(p, SOP_WRITE, NULL, "/etc/resolv.conf", "nameserver " SBX_NET_DNS "\n", 0644, 0);
	/* The dynamic loader's cache and Debian's alternatives (libblas, ...). */
	static const char *const keep[] = { "ld.so.cache", "alternatives", "localtime", NULL };
	for (size_t i = 0; keep[i]; i++)
		add_entry(p, "/etc", keep[i], "/etc");
}

static int add_image(struct sbx_plan *p, const char *rootfs)
{
	DIR *d = opendir(rootfs);
	struct dirent *e;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		int skip = 0;
		for (size_t i = 0; image_skip[i]; i++)
			skip |= strcmp(e->d_name, image_skip[i]) == 0;
		if (!skip)
			add_entry(p, rootfs, e->d_name, "");
	}
	closedir(d);
	return 0;
}

static void add_dev(struct sbx_plan *p)
{
	sbx_plan_add(p, SOP_TMPFS, NULL, "/dev", "size=64k,nr_inodes=64,mode=0755", 0, 0);
	for (size_t i = 0; devices[i]; i++) {
		char src[64], dst[64];
		snprintf(src, sizeof src, "/dev/%s", devices[i]);
		snprintf(dst, sizeof dst, "/dev/%s", devices[i]);
		sbx_plan_add(p, SOP_DEV_BIND, src, dst, NULL, 0, 1);
	}
	sbx_plan_add(p, SOP_SYMLINK, "/proc/self/fd", "/dev/fd", NULL, 0, 0);
	sbx_plan_add(p, SOP_SYMLINK, "/proc/self/fd/0", "/dev/stdin", NULL, 0, 0);
	sbx_plan_add(p, SOP_SYMLINK, "/proc/self/fd/1", "/dev/stdout", NULL, 0, 0);
	sbx_plan_add(p, SOP_SYMLINK, "/proc/self/fd/2", "/dev/stderr", NULL, 0, 0);
	sbx_plan_add(p, SOP_SYMLINK, "/tmp", "/dev/shm", NULL, 0, 0);
}

/* The environment: a fixed base, the venv's, then the caller's K=V. */
static void build_env(struct sbx_plan *p, const sbx_opts *o)
{
	const char *base[8];
	size_t nb = 0;
	p->path = o->venv ? sbx_plan_own(p, xasprintf("%s/bin:%s", o->venv, BASE_PATH)) : BASE_PATH;
	base[nb++] = sbx_plan_own(p, xasprintf("PATH=%s", p->path));
	base[nb++] = o->workdir ? "HOME=/work" : "HOME=/tmp";
	base[nb++] = "LANG=C.UTF-8";
	base[nb++] = "USER=sandbox";
	if (p->gpu_env)
		base[nb++] = p->gpu_env;
	if (o->venv)
		base[nb++] = sbx_plan_own(p, xasprintf("VIRTUAL_ENV=%s", o->venv));
	p->envp = xcalloc(nb + o->nenv + 1, sizeof *p->envp);
	for (size_t i = 0; i < nb + o->nenv; i++) {
		const char *kv = i < nb ? base[i] : sbx_plan_own(p, xstrdup(o->env[i - nb]));
		size_t kl = strcspn(kv, "=");
		size_t j = 0;
		while (j < p->nenv && !(strncmp(p->envp[j], kv, kl) == 0 && p->envp[j][kl] == '='))
			j++;
		p->envp[j] = (char *)kv;
		if (j == p->nenv)
			p->nenv++;
		if (strncmp(kv, "PATH=", 5) == 0)
			p->path = kv + 5;
	}
}

void sbx_plan_release(struct sbx_plan *p)
{
	for (size_t i = 0; i < p->nstrs; i++)
		free(p->strs[i]);
	free(p->strs);
	free(p->ops);
	free(p->envp);
	free(p->argv);
	free(p->root);
	if (p->workdir_fd >= 0)
		close(p->workdir_fd);
	if (p->tree_fd >= 0)
		close(p->tree_fd);
	memset(p, 0, sizeof *p);
	p->workdir_fd = -1;
	p->tree_fd = -1;
}

static int under(const char *d, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(d, dir, n) == 0 && (d[n] == '/' || d[n] == '\0');
}

int sbx_bind_dst_valid(const char *d)
{
	size_t n = strlen(d);
	return d[0] == '/' && d[1] && n < PATH_MAX / 2 && !strstr(d, "/../") &&
	       !(n >= 3 && strcmp(d + n - 3, "/..") == 0) && !under(d, "/proc") &&
	       !under(d, "/dev") && !under(d, "/work");
}

int sbx_plan_build(struct sbx_plan *p, const sbx_opts *o, char *err, size_t errlen)
{
	int rc = 0;
	p->workdir_fd = -1;
	p->tree_fd = -1;
	/* The mount point of the new root (empty on the host): /run when we
	 * may write there, else a per-uid directory in /tmp. */
	p->root = xstrdup(ROOT_DIR);
	if (geteuid() != 0 || (mkdir(p->root, 0700) && errno != EEXIST)) {
		free(p->root);
		p->root = xasprintf("%s-%u", ROOT_DIR_USER, (unsigned)geteuid());
		if (mkdir(p->root, 0700) && errno != EEXIST) {
			rc = -errno;
			snprintf(err, errlen, "cannot create %s: %s", p->root, strerror(errno));
			return rc;
		}
	}
	if (o->rootfs) {
		rc = add_image(p, o->rootfs);
		if (rc) {
			snprintf(err, errlen, "runtime tree %s: %s", o->rootfs, strerror(-rc));
			return rc;
		}
	} else {
		for (size_t i = 0; host_dirs[i]; i++)
			add_entry(p, "", host_dirs[i], "");
		add_host_etc(p, o->uid, o->gid, o->network == SBX_NET_EGRESS);
	}
	sbx_plan_add(p, SOP_PROC, NULL, "/proc", NULL, 0, 0);
	add_dev(p);
	const char *tmpopt = sbx_plan_own(p, xasprintf("size=%llu,mode=1777", (unsigned long long)o->tmp_bytes));
	sbx_plan_add(p, SOP_TMPFS, NULL, "/tmp", tmpopt, 0, 0);
	if (o->venv && (rc = add_bind(p, o->venv, o->venv, 0))) {
		snprintf(err, errlen, "venv %s: %s", o->venv, strerror(-rc));
		return rc;
	}
	if (o->workdir && (rc = add_workdir(p, o, err, errlen)))
		return rc;
	if (o->cwd && (o->cwd[0] != '/' || strlen(o->cwd) >= PATH_MAX / 2 ||
		       strstr(o->cwd, "/../") || (strlen(o->cwd) >= 3 &&
						  !strcmp(o->cwd + strlen(o->cwd) - 3, "/..")))) {
		snprintf(err, errlen, "the start directory '%s' must be an absolute path without '..'",
			 o->cwd);
		return -EINVAL;
	}
	p->cwd = o->cwd ? o->cwd : o->workdir ? "/work" : "/tmp";
	for (size_t i = 0; i < o->nbinds; i++) {
		const sbx_bind *b = &o->binds[i];
		if (!sbx_bind_dst_valid(b->dst)) {
			snprintf(err, errlen, "bind destination '%s' must be an absolute path outside "
				 "/proc, /dev and /work, without '..'", b->dst);
			return -EINVAL;
		}
		if ((rc = add_bind(p, b->src, b->dst, b->rw))) {
			snprintf(err, errlen, "bind source %s: %s", b->src, strerror(-rc));
			return rc;
		}
	}
	if (o->gpus && (rc = sbx_gpu_plan(p, o->gpus, err, errlen)))
		return rc;
	build_env(p, o);
	size_t n = 0;
	while (o->argv[n])
		n++;
	p->argv = xcalloc(n + 1, sizeof *p->argv);
	for (size_t i = 0; i < n; i++)
		p->argv[i] = (char *)sbx_plan_own(p, xstrdup(o->argv[i]));
	return 0;
}
