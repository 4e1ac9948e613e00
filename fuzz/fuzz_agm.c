/* libFuzzer target: the collector's and node agent's readers of /proc
 * text (a stat line, /proc/stat's cpu line, /proc/meminfo) and of
 * nvidia-smi's CSV (GPUs, then compute apps against a fixed pid list).
 * Nothing may crash or read past the text; figures stay in range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	agm_proc p;
	uint64_t a, b;
	agm_parse_stat(s, &p);
	if (agm_parse_cpu_line(s, &a, &b) == 0 && a > b)
		abort();
	agm_parse_meminfo(s, &a, &b);
	agm_gpu g[8];
	size_t n = 0;
	static const pid_t pids[] = { 1, 2, 100, 4242 };
	agm_parse_gpus(s, g, 8, &n);
	if (n > 8)
		abort();
	agm_parse_apps(s, pids, 4, g, n);
	free(s);
	return 0;
}
