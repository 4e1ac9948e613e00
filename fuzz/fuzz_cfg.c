/* libFuzzer target: the config-file parser (through cfg_parse --config). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include "base/cfg.h"

static const cfg_opt opts[] = {
	{ "listen", "ADDR", "127.0.0.1:8080", "", 0 },
	{ "data", "DIR", NULL, "", 0 },
	{ "env", "K=V", NULL, "", CFG_MULTI },
	{ "json", NULL, NULL, "", CFG_FLAG },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec spec = { "fuzz", NULL, "", opts, 0 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("cfg", 0);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64], err[256];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	char *argv[] = { "fuzz", "--config", path };
	cfg *c = NULL;
	if (cfg_parse(&spec, 3, argv, &c, err, sizeof err) == 0) {
		size_t n;
		cfg_get(c, "listen");
		cfg_get_multi(c, "env", &n);
		cfg_get_bool(c, "json");
		cfg_free(&c);
	}
	close(fd);
	return 0;
}
