/* config.json, the companion of model.onnx: features, normalisation and
 * threshold. Written by `sentinel train`; users who bring a PyTorch model
 * write one by hand (only features, mean, std and threshold are required). */
#ifndef SN_ML_CONFIG_H
#define SN_ML_CONFIG_H
#include <stddef.h>
#include <stdint.h>

#define ML_CONFIG_VERSION 1
#define ML_CONFIG_MAX (16u << 20)

typedef struct ml_config {
	int format_version;
	int dim;           /* input_dim == number of features */
	char **features;   /* [dim] */
	float *mean, *std; /* [dim], std > 0 */
	double threshold, quantile;
	int nsizes;        /* 0 when unknown */
	int *sizes;        /* layer widths, input first */
	char *activation;  /* NULL when unknown */
	double train_loss, val_loss;
	int epochs;
	uint64_t seed;
	char model_sha256[65]; /* "" when unknown */
} ml_config;

/* Parses and validates; errors name the field. 0 or -EINVAL. */
int ml_config_parse(const char *text, size_t len, ml_config *out, char *err, size_t errlen);
/* Canonical JSON text (sorted keys, two-space indent) into *out, which the
 * caller frees. -EINVAL, with err set, when a feature name is not UTF-8 or
 * mean, std or threshold is not finite (non-finite losses become null). */
int ml_config_dump(const ml_config *c, char **out, char *err, size_t errlen);
void ml_config_release(ml_config *c);
#endif
