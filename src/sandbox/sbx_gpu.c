/* --gpus: NVIDIA GPUs in the sandbox, found the way nvidia-container-toolkit
 * finds them. Device nodes: /dev/nvidiaN of each chosen GPU, plus the
 * shared control nodes (nvidiactl, nvidia-uvm, nvidia-uvm-tools,
 * nvidia-modeset) that exist. User-space driver: every `ldconfig -p` entry
 * named libcuda.so* or libnvidia-*.so*, and nvidia-smi, bound read-only at
 * their host paths (an image runtime lacks them; the host runtime sees the
 * same files). CUDA_VISIBLE_DEVICES counts 0..k-1: only the chosen GPUs'
 * nodes exist inside, and CUDA numbers the devices it can open from 0, as
 * under Slurm's ConstrainDevices. */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mem.h"
#include "sandbox/sbx.h"
#include "sandbox/sbx_int.h"

#define MAX_GPUS 64

static const char *const ctl_nodes[] = { "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools",
					 "nvidia-modeset", NULL };
static const char *const smi_dirs[] = { "/usr/bin", "/usr/sbin", "/bin", "/usr/local/bin", NULL };

static int is_node(const char *dev, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dev, name);
	return stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* How many /dev/nvidiaN exist, N = 0, 1, ... without a gap. */
static int count_gpus(const char *dev)
{
	char name[32];
	int n = 0;
	while (n < MAX_GPUS) {
		snprintf(name, sizeof name, "nvidia%d", n);
		if (!is_node(dev, name))
			break;
		n++;
	}
	return n;
}

/* spec -> chosen indexes; -EINVAL with a message. */
static int parse_spec(const char *spec, int have, int *idx, int *n, char *err, size_t errlen)
{
	char *end;
	*n = 0;
	if (strcmp(spec, "all") == 0) {
		for (int i = 0; i < have; i++)
			idx[(*n)++] = i;
		return 0;
	}
	if (!strchr(spec, ',')) {
		long k = strtol(spec, &end, 10);
		if (!*spec || *end || k < 1 || k > have) {
			snprintf(err, errlen, "--gpus %s: expected all, a count from 1 to %d, or a list "
				 "like 0,1", spec, have);
			return -EINVAL;
		}
		for (int i = 0; i < k; i++)
			idx[(*n)++] = i;
		return 0;
	}
	for (const char *s = spec; *s;) {
		long k = isdigit((unsigned char)*s) ? strtol(s, &end, 10) : -1;
		if (k < 0 || k >= have || (*end && (*end != ',' || !end[1])) || *n == MAX_GPUS) {
			snprintf(err, errlen, "--gpus %s: GPUs are numbered 0 to %d here", spec, have - 1);
			return -EINVAL;
		}
		for (int i = 0; i < *n; i++)
			if (idx[i] == k) {
				snprintf(err, errlen, "--gpus %s: GPU %ld given twice", spec, k);
				return -EINVAL;
			}
		idx[(*n)++] = (int)k;
		s = *end ? end + 1 : end;
	}
	return 0;
}

static void bind_dev(struct sbx_plan *p, const char *dev, const char *name)
{
	char src[PATH_MAX], dst[64];
	snprintf(src, sizeof src, "%s/%s", dev, name);
	snprintf(dst, sizeof dst, "/dev/%s", name);
	sbx_plan_add(p, SOP_DEV_BIND, src, dst, NULL, 0, 1);
}

/* "\tlibcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1" */
static void bind_libs(struct sbx_plan *p)
{
	const char *file = getenv("SENTINEL_SBX_LDCONFIG");
	FILE *f = file ? fopen(file, "re") : popen("/sbin/ldconfig -p 2>/dev/null", "r");
	char line[1024];
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		char *name = line + strspn(line, " \t"), *arrow = strstr(line, " => ");
		if (!arrow || (strncmp(name, "libcuda.so", 10) && strncmp(name, "libnvidia-", 10)))
			continue;
		char *path = arrow + 4;
		path[strcspn(path, "\n")] = '\0';
		struct stat st;
		if (path[0] != '/' || stat(path, &st) || !S_ISREG(st.st_mode) ||
		    !sbx_bind_dst_valid(path))
			continue;
		sbx_plan_add_parents(p, path);
		sbx_plan_add(p, SOP_FILE_BIND, path, path, NULL, 0, 0);
	}
	if (file)
		fclose(f);
	else
		pclose(f);
}

int sbx_gpu_plan(struct sbx_plan *p, const char *spec, char *err, size_t errlen)
{
	const char *dev = getenv("SENTINEL_SBX_DEV_ROOT");
	int idx[MAX_GPUS], n, have, rc;
	char name[32], path[PATH_MAX];
	if (!dev || !*dev)
		dev = "/dev";
	have = count_gpus(dev);
	if (!have || !is_node(dev, "nvidiactl")) {
		snprintf(err, errlen, "--gpus %s: no NVIDIA GPU here (no %s/nvidia0 or %s/nvidiactl; "
			 "is the driver loaded?)", spec, dev, dev);
		return -ENODEV;
	}
	if ((rc = parse_spec(spec, have, idx, &n, err, errlen)))
		return rc;
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof name, "nvidia%d", idx[i]);
		bind_dev(p, dev, name);
	}
	for (size_t i = 0; ctl_nodes[i]; i++)
		if (is_node(dev, ctl_nodes[i]))
			bind_dev(p, dev, ctl_nodes[i]);
	bind_libs(p);
	for (size_t i = 0; smi_dirs[i]; i++) {
		snprintf(path, sizeof path, "%s/nvidia-smi", smi_dirs[i]);
		if (access(path, X_OK) == 0) {
			sbx_plan_add(p, SOP_FILE_BIND, path, path, NULL, 0, 0);
			break;
		}
	}
	char list[MAX_GPUS * 3 + 1] = "";
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? "," : "", i);
	p->gpu_env = sbx_plan_own(p, xasprintf("CUDA_VISIBLE_DEVICES=%s", list));
	return 0;
}
