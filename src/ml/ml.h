/* Anomaly models: load a model directory (model.onnx + config.json) and
 * score raw feature vectors. Used by `sentinel engine` and, later, by the
 * server's model registry and HTTP scoring.
 *
 * score(x) = mean_j (model(z)_j - z_j)^2 with z_j = (x_j - mean_j) / std_j;
 * x is anomalous when score > threshold. A model is immutable after load
 * and reference-counted; each thread scores through its own ml_scorer. */
#ifndef SN_ML_H
#define SN_ML_H
#include <stddef.h>

typedef struct ml_model ml_model;
typedef struct ml_scorer ml_scorer;

#define ML_MODEL_FILE "model.onnx"
#define ML_CONFIG_FILE "config.json"

enum {
	ML_LOAD_INTERPRET = 1, /* never lower to the dense fast path (tests) */
};

/* Loads DIR/model.onnx and DIR/config.json and checks that they agree
 * (dimensions, layer sizes, the model's SHA-256 when config.json has it)
 * and that the graph runs. 0, or -ENOENT/-EINVAL with a message. */
int ml_model_load(const char *dir, unsigned flags, ml_model **out, char *err, size_t errlen);
/* The same from explicit paths. */
int ml_model_load_files(const char *onnx_path, const char *config_path, unsigned flags,
			ml_model **out, char *err, size_t errlen);
ml_model *ml_model_ref(ml_model *m);
/* Drops a reference; frees on the last one. Sets *m to NULL. */
void ml_model_free(ml_model **m);

int ml_model_dim(const ml_model *m);
double ml_model_threshold(const ml_model *m);
const char *ml_model_feature(const ml_model *m, int i);
/* "dense" (lowered to the fast path) or "graph" (interpreted). */
const char *ml_model_kind(const ml_model *m);

/* A scorer for up to max_batch rows per call; holds a model reference. */
ml_scorer *ml_scorer_new(ml_model *m, size_t max_batch);
void ml_scorer_free(ml_scorer **s);
/* scores[i] for raw rows x[n][dim], n <= max_batch. 0 or -EINVAL. */
int ml_scorer_score(ml_scorer *s, const float *x, size_t n, float *scores);
#endif
