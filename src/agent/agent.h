/* The node agent (`sentinel node --server URL …`): registers this machine
 * with a server under an Ed25519 key kept in its state directory, sends
 * heartbeats, long-polls for chunks of work and runs them (built-in
 * programs in-process, scripts in the sandbox), streams their output,
 * uploads artifacts and results. docs/jobs.md is the wire contract and
 * docs/node.md the operator's guide (state directory, journal, cache).
 *
 * Guarantees:
 * - A finished result is in STATE/journal before the first byte of it is
 *   sent, and leaves the journal only once the server answered 200 (taken)
 *   or 409 (the lease is gone): a network or server outage never loses it.
 * - SIGTERM drains: no new work, running chunks finish and report, then
 *   exit 0; a second SIGTERM stops them and reports nothing (the server's
 *   lease expiry hands them to other nodes). */
#ifndef SN_AGENT_H
#define SN_AGENT_H
#include <stddef.h>
#include <stdint.h>

typedef struct agent_config {
	const char *const *servers; /* base URLs, tried in order on connection errors */
	size_t nservers;
	const char *state_dir;      /* node.key, journal/, cache/, work/ */
	const char *name;           /* shown by the server; NULL: the host name */
	int max_parallel;           /* chunks at once, >= 1 */
	int gpus;                   /* -1: ask nvidia-smi */
	const char *const *datasets; /* "NAME=PATH" node-local data */
	size_t ndatasets;
	int64_t heartbeat_ms;       /* 0: what the server says (5 s until it does) */
	uint64_t cache_max;         /* bytes of blobs kept in cache/ */
	int insecure;               /* accept any TLS certificate */
} agent_config;

/* The default state directory: $XDG_STATE_HOME/sentinel-node, else
 * ~/.local/state/sentinel-node, or /var/lib/sentinel-node as root. Caller
 * frees. */
char *agent_default_state_dir(void);

/* Runs until drained (SIGTERM/SIGINT) or the server removed this node.
 * Returns the process exit code: 0 after a drain, 1 on a fatal error
 * (message on stderr). */
int agent_run(const agent_config *cfg);
#endif
