/* Quantile sketches (DDSketch: Masson, Rim, Lee, VLDB 2019) and the
 * per-minute rollups of a block.
 *
 * A value v > 0 falls in bin key = ceil(log_gamma(v)), gamma = (1 + a) /
 * (1 - a); the bin's estimate 2 gamma^key / (gamma + 1) is within a
 * (relative) of every value in it. Negative values use a second store on
 * |v|; |v| < MX_SK_MIN counts as zero. Sketches merge by adding bins, so
 * minute sketches kept at ingest add up to any step that is a multiple
 * of a minute.
 *
 * Rollup blob: byte decimals (0xff: doubles), varint entries, zigzag
 * varint first minute, then per minute: varint minute gap, varint count,
 * and min, max, sum: as doubles, or as zigzag(min mantissa - previous
 * min mantissa), varint(max - min), varint(sum - count * min) when the
 * block's values are decimals (a few bytes instead of 24).
 * Sketch blob, one entry per minute in the same order: byte flags (1 zero,
 * 2 negative, 4 positive bins), varint zero count, then per store: varint
 * bins, zigzag(first key - previous minute's first key), varint count,
 * and per further bin one byte (gap - 1) << 6 | count when gap ≤ 3 and
 * count < 64, else 0xc0, varint gap - 1, varint count. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "metrics/mx_db_int.h"

static double sk_gamma, sk_inv_lng, sk_lng;
static pthread_once_t sk_once = PTHREAD_ONCE_INIT;

static void sk_init(void)
{
	sk_gamma = (1 + MX_SK_ALPHA) / (1 - MX_SK_ALPHA);
	sk_lng = log(sk_gamma);
	sk_inv_lng = 1 / sk_lng;
}

int32_t mx_sk_key(double absv)
{
	pthread_once(&sk_once, sk_init);
	return (int32_t)ceil(log(absv) * sk_inv_lng);
}

static double sk_value(int32_t key)
{
	return exp(key * sk_lng) * 2 / (sk_gamma + 1);
}

static void st_reserve(mx_sk_store *s, uint32_t len)
{
	if (len <= s->cap)
		return;
	uint32_t cap = s->cap ? s->cap : 16;
	while (cap < len)
		cap *= 2;
	s->c = xrealloc(s->c, cap * sizeof *s->c);
	s->cap = cap;
}

/* Folds the lowest bins so that key fits within MX_SK_BINS of them. */
static void st_collapse_for(mx_sk_store *s, int32_t key)
{
	int64_t newlo = (int64_t)key - MX_SK_BINS + 1;
	uint64_t folded = 0;
	uint32_t drop = (uint32_t)(newlo - s->lo);
	if (drop >= s->len) {
		for (uint32_t i = 0; i < s->len; i++)
			folded += s->c[i];
		s->lo = (int32_t)newlo;
		s->len = 1;
		s->c[0] = folded;
		return;
	}
	for (uint32_t i = 0; i <= drop; i++)
		folded += s->c[i];
	memmove(s->c, s->c + drop, (s->len - drop) * sizeof *s->c);
	s->c[0] = folded;
	s->lo = (int32_t)newlo;
	s->len -= drop;
}

static void st_add(mx_sk_store *s, int32_t key, uint64_t c)
{
	if (s->len == 0) {
		st_reserve(s, 16);
		s->lo = key;
		s->len = 1;
		s->c[0] = c;
		return;
	}
	int64_t hi = (int64_t)s->lo + s->len - 1;
	if (key < s->lo) {
		if (hi - key >= MX_SK_BINS)
			key = (int32_t)(hi - MX_SK_BINS + 1);
		if (key < s->lo) {
			uint32_t shift = (uint32_t)(s->lo - key);
			st_reserve(s, s->len + shift);
			memmove(s->c + shift, s->c, s->len * sizeof *s->c);
			memset(s->c, 0, shift * sizeof *s->c);
			s->lo = key;
			s->len += shift;
		}
	} else if (key > hi) {
		if ((int64_t)key - s->lo >= MX_SK_BINS)
			st_collapse_for(s, key);
		uint32_t len = (uint32_t)(key - s->lo + 1);
		st_reserve(s, len);
		memset(s->c + s->len, 0, (len - s->len) * sizeof *s->c);
		s->len = len;
	}
	s->c[key - s->lo] += c;
}

void mx_sk_add_key(mx_sk *s, int sign, int32_t key, uint64_t count)
{
	s->n += count;
	if (sign == 0)
		s->zero += count;
	else
		st_add(sign > 0 ? &s->pos : &s->neg, key, count);
}

void mx_sk_add(mx_sk *s, double v)
{
	double a = fabs(v);
	if (a < MX_SK_MIN)
		mx_sk_add_key(s, 0, 0, 1);
	else
		mx_sk_add_key(s, v > 0 ? 1 : -1, mx_sk_key(a), 1);
}

double mx_sk_quantile(const mx_sk *s, double q)
{
	pthread_once(&sk_once, sk_init);
	if (s->n == 0)
		return NAN;
	double rank = floor(q * (double)(s->n - 1));
	uint64_t cum = 0;
	for (uint32_t i = s->neg.len; i-- > 0;) {
		cum += s->neg.c[i];
		if ((double)cum > rank)
			return -sk_value(s->neg.lo + (int32_t)i);
	}
	cum += s->zero;
	if ((double)cum > rank)
		return 0;
	for (uint32_t i = 0; i < s->pos.len; i++) {
		cum += s->pos.c[i];
		if ((double)cum > rank)
			return sk_value(s->pos.lo + (int32_t)i);
	}
	return s->pos.len ? sk_value(s->pos.lo + (int32_t)s->pos.len - 1) : 0;
}

void mx_sk_reset(mx_sk *s)
{
	s->n = s->zero = 0;
	s->pos.len = s->neg.len = 0;
}

void mx_sk_release(mx_sk *s)
{
	free(s->pos.c);
	free(s->neg.c);
	*s = (mx_sk){ 0 };
}

/* ---- Rollups -------------------------------------------------------- */

typedef struct ment {
	int64_t minute;
	size_t i, n; /* points [i, i + n) */
	double sum, min, max;
	__int128 msum;
	int64_t mmin, mmax;
} ment;

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Sorts keys ascending. A span's keys are few distinct ones, repeated (a
 * bin holds values within 1% of each other), in a narrow range: counting
 * them is linear, where qsort's calls to cmp_i64 were the most of a
 * flush. A wide range (or a handful of keys) takes the comparison sort. */
static void keys_sort(int64_t *k, size_t n)
{
	if (n < 2)
		return;
	int64_t lo = k[0], hi = k[0];
	for (size_t i = 1; i < n; i++) {
		lo = k[i] < lo ? k[i] : lo;
		hi = k[i] > hi ? k[i] : hi;
	}
	uint64_t range = (uint64_t)(hi - lo) + 1;
	if (n < 16 || range > 4 * (uint64_t)n + 256) {
		qsort(k, n, sizeof *k, cmp_i64);
		return;
	}
	uint32_t *cnt = xcalloc(range, sizeof *cnt);
	for (size_t i = 0; i < n; i++)
		cnt[k[i] - lo]++;
	size_t o = 0;
	for (uint64_t r = 0; r < range; r++)
		for (uint32_t c = cnt[r]; c; c--)
			k[o++] = lo + (int64_t)r;
	free(cnt);
}

/* One store's bins (keys sorted, repeats counted). */
static void sk_put_store(mx_bytes *sk, const int64_t *keys, size_t n, int32_t *prev)
{
	size_t nb = 0;
	for (size_t i = 0; i < n; i++)
		nb += i == 0 || keys[i] != keys[i - 1];
	mx_put_uvar(sk, nb);
	mx_put_svar(sk, keys[0] - *prev);
	*prev = (int32_t)keys[0];
	int64_t last = keys[0];
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && keys[j] == keys[i])
			j++;
		uint64_t cnt = j - i;
		if (i == 0) {
			mx_put_uvar(sk, cnt);
		} else {
			uint64_t g = (uint64_t)(keys[i] - last - 1);
			if (g <= 2 && cnt < 64) {
				mx_bytes_put(sk, &(uint8_t){ (uint8_t)(g << 6 | cnt) }, 1);
			} else {
				mx_bytes_put(sk, &(uint8_t){ 0xc0 }, 1);
				mx_put_uvar(sk, g);
				mx_put_uvar(sk, cnt);
			}
		}
		last = keys[i];
		i = j;
	}
}

static void sk_put_minute(mx_bytes *sk, const double *v, size_t n, int64_t *kbuf,
			  int32_t prev[2])
{
	size_t nneg = 0, npos = 0;
	uint64_t zero = 0;
	/* Negative keys first (from the end of kbuf), positive from the start. */
	for (size_t i = 0; i < n; i++) {
		double a = fabs(v[i]);
		if (a < MX_SK_MIN)
			zero++;
		else if (v[i] > 0)
			kbuf[npos++] = mx_sk_key(a);
		else
			kbuf[n - 1 - nneg++] = mx_sk_key(a);
	}
	uint8_t flags = (zero ? 1 : 0) | (nneg ? 2 : 0) | (npos ? 4 : 0);
	mx_bytes_put(sk, &flags, 1);
	if (zero)
		mx_put_uvar(sk, zero);
	if (nneg) {
		keys_sort(kbuf + n - nneg, nneg);
		sk_put_store(sk, kbuf + n - nneg, nneg, &prev[0]);
	}
	if (npos) {
		keys_sort(kbuf, npos);
		sk_put_store(sk, kbuf, npos, &prev[1]);
	}
}

static size_t minutes_of(const int64_t *ts, const double *v, size_t n, int k, ment **out)
{
	ment *e = xmalloc(n * sizeof *e);
	size_t ne = 0;
	for (size_t i = 0; i < n; i++) {
		int64_t mi = mx_floor_div(ts[i], MX_ROLL_MS);
		int64_t m = k >= 0 ? (int64_t)nearbyint(v[i] * mx_p10[k]) : 0;
		if (ne == 0 || e[ne - 1].minute != mi) {
			e[ne++] = (ment){ .minute = mi, .i = i, .sum = 0, .min = v[i], .max = v[i],
					  .mmin = m, .mmax = m };
		}
		ment *x = &e[ne - 1];
		x->n++;
		x->sum += v[i];
		x->msum += m;
		if (v[i] < x->min)
			x->min = v[i];
		if (v[i] > x->max)
			x->max = v[i];
		if (m < x->mmin)
			x->mmin = m;
		if (m > x->mmax)
			x->mmax = m;
	}
	*out = e;
	return ne;
}

void mx_roll_encode(const int64_t *ts, const double *v, size_t n, int k, mx_bytes *roll,
		    mx_bytes *sk)
{
	ment *e = NULL;
	size_t ne = minutes_of(ts, v, n, k, &e);
	/* Decimal stats only when every offset fits a varint. */
	for (size_t i = 0; k >= 0 && i < ne; i++) {
		__int128 off = e[i].msum - (__int128)e[i].n * e[i].mmin;
		if (off < 0 || off > (__int128)UINT64_MAX || e[i].mmax < e[i].mmin)
			k = -1;
	}
	mx_bytes_put(roll, &(uint8_t){ k >= 0 ? (uint8_t)k : 0xff }, 1);
	mx_put_uvar(roll, ne);
	mx_put_svar(roll, e[0].minute);
	int64_t prev_min = 0, prev_minute = e[0].minute;
	int32_t kprev[2] = { 0, 0 };
	int64_t *kbuf = xmalloc(n * sizeof *kbuf);
	for (size_t i = 0; i < ne; i++) {
		mx_put_uvar(roll, (uint64_t)(e[i].minute - prev_minute));
		prev_minute = e[i].minute;
		mx_put_uvar(roll, e[i].n);
		if (k >= 0) {
			mx_put_svar(roll, e[i].mmin - prev_min);
			prev_min = e[i].mmin;
			mx_put_uvar(roll, (uint64_t)(e[i].mmax - e[i].mmin));
			mx_put_uvar(roll, (uint64_t)(e[i].msum - (__int128)e[i].n * e[i].mmin));
		} else {
			mx_put_f64(roll, e[i].min);
			mx_put_f64(roll, e[i].max);
			mx_put_f64(roll, e[i].sum);
		}
		if (sk)
			sk_put_minute(sk, v + e[i].i, e[i].n, kbuf, kprev);
	}
	free(kbuf);
	free(e);
}

int mx_roll_open(mx_roll_rd *it, const uint8_t *roll, size_t rlen, const uint8_t *sk, size_t slen)
{
	*it = (mx_roll_rd){ .r = { roll, roll + rlen, 0 }, .s = { sk, sk + slen, 0 },
			    .has_sk = sk != NULL };
	uint8_t d = mx_get_u8(&it->r);
	it->dec = d == 0xff ? -1 : d;
	it->left = (size_t)mx_get_uvar(&it->r);
	it->minute = mx_get_svar(&it->r);
	if (it->r.err || it->dec > MX_DEC_MAX)
		return -EINVAL;
	return 0;
}

static void sk_get_store(mx_rd *s, int32_t prev[2], int sign, mx_sk *dst)
{
	uint64_t nb = mx_get_uvar(s);
	int32_t *p = &prev[sign > 0];
	int64_t key = *p + mx_get_svar(s);
	*p = (int32_t)key;
	uint64_t cnt = mx_get_uvar(s);
	if (dst && !s->err)
		mx_sk_add_key(dst, sign, (int32_t)key, cnt);
	for (uint64_t b = 1; b < nb && !s->err; b++) {
		uint8_t x = mx_get_u8(s);
		uint64_t g;
		if (x == 0xc0) {
			g = mx_get_uvar(s);
			cnt = mx_get_uvar(s);
		} else {
			g = x >> 6;
			cnt = x & 63;
		}
		key += (int64_t)g + 1;
		if (key > INT32_MAX || key < INT32_MIN)
			s->err = 1;
		if (dst && !s->err)
			mx_sk_add_key(dst, sign, (int32_t)key, cnt);
	}
}

/* One sketch as sk_put_minute wrote it. */
static int sk_get(mx_rd *s, int32_t prev[2], mx_sk *dst)
{
	uint8_t flags = mx_get_u8(s);
	if (flags & 1) {
		uint64_t z = mx_get_uvar(s);
		if (dst && !s->err)
			mx_sk_add_key(dst, 0, 0, z);
	}
	if (flags & 2)
		sk_get_store(s, prev, -1, dst);
	if (flags & 4)
		sk_get_store(s, prev, 1, dst);
	return s->err ? -EINVAL : 0;
}

int mx_roll_sketch(mx_roll_rd *it, mx_sk *dst)
{
	if (!it->has_sk || !it->sk_due)
		return it->has_sk ? 0 : -EINVAL;
	it->sk_due = 0;
	return sk_get(&it->s, it->key_prev, dst);
}

void mx_span_encode(const int64_t *ts, const double *v, size_t n, mx_bytes *sk)
{
	size_t ns = 0;
	for (size_t i = 0; i < n; i++)
		ns += i == 0 || mx_floor_div(ts[i], MX_SPAN_MS) != mx_floor_div(ts[i - 1], MX_SPAN_MS);
	mx_put_uvar(sk, ns);
	int64_t *kbuf = xmalloc(n * sizeof *kbuf), prev = 0;
	int32_t kprev[2] = { 0, 0 };
	for (size_t i = 0; i < n;) {
		int64_t sp = mx_floor_div(ts[i], MX_SPAN_MS);
		size_t j = i;
		while (j < n && mx_floor_div(ts[j], MX_SPAN_MS) == sp)
			j++;
		mx_put_svar(sk, sp - prev);
		prev = sp;
		sk_put_minute(sk, v + i, j - i, kbuf, kprev);
		i = j;
	}
	free(kbuf);
}

int mx_span_open(mx_span_rd *it, const uint8_t *sk, size_t slen)
{
	*it = (mx_span_rd){ .s = { sk, sk + slen, 0 } };
	it->left = (size_t)mx_get_uvar(&it->s);
	return it->s.err ? -EINVAL : 0;
}

int mx_span_next(mx_span_rd *it, int64_t *ts)
{
	if (it->left == 0)
		return 0;
	it->left--;
	it->span = (int64_t)((uint64_t)it->span + (uint64_t)mx_get_svar(&it->s));
	if (it->s.err || it->span >= INT64_MAX / MX_SPAN_MS || it->span < INT64_MIN / MX_SPAN_MS)
		return -EINVAL;
	*ts = it->span * MX_SPAN_MS;
	return 1;
}

int mx_span_sketch(mx_span_rd *it, mx_sk *dst)
{
	return sk_get(&it->s, it->key_prev, dst);
}

int mx_roll_next(mx_roll_rd *it, mx_roll *out)
{
	/* A minute whose sketch was not asked for is skipped over. */
	if (it->sk_due && mx_roll_sketch(it, NULL))
		return -EINVAL;
	if (it->left == 0)
		return 0;
	it->left--;
	mx_rd *r = &it->r;
	it->minute += (int64_t)mx_get_uvar(r);
	out->ts = it->minute * MX_ROLL_MS;
	out->count = mx_get_uvar(r);
	if (it->dec >= 0) {
		double scale = mx_p10[it->dec];
		it->min_m += mx_get_svar(r);
		uint64_t range = mx_get_uvar(r), off = mx_get_uvar(r);
		out->min = (double)it->min_m / scale;
		out->max = (double)(it->min_m + (int64_t)range) / scale;
		__int128 sum = (__int128)out->count * it->min_m + off;
		out->sum = (double)sum / scale;
	} else {
		out->min = mx_get_f64(r);
		out->max = mx_get_f64(r);
		out->sum = mx_get_f64(r);
	}
	it->sk_due = it->has_sk;
	return r->err ? -EINVAL : 1;
}
