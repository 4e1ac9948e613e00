/* Alerts: rule validation, the state machine, the webhook queue, and the
 * evaluator against a real metrics store in a temporary directory. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "alert/alert_int.h"
#include "base/mem.h"
#include "base/util.h"
#include "test_db.h"

/* ---- specs ---- */

static json_t *J(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return j;
}

static int parse(const char *text, alert_spec *s, char *err, size_t errlen)
{
	json_t *j = J(text);
	int rc = alert_spec_parse(j, s, err, errlen);
	json_decref(j);
	return rc;
}

static void test_spec_valid(void **state)
{
	(void)state;
	alert_spec s, back;
	char err[256];
	assert_int_equal(parse("{\"name\":\"slow\",\"agent\":\"bot-1\",\"metric\":\"llm.latency_ms\","
			       "\"tags\":{\"model\":\"gpt\",\"env\":\"prod\"},\"agg\":\"p95\","
			       "\"window\":\"5m\",\"op\":\">\",\"threshold\":2000,\"for\":\"1m\"}",
			       &s, err, sizeof err), 0);
	assert_string_equal(s.name, "slow");
	assert_string_equal(s.agent, "bot-1");
	assert_int_equal(s.agg, MX_P95);
	assert_int_equal(s.window_ms, 300000);
	assert_int_equal(s.for_ms, 60000);
	assert_int_equal(s.op, ALERT_GT);
	assert_true(s.threshold == 2000);
	assert_int_equal(s.ntags, 2);
	assert_string_equal(s.tags[0].k, "env"); /* sorted */
	/* The stored form parses back to the same spec. */
	json_t *j = alert_spec_json(&s);
	assert_non_null(j);
	assert_int_equal(alert_spec_parse(j, &back, err, sizeof err), 0);
	assert_string_equal(back.metric, s.metric);
	assert_int_equal(back.window_ms, s.window_ms);
	assert_int_equal(back.for_ms, s.for_ms);
	assert_int_equal(back.ntags, 2);
	assert_string_equal(back.tags[1].v, "gpt");
	assert_string_equal(json_string_value(json_object_get(j, "window")), "5m");
	json_decref(j);
	alert_spec_release(&back);
	alert_spec_release(&s);

	/* A detector rule is max(anomaly.flag{detector=ID}) > 0. */
	assert_int_equal(parse("{\"name\":\"odd\",\"detector\":\"dt_1\"}", &s, err, sizeof err), 0);
	assert_string_equal(s.metric, "anomaly.flag");
	assert_int_equal(s.ntags, 1);
	assert_string_equal(s.tags[0].k, "detector");
	assert_string_equal(s.tags[0].v, "dt_1");
	assert_int_equal(s.agg, MX_MAX);
	assert_int_equal(s.op, ALERT_GT);
	assert_int_equal(s.window_ms, ALERT_DETECTOR_WINDOW_MS);
	assert_int_equal(s.for_ms, 0);
	j = alert_spec_json(&s);
	assert_int_equal(alert_spec_parse(j, &back, err, sizeof err), 0);
	assert_string_equal(back.detector, "dt_1");
	json_decref(j);
	alert_spec_release(&back);
	alert_spec_release(&s);
}

static void test_spec_invalid(void **state)
{
	(void)state;
	static const struct { const char *body, *msg; } bad[] = {
		{ "[]", "JSON object" },
		{ "{\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}", "name: is required" },
		{ "{\"name\":\"\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}", "name: must be 1" },
		{ "{\"name\":\"a\\nb\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}", "control" },
		{ "{\"name\":\"n\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}", "metric: is required" },
		{ "{\"name\":\"n\",\"metric\":\"a b\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}", "metric: must be" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"op\":\">\",\"threshold\":1}", "window: is required" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"500ms\",\"op\":\">\",\"threshold\":1}", "window: must be from" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"8d\",\"op\":\">\",\"threshold\":1}", "window: must be from" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":5,\"op\":\">\",\"threshold\":1}", "window: must be a duration" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\"!=\",\"threshold\":1}", "op: must be" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\"}", "threshold" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":\"1\"}", "threshold" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"agg\":\"p42\"}", "agg: must be" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"for\":\"soon\"}", "for: must be" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"tags\":{\"agent\":\"x\"}}", "tags: key" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"tags\":{\"k\":1}}", "tags.k" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"tags\":[]}", "tags: must be" },
		{ "{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1,\"extra\":1}", "unknown field \"extra\"" },
		{ "{\"name\":\"n\",\"detector\":\"d\",\"metric\":\"m\"}", "metric: does not go with detector" },
		{ "{\"name\":\"n\",\"detector\":\"d\",\"threshold\":1}", "threshold: does not go with detector" },
		{ "{\"name\":\"n\",\"detector\":\"\"}", "detector: must be 1" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		alert_spec s;
		char err[256] = "";
		int rc = parse(bad[i].body, &s, err, sizeof err);
		if (rc != -EINVAL || !strstr(err, bad[i].msg))
			fail_msg("%s: rc %d, message '%s', want '%s'", bad[i].body, rc, err, bad[i].msg);
	}
	/* Too many tags. */
	json_t *j = J("{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}");
	json_t *tags = json_object();
	for (int i = 0; i <= MX_TAGS_MAX; i++) {
		char k[8];
		snprintf(k, sizeof k, "k%d", i);
		json_object_set_new(tags, k, json_string("v"));
	}
	json_object_set_new(j, "tags", tags);
	alert_spec s;
	char err[256];
	assert_int_equal(alert_spec_parse(j, &s, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "tags: at most"));
	json_decref(j);
}

static void test_dur_format(void **state)
{
	(void)state;
	char b[24];
	alert_dur_format(300000, b, sizeof b);
	assert_string_equal(b, "5m");
	alert_dur_format(90000, b, sizeof b);
	assert_string_equal(b, "90s");
	alert_dur_format(1500, b, sizeof b);
	assert_string_equal(b, "1500ms");
	alert_dur_format(2 * 86400000LL, b, sizeof b);
	assert_string_equal(b, "2d");
}

/* ---- the state machine ---- */

static void test_step(void **state)
{
	(void)state;
	enum alert_state st = ALERT_OK;
	int64_t since = 0;
	/* for = 30 s: a spike shorter than that never fires. */
	assert_int_equal(alert_step(&st, &since, 1, 30000, 1000), ALERT_EV_NONE);
	assert_int_equal(st, ALERT_PENDING);
	assert_int_equal(since, 1000);
	assert_int_equal(alert_step(&st, &since, 0, 30000, 2000), ALERT_EV_NONE);
	assert_int_equal(st, ALERT_OK);
	assert_int_equal(alert_step(&st, &since, 1, 30000, 3000), ALERT_EV_NONE);
	assert_int_equal(alert_step(&st, &since, 1, 30000, 32999), ALERT_EV_NONE);
	assert_int_equal(st, ALERT_PENDING);
	assert_int_equal(alert_step(&st, &since, 1, 30000, 33000), ALERT_EV_FIRING);
	assert_int_equal(st, ALERT_FIRING);
	/* Fires once. */
	assert_int_equal(alert_step(&st, &since, 1, 30000, 40000), ALERT_EV_NONE);
	assert_int_equal(alert_step(&st, &since, 0, 30000, 50000), ALERT_EV_RESOLVED);
	assert_int_equal(st, ALERT_OK);
	assert_int_equal(alert_step(&st, &since, 0, 30000, 60000), ALERT_EV_NONE);
	/* for = 0 fires at once. */
	assert_int_equal(alert_step(&st, &since, 1, 0, 70000), ALERT_EV_FIRING);
	assert_true(alert_holds(ALERT_GE, 2, 2) && !alert_holds(ALERT_GT, 2, 2) &&
		    alert_holds(ALERT_LT, 1, 2) && alert_holds(ALERT_LE, 2, 2) &&
		    alert_holds(ALERT_EQ, 0, 0) && !alert_holds(ALERT_EQ, 1, 0));
}

/* ---- webhooks ---- */

struct sink {
	int calls, fail_first;
	char last_url[64], last_body[256];
};

static int fake_send(void *ctx, const char *url, const char *body, size_t len)
{
	struct sink *k = ctx;
	k->calls++;
	snprintf(k->last_url, sizeof k->last_url, "%s", url);
	snprintf(k->last_body, sizeof k->last_body, "%.*s", (int)len, body);
	return k->calls <= k->fail_first ? -EIO : 0;
}

static int64_t mono_ms(void)
{
	return sn_mono_ns() / 1000000;
}

static void test_hooks_queue(void **state)
{
	(void)state;
	struct sink k = { 0 };
	alert_hooks *h;
	alert_hooks_stats st;
	const char *urls[] = { "http://127.0.0.1:1/a", "http://127.0.0.1:1/b" };
	assert_int_equal(alert_hooks_new(3, 10, fake_send, &k, 0, &h), 0);
	alert_hooks_push(h, "{\"n\":0}"); /* no URL yet: nothing queued */
	alert_hooks_set_urls(h, urls, 2);
	alert_hooks_push(h, "{\"n\":1}");
	alert_hooks_push(h, "{\"n\":2}"); /* 4 deliveries into 3 places: the oldest goes */
	alert_hooks_stats_get(h, &st);
	assert_int_equal(st.queued, 4);
	assert_int_equal(st.dropped, 1);
	assert_int_equal(alert_hooks_run_due(h, mono_ms()), 3);
	assert_int_equal(k.calls, 3);
	assert_string_equal(k.last_body, "{\"n\":2}"); /* oldest first: n=1 to b, then n=2 */
	alert_hooks_stats_get(h, &st);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(alert_hooks_run_due(h, mono_ms()), 0);
	alert_hooks_free(&h);
}

static void test_hooks_retry(void **state)
{
	(void)state;
	struct sink k = { .fail_first = 2 };
	alert_hooks *h;
	alert_hooks_stats st;
	const char *urls[] = { "http://127.0.0.1:1/x" };
	assert_int_equal(alert_hooks_new(0, 1000, fake_send, &k, 0, &h), 0);
	alert_hooks_set_urls(h, urls, 1);
	alert_hooks_push(h, "{}");
	int64_t t0 = mono_ms();
	assert_int_equal(alert_hooks_run_due(h, t0), 1); /* fails */
	/* Not due again before its backoff (1 s), due after it. */
	assert_int_equal(alert_hooks_run_due(h, t0 + 500), 0);
	assert_int_equal(alert_hooks_run_due(h, mono_ms() + 1000), 1); /* fails again */
	assert_int_equal(alert_hooks_run_due(h, mono_ms() + 1500), 0); /* 2 s now */
	assert_int_equal(alert_hooks_run_due(h, mono_ms() + 2000), 1);
	alert_hooks_stats_get(h, &st);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(st.retries, 2);
	assert_int_equal(k.calls, 3);
	alert_hooks_free(&h);

	/* A dead URL: ALERT_HOOK_TRIES tries, then given up. */
	struct sink dead = { .fail_first = 1000 };
	assert_int_equal(alert_hooks_new(0, 1, fake_send, &dead, 0, &h), 0);
	alert_hooks_set_urls(h, urls, 1);
	alert_hooks_push(h, "{}");
	for (int i = 0; i < 20; i++)
		alert_hooks_run_due(h, mono_ms() + 100000);
	alert_hooks_stats_get(h, &st);
	assert_int_equal(dead.calls, ALERT_HOOK_TRIES);
	assert_int_equal(st.failed, 1);
	alert_hooks_free(&h);
}

static void test_hooks_check(void **state)
{
	(void)state;
	char err[256];
	json_t *ok = J("[\"http://127.0.0.1:9/hook\",\"https://example.org/x?y=1\"]");
	assert_int_equal(alert_hooks_check(ok, err, sizeof err), 0);
	json_decref(ok);
	static const char *const bad[] = {
		"{}", "[1]", "[\"ftp://x/\"]", "[\"file:///etc/passwd\"]", "[\"not a url\"]",
		"[\"http://a/\",\"http://a/\"]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = J(bad[i]);
		if (alert_hooks_check(j, err, sizeof err) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		json_decref(j);
	}
	json_t *many = json_array();
	for (int i = 0; i <= ALERT_HOOK_URLS_MAX; i++)
		json_array_append_new(many, json_sprintf("http://127.0.0.1/%d", i));
	assert_int_equal(alert_hooks_check(many, err, sizeof err), -EINVAL);
	json_decref(many);
}

/* ---- the evaluator on a real store ---- */

struct fx {
	char dir[64], url[256];
	store *st;
	mx_db *db;
	hub *events;
	alert_mgr *a;
};

static mx_db *fx_db(void *ctx)
{
	return ((struct fx *)ctx)->db;
}

/* The agent "secret" is for admins only. */
static int fx_may_read(void *ctx, const auth_user *u, const char *agent)
{
	(void)ctx;
	return strcmp(agent, "secret") || u->role >= ROLE_ADMIN;
}

static const store_domain *const fx_domains[] = { &auth_store_domain, &alert_store_domain };

static void fx_open_alerts(struct fx *f)
{
	alert_source src = { fx_db, fx_may_read, f };
	alert_config cfg = { 1000 };
	assert_int_equal(alert_open(f->st, f->events, &src, &cfg, 0, &f->a), 0);
}

static void fx_open(struct fx *f)
{
	char err[256];
	store_opts so = { .domains = fx_domains, .ndomains = 2 };
	snprintf(f->dir, sizeof f->dir, "/tmp/test_alert.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(test_db_url(f->dir, "db", f->url, sizeof f->url), 0);
	assert_int_equal(store_open(f->url, &so, &f->st, err, sizeof err), 0);
	char mdir[128];
	snprintf(mdir, sizeof mdir, "%s/metrics", f->dir);
	assert_int_equal(sn_mkdir_p(mdir, 0700), 0);
	mx_db_config mc = { .dir = mdir };
	if (mx_db_open(&mc, NULL, &f->db, err, sizeof err))
		fail_msg("mx_db_open: %s", err);
	store_conn *c = NULL;
	assert_int_equal(store_acquire(f->st, &c), 0);
	static const char *const users[][2] = { { "u_bob", "member" }, { "u_alice", "member" },
						{ "u_root", "admin" } };
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(store_exec(c, "INSERT INTO users (id, username, pw_hash, role, disabled,"
					    " created_at, updated_at) VALUES ($1, $1, 'x', $2, 0, 0, 0)",
					    NULL, SARGS(SA_TEXT(users[i][0]), SA_TEXT(users[i][1]))), 0);
	store_release(&c);
	f->events = hub_new();
	fx_open_alerts(f);
}

static void fx_close(struct fx *f)
{
	char cmd[128];
	alert_free(&f->a);
	mx_db_free(&f->db);
	hub_free(&f->events);
	store_free(&f->st);
	test_db_drop(f->url);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
}

static void push(struct fx *f, const char *agent, const char *metric, int64_t ts, double v,
		 const char *tk, const char *tv)
{
	mx_batch *b = mx_batch_new();
	mx_tag t = { tk, tv };
	char err[128];
	assert_int_equal(mx_batch_add(b, agent, metric, ts, v, tk ? &t : NULL, tk ? 1 : 0, err,
				      sizeof err), 0);
	assert_int_equal(mx_db_append(f->db, b), 0);
	mx_batch_free(&b);
}

static void rule(struct fx *f, const char *owner, enum auth_role role, const char *body,
		 char id[ALERT_ID_MAX])
{
	auth_user u = { .role = role };
	char err[256];
	snprintf(u.id, sizeof u.id, "%s", owner);
	json_t *j = J(body);
	if (alert_rule_create(f->a, &u, j, id, err, sizeof err))
		fail_msg("rule %s: %s", body, err);
	json_decref(j);
}

/* The rule's live state and value, as GET shows them. */
static const char *state_of(struct fx *f, const char *id, double *value)
{
	static char s[16];
	json_t *o = json_object();
	alert_rule_live(f->a, id, o);
	snprintf(s, sizeof s, "%s", json_string_value(json_object_get(o, "state")));
	if (value)
		*value = json_is_number(json_object_get(o, "value"))
			 ? json_number_value(json_object_get(o, "value")) : NAN;
	json_decref(o);
	return s;
}

/* The states of the rule's stored events, oldest first: "firing,resolved". */
static char *events_of(struct fx *f, const char *id)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	char out[256] = "";
	assert_int_equal(store_acquire(f->st, &c), 0);
	assert_int_equal(store_query(c, "SELECT state FROM alert_events WHERE rule_id = $1 ORDER BY ts",
				     &rows, SARGS(SA_TEXT(id))), 0);
	while (store_rows_next(rows) == 1)
		snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", out[0] ? "," : "",
			 store_rows_text(rows, 0));
	store_rows_free(&rows);
	store_release(&c);
	return xstrdup(out);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The p95 of the test's own samples in [from, to) may be read as the
 * nearest rank (ceil(0.95 n)) or as the lower interpolation rank
 * (floor(0.95 (n - 1)), 0-based); got must lie within 1% of that range. */
static void assert_p95(double got, const double *v, const int64_t *ts, int n, int64_t from,
		       int64_t to, const char *what)
{
	double s[256];
	int k = 0;
	for (int i = 0; i < n; i++)
		if (ts[i] >= from && ts[i] < to)
			s[k++] = v[i];
	qsort(s, (size_t)k, sizeof *s, cmp_dbl);
	double lo = s[(int)floor(0.95 * (k - 1))], hi = s[(int)ceil(0.95 * k) - 1];
	if (!(got >= 0.99 * lo && got <= 1.01 * hi))
		fail_msg("%s: got %g, want %g .. %g (within 1%%)", what, got, lo, hi);
}

static void assert_near(double got, double want, const char *what)
{
	if (!(fabs(got - want) <= 0.01 * fabs(want)))
		fail_msg("%s: got %g, want %g (within 1%%)", what, got, want);
}

static void test_eval(void **state)
{
	(void)state;
	struct fx f = { 0 };
	char p95[ALERT_ID_MAX], vis_bob[ALERT_ID_MAX], vis_root[ALERT_ID_MAX], det[ALERT_ID_MAX];
	char cnt[ALERT_ID_MAX], rate[ALERT_ID_MAX];
	double v[100];
	int64_t ts[100];
	const int64_t T = 1767225600000LL; /* 2026-01-01, a minute boundary */
	fx_open(&f);
	/* Latencies 10 .. 1000 over the minute before T. */
	for (int i = 0; i < 100; i++) {
		v[i] = (i + 1) * 10.0;
		ts[i] = T - 60000 + (i + 1) * 590;
		push(&f, "a1", "latency_ms", ts[i], v[i], "model", i % 2 ? "x" : "y");
	}
	push(&f, "secret", "latency_ms", T - 1000, 9999, NULL, NULL);
	push(&f, "a1", "anomaly.flag", T - 30000, 0, "detector", "d1");
	push(&f, "a1", "anomaly.flag", T - 10000, 1, "detector", "d1");
	push(&f, "a1", "anomaly.flag", T - 10000, 1, "detector", "d2"); /* another detector */
	for (int i = 0; i < 120; i++)
		push(&f, "a1", "reqs", T - 60000 + i * 500, 1, NULL, NULL);

	rule(&f, "u_bob", ROLE_MEMBER, "{\"name\":\"slow\",\"agent\":\"a1\",\"metric\":\"latency_ms\","
	     "\"agg\":\"p95\",\"window\":\"1m\",\"op\":\">\",\"threshold\":100,\"for\":\"30s\"}", p95);
	rule(&f, "u_bob", ROLE_MEMBER, "{\"name\":\"big\",\"metric\":\"latency_ms\",\"agg\":\"max\","
	     "\"window\":\"1m\",\"op\":\">\",\"threshold\":5000}", vis_bob);
	rule(&f, "u_root", ROLE_ADMIN, "{\"name\":\"big\",\"metric\":\"latency_ms\",\"agg\":\"max\","
	     "\"window\":\"1m\",\"op\":\">\",\"threshold\":5000}", vis_root);
	rule(&f, "u_bob", ROLE_MEMBER, "{\"name\":\"odd\",\"detector\":\"d1\"}", det);
	rule(&f, "u_bob", ROLE_MEMBER, "{\"name\":\"silent\",\"metric\":\"nothing\",\"agg\":\"count\","
	     "\"window\":\"1m\",\"op\":\"==\",\"threshold\":0}", cnt);
	rule(&f, "u_bob", ROLE_MEMBER, "{\"name\":\"busy\",\"agent\":\"a1\",\"metric\":\"reqs\","
	     "\"agg\":\"rate\",\"window\":\"1m\",\"op\":\">=\",\"threshold\":2}", rate);

	double got;
	assert_int_equal(alert_eval_round(f.a, T), 0);
	assert_string_equal(state_of(&f, p95, &got), "pending");
	assert_p95(got, v, ts, 100, T - 60000, T, "p95 at T");
	/* bob may not read "secret": his max is a1's 1000; root's is 9999. */
	assert_string_equal(state_of(&f, vis_bob, &got), "ok");
	assert_true(got == 1000);
	assert_string_equal(state_of(&f, vis_root, &got), "firing");
	assert_true(got == 9999);
	assert_string_equal(state_of(&f, det, &got), "firing");
	assert_true(got == 1);
	assert_string_equal(state_of(&f, cnt, &got), "firing"); /* no sample: count 0 */
	assert_true(got == 0);
	assert_string_equal(state_of(&f, rate, &got), "firing"); /* 120 in 60 s */
	assert_near(got, 2.0, "rate");

	assert_int_equal(alert_eval_round(f.a, T + 10000), 0);
	assert_string_equal(state_of(&f, p95, &got), "pending");
	assert_p95(got, v, ts, 100, T - 50000, T + 10000, "p95 at T+10s");
	assert_int_equal(alert_eval_round(f.a, T + 30000), 0);
	assert_string_equal(state_of(&f, p95, &got), "firing");
	assert_p95(got, v, ts, 100, T - 30000, T + 30000, "p95 at T+30s");
	assert_int_equal(alert_eval_round(f.a, T + 31000), 0);
	char *e = events_of(&f, p95);
	assert_string_equal(e, "firing"); /* once */
	free(e);

	/* A restart keeps the state: nothing fires again. */
	alert_free(&f.a);
	fx_open_alerts(&f);
	assert_string_equal(state_of(&f, p95, NULL), "firing");
	assert_int_equal(alert_eval_round(f.a, T + 32000), 0);
	e = events_of(&f, p95);
	assert_string_equal(e, "firing");
	free(e);

	/* Samples fall out of the window: resolved, once. */
	assert_int_equal(alert_eval_round(f.a, T + 61000), 0);
	assert_int_equal(alert_eval_round(f.a, T + 62000), 0);
	assert_string_equal(state_of(&f, p95, NULL), "ok");
	assert_string_equal(state_of(&f, det, NULL), "ok");
	e = events_of(&f, p95);
	assert_string_equal(e, "firing,resolved");
	free(e);
	e = events_of(&f, vis_bob);
	assert_string_equal(e, "");
	free(e);

	/* The hub: bob sees his rules' events, alice none, root all. */
	hub_viewer bob = { "u_bob", 0 }, alice = { "u_alice", 0 }, root = { "u_root", 1 };
	int nbob = 0, nalice = 0, nroot = 0, fired_p95 = 0;
	const hub_viewer *vs[] = { &bob, &alice, &root };
	int *ns[] = { &nbob, &nalice, &nroot };
	for (int k = 0; k < 3; k++) {
		uint64_t cur = 0;
		char *topic, *data;
		while (hub_next_for(f.events, vs[k], "alert", &cur, 0, &topic, &data) == 0) {
			(*ns[k])++;
			json_t *ev = J(data);
			if (k == 0 && !strcmp(json_string_value(json_object_get(ev, "rule_id")), p95) &&
			    !strcmp(json_string_value(json_object_get(ev, "state")), "firing")) {
				fired_p95++;
				assert_string_equal(json_string_value(json_object_get(ev, "owner")), "u_bob");
				assert_true(json_number_value(json_object_get(ev, "threshold")) == 100);
			}
			json_decref(ev);
			free(topic);
			free(data);
		}
	}
	assert_int_equal(fired_p95, 1);
	/* bob: p95, det, cnt, rate fired; p95, det, rate resolved (cnt stays). */
	assert_int_equal(nbob, 7);
	assert_int_equal(nalice, 0);
	assert_int_equal(nroot, 9);

	/* A replaced rule keeps its id and state; under the new condition the
	 * firing rule resolves at the next round. Alice may not replace it. */
	auth_user ua0 = { .id = "u_alice", .role = ROLE_MEMBER };
	auth_user ub0 = { .id = "u_bob", .role = ROLE_MEMBER };
	char err[256];
	json_t *nb = J("{\"name\":\"silent2\",\"metric\":\"nothing\",\"agg\":\"count\","
		       "\"window\":\"1m\",\"op\":\"==\",\"threshold\":1}");
	assert_int_equal(alert_rule_replace(f.a, &ua0, cnt, nb, err, sizeof err), -ENOENT);
	assert_int_equal(alert_rule_replace(f.a, &ub0, cnt, nb, err, sizeof err), 0);
	json_decref(nb);
	nb = J("{\"name\":\"x\"}");
	assert_int_equal(alert_rule_replace(f.a, &ub0, cnt, nb, err, sizeof err), -EINVAL);
	json_decref(nb);
	assert_string_equal(state_of(&f, cnt, NULL), "firing");
	assert_int_equal(alert_eval_round(f.a, T + 63000), 0);
	assert_string_equal(state_of(&f, cnt, NULL), "ok");
	e = events_of(&f, cnt);
	assert_string_equal(e, "firing,resolved");
	free(e);
	json_t *shown = NULL;
	assert_int_equal(alert_rule_get(f.a, &ub0, cnt, &shown), 0);
	assert_string_equal(json_string_value(json_object_get(shown, "name")), "silent2");
	json_decref(shown);

	/* A member cannot delete another's rule; the owner can, with its events. */
	auth_user ua = { .id = "u_alice", .role = ROLE_MEMBER };
	auth_user ub = { .id = "u_bob", .role = ROLE_MEMBER };
	assert_int_equal(alert_rule_delete(f.a, &ua, p95), -ENOENT);
	json_t *o = NULL;
	assert_int_equal(alert_rule_get(f.a, &ua, p95, &o), -ENOENT);
	assert_int_equal(alert_rule_get(f.a, &ub, p95, &o), 0);
	assert_string_equal(json_string_value(json_object_get(o, "name")), "slow");
	json_decref(o);
	assert_int_equal(alert_rule_delete(f.a, &ub, p95), 0);
	assert_int_equal(alert_rule_delete(f.a, &ub, p95), -ENOENT);
	e = events_of(&f, p95);
	assert_string_equal(e, "");
	free(e);
	fx_close(&f);
}

static void test_rule_cap(void **state)
{
	(void)state;
	struct fx f = { 0 };
	fx_open(&f);
	auth_user u = { .id = "u_bob", .role = ROLE_MEMBER };
	json_t *j = J("{\"name\":\"n\",\"metric\":\"m\",\"window\":\"1m\",\"op\":\">\",\"threshold\":1}");
	char id[ALERT_ID_MAX], err[256];
	for (int i = 0; i < ALERT_RULES_PER_USER; i++)
		assert_int_equal(alert_rule_create(f.a, &u, j, id, err, sizeof err), 0);
	assert_int_equal(alert_rule_create(f.a, &u, j, id, err, sizeof err), -EPERM);
	assert_non_null(strstr(err, "too many"));
	json_decref(j);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_valid),
		cmocka_unit_test(test_spec_invalid),
		cmocka_unit_test(test_dur_format),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_hooks_queue),
		cmocka_unit_test(test_hooks_retry),
		cmocka_unit_test(test_hooks_check),
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_rule_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
