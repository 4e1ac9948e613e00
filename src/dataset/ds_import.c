/* ?import=URL: the server fetches a dataset's file over http(s) itself.
 *
 * The risk is server-side request forgery: a member making the server
 * reach what only it can reach (loopback services, the cloud metadata
 * address, the private network). So every address the transfer connects
 * to is checked at connect time, after name resolution (hc_fetch's
 * allow_addr), which DNS rebinding cannot get past; redirects are
 * followed here, one at a time, each target checked as the first. */
#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "base/mem.h"
#include "dataset/ds_import.h"
#include "dataset/ds_int.h"
#include "http/client.h"

#define IMPORT_REDIRECTS_MAX 5
#define IMPORT_TIMEOUT_S 600 /* whole import, all hops together */
#define IMPORT_STALL_S 30    /* nothing received this long: the peer is gone */

static int in_prefix(const unsigned char *a, const unsigned char *net, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	if (memcmp(a, net, (size_t)whole) != 0)
		return 0;
	return !rest || ((a[whole] ^ net[whole]) & (0xff << (8 - rest))) == 0;
}

static int v4_blocked(const unsigned char *a)
{
	static const struct { unsigned char net[4]; int bits; } nets[] = {
		{ { 0, 0, 0, 0 }, 8 },       { { 10, 0, 0, 0 }, 8 },    { { 100, 64, 0, 0 }, 10 },
		{ { 127, 0, 0, 0 }, 8 },     { { 169, 254, 0, 0 }, 16 }, { { 172, 16, 0, 0 }, 12 },
		{ { 192, 0, 0, 0 }, 24 },    { { 192, 168, 0, 0 }, 16 }, { { 198, 18, 0, 0 }, 15 },
		{ { 224, 0, 0, 0 }, 4 },     { { 240, 0, 0, 0 }, 4 },
	};
	for (size_t i = 0; i < sizeof nets / sizeof nets[0]; i++)
		if (in_prefix(a, nets[i].net, nets[i].bits))
			return 1;
	return 0;
}

int ds_import_addr_blocked(int family, const unsigned char *a)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };
	static const unsigned char zero[16];
	if (family == AF_INET)
		return v4_blocked(a);
	if (family != AF_INET6)
		return 1;
	/* ::ffff:a.b.c.d and 64:ff9b::a.b.c.d reach a.b.c.d; ::/96 holds ::,
	 * ::1 and the old IPv4-compatible form. */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return v4_blocked(a + 12);
	if (memcmp(a, zero, 12) == 0)
		return 1;
	if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:a.b.c.d::/48 */
		return v4_blocked(a + 2);
	return (a[0] & 0xfe) == 0xfc ||                  /* fc00::/7 unique local */
	       (a[0] == 0xfe && (a[1] & 0x80) == 0x80) || /* fe80::/10, fec0::/10 */
	       a[0] == 0xff;                              /* multicast */
}

/* "1.2.3.4", "[::1]" or "::1", with an optional "/bits". */
static int parse_net(const char *s, ds_allow *a)
{
	char tmp[128];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n >= sizeof tmp)
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	int max = a->family == AF_INET ? 32 : 128;
	a->prefix = max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (end == slash + 1 || *end || b < 0 || b > max)
			return -EINVAL;
		a->prefix = (int)b;
	}
	return 0;
}

static int parse_port(const char *s, int *port)
{
	char *end;
	long p = strtol(s, &end, 10);
	if (end == s || *end || p < 1 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

/* One entry: CIDR, [V6]:port, V6, V4[:port] or host[:port]. */
static int parse_allow(char *s, ds_allow *a)
{
	char *colon;
	memset(a, 0, sizeof *a);
	if (s[0] == '[') {
		char *close = strchr(s, ']');
		if (!close || (close[1] && (close[1] != ':' || parse_port(close + 2, &a->port))))
			return -EINVAL;
		*close = '\0';
		return parse_net(s + 1, a);
	}
	if (parse_net(s, a) == 0)
		return 0;
	if ((colon = strchr(s, ':'))) {
		if (strchr(colon + 1, ':') || parse_port(colon + 1, &a->port))
			return -EINVAL;
		*colon = '\0';
	}
	if (parse_net(s, a) == 0)
		return 0;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof a->host || strchr(s, '/'))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return -EINVAL;
		a->host[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	a->host[n] = '\0';
	return 0;
}

int ds_import_configure(ds_api *api, int enabled, const char *allow, char *err, size_t errlen)
{
	char *list = xstrdup(allow ? allow : ""), *save = NULL;
	int rc = 0;
	api->nallow = 0;
	for (char *e = strtok_r(list, ", ", &save); e; e = strtok_r(NULL, ", ", &save)) {
		if (api->nallow == DS_IMPORT_ALLOW_MAX) {
			snprintf(err, errlen, "--import-allow has at most %d entries", DS_IMPORT_ALLOW_MAX);
			rc = -EINVAL;
			goto out;
		}
		char entry[300];
		snprintf(entry, sizeof entry, "%s", e);
		if (parse_allow(e, &api->allow[api->nallow])) {
			snprintf(err, errlen, "--import-allow: '%s' is not host[:port], IP[:port] or"
				 " CIDR", entry);
			rc = -EINVAL;
			goto out;
		}
		api->nallow++;
	}
	api->import_enabled = enabled || api->nallow > 0;
out:
	free(list);
	return rc;
}

/* The state of one hop's address check. */
struct hop {
	ds_api *api;
	const char *host;
	int port;
	int host_allowed; /* an allow entry names this host */
	char refused[INET6_ADDRSTRLEN];
};

static int allow_addr(void *ud, const struct sockaddr *sa)
{
	struct hop *h = ud;
	const unsigned char *a;
	int fam = sa->sa_family, port;
	if (fam == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else if (fam == AF_INET6) {
		a = (const unsigned char *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	} else {
		return -EPERM;
	}
	if (h->host_allowed || !ds_import_addr_blocked(fam, a))
		return 0;
	for (size_t i = 0; i < h->api->nallow; i++) {
		const ds_allow *e = &h->api->allow[i];
		if (e->family == fam && in_prefix(a, e->addr, e->prefix) && (!e->port || e->port == port))
			return 0;
	}
	inet_ntop(fam, a, h->refused, sizeof h->refused);
	return -EPERM;
}

static int import_err(ds_import_err *e, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int import_err(ds_import_err *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	e->status = status;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* Checks url's form and prepares its hop: 0, or the refusal in e. */
static int hop_init(ds_api *api, const char *url, int first, struct hop *h, char host[256],
		    ds_import_err *e)
{
	char scheme[8];
	int rc = hc_url_parts(url, scheme, host, &h->port);
	if (rc == -ENOSYS)
		return import_err(e, 501, "unsupported", "import needs libcurl (libcurl4)");
	if (rc)
		return first ? import_err(e, 400, "bad_request", "import needs an absolute http or"
					  " https URL")
			     : import_err(e, 502, "upstream", "the server redirects to something"
					  " other than an http or https URL");
	h->api = api;
	h->host = host;
	h->host_allowed = 0;
	h->refused[0] = '\0';
	for (size_t i = 0; i < api->nallow; i++)
		if (!api->allow[i].family && strcmp(api->allow[i].host, host) == 0 &&
		    (!api->allow[i].port || api->allow[i].port == h->port))
			h->host_allowed = 1;
	return 0;
}

int ds_import_fetch(ds_api *api, const char *url, int (*on_data)(void *, const char *, size_t),
		    void *ud, ds_import_err *e)
{
	char *cur = xstrdup(url), *loc = NULL, host[256], err[300] = "";
	struct hop h;
	long status = 0;
	time_t deadline = time(NULL) + IMPORT_TIMEOUT_S;
	int rc = 0;
	memset(e, 0, sizeof *e);
	for (int hopn = 0;; hopn++) {
		if ((rc = hop_init(api, cur, hopn == 0, &h, host, e)))
			goto out;
		hc_fetch_opts o = { .timeout_s = (long)(deadline - time(NULL)), .stall_s = IMPORT_STALL_S,
				    .max_bytes = api->max_size, .allow_addr = allow_addr, .addr_ud = &h,
				    .on_data = on_data, .ud = ud };
		if (o.timeout_s <= 0) {
			rc = import_err(e, 504, "upstream_timeout", "the import took over %d s",
					IMPORT_TIMEOUT_S);
			goto out;
		}
		rc = hc_fetch(cur, &o, &status, &loc, err, sizeof err);
		if (rc == -EPERM && h.refused[0]) {
			rc = import_err(e, 403, "import_refused", "%s%s (%s) is a private, loopback or"
					" link-local address: refused unless an admin allows it with"
					" --import-allow", hopn ? "the redirect target " : "", host,
					h.refused);
			goto out;
		}
		if (rc == -EFBIG) {
			rc = import_err(e, 413, "too_large", "the download exceeds the dataset size"
					" limit (%llu bytes)", (unsigned long long)api->max_size);
			goto out;
		}
		if (rc == -ETIMEDOUT) {
			rc = import_err(e, 504, "upstream_timeout", "%s: %s", host, err);
			goto out;
		}
		if (rc == -EIO || rc == -EPERM || rc == -ENOSYS) {
			rc = import_err(e, 502, "upstream", "cannot fetch from %s: %s", host, err);
			goto out;
		}
		if (rc)
			goto out; /* on_data's */
		if (status >= 200 && status < 300)
			break;
		if (status < 300 || status >= 400 || !loc) {
			rc = import_err(e, 502, "upstream", "the server at %s answered %ld", host, status);
			goto out;
		}
		if (hopn == IMPORT_REDIRECTS_MAX) {
			rc = import_err(e, 502, "upstream", "more than %d redirects from %s",
					IMPORT_REDIRECTS_MAX, host);
			goto out;
		}
		free(cur);
		cur = loc;
		loc = NULL;
	}
out:
	free(cur);
	free(loc);
	return rc;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int ds_import_filename(const char *url, char out[DS_PATH_MAX])
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t end = strcspn(p, "?#");
	const char *slash = memchr(p, '/', end);
	const char *last = p + end, *seg = last;
	while (slash && seg > slash && seg[-1] != '/')
		seg--;
	if (!slash || seg == last) {
		sn_strlcpy(out, "data", DS_PATH_MAX);
		return 0;
	}
	char dec[DS_PATH_MAX];
	size_t n = 0;
	for (const char *q = seg; q < last; q++) {
		if (n + 1 >= sizeof dec)
			return -EINVAL;
		int hi, lo;
		if (*q == '%' && q + 2 < last && (hi = hexval(q[1])) >= 0 && (lo = hexval(q[2])) >= 0) {
			dec[n++] = (char)(hi * 16 + lo);
			q += 2;
		} else {
			dec[n++] = *q;
		}
	}
	/* A decoded '/' would make the one segment a path. */
	if (memchr(dec, '/', n))
		return -EINVAL;
	return ds_path_normalize(dec, n, out);
}
