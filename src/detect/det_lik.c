/* The anomaly likelihood. See det_int.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "detect/det_int.h"

/* A floor on the Gaussian's variance: raw scores live in [0, 1), and a run
 * of identical scores must not make the next tiny wiggle "impossible". */
#define VAR_FLOOR 3e-4

void det_lik_init(det_lik *l, int nlong, int nshort)
{
	memset(l, 0, sizeof *l);
	l->nlong = nlong;
	l->nshort = nshort;
	l->lng = xcalloc((size_t)nlong, sizeof(float));
	l->shrt = xcalloc((size_t)nshort, sizeof(float));
}

void det_lik_release(det_lik *l)
{
	free(l->lng);
	free(l->shrt);
	memset(l, 0, sizeof *l);
}

size_t det_lik_memory(const det_lik *l)
{
	return ((size_t)l->nlong + (size_t)l->nshort) * sizeof(float);
}

static void resum(det_lik *l)
{
	l->sum = l->sumsq = 0;
	for (int i = 0; i < l->nl; i++) {
		l->sum += l->lng[i];
		l->sumsq += (double)l->lng[i] * l->lng[i];
	}
}

double det_lik_push(det_lik *l, double raw)
{
	if (l->ns == l->nshort)
		l->ssum -= l->shrt[l->ps];
	else
		l->ns++;
	l->shrt[l->ps] = (float)raw;
	l->ssum += (float)raw;
	l->ps = (l->ps + 1) % l->nshort;
	double m = l->ssum / l->ns, tail = 0.5;
	if (l->nl >= DET_LIK_MIN) {
		double mu = l->sum / l->nl;
		double var = fmax(l->sumsq / l->nl - mu * mu, VAR_FLOOR);
		tail = 0.5 * erfc((m - mu) / sqrt(2 * var));
	}
	if (l->nl == l->nlong) {
		double old = l->lng[l->pl];
		l->sum -= old;
		l->sumsq -= old * old;
	} else {
		l->nl++;
	}
	l->lng[l->pl] = (float)m;
	l->sum += (float)m;
	l->sumsq += (double)(float)m * (float)m;
	l->pl = (l->pl + 1) % l->nlong;
	if (++l->pushes % l->nlong == 0)
		resum(l);
	return tail;
}

double det_lik_score(double tail, double digits)
{
	/* HTM's log likelihood, log(1 - likelihood + 1e-10) / log(1e-10), with
	 * the floor 10^-digits rather than 1e-10. */
	double s = log10(tail + pow(10, -digits)) / -digits;
	return s < 0 ? 0 : s > 1 ? 1 : s;
}
