/* libFuzzer target: the streaming tar reader. The input is fed whole and
 * in pieces of a size taken from the first byte: both must give the same
 * members, bytes and answer, and begin/end must pair up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "dataset/ds_tar.h"

struct run {
	uint64_t h;
	int open, members;
	uint64_t want, got; /* a member's declared size, and its bytes so far */
};

static void mix(struct run *r, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		r->h = (r->h ^ s[i]) * 0x100000001b3ULL;
}

static int begin(void *ud, const char *path, uint64_t size)
{
	struct run *r = ud;
	if (r->open)
		abort();
	r->open = 1;
	r->members++;
	r->want = size;
	r->got = 0;
	mix(r, path, strlen(path) + 1);
	mix(r, &size, sizeof size);
	return 0;
}

static int data(void *ud, const char *p, size_t n)
{
	struct run *r = ud;
	if (!r->open || n == 0 || r->got + n > r->want)
		abort(); /* never past the member's size, never empty */
	r->got += n;
	mix(r, p, n);
	return 0;
}

static int end(void *ud)
{
	struct run *r = ud;
	if (!r->open || r->got != r->want)
		abort();
	r->open = 0;
	mix(r, "]", 1);
	return 0;
}

static const ds_tar_cb cb = { begin, data, end };

static int run(const char *p, size_t n, size_t step, struct run *r)
{
	ds_tar *t = ds_tar_new(&cb, r);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i += step)
		rc = ds_tar_feed(t, p + i, n - i < step ? n - i : step);
	if (rc == 0)
		rc = ds_tar_finish(t);
	if (rc && !ds_tar_error(t))
		abort(); /* every refusal says why */
	ds_tar_free(&t);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data_, size_t size)
{
	if (size == 0)
		return 0;
	struct run a = { 0xcbf29ce484222325ULL, 0, 0, 0, 0 }, b = a;
	int ra = run((const char *)data_ + 1, size - 1, size, &a);
	int rb = run((const char *)data_ + 1, size - 1, (size_t)data_[0] % 17 + 1, &b);
	if (ra != rb || (ra == 0 && (a.h != b.h || a.members != b.members)))
		abort();
	return 0;
}
