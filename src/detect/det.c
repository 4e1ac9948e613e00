/* The streaming detector. See det.h.
 *
 * Invariants:
 *  - hist/hts is a ring of the last min(seen, history) samples; hpos is the
 *    slot the next sample takes;
 *  - fitted == 1 iff m, fwd, mean and std hold a model of dim inputs, fitted
 *    on data seen before the sample being scored;
 *  - every buffer is sized at det_new (the training table by history), so
 *    det_memory does not change while feeding. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "detect/det.h"
#include "detect/det_int.h"
#include "ml/ml_config.h"
#include "ml/ml_csv.h"
#include "ml/ml_nn.h"
#include "ml/ml_trainer.h"

#define NTIME 4         /* sin/cos of the time of day and of the week */
#define DAY_MS 86400000.0
#define WEEK_MS (7 * DAY_MS)

struct det {
	det_opts o;
	double *hist;
	int64_t *hts;
	int hlen, hpos;
	uint64_t seen;
	int dim, tf;      /* inputs; time features on */
	int fitted, fits;
	uint64_t since_fit;
	ml_mlp m;
	ml_fwd fwd;
	float mean[DET_MAX_WINDOW + NTIME], std[DET_MAX_WINDOW + NTIME];
	double thr;       /* validation-error quantile of the fit */
	double thr_new;   /* the same of the newest value's error alone */
	double enew;      /* the newest value's squared error, of the last sq_error */
	float *errs;      /* [history] scratch for the quantile */
	float x[DET_MAX_WINDOW + NTIME], z[DET_MAX_WINDOW + NTIME], y[DET_MAX_WINDOW + NTIME];
	ml_table t;       /* training rows, [history][dim] */
	double vmin, vmax;
	det_lik lik;
	float *recent;    /* the last suppress unsuppressed scores (a ring) */
	int nrecent, precent;
	uint64_t last_flag; /* seen at the last flag; 0: none */
};

void det_opts_default(det_opts *o)
{
	*o = (det_opts){
		.probation = 750,
		.window = 8,
		.hidden = 0,
		.history = 2000,
		.refit = 250,
		.epochs = 40,
		.lik_long = 500,
		.lik_short = 7,
		.time_features = 1,
		.spatial = 0.01,
		.threshold = 1,
		.suppress = 30,
		.raw_mode = 1,
		.digits = 10,
		.seed = 1,
	};
}

int det_probation_for(uint64_t n)
{
	uint64_t p = (uint64_t)floor(0.15 * (double)n);
	return p > 750 ? 750 : (int)p;
}

static int check(const det_opts *o, char *err, size_t errlen)
{
	const char *bad = NULL;
	if (o->window < 2 || o->window > DET_MAX_WINDOW)
		bad = "window: 2 to 256";
	else if (o->probation < o->window + 16 || o->probation > DET_MAX_HISTORY)
		bad = "probation: at least window + 16, at most 1048576";
	else if (o->history < o->probation || o->history > DET_MAX_HISTORY)
		bad = "history: at least probation, at most 1048576";
	else if (o->hidden < 0 || o->hidden > DET_MAX_WINDOW)
		bad = "hidden: 0 to 256";
	else if (o->refit < 0 || o->epochs < 1 || o->epochs > 10000)
		bad = "refit >= 0, epochs 1 to 10000";
	else if (o->lik_long < 1 || o->lik_long > DET_MAX_HISTORY || o->lik_short < 1 ||
		 o->lik_short > o->lik_long)
		bad = "likelihood windows: 1 <= short <= long <= 1048576";
	else if (!(o->threshold > 0 && o->threshold <= 1))
		bad = "threshold: in (0, 1]";
	else if (!isfinite(o->spatial) || o->suppress < 0)
		bad = "spatial must be finite, suppress >= 0";
	else if (!(o->digits >= 1 && o->digits <= 300))
		bad = "digits: 1 to 300";
	else if (o->raw_mode < 0 || o->raw_mode > 2)
		bad = "raw: 0, 1 or 2";
	if (!bad)
		return 0;
	snprintf(err, errlen, "%s", bad);
	return -EINVAL;
}

int det_new(const det_opts *o, det **out, char *err, size_t errlen)
{
	int rc = check(o, err, errlen);
	if (rc)
		return rc;
	det *d = xcalloc(1, sizeof *d);
	d->o = *o;
	d->hist = xmalloc((size_t)o->history * sizeof(double));
	d->hts = xmalloc((size_t)o->history * sizeof(int64_t));
	int maxdim = o->window + NTIME;
	d->t.names = xcalloc((size_t)maxdim, sizeof(char *));
	for (int j = 0; j < maxdim; j++)
		d->t.names[j] = j < o->window ? xasprintf("v%d", j) : xasprintf("t%d", j - o->window);
	d->t.x = xmalloc((size_t)o->history * (size_t)maxdim * sizeof(float));
	det_lik_init(&d->lik, o->lik_long, o->lik_short);
	d->errs = xmalloc((size_t)o->history * sizeof(float));
	d->recent = xcalloc((size_t)(o->suppress ? o->suppress : 1), sizeof(float));
	*out = d;
	return 0;
}

static void drop_model(det *d)
{
	if (!d->fitted)
		return;
	ml_mlp_release(&d->m);
	ml_fwd_release(&d->fwd);
	d->fitted = 0;
}

void det_free(det **dp)
{
	det *d = *dp;
	if (!d)
		return;
	drop_model(d);
	for (int j = 0; j < d->o.window + NTIME; j++)
		free(d->t.names[j]);
	free(d->t.names);
	free(d->t.x);
	free(d->hist);
	free(d->hts);
	det_lik_release(&d->lik);
	free(d->recent);
	free(d->errs);
	free(d);
	*dp = NULL;
}

size_t det_memory(const det *d)
{
	size_t maxdim = (size_t)d->o.window + NTIME, h = (size_t)d->o.window;
	/* The model's parameters (w, b and the padded per-sample copies) at
	 * the widest input; its size does not depend on the data. */
	size_t model = 4 * (maxdim * h + maxdim + h) * sizeof(float) + 64 * maxdim;
	return sizeof *d + (size_t)d->o.history * (sizeof(double) + sizeof(int64_t)) +
	       (size_t)d->o.history * maxdim * sizeof(float) + det_lik_memory(&d->lik) + model +
	       (size_t)(d->o.suppress ? d->o.suppress : 1) * sizeof(float) +
	       (size_t)d->o.history * sizeof(float);
}

int det_fits(const det *d)
{
	return d->fits;
}

/* The sample k places back from the newest (0: newest). */
static int ring_at(const det *d, int k)
{
	int i = d->hpos - 1 - k;
	return i < 0 ? i + d->o.history : i;
}

/* Features of the window whose newest sample is k places back. */
static void features(const det *d, int k, float *x)
{
	int w = d->o.window;
	for (int j = 0; j < w; j++)
		x[j] = (float)d->hist[ring_at(d, k + w - 1 - j)];
	if (!d->tf)
		return;
	double ts = (double)d->hts[ring_at(d, k)];
	double pd = 2 * M_PI * fmod(ts, DAY_MS) / DAY_MS;
	/* The epoch fell on a Thursday; the phase only needs to be periodic. */
	double pw = 2 * M_PI * fmod(ts, WEEK_MS) / WEEK_MS;
	x[w] = (float)sin(pd);
	x[w + 1] = (float)cos(pd);
	x[w + 2] = (float)sin(pw);
	x[w + 3] = (float)cos(pw);
}

/* Time features help only where a day holds several samples. */
static int want_time(const det *d)
{
	if (!d->o.time_features || d->hlen < 2)
		return 0;
	double span = (double)(d->hts[ring_at(d, 0)] - d->hts[ring_at(d, d->hlen - 1)]);
	return span > 0 && span / (d->hlen - 1) < DAY_MS / 4;
}

static double sq_error(det *d, const float *x)
{
	for (int j = 0; j < d->dim; j++)
		d->z[j] = (x[j] - d->mean[j]) / d->std[j];
	ml_mlp_forward1(&d->m, &d->fwd, d->z, d->y);
	double s = 0;
	for (int j = 0; j < d->dim; j++) {
		double e = (double)d->y[j] - d->z[j];
		s += e * e;
	}
	double e = (double)d->y[d->o.window - 1] - d->z[d->o.window - 1];
	d->enew = e * e;
	return s / d->dim;
}

static double raw_of(const det *d, double err)
{
	switch (d->o.raw_mode) {
	case 1:
		return 1 - exp(-d->enew / d->thr_new);
	case 2:
		return 1 - exp(-fmax(err / d->thr, d->enew / d->thr_new));
	default:
		return 1 - exp(-err / d->thr);
	}
}

/* Fits on every full window in the history. A tiny seeded dither keeps a
 * constant stretch from being refused as a constant column. */
static int fit(det *d)
{
	ml_config cfg = { 0 };
	ml_mlp m;
	char err[256];
	int w = d->o.window;
	d->tf = want_time(d);
	int dim = w + (d->tf ? NTIME : 0);
	int rows = d->hlen - w + 1;
	double s = 0, ss = 0;
	for (int i = 0; i < d->hlen; i++)
		s += d->hist[i];
	double mean = s / d->hlen;
	for (int i = 0; i < d->hlen; i++)
		ss += (d->hist[i] - mean) * (d->hist[i] - mean);
	double scale = fmax(fmax(sqrt(ss / d->hlen), 1e-2 * fabs(mean)), 1e-3) * 1e-3;
	ml_rng rng;
	ml_rng_seed(&rng, d->o.seed ^ (uint64_t)d->fits);
	for (int r = 0; r < rows; r++) {
		float *x = d->t.x + (size_t)r * dim;
		features(d, rows - 1 - r, x);
		for (int j = 0; j < dim; j++)
			x[j] += (float)((ml_rng_uniform(&rng) - 0.5) * (j < w ? scale : 1e-3));
	}
	d->t.ncols = dim;
	d->t.nrows = (size_t)rows;
	int hidden = d->o.hidden ? d->o.hidden : (dim / 3 < 2 ? 2 : dim / 3);
	ml_fit_opts fo = {
		.hidden = &hidden,
		.nhidden = 1,
		.act = ML_ACT_TANH,
		.epochs = d->o.epochs,
		.batch = 32,
		.patience = 5,
		.lr = 0.005f,
		.seed = d->o.seed + (uint64_t)d->fits,
		.quantile = 0.99,
		.val_frac = 0.2,
	};
	int rc = ml_fit(&d->t, &fo, &cfg, &m, err, sizeof err);
	d->fits++;
	if (rc)
		return rc;
	drop_model(d);
	d->m = m;
	d->dim = dim;
	memcpy(d->mean, cfg.mean, (size_t)dim * sizeof(float));
	memcpy(d->std, cfg.std, (size_t)dim * sizeof(float));
	d->thr = cfg.threshold > 1e-12 ? cfg.threshold : 1e-12;
	ml_config_release(&cfg);
	ml_fwd_init(&d->fwd, &d->m, 1);
	d->fitted = 1;
	return 0;
}

/* The scale of the newest value's error; after the first fit, the
 * training windows' raw scores also seed the likelihood, so it is
 * calibrated from the first scored sample. */
static void calibrate(det *d, int prime)
{
	int rows = d->hlen - d->o.window + 1;
	for (int r = 0; r < rows; r++) {
		features(d, r, d->x);
		sq_error(d, d->x);
		d->errs[r] = (float)d->enew;
	}
	d->thr_new = fmax(ml_quantile(d->errs, (size_t)rows, 0.99), 1e-12);
	for (int r = rows - 1; prime && r >= 0; r--) {
		features(d, r, d->x);
		det_lik_push(&d->lik, raw_of(d, sq_error(d, d->x)));
	}
}

static int spatial(det *d, double v)
{
	int out = 0;
	if (d->seen > 1 && d->o.spatial >= 0) {
		double tol = d->o.spatial * (d->vmax - d->vmin);
		out = v > d->vmax + tol || v < d->vmin - tol;
	}
	if (d->seen == 1 || v < d->vmin)
		d->vmin = v;
	if (d->seen == 1 || v > d->vmax)
		d->vmax = v;
	return out;
}

/* A score no higher than one of the suppress before it reports 0: a run
 * of high scores is one detection, whatever the threshold. */
static double suppress(det *d, double s)
{
	int n = d->o.suppress;
	if (!n)
		return s;
	double max = 0;
	for (int i = 0; i < d->nrecent; i++)
		max = fmax(max, d->recent[i]);
	d->recent[d->precent] = (float)s;
	d->precent = (d->precent + 1) % n;
	if (d->nrecent < n)
		d->nrecent++;
	return s > max ? s : 0;
}

int det_feed(det *d, int64_t ts_ms, double value, det_out *out)
{
	memset(out, 0, sizeof *out);
	if (!isfinite(value))
		return -EINVAL;
	d->hist[d->hpos] = value;
	d->hts[d->hpos] = ts_ms;
	d->hpos = (d->hpos + 1) % d->o.history;
	if (d->hlen < d->o.history)
		d->hlen++;
	d->seen++;
	int sp = spatial(d, value);
	if (d->seen < (uint64_t)d->o.probation)
		return 0;
	if (d->seen == (uint64_t)d->o.probation) {
		/* The last probation sample completes the training data. */
		if (fit(d) == 0)
			calibrate(d, 1);
		d->since_fit = 0;
		return 0;
	}
	if (d->o.refit && ++d->since_fit >= (uint64_t)d->o.refit) {
		int was = d->fitted;
		d->since_fit = 0;
		if (fit(d) == 0)
			calibrate(d, !was);
	}
	out->scored = 1;
	double tail = 0.5;
	if (d->fitted) {
		features(d, 0, d->x);
		out->raw = raw_of(d, sq_error(d, d->x));
		tail = det_lik_push(&d->lik, out->raw);
	}
	out->likelihood = 1 - tail;
	out->score = suppress(d, sp ? 1.0 : det_lik_score(tail, d->o.digits));
	if (out->score >= d->o.threshold) {
		out->flag = 1;
		d->last_flag = d->seen;
	}
	return 0;
}
