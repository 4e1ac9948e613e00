#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "base/buf.h"
#include "base/mem.h"
#include "http/client.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
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
	CURL *c = curl_easy_init();
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
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (o && o->token) {
		auth = xasprintf("Authorization: Bearer %s", o->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (body) {
		data = json_dumps(body, JSON_COMPACT);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(data));
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, o && o->timeout_s ? o->timeout_s : 60L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (o && o->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	CURLcode cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	out->body = buf_detach(&b, &out->len);
out:
	buf_release(&b);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
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
