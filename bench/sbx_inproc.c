/* Helper of bench/sandbox.sh: times sbx_run() in-process, as the node
 * agent calls it, without the start-up cost of the sentinel binary.
 * Reads one command per line on stdin ("true" or "python"), runs it in
 * the sandbox with the same limits as the CLI row of the bench, and
 * answers "ok" (or "fail") on stdout when the run is over. */
#include <stdio.h>
#include <string.h>
#include "sandbox/sbx.h"

int main(void)
{
	static char *true_argv[] = { "/bin/true", NULL };
	static char *py_argv[] = { "/usr/bin/python3", "-c", "pass", NULL };
	char line[64], err[256];
	setvbuf(stdout, NULL, _IONBF, 0);
	while (fgets(line, sizeof line, stdin)) {
		sbx_opts o;
		sbx_result r;
		sbx_opts_init(&o);
		o.argv = strncmp(line, "python", 6) == 0 ? py_argv : true_argv;
		o.mem_bytes = 256u << 20;
		o.pids = 256;
		o.cpus = 1;
		o.time_ms = 30000;
		o.output_bytes = 1u << 20;
		int rc = sbx_run(&o, NULL, NULL, &r, err, sizeof err);
		if (rc)
			fprintf(stderr, "sbx_inproc: %s\n", err);
		fputs(!rc && r.exit_code == 0 ? "ok\n" : "fail\n", stdout);
	}
	return 0;
}
