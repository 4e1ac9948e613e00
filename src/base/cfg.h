/* Configuration for every subcommand:
 *   flag > SENTINEL_<ROLE>_<NAME> > SENTINEL_<NAME>
 *        > config file [role] section > config file outside sections > default.
 * The role is the command's first word (`up` belongs to `server`; the API
 * clients login, logout, whoami, passwd, user, group, token, audit and
 * status to `cli`). A config file holds "key = value" lines; "[role]" starts
 * a section whose keys apply to that role only; keys before any section
 * apply to all. Each subcommand declares a table of cfg_opt; --config,
 * --log-level, --log-format and --help are added to every table. */
#ifndef SN_CFG_H
#define SN_CFG_H
#include <stddef.h>
#include <stdint.h>

enum {
	CFG_FLAG = 1,  /* takes no value: present means "1" */
	CFG_MULTI = 2, /* may repeat; cfg_get_multi returns all values in order */
	CFG_NOENV = 4, /* no SENTINEL_* variable (secrets read elsewhere, per-run flags) */
	CFG_DATADIR = 8, /* default: cfg_default_data_dir() (def is ignored) */
};

typedef struct cfg_opt {
	const char *name;  /* long flag without dashes; also the config-file key */
	const char *arg;   /* placeholder in --help, e.g. "ADDR" */
	const char *def;   /* default value, or NULL */
	const char *help;
	unsigned flags;
} cfg_opt;

typedef struct cfg_spec {
	const char *cmd;      /* e.g. "server" or "user create" */
	const char *synopsis; /* after "sentinel CMD", e.g. "[options] -- CMD ARG..." */
	const char *summary;
	const cfg_opt *opts;  /* terminated by an entry with name == NULL */
	int max_args;         /* positional arguments allowed (-1: any) */
} cfg_spec;

typedef struct cfg cfg;

/* Parses argv (argv[0] is the subcommand word). Returns 0 with *out set,
 * 1 when --help was printed (exit 0), or -EINVAL with a one-line message in
 * err (exit 2). The caller frees *out with cfg_free. */
int cfg_parse(const cfg_spec *spec, int argc, char **argv, cfg **out, char *err, size_t errlen);
void cfg_free(cfg **c);

/* Effective value or NULL when unset and no default. Borrowed. */
const char *cfg_get(const cfg *c, const char *name);
/* Where the effective value came from: flag, env, file, default or unset. */
const char *cfg_source(const cfg *c, const char *name);
/* The same in words for people: "--data", "SENTINEL_DATA",
 * "/etc/sentinel.conf [runtime]", "default (root)"... Borrowed. */
const char *cfg_origin(const cfg *c, const char *name);
/* The role whose config section and SENTINEL_<ROLE>_* variables apply
 * to a command name (e.g. "engine", "server" for "up", "cli" for "user ls"). */
const char *cfg_role(const char *cmd);
/* Where commands that keep local state (sandbox, runtime, node) keep it
 * unless told otherwise: /var/lib/sentinel as root, else
 * $XDG_DATA_HOME/sentinel, else ~/.local/share/sentinel, never the current
 * directory. Caller frees; *why (may be NULL) says which rule applied. */
char *cfg_default_data_dir(const char **why);
int cfg_get_bool(const cfg *c, const char *name);
/* Parses the value; -EINVAL (message in err) when malformed. */
int cfg_get_size(const cfg *c, const char *name, uint64_t *out, char *err, size_t errlen);
int cfg_get_duration_ms(const cfg *c, const char *name, int64_t *out, char *err, size_t errlen);
int cfg_get_int(const cfg *c, const char *name, long long *out, char *err, size_t errlen);
/* Values of a CFG_MULTI option: flags, or else the environment/file value. */
const char *const *cfg_get_multi(const cfg *c, const char *name, size_t *n);
/* Positional arguments (everything after "--" included). */
char *const *cfg_args(const cfg *c, int *n);
void cfg_print_help(const cfg_spec *spec);

/* The common start of every subcommand: parses argv, applies the log
 * settings. Returns 0 to go on (*out set), or a non-zero value meaning
 * "exit now with *exit_code" (0 after --help, 2 after a usage error, whose
 * one-line message has been printed to stderr). */
int cfg_cmd_init(const cfg_spec *spec, int argc, char **argv, cfg **out, int *exit_code);
#endif
