/* Throughput of base/csv on generated input (not run by `make bench`):
 *   cc -O2 -Isrc -o build/csv_bench bench/csv_bench.c build/libsentinel.a \
 *      $(pkg-config --libs jansson libsodium) -lm -ldl -pthread
 *   build/csv_bench [MB]
 * Prints MB/s for unquoted ASCII (10 short columns), the same fully quoted,
 * and wide unquoted fields, fed in 1 MiB chunks, one core. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/csv.h"

static int count(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	(void)row;
	(void)line;
	*(uint64_t *)ud += nf + f[0].n;
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* kind 0: short unquoted, 1: every field quoted, 2: wide unquoted */
static char *gen(int kind, size_t want, size_t *len)
{
	char *s = malloc(want + 4096);
	size_t n = 0;
	uint64_t x = 88172645463325252ULL;
	n += (size_t)snprintf(s, 4096, "id,a,b,c,d,e,f,g,h,i\n");
	for (uint64_t row = 1; n < want; row++) {
		for (int c = 0; c < 10; c++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			const char *q = kind == 1 ? "\"" : "";
			if (kind == 2)
				n += (size_t)snprintf(s + n, 4096, "%s%llu-%llx-%llx-%llx", q,
						      (unsigned long long)row,
						      (unsigned long long)x,
						      (unsigned long long)(x * 3),
						      (unsigned long long)(x * 7));
			else if (c == 0)
				n += (size_t)snprintf(s + n, 4096, "%s%llu%s", q,
						      (unsigned long long)row, q);
			else
				n += (size_t)snprintf(s + n, 4096, "%s%llu.%02u%s", q,
						      (unsigned long long)(x % 100000),
						      (unsigned)(x >> 40) % 100, q);
			s[n++] = c < 9 ? ',' : '\n';
		}
	}
	*len = n;
	return s;
}

int main(int argc, char **argv)
{
	size_t mb = argc > 1 ? (size_t)atoi(argv[1]) : 256;
	static const char *const names[] = { "unquoted ASCII, 10 short columns",
					     "quoted ASCII, 10 short columns",
					     "unquoted ASCII, 10 wide columns" };
	for (int kind = 0; kind < 3; kind++) {
		size_t len;
		char *s = gen(kind, mb << 20, &len);
		double best = 1e9;
		uint64_t sink = 0;
		for (int rep = 0; rep < 3; rep++) {
			double t0 = now();
			csv_reader *r = csv_new(0, count, &sink);
			for (size_t at = 0; at < len; at += 1 << 20) {
				size_t k = len - at < (1 << 20) ? len - at : (1 << 20);
				if (csv_feed(r, s + at, k))
					return 1;
			}
			if (csv_finish(r))
				return 1;
			csv_free(&r);
			double t = now() - t0;
			best = t < best ? t : best;
		}
		printf("%-36s %7.1f MB in %.3f s: %6.0f MB/s\n", names[kind], (double)len / 1e6,
		       best, (double)len / 1e6 / best);
		free(s);
	}
	return 0;
}
