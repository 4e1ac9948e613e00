#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
} cu;
static const char *const cu_names[] = {
	"curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
	"curl_easy_getinfo", "curl_easy_cleanup", "curl_easy_strerror", "curl_slist_append",
	"curl_slist_free_all",
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
	cu.easy_setopt(c, CURLOPT_URL, url);
	cu.easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	cu.easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	cu.easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cu.easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	/* Signals would interrupt other threads' work (the engine, the server). */
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 60L);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	/* A redirect or a typed URL must not reach file://, gopher:// and the like. */
	cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
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
