/* The console's static files (docs/web.md, "Static files"): what GET and
 * HEAD of a path that no route matches get, outside /api/, /v1/ and
 * /metrics (those keep their JSON 404).
 *
 * Invariants:
 *  1. Nothing outside the web directory is opened. The decoded path must
 *     pass http_static_path_ok (no empty, "." or ".." segment, no hidden
 *     file), and it is opened one segment at a time with openat and
 *     O_NOFOLLOW from an O_PATH descriptor of the directory: no symlink is
 *     followed anywhere below it, whatever it points to.
 *  2. Only regular files are served (O_NONBLOCK: a FIFO cannot hang the
 *     open; it is refused after fstat).
 *  3. Every reply made here carries the console's security headers.
 *  4. The directory is opened per request, so that rebuilding the console
 *     (which may replace the directory) needs no restart.
 *
 * Choice of bytes: NAME.br, else NAME.gz, else NAME, where the client
 * accepts the coding and the compressed file exists beside NAME (NAME must
 * exist too: a lone NAME.br is not a file of the console). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/http_int.h"

/* docs/web.md gives it word for word. */
static const char csp[] =
	"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'"
	" data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self';"
	" object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

void http_static_security_headers(http_req *r)
{
	http_reply_header(r, "Content-Security-Policy", csp);
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_reply_header(r, "Referrer-Policy", "same-origin");
}

static int under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

int http_static_excluded(const char *path)
{
	return under(path, "/api") || under(path, "/v1") || under(path, "/metrics");
}

int http_static_path_ok(const char *path)
{
	size_t n = strlen(path);
	if (path[0] != '/' || n > HTTP_STATIC_PATH_MAX || strchr(path, '\\'))
		return 0;
	for (const char *s = path + 1; *s;) {
		size_t len = strcspn(s, "/");
		if (s[len] == '\0' && len == 0)
			break; /* the one trailing '/' */
		if (len == 0 || s[0] == '.')
			return 0;
		s += len;
		if (*s == '/')
			s++;
	}
	return 1;
}

/* ---- Accept-Encoding ---- */

/* The q-value of one list element's parameters ("; q=0.5"): 1000 for 1,
 * 0 for 0 (three decimals, as RFC 9110 allows). */
static int qvalue(const char *p, const char *end)
{
	while (p < end) {
		while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
			p++;
		if (end - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			p += 2;
			if (p < end && *p == '1')
				return 1000;
			int q = 0, scale = 100;
			if (p < end && *p == '0')
				p++;
			if (p < end && *p == '.')
				for (p++; p < end && *p >= '0' && *p <= '9' && scale; p++, scale /= 10)
					q += (*p - '0') * scale;
			return q;
		}
		while (p < end && *p != ';')
			p++;
	}
	return 1000;
}

int http_accepts_encoding(const char *accept, const char *coding)
{
	int named = -1, star = -1;
	size_t cl = strlen(coding);
	for (const char *p = accept ? accept : ""; *p;) {
		const char *end = p + strcspn(p, ",");
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		size_t tl = strcspn(p, ";, \t");
		if (tl > (size_t)(end - p))
			tl = (size_t)(end - p);
		int q = qvalue(p + tl, end);
		if (tl == cl && strncasecmp(p, coding, cl) == 0)
			named = q;
		else if (tl == 1 && *p == '*')
			star = q;
		p = *end ? end + 1 : end;
	}
	return named >= 0 ? named > 0 : star > 0;
}

/* ---- opening beneath the directory ---- */

/* Opens rel (a checked path without its leading '/') below dir. 0 with
 * *fd (a regular file) and *st, or -ENOENT (absent, a symlink, not a
 * regular file: all the same to a client). */
static int open_beneath(int dir, const char *rel, int *fd, struct stat *st)
{
	char seg[256];
	int cur = dir, rc = -ENOENT;
	*fd = -1;
	for (const char *s = rel;;) {
		size_t len = strcspn(s, "/");
		if (len == 0 || len >= sizeof seg)
			break;
		memcpy(seg, s, len);
		seg[len] = '\0';
		s += len;
		int last = *s == '\0' || (s[0] == '/' && s[1] == '\0');
		int next = openat(cur, seg, last ? O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
						 : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != dir)
			close(cur);
		cur = dir;
		if (next < 0)
			break;
		if (last) {
			if (fstat(next, st) == 0 && S_ISREG(st->st_mode)) {
				*fd = next;
				rc = 0;
			} else {
				close(next);
			}
			break;
		}
		cur = next;
		s++;
	}
	if (cur != dir)
		close(cur);
	return rc;
}

/* ---- replies ---- */

static const struct { const char *ext, *type; } types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "mjs", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "json", "application/json" },
	{ "map", "application/json" },
	{ "webmanifest", "application/manifest+json" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "webp", "image/webp" },
	{ "ico", "image/x-icon" },
	{ "woff", "font/woff" },
	{ "woff2", "font/woff2" },
	{ "ttf", "font/ttf" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "wasm", "application/wasm" },
	{ "xml", "application/xml" },
};

/* The extension of the last segment ("" when none). */
static const char *extension(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	return dot ? dot + 1 : "";
}

static const char *content_type(const char *path)
{
	const char *ext = extension(path);
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (strcasecmp(ext, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* Whether an If-None-Match value names etag (or is "*"). */
static int etag_matches(const char *inm, const char *etag)
{
	if (!inm)
		return 0;
	if (strcmp(inm, "*") == 0)
		return 1;
	size_t n = strlen(etag);
	for (const char *p = strstr(inm, etag); p; p = strstr(p + 1, etag))
		if ((p[n] == '\0' || p[n] == ',' || p[n] == ' ') &&
		    (p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/'))
			return 1;
	return 0;
}

/* Serves rel (below dir) with its compressed twin when the client takes
 * it. 0 when a reply was made, -ENOENT when rel is not a file. */
static int serve_file(http_req *r, int dir, const char *rel)
{
	struct stat st, zst;
	int fd, zfd = -1;
	if (open_beneath(dir, rel, &fd, &st))
		return -ENOENT;
	const char *ae = http_req_header(r, "Accept-Encoding"), *enc = NULL;
	static const char *const codings[][2] = { { "br", ".br" }, { "gzip", ".gz" } };
	for (size_t i = 0; i < 2 && !enc; i++) {
		if (!http_accepts_encoding(ae, codings[i][0]))
			continue;
		char *z = xasprintf("%s%s", rel, codings[i][1]);
		if (open_beneath(dir, z, &zfd, &zst) == 0) {
			close(fd);
			fd = zfd;
			st = zst;
			enc = codings[i][0];
		}
		free(z);
	}
	char etag[80];
	snprintf(etag, sizeof etag, "\"%llx-%llx%s%s\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long)st.st_mtim.tv_nsec,
		 enc ? "-" : "", enc ? enc : "");
	http_static_security_headers(r);
	http_reply_header(r, "Cache-Control", strncmp(rel, "assets/", 7) == 0
				     ? "public, max-age=31536000, immutable" : "no-cache");
	http_reply_header(r, "Vary", "Accept-Encoding");
	http_reply_header(r, "ETag", etag);
	if (etag_matches(http_req_header(r, "If-None-Match"), etag)) {
		close(fd);
		http_reply_data(r, 304, NULL, xstrdup(""), 0);
		return 0;
	}
	if (enc)
		http_reply_header(r, "Content-Encoding", enc);
	http_reply_fd(r, 200, content_type(rel), fd, 0, (uint64_t)st.st_size);
	return 0;
}

static const char no_console[] =
	"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	"<title>Sentinel</title></head>\n<body>\n<h1>Sentinel</h1>\n"
	"<p>The web console is not built. Build it with <code>make web</code> (this needs"
	" Node.js 18 or later), or point the server at a built console with"
	" <code>--web-dir DIR</code> (<code>SENTINEL_WEB_DIR</code>).</p>\n"
	"<p>The API works without it, at <code>/api/v1</code>"
	" (for example <code>/api/v1/health</code>).</p>\n</body></html>\n";

void http_static_serve(http_req *r)
{
	const char *path = r->path;
	const char *dirpath = r->srv->web_dir;
	int dir = dirpath ? open(dirpath, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	int has_ext = *extension(path) != '\0';
	if (!http_static_path_ok(path)) {
		http_static_security_headers(r);
		http_reply_error(r, 404, "not_found", "no file %s", path);
		goto out;
	}
	const char *rel = path[1] ? path + 1 : "index.html";
	if (dir >= 0 && serve_file(r, dir, rel) == 0)
		goto out;
	if (has_ext) {
		http_static_security_headers(r);
		http_reply_error(r, 404, "not_found", "no file %s", path);
		goto out;
	}
	/* The console's router knows the path, or says it does not. */
	if (dir >= 0 && serve_file(r, dir, "index.html") == 0)
		goto out;
	http_static_security_headers(r);
	char *page = xstrdup(no_console);
	http_reply_data(r, 200, "text/html; charset=utf-8", page, strlen(page));
out:
	if (dir >= 0)
		close(dir);
}
