/* Deferred replies (http_req_defer / http_req_resume) on both kinds of
 * server: a thread per connection, and the event loop that suspends the
 * connection meanwhile. A reply set on another thread after the handler
 * returned, one set before it returned, none at all (500), keep-alive
 * across a deferred reply, and on the event loop many deferred requests
 * in flight at once on few threads. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/buf.h"
#include "base/log.h"
#include "http/http.h"

#define LATER_MS 200

static void *later_main(void *arg)
{
	http_req *r = arg;
	struct timespec ts = { 0, LATER_MS * 1000000L };
	nanosleep(&ts, NULL);
	http_reply_json(r, 200, json_pack("{s:s}", "when", "later"));
	http_req_resume(r);
	return NULL;
}

static void h_later(http_req *r, void *ctx)
{
	(void)ctx;
	pthread_t t;
	http_req_defer(r);
	assert_int_equal(pthread_create(&t, NULL, later_main, r), 0);
	pthread_detach(t);
}

static void h_soon(http_req *r, void *ctx)
{
	(void)ctx;
	http_req_defer(r);
	http_reply_json(r, 201, json_pack("{s:s}", "when", "soon"));
	http_req_resume(r);
}

static void h_none(http_req *r, void *ctx)
{
	(void)ctx;
	http_req_defer(r);
	http_req_resume(r);
}

static void h_now(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_json(r, 200, json_pack("{s:s}", "when", "now"));
}

static const http_route routes[] = {
	{ "POST", "/later", h_later, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "POST", "/soon", h_soon, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "POST", "/none", h_none, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "GET", "/now", h_now, HTTP_PUBLIC, 0, NULL, 0, NULL },
};

static int dial(unsigned port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends req on fd and reads until the peer closes (the last request of
 * req says Connection: close). */
static void exchange(int fd, const char *req, buf *out)
{
	assert_true(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
	char b[4096];
	for (ssize_t k; (k = recv(fd, b, sizeof b, 0)) > 0;)
		buf_append(out, b, (size_t)k);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static http_server *start(unsigned event_threads)
{
	http_config cfg = { .listen = "127.0.0.1:0", .event_threads = event_threads };
	http_hooks hooks = { NULL, NULL };
	http_server *s = NULL;
	char err[256];
	assert_int_equal(http_server_start(&cfg, routes, sizeof routes / sizeof routes[0], &hooks,
					   NULL, NULL, &s, err, sizeof err), 0);
	return s;
}

static void one(unsigned port, const char *req, const char *status, const char *body)
{
	buf out;
	buf_init(&out, 1 << 16);
	int fd = dial(port);
	assert_true(fd >= 0);
	exchange(fd, req, &out);
	close(fd);
	assert_non_null(out.data);
	if (!strstr(out.data, status) || !strstr(out.data, body))
		fail_msg("%s: got %s", req, out.data);
	buf_release(&out);
}

static void replies(unsigned event_threads)
{
	http_server *s = start(event_threads);
	unsigned port = http_server_port(s);
	one(port, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 200", "\"later\"");
	one(port, "POST /soon HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 201", "\"soon\"");
	one(port, "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 500", "\"internal\"");
	/* Keep-alive: a deferred reply, then two more requests on the same
	 * connection, sent together. */
	buf out;
	buf_init(&out, 1 << 16);
	int fd = dial(port);
	assert_true(fd >= 0);
	exchange(fd,
		 "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
		 "POST /soon HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
		 "GET /now HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &out);
	close(fd);
	assert_non_null(out.data);
	const char *a = strstr(out.data, "\"later\""), *b = a ? strstr(a, "\"soon\"") : NULL;
	if (!a || !b || !strstr(b, "\"now\""))
		fail_msg("keep-alive: got %s", out.data);
	buf_release(&out);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_thread_per_connection(void **state)
{
	(void)state;
	replies(0);
}

static void test_event_loop(void **state)
{
	(void)state;
	replies(2);
}

/* 40 deferred requests at once on one event thread: all wait together
 * (about one LATER_MS, not 40), while the server keeps a handful of
 * threads (a thread per connection would have 40 more). */
static void test_event_loop_many(void **state)
{
	(void)state;
	enum { N = 40 };
	int before = threads();
	http_server *s = start(1);
	unsigned port = http_server_port(s);
	int fds[N];
	const char *req = "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	double t0 = now_s();
	for (int i = 0; i < N; i++) {
		fds[i] = dial(port);
		assert_true(fds[i] >= 0);
		assert_true(send(fds[i], req, strlen(req), MSG_NOSIGNAL) > 0);
	}
	struct timespec ts = { 0, LATER_MS / 2 * 1000000L };
	nanosleep(&ts, NULL);
	/* the detached repliers are running: only they and the loop's few threads */
	int during = threads() - before;
	for (int i = 0; i < N; i++) {
		buf out;
		buf_init(&out, 1 << 16);
		char b[4096];
		for (ssize_t k; (k = recv(fds[i], b, sizeof b, 0)) > 0;)
			buf_append(&out, b, (size_t)k);
		close(fds[i]);
		if (!out.data || !strstr(out.data, "HTTP/1.1 200") || !strstr(out.data, "\"later\""))
			fail_msg("request %d: got %s", i, out.data ? out.data : "nothing");
		buf_release(&out);
	}
	double took = now_s() - t0;
	if (took > 4.0 * LATER_MS / 1000)
		fail_msg("%d deferred requests took %.3f s: they did not wait together", N, took);
	if (during > N + 6)
		fail_msg("%d threads more than before with %d connections", during, N);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

int main(void)
{
	log_setup("warn", NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_per_connection),
		cmocka_unit_test(test_event_loop),
		cmocka_unit_test(test_event_loop_many),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
