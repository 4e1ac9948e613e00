/* libFuzzer target: the parsers of browser headers (src/http/browser.c,
 * src/http/static.c): the Cookie header, Accept-Encoding with q-values and
 * the check of a static file's path.
 *
 * Input: byte 0 picks the output size for the cookie value (0..255), the
 * rest (up to the first NUL) is the header. Invariants checked: a found
 * value fits the buffer and is NUL-terminated at the returned length, and
 * is a substring of the header; the errors are only -ENOENT and -E2BIG; a
 * path that passes the check holds no "." segment start and no "//". */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "http/http_int.h"

static void check_cookie(const char *h, const char *name, size_t outlen)
{
	char *out = malloc(outlen ? outlen : 1);
	int n = http_cookie_find(h, name, out, outlen);
	if (n >= 0) {
		if ((size_t)n >= outlen || out[n] != '\0' || strlen(out) != (size_t)n ||
		    !strstr(h, out))
			abort();
	} else if (n != -ENOENT && n != -E2BIG) {
		abort();
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t outlen = data[0];
	char *h = malloc(size);
	memcpy(h, data + 1, size - 1);
	h[size - 1] = '\0';
	check_cookie(h, "sentinel_session", outlen);
	check_cookie(h, "s", outlen);
	http_accepts_encoding(h, "br");
	http_accepts_encoding(h, "gzip");
	if (http_static_path_ok(h) && (h[0] != '/' || strstr(h, "/.") || strstr(h, "//") ||
				       strlen(h) > HTTP_STATIC_PATH_MAX))
		abort();
	http_static_excluded(h);
	free(h);
	return 0;
}
