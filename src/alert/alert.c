/* Alert rules, their evaluation, and their events (docs/metrics.md,
 * "Alerts").
 *
 * Every --alert-interval the evaluator thread (eval_main) runs
 * alert_eval_round: for each rule, one mx_db_query over the sliding window
 * [now - window, now) as a single bucket, over the agents the rule's owner
 * may read now (mx_api_may_read, with the owner's current role), then one
 * step of the state machine (alert_step, alert_int.h). A step that fires
 * or resolves records an event in alert_events, publishes it on the hub
 * topic "alert" (owner: the rule's owner) and queues it for the webhooks
 * (alert_hook.c), in that order.
 *
 * Invariants:
 *  1. a->rules holds exactly the rules of alert_rules, each with refs >= 1
 *     for the list; the evaluator holds one more ref on each rule of its
 *     round, so a rule deleted mid-round is freed by whoever drops the last
 *     ref, never under the evaluator.
 *  2. A rule's spec is immutable once made; its live fields (state, since,
 *     value, evaluated_at) change only under a->mu.
 *  3. The stored state (alert_rules.state, state_since) follows the live
 *     one on every transition, so a restart neither fires a firing rule
 *     again nor forgets how long a pending one has held. An event row is
 *     written only while its rule exists (INSERT ... WHERE EXISTS), so
 *     deleting a rule mid-round leaves no orphan events.
 *  4. Evaluation never waits on the network: webhooks are only queued. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "alert/alert_int.h"

/* The bucket step of a rule's query. mx_db_query's buckets start at
 * multiples of the step since the epoch, so a step of one window would cut
 * the sliding window [now - window, now) in two at most instants; a step of
 * 100 years keeps it in one bucket until 2069 (and is a multiple of every
 * rollup step, 1 s to 1 d). rate is computed here as sum / window, since the
 * store's rate divides by the step. */
#define ALERT_STEP_MS (100LL * 365 * 86400000)
#define ALERT_EVENTS_RETENTION_MS (90LL * 86400000)

static const store_migration migs[] = {
	{ 1,
	  "CREATE TABLE alert_rules ("
	  " id TEXT PRIMARY KEY,"
	  " owner_id TEXT NOT NULL,"
	  " name TEXT NOT NULL,"
	  " spec TEXT NOT NULL,"
	  " state TEXT NOT NULL CHECK (state IN ('ok','pending','firing')),"
	  " state_since BIGINT NOT NULL,"
	  " created_at BIGINT NOT NULL);"
	  "CREATE INDEX alert_rules_owner ON alert_rules (owner_id, created_at);"
	  "CREATE TABLE alert_events ("
	  " id TEXT PRIMARY KEY,"
	  " rule_id TEXT NOT NULL,"
	  " owner_id TEXT NOT NULL,"
	  " state TEXT NOT NULL CHECK (state IN ('firing','resolved')),"
	  " value DOUBLE PRECISION,"
	  " ts BIGINT NOT NULL,"
	  " body TEXT NOT NULL);"
	  "CREATE INDEX alert_events_rule ON alert_events (rule_id, ts);"
	  "CREATE INDEX alert_events_owner ON alert_events (owner_id, ts);"
	  "CREATE INDEX alert_events_ts ON alert_events (ts);"
	  "CREATE TABLE alert_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);",
	  NULL, NULL },
};
const store_domain alert_store_domain = { "alert", migs, 1, 0 };

struct rule {
	int refs;
	int deleted;
	char id[ALERT_ID_MAX];
	char owner[48];
	alert_spec spec;
	enum alert_state state;
	int64_t since;
	int have_value;
	double value;
	int64_t evaluated_at;
};

/* An owner as the evaluator sees it this round. */
struct owner {
	auth_user u;
	int disabled;
};

struct alert_mgr {
	store *st;
	hub *events;
	alert_source src;
	alert_config cfg;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rule **rules;
	size_t nrules, cap;
	char **urls; /* the webhook setting, under mu */
	size_t nurls;
	int stopping, has_thread;
	pthread_t thread;
	alert_hooks *hooks;
	uint64_t query_errors;
	int64_t error_logged_ms, pruned_ms;
};

static void rule_unref(alert_mgr *a, struct rule *r)
{
	pthread_mutex_lock(&a->mu);
	int last = --r->refs == 0;
	pthread_mutex_unlock(&a->mu);
	if (last) {
		alert_spec_release(&r->spec);
		free(r);
	}
}

/* Under a->mu. */
static struct rule *rule_find(alert_mgr *a, const char *id)
{
	for (size_t i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i]->id, id) == 0)
			return a->rules[i];
	return NULL;
}

static void rule_add(alert_mgr *a, struct rule *r)
{
	pthread_mutex_lock(&a->mu);
	if (a->nrules == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->rules = xrealloc(a->rules, a->cap * sizeof *a->rules);
	}
	r->refs = 1;
	a->rules[a->nrules++] = r;
	pthread_mutex_unlock(&a->mu);
}

static int state_parse(const char *s, enum alert_state *out)
{
	for (int i = ALERT_OK; i <= ALERT_FIRING; i++)
		if (strcmp(s, alert_state_name((enum alert_state)i)) == 0) {
			*out = (enum alert_state)i;
			return 0;
		}
	return -EINVAL;
}

/* A stored rule back into memory; a row that does not parse (it was
 * checked when stored, so only a hand edit) is logged and left out. */
static void rule_load(alert_mgr *a, store_rows *rows)
{
	struct rule *r = xcalloc(1, sizeof *r);
	char err[256];
	json_t *spec = json_loads(store_rows_text(rows, 2), 0, NULL);
	sn_strlcpy(r->id, store_rows_text(rows, 0), sizeof r->id);
	sn_strlcpy(r->owner, store_rows_text(rows, 1), sizeof r->owner);
	r->since = store_rows_int(rows, 4);
	if (!spec || alert_spec_parse(spec, &r->spec, err, sizeof err) ||
	    state_parse(store_rows_text(rows, 3), &r->state)) {
		log_error("alerts: rule %s is unreadable and left out: %s", r->id,
			  spec ? err : "bad JSON");
		free(r);
	} else {
		rule_add(a, r);
	}
	json_decref(spec);
}

static int load(alert_mgr *a)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT id, owner_id, spec, state, state_since FROM alert_rules"
				 " ORDER BY created_at, id", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		rule_load(a, rows);
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT value FROM alert_settings WHERE name = 'webhooks'", &rows,
				 SNOARGS);
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		json_t *urls = json_loads(store_rows_text(rows, 0), 0, NULL);
		rc = 0;
		store_rows_free(&rows);
		if (!urls || alert_webhooks_set(a, urls))
			log_error("alerts: the stored webhook setting is unreadable; none in use");
		json_decref(urls);
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

/* ---- evaluation ---- */

struct vis {
	alert_mgr *a;
	const auth_user *u;
};

static int agent_ok(void *ctx, const char *agent)
{
	struct vis *v = ctx;
	return v->a->src.may_read(v->a->src.ctx, v->u, agent);
}

struct acc {
	double v;
	int have;
};

/* Every series is merged into one (by = no keys), so one result with at
 * most one point arrives. */
static int on_result(void *ctx, const mx_result *r)
{
	struct acc *acc = ctx;
	if (r->n) {
		acc->v = r->pts[r->n - 1].v;
		acc->have = 1;
	}
	return 0;
}

/* The rule's value at now; *have 0 when the window held no sample (then
 * count, sum and rate are 0, and the other aggregates have no value). */
static int rule_value(alert_mgr *a, mx_db *db, const struct rule *r, const auth_user *owner,
		      int64_t now, double *v, int *have)
{
	static const char *const no_keys[1] = { NULL };
	const alert_spec *s = &r->spec;
	struct vis vis = { a, owner };
	mx_filter f = { s->metric, s->agent, s->tags, s->ntags, now - s->window_ms, now,
			agent_ok, &vis };
	struct acc acc = { 0, 0 };
	int rc = mx_db_query(db, &f, ALERT_STEP_MS, s->agg == MX_RATE ? MX_SUM : s->agg, no_keys, 0,
			     on_result, &acc);
	if (rc)
		return rc;
	if (!acc.have && (s->agg == MX_COUNT || s->agg == MX_SUM || s->agg == MX_RATE))
		acc.have = 1;
	if (s->agg == MX_RATE)
		acc.v /= (double)s->window_ms / 1000.0;
	*v = acc.v;
	*have = acc.have;
	return 0;
}

static json_t *event_json(const struct rule *r, const struct owner *o, const char *eid,
			  enum alert_event ev, double v, int have, int64_t now)
{
	char window[24];
	alert_dur_format(r->spec.window_ms, window, sizeof window);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:f,s:s,s:s?,s:s,s:s?,s:o}", "id", eid,
			 "rule_id", r->id, "name", r->spec.name, "owner_id", r->owner, "owner",
			 o->u.username, "state", ev == ALERT_EV_FIRING ? "firing" : "resolved",
			 "value", have ? json_real(v) : json_null(), "op", alert_op_name(r->spec.op),
			 "threshold", r->spec.threshold, "agg", mx_agg_name(r->spec.agg), "agent",
			 r->spec.agent, "metric", r->spec.metric, "detector", r->spec.detector,
			 "ts", http_json_time(now));
}

/* The state change in the store, with its event row (invariant 3). */
static int persist(alert_mgr *a, const struct rule *r, enum alert_state state, int64_t since,
		   const char *eid, enum alert_event ev, double v, int have, const char *body)
{
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE alert_rules SET state = $2, state_since = $3 WHERE id = $1",
				NULL, SARGS(SA_TEXT(r->id), SA_TEXT(alert_state_name(state)),
					    SA_INT(since)));
	if (rc == 0 && ev != ALERT_EV_NONE)
		rc = store_exec(c, "INSERT INTO alert_events (id, rule_id, owner_id, state, value, ts,"
				" body) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE EXISTS"
				" (SELECT 1 FROM alert_rules WHERE id = $2)", NULL,
				SARGS(SA_TEXT(eid), SA_TEXT(r->id), SA_TEXT(r->owner),
				      SA_TEXT(ev == ALERT_EV_FIRING ? "firing" : "resolved"),
				      have ? SA_DBL(v) : SA_NULL, SA_INT(since), SA_TEXT(body)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	return rc;
}

static void eval_rule(alert_mgr *a, mx_db *db, struct rule *r, const struct owner *o, int64_t now,
		      int *first_rc)
{
	double v = 0;
	int have = 0;
	int rc = rule_value(a, db, r, &o->u, now, &v, &have);
	if (rc) {
		pthread_mutex_lock(&a->mu);
		a->query_errors++;
		int log = now - a->error_logged_ms >= 60000;
		if (log)
			a->error_logged_ms = now;
		pthread_mutex_unlock(&a->mu);
		if (log)
			log_warn("alerts: rule %s: the query failed (%s); its state is kept", r->id,
				 strerror(rc < 0 ? -rc : rc));
		return;
	}
	int holds = have && alert_holds(r->spec.op, v, r->spec.threshold);
	pthread_mutex_lock(&a->mu);
	if (r->deleted) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	enum alert_state before = r->state;
	enum alert_event ev = alert_step(&r->state, &r->since, holds, r->spec.for_ms, now);
	enum alert_state state = r->state;
	int64_t since = r->since;
	r->value = v;
	r->have_value = have;
	r->evaluated_at = now;
	pthread_mutex_unlock(&a->mu);
	if (state == before)
		return;
	char *eid = sn_id_new("ae_"), *body = NULL;
	json_t *j = ev != ALERT_EV_NONE ? event_json(r, o, eid, ev, v, have, now) : NULL;
	if (ev != ALERT_EV_NONE && (!j || !(body = json_dumps(j, JSON_COMPACT)))) {
		log_error("alerts: rule %s: cannot encode its event", r->id);
		ev = ALERT_EV_NONE;
	}
	if ((rc = persist(a, r, state, since, eid, ev, v, have, body))) {
		log_error("alerts: rule %s: cannot record its state %s: %d", r->id,
			  alert_state_name(state), rc);
		if (!*first_rc)
			*first_rc = rc;
	}
	if (body) {
		if (a->events)
			hub_publish_owned(a->events, "alert", r->owner, body);
		alert_hooks_push(a->hooks, body);
	}
	json_decref(j);
	free(body);
	free(eid);
}

/* The owners of this round's rules with their role now; a rule whose owner
 * is gone or disabled is not evaluated. */
static int owners_load(alert_mgr *a, struct owner **out, size_t *n)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT u.id, u.username, u.role, u.disabled FROM users u WHERE"
				 " u.id IN (SELECT owner_id FROM alert_rules)", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		if (*n == cap)
			*out = xrealloc(*out, (cap = cap ? cap * 2 : 8) * sizeof **out);
		struct owner *o = &(*out)[(*n)++];
		memset(o, 0, sizeof *o);
		sn_strlcpy(o->u.id, store_rows_text(rows, 0), sizeof o->u.id);
		sn_strlcpy(o->u.username, store_rows_text(rows, 1), sizeof o->u.username);
		if (auth_role_parse(store_rows_text(rows, 2), &o->u.role))
			o->u.role = ROLE_NONE;
		o->disabled = store_rows_int(rows, 3) != 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc;
}

int alert_eval_round(alert_mgr *a, int64_t now)
{
	mx_db *db = a->src.db ? a->src.db(a->src.ctx) : NULL;
	struct owner *owners = NULL;
	size_t nowners = 0, n;
	int first_rc = 0;
	if (!db)
		return 0;
	int rc = owners_load(a, &owners, &nowners);
	if (rc)
		return rc;
	pthread_mutex_lock(&a->mu);
	n = a->nrules;
	struct rule **round = xcalloc(n + 1, sizeof *round);
	for (size_t i = 0; i < n; i++) {
		round[i] = a->rules[i];
		round[i]->refs++;
	}
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < n; i++) {
		const struct owner *o = NULL;
		for (size_t k = 0; k < nowners && !o; k++)
			if (strcmp(owners[k].u.id, round[i]->owner) == 0)
				o = &owners[k];
		if (o && !o->disabled && o->u.role >= ROLE_MEMBER)
			eval_rule(a, db, round[i], o, now, &first_rc);
		rule_unref(a, round[i]);
	}
	free(round);
	free(owners);
	return first_rc;
}

static void prune_events(alert_mgr *a, int64_t now)
{
	store_conn *c = NULL;
	int rc = store_acquire(a->st, &c);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM alert_events WHERE ts < $1", NULL,
				SARGS(SA_INT(now - ALERT_EVENTS_RETENTION_MS)));
	store_release(&c);
	if (rc)
		log_warn("alerts: cannot delete old events (%d); tried again in an hour", rc);
}

static void *eval_main(void *arg)
{
	alert_mgr *a = arg;
	pthread_mutex_lock(&a->mu);
	while (!a->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += a->cfg.interval_ms / 1000;
		ts.tv_nsec += (a->cfg.interval_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!a->stopping && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
			;
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->mu);
		int64_t now = sn_now_ms();
		alert_eval_round(a, now);
		if (now - a->pruned_ms >= 3600000) {
			a->pruned_ms = now;
			prune_events(a, now);
		}
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- life ---- */

static mx_db *api_db(void *ctx)
{
	return mx_api_db(ctx);
}

static int api_may_read(void *ctx, const auth_user *u, const char *agent)
{
	return mx_api_may_read(ctx, u, agent);
}

int alert_open(store *st, hub *events, const alert_source *src, const alert_config *cfg,
	       int threads, alert_mgr **out)
{
	alert_mgr *a = xcalloc(1, sizeof *a);
	pthread_condattr_t ca;
	int rc;
	a->st = st;
	a->events = events;
	a->src = *src;
	a->cfg = *cfg;
	if (a->cfg.interval_ms <= 0)
		a->cfg.interval_ms = 10000;
	pthread_mutex_init(&a->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((events && (rc = hub_declare(events, "alert", HUB_OWNER))) ||
	    (rc = alert_hooks_new(0, 0, NULL, NULL, threads, &a->hooks)) || (rc = load(a)))
		goto fail;
	if (threads && (rc = -pthread_create(&a->thread, NULL, eval_main, a)))
		goto fail;
	a->has_thread = threads;
	*out = a;
	return 0;
fail:
	alert_free(&a);
	return rc;
}

int alert_new(store *st, hub *events, mx_api *mx, const alert_config *cfg, alert_mgr **out)
{
	alert_source src = { api_db, api_may_read, mx };
	return alert_open(st, events, &src, cfg, 1, out);
}

void alert_free(alert_mgr **ap)
{
	alert_mgr *a = *ap;
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->has_thread)
		pthread_join(a->thread, NULL);
	alert_hooks_free(&a->hooks);
	for (size_t i = 0; i < a->nrules; i++)
		rule_unref(a, a->rules[i]);
	for (size_t i = 0; i < a->nurls; i++)
		free(a->urls[i]);
	free(a->urls);
	free(a->rules);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
	*ap = NULL;
}

size_t alert_routes(alert_mgr *a, http_route *out, size_t max)
{
	return alert_http_routes(a, out, max);
}

store *alert_store(alert_mgr *a)
{
	return a->st;
}

/* ---- rules ---- */

static int may_see(const auth_user *u, const char *owner)
{
	return u->role >= ROLE_ADMIN || strcmp(u->id, owner) == 0;
}

int alert_rule_create(alert_mgr *a, const auth_user *u, const json_t *body,
		      char id[ALERT_ID_MAX], char *err, size_t errlen)
{
	struct rule *r = xcalloc(1, sizeof *r);
	store_conn *c = NULL;
	char *spec = NULL, *rid = NULL;
	json_t *sj = NULL;
	int rc = alert_spec_parse(body, &r->spec, err, errlen);
	if (rc)
		goto out;
	size_t mine = 0, all;
	pthread_mutex_lock(&a->mu);
	all = a->nrules;
	for (size_t i = 0; i < a->nrules; i++)
		mine += strcmp(a->rules[i]->owner, u->id) == 0;
	pthread_mutex_unlock(&a->mu);
	if (all >= ALERT_RULES_MAX || (u->role < ROLE_ADMIN && mine >= ALERT_RULES_PER_USER)) {
		snprintf(err, errlen, "too many alert rules (at most %d per member, %d in all)",
			 ALERT_RULES_PER_USER, ALERT_RULES_MAX);
		rc = -EPERM;
		goto out;
	}
	if (!(sj = alert_spec_json(&r->spec)) || !(spec = json_dumps(sj, JSON_COMPACT))) {
		rc = -ENOMEM;
		goto out;
	}
	rid = sn_id_new("al_");
	sn_strlcpy(r->id, rid, sizeof r->id);
	sn_strlcpy(r->owner, u->id, sizeof r->owner);
	r->since = sn_now_ms();
	if ((rc = store_acquire(a->st, &c)) == 0)
		rc = store_exec(c, "INSERT INTO alert_rules (id, owner_id, name, spec, state,"
				" state_since, created_at) VALUES ($1, $2, $3, $4, 'ok', $5, $5)", NULL,
				SARGS(SA_TEXT(r->id), SA_TEXT(u->id), SA_TEXT(r->spec.name),
				      SA_TEXT(spec), SA_INT(r->since)));
	store_release(&c);
	if (rc == 0) {
		sn_strlcpy(id, r->id, ALERT_ID_MAX);
		rule_add(a, r);
		r = NULL;
	}
out:
	if (r) {
		alert_spec_release(&r->spec);
		free(r);
	}
	json_decref(sj);
	free(spec);
	free(rid);
	return rc;
}

int alert_rule_delete(alert_mgr *a, const auth_user *u, const char *id)
{
	store_conn *c = NULL;
	pthread_mutex_lock(&a->mu);
	struct rule *r = rule_find(a, id);
	int rc = r && may_see(u, r->owner) ? 0 : -ENOENT;
	pthread_mutex_unlock(&a->mu);
	if (rc == 0 && (rc = store_acquire(a->st, &c)) == 0 && (rc = store_begin(c)) == 0 &&
	    (rc = store_exec(c, "DELETE FROM alert_events WHERE rule_id = $1", NULL,
			     SARGS(SA_TEXT(id)))) == 0 &&
	    (rc = store_exec(c, "DELETE FROM alert_rules WHERE id = $1", NULL, SARGS(SA_TEXT(id)))) == 0)
		rc = store_commit(c);
	store_release(&c);
	if (rc)
		return rc;
	pthread_mutex_lock(&a->mu);
	/* Looked up again: a concurrent delete of the same rule may have won. */
	for (size_t i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i]->id, id) == 0) {
			r = a->rules[i];
			r->deleted = 1;
			a->rules[i] = a->rules[--a->nrules];
			pthread_mutex_unlock(&a->mu);
			rule_unref(a, r);
			return 0;
		}
	pthread_mutex_unlock(&a->mu);
	return 0;
}

int alert_rule_replace(alert_mgr *a, const auth_user *u, const char *id, const json_t *body,
		       char *err, size_t errlen)
{
	struct rule *r = xcalloc(1, sizeof *r);
	store_conn *c = NULL;
	char *spec = NULL;
	json_t *sj = NULL;
	int rc = alert_spec_parse(body, &r->spec, err, errlen);
	if (rc == 0) {
		pthread_mutex_lock(&a->mu);
		struct rule *old = rule_find(a, id);
		rc = old && may_see(u, old->owner) ? 0 : -ENOENT;
		pthread_mutex_unlock(&a->mu);
	}
	if (rc == 0 && (!(sj = alert_spec_json(&r->spec)) || !(spec = json_dumps(sj, JSON_COMPACT))))
		rc = -ENOMEM;
	if (rc == 0 && (rc = store_acquire(a->st, &c)) == 0)
		rc = store_exec(c, "UPDATE alert_rules SET name = $2, spec = $3 WHERE id = $1", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(r->spec.name), SA_TEXT(spec)));
	store_release(&c);
	json_decref(sj);
	free(spec);
	if (rc == 0) {
		/* The new spec takes over the old one's state (a firing rule
		 * resolves at the next round if the new condition does not hold);
		 * the old one is dropped as a deleted rule would be (invariant 1). */
		pthread_mutex_lock(&a->mu);
		for (size_t i = 0; i < a->nrules; i++) {
			struct rule *old = a->rules[i];
			if (strcmp(old->id, id))
				continue;
			sn_strlcpy(r->id, old->id, sizeof r->id);
			sn_strlcpy(r->owner, old->owner, sizeof r->owner);
			r->state = old->state;
			r->since = old->since;
			r->refs = 1;
			old->deleted = 1;
			a->rules[i] = r;
			r = old;
			break;
		}
		pthread_mutex_unlock(&a->mu);
		if (r->deleted) {
			rule_unref(a, r);
			return 0;
		}
		rc = -ENOENT; /* deleted meanwhile */
	}
	alert_spec_release(&r->spec);
	free(r);
	return rc;
}

void alert_rule_live(alert_mgr *a, const char *id, json_t *o)
{
	pthread_mutex_lock(&a->mu);
	struct rule *r = rule_find(a, id);
	enum alert_state state = r ? r->state : ALERT_OK;
	int64_t since = r ? r->since : -1, at = r && r->evaluated_at ? r->evaluated_at : -1;
	json_t *v = r && r->have_value && r->evaluated_at ? json_real(r->value) : json_null();
	pthread_mutex_unlock(&a->mu);
	json_object_set_new(o, "state", json_string(alert_state_name(state)));
	json_object_set_new(o, "state_since", http_json_time(since));
	json_object_set_new(o, "value", v);
	json_object_set_new(o, "evaluated_at", http_json_time(at));
}

/* ---- webhooks setting ---- */

json_t *alert_webhooks_json(alert_mgr *a)
{
	alert_hooks_stats st;
	json_t *urls = json_array();
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; urls && i < a->nurls; i++)
		json_array_append_new(urls, json_string(a->urls[i]));
	pthread_mutex_unlock(&a->mu);
	alert_hooks_stats_get(a->hooks, &st);
	return json_pack("{s:o,s:I,s:I,s:I,s:I,s:I}", "urls", urls, "queued",
			 (json_int_t)st.queued, "delivered", (json_int_t)st.delivered, "failed",
			 (json_int_t)st.failed, "dropped", (json_int_t)st.dropped, "retries",
			 (json_int_t)st.retries);
}

/* In memory only; the route stores it first. */
int alert_webhooks_set(alert_mgr *a, const json_t *urls)
{
	char err[256];
	int rc = alert_hooks_check(urls, err, sizeof err);
	if (rc)
		return rc;
	size_t n = json_array_size(urls);
	const char **v = xcalloc(n + 1, sizeof *v);
	char **copy = xcalloc(n + 1, sizeof *copy);
	for (size_t i = 0; i < n; i++) {
		v[i] = json_string_value(json_array_get(urls, i));
		copy[i] = xstrdup(v[i]);
	}
	alert_hooks_set_urls(a->hooks, v, n);
	pthread_mutex_lock(&a->mu);
	char **old = a->urls;
	size_t nold = a->nurls;
	a->urls = copy;
	a->nurls = n;
	pthread_mutex_unlock(&a->mu);
	for (size_t i = 0; i < nold; i++)
		free(old[i]);
	free(old);
	free(v);
	return 0;
}
