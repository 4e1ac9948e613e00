/* sentinel metrics push | query | export and sentinel agents ls | show: the
 * CLI of the metrics API (docs/metrics.md).
 *
 * push --file sends NDJSON and CSV (the export's two shapes, so an export
 * pushed back gives the same samples) as {"samples":[…]} requests of at
 * most PUSH_BATCH samples, and line protocol as /api/v1/metrics/write
 * requests of whole lines, at most PUSH_LP_BYTES each. Each request is all
 * or nothing at the server; a refused one stops the push, and the message
 * says which lines of the file it held and how many samples were stored
 * before it. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/csv.h"
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "http/client.h"
#include "metrics/mx.h"

/* Samples per JSON request: far below the server's 100,000 and 16 MiB. */
#define PUSH_BATCH 10000
/* Bytes of line protocol per request (the server takes 16 MiB). */
#define PUSH_LP_BYTES ((size_t)4 << 20)
/* An NDJSON line: a sample with 16 tags of 256 bytes fits in a few KiB. */
#define LINE_MAX_BYTES ((size_t)1 << 20)

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
static const cfg_opt push_opts[] = {
	{ "agent", "NAME", NULL, "the agent (with --file: for samples that name none)", CFG_NOENV },
	{ "metric", "NAME", NULL, "the metric of one sample", CFG_NOENV },
	{ "value", "V", NULL, "its value (a finite number)", CFG_NOENV },
	{ "tag", "K=V", NULL, "a tag of the sample", CFG_MULTI | CFG_NOENV },
	{ "ts", "T", NULL, "its time: unix ms, RFC 3339 or 30s/15m/1h before now (default: now)",
	  CFG_NOENV },
	{ "file", "FILE", NULL, "push the samples of FILE ('-': standard input) instead",
	  CFG_NOENV },
	{ "format", "FMT", NULL, "of --file: ndjson, csv (as exported) or lp (Influx line "
	  "protocol); default from the extension (.csv, .lp), else ndjson", CFG_NOENV },
	{ "precision", "P", "ns", "of line-protocol times: ns, us, ms or s", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
#define FILTER_OPTS \
	{ "agent", "NAME", NULL, "only this agent", CFG_NOENV }, \
	{ "tag", "K=V", NULL, "only series with this tag", CFG_MULTI | CFG_NOENV }, \
	{ "from", "T", NULL, "start: RFC 3339, unix ms, -1h or 1h (before now); default: an hour ago", \
	  CFG_NOENV }, \
	{ "to", "T", NULL, "end (excluded): as --from, or now (default)", CFG_NOENV }
static const cfg_opt query_opts[] = {
	{ "metric", "NAME", NULL, "the metric (required)", CFG_NOENV },
	FILTER_OPTS,
	{ "step", "DUR", "1m", "bucket width: 10s, 1m, 1h…", CFG_NOENV },
	{ "agg", "AGG", "avg", "avg, min, max, sum, count, rate, p50, p90, p95 or p99", CFG_NOENV },
	{ "by", "K[,K…]", NULL, "merge series by these tag keys ('agent' keeps agents apart)",
	  CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt export_opts[] = {
	{ "format", "FMT", "csv", "csv or ndjson", CFG_NOENV },
	{ "metric", "NAME", NULL, "only this metric (default: all)", CFG_NOENV },
	FILTER_OPTS,
	{ "output", "FILE", NULL, "write to FILE (-o; default: standard output)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt ls_opts[] = {
	{ "limit", "N", NULL, "show at most N agents (default: all)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt show_opts[] = {
	{ "from", "T", NULL, "summary start (default: an hour ago)", CFG_NOENV },
	{ "to", "T", NULL, "summary end (default: now)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};

/* ---- shared ---- */

/* Appends "&name=escaped(value)" to *q (a growing query string). */
static void q_add(char **q, const char *name, const char *value)
{
	char *e = cli_escape(value);
	char *n = xasprintf("%s%s%s=%s", *q, **q ? "&" : "", name, e);
	free(e);
	free(*q);
	*q = n;
}

/* The filters every read takes; 2 (printed) on a --tag without '='. */
static int q_filters(const cli *c, const cfg *conf, char **q)
{
	size_t n = 0;
	const char *const *tags = cfg_get_multi(conf, "tag", &n);
	static const char *const keys[] = { "metric", "agent", NULL };
	for (int i = 0; keys[i]; i++)
		if (cfg_get(conf, keys[i]))
			q_add(q, keys[i], cfg_get(conf, keys[i]));
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(tags[i], '=');
		if (!eq || eq == tags[i]) {
			fprintf(stderr, "sentinel %s: --tag %s: expected K=V\n", c->cmd, tags[i]);
			return 2;
		}
		char *k = xasprintf("tag.%.*s", (int)(eq - tags[i]), tags[i]);
		q_add(q, k, eq + 1);
		free(k);
	}
	static const char *const times[] = { "from", "to", NULL };
	for (int i = 0; times[i]; i++)
		if (cfg_get(conf, times[i])) {
			char *t = cli_time_arg(cfg_get(conf, times[i]));
			q_add(q, times[i], t);
			free(t);
		}
	return 0;
}


/* A JSON object of --tag pairs (NULL after printing why). */
static json_t *tags_object(const cli *c, const cfg *conf)
{
	size_t n = 0;
	const char *const *v = cfg_get_multi(conf, "tag", &n);
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++) {
		const char *eq = strchr(v[i], '=');
		if (!eq || eq == v[i]) {
			fprintf(stderr, "sentinel %s: --tag %s: expected K=V\n", c->cmd, v[i]);
			json_decref(o);
			return NULL;
		}
		char *k = xstrndup(v[i], (size_t)(eq - v[i]));
		int bad = json_object_set_new(o, k, json_string(eq + 1));
		free(k);
		if (bad) {
			fprintf(stderr, "sentinel %s: --tag %s: not UTF-8\n", c->cmd, v[i]);
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- push ---- */

typedef struct pusher {
	cli *c;
	const char *agent;     /* --agent: for samples that name none */
	json_t *batch;         /* the samples of the next request */
	uint64_t first_line;   /* the file line of its first sample */
	uint64_t last_line;
	uint64_t accepted;
	char why[512];         /* a local parse error */
} pusher;

/* Sends the batch; 0, or 1 after printing why. */
static int flush_batch(pusher *p)
{
	json_t *out = NULL;
	if (!json_array_size(p->batch))
		return 0;
	json_t *body = json_pack("{s:O}", "samples", p->batch);
	if (!body) {
		fprintf(stderr, "sentinel %s: out of memory\n", p->c->cmd);
		return 1;
	}
	int code = cli_call(p->c, "POST", "/api/v1/metrics", body, &out);
	json_decref(body);
	if (code) {
		/* cli_call printed the server's message, whose index is within
		 * this request: say where in the file that request began. */
		fprintf(stderr, "sentinel %s: the request held lines %llu-%llu of the file"
			" (samples[0] is line %llu); %llu samples were stored before it\n",
			p->c->cmd, (unsigned long long)p->first_line, (unsigned long long)p->last_line,
			(unsigned long long)p->first_line, (unsigned long long)p->accepted);
	} else {
		json_t *n = json_object_get(out, "accepted");
		p->accepted += json_is_integer(n) ? (uint64_t)json_integer_value(n)
						  : json_array_size(p->batch);
	}
	json_decref(out);
	json_array_clear(p->batch);
	return code;
}

/* Adds one sample (a reference is taken) read at line; sends a full batch. */
static int add_sample(pusher *p, json_t *s, uint64_t line)
{
	if (p->agent && !json_object_get(s, "agent") &&
	    json_object_set_new(s, "agent", json_string(p->agent)))
		return -ENOMEM;
	if (!json_array_size(p->batch))
		p->first_line = line;
	p->last_line = line;
	if (json_array_append(p->batch, s))
		return -ENOMEM;
	return json_array_size(p->batch) >= PUSH_BATCH ? (flush_batch(p) ? -EIO : 0) : 0;
}

static int push_ndjson(pusher *p, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	uint64_t no = 0;
	int rc = 0;
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		json_error_t jerr;
		no++;
		if ((size_t)len > LINE_MAX_BYTES) {
			snprintf(p->why, sizeof p->why, "line %llu: longer than %zu bytes",
				 (unsigned long long)no, LINE_MAX_BYTES);
			rc = -EINVAL;
			break;
		}
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue;
		json_t *s = json_loadb(line, (size_t)len, 0, &jerr);
		if (!json_is_object(s)) {
			snprintf(p->why, sizeof p->why, "line %llu: %s", (unsigned long long)no,
				 s ? "not a JSON object" : jerr.text);
			rc = -EINVAL;
		} else {
			rc = add_sample(p, s, no);
		}
		json_decref(s);
	}
	free(line);
	if (!rc && ferror(f)) {
		snprintf(p->why, sizeof p->why, "cannot read: %s", strerror(errno));
		rc = -EIO;
	}
	return rc;
}

/* "k=v;k=v" (the export's tags column): keys are [A-Za-z0-9_.-], so a
 * ';' starts a new pair only where a key and '=' follow; a value holding
 * ";k=" cannot be told apart and is split there. */
static json_t *parse_tag_list(const char *s, size_t n)
{
	json_t *o = json_object();
	const char *end = s + n, *p = s;
	while (o && p < end) {
		const char *eq = memchr(p, '=', (size_t)(end - p));
		if (!eq || eq == p) {
			json_decref(o);
			return NULL;
		}
		const char *v = eq + 1, *q = v;
		for (;; q++) {
			q = memchr(q, ';', (size_t)(end - q));
			if (!q) {
				q = end;
				break;
			}
			size_t k = strspn(q + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789_.-");
			if (k && q + 1 + k < end && q[1 + k] == '=')
				break;
		}
		char *key = xstrndup(p, (size_t)(eq - p)), *val = xstrndup(v, (size_t)(q - v));
		if (json_object_set_new(o, key, json_string(val)))
			json_decref(o), o = NULL;
		free(key);
		free(val);
		p = q < end ? q + 1 : end;
	}
	return o;
}

struct csv_push {
	pusher *p;
	int col[5]; /* agent, metric, ts, value, tags: field index, or -1 */
};

static int csv_record(void *ud, uint64_t row, uint64_t line, const csv_field *f, size_t nf)
{
	static const char *const names[] = { "agent", "metric", "ts", "value", "tags" };
	struct csv_push *cp = ud;
	pusher *p = cp->p;
	if (row == 0) {
		for (int k = 0; k < 5; k++) {
			cp->col[k] = -1;
			for (size_t i = 0; i < nf; i++)
				if (strcmp(f[i].p, names[k]) == 0)
					cp->col[k] = (int)i;
		}
		if (cp->col[1] < 0 || cp->col[3] < 0 || (cp->col[0] < 0 && !p->agent)) {
			snprintf(p->why, sizeof p->why, "line %llu: the header must name agent, metric,"
				 " ts, value and tags (as exported)", (unsigned long long)line);
			return -EINVAL;
		}
		return 0;
	}
	char *end;
	const csv_field *ts = cp->col[2] >= 0 ? &f[cp->col[2]] : NULL;
	const csv_field *tg = cp->col[4] >= 0 ? &f[cp->col[4]] : NULL;
	double v = strtod(f[cp->col[3]].p, &end);
	if (end == f[cp->col[3]].p || *end || !isfinite(v)) {
		snprintf(p->why, sizeof p->why, "line %llu: value: not a finite number",
			 (unsigned long long)line);
		return -EINVAL;
	}
	json_t *s = json_pack("{s:s%,s:f}", "metric", f[cp->col[1]].p, f[cp->col[1]].n, "value", v);
	json_t *tags = tg && tg->n ? parse_tag_list(tg->p, tg->n) : NULL;
	int rc = !s || (tg && tg->n && !tags) ? -EINVAL : 0;
	if (!rc && cp->col[0] >= 0 && f[cp->col[0]].n)
		rc = json_object_set_new(s, "agent", json_stringn(f[cp->col[0]].p, f[cp->col[0]].n));
	if (!rc && ts && ts->n) {
		long long t = strtoll(ts->p, &end, 10);
		/* An integer is unix ms; anything else goes as text (RFC 3339). */
		rc = json_object_set_new(s, "ts", *end ? json_stringn(ts->p, ts->n) : json_integer(t));
	}
	if (!rc && tags)
		rc = json_object_set(s, "tags", tags);
	if (rc)
		snprintf(p->why, sizeof p->why, "line %llu: cannot read the sample (tags are k=v;k=v)",
			 (unsigned long long)line);
	else
		rc = add_sample(p, s, line);
	json_decref(tags);
	json_decref(s);
	return rc ? -EINVAL : 0;
}

static int push_csv(pusher *p, FILE *f)
{
	struct csv_push cp = { .p = p };
	csv_reader *r = csv_new(',', csv_record, &cp);
	char buf[65536];
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(buf, 1, sizeof buf, f)) > 0)
		rc = csv_feed(r, buf, n);
	if (!rc && ferror(f)) {
		snprintf(p->why, sizeof p->why, "cannot read: %s", strerror(errno));
		rc = -EIO;
	}
	if (!rc)
		rc = csv_finish(r);
	uint64_t line, field;
	const char *e = csv_error(r, &line, &field);
	/* A callback error wrote why already; a CSV syntax error did not. */
	if (rc && e && !p->why[0])
		snprintf(p->why, sizeof p->why, "line %llu, field %llu: %s", (unsigned long long)line,
			 (unsigned long long)field, e);
	csv_free(&r);
	return rc;
}

/* Line protocol: whole lines, up to PUSH_LP_BYTES per request. */
static int push_lp(pusher *p, FILE *f, const cfg *conf)
{
	char *path = xstrdup("");
	q_add(&path, "precision", cfg_get(conf, "precision"));
	if (p->agent)
		q_add(&path, "agent", p->agent);
	char *url = xasprintf("%s/api/v1/metrics/write?%s", p->c->server, path);
	char *chunk = xmalloc(PUSH_LP_BYTES), *line = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	uint64_t no = 0, first = 1, lines = 0;
	int rc = 0, eof = 0;
	while (!rc && !eof) {
		n = getline(&line, &cap, f);
		eof = n < 0;
		if (!eof) {
			no++;
			if ((size_t)n > PUSH_LP_BYTES) {
				snprintf(p->why, sizeof p->why, "line %llu: longer than %zu bytes",
					 (unsigned long long)no, PUSH_LP_BYTES);
				rc = -EINVAL;
				break;
			}
		}
		/* Send what is held when this line would not fit, or at the end. */
		if (len && (eof || len + (size_t)n > PUSH_LP_BYTES)) {
			hc_opts o = { .token = p->c->token, .insecure = p->c->insecure };
			hc_xfer x = { .content_type = "text/plain; charset=utf-8", .body = chunk,
				      .body_size = len, .body_fd = -1, .out_fd = -1 };
			hc_resp r = { 0 };
			char err[512];
			if (hc_transfer("POST", url, &o, &x, &r, err, sizeof err)) {
				fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", p->c->cmd, err);
				rc = -EIO;
			} else if (r.status < 200 || r.status >= 300) {
				cli_print_error(p->c, r.status, r.body, r.len);
				fprintf(stderr, "sentinel %s: the request held lines %llu-%llu of the file"
					" (its line 1 is line %llu)\n", p->c->cmd,
					(unsigned long long)first, (unsigned long long)(no - !eof),
					(unsigned long long)first);
				rc = -EIO;
			} else {
				lines = no - !eof;
			}
			hc_resp_release(&r);
			len = 0;
			first = no;
		}
		if (!rc && !eof) {
			memcpy(chunk + len, line, (size_t)n);
			len += (size_t)n;
		}
	}
	if (!rc)
		printf("pushed %llu line%s of line protocol\n", (unsigned long long)lines,
		       lines == 1 ? "" : "s");
	free(line);
	free(chunk);
	free(url);
	free(path);
	return rc;
}

static const char *file_format(const cfg *conf, const char *file)
{
	const char *fmt = cfg_get(conf, "format");
	size_t n = strlen(file);
	if (fmt)
		return fmt;
	if (n > 4 && strcmp(file + n - 4, ".csv") == 0)
		return "csv";
	if (n > 3 && strcmp(file + n - 3, ".lp") == 0)
		return "lp";
	return "ndjson";
}

static int push_file(cli *c, const cfg *conf, const char *file)
{
	const char *fmt = file_format(conf, file);
	pusher p = { .c = c, .agent = cfg_get(conf, "agent"), .batch = json_array() };
	if (strcmp(fmt, "ndjson") && strcmp(fmt, "csv") && strcmp(fmt, "lp")) {
		fprintf(stderr, "sentinel %s: --format must be ndjson, csv or lp\n", c->cmd);
		json_decref(p.batch);
		return 2;
	}
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	if (!f) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, file, strerror(errno));
		json_decref(p.batch);
		return 1;
	}
	int rc = strcmp(fmt, "lp") == 0	    ? push_lp(&p, f, conf)
		 : strcmp(fmt, "csv") == 0 ? push_csv(&p, f)
					   : push_ndjson(&p, f);
	if (!rc && strcmp(fmt, "lp"))
		rc = flush_batch(&p) ? -EIO : 0;
	if (rc && p.why[0])
		fprintf(stderr, "sentinel %s: %s: %s (%llu samples stored before)\n", c->cmd, file,
			p.why, (unsigned long long)p.accepted);
	else if (!rc && strcmp(fmt, "lp"))
		printf("pushed %llu sample%s\n", (unsigned long long)p.accepted,
		       p.accepted == 1 ? "" : "s");
	if (f != stdin)
		fclose(f);
	json_decref(p.batch);
	return rc ? 1 : 0;
}

static int push_one(cli *c, const cfg *conf)
{
	const char *agent = cfg_get(conf, "agent"), *metric = cfg_get(conf, "metric");
	const char *value = cfg_get(conf, "value"), *ts = cfg_get(conf, "ts");
	json_t *out = NULL, *tags;
	char *end;
	if (!agent || !metric || !value) {
		fprintf(stderr, "sentinel %s: give --agent, --metric and --value (or --file)\n", c->cmd);
		return 2;
	}
	double v = strtod(value, &end);
	if (end == value || *end || !isfinite(v)) {
		fprintf(stderr, "sentinel %s: --value must be a finite number\n", c->cmd);
		return 2;
	}
	if (!(tags = tags_object(c, conf)))
		return 2;
	json_t *body = cli_pack(c, "{s:s,s:s,s:f,s:o}", "agent", agent, "metric", metric, "value", v,
				"tags", tags);
	if (!body)
		return 2;
	if (ts) {
		long long t = strtoll(ts, &end, 10);
		char *when = *end || end == ts ? cli_time_arg(ts) : NULL;
		int bad = json_object_set_new(body, "ts", when ? json_string(when) : json_integer(t));
		free(when);
		if (bad) {
			fprintf(stderr, "sentinel %s: --ts: not UTF-8\n", c->cmd);
			json_decref(body);
			return 2;
		}
	}
	int code = cli_call(c, "POST", "/api/v1/metrics", body, &out);
	if (!code && c->json)
		cli_print_json(out);
	else if (!code)
		printf("pushed 1 sample\n");
	json_decref(out);
	json_decref(body);
	return code;
}

static int push_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)args;
	const char *file = cfg_get(conf, "file");
	if (file && (cfg_get(conf, "metric") || cfg_get(conf, "value"))) {
		fprintf(stderr, "sentinel %s: --file goes without --metric and --value\n", c->cmd);
		return 2;
	}
	return file ? push_file(c, conf, file) : push_one(c, conf);
}

/* ---- query ---- */

/* The tags object as "k=v,k=v" ("-" when none). */
static char *tags_text(const json_t *tags)
{
	const char *k;
	json_t *v;
	char *s = xstrdup("");
	json_object_foreach((json_t *)tags, k, v) {
		char *t = xasprintf("%s%s%s=%s", s, *s ? "," : "", k,
				    json_is_string(v) ? json_string_value(v) : "");
		free(s);
		s = t;
	}
	if (!*s) {
		free(s);
		s = xstrdup("-");
	}
	return s;
}

/* The answer as rows agent, metric, tags, time, value (one per point). */
static json_t *query_rows(const json_t *series)
{
	json_t *rows = json_array(), *s, *pt;
	size_t i, j;
	json_array_foreach(series, i, s) {
		json_t *agent = json_object_get(s, "agent");
		char *tags = tags_text(json_object_get(s, "tags"));
		json_array_foreach(json_object_get(s, "points"), j, pt) {
			char when[40], val[40];
			json_t *ts = json_array_get(pt, 0), *v = json_array_get(pt, 1);
			sn_time_format(json_is_integer(ts) ? (int64_t)json_integer_value(ts) : 0, when,
				       sizeof when);
			snprintf(val, sizeof val, "%.10g", json_number_value(v));
			json_t *row = json_pack("{s:O,s:O,s:s,s:s,s:s}", "agent",
						agent ? agent : json_null(), "metric",
						json_object_get(s, "metric") ?: json_null(), "tags", tags,
						"time", when, "value", val);
			if (!rows || !row || json_array_append_new(rows, row)) {
				json_decref(row);
				break;
			}
		}
		free(tags);
	}
	return rows;
}

static int query_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "agent", "metric", "tags", "time", "value", NULL };
	char *q = xstrdup("");
	json_t *out = NULL;
	int code;
	(void)args;
	if (!cfg_get(conf, "metric")) {
		fprintf(stderr, "sentinel %s: --metric is required\n", c->cmd);
		free(q);
		return 2;
	}
	if ((code = q_filters(c, conf, &q)))
		goto out;
	q_add(&q, "step", cfg_get(conf, "step"));
	q_add(&q, "agg", cfg_get(conf, "agg"));
	if (cfg_get(conf, "by"))
		q_add(&q, "by", cfg_get(conf, "by"));
	char *path = xasprintf("/api/v1/metrics/query?%s", q);
	code = cli_call(c, "GET", path, NULL, &out);
	free(path);
	if (!code && c->json) {
		cli_print_json(out);
	} else if (!code) {
		json_t *rows = query_rows(json_object_get(out, "series"));
		if (json_array_size(rows))
			cli_print_table(rows, cols);
		else
			fprintf(stderr, "sentinel %s: no samples in the range\n", c->cmd);
		json_decref(rows);
	}
out:
	json_decref(out);
	free(q);
	return code;
}

/* ---- export ---- */

static int export_fn(cli *c, const cfg *conf, char *const *args)
{
	const char *fmt = cfg_get(conf, "format"), *target = cfg_get(conf, "output");
	char *q = xstrdup(""), *tmp = NULL, *url = NULL;
	int fd = 1, code;
	(void)args;
	if (strcmp(fmt, "csv") && strcmp(fmt, "ndjson")) {
		fprintf(stderr, "sentinel %s: --format must be csv or ndjson\n", c->cmd);
		free(q);
		return 2;
	}
	q_add(&q, "format", fmt);
	if ((code = q_filters(c, conf, &q)))
		goto out;
	code = 1;
	if (target && strcmp(target, "-")) {
		/* Beside the target and renamed at the end: a failed export leaves
		 * no half file under the asked name. */
		tmp = xasprintf("%s.partXXXXXX", target);
		if ((fd = mkstemp(tmp)) < 0) {
			fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, target, strerror(errno));
			goto out;
		}
		mode_t um = umask(0);
		umask(um);
		fchmod(fd, 0666 & ~um);
	}
	url = xasprintf("%s/api/v1/metrics/export?%s", c->server, q);
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_xfer x = { .body_fd = -1, .out_fd = fd };
	hc_resp r = { 0 };
	char err[512];
	if (hc_transfer("GET", url, &o, &x, &r, err, sizeof err))
		fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", c->cmd, err);
	else if (r.status != 200)
		cli_print_error(c, r.status, r.body, r.len);
	else if (tmp && (fsync(fd) || rename(tmp, target)))
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, target, strerror(errno));
	else
		code = 0;
	hc_resp_release(&r);
out:
	if (tmp && fd >= 0) {
		close(fd);
		if (code)
			unlink(tmp);
	}
	free(tmp);
	free(url);
	free(q);
	return code;
}

/* ---- agents ---- */

static int ls_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "name", "status", "last_seen", "owner", NULL };
	(void)args;
	return cli_list(c, "/api/v1/agents", conf, cols);
}

static void print_number(const char *label, const json_t *v)
{
	if (json_is_number(v))
		printf("  %-14s %.10g\n", label, json_number_value(v));
}

static void print_summary(const json_t *s)
{
	static const char *const num[] = { "calls", "errors", "error_rate", "tokens_in",
					   "tokens_out", "cost_usd", NULL };
	static const char *const cols[] = { "model", "calls", "errors", "error_rate", "p50", "p95",
					    "p99", "tokens_in", "tokens_out", "cost_usd", NULL };
	char *from = cli_field(s, "from"), *to = cli_field(s, "to");
	printf("\nsummary %s .. %s\n", from, to);
	free(from);
	free(to);
	for (int i = 0; num[i]; i++)
		print_number(num[i], json_object_get(s, num[i]));
	json_t *lat = json_object_get(s, "latency_ms");
	if (json_is_object(lat))
		printf("  %-14s p50 %.6g  p95 %.6g  p99 %.6g\n", "latency_ms",
		       json_number_value(json_object_get(lat, "p50")),
		       json_number_value(json_object_get(lat, "p95")),
		       json_number_value(json_object_get(lat, "p99")));
	json_t *by = json_object_get(s, "by_model"), *m, *rows = json_array();
	size_t i;
	/* One row per model, the latency percentiles lifted to columns of
	 * their own, numbers printed short (a table cell would print a real
	 * 1 as 1.0 and a percentile with 17 digits). */
	json_array_foreach(by, i, m) {
		json_t *row = json_object(), *l = json_object_get(m, "latency_ms");
		int bad = !row || !rows || json_object_set(row, "model", json_object_get(m, "model") ?: json_null());
		for (int k = 1; !bad && cols[k]; k++) {
			json_t *v = json_object_get(m, cols[k]);
			if (!v && json_is_object(l))
				v = json_object_get(l, cols[k]);
			char num[40] = "-";
			if (json_is_number(v))
				snprintf(num, sizeof num, "%.6g", json_number_value(v));
			bad = json_object_set_new(row, cols[k], json_string(num));
		}
		if (bad || json_array_append_new(rows, row)) {
			json_decref(row);
			break;
		}
	}
	if (json_array_size(rows)) {
		printf("\n");
		cli_print_table(rows, cols);
	}
	json_decref(rows);
}

static void print_agent(const json_t *a)
{
	static const char *const str[] = { "status", "owner", "first_seen", "last_seen", NULL };
	char *name = cli_field(a, "name"), *tags = tags_text(json_object_get(a, "tags"));
	printf("agent %s\n", name);
	for (int i = 0; str[i]; i++) {
		char *v = cli_field(a, str[i]);
		printf("  %-14s %s\n", str[i], v);
		free(v);
	}
	printf("  %-14s %s\n", "public", json_is_true(json_object_get(a, "public")) ? "yes" : "no");
	printf("  %-14s %s\n", "tags", tags);
	free(tags);
	free(name);
	json_t *metrics = json_object_get(a, "metrics"), *v, *rows = json_array();
	const char *k;
	json_object_foreach(metrics, k, v) {
		char when[40], val[40];
		json_t *ts = json_object_get(v, "ts");
		if (json_is_integer(ts))
			sn_time_format((int64_t)json_integer_value(ts), when, sizeof when);
		else
			snprintf(when, sizeof when, "%s", json_string_value(ts) ?: "-");
		snprintf(val, sizeof val, "%.10g", json_number_value(json_object_get(v, "value")));
		json_t *row = json_pack("{s:s,s:s,s:s}", "metric", k, "value", val, "time", when);
		if (!rows || !row || json_array_append_new(rows, row)) {
			json_decref(row);
			break;
		}
	}
	if (json_array_size(rows)) {
		static const char *const cols[] = { "metric", "value", "time", NULL };
		printf("\n");
		cli_print_table(rows, cols);
	}
	json_decref(rows);
}

static int show_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *a = NULL, *s = NULL;
	char *e = cli_escape(args[0]), *q = xstrdup("");
	char *path = xasprintf("/api/v1/agents/%s", e);
	int code = q_filters(c, conf, &q);
	if (code || (code = cli_call(c, "GET", path, NULL, &a)))
		goto out;
	free(path);
	path = xasprintf("/api/v1/agents/%s/summary%s%s", e, *q ? "?" : "", q);
	if ((code = cli_call(c, "GET", path, NULL, &s)))
		goto out;
	if (c->json) {
		json_t *both = json_pack("{s:O,s:O}", "agent", a, "summary", s);
		if (both)
			cli_print_json(both);
		code = both ? 0 : 1;
		json_decref(both);
	} else {
		print_agent(a);
		print_summary(s);
	}
out:
	json_decref(a);
	json_decref(s);
	free(path);
	free(q);
	free(e);
	return code;
}

/* ---- dispatch ---- */

#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(push_spec, "metrics push",
     "--agent A --metric M --value V [--tag K=V]... [--ts T] | --file F [--format ndjson|csv|lp]",
     "Push one sample, or the samples of a file: NDJSON or CSV as 'metrics export'\n"
     "writes them, or Influx line protocol (--format lp, --precision). Each request\n"
     "is stored whole or not at all; a refused one stops the push.", push_opts);
SPEC(query_spec, "metrics query",
     "--metric M [--agent A] [--tag K=V]... [--from -1h] [--to now] [--step 1m] [--agg avg]"
     " [--by K]",
     "Aggregate a metric into buckets and print one row per point.", query_opts);
SPEC(export_spec, "metrics export", "[--format csv|ndjson] [filters] [-o FILE]",
     "Stream raw samples (no aggregation) to FILE or standard output; 'metrics push\n"
     "--file' takes the file back.", export_opts);
SPEC(ls_spec, "agents ls", "", "List the agents you may see: status, last seen, owner.",
     ls_opts);
SPEC(show_spec, "agents show", "AGENT [--from T] [--to T]",
     "Show an agent: its metrics' last values, its tags, and the summary of its\n"
     "LLM calls (calls, errors, latency percentiles, tokens, cost, by model).", show_opts);

static int m_push(int argc, char **argv) { return cli_run(&push_spec, 0, argc, argv, push_fn); }
static int m_query(int argc, char **argv) { return cli_run(&query_spec, 0, argc, argv, query_fn); }
static int m_export(int argc, char **argv)
{
	static const char *const map[] = { "-o", "--output", NULL };
	return cli_run_short(&export_spec, map, 0, argc, argv, export_fn);
}
static int a_ls(int argc, char **argv) { return cli_run(&ls_spec, 0, argc, argv, ls_fn); }
static int a_show(int argc, char **argv) { return cli_run(&show_spec, 1, argc, argv, show_fn); }

int cli_metrics_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "push", m_push, "push samples (one, or a file)" },
		{ "query", m_query, "aggregate a metric over time" },
		{ "export", m_export, "stream raw samples as CSV or NDJSON" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("metrics", subs, argc, argv);
}

int cli_agents_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "ls", a_ls, "list agents" },
		{ "show", a_show, "show an agent and its summary" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("agents", subs, argc, argv);
}
