#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/cfg.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

/* A config file is a few dozen lines; the cap only stops --config pointed at
 * a large file by mistake from being read whole. */
#define CFG_FILE_MAX (1 << 20)

/* In rising precedence; a value replaces one of the same or a lower source. */
enum src { SRC_UNSET, SRC_DEFAULT, SRC_FILE, SRC_SECTION, SRC_ENV, SRC_ROLE_ENV, SRC_FLAG };

/* Config-file sections; a typo in a section name is an error rather than
 * settings silently ignored. */
static const char *const roles[] = {
	"server", "node", "engine", "produce", "train", "sandbox", "runtime", "cli", NULL,
};
/* Commands that talk to a server's API: one [cli] section serves them all. */
static const char *const cli_words[] = {
	"login", "logout", "whoami", "passwd", "user", "group", "token", "audit", "status",
	"dataset", "script", "job", "metrics", "agents", "alert", "model", "detector",
	"collect", NULL,
};

static const cfg_opt common_opts[] = {
	{ "config", "FILE", NULL, "read settings from FILE (lines: key = value)", 0 },
	{ "log-level", "LEVEL", "info", "debug, info, warn, error or off", 0 },
	{ "log-format", "FMT", "text", "text or json", 0 },
	{ "help", NULL, NULL, "show this help", CFG_FLAG | CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};

struct val {
	const cfg_opt *opt;
	char *value;
	enum src src;
	char *origin; /* where value came from, for people (cfg_origin) */
	char **multi; /* CFG_MULTI values, NULL-terminated */
	size_t nmulti;
};

struct cfg {
	struct val *vals;
	size_t nvals;
	char **args;
	int nargs;
	const char *role; /* NULL: no section or role variable applies */
};

static struct val *find(const cfg *c, const char *name)
{
	for (size_t i = 0; i < c->nvals; i++)
		if (strcmp(c->vals[i].opt->name, name) == 0)
			return &c->vals[i];
	return NULL;
}

/* Flags of a CFG_MULTI option accumulate; any other source holds one value
 * and replaces what a lower source gave. */
static void set(struct val *v, const char *value, enum src src, const char *origin)
{
	if (src < v->src)
		return;
	if (v->opt->flags & CFG_MULTI) {
		/* Only repeated flags accumulate; any other setting replaces the list. */
		if (src != SRC_FLAG || v->src != SRC_FLAG) {
			for (size_t i = 0; i < v->nmulti; i++)
				free(v->multi[i]);
			v->nmulti = 0;
		}
		v->multi = xrealloc(v->multi, (v->nmulti + 2) * sizeof(char *));
		v->multi[v->nmulti++] = xstrdup(value);
		v->multi[v->nmulti] = NULL;
	}
	free(v->value);
	free(v->origin);
	v->value = xstrdup(value);
	v->origin = xstrdup(origin);
	v->src = src;
}

/* SENTINEL_[ROLE_]NAME with '-' as '_'. */
static void env_name(const char *role, const char *name, char *out, size_t n)
{
	size_t j = (size_t)snprintf(out, n, "SENTINEL_%s%s", role ? role : "", role ? "_" : "");
	for (const char *p = name; *p && j + 1 < n; p++)
		out[j++] = *p == '-' ? '_' : *p;
	out[j] = '\0';
	for (char *p = out; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

const char *cfg_role(const char *cmd)
{
	size_t n = strcspn(cmd, " ");
	/* `up` is a server; `admin` and `gc` work offline on the server's own data. */
	if ((n == 2 && strncmp(cmd, "up", 2) == 0) || (n == 5 && strncmp(cmd, "admin", 5) == 0) ||
	    (n == 2 && strncmp(cmd, "gc", 2) == 0))
		return "server";
	/* `node` alone is the agent; `node ls`, `node claim` ... are the CLI. */
	if (n == 4 && strncmp(cmd, "node", 4) == 0 && cmd[4] == ' ')
		return "cli";
	for (int i = 0; cli_words[i]; i++)
		if (strlen(cli_words[i]) == n && strncmp(cmd, cli_words[i], n) == 0)
			return "cli";
	for (int i = 0; roles[i]; i++)
		if (strlen(roles[i]) == n && strncmp(cmd, roles[i], n) == 0)
			return roles[i];
	return NULL;
}

char *cfg_default_data_dir(const char **why)
{
	const char *w, *x = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	char *dir;
	if (geteuid() == 0) {
		w = "running as root";
		dir = xstrdup("/var/lib/sentinel");
	} else if (x && x[0] == '/') { /* the XDG spec ignores a relative value */
		w = "$XDG_DATA_HOME";
		dir = xasprintf("%s/sentinel", x);
	} else {
		/* A relative HOME would make the directory depend on the cwd. */
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());
			home = pw && pw->pw_dir && pw->pw_dir[0] == '/' ? pw->pw_dir : NULL;
		}
		w = home ? "home directory" : "no home directory";
		/* Without a home: per user, and /var/tmp survives a reboot, /tmp not. */
		dir = home ? xasprintf("%s/.local/share/sentinel", home) :
			     xasprintf("/var/tmp/sentinel-%u", (unsigned)getuid());
	}
	if (why)
		*why = w;
	return dir;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* "[name]": sets *section to the role it names (NULL: not a section line). */
static int section_line(const char *l, const char **section)
{
	size_t n = strlen(l);
	*section = NULL;
	if (n < 2 || l[0] != '[' || l[n - 1] != ']')
		return 0;
	for (int i = 0; roles[i]; i++)
		if (strlen(roles[i]) == n - 2 && strncmp(l + 1, roles[i], n - 2) == 0)
			*section = roles[i];
	return *section ? 0 : -EINVAL;
}

static int load_file(cfg *c, const char *path, char *err, size_t errlen)
{
	char *data = NULL, *origin = NULL;
	const char *section = NULL;
	int rc = sn_read_file(path, CFG_FILE_MAX, &data, NULL);
	if (rc) {
		snprintf(err, errlen, "config file %s: %s", path, strerror(-rc));
		return -EINVAL;
	}
	int lineno = 0;
	/* Lines are separated by '\n' alone: a CRLF file's '\r' goes with trim().
	 * Not strtok: it would skip empty lines and misnumber the errors. */
	for (char *line = data, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		char *l = trim(line);
		if (!*l || *l == '#')
			continue;
		if (*l == '[') {
			if (section_line(l, &section) || !section) {
				snprintf(err, errlen, "config file %s:%d: unknown section %s (sections: server,"
					 " node, engine, produce, train, sandbox, runtime, cli)", path, lineno, l);
				rc = -EINVAL;
				goto out;
			}
			continue;
		}
		/* The first '=' or ':' splits: values (URLs, HOST:PORT) may hold
		 * more of either. */
		char *eq = strpbrk(l, "=:");
		if (!eq) {
			snprintf(err, errlen, "config file %s:%d: expected 'key = value'", path, lineno);
			rc = -EINVAL;
			goto out;
		}
		*eq = '\0';
		char *key = trim(l), *value = trim(eq + 1);
		size_t vl = strlen(value);
		/* One pair of quotes is stripped, without escapes: enough to keep
		 * a value's outer blanks. */
		if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
			value[vl - 1] = '\0';
			value++;
		}
		struct val *v = find(c, key);
		/* One file may configure several roles: keys of other subcommands are fine,
		 * and a section's keys belong to its role only. */
		if (!v || strcmp(key, "config") == 0 || (section && (!c->role || strcmp(section, c->role))))
			continue;
		free(origin);
		origin = section ? xasprintf("%s [%s]", path, section) : xstrdup(path);
		set(v, value, section ? SRC_SECTION : SRC_FILE, origin);
	}
out:
	free(origin);
	free(data);
	return rc;
}

static int add_opts(cfg *c, const cfg_opt *opts)
{
	for (const cfg_opt *o = opts; o && o->name; o++) {
		if (find(c, o->name))
			continue;
		c->vals = xrealloc(c->vals, (c->nvals + 1) * sizeof *c->vals);
		c->vals[c->nvals] = (struct val){ .opt = o };
		if (o->flags & CFG_DATADIR) {
			const char *why;
			char *dir = cfg_default_data_dir(&why), *origin = xasprintf("default, %s", why);
			set(&c->vals[c->nvals], dir, SRC_DEFAULT, origin);
			free(dir);
			free(origin);
		} else if (o->def) {
			set(&c->vals[c->nvals], o->def, SRC_DEFAULT, "default");
		}
		c->nvals++;
	}
	return 0;
}

static int parse_flags(cfg *c, int argc, char **argv, char *err, size_t errlen)
{
	int only_args = 0;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		/* A lone "-" is an argument (conventionally standard input). */
		if (only_args || a[0] != '-' || a[1] == '\0') {
			c->args = xrealloc(c->args, (size_t)(c->nargs + 2) * sizeof(char *));
			c->args[c->nargs++] = a;
			c->args[c->nargs] = NULL;
			continue;
		}
		if (strcmp(a, "--") == 0) {
			only_args = 1;
			continue;
		}
		if (strcmp(a, "-h") == 0)
			a = "--help";
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, errlen, "unknown flag '%s' (try --help)", a);
			return -EINVAL;
		}
		char *name = xstrdup(a + 2);
		char *eq = strchr(name, '=');
		const char *value = NULL;
		if (eq) {
			*eq = '\0';
			value = eq + 1;
		}
		struct val *v = find(c, name);
		char *origin = xasprintf("--%s", name);
		int rc = 0;
		if (!v) {
			snprintf(err, errlen, "unknown flag '--%s' (try --help)", name);
			rc = -EINVAL;
		} else if (v->opt->flags & CFG_FLAG) {
			/* --flag=false is accepted so scripts can pass a computed value. */
			if (value && strcmp(value, "1") && strcmp(value, "true") && strcmp(value, "0") &&
			    strcmp(value, "false")) {
				snprintf(err, errlen, "flag '--%s' takes no value", name);
				rc = -EINVAL;
			} else {
				set(v, value ? value : "1", SRC_FLAG, origin);
			}
		} else {
			if (!value) {
				if (i + 1 >= argc) {
					snprintf(err, errlen, "flag '--%s' needs a value", name);
					rc = -EINVAL;
				} else {
					value = argv[++i];
				}
			}
			if (!rc)
				set(v, value, SRC_FLAG, origin);
		}
		free(origin);
		free(name);
		if (rc)
			return rc;
	}
	return 0;
}

int cfg_parse(const cfg_spec *spec, int argc, char **argv, cfg **out, char *err, size_t errlen)
{
	cfg *c = xcalloc(1, sizeof *c);
	int rc;
	c->role = cfg_role(spec->cmd);
	add_opts(c, spec->opts);
	add_opts(c, common_opts);
	/* set() keeps the precedence whatever the order. Flags go first so that
	 * --help stops before anything is read, the file last because --config
	 * may come from a flag or the environment. */
	rc = parse_flags(c, argc, argv, err, errlen);
	if (rc)
		goto fail;
	if (cfg_get_bool(c, "help")) {
		cfg_print_help(spec);
		rc = 1;
		goto fail;
	}
	char en[160];
	for (size_t i = 0; i < c->nvals; i++) {
		if (c->vals[i].opt->flags & CFG_NOENV)
			continue;
		env_name(NULL, c->vals[i].opt->name, en, sizeof en);
		const char *e = getenv(en);
		/* Empty counts as unset: VAR= falls back to the file or the default. */
		if (e && *e)
			set(&c->vals[i], e, SRC_ENV, en);
		if (!c->role)
			continue;
		env_name(c->role, c->vals[i].opt->name, en, sizeof en);
		e = getenv(en);
		if (e && *e)
			set(&c->vals[i], e, SRC_ROLE_ENV, en);
	}
	const char *path = cfg_get(c, "config");
	if (path && *path) {
		rc = load_file(c, path, err, errlen);
		if (rc)
			goto fail;
	}
	if (spec->max_args >= 0 && c->nargs > spec->max_args) {
		snprintf(err, errlen, "unexpected argument '%s' (try --help)", c->args[spec->max_args]);
		rc = -EINVAL;
		goto fail;
	}
	*out = c;
	return 0;
fail:
	cfg_free(&c);
	return rc;
}

void cfg_free(cfg **pc)
{
	cfg *c = *pc;
	if (!c)
		return;
	for (size_t i = 0; i < c->nvals; i++) {
		free(c->vals[i].value);
		free(c->vals[i].origin);
		for (size_t j = 0; j < c->vals[i].nmulti; j++)
			free(c->vals[i].multi[j]);
		free(c->vals[i].multi);
	}
	free(c->vals);
	free(c->args);
	free(c);
	*pc = NULL;
}

const char *cfg_get(const cfg *c, const char *name)
{
	struct val *v = find(c, name);
	return v ? v->value : NULL;
}

const char *cfg_source(const cfg *c, const char *name)
{
	/* Indexed by enum src; a section and a role variable read as their
	 * plain kind, which is all callers compare. */
	static const char *const names[] = { "unset", "default", "file", "file", "env", "env", "flag" };
	struct val *v = find(c, name);
	return v ? names[v->src] : "unset";
}

const char *cfg_origin(const cfg *c, const char *name)
{
	struct val *v = find(c, name);
	return v && v->origin ? v->origin : "unset";
}

int cfg_get_bool(const cfg *c, const char *name)
{
	const char *v = cfg_get(c, name);
	return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
		     strcasecmp(v, "on") == 0);
}

int cfg_get_size(const cfg *c, const char *name, uint64_t *out, char *err, size_t errlen)
{
	const char *v = cfg_get(c, name);
	if (!v || sn_parse_size(v, out)) {
		snprintf(err, errlen, "--%s: invalid size '%s' (e.g. 512K, 64M, 2G)", name, v ? v : "");
		return -EINVAL;
	}
	return 0;
}

int cfg_get_duration_ms(const cfg *c, const char *name, int64_t *out, char *err, size_t errlen)
{
	const char *v = cfg_get(c, name);
	if (!v || sn_parse_duration_ms(v, out)) {
		snprintf(err, errlen, "--%s: invalid duration '%s' (e.g. 500ms, 10s, 5m, 24h)", name,
			 v ? v : "");
		return -EINVAL;
	}
	return 0;
}

int cfg_get_int(const cfg *c, const char *name, long long *out, char *err, size_t errlen)
{
	const char *v = cfg_get(c, name);
	char *end = NULL;
	/* errno catches overflow (ERANGE), which strtoll reports as a clamp. */
	errno = 0;
	long long x = v ? strtoll(v, &end, 10) : 0;
	if (!v || !*v || errno || *end) {
		snprintf(err, errlen, "--%s: invalid integer '%s'", name, v ? v : "");
		return -EINVAL;
	}
	*out = x;
	return 0;
}

const char *const *cfg_get_multi(const cfg *c, const char *name, size_t *n)
{
	static const char *const empty[] = { NULL };
	struct val *v = find(c, name);
	if (!v || !v->nmulti) {
		*n = 0;
		return empty;
	}
	*n = v->nmulti;
	return (const char *const *)v->multi;
}

char *const *cfg_args(const cfg *c, int *n)
{
	static char *const empty[] = { NULL };
	*n = c->nargs;
	return c->nargs ? c->args : empty;
}

static void print_opts(const cfg_opt *opts)
{
	char left[64], en[160];
	for (const cfg_opt *o = opts; o->name; o++) {
		snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		printf("  %-26s %s", left, o->help);
		if (!(o->flags & CFG_NOENV)) {
			env_name(NULL, o->name, en, sizeof en);
			printf(" [env %s]", en);
		}
		if (o->flags & CFG_DATADIR) {
			char *dir = cfg_default_data_dir(NULL);
			printf(" (default %s)", dir);
			free(dir);
		} else if (o->def) {
			printf(" (default %s)", o->def);
		}
		if (o->flags & CFG_MULTI)
			printf(" (repeatable)");
		printf("\n");
	}
}

void cfg_print_help(const cfg_spec *spec)
{
	printf("Usage: sentinel %s %s\n\n%s\n", spec->cmd, spec->synopsis ? spec->synopsis : "[options]",
	       spec->summary);
	if (spec->opts && spec->opts->name) {
		printf("\nOptions:\n");
		print_opts(spec->opts);
	}
	printf("\nCommon options:\n");
	print_opts(common_opts);
	const char *role = cfg_role(spec->cmd);
	if (role) {
		char up[16];
		size_t i = 0;
		for (; role[i] && i + 1 < sizeof up; i++)
			up[i] = (char)toupper((unsigned char)role[i]);
		up[i] = '\0';
		printf("\nPrecedence: flag > SENTINEL_%s_<NAME> > SENTINEL_<NAME> > config file section\n"
		       "[%s] > config file outside sections > default.\n", up, role);
	} else {
		printf("\nPrecedence: flag > environment > config file > default.\n");
	}
}

int cfg_cmd_init(const cfg_spec *spec, int argc, char **argv, cfg **out, int *exit_code)
{
	char err[512];
	int rc = cfg_parse(spec, argc, argv, out, err, sizeof err);
	if (rc == 1) {
		*exit_code = 0;
		return 1;
	}
	if (rc) {
		fprintf(stderr, "sentinel %s: %s\n", spec->cmd, err);
		*exit_code = 2;
		return 1;
	}
	if (log_setup(cfg_get(*out, "log-level"), cfg_get(*out, "log-format"))) {
		fprintf(stderr, "sentinel %s: invalid --log-level or --log-format\n", spec->cmd);
		cfg_free(out);
		*exit_code = 2;
		return 1;
	}
	return 0;
}
