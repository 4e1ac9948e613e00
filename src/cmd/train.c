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

/* The options of the command line, by the names, ranges and defaults of
 * ml_trainer.h (the training job's too); *hidden is the caller's to
 * free. */
static int get_opts(const cfg *c, ml_fit_opts *o, int **hidden, char *err, size_t errlen)
{
	const char *name;
	ml_fit_opts_default(o);
	if (!cfg_get(c, "data") || !cfg_get(c, "out")) {
		snprintf(err, errlen, "--data and --out are required");
		return -EINVAL;
	}
	if (ml_widths_parse(cfg_get(c, "hidden"), hidden, &o->nhidden)) {
		snprintf(err, errlen, "--hidden: '%s' is not a list of 1 to %d widths (1..%d)",
			 cfg_get(c, "hidden"), ML_MAX_LAYERS - 1, ML_MAX_WIDTH);
		return -EINVAL;
	}
	o->hidden = *hidden;
	if (ml_act_parse(cfg_get(c, "activation"), &o->act)) {
		snprintf(err, errlen, "--activation: unknown activation '%s'", cfg_get(c, "activation"));
		return -EINVAL;
	}
	for (size_t i = 0; (name = ml_fit_opt_name(i)); i++) {
		char flag[32], *end, e[200];
		sn_strlcpy(flag, name, sizeof flag);
		for (char *q = flag; *q; q++)
			*q = *q == '_' ? '-' : *q;
		const char *s = cfg_get(c, flag);
		double v = strtod(s, &end);
		if (end == s || *end) {
			snprintf(err, errlen, "--%s: '%s' is not a number", flag, s);
			return -EINVAL;
		}
		if (ml_fit_opt_set(o, flag, v, e, sizeof e)) {
			snprintf(err, errlen, "--%s", e);
			return -EINVAL;
		}
	}
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
