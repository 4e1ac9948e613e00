/* libFuzzer target: whole requests against the real server in process
 * (routes of every module, the auth and audit hooks, a temporary SQLite
 * store), so that a crash anywhere from parsing through routing, handler,
 * reply and audit is found here. Also the pure parsers a client reaches.
 *
 * Input: byte 0 picks the caller (0 anonymous, 1 admin, 2 member, 3 a
 * forged token); then "METHOD RAW-TARGET" on the first line, header lines,
 * an empty line and the body. The harness adds Host, Connection: close and
 * Content-Length (unless the input sends its own length or chunking).
 * Invariant checked: every reply of ours (it carries X-Request-Id) with a
 * JSON type parses as JSON, and a status >= 400 of ours is the error
 * envelope {"error":{"code","message"}}. */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "http/http_int.h"
#include "server/server.h"

static server *sv;
static uint16_t port;
static char admin_tok[256], member_tok[256];

/* Sends req (n bytes) and reads the whole reply into out. 0 or -1. */
static int exchange(const char *req, size_t n, buf *out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return -1;
	}
	size_t off = 0;
	while (off < n) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break; /* the server may answer and close before reading it all */
		off += (size_t)w;
	}
	/* A body shorter than its declared length would otherwise keep both
	 * sides waiting until a timeout. */
	shutdown(fd, SHUT_WR);
	char b[65536];
	for (ssize_t r; (r = recv(fd, b, sizeof b, 0)) > 0;) {
		buf_append(out, b, (size_t)r);
		/* An event stream never ends by itself: its head is enough. */
		if (memmem(out->data, out->len, "text/event-stream", 17))
			break;
	}
	close(fd);
	return 0;
}

static const char *body_of(buf *reply)
{
	const char *p = reply->data ? strstr(reply->data, "\r\n\r\n") : NULL;
	return p ? p + 4 : NULL;
}

static void login(const char *user, const char *pw, char *tok, size_t toklen)
{
	char req[512];
	char body[160];
	int bl = snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	int n = snprintf(req, sizeof req,
			 "POST /api/v1/auth/login HTTP/1.1\r\nHost: f\r\nConnection: close\r\n"
			 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", bl, body);
	buf r;
	buf_init(&r, 1 << 20);
	exchange(req, (size_t)n, &r);
	buf_append(&r, "", 1);
	const char *b = body_of(&r);
	json_t *j = b ? json_loads(b, 0, NULL) : NULL;
	const char *t = json_string_value(json_object_get(j, "token"));
	snprintf(tok, toklen, "%s", t ? t : "none");
	json_decref(j);
	buf_release(&r);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	char dir[] = "/tmp/fuzz_http.XXXXXX";
	if (!mkdtemp(dir))
		abort();
	char *args[] = { "server", "--listen", "127.0.0.1:0", "--data", dir, "--admin-password",
			 "fuzzpass123", "--header-timeout", "2s", NULL };
	char err[512];
	log_setup("error", "text");
	/* Streams the harness left notice it at the next keep-alive. */
	setenv("SENTINEL_SSE_KEEPALIVE_MS", "200", 1);
	if (server_start(9, args, &sv, err, sizeof err)) {
		fprintf(stderr, "fuzz_http: %s\n", err);
		abort();
	}
	port = (uint16_t)atoi(strrchr(server_url(sv), ':') + 1);
	login("admin", "fuzzpass123", admin_tok, sizeof admin_tok);
	const char *mk = "{\"username\":\"fz\",\"password\":\"fuzzpass123\",\"role\":\"member\"}";
	char req[1024];
	int n = snprintf(req, sizeof req,
			 "POST /api/v1/users HTTP/1.1\r\nHost: f\r\nConnection: close\r\n"
			 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s", admin_tok, strlen(mk), mk);
	buf r;
	buf_init(&r, 1 << 20);
	exchange(req, (size_t)n, &r);
	buf_release(&r);
	login("fz", "fuzzpass123", member_tok, sizeof member_tok);
	return 0;
}

/* The checks on one reply; aborts (a finding) when one fails. A reply to
 * HEAD has the head only. */
static void check_reply(buf *reply, int head)
{
	buf_append(reply, "", 1);
	const char *s = reply->data;
	if (reply->len <= 1)
		return; /* the server may close a hostile connection without a word */
	int status;
	if (strncmp(s, "HTTP/1.", 7) != 0 || sscanf(s + 9, "%3d", &status) != 1)
		abort();
	const char *body = body_of(reply);
	if (head || !body || !strstr(s, "X-Request-Id:") ||
	    !strstr(s, "Content-Type: application/json"))
		return; /* libmicrohttpd's own protocol errors (HTML): see docs/security.md */
	json_t *j = json_loads(body, JSON_DECODE_ANY, NULL);
	if (!j)
		abort();
	if (status >= 400 && !json_is_string(json_object_get(json_object_get(j, "error"), "code")))
		abort();
	json_decref(j);
}

static void drive(const uint8_t *data, size_t size)
{
	if (size < 2)
		return;
	const char *tok = data[0] % 4 == 1 ? admin_tok : data[0] % 4 == 2 ? member_tok
				 : data[0] % 4 == 3 ? "sn_forged0000" : NULL;
	const char *in = (const char *)data + 1;
	size_t n = size - 1;
	const char *nl = memchr(in, '\n', n);
	size_t line = nl ? (size_t)(nl - in) : n;
	const char *hdrs = nl ? nl + 1 : in + n;
	const char *end = in + n;
	const char *sep = NULL;
	for (const char *p = hdrs; p < end; p++)
		if (*p == '\n' && (p == hdrs || p[-1] == '\n')) {
			sep = p;
			break;
		}
	const char *body = sep ? sep + 1 : end;
	size_t hlen = (size_t)((sep ? sep : end) - hdrs);
	buf req;
	buf_init(&req, 1 << 20);
	buf_append(&req, in, line);
	buf_puts(&req, " HTTP/1.1\r\nHost: f\r\nConnection: close\r\n");
	if (tok)
		buf_printf(&req, "Authorization: Bearer %s\r\n", tok);
	int own_len = 0;
	for (const char *p = hdrs; p < hdrs + hlen;) {
		const char *e = memchr(p, '\n', (size_t)(hdrs + hlen - p));
		size_t l = e ? (size_t)(e - p) : (size_t)(hdrs + hlen - p);
		if (l) {
			if ((l >= 15 && !strncasecmp(p, "content-length:", 15)) ||
			    (l >= 18 && !strncasecmp(p, "transfer-encoding:", 18)))
				own_len = 1;
			buf_append(&req, p, l);
			buf_puts(&req, "\r\n");
		}
		p += l + 1;
	}
	if (!own_len)
		buf_printf(&req, "Content-Length: %zu\r\n", (size_t)(end - body));
	buf_puts(&req, "\r\n");
	buf_append(&req, body, (size_t)(end - body));
	buf reply;
	buf_init(&reply, 64 << 20);
	if (exchange(req.data, req.len, &reply) == 0)
		check_reply(&reply, line >= 5 && memcmp(in, "HEAD ", 5) == 0);
	buf_release(&reply);
	buf_release(&req);
}

static const char *const patterns[] = {
	"/api/v1/health", "/api/v1/users/{id}", "/api/v1/groups/{id}/members/{user}",
	"/api/v1/a/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}",
};

static void parsers(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
	int n;
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		if (http_match(patterns[i], s, names, vals, &n))
			for (int k = 0; k < n; k++) {
				free(names[k]);
				free(vals[k]);
			}
	http_target_ok(s);
	int64_t ms;
	uint64_t sz;
	sn_time_parse(s, &ms);
	sn_parse_size(s, &sz);
	sn_parse_duration_ms(s, &ms);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parsers(data, size);
	drive(data, size);
	return 0;
}
