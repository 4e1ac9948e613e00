/* sentinel job submit | ls | show | logs | cancel | retry | artifacts: the
 * CLI of the jobs API (docs/jobs.md, "User routes"; the CLI's expectations
 * of it in its "CLI" section).
 *
 * Following a job (submit --follow, logs -f) runs two things side by side:
 * a thread holds GET /jobs/{id}/logs?follow=1 open and curl writes the
 * event stream into an unlinked temporary file; the main thread polls
 * GET /jobs/{id}, redraws the progress bar and prints the log lines that
 * arrived in the file since the last poll. Only the main thread prints, so
 * the bar and the lines never interleave mid-line. The stream thread is
 * stopped through hc_transfer's progress callback (an atomic flag). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/buf.h"
#include "base/mem.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "http/client.h"

#define POLL_MS 250            /* job status polls while following */
#define STREAM_GRACE_MS 1500   /* after the job ends: the log stream's time to close by itself */
#define LINE_MAX_BYTES (1 << 20) /* one SSE line; the server caps a log batch at 1 MiB */
#define EXIT_INTERRUPTED 130


/* ---- options ---- */

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
#define NOENV(name, arg, help) { name, arg, NULL, help, CFG_NOENV }
#define MULTI(name, arg, help) { name, arg, NULL, help, CFG_MULTI | CFG_NOENV }
static const cfg_opt submit_opts[] = {
	NOENV("script", "NAME@V", "run this script (with --runtime)"),
	NOENV("runtime", "R", "the script's runtime: host (default), an image or a venv"),
	NOENV("program", "P", "a built-in program instead: noop, sleep, montecarlo-pi"),
	NOENV("name", "NAME", "the job's name (default: the script's or program's)"),
	MULTI("input", "DATASET@V", "a dataset the chunks read under /data (repeatable)"),
	MULTI("arg", "ARG", "an argument of the script or program (repeatable)"),
	MULTI("env", "K=V", "an environment variable of the chunks (repeatable)"),
	NOENV("iterations", "N", "total iterations, split into chunks"),
	NOENV("chunk-size", "C", "iterations per chunk (server default 1000)"),
	NOENV("mem", "SIZE", "memory limit per chunk, e.g. 512M or 2G"),
	NOENV("time", "DUR", "time limit per chunk, e.g. 90s or 1h"),
	NOENV("cpus", "N", "CPUs per chunk"),
	NOENV("gpus", "N", "GPUs per chunk"),
	NOENV("network", "MODE", "none (default) or egress"),
	NOENV("max-attempts", "N", "attempts per chunk before the job fails (server default 3)"),
	NOENV("access", "A", "nodes it may run on: private (yours), public, or "
	      "user:U,group:G,..."),
	NOENV("priority", "P", "orders your own pending jobs (higher first)"),
	MULTI("after", "ID", "start once this job completed; fail if it failed (repeatable)"),
	{ "follow", NULL, NULL, "wait: progress, live log lines, then the result (exit 1 unless "
	  "completed)", CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt ls_opts[] = {
	NOENV("state", "S", "only jobs in this state: pending, running, completed, failed, cancelled"),
	{ "all", NULL, NULL, "every job you may see (admins: everyone's), not only yours",
	  CFG_FLAG | CFG_NOENV },
	NOENV("limit", "N", "show at most N items (default: all)"),
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };
static const cfg_opt logs_opts[] = {
	{ "follow", NULL, NULL, "print new lines as they come until the job ends (also -f)",
	  CFG_FLAG | CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt artifacts_opts[] = {
	NOENV("output", "DIR", "download them into DIR (also -o), each checked against its sha256"),
	CLI_COMMON_OPTS, END_OPTS,
};

/* -f and -o are the short forms of --follow and --output; cfg knows long
 * flags only, so they are rewritten before parsing. */
static int run(const cfg_spec *spec, int nargs, int argc, char **argv, cli_action_fn fn)
{
	static const char *const map[] = { "-f", "--follow", "-o", "--output", NULL };
	return cli_run_short(spec, map, nargs, argc, argv, fn);
}

static char *job_path(const char *id, const char *suffix)
{
	char *e = cli_escape(id);
	char *p = xasprintf("/api/v1/jobs/%s%s", e, suffix);
	free(e);
	return p;
}

/* ---- printing ---- */

/* Text from the server (a log line) on f: raw into a file or a pipe; on a
 * terminal with control bytes escaped but tabs kept, so that a job's output
 * cannot drive the user's terminal. */
static void put_text(FILE *f, const char *s, size_t n)
{
	if (!isatty(fileno(f))) {
		fwrite(s, 1, n, f);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t' && ch != '\n') || ch == 0x7f)
			fprintf(f, "\\x%02x", ch);
		else
			fputc(ch, f);
	}
}

static long long jint(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A number for a table cell. */
static json_t *num(double v, int integer)
{
	char s[64];
	if (integer)
		snprintf(s, sizeof s, "%.0f", v);
	else
		snprintf(s, sizeof s, "%.8g", v);
	return json_string(s);
}

/* The result's statistics as a table: stat, n, mean, std, min, max. std
 * is the sample standard deviation, from m2 when the server gave none. */
static void print_result(const json_t *job)
{
	static const char *const cols[] = { "stat", "n", "mean", "std", "min", "max", NULL };
	json_t *stats = json_object_get(json_object_get(job, "result"), "stats"), *s;
	json_t *rows = json_array();
	const char *name;
	if (!json_object_size(stats) || !rows) {
		json_decref(rows);
		return;
	}
	json_object_foreach(stats, name, s) {
		double n = json_number_value(json_object_get(s, "n"));
		json_t *sd = json_object_get(s, "std");
		double std = json_is_number(sd) ? json_number_value(sd)
			     : n > 1 ? sqrt(json_number_value(json_object_get(s, "m2")) / (n - 1)) : 0;
		json_t *r = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o}", "stat", name, "n", num(n, 1), "mean",
				      num(json_number_value(json_object_get(s, "mean")), 0), "std",
				      num(std, 0), "min",
				      num(json_number_value(json_object_get(s, "min")), 0), "max",
				      num(json_number_value(json_object_get(s, "max")), 0));
		/* A stat name that is not UTF-8 cannot come from jansson; a NULL
		 * row is out of memory: print what there is. */
		if (!r || json_array_append_new(rows, r))
			break;
	}
	printf("\n");
	cli_print_table(rows, cols);
	json_decref(rows);
}

static void print_chunks(const json_t *job)
{
	json_t *ch = json_object_get(job, "chunks");
	printf("  %-14s %lld total: %lld completed, %lld running, %lld pending, %lld failed, "
	       "%lld cancelled\n", "chunks", jint(ch, "total"), jint(ch, "completed"),
	       jint(ch, "running"), jint(ch, "pending"), jint(ch, "failed"), jint(ch, "cancelled"));
}

static void print_job(const json_t *job)
{
	static const char *const keys[] = { "owner", "state", "reason", "created_at", "started_at",
					    "finished_at", "config_sha256", NULL };
	char *id = cli_field(job, "id"), *name = cli_field(job, "name");
	printf("job %s (%s)\n", id, name);
	free(id);
	free(name);
	for (int i = 0; keys[i]; i++) {
		char *v = cli_field(job, keys[i]);
		printf("  %-14s %s\n", keys[i], v);
		free(v);
	}
	json_t *tot = json_object_get(job, "total_iterations");
	long long done = jint(job, "completed_iterations");
	if (json_is_integer(tot) && json_integer_value(tot) > 0)
		printf("  %-14s %lld/%lld iterations (%lld%%)\n", "progress", done,
		       (long long)json_integer_value(tot), done * 100 / json_integer_value(tot));
	else
		printf("  %-14s %lld iterations\n", "progress", done);
	print_chunks(job);
	printf("  %-14s %lld\n", "priority", jint(job, "priority"));
	json_t *dep = json_object_get(job, "depends_on"), *d;
	size_t i;
	printf("  %-14s", "depends_on");
	json_array_foreach(dep, i, d) {
		json_t *o = json_pack("{s:O}", "v", d);
		char *s = o ? cli_field(o, "v") : xstrdup("?");
		printf(" %s", s);
		free(s);
		json_decref(o);
	}
	printf("%s\n", json_array_size(dep) ? "" : " -");
	print_result(job);
}

static int terminal_state(const json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "state")) ?: "";
	return strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 ||
	       strcmp(s, "cancelled") == 0;
}

/* ---- the progress bar (iterations, or chunks without iterations) ---- */

static int bar_on_screen;

static void bar_clear(void)
{
	if (bar_on_screen)
		fprintf(stderr, "\r\033[K");
	bar_on_screen = 0;
}

static void bar_draw(const json_t *job, int64_t t0_ns)
{
	json_t *ch = json_object_get(job, "chunks");
	long long total = jint(job, "total_iterations"), done = jint(job, "completed_iterations");
	const char *unit = "it";
	if (total <= 0) {
		total = jint(ch, "total");
		done = jint(ch, "completed");
		unit = "chunks";
	}
	int pct = total > 0 ? (int)(done * 100 / total) : 0;
	int fill = pct * 24 / 100;
	double secs = (double)(sn_mono_ns() - t0_ns) / 1e9;
	char eta[32] = "--:--";
	if (done > 0 && total >= done && secs > 0) {
		long s = (long)((double)(total - done) * secs / (double)done);
		snprintf(eta, sizeof eta, "%02ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	}
	char *state = cli_field(job, "state");
	fprintf(stderr, "\r%s [%.*s%*s] %3d%% %lld/%lld %s, %lld running, %lld failed, ETA %s\033[K",
		state, fill, "########################", 24 - fill, "", pct, done, total, unit,
		jint(ch, "running"), jint(ch, "failed"), eta);
	fflush(stderr);
	free(state);
	bar_on_screen = 1;
}

/* ---- the log stream ---- */

struct stream {
	cli *c;
	char *path;
	int fd;              /* the unlinked file curl writes the event stream into */
	pthread_t th;
	int started;
	atomic_int stop;     /* set by the main thread: end the transfer */
	atomic_int finished; /* set by the stream thread when hc_transfer returned */
	long status;         /* the HTTP status (0: transport error) */
	off_t off;           /* bytes of fd already parsed */
	buf line;            /* a line not yet ended by '\n' */
	int dropping;        /* the current line went over LINE_MAX_BYTES */
	buf data;            /* the data lines of the event being read */
	char event[32];
	int ended;           /* an "end" event arrived */
	FILE *out;
};

static int stream_progress(void *ud, int64_t done, int64_t total)
{
	struct stream *s = ud;
	(void)done;
	(void)total;
	return atomic_load(&s->stop) || cli_interrupted();
}

static void *stream_main(void *ud)
{
	struct stream *s = ud;
	hc_opts o = { .token = s->c->token, .insecure = s->c->insecure };
	hc_xfer x = { .body_fd = -1, .out_fd = s->fd, .progress = stream_progress,
		      .progress_ud = s };
	hc_resp r = { 0 };
	char err[256];
	char *url = xasprintf("%s%s", s->c->server, s->path);
	if (hc_transfer("GET", url, &o, &x, &r, err, sizeof err) == 0)
		s->status = r.status;
	hc_resp_release(&r);
	free(url);
	atomic_store(&s->finished, 1);
	return NULL;
}

/* One event: a JSON object's "text" after "[chunk#attempt] " (docs/jobs.md,
 * CLI), else the data as it came. */
static void stream_event(struct stream *s)
{
	if (strcmp(s->event, "end") == 0)
		s->ended = 1;
	if (!s->data.len || (s->event[0] && strcmp(s->event, "log") != 0 &&
			     strcmp(s->event, "message") != 0)) {
		buf_reset(&s->data);
		return;
	}
	json_t *j = json_loadb(s->data.data, s->data.len, 0, NULL);
	json_t *lines = json_object_get(j, "lines"), *l;
	size_t i;
	bar_clear();
	if (json_is_string(json_object_get(j, "text"))) {
		const char *t = json_string_value(json_object_get(j, "text"));
		json_t *ck = json_object_get(j, "chunk"), *at = json_object_get(j, "attempt");
		/* The same "[chunk#attempt] " as the whole log's lines. */
		if (json_is_integer(ck) && json_is_integer(at))
			fprintf(s->out, "[%lld#%lld] ", (long long)json_integer_value(ck),
				(long long)json_integer_value(at));
		put_text(s->out, t, strlen(t));
		if (!*t || t[strlen(t) - 1] != '\n')
			fputc('\n', s->out);
	} else if (json_is_array(lines)) {
		json_array_foreach(lines, i, l) {
			const char *t = json_string_value(json_object_get(l, "text"));
			put_text(s->out, t ? t : "", t ? strlen(t) : 0);
			fputc('\n', s->out);
		}
	} else {
		put_text(s->out, s->data.data, s->data.len);
		fputc('\n', s->out);
	}
	json_decref(j);
	buf_reset(&s->data);
}

/* One line of the event stream (SSE: "event:", "data:", ":" comments, a
 * blank line ends an event). */
static void stream_line(struct stream *s, char *l, size_t n)
{
	if (n && l[n - 1] == '\r')
		l[--n] = '\0';
	if (n == 0) {
		stream_event(s);
		s->event[0] = '\0';
	} else if (strncmp(l, "data:", 5) == 0) {
		const char *v = l + 5 + (l[5] == ' ');
		/* Over the cap, the event is cut: a line is never held whole. */
		if (s->data.len)
			buf_puts(&s->data, "\n");
		buf_append(&s->data, v, n - (size_t)(v - l));
	} else if (strncmp(l, "event:", 6) == 0) {
		snprintf(s->event, sizeof s->event, "%s", l + 6 + (l[6] == ' '));
	}
}

/* Parses what the stream wrote since the last call and prints it. */
static void stream_drain(struct stream *s)
{
	char b[65536];
	ssize_t r;
	while ((r = pread(s->fd, b, sizeof b, s->off)) > 0) {
		s->off += r;
		for (char *p = b, *end = b + r; p < end;) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = (size_t)((nl ? nl : end) - p);
			/* A line over the cap is dropped whole, up to its end. */
			if (!s->dropping && buf_append(&s->line, p, n))
				s->dropping = 1;
			if (!nl)
				break;
			p = nl + 1;
			if (!s->dropping && s->line.data)
				stream_line(s, s->line.data, s->line.len);
			buf_reset(&s->line);
			s->dropping = 0;
		}
	}
	fflush(s->out);
}

static int stream_start(struct stream *s, cli *c, const char *id, FILE *out)
{
	char tmpl[] = "/tmp/sentinel-logs.XXXXXX";
	memset(s, 0, sizeof *s);
	s->c = c;
	s->out = out;
	buf_init(&s->line, LINE_MAX_BYTES);
	buf_init(&s->data, LINE_MAX_BYTES);
	const char *td = getenv("TMPDIR");
	char *path = td && *td ? xasprintf("%s/sentinel-logs.XXXXXX", td) : xstrdup(tmpl);
	s->fd = mkstemp(path);
	if (s->fd >= 0)
		unlink(path);
	free(path);
	if (s->fd < 0) {
		fprintf(stderr, "sentinel %s: cannot follow the logs: %s\n", c->cmd, strerror(errno));
		return -errno;
	}
	s->path = job_path(id, "/logs?follow=1");
	if (pthread_create(&s->th, NULL, stream_main, s) != 0) {
		fprintf(stderr, "sentinel %s: cannot follow the logs: no thread\n", c->cmd);
		return -EAGAIN;
	}
	s->started = 1;
	return 0;
}

/* Lets the stream close by itself for a while (the server ends it after
 * the job's last line), then stops it and prints the rest. */
static void stream_stop(struct stream *s, int64_t grace_ms)
{
	int64_t until = sn_mono_ns() + grace_ms * 1000000;
	while (s->started && !atomic_load(&s->finished) && !s->ended && sn_mono_ns() < until) {
		stream_drain(s);
		usleep(20000);
	}
	atomic_store(&s->stop, 1);
	if (s->started)
		pthread_join(s->th, NULL);
	s->started = 0;
	if (s->fd >= 0) {
		stream_drain(s);
		close(s->fd);
	}
	s->fd = -1;
	buf_release(&s->line);
	buf_release(&s->data);
	free(s->path);
	s->path = NULL;
}

/* Follows job id until it ends: the bar (with bar, on a terminal), the log
 * lines, then, with result, the result. *job gets the last state. 0, 1
 * (the server refused a poll) or EXIT_INTERRUPTED. */
static int follow(cli *c, const char *id, int bar, json_t **job)
{
	struct stream s;
	char *path = job_path(id, "");
	int64_t t0 = sn_mono_ns();
	int code = 0;
	bar = bar && isatty(2);
	cli_trap_interrupt();
	/* With --json, stdout holds the final JSON alone: lines go to stderr. */
	if (stream_start(&s, c, id, c->json ? stderr : stdout))
		s.started = 0;
	for (;;) {
		json_t *j = NULL;
		if ((code = cli_call(c, "GET", path, NULL, &j)) != 0) {
			json_decref(j);
			break;
		}
		json_decref(*job);
		*job = j;
		if (s.fd >= 0)
			stream_drain(&s);
		if (terminal_state(j))
			break;
		if (bar)
			bar_draw(j, t0);
		for (int i = 0; i < POLL_MS / 10 && !cli_interrupted(); i++)
			usleep(10000);
		if (cli_interrupted()) {
			code = EXIT_INTERRUPTED;
			break;
		}
	}
	if (bar && *job && !code)
		bar_draw(*job, t0);
	bar_clear();
	stream_stop(&s, code ? 0 : STREAM_GRACE_MS);
	if (code == EXIT_INTERRUPTED)
		fprintf(stderr, "sentinel %s: interrupted; job %s goes on (sentinel job cancel %s "
			"stops it)\n", c->cmd, id, id);
	free(path);
	return code;
}

/* ---- submit ---- */

/* o[key] = v, v consumed; -1 (out of memory, or v NULL: not UTF-8). */
static int put(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v);
}

/* A positive (or, with min 0, non-negative) integer flag into *v; 0 when
 * absent or good, 2 (after one line) when malformed. */
static int int_flag(const cli *c, const cfg *conf, const char *name, long long min, long long *v,
		    int *given)
{
	char err[128];
	*given = cfg_get(conf, name) != NULL;
	if (!*given)
		return 0;
	if (cfg_get_int(conf, name, v, err, sizeof err) || *v < min || *v > INT32_MAX) {
		fprintf(stderr, "sentinel %s: --%s must be a whole number from %lld\n", c->cmd, name,
			min);
		return 2;
	}
	return 0;
}

/* "private", "public" or "user:U,group:G,..." */
static int access_value(const cli *c, const char *a, json_t **out)
{
	if (strcmp(a, "private") == 0 || strcmp(a, "public") == 0) {
		*out = json_string(a);
		return *out ? 0 : 2;
	}
	json_t *users = json_array(), *groups = json_array();
	char *copy = xstrdup(a), *save = NULL;
	int code = users && groups ? 0 : 2;
	for (char *t = strtok_r(copy, ",", &save); t && !code; t = strtok_r(NULL, ",", &save)) {
		json_t *to = strncmp(t, "user:", 5) == 0 ? users : strncmp(t, "group:", 6) == 0 ? groups
												 : NULL;
		const char *v = t + (to == users ? 5 : 6);
		if (!to || !*v) {
			fprintf(stderr, "sentinel %s: --access takes private, public or a list like "
				"user:alice,group:ml (not '%s')\n", c->cmd, t);
			code = 2;
		} else if (json_array_append_new(to, json_string(v))) {
			fprintf(stderr, "sentinel %s: --access: names must be UTF-8\n", c->cmd);
			code = 2;
		}
	}
	if (!code && !json_array_size(users) && !json_array_size(groups)) {
		fprintf(stderr, "sentinel %s: --access: give private, public or user:U,group:G\n",
			c->cmd);
		code = 2;
	}
	*out = code ? NULL : json_pack("{s:O,s:O}", "users", users, "groups", groups);
	if (!code && !*out)
		code = 2;
	json_decref(users);
	json_decref(groups);
	free(copy);
	return code;
}

/* An array of strings from a repeatable flag. NULL: out of memory or not
 * UTF-8 (reported). */
static json_t *str_array(const cli *c, const cfg *conf, const char *name)
{
	size_t n;
	const char *const *v = cfg_get_multi(conf, name, &n);
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i]))) {
			json_decref(a);
			a = NULL;
		}
	if (!a)
		fprintf(stderr, "sentinel %s: --%s: values must be UTF-8\n", c->cmd, name);
	return a;
}

static int env_value(const cli *c, const cfg *conf, json_t **out)
{
	size_t n;
	const char *const *v = cfg_get_multi(conf, "env", &n);
	json_t *o = json_object();
	int code = o ? 0 : 2;
	for (size_t i = 0; !code && i < n; i++) {
		const char *eq = strchr(v[i], '=');
		if (!eq || eq == v[i]) {
			fprintf(stderr, "sentinel %s: --env takes NAME=VALUE (not '%s')\n", c->cmd, v[i]);
			code = 2;
			break;
		}
		char *k = xstrndup(v[i], (size_t)(eq - v[i]));
		if (json_object_set_new(o, k, json_string(eq + 1))) {
			fprintf(stderr, "sentinel %s: --env: names and values must be UTF-8\n", c->cmd);
			code = 2;
		}
		free(k);
	}
	if (code)
		json_decref(o);
	*out = code ? NULL : o;
	return code;
}

/* The limits object from --mem, --time, --cpus, --gpus, --network. */
static int limits_value(const cli *c, const cfg *conf, json_t *lim)
{
	char err[128];
	long long v;
	int given, code = 0;
	if (cfg_get(conf, "mem")) {
		uint64_t b;
		if (cfg_get_size(conf, "mem", &b, err, sizeof err) || b == 0 || b > ((uint64_t)1 << 50)) {
			fprintf(stderr, "sentinel %s: --mem must be a size like 512M or 2G (not '%s')\n",
				c->cmd, cfg_get(conf, "mem"));
			return 2;
		}
		/* Whole MiB, rounded up: a limit is never lowered. */
		code |= put(lim, "memory_mb", json_integer((json_int_t)((b + (1 << 20) - 1) >> 20)));
	}
	if (cfg_get(conf, "time")) {
		int64_t ms;
		if (cfg_get_duration_ms(conf, "time", &ms, err, sizeof err) || ms <= 0) {
			fprintf(stderr, "sentinel %s: --time must be a duration like 90s, 15m or 2h "
				"(not '%s')\n", c->cmd, cfg_get(conf, "time"));
			return 2;
		}
		code |= put(lim, "time_s", json_integer((ms + 999) / 1000));
	}
	if (int_flag(c, conf, "cpus", 1, &v, &given))
		return 2;
	if (given)
		code |= put(lim, "cpus", json_integer(v));
	if (int_flag(c, conf, "gpus", 0, &v, &given))
		return 2;
	if (given)
		code |= put(lim, "gpus", json_integer(v));
	const char *net = cfg_get(conf, "network");
	if (net && strcmp(net, "none") && strcmp(net, "egress")) {
		fprintf(stderr, "sentinel %s: --network must be none or egress (not '%s')\n", c->cmd,
			net);
		return 2;
	}
	if (net)
		code |= put(lim, "network", json_string(net));
	return code ? 2 : 0;
}

/* The POST /api/v1/jobs body from the flags. 0, or 2 after one line. */
static int submit_body(const cli *c, const cfg *conf, json_t **out)
{
	const char *script = cfg_get(conf, "script"), *program = cfg_get(conf, "program");
	const char *name = cfg_get(conf, "name"), *acc = cfg_get(conf, "access");
	json_t *b = json_object(), *lim = json_object(), *v = NULL;
	long long n;
	int given, code = 2, bad = !b || !lim;
	if (!script == !program) {
		fprintf(stderr, "sentinel %s: give --script NAME@V or --program P (one of them)\n",
			c->cmd);
		goto out;
	}
	if (cfg_get(conf, "runtime") && !script) {
		fprintf(stderr, "sentinel %s: --runtime goes with --script\n", c->cmd);
		goto out;
	}
	char *dflt = xstrndup(script ? script : program, strcspn(script ? script : program, "@"));
	bad |= put(b, "name", json_string(name ? name : dflt));
	free(dflt);
	bad |= put(b, script ? "script" : "program", json_string(script ? script : program));
	if (cfg_get(conf, "runtime"))
		bad |= put(b, "runtime", json_string(cfg_get(conf, "runtime")));
	if (!(v = str_array(c, conf, "input")) || put(b, "inputs", v) ||
	    !(v = str_array(c, conf, "arg")) || put(b, "args", v) ||
	    !(v = str_array(c, conf, "after")) || put(b, "depends_on", v))
		goto out;
	if (env_value(c, conf, &v) || put(b, "env", v))
		goto out;
	if (limits_value(c, conf, lim))
		goto out;
	if (json_object_size(lim))
		bad |= put(b, "limits", json_incref(lim));
	if (int_flag(c, conf, "iterations", 1, &n, &given))
		goto out;
	if (given)
		bad |= put(b, "total_iterations", json_integer(n));
	if (int_flag(c, conf, "chunk-size", 1, &n, &given))
		goto out;
	if (given && !cfg_get(conf, "iterations")) {
		fprintf(stderr, "sentinel %s: --chunk-size goes with --iterations\n", c->cmd);
		goto out;
	}
	if (given)
		bad |= put(b, "chunk_size", json_integer(n));
	if (int_flag(c, conf, "max-attempts", 1, &n, &given))
		goto out;
	if (given)
		bad |= put(b, "max_attempts", json_integer(n));
	if (cfg_get(conf, "priority")) {
		char err[128];
		if (cfg_get_int(conf, "priority", &n, err, sizeof err) || n < INT32_MIN || n > INT32_MAX) {
			fprintf(stderr, "sentinel %s: --priority must be a whole number\n", c->cmd);
			goto out;
		}
		bad |= put(b, "priority", json_integer(n));
	}
	if (acc && (access_value(c, acc, &v) || put(b, "access", v)))
		goto out;
	if (bad) {
		fprintf(stderr, "sentinel %s: cannot encode the request (text must be UTF-8)\n", c->cmd);
		goto out;
	}
	*out = b;
	b = NULL;
	code = 0;
out:
	json_decref(b);
	json_decref(lim);
	return code;
}

static int submit_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *body = NULL, *job = NULL;
	char *jid = NULL;
	(void)args;
	int code = submit_body(c, conf, &body);
	if (code)
		return code;
	code = cli_call(c, "POST", "/api/v1/jobs", body, &job);
	json_decref(body);
	const char *id = json_string_value(json_object_get(job, "id"));
	if (!code && !id) {
		fprintf(stderr, "sentinel %s: the server's job has no id\n", c->cmd);
		code = 1;
	}
	if (code)
		goto out;
	if (!c->json || !cfg_get_bool(conf, "follow")) {
		if (c->json) {
			cli_print_json(job);
		} else {
			char *sid = cli_field(job, "id"), *name = cli_field(job, "name");
			printf("Submitted job %s (%s, %lld chunk%s)\n", sid, name,
			       jint(json_object_get(job, "chunks"), "total"),
			       jint(json_object_get(job, "chunks"), "total") == 1 ? "" : "s");
			free(sid);
			free(name);
		}
		fflush(stdout);
	}
	if (!cfg_get_bool(conf, "follow"))
		goto out;
	/* follow replaces job: id is kept apart. */
	jid = xstrdup(id);
	if ((code = follow(c, jid, 1, &job)) != 0)
		goto out;
	if (c->json) {
		cli_print_json(job);
	} else {
		char *state = cli_field(job, "state"), *reason = cli_field(job, "reason");
		printf("Job %s: %s%s%s\n", jid, state, strcmp(reason, "-") ? ": " : "",
		       strcmp(reason, "-") ? reason : "");
		free(state);
		free(reason);
		print_result(job);
	}
	code = strcmp(json_string_value(json_object_get(job, "state")) ?: "", "completed") ? 1 : 0;
out:
	free(jid);
	json_decref(job);
	return code;
}

/* ---- ls, show, cancel, retry ---- */

/* Appends "&key=escaped(val)" (or "?...") to *path when val is set. */
static void add_query(char **path, const char *key, const char *val)
{
	if (!val)
		return;
	char *e = cli_escape(val);
	char *p = xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, e);
	free(e);
	free(*path);
	*path = p;
}

/* Without --all, the caller's own jobs (owner = the caller's name, as
 * GET /me gives it): admins see everyone's otherwise. */
static int ls_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "id", "name", "owner", "state", "completed_iterations",
					    "total_iterations", "created_at", NULL };
	char *path = xstrdup("/api/v1/jobs");
	json_t *me = NULL;
	int code = 0;
	(void)args;
	if (!cfg_get_bool(conf, "all") && (code = cli_call(c, "GET", "/api/v1/me", NULL, &me)) == 0)
		add_query(&path, "owner", json_string_value(json_object_get(me, "username")));
	add_query(&path, "state", cfg_get(conf, "state"));
	if (!code)
		code = cli_list(c, path, conf, cols);
	json_decref(me);
	free(path);
	return code;
}

static int show_fn(cli *c, const cfg *conf, char *const *args)
{
	json_t *job = NULL;
	char *path = job_path(args[0], "");
	(void)conf;
	int code = cli_call(c, "GET", path, NULL, &job);
	if (!code && c->json)
		cli_print_json(job);
	else if (!code)
		print_job(job);
	json_decref(job);
	free(path);
	return code;
}

static int post_fn(cli *c, const char *id, const char *what, const char *done)
{
	json_t *job = NULL;
	char *path = job_path(id, what);
	int code = cli_call(c, "POST", path, NULL, &job);
	if (!code && c->json) {
		cli_print_json(job);
	} else if (!code) {
		char *state = cli_field(job, "state");
		printf("%s job %s (%s)\n", done, id, state);
		free(state);
	}
	json_decref(job);
	free(path);
	return code;
}

static int cancel_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return post_fn(c, args[0], "/cancel", "Cancelled");
}

static int retry_fn(cli *c, const cfg *conf, char *const *args)
{
	(void)conf;
	return post_fn(c, args[0], "/retry", "Retrying the failed chunks of");
}

/* ---- logs ---- */

/* The whole log (text/plain) through a temporary file: it may be larger
 * than a reply held in memory. */
static int logs_whole(cli *c, const char *id)
{
	char *path = job_path(id, "/logs"), *url = xasprintf("%s%s", c->server, path);
	const char *td = getenv("TMPDIR");
	char *tmp = xasprintf("%s/sentinel-logs.XXXXXX", td && *td ? td : "/tmp");
	int fd = mkstemp(tmp), code = 1;
	hc_resp r = { 0 };
	char err[512];
	if (fd < 0) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, tmp, strerror(errno));
		goto out;
	}
	unlink(tmp);
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_xfer x = { .body_fd = -1, .out_fd = fd };
	if (hc_transfer("GET", url, &o, &x, &r, err, sizeof err)) {
		fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", c->cmd, err);
		goto out;
	}
	if (r.status != 200) {
		cli_print_error(c, r.status, r.body, r.len);
		goto out;
	}
	char b[65536];
	ssize_t n;
	off_t off = 0;
	while ((n = pread(fd, b, sizeof b, off)) > 0) {
		put_text(stdout, b, (size_t)n);
		off += n;
	}
	code = 0;
out:
	if (fd >= 0)
		close(fd);
	hc_resp_release(&r);
	free(tmp);
	free(url);
	free(path);
	return code;
}

static int logs_fn(cli *c, const cfg *conf, char *const *args)
{
	if (!cfg_get_bool(conf, "follow"))
		return logs_whole(c, args[0]);
	json_t *job = NULL;
	int code = follow(c, args[0], 0, &job);
	json_decref(job);
	return code;
}

/* ---- artifacts ---- */


static int is_sha256(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* GET /api/v1/blobs/{sha} into a temporary file beside target, checked,
 * then renamed: target is never half written. 0 or 1. */
static int fetch_blob(cli *c, const char *sha, const char *target)
{
	char *tmp = xasprintf("%s.partXXXXXX", target), *url = NULL;
	int fd = mkstemp(tmp), code = 1;
	hc_resp r = { 0 };
	char err[512], got[65] = "";
	if (fd < 0) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, target, strerror(errno));
		free(tmp);
		return 1;
	}
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	url = xasprintf("%s/api/v1/blobs/%s", c->server, sha);
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_xfer x = { .body_fd = -1, .out_fd = fd };
	if (hc_transfer("GET", url, &o, &x, &r, err, sizeof err))
		fprintf(stderr, "sentinel %s: cannot reach the server: %s\n", c->cmd, err);
	else if (r.status != 200)
		fprintf(stderr, "sentinel %s: %s: the server answered HTTP %ld\n", c->cmd, sha, r.status);
	else if (fsync(fd) || sn_sha256_file(tmp, got))
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, tmp, strerror(errno));
	else if (strcmp(got, sha) != 0)
		fprintf(stderr, "sentinel %s: %s: the download does not match its sha256 %s\n", c->cmd,
			target, sha);
	else if (rename(tmp, target))
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, target, strerror(errno));
	else
		code = 0;
	close(fd);
	if (code)
		unlink(tmp);
	hc_resp_release(&r);
	free(url);
	free(tmp);
	return code;
}

/* The artifact list of a job: the list shape, or a bare array. */
static json_t *artifact_items(json_t *reply)
{
	if (json_is_array(reply))
		return reply;
	json_t *a = json_object_get(reply, "items");
	return json_is_array(a) ? a : json_object_get(reply, "artifacts");
}

static int artifacts_fn(cli *c, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "path", "bytes", "sha256", "chunk", NULL };
	const char *dir = cfg_get(conf, "output");
	char *path = job_path(args[0], "/artifacts");
	json_t *reply = NULL, *a;
	size_t i;
	long long bytes = 0;
	int code = cli_call(c, "GET", path, NULL, &reply);
	json_t *items = artifact_items(reply);
	if (code)
		goto out;
	if (!json_is_array(items)) {
		fprintf(stderr, "sentinel %s: the server's answer has no artifact list\n", c->cmd);
		code = 1;
		goto out;
	}
	if (!dir) {
		if (c->json)
			cli_print_json(reply);
		else
			cli_print_table(items, cols);
		goto out;
	}
	cli_trap_interrupt();
	json_array_foreach(items, i, a) {
		const char *rel = json_string_value(json_object_get(a, "path"));
		const char *sha = json_string_value(json_object_get(a, "sha256"));
		if (!rel || !cli_safe_rel(rel) || !is_sha256(sha)) {
			char *s = cli_field(a, "path");
			fprintf(stderr, "sentinel %s: refusing the artifact '%s'\n", c->cmd, s);
			free(s);
			code = 1;
			break;
		}
		char *target = xasprintf("%s/%s", dir, rel), *d = xstrdup(target);
		*strrchr(d, '/') = '\0';
		if (sn_mkdir_p(d, 0755)) {
			fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, d, strerror(errno));
			code = 1;
		} else {
			code = fetch_blob(c, sha, target);
		}
		free(d);
		free(target);
		if (code || cli_interrupted()) {
			code = code ? code : EXIT_INTERRUPTED;
			break;
		}
		bytes += jint(a, "bytes");
	}
	if (!code && c->json)
		cli_print_json(reply);
	else if (!code)
		printf("Downloaded %zu artifact%s (%lld bytes) to %s\n", json_array_size(items),
		       json_array_size(items) == 1 ? "" : "s", bytes, dir);
out:
	json_decref(reply);
	free(path);
	return code;
}

/* ---- dispatch ---- */

#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(submit_spec, "job submit",
     "(--script NAME@V [--runtime R] | --program P) [--iterations N --chunk-size C] "
     "[--input D@V]... [--mem 2G --time 1h ...] [--follow]",
     "Submit a job: its chunks run on the nodes you may use. With --follow,\n"
     "wait for it: a progress bar on a terminal, the log lines as they come,\n"
     "then the result table; exit 0 when it completed, 1 otherwise.", submit_opts);
SPEC(ls_spec, "job ls", "[--state S] [--all]", "List your jobs (--all: every job you may see).",
     ls_opts);
SPEC(show_spec, "job show", "ID",
     "Show a job: state, progress, chunk counts, the merged result.", plain_opts);
SPEC(logs_spec, "job logs", "ID [-f]",
     "Print a job's log (every chunk and attempt); -f follows it until the job ends.",
     logs_opts);
SPEC(cancel_spec, "job cancel", "ID",
     "Cancel a job: pending chunks are dropped, running ones killed.", plain_opts);
SPEC(retry_spec, "job retry", "ID", "Run a job's failed chunks again.", plain_opts);
SPEC(artifacts_spec, "job artifacts", "ID [-o DIR]",
     "List the files a job's chunks left; -o downloads them into DIR.", artifacts_opts);

static int job_submit(int argc, char **argv) { return run(&submit_spec, 0, argc, argv, submit_fn); }
static int job_ls(int argc, char **argv) { return run(&ls_spec, 0, argc, argv, ls_fn); }
static int job_show(int argc, char **argv) { return run(&show_spec, 1, argc, argv, show_fn); }
static int job_logs(int argc, char **argv) { return run(&logs_spec, 1, argc, argv, logs_fn); }
static int job_cancel(int argc, char **argv) { return run(&cancel_spec, 1, argc, argv, cancel_fn); }
static int job_retry(int argc, char **argv) { return run(&retry_spec, 1, argc, argv, retry_fn); }
static int job_artifacts(int argc, char **argv)
{
	return run(&artifacts_spec, 1, argc, argv, artifacts_fn);
}

int cli_job_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "submit", job_submit, "submit a job (--follow: wait for its result)" },
		{ "ls", job_ls, "list jobs" },
		{ "show", job_show, "show a job, its progress and result" },
		{ "logs", job_logs, "print (or follow) a job's log" },
		{ "cancel", job_cancel, "cancel a job" },
		{ "retry", job_retry, "re-run a job's failed chunks" },
		{ "artifacts", job_artifacts, "list or download a job's output files" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("job", subs, argc, argv);
}
