/* libFuzzer target: manifest parsing and path normalisation. What parses
 * must dump to canonical text that parses again to the same text, and a
 * normalised path must normalise to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dataset/ds.h"

/* 1 when some component of p is exactly "..": a name like "..x" is fine. */
static int has_dotdot(const char *p)
{
	for (const char *c = p; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL)
		if (c[0] == '.' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DS_PATH_MAX], again[DS_PATH_MAX];
	ds_manifest m = { 0 }, m2 = { 0 };
	char *t1 = NULL, *t2 = NULL;
	size_t l1, l2;
	if (ds_path_normalize((const char *)data, size, out) == 0) {
		if (ds_path_normalize(out, strlen(out), again) || strcmp(out, again) ||
		    out[0] == '/' || has_dotdot(out))
			abort();
	}
	if (ds_manifest_parse((const char *)data, size, &m) == 0) {
		if (ds_manifest_dump(&m, &t1, &l1) || ds_manifest_parse(t1, l1, &m2) ||
		    ds_manifest_dump(&m2, &t2, &l2) || l1 != l2 || memcmp(t1, t2, l1))
			abort();
	}
	free(t1);
	free(t2);
	ds_manifest_release(&m);
	ds_manifest_release(&m2);
	return 0;
}
