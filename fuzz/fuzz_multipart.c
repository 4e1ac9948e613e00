/* libFuzzer target: the streaming multipart reader. The input is fed
 * whole and in pieces of a size taken from the first byte: both must give
 * the same parts, bytes and answer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dataset/ds.h"

struct run {
	uint64_t h;
	int parts;
};

static void mix(struct run *r, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		r->h = (r->h ^ s[i]) * 0x100000001b3ULL;
}

static int begin(void *ud, const char *name, const char *filename, const char *ctype)
{
	struct run *r = ud;
	r->parts++;
	mix(r, name, strlen(name) + 1);
	if (filename)
		mix(r, filename, strlen(filename) + 1);
	if (ctype)
		mix(r, ctype, strlen(ctype) + 1);
	return 0;
}

static int data(void *ud, const char *p, size_t n)
{
	if (n == 0)
		abort(); /* empty pieces are never handed out */
	mix(ud, p, n);
	return 0;
}

static int end(void *ud)
{
	mix(ud, "]", 1);
	return 0;
}

static const ds_mp_cb cb = { begin, data, end };

static int run(const char *p, size_t n, size_t step, struct run *r)
{
	ds_mp *m = NULL;
	int rc = ds_mp_new("multipart/form-data; boundary=b0undary", &cb, r, &m);
	if (rc)
		abort();
	for (size_t i = 0; rc == 0 && i < n; i += step)
		rc = ds_mp_feed(m, p + i, n - i < step ? n - i : step);
	if (rc == 0)
		rc = ds_mp_finish(m);
	ds_mp_free(&m);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data_, size_t size)
{
	if (size == 0)
		return 0;
	struct run a = { 0xcbf29ce484222325ULL, 0 }, b = a;
	int ra = run((const char *)data_ + 1, size - 1, size, &a);
	int rb = run((const char *)data_ + 1, size - 1, (size_t)data_[0] % 17 + 1, &b);
	if (ra != rb || (ra == 0 && (a.h != b.h || a.parts != b.parts)))
		abort();
	return 0;
}
