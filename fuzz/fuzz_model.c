/* libFuzzer target: what the model module reads from outside before any
 * file: a model spec ("M@v", from detector bodies and the CLI) and a
 * training job's options (the job's config, JSON from the submitter,
 * checked on the node by model_train_run before it opens the dataset). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "model/model_int.h"
#include "model/model_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), name[MD_NAME_MAX + 1], err[512];
	int64_t v = -1;
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (md_spec_parse(s, name, &v) == 0 && (v < 0 || !md_name_valid(name)))
		abort();
	json_t *p = json_loadb((const char *)data, size, 0, NULL);
	if (p) {
		/* The CSV does not exist: a run ends at its options or at the open. */
		int rc = model_train_run(p, "/nonexistent/fuzz.csv", "/nonexistent/out", NULL, err,
					 sizeof err);
		if (rc != -EINVAL && rc != -ENOENT)
			abort();
		if (!memchr(err, '\0', sizeof err))
			abort();
		json_decref(p);
	}
	free(s);
	return 0;
}
