/* Unit tests of src/model: the training options of a job (model_train_run
 * gives the files `sentinel train`'s fit and save give for the same
 * options, and refuses bad options naming them), and model specs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/mem.h"
#include "base/util.h"
#include "ml/ml.h"
#include "ml/ml_trainer.h"
#include "model/model_int.h"
#include "model/model_train.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/test_model.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char *p = xasprintf("%s/d.csv", dir);
	FILE *f = fopen(p, "w");
	free(p);
	if (!f)
		return -1;
	fprintf(f, "a,b,c,label\n");
	for (int i = 0; i < 300; i++) {
		double z = (i % 17) / 17.0 + (i % 5) * 0.01;
		fprintf(f, "%.6f,%.6f,%.6f,x%d\n", z, 2 * z + 0.001 * (i % 3), 1 - z, i);
	}
	return fclose(f);
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

static char *slurp(const char *d, const char *name, size_t *len)
{
	char *p = xasprintf("%s/%s", d, name), *data = NULL;
	assert_int_equal(sn_read_file(p, 1 << 24, &data, len), 0);
	free(p);
	return data;
}

static void test_train_matches_fit(void **state)
{
	(void)state;
	char err[512], *csv = xasprintf("%s/d.csv", dir), *out = xasprintf("%s/job", dir);
	char *ref = xasprintf("%s/ref", dir), *data = NULL;
	json_t *p = json_pack("{s:s,s:s,s:[s,s,s],s:[i,i,i],s:i,s:i,s:f,s:i}", "dataset", "d@1",
			      "model", "m", "columns", "a", "b", "c", "hidden", 4, 2, 4, "epochs", 6,
			      "batch", 32, "lr", 3e-3, "seed", 5);
	json_t *summary = NULL;
	assert_int_equal(model_train_run(p, csv, out, &summary, err, sizeof err), 0);
	assert_int_equal(json_integer_value(json_object_get(summary, "rows")), 300);
	assert_int_equal(json_integer_value(json_object_get(summary, "features")), 3);

	/* What `sentinel train --columns a,b,c --hidden 4,2,4 --epochs 6
	 * --batch 32 --lr 3e-3 --seed 5` does. */
	static const int hidden[] = { 4, 2, 4 };
	ml_fit_opts o = { .hidden = hidden, .nhidden = 3, .act = ML_ACT_RELU, .epochs = 6,
			  .batch = 32, .patience = 10, .lr = 3e-3f, .seed = 5, .quantile = 0.99,
			  .val_frac = 0.2 };
	ml_table t = { 0 };
	ml_config conf = { 0 };
	ml_mlp m = { 0 };
	size_t len = 0;
	assert_int_equal(sn_read_file(csv, 1 << 24, &data, &len), 0);
	assert_int_equal(ml_csv_read(data, len, "a,b,c", &t, err, sizeof err), 0);
	assert_int_equal(ml_fit(&t, &o, &conf, &m, err, sizeof err), 0);
	assert_int_equal(ml_save(ref, &m, &conf, err, sizeof err), 0);
	static const char *const files[] = { ML_MODEL_FILE, ML_CONFIG_FILE };
	for (int i = 0; i < 2; i++) {
		size_t la, lb;
		char *a = slurp(out, files[i], &la), *b = slurp(ref, files[i], &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		free(a);
		free(b);
	}
	ml_model *mod = NULL;
	assert_int_equal(ml_model_load(out, 0, &mod, err, sizeof err), 0);
	assert_int_equal(ml_model_dim(mod), 3);
	assert_string_equal(ml_model_feature(mod, 1), "b");
	ml_model_free(&mod);
	ml_mlp_release(&m);
	ml_config_release(&conf);
	ml_table_release(&t);
	json_decref(p);
	json_decref(summary);
	free(data);
	free(csv);
	free(out);
	free(ref);
}

static void test_train_refusals(void **state)
{
	(void)state;
	static const struct { const char *params, *field; } bad[] = {
		{ "{\"epochs\":0}", "epochs" },
		{ "{\"epochs\":2.5}", "whole" },
		{ "{\"batch\":100000}", "batch" },
		{ "{\"lr\":20}", "lr" },
		{ "{\"quantile\":0}", "quantile" },
		{ "{\"val_fraction\":1}", "val_fraction" },
		{ "{\"hidden\":\"4,,2\"}", "hidden" },
		{ "{\"hidden\":[4,0]}", "hidden" },
		{ "{\"hidden\":[]}", "hidden" },
		{ "{\"hidden\":3}", "hidden" },
		{ "{\"activation\":\"nope\"}", "activation" },
		{ "{\"activation\":1}", "activation" },
		{ "{\"columns\":[1]}", "columns" },
		{ "{\"columns\":[\"a,b\"]}", "columns" },
		{ "{\"columns\":\"a,nosuch\"}", "nosuch" },
		{ "{\"columns\":\"label\"}", "label" },
		{ "[]", "object" },
	};
	char err[512], *csv = xasprintf("%s/d.csv", dir), *out = xasprintf("%s/bad", dir);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *p = json_loads(bad[i].params, 0, NULL);
		err[0] = '\0';
		assert_non_null(p);
		assert_int_equal(model_train_run(p, csv, out, NULL, err, sizeof err), -EINVAL);
		if (!strstr(err, bad[i].field))
			fail_msg("%s: '%s' does not name %s", bad[i].params, err, bad[i].field);
		json_decref(p);
	}
	json_t *p = json_object();
	assert_int_equal(model_train_run(p, "/nonexistent/x.csv", out, NULL, err, sizeof err), -ENOENT);
	json_decref(p);
	assert_int_equal(access(out, F_OK), -1);
	free(csv);
	free(out);
}

static void test_spec_parse(void **state)
{
	(void)state;
	char name[MD_NAME_MAX + 1];
	int64_t v;
	assert_int_equal(md_spec_parse("m@3", name, &v), 0);
	assert_string_equal(name, "m");
	assert_int_equal(v, 3);
	assert_int_equal(md_spec_parse("my.model-1", name, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(md_spec_parse("m@latest", name, &v), 0);
	assert_int_equal(v, 0);
	static const char *const bad[] = { "", "@1", "m@", "m@0", "m@-1", "m@x", ".m", "a b@1",
					   "m@1@2", "m@0012" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (md_spec_parse(bad[i], name, &v) != -EINVAL)
			fail_msg("'%s' accepted", bad[i]);
	char *longname = xmalloc(MD_NAME_MAX + 4);
	memset(longname, 'a', MD_NAME_MAX + 1);
	longname[MD_NAME_MAX + 1] = '\0';
	assert_int_equal(md_spec_parse(longname, name, &v), -EINVAL);
	longname[MD_NAME_MAX] = '\0';
	assert_int_equal(md_spec_parse(longname, name, &v), 0);
	free(longname);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_train_matches_fit),
		cmocka_unit_test(test_train_refusals),
		cmocka_unit_test(test_spec_parse),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
