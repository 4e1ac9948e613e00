/* Micro-bench of an upload's CPU work without the server: base/csv alone,
 * or base/csv feeding dataset/profile, on one file held in memory and fed
 * in 1 MiB chunks, one core (not run by `make bench`):
 *   make BUILD=build build/libsentinel.a
 *   cc -O2 -Isrc -o build/profile_bench bench/profile_bench.c build/libsentinel.a \
 *      $(pkg-config --libs jansson libsodium sqlite3 libseccomp libprotobuf-c) -lm -ldl -pthread
 *   build/profile_bench FILE.csv            csv alone
 *   build/profile_bench FILE.csv p          csv + profile
 *   build/profile_bench FILE.csv p json     the same, then the profile's JSON on stdout
 * FILE.csv: e.g. the upload section's file of bench/datasets.sh
 * (UPLOAD_MB=256 BENCH_SECTIONS=upload). ROUNDS (environment, default 3)
 * passes are made over the file; each prints on stderr its CPU seconds
 * (the thread's own: what other work on a shared machine takes is not
 * counted, though it still slows the caches) and the rate per GiB, then
 * the best of them. Reading the file is not counted. The profile takes
 * the reader's batches (csv_set_batch), as an upload does; NOBATCH set in
 * the environment: record by record. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int cb_batch(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	return ds_profile_add_batch(ud, row, f, nrec, nf);
}

static double cpu_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.csv [p [json]]\n", argv[0]);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	size_t size = (size_t)st.st_size, got = 0;
	char *data = malloc(size ? size : 1);
	while (data && got < size) {
		ssize_t n = read(fd, data + got, size - got);
		if (n <= 0) {
			perror(argv[1]);
			return 1;
		}
		got += (size_t)n;
	}
	close(fd);
	if (!data)
		return 1;
	int prof = argc > 2, rounds = getenv("ROUNDS") ? atoi(getenv("ROUNDS")) : 3;
	double best = 0;
	for (int round = 0; round < (rounds > 0 ? rounds : 1); round++) {
		ds_profile *p = prof ? ds_profile_new() : NULL;
		csv_reader *r = csv_new(0, cb, p);
		if (p && !getenv("NOBATCH"))
			csv_set_batch(r, cb_batch);
		double t0 = cpu_now();
		for (size_t off = 0; off < size; off += 1 << 20) {
			size_t n = size - off < (1 << 20) ? size - off : (1 << 20);
			if (csv_feed(r, data + off, n)) {
				fprintf(stderr, "err: %s\n", csv_error(r, NULL, NULL));
				return 1;
			}
		}
		if (csv_finish(r)) {
			fprintf(stderr, "err: %s\n", csv_error(r, NULL, NULL));
			return 1;
		}
		double s = cpu_now() - t0;
		best = round == 0 || s < best ? s : best;
		fprintf(stderr, "%s: %.3f s CPU (%.2f s/GiB)\n", prof ? "csv+profile" : "csv", s,
			s / ((double)size / (1 << 30)));
		if (round == rounds - 1 && argc > 3 && p) {
			json_t *j = NULL;
			if (ds_profile_json(p, csv_delimiter(r), &j))
				return 1;
			char *js = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
			if (!js)
				return 1;
			puts(js);
			free(js);
			json_decref(j);
		}
		csv_free(&r);
		ds_profile_free(&p);
	}
	fprintf(stderr, "best: %.3f s CPU (%.2f s/GiB)\n", best, best / ((double)size / (1 << 30)));
	free(data);
	return 0;
}
