/* The agent's threads: the main thread runs the work loop (long polls for
 * chunks while slots are free, for all of them at once; runs noop chunks
 * inline and queues the others to a pool of at most max_parallel worker
 * threads; frees finished ones); the journal's sender thread commits
 * finished results in groups and sends them in batches, so the work loop
 * never waits on an upload; a control thread registers (again while
 * pending) and sends heartbeats, handling "cancel" and "lost", and wakes
 * the sender after each; a signal thread turns SIGTERM/SIGINT into a
 * drain, then a hand-back. State transitions (under agent.mu):
 *   UNREG --register 200 pending--> PENDING --register 200 online--> ONLINE
 *   ONLINE --heartbeat 401 unknown_node--> UNREG, --403 node_unclaimed--> PENDING
 *   any --403 node_removed--> REMOVED (the agent exits 1). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "agent/agent_metrics.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "version.h"

/* How long one long poll for work waits at the server. */
#define WORK_WAIT_S 25
#define DATASET_FILES_MAX 100000

char *agent_default_state_dir(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	if (geteuid() == 0)
		return xstrdup("/var/lib/sentinel-node");
	if (x && x[0] == '/')
		return xasprintf("%s/sentinel-node", x);
	if (home && home[0] == '/')
		return xasprintf("%s/.local/state/sentinel-node", home);
	return xstrdup("/tmp/sentinel-node");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)f;
	if (flag == FTW_DP)
		rmdir(p);
	else
		unlink(p);
	return 0;
}

void ag_remove_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the key ---- */

static int load_key(agent *a, char *err, size_t errlen)
{
	char *path = xasprintf("%s/node.key", a->state), sha[65];
	struct stat st;
	int created = 0, rc = sn_sig_key_file(path, a->sec, &created, err, errlen);
	if (rc)
		goto out;
	if (created)
		log_msg(LOG_INFO, "node: new key pair in %s", path);
	else if (stat(path, &st) == 0 && (st.st_mode & 077))
		log_msg(LOG_WARN, "node: %s is readable by others (mode %04o); chmod 600 it", path,
			(unsigned)(st.st_mode & 07777));
	/* libsodium's secret key is the seed followed by the public key. */
	memcpy(a->pub, a->sec + 32, SN_SIG_PUB);
	sn_sha256_hex(a->pub, SN_SIG_PUB, sha);
	snprintf(a->node_id, sizeof a->node_id, "nd_%.20s", sha);
out:
	free(path);
	return rc;
}

/* ---- facts ---- */

static int detect_gpus(void)
{
	FILE *f = popen("command -v nvidia-smi >/dev/null 2>&1 && "
			"nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null", "r");
	char line[64];
	int n = 0;
	while (f && fgets(line, sizeof line, f))
		if (line[0] >= '0' && line[0] <= '9')
			n++;
	if (f)
		pclose(f);
	return n > AG_MAX_GPUS ? AG_MAX_GPUS : n;
}

static int add_facts(agent *a, json_t *o)
{
	struct sysinfo si;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mem = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit >> 20 : 0;
	return json_object_set_new(o, "cores", json_integer(cores > 0 ? cores : 1)) ||
	       json_object_set_new(o, "memory_mb", json_integer((json_int_t)mem)) ||
	       json_object_set_new(o, "gpus", json_integer(a->ngpus)) ||
	       json_object_set_new(o, "max_parallel", json_integer(a->cfg.max_parallel)) ||
	       json_object_set(o, "datasets", a->datasets) ? -ENOMEM : 0;
}

/* ---- node-local datasets ---- */

struct dswalk {
	ds_manifest m;
	uint64_t bytes;
	char err[256];
};

static int ds_walk(struct dswalk *w, const char *root, const char *rel, int depth)
{
	char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;
	if (!d) {
		rc = -errno;
		snprintf(w->err, sizeof w->err, "%s: %s", dir, strerror(-rc));
	}
	while (!rc && d && (e = readdir(d))) {
		struct stat st;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *r = *rel ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		char *p = xasprintf("%s/%s", root, r), sha[65];
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) {
			rc = -errno;
		} else if (S_ISDIR(st.st_mode)) {
			rc = depth < 64 ? ds_walk(w, root, r, depth + 1) : -ELOOP;
		} else if (S_ISREG(st.st_mode)) {
			if (w->m.n >= DATASET_FILES_MAX)
				rc = -E2BIG;
			else if (!(rc = sn_sha256_file(p, sha)))
				/* 0644 as a push records: the same files hash the same. */
				rc = ds_manifest_add(&w->m, r, sha, (uint64_t)st.st_size, 0644);
			w->bytes += (uint64_t)st.st_size;
		}
		if (rc && !w->err[0])
			snprintf(w->err, sizeof w->err, "%s: %s", p, strerror(-rc));
		free(p);
		free(r);
	}
	if (d)
		closedir(d);
	free(dir);
	return rc;
}

/* One --dataset NAME=PATH: its manifest hash (a file: its SHA-256; a
 * directory: that of its canonical manifest, as a pushed file set). */
static int add_dataset(agent *a, const char *spec, char *err, size_t errlen)
{
	const char *eq = strchr(spec, '=');
	char *name = eq ? xstrndup(spec, (size_t)(eq - spec)) : NULL;
	char *path = eq ? realpath(eq + 1, NULL) : NULL, sha[65], *dump = NULL;
	struct dswalk w = { .m = { 0 } };
	struct stat st;
	size_t len, files = 1;
	int rc = 0;
	if (!name || !ds_name_valid(name) || !path || stat(path, &st)) {
		snprintf(err, errlen, "--dataset %s: expected NAME=PATH with an existing PATH", spec);
		rc = -EINVAL;
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		rc = sn_sha256_file(path, sha);
		w.bytes = (uint64_t)st.st_size;
	} else if (S_ISDIR(st.st_mode)) {
		if (!(rc = ds_walk(&w, path, "", 0)) && !(rc = ds_manifest_dump(&w.m, &dump, &len)))
			sn_sha256_hex(dump, len, sha);
		files = w.m.n;
	} else {
		rc = -EINVAL;
	}
	if (rc) {
		snprintf(err, errlen, "--dataset %s: %s", spec, w.err[0] ? w.err : strerror(-rc));
		goto out;
	}
	json_t *d = json_pack("{s:s, s:s, s:I, s:I, s:s}", "name", name, "manifest_sha256", sha,
			      "bytes", (json_int_t)w.bytes, "files", (json_int_t)files, "path", path);
	if (!d || json_array_append_new(a->datasets, d)) {
		snprintf(err, errlen, "--dataset %s: path or name not valid UTF-8", spec);
		rc = -EINVAL;
		goto out;
	}
	a->locals = xrealloc(a->locals, (a->nlocals + 1) * sizeof *a->locals);
	a->locals[a->nlocals++] = (ag_local){ name, path, S_ISREG(st.st_mode) };
	name = path = NULL;
out:
	ds_manifest_release(&w.m);
	free(dump);
	free(name);
	free(path);
	return rc;
}

/* ---- registration and heartbeats ---- */

int64_t ag_hb_from_reply(const json_t *reply)
{
	/* heartbeat_ms first: heartbeat_s is rounded up to whole seconds. */
	json_t *ms = json_object_get(reply, "heartbeat_ms"), *s = json_object_get(reply, "heartbeat_s");
	if (json_is_integer(ms) && json_integer_value(ms) >= 100 &&
	    json_integer_value(ms) <= 3600000)
		return json_integer_value(ms);
	if (json_is_number(s) && json_number_value(s) > 0 && json_number_value(s) <= 3600)
		return (int64_t)(json_number_value(s) * 1000);
	return 0;
}

static void set_hb(agent *a, json_t *reply)
{
	int64_t ms = ag_hb_from_reply(reply);
	if (a->cfg.heartbeat_ms || !ms)
		return;
	pthread_mutex_lock(&a->mu);
	int changed = a->hb_ms != ms;
	a->hb_ms = ms;
	pthread_mutex_unlock(&a->mu);
	if (changed)
		log_msg(LOG_INFO, "node: heartbeat every %lld ms (the server's)", (long long)ms);
}

static int stop_chunk(agent *a, const char *id, int why);

static void set_state(agent *a, enum ag_state st)
{
	pthread_mutex_lock(&a->mu);
	if (a->st != AG_REMOVED)
		a->st = st;
	/* Removed: the server already gave this node's chunks back. */
	if (st == AG_REMOVED) {
		a->quit = 1;
		__atomic_store_n(&a->stop_poll, 1, __ATOMIC_RELAXED);
		for (ag_chunk *c = a->chunks; c; c = c->next)
			stop_chunk(a, c->id, AG_STOP_LOST);
	}
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* Reacts to a refusal of the key; 1 when reply was one. */
static int key_refused(agent *a, long status, json_t *reply)
{
	const char *code = ag_err_code(reply);
	if (status == 403 && strcmp(code, "node_removed") == 0) {
		fprintf(stderr, "sentinel node: this node (%s) was removed by an admin; its key is "
			"refused from now on\n", a->node_id);
		set_state(a, AG_REMOVED);
	} else if (status == 403 && strcmp(code, "node_unclaimed") == 0) {
		set_state(a, AG_PENDING);
	} else if (status == 401 && strcmp(code, "unknown_node") == 0) {
		set_state(a, AG_UNREG);
	} else {
		return 0;
	}
	return 1;
}

/* 0 when registered (pending or online). */
static int do_register(agent *a, int *warned)
{
	char err[512];
	long status = 0;
	json_t *reply = NULL, *body = json_pack("{s:s, s:s, s:s}", "name", a->name, "version",
						 SENTINEL_VERSION, "platform", "");
	struct utsname u;
	int rc = -EIO;
	if (body && uname(&u) == 0) {
		char *plat = xasprintf("%s %s %s", u.sysname, u.release, u.machine);
		if (json_object_set_new(body, "platform", json_string(plat)))
			log_msg(LOG_WARN, "node: the platform name is not UTF-8");
		free(plat);
	}
	if (!body || add_facts(a, body)) {
		log_msg(LOG_ERROR, "node: cannot encode the registration");
		goto out;
	}
	if ((rc = ag_call_json(a, "POST", "/api/v1/node/register", body, AG_CALL_TIMEOUT_S, NULL,
			       &status, &reply, err, sizeof err))) {
		if (!(*warned)++)
			log_msg(LOG_WARN, "node: cannot register: %s; retrying", err);
		goto out;
	}
	if (status != 200) {
		if (!key_refused(a, status, reply))
			log_msg(LOG_WARN, "node: registration refused (%ld %s)", status,
				ag_err_code(reply));
		rc = -EPERM;
		goto out;
	}
	const char *state = json_string_value(json_object_get(reply, "state"));
	const char *code = json_string_value(json_object_get(reply, "claim_code"));
	const char *id = json_string_value(json_object_get(reply, "node_id"));
	if (id && strcmp(id, a->node_id) != 0)
		log_msg(LOG_WARN, "node: the server calls this node %s, not %s", id, a->node_id);
	set_hb(a, reply);
	*warned = 0;
	rc = 0;
	if (state && strcmp(state, "pending") == 0) {
		pthread_mutex_lock(&a->mu);
		int first = !a->claim_printed;
		a->claim_printed = 1;
		pthread_mutex_unlock(&a->mu);
		if (first && code) {
			printf("Claim this node with: sentinel node claim %s\n", code);
			fflush(stdout);
			fprintf(stderr, "Claim this node with: sentinel node claim %s\n", code);
		}
		set_state(a, AG_PENDING);
	} else {
		log_msg(LOG_INFO, "node: %s registered (%s)", a->node_id, state ? state : "?");
		set_state(a, AG_ONLINE);
	}
out:
	json_decref(reply);
	json_decref(body);
	return rc;
}

/* Stops a running chunk; 1 when it was ours. Called with a->mu held. */
static int stop_chunk(agent *a, const char *id, int why)
{
	for (ag_chunk *c = a->chunks; c; c = c->next)
		if (!c->finished && strcmp(c->id, id) == 0) {
			if (c->stop == AG_RUN) {
				__atomic_store_n(&c->stop, why, __ATOMIC_RELAXED);
				if (c->cancel_pipe[1] >= 0 && write(c->cancel_pipe[1], "x", 1) < 0)
					log_msg(LOG_WARN, "node: cannot stop chunk %s", id);
			}
			return 1;
		}
	return 0;
}

static void on_stop_list(agent *a, json_t *list, int why)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		const char *id = json_string_value(v);
		if (!id)
			continue;
		pthread_mutex_lock(&a->mu);
		int ours = stop_chunk(a, id, why);
		pthread_mutex_unlock(&a->mu);
		if (ours)
			log_msg(LOG_INFO, "node: chunk %s %s", id,
				why == AG_STOP_CANCEL ? "cancelled" : "lost: the server gave it away");
		if (why == AG_STOP_LOST)
			ag_journal_drop_chunk(a, id);
	}
}

static json_t *heartbeat_body(agent *a)
{
	double load[3] = { 0 };
	json_t *b = json_object(), *running = json_array(), *blobs = ag_cache_list(a);
	json_t *runtimes = ag_rt_list(a);
	int busy = 0, draining;
	if (getloadavg(load, 3) < 1)
		load[0] = 0;
	pthread_mutex_lock(&a->mu);
	for (ag_chunk *c = a->chunks; c && running; c = c->next)
		if (!c->finished && json_array_append_new(running, json_string(c->id)))
			json_decref(running), running = NULL;
	for (int i = 0; i < a->ngpus; i++)
		busy += a->gpu_busy[i];
	draining = a->draining;
	pthread_mutex_unlock(&a->mu);
	if (running)
		ag_journal_ids(a, running);
	if (!b || !running || !blobs || !runtimes || ag_rt_add_images(a, blobs) || add_facts(a, b) ||
	    json_object_set_new(b, "load1", json_real(load[0])) ||
	    json_object_set_new(b, "gpus_free", json_integer(a->ngpus - busy)) ||
	    json_object_set_new(b, "running", json_incref(running)) ||
	    json_object_set_new(b, "runtimes", json_incref(runtimes)) ||
	    json_object_set_new(b, "blobs", json_incref(blobs)) ||
	    json_object_set_new(b, "draining", json_boolean(draining))) {
		json_decref(b);
		b = NULL;
	}
	/* Each list was given to b with a reference of its own: none leaks
	 * when one of them could not be made. */
	json_decref(running);
	json_decref(runtimes);
	json_decref(blobs);
	return b;
}

static void do_heartbeat(agent *a, int *warned)
{
	char err[512];
	long status = 0;
	json_t *reply = NULL, *body = heartbeat_body(a);
	if (!body) {
		log_msg(LOG_ERROR, "node: cannot encode a heartbeat");
		return;
	}
	/* Through the configured servers: a follower among them names the
	 * leader, and says so again at every beat (ag_lead_learn). */
	ag_req r = { .method = "POST", .path = "/api/v1/node/heartbeat", .json = body, .in_fd = -1,
		     .out_fd = -1, .timeout_s = AG_CALL_TIMEOUT_S, .configured = 1 };
	if (ag_call_req_json(a, &r, &status, &reply, err, sizeof err)) {
		if (!(*warned)++)
			log_msg(LOG_WARN, "node: heartbeat: %s; retrying", err);
	} else if (status == 200) {
		if (*warned)
			log_msg(LOG_INFO, "node: the server answers again");
		*warned = 0;
		set_hb(a, reply);
		/* Only a follower says it (the heartbeat was relayed). */
		json_t *lead = json_object_get(reply, "leader_url");
		if (json_is_string(lead))
			ag_lead_learn(a, json_string_value(lead));
		else
			ag_lead_drop(a);
		on_stop_list(a, json_object_get(reply, "cancel"), AG_STOP_CANCEL);
		on_stop_list(a, json_object_get(reply, "lost"), AG_STOP_LOST);
		ag_journal_kick(a);
	} else if (!key_refused(a, status, reply)) {
		log_msg(LOG_WARN, "node: heartbeat refused (%ld %s)", status, ag_err_code(reply));
	}
	json_decref(reply);
	json_decref(body);
}

static void *control_main(void *arg)
{
	agent *a = arg;
	int warned = 0;
	/* The node's own figures ride on this thread: one small push every
	 * AGM_NODE_PERIOD_MS, after a heartbeat, never more than one at once. */
	ag_metrics *figures = ag_metrics_new();
	pthread_mutex_lock(&a->mu);
	while (!a->quit) {
		enum ag_state st = a->st;
		pthread_mutex_unlock(&a->mu);
		if (st == AG_UNREG || st == AG_PENDING) {
			do_register(a, &warned);
		} else if (st == AG_ONLINE) {
			do_heartbeat(a, &warned);
			if (!warned)
				ag_metrics_tick(a, figures);
		}
		pthread_mutex_lock(&a->mu);
		int64_t wait_ms = a->hb_ms;
		/* Just claimed: a heartbeat at once. Pending or unreachable: a claim
		 * or a server back is noticed within 2 s. */
		if (st != AG_ONLINE && a->st == AG_ONLINE)
			wait_ms = 0;
		else if (a->st != AG_ONLINE && wait_ms > 2000)
			wait_ms = 2000;
		if (wait_ms > 0 && !a->quit) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			int64_t ns = ts.tv_nsec + (wait_ms % 1000) * 1000000;
			ts.tv_sec += wait_ms / 1000 + ns / 1000000000;
			ts.tv_nsec = ns % 1000000000;
			pthread_cond_timedwait(&a->cv, &a->mu, &ts);
		}
	}
	pthread_mutex_unlock(&a->mu);
	ag_metrics_free(&figures);
	return NULL;
}

/* ---- signals ---- */

static void *signal_main(void *arg)
{
	agent *a = arg;
	sigset_t set;
	int sig;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig))
			continue;
		pthread_mutex_lock(&a->mu);
		if (sig == SIGUSR1 && a->quit) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		if (sig == SIGUSR1) {
			pthread_mutex_unlock(&a->mu);
			continue;
		}
		if (!a->draining) {
			a->draining = 1;
			__atomic_store_n(&a->stop_poll, 1, __ATOMIC_RELAXED);
			log_msg(LOG_INFO, "node: draining: no new work; running chunks finish "
				"(signal again to hand them back)");
		} else if (!a->handback) {
			a->handback = 1;
			log_msg(LOG_INFO, "node: handing running chunks back");
			for (ag_chunk *c = a->chunks; c; c = c->next)
				stop_chunk(a, c->id, AG_STOP_HANDBACK);
		}
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

/* ---- the work loop ---- */

static int id_ok(const char *s)
{
	size_t n = 0;
	if (!s || !*s || *s == '.')
		return 0;
	for (; s[n]; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		      (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-' || s[n] == '.'))
			return 0;
	return n <= 64;
}

static void chunk_free(ag_chunk *c)
{
	if (c->cancel_pipe[0] >= 0) {
		close(c->cancel_pipe[0]);
		close(c->cancel_pipe[1]);
	}
	json_decref(c->spec);
	free(c->id);
	free(c->job_id);
	free(c);
}

static void *worker_main(void *arg)
{
	agent *a = arg;
	pthread_mutex_lock(&a->mu);
	for (;;) {
		while (!a->runq && !a->workers_quit)
			pthread_cond_wait(&a->wcv, &a->mu);
		if (!a->runq)
			break;
		ag_chunk *c = a->runq;
		if (!(a->runq = c->qnext))
			a->runq_tail = &a->runq;
		a->nrunq--;
		a->nidle--;
		pthread_mutex_unlock(&a->mu);
		ag_chunk_run(c);
		pthread_mutex_lock(&a->mu);
		c->finished = 1;
		a->nidle++;
		pthread_cond_broadcast(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* Queues c for the pool, adding a worker when none is idle for it.
 * Called with a->mu held. */
static int queue_chunk(agent *a, ag_chunk *c)
{
	if (a->nidle <= a->nrunq && a->nworkers < a->cfg.max_parallel) {
		if (pthread_create(&a->workers[a->nworkers], NULL, worker_main, a)) {
			if (a->nworkers == 0)
				return -EAGAIN;
		} else {
			a->nworkers++;
			a->nidle++;
		}
	}
	c->qnext = NULL;
	*a->runq_tail = c;
	a->runq_tail = &c->qnext;
	a->nrunq++;
	pthread_cond_signal(&a->wcv);
	return 0;
}

/* Takes a chunk the server assigned: noop completes at once (its result
 * straight to the journal: no thread, no directory, no pipe); the others
 * go to the pool. Called with a->mu held. */
static void start_chunk(agent *a, json_t *spec)
{
	const char *id = json_string_value(json_object_get(spec, "id"));
	const char *job = json_string_value(json_object_get(spec, "job_id"));
	const char *program = json_string_value(json_object_get(spec, "program"));
	json_int_t attempt = json_integer_value(json_object_get(spec, "attempt"));
	json_int_t gpus = json_integer_value(json_object_get(json_object_get(spec, "limits"),
							     "gpus"));
	if (!id_ok(id) || !id_ok(job)) {
		log_msg(LOG_ERROR, "node: a chunk with a malformed id or job id; ignored");
		return;
	}
	for (ag_chunk *c = a->chunks; c; c = c->next)
		if (strcmp(c->id, id) == 0 && !c->finished)
			return; /* a duplicate delivery: it runs already */
	if (program && strcmp(program, "noop") == 0 && gpus <= 0) {
		json_t *body = ag_noop_result(attempt);
		if (!body)
			abort(); /* out of memory, as xmalloc would */
		ag_journal_put(a, id, attempt, NULL, body);
		json_decref(body);
		log_msg(LOG_DEBUG, "node: chunk %s (job %s, attempt %lld) completed", id, job,
			(long long)attempt);
		return;
	}
	ag_chunk *c = xcalloc(1, sizeof *c);
	c->a = a;
	c->id = xstrdup(id);
	c->job_id = xstrdup(job);
	c->attempt = attempt;
	c->spec = json_incref(spec);
	c->cancel_pipe[0] = c->cancel_pipe[1] = -1;
	/* Scripts and sleep wait on the pipe; the others only read stop. */
	if ((!program || strcmp(program, "sleep") == 0) &&
	    pipe2(c->cancel_pipe, O_CLOEXEC | O_NONBLOCK))
		abort(); /* out of descriptors: nothing sensible to do but die */
	for (int i = 0; i < a->ngpus && c->ngpu < gpus; i++)
		if (!a->gpu_busy[i]) {
			a->gpu_busy[i] = 1;
			c->gpu[c->ngpu++] = i;
		}
	if (c->ngpu < gpus)
		log_msg(LOG_WARN, "node: chunk %s wants %lld GPUs, %d are free", id,
			(long long)gpus, c->ngpu);
	if (queue_chunk(a, c)) {
		for (int i = 0; i < c->ngpu; i++)
			a->gpu_busy[c->gpu[i]] = 0;
		log_msg(LOG_ERROR, "node: cannot start a thread for chunk %s", id);
		chunk_free(c);
		return;
	}
	c->next = a->chunks;
	a->chunks = c;
	a->nchunks++;
	log_msg(program ? LOG_DEBUG : LOG_INFO, "node: chunk %s (job %s, attempt %lld) started",
		id, job, (long long)c->attempt);
}

/* Frees finished chunks. Called with a->mu held. */
static void reap(agent *a)
{
	for (ag_chunk **pp = &a->chunks; *pp;) {
		ag_chunk *c = *pp;
		if (!c->finished) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		a->nchunks--;
		for (int i = 0; i < c->ngpu; i++)
			a->gpu_busy[c->gpu[i]] = 0;
		chunk_free(c);
	}
}

static void timed_wait(agent *a, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
	ts.tv_sec += ms / 1000 + ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(&a->cv, &a->mu, &ts);
}

static void poll_work(agent *a, int free_slots, int free_gpus)
{
	char err[512];
	long status = 0;
	json_t *reply = NULL, *body = json_pack("{s:i, s:i, s:i}", "free_slots", free_slots,
						 "free_gpus", free_gpus, "wait_s", WORK_WAIT_S);
	int rc = body ? ag_call_json(a, "POST", "/api/v1/node/work", body, WORK_WAIT_S + 15,
				     &a->stop_poll, &status, &reply, err, sizeof err)
		      : -ENOMEM;
	pthread_mutex_lock(&a->mu);
	if (rc == -ECANCELED) {
		/* Drain or removal began during the poll. */
	} else if (rc) {
		timed_wait(a, 1000);
	} else if (status == 200) {
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(reply, "chunks"), i, c)
			start_chunk(a, c);
	} else {
		pthread_mutex_unlock(&a->mu);
		if (!key_refused(a, status, reply))
			log_msg(LOG_WARN, "node: work poll refused (%ld %s)", status,
				ag_err_code(reply));
		pthread_mutex_lock(&a->mu);
		timed_wait(a, 1000);
	}
	pthread_mutex_unlock(&a->mu);
	json_decref(reply);
	json_decref(body);
}

static void work_loop(agent *a)
{
	pthread_mutex_lock(&a->mu);
	for (;;) {
		reap(a);
		if (a->draining || a->quit) {
			if (a->nchunks == 0)
				break;
			pthread_cond_wait(&a->cv, &a->mu);
			continue;
		}
		int free_slots = a->cfg.max_parallel - a->nchunks;
		if (a->st != AG_ONLINE || free_slots <= 0) {
			timed_wait(a, 1000);
			continue;
		}
		int free_gpus = a->ngpus;
		for (int i = 0; i < a->ngpus; i++)
			free_gpus -= a->gpu_busy[i];
		pthread_mutex_unlock(&a->mu);
		poll_work(a, free_slots, free_gpus);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
}

/* ---- start and stop ---- */

static int make_dirs(agent *a, char *err, size_t errlen)
{
	const char *dirs[] = { a->state, a->journal_dir, a->cache_dir, a->work_dir };
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		int rc = sn_mkdir_p(dirs[i], 0700);
		if (rc) {
			snprintf(err, errlen, "%s: %s", dirs[i], strerror(-rc));
			return rc;
		}
	}
	return 0;
}

static void agent_release(agent *a)
{
	for (size_t i = 0; i < a->nservers; i++)
		free(a->servers[i]);
	free(a->servers);
	for (size_t i = 0; i < a->nlocals; i++) {
		free(a->locals[i].name);
		free(a->locals[i].path);
	}
	free(a->workers);
	free(a->locals);
	json_decref(a->datasets);
	free(a->state);
	free(a->journal_dir);
	free(a->cache_dir);
	free(a->work_dir);
	free(a->name);
	explicit_bzero(a->sec, sizeof a->sec);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->cache_mu);
	pthread_mutex_destroy(&a->rt_mu);
	json_decref(a->rt_names);
	json_decref(a->rt_shas);
	pthread_cond_destroy(&a->cv);
	pthread_cond_destroy(&a->wcv);
}

static int agent_init(agent *a, const agent_config *cfg, char *err, size_t errlen)
{
	char host[256] = "node";
	int rc;
	memset(a, 0, sizeof *a);
	a->cfg = *cfg;
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->cache_mu, NULL);
	pthread_mutex_init(&a->rt_mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_cond_init(&a->wcv, NULL);
	a->runq_tail = &a->runq;
	a->workers = xcalloc((size_t)cfg->max_parallel, sizeof *a->workers);
	a->jr.fd = -1;
	a->servers = xcalloc(cfg->nservers, sizeof *a->servers);
	for (size_t i = 0; i < cfg->nservers; i++) {
		char *s = xstrdup(cfg->servers[i]);
		size_t n = strlen(s);
		while (n && s[n - 1] == '/')
			s[--n] = '\0';
		a->servers[a->nservers++] = s;
	}
	a->state = xstrdup(cfg->state_dir);
	a->journal_dir = xasprintf("%s/journal", a->state);
	a->cache_dir = xasprintf("%s/cache", a->state);
	a->work_dir = xasprintf("%s/work", a->state);
	gethostname(host, sizeof host - 1);
	a->name = xstrdup(cfg->name ? cfg->name : host);
	a->hb_ms = cfg->heartbeat_ms ? cfg->heartbeat_ms : 5000;
	a->ngpus = cfg->gpus >= 0 ? (cfg->gpus > AG_MAX_GPUS ? AG_MAX_GPUS : cfg->gpus)
				  : detect_gpus();
	a->datasets = json_array();
	if (!a->datasets)
		return -ENOMEM;
	if ((rc = make_dirs(a, err, errlen)) || (rc = load_key(a, err, errlen)) ||
	    (rc = ag_journal_open(a, err, errlen)))
		return rc;
	for (size_t i = 0; i < cfg->ndatasets; i++)
		if ((rc = add_dataset(a, cfg->datasets[i], err, errlen)))
			return rc;
	ag_cache_init(a);
	/* What a crash left of an image being unpacked goes. */
	if ((rc = rt_init(a->state, err, errlen)))
		return rc;
	return 0;
}

/* Attempt directories a crash left behind, except those whose result
 * waits in the journal (their artifacts are still to be sent). */
static void clean_work(agent *a)
{
	DIR *d = opendir(a->work_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *w = xasprintf("%s/%s", a->work_dir, e->d_name);
		if (!ag_journal_holds_dir(a, w))
			ag_remove_rf(w);
		free(w);
	}
	if (d)
		closedir(d);
}

int agent_run(const agent_config *cfg)
{
	agent a;
	char err[512];
	pthread_t ctl, sig;
	sigset_t set;
	int rc = 1, ctl_started = 0, sig_started = 0;
	/* Before any thread: every thread inherits the mask, so the signals
	 * reach only sigwait in signal_main. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (agent_init(&a, cfg, err, sizeof err)) {
		fprintf(stderr, "sentinel node: %s\n", err);
		goto out;
	}
	clean_work(&a);
	log_msg(LOG_INFO, "node: %s (%s) state %s, %d slots, %d GPUs, server %s%s", a.node_id,
		a.name, a.state, cfg->max_parallel, a.ngpus, a.servers[0],
		a.nservers > 1 ? " (and fail-over servers)" : "");
	if (pthread_create(&sig, NULL, signal_main, &a) ||
	    !(sig_started = 1) || ag_journal_start(&a) ||
	    pthread_create(&ctl, NULL, control_main, &a)) {
		fprintf(stderr, "sentinel node: cannot start its threads\n");
		goto stop;
	}
	ctl_started = 1;
	work_loop(&a);
	rc = a.st == AG_REMOVED ? 1 : 0;
stop:
	pthread_mutex_lock(&a.mu);
	a.quit = 1;
	a.workers_quit = 1;
	pthread_cond_broadcast(&a.cv);
	pthread_cond_broadcast(&a.wcv);
	pthread_mutex_unlock(&a.mu);
	for (int i = 0; i < a.nworkers; i++)
		pthread_join(a.workers[i], NULL);
	if (ctl_started)
		pthread_join(ctl, NULL);
	if (sig_started) {
		pthread_kill(sig, SIGUSR1);
		pthread_join(sig, NULL);
	}
	ag_journal_stop(&a, rc == 0 && a.st == AG_ONLINE);
	log_msg(LOG_INFO, "node: stopped");
out:
	/* The signals stay blocked: one arriving now must not kill the exit. */
	if (a.jr.marks) /* the journal was opened */
		ag_journal_close(&a);
	agent_release(&a);
	return rc;
}
