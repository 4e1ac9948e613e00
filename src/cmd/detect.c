/* sentinel detect: the streaming detector (detect/det.h) over a
 * timestamp,value CSV on standard input; prints NAB's results format,
 * timestamp,value,anomaly_score, one line per input row as it is scored. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/cfg.h"
#include "base/csv.h"
#include "base/mem.h"
#include "base/util.h"
#include "cmd/commands.h"
#include "detect/det.h"

static const cfg_opt detect_opts[] = {
	{ "probation", "N", "750", "samples only collected before the first fit (NAB: min(0.15 n, 750))", CFG_NOENV },
	{ "window", "W", "8", "values per feature vector (2..256)", CFG_NOENV },
	{ "hidden", "H", "0", "autoencoder bottleneck width (0: about a third of the inputs)", CFG_NOENV },
	{ "history", "N", "2000", "values kept for refits", CFG_NOENV },
	{ "refit", "N", "250", "samples between refits (0: fit once)", CFG_NOENV },
	{ "epochs", "N", "40", "training epochs per fit at most", CFG_NOENV },
	{ "lik-long", "N", "500", "short-term means the likelihood's Gaussian is fitted on", CFG_NOENV },
	{ "lik-short", "N", "7", "raw scores per short-term mean", CFG_NOENV },
	{ "time-features", "0|1", "1", "time of day and week as features (sub-daily series)", CFG_NOENV },
	{ "spatial", "F", "0.01", "flag values beyond the seen range by this share of it (< 0: off)", CFG_NOENV },
	{ "threshold", "F", "1", "flag when the score reaches it", CFG_NOENV },
	{ "suppress", "N", "30", "samples after a flag with no new flag", CFG_NOENV },
	{ "raw", "0|1|2", "1", "raw error: the window's mean, the newest value's, the larger", CFG_NOENV },
	{ "digits", "D", "10", "the score reaches 1 at a tail probability of 10^-D", CFG_NOENV },
	{ "seed", "N", "1", "seed of the fits", CFG_NOENV },
	{ "verbose", NULL, NULL, "also print raw, likelihood and flag columns", CFG_FLAG | CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec detect_spec = {
	.cmd = "detect",
	.synopsis = "[--probation N] [--window W] [options] < series.csv",
	.summary = "Scores a timestamp,value CSV (with a header; NAB's data files) with the\n"
		   "streaming detector and prints timestamp,value,anomaly_score (NAB's\n"
		   "results format). Timestamps: RFC 3339, 'YYYY-MM-DD HH:MM:SS' (UTC) or\n"
		   "unix ms. Exits 0, or 1 on bad input (the line is named), 2 on usage.",
	.opts = detect_opts,
	.max_args = 0,
};

struct run {
	det *d;
	int verbose;
	char err[256];
};

static int parse_ts(const char *s, int64_t *ms)
{
	if (sn_time_parse(s, ms) == 0)
		return 0;
	/* NAB writes local-less "2014-04-10 07:15:00": read it as UTC. */
	char buf[64];
	if (strlen(s) + 2 > sizeof buf)
		return -EINVAL;
	snprintf(buf, sizeof buf, "%sZ", s);
	return sn_time_parse(buf, ms);
}

static int on_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	struct run *r = ud;
	if (row == 0) {
		if (nf < 2) {
			snprintf(r->err, sizeof r->err, "the header must have timestamp,value");
			return -EINVAL;
		}
		printf("timestamp,value,anomaly_score%s\n", r->verbose ? ",raw,likelihood,flag" : "");
		return 0;
	}
	int64_t ts;
	char *end;
	double v = strtod(f[1].p, &end);
	if (parse_ts(f[0].p, &ts)) {
		snprintf(r->err, sizeof r->err, "line %llu: bad timestamp", (unsigned long long)line);
		return -EINVAL;
	}
	if (end == f[1].p || *end || !isfinite(v)) {
		snprintf(r->err, sizeof r->err, "line %llu: value is not a finite number",
			 (unsigned long long)line);
		return -EINVAL;
	}
	det_out o;
	det_feed(r->d, ts, v, &o);
	printf("%s,%s,%.9g", f[0].p, f[1].p, o.score);
	if (r->verbose)
		printf(",%.6g,%.9g,%d", o.raw, o.likelihood, o.flag);
	putchar('\n');
	return 0;
}

struct intopt {
	const char *name;
	int *dst;
};

static int get_opts(const cfg *c, det_opts *o, char *err, size_t errlen)
{
	long long seed;
	int tf;
	const struct intopt ints[] = {
		{ "probation", &o->probation }, { "window", &o->window }, { "hidden", &o->hidden },
		{ "history", &o->history },     { "refit", &o->refit },   { "epochs", &o->epochs },
		{ "lik-long", &o->lik_long },   { "lik-short", &o->lik_short },
		{ "time-features", &tf },       { "suppress", &o->suppress },
		{ "raw", &o->raw_mode },
	};
	for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
		long long v;
		if (cfg_get_int(c, ints[i].name, &v, err, errlen))
			return -EINVAL;
		if (v < -1 || v > DET_MAX_HISTORY) {
			snprintf(err, errlen, "--%s: out of range", ints[i].name);
			return -EINVAL;
		}
		*ints[i].dst = (int)v;
	}
	o->time_features = tf != 0;
	if (cfg_get_int(c, "seed", &seed, err, errlen))
		return -EINVAL;
	o->seed = (uint64_t)seed;
	const char *dbl[] = { "spatial", "threshold", "digits" };
	double *dst[] = { &o->spatial, &o->threshold, &o->digits };
	for (int i = 0; i < 3; i++) {
		char *end;
		const char *s = cfg_get(c, dbl[i]);
		*dst[i] = strtod(s, &end);
		if (end == s || *end) {
			snprintf(err, errlen, "--%s: not a number", dbl[i]);
			return -EINVAL;
		}
	}
	return 0;
}

int detect_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	csv_reader *rd = NULL;
	struct run r = { 0 };
	det_opts o;
	char err[256] = "", buf[65536];
	int code;
	if (cfg_cmd_init(&detect_spec, argc, argv, &c, &code))
		return code;
	code = 2;
	det_opts_default(&o);
	if (get_opts(c, &o, err, sizeof err) || det_new(&o, &r.d, err, sizeof err)) {
		fprintf(stderr, "sentinel detect: %s\n", err);
		goto out;
	}
	r.verbose = cfg_get_bool(c, "verbose");
	code = 1;
	rd = csv_new(',', on_record, &r);
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(buf, 1, sizeof buf, stdin)) > 0)
		rc = csv_feed(rd, buf, n);
	if (!rc)
		rc = ferror(stdin) ? -EIO : csv_finish(rd);
	if (rc) {
		uint64_t line, field;
		const char *why = csv_error(rd, &line, &field);
		if (why)
			fprintf(stderr, "sentinel detect: line %llu: %s\n", (unsigned long long)line, why);
		else
			fprintf(stderr, "sentinel detect: %s\n", r.err[0] ? r.err : strerror(-rc));
		goto out;
	}
	code = fflush(stdout) ? 1 : 0;
out:
	csv_free(&rd);
	det_free(&r.d);
	cfg_free(&c);
	return code;
}
