/* Dense multi-layer perceptrons: forward passes (batched through
 * cblas_sgemm, and a per-sample path without BLAS call overhead), the
 * backward pass for MSE reconstruction loss, and Adam. Internal to src/ml.
 *
 * Invariants:
 *  - layer l maps in(l) -> out(l), in(l+1) == out(l); weights are row-major
 *    [out][in] (ONNX Gemm with transB=1, as torch.nn.Linear keeps them);
 *  - wt is the per-sample copy of w, [in][ostride] with ostride = out rounded
 *    up to 8 and zero padding, 32-byte aligned; ml_mlp_sync rebuilds it and
 *    must run after any change to w or b before ml_mlp_forward(1). */
#ifndef SN_ML_NN_H
#define SN_ML_NN_H
#include <stddef.h>
#include <stdint.h>

enum ml_act { ML_ACT_IDENTITY, ML_ACT_RELU, ML_ACT_LEAKY, ML_ACT_SIGMOID, ML_ACT_TANH };

#define ML_MAX_LAYERS 32
#define ML_MAX_WIDTH 65536

typedef struct ml_layer {
	int in, out, ostride;
	float *w;  /* [out][in] */
	float *b;  /* [out] */
	float *wt; /* [in][ostride], aligned */
	float *bp; /* [ostride] bias, zero padded, aligned */
	enum ml_act act;
	float alpha; /* LeakyRelu slope */
} ml_layer;

typedef struct ml_mlp {
	int nlayers;
	ml_layer layers[ML_MAX_LAYERS];
	int maxw;     /* widest layer (in or out), rounded up to 8 */
} ml_mlp;

/* Names: identity, relu, leakyrelu, sigmoid, tanh. -EINVAL when unknown. */
int ml_act_parse(const char *name, enum ml_act *out);
const char *ml_act_name(enum ml_act a);
void ml_act_apply(enum ml_act a, float alpha, float *x, size_t n);

/* A deterministic generator (splitmix64 seeding xoshiro256**). */
typedef struct ml_rng { uint64_t s[4]; } ml_rng;
void ml_rng_seed(ml_rng *r, uint64_t seed);
uint64_t ml_rng_next(ml_rng *r);
/* Uniform in [0, 1). */
double ml_rng_uniform(ml_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
void ml_rng_shuffle(ml_rng *r, uint32_t *idx, size_t n);

/* sizes[0..nsizes) are widths from input to output (nsizes >= 2). Hidden
 * layers get act, the last layer is identity. Weights get a seeded uniform
 * Kaiming/Xavier initialisation, biases zero. */
int ml_mlp_init(ml_mlp *m, const int *sizes, int nsizes, enum ml_act act, uint64_t seed);
/* An empty network to fill with ml_mlp_add. */
void ml_mlp_init_empty(ml_mlp *m);
/* Appends a layer copying w [out][in] (or [in][out] when w_in_major) and b
 * (NULL: zeros). -EINVAL on a width mismatch or too many layers. */
int ml_mlp_add(ml_mlp *m, int in, int out, const float *w, int w_in_major, const float *b,
	       enum ml_act act, float alpha);
/* Sets the activation following the last layer. */
void ml_mlp_set_last_act(ml_mlp *m, enum ml_act act, float alpha);
void ml_mlp_sync(ml_mlp *m);
void ml_mlp_release(ml_mlp *m);
int ml_mlp_in(const ml_mlp *m);
int ml_mlp_out(const ml_mlp *m);
/* Copies all parameters of src into dst (same architecture). */
void ml_mlp_copy_params(ml_mlp *dst, const ml_mlp *src);

/* Scratch for forward passes of up to max_rows rows. */
typedef struct ml_fwd {
	size_t max_rows;
	float *v;     /* per-sample [2][maxw], aligned */
} ml_fwd;
void ml_fwd_init(ml_fwd *f, const ml_mlp *m, size_t max_rows);
void ml_fwd_release(ml_fwd *f);

/* Y[n][out] = net(X[n][in]); n <= f->max_rows. */
void ml_mlp_forward(const ml_mlp *m, ml_fwd *f, const float *x, size_t n, float *y);
/* The per-sample path: y[out] = net(x[in]). */
void ml_mlp_forward1(const ml_mlp *m, ml_fwd *f, const float *x, float *y);
/* Per-row mean squared difference of a[n][d] and b[n][d]. */
void ml_row_mse(const float *a, const float *b, size_t n, int d, float *out);

/* Training state: gradients, Adam moments, activations of one batch. */
typedef struct ml_train ml_train;
ml_train *ml_train_new(const ml_mlp *m, size_t batch, float lr);
void ml_train_free(ml_train **t);
/* One Adam step on the batch x[n][in] reconstructing itself; returns the
 * batch MSE before the step. */
double ml_train_step(ml_train *t, ml_mlp *m, const float *x, size_t n);
#endif
