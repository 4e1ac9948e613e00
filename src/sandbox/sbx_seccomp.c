/* The seccomp filter every job runs under. Default: allow. Refused with
 * EPERM: what a job never needs and what widens the kernel's attack
 * surface (mounts, namespaces, tracing, keys, modules, BPF, ...). clone3
 * answers ENOSYS so that libcs fall back to clone, whose flags a classic
 * BPF filter can inspect (clone3 passes them in memory). Syscalls of a
 * foreign ABI (i386, x32 on x86_64) are refused with EPERM as a whole.
 * docs/sandbox.md compares this list with Docker's default profile.
 *
 * The filter is compiled once per process with libseccomp and exported as
 * raw BPF, so the child only has to call prctl() — no allocation there. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <seccomp.h>
#include "base/mem.h"
#include "sandbox/sbx_int.h"

#define FILTER_MAX (64 * 1024)

static const char *const denied[] = {
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"process_madvise",
	"kexec_load", "kexec_file_load", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key",
	"init_module", "finit_module", "delete_module", "create_module",
	"reboot", "swapon", "swapoff", "acct", "userfaultfd",
	"open_by_handle_at", "name_to_handle_at",
	"unshare", "setns", "iopl", "ioperm", "syslog", "quotactl", "lookup_dcookie",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname",
	"setdomainname", "vhangup", "nfsservctl", "uselib",
	/* io_uring performs system calls from kernel workers, out of this
	 * filter's sight, and has been a steady source of kernel exploits
	 * (Docker's default profile refuses it too). */
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	NULL,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct sock_fprog prog;
static int build_rc;

/* Exports the BPF through a memfd (libseccomp 2.5 only writes to an fd). */
static int export(scmp_filter_ctx ctx)
{
	int rc = 0, fd = memfd_create("sbx-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = seccomp_export_bpf(ctx, fd);
	if (rc)
		goto out;
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len > FILTER_MAX || len % (off_t)sizeof(struct sock_filter)) {
		rc = -EINVAL;
		goto out;
	}
	struct sock_filter *f = xmalloc((size_t)len);
	if (pread(fd, f, (size_t)len, 0) != len) {
		free(f);
		rc = -EIO;
		goto out;
	}
	prog.filter = f; /* kept for the life of the process */
	prog.len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
out:
	close(fd);
	return rc;
}

static void build(void)
{
	int rc = -ENOMEM;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		goto out;
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* we set it ourselves */
	if (rc)
		goto out;
	for (size_t i = 0; denied[i]; i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall of this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (rc)
			goto out;
	}
	/* clone with any namespace flag: one rule per flag (rules are OR-ed). */
	static const unsigned long ns_flags[] = { CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID,
						  CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
						  CLONE_NEWCGROUP, CLONE_NEWTIME };
	for (size_t i = 0; i < sizeof ns_flags / sizeof ns_flags[0]; i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
		if (rc)
			goto out;
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* vsock is not network-namespaced: it would reach the hypervisor or
	 * the host around the empty network namespace. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
out:
	if (!rc)
		rc = export(ctx);
	if (ctx)
		seccomp_release(ctx);
	build_rc = rc;
}

int sbx_seccomp_filter(const struct sock_fprog **out)
{
	pthread_once(&once, build);
	if (build_rc)
		return build_rc;
	*out = &prog;
	return 0;
}
