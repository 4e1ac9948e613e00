/* `sentinel collect --server URL --agent NAME [--interval 1s] [--tag k=v]…
 * -- CMD…`: runs CMD and pushes the figures of its process tree (CPU %,
 * RSS, threads, processes and, with nvidia-smi on PATH, GPU figures; names
 * in agent/agent_metrics.h) to POST /api/v1/metrics until CMD exits, then
 * exits with CMD's status (128 + the signal that killed it).
 *
 * Invariants:
 * 1. CMD never waits on us: the main thread only samples, forwards
 *    signals and reaps; pushes run on the sender thread, which takes whole
 *    batches from a queue of at most QUEUE_MAX (beyond, the oldest batch is
 *    dropped and counted: a dead server costs bounded memory).
 * 2. We are a child subreaper, so descendants orphaned inside the tree come
 *    back to us; the main thread alone reaps (wait4 on any child) and adds
 *    each reaped child's CPU time (its children's included) to reaped_us,
 *    so the tree's CPU time never loses what exited. nvidia-smi runs on the
 *    main thread too and is reaped by its pid there, never counted.
 * 3. Signals INT, TERM, HUP and QUIT sent to us by a process are passed to
 *    CMD; the terminal's own (si_code SI_KERNEL) already reached CMD, which
 *    shares our process group, and are not sent twice.
 * 4. After CMD exits, the queue gets FLUSH_MS to drain, then what is left
 *    is reported as lost and we exit. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "agent/agent_metrics.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "cli/cli.h"
#include "cmd/commands.h"
#include "http/client.h"
#include "metrics/mx.h"

extern char **environ;

/* Batches (one per interval) waiting to be sent: at 1 s, ~17 minutes. */
#define QUEUE_MAX 1024
/* Batches merged into one request while catching up. */
#define SEND_MERGE 64
#define PUSH_TIMEOUT_S 10L
#define BACKOFF_MAX_MS 30000
#define FLUSH_MS 5000
#define INTERVAL_MIN_MS 100

static const cfg_opt collect_opts[] = {
	{ "agent", "NAME", NULL, "the agent the figures belong to (required)", CFG_NOENV },
	{ "interval", "DUR", "1s", "how often to sample and push (at least 100ms)", 0 },
	{ "gpu-interval", "DUR", "5s", "how often to ask nvidia-smi (when on PATH)", 0 },
	{ "tag", "K=V", NULL, "a tag on every sample", CFG_MULTI | CFG_NOENV },
	{ "server", "URL", NULL, "server URL (default: from 'sentinel login')", 0 },
	{ "token", "TOKEN", NULL, "API token, e.g. one of scope metrics:write (default: from "
	  "'sentinel login')", 0 },
	{ "insecure", NULL, NULL, "accept a self-signed TLS certificate", CFG_FLAG },
	{ NULL, NULL, NULL, NULL, 0 },
};
static const cfg_spec collect_spec = {
	"collect", "--agent NAME [--interval 1s] [--tag K=V]... -- CMD [ARG...]",
	"Run CMD and push the CPU %, memory, threads and GPU use of its process tree\n"
	"as the metrics of agent NAME until it exits; exit with CMD's status (128 +\n"
	"the signal that killed it). SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed\n"
	"on to CMD. Pushes that fail are retried and buffered (bounded) and never\n"
	"hold CMD up.",
	collect_opts, -1,
};

/* ---- the sender ---- */

typedef struct sender {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	json_t *q[QUEUE_MAX];  /* ring of sample arrays */
	size_t head, len;
	uint64_t popped;       /* batches ever removed from the head */
	uint64_t dropped;      /* samples lost to a full queue or a refusal */
	int finishing;         /* CMD exited: drain until deadline_ns */
	int64_t deadline_ns;
	char *url, *token;
	int insecure;
	int failing;           /* the last push failed (warned once per outage) */
	pthread_t th;
} sender;

static void sender_put(sender *s, json_t *batch)
{
	pthread_mutex_lock(&s->mu);
	if (s->len == QUEUE_MAX) {
		json_t *old = s->q[s->head];
		if (!s->dropped)
			fprintf(stderr, "sentinel collect: the push queue is full: dropping the oldest"
				" figures\n");
		s->dropped += json_array_size(old);
		json_decref(old);
		s->head = (s->head + 1) % QUEUE_MAX;
		s->len--;
		s->popped++;
	}
	s->q[(s->head + s->len) % QUEUE_MAX] = batch;
	s->len++;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* What a push's answer means: 0 sent, 1 retry later, -1 refused for good
 * (a bad sample or no write access: retrying cannot help). */
static int push_once(sender *s, json_t *samples, long timeout_s)
{
	hc_opts o = { .token = s->token, .insecure = s->insecure, .timeout_s = timeout_s };
	hc_resp r = { 0 };
	char err[512];
	int verdict;
	json_t *body = json_pack("{s:O}", "samples", samples);
	if (!body)
		return 1;
	if (hc_request("POST", s->url, body, &o, &r, err, sizeof err)) {
		if (!s->failing)
			fprintf(stderr, "sentinel collect: cannot push: %s; retrying\n", err);
		verdict = 1;
	} else if (r.status >= 200 && r.status < 300) {
		verdict = 0;
	} else {
		json_t *j = json_loadb(r.body, r.len, 0, NULL);
		const char *msg = json_string_value(
			json_object_get(json_object_get(j, "error"), "message"));
		char *safe = sn_utf8_sanitize(msg ? msg : "");
		verdict = r.status == 429 || r.status == 408 || r.status >= 500 ? 1 : -1;
		if (!s->failing || verdict < 0)
			fprintf(stderr, "sentinel collect: push refused (HTTP %ld%s%s)%s\n", r.status,
				*safe ? ": " : "", safe, verdict > 0 ? "; retrying" : "");
		free(safe);
		json_decref(j);
	}
	if (verdict == 0 && s->failing)
		fprintf(stderr, "sentinel collect: pushes work again\n");
	s->failing = verdict != 0;
	hc_resp_release(&r);
	json_decref(body);
	return verdict;
}

static void timed_wait(sender *s, int64_t until_ns)
{
	struct timespec ts;
	int64_t left = until_ns - sn_mono_ns();
	if (left <= 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + left % 1000000000;
	ts.tv_sec += left / 1000000000 + ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

static void *sender_main(void *arg)
{
	sender *s = arg;
	int64_t backoff_ms = 0, retry_ns = 0;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		int64_t now = sn_mono_ns();
		if (s->finishing && (s->len == 0 || now >= s->deadline_ns))
			break;
		if (s->len == 0 || now < retry_ns) {
			if (s->len == 0 && !s->finishing)
				pthread_cond_wait(&s->cv, &s->mu);
			else
				timed_wait(s, s->len == 0 ? s->deadline_ns
					   : s->finishing && s->deadline_ns < retry_ns ? s->deadline_ns
					   : retry_ns);
			continue;
		}
		/* The batches stay queued while in flight; a full queue may drop
		 * some of them meanwhile (counted lost even if this push takes
		 * them), so what is left of them is found by popped. */
		size_t n = s->len < SEND_MERGE ? s->len : SEND_MERGE;
		uint64_t first = s->popped;
		json_t *all = json_array();
		for (size_t i = 0; all && i < n; i++)
			if (json_array_extend(all, s->q[(s->head + i) % QUEUE_MAX]))
				json_decref(all), all = NULL;
		long timeout = PUSH_TIMEOUT_S;
		if (s->finishing)
			timeout = (long)((s->deadline_ns - now) / 1000000000) + 1;
		pthread_mutex_unlock(&s->mu);
		int v = all ? push_once(s, all, timeout < PUSH_TIMEOUT_S ? timeout : PUSH_TIMEOUT_S)
			    : 1;
		pthread_mutex_lock(&s->mu);
		if (v <= 0) {
			if (v < 0)
				s->dropped += json_array_size(all);
			while (s->popped < first + n && s->len) {
				json_decref(s->q[s->head]);
				s->head = (s->head + 1) % QUEUE_MAX;
				s->len--;
				s->popped++;
			}
			backoff_ms = 0;
			retry_ns = 0;
		} else {
			backoff_ms = backoff_ms ? backoff_ms * 2 : 1000;
			if (backoff_ms > BACKOFF_MAX_MS)
				backoff_ms = BACKOFF_MAX_MS;
			retry_ns = sn_mono_ns() + backoff_ms * 1000000;
		}
		json_decref(all);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Stops the sender after at most FLUSH_MS of draining; what is left is
 * counted as lost. */
static void sender_finish(sender *s)
{
	pthread_mutex_lock(&s->mu);
	s->finishing = 1;
	s->deadline_ns = sn_mono_ns() + (int64_t)FLUSH_MS * 1000000;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->th, NULL);
	uint64_t lost = s->dropped;
	for (; s->len; s->len--, s->head = (s->head + 1) % QUEUE_MAX) {
		lost += json_array_size(s->q[s->head]);
		json_decref(s->q[s->head]);
	}
	if (lost)
		fprintf(stderr, "sentinel collect: %llu sample%s could not be pushed\n",
			(unsigned long long)lost, lost == 1 ? "" : "s");
}

/* ---- sampling ---- */

typedef struct collector {
	const char *agent;
	json_t *tags;           /* the --tag pairs */
	pid_t child;
	uint64_t reaped_us;     /* CPU time of children we reaped (invariant 2) */
	uint64_t prev_cpu_us;
	int64_t prev_ns;
	char *smi;              /* nvidia-smi, or NULL */
	int64_t gpu_every_ns, gpu_next_ns;
	sender *out;
} collector;

static int add(json_t *arr, const collector *c, const char *metric, double v, int64_t ts, int gpu)
{
	json_t *tags = json_deep_copy(c->tags);
	if (tags && gpu >= 0) {
		char idx[16];
		snprintf(idx, sizeof idx, "%d", gpu);
		if (json_object_set_new(tags, "gpu", json_string(idx)))
			json_decref(tags), tags = NULL;
	}
	json_t *s = tags ? json_pack("{s:s,s:s,s:f,s:I,s:o}", "agent", c->agent, "metric", metric,
				     "value", v, "ts", (json_int_t)ts, "tags", tags)
			 : NULL;
	return s ? json_array_append_new(arr, s) : -1;
}

/* CPU time of the tree: the live descendants' plus what we reaped. */
static void tree_figures(collector *c, json_t *arr, int64_t ts, int final)
{
	agm_tree t;
	int64_t now = sn_mono_ns();
	if (agm_tree_read(getpid(), &t))
		return;
	uint64_t cpu = t.cpu_us + c->reaped_us;
	int64_t dt_us = (now - c->prev_ns) / 1000;
	/* Ticks are 10 ms coarse: a reap can show a few ms less than the last
	 * reading; never a negative figure. */
	double pct = dt_us > 0 && cpu > c->prev_cpu_us ? 100.0 * (double)(cpu - c->prev_cpu_us) /
							   (double)dt_us : 0;
	/* A last reading over a sliver of an interval says little. */
	if (!final || dt_us >= 100000)
		add(arr, c, AGM_PROC_CPU, pct, ts, -1);
	c->prev_cpu_us = cpu > c->prev_cpu_us ? cpu : c->prev_cpu_us;
	c->prev_ns = now;
	if (!final) {
		add(arr, c, AGM_PROC_RSS, (double)t.rss_bytes, ts, -1);
		add(arr, c, AGM_PROC_THREADS, t.threads, ts, -1);
		add(arr, c, AGM_PROC_COUNT, t.procs, ts, -1);
	}
	if (!final && c->smi && now >= c->gpu_next_ns && t.npids) {
		agm_gpu g[AGM_GPUS_MAX];
		size_t ng = 0;
		c->gpu_next_ns = now + c->gpu_every_ns;
		/* Absent or failing: skipped silently (a machine without GPUs). */
		if (agm_gpu_read(c->smi, t.pids, t.npids, g, AGM_GPUS_MAX, &ng))
			ng = 0;
		for (size_t i = 0; i < ng; i++) {
			if (!g[i].apps)
				continue;
			if (g[i].util >= 0)
				add(arr, c, AGM_GPU_UTIL, g[i].util, ts, g[i].index);
			add(arr, c, AGM_PROC_GPU_MEM, g[i].app_mem, ts, g[i].index);
		}
	}
	agm_tree_release(&t);
}

static void sample(collector *c, int final)
{
	json_t *arr = json_array();
	if (!arr)
		return;
	tree_figures(c, arr, sn_now_ms(), final);
	if (json_array_size(arr))
		sender_put(c->out, arr);
	else
		json_decref(arr);
}

/* Reaps every child that exited (invariant 2); *status gets CMD's. */
static int reap(collector *c, int *status)
{
	int st, done = 0;
	struct rusage ru;
	pid_t p;
	while ((p = wait4(-1, &st, WNOHANG, &ru)) > 0) {
		c->reaped_us += (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
				(uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
		if (p == c->child) {
			*status = st;
			done = 1;
		}
	}
	return done;
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

/* The main loop: sample every interval, forward signals, until CMD
 * exits. Returns CMD's exit code. */
static int supervise(collector *c, const sigset_t *set, int64_t every_ns)
{
	int64_t next = sn_mono_ns() + every_ns;
	int status = 0;
	for (;;) {
		siginfo_t si;
		int64_t left = next - sn_mono_ns();
		struct timespec ts = { left > 0 ? left / 1000000000 : 0, left > 0 ? left % 1000000000 : 0 };
		int sig = sigtimedwait(set, &si, &ts);
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT) {
			if (si.si_code != SI_KERNEL)
				kill(c->child, sig);
		}
		if (reap(c, &status))
			break;
		if (sn_mono_ns() >= next) {
			sample(c, 0);
			next += every_ns;
			/* Behind by more than an interval (a stopped process, a slow
			 * nvidia-smi): start again from now rather than burst. */
			if (next <= sn_mono_ns())
				next = sn_mono_ns() + every_ns;
		}
	}
	sample(c, 1);
	return exit_code(status);
}

/* ---- options ---- */

/* The --tag pairs as a JSON object, checked as the server would (a bad
 * tag would make every push fail). 0, or 2 after printing why. */
static int parse_tags(const cfg *conf, const char *agent, json_t **out)
{
	size_t n = 0;
	const char *const *v = cfg_get_multi(conf, "tag", &n);
	mx_tag tags[MX_TAGS_MAX + 1];
	char *keys[MX_TAGS_MAX + 1] = { NULL }, err[256];
	int code = 2;
	mx_batch *b = mx_batch_new();
	*out = json_object();
	if (n > MX_TAGS_MAX) {
		fprintf(stderr, "sentinel collect: at most %d tags\n", MX_TAGS_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *eq = strchr(v[i], '=');
		if (!eq) {
			fprintf(stderr, "sentinel collect: --tag %s: expected K=V\n", v[i]);
			goto out;
		}
		keys[i] = xstrndup(v[i], (size_t)(eq - v[i]));
		tags[i] = (mx_tag){ keys[i], eq + 1 };
	}
	/* A sample as we would send it, to learn what the server would say. */
	if (mx_batch_add(b, agent, AGM_PROC_CPU, 0, 0, tags, (unsigned)n, err, sizeof err)) {
		fprintf(stderr, "sentinel collect: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (!*out || json_object_set_new(*out, tags[i].k, json_string(tags[i].v))) {
			fprintf(stderr, "sentinel collect: cannot encode the tags\n");
			goto out;
		}
	code = 0;
out:
	for (size_t i = 0; i < n && i <= MX_TAGS_MAX; i++)
		free(keys[i]);
	mx_batch_free(&b);
	if (code)
		json_decref(*out), *out = NULL;
	return code;
}

static int parse_durations(const cfg *conf, int64_t *every_ns, int64_t *gpu_ns)
{
	char err[256];
	int64_t ms, gms;
	if (cfg_get_duration_ms(conf, "interval", &ms, err, sizeof err) || ms < INTERVAL_MIN_MS ||
	    ms > 3600000) {
		fprintf(stderr, "sentinel collect: --interval must be between 100ms and 1h\n");
		return 2;
	}
	if (cfg_get_duration_ms(conf, "gpu-interval", &gms, err, sizeof err) || gms < 1000) {
		fprintf(stderr, "sentinel collect: --gpu-interval must be at least 1s\n");
		return 2;
	}
	*every_ns = ms * 1000000;
	*gpu_ns = gms * 1000000;
	return 0;
}

/* Starts CMD with our signal mask and dispositions undone. */
static int spawn(char *const *args, pid_t *pid)
{
	posix_spawnattr_t at;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigfillset(&dfl);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawnp(pid, args[0], NULL, &at, args, environ);
	posix_spawnattr_destroy(&at);
	if (rc) {
		char *safe = sn_utf8_sanitize(args[0]);
		fprintf(stderr, "sentinel collect: cannot run %s: %s\n", safe, strerror(rc));
		free(safe);
		return rc == ENOENT ? 127 : 126;
	}
	return 0;
}

int collect_cmd(int argc, char **argv)
{
	cfg *conf = NULL;
	cli c = { 0 };
	sender s = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	collector col = { 0 };
	sigset_t set, old;
	int code, nargs, started = 0;
	int64_t every_ns = 0;
	if (cfg_cmd_init(&collect_spec, argc, argv, &conf, &code))
		return code;
	char *const *args = cfg_args(conf, &nargs);
	code = 2;
	col.agent = cfg_get(conf, "agent");
	if (!col.agent || nargs == 0) {
		fprintf(stderr, "sentinel collect: usage: sentinel collect %s\n", collect_spec.synopsis);
		goto out;
	}
	if (parse_tags(conf, col.agent, &col.tags) ||
	    parse_durations(conf, &every_ns, &col.gpu_every_ns))
		goto out;
	if ((code = cli_open(&c, conf, "collect", 1)))
		goto out;
	s.url = xasprintf("%s/api/v1/metrics", c.server);
	s.token = c.token;
	s.insecure = c.insecure;
	col.out = &s;
	col.smi = agm_smi_path();
	/* Blocked before CMD and the sender start: they only arrive through
	 * sigtimedwait in supervise (the sender inherits the mask). */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
		log_msg(LOG_DEBUG, "collect: not a subreaper (%s): orphans leave the tree",
			strerror(errno));
	col.prev_ns = sn_mono_ns();
	if ((code = spawn(args, &col.child)))
		goto unblock;
	if (pthread_create(&s.th, NULL, sender_main, &s)) {
		/* Without a sender CMD still runs to its end: only nothing is pushed. */
		fprintf(stderr, "sentinel collect: cannot start the sender: figures are not pushed\n");
		s.finishing = 1;
	} else {
		started = 1;
	}
	code = supervise(&col, &set, every_ns);
	if (started)
		sender_finish(&s);
unblock:
	pthread_sigmask(SIG_SETMASK, &old, NULL);
out:
	for (; s.len; s.len--, s.head = (s.head + 1) % QUEUE_MAX)
		json_decref(s.q[s.head]);
	free(s.url);
	free(col.smi);
	json_decref(col.tags);
	cli_release(&c);
	cfg_free(&conf);
	return code;
}
