/* Internals of the alerts module shared by its files and its tests: rule
 * specs (alert_rule.c), the state machine and evaluator (alert.c), the
 * webhook queue (alert_hook.c) and the routes (alert_http.c). */
#ifndef SN_ALERT_INT_H
#define SN_ALERT_INT_H
#include <pthread.h>
#include <stdint.h>
#include <jansson.h>
#include "alert/alert.h"
#include "auth/auth.h"
#include "metrics/mx.h"

#define ALERT_NAME_MAX 128
#define ALERT_ID_MAX 32                       /* "al_" + 20 hex, with room */
#define ALERT_WINDOW_MIN_MS 1000              /* the query's finest step */
#define ALERT_DUR_MAX_MS (7 * 86400000LL)     /* window and for */
#define ALERT_DETECTOR_WINDOW_MS 60000        /* a detector rule's default window */
#define ALERT_RULES_PER_USER 200              /* a member's rules (admins: no cap) */
#define ALERT_RULES_MAX 10000                 /* in all: each costs a query per round */
#define ALERT_HOOK_URLS_MAX 16
#define ALERT_HOOK_URL_MAX 2048
#define ALERT_HOOK_QUEUE 1024                 /* deliveries waiting; then the oldest goes */
#define ALERT_HOOK_TRIES 5
#define ALERT_HOOK_TIMEOUT_S 5
#define ALERT_HOOK_BACKOFF_MS 1000            /* 1 s, 2 s, 4 s, 8 s between the tries */

enum alert_op { ALERT_GT, ALERT_GE, ALERT_LT, ALERT_LE, ALERT_EQ };
enum alert_state { ALERT_OK, ALERT_PENDING, ALERT_FIRING };
/* What a transition emits. */
enum alert_event { ALERT_EV_NONE, ALERT_EV_FIRING, ALERT_EV_RESOLVED };

/* A validated rule. A detector rule is the metric rule
 * max(anomaly.flag{detector=ID}) over the window > 0 (the detector writes
 * anomaly.flag 1/0 under the agent it watches), so the evaluator knows one
 * kind of rule. Every string is owned. */
typedef struct alert_spec {
	char *name;
	char *detector;  /* NULL: a metric rule */
	char *agent;     /* NULL: every agent the owner may read */
	char *metric;
	mx_tag *tags;    /* sorted by key; k and v owned */
	unsigned ntags;
	enum mx_agg agg;
	int64_t window_ms, for_ms;
	enum alert_op op;
	double threshold;
} alert_spec;

/* Validates a rule body (POST /api/v1/alerts, or the stored form that
 * alert_spec_json gives back): 0, or -EINVAL with a message naming the
 * field in err. out is released on error. */
int alert_spec_parse(const json_t *body, alert_spec *out, char *err, size_t errlen);
void alert_spec_release(alert_spec *s);
/* The stored (and shown) form: parses back to the same spec. NULL only
 * when jansson fails. */
json_t *alert_spec_json(const alert_spec *s);
const char *alert_op_name(enum alert_op op);
const char *alert_state_name(enum alert_state s);
/* "5m", "90s", "1500ms": the shortest exact form. out >= 24 bytes. */
void alert_dur_format(int64_t ms, char *out, size_t outlen);
/* 1 when value op threshold holds. */
int alert_holds(enum alert_op op, double value, double threshold);

/* The state machine, one step at now: holds is the condition's truth (0
 * when there was no value). *since is when the state began.
 *   OK      --holds, for = 0------------------------------> FIRING (emits firing)
 *   OK      --holds, for > 0------------------------------> PENDING
 *   PENDING --!holds--------------------------------------> OK
 *   PENDING --holds, now - since >= for--------------------> FIRING (emits firing)
 *   FIRING  --!holds--------------------------------------> OK (emits resolved)
 * A firing rule fires once; it resolves once. */
enum alert_event alert_step(enum alert_state *state, int64_t *since, int holds, int64_t for_ms,
			    int64_t now);

/* Where the evaluator reads samples and asks about visibility: the metrics
 * API in the server, a bare store in unit tests. */
typedef struct alert_source {
	mx_db *(*db)(void *ctx); /* NULL result: no store yet (the round is skipped) */
	int (*may_read)(void *ctx, const auth_user *u, const char *agent);
	void *ctx;
} alert_source;

/* alert_new with an explicit source; threads 0 starts neither thread
 * (tests drive alert_eval_round and the webhook queue by hand). */
int alert_open(store *st, hub *events, const alert_source *src, const alert_config *cfg,
	       int threads, alert_mgr **out);
/* Evaluates every rule once at now. 0, or the first store error (the
 * other rules were still evaluated). */
int alert_eval_round(alert_mgr *a, int64_t now_ms);
/* Creates a rule owned by u from a request body; id gets its id.
 * -EINVAL (err says why), -EDQUOT (too many rules: err says so) or a
 * store error. */
int alert_rule_create(alert_mgr *a, const auth_user *u, const json_t *body,
		      char id[ALERT_ID_MAX], char *err, size_t errlen);
/* Replaces rule id's spec with body's (validated as for create); the rule
 * keeps its id, owner and state. -EINVAL (err says why), -ENOENT, or a
 * store error. */
int alert_rule_replace(alert_mgr *a, const auth_user *u, const char *id, const json_t *body,
		       char *err, size_t errlen);
/* -ENOENT when the rule does not exist or u may not see it. */
int alert_rule_delete(alert_mgr *a, const auth_user *u, const char *id);
/* The rule as the API shows it (u must see it): 0, -ENOENT, store error. */
int alert_rule_get(alert_mgr *a, const auth_user *u, const char *id, json_t **out);

/* ---- webhooks (alert_hook.c) ---- */

/* Deliveries of events to webhook URLs: a bounded queue and one sender
 * thread. Contract: alert_hooks_push never blocks on the network (it takes
 * one mutex held only for queue updates); when the queue is full the
 * oldest delivery is dropped, counted and logged. A delivery that fails
 * (transport error or a non-2xx status) is tried again after backoff_ms,
 * 2 x, 4 x ... up to ALERT_HOOK_TRIES tries, without holding back the
 * deliveries behind it. */
typedef struct alert_hooks alert_hooks;
/* POSTs body (len bytes of JSON) to url: 0 on a 2xx, else nonzero. */
typedef int (*alert_send_fn)(void *ctx, const char *url, const char *body, size_t len);

typedef struct alert_hooks_stats {
	uint64_t queued, delivered, failed, dropped, retries;
} alert_hooks_stats;

/* cap: queue capacity (0: ALERT_HOOK_QUEUE); backoff_ms (0:
 * ALERT_HOOK_BACKOFF_MS); send NULL: HTTP POST through http/client.h.
 * thread 0: no sender thread (alert_hooks_run_due sends by hand). */
int alert_hooks_new(size_t cap, int64_t backoff_ms, alert_send_fn send, void *send_ctx,
		    int thread, alert_hooks **out);
/* Stops the sender; what is still queued is dropped and logged. */
void alert_hooks_free(alert_hooks **h);
/* Replaces the URL list (copied); deliveries already queued keep theirs. */
void alert_hooks_set_urls(alert_hooks *h, const char *const *urls, size_t n);
/* Queues body for every current URL. */
void alert_hooks_push(alert_hooks *h, const char *body);
/* Sends every delivery due at now_ms (monotonic ms), on the caller's
 * thread; returns how many were attempted. For tests without the thread. */
int alert_hooks_run_due(alert_hooks *h, int64_t now_ms);
void alert_hooks_stats_get(alert_hooks *h, alert_hooks_stats *out);
/* Validates a webhook URL list from a request ({"urls":[…]}): 0, or
 * -EINVAL with err naming the entry. */
int alert_hooks_check(const json_t *urls, char *err, size_t errlen);

/* The routes (alert_http.c). */
size_t alert_http_routes(alert_mgr *a, http_route *out, size_t max);
/* Settings and stats for alert_http.c. */
json_t *alert_webhooks_json(alert_mgr *a);
int alert_webhooks_set(alert_mgr *a, const json_t *urls);
store *alert_store(alert_mgr *a);
/* Live fields of a rule (state, since, value, evaluated_at) into o. */
void alert_rule_live(alert_mgr *a, const char *id, json_t *o);
#endif
