/* Dense layers over CBLAS, activations, MSE, Adam. See ml_nn.h. */
#include "ml/ml_blas.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ml/ml_kern.h"
#include "ml/ml_nn.h"

/* Indexed by enum ml_act: keep the two in the same order. */
static const char *const act_names[] = { "identity", "relu", "leakyrelu", "sigmoid", "tanh" };

int ml_act_parse(const char *name, enum ml_act *out)
{
	for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
		if (strcmp(name, act_names[i]) == 0) {
			*out = (enum ml_act)i;
			return 0;
		}
	return -EINVAL;
}

const char *ml_act_name(enum ml_act a)
{
	return act_names[a];
}

void ml_act_apply(enum ml_act a, float alpha, float *x, size_t n)
{
	switch (a) {
	case ML_ACT_IDENTITY:
		break;
	case ML_ACT_RELU:
		ml_kern_get()->relu(x, n);
		break;
	case ML_ACT_LEAKY:
		ml_kern_get()->leaky(x, n, alpha);
		break;
	case ML_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			x[i] = 1.0f / (1.0f + expf(-x[i]));
		break;
	case ML_ACT_TANH:
		for (size_t i = 0; i < n; i++)
			x[i] = tanhf(x[i]);
		break;
	}
}

/* ---- random numbers ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void ml_rng_seed(ml_rng *r, uint64_t seed)
{
	/* splitmix64 turns any seed, 0 included, into a state that is not all
	 * zero, the one state xoshiro never leaves. */
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t ml_rng_next(ml_rng *r)
{
	uint64_t *s = r->s;
	uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double ml_rng_uniform(ml_rng *r)
{
	/* 53 bits fit a double's mantissa exactly, so the result never rounds up to 1. */
	return (double)(ml_rng_next(r) >> 11) * 0x1.0p-53;
}

void ml_rng_shuffle(ml_rng *r, uint32_t *idx, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		/* The modulo bias is below i / 2^64: negligible for any row count. */
		size_t j = (size_t)(ml_rng_next(r) % i);
		uint32_t t = idx[i - 1];
		idx[i - 1] = idx[j];
		idx[j] = t;
	}
}

/* ---- networks ---- */

static void *xalloc32(size_t n)
{
	void *p = NULL;
	/* posix_memalign(0) may return NULL; out of memory aborts as in base/mem.h. */
	if (posix_memalign(&p, 32, n ? n : 32)) {
		fprintf(stderr, "sentinel: out of memory allocating %zu bytes\n", n);
		abort();
	}
	memset(p, 0, n);
	return p;
}

void ml_mlp_init_empty(ml_mlp *m)
{
	memset(m, 0, sizeof *m);
}

static int round8(int n)
{
	return (n + 7) & ~7;
}

int ml_mlp_add(ml_mlp *m, int in, int out, const float *w, int w_in_major, const float *b,
	       enum ml_act act, float alpha)
{
	if (m->nlayers >= ML_MAX_LAYERS || in <= 0 || out <= 0 || in > ML_MAX_WIDTH ||
	    out > ML_MAX_WIDTH)
		return -EINVAL;
	if (m->nlayers && m->layers[m->nlayers - 1].out != in)
		return -EINVAL;
	ml_layer *l = &m->layers[m->nlayers++];
	l->in = in;
	l->out = out;
	l->ostride = round8(out);
	l->w = xmalloc((size_t)in * out * sizeof(float));
	l->b = xcalloc((size_t)out, sizeof(float));
	if (w_in_major) {
		for (int i = 0; i < in; i++)
			for (int o = 0; o < out; o++)
				l->w[(size_t)o * in + i] = w[(size_t)i * out + o];
	} else {
		memcpy(l->w, w, (size_t)in * out * sizeof(float));
	}
	if (b)
		memcpy(l->b, b, (size_t)out * sizeof(float));
	/* 32-byte aligned and zero padded: dense1 loads whole aligned vectors
	 * and the padding columns then yield zeros. */
	l->wt = xalloc32((size_t)in * l->ostride * sizeof(float));
	l->bp = xalloc32((size_t)l->ostride * sizeof(float));
	l->act = act;
	l->alpha = alpha;
	/* maxw bounds any row a scratch buffer holds: an output in ml_fwd, an
	 * input gradient in the trainer. */
	if (round8(in) > m->maxw)
		m->maxw = round8(in);
	if (l->ostride > m->maxw)
		m->maxw = l->ostride;
	ml_mlp_sync(m);
	return 0;
}

void ml_mlp_set_last_act(ml_mlp *m, enum ml_act act, float alpha)
{
	m->layers[m->nlayers - 1].act = act;
	m->layers[m->nlayers - 1].alpha = alpha;
}

int ml_mlp_init(ml_mlp *m, const int *sizes, int nsizes, enum ml_act act, uint64_t seed)
{
	ml_rng r;
	int rc = 0;
	ml_mlp_init_empty(m);
	ml_rng_seed(&r, seed);
	if (nsizes < 2 || nsizes - 1 > ML_MAX_LAYERS)
		return -EINVAL;
	for (int l = 0; l + 1 < nsizes && !rc; l++) {
		int in = sizes[l], out = sizes[l + 1];
		if (in <= 0 || out <= 0 || in > ML_MAX_WIDTH || out > ML_MAX_WIDTH) {
			rc = -EINVAL;
			break;
		}
		float *w = xmalloc((size_t)in * out * sizeof(float));
		/* Kaiming-uniform for ReLU-like layers, Xavier-uniform otherwise. */
		int relu_like = act == ML_ACT_RELU || act == ML_ACT_LEAKY;
		double bound = relu_like && l + 2 < nsizes ? sqrt(6.0 / in) : sqrt(6.0 / (in + out));
		for (size_t i = 0; i < (size_t)in * out; i++)
			w[i] = (float)((2.0 * ml_rng_uniform(&r) - 1.0) * bound);
		/* The output layer stays linear: it reconstructs standardised values
		 * of either sign. 0.01 is torch's LeakyReLU slope. */
		rc = ml_mlp_add(m, in, out, w, 0, NULL, l + 2 < nsizes ? act : ML_ACT_IDENTITY,
				0.01f);
		free(w);
	}
	if (rc)
		ml_mlp_release(m);
	return rc;
}

void ml_mlp_sync(ml_mlp *m)
{
	for (int k = 0; k < m->nlayers; k++) {
		ml_layer *l = &m->layers[k];
		for (int i = 0; i < l->in; i++)
			for (int o = 0; o < l->out; o++)
				l->wt[(size_t)i * l->ostride + o] = l->w[(size_t)o * l->in + i];
		memcpy(l->bp, l->b, (size_t)l->out * sizeof(float));
	}
}

void ml_mlp_release(ml_mlp *m)
{
	for (int k = 0; k < m->nlayers; k++) {
		ml_layer *l = &m->layers[k];
		free(l->w);
		free(l->b);
		free(l->wt);
		free(l->bp);
	}
	memset(m, 0, sizeof *m);
}

int ml_mlp_in(const ml_mlp *m)
{
	return m->nlayers ? m->layers[0].in : 0;
}

int ml_mlp_out(const ml_mlp *m)
{
	return m->nlayers ? m->layers[m->nlayers - 1].out : 0;
}

void ml_mlp_copy_params(ml_mlp *dst, const ml_mlp *src)
{
	for (int k = 0; k < src->nlayers; k++) {
		const ml_layer *s = &src->layers[k];
		memcpy(dst->layers[k].w, s->w, (size_t)s->in * s->out * sizeof(float));
		memcpy(dst->layers[k].b, s->b, (size_t)s->out * sizeof(float));
	}
	ml_mlp_sync(dst);
}

/* ---- forward ---- */

void ml_fwd_init(ml_fwd *f, const ml_mlp *m, size_t max_rows)
{
	f->max_rows = max_rows;
	f->v = xalloc32(2 * (size_t)m->maxw * sizeof(float));
}

void ml_fwd_release(ml_fwd *f)
{
	free(f->v);
	memset(f, 0, sizeof *f);
}

static void dense_batch(const ml_layer *l, const float *x, size_t n, float *y)
{
	/* Training only: the batch-dependent rounding of sgemm (see
	 * ml_mlp_forward) does not matter to a gradient step. */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, l->out, l->in, 1.0f, x,
		    l->in, l->w, l->in, 0.0f, y, l->out);
	int mode = l->act == ML_ACT_RELU ? 1 : l->act == ML_ACT_LEAKY ? 2 : 0;
	ml_kern_get()->bias_act(y, l->b, n, l->out, mode, l->alpha);
	if (!mode)
		ml_act_apply(l->act, l->alpha, y, n * (size_t)l->out);
}

/* Row by row with the per-sample kernel, not one sgemm per layer: BLAS
 * picks its kernels and blocking by the batch's size, so a row's result
 * would depend on the rows scored with it (by an ulp or so), and the
 * engine promises a vector the same score alone and in any batch. The
 * trainer's validation scores (the threshold) come from here too. */
void ml_mlp_forward(const ml_mlp *m, ml_fwd *f, const float *x, size_t n, float *y)
{
	size_t in = (size_t)ml_mlp_in(m), out = (size_t)ml_mlp_out(m);
	for (size_t r = 0; r < n; r++)
		ml_mlp_forward1(m, f, x + r * in, y + r * out);
}

void ml_mlp_forward1(const ml_mlp *m, ml_fwd *f, const float *x, float *y)
{
	const ml_kern *kn = ml_kern_get();
	const float *in = x;
	for (int k = 0; k < m->nlayers; k++) {
		const ml_layer *l = &m->layers[k];
		/* Layers alternate between the two halves of f->v, so a layer never
		 * writes the half it reads. */
		float *out = f->v + (size_t)(k % 2) * m->maxw;
		kn->dense1(in, l->in, l->wt, l->bp, l->ostride, out);
		ml_act_apply(l->act, l->alpha, out, (size_t)l->out);
		in = out;
	}
	memcpy(y, in, (size_t)ml_mlp_out(m) * sizeof(float));
}

void ml_row_mse(const float *a, const float *b, size_t n, int d, float *out)
{
	for (size_t r = 0; r < n; r++) {
		const float *p = a + r * d, *q = b + r * d;
		/* Summed in double: over up to 65536 columns float would drop the
		 * small errors that separate normal rows from each other. */
		double s = 0;
		for (int j = 0; j < d; j++) {
			double e = (double)p[j] - q[j];
			s += e * e;
		}
		out[r] = (float)(s / d);
	}
}

/* ---- training ---- */

struct ml_train {
	size_t batch;
	float lr, beta1, beta2, eps;
	long step;
	float *act[ML_MAX_LAYERS];  /* activations after layer k, [batch][out] */
	float *grad, *gtmp;         /* [batch][maxw] each */
	float *dw[ML_MAX_LAYERS], *db[ML_MAX_LAYERS];
	float *mw[ML_MAX_LAYERS], *vw[ML_MAX_LAYERS];
	float *mb[ML_MAX_LAYERS], *vb[ML_MAX_LAYERS];
	int nlayers;
};

ml_train *ml_train_new(const ml_mlp *m, size_t batch, float lr)
{
	ml_train *t = xcalloc(1, sizeof *t);
	t->batch = batch;
	t->lr = lr;
	/* torch.optim.Adam's defaults. */
	t->beta1 = 0.9f;
	t->beta2 = 0.999f;
	t->eps = 1e-8f;
	t->nlayers = m->nlayers;
	for (int k = 0; k < m->nlayers; k++) {
		const ml_layer *l = &m->layers[k];
		size_t nw = (size_t)l->in * l->out;
		t->act[k] = xmalloc(batch * l->out * sizeof(float));
		t->dw[k] = xcalloc(nw, sizeof(float));
		t->mw[k] = xcalloc(nw, sizeof(float));
		t->vw[k] = xcalloc(nw, sizeof(float));
		t->db[k] = xcalloc((size_t)l->out, sizeof(float));
		t->mb[k] = xcalloc((size_t)l->out, sizeof(float));
		t->vb[k] = xcalloc((size_t)l->out, sizeof(float));
	}
	t->grad = xmalloc(batch * m->maxw * sizeof(float));
	t->gtmp = xmalloc(batch * m->maxw * sizeof(float));
	return t;
}

void ml_train_free(ml_train **tp)
{
	ml_train *t = *tp;
	if (!t)
		return;
	for (int k = 0; k < t->nlayers; k++) {
		free(t->act[k]);
		free(t->dw[k]);
		free(t->mw[k]);
		free(t->vw[k]);
		free(t->db[k]);
		free(t->mb[k]);
		free(t->vb[k]);
	}
	free(t->grad);
	free(t->gtmp);
	free(t);
	*tp = NULL;
}

/* g *= act'(z), expressed through the activation a = act(z), so the
 * pre-activations need not be kept (ReLU: a > 0 exactly when z > 0). */
static void act_grad(enum ml_act a, float alpha, const float *y, float *g, size_t n)
{
	switch (a) {
	case ML_ACT_IDENTITY:
		break;
	case ML_ACT_RELU:
		ml_kern_get()->relu_grad(y, g, n);
		break;
	case ML_ACT_LEAKY:
		ml_kern_get()->leaky_grad(y, g, n, alpha);
		break;
	case ML_ACT_SIGMOID:
		for (size_t i = 0; i < n; i++)
			g[i] *= y[i] * (1.0f - y[i]);
		break;
	case ML_ACT_TANH:
		for (size_t i = 0; i < n; i++)
			g[i] *= 1.0f - y[i] * y[i];
		break;
	}
}

static void adam(ml_train *t, float *p, const float *g, float *mo, float *ve, size_t n)
{
	float b1 = t->beta1, b2 = t->beta2;
	double bc1 = 1.0 - pow(b1, (double)t->step), bc2 = 1.0 - pow(b2, (double)t->step);
	float step = (float)(t->lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
	ml_kern_get()->adam(p, g, mo, ve, n, b1, b2, step, rbc2, t->eps);
}

double ml_train_step(ml_train *t, ml_mlp *m, const float *x, size_t n)
{
	int L = m->nlayers, d = ml_mlp_in(m);
	const float *in = x;
	for (int k = 0; k < L; k++) {
		dense_batch(&m->layers[k], in, n, t->act[k]);
		in = t->act[k];
	}
	/* dLoss/dY for loss = mean over n*d of (y - x)^2. */
	double loss = 0;
	float scale = 2.0f / (float)(n * (size_t)d);
	const float *y = t->act[L - 1];
	for (size_t i = 0; i < n * (size_t)d; i++) {
		float e = y[i] - x[i];
		loss += (double)e * e;
		t->grad[i] = scale * e;
	}
	loss /= (double)(n * (size_t)d);
	for (int k = L - 1; k >= 0; k--) {
		ml_layer *l = &m->layers[k];
		const float *prev = k ? t->act[k - 1] : x;
		act_grad(l->act, l->alpha, t->act[k], t->grad, n * (size_t)l->out);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l->out, l->in, (int)n, 1.0f,
			    t->grad, l->out, prev, l->in, 0.0f, t->dw[k], l->in);
		memset(t->db[k], 0, (size_t)l->out * sizeof(float));
		for (size_t r = 0; r < n; r++)
			for (int o = 0; o < l->out; o++)
				t->db[k][o] += t->grad[r * l->out + o];
		/* Layer 0's input gradient would be dLoss/dx, which nothing uses. */
		if (k) {
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, l->in, l->out,
				    1.0f, t->grad, l->out, l->w, l->in, 0.0f, t->gtmp, l->in);
			/* gtmp now holds dLoss/d(act[k-1]); swapping avoids a copy. */
			float *sw = t->grad;
			t->grad = t->gtmp;
			t->gtmp = sw;
		}
	}
	/* Before the updates: the bias corrections 1 - beta^step are 0 at step 0. */
	t->step++;
	for (int k = 0; k < L; k++) {
		ml_layer *l = &m->layers[k];
		adam(t, l->w, t->dw[k], t->mw[k], t->vw[k], (size_t)l->in * l->out);
		adam(t, l->b, t->db[k], t->mb[k], t->vb[k], (size_t)l->out);
	}
	return loss;
}
