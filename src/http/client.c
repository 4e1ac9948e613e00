#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	curl_mime *(*mime_init)(CURL *);
	curl_mimepart *(*mime_addpart)(curl_mime *);
	CURLcode (*mime_name)(curl_mimepart *, const char *);
	CURLcode (*mime_filedata)(curl_mimepart *, const char *);
	CURLcode (*mime_filename)(curl_mimepart *, const char *);
	void (*mime_free)(curl_mime *);
} cu;
static const char *const cu_names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
	"curl_easy_getinfo", "curl_easy_cleanup", "curl_easy_strerror", "curl_slist_append",
	"curl_slist_free_all", "curl_mime_init", "curl_mime_addpart", "curl_mime_name",
	"curl_mime_filedata", "curl_mime_filename", "curl_mime_free",
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
	int up = t->x->body_fd >= 0 || t->x->nparts;
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
	if (x->nparts) {
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
