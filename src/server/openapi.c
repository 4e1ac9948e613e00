/* GET /api/v1/openapi.json and the start-up check of docs/openapi.json
 * against the live route table (see openapi.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/http.h"
#include "server/openapi.h"

/* build/gen/openapi_json.c (the Makefile writes it from docs/openapi.json). */
extern const unsigned char openapi_json[];
extern const size_t openapi_json_len;

#define DOC_MAX (16u << 20)

/* The document served and checked: read once, kept for the process. */
static struct {
	const char *data;
	size_t len;
	char etag[68];
} doc;

static void h_openapi(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_header(r, "ETag", doc.etag);
	http_reply_header(r, "Cache-Control", "no-cache");
	const char *inm = http_req_header(r, "If-None-Match");
	if (inm && strcmp(inm, doc.etag) == 0) {
		http_reply_data(r, 304, "application/json", xstrdup(""), 0);
		return;
	}
	char *copy = xmalloc(doc.len + 1);
	memcpy(copy, doc.data, doc.len);
	http_reply_data(r, 200, "application/json", copy, doc.len);
}

static const char *const methods[] = { "get", "put", "post", "delete", "options", "head", "patch", "trace" };

/* The route of method (upper case) and pattern, or NULL. */
static const http_route *find_route(const http_route *routes, size_t n, const char *method,
				    const char *pattern)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(routes[i].method, method) == 0 && strcmp(routes[i].pattern, pattern) == 0)
			return &routes[i];
	return NULL;
}

int openapi_check(const http_route *routes, size_t n, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	json_t *paths = json_object_get(root, "paths");
	if (!json_is_object(paths)) {
		log_error("openapi: the API description is not an OpenAPI document with paths (%s, line %d)",
			  root ? "no \"paths\" object" : jerr.text, jerr.line);
		json_decref(root);
		return -1;
	}
	int missing = 0;
	for (size_t i = 0; i < n; i++) {
		char lower[16];
		size_t k = 0;
		for (; routes[i].method[k] && k < sizeof lower - 1; k++)
			lower[k] = (char)tolower((unsigned char)routes[i].method[k]);
		lower[k] = 0;
		if (!json_is_object(json_object_get(json_object_get(paths, routes[i].pattern), lower))) {
			log_warn("openapi: route %s %s is missing from the API description", routes[i].method,
				 routes[i].pattern);
			missing++;
		}
	}
	const char *path;
	json_t *item;
	json_object_foreach(paths, path, item) {
		for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
			if (!json_object_get(item, methods[m]))
				continue;
			char upper[16];
			size_t k = 0;
			for (; methods[m][k]; k++)
				upper[k] = (char)toupper((unsigned char)methods[m][k]);
			upper[k] = 0;
			/* HEAD is answered by the GET route of the path. */
			if (find_route(routes, n, upper, path) ||
			    (strcmp(upper, "HEAD") == 0 && find_route(routes, n, "GET", path)))
				continue;
			log_warn("openapi: documented %s %s has no route", upper, path);
			missing++;
		}
	}
	json_decref(root);
	return missing;
}

size_t openapi_routes(http_route *routes, size_t n, size_t max)
{
	if (!doc.data) {
		const char *file = getenv("SENTINEL_OPENAPI_DOC");
		char *data = NULL;
		size_t len = 0;
		int rc = file && *file ? sn_read_file(file, DOC_MAX, &data, &len) : 1;
		if (rc < 0)
			log_error("openapi: cannot read %s (SENTINEL_OPENAPI_DOC): %s; serving the built-in one",
				  file, strerror(-rc));
		if (rc == 0) {
			doc.data = data;
			doc.len = len;
		} else {
			doc.data = (const char *)openapi_json;
			doc.len = openapi_json_len;
		}
		char sha[65];
		sn_sha256_hex(doc.data, doc.len, sha);
		snprintf(doc.etag, sizeof doc.etag, "\"%.64s\"", sha);
	}
	size_t added = 0;
	if (n < max) {
		routes[n] = (http_route){ "GET", "/api/v1/openapi.json", h_openapi, HTTP_PUBLIC, 0, NULL, 0, NULL };
		added = 1;
	}
	int diff = openapi_check(routes, n + added, doc.data, doc.len);
	if (diff == 0)
		log_info("openapi: the API description matches the %zu routes", n + added);
	else if (diff > 0)
		log_warn("openapi: the API description differs from the routes in %d place(s)", diff);
	return added;
}
