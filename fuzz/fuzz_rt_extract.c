/* libFuzzer target: safe extraction of image tarballs (src/runtime/
 * rt_extract.c) — member names, link targets, whiteouts, compression
 * filters, truncated headers, and `docker save` archives (manifest, image
 * config, layers). The first byte picks the mode: bit 1 set, the rest is a
 * file given to rt_unpack_fd (a docker save archive or a rootfs tarball);
 * else rootfs (bit 0 clear) or layer (bit 0 set) from memory. Each input
 * extracts into a fresh directory that is then removed; nothing may appear
 * outside it. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "runtime/rt_int.h"

static char base[64];

/* The whole-archive path: the input as a file (memfd: a regular file). */
static void unpack(const uint8_t *data, size_t size)
{
	char dest[96], err[256];
	uint64_t bytes;
	json_t *config = NULL;
	int fd = memfd_create("fuzz-rt", MFD_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(dest, sizeof dest, "%s/root", base);
		(void)rt_unpack_fd(fd, dest, 1 << 20, &bytes, &config, err, sizeof err);
		json_decref(config);
	}
	close(fd);
}

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
		if (root >= 0 && (data[0] & 2))
			unpack(data + 1, size - 1);
		else if (root >= 0)
			(void)rt_extract_mem(data + 1, size - 1, root, data[0] & 1, 1 << 20, err,
					     sizeof err);
		if (root >= 0)
			close(root);
		rt_rm_tree(dfd, "root");
	}
	close(dfd);
	return 0;
}
