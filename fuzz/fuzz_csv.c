/* libFuzzer target: base/csv (the whole input at once, and in two chunks
 * cut at a place taken from the first byte: both must give the same
 * records and the same answer), the column profiler on what parses, the
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
	ds_profile *prof;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ULL;
	return h;
}

static int on_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct run *r = ud;
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
	uint64_t digest, line, field, records;
	char why[200];
	char delim;
};

static struct answer read_csv(const char *p, size_t n, size_t cut, ds_profile *prof)
{
	struct run run = { .digest = 0xcbf29ce484222325ULL, .prof = prof };
	struct answer a = { 0 };
	csv_reader *r = csv_new(0, on_record, &run);
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
	a.records = csv_records(r);
	a.delim = csv_delimiter(r);
	csv_free(&r);
	return a;
}

static void check_csv(const char *text, size_t len, unsigned pick)
{
	ds_profile *prof = ds_profile_new();
	struct answer whole = read_csv(text, len, len, prof);
	struct answer two = read_csv(text, len, len * pick / 255, NULL);
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
	}
	ds_profile_free(&prof);
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
