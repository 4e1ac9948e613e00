/* The rules of the sandbox's seccomp filter, in libseccomp's terms. Only
 * the build uses them: tools/gen_seccomp.c compiles them into raw BPF
 * (build/gen/sbx_bpf.h) that src/sandbox/sbx_seccomp.c loads as it is, so
 * that no process pays for compiling the filter or for loading libseccomp.
 * Default: allow. Refused with EPERM: what a job never needs and what
 * widens the kernel's attack surface (mounts, namespaces, tracing, keys,
 * modules, BPF, ...). clone3 answers ENOSYS so that libcs fall back to
 * clone, whose flags a classic BPF filter can inspect (clone3 passes them
 * in memory). Syscalls of a foreign ABI (i386, x32 on x86_64) are refused
 * with EPERM as a whole. docs/sandbox.md compares this list with Docker's
 * default profile. */
#ifndef SN_SBX_SECCOMP_RULES_H
#define SN_SBX_SECCOMP_RULES_H
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <seccomp.h>

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

/* Adds every rule to ctx (made with seccomp_init(SCMP_ACT_ALLOW)). 0 or
 * libseccomp's negative errno. */
static inline int sbx_seccomp_rules(scmp_filter_ctx ctx)
{
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
	if (!rc)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); /* the sandbox sets it itself */
	for (size_t i = 0; !rc && denied[i]; i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a syscall of this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	/* clone with any namespace flag: one rule per flag (rules are OR-ed). */
	static const unsigned long ns_flags[] = { CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID,
						  CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS,
						  CLONE_NEWCGROUP, CLONE_NEWTIME };
	for (size_t i = 0; !rc && i < sizeof ns_flags / sizeof ns_flags[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i]));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* vsock is not network-namespaced: it would reach the hypervisor or
	 * the host around the empty network namespace. */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, AF_VSOCK));
	return rc;
}
#endif
