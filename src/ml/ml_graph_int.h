/* The loaded graph, shared by the loader (ml_onnx.c) and the interpreter
 * (ml_graph.c).
 *
 * Invariants established by ml_graph_load:
 *  - nodes are in execution order; every node input is a constant, a
 *    runtime input or the output of an earlier node (ONNX's topological
 *    order, checked);
 *  - every value a node reads as data is float32; int64 values exist only
 *    as constants and are read only as Reshape's shape;
 *  - Constant nodes are folded into constant values at load. */
#ifndef SN_ML_GRAPH_INT_H
#define SN_ML_GRAPH_INT_H
#include "ml/ml_onnx.h"

enum ml_op {
	OP_GEMM, OP_MATMUL, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_RELU, OP_LEAKY,
	OP_SIGMOID, OP_TANH, OP_IDENTITY, OP_FLATTEN, OP_RESHAPE,
};

struct ml_value {
	char *name;
	int is_const;
	int is_int;       /* int64 constant (ints/nints) */
	ml_tensor t;      /* float constant */
	int64_t *ints;
	size_t nints;
	int slot;         /* runtime slot, -1 for constants */
};

struct ml_node {
	enum ml_op op;
	char *name;       /* for messages: node name or op type */
	int in[3];        /* value indices, -1 when absent */
	int nin;
	int out;
	float alpha, beta;
	int trans_a, trans_b;
	int axis;
	int allowzero;
};

struct ml_graph {
	struct ml_value *vals;
	int nvals;
	struct ml_node *nodes;
	int nnodes;
	int *inputs, ninputs;   /* runtime inputs (not initializers) */
	int *outputs, noutputs;
	int64_t (*in_dims)[ML_MAX_RANK];
	int *in_rank;           /* -1: unknown */
	int nslots;             /* runtime values: inputs + node outputs */
};

const char *ml_op_name(enum ml_op op);
#endif
