/* The user routes of jobs and configs (docs/jobs.md, "User routes"):
 * validation of a new job, its insert with its chunks in one transaction,
 * and the reads. A member sees their own jobs; admins see all; anyone
 * else's job is answered 404 as a missing one. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth/auth.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "dataset/ds.h"
#include "runtime/rt.h"
#include "sched/sched_int.h"

#define JOB_NAME_MAX 128
#define JOB_ARGS_MAX 256
#define JOB_ARG_MAX 4096
#define JOB_ENV_MAX 128
#define JOB_INPUTS_MAX 64
#define JOB_DEPS_MAX 64
#define JOB_ACCESS_MAX 64
#define MANIFEST_MAX ((size_t)64 << 20)

/* A refusal of a new job: 400 for a mistyped field, 422 for a value that
 * names nothing usable; the message names the field. */
typedef struct verr {
	int status;
	char msg[512];
} verr;

static int bad(verr *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(verr *e, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	e->status = status;
	return -EINVAL;
}

static char **strv_add(char **v, size_t *n, const char *s)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i], s) == 0)
			return v;
	v = xrealloc(v, (*n + 1) * sizeof *v);
	v[(*n)++] = xstrdup(s);
	return v;
}

static int int_field(const json_t *o, const char *k, const char *where, int64_t def, int64_t min,
		     int64_t max, int64_t *out, verr *e)
{
	const json_t *v = json_object_get(o, k);
	if (!v || json_is_null(v)) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return bad(e, 400, "field '%s%s' must be an integer from %lld to %lld", where, k,
			   (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

/* ---- lookups ---- */

static int one_text(store_conn *c, const char *sql, const char *arg, char *out, size_t n)
{
	store_rows *rows = NULL;
	int rc = store_query(c, sql, &rows, SARGS(SA_TEXT(arg)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		sn_strlcpy(out, store_rows_text(rows, 0), n);
		rc = 0;
	} else if (rc == 0) {
		rc = -ENOENT;
	}
	store_rows_free(&rows);
	return rc;
}

static int user_groups(store_conn *c, const char *user, sc_job *j)
{
	store_rows *rows = NULL;
	int rc = store_query(c, "SELECT group_id FROM group_members WHERE user_id = $1", &rows,
			     SARGS(SA_TEXT(user)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		j->owner_groups = strv_add(j->owner_groups, &j->nowner_groups,
					   store_rows_text(rows, 0));
		rc = 0;
	}
	store_rows_free(&rows);
	return rc;
}

/* ---- validation ---- */

static int v_access(store_conn *c, const json_t *a, sc_job *j, json_t **stored, verr *e)
{
	if (!a || json_is_null(a) || (json_is_string(a) && !strcmp(json_string_value(a), "private"))) {
		j->access = SC_PRIVATE;
		*stored = json_string("private");
		return 0;
	}
	if (json_is_string(a) && !strcmp(json_string_value(a), "public")) {
		j->access = SC_PUBLIC;
		*stored = json_string("public");
		return 0;
	}
	if (!json_is_object(a))
		return bad(e, 400, "field 'access' must be \"private\", \"public\" or"
			   " {\"users\":[…],\"groups\":[…]}");
	j->access = SC_LIST;
	const char *keys[2] = { "users", "groups" };
	const char *sql[2] = { "SELECT id FROM users WHERE id = $1 OR username = $1",
			       "SELECT id FROM user_groups WHERE id = $1 OR name = $1" };
	for (int k = 0; k < 2; k++) {
		const json_t *l = json_object_get(a, keys[k]), *x;
		size_t i;
		if (l && (!json_is_array(l) || json_array_size(l) > JOB_ACCESS_MAX))
			return bad(e, 400, "field 'access.%s' must be an array of at most %d names",
				   keys[k], JOB_ACCESS_MAX);
		json_array_foreach(l, i, x) {
			char id[64];
			const char *name = json_string_value(x);
			int rc = name ? one_text(c, sql[k], name, id, sizeof id) : -EINVAL;
			if (rc == -ENOENT || rc == -EINVAL)
				return bad(e, 422, "access.%s[%zu]: no such %s", keys[k], i,
					   k ? "group" : "user");
			if (rc)
				return rc;
			if (k == 0)
				j->users = strv_add(j->users, &j->nusers, id);
			else
				j->groups = strv_add(j->groups, &j->ngroups, id);
		}
	}
	json_t *u = json_array(), *g = json_array();
	for (size_t i = 0; u && i < j->nusers; i++)
		if (json_array_append_new(u, json_string(j->users[i])))
			break;
	for (size_t i = 0; g && i < j->ngroups; i++)
		if (json_array_append_new(g, json_string(j->groups[i])))
			break;
	*stored = u && g ? json_pack("{s:o,s:o}", "users", u, "groups", g) : NULL;
	if (!*stored) {
		json_decref(u);
		json_decref(g);
		return -ENOMEM;
	}
	return 0;
}

static int v_limits(const json_t *l, sc_job *j, json_t **out, verr *e)
{
	int64_t t, m, cpus, gpus;
	if (l && !json_is_object(l))
		return bad(e, 400, "field 'limits' must be an object");
	int rc = int_field(l, "time_s", "limits.", 3600, 1, 30LL * 86400, &t, e);
	if (rc == 0)
		rc = int_field(l, "memory_mb", "limits.", 2048, 16, 1 << 22, &m, e);
	if (rc == 0)
		rc = int_field(l, "cpus", "limits.", 1, 1, 1024, &cpus, e);
	if (rc == 0)
		rc = int_field(l, "gpus", "limits.", 0, 0, 64, &gpus, e);
	if (rc)
		return rc;
	const char *net = json_string_value(json_object_get(l, "network"));
	if (json_object_get(l, "network") && (!net || (strcmp(net, "none") && strcmp(net, "egress"))))
		return bad(e, 400, "field 'limits.network' must be \"none\" or \"egress\"");
	j->gpus = (int)gpus;
	*out = json_pack("{s:I,s:I,s:I,s:I,s:s}", "time_s", (json_int_t)t, "memory_mb",
			 (json_int_t)m, "cpus", (json_int_t)cpus, "gpus", (json_int_t)gpus, "network",
			 net ? net : "none");
	return *out ? 0 : -ENOMEM;
}

static int v_strings(const json_t *body, const char *k, size_t max, json_t **out, verr *e)
{
	const json_t *a = json_object_get(body, k), *x;
	size_t i;
	if (!a || json_is_null(a)) {
		*out = json_array();
		return *out ? 0 : -ENOMEM;
	}
	if (!json_is_array(a) || json_array_size(a) > max)
		return bad(e, 400, "field '%s' must be an array of at most %zu strings", k, max);
	json_array_foreach(a, i, x)
		if (!json_is_string(x) || json_string_length(x) > JOB_ARG_MAX)
			return bad(e, 400, "%s[%zu] must be a string of at most %d bytes", k, i,
				   JOB_ARG_MAX);
	*out = json_deep_copy(a);
	return *out ? 0 : -ENOMEM;
}

static int env_name_ok(const char *k)
{
	if (!*k || strncmp(k, "SENTINEL_", 9) == 0 || (*k >= '0' && *k <= '9') || strlen(k) > 128)
		return 0;
	for (; *k; k++)
		if (!(*k == '_' || (*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9')))
			return 0;
	return 1;
}

static int v_env(const json_t *body, json_t **out, verr *e)
{
	const json_t *o = json_object_get(body, "env"), *v;
	const char *k;
	if (!o || json_is_null(o)) {
		*out = json_object();
		return *out ? 0 : -ENOMEM;
	}
	if (!json_is_object(o) || json_object_size(o) > JOB_ENV_MAX)
		return bad(e, 400, "field 'env' must be an object of at most %d strings", JOB_ENV_MAX);
	json_object_foreach((json_t *)o, k, v) {
		if (!env_name_ok(k))
			return bad(e, 422, "env.%s: a name is [A-Za-z_][A-Za-z0-9_]*, not SENTINEL_*", k);
		if (!json_is_string(v) || json_string_length(v) > JOB_ARG_MAX)
			return bad(e, 400, "env.%s must be a string of at most %d bytes", k, JOB_ARG_MAX);
	}
	*out = json_deep_copy(o);
	return *out ? 0 : -ENOMEM;
}

static int manifest_files(sched *s, const char *sha, sc_job *j, json_t **out)
{
	int fd = -1;
	uint64_t size = 0;
	ds_manifest m = { 0 };
	char *text = NULL;
	int rc = blob_open(s->blobs, sha, &fd, &size);
	if (rc == 0 && size > MANIFEST_MAX)
		rc = -EFBIG;
	if (rc == 0) {
		text = xmalloc(size + 1);
		rc = pread(fd, text, size, 0) == (ssize_t)size ? 0 : -EIO;
	}
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		rc = ds_manifest_parse(text, size, &m);
	free(text);
	json_t *a = rc == 0 ? json_array() : NULL;
	for (size_t i = 0; rc == 0 && i < m.n; i++) {
		json_t *f = json_pack("{s:s,s:s,s:I}", "path", m.files[i].path, "sha256",
				      m.files[i].sha256, "bytes", (json_int_t)m.files[i].size);
		if (!a || !f || json_array_append_new(a, f))
			rc = -ENOMEM;
		j->blobs = strv_add(j->blobs, &j->nblobs, m.files[i].sha256);
	}
	ds_manifest_release(&m);
	if (rc)
		json_decref(a);
	else
		*out = a;
	return rc;
}

/* A node-local dataset: "name", "name@local" or "name@<manifest sha256>"
 * held by a node this job may run on (sc_eligible: its access, the node's
 * permissions and the pins of its earlier inputs, so that every local
 * input of a job is on one node). -ENOENT when none holds it; -EEXIST when
 * the bare name stands for several manifests there (the caller must name
 * one). mu held. */
static int local_input(sched *s, const sc_job *j, const char *spec, char manifest[65])
{
	const char *at = strchr(spec, '@');
	size_t len = at ? (size_t)(at - spec) : strlen(spec);
	const char *want = at && strcmp(at + 1, "local") ? at + 1 : NULL;
	if (len == 0 || len > DS_NAME_MAX || (want && !blob_sha_valid(want)))
		return -ENOENT;
	manifest[0] = '\0';
	sched_refresh_nodes(s);
	for (size_t i = 0; i < s->nsnap; i++) {
		const node_info *n = &s->snap[i];
		if (!sc_eligible(j, n))
			continue;
		for (size_t k = 0; k < n->ndatasets; k++) {
			const char *tab = strchr(n->datasets[k], '\t');
			if (!tab || (size_t)(tab - n->datasets[k]) != len ||
			    memcmp(n->datasets[k], spec, len) || (want && strcmp(tab + 1, want)))
				continue;
			if (manifest[0] && strcmp(manifest, tab + 1))
				return -EEXIST;
			sn_strlcpy(manifest, tab + 1, 65);
		}
	}
	return manifest[0] ? 0 : -ENOENT;
}

static int v_inputs_in(sched *s, store_conn *c, const json_t *body, const auth_user *u, sc_job *j,
		       json_t *out, verr *e)
{
	const json_t *a = json_object_get(body, "inputs"), *x;
	size_t i;
	int rc = 0;
	if (a && !json_is_null(a) && (!json_is_array(a) || json_array_size(a) > JOB_INPUTS_MAX))
		return bad(e, 400, "field 'inputs' must be an array of at most %d \"dataset@version\"",
			   JOB_INPUTS_MAX);
	json_array_foreach(a, i, x) {
		const char *spec = json_string_value(x);
		ds_ref ref;
		json_t *in = NULL, *files = NULL;
		char manifest[65];
		if (!spec)
			return bad(e, 400, "inputs[%zu] must be a string \"dataset@version\"", i);
		rc = ds_ref_resolve(c, "dataset", spec, u, &ref);
		if (rc == -ENOENT || rc == -EINVAL) {
			/* Not an uploaded dataset this user may read: node-local data. */
			pthread_mutex_lock(&s->mu);
			rc = local_input(s, j, spec, manifest);
			pthread_mutex_unlock(&s->mu);
			if (rc == -EEXIST)
				return bad(e, 422, "inputs[%zu]: %s names different data on different"
					   " nodes; name one as NAME@<manifest sha256>", i, spec);
			if (rc)
				return bad(e, 422, "inputs[%zu]: no dataset %s that you may read, uploaded"
					   " or on a node this job may use", i, spec);
			char pin[DS_NAME_MAX + 70];
			const char *at = strchr(spec, '@');
			snprintf(pin, sizeof pin, "%.*s\t%s", (int)(at ? at - spec : (long)strlen(spec)),
				 spec, manifest);
			j->pins = strv_add(j->pins, &j->npins, pin);
			*strchr(pin, '\t') = '\0';
			in = json_pack("{s:s,s:n,s:s,s:s}", "name", pin, "version", "sha256", manifest,
				       "kind", "local");
		} else if (rc) {
			return rc;
		} else {
			int set = strcmp(ref.kind, "fileset") == 0;
			if (set && (rc = manifest_files(s, ref.sha256, j, &files)))
				return rc == -ENOENT || rc == -EBADMSG
					? bad(e, 422, "inputs[%zu]: the file set of %s is unreadable", i, spec)
					: rc;
			j->blobs = strv_add(j->blobs, &j->nblobs, ref.sha256);
			j->inputs = strv_add(j->inputs, &j->ninputs, ref.sha256);
			in = json_pack("{s:s,s:I,s:s,s:s}", "name", ref.name, "version",
				       (json_int_t)ref.version, "sha256", ref.sha256, "kind",
				       set ? "set" : "file");
			if (in && files && json_object_set_new(in, "files", files))
				rc = -ENOMEM;
			else if (!in)
				json_decref(files);
			if (rc) {
				json_decref(in);
				return rc;
			}
		}
		if (rc || !in || json_array_append_new(out, in))
			return rc ? rc : -ENOMEM;
	}
	return 0;
}

static int v_inputs(sched *s, store_conn *c, const json_t *body, const auth_user *u, sc_job *j,
		    json_t **out, verr *e)
{
	json_t *a = json_array();
	int rc = a ? v_inputs_in(s, c, body, u, j, a, e) : -ENOMEM;
	if (rc)
		json_decref(a);
	else
		*out = a;
	return rc;
}

static int v_program(store_conn *c, const json_t *body, const auth_user *u, sc_job *j,
		     json_t *tmpl, verr *e)
{
	const json_t *p = json_object_get(body, "program"), *sc = json_object_get(body, "script");
	static const char *const progs[] = { "noop", "sleep", "montecarlo-pi", "train" };
	int has_p = p && !json_is_null(p), has_s = sc && !json_is_null(sc);
	if (has_p == has_s)
		return bad(e, 422, "give exactly one of 'script' (\"name@version\") and 'program'");
	if (has_p) {
		const char *name = json_string_value(p);
		for (size_t i = 0; name && i < sizeof progs / sizeof progs[0]; i++)
			if (strcmp(name, progs[i]) == 0)
				return json_object_set_new(tmpl, "program", json_string(name)) ||
				       json_object_set_new(tmpl, "script", json_null()) ? -ENOMEM : 0;
		return bad(e, 422, "field 'program' must be one of noop, sleep, montecarlo-pi, train");
	}
	ds_ref ref;
	const char *spec = json_string_value(sc);
	if (!spec)
		return bad(e, 400, "field 'script' must be a string \"name@version\"");
	int rc = ds_ref_resolve(c, "script", spec, u, &ref);
	if (rc == -ENOENT || rc == -EINVAL)
		return bad(e, 422, "script: no script %s that you may read", spec);
	if (rc)
		return rc;
	j->blobs = strv_add(j->blobs, &j->nblobs, ref.sha256);
	json_t *s = json_pack("{s:s,s:I,s:s,s:s}", "name", ref.name, "version",
			      (json_int_t)ref.version, "sha256", ref.sha256, "filename",
			      ref.filename[0] ? ref.filename : "script");
	return !s || json_object_set_new(tmpl, "script", s) ||
	       json_object_set_new(tmpl, "program", json_null()) ? -ENOMEM : 0;
}

static int config_upsert(store_conn *c, const json_t *body, char sha[65]);

static int v_config(store_conn *c, const json_t *body, sc_job *j, char sha[65], verr *e)
{
	const json_t *v = json_object_get(body, "config");
	sha[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (json_is_object(v)) {
		int rc = config_upsert(c, v, sha);
		if (rc == -EFBIG)
			return bad(e, 400, "field 'config' is larger than 1 MiB");
		if (rc == 0)
			j->blobs = strv_add(j->blobs, &j->nblobs, sha);
		return rc;
	}
	const char *s = json_string_value(v);
	if (!s || !blob_sha_valid(s))
		return bad(e, 400, "field 'config' must be an object or the sha256 of a stored config");
	/* A touch, not a read: a config named by hash is not old enough for
	 * retention while its job is being made (the row lock orders the two). */
	int64_t n = 0;
	int rc = store_exec(c, "UPDATE configs SET created_at = $2 WHERE sha256 = $1", &n,
			    SARGS(SA_TEXT(s), SA_INT(sn_now_ms())));
	if (rc == 0 && n == 0)
		return bad(e, 422, "config: no stored config %s (POST /api/v1/configs first)", s);
	if (rc == 0) {
		sn_strlcpy(sha, s, 65);
		j->blobs = strv_add(j->blobs, &j->nblobs, sha);
	}
	return rc;
}

/* Parents still to wait for; *why set when one already failed. */
static int v_deps(store_conn *c, const json_t *body, const auth_user *u, sc_job *j, char **why,
		  verr *e)
{
	const json_t *a = json_object_get(body, "depends_on"), *x;
	size_t i;
	if (a && !json_is_null(a) && (!json_is_array(a) || json_array_size(a) > JOB_DEPS_MAX))
		return bad(e, 400, "field 'depends_on' must be an array of at most %d job ids",
			   JOB_DEPS_MAX);
	json_array_foreach(a, i, x) {
		const char *id = json_string_value(x);
		store_rows *rows = NULL;
		int rc = id ? store_query(c, "SELECT owner_id, state FROM jobs WHERE id = $1", &rows,
					  SARGS(SA_TEXT(id))) : -EINVAL;
		int found = rc == 0 && store_rows_next(rows) == 1 &&
			    (u->role >= ROLE_ADMIN || strcmp(store_rows_text(rows, 0), u->id) == 0);
		char state[16] = "";
		if (found)
			sn_strlcpy(state, store_rows_text(rows, 1), sizeof state);
		store_rows_free(&rows);
		if (rc && rc != -EINVAL)
			return rc;
		if (!found)
			return bad(e, 422, "depends_on[%zu]: no such job", i);
		if (!strcmp(state, "failed") || !strcmp(state, "cancelled")) {
			if (!*why)
				*why = xasprintf("dependency %s %s", id, state);
		} else if (strcmp(state, "completed") != 0) {
			j->parents = strv_add(j->parents, &j->nparents, id);
		}
	}
	return 0;
}

static int v_chunks(const json_t *body, sc_job *j, verr *e)
{
	int64_t total, size, attempts, prio;
	int rc = int_field(body, "total_iterations", "", -1, 1, 1000000000000LL, &total, e);
	if (rc == 0)
		rc = int_field(body, "chunk_size", "", 1000, 1, 1000000000000LL, &size, e);
	if (rc == 0)
		rc = int_field(body, "max_attempts", "", 3, 1, 100, &attempts, e);
	if (rc == 0)
		rc = int_field(body, "priority", "", 0, -1000, 1000, &prio, e);
	if (rc)
		return rc;
	int64_t n = total < 0 ? 1 : (total + size - 1) / size;
	if (n > SCHED_CHUNKS_MAX)
		return bad(e, 422, "total_iterations / chunk_size gives %lld chunks; at most %d",
			   (long long)n, SCHED_CHUNKS_MAX);
	j->total_iterations = total;
	j->chunk_size = total < 0 ? 1 : size;
	j->nchunks = (uint32_t)n;
	j->max_attempts = (int)attempts;
	j->priority = (int)prio;
	return 0;
}

/* A script job's runtime, resolved here (rt.h) into the chunk's
 * "runtime_spec" {"name","kind","sha256"?} (docs/jobs.md, Runtimes). An
 * image is fetched by nodes by its tarball's hash (GET /node/blobs serves
 * the kept archive) and counts as an input, so nodes holding it are
 * preferred; a venv lives on each node's disk: the pin "venv:NAME" keeps
 * the job on nodes whose heartbeat reports it (sc_eligible). */
static int v_runtime(sched *s, const char *name, sc_job *j, json_t *tmpl, verr *e)
{
	char err[256] = "";
	rt_info ri;
	json_t *spec;
	uint64_t size;
	int fd, rc;
	if (!json_is_object(json_object_get(tmpl, "script")))
		return 0; /* a built-in runs in the agent */
	if (strcmp(name, "host") == 0) {
		spec = json_pack("{s:s,s:s}", "name", "host", "kind", "host");
		return json_object_set_new(tmpl, "runtime_spec", spec) ? -ENOMEM : 0;
	}
	rc = s->cfg.data ? rt_lookup(s->cfg.data, name, &ri, err, sizeof err) : -ENOENT;
	if (rc == -ENOENT || rc == -EINVAL)
		return bad(e, 422, "runtime: %s", err[0] ? err : "no such runtime");
	if (rc)
		return rc;
	if (strcmp(ri.kind, "image") == 0) {
		if ((rc = rt_archive_open(s->cfg.data, ri.sha256, &fd, &size)) == 0)
			close(fd);
		spec = rc ? NULL : json_pack("{s:s,s:s,s:s}", "name", name, "kind", "image",
					     "sha256", ri.sha256);
		if (spec)
			j->inputs = strv_add(j->inputs, &j->ninputs, ri.sha256);
	} else {
		char *pin = xasprintf("venv:%s", name);
		spec = json_pack("{s:s,s:s}", "name", name, "kind", "venv");
		j->pins = strv_add(j->pins, &j->npins, pin);
		free(pin);
	}
	rt_info_release(&ri);
	if (rc == -ENOENT)
		return bad(e, 422, "runtime '%s': its tarball is not kept on this server (an image"
			   " ingested by an older version): ingest it again", name);
	if (rc)
		return rc;
	return json_object_set_new(tmpl, "runtime_spec", spec) ? -ENOMEM : 0;
}

/* Everything of a new job but its insert. */
static int job_build(sched *s, store_conn *c, const json_t *body, const auth_user *u, sc_job *j,
		     char config[65], json_t **access, char **why, verr *e)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	const char *runtime = json_string_value(json_object_get(body, "runtime"));
	json_t *tmpl, *v = NULL;
	if (!name || !*name || strlen(name) > JOB_NAME_MAX)
		return bad(e, 400, "field 'name' must be a string of 1 to %d bytes", JOB_NAME_MAX);
	if (json_object_get(body, "runtime") && (!runtime || !*runtime || strlen(runtime) > 128))
		return bad(e, 400, "field 'runtime' must be a string (\"host\", an image…)");
	tmpl = json_object();
	sn_strlcpy(j->name, name, sizeof j->name);
	sn_strlcpy(j->owner, u->id, sizeof j->owner);
	int rc = tmpl ? 0 : -ENOMEM;
	if (rc == 0)
		rc = v_chunks(body, j, e);
	if (rc == 0)
		rc = v_program(c, body, u, j, tmpl, e);
	if (rc == 0 && (rc = v_strings(body, "args", JOB_ARGS_MAX, &v, e)) == 0)
		rc = json_object_set_new(tmpl, "args", v) ? -ENOMEM : 0;
	if (rc == 0 && (rc = v_env(body, &v, e)) == 0)
		rc = json_object_set_new(tmpl, "env", v) ? -ENOMEM : 0;
	if (rc == 0 && (rc = v_limits(json_object_get(body, "limits"), j, &v, e)) == 0)
		rc = json_object_set_new(tmpl, "limits", v) ? -ENOMEM : 0;
	if (rc == 0)
		rc = json_object_set_new(tmpl, "runtime", json_string(runtime ? runtime : "host"))
			? -ENOMEM : 0;
	if (rc == 0)
		rc = v_config(c, body, j, config, e);
	if (rc == 0)
		rc = json_object_set_new(tmpl, "config_sha256",
					 config[0] ? json_string(config) : json_null()) ? -ENOMEM : 0;
	/* Access and the owner's groups first: node-local inputs are looked
	 * for on the nodes the job may use. */
	if (rc == 0)
		rc = v_access(c, json_object_get(body, "access"), j, access, e);
	if (rc == 0)
		rc = user_groups(c, u->id, j);
	/* Before the inputs: a venv's pin narrows where local inputs are looked for. */
	if (rc == 0)
		rc = v_runtime(s, runtime ? runtime : "host", j, tmpl, e);
	if (rc == 0 && (rc = v_inputs(s, c, body, u, j, &v, e)) == 0)
		rc = json_object_set_new(tmpl, "inputs", v) ? -ENOMEM : 0;
	if (rc == 0)
		rc = v_deps(c, body, u, j, why, e);
	if (rc == 0 && !(j->tmpl = json_dumps(tmpl, JSON_COMPACT)))
		rc = -ENOMEM;
	json_decref(tmpl);
	return rc;
}

/* ---- reads ---- */

static int job_visible(store_conn *c, const char *id, const auth_user *u)
{
	char owner[64];
	int rc = one_text(c, "SELECT owner_id FROM jobs WHERE id = $1", id, owner, sizeof owner);
	if (rc == 0 && u->role < ROLE_ADMIN && strcmp(owner, u->id) != 0)
		rc = -ENOENT;
	return rc;
}

static int outputs_json(store_conn *c, const char *id, json_t **out)
{
	store_rows *rows = NULL;
	json_t *a = json_array();
	/* job_outputs lists the chunks with an output: a job of 100,000
	 * chunks without any is not scanned at each read. */
	int rc = a ? store_query(c, "SELECT c.result FROM job_outputs o JOIN chunks c ON"
				 " c.job_id = o.job_id AND c.idx = o.idx WHERE o.job_id = $1"
				 " ORDER BY o.idx LIMIT 1000", &rows, SARGS(SA_TEXT(id))) : -ENOMEM;
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		json_t *r = json_loads(store_rows_text(rows, 0), 0, NULL);
		json_t *o = json_object_get(r, "output");
		rc = o && json_array_append(a, o) ? -ENOMEM : 0;
		json_decref(r);
	}
	store_rows_free(&rows);
	if (rc) {
		json_decref(a);
		return rc;
	}
	*out = a;
	return 0;
}

#define JOB_COLS "j.id, j.name, j.owner_id, u.username, j.state, j.reason, j.config_sha256," \
	" j.total_iterations, j.completed_iterations, j.stats, j.created_at, j.started_at," \
	" j.finished_at, j.priority, j.nchunks, j.access, j.max_attempts, j.chunk_size, j.tmpl"

static json_t *time_or_null(store_rows *rows, int col)
{
	return http_json_time(store_rows_isnull(rows, col) ? -1 : store_rows_int(rows, col));
}

static json_t *text_or_null(store_rows *rows, int col)
{
	return store_rows_isnull(rows, col) ? json_null() : json_string(store_rows_text(rows, col));
}

/* Chunk counts and state: the core's when it holds the job (the store
 * lags it by a batch), else the store's. */
static int counts_json(sched *s, store_conn *c, const char *id, char *state, size_t n,
		       json_t **out)
{
	int64_t cnt[CK_NSTATES] = { 0 }, total = 0;
	int have = 0;
	pthread_mutex_lock(&s->mu);
	sc_job *j = sc_job_find(&s->core, id);
	if (j) {
		for (int k = 0; k < CK_NSTATES; k++)
			cnt[k] = j->count[k];
		sn_strlcpy(state, sc_job_state_names[j->state], n);
		have = 1;
	}
	pthread_mutex_unlock(&s->mu);
	int rc = 0;
	if (!have) {
		store_rows *rows = NULL;
		rc = store_query(c, "SELECT state, COUNT(*) FROM chunks WHERE job_id = $1 GROUP BY"
				 " state", &rows, SARGS(SA_TEXT(id)));
		while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
			for (int k = 0; k < CK_NSTATES; k++)
				if (strcmp(store_rows_text(rows, 0), sc_ck_state_names[k]) == 0)
					cnt[k] = store_rows_int(rows, 1);
			rc = 0;
		}
		store_rows_free(&rows);
	}
	json_t *o = json_object();
	for (int k = 0; o && k < CK_NSTATES; k++) {
		total += cnt[k];
		if (json_object_set_new(o, sc_ck_state_names[k], json_integer(cnt[k])))
			rc = -ENOMEM;
	}
	if (!o || json_object_set_new(o, "total", json_integer(total)))
		rc = -ENOMEM;
	if (rc)
		json_decref(o);
	else
		*out = o;
	return rc;
}

static int deps_json(store_conn *c, const char *id, json_t **out)
{
	store_rows *rows = NULL;
	json_t *a = json_array();
	int rc = a ? store_query(c, "SELECT parent_id FROM job_deps WHERE job_id = $1 ORDER BY"
				 " parent_id", &rows, SARGS(SA_TEXT(id))) : -ENOMEM;
	while (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = json_array_append_new(a, json_string(store_rows_text(rows, 0))) ? -ENOMEM : 0;
	store_rows_free(&rows);
	if (rc)
		json_decref(a);
	else
		*out = a;
	return rc;
}

/* The job JSON of a row selected with JOB_COLS; full adds the result. */
static int job_json(sched *s, store_conn *c, store_rows *rows, int full, json_t **out)
{
	char id[32], state[16];
	json_t *counts = NULL, *deps = NULL, *result = json_null(), *tmpl, *j;
	sn_strlcpy(id, store_rows_text(rows, 0), sizeof id);
	sn_strlcpy(state, store_rows_text(rows, 4), sizeof state);
	int rc = counts_json(s, c, id, state, sizeof state, &counts);
	if (rc == 0)
		rc = deps_json(c, id, &deps);
	if (rc == 0 && full && !store_rows_isnull(rows, 9)) {
		json_t *stats = json_loads(store_rows_text(rows, 9), 0, NULL), *outs = NULL;
		if ((rc = outputs_json(c, id, &outs)) == 0 && stats)
			result = json_pack("{s:o,s:o}", "stats", stats, "outputs", outs);
		else {
			json_decref(stats);
			json_decref(outs);
		}
		rc = rc ? rc : result ? 0 : -ENOMEM;
	}
	if (rc) {
		json_decref(counts);
		json_decref(deps);
		json_decref(result);
		return rc;
	}
	tmpl = json_loads(store_rows_text(rows, 18), 0, NULL);
	j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:o,s:I,"
		      "s:I,s:O,s:O,s:O,s:O,s:O,s:O}",
		      "id", id, "name", store_rows_text(rows, 1), "owner_id", store_rows_text(rows, 2),
		      "owner", store_rows_text(rows, 3), "state", state, "reason",
		      text_or_null(rows, 5), "config_sha256", text_or_null(rows, 6),
		      "total_iterations", store_rows_isnull(rows, 7) ? json_null()
					  : json_integer(store_rows_int(rows, 7)),
		      "completed_iterations", (json_int_t)store_rows_int(rows, 8), "chunks", counts,
		      "result", result, "created_at", time_or_null(rows, 10), "started_at",
		      time_or_null(rows, 11), "finished_at", time_or_null(rows, 12), "depends_on",
		      deps, "priority", (json_int_t)store_rows_int(rows, 13), "access",
		      json_loads(store_rows_text(rows, 15), JSON_DECODE_ANY, NULL) ?: json_null(),
		      "max_attempts", (json_int_t)store_rows_int(rows, 16), "chunk_size",
		      (json_int_t)store_rows_int(rows, 17),
		      "program", json_object_get(tmpl, "program") ?: json_null(),
		      "script", json_object_get(tmpl, "script") ?: json_null(),
		      "inputs", json_object_get(tmpl, "inputs") ?: json_null(),
		      "limits", json_object_get(tmpl, "limits") ?: json_null(),
		      "runtime", json_object_get(tmpl, "runtime") ?: json_null(),
		      "args", json_object_get(tmpl, "args") ?: json_null());
	json_decref(tmpl);
	if (!j)
		return -ENOMEM;
	*out = j;
	return 0;
}

int sched_job_get(sched *s, store_conn *c, const char *id, const auth_user *u, json_t **out);
int sched_job_get(sched *s, store_conn *c, const char *id, const auth_user *u, json_t **out)
{
	store_rows *rows = NULL;
	int rc = u ? job_visible(c, id, u) : 0;
	if (rc == 0)
		rc = store_query(c, "SELECT " JOB_COLS " FROM jobs j LEFT JOIN users u ON"
				 " u.id = j.owner_id WHERE j.id = $1", &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1)
		rc = job_json(s, c, rows, 1, out);
	else if (rc == 0)
		rc = -ENOENT;
	store_rows_free(&rows);
	return rc;
}

static void reply_job(sched *s, http_req *r, const char *id, int status)
{
	store_conn *c = NULL;
	json_t *j = NULL;
	/* The state comes from memory, completed_iterations and the result from
	 * the store, which the writer fills a batch behind: a job that has just
	 * ended is shown once its last writes are durable, so that a finished
	 * job never shows the iterations of a moment before (a client following
	 * it stops at the first finished state it sees). */
	pthread_mutex_lock(&s->mu);
	sc_job *cj = sc_job_find(&s->core, id);
	int ended = cj && cj->state > JOB_RUNNING;
	pthread_mutex_unlock(&s->mu);
	if (ended)
		sched_job_settle(s, id);
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = sched_job_get(s, c, id, auth_caller(r), &j);
	store_release(&c);
	if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such job" : NULL);
	else
		http_reply_json(r, status, j);
}

/* ---- handlers ---- */

static int config_upsert(store_conn *c, const json_t *body, char sha[65])
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	int rc = n > HTTP_JSON_MAX ? -EFBIG : 0;
	if (rc == 0)
		sn_sha256_hex(text, n, sha);
	if (rc == 0)
		/* created_at is the last use: retention (sched_configs_gc) counts from it. */
		rc = store_exec(c, "INSERT INTO configs (sha256, body, created_at) VALUES ($1, $2, $3)"
				" ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at", NULL,
				SARGS(SA_TEXT(sha), SA_TEXT(text), SA_INT(sn_now_ms())));
	free(text);
	return rc;
}

static void h_config(http_req *r, void *ctx)
{
	sched *s = ctx;
	store_conn *c = NULL;
	char sha[65];
	json_t *body = http_req_json(r);
	if (!json_is_object(body)) {
		http_reply_error(r, 400, "bad_request", "the body must be a JSON object");
		return;
	}
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = config_upsert(c, body, sha);
	store_release(&c);
	if (rc) {
		http_reply_errno(r, rc, NULL);
		return;
	}
	char t[80];
	snprintf(t, sizeof t, "config:%s", sha);
	http_req_set_target(r, t);
	json_t *j = json_pack("{s:s}", "sha256", sha);
	if (j)
		http_reply_json(r, 200, j);
	else
		http_reply_errno(r, -ENOMEM, NULL);
}

static void h_create(http_req *r, void *ctx)
{
	sched *s = ctx;
	const auth_user *u = auth_caller(r);
	json_t *body = http_req_json(r), *access = NULL;
	store_conn *c = NULL;
	char config[65] = "", *why = NULL, *access_text = NULL;
	verr e = { 0 };
	sc_job *j = xcalloc(1, sizeof *j);
	if (!json_is_object(body)) {
		sc_job_free(j);
		http_reply_error(r, 400, "bad_request", "the body must be a JSON object");
		return;
	}
	char *id = sn_id_new("jb_");
	sn_strlcpy(j->id, id, sizeof j->id);
	free(id);
	j->created_at = node_now_ms(s->nodes);
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = job_build(s, c, body, u, j, config, &access, &why, &e);
	store_release(&c);
	if (rc == 0 && !(access_text = json_dumps(access, JSON_COMPACT | JSON_ENCODE_ANY)))
		rc = -ENOMEM;
	json_decref(access);
	if (rc == 0) {
		j->state = why ? JOB_FAILED : JOB_PENDING;
		j->ck = xcalloc(j->nchunks, sizeof *j->ck);
		for (uint32_t i = 0; i < j->nchunks; i++)
			j->ck[i].state = why ? CK_CANCELLED : CK_PENDING;
		rc = sched_store_job(s, j, config[0] ? config : NULL, access_text, why);
	}
	free(access_text);
	if (rc) {
		sc_job_free(j);
		free(why);
		if (e.status)
			http_reply_error(r, e.status, e.status == 400 ? "bad_request" : "invalid",
					 "%s", e.msg);
		else
			http_reply_errno(r, rc, NULL);
		return;
	}
	char t[48], jid[24];
	snprintf(t, sizeof t, "job:%s", j->id);
	sn_strlcpy(jid, j->id, sizeof jid);
	http_req_set_target(r, t);
	free(why);
	pthread_mutex_lock(&s->mu);
	int active = j->state <= JOB_RUNNING;
	if (active) {
		sc_add_job(&s->core, j, j->created_at);
		sched_refresh_nodes(s);
		sc_dispatch(&s->core, node_now_ms(s->nodes));
		pthread_cond_signal(&s->wcv);
	}
	pthread_mutex_unlock(&s->mu);
	if (!active)
		sc_job_free(j);
	reply_job(s, r, jid, 201);
}

static void h_show(http_req *r, void *ctx)
{
	reply_job(ctx, r, http_req_param(r, "id"), 200);
}

static void h_list(http_req *r, void *ctx)
{
	sched *s = ctx;
	const auth_user *u = auth_caller(r);
	const char *state = http_req_query(r, "state"), *owner = http_req_query(r, "owner");
	const char *name = http_req_query(r, "name"), *cursor;
	int limit;
	if (http_page(r, &limit, &cursor))
		return;
	int64_t cts = INT64_MAX;
	char cid[32] = "~";
	if (cursor && sscanf(cursor, "%" SCNd64 ".%31s", &cts, cid) != 2) {
		http_reply_error(r, 400, "bad_request", "query parameter 'cursor' is malformed");
		return;
	}
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array(), *j;
	char next[64] = "";
	int n = 0;
	int rc = items ? store_acquire(s->st, &c) : -ENOMEM;
	/* CAST: PostgreSQL cannot type a parameter it first meets in IS NULL. */
	if (rc == 0)
		rc = store_query(c, "SELECT " JOB_COLS " FROM jobs j LEFT JOIN users u ON"
				 " u.id = j.owner_id WHERE ($1 = 1 OR j.owner_id = $2)"
				 " AND (CAST($3 AS TEXT) IS NULL OR j.state = $3)"
				 " AND (CAST($4 AS TEXT) IS NULL OR u.username = $4 OR j.owner_id = $4)"
				 " AND (CAST($5 AS TEXT) IS NULL OR j.name = $5) AND"
				 " (j.created_at < $6 OR (j.created_at = $6 AND j.id < $7))"
				 " ORDER BY j.created_at DESC, j.id DESC LIMIT $8", &rows,
				 SARGS(SA_INT(u->role >= ROLE_ADMIN), SA_TEXT(u->id), SA_TEXT(state),
				       SA_TEXT(owner), SA_TEXT(name), SA_INT(cts), SA_TEXT(cid),
				       SA_INT(limit + 1)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (++n > limit)
			break;
		snprintf(next, sizeof next, "%" PRId64 ".%s", store_rows_int(rows, 10),
			 store_rows_text(rows, 0));
		if ((rc = job_json(s, c, rows, 0, &j)) == 0 && json_array_append_new(items, j))
			rc = -ENOMEM;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc) {
		json_decref(items);
		http_reply_errno(r, rc, NULL);
		return;
	}
	http_reply_list(r, items, n > limit ? next : NULL);
}

static int attempts_json(store_conn *c, const char *id, int64_t lo, int64_t hi, json_t *by_idx)
{
	store_rows *rows = NULL;
	/* A chunk's completed attempt is its chunk's row (sched_store.c,
	 * migration 5); the others are rows of attempts. */
	int rc = store_query(c, "SELECT idx, attempt, node_id, state, reason, started_at,"
			     " finished_at, sandbox FROM attempts WHERE job_id = $1 AND idx >= $2"
			     " AND idx <= $3 UNION ALL SELECT idx, attempt, node_id, state, NULL,"
			     " started_at, finished_at, sandbox FROM chunks WHERE job_id = $1"
			     " AND idx >= $2 AND idx <= $3 AND state = 'completed'"
			     " AND node_id IS NOT NULL ORDER BY 1, 2", &rows,
			     SARGS(SA_TEXT(id), SA_INT(lo), SA_INT(hi)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		char k[24];
		snprintf(k, sizeof k, "%" PRId64, store_rows_int(rows, 0));
		json_t *list = json_object_get(by_idx, k);
		json_t *sb = store_rows_isnull(rows, 7) ? NULL
			     : json_loads(store_rows_text(rows, 7), 0, NULL);
		json_t *a = json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o}", "attempt",
				      (json_int_t)store_rows_int(rows, 1), "node_id",
				      store_rows_text(rows, 2), "state", store_rows_text(rows, 3),
				      "reason", text_or_null(rows, 4), "started_at",
				      time_or_null(rows, 5), "finished_at", time_or_null(rows, 6),
				      "sandbox", sb ? sb : json_null());
		rc = !a || !list || json_array_append_new(list, a) ? -ENOMEM : 0;
	}
	store_rows_free(&rows);
	return rc;
}

/* Moves each item's "running" attempt to the end of its attempts, unless
 * it ended meanwhile and the store's row of it is there already. */
static int running_attempts(json_t *items)
{
	size_t i, k;
	json_t *o, *e;
	json_array_foreach(items, i, o) {
		json_t *a = json_object_get(o, "running"), *list = json_object_get(o, "attempts");
		if (!a)
			continue;
		json_int_t n = json_integer_value(json_object_get(a, "attempt"));
		int ended = 0;
		json_array_foreach(list, k, e)
			ended |= json_integer_value(json_object_get(e, "attempt")) == n;
		if (!ended && json_array_append(list, a))
			return -ENOMEM;
		json_object_del(o, "running");
	}
	return 0;
}

static void h_chunks(http_req *r, void *ctx)
{
	sched *s = ctx;
	const char *id = http_req_param(r, "id"), *cursor;
	int limit;
	if (http_page(r, &limit, &cursor))
		return;
	int64_t from = cursor ? strtoll(cursor, NULL, 10) : 0;
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array(), *by_idx = json_object();
	int n = 0, rc = items && by_idx ? store_acquire(s->st, &c) : -ENOMEM;
	int64_t last = from;
	if (rc == 0)
		rc = job_visible(c, id, auth_caller(r));
	if (rc == 0)
		rc = store_query(c, "SELECT idx, state, attempt, failures FROM chunks WHERE"
				 " job_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3", &rows,
				 SARGS(SA_TEXT(id), SA_INT(from), SA_INT(limit + 1)));
	pthread_mutex_lock(&s->mu);
	sc_job *j = sc_job_find(&s->core, id);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (++n > limit)
			break;
		int64_t idx = store_rows_int(rows, 0);
		const char *st = j && idx < j->nchunks ? sc_ck_state_names[j->ck[idx].state]
			       : store_rows_text(rows, 1);
		char cid[48], k[24];
		snprintf(cid, sizeof cid, "%s-%" PRId64, id, idx);
		snprintf(k, sizeof k, "%" PRId64, idx);
		json_t *atts = json_array();
		json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:I,s:I,s:O}", "id", cid, "index",
				      (json_int_t)idx, "state", st, "iterations",
				      (json_int_t)(j ? sc_chunk_iterations(j, (uint32_t)idx) : 0),
				      "seed_offset", (json_int_t)(j ? sc_chunk_seed(j, (uint32_t)idx) : 0),
				      "failures", (json_int_t)(j && idx < j->nchunks ? j->ck[idx].failures
							       : store_rows_int(rows, 3)),
				      "attempts", atts);
		if (!o || !atts || json_object_set_new(by_idx, k, atts) || json_array_append_new(items, o))
			rc = -ENOMEM;
		/* A running attempt has no row until it ends (sched_store.c): the
		 * core's word, added after the ended ones by running_attempt. */
		if (rc == 0 && j && idx < j->nchunks && j->ck[idx].state == CK_RUNNING) {
			const sc_chunk *ck = &j->ck[idx];
			json_t *a = json_pack("{s:I,s:s,s:s,s:n,s:o,s:n,s:n}", "attempt",
					      (json_int_t)ck->attempt, "node_id",
					      s->core.nodes[ck->node]->id, "state", "running", "reason",
					      "started_at", http_json_time(ck->started_at),
					      "finished_at", "sandbox");
			if (!a || json_object_set_new(o, "running", a))
				rc = -ENOMEM;
		}
		last = idx;
	}
	/* The attempts are read from the store: wait until it holds every op
	 * behind the states just read from memory (bounded). */
	if (j)
		(void)sched_wait_durable(s, j->last_seq, 5000);
	pthread_mutex_unlock(&s->mu);
	store_rows_free(&rows);
	if (rc == 0 && n)
		rc = attempts_json(c, id, from, last, by_idx);
	if (rc == 0)
		rc = running_attempts(items);
	if (rc == 0 && !j) {
		/* Finished jobs: iterations and seeds from the job row. */
		int64_t total = -1, size = 1;
		if ((rc = store_query(c, "SELECT total_iterations, chunk_size FROM jobs WHERE id = $1",
				      &rows, SARGS(SA_TEXT(id)))) == 0 && store_rows_next(rows) == 1) {
			total = store_rows_isnull(rows, 0) ? -1 : store_rows_int(rows, 0);
			size = store_rows_int(rows, 1);
		}
		store_rows_free(&rows);
		sc_job tmp = { .total_iterations = total, .chunk_size = size };
		size_t i;
		json_t *o;
		json_array_foreach(items, i, o) {
			uint32_t idx = (uint32_t)json_integer_value(json_object_get(o, "index"));
			if (json_object_set_new(o, "iterations",
						json_integer(sc_chunk_iterations(&tmp, idx))) ||
			    json_object_set_new(o, "seed_offset", json_integer(sc_chunk_seed(&tmp, idx))))
				rc = -ENOMEM;
		}
	}
	store_release(&c);
	json_decref(by_idx);
	if (rc) {
		json_decref(items);
		http_reply_errno(r, rc, rc == -ENOENT ? "no such job" : NULL);
		return;
	}
	char next[24];
	snprintf(next, sizeof next, "%" PRId64, last + 1);
	http_reply_list(r, items, n > limit ? next : NULL);
}

static void h_artifacts(http_req *r, void *ctx)
{
	sched *s = ctx;
	const char *id = http_req_param(r, "id");
	store_conn *c = NULL;
	store_rows *rows = NULL;
	json_t *items = json_array();
	int rc = items ? store_acquire(s->st, &c) : -ENOMEM;
	if (rc == 0)
		rc = job_visible(c, id, auth_caller(r));
	if (rc == 0)
		rc = store_query(c, "SELECT idx, path, sha256, bytes FROM artifacts WHERE job_id = $1"
				 " ORDER BY idx, path LIMIT 10000", &rows, SARGS(SA_TEXT(id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		json_t *a = json_pack("{s:I,s:s,s:s,s:I}", "chunk", (json_int_t)store_rows_int(rows, 0),
				      "path", store_rows_text(rows, 1), "sha256",
				      store_rows_text(rows, 2), "bytes",
				      (json_int_t)store_rows_int(rows, 3));
		rc = !a || json_array_append_new(items, a) ? -ENOMEM : 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc) {
		json_decref(items);
		http_reply_errno(r, rc, rc == -ENOENT ? "no such job" : NULL);
		return;
	}
	http_reply_list(r, items, NULL);
}

/* cancel (retry = 0) or retry. */
static void job_action(http_req *r, sched *s, int retry)
{
	const char *id = http_req_param(r, "id");
	store_conn *c = NULL;
	char t[48];
	snprintf(t, sizeof t, "job:%s", id);
	http_req_set_target(r, t);
	int rc = store_acquire(s->st, &c);
	if (rc == 0)
		rc = job_visible(c, id, auth_caller(r));
	if (rc == 0) {
		pthread_mutex_lock(&s->mu);
		if (!sc_job_find(&s->core, id))
			rc = sched_load_job(s, c, id);
		int64_t now = node_now_ms(s->nodes);
		if (rc == 0)
			rc = retry ? sc_retry(&s->core, id, now) : sc_cancel(&s->core, id, now);
		if (rc == 0) {
			sched_refresh_nodes(s);
			sc_dispatch(&s->core, now);
		}
		uint64_t seq = s->core.seq;
		if (rc == 0 && (rc = sched_wait_durable(s, seq, 20000)) == -ETIMEDOUT)
			rc = -EBUSY;
		pthread_mutex_unlock(&s->mu);
	}
	store_release(&c);
	if (rc == -EALREADY)
		http_reply_error(r, 409, "conflict", retry ? "the job has no failed or cancelled chunks"
				 " to retry" : "the job has already finished");
	else if (rc == -EPERM)
		http_reply_error(r, 409, "conflict", "the job waits for its dependencies");
	else if (rc)
		http_reply_errno(r, rc, rc == -ENOENT ? "no such job" : NULL);
	else
		reply_job(s, r, id, 200);
}

static void h_cancel(http_req *r, void *ctx)
{
	job_action(r, ctx, 0);
}

static void h_retry(http_req *r, void *ctx)
{
	job_action(r, ctx, 1);
}

/* GET /api/v1/jobs/throughput: chunks completed per minute over the last
 * hour, of the caller's jobs (an admin's: everyone's), counted in memory
 * as nodes report them: from the server's start, none before. */
static void h_throughput(http_req *r, void *ctx)
{
	sched *s = ctx;
	const auth_user *u = auth_caller(r);
	uint64_t n[SC_TP_MINUTES], total = 0;
	int64_t first;
	pthread_mutex_lock(&s->mu);
	sc_throughput(&s->core, u->role >= ROLE_ADMIN ? NULL : u->id, node_now_ms(s->nodes), n,
		      &first);
	pthread_mutex_unlock(&s->mu);
	json_t *counts = json_array();
	for (size_t i = 0; i < SC_TP_MINUTES && counts; i++) {
		total += n[i];
		if (json_array_append_new(counts, json_integer((json_int_t)n[i])))
			json_decref(counts), counts = NULL;
	}
	json_t *j = counts ? json_pack("{s:o,s:i,s:o,s:I,s:s,s:o}", "from", http_json_time(first),
				       "step_s", 60, "counts", counts, "total", (json_int_t)total,
				       "scope", u->role >= ROLE_ADMIN ? "all" : "own", "counting_since",
				       http_json_time(s->started_ms)) : NULL;
	if (!j) {
		http_reply_errno(r, -ENOMEM, NULL);
		return;
	}
	http_reply_json(r, 200, j);
}

size_t sched_job_routes(sched *s, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/configs", h_config, 0, ROLE_MEMBER, "config.create", 0, s },
		{ "POST", "/api/v1/jobs", h_create, 0, ROLE_MEMBER, "job.create", 0, s },
		{ "GET", "/api/v1/jobs", h_list, 0, ROLE_MEMBER, NULL, 0, s },
		/* before /jobs/{id}: the first matching route wins */
		{ "GET", "/api/v1/jobs/throughput", h_throughput, 0, ROLE_MEMBER, NULL, 0, s },
		{ "GET", "/api/v1/jobs/{id}", h_show, 0, ROLE_MEMBER, NULL, 0, s },
		{ "GET", "/api/v1/jobs/{id}/chunks", h_chunks, 0, ROLE_MEMBER, NULL, 0, s },
		{ "GET", "/api/v1/jobs/{id}/artifacts", h_artifacts, 0, ROLE_MEMBER, NULL, 0, s },
		{ "POST", "/api/v1/jobs/{id}/cancel", h_cancel, 0, ROLE_MEMBER, "job.cancel", 0, s },
		{ "POST", "/api/v1/jobs/{id}/retry", h_retry, 0, ROLE_MEMBER, "job.retry", 0, s },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n + sched_logs_routes(s, out + n, max - n);
}

int sched_access_parse(sc_job *j, const char *access_json)
{
	json_t *a = json_loads(access_json, JSON_DECODE_ANY, NULL);
	const char *mode = json_string_value(a);
	int rc = a ? 0 : -EBADMSG;
	if (mode)
		j->access = strcmp(mode, "public") == 0 ? SC_PUBLIC : SC_PRIVATE;
	else if (json_is_object(a)) {
		j->access = SC_LIST;
		size_t i;
		json_t *x;
		json_array_foreach(json_object_get(a, "users"), i, x)
			if (json_is_string(x))
				j->users = strv_add(j->users, &j->nusers, json_string_value(x));
		json_array_foreach(json_object_get(a, "groups"), i, x)
			if (json_is_string(x))
				j->groups = strv_add(j->groups, &j->ngroups, json_string_value(x));
	} else if (a) {
		rc = -EBADMSG;
	}
	json_decref(a);
	return rc;
}

int sched_blob_may_read(void *ctx, store_conn *c, const char *ref, const struct auth_user *u)
{
	char owner[64];
	(void)ctx;
	int rc = one_text(c, "SELECT owner_id FROM jobs WHERE id = $1", ref, owner, sizeof owner);
	if (rc == -ENOENT)
		return 0;
	return rc ? rc : u->role >= ROLE_ADMIN || strcmp(owner, u->id) == 0;
}
