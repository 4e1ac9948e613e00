/* Internals of the HTTP layer, visible to its unit tests. */
#ifndef SN_HTTP_INT_H
#define SN_HTTP_INT_H
#include <jansson.h>

#define HTTP_MAX_PARAMS 8

/* Matches path against pattern segment by segment; "{name}" takes one
 * non-empty segment; a trailing slash on path is ignored. On a match returns
 * 1 and fills names/vals (n of them, newly allocated, caller frees);
 * otherwise returns 0 and allocates nothing. */
int http_match(const char *pattern, const char *path, char **names, char **vals, int *n);
/* The error envelope {"error":{"code","message","request_id"}}. */
json_t *http_error_json(const char *code, const char *message, const char *request_id);
#endif
