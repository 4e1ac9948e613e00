/* sentinel: one binary, one command table (git's habit). */
#include <stdio.h>
#include <string.h>
#include "cmd/commands.h"
#include "version.h"
#include "base/util.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct command commands[] = {
	{ "server", server_cmd, "run the control plane (REST API, events, metrics)" },
	{ "up", up_cmd, "quick start: a server on embedded defaults" },
	{ "login", cli_login_cmd, "log in to a server and store the token" },
	{ "logout", cli_logout_cmd, "revoke the stored token and forget it" },
	{ "whoami", cli_whoami_cmd, "show the logged-in user" },
	{ "passwd", cli_passwd_cmd, "change your own password" },
	{ "user", cli_user_cmd, "users (admin): ls, create, disable, enable, set-role, passwd, rm" },
	{ "group", cli_group_cmd, "groups and membership: ls, create, show, add, remove, rm" },
	{ "token", cli_token_cmd, "long-lived API tokens: create, ls, revoke" },
	{ "audit", cli_audit_cmd, "list audit records (--since 1h, --actor, --action)" },
	{ "status", cli_status_cmd, "the server's version and uptime; --local: this machine's data directory" },
	{ "dataset", cli_dataset_cmd, "versioned datasets: push, ls, show, diff, pull, rm" },
	{ "script", cli_script_cmd, "versioned scripts: push, ls, show, diff, pull, rm" },
	{ "node", node_cmd, "run the node agent (--server URL), or manage nodes: ls, show, claim, permit, drain, rm" },
	{ "job", cli_job_cmd, "jobs: submit, ls, show, logs, cancel, retry, artifacts" },
	{ "train", train_cmd, "fit an anomaly autoencoder to a CSV (writes model.onnx, config.json)" },
	{ "engine", engine_cmd, "serve an anomaly model over TCP (line protocol, port 9000)" },
	{ "produce", produce_cmd, "send sample vectors to an engine and summarise the replies" },
	{ "sandbox", sandbox_cmd, "run: run a command in the sandbox (namespaces, cgroups, seccomp)" },
	{ "runtime", runtime_cmd, "runtimes: ingest, scan, register, ls, rm" },
	{ "admin", admin_cmd, "offline recovery on the server's store (reset-password)" },
	{ "metrics", cli_metrics_cmd, "agent metrics: push, query, export" },
	{ "agents", cli_agents_cmd, "monitored agents: ls, show" },
	{ "alert", cli_alert_cmd, "alert rules: ls, create, rm, events" },
	{ "model", cli_model_cmd, "model registry: ls, push, pull, train, score, rm" },
	{ "detector", cli_detector_cmd, "anomaly detectors on agent metrics: ls, create, rm" },
	{ "collect", collect_cmd, "run a command and push its CPU, memory and GPU figures" },
	{ "detect", detect_cmd, "score a (timestamp,value) stream with the streaming detector" },
	{ "gc", gc_cmd, "collect unreferenced blobs and expired uploads (dry run; --apply deletes)" },
	{ "migrate", migrate_cmd, "copy a SQLite installation's state to PostgreSQL, verified" },
	/* hidden (no help line): the dataset diff on local files, for bench/datasets.sh */
	{ "dataset-diff", dsdiff_cmd, NULL },
	{ NULL, NULL, NULL },
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: sentinel COMMAND [options]\n\nSentinel %s: compute and ML-operations platform.\n\nCommands:\n",
		SENTINEL_VERSION);
	for (const struct command *c = commands; c->name; c++)
		if (c->help)
			fprintf(f, "  %-10s %s\n", c->name, c->help);
	fprintf(f, "\nRun 'sentinel COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (sn_base_init()) {
		fprintf(stderr, "sentinel: libsodium failed to initialise\n");
		return 1;
	}
	const char *name = argv[1];
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("sentinel %s\n", SENTINEL_VERSION);
		return 0;
	}
	for (const struct command *c = commands; c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "sentinel: unknown command '%s' (try 'sentinel --help')\n", name);
	return 2;
}
