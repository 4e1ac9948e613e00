/* Sentinel's side of bench/ml.sh: inference (per-sample path at batch 1,
 * sgemm at batch 1024) and training (Adam, batch 256) throughput of a
 * ReLU autoencoder, one thread. Prints "name value" lines (samples/s).
 * Also writes a model directory for the engine benchmark.
 * Usage: ml_bench SIZES(e.g. 32,16,8,16,32) SECONDS [MODEL_DIR] */
#include "ml/ml_blas.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml_nn.h"
#include "ml/ml_trainer.h"

static double now(void)
{
	return (double)sn_mono_ns() / 1e9;
}

int main(int argc, char **argv)
{
	int sizes[16], n = 0;
	if (argc < 3)
		return 2;
	for (char *p = argv[1]; *p && n < 16;) {
		sizes[n++] = (int)strtol(p, &p, 10);
		if (*p == ',')
			p++;
	}
	double secs = atof(argv[2]);
	openblas_set_num_threads(1);
	ml_mlp m;
	ml_fwd f;
	if (ml_mlp_init(&m, sizes, n, ML_ACT_RELU, 1))
		return 1;
	int d = sizes[0];
	size_t rows = 1024;
	float *x = xmalloc(rows * d * sizeof(float)), *y = xmalloc(rows * d * sizeof(float));
	ml_rng r;
	ml_rng_seed(&r, 2);
	for (size_t i = 0; i < rows * d; i++)
		x[i] = (float)(ml_rng_uniform(&r) * 2 - 1);
	ml_fwd_init(&f, &m, rows);
	volatile float sink = 0;
	ml_train *tr = ml_train_new(&m, 256, 1e-3f);
	/* Each measurement runs chunks of about 10 ms for SECS seconds and
	 * reports the best chunk: other processes on a shared machine only
	 * ever slow a chunk down. */
	for (int what = 0; what < 3; what++) {
		static const char *const names[] = { "infer_b1", "infer_b1024", "train_b256" };
		double best = 0, t0 = now();
		long reps = 1;
		while (now() - t0 < secs) {
			double c0 = now();
			long done = 0;
			for (long k = 0; k < reps; k++) {
				if (what == 0) {
					ml_mlp_forward1(&m, &f, x + (size_t)(k % rows) * d, y);
					done += 1;
				} else if (what == 1) {
					ml_mlp_forward(&m, &f, x, rows, y);
					done += (long)rows;
				} else {
					sink += (float)ml_train_step(tr, &m, x + (size_t)(k % 4) * 256 * d, 256);
					done += 256;
				}
				sink += y[0];
			}
			double dt = now() - c0;
			if (dt < 0.005)
				reps *= 2;
			else if ((double)done / dt > best)
				best = (double)done / dt;
		}
		printf("%s %.0f\n", names[what], best);
	}
	ml_train_free(&tr);
	ml_mlp_sync(&m);

	if (argc > 3) { /* a model directory for the engine: mean 0, std 1 */
		ml_config c = { .dim = d, .threshold = 1.0, .quantile = 0.99, .nsizes = n };
		char err[256];
		c.features = xcalloc((size_t)d, sizeof(char *));
		c.mean = xcalloc((size_t)d, sizeof(float));
		c.std = xmalloc((size_t)d * sizeof(float));
		c.sizes = xmalloc((size_t)n * sizeof(int));
		memcpy(c.sizes, sizes, (size_t)n * sizeof(int));
		for (int j = 0; j < d; j++) {
			c.features[j] = xasprintf("x%d", j);
			c.std[j] = 1;
		}
		if (ml_save(argv[3], &m, &c, err, sizeof err))
			fprintf(stderr, "ml_bench: %s\n", err);
		ml_config_release(&c);
	}
	ml_fwd_release(&f);
	ml_mlp_release(&m);
	free(x);
	free(y);
	return sink == 12345.0f;
}
