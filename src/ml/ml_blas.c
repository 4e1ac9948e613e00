#define ML_BLAS_IMPL
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include "base/dl.h"
#include "ml/ml_blas.h"

static struct {
	__typeof__(&cblas_sgemm) sgemm;
	__typeof__(&openblas_set_num_threads) set_threads;
} blas;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	static const char *const names[] = { "cblas_sgemm", "openblas_set_num_threads" };
	char err[256];
	if (sn_dl_load("libopenblas.so.0", names, (void **)&blas, 2, err, sizeof err)) {
		fprintf(stderr, "sentinel: %s (Debian package libopenblas0)\n", err);
		abort();
	}
}

void ml_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
	      blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
	      const float *b, blasint ldb, float beta, float *c, blasint ldc)
{
	pthread_once(&once, load);
	blas.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ml_blas_set_threads(int n)
{
	pthread_once(&once, load);
	blas.set_threads(n);
}
