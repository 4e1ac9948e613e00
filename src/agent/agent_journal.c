/* The result journal: STATE/journal/<chunk>-<attempt>.json, written with
 * sn_write_file_atomic before anything of the result is sent, removed
 * once the server answered 200 or 409. An entry is
 *   {"chunk","attempt","workdir","body":{…the POST …/result body…}}
 * and its artifacts stay in workdir/w/out until then (PUT of a blob is
 * idempotent, so a replay sends them again safely). Entries are replayed
 * at start and after every heartbeat; one being sent by a thread is
 * skipped by the others (agent.sending). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

#define JOURNAL_ENTRY_MAX ((size_t)16 << 20)

int ag_journal_put(agent *a, const char *chunk_id, int64_t attempt, const char *workdir,
		   json_t *result, char **name)
{
	char *n = xasprintf("%s-%lld.json", chunk_id, (long long)attempt);
	char *path = xasprintf("%s/%s", a->journal_dir, n);
	json_t *e = json_pack("{s:s, s:I, s:s?, s:O}", "chunk", chunk_id, "attempt",
			      (json_int_t)attempt, "workdir", workdir, "body", result);
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
	int rc = text ? sn_write_file_atomic(path, text, strlen(text), 0600) : -ENOMEM;
	if (rc == 0) {
		*name = n;
		n = NULL;
	}
	free(text);
	json_decref(e);
	free(path);
	free(n);
	return rc;
}

/* Marks name as being sent; 0 when another thread is sending it. */
static int claim(agent *a, const char *name)
{
	int ok = 1;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nsending; i++)
		if (strcmp(a->sending[i], name) == 0)
			ok = 0;
	if (ok) {
		a->sending = xrealloc(a->sending, (a->nsending + 1) * sizeof *a->sending);
		a->sending[a->nsending++] = xstrdup(name);
	}
	pthread_mutex_unlock(&a->mu);
	return ok;
}

static void unclaim(agent *a, const char *name)
{
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->nsending; i++)
		if (strcmp(a->sending[i], name) == 0) {
			free(a->sending[i]);
			a->sending[i] = a->sending[--a->nsending];
			break;
		}
	pthread_mutex_unlock(&a->mu);
}

/* Status classes: taken (remove the entry), retry later, or never (a
 * request the server will refuse forever: dropped, logged). */
enum { SENT, RETRY, NEVER };

static int classify(long status)
{
	if (status >= 200 && status < 300)
		return SENT;
	if (status == 409)
		return SENT; /* the lease is gone: the chunk runs (or ran) elsewhere */
	if (status >= 500 || status == 401 || status == 403 || status == 408 || status == 429)
		return RETRY;
	return NEVER;
}

static int put_artifact(agent *a, const char *dir, json_t *art, char *err, size_t errlen)
{
	const char *rel = json_string_value(json_object_get(art, "path"));
	const char *sha = json_string_value(json_object_get(art, "sha256"));
	json_int_t bytes = json_integer_value(json_object_get(art, "bytes"));
	if (!rel || !sha || !dir || strlen(sha) != 64) {
		snprintf(err, errlen, "malformed artifact entry");
		return NEVER;
	}
	char *path = xasprintf("%s/w/out/%s", dir, rel);
	char *target = xasprintf("/api/v1/node/blobs/%s", sha);
	hc_resp resp = { 0 };
	int cls = NEVER, fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "artifact %s: %s", rel, strerror(errno));
		goto out;
	}
	ag_req r = { .method = "PUT", .path = target, .in_fd = fd, .in_len = bytes, .out_fd = -1 };
	if (ag_call(a, &r, &resp, err, errlen)) {
		cls = RETRY;
		goto out;
	}
	cls = classify(resp.status);
	if (cls != SENT || resp.status == 409)
		snprintf(err, errlen, "artifact %s: the server answered %ld", rel, resp.status);
	if (resp.status == 409)
		cls = NEVER;
out:
	if (fd >= 0)
		close(fd);
	hc_resp_release(&resp);
	free(target);
	free(path);
	return cls;
}

/* Artifacts the server refuses for good make the chunk fail with the
 * reason rather than block its result forever. */
static int put_artifacts(agent *a, const char *dir, json_t *body)
{
	json_t *arts = json_object_get(body, "artifacts");
	size_t i;
	json_t *art;
	char err[256];
	json_array_foreach(arts, i, art) {
		int cls = put_artifact(a, dir, art, err, sizeof err);
		if (cls == RETRY) {
			log_msg(LOG_WARN, "node: %s; will retry", err);
			return RETRY;
		}
		if (cls == NEVER) {
			log_msg(LOG_ERROR, "node: %s; the chunk fails", err);
			if (json_object_set_new(body, "status", json_string("failed")) ||
			    json_object_set_new(body, "error", json_string(err)) ||
			    json_object_set_new(body, "artifacts", json_array()))
				return RETRY;
			return SENT;
		}
	}
	return SENT;
}

static int send_entry(agent *a, const char *name)
{
	char *path = xasprintf("%s/%s", a->journal_dir, name), *text = NULL, *target = NULL;
	char err[512];
	size_t len;
	json_t *e = NULL, *reply = NULL;
	long status = 0;
	int rc = sn_read_file(path, JOURNAL_ENTRY_MAX, &text, &len), cls;
	if (rc == -ENOENT)
		goto out; /* sent or dropped meanwhile */
	e = rc ? NULL : json_loadb(text, len, 0, NULL);
	const char *chunk = json_string_value(json_object_get(e, "chunk"));
	const char *dir = json_string_value(json_object_get(e, "workdir"));
	json_t *body = json_object_get(e, "body");
	if (!chunk || !json_is_object(body)) {
		log_msg(LOG_ERROR, "node: journal entry %s is unreadable; removed", name);
		cls = NEVER;
		goto done;
	}
	if ((cls = put_artifacts(a, dir, body)) == RETRY)
		goto done;
	target = xasprintf("/api/v1/node/chunks/%s/result", chunk);
	if (ag_call_json(a, "POST", target, body, AG_CALL_TIMEOUT_S, NULL, &status, &reply, err,
			 sizeof err)) {
		log_msg(LOG_WARN, "node: result of %s: %s; kept in the journal", chunk, err);
		cls = RETRY;
		goto done;
	}
	cls = classify(status);
	if (cls == NEVER)
		log_msg(LOG_ERROR, "node: result of %s refused (%ld %s); removed from the journal",
			chunk, status, ag_err_code(reply));
	else if (status == 409)
		log_msg(LOG_INFO, "node: result of %s: the lease is gone; dropped", chunk);
	else if (cls == RETRY)
		log_msg(LOG_WARN, "node: result of %s: the server answered %ld; kept", chunk, status);
done:
	if (cls != RETRY) {
		unlink(path);
		if (dir)
			ag_remove_rf(dir);
	}
	rc = cls == RETRY ? -EAGAIN : 0;
out:
	json_decref(reply);
	json_decref(e);
	free(target);
	free(text);
	free(path);
	return rc;
}

int ag_journal_send(agent *a, const char *name)
{
	if (!claim(a, name))
		return -EBUSY;
	int rc = send_entry(a, name);
	unclaim(a, name);
	return rc;
}

static int is_entry(const char *n)
{
	size_t len = strlen(n);
	return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".json") == 0;
}

/* The journal's entry names (caller frees each and the array). */
static size_t entries(agent *a, char ***out)
{
	DIR *d = opendir(a->journal_dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0;
	while (d && (e = readdir(d))) {
		if (!is_entry(e->d_name))
			continue;
		v = xrealloc(v, (n + 1) * sizeof *v);
		v[n++] = xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	*out = v;
	return n;
}

void ag_journal_replay(agent *a)
{
	char **v;
	size_t n = entries(a, &v);
	int down = 0;
	for (size_t i = 0; i < n; i++) {
		/* After one failure the server is likely down for the rest too. */
		if (!down && ag_journal_send(a, v[i]) == -EAGAIN)
			down = 1;
		free(v[i]);
	}
	free(v);
}

/* The chunk id of an entry name "<chunk>-<attempt>.json" (caller frees). */
static char *chunk_of(const char *name)
{
	const char *dash = strrchr(name, '-');
	return dash ? xstrndup(name, (size_t)(dash - name)) : NULL;
}

static int listed(json_t *arr, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(v), id) == 0)
			return 1;
	return 0;
}

void ag_journal_ids(agent *a, json_t *arr)
{
	char **v;
	size_t n = entries(a, &v);
	for (size_t i = 0; i < n; i++) {
		char *c = chunk_of(v[i]);
		/* A chunk whose thread is still sending is listed already. */
		if (c && !listed(arr, c) && json_array_append_new(arr, json_string(c)))
			log_msg(LOG_WARN, "node: cannot list journalled chunk %s", c);
		free(c);
		free(v[i]);
	}
	free(v);
}

void ag_journal_drop_chunk(agent *a, const char *chunk_id)
{
	char **v;
	size_t n = entries(a, &v);
	for (size_t i = 0; i < n; i++) {
		char *c = chunk_of(v[i]);
		if (c && strcmp(c, chunk_id) == 0) {
			char *p = xasprintf("%s/%s", a->journal_dir, v[i]);
			char *t = NULL, *w = NULL;
			size_t len;
			json_t *e = NULL;
			if (sn_read_file(p, JOURNAL_ENTRY_MAX, &t, &len) == 0 &&
			    (e = json_loadb(t, len, 0, NULL)))
				w = xstrdup(json_string_value(json_object_get(e, "workdir")));
			if (unlink(p) == 0) {
				log_msg(LOG_INFO, "node: chunk %s is lost; its result is dropped", c);
				if (w)
					ag_remove_rf(w);
			}
			json_decref(e);
			free(w);
			free(t);
			free(p);
		}
		free(c);
		free(v[i]);
	}
	free(v);
}
