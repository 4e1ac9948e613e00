/* sentinel model ls | show | push | pull | train | score | rm, and
 * sentinel detector ls | show | create | replay | anomalies | rm: the CLI
 * of the model registry and detectors (docs/metrics.md, "Models and
 * detectors"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "http/client.h"
#include "ml/ml_csv.h"
#include "model/model_client.h"

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
#define NOENV(name, arg, help) { name, arg, NULL, help, CFG_NOENV }
#define POLL_MS 500
#define SCORE_FILE_MAX ((size_t)256 << 20)

static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };
static const cfg_opt ls_opts[] = {
	NOENV("limit", "N", "show at most N items (default: all)"), CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt push_opts[] = {
	NOENV("name", "NAME", "the model's name (required)"), CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt pull_opts[] = {
	NOENV("output", "DIR", "the directory to write model.onnx and config.json into (also -o)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt train_opts[] = {
	NOENV("dataset", "NAME@V", "the dataset version to train on (a CSV file; required)"),
	NOENV("columns", "A,B,..", "numeric columns to use (default: all)"),
	NOENV("name", "NAME", "the model to register the result as (required)"),
	NOENV("hidden", "W,W,..", "hidden layer widths (default 16,8,16)"),
	NOENV("activation", "NAME", "relu, leakyrelu, sigmoid, tanh or identity"),
	NOENV("epochs", "N", "maximum epochs (default 50)"),
	NOENV("batch", "N", "rows per Adam step (default 256)"),
	NOENV("lr", "RATE", "Adam learning rate (default 1e-3)"),
	NOENV("seed", "N", "seed of the split, weights and batch order (default 1)"),
	NOENV("quantile", "Q", "anomaly threshold: this quantile of validation errors (0.99)"),
	NOENV("patience", "N", "early stopping patience in epochs (default 10)"),
	NOENV("val-fraction", "F", "share of rows held out for validation (default 0.2)"),
	NOENV("access", "A", "nodes it may run on: private (default), public"),
	{ "no-wait", NULL, NULL, "print the job id and return at once", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt score_opts[] = {
	NOENV("file", "CSV", "vectors: a CSV with a header row (required)"),
	NOENV("columns", "A,B,..", "the columns to use, in the model's feature order (default: all)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt det_create_opts[] = {
	NOENV("model", "NAME@V", "the model version (required)"),
	NOENV("agent", "AGENT", "the agent whose metrics it scores (required)"),
	NOENV("features", "M[:AGG],..", "one metric per model feature, in order (required)"),
	NOENV("step", "DUR", "bucket width and scoring interval (default 1m)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt range_opts[] = {
	NOENV("from", "TIME", "start: RFC 3339, unix ms, or 30m/1h/7d before now (default 1h)"),
	NOENV("to", "TIME", "end (default now)"),
	CLI_COMMON_OPTS, END_OPTS,
};

/* -o is the short form of --output. */
static int run(const cfg_spec *spec, int nargs, int argc, char **argv, cli_action_fn fn)
{
	static const char *const map[] = { "-o", "--output", NULL };
	return cli_run_short(spec, map, nargs, argc, argv, fn);
}

/* "M@v" or "M" into an escaped name and a version path segment. */
static int split_spec(const cli *c, const char *spec, char **name, char **ver)
{
	const char *at = strchr(spec, '@');
	size_t n = at ? (size_t)(at - spec) : strlen(spec);
	if (n == 0 || (at && !at[1])) {
		fprintf(stderr, "sentinel %s: '%s' is not NAME[@VERSION]\n", c->cmd, spec);
		return 2;
	}
	char *raw = xstrndup(spec, n);
	*name = cli_escape(raw);
	*ver = cli_escape(at ? at + 1 : "latest");
	free(raw);
	return 0;
}

/* ---- model ---- */

static int m_ls(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "name", "owner", "latest_version", "versions", "public",
					    "updated_at", NULL };
	(void)args;
	return cli_list(c, "/api/v1/models", conf, cols);
}

static void print_version(const json_t *v)
{
	char *name = cli_field(v, "model"), *kind = cli_field(v, "kind");
	char *up = cli_field(v, "uploader"), *job = cli_field(v, "job");
	char *at = cli_field(v, "created_at"), *feat = json_dumps(json_object_get(v, "features"),
								  JSON_COMPACT);
	printf("model %s@%lld\n", name, (long long)json_integer_value(json_object_get(v, "version")));
	printf("  %-12s %lld\n  %-12s %.9g\n  %-12s %s\n  %-12s %s\n", "dim",
	       (long long)json_integer_value(json_object_get(v, "dim")), "threshold",
	       json_number_value(json_object_get(v, "threshold")), "kind", kind, "features",
	       feat ? feat : "[]");
	printf("  %-12s %s\n  %-12s %s\n  %-12s %s\n", "uploader", up, "job", job, "created_at", at);
	free(name);
	free(kind);
	free(up);
	free(job);
	free(at);
	free(feat);
}

static int m_show(cli *c, const cfg *conf, char *const *args)
{
	char *name = NULL, *ver = NULL;
	json_t *v = NULL;
	int code = split_spec(c, args[0], &name, &ver);
	(void)conf;
	if (code)
		return code;
	char *path = xasprintf("/api/v1/models/%s/versions/%s", name, ver);
	if ((code = cli_call(c, "GET", path, NULL, &v)) == 0) {
		if (c->json)
			cli_print_json(v);
		else
			print_version(v);
	}
	json_decref(v);
	free(path);
	free(name);
	free(ver);
	return code;
}

static int m_push(cli *c, const cfg *conf, char *const *args)
{
	const char *name = cfg_get(conf, "name");
	if (!name || !*name) {
		fprintf(stderr, "sentinel %s: --name is required\n", c->cmd);
		return 2;
	}
	char *onnx = xasprintf("%s/model.onnx", args[0]), *config = xasprintf("%s/config.json", args[0]);
	char *en = cli_escape(name), *url = xasprintf("%s/api/v1/models/%s/versions", c->server, en);
	hc_part parts[2] = { { "model.onnx", onnx, "model.onnx" },
			     { "config.json", config, "config.json" } };
	hc_xfer x = { .body_fd = -1, .out_fd = -1, .parts = parts, .nparts = 2 };
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_resp r = { 0 };
	char err[512];
	int code = 1;
	if (access(onnx, R_OK) || access(config, R_OK)) {
		fprintf(stderr, "sentinel %s: %s must hold model.onnx and config.json\n", c->cmd,
			args[0]);
		code = 2;
	} else if (hc_transfer("POST", url, &o, &x, &r, err, sizeof err)) {
		fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", c->cmd, err);
	} else {
		json_t *j = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
		if (r.status / 100 == 2 && c->json) {
			cli_print_json(j);
			code = 0;
		} else if (r.status / 100 == 2) {
			printf("%s %s@%lld\n", json_is_true(json_object_get(j, "deduplicated"))
			       ? "unchanged:" : "pushed", name,
			       (long long)json_integer_value(json_object_get(j, "version")));
			code = 0;
		} else {
			cli_print_error(c, r.status, r.body, r.len);
		}
		json_decref(j);
	}
	hc_resp_release(&r);
	free(onnx);
	free(config);
	free(en);
	free(url);
	return code;
}

static int m_pull(cli *c, const cfg *conf, char *const *args)
{
	const char *out = cfg_get(conf, "output");
	model_conn mc = { c->server, c->token, c->insecure };
	json_t *v = NULL;
	char err[512];
	if (!out) {
		fprintf(stderr, "sentinel %s: -o DIR is required\n", c->cmd);
		return 2;
	}
	int rc = model_pull(&mc, args[0], out, &v, err, sizeof err);
	if (rc) {
		fprintf(stderr, "sentinel %s: %s\n", c->cmd, err);
		return rc == -EINVAL ? 2 : 1;
	}
	const char *at = strchr(args[0], '@');
	printf("wrote %s/model.onnx and config.json (%.*s@%lld)\n", out,
	       at ? (int)(at - args[0]) : (int)strlen(args[0]), args[0],
	       (long long)json_integer_value(json_object_get(v, "version")));
	json_decref(v);
	return 0;
}

/* The job's config: the training options given, numbers as numbers. */
static json_t *train_config(const cli *c, const cfg *conf)
{
	static const char *const nums[] = { "epochs", "batch", "lr", "seed", "quantile", "patience",
					    "val-fraction", NULL };
	json_t *p = cli_pack(c, "{s:s,s:s}", "dataset", cfg_get(conf, "dataset"), "model",
			     cfg_get(conf, "name"));
	const char *s;
	if (!p)
		return NULL;
	if ((s = cfg_get(conf, "columns")))
		json_object_set_new(p, "columns", json_string(s));
	if ((s = cfg_get(conf, "hidden")))
		json_object_set_new(p, "hidden", json_string(s));
	if ((s = cfg_get(conf, "activation")))
		json_object_set_new(p, "activation", json_string(s));
	for (int i = 0; nums[i]; i++) {
		char *end, key[32];
		if (!(s = cfg_get(conf, nums[i])))
			continue;
		double v = strtod(s, &end);
		if (end == s || *end) {
			fprintf(stderr, "sentinel %s: --%s: '%s' is not a number\n", c->cmd, nums[i], s);
			json_decref(p);
			return NULL;
		}
		snprintf(key, sizeof key, "%s", nums[i]);
		for (char *k = key; *k; k++)
			*k = *k == '-' ? '_' : *k;
		json_object_set_new(p, key, v == (double)(long long)v && strcmp(nums[i], "lr") &&
				    strcmp(nums[i], "quantile") && strcmp(nums[i], "val-fraction")
				    ? json_integer((long long)v) : json_real(v));
	}
	return p;
}

/* Polls the training record of job until it is no longer pending. */
static int train_wait(cli *c, const char *job)
{
	char *ej = cli_escape(job), *path = xasprintf("/api/v1/trainings/%s", ej);
	json_t *t = NULL;
	int code;
	for (;;) {
		json_decref(t);
		t = NULL;
		if ((code = cli_call(c, "GET", path, NULL, &t)))
			break;
		const char *st = json_string_value(json_object_get(t, "state"));
		if (st && strcmp(st, "pending") != 0) {
			if (c->json) {
				cli_print_json(t);
			} else if (strcmp(st, "registered") == 0) {
				char *m = cli_field(t, "model");
				printf("registered %s@%lld (job %s)\n", m,
				       (long long)json_integer_value(json_object_get(t, "version")), job);
				free(m);
			} else {
				char *e = cli_field(t, "error");
				fprintf(stderr, "sentinel %s: job %s: %s\n", c->cmd, job, e);
				free(e);
			}
			code = strcmp(st, "registered") == 0 ? 0 : 1;
			break;
		}
		usleep(POLL_MS * 1000);
	}
	json_decref(t);
	free(ej);
	free(path);
	return code;
}

static int m_train(cli *c, const cfg *conf, char *const *args)
{
	const char *ds = cfg_get(conf, "dataset"), *name = cfg_get(conf, "name");
	const char *acc = cfg_get(conf, "access");
	json_t *params, *body = NULL, *job = NULL;
	int code = 2;
	(void)args;
	if (!ds || !name) {
		fprintf(stderr, "sentinel %s: --dataset and --name are required\n", c->cmd);
		return 2;
	}
	if (!(params = train_config(c, conf)))
		return 2;
	char *jname = xasprintf("train %s", name);
	body = cli_pack(c, "{s:s,s:s,s:[s],s:o,s:s}", "name", jname, "program", "train", "inputs",
			ds, "config", params, "access", acc ? acc : "private");
	free(jname);
	if (body && (code = cli_call(c, "POST", "/api/v1/jobs", body, &job)) == 0) {
		const char *id = json_string_value(json_object_get(job, "id"));
		if (!id) {
			fprintf(stderr, "sentinel %s: the server answered no job id\n", c->cmd);
			code = 1;
		} else if (cfg_get_bool(conf, "no-wait")) {
			if (c->json)
				cli_print_json(job);
			else
				printf("%s\n", id);
		} else {
			if (!c->json)
				fprintf(stderr, "training job %s submitted; waiting\n", id);
			code = train_wait(c, id);
		}
	}
	json_decref(body);
	json_decref(job);
	return code;
}

/* The vectors of the CSV as {"vectors": [...]}. */
static int score_body(cli *c, const cfg *conf, json_t **out, size_t *rows)
{
	const char *path = cfg_get(conf, "file");
	char *data = NULL, err[512];
	size_t len = 0;
	ml_table t = { 0 };
	json_t *vec = json_array();
	int rc = sn_read_file(path, SCORE_FILE_MAX, &data, &len);
	if (rc) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, path, strerror(-rc));
		goto out;
	}
	if ((rc = ml_csv_read(data, len, cfg_get(conf, "columns"), &t, err, sizeof err))) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, path, err);
		goto out;
	}
	for (size_t i = 0; i < t.nrows; i++) {
		json_t *row = json_array();
		for (int j = 0; j < t.ncols; j++)
			json_array_append_new(row, json_real(t.x[i * (size_t)t.ncols + (size_t)j]));
		json_array_append_new(vec, row);
	}
	*rows = t.nrows;
	*out = json_pack("{s:O}", "vectors", vec);
	rc = *out ? 0 : -ENOMEM;
out:
	json_decref(vec);
	ml_table_release(&t);
	free(data);
	return rc;
}

/* Prints "score,flag" per row, as the engine answers (9 digits). */
static int m_score(cli *c, const cfg *conf, char *const *args)
{
	char *name = NULL, *ver = NULL, *path = NULL, num[24];
	json_t *body = NULL, *res = NULL;
	size_t rows = 0, i;
	int code = split_spec(c, args[0], &name, &ver);
	if (code)
		return code;
	if (!cfg_get(conf, "file")) {
		fprintf(stderr, "sentinel %s: --file is required\n", c->cmd);
		code = 2;
		goto out;
	}
	if (score_body(c, conf, &body, &rows)) {
		code = 1;
		goto out;
	}
	path = xasprintf("/api/v1/models/%s/score%s%s", name, strcmp(ver, "latest") ? "?version=" : "",
			 strcmp(ver, "latest") ? ver : "");
	if ((code = cli_call(c, "POST", path, body, &res)))
		goto out;
	if (c->json) {
		cli_print_json(res);
		goto out;
	}
	json_t *sc = json_object_get(res, "scores"), *fl = json_object_get(res, "flags");
	for (i = 0; i < json_array_size(sc) && i < rows; i++) {
		ml_format_float((float)json_number_value(json_array_get(sc, i)), num);
		printf("%s,%d\n", num, json_is_true(json_array_get(fl, i)));
	}
out:
	json_decref(body);
	json_decref(res);
	free(path);
	free(name);
	free(ver);
	return code;
}

static int m_rm(cli *c, const cfg *conf, char *const *args)
{
	const char *at = strchr(args[0], '@');
	char *raw = xstrndup(args[0], at ? (size_t)(at - args[0]) : strlen(args[0]));
	char *name = cli_escape(raw), *ver = at ? cli_escape(at + 1) : NULL;
	char *path = ver ? xasprintf("/api/v1/models/%s/versions/%s", name, ver)
			 : xasprintf("/api/v1/models/%s", name);
	json_t *res = NULL;
	(void)conf;
	int code = cli_call(c, "DELETE", path, NULL, &res);
	if (code == 0 && c->json)
		cli_print_json(res);
	else if (code == 0)
		printf("removed %s\n", args[0]);
	json_decref(res);
	free(raw);
	free(name);
	free(ver);
	free(path);
	return code;
}

/* ---- detector ---- */

static int d_ls(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "id", "model", "version", "agent", "step", "last_ts",
					    NULL };
	(void)args;
	return cli_list(c, "/api/v1/detectors", conf, cols);
}

/* GETs or DELETEs path and prints the JSON answer (or ok_msg). */
static int simple(cli *c, const char *method, const char *path, json_t *body, const char *ok_msg)
{
	json_t *res = NULL;
	int code = cli_call(c, method, path, body, &res);
	if (code == 0 && (c->json || !ok_msg))
		cli_print_json(res);
	else if (code == 0)
		printf("%s\n", ok_msg);
	json_decref(res);
	return code;
}

static int d_create(cli *c, const cfg *conf, char *const *args)
{
	const char *model = cfg_get(conf, "model"), *agent = cfg_get(conf, "agent");
	const char *feats = cfg_get(conf, "features"), *step = cfg_get(conf, "step");
	json_t *f = json_array(), *body, *res = NULL;
	(void)args;
	if (!model || !agent || !feats) {
		fprintf(stderr, "sentinel %s: --model, --agent and --features are required\n", c->cmd);
		json_decref(f);
		return 2;
	}
	char *copy = xstrdup(feats), *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(f, json_string(t));
	free(copy);
	body = cli_pack(c, "{s:s,s:s,s:o,s:s}", "model", model, "agent", agent, "features", f,
			"step", step ? step : "1m");
	if (!body)
		return 2;
	int code = cli_call(c, "POST", "/api/v1/detectors", body, &res);
	if (code == 0 && c->json)
		cli_print_json(res);
	else if (code == 0)
		printf("%s\n", json_string_value(json_object_get(res, "id")));
	json_decref(body);
	json_decref(res);
	return code;
}

static char *det_path(const char *id, const char *suffix)
{
	char *e = cli_escape(id), *p = xasprintf("/api/v1/detectors/%s%s", e, suffix);
	free(e);
	return p;
}

static int d_show(cli *c, const cfg *conf, char *const *args)
{
	char *p = det_path(args[0], "");
	(void)conf;
	int code = simple(c, "GET", p, NULL, NULL);
	free(p);
	return code;
}

static int d_rm(cli *c, const cfg *conf, char *const *args)
{
	char *p = det_path(args[0], "");
	(void)conf;
	int code = simple(c, "DELETE", p, NULL, "removed");
	free(p);
	return code;
}

/* ?from=&to= of the range options (escaped). */
static char *range_query(const cfg *conf)
{
	char *from = cli_time_arg(cfg_get(conf, "from") ? cfg_get(conf, "from") : "1h");
	char *to = cfg_get(conf, "to") ? cli_time_arg(cfg_get(conf, "to")) : xstrdup("now");
	char *ef = cli_escape(from), *et = cli_escape(to), *q = xasprintf("?from=%s&to=%s", ef, et);
	free(from);
	free(to);
	free(ef);
	free(et);
	return q;
}

static int d_replay(cli *c, const cfg *conf, char *const *args)
{
	char *q = range_query(conf), *suffix = xasprintf("/replay%s", q), *p = det_path(args[0], suffix);
	int code = simple(c, "POST", p, NULL, NULL);
	free(q);
	free(suffix);
	free(p);
	return code;
}

static int d_anomalies(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "time", "score", "threshold", NULL };
	char *q = range_query(conf), *suffix = xasprintf("/anomalies%s", q);
	char *p = det_path(args[0], suffix);
	json_t *res = NULL;
	int code = cli_call(c, "GET", p, NULL, &res);
	if (code == 0 && c->json)
		cli_print_json(res);
	else if (code == 0)
		cli_print_table(json_object_get(res, "items"), cols);
	json_decref(res);
	free(q);
	free(suffix);
	free(p);
	return code;
}

#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(m_ls_spec, "model ls", "", "List the models you may read.", ls_opts);
SPEC(m_show_spec, "model show", "NAME[@V]", "Show a version (default: the latest).", plain_opts);
SPEC(m_push_spec, "model push", "DIR --name NAME",
     "Push DIR/model.onnx and DIR/config.json as the model's next version.", push_opts);
SPEC(m_pull_spec, "model pull", "NAME[@V] -o DIR",
     "Download a version's model.onnx and config.json into DIR.", pull_opts);
SPEC(m_train_spec, "model train", "--dataset D@V --name NAME [--columns A,B] [options]",
     "Train an autoencoder on a node (a job of the built-in program train) and\n"
     "register it as the model's next version; waits unless --no-wait.", train_opts);
SPEC(m_score_spec, "model score", "NAME[@V] --file CSV [--columns A,B]",
     "Score the CSV's rows on the server; prints score,is_anomaly per row.", score_opts);
SPEC(m_rm_spec, "model rm", "NAME[@V]", "Remove a model, or one version (owner or admin).",
     plain_opts);
SPEC(d_ls_spec, "detector ls", "", "List your detectors (admins: all).", ls_opts);
SPEC(d_show_spec, "detector show", "ID", "Show a detector.", plain_opts);
SPEC(d_create_spec, "detector create",
     "--model M@V --agent AGENT --features M[:AGG],.. [--step 1m]",
     "Score an agent's metrics with a model every step.", det_create_opts);
SPEC(d_replay_spec, "detector replay", "ID [--from T] [--to T]",
     "Score the past buckets of a range (backfill).", range_opts);
SPEC(d_anom_spec, "detector anomalies", "ID [--from T] [--to T]",
     "List the buckets a detector flagged.", range_opts);
SPEC(d_rm_spec, "detector rm", "ID", "Remove a detector.", plain_opts);

static int m_ls_cmd(int argc, char **argv) { return run(&m_ls_spec, 0, argc, argv, m_ls); }
static int m_show_cmd(int argc, char **argv) { return run(&m_show_spec, 1, argc, argv, m_show); }
static int m_push_cmd(int argc, char **argv) { return run(&m_push_spec, 1, argc, argv, m_push); }
static int m_pull_cmd(int argc, char **argv) { return run(&m_pull_spec, 1, argc, argv, m_pull); }
static int m_train_cmd(int argc, char **argv) { return run(&m_train_spec, 0, argc, argv, m_train); }
static int m_score_cmd(int argc, char **argv) { return run(&m_score_spec, 1, argc, argv, m_score); }
static int m_rm_cmd(int argc, char **argv) { return run(&m_rm_spec, 1, argc, argv, m_rm); }
static int d_ls_cmd(int argc, char **argv) { return run(&d_ls_spec, 0, argc, argv, d_ls); }
static int d_show_cmd(int argc, char **argv) { return run(&d_show_spec, 1, argc, argv, d_show); }
static int d_create_cmd(int argc, char **argv) { return run(&d_create_spec, 0, argc, argv, d_create); }
static int d_replay_cmd(int argc, char **argv) { return run(&d_replay_spec, 1, argc, argv, d_replay); }
static int d_anom_cmd(int argc, char **argv) { return run(&d_anom_spec, 1, argc, argv, d_anomalies); }
static int d_rm_cmd(int argc, char **argv) { return run(&d_rm_spec, 1, argc, argv, d_rm); }

int cli_model_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", m_ls_cmd, "list models" },
		{ "show", m_show_cmd, "show a version" },
		{ "push", m_push_cmd, "push a model directory as a new version" },
		{ "pull", m_pull_cmd, "download a version" },
		{ "train", m_train_cmd, "train on a node and register the result" },
		{ "score", m_score_cmd, "score a CSV's rows on the server" },
		{ "rm", m_rm_cmd, "remove a model or a version" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("model", subs, argc, argv);
}

int cli_detector_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", d_ls_cmd, "list detectors" },
		{ "show", d_show_cmd, "show a detector" },
		{ "create", d_create_cmd, "create a detector" },
		{ "replay", d_replay_cmd, "score a past range" },
		{ "anomalies", d_anom_cmd, "list flagged buckets" },
		{ "rm", d_rm_cmd, "remove a detector" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("detector", subs, argc, argv);
}
