/* libFuzzer target: the event loop's parsers (http/ev_parse.c). Byte 0
 * seeds the splits and picks '+' decoding; the rest is what a client sent:
 * a request head, then a chunked body.
 * Invariants: the end of the head is found at the same byte however the
 * bytes arrive; what parses has an end and parses the same without what
 * follows it; a parsed head's strings lie inside the buffer and hold what
 * the parser promises (tokens, no control bytes, one framing); the chunked
 * decoder gives the same data, the same end and the same verdict fed
 * whole, split at one byte, or a byte at a time; and percent-decoding
 * never grows a string. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "base/buf.h"
#include "base/mem.h"
#include "http/http_int.h"

static uint32_t rng(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* The end of the head fed in random pieces, scanned as evloop.c does. */
static size_t head_end_split(const char *p, size_t n, uint32_t *seed)
{
	size_t have = 0, scanned = 0;
	while (have < n) {
		have += 1 + rng(seed) % 64;
		if (have > n)
			have = n;
		size_t end = http_ev_head_end(p, have, scanned > 2 ? scanned - 2 : 0);
		if (end) {
			if (end > have)
				abort();
			return end;
		}
		scanned = have;
	}
	return 0;
}

static int tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* s is a NUL-terminated string that lies inside b[0..n] (the NUL too). */
static void inside(const char *s, const char *b, size_t n)
{
	if (!s || s < b || s > b + n || strnlen(s, (size_t)(b + n - s) + 1) > (size_t)(b + n - s))
		abort();
}

static void check_head(const struct http_ev_head *h, const char *b, size_t n)
{
	inside(h->method, b, n);
	inside(h->target, b, n);
	if (!*h->method || !*h->target || (h->minor != 0 && h->minor != 1) || h->nh < 0 ||
	    h->nh > HTTP_EV_HEADERS_MAX)
		abort();
	for (const char *m = h->method; *m; m++)
		if (!tchar((unsigned char)*m))
			abort();
	for (const unsigned char *t = (const unsigned char *)h->target; *t; t++)
		if (*t <= 0x20 || *t == 0x7f)
			abort();
	for (int i = 0; i < h->nh; i++) {
		inside(h->name[i], b, n);
		inside(h->value[i], b, n);
		if (!*h->name[i])
			abort();
		for (const char *c = h->name[i]; *c; c++)
			if (!tchar((unsigned char)*c))
				abort();
		const unsigned char *v = (const unsigned char *)h->value[i];
		size_t vl = strlen(h->value[i]);
		if (vl && (v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			abort();
		for (size_t k = 0; k < vl; k++)
			if ((v[k] < 0x20 && v[k] != '\t') || v[k] == 0x7f)
				abort();
		/* a lookup finds the first field of that name, in any case */
		const char *got = http_ev_header(h, h->name[i]);
		int first = 0;
		while (strcasecmp(h->name[first], h->name[i]) != 0)
			first++;
		if (got != h->value[first])
			abort();
	}
	if (h->length < -1 || h->length > 999999999999999999LL || (h->chunked && h->length >= 0))
		abort();
	if ((h->length >= 0) != (http_ev_header(h, "content-length") != NULL))
		abort();
	if (h->chunked && !http_ev_header(h, "TRANSFER-ENCODING"))
		abort();
	if (!h->chunked && http_ev_header(h, "Transfer-Encoding"))
		abort();
	if ((h->keep_alive != 0 && h->keep_alive != 1) || h->expect_continue < 0)
		abort();
	if (http_ev_header(h, "") || http_ev_header(h, "no-such-field-\x01"))
		abort();
}

/* Parses a copy of p[0..n): the rc, with h checked when it is 0. */
static int parse_copy(const char *p, size_t n, struct http_ev_head *h, char **copy)
{
	*copy = xmalloc(n + 1);
	memcpy(*copy, p, n);
	(*copy)[n] = '\0';
	int rc = http_ev_parse_head(*copy, n, h);
	if (rc != 0 && rc != -EINVAL && rc != -E2BIG && rc != -ENOTSUP && rc != -EPROTONOSUPPORT)
		abort();
	if (rc == 0)
		check_head(h, *copy, n);
	return rc;
}

/* Decodes p[0..n) with the calls' input cut at the offsets in cuts[] (the
 * input of one call never spans a cut): 1 done, 0 more wanted, -EINVAL. */
static int dechunk(const char *p, size_t n, const size_t *cuts, size_t ncuts, buf *out,
		   size_t *used)
{
	struct http_ev_chunked c = { 0 };
	size_t pos = 0, ci = 0;
	int rc = 0;
	while (pos < n && !http_ev_chunked_done(&c)) {
		while (ci < ncuts && cuts[ci] <= pos)
			ci++;
		size_t lim = ci < ncuts ? cuts[ci] : n;
		size_t off = (size_t)-1, len = 0;
		long k = http_ev_chunked(&c, p + pos, lim - pos, &off, &len);
		if (k < 0) {
			if (k != -EINVAL)
				abort();
			rc = -EINVAL;
			break;
		}
		if (k == 0 || (size_t)k > lim - pos || (len && off + len > (size_t)k))
			abort();
		if (len && buf_append(out, p + pos + off, len))
			abort();
		pos += (size_t)k;
	}
	*used = pos;
	return rc ? rc : http_ev_chunked_done(&c);
}

/* Two decodings agree: verdict, data, and (when not refused) where the
 * body ended. A refusal comes at the same byte, but the call that finds
 * it starts wherever its input did. */
static void same(int ra, size_t ua, const buf *a, int rb, size_t ub, const buf *b)
{
	if (ra != rb || (ra >= 0 && ua != ub) || a->len != b->len ||
	    (a->len && memcmp(a->data, b->data, a->len)))
		abort();
}

static void chunked(const char *p, size_t n, uint32_t *seed)
{
	buf a, b;
	size_t ua, ub;
	buf_init(&a, n + 1);
	buf_init(&b, n + 1);
	int ra = dechunk(p, n, NULL, 0, &a, &ua);
	size_t cut = n ? rng(seed) % (n + 1) : 0;
	int rb = dechunk(p, n, &cut, 1, &b, &ub);
	same(ra, ua, &a, rb, ub, &b);
	if (ra == 1 && (ua < 3 || p[ua - 1] != '\n'))
		abort(); /* the shortest body is "0\n\n"; every one ends with LF */
	if (n <= 2048) {
		/* a byte at a time */
		size_t *cuts = xmalloc((n + 1) * sizeof *cuts);
		for (size_t i = 0; i <= n; i++)
			cuts[i] = i;
		buf_reset(&b);
		rb = dechunk(p, n, cuts, n + 1, &b, &ub);
		free(cuts);
		same(ra, ua, &a, rb, ub, &b);
	}
	buf_release(&a);
	buf_release(&b);
}

static void unescape(const char *p, size_t n, int plus)
{
	char *s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	size_t before = strlen(s);
	int pct = strchr(s, '%') != NULL;
	char *orig = xstrdup(s);
	http_ev_unescape(s, plus);
	size_t after = strlen(s);
	if (after > before)
		abort();
	if (!pct) {
		/* only '+' can change, and only with plus */
		for (size_t i = 0; i < before; i++)
			if (s[i] != (plus && orig[i] == '+' ? ' ' : orig[i]))
				abort();
	}
	free(orig);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	uint32_t seed = (uint32_t)data[0] * 2654435761u ^ (uint32_t)size;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;

	size_t hl = http_ev_head_end(p, n, 0);
	if (hl > n || (hl && (hl < 2 || p[hl - 1] != '\n')))
		abort();
	/* the first end: no prefix of the head ends it */
	if (hl && http_ev_head_end(p, hl - 1, 0))
		abort();
	for (int k = 0; k < 3; k++)
		if (head_end_split(p, n, &seed) != hl)
			abort();
	/* from: anywhere before the terminator ("\n\r\n" at the latest) */
	if (hl > 3 && http_ev_head_end(p, n, rng(&seed) % (hl - 3)) != hl)
		abort();

	/* The head as evloop.c hands it over (through its end). Handed more
	 * bytes than the head, the parser may refuse (they are none of its
	 * business), but what it takes is that same head: it never takes
	 * bytes that have no end, nor reads past the end. */
	struct http_ev_head h1, h2;
	char *c1 = NULL, *c2 = NULL;
	int r1 = hl ? parse_copy(p, hl, &h1, &c1) : -EINVAL;
	int r2 = parse_copy(p, n, &h2, &c2);
	if (r2 == 0 && (r1 != 0 || strcmp(h1.method, h2.method) || strcmp(h1.target, h2.target) ||
			h1.nh != h2.nh || h1.length != h2.length || h1.chunked != h2.chunked ||
			h1.keep_alive != h2.keep_alive || h1.expect_continue != h2.expect_continue))
		abort();
	free(c1);
	free(c2);

	chunked(p + hl, n - hl, &seed);
	unescape(p, n, data[0] & 1);
	return 0;
}
