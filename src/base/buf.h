/* A growable byte buffer with a mandatory cap (curl's dynbuf habit).
 * Appending past the cap fails with -E2BIG and leaves the buffer unchanged.
 * The content is always NUL-terminated so text users can read b->data. */
#ifndef SN_BUF_H
#define SN_BUF_H
#include <stddef.h>

typedef struct buf {
	char *data;
	size_t len;
	size_t cap;   /* allocated bytes */
	size_t max;   /* hard limit on len */
} buf;

void buf_init(buf *b, size_t max);
int buf_append(buf *b, const void *p, size_t n);
int buf_puts(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(buf *b);
/* Frees the insides; the buf may be reused after buf_init. */
void buf_release(buf *b);
/* Hands the data to the caller (who frees it) and resets the buffer. */
char *buf_detach(buf *b, size_t *len);
#endif
