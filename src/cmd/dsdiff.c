/* sentinel dataset-diff: the dataset diff on two local CSV files (hidden:
 * for benchmarks and checks; the server's diff route uses the same
 * ds_diff). Exits as diff(1): 0 same, 1 different, 2 trouble. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "dataset/diff.h"

static const cfg_opt dsdiff_opts[] = {
	{ "key", "COL[,COL..]", NULL, "key columns (default: rows compared whole, as a multiset)", CFG_NOENV },
	{ "limit", "N", "50", "sample rows per category (at most 1000)", CFG_NOENV },
	{ "json", NULL, NULL, "print the diff as JSON", CFG_FLAG | CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec dsdiff_spec = {
	.cmd = "dataset-diff",
	.synopsis = "A.csv B.csv [--key COL[,COL..]] [--limit N] [--json]",
	.summary = "Row-level diff of two CSV files: columns added, removed, retyped or\n"
		   "reordered; rows added, removed and (with --key) changed.\n"
		   "Exits 0 when they hold the same rows, 1 when not, 2 on error.",
	.opts = dsdiff_opts,
	.max_args = 2,
};

/* Splits "a,b" into at most DS_DIFF_KEY_MAX names in *copy (freed by the caller). */
static int split_key(const char *s, char **copy, const char **key, size_t *n)
{
	char *save = NULL;
	*copy = xstrdup(s);
	*n = 0;
	for (char *p = strtok_r(*copy, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		if (*n == DS_DIFF_KEY_MAX)
			return -E2BIG;
		key[(*n)++] = p;
	}
	return *n ? 0 : -EINVAL;
}

static long long count(const json_t *j, const char *k)
{
	return json_integer_value(json_object_get(json_object_get(j, "counts"), k));
}

static void print_names(const char *what, const json_t *a)
{
	size_t i;
	const json_t *v;
	if (!json_array_size(a))
		return;
	printf("columns %s:", what);
	json_array_foreach(a, i, v)
		printf(" %s", json_string_value(v));
	printf("\n");
}

static void print_summary(const json_t *j)
{
	const json_t *s = json_object_get(j, "schema"), *rows = json_object_get(j, "rows");
	print_names("added", json_object_get(s, "added"));
	print_names("removed", json_object_get(s, "removed"));
	if (json_is_true(json_object_get(s, "reordered")))
		printf("columns reordered\n");
	if (rows)
		printf("rows: %lld in A, %lld in B\n",
		       (long long)json_integer_value(json_object_get(rows, "a")),
		       (long long)json_integer_value(json_object_get(rows, "b")));
	printf("added %lld, removed %lld, changed %lld, unchanged %lld\n", count(j, "added"),
	       count(j, "removed"), count(j, "changed"), count(j, "unchanged"));
	const json_t *d = json_object_get(j, "duplicate_keys");
	if (json_is_false(json_object_get(j, "key_unique")))
		printf("key not unique: %lld repeated keys in A, %lld in B\n",
		       (long long)json_integer_value(json_object_get(d, "a")),
		       (long long)json_integer_value(json_object_get(d, "b")));
}

int dsdiff_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	json_t *j = NULL;
	char *keycopy = NULL, err[512] = "";
	const char *key[DS_DIFF_KEY_MAX];
	long long limit;
	int code, nargs;
	if (cfg_cmd_init(&dsdiff_spec, argc, argv, &c, &code))
		return code;
	char *const *args = cfg_args(c, &nargs);
	ds_diff_opts o = { .key = key };
	code = 2;
	if (nargs != 2) {
		fprintf(stderr, "sentinel dataset-diff: usage: sentinel dataset-diff %s\n",
			dsdiff_spec.synopsis);
		goto out;
	}
	if (cfg_get_int(c, "limit", &limit, err, sizeof err) || limit < 0 ||
	    limit > DS_DIFF_LIMIT_MAX) {
		fprintf(stderr, "sentinel dataset-diff: --limit: %s\n",
			err[0] ? err : "between 0 and 1000");
		goto out;
	}
	o.limit = (size_t)limit;
	if (cfg_get(c, "key") && split_key(cfg_get(c, "key"), &keycopy, key, &o.nkey)) {
		fprintf(stderr, "sentinel dataset-diff: --key: 1 to %d column names, comma-separated\n",
			DS_DIFF_KEY_MAX);
		goto out;
	}
	if (ds_diff_paths(args[0], args[1], &o, &j, err, sizeof err)) {
		fprintf(stderr, "sentinel dataset-diff: %s\n", err);
		goto out;
	}
	if (cfg_get_bool(c, "json"))
		cli_print_json(j);
	else
		print_summary(j);
	code = count(j, "added") || count(j, "removed") || count(j, "changed") ||
	       json_is_true(json_object_get(json_object_get(j, "schema"), "changed"));
out:
	json_decref(j);
	free(keycopy);
	cfg_free(&c);
	return code;
}
