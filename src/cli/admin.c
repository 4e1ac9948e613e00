/* sentinel user | group | token | audit: thin clients of the REST API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"


/* Calls the API and prints either the JSON or a one-line confirmation. */
static int call_print(cli *c, const char *method, const char *path, json_t *body, const char *done)
{
	json_t *out = NULL;
	int code = cli_call(c, method, path, body, &out);
	json_decref(body);
	if (code == 0) {
		if (c->json)
			cli_print_json(out);
		else
			printf("%s\n", done);
	}
	json_decref(out);
	return code;
}

static char *user_path(char *const *args, const char *suffix)
{
	char *e = cli_escape(args[0]);
	char *p = xasprintf("/api/v1/users/%s%s", e, suffix);
	free(e);
	return p;
}

/* ---- user ---- */

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
static const cfg_opt list_opts[] = {
	{ "limit", "N", NULL, "show at most N items (default: all)", CFG_NOENV }, CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };
static const cfg_opt user_create_opts[] = {
	{ "role", "ROLE", "member", "member, admin or superadmin", CFG_NOENV },
	{ "password-stdin", NULL, NULL, "read the new password from standard input", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};

/* SENTINEL_NEW_PASSWORD, --password-stdin, or asked twice at a prompt;
 * non-zero (reported) when there is none or the two differ. */
static int new_password(const cli *c, const cfg *conf, const char *prompt, char *pw, size_t n)
{
	int rc = cli_get_password("SENTINEL_NEW_PASSWORD", cfg_get_bool(conf, "password-stdin"), 1,
				  prompt, pw, n);
	if (rc)
		cli_password_error(c->cmd, "SENTINEL_NEW_PASSWORD", rc);
	return rc;
}

static int user_ls_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)args;
	static const char *const cols[] = { "username", "role", "disabled", "id", "created_at", NULL };
	return cli_list(c, "/api/v1/users", conf, cols);
}

static int user_create_fn(cli *c, const cfg *conf, char *const *args)
{
	char pw[1024];
	if (new_password(c, conf, "New user's password: ", pw, sizeof pw))
		return 2;
	json_t *body = cli_pack(c, "{s:s,s:s,s:s}", "username", args[0], "password", pw, "role",
				cfg_get(conf, "role"));
	/* body holds its own copy; the stack one goes at once. */
	memset(pw, 0, sizeof pw);
	if (!body)
		return 2;
	char *msg = xasprintf("Created user %s (%s)", args[0], cfg_get(conf, "role"));
	int code = call_print(c, "POST", "/api/v1/users", body, msg);
	free(msg);
	return code;
}

/* body: from cli_pack; NULL (already reported) exits with 2. */
static int user_patch(cli *c, char *const *args, json_t *body, const char *what)
{
	if (!body)
		return 2;
	char *path = user_path(args, "");
	char *msg = xasprintf("User %s %s", args[0], what);
	int code = call_print(c, "PATCH", path, body, msg);
	free(path);
	free(msg);
	return code;
}

static int user_disable_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return user_patch(c, args, cli_pack(c, "{s:b}", "disabled", 1), "disabled");
}

static int user_enable_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return user_patch(c, args, cli_pack(c, "{s:b}", "disabled", 0), "enabled");
}

static int user_role_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	char *what = xasprintf("is now %s", args[1]);
	int code = user_patch(c, args, cli_pack(c, "{s:s}", "role", args[1]), what);
	free(what);
	return code;
}

static int user_passwd_fn(cli *c, const cfg *conf, char *const *args)
{
	char pw[1024];
	if (new_password(c, conf, "New password: ", pw, sizeof pw))
		return 2;
	int code = user_patch(c, args, cli_pack(c, "{s:s}", "password", pw), "has a new password");
	memset(pw, 0, sizeof pw);
	return code;
}

static int user_rm_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	char *path = user_path(args, "");
	char *msg = xasprintf("Removed user %s", args[0]);
	int code = call_print(c, "DELETE", path, NULL, msg);
	free(path);
	free(msg);
	return code;
}

/* max_args -1: run() checks the exact count and names the synopsis. */
#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(user_ls_spec, "user ls", "[options]", "List users (admin).", list_opts);
SPEC(user_create_spec, "user create", "NAME [--role ROLE]",
     "Create a user (admin; admins and superadmins only by a superadmin).\n"
     "The password comes from SENTINEL_NEW_PASSWORD, --password-stdin, or a prompt.",
     user_create_opts);
SPEC(user_disable_spec, "user disable", "NAME", "Disable a user and end their sessions.", plain_opts);
SPEC(user_enable_spec, "user enable", "NAME", "Enable a disabled user.", plain_opts);
SPEC(user_role_spec, "user set-role", "NAME ROLE", "Change a user's role.", plain_opts);
/* user_create_opts without its first entry, --role: keep --role first. */
SPEC(user_passwd_spec, "user passwd", "NAME", "Set a user's password (SENTINEL_NEW_PASSWORD or prompt).",
     user_create_opts + 1);
SPEC(user_rm_spec, "user rm", "NAME", "Remove a user.", plain_opts);

static int user_ls(int argc, char **argv) { return cli_run(&user_ls_spec, 0, argc, argv, user_ls_fn); }
static int user_create(int argc, char **argv) { return cli_run(&user_create_spec, 1, argc, argv, user_create_fn); }
static int user_disable(int argc, char **argv) { return cli_run(&user_disable_spec, 1, argc, argv, user_disable_fn); }
static int user_enable(int argc, char **argv) { return cli_run(&user_enable_spec, 1, argc, argv, user_enable_fn); }
static int user_role(int argc, char **argv) { return cli_run(&user_role_spec, 2, argc, argv, user_role_fn); }
static int user_passwd(int argc, char **argv) { return cli_run(&user_passwd_spec, 1, argc, argv, user_passwd_fn); }
static int user_rm(int argc, char **argv) { return cli_run(&user_rm_spec, 1, argc, argv, user_rm_fn); }

int cli_user_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", user_ls, "list users" },
		{ "create", user_create, "create a user" },
		{ "disable", user_disable, "disable a user" },
		{ "enable", user_enable, "enable a user" },
		{ "set-role", user_role, "change a user's role" },
		{ "passwd", user_passwd, "set a user's password" },
		{ "rm", user_rm, "remove a user" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("user", subs, argc, argv);
}

/* ---- group ---- */

static const cfg_opt group_create_opts[] = {
	{ "description", "TEXT", "", "what the group is for", CFG_NOENV }, CLI_COMMON_OPTS, END_OPTS,
};

static char *group_path(const char *g, const char *user)
{
	char *ge = cli_escape(g), *ue = user ? cli_escape(user) : NULL;
	char *p = xasprintf("/api/v1/groups/%s%s%s", ge, ue ? "/members/" : "", ue ? ue : "");
	free(ge);
	free(ue);
	return p;
}

static int group_ls_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)args;
	static const char *const cols[] = { "name", "members", "description", "id", NULL };
	return cli_list(c, "/api/v1/groups", conf, cols);
}

static int group_create_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *body = cli_pack(c, "{s:s,s:s}", "name", args[0], "description",
				cfg_get(conf, "description"));
	if (!body)
		return 2;
	char *msg = xasprintf("Created group %s", args[0]);
	int code = call_print(c, "POST", "/api/v1/groups", body, msg);
	free(msg);
	return code;
}

static int group_show_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	json_t *g = NULL;
	char *path = group_path(args[0], NULL);
	int code = cli_call(c, "GET", path, NULL, &g);
	free(path);
	if (code == 0 && c->json) {
		cli_print_json(g);
	} else if (code == 0) {
		char *name = cli_field(g, "name"), *desc = cli_field(g, "description");
		printf("%s: %s\n", name, desc);
		free(name);
		free(desc);
		static const char *const cols[] = { "username", "id", NULL };
		cli_print_table(json_object_get(g, "member_list"), cols);
	}
	json_decref(g);
	return code;
}

static int group_member_fn(cli *c, char *const *args, int add)
{
	char *path = group_path(args[0], args[1]);
	char *msg = xasprintf(add ? "Added %s to %s" : "Removed %s from %s", args[1], args[0]);
	int code = call_print(c, add ? "PUT" : "DELETE", path, NULL, msg);
	free(path);
	free(msg);
	return code;
}

static int group_add_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return group_member_fn(c, args, 1);
}

static int group_remove_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return group_member_fn(c, args, 0);
}

static int group_rm_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	char *path = group_path(args[0], NULL);
	char *msg = xasprintf("Removed group %s", args[0]);
	int code = call_print(c, "DELETE", path, NULL, msg);
	free(path);
	free(msg);
	return code;
}

SPEC(group_ls_spec, "group ls", "[options]", "List groups.", list_opts);
SPEC(group_create_spec, "group create", "NAME [--description TEXT]", "Create a group (admin).",
     group_create_opts);
SPEC(group_show_spec, "group show", "NAME", "Show a group and its members.", plain_opts);
SPEC(group_add_spec, "group add", "GROUP USER", "Add a user to a group (admin).", plain_opts);
SPEC(group_remove_spec, "group remove", "GROUP USER", "Remove a user from a group (admin).", plain_opts);
SPEC(group_rm_spec, "group rm", "NAME", "Remove a group (admin).", plain_opts);

static int group_ls(int argc, char **argv) { return cli_run(&group_ls_spec, 0, argc, argv, group_ls_fn); }
static int group_create(int argc, char **argv) { return cli_run(&group_create_spec, 1, argc, argv, group_create_fn); }
static int group_show(int argc, char **argv) { return cli_run(&group_show_spec, 1, argc, argv, group_show_fn); }
static int group_add(int argc, char **argv) { return cli_run(&group_add_spec, 2, argc, argv, group_add_fn); }
static int group_remove(int argc, char **argv) { return cli_run(&group_remove_spec, 2, argc, argv, group_remove_fn); }
static int group_rm(int argc, char **argv) { return cli_run(&group_rm_spec, 1, argc, argv, group_rm_fn); }

int cli_group_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", group_ls, "list groups" },
		{ "create", group_create, "create a group" },
		{ "show", group_show, "show a group's members" },
		{ "add", group_add, "add a user to a group" },
		{ "remove", group_remove, "remove a user from a group" },
		{ "rm", group_rm, "remove a group" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("group", subs, argc, argv);
}

/* ---- token ---- */

static const cfg_opt token_create_opts[] = {
	{ "expires-in-days", "N", NULL, "expire after N days (default: never)", CFG_NOENV },
	{ "expires-days", "N", NULL, "the old name of --expires-in-days", CFG_NOENV },
	{ "scope", "SCOPE", NULL, "all (default) or metrics:write (may only push metrics)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};

static int token_create_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *body = cli_pack(c, "{s:s}", "name", args[0]), *out = NULL;
	long long days = 0;
	char err[128];
	/* The flag is named like the API's field; the old name stays an alias. */
	const char *flag = cfg_get(conf, "expires-in-days") ? "expires-in-days" : "expires-days";
	if (!body)
		return 2;
	/* The server checks the value (400 naming the field). */
	const char *scope = cfg_get(conf, "scope");
	if (scope && json_object_set_new(body, "scope", json_string(scope))) {
		fprintf(stderr, "sentinel token create: --scope must be all or metrics:write\n");
		json_decref(body);
		return 2;
	}
	if (cfg_get(conf, flag)) {
		if (cfg_get_int(conf, flag, &days, err, sizeof err) || days < 1 ||
		    json_object_set_new(body, "expires_in_days", json_integer(days))) {
			fprintf(stderr, "sentinel token create: --%s must be a number >= 1\n", flag);
			json_decref(body);
			return 2;
		}
	}
	int code = cli_call(c, "POST", "/api/v1/tokens", body, &out);
	json_decref(body);
	if (code == 0 && c->json)
		cli_print_json(out);
	else if (code == 0)
		printf("%s\n(id %s; shown once: store it now)\n",
		       json_string_value(json_object_get(out, "token")),
		       json_string_value(json_object_get(out, "id")));
	json_decref(out);
	return code;
}

static int token_ls_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)args;
	static const char *const cols[] = { "id", "name", "scope", "created_at", "expires_at",
					    "revoked_at", "last_used_at", NULL };
	return cli_list(c, "/api/v1/tokens", conf, cols);
}

static int token_revoke_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	char *e = cli_escape(args[0]);
	char *path = xasprintf("/api/v1/tokens/%s", e);
	char *msg = xasprintf("Revoked token %s", args[0]);
	int code = call_print(c, "DELETE", path, NULL, msg);
	free(e);
	free(path);
	free(msg);
	return code;
}

SPEC(token_create_spec, "token create", "NAME [--expires-in-days N] [--scope metrics:write]",
     "Create a long-lived API token for scripts; it is printed once.", token_create_opts);
SPEC(token_ls_spec, "token ls", "[options]", "List your API tokens.", list_opts);
SPEC(token_revoke_spec, "token revoke", "ID", "Revoke an API token.", plain_opts);

static int token_create(int argc, char **argv) { return cli_run(&token_create_spec, 1, argc, argv, token_create_fn); }
static int token_ls(int argc, char **argv) { return cli_run(&token_ls_spec, 0, argc, argv, token_ls_fn); }
static int token_revoke(int argc, char **argv) { return cli_run(&token_revoke_spec, 1, argc, argv, token_revoke_fn); }

int cli_token_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "create", token_create, "create an API token" },
		{ "ls", token_ls, "list API tokens" },
		{ "revoke", token_revoke, "revoke an API token" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("token", subs, argc, argv);
}

/* ---- audit ---- */

static const cfg_opt audit_opts[] = {
	{ "actor", "USER", NULL, "only this user's actions", CFG_NOENV },
	{ "action", "ACTION", NULL, "only this action, e.g. user.create", CFG_NOENV },
	{ "target", "TARGET", NULL, "only records of this target, e.g. dataset:sales", CFG_NOENV },
	{ "target-prefix", "TEXT", NULL, "only records whose target starts with this", CFG_NOENV },
	{ "since", "TIME", NULL, "from this time: RFC 3339, or 30s, 15m, 1h, 7d, 2w ago", CFG_NOENV },
	{ "until", "TIME", NULL, "before this time (as --since)", CFG_NOENV },
	{ "limit", "N", "50", "show at most N records (0: all)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
SPEC(audit_spec, "audit", "[--actor U] [--action A] [--target T | --target-prefix P] [--since T] [--until T]",
     "List audit records, newest first (admin).", audit_opts);

static int audit_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)args;
	static const char *const keys[] = { "since", "until", "actor", "action", "target",
					    "target-prefix", NULL };
	static const char *const params[] = { "since", "until", "actor", "action", "target",
					      "target_prefix", NULL };
	static const char *const cols[] = { "ts", "actor", "action", "target", "outcome", "status",
					    "address", NULL };
	char *path = xstrdup("/api/v1/audit");
	for (int i = 0; keys[i]; i++) {
		const char *v = cfg_get(conf, keys[i]);
		if (!v)
			continue;
		/* keys[0] and keys[1] (since, until) are times. */
		char *t = i < 2 ? cli_time_arg(v) : xstrdup(v);
		char *e = cli_escape(t), *p = xasprintf("%s%c%s=%s", path, strchr(path, '?') ? '&' : '?',
							  params[i], e);
		free(t);
		free(e);
		free(path);
		path = p;
	}
	int code = cli_list(c, path, conf, cols);
	free(path);
	return code;
}

int cli_audit_cmd(int argc, char **argv)
{
	return cli_run(&audit_spec, 0, argc, argv, audit_fn);
}
