/* `sentinel node`: the node agent (`sentinel node --server URL …`), or,
 * with a subcommand word (ls, show, claim, permit, drain, rm), the CLI of
 * the nodes API. (Scaffolding: replaced by the agent.) */
#include <stdio.h>
#include "cli/cli.h"
#include "cmd/commands.h"

int node_cmd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sentinel node: not built yet\n");
	return 2;
}
