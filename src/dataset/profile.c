/* Column profiles. See profile.h.
 *
 * Invariants, per column:
 * 1. types holds the types every non-null value seen so far fits; T_INT
 *    implies T_FLOAT and T_DATE implies T_TS (a value that fits the narrow
 *    type fits the wide one), so the answer is the narrowest bit left.
 * 2. While T_FLOAT is set the numeric summary has seen every value: min
 *    and max directly (imin/imax alone while T_INT is set, see struct
 *    col); mean and m2 from the exact table (counts x values, two passes
 *    at the end) while hll == NULL, else a running summary of wn values,
 *    seeded at overflow from the table and fed by Welford's update (one
 *    value, col_add_slow) or Chan's merge (a run's block). The instant
 *    summary has seen every value while T_TS is set. Once a bit is gone
 *    its summary is never printed, so it is not updated either.
 * 3. Either slots/arena count every distinct value exactly (hll == NULL),
 *    or hll has seen the hash of every value and slots/arena are freed;
 *    moving from the first to the second (overflow) feeds each distinct
 *    value's hash once, which is all a HyperLogLog needs.
 * 4. While hll == NULL, a value already in the table changes nothing but
 *    its count and c->count: every other figure (types, min, max, lengths)
 *    is a function of the set of distinct values, already taken in when
 *    the value was first seen. So repeated values of low-cardinality
 *    columns skip parsing, which is most of the profile's work.
 * 5. An int or float column's histogram (see "histograms") comes from the
 *    exact table while there is one (hist_table, as the moments do: a
 *    repeated value costs nothing more); at overflow hist_table seeds
 *    hist, which from then on has counted every value while T_FLOAT is
 *    set (hist_put for one value, hist_block for a run's) and is freed
 *    when it goes. Its bins are a function of the set of values, not of
 *    their order.
 *
 * Speed (an upload profiles every cell beside the hash and the write):
 * records come in batches (ds_profile_add_batch) and each column's cells
 * of a batch go through one run of its fast path (col_run), chosen by its
 * state (col_mode): a value found in the exact table, or a settled int,
 * float or string column past it. Whatever a fast path does not take goes
 * through col_add_slow, one value at a time, which does everything. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "dataset/profile.h"

enum { T_INT = 1, T_FLOAT = 2, T_BOOL = 4, T_DATE = 8, T_TS = 16 };

#define NSLOTS 2048 /* power of 2, twice DS_TOP_TRACK: probes stay short */
#define SLOT_BITS 11 /* log2(NSLOTS) */
#define HLL_M (1u << DS_HLL_P)
#define TEXT_MAX 48 /* longest date or timestamp text we accept */
#define HIST_EMIN (-1022) /* least float bin width 2^-1022: its inverse is a double */
#define HIST_KMAX 0x1p53  /* |bin index| below it: edges k 2^e exact doubles */
#define HIST_LOG2 __builtin_ctz(DS_HIST_BINS)
_Static_assert((DS_HIST_BINS & (DS_HIST_BINS - 1)) == 0, "hist_least_e: a power of two");

/* An exact table entry, 16 bytes: four to a cache line. key: a value of
 * at most 8 bytes itself (zero above them), so equal keys and lengths are
 * equal values; a longer value's table hash, confirmed against arena.
 * lc: the count above bit 16 and the length + 1 below (a value in the
 * table has at most DS_TOP_BYTES bytes); 0 for a free slot. The value's
 * place in arena is in the column's soff, at the same index. */
struct slot {
	uint64_t key;
	uint64_t lc;
};

#define LC_ONE ((uint64_t)1 << 16)

static inline uint64_t slot_count(const struct slot *sl)
{
	return sl->lc >> 16;
}

static inline size_t slot_len(const struct slot *sl)
{
	return (size_t)(sl->lc & 0xffff) - 1;
}

struct instant {
	int64_t s;
	int32_t ns;
	char text[TEXT_MAX + 1];
};

/* A numeric column's histogram past the exact table (invariant 5): n[j]
 * counts the values of bin base + j, the bin k being [k 2^e, (k+1) 2^e).
 * isf: the values are doubles (a float column: scale is 2^-e), else
 * int64 (an int column, e >= 0: the bin of v is v >> e). off: dropped (a
 * float column that took an int beyond +-2^53, see hist_drop); scale 0 and
 * base -1 then, so that the fast path counts every value into n[0] or
 * n[1] and never leaves its run for it. */
struct hist {
	uint64_t n[DS_HIST_BINS];
	int64_t base;
	double scale;
	int e, isf, off;
};

/* The column's way through col_add (col_mode): which fast path its values
 * try first. Every value a fast path does not take goes the general way. */
enum { M_TABLE, M_INT, M_FLOAT, M_STRING, M_OTHER };

/* What every value touches comes first (one or two cache lines). */
struct col {
	unsigned mode;
	unsigned types;
	uint64_t count, nulls;
	/* distinct values: an open-addressed table, linear probing */
	struct slot *slots;
	uint16_t *soff; /* each slot's value in arena */
	uint8_t *hll;
	struct hist *hist; /* int and float columns past the table (invariant 5) */
	/* strings; and numbers: no bound until a value is seen (SIZE_MAX, 0,
	 * INT64_MAX, INT64_MIN, +inf, -inf), so no first-value test. While
	 * T_INT is set only imin/imax are kept up to date by the fast path;
	 * dmin/dmax take them in when the column turns float (types_add). */
	size_t minlen, maxlen;
	int64_t imin, imax;
	double dmin, dmax, mean, m2;
	uint64_t wn; /* values in mean/m2 once hll is set */
	char *name;
	/* dates and timestamps */
	struct instant tmin, tmax;
	char *arena;
	size_t alen, acap, ndist;
	const char *dropped;
};

struct ds_profile {
	struct col *cols;
	size_t ncols;  /* profiled */
	size_t nhdr;   /* in the header */
	uint64_t rows; /* data rows */
	int have_header;
};

/* ---- hashing and HyperLogLog ---- */

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* A wyhash-style hash: 64-bit words folded by 128-bit multiplies, then a
 * final multiply so that every output bit depends on every input bit (the
 * HyperLogLog uses the top 14 bits as a register index and the rest for
 * its rank). */
static inline uint64_t rd8(const char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t rd4(const char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The last n % 8 bytes of p[0..n) as one little-endian word, zero above
 * them: what memcpy into a zeroed word gives, without a variable-length
 * memcpy (a libc call per value). Overlapping in-bounds reads only. */
static inline uint64_t tail_word(const char *p, size_t n)
{
	size_t r = n & 7;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const unsigned char *u = (const unsigned char *)p;
	if (!r)
		return 0;
	if (n >= 8)
		return rd8(p + n - 8) >> (8 * (8 - r));
	if (n >= 4)
		return rd4(p) | rd4(p + n - 4) << (8 * (n - 4));
	return u[0] | (uint64_t)u[n >> 1] << (8 * (n >> 1)) | (uint64_t)u[n - 1] << (8 * (n - 1));
#else
	uint64_t w = 0;
	if (r)
		memcpy(&w, p + n - r, r);
	return w;
#endif
}

/* A wyhash-style hash: 64-bit words folded by 128-bit multiplies, then a
 * final multiply so that every output bit depends on every input bit (the
 * HyperLogLog uses the top 14 bits as a register index and the rest for
 * its rank). Its values are part of stored profiles (HLL estimates): the
 * fast tail load keeps them bit for bit (test_profile checks against the
 * byte-wise definition). */
/* s[0..k) (k <= 8) as a little-endian word, zero above: in-bounds reads
 * only, no libc call. */
static inline uint64_t load_le(const char *s, size_t k)
{
	const unsigned char *u = (const unsigned char *)s;
	if (k >= 8)
		return rd8(s);
	if (k >= 4)
		return rd4(s) | rd4(s + k - 4) << (8 * (k - 4));
	if (!k)
		return 0;
	return u[0] | (uint64_t)u[k >> 1] << (8 * (k >> 1)) | (uint64_t)u[k - 1] << (8 * (k - 1));
}

/* load_le, where pad says at least 8 bytes may be read at s whatever k is
 * (a batch's fields: CSV_BATCH_PAD): one load and a mask, no branch on k. */
static const uint64_t lowmask[9] = {
	0, 0xff, 0xffff, 0xffffff, 0xffffffff, 0xffffffffffULL, 0xffffffffffffULL,
	0xffffffffffffffULL, ~0ULL,
};

static inline uint64_t load_pad(const char *s, size_t k, int pad)
{
	return pad ? rd8(s) & lowmask[k] : load_le(s, k);
}

#define H0 0x9e3779b97f4a7c15ULL
#define H1 0xa0761d6478bd642fULL
#define H2 0xe7037ed1a0b428dbULL
#define H3 0x8ebc6af09c88c6e3ULL
#define H4 0x589965cc75374cc3ULL
#define H5 0x1d8e4e27c47d124fULL

/* ds_hash of a value of n <= 8 bytes given as load_le's word: the loop
 * below without its tests (n == 8: one whole word and an empty tail). */
static inline uint64_t hash_word(uint64_t w, size_t n)
{
	uint64_t h = H0 ^ (n * H1);
	if (n == 8) {
		h = mum(h ^ H2, w ^ H3) ^ h;
		w = 0;
	}
	h = mum(h ^ H4, w ^ H5);
	return mum(h ^ H1, h ^ H2);
}

static inline __attribute__((always_inline)) uint64_t hash_bytes(const char *p, size_t n)
{
	if (n <= 8)
		return hash_word(load_le(p, n), n);
	uint64_t h = H0 ^ (n * H1);
	if (n < 16) {
		/* the loop below for one word, then the tail (tail_word: the last
		 * n - 8 bytes, read as the top of the last eight) */
		h = mum(h ^ H2, rd8(p) ^ H3) ^ h;
		h = mum(h ^ H4, (rd8(p + n - 8) >> (8 * (16 - n))) ^ H5);
		return mum(h ^ H1, h ^ H2);
	}
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		h = mum(h ^ H2, rd8(p + i) ^ H3) ^ h;
	h = mum(h ^ H4, tail_word(p, n) ^ H5);
	return mum(h ^ H1, h ^ H2);
}

uint64_t ds_hash(const char *p, size_t n)
{
	return hash_bytes(p, n);
}

/* The rank is 1 + the leading zeros of the hash's low 64 - P bits, at
 * most 64 - P + 1: the bit set just below them caps it without a branch
 * (w's low P bits are zero, so that bit is the first one when they are). */
static inline void hll_put(uint8_t *regs, uint64_t hash)
{
	const int q = 64 - DS_HLL_P;
	uint64_t w = hash << DS_HLL_P | (uint64_t)1 << (DS_HLL_P - 1);
	uint8_t rank = (uint8_t)(__builtin_clzll(w) + 1);
	uint8_t *r = &regs[hash >> q];
	if (*r < rank)
		*r = rank;
}

void ds_hll_add(uint8_t *regs, uint64_t hash)
{
	hll_put(regs, hash);
}

/* Ertl, "New cardinality estimation algorithms for HyperLogLog sketches"
 * (2017), algorithm 6: unbiased from 0 to 2^64 without the empirical bias
 * tables of HLL++ or the switch to linear counting. */
static double hll_sigma(double x)
{
	if (x == 1.0)
		return INFINITY;
	double y = 1.0, z = x, zp;
	do {
		x *= x;
		zp = z;
		z += x * y;
		y += y;
	} while (z != zp);
	return z;
}

static double hll_tau(double x)
{
	if (x == 0.0 || x == 1.0)
		return 0.0;
	double y = 1.0, z = 1.0 - x, zp;
	do {
		x = sqrt(x);
		zp = z;
		y *= 0.5;
		z -= (1.0 - x) * (1.0 - x) * y;
	} while (z != zp);
	return z / 3.0;
}

double ds_hll_estimate(const uint8_t *regs)
{
	const int q = 64 - DS_HLL_P;
	const double m = HLL_M;
	uint32_t c[64 + 2] = { 0 };
	for (uint32_t i = 0; i < HLL_M; i++)
		c[regs[i]]++;
	double z = m * hll_tau(1.0 - c[q + 1] / m);
	for (int k = q; k >= 1; k--)
		z = 0.5 * (z + c[k]);
	z += m * hll_sigma(c[0] / m);
	return m * m / (2.0 * log(2.0)) / z;
}

/* ---- recognising values ---- */

/* An unquoted s[0..n) that is a null marker: n <= 4 first, most values
 * are longer. */
static inline int null_text(const char *s, size_t n)
{
	switch (n) {
	case 0:
		return 1;
	case 2:
		return s[0] == 'N' && s[1] == 'A';
	case 3:
		return s[0] == 'N' && (memcmp(s, "N/A", 3) == 0 || memcmp(s, "NaN", 3) == 0);
	case 4:
		return (s[0] == 'n' || s[0] == 'N') &&
		       (memcmp(s, "null", 4) == 0 || memcmp(s, "NULL", 4) == 0);
	default:
		return 0;
	}
}

/* null_text by the value's load_le word (n <= 4: no NUL in a value, so
 * the word and n name the text); NOKEY where a length has fewer markers:
 * no word of at most 4 bytes is it. */
#define NOKEY UINT64_MAX
static const uint64_t null_keys[5][2] = {
	{ 0, 0 },                           /* "" */
	{ NOKEY, NOKEY },
	{ 0x414e, NOKEY },                  /* NA */
	{ 0x412f4e, 0x4e614e },             /* N/A NaN */
	{ 0x6c6c756e, 0x4c4c554e },         /* null NULL */
};

static inline int null_key(uint64_t key, size_t n)
{
	return n <= 4 && (key == null_keys[n][0] || key == null_keys[n][1]);
}

static inline int is_null(const csv_field *f)
{
	return !f->quoted && f->n <= 4 && null_text(f->p, f->n);
}

/* ---- the fast paths' number parsers ----
 * Each takes the common short forms only and says 0 for anything else,
 * which then goes to the general parser: when they take a value, they
 * give exactly what parse_int and ds_parse_float give for it. */

/* The value of the 1 <= k <= 8 ASCII digits in w's low k bytes (the
 * first, most significant, lowest; w zero above them): 1 and *v, or 0
 * when one is no digit. A byte is a digit when b ^ '0' is at most 9: then
 * neither it nor it + 0x76 has its high bit set (and no carry leaves a
 * byte unless one already failed). The digits are moved to the word's
 * top, zeros below standing for leading zeros, and summed pairwise by
 * three multiplies. */
static inline int digits8(uint64_t w, size_t k, uint64_t *v)
{
	unsigned sh = 64 - 8 * (unsigned)k;
	uint64_t d = w ^ (0x3030303030303030ULL >> sh);
	if ((d | (d + 0x7676767676767676ULL)) & 0x8080808080808080ULL)
		return 0;
	d <<= sh;
	d = (d * 2561) >> 8 & 0x00FF00FF00FF00FFULL;
	d = (d * 6553601) >> 16 & 0x0000FFFF0000FFFFULL;
	*v = (d * 42949672960001ULL) >> 32;
	return 1;
}

/* v < 2^52 as a double, exactly: v in the mantissa of 2^52, less 2^52. A
 * plain conversion (cvtsi2sd) writes only the low half of its register and
 * so waits for the register's last writer: in a run, the previous value's
 * division or conversion, a chain through every cell of the column. */
static inline double u52_double(uint64_t v)
{
	uint64_t b = v | 0x4330000000000000ULL;
	double d;
	memcpy(&d, &b, sizeof d);
	return d - 4503599627370496.0;
}

static inline double i64_double(int64_t v)
{
	uint64_t a = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	if (a >= (uint64_t)1 << 52)
		return (double)v;
	return v < 0 ? -u52_double(a) : u52_double(a);
}

/* [-] 1 to 16 digits. *w gets load_le(s, n) when n <= 8 (for hash_word). */
static inline int int_fast(const char *s, size_t n, int64_t *out, uint64_t *w, int pad)
{
	int neg = n && s[0] == '-';
	uint64_t v, hi;
	if (n <= 8) {
		*w = load_pad(s, n, pad);
		if (n - (size_t)neg < 1 || !digits8(*w >> (8 * neg), n - (size_t)neg, &v))
			return 0;
	} else {
		s += neg;
		n -= (size_t)neg;
		if (n > 16)
			return 0;
		if (n == 8) {
			if (!digits8(rd8(s), 8, &v))
				return 0;
		} else {
			if (!digits8(load_pad(s, n - 8, pad), n - 8, &hi) ||
			    !digits8(rd8(s + n - 8), 8, &v))
				return 0;
			v += hi * 100000000;
		}
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 1;
}

/* [-] up to 8 bytes of digits and at most one '.', a digit at least:
 * ds_parse_float's exact fast path (at most 8 digits: m <= 2^53), the
 * same one division. The point is found and cut out of the word, so the
 * digits go through digits8 at once. *w gets load_le(s, n). */
static inline int float_fast(const char *s, size_t n, double *out, uint64_t *w, int pad)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7 };
	int neg = n && s[0] == '-';
	if (n > 8)
		return 0;
	*w = load_pad(s, n, pad);
	n -= (size_t)neg;
	uint64_t d = *w >> (8 * neg), x = d ^ 0x2e2e2e2e2e2e2e2eULL, v;
	/* bytes of x that are zero, limited to the n bytes of the value */
	uint64_t z = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
	size_t fl = 0;
	z &= n >= 8 ? ~0ULL : ((uint64_t)1 << (8 * n)) - 1;
	if (z) {
		unsigned at = (unsigned)__builtin_ctzll(z) & ~7u;
		uint64_t lo = ((uint64_t)1 << at) - 1;
		d = (d & lo) | (d >> 8 & ~lo);
		fl = --n - at / 8;
	}
	if (!n || !digits8(d, n, &v))
		return 0;
	double r = u52_double(v) / p10[fl];
	*out = neg ? -r : r;
	return 1;
}

static int parse_int(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (n && (s[0] == '-' || s[0] == '+'))
		neg = s[i++] == '-';
	/* 19 digits always fit uint64_t; the sign check below does the rest. */
	if (i == n || n - i > 19)
		return -EINVAL;
	uint64_t v = 0;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';
		if (d > 9)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + neg)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* A finite decimal: [sign] digits [. digits] [e [sign] digits], a digit
 * before or after the point. strtod alone would also take "inf", "0x1p3"
 * and leading spaces. Without an exponent, at most 19 digits whose value m
 * is at most 2^53 and at most 22 after the point, m / 10^k is one IEEE
 * division of two exact doubles, so correctly rounded: the very double
 * strtod returns (Clinger's fast path). Everything else goes to strtod. */
int ds_parse_float(const char *s, size_t n, double *out)
{
	static const double p10[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	size_t i = 0, dig = 0, frac = 0;
	uint64_t m = 0;
	int neg = 0, slow = 0;
	char tmp[128];
	if (n >= sizeof tmp)
		return -EINVAL;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, dig++)
		m = m * 10 + (unsigned)(s[i] - '0'); /* wraps past 19 digits: unused then */
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, dig++, frac++)
			m = m * 10 + (unsigned)(s[i] - '0');
	if (!dig)
		return -EINVAL;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;
		slow = 1;
		if (++i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			e++;
		if (!e)
			return -EINVAL;
	}
	if (i != n)
		return -EINVAL;
	if (!slow && dig <= 19 && m <= (1ULL << 53) && frac <= 22) {
		double v = (double)m / p10[frac];
		*out = neg ? -v : v;
		return 0;
	}
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	double v = strtod(tmp, NULL);
	if (!isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int parse_date(const char *s, size_t n, int64_t *days)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -EINVAL;
	int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
	if (y < 0 || m < 1 || m > 12 || d < 1)
		return -EINVAL;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (d > mdays[m - 1] + (m == 2 && leap))
		return -EINVAL;
	*days = days_from_civil(y, m, d);
	return 0;
}

/* date, T or space, HH:MM[:SS[.frac]], then Z, +HH:MM, +HHMM, +HH or
 * nothing (UTC). Seconds may be 60 (a leap second). */
static int parse_ts(const char *s, size_t n, struct instant *t)
{
	int64_t days;
	if (n < 16 || n > TEXT_MAX || parse_date(s, 10, &days) ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':')
		return -EINVAL;
	int hh = digits(s + 11, 2), mm = digits(s + 14, 2), ss = 0, ns = 0, off = 0;
	size_t i = 16;
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59)
		return -EINVAL;
	if (i < n && s[i] == ':') {
		if (i + 3 > n || (ss = digits(s + i + 1, 2)) < 0 || ss > 60)
			return -EINVAL;
		i += 3;
		if (i < n && (s[i] == '.' || s[i] == ',')) {
			int nd = 0, scale = 100000000;
			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
				ns += (s[i] - '0') * scale;
				scale /= 10;
			}
			if (nd == 0 || nd > 9)
				return -EINVAL;
		}
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
		size_t rest = n - i - 1;
		if (rest != 2 && rest != 4 && rest != 5)
			return -EINVAL;
		oh = digits(s + i + 1, 2);
		if (rest == 5 && s[i + 3] != ':')
			return -EINVAL;
		if (rest > 2)
			om = digits(s + n - 2, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -EINVAL;
		off = sign * (oh * 3600 + om * 60);
		i = n;
	}
	if (i != n)
		return -EINVAL;
	t->s = days * 86400 + hh * 3600 + mm * 60 + ss - off;
	t->ns = ns;
	return 0;
}

/* Case-insensitive true/false: b | 0x20 is a given lowercase letter only
 * when b is that letter or its capital. */
static inline int is_bool(const char *s, size_t n)
{
	if (n == 4)
		return (rd4(s) | 0x20202020u) == rd4("true");
	if (n == 5)
		return (rd4(s) | 0x20202020u) == rd4("fals") && (s[4] | 0x20) == 'e';
	return 0;
}

/* ---- per column ---- */

/* Min and max of every value; Welford's mean and m2 only once the exact
 * table is gone (invariant 2): before that they come from the table. */
static inline void welford(struct col *c, double x)
{
	double delta = x - c->mean;
	c->wn++;
	c->mean += delta / (double)c->wn;
	c->m2 += delta * (x - c->mean);
}

/* Merges the k values x[0..k) into a summary of *n values, their mean and
 * m2 (the sum of squared deviations): the block's own mean and m2 in two
 * passes (the second corrected by the residue of the first's rounding),
 * then the pairwise update of Chan, Golub and LeVeque. As accurate as
 * Welford's update per value, without its division per value, whose
 * latency chain would bound a run (four partial sums keep the additions'
 * off it too). */
static void moments_merge(uint64_t *n, double *mean, double *m2, const double *x, size_t k)
{
	double s[4] = { 0 }, q[4] = { 0 }, r[4] = { 0 };
	size_t i;
	if (!k)
		return;
	for (i = 0; i + 4 <= k; i += 4)
		for (int j = 0; j < 4; j++)
			s[j] += x[i + j];
	for (; i < k; i++)
		s[0] += x[i];
	double nb = (double)k, mb = ((s[0] + s[1]) + (s[2] + s[3])) / nb;
	for (i = 0; i + 4 <= k; i += 4)
		for (int j = 0; j < 4; j++) {
			double d = x[i + j] - mb;
			r[j] += d;
			q[j] += d * d;
		}
	for (; i < k; i++) {
		double d = x[i] - mb;
		r[0] += d;
		q[0] += d * d;
	}
	double res = (r[0] + r[1]) + (r[2] + r[3]);
	double qb = (q[0] + q[1]) + (q[2] + q[3]) - res * res / nb;
	double na = (double)*n, nt = na + nb, delta = mb - *mean;
	*mean += delta * (nb / nt);
	*m2 += qb + delta * delta * (na * nb / nt);
	*n += k;
}

/* ---- histograms ----
 *
 * A numeric column's histogram is the bins [k 2^e, (k+1) 2^e), k an
 * integer, for the least e (at least 0 for an int column, HIST_EMIN for a
 * float one) at which the values fit in DS_HIST_BINS of them,
 *   floor(max / 2^e) - floor(min / 2^e) < DS_HIST_BINS,
 * and, for floats, |floor(x / 2^e)| < 2^53 for x = min and max (so that
 * every edge k 2^e is a double and every index an int64), each bin with
 * the exact count of its values. That is a function of the set of values
 * alone: min and max decide e, and each value its bin. So any order of
 * the same values gives the same bins, and the batch path the same as one
 * value at a time (test_profile checks both).
 *
 * One pass reaches it in bounded memory because fitting is monotone: the
 * values fit at e if a wider range of them does, and at any e' > e once
 * they fit at e, since floor(x / 2^e') = floor(floor(x / 2^e) / 2^(e' - e))
 * (doubling the width maps neighbouring bins onto one, and never widens
 * the span). So the stream keeps e and the counts for the values so far;
 * a value outside the window [base, base + DS_HIST_BINS) widens the
 * bounds, which can only raise the least e: hist_refit looks for it from
 * the current e up and moves each count to its bin at the new e (exact,
 * by the identity above). The window starts at min's bin, so a value
 * below it refits too, at the same e or a higher one.
 *
 * An int column that turns float keeps its counts (hist_to_float): an int
 * below 2^53 in magnitude is its own double and lies in the same bin at
 * the same e, and the least float e for the same bounds is the int one,
 * or lower only where that is 0, where each bin holds a single value that
 * simply has a finer bin. An int of 2^53 or more may round to a double in
 * the next bin, which its int bin cannot tell, so a float column that
 * holds an int text that large has no histogram, whatever the order
 * (hist_drop; types_add and hist_table check each value). */

#define HIST_IMAX ((int64_t)1 << 53)

/* floor(p), p = x s for a power of two s and |p| < HIST_KMAX: p is exact
 * unless it underflows, and a negative x whose product underflows (to -0
 * or a subnormal) still lies in bin -1. Branch-free for the fast path. */
static inline int64_t hist_floor(double p, double x)
{
	int64_t t = (int64_t)p;
	return t - (int64_t)((p < (double)t) | ((x < 0) & (t == 0)));
}

static int hist_empty(const struct col *c, int isf)
{
	return isf ? !(c->dmin <= c->dmax) : c->imin > c->imax;
}

static int hist_fits(const struct col *c, int isf, int e)
{
	if (!isf) /* an arithmetic shift: floor(v / 2^e) */
		return (uint64_t)(c->imax >> e) - (uint64_t)(c->imin >> e) < DS_HIST_BINS;
	double s = ldexp(1.0, -e), a = c->dmin * s, b = c->dmax * s;
	if (!(fabs(a) < HIST_KMAX && fabs(b) < HIST_KMAX))
		return 0;
	return (uint64_t)(hist_floor(b, c->dmax) - hist_floor(a, c->dmin)) < DS_HIST_BINS;
}

/* The least e >= from at which the column's bounds fit (from when it has
 * no value). For floats the search starts at two bounds that no e below
 * can fit, a value's index reaching 2^53 or the range DS_HIST_BINS bins
 * (one below each, against rounding of the range): a few steps instead
 * of up to 2046. */
static int hist_least_e(const struct col *c, int isf, int from)
{
	int e = from;
	if (hist_empty(c, isf))
		return from;
	if (isf) {
		double m = fmax(fabs(c->dmin), fabs(c->dmax)), r = c->dmax - c->dmin;
		if (m > 0 && ilogb(m) - 53 > e)
			e = ilogb(m) - 53;
		if (r > 0 && isfinite(r) && ilogb(r) - HIST_LOG2 - 1 > e)
			e = ilogb(r) - HIST_LOG2 - 1;
	}
	while (!hist_fits(c, isf, e))
		e++;
	return e;
}

/* min's bin at h's e: the window's start. */
static int64_t hist_base(const struct col *c, const struct hist *h)
{
	if (hist_empty(c, h->isf))
		return 0;
	return h->isf ? hist_floor(c->dmin * h->scale, c->dmin) : c->imin >> h->e;
}

/* Refits h to the column's bounds as they are now: the least e from h's
 * up, each count moved to its bin there. Every count's bin holds a value
 * within the bounds, so it lands in the new window. */
static void hist_refit(const struct col *c, struct hist *h)
{
	uint64_t n[DS_HIST_BINS] = { 0 };
	int e = hist_least_e(c, h->isf, h->e);
	/* an index has under 64 bits (ints) or 54 (floats): >> 63 is >> more */
	int sh = e - h->e > 63 ? 63 : e - h->e;
	int64_t old = h->base;
	h->e = e;
	h->scale = h->isf ? ldexp(1.0, -e) : 0;
	h->base = hist_base(c, h);
	for (size_t j = 0; j < DS_HIST_BINS; j++)
		if (h->n[j])
			n[((old + (int64_t)j) >> sh) - h->base] += h->n[j];
	memcpy(h->n, n, sizeof n);
}

/* x's (or the int iv's) place in h's window; DS_HIST_BINS or more when
 * outside it. */
static inline uint64_t hist_slot(const struct hist *h, double x, int64_t iv)
{
	if (!h->isf)
		return (uint64_t)(iv >> h->e) - (uint64_t)h->base;
	double p = x * h->scale;
	if (!(fabs(p) < HIST_KMAX))
		return DS_HIST_BINS;
	return (uint64_t)hist_floor(p, x) - (uint64_t)h->base;
}

/* cnt values x (iv in an int column) into h; the column's bounds take
 * them in already. */
static void hist_put(const struct col *c, struct hist *h, double x, int64_t iv, uint64_t cnt)
{
	if (h->off)
		return;
	uint64_t j = hist_slot(h, x, iv);
	if (j >= DS_HIST_BINS) {
		hist_refit(c, h);
		j = hist_slot(h, x, iv);
	}
	h->n[j] += cnt;
}

/* A run's values into h, after the run has taken them into the bounds:
 * x[0..k), or the ints iv[0..k) when isint. The binning is hist_slot's,
 * in a loop of its own rather than in the run's, whose registers it would
 * crowd; hist_put for a value outside the window. */
static void hist_block(const struct col *c, struct hist *h, const double *x, const int64_t *iv,
		       size_t k, int isint)
{
	for (size_t i = 0; i < k;) {
		uint64_t *n = h->n, b = (uint64_t)h->base;
		double s = h->scale;
		int e = h->e;
		if (isint) {
			for (; i < k; i++) {
				uint64_t j = (uint64_t)(iv[i] >> e) - b;
				if (j >= DS_HIST_BINS)
					break;
				n[j]++;
			}
		} else if (h->base >= 0) {
			/* A window of bins from 0 up (most columns: no negative
			 * value), where q = p - base is exact for a p in it: base
			 * and p are multiples of ulp(p) (base an integer, p below
			 * 2^53) and 0 <= q <= p. Outside it q keeps its side (a
			 * difference of doubles is 0 only when they are equal), so
			 * the test is exact too, and the bin is q truncated. The
			 * window ends at index 2^53 if that comes first (HIST_KMAX). */
			double bd = (double)h->base, top = fmin(DS_HIST_BINS, HIST_KMAX - bd);
			for (; i < k; i++) {
				double q = x[i] * s - bd;
				if (!(q >= 0 && q < top))
					break;
				n[(size_t)q]++;
			}
		} else {
			/* floor(p) without hist_floor's underflow term: a run's
			 * floats (float_fast: 8 bytes at most) are 0 or at least
			 * 1e-7 in magnitude, and 2^-e at least 2^-1024, so p is no
			 * -0 unless v is */
			for (; i < k; i++) {
				double p = x[i] * s;
				if (!(fabs(p) < HIST_KMAX))
					break;
				int64_t t = (int64_t)p;
				uint64_t j = (uint64_t)(t - (p < (double)t)) - b;
				if (j >= DS_HIST_BINS)
					break;
				n[j]++;
			}
		}
		if (i < k) {
			hist_put(c, h, x[i], isint ? iv[i] : 0, 1);
			i++;
		}
	}
}

/* No histogram for this column any more (see above); the fast path may
 * still count into it (struct hist). */
static void hist_drop(struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->off = 1;
	h->isf = 1;
	h->base = -1;
}

/* An int text of 2^53 or more in magnitude: a float column's histogram
 * goes (see above). */
static int hist_big_int(const char *s, size_t n)
{
	int64_t iv;
	return parse_int(s, n, &iv) == 0 && (iv >= HIST_IMAX || iv <= -HIST_IMAX);
}

/* The histogram of the values the exact table counts (invariant 5). */
static void hist_table(const struct col *c, struct hist *h)
{
	memset(h, 0, sizeof *h);
	h->isf = !(c->types & T_INT);
	h->e = hist_least_e(c, h->isf, h->isf ? HIST_EMIN : 0);
	h->scale = h->isf ? ldexp(1.0, -h->e) : 0;
	h->base = hist_base(c, h);
	for (size_t i = 0; c->slots && i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		if (!sl->lc)
			continue;
		const char *s = c->arena + c->soff[i];
		size_t n = slot_len(sl);
		int64_t iv = 0;
		double x = 0;
		if (h->isf && hist_big_int(s, n)) {
			hist_drop(h);
			return;
		}
		if (parse_int(s, n, &iv) == 0)
			x = (double)iv;
		else
			ds_parse_float(s, n, &x);
		hist_put(c, h, x, iv, slot_count(sl));
	}
}

/* An int column's histogram as a float column's, at the column's turn:
 * dmin and dmax hold the ints' bounds already (types_add). */
static void hist_to_float(struct col *c)
{
	struct hist *h = c->hist;
	uint64_t n[DS_HIST_BINS] = { 0 };
	if (c->imin <= -HIST_IMAX || c->imax >= HIST_IMAX) {
		hist_drop(h);
		return;
	}
	int e = hist_least_e(c, 1, HIST_EMIN), ie = h->e;
	int64_t old = h->base;
	h->isf = 1;
	h->e = e;
	h->scale = ldexp(1.0, -e);
	h->base = hist_base(c, h);
	for (size_t j = 0; j < DS_HIST_BINS; j++) {
		if (!h->n[j])
			continue;
		/* e < ie only where ie is 0: the bin's one value, finer */
		int64_t k = old + (int64_t)j;
		k = e >= ie ? k >> (e - ie) : k * ((int64_t)1 << (ie - e));
		n[k - h->base] += h->n[j];
	}
	memcpy(h->n, n, sizeof n);
}

static void num_add(struct col *c, double x, int64_t iv, int isint)
{
	if (isint) {
		if (iv < c->imin)
			c->imin = iv;
		if (iv > c->imax)
			c->imax = iv;
	}
	if (x < c->dmin)
		c->dmin = x;
	if (x > c->dmax)
		c->dmax = x;
	if (c->hll) {
		welford(c, x);
		hist_put(c, c->hist, x, iv, 1);
	}
}

static int instant_cmp(const struct instant *a, const struct instant *b)
{
	if (a->s != b->s)
		return a->s < b->s ? -1 : 1;
	return a->ns < b->ns ? -1 : a->ns > b->ns;
}

/* The text is copied only into a new bound: most values are neither. */
static void ts_add(struct col *c, const struct instant *t, const char *s, size_t n)
{
	int lo = !c->count || instant_cmp(t, &c->tmin) < 0;
	int hi = !c->count || instant_cmp(t, &c->tmax) > 0;
	if (lo) {
		c->tmin.s = t->s;
		c->tmin.ns = t->ns;
		memcpy(c->tmin.text, s, n);
		c->tmin.text[n] = '\0';
	}
	if (hi) {
		c->tmax.s = t->s;
		c->tmax.ns = t->ns;
		memcpy(c->tmax.text, s, n);
		c->tmax.text[n] = '\0';
	}
}

static void types_add(struct col *c, const char *s, size_t n)
{
	if (!c->types) /* a string column: no value can narrow it again */
		return;
	if (c->types & T_FLOAT) {
		int64_t iv;
		double x;
		if ((c->types & T_INT) && parse_int(s, n, &iv) == 0) {
			num_add(c, (double)iv, iv, 1);
		} else if (ds_parse_float(s, n, &x) == 0) {
			if (c->types & T_INT) {
				if (c->imin <= c->imax) {
					/* the ints' bounds as the fast path kept them (struct col) */
					c->dmin = fmin(c->dmin, (double)c->imin);
					c->dmax = fmax(c->dmax, (double)c->imax);
				}
				if (c->hist)
					hist_to_float(c);
			} else if (c->hist && fabs(x) >= 0x1p53 && hist_big_int(s, n)) {
				hist_drop(c->hist);
			}
			c->types &= ~(unsigned)T_INT;
			num_add(c, x, 0, 0);
		} else {
			c->types &= ~(unsigned)(T_INT | T_FLOAT);
			xfree(&c->hist);
		}
	}
	if ((c->types & T_BOOL) && !is_bool(s, n))
		c->types &= ~(unsigned)T_BOOL;
	if (c->types & T_TS) {
		struct instant t;
		int64_t days;
		if (n == 10 && parse_date(s, n, &days) == 0) { /* fits T_TS as midnight UTC */
			t.s = days * 86400;
			t.ns = 0;
			ts_add(c, &t, s, n);
		} else if (parse_ts(s, n, &t) == 0) {
			c->types &= ~(unsigned)T_DATE;
			ts_add(c, &t, s, n);
		} else {
			c->types &= ~(unsigned)(T_DATE | T_TS);
		}
	}
}

/* An entry's value as the numeric summary took it: an int as (double) of
 * the int, else the float parse (every entry parses while T_FLOAT is set). */
static double slot_num(const struct col *c, size_t i)
{
	const char *s = c->arena + c->soff[i];
	size_t n = slot_len(&c->slots[i]);
	int64_t iv;
	double x = 0;
	if (parse_int(s, n, &iv) == 0)
		return (double)iv;
	ds_parse_float(s, n, &x);
	return x;
}

/* Mean and m2 of the values the exact table counts, two passes (the sum
 * compensated, Neumaier): no worse than Welford's one pass. */
static void table_moments(const struct col *c, double *mean, double *m2)
{
	double sum = 0, comp = 0, n = 0, q = 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		if (!sl->lc)
			continue;
		double t = (double)slot_count(sl) * slot_num(c, i), u = sum + t;
		comp += fabs(sum) >= fabs(t) ? (sum - u) + t : (t - u) + sum;
		sum = u;
		n += (double)slot_count(sl);
	}
	double m = n ? (sum + comp) / n : 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		if (sl->lc) {
			double d = slot_num(c, i) - m;
			q += (double)slot_count(sl) * d * d;
		}
	}
	*mean = m;
	*m2 = q;
}

/* Leaves exact counting: every distinct value's hash goes to the HLL, and
 * the table's moments seed Welford's summary (invariant 2). */
static void overflow(struct col *c, const char *why)
{
	if (c->types & T_FLOAT) {
		table_moments(c, &c->mean, &c->m2);
		c->wn = c->count;
		c->hist = xmalloc(sizeof *c->hist);
		hist_table(c, c->hist);
	}
	c->hll = xcalloc(HLL_M, 1);
	for (size_t i = 0; i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		/* an empty value may have no arena yet */
		if (sl->lc)
			ds_hll_add(c->hll, ds_hash(slot_len(sl) ? c->arena + c->soff[i] : "",
						   slot_len(sl)));
	}
	xfree(&c->slots);
	xfree(&c->soff);
	xfree(&c->arena);
	c->dropped = why;
}

/* a[0..n) == b[0..n), inline for the short values most columns hold. */
static inline int same_bytes(const char *a, const char *b, size_t n)
{
	if (n >= 8 && n <= 16)
		return rd8(a) == rd8(b) && rd8(a + n - 8) == rd8(b + n - 8);
	if (n >= 4 && n < 8)
		return rd4(a) == rd4(b) && rd4(a + n - 4) == rd4(b + n - 4);
	if (n < 4) {
		for (size_t i = 0; i < n; i++)
			if (a[i] != b[i])
				return 0;
		return 1;
	}
	return memcmp(a, b, n) == 0;
}

/* The exact table's hash of s[0..n) and its key (struct slot). Only the
 * table sees it (the HyperLogLog's is ds_hash): short values, most of a
 * low-cardinality column's, cost one multiply. */
#define FIB 0x9e3779b97f4a7c15ULL /* 2^64 / the golden ratio, odd */

static inline uint64_t table_hash(const char *s, size_t n, uint64_t *key)
{
	uint64_t h;
	if (n <= 8) {
		/* the value itself: one multiply spreads it to the top bits */
		*key = load_le(s, n);
		return *key * FIB;
	}
	if (n <= 16)
		h = mum(rd8(s) ^ 0x589965cc75374cc3ULL, rd8(s + n - 8) ^ n ^ 0x1d8e4e27c47d124fULL);
	else
		h = ds_hash(s, n);
	*key = h;
	return h;
}

/* The table's entry for s[0..n): counted once more (1), or absent (0,
 * *empty the free slot it would take). Linear probing at a load of at
 * most DS_TOP_TRACK / NSLOTS < 1/2; a hit compares one key and one length
 * (and a long value's bytes). No entry is ever removed: an absent value's
 * first free slot in its probe order is where a later lookup finds it. */
static inline __attribute__((always_inline)) int table_hit(struct col *c, uint64_t h, uint64_t key,
							    const char *s, size_t n, size_t *empty)
{
	size_t i = (size_t)(h >> (64 - SLOT_BITS));
	const uint64_t want = n + 1;
	for (;;) {
		struct slot *sl = &c->slots[i];
		uint64_t lc = sl->lc;
		if (sl->key == key && (lc & 0xffff) == want &&
		    (n <= 8 || same_bytes(c->arena + c->soff[i], s, n))) {
			sl->lc = lc + LC_ONE;
			return 1;
		}
		if (!lc) {
			*empty = i;
			return 0;
		}
		i = (i + 1) & (NSLOTS - 1);
	}
}

static void table_put(struct col *c, size_t i, uint64_t key, const char *s, size_t n)
{
	if (c->alen + n > c->acap) {
		c->acap = c->acap ? c->acap : 1024;
		while (c->alen + n > c->acap)
			c->acap *= 2;
		c->arena = xrealloc(c->arena, c->acap);
	}
	if (n)
		memcpy(c->arena + c->alen, s, n);
	c->slots[i] = (struct slot){ .key = key, .lc = LC_ONE | (n + 1) };
	c->soff[i] = (uint16_t)c->alen;
	c->alen += n;
	c->ndist++;
}

static void col_mode(struct col *c)
{
	if (!c->hll)
		c->mode = M_TABLE;
	else if (c->types == (T_INT | T_FLOAT))
		c->mode = M_INT;
	else if (c->types == T_FLOAT)
		c->mode = M_FLOAT;
	else if (!c->types)
		c->mode = M_STRING;
	else
		c->mode = M_OTHER;
}

/* Every value's general way: a null, a value new to the exact table (or
 * the overflow), or a value a fast path did not take. */
static __attribute__((noinline)) void col_add_slow(struct col *c, const csv_field *f)
{
	const char *s = f->p;
	size_t n = f->n, i = 0;
	if (is_null(f)) {
		c->nulls++;
		return;
	}
	uint64_t h = 0, key = 0;
	if (!c->hll) {
		if (!c->slots) {
			c->slots = xcalloc(NSLOTS, sizeof *c->slots);
			c->soff = xmalloc(NSLOTS * sizeof *c->soff);
		}
		h = table_hash(s, n, &key);
		if (table_hit(c, h, key, s, n, &i)) { /* invariant 4 */
			c->count++;
			return;
		}
		/* Before types_add: from here on the summary streams (invariant 2). */
		if (c->ndist == DS_TOP_TRACK)
			overflow(c, "more than 1000 distinct values");
		else if (c->alen + n > DS_TOP_BYTES)
			overflow(c, "distinct values longer than 32768 bytes in all");
	}
	types_add(c, s, n);
	if (n < c->minlen)
		c->minlen = n;
	if (n > c->maxlen)
		c->maxlen = n;
	if (c->hll)
		hll_put(c->hll, hash_bytes(s, n));
	else
		table_put(c, i, key, s, n);
	c->count++;
	col_mode(c);
}

/* ---- runs: one column's cells of a batch of records ----
 *
 * A run takes the cells f[i * stride], i from its argument on, while its
 * column's fast path holds: a value already in the exact table (invariant
 * 4), and past the table a settled column's int, float or string (col_mode)
 * or a null. It keeps the column's figures in locals meanwhile, and does
 * for each cell exactly what col_add_slow would do for it, but for mean
 * and m2, which take RUN values at a time (moments_merge). It returns the
 * index of the first cell it did not take: col_add_slow's (or k). A number
 * a fast path parsed is no null marker (none is a number). */

#define RUN 256

/* A value of up to 8 bytes found in its home slot is the common case of
 * a low-cardinality column: its word is its key and its null test. */
static inline __attribute__((always_inline)) size_t
run_table(struct col *c, const csv_field *f, size_t i, size_t k, size_t stride, int pad)
{
	struct slot *const slots = c->slots;
	uint64_t count = c->count, nulls = c->nulls;
	for (; i < k; i++) {
		const csv_field *x = &f[i * stride];
		const char *s = x->p;
		size_t n = x->n, e;
		uint64_t key, h;
		if (n <= 8) {
			key = load_pad(s, n, pad);
			if (null_key(key, n) && !x->quoted) {
				nulls++;
				continue;
			}
			h = key * FIB;
			struct slot *sl = &slots[h >> (64 - SLOT_BITS)];
			if (sl->key == key && (sl->lc & 0xffff) == n + 1) {
				sl->lc += LC_ONE;
				count++;
				continue;
			}
		} else if (n <= 16) {
			/* table_hash's two words, kept for the compare with arena */
			uint64_t a = rd8(s), b = rd8(s + n - 8);
			key = h = mum(a ^ 0x589965cc75374cc3ULL, b ^ n ^ 0x1d8e4e27c47d124fULL);
			size_t at = (size_t)(h >> (64 - SLOT_BITS));
			struct slot *sl = &slots[at];
			if (sl->key == key && (sl->lc & 0xffff) == n + 1 &&
			    rd8(c->arena + c->soff[at]) == a && rd8(c->arena + c->soff[at] + n - 8) == b) {
				sl->lc += LC_ONE;
				count++;
				continue;
			}
		} else {
			h = table_hash(s, n, &key);
		}
		if (!table_hit(c, h, key, s, n, &e))
			break;
		count++;
	}
	c->count = count;
	c->nulls = nulls;
	return i;
}

static inline __attribute__((always_inline)) size_t
run_stream(struct col *c, const csv_field *f, size_t i, size_t k, size_t stride, int mode,
	   int pad)
{
	double xb[RUN];
	int64_t ib[RUN];
	uint8_t *hll = c->hll;
	while (i < k) {
		size_t end = k - i > RUN ? i + RUN : k, nx = 0, nv = 0;
		size_t minlen = c->minlen, maxlen = c->maxlen;
		int64_t ilo = c->imin, ihi = c->imax;
		double dlo = c->dmin, dhi = c->dmax;
		uint64_t nulls = c->nulls;
		for (; i < end; i++) {
			const csv_field *x = &f[i * stride];
			const char *s = x->p;
			size_t n = x->n;
			uint64_t w = 0;
			if (mode == M_INT) {
				int64_t v;
				if (!int_fast(s, n, &v, &w, pad))
					goto other;
				ib[nx] = v;
				ilo = v < ilo ? v : ilo;
				ihi = v > ihi ? v : ihi;
				xb[nx++] = i64_double(v);
			} else if (mode == M_FLOAT) {
				double v;
				if (!float_fast(s, n, &v, &w, pad))
					goto other;
				dlo = v < dlo ? v : dlo;
				dhi = v > dhi ? v : dhi;
				xb[nx++] = v;
			} else if (n <= 8) {
				w = load_pad(s, n, pad);
				if (null_key(w, n) && !x->quoted) {
					nulls++;
					continue;
				}
			}
			minlen = n < minlen ? n : minlen;
			maxlen = n > maxlen ? n : maxlen;
			hll_put(hll, n <= 8 ? hash_word(w, n) : hash_bytes(s, n));
			nv++;
			continue;
other:
			if (n > 4 || x->quoted || !null_text(s, n))
				break;
			nulls++;
		}
		c->minlen = minlen;
		c->maxlen = maxlen;
		c->imin = ilo;
		c->imax = ihi;
		c->dmin = dlo;
		c->dmax = dhi;
		c->nulls = nulls;
		c->count += nv;
		moments_merge(&c->wn, &c->mean, &c->m2, xb, nx);
		if (mode != M_STRING)
			hist_block(c, c->hist, xb, mode == M_INT ? ib : NULL, nx, mode == M_INT);
		if (i < end)
			break;
	}
	return i;
}

/* k cells of one column, f[i * stride] for i < k; pad: see load_pad. */
static inline __attribute__((always_inline)) void col_run(struct col *c, const csv_field *f,
							   size_t k, size_t stride, int pad)
{
	size_t i = 0;
	while (i < k) {
		switch (c->mode) {
		case M_TABLE:
			if (c->slots) /* else the first value allocates it */
				i = run_table(c, f, i, k, stride, pad);
			break;
		case M_INT:
			i = run_stream(c, f, i, k, stride, M_INT, pad);
			break;
		case M_FLOAT:
			i = run_stream(c, f, i, k, stride, M_FLOAT, pad);
			break;
		case M_STRING:
			i = run_stream(c, f, i, k, stride, M_STRING, pad);
			break;
		default:
			break;
		}
		if (i < k)
			col_add_slow(c, &f[i++ * stride]);
	}
}

/* ---- the profile ---- */

ds_profile *ds_profile_new(void)
{
	return xcalloc(1, sizeof(ds_profile));
}

void ds_profile_free(ds_profile **pp)
{
	ds_profile *p = *pp;
	if (!p)
		return;
	for (size_t i = 0; i < p->ncols; i++) {
		free(p->cols[i].name);
		free(p->cols[i].slots);
		free(p->cols[i].soff);
		free(p->cols[i].arena);
		free(p->cols[i].hll);
		free(p->cols[i].hist);
	}
	free(p->cols);
	free(p);
	*pp = NULL;
}

static inline __attribute__((always_inline)) int add(ds_profile *p, uint64_t row,
						      const csv_field *f, size_t nrec, size_t nf,
						      int pad)
{
	if (!nrec)
		return 0;
	if ((row == 0) == p->have_header)
		return -EINVAL;
	if (row == 0) {
		p->have_header = 1;
		p->nhdr = nf;
		p->ncols = nf < DS_PROFILE_MAX_COLS ? nf : DS_PROFILE_MAX_COLS;
		p->cols = xcalloc(p->ncols ? p->ncols : 1, sizeof *p->cols);
		for (size_t i = 0; i < p->ncols; i++) {
			struct col *c = &p->cols[i];
			c->name = xstrndup(f[i].p, f[i].n);
			c->types = T_INT | T_FLOAT | T_BOOL | T_DATE | T_TS;
			c->mode = M_TABLE;
			c->minlen = SIZE_MAX;
			c->imin = INT64_MAX;
			c->imax = INT64_MIN;
			c->dmin = INFINITY;
			c->dmax = -INFINITY;
		}
		if (nrec == 1)
			return 0;
		f += nf;
		nrec--;
	}
	if (nf != p->nhdr)
		return -EINVAL;
	for (size_t i = 0; i < p->ncols; i++)
		col_run(&p->cols[i], &f[i], nrec, nf, pad);
	p->rows += nrec;
	return 0;
}

int ds_profile_add(ds_profile *p, uint64_t row, const csv_field *f, size_t nf)
{
	return add(p, row, f, 1, nf, 0);
}

int ds_profile_add_batch(ds_profile *p, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	return add(p, row, f, nrec, nf, 1);
}

/* ---- JSON ---- */

static const char *type_name(const struct col *c)
{
	if (!c->count)
		return "null";
	if (c->types & T_INT)
		return "int";
	if (c->types & T_FLOAT)
		return "float";
	if (c->types & T_BOOL)
		return "bool";
	if (c->types & T_DATE)
		return "date";
	if (c->types & T_TS)
		return "timestamp";
	return "string";
}

/* json_object_set_new, which takes v whatever happens (it drops v when o
 * is NULL or the set fails); v NULL: the value could not be made. */
static int set(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0 ? 0 : -ENOMEM;
}

/* A table entry as top_json sorts them. */
struct entry {
	uint64_t count;
	const char *val;
	size_t len;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = n ? memcmp(x->val, y->val, n) : 0;
	return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int top_json(const struct col *c, json_t *o)
{
	if (c->hll) {
		int rc = set(o, "top", json_null());
		return rc ? rc : set(o, "top_dropped", json_string(c->dropped));
	}
	struct entry *v = xmalloc((c->ndist ? c->ndist : 1) * sizeof *v);
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++)
		if (c->slots[i].lc)
			/* arena is NULL when every value so far was empty */
			v[n++] = (struct entry){ slot_count(&c->slots[i]),
						 c->arena ? c->arena + c->soff[i] : "",
						 slot_len(&c->slots[i]) };
	qsort(v, n, sizeof *v, cmp_entry);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n && i < DS_TOP_SHOW && !rc; i++) {
		json_t *e = json_object();
		rc = set(e, "value", json_stringn(v[i].val, v[i].len));
		rc = rc ? rc : set(e, "count", json_integer((json_int_t)v[i].count));
		if (!rc && json_array_append_new(arr, e))
			rc = -ENOMEM;
		else if (rc)
			json_decref(e);
	}
	if (rc)
		json_decref(arr);
	else
		rc = set(o, "top", arr);
	free(v);
	return rc;
}

static json_t *real_or_null(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

/* A bin edge k 2^e (exact, |k| <= 2^53), the top one clamped to the
 * largest double: JSON has no infinity, and every value lies below. */
static double hist_edge(int64_t k, int e)
{
	double x = ldexp((double)k, e);
	return isinf(x) ? copysign(DBL_MAX, x) : x;
}

/* "histogram": the bins from the first non-empty one to the last. */
static int hist_json(const struct col *c, json_t *o)
{
	struct hist tmp;
	const struct hist *h = c->hist;
	if (!c->hll) {
		hist_table(c, &tmp);
		h = &tmp;
	}
	if (!h || h->off || !c->count)
		return 0;
	size_t a = 0, b = DS_HIST_BINS;
	while (a < b && !h->n[a])
		a++;
	while (b > a && !h->n[b - 1])
		b--;
	json_t *arr = json_array();
	int rc = arr ? 0 : -ENOMEM;
	for (size_t j = a; !rc && j < b; j++) {
		int64_t k = h->base + (int64_t)j;
		json_int_t cnt = (json_int_t)h->n[j];
		json_t *bin;
		if (!h->isf) {
			/* ints: the bin's least and greatest ints, lo == hi at e 0;
			 * (k + 1) 2^e - 1 is at most INT64_MAX, 2^63 being a multiple */
			int64_t lo = (int64_t)((uint64_t)k << h->e);
			bin = json_pack("{s:I,s:I,s:I}", "lo", (json_int_t)lo, "hi",
					(json_int_t)(lo + (int64_t)(((uint64_t)1 << h->e) - 1)),
					"count", cnt);
		} else if (c->dmin == c->dmax) {
			/* one value: its own bin, width 0 */
			bin = json_pack("{s:f,s:f,s:I}", "lo", c->dmin, "hi", c->dmax, "count", cnt);
		} else {
			bin = json_pack("{s:f,s:f,s:I}", "lo", hist_edge(k, h->e), "hi",
					hist_edge(k + 1, h->e), "count", cnt);
		}
		if (!bin || json_array_append_new(arr, bin))
			rc = -ENOMEM;
	}
	if (rc)
		json_decref(arr);
	else
		rc = set(o, "histogram", arr);
	return rc;
}

static int stats_json(const struct col *c, json_t *o)
{
	const char *t = type_name(c);
	int rc = 0;
	if (!strcmp(t, "int") || !strcmp(t, "float")) {
		int isint = t[0] == 'i';
		rc = set(o, "min", isint ? json_integer(c->imin) : real_or_null(c->dmin));
		rc = rc ? rc : set(o, "max", isint ? json_integer(c->imax) : real_or_null(c->dmax));
		double mean = c->mean, m2 = c->m2;
		if (!c->hll)
			table_moments(c, &mean, &m2);
		rc = rc ? rc : set(o, "mean", real_or_null(mean));
		rc = rc ? rc : set(o, "std", c->count < 2 ? json_null() :
					   real_or_null(sqrt(m2 / (double)(c->count - 1))));
		rc = rc ? rc : hist_json(c, o);
	} else if (!strcmp(t, "date") || !strcmp(t, "timestamp")) {
		rc = set(o, "min", json_string(c->tmin.text));
		rc = rc ? rc : set(o, "max", json_string(c->tmax.text));
	} else if (!strcmp(t, "string")) {
		rc = set(o, "min_length", json_integer((json_int_t)c->minlen));
		rc = rc ? rc : set(o, "max_length", json_integer((json_int_t)c->maxlen));
	}
	return rc;
}

static int col_json(const struct col *c, json_t **out)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:b}", "name", c->name, "type",
			      type_name(c), "count", (json_int_t)c->count, "nulls",
			      (json_int_t)c->nulls, "distinct",
			      (json_int_t)(c->hll ? llround(ds_hll_estimate(c->hll)) :
						    (long long)c->ndist),
			      "distinct_exact", !c->hll);
	int rc = o ? 0 : -ENOMEM;
	if (!rc)
		rc = stats_json(c, o);
	if (!rc)
		rc = top_json(c, o);
	if (rc)
		json_decref(o);
	*out = rc ? NULL : o;
	return rc;
}

int ds_profile_json(const ds_profile *p, char delim, json_t **out)
{
	char d[2] = { delim, '\0' };
	json_t *cols = json_array(), *o = NULL;
	int rc = cols ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < p->ncols; i++) {
		json_t *c;
		rc = col_json(&p->cols[i], &c);
		if (!rc && json_array_append_new(cols, c))
			rc = -ENOMEM;
	}
	if (!rc) {
		o = json_pack("{s:I,s:s,s:I}", "rows", (json_int_t)p->rows, "delimiter", d,
			      "column_count", (json_int_t)p->nhdr);
		/* jansson drops the value on any failure, a NULL object included */
		rc = set(o, "columns", cols);
		cols = NULL;
	}
	json_decref(cols);
	if (rc)
		json_decref(o);
	*out = rc ? NULL : o;
	return rc;
}
