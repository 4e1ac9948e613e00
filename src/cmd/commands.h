/* Entry points of the subcommands, one per module; main.c's table lists them.
 * Each takes argv with argv[0] = the subcommand word and returns the exit code. */
#ifndef SN_COMMANDS_H
#define SN_COMMANDS_H
int server_cmd(int argc, char **argv);
int up_cmd(int argc, char **argv);
int cli_login_cmd(int argc, char **argv);
int cli_logout_cmd(int argc, char **argv);
int cli_whoami_cmd(int argc, char **argv);
int cli_passwd_cmd(int argc, char **argv);
int cli_user_cmd(int argc, char **argv);
int cli_group_cmd(int argc, char **argv);
int cli_token_cmd(int argc, char **argv);
int cli_audit_cmd(int argc, char **argv);
int cli_status_cmd(int argc, char **argv);
int cli_dataset_cmd(int argc, char **argv);
int cli_script_cmd(int argc, char **argv);
int train_cmd(int argc, char **argv);
int engine_cmd(int argc, char **argv);
int produce_cmd(int argc, char **argv);
int sandbox_cmd(int argc, char **argv);
int runtime_cmd(int argc, char **argv);
int admin_cmd(int argc, char **argv);
int gc_cmd(int argc, char **argv);
int migrate_cmd(int argc, char **argv);
int dsdiff_cmd(int argc, char **argv);
int node_cmd(int argc, char **argv);
int cli_job_cmd(int argc, char **argv);
int cli_metrics_cmd(int argc, char **argv);
int cli_agents_cmd(int argc, char **argv);
int cli_alert_cmd(int argc, char **argv);
int cli_model_cmd(int argc, char **argv);
int cli_detector_cmd(int argc, char **argv);
int collect_cmd(int argc, char **argv);
int detect_cmd(int argc, char **argv);
/* For local commands that change a data directory (cmd/admin.c): records
 * the change in the audit of the server's store, db (a store URL, as the
 * server's --db) or else DATA/sentinel.db (created if absent), as actor
 * local:<unix user>; warns on stderr when it cannot. 0 or a negative errno. */
int admin_audit_local(const char *data, const char *db, const char *action, const char *target,
		      int status);
#endif
