/* Autoencoder fitting with early stopping. See ml_trainer.h. */
#include "ml/ml_blas.h"
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml_onnx.h"
#include "ml/ml_trainer.h"

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

/* ---- the user's options ---- */

/* Ranges: batch <= 65536 bounds the trainer's batch x width buffers;
 * seed <= 2^53 keeps it exact in a JSON number (config.json keeps it as
 * an integer, and a job's config reads it as a double). */
enum fit_field { F_EPOCHS, F_BATCH, F_LR, F_SEED, F_PATIENCE, F_QUANTILE, F_VAL_FRAC };

#define OPEN_LO 1u /* lo itself is out of range */
#define OPEN_HI 2u /* hi is */

static const struct fit_opt {
	const char *name;
	enum fit_field field;
	double lo, hi;
	unsigned open;
	int whole;
} fit_opts[] = {
	{ "epochs", F_EPOCHS, 1, 1000000, 0, 1 },
	{ "batch", F_BATCH, 1, 65536, 0, 1 },
	{ "lr", F_LR, 0, 10, OPEN_LO | OPEN_HI, 0 },
	{ "seed", F_SEED, 0, 9007199254740992.0, 0, 1 },
	{ "patience", F_PATIENCE, 1, 1000000, 0, 1 },
	{ "quantile", F_QUANTILE, 0, 1, OPEN_LO, 0 },
	{ "val_fraction", F_VAL_FRAC, 0, 1, OPEN_LO | OPEN_HI, 0 },
};

const char *ml_fit_opt_name(size_t i)
{
	return i < sizeof fit_opts / sizeof fit_opts[0] ? fit_opts[i].name : NULL;
}

void ml_fit_opts_default(ml_fit_opts *o)
{
	memset(o, 0, sizeof *o);
	o->act = ML_ACT_RELU;
	o->epochs = 50;
	o->batch = 256;
	o->lr = 1e-3f;
	o->seed = 1;
	o->patience = 10;
	o->quantile = 0.99;
	o->val_frac = 0.2;
}

static int name_is(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (*a != *b && !(*a == '-' && *b == '_'))
			return 0;
	return *a == *b;
}

int ml_fit_opt_set(ml_fit_opts *o, const char *name, double v, char *err, size_t errlen)
{
	const struct fit_opt *d = NULL;
	for (size_t i = 0; ml_fit_opt_name(i) && !d; i++)
		if (name_is(name, fit_opts[i].name))
			d = &fit_opts[i];
	if (!d) {
		snprintf(err, errlen, "%s: no such option", name);
		return -ENOENT;
	}
	int in = (d->open & OPEN_LO ? v > d->lo : v >= d->lo) &&
		 (d->open & OPEN_HI ? v < d->hi : v <= d->hi);
	if (!in || (d->whole && v != floor(v))) {
		snprintf(err, errlen, "%s: must be a %snumber in %c%.16g, %.16g%c", name,
			 d->whole ? "whole " : "", d->open & OPEN_LO ? '(' : '[', d->lo, d->hi,
			 d->open & OPEN_HI ? ')' : ']');
		return -EINVAL;
	}
	switch (d->field) {
	case F_EPOCHS: o->epochs = (int)v; break;
	case F_BATCH: o->batch = (int)v; break;
	case F_LR: o->lr = (float)v; break;
	case F_SEED: o->seed = (uint64_t)v; break;
	case F_PATIENCE: o->patience = (int)v; break;
	case F_QUANTILE: o->quantile = v; break;
	case F_VAL_FRAC: o->val_frac = v; break;
	}
	return 0;
}

int ml_widths_parse(const char *s, int **out, int *n)
{
	*out = NULL;
	*n = 0;
	while (*s) {
		char *end;
		long w = strtol(s, &end, 10);
		/* Hidden widths plus the output layer must fit ML_MAX_LAYERS; a
		 * trailing comma ("16,") is a typo, not a shorter list. */
		if (end == s || w < 1 || w > ML_MAX_WIDTH || (*end && *end != ',') ||
		    (*end == ',' && !end[1]) || *n >= ML_MAX_LAYERS - 1) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -EINVAL;
		}
		*out = xrealloc(*out, (size_t)(*n + 1) * sizeof(int));
		(*out)[(*n)++] = (int)w;
		s = *end ? end + 1 : end;
	}
	return *n ? 0 : -EINVAL;
}

double ml_quantile(float *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(float), cmp_float);
	/* q <= 1 keeps lo within v: numpy's "linear" method, pos in [0, n-1]. */
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
	double f = pos - (double)lo;
	return (double)v[lo] + f * ((double)v[hi] - (double)v[lo]);
}

/* Column statistics; a constant column cannot be standardised. */
static int standardise(const ml_table *t, ml_config *c, float **z, char *err, size_t errlen)
{
	int d = t->ncols;
	size_t n = t->nrows;
	c->mean = xmalloc((size_t)d * sizeof(float));
	c->std = xmalloc((size_t)d * sizeof(float));
	for (int j = 0; j < d; j++) {
		double s = 0, ss = 0;
		for (size_t r = 0; r < n; r++)
			s += t->x[r * d + j];
		double mean = s / (double)n;
		for (size_t r = 0; r < n; r++) {
			double e = t->x[r * d + j] - mean;
			ss += e * e;
		}
		/* Two passes (mean, then squared deviations): the one-pass sum of
		 * squares cancels catastrophically for a large mean. Population sd
		 * (divide by n), as numpy's and sklearn's scalers use. */
		double sd = sqrt(ss / (double)n);
		/* Relative test: a constant column's sd is rounding noise around
		 * its mean, not 0; an sd that underflows float would divide by 0. */
		if (!(sd > 1e-12 * fmax(1.0, fabs(mean))) || (float)sd == 0.0f) {
			snprintf(err, errlen, "column '%s' is constant (%g in rows 1..%zu): it cannot be standardised; leave it out with --columns",
				 t->names[j], t->x[j], n);
			return -EINVAL;
		}
		c->mean[j] = (float)mean;
		c->std[j] = (float)sd;
	}
	*z = xmalloc(n * (size_t)d * sizeof(float));
	for (size_t r = 0; r < n; r++)
		for (int j = 0; j < d; j++)
			(*z)[r * d + j] = (t->x[r * d + j] - c->mean[j]) / c->std[j];
	return 0;
}

static void gather(const float *z, int d, const uint32_t *idx, size_t n, float *out)
{
	for (size_t i = 0; i < n; i++)
		memcpy(out + i * d, z + (size_t)idx[i] * d, (size_t)d * sizeof(float));
}

/* Per-row reconstruction errors of the rows idx[0..n). */
static void row_errors(const ml_mlp *m, ml_fwd *f, const float *z, int d, const uint32_t *idx,
		       size_t n, float *buf, float *y, float *err)
{
	for (size_t r = 0; r < n; r += f->max_rows) {
		size_t k = n - r < f->max_rows ? n - r : f->max_rows;
		gather(z, d, idx + r, k, buf);
		ml_mlp_forward(m, f, buf, k, y);
		ml_row_mse(y, buf, k, d, err + r);
	}
}

static double mean_of(const float *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0;
}

static int check_opts(const ml_table *t, const ml_fit_opts *o, char *err, size_t errlen)
{
	if (t->nrows < ML_MIN_ROWS) {
		snprintf(err, errlen, "too few rows: %zu data rows, need at least %d", t->nrows,
			 ML_MIN_ROWS);
		return -EINVAL;
	}
	if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0) || !(o->quantile > 0) ||
	    o->quantile > 1 || !(o->val_frac > 0) || !(o->val_frac < 1) || o->patience < 1) {
		snprintf(err, errlen, "invalid training options");
		return -EINVAL;
	}
	if (o->nhidden + 1 > ML_MAX_LAYERS) {
		snprintf(err, errlen, "too many layers (max %d)", ML_MAX_LAYERS);
		return -EINVAL;
	}
	/* config.json keeps the names: refuse now those JSON cannot hold,
	 * rather than after the training. */
	for (int j = 0; j < t->ncols; j++) {
		json_t *probe = json_string(t->names[j]);
		if (!probe) {
			snprintf(err, errlen, "column %d: the name is not valid UTF-8", j + 1);
			return -EINVAL;
		}
		json_decref(probe);
	}
	return 0;
}

struct fit {
	const ml_fit_opts *o;
	int d;
	float *z, *buf, *y, *errs;
	uint32_t *idx, *train, *val;
	size_t ntrain, nval;
	ml_rng rng;
};

static double run_epoch(struct fit *F, ml_train *tr, ml_mlp *m, int epoch)
{
	const ml_fit_opts *o = F->o;
	double sum = 0;
	ml_rng_shuffle(&F->rng, F->train, F->ntrain);
	for (size_t r = 0; r < F->ntrain; r += (size_t)o->batch) {
		size_t k = F->ntrain - r < (size_t)o->batch ? F->ntrain - r : (size_t)o->batch;
		gather(F->z, F->d, F->train + r, k, F->buf);
		/* Weighted by rows: the last batch may be short, and the epoch's
		 * loss is the mean per row. */
		sum += ml_train_step(tr, m, F->buf, k) * (double)k;
		if (o->on_batch)
			o->on_batch(o->ctx, epoch, r + k, F->ntrain);
	}
	return sum / (double)F->ntrain;
}

int ml_fit(const ml_table *t, const ml_fit_opts *o, ml_config *cfg, ml_mlp *m, char *err,
	   size_t errlen)
{
	struct fit F = { .o = o, .d = t->ncols };
	ml_config c = { 0 };
	ml_mlp best = { 0 };
	ml_fwd fwd = { 0 };
	ml_train *tr = NULL;
	int rc, d = t->ncols, *sizes = NULL;
	size_t n = t->nrows;
	memset(m, 0, sizeof *m);
	memset(cfg, 0, sizeof *cfg);
	if ((rc = check_opts(t, o, err, errlen)) || (rc = standardise(t, &c, &F.z, err, errlen)))
		goto out;
	/* A threaded sgemm splits its sums by the thread count, which varies
	 * by machine: one thread keeps a seed giving the same bytes anywhere. */
	openblas_set_num_threads(1);
	sizes = xmalloc((size_t)(o->nhidden + 2) * sizeof(int));
	sizes[0] = sizes[o->nhidden + 1] = d;
	memcpy(sizes + 1, o->hidden, (size_t)o->nhidden * sizeof(int));
	/* best starts equal to m (same seed): the initial weights are kept
	 * when no epoch gives a finite validation loss. */
	if ((rc = ml_mlp_init(m, sizes, o->nhidden + 2, o->act, o->seed)) ||
	    (rc = ml_mlp_init(&best, sizes, o->nhidden + 2, o->act, o->seed))) {
		snprintf(err, errlen, "invalid layer sizes");
		goto out;
	}
	/* Split: a seeded permutation, the first nval rows validate. */
	/* Another stream than the weights' from the same seed. uint32_t indices:
	 * ml_csv caps the cells at 2^30, so rows fit. */
	ml_rng_seed(&F.rng, o->seed ^ 0x5e47194e11ULL);
	F.idx = xmalloc(n * sizeof(uint32_t));
	for (size_t i = 0; i < n; i++)
		F.idx[i] = (uint32_t)i;
	ml_rng_shuffle(&F.rng, F.idx, n);
	F.nval = (size_t)llround((double)n * o->val_frac);
	/* At least one row on each side; n >= ML_MIN_ROWS. */
	F.nval = F.nval < 1 ? 1 : F.nval > n - 1 ? n - 1 : F.nval;
	F.val = F.idx;
	F.train = F.idx + F.nval;
	F.ntrain = n - F.nval;

	/* buf holds a training batch or a chunk of validation rows (1024 per
	 * forward call), whichever is larger. */
	size_t rows = (size_t)o->batch > 1024 ? (size_t)o->batch : 1024;
	F.buf = xmalloc(rows * (size_t)d * sizeof(float));
	F.y = xmalloc(rows * (size_t)d * sizeof(float));
	F.errs = xmalloc(F.nval * sizeof(float));
	ml_fwd_init(&fwd, m, 1024);
	tr = ml_train_new(m, (size_t)o->batch, o->lr);
	double best_val = INFINITY, best_train = 0;
	int bad = 0, epoch;
	for (epoch = 1; epoch <= o->epochs && bad < o->patience; epoch++) {
		double train = run_epoch(&F, tr, m, epoch);
		ml_mlp_sync(m); /* Adam changed w and b; the forward pass reads wt and bp */
		row_errors(m, &fwd, F.z, d, F.val, F.nval, F.buf, F.y, F.errs);
		double val = mean_of(F.errs, F.nval);
		int improved = val < best_val;
		if (improved) {
			best_val = val;
			best_train = train;
			ml_mlp_copy_params(&best, m);
			bad = 0;
		} else {
			bad++;
		}
		if (o->on_epoch)
			o->on_epoch(o->ctx, epoch, o->epochs, train, val, improved);
		/* Checked after on_epoch, so the user sees the loss that diverged. */
		if (!isfinite(train)) {
			snprintf(err, errlen, "training diverged at epoch %d (loss is not finite); lower --lr", epoch);
			rc = -EINVAL;
			goto out;
		}
	}
	ml_mlp_copy_params(m, &best);
	row_errors(m, &fwd, F.z, d, F.val, F.nval, F.buf, F.y, F.errs);
	c.threshold = ml_quantile(F.errs, F.nval, o->quantile);
	c.format_version = ML_CONFIG_VERSION;
	c.dim = d;
	c.features = xcalloc((size_t)d, sizeof(char *));
	for (int j = 0; j < d; j++)
		c.features[j] = xstrdup(t->names[j]);
	c.quantile = o->quantile;
	c.nsizes = o->nhidden + 2;
	c.sizes = sizes;
	sizes = NULL;
	c.activation = xstrdup(ml_act_name(o->act));
	c.train_loss = best_train;
	c.val_loss = best_val;
	/* The epochs run, fewer than asked when early stopping ended the loop. */
	c.epochs = epoch - 1;
	c.seed = o->seed;
	*cfg = c;
	memset(&c, 0, sizeof c);
out:
	if (rc)
		ml_mlp_release(m);
	ml_config_release(&c);
	ml_mlp_release(&best);
	ml_fwd_release(&fwd);
	ml_train_free(&tr);
	free(sizes);
	free(F.z);
	free(F.buf);
	free(F.y);
	free(F.errs);
	free(F.idx);
	return rc;
}

int ml_save(const char *dir, const ml_mlp *m, ml_config *cfg, char *err, size_t errlen)
{
	uint8_t *onnx = NULL;
	size_t len = 0;
	char *path = NULL, *json = NULL, sub[256];
	int rc = ml_onnx_write_mlp(m, &onnx, &len);
	if (rc) {
		snprintf(err, errlen, "cannot serialise the model");
		goto out;
	}
	/* Both files are encoded before either is written: a config.json that
	 * cannot be written must not leave a model.onnx without one. */
	sn_sha256_hex(onnx, len, cfg->model_sha256);
	if ((rc = ml_config_dump(cfg, &json, sub, sizeof sub))) {
		snprintf(err, errlen, "cannot encode config.json: %s", sub);
		goto out;
	}
	if ((rc = sn_mkdir_p(dir, 0755))) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		goto out;
	}
	/* model.onnx first: config.json carries its hash, so a reader caught
	 * between the two renames gets a refused mismatch, not a wrong pair. */
	path = xasprintf("%s/model.onnx", dir);
	rc = sn_write_file_atomic(path, onnx, len, 0644);
	if (rc) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
		goto out;
	}
	free(path);
	path = xasprintf("%s/config.json", dir);
	rc = sn_write_file_atomic(path, json, strlen(json), 0644);
	if (rc)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
out:
	free(onnx);
	free(path);
	free(json);
	return rc;
}
