/* Row-level diff of two tables in a few streaming passes over each.
 *
 * Passes (each runs on both tables at once: run_both):
 *   header   read_header: row 0 of each table; then plan_build on the calling
 *            thread: common columns by name (in A's order), key positions.
 *   digests  digest_pass: one struct digest per row, then sort_digests
 *            orders them by their sort key (key hash, or row hash without a
 *            key).
 *   merge    merge: one walk over both sorted arrays, group by group of
 *            equal sort keys: exact counts, and the sampled rows' numbers.
 *   samples  sample_pass: only when there are samples; re-reads each table
 *            up to its last sampled row and keeps those rows' values.
 *   output   result_json.
 *
 * Invariants:
 * 1. Per row only a struct digest (24 bytes) is kept: memory grows with the
 *    rows, never with their width; the values kept are the sampled rows'.
 * 2. The row hash covers exactly the common columns, in A's order, so rows
 *    compare by column name whatever the two tables' column orders.
 * 3. Digests are sorted by (sort key, row), so inside a group rows stay in
 *    file order: the k-th occurrence of a row in A matches the k-th in B,
 *    and the unmatched rows of a key pair up in file order. The brute-force
 *    reference of tests/unit/test_diff.c follows the same rule.
 * 4. A callback returns 0 (go on), STOP (enough: not an error) or -errno
 *    with its side's err filled. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "base/mem.h"
#include "dataset/diff.h"

#define STOP 1
#define CHUNK (256 * 1024) /* pread size: stays in L2 while the reader parses it */
#define SEED_ROW 0x243f6a8885a308d3ULL
#define SEED_KEY 0x13198a2e03707344ULL
#define NULL_TAG 0xa4093822299f31d0ULL /* seeds a missing value apart from "" */

/* ---- ds_hash64: wyhash's structure (128-bit multiply-fold mixing) ---- */

static const uint64_t S0 = 0xa0761d6478bd642fULL, S1 = 0xe7037ed1a0b428dbULL,
		      S2 = 0x8ebc6af09c88c6e3ULL, S3 = 0x589965cc75374cc3ULL;

static inline uint64_t mix(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rd8(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rd4(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

uint64_t ds_hash64(const void *key, size_t len, uint64_t seed)
{
	const unsigned char *p = key;
	uint64_t a, b;
	seed ^= mix(seed ^ S0, S1);
	if (len <= 16) {
		if (len >= 4) {
			/* two overlapping 4-byte reads at each end cover 4..16 bytes */
			size_t d = (len >> 3) << 2;
			a = rd4(p) << 32 | rd4(p + d);
			b = rd4(p + len - 4) << 32 | rd4(p + len - 4 - d);
		} else if (len > 0) {
			a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
			b = 0;
		} else {
			a = b = 0;
		}
	} else {
		size_t i = len;
		if (i > 48) {
			uint64_t s1 = seed, s2 = seed;
			do {
				seed = mix(rd8(p) ^ S1, rd8(p + 8) ^ seed);
				s1 = mix(rd8(p + 16) ^ S2, rd8(p + 24) ^ s1);
				s2 = mix(rd8(p + 32) ^ S3, rd8(p + 40) ^ s2);
				p += 48;
				i -= 48;
			} while (i > 48);
			seed ^= s1 ^ s2;
		}
		while (i > 16) {
			seed = mix(rd8(p) ^ S1, rd8(p + 8) ^ seed);
			i -= 16;
			p += 16;
		}
		a = rd8(p + i - 16);
		b = rd8(p + i - 8);
	}
	__uint128_t r = (__uint128_t)(a ^ S1) * (b ^ seed);
	return mix((uint64_t)r ^ S0 ^ len, (uint64_t)(r >> 64) ^ S1);
}

/* ---- per-table state ---- */

struct digest {
	uint64_t sk;  /* sort key: key hash, or the row hash without a key */
	uint64_t rh;  /* row hash over the common columns */
	uint64_t row; /* 1-based data row */
};

struct val {
	char *p;
	size_t n;
	int null;
};

struct side {
	const ds_table *t;
	char **cols;
	size_t ncols;
	const size_t *common; /* [ncommon] this table's index of each common column */
	size_t ncommon;
	size_t key[DS_DIFF_KEY_MAX];
	size_t nkey;
	struct digest *d;
	size_t n, cap;
	uint64_t *want; /* sampled rows, ascending */
	size_t nwant, next;
	struct val **got; /* [nwant] their values, [ncols] each */
	int rc;
	char err[512];
};

/* Runs one pass on both tables, A on a second thread. */
struct job {
	struct side *s;
	int (*fn)(struct side *);
};

static void *job_main(void *arg)
{
	struct job *j = arg;
	j->s->rc = j->fn(j->s);
	return NULL;
}

static int run_both(struct side s[2], int (*fn)(struct side *))
{
	pthread_t th;
	struct job j = { &s[0], fn };
	/* without a thread to be had, the tables go one after the other */
	int threaded = pthread_create(&th, NULL, job_main, &j) == 0;
	if (!threaded)
		job_main(&j);
	s[1].rc = fn(&s[1]);
	if (threaded)
		pthread_join(th, NULL);
	return s[0].rc ? s[0].rc : s[1].rc;
}

static int scan(struct side *s, csv_record_fn fn)
{
	char err[384] = "";
	int rc = s->t->scan(s->t->ud, fn, s, err, sizeof err);
	if (rc == STOP)
		return 0;
	if (rc < 0 && !s->err[0])
		snprintf(s->err, sizeof s->err, "%s: %s", s->t->label, err[0] ? err : strerror(-rc));
	return rc;
}

static int header_rec(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct side *s = ud;
	(void)row;
	(void)line;
	s->cols = xcalloc(nf ? nf : 1, sizeof *s->cols);
	for (size_t i = 0; i < nf; i++)
		s->cols[i] = xstrndup(f[i].p, f[i].n);
	s->ncols = nf;
	return STOP;
}

static int read_header(struct side *s)
{
	int rc = scan(s, header_rec);
	if (rc == 0 && !s->cols) {
		snprintf(s->err, sizeof s->err, "%s: no header row", s->t->label);
		rc = -EINVAL;
	}
	return rc;
}

/* ---- plan: columns by name ---- */

struct name_ix {
	const char *name;
	size_t i;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_ix *)a)->name, ((const struct name_ix *)b)->name);
}

/* Sorted by name; NULL with err filled when a name repeats (label NULL: a
 * repeated name is let be, and find_name returns one of them). */
static struct name_ix *index_names(const char *const *names, size_t stride, size_t n,
				   const char *label, char *err, size_t errlen)
{
	struct name_ix *ix = xmalloc((n ? n : 1) * sizeof *ix);
	for (size_t i = 0; i < n; i++)
		ix[i] = (struct name_ix){ *(const char *const *)((const char *)names + i * stride), i };
	qsort(ix, n, sizeof *ix, name_cmp);
	for (size_t i = 1; label && i < n; i++)
		if (strcmp(ix[i - 1].name, ix[i].name) == 0) {
			snprintf(err, errlen, "%s: column '%.100s' appears twice", label, ix[i].name);
			free(ix);
			return NULL;
		}
	return ix;
}

static const struct name_ix *find_name(const struct name_ix *ix, size_t n, const char *name)
{
	struct name_ix k = { name, 0 };
	return n ? bsearch(&k, ix, n, sizeof *ix, name_cmp) : NULL;
}

struct plan {
	size_t *ca, *cb; /* [ncommon] index of each common column in A and in B */
	size_t ncommon;
	int reordered;
	struct name_ix *ixa, *ixb;
};

static void plan_release(struct plan *p)
{
	xfree(&p->ca);
	xfree(&p->cb);
	xfree(&p->ixa);
	xfree(&p->ixb);
}

static int plan_build(struct side s[2], const ds_diff_opts *o, struct plan *p, char *err,
		      size_t errlen)
{
	p->ixa = index_names((const char *const *)s[0].cols, sizeof(char *), s[0].ncols,
			     s[0].t->label, err, errlen);
	p->ixb = p->ixa ? index_names((const char *const *)s[1].cols, sizeof(char *), s[1].ncols,
				      s[1].t->label, err, errlen)
			: NULL;
	if (!p->ixb)
		return -EINVAL;
	p->ca = xmalloc((s[0].ncols ? s[0].ncols : 1) * sizeof *p->ca);
	p->cb = xmalloc((s[0].ncols ? s[0].ncols : 1) * sizeof *p->cb);
	for (size_t i = 0; i < s[0].ncols; i++) {
		const struct name_ix *e = find_name(p->ixb, s[1].ncols, s[0].cols[i]);
		if (!e)
			continue;
		if (p->ncommon && e->i < p->cb[p->ncommon - 1])
			p->reordered = 1;
		p->ca[p->ncommon] = i;
		p->cb[p->ncommon++] = e->i;
	}
	for (size_t k = 0; k < o->nkey; k++)
		for (int t = 0; t < 2; t++) {
			const struct name_ix *e = find_name(t ? p->ixb : p->ixa, s[t].ncols, o->key[k]);
			if (!e) {
				snprintf(err, errlen, "%s: no key column '%.100s'", s[t].t->label,
					 o->key[k]);
				return -EINVAL;
			}
			s[t].key[k] = e->i;
		}
	for (int t = 0; t < 2; t++) {
		s[t].common = t ? p->cb : p->ca;
		s[t].ncommon = p->ncommon;
		s[t].nkey = o->nkey;
	}
	return 0;
}

/* ---- pass 1: digests ---- */

/* One field into the running hash h. Short fields (most of a table's) take
 * one multiply: (len, a, b) encodes 0..16 bytes without loss (the reads
 * overlap but cover every byte), and h enters the product through b. */
static inline uint64_t field_mix(const csv_field *x, uint64_t h)
{
	const unsigned char *p = (const unsigned char *)x->p;
	size_t len = x->n;
	uint64_t a, b, tag = len == 0 && !x->quoted ? NULL_TAG : 0;
	if (len > 16)
		return ds_hash64(p, len, h ^ tag);
	if (len >= 4) {
		size_t d = (len >> 3) << 2;
		a = rd4(p) << 32 | rd4(p + d);
		b = rd4(p + len - 4) << 32 | rd4(p + len - 4 - d);
	} else if (len > 0) {
		a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
		b = 0;
	} else {
		a = b = 0;
	}
	return mix(a ^ S1 ^ ((uint64_t)len << 56 | tag), b ^ h ^ S2);
}

static inline uint64_t fields_hash(const csv_field *f, const size_t *idx, size_t n, uint64_t h)
{
	for (size_t i = 0; i < n; i++)
		h = field_mix(&f[idx[i]], h);
	/* the sort uses the top bits: spread every bit of h into them */
	return mix(h ^ S0, S3 ^ n);
}

static int width_check(struct side *s, uint64_t line, size_t nf)
{
	if (nf == s->ncols)
		return 0;
	snprintf(s->err, sizeof s->err, "%s: line %llu: %zu fields where the header has %zu",
		 s->t->label, (unsigned long long)line, nf, s->ncols);
	return -EINVAL;
}

static int digest_rec(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct side *s = ud;
	if (row == 0)
		return 0;
	int rc = width_check(s, line, nf);
	if (rc)
		return rc;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 4096;
		s->d = xrealloc(s->d, s->cap * sizeof *s->d);
	}
	uint64_t rh = fields_hash(f, s->common, s->ncommon, SEED_ROW);
	s->d[s->n++] = (struct digest){
		s->nkey ? fields_hash(f, s->key, s->nkey, SEED_KEY) : rh, rh, row
	};
	return 0;
}

static int sk_row_cmp(const void *a, const void *b)
{
	const struct digest *x = a, *y = b;
	if (x->sk != y->sk)
		return x->sk < y->sk ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

/* Sorts by (sk, row), the order invariant 3 needs: one stable counting
 * pass on sk's top bits (about 8 digests a bucket, as sk is a hash), then
 * each bucket by insertion; a large bucket (a repeated sort key: duplicate
 * rows or keys) by qsort, as rows are unique within a table. Returns the
 * sorted array, d or a new one (d freed). */
static struct digest *sort_digests(struct digest *d, size_t n)
{
	if (n < 2)
		return d;
	int bits = 8;
	while (bits < 20 && ((size_t)1 << (bits + 3)) < n)
		bits++;
	size_t nb = (size_t)1 << bits, *start = xcalloc(nb + 1, sizeof *start);
	size_t *next = xmalloc(nb * sizeof *next);
	struct digest *out = xmalloc(n * sizeof *out);
	for (size_t i = 0; i < n; i++)
		start[(d[i].sk >> (64 - bits)) + 1]++;
	for (size_t b = 1; b <= nb; b++)
		start[b] += start[b - 1];
	memcpy(next, start, nb * sizeof *next);
	for (size_t i = 0; i < n; i++)
		out[next[d[i].sk >> (64 - bits)]++] = d[i];
	for (size_t b = 0; b < nb; b++) {
		struct digest *v = out + start[b];
		size_t m = start[b + 1] - start[b];
		if (m > 32) {
			qsort(v, m, sizeof *v, sk_row_cmp);
			continue;
		}
		for (size_t i = 1; i < m; i++) {
			struct digest x = v[i];
			size_t j = i;
			for (; j && v[j - 1].sk > x.sk; j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
	}
	free(start);
	free(next);
	free(d);
	return out;
}

static int digest_pass(struct side *s)
{
	int rc = scan(s, digest_rec);
	if (rc == 0 && !s->d) /* no rows: the merge still wants an array */
		s->d = xmalloc(sizeof *s->d);
	if (rc == 0)
		s->d = sort_digests(s->d, s->n);
	return rc;
}

/* ---- merge ---- */

/* The `limit` lowest `ord` offered: a max-heap on ord. */
struct pick {
	uint64_t ord, a, b;
};

struct heap {
	struct pick *p;
	size_t n, cap;
};

static void heap_down(struct heap *h, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			return;
		if (c + 1 < h->n && h->p[c + 1].ord > h->p[c].ord)
			c++;
		if (h->p[c].ord <= h->p[i].ord)
			return;
		struct pick t = h->p[c];
		h->p[c] = h->p[i];
		h->p[i] = t;
		i = c;
	}
}

static void heap_offer(struct heap *h, uint64_t ord, uint64_t a, uint64_t b)
{
	struct pick x = { ord, a, b };
	if (h->n < h->cap) {
		size_t i = h->n++;
		while (i && h->p[(i - 1) / 2].ord < ord) {
			h->p[i] = h->p[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		h->p[i] = x;
	} else if (h->cap && ord < h->p[0].ord) {
		h->p[0] = x;
		heap_down(h, 0);
	}
}

static int pick_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct pick *)a)->ord, y = ((const struct pick *)b)->ord;
	return x < y ? -1 : x > y;
}

struct result {
	uint64_t added, removed, changed, unchanged, dup_a, dup_b;
	struct heap add, rem, chg;
};

static void removed(struct result *r, uint64_t row)
{
	r->removed++;
	heap_offer(&r->rem, row, row, 0);
}

static void added(struct result *r, uint64_t row)
{
	r->added++;
	heap_offer(&r->add, row, 0, row);
}

static void changed(struct result *r, uint64_t ra, uint64_t rb)
{
	r->changed++;
	heap_offer(&r->chg, ra, ra, rb);
}

static int rh_row_cmp(const void *a, const void *b)
{
	const struct digest *x = a, *y = b;
	if (x->rh != y->rh)
		return x->rh < y->rh ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

static int row_cmp(const void *a, const void *b)
{
	const struct digest *x = a, *y = b;
	return x->row < y->row ? -1 : x->row > y->row;
}

/* A key that repeats: identical rows match first (k-th occurrence with the
 * k-th), then the rest pair up in row order as changed rows. Reorders the
 * group's digests, which the merge no longer needs. */
static void group_dup(struct digest *a, size_t m, struct digest *b, size_t n, struct result *r)
{
	qsort(a, m, sizeof *a, rh_row_cmp);
	qsort(b, n, sizeof *b, rh_row_cmp);
	for (size_t i = 0, j = 0; i < m && j < n;) {
		if (a[i].rh < b[j].rh) {
			i++;
		} else if (a[i].rh > b[j].rh) {
			j++;
		} else {
			/* matched: row UINT64_MAX sorts them after the unmatched */
			a[i++].row = b[j++].row = UINT64_MAX;
			r->unchanged++;
		}
	}
	qsort(a, m, sizeof *a, row_cmp);
	qsort(b, n, sizeof *b, row_cmp);
	size_t i = 0, j = 0;
	for (; i < m && j < n && a[i].row != UINT64_MAX && b[j].row != UINT64_MAX; i++, j++)
		changed(r, a[i].row, b[j].row);
	for (; i < m && a[i].row != UINT64_MAX; i++)
		removed(r, a[i].row);
	for (; j < n && b[j].row != UINT64_MAX; j++)
		added(r, b[j].row);
}

static void group_keyed(struct digest *a, size_t m, struct digest *b, size_t n, struct result *r)
{
	r->dup_a += m > 1 ? m - 1 : 0;
	r->dup_b += n > 1 ? n - 1 : 0;
	if (m == 1 && n == 1) {
		if (a->rh == b->rh)
			r->unchanged++;
		else
			changed(r, a->row, b->row);
	} else if (m > 1 || n > 1) {
		group_dup(a, m, b, n, r);
	} else if (m) {
		removed(r, a->row);
	} else {
		added(r, b->row);
	}
}

/* Equal rows: the first min(m, n) of each side match (invariant 3). */
static void group_rows(struct digest *a, size_t m, struct digest *b, size_t n, struct result *r)
{
	r->unchanged += m < n ? m : n;
	for (size_t i = n; i < m; i++)
		removed(r, a[i].row);
	for (size_t j = m; j < n; j++)
		added(r, b[j].row);
}

static void merge(struct side s[2], int keyed, struct result *r)
{
	struct digest *a = s[0].d, *b = s[1].d;
	size_t na = s[0].n, nb = s[1].n, i = 0, j = 0;
	while (i < na || j < nb) {
		uint64_t k = i < na && (j >= nb || a[i].sk <= b[j].sk) ? a[i].sk : b[j].sk;
		size_t i2 = i, j2 = j;
		while (i2 < na && a[i2].sk == k)
			i2++;
		while (j2 < nb && b[j2].sk == k)
			j2++;
		(keyed ? group_keyed : group_rows)(a + i, i2 - i, b + j, j2 - j, r);
		i = i2;
		j = j2;
	}
}

/* ---- pass 2: the sampled rows' values ---- */

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void want_rows(struct side *s, const struct heap *h1, int second1, const struct heap *h2,
		      int second2)
{
	s->want = xmalloc((h1->n + h2->n + 1) * sizeof *s->want);
	for (size_t i = 0; i < h1->n; i++)
		s->want[s->nwant++] = second1 ? h1->p[i].b : h1->p[i].a;
	for (size_t i = 0; i < h2->n; i++)
		s->want[s->nwant++] = second2 ? h2->p[i].b : h2->p[i].a;
	qsort(s->want, s->nwant, sizeof *s->want, u64_cmp);
	size_t u = 0;
	for (size_t i = 0; i < s->nwant; i++)
		if (!u || s->want[u - 1] != s->want[i])
			s->want[u++] = s->want[i];
	s->nwant = u;
	s->got = xcalloc(u + 1, sizeof *s->got);
}

static int sample_rec(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct side *s = ud;
	if (row == 0 || s->next >= s->nwant || row != s->want[s->next])
		return 0;
	int rc = width_check(s, line, nf);
	if (rc)
		return rc;
	struct val *v = xcalloc(nf ? nf : 1, sizeof *v);
	for (size_t i = 0; i < nf; i++)
		v[i] = (struct val){ xstrndup(f[i].p, f[i].n), f[i].n,
				     f[i].n == 0 && !f[i].quoted };
	s->got[s->next++] = v;
	return s->next == s->nwant ? STOP : 0;
}

static int sample_pass(struct side *s)
{
	if (!s->nwant)
		return 0;
	int rc = scan(s, sample_rec);
	if (rc == 0 && s->next < s->nwant) {
		snprintf(s->err, sizeof s->err, "%s: changed while being read (row %llu is gone)",
			 s->t->label, (unsigned long long)s->want[s->next]);
		rc = -EIO;
	}
	return rc;
}

static const struct val *sampled(const struct side *s, uint64_t row)
{
	const uint64_t *p = bsearch(&row, s->want, s->nwant, sizeof row, u64_cmp);
	return p ? s->got[p - s->want] : NULL;
}

/* ---- JSON ---- */

/* json_object_set_new and json_array_append_new take v even when they fail,
 * and fail on a NULL v: every builder below is checked through these. */
static int jset(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) ? -ENOMEM : 0;
}

static int jpush(json_t *a, json_t *v)
{
	return json_array_append_new(a, v) ? -ENOMEM : 0;
}

static json_t *val_json(const struct val *v)
{
	return v->null ? json_null() : json_stringn(v->p, v->n);
}

/* names[idx[i]] for i < n, or names[i] when idx is NULL. */
static json_t *names_json(char *const *names, const size_t *idx, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (jpush(a, json_string(names[idx ? idx[i] : i])))
			json_decref(a), a = NULL;
	return a;
}

static json_t *row_values(const struct side *s, const struct val *v)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < s->ncols; i++)
		if (jset(o, s->cols[i], val_json(&v[i])))
			json_decref(o), o = NULL;
	return o;
}

static int val_eq(const struct val *x, const struct val *y)
{
	return x->null == y->null && x->n == y->n && memcmp(x->p, y->p, x->n) == 0;
}

static json_t *change_json(const struct side s[2], const struct pick *pk)
{
	const struct val *va = sampled(&s[0], pk->a), *vb = sampled(&s[1], pk->b);
	json_t *o = json_pack("{sIsI}", "row_a", (json_int_t)pk->a, "row_b", (json_int_t)pk->b);
	json_t *key = json_object(), *cols = json_object();
	int rc = o && key && cols ? 0 : -ENOMEM;
	for (size_t k = 0; !rc && k < s[1].nkey; k++)
		rc = jset(key, s[1].cols[s[1].key[k]], val_json(&vb[s[1].key[k]]));
	for (size_t c = 0; !rc && c < s[0].ncommon; c++) {
		const struct val *x = &va[s[0].common[c]], *y = &vb[s[1].common[c]];
		if (!val_eq(x, y))
			rc = jset(cols, s[0].cols[s[0].common[c]],
				  json_pack("{soso}", "from", val_json(x), "to", val_json(y)));
	}
	if (!rc)
		rc = jset(o, "key", key);
	key = NULL;
	if (!rc)
		rc = jset(o, "columns", cols);
	cols = NULL;
	json_decref(key);
	json_decref(cols);
	if (rc)
		json_decref(o), o = NULL;
	return o;
}

static json_t *samples_json(const struct side s[2], struct result *r)
{
	json_t *o = json_object(), *add = json_array(), *rem = json_array(), *chg = json_array();
	int rc = o && add && rem && chg ? 0 : -ENOMEM;
	qsort(r->add.p, r->add.n, sizeof *r->add.p, pick_cmp);
	qsort(r->rem.p, r->rem.n, sizeof *r->rem.p, pick_cmp);
	qsort(r->chg.p, r->chg.n, sizeof *r->chg.p, pick_cmp);
	for (size_t i = 0; !rc && i < r->add.n; i++)
		rc = jpush(add, json_pack("{sIso}", "row", (json_int_t)r->add.p[i].b, "values",
					  row_values(&s[1], sampled(&s[1], r->add.p[i].b))));
	for (size_t i = 0; !rc && i < r->rem.n; i++)
		rc = jpush(rem, json_pack("{sIso}", "row", (json_int_t)r->rem.p[i].a, "values",
					  row_values(&s[0], sampled(&s[0], r->rem.p[i].a))));
	for (size_t i = 0; !rc && i < r->chg.n; i++)
		rc = jpush(chg, change_json(s, &r->chg.p[i]));
	if (!rc && !(rc = jset(o, "added", add)) && !(rc = jset(o, "removed", rem)))
		rc = jset(o, "changed", chg);
	else
		json_decref(add), json_decref(rem), json_decref(chg);
	if (rc)
		json_decref(o), o = NULL;
	return o;
}

/* Common columns whose types both sides name and that differ. */
static json_t *retyped_json(const struct side s[2], const struct plan *p, const ds_diff_opts *o,
			    int *rc)
{
	json_t *a = json_array();
	struct name_ix *ta = NULL, *tb = NULL;
	*rc = a ? 0 : -ENOMEM;
	if (*rc || !o->ntypes_a || !o->ntypes_b || !o->types_a || !o->types_b)
		goto out;
	/* a profile is the caller's: a name it repeats is not the table's fault */
	ta = index_names(&o->types_a[0].name, sizeof *o->types_a, o->ntypes_a, NULL, NULL, 0);
	tb = index_names(&o->types_b[0].name, sizeof *o->types_b, o->ntypes_b, NULL, NULL, 0);
	for (size_t c = 0; !*rc && c < p->ncommon; c++) {
		const char *name = s[0].cols[p->ca[c]];
		const struct name_ix *x = find_name(ta, o->ntypes_a, name);
		const struct name_ix *y = find_name(tb, o->ntypes_b, name);
		const char *fa = x ? o->types_a[x->i].type : NULL;
		const char *fb = y ? o->types_b[y->i].type : NULL;
		if (fa && fb && strcmp(fa, fb) != 0)
			*rc = jpush(a, json_pack("{ssssss}", "column", name, "from", fa, "to", fb));
	}
out:
	free(ta);
	free(tb);
	if (*rc)
		json_decref(a), a = NULL;
	return a;
}

static json_t *schema_json(const struct side s[2], const struct plan *p, const ds_diff_opts *o)
{
	size_t *only_a = xmalloc((s[0].ncols + 1) * sizeof *only_a), nadd = 0, nrem = 0;
	size_t *only_b = xmalloc((s[1].ncols + 1) * sizeof *only_b);
	for (size_t i = 0; i < s[0].ncols; i++)
		if (!find_name(p->ixb, s[1].ncols, s[0].cols[i]))
			only_a[nrem++] = i;
	for (size_t i = 0; i < s[1].ncols; i++)
		if (!find_name(p->ixa, s[0].ncols, s[1].cols[i]))
			only_b[nadd++] = i;
	int rc;
	json_t *retyped = retyped_json(s, p, o, &rc);
	int changed = nadd || nrem || p->reordered || (retyped && json_array_size(retyped));
	json_t *j = rc ? NULL
		       : json_pack("{sbsososososbso}", "changed", changed, "columns_a",
				   names_json(s[0].cols, NULL, s[0].ncols), "columns_b",
				   names_json(s[1].cols, NULL, s[1].ncols), "added",
				   names_json(s[1].cols, only_b, nadd), "removed",
				   names_json(s[0].cols, only_a, nrem), "reordered", p->reordered,
				   "retyped", retyped);
	free(only_a);
	free(only_b);
	return j;
}

static json_t *key_json(const ds_diff_opts *o)
{
	return o->nkey ? names_json((char *const *)o->key, NULL, o->nkey) : json_null();
}

static json_t *result_json(const struct side s[2], const struct plan *p, const ds_diff_opts *o,
			   struct result *r)
{
	json_t *j = json_pack("{sbsos{sIsI}sos{sIsIsIsI}sIso}", "identical", 0, "key", key_json(o),
			      "rows", "a", (json_int_t)s[0].n, "b", (json_int_t)s[1].n, "schema",
			      schema_json(s, p, o), "counts", "added", (json_int_t)r->added,
			      "removed", (json_int_t)r->removed, "changed", (json_int_t)r->changed,
			      "unchanged", (json_int_t)r->unchanged, "limit", (json_int_t)o->limit,
			      "samples", samples_json(s, r));
	if (j && o->nkey &&
	    (jset(j, "key_unique", json_boolean(!r->dup_a && !r->dup_b)) ||
	     jset(j, "duplicate_keys", json_pack("{sIsI}", "a", (json_int_t)r->dup_a, "b",
						 (json_int_t)r->dup_b))))
		json_decref(j), j = NULL;
	return j;
}

/* Equal SHA-256: nothing to read. */
static json_t *identical_json(const ds_diff_opts *o)
{
	return json_pack("{sbsos{sb}s{sisisisi}sIs{s[]s[]s[]}}", "identical", 1, "key",
			 key_json(o), "schema", "changed", 0, "counts", "added", 0, "removed", 0,
			 "changed", 0, "unchanged", 0, "limit", (json_int_t)o->limit, "samples",
			 "added", "removed", "changed");
}

/* ---- entry points ---- */

static void side_release(struct side *s)
{
	for (size_t i = 0; i < s->ncols; i++)
		free(s->cols[i]);
	free(s->cols);
	free(s->d);
	for (size_t i = 0; s->got && i < s->nwant; i++) {
		for (size_t c = 0; s->got[i] && c < s->ncols; c++)
			free(s->got[i][c].p);
		free(s->got[i]);
	}
	free(s->got);
	free(s->want);
}

static int opts_check(const ds_diff_opts *o, char *err, size_t errlen)
{
	if (o->limit > DS_DIFF_LIMIT_MAX) {
		snprintf(err, errlen, "limit %zu is above the maximum %d", o->limit,
			 DS_DIFF_LIMIT_MAX);
		return -EINVAL;
	}
	if (o->nkey > DS_DIFF_KEY_MAX) {
		snprintf(err, errlen, "a key of %zu columns (at most %d)", o->nkey, DS_DIFF_KEY_MAX);
		return -EINVAL;
	}
	return 0;
}

int ds_diff_tables(const ds_table *a, const ds_table *b, const ds_diff_opts *o, json_t **out,
		   char *err, size_t errlen)
{
	struct side s[2] = { { .t = a }, { .t = b } };
	struct plan p = { 0 };
	struct result r = { 0 };
	json_t *j = NULL;
	int rc = opts_check(o, err, errlen);
	if (rc)
		return rc;
	if (o->sha_a && o->sha_b && strcasecmp(o->sha_a, o->sha_b) == 0) {
		j = identical_json(o);
		rc = j ? 0 : -ENOMEM;
		goto out;
	}
	if ((rc = run_both(s, read_header)) || (rc = plan_build(s, o, &p, err, errlen)) ||
	    (rc = run_both(s, digest_pass)))
		goto out;
	r.add.cap = r.rem.cap = o->limit;
	r.chg.cap = o->nkey ? o->limit : 0;
	r.add.p = xmalloc((o->limit + 1) * sizeof *r.add.p);
	r.rem.p = xmalloc((o->limit + 1) * sizeof *r.rem.p);
	r.chg.p = xmalloc((o->limit + 1) * sizeof *r.chg.p);
	merge(s, o->nkey > 0, &r);
	want_rows(&s[0], &r.rem, 0, &r.chg, 0);
	want_rows(&s[1], &r.add, 1, &r.chg, 1);
	if ((rc = run_both(s, sample_pass)))
		goto out;
	j = result_json(s, &p, o, &r);
	rc = j ? 0 : -ENOMEM;
out:
	if (rc == -ENOMEM && !j)
		snprintf(err, errlen, "cannot build the result (out of memory)");
	else if (rc && (s[0].err[0] || s[1].err[0]))
		snprintf(err, errlen, "%s", s[0].rc && s[0].err[0] ? s[0].err : s[1].err);
	if (!rc)
		*out = j;
	free(r.add.p);
	free(r.rem.p);
	free(r.chg.p);
	plan_release(&p);
	side_release(&s[0]);
	side_release(&s[1]);
	return rc;
}

/* ---- CSV files through the project's reader ---- */

static int fd_scan(void *ud, csv_record_fn fn, void *fn_ud, char *err, size_t errlen)
{
	int fd = *(const int *)ud, rc = 0;
	csv_reader *r = csv_new(0, fn, fn_ud);
	char *buf = xmalloc(CHUNK);
	off_t off = 0;
	if (!r) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t got = pread(fd, buf, CHUNK, off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "read: %s", strerror(-rc));
			goto out;
		}
		if (got == 0)
			break;
		off += got;
		if ((rc = csv_feed(r, buf, (size_t)got)))
			break;
	}
	if (!rc)
		rc = csv_finish(r);
	uint64_t line, field;
	const char *why = rc < 0 ? csv_error(r, &line, &field) : NULL;
	if (why)
		snprintf(err, errlen, "line %llu, field %llu: %s", (unsigned long long)line,
			 (unsigned long long)field, why);
out:
	free(buf);
	csv_free(&r);
	return rc;
}

int ds_diff_fds(int fd_a, int fd_b, const char *label_a, const char *label_b,
		const ds_diff_opts *o, json_t **out, char *err, size_t errlen)
{
	ds_table a = { fd_scan, &fd_a, label_a ? label_a : "A" };
	ds_table b = { fd_scan, &fd_b, label_b ? label_b : "B" };
	/* advisory: a failure only costs read-ahead */
	(void)posix_fadvise(fd_a, 0, 0, POSIX_FADV_SEQUENTIAL);
	(void)posix_fadvise(fd_b, 0, 0, POSIX_FADV_SEQUENTIAL);
	return ds_diff_tables(&a, &b, o, out, err, errlen);
}

int ds_diff_paths(const char *path_a, const char *path_b, const ds_diff_opts *o, json_t **out,
		  char *err, size_t errlen)
{
	int fa = open(path_a, O_RDONLY | O_CLOEXEC), fb = -1, rc;
	if (fa < 0 || (fb = open(path_b, O_RDONLY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", fa < 0 ? path_a : path_b, strerror(-rc));
		goto out;
	}
	rc = ds_diff_fds(fa, fb, path_a, path_b, o, out, err, errlen);
out:
	if (fa >= 0)
		close(fa);
	if (fb >= 0)
		close(fb);
	return rc;
}
