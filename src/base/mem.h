/* Allocation policy: every allocation in Sentinel goes through these.
 * Out of memory is not recoverable for a server that must not half-write
 * records, so the wrappers log and abort(); callers never check for NULL. */
#ifndef SN_MEM_H
#define SN_MEM_H
#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* NULL gives NULL (a missing value stays missing rather than crashing). */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);
/* Frees *pp and sets it to NULL. */
#define xfree(pp) do { free(*(pp)); *(pp) = NULL; } while (0)

/* Bounded string copy that always terminates; returns -E2BIG on truncation. */
int sn_strlcpy(char *dst, const char *src, size_t dstlen);

/* As git's banned.h: unbounded string functions do not compile. */
#undef strcpy
#define strcpy(a, b) sn_banned_strcpy_use_sn_strlcpy
#undef strcat
#define strcat(a, b) sn_banned_strcat
#undef sprintf
#define sprintf(...) sn_banned_sprintf_use_snprintf
#undef vsprintf
#define vsprintf(...) sn_banned_vsprintf
#endif
