/* libFuzzer target: base/csv (the whole input at once, and in two chunks
 * cut at a place taken from the first byte: both must give the same
 * records and the same answer; and in batches (csv_set_batch), which must
 * give the same records, rows and answer as one by one, and whose padding
 * ASan checks), the column profiler on what parses (one by one and by
 * batches: ds_profile_add_batch), the
 * trainer's table reader over it, the float parser it shares with the
 * engine's line protocol, and config.json. The first byte picks the cut
 * and the trainer's column selection. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/csv.h"
#include "dataset/profile.h"
#include "ml/ml_config.h"
#include "ml/ml_csv.h"

struct run {
	uint64_t digest; /* of every record's row, line and fields */
	uint64_t nolines; /* of every record's row and fields (batches have no lines) */
	ds_profile *prof;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t mix_record(uint64_t h, uint64_t row, const csv_field *f, size_t nf)
{
	h = mix(h, &row, sizeof row);
	for (size_t i = 0; i < nf; i++) {
		h = mix(h, &f[i].n, sizeof f[i].n);
		h = mix(h, f[i].p, f[i].n);
	}
	return h;
}

/* Batches: the same fields as one by one; the padding past each field is
 * read (ASan and the reader's promise). */
static int on_batch(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf)
{
	struct run *r = ud;
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < nrec; i++) {
		const csv_field *rec = f + i * nf;
		for (size_t j = 0; j < nf; j++)
			for (size_t k = 0; k < CSV_BATCH_PAD; k++)
				sink ^= (unsigned char)rec[j].p[rec[j].n + k];
		r->nolines = mix_record(r->nolines, row + i, rec, nf);
	}
	(void)sink;
	if (r->prof && ds_profile_add_batch(r->prof, row, f, nrec, nf))
		abort();
	return 0;
}

static int on_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct run *r = ud;
	r->nolines = mix_record(r->nolines, row, f, nf);
	r->digest = mix(r->digest, &row, sizeof row);
	r->digest = mix(r->digest, &line, sizeof line);
	for (size_t i = 0; i < nf; i++) {
		if (f[i].p[f[i].n] != '\0' || memchr(f[i].p, '\0', f[i].n))
			abort();
		r->digest = mix(r->digest, &f[i].n, sizeof f[i].n);
		r->digest = mix(r->digest, &f[i].quoted, sizeof f[i].quoted);
		r->digest = mix(r->digest, f[i].p, f[i].n);
	}
	if (r->prof && ds_profile_add(r->prof, row, f, nf))
		abort(); /* the reader guarantees what the profiler needs */
	return 0;
}

struct answer {
	int rc;
	uint64_t digest, nolines, line, field, records;
	char why[200];
	char delim;
};

static struct answer read_csv(const char *p, size_t n, size_t cut, ds_profile *prof, int batch)
{
	struct run run = { .digest = 0xcbf29ce484222325ULL, .nolines = 0xcbf29ce484222325ULL,
			   .prof = prof };
	struct answer a = { 0 };
	csv_reader *r = csv_new(0, on_record, &run);
	if (batch)
		csv_set_batch(r, on_batch);
	a.rc = csv_feed(r, p, cut);
	if (!a.rc)
		a.rc = csv_feed(r, p + cut, n - cut);
	if (!a.rc)
		a.rc = csv_finish(r);
	const char *why = csv_error(r, &a.line, &a.field);
	if (why)
		snprintf(a.why, sizeof a.why, "%s", why);
	if (!!why != (a.rc != 0))
		abort(); /* the callback never fails here: an error has a reason */
	a.digest = run.digest;
	a.nolines = run.nolines;
	a.records = csv_records(r);
	a.delim = csv_delimiter(r);
	csv_free(&r);
	return a;
}

static void check_csv(const char *text, size_t len, unsigned pick)
{
	ds_profile *prof = ds_profile_new(), *bprof = ds_profile_new();
	struct answer whole = read_csv(text, len, len, prof, 0);
	struct answer two = read_csv(text, len, len * pick / 255, NULL, 0);
	struct answer b = read_csv(text, len, len * pick / 255, bprof, 1);
	if (whole.rc != b.rc || whole.nolines != b.nolines || whole.line != b.line ||
	    whole.field != b.field || whole.records != b.records || strcmp(whole.why, b.why))
		abort();
	if (whole.rc != two.rc || whole.digest != two.digest || whole.line != two.line ||
	    whole.field != two.field || whole.records != two.records ||
	    strcmp(whole.why, two.why) || (!whole.rc && whole.delim != two.delim))
		abort();
	if (!whole.rc) {
		json_t *j = NULL;
		if (ds_profile_json(prof, whole.delim, &j))
			abort();
		char *s = json_dumps(j, JSON_COMPACT);
		if (!s) /* everything in a profile must be encodable */
			abort();
		free(s);
		json_decref(j);
		if (ds_profile_json(bprof, b.delim, &j))
			abort();
		if (!(s = json_dumps(j, JSON_COMPACT)))
			abort();
		free(s);
		json_decref(j);
	}
	ds_profile_free(&prof);
	ds_profile_free(&bprof);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sel[] = { NULL, "a", "b,a", "a,a", "x" };
	char err[512];
	ml_table t;
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	check_csv(text, len, data[0]);
	if (ml_csv_read(text, len, sel[data[0] % 5], &t, err, sizeof err) == 0)
		ml_table_release(&t);
	float v;
	(void)ml_parse_float(text, len, &v);
	ml_config c;
	if (ml_config_parse(text, len, &c, err, sizeof err) == 0) {
		/* What parses must dump again (or say why not): no crash either way. */
		char *s = NULL;
		if (ml_config_dump(&c, &s, err, sizeof err) == 0 && !s)
			abort();
		free(s);
		ml_config_release(&c);
	}
	return 0;
}
