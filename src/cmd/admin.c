/* `sentinel admin reset-password`: recovery on the server's store, with no
 * server (a lost admin password has no other way back in), and the audit
 * of changes that local commands make to a data directory. SQLite lets
 * this run beside a live server: each change is one transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth/auth.h"
#include "base/cfg.h"
#include "base/mem.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "store/store.h"

#define PASSWORD_MAX 1024

/* Opens the store of data (or db, a store URL) with the auth schema,
 * migrated. With must_exist, a missing SQLite file is an error rather
 * than a new empty database. */
static int open_store(const char *data, const char *db, int must_exist, store **st, char *err,
		      size_t errlen)
{
	const store_domain *const domains[] = { &auth_store_domain };
	store_opts so = { .domains = domains, .ndomains = 1, .pool_size = 1 };
	char *url = db ? xstrdup(db) : xasprintf("sqlite:%s/sentinel.db", data);
	const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : strstr(url, "://") ? NULL : url;
	int rc;
	if (must_exist && path && access(path, F_OK) != 0) {
		snprintf(err, errlen, "no database at %s (wrong --data?)", path);
		rc = -ENOENT;
	} else {
		rc = store_open(url, &so, st, err, errlen);
	}
	free(url);
	return rc;
}

int admin_audit_local(const char *data, const char *db, const char *action, const char *target,
		      int status)
{
	store *st = NULL;
	char err[512] = "";
	int rc = open_store(data, db, 0, &st, err, sizeof err);
	if (rc == 0)
		rc = auth_audit_local(st, action, target, status);
	else
		fprintf(stderr, "sentinel: warning: %s not audited: %s\n", action, err);
	store_free(&st);
	return rc;
}

static const cfg_opt reset_opts[] = {
	{ "data", "DIR", "./sentinel-data", "the server's data directory", 0 },
	{ "db", "URL", NULL, "the server's store, if not sqlite:DIR/sentinel.db", 0 },
	{ "password-stdin", NULL, NULL, "read the new password from standard input", CFG_FLAG | CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec reset_spec = {
	"admin reset-password", "USER [options]",
	"Set USER's password on the server's store directly, with no server and no\n"
	"login (a lost admin password). Every token of USER is revoked; the change is\n"
	"audited as local:<unix user>. The password comes from SENTINEL_NEW_PASSWORD,\n"
	"--password-stdin, or a prompt (asked twice).",
	reset_opts, 1,
};

static int reset_password_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	store *st = NULL;
	char pw[PASSWORD_MAX] = "", err[512] = "";
	int code, nargs;
	if (cfg_cmd_init(&reset_spec, argc, argv, &c, &code))
		return code;
	char *const *args = cfg_args(c, &nargs);
	code = 2;
	if (nargs != 1) {
		fprintf(stderr, "sentinel admin reset-password: usage: sentinel admin reset-password"
			" USER [--data DIR]\n");
		goto out;
	}
	/* At a prompt it is asked twice: a typo would lock the user out again. */
	int rc = cli_get_password("SENTINEL_NEW_PASSWORD", cfg_get_bool(c, "password-stdin"), 1,
				  "New password: ", pw, sizeof pw);
	if (rc) {
		cli_password_error("admin reset-password", "SENTINEL_NEW_PASSWORD", rc);
		goto out;
	}
	code = 1;
	if (open_store(cfg_get(c, "data"), cfg_get(c, "db"), 1, &st, err, sizeof err)) {
		fprintf(stderr, "sentinel admin reset-password: %s\n", err);
		goto out;
	}
	rc = auth_reset_password(st, args[0], pw);
	if (rc == -EINVAL) {
		fprintf(stderr, "sentinel admin reset-password: the password needs at least 8 characters\n");
		code = 2;
	} else if (rc == -ENOENT) {
		fprintf(stderr, "sentinel admin reset-password: no user '%s'\n", args[0]);
	} else if (rc) {
		fprintf(stderr, "sentinel admin reset-password: cannot change the password (store"
			" error %d)\n", rc);
	} else {
		printf("Password of %s reset; all its tokens are revoked\n", args[0]);
		code = 0;
	}
out:
	memset(pw, 0, sizeof pw);
	store_free(&st);
	cfg_free(&c);
	return code;
}

int admin_cmd(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "reset-password") == 0)
		return reset_password_cmd(argc - 1, argv + 1);
	FILE *f = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
			  ? stdout : stderr;
	fprintf(f, "Usage: sentinel admin reset-password USER [options]\n"
		   "Run 'sentinel admin reset-password --help' for its options.\n");
	return f == stdout ? 0 : 2;
}
