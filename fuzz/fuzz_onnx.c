/* libFuzzer target: the ONNX loader (protobuf decoding, validation, the
 * lowering to a dense network) and, for small inputs, the interpreter on a
 * zero input of the declared shape. Hostile bytes must be refused with an
 * error, never crash, leak or hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ml/ml_onnx.h"

/* Small models only reach the interpreter, so that its outputs stay small
 * (every constant tensor is bounded by the input size). */
#define RUN_MAX_BYTES 4096

static void try_run(const ml_graph *g)
{
	int n = ml_graph_ninputs(g);
	ml_tensor *in = calloc((size_t)n + 1, sizeof *in);
	ml_tensor *out = calloc((size_t)ml_graph_noutputs(g) + 1, sizeof *out);
	char err[256];
	int ok = 1;
	for (int i = 0; i < n && ok; i++) {
		int64_t dims[ML_MAX_RANK];
		int rank = ml_graph_input_shape(g, i, dims);
		if (rank < 0)
			rank = 0;
		for (int k = 0; k < rank; k++)
			if (dims[k] < 0 || dims[k] > 64)
				dims[k] = dims[k] < 0 ? 2 : 64;
		ok = ml_tensor_alloc(&in[i], rank, dims) == 0 && in[i].n <= 4096;
		if (ok && in[i].n)
			memset(in[i].data, 0, in[i].n * sizeof(float));
	}
	if (ok && ml_graph_run(g, in, out, err, sizeof err) == 0)
		for (int i = 0; i < ml_graph_noutputs(g); i++)
			ml_tensor_release(&out[i]);
	for (int i = 0; i < n; i++)
		ml_tensor_release(&in[i]);
	free(in);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ml_graph *g = NULL;
	ml_mlp m;
	char err[512];
	if (ml_graph_load(data, size, &g, err, sizeof err))
		return 0;
	if (ml_graph_to_mlp(g, &m) == 0)
		ml_mlp_release(&m);
	if (size <= RUN_MAX_BYTES)
		try_run(g);
	ml_graph_free(&g);
	ml_tensor t;
	if (ml_tensor_parse(data, size, &t, err, sizeof err) == 0)
		ml_tensor_release(&t);
	return 0;
}
