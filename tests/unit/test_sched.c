/* The scheduler core (src/sched/sched.c) driven alone with fake node
 * snapshots, and the exact merge of chunk statistics (sched_stats.c). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "base/mem.h"
#include "sched/sched_int.h"
#include "test_db.h"

#define LEASE 90000

/* ---- helpers ---- */

static char **strv(const char *a, const char *b)
{
	char **v = xcalloc(3, sizeof *v);
	v[0] = a ? xstrdup(a) : NULL;
	v[1] = b ? xstrdup(b) : NULL;
	return v;
}

static sc_job *job_new(const char *id, const char *owner, uint32_t nchunks, int access)
{
	static int64_t created = 1000;
	sc_job *j = xcalloc(1, sizeof *j);
	snprintf(j->id, sizeof j->id, "%s", id);
	snprintf(j->owner, sizeof j->owner, "%s", owner);
	j->total_iterations = (int64_t)nchunks * 10;
	j->chunk_size = 10;
	j->nchunks = nchunks;
	j->max_attempts = 3;
	j->access = access;
	j->created_at = created++;
	j->tmpl = xstrdup("{\"program\":\"noop\"}");
	j->ck = xcalloc(nchunks, sizeof *j->ck);
	return j;
}

static void node_set(node_info *n, const char *id, const char *owner, int max_parallel)
{
	memset(n, 0, sizeof *n);
	snprintf(n->id, sizeof n->id, "%s", id);
	snprintf(n->owner, sizeof n->owner, "%s", owner);
	n->online = 1;
	n->max_parallel = max_parallel;
}

static void node_release(node_info *n)
{
	char **lists[] = { n->users, n->groups, n->blobs, n->datasets };
	size_t counts[] = { n->nusers, n->ngroups, n->nblobs, n->ndatasets };
	for (size_t l = 0; l < 4; l++) {
		for (size_t i = 0; i < counts[l]; i++)
			free(lists[l][i]);
		free(lists[l]);
	}
}

/* A node starts a long poll asking for want chunks. */
static sc_node *poll_node(sc_core *c, const char *id, int want)
{
	sc_node *n = sc_node_get(c, id);
	n->polling = 1;
	n->want = want;
	return n;
}

/* Hands the outbox over, as /node/work does. */
static size_t take(sc_node *n)
{
	size_t k = n->nout;
	n->nout = 0;
	n->gpus_out = 0;
	n->polling = 0;
	n->want = 0;
	return k;
}

static size_t count_ops(sc_core *c, enum sc_op_kind k, const char *reason_prefix)
{
	size_t n = 0;
	for (sc_op *o = c->ops; o; o = o->next)
		n += o->kind == k && (!reason_prefix || (o->reason && !strncmp(o->reason, reason_prefix,
									       strlen(reason_prefix))));
	return n;
}

static sc_report completed(void)
{
	sc_report r = { .completed = 1, .result = "{\"stats\":{}}" };
	return r;
}

/* ---- statistics ---- */

static double rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / 9007199254740992.0;
}

static void test_chan_merge(void **state)
{
	(void)state;
	uint64_t seed = 42;
	for (int round = 0; round < 20; round++) {
		size_t n = 1000 + (size_t)(rnd(&seed) * 5000);
		double *x = xmalloc(n * sizeof *x), sum = 0, m2 = 0, mn = INFINITY, mx = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			x[i] = 1000.0 + 50.0 * rnd(&seed) * (round % 2 ? 1 : rnd(&seed));
			sum += x[i];
			mn = x[i] < mn ? x[i] : mn;
			mx = x[i] > mx ? x[i] : mx;
		}
		double mean = sum / (double)n;
		for (size_t i = 0; i < n; i++)
			m2 += (x[i] - mean) * (x[i] - mean);
		/* Random pieces, summarised as a chunk would, merged in a random order. */
		sc_stats all = { 0 };
		size_t at = 0;
		while (at < n) {
			size_t len = 1 + (size_t)(rnd(&seed) * 300);
			if (len > n - at)
				len = n - at;
			json_t *a = json_array();
			for (size_t i = 0; i < len; i++)
				assert_int_equal(json_array_append_new(a, json_real(x[at + i])), 0);
			json_t *res = json_pack("{s:{s:o}}", "samples", "v", a);
			sc_stats part;
			char err[160];
			assert_int_equal(sc_stats_from_result(res, &part, err, sizeof err), 0);
			json_decref(res);
			sc_stats_merge(&all, &part);
			sc_stats_release(&part);
			at += len;
		}
		assert_int_equal(all.n, 1);
		const sc_stat *t = &all.v[0];
		assert_true(t->n == (double)n);
		assert_true(fabs(t->mean - mean) <= 1e-12 * fabs(mean));
		assert_true(fabs(t->m2 - m2) <= 1e-12 * m2);
		assert_true(t->min == mn && t->max == mx);
		/* Stored and read back exactly. */
		json_t *js = sc_stats_json(&all);
		char *text = json_dumps(js, JSON_COMPACT);
		sc_stats back;
		assert_int_equal(sc_stats_parse(text, &back), 0);
		assert_true(back.v[0].mean == t->mean && back.v[0].m2 == t->m2);
		double sd = json_real_value(json_object_get(json_object_get(js, "v"), "std"));
		assert_true(fabs(sd - sqrt(m2 / (double)(n - 1))) <= 1e-12 * sd);
		sc_stats_release(&back);
		free(text);
		json_decref(js);
		sc_stats_release(&all);
		free(x);
	}
}

static void test_stats_refused(void **state)
{
	(void)state;
	sc_stats s;
	char err[160];
	json_t *bad[] = {
		json_pack("{s:{s:{s:i}}}", "stats", "x", "n", 1),
		json_pack("{s:{s:[s]}}", "samples", "x", "a"),
		json_pack("{s:{s:{s:f,s:f,s:f,s:f,s:f}}}", "stats", "x", "n", 1.5, "mean", 0.0, "m2",
			  0.0, "min", 0.0, "max", 0.0),
		json_pack("{s:i}", "stats", 3),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(sc_stats_from_result(bad[i], &s, err, sizeof err), -EINVAL);
		json_decref(bad[i]);
	}
	assert_int_equal(sc_stats_from_result(NULL, &s, err, sizeof err), 0);
	assert_int_equal(s.n, 0);
}

/* ---- the state machine ---- */

static void test_chunk_ids(void **state)
{
	(void)state;
	char job[24];
	uint32_t idx;
	assert_int_equal(sc_chunk_id_parse("jb_abc-12", job, &idx), 0);
	assert_string_equal(job, "jb_abc");
	assert_int_equal(idx, 12);
	assert_int_equal(sc_chunk_id_parse("jb_abc-012", job, &idx), -EINVAL);
	assert_int_equal(sc_chunk_id_parse("jb_abc-", job, &idx), -EINVAL);
	assert_int_equal(sc_chunk_id_parse("-1", job, &idx), -EINVAL);
	assert_int_equal(sc_chunk_id_parse("jb_x-1x", job, &idx), -EINVAL);
	assert_int_equal(sc_chunk_id_parse("jb_x-99999999999", job, &idx), -EINVAL);
}

static void test_assign_complete_duplicate(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	uint64_t seq = 0;
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 2);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 3, SC_PRIVATE);
	sc_add_job(&c, j, 0);
	sc_node *nd = poll_node(&c, "nd_a", 4);
	assert_int_equal(sc_dispatch(&c, 0), 2); /* max_parallel */
	assert_int_equal(take(nd), 2);
	assert_int_equal(j->state, JOB_RUNNING);
	sc_check(&c);
	for (uint32_t i = 0; i < 2; i++) {
		sc_report r = completed();
		assert_int_equal(sc_result(&c, "nd_a", "jb_1", i, 1, &r, 1, &seq), SC_ACCEPTED);
	}
	/* The same result again: answered, not applied. */
	sc_report r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_1", 0, 1, &r, 2, &seq), SC_DUPLICATE);
	assert_int_equal(j->count[CK_COMPLETED], 2);
	assert_int_equal(count_ops(&c, OP_COMPLETE, NULL), 2);
	/* Another node, or another attempt, never completes it. */
	r = completed();
	assert_int_equal(sc_result(&c, "nd_b", "jb_1", 2, 1, &r, 2, &seq), SC_LEASE_LOST);
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 3), 1);
	r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_1", 2, 2, &r, 4, &seq), SC_LEASE_LOST);
	r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_1", 2, 1, &r, 4, &seq), SC_ACCEPTED);
	assert_int_equal(j->state, JOB_COMPLETED);
	size_t done = 0;
	for (sc_op *o = c.ops; o; o = o->next)
		done += o->kind == OP_COMPLETE && o->job_done;
	assert_int_equal(done, 1);
	assert_int_equal(sc_result(&c, "nd_a", "jb_none", 0, 1, &r, 4, &seq), SC_UNKNOWN);
	/* Throughput: the 3 accepted completions (not the duplicate) in minute
	 * 0, the last of the hour up to now; by owner; gone an hour later. */
	uint64_t tp[SC_TP_MINUTES], sum = 0;
	int64_t first;
	sc_throughput(&c, NULL, 59999, tp, &first);
	for (size_t i = 0; i < SC_TP_MINUTES; i++)
		sum += tp[i];
	assert_int_equal(first, -59 * 60000);
	assert_int_equal(tp[SC_TP_MINUTES - 1], 3);
	assert_int_equal(sum, 3);
	sc_throughput(&c, "u1", 60000 * 59 + 1, tp, &first);
	assert_int_equal(first, 0);
	assert_int_equal(tp[0], 3);
	sc_throughput(&c, "u2", 59999, tp, &first);
	assert_int_equal(tp[SC_TP_MINUTES - 1], 0);
	sc_throughput(&c, NULL, 60000 * 60, tp, &first);
	sum = 0;
	for (size_t i = 0; i < SC_TP_MINUTES; i++)
		sum += tp[i];
	assert_int_equal(sum, 0);
	sc_check(&c);
	sc_core_release(&c);
}

static void test_offline_lost_node(void **state)
{
	(void)state;
	sc_core c;
	node_info n[2];
	uint64_t seq;
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 1);
	node_set(&n[1], "nd_b", "u1", 1);
	sc_set_nodes(&c, n, 2);
	sc_job *j = job_new("jb_1", "u1", 1, SC_PRIVATE);
	j->max_attempts = 1;
	sc_add_job(&c, j, 0);
	take(poll_node(&c, "nd_a", 1));
	assert_int_equal(sc_dispatch(&c, 0), 0); /* nobody polls */
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	take(c.nodes[0]);
	/* A live node keeps its chunk, however long it runs (leases renewed). */
	assert_int_equal(sc_reap(&c, LEASE / 2), 0);
	json_t *cancel = json_array(), *lost = json_array();
	sc_heartbeat(&c, "nd_a", (const char *[]){ "jb_1-0" }, 1, LEASE / 2, cancel, lost);
	assert_int_equal(json_array_size(cancel) + json_array_size(lost), 0);
	json_decref(cancel);
	json_decref(lost);
	assert_int_equal(sc_reap(&c, LEASE + 1), 0);
	n[0].online = 0;
	assert_int_equal(sc_reap(&c, LEASE + 2), 1);
	assert_int_equal(j->ck[0].state, CK_PENDING);
	assert_int_equal(j->ck[0].failures, 0);
	assert_int_equal(count_ops(&c, OP_ATTEMPT, "lost\tlost_node"), 1);
	/* max_attempts is 1: the lost attempt did not use it up. */
	poll_node(&c, "nd_b", 1);
	assert_int_equal(sc_dispatch(&c, LEASE + 3), 1);
	assert_int_equal(j->ck[0].attempt, 2);
	sc_report r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_1", 0, 1, &r, LEASE + 4, &seq), SC_LEASE_LOST);
	r = completed();
	assert_int_equal(sc_result(&c, "nd_b", "jb_1", 0, 2, &r, LEASE + 4, &seq), SC_ACCEPTED);
	assert_int_equal(j->state, JOB_COMPLETED);
	sc_check(&c);
	sc_core_release(&c);
}

static void test_lease_expiry_and_heartbeat(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 4);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 2, SC_PRIVATE);
	sc_add_job(&c, j, 0);
	poll_node(&c, "nd_a", 2);
	assert_int_equal(sc_dispatch(&c, 0), 2);
	json_t *cancel = json_array(), *lost = json_array();
	/* It reports chunk 0 (renewed) and an unknown one (lost). */
	sc_heartbeat(&c, "nd_a", (const char *[]){ "jb_1-0", "jb_zz-3" }, 2, 1000, cancel, lost);
	assert_int_equal(json_array_size(lost), 1);
	assert_int_equal(json_array_size(cancel), 0);
	assert_int_equal(sc_reap(&c, LEASE + 500), 1); /* chunk 1's lease ran out */
	assert_int_equal(j->ck[1].state, CK_PENDING);
	assert_int_equal(count_ops(&c, OP_ATTEMPT, "lost\tlease_expired"), 1);
	/* Cancelled: the node is told to stop chunk 0. */
	assert_int_equal(sc_cancel(&c, "jb_1", LEASE + 600), 0);
	assert_int_equal(sc_cancel(&c, "jb_1", LEASE + 600), -EALREADY);
	json_array_clear(lost);
	sc_heartbeat(&c, "nd_a", (const char *[]){ "jb_1-0" }, 1, LEASE + 700, cancel, lost);
	assert_int_equal(json_array_size(cancel), 1);
	assert_int_equal(j->count[CK_CANCELLED], 2);
	assert_int_equal(c.nodes[0]->nheld, 0);
	/* Retry reopens them. */
	assert_int_equal(sc_retry(&c, "jb_1", LEASE + 800), 0);
	assert_int_equal(j->count[CK_PENDING], 2);
	sc_check(&c);
	json_decref(cancel);
	json_decref(lost);
	sc_core_release(&c);
}

static void test_max_attempts(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	uint64_t seq;
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 4);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 2, SC_PRIVATE);
	j->max_attempts = 2;
	sc_add_job(&c, j, 0);
	sc_job *child = job_new("jb_2", "u1", 1, SC_PRIVATE);
	child->parents = strv("jb_1", NULL);
	child->nparents = 1;
	sc_add_job(&c, child, 0);
	/* Chunk 0 fails, is pending again and taken before chunk 1 (a chunk
	 * pending again goes first), fails again: it is out of attempts. */
	for (uint32_t a = 1; a <= 2; a++) {
		poll_node(&c, "nd_a", 1);
		assert_int_equal(sc_dispatch(&c, a), 1);
		uint32_t idx = c.nodes[0]->outbox[0].idx;
		assert_int_equal(idx, 0);
		assert_string_equal(c.nodes[0]->outbox[0].job->id, "jb_1"); /* the child waits */
		take(c.nodes[0]);
		sc_report r = { .completed = 0, .reason = "memory", .error = "killed" };
		assert_int_equal(sc_result(&c, "nd_a", "jb_1", idx, j->ck[idx].attempt, &r, a, &seq),
				 SC_ACCEPTED);
		if (a == 1)
			assert_int_equal(j->ck[idx].state, CK_PENDING);
	}
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 3), 0);
	assert_int_equal(j->state, JOB_FAILED);
	assert_int_equal(j->count[CK_FAILED], 1);
	assert_int_equal(count_ops(&c, OP_ATTEMPT, "failed\tmemory"), 2);
	assert_int_equal(j->ck[1].state, CK_CANCELLED);
	const sc_op *last = NULL;
	for (sc_op *o = c.ops; o; o = o->next)
		if (o->kind == OP_JOB && !strcmp(o->job, "jb_1"))
			last = o;
	assert_non_null(last);
	assert_non_null(strstr(last->reason, "after 2 attempts: memory"));
	/* A failed parent fails its child. */
	assert_int_equal(child->state, JOB_FAILED);
	sc_check(&c);
	sc_core_release(&c);
}

static void test_fair_share(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u3", 10);
	n[0].public_use = 1;
	sc_set_nodes(&c, n, 1);
	sc_job *big = job_new("jb_big", "u1", 1000, SC_PUBLIC);
	sc_job *small = job_new("jb_small", "u2", 10, SC_PUBLIC);
	sc_job *urgent = job_new("jb_urgent", "u1", 10, SC_PUBLIC);
	urgent->priority = 5;
	sc_add_job(&c, big, 0);
	sc_add_job(&c, small, 0);
	sc_add_job(&c, urgent, 0);
	poll_node(&c, "nd_a", 10);
	assert_int_equal(sc_dispatch(&c, 0), 10);
	/* Owners alternate; within u1 the higher priority goes first. */
	assert_int_equal(small->count[CK_RUNNING], 5);
	assert_int_equal(urgent->count[CK_RUNNING], 5);
	assert_int_equal(big->count[CK_RUNNING], 0);
	sc_check(&c);
	sc_core_release(&c);
}

static void test_access_rules(void **state)
{
	(void)state;
	sc_core c;
	node_info n[3];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_other", "u2", 4); /* u2's node, open to everyone */
	n[0].public_use = 1;
	node_set(&n[1], "nd_group", "u3", 4); /* u3's node, permitted to group g1 */
	n[1].groups = strv("g1", NULL);
	n[1].ngroups = 1;
	node_set(&n[2], "nd_closed", "u4", 4); /* u4's node, nobody else may use it */
	sc_set_nodes(&c, n, 3);

	/* Private: never on another user's node, even a public one. */
	sc_job *priv = job_new("jb_priv", "u1", 4, SC_PRIVATE);
	assert_false(sc_eligible(priv, &n[0]));
	assert_false(sc_eligible(priv, &n[1]));
	sc_add_job(&c, priv, 0);
	poll_node(&c, "nd_other", 4);
	poll_node(&c, "nd_group", 4);
	poll_node(&c, "nd_closed", 4);
	assert_int_equal(sc_dispatch(&c, 0), 0);

	/* Group job of a member of g1: the g1 node only (the public node is
	 * not permitted to that group, the closed one to nobody). */
	sc_job *grp = job_new("jb_grp", "u1", 4, SC_LIST);
	grp->groups = strv("g1", NULL);
	grp->ngroups = 1;
	grp->owner_groups = strv("g1", NULL);
	grp->nowner_groups = 1;
	assert_false(sc_eligible(grp, &n[0]));
	assert_true(sc_eligible(grp, &n[1]));
	assert_false(sc_eligible(grp, &n[2]));
	/* The same list from someone outside g1: the node's own permission
	 * refuses it. */
	sc_job *outsider = job_new("jb_out", "u5", 1, SC_LIST);
	outsider->groups = strv("g1", NULL);
	outsider->ngroups = 1;
	assert_false(sc_eligible(outsider, &n[1]));
	sc_job_free(outsider);
	sc_add_job(&c, grp, 0);
	assert_int_equal(sc_dispatch(&c, 0), 4);
	assert_int_equal(c.nodes[1]->nheld, 4);

	/* Public: any node the owner may use. */
	sc_job *pub = job_new("jb_pub", "u1", 8, SC_PUBLIC);
	assert_true(sc_eligible(pub, &n[0]));
	assert_false(sc_eligible(pub, &n[2]));
	sc_add_job(&c, pub, 0);
	assert_int_equal(sc_dispatch(&c, 0), 4);
	assert_int_equal(c.nodes[0]->nheld, 4);
	assert_int_equal(c.nodes[2]->nheld, 0);
	assert_int_equal(priv->count[CK_RUNNING], 0);
	sc_check(&c);
	sc_core_release(&c);
	for (int i = 0; i < 3; i++)
		node_release(&n[i]);
}

static void test_pins_and_locality(void **state)
{
	(void)state;
	sc_core c;
	node_info n[3];
	sc_core_init(&c, LEASE, 1 << 20);
	for (int i = 0; i < 3; i++) {
		char id[16];
		snprintf(id, sizeof id, "nd_%d", i);
		node_set(&n[i], id, "u1", 8 - i);
	}
	n[1].datasets = strv("big\tabc", NULL);
	n[1].ndatasets = 1;
	n[2].blobs = strv("aaa", "bbb");
	n[2].nblobs = 2;
	sc_set_nodes(&c, n, 3);
	for (int i = 0; i < 3; i++)
		poll_node(&c, n[i].id, 2);
	/* Pinned to the node holding that content. */
	sc_job *pin = job_new("jb_pin", "u1", 3, SC_PRIVATE);
	pin->pins = strv("big\tabc", NULL);
	pin->npins = 1;
	sc_add_job(&c, pin, 0);
	assert_int_equal(sc_dispatch(&c, 0), 2);
	assert_int_equal(c.nodes[1]->nheld, 2);
	assert_int_equal(c.nodes[0]->nheld + c.nodes[2]->nheld, 0);
	/* Inputs: the node that holds them first, though it has less room. */
	sc_job *in = job_new("jb_in", "u1", 1, SC_PRIVATE);
	in->inputs = strv("bbb", NULL);
	in->ninputs = 1;
	sc_add_job(&c, in, 0);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	assert_int_equal(c.nodes[2]->nheld, 1);
	/* Otherwise the most free slots. */
	sc_job *any = job_new("jb_any", "u1", 1, SC_PRIVATE);
	sc_add_job(&c, any, 0);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	assert_int_equal(c.nodes[0]->nheld, 1);
	/* Draining nodes and GPU needs. */
	n[0].draining = 1;
	sc_job *gpu = job_new("jb_gpu", "u1", 1, SC_PRIVATE);
	gpu->gpus = 1;
	sc_add_job(&c, gpu, 0);
	assert_int_equal(sc_dispatch(&c, 0), 0);
	n[2].gpus = 1;
	c.nodes[2]->want_gpus = 1;
	assert_int_equal(sc_dispatch(&c, 0), 1);
	assert_int_equal(c.nodes[2]->gpus_held, 1);
	sc_check(&c);
	sc_core_release(&c);
	for (int i = 0; i < 3; i++)
		node_release(&n[i]);
}

static void test_logs_capped(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 10);
	node_set(&n[0], "nd_a", "u1", 1);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 1, SC_PRIVATE);
	sc_add_job(&c, j, 0);
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	assert_int_equal(sc_log(&c, "nd_a", "jb_1", 0, 1, 1, "hello", 5, 0), 0);
	assert_int_equal(sc_log(&c, "nd_a", "jb_1", 0, 2, 1, "x", 1, 0), -ESTALE);
	assert_int_equal(sc_log(&c, "nd_b", "jb_1", 0, 1, 1, "x", 1, 0), -ESTALE);
	assert_int_equal(sc_log(&c, "nd_a", "jb_1", 0, 1, 1, "world!", 6, 0), -EFBIG);
	assert_int_equal(sc_log(&c, "nd_a", "jb_1", 0, 1, 1, "a", 1, 0), -EFBIG);
	assert_int_equal(count_ops(&c, OP_LOG, NULL), 2); /* the line and the cap notice */
	sc_core_release(&c);
}

/* A cancelled job stays in memory for a grace period: a node still
 * reporting its chunk is told "cancel" (not "lost"). */
static void test_gc_grace(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 1);
	sc_set_nodes(&c, n, 1);
	sc_add_job(&c, job_new("jb_1", "u1", 1, SC_PRIVATE), 0);
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	assert_int_equal(sc_cancel(&c, "jb_1", 1000), 0);
	sc_gc_jobs(&c, UINT64_MAX, 1000 + SC_GC_GRACE_MS - 1);
	json_t *cancel = json_array(), *lost = json_array();
	sc_heartbeat(&c, "nd_a", (const char *[]){ "jb_1-0" }, 1, 2000, cancel, lost);
	assert_int_equal(json_array_size(cancel), 1);
	assert_int_equal(json_array_size(lost), 0);
	sc_gc_jobs(&c, c.seq - 1, 1000 + SC_GC_GRACE_MS + 1); /* an op not yet durable */
	assert_non_null(sc_job_find(&c, "jb_1"));
	sc_gc_jobs(&c, UINT64_MAX, 1000 + SC_GC_GRACE_MS + 1);
	assert_null(sc_job_find(&c, "jb_1"));
	assert_int_equal(c.count[CK_CANCELLED], 0);
	json_decref(cancel);
	json_decref(lost);
	sc_check(&c);
	sc_core_release(&c);
}

static int64_t test_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct evlog {
	size_t job, chunk;
	char last[512];
};

static void ev_count(void *ctx, const char *topic, const char *owner, const char *json)
{
	struct evlog *e = ctx;
	(void)owner;
	if (strcmp(topic, "job") == 0) {
		e->job++;
		snprintf(e->last, sizeof e->last, "%s", json);
	} else {
		e->chunk++;
	}
}

/* Job progress is announced coalesced (one event per SC_EVENT_US at most,
 * plus state changes), never one per chunk: 2,000 chunks assigned and
 * completed publish no chunk event and a handful of job events. */
static void test_events_coalesced(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	struct evlog ev = { 0 };
	uint64_t seq;
	sc_core_init(&c, LEASE, 1 << 20);
	c.event = ev_count;
	c.event_ctx = &ev;
	node_set(&n[0], "nd_a", "u1", 64);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 2000, SC_PRIVATE);
	int64_t t0 = test_mono_us();
	sc_add_job(&c, j, 0);
	while (j->state != JOB_COMPLETED) {
		sc_node *nd = poll_node(&c, "nd_a", 64);
		assert_true(sc_dispatch(&c, 1) > 0);
		size_t k = nd->nout;
		sc_held got[64];
		memcpy(got, nd->outbox, k * sizeof *got);
		take(nd);
		for (size_t i = 0; i < k; i++) {
			sc_report r = completed();
			assert_int_equal(sc_result(&c, "nd_a", "jb_1", got[i].idx, 1, &r, 2, &seq),
					 SC_ACCEPTED);
		}
		sc_op_free(sc_ops_take(&c));
	}
	int64_t ms = (test_mono_us() - t0) / 1000;
	assert_int_equal(ev.chunk, 0);
	/* running, completed, and at most one progress event per 100 ms. */
	assert_true(ev.job >= 2);
	assert_true(ev.job <= 2 + (size_t)(ms / (SC_EVENT_US / 1000)) + 1);
	assert_non_null(strstr(ev.last, "\"state\":\"completed\",\"completed_chunks\":2000"));
	assert_int_equal(c.ev_dirty, 0);
	/* A burst inside one window is announced by the flush. */
	sc_job *k = job_new("jb_2", "u1", 10, SC_PRIVATE);
	sc_add_job(&c, k, 0);
	poll_node(&c, "nd_a", 64);
	assert_int_equal(sc_dispatch(&c, 3), 10);
	size_t before = ev.job;
	k->ev_us = test_mono_us(); /* as if just announced */
	sc_report r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_2", 0, 1, &r, 4, &seq), SC_ACCEPTED);
	assert_int_equal(ev.job, before);
	assert_int_equal(c.ev_dirty, 1);
	assert_int_equal(sc_events_flush(&c, k->ev_us + 1), 1); /* too soon */
	assert_int_equal(sc_events_flush(&c, k->ev_us + SC_EVENT_US), 0);
	assert_int_equal(ev.job, before + 1);
	assert_non_null(strstr(ev.last, "\"running\":9,\"completed\":1"));
	sc_check(&c);
	sc_core_release(&c);
}

/* A job's pending chunks are a range plus a ring of chunks pending again:
 * a 1,000,000-chunk job allocates no queue; a lost chunk runs first. */
static void test_range_queue(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 4);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_big", "u1", SCHED_CHUNKS_MAX, SC_PRIVATE);
	sc_add_job(&c, j, 0);
	assert_int_equal(j->rqcap, 0);
	assert_int_equal(sc_queued(j), SCHED_CHUNKS_MAX);
	poll_node(&c, "nd_a", 4);
	assert_int_equal(sc_dispatch(&c, 0), 4);
	take(c.nodes[0]);
	n[0].online = 0;
	assert_int_equal(sc_reap(&c, 1), 4);
	n[0].online = 1;
	assert_int_equal(sc_queued(j), SCHED_CHUNKS_MAX);
	poll_node(&c, "nd_a", 1);
	assert_int_equal(sc_dispatch(&c, 2), 1);
	assert_true(c.nodes[0]->outbox[0].idx < 4);
	assert_int_equal(j->ck[c.nodes[0]->outbox[0].idx].attempt, 2);
	take(c.nodes[0]);
	sc_check(&c);
	assert_int_equal(sc_cancel(&c, "jb_big", 3), 0);
	assert_int_equal(sc_queued(j), 0);
	sc_check(&c);
	sc_core_release(&c);
}

/* Assignment latency runs from when the chunk could be assigned (pending,
 * and an eligible node with a slot polling) to the handover, not from
 * when it became pending: a chunk that waited 5 s for a slot counts its
 * wait in the queue-wait histogram only. */
static void test_latency_measure(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	uint64_t seq;
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 1);
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 3, SC_PRIVATE);
	sc_add_job(&c, j, 0);
	int64_t old = test_mono_us() - 5000000;
	for (uint32_t i = 0; i < 3; i++)
		j->ck[i].pending_us = old;
	/* A node that starts polling now. */
	sc_node *nd = sc_node_get(&c, "nd_a");
	sc_poll_begin(&c, nd, 1, 0);
	assert_int_equal(sc_dispatch(&c, 0), 1);
	sc_handed(&c, nd, 1);
	sc_poll_end(&c, nd);
	assert_int_equal(c.lat.n, 1);
	assert_true(c.lat.sum_us < 1000000);
	assert_int_equal(c.qwait.n, 1);
	assert_true(c.qwait.sum_us >= 5000000);
	/* A node polling for 5 s while full: chunk 1 is assignable once chunk
	 * 0's result frees the slot. */
	sc_poll_begin(&c, nd, 1, 0);
	nd->wait_us = old;
	assert_int_equal(sc_dispatch(&c, 0), 0);
	sc_report r = completed();
	assert_int_equal(sc_result(&c, "nd_a", "jb_1", 0, 1, &r, 1, &seq), SC_ACCEPTED);
	assert_int_equal(sc_dispatch(&c, 1), 1);
	sc_handed(&c, nd, 1);
	sc_poll_end(&c, nd);
	assert_int_equal(c.lat.n, 2);
	assert_true(c.lat.sum_us < 2000000);
	assert_int_equal(nd->polling, 0);
	sc_check(&c);
	sc_core_release(&c);
}

/* A work reply too big for all its chunks hands over the first ones; the
 * others stay in the outbox for the node's next poll. */
static void test_partial_handover(void **state)
{
	(void)state;
	sc_core c;
	node_info n[1];
	sc_core_init(&c, LEASE, 1 << 20);
	node_set(&n[0], "nd_a", "u1", 4);
	n[0].gpus = 4;
	sc_set_nodes(&c, n, 1);
	sc_job *j = job_new("jb_1", "u1", 3, SC_PRIVATE);
	j->gpus = 1;
	sc_add_job(&c, j, 0);
	sc_node *nd = sc_node_get(&c, "nd_a");
	sc_poll_begin(&c, nd, 4, 4);
	assert_int_equal(sc_dispatch(&c, 0), 3);
	uint32_t third = nd->outbox[2].idx;
	sc_handed(&c, nd, 2);
	sc_poll_end(&c, nd);
	assert_int_equal(nd->nout, 1);
	assert_int_equal(nd->outbox[0].idx, third);
	assert_int_equal(nd->gpus_out, 1);
	assert_int_equal(c.lat.n, 2);
	/* The next poll gets it at once, and nothing more is assigned. */
	sc_poll_begin(&c, nd, 4, 4);
	assert_int_equal(sc_dispatch(&c, 1), 0);
	sc_handed(&c, nd, nd->nout);
	sc_poll_end(&c, nd);
	assert_int_equal(nd->nout + (size_t)nd->gpus_out, 0);
	assert_int_equal(nd->nheld, 3);
	sc_check(&c);
	sc_core_release(&c);
}

/* Jobs are found by id through an index; it follows adds and removals. */
static void test_job_index(void **state)
{
	(void)state;
	sc_core c;
	sc_core_init(&c, LEASE, 1 << 20);
	char id[24];
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof id, "jb_%d", i);
		sc_job *j = job_new(id, i % 2 ? "u1" : "u2", 1, SC_PRIVATE);
		sc_add_job(&c, j, 0);
		if (i % 3 == 0)
			assert_int_equal(sc_cancel(&c, id, 10), 0);
	}
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof id, "jb_%d", i);
		sc_job *j = sc_job_find(&c, id);
		assert_non_null(j);
		assert_string_equal(j->id, id);
	}
	assert_null(sc_job_find(&c, "jb_300"));
	sc_gc_jobs(&c, UINT64_MAX, 10 + SC_GC_GRACE_MS + 1);
	assert_int_equal(c.njobs, 200);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof id, "jb_%d", i);
		if (i % 3 == 0)
			assert_null(sc_job_find(&c, id));
		else
			assert_non_null(sc_job_find(&c, id));
	}
	sc_check(&c);
	sc_core_release(&c);
}

/* ---- retention of configs (sched_store.c) ---- */

static void test_configs_gc(void **state)
{
	(void)state;
	char dir[] = "/tmp/sentinel-sched-test.XXXXXX", url[256], err[256], cmd[160];
	const store_domain *const d[] = { &sched_store_domain };
	store_opts so = { .domains = d, .ndomains = 1 };
	store *st = NULL;
	store_conn *c = NULL;
	int64_t removed = -1;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(test_db_url(dir, "s.db", url, sizeof url), 0);
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);
	assert_int_equal(store_acquire(st, &c), 0);
	/* old and unused, old and used by a job, recent and unused; a job without config. */
	assert_int_equal(store_exec(c, "INSERT INTO configs (sha256, body, created_at) VALUES"
				    " ('old', '{}', 100), ('used', '{}', 100), ('new', '{}', 5000)",
				    NULL, SNOARGS), 0);
	assert_int_equal(store_exec(c, "INSERT INTO jobs (id, name, owner_id, state, priority,"
				    " access, tmpl, config_sha256, chunk_size, nchunks, max_attempts,"
				    " gpus, created_at) VALUES ('j1', 'a', 'u', 'completed', 0, '{}', '{}',"
				    " 'used', 1, 1, 3, 0, 1), ('j2', 'b', 'u', 'completed', 0, '{}', '{}',"
				    " NULL, 1, 1, 3, 0, 1)", NULL, SNOARGS), 0);
	store_release(&c);
	assert_int_equal(sched_configs_gc(st, 1000, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM configs WHERE sha256 = 'old'"), 0);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM configs"), 2);
	/* Past every cutoff, a referenced config stays. */
	assert_int_equal(sched_configs_gc(st, INT64_MAX, &removed), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM configs WHERE sha256 = 'used'"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM configs"), 1);
	store_free(&st);
	test_db_drop(url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* The scheduler's store at url with its migrations up to n (0: all). */
static store *open_sched_at(const char *url, int n)
{
	store_domain dom = sched_store_domain;
	if (n)
		dom.n = n;
	const store_domain *const d[] = { &dom };
	store_opts so = { .domains = d, .ndomains = 1 };
	store *st = NULL;
	char err[256];
	assert_int_equal(store_open(url, &so, &st, err, sizeof err), 0);
	return st;
}

/* Runs sql (statements without results) on a store at migration n, then
 * opens it at the last one: the caller checks and frees it. */
static store *migrated(const char *dir, char *url, size_t len, int n, const char *const *sql,
		       size_t nsql)
{
	assert_int_equal(test_db_url(dir, "s.db", url, len), 0);
	store *st = open_sched_at(url, n);
	store_conn *c = NULL;
	assert_int_equal(store_acquire(st, &c), 0);
	for (size_t i = 0; i < nsql; i++)
		assert_int_equal(store_exec(c, sql[i], NULL, SNOARGS), 0);
	store_release(&c);
	store_free(&st);
	return open_sched_at(url, 0);
}

static void drop_dir(const char *dir, const char *url)
{
	char cmd[160];
	test_db_drop(url);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* Migration 4: a store written before it has a row for each running
 * attempt; the migration folds it into its chunk (started_at) and removes
 * it, since a running attempt is now the chunk's row alone; the failed
 * attempt stays (and migration 5 folds the completed one). */
static void test_running_attempts_folded(void **state)
{
	(void)state;
	char dir[] = "/tmp/sentinel-sched-test.XXXXXX", url[256];
	static const char *const sql[] = {
		"INSERT INTO jobs (id, name, owner_id, state, priority, access, tmpl, chunk_size,"
		" nchunks, max_attempts, gpus, created_at) VALUES ('j1', 'a', 'u', 'running', 0,"
		" '{}', '{}', 1, 2, 3, 0, 1)",
		"INSERT INTO chunks (job_id, idx, state, attempt, node_id, lease_until) VALUES"
		" ('j1', 0, 'running', 2, 'nd_a', 9000), ('j1', 1, 'completed', 1, NULL, NULL)",
		"INSERT INTO attempts (job_id, idx, attempt, node_id, state, started_at, finished_at)"
		" VALUES ('j1', 0, 1, 'nd_a', 'failed', 100, 200), ('j1', 0, 2, 'nd_a', 'running',"
		" 500, NULL), ('j1', 1, 1, 'nd_b', 'completed', 300, 400)",
	};
	assert_non_null(mkdtemp(dir));
	store *st = migrated(dir, url, sizeof url, 3, sql, sizeof sql / sizeof sql[0]);
	assert_int_equal(test_db_int(st, "SELECT started_at FROM chunks WHERE idx = 0"), 500);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM attempts WHERE state = 'running'"), 0);
	/* ... and, at 5, the completed attempt became its chunk's row. */
	assert_int_equal(test_db_int(st, "SELECT started_at FROM chunks WHERE idx = 1"), 300);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM attempts"), 1);
	store_free(&st);
	drop_dir(dir, url);
}

/* Migration 5: a chunk's completed attempt moves into its chunk's row
 * (node, started_at, sandbox); its other attempts stay rows of attempts;
 * a chunk completed by another attempt than the row's keeps the row. */
static void test_completed_attempts_folded(void **state)
{
	(void)state;
	char dir[] = "/tmp/sentinel-sched-test.XXXXXX", url[256];
	static const char *const sql[] = {
		"INSERT INTO jobs (id, name, owner_id, state, priority, access, tmpl, chunk_size,"
		" nchunks, max_attempts, gpus, created_at) VALUES ('j1', 'a', 'u', 'completed', 0,"
		" '{}', '{}', 1, 3, 3, 0, 1)",
		"INSERT INTO chunks (job_id, idx, state, attempt, result, finished_at) VALUES"
		" ('j1', 0, 'completed', 2, '{}', 400), ('j1', 1, 'completed', 1, '{}', 700),"
		" ('j1', 2, 'completed', 3, '{}', 900)",
		"INSERT INTO attempts (job_id, idx, attempt, node_id, state, started_at, finished_at,"
		" sandbox) VALUES ('j1', 0, 1, 'nd_a', 'failed', 100, 200, NULL),"
		" ('j1', 0, 2, 'nd_b', 'completed', 300, 400, '{\"rss\":7}'),"
		" ('j1', 1, 1, 'nd_c', 'completed', 600, 700, NULL),"
		" ('j1', 2, 2, 'nd_c', 'completed', 800, 850, NULL)",
	};
	assert_non_null(mkdtemp(dir));
	store *st = migrated(dir, url, sizeof url, 4, sql, sizeof sql / sizeof sql[0]);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM chunks WHERE idx = 0 AND"
					 " node_id = 'nd_b' AND started_at = 300 AND finished_at = 400"
					 " AND sandbox = '{\"rss\":7}'"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM chunks WHERE idx = 1 AND"
					 " node_id = 'nd_c' AND started_at = 600"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM chunks WHERE idx = 2 AND"
					 " node_id IS NULL"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM attempts WHERE idx = 0 AND"
					 " state = 'failed'"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM attempts WHERE idx = 2"), 1);
	assert_int_equal(test_db_int(st, "SELECT COUNT(*) FROM attempts"), 2);
	store_free(&st);
	drop_dir(dir, url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chan_merge),
		cmocka_unit_test(test_stats_refused),
		cmocka_unit_test(test_chunk_ids),
		cmocka_unit_test(test_assign_complete_duplicate),
		cmocka_unit_test(test_offline_lost_node),
		cmocka_unit_test(test_lease_expiry_and_heartbeat),
		cmocka_unit_test(test_max_attempts),
		cmocka_unit_test(test_fair_share),
		cmocka_unit_test(test_access_rules),
		cmocka_unit_test(test_pins_and_locality),
		cmocka_unit_test(test_logs_capped),
		cmocka_unit_test(test_gc_grace),
		cmocka_unit_test(test_events_coalesced),
		cmocka_unit_test(test_range_queue),
		cmocka_unit_test(test_latency_measure),
		cmocka_unit_test(test_job_index),
		cmocka_unit_test(test_partial_handover),
		cmocka_unit_test(test_configs_gc),
		cmocka_unit_test(test_running_attempts_folded),
		cmocka_unit_test(test_completed_attempts_folded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
