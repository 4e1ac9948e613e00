/* Model loading and scoring. See ml.h.
 * A model is either lowered to a dense network (the fast path: per-sample
 * kernels, row by row) or run by the graph interpreter; "batched" says
 * whether the interpreter accepts a batch dimension other than 1 (torch
 * exports without dynamic axes fix it). Either way a row's score does not
 * depend on the rows scored with it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml.h"
#include "ml/ml_config.h"
#include "ml/ml_onnx.h"


struct ml_model {
	atomic_int refs;
	ml_config cfg;
	ml_graph *graph;
	ml_mlp mlp;
	int dense;
	int batched;
};

struct ml_scorer {
	ml_model *m;
	size_t max;
	ml_fwd fwd;
	float *z, *y;
};

static int trial_run(ml_model *m, size_t rows, char *err, size_t errlen)
{
	int d = m->cfg.dim, rc;
	ml_tensor in, out = { 0 };
	int64_t dims[2] = { (int64_t)rows, d };
	/* Zeros are the training mean once standardised: a graph that cannot run
	 * them fails here, at load, not on the first vector scored. */
	ml_tensor_alloc(&in, 2, dims);
	memset(in.data, 0, in.n * sizeof(float));
	rc = ml_graph_run(m->graph, &in, &out, err, errlen);
	if (!rc && (out.ndim != 2 || out.dims[0] != (int64_t)rows || out.dims[1] != d)) {
		snprintf(err, errlen, "model.onnx maps [%zu,%d] to an output of another shape; an autoencoder must reproduce its input's shape",
			 rows, d);
		rc = -EINVAL;
	}
	ml_tensor_release(&in);
	ml_tensor_release(&out);
	return rc;
}

static int check_agree(ml_model *m, const char *sha, unsigned flags, char *err, size_t errlen)
{
	const ml_config *c = &m->cfg;
	int64_t dims[ML_MAX_RANK];
	/* First: a config written for another model explains any mismatch below. */
	if (c->model_sha256[0] && strcmp(c->model_sha256, sha) != 0) {
		snprintf(err, errlen, "config.json and model.onnx disagree: config.json was written for a model with sha256 %.12s…, this model.onnx has %.12s…",
			 c->model_sha256, sha);
		return -EINVAL;
	}
	if (ml_graph_ninputs(m->graph) != 1) {
		snprintf(err, errlen, "model.onnx has %d inputs; an autoencoder has one",
			 ml_graph_ninputs(m->graph));
		return -EINVAL;
	}
	int rank = ml_graph_input_shape(m->graph, 0, dims);
	/* A negative dimension is symbolic (a dynamic axis) and agrees with any. */
	if (rank != 2 || (dims[1] >= 0 && dims[1] != c->dim)) {
		if (rank == 2)
			snprintf(err, errlen, "config.json and model.onnx disagree: config.json lists %d features, model.onnx takes %lld",
				 c->dim, (long long)dims[1]);
		else
			snprintf(err, errlen, "model.onnx's input must be declared 2-D [batch, features]");
		return -EINVAL;
	}
	/* A graph that does not lower is not an error: the interpreter runs it. */
	if (!(flags & ML_LOAD_INTERPRET) && ml_graph_to_mlp(m->graph, &m->mlp) == 0)
		m->dense = 1;
	if (m->dense && c->nsizes) {
		int ok = c->nsizes == m->mlp.nlayers + 1;
		for (int k = 0; ok && k < m->mlp.nlayers; k++)
			ok = m->mlp.layers[k].in == c->sizes[k] && m->mlp.layers[k].out == c->sizes[k + 1];
		if (!ok) {
			snprintf(err, errlen, "config.json and model.onnx disagree on the layer sizes");
			return -EINVAL;
		}
	}
	if (trial_run(m, 1, err, errlen))
		return -EINVAL;
	/* A graph that fails on two rows is still good: run_graph feeds it one
	 * row at a time (the message left in err is not an error). */
	m->batched = dims[0] != 1 && trial_run(m, 2, err, errlen) == 0;
	return 0;
}

int ml_model_load_files(const char *onnx_path, const char *config_path, unsigned flags,
			ml_model **out, char *err, size_t errlen)
{
	char *onnx = NULL, *conf = NULL, sha[65], sub[400];
	size_t olen = 0, clen = 0;
	int rc;
	ml_model *m = xcalloc(1, sizeof *m);
	atomic_init(&m->refs, 1);
	*out = NULL;
	rc = sn_read_file(onnx_path, ML_ONNX_MAX_BYTES, &onnx, &olen);
	if (rc) {
		snprintf(err, errlen, "%s: %s", onnx_path,
			 rc == -E2BIG ? "larger than the model size cap" : strerror(-rc));
		goto out;
	}
	rc = sn_read_file(config_path, ML_CONFIG_MAX, &conf, &clen);
	if (rc) {
		snprintf(err, errlen, "%s: %s", config_path,
			 rc == -E2BIG ? "too large" : strerror(-rc));
		goto out;
	}
	rc = ml_config_parse(conf, clen, &m->cfg, err, errlen);
	if (rc)
		goto out;
	rc = ml_graph_load(onnx, olen, &m->graph, sub, sizeof sub);
	if (rc) {
		snprintf(err, errlen, "%s: %s", onnx_path, sub);
		goto out;
	}
	sn_sha256_hex(onnx, olen, sha);
	rc = check_agree(m, sha, flags, err, errlen);
	if (rc)
		goto out;
	*out = m;
	m = NULL;
out:
	ml_model_free(&m);
	free(onnx);
	free(conf);
	return rc;
}

int ml_model_load(const char *dir, unsigned flags, ml_model **out, char *err, size_t errlen)
{
	char *op = xasprintf("%s/%s", dir, ML_MODEL_FILE), *cp = xasprintf("%s/%s", dir, ML_CONFIG_FILE);
	int rc = ml_model_load_files(op, cp, flags, out, err, errlen);
	free(op);
	free(cp);
	return rc;
}

ml_model *ml_model_ref(ml_model *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

void ml_model_free(ml_model **mp)
{
	ml_model *m = *mp;
	*mp = NULL;
	/* fetch_sub returns the count before: 1 means this was the last reference. */
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	ml_config_release(&m->cfg);
	ml_graph_free(&m->graph);
	ml_mlp_release(&m->mlp);
	free(m);
}

int ml_model_dim(const ml_model *m)
{
	return m->cfg.dim;
}

double ml_model_threshold(const ml_model *m)
{
	return m->cfg.threshold;
}

const char *ml_model_feature(const ml_model *m, int i)
{
	return i >= 0 && i < m->cfg.dim ? m->cfg.features[i] : NULL;
}

const char *ml_model_kind(const ml_model *m)
{
	return m->dense ? "dense" : "graph";
}

ml_scorer *ml_scorer_new(ml_model *m, size_t max_batch)
{
	ml_scorer *s = xcalloc(1, sizeof *s);
	s->m = ml_model_ref(m);
	s->max = max_batch ? max_batch : 1;
	/* The scratch lives here, not in the model: a model is shared between
	 * threads, a scorer belongs to one. */
	if (m->dense)
		ml_fwd_init(&s->fwd, &m->mlp, s->max);
	s->z = xmalloc(s->max * (size_t)m->cfg.dim * sizeof(float));
	s->y = xmalloc(s->max * (size_t)m->cfg.dim * sizeof(float));
	return s;
}

void ml_scorer_free(ml_scorer **sp)
{
	ml_scorer *s = *sp;
	if (!s)
		return;
	if (s->m->dense)
		ml_fwd_release(&s->fwd);
	ml_model_free(&s->m);
	free(s->z);
	free(s->y);
	free(s);
	*sp = NULL;
}

static int run_graph(ml_scorer *s, size_t n, char *err, size_t errlen)
{
	int d = s->m->cfg.dim;
	size_t step = s->m->batched ? n : 1;
	for (size_t r = 0; r < n; r += step) {
		ml_tensor in = { .ndim = 2, .dims = { (int64_t)step, d }, .n = step * (size_t)d,
				 .data = s->z + r * d };
		ml_tensor out = { 0 };
		int rc = ml_graph_run(s->m->graph, &in, &out, err, errlen);
		if (!rc && out.n != step * (size_t)d)
			rc = -EINVAL;
		if (!rc)
			memcpy(s->y + r * d, out.data, out.n * sizeof(float));
		ml_tensor_release(&out);
		if (rc)
			return rc;
	}
	return 0;
}

int ml_scorer_score(ml_scorer *s, const float *x, size_t n, float *scores)
{
	const ml_config *c = &s->m->cfg;
	int d = c->dim;
	char err[256];
	if (n > s->max)
		return -EINVAL;
	/* std > 0 (ml_config_parse). The error is measured on the standardised
	 * z, so every feature weighs alike whatever its unit. */
	for (size_t r = 0; r < n; r++)
		for (int j = 0; j < d; j++)
			s->z[r * d + j] = (x[r * d + j] - c->mean[j]) / c->std[j];
	if (!s->m->dense) {
		if (run_graph(s, n, err, sizeof err))
			return -EINVAL;
	} else {
		ml_mlp_forward(&s->m->mlp, &s->fwd, s->z, n, s->y);
	}
	ml_row_mse(s->y, s->z, n, d, scores);
	return 0;
}
