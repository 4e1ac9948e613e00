/* Keeps ml_blas.h from renaming cblas_* to ml_*, so the real prototypes
 * below type the function pointers. */
#define ML_BLAS_IMPL
#include <stdio.h>
#include <stdlib.h>
#include "base/dl.h"
#include "ml/ml_blas.h"

/* names[] lists the symbols in the order of these fields: sn_dl fills the
 * struct as an array of pointers. */
static struct {
	__typeof__(&cblas_sgemm) sgemm;
	__typeof__(&openblas_set_num_threads) set_threads;
	__typeof__(&cblas_sgemv) sgemv;
} blas;
static const char *const names[] = { "cblas_sgemm", "openblas_set_num_threads", "cblas_sgemv" };
static sn_dl_lib lib = SN_DL_LIB("libopenblas.so.0", "libopenblas0", names, &blas);

void ml_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
	      blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
	      const float *b, blasint ldb, float beta, float *c, blasint ldc)
{
	/* sn_dl_need aborts rather than return: a scorer has no error path per
	 * matrix product, and a missing libopenblas0 is an installation fault. */
	sn_dl_need(&lib);
	blas.sgemm(order, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void ml_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE t, blasint m, blasint n, float alpha,
	      const float *a, blasint lda, const float *x, blasint incx, float beta, float *y,
	      blasint incy)
{
	sn_dl_need(&lib);
	blas.sgemv(order, t, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

void ml_blas_set_threads(int n)
{
	sn_dl_need(&lib);
	blas.set_threads(n);
}
