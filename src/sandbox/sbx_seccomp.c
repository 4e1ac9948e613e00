/* The seccomp filter every job runs under: the rules of
 * sbx_seccomp_rules.h, compiled to raw BPF at build time
 * (tools/gen_seccomp.c -> build/gen/sbx_bpf.h), so that starting a run
 * neither compiles a filter nor loads libseccomp (~0.5 ms of CPU per
 * process, measured with perf stat), and the child only calls prctl(). */
#include <linux/filter.h>
#include "sandbox/sbx_int.h"
#include "sbx_bpf.h"

static struct sock_fprog prog = { SBX_BPF_LEN, sbx_bpf };

int sbx_seccomp_filter(const struct sock_fprog **out)
{
	*out = &prog;
	return 0;
}
