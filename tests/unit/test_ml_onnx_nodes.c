/* The ONNX project's own operator test cases (Debian libonnx-testdata):
 * every case whose operators we support and whose tensors are float32 must
 * reproduce output_*.pb from input_*.pb; every other case must be refused
 * at load with an error naming the operator or the data type.
 *
 * Reshape's shape is a graph input in those cases; since the engine
 * supports constant shapes only, the test binds int64 inputs as
 * initializers from the case's data before loading. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "onnx.pb-c.h"
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml_onnx.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"

static const char *const supported[] = { "Gemm",    "MatMul",   "Add",	    "Sub",
					 "Mul",	    "Div",	"Relu",	    "LeakyRelu",
					 "Sigmoid", "Tanh",	"Identity", "Flatten",
					 "Reshape", "Constant", NULL };

static int is_supported(const char *op)
{
	for (int i = 0; supported[i]; i++)
		if (strcmp(op, supported[i]) == 0)
			return 1;
	return 0;
}

static int read_all(const char *path, char **data, size_t *len)
{
	return sn_read_file(path, 64u << 20, data, len);
}

/* Classifies a case by its own protobuf: 1 = supported float32 case. */
static int float_case(const Onnx__ModelProto *m)
{
	const Onnx__GraphProto *g = m->graph;
	for (size_t i = 0; i < g->n_node; i++)
		if (!is_supported(g->node[i]->op_type) ||
		    (g->node[i]->domain && *g->node[i]->domain))
			return 0;
	for (size_t i = 0; i < g->n_input + g->n_output; i++) {
		const Onnx__ValueInfoProto *v = i < g->n_input ? g->input[i] : g->output[i - g->n_input];
		const Onnx__TypeProto *t = v->type;
		if (!t || t->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
			return 0;
		int et = t->tensor_type->elem_type;
		if (et == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 && i < g->n_input) {
			/* allowed only as Reshape's shape */
			for (size_t k = 0; k < g->n_node; k++)
				if (strcmp(g->node[k]->op_type, "Reshape") != 0 ||
				    g->node[k]->n_input < 2 ||
				    strcmp(g->node[k]->input[1], v->name) != 0)
					return 0;
			continue;
		}
		if (et != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
			return 0;
	}
	return 1;
}

/* Binds int64 graph inputs as initializers from input_k.pb; repacks. */
static int bind_int_inputs(Onnx__ModelProto *m, const char *set, uint8_t **out, size_t *len,
			   Onnx__TensorProto **bound, size_t *nbound)
{
	Onnx__GraphProto *g = m->graph;
	*nbound = 0;
	for (size_t i = 0; i < g->n_input; i++) {
		const Onnx__TypeProto *t = g->input[i]->type;
		if (t->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
			continue;
		char path[800], *data;
		size_t dlen;
		snprintf(path, sizeof path, "%s/input_%zu.pb", set, i);
		if (read_all(path, &data, &dlen))
			return -1;
		Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, dlen, (uint8_t *)data);
		free(data);
		if (!tp)
			return -1;
		free(tp->name);
		tp->name = xstrdup(g->input[i]->name);
		bound[(*nbound)++] = tp;
	}
	Onnx__TensorProto **saved = g->initializer;
	size_t nsaved = g->n_initializer;
	Onnx__TensorProto **all = xcalloc(nsaved + *nbound + 1, sizeof *all);
	if (nsaved)
		memcpy(all, saved, nsaved * sizeof *all);
	if (*nbound)
		memcpy(all + nsaved, bound, *nbound * sizeof *all);
	g->initializer = all;
	g->n_initializer = nsaved + *nbound;
	*len = onnx__model_proto__get_packed_size(m);
	*out = xmalloc(*len);
	onnx__model_proto__pack(m, *out);
	g->initializer = saved;
	g->n_initializer = nsaved;
	free(all);
	return 0;
}

static int close_enough(const ml_tensor *got, const ml_tensor *want)
{
	if (got->ndim != want->ndim || got->n != want->n)
		return 0;
	for (int i = 0; i < got->ndim; i++)
		if (got->dims[i] != want->dims[i])
			return 0;
	for (size_t i = 0; i < got->n; i++)
		if (fabsf(got->data[i] - want->data[i]) > 1e-6f + 1e-4f * fabsf(want->data[i]))
			return 0;
	return 1;
}

/* Runs every test_data_set_* of a loaded case; 0 when all match. */
static int run_sets(const char *dir, Onnx__ModelProto *m, int *nsets)
{
	char path[600];
	*nsets = 0;
	for (int s = 0;; s++) {
		snprintf(path, sizeof path, "%s/test_data_set_%d", dir, s);
		DIR *d = opendir(path);
		if (!d)
			break;
		closedir(d);
		uint8_t *bytes = NULL;
		size_t blen, nbound;
		Onnx__TensorProto *bound[8];
		char err[512];
		ml_graph *g = NULL;
		if (bind_int_inputs(m, path, &bytes, &blen, bound, &nbound))
			return -1;
		for (size_t i = 0; i < nbound; i++)
			onnx__tensor_proto__free_unpacked(bound[i], NULL);
		int rc = ml_graph_load(bytes, blen, &g, err, sizeof err);
		free(bytes);
		if (rc) {
			print_error("%s: load: %s\n", dir, err);
			return -1;
		}
		int nin = ml_graph_ninputs(g), nout = ml_graph_noutputs(g);
		ml_tensor *in = xcalloc((size_t)nin + 1, sizeof *in);
		ml_tensor *out = xcalloc((size_t)nout, sizeof *out);
		/* runtime inputs keep their positions among the float inputs */
		int k = 0;
		for (size_t i = 0; i < m->graph->n_input && !rc; i++) {
			if (m->graph->input[i]->type->tensor_type->elem_type != 1)
				continue;
			char ip[700], *data;
			size_t dlen;
			snprintf(ip, sizeof ip, "%s/input_%zu.pb", path, i);
			rc = read_all(ip, &data, &dlen) || ml_tensor_parse(data, dlen, &in[k++], err, sizeof err);
			free(data);
		}
		if (!rc)
			rc = ml_graph_run(g, in, out, err, sizeof err);
		for (int o = 0; o < nout && !rc; o++) {
			char op[700], *data;
			size_t dlen;
			ml_tensor want = { 0 };
			snprintf(op, sizeof op, "%s/output_%d.pb", path, o);
			rc = read_all(op, &data, &dlen) || ml_tensor_parse(data, dlen, &want, err, sizeof err);
			free(data);
			if (!rc && !close_enough(&out[o], &want)) {
				snprintf(err, sizeof err, "output %d differs", o);
				rc = -1;
			}
			ml_tensor_release(&want);
		}
		if (rc)
			print_error("%s/test_data_set_%d: %s\n", dir, s, err);
		for (int i = 0; i < nin; i++)
			ml_tensor_release(&in[i]);
		for (int o = 0; o < nout; o++)
			ml_tensor_release(&out[o]);
		free(in);
		free(out);
		ml_graph_free(&g);
		if (rc)
			return -1;
		(*nsets)++;
	}
	return *nsets ? 0 : -1;
}

/* A refusal must name an operator of the model or a non-float type. */
static int refusal_names_cause(const Onnx__ModelProto *m, const char *err)
{
	static const char *const types[] = { "UINT8",  "INT8",	 "UINT16",  "INT16",	"INT32",
					     "INT64",  "STRING", "BOOL",    "FLOAT16",	"DOUBLE",
					     "UINT32", "UINT64", "COMPLEX", "BFLOAT16", "not a tensor",
					     "UNDEFINED", NULL };
	if (!strstr(err, "not supported"))
		return 0;
	for (size_t i = 0; i < m->graph->n_node; i++)
		if (!is_supported(m->graph->node[i]->op_type) &&
		    strstr(err, m->graph->node[i]->op_type))
			return 1;
	for (int i = 0; types[i]; i++)
		if (strstr(err, types[i]))
			return 1;
	return strstr(err, "domain") != NULL;
}

static void test_node_cases(void **state)
{
	(void)state;
	DIR *d = opendir(NODE_DIR);
	assert_non_null(d); /* scripts/deps.sh installs libonnx-testdata */
	int passed = 0, refused = 0, bad = 0, total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "test_", 5) != 0)
			continue;
		char dir[512], path[600], *data = NULL, err[512];
		size_t len;
		snprintf(dir, sizeof dir, "%s/%s", NODE_DIR, de->d_name);
		snprintf(path, sizeof path, "%s/model.onnx", dir);
		if (read_all(path, &data, &len))
			continue;
		total++;
		Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (uint8_t *)data);
		assert_non_null(m);
		if (float_case(m)) {
			int nsets;
			if (run_sets(dir, m, &nsets) == 0)
				passed++;
			else
				bad++;
		} else {
			ml_graph *g = NULL;
			int rc = ml_graph_load(data, len, &g, err, sizeof err);
			if (rc == 0 || !refusal_names_cause(m, err)) {
				print_error("%s: expected a refusal naming the cause, got: %s\n", dir,
					    rc ? err : "(loaded)");
				bad++;
			} else {
				refused++;
			}
			ml_graph_free(&g);
		}
		onnx__model_proto__free_unpacked(m, NULL);
		free(data);
	}
	closedir(d);
	print_message("node cases: %d total, %d supported float32 cases passed, %d refused with a named cause, %d wrong\n",
		      total, passed, refused, bad);
	assert_int_equal(bad, 0);
	assert_true(passed >= 54); /* the float32 cases of our operators in ONNX 1.12 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_cases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
