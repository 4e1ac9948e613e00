/* ONNX value lookup by name: long chains resolve (and run) correctly,
 * names defined twice are still refused, undefined inputs named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "onnx.pb-c.h"
#include "base/mem.h"
#include "ml/ml_onnx.h"

/* A chain x -> Relu -> ... -> Relu -> y of n nodes; dup: node n/2 defines
 * the output of node n/2 - 1 again. Returns the serialised model. */
static uint8_t *chain(int n, int dup, size_t *len)
{
	Onnx__ModelProto m = ONNX__MODEL_PROTO__INIT;
	Onnx__GraphProto g = ONNX__GRAPH_PROTO__INIT;
	Onnx__OperatorSetIdProto ops = ONNX__OPERATOR_SET_ID_PROTO__INIT;
	Onnx__OperatorSetIdProto *opsp = &ops;
	ops.has_version = 1;
	ops.version = 13;
	m.has_ir_version = 1;
	m.ir_version = 7;
	m.n_opset_import = 1;
	m.opset_import = &opsp;
	m.graph = &g;
	Onnx__TensorShapeProto__Dimension d0 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT,
					   d1 = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
	d0.value_case = d1.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	d0.dim_value = 1;
	d1.dim_value = 3;
	Onnx__TensorShapeProto__Dimension *dims[] = { &d0, &d1 };
	Onnx__TensorShapeProto shape = ONNX__TENSOR_SHAPE_PROTO__INIT;
	shape.n_dim = 2;
	shape.dim = dims;
	Onnx__TypeProto__Tensor tt = ONNX__TYPE_PROTO__TENSOR__INIT;
	tt.has_elem_type = 1;
	tt.elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt.shape = &shape;
	Onnx__TypeProto tp = ONNX__TYPE_PROTO__INIT;
	tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp.tensor_type = &tt;
	Onnx__ValueInfoProto in = ONNX__VALUE_INFO_PROTO__INIT, out = ONNX__VALUE_INFO_PROTO__INIT;
	in.name = "v0";
	in.type = &tp;
	char last[32];
	snprintf(last, sizeof last, "v%d", n);
	out.name = last;
	out.type = &tp;
	Onnx__ValueInfoProto *inp = &in, *outp = &out;
	g.n_input = 1;
	g.input = &inp;
	g.n_output = 1;
	g.output = &outp;
	Onnx__NodeProto *nodes = xcalloc((size_t)n, sizeof *nodes);
	Onnx__NodeProto **np = xcalloc((size_t)n, sizeof *np);
	char **names = xcalloc((size_t)n + 1, sizeof *names);
	for (int i = 0; i <= n; i++)
		names[i] = xasprintf("v%d", i);
	for (int i = 0; i < n; i++) {
		Onnx__NodeProto z = ONNX__NODE_PROTO__INIT;
		nodes[i] = z;
		nodes[i].op_type = "Relu";
		nodes[i].n_input = 1;
		nodes[i].input = &names[i];
		nodes[i].n_output = 1;
		nodes[i].output = &names[dup && i == n / 2 ? i : i + 1];
		np[i] = &nodes[i];
	}
	g.n_node = (size_t)n;
	g.node = np;
	*len = onnx__model_proto__get_packed_size(&m);
	uint8_t *buf = xmalloc(*len);
	onnx__model_proto__pack(&m, buf);
	for (int i = 0; i <= n; i++)
		free(names[i]);
	free(names);
	free(np);
	free(nodes);
	return buf;
}

static void test_long_chain(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = chain(20000, 0, &len);
	ml_graph *g = NULL;
	char err[256] = "";
	assert_int_equal(ml_graph_load(buf, len, &g, err, sizeof err), 0);
	ml_tensor in = { 0 }, out = { 0 };
	int64_t dims[2] = { 1, 3 };
	assert_int_equal(ml_tensor_alloc(&in, 2, dims), 0);
	in.data[0] = -1, in.data[1] = 0.5f, in.data[2] = 2;
	assert_int_equal(ml_graph_run(g, &in, &out, err, sizeof err), 0);
	assert_true(out.data[0] == 0 && out.data[1] == 0.5f && out.data[2] == 2);
	ml_tensor_release(&in);
	ml_tensor_release(&out);
	ml_graph_free(&g);
	free(buf);
}

static void test_defined_twice(void **state)
{
	(void)state;
	size_t len;
	uint8_t *buf = chain(300, 1, &len);
	ml_graph *g = NULL;
	char err[256] = "";
	assert_int_equal(ml_graph_load(buf, len, &g, err, sizeof err), -22);
	assert_non_null(strstr(err, "defined twice"));
	assert_null(g);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_defined_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
