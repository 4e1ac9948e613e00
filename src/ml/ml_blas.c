#define ML_BLAS_IMPL
#include <stdio.h>
#include <stdlib.h>
#include "base/dl.h"
#include "ml/ml_blas.h"

static struct {
	__typeof__(&cblas_sgemm) sgemm;
	__typeof__(&openblas_set_num_threads) set_threads;
} blas;
static const char *const names[] = { "cblas_sgemm", "openblas_set_num_threads" };
static sn_dl_lib lib = SN_DL_LIB("libopenblas.so.0", "libopenblas0", names, &blas);

void ml_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
	      blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
	      const float *b, blasint ldb, float beta, float *c, blasint ldc)
{
	sn_dl_need(&lib);
	blas.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ml_blas_set_threads(int n)
{
	sn_dl_need(&lib);
	blas.set_threads(n);
}
