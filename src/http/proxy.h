/* The follower's listener (several replicas on one PostgreSQL database,
 * server/replica.h): every request it receives is relayed, as it came
 * (method, raw target, end-to-end headers, body), to the leading replica's
 * replica listener, and the answer streamed back (SSE included). The
 * leader authenticates and authorises; the follower holds no state of its
 * own, so nothing of it can be stale (a token revoked on one replica is
 * refused on every other at once).
 *
 * The leader learns the client's address from X-Forwarded-For, and the
 * scheme and Host it addressed (for the browser's origin checks and secure
 * cookies) from X-Forwarded-Proto and -Host, which it believes only on its
 * replica listener and only with the replica secret
 * (http_config.replica_secret) in HTTP_REPLICA_HEADER: a client's own
 * X-Forwarded-* and replica header are dropped here. */
#ifndef SN_HTTP_PROXY_H
#define SN_HTTP_PROXY_H
#include <stddef.h>
#include "http/http.h"

#define HTTP_REPLICA_HEADER "X-Sentinel-Replica"

typedef struct http_proxy http_proxy;

/* Where requests go now: the leader's replica listener as a base URL
 * ("http://host:port") and its secret. 0, or -EAGAIN when no replica leads
 * (the request is answered 503 no_leader with Retry-After). Called for
 * every request on its connection's thread. reset: the last answer could
 * not be reached (ask the database again). */
typedef int (*http_upstream_fn)(void *ctx, int reset, char *base, size_t baselen, char *secret,
				size_t secretlen);

/* Listens on cfg->listen with cfg's connection limits and TLS; one thread
 * per connection. */
int http_proxy_start(const http_config *cfg, http_upstream_fn up, void *ctx, http_proxy **out,
		     char *err, size_t errlen);
unsigned http_proxy_port(const http_proxy *p);
/* Stops accepting; returns the listening socket for the server that takes
 * over the address (http_config.listen_fd), or -1. Relays in flight go on
 * until http_proxy_stop. */
int http_proxy_quiesce(http_proxy *p);
/* Another replica leads now: relays in flight to the one before are ended
 * within about a second (answered 503 no_leader when no answer had begun,
 * cut off otherwise), since it may be hung rather than gone. NULL: nothing. */
void http_proxy_abandon(http_proxy *p);
/* Ends every relay in flight (within about a second): one whose answer had
 * not begun is answered 503 no_leader with Connection: close; then frees p. */
void http_proxy_stop(http_proxy **p);
#endif
