#include <stdint.h>
#include <string.h>
#include "base/mem.h"
#include "base/utf8.h"

size_t sn_utf8_decode(const char *str, size_t n, uint32_t *cpout)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned c = s[0];
	if (c < 0x80) {
		*cpout = c;
		return 1;
	}
	size_t len;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlongs, UTF-16 surrogates and values past Unicode are not UTF-8. */
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpout = cp;
	return len;
}

static size_t seq_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	return sn_utf8_decode((const char *)s, n, &cp);
}

int sn_utf8_valid(const char *s, size_t n, int no_ctl)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (no_ctl && (p[i] < 0x20 || p[i] == 0x7f))
			return 0;
		size_t l = seq_len(p + i, n - i);
		if (!l)
			return 0;
		i += l;
	}
	return 1;
}

char *sn_utf8_sanitize(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	/* Each bad byte grows to the 3 bytes of U+FFFD at most. */
	char *out = xmalloc(n * 3 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t l = seq_len(p + i, n - i);
		if (l) {
			memcpy(o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	*o = '\0';
	return out;
}
