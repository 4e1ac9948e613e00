/* The sandbox: runs one untrusted command in fresh mount, PID, network, IPC
 * and UTS namespaces (plus a user namespace when not started as root), in a
 * private root built from read-only binds, as an unprivileged uid with no
 * capabilities, no_new_privs and a seccomp filter, under per-run cgroup
 * limits (memory, pids, CPU) and supervisor-enforced wall time and output
 * caps. See docs/sandbox.md for the model and src/sandbox/sbx.c for the
 * invariants.
 *
 * Contract:
 * - sbx_run() blocks until the command and every process it started are
 *   gone, the per-run cgroups are removed and the mount namespace is dead.
 * - The line callback is called on the calling thread, in arrival order,
 *   with one line at a time (its '\n' included; the last piece of a stream
 *   may lack it, and lines longer than SBX_LINE_MAX come in pieces). The
 *   bytes delivered are exactly the bytes the command wrote, up to the
 *   output cap.
 * - On error (-errno, one-line message in err) the callback has not been
 *   called and *res is untouched; nothing of the run is left behind.
 * - Safe to call from several threads at once; the caller's process may be
 *   multi-threaded (the child never allocates between clone and exec). */
#ifndef SN_SBX_H
#define SN_SBX_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#define SBX_LINE_MAX (64 * 1024)
#define SBX_MAX_BINDS 64
#define SBX_MAX_ENV 256
#define SBX_NOBODY 65534

typedef struct sbx_bind {
	const char *src; /* host path, must exist */
	const char *dst; /* absolute path inside the sandbox */
	int rw;
} sbx_bind;

/* SBX_NET_NONE: only a loopback device. SBX_NET_EGRESS: outbound
 * connections through pasta; the host's loopback and addresses stay
 * unreachable (sbx_net.c). */
enum { SBX_NET_NONE, SBX_NET_EGRESS };

typedef struct sbx_opts {
	char *const *argv;        /* the command; argv[0] is searched in PATH inside */
	const char *const *env;   /* extra K=V entries (override the base env) */
	size_t nenv;
	const sbx_bind *binds;
	size_t nbinds;
	const char *rootfs;       /* an image tree to use as /, or NULL: the host runtime */
	const char *venv;         /* a virtual environment on top of host, or NULL */
	const char *workdir;      /* host dir bound read-write at /work (the cwd), or NULL */
	const char *cwd;          /* where the command starts, inside; NULL: /work with a
				   * workdir, else /tmp. Absolute, no "..", must exist */
	uint64_t mem_bytes;       /* 0: unlimited */
	uint64_t pids;            /* 0: unlimited */
	double cpus;              /* CPU quota in CPUs, 0: unlimited */
	int64_t time_ms;          /* wall-time limit, 0: none */
	int64_t kill_after_ms;    /* at the time limit SIGTERM first, SIGKILL this much
				   * later (10 s by default); 0: SIGKILL at once */
	uint64_t tmp_bytes;       /* size of /tmp (a tmpfs) */
	uint64_t output_bytes;    /* cap on stdout+stderr bytes, 0: none */
	uint64_t file_bytes;      /* largest file the command may write (RLIMIT_FSIZE) */
	uid_t uid;                /* the job's identity, SBX_NOBODY by default */
	gid_t gid;
	int cancel_fd;            /* when readable, the run is killed; -1: none */
	int network;              /* SBX_NET_* */
	const char *gpus;         /* NVIDIA GPUs: "all", a count "N" or a list "0,2"; NULL: none */
} sbx_opts;

enum sbx_kill { SBX_KILL_NONE, SBX_KILL_MEMORY, SBX_KILL_TIME, SBX_KILL_PIDS, SBX_KILL_OUTPUT,
		SBX_KILL_CANCEL };

/* Limits that could not be enforced by a cgroup and fell back to rlimits
 * (memory: RLIMIT_AS, pids: RLIMIT_NPROC) or are not enforced (cpu). */
enum { SBX_DEG_MEMORY = 1, SBX_DEG_PIDS = 2, SBX_DEG_CPU = 4 };

typedef struct sbx_result {
	int exit_code;            /* -1 when the command died of a signal */
	int signal;               /* 0 when it exited */
	enum sbx_kill killed_by;
	int kill_signal;          /* what the limit in killed_by sent last: SIGTERM (the
				   * job ended within --kill-after) or SIGKILL; 0: none */
	int64_t wall_ms;
	int64_t cpu_ms;
	uint64_t peak_memory_bytes;
	unsigned degraded;        /* SBX_DEG_* */
	int truncated;            /* output was cut at output_bytes */
	int exec_errno;           /* the command could not be started (exit_code 126/127) */
} sbx_result;

/* stream: 1 = stdout, 2 = stderr. */
typedef void (*sbx_line_fn)(void *ud, int stream, const char *line, size_t len);

void sbx_opts_init(sbx_opts *o);
/* A bind destination must be absolute, outside /proc and /dev, no "..". */
int sbx_bind_dst_valid(const char *dst);
int sbx_run(const sbx_opts *o, sbx_line_fn fn, void *ud, sbx_result *res, char *err,
	    size_t errlen);
const char *sbx_kill_name(enum sbx_kill k);
/* The result as a JSON object (new reference), or NULL when out of memory. */
json_t *sbx_result_json(const sbx_result *r);
/* Removes per-run cgroups left by supervisors that died (SIGKILL). Called
 * by sbx_run once per process; exposed for the node's start-up. */
void sbx_reap_leftovers(void);
#endif
