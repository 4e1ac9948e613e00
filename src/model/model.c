/* SCAFFOLDING: replaced by the model registry's owner. */
#include "base/mem.h"
#include "model/model.h"

static const store_migration migs[] = { { 1, "CREATE TABLE model_scaffold (x BIGINT)", NULL } };
const store_domain model_store_domain = { "model", migs, 1, 0 };

struct model_api {
	int unused;
};

int model_api_new(store *st, hub *events, blob_store *blobs, blob_api *bapi, mx_api *mx,
		  sched *sc, model_api **out)
{
	(void)st, (void)events, (void)blobs, (void)bapi, (void)mx, (void)sc;
	*out = xcalloc(1, sizeof **out);
	return 0;
}

void model_api_free(model_api **m)
{
	free(*m);
	*m = NULL;
}

size_t model_routes(model_api *m, http_route *out, size_t max)
{
	(void)m, (void)out, (void)max;
	return 0;
}
