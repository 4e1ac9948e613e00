/* The price table: per model, versions of (input, output) prices per
 * million tokens, each in force from its valid_from on. Versions are only
 * ever added, and a call is priced by the version in force at the call's
 * time, so a cost computed once stays what it was (docs/metrics.md,
 * "Prices").
 *
 * Invariants: memory holds every row of mx_prices, sorted by (model,
 * valid_from, version); a row reaches memory only after its transaction
 * committed; PUTs are serialised by put_mu, and the lock is never held
 * across a store call. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "metrics/mx_api_int.h"

struct price {
	char *model;
	int64_t version, valid_from, created_at;
	double in, out;
	char created_by[72];
};

struct mx_prices {
	store *st;
	pthread_rwlock_t lock;
	pthread_mutex_t put_mu;
	struct price *v;
	size_t n, cap;
};

static int price_cmp(const void *a, const void *b)
{
	const struct price *x = a, *y = b;
	int c = strcmp(x->model, y->model);
	if (c)
		return c;
	if (x->valid_from != y->valid_from)
		return x->valid_from < y->valid_from ? -1 : 1;
	return x->version < y->version ? -1 : x->version > y->version;
}

/* Under the write lock (or before anyone else sees p). */
static void add(mx_prices *p, const struct price *x)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->v = xrealloc(p->v, p->cap * sizeof *p->v);
	}
	p->v[p->n] = *x;
	p->v[p->n].model = xstrdup(x->model);
	p->n++;
	qsort(p->v, p->n, sizeof *p->v, price_cmp);
}

int mx_prices_new(store *st, mx_prices **out)
{
	mx_prices *p = xcalloc(1, sizeof *p);
	store_conn *c = NULL;
	store_rows *rows = NULL;
	p->st = st;
	pthread_rwlock_init(&p->lock, NULL);
	pthread_mutex_init(&p->put_mu, NULL);
	int rc = store_acquire(st, &c);
	if (rc == 0)
		rc = store_query(c, "SELECT model, version, input_per_mtok, output_per_mtok,"
				 " valid_from, created_by, created_at FROM mx_prices", &rows, SNOARGS);
	while (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		struct price x = { (char *)store_rows_text(rows, 0), store_rows_int(rows, 1),
				   store_rows_int(rows, 4), store_rows_int(rows, 6),
				   store_rows_double(rows, 2), store_rows_double(rows, 3), "" };
		sn_strlcpy(x.created_by, store_rows_text(rows, 5), sizeof x.created_by);
		add(p, &x);
		rc = 0;
	}
	store_rows_free(&rows);
	store_release(&c);
	if (rc < 0) {
		mx_prices_free(&p);
		return rc;
	}
	*out = p;
	return 0;
}

void mx_prices_free(mx_prices **pp)
{
	mx_prices *p = *pp;
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].model);
	free(p->v);
	pthread_rwlock_destroy(&p->lock);
	pthread_mutex_destroy(&p->put_mu);
	xfree(pp);
}

/* The index of model's first row, or p->n. Under a lock. */
static size_t first_of(const mx_prices *p, const char *model)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(p->v[mid].model, model) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->n && strcmp(p->v[lo].model, model) == 0 ? lo : p->n;
}

/* The row of model in force at ts (the last with valid_from <= ts), or
 * NULL. Under a lock. */
static const struct price *in_force(const mx_prices *p, const char *model, int64_t ts)
{
	const struct price *best = NULL;
	for (size_t i = first_of(p, model); i < p->n && strcmp(p->v[i].model, model) == 0; i++)
		if (p->v[i].valid_from <= ts)
			best = &p->v[i];
	return best;
}

int mx_price_at(void *ctx, const char *model, int64_t ts_ms, double *in_per_mtok,
		double *out_per_mtok)
{
	mx_prices *p = ctx;
	pthread_rwlock_rdlock(&p->lock);
	const struct price *x = in_force(p, model, ts_ms);
	if (x) {
		*in_per_mtok = x->in;
		*out_per_mtok = x->out;
	}
	pthread_rwlock_unlock(&p->lock);
	return x ? 0 : -ENOENT;
}

/* ---- routes ---- */

static json_t *price_json(const struct price *x)
{
	return json_pack("{s:s,s:f,s:f,s:I,s:o,s:s,s:o}", "model", x->model, "input_per_mtok", x->in,
			 "output_per_mtok", x->out, "version", (json_int_t)x->version, "valid_from",
			 http_json_time(x->valid_from), "created_by", x->created_by, "created_at",
			 http_json_time(x->created_at));
}

static int model_ok(const char *m)
{
	size_t n = m ? strlen(m) : 0;
	return n > 0 && n <= MX_MODEL_MAX && sn_utf8_valid(m, n, 1);
}

static int append(json_t *items, const struct price *x)
{
	json_t *j = price_json(x);
	return !j || json_array_append_new(items, j) ? -ENOMEM : 0;
}

/* GET /api/v1/prices: the version in force now of every model. */
static void h_list(http_req *r, void *ctx)
{
	mx_prices *p = ((mx_api *)ctx)->prices;
	json_t *items = json_array();
	int64_t now = sn_now_ms();
	int rc = items ? 0 : -ENOMEM;
	pthread_rwlock_rdlock(&p->lock);
	for (size_t i = 0; rc == 0 && i < p->n; i++) {
		if (i + 1 < p->n && strcmp(p->v[i + 1].model, p->v[i].model) == 0)
			continue; /* not the model's last row */
		const struct price *x = in_force(p, p->v[i].model, now);
		if (x)
			rc = append(items, x);
	}
	pthread_rwlock_unlock(&p->lock);
	if (rc) {
		json_decref(items);
		http_reply_errno(r, rc, "cannot list the prices");
		return;
	}
	http_reply_list(r, items, NULL);
}

/* GET /api/v1/prices/{model}/versions, newest first. */
static void h_versions(http_req *r, void *ctx)
{
	mx_prices *p = ((mx_api *)ctx)->prices;
	const char *model = http_req_param(r, "model");
	json_t *items = json_array();
	int rc = items ? 0 : -ENOMEM;
	size_t found = 0;
	pthread_rwlock_rdlock(&p->lock);
	size_t first = first_of(p, model), end = first;
	while (end < p->n && strcmp(p->v[end].model, model) == 0)
		end++;
	/* Versions are numbered in the order they were added: newest first. */
	for (int64_t want = INT64_MAX; rc == 0 && found < end - first; found++) {
		const struct price *best = NULL;
		for (size_t i = first; i < end; i++)
			if (p->v[i].version < want && (!best || p->v[i].version > best->version))
				best = &p->v[i];
		rc = append(items, best);
		want = best->version;
	}
	pthread_rwlock_unlock(&p->lock);
	if (rc == 0 && found == 0)
		rc = -ENOENT;
	if (rc) {
		json_decref(items);
		if (rc == -ENOENT)
			http_reply_error(r, 404, "not_found", "no price for model %s", model);
		else
			http_reply_errno(r, rc, "cannot list the prices");
		return;
	}
	http_reply_list(r, items, NULL);
}

/* A price field: a finite number >= 0 (at most 1e9 dollars per million
 * tokens, far above any price, so that a typo is caught). */
static int price_field(http_req *r, const char *name, double *out)
{
	json_t *j = json_object_get(http_req_json(r), name);
	double v = json_is_number(j) ? json_number_value(j) : -1;
	if (!isfinite(v) || v < 0 || v > 1e9) {
		http_reply_error(r, 400, "bad_request", "field '%s' must be a number from 0 to 1e9"
				 " (dollars per million tokens)", name);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* valid_from: RFC 3339 or unix ms; default now. */
static int valid_from_field(http_req *r, int64_t now, int64_t *out)
{
	json_t *j = json_object_get(http_req_json(r), "valid_from");
	*out = now;
	if (!j || json_is_null(j))
		return 0;
	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		*out = json_integer_value(j);
		return 0;
	}
	if (json_is_string(j) && sn_time_parse(json_string_value(j), out) == 0 && *out >= 0)
		return 0;
	http_reply_error(r, 400, "bad_request", "field 'valid_from' must be an RFC 3339 time or"
			 " unix milliseconds");
	return -EINVAL;
}

static int insert_version(mx_prices *p, struct price *x)
{
	store_conn *c = NULL;
	store_rows *rows = NULL;
	int rc = store_acquire(p->st, &c);
	if (rc == 0)
		rc = store_begin(c);
	if (rc == 0)
		rc = store_query(c, "SELECT MAX(version) FROM mx_prices WHERE model = $1", &rows,
				 SARGS(SA_TEXT(x->model)));
	if (rc == 0 && (rc = store_rows_next(rows)) == 1) {
		x->version = store_rows_isnull(rows, 0) ? 1 : store_rows_int(rows, 0) + 1;
		rc = 0;
	} else if (rc == 0) {
		x->version = 1;
	}
	store_rows_free(&rows);
	if (rc == 0)
		rc = store_exec(c, "INSERT INTO mx_prices (model, version, input_per_mtok,"
				" output_per_mtok, valid_from, created_by, created_at) VALUES"
				" ($1, $2, $3, $4, $5, $6, $7)", NULL,
				SARGS(SA_TEXT(x->model), SA_INT(x->version), SA_DBL(x->in),
				      SA_DBL(x->out), SA_INT(x->valid_from), SA_TEXT(x->created_by),
				      SA_INT(x->created_at)));
	if (rc == 0)
		rc = store_commit(c);
	store_release(&c);
	return rc;
}

/* PUT /api/v1/prices/{model} (admins): adds a version. */
static void h_put(http_req *r, void *ctx)
{
	mx_prices *p = ((mx_api *)ctx)->prices;
	const char *model = http_req_param(r, "model");
	const auth_user *u = auth_caller(r);
	struct price x = { (char *)model, 0, 0, sn_now_ms(), 0, 0, "" };
	char target[MX_MODEL_MAX + 8];
	snprintf(target, sizeof target, "price:%s", model);
	http_req_set_target(r, target);
	if (!model_ok(model)) {
		http_reply_error(r, 400, "bad_request", "a model name is 1 to %d bytes of UTF-8"
				 " without control characters", MX_MODEL_MAX);
		return;
	}
	if (!http_req_json(r)) {
		http_reply_error(r, 400, "bad_request", "the body must be {\"input_per_mtok\","
				 " \"output_per_mtok\", \"valid_from\"?}");
		return;
	}
	if (price_field(r, "input_per_mtok", &x.in) || price_field(r, "output_per_mtok", &x.out) ||
	    valid_from_field(r, x.created_at, &x.valid_from))
		return;
	sn_strlcpy(x.created_by, u ? u->username : "", sizeof x.created_by);
	pthread_mutex_lock(&p->put_mu);
	int rc = insert_version(p, &x);
	if (rc == 0) {
		pthread_rwlock_wrlock(&p->lock);
		add(p, &x);
		pthread_rwlock_unlock(&p->lock);
	}
	pthread_mutex_unlock(&p->put_mu);
	if (rc) {
		http_reply_errno(r, rc == STORE_EBUSY ? -ETIMEDOUT : rc < -1000 ? -EIO : rc,
				 "cannot record the price");
		return;
	}
	json_t *j = price_json(&x);
	if (!j)
		http_reply_errno(r, -ENOMEM, "cannot encode the price");
	else
		http_reply_json(r, 201, j);
}

size_t mx_price_routes(mx_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "GET", "/api/v1/prices", h_list, 0, ROLE_MEMBER, NULL, 0, a },
		{ "PUT", "/api/v1/prices/{model}", h_put, 0, ROLE_ADMIN, "price.set", 0, a },
		{ "GET", "/api/v1/prices/{model}/versions", h_versions, 0, ROLE_MEMBER, NULL, 0, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *routes);
	return n;
}
