/* Unit tests of src/ml: numbers, CSV, dense layers, training, the ONNX
 * writer/loader/lowering round trip, hostile ONNX bytes, config.json. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "base/mem.h"
#include "ml/ml_config.h"
#include "ml/ml_csv.h"
#include "ml/ml_nn.h"
#include "ml/ml_onnx.h"
#include "ml/ml_trainer.h"

static void test_parse_float_matches_strtof(void **state)
{
	(void)state;
	static const char *const fixed[] = { "0",	 "-0",	    "1",	   "+2.5",
					     "1e-3",	 "3.4028235e38", "1.17549435e-38", "0.1",
					     "123456789", "0.000001234", "9.999999e-5",  "16777217",
					     "2.0000001", "1E5",	  "-7.25e+2" };
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		float v;
		assert_int_equal(ml_parse_float(fixed[i], strlen(fixed[i]), &v), 0);
		assert_true(v == strtof(fixed[i], NULL));
	}
	ml_rng r;
	ml_rng_seed(&r, 3);
	char buf[64];
	for (int i = 0; i < 200000; i++) {
		/* random mantissas and exponents, including float midpoints' neighbours */
		uint64_t m = ml_rng_next(&r) % 100000000000ULL;
		int e = (int)(ml_rng_next(&r) % 60) - 30;
		int n = snprintf(buf, sizeof buf, "%s%llue%d", i % 2 ? "-" : "", (unsigned long long)m, e);
		float v, want = strtof(buf, NULL);
		if (isinf(want)) {
			assert_int_equal(ml_parse_float(buf, (size_t)n, &v), -ERANGE);
			continue;
		}
		assert_int_equal(ml_parse_float(buf, (size_t)n, &v), 0);
		if (v != want)
			fail_msg("%s: %a vs %a", buf, v, strtof(buf, NULL));
	}
	float v;
	assert_int_equal(ml_parse_float("abc", 3, &v), -EINVAL);
	assert_int_equal(ml_parse_float("1.2.3", 5, &v), -EINVAL);
	assert_int_equal(ml_parse_float("1e", 2, &v), -EINVAL);
	assert_int_equal(ml_parse_float("", 0, &v), -EINVAL);
	assert_int_equal(ml_parse_float("nan", 3, &v), -ERANGE);
	assert_int_equal(ml_parse_float("1e39", 4, &v), -ERANGE);
	assert_int_equal(ml_parse_float("1 ", 2, &v), -EINVAL);
}

static void test_format_float_roundtrips(void **state)
{
	(void)state;
	ml_rng r;
	ml_rng_seed(&r, 5);
	char buf[24];
	for (int i = 0; i < 10000; i++) {
		uint32_t bits = (uint32_t)ml_rng_next(&r);
		float f, g;
		memcpy(&f, &bits, 4);
		if (!isfinite(f))
			continue;
		int n = ml_format_float(f, buf);
		assert_int_equal(ml_parse_float(buf, (size_t)n, &g), 0);
		assert_true(f == g);
	}
}

static void test_csv(void **state)
{
	(void)state;
	ml_table t;
	char err[256];
	const char *ok = "a,\"b \"\"x\"\"\",c\r\n1,2,3\r\n\r\n4, 5 ,\"6\"\r\n";
	assert_int_equal(ml_csv_read(ok, strlen(ok), NULL, &t, err, sizeof err), 0);
	assert_int_equal(t.ncols, 3);
	assert_int_equal(t.nrows, 2);
	assert_string_equal(t.names[1], "b \"x\"");
	assert_true(t.x[3] == 4 && t.x[4] == 5 && t.x[5] == 6);
	ml_table_release(&t);
	assert_int_equal(ml_csv_read(ok, strlen(ok), "c,a", &t, err, sizeof err), 0);
	assert_int_equal(t.ncols, 2);
	assert_true(t.x[0] == 3 && t.x[1] == 1);
	ml_table_release(&t);
	/* no trailing newline, quoted newline in a skipped column */
	const char *q = "s,v\n\"multi\nline\",7\nz,8";
	assert_int_equal(ml_csv_read(q, strlen(q), "v", &t, err, sizeof err), 0);
	assert_int_equal(t.nrows, 2);
	assert_true(t.x[1] == 8);
	ml_table_release(&t);
	const char *bad = "a,b\n1,2\n3,\"4\"x\n";
	assert_int_equal(ml_csv_read(bad, strlen(bad), NULL, &t, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "row 2 (line 3), column 2"));
	assert_int_equal(ml_csv_read("", 0, NULL, &t, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "header"));
	const char *dup = "a,b\n1,2\n";
	assert_int_equal(ml_csv_read(dup, strlen(dup), "a,a", &t, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "selected twice"));
	/* read through base/csv: the files the server accepts (BOM, ';') and
	 * refuses (invalid UTF-8 even in a column not kept, ragged rows) */
	const char *semi = "\xef\xbb\xbf" "a;b\r\n1,5;2\r\n";
	assert_int_equal(ml_csv_read(semi, strlen(semi), "b", &t, err, sizeof err), 0);
	assert_int_equal(t.nrows, 1);
	assert_true(t.x[0] == 2);
	ml_table_release(&t);
	const char *utf = "a,s\n1,x\n2,\xc3(\n";
	assert_int_equal(ml_csv_read(utf, strlen(utf), "a", &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "row 2 (line 3), column 2: invalid UTF-8");
	const char *open_q = "a,b\n1,\"2\n";
	assert_int_equal(ml_csv_read(open_q, strlen(open_q), NULL, &t, err, sizeof err), -EINVAL);
	assert_string_equal(err, "row 1 (line 2), column 2: unterminated quoted field");
}

static void random_mlp(ml_mlp *m, const int *sizes, int n, enum ml_act act)
{
	assert_int_equal(ml_mlp_init(m, sizes, n, act, 11), 0);
	ml_rng r;
	ml_rng_seed(&r, 12);
	for (int k = 0; k < m->nlayers; k++)
		for (int o = 0; o < m->layers[k].out; o++)
			m->layers[k].b[o] = (float)(ml_rng_uniform(&r) - 0.5);
	ml_mlp_sync(m);
}

/* A vector's reconstruction is the same to the last bit alone and at any
 * place in a batch of any size (the engine promises one score per vector). */
static void test_forward_paths_agree(void **state)
{
	(void)state;
	static const int a[] = { 13, 37, 5, 40, 13 }, b[] = { 128, 64, 32, 64, 128 };
	enum ml_act acts[] = { ML_ACT_RELU, ML_ACT_TANH, ML_ACT_SIGMOID, ML_ACT_LEAKY };
	for (int s = 0; s < 2; s++) {
		for (size_t ai = 0; ai < 4; ai++) {
			ml_mlp m;
			ml_fwd f;
			const int *sz = s ? b : a;
			random_mlp(&m, sz, 5, acts[ai]);
			int d = sz[0];
			size_t n = 9 + 300 * (size_t)(ai % 2);
			float *x = xmalloc(n * d * sizeof(float)), *y = xmalloc(n * d * sizeof(float));
			float *y1 = xmalloc(d * sizeof(float));
			ml_rng r;
			ml_rng_seed(&r, 1);
			for (size_t i = 0; i < n * d; i++)
				x[i] = (float)(ml_rng_uniform(&r) * 4 - 2);
			ml_fwd_init(&f, &m, n);
			ml_mlp_forward(&m, &f, x, n, y);
			for (size_t row = 0; row < n; row++) {
				ml_mlp_forward1(&m, &f, x + row * d, y1);
				assert_memory_equal(y1, y + row * d, (size_t)d * sizeof(float));
				ml_mlp_forward(&m, &f, x + row * d, 1, y1);
				assert_memory_equal(y1, y + row * d, (size_t)d * sizeof(float));
			}
			ml_fwd_release(&f);
			ml_mlp_release(&m);
			free(x);
			free(y);
			free(y1);
		}
	}
}

/* A numerical check of the backward pass: one Adam step from a state
 * where the loss is differentiable must lower the loss for a small lr,
 * and many steps must fit a low-rank dataset. */
static void test_training_fits(void **state)
{
	(void)state;
	static const int sizes[] = { 6, 4, 2, 4, 6 };
	ml_mlp m;
	assert_int_equal(ml_mlp_init(&m, sizes, 5, ML_ACT_TANH, 2), 0);
	size_t n = 64;
	float *x = xmalloc(n * 6 * sizeof(float));
	ml_rng r;
	ml_rng_seed(&r, 9);
	for (size_t i = 0; i < n; i++) {
		double u = ml_rng_uniform(&r) * 2 - 1, v = ml_rng_uniform(&r) * 2 - 1;
		float row[6] = { (float)u, (float)v, (float)(u + v), (float)(u - v),
				 (float)(0.5 * u), (float)(-v) };
		memcpy(x + i * 6, row, sizeof row);
	}
	ml_train *t = ml_train_new(&m, n, 0.01f);
	double first = ml_train_step(t, &m, x, n), last = first;
	for (int i = 0; i < 1500; i++)
		last = ml_train_step(t, &m, x, n);
	ml_train_free(&t);
	assert_null(t);
	assert_true(last < first / 10);
	ml_mlp_release(&m);
	free(x);
}

static void test_fit_and_quantile(void **state)
{
	(void)state;
	float v[] = { 5, 1, 4, 2, 3 };
	assert_float_equal(ml_quantile(v, 5, 0.5), 3.0, 1e-12);
	assert_float_equal(ml_quantile(v, 5, 0.9), 4.6, 1e-6);
	ml_table t = { .ncols = 3, .nrows = 200 };
	t.names = xcalloc(3, sizeof(char *));
	t.names[0] = xstrdup("a");
	t.names[1] = xstrdup("b");
	t.names[2] = xstrdup("c");
	t.x = xmalloc(600 * sizeof(float));
	for (int i = 0; i < 200; i++) {
		t.x[i * 3] = (float)i;
		t.x[i * 3 + 1] = (float)(2 * i + 1);
		t.x[i * 3 + 2] = (float)(i % 7);
	}
	int hidden[] = { 2 };
	ml_fit_opts o = { .hidden = hidden, .nhidden = 1, .act = ML_ACT_RELU, .epochs = 5,
			  .batch = 16, .patience = 3, .lr = 0.01f, .seed = 4, .quantile = 0.9,
			  .val_frac = 0.25 };
	ml_config c;
	ml_mlp m;
	char err[256];
	assert_int_equal(ml_fit(&t, &o, &c, &m, err, sizeof err), 0);
	assert_int_equal(c.dim, 3);
	assert_int_equal(c.nsizes, 3);
	assert_true(c.threshold > 0);
	assert_float_equal(c.mean[0], 99.5, 1e-4);
	ml_config_release(&c);
	ml_mlp_release(&m);
	for (int i = 0; i < 200; i++)
		t.x[i * 3 + 2] = 7; /* constant column */
	assert_int_equal(ml_fit(&t, &o, &c, &m, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "column 'c' is constant"));
	t.nrows = 9;
	assert_int_equal(ml_fit(&t, &o, &c, &m, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "too few rows"));
	/* A name config.json cannot hold is refused before any training. */
	t.nrows = 200;
	free(t.names[1]);
	t.names[1] = xstrdup("b\xe9");
	assert_int_equal(ml_fit(&t, &o, &c, &m, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "column 2: the name is not valid UTF-8"));
	ml_table_release(&t);
}

static void test_onnx_roundtrip(void **state)
{
	(void)state;
	static const int sizes[] = { 7, 5, 3, 5, 7 };
	ml_mlp m, back;
	random_mlp(&m, sizes, 5, ML_ACT_LEAKY);
	uint8_t *bytes;
	size_t len;
	assert_int_equal(ml_onnx_write_mlp(&m, &bytes, &len), 0);
	uint8_t *again;
	size_t len2;
	assert_int_equal(ml_onnx_write_mlp(&m, &again, &len2), 0);
	assert_true(len == len2 && memcmp(bytes, again, len) == 0); /* deterministic */
	free(again);
	ml_graph *g;
	char err[256];
	assert_int_equal(ml_graph_load(bytes, len, &g, err, sizeof err), 0);
	assert_int_equal(ml_graph_to_mlp(g, &back), 0);
	assert_int_equal(back.nlayers, 4);
	/* lowered network, interpreter and original agree */
	float x[3 * 7], y[3 * 7], yb[3 * 7];
	for (int i = 0; i < 21; i++)
		x[i] = (float)(i % 5) - 2.0f;
	ml_fwd f;
	ml_fwd_init(&f, &m, 3);
	ml_mlp_forward(&m, &f, x, 3, y);
	ml_fwd_release(&f);
	ml_fwd_init(&f, &back, 3);
	ml_mlp_forward(&back, &f, x, 3, yb);
	ml_fwd_release(&f);
	assert_memory_equal(y, yb, sizeof y);
	ml_tensor in = { .ndim = 2, .dims = { 3, 7 }, .n = 21, .data = x }, out = { 0 };
	assert_int_equal(ml_graph_run(g, &in, &out, err, sizeof err), 0);
	assert_int_equal(out.n, 21);
	for (int i = 0; i < 21; i++)
		assert_float_equal(out.data[i], y[i], 1e-6);
	ml_tensor_release(&out);
	ml_tensor bad = { .ndim = 2, .dims = { 3, 6 }, .n = 18, .data = x };
	assert_int_equal(ml_graph_run(g, &bad, &out, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "Gemm"));
	ml_graph_free(&g);
	assert_null(g);

	/* every truncation is refused cleanly */
	for (size_t cut = 0; cut < len; cut += cut < 200 ? 1 : 37) {
		if (ml_graph_load(bytes, cut, &g, err, sizeof err) == 0)
			ml_graph_free(&g);
	}
	ml_mlp_release(&back);
	ml_mlp_release(&m);
	free(bytes);
}

/* The interpreter too gives a row alone what it gives it in a batch. */
static void test_graph_rows_independent(void **state)
{
	(void)state;
	static const int sizes[] = { 100, 64, 32, 64, 100 };
	enum { D = 100, N = 200 };
	ml_mlp m;
	random_mlp(&m, sizes, 5, ML_ACT_TANH);
	uint8_t *bytes;
	size_t len;
	ml_graph *g;
	char err[256];
	assert_int_equal(ml_onnx_write_mlp(&m, &bytes, &len), 0);
	assert_int_equal(ml_graph_load(bytes, len, &g, err, sizeof err), 0);
	float *big = xmalloc(N * D * sizeof(float));
	for (int i = 0; i < N * D; i++)
		big[i] = (float)((i * 7919) % 101) / 25.0f - 2.0f;
	ml_tensor bin = { .ndim = 2, .dims = { N, D }, .n = N * D, .data = big }, bout = { 0 }, out = { 0 };
	assert_int_equal(ml_graph_run(g, &bin, &bout, err, sizeof err), 0);
	for (int row = 0; row < N; row += 13) {
		ml_tensor one = { .ndim = 2, .dims = { 1, D }, .n = D, .data = big + row * D };
		assert_int_equal(ml_graph_run(g, &one, &out, err, sizeof err), 0);
		assert_memory_equal(out.data, bout.data + row * D, D * sizeof(float));
		ml_tensor_release(&out);
	}
	ml_tensor_release(&bout);
	free(big);
	free(bytes);
	ml_graph_free(&g);
	ml_mlp_release(&m);
}

static void test_onnx_hostile(void **state)
{
	(void)state;
	char err[256];
	ml_graph *g = NULL;
	/* graph (field 7) nesting a node (1) holding an attribute (5) whose
	 * subgraph (6) nests again, 10000 levels deep */
	size_t depth = 10000, len = 0;
	uint8_t *buf = xmalloc(depth * 16 + 16);
	static const uint8_t tags[] = { 0x3a /* model.graph */, 0x0a /* graph.node */,
					0x2a /* node.attribute */, 0x32 /* attribute.g */ };
	/* build inside-out: each level is TAG, LEN(varint), payload */
	uint8_t *tmp = xmalloc(depth * 16 + 16);
	for (size_t i = 0; i < depth; i++) {
		uint8_t tag = i + 1 == depth ? tags[0] : tags[1 + (depth - 2 - i) % 3];
		size_t n = 0;
		tmp[n++] = tag;
		size_t l = len;
		do {
			tmp[n++] = (uint8_t)((l & 0x7f) | (l > 0x7f ? 0x80 : 0));
			l >>= 7;
		} while (l);
		memmove(buf + n, buf, len);
		memcpy(buf, tmp, n);
		len += n;
	}
	assert_int_equal(ml_graph_load(buf, len, &g, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "nested too deeply"));
	free(tmp);
	free(buf);
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	assert_int_equal(ml_graph_load(junk, sizeof junk, &g, err, sizeof err), -EINVAL);
	assert_int_equal(ml_graph_load("", 0, &g, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "no graph"));
}

static void test_config(void **state)
{
	(void)state;
	ml_config c;
	char err[256];
	const char *ok = "{\"features\":[\"a\",\"b\"],\"mean\":[1,2],\"std\":[1,0.5],\"threshold\":0.3}";
	assert_int_equal(ml_config_parse(ok, strlen(ok), &c, err, sizeof err), 0);
	assert_int_equal(c.dim, 2);
	char *dump = NULL;
	c.train_loss = NAN; /* unknown: written as null */
	assert_int_equal(ml_config_dump(&c, &dump, err, sizeof err), 0);
	ml_config c2;
	assert_int_equal(ml_config_parse(dump, strlen(dump), &c2, err, sizeof err), 0);
	assert_true(c2.std[1] == 0.5f && c2.threshold == 0.3);
	assert_non_null(strstr(dump, "\"train_loss\": null"));
	free(dump);
	ml_config_release(&c2);
	/* What JSON cannot hold is an error, not a silently missing key. */
	c.mean[1] = INFINITY;
	assert_int_equal(ml_config_dump(&c, &dump, err, sizeof err), -EINVAL);
	assert_null(dump);
	assert_non_null(strstr(err, "finite"));
	c.mean[1] = 2;
	c.threshold = NAN;
	assert_int_equal(ml_config_dump(&c, &dump, err, sizeof err), -EINVAL);
	c.threshold = 0.3;
	free(c.features[0]);
	c.features[0] = xstrdup("caf\xe9");
	assert_int_equal(ml_config_dump(&c, &dump, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "feature 1: the name is not valid UTF-8"));
	assert_null(dump);
	ml_config_release(&c);
	const char *zero = "{\"features\":[\"a\"],\"mean\":[1],\"std\":[0],\"threshold\":0.3}";
	assert_int_equal(ml_config_parse(zero, strlen(zero), &c, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "std[0] (feature 'a')"));
	const char *shortm = "{\"features\":[\"a\",\"b\"],\"mean\":[1],\"std\":[1,1],\"threshold\":1}";
	assert_int_equal(ml_config_parse(shortm, strlen(shortm), &c, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "'mean' must be an array of 2"));
	assert_int_equal(ml_config_parse("[", 1, &c, err, sizeof err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_float_matches_strtof),
		cmocka_unit_test(test_format_float_roundtrips),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_forward_paths_agree),
		cmocka_unit_test(test_training_fits),
		cmocka_unit_test(test_fit_and_quantile),
		cmocka_unit_test(test_onnx_roundtrip),
		cmocka_unit_test(test_graph_rows_independent),
		cmocka_unit_test(test_onnx_hostile),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
