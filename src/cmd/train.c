/* sentinel train: fit an autoencoder to a CSV and write a model directory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/cfg.h"
#include "base/mem.h"
#include "base/util.h"
#include "cmd/commands.h"
#include "ml/ml_trainer.h"

/* The CSV is held whole in memory while it is parsed into floats beside it. */
#define DATA_MAX (1ULL << 30)

static const cfg_opt train_opts[] = {
	{ "data", "FILE", NULL, "CSV file with a header row (required)", CFG_NOENV },
	{ "columns", "A,B,..", NULL, "numeric columns to use (default: all)", CFG_NOENV },
	{ "hidden", "W,W,..", "16,8,16", "hidden layer widths", 0 },
	{ "activation", "NAME", "relu", "relu, leakyrelu, sigmoid, tanh or identity", 0 },
	{ "epochs", "N", "50", "maximum epochs", 0 },
	{ "batch", "N", "256", "rows per Adam step", 0 },
	{ "lr", "RATE", "1e-3", "Adam learning rate", 0 },
	{ "seed", "N", "1", "seed of the split, initial weights and batch order", 0 },
	{ "quantile", "Q", "0.99", "anomaly threshold: this quantile of validation errors", 0 },
	{ "patience", "N", "10", "early stopping: epochs without validation improvement", 0 },
	{ "val-fraction", "F", "0.2", "share of rows held out for validation", 0 },
	{ "out", "DIR", NULL, "output directory for model.onnx and config.json (required)", CFG_NOENV },
	{ "quiet", NULL, NULL, "print only the summary", CFG_FLAG | CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec train_spec = {
	.cmd = "train",
	.synopsis = "--data FILE.csv --out DIR [options]",
	.summary = "Fit an anomaly-detection autoencoder to the numeric columns of a CSV.",
	.opts = train_opts,
	.max_args = 0,
};

struct progress {
	int quiet, tty;
};

static void on_epoch(void *ctx, int epoch, int epochs, double train, double val, int best)
{
	struct progress *p = ctx;
	if (p->quiet)
		return;
	/* Erases the progress bar (stderr) before the epoch's line (stdout)
	 * lands on the same terminal line. */
	if (p->tty)
		fprintf(stderr, "\r\033[K");
	printf("epoch %3d/%d  train_loss %.6f  val_loss %.6f%s\n", epoch, epochs, train, val,
	       best ? "  *" : "");
	fflush(stdout);
}

static void on_batch(void *ctx, int epoch, size_t done, size_t total)
{
	(void)ctx;
	/* w is the length of the '#' string below; done <= total keeps k <= w. */
	int w = 30, k = (int)((double)done / (double)total * w);
	fprintf(stderr, "\r epoch %d [%.*s%*s] %zu/%zu", epoch, k, "##############################",
		w - k, "", done, total);
}

static int parse_widths(const char *s, int **out, int *n, char *err, size_t errlen)
{
	*out = NULL;
	*n = 0;
	const char *p = s;
	while (*p) {
		char *end;
		long v = strtol(p, &end, 10);
		/* Hidden widths plus the output layer must fit ML_MAX_LAYERS. */
		/* A trailing comma ("16,") is a typo, not a shorter list. */
		if (end == p || v < 1 || v > ML_MAX_WIDTH || (*end && *end != ',') ||
		    (*end == ',' && !end[1]) || *n >= ML_MAX_LAYERS - 1) {
			snprintf(err, errlen, "--hidden: '%s' is not a list of widths (1..%d)", s,
				 ML_MAX_WIDTH);
			free(*out);
			*out = NULL;
			return -EINVAL;
		}
		*out = xrealloc(*out, (size_t)(*n + 1) * sizeof(int));
		(*out)[(*n)++] = (int)v;
		p = *end ? end + 1 : end;
	}
	if (!*n) {
		snprintf(err, errlen, "--hidden: at least one width is needed");
		return -EINVAL;
	}
	return 0;
}

static int parse_double(const cfg *c, const char *name, double *out, char *err, size_t errlen)
{
	const char *s = cfg_get(c, name);
	char *end;
	*out = strtod(s, &end);
	if (end == s || *end) {
		snprintf(err, errlen, "--%s: '%s' is not a number", name, s);
		return -EINVAL;
	}
	return 0;
}

static int get_opts(const cfg *c, ml_fit_opts *o, int **hidden, char *err, size_t errlen)
{
	long long epochs, batch, seed, patience;
	double lr;
	if (!cfg_get(c, "data") || !cfg_get(c, "out")) {
		snprintf(err, errlen, "--data and --out are required");
		return -EINVAL;
	}
	if (parse_widths(cfg_get(c, "hidden"), hidden, &o->nhidden, err, errlen))
		return -EINVAL;
	o->hidden = *hidden;
	if (ml_act_parse(cfg_get(c, "activation"), &o->act)) {
		snprintf(err, errlen, "--activation: unknown activation '%s'", cfg_get(c, "activation"));
		return -EINVAL;
	}
	if (cfg_get_int(c, "epochs", &epochs, err, errlen) ||
	    cfg_get_int(c, "batch", &batch, err, errlen) ||
	    cfg_get_int(c, "seed", &seed, err, errlen) ||
	    cfg_get_int(c, "patience", &patience, err, errlen) ||
	    parse_double(c, "lr", &lr, err, errlen) ||
	    parse_double(c, "quantile", &o->quantile, err, errlen) ||
	    parse_double(c, "val-fraction", &o->val_frac, err, errlen))
		return -EINVAL;
	/* seed >= 0: config.json keeps it as a JSON integer, which is signed.
	 * batch <= 65536 bounds the trainer's batch x width buffers. */
	if (epochs < 1 || epochs > 1000000 || batch < 1 || batch > 65536 || patience < 1 ||
	    !(lr > 0 && lr < 10) || !(o->quantile > 0 && o->quantile <= 1) ||
	    !(o->val_frac > 0 && o->val_frac < 1) || seed < 0) {
		snprintf(err, errlen, "out of range: need epochs >= 1, 1 <= batch <= 65536, patience >= 1, 0 < lr < 10, 0 < quantile <= 1, 0 < val-fraction < 1, seed >= 0");
		return -EINVAL;
	}
	o->epochs = (int)epochs;
	o->batch = (int)batch;
	o->patience = (int)patience;
	o->lr = (float)lr;
	o->seed = (uint64_t)seed;
	return 0;
}

int train_cmd(int argc, char **argv)
{
	cfg *c = NULL;
	int code = 1, *hidden = NULL;
	char err[512], *data = NULL;
	size_t len = 0;
	ml_table t = { 0 };
	ml_config conf = { 0 };
	ml_mlp m = { 0 };
	ml_fit_opts o = { 0 };
	struct progress p = { 0 };
	if (cfg_cmd_init(&train_spec, argc, argv, &c, &code))
		return code;
	if (get_opts(c, &o, &hidden, err, sizeof err)) {
		fprintf(stderr, "sentinel train: %s\n", err);
		code = 2;
		goto out;
	}
	const char *path = cfg_get(c, "data");
	int rc = sn_read_file(path, DATA_MAX, &data, &len);
	if (rc) {
		fprintf(stderr, "sentinel train: %s: %s\n", path,
			rc == -E2BIG ? "larger than 1 GiB" : strerror(-rc));
		goto out;
	}
	if (ml_csv_read(data, len, cfg_get(c, "columns"), &t, err, sizeof err)) {
		fprintf(stderr, "sentinel train: %s: %s\n", path, err);
		goto out;
	}
	p.quiet = cfg_get_bool(c, "quiet");
	/* A progress bar only on a terminal: logs and pipes get no \r lines. */
	p.tty = !p.quiet && isatty(STDERR_FILENO);
	o.on_epoch = on_epoch;
	o.on_batch = p.tty ? on_batch : NULL;
	o.ctx = &p;
	if (!p.quiet)
		printf("training on %zu rows x %d features from %s\n", t.nrows, t.ncols, path);
	if (ml_fit(&t, &o, &conf, &m, err, sizeof err)) {
		fprintf(stderr, "sentinel train: %s: %s\n", path, err);
		goto out;
	}
	if (ml_save(cfg_get(c, "out"), &m, &conf, err, sizeof err)) {
		fprintf(stderr, "sentinel train: %s\n", err);
		goto out;
	}
	printf("wrote %s/model.onnx and config.json: %d epochs, train_loss %.6f, val_loss %.6f, threshold %.6g (q=%g)\n",
	       cfg_get(c, "out"), conf.epochs, conf.train_loss, conf.val_loss, conf.threshold,
	       conf.quantile);
	code = 0;
out:
	ml_mlp_release(&m);
	ml_config_release(&conf);
	ml_table_release(&t);
	free(data);
	free(hidden);
	cfg_free(&c);
	return code;
}
