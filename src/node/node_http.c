/* The registry's routes: register and heartbeat (signed, HTTP_NODE) and
 * the user routes (list, show, claim, PATCH, drain, DELETE). docs/jobs.md
 * is the contract. A member who may not see a node gets the answer of a
 * missing one (404). Reads come from the in-memory table; the store is
 * asked only for names (users, groups) and the caller's groups. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth/auth.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/sig.h"
#include "base/util.h"
#include "node/node_int.h"

#define NAME_MAX_LEN 128

static int store_rc(int rc)
{
	if (rc == STORE_EBUSY)
		return -ETIMEDOUT;
	if (rc == STORE_ECONSTRAINT)
		return -EEXIST;
	return rc < -1000 ? -EIO : rc;
}

static void set_target(http_req *req, const char *id)
{
	char t[40];
	snprintf(t, sizeof t, "node:%s", id);
	http_req_set_target(req, t);
}

/* A name as users see it: 1..128 bytes, no control characters (jansson
 * strings are already valid UTF-8). */
static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NAME_MAX_LEN)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

static int hex64_ok(const char *s)
{
	if (!s || strlen(s) != 64)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int bad(http_req *req, const char *fmt, const char *field)
{
	http_reply_error(req, 400, "bad_request", fmt, field);
	return -EINVAL;
}

/* ---- bodies from nodes ---- */

/* The facts a node reports: integers into facts (kept fields of old
 * where the body lacks them), strings only from register. */
static int read_facts(http_req *req, const json_t *old, int with_strings, json_t **out)
{
	static const struct { const char *k; int64_t max; } ints[] = {
		{ "cores", 1 << 20 }, { "memory_mb", (int64_t)1 << 40 }, { "gpus", 1024 },
		{ "max_parallel", 1 << 16 },
	};
	json_t *f = old ? json_deep_copy(old) : json_object();
	int rc = f ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < sizeof ints / sizeof ints[0]; i++) {
		int64_t v = -1;
		if ((rc = http_body_int(req, ints[i].k, 0, 0, ints[i].max, &v)))
			break;
		if (v >= 0 && json_object_set_new(f, ints[i].k, json_integer(v)))
			rc = -ENOMEM;
	}
	static const char *const strs[] = { "platform", "version" };
	for (size_t i = 0; rc == 0 && with_strings && i < 2; i++) {
		const char *s = NULL;
		if ((rc = http_body_str(req, strs[i], 0, NAME_MAX_LEN, &s)))
			break;
		if (s && json_object_set_new(f, strs[i], json_string(s)))
			rc = -ENOMEM;
	}
	if (rc) {
		json_decref(f);
		if (rc == -ENOMEM)
			http_reply_errno(req, rc, "cannot read the node's facts");
		return rc;
	}
	*out = f;
	return 0;
}

/* "datasets": [{"name","manifest_sha256","bytes"?,"files"?,"path"?}],
 * kept with those fields only. Absent: *out NULL. */
static int read_datasets(http_req *req, json_t **out)
{
	json_t *a = json_object_get(http_req_json(req), "datasets"), *d, *o = NULL;
	size_t i;
	*out = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > NODE_DATASETS_MAX)
		return bad(req, "field '%s' must be an array of at most 1024 datasets", "datasets");
	if (!(o = json_array()))
		goto nomem;
	json_array_foreach(a, i, d) {
		const char *name = json_string_value(json_object_get(d, "name"));
		const char *sha = json_string_value(json_object_get(d, "manifest_sha256"));
		const char *path = json_string_value(json_object_get(d, "path"));
		json_t *bytes = json_object_get(d, "bytes"), *files = json_object_get(d, "files");
		if (!json_is_object(d) || !name || !name_ok(name) || strchr(name, '\t') ||
		    !hex64_ok(sha) || (path && strlen(path) > 4096) ||
		    (bytes && (!json_is_integer(bytes) || json_integer_value(bytes) < 0)) ||
		    (files && (!json_is_integer(files) || json_integer_value(files) < 0))) {
			json_decref(o);
			return bad(req, "each of '%s' needs a name and a manifest_sha256 (64 lower-case"
				   " hex); bytes and files are counts", "datasets");
		}
		json_t *e = json_pack("{s:s,s:s,s:I,s:I,s:s?}", "name", name, "manifest_sha256", sha,
				      "bytes", (json_int_t)(bytes ? json_integer_value(bytes) : 0),
				      "files", (json_int_t)(files ? json_integer_value(files) : 0),
				      "path", path);
		if (!e || json_array_append_new(o, e)) {
			json_decref(o);
			goto nomem;
		}
	}
	*out = o;
	return 0;
nomem:
	http_reply_errno(req, -ENOMEM, "cannot read the datasets");
	return -ENOMEM;
}

/* A string array field (absent: *v NULL, *n 0); each must pass ok. */
static int read_strv(http_req *req, const char *field, size_t max, int (*ok)(const char *),
		     char ***v, size_t *n)
{
	json_t *a = json_object_get(http_req_json(req), field), *x;
	size_t i;
	*v = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > max)
		return bad(req, "field '%s' must be an array of strings (bounded)", field);
	json_array_foreach(a, i, x)
		if (!json_is_string(x) || !ok(json_string_value(x)))
			return bad(req, "field '%s' holds a malformed entry", field);
	char **o = xcalloc(json_array_size(a) + 1, sizeof *o);
	json_array_foreach(a, i, x)
		o[i] = xstrdup(json_string_value(x));
	*v = o;
	*n = json_array_size(a);
	return 0;
}

static int any_ok(const char *s)
{
	return strlen(s) <= 256;
}

static int strv_equal(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *reg_json(node_reg *r, const struct node_rec *rec, int64_t now)
{
	/* heartbeat_s is rounded up (older agents read it); heartbeat_ms is exact. */
	return json_pack("{s:s,s:s,s:s,s:s?,s:I,s:I,s:I}", "node_id", rec->id, "claim_code",
			 rec->claim, "state", node_public_state(r, rec, now), "owner",
			 *rec->owner ? rec->owner : NULL, "heartbeat_s",
			 (json_int_t)((r->cfg.heartbeat_ms + 999) / 1000), "heartbeat_ms",
			 (json_int_t)r->cfg.heartbeat_ms, "node_timeout_s",
			 (json_int_t)(r->cfg.node_timeout_ms / 1000));
}

/* POST /api/v1/node/register: idempotent. A new key becomes a pending
 * node; a known one updates its facts and datasets (and its name while
 * pending: once claimed, the name is the owner's). */
static void h_register(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const node_caller *me = node_caller_of(req);
	const char *name = NULL;
	json_t *facts = NULL, *datasets = NULL, *reply = NULL;
	char *facts_s = NULL, *ds_s = NULL, what[16] = "";
	uint8_t pub[SN_SIG_PUB];
	char hex[2 * SN_SIG_PUB + 1];
	store_conn *c = NULL;
	int rc;
	if (!me || !node_body_ok(req))
		return;
	if (http_body_str(req, "name", 0, NAME_MAX_LEN, &name) ||
	    (name && !name_ok(name) && bad(req, "field '%s' must be 1 to 128 printable characters",
					   "name")) ||
	    read_facts(req, NULL, 1, &facts) || read_datasets(req, &datasets))
		goto out;
	if (!datasets && !(datasets = json_array())) {
		http_reply_errno(req, -ENOMEM, NULL);
		goto out;
	}
	if (sn_unhex(http_req_header(req, SN_SIG_HDR_KEY), pub, sizeof pub)) {
		http_reply_error(req, 400, "bad_request", "malformed %s", SN_SIG_HDR_KEY);
		goto out;
	}
	sn_hex(pub, sizeof pub, hex);
	facts_s = json_dumps(facts, JSON_COMPACT);
	ds_s = json_dumps(datasets, JSON_COMPACT);
	if (!facts_s || !ds_s) {
		http_reply_errno(req, -ENOMEM, "cannot encode the node's facts");
		goto out;
	}
	set_target(req, me->id);
	int64_t now = node_now_ms(r);
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = node_find(r, me->id);
	int known = rec != NULL, full = r->npending >= NODE_PENDING_MAX;
	/* A pending agent registers again and again until claimed: the same
	 * facts cost no write. */
	int same = known && json_equal(facts, rec->facts) && json_equal(datasets, rec->datasets) &&
		   (!name || rec->state != NODE_PENDING || strcmp(name, rec->name) == 0);
	pthread_mutex_unlock(&r->mu);
	if (!known && full) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_header(req, "Retry-After", "60");
		http_reply_error(req, 503, "busy", "too many unclaimed nodes: claim or remove some first");
		goto out;
	}
	rc = same ? 0 : store_acquire(r->st, &c);
	if (rc == 0 && !known)
		rc = store_exec(c, "INSERT INTO nodes (id, pubkey, name, state, facts, datasets,"
				" created_at) VALUES ($1,$2,$3,'pending',$4,$5,$6)", NULL,
				SARGS(SA_TEXT(me->id), SA_TEXT(hex), SA_TEXT(name ? name : me->id),
				      SA_TEXT(facts_s), SA_TEXT(ds_s), SA_INT(now)));
	else if (rc == 0 && !same)
		rc = store_exec(c, "UPDATE nodes SET facts = $2, datasets = $3, name = CASE WHEN"
				" state = 'pending' AND $4 <> '' THEN $4 ELSE name END WHERE id = $1",
				NULL, SARGS(SA_TEXT(me->id), SA_TEXT(facts_s), SA_TEXT(ds_s),
					    SA_TEXT(name ? name : "")));
	store_release(&c);
	if (rc) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_errno(req, store_rc(rc), "cannot register the node");
		goto out;
	}
	pthread_mutex_lock(&r->mu);
	if (!(rec = node_find(r, me->id))) {
		rec = node_rec_new();
		sn_strlcpy(rec->id, me->id, sizeof rec->id);
		sn_strlcpy(rec->pubkey, hex, sizeof rec->pubkey);
		sn_strlcpy(rec->name, name ? name : me->id, sizeof rec->name);
		sn_sig_claim_code(pub, rec->claim);
		rec->state = NODE_PENDING;
		rec->created_at = now;
		node_insert(r, rec);
		sn_strlcpy(what, "registered", sizeof what);
	} else {
		if (rec->state == NODE_PENDING && name)
			sn_strlcpy(rec->name, name, sizeof rec->name);
		if (rec->state == NODE_CLAIMED)
			sn_strlcpy(what, "updated", sizeof what);
	}
	json_decref(rec->facts);
	json_decref(rec->datasets);
	rec->facts = facts;
	rec->datasets = datasets;
	facts = datasets = NULL;
	struct node_lists *nl = node_lists_dup(rec->lists);
	node_strv_free(nl->datasets, nl->ndatasets);
	nl->datasets = node_datasets_strv(rec->datasets, &nl->ndatasets);
	node_lists_set(rec, nl);
	reply = reg_json(r, rec, now);
	char owner[48], nm[130];
	sn_strlcpy(owner, rec->owner, sizeof owner);
	sn_strlcpy(nm, rec->name, sizeof nm);
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&r->wmu);
	/* A pending agent registers again until it is claimed: only the first
	 * registration and updates of claimed nodes are worth an audit row. */
	if (*what)
		node_announce(r, me->id, owner, nm, what);
	else
		http_req_set_audited(req);
	http_reply_json(req, 200, reply);
out:
	json_decref(facts);
	json_decref(datasets);
	free(facts_s);
	free(ds_s);
}

/* What a heartbeat brings, read before the registry is locked. */
struct beat {
	json_t *facts;       /* the integer facts (merged with the stored strings later) */
	json_t *datasets;    /* NULL: not sent */
	char **blobs;    size_t nblobs;    int has_blobs;
	char **runtimes; size_t nruntimes; int has_runtimes;
	int running, gpus_free, draining;
	double load1;
};

static void beat_release(struct beat *b)
{
	json_decref(b->facts);
	json_decref(b->datasets);
	node_strv_free(b->blobs, b->nblobs);
	node_strv_free(b->runtimes, b->nruntimes);
}

static int read_beat(http_req *req, struct beat *b)
{
	json_t *body = http_req_json(req);
	json_t *running = json_object_get(body, "running"), *load = json_object_get(body, "load1");
	int64_t gf = 0;
	int dr = 0;
	if (read_facts(req, NULL, 0, &b->facts) || read_datasets(req, &b->datasets) ||
	    read_strv(req, "blobs", NODE_BLOBS_MAX, hex64_ok, &b->blobs, &b->nblobs) ||
	    read_strv(req, "runtimes", NODE_RUNTIMES_MAX, any_ok, &b->runtimes, &b->nruntimes) ||
	    http_body_int(req, "gpus_free", 0, 0, 1024, &gf) || http_body_bool(req, "draining", 0, &dr))
		return -EINVAL;
	if (running && !json_is_array(running))
		return bad(req, "field '%s' must be an array of chunk ids", "running");
	if (load && !json_is_number(load))
		return bad(req, "field '%s' must be a number", "load1");
	b->has_blobs = json_object_get(body, "blobs") != NULL;
	b->has_runtimes = json_object_get(body, "runtimes") != NULL;
	if (b->blobs)
		qsort(b->blobs, b->nblobs, sizeof *b->blobs, cmp_str);
	b->running = (int)json_array_size(running);
	b->gpus_free = (int)gf;
	b->draining = dr;
	b->load1 = load ? json_number_value(load) : 0;
	return 0;
}

/* POST /api/v1/node/heartbeat: the facts go to memory at once and to the
 * store when they changed, or every NODE_HB_STORE_MS for last_heartbeat;
 * then the listener fills "cancel" and "lost". Not audited: it is the
 * steady beat of every node, not a change anyone made. */
static void h_heartbeat(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const node_caller *me = node_caller_of(req);
	struct beat b = { 0 };
	char *facts_s = NULL, *ds_s = NULL, *blobs_s = NULL, owner[48] = "", nm[130] = "";
	const char *became = NULL;
	json_t *reply = NULL;
	http_req_set_audited(req);
	if (!me || !node_body_ok(req) || read_beat(req, &b))
		goto out;
	int64_t now = node_now_ms(r);
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = node_find(r, me->id);
	if (!rec || rec->state != NODE_CLAIMED) {
		pthread_mutex_unlock(&r->mu);
		http_reply_error(req, 403, "node_removed", "this node is no longer registered");
		goto out;
	}
	/* The strings (platform, version) come from register only. */
	json_t *facts = json_deep_copy(rec->facts);
	const char *k;
	json_t *v;
	int nomem = !facts;
	json_object_foreach(b.facts, k, v)
		if (!nomem && json_object_set(facts, k, v))
			nomem = 1;
	if (nomem) {
		pthread_mutex_unlock(&r->mu);
		json_decref(facts);
		http_reply_errno(req, -ENOMEM, "cannot read the heartbeat");
		goto out;
	}
	int changed = !json_equal(facts, rec->facts);
	struct node_lists *old = rec->lists, *nl = NULL;
	int ds_changed = b.datasets && !json_equal(b.datasets, rec->datasets);
	int blobs_changed = b.has_blobs && !strv_equal(b.blobs, b.nblobs, old->blobs, old->nblobs);
	int rt_changed = b.has_runtimes &&
			 !strv_equal(b.runtimes, b.nruntimes, old->runtimes, old->nruntimes);
	if (ds_changed || blobs_changed || rt_changed) {
		nl = node_lists_dup(old);
		if (ds_changed) {
			json_decref(rec->datasets);
			rec->datasets = b.datasets;
			b.datasets = NULL;
			node_strv_free(nl->datasets, nl->ndatasets);
			nl->datasets = node_datasets_strv(rec->datasets, &nl->ndatasets);
		}
		if (blobs_changed) {
			node_strv_free(nl->blobs, nl->nblobs);
			nl->blobs = b.blobs;
			nl->nblobs = b.nblobs;
			b.blobs = NULL;
			b.nblobs = 0;
		}
		if (rt_changed) {
			node_strv_free(nl->runtimes, nl->nruntimes);
			nl->runtimes = b.runtimes;
			nl->nruntimes = b.nruntimes;
			b.runtimes = NULL;
			b.nruntimes = 0;
		}
		node_lists_set(rec, nl);
	}
	if (changed) {
		json_decref(rec->facts);
		rec->facts = facts;
		facts = NULL;
	}
	json_decref(facts);
	/* Offline by node_online() though no tick has announced it yet: both
	 * changes are announced, in order, so that no listener misses one. */
	int was_online = node_online(r, rec->last_heartbeat, now);
	int lapsed = rec->online && !was_online;
	rec->last_heartbeat = now;
	rec->running = b.running;
	rec->gpus_free = b.gpus_free;
	rec->load1 = b.load1;
	if (!rec->online || !was_online) {
		rec->online = 1;
		became = "online";
	} else if (b.draining != rec->node_draining) {
		became = b.draining ? "drained" : "resumed";
	}
	rec->node_draining = b.draining;
	int persist = changed || ds_changed || blobs_changed ||
		      now - rec->stored_heartbeat >= NODE_HB_STORE_MS;
	if (persist) {
		rec->stored_heartbeat = now;
		facts_s = json_dumps(rec->facts, JSON_COMPACT);
		ds_s = json_dumps(rec->datasets, JSON_COMPACT);
		json_t *bl = node_strv_json(rec->lists->blobs, rec->lists->nblobs);
		blobs_s = bl ? json_dumps(bl, JSON_COMPACT) : NULL;
		json_decref(bl);
	}
	sn_strlcpy(owner, rec->owner, sizeof owner);
	sn_strlcpy(nm, rec->name, sizeof nm);
	node_listener l = r->l;
	char lead[sizeof r->leader_url];
	sn_strlcpy(lead, http_req_relayed(req) ? r->leader_url : "", sizeof lead);
	pthread_mutex_unlock(&r->mu);
	if (persist) {
		store_conn *c = NULL;
		int rc = facts_s && ds_s && blobs_s ? store_acquire(r->st, &c) : -ENOMEM;
		if (rc == 0)
			rc = store_exec(c, "UPDATE nodes SET facts = $2, datasets = $3, blobs = $4,"
					" last_heartbeat = $5 WHERE id = $1", NULL,
					SARGS(SA_TEXT(me->id), SA_TEXT(facts_s), SA_TEXT(ds_s),
					      SA_TEXT(blobs_s), SA_INT(now)));
		store_release(&c);
		/* The memory is right; the store catches up on a later beat. */
		if (rc)
			log_warn("node: cannot store the heartbeat of %s: %d", me->id, rc);
	}
	if (lapsed)
		node_announce(r, me->id, owner, nm, "offline");
	if (became)
		node_announce(r, me->id, owner, nm, became);
	reply = json_pack("{s:[],s:[],s:I,s:I}", "cancel", "lost", "heartbeat_s",
			  (json_int_t)((r->cfg.heartbeat_ms + 999) / 1000), "heartbeat_ms",
			  (json_int_t)r->cfg.heartbeat_ms);
	int rc = reply ? 0 : -ENOMEM;
	if (rc == 0 && *lead && json_object_set_new(reply, "leader_url", json_string(lead)))
		rc = -ENOMEM;
	if (rc == 0 && l.heartbeat)
		rc = l.heartbeat(l.ctx, me->id, http_req_json(req), reply);
	if (rc) {
		http_reply_errno(req, rc, "cannot process the heartbeat");
		goto out;
	}
	http_reply_json(req, 200, reply);
	reply = NULL;
out:
	json_decref(reply);
	beat_release(&b);
	free(facts_s);
	free(ds_s);
	free(blobs_s);
}

size_t node_agent_routes(node_reg *r, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/node/register", h_register, HTTP_NODE, 0, "node.register", 0, r },
		{ "POST", "/api/v1/node/heartbeat", h_heartbeat, HTTP_NODE, 0, NULL, 0, r },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}

/* ---- user routes ---- */

/* The caller and the ids of their groups. */
struct who {
	const auth_user *u;
	int admin;
	char **groups;
	size_t ngroups;
};

static void who_release(struct who *w)
{
	node_strv_free(w->groups, w->ngroups);
}

static int who_of(node_reg *r, http_req *req, struct who *w)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	memset(w, 0, sizeof *w);
	w->u = auth_caller(req);
	w->admin = w->u->role >= ROLE_ADMIN;
	int rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT group_id FROM group_members WHERE user_id = $1", &rows,
				 SARGS(SA_TEXT(w->u->id)));
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		w->groups = xrealloc(w->groups, (w->ngroups + 1) * sizeof *w->groups);
		w->groups[w->ngroups++] = xstrdup(store_rows_text(rows, 0));
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		who_release(w);
		http_reply_errno(req, store_rc(rc), "cannot read your groups");
		return rc;
	}
	return 0;
}

static int rec_may_use(const struct node_rec *rec, const struct who *w)
{
	node_info ni = { 0 };
	sn_strlcpy(ni.owner, rec->owner, sizeof ni.owner);
	ni.public_use = rec->public_use;
	ni.users = rec->lists->users;
	ni.nusers = rec->lists->nusers;
	ni.groups = rec->lists->groups;
	ni.ngroups = rec->lists->ngroups;
	return node_may_use(&ni, w->u->id, w->groups, w->ngroups);
}

/* Admins see every node but removed ones; members the claimed nodes they
 * own or may use, and a pending node when they give its claim code. */
static int visible(const struct node_rec *rec, const struct who *w, const char *code)
{
	if (rec->state == NODE_REMOVED)
		return 0;
	if (w->admin)
		return 1;
	if (rec->state == NODE_PENDING)
		return code && strcmp(code, rec->claim) == 0;
	return rec_may_use(rec, w);
}

static int manages(const struct node_rec *rec, const struct who *w)
{
	return w->admin || (rec->state == NODE_CLAIMED && strcmp(rec->owner, w->u->id) == 0);
}

/* A node's JSON, under reg->mu; owner and access hold ids until names()
 * replaces them. */
static json_t *rec_json(node_reg *r, const struct node_rec *rec, int64_t now, const struct who *w)
{
	const char *state = node_public_state(r, rec, now);
	int max_par = (int)node_fact_int(rec->facts, "max_parallel");
	int free_slots = strcmp(state, "online") == 0 && max_par > rec->running ?
			 max_par - rec->running : 0;
	json_t *platform = json_object_get(rec->facts, "platform");
	json_t *version = json_object_get(rec->facts, "version");
	json_t *o = json_pack("{s:s,s:s,s:s,s:s?,s:I,s:I,s:I,s:I,s:i,s:i,s:i,s:f,s:o,s:O,s:O,"
			      "s:O,s:o,s:{s:b,s:o,s:o},s:o,s:o}",
			      "id", rec->id, "name", rec->name, "state", state, "owner_id",
			      *rec->owner ? rec->owner : NULL, "cores",
			      (json_int_t)node_fact_int(rec->facts, "cores"), "memory_mb",
			      (json_int_t)node_fact_int(rec->facts, "memory_mb"), "gpus",
			      (json_int_t)node_fact_int(rec->facts, "gpus"), "max_parallel",
			      (json_int_t)max_par, "gpus_free", rec->gpus_free, "running", rec->running,
			      "free_slots", free_slots, "load1", rec->load1, "last_heartbeat",
			      http_json_time(rec->last_heartbeat > 0 ? rec->last_heartbeat : -1),
			      "platform", platform ? platform : json_null(), "version",
			      version ? version : json_null(), "datasets", rec->datasets, "runtimes",
			      node_strv_json(rec->lists->runtimes, rec->lists->nruntimes), "access",
			      "public", rec->public_use, "users",
			      node_strv_json(rec->lists->users, rec->lists->nusers), "groups",
			      node_strv_json(rec->lists->groups, rec->lists->ngroups), "created_at",
			      http_json_time(rec->created_at), "claimed_at",
			      http_json_time(rec->claimed_at > 0 ? rec->claimed_at : -1));
	if (o && json_object_set_new(o, "draining", json_boolean(rec->draining))) {
		json_decref(o);
		return NULL;
	}
	/* The code claims the node: only who may claim it already sees it. */
	if (o && rec->state == NODE_PENDING && w->admin &&
	    json_object_set_new(o, "claim_code", json_string(rec->claim))) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* The name of a user or group id ("" when it no longer exists), through
 * cache (an object id -> name) so that a page asks once per id. */
static int name_of(store_conn *c, json_t *cache, int group, const char *id, const char **out)
{
	json_t *hit = json_object_get(cache, id);
	store_rows *rows = NULL;
	if (hit) {
		*out = json_string_value(hit);
		return 0;
	}
	int rc = store_query(c, group ? "SELECT name FROM user_groups WHERE id = $1"
				      : "SELECT username FROM users WHERE id = $1",
			     &rows, SARGS(SA_TEXT(id)));
	if (rc == 0 && (rc = store_rows_next(rows)) >= 0)
		rc = json_object_set_new(cache, id, json_string(rc == 1 ? store_rows_text(rows, 0) : ""))
		     ? -ENOMEM : 0;
	store_rows_free(&rows);
	if (rc == 0)
		*out = json_string_value(json_object_get(cache, id));
	return rc;
}

/* Replaces an array of ids by their names, dropping ids that are gone. */
static int names_of(store_conn *c, json_t *cache, int group, json_t *a)
{
	json_t *out = json_array(), *x;
	size_t i;
	int rc = out ? 0 : -ENOMEM;
	json_array_foreach(a, i, x) {
		const char *nm = NULL;
		if (rc || (rc = name_of(c, cache, group, json_string_value(x), &nm)))
			break;
		if (nm && *nm && json_array_append_new(out, json_string(nm)))
			rc = -ENOMEM;
	}
	if (rc == 0 && json_array_clear(a) == 0 && json_array_extend(a, out) == 0)
		rc = 0;
	else if (rc == 0)
		rc = -ENOMEM;
	json_decref(out);
	return rc;
}

/* Puts names into node JSON made by rec_json: "owner" (username) and the
 * access lists. */
static int names(store_conn *c, json_t *cache, json_t *o)
{
	const char *oid = json_string_value(json_object_get(o, "owner_id")), *nm = NULL;
	json_t *acc = json_object_get(o, "access");
	int rc = oid ? name_of(c, cache, 0, oid, &nm) : 0;
	if (rc == 0 && json_object_set_new(o, "owner", nm && *nm ? json_string(nm) : json_null()))
		rc = -ENOMEM;
	if (rc == 0)
		rc = names_of(c, cache, 0, json_object_get(acc, "users"));
	if (rc == 0)
		rc = names_of(c, cache, 1, json_object_get(acc, "groups"));
	return rc;
}

/* Replies with the nodes in items (names filled in). */
static int reply_named(node_reg *r, http_req *req, json_t *items, int list, const char *next)
{
	store_conn *c = NULL;
	json_t *cache = json_object(), *x;
	size_t i;
	int rc = cache ? store_acquire(r->st, &c) : -ENOMEM;
	if (list) {
		json_array_foreach(items, i, x)
			if (rc || (rc = names(c, cache, x)))
				break;
	} else if (rc == 0) {
		rc = names(c, cache, items);
	}
	store_release(&c);
	json_decref(cache);
	if (rc) {
		json_decref(items);
		http_reply_errno(req, store_rc(rc), "cannot read the node's names");
		return rc;
	}
	if (list)
		http_reply_list(req, items, next);
	else
		http_reply_json(req, 200, items);
	return 0;
}

static const char *code_query(http_req *req, char buf[8])
{
	const char *q = http_req_query(req, "code");
	if (!q || strlen(q) != 6)
		return NULL;
	memcpy(buf, q, 7);
	return sn_sig_claim_normalize(buf) == 0 ? buf : NULL;
}

/* GET /api/v1/nodes?state=&code=&limit=&cursor= */
static void h_list(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const char *cursor = NULL, *state = http_req_query(req, "state"), *code;
	char cbuf[8], last[32] = "";
	int limit, more = 0;
	struct who w;
	json_t *items = NULL;
	if (http_page(req, &limit, &cursor))
		return;
	if (state && strcmp(state, "pending") && strcmp(state, "online") && strcmp(state, "offline") &&
	    strcmp(state, "draining")) {
		http_reply_error(req, 400, "bad_request",
				 "query parameter 'state' is one of pending, online, offline, draining");
		return;
	}
	code = code_query(req, cbuf);
	if (who_of(r, req, &w))
		return;
	if (!(items = json_array())) {
		http_reply_errno(req, -ENOMEM, NULL);
		goto out;
	}
	pthread_mutex_lock(&r->mu);
	int64_t now = node_now_ms(r);
	for (size_t i = 0; i < r->n && !more; i++) {
		const struct node_rec *rec = r->v[i];
		if ((cursor && strcmp(rec->id, cursor) <= 0) || !visible(rec, &w, code) ||
		    (state && strcmp(state, node_public_state(r, rec, now)) != 0))
			continue;
		if ((int)json_array_size(items) == limit) {
			more = 1;
			break;
		}
		json_t *o = rec_json(r, rec, now, &w);
		if (!o || json_array_append_new(items, o)) {
			pthread_mutex_unlock(&r->mu);
			http_reply_errno(req, -ENOMEM, "cannot list the nodes");
			goto out;
		}
		sn_strlcpy(last, rec->id, sizeof last);
	}
	pthread_mutex_unlock(&r->mu);
	reply_named(r, req, items, 1, more ? last : NULL);
	items = NULL;
out:
	json_decref(items);
	who_release(&w);
}

/* The JSON of node id if w may see it; replies 404 otherwise. With
 * manage, also 403 unless w is its owner or an admin. */
static int node_json_for(node_reg *r, http_req *req, const char *id, const struct who *w,
			 int manage, json_t **out)
{
	char cbuf[8];
	const char *code = code_query(req, cbuf);
	int rc = 0;
	*out = NULL;
	pthread_mutex_lock(&r->mu);
	const struct node_rec *rec = id ? node_find(r, id) : NULL;
	if (!rec || !visible(rec, w, code))
		rc = -ENOENT;
	else if (manage && !manages(rec, w))
		rc = -EACCES;
	else if (!(*out = rec_json(r, rec, node_now_ms(r), w)))
		rc = -ENOMEM;
	pthread_mutex_unlock(&r->mu);
	if (rc == -ENOENT)
		http_reply_error(req, 404, "not_found", "no such node");
	else if (rc == -EACCES)
		http_reply_error(req, 403, "forbidden", "only the node's owner or an admin may change it");
	else if (rc)
		http_reply_errno(req, rc, "cannot read the node");
	return rc;
}

/* GET /api/v1/nodes/{id} */
static void h_get(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	struct who w;
	json_t *o = NULL;
	if (who_of(r, req, &w))
		return;
	if (node_json_for(r, req, http_req_param(req, "id"), &w, 0, &o) == 0)
		reply_named(r, req, o, 0, NULL);
	who_release(&w);
}

/* After a change: the node's JSON as the caller now sees it. */
static void reply_node(node_reg *r, http_req *req, const char *id, const struct who *w)
{
	json_t *o = NULL;
	if (node_json_for(r, req, id, w, 0, &o) == 0)
		reply_named(r, req, o, 0, NULL);
}

/* POST /api/v1/nodes/claim {"code"}: the caller owns the pending node with
 * that code. Claiming one's own node again answers it (idempotent). */
static void h_claim(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const char *typed = NULL;
	char code[8], id[32] = "", owner[48], nm[130];
	struct who w;
	int found = 0, mine = 0;
	if (http_body_str(req, "code", 1, 16, &typed))
		return;
	if (strlen(typed) != 6) {
		http_reply_error(req, 400, "bad_request", "a claim code has 6 characters");
		return;
	}
	memcpy(code, typed, 7);
	if (sn_sig_claim_normalize(code)) {
		http_reply_error(req, 400, "bad_request",
				 "a claim code has 6 characters of 0-9 and A-Z (no U)");
		return;
	}
	if (who_of(r, req, &w))
		return;
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		const struct node_rec *rec = r->v[i];
		if (strcmp(rec->claim, code) != 0)
			continue;
		if (rec->state == NODE_PENDING) {
			found++;
			sn_strlcpy(id, rec->id, sizeof id);
		} else if (rec->state == NODE_CLAIMED && strcmp(rec->owner, w.u->id) == 0 && !found) {
			mine = 1;
			sn_strlcpy(id, rec->id, sizeof id);
		}
	}
	pthread_mutex_unlock(&r->mu);
	if (found == 0 && !mine) {
		http_reply_error(req, 404, "not_found", "no unclaimed node has the code %s", code);
		goto out;
	}
	/* 30 bits: two pending nodes with one code is rare, but then neither
	 * can be told apart by it. */
	if (found > 1) {
		http_reply_error(req, 409, "conflict", "several unclaimed nodes have this code: an admin"
				 " claims or removes them by id");
		goto out;
	}
	set_target(req, id);
	if (found) {
		int64_t now = node_now_ms(r);
		store_conn *c = NULL;
		int64_t changes = 0;
		int rc = store_acquire(r->st, &c);
		if (rc == 0)
			rc = store_exec(c, "UPDATE nodes SET state = 'claimed', owner_id = $2,"
					" claimed_at = $3 WHERE id = $1 AND state = 'pending'", &changes,
					SARGS(SA_TEXT(id), SA_TEXT(w.u->id), SA_INT(now)));
		store_release(&c);
		if (rc || changes != 1) {
			http_reply_errno(req, rc ? store_rc(rc) : -EIO, "cannot claim the node");
			goto out;
		}
		pthread_mutex_lock(&r->mu);
		struct node_rec *rec = node_find(r, id);
		if (rec) {
			rec->state = NODE_CLAIMED;
			r->npending--;
			sn_strlcpy(rec->owner, w.u->id, sizeof rec->owner);
			rec->claimed_at = now;
			rec->online = node_online(r, rec->last_heartbeat, now);
		}
		sn_strlcpy(owner, w.u->id, sizeof owner);
		sn_strlcpy(nm, rec ? rec->name : id, sizeof nm);
		pthread_mutex_unlock(&r->mu);
		log_info("node: %s (%s) claimed by %s", id, nm, w.u->username);
		pthread_mutex_unlock(&r->wmu);
		node_announce(r, id, owner, nm, "claimed");
		reply_node(r, req, id, &w);
		who_release(&w);
		return;
	}
	pthread_mutex_unlock(&r->wmu);
	reply_node(r, req, id, &w);
	who_release(&w);
	return;
out:
	pthread_mutex_unlock(&r->wmu);
	who_release(&w);
}

/* Resolves user names or ids (group: group names or ids) to ids, sorted
 * and without duplicates. Replies 400 for an unknown one. */
static int principals(store_conn *c, http_req *req, const json_t *a, int group, char ***out,
		      size_t *n)
{
	const char *field = group ? "access.groups" : "access.users";
	size_t i, k = 0;
	json_t *x;
	int rc = 0;
	*out = NULL;
	*n = 0;
	if (!json_is_array(a) || json_array_size(a) > NODE_ACCESS_MAX)
		return bad(req, "field '%s' must be an array of at most 256 names", field);
	char **v = xcalloc(json_array_size(a) + 1, sizeof *v);
	json_array_foreach(a, i, x) {
		store_rows *rows = NULL;
		const char *s = json_string_value(x);
		if (!s) {
			rc = bad(req, "field '%s' must hold names", field);
			break;
		}
		rc = store_query(c, group ? "SELECT id FROM user_groups WHERE name = $1 OR id = $1"
					  : "SELECT id FROM users WHERE username = $1 OR id = $1",
				 &rows, SARGS(SA_TEXT(s)));
		if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
			v[k++] = xstrdup(store_rows_text(rows, 0));
			rc = 0;
		} else if (rc == 0) {
			http_reply_error(req, 400, "bad_request", "no %s named '%s'",
					 group ? "group" : "user", s);
			rc = -EINVAL;
		} else {
			http_reply_errno(req, store_rc(rc), "cannot read the %s", field);
		}
		store_rows_free(&rows);
		if (rc)
			break;
	}
	if (rc) {
		node_strv_free(v, k);
		return rc;
	}
	qsort(v, k, sizeof *v, cmp_str);
	size_t u = 0;
	for (i = 0; i < k; i++) {
		if (u && strcmp(v[u - 1], v[i]) == 0)
			free(v[i]);
		else
			v[u++] = v[i];
	}
	*out = v;
	*n = u;
	return 0;
}

static int write_access(store_conn *c, const char *id, const char *kind, char **v, size_t n)
{
	int rc = store_exec(c, "DELETE FROM node_access WHERE node_id = $1 AND kind = $2", NULL,
			    SARGS(SA_TEXT(id), SA_TEXT(kind)));
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_exec(c, "INSERT INTO node_access (node_id, kind, principal) VALUES"
				" ($1, $2, $3)", NULL, SARGS(SA_TEXT(id), SA_TEXT(kind), SA_TEXT(v[i])));
	return rc;
}

/* PATCH /api/v1/nodes/{id} {"name"?, "access"?: {"public"?, "users"?, "groups"?}}:
 * users and groups replace the lists given (names or ids). */
static void h_patch(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const char *id = http_req_param(req, "id"), *name = NULL;
	json_t *acc = json_object_get(http_req_json(req), "access"), *probe = NULL;
	json_t *pub = acc ? json_object_get(acc, "public") : NULL;
	json_t *ju = acc ? json_object_get(acc, "users") : NULL;
	json_t *jg = acc ? json_object_get(acc, "groups") : NULL;
	char **users = NULL, **groups = NULL, owner[48] = "", nm[130] = "";
	size_t nusers = 0, ngroups = 0;
	store_conn *c = NULL;
	struct who w;
	int rc, locked = 0;
	if (http_body_str(req, "name", 0, NAME_MAX_LEN, &name))
		return;
	if (name && !name_ok(name)) {
		bad(req, "field '%s' must be 1 to 128 printable characters", "name");
		return;
	}
	if ((acc && !json_is_object(acc)) || (pub && !json_is_boolean(pub))) {
		bad(req, "field '%s' must be {\"public\": bool, \"users\": [...], \"groups\": [...]}",
		    "access");
		return;
	}
	if (who_of(r, req, &w))
		return;
	if (node_json_for(r, req, id, &w, 1, &probe))
		goto out;
	set_target(req, id);
	if ((rc = store_acquire(r->st, &c))) {
		http_reply_errno(req, store_rc(rc), "cannot change the node");
		goto out;
	}
	if ((ju && principals(c, req, ju, 0, &users, &nusers)) ||
	    (jg && principals(c, req, jg, 1, &groups, &ngroups)))
		goto out;
	pthread_mutex_lock(&r->wmu);
	locked = 1;
	rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE nodes SET name = COALESCE($2, name), public_use ="
				" COALESCE($3, public_use) WHERE id = $1 AND state <> 'removed'", NULL,
				SARGS(SA_TEXT(id), SA_TEXT(name),
				      pub ? SA_INT(json_is_true(pub)) : SA_NULL));
	if (rc == 0 && ju)
		rc = write_access(c, id, "user", users, nusers);
	if (rc == 0 && jg)
		rc = write_access(c, id, "group", groups, ngroups);
	if (rc == 0)
		rc = store_commit(c);
	if (rc) {
		http_reply_errno(req, store_rc(rc), "cannot change the node");
		goto out;
	}
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = node_find(r, id);
	if (rec) {
		if (name)
			sn_strlcpy(rec->name, name, sizeof rec->name);
		if (pub)
			rec->public_use = json_is_true(pub);
		if (ju || jg) {
			struct node_lists *nl = node_lists_dup(rec->lists);
			if (ju) {
				node_strv_free(nl->users, nl->nusers);
				nl->users = users;
				nl->nusers = nusers;
				users = NULL;
				nusers = 0;
			}
			if (jg) {
				node_strv_free(nl->groups, nl->ngroups);
				nl->groups = groups;
				nl->ngroups = ngroups;
				groups = NULL;
				ngroups = 0;
			}
			node_lists_set(rec, nl);
		}
		sn_strlcpy(owner, rec->owner, sizeof owner);
		sn_strlcpy(nm, rec->name, sizeof nm);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&r->wmu);
	locked = 0;
	store_release(&c);
	node_announce(r, id, owner, nm, "updated");
	reply_node(r, req, id, &w);
out:
	if (locked)
		pthread_mutex_unlock(&r->wmu);
	store_release(&c);
	json_decref(probe);
	node_strv_free(users, nusers);
	node_strv_free(groups, ngroups);
	who_release(&w);
}

/* POST /api/v1/nodes/{id}/drain {"drain"?: bool (default true)}: a
 * draining node gets no new work; its running chunks finish. */
static void h_drain(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const char *id = http_req_param(req, "id");
	char owner[48] = "", nm[130] = "";
	json_t *probe = NULL;
	int drain = 1, rc, pending = 0;
	struct who w;
	if (http_body_bool(req, "drain", 0, &drain))
		return;
	if (who_of(r, req, &w))
		return;
	if (node_json_for(r, req, id, &w, 1, &probe))
		goto out;
	set_target(req, id);
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = node_find(r, id);
	pending = !rec || rec->state != NODE_CLAIMED;
	pthread_mutex_unlock(&r->mu);
	if (pending) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_error(req, 409, "conflict", "only a claimed node can be drained");
		goto out;
	}
	store_conn *c = NULL;
	rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE nodes SET draining = $2 WHERE id = $1", NULL,
				SARGS(SA_TEXT(id), SA_INT(drain)));
	store_release(&c);
	if (rc) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_errno(req, store_rc(rc), "cannot drain the node");
		goto out;
	}
	pthread_mutex_lock(&r->mu);
	if ((rec = node_find(r, id))) {
		rec->draining = drain;
		sn_strlcpy(owner, rec->owner, sizeof owner);
		sn_strlcpy(nm, rec->name, sizeof nm);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&r->wmu);
	node_announce(r, id, owner, nm, drain ? "drained" : "resumed");
	reply_node(r, req, id, &w);
out:
	json_decref(probe);
	who_release(&w);
}

/* DELETE /api/v1/nodes/{id} (admins): the key is refused from now on
 * (403 node_removed); the row stays so that it is remembered. */
static void h_delete(http_req *req, void *ctx)
{
	node_reg *r = ctx;
	const char *id = http_req_param(req, "id");
	char owner[48] = "", nm[130] = "";
	int rc, gone;
	set_target(req, id ? id : "");
	pthread_mutex_lock(&r->wmu);
	pthread_mutex_lock(&r->mu);
	struct node_rec *rec = id ? node_find(r, id) : NULL;
	gone = !rec || rec->state == NODE_REMOVED;
	pthread_mutex_unlock(&r->mu);
	if (gone) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_error(req, 404, "not_found", "no such node");
		return;
	}
	store_conn *c = NULL;
	rc = store_acquire(r->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_exec(c, "UPDATE nodes SET state = 'removed', draining = 0, public_use = 0"
				" WHERE id = $1", NULL, SARGS(SA_TEXT(id)));
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM node_access WHERE node_id = $1", NULL,
				SARGS(SA_TEXT(id)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	if (rc) {
		pthread_mutex_unlock(&r->wmu);
		http_reply_errno(req, store_rc(rc), "cannot remove the node");
		return;
	}
	pthread_mutex_lock(&r->mu);
	if ((rec = node_find(r, id))) {
		if (rec->state == NODE_PENDING)
			r->npending--;
		rec->state = NODE_REMOVED;
		rec->public_use = 0;
		rec->online = 0;
		node_lists_set(rec, node_lists_new());
		nonce_set_free(&rec->nonces);
		sn_strlcpy(owner, rec->owner, sizeof owner);
		sn_strlcpy(nm, rec->name, sizeof nm);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_mutex_unlock(&r->wmu);
	log_info("node: %s (%s) removed by %s", id, nm, http_req_actor(req));
	node_announce(r, id, owner, nm, "removed");
	http_reply_json(req, 200, json_pack("{s:s,s:s}", "id", id, "state", "removed"));
}

size_t node_user_routes(node_reg *r, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/nodes", h_list, 0, ROLE_MEMBER, NULL, 0, r },
		{ "POST", "/api/v1/nodes/claim", h_claim, 0, ROLE_MEMBER, "node.claim", 0, r },
		{ "GET", "/api/v1/nodes/{id}", h_get, 0, ROLE_MEMBER, NULL, 0, r },
		{ "PATCH", "/api/v1/nodes/{id}", h_patch, 0, ROLE_MEMBER, "node.update", 0, r },
		{ "POST", "/api/v1/nodes/{id}/drain", h_drain, 0, ROLE_MEMBER, "node.drain", 0, r },
		{ "DELETE", "/api/v1/nodes/{id}", h_delete, 0, ROLE_ADMIN, "node.remove", 0, r },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
