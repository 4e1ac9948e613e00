/* UTF-8 checks for text that comes from outside (paths, queries, headers)
 * and must reach JSON, logs or the store unchanged or not at all. */
#ifndef SN_UTF8_H
#define SN_UTF8_H
#include <stddef.h>
#include <stdint.h>

/* Decodes the well-formed sequence at s (at most n bytes, n > 0): its
 * length with *cp set, or 0 when s does not start one. */
size_t sn_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* 1 when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF) and, with no_ctl, holds no C0 control byte or DEL (NUL
 * included); 0 otherwise. */
int sn_utf8_valid(const char *s, size_t n, int no_ctl);
/* A copy of s (caller frees) where every byte that is not part of a
 * well-formed sequence becomes U+FFFD, so that it can always be encoded as
 * a JSON string. NULL gives NULL. */
char *sn_utf8_sanitize(const char *s);
#endif
