/* The HTTP client wrapper (libcurl) used by the CLI and, later, the node
 * agent. Response bodies are capped. */
#ifndef SN_HTTP_CLIENT_H
#define SN_HTTP_CLIENT_H
#include <stddef.h>
#include <jansson.h>

#define HC_BODY_MAX ((size_t)64 << 20)

typedef struct hc_opts {
	const char *token;  /* Bearer token, or NULL */
	long timeout_s;     /* whole request; 0: 60 s */
	int insecure;       /* accept any TLS certificate (self-signed test servers) */
} hc_opts;

typedef struct hc_resp {
	long status;
	char *body;   /* NUL-terminated */
	size_t len;
} hc_resp;

/* Sends method url with an optional JSON body (borrowed). On 0, *out holds
 * the response (any status); release it with hc_resp_release. On a
 * transport error returns -EIO with a one-line message in err. */
int hc_request(const char *method, const char *url, const json_t *body, const hc_opts *o,
	       hc_resp *out, char *err, size_t errlen);
void hc_resp_release(hc_resp *r);
#endif
