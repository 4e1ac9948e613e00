/* TEMPORARY: removed as the foundation lands. */
#include <stdio.h>
#include "commands.h"
#define STUB(f) int f(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
STUB(cli_login_cmd) STUB(cli_logout_cmd) STUB(cli_whoami_cmd)
STUB(cli_user_cmd) STUB(cli_group_cmd) STUB(cli_token_cmd) STUB(cli_audit_cmd)
