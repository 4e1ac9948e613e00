/* libFuzzer target: what a client controls in a request line and query:
 * the path against the route patterns, and time, size and duration values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "base/util.h"
#include "http/http_int.h"

static const char *const patterns[] = {
	"/api/v1/health", "/api/v1/users/{id}", "/api/v1/groups/{id}/members/{user}",
	"/api/v1/a/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}/{j}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	char *names[HTTP_MAX_PARAMS], *vals[HTTP_MAX_PARAMS];
	int n;
	for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
		if (http_match(patterns[i], s, names, vals, &n))
			for (int k = 0; k < n; k++) {
				free(names[k]);
				free(vals[k]);
			}
	int64_t ms;
	uint64_t sz;
	sn_time_parse(s, &ms);
	sn_parse_size(s, &sz);
	sn_parse_duration_ms(s, &ms);
	free(s);
	return 0;
}
