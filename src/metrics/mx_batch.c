/* Batches of samples: what the ingest parsers fill and mx_db_append takes.
 *
 * Invariants:
 *  1. Every sample in a batch is valid (names, tags, value) when added: the
 *     store trusts a batch and never validates again.
 *  2. Strings and tag arrays live in the batch's arena, a list of chunks that
 *     never move, so a sample's pointers stay valid until mx_batch_free; only
 *     the array of samples itself is reallocated (mx_batch_get's pointer is
 *     valid until the next add).
 *  3. Names and tag sets are interned per batch: every agent or metric
 *     string equal to one seen earlier in the batch is the same pointer, and
 *     every sorted tag set equal to an earlier one is the same tags pointer.
 *     So two samples are of the same series exactly when their agent, metric
 *     and tags pointers are equal (mx_db_append resolves a series once per
 *     batch by them), and a name is copied and validated once per batch.
 *     The previous sample's copies are checked first (line protocol lines
 *     give several fields of one series prefix; JSON batches repeat the
 *     agent), the batch's table of interned copies next.
 *  4. Each interned copy carries its hash just before it (a uint64_t), so
 *     the store hashes a series from three loads (mx_batch_series_hash).
 *     The batch lists its distinct agents in the order they first appear
 *     (a name's table entry marks it as one), so that the checks per agent
 *     of a request run once each. */
#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"
#include "metrics/mx.h"

/* The arena and the tables start small: most pushes are one sample, and
 * a first allocation of 1 KiB or more cost every such request a large
 * malloc and, at its free, a consolidation of malloc's fast bins. */
#define CHUNK_FIRST 512
#define CHUNK_MAX ((size_t)1 << 20)

struct chunk {
	struct chunk *next;
	size_t used, cap;
	_Alignas(max_align_t) char data[];
};

/* A table of interned copies (invariant 3), open addressing; p NULL: empty. */
struct ient {
	uint64_t h;
	const void *p; /* a name (char) or a tag set (mx_tag) */
	unsigned ntags;
	unsigned agent; /* a name: listed in agents (invariant 4) */
};
struct itab {
	struct ient *e;
	size_t n, cap; /* cap a power of two, n <= cap / 2 */
};

struct mx_batch {
	mx_sample *s;
	size_t n, cap;
	struct chunk *arena; /* head: the chunk being filled */
	struct itab names, tagsets;
	/* The previous sample's copies (invariant 3); NULL before the first. */
	const char *last_agent, *last_metric;
	const mx_tag *last_tags;
	unsigned last_ntags;
	const char **agents; /* invariant 4 */
	size_t nagents, agents_cap;
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
	free(b->names.e);
	free(b->tagsets.e);
	free(b->agents);
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
	size_t cap = c ? c->cap * 2 : CHUNK_FIRST;
	if (cap > CHUNK_MAX)
		cap = CHUNK_MAX;
	if (cap < n)
		cap = n;
	struct chunk *nc = xmalloc(sizeof *nc + cap);
	nc->next = c;
	nc->used = n;
	nc->cap = cap;
	b->arena = nc;
	return nc->data;
}

/* A copy of s led by its hash h (invariant 4). */
static const char *arena_hstr(mx_batch *b, uint64_t h, const char *s, size_t n)
{
	uint64_t *p = arena_alloc(b, sizeof h + n + 1, _Alignof(uint64_t));
	*p = h;
	memcpy(p + 1, s, n);
	((char *)(p + 1))[n] = '\0';
	return (const char *)(p + 1);
}

static uint64_t hash_of(const void *p)
{
	return ((const uint64_t *)p)[-1];
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

/* Bytes allowed in names: 1 in tag keys and names, 2 in names only. */
static const unsigned char name_chars[256] = {
	['-'] = 1, ['.'] = 1, ['_'] = 1, [':'] = 2,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* colon: 2 when ':' is allowed (names), 1 when not (tag keys). */
static int name_len(const char *s, size_t max, int colon)
{
	size_t i = 0;
	for (; s[i]; i++)
		if (i >= max || !(name_chars[(unsigned char)s[i]] & (colon | 1)))
			return -1;
	return i ? (int)i : -1;
}

int mx_name_ok(const char *name)
{
	return name && name_len(name, MX_NAME_MAX, 2) > 0;
}

static int bad(char *err, size_t errlen, const char *fmt, const char *what, const char *s)
{
	char q[200];
	snprintf(err, errlen, fmt, what, s ? quote(s, q, sizeof q) : "");
	return -EINVAL;
}

/* Sorts the (at most MX_TAGS_MAX) tags into out; keys unique. */
static int tags_sort(const mx_tag *in, unsigned n, mx_tag *out, char *err, size_t errlen)
{
	if (n > MX_TAGS_MAX) {
		snprintf(err, errlen, "tags: more than %d", MX_TAGS_MAX);
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		const mx_tag t = in[i];
		if (!t.k || !t.v)
			return bad(err, errlen, t.k ? "%s: value of \"%s\" is missing"
						    : "%s: a key is missing%s",
				   "tags", t.k);
		unsigned j = i;
		for (; j > 0 && strcmp(out[j - 1].k, t.k) > 0; j--)
			out[j] = out[j - 1];
		out[j] = t;
		if (j > 0 && !strcmp(out[j - 1].k, t.k))
			return bad(err, errlen, "%s: key \"%s\" appears twice", "tags", t.k);
	}
	return 0;
}

static int tags_check(const mx_tag *t, unsigned n, char *err, size_t errlen)
{
	for (unsigned i = 0; i < n; i++) {
		if (name_len(t[i].k, MX_TAG_KEY_MAX, 1) < 0)
			return bad(err, errlen, "%s: key \"%s\" is not 1-64 bytes of [A-Za-z0-9_.-]",
				   "tags", t[i].k);
		if (!strcmp(t[i].k, "agent"))
			return bad(err, errlen, "%s: key \"%s\" is reserved", "tags", t[i].k);
		size_t vl = strlen(t[i].v);
		if (vl > MX_TAG_VAL_MAX)
			return bad(err, errlen, "%s: value of \"%s\" is longer than 256 bytes", "tags",
				   t[i].k);
		if (!sn_utf8_valid(t[i].v, vl, 1))
			return bad(err, errlen,
				   "%s: value of \"%s\" is not UTF-8 without control bytes", "tags",
				   t[i].k);
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

static uint64_t str_hash(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;
}

static uint64_t tags_hash(const mx_tag *t, unsigned n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ n;
	for (unsigned i = 0; i < n; i++)
		h = str_hash(str_hash(h, t[i].k), t[i].v);
	return h;
}

/* The entry of the interned copy equal to name (hash h), or NULL. */
static struct ient *name_find(const struct itab *t, uint64_t h, const char *name)
{
	if (!t->cap)
		return NULL;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct ient *e = &t->e[i];
		if (!e->p)
			return NULL;
		if (e->h == h && !strcmp(e->p, name))
			return e;
	}
}

static const mx_tag *tagset_find(const struct itab *t, uint64_t h, const mx_tag *tags,
				 unsigned n)
{
	if (!t->cap)
		return NULL;
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		const struct ient *e = &t->e[i];
		if (!e->p)
			return NULL;
		if (e->h == h && e->ntags == n && tags_same(e->p, tags, n))
			return e->p;
	}
}

static struct ient *itab_put(struct itab *t, uint64_t h, const void *p, unsigned ntags)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct ient *e = xcalloc(cap, sizeof *e);
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->e[i].p)
				continue;
			size_t j = t->e[i].h & (cap - 1);
			while (e[j].p)
				j = (j + 1) & (cap - 1);
			e[j] = t->e[i];
		}
		free(t->e);
		t->e = e;
		t->cap = cap;
	}
	size_t j = h & (t->cap - 1);
	while (t->e[j].p)
		j = (j + 1) & (t->cap - 1);
	t->e[j] = (struct ient){ h, p, ntags, 0 };
	t->n++;
	return &t->e[j];
}

/* Lists e's name among the agents unless it is already. */
static void agent_mark(mx_batch *b, struct ient *e)
{
	if (e->agent)
		return;
	e->agent = 1;
	if (b->nagents == b->agents_cap) {
		b->agents_cap = b->agents_cap ? b->agents_cap * 2 : 16;
		b->agents = xrealloc(b->agents, b->agents_cap * sizeof *b->agents);
	}
	b->agents[b->nagents++] = e->p;
}

static const char *name_intern(mx_batch *b, uint64_t h, const char *name, int agent)
{
	struct ient *e = name_find(&b->names, h, name);
	if (!e)
		e = itab_put(&b->names, h, arena_hstr(b, h, name, strlen(name)), 0);
	if (agent)
		agent_mark(b, e);
	return e->p;
}

static const mx_tag *tags_copy(mx_batch *b, uint64_t h, const mx_tag *t, unsigned n)
{
	uint64_t *hp = arena_alloc(b, sizeof h + n * sizeof(mx_tag) + 1, _Alignof(uint64_t));
	mx_tag *c = (mx_tag *)(hp + 1);
	*hp = h;
	for (unsigned i = 0; i < n; i++) {
		c[i].k = arena_str(b, t[i].k, strlen(t[i].k));
		c[i].v = arena_str(b, t[i].v, strlen(t[i].v));
	}
	itab_put(&b->tagsets, h, c, n);
	return c;
}

/* Finds name's interned copy (*out), or checks it (what: "agent" or
 * "metric") so that the caller interns it once the whole sample is valid
 * (*out NULL, *h its hash). last: the previous sample's copy. */
static int name_get(mx_batch *b, const char *name, const char *last, const char *what,
		    const char **out, struct ient **ent, uint64_t *h, char *err, size_t errlen)
{
	*out = NULL;
	*ent = NULL;
	if (name && last && (name == last || !strcmp(name, last)))
		*out = last;
	else if (name && (*h = str_hash(0xcbf29ce484222325ULL, name),
			  *ent = name_find(&b->names, *h, name)))
		*out = (*ent)->p;
	else if (!mx_name_ok(name))
		return bad(err, errlen, "%s: \"%s\" is not 1-128 bytes of [A-Za-z0-9_.:-]", what,
			   name);
	return 0;
}

/* Appends a sample of interned (or, when NULL, new and valid) names and
 * tag set. */
static void push(mx_batch *b, const char *ia, uint64_t ha, const char *agent, const char *im,
		 uint64_t hm, const char *metric, const mx_tag *it, uint64_t ht,
		 const mx_tag *sorted, unsigned ntags, int64_t ts_ms, double value)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 4;
		b->s = xrealloc(b->s, b->cap * sizeof *b->s);
	}
	/* Interned only now that the whole sample is valid; the agent's new
	 * copy may be the metric's too. */
	if (!ia)
		ia = name_intern(b, ha, agent, 1);
	if (!im)
		im = name_intern(b, hm, metric, 0);
	if (!it)
		it = tags_copy(b, ht, sorted, ntags);
	b->last_agent = ia;
	b->last_metric = im;
	b->last_tags = it;
	b->last_ntags = ntags;
	mx_sample *s = &b->s[b->n++];
	s->agent = ia;
	s->metric = im;
	s->ts_ms = ts_ms;
	s->value = value;
	s->tags = it;
	s->ntags = ntags;
}

static int too_many(const mx_batch *b, char *err, size_t errlen)
{
	if (b->n < MX_BATCH_MAX)
		return 0;
	snprintf(err, errlen, "more than %d samples", MX_BATCH_MAX);
	return -E2BIG;
}

static int not_finite(double value, char *err, size_t errlen)
{
	if (isfinite(value))
		return 0;
	snprintf(err, errlen, "value: not a finite number");
	return -EINVAL;
}

int mx_batch_add(mx_batch *b, const char *agent, const char *metric, int64_t ts_ms,
		 double value, const mx_tag *tags, unsigned ntags, char *err, size_t errlen)
{
	mx_tag sorted[MX_TAGS_MAX] = { { 0 } }; /* gcc cannot see that ntags bounds the reads */
	/* Interned copies were validated when first added (invariant 3). */
	const char *ia = NULL, *im = NULL;
	struct ient *ea, *em;
	uint64_t ha = 0, hm = 0;
	int rc;
	if ((rc = too_many(b, err, errlen)) ||
	    (rc = name_get(b, agent, b->last_agent, "agent", &ia, &ea, &ha, err, errlen)) ||
	    (rc = name_get(b, metric, b->last_metric, "metric", &im, &em, &hm, err, errlen)) ||
	    (rc = not_finite(value, err, errlen)))
		return rc;
	const mx_tag *it = NULL;
	uint64_t ht = 0;
	if (tags && tags == b->last_tags && ntags == b->last_ntags) {
		it = b->last_tags; /* the interned set itself: sorted and valid */
	} else {
		if ((rc = tags_sort(tags, ntags, sorted, err, errlen)))
			return rc;
		if (b->last_tags && ntags == b->last_ntags && tags_same(sorted, b->last_tags, ntags))
			it = b->last_tags;
		else if ((ht = tags_hash(sorted, ntags),
			  it = tagset_find(&b->tagsets, ht, sorted, ntags)))
			;
		else if ((rc = tags_check(sorted, ntags, err, errlen)))
			return rc;
	}
	/* Valid: the agent met before as a metric only becomes one now (a
	 * new one is listed as push interns it). */
	if (ea)
		agent_mark(b, ea);
	push(b, ia, ha, agent, im, hm, metric, it, ht, sorted, ntags, ts_ms, value);
	return 0;
}

int mx_batch_add_like(mx_batch *b, const mx_sample *like, const char *metric, int64_t ts_ms,
		      double value, char *err, size_t errlen)
{
	const char *im;
	struct ient *em;
	uint64_t hm = 0;
	int rc;
	if ((rc = too_many(b, err, errlen)) ||
	    (rc = name_get(b, metric, b->last_metric, "metric", &im, &em, &hm, err, errlen)) ||
	    (rc = not_finite(value, err, errlen)))
		return rc;
	push(b, like->agent, 0, NULL, im, hm, metric, like->tags, 0, NULL, like->ntags, ts_ms,
	     value);
	return 0;
}

const char *const *mx_batch_agents(const mx_batch *b, size_t *n)
{
	*n = b->nagents;
	return b->agents;
}

static uint64_t series_hash(uint64_t ha, uint64_t hm, uint64_t ht)
{
	uint64_t h = ha * 0x9e3779b97f4a7c15ULL ^ hm * 0xc2b2ae3d27d4eb4fULL ^ ht;
	h = (h ^ h >> 31) * 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 29;
	return h ? h : 1;
}

uint64_t mx_series_hash(const char *agent, const char *metric, const mx_tag *tags, unsigned n)
{
	return series_hash(str_hash(0xcbf29ce484222325ULL, agent),
			   str_hash(0xcbf29ce484222325ULL, metric), tags_hash(tags, n));
}

uint64_t mx_batch_series_hash(const mx_sample *x)
{
	return series_hash(hash_of(x->agent), hash_of(x->metric), hash_of(x->tags));
}
