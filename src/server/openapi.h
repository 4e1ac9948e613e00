/* The REST API's description: docs/openapi.json (OpenAPI 3.1), embedded in
 * the binary at build time and served at GET /api/v1/openapi.json.
 *
 * At start the server checks the description against its live route table
 * (method and pattern): it logs one warning per route the document lacks
 * and per documented operation no route answers (a documented `head` is
 * answered by the GET route of its path, as the HTTP layer does). The test
 * t702 asserts that no such line is logged, so the two cannot drift.
 *
 * SENTINEL_OPENAPI_DOC=FILE (for tests) reads the document from FILE
 * instead of the embedded copy, for the check and for the reply. */
#ifndef SN_OPENAPI_H
#define SN_OPENAPI_H
#include <stddef.h>

struct http_route;

/* Appends GET /api/v1/openapi.json to routes (which holds n routes and
 * has room for max), then checks the whole table against the document.
 * Returns how many routes it added (0 or 1). The document's bytes live
 * for the process (the routes only point at them). */
size_t openapi_routes(struct http_route *routes, size_t n, size_t max);

/* The check alone: logs each difference between routes[0..n) and the
 * document doc (the JSON text, len bytes); returns their count, or -1 when
 * doc is not an OpenAPI object with "paths". */
int openapi_check(const struct http_route *routes, size_t n, const char *doc, size_t len);
#endif
