/* Jobs, chunks and the scheduler. See sched.h. (Scaffolding: replaced by
 * the real scheduler.) */
#include <errno.h>
#include "base/mem.h"
#include "sched/sched.h"

static const store_migration sched_migrations[] = {
	{ 1, "CREATE TABLE jobs (id TEXT PRIMARY KEY);", NULL },
};
const store_domain sched_store_domain = { "sched", sched_migrations, 1, 0 };

struct sched {
	sched_config cfg;
};

int sched_new(store *st, hub *events, blob_store *blobs, node_reg *nodes,
	      const sched_config *cfg, sched **out)
{
	(void)st;
	(void)events;
	(void)blobs;
	(void)nodes;
	sched *s = xcalloc(1, sizeof *s);
	s->cfg = *cfg;
	*out = s;
	return 0;
}

void sched_free(sched **s)
{
	xfree(s);
}

size_t sched_routes(sched *s, http_route *out, size_t max)
{
	(void)s;
	(void)out;
	(void)max;
	return 0;
}

void sched_metrics(sched *s, buf *out)
{
	(void)s;
	(void)out;
}
