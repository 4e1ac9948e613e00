/* sentinel alert ls | create | rm | events: the CLI of the alerts API
 * (docs/metrics.md, "Alerts"). The server checks every field; the CLI only
 * builds the body from the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
#define NOENV(name, arg, help) { name, arg, NULL, help, CFG_NOENV }

static const cfg_opt ls_opts[] = {
	NOENV("limit", "N", "show at most N items (default: all)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt create_opts[] = {
	NOENV("metric", "M", "the metric the rule watches"),
	NOENV("agent", "A", "only this agent (default: every agent you may read)"),
	{ "tag", "K=V", NULL, "only samples with this tag", CFG_MULTI | CFG_NOENV },
	NOENV("agg", "AGG", "avg (default), min, max, sum, count, rate, p50, p90, p95, p99"),
	NOENV("window", "DUR", "what each evaluation aggregates, e.g. 5m"),
	NOENV("op", "OP", "the comparison: >, >=, <, <=, =="),
	NOENV("threshold", "X", "the value compared with"),
	NOENV("for", "DUR", "how long the condition must hold before the rule fires (default 0s)"),
	NOENV("detector", "ID", "fire while this detector flags anomalies (instead of --metric ...)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt events_opts[] = {
	NOENV("rule", "ID", "only this rule's events"),
	NOENV("limit", "N", "show at most N items (default: all)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };

static int set_str(json_t *o, const cfg *conf, const char *flag)
{
	const char *v = cfg_get(conf, flag);
	return v && json_object_set_new(o, flag, json_string(v)) ? -1 : 0;
}

/* The body from the flags; NULL (after a message) when one cannot be used. */
static json_t *create_body(const cli *c, const cfg *conf, const char *name)
{
	static const char *const strs[] = { "metric", "agent", "agg", "window", "op", "for",
					    "detector" };
	json_t *o = cli_pack(c, "{s:s}", "name", name), *tags = json_object();
	size_t ntags;
	const char *const *t = cfg_get_multi(conf, "tag", &ntags);
	const char *th = cfg_get(conf, "threshold");
	int bad = !o || !tags;
	for (size_t i = 0; !bad && i < sizeof strs / sizeof strs[0]; i++)
		bad = set_str(o, conf, strs[i]);
	for (size_t i = 0; !bad && i < ntags; i++) {
		const char *eq = strchr(t[i], '=');
		if (!eq) {
			fprintf(stderr, "sentinel %s: --tag wants K=V, not '%s'\n", c->cmd, t[i]);
			goto fail;
		}
		char *k = xstrndup(t[i], (size_t)(eq - t[i]));
		bad = json_object_set_new(tags, k, json_string(eq + 1));
		free(k);
	}
	if (!bad && ntags && json_object_set(o, "tags", tags))
		bad = 1;
	if (!bad && th) {
		char *end;
		double x = strtod(th, &end);
		if (!*th || *end) {
			fprintf(stderr, "sentinel %s: --threshold wants a number, not '%s'\n", c->cmd, th);
			goto fail;
		}
		bad = json_object_set_new(o, "threshold", json_real(x));
	}
	if (bad) {
		fprintf(stderr, "sentinel %s: cannot encode the request (text that is not UTF-8?)\n",
			c->cmd);
		goto fail;
	}
	json_decref(tags);
	return o;
fail:
	json_decref(tags);
	json_decref(o);
	return NULL;
}

static int create_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *body = create_body(c, conf, args[0]), *rule = NULL;
	if (!body)
		return 2;
	int code = cli_call(c, "POST", "/api/v1/alerts", body, &rule);
	if (!code && c->json) {
		cli_print_json(rule);
	} else if (!code) {
		char *id = cli_field(rule, "id"), *name = cli_field(rule, "name");
		printf("Created alert rule %s (%s)\n", id, name);
		free(id);
		free(name);
	}
	json_decref(rule);
	json_decref(body);
	return code;
}

static int ls_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "id", "name", "owner", "agent", "metric", "agg",
					    "window", "op", "threshold", "for", "state", "value", NULL };
	(void)args;
	return cli_list(c, "/api/v1/alerts", conf, cols);
}

static int rm_fn(cli *c, const cfg *conf, char *const *args)
{
	char *id = cli_escape(args[0]), *path = xasprintf("/api/v1/alerts/%s", id);
	json_t *out = NULL;
	(void)conf;
	int code = cli_call(c, "DELETE", path, NULL, &out);
	if (!code && c->json)
		cli_print_json(out);
	else if (!code)
		printf("Deleted alert rule %s\n", args[0]);
	json_decref(out);
	free(path);
	free(id);
	return code;
}

/* Firing and resolved events, newest first: of one rule, or of all yours. */
static int events_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "ts", "state", "rule_id", "name", "value", "threshold",
					    NULL };
	const char *rule = cfg_get(conf, "rule");
	char *id = rule ? cli_escape(rule) : NULL;
	char *path = id ? xasprintf("/api/v1/alerts/%s/events", id) : xstrdup("/api/v1/alerts/events");
	(void)args;
	int code = cli_list(c, path, conf, cols);
	free(path);
	free(id);
	return code;
}

#define SPEC(var, cmd, syn, sum, opts, n) static const cfg_spec var = { cmd, syn, sum, opts, n }
SPEC(ls_spec, "alert ls", "", "List your alert rules (admins: all) with their state.", ls_opts, 0);
SPEC(create_spec, "alert create", "NAME (--metric M --window DUR --op OP --threshold X "
     "[--agent A] [--tag K=V]... [--agg AGG] | --detector ID [--window DUR]) [--for DUR]",
     "Create an alert rule: it fires when the aggregate of the metric over the\n"
     "window compares true with the threshold for the --for duration, and\n"
     "resolves when it no longer does. Events go to 'sentinel alert events',\n"
     "the live event stream (topic alert) and the webhooks.", create_opts, 1);
SPEC(rm_spec, "alert rm", "ID", "Delete an alert rule and its events.", plain_opts, 1);
SPEC(events_spec, "alert events", "[--rule ID]",
     "List firing and resolved events, newest first: of one rule, or of all\nyour rules (admins: all).",
     events_opts, 0);

static int alert_ls(int argc, char **argv) { return cli_run(&ls_spec, 0, argc, argv, ls_fn); }
static int alert_create(int argc, char **argv)
{
	return cli_run(&create_spec, 1, argc, argv, create_fn);
}
static int alert_rm(int argc, char **argv) { return cli_run(&rm_spec, 1, argc, argv, rm_fn); }

static int alert_events(int argc, char **argv)
{
	return cli_run(&events_spec, 0, argc, argv, events_fn);
}

int cli_alert_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", alert_ls, "list alert rules and their state" },
		{ "create", alert_create, "create an alert rule on a metric or a detector" },
		{ "rm", alert_rm, "delete an alert rule" },
		{ "events", alert_events, "list firing and resolved events" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("alert", subs, argc, argv);
}
