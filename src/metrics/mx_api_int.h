/* Internals of the metrics API, shared by its files: the api's state, the
 * agent registry (mx_agents.c), the price table (mx_price.c), the routes
 * (mx_http*.c) and the helpers they share. */
#ifndef SN_MX_API_INT_H
#define SN_MX_API_INT_H
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include "auth/share.h"
#include "metrics/mx_api.h"

#define MX_BODY_MAX ((size_t)16 << 20) /* an ingest request's body */
#define MX_GROUPS_MAX 256                /* groups of one user taken into account */
#define MX_MODEL_MAX 256                 /* bytes of a model name (prices) */
#define MX_SEEN_SAVE_MS 10000            /* last_seen reaches the store at most this often */

/* ---- the agent registry (mx_agents.c) ------------------------------- */

typedef struct mx_agents mx_agents;

/* The access rule is auth/share.h's; these are its levels. */
enum mx_access {
	MX_NONE = SHARE_NONE,
	MX_READ = SHARE_READ,
	MX_WRITE = SHARE_WRITE,
	MX_OWNER = SHARE_OWNER
};

/* Who is asking, with their groups fetched at most once (lazily, and only
 * when an agent they do not own is shared with groups). u NULL is the
 * server itself: it may do everything. */
typedef struct mx_viewer {
	const auth_user *u;
	int loaded;
	size_t ngroups;
	char groups[MX_GROUPS_MAX][SHARE_GROUP_ID];
} mx_viewer;

/* An agent as a route shows it: copies. */
typedef struct mx_agent_info {
	char name[MX_NAME_MAX + 1];
	char owner[48]; /* user id; "" when the server owns it */
	int public_;
	int64_t first_seen, last_seen;
	size_t nshares;
	share_grant shares[SHARE_MAX];
} mx_agent_info;

/* Loads every agent from the store into memory. */
int mx_agents_new(store *st, mx_agents **out);
/* Writes the pending last_seen times, then frees. */
void mx_agents_free(mx_agents **ag);
/* The caller's access to name: MX_NONE also for an unknown agent. */
enum mx_access mx_agents_access(mx_agents *ag, mx_viewer *v, const char *name);
/* Checks that u may write to every agent of b, registering the unknown
 * ones as u's (u NULL: owned by the server). An agent registered here
 * stays registered when the append that follows fails (taking it back
 * could race a concurrent push that stored samples under it). 0, -EACCES
 * (err names the agent), or a store error. */
int mx_agents_claim(mx_agents *ag, const auth_user *u, const mx_batch *b, char *err,
		    size_t errlen);
/* Records that b's agents were heard from at now_ms (memory only). */
void mx_agents_seen(mx_agents *ag, const mx_batch *b, int64_t now_ms);
/* Writes last_seen of the agents heard from since the last call. */
int mx_agents_save_seen(mx_agents *ag);
/* The agent, if v may read it: 0, or -ENOENT (missing or invisible). */
int mx_agents_get(mx_agents *ag, mx_viewer *v, const char *name, mx_agent_info *out,
		  enum mx_access *access);
/* The names of every agent v may read after cursor (NULL: from the
 * start), in order: *out (caller frees; NULL when *n is 0). */
int mx_agents_list(mx_agents *ag, mx_viewer *v, const char *cursor, char (**out)[MX_NAME_MAX + 1],
		   size_t *n);
/* Sets public (when >= 0) and, with set_shares, the shares (SHARE_MAX at
 * most, group ids) in the store, then in memory. */
int mx_agents_update(mx_agents *ag, const char *name, int public_, const share_grant *shares,
		     size_t nshares, int set_shares);
/* Forgets the agent (store and memory); its samples stay. */
int mx_agents_delete(mx_agents *ag, const char *name);

/* ---- prices (mx_price.c) -------------------------------------------- */

typedef struct mx_prices mx_prices;
int mx_prices_new(store *st, mx_prices **out);
void mx_prices_free(mx_prices **p);
/* The mx_price_fn of the parsers (ctx: the mx_prices). */
int mx_price_at(void *ctx, const char *model, int64_t ts_ms, double *in_per_mtok,
		double *out_per_mtok);
size_t mx_price_routes(mx_api *a, http_route *out, size_t max);

/* ---- the api -------------------------------------------------------- */

struct mx_api {
	store *st;
	hub *events;
	node_reg *nodes;
	mx_api_config cfg;
	mx_db *db;
	mx_agents *agents;
	mx_prices *prices;
	char *dir;                   /* DATA/metrics, for the free-disk reserve */
	_Atomic int64_t room_at;     /* when room was last read (ms; 0: never) */
	_Atomic uint64_t room;       /* bytes free there, read at most once a second */
	/* The housekeeping thread: retention hourly, last_seen every 10 s. */
	pthread_t thread;
	int thread_on;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	/* Node id → node name (nodes push as their name). */
	pthread_mutex_t nodes_mu;
	struct mx_node_name { char id[32]; char name[MX_NAME_MAX + 1]; int64_t at; } *node_names;
	size_t nnode_names;
};

/* Replies to a failed push or parse: 400 (err), 403 (err), 413, 429
 * too_many_series, or what http_reply_errno says. */
void mx_reply_push_error(http_req *r, int rc, const char *err);
/* A viewer for the request's caller. */
void mx_viewer_init(mx_viewer *v, const auth_user *u);

size_t mx_ingest_routes(mx_api *a, http_route *out, size_t max);
size_t mx_query_routes(mx_api *a, http_route *out, size_t max);
size_t mx_agent_routes(mx_api *a, http_route *out, size_t max);

/* ---- query parameters and answers (mx_http_query.c) ------------------ */

#define MX_QS_MAX 64     /* query parameters of one request */
#define MX_QS_BYTES 8192 /* bytes of the query string */

/* The decoded query string of a request. */
typedef struct mx_qs {
	char *buf;
	size_t n;
	const char *k[MX_QS_MAX], *v[MX_QS_MAX];
} mx_qs;
/* 0, or replies 400 and returns -EINVAL. */
int mx_qs_parse(http_req *r, mx_qs *q);
const char *mx_qs_get(const mx_qs *q, const char *name);
void mx_qs_release(mx_qs *q);

/* A selection from the query: metric, agent, tag.K=V, from, to. */
typedef struct mx_sel {
	mx_qs qs;
	const char *metric, *agent;
	mx_tag tags[MX_TAGS_MAX];
	unsigned ntags;
	int64_t from, to;
	struct mx_sel_vis { mx_api *a; mx_viewer v; } vis;
} mx_sel;
/* Zero p first. 0, or replies 400 and returns -EINVAL. */
int mx_sel_parse(http_req *r, mx_sel *p, int need_metric);
/* The store filter of p for u (visibility included); f borrows from p. */
void mx_sel_filter(mx_sel *p, mx_api *a, const auth_user *u, mx_filter *f);
void mx_sel_release(mx_sel *p);

/* JSON text by hand: a string (escaped), a tag object, a double (the
 * shortest text that reads back as the same double; null when not
 * finite). */
void mx_json_str(buf *b, const char *s);
void mx_json_tags(buf *b, const mx_tag *t, unsigned n);
void mx_fmt_double(double v, char out[32]);

/* GET /api/v1/metrics/export (mx_http_export.c) and
 * GET /api/v1/agents/{agent}/summary (mx_http_summary.c). */
void mx_h_export(http_req *r, void *ctx);
void mx_h_summary(http_req *r, void *ctx);
#endif
