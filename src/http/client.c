#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include "base/buf.h"
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
static int cu_ok;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	*(void **)&cu.global_init = dlsym(h, "curl_global_init");
	*(void **)&cu.easy_init = dlsym(h, "curl_easy_init");
	*(void **)&cu.easy_setopt = dlsym(h, "curl_easy_setopt");
	*(void **)&cu.easy_perform = dlsym(h, "curl_easy_perform");
	*(void **)&cu.easy_getinfo = dlsym(h, "curl_easy_getinfo");
	*(void **)&cu.easy_cleanup = dlsym(h, "curl_easy_cleanup");
	*(void **)&cu.easy_strerror = dlsym(h, "curl_easy_strerror");
	*(void **)&cu.slist_append = dlsym(h, "curl_slist_append");
	*(void **)&cu.slist_free_all = dlsym(h, "curl_slist_free_all");
	void **all = (void **)&cu;
	for (size_t i = 0; i < sizeof cu / sizeof(void *); i++)
		if (!all[i])
			return;
	cu.global_init(CURL_GLOBAL_DEFAULT);
	cu_ok = 1;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	buf *b = ud;
	return buf_append(b, p, size * n) ? 0 : size * n;
}

int hc_request(const char *method, const char *url, const json_t *body, const hc_opts *o,
	       hc_resp *out, char *err, size_t errlen)
{
	pthread_once(&once, global_init);
	if (!cu_ok) {
		snprintf(err, errlen, "cannot load libcurl.so.4 (Debian package libcurl4): %s",
			 dlerror() ? dlerror() : "a symbol is missing");
		return -ENOSYS;
	}
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
	cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cu.easy_setopt(c, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 60L);
	cu.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
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
