/* Micro-bench of an upload's CPU work without the server: base/csv alone,
 * or base/csv feeding dataset/profile, on one file read in 1 MiB chunks,
 * one core (not run by `make bench`):
 *   make BUILD=build build/libsentinel.a
 *   cc -O2 -Isrc -o build/profile_bench bench/profile_bench.c build/libsentinel.a \
 *      $(pkg-config --libs jansson libsodium sqlite3 libseccomp libprotobuf-c) -lm -ldl -pthread
 *   build/profile_bench FILE.csv            csv alone
 *   build/profile_bench FILE.csv p          csv + profile
 *   build/profile_bench FILE.csv p json     the same, then the profile's JSON on stdout
 * FILE.csv: e.g. the upload section's file of bench/datasets.sh
 * (UPLOAD_MB=256 BENCH_SECTIONS=upload). Prints on stderr the seconds spent in
 * csv_feed/csv_finish (and the profile), reading included. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "base/csv.h"
#include "dataset/profile.h"

static int cb(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	(void)line;
	if (!ud)
		return 0;
	return ds_profile_add(ud, row, f, nf);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.csv [p [json]]\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	int prof = argc > 2;
	ds_profile *p = prof ? ds_profile_new() : NULL;
	csv_reader *r = csv_new(0, cb, p);
	static char buf[1 << 20];
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (csv_feed(r, buf, (size_t)n)) {
			fprintf(stderr, "err: %s\n", csv_error(r, NULL, NULL));
			return 1;
		}
	if (csv_finish(r)) {
		fprintf(stderr, "err: %s\n", csv_error(r, NULL, NULL));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	fprintf(stderr, "%s: %.3f s\n", prof ? "csv+profile" : "csv",
		(double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	if (argc > 3 && p) {
		json_t *j = NULL;
		if (ds_profile_json(p, csv_delimiter(r), &j))
			return 1;
		char *s = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
		if (!s)
			return 1;
		puts(s);
		free(s);
		json_decref(j);
	}
	csv_free(&r);
	ds_profile_free(&p);
	close(fd);
	return 0;
}
