/* Fitting an autoencoder to a numeric table, and saving it as a model
 * directory. Internal to src/ml (the train command and, later, training
 * jobs use it).
 *
 * Determinism: the split, the initial weights and the batch order come
 * from one seeded generator and BLAS runs on one thread, so the same seed
 * and data give bit-identical model.onnx and config.json. */
#ifndef SN_ML_TRAINER_H
#define SN_ML_TRAINER_H
#include <stddef.h>
#include <stdint.h>
#include "ml/ml_config.h"
#include "ml/ml_csv.h"
#include "ml/ml_nn.h"

#define ML_MIN_ROWS 10

typedef struct ml_fit_opts {
	const int *hidden; /* hidden widths */
	int nhidden;
	enum ml_act act;
	int epochs, batch, patience;
	float lr;
	uint64_t seed;
	double quantile;   /* of validation errors, in (0, 1] */
	double val_frac;   /* share of rows held out, in (0, 1) */
	/* Called after each epoch, and (when non-NULL) per batch. */
	void (*on_epoch)(void *ctx, int epoch, int epochs, double train, double val, int best);
	void (*on_batch)(void *ctx, int epoch, size_t done, size_t total);
	void *ctx;
} ml_fit_opts;

/* The options a user sets, and their ranges: `sentinel train --NAME`
 * and the training job's config {"NAME": …} both take them through
 * ml_fit_opt_set, so that both accept the same values. Names are the
 * JSON ones; '-' matches '_' (--val-fraction is val_fraction). */
/* The name of option i (0, 1, …), NULL past the last. */
const char *ml_fit_opt_name(size_t i);
/* o with every option at its default (the train command's): epochs 50,
 * batch 256, lr 1e-3, seed 1, patience 10, quantile 0.99, val_fraction
 * 0.2, activation relu, no hidden widths (the caller sets them). */
void ml_fit_opts_default(ml_fit_opts *o);
/* Sets option name of o to v after checking its range: -EINVAL with
 * "NAME: must be a [whole] number in [lo, hi]" (the name as given) in
 * err, -ENOENT for a name that is no option. */
int ml_fit_opt_set(ml_fit_opts *o, const char *name, double v, char *err, size_t errlen);
/* Hidden widths "16,8,16" into a new array (caller frees) of 1 to
 * ML_MAX_LAYERS - 1 widths of 1..ML_MAX_WIDTH; -EINVAL (*out NULL) for
 * anything else, a trailing comma included. */
int ml_widths_parse(const char *s, int **out, int *n);

/* Fits; on success fills cfg (features, mean, std, threshold, layers,
 * losses; the caller releases it) and m (the best weights by validation
 * loss). Errors name the column or row. 0 or -EINVAL. */
int ml_fit(const ml_table *t, const ml_fit_opts *o, ml_config *cfg, ml_mlp *m, char *err,
	   size_t errlen);

/* Writes DIR/model.onnx, then DIR/config.json with the model's SHA-256.
 * 0 or -errno with a message. */
int ml_save(const char *dir, const ml_mlp *m, ml_config *cfg, char *err, size_t errlen);

/* The q-quantile of v[0..n) with linear interpolation (numpy's default);
 * sorts v. */
double ml_quantile(float *v, size_t n, double q);
#endif
