/* libFuzzer target: safe extraction of image tarballs (src/runtime/
 * rt_extract.c) — member names, link targets, whiteouts, compression
 * filters, truncated headers. The first byte picks rootfs (even) or layer
 * (odd) mode. Each input extracts into a fresh directory that is then
 * removed; nothing may appear outside it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/rt_int.h"

static char base[64];

static void remove_base(void)
{
	rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (!base[0]) {
		snprintf(base, sizeof base, "/tmp/fuzz-rt-extract.%d", (int)getpid());
		mkdir(base, 0700);
		atexit(remove_base);
	}
	if (size == 0)
		return 0;
	int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	if (mkdirat(dfd, "root", 0755) == 0) {
		int root = openat(dfd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (root >= 0) {
			(void)rt_extract_mem(data + 1, size - 1, root, data[0] & 1, 1 << 20, err,
					     sizeof err);
			close(root);
		}
		rt_rm_tree(dfd, "root");
	}
	close(dfd);
	return 0;
}
