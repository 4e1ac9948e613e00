/* sentinel status: the server's state (GET /api/v1/status), or with
 * --local where the commands that keep local state keep it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"

static const cfg_opt status_opts[] = {
	{ "local", NULL, NULL, "show the local data directory instead of asking a server", CFG_FLAG | CFG_NOENV },
	{ "data", "DIR", NULL, "with --local: the data directory to show", CFG_DATADIR },
	{ "db", "URL", NULL, "with --local: the server's store, if not sqlite:DIR/sentinel.db", 0 },
	CLI_COMMON_OPTS,
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec status_spec = {
	"status", "[--local] [options]",
	"Show the server's version, uptime and store; with --local, the data directory\n"
	"(and where that value came from), database and runtimes of this machine's\n"
	"sentinel runtime, sandbox and node.",
	status_opts, 0,
};
/* --local reads the settings as `sentinel runtime` does: its [runtime]
 * section and SENTINEL_RUNTIME_* variables apply. */
static const cfg_spec local_spec = {
	"runtime", "[--local] [options]", "", status_opts, 0,
};

/* A store URL fit to print: a PostgreSQL URL's password (in its user
 * part or a password= parameter) becomes "***". The caller frees. */
static char *url_shown(const char *url)
{
	buf b;
	buf_init(&b, 1 << 16);
	const char *at = strchr(url, '@'), *scheme = strstr(url, "://");
	const char *colon = scheme && at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	const char *p = url;
	if (colon) {
		buf_append(&b, url, (size_t)(colon + 1 - url));
		buf_puts(&b, "***");
		p = at;
	}
	for (const char *q; (q = strstr(p, "password="));) {
		int starts = q == url || q[-1] == '?' || q[-1] == '&' || q[-1] == ' ';
		buf_append(&b, p, (size_t)(q + 9 - p));
		p = q + 9;
		if (starts) {
			buf_puts(&b, "***");
			p += strcspn(p, "& ");
		}
	}
	buf_puts(&b, p);
	size_t n;
	char *out = buf_detach(&b, &n);
	return out ? out : xstrdup("");
}

static int local_status(int argc, char **argv, int json)
{
	cfg *c = NULL;
	char err[512];
	if (cfg_parse(&local_spec, argc, argv, &c, err, sizeof err)) {
		fprintf(stderr, "sentinel status: %s\n", err);
		return 2;
	}
	const char *data = cfg_get(c, "data"), *url = cfg_get(c, "db");
	char *db = url ? url_shown(url) : xasprintf("%s/sentinel.db", data);
	char *rts = xasprintf("%s/runtimes", data);
	int code = 0;
	if (json) {
		json_t *j = json_pack("{s:s,s:s,s:s,s:s}", "data", data, "data_from", cfg_origin(c, "data"),
				      "database", db, "runtimes", rts);
		if (!j) {
			fprintf(stderr, "sentinel status: cannot encode the paths (not UTF-8)\n");
			code = 1;
		} else {
			cli_print_json(j);
		}
		json_decref(j);
	} else {
		printf("data      %s (%s)\ndatabase  %s\nruntimes  %s\n", data, cfg_origin(c, "data"),
		       db, rts);
	}
	free(db);
	free(rts);
	cfg_free(&c);
	return code;
}

int cli_status_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	json_t *st = NULL;
	int code;
	if (cfg_cmd_init(&status_spec, argc, argv, &conf, &code))
		return code;
	if (cfg_get_bool(conf, "local")) {
		/* argv again, parsed under local_spec, whose settings differ. */
		code = local_status(argc, argv, cfg_get_bool(conf, "json"));
		goto out;
	}
	if ((code = cli_open(&c, conf, "status", 1)) || (code = cli_call(&c, "GET", "/api/v1/status", NULL, &st)))
		goto out;
	if (c.json) {
		cli_print_json(st);
	} else {
		/* schema_version is an object (a version per domain): shown as JSON. */
		json_t *sv = json_object_get(st, "schema_version");
		char *schema = sv ? json_dumps(sv, JSON_COMPACT) : NULL;
		char *v = cli_field(st, "version"), *at = cli_field(st, "started_at");
		char *store = cli_field(st, "store");
		printf("%s: sentinel %s, up since %s (%lld s), store %s, schema %s\n", c.server, v, at,
		       (long long)json_integer_value(json_object_get(st, "uptime_s")), store,
		       schema ? schema : "-");
		free(schema);
		free(v);
		free(at);
		free(store);
	}
out:
	json_decref(st);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}
