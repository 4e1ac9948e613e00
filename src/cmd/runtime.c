/* `sentinel runtime ingest|scan|register|ls|rm`: the local runtime registry. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "cmd/commands.h"
#include "runtime/rt.h"

#define DATA_OPT { "data", "DIR", NULL, "data directory (see sentinel status --local)", CFG_DATADIR }
/* The store that audits the change (the server's --db; SENTINEL_DB). */
#define DB_OPT { "db", "URL", NULL, "the server's store, if not sqlite:DIR/sentinel.db", 0 }
#define JSON_OPT { "json", NULL, NULL, "print JSON", CFG_FLAG | CFG_NOENV }
#define END_OPT { NULL, NULL, NULL, NULL, 0 }

static const cfg_opt ingest_opts[] = {
	{ "name", "NAME", NULL, "name to register the runtime under (required)", CFG_NOENV },
	{ "max-size", "SIZE", "8G", "refuse archives that unpack to more than SIZE", 0 },
	{ "venv", "DIR", NULL, "register a Python virtual environment instead (register only)",
	  CFG_NOENV },
	DATA_OPT, DB_OPT, JSON_OPT, END_OPT,
};
static const cfg_opt plain_opts[] = { DATA_OPT, JSON_OPT, END_OPT };
static const cfg_opt rm_opts[] = { DATA_OPT, DB_OPT, JSON_OPT, END_OPT };

static const cfg_spec ingest_spec = {
	"runtime ingest", "FILE.tar --name NAME [options]",
	"Unpack a `docker save` archive or a rootfs tarball (gzip/xz/zstd too) into\n"
	"DATA/runtimes/<sha256>/rootfs and register it as NAME.",
	ingest_opts, 1,
};
static const cfg_spec register_spec = {
	"runtime register", "(FILE --name NAME | --venv DIR --name NAME) [options]",
	"Register a tarball from the drop folder DATA/runtimes/incoming/ (FILE is a name\n"
	"there or a path), or a Python virtual environment (runs on top of host).",
	ingest_opts, 1,
};
static const cfg_spec scan_spec = {
	"runtime scan", "[options]",
	"List tarballs in DATA/runtimes/incoming/ that are not registered yet.", plain_opts, 0,
};
static const cfg_spec ls_spec = { "runtime ls", "[options]", "List the runtimes.", plain_opts, 0 };
static const cfg_spec rm_spec = {
	"runtime rm", "NAME [options]",
	"Remove a runtime (and its tree when no other name uses it).", rm_opts, 1,
};

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
}

static void print_info(cfg *c, json_t *j)
{
	if (cfg_get_bool(c, "json")) {
		print_json(j);
		return;
	}
	const char *sha = json_string_value(json_object_get(j, "sha256"));
	const char *at = json_string_value(json_object_get(j, "created_at"));
	/* The time to the second: 2026-01-02T03:04:05 (UTC, as in the JSON). */
	printf("%-20s %-6s %-14.12s %-20.19s %s\n", json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "kind")), sha ? sha : "-", at ? at : "-",
	       json_string_value(json_object_get(j, "path")) ?
		       json_string_value(json_object_get(j, "path")) : "(built in)");
}

/* ingest and register share the options; register resolves FILE in incoming/. */
static int ingest_like(const cfg_spec *spec, int argc, char **argv, int from_incoming)
{
	cfg *c = NULL;
	int code, nargs;
	char err[512] = "";
	uint64_t max;
	rt_info r = { 0 };
	if (cfg_cmd_init(spec, argc, argv, &c, &code))
		return code;
	char *const *args = cfg_args(c, &nargs);
	const char *name = cfg_get(c, "name"), *venv = cfg_get(c, "venv"), *data = cfg_get(c, "data");
	char *file = NULL;
	code = 2;
	if (!name || (!venv && nargs != 1) || (venv && (nargs || !from_incoming))) {
		snprintf(err, sizeof err, "usage: sentinel %s %s", spec->cmd, spec->synopsis);
		goto out;
	}
	if (cfg_get_size(c, "max-size", &max, err, sizeof err))
		goto out;
	code = 1;
	/* As at server start: what a crashed ingest left half-done goes. */
	if (rt_init(data, err, sizeof err))
		goto out;
	if (venv) {
		if (rt_register_venv(data, name, venv, &r, err, sizeof err))
			goto out;
	} else {
		struct stat st;
		char *inc = rt_incoming_dir(data);
		file = from_incoming && !strchr(args[0], '/') && stat(args[0], &st) != 0
			       ? xasprintf("%s/%s", inc, args[0]) : xstrdup(args[0]);
		free(inc);
		if (rt_ingest(data, file, name, NULL, max, &r, err, sizeof err))
			goto out;
	}
	json_t *j = rt_info_json(&r);
	if (cfg_get_bool(c, "json"))
		print_json(j);
	else
		printf("registered runtime %s (%s)\n", r.name, r.path);
	json_decref(j);
	code = 0;
out:
	if (err[0])
		fprintf(stderr, "sentinel %s: %s\n", spec->cmd, err);
	/* Local changes are audited like the API's, in the server's store. */
	if (code != 2)
		admin_audit_local(data, cfg_get(c, "db"),
				  from_incoming ? "runtime.register" : "runtime.ingest", name,
				  code ? 500 : 200);
	free(file);
	rt_info_release(&r);
	cfg_free(&c);
	return code;
}

typedef int (*list_fn)(const char *data, json_t **out, char *err, size_t errlen);

static void print_runtime_rows(cfg *c, json_t *arr)
{
	size_t i;
	json_t *j;
	printf("%-20s %-6s %-14s %-20s %s\n", "NAME", "KIND", "SHA256", "CREATED (UTC)", "PATH");
	json_array_foreach(arr, i, j)
		print_info(c, j);
}

static void print_scan_rows(cfg *c, json_t *arr)
{
	size_t i;
	json_t *j;
	(void)c;
	json_array_foreach(arr, i, j)
		printf("%s\t%lld\t%s\n", json_string_value(json_object_get(j, "file")),
		       (long long)json_integer_value(json_object_get(j, "bytes")),
		       json_string_value(json_object_get(j, "sha256")));
}

/* ls and scan: a list from the registry, as JSON or as rows. */
static int list_cmd(const cfg_spec *spec, list_fn fn, void (*rows)(cfg *, json_t *), int argc,
		    char **argv)
{
	cfg *c = NULL;
	int code;
	char err[512] = "";
	json_t *arr = NULL;
	if (cfg_cmd_init(spec, argc, argv, &c, &code))
		return code;
	code = 1;
	if (fn(cfg_get(c, "data"), &arr, err, sizeof err)) {
		fprintf(stderr, "sentinel %s: %s\n", spec->cmd, err);
	} else {
		if (cfg_get_bool(c, "json"))
			print_json(arr);
		else
			rows(c, arr);
		code = 0;
	}
	json_decref(arr);
	cfg_free(&c);
	return code;
}

static int ls_cmd(int argc, char **argv)
{
	return list_cmd(&ls_spec, rt_list, print_runtime_rows, argc, argv);
}

static int scan_cmd(int argc, char **argv)
{
	return list_cmd(&scan_spec, rt_scan, print_scan_rows, argc, argv);
}

static int rm_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	int code, nargs;
	char err[512] = "";
	if (cfg_cmd_init(&rm_spec, argc, argv, &c, &code))
		return code;
	char *const *args = cfg_args(c, &nargs);
	if (nargs != 1) {
		fprintf(stderr, "sentinel runtime rm: usage: sentinel runtime rm NAME\n");
		code = 2;
	} else if (rt_remove(cfg_get(c, "data"), args[0], err, sizeof err)) {
		fprintf(stderr, "sentinel runtime rm: %s\n", err);
		code = 1;
	} else {
		printf("removed runtime %s\n", args[0]);
		code = 0;
	}
	if (code != 2)
		admin_audit_local(cfg_get(c, "data"), cfg_get(c, "db"), "runtime.delete", args[0],
				  code ? 500 : 200);
	cfg_free(&c);
	return code;
}

static int ingest_cmd(int argc, char **argv)
{
	return ingest_like(&ingest_spec, argc, argv, 0);
}

static int register_cmd(int argc, char **argv)
{
	return ingest_like(&register_spec, argc, argv, 1);
}

int runtime_cmd(int argc, char **argv)
{
	static const struct { const char *name; int (*fn)(int, char **); } subs[] = {
		{ "ingest", ingest_cmd }, { "scan", scan_cmd }, { "register", register_cmd },
		{ "ls", ls_cmd }, { "rm", rm_cmd },
	};
	for (size_t i = 0; argc >= 2 && i < sizeof subs / sizeof subs[0]; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(argc - 1, argv + 1);
	FILE *f = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
			  ? stdout : stderr;
	fprintf(f, "Usage: sentinel runtime (ingest|scan|register|ls|rm) [options]\n"
		   "Run 'sentinel runtime SUBCOMMAND --help' for its options.\n");
	return f == stdout ? 0 : 2;
}
