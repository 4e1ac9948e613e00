/* Reading the metrics store: selection of series, a copy of what memory
 * holds (under hl, shared), rows of the day tables (without hl; parts
 * held shared so no table is dropped meanwhile), and the three readers:
 * aggregated buckets, raw export and latest values.
 *
 * A reader skips the rows whose seq is in its copy of memory or newer than
 * it (invariant 4 of mx_db.c). With a step of whole minutes a query adds
 * up the rows' per-minute rollups, and decodes only the rows that reach
 * into a minute the range cuts (from or to off the minute); other steps
 * decode points. Percentiles of rows with bins per 10 minutes
 * (MX_KIND_SPANS) take the same rule with 10 minutes for a minute. A row
 * lying inside one bucket adds its block aggregates directly (not for
 * percentiles, which need bins). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "metrics/mx_db_int.h"

/* ---- Selection ------------------------------------------------------ */

typedef struct sel {
	mx_series *s;
	char *gkey; /* the by-values, NULL without by */
} sel;

static int tag_has(const mx_series *s, const mx_tag *t)
{
	for (unsigned i = 0; i < s->ntags; i++)
		if (strcmp(s->tags[i].k, t->k) == 0)
			return strcmp(s->tags[i].v, t->v) == 0;
	return 0;
}

static int cmp_sel_agent(const void *a, const void *b)
{
	const sel *x = a, *y = b;
	int c = strcmp(x->s->agent, y->s->agent);
	return c ? c : (x->s->sid > y->s->sid) - (x->s->sid < y->s->sid);
}

static int cmp_sel_sid(const void *a, const void *b)
{
	const sel *x = a, *y = b;
	return (x->s->sid > y->s->sid) - (x->s->sid < y->s->sid);
}

static int cmp_sel_group(const void *a, const void *b)
{
	const sel *x = a, *y = b;
	int c = strcmp(x->gkey, y->gkey);
	return c ? c : (x->s->sid > y->s->sid) - (x->s->sid < y->s->sid);
}

/* The filter's series, in sid order, visible ones only. */
static size_t select_series(mx_db *db, const mx_filter *f, sel **out)
{
	sel *v = NULL;
	size_t n = 0, cap = 0;
	uint32_t ns = (uint32_t)atomic_load(&db->nseries);
	for (uint32_t sid = 1; sid <= ns; sid++) {
		mx_series *s = mx_db_series(db, sid);
		if (!s || (f->metric && strcmp(s->metric, f->metric)) ||
		    (f->agent && strcmp(s->agent, f->agent)))
			continue;
		unsigned i = 0;
		while (i < f->ntags && tag_has(s, &f->tags[i]))
			i++;
		if (i < f->ntags)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = (sel){ s, NULL };
	}
	if (f->agent_ok && n) {
		/* One call per agent: sorted by agent, decided per run. */
		qsort(v, n, sizeof *v, cmp_sel_agent);
		size_t k = 0;
		for (size_t i = 0; i < n;) {
			size_t j = i;
			while (j < n && strcmp(v[j].s->agent, v[i].s->agent) == 0)
				j++;
			if (f->agent_ok(f->agent_ctx, v[i].s->agent))
				for (size_t x = i; x < j; x++)
					v[k++] = v[x];
			i = j;
		}
		n = k;
		qsort(v, n, sizeof *v, cmp_sel_sid);
	}
	*out = v;
	return n;
}

/* ---- Memory --------------------------------------------------------- */

typedef struct mblk {
	int64_t seq;
	int ooo;
	mx_pts p;
} mblk;

typedef struct snap {
	int64_t next_seq;
	int64_t skip[64]; /* seqs in memory: the head's and pending blocks' */
	size_t nskip;
	int skip_all_below; /* more pending than skip holds: never seen yet */
	mblk *b;
	size_t nb;
} snap;

/* Appends the points of p within [from, to) (p sorted unless ooo). */
static void copy_range(const mx_pts *p, int ooo, int64_t from, int64_t to, mx_pts *out)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->ts[i] >= from && p->ts[i] < to)
			mx_pts_push(out, p->ts[i], p->v[i]);
		else if (!ooo && p->ts[i] >= to)
			break;
	if (ooo)
		mx_pts_sort(out);
}

static void snap_add(snap *sn, int64_t seq, int ooo, const mx_pts *p, int64_t from, int64_t to)
{
	mblk b = { seq, ooo, { 0 } };
	copy_range(p, ooo, from, to, &b.p);
	if (!b.p.n)
		return;
	sn->b = xrealloc(sn->b, (sn->nb + 1) * sizeof *sn->b);
	sn->b[sn->nb++] = b;
}

static void snap_take(mx_db *db, mx_series *s, int64_t from, int64_t to, snap *sn)
{
	*sn = (snap){ 0 };
	pthread_rwlock_rdlock(&db->hl);
	sn->next_seq = s->next_seq;
	if (s->head.n)
		sn->skip[sn->nskip++] = s->head_seq;
	for (size_t i = 0; i < s->npend; i++) {
		if (sn->nskip < sizeof sn->skip / sizeof *sn->skip)
			sn->skip[sn->nskip++] = s->pend[i].seq;
		snap_add(sn, s->pend[i].seq, s->pend[i].ooo, &s->pend[i].p, from, to);
	}
	/* nskip overflow cannot happen while the background thread keeps
	 * pending blocks below MX_PEND_MAX points; be safe regardless. */
	sn->skip_all_below = s->npend + 1 > sizeof sn->skip / sizeof *sn->skip;
	if (s->head.n)
		snap_add(sn, s->head_seq, 0, &s->head, from, to);
	if (s->ooo.n)
		snap_add(sn, s->next_seq, 1, &s->ooo, from, to);
	pthread_rwlock_unlock(&db->hl);
}

static int snap_skips(const snap *sn, int64_t seq)
{
	if (seq >= sn->next_seq)
		return 1;
	for (size_t i = 0; i < sn->nskip; i++)
		if (sn->skip[i] == seq)
			return 1;
	return 0;
}

static void snap_release(snap *sn)
{
	for (size_t i = 0; i < sn->nb; i++)
		mx_pts_release(&sn->b[i].p);
	free(sn->b);
	sn->b = NULL;
	sn->nb = 0;
}

/* The days with a table that [from, to) touches. */
static size_t days_in(mx_db *db, int64_t from, int64_t to, int64_t **out)
{
	int64_t d0 = mx_floor_div(from, MX_DAY_MS), d1 = mx_floor_div(to - 1, MX_DAY_MS);
	size_t n = 0;
	pthread_mutex_lock(&db->daymu);
	*out = xmalloc((db->ndays + 1) * sizeof **out);
	(*out)[n++] = MX_HEADS_DAY;
	for (size_t i = 0; i < db->ndays; i++)
		if (db->days[i] >= d0 && db->days[i] <= d1)
			(*out)[n++] = db->days[i];
	pthread_mutex_unlock(&db->daymu);
	return n;
}

/* ---- Aggregation ---------------------------------------------------- */

typedef struct acc {
	int64_t step, from, to, b0;
	/* With rolls: [from_cut, from_min) and [to_min, to_cut) are the
	 * minutes the range cuts (empty when from or to is on a minute). */
	int64_t from_cut, from_min, to_min, to_cut;
	/* The same for spans (MX_SPAN_MS), whose sketches serve percentiles
	 * when the step is whole spans (spans). */
	int64_t from_scut, from_span, to_span, to_scut;
	size_t nb;
	int pct, rolls, spans;
	uint64_t *cnt;
	double *sum, *min, *max;
	mx_sk *sk;
	/* scratch for decoding */
	int64_t *ts;
	double *v;
} acc;

static inline void acc_add(acc *a, size_t i, uint64_t c, double sum, double mn, double mx)
{
	if (!a->cnt[i] || mn < a->min[i])
		a->min[i] = mn;
	if (!a->cnt[i] || mx > a->max[i])
		a->max[i] = mx;
	a->cnt[i] += c;
	a->sum[i] += sum;
}

/* Points sorted by time (a decoded block, a copy of memory): the bucket
 * is found again only when a point leaves the current one. */
static void acc_points(acc *a, const int64_t *ts, const double *v, size_t n)
{
	int64_t lo = 0, hi = 0; /* the current bucket's range, empty at first */
	size_t i = 0;
	for (size_t k = 0; k < n; k++) {
		if (ts[k] < a->from || ts[k] >= a->to)
			continue;
		if (ts[k] < lo || ts[k] >= hi) {
			int64_t b = mx_floor_div(ts[k], a->step);
			i = (size_t)(b - a->b0);
			lo = b * a->step;
			hi = lo + a->step;
		}
		acc_add(a, i, 1, v[k], v[k], v[k]);
		if (a->pct)
			mx_sk_add(&a->sk[i], v[k]);
	}
}

static int acc_row(acc *a, store_rows *r)
{
	int64_t n = store_rows_int(r, 2), first = store_rows_int(r, 3), last = store_rows_int(r, 4);
	if (!a->pct && first >= a->from && last < a->to &&
	    mx_floor_div(first, a->step) == mx_floor_div(last, a->step)) {
		size_t i = (size_t)(mx_floor_div(first, a->step) - a->b0);
		acc_add(a, i, (uint64_t)n, store_rows_double(r, 5), store_rows_double(r, 6),
			store_rows_double(r, 7));
		return 0;
	}
	size_t len, slen = 0;
	/* Rollups serve the minutes wholly inside the range; a row with points
	 * in a minute that the range cuts (from or to not on a minute) is
	 * decoded instead. */
	int cut = !a->rolls ||
		  (a->from_cut < a->from_min && first < a->from_min && last >= a->from_cut) ||
		  (a->to_min < a->to_cut && last >= a->to_min && first < a->to_cut);
	/* Percentiles from a row with bins per span: the same with spans for
	 * minutes, so that each span lies in one bucket and the range whole. */
	int by_span = a->pct && (store_rows_int(r, 1) & MX_KIND_SPANS);
	if (by_span && (!a->spans ||
			(a->from_scut < a->from_span && first < a->from_span && last >= a->from_scut) ||
			(a->to_span < a->to_scut && last >= a->to_span && first < a->to_scut)))
		cut = 1;
	if (!cut && by_span) {
		const uint8_t *p = store_rows_blob(r, 8, &len), *sk = store_rows_blob(r, 9, &slen);
		mx_roll_rd it;
		mx_span_rd sit;
		mx_roll m;
		int64_t ts;
		int rc = mx_roll_open(&it, p, len, NULL, 0), more = 0;
		while (!rc && (more = mx_roll_next(&it, &m)) == 1)
			if (m.ts >= a->from && m.ts + MX_ROLL_MS <= a->to)
				acc_add(a, (size_t)(mx_floor_div(m.ts, a->step) - a->b0), m.count,
					m.sum, m.min, m.max);
		if (!rc && more == 0)
			rc = mx_span_open(&sit, sk ? sk : (const uint8_t *)"", slen);
		while (!rc && more == 0 && (rc = mx_span_next(&sit, &ts)) == 1) {
			/* Not cut, a span lies in the range whole or not at all. */
			mx_sk *dst = ts >= a->from && ts + MX_SPAN_MS <= a->to
				? &a->sk[mx_floor_div(ts, a->step) - a->b0] : NULL;
			rc = mx_span_sketch(&sit, dst);
		}
		return rc ? rc : more < 0 ? more : 0;
	}
	if (!cut) {
		const uint8_t *p = store_rows_blob(r, 8, &len), *sk = NULL;
		if (a->pct)
			sk = store_rows_blob(r, 9, &slen);
		mx_roll_rd it;
		mx_roll m;
		int rc = mx_roll_open(&it, p, len, a->pct ? (sk ? sk : (const uint8_t *)"") : NULL,
				      slen);
		int more = 0;
		while (!rc && (more = mx_roll_next(&it, &m)) == 1) {
			if (m.ts < a->from || m.ts + MX_ROLL_MS > a->to)
				continue;
			size_t i = (size_t)(mx_floor_div(m.ts, a->step) - a->b0);
			acc_add(a, i, m.count, m.sum, m.min, m.max);
			if (a->pct)
				rc = mx_roll_sketch(&it, &a->sk[i]);
		}
		return rc ? rc : more < 0 ? more : 0;
	}
	const uint8_t *p = store_rows_blob(r, 10, &len);
	size_t got;
	int rc = mx_block_decode(p, len, a->ts, a->v, MX_BLOCK_MAX, &got);
	if (rc)
		return rc;
	acc_points(a, a->ts, a->v, got);
	return 0;
}

static int acc_series(mx_db *db, acc *a, mx_series *s, store_conn *c, const int64_t *days,
		      size_t ndays)
{
	snap sn;
	int rc = 0;
	snap_take(db, s, a->from, a->to, &sn);
	for (size_t i = 0; i < sn.nb; i++)
		acc_points(a, sn.b[i].p.ts, sn.b[i].p.v, sn.b[i].p.n);
	for (size_t d = 0; d < ndays && !rc; d++) {
		char t[32], sql[256];
		store_rows *r = NULL;
		mx_db_part_name(days[d], t, sizeof t);
		snprintf(sql, sizeof sql, "SELECT seq, kind, n, first_ts, last_ts, sum, min, max,"
			 " roll, sk, raw FROM %s WHERE sid = $1 AND first_ts < $3 AND last_ts >= $2",
			 t);
		rc = store_query(c, sql, &r, SARGS(SA_INT(s->sid), SA_INT(a->from), SA_INT(a->to)));
		int more = 0;
		while (!rc && (more = store_rows_next(r)) == 1) {
			int64_t seq = store_rows_int(r, 0);
			if (sn.skip_all_below || snap_skips(&sn, seq))
				continue;
			rc = acc_row(a, r);
		}
		store_rows_free(&r);
		rc = rc ? rc : more < 0 ? more : 0;
	}
	snap_release(&sn);
	return rc;
}

static double bucket_value(const acc *a, size_t i, enum mx_agg agg)
{
	static const double q[] = { 0.5, 0.9, 0.95, 0.99 };
	switch (agg) {
	case MX_AVG: return a->sum[i] / (double)a->cnt[i];
	case MX_MIN: return a->min[i];
	case MX_MAX: return a->max[i];
	case MX_SUM: return a->sum[i];
	case MX_COUNT: return (double)a->cnt[i];
	case MX_RATE: return a->sum[i] / ((double)a->step / 1000.0);
	default: return mx_sk_quantile(&a->sk[i], q[agg - MX_P50]);
	}
}

static void acc_reset(acc *a)
{
	memset(a->cnt, 0, a->nb * sizeof *a->cnt);
	memset(a->sum, 0, a->nb * sizeof *a->sum);
	if (a->pct)
		for (size_t i = 0; i < a->nb; i++)
			mx_sk_reset(&a->sk[i]);
}

/* The group key of a series: per by-key, \x01 value or \x00 (absent). */
static char *group_key(const mx_series *s, const char *const *by, unsigned nby)
{
	mx_bytes b = { 0 };
	for (unsigned i = 0; i < nby; i++) {
		const char *v = NULL;
		if (strcmp(by[i], "agent") == 0)
			v = s->agent;
		for (unsigned t = 0; !v && t < s->ntags; t++)
			if (strcmp(s->tags[t].k, by[i]) == 0)
				v = s->tags[t].v;
		mx_bytes_put(&b, v ? "\x01" : "\x00", 1);
		if (v)
			mx_bytes_put(&b, v, strlen(v));
		mx_bytes_put(&b, "\x1f", 1);
	}
	mx_bytes_put(&b, "", 1);
	return (char *)b.p;
}

static int emit(acc *a, enum mx_agg agg, const mx_series *s, const char *const *by, unsigned nby,
		const mx_filter *f, int (*cb)(void *, const mx_result *), void *ctx)
{
	mx_point *pts = xmalloc(a->nb * sizeof *pts);
	size_t n = 0;
	for (size_t i = 0; i < a->nb; i++)
		if (a->cnt[i])
			pts[n++] = (mx_point){ (a->b0 + (int64_t)i) * a->step, bucket_value(a, i, agg) };
	int rc = 0;
	if (n) {
		mx_result r = { .agent = s->agent, .metric = f->metric ? f->metric : s->metric,
				.tags = s->tags, .ntags = s->ntags, .pts = pts, .n = n };
		mx_tag *tags = NULL;
		if (by) {
			int keep_agent = 0;
			tags = xmalloc((nby + 1) * sizeof *tags);
			r.ntags = 0;
			for (unsigned i = 0; i < nby; i++) {
				if (strcmp(by[i], "agent") == 0) {
					keep_agent = 1;
					continue;
				}
				for (unsigned t = 0; t < s->ntags; t++)
					if (strcmp(s->tags[t].k, by[i]) == 0)
						tags[r.ntags++] = s->tags[t];
			}
			r.tags = tags;
			r.agent = keep_agent ? s->agent : NULL;
		}
		rc = cb(ctx, &r);
		free(tags);
	}
	free(pts);
	return rc;
}

int mx_db_query(mx_db *db, const mx_filter *f, int64_t step_ms, enum mx_agg agg,
		const char *const *by, unsigned nby,
		int (*cb)(void *ctx, const mx_result *r), void *ctx)
{
	if (step_ms <= 0 || f->to_ms <= f->from_ms || (unsigned)agg > MX_P99 || !f->metric)
		return -EINVAL;
	int64_t b0 = mx_floor_div(f->from_ms, step_ms), b1 = mx_floor_div(f->to_ms - 1, step_ms);
	if (b1 - b0 + 1 > MX_QUERY_MAX_BUCKETS)
		return -EINVAL;
	acc a = { .step = step_ms, .from = f->from_ms, .to = f->to_ms, .b0 = b0,
		  .nb = (size_t)(b1 - b0 + 1), .pct = agg >= MX_P50 };
	/* A minute lies in one bucket when the step is whole minutes. */
	a.rolls = step_ms % MX_ROLL_MS == 0;
	a.from_min = (mx_floor_div(f->from_ms - 1, MX_ROLL_MS) + 1) * MX_ROLL_MS;
	a.from_cut = a.from_min == f->from_ms ? a.from_min : a.from_min - MX_ROLL_MS;
	a.to_min = mx_floor_div(f->to_ms, MX_ROLL_MS) * MX_ROLL_MS;
	a.to_cut = a.to_min == f->to_ms ? a.to_min : a.to_min + MX_ROLL_MS;
	a.spans = step_ms % MX_SPAN_MS == 0;
	a.from_span = (mx_floor_div(f->from_ms - 1, MX_SPAN_MS) + 1) * MX_SPAN_MS;
	a.from_scut = a.from_span == f->from_ms ? a.from_span : a.from_span - MX_SPAN_MS;
	a.to_span = mx_floor_div(f->to_ms, MX_SPAN_MS) * MX_SPAN_MS;
	a.to_scut = a.to_span == f->to_ms ? a.to_span : a.to_span + MX_SPAN_MS;
	sel *v = NULL;
	store_conn *c = NULL;
	int64_t *days = NULL;
	int rc = 0;
	size_t n = select_series(db, f, &v), ngroups = n;
	if (by && n) {
		for (size_t i = 0; i < n; i++)
			v[i].gkey = group_key(v[i].s, by, nby);
		qsort(v, n, sizeof *v, cmp_sel_group);
		ngroups = 0;
		for (size_t i = 0; i < n; i++)
			ngroups += i == 0 || strcmp(v[i].gkey, v[i - 1].gkey) != 0;
	}
	if (ngroups > MX_QUERY_MAX_SERIES) {
		rc = -E2BIG;
		goto out;
	}
	if (!n)
		goto out;
	a.cnt = xcalloc(a.nb, sizeof *a.cnt);
	a.sum = xcalloc(a.nb, sizeof *a.sum);
	a.min = xcalloc(a.nb, sizeof *a.min);
	a.max = xcalloc(a.nb, sizeof *a.max);
	a.sk = a.pct ? xcalloc(a.nb, sizeof *a.sk) : NULL;
	a.ts = xmalloc(MX_BLOCK_MAX * sizeof *a.ts);
	a.v = xmalloc(MX_BLOCK_MAX * sizeof *a.v);
	pthread_rwlock_rdlock(&db->parts);
	size_t ndays = days_in(db, f->from_ms, f->to_ms, &days);
	if (ndays && (rc = store_acquire(db->st, &c)))
		goto unlock;
	for (size_t i = 0; i < n && !rc;) {
		size_t j = i + 1;
		while (by && j < n && strcmp(v[j].gkey, v[i].gkey) == 0)
			j++;
		acc_reset(&a);
		for (size_t k = i; k < j && !rc; k++)
			rc = acc_series(db, &a, v[k].s, c, days, ndays);
		if (!rc)
			rc = emit(&a, agg, v[i].s, by, nby, f, cb, ctx);
		i = j;
	}
unlock:
	store_release(&c);
	pthread_rwlock_unlock(&db->parts);
out:
	for (size_t i = 0; i < n; i++)
		free(v[i].gkey);
	free(v);
	free(days);
	if (a.sk)
		for (size_t i = 0; i < a.nb; i++)
			mx_sk_release(&a.sk[i]);
	free(a.sk);
	free(a.cnt);
	free(a.sum);
	free(a.min);
	free(a.max);
	free(a.ts);
	free(a.v);
	return rc;
}

/* ---- Export --------------------------------------------------------- */

/* A block of a series in the export's order: a row (day table) or memory. */
typedef struct xblk {
	int64_t seq, first, last, day;
	int ooo;
	const mx_pts *mem; /* NULL: a row */
} xblk;

typedef struct xpt {
	int64_t ts, seq;
	int ooo;
	uint32_t i;
	double v;
} xpt;

static int cmp_xblk(const void *a, const void *b)
{
	const xblk *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

/* Time, then in-order before out-of-order, then seq, then position:
 * arrival order among equal times (invariant 5). */
static int cmp_xpt(const void *a, const void *b)
{
	const xpt *x = a, *y = b;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->ooo != y->ooo)
		return x->ooo - y->ooo;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static int load_row(store_conn *c, uint32_t sid, const xblk *b, int64_t *ts, double *v, size_t *n)
{
	char t[32], sql[128];
	store_rows *r = NULL;
	mx_db_part_name(b->day, t, sizeof t);
	snprintf(sql, sizeof sql, "SELECT raw FROM %s WHERE sid = $1 AND seq = $2", t);
	int rc = store_query(c, sql, &r, SARGS(SA_INT(sid), SA_INT(b->seq)));
	*n = 0;
	if (!rc && (rc = store_rows_next(r)) == 1) {
		size_t len;
		const uint8_t *p = store_rows_blob(r, 0, &len);
		rc = mx_block_decode(p, len, ts, v, MX_BLOCK_MAX, n);
	}
	store_rows_free(&r);
	return rc < 0 ? rc : 0;
}

typedef struct xctx {
	const mx_filter *f;
	int (*cb)(void *ctx, const mx_sample *s);
	void *ctx;
	int64_t *ts;
	double *v;
	xpt *pts;
	size_t cap;
} xctx;

/* Emits one cluster of blocks whose time ranges overlap, merged. */
static int export_cluster(xctx *x, store_conn *c, mx_series *s, const xblk *b, size_t nb)
{
	size_t n = 0;
	int rc = 0;
	for (size_t k = 0; k < nb && !rc; k++) {
		const int64_t *ts;
		const double *v;
		size_t m;
		if (b[k].mem) {
			ts = b[k].mem->ts;
			v = b[k].mem->v;
			m = b[k].mem->n;
		} else {
			if ((rc = load_row(c, s->sid, &b[k], x->ts, x->v, &m)))
				break;
			ts = x->ts;
			v = x->v;
		}
		if (n + m > x->cap) {
			x->cap = (n + m) * 2;
			x->pts = xrealloc(x->pts, x->cap * sizeof *x->pts);
		}
		for (size_t i = 0; i < m; i++)
			if (ts[i] >= x->f->from_ms && ts[i] < x->f->to_ms)
				x->pts[n++] = (xpt){ ts[i], b[k].seq, b[k].ooo, (uint32_t)i, v[i] };
	}
	if (rc)
		return rc;
	if (nb > 1)
		qsort(x->pts, n, sizeof *x->pts, cmp_xpt);
	for (size_t i = 0; i < n && !rc; i++) {
		mx_sample smp = { s->agent, s->metric, x->pts[i].ts, x->pts[i].v, s->tags, s->ntags };
		rc = x->cb(x->ctx, &smp);
	}
	return rc;
}

static int export_series(mx_db *db, xctx *x, mx_series *s, const int64_t *days, size_t ndays)
{
	snap sn;
	store_conn *c = NULL;
	xblk *b = NULL;
	size_t nb = 0, cap = 0;
	int rc = 0;
	snap_take(db, s, x->f->from_ms, x->f->to_ms, &sn);
	if (ndays && (rc = store_acquire(db->st, &c)))
		goto out;
	for (size_t d = 0; d < ndays && !rc; d++) {
		char t[32], sql[200];
		store_rows *r = NULL;
		mx_db_part_name(days[d], t, sizeof t);
		snprintf(sql, sizeof sql, "SELECT seq, kind, first_ts, last_ts FROM %s"
			 " WHERE sid = $1 AND first_ts < $3 AND last_ts >= $2", t);
		rc = store_query(c, sql, &r, SARGS(SA_INT(s->sid), SA_INT(x->f->from_ms),
						   SA_INT(x->f->to_ms)));
		int more = 0;
		while (!rc && (more = store_rows_next(r)) == 1) {
			int64_t seq = store_rows_int(r, 0);
			if (sn.skip_all_below || snap_skips(&sn, seq))
				continue;
			if (nb == cap) {
				cap = cap ? cap * 2 : 16;
				b = xrealloc(b, cap * sizeof *b);
			}
			b[nb++] = (xblk){ seq, store_rows_int(r, 2), store_rows_int(r, 3), days[d],
					  (int)(store_rows_int(r, 1) & MX_KIND_OOO), NULL };
		}
		store_rows_free(&r);
		rc = rc ? rc : more < 0 ? more : 0;
	}
	for (size_t i = 0; i < sn.nb && !rc; i++) {
		if (nb == cap) {
			cap = cap ? cap * 2 : 16;
			b = xrealloc(b, cap * sizeof *b);
		}
		const mx_pts *p = &sn.b[i].p;
		b[nb++] = (xblk){ sn.b[i].seq, p->ts[0], p->ts[p->n - 1], 0, sn.b[i].ooo, p };
	}
	if (rc || !nb)
		goto out;
	qsort(b, nb, sizeof *b, cmp_xblk);
	for (size_t i = 0; i < nb && !rc;) {
		int64_t end = b[i].last;
		size_t j = i + 1;
		while (j < nb && b[j].first <= end) {
			if (b[j].last > end)
				end = b[j].last;
			j++;
		}
		rc = export_cluster(x, c, s, b + i, j - i);
		i = j;
	}
out:
	store_release(&c);
	free(b);
	snap_release(&sn);
	return rc;
}

int mx_db_export(mx_db *db, const mx_filter *f,
		 int (*cb)(void *ctx, const mx_sample *s), void *ctx)
{
	if (f->to_ms <= f->from_ms)
		return 0;
	sel *v = NULL;
	int64_t *days = NULL;
	int rc = 0;
	size_t n = select_series(db, f, &v);
	xctx x = { .f = f, .cb = cb, .ctx = ctx };
	x.ts = xmalloc(MX_BLOCK_MAX * sizeof *x.ts);
	x.v = xmalloc(MX_BLOCK_MAX * sizeof *x.v);
	pthread_rwlock_rdlock(&db->parts);
	size_t ndays = days_in(db, f->from_ms, f->to_ms, &days);
	for (size_t i = 0; i < n && !rc; i++)
		rc = export_series(db, &x, v[i].s, days, ndays);
	pthread_rwlock_unlock(&db->parts);
	free(days);
	free(x.ts);
	free(x.v);
	free(x.pts);
	free(v);
	return rc;
}

/* ---- Latest --------------------------------------------------------- */

int mx_db_latest(mx_db *db, const mx_filter *f,
		 int (*cb)(void *ctx, const mx_sample *s), void *ctx)
{
	sel *v = NULL;
	int rc = 0;
	size_t n = select_series(db, f, &v);
	for (size_t i = 0; i < n && !rc; i++) {
		mx_series *s = v[i].s;
		pthread_rwlock_rdlock(&db->hl);
		int has = s->has_last;
		mx_sample smp = { s->agent, s->metric, s->last_ts, s->last_v, s->tags, s->ntags };
		pthread_rwlock_unlock(&db->hl);
		if (has)
			rc = cb(ctx, &smp);
	}
	free(v);
	return rc;
}
