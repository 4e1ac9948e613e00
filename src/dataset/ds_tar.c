/* The tar reader is a state machine over 512-byte blocks:
 *
 *   HEAD --regular--> DATA --size bytes--> PAD --> HEAD
 *   HEAD --x, g, L, K--> META (collected, applied to the next member) --> PAD
 *   HEAD --directory--> SKIP (its data, if any) --> PAD
 *   HEAD --two zero blocks--> END (the rest, blocking padding, ignored)
 *
 * Invariants: hlen < 512 bytes of a header are held in HEAD; left counts
 * the bytes of the member's data still to come in DATA, META and SKIP,
 * then of its padding in PAD; begin and end callbacks pair up. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "dataset/ds.h"
#include "dataset/ds_tar.h"

#define BLOCK 512
/* Sizes past 2^62 cannot be real and would overflow the padding sums. */
#define SIZE_MAX_ ((uint64_t)1 << 62)

enum { HEAD, DATA, META, SKIP, PAD, END };

struct ds_tar {
	const ds_tar_cb *cb;
	void *ud;
	int state, zeros;
	unsigned char hdr[BLOCK];
	size_t hlen;
	uint64_t left, size, off; /* off: bytes consumed, for messages */
	char meta_type;
	char *meta;               /* META's bytes */
	size_t mlen;
	char *next_path;          /* from pax or L, for the next member */
	int has_next_size;
	uint64_t next_size;
	char err[DS_PATH_MAX + 200];
};

ds_tar *ds_tar_new(const ds_tar_cb *cb, void *ud)
{
	ds_tar *t = xcalloc(1, sizeof *t);
	t->cb = cb;
	t->ud = ud;
	return t;
}

void ds_tar_free(ds_tar **tp)
{
	ds_tar *t = *tp;
	if (!t)
		return;
	free(t->meta);
	free(t->next_path);
	free(t);
	*tp = NULL;
}

const char *ds_tar_error(const ds_tar *t)
{
	return t->err[0] ? t->err : NULL;
}

static int bad(ds_tar *t, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(ds_tar *t, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->err, sizeof t->err, fmt, ap);
	va_end(ap);
	return rc;
}

/* An octal field (NUL/space padded), or GNU base-256 (high bit set). */
static int parse_num(const unsigned char *f, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return -EINVAL; /* negative, or too large for 62 bits */
		for (i = 1; i < n; i++) {
			if (v >> 54)
				return -EINVAL;
			v = v << 8 | f[i];
		}
		*out = v;
		return v < SIZE_MAX_ ? 0 : -EINVAL;
	}
	while (i < n && f[i] == ' ')
		i++;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v >> 59)
			return -EINVAL;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	for (; i < n; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -EINVAL;
	*out = v;
	return v < SIZE_MAX_ ? 0 : -EINVAL;
}

static int checksum_ok(const unsigned char *h)
{
	uint64_t want;
	long u = 0, s = 0;
	if (parse_num(h + 148, 8, &want))
		return 0;
	for (int i = 0; i < BLOCK; i++) {
		unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
		u += c;
		s += (signed char)c;
	}
	/* Some old writers summed signed chars. */
	return (uint64_t)u == want || (s >= 0 && (uint64_t)s == want);
}

/* The member's path: the pending pax/L one, else prefix/name (POSIX).
 * -1 when it does not fit (never cut: a cut path could be another valid
 * one). */
static int member_path(ds_tar *t, char *out, size_t cap)
{
	const unsigned char *h = t->hdr;
	if (t->next_path) {
		if (strlen(t->next_path) >= cap)
			return -1;
		snprintf(out, cap, "%s", t->next_path);
		return 0;
	}
	int posix = memcmp(h + 257, "ustar\0", 6) == 0;
	size_t pl = posix ? strnlen((const char *)h + 345, 155) : 0;
	size_t nl = strnlen((const char *)h, 100);
	snprintf(out, cap, "%.*s%s%.*s", (int)pl, (const char *)h + 345, pl ? "/" : "", (int)nl,
		 (const char *)h);
	return 0;
}

static void clear_next(ds_tar *t)
{
	free(t->next_path);
	t->next_path = NULL;
	t->has_next_size = 0;
}

static const char *type_name(char type)
{
	switch (type) {
	case '1': return "a hard link";
	case '2': return "a symbolic link";
	case '3': return "a character device";
	case '4': return "a block device";
	case '6': return "a fifo";
	default: return "a member of an unsupported type";
	}
}

/* Starts the member whose header is t->hdr. */
static int on_header(ds_tar *t)
{
	const unsigned char *h = t->hdr;
	char path[DS_PATH_MAX + 16];
	uint64_t size;
	char type = (char)h[156];
	if (!checksum_ok(h))
		return bad(t, -EBADMSG, "not a tar archive: bad header checksum at byte %llu",
			   (unsigned long long)t->off);
	if (memcmp(h + 257, "ustar", 5) != 0)
		return bad(t, -EBADMSG, "not a ustar/pax tar archive (byte %llu)",
			   (unsigned long long)t->off);
	if (parse_num(h + 124, 12, &size))
		return bad(t, -EBADMSG, "a bad member size at byte %llu", (unsigned long long)t->off);
	if (member_path(t, path, sizeof path))
		return bad(t, -EBADMSG, "a member path over %d bytes at byte %llu", DS_PATH_MAX - 1,
			   (unsigned long long)t->off);
	if (t->has_next_size && type != 'x' && type != 'g' && type != 'L' && type != 'K')
		size = t->next_size;
	t->size = t->left = size;
	switch (type) {
	case '0': case '\0': case '7': {
		clear_next(t);
		t->state = DATA;
		int rc = t->cb->begin(t->ud, path, size);
		if (rc == 0 && size == 0) {
			t->state = PAD;
			rc = t->cb->end(t->ud);
		}
		return rc;
	}
	case '5':
		clear_next(t);
		t->state = size ? SKIP : PAD;
		return 0;
	case 'x': case 'g': case 'L': case 'K':
		if (size > DS_TAR_META_MAX)
			return bad(t, -EBADMSG, "a %s header of %llu bytes (at most %zu)",
				   type == 'L' || type == 'K' ? "GNU long name" : "pax",
				   (unsigned long long)size, DS_TAR_META_MAX);
		t->meta_type = type;
		free(t->meta);
		t->meta = xmalloc((size_t)size + 1);
		t->mlen = 0;
		t->state = size ? META : PAD;
		return 0;
	default:
		return bad(t, -EPERM, "member '%s' is %s: a file set takes regular files and"
			   " directories only", path, type_name(type));
	}
}

/* One "LEN key=value\n" record after another. */
static int pax_apply(ds_tar *t, int global)
{
	const char *p = t->meta, *end = t->meta + t->mlen;
	while (p < end) {
		char *num_end;
		unsigned long len = strtoul(p, &num_end, 10);
		if (num_end == p || *num_end != ' ' || len < 5 || len > (size_t)(end - p) ||
		    p[len - 1] != '\n')
			return bad(t, -EBADMSG, "a malformed pax record");
		const char *kv = num_end + 1, *rec_end = p + len - 1;
		const char *eq = memchr(kv, '=', (size_t)(rec_end - kv));
		if (!eq)
			return bad(t, -EBADMSG, "a malformed pax record");
		size_t kl = (size_t)(eq - kv), vl = (size_t)(rec_end - eq - 1);
		const char *v = eq + 1;
		if (!global && kl == 4 && memcmp(kv, "path", 4) == 0) {
			if (memchr(v, '\0', vl))
				return bad(t, -EBADMSG, "a pax path with a NUL byte");
			free(t->next_path);
			t->next_path = xmalloc(vl + 1);
			memcpy(t->next_path, v, vl);
			t->next_path[vl] = '\0';
		} else if (!global && kl == 4 && memcmp(kv, "size", 4) == 0) {
			uint64_t s = 0;
			if (vl == 0 || vl > 19)
				return bad(t, -EBADMSG, "a bad pax size");
			for (size_t i = 0; i < vl; i++) {
				if (v[i] < '0' || v[i] > '9')
					return bad(t, -EBADMSG, "a bad pax size");
				s = s * 10 + (uint64_t)(v[i] - '0');
			}
			if (s >= SIZE_MAX_)
				return bad(t, -EBADMSG, "a bad pax size");
			t->next_size = s;
			t->has_next_size = 1;
		}
		p += len;
	}
	return 0;
}

static int meta_done(ds_tar *t)
{
	if (t->meta_type == 'x' || t->meta_type == 'g')
		return pax_apply(t, t->meta_type == 'g');
	if (t->meta_type == 'L') {
		size_t n = strnlen(t->meta, t->mlen);
		free(t->next_path);
		t->next_path = xmalloc(n + 1);
		memcpy(t->next_path, t->meta, n);
		t->next_path[n] = '\0';
	}
	/* K (a long link target) is followed by a link, refused by its type. */
	return 0;
}

static int is_zero(const unsigned char *b)
{
	for (int i = 0; i < BLOCK; i++)
		if (b[i])
			return 0;
	return 1;
}

/* Takes what it can of p[0..n) in the current state: *used bytes. */
static int step(ds_tar *t, const char *p, size_t n, size_t *used)
{
	size_t k;
	int rc = 0;
	switch (t->state) {
	case HEAD:
		k = BLOCK - t->hlen < n ? BLOCK - t->hlen : n;
		memcpy(t->hdr + t->hlen, p, k);
		t->hlen += k;
		*used = k;
		if (t->hlen < BLOCK)
			return 0;
		t->hlen = 0;
		if (is_zero(t->hdr)) {
			if (++t->zeros == 2)
				t->state = END;
			return 0;
		}
		if (t->zeros)
			return bad(t, -EBADMSG, "a lone zero block inside the archive");
		return on_header(t);
	case DATA: case META: case SKIP:
		k = t->left < n ? (size_t)t->left : n;
		if (t->state == DATA && k)
			rc = t->cb->data(t->ud, p, k);
		else if (t->state == META) {
			memcpy(t->meta + t->mlen, p, k);
			t->mlen += k;
		}
		t->left -= k;
		*used = k;
		if (rc || t->left)
			return rc;
		if (t->state == DATA)
			rc = t->cb->end(t->ud);
		else if (t->state == META)
			rc = meta_done(t);
		t->left = ds_tar_pad(t->size);
		t->state = PAD;
		return rc;
	case PAD:
		k = t->left < n ? (size_t)t->left : n;
		t->left -= k;
		*used = k;
		if (!t->left)
			t->state = HEAD;
		return 0;
	default:
		*used = n;
		return 0;
	}
}

int ds_tar_feed(ds_tar *t, const char *p, size_t n)
{
	while (n) {
		/* PAD with nothing left (a member ending on a block) moves on. */
		if (t->state == PAD && !t->left) {
			t->state = HEAD;
			continue;
		}
		size_t used = 0;
		int rc = step(t, p, n, &used);
		t->off += used;
		p += used;
		n -= used;
		if (rc)
			return rc;
	}
	if (t->state == PAD && !t->left)
		t->state = HEAD;
	return 0;
}

int ds_tar_finish(ds_tar *t)
{
	/* One zero block then the end: GNU tar reads such archives too. */
	if (t->state == END || (t->state == HEAD && t->hlen == 0 && t->zeros == 1))
		return 0;
	return bad(t, -EBADMSG, "the tar archive is cut short at byte %llu",
		   (unsigned long long)t->off);
}

/* ---- writer ---- */

size_t ds_tar_pad(uint64_t size)
{
	return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

static void put_octal(char *f, size_t n, uint64_t v)
{
	snprintf(f, n, "%0*llo", (int)n - 1, (unsigned long long)v);
}

static void ustar_block(char *b, const char *name, size_t nlen, uint64_t size, unsigned mode,
			char type)
{
	memset(b, 0, BLOCK);
	memcpy(b, name, nlen < 100 ? nlen : 100);
	put_octal(b + 100, 8, mode & 07777);
	put_octal(b + 108, 8, 0);
	put_octal(b + 116, 8, 0);
	if (size < ((uint64_t)1 << 33)) {
		put_octal(b + 124, 12, size);
	} else {
		b[124] = (char)0x80; /* base-256, as GNU tar writes it */
		for (int i = 11; i > 0; i--, size >>= 8)
			b[124 + i] = (char)(size & 0xff);
	}
	put_octal(b + 136, 12, 0);
	b[156] = type;
	memcpy(b + 257, "ustar\0" "00", 8);
	memset(b + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < BLOCK; i++)
		sum += (unsigned char)b[i];
	snprintf(b + 148, 8, "%06o", sum);
}

/* A pax record "LEN key=value\n", LEN counting itself. */
static size_t pax_record(char *out, size_t cap, const char *key, const char *val)
{
	size_t body = 1 + strlen(key) + 1 + strlen(val) + 1, len = body + 1;
	while ((size_t)snprintf(NULL, 0, "%zu", len) + body != len)
		len++;
	return (size_t)snprintf(out, cap, "%zu %s=%s\n", len, key, val);
}

int ds_tar_header(const char *path, uint64_t size, unsigned mode, char *out, size_t *len)
{
	size_t pl = strlen(path), o = 0;
	if (pl == 0 || pl >= DS_PATH_MAX)
		return -EINVAL;
	if (pl > 100 || size >= ((uint64_t)1 << 33)) {
		char recs[DS_PATH_MAX + 64], num[24];
		size_t rl = 0;
		if (pl > 100)
			rl += pax_record(recs + rl, sizeof recs - rl, "path", path);
		if (size >= ((uint64_t)1 << 33)) {
			snprintf(num, sizeof num, "%llu", (unsigned long long)size);
			rl += pax_record(recs + rl, sizeof recs - rl, "size", num);
		}
		ustar_block(out, "PaxHeader", 9, rl, 0644, 'x');
		memcpy(out + BLOCK, recs, rl);
		memset(out + BLOCK + rl, 0, ds_tar_pad(rl));
		o = BLOCK + rl + ds_tar_pad(rl);
	}
	ustar_block(out + o, path, pl, size, mode, '0');
	*len = o + BLOCK;
	return 0;
}
