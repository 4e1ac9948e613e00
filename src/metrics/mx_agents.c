/* The agent registry: every agent in memory, written through to the store
 * (tables mx_agents, mx_agent_shares), so that an ingest request for known
 * agents costs no store query.
 *
 * Invariants:
 *  1. The table (guarded by lock) holds exactly the rows of mx_agents, apart
 *     from last_seen, which memory leads: it reaches the store at most every
 *     MX_SEEN_SAVE_MS (mx_agents_save_seen, from the api's thread) and at
 *     free. saved_seen is what the store holds.
 *  2. Store writes (register, update, delete) are serialised by reg_mu and
 *     run without lock held; memory changes after the store said yes, under
 *     the write lock, which is never held across I/O.
 *  3. An agent's struct lives until it is deleted (write lock): readers hold
 *     the read lock while they look at it. last_seen is atomic so that
 *     ingest updates it under the read lock.
 *  4. Who may do what is the rule of auth/share.h, as for datasets: admins
 *     and the owner everything; a group share gives read or write to the
 *     group's members; public gives read to every user. The server (u
 *     NULL) may do everything; agents it registers have no owner (admins
 *     only). Here the shares and the viewer's groups are in memory.
 *  5. Group memberships come from a cache of at most GCACHE entries, each
 *     at most GCACHE_TTL_MS old: a membership change takes effect within
 *     that time, as a token revocation does. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

#define GCACHE 64
#define GCACHE_TTL_MS 1000

struct agent {
	struct agent *next; /* hash chain */
	char name[MX_NAME_MAX + 1];
	char owner[48];
	int public_;
	int64_t first_seen;
	_Atomic int64_t last_seen;
	int64_t saved_seen; /* guarded by reg_mu */
	size_t nshares;
	share_grant *shares;
};

struct gcache_entry {
	char user[48];
	int64_t at;
	size_t n;
	char (*groups)[SHARE_GROUP_ID];
};

/* The agents' shares (auth/share.h); they have no items table there. */
static const share_table agent_shares = { "mx_agent_shares", "agent", NULL };

struct mx_agents {
	store *st;
	pthread_rwlock_t lock;
	struct agent **tab;
	size_t cap, n; /* cap: a power of two */
	pthread_mutex_t reg_mu;
	pthread_mutex_t gmu;
	struct gcache_entry gcache[GCACHE];
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct agent *find(mx_agents *ag, const char *name)
{
	struct agent *a = ag->tab[hash_str(name) & (ag->cap - 1)];
	while (a && strcmp(a->name, name) != 0)
		a = a->next;
	return a;
}

/* Under the write lock. */
static void insert(mx_agents *ag, struct agent *a)
{
	if (ag->n + 1 > ag->cap / 2) {
		size_t cap = ag->cap * 2;
		struct agent **tab = xcalloc(cap, sizeof *tab);
		for (size_t i = 0; i < ag->cap; i++)
			for (struct agent *x = ag->tab[i], *next; x; x = next) {
				next = x->next;
				size_t h = hash_str(x->name) & (cap - 1);
				x->next = tab[h];
				tab[h] = x;
			}
		free(ag->tab);
		ag->tab = tab;
		ag->cap = cap;
	}
	size_t h = hash_str(a->name) & (ag->cap - 1);
	a->next = ag->tab[h];
	ag->tab[h] = a;
	ag->n++;
}

/* Under the write lock; the caller frees what it returns. */
static struct agent *unlink_agent(mx_agents *ag, const char *name)
{
	struct agent **p = &ag->tab[hash_str(name) & (ag->cap - 1)];
	while (*p && strcmp((*p)->name, name) != 0)
		p = &(*p)->next;
	struct agent *a = *p;
	if (a) {
		*p = a->next;
		ag->n--;
	}
	return a;
}

static void agent_free(struct agent *a)
{
	if (a) {
		free(a->shares);
		free(a);
	}
}

static struct agent *agent_new(const char *name, const char *owner, int public_, int64_t first,
			       int64_t last)
{
	struct agent *a = xcalloc(1, sizeof *a);
	sn_strlcpy(a->name, name, sizeof a->name);
	sn_strlcpy(a->owner, owner ? owner : "", sizeof a->owner);
	a->public_ = public_;
	a->first_seen = first;
	atomic_store(&a->last_seen, last);
	a->saved_seen = last;
	return a;
}

static int load(mx_agents *ag)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(ag->st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT name, owner_id, public, first_seen, last_seen FROM mx_agents",
				 &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		rc = 0;
		insert(ag, agent_new(store_rows_text(rows, 0), store_rows_text(rows, 1),
				     (int)store_rows_int(rows, 2), store_rows_int(rows, 3),
				     store_rows_int(rows, 4)));
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_query(c, "SELECT agent, group_id, access FROM mx_agent_shares", &rows,
				 SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		struct agent *a = find(ag, store_rows_text(rows, 0));
		rc = 0;
		if (!a || a->nshares == SHARE_MAX)
			continue;
		a->shares = xrealloc(a->shares, (a->nshares + 1) * sizeof *a->shares);
		sn_strlcpy(a->shares[a->nshares].group, store_rows_text(rows, 1), SHARE_GROUP_ID);
		a->shares[a->nshares++].write = strcmp(store_rows_text(rows, 2), "write") == 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	return rc < 0 ? rc : 0;
}

int mx_agents_new(store *st, mx_agents **out)
{
	mx_agents *ag = xcalloc(1, sizeof *ag);
	ag->st = st;
	ag->cap = 64;
	ag->tab = xcalloc(ag->cap, sizeof *ag->tab);
	pthread_rwlock_init(&ag->lock, NULL);
	pthread_mutex_init(&ag->reg_mu, NULL);
	pthread_mutex_init(&ag->gmu, NULL);
	int rc = load(ag);
	if (rc) {
		mx_agents_free(&ag);
		return rc;
	}
	*out = ag;
	return 0;
}

void mx_agents_free(mx_agents **agp)
{
	mx_agents *ag = *agp;
	if (!ag)
		return;
	if (mx_agents_save_seen(ag))
		log_warn("metrics: cannot save the agents' last_seen");
	for (size_t i = 0; i < ag->cap; i++)
		for (struct agent *a = ag->tab[i], *next; a; a = next) {
			next = a->next;
			agent_free(a);
		}
	for (size_t i = 0; i < GCACHE; i++)
		free(ag->gcache[i].groups);
	free(ag->tab);
	pthread_rwlock_destroy(&ag->lock);
	pthread_mutex_destroy(&ag->reg_mu);
	pthread_mutex_destroy(&ag->gmu);
	xfree(agp);
}

/* ---- group memberships (invariant 5) ---- */

static int groups_fetch(mx_agents *ag, const char *user, mx_viewer *v)
{
	store_conn *c = NULL;
	v->ngroups = 0;
	int rc = store_acquire(ag->st, &c);
	if (rc == 0)
		rc = share_user_groups(c, user, v->groups, MX_GROUPS_MAX, &v->ngroups);
	store_release(&c);
	return rc;
}

/* Fills v's groups once: from the cache when fresh, else from the store. A
 * store error leaves the viewer with no groups (a refusal, never a leak). */
static void viewer_groups(mx_agents *ag, mx_viewer *v)
{
	if (v->loaded || !v->u)
		return;
	v->loaded = 1;
	struct gcache_entry *e = &ag->gcache[hash_str(v->u->id) % GCACHE];
	int64_t now = sn_now_ms();
	pthread_mutex_lock(&ag->gmu);
	if (strcmp(e->user, v->u->id) == 0 && now - e->at < GCACHE_TTL_MS && now >= e->at) {
		v->ngroups = e->n;
		memcpy(v->groups, e->groups, e->n * sizeof *e->groups);
		pthread_mutex_unlock(&ag->gmu);
		return;
	}
	pthread_mutex_unlock(&ag->gmu);
	if (groups_fetch(ag, v->u->id, v)) {
		log_warn("metrics: cannot read the groups of user %s", v->u->id);
		v->ngroups = 0;
		return;
	}
	pthread_mutex_lock(&ag->gmu);
	sn_strlcpy(e->user, v->u->id, sizeof e->user);
	e->at = now;
	e->n = v->ngroups;
	e->groups = xrealloc(e->groups, (v->ngroups ? v->ngroups : 1) * sizeof *e->groups);
	memcpy(e->groups, v->groups, v->ngroups * sizeof *e->groups);
	pthread_mutex_unlock(&ag->gmu);
}

/* ---- access (invariant 4) ---- */

/* v's access to a, under the read lock. Returns -1 when the answer needs
 * v's groups and they are not loaded yet (the caller loads them without
 * the lock and asks again). */
static int access_locked(const struct agent *a, const mx_viewer *v)
{
	if (a->nshares && !v->loaded && !share_owns(v->u, a->owner))
		return -1;
	return share_access(v->u, a->owner, a->public_,
			    share_grant_of(a->shares, a->nshares, v->groups, v->ngroups));
}

/* v's access to name: MX_NONE..MX_OWNER, or -ENOENT for an unknown agent. */
static int access_of(mx_agents *ag, mx_viewer *v, const char *name)
{
	for (;;) {
		pthread_rwlock_rdlock(&ag->lock);
		struct agent *a = find(ag, name);
		int acc = a ? access_locked(a, v) : -ENOENT;
		pthread_rwlock_unlock(&ag->lock);
		if (acc != -1)
			return acc;
		viewer_groups(ag, v);
	}
}

enum mx_access mx_agents_access(mx_agents *ag, mx_viewer *v, const char *name)
{
	int acc = access_of(ag, v, name);
	return acc < 0 ? MX_NONE : (enum mx_access)acc;
}

/* ---- registration ---- */

static int refuse(const char *name, char *err, size_t errlen)
{
	snprintf(err, errlen, "agent %s: no write access (it belongs to another user)", name);
	return -EACCES;
}

/* Registers name as v's, unless it appeared meanwhile: then checks access
 * as for a known agent. */
static int register_agent(mx_agents *ag, mx_viewer *v, const char *name, char *err,
			  size_t errlen)
{
	store_conn *c = NULL;
	pthread_mutex_lock(&ag->reg_mu);
	int acc = access_of(ag, v, name);
	if (acc != -ENOENT) {
		pthread_mutex_unlock(&ag->reg_mu);
		return acc >= MX_WRITE ? 0 : refuse(name, err, errlen);
	}
	int64_t now = sn_now_ms();
	const char *owner = v->u ? v->u->id : NULL;
	int rc = store_acquire(ag->st, &c);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO mx_agents (name, owner_id, public, first_seen,"
				" last_seen) VALUES ($1, $2, 0, $3, $3)", NULL,
				SARGS(SA_TEXT(name), SA_TEXT(owner), SA_INT(now)));
	store_release(&c);
	if (rc == 0) {
		struct agent *a = agent_new(name, owner, 0, now, now);
		pthread_rwlock_wrlock(&ag->lock);
		insert(ag, a);
		pthread_rwlock_unlock(&ag->lock);
	} else {
		snprintf(err, errlen, "agent %s: cannot register it", name);
	}
	pthread_mutex_unlock(&ag->reg_mu);
	return rc;
}

int mx_agents_claim(mx_agents *ag, const auth_user *u, const mx_batch *b, char *err,
		    size_t errlen)
{
	mx_viewer v;
	const char **fresh = NULL;
	size_t n, nfresh = 0;
	const char *const *names = mx_batch_agents(b, &n);
	int rc = 0;
	mx_viewer_init(&v, u);
	/* Every known agent is checked before any unknown one is registered,
	 * so that a refused request registers nothing. The batch lists each
	 * agent once, in the order of the samples (mx_batch.c's invariant 4):
	 * the first refused is the one a walk over the samples would meet. */
	for (size_t i = 0; i < n && rc == 0; i++) {
		int acc = access_of(ag, &v, names[i]);
		if (acc == -ENOENT) {
			if (nfresh == 0)
				fresh = xmalloc(n * sizeof *fresh);
			fresh[nfresh++] = names[i];
		} else if (acc < MX_WRITE) {
			rc = refuse(names[i], err, errlen);
		}
	}
	for (size_t i = 0; i < nfresh && rc == 0; i++)
		rc = register_agent(ag, &v, fresh[i], err, errlen);
	free(fresh);
	return rc;
}

void mx_agents_seen(mx_agents *ag, const mx_batch *b, int64_t now_ms)
{
	size_t n;
	const char *const *names = mx_batch_agents(b, &n);
	pthread_rwlock_rdlock(&ag->lock);
	for (size_t i = 0; i < n; i++) {
		struct agent *a = find(ag, names[i]);
		if (a && atomic_load_explicit(&a->last_seen, memory_order_relaxed) < now_ms)
			atomic_store_explicit(&a->last_seen, now_ms, memory_order_relaxed);
	}
	pthread_rwlock_unlock(&ag->lock);
}

int mx_agents_save_seen(mx_agents *ag)
{
	struct seen { char name[MX_NAME_MAX + 1]; int64_t at; } *v = NULL;
	size_t n = 0, cap = 0;
	store_conn *c = NULL;
	int rc = 0;
	pthread_mutex_lock(&ag->reg_mu);
	pthread_rwlock_rdlock(&ag->lock);
	for (size_t i = 0; i < ag->cap; i++)
		for (struct agent *a = ag->tab[i]; a; a = a->next) {
			int64_t at = atomic_load(&a->last_seen);
			if (at == a->saved_seen)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof *v);
			}
			sn_strlcpy(v[n].name, a->name, sizeof v[n].name);
			v[n++].at = at;
		}
	pthread_rwlock_unlock(&ag->lock);
	if (n)
		rc = store_acquire(ag->st, &c);
	if (rc == 0 && n)
		rc = store_begin(c);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = store_exec(c, "UPDATE mx_agents SET last_seen = $2 WHERE name = $1", NULL,
				SARGS(SA_TEXT(v[i].name), SA_INT(v[i].at)));
	if (rc == 0 && n)
		rc = store_commit(c);
	store_release(&c);
	if (rc == 0) {
		/* saved_seen is only read and written under reg_mu, which is held. */
		pthread_rwlock_rdlock(&ag->lock);
		for (size_t i = 0; i < n; i++) {
			struct agent *a = find(ag, v[i].name);
			if (a)
				a->saved_seen = v[i].at;
		}
		pthread_rwlock_unlock(&ag->lock);
	}
	pthread_mutex_unlock(&ag->reg_mu);
	free(v);
	return rc;
}

/* ---- reading ---- */

static void info_of(const struct agent *a, mx_agent_info *out)
{
	sn_strlcpy(out->name, a->name, sizeof out->name);
	sn_strlcpy(out->owner, a->owner, sizeof out->owner);
	out->public_ = a->public_;
	out->first_seen = a->first_seen;
	out->last_seen = atomic_load(&a->last_seen);
	out->nshares = a->nshares;
	if (a->nshares)
		memcpy(out->shares, a->shares, a->nshares * sizeof *a->shares);
}

int mx_agents_get(mx_agents *ag, mx_viewer *v, const char *name, mx_agent_info *out,
		  enum mx_access *access)
{
	int acc;
	for (;;) {
		pthread_rwlock_rdlock(&ag->lock);
		struct agent *a = find(ag, name);
		acc = a ? access_locked(a, v) : MX_NONE;
		if (acc > MX_NONE)
			info_of(a, out);
		pthread_rwlock_unlock(&ag->lock);
		if (acc != -1)
			break;
		viewer_groups(ag, v);
	}
	if (acc <= MX_NONE)
		return -ENOENT;
	if (access)
		*access = (enum mx_access)acc;
	return 0;
}

typedef char agent_name[MX_NAME_MAX + 1];

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const agent_name *)a, *(const agent_name *)b);
}

int mx_agents_list(mx_agents *ag, mx_viewer *v, const char *cursor, char (**out)[MX_NAME_MAX + 1],
		   size_t *n)
{
	agent_name *names = NULL;
	size_t cnt = 0, cap = 0;
	viewer_groups(ag, v);
	pthread_rwlock_rdlock(&ag->lock);
	for (size_t i = 0; i < ag->cap; i++)
		for (struct agent *a = ag->tab[i]; a; a = a->next) {
			if ((cursor && strcmp(a->name, cursor) <= 0) || access_locked(a, v) <= MX_NONE)
				continue;
			if (cnt == cap) {
				cap = cap ? cap * 2 : 16;
				names = xrealloc(names, cap * sizeof *names);
			}
			sn_strlcpy(names[cnt++], a->name, sizeof *names);
		}
	pthread_rwlock_unlock(&ag->lock);
	if (cnt)
		qsort(names, cnt, sizeof *names, name_cmp);
	*n = cnt;
	*out = names;
	return 0;
}

/* ---- changes ---- */

int mx_agents_update(mx_agents *ag, const char *name, int public_, const share_grant *shares,
		     size_t nshares, int set_shares)
{
	store_conn *c = NULL;
	if (nshares > SHARE_MAX)
		return -EINVAL;
	pthread_mutex_lock(&ag->reg_mu);
	int rc = store_acquire(ag->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0 && public_ >= 0)
		rc = store_exec(c, "UPDATE mx_agents SET public = $2 WHERE name = $1", NULL,
				SARGS(SA_TEXT(name), SA_INT(public_)));
	if (rc == 0 && set_shares)
		rc = share_store_replace(c, &agent_shares, name, shares, nshares);
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	if (rc == 0) {
		pthread_rwlock_wrlock(&ag->lock);
		struct agent *a = find(ag, name);
		if (a && public_ >= 0)
			a->public_ = public_;
		if (a && set_shares) {
			/* One group named twice keeps its last access, as in the store. */
			share_grant *s = xmalloc((nshares ? nshares : 1) * sizeof *s);
			size_t k = 0;
			for (size_t i = 0; i < nshares; i++) {
				size_t j = 0;
				while (j < k && strcmp(s[j].group, shares[i].group) != 0)
					j++;
				s[j] = shares[i];
				k += j == k;
			}
			free(a->shares);
			a->shares = s;
			a->nshares = k;
		}
		pthread_rwlock_unlock(&ag->lock);
	}
	pthread_mutex_unlock(&ag->reg_mu);
	return rc;
}

int mx_agents_delete(mx_agents *ag, const char *name)
{
	store_conn *c = NULL;
	pthread_mutex_lock(&ag->reg_mu);
	int rc = store_acquire(ag->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = share_store_replace(c, &agent_shares, name, NULL, 0);
	if (rc == 0)
		rc = store_exec(c, "DELETE FROM mx_agents WHERE name = $1", NULL, SARGS(SA_TEXT(name)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	if (rc == 0) {
		pthread_rwlock_wrlock(&ag->lock);
		agent_free(unlink_agent(ag, name));
		pthread_rwlock_unlock(&ag->lock);
	}
	pthread_mutex_unlock(&ag->reg_mu);
	return rc;
}
