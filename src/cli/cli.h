/* Shared parts of the CLI client commands: the stored credentials, calling
 * the API and printing its answers. */
#ifndef SN_CLI_H
#define SN_CLI_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/cfg.h"

/* Options every API command takes (append to a command's table). */
#define CLI_COMMON_OPTS \
	{ "server", "URL", NULL, "server URL (default: from 'sentinel login')", 0 }, \
	{ "token", "TOKEN", NULL, "API token (default: from 'sentinel login')", 0 }, \
	{ "insecure", NULL, NULL, "accept a self-signed TLS certificate", CFG_FLAG }, \
	{ "json", NULL, NULL, "print the server's JSON (indented on a terminal)", CFG_FLAG | CFG_NOENV }

typedef struct cli {
	char *server;
	char *token;
	int insecure;
	int json;
	const char *cmd; /* for messages, e.g. "user create" */
} cli;

/* Path of the credentials file (caller frees). */
char *cli_credentials_path(void);
/* Fills c from flags, environment and the credentials file. Prints a
 * message and returns non-zero when no server or token is known. */
int cli_open(cli *c, const cfg *conf, const char *cmd, int need_token);
void cli_release(cli *c);
/* Calls the API; body is borrowed. On a 2xx, *out (may be NULL) gets the
 * parsed JSON (caller decrefs) and 0 is returned. Otherwise prints one line
 * ("sentinel CMD: CODE: MESSAGE (HTTP n)") and returns 1 (the exit code). */
int cli_call(cli *c, const char *method, const char *path, json_t *body, json_t **out);
/* Prints the error of a non-2xx answer whose body is the server's error
 * envelope, as cli_call does: "sentinel CMD: CODE: MESSAGE (HTTP n)",
 * escaped, or "the server answered HTTP n" when it holds none. A progress
 * bar's line is ended first. */
void cli_print_error(const cli *c, long status, const char *body, size_t len);
/* A request body from what the user typed (json_pack's format). NULL, after
 * printing "sentinel CMD: cannot encode the request: ..." (a text that is
 * not valid UTF-8), when jansson cannot build it; the caller exits with 2. */
json_t *cli_pack(const cli *c, const char *fmt, ...);
/* Prints JSON (for --json): compact, as the server sends it, with one
 * newline; indented when standard output is a terminal. */
void cli_print_json(const json_t *j);
/* A time argument for the API: "30s", "15m", "1h", "7d" or "2w" before now
 * becomes an RFC 3339 time; anything else is passed on for the server to
 * check. Caller frees. */
char *cli_time_arg(const char *arg);
/* A password: from the variable env, one line of standard input
 * (from_stdin), or a prompt on the terminal without echo; with confirm, the
 * prompt asks twice and a mismatch is -EINVAL. 0, -ENOTTY (no source),
 * -E2BIG (longer than n - 2 bytes: refused, never cut) or -EIO. */
int cli_get_password(const char *env, int from_stdin, int confirm, const char *prompt, char *out,
		     size_t n);
/* Prints the message for a cli_get_password error rc of command cmd;
 * vars names the environment variables that would have given it. */
void cli_password_error(const char *cmd, const char *vars, int rc);
/* Prints items as a table with the given columns (object keys); control
 * characters in values are printed escaped (\n, \xNN). */
void cli_print_table(const json_t *items, const char *const *cols);
/* GETs the list at path (which may hold a query), following cursors up to
 * --limit items (all when 0), and prints a table of cols or, with --json,
 * the server's list shape with all pages merged. Returns the exit code. */
int cli_list(cli *c, const char *path, const cfg *conf, const char *const *cols);
/* String field key of o, made safe to print on a terminal (control
 * characters escaped as in tables), or "-" when missing or not a string.
 * The caller frees it. */
char *cli_field(const json_t *o, const char *key);
/* URL-escapes s into a new string (caller frees). */
char *cli_escape(const char *s);
/* Dispatches "CMD SUB ..." to a table of subcommands. */
struct cli_sub {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};
int cli_dispatch(const char *cmd, const struct cli_sub *subs, int argc, char **argv);

/* A subcommand's work once the flags are parsed and the session is open. */
typedef int (*cli_action_fn)(cli *c, const cfg *conf, char *const *args);
/* Parses argv with spec, checks that there are exactly nargs positional
 * arguments (exit 2 with the synopsis otherwise), opens the session and
 * runs fn. Returns the exit code. */
int cli_run(const cfg_spec *spec, int nargs, int argc, char **argv, cli_action_fn fn);
/* cli_run with the short options of map (cli_expand_short) spelled out. */
int cli_run_short(const cfg_spec *spec, const char *const *map, int nargs, int argc,
		  char **argv, cli_action_fn fn);
/* 1 when a path that came from the network may be written under a
 * directory of ours: relative, no empty, "." or ".." component. */
int cli_safe_rel(const char *p);
/* argv with the short options in map ({"-o", "--output", ..., NULL}) spelled
 * out, up to a "--" (argv[0] is kept). The caller frees the array, not the
 * strings (borrowed from argv and map). */
char **cli_expand_short(int argc, char **argv, const char *const *map);
/* Progress of an upload or download on stderr: a bar with bytes, bytes/s
 * and ETA, redrawn in place at most 10 times a second. new returns NULL
 * (and every call does nothing) when stderr is not a terminal. start: the
 * bytes done before this run (a resumed upload), left out of the rate. */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_new(const char *label, int64_t total, int64_t start);
void cli_progress_update(cli_progress *p, int64_t done);
/* Ends the line and frees; *p becomes NULL. */
void cli_progress_free(cli_progress **p);
/* Ends a bar's line, if one is on screen, before a message is printed. */
void cli_progress_break(void);
/* SIGINT and SIGTERM only set a flag from now on, which transfers poll
 * (cli_interrupted) to stop cleanly and say how to resume. */
void cli_trap_interrupt(void);
int cli_interrupted(void);
#endif
