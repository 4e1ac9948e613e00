/* sentinel dataset | script: push, list, show, diff, pull and remove
 * versioned datasets and scripts (routes in docs/api.md).
 *
 * Transfers stream between disk and socket: a file, a directory's files (a
 * multipart file set) or a download never sit in memory. A single file over
 * SESSION_MIN goes through a resumable upload session (POST /uploads, PATCH
 * pieces, commit) whose id is kept in UPLOADS_DIR/<sha256>.json next to the
 * credentials, so that the same push after an interruption (Ctrl-C, a
 * dropped connection, a server restart) goes on from the server's offset.
 * Downloads land in a temporary file beside the target, are checked
 * against the version's SHA-256, then renamed: a target is never half
 * written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#define SESSION_MIN ((int64_t)64 << 20) /* single files above this use upload sessions */
#define PIECE ((int64_t)8 << 20)        /* one PATCH: a lost connection costs at most this */
#define RETRIES 6                       /* transport failures in a row before giving up */
#define EXIT_INTERRUPTED 130            /* the shell's code for SIGINT */
#define FILES_MAX 100000                /* files of one pushed directory */

/* A dataset or a script: the same routes under another collection. */
struct kind {
	const char *word; /* "dataset" or "script" */
	const char *base; /* "/api/v1/datasets" */
};
static const struct kind DATASET = { "dataset", "/api/v1/datasets" };
static const struct kind SCRIPT = { "script", "/api/v1/scripts" };

typedef int (*action_fn)(cli *c, const struct kind *k, const cfg *conf, char *const *args);

/* ---- names and versions ---- */

/* The server's rule: [A-Za-z0-9._-]{1,128}, no leading dot. */
static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return 0;
	return 1;
}

/* "N", "N@latest" or "N@V" (V >= 1). *v is 0 for the latest version; with
 * need_v, a bare N is refused. 0, or 2 (the exit code) after one line. */
static int parse_ref(const cli *c, const char *ref, int need_v, char **name, long long *v)
{
	const char *at = strchr(ref, '@');
	size_t n = at ? (size_t)(at - ref) : strlen(ref);
	*v = 0;
	if (!name_ok(ref, n)) {
		fprintf(stderr, "sentinel %s: invalid name '%.*s': 1 to 128 of A-Z a-z 0-9 . _ -, "
			"not starting with '.'\n", c->cmd, (int)(n > 200 ? 200 : n), ref);
		return 2;
	}
	if (need_v && !at) {
		fprintf(stderr, "sentinel %s: give a version: NAME@V or NAME@latest\n", c->cmd);
		return 2;
	}
	if (at && strcmp(at + 1, "latest") != 0) {
		const char *p = at + 1;
		char *end;
		errno = 0;
		long long x = strtoll(p, &end, 10);
		/* Digits only: strtoll would take " 1", "+1" or "1x" as 1. */
		if (*p < '1' || *p > '9' || *end || errno || x < 1) {
			fprintf(stderr, "sentinel %s: invalid version '%s': a positive integer or "
				"'latest'\n", c->cmd, p);
			return 2;
		}
		*v = x;
	}
	*name = xstrndup(ref, n);
	return 0;
}

/* A version number argument of diff. */
static int parse_num(const cli *c, const char *s, long long *v)
{
	char *end;
	errno = 0;
	*v = strtoll(s, &end, 10);
	if (*s < '1' || *s > '9' || *end || errno) {
		fprintf(stderr, "sentinel %s: invalid version '%s': a positive integer\n", c->cmd, s);
		return 2;
	}
	return 0;
}

/* Fills *v with the latest version's number when it is 0. 0 or 1. */
static int resolve(cli *c, const struct kind *k, const char *name, long long *v)
{
	if (*v)
		return 0;
	json_t *d = NULL;
	char *path = xasprintf("%s/%s", k->base, name);
	int code = cli_call(c, "GET", path, NULL, &d);
	free(path);
	if (code == 0) {
		json_t *l = json_object_get(d, "latest_version");
		if (json_is_integer(l) && json_integer_value(l) > 0) {
			*v = json_integer_value(l);
		} else {
			fprintf(stderr, "sentinel %s: %s has no versions\n", c->cmd, name);
			code = 1;
		}
	}
	json_decref(d);
	return code;
}

/* ---- transfers ---- */

struct xfer_progress {
	cli_progress *bar;
	int64_t base; /* bytes done before this request (earlier pieces) */
};

static int on_progress(void *ud, int64_t done, int64_t total)
{
	struct xfer_progress *p = ud;
	(void)total;
	cli_progress_update(p->bar, p->base + done);
	return cli_interrupted();
}


/* One streamed request. rc: 0, or the transport's -errno (message printed
 * unless quiet, which retry loops use). A 2xx JSON answer goes to *out
 * (may be NULL; {} when not JSON); the response itself to *resp when given
 * (caller releases), else released here. */
static int xfer(cli *c, const char *method, const char *path, hc_xfer *x, int quiet,
		hc_resp *resp, json_t **out)
{
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_resp r = { 0 };
	char err[512];
	char *url = xasprintf("%s%s", c->server, path);
	int rc = hc_transfer(method, url, &o, x, &r, err, sizeof err);
	free(url);
	if (rc && !quiet)
		cli_progress_break();
	if (rc) {
		if (!quiet && rc == -ECANCELED)
			fprintf(stderr, "sentinel %s: interrupted\n", c->cmd);
		else if (!quiet)
			fprintf(stderr, "sentinel %s: %s%s\n", c->cmd,
				rc == -EIO ? "cannot reach the server: " : "", err);
		return rc;
	}
	if (out && r.status >= 200 && r.status < 300) {
		json_t *j = x->out_fd < 0 ? json_loadb(r.body, r.len, 0, NULL) : NULL;
		*out = j ? j : json_object();
	}
	if (resp)
		*resp = r;
	else
		hc_resp_release(&r);
	return 0;
}

/* The exit code for an xfer rc. */
static int rc_code(int rc)
{
	return rc == -ECANCELED ? EXIT_INTERRUPTED : 1;
}

/* ---- push ---- */

static int ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcasecmp(s + n - m, suf) == 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

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

/* s (a file name, a path: text from the server) escaped for a terminal. */
static char *esc(const char *s)
{
	json_t *o = s ? json_pack("{s:s}", "s", s) : NULL;
	char *r = o ? cli_field(o, "s") : xstrdup("?");
	json_decref(o);
	return r;
}

/* Prints a push's answer (the version). */
static void print_pushed(const cli *c, const struct kind *k, const char *name, json_t *ver)
{
	if (c->json) {
		cli_print_json(ver);
		return;
	}
	long long n = json_integer_value(json_object_get(ver, "number"));
	char *sha = cli_field(ver, "sha256");
	if (json_is_true(json_object_get(ver, "deduplicated")))
		printf("%s %s@%lld: unchanged (identical to version %lld)\n", k->word, name, n, n);
	else {
		long long files = json_integer_value(json_object_get(ver, "files"));
		printf("Pushed %s %s@%lld (%lld file%s, %lld bytes, sha256 %s)\n", k->word, name, n,
		       files, files == 1 ? "" : "s", json_integer_value(json_object_get(ver, "bytes")),
		       sha);
	}
	free(sha);
}

/* Regular files under dir (relative paths, sorted) into *paths. Links and
 * special files are refused: a set holds files only. 0, or 2 after a line. */
static int walk(const cli *c, const char *dir, const char *rel, char ***paths, size_t *n)
{
	char *full = rel ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	struct dirent **ents = NULL;
	int ne = scandir(full, &ents, NULL, alphasort), code = 0;
	if (ne < 0) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, full, strerror(errno));
		free(full);
		return 2;
	}
	for (int i = 0; i < ne; i++) {
		const char *e = ents[i]->d_name;
		if (code || strcmp(e, ".") == 0 || strcmp(e, "..") == 0)
			continue;
		char *r = rel ? xasprintf("%s/%s", rel, e) : xstrdup(e);
		char *f = xasprintf("%s/%s", dir, r);
		struct stat st;
		if (lstat(f, &st)) {
			fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, f, strerror(errno));
			code = 2;
		} else if (S_ISDIR(st.st_mode)) {
			code = walk(c, dir, r, paths, n);
		} else if (!S_ISREG(st.st_mode)) {
			fprintf(stderr, "sentinel %s: %s: not a regular file (a file set takes files "
				"and directories only)\n", c->cmd, f);
			code = 2;
		} else if (*n >= FILES_MAX) {
			fprintf(stderr, "sentinel %s: %s: more than %d files\n", c->cmd, dir, FILES_MAX);
			code = 2;
		} else {
			*paths = xrealloc(*paths, (*n + 1) * sizeof **paths);
			(*paths)[(*n)++] = r;
			r = NULL;
		}
		free(r);
		free(f);
	}
	for (int i = 0; i < ne; i++)
		free(ents[i]);
	free(ents);
	free(full);
	return code;
}

/* A directory as a multipart file set: one "file" part per file, named by
 * its path relative to dir. */
static int push_dir(cli *c, const char *dir, const char *path, int64_t rate, json_t **out)
{
	char **rel = NULL;
	size_t n = 0;
	int code = walk(c, dir, NULL, &rel, &n);
	hc_part *parts = xcalloc(n ? n : 1, sizeof *parts);
	char **full = xcalloc(n ? n : 1, sizeof *full);
	int64_t total = 0;
	if (!code && n == 0) {
		fprintf(stderr, "sentinel %s: %s: no files\n", c->cmd, dir);
		code = 2;
	}
	for (size_t i = 0; !code && i < n; i++) {
		struct stat st;
		full[i] = xasprintf("%s/%s", dir, rel[i]);
		parts[i] = (hc_part){ "file", full[i], rel[i] };
		if (stat(full[i], &st) == 0)
			total += st.st_size;
	}
	if (!code) {
		struct xfer_progress p = { cli_progress_new("push", total, 0), 0 };
		hc_xfer x = { .body_fd = -1, .out_fd = -1, .parts = parts, .nparts = n,
			      .progress = on_progress, .progress_ud = &p, .max_rate = rate };
		hc_resp r = { 0 };
		int rc = xfer(c, "POST", path, &x, 0, &r, out);
		cli_progress_free(&p.bar);
		code = rc ? rc_code(rc) : (r.status >= 200 && r.status < 300)
			? 0 : (cli_print_error(c, r.status, r.body, r.len), 1);
		hc_resp_release(&r);
	}
	for (size_t i = 0; i < n; i++) {
		free(rel[i]);
		free(full[i]);
	}
	free(rel);
	free(full);
	free(parts);
	return code;
}

/* A file as the raw body. */
static int push_raw(cli *c, int fd, int64_t size, const char *ctype, const char *path,
		    int64_t rate, json_t **out)
{
	struct xfer_progress p = { cli_progress_new("push", size, 0), 0 };
	hc_xfer x = { .content_type = ctype, .body_fd = fd, .body_len = size, .out_fd = -1,
		      .progress = on_progress, .progress_ud = &p, .max_rate = rate };
	hc_resp r = { 0 };
	int rc = xfer(c, "POST", path, &x, 0, &r, out);
	cli_progress_free(&p.bar);
	int code = rc ? rc_code(rc) : (r.status >= 200 && r.status < 300)
		? 0 : (cli_print_error(c, r.status, r.body, r.len), 1);
	hc_resp_release(&r);
	return code;
}

/* ---- resumable upload sessions ---- */

/* The server takes a committed upload as a version's content
 * (POST …/versions?upload=ID) only when GET /status lists
 * "dataset_upload" in "features"; otherwise a big file is sent in one
 * request, which the server also streams, but which cannot resume. */
static int server_takes_uploads(cli *c)
{
	json_t *st = NULL, *f;
	size_t i;
	int yes = 0;
	/* A failed probe is not an error: the plain push is always possible. */
	hc_opts o = { .token = c->token, .insecure = c->insecure };
	hc_resp r = { 0 };
	char err[256], *url = xasprintf("%s/api/v1/status", c->server);
	if (hc_request("GET", url, NULL, &o, &r, err, sizeof err) == 0 && r.status == 200)
		st = json_loadb(r.body, r.len, 0, NULL);
	json_array_foreach(json_object_get(st, "features"), i, f)
		yes |= json_is_string(f) && strcmp(json_string_value(f), "dataset_upload") == 0;
	json_decref(st);
	hc_resp_release(&r);
	free(url);
	return yes;
}

static char *state_path(const char *sha)
{
	char *cred = cli_credentials_path();
	char *slash = strrchr(cred, '/');
	if (slash)
		*slash = '\0';
	char *p = xasprintf("%s/uploads/%s.json", cred, sha);
	free(cred);
	return p;
}

/* The SHA-256 of fd's size bytes, with a bar; -ECANCELED on an interrupt. */
static int hash_fd(int fd, int64_t size, char out[65])
{
	enum { N = 1 << 20 };
	char *b = xmalloc(N);
	sn_sha256 *h = sn_sha256_new();
	cli_progress *bar = cli_progress_new("sha256", size, 0);
	int64_t off = 0;
	int rc = 0;
	while (off < size && !rc) {
		ssize_t r = pread(fd, b, N, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			rc = r < 0 ? -errno : -EIO;
		else
			sn_sha256_update(h, b, (size_t)r), off += r;
		cli_progress_update(bar, off);
		if (cli_interrupted())
			rc = -ECANCELED;
	}
	sn_sha256_final(&h, out);
	cli_progress_free(&bar);
	free(b);
	return rc;
}

/* The state of an upload: server, id, size. */
static void state_save(const cli *c, const char *spath, const char *id, int64_t size)
{
	json_t *j = json_pack("{s:s,s:s,s:I}", "server", c->server, "id", id, "size", (json_int_t)size);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char *dir = xstrdup(spath);
	*strrchr(dir, '/') = '\0';
	/* Without the state file the upload still works, only not resumably. */
	if (!s || sn_mkdir_p(dir, 0700) || sn_write_file_atomic(spath, s, strlen(s), 0600))
		fprintf(stderr, "sentinel %s: warning: cannot write %s: the upload will not resume\n",
			c->cmd, spath);
	free(dir);
	free(s);
	json_decref(j);
}

/* The id of a session kept in spath for this server and size, or NULL. */
static char *state_load(const cli *c, const char *spath, int64_t size)
{
	char *data = NULL, *id = NULL;
	json_t *j = NULL;
	if (sn_read_file(spath, 4096, &data, NULL) == 0)
		j = json_loads(data, 0, NULL);
	const char *srv = json_string_value(json_object_get(j, "server"));
	const char *sid = json_string_value(json_object_get(j, "id"));
	if (srv && sid && strcmp(srv, c->server) == 0 &&
	    json_integer_value(json_object_get(j, "size")) == size)
		id = xstrdup(sid);
	json_decref(j);
	free(data);
	return id;
}

/* Asks the server where session id stands: *off the bytes it holds,
 * *committed. 0; 1 when the session is gone (404: start again); -errno on
 * transport; 2 on another answer (printed). */
static int session_get(cli *c, const char *id, int64_t *off, int *committed)
{
	char *path = xasprintf("/api/v1/uploads/%s", id);
	hc_xfer x = { .body_fd = -1, .out_fd = -1 };
	hc_resp r = { 0 };
	json_t *s = NULL;
	int rc = xfer(c, "GET", path, &x, 1, &r, &s);
	if (!rc && r.status == 404) {
		rc = 1;
	} else if (!rc && r.status != 200) {
		cli_print_error(c, r.status, r.body, r.len);
		rc = 2;
	} else if (!rc) {
		*off = json_integer_value(json_object_get(s, "received"));
		*committed = strcmp(json_string_value(json_object_get(s, "state")) ?: "", "committed") == 0;
	}
	json_decref(s);
	hc_resp_release(&r);
	free(path);
	return rc;
}

/* Opens a session for size bytes of content sha into *id. 0 or 1. */
static int session_open(cli *c, const char *sha, int64_t size, char **id)
{
	json_t *body = cli_pack(c, "{s:I,s:s}", "size", (json_int_t)size, "sha256", sha), *s = NULL;
	if (!body)
		return 1;
	int code = cli_call(c, "POST", "/api/v1/uploads", body, &s);
	json_decref(body);
	const char *sid = json_string_value(json_object_get(s, "id"));
	if (!code && !sid) {
		fprintf(stderr, "sentinel %s: the server's upload session has no id\n", c->cmd);
		code = 1;
	}
	if (!code)
		*id = xstrdup(sid);
	json_decref(s);
	return code;
}

/* One PATCH of bytes [off, off + n). 0 with *off advanced to the server's
 * count; 1 when the session is gone, 2 after another refusal (printed);
 * -errno on transport. A 409 (another request's offset, or one in flight)
 * re-reads the offset instead, after a pause that keeps two pushes of the
 * same file from spinning against each other. */
static int session_patch(cli *c, const char *id, int fd, int64_t size, int64_t *off,
			 struct xfer_progress *p, int64_t rate)
{
	int64_t n = size - *off < PIECE ? size - *off : PIECE;
	char range[96];
	snprintf(range, sizeof range, "Content-Range: bytes %lld-%lld/%lld", (long long)*off,
		 (long long)(*off + n - 1), (long long)size);
	const char *hdrs[] = { range, NULL };
	char *path = xasprintf("/api/v1/uploads/%s", id);
	hc_xfer x = { .headers = hdrs, .body_fd = fd, .body_off = *off, .body_len = n, .out_fd = -1,
		      .progress = on_progress, .progress_ud = p, .max_rate = rate };
	hc_resp r = { 0 };
	json_t *s = NULL;
	int committed = 0;
	p->base = *off;
	int rc = xfer(c, "PATCH", path, &x, 1, &r, &s);
	if (!rc && r.status == 200)
		*off = json_integer_value(json_object_get(s, "received"));
	else if (!rc && r.status == 409 && (usleep(200000), 1))
		rc = (rc = session_get(c, id, off, &committed)) > 0 ? rc : 0;
	else if (!rc && r.status == 404)
		rc = 1;
	else if (!rc)
		cli_print_error(c, r.status, r.body, r.len), rc = 2;
	if (!rc && committed)
		*off = size;
	json_decref(s);
	hc_resp_release(&r);
	free(path);
	return rc;
}

/* Sends fd to session id from the server's offset, retrying transport
 * failures (a restart, a dropped connection) with a growing pause. */
static int session_send(cli *c, const char *id, int fd, int64_t size, int64_t off, int64_t rate)
{
	struct xfer_progress p = { cli_progress_new("push", size, off), 0 };
	int fails = 0, rc = 0, committed = 0;
	while (off < size) {
		rc = session_patch(c, id, fd, size, &off, &p, rate);
		if (rc == 0) {
			fails = 0;
			continue;
		}
		if (rc > 0 || rc == -ECANCELED || ++fails > RETRIES)
			break;
		/* 1, 2, 4, 8, 8, 8 s: long enough for a server to restart. */
		for (int t = 0; t < (fails < 4 ? 1 << (fails - 1) : 8) * 10 && !cli_interrupted(); t++)
			usleep(100000);
		rc = cli_interrupted() ? -ECANCELED : session_get(c, id, &off, &committed);
		if (rc == 1 || rc == 2 || rc == -ECANCELED)
			break;
		if (committed)
			off = size;
	}
	cli_progress_free(&p.bar);
	if (off >= size)
		return 0;
	if (rc == 1) /* the session vanished (expired or deleted) */
		fprintf(stderr, "sentinel %s: upload %s no longer exists on the server: push again\n",
			c->cmd, id);
	else if (rc != 2)
		fprintf(stderr, "sentinel %s: %s at %lld of %lld bytes: run the same push again "
			"to resume\n", c->cmd, rc == -ECANCELED ? "interrupted" : "upload stopped",
			(long long)off, (long long)size);
	return rc == -ECANCELED ? EXIT_INTERRUPTED : 1;
}

/* A file over SESSION_MIN: hash, open or resume a session, send, commit,
 * then create the version from the upload. */
static int push_session(cli *c, int fd, int64_t size, const char *vpath, int64_t rate,
			json_t **out)
{
	char sha[65], *id = NULL, *spath = NULL, *path = NULL;
	int64_t off = 0;
	int code = 1, committed = 0, rc = hash_fd(fd, size, sha);
	if (rc) {
		fprintf(stderr, "sentinel %s: %s\n", c->cmd,
			rc == -ECANCELED ? "interrupted" : strerror(-rc));
		return rc == -ECANCELED ? EXIT_INTERRUPTED : 1;
	}
	spath = state_path(sha);
	id = state_load(c, spath, size);
	if (id && (rc = session_get(c, id, &off, &committed)) != 0) {
		/* Gone (expired, deleted): a fresh one. */
		xfree(&id);
		off = 0;
		if (rc < 0 || rc == 2)
			goto out;
	}
	if (!id) {
		if (session_open(c, sha, size, &id))
			goto out;
		state_save(c, spath, id, size);
	} else if (!c->json) {
		fprintf(stderr, "Resuming upload %s at %lld of %lld bytes\n", id, (long long)off,
			(long long)size);
	}
	if (!committed && (code = session_send(c, id, fd, size, off, rate)) != 0)
		goto out;
	json_t *res = NULL;
	path = xasprintf("/api/v1/uploads/%s/commit", id);
	code = cli_call(c, "POST", path, NULL, &res);
	if (!code && strcmp(json_string_value(json_object_get(res, "sha256")) ?: "", sha) != 0) {
		fprintf(stderr, "sentinel %s: the server committed other content than sent\n", c->cmd);
		code = 1;
	}
	json_decref(res);
	xfree(&path);
	if (code)
		goto out;
	path = xstrdup(vpath);
	add_query(&path, "upload", id);
	code = cli_call(c, "POST", path, NULL, out);
	/* Done: the next push of this content starts afresh. */
	if (!code)
		unlink(spath);
out:
	free(path);
	free(spath);
	free(id);
	return code;
}

/* ---- commands ---- */

#define END_OPTS { NULL, NULL, NULL, NULL, 0 }
#define RATE_OPT { "limit-rate", "SIZE", NULL, "cap the transfer at SIZE bytes/s (e.g. 10M)", CFG_NOENV }
static const cfg_opt push_opts[] = {
	{ "name", "NAME", NULL, "the dataset's name (required)", CFG_NOENV },
	{ "message", "TEXT", NULL, "what changed in this version (also -m)", CFG_NOENV },
	RATE_OPT, CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt script_push_opts[] = {
	{ "name", "NAME", NULL, "the script's name (required)", CFG_NOENV },
	{ "message", "TEXT", NULL, "what changed in this version (also -m)", CFG_NOENV },
	{ "language", "LANG", NULL, "python or shell (default: from the #! line)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt list_opts[] = {
	{ "owner", "USER", NULL, "only this user's", CFG_NOENV },
	{ "q", "TEXT", NULL, "only names containing TEXT", CFG_NOENV },
	{ "archived", NULL, NULL, "only archived ones", CFG_FLAG | CFG_NOENV },
	{ "limit", "N", NULL, "show at most N items (default: all)", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt plain_opts[] = { CLI_COMMON_OPTS, END_OPTS };
static const cfg_opt pull_opts[] = {
	{ "output", "PATH", NULL, "where to write (required; also -o): a file, or a directory for a "
	  "file set", CFG_NOENV },
	RATE_OPT, CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt diff_opts[] = {
	{ "key", "COLS", NULL, "compare rows by these comma-separated key columns", CFG_NOENV },
	{ "limit", "N", NULL, "sample rows per category (server default 50, at most 1000)", CFG_NOENV },
	{ "path", "P", NULL, "the file of a file set to compare", CFG_NOENV },
	CLI_COMMON_OPTS, END_OPTS,
};
static const cfg_opt script_diff_opts[] = { CLI_COMMON_OPTS, END_OPTS };

/* A --limit-rate value into *rate (0: none). 0 or 2. */
static int get_rate(const cli *c, const cfg *conf, int64_t *rate)
{
	uint64_t v = 0;
	char err[128];
	*rate = 0;
	if (!cfg_get(conf, "limit-rate"))
		return 0;
	if (cfg_get_size(conf, "limit-rate", &v, err, sizeof err) || v == 0 || v > INT64_MAX) {
		fprintf(stderr, "sentinel %s: --limit-rate must be a size like 512K or 10M\n", c->cmd);
		return 2;
	}
	*rate = (int64_t)v;
	return 0;
}

static int push_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	const char *name = cfg_get(conf, "name"), *src = args[0];
	char *path = NULL;
	json_t *ver = NULL;
	int64_t rate = 0;
	int fd = -1, code = 2;
	struct stat st;
	if (!name || !name_ok(name, strlen(name))) {
		fprintf(stderr, "sentinel %s: %s: 1 to 128 of A-Z a-z 0-9 . _ -, not starting "
			"with '.'\n", c->cmd, name ? "invalid --name" : "--name is required");
		return 2;
	}
	if (get_rate(c, conf, &rate))
		return 2;
	if (stat(src, &st)) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, src, strerror(errno));
		return 2;
	}
	cli_trap_interrupt();
	path = xasprintf("%s/%s/versions", k->base, name);
	add_query(&path, "message", cfg_get(conf, "message"));
	if (k == &SCRIPT)
		add_query(&path, "language", cfg_get(conf, "language"));
	if (S_ISDIR(st.st_mode) && k == &DATASET) {
		code = push_dir(c, src, path, rate, &ver);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (fd = open(src, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, src,
			S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
		goto out;
	}
	const char *ctype = k == &SCRIPT ? "text/plain; charset=utf-8"
			    : ends_with(src, ".csv") ? "text/csv"
			    : ends_with(src, ".tsv") ? "text/tab-separated-values"
			    : "application/octet-stream";
	if (k == &DATASET)
		add_query(&path, "filename", base_name(src));
	if (k == &DATASET && st.st_size > SESSION_MIN && server_takes_uploads(c))
		code = push_session(c, fd, st.st_size, path, rate, &ver);
	else
		code = push_raw(c, fd, st.st_size, ctype, path, rate, &ver);
out:
	if (!code)
		print_pushed(c, k, name, ver);
	if (fd >= 0)
		close(fd);
	json_decref(ver);
	free(path);
	return code;
}

/* Lists all pages up to --limit; --json prints the server's list shape
 * (all pages merged, the server's cursor for the rest). */
static int ls_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	static const char *const cols[] = { "name", "owner", "latest_version", "public", "archived",
					    "updated_at", NULL };
	char *base = xstrdup(k->base);
	(void)args;
	add_query(&base, "owner", cfg_get(conf, "owner"));
	add_query(&base, "q", cfg_get(conf, "q"));
	if (cfg_get_bool(conf, "archived"))
		add_query(&base, "archived", "1");
	int code = cli_list(c, base, conf, cols);
	free(base);
	return code;
}

/* GET NAME's version v (0: latest) into *ver. 0 or 1. */
static int get_version(cli *c, const struct kind *k, const char *name, long long v, json_t **ver)
{
	if (resolve(c, k, name, &v))
		return 1;
	char *path = xasprintf("%s/%s/versions/%lld", k->base, name, v);
	int code = cli_call(c, "GET", path, NULL, ver);
	free(path);
	return code;
}

/* A number for a table cell: integers as they are, reals with 6 digits. */
static json_t *num_cell(json_t *v)
{
	if (json_is_real(v)) {
		char s[64];
		snprintf(s, sizeof s, "%.6g", json_real_value(v));
		return json_string(s);
	}
	return v ? json_incref(v) : json_null();
}

/* One profile as a table: column, type, nulls, distinct, min, max, mean. */
static void print_profile(const cli *c, const char *file, json_t *prof)
{
	static const char *const cols[] = { "column", "type", "nulls", "distinct", "min", "max",
					    "mean", NULL };
	json_t *rows = json_array(), *col;
	size_t i;
	char *f = esc(file);
	printf("\n%s: %lld rows, %lld columns\n", f,
	       json_integer_value(json_object_get(prof, "rows")),
	       json_integer_value(json_object_get(prof, "column_count")));
	free(f);
	json_array_foreach(json_object_get(prof, "columns"), i, col) {
		json_t *r = json_pack("{s:O?,s:O?,s:O?,s:O?,s:o,s:o,s:o}", "column",
				      json_object_get(col, "name"), "type", json_object_get(col, "type"),
				      "nulls", json_object_get(col, "nulls"), "distinct",
				      json_object_get(col, "distinct"), "min",
				      num_cell(json_object_get(col, "min")), "max",
				      num_cell(json_object_get(col, "max")), "mean",
				      num_cell(json_object_get(col, "mean")));
		if (!rows || !r || json_array_append_new(rows, r)) {
			fprintf(stderr, "sentinel %s: out of memory\n", c->cmd);
			break;
		}
	}
	cli_print_table(rows, cols);
	json_decref(rows);
}

static int show_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	char *name = NULL;
	long long v;
	json_t *ver = NULL, *prof;
	const char *file;
	(void)conf;
	int code = parse_ref(c, args[0], 0, &name, &v);
	if (!code)
		code = get_version(c, k, name, v, &ver);
	if (!code && c->json) {
		cli_print_json(ver);
	} else if (!code) {
		static const char *const keys[] = { "kind", "filename", "language", "sha256",
						    "uploader", "created_at", "message", NULL };
		printf("%s %s@%lld\n", k->word, name, json_integer_value(json_object_get(ver, "number")));
		printf("  %-10s %lld\n  %-10s %lld\n", "bytes",
		       json_integer_value(json_object_get(ver, "bytes")), "files",
		       json_integer_value(json_object_get(ver, "files")));
		for (int i = 0; keys[i]; i++) {
			if (!json_is_string(json_object_get(ver, keys[i])))
				continue;
			char *s = cli_field(ver, keys[i]);
			printf("  %-10s %s\n", keys[i], s);
			free(s);
		}
		json_object_foreach(json_object_get(ver, "profiles"), file, prof)
			print_profile(c, file, prof);
	}
	json_decref(ver);
	free(name);
	return code;
}

/* ---- pull ---- */

/* Streams path's answer into a temporary file beside target, checks its
 * SHA-256 against sha (when given) and renames it to target. 0, 1 or 130. */
static int download(cli *c, const char *path, const char *target, const char *sha, int64_t size,
		    int64_t rate)
{
	char *tmp = xasprintf("%s.partXXXXXX", target);
	int fd = mkstemp(tmp), code = 1;
	if (fd < 0) {
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, target, strerror(errno));
		free(tmp);
		return 1;
	}
	/* mkstemp makes 0600; a pulled file gets the usual 0666 & ~umask. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	struct xfer_progress p = { cli_progress_new(base_name(target), size, 0), 0 };
	hc_xfer x = { .body_fd = -1, .out_fd = fd, .progress = on_progress, .progress_ud = &p,
		      .max_rate = rate };
	hc_resp r = { 0 };
	int rc = xfer(c, "GET", path, &x, 0, &r, NULL);
	cli_progress_free(&p.bar);
	char got[65] = "";
	if (rc)
		code = rc_code(rc);
	else if (r.status != 200)
		cli_print_error(c, r.status, r.body, r.len);
	else if (fsync(fd) || (sha && sn_sha256_file(tmp, got)))
		fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, tmp, strerror(errno));
	else if (sha && strcmp(got, sha) != 0)
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
	free(tmp);
	return code;
}


/* A file set into the directory out: its manifest, then each file. */
static int pull_set(cli *c, const struct kind *k, const char *name, long long v, const char *out,
		    int64_t rate)
{
	char *path = xasprintf("%s/%s/versions/%lld/content", k->base, name, v);
	json_t *man = NULL, *f;
	size_t i;
	int code = cli_call(c, "GET", path, NULL, &man);
	json_array_foreach(json_object_get(man, "files"), i, f) {
		const char *rel = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		if (code)
			break;
		if (!rel || !sha || !cli_safe_rel(rel)) {
			char *s = esc(rel);
			fprintf(stderr, "sentinel %s: refusing the manifest's path '%s'\n", c->cmd, s);
			free(s);
			code = 1;
			break;
		}
		char *target = xasprintf("%s/%s", out, rel), *dir = xstrdup(target);
		*strrchr(dir, '/') = '\0';
		char *fpath = xstrdup(path);
		add_query(&fpath, "path", rel);
		if (sn_mkdir_p(dir, 0755)) {
			fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, dir, strerror(errno));
			code = 1;
		} else {
			code = download(c, fpath, target, sha, json_integer_value(json_object_get(f, "size")),
					rate);
		}
		const char *mode = json_string_value(json_object_get(f, "mode"));
		/* Permission bits only: no set-id or sticky bits from the network. */
		if (!code && mode)
			chmod(target, (mode_t)strtol(mode, NULL, 8) & 0777);
		free(fpath);
		free(dir);
		free(target);
	}
	json_decref(man);
	free(path);
	return code;
}

static int pull_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	char *name = NULL, *target = NULL;
	const char *out = cfg_get(conf, "output");
	long long v;
	int64_t rate = 0;
	json_t *ver = NULL;
	struct stat st;
	int code = parse_ref(c, args[0], 1, &name, &v);
	if (!code && !out) {
		fprintf(stderr, "sentinel %s: -o PATH is required\n", c->cmd);
		code = 2;
	}
	if (!code)
		code = get_rate(c, conf, &rate);
	if (!code)
		code = get_version(c, k, name, v, &ver);
	if (code)
		goto out;
	cli_trap_interrupt();
	v = json_integer_value(json_object_get(ver, "number"));
	if (strcmp(json_string_value(json_object_get(ver, "kind")) ?: "", "fileset") == 0) {
		if (sn_mkdir_p(out, 0755)) {
			fprintf(stderr, "sentinel %s: %s: %s\n", c->cmd, out, strerror(errno));
			code = 1;
		} else {
			code = pull_set(c, k, name, v, out, rate);
		}
		goto out;
	}
	const char *fn = json_string_value(json_object_get(ver, "filename"));
	/* Into an existing directory: under the version's own file name. */
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		target = fn && cli_safe_rel(fn) && !strchr(fn, '/') ? xasprintf("%s/%s", out, fn) : NULL;
	else
		target = xstrdup(out);
	if (!target) {
		fprintf(stderr, "sentinel %s: %s is a directory: give a file name\n", c->cmd, out);
		code = 2;
		goto out;
	}
	char *path = xasprintf("%s/%s/versions/%lld/content", k->base, name, v);
	code = download(c, path, target, json_string_value(json_object_get(ver, "sha256")),
			json_integer_value(json_object_get(ver, "bytes")), rate);
	free(path);
	if (!code && !c->json)
		printf("Pulled %s %s@%lld to %s\n", k->word, name, v, target);
out:
	json_decref(ver);
	free(target);
	free(name);
	return code;
}

/* ---- diff ---- */

/* Columns and rows of sampled added/removed rows: "row" then the values. */
static void print_rows(const char *title, json_t *rows, json_t *names)
{
	size_t n = json_array_size(names), i;
	json_t *r;
	if (!json_array_size(rows))
		return;
	const char **cols = xcalloc(n + 2, sizeof *cols);
	json_t *items = json_array();
	cols[0] = "row";
	for (i = 0; i < n; i++)
		cols[i + 1] = json_string_value(json_array_get(names, i)) ?: "?";
	json_array_foreach(rows, i, r) {
		json_t *o = json_deep_copy(json_object_get(r, "values"));
		if (!o || json_object_set(o, "row", json_object_get(r, "row")) ||
		    json_array_append_new(items, o))
			break;
	}
	printf("\n%s:\n", title);
	cli_print_table(items, cols);
	json_decref(items);
	free(cols);
}

/* Changed rows: one line per changed column (key, column, from, to). */
static void print_changed(json_t *rows)
{
	static const char *const cols[] = { "row_a", "row_b", "key", "column", "from", "to", NULL };
	json_t *items = json_array(), *r, *ch;
	size_t i;
	const char *col;
	if (!json_array_size(rows))
		return;
	json_array_foreach(rows, i, r) {
		char *key = json_dumps(json_object_get(r, "key"), JSON_COMPACT | JSON_ENCODE_ANY);
		json_object_foreach(json_object_get(r, "columns"), col, ch) {
			json_t *o = json_pack("{s:O?,s:O?,s:s?,s:s,s:O?,s:O?}", "row_a",
					      json_object_get(r, "row_a"), "row_b",
					      json_object_get(r, "row_b"), "key", key, "column", col,
					      "from", json_object_get(ch, "from"), "to",
					      json_object_get(ch, "to"));
			if (!o || json_array_append_new(items, o))
				break;
		}
		free(key);
	}
	printf("\nchanged rows:\n");
	cli_print_table(items, cols);
	json_decref(items);
}

/* A comma list of a JSON array of strings ("-" when empty). */
static char *names_list(json_t *a)
{
	buf b;
	size_t i;
	json_t *x;
	buf_init(&b, 1 << 20);
	json_array_foreach(a, i, x)
		buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(x) ?: "?");
	char *s = esc(b.len ? b.data : "-");
	buf_release(&b);
	return s;
}

static void print_table_diff(json_t *d)
{
	json_t *sc = json_object_get(d, "schema"), *cnt = json_object_get(d, "counts");
	json_t *sm = json_object_get(d, "samples"), *rt;
	size_t i;
	if (json_is_true(json_object_get(d, "identical"))) {
		printf("identical\n");
		return;
	}
	if (json_is_true(json_object_get(sc, "changed"))) {
		char *add = names_list(json_object_get(sc, "added"));
		char *rem = names_list(json_object_get(sc, "removed"));
		printf("schema: columns added: %s; removed: %s%s\n", add, rem,
		       json_is_true(json_object_get(sc, "reordered")) ? "; reordered" : "");
		json_array_foreach(json_object_get(sc, "retyped"), i, rt) {
			char *col = cli_field(rt, "column"), *f = cli_field(rt, "from"), *t = cli_field(rt, "to");
			printf("schema: column %s: %s -> %s\n", col, f, t);
			free(col), free(f), free(t);
		}
	} else {
		printf("schema: unchanged\n");
	}
	json_t *rows = json_object_get(d, "rows");
	printf("rows: %lld -> %lld\n", json_integer_value(json_object_get(rows, "a")),
	       json_integer_value(json_object_get(rows, "b")));
	char *key = names_list(json_object_get(d, "key"));
	printf("key: %s\n", json_is_array(json_object_get(d, "key")) ? key : "(none: whole rows)");
	free(key);
	printf("added %lld, removed %lld, changed %lld, unchanged %lld\n",
	       json_integer_value(json_object_get(cnt, "added")),
	       json_integer_value(json_object_get(cnt, "removed")),
	       json_integer_value(json_object_get(cnt, "changed")),
	       json_integer_value(json_object_get(cnt, "unchanged")));
	if (json_is_false(json_object_get(d, "key_unique")))
		printf("warning: the key is not unique (%lld and %lld duplicate rows)\n",
		       json_integer_value(json_object_get(json_object_get(d, "duplicate_keys"), "a")),
		       json_integer_value(json_object_get(json_object_get(d, "duplicate_keys"), "b")));
	print_rows("added rows", json_object_get(sm, "added"), json_object_get(sc, "columns_b"));
	print_rows("removed rows", json_object_get(sm, "removed"), json_object_get(sc, "columns_a"));
	print_changed(json_object_get(sm, "changed"));
}

static void print_set_diff(json_t *d)
{
	static const char *const what[] = { "added", "removed", "changed", NULL };
	json_t *p;
	size_t i;
	for (int w = 0; what[w]; w++)
		json_array_foreach(json_object_get(d, what[w]), i, p) {
			char *s = esc(json_string_value(p));
			printf("%-8s %s\n", what[w], s);
			free(s);
		}
	printf("unchanged: %lld files\n", json_integer_value(json_object_get(d, "unchanged")));
}

/* Server text for a terminal: control bytes escaped, except newlines and
 * tabs, which a unified diff is made of. */
static void print_text(const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static int diff_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	char *name = NULL, *path = NULL;
	long long v, a, b;
	json_t *d = NULL;
	int code = parse_ref(c, args[0], 0, &name, &v);
	if (!code && v) {
		fprintf(stderr, "sentinel %s: give the versions as arguments: NAME A B\n", c->cmd);
		code = 2;
	}
	if (code || (code = parse_num(c, args[1], &a)) || (code = parse_num(c, args[2], &b)))
		goto out;
	path = xasprintf("%s/%s/diff?from=%lld&to=%lld", k->base, name, a, b);
	if (k == &DATASET) {
		long long lim;
		char err[128];
		if (cfg_get(conf, "limit") &&
		    (cfg_get_int(conf, "limit", &lim, err, sizeof err) || lim < 0 || lim > 1000)) {
			fprintf(stderr, "sentinel %s: --limit must be a number from 0 to 1000\n", c->cmd);
			code = 2;
			goto out;
		}
		add_query(&path, "key", cfg_get(conf, "key"));
		add_query(&path, "limit", cfg_get(conf, "limit"));
		add_query(&path, "path", cfg_get(conf, "path"));
	}
	if ((code = cli_call(c, "GET", path, NULL, &d)))
		goto out;
	const char *kind = json_string_value(json_object_get(d, "kind")) ?: "";
	if (c->json) {
		cli_print_json(d);
	} else if (k == &SCRIPT) {
		printf("%s %s: %lld -> %lld: %s, +%lld -%lld lines\n", k->word, name, a, b,
		       json_is_true(json_object_get(d, "identical")) ? "identical" : "changed",
		       json_integer_value(json_object_get(d, "added")),
		       json_integer_value(json_object_get(d, "removed")));
		print_text(json_string_value(json_object_get(d, "diff")) ?: "");
	} else if (strcmp(kind, "table") == 0) {
		char *p = cli_field(d, "path");
		printf("dataset %s: %lld -> %lld (%s)\n", name, a, b, p);
		free(p);
		print_table_diff(json_object_get(d, "diff"));
	} else if (strcmp(kind, "fileset") == 0) {
		printf("dataset %s: %lld -> %lld (file set)\n", name, a, b);
		print_set_diff(d);
	} else {
		printf("dataset %s: %lld -> %lld: %s\n", name, a, b,
		       json_is_true(json_object_get(d, "identical")) ? "identical" : "different content");
	}
out:
	json_decref(d);
	free(path);
	free(name);
	return code;
}

static int rm_fn(cli *c, const struct kind *k, const cfg *conf, char *const *args)
{
	char *name = NULL;
	long long v;
	json_t *out = NULL;
	(void)conf;
	int code = parse_ref(c, args[0], 0, &name, &v);
	if (!code && v) {
		fprintf(stderr, "sentinel %s: rm removes a whole %s: give its name only\n", c->cmd,
			k->word);
		code = 2;
	}
	if (!code) {
		char *path = xasprintf("%s/%s", k->base, name);
		code = cli_call(c, "DELETE", path, NULL, &out);
		free(path);
	}
	if (!code && c->json)
		cli_print_json(out);
	else if (!code)
		printf("Removed %s %s\n", k->word, name);
	json_decref(out);
	free(name);
	return code;
}

/* ---- dispatch ---- */

/* -m and -o are the short forms of --message and --output; cfg knows long
 * flags only, so they are rewritten before parsing. */
static char **expand_short(int argc, char **argv)
{
	static const char *const map[] = { "-m", "--message", "-o", "--output", NULL };
	return cli_expand_short(argc, argv, map);
}

static int run(const cfg_spec *spec, const struct kind *k, int nargs, int argc, char **argv,
	       action_fn fn)
{
	cfg *conf = NULL;
	cli c = { 0 };
	int code, n;
	char **av = expand_short(argc, argv);
	if (cfg_cmd_init(spec, argc, av, &conf, &code)) {
		free(av);
		return code;
	}
	char *const *args = cfg_args(conf, &n);
	if (n != nargs) {
		fprintf(stderr, "sentinel %s: expected %d argument%s: %s\n", spec->cmd, nargs,
			nargs == 1 ? "" : "s", spec->synopsis);
		code = 2;
	} else if ((code = cli_open(&c, conf, spec->cmd, 1)) == 0) {
		code = fn(&c, k, conf, args);
	}
	cli_release(&c);
	cfg_free(&conf);
	free(av);
	return code;
}

#define SPEC(var, cmd, syn, sum, opts) static const cfg_spec var = { cmd, syn, sum, opts, -1 }
SPEC(ds_push_spec, "dataset push", "PATH --name NAME [-m MESSAGE]",
     "Push a file, or a directory as a file set, as the dataset's next version.\n"
     "Files over 64 MiB go through a resumable upload: after an interruption,\n"
     "the same command resumes where the server stopped.", push_opts);
SPEC(ds_ls_spec, "dataset ls", "[--owner U] [--q TEXT] [--archived]",
     "List the datasets you may read.", list_opts);
SPEC(ds_show_spec, "dataset show", "NAME[@V]",
     "Show a version (default: the latest) and its tables' profiles.", plain_opts);
SPEC(ds_diff_spec, "dataset diff", "NAME A B [--key COLS] [--limit N] [--path P]",
     "Compare versions A and B: schema, row counts and sample rows.", diff_opts);
SPEC(ds_pull_spec, "dataset pull", "NAME@V -o PATH",
     "Download a version: a file, or a file set into the directory PATH.", pull_opts);
SPEC(ds_rm_spec, "dataset rm", "NAME", "Remove a dataset and its versions (admin).", plain_opts);
SPEC(sc_push_spec, "script push", "FILE --name NAME [-m MESSAGE] [--language LANG]",
     "Push a Python or shell script as the script's next version.", script_push_opts);
SPEC(sc_ls_spec, "script ls", "[--owner U] [--q TEXT] [--archived]",
     "List the scripts you may read.", list_opts);
SPEC(sc_show_spec, "script show", "NAME[@V]", "Show a version (default: the latest).", plain_opts);
SPEC(sc_diff_spec, "script diff", "NAME A B", "Show the unified diff from version A to B.",
     script_diff_opts);
SPEC(sc_pull_spec, "script pull", "NAME@V -o PATH", "Download a version's text.", pull_opts);
SPEC(sc_rm_spec, "script rm", "NAME", "Remove a script and its versions (admin).", plain_opts);

static int ds_push(int argc, char **argv) { return run(&ds_push_spec, &DATASET, 1, argc, argv, push_fn); }
static int ds_ls(int argc, char **argv) { return run(&ds_ls_spec, &DATASET, 0, argc, argv, ls_fn); }
static int ds_show(int argc, char **argv) { return run(&ds_show_spec, &DATASET, 1, argc, argv, show_fn); }
static int ds_diff(int argc, char **argv) { return run(&ds_diff_spec, &DATASET, 3, argc, argv, diff_fn); }
static int ds_pull(int argc, char **argv) { return run(&ds_pull_spec, &DATASET, 1, argc, argv, pull_fn); }
static int ds_rm(int argc, char **argv) { return run(&ds_rm_spec, &DATASET, 1, argc, argv, rm_fn); }
static int sc_push(int argc, char **argv) { return run(&sc_push_spec, &SCRIPT, 1, argc, argv, push_fn); }
static int sc_ls(int argc, char **argv) { return run(&sc_ls_spec, &SCRIPT, 0, argc, argv, ls_fn); }
static int sc_show(int argc, char **argv) { return run(&sc_show_spec, &SCRIPT, 1, argc, argv, show_fn); }
static int sc_diff(int argc, char **argv) { return run(&sc_diff_spec, &SCRIPT, 3, argc, argv, diff_fn); }
static int sc_pull(int argc, char **argv) { return run(&sc_pull_spec, &SCRIPT, 1, argc, argv, pull_fn); }
static int sc_rm(int argc, char **argv) { return run(&sc_rm_spec, &SCRIPT, 1, argc, argv, rm_fn); }

int cli_dataset_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "push", ds_push, "push a file or a directory as a new version" },
		{ "ls", ds_ls, "list datasets" },
		{ "show", ds_show, "show a version and its profiles" },
		{ "diff", ds_diff, "compare two versions" },
		{ "pull", ds_pull, "download a version" },
		{ "rm", ds_rm, "remove a dataset" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("dataset", subs, argc, argv);
}

int cli_script_cmd(int argc, char **argv)
{
	static const struct cli_sub subs[] = {
		{ "push", sc_push, "push a script as a new version" },
		{ "ls", sc_ls, "list scripts" },
		{ "show", sc_show, "show a version" },
		{ "diff", sc_diff, "diff two versions" },
		{ "pull", sc_pull, "download a version" },
		{ "rm", sc_rm, "remove a script" },
		{ NULL, NULL, NULL },
	};
	return cli_dispatch("script", subs, argc, argv);
}
