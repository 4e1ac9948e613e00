/* sentinel login, logout, whoami. The token is kept in the credentials
 * file (mode 0600, directory 0700), written atomically. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"

#define PASSWORD_MAX 1024

/* Reads one line into out without echo when from a terminal. */
static int read_password(FILE *in, int echo_off, const char *prompt, char *out, size_t n)
{
	struct termios old, quiet;
	int fd = fileno(in), restore = 0;
	if (echo_off && tcgetattr(fd, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~ECHO;
		/* TCSAFLUSH drops what was typed before the prompt: it was echoed. */
		restore = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
		fprintf(stderr, "%s", prompt);
	}
	char *line = fgets(out, (int)n, in);
	if (restore) {
		tcsetattr(fd, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!line)
		return -EIO;
	size_t len = strcspn(out, "\r\n");
	if (!out[len] && !feof(in)) {
		/* Longer than the buffer: the rest of the line must not become the
		 * next password read, nor this one be silently cut. */
		int ch;
		while ((ch = getc(in)) != EOF && ch != '\n')
			;
		memset(out, 0, n);
		return -E2BIG;
	}
	out[len] = '\0';
	return 0;
}

int cli_get_password(const char *env, int from_stdin, int confirm, const char *prompt, char *out,
		     size_t n)
{
	const char *e = getenv(env);
	char again[PASSWORD_MAX];
	if (e && *e)
		return sn_strlcpy(out, e, n);
	if (from_stdin)
		return read_password(stdin, 0, NULL, out, n);
	/* The terminal itself, not stdin: stdin may be a pipe (a script) while
	 * a person still sits at the terminal. */
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -ENOTTY;
	int rc = read_password(tty, 1, prompt, out, n);
	/* A typo at an echo-less prompt would set a password nobody knows. */
	if (rc == 0 && confirm) {
		rc = read_password(tty, 1, "Again: ", again, sizeof again);
		if (rc == 0 && strcmp(out, again) != 0)
			rc = -EINVAL;
		/* No copy of a password outlives its use on the stack. */
		memset(again, 0, sizeof again);
	}
	fclose(tty);
	return rc;
}

/* Exit code 2 follows either way. */
void cli_password_error(const char *cmd, const char *vars, int rc)
{
	if (rc == -EINVAL)
		fprintf(stderr, "sentinel %s: the passwords do not match\n", cmd);
	else if (rc == -E2BIG)
		fprintf(stderr, "sentinel %s: the password is too long\n", cmd);
	else
		fprintf(stderr, "sentinel %s: no password: set %s, use --password-stdin, or run on a"
			" terminal\n", cmd, vars);
}

static const cfg_opt login_opts[] = {
	{ "username", "USER", NULL, "user to log in as", 0 },
	{ "password-stdin", NULL, NULL, "read the password from standard input", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS,
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec login_spec = {
	"login", "--server URL --username USER",
	"Log in and store the token in ~/.config/sentinel/credentials (mode 0600).\n"
	"The password comes from SENTINEL_PASSWORD, --password-stdin, or a prompt.",
	login_opts, 0,
};

static int save_credentials(const char *server, const char *token, const char *user)
{
	char *path = cli_credentials_path();
	char *dir = xstrdup(path);
	/* cli_credentials_path always returns a path with a '/'. */
	*strrchr(dir, '/') = '\0';
	int rc = sn_mkdir_p(dir, 0700);
	if (rc == 0) {
		/* All three were sent to or come from the server as JSON already. */
		json_t *j = json_pack("{s:s,s:s,s:s}", "server", server, "token", token, "username", user);
		char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
		/* Atomic: a crash mid-write keeps the old credentials, not half a file. */
		rc = s ? sn_write_file_atomic(path, s, strlen(s), 0600) : -EINVAL;
		free(s);
		json_decref(j);
	}
	if (rc)
		fprintf(stderr, "sentinel login: cannot write %s: %s\n", path, strerror(-rc));
	free(dir);
	free(path);
	return rc ? 1 : 0;
}

int cli_login_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	json_t *resp = NULL;
	char pw[PASSWORD_MAX];
	int code;
	if (cfg_cmd_init(&login_spec, argc, argv, &conf, &code))
		return code;
	const char *user = cfg_get(conf, "username");
	if (!user) {
		fprintf(stderr, "sentinel login: --username is required\n");
		code = 2;
		goto out;
	}
	if ((code = cli_open(&c, conf, "login", 0)))
		goto out;
	/* A stored token (maybe another user's) must not ride along on the login. */
	free(c.token);
	c.token = NULL;
	int prc = cli_get_password("SENTINEL_PASSWORD", cfg_get_bool(conf, "password-stdin"), 0,
				   "Password: ", pw, sizeof pw);
	if (prc) {
		cli_password_error("login", "SENTINEL_PASSWORD", prc);
		code = 2;
		goto out;
	}
	json_t *body = cli_pack(&c, "{s:s,s:s}", "username", user, "password", pw);
	memset(pw, 0, sizeof pw);
	if (!body) {
		code = 2;
		goto out;
	}
	code = cli_call(&c, "POST", "/api/v1/auth/login", body, &resp);
	json_decref(body);
	if (code)
		goto out;
	const char *token = json_string_value(json_object_get(resp, "token"));
	if (!token) {
		fprintf(stderr, "sentinel login: the server sent no token\n");
		code = 1;
		goto out;
	}
	if ((code = save_credentials(c.server, token, user)))
		goto out;
	printf("Logged in to %s as %s (token expires %s)\n", c.server, user,
	       json_string_value(json_object_get(resp, "expires_at")) ?: "never");
out:
	json_decref(resp);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}

static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, { NULL, NULL, NULL, NULL, 0 } };
static const cfg_spec logout_spec = {
	"logout", "[options]", "Revoke the stored token and remove the credentials file.", plain_opts, 0,
};
static const cfg_spec whoami_spec = {
	"whoami", "[options]", "Show the user the stored token belongs to.", plain_opts, 0,
};

int cli_logout_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	int code;
	if (cfg_cmd_init(&logout_spec, argc, argv, &conf, &code))
		return code;
	if ((code = cli_open(&c, conf, "logout", 1)) == 0)
		code = cli_call(&c, "POST", "/api/v1/auth/logout", NULL, NULL);
	/* Forget the token even when the server no longer knew it. */
	char *path = cli_credentials_path();
	if (unlink(path) == 0 && code == 0)
		printf("Logged out\n");
	free(path);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}

int cli_whoami_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	json_t *me = NULL;
	int code;
	if (cfg_cmd_init(&whoami_spec, argc, argv, &conf, &code))
		return code;
	if ((code = cli_open(&c, conf, "whoami", 1)) == 0 &&
	    (code = cli_call(&c, "GET", "/api/v1/me", NULL, &me)) == 0) {
		if (c.json)
			cli_print_json(me);
		else {
			char *u = cli_field(me, "username"), *r = cli_field(me, "role");
			printf("%s (%s) on %s\n", u, r, c.server);
			free(u);
			free(r);
		}
	}
	json_decref(me);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}

static const cfg_opt passwd_opts[] = {
	{ "password-stdin", NULL, NULL, "read the current and the new password from standard input,"
	  " one line each", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS,
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec passwd_spec = {
	"passwd", "[options]",
	"Change your own password. The current one comes from SENTINEL_PASSWORD, the new one\n"
	"from SENTINEL_NEW_PASSWORD, or both from --password-stdin or prompts.",
	passwd_opts, 0,
};

int cli_passwd_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	char cur[PASSWORD_MAX], pw[PASSWORD_MAX];
	int code;
	if (cfg_cmd_init(&passwd_spec, argc, argv, &conf, &code))
		return code;
	int in = cfg_get_bool(conf, "password-stdin");
	if ((code = cli_open(&c, conf, "passwd", 1)))
		goto out;
	int rc = cli_get_password("SENTINEL_PASSWORD", in, 0, "Current password: ", cur, sizeof cur);
	if (!rc)
		rc = cli_get_password("SENTINEL_NEW_PASSWORD", in, 1, "New password: ", pw, sizeof pw);
	if (rc) {
		cli_password_error("passwd", "SENTINEL_PASSWORD and SENTINEL_NEW_PASSWORD", rc);
		code = 2;
		goto out;
	}
	json_t *body = cli_pack(&c, "{s:s,s:s}", "current_password", cur, "new_password", pw);
	if (!body) {
		code = 2;
		goto out;
	}
	code = cli_call(&c, "POST", "/api/v1/me/password", body, NULL);
	json_decref(body);
	if (code == 0)
		printf("Password changed; your other sessions have ended\n");
out:
	memset(cur, 0, sizeof cur);
	memset(pw, 0, sizeof pw);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}
