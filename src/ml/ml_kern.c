/* Vector kernels. See ml_kern.h. The dense1 body is written once with
 * GCC vector extensions and compiled twice (default and AVX2+FMA); the
 * element-wise kernels use AVX intrinsics in their AVX2 version and
 * branch-free C otherwise. */
#include <immintrin.h>
#include <math.h>
#include "ml/ml_kern.h"

/* With -std=gnu17 GCC contracts a * b + c into one FMA wherever the target
 * has it: the AVX2 copy rounds once per multiply-add and the portable copy
 * twice, so scores agree across CPUs only to a few ulps. */
typedef float v8sf __attribute__((vector_size(32)));

#define BCAST(v) { v, v, v, v, v, v, v, v }
#define LD(p) (*(const v8sf *)(p))

/* The sums are latency-bound chains of multiply-adds, so each output
 * block keeps 8 independent accumulators: 8 vectors of outputs for blocks
 * of 64, else 4 vectors x 2 halves of the inputs, else 1 vector x 8 input
 * phases. */
static inline __attribute__((always_inline)) void dense1_body(const float *restrict x, int in,
							      const float *restrict wt,
							      const float *restrict bp, int os,
							      float *restrict y)
{
	int o = 0;
	for (; o + 64 <= os; o += 64) {
		v8sf a[8];
#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			a[k] = LD(bp + o + 8 * k);
		for (int i = 0; i < in; i++) {
			const float *w = wt + (size_t)i * os + o;
			v8sf xi = BCAST(x[i]);
#pragma GCC unroll 8
			for (int k = 0; k < 8; k++)
				a[k] += xi * LD(w + 8 * k);
		}
#pragma GCC unroll 8
		for (int k = 0; k < 8; k++)
			*(v8sf *)(y + o + 8 * k) = a[k];
	}
	for (; o + 32 <= os; o += 32) {
		v8sf a[4], b[4] = { { 0 } };
		int i = 0;
#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			a[k] = LD(bp + o + 8 * k);
		for (; i + 2 <= in; i += 2) {
			const float *w = wt + (size_t)i * os + o;
			v8sf x0 = BCAST(x[i]), x1 = BCAST(x[i + 1]);
#pragma GCC unroll 8
			for (int k = 0; k < 4; k++) {
				a[k] += x0 * LD(w + 8 * k);
				b[k] += x1 * LD(w + os + 8 * k);
			}
		}
		for (; i < in; i++) {
			v8sf x0 = BCAST(x[i]);
#pragma GCC unroll 8
			for (int k = 0; k < 4; k++)
				a[k] += x0 * LD(wt + (size_t)i * os + o + 8 * k);
		}
#pragma GCC unroll 8
		for (int k = 0; k < 4; k++)
			*(v8sf *)(y + o + 8 * k) = a[k] + b[k];
	}
	/* os is a multiple of 8, so this tail ends exactly at os. */
	for (; o < os; o += 8) {
		v8sf a[8] = { { 0 } };
		int i = 0;
		a[0] = LD(bp + o);
		for (; i + 8 <= in; i += 8) {
#pragma GCC unroll 8
			for (int k = 0; k < 8; k++) {
				v8sf xk = BCAST(x[i + k]);
				a[k] += xk * LD(wt + (size_t)(i + k) * os + o);
			}
		}
		for (; i < in; i++) {
			v8sf x0 = BCAST(x[i]);
			a[0] += x0 * LD(wt + (size_t)i * os + o);
		}
		*(v8sf *)(y + o) = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
	}
}

/* ---- portable ---- */

static void dense1_c(const float *x, int in, const float *wt, const float *bp, int os, float *y)
{
	dense1_body(x, in, wt, bp, os, y);
}

static void relu_c(float *x, size_t n)
{
	/* NaN > 0 is false, so NaN becomes 0, as _mm256_max_ps(NaN, 0) gives. */
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void leaky_c(float *x, size_t n, float alpha)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
}

static void bias_act_c(float *y, const float *b, size_t rows, int cols, int mode, float alpha)
{
	for (size_t r = 0; r < rows; r++) {
		float *row = y + r * (size_t)cols;
		for (int c = 0; c < cols; c++)
			row[c] += b[c];
		if (mode == 1)
			relu_c(row, (size_t)cols);
		else if (mode == 2)
			leaky_c(row, (size_t)cols, alpha);
	}
}

static void relu_grad_c(const float *y, float *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		g[i] = y[i] > 0.0f ? g[i] : 0.0f;
}

static void leaky_grad_c(const float *y, float *g, size_t n, float alpha)
{
	for (size_t i = 0; i < n; i++)
		g[i] = y[i] >= 0.0f ? g[i] : alpha * g[i];
}

static void adam_c(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2,
		   float step, float rbc2, float eps)
{
	/* eps goes after the bias correction of v (rbc2), where torch.optim.Adam
	 * adds it, so the same lr and eps behave as they do in torch. */
	for (size_t i = 0; i < n; i++) {
		m[i] = b1 * m[i] + (1.0f - b1) * g[i];
		v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
		p[i] -= step * m[i] / (sqrtf(v[i]) * rbc2 + eps);
	}
}

/* ---- AVX2 + FMA ---- */

#define AVX __attribute__((target("avx2,fma")))

AVX static void dense1_avx2(const float *x, int in, const float *wt, const float *bp, int os,
			    float *y)
{
	dense1_body(x, in, wt, bp, os, y);
}

AVX static void relu_avx2(float *x, size_t n)
{
	size_t i = 0;
	__m256 z = _mm256_setzero_ps();
	/* max_ps returns its second operand when either is NaN: NaN -> 0, as
	 * in relu_c. Unaligned loads: activations are plain xmalloc rows. */
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(x + i, _mm256_max_ps(_mm256_loadu_ps(x + i), z));
	relu_c(x + i, n - i);
}

AVX static void leaky_avx2(float *x, size_t n, float alpha)
{
	size_t i = 0;
	__m256 z = _mm256_setzero_ps(), a = _mm256_set1_ps(alpha);
	/* Ordered compare: NaN is not "< 0" and stays NaN, as leaky_c leaves it. */
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(x + i);
		__m256 neg = _mm256_cmp_ps(v, z, _CMP_LT_OQ);
		_mm256_storeu_ps(x + i, _mm256_blendv_ps(v, _mm256_mul_ps(v, a), neg));
	}
	leaky_c(x + i, n - i, alpha);
}

AVX static void bias_act_avx2(float *y, const float *b, size_t rows, int cols, int mode,
			      float alpha)
{
	__m256 z = _mm256_setzero_ps(), a = _mm256_set1_ps(alpha);
	for (size_t r = 0; r < rows; r++) {
		float *row = y + r * (size_t)cols;
		int c = 0;
		for (; c + 8 <= cols; c += 8) {
			__m256 v = _mm256_add_ps(_mm256_loadu_ps(row + c), _mm256_loadu_ps(b + c));
			if (mode == 1)
				v = _mm256_max_ps(v, z);
			else if (mode == 2)
				v = _mm256_blendv_ps(v, _mm256_mul_ps(v, a),
						     _mm256_cmp_ps(v, z, _CMP_LT_OQ));
			_mm256_storeu_ps(row + c, v);
		}
		for (; c < cols; c++) {
			float v = row[c] + b[c];
			row[c] = mode == 1 ? (v > 0.0f ? v : 0.0f) : mode == 2 && v < 0.0f ? alpha * v : v;
		}
	}
}

AVX static void relu_grad_avx2(const float *y, float *g, size_t n)
{
	size_t i = 0;
	__m256 z = _mm256_setzero_ps();
	for (; i + 8 <= n; i += 8) {
		__m256 pos = _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_GT_OQ);
		_mm256_storeu_ps(g + i, _mm256_and_ps(_mm256_loadu_ps(g + i), pos));
	}
	relu_grad_c(y + i, g + i, n - i);
}

AVX static void leaky_grad_avx2(const float *y, float *g, size_t n, float alpha)
{
	size_t i = 0;
	__m256 z = _mm256_setzero_ps(), a = _mm256_set1_ps(alpha);
	for (; i + 8 <= n; i += 8) {
		__m256 gv = _mm256_loadu_ps(g + i);
		__m256 neg = _mm256_cmp_ps(_mm256_loadu_ps(y + i), z, _CMP_LT_OQ);
		_mm256_storeu_ps(g + i, _mm256_blendv_ps(gv, _mm256_mul_ps(gv, a), neg));
	}
	leaky_grad_c(y + i, g + i, n - i, alpha);
}

AVX static void adam_avx2(float *p, const float *g, float *m, float *v, size_t n, float b1,
			  float b2, float step, float rbc2, float eps)
{
	size_t i = 0;
	__m256 B1 = _mm256_set1_ps(b1), B2 = _mm256_set1_ps(b2);
	__m256 C1 = _mm256_set1_ps(1.0f - b1), C2 = _mm256_set1_ps(1.0f - b2);
	__m256 S = _mm256_set1_ps(step), R = _mm256_set1_ps(rbc2), E = _mm256_set1_ps(eps);
	for (; i + 8 <= n; i += 8) {
		__m256 gv = _mm256_loadu_ps(g + i);
		__m256 mv = _mm256_add_ps(_mm256_mul_ps(B1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(C1, gv));
		__m256 vv = _mm256_add_ps(_mm256_mul_ps(B2, _mm256_loadu_ps(v + i)),
					  _mm256_mul_ps(_mm256_mul_ps(C2, gv), gv));
		__m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vv), R), E);
		__m256 upd = _mm256_div_ps(_mm256_mul_ps(S, mv), den);
		_mm256_storeu_ps(m + i, mv);
		_mm256_storeu_ps(v + i, vv);
		_mm256_storeu_ps(p + i, _mm256_sub_ps(_mm256_loadu_ps(p + i), upd));
	}
	adam_c(p + i, g + i, m + i, v + i, n - i, b1, b2, step, rbc2, eps);
}

static const ml_kern kern_c = { "c", dense1_c, relu_c, leaky_c, bias_act_c, relu_grad_c,
				leaky_grad_c, adam_c };
static const ml_kern kern_avx2 = { "avx2", dense1_avx2, relu_avx2, leaky_avx2, bias_act_avx2,
				   relu_grad_avx2, leaky_grad_avx2, adam_avx2 };

const ml_kern *ml_kern_get(void)
{
	/* Racing first calls store the same pointer, so no lock. */
	static const ml_kern *k;
	if (!k) {
		__builtin_cpu_init();
		k = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &kern_avx2 :
										     &kern_c;
	}
	return k;
}
