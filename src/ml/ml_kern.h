/* Vector kernels behind ml_nn.c, chosen once per process: AVX2+FMA where
 * the CPU has them, portable C otherwise (a table of functions, as the
 * style guide's back-ends). Internal to src/ml.
 * Contract of dense1: y[0..os) = bp + x[0..in) . wt with wt [in][os];
 * wt, bp and y 32-byte aligned, os a multiple of 8. */
#ifndef SN_ML_KERN_H
#define SN_ML_KERN_H
#include <stddef.h>

typedef struct ml_kern {
	const char *name;
	void (*dense1)(const float *x, int in, const float *wt, const float *bp, int os,
		       float *y);
	/* x = max(x, 0) / (x >= 0 ? x : alpha x), in place */
	void (*relu)(float *x, size_t n);
	void (*leaky)(float *x, size_t n, float alpha);
	/* y[r][c] += b[c] for rows x cols, then relu (mode 1), leaky (2) or
	 * nothing (0) */
	void (*bias_act)(float *y, const float *b, size_t rows, int cols, int mode, float alpha);
	/* g *= act'(z) given y = act(z) */
	void (*relu_grad)(const float *y, float *g, size_t n);
	void (*leaky_grad)(const float *y, float *g, size_t n, float alpha);
	/* one Adam update of p[0..n) with moments m, v (torch's formulation) */
	void (*adam)(float *p, const float *g, float *m, float *v, size_t n, float b1, float b2,
		     float step, float rbc2, float eps);
} ml_kern;

const ml_kern *ml_kern_get(void);
#endif
