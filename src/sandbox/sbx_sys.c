/* The system calls the sandbox routes through a table, so that tests can
 * make the nth call fail (SQLite's overridable VFS calls, curl's torture
 * mode). Without an armed fault each entry is the plain system call. The
 * fault counters are plain ints: tests arm them on one thread before a run,
 * and a cloned child works on its own copy. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sandbox/sbx_int.h"

enum { F_CLONE, F_MOUNT, F_PIVOT, F_CGMKDIR, F_TREE, F_N };
static const char *const fault_names[F_N] = { "clone", "mount", "pivot_root", "cg_mkdir",
					      "clone_tree" };
static int fault_left[F_N];
static int fault_err[F_N];

int sbx_fault_set(const char *call, int nth, int err)
{
	for (int i = 0; i < F_N; i++) {
		if (strcmp(call, fault_names[i]) == 0) {
			fault_left[i] = nth;
			fault_err[i] = err;
			return 0;
		}
	}
	return -EINVAL;
}

/* True when this call is the armed one; sets errno. */
static int fault_hit(int f)
{
	if (fault_left[f] == 0 || (fault_left[f] > 0 && --fault_left[f] > 0))
		return 0;
	errno = fault_err[f];
	return 1;
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* struct clone_args up to its cgroup field (CLONE_ARGS_SIZE_VER2). */
struct clone_args2 {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
		set_tid_size, cgroup;
};

/* clone(2) without a new stack: the child continues on a copy of the
 * caller's stack, as fork() does, but with namespace flags, and without
 * glibc's atfork handlers (whose malloc locks another thread may hold).
 * clone3 with a zero stack does the same. */
static long sys_clone(unsigned long flags, int cgroup_fd)
{
	if (fault_hit(F_CLONE))
		return -1;
	if (cgroup_fd < 0)
		return syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
	struct clone_args2 ca = { .flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
				  .cgroup = (uint64_t)cgroup_fd };
	return syscall(SYS_clone3, &ca, sizeof ca);
}

static int sys_mount(const char *src, const char *dst, const char *type, unsigned long flags,
		     const void *data)
{
	if (fault_hit(F_MOUNT))
		return -1;
	return mount(src, dst, type, flags, data);
}

static int sys_pivot_root(const char *new_root, const char *put_old)
{
	if (fault_hit(F_PIVOT))
		return -1;
	return (int)syscall(SYS_pivot_root, new_root, put_old);
}

static int sys_cg_mkdir(const char *path, mode_t mode)
{
	if (fault_hit(F_CGMKDIR))
		return -1;
	return mkdir(path, mode);
}

/* The new mount API: the clone of the source is made read-only, nosuid,
 * nodev while still detached, for every mount of the tree, and is then
 * attached to a descriptor: no path is looked up twice, and no remount
 * has to find the new mount again by name. */
static int sys_bind(const char *src, int src_fd, int tgt_fd, uint64_t attr)
{
	if (fault_hit(F_MOUNT))
		return -1;
	unsigned fl = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
	int rc = -1, t = src_fd >= 0 ? open_tree(src_fd, "", fl | AT_EMPTY_PATH)
				     : open_tree(AT_FDCWD, src, fl);
	if (t < 0)
		return -1;
	struct mount_attr ma = { .attr_set = attr };
	if (attr && mount_setattr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof ma))
		goto out;
	rc = move_mount(t, "", tgt_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
out:;
	int e = errno;
	close(t);
	errno = e;
	return rc;
}

static int sys_clone_tree(int dir_fd, uint64_t attr, int userns_fd)
{
	if (fault_hit(F_TREE))
		return -1;
	int t = open_tree(dir_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
					      AT_EMPTY_PATH);
	if (t < 0)
		return -1;
	struct mount_attr ma = { .attr_set = attr };
	if (userns_fd >= 0) {
		ma.attr_set |= MOUNT_ATTR_IDMAP;
		ma.userns_fd = (uint64_t)userns_fd;
	}
	if (ma.attr_set && mount_setattr(t, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof ma)) {
		int e = errno;
		close(t);
		errno = e;
		return -1;
	}
	return t;
}

static int sys_attach(int tree_fd, int tgt_fd)
{
	if (fault_hit(F_MOUNT))
		return -1;
	return move_mount(tree_fd, "", tgt_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

const struct sbx_sys sbx_sys = {
	.clone = sys_clone,
	.mount = sys_mount,
	.pivot_root = sys_pivot_root,
	.cg_mkdir = sys_cg_mkdir,
	.bind = sys_bind,
	.clone_tree = sys_clone_tree,
	.attach = sys_attach,
};
