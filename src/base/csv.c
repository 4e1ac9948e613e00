/* The CSV reader. See csv.h.
 *
 * Invariants:
 * 1. buf[0..len) holds the unquoted bytes of the current record's finished
 *    fields, each followed by '\0', then the bytes of the field being read;
 *    off[i] is where field i starts (i <= nf), fld[i] its length and
 *    quotedness (i < nf). Pointers into buf are made only at delivery, so
 *    buf may move while a record is read.
 * 2. raw counts the input bytes of the current record (quotes and
 *    delimiters included, its line end excluded); it never passes
 *    CSV_MAX_RECORD without the reader failing, so len <= raw + 1 and buf
 *    never needs more than MAX_CAP bytes.
 * 3. Once rc is set it never changes and every call returns it.
 * 4. The same bytes give the same records and the same error whatever the
 *    chunking: every decision that looks ahead (CRLF, "" in a quoted field,
 *    the header's end) waits in a state for the next byte instead.
 * 5. hi is set whenever buf[0..len) may hold a non-ASCII byte: a record
 *    with hi clear is ASCII, valid UTF-8 without a look.
 *
 * States (what the next byte means), and who moves between them:
 *   ST_PRE   header not seen yet: bytes go to pre until its first line end
 *            outside quotes (prelude), then the BOM is cut, the delimiter
 *            chosen (detect) and pre parsed as any chunk  -> ST_REC
 *   ST_REC   start of a record (LF, CRLF: a blank line);
 *            fast() first takes the whole plain records    -> ST_FIELD, ST_CR
 *   ST_FIELD start of a field                             -> ST_UNQ, ST_QUO
 *   ST_UNQ   in an unquoted field (in_unquoted)           -> ST_FIELD, ST_REC, ST_CR
 *   ST_QUO   in a quoted field (in_quoted)                -> ST_QQ
 *   ST_QQ    a quote inside a quoted field: "" or its end -> ST_QUO, ST_FIELD, ST_REC, ST_CR
 *   ST_CR    a CR outside quotes; LF must follow          -> ST_REC */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/csv.h"
#include "base/mem.h"
#include "base/utf8.h"

enum { ST_PRE, ST_REC, ST_FIELD, ST_UNQ, ST_QUO, ST_QQ, ST_CR };

/* Room for the record, its NULs and the block stores (SLACK). */
#define MAX_CAP (CSV_MAX_RECORD + 128)
/* The prelude stops at this size even without a line end: the header is
 * then too long, which the parser reports. */
#define PRE_MAX (CSV_MAX_RECORD + 16)

struct csv_reader {
	csv_record_fn fn;
	csv_batch_fn bfn; /* NULL: every record goes to fn */
	void *ud;
	char delim;
	int st;
	int rc;
	int finished;
	uint64_t line;  /* 1-based line of the next byte */
	uint64_t rline; /* line the current record starts on */
	uint64_t qline; /* line of the open quote, for an unterminated one */
	uint64_t nrec;
	size_t ncols; /* header's field count; 0 before the header */
	size_t raw;
	int hi; /* the record has a non-ASCII byte: its UTF-8 is checked */
	char *buf;
	size_t len, cap;
	size_t *off;
	csv_field *fld;
	size_t nf, fcap;
	/* prelude */
	char *pre;
	size_t plen, pcap;
	int pquote, pseen;
	/* error */
	char why[160];
	uint64_t eline, efield;
	/* the whole-record fast path (see fast()) */
	int infeed;      /* parse() is reading csv_feed's own input */
	unsigned nofast; /* records left to the byte-wise reader before trying again */
	char *scr;       /* the window, structural bytes made NULs (WIN + BLOCK) */
	uint32_t *pos;   /* their offsets in the window (WIN + 64) */
	const char *wp;  /* the window's input; NULL: none */
	size_t wn, wnp, wk; /* its length, count of pos, next pos to read */
	int whi;         /* the window has a non-ASCII byte */
	csv_field *bf;   /* a batch's fields, record after record (bcap records) */
	size_t bcap;
};

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Bytes of buf a block store may write past len: the scans store whole
 * 64-byte blocks before they know where the record stops. */
#define SLACK 72
#define BLOCK 64

/* Bit i (i < 64) set when p[i] is one of a, b, c, d or NUL; *hi gets bit i
 * set when p[i] is not ASCII. p must have 64 readable bytes. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline uint64_t block_mask(const char *p, char a, char b, char c, char d, uint64_t *hi)
{
	const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b), vc = _mm_set1_epi8(c),
		      vd = _mm_set1_epi8(d), z = _mm_setzero_si128();
	uint64_t m = 0, h = 0;
	for (int i = 0; i < BLOCK; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i e = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
					 _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd)));
		e = _mm_or_si128(e, _mm_cmpeq_epi8(v, z));
		m |= (uint64_t)(uint16_t)_mm_movemask_epi8(e) << i;
		h |= (uint64_t)(uint16_t)_mm_movemask_epi8(v) << i;
	}
	*hi = h;
	return m;
}
#else
static inline uint64_t block_mask(const char *p, char a, char b, char c, char d, uint64_t *hi)
{
	uint64_t m = 0, h = 0;
	for (int i = 0; i < BLOCK; i++) {
		char x = p[i];
		m |= (uint64_t)(x == a || x == b || x == c || x == d || x == '\0') << i;
		h |= (uint64_t)((unsigned char)x >> 7) << i;
	}
	*hi = h;
	return m;
}
#endif

/* The bits of positions below k (k <= 64). */
static inline uint64_t below(size_t k)
{
	return k >= 64 ? ~0ULL : (1ULL << k) - 1;
}

/* Copies the next block of input, min(n, 64) bytes, to out (64 bytes of
 * room) and returns its special bytes' mask (see block_mask) limited to
 * those bytes; *blk gets its length. The tail of an input chunk goes
 * through a padded copy so that nothing past p + n is read. */
static inline uint64_t load_block(const char *p, size_t n, char *out, char a, char b, char c,
				  char d, size_t *blk, uint64_t *hi)
{
	if (n >= BLOCK) {
		memcpy(out, p, BLOCK);
		*blk = BLOCK;
		return block_mask(p, a, b, c, d, hi);
	}
	char tmp[BLOCK] = { 0 };
	memcpy(tmp, p, n);
	memcpy(out, tmp, BLOCK);
	*blk = n;
	uint64_t m = block_mask(tmp, a, b, c, d, hi) & below(n);
	*hi &= below(n);
	return m;
}

/* Offset of the first byte of s[0..n) that does not start a well-formed
 * UTF-8 sequence, or n. ASCII is checked eight bytes at a time; NULs (the
 * field terminators in buf) are ASCII here. */
static size_t utf8_bad(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (i + 8 <= n) {
			uint64_t v;
			memcpy(&v, s + i, 8);
			if (!(v & HIGHS)) {
				i += 8;
				continue;
			}
		}
		if (!((unsigned char)s[i] & 0x80)) {
			i++;
			continue;
		}
		uint32_t cp;
		size_t l = sn_utf8_decode(s + i, n - i, &cp);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

/* Records the first error; every later call returns -EINVAL. */
static int fail(csv_reader *r, uint64_t line, uint64_t field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(csv_reader *r, uint64_t line, uint64_t field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof r->why, fmt, ap);
	va_end(ap);
	r->eline = line;
	r->efield = field;
	r->rc = -EINVAL;
	return r->rc;
}

csv_reader *csv_new(char delim, csv_record_fn fn, void *ud)
{
	csv_reader *r = xcalloc(1, sizeof *r);
	if (delim != ',' && delim != ';' && delim != '\t' && delim != '|')
		delim = 0;
	r->delim = delim;
	r->fn = fn;
	r->ud = ud;
	r->line = 1;
	r->st = ST_PRE;
	r->cap = 4096;
	r->buf = xmalloc(r->cap);
	r->fcap = 16;
	r->off = xmalloc(r->fcap * sizeof *r->off);
	r->fld = xmalloc(r->fcap * sizeof *r->fld);
	return r;
}

void csv_free(csv_reader **rp)
{
	csv_reader *r = *rp;
	if (!r)
		return;
	free(r->buf);
	free(r->off);
	free(r->fld);
	free(r->pre);
	free(r->scr);
	free(r->pos);
	free(r->bf);
	free(r);
	*rp = NULL;
}

void csv_set_batch(csv_reader *r, csv_batch_fn fn)
{
	r->bfn = fn;
}

char csv_delimiter(const csv_reader *r)
{
	return r->st == ST_PRE ? 0 : r->delim;
}

uint64_t csv_records(const csv_reader *r)
{
	return r->nrec;
}

const char *csv_error(const csv_reader *r, uint64_t *line, uint64_t *field)
{
	if (!r->why[0])
		return NULL;
	if (line)
		*line = r->eline;
	if (field)
		*field = r->efield;
	return r->why;
}

/* Makes room for n more bytes (and the block stores' overrun) if the
 * record bound allows it; returns the room there is. */
static inline size_t room(csv_reader *r, size_t n)
{
	if (r->len + n + SLACK > r->cap && r->cap < MAX_CAP) {
		size_t c = r->cap;
		while (c < r->len + n + SLACK && c < MAX_CAP)
			c *= 2;
		r->cap = c < MAX_CAP ? c : MAX_CAP;
		r->buf = xrealloc(r->buf, r->cap);
	}
	return r->cap - r->len - SLACK;
}

/* Starts field nf at buf[len]. */
static inline int field_begin(csv_reader *r)
{
	if (r->ncols && r->nf >= r->ncols)
		return fail(r, r->line, r->nf + 1, "more fields than the header's %zu", r->ncols);
	if (r->nf >= CSV_MAX_FIELDS)
		return fail(r, r->line, r->nf + 1, "more than %d fields", CSV_MAX_FIELDS);
	if (r->nf == r->fcap) {
		r->fcap *= 2;
		r->off = xrealloc(r->off, r->fcap * sizeof *r->off);
		r->fld = xrealloc(r->fld, r->fcap * sizeof *r->fld);
	}
	r->off[r->nf] = r->len;
	r->fld[r->nf].quoted = 0;
	return 0;
}

static inline void field_end(csv_reader *r)
{
	r->fld[r->nf].n = r->len - r->off[r->nf];
	r->buf[r->len++] = '\0'; /* room() always leaves space for it */
	r->nf++;
}

/* The field holding buf[pos]. */
static size_t field_at(const csv_reader *r, size_t pos)
{
	size_t i = 0;
	while (i + 1 < r->nf && r->off[i + 1] <= pos)
		i++;
	return i;
}

static int record_end(csv_reader *r)
{
	if (r->ncols && r->nf != r->ncols)
		return fail(r, r->rline, 0, "%zu fields, the header has %zu", r->nf, r->ncols);
	size_t bad = r->hi ? utf8_bad(r->buf, r->len) : r->len;
	if (bad < r->len) {
		uint64_t line = r->rline;
		for (size_t i = 0; i < bad; i++)
			line += r->buf[i] == '\n';
		return fail(r, line, field_at(r, bad) + 1, "invalid UTF-8");
	}
	for (size_t i = 0; i < r->nf; i++)
		r->fld[i].p = r->buf + r->off[i];
	if (!r->ncols)
		r->ncols = r->nf;
	int rc = r->fn(r->ud, r->nrec, r->rline, r->fld, r->nf);
	r->nrec++;
	if (r->nofast)
		r->nofast--;
	r->nf = 0;
	r->len = 0;
	r->raw = 0;
	r->hi = 0;
	r->st = ST_REC;
	if (rc)
		r->rc = rc;
	return rc;
}

static int too_long(csv_reader *r)
{
	return fail(r, r->rline, 0, "record longer than %zu bytes", CSV_MAX_RECORD);
}

/* Reads unquoted fields up to a special byte other than a delimiter
 * followed by an unquoted field: short fields then stay in this loop
 * rather than going through parse's states one by one. Each 64-byte block
 * is copied whole and its delimiters become the fields' NULs in place.
 * The record length is checked where the byte-wise reader checked it (at
 * each special byte, and at a block's end unless a delimiter ends the
 * input), so the same input gives the same error. */
static int in_unquoted(csv_reader *r, const char **pp, const char *end)
{
	const char d = r->delim;
	const char *p = *pp;
	int rc = 0;
	while (p < end) {
		size_t avail = (size_t)(end - p), n = room(r, avail < 4096 ? avail : 4096);
		n = n < avail ? n : avail;
		if (!n)
			return too_long(r);
		/* The per-field state lives in locals until an exit: stores into buf
		 * (char) may alias r's fields, which would make the compiler reload
		 * them after every one. */
		char *buf = r->buf;
		size_t *off = r->off;
		csv_field *fld = r->fld;
		size_t nf = r->nf, blk, base = r->len, rawbase = r->raw;
		uint64_t hi, m = load_block(p, n, buf + base, d, '"', '\n', '\r', &blk, &hi);
		for (; m; m &= m - 1) {
			size_t k = (size_t)__builtin_ctzll(m);
			if (rawbase + k > CSV_MAX_RECORD || p[k] != d) {
				r->len = base + k;
				r->raw = rawbase + k;
				r->hi |= (hi & below(k)) != 0;
				r->nf = nf;
				*pp = p + k;
				return rawbase + k > CSV_MAX_RECORD ? too_long(r) : 0;
			}
			/* field_end: the copied delimiter becomes the NUL */
			fld[nf].n = base + k - off[nf];
			buf[base + k] = '\0';
			nf++;
			if (p + k + 1 == end || p[k + 1] == '"') {
				r->len = base + k + 1;
				r->raw = rawbase + k + 1;
				r->hi |= (hi & below(k)) != 0;
				r->nf = nf;
				r->st = ST_FIELD;
				*pp = p + k + 1;
				return 0;
			}
			if ((r->ncols && nf >= r->ncols) || nf >= CSV_MAX_FIELDS || nf == r->fcap) {
				/* the rare cases: field_begin's checks and growth */
				r->len = base + k + 1;
				r->raw = rawbase + k + 1;
				r->nf = nf;
				if ((rc = field_begin(r))) {
					r->hi |= (hi & below(k)) != 0;
					*pp = p + k + 1;
					return rc;
				}
				off = r->off;
				fld = r->fld;
				continue;
			}
			off[nf] = base + k + 1;
			fld[nf].quoted = 0;
		}
		r->nf = nf;
		r->len = base + blk;
		r->raw = rawbase + blk;
		r->hi |= hi != 0;
		p += blk;
		if (r->raw > CSV_MAX_RECORD)
			return too_long(r);
	}
	*pp = p;
	return rc;
}

/* Reads a quoted field's bytes up to its next quote (or a NUL); newlines
 * are data but still count as lines. The length check falls where the
 * byte-wise reader had it: at each special byte, and at a block's end
 * unless a newline ends the input. */
static int in_quoted(csv_reader *r, const char **pp, const char *end)
{
	const char *p = *pp;
	while (p < end) {
		size_t avail = (size_t)(end - p), n = room(r, avail < 4096 ? avail : 4096);
		n = n < avail ? n : avail;
		if (!n)
			return too_long(r);
		size_t blk, base = r->len, rawbase = r->raw;
		uint64_t hi, m = load_block(p, n, r->buf + base, '"', '\n', '"', '"', &blk, &hi);
		int nl_last = 0;
		for (; m; m &= m - 1) {
			size_t k = (size_t)__builtin_ctzll(m);
			r->raw = rawbase + k;
			if (r->raw > CSV_MAX_RECORD)
				return too_long(r);
			if (p[k] != '\n') {
				r->len = base + k;
				r->hi |= (hi & below(k)) != 0;
				*pp = p + k;
				return 0;
			}
			r->line++;
			nl_last = k + 1 == blk;
		}
		r->len = base + blk;
		r->raw = rawbase + blk;
		r->hi |= hi != 0;
		p += blk;
		if (!(nl_last && p == end) && r->raw > CSV_MAX_RECORD)
			return too_long(r);
	}
	*pp = p;
	return 0;
}

/* A record ends (LF), or a field (delimiter), or CR waits for its LF. */
static int after_field(csv_reader *r, char c)
{
	field_end(r);
	if (c == r->delim) {
		r->st = ST_FIELD;
		return 0;
	}
	if (c == '\r') {
		r->st = ST_CR;
		return 0;
	}
	r->line++;
	return record_end(r);
}

/* ---- whole records ----
 *
 * Most records of a table hold no quote, no NUL and no CR but their line
 * end's: such a record is its bytes cut at ncols - 1 delimiters. fast()
 * reads those without the states above, a window (WIN bytes) at a time
 * from a record's start: one SIMD pass copies the window to scr with each
 * structural byte (the delimiter, LF, CR, quote, NUL) made a NUL and lists
 * their offsets in pos; a record whose structural bytes are ncols - 1
 * delimiters then LF or CRLF (and whose bytes are valid UTF-8) goes to the
 * callback with its fields in scr. Any other record (quoted, ragged, a CR
 * alone, invalid UTF-8, longer than a window, cut by the input's end) is
 * left whole to the byte-wise reader, which gives the records and errors
 * it always gave (invariant 4 holds: the fast path takes only records the
 * byte-wise reader would deliver, unchanged); the window stays for the
 * records after it.
 * With a batch callback, walk gathers a window's plain records in bf (at
 * most BATCH_FIELDS fields) and hands them on before it returns, as their
 * fields point into scr.
 * Invariants: fast() runs in ST_REC with nothing buffered and the header
 * known, only on csv_feed's own input (infeed); wp is NULL outside
 * csv_feed, as a later call's input may reuse the same addresses. */

#define WIN 16384
/* Fields of one batch (csv_set_batch): their array stays in L1 beside the
 * window while the callback reads it column by column. */
#define BATCH_FIELDS 512
/* Records a window could not hold are followed by this many records of
 * the byte-wise reader before a window is tried again: a table of such
 * records then scans a wasted window once per 64 of them. */
#define NOFAST 64

/* Appends the offsets (base + bit) of m's set bits to pos[np..); writes up
 * to 16 entries past the new count (pos has room). Unrolled: no branch per
 * bit for the up to 16 structural bytes a block of a table usually has. */
static inline size_t flatten(uint32_t *pos, size_t np, uint32_t base, uint64_t m)
{
	uint32_t *o = pos + np;
	size_t cnt = (size_t)__builtin_popcountll(m);
	for (int i = 0; i < 8; i++) {
		o[i] = base + (uint32_t)(m ? __builtin_ctzll(m) : 0);
		m &= m - 1;
	}
	if (cnt > 8) {
		for (int i = 8; i < 16; i++) {
			o[i] = base + (uint32_t)(m ? __builtin_ctzll(m) : 0);
			m &= m - 1;
		}
		for (int i = 16; m; i++) {
			o[i] = base + (uint32_t)__builtin_ctzll(m);
			m &= m - 1;
		}
	}
	return np + cnt;
}

/* The window pass: p[0..n) (n <= WIN) to out with the structural bytes
 * NUL, their offsets to pos; returns their count, *hi whether a byte is
 * not ASCII. The last block goes through a zeroed copy: nothing past p + n
 * is read, and its padding's NULs are masked off. */
#if defined(__x86_64__)
#include <immintrin.h>
/* flatten with BMI: tzcnt is defined at zero (64), so entries past the
 * count are written without a test, four at a time while bits are left
 * (a table's block has 8 to 12: three groups, no branch per bit). */
static inline __attribute__((always_inline, target("bmi,popcnt"))) size_t
flatten_bmi(uint32_t *pos, size_t np, uint32_t base, uint64_t m)
{
	uint32_t *o = pos + np;
	size_t cnt = (size_t)_mm_popcnt_u64(m);
	do {
		o[0] = base + (uint32_t)_tzcnt_u64(m);
		m = _blsr_u64(m);
		o[1] = base + (uint32_t)_tzcnt_u64(m);
		m = _blsr_u64(m);
		o[2] = base + (uint32_t)_tzcnt_u64(m);
		m = _blsr_u64(m);
		o[3] = base + (uint32_t)_tzcnt_u64(m);
		m = _blsr_u64(m);
		o += 4;
	} while (m);
	return np + cnt;
}

__attribute__((target("avx2,popcnt,bmi"))) static size_t
scan_avx2(const char *p, size_t n, char *out, uint32_t *pos, char d, int *hi)
{
	const __m256i vd = _mm256_set1_epi8(d), vn = _mm256_set1_epi8('\n'),
		      vr = _mm256_set1_epi8('\r'), vq = _mm256_set1_epi8('"'),
		      z = _mm256_setzero_si256();
	__m256i acc = z;
	size_t np = 0;
	for (size_t b = 0; b < n; b += BLOCK) {
		char tmp[BLOCK];
		const char *s = p + b;
		if (n - b < BLOCK) {
			memset(tmp, 0, BLOCK);
			memcpy(tmp, s, n - b);
			s = tmp;
		}
		__m256i v0 = _mm256_loadu_si256((const __m256i *)(const void *)s);
		__m256i v1 = _mm256_loadu_si256((const __m256i *)(const void *)(s + 32));
		__m256i e0 = _mm256_or_si256(
			_mm256_or_si256(_mm256_cmpeq_epi8(v0, vd), _mm256_cmpeq_epi8(v0, vn)),
			_mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v0, vr),
							_mm256_cmpeq_epi8(v0, vq)),
					_mm256_cmpeq_epi8(v0, z)));
		__m256i e1 = _mm256_or_si256(
			_mm256_or_si256(_mm256_cmpeq_epi8(v1, vd), _mm256_cmpeq_epi8(v1, vn)),
			_mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(v1, vr),
							_mm256_cmpeq_epi8(v1, vq)),
					_mm256_cmpeq_epi8(v1, z)));
		_mm256_storeu_si256((__m256i *)(void *)(out + b), _mm256_andnot_si256(e0, v0));
		_mm256_storeu_si256((__m256i *)(void *)(out + b + 32), _mm256_andnot_si256(e1, v1));
		acc = _mm256_or_si256(acc, _mm256_or_si256(v0, v1));
		uint64_t m = (uint64_t)(uint32_t)_mm256_movemask_epi8(e0) |
			     (uint64_t)(uint32_t)_mm256_movemask_epi8(e1) << 32;
		np = flatten_bmi(pos, np, (uint32_t)b, m & below(n - b));
	}
	*hi = _mm256_movemask_epi8(acc) != 0;
	return np;
}
#endif

static size_t scan_plain(const char *p, size_t n, char *out, uint32_t *pos, char d, int *hi)
{
	size_t np = 0;
	uint64_t h = 0;
	for (size_t b = 0; b < n; b += BLOCK) {
		char tmp[BLOCK] = { 0 };
		size_t k = n - b < BLOCK ? n - b : BLOCK;
		memcpy(tmp, p + b, k);
		uint64_t bh, m = block_mask(tmp, d, '\n', '\r', '"', &bh);
		m &= below(k);
		h |= bh;
		for (size_t i = 0; i < BLOCK; i++)
			out[b + i] = (m >> i) & 1 ? '\0' : tmp[i];
		np = flatten(pos, np, (uint32_t)b, m);
	}
	*hi = h != 0;
	return np;
}

static size_t scan(const char *p, size_t n, char *out, uint32_t *pos, char d, int *hi)
{
#if defined(__x86_64__)
	static int avx2 = -1;
	if (avx2 < 0)
		avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") &&
		       __builtin_cpu_supports("bmi");
	if (avx2)
		return scan_avx2(p, n, out, pos, d, hi);
#endif
	return scan_plain(p, n, out, pos, d, hi);
}

enum { W_CUT, W_SLOW };

/* Hands the nb records gathered in bf to the batch callback. */
static int batch_flush(csv_reader *r, size_t *nb)
{
	if (!*nb)
		return 0;
	int rc = r->bfn(r->ud, r->nrec, r->bf, *nb, r->ncols);
	r->nrec += *nb;
	*nb = 0;
	if (rc)
		r->rc = rc;
	return rc;
}

/* Delivers the window's whole records from offset *off on (see above);
 * *off ends at the first byte not taken. W_CUT: the window ends inside the
 * next record; W_SLOW: the next record is the byte-wise reader's; or the
 * callback stopped (r->rc). */
static int walk(csv_reader *r, size_t *offp)
{
	const char *p = r->wp, *scr = r->scr;
	const uint32_t *pos = r->pos;
	const size_t nc = r->ncols, np = r->wnp;
	const unsigned char d = (unsigned char)r->delim;
	csv_field *fld = r->fld;
	size_t k = r->wk, off = *offp, nb = 0;
	int why = W_CUT;
	while (k < np) {
		size_t e = pos[k];
		if (e == off && p[e] == '\n') { /* a blank line, as ST_REC takes it */
			r->line++;
			off++;
			k++;
			continue;
		}
		if (e == off && p[e] == '\r') {
			why = W_SLOW; /* a CRLF blank line or a CR alone: ST_CR's to tell */
			break;
		}
		if (np - k < nc)
			break;
		if (r->bfn)
			fld = r->bf + nb * nc; /* the next record of the batch */
		unsigned bad = 0;
		size_t prev = off;
		for (size_t i = 0; i + 1 < nc; i++) {
			e = pos[k + i];
			bad |= (unsigned char)p[e] ^ d;
			fld[i].p = scr + prev;
			fld[i].n = e - prev;
			prev = e + 1;
		}
		e = pos[k + nc - 1];
		size_t used = nc;
		if (bad || (p[e] != '\n' && p[e] != '\r')) {
			why = W_SLOW;
			break;
		}
		if (p[e] == '\r') {
			if (k + nc == np)
				break; /* its LF may be in the next window */
			if (pos[k + nc] != e + 1 || p[e + 1] != '\n') {
				why = W_SLOW;
				break;
			}
			used++;
		}
		if (r->whi && utf8_bad(p + off, e - off) < e - off) {
			why = W_SLOW;
			break;
		}
		fld[nc - 1].p = scr + prev;
		fld[nc - 1].n = e - prev;
		k += used;
		off = pos[k - 1] + 1;
		if (r->bfn) {
			r->line++;
			if (++nb == r->bcap && batch_flush(r, &nb))
				break;
			continue;
		}
		int rc = r->fn(r->ud, r->nrec, r->line, fld, nc);
		r->nrec++;
		r->line++;
		if (rc) {
			r->rc = rc;
			break;
		}
	}
	if (nb)
		batch_flush(r, &nb); /* the batch's fields live in scr: handed on before it changes */
	r->wk = k;
	*offp = off;
	return why;
}

/* Takes the whole records at *pp on (see above); stops at the end, at a
 * record for the byte-wise reader, or at the callback's refusal. */
static int fast(csv_reader *r, const char **pp, const char *end)
{
	const char *p = *pp;
	if (r->fcap < r->ncols) {
		r->fcap = r->ncols;
		r->off = xrealloc(r->off, r->fcap * sizeof *r->off);
		r->fld = xrealloc(r->fld, r->fcap * sizeof *r->fld);
	}
	if (!r->scr) {
		r->scr = xmalloc(WIN + BLOCK);
		r->pos = xmalloc((WIN + 64) * sizeof *r->pos);
	}
	if (r->bfn && !r->bf) {
		r->bcap = r->ncols < BATCH_FIELDS ? BATCH_FIELDS / r->ncols : 1;
		r->bf = xcalloc(r->bcap * r->ncols, sizeof *r->bf);
	}
	/* walk writes no quoted flag: bf's are zero from the start, fld's the
	 * byte-wise reader may have set since the last call */
	for (size_t i = 0; i < r->ncols; i++)
		r->fld[i].quoted = 0;
	while (p < end) {
		if (!r->wp || p < r->wp || p >= r->wp + r->wn) {
			size_t n = (size_t)(end - p) < WIN ? (size_t)(end - p) : WIN;
			r->wnp = scan(p, n, r->scr, r->pos, r->delim, &r->whi);
			r->wp = p;
			r->wn = n;
			r->wk = 0;
		}
		size_t off = (size_t)(p - r->wp);
		while (r->wk < r->wnp && r->pos[r->wk] < off)
			r->wk++; /* what the byte-wise reader took */
		int why = walk(r, &off);
		p = r->wp + off;
		if (r->rc)
			break;
		if (why == W_SLOW || r->wp + r->wn == end)
			break; /* the record (or what of it came) is the byte-wise reader's */
		if (!off) {
			r->nofast = NOFAST; /* a record longer than a window */
			break;
		}
		r->wp = NULL; /* the next window starts at the cut record */
	}
	*pp = p;
	return r->rc;
}

static int parse(csv_reader *r, const char *p, const char *end)
{
	int rc = 0;
	while (p < end && !rc) {
		char c = *p;
		switch (r->st) {
		case ST_REC:
			if (r->infeed && r->ncols && !r->nofast) {
				/* back here only for a record fast() left: no loop */
				if ((rc = fast(r, &p, end)) || p == end)
					break;
				c = *p;
			}
			p++;
			if (c == '\n') {
				r->line++;
				break;
			}
			r->rline = r->line;
			if (c == '\r') {
				r->st = ST_CR; /* nf == 0: a blank line if LF follows */
				break;
			}
			p--;
			r->st = ST_FIELD;
			break;
		case ST_FIELD:
			rc = field_begin(r);
			if (rc)
				break;
			if (c == '"') {
				p++;
				r->raw++;
				r->fld[r->nf].quoted = 1;
				r->qline = r->line;
				r->st = ST_QUO;
			} else {
				r->st = ST_UNQ;
			}
			break;
		case ST_UNQ:
			rc = in_unquoted(r, &p, end);
			if (rc || p == end || r->st != ST_UNQ)
				break;
			c = *p++;
			r->raw++;
			if (c == '"')
				rc = fail(r, r->line, r->nf + 1, "quote inside an unquoted field");
			else if (c == '\0')
				rc = fail(r, r->line, r->nf + 1, "NUL byte");
			else
				rc = after_field(r, c);
			break;
		case ST_QUO:
			rc = in_quoted(r, &p, end);
			if (rc || p == end)
				break;
			c = *p++;
			r->raw++;
			if (c == '\0')
				rc = fail(r, r->line, r->nf + 1, "NUL byte");
			else
				r->st = ST_QQ;
			break;
		case ST_QQ:
			p++;
			r->raw++;
			if (c == '"') {
				room(r, 1);
				r->buf[r->len++] = '"';
				r->st = ST_QUO;
			} else if (c == r->delim || c == '\n' || c == '\r') {
				rc = after_field(r, c);
			} else {
				rc = fail(r, r->line, r->nf + 1, "text after a closing quote");
			}
			if (!rc && r->raw > CSV_MAX_RECORD)
				rc = too_long(r);
			break;
		case ST_CR:
			p++;
			if (c != '\n') {
				rc = fail(r, r->line, 0, "CR not followed by LF");
				break;
			}
			r->line++;
			if (r->nf)
				rc = record_end(r);
			else
				r->st = ST_REC;
			break;
		}
	}
	return rc;
}

/* The candidate delimiter that splits the header (its first line with
 * text, quotes honoured) into the most fields; ',' on a tie. */
static char detect(const char *p, size_t n)
{
	static const char cand[] = { ',', ';', '\t', '|' };
	size_t cnt[4] = { 0 }, i = 0;
	int q = 0;
	while (i < n && (p[i] == '\n' || p[i] == '\r'))
		i++;
	for (; i < n; i++) {
		if (p[i] == '"')
			q = !q;
		else if (!q && p[i] == '\n')
			break;
		else if (!q)
			for (int k = 0; k < 4; k++)
				cnt[k] += p[i] == cand[k];
	}
	int best = 0;
	for (int k = 1; k < 4; k++)
		if (cnt[k] > cnt[best])
			best = k;
	return cand[best];
}

/* Ends the prelude: cuts a BOM, settles the delimiter, parses pre. */
static int start(csv_reader *r)
{
	/* No input at all leaves pre NULL: arithmetic on it would be undefined. */
	static char empty[1];
	if (!r->pre)
		r->pre = empty, r->plen = 0;
	size_t skip = r->plen >= 3 && memcmp(r->pre, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	if (!r->delim)
		r->delim = detect(r->pre + skip, r->plen - skip);
	r->st = ST_REC;
	int rc = parse(r, r->pre + skip, r->pre + r->plen);
	if (r->pre == empty)
		r->pre = NULL;
	xfree(&r->pre);
	r->plen = r->pcap = 0;
	return rc;
}

/* Buffers the header's bytes; *used says how many of p[0..n) it took. */
static int prelude(csv_reader *r, const char *p, size_t n, size_t *used)
{
	size_t i = 0;
	int done = 0;
	for (; i < n && r->plen + i < PRE_MAX; i++) {
		char c = p[i];
		if (c == '"')
			r->pquote = !r->pquote;
		else if (c == '\n' && !r->pquote && r->pseen) {
			i++;
			done = 1;
			break;
		} else if (c != '\n' && c != '\r')
			r->pseen = 1;
	}
	if (r->plen + i >= PRE_MAX)
		done = 1;
	if (r->plen + i > r->pcap) {
		r->pcap = (r->plen + i) * 2;
		r->pre = xrealloc(r->pre, r->pcap);
	}
	if (i)
		memcpy(r->pre + r->plen, p, i);
	r->plen += i;
	*used = i;
	return done ? start(r) : 0;
}

int csv_feed(csv_reader *r, const char *p, size_t n)
{
	if (r->rc)
		return r->rc;
	if (r->finished)
		return fail(r, r->line, 0, "input fed after its end");
	if (r->st == ST_PRE) {
		size_t used;
		int rc = prelude(r, p, n, &used);
		if (rc)
			return rc;
		p += used;
		n -= used;
	}
	if (!n)
		return 0;
	r->infeed = 1;
	int rc = parse(r, p, p + n);
	r->infeed = 0;
	r->wp = NULL;
	return rc;
}

int csv_finish(csv_reader *r)
{
	int rc = r->rc;
	if (rc || r->finished)
		return rc;
	if (r->st == ST_PRE)
		rc = start(r);
	r->finished = 1;
	if (rc)
		return rc;
	switch (r->st) {
	case ST_FIELD:
		rc = field_begin(r);
		if (rc)
			return rc;
		field_end(r);
		return record_end(r);
	case ST_UNQ:
	case ST_QQ:
		field_end(r);
		return record_end(r);
	case ST_QUO:
		return fail(r, r->qline, r->nf + 1, "unterminated quoted field");
	case ST_CR:
		return fail(r, r->line, 0, "CR not followed by LF");
	default:
		break;
	}
	if (!r->nrec)
		return fail(r, r->line, 0, "empty input: no header row");
	return 0;
}

int csv_parse(const char *p, size_t n, char delim, csv_record_fn fn, void *ud, char *err,
	      size_t errlen)
{
	csv_reader *r = csv_new(delim, fn, ud);
	int rc = csv_feed(r, p, n);
	if (!rc)
		rc = csv_finish(r);
	uint64_t line, field;
	const char *why = csv_error(r, &line, &field);
	if (why && errlen) {
		if (field)
			snprintf(err, errlen, "line %llu, field %llu: %s", (unsigned long long)line,
				 (unsigned long long)field, why);
		else
			snprintf(err, errlen, "line %llu: %s", (unsigned long long)line, why);
	}
	csv_free(&r);
	return rc;
}
