/* The event loop's HTTP/1.1 (evloop.c) and its parsers (ev_parse.c).
 *
 * First the pure parsers, on bytes written here: request heads (line
 * ends, the length and coding fields that decide where a request ends,
 * refusals with their errno), the incremental end-of-head scan, chunked
 * bodies fed whole and byte by byte (the same data both ways), and
 * percent-decoding.
 *
 * Then a real event-loop server on 127.0.0.1:0, spoken to over raw
 * sockets so that each test controls the bytes and their timing:
 * keep-alive, pipelining (also behind a deferred reply), bodies that
 * arrive a byte at a time, 100-continue, refusals (413, 400, 431, 501,
 * 505, 404) and when the connection closes after them, HTTP/1.0, HEAD,
 * half-closed clients, the per-address connection limit and the header
 * timeout. Every reply is read by its Content-Length: a reply with a byte
 * too many or too few breaks the next one read. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#include "base/mem.h"
#include "http/http_int.h"

/* ================= the parsers ================= */

#define STORE 8192

/* Parses the n bytes of s as a head, in store (h points into it). */
static int parse_n(const char *s, size_t n, char *store, struct http_ev_head *h)
{
	assert_true(n < STORE);
	memcpy(store, s, n);
	store[n] = '\0';
	return http_ev_parse_head(store, n, h);
}

/* A literal, embedded NULs included. */
#define PARSE(lit, h) parse_n(lit, sizeof(lit) - 1, store, h)

/* A whole head: its end is its last byte, and it parses. */
static void head_ok(const char *s, char *store, struct http_ev_head *h)
{
	size_t n = strlen(s);
	assert_int_equal(http_ev_head_end(s, n, 0), n);
	int rc = parse_n(s, n, store, h);
	if (rc)
		fail_msg("refused (%d): %s", rc, s);
}

static void test_head_basic(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	head_ok("GET /a%20b?x=1&y HTTP/1.1\r\nHost: example\r\nX-Thing:  v a l \t\r\n"
		"x-empty:\r\n\r\n", store, &h);
	assert_string_equal(h.method, "GET");
	assert_string_equal(h.target, "/a%20b?x=1&y"); /* not decoded here */
	assert_int_equal(h.minor, 1);
	assert_int_equal(h.nh, 3);
	assert_string_equal(h.name[0], "Host");
	assert_string_equal(http_ev_header(&h, "host"), "example");
	assert_string_equal(http_ev_header(&h, "HOST"), "example");
	/* surrounding blanks go, inner ones stay */
	assert_string_equal(http_ev_header(&h, "x-THING"), "v a l");
	assert_string_equal(http_ev_header(&h, "X-Empty"), "");
	assert_null(http_ev_header(&h, "Hos"));
	assert_null(http_ev_header(&h, "Hostx"));
	assert_int_equal(h.length, -1);
	assert_false(h.chunked);
	assert_true(h.keep_alive);
	assert_false(h.expect_continue);
	/* The first field of a name wins. */
	head_ok("GET / HTTP/1.1\r\nA: 1\r\na: 2\r\n\r\n", store, &h);
	assert_string_equal(http_ev_header(&h, "A"), "1");
	assert_int_equal(h.nh, 2);
	/* Bare LF, and the two mixed. */
	head_ok("POST /p HTTP/1.0\nContent-Length: 12\nX: y\n\n", store, &h);
	assert_string_equal(h.method, "POST");
	assert_string_equal(h.target, "/p");
	assert_int_equal(h.minor, 0);
	assert_int_equal(h.length, 12);
	assert_string_equal(http_ev_header(&h, "x"), "y");
	head_ok("GET / HTTP/1.1\nA: b\r\nC: d\n\r\n", store, &h);
	assert_string_equal(http_ev_header(&h, "a"), "b");
	assert_string_equal(http_ev_header(&h, "c"), "d");
	/* Empty lines before the request line are skipped (RFC 9112 2.2). */
	head_ok("\r\n\n\r\nGET /x HTTP/1.1\r\n\r\n", store, &h);
	assert_string_equal(h.target, "/x");
	assert_int_equal(h.nh, 0);
	/* Any tchar in a method. */
	head_ok("M-SEARCH * HTTP/1.1\r\n\r\n", store, &h);
	assert_string_equal(h.method, "M-SEARCH");
	assert_string_equal(h.target, "*");
}

static void test_head_end(void **state)
{
	(void)state;
	const char *whole = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY";
	assert_int_equal(http_ev_head_end(whole, strlen(whole), 0), strlen(whole) - 4);
	assert_int_equal(http_ev_head_end("GET / HTTP/1.1\n\nzz", 18, 0), 16);
	assert_int_equal(http_ev_head_end("GET / HTTP/1.1\r\nA: b\r\n", 22, 0), 0);
	assert_int_equal(http_ev_head_end("GET / HTTP/1.1\r\n\r", 17, 0), 0);
	assert_int_equal(http_ev_head_end("", 0, 0), 0);
	/* Only empty lines so far: not a head yet, however many. */
	assert_int_equal(http_ev_head_end("\r\n\r\n\n\n", 6, 0), 0);
	assert_int_equal(http_ev_head_end("\r\n\r\nG / HTTP/1.1\n\n", 18, 0), 18);
	/* A CR alone does not end a line. */
	assert_int_equal(http_ev_head_end("GET / HTTP/1.1\r\r\r\n", 18, 0), 0);

	/* Fed a byte at a time as evloop.c does (from: what it scanned, less
	 * the two bytes a terminator may have begun with): the end is found
	 * exactly when its last byte arrives, whatever the line ends. */
	static const char *const heads[] = {
		"GET /a HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n",
		"GET /a HTTP/1.1\nHost: x\n\n",
		"\r\n\r\nGET /a HTTP/1.1\nHost: x\r\n\n",
		"GET /a HTTP/1.1\r\n\r\n",
		"GET /a HTTP/1.1\n\r\n",
	};
	for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
		const char *p = heads[k];
		size_t n = strlen(p), scanned = 0, end = 0;
		for (size_t have = 1; have <= n && !end; have++) {
			end = http_ev_head_end(p, have, scanned > 2 ? scanned - 2 : 0);
			if (!end)
				scanned = have;
			else
				assert_int_equal(have, n);
		}
		if (end != n)
			fail_msg("head %zu: end %zu, want %zu", k, end, n);
		/* Any from up to the terminator's start gives the same end. */
		for (size_t from = 0; from + 3 < n; from++)
			assert_int_equal(http_ev_head_end(p, n, from), n);
	}
}

static void test_content_length(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 42\r\n\r\n", &h), 0);
	assert_int_equal(h.length, 42);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\ncontent-length:  0 \r\n\r\n", &h), 0);
	assert_int_equal(h.length, 0);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n", &h), 0);
	assert_int_equal(h.length, 7);
	/* Repeated: equal copies are one length, different ones a refusal. */
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 5\r\nCONTENT-LENGTH: 5\r\n\r\n",
			       &h), 0);
	assert_int_equal(h.length, 5);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
			       &h), -EINVAL);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 00\r\n\r\n",
			       &h), 0);
	/* Digits only: no sign, no list, no blank inside, not empty. */
	static const char *const bad[] = { "abc", "-1", "+1", "4 2", "5, 5", "5,5", "0x10", "1e3",
					   "", "5;", "\t" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char head[128];
		int n = snprintf(head, sizeof head, "POST / HTTP/1.1\r\nContent-Length: %s\r\n\r\n",
				 bad[i]);
		if (parse_n(head, (size_t)n, store, &h) != -EINVAL)
			fail_msg("Content-Length '%s' taken", bad[i]);
	}
	/* At most 18 digits: any 18 fit in int64, 19 are refused (even zeros). */
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 999999999999999999\r\n\r\n",
			       &h), 0);
	assert_int_equal(h.length, 999999999999999999LL);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 1000000000000000000\r\n\r\n",
			       &h), -EINVAL);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 0000000000000000001\r\n\r\n",
			       &h), -EINVAL);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
			       &h), -EINVAL);
}

static void test_transfer_encoding(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
	assert_true(h.chunked);
	assert_int_equal(h.length, -1);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\ntransfer-encoding:  ChUnKeD \r\n\r\n", &h), 0);
	assert_true(h.chunked);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nHost: x\r\n\r\n", &h), 0);
	assert_false(h.chunked);
	/* Codings this server does not decode: 501. */
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", &h), -ENOTSUP);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h),
			 -ENOTSUP);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
			       &h), -ENOTSUP);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n", &h), -ENOTSUP);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: chunkedx\r\n\r\n", &h),
			 -ENOTSUP);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", &h), -ENOTSUP);
	/* Both framings (a smuggling attempt): refused, in either order. */
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
			       "Content-Length: 3\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("POST / HTTP/1.1\r\nContent-Length: 3\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n", &h), -EINVAL);
}

static void test_head_refused(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	/* obs-fold (RFC 9112 5.2), also on the first field line */
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\n X: a\r\n\r\n", &h), -EINVAL);
	/* control bytes in a value; a tab inside is fine */
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\x7f" "b\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: a\tb\r\n\r\n", &h), 0);
	assert_string_equal(http_ev_header(&h, "x"), "a\tb");
	/* bytes >= 0x80 (obs-text) are allowed in values */
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", &h), 0);
	/* field names: tokens, no blank before the colon, not empty */
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX : a\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\n: a\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nNo colon\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nX(y): a\r\n\r\n", &h), -EINVAL);
	/* the request line */
	assert_int_equal(PARSE("GET  / HTTP/1.1\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE(" GET / HTTP/1.1\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET /\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1 \r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("G(T / HTTP/1.1\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET /a\x7f HTTP/1.1\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET /a\x01 HTTP/1.1\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET /a\tb HTTP/1.1\r\n\r\n", &h), -EINVAL);
	/* versions: another major is 505, anything else malformed */
	assert_int_equal(PARSE("GET / HTTP/2.0\r\n\r\n", &h), -EPROTONOSUPPORT);
	assert_int_equal(PARSE("GET / HTTP/0.9\r\n\r\n", &h), -EPROTONOSUPPORT);
	assert_int_equal(PARSE("GET / HTTP/1.2\r\n\r\n", &h), -EPROTONOSUPPORT);
	static const char *const bad[] = { "HTTP/1.1x", "HTTPS/1.1", "http/1.1", "HTTP/11",
					   "HTTP/1.", "HTTP/", "HTTP/1.1.1", "HTTP/a.b", "HTTP/22.0",
					   "FOO" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char head[64];
		int n = snprintf(head, sizeof head, "GET / %s\r\n\r\n", bad[i]);
		if (parse_n(head, (size_t)n, store, &h) != -EINVAL)
			fail_msg("version '%s' not refused as malformed", bad[i]);
	}
	/* not a whole head: no empty line, or nothing at all */
	assert_int_equal(PARSE("GET / HTTP/1.1\r\nA: b\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("GET / HTTP/1.1", &h), -EINVAL);
	assert_int_equal(PARSE("\r\n\r\n", &h), -EINVAL);
	assert_int_equal(PARSE("", &h), -EINVAL);
}

/* RFC 9110 5.5: a field value holding NUL must be refused (or the NUL
 * replaced by a space), never cut short there: another parser in front
 * of this one would read a different value. And a line that starts with
 * NUL is no empty line: the fields after it count (Content-Length!). */
static void test_head_nul(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	char taken[256] = "";
	size_t tl = 0;
	if (PARSE("POST / HTTP/1.1\r\nContent-Length: 1\0" "2\r\n\r\n", &h) == 0)
		tl += (size_t)snprintf(taken + tl, sizeof taken - tl,
				       " 'Content-Length: 1\\0" "2' (length %lld);", (long long)h.length);
	if (PARSE("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", &h) == 0)
		tl += (size_t)snprintf(taken + tl, sizeof taken - tl, " 'X: a\\0b' (value '%s');",
				       http_ev_header(&h, "x"));
	if (PARSE("GET / HTTP/1.1\0junk\r\n\r\n", &h) == 0)
		tl += (size_t)snprintf(taken + tl, sizeof taken - tl, " 'HTTP/1.1\\0junk';");
	if (PARSE("POST / HTTP/1.1\r\nHost: x\r\n\0\r\nContent-Length: 5\r\n\r\n", &h) == 0)
		snprintf(taken + tl, sizeof taken - tl,
			 " a line '\\0' then 'Content-Length: 5' (length %lld, %d fields);",
			 (long long)h.length, h.nh);
	if (*taken)
		fail_msg("NUL taken in:%s", taken);
}

static void test_header_count(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	buf b;
	buf_init(&b, STORE);
	buf_puts(&b, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_EV_HEADERS_MAX; i++)
		buf_printf(&b, "H%d: v%d\r\n", i, i);
	size_t body = b.len;
	buf_puts(&b, "\r\n");
	assert_int_equal(parse_n(b.data, b.len, store, &h), 0);
	assert_int_equal(h.nh, HTTP_EV_HEADERS_MAX);
	assert_string_equal(http_ev_header(&h, "h63"), "v63");
	b.len = body;
	buf_puts(&b, "One-More: x\r\n\r\n");
	assert_int_equal(parse_n(b.data, b.len, store, &h), -E2BIG);
	buf_release(&b);
}

static void test_keep_alive_expect(void **state)
{
	(void)state;
	char store[STORE];
	struct http_ev_head h;
	static const struct {
		const char *head;
		int keep;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: foo,close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nConnection: upgrade\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nconnection: Upgrade, Keep-Alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alived\r\n\r\n", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		head_ok(cases[i].head, store, &h);
		if (h.keep_alive != cases[i].keep)
			fail_msg("keep_alive %d for %s", h.keep_alive, cases[i].head);
	}
	head_ok("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", store, &h);
	assert_true(h.expect_continue);
	head_ok("POST / HTTP/1.1\r\nexpect:  100-Continue \r\n\r\n", store, &h);
	assert_true(h.expect_continue);
	head_ok("POST / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", store, &h);
	assert_false(h.expect_continue);
	head_ok("POST / HTTP/1.1\r\n\r\n", store, &h);
	assert_false(h.expect_continue);
}

/* Decodes the chunked body at in[0..n) fed step bytes at a time (0: all
 * at once) into out. 1 when it ended (*used: bytes through its last
 * CRLF), 0 when it wants more, or -EINVAL. */
static int dechunk(const char *in, size_t n, size_t step, buf *out, size_t *used)
{
	struct http_ev_chunked c = { 0 };
	size_t pos = 0;
	*used = 0;
	while (pos < n && !http_ev_chunked_done(&c)) {
		size_t avail = step && n - pos > step ? step : n - pos;
		size_t off = 0, len = 0;
		long k = http_ev_chunked(&c, in + pos, avail, &off, &len);
		if (k < 0)
			return (int)k;
		assert_true((size_t)k <= avail);
		assert_true(k > 0); /* not done: every call makes progress */
		if (len) {
			assert_true(off + len <= (size_t)k);
			buf_append(out, in + pos + off, len);
		}
		pos += (size_t)k;
	}
	*used = pos;
	return http_ev_chunked_done(&c);
}

/* in decodes to want (and ends at consumed; 0: at its end), fed whole and
 * in pieces of 1, 2, 3 and 7 bytes. */
static void chunked_ok(const char *in, size_t n, const char *want, size_t want_len,
		       size_t consumed)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7 };
	for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
		buf out;
		size_t used;
		buf_init(&out, 1 << 20);
		int rc = dechunk(in, n, steps[s], &out, &used);
		if (rc != 1)
			fail_msg("step %zu: %d for %.*s", steps[s], rc, (int)n, in);
		assert_int_equal(used, consumed ? consumed : n);
		assert_int_equal(out.len, want_len);
		assert_memory_equal(out.len ? out.data : "", want, want_len);
		buf_release(&out);
	}
}

#define CHUNKED_OK(lit, want) chunked_ok(lit, sizeof(lit) - 1, want, sizeof(want) - 1, 0)

static int chunked_rc(const char *in, size_t n, size_t step)
{
	buf out;
	size_t used;
	buf_init(&out, 1 << 20);
	int rc = dechunk(in, n, step, &out, &used);
	buf_release(&out);
	return rc;
}

/* Refused fed whole and fed a byte at a time. */
static void chunked_bad(const char *in)
{
	size_t n = strlen(in);
	if (chunked_rc(in, n, 0) != -EINVAL || chunked_rc(in, n, 1) != -EINVAL)
		fail_msg("malformed chunked body taken: %s", in);
}

static void test_chunked(void **state)
{
	(void)state;
	CHUNKED_OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
	CHUNKED_OK("5\nhello\n0\n\n", "hello");
	CHUNKED_OK("0\r\n\r\n", "");
	CHUNKED_OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
	CHUNKED_OK("00005\r\nhello\r\n000\r\n\r\n", "hello");
	/* extensions (ignored), also after blanks */
	CHUNKED_OK("5;name=val\r\nhello\r\n1 ; q=\"a b\"\r\n!\r\n0;last\r\n\r\n", "hello!");
	CHUNKED_OK("5\t;x\nhello\n0\n\n", "hello");
	/* trailers (ignored) */
	CHUNKED_OK("5\r\nhello\r\n0\r\nX-Sum: 1\r\nY: 2\r\n\r\n", "hello");
	CHUNKED_OK("3\nabc\n0\nT: v\n\n", "abc");
	/* data with CR, LF and NUL inside */
	CHUNKED_OK("4\r\n\r\n\0\n\r\n0\r\n\r\n", "\r\n\0\n");
	/* a pipelined request after the body is not part of it */
	static const char next[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
	chunked_ok(next, sizeof next - 1, "abc", 3, sizeof next - 1 - 18);
	/* 15 hex digits (60 bits) are the most */
	static const char fifteen[] = "00000000000000F\r\n0123456789abcde\r\n0\r\n\r\n";
	chunked_ok(fifteen, sizeof fifteen - 1, "0123456789abcde", 15, 0);

	/* incomplete: asks for more, whole or split */
	static const char *const part[] = { "", "5", "5\r", "5\r\nhel", "5\r\nhello", "5\r\nhello\r\n",
					    "0\r\n", "0\r\nX: y\r\n", "0\r\n\r" };
	for (size_t i = 0; i < sizeof part / sizeof part[0]; i++) {
		assert_int_equal(chunked_rc(part[i], strlen(part[i]), 0), 0);
		assert_int_equal(chunked_rc(part[i], strlen(part[i]), 1), 0);
	}

	/* malformed sizes and framing */
	chunked_bad("x\r\n");
	chunked_bad("\r\n");
	chunked_bad(";ext\r\n");
	chunked_bad("-5\r\nhello\r\n");
	chunked_bad("+5\r\nhello\r\n");
	chunked_bad("0x5\r\nhello\r\n");
	chunked_bad("5\rX");
	chunked_bad("5\r\nhelloX");
	chunked_bad("5\r\nhello\rX");
	chunked_bad("5\r\nhello\r\nzz\r\n");
	chunked_bad("5;a\x01" "b\r\nhello\r\n");
	/* too many hex digits, even zeros */
	chunked_bad("0000000000000001\r\nx\r\n");
	chunked_bad("1000000000000000\r\n");
	chunked_bad("FFFFFFFFFFFFFFFFFFFF\r\n");
}

/* The limit on what a chunk-size line's extension or the trailer section
 * may take (CH_META_MAX, 8192 bytes). */
static void test_chunked_meta(void **state)
{
	(void)state;
	buf in;
	buf_init(&in, 1 << 20);
	buf_puts(&in, "1;");
	for (int i = 0; i < 8300; i++)
		buf_puts(&in, "e");
	buf_puts(&in, "\r\nx\r\n0\r\n\r\n");
	assert_int_equal(chunked_rc(in.data, in.len, 0), -EINVAL);
	buf_reset(&in);
	buf_puts(&in, "1;");
	for (int i = 0; i < 4000; i++)
		buf_puts(&in, "e");
	buf_puts(&in, "\r\nx\r\n0\r\n\r\n");
	assert_int_equal(chunked_rc(in.data, in.len, 0), 1);
	buf_reset(&in);
	buf_puts(&in, "0\r\n");
	for (int i = 0; i < 1000; i++)
		buf_puts(&in, "X-Trailer: 1234\r\n");
	buf_puts(&in, "\r\n");
	assert_int_equal(chunked_rc(in.data, in.len, 0), -EINVAL);
	/* a few chunks with short extensions are fine */
	buf_reset(&in);
	for (int i = 0; i < 20; i++)
		buf_puts(&in, "2;chunk-signature=0123456789abcdef\r\nab\r\n");
	buf_puts(&in, "0\r\n\r\n");
	buf out;
	size_t used;
	buf_init(&out, 1 << 20);
	assert_int_equal(dechunk(in.data, in.len, 1, &out, &used), 1);
	assert_int_equal(out.len, 40);
	buf_release(&out);
	buf_release(&in);
}

static void unescape_is(const char *in, int plus, const char *want)
{
	char s[256];
	snprintf(s, sizeof s, "%s", in);
	http_ev_unescape(s, plus);
	if (strcmp(s, want) != 0)
		fail_msg("unescape('%s', %d) = '%s', want '%s'", in, plus, s, want);
}

static void test_unescape(void **state)
{
	(void)state;
	unescape_is("%41%42c", 0, "ABc");
	unescape_is("%4a%4A", 0, "JJ");
	unescape_is("%e2%82%AC", 0, "\xe2\x82\xac");
	unescape_is("%zz", 0, "%zz");
	unescape_is("%4g%g4", 0, "%4g%g4");
	unescape_is("100%", 0, "100%");
	unescape_is("%4", 0, "%4");
	unescape_is("%", 0, "%");
	unescape_is("%%41", 0, "%A");
	unescape_is("%2541", 0, "%41"); /* one pass only */
	unescape_is("a+b", 1, "a b");
	unescape_is("a+b", 0, "a+b");
	unescape_is("%2B+%20", 1, "+  ");
	unescape_is("", 1, "");
	char s[] = "a%00b";
	http_ev_unescape(s, 0);
	assert_int_equal(s[0], 'a');
	assert_int_equal(s[1], '\0');
}

/* ================= a live server ================= */

#define LATER_MS 150
#define ECHO_MAX 64
#define BIG_LEN ((size_t)8 << 20)

static void h_now(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_json(r, 200, json_pack("{s:s}", "when", "now"));
}

static void h_q(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_json(r, 200, json_pack("{s:s?}", "x", http_req_query(r, "x")));
}

static void h_echo(http_req *r, void *ctx)
{
	(void)ctx;
	size_t n;
	http_req_body(r, &n);
	http_reply_json(r, 200, json_pack("{s:I}", "len", (json_int_t)n));
}

static void h_empty(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_data(r, 204, NULL, NULL, 0);
}

static void h_big(http_req *r, void *ctx)
{
	(void)ctx;
	char *d = xmalloc(BIG_LEN);
	memset(d, 'b', BIG_LEN);
	http_reply_data(r, 200, "application/octet-stream", d, BIG_LEN);
}

static void later_hook(void *arg)
{
	(void)arg;
}

/* What http_req_at_turn_end answered off the loop's thread. */
static int later_turn_rc;

static void *later_main(void *arg)
{
	http_req *r = arg;
	struct timespec ts = { 0, LATER_MS * 1000000L };
	nanosleep(&ts, NULL);
	later_turn_rc = http_req_at_turn_end(r, later_hook, NULL);
	http_reply_json(r, 200, json_pack("{s:s}", "when", "later"));
	http_req_resume(r);
	return NULL;
}

static void h_later(http_req *r, void *ctx)
{
	(void)ctx;
	pthread_t t;
	http_req_defer(r);
	/* on the loop's thread: no cmocka assert (it would jump across threads) */
	if (pthread_create(&t, NULL, later_main, r))
		abort();
	pthread_detach(t);
}

/* Requests of the turn, answered together by turn_hook (only the loop's
 * thread touches these: the tests use one loop thread). */
#define TURN_MAX 64
static http_req *turn_reqs[TURN_MAX];
static int turn_n, turn_runs, turn_empty_runs;

static void turn_hook(void *arg)
{
	(void)arg;
	turn_runs++;
	if (!turn_n)
		turn_empty_runs++;
	for (int i = 0; i < turn_n; i++) {
		http_reply_json(turn_reqs[i], 200, json_pack("{s:i}", "turn", turn_n));
		http_req_resume(turn_reqs[i]);
	}
	turn_n = 0;
}

static void noop_hook(void *arg)
{
	(void)arg;
}

/* Answered at the end of the loop's turn, by a hook registered twice; on a
 * server without turns, at once. */
static void h_turn(http_req *r, void *ctx)
{
	(void)ctx;
	http_req_defer(r);
	int rc = http_req_at_turn_end(r, turn_hook, NULL);
	if (rc || turn_n == TURN_MAX || http_req_at_turn_end(r, turn_hook, NULL)) {
		http_reply_json(r, 200, json_pack("{s:s}", "turn", rc == -ENOTSUP ? "none" : "error"));
		http_req_resume(r);
		return;
	}
	turn_reqs[turn_n++] = r;
}

/* Registers hooks until refused: answers how many were taken. */
static void h_hooks(http_req *r, void *ctx)
{
	(void)ctx;
	static char args[64];
	int n = 0;
	while (n < 64 && http_req_at_turn_end(r, noop_hook, &args[n]) == 0)
		n++;
	int again = http_req_at_turn_end(r, noop_hook, &args[0]);
	http_reply_json(r, 200, json_pack("{s:i,s:i}", "hooks", n, "again", again));
}

static const http_route routes[] = {
	{ "POST", "/turn", h_turn, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "GET", "/hooks", h_hooks, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "GET", "/now", h_now, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "GET", "/q", h_q, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "POST", "/later", h_later, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "POST", "/echo", h_echo, HTTP_PUBLIC | HTTP_LAZY_JSON, 0, NULL, ECHO_MAX, NULL },
	{ "GET", "/big", h_big, HTTP_PUBLIC, 0, NULL, 0, NULL },
	{ "GET", "/empty", h_empty, HTTP_PUBLIC, 0, NULL, 0, NULL },
};

static http_server *start(unsigned threads, unsigned per_ip, unsigned header_timeout_s)
{
	http_config cfg = { .listen = "127.0.0.1:0", .event_threads = threads,
			    .max_conns_per_ip = per_ip, .header_timeout_s = header_timeout_s };
	http_hooks hooks = { NULL, NULL };
	http_server *s = NULL;
	char err[256];
	if (http_server_start(&cfg, routes, sizeof routes / sizeof routes[0], &hooks, NULL, NULL,
			      &s, err, sizeof err))
		fail_msg("server: %s", err);
	return s;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A client connection and the bytes it has read but not yet taken. */
struct cli {
	int fd;
	buf in;
};

static void cli_open(struct cli *c, unsigned port)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(c->fd, (struct sockaddr *)&a, sizeof a), 0);
	/* A server that never answers fails the test, not hangs it. */
	struct timeval tv = { 5, 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	buf_init(&c->in, (size_t)64 << 20);
}

static void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_release(&c->in);
}

static void cli_send(struct cli *c, const char *p, size_t n)
{
	assert_true(send(c->fd, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static void cli_puts(struct cli *c, const char *s)
{
	cli_send(c, s, strlen(s));
}

/* Reads more: the count, 0 at the end, -1 on a reset or after 5 s. */
static ssize_t cli_fill(struct cli *c)
{
	char b[65536];
	ssize_t k = recv(c->fd, b, sizeof b, 0);
	if (k > 0)
		buf_append(&c->in, b, (size_t)k);
	return k;
}

static void cli_take(struct cli *c, size_t n)
{
	memmove(c->in.data, c->in.data + n, c->in.len - n);
	c->in.len -= n;
}

struct reply {
	int status;
	char head[4096];
	char *body; /* NUL-terminated */
	size_t len;
	int close;  /* Connection: close */
	int has_cl; /* a Content-Length field came */
};

/* The value of field name in r's head, copied into out ("" when absent). */
static const char *reply_header(const struct reply *r, const char *name, char *out, size_t n)
{
	char key[128];
	snprintf(key, sizeof key, "\r\n%s:", name);
	const char *p = strcasestr(r->head, key);
	out[0] = '\0';
	if (!p)
		return NULL;
	p += strlen(key);
	p += strspn(p, " ");
	size_t l = strcspn(p, "\r");
	snprintf(out, n, "%.*s", (int)l, p);
	return out;
}

/* Reads one whole reply: its head, then Content-Length bytes of body (none
 * for a reply to HEAD). 0, or -1 when the connection ended first. */
static int read_reply(struct cli *c, int head_only, struct reply *r)
{
	memset(r, 0, sizeof *r);
	char *end = NULL;
	while (!c->in.len || !(end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4)))
		if (cli_fill(c) <= 0)
			return -1;
	size_t hl = (size_t)(end - c->in.data) + 4;
	assert_true(hl < sizeof r->head);
	memcpy(r->head, c->in.data, hl);
	r->head[hl] = '\0';
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		fail_msg("not a status line: %s", r->head);
	char v[64];
	unsigned long long cl = 0;
	r->has_cl = reply_header(r, "Content-Length", v, sizeof v) != NULL;
	if (r->has_cl) {
		char *e;
		cl = strtoull(v, &e, 10);
		assert_true(*v && !*e);
	} else if (r->status != 204 && r->status != 304) {
		fail_msg("no Content-Length: %s", r->head);
	}
	if (!reply_header(r, "Date", v, sizeof v))
		fail_msg("no Date: %s", r->head);
	r->close = reply_header(r, "Connection", v, sizeof v) && strcasecmp(v, "close") == 0;
	cli_take(c, hl);
	size_t want = head_only ? 0 : (size_t)cl;
	r->len = head_only ? (size_t)cl : want;
	while (c->in.len < want)
		if (cli_fill(c) <= 0)
			return -1;
	r->body = malloc(want + 1);
	assert_non_null(r->body);
	if (want)
		memcpy(r->body, c->in.data, want);
	r->body[want] = '\0';
	cli_take(c, want);
	return 0;
}

static void reply_release(struct reply *r)
{
	free(r->body);
	r->body = NULL;
}

/* One reply of status whose body holds want. */
static void expect_reply(struct cli *c, int status, const char *want)
{
	struct reply r;
	if (read_reply(c, 0, &r))
		fail_msg("no reply (want %d %s); read: %.*s", status, want, (int)c->in.len,
			 c->in.data ? c->in.data : "");
	if (r.status != status || !strstr(r.body, want))
		fail_msg("want %d with %s; got %s%s", status, want, r.head, r.body);
	reply_release(&r);
}

/* 1 when the server ends the connection (EOF or reset) within ms with no
 * byte (besides what is already read); 0 when it is still open. */
static int closes_within(struct cli *c, int ms)
{
	if (c->in.len)
		fail_msg("unexpected bytes: %.*s", (int)c->in.len, c->in.data);
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (poll(&p, 1, ms) <= 0)
		return 0;
	char b[256];
	ssize_t k = recv(c->fd, b, sizeof b, MSG_DONTWAIT);
	if (k > 0)
		fail_msg("unexpected bytes: %.*s", (int)k, b);
	return k == 0 || errno == ECONNRESET;
}

/* An error reply: status, the JSON envelope with code, and the close. */
static void expect_error(struct cli *c, int status, const char *code, int closes)
{
	struct reply r;
	if (read_reply(c, 0, &r))
		fail_msg("no %d reply", status);
	if (r.status != status)
		fail_msg("want %d, got %s%s", status, r.head, r.body);
	char ct[64];
	reply_header(&r, "Content-Type", ct, sizeof ct);
	assert_string_equal(ct, "application/json");
	json_error_t je;
	json_t *j = json_loads(r.body, 0, &je);
	const char *got = NULL, *msg = NULL;
	if (!j || json_unpack(j, "{s:{s:s,s:s}}", "error", "code", &got, "message", &msg) ||
	    strcmp(got, code) != 0 || !*msg)
		fail_msg("want error %s; got %s", code, r.body);
	json_decref(j);
	assert_int_equal(r.close, closes);
	if (closes && !closes_within(c, 2000))
		fail_msg("%d %s: connection left open", status, code);
	reply_release(&r);
}

#define GET_NOW "GET /now HTTP/1.1\r\nHost: x\r\n\r\n"

static void test_live_keep_alive(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	for (int i = 0; i < 3; i++) {
		cli_puts(&c, GET_NOW);
		struct reply r;
		assert_int_equal(read_reply(&c, 0, &r), 0);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, "\"now\""));
		assert_false(r.close);
		char v[128];
		assert_non_null(reply_header(&r, "X-Request-Id", v, sizeof v));
		assert_true(strlen(v) > 0);
		reply_release(&r);
	}
	/* A keep-alive connection stays open after its reply. */
	assert_false(closes_within(&c, 100));
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_live_pipeline(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	/* Three requests in one segment: three replies, in order. */
	cli_puts(&c, "GET /q?x=one HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /q?x=two%20%2B+3 HTTP/1.1\r\nHost: x\r\n\r\n"
		     "GET /q?x=three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	expect_reply(&c, 200, "\"one\"");
	expect_reply(&c, 200, "\"two + 3\"");
	struct reply r;
	assert_int_equal(read_reply(&c, 0, &r), 0);
	assert_non_null(strstr(r.body, "\"three\""));
	assert_true(r.close);
	reply_release(&r);
	assert_true(closes_within(&c, 2000));
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* A deferred request, resumed on another thread, with the next request
 * already in the buffer: it waits, then is answered, in order. */
static void test_live_defer_pipeline(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	double t0 = now_s();
	cli_puts(&c, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
		     "GET /q?x=after HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_reply(&c, 200, "\"later\"");
	assert_true(now_s() - t0 >= LATER_MS / 1000.0 * 0.9);
	assert_int_equal(later_turn_rc, -ENOTSUP); /* another thread has no turn */
	expect_reply(&c, 200, "\"after\"");
	/* and once more on the same connection */
	cli_puts(&c, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" GET_NOW);
	expect_reply(&c, 200, "\"later\"");
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* Many requests in one go (more than the read buffer holds at once):
 * every one answered, in order. */
static void test_live_pipeline_many(void **state)
{
	(void)state;
	enum { N = 3000 };
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	buf b;
	buf_init(&b, 1 << 20);
	for (int i = 0; i < N; i++)
		buf_puts(&b, i % 2 ? "GET /now HTTP/1.1\n\n" : "GET /q?x=y HTTP/1.1\r\n\r\n");
	cli_send(&c, b.data, b.len);
	buf_release(&b);
	for (int i = 0; i < N; i++) {
		struct reply r;
		if (read_reply(&c, 0, &r))
			fail_msg("reply %d of %d missing", i, N);
		assert_int_equal(r.status, 200);
		assert_non_null(strstr(r.body, i % 2 ? "\"now\"" : "\"y\""));
		reply_release(&r);
	}
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* Sends s a byte at a time, each in its own segment. */
static void send_bytewise(struct cli *c, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cli_send(c, s + i, 1);
		sleep_ms(1);
	}
}

static void test_live_chunked_bytewise(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
				   "Content-Type: application/json\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n";
	static const char body[] = "4\r\n{\"a\"\r\n4;ext=1\r\n:12}\r\n0\r\nX-T: 1\r\n\r\n";
	send_bytewise(&c, head, sizeof head - 1);
	send_bytewise(&c, body, sizeof body - 1);
	expect_reply(&c, 200, "{\"len\":8}");
	/* The body ended where it should: the next request is read right. */
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	/* A Content-Length body a byte at a time, then a malformed chunk. */
	static const char cl[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
				 "Content-Length: 11\r\n\r\n{\"ab\":1234}";
	send_bytewise(&c, cl, sizeof cl - 1);
	expect_reply(&c, 200, "{\"len\":11}");
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
	expect_error(&c, 400, "bad_request", 1);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_live_expect_continue(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Expect: 100-continue\r\nContent-Length: 8\r\n\r\n");
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	while (c.in.len < sizeof cont - 1)
		if (cli_fill(&c) <= 0)
			fail_msg("no 100 Continue; read: %.*s", (int)c.in.len, c.in.data);
	assert_memory_equal(c.in.data, cont, sizeof cont - 1);
	cli_take(&c, sizeof cont - 1);
	cli_puts(&c, "{\"a\":12}");
	expect_reply(&c, 200, "{\"len\":8}");
	/* Chunked with Expect: the same. */
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n");
	while (c.in.len < sizeof cont - 1)
		if (cli_fill(&c) <= 0)
			fail_msg("no 100 Continue (chunked)");
	assert_memory_equal(c.in.data, cont, sizeof cont - 1);
	cli_take(&c, sizeof cont - 1);
	cli_puts(&c, "2\r\n{}\r\n0\r\n\r\n");
	expect_reply(&c, 200, "{\"len\":2}");
	/* No body, no 100. */
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		     "Content-Length: 0\r\n\r\n");
	expect_reply(&c, 200, "{\"len\":0}");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* RFC 9110 10.1.1: a server ignores the 100-continue of an HTTP/1.0
 * request (a 1.0 client may take the 100 for the answer). */
static void test_live_expect_http10(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "POST /echo HTTP/1.0\r\nContent-Type: application/json\r\n"
		     "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n");
	struct pollfd p = { .fd = c.fd, .events = POLLIN };
	int early = poll(&p, 1, 200) > 0 && cli_fill(&c) > 0;
	if (early) {
		char got[64];
		snprintf(got, sizeof got, "%.*s", (int)(c.in.len < 40 ? c.in.len : 40), c.in.data);
		cli_close(&c);
		assert_int_equal(http_server_stop(&s, 5000), 0);
		fail_msg("an HTTP/1.0 request with Expect got, before its body: %s", got);
	}
	cli_puts(&c, "{}");
	expect_reply(&c, 200, "{\"len\":2}");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_live_too_large(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	unsigned port = http_server_port(s);
	char body[ECHO_MAX + 37], head[256];
	memset(body, 'x', sizeof body);
	snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n", sizeof body);
	/* Without Expect: the body is read (and dropped), then 413; the
	 * connection goes on. */
	struct cli c;
	cli_open(&c, port);
	cli_puts(&c, head);
	cli_send(&c, body, sizeof body);
	expect_error(&c, 413, "too_large", 0);
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	/* Chunked past body_max: 413 once the body has ended. */
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 4; i++)
		cli_puts(&c, "20\r\n01234567890123456789012345678901\r\n");
	cli_puts(&c, "0\r\n\r\n");
	expect_error(&c, 413, "too_large", 0);
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	/* With Expect: 413 at once, no 100 and no body byte needed; then
	 * the connection closes. */
	cli_open(&c, port);
	snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		 "Expect: 100-continue\r\nContent-Length: %zu\r\n\r\n", sizeof body);
	cli_puts(&c, head);
	expect_error(&c, 413, "too_large", 1);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* Each of these heads is answered with an error envelope, then the close. */
static void test_live_bad_heads(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	unsigned port = http_server_port(s);
	static const struct {
		const char *req;
		int status;
		const char *code;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, "bad_request" },
		{ "GET /now HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400, "bad_request" },
		{ "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
		  "bad_request" },
		{ "POST /echo HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
		  400, "bad_request" },
		{ "POST /echo HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented" },
		{ "GET /now HTTP/2.0\r\n\r\n", 505, "http_version" },
		{ "GET /now FTP/1.0\r\n\r\n", 400, "bad_request" },
		{ "\x16\x03\x01\x02\xfc\x03\x03\r\n\r\n", 400, "bad_request" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct cli c;
		cli_open(&c, port);
		cli_puts(&c, cases[i].req);
		expect_error(&c, cases[i].status, cases[i].code, 1);
		cli_close(&c);
	}
	/* More than HTTP_EV_HEADERS_MAX fields: 431. */
	buf b;
	buf_init(&b, 1 << 16);
	buf_puts(&b, "GET /now HTTP/1.1\r\n");
	for (int i = 0; i <= HTTP_EV_HEADERS_MAX; i++)
		buf_printf(&b, "H%d: v\r\n", i);
	buf_puts(&b, "\r\n");
	struct cli c;
	cli_open(&c, port);
	cli_send(&c, b.data, b.len);
	expect_error(&c, 431, "headers_too_large", 1);
	cli_close(&c);
	buf_release(&b);
	/* A bad head after a good one on the same connection: the good one is
	 * answered, then the error. */
	cli_open(&c, port);
	cli_puts(&c, GET_NOW "GET / HTTP/1.1\r\nBad\r\n\r\n");
	expect_reply(&c, 200, "\"now\"");
	expect_error(&c, 400, "bad_request", 1);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* A line that starts with NUL inside a head: refused, not taken for the
 * head's end (which would leave the fields after it, and the body they
 * frame, to be read as the next request). */
static void test_live_nul_line(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	static const char req[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
				  "\0\r\nContent-Length: 30\r\n\r\n"
				  "GET /q?x=smuggled HTTP/1.1\r\n\r\n";
	cli_send(&c, req, sizeof req - 1);
	struct reply r;
	assert_int_equal(read_reply(&c, 0, &r), 0);
	int status = r.status;
	char body[256];
	snprintf(body, sizeof body, "%s", r.body);
	reply_release(&r);
	if (status != 400) {
		int more = read_reply(&c, 0, &r) == 0;
		if (more) {
			snprintf(body + strlen(body), sizeof body - strlen(body), " then %d %s", r.status,
				 r.body);
			reply_release(&r);
		}
		cli_close(&c);
		assert_int_equal(http_server_stop(&s, 5000), 0);
		fail_msg("a NUL line in a head: got %d %s", status, body);
	}
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* A head over 32 KiB: 431, then the close. A head just under it is served. */
static void test_live_long_head(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	unsigned port = http_server_port(s);
	buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "GET /now HTTP/1.1\r\nX-Long: ");
	while (b.len < 33000)
		buf_puts(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	struct cli c;
	cli_open(&c, port);
	cli_send(&c, b.data, b.len);
	expect_error(&c, 431, "headers_too_large", 1);
	cli_close(&c);
	buf_reset(&b);
	buf_puts(&b, "GET /now HTTP/1.1\r\nX-Long: ");
	while (b.len < 32000)
		buf_puts(&b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	buf_puts(&b, "\r\n\r\n");
	cli_open(&c, port);
	cli_send(&c, b.data, b.len);
	expect_reply(&c, 200, "\"now\"");
	/* and a short one after it on the same connection */
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	buf_release(&b);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* Two pipelined requests whose heads are each over the 16 KiB the read
 * buffer starts with (and under the 32 KiB a head may take): both are
 * answered. The header timeout is short so that a stall fails fast. */
static void test_live_long_heads_pipelined(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 1);
	buf b;
	buf_init(&b, 1 << 20);
	for (int k = 0; k < 2; k++) {
		size_t start = b.len;
		buf_printf(&b, "GET /q?x=%d HTTP/1.1\r\nHost: x\r\nX-Pad: ", k);
		while (b.len - start < 20000)
			buf_puts(&b, "pppppppppppppppppppppppppppppppppppppppppppppppp");
		buf_puts(&b, "\r\n\r\n");
	}
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_send(&c, b.data, b.len);
	expect_reply(&c, 200, "\"0\"");
	expect_reply(&c, 200, "\"1\"");
	cli_close(&c);
	buf_release(&b);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_live_http10(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	unsigned port = http_server_port(s);
	struct cli c;
	cli_open(&c, port);
	cli_puts(&c, "GET /now HTTP/1.0\r\n\r\n");
	struct reply r;
	assert_int_equal(read_reply(&c, 0, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.close);
	reply_release(&r);
	assert_true(closes_within(&c, 2000));
	cli_close(&c);
	/* 1.0 with keep-alive: the connection stays. */
	cli_open(&c, port);
	for (int i = 0; i < 2; i++) {
		cli_puts(&c, "GET /now HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
		assert_int_equal(read_reply(&c, 0, &r), 0);
		assert_int_equal(r.status, 200);
		assert_false(r.close);
		reply_release(&r);
	}
	cli_close(&c);
	/* 1.1 with Connection: close */
	cli_open(&c, port);
	cli_puts(&c, "GET /now HTTP/1.1\r\nConnection: close\r\n\r\n");
	assert_int_equal(read_reply(&c, 0, &r), 0);
	assert_true(r.close);
	reply_release(&r);
	assert_true(closes_within(&c, 2000));
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* HEAD: the GET's headers (its Content-Length too), no body: the next
 * reply follows the head directly. */
static void test_live_head(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "HEAD /now HTTP/1.1\r\nHost: x\r\n\r\n" GET_NOW);
	struct reply h, g;
	assert_int_equal(read_reply(&c, 1, &h), 0);
	assert_int_equal(h.status, 200);
	assert_int_equal(read_reply(&c, 0, &g), 0);
	assert_int_equal(g.status, 200);
	assert_int_equal(h.len, g.len);
	assert_non_null(strstr(g.body, "\"now\""));
	reply_release(&h);
	reply_release(&g);
	/* HEAD of an unknown path: 404 headers only. */
	cli_puts(&c, "HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n" GET_NOW);
	assert_int_equal(read_reply(&c, 1, &h), 0);
	assert_int_equal(h.status, 404);
	assert_true(h.len > 0);
	reply_release(&h);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static void test_live_not_found(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_error(&c, 404, "not_found", 0);
	cli_puts(&c, "DELETE /now HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_error(&c, 405, "method_not_allowed", 0);
	/* a request target that is not UTF-8: refused before routing, closed */
	cli_puts(&c, "GET /now%ff HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_error(&c, 400, "bad_target", 1);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* RFC 9110 8.6: no Content-Length on a 204 (the ingest routes' answer). */
static void test_live_no_content(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n" GET_NOW);
	struct reply r;
	assert_int_equal(read_reply(&c, 0, &r), 0);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.len, 0);
	int has_cl = r.has_cl;
	reply_release(&r);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
	if (has_cl)
		fail_msg("a 204 reply carries Content-Length");
}

/* A client that shuts its side after a whole request still gets its
 * answer: at once, or deferred. */
static void test_live_half_close(void **state)
{
	(void)state;
	http_server *s = start(2, 0, 0);
	unsigned port = http_server_port(s);
	static const char *const reqs[] = {
		GET_NOW,
		"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		"Content-Length: 2\r\n\r\n{}",
	};
	static const char *const want[] = { "\"now\"", "\"later\"", "{\"len\":2}" };
	for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
		struct cli c;
		cli_open(&c, port);
		cli_puts(&c, reqs[i]);
		shutdown(c.fd, SHUT_WR);
		expect_reply(&c, 200, want[i]);
		assert_true(closes_within(&c, 2000));
		cli_close(&c);
	}
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* The same with a reply larger than the socket takes at once, read by a
 * client that is slow to start reading. */
static void test_live_half_close_big(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n");
	shutdown(c.fd, SHUT_WR);
	sleep_ms(300);
	struct reply r;
	if (read_reply(&c, 0, &r)) {
		size_t got = c.in.len;
		cli_close(&c);
		assert_int_equal(http_server_stop(&s, 5000), 0);
		fail_msg("a half-closed client got %zu bytes of an %zu-byte reply", got, BIG_LEN);
	}
	assert_int_equal(r.status, 200);
	assert_int_equal(r.len, BIG_LEN);
	reply_release(&r);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* The same with more pipelined requests behind a deferred one than the
 * read buffer holds: the loop stops reading meanwhile, and the client's
 * half-close must not cost it the answers. */
static void test_live_half_close_pipelined(void **state)
{
	(void)state;
	enum { N = 1200 };
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	for (int i = 0; i < N; i++)
		buf_puts(&b, "GET /now HTTP/1.1\n\n");
	cli_send(&c, b.data, b.len);
	buf_release(&b);
	sleep_ms(50); /* the loop has read what fits, and stopped */
	shutdown(c.fd, SHUT_WR);
	int got = 0;
	struct reply r;
	while (got <= N && read_reply(&c, 0, &r) == 0) {
		reply_release(&r);
		got++;
	}
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
	if (got != N + 1)
		fail_msg("a half-closed client got %d of %d answers", got, N + 1);
}

/* max_conns_per_ip 3: a 4th connection is closed without a reply, and a
 * slot comes back once one of the three has gone. */
static void test_live_per_ip(void **state)
{
	(void)state;
	http_server *s = start(1, 3, 0);
	unsigned port = http_server_port(s);
	struct cli c[4];
	for (int i = 0; i < 3; i++) {
		cli_open(&c[i], port);
		cli_puts(&c[i], GET_NOW);
		expect_reply(&c[i], 200, "\"now\"");
	}
	cli_open(&c[3], port);
	send(c[3].fd, GET_NOW, strlen(GET_NOW), MSG_NOSIGNAL);
	assert_true(closes_within(&c[3], 2000));
	cli_close(&c[3]);
	for (int i = 0; i < 3; i++) {
		cli_puts(&c[i], GET_NOW);
		expect_reply(&c[i], 200, "\"now\"");
	}
	cli_close(&c[0]);
	int served = 0;
	for (int tries = 0; tries < 20 && !served; tries++) {
		sleep_ms(50);
		cli_open(&c[3], port);
		struct reply r;
		served = send(c[3].fd, GET_NOW, strlen(GET_NOW), MSG_NOSIGNAL) > 0 &&
			 read_reply(&c[3], 0, &r) == 0;
		if (served) {
			assert_int_equal(r.status, 200);
			reply_release(&r);
		}
		cli_close(&c[3]);
	}
	assert_true(served);
	cli_close(&c[1]);
	cli_close(&c[2]);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

/* header_timeout_s 1: half a head is closed within about 1-2.5 s
 * (checked once a second), without a reply. */
static void test_live_header_timeout(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 1);
	struct cli c;
	cli_open(&c, http_server_port(s));
	double t0 = now_s();
	cli_puts(&c, "GET /now HTTP/1.1\r\nHost: x\r\n");
	int closed = closes_within(&c, 4000);
	double took = now_s() - t0;
	if (!closed || took < 0.9 || took > 3.2)
		fail_msg("half a head: closed %d after %.2f s", closed, took);
	cli_close(&c);
	/* The wait for the next head starts after a reply: a client that is
	 * served and then idles is closed the same way. */
	cli_open(&c, http_server_port(s));
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	t0 = now_s();
	closed = closes_within(&c, 4000);
	took = now_s() - t0;
	if (!closed || took < 0.9 || took > 3.2)
		fail_msg("idle keep-alive: closed %d after %.2f s", closed, took);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

static http_server *start_cfg(http_config *cfg, char *err, size_t errlen)
{
	http_hooks hooks = { NULL, NULL };
	http_server *s = NULL;
	if (http_server_start(cfg, routes, sizeof routes / sizeof routes[0], &hooks, NULL, NULL, &s,
			      err, errlen))
		return NULL;
	return s;
}

/* A client that leaves while its request waits for the deferred reply:
 * the reply finds the connection gone, and the server is idle after. */
static void test_live_gone_while_waiting(void **state)
{
	(void)state;
	http_server *s = start(1, 0, 0);
	struct cli c;
	cli_open(&c, http_server_port(s));
	cli_puts(&c, "POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	sleep_ms(20);
	cli_close(&c);
	sleep_ms(LATER_MS + 150);
	cli_open(&c, http_server_port(s));
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 2000), 0);
}

/* A body that stops coming is closed after the idle timeout (1 s here). */
static void test_live_body_stall(void **state)
{
	(void)state;
	char err[256];
	http_config cfg = { .listen = "127.0.0.1:0", .event_threads = 1, .timeout_s = 1 };
	http_server *s = start_cfg(&cfg, err, sizeof err);
	assert_non_null(s);
	struct cli c;
	cli_open(&c, http_server_port(s));
	double t0 = now_s();
	cli_puts(&c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
		     "Content-Length: 10\r\n\r\n{\"");
	int closed = closes_within(&c, 4000);
	double took = now_s() - t0;
	if (!closed || took < 0.9 || took > 3.2)
		fail_msg("stalled body: closed %d after %.2f s", closed, took);
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 2000), 0);
}

/* IPv6: the client's address is taken from an AF_INET6 peer. Skipped
 * where the host has no ::1. */
static void test_live_ipv6(void **state)
{
	(void)state;
	char err[256];
	http_config cfg = { .listen = "[::1]:0", .event_threads = 2 };
	http_server *s = start_cfg(&cfg, err, sizeof err);
	if (!s)
		skip();
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)http_server_port(s)) };
	a.sin6_addr = in6addr_loopback;
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	struct cli c = { .fd = fd };
	struct timeval tv = { 5, 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	buf_init(&c.in, (size_t)1 << 20);
	cli_puts(&c, GET_NOW);
	expect_reply(&c, 200, "\"now\"");
	cli_close(&c);
	assert_int_equal(http_server_stop(&s, 2000), 0);
}

/* A port held by another socket: the start fails and says why. A socket
 * handed over (listen_fd) is served by every loop, and closed at stop. */
static void test_live_listen_fd(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t al = sizeof a;
	getsockname(fd, (struct sockaddr *)&a, &al);
	unsigned port = ntohs(a.sin_port);
	char listen_at[64], err[256] = "";
	snprintf(listen_at, sizeof listen_at, "127.0.0.1:%u", port);
	http_config busy = { .listen = listen_at, .event_threads = 1 };
	assert_null(start_cfg(&busy, err, sizeof err));
	if (!strstr(err, "cannot listen"))
		fail_msg("a busy port: %s", err);
	http_config cfg = { .listen = listen_at, .event_threads = 2, .listen_fd = fd };
	http_server *s = start_cfg(&cfg, err, sizeof err);
	assert_non_null(s);
	assert_int_equal(http_server_port(s), port);
	for (int i = 0; i < 4; i++) {
		struct cli c;
		cli_open(&c, port);
		cli_puts(&c, GET_NOW);
		expect_reply(&c, 200, "\"now\"");
		cli_close(&c);
	}
	assert_int_equal(http_server_stop(&s, 2000), 0);
	assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed by the server */
}

#define POST_TURN "POST /turn HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"

/* Hooks at the end of a turn: every request they resume is answered, a
 * hook registered twice runs once, a pipelined request that registers one
 * while its predecessor is answered is not left for the next event, and a
 * turn holds a bounded number of hooks. */
static void test_live_turn_end(void **state)
{
	(void)state;
	enum { C = 8 };
	http_server *s = start(1, 0, 0);
	struct cli c[C];
	turn_n = turn_runs = turn_empty_runs = 0;
	for (int i = 0; i < C; i++)
		cli_open(&c[i], http_server_port(s));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < C; i++)
			cli_puts(&c[i], POST_TURN);
		for (int i = 0; i < C; i++)
			expect_reply(&c[i], 200, "\"turn\"");
	}
	/* two pipelined: the second is taken while the first is answered */
	double t0 = now_s();
	cli_puts(&c[0], POST_TURN POST_TURN);
	expect_reply(&c[0], 200, "{\"turn\":1}");
	expect_reply(&c[0], 200, "{\"turn\":1}");
	assert_true(now_s() - t0 < 0.3); /* the loop's wait is 500 ms */
	assert_true(turn_runs >= 4);
	assert_int_equal(turn_empty_runs, 0);
	cli_puts(&c[1], "GET /hooks HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_reply(&c[1], 200, "{\"hooks\":8,\"again\":0}");
	for (int i = 0; i < C; i++)
		cli_close(&c[i]);
	assert_int_equal(http_server_stop(&s, 5000), 0);
	/* a thread per connection has no turns */
	s = start(0, 0, 0);
	cli_open(&c[0], http_server_port(s));
	cli_puts(&c[0], POST_TURN);
	expect_reply(&c[0], 200, "{\"turn\":\"none\"}");
	cli_close(&c[0]);
	assert_int_equal(http_server_stop(&s, 5000), 0);
}

int main(void)
{
	log_setup("error", NULL);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_basic),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_head_refused),
		cmocka_unit_test(test_head_nul),
		cmocka_unit_test(test_header_count),
		cmocka_unit_test(test_keep_alive_expect),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_meta),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_live_keep_alive),
		cmocka_unit_test(test_live_pipeline),
		cmocka_unit_test(test_live_pipeline_many),
		cmocka_unit_test(test_live_defer_pipeline),
		cmocka_unit_test(test_live_turn_end),
		cmocka_unit_test(test_live_chunked_bytewise),
		cmocka_unit_test(test_live_expect_continue),
		cmocka_unit_test(test_live_expect_http10),
		cmocka_unit_test(test_live_too_large),
		cmocka_unit_test(test_live_bad_heads),
		cmocka_unit_test(test_live_nul_line),
		cmocka_unit_test(test_live_long_head),
		cmocka_unit_test(test_live_long_heads_pipelined),
		cmocka_unit_test(test_live_http10),
		cmocka_unit_test(test_live_head),
		cmocka_unit_test(test_live_not_found),
		cmocka_unit_test(test_live_no_content),
		cmocka_unit_test(test_live_half_close),
		cmocka_unit_test(test_live_half_close_big),
		cmocka_unit_test(test_live_half_close_pipelined),
		cmocka_unit_test(test_live_per_ip),
		cmocka_unit_test(test_live_header_timeout),
		cmocka_unit_test(test_live_gone_while_waiting),
		cmocka_unit_test(test_live_body_stall),
		cmocka_unit_test(test_live_ipv6),
		cmocka_unit_test(test_live_listen_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
