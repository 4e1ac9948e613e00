/* Internals shared by the sandbox's files: the supervisor (sbx.c), the
 * child side (sbx_child.c), the cgroup back-ends (sbx_cg.c), the seccomp
 * filter (sbx_seccomp.c) and the system-call table (sbx_sys.c). */
#ifndef SN_SBX_INT_H
#define SN_SBX_INT_H
#include <linux/filter.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

/* --- System calls that tests can make fail (STYLE.md rule 14) ------------ */

struct sbx_sys {
	/* cgroup_fd >= 0: clone3 with CLONE_INTO_CGROUP, the child is born in
	 * that v2 cgroup (no migration); -1: clone. */
	long (*clone)(unsigned long flags, int cgroup_fd);
	int (*mount)(const char *src, const char *dst, const char *type, unsigned long flags,
		     const void *data);
	int (*pivot_root)(const char *new_root, const char *put_old);
	int (*cg_mkdir)(const char *path, mode_t mode);
	/* Binds the host path src (or the directory src_fd when >= 0) onto
	 * the open directory or file tgt_fd, with the MOUNT_ATTR_* bits attr
	 * set on the whole bound tree. Counts as a "mount" for faults. */
	int (*bind)(const char *src, int src_fd, int tgt_fd, uint64_t attr);
	/* A detached recursive clone of the open directory dir_fd with the
	 * MOUNT_ATTR_* bits attr, ID-mapped through userns_fd when >= 0: an
	 * open_tree descriptor, or -1. Fault name "clone_tree". */
	int (*clone_tree)(int dir_fd, uint64_t attr, int userns_fd);
	/* Attaches the detached tree onto the open directory tgt_fd. Counts as
	 * a "mount" for faults. */
	int (*attach)(int tree_fd, int tgt_fd);
};
extern const struct sbx_sys sbx_sys;

/* Makes the nth later call (1-based) of `call` ("clone", "mount",
 * "pivot_root", "cg_mkdir", "clone_tree") fail with errno err; nth < 0: every call;
 * nth = 0 clears. The
 * counter is per process: a fault armed before sbx_run fires in the child
 * for the child's calls. For tests only. */
int sbx_fault_set(const char *call, int nth, int err);

/* --- The mount plan: built by the supervisor, executed by the child ------ */

enum sbx_op_kind {
	SOP_DIR,       /* mkdir dst (mode) */
	SOP_BIND,      /* mkdir dst, bind src there, read-only unless rw */
	SOP_FILE_BIND, /* create file dst, bind src there */
	SOP_DEV_BIND,  /* create file dst, bind the device src there, flags kept */
	SOP_SYMLINK,   /* symlink dst -> src (src is the link text) */
	SOP_TMPFS,     /* mkdir dst, mount a tmpfs there (data: mount options) */
	SOP_PROC,      /* mkdir dst, mount a new proc there */
	SOP_WRITE,     /* create file dst (mode) holding data */
	SOP_TREE,      /* mkdir dst, attach the detached tree src_fd there */
};

struct sbx_op {
	enum sbx_op_kind kind;
	const char *src;
	int src_fd;      /* SOP_BIND: src must be this open directory (O_NOFOLLOW);
			  * SOP_TREE: the detached tree; -1 */
	const char *dst; /* absolute path inside the sandbox, resolved in the new root */
	const char *data;
	mode_t mode;
	int rw;
};

/* The plan of one run (sbx_plan.c). */
struct sbx_opts;
struct sbx_plan {
	struct sbx_op *ops;
	size_t n, cap;
	char **strs;   /* owned strings */
	size_t nstrs;
	char *root;
	int workdir_fd; /* the work directory, opened O_NOFOLLOW; -1 */
	int tree_fd;    /* its detached clone (as root), maybe ID-mapped; -1 */
	char **argv;   /* copies: the caller's strings may live in the argv area */
	char **envp;
	size_t nenv;
	const char *path; /* PATH value inside */
	const char *cwd;
	const char *gpu_env; /* CUDA_VISIBLE_DEVICES=..., or NULL */
};
/* Builds the plan for o; -errno with a one-line message in err. The plan
 * must be released (also after a failure). */
int sbx_plan_build(struct sbx_plan *p, const struct sbx_opts *o, char *err, size_t errlen);
void sbx_plan_release(struct sbx_plan *p);
/* Takes ownership of the allocated string s; returns it. */
const char *sbx_plan_own(struct sbx_plan *p, char *s);
/* Appends an op (strings copied) / a SOP_DIR for each parent of dst. */
void sbx_plan_add(struct sbx_plan *p, enum sbx_op_kind k, const char *src, const char *dst,
		  const char *data, mode_t mode, int rw);
void sbx_plan_add_parents(struct sbx_plan *p, const char *dst);
/* --gpus (sbx_gpu.c): binds the NVIDIA device nodes of the GPUs in spec
 * ("all", a count N, or a list "0,2") and the driver's user-space files,
 * read-only, and sets p->gpu_env. The device directory and the ldconfig -p
 * text can be replaced for tests: SENTINEL_SBX_DEV_ROOT (a directory) and
 * SENTINEL_SBX_LDCONFIG (a file holding `ldconfig -p` output). */
int sbx_gpu_plan(struct sbx_plan *p, const char *spec, char *err, size_t errlen);

/* Messages on the status pipe, child -> supervisor. */
enum { SBX_MSG_SETUP = 1, SBX_MSG_EXEC, SBX_MSG_EXIT };
struct sbx_msg {
	int kind;
	int stage; /* SETUP: index of the failed op, or a negative SBX_STAGE_* */
	int err;   /* errno */
	int status; /* EXIT: the job's wait status */
};
enum {
	SBX_STAGE_CGROUP = -1, SBX_STAGE_NS = -2, SBX_STAGE_ROOT = -3, SBX_STAGE_PIVOT = -4,
	SBX_STAGE_NET = -5, SBX_STAGE_FORK = -6, SBX_STAGE_IDS = -7, SBX_STAGE_SECCOMP = -8,
	SBX_STAGE_LIMITS = -9, SBX_STAGE_CWD = -10, SBX_STAGE_SYNC = -11,
};

/* --- --network egress (sbx_net.c) ---------------------------------------- */

#define SBX_NET_ADDRS 64
#define SBX_NET_DNS "169.254.0.53" /* inside: pasta forwards its port 53 to the host's resolver */
struct sbx_addr {
	int family;
	unsigned char addr[16];
};
struct sbx_net {
	int mode;            /* SBX_NET_* */
	char pasta[256];
	struct sbx_addr addrs[SBX_NET_ADDRS]; /* the host's, made unreachable inside */
	size_t naddrs;
	pid_t pid;           /* pasta, or -1 */
};
/* Supervisor, before clone: finds pasta, snapshots the host's addresses. */
int sbx_net_prepare(struct sbx_net *n, int mode, char *err, size_t errlen);
/* Supervisor, after clone: starts pasta on init's network namespace and
 * returns once it is configured. */
int sbx_net_start(struct sbx_net *n, pid_t init, char *err, size_t errlen);
void sbx_net_stop(struct sbx_net *n);
/* Child: an unreachable route for each address; 0 or -1 with errno. */
int sbx_net_block(const struct sbx_addr *addrs, size_t n);

struct sbx_child_args {
	const struct sbx_op *ops;
	size_t nops;
	const char *root;          /* host mount point of the new root */
	char *const *argv;
	char *const *envp;
	const char *path;          /* the PATH to search argv[0] in */
	const char *cwd;           /* inside the sandbox */
	uid_t uid;
	gid_t gid;
	int userns;                /* wait on sync_r for the id maps first */
	struct rlimit as, nproc, fsize; /* RLIM_INFINITY when unused */
	const struct sock_fprog *filter;
	int out_w, err_w, status_w, life_r, sync_r;
	int net_r;                 /* egress: wait for a byte here (pasta ready); -1 */
	const struct sbx_addr *block; /* egress: host addresses to make unreachable */
	size_t nblock;
	int workdir_fd;            /* kept open for its SOP_BIND; -1 */
	int tree_fd;               /* kept open for its SOP_TREE; -1 */
	const int *cg_fds;         /* cgroup files to join (write "0"; sbx_cg.c) */
	size_t ncg;
	int cg_born;               /* index in cg_fds of the cgroup clone put us in; -1 */
	void *job_stack;           /* the job's stack until execve (vfork-style) */
	size_t job_stack_size;
	char *arg_start, *arg_end; /* the supervisor's argv area, blanked in init */
};

/* Runs in the cloned child (PID 1 of the new namespace); never returns.
 * Allocates nothing: everything it needs is in a. */
void sbx_child_main(const struct sbx_child_args *a) __attribute__((noreturn));
/* A human name for a setup stage, for the supervisor's error message. */
const char *sbx_stage_name(int stage);

/* --- The seccomp filter ------------------------------------------------- */

/* The compiled filter, built once per process (thread-safe). 0 or -errno. */
int sbx_seccomp_filter(const struct sock_fprog **out);

/* --- Cgroups: v1 and v2 back-ends behind one table ----------------------- */

typedef struct sbx_cg sbx_cg;
struct sbx_cg_limits {
	uint64_t mem_bytes, pids;
	double cpus;
};
struct sbx_cg_stats {
	uint64_t oom_kills;   /* the OOM counter, not failcnt */
	uint64_t pids_hits;   /* forks refused by pids.max */
	uint64_t peak_bytes;
	uint64_t cpu_ns;
	int have_peak, have_cpu;
};
/* Creates the per-run cgroups for what the machine offers; *degraded gets
 * the SBX_DEG_* bits for limits asked for but not available. Never fails:
 * a cgroup that cannot be made is a degraded limit, not an error. */
void sbx_cg_create(const struct sbx_cg_limits *l, sbx_cg **out, unsigned *degraded);
/* Open descriptors the child writes "0" into to join: v1 "tasks" (it is
 * single-threaded then), v2 "cgroup.procs". */
size_t sbx_cg_join_fds(const sbx_cg *cg, const int **fds);
/* The run's v2 cgroup, for CLONE_INTO_CGROUP: its index among the join
 * fds, *dfd its directory; -1 when the run has none. */
int sbx_cg_v2_dir(const sbx_cg *cg, int *dfd);
void sbx_cg_kill(sbx_cg *cg);
void sbx_cg_stats(sbx_cg *cg, struct sbx_cg_stats *st);
/* Kills what is left, removes the directories, frees; *cg = NULL. */
void sbx_cg_free(sbx_cg **cg);
void sbx_cg_reap_leftovers(void);
/* The v1 (v2 = 0) or v2 back-end's file formats on any directory, for
 * tests with a fake cgroup directory. */
int sbx_cg_backend_apply(int v2, int dfd, const struct sbx_cg_limits *l);
void sbx_cg_backend_stats(int v2, int dfd, struct sbx_cg_stats *st);
#endif
