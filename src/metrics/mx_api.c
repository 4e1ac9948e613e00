/* SCAFFOLDING: replaced by the metrics API's owner. */
#include <errno.h>
#include "base/mem.h"
#include "metrics/mx_api.h"

static const store_migration migs[] = { { 1, "CREATE TABLE mx_scaffold (x BIGINT)", NULL } };
const store_domain mx_store_domain = { "agents", migs, 1, 0 };

struct mx_api {
	int unused;
};

int mx_api_new(store *st, hub *events, node_reg *nodes, const mx_api_config *cfg,
	       mx_api **out, char *err, size_t errlen)
{
	(void)st, (void)events, (void)nodes, (void)cfg, (void)err, (void)errlen;
	*out = xcalloc(1, sizeof **out);
	return 0;
}

void mx_api_free(mx_api **a)
{
	free(*a);
	*a = NULL;
}

size_t mx_api_routes(mx_api *a, http_route *out, size_t max)
{
	(void)a, (void)out, (void)max;
	return 0;
}

mx_db *mx_api_db(mx_api *a)
{
	(void)a;
	return NULL;
}

int mx_api_may_read(mx_api *a, const auth_user *u, const char *agent)
{
	(void)a, (void)agent;
	return u == NULL;
}

int mx_api_push(mx_api *a, const auth_user *u, const mx_batch *b, char *err, size_t errlen)
{
	(void)a, (void)u, (void)b, (void)err, (void)errlen;
	return -ENOSYS;
}
