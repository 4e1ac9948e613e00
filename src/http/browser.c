/* What browsers add to a request: cookies, the Origin header and CORS
 * preflights (docs/web.md, "Browser sessions" and "Cross-origin requests").
 *
 * Cross-origin calls are refused unless --allowed-origins lists the origin:
 * a listed origin's preflight gets 204 with the Access-Control-Allow-*
 * headers, and every reply to it carries Access-Control-Allow-Origin (the
 * origin itself, never "*": credentials go with it), -Credentials and
 * Vary: Origin. Whether a cookie-authenticated mutation may come from an
 * origin is the auth hook's decision (http_req_origin_ok). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/mem.h"
#include "base/util.h"
#include "http/http_int.h"

/* ---- cookies ---- */

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

int http_cookie_find(const char *header, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	if (!header || !nl)
		return -ENOENT;
	size_t hl = strnlen(header, HTTP_COOKIE_SCAN_MAX);
	const char *p = header, *end = header + hl;
	while (p < end) {
		while (p < end && (is_space(*p) || *p == ';'))
			p++;
		const char *ns = p;
		while (p < end && *p != '=' && *p != ';')
			p++;
		const char *ne = p;
		while (ne > ns && is_space(ne[-1]))
			ne--;
		if (p >= end || *p != '=')
			continue; /* "flag;" without a value: not a cookie we set */
		const char *vs = ++p;
		while (p < end && *p != ';')
			p++;
		const char *ve = p;
		while (vs < ve && is_space(*vs))
			vs++;
		while (ve > vs && is_space(ve[-1]))
			ve--;
		if (ve - vs >= 2 && vs[0] == '"' && ve[-1] == '"')
			vs++, ve--;
		if ((size_t)(ne - ns) != nl || memcmp(ns, name, nl) != 0)
			continue;
		size_t vl = (size_t)(ve - vs);
		if (vl >= outlen)
			return -E2BIG;
		memcpy(out, vs, vl);
		out[vl] = '\0';
		return (int)vl;
	}
	return -ENOENT;
}

int http_req_cookie(const http_req *r, const char *name, char *out, size_t outlen)
{
	return http_cookie_find(http_req_header(r, "Cookie"), name, out, outlen);
}

/* A request relayed by a replica (http/proxy.h) is as its client sent it
 * to that replica: X-Forwarded-Proto and -Host, believed only then. */
int http_req_tls(const http_req *r)
{
	if (r->replica) {
		const char *proto = http_req_header(r, "X-Forwarded-Proto");
		return proto && strcmp(proto, "https") == 0;
	}
	return r->srv->tls_cert != NULL;
}

/* ---- origins ---- */

/* "scheme://host[:port]" with scheme http or https, a host of letters,
 * digits, '.', '-' (or an IPv6 literal in brackets), and nothing after the
 * port: what a browser sends in Origin. */
static int origin_valid(const char *o)
{
	const char *h;
	if (strncmp(o, "http://", 7) == 0)
		h = o + 7;
	else if (strncmp(o, "https://", 8) == 0)
		h = o + 8;
	else
		return 0;
	if (*h == '[') {
		h += strcspn(h, "]");
		if (*h != ']')
			return 0;
		h++;
	} else {
		const char *s = h;
		while (isalnum((unsigned char)*h) || *h == '.' || *h == '-')
			h++;
		if (h == s)
			return 0;
	}
	if (*h == ':') {
		const char *s = ++h;
		while (*h >= '0' && *h <= '9')
			h++;
		if (h == s || h - s > 5)
			return 0;
	}
	return *h == '\0';
}

int http_origins_init(http_server *srv, const char *list, char *err, size_t errlen)
{
	if (!list)
		return 0;
	for (const char *p = list; *p;) {
		size_t n = strcspn(p, ",");
		char *o = xstrndup(p, n);
		char *s = o, *e = o + strlen(o);
		while (is_space(*s))
			s++;
		while (e > s && is_space(e[-1]))
			*--e = '\0';
		for (char *c = s; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (*s && !origin_valid(s)) {
			snprintf(err, errlen, "--allowed-origins: '%s' is not scheme://host[:port]"
				 " (http or https, no path)", s);
			free(o);
			http_origins_release(srv);
			return -EINVAL;
		}
		if (*s) {
			srv->origins = xrealloc(srv->origins, (srv->norigins + 1) * sizeof *srv->origins);
			srv->origins[srv->norigins++] = xstrdup(s);
		}
		free(o);
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

void http_origins_release(http_server *srv)
{
	for (size_t i = 0; i < srv->norigins; i++)
		free(srv->origins[i]);
	free(srv->origins);
	srv->origins = NULL;
	srv->norigins = 0;
}

int http_origin_listed(const http_server *srv, const char *origin)
{
	for (size_t i = 0; origin && i < srv->norigins; i++)
		if (strcasecmp(srv->origins[i], origin) == 0)
			return 1;
	return 0;
}

/* The server's own origin as the client addressed it: the scheme it
 * speaks and the Host header. */
static int origin_own(const http_req *r, const char *origin)
{
	const char *host = http_req_header(r, r->replica ? "X-Forwarded-Host" : "Host");
	const char *scheme = http_req_tls(r) ? "https://" : "http://";
	size_t sl = strlen(scheme);
	return host && *host && strncasecmp(origin, scheme, sl) == 0 &&
	       strcasecmp(origin + sl, host) == 0;
}

int http_req_origin_ok(const http_req *r)
{
	const char *origin = http_req_header(r, "Origin");
	return !origin || origin_own(r, origin) || http_origin_listed(r->srv, origin);
}

/* ---- CORS ---- */

int http_cors_preflight(http_req *r)
{
	const char *origin = http_req_header(r, "Origin");
	if (strcmp(r->method, "OPTIONS") != 0 || !origin ||
	    !http_req_header(r, "Access-Control-Request-Method"))
		return 0;
	if (!http_origin_listed(r->srv, origin)) {
		http_reply_error(r, 403, "origin_refused",
				 "cross-origin requests from this origin are not allowed"
				 " (the server's --allowed-origins does not list it)");
		return 1;
	}
	http_reply_header(r, "Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
	http_reply_header(r, "Access-Control-Allow-Headers",
			  "Authorization, Content-Type, X-CSRF-Token, Last-Event-ID, Content-Range");
	http_reply_header(r, "Access-Control-Max-Age", "600");
	http_reply_data(r, 204, NULL, xstrdup(""), 0);
	return 1;
}

void http_cors_headers(http_req *r, struct MHD_Response *resp)
{
	const char *origin = http_req_header(r, "Origin");
	if (!origin || !http_origin_listed(r->srv, origin))
		return;
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
	MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
	MHD_add_response_header(resp, "Vary", "Origin");
}
