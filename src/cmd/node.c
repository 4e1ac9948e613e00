/* `sentinel node`: the node agent (`sentinel node --server URL …`), or,
 * with a subcommand word (ls, show, claim, permit, drain, rm), the CLI of
 * the nodes API (src/cli/node.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent.h"
#include "base/cfg.h"
#include "base/mem.h"
#include "cmd/commands.h"

/* The CLI of the nodes API, in src/cli/node.c. */
extern int cli_node_cmd(int argc, char **argv);

static const cfg_opt node_opts[] = {
	{ "server", "URL", NULL, "the server (repeat for fail-over servers, tried in order)",
	  CFG_MULTI },
	{ "state", "DIR", NULL, "state directory: node.key, journal/, cache/, work/, runtimes/ "
	  "(default: /var/lib/sentinel-node as root, else $XDG_STATE_HOME/sentinel-node)", 0 },
	{ "name", "NAME", NULL, "the name the server shows (default: the host name)", 0 },
	{ "max-parallel", "N", "1", "chunks run at once", 0 },
	{ "gpus", "N", NULL, "GPUs to offer (default: as nvidia-smi lists them)", 0 },
	{ "dataset", "NAME=PATH", NULL, "data on this node's disks, offered to jobs read-only "
	  "(repeatable)", CFG_MULTI },
	{ "heartbeat", "DURATION", NULL, "heartbeat interval (default: what the server says)", 0 },
	{ "cache-max", "SIZE", "10G", "blobs kept in the cache (least recently used evicted)", 0 },
	{ "insecure", NULL, NULL, "accept any TLS certificate (test servers)", CFG_FLAG },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec node_spec = {
	.cmd = "node",
	.synopsis = "--server URL [options] | ls|show|claim|permit|drain|rm ...",
	.summary = "Run this machine as a node: register with the server (print a claim code\n"
		   "until a user claims it), take chunks of jobs and run them. SIGTERM drains:\n"
		   "running chunks finish, then exit 0; a second SIGTERM hands them back.\n"
		   "With a subcommand word, manage nodes through the API (sentinel node ls ...).",
	.opts = node_opts,
	.max_args = 0,
};

static int is_cli_word(const char *w)
{
	static const char *const words[] = { "ls", "show", "claim", "permit", "drain", "rm" };
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (strcmp(w, words[i]) == 0)
			return 1;
	return 0;
}

static int int_opt(cfg *c, const char *name, long long lo, long long hi, long long *v)
{
	char err[256];
	if (cfg_get_int(c, name, v, err, sizeof err) || *v < lo || *v > hi) {
		fprintf(stderr, "sentinel node: --%s must be from %lld to %lld\n", name, lo, hi);
		return -1;
	}
	return 0;
}

int node_cmd(int argc, char **argv)
{
	if (argc > 1 && is_cli_word(argv[1]))
		return cli_node_cmd(argc, argv);
	cfg *c = NULL;
	char err[256], *state = NULL;
	int code = 2;
	long long par = 1, gpus = -1;
	if (cfg_cmd_init(&node_spec, argc, argv, &c, &code))
		return code;
	agent_config ac = { .gpus = -1 };
	ac.servers = cfg_get_multi(c, "server", &ac.nservers);
	ac.datasets = cfg_get_multi(c, "dataset", &ac.ndatasets);
	code = 2;
	if (!ac.nservers) {
		fprintf(stderr, "sentinel node: --server URL is required\n");
		goto out;
	}
	if (int_opt(c, "max-parallel", 1, 1024, &par) ||
	    (cfg_get(c, "gpus") && int_opt(c, "gpus", 0, 64, &gpus)))
		goto out;
	if ((cfg_get(c, "heartbeat") &&
	     cfg_get_duration_ms(c, "heartbeat", &ac.heartbeat_ms, err, sizeof err)) ||
	    cfg_get_size(c, "cache-max", &ac.cache_max, err, sizeof err)) {
		fprintf(stderr, "sentinel node: %s\n", err);
		goto out;
	}
	if (cfg_get(c, "heartbeat") && (ac.heartbeat_ms < 100 || ac.heartbeat_ms > 3600000)) {
		fprintf(stderr, "sentinel node: --heartbeat must be from 100ms to 1h\n");
		goto out;
	}
	state = cfg_get(c, "state") ? xstrdup(cfg_get(c, "state")) : agent_default_state_dir();
	ac.state_dir = state;
	ac.name = cfg_get(c, "name");
	ac.max_parallel = (int)par;
	ac.gpus = (int)gpus;
	ac.insecure = cfg_get_bool(c, "insecure");
	code = agent_run(&ac);
out:
	free(state);
	cfg_free(&c);
	return code;
}
