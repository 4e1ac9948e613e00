/* Column profiles. See profile.h.
 *
 * Invariants, per column:
 * 1. types holds the types every non-null value seen so far fits; T_INT
 *    implies T_FLOAT and T_DATE implies T_TS (a value that fits the narrow
 *    type fits the wide one), so the answer is the narrowest bit left.
 * 2. While T_FLOAT is set the numeric summary has seen every value: min
 *    and max directly; mean and m2 from the exact table (counts x values,
 *    two passes at the end) while hll == NULL, else as Welford's running
 *    summary, seeded at overflow from the table, of wn values. The instant
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
 *    columns skip parsing, which is most of the profile's work. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "dataset/profile.h"

enum { T_INT = 1, T_FLOAT = 2, T_BOOL = 4, T_DATE = 8, T_TS = 16 };

#define NSLOTS 2048 /* power of 2, twice DS_TOP_TRACK: probes stay short */
#define SLOT_BITS 11 /* log2(NSLOTS) */
#define GROUP 8 /* control bytes looked at at once */
#define EMPTY 0x80 /* a free slot's control byte; a full one's is its tag, < 0x80 */
#define HLL_M (1u << DS_HLL_P)
#define TEXT_MAX 48 /* longest date or timestamp text we accept */

/* An exact table entry. key: a value of at most 8 bytes itself (zero
 * above them), so equal keys and lengths are equal values; a longer
 * value's table hash, confirmed against arena. */
struct slot {
	uint64_t key;
	uint64_t count; /* 0: empty slot */
	uint32_t off, len; /* the value in arena */
};

struct instant {
	int64_t s;
	int32_t ns;
	char text[TEXT_MAX + 1];
};

struct col {
	char *name;
	unsigned types;
	uint64_t count, nulls;
	/* numbers */
	int64_t imin, imax;
	double dmin, dmax, mean, m2;
	uint64_t wn; /* values in mean/m2 (Welford) once hll is set */
	/* dates and timestamps */
	struct instant tmin, tmax;
	/* strings */
	size_t minlen, maxlen;
	/* distinct values: an open-addressed table probed GROUP slots at a
	 * time through ctrl (a tag per slot, EMPTY when free; its first GROUP
	 * bytes repeated at its end, so a group never wraps) */
	uint8_t *ctrl;
	struct slot *slots;
	char *arena;
	size_t alen, acap, ndist;
	const char *dropped;
	uint8_t *hll;
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
uint64_t ds_hash(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (n * 0xa0761d6478bd642fULL);
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		h = mum(h ^ 0xe7037ed1a0b428dbULL, rd8(p + i) ^ 0x8ebc6af09c88c6e3ULL) ^ h;
	h = mum(h ^ 0x589965cc75374cc3ULL, tail_word(p, n) ^ 0x1d8e4e27c47d124fULL);
	return mum(h ^ 0xa0761d6478bd642fULL, h ^ 0xe7037ed1a0b428dbULL);
}

void ds_hll_add(uint8_t *regs, uint64_t hash)
{
	const int q = 64 - DS_HLL_P;
	uint64_t w = hash << DS_HLL_P;
	int rank = w ? __builtin_clzll(w) + 1 : q + 1;
	if (rank > q + 1)
		rank = q + 1;
	uint8_t *r = &regs[hash >> q];
	if (*r < rank)
		*r = (uint8_t)rank;
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

/* Length and first byte first: most values are no marker at all. */
static inline int is_null(const csv_field *f)
{
	const char *s = f->p;
	if (f->quoted)
		return 0;
	switch (f->n) {
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
static void num_add(struct col *c, double x, int64_t iv, int isint)
{
	uint64_t k = c->count; /* values before this one */
	if (isint) {
		if (!k || iv < c->imin)
			c->imin = iv;
		if (!k || iv > c->imax)
			c->imax = iv;
	}
	if (!k || x < c->dmin)
		c->dmin = x;
	if (!k || x > c->dmax)
		c->dmax = x;
	if (!c->hll)
		return;
	double delta = x - c->mean;
	c->wn++;
	c->mean += delta / (double)c->wn;
	c->m2 += delta * (x - c->mean);
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
			c->types &= ~(unsigned)T_INT;
			num_add(c, x, 0, 0);
		} else {
			c->types &= ~(unsigned)(T_INT | T_FLOAT);
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
static double slot_num(const struct col *c, const struct slot *sl)
{
	const char *s = c->arena + sl->off;
	int64_t iv;
	double x = 0;
	if (parse_int(s, sl->len, &iv) == 0)
		return (double)iv;
	ds_parse_float(s, sl->len, &x);
	return x;
}

/* Mean and m2 of the values the exact table counts, two passes (the sum
 * compensated, Neumaier): no worse than Welford's one pass. */
static void table_moments(const struct col *c, double *mean, double *m2)
{
	double sum = 0, comp = 0, n = 0, q = 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		if (!sl->count)
			continue;
		double t = (double)sl->count * slot_num(c, sl), u = sum + t;
		comp += fabs(sum) >= fabs(t) ? (sum - u) + t : (t - u) + sum;
		sum = u;
		n += (double)sl->count;
	}
	double m = n ? (sum + comp) / n : 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		if (sl->count) {
			double d = slot_num(c, sl) - m;
			q += (double)sl->count * d * d;
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
	}
	c->hll = xcalloc(HLL_M, 1);
	for (size_t i = 0; i < NSLOTS; i++) {
		const struct slot *sl = &c->slots[i];
		/* an empty value may have no arena yet */
		if (sl->count)
			ds_hll_add(c->hll, ds_hash(sl->len ? c->arena + sl->off : "", sl->len));
	}
	xfree(&c->slots);
	xfree(&c->ctrl);
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
static inline uint64_t table_hash(const char *s, size_t n, uint64_t *key)
{
	uint64_t h;
	if (n <= 8) {
		*key = n == 8 ? rd8(s) : tail_word(s, n);
		return mum(*key ^ 0xe7037ed1a0b428dbULL, n ^ 0x8ebc6af09c88c6e3ULL);
	}
	if (n <= 16)
		h = mum(rd8(s) ^ 0x589965cc75374cc3ULL, rd8(s + n - 8) ^ n ^ 0x1d8e4e27c47d124fULL);
	else
		h = ds_hash(s, n);
	*key = h;
	return h;
}

/* ctrl[i..i+GROUP) as a word whose byte k is slot i + k's. */
static inline uint64_t ctrl_group(const uint8_t *ctrl, size_t i)
{
	uint64_t g;
	memcpy(&g, ctrl + i, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	g = __builtin_bswap64(g);
#endif
	return g;
}

/* The table's entry for s[0..n): counted once more (1), or absent (0,
 * *empty the free slot it would take). The slots whose tag matches come
 * from one word test (a byte may match falsely, never miss), so a hit
 * takes one group and one key compare, without a branch per slot. No
 * entry is ever removed: an absent value's first free slot in its probe
 * order is where a later lookup finds it. */
static inline int table_hit(struct col *c, uint64_t h, uint64_t key, const char *s, size_t n,
			    size_t *empty)
{
	if (!c->slots) {
		c->slots = xcalloc(NSLOTS, sizeof *c->slots);
		c->ctrl = xmalloc(NSLOTS + GROUP);
		memset(c->ctrl, EMPTY, NSLOTS + GROUP);
	}
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	const uint64_t tag = (h & 0x7f) * ones;
	size_t i = (size_t)(h >> (64 - SLOT_BITS));
	for (;;) {
		uint64_t g = ctrl_group(c->ctrl, i), x = g ^ tag;
		for (uint64_t m = (x - ones) & ~x & highs; m; m &= m - 1) {
			struct slot *sl = &c->slots[(i + (size_t)(__builtin_ctzll(m) >> 3)) & (NSLOTS - 1)];
			if (sl->key == key && sl->len == n &&
			    (n <= 8 || same_bytes(c->arena + sl->off, s, n))) {
				sl->count++;
				return 1;
			}
		}
		uint64_t e = g & highs;
		if (e) {
			*empty = (i + (size_t)(__builtin_ctzll(e) >> 3)) & (NSLOTS - 1);
			return 0;
		}
		i = (i + GROUP) & (NSLOTS - 1);
	}
}

static void table_put(struct col *c, size_t i, uint64_t h, uint64_t key, const char *s, size_t n)
{
	if (c->alen + n > c->acap) {
		c->acap = c->acap ? c->acap : 1024;
		while (c->alen + n > c->acap)
			c->acap *= 2;
		c->arena = xrealloc(c->arena, c->acap);
	}
	if (n)
		memcpy(c->arena + c->alen, s, n);
	c->slots[i] = (struct slot){ .key = key, .count = 1, .off = (uint32_t)c->alen,
				     .len = (uint32_t)n };
	c->ctrl[i] = (uint8_t)(h & 0x7f);
	if (i < GROUP)
		c->ctrl[NSLOTS + i] = c->ctrl[i];
	c->alen += n;
	c->ndist++;
}

static void col_add(struct col *c, const csv_field *f)
{
	const char *s = f->p;
	size_t n = f->n, i = 0;
	if (is_null(f)) {
		c->nulls++;
		return;
	}
	uint64_t h = 0, key = 0;
	if (!c->hll) {
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
	if (!c->count || n < c->minlen)
		c->minlen = n;
	if (!c->count || n > c->maxlen)
		c->maxlen = n;
	if (c->hll)
		ds_hll_add(c->hll, ds_hash(s, n));
	else
		table_put(c, i, h, key, s, n);
	c->count++;
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
		free(p->cols[i].ctrl);
		free(p->cols[i].arena);
		free(p->cols[i].hll);
	}
	free(p->cols);
	free(p);
	*pp = NULL;
}

int ds_profile_add(ds_profile *p, uint64_t row, const csv_field *f, size_t nf)
{
	if ((row == 0) == p->have_header)
		return -EINVAL;
	if (row == 0) {
		p->have_header = 1;
		p->nhdr = nf;
		p->ncols = nf < DS_PROFILE_MAX_COLS ? nf : DS_PROFILE_MAX_COLS;
		p->cols = xcalloc(p->ncols ? p->ncols : 1, sizeof *p->cols);
		for (size_t i = 0; i < p->ncols; i++) {
			p->cols[i].name = xstrndup(f[i].p, f[i].n);
			p->cols[i].types = T_INT | T_FLOAT | T_BOOL | T_DATE | T_TS;
		}
		return 0;
	}
	if (nf != p->nhdr)
		return -EINVAL;
	for (size_t i = 0; i < p->ncols; i++)
		col_add(&p->cols[i], &f[i]);
	p->rows++;
	return 0;
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

static int cmp_slot(const void *a, const void *b, void *arena)
{
	const struct slot *x = *(struct slot *const *)a, *y = *(struct slot *const *)b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = n ? memcmp((char *)arena + x->off, (char *)arena + y->off, n) : 0;
	return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int top_json(const struct col *c, json_t *o)
{
	if (c->hll) {
		int rc = set(o, "top", json_null());
		return rc ? rc : set(o, "top_dropped", json_string(c->dropped));
	}
	struct slot **v = xmalloc((c->ndist ? c->ndist : 1) * sizeof *v);
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; c->slots && i < NSLOTS; i++)
		if (c->slots[i].count)
			v[n++] = &c->slots[i];
	qsort_r(v, n, sizeof *v, cmp_slot, c->arena);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n && i < DS_TOP_SHOW && !rc; i++) {
		/* arena is NULL when every value so far was empty */
		const char *val = c->arena ? c->arena + v[i]->off : "";
		json_t *e = json_object();
		rc = set(e, "value", json_stringn(val, v[i]->len));
		rc = rc ? rc : set(e, "count", json_integer((json_int_t)v[i]->count));
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
