/* ONNX models: a loader that turns an ONNX file into a small graph of the
 * operators torch.onnx.export emits for MLP autoencoders, an interpreter
 * for that graph, its lowering to a dense network, and the writer for our
 * own models. Internal to src/ml.
 *
 * Supported: Gemm, MatMul, Add, Sub, Mul, Div, Relu, LeakyRelu, Sigmoid,
 * Tanh, Identity, Flatten, Reshape (constant shape), Constant; float32
 * tensors (int64 only as a constant Reshape shape). Everything else is
 * refused at load with a message naming the operator, type or tensor. */
#ifndef SN_ML_ONNX_H
#define SN_ML_ONNX_H
#include <stddef.h>
#include <stdint.h>
#include "ml/ml_nn.h"

#define ML_ONNX_MAX_BYTES (256u << 20)
#define ML_MAX_RANK 8
#define ML_MAX_ELEMS (1u << 28)

typedef struct ml_tensor {
	int ndim;
	int64_t dims[ML_MAX_RANK];
	size_t n;    /* product of dims */
	float *data; /* owned */
} ml_tensor;

void ml_tensor_release(ml_tensor *t);
/* Allocates data for the given shape. -EINVAL when too large. */
int ml_tensor_alloc(ml_tensor *t, int ndim, const int64_t *dims);

typedef struct ml_graph ml_graph;

/* Parses and validates an ONNX model. 0 or -EINVAL with a message. */
int ml_graph_load(const void *data, size_t len, ml_graph **out, char *err, size_t errlen);
void ml_graph_free(ml_graph **g);

int ml_graph_ninputs(const ml_graph *g);
int ml_graph_noutputs(const ml_graph *g);
/* Declared shape of runtime input i: dims[k] = -1 where symbolic/unknown.
 * Returns the rank, or -1 when the declaration has no shape. */
int ml_graph_input_shape(const ml_graph *g, int i, int64_t *dims);

/* Runs the graph: in[ninputs] -> out[noutputs] (the caller releases the
 * outputs). Shape errors name the node. 0 or -EINVAL. */
int ml_graph_run(const ml_graph *g, const ml_tensor *in, ml_tensor *out, char *err,
		 size_t errlen);

/* Lowers a chain input -> (Gemm | MatMul [+ Add]) -> activation -> ... ->
 * output to a dense network. 0, or -ENOTSUP when the graph is not such a
 * chain (the interpreter runs it instead). */
int ml_graph_to_mlp(const ml_graph *g, ml_mlp *out);

/* Parses a serialised TensorProto (the node tests' input_*.pb). */
int ml_tensor_parse(const void *data, size_t len, ml_tensor *out, char *err, size_t errlen);

/* Serialises a dense network as an ONNX model (IR 7, opset 13): input
 * "input" [batch, in], Gemm(transB=1) + activation per layer, output
 * "output" [batch, out]. Deterministic bytes; the caller frees *out. */
int ml_onnx_write_mlp(const ml_mlp *m, uint8_t **out, size_t *len);
#endif
