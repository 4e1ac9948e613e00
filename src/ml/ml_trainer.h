/* Fitting an autoencoder to a numeric table, and saving it as a model
 * directory. Internal to src/ml (the train command and, later, training
 * jobs use it).
 *
 * Determinism: the split, the initial weights and the batch order come
 * from one seeded generator and BLAS runs on one thread, so the same seed
 * and data give bit-identical model.onnx and config.json. */
#ifndef SN_ML_TRAINER_H
#define SN_ML_TRAINER_H
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
