#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <sys/socket.h>
#include <curl/curl.h>
#include "base/buf.h"
#include "base/dl.h"
#include "base/mem.h"
#include "http/client.h"

/* libcurl, with the dozens of libraries it pulls in (Kerberos, LDAP, SSH,
 * RTMP ...), costs every process ~10 ms at start-up; only the commands that
 * talk HTTP as clients need it, so it is loaded on first use. */
static struct {
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_cleanup)(CURL *);
	void (*easy_reset)(CURL *);
	CURLcode (*easy_pause)(CURL *, int);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_perform)(CURLM *, int *);
	CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	curl_mime *(*mime_init)(CURL *);
	curl_mimepart *(*mime_addpart)(curl_mime *);
	CURLcode (*mime_name)(curl_mimepart *, const char *);
	CURLcode (*mime_filedata)(curl_mimepart *, const char *);
	CURLcode (*mime_filename)(curl_mimepart *, const char *);
	void (*mime_free)(curl_mime *);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *, CURLUPart, const char *, unsigned int);
	CURLUcode (*url_get)(const CURLU *, CURLUPart, char **, unsigned int);
	void (*url_cleanup)(CURLU *);
	void (*free)(void *);
} cu;
static const char *const cu_names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
	"curl_easy_getinfo", "curl_easy_cleanup", "curl_easy_reset", "curl_easy_pause", "curl_multi_init",
	"curl_multi_add_handle", "curl_multi_remove_handle", "curl_multi_perform", "curl_multi_poll",
	"curl_multi_info_read", "curl_multi_cleanup", "curl_easy_strerror", "curl_slist_append",
	"curl_slist_free_all", "curl_mime_init", "curl_mime_addpart", "curl_mime_name",
	"curl_mime_filedata", "curl_mime_filename", "curl_mime_free", "curl_url", "curl_url_set",
	"curl_url_get", "curl_url_cleanup", "curl_free",
};
static sn_dl_lib cu_lib = SN_DL_LIB("libcurl.so.4", "libcurl4", cu_names, &cu);
static pthread_once_t once = PTHREAD_ONCE_INIT;

_Static_assert(sizeof cu == sizeof cu_names / sizeof cu_names[0] * sizeof(void *),
	       "one pointer per name");

/* curl_global_init is not thread-safe: once per process, after loading. */
static void global_init(void)
{
	cu.global_init(CURL_GLOBAL_DEFAULT);
}

/* Returning less than given makes curl fail the transfer: a reply larger
 * than HC_BODY_MAX ends as an error, not as a truncated body. */
static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	buf *b = ud;
	return buf_append(b, p, size * n) ? 0 : size * n;
}

static void common_opts(CURL *c, const char *method, const char *url, struct curl_slist *hdrs,
			char *cerr)
{
	cu.easy_setopt(c, CURLOPT_URL, url);
	cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cu.easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	/* Signals would interrupt other threads' work (the engine, the server). */
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A redirect or a typed URL must not reach file://, gopher:// and the like. */
	cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

int hc_request(const char *method, const char *url, const json_t *body, const hc_opts *o,
	       hc_resp *out, char *err, size_t errlen)
{
	if (sn_dl_use(&cu_lib, err, errlen))
		return -ENOSYS;
	pthread_once(&once, global_init);
	CURL *c = cu.easy_init();
	struct curl_slist *hdrs = NULL;
	char *auth = NULL, *data = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	buf b;
	int rc = 0;
	buf_init(&b, HC_BODY_MAX);
	if (!c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	hdrs = cu.slist_append(hdrs, "Accept: application/json");
	if (o && o->token) {
		auth = xasprintf("Authorization: Bearer %s", o->token);
		hdrs = cu.slist_append(hdrs, auth);
	}
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		if (!data) {
			/* Only a body jansson cannot encode (memory, or a string that
			 * was stored without checking its UTF-8) gets here. */
			snprintf(err, errlen, "cannot encode the request body");
			rc = -EINVAL;
			goto out;
		}
		hdrs = cu.slist_append(hdrs, "Content-Type: application/json");
		cu.easy_setopt(c, CURLOPT_POSTFIELDS, data);
		cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
	}
	common_opts(c, method, url, hdrs, cerr);
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cu.easy_setopt(c, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 60L);
	if (o && o->insecure) {
		cu.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		cu.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cc = cu.easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : cu.easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = buf_detach(&b, &out->len);
out:
	buf_release(&b);
	cu.slist_free_all(hdrs);
	cu.easy_cleanup(c);
	free(auth);
	free(data);
	return rc;
}

void hc_resp_release(hc_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

struct xfer_ctx {
	CURL *c;
	const hc_xfer *x;
	int64_t sent;  /* bytes of the body_fd body read so far */
	int to_fd;     /* -1 until the status is known; then 1 (2xx: out_fd) or 0 */
	int write_err; /* errno of a failed write to out_fd */
	int read_err;  /* errno of a failed read of body_fd */
	int cancelled;
	buf *b;
};

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct xfer_ctx *t = ud;
	int64_t left = t->x->body_len - t->sent;
	size_t want = size * n < (uint64_t)left ? size * n : (size_t)left;
	if (want == 0)
		return 0;
	ssize_t r;
	do
		r = pread(t->x->body_fd, p, want, t->x->body_off + t->sent);
	while (r < 0 && errno == EINTR);
	/* A file that shrank while being sent must not end the request early
	 * with a short body the server would take as whole. */
	if (r <= 0) {
		t->read_err = r < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	t->sent += r;
	return (size_t)r;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer_ctx *t = ud;
	if (t->to_fd < 0) {
		long st = 0;
		cu.easy_getinfo(t->c, CURLINFO_RESPONSE_CODE, &st);
		t->to_fd = st >= 200 && st < 300;
	}
	if (!t->to_fd)
		return on_data(p, size, n, t->b);
	for (size_t off = 0; off < size * n;) {
		ssize_t w = write(t->x->out_fd, p + off, size * n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			t->write_err = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	return size * n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer_ctx *t = ud;
	int up = !t->x->body && (t->x->body_fd >= 0 || t->x->nparts);
	if (t->x->progress(t->x->progress_ud, up ? ulnow : dlnow, up ? ultotal : dltotal)) {
		t->cancelled = 1;
		return 1;
	}
	return 0;
}

/* A multipart body of x's parts, or NULL (err filled). */
static curl_mime *make_mime(CURL *c, const hc_xfer *x, char *err, size_t errlen)
{
	curl_mime *m = cu.mime_init(c);
	for (size_t i = 0; m && i < x->nparts; i++) {
		curl_mimepart *p = cu.mime_addpart(m);
		if (!p || cu.mime_name(p, x->parts[i].name) ||
		    cu.mime_filedata(p, x->parts[i].path) ||
		    cu.mime_filename(p, x->parts[i].filename)) {
			snprintf(err, errlen, "cannot add %s to the request", x->parts[i].path);
			cu.mime_free(m);
			return NULL;
		}
	}
	if (!m)
		snprintf(err, errlen, "cannot initialise a multipart body");
	return m;
}

int hc_transfer(const char *method, const char *url, const hc_opts *o, const hc_xfer *x,
		hc_resp *out, char *err, size_t errlen)
{
	if (sn_dl_use(&cu_lib, err, errlen))
		return -ENOSYS;
	pthread_once(&once, global_init);
	CURL *c = cu.easy_init();
	struct curl_slist *hdrs = NULL;
	curl_mime *mime = NULL;
	char *auth = NULL, *ctype = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	buf b;
	struct xfer_ctx t = { .c = c, .x = x, .to_fd = x->out_fd >= 0 ? -1 : 0, .b = &b };
	int rc = 0;
	buf_init(&b, HC_BODY_MAX);
	if (!c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	if (o && o->token) {
		auth = xasprintf("Authorization: Bearer %s", o->token);
		hdrs = cu.slist_append(hdrs, auth);
	}
	for (size_t i = 0; x->headers && x->headers[i]; i++)
		hdrs = cu.slist_append(hdrs, x->headers[i]);
	common_opts(c, method, url, hdrs, cerr);
	if (x->body) {
		ctype = xasprintf("Content-Type: %s", x->content_type ? x->content_type
								     : "application/json");
		hdrs = cu.slist_append(hdrs, ctype);
		cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		cu.easy_setopt(c, CURLOPT_POSTFIELDS, x->body);
		cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_size);
	} else if (x->nparts) {
		if (!(mime = make_mime(c, x, err, errlen))) {
			rc = -ENOMEM;
			goto out;
		}
		cu.easy_setopt(c, CURLOPT_MIMEPOST, mime);
	} else if (x->body_fd >= 0) {
		ctype = xasprintf("Content-Type: %s", x->content_type ? x->content_type
								     : "application/octet-stream");
		hdrs = cu.slist_append(hdrs, ctype);
		cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		cu.easy_setopt(c, CURLOPT_UPLOAD, 1L);
		cu.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
		cu.easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		cu.easy_setopt(c, CURLOPT_READDATA, &t);
	}
	/* CURLOPT_CUSTOMREQUEST set by common_opts keeps the method (UPLOAD and
	 * MIMEPOST would otherwise make it PUT or POST). */
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	if (o && o->timeout_s)
		cu.easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s);
	/* Under 1 byte/s for 60 s: a dead peer, whatever the transfer's size. */
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	if (x->max_rate > 0) {
		cu.easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)x->max_rate);
		cu.easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)x->max_rate);
	}
	if (x->progress) {
		cu.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		cu.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		cu.easy_setopt(c, CURLOPT_XFERINFODATA, &t);
	}
	if (o && o->insecure) {
		cu.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		cu.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cc = cu.easy_perform(c);
	if (t.cancelled) {
		snprintf(err, errlen, "%s: interrupted", url);
		rc = -ECANCELED;
	} else if (t.write_err) {
		snprintf(err, errlen, "cannot write the download: %s", strerror(t.write_err));
		rc = -t.write_err;
	} else if (t.read_err) {
		snprintf(err, errlen, "cannot read the upload: %s", strerror(t.read_err));
		rc = -t.read_err;
	} else if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : cu.easy_strerror(cc));
		rc = -EIO;
	}
	if (rc)
		goto out;
	cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = buf_detach(&b, &out->len);
out:
	buf_release(&b);
	cu.slist_free_all(hdrs);
	cu.easy_cleanup(c);
	/* After the handle: curl may touch the body until its cleanup. */
	if (mime)
		cu.mime_free(mime);
	free(auth);
	free(ctype);
	return rc;
}

/* ---- hc_fetch ---- */

int hc_url_parts(const char *url, char scheme[8], char host[256], int *port)
{
	if (sn_dl_use(&cu_lib, NULL, 0))
		return -ENOSYS;
	CURLU *u = cu.url();
	char *sch = NULL, *h = NULL, *p = NULL;
	int rc = -EINVAL;
	if (!u)
		return -ENOMEM;
	if (cu.url_set(u, CURLUPART_URL, url, 0) ||
	    cu.url_get(u, CURLUPART_SCHEME, &sch, 0) ||
	    cu.url_get(u, CURLUPART_HOST, &h, 0) ||
	    cu.url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT))
		goto out;
	if (strcasecmp(sch, "http") != 0 && strcasecmp(sch, "https") != 0)
		goto out;
	size_t n = strlen(h);
	const char *hp = h;
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	/* A zone id ("fe80::1%eth0") names an interface: never a public host. */
	if (n == 0 || n >= 256 || memchr(hp, '%', n))
		goto out;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)((hp[i] >= 'A' && hp[i] <= 'Z') ? hp[i] - 'A' + 'a' : hp[i]);
	host[n] = '\0';
	for (size_t i = 0; sch[i] && i < 7; i++)
		scheme[i] = (char)((sch[i] >= 'A' && sch[i] <= 'Z') ? sch[i] - 'A' + 'a' : sch[i]);
	scheme[strlen(sch) < 7 ? strlen(sch) : 7] = '\0';
	*port = atoi(p);
	rc = *port > 0 && *port < 65536 ? 0 : -EINVAL;
out:
	cu.free(sch);
	cu.free(h);
	cu.free(p);
	cu.url_cleanup(u);
	return rc;
}

struct fetch_ctx {
	CURL *c;
	const hc_fetch_opts *o;
	uint64_t got;
	int is_2xx;      /* -1 until the status is known */
	int refused;     /* allow_addr said no */
	int too_big;
	int cb_rc;       /* on_data's error */
};

/* Every connection curl opens goes through here, after name resolution:
 * the address checked is the one connected to. */
static curl_socket_t fetch_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct fetch_ctx *t = ud;
	(void)purpose;
	if (t->o->allow_addr && t->o->allow_addr(t->o->addr_ud, &a->addr)) {
		t->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static size_t fetch_body(char *p, size_t size, size_t n, void *ud)
{
	struct fetch_ctx *t = ud;
	size_t len = size * n;
	if (t->is_2xx < 0) {
		long st = 0;
		cu.easy_getinfo(t->c, CURLINFO_RESPONSE_CODE, &st);
		t->is_2xx = st >= 200 && st < 300;
	}
	if (!t->is_2xx)
		return len;
	/* Counted here too: a body without Content-Length escapes MAXFILESIZE. */
	if (t->got + len > t->o->max_bytes) {
		t->too_big = 1;
		return 0;
	}
	t->got += len;
	int rc = t->o->on_data ? t->o->on_data(t->o->ud, p, len) : 0;
	if (rc) {
		t->cb_rc = rc;
		return 0;
	}
	return len;
}

int hc_fetch(const char *url, const hc_fetch_opts *o, long *status, char **location, char *err,
	     size_t errlen)
{
	if (sn_dl_use(&cu_lib, err, errlen))
		return -ENOSYS;
	pthread_once(&once, global_init);
	CURL *c = cu.easy_init();
	char cerr[CURL_ERROR_SIZE] = "";
	struct fetch_ctx t = { .c = c, .o = o, .is_2xx = -1 };
	int rc = 0;
	*location = NULL;
	if (!c) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -ENOMEM;
	}
	common_opts(c, "GET", url, NULL, cerr);
	/* A proxy from the environment would be connected to instead of the
	 * checked address. */
	cu.easy_setopt(c, CURLOPT_PROXY, "");
	cu.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	cu.easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, fetch_socket);
	cu.easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_body);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &t);
	cu.easy_setopt(c, CURLOPT_TIMEOUT, o->timeout_s > 0 ? o->timeout_s : 600L);
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	cu.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, o->stall_s > 0 ? o->stall_s : 30L);
	/* A declared Content-Length over the cap fails before any byte. */
	cu.easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_bytes);
	CURLcode cc = cu.easy_perform(c);
	if (t.refused) {
		snprintf(err, errlen, "the address of the host is refused");
		rc = -EPERM;
	} else if (t.cb_rc) {
		rc = t.cb_rc;
	} else if (t.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, errlen, "the download exceeds %llu bytes", (unsigned long long)o->max_bytes);
		rc = -EFBIG;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(err, errlen, "%s", cerr[0] ? cerr : cu.easy_strerror(cc));
		rc = -ETIMEDOUT;
	} else if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", cerr[0] ? cerr : cu.easy_strerror(cc));
		rc = -EIO;
	}
	if (rc)
		goto out;
	cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	char *loc = NULL;
	if (*status >= 300 && *status < 400 &&
	    cu.easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
		*location = xstrdup(loc);
out:
	cu.easy_cleanup(c);
	return rc;
}

/* ---- hc_relay_* ---- */

#define RELAY_LINES_MAX 128

struct hc_relay_job {
	hc_relay r;
	CURLM *m;
	CURL *c;
	struct curl_slist *hdrs;
	char cerr[CURL_ERROR_SIZE];
	char *lines[RELAY_LINES_MAX];
	size_t nlines;
	int head_sent, stopped, ended;
	CURLcode cc;
};

static void relay_lines_free(hc_relay_job *j)
{
	for (size_t i = 0; i < j->nlines; i++)
		free(j->lines[i]);
	j->nlines = 0;
}

static size_t relay_read(char *p, size_t size, size_t n, void *ud)
{
	hc_relay_job *j = ud;
	size_t got = j->r.read_body(j->r.ud, p, size * n);
	if (got == HC_RELAY_WAIT)
		return CURL_READFUNC_PAUSE;
	if (got == HC_RELAY_ABORT) {
		j->stopped = 1;
		return CURL_READFUNC_ABORT;
	}
	return got;
}

/* Called per header line, the status line first and a blank one last; a
 * 1xx interim response's lines are dropped. */
static size_t relay_header(char *p, size_t size, size_t n, void *ud)
{
	hc_relay_job *j = ud;
	size_t len = size * n, l = len;
	while (l && (p[l - 1] == '\r' || p[l - 1] == '\n'))
		l--;
	if (l == 0) {
		long st = 0;
		cu.easy_getinfo(j->c, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 100 && st < 200) {
			relay_lines_free(j);
			if (st == 100 && j->r.on_continue)
				j->r.on_continue(j->r.ud);
			return len;
		}
		j->head_sent = 1;
		/* The status line is not a header. */
		int rc = j->r.on_head(j->r.ud, st, j->lines + (j->nlines > 0),
				      j->nlines ? j->nlines - 1 : 0);
		if (rc)
			j->stopped = 1;
		return rc ? 0 : len;
	}
	if (j->nlines == RELAY_LINES_MAX)
		return 0;
	j->lines[j->nlines] = xmalloc(l + 1);
	memcpy(j->lines[j->nlines], p, l);
	j->lines[j->nlines++][l] = '\0';
	return len;
}

static size_t relay_body(char *p, size_t size, size_t n, void *ud)
{
	hc_relay_job *j = ud;
	if (j->r.on_body(j->r.ud, p, size * n)) {
		j->stopped = 1;
		return 0;
	}
	return size * n;
}

/* Finished relays' handles, each with the multi handle that keeps its
 * connection to the leader open: a relay then costs no TCP (or TLS)
 * handshake. */
#define RELAY_POOL 16
static struct {
	pthread_mutex_t mu;
	CURLM *m[RELAY_POOL];
	CURL *c[RELAY_POOL];
	size_t n;
} pool = { PTHREAD_MUTEX_INITIALIZER, { 0 }, { 0 }, 0 };

static int pool_take(hc_relay_job *j)
{
	pthread_mutex_lock(&pool.mu);
	if (pool.n) {
		pool.n--;
		j->m = pool.m[pool.n];
		j->c = pool.c[pool.n];
	}
	pthread_mutex_unlock(&pool.mu);
	if (!j->m) {
		j->m = cu.multi_init();
		j->c = cu.easy_init();
	}
	return j->m && j->c ? 0 : -ENOMEM;
}

/* A handle whose exchange did not end well may hold a broken connection:
 * not kept. */
static void pool_give(hc_relay_job *j, int ok)
{
	if (ok) {
		cu.easy_reset(j->c); /* the connection stays in the multi handle */
		pthread_mutex_lock(&pool.mu);
		if (pool.n < RELAY_POOL) {
			pool.m[pool.n] = j->m;
			pool.c[pool.n++] = j->c;
			j->m = NULL;
			j->c = NULL;
		}
		pthread_mutex_unlock(&pool.mu);
	}
	if (j->c)
		cu.easy_cleanup(j->c);
	if (j->m)
		cu.multi_cleanup(j->m);
}

int hc_relay_begin(const hc_relay *r, hc_relay_job **out, char *err, size_t errlen)
{
	if (sn_dl_use(&cu_lib, err, errlen))
		return -ENOSYS;
	pthread_once(&once, global_init);
	hc_relay_job *j = xcalloc(1, sizeof *j);
	j->r = *r;
	if (pool_take(j)) {
		snprintf(err, errlen, "cannot initialise libcurl");
		pool_give(j, 0);
		free(j);
		return -ENOMEM;
	}
	CURL *c = j->c;
	for (size_t i = 0; r->headers && r->headers[i]; i++)
		j->hdrs = cu.slist_append(j->hdrs, r->headers[i]);
	/* A body waits for the upstream's 100 Continue: a refusal from the
	 * head alone (401, 413) then arrives before any of it is sent. Sent
	 * regardless, it would be cut off by the refusal's close, and curl,
	 * failing to send, would never read the answer. */
	j->hdrs = cu.slist_append(j->hdrs, r->body_len != HC_RELAY_NO_BODY
						   ? "Expect: 100-continue" : "Expect:");
	common_opts(c, r->method, r->url, j->hdrs, j->cerr);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	if (r->body_len != HC_RELAY_NO_BODY) {
		cu.easy_setopt(c, CURLOPT_UPLOAD, 1L);
		cu.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
		cu.easy_setopt(c, CURLOPT_READFUNCTION, relay_read);
		cu.easy_setopt(c, CURLOPT_READDATA, j);
		cu.easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
	} else if (strcmp(r->method, "HEAD") == 0) {
		cu.easy_setopt(c, CURLOPT_NOBODY, 1L);
	}
	cu.easy_setopt(c, CURLOPT_HEADERFUNCTION, relay_header);
	cu.easy_setopt(c, CURLOPT_HEADERDATA, j);
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, relay_body);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, j);
	/* Relayed as they are: a body the client asked compressed stays so. */
	cu.easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
	if (cu.multi_add_handle(j->m, c) != CURLM_OK) {
		snprintf(err, errlen, "cannot start the relay");
		cu.slist_free_all(j->hdrs);
		pool_give(j, 0);
		free(j);
		return -ENOMEM;
	}
	*out = j;
	return 0;
}

static void relay_collect(hc_relay_job *j)
{
	int left = 0;
	CURLMsg *msg;
	while ((msg = cu.multi_info_read(j->m, &left)))
		if (msg->msg == CURLMSG_DONE) {
			j->ended = 1;
			j->cc = msg->data.result;
		}
}

int hc_relay_step(hc_relay_job *j, int timeout_ms)
{
	int running = 0;
	if (j->ended)
		return 1;
	cu.multi_perform(j->m, &running);
	relay_collect(j);
	if (j->ended)
		return 1;
	cu.multi_poll(j->m, NULL, 0, timeout_ms, NULL);
	cu.multi_perform(j->m, &running);
	relay_collect(j);
	return j->ended;
}

void hc_relay_resume(hc_relay_job *j)
{
	cu.easy_pause(j->c, CURLPAUSE_CONT);
}

int hc_relay_end(hc_relay_job **pj, char *err, size_t errlen)
{
	hc_relay_job *j = *pj;
	if (!j)
		return 0;
	*pj = NULL;
	CURLcode cc = j->cc;
	int rc = 0;
	if (!j->ended || j->stopped) {
		snprintf(err, errlen, "%s: stopped", j->r.url);
		rc = -ECANCELED;
	} else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
		   (cc == CURLE_OPERATION_TIMEDOUT && !j->head_sent)) {
		snprintf(err, errlen, "%s: %s", j->r.url, j->cerr[0] ? j->cerr : cu.easy_strerror(cc));
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -EIO : -ECONNREFUSED;
	} else if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", j->r.url, j->cerr[0] ? j->cerr : cu.easy_strerror(cc));
		rc = -EIO;
	}
	cu.multi_remove_handle(j->m, j->c);
	relay_lines_free(j);
	cu.slist_free_all(j->hdrs);
	pool_give(j, rc == 0);
	free(j);
	return rc;
}
