/* Configuration precedence: flag > environment > config file > default;
 * the CLI's request bodies and tables (cli/common.c). */
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/cfg.h"
#include "cli/cli.h"

static const cfg_opt opts[] = {
	{ "listen", "ADDR", "127.0.0.1:8080", "listen address", 0 },
	{ "data", "DIR", "./data", "data dir", 0 },
	{ "json", NULL, NULL, "json output", CFG_FLAG },
	{ "env", "K=V", NULL, "environment", CFG_MULTI },
	{ "secret", "S", NULL, "no env", CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec spec = { "test", "[options]", "test command", opts, 1 };
static char conf_path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(conf_path, sizeof conf_path, "/tmp/sentinel-cfg-test.%d", (int)getpid());
	FILE *f = fopen(conf_path, "w");
	fprintf(f, "# comment\nlisten = 10.0.0.1:1\ndata: \"/from/file\"\nsecret = s3\nunknown = fine\n");
	fclose(f);
	unsetenv("SENTINEL_LISTEN");
	unsetenv("SENTINEL_DATA");
	unsetenv("SENTINEL_SECRET");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	return 0;
}

static cfg *parse(int argc, char **argv)
{
	cfg *c = NULL;
	char err[256];
	assert_int_equal(cfg_parse(&spec, argc, argv, &c, err, sizeof err), 0);
	return c;
}

static void test_defaults(void **state)
{
	(void)state;
	char *argv[] = { "test" };
	cfg *c = parse(1, argv);
	assert_string_equal(cfg_get(c, "listen"), "127.0.0.1:8080");
	assert_string_equal(cfg_source(c, "listen"), "default");
	assert_null(cfg_get(c, "secret"));
	assert_false(cfg_get_bool(c, "json"));
	cfg_free(&c);
	assert_null(c);
}

static void test_precedence(void **state)
{
	(void)state;
	char *argv[] = { "test", "--config", conf_path, "--listen=1.2.3.4:5" };
	setenv("SENTINEL_LISTEN", "9.9.9.9:9", 1);
	setenv("SENTINEL_DATA", "/from/env", 1);
	setenv("SENTINEL_SECRET", "ignored", 1);
	cfg *c = parse(4, argv);
	assert_string_equal(cfg_get(c, "listen"), "1.2.3.4:5"); /* flag beats env and file */
	assert_string_equal(cfg_source(c, "listen"), "flag");
	assert_string_equal(cfg_get(c, "data"), "/from/env"); /* env beats file */
	assert_string_equal(cfg_source(c, "data"), "env");
	assert_string_equal(cfg_get(c, "secret"), "s3"); /* CFG_NOENV: file only */
	cfg_free(&c);
	unsetenv("SENTINEL_LISTEN");
	unsetenv("SENTINEL_DATA");
	char *argv2[] = { "test", "--config", conf_path };
	c = parse(3, argv2);
	assert_string_equal(cfg_get(c, "listen"), "10.0.0.1:1"); /* file beats default */
	assert_string_equal(cfg_get(c, "data"), "/from/file");
	assert_string_equal(cfg_source(c, "data"), "file");
	cfg_free(&c);
	unsetenv("SENTINEL_SECRET");
}

static void test_flags_and_args(void **state)
{
	(void)state;
	char *argv[] = { "test", "--json", "--env", "A=1", "--env=B=2", "pos", "--", "--not-a-flag" };
	cfg *c = NULL;
	char err[256];
	static const cfg_spec many = { "test", NULL, "t", opts, -1 };
	assert_int_equal(cfg_parse(&many, 8, argv, &c, err, sizeof err), 0);
	assert_true(cfg_get_bool(c, "json"));
	size_t n;
	const char *const *env = cfg_get_multi(c, "env", &n);
	assert_int_equal(n, 2);
	assert_string_equal(env[0], "A=1");
	assert_string_equal(env[1], "B=2");
	int na;
	char *const *args = cfg_args(c, &na);
	assert_int_equal(na, 2);
	assert_string_equal(args[0], "pos");
	assert_string_equal(args[1], "--not-a-flag");
	cfg_free(&c);
}

static void test_errors(void **state)
{
	(void)state;
	cfg *c = NULL;
	char err[256];
	char *unknown[] = { "test", "--nope" };
	assert_int_equal(cfg_parse(&spec, 2, unknown, &c, err, sizeof err), -22);
	assert_non_null(strstr(err, "--nope"));
	char *novalue[] = { "test", "--listen" };
	assert_int_equal(cfg_parse(&spec, 2, novalue, &c, err, sizeof err), -22);
	assert_non_null(strstr(err, "needs a value"));
	char *flagval[] = { "test", "--json=maybe" };
	assert_int_equal(cfg_parse(&spec, 2, flagval, &c, err, sizeof err), -22);
	char *toomany[] = { "test", "a", "b" };
	assert_int_equal(cfg_parse(&spec, 3, toomany, &c, err, sizeof err), -22);
	assert_non_null(strstr(err, "'b'"));
	char *badfile[] = { "test", "--config", "/nonexistent/sentinel.conf" };
	assert_int_equal(cfg_parse(&spec, 3, badfile, &c, err, sizeof err), -22);
	assert_non_null(strstr(err, "/nonexistent/sentinel.conf"));
	assert_null(c);
}

static void test_typed(void **state)
{
	(void)state;
	char *argv[] = { "test", "--listen", "64M", "--data", "90s" };
	cfg *c = parse(5, argv);
	uint64_t sz;
	int64_t ms;
	char err[128];
	assert_int_equal(cfg_get_size(c, "listen", &sz, err, sizeof err), 0);
	assert_int_equal(sz, 64ULL << 20);
	assert_int_equal(cfg_get_duration_ms(c, "data", &ms, err, sizeof err), 0);
	assert_int_equal(ms, 90000);
	assert_int_not_equal(cfg_get_duration_ms(c, "listen", &ms, err, sizeof err), 0);
	cfg_free(&c);
}

/* One file for a whole host: a section's keys belong to its role and win
 * over unsectioned ones; SENTINEL_<ROLE>_<NAME> wins over SENTINEL_<NAME>. */
static void test_sections(void **state)
{
	(void)state;
	static const cfg_opt eopts[] = {
		{ "listen", "ADDR", "0.0.0.0:9000", "listen", 0 },
		{ "batch", "N", "1024", "batch", 0 },
		{ "data", "DIR", NULL, "data", CFG_MULTI },
		{ NULL, NULL, NULL, NULL, 0 },
	};
	static const cfg_spec engine = { "engine", "", "", eopts, 0 };
	static const cfg_spec up = { "up", "", "", eopts, 0 };
	static const cfg_spec user_ls = { "user ls", "", "", eopts, 0 };
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "listen = 127.0.0.1:1\nbatch = 7\ndata = /all\n[server]\nlisten = 0.0.0.0:8443\n"
		   "batch = 99\n[engine]\n  listen = 0.0.0.0:9001\ndata = /engine\n[cli]\n");
	fclose(f);
	char *argv[] = { "x", "--config", conf_path };
	cfg *c = NULL;
	char err[256], origin[128];
	assert_int_equal(cfg_parse(&engine, 3, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "0.0.0.0:9001");
	snprintf(origin, sizeof origin, "%s [engine]", conf_path);
	assert_string_equal(cfg_origin(c, "listen"), origin);
	assert_string_equal(cfg_source(c, "listen"), "file");
	assert_string_equal(cfg_get(c, "batch"), "7"); /* [server]'s batch is not the engine's */
	size_t n;
	const char *const *d = cfg_get_multi(c, "data", &n);
	assert_int_equal(n, 1);
	assert_string_equal(d[0], "/engine");
	cfg_free(&c);
	assert_int_equal(cfg_parse(&up, 3, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "0.0.0.0:8443");
	assert_string_equal(cfg_get(c, "batch"), "99");
	cfg_free(&c);
	assert_int_equal(cfg_parse(&user_ls, 3, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "127.0.0.1:1");
	cfg_free(&c);

	setenv("SENTINEL_LISTEN", "10.0.0.1:1", 1);
	setenv("SENTINEL_ENGINE_LISTEN", "10.0.0.2:2", 1);
	assert_int_equal(cfg_parse(&engine, 3, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "10.0.0.2:2");
	assert_string_equal(cfg_origin(c, "listen"), "SENTINEL_ENGINE_LISTEN");
	cfg_free(&c);
	assert_int_equal(cfg_parse(&up, 3, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "10.0.0.1:1"); /* env beats the file's [server] */
	assert_string_equal(cfg_origin(c, "listen"), "SENTINEL_LISTEN");
	cfg_free(&c);
	char *flag[] = { "x", "--config", conf_path, "--listen", "1.1.1.1:1" };
	assert_int_equal(cfg_parse(&engine, 5, flag, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "listen"), "1.1.1.1:1");
	assert_string_equal(cfg_origin(c, "listen"), "--listen");
	cfg_free(&c);
	unsetenv("SENTINEL_LISTEN");
	unsetenv("SENTINEL_ENGINE_LISTEN");

	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "listen = 1.2.3.4:5\n[enigne]\nlisten = 0.0.0.0:1\n");
	fclose(f);
	assert_int_equal(cfg_parse(&engine, 3, argv, &c, err, sizeof err), -22);
	assert_non_null(strstr(err, ":2: unknown section [enigne]"));
	assert_null(c);
	assert_string_equal(cfg_role("up"), "server");
	assert_string_equal(cfg_role("token create"), "cli");
	assert_string_equal(cfg_role("runtime ls"), "runtime");
	assert_string_equal(cfg_role("job submit"), "cli");
	assert_string_equal(cfg_role("node ls"), "cli");
	assert_string_equal(cfg_role("node"), "node");
	assert_null(cfg_role("test"));
}

/* Local state does not follow the current directory. */
static void test_data_dir_default(void **state)
{
	(void)state;
	static const cfg_opt dopts[] = {
		{ "data", "DIR", "./ignored", "data", CFG_DATADIR }, { NULL, NULL, NULL, NULL, 0 },
	};
	static const cfg_spec rt = { "runtime ls", "", "", dopts, 0 };
	char *argv[] = { "ls" };
	cfg *c = NULL;
	char err[256];
	const char *why;
	setenv("XDG_DATA_HOME", "/xdg", 1);
	char *dir = cfg_default_data_dir(&why);
	if (geteuid() == 0) {
		assert_string_equal(dir, "/var/lib/sentinel");
		assert_string_equal(why, "running as root");
	} else {
		assert_string_equal(dir, "/xdg/sentinel");
	}
	assert_int_equal(cfg_parse(&rt, 1, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "data"), dir);
	assert_string_equal(cfg_source(c, "data"), "default");
	assert_non_null(strstr(cfg_origin(c, "data"), why));
	cfg_free(&c);
	free(dir);
	setenv("SENTINEL_RUNTIME_DATA", "/rt", 1);
	assert_int_equal(cfg_parse(&rt, 1, argv, &c, err, sizeof err), 0);
	assert_string_equal(cfg_get(c, "data"), "/rt");
	cfg_free(&c);
	unsetenv("SENTINEL_RUNTIME_DATA");
	unsetenv("XDG_DATA_HOME");
}

/* What the user types must reach the server as JSON or not at all. */
static void test_cli_pack(void **state)
{
	(void)state;
	cli c = { .cmd = "user create" };
	json_t *j = cli_pack(&c, "{s:s,s:b}", "username", "ren\xc3\xa9", "disabled", 1);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "username")), "ren\xc3\xa9");
	json_decref(j);
	fflush(stderr);
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && devnull >= 0);
	dup2(devnull, 2);
	j = cli_pack(&c, "{s:s}", "password", "latin1 \xe9");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(devnull);
	assert_null(j);
}

/* Table cells come from the server and may hold what someone typed. */
static void test_cli_table_escapes(void **state)
{
	(void)state;
	json_t *items = json_pack("[{s:s,s:i},{s:s,s:i}]", "actor", "nobody\nFAKE \x1b[2J",
				  "status", 401, "actor", "tab\there \xc2\x9b", "status", 200);
	assert_non_null(items);
	static const char *const cols[] = { "actor", "status", NULL };
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stdout);
	int saved = dup(1);
	dup2(fileno(tmp), 1);
	cli_print_table(items, cols);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	json_decref(items);
	char out[512] = { 0 };
	rewind(tmp);
	assert_true(fread(out, 1, sizeof out - 1, tmp) > 0);
	fclose(tmp);
	assert_non_null(strstr(out, "nobody\\nFAKE \\x1b[2J"));
	assert_non_null(strstr(out, "tab\\there \\u009b"));
	int lines = 0;
	for (char *p = out; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 3);
}

/* A list cell over its 4 KiB cap ends at the first item that does not fit,
 * marked "...": no later, shorter item hides the gap. */
static void test_cli_cell_cap(void **state)
{
	(void)state;
	char big[5000];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	json_t *items = json_pack("[{s:[s,s,s]}]", "groups", "first", big, "last");
	assert_non_null(items);
	static const char *const cols[] = { "groups", NULL };
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stdout);
	int saved = dup(1);
	dup2(fileno(tmp), 1);
	cli_print_table(items, cols);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	json_decref(items);
	char out[8192] = { 0 };
	rewind(tmp);
	assert_true(fread(out, 1, sizeof out - 1, tmp) > 0);
	fclose(tmp);
	assert_non_null(strstr(out, "first,..."));
	assert_null(strstr(out, "last"));
}

/* An empty --server is no server (and is not read before its start). */
static void test_cli_empty_server(void **state)
{
	(void)state;
	static const cfg_opt cli_opts[] = { CLI_COMMON_OPTS, { NULL, NULL, NULL, NULL, 0 } };
	static const cfg_spec cli_spec = { "whoami", "", "", cli_opts, 0 };
	char *argv[] = { "whoami", "--server", "", "--token", "t" };
	cfg *conf = NULL;
	char err[256];
	cli c;
	assert_int_equal(cfg_parse(&cli_spec, 5, argv, &conf, err, sizeof err), 0);
	setenv("XDG_CONFIG_HOME", "/nonexistent-sentinel-test", 1);
	fflush(stderr);
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && devnull >= 0);
	dup2(devnull, 2);
	int rc = cli_open(&c, conf, "whoami", 1);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(devnull);
	unsetenv("XDG_CONFIG_HOME");
	assert_int_equal(rc, 1);
	assert_null(c.server);
	cli_release(&c);
	cfg_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_typed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sections, setup, teardown),
		cmocka_unit_test(test_data_dir_default),
		cmocka_unit_test(test_cli_pack),
		cmocka_unit_test(test_cli_table_escapes),
		cmocka_unit_test(test_cli_cell_cap),
		cmocka_unit_test(test_cli_empty_server),
	};
	return cmocka_run_group_tests_name("cfg", tests, NULL, NULL);
}
