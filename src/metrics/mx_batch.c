/* Batches of samples: what the ingest parsers fill and mx_db_append takes.
 *
 * Invariants:
 *  1. Every sample in a batch is valid (names, tags, value) when added: the
 *     store trusts a batch and never validates again.
 *  2. Strings and tag arrays live in the batch's arena, a list of chunks that
 *     never move, so a sample's pointers stay valid until mx_batch_free; only
 *     the array of samples itself is reallocated (mx_batch_get's pointer is
 *     valid until the next add).
 *  3. Consecutive samples that repeat the agent, the metric or the whole tag
 *     set share the previous copy (line protocol lines give several fields of
 *     one series prefix; JSON batches repeat the agent): the hot path copies
 *     a name once per change, not once per sample. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "metrics/mx.h"

#define CHUNK_MIN (64 * 1024)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

struct mx_batch {
	mx_sample *s;
	size_t n, cap;
	struct chunk *arena; /* head: the chunk being filled */
	/* The previous sample's copies (invariant 3); NULL before the first. */
	const char *last_agent, *last_metric;
	const mx_tag *last_tags;
	unsigned last_ntags;
};

mx_batch *mx_batch_new(void)
{
	return xcalloc(1, sizeof(mx_batch));
}

void mx_batch_free(mx_batch **bp)
{
	mx_batch *b = *bp;
	if (!b)
		return;
	for (struct chunk *c = b->arena, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(b->s);
	xfree(bp);
}

size_t mx_batch_len(const mx_batch *b)
{
	return b->n;
}

const mx_sample *mx_batch_get(const mx_batch *b, size_t i)
{
	return i < b->n ? &b->s[i] : NULL;
}

static void *arena_alloc(mx_batch *b, size_t n, size_t align)
{
	struct chunk *c = b->arena;
	if (c) {
		size_t at = (c->used + align - 1) & ~(align - 1);
		if (at + n <= c->cap) {
			c->used = at + n;
			return c->data + at;
		}
	}
	/* Chunks double with the batch so a large request costs few mallocs. */
	size_t cap = c ? c->cap * 2 : CHUNK_MIN;
	if (cap > 16 * CHUNK_MIN)
		cap = 16 * CHUNK_MIN;
	if (cap < n)
		cap = n;
	struct chunk *nc = xmalloc(sizeof *nc + cap);
	nc->next = c;
	nc->used = n;
	nc->cap = cap;
	b->arena = nc;
	return nc->data;
}

static const char *arena_str(mx_batch *b, const char *s, size_t n)
{
	char *p = arena_alloc(b, n + 1, 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* A quotable form of outside text for error messages (which end up in JSON):
 * printable ASCII as is, other bytes as \xHH, at most 40 bytes of input. */
static const char *quote(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; s[i] && i < 40 && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

static int name_len(const char *s, size_t max, int colon)
{
	size_t i = 0;
	for (; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i >= max)
			return -1;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-' || (colon && c == ':')))
			return -1;
	}
	return i ? (int)i : -1;
}

int mx_name_ok(const char *name)
{
	return name && name_len(name, MX_NAME_MAX, 1) > 0;
}

static int bad(char *err, size_t errlen, const char *fmt, const char *what, const char *s)
{
	char q[200];
	snprintf(err, errlen, fmt, what, s ? quote(s, q, sizeof q) : "");
	return -EINVAL;
}

/* Sorts the (at most MX_TAGS_MAX) tags into out and checks them. */
static int tags_check(const mx_tag *in, unsigned n, mx_tag *out, char *err, size_t errlen)
{
	if (n > MX_TAGS_MAX) {
		snprintf(err, errlen, "tags: more than %d", MX_TAGS_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		const mx_tag t = in[i];
		if (!t.k || name_len(t.k, MX_TAG_KEY_MAX, 0) < 0)
			return bad(err, errlen, "%s: key \"%s\" is not 1-64 bytes of [A-Za-z0-9_.-]",
				   "tags", t.k);
		if (!strcmp(t.k, "agent"))
			return bad(err, errlen, "%s: key \"%s\" is reserved", "tags", t.k);
		size_t vl = t.v ? strlen(t.v) : 0;
		if (!t.v || vl > MX_TAG_VAL_MAX)
			return bad(err, errlen, "%s: value of \"%s\" is longer than 256 bytes", "tags",
				   t.k);
		if (!sn_utf8_valid(t.v, vl, 1))
			return bad(err, errlen,
				   "%s: value of \"%s\" is not UTF-8 without control bytes", "tags",
				   t.k);
		unsigned j = i;
		for (; j > 0 && strcmp(out[j - 1].k, t.k) > 0; j--)
			out[j] = out[j - 1];
		out[j] = t;
		if (j > 0 && !strcmp(out[j - 1].k, t.k))
			return bad(err, errlen, "%s: key \"%s\" appears twice", "tags", t.k);
	}
	return 0;
}

static int tags_same(const mx_tag *a, const mx_tag *b, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(a[i].k, b[i].k) || strcmp(a[i].v, b[i].v))
			return 0;
	return 1;
}

static const mx_tag *tags_copy(mx_batch *b, const mx_tag *t, unsigned n)
{
	if (n == b->last_ntags && b->last_tags && tags_same(t, b->last_tags, n))
		return b->last_tags;
	mx_tag *c = arena_alloc(b, n * sizeof *c + 1, _Alignof(mx_tag));
	for (unsigned i = 0; i < n; i++) {
		c[i].k = arena_str(b, t[i].k, strlen(t[i].k));
		c[i].v = arena_str(b, t[i].v, strlen(t[i].v));
	}
	b->last_tags = c;
	b->last_ntags = n;
	return c;
}

static const char *name_copy(mx_batch *b, const char *s, const char **last)
{
	if (!*last || strcmp(*last, s))
		*last = arena_str(b, s, strlen(s));
	return *last;
}

int mx_batch_add(mx_batch *b, const char *agent, const char *metric, int64_t ts_ms,
		 double value, const mx_tag *tags, unsigned ntags, char *err, size_t errlen)
{
	mx_tag sorted[MX_TAGS_MAX];
	if (b->n >= MX_BATCH_MAX) {
		snprintf(err, errlen, "more than %d samples", MX_BATCH_MAX);
		return -E2BIG;
	}
	if (!mx_name_ok(agent))
		return bad(err, errlen, "%s: \"%s\" is not 1-128 bytes of [A-Za-z0-9_.:-]", "agent",
			   agent);
	if (!mx_name_ok(metric))
		return bad(err, errlen, "%s: \"%s\" is not 1-128 bytes of [A-Za-z0-9_.:-]",
			   "metric", metric);
	if (!isfinite(value)) {
		snprintf(err, errlen, "value: not a finite number");
		return -EINVAL;
	}
	int rc = tags_check(tags, ntags, sorted, err, errlen);
	if (rc)
		return rc;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->s = xrealloc(b->s, b->cap * sizeof *b->s);
	}
	mx_sample *s = &b->s[b->n++];
	s->agent = name_copy(b, agent, &b->last_agent);
	s->metric = name_copy(b, metric, &b->last_metric);
	s->ts_ms = ts_ms;
	s->value = value;
	s->tags = tags_copy(b, sorted, ntags);
	s->ntags = ntags;
	return 0;
}
