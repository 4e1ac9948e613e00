/* The result journal: one append-only log, STATE/journal/results.log. A
 * line is "<FNV-1a 64 of the JSON, 16 hex digits> <JSON>\n", the JSON a
 * result {"chunk","attempt","workdir"?,"body":{…the POST …/result body…}}
 * or done marks {"done":[["chunk",attempt]…]}.
 *
 * Group commit: a finished chunk queues its result in memory
 * (ag_journal_put); the sender thread appends everything queued with one
 * write and one fdatasync, and only then sends it, up to 1000 results per
 * POST /api/v1/node/results. Nothing of a result is sent before it is
 * durable. A result is done once the server answered 200 or 409 for it
 * (or refused it for good): a done mark is appended without a sync (a
 * mark lost in a crash only resends a result the server answers as a
 * duplicate or 409), and when no durable result is left the log is
 * truncated to nothing instead. A line cut short or failing its checksum
 * ends the log: a crash during an append, whose results were never sent
 * (their leases expire and the chunks run again).
 *
 * At start the log is read back (results without a done mark are sent
 * again), and so are the entries of the older journal, one file per
 * result (<chunk>-<attempt>.json). Artifacts stay in the attempt
 * directory until their result is done (PUT of a blob is idempotent, so a
 * resend uploads them again safely). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

#define LOG_NAME "results.log"
/* The server's cap on one POST /node/results. */
#define BATCH_MAX 1000
/* A batch's JSON stays well below the server's 1 MiB body limit. */
#define BATCH_BYTES ((size_t)768 << 10)
#define ENTRY_MAX ((size_t)16 << 20)
/* Rewrite the log when this much of it is dead and that is most of it. */
#define COMPACT_DEAD ((uint64_t)16 << 20)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

static int64_t mono_ms(void)
{
	return sn_mono_ns() / 1000000;
}

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

static void rec_free(ag_rec *r)
{
	json_decref(r->body);
	free(r->chunk);
	free(r->workdir);
	free(r);
}

/* The log line of a result (caller frees), or NULL (not encodable). */
static char *rec_line(const ag_rec *r, size_t *len)
{
	json_t *e = json_pack("{s:s, s:I, s:s?, s:O}", "chunk", r->chunk, "attempt",
			      (json_int_t)r->attempt, "workdir", r->workdir, "body", r->body);
	char *text = e ? json_dumps(e, JSON_COMPACT) : NULL, *line = NULL;
	json_decref(e);
	if (text) {
		size_t n = strlen(text);
		line = xasprintf("%016" PRIx64 " %s\n", fnv1a(text, n), text);
		*len = n + 18;
	}
	free(text);
	return line;
}

/* Appends r to the list. Called with jr.mu held (or before any thread). */
static void rec_append(ag_journal *j, ag_rec *r)
{
	r->next = NULL;
	*j->tailp = r;
	j->tailp = &r->next;
	if (r->state == REC_QUEUED)
		j->nqueued++;
	else if (r->state == REC_READY)
		j->nready++;
}

/* Unlinks r. Called with jr.mu held. */
static void rec_unlink(ag_journal *j, ag_rec *r)
{
	for (ag_rec **pp = &j->head; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			if (j->tailp == &r->next)
				j->tailp = pp;
			break;
		}
	if (r->state == REC_QUEUED)
		j->nqueued--;
	else if (r->state == REC_READY)
		j->nready--;
}

static ag_rec *rec_find(ag_journal *j, const char *chunk, int64_t attempt)
{
	for (ag_rec *r = j->head; r; r = r->next)
		if (r->attempt == attempt && strcmp(r->chunk, chunk) == 0)
			return r;
	return NULL;
}

/* Forgets r: a done mark when it is in the log. Called with jr.mu held;
 * its attempt dir is for the caller to remove (returned, caller frees). */
static char *rec_done(ag_journal *j, ag_rec *r)
{
	char *dir = r->workdir;
	rec_unlink(j, r);
	if (r->state != REC_QUEUED) {
		json_t *m = json_pack("[s, I]", r->chunk, (json_int_t)r->attempt);
		if (!m || json_array_append_new(j->marks, m))
			log_msg(LOG_WARN, "node: cannot mark the result of %s done; it may be sent "
				"again", r->chunk);
		j->dead += r->len;
	}
	r->workdir = NULL;
	rec_free(r);
	return dir;
}

static void remove_dir(char *dir)
{
	if (dir)
		ag_remove_rf(dir);
	free(dir);
}

/* A result from its entry {"chunk","attempt","workdir","body"}. */
static ag_rec *rec_of(json_t *e, int state, size_t len)
{
	const char *chunk = json_string_value(json_object_get(e, "chunk"));
	const char *dir = json_string_value(json_object_get(e, "workdir"));
	json_t *body = json_object_get(e, "body");
	json_t *att = json_object_get(e, "attempt");
	if (!chunk || !json_is_object(body))
		return NULL;
	ag_rec *r = xcalloc(1, sizeof *r);
	r->chunk = xstrdup(chunk);
	r->attempt = json_is_integer(att) ? json_integer_value(att)
		     : json_integer_value(json_object_get(body, "attempt"));
	r->workdir = dir ? xstrdup(dir) : NULL;
	r->body = json_incref(body);
	r->len = len;
	r->state = state;
	return r;
}

/* Reads the log back; returns the offset after its last whole line. */
static uint64_t read_log(ag_journal *j, int fd)
{
	int dfd = dup(fd);
	FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t good = 0;
	if (!f) {
		if (dfd >= 0)
			close(dfd);
		return 0;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		uint64_t h;
		char *end;
		size_t len = (size_t)n;
		if (len < 19 || line[len - 1] != '\n' || line[16] != ' ')
			break;
		line[16] = '\0';
		h = strtoull(line, &end, 16);
		if (end != line + 16 || h != fnv1a(line + 17, len - 18))
			break;
		json_t *e = json_loadb(line + 17, len - 18, 0, NULL), *done = json_object_get(e, "done");
		if (!e)
			break;
		good += len;
		if (done) {
			size_t i;
			json_t *m;
			j->dead += len;
			json_array_foreach(done, i, m) {
				const char *c = json_string_value(json_array_get(m, 0));
				ag_rec *r = c ? rec_find(j, c, json_integer_value(json_array_get(m, 1)))
					      : NULL;
				if (r) {
					j->dead += r->len;
					rec_unlink(j, r);
					rec_free(r);
				}
			}
		} else {
			ag_rec *r = rec_of(e, REC_READY, len);
			if (r && !rec_find(j, r->chunk, r->attempt))
				rec_append(j, r);
			else if (r)
				rec_free(r);
			else
				j->dead += len;
		}
		json_decref(e);
	}
	free(line);
	fclose(f);
	return good;
}

static int is_old_entry(const char *n)
{
	size_t len = strlen(n);
	return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".json") == 0;
}

/* The older journal's files: queued for the first commit; their names
 * are returned (caller frees) to be removed once it is durable. */
static size_t take_old(agent *a, char ***names)
{
	DIR *d = opendir(a->journal_dir);
	struct dirent *e;
	size_t n = 0;
	*names = NULL;
	while (d && (e = readdir(d))) {
		if (!is_old_entry(e->d_name))
			continue;
		char *p = xasprintf("%s/%s", a->journal_dir, e->d_name), *text = NULL;
		size_t len;
		json_t *x = NULL;
		ag_rec *r = NULL;
		if (sn_read_file(p, ENTRY_MAX, &text, &len) == 0 &&
		    (x = json_loadb(text, len, 0, NULL)) && (r = rec_of(x, REC_QUEUED, len))) {
			if (rec_find(&a->jr, r->chunk, r->attempt))
				rec_free(r);
			else
				rec_append(&a->jr, r);
		} else {
			log_msg(LOG_ERROR, "node: journal entry %s is unreadable; removed", e->d_name);
		}
		json_decref(x);
		free(text);
		free(p);
		*names = xrealloc(*names, (n + 1) * sizeof **names);
		(*names)[n++] = xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

int ag_journal_open(agent *a, char *err, size_t errlen)
{
	ag_journal *j = &a->jr;
	char *path = xasprintf("%s/%s", a->journal_dir, LOG_NAME), **old = NULL;
	struct stat st;
	size_t nold = 0;
	int rc = 0, created = stat(path, &st) != 0;
	memset(j, 0, sizeof *j);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->tailp = &j->head;
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (!(j->marks = json_array())) {
		rc = -ENOMEM;
		goto out;
	}
	if (j->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	j->size = read_log(j, j->fd);
	/* A torn last line goes, so that new lines follow whole ones. */
	if (fstat(j->fd, &st) == 0 && (uint64_t)st.st_size != j->size &&
	    (ftruncate(j->fd, (off_t)j->size) || fdatasync(j->fd))) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	if (created) {
		int dfd = open(a->journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	nold = take_old(a, &old);
	if (nold && (rc = ag_journal_commit(a))) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto out;
	}
	for (size_t i = 0; i < nold; i++) {
		char *p = xasprintf("%s/%s", a->journal_dir, old[i]);
		unlink(p);
		free(p);
	}
	if (j->head)
		log_msg(LOG_INFO, "node: %zu journalled results to send", j->nready);
out:
	for (size_t i = 0; i < nold; i++)
		free(old[i]);
	free(old);
	free(path);
	return rc;
}

void ag_journal_put(agent *a, const char *chunk_id, int64_t attempt, const char *workdir,
		    json_t *body)
{
	ag_journal *j = &a->jr;
	ag_rec *r = xcalloc(1, sizeof *r);
	r->chunk = xstrdup(chunk_id);
	r->attempt = attempt;
	r->workdir = workdir ? xstrdup(workdir) : NULL;
	r->body = json_incref(body);
	r->state = REC_QUEUED;
	pthread_mutex_lock(&j->mu);
	rec_append(j, r);
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

/* The marks line (caller frees), or NULL when there are none. */
static char *marks_line(json_t *marks, size_t *len)
{
	json_t *o = json_array_size(marks) ? json_pack("{s:O}", "done", marks) : NULL;
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL, *line = NULL;
	json_decref(o);
	if (text) {
		size_t n = strlen(text);
		line = xasprintf("%016" PRIx64 " %s\n", fnv1a(text, n), text);
		*len = n + 18;
	}
	free(text);
	return line;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Rewrites the log with the durable results only. Sender or stop only;
 * called with jr.mu held (the records' lines are made again). */
static void compact(agent *a)
{
	ag_journal *j = &a->jr;
	char *path = xasprintf("%s/%s", a->journal_dir, LOG_NAME);
	char *tmp = xasprintf("%s/.%s.tmp", a->journal_dir, LOG_NAME);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600), rc = 0;
	uint64_t size = 0;
	for (ag_rec *r = j->head; fd >= 0 && !rc && r; r = r->next) {
		if (r->state == REC_QUEUED || r->state == REC_COMMITTING)
			continue;
		size_t len;
		char *line = rec_line(r, &len);
		rc = line ? write_all(fd, line, len) : -ENOMEM;
		r->len = len;
		size += len;
		free(line);
	}
	if (fd < 0 || rc || fdatasync(fd) || rename(tmp, path)) {
		log_msg(LOG_WARN, "node: cannot compact the journal: %s",
			strerror(fd < 0 || !rc ? errno : -rc));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	} else {
		close(j->fd);
		j->fd = fd;
		j->size = size;
		j->dead = 0;
		json_array_clear(j->marks);
	}
	free(tmp);
	free(path);
}

/* After results were done: nothing durable left truncates the log, else
 * the marks are appended (unsynced). Called with jr.mu held. */
static void settle(agent *a)
{
	ag_journal *j = &a->jr;
	int durable = 0;
	for (ag_rec *r = j->head; r && !durable; r = r->next)
		durable = r->state == REC_READY || r->state == REC_INFLIGHT;
	if (!durable) {
		if (j->size && ftruncate(j->fd, 0) == 0) {
			j->size = j->dead = 0;
			json_array_clear(j->marks);
		}
		if (!j->size)
			json_array_clear(j->marks);
		return;
	}
	if (j->dead > COMPACT_DEAD && j->dead > j->size / 2) {
		compact(a);
		return;
	}
	size_t len;
	char *line = marks_line(j->marks, &len);
	if (line && write_all(j->fd, line, len) == 0) {
		j->size += len;
		j->dead += len;
		json_array_clear(j->marks);
	}
	free(line);
}

int ag_journal_commit(agent *a)
{
	ag_journal *j = &a->jr;
	buf b;
	ag_rec **v = NULL;
	char **dirs = NULL;
	size_t n = 0, ndirs = 0, len;
	int rc = 0;
	buf_init(&b, SIZE_MAX);
	pthread_mutex_lock(&j->mu);
	char *marks = marks_line(j->marks, &len);
	if (marks)
		buf_append(&b, marks, len);
	free(marks);
	v = xmalloc((j->nqueued ? j->nqueued : 1) * sizeof *v);
	for (ag_rec *r = j->head; r; r = r->next)
		if (r->state == REC_QUEUED) {
			r->state = REC_COMMITTING;
			v[n++] = r;
		}
	j->nqueued = 0;
	pthread_mutex_unlock(&j->mu);
	/* A committing record is this thread's until it is READY again (a
	 * drop only flags it): its line is made without the lock. */
	for (size_t i = 0; i < n; i++) {
		v[i]->len = 0;
		char *line = rec_line(v[i], &v[i]->len);
		if (line)
			buf_append(&b, line, v[i]->len);
		else
			log_msg(LOG_ERROR, "node: the result of %s cannot be encoded; dropped",
				v[i]->chunk);
		free(line);
	}
	if (b.len && (rc = write_all(j->fd, b.data, b.len)) == 0 && n && fdatasync(j->fd))
		rc = -errno;
	pthread_mutex_lock(&j->mu);
	if (rc == 0) {
		j->size += b.len;
		j->commits += n > 0;
		json_array_clear(j->marks);
	} else {
		/* A partial append must not stay in front of the next one. */
		if (ftruncate(j->fd, (off_t)j->size))
			log_msg(LOG_ERROR, "node: cannot cut the journal back: %s", strerror(errno));
		log_msg(LOG_ERROR, "node: cannot write the journal: %s; retrying", strerror(-rc));
	}
	for (size_t i = 0; i < n; i++) {
		ag_rec *r = v[i];
		if (rc) {
			r->state = REC_QUEUED;
			j->nqueued++;
		} else {
			r->state = REC_READY;
			j->nready++;
		}
		if (r->dropped || !r->len) {
			dirs = xrealloc(dirs, (ndirs + 1) * sizeof *dirs);
			dirs[ndirs++] = rec_done(j, r);
		}
	}
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < ndirs; i++)
		remove_dir(dirs[i]);
	free(dirs);
	free(v);
	buf_release(&b);
	return rc;
}

void ag_journal_done(agent *a, const char *chunk_id, int64_t attempt)
{
	ag_journal *j = &a->jr;
	char *dir = NULL;
	pthread_mutex_lock(&j->mu);
	ag_rec *r = rec_find(j, chunk_id, attempt);
	if (r && (r->state == REC_COMMITTING || r->state == REC_INFLIGHT))
		r->dropped = 1;
	else if (r)
		dir = rec_done(j, r);
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	remove_dir(dir);
}

/* ---- sending ---- */

/* Status classes: taken (done), retry later, or never (a request the
 * server will refuse forever: done, logged). */
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

/* Uploads a result's artifacts. Those the server refuses for good make
 * the chunk fail with the reason rather than block its result forever. */
static int put_artifacts(agent *a, ag_rec *r)
{
	json_t *arts = json_object_get(r->body, "artifacts");
	size_t i;
	json_t *art;
	char err[256];
	json_array_foreach(arts, i, art) {
		int cls = put_artifact(a, r->workdir, art, err, sizeof err);
		if (cls == RETRY) {
			log_msg(LOG_WARN, "node: %s; will retry", err);
			return RETRY;
		}
		if (cls == NEVER) {
			log_msg(LOG_ERROR, "node: %s; the chunk fails", err);
			if (json_object_set_new(r->body, "status", json_string("failed")) ||
			    json_object_set_new(r->body, "error", json_string(err)) ||
			    json_object_set_new(r->body, "artifacts", json_array()))
				return RETRY;
			return SENT;
		}
	}
	return SENT;
}

/* One result alone, by POST …/chunks/{id}/result: a class. */
static int send_one(agent *a, ag_rec *r)
{
	char err[512], *target = xasprintf("/api/v1/node/chunks/%s/result", r->chunk);
	long status = 0;
	json_t *reply = NULL;
	int cls;
	if (ag_call_json(a, "POST", target, r->body, AG_CALL_TIMEOUT_S, NULL, &status, &reply, err,
			 sizeof err)) {
		log_msg(LOG_WARN, "node: result of %s: %s; kept in the journal", r->chunk, err);
		cls = RETRY;
	} else if ((cls = classify(status)) == NEVER) {
		log_msg(LOG_ERROR, "node: result of %s refused (%ld %s); removed from the journal",
			r->chunk, status, ag_err_code(reply));
	}
	json_decref(reply);
	free(target);
	return cls;
}

/* The outcome of item i of a POST /node/results reply. */
static int item_class(agent *a, json_t *items, size_t i, ag_rec *r)
{
	json_t *it = json_array_get(items, i), *e = json_object_get(it, "error");
	const char *chunk = json_string_value(json_object_get(it, "chunk"));
	(void)a;
	if (!it || !chunk || strcmp(chunk, r->chunk) != 0)
		return RETRY; /* a reply out of order: the whole batch again */
	if (json_is_true(json_object_get(it, "accepted")))
		return SENT;
	long status = (long)json_integer_value(json_object_get(e, "status"));
	const char *code = json_string_value(json_object_get(e, "code"));
	int cls = classify(status);
	if (cls == NEVER)
		log_msg(LOG_ERROR, "node: result of %s refused (%ld %s); removed from the journal",
			r->chunk, status, code ? code : "");
	else if (status == 409)
		log_msg(LOG_INFO, "node: result of %s: the lease is gone; dropped", r->chunk);
	return cls;
}

/* Sends one batch of READY results. 0 when the server answered for all
 * of them, -EAGAIN when some wait for a retry, -ENOENT when none was due. */
static int send_batch(agent *a)
{
	ag_journal *j = &a->jr;
	ag_rec **v = NULL;
	int *cls = NULL, rc = 0;
	size_t n = 0, bytes = 0;
	char err[512];
	long status = 0;
	json_t *list = NULL, *body = NULL, *reply = NULL;
	pthread_mutex_lock(&j->mu);
	v = xmalloc((j->nready < BATCH_MAX ? j->nready + 1 : BATCH_MAX) * sizeof *v);
	for (ag_rec *r = j->head; r && n < BATCH_MAX; r = r->next) {
		if (r->state != REC_READY)
			continue;
		if (n && bytes + r->len > BATCH_BYTES)
			break;
		r->state = REC_INFLIGHT;
		j->nready--;
		bytes += r->len;
		v[n++] = r;
	}
	pthread_mutex_unlock(&j->mu);
	if (!n) {
		free(v);
		return -ENOENT;
	}
	cls = xcalloc(n, sizeof *cls);
	for (size_t i = 0; i < n; i++)
		cls[i] = json_array_size(json_object_get(v[i]->body, "artifacts")) ? put_artifacts(a, v[i])
										     : SENT;
	if (n == 1) {
		if (cls[0] == SENT)
			cls[0] = send_one(a, v[0]);
		goto done;
	}
	if (!(list = json_array()) || !(body = json_pack("{s:O}", "results", list))) {
		for (size_t i = 0; i < n; i++)
			cls[i] = RETRY;
		goto done;
	}
	size_t *idx = xmalloc(n * sizeof *idx), m = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *item;
		if (cls[i] != SENT)
			continue;
		if (!(item = json_copy(v[i]->body)) ||
		    json_object_set_new(item, "chunk", json_string(v[i]->chunk)) ||
		    json_array_append_new(list, item)) {
			cls[i] = RETRY;
			continue;
		}
		idx[m++] = i;
	}
	if (m && ag_call_json(a, "POST", "/api/v1/node/results", body, AG_CALL_TIMEOUT_S, NULL,
			      &status, &reply, err, sizeof err)) {
		log_msg(LOG_WARN, "node: results: %s; kept in the journal", err);
		for (size_t k = 0; k < m; k++)
			cls[idx[k]] = RETRY;
	} else if (m && status == 200) {
		json_t *items = json_object_get(reply, "results");
		for (size_t k = 0; k < m; k++)
			cls[idx[k]] = item_class(a, items, k, v[idx[k]]);
	} else if (m) {
		int c = classify(status);
		/* Refused as a whole for good (e.g. too large): each alone, where
		 * the server answers for each. */
		for (size_t k = 0; k < m; k++)
			cls[idx[k]] = c == NEVER ? send_one(a, v[idx[k]]) : c;
		if (c != NEVER)
			log_msg(LOG_WARN, "node: results: the server answered %ld; kept", status);
	}
	free(idx);
done:;
	char **dirs = xcalloc(n, sizeof *dirs);
	pthread_mutex_lock(&j->mu);
	for (size_t i = 0; i < n; i++) {
		ag_rec *r = v[i];
		if (cls[i] == RETRY && !r->dropped) {
			r->state = REC_READY;
			j->nready++;
			rc = -EAGAIN;
		} else {
			dirs[i] = rec_done(j, r);
		}
	}
	if (rc) {
		j->backoff_ms = j->backoff_ms ? j->backoff_ms * 2 : BACKOFF_MIN_MS;
		if (j->backoff_ms > BACKOFF_MAX_MS)
			j->backoff_ms = BACKOFF_MAX_MS;
		j->retry_at_ms = mono_ms() + j->backoff_ms;
	} else {
		j->backoff_ms = 0;
	}
	settle(a);
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < n; i++)
		remove_dir(dirs[i]);
	free(dirs);
	json_decref(reply);
	json_decref(body);
	json_decref(list);
	free(cls);
	free(v);
	return rc;
}

static void timed_wait(ag_journal *j, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
	ts.tv_sec += ms / 1000 + ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

static void *sender_main(void *arg)
{
	agent *a = arg;
	ag_journal *j = &a->jr;
	pthread_mutex_lock(&j->mu);
	while (!j->quit) {
		int64_t now = mono_ms();
		if (j->nqueued) {
			pthread_mutex_unlock(&j->mu);
			int rc = ag_journal_commit(a);
			pthread_mutex_lock(&j->mu);
			if (rc) /* the disk refuses: no busy loop meanwhile */
				timed_wait(j, 1000);
		} else if (json_array_size(j->marks)) {
			/* Results dropped (lost) outside a send: their marks, or the
			 * truncation, now. */
			settle(a);
			if (json_array_size(j->marks))
				timed_wait(j, 1000);
		} else if (j->nready && now >= j->retry_at_ms) {
			pthread_mutex_unlock(&j->mu);
			send_batch(a);
			pthread_mutex_lock(&j->mu);
		} else if (j->nready) {
			timed_wait(j, j->retry_at_ms - now);
		} else {
			pthread_cond_wait(&j->cv, &j->mu);
		}
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int ag_journal_start(agent *a)
{
	int rc = -pthread_create(&a->jr.th, NULL, sender_main, a);
	a->jr.started = rc == 0;
	return rc;
}

void ag_journal_kick(agent *a)
{
	ag_journal *j = &a->jr;
	pthread_mutex_lock(&j->mu);
	if (j->retry_at_ms) {
		j->retry_at_ms = 0;
		j->backoff_ms = 0;
		pthread_cond_signal(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
}

void ag_journal_stop(agent *a, int send)
{
	ag_journal *j = &a->jr;
	if (j->started) {
		pthread_mutex_lock(&j->mu);
		j->quit = 1;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->th, NULL);
		j->started = 0;
	}
	if (j->fd < 0)
		return;
	ag_journal_commit(a);
	/* One more try of each batch; a failure leaves the rest for the next start. */
	while (send && send_batch(a) == 0)
		;
	pthread_mutex_lock(&j->mu);
	settle(a);
	pthread_mutex_unlock(&j->mu);
}

void ag_journal_close(agent *a)
{
	ag_journal *j = &a->jr;
	while (j->head) {
		ag_rec *r = j->head;
		j->head = r->next;
		rec_free(r);
	}
	j->tailp = &j->head;
	if (j->fd >= 0)
		close(j->fd);
	j->fd = -1;
	json_decref(j->marks);
	j->marks = NULL;
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
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
	ag_journal *j = &a->jr;
	pthread_mutex_lock(&j->mu);
	for (ag_rec *r = j->head; r; r = r->next)
		/* A chunk whose run is still finishing is listed already. */
		if (!listed(arr, r->chunk) && json_array_append_new(arr, json_string(r->chunk)))
			log_msg(LOG_WARN, "node: cannot list journalled chunk %s", r->chunk);
	pthread_mutex_unlock(&j->mu);
}

int ag_journal_holds_dir(agent *a, const char *dir)
{
	ag_journal *j = &a->jr;
	int found = 0;
	pthread_mutex_lock(&j->mu);
	for (ag_rec *r = j->head; r && !found; r = r->next)
		found = r->workdir && strcmp(r->workdir, dir) == 0;
	pthread_mutex_unlock(&j->mu);
	return found;
}

void ag_journal_drop_chunk(agent *a, const char *chunk_id)
{
	ag_journal *j = &a->jr;
	char **dirs = NULL;
	size_t n = 0;
	pthread_mutex_lock(&j->mu);
	for (ag_rec *r = j->head, *next; r; r = next) {
		next = r->next;
		if (strcmp(r->chunk, chunk_id) != 0)
			continue;
		log_msg(LOG_INFO, "node: chunk %s is lost; its result is dropped", r->chunk);
		if (r->state == REC_COMMITTING || r->state == REC_INFLIGHT) {
			r->dropped = 1;
			continue;
		}
		dirs = xrealloc(dirs, (n + 1) * sizeof *dirs);
		dirs[n++] = rec_done(j, r);
	}
	pthread_cond_signal(&j->cv); /* the sender writes the marks */
	pthread_mutex_unlock(&j->mu);
	for (size_t i = 0; i < n; i++)
		remove_dir(dirs[i]);
	free(dirs);
}

size_t ag_journal_pending(agent *a)
{
	ag_journal *j = &a->jr;
	size_t n = 0;
	pthread_mutex_lock(&j->mu);
	for (ag_rec *r = j->head; r; r = r->next)
		n++;
	pthread_mutex_unlock(&j->mu);
	return n;
}
