/* TCP helpers of the engine and the producer. Internal to src/ml. */
#ifndef SN_ML_NET_H
#define SN_ML_NET_H
#include <stddef.h>

/* Listens on "HOST:PORT" or "[V6]:PORT" (non-blocking, SO_REUSEADDR);
 * the bound address (real port when PORT is 0) goes to bound. */
int ml_net_listen(const char *addr, int *fd, char *bound, size_t boundlen, char *err,
		  size_t errlen);
/* A blocking connect; the socket is then made non-blocking with
 * TCP_NODELAY. */
int ml_net_connect(const char *host, const char *port, int *fd, char *err, size_t errlen);
#endif
