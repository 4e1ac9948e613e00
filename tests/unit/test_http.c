/* Route matching and the JSON error envelope. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "http/http_int.h"

static int m(const char *pattern, const char *path, int *n, char **names, char **vals)
{
	return http_match(pattern, path, names, vals, n);
}

static void free_all(char **names, char **vals, int n)
{
	for (int i = 0; i < n; i++) {
		free(names[i]);
		free(vals[i]);
	}
}

static void test_static(void **state)
{
	(void)state;
	char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
	int n;
	assert_true(m("/api/v1/health", "/api/v1/health", &n, names, vals));
	assert_int_equal(n, 0);
	assert_true(m("/api/v1/health", "/api/v1/health/", &n, names, vals));
	assert_false(m("/api/v1/health", "/api/v1/healthz", &n, names, vals));
	assert_false(m("/api/v1/health", "/api/v1", &n, names, vals));
	assert_false(m("/api/v1/health", "/api/v1/health/x", &n, names, vals));
	assert_false(m("/api/v1/health", "api/v1/health", &n, names, vals));
	assert_false(m("/api/v1/health", "", &n, names, vals));
}

static void test_params(void **state)
{
	(void)state;
	char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
	int n;
	assert_true(m("/api/v1/groups/{id}/members/{user}", "/api/v1/groups/ml/members/bob", &n,
		      names, vals));
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "id");
	assert_string_equal(vals[0], "ml");
	assert_string_equal(names[1], "user");
	assert_string_equal(vals[1], "bob");
	free_all(names, vals, n);
	/* A parameter takes exactly one non-empty segment. */
	assert_false(m("/api/v1/users/{id}", "/api/v1/users/", &n, names, vals));
	assert_int_equal(n, 0);
	assert_false(m("/api/v1/users/{id}", "/api/v1/users//x", &n, names, vals));
	assert_false(m("/api/v1/users/{id}", "/api/v1/users/a/b", &n, names, vals));
	assert_false(m("/api/v1/groups/{id}/members/{user}", "/api/v1/groups/ml/members", &n, names,
		       vals));
	assert_int_equal(n, 0);
}

static void test_error_envelope(void **state)
{
	(void)state;
	json_t *e = http_error_json("not_found", "no route for GET /x", "abc");
	json_t *inner = json_object_get(e, "error");
	assert_non_null(inner);
	assert_string_equal(json_string_value(json_object_get(inner, "code")), "not_found");
	assert_string_equal(json_string_value(json_object_get(inner, "message")), "no route for GET /x");
	assert_string_equal(json_string_value(json_object_get(inner, "request_id")), "abc");
	assert_int_equal(json_object_size(e), 1);
	char *s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(s, "{\"error\":{\"code\":\"not_found\",\"message\":\"no route for GET /x\","
			       "\"request_id\":\"abc\"}}");
	free(s);
	json_decref(e);
	e = http_error_json("bad_json", "line \"1\"", NULL);
	assert_null(json_object_get(json_object_get(e, "error"), "request_id"));
	json_decref(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_error_envelope),
	};
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
