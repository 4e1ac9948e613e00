/* The graph interpreter and the lowering of MLP chains to ml_mlp.
 * Shapes are checked per run (the batch dimension is only known then);
 * every error names the node. */
#include "ml/ml_blas.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "ml/ml_graph_int.h"

struct run {
	const ml_graph *g;
	ml_tensor *slots;
	char *err;
	size_t errlen;
};

static const ml_tensor *value_tensor(struct run *r, int v)
{
	const struct ml_value *val = &r->g->vals[v];
	return val->is_const ? &val->t : &r->slots[val->slot];
}

static int fail(struct run *r, const struct ml_node *n, const char *msg)
{
	snprintf(r->err, r->errlen, "node %s (%s): %s", n->name, ml_op_name(n->op), msg);
	return -EINVAL;
}

static int alloc_out(struct run *r, const struct ml_node *n, int ndim, const int64_t *dims,
		     ml_tensor **out)
{
	ml_tensor *t = &r->slots[r->g->vals[n->out].slot];
	if (ml_tensor_alloc(t, ndim, dims))
		return fail(r, n, "output too large");
	*out = t;
	return 0;
}

static void shape_str(const ml_tensor *t, char *buf, size_t n)
{
	size_t o = (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < t->ndim && o < n; i++)
		o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "", (long long)t->dims[i]);
	if (o < n)
		snprintf(buf + o, n - o, "]");
}

/* Numpy broadcasting of a and b into out; strides of a and b per out dim. */
static int broadcast(const ml_tensor *a, const ml_tensor *b, int *ndim, int64_t *dims,
		     size_t *sa, size_t *sb)
{
	int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
	size_t ka = 1, kb = 1;
	for (int i = nd - 1; i >= 0; i--) {
		int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
		/* Shapes align on the right; a missing leading dim counts as 1. */
		int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return -EINVAL;
		dims[i] = da == 1 ? db : da;
		sa[i] = da == 1 ? 0 : ka;
		sb[i] = db == 1 ? 0 : kb;
		ka *= (size_t)da;
		kb *= (size_t)db;
	}
	*ndim = nd;
	return 0;
}

static float binop(enum ml_op op, float x, float y)
{
	switch (op) {
	case OP_ADD:
		return x + y;
	case OP_SUB:
		return x - y;
	case OP_MUL:
		return x * y;
	default:
		return x / y;
	}
}

/* Advances the index idx over dims[0..top] (the last fastest) and the two
 * broadcast offsets with it (strides sa, sb; a stride of 0 repeats). */
static void odometer_step(int top, const int64_t *dims, const size_t *sa, const size_t *sb,
			  size_t *idx, size_t *oa, size_t *ob)
{
	for (int d = top; d >= 0; d--) {
		idx[d]++;
		*oa += sa[d];
		*ob += sb[d];
		if (idx[d] < (size_t)dims[d])
			return;
		*oa -= sa[d] * idx[d];
		*ob -= sb[d] * idx[d];
		idx[d] = 0;
	}
}

static int run_binary(struct run *r, const struct ml_node *n)
{
	const ml_tensor *a = value_tensor(r, n->in[0]), *b = value_tensor(r, n->in[1]);
	int64_t dims[ML_MAX_RANK];
	size_t sa[ML_MAX_RANK], sb[ML_MAX_RANK];
	int nd;
	ml_tensor *o;
	if (broadcast(a, b, &nd, dims, sa, sb)) {
		char x[96], y[96], msg[224];
		shape_str(a, x, sizeof x);
		shape_str(b, y, sizeof y);
		snprintf(msg, sizeof msg, "shapes %s and %s do not broadcast", x, y);
		return fail(r, n, msg);
	}
	if (alloc_out(r, n, nd, dims, &o))
		return -EINVAL;
	if (o->n == 0)
		return 0;
	/* o is at least as large as a and b in every dim and o->n > 0, so equal
	 * counts mean equal shapes: plain element-wise. */
	if (a->n == o->n && b->n == o->n) {
		for (size_t i = 0; i < o->n; i++)
			o->data[i] = binop(n->op, a->data[i], b->data[i]);
		return 0;
	}
	/* Odometer over all but the last dim; the last dim is the inner loop. */
	size_t idx[ML_MAX_RANK] = { 0 }, oa = 0, ob = 0;
	size_t last = nd ? (size_t)dims[nd - 1] : 1;
	size_t la = nd ? sa[nd - 1] : 0, lb = nd ? sb[nd - 1] : 0;
	for (size_t base = 0; base < o->n; base += last) {
		for (size_t j = 0; j < last; j++)
			o->data[base + j] = binop(n->op, a->data[oa + j * la], b->data[ob + j * lb]);
		odometer_step(nd - 2, dims, sa, sb, idx, &oa, &ob);
	}
	return 0;
}

static int run_unary(struct run *r, const struct ml_node *n)
{
	const ml_tensor *a = value_tensor(r, n->in[0]);
	ml_tensor *o;
	if (alloc_out(r, n, a->ndim, a->dims, &o))
		return -EINVAL;
	if (a->n)
		memcpy(o->data, a->data, a->n * sizeof(float));
	switch (n->op) {
	case OP_RELU:
		ml_act_apply(ML_ACT_RELU, 0, o->data, o->n);
		break;
	case OP_LEAKY:
		ml_act_apply(ML_ACT_LEAKY, n->alpha, o->data, o->n);
		break;
	case OP_SIGMOID:
		ml_act_apply(ML_ACT_SIGMOID, 0, o->data, o->n);
		break;
	case OP_TANH:
		ml_act_apply(ML_ACT_TANH, 0, o->data, o->n);
		break;
	default:
		break;
	}
	return 0;
}

static int run_reshape_like(struct run *r, const struct ml_node *n)
{
	const ml_tensor *a = value_tensor(r, n->in[0]);
	int64_t dims[ML_MAX_RANK];
	int nd;
	if (n->op == OP_FLATTEN) {
		int axis = n->axis < 0 ? n->axis + a->ndim : n->axis;
		/* axis == rank is valid ONNX: the output is [count, 1]. */
		if (axis < 0 || axis > a->ndim)
			return fail(r, n, "axis out of range for the input's rank");
		dims[0] = dims[1] = 1;
		for (int i = 0; i < a->ndim; i++)
			dims[i < axis ? 0 : 1] *= a->dims[i];
		nd = 2;
	} else {
		const struct ml_value *s = &r->g->vals[n->in[1]];
		int64_t known = 1;
		int infer = -1;
		if (s->t.ndim != 1 || s->nints > ML_MAX_RANK)
			return fail(r, n, "shape must be a 1-D tensor of at most 8 values");
		nd = (int)s->nints;
		for (int i = 0; i < nd; i++) {
			int64_t d = s->ints[i];
			/* ONNX: without allowzero, a 0 copies the input's dimension. */
			if (d == 0 && !n->allowzero) {
				if (i >= a->ndim)
					return fail(r, n, "a 0 in shape has no input dimension to copy");
				d = a->dims[i];
			}
			if (d == -1) {
				if (infer >= 0)
					return fail(r, n, "shape has more than one -1");
				infer = i;
				d = 1;
			} else if (d < 0) {
				return fail(r, n, "shape has a negative dimension");
			}
			dims[i] = d;
			/* One factor alone can be near 2^63: check the product itself. */
			if (__builtin_mul_overflow(known, d, &known) || known > (int64_t)ML_MAX_ELEMS)
				return fail(r, n, "shape too large");
		}
		if (infer >= 0) {
			if (known == 0 || (int64_t)a->n % known)
				return fail(r, n, "cannot infer the -1 dimension");
			dims[infer] = (int64_t)a->n / known;
			known = (int64_t)a->n;
		}
		if ((size_t)known != a->n)
			return fail(r, n, "shape does not match the input's element count");
	}
	ml_tensor *o;
	if (alloc_out(r, n, nd, dims, &o))
		return -EINVAL;
	if (a->n)
		memcpy(o->data, a->data, a->n * sizeof(float));
	return 0;
}

/* C = alpha op(A) op(B) + beta C, one sgemv per row of C: a whole-matrix
 * sgemm picks kernels and blocking by M, so a row's result would depend
 * on the rows computed with it, and a vector must score the same alone
 * and in a batch. */
static void gemm_rows(int ta, int tb, int M, int N, int K, float alpha, const float *a, int lda,
		      const float *b, int ldb, float beta, float *c, int ldc)
{
	for (int i = 0; i < M; i++) {
		const float *x = ta ? a + i : a + (size_t)i * (size_t)lda;
		int incx = ta ? lda : 1;
		/* row i of C = op(B)^T x: B is [K][N] (no transpose) or [N][K] */
		if (tb)
			cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, alpha, b, ldb, x, incx, beta,
				    c + (size_t)i * (size_t)ldc, 1);
		else
			cblas_sgemv(CblasRowMajor, CblasTrans, K, N, alpha, b, ldb, x, incx, beta,
				    c + (size_t)i * (size_t)ldc, 1);
	}
}

static int run_gemm(struct run *r, const struct ml_node *n)
{
	const ml_tensor *a = value_tensor(r, n->in[0]), *b = value_tensor(r, n->in[1]);
	const ml_tensor *c = n->in[2] >= 0 ? value_tensor(r, n->in[2]) : NULL;
	if (a->ndim != 2 || b->ndim != 2)
		return fail(r, n, "A and B must be 2-D");
	int64_t M = n->trans_a ? a->dims[1] : a->dims[0], K = n->trans_a ? a->dims[0] : a->dims[1];
	int64_t KB = n->trans_b ? b->dims[1] : b->dims[0], N = n->trans_b ? b->dims[0] : b->dims[1];
	if (K != KB)
		return fail(r, n, "inner dimensions of A and B differ");
	int64_t dims[2] = { M, N };
	ml_tensor *o;
	if (alloc_out(r, n, 2, dims, &o))
		return -EINVAL;
	float beta = 0.0f;
	if (c) {
		int64_t cm = c->ndim == 2 ? c->dims[0] : 1;
		int64_t cn = c->ndim >= 1 ? c->dims[c->ndim - 1] : 1;
		/* C is unidirectionally broadcast (ONNX Gemm): [N] biases are the
		 * usual case. beta C goes into o first, then gemm_rows adds to it. */
		if (c->ndim > 2 || (cm != 1 && cm != M) || (cn != 1 && cn != N))
			return fail(r, n, "C does not broadcast to M x N");
		for (int64_t i = 0; i < M; i++)
			for (int64_t j = 0; j < N; j++)
				o->data[i * N + j] =
					n->beta * c->data[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
		beta = 1.0f;
	}
	if (o->n == 0)
		return 0;
	/* An empty sum, just beta C; BLAS would reject the leading dimension 0. */
	if (K == 0) {
		if (!c)
			memset(o->data, 0, o->n * sizeof(float));
		return 0;
	}
	gemm_rows(n->trans_a, n->trans_b, (int)M, (int)N, (int)K, n->alpha, a->data, (int)a->dims[1],
		  b->data, (int)b->dims[1], beta, o->data, (int)N);
	return 0;
}

static int run_matmul(struct run *r, const struct ml_node *n)
{
	ml_tensor a = *value_tensor(r, n->in[0]), b = *value_tensor(r, n->in[1]);
	int pa = 0, pb = 0;
	if (a.ndim == 0 || b.ndim == 0)
		return fail(r, n, "operands must have rank >= 1");
	if (a.ndim == 1) { /* [K] -> [1,K] */
		a.dims[1] = a.dims[0];
		a.dims[0] = 1;
		a.ndim = 2;
		pa = 1;
	}
	if (b.ndim == 1) { /* [K] -> [K,1] */
		b.dims[1] = 1;
		b.ndim = 2;
		pb = 1;
	}
	int64_t M = a.dims[a.ndim - 2], K = a.dims[a.ndim - 1];
	int64_t N = b.dims[b.ndim - 1];
	if (b.dims[b.ndim - 2] != K)
		return fail(r, n, "inner dimensions differ");
	/* Broadcast the batch dims: shapes without the last two. */
	ml_tensor ba = { .ndim = a.ndim - 2 }, bb = { .ndim = b.ndim - 2 };
	memcpy(ba.dims, a.dims, (size_t)ba.ndim * sizeof(int64_t));
	memcpy(bb.dims, b.dims, (size_t)bb.ndim * sizeof(int64_t));
	int64_t dims[ML_MAX_RANK + 2];
	size_t sa[ML_MAX_RANK], sb[ML_MAX_RANK];
	int nd;
	if (broadcast(&ba, &bb, &nd, dims, sa, sb))
		return fail(r, n, "batch dimensions do not broadcast");
	size_t batches = 1;
	for (int i = 0; i < nd; i++)
		batches *= (size_t)dims[i];
	int od = nd;
	/* A promoted 1-D operand's extra dim is dropped again (numpy matmul). */
	if (!pa)
		dims[od++] = M;
	if (!pb)
		dims[od++] = N;
	if (od > ML_MAX_RANK)
		return fail(r, n, "output rank too large");
	ml_tensor *o;
	if (alloc_out(r, n, od, dims, &o))
		return -EINVAL;
	if (o->n == 0)
		return 0;
	/* oa and ob count whole matrices: broadcast's strides are over the
	 * batch dims only. */
	size_t idx[ML_MAX_RANK] = { 0 }, oa = 0, ob = 0;
	for (size_t k = 0; k < batches; k++) {
		float *c = o->data + k * (size_t)(M * N);
		if (K == 0)
			memset(c, 0, (size_t)(M * N) * sizeof(float));
		else
			gemm_rows(0, 0, (int)M, (int)N, (int)K, 1.0f, a.data + oa * (size_t)(M * K),
				  (int)K, b.data + ob * (size_t)(K * N), (int)N, 0.0f, c, (int)N);
		odometer_step(nd - 1, dims, sa, sb, idx, &oa, &ob);
	}
	return 0;
}

static int run_node(struct run *r, const struct ml_node *n)
{
	switch (n->op) {
	case OP_GEMM:
		return run_gemm(r, n);
	case OP_MATMUL:
		return run_matmul(r, n);
	case OP_ADD:
	case OP_SUB:
	case OP_MUL:
	case OP_DIV:
		return run_binary(r, n);
	case OP_FLATTEN:
	case OP_RESHAPE:
		return run_reshape_like(r, n);
	default:
		return run_unary(r, n);
	}
}

int ml_graph_run(const ml_graph *g, const ml_tensor *in, ml_tensor *out, char *err,
		 size_t errlen)
{
	struct run r = { .g = g, .err = err, .errlen = errlen };
	int rc = 0;
	r.slots = xcalloc((size_t)g->nslots + 1, sizeof(ml_tensor));
	for (int i = 0; i < g->ninputs; i++) {
		ml_tensor *t = &r.slots[g->vals[g->inputs[i]].slot];
		if (in[i].ndim < 0 || in[i].ndim > ML_MAX_RANK ||
		    ml_tensor_alloc(t, in[i].ndim, in[i].dims)) {
			snprintf(err, errlen, "input '%s': invalid shape", g->vals[g->inputs[i]].name);
			rc = -EINVAL;
			goto out;
		}
		if (t->n)
			memcpy(t->data, in[i].data, t->n * sizeof(float));
	}
	for (int i = 0; i < g->nnodes && !rc; i++)
		rc = run_node(&r, &g->nodes[i]);
	if (rc)
		goto out;
	for (int i = 0; i < g->noutputs; i++) {
		const ml_tensor *t = value_tensor(&r, g->outputs[i]);
		/* Cannot fail: t has this shape and passed the same cap. */
		ml_tensor_alloc(&out[i], t->ndim, t->dims);
		if (t->n)
			memcpy(out[i].data, t->data, t->n * sizeof(float));
	}
out:
	for (int i = 0; i < g->nslots; i++)
		ml_tensor_release(&r.slots[i]);
	free(r.slots);
	return rc;
}

/* ---- lowering ---- */

static int is_vector(const struct ml_value *v, int64_t n)
{
	const ml_tensor *t = &v->t;
	if (!v->is_const || v->is_int)
		return 0;
	if (t->ndim == 1)
		return t->dims[0] == n;
	return t->ndim == 2 && t->dims[0] == 1 && t->dims[1] == n;
}

/* Gemm or MatMul with a constant weight: appends a layer. */
static int lower_linear(const ml_graph *g, const struct ml_node *n, ml_mlp *m, int width)
{
	const struct ml_value *w = &g->vals[n->in[1]];
	if (!w->is_const || w->is_int || w->t.ndim != 2)
		return -ENOTSUP;
	if (n->op == OP_MATMUL)
		return w->t.dims[0] == width ?
			       ml_mlp_add(m, width, (int)w->t.dims[1], w->t.data, 1, NULL,
					  ML_ACT_IDENTITY, 0) :
			       -ENOTSUP;
	if (n->trans_a)
		return -ENOTSUP;
	int64_t in = n->trans_b ? w->t.dims[1] : w->t.dims[0];
	int64_t out = n->trans_b ? w->t.dims[0] : w->t.dims[1];
	if (in != width || out <= 0 || out > ML_MAX_WIDTH)
		return -ENOTSUP;
	const struct ml_value *c = n->in[2] >= 0 ? &g->vals[n->in[2]] : NULL;
	if (c && !is_vector(c, out))
		return -ENOTSUP;
	/* alpha and beta fold into the weights and bias: the layer computes
	 * alpha W x + beta c exactly as Gemm does, up to rounding. */
	float *ws = xmalloc(w->t.n * sizeof(float)), *bs = xcalloc((size_t)out, sizeof(float));
	for (size_t i = 0; i < w->t.n; i++)
		ws[i] = n->alpha * w->t.data[i];
	for (int64_t i = 0; c && i < out; i++)
		bs[i] = n->beta * c->t.data[i];
	int rc = ml_mlp_add(m, (int)in, (int)out, ws, !n->trans_b, bs, ML_ACT_IDENTITY, 0);
	free(ws);
	free(bs);
	return rc;
}

static int lower_node(const ml_graph *g, const struct ml_node *n, int cur, ml_mlp *m,
		      int *open_bias)
{
	int width = m->nlayers ? ml_mlp_out(m) : -1;
	ml_layer *last = m->nlayers ? &m->layers[m->nlayers - 1] : NULL;
	switch (n->op) {
	case OP_GEMM:
	case OP_MATMUL:
		if (n->in[0] != cur)
			return -ENOTSUP;
		if (width < 0) {
			int64_t dims[ML_MAX_RANK];
			if (ml_graph_input_shape(g, 0, dims) != 2 || dims[1] <= 0)
				return -ENOTSUP;
			width = (int)dims[1];
		}
		*open_bias = 1;
		return lower_linear(g, n, m, width);
	case OP_ADD:
	case OP_SUB: {
		/* A constant vector added right after a linear layer (torch exports
		 * MatMul + Add) is its bias; c - x is not, nor is anything after
		 * the activation. */
		int other = n->in[0] == cur ? n->in[1] : n->in[0];
		if (!*open_bias || (n->op == OP_SUB && n->in[0] != cur) ||
		    !is_vector(&g->vals[other], width))
			return -ENOTSUP;
		const float *v = g->vals[other].t.data;
		for (int i = 0; i < width; i++)
			last->b[i] += n->op == OP_ADD ? v[i] : -v[i];
		ml_mlp_sync(m);
		return 0;
	}
	case OP_RELU:
	case OP_LEAKY:
	case OP_SIGMOID:
	case OP_TANH:
		/* One activation per layer: a second in a row has no slot in ml_layer. */
		if (!last || last->act != ML_ACT_IDENTITY || n->in[0] != cur)
			return -ENOTSUP;
		*open_bias = 0;
		ml_mlp_set_last_act(m,
				    n->op == OP_RELU    ? ML_ACT_RELU :
				    n->op == OP_LEAKY   ? ML_ACT_LEAKY :
				    n->op == OP_SIGMOID ? ML_ACT_SIGMOID :
							  ML_ACT_TANH,
				    n->alpha);
		return 0;
	case OP_IDENTITY:
		return n->in[0] == cur ? 0 : -ENOTSUP;
	case OP_FLATTEN:
		return n->in[0] == cur && n->axis == 1 ? 0 : -ENOTSUP;
	default:
		return -ENOTSUP;
	}
}

int ml_graph_to_mlp(const ml_graph *g, ml_mlp *out)
{
	int64_t dims[ML_MAX_RANK];
	int cur, open_bias = 0, rc = 0;
	ml_mlp_init_empty(out);
	if (g->ninputs != 1 || g->noutputs != 1 || ml_graph_input_shape(g, 0, dims) != 2)
		return -ENOTSUP;
	cur = g->inputs[0];
	for (int i = 0; i < g->nnodes && !rc; i++) {
		const struct ml_node *n = &g->nodes[i];
		/* Every node must consume the previous one's output: a chain, or
		 * the interpreter runs the graph. */
		rc = lower_node(g, n, cur, out, &open_bias);
		cur = n->out;
	}
	if (!rc && (cur != g->outputs[0] || out->nlayers == 0))
		rc = -ENOTSUP;
	if (rc) {
		ml_mlp_release(out);
		return -ENOTSUP;
	}
	return 0;
}
