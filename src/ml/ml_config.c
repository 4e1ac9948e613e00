/* config.json reading and writing. See ml_config.h. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ml/ml_config.h"

void ml_config_release(ml_config *c)
{
	for (int i = 0; c->features && i < c->dim; i++)
		free(c->features[i]);
	free(c->features);
	free(c->mean);
	free(c->std);
	free(c->sizes);
	free(c->activation);
	memset(c, 0, sizeof *c);
}

static int float_array(json_t *root, const char *key, int dim, float **out, char *err,
		       size_t errlen)
{
	json_t *a = json_object_get(root, key);
	if (!json_is_array(a) || (int)json_array_size(a) != dim) {
		snprintf(err, errlen, "config.json: '%s' must be an array of %d numbers", key, dim);
		return -EINVAL;
	}
	*out = xmalloc((size_t)dim * sizeof(float));
	for (int i = 0; i < dim; i++) {
		json_t *v = json_array_get(a, (size_t)i);
		double d = json_number_value(v);
		/* Under FLT_MAX (3.4e38): the cast to float below stays finite. */
		if (!json_is_number(v) || !isfinite(d) || fabs(d) > 3.0e38) {
			snprintf(err, errlen, "config.json: %s[%d] is not a finite number", key, i);
			return -EINVAL;
		}
		(*out)[i] = (float)d;
	}
	return 0;
}

static int parse_features(json_t *root, ml_config *c, char *err, size_t errlen)
{
	json_t *f = json_object_get(root, "features");
	size_t n = json_array_size(f);
	/* 65536 is ML_MAX_WIDTH: the input layer is as wide as the features. */
	if (!json_is_array(f) || n == 0 || n > 65536) {
		snprintf(err, errlen, "config.json: 'features' must be a non-empty array of names");
		return -EINVAL;
	}
	c->features = xcalloc(n, sizeof(char *));
	c->dim = (int)n;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(f, i));
		if (!s) {
			snprintf(err, errlen, "config.json: features[%zu] is not a string", i);
			return -EINVAL;
		}
		c->features[i] = xstrdup(s);
	}
	/* input_dim is redundant and optional; when present it must agree. */
	json_t *d = json_object_get(root, "input_dim");
	if (d && json_integer_value(d) != c->dim) {
		snprintf(err, errlen, "config.json: input_dim %lld disagrees with %d features",
			 (long long)json_integer_value(d), c->dim);
		return -EINVAL;
	}
	return 0;
}

static int parse_layers(json_t *root, ml_config *c, char *err, size_t errlen)
{
	/* Hand-written configs for a PyTorch model may leave the widths out
	 * (nsizes 0); the graph then says them alone. */
	json_t *l = json_object_get(root, "layers");
	if (!l)
		return 0;
	size_t n = json_array_size(l);
	if (!json_is_array(l) || n < 2 || n > 64) {
		snprintf(err, errlen, "config.json: 'layers' must be an array of 2 to 64 widths");
		return -EINVAL;
	}
	c->sizes = xcalloc(n, sizeof(int));
	c->nsizes = (int)n;
	for (size_t i = 0; i < n; i++) {
		/* A non-integer reads as 0 and fails the range check. */
		json_int_t v = json_integer_value(json_array_get(l, i));
		if (v <= 0 || v > 65536) {
			snprintf(err, errlen, "config.json: layers[%zu] is not a width in 1..65536", i);
			return -EINVAL;
		}
		c->sizes[i] = (int)v;
	}
	if (c->sizes[0] != c->dim || c->sizes[n - 1] != c->dim) {
		snprintf(err, errlen,
			 "config.json: layers %d..%d do not start and end at input_dim %d",
			 c->sizes[0], c->sizes[n - 1], c->dim);
		return -EINVAL;
	}
	return 0;
}

int ml_config_parse(const char *text, size_t len, ml_config *out, char *err, size_t errlen)
{
	json_error_t jerr;
	ml_config c = { 0 };
	int rc = -EINVAL;
	memset(out, 0, sizeof *out);
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root || !json_is_object(root)) {
		snprintf(err, errlen, "config.json: not a JSON object (%s, line %d)",
			 root ? "wrong type" : jerr.text, jerr.line);
		goto out;
	}
	json_t *fv = json_object_get(root, "format_version");
	/* Absent means current: hand-written configs need not know the version. */
	c.format_version = fv ? (int)json_integer_value(fv) : ML_CONFIG_VERSION;
	if (c.format_version != ML_CONFIG_VERSION) {
		snprintf(err, errlen, "config.json: format_version %d is not supported (want %d)",
			 c.format_version, ML_CONFIG_VERSION);
		goto out;
	}
	if (parse_features(root, &c, err, errlen) ||
	    float_array(root, "mean", c.dim, &c.mean, err, errlen) ||
	    float_array(root, "std", c.dim, &c.std, err, errlen) ||
	    parse_layers(root, &c, err, errlen))
		goto out;
	/* The score divides by std: 0 would turn every deviation into infinity. */
	for (int i = 0; i < c.dim; i++)
		if (!(c.std[i] > 0)) {
			snprintf(err, errlen, "config.json: std[%d] (feature '%s') must be > 0", i,
				 c.features[i]);
			goto out;
		}
	json_t *th = json_object_get(root, "threshold");
	c.threshold = json_number_value(th);
	if (!json_is_number(th) || !isfinite(c.threshold)) {
		snprintf(err, errlen, "config.json: 'threshold' must be a finite number");
		goto out;
	}
	/* Informational only: absent or null reads as 0 (see real_or_null). */
	c.quantile = json_number_value(json_object_get(root, "quantile"));
	c.train_loss = json_number_value(json_object_get(root, "train_loss"));
	c.val_loss = json_number_value(json_object_get(root, "val_loss"));
	c.epochs = (int)json_integer_value(json_object_get(root, "epochs"));
	c.seed = (uint64_t)json_integer_value(json_object_get(root, "seed"));
	const char *act = json_string_value(json_object_get(root, "activation"));
	if (act)
		c.activation = xstrdup(act);
	const char *sha = json_string_value(json_object_get(root, "model_sha256"));
	if (sha && strlen(sha) != 64) {
		snprintf(err, errlen, "config.json: 'model_sha256' must be 64 hex characters");
		goto out;
	}
	/* 65 bytes: the length is 64 (checked above) plus the terminator. */
	if (sha)
		memcpy(c.model_sha256, sha, 65);
	/* *out owns the arrays now; the zeroed c makes the release below a no-op. */
	*out = c;
	memset(&c, 0, sizeof c);
	rc = 0;
out:
	ml_config_release(&c);
	json_decref(root);
	return rc;
}

/* Adds key: value to o, taking value; -EINVAL when value is NULL (a
 * json_real of NaN or infinity, a string that is not UTF-8). */
static int put(json_t *o, const char *key, json_t *value)
{
	return json_object_set_new(o, key, value) ? -EINVAL : 0;
}

static json_t *floats_json(const float *v, int n)
{
	json_t *a = json_array();
	for (int i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_real((double)v[i])))
			goto fail;
	return a;
fail:
	json_decref(a);
	return NULL;
}

/* Informational numbers: an unknown (non-finite) one is written as null,
 * which the parser reads as 0. */
static json_t *real_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int dump_sizes(json_t *o, const ml_config *c)
{
	json_t *l = json_array();
	for (int i = 0; l && i < c->nsizes; i++)
		if (json_array_append_new(l, json_integer(c->sizes[i])))
			goto fail;
	return put(o, "layers", l);
fail:
	json_decref(l);
	return -EINVAL;
}

int ml_config_dump(const ml_config *c, char **out, char *err, size_t errlen)
{
	int rc = -EINVAL;
	*out = NULL;
	json_t *o = json_object(), *f = json_array();
	for (int i = 0; f && i < c->dim; i++)
		if (json_array_append_new(f, json_string(c->features[i]))) {
			snprintf(err, errlen, "feature %d: the name is not valid UTF-8", i + 1);
			/* f is not in o yet, so o's release would not free it. */
			json_decref(f);
			goto out;
		}
	/* o or f NULL: put fails (json_object_set_new refuses a NULL object). */
	if (put(o, "features", f)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (put(o, "format_version", json_integer(ML_CONFIG_VERSION)) ||
	    put(o, "input_dim", json_integer(c->dim)) ||
	    put(o, "mean", floats_json(c->mean, c->dim)) ||
	    put(o, "std", floats_json(c->std, c->dim)) ||
	    put(o, "threshold", json_real(c->threshold))) {
		snprintf(err, errlen, "mean, std and threshold must be finite numbers");
		goto out;
	}
	if ((c->nsizes && dump_sizes(o, c)) ||
	    (c->activation && put(o, "activation", json_string(c->activation))) ||
	    put(o, "quantile", real_or_null(c->quantile)) ||
	    put(o, "train_loss", real_or_null(c->train_loss)) ||
	    put(o, "val_loss", real_or_null(c->val_loss)) ||
	    put(o, "epochs", json_integer(c->epochs)) ||
	    put(o, "seed", json_integer((json_int_t)c->seed)) ||
	    (c->model_sha256[0] && put(o, "model_sha256", json_string(c->model_sha256)))) {
		snprintf(err, errlen, "cannot encode the layers, activation or model hash");
		goto out;
	}
	/* 17 significant digits read back as the same double, so mean, std
	 * and threshold survive a dump and parse bit for bit. */
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
	if (!s) {
		snprintf(err, errlen, "cannot encode config.json");
		goto out;
	}
	*out = xasprintf("%s\n", s);
	free(s);
	rc = 0;
out:
	json_decref(o);
	return rc;
}
