/* sentinel node ls | show | claim | permit | drain | rm: the CLI of the
 * nodes API (docs/jobs.md, "User routes"). src/cmd/node.c runs the agent
 * and hands these words here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"


#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };
static const cfg_opt ls_opts[] = {
	{ "state", "STATE", NULL, "only nodes in this state: pending, online, offline or draining",
	  CFG_NOENV },
	{ "limit", "N", NULL, "show at most N items (default: all)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt permit_opts[] = {
	{ "public", NULL, NULL, "anyone may run jobs on the node", CFG_FLAG | CFG_NOENV },
	{ "private", NULL, NULL, "only the owner may (clears the users and groups)",
	  CFG_FLAG | CFG_NOENV },
	{ "user", "USER", NULL, "this user may (repeatable)", CFG_MULTI | CFG_NOENV },
	{ "group", "GROUP", NULL, "members of this group may (repeatable)", CFG_MULTI | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt drain_opts[] = {
	{ "undo", NULL, NULL, "take work again", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};

static char *node_path(const char *id, const char *suffix)
{
	char *e = cli_escape(id);
	char *p = xasprintf("/api/v1/nodes/%s%s", e, suffix);
	free(e);
	return p;
}

/* body is consumed. Prints the JSON answer, or "<done> <id> (<name>)". */
static int call_print(cli *c, const char *method, const char *path, json_t *body, const char *done)
{
	json_t *out = NULL;
	int code = cli_call(c, method, path, body, &out);
	json_decref(body);
	if (!code && c->json) {
		cli_print_json(out);
	} else if (!code) {
		char *id = cli_field(out, "id"), *name = cli_field(out, "name");
		printf("%s %s (%s)\n", done, id, name);
		free(id);
		free(name);
	}
	json_decref(out);
	return code;
}

static int ls_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "id", "name", "state", "owner", "cores", "memory_mb",
					    "gpus", "free_slots", "max_parallel", "last_heartbeat",
					    NULL };
	const char *state = cfg_get(conf, "state");
	char *e = state ? cli_escape(state) : NULL;
	char *path = xasprintf("/api/v1/nodes%s%s", e ? "?state=" : "", e ? e : "");
	(void)args;
	int code = cli_list(c, path, conf, cols);
	free(path);
	free(e);
	return code;
}

/* A JSON array of strings as "a, b" ("-" when empty). */
static char *join(const json_t *a)
{
	json_t *o = json_object(), *x;
	size_t i, len = 0;
	char *s = xstrdup("");
	json_array_foreach(a, i, x) {
		/* cli_field escapes what a terminal would act on. */
		if (!o || json_object_set(o, "v", x))
			break;
		char *v = cli_field(o, "v");
		char *t = xasprintf("%s%s%s", s, len ? ", " : "", v);
		free(v);
		free(s);
		s = t;
		len = strlen(s);
	}
	json_decref(o);
	if (!len) {
		free(s);
		s = xstrdup("-");
	}
	return s;
}

static void print_node(const json_t *n)
{
	static const char *const str[] = { "name", "state", "owner", "platform", "version",
					   "last_heartbeat", "created_at", NULL };
	static const char *const num[] = { "cores", "memory_mb", "gpus", "max_parallel",
					   "free_slots", NULL };
	char *id = cli_field(n, "id");
	printf("node %s\n", id);
	free(id);
	for (int i = 0; str[i]; i++) {
		char *v = cli_field(n, str[i]);
		printf("  %-14s %s\n", str[i], v);
		free(v);
	}
	for (int i = 0; num[i]; i++) {
		json_t *v = json_object_get(n, num[i]);
		if (json_is_number(v))
			printf("  %-14s %g\n", num[i], json_number_value(v));
	}
	json_t *run = json_object_get(n, "running");
	if (json_is_array(run))
		printf("  %-14s %zu\n", "running", json_array_size(run));
	else if (json_is_integer(run))
		printf("  %-14s %lld\n", "running", (long long)json_integer_value(run));
	json_t *acc = json_object_get(n, "access");
	char *u = join(json_object_get(acc, "users")), *g = join(json_object_get(acc, "groups"));
	printf("  %-14s public: %s; users: %s; groups: %s\n", "access",
	       json_is_true(json_object_get(acc, "public")) ? "yes" : "no", u, g);
	free(u);
	free(g);
	json_t *ds = json_object_get(n, "datasets");
	if (json_array_size(ds)) {
		static const char *const cols[] = { "name", "manifest_sha256", "bytes", "files", NULL };
		printf("\ndatasets on the node:\n");
		cli_print_table(ds, cols);
	}
}

static int show_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *n = NULL;
	char *path = node_path(args[0], "");
	(void)conf;
	int code = cli_call(c, "GET", path, NULL, &n);
	if (!code && c->json)
		cli_print_json(n);
	else if (!code)
		print_node(n);
	json_decref(n);
	free(path);
	return code;
}

static int claim_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	json_t *body = cli_pack(c, "{s:s}", "code", args[0]);
	if (!body)
		return 2;
	return call_print(c, "POST", "/api/v1/nodes/claim", body, "Claimed node");
}

/* The access set replaces the node's: --private alone clears it. */
static int permit_fn(cli *c, const cfg *conf, char *const *args)
{
	size_t nu, ng;
	const char *const *users = cfg_get_multi(conf, "user", &nu);
	const char *const *groups = cfg_get_multi(conf, "group", &ng);
	int pub = cfg_get_bool(conf, "public"), priv = cfg_get_bool(conf, "private");
	if (pub && priv) {
		fprintf(stderr, "sentinel %s: --public and --private exclude each other\n", c->cmd);
		return 2;
	}
	if (priv && (nu || ng)) {
		fprintf(stderr, "sentinel %s: --private clears the users and groups: give it alone\n",
			c->cmd);
		return 2;
	}
	if (!pub && !priv && !nu && !ng) {
		fprintf(stderr, "sentinel %s: give --public, --private, --user USER or --group GROUP\n",
			c->cmd);
		return 2;
	}
	json_t *u = json_array(), *g = json_array();
	int bad = !u || !g;
	for (size_t i = 0; !bad && i < nu; i++)
		bad = json_array_append_new(u, json_string(users[i]));
	for (size_t i = 0; !bad && i < ng; i++)
		bad = json_array_append_new(g, json_string(groups[i]));
	json_t *body = bad ? NULL : cli_pack(c, "{s:{s:b,s:O,s:O}}", "access", "public", pub,
					     "users", u, "groups", g);
	json_decref(u);
	json_decref(g);
	if (!body) {
		if (bad)
			fprintf(stderr, "sentinel %s: cannot encode the request (names must be UTF-8)\n",
				c->cmd);
		return 2;
	}
	char *path = node_path(args[0], "");
	int code = call_print(c, "PATCH", path, body, "Permissions set on node");
	free(path);
	return code;
}

static int drain_fn(cli *c, const cfg *conf, char *const *args)
{
	int undo = cfg_get_bool(conf, "undo");
	json_t *body = cli_pack(c, "{s:b}", "drain", !undo);
	if (!body)
		return 2;
	char *path = node_path(args[0], "/drain");
	int code = call_print(c, "POST", path, body, undo ? "Resumed node" : "Draining node");
	free(path);
	return code;
}

static int rm_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *out = NULL;
	char *path = node_path(args[0], "");
	(void)conf;
	int code = cli_call(c, "DELETE", path, NULL, &out);
	if (!code && c->json)
		cli_print_json(out);
	else if (!code)
		printf("Removed node %s: its key is refused from now on\n", args[0]);
	json_decref(out);
	free(path);
	return code;
}

#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(ls_spec, "node ls", "[--state STATE]",
     "List the nodes you own or may use (admins: all).", ls_opts);
SPEC(show_spec, "node show", "ID", "Show a node: capacity, load, access, datasets.", plain_opts);
SPEC(claim_spec, "node claim", "CODE",
     "Claim a new node by the code its agent printed; you become its owner.", plain_opts);
SPEC(permit_spec, "node permit", "ID (--public | --private | --user USER... | --group GROUP...)",
     "Set who may run jobs on a node you own (the owner always may). The\n"
     "users and groups given replace the node's; --public may go with them.", permit_opts);
SPEC(drain_spec, "node drain", "ID [--undo]",
     "Stop giving the node new work; running chunks finish. --undo resumes.", drain_opts);
SPEC(rm_spec, "node rm", "ID",
     "Remove a node (admin): its key is refused; its running chunks run elsewhere.",
     plain_opts);

static int node_ls(int argc, char **argv) { return cli_run(&ls_spec, 0, argc, argv, ls_fn); }
static int node_show(int argc, char **argv) { return cli_run(&show_spec, 1, argc, argv, show_fn); }
static int node_claim(int argc, char **argv) { return cli_run(&claim_spec, 1, argc, argv, claim_fn); }
static int node_permit(int argc, char **argv) { return cli_run(&permit_spec, 1, argc, argv, permit_fn); }
static int node_drain(int argc, char **argv) { return cli_run(&drain_spec, 1, argc, argv, drain_fn); }
static int node_rm(int argc, char **argv) { return cli_run(&rm_spec, 1, argc, argv, rm_fn); }

/* argv[0] is "node", argv[1] the subcommand word. */
int cli_node_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", node_ls, "list nodes" },
		{ "show", node_show, "show a node" },
		{ "claim", node_claim, "claim a node by its code" },
		{ "permit", node_permit, "set who may use a node" },
		{ "drain", node_drain, "stop (or resume) giving a node work" },
		{ "rm", node_rm, "remove a node (admin)" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("node", subs, argc, argv);
}
