/* HTTP/1.1 request heads and chunked bodies, for the event loop
 * (evloop.c). Pure functions over bytes a client sent: no allocation, no
 * I/O, fuzzed by fuzz/fuzz_http_head.c.
 *
 * Strict where leniency would let two parsers disagree about where a
 * request ends (request smuggling): a Content-Length is digits only and
 * repeated copies must agree; Transfer-Encoding and Content-Length
 * together are refused; folded header lines are refused; chunk sizes are
 * hex digits that fit in 60 bits. Lenient where RFC 9112 allows it: bare
 * LF line ends, empty lines before the request line. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include "http/http_int.h"

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

size_t http_ev_head_end(const char *p, size_t n, size_t from)
{
	/* The head ends at the first empty line: "\n\n" or "\n\r\n". Leading
	 * empty lines are not the end (skipped by the parser). */
	size_t lead = 0;
	while (lead < n && (p[lead] == '\r' || p[lead] == '\n'))
		lead++;
	if (from < lead)
		from = lead;
	for (size_t i = from; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* The next line of p[*pos..n), NUL-terminated in place (its CR too);
 * NULL at the end. */
static char *next_line(char *p, size_t n, size_t *pos)
{
	if (*pos >= n)
		return NULL;
	char *s = p + *pos;
	char *e = memchr(s, '\n', n - *pos);
	if (!e)
		return NULL;
	*pos = (size_t)(e - p) + 1;
	*e = '\0';
	if (e > s && e[-1] == '\r')
		e[-1] = '\0';
	return s;
}

/* A decimal Content-Length: digits only, at most 18 of them. */
static int parse_length(const char *v, int64_t *out)
{
	int64_t n = 0;
	size_t i = 0;
	for (; v[i]; i++) {
		if (v[i] < '0' || v[i] > '9' || i == 18)
			return -EINVAL;
		n = n * 10 + (v[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	*out = n;
	return 0;
}

/* Whether the comma-separated list v holds token t (any case). */
static int has_token(const char *v, const char *t)
{
	size_t tl = strlen(t);
	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		size_t l = strcspn(v, ", \t");
		if (l == tl && strncasecmp(v, t, tl) == 0)
			return 1;
		v += l;
	}
	return 0;
}

/* Transfer-Encoding: exactly "chunked" (any case, surrounding space); any
 * other coding is one this server does not decode. */
static int is_chunked(const char *v)
{
	while (*v == ' ' || *v == '\t')
		v++;
	size_t l = strlen(v);
	while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
		l--;
	return l == 7 && strncasecmp(v, "chunked", 7) == 0;
}

int http_ev_parse_head(char *p, size_t n, struct http_ev_head *h)
{
	size_t pos = 0;
	memset(h, 0, sizeof *h);
	h->length = -1;
	/* The parse works on C strings: a NUL would end a field, or the head,
	 * early (a value cut short, fields after it dropped: smuggling). */
	if (memchr(p, '\0', n))
		return -EINVAL;
	while (pos < n && (p[pos] == '\r' || p[pos] == '\n'))
		pos++;
	char *line = next_line(p, n, &pos);
	if (!line)
		return -EINVAL;
	/* METHOD SP target SP HTTP/1.x */
	char *sp1 = strchr(line, ' ');
	if (!sp1 || sp1 == line)
		return -EINVAL;
	*sp1 = '\0';
	for (char *m = line; *m; m++)
		if (!is_tchar((unsigned char)*m))
			return -EINVAL;
	char *target = sp1 + 1, *sp2 = strchr(target, ' ');
	if (!sp2 || sp2 == target)
		return -EINVAL;
	*sp2 = '\0';
	for (char *t = target; *t; t++)
		if ((unsigned char)*t <= 0x20 || *t == 0x7f)
			return -EINVAL;
	const char *ver = sp2 + 1;
	if (strncmp(ver, "HTTP/", 5) != 0)
		return -EINVAL;
	if (strcmp(ver + 5, "1.1") == 0)
		h->minor = 1;
	else if (strcmp(ver + 5, "1.0") == 0)
		h->minor = 0;
	else if (ver[5] >= '0' && ver[5] <= '9' && ver[6] == '.' && ver[7] >= '0' &&
		 ver[7] <= '9' && !ver[8])
		return -EPROTONOSUPPORT;
	else
		return -EINVAL;
	h->method = line;
	h->target = target;
	int te = 0, close = 0, keep = 0;
	while ((line = next_line(p, n, &pos)) && *line) {
		if (*line == ' ' || *line == '\t')
			return -EINVAL; /* obs-fold */
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return -EINVAL;
		*colon = '\0';
		for (char *c = line; *c; c++)
			if (!is_tchar((unsigned char)*c))
				return -EINVAL;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			v[--vl] = '\0';
		for (size_t i = 0; i < vl; i++)
			if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
				return -EINVAL;
		if (h->nh == HTTP_EV_HEADERS_MAX)
			return -E2BIG;
		h->name[h->nh] = line;
		h->value[h->nh] = v;
		h->nh++;
		if (strcasecmp(line, "Content-Length") == 0) {
			int64_t len;
			if (parse_length(v, &len) || (h->length >= 0 && h->length != len))
				return -EINVAL;
			h->length = len;
		} else if (strcasecmp(line, "Transfer-Encoding") == 0) {
			if (te || !is_chunked(v))
				return -ENOTSUP;
			te = 1;
		} else if (strcasecmp(line, "Connection") == 0) {
			close |= has_token(v, "close");
			keep |= has_token(v, "keep-alive");
		} else if (strcasecmp(line, "Expect") == 0) {
			h->expect_continue = strcasecmp(v, "100-continue") == 0;
		}
	}
	if (!line)
		return -EINVAL; /* no empty line: not a whole head */
	if (te && h->length >= 0)
		return -EINVAL;
	h->chunked = te;
	h->keep_alive = !close && (h->minor == 1 || keep);
	h->expect_continue &= h->minor == 1; /* HTTP/1.0 knows no 100 (RFC 9110 10.1.1) */
	return 0;
}

const char *http_ev_header(const struct http_ev_head *h, const char *name)
{
	for (int i = 0; i < h->nh; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

/* ---- chunked bodies ---- */

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER,
       CH_TRAILER_LF, CH_DONE };

/* Bytes a chunk-size line's extensions may take (each line), and the
 * trailer section (in all). */
#define CH_META_MAX 8192

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A chunk-size line ended: its data follow, or the trailers after the
 * last (size 0) chunk. The extension budget is per line. */
static void size_line_end(struct http_ev_chunked *c)
{
	c->state = c->left ? CH_DATA : CH_TRAILER;
	if (c->left)
		c->meta = 0;
}

long http_ev_chunked(struct http_ev_chunked *c, const char *in, size_t n, size_t *data_off,
		     size_t *data_len)
{
	size_t i = 0;
	*data_len = 0;
	while (i < n && c->state != CH_DONE) {
		char ch = in[i];
		switch (c->state) {
		case CH_SIZE: {
			int v = hexv(ch);
			if (v >= 0) {
				if (c->digits == 15)
					return -EINVAL;
				c->left = c->left << 4 | (uint64_t)v;
				c->digits++;
			} else if (c->digits == 0) {
				return -EINVAL;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else if (ch == '\n') {
				size_line_end(c);
			} else {
				return -EINVAL;
			}
			i++;
			break;
		}
		case CH_EXT:
			if (++c->meta > CH_META_MAX)
				return -EINVAL;
			if (ch == '\n')
				size_line_end(c);
			else if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (((unsigned char)ch < 0x20 && ch != '\t') || ch == 0x7f)
				return -EINVAL;
			i++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -EINVAL;
			size_line_end(c);
			i++;
			break;
		case CH_DATA: {
			/* One span per call: the caller hands it on, then calls again. */
			size_t take = n - i < c->left ? n - i : (size_t)c->left;
			*data_off = i;
			*data_len = take;
			c->left -= take;
			if (!c->left) {
				c->state = CH_DATA_CR;
				c->digits = 0;
			}
			return (long)(i + take);
		}
		case CH_DATA_CR:
			if (ch == '\r')
				c->state = CH_DATA_LF;
			else if (ch == '\n')
				c->state = CH_SIZE;
			else
				return -EINVAL;
			i++;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -EINVAL;
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER:
			/* At the start of a trailer line: an empty one ends the body. */
			if (ch == '\n') {
				c->state = CH_DONE;
			} else if (ch == '\r') {
				c->state = CH_TRAILER_LF;
			} else {
				c->line = 1;
				c->state = CH_TRAILER_LF;
			}
			if (++c->meta > CH_META_MAX)
				return -EINVAL;
			i++;
			break;
		case CH_TRAILER_LF:
			if (++c->meta > CH_META_MAX)
				return -EINVAL;
			if (ch == '\n') {
				c->state = c->line ? CH_TRAILER : CH_DONE;
				c->line = 0;
			} else if (ch != '\r') {
				c->line = 1;
			}
			i++;
			break;
		}
	}
	return (long)i;
}

int http_ev_chunked_done(const struct http_ev_chunked *c)
{
	return c->state == CH_DONE;
}

size_t http_ev_unescape(char *s, int plus)
{
	char *o = s, *start = s;
	for (; *s; s++) {
		int hi, lo;
		if (*s == '%' && (hi = hexv(s[1])) >= 0 && (lo = hexv(s[2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = plus && *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
	return (size_t)(o - start);
}
