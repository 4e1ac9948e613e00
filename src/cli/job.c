/* `sentinel job …`: the CLI of the jobs API. (Scaffolding: replaced.) */
#include <stdio.h>
#include "cli/cli.h"
#include "cmd/commands.h"

int cli_job_cmd(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "sentinel job: not built yet\n");
	return 2;
}
