/* OpenBLAS, loaded on first use (base/dl.h): the pthread build starts its
 * threads when loaded, which every sentinel process would otherwise pay for.
 * Include this instead of <cblas.h>; cblas_sgemm, cblas_sgemv and
 * openblas_set_num_threads below go through the loaded library. A missing
 * libopenblas0 is an installation fault: the first call reports it and
 * aborts (as out of memory does, base/mem.h). */
#ifndef SN_ML_BLAS_H
#define SN_ML_BLAS_H
#include <cblas.h>

void ml_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb,
	      blasint m, blasint n, blasint k, float alpha, const float *a, blasint lda,
	      const float *b, blasint ldb, float beta, float *c, blasint ldc);
void ml_sgemv(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE t, blasint m, blasint n, float alpha,
	      const float *a, blasint lda, const float *x, blasint incx, float beta, float *y,
	      blasint incy);
void ml_blas_set_threads(int n);

#ifndef ML_BLAS_IMPL
#define cblas_sgemm ml_sgemm
#define cblas_sgemv ml_sgemv
#define openblas_set_num_threads ml_blas_set_threads
#endif
#endif
