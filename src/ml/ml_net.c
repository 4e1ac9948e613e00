/* TCP helpers. See ml_net.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "base/mem.h"
#include "ml/ml_net.h"

static int split_addr(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
	const char *colon;
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		snprintf(host, hn, "%.*s", (int)(rb - addr - 1), addr + 1);
		colon = rb + 1;
	} else {
		/* The last colon, so "HOST:PORT" splits even when HOST has colons. */
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		snprintf(host, hn, "%.*s", (int)(colon - addr), addr);
	}
	if (!colon[1] || strlen(colon + 1) >= pn)
		return -EINVAL;
	snprintf(port, pn, "%s", colon + 1);
	return 0;
}

int ml_net_listen(const char *addr, int *fd, char *bound, size_t boundlen, char *err,
		  size_t errlen)
{
	char host[256], port[16];
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res = NULL;
	*fd = -1;
	if (split_addr(addr, host, sizeof host, port, sizeof port)) {
		snprintf(err, errlen, "--listen '%s': expected HOST:PORT", addr);
		return -EINVAL;
	}
	/* ":PORT" (empty host) with AI_PASSIVE binds the wildcard address. */
	int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "--listen '%s': %s", addr, gai_strerror(rc));
		return -EINVAL;
	}
	/* SO_REUSEADDR: a restarted engine rebinds while old connections sit in
	 * TIME_WAIT. A backlog of 1024 holds a burst of producers connecting
	 * while the event loop is busy. */
	int s = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(s, res->ai_addr, res->ai_addrlen) || listen(s, 1024)) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		/* errno is read before close() can change it. */
		rc = -errno;
		if (s >= 0)
			close(s);
		freeaddrinfo(res);
		return rc;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[INET6_ADDRSTRLEN] = "?";
	int p = 0;
	/* The real port when PORT was 0: tests and scripts read it from bound. */
	getsockname(s, (struct sockaddr *)&ss, &sl);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof h);
		p = ntohs(a->sin_port);
		snprintf(bound, boundlen, "%s:%d", h, p);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof h);
		p = ntohs(a->sin6_port);
		snprintf(bound, boundlen, "[%s]:%d", h, p);
	}
	*fd = s;
	return 0;
}

int ml_net_connect(const char *host, const char *port, int *fd, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res), s = -1, saved = 0;
	*fd = -1;
	if (rc) {
		snprintf(err, errlen, "%s:%s: %s", host, port, gai_strerror(rc));
		return -EINVAL;
	}
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		s = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect(s, a->ai_addr, a->ai_addrlen) == 0)
			break;
		/* The last address's error is the one reported. */
		saved = errno;
		if (s >= 0)
			close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0) {
		snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(saved));
		return -saved;
	}
	/* Nagle would hold each short line back until the previous one is
	 * acknowledged. Non-blocking only now: the connect above stays simple. */
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	*fd = s;
	return 0;
}
