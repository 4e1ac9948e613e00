/* HTTP_STREAM_BODY: a body reaches the route's on_chunk piece by piece,
 * after the auth hook and never before; errors reach the handler. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/buf.h"
#include "http/http.h"

static int chunks_seen;

struct sum {
	uint64_t bytes, chunks, sum;
};

static int chunk(http_req *r, const char *p, size_t n, void *ctx)
{
	(void)ctx;
	chunks_seen++;
	struct sum *s = http_req_state(r);
	if (!s) {
		s = calloc(1, sizeof *s);
		http_req_set_state(r, s, free);
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '!')
			return -EBADMSG; /* a "malformed" byte */
		s->sum += (unsigned char)p[i];
	}
	s->bytes += n;
	s->chunks++;
	return 0;
}

static void done(http_req *r, void *ctx)
{
	(void)ctx;
	struct sum *s = http_req_state(r);
	int err = http_req_stream_error(r);
	if (err) {
		http_reply_errno(r, err, "stream error %d after %llu bytes", err,
				 (unsigned long long)http_req_streamed(r));
		return;
	}
	http_reply_json(r, 200, json_pack("{s:I,s:I}", "bytes", (json_int_t)(s ? s->bytes : 0),
					   "sum", (json_int_t)(s ? s->sum : 0)));
}

static int auth(http_req *r, const http_route *route, void *app)
{
	(void)route, (void)app;
	const char *h = http_req_header(r, "Authorization");
	if (!h || strcmp(h, "Bearer ok")) {
		http_reply_error(r, 401, "unauthorized", "no");
		return 1;
	}
	return 0;
}

static http_stream hs = { chunk, NULL };
static const http_route routes[] = {
	{ "POST", "/up", done, HTTP_RAW_BODY | HTTP_STREAM_BODY, 1, NULL, 1 << 20, &hs },
};

static int request(unsigned port, const char *head, const char *body, size_t n, buf *out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a))
		return -1;
	if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0)
		return -1;
	for (size_t off = 0; off < n;) {
		ssize_t w = send(fd, body + off, n - off > 7000 ? 7000 : n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	char b[4096];
	for (ssize_t k; (k = recv(fd, b, sizeof b, 0)) > 0;)
		buf_append(out, b, (size_t)k);
	close(fd);
	return 0;
}

static void test_stream(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_http_stream.XXXXXX";
	assert_non_null(mkdtemp(dir));
	http_config cfg = { .listen = "127.0.0.1:0", .spool_dir = dir, .min_free_disk = 1 };
	http_hooks hooks = { auth, NULL };
	http_server *s = NULL;
	char err[256];
	assert_int_equal(http_server_start(&cfg, routes, 1, &hooks, NULL, NULL, &s, err, sizeof err), 0);
	unsigned port = http_server_port(s);
	size_t n = 300000;
	char *body = malloc(n);
	uint64_t want = 0;
	for (size_t i = 0; i < n; i++) {
		body[i] = (char)('a' + i % 26);
		want += (unsigned char)body[i];
	}
	char head[256];
	snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\n"
		 "Content-Type: application/octet-stream\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", n);
	buf out;
	buf_init(&out, 1 << 20);
	assert_int_equal(request(port, head, body, n, &out), 0);
	char want_json[128];
	snprintf(want_json, sizeof want_json, "{\"bytes\":%zu,\"sum\":%llu}", n, (unsigned long long)want);
	assert_non_null(strstr(out.data, "200 OK"));
	assert_non_null(strstr(out.data, want_json));
	buf_reset(&out);
	/* An on_chunk error reaches the handler, which answers for it. */
	body[n / 2] = '!';
	assert_int_equal(request(port, head, body, n, &out), 0);
	assert_non_null(strstr(out.data, "422"));
	assert_non_null(strstr(out.data, "bad_archive"));
	buf_reset(&out);
	/* Without the token, no byte reaches on_chunk. */
	chunks_seen = 0;
	snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
		 "Content-Length: %zu\r\nConnection: close\r\n\r\n", n);
	assert_int_equal(request(port, head, body, n, &out), 0);
	assert_non_null(strstr(out.data, "401"));
	assert_int_equal(chunks_seen, 0);
	buf_reset(&out);
	/* Past body_max (chunked, so not refused from the head): -EFBIG. */
	size_t big = (1 << 20) + 100;
	char *bb = calloc(1, big + 64), *p = bb;
	memset(bb, 'x', big + 64);
	snprintf(head, sizeof head, "POST /up HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ok\r\n"
		 "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
	buf chunked;
	buf_init(&chunked, 4 << 20);
	for (size_t off = 0; off < big; off += 65536) {
		size_t k = big - off < 65536 ? big - off : 65536;
		buf_printf(&chunked, "%zx\r\n", k);
		buf_append(&chunked, p + off, k);
		buf_puts(&chunked, "\r\n");
	}
	buf_puts(&chunked, "0\r\n\r\n");
	assert_int_equal(request(port, head, chunked.data, chunked.len, &out), 0);
	assert_non_null(strstr(out.data, "413"));
	buf_release(&chunked);
	buf_release(&out);
	free(bb);
	free(body);
	http_server_stop(&s, 1000);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
