#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "http/client.h"

char *cli_credentials_path(void)
{
	const char *x = getenv("XDG_CONFIG_HOME");
	if (x && *x)
		return xasprintf("%s/sentinel/credentials", x);
	const char *home = getenv("HOME");
	return xasprintf("%s/.config/sentinel/credentials", home && *home ? home : ".");
}

int cli_open(cli *c, const cfg *conf, const char *cmd, int need_token)
{
	memset(c, 0, sizeof *c);
	c->cmd = cmd;
	c->insecure = cfg_get_bool(conf, "insecure");
	c->json = cfg_get_bool(conf, "json");
	const char *server = cfg_get(conf, "server"), *token = cfg_get(conf, "token");
	char *path = cli_credentials_path(), *data = NULL;
	json_t *cred = NULL;
	if ((!server || !token) && sn_read_file(path, 1 << 16, &data, NULL) == 0)
		cred = json_loads(data, 0, NULL);
	if (!server && cred)
		server = json_string_value(json_object_get(cred, "server"));
	/* A stored token belongs to the stored server only. */
	if (!token && cred && (!cfg_get(conf, "server") ||
			       strcmp(cfg_get(conf, "server"),
				      json_string_value(json_object_get(cred, "server")) ?: "") == 0))
		token = json_string_value(json_object_get(cred, "token"));
	if (server && *server)
		/* One trailing '/' dropped: API paths start with one. */
		c->server = xstrndup(server, strlen(server) - (server[strlen(server) - 1] == '/'));
	c->token = token ? xstrdup(token) : NULL;
	json_decref(cred);
	free(data);
	free(path);
	if (!c->server) {
		fprintf(stderr, "sentinel %s: not logged in: run 'sentinel login --server URL"
			" --username USER' or give --server and --token\n", cmd);
		return 1;
	}
	if (need_token && !c->token) {
		fprintf(stderr, "sentinel %s: not logged in: run 'sentinel login' or give --token\n", cmd);
		return 1;
	}
	return 0;
}

void cli_release(cli *c)
{
	free(c->server);
	free(c->token);
	c->server = c->token = NULL;
}

/* A copy of server text safe to print on a terminal: C0 controls, DEL and
 * C1 controls (which start terminal escape sequences, or a fake table
 * row) are written as \n, \xNN or \u00NN. */
static char *printable(const char *s)
{
	buf b;
	/* A byte becomes at most 4 characters (\xNN), so the cap is never hit. */
	buf_init(&b, strlen(s) * 6 + 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t')
			buf_printf(&b, "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
		else if (*p < 0x20 || *p == 0x7f)
			buf_printf(&b, "\\x%02x", *p);
		/* U+0080..U+009F are C2 80..C2 9F in UTF-8; the second byte is the
		 * code point. */
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			buf_printf(&b, "\\u%04x", *++p);
		else
			buf_append(&b, p, 1);
	}
	return buf_detach(&b, NULL);
}

char *cli_field(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? printable(s) : xstrdup("-");
}

json_t *cli_pack(const cli *c, const char *fmt, ...)
{
	json_error_t jerr;
	va_list ap;
	va_start(ap, fmt);
	json_t *j = json_vpack_ex(&jerr, 0, fmt, ap);
	va_end(ap);
	if (!j)
		fprintf(stderr, "sentinel %s: cannot encode the request: %s (text must be UTF-8)\n",
			c->cmd, jerr.text);
	return j;
}

int cli_call(cli *c, const char *method, const char *path, json_t *body, json_t **out)
{
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_resp resp = { 0 };
	char err[512];
	char *url = xasprintf("%s%s", c->server, path);
	int rc = hc_request(method, url, body, &o, &resp, err, sizeof err);
	free(url);
	if (rc) {
		fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", c->cmd, err);
		return 1;
	}
	json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
	if (resp.status >= 200 && resp.status < 300) {
		/* A 2xx without a JSON body (204) reads as {}: callers look keys up
		 * without a NULL check. */
		if (out)
			*out = j ? j : json_object();
		else
			json_decref(j);
		hc_resp_release(&resp);
		return 0;
	}
	json_decref(j);
	cli_print_error(c, resp.status, resp.body, resp.len);
	hc_resp_release(&resp);
	return 1;
}

void cli_print_error(const cli *c, long status, const char *body, size_t len)
{
	json_t *j = json_loadb(body ? body : "", len, 0, NULL);
	json_t *e = json_object_get(j, "error");
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *msg = json_string_value(json_object_get(e, "message"));
	cli_progress_break();
	/* The server's text is escaped before printing: it must not drive
	 * the user's terminal. */
	if (code && msg) {
		char *pc = printable(code), *pm = printable(msg);
		fprintf(stderr, "sentinel %s: %s: %s (HTTP %ld)\n", c->cmd, pc, pm, status);
		free(pc);
		free(pm);
	} else {
		fprintf(stderr, "sentinel %s: the server answered HTTP %ld\n", c->cmd, status);
	}
	json_decref(j);
}

void cli_print_json(const json_t *j)
{
	size_t flags = JSON_ENCODE_ANY | (isatty(1) ? JSON_INDENT(2) : JSON_COMPACT);
	char *s = json_dumps(j, flags);
	if (s)
		puts(s);
	else
		fprintf(stderr, "sentinel: cannot print the server's JSON (out of memory)\n");
	free(s);
}

char *cli_time_arg(const char *arg)
{
	static const struct { char unit; int64_t ms; } units[] = {
		{ 's', 1000 }, { 'm', 60000 }, { 'h', 3600000 }, { 'd', 86400000 }, { 'w', 604800000 },
	};
	size_t n = strspn(arg, "0123456789");
	/* At most 9 digits: 999999999 weeks still fits in int64 milliseconds. */
	if (n == 0 || n > 9 || strlen(arg) != n + 1)
		return xstrdup(arg);
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (arg[n] != units[i].unit)
			continue;
		char out[64];
		int64_t t = sn_now_ms() - strtoll(arg, NULL, 10) * units[i].ms;
		/* A span reaching back before 1970 is clamped to the epoch. */
		sn_time_format(t < 0 ? 0 : t, out, sizeof out);
		return xstrdup(out);
	}
	return xstrdup(arg);
}

static char *cell(const json_t *v)
{
	if (!v || json_is_null(v))
		return xstrdup("-");
	if (json_is_string(v))
		return printable(json_string_value(v));
	if (json_is_array(v)) {
		buf b;
		size_t i;
		json_t *x;
		/* 4 KiB caps one cell; --json prints whole lists. The first item
		 * that does not fit ends the cell with "...": a later, shorter one
		 * printed after a dropped one would hide the gap. */
		buf_init(&b, 4096);
		json_array_foreach(v, i, x) {
			char *s = cell(x);
			int full = buf_printf(&b, "%s%s", i ? "," : "", s);
			free(s);
			if (full) {
				b.max += 4;
				buf_puts(&b, i ? ",..." : "...");
				break;
			}
		}
		return b.len ? buf_detach(&b, NULL) : (buf_release(&b), xstrdup("-"));
	}
	char *s = json_dumps(v, JSON_ENCODE_ANY);
	return s ? s : xstrdup("?");
}

/* GET a list, following cursors up to --limit items (all when 0). Each
 * page asks for no more than is still wanted, so the items are exactly the
 * server's and --json prints them in the server's list shape, all pages
 * merged, with the server's next_cursor for what was left (null: none). */
int cli_list(cli *c, const char *path, const cfg *conf, const char *const *cols)
{
	long long want = 0;
	char err[128];
	const char *l = cfg_get(conf, "limit");
	if (l && (cfg_get_int(conf, "limit", &want, err, sizeof err) || want < 0)) {
		fprintf(stderr, "sentinel %s: --limit must be a number >= 0\n", c->cmd);
		return 2;
	}
	json_t *all = json_array(), *page = NULL;
	char *cursor = NULL;
	int code = 0;
	if (!all) {
		fprintf(stderr, "sentinel %s: out of memory\n", c->cmd);
		return 1;
	}
	do {
		/* 1000 is the server's largest page (http_page): fewer round trips. */
		long long left = want ? want - (long long)json_array_size(all) : 1000;
		char *esc = cursor ? cli_escape(cursor) : NULL;
		char *url = xasprintf("%s%slimit=%lld%s%s", path, strchr(path, '?') ? "&" : "?",
				      left < 1000 ? left : 1000, esc ? "&cursor=" : "", esc ? esc : "");
		free(esc);
		code = cli_call(c, "GET", url, NULL, &page);
		free(url);
		xfree(&cursor);
		if (code)
			break;
		/* Fails also when "items" is absent or not an array. */
		if (json_array_extend(all, json_object_get(page, "items"))) {
			fprintf(stderr, "sentinel %s: the server's answer has no item list\n", c->cmd);
			code = 1;
			break;
		}
		const char *next = json_string_value(json_object_get(page, "next_cursor"));
		cursor = next ? xstrdup(next) : NULL;
		json_decref(page);
		page = NULL;
	} while (cursor && (want == 0 || (long long)json_array_size(all) < want));
	json_decref(page);
	if (!code && c->json) {
		/* s? packs a NULL cursor as null: the server's "no more pages". */
		json_t *out = json_pack("{s:O,s:s?}", "items", all, "next_cursor", cursor);
		if (out)
			cli_print_json(out);
		else
			fprintf(stderr, "sentinel %s: cannot print the list (out of memory)\n", c->cmd);
		code = out ? 0 : 1;
		json_decref(out);
	} else if (!code) {
		cli_print_table(all, cols);
	}
	free(cursor);
	json_decref(all);
	return code;
}

void cli_print_table(const json_t *items, const char *const *cols)
{
	size_t ncol = 0, nrow = json_array_size(items);
	while (cols[ncol])
		ncol++;
	size_t *w = xcalloc(ncol, sizeof *w);
	char **cells = xcalloc((nrow + 1) * ncol, sizeof *cells);
	for (size_t j = 0; j < ncol; j++) {
		cells[j] = xstrdup(cols[j]);
		for (char *p = cells[j]; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 32);
	}
	for (size_t i = 0; i < nrow; i++)
		for (size_t j = 0; j < ncol; j++)
			cells[(i + 1) * ncol + j] = cell(json_object_get(json_array_get(items, i), cols[j]));
	for (size_t k = 0; k < (nrow + 1) * ncol; k++)
		if (strlen(cells[k]) > w[k % ncol])
			w[k % ncol] = strlen(cells[k]);
	for (size_t i = 0; i <= nrow; i++) {
		for (size_t j = 0; j < ncol; j++)
			/* The last column is not padded: no trailing blanks. */
			printf(j + 1 < ncol ? "%-*s  " : "%-*s", j + 1 < ncol ? (int)w[j] : 0,
			       cells[i * ncol + j]);
		printf("\n");
	}
	for (size_t k = 0; k < (nrow + 1) * ncol; k++)
		free(cells[k]);
	free(cells);
	free(w);
}

char *cli_escape(const char *s)
{
	static const char hx[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* RFC 3986's unreserved set; *p is never 0 here, so strchr cannot
		 * match the terminator. */
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hx[*p >> 4];
			*o++ = hx[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

int cli_dispatch(const char *cmd, const struct cli_sub *subs, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--help") && strcmp(argv[1], "-h") && strcmp(argv[1], "help"))
		for (const struct cli_sub *s = subs; s->name; s++)
			if (strcmp(s->name, argv[1]) == 0)
				return s->fn(argc - 1, argv + 1);
	/* Asked-for help goes to stdout with exit 0; a usage error to stderr
	 * with exit 2, the code of every usage error. */
	FILE *f = argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
				strcmp(argv[1], "help") == 0) ? stdout : stderr;
	if (f == stderr && argc >= 2) {
		fprintf(stderr, "sentinel %s: unknown subcommand '%s' (try 'sentinel %s --help')\n", cmd,
			argv[1], cmd);
		return 2;
	}
	fprintf(f, "Usage: sentinel %s SUBCOMMAND [options]\n\nSubcommands:\n", cmd);
	for (const struct cli_sub *s = subs; s->name; s++)
		fprintf(f, "  %-8s %s\n", s->name, s->help);
	fprintf(f, "\nRun 'sentinel %s SUBCOMMAND --help' for its options.\n", cmd);
	return f == stdout ? 0 : 2;
}

int cli_run_short(const cfg_spec *spec, const char *const *map, int nargs, int argc,
		  char **argv, cli_action_fn fn)
{
	char **av = cli_expand_short(argc, argv, map);
	int code = cli_run(spec, nargs, argc, av, fn);
	free(av);
	return code;
}

int cli_run(const cfg_spec *spec, int nargs, int argc, char **argv, cli_action_fn fn)
{
	cfg *conf = NULL;
	cli c = { 0 };
	int code, n;
	if (cfg_cmd_init(spec, argc, argv, &conf, &code))
		return code;
	char *const *args = cfg_args(conf, &n);
	if (n != nargs) {
		fprintf(stderr, "sentinel %s: expected %d argument%s: %s\n", spec->cmd, nargs,
			nargs == 1 ? "" : "s", spec->synopsis);
		code = 2;
	} else if ((code = cli_open(&c, conf, spec->cmd, 1)) == 0) {
		code = fn(&c, conf, args);
	}
	cli_release(&c);
	cfg_free(&conf);
	return code;
}

int cli_safe_rel(const char *p)
{
	if (!*p || *p == '/')
		return 0;
	for (const char *s = p; *s;) {
		size_t n = strcspn(s, "/");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n + (s[n] == '/');
		if (s[-1] == '/' && !*s)
			return 0;
	}
	return 1;
}

char **cli_expand_short(int argc, char **argv, const char *const *map)
{
	char **v = xcalloc((size_t)argc + 1, sizeof *v);
	int dashdash = 0;
	for (int i = 0; i < argc; i++) {
		dashdash |= strcmp(argv[i], "--") == 0;
		v[i] = argv[i];
		for (size_t k = 0; !dashdash && i > 0 && map[k]; k += 2)
			if (strcmp(argv[i], map[k]) == 0)
				v[i] = (char *)map[k + 1];
	}
	return v;
}
