/* Internals shared by det.c and det_lik.c. */
#ifndef SN_DET_INT_H
#define SN_DET_INT_H
#include <stddef.h>

/* The anomaly likelihood of HTM: short-term means of raw scores (the last
 * nshort) against a Gaussian of the last nlong such means.
 * Invariants: sum/sumsq are the sums over long[0..nl) (recomputed every
 * nlong pushes so rounding cannot drift); 0 <= nl <= nlong. */
typedef struct det_lik {
	int nlong, nshort;
	float *lng, *shrt;
	int nl, pl, ns, ps;
	double sum, sumsq, ssum;
	int pushes;
} det_lik;

#define DET_LIK_MIN 16 /* means needed before a likelihood is computed */

void det_lik_init(det_lik *l, int nlong, int nshort);
void det_lik_release(det_lik *l);
size_t det_lik_memory(const det_lik *l);
/* Adds raw and returns the tail probability of the new short-term mean
 * under the Gaussian of the previous ones (0.5 while fewer than
 * DET_LIK_MIN are known). */
double det_lik_push(det_lik *l, double raw);
/* The log-scaled score in [0, 1] of a tail probability: 1 at
 * 10^-digits, 0.5 at its square root. */
double det_lik_score(double tail, double digits);
#endif
