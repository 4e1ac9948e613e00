/* Serialises a dense network as an ONNX model (see ml_onnx.h). The
 * messages live on the stack and in small arrays; protobuf-c packs them
 * in field order, so equal networks give equal bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "onnx.pb-c.h"
#include "base/mem.h"
#include "ml/ml_onnx.h"
#include "version.h"

/* IR 7 / opset 13 (ONNX 1.8, 2020): old enough for any maintained runtime
 * to read, and inside the 6..20 our own loader takes. */
#define IR_VERSION 7
#define OPSET 13

struct wl { /* per layer */
	Onnx__TensorProto w, b;
	int64_t wdims[2], bdims[1];
	char wname[32], bname[32], gname[32], aname[32], hname[32], oname[32];
	Onnx__NodeProto gemm, act;
	char *gin[3], *gout[1], *ain[1], *aout[1];
	Onnx__AttributeProto trans_b, alpha;
	Onnx__AttributeProto *gattrs[1], *aattrs[1];
};

static void value_info(Onnx__ValueInfoProto *vi, Onnx__TypeProto *tp, Onnx__TypeProto__Tensor *tt,
		       Onnx__TensorShapeProto *sp, Onnx__TensorShapeProto__Dimension *d,
		       Onnx__TensorShapeProto__Dimension **dp, const char *name, int width)
{
	onnx__value_info_proto__init(vi);
	onnx__type_proto__init(tp);
	onnx__type_proto__tensor__init(tt);
	onnx__tensor_shape_proto__init(sp);
	onnx__tensor_shape_proto__dimension__init(&d[0]);
	onnx__tensor_shape_proto__dimension__init(&d[1]);
	d[0].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
	/* A named axis: runtimes (and ml_model's batched check) accept any batch. */
	d[0].dim_param = "batch";
	d[1].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	d[1].dim_value = width;
	dp[0] = &d[0];
	dp[1] = &d[1];
	sp->n_dim = 2;
	sp->dim = dp;
	tt->has_elem_type = 1;
	tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	tt->shape = sp;
	tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	tp->tensor_type = tt;
	vi->name = (char *)name;
	vi->type = tp;
}

static void tensor(Onnx__TensorProto *t, char *name, int64_t *dims, int nd, const float *data,
		   size_t n)
{
	onnx__tensor_proto__init(t);
	t->name = name;
	t->n_dims = (size_t)nd;
	t->dims = dims;
	t->has_data_type = 1;
	t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
	/* Little-endian raw bytes, borrowed rather than copied: data must live
	 * until the model is packed. */
	t->has_raw_data = 1;
	t->raw_data.len = n * sizeof(float);
	t->raw_data.data = (uint8_t *)data;
}

static const char *act_op(enum ml_act a)
{
	switch (a) {
	case ML_ACT_RELU:
		return "Relu";
	case ML_ACT_LEAKY:
		return "LeakyRelu";
	case ML_ACT_SIGMOID:
		return "Sigmoid";
	case ML_ACT_TANH:
		return "Tanh";
	default:
		return NULL;
	}
}

/* Fills layer k's tensors and nodes; *prev is the name of its input and
 * becomes the name of its output. Returns the number of nodes added. */
static int layer(struct wl *L, const ml_layer *l, int k, int last, const char **prev,
		 Onnx__TensorProto **inits, Onnx__NodeProto **nodes)
{
	int nn = 0;
	const char *op = act_op(l->act);
	snprintf(L->wname, sizeof L->wname, "layer%d.weight", k);
	snprintf(L->bname, sizeof L->bname, "layer%d.bias", k);
	snprintf(L->gname, sizeof L->gname, "Gemm_%d", k);
	snprintf(L->aname, sizeof L->aname, "%s_%d", op ? op : "Act", k);
	snprintf(L->hname, sizeof L->hname, "linear%d", k);
	snprintf(L->oname, sizeof L->oname, last ? "output" : "hidden%d", k);
	/* [out][in] with transB=1, torch.nn.Linear's layout: ml_graph_to_mlp
	 * reads it back without a transpose. */
	L->wdims[0] = l->out;
	L->wdims[1] = l->in;
	L->bdims[0] = l->out;
	tensor(&L->w, L->wname, L->wdims, 2, l->w, (size_t)l->in * l->out);
	tensor(&L->b, L->bname, L->bdims, 1, l->b, (size_t)l->out);
	inits[0] = &L->w;
	inits[1] = &L->b;

	onnx__attribute_proto__init(&L->trans_b);
	L->trans_b.name = "transB";
	L->trans_b.has_type = 1;
	L->trans_b.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	L->trans_b.has_i = 1;
	L->trans_b.i = 1;
	L->gattrs[0] = &L->trans_b;
	onnx__node_proto__init(&L->gemm);
	L->gin[0] = (char *)*prev;
	L->gin[1] = L->wname;
	L->gin[2] = L->bname;
	/* Without an activation the Gemm writes the layer's output itself. */
	L->gout[0] = op ? L->hname : L->oname;
	L->gemm.n_input = 3;
	L->gemm.input = L->gin;
	L->gemm.n_output = 1;
	L->gemm.output = L->gout;
	L->gemm.name = L->gname;
	L->gemm.op_type = "Gemm";
	L->gemm.n_attribute = 1;
	L->gemm.attribute = L->gattrs;
	nodes[nn++] = &L->gemm;
	if (op) {
		onnx__node_proto__init(&L->act);
		L->ain[0] = L->hname;
		L->aout[0] = L->oname;
		L->act.n_input = 1;
		L->act.input = L->ain;
		L->act.n_output = 1;
		L->act.output = L->aout;
		L->act.name = L->aname;
		L->act.op_type = (char *)op;
		if (l->act == ML_ACT_LEAKY) {
			onnx__attribute_proto__init(&L->alpha);
			L->alpha.name = "alpha";
			L->alpha.has_type = 1;
			L->alpha.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
			L->alpha.has_f = 1;
			L->alpha.f = l->alpha;
			L->aattrs[0] = &L->alpha;
			L->act.n_attribute = 1;
			L->act.attribute = L->aattrs;
		}
		nodes[nn++] = &L->act;
	}
	*prev = L->oname;
	return nn;
}

int ml_onnx_write_mlp(const ml_mlp *m, uint8_t **out, size_t *len)
{
	Onnx__ModelProto model;
	Onnx__GraphProto graph;
	Onnx__OperatorSetIdProto opset, *opsets[1] = { &opset };
	Onnx__ValueInfoProto vin, vout, *vins[1] = { &vin }, *vouts[1] = { &vout };
	Onnx__TypeProto tin, tout;
	Onnx__TypeProto__Tensor ttin, ttout;
	Onnx__TensorShapeProto sin, sout;
	Onnx__TensorShapeProto__Dimension din[2], dout[2], *dpin[2], *dpout[2];
	int L = m->nlayers, nn = 0;
	if (L == 0)
		return -EINVAL;
	struct wl *wl = xcalloc((size_t)L, sizeof *wl);
	Onnx__TensorProto **inits = xcalloc((size_t)L * 2, sizeof *inits);
	/* At most two nodes per layer: Gemm and its activation. */
	Onnx__NodeProto **nodes = xcalloc((size_t)L * 2, sizeof *nodes);
	const char *prev = "input";
	for (int k = 0; k < L; k++)
		nn += layer(&wl[k], &m->layers[k], k, k == L - 1, &prev, inits + 2 * k, nodes + nn);

	value_info(&vin, &tin, &ttin, &sin, din, dpin, "input", ml_mlp_in(m));
	value_info(&vout, &tout, &ttout, &sout, dout, dpout, "output", ml_mlp_out(m));
	onnx__graph_proto__init(&graph);
	graph.name = "sentinel_autoencoder";
	graph.n_node = (size_t)nn;
	graph.node = nodes;
	graph.n_initializer = (size_t)L * 2;
	graph.initializer = inits;
	graph.n_input = 1;
	graph.input = vins;
	graph.n_output = 1;
	graph.output = vouts;

	onnx__operator_set_id_proto__init(&opset);
	opset.domain = "";
	opset.has_version = 1;
	opset.version = OPSET;
	onnx__model_proto__init(&model);
	model.has_ir_version = 1;
	model.ir_version = IR_VERSION;
	model.n_opset_import = 1;
	model.opset_import = opsets;
	model.producer_name = "sentinel";
	/* Part of the bytes: equal networks pack equally only under one version. */
	model.producer_version = SENTINEL_VERSION;
	model.graph = &graph;

	*len = onnx__model_proto__get_packed_size(&model);
	*out = xmalloc(*len);
	onnx__model_proto__pack(&model, *out);
	free(wl);
	free(inits);
	free(nodes);
	return 0;
}
