/* Figures of this machine, of a process tree and of NVIDIA GPUs, read from
 * /proc and nvidia-smi: what the node agent pushes about itself every
 * AGM_NODE_PERIOD_MS (POST /api/v1/node/metrics, agent = the node's name)
 * and what `sentinel collect` pushes about the command it runs
 * (docs/metrics.md). Metric names are the AGM_* constants below.
 *
 * Contract: the readers allocate nothing the caller must free except
 * through agm_tree_release; the parsers read bounded text and never fail
 * on garbage (a line they cannot read is skipped). Nothing here keeps
 * global state: every function is thread safe. */
#ifndef SN_AGENT_METRICS_H
#define SN_AGENT_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The node's figures (tags: none, or gpu=INDEX for the GPU ones). */
#define AGM_NODE_CPU "node.cpu_percent"      /* 0–100 over all cores */
#define AGM_NODE_MEM_USED "node.mem_used_bytes" /* total − available */
#define AGM_NODE_MEM_TOTAL "node.mem_total_bytes"
#define AGM_NODE_LOAD1 "node.load1"
#define AGM_GPU_UTIL "gpu.utilization_percent"
#define AGM_GPU_MEM_USED "gpu.mem_used_bytes"
#define AGM_GPU_MEM_TOTAL "gpu.mem_total_bytes"
/* A collected command's figures (tags: the user's --tag pairs; the GPU
 * ones gpu=INDEX too). cpu: percent of one core, over 100 when several
 * run; the GPU's utilisation is the whole device's (nvidia-smi gives no
 * per-process figure), its memory the tree's own. */
#define AGM_PROC_CPU "proc.cpu_percent"
#define AGM_PROC_RSS "proc.rss_bytes"
#define AGM_PROC_THREADS "proc.threads"
#define AGM_PROC_COUNT "proc.processes"
#define AGM_PROC_GPU_MEM "proc.gpu_mem_bytes"
#define AGM_NODE_PERIOD_MS 10000

/* ---- this machine ---- */
typedef struct agm_host {
	uint64_t cpu_busy, cpu_total; /* jiffies since boot, all cores */
	uint64_t mem_total, mem_avail; /* bytes */
	double load1;
} agm_host;
/* 0 or a negative errno (no /proc). */
int agm_host_read(agm_host *out);
/* Percent busy between two readings (0 when no time passed). */
double agm_host_cpu_percent(const agm_host *before, const agm_host *now);
/* The parsers behind agm_host_read: the "cpu " line of /proc/stat and
 * MemTotal/MemAvailable of /proc/meminfo. -EINVAL when absent. */
int agm_parse_cpu_line(const char *text, uint64_t *busy, uint64_t *total);
int agm_parse_meminfo(const char *text, uint64_t *total, uint64_t *avail);

/* ---- a process tree ---- */
typedef struct agm_proc {
	pid_t pid, ppid;
	char state;          /* R, S, Z… */
	uint64_t ticks;      /* utime + stime + cutime + cstime */
	uint64_t rss_pages;
	unsigned threads;
} agm_proc;
/* One /proc/PID/stat line (the command name may hold spaces and
 * parentheses: fields are counted after its last ')'). -EINVAL when short. */
int agm_parse_stat(const char *line, agm_proc *out);

typedef struct agm_tree {
	uint64_t cpu_us;      /* CPU time of the live descendants (children's included) */
	uint64_t rss_bytes;   /* summed over them (shared pages count in each) */
	unsigned threads, procs;
	pid_t *pids;          /* the descendants (for GPU apps) */
	size_t npids;
} agm_tree;
/* The descendants of root (root itself left out), from one scan of /proc.
 * Zombies count for CPU (their time is still theirs until reaped) but not
 * for memory or threads. */
int agm_tree_read(pid_t root, agm_tree *out);
void agm_tree_release(agm_tree *t);

/* ---- GPUs (nvidia-smi) ---- */
#define AGM_GPUS_MAX 64
typedef struct agm_gpu {
	int index;
	char uuid[96];
	double util;          /* percent; < 0 when nvidia-smi gave none */
	double mem_used, mem_total; /* bytes; < 0 when not given */
	double app_mem;       /* bytes used by the processes asked about */
	unsigned apps;        /* how many of them run on it */
} agm_gpu;
/* The path of nvidia-smi on PATH (caller frees), or NULL. */
char *agm_smi_path(void);
/* Runs smi (no shell, at most 5 s) for the GPUs and, when npids, the
 * compute apps among pids. 0 with *n set, or a negative errno. */
int agm_gpu_read(const char *smi, const pid_t *pids, size_t npids, agm_gpu *out, size_t max,
		 size_t *n);
/* `--query-gpu=index,uuid,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits` output (MiB) into out. */
void agm_parse_gpus(const char *text, agm_gpu *out, size_t max, size_t *n);
/* `--query-compute-apps=pid,gpu_uuid,used_memory --format=csv,noheader,nounits`
 * output: adds each app among pids (sorted ascending) to its GPU. */
void agm_parse_apps(const char *text, const pid_t *pids, size_t npids, agm_gpu *g, size_t n);

/* ---- the node agent's own figures (agent_metrics.c) ---- */
struct agent;
typedef struct ag_metrics ag_metrics;
ag_metrics *ag_metrics_new(void);
void ag_metrics_free(ag_metrics **m);
/* Pushes one small batch of the node's figures when AGM_NODE_PERIOD_MS
 * passed since the last; failures are logged at debug and forgotten.
 * Called by the control thread only, while the node is online. */
void ag_metrics_tick(struct agent *a, ag_metrics *m);
#endif
