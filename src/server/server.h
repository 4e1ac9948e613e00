/* The control plane as a library: what `sentinel server` runs, for tests
 * and fuzz targets that need the real routes, store and hooks in process. */
#ifndef SN_SERVER_H
#define SN_SERVER_H
#include <stddef.h>
#include "store/store.h"

typedef struct server server;

/* Starts a server from the flags of `sentinel server` (argv[0] is the
 * command word; the environment and --config apply as for the command).
 * Signals are left alone. 0 with *out set, or a negative errno with a
 * message in err. */
int server_start(int argc, char **argv, server **out, char *err, size_t errlen);
/* "http://HOST:PORT", borrowed. */
const char *server_url(const server *sv);
/* The domains whose schemas the server's store holds, in the order they
 * are migrated (*n of them); `sentinel migrate` creates the same schema. */
const store_domain *const *server_domains(size_t *n);
/* Stops at once (in-flight requests are cut) and frees everything. */
void server_stop(server **sv);
#endif
