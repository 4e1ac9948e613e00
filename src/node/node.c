/* The node registry. See node.h. (Scaffolding: replaced by the real
 * registry; it answers that no node exists.) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "base/util.h"
#include "node/node.h"

static const store_migration node_migrations[] = {
	{ 1, "CREATE TABLE nodes (id TEXT PRIMARY KEY, pubkey TEXT NOT NULL UNIQUE);", NULL },
};
const store_domain node_store_domain = { "node", node_migrations, 1, 0 };

struct node_reg {
	node_config cfg;
	node_listener l;
};

int node_reg_new(store *st, hub *events, const node_config *cfg, node_reg **out)
{
	(void)st;
	(void)events;
	node_reg *r = xcalloc(1, sizeof *r);
	r->cfg = *cfg;
	*out = r;
	return 0;
}

void node_reg_free(node_reg **r)
{
	xfree(r);
}

void node_reg_listen(node_reg *r, const node_listener *l)
{
	r->l = *l;
}

size_t node_routes(node_reg *r, http_route *out, size_t max)
{
	(void)r;
	(void)out;
	(void)max;
	return 0;
}

int node_auth_hook(node_reg *r, http_req *req, const http_route *route)
{
	(void)r;
	(void)route;
	http_reply_error(req, 401, "unknown_node", "unknown node key");
	return -EACCES;
}

const node_caller *node_caller_of(const http_req *req)
{
	(void)req;
	return NULL;
}

int node_body_ok(http_req *req)
{
	http_reply_error(req, 400, "bad_body_hash", "the body does not match its signed hash");
	return 0;
}

int node_online(const node_reg *r, int64_t last, int64_t now)
{
	return now - last <= r->cfg.node_timeout_ms;
}

int64_t node_now_ms(const node_reg *r)
{
	(void)r;
	return sn_now_ms();
}

int node_snapshot(node_reg *r, node_info **out, size_t *n)
{
	(void)r;
	*out = NULL;
	*n = 0;
	return 0;
}

void node_snapshot_free(node_info **v, size_t n)
{
	(void)n;
	xfree(v);
}

int node_may_use(const node_info *n, const char *user_id, char *const *groups, size_t ngroups)
{
	(void)groups;
	(void)ngroups;
	return n->public_use || strcmp(n->owner, user_id) == 0;
}
