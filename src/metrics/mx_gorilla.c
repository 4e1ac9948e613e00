/* The block codec of the metrics store: points sorted by time, compressed
 * as in Gorilla (Pelkonen et al., VLDB 2015) with one change for decimals.
 *
 * Layout of a block:
 *   varint n, zigzag varint first ts, byte mode (value mode | MODE_REGULAR)
 *   with MODE_REGULAR: zigzag varint the one difference of times
 *   value mode 0 (XOR): nothing more; 1/2 (decimal delta / delta of delta,
 *   fixed width) and 3/4 (the same, Rice codes): byte k (decimals), byte
 *   w (bit width or Rice parameter), zigzag varint first mantissa
 *   then one bit stream: n - 1 timestamps (none when regular), the values.
 *
 * Timestamps: when every difference is the same (a scraper, a collector)
 * the header holds it and the stream nothing. Otherwise the first
 * difference, then differences of differences, each in a prefix class
 * ('0' zero, '10' 7 bits, '110' 9, '1110' 12, '11110' 32, '11111' 64) of
 * its zigzag form.
 *
 * Values: XOR with the previous double ('0' same, '10' inside the previous
 * window of meaningful bits, '11' + 5 bits leading zeros + 6 bits length).
 * Values typed as decimals ("23.47", counters) XOR badly (the mantissas of
 * 23.47 and 23.51 differ in ~45 bits), so when every value of the block is
 * exactly m / 10^k for integers m (checked bit for bit, so decoding gives
 * the same doubles), the integer differences (or differences of
 * differences, whichever is smaller) are stored instead, each as '0' + w
 * bits when it fits the block's width w, else '1' + 6 bits length + bits;
 * or as Rice codes of parameter w (zigzag z: z >> w in unary, ones ended
 * by a '0', then the low w bits; past RICE_ESC ones: 6 bits length, bits),
 * which follow bell-shaped noise (a gauge's jitter) within a fraction of a
 * bit where one width pays for the largest value. The cheapest is kept.
 * Either way decoding gives back every double bit for bit. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "metrics/mx_db_int.h"

const double mx_p10[MX_DEC_MAX + 1] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9 };

void mx_bytes_grow(mx_bytes *b, size_t more)
{
	size_t cap = b->cap ? b->cap * 2 : 256;
	while (cap < b->len + more)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void mx_bytes_put(mx_bytes *b, const void *p, size_t n)
{
	mx_bytes_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void mx_bytes_release(mx_bytes *b)
{
	free(b->p);
	*b = (mx_bytes){ 0 };
}

uint64_t mx_get_uvar(mx_rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->err || r->p >= r->end) {
			r->err = 1;
			return 0;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->err = 1;
	return 0;
}

uint8_t mx_get_u8(mx_rd *r)
{
	if (r->err || r->p >= r->end) {
		r->err = 1;
		return 0;
	}
	return *r->p++;
}

double mx_get_f64(mx_rd *r)
{
	if (r->err || r->end - r->p < 8) {
		r->err = 1;
		return 0;
	}
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	double v;
	memcpy(&v, &u, 8);
	return v;
}

/* ---- Bit streams ---------------------------------------------------- */

typedef struct bw {
	mx_bytes *b;
	uint64_t acc; /* pending bits, the oldest highest */
	int n;        /* how many (< 8 between calls) */
} bw;

static inline void bw_put(bw *w, uint64_t v, int nbits)
{
	if (nbits > 32) {
		bw_put(w, v >> 32, nbits - 32);
		nbits = 32;
	}
	if (nbits < 64)
		v &= (1ULL << nbits) - 1;
	w->acc = (w->acc << nbits) | v;
	w->n += nbits;
	while (w->n >= 8) {
		w->n -= 8;
		w->b->p[w->b->len++] = (uint8_t)(w->acc >> w->n);
	}
}

static void bw_flush(bw *w)
{
	if (w->n)
		w->b->p[w->b->len++] = (uint8_t)(w->acc << (8 - w->n));
	w->n = 0;
}

typedef struct br {
	const uint8_t *p, *end;
	uint64_t acc; /* the next bits, highest first */
	int n;
	int err;
	uint64_t avail, used; /* bits in the range, bits taken (zeros past the end) */
} br;

static inline void br_fill(br *r)
{
	while (r->n <= 56) {
		uint64_t c = r->p < r->end ? *r->p++ : 0;
		r->acc |= c << (56 - r->n);
		r->n += 8;
	}
}

static inline uint64_t br_get(br *r, int nbits)
{
	if (nbits == 0)
		return 0;
	if (nbits > 32)
		return (br_get(r, nbits - 32) << 32) | br_get(r, 32);
	if (r->n < nbits)
		br_fill(r);
	uint64_t v = r->acc >> (64 - nbits);
	r->acc <<= nbits;
	r->n -= nbits;
	r->used += (uint64_t)nbits;
	return v;
}

/* How many leading 1 bits (at most max) followed by a 0 (unless max). */
static inline int br_prefix(br *r, int max)
{
	int k = 0;
	while (k < max && br_get(r, 1))
		k++;
	return k;
}

static inline int bitlen(uint64_t z)
{
	return z ? 64 - __builtin_clzll(z) : 0;
}

/* ---- Timestamps ----------------------------------------------------- */

static const int ts_bits[6] = { 0, 7, 9, 12, 32, 64 };

static void ts_put(bw *w, int64_t d)
{
	uint64_t z = mx_zz(d);
	int c = 0;
	while (c < 5 && bitlen(z) > ts_bits[c])
		c++;
	/* c ones then a zero (none after five ones). */
	if (c < 5)
		bw_put(w, ((1ULL << c) - 1) << 1, c + 1);
	else
		bw_put(w, 0x1f, 5);
	bw_put(w, z, ts_bits[c]);
}

static int64_t ts_get(br *r)
{
	int c = br_prefix(r, 5);
	return mx_unzz(br_get(r, ts_bits[c]));
}

/* ---- Decimal mantissas ---------------------------------------------- */

static int dec_of(double v)
{
	for (int k = 0; k <= MX_DEC_MAX; k++) {
		double x = v * mx_p10[k];
		if (!(fabs(x) < 9007199254740992.0))
			return -1;
		double m = nearbyint(x);
		double back = m / mx_p10[k];
		if (memcmp(&back, &v, sizeof v) == 0)
			return k;
	}
	return -1;
}

int mx_decimals(const double *v, size_t n)
{
	int k = 0, again = 0;
	size_t last = 0; /* v[last] raised k: v[0..last) were checked at a smaller k */
	for (size_t i = 0; i < n; i++) {
		/* Most values repeat the block's decimals: check that first. */
		double x = v[i] * mx_p10[k];
		if (fabs(x) < 9007199254740992.0) {
			double back = nearbyint(x) / mx_p10[k];
			if (memcmp(&back, &v[i], sizeof back) == 0)
				continue;
		}
		int ki = dec_of(v[i]);
		if (ki < 0)
			return -1;
		if (ki > k) {
			k = ki;
			last = i; /* dec_of checked it at ki, as below */
		} else {
			again = 1; /* fewer decimals, not checked at k */
		}
	}
	/* A larger k must still hold for the values checked before it was
	 * raised (it does for exact decimals, but the check is cheap and makes
	 * it certain); the rest were checked at k already. */
	for (size_t i = 0; i < (again ? n : last); i++) {
		double x = v[i] * mx_p10[k];
		if (!(fabs(x) < 9007199254740992.0))
			return -1;
		double back = nearbyint(x) / mx_p10[k];
		if (memcmp(&back, &v[i], sizeof back) != 0)
			return -1;
	}
	return k;
}

/* Bits for the zigzag forms z[0..n) at width w. */
static uint64_t width_cost(const int *hist, int w)
{
	uint64_t c = 0;
	for (int l = 0; l <= 64; l++)
		c += (uint64_t)hist[l] * (l <= w ? 1 + (uint64_t)w : 7 + (uint64_t)l);
	return c;
}

/* The cheapest width; WIDTH_PLAIN set: every value fits, no flag bits. */
#define WIDTH_PLAIN 0x80

static int best_width(const int *hist, uint64_t *cost)
{
	int best = 0, maxl = 0;
	uint64_t n = 0;
	*cost = width_cost(hist, 0);
	for (int w = 0; w <= 64; w++) {
		uint64_t c = width_cost(hist, w);
		if (c < *cost) {
			*cost = c;
			best = w;
		}
		if (hist[w]) {
			maxl = w;
			n += (uint64_t)hist[w];
		}
	}
	if (n * (uint64_t)maxl <= *cost) {
		*cost = n * (uint64_t)maxl;
		best = maxl | WIDTH_PLAIN;
	}
	return best;
}

static void int_put(bw *w, uint64_t z, int width)
{
	if (width & WIDTH_PLAIN) {
		bw_put(w, z, width & ~WIDTH_PLAIN);
		return;
	}
	int l = bitlen(z);
	if (l <= width) {
		bw_put(w, 0, 1);
		bw_put(w, z, width);
	} else {
		bw_put(w, 1, 1);
		bw_put(w, (uint64_t)(l - 1), 6);
		bw_put(w, z, l);
	}
}

static uint64_t int_get(br *r, int width)
{
	if (width & WIDTH_PLAIN)
		return br_get(r, width & ~WIDTH_PLAIN);
	if (!br_get(r, 1))
		return br_get(r, width);
	int l = (int)br_get(r, 6) + 1;
	return br_get(r, l);
}

/* ---- Rice codes ----------------------------------------------------- */

#define RICE_ESC 20

static inline uint64_t rice_cost1(uint64_t z, int k)
{
	uint64_t q = z >> k;
	return q < RICE_ESC ? q + 1 + (uint64_t)k : RICE_ESC + 6 + (uint64_t)bitlen(z);
}

/* The cheapest parameter for z[0..n), near the log of their mean. The
 * usual block has small z: the sum fits a uint64_t (exact, as the long
 * double sum then is too) and no z escapes, so a cost is a sum of shifts;
 * both loops vectorize. */
static int rice_best(const uint64_t *z, size_t n, uint64_t *cost)
{
	uint64_t any = 0, s = 0;
	long double sum = 0;
	for (size_t i = 0; i < n; i++)
		any |= z[i];
	if (bitlen(any) + bitlen(n) <= 64) {
		for (size_t i = 0; i < n; i++)
			s += z[i];
		sum = (long double)s;
	} else {
		for (size_t i = 0; i < n; i++)
			sum += (long double)z[i];
	}
	int k0 = n && sum >= (long double)n ? bitlen((uint64_t)(sum / (long double)n)) - 1 : 0;
	int best = -1, lo = k0 > 2 ? k0 - 2 : 0, plain = (any >> lo) < RICE_ESC;
	for (int k = lo; k <= k0 + 2 && k <= 63; k++) {
		uint64_t c = 0;
		if (plain) {
			for (size_t i = 0; i < n; i++)
				c += z[i] >> k;
			c += (uint64_t)n * (1 + (uint64_t)k);
		} else {
			for (size_t i = 0; i < n; i++)
				c += rice_cost1(z[i], k);
		}
		if (best < 0 || c < *cost) {
			*cost = c;
			best = k;
		}
	}
	return best;
}

static inline void rice_put(bw *w, uint64_t z, int k)
{
	uint64_t q = z >> k;
	if (q < RICE_ESC) {
		/* q ones and a zero: at most 21 bits. */
		bw_put(w, ((1ULL << q) - 1) << 1, (int)q + 1);
		bw_put(w, z, k);
	} else {
		bw_put(w, (1ULL << RICE_ESC) - 1, RICE_ESC);
		int l = bitlen(z);
		bw_put(w, (uint64_t)(l - 1), 6);
		bw_put(w, z, l);
	}
}

static inline uint64_t rice_get(br *r, int k)
{
	if (r->n < RICE_ESC + 1)
		br_fill(r);
	/* Past the n valid bits acc holds zeros: the count stops there. */
	int q = __builtin_clzll(~r->acc | 1);
	if (q >= RICE_ESC) {
		br_get(r, RICE_ESC);
		int l = (int)br_get(r, 6) + 1;
		return br_get(r, l);
	}
	r->acc <<= q + 1;
	r->n -= q + 1;
	r->used += (uint64_t)q + 1;
	return ((uint64_t)q << k) | br_get(r, k);
}

/* ---- XOR ------------------------------------------------------------ */

static void xor_put(bw *w, const double *v, size_t n)
{
	uint64_t prev;
	memcpy(&prev, &v[0], 8);
	bw_put(w, prev, 64);
	int lead = -1, trail = 0;
	for (size_t i = 1; i < n; i++) {
		uint64_t cur;
		memcpy(&cur, &v[i], 8);
		uint64_t x = cur ^ prev;
		prev = cur;
		if (!x) {
			bw_put(w, 0, 1);
			continue;
		}
		int l = __builtin_clzll(x), t = __builtin_ctzll(x);
		if (l > 31)
			l = 31;
		if (lead >= 0 && l >= lead && t >= trail) {
			bw_put(w, 2, 2);
			bw_put(w, x >> trail, 64 - lead - trail);
			continue;
		}
		lead = l;
		trail = t;
		int len = 64 - l - t;
		bw_put(w, 3, 2);
		bw_put(w, (uint64_t)l, 5);
		bw_put(w, (uint64_t)(len & 63), 6); /* 64 is written as 0 */
		bw_put(w, x >> t, len);
	}
}

static void xor_get(br *r, double *v, size_t n)
{
	uint64_t prev = br_get(r, 64);
	memcpy(&v[0], &prev, 8);
	int lead = 0, trail = 0;
	for (size_t i = 1; i < n; i++) {
		if (br_get(r, 1)) {
			if (br_get(r, 1)) {
				lead = (int)br_get(r, 5);
				int len = (int)br_get(r, 6);
				if (len == 0)
					len = 64;
				trail = 64 - lead - len;
				if (trail < 0) {
					r->err = 1;
					trail = 0;
				}
			}
			prev ^= br_get(r, 64 - lead - trail) << trail;
		}
		memcpy(&v[i], &prev, 8);
	}
}

/* ---- Blocks --------------------------------------------------------- */

enum { VM_XOR, VM_DELTA, VM_DOD, VM_RICE_DELTA, VM_RICE_DOD };
#define MODE_REGULAR 0x10

void mx_block_encode(const int64_t *ts, const double *v, size_t n, mx_bytes *out)
{
	mx_block_encode_dec(ts, v, n, mx_decimals(v, n), out);
}

void mx_block_encode_dec(const int64_t *ts, const double *v, size_t n, int k, mx_bytes *out)
{
	int mode = VM_XOR, width = 0, regular = n > 1;
	int64_t *m = NULL;
	uint64_t *zd = NULL, *zdd = NULL;
	for (size_t i = 2; i < n && regular; i++)
		regular = ts[i] - ts[i - 1] == ts[1] - ts[0];
	mx_put_uvar(out, n);
	mx_put_svar(out, ts[0]);
	if (k >= 0 && n > 1) {
		m = xmalloc(n * sizeof *m);
		zd = xmalloc(n * sizeof *zd);
		zdd = xmalloc(n * sizeof *zdd);
		for (size_t i = 0; i < n; i++)
			m[i] = (int64_t)nearbyint(v[i] * mx_p10[k]);
		int hd[65] = { 0 }, hdd[65] = { 0 };
		for (size_t i = 1; i < n; i++) {
			int64_t d = m[i] - m[i - 1];
			zd[i - 1] = mx_zz(d);
			zdd[i - 1] = mx_zz(i > 1 ? d - (m[i - 1] - m[i - 2]) : d);
			hd[bitlen(zd[i - 1])]++;
			hdd[bitlen(zdd[i - 1])]++;
		}
		uint64_t c[4];
		int w[4] = { best_width(hd, &c[0]), best_width(hdd, &c[1]),
			     rice_best(zd, n - 1, &c[2]), rice_best(zdd, n - 1, &c[3]) };
		int best = 0;
		for (int i = 1; i < 4; i++)
			if (c[i] < c[best])
				best = i;
		mode = VM_DELTA + best;
		width = w[best];
	}
	mx_bytes_put(out, &(uint8_t){ (uint8_t)(mode | (regular ? MODE_REGULAR : 0)) }, 1);
	if (regular)
		mx_put_svar(out, ts[1] - ts[0]);
	if (mode != VM_XOR) {
		mx_bytes_put(out, (uint8_t[]){ (uint8_t)k, (uint8_t)width }, 2);
		mx_put_svar(out, m[0]);
	}
	/* Worst case: 69 bits a timestamp, 77 a value. */
	mx_bytes_reserve(out, n * 19 + 16);
	bw w = { .b = out };
	for (size_t i = 1; i < n && !regular; i++)
		ts_put(&w, i == 1 ? ts[1] - ts[0] : (ts[i] - ts[i - 1]) - (ts[i - 1] - ts[i - 2]));
	if (mode == VM_XOR) {
		xor_put(&w, v, n);
	} else {
		const uint64_t *z = mode == VM_DELTA || mode == VM_RICE_DELTA ? zd : zdd;
		for (size_t i = 1; i < n; i++)
			if (mode >= VM_RICE_DELTA)
				rice_put(&w, z[i - 1], width);
			else
				int_put(&w, z[i - 1], width);
	}
	bw_flush(&w);
	free(m);
	free(zd);
	free(zdd);
}

int mx_block_count(const uint8_t *p, size_t len, size_t *n)
{
	mx_rd r = { p, p + len, 0 };
	uint64_t c = mx_get_uvar(&r);
	if (r.err || c == 0 || c > (1u << 24))
		return -EINVAL;
	*n = (size_t)c;
	return 0;
}

int mx_block_decode(const uint8_t *p, size_t len, int64_t *ts, double *v, size_t cap,
		    size_t *nout)
{
	mx_rd r = { p, p + len, 0 };
	uint64_t n = mx_get_uvar(&r);
	int64_t t0 = mx_get_svar(&r), step = 0;
	int mode = mx_get_u8(&r), k = 0, width = 0, regular = mode & MODE_REGULAR;
	int64_t m0 = 0;
	mode &= ~MODE_REGULAR;
	if (regular)
		step = mx_get_svar(&r);
	if (mode != VM_XOR) {
		k = mx_get_u8(&r);
		width = mx_get_u8(&r);
		m0 = mx_get_svar(&r);
	}
	if (r.err || n == 0 || n > cap || mode > VM_RICE_DOD || k > MX_DEC_MAX ||
	    (width & ~WIDTH_PLAIN) > 64 || (mode >= VM_RICE_DELTA && width > 63))
		return -EINVAL;
	br b = { .p = r.p, .end = r.end, .avail = (uint64_t)(r.end - r.p) * 8 };
	ts[0] = t0;
	if (regular) {
		for (size_t i = 1; i < n; i++)
			ts[i] = ts[i - 1] + step;
	} else {
		int64_t d = 0;
		for (size_t i = 1; i < n; i++) {
			d = i == 1 ? ts_get(&b) : d + ts_get(&b);
			ts[i] = ts[i - 1] + d;
		}
	}
	if (mode == VM_XOR) {
		xor_get(&b, v, n);
	} else {
		int64_t m = m0, dm = 0;
		int dod = mode == VM_DOD || mode == VM_RICE_DOD, rice = mode >= VM_RICE_DELTA;
		double scale = mx_p10[k];
		v[0] = (double)m / scale;
		for (size_t i = 1; i < n; i++) {
			int64_t z = mx_unzz(rice ? rice_get(&b, width) : int_get(&b, width));
			dm = (dod && i > 1) ? dm + z : z;
			m += dm;
			v[i] = (double)m / scale;
		}
	}
	if (b.err || b.used > b.avail)
		return -EINVAL;
	*nout = (size_t)n;
	return 0;
}
