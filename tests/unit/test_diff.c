/* dataset/diff: ds_diff_tables against a brute-force reference on random
 * pairs of tables (generated records, no CSV), both modes; then real files
 * through the CSV reader. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/mem.h"
#include "dataset/diff.h"

/* ---- in-memory tables: a NULL value is a missing one (empty, unquoted) ---- */

#define MAXC 12

struct tab {
	const char *cols[MAXC];
	size_t ncols;
	const char **v; /* [nrows * ncols] */
	unsigned char *quoted;
	size_t nrows, cap;
	size_t records; /* records delivered, all scans together */
};

static int tab_scan(void *ud, csv_record_fn fn, void *fn_ud, char *err, size_t errlen)
{
	struct tab *t = ud;
	csv_field f[MAXC];
	(void)err;
	(void)errlen;
	for (size_t c = 0; c < t->ncols; c++)
		f[c] = (csv_field){ t->cols[c], strlen(t->cols[c]), 0 };
	t->records++;
	int rc = fn(fn_ud, 0, 1, f, t->ncols);
	for (size_t r = 0; !rc && r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->v[r * t->ncols + c];
			f[c] = (csv_field){ s ? s : "", s ? strlen(s) : 0,
					    s ? (s[0] == 0 || t->quoted[r * t->ncols + c]) : 0 };
		}
		t->records++;
		rc = fn(fn_ud, r + 1, r + 2, f, t->ncols);
	}
	return rc;
}

static const char **tab_add(struct tab *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap * 2 + 8;
		t->v = xrealloc(t->v, t->cap * t->ncols * sizeof *t->v);
		t->quoted = xrealloc(t->quoted, t->cap * t->ncols);
	}
	memset(t->quoted + t->nrows * t->ncols, 0, t->ncols);
	return t->v + t->nrows++ * t->ncols;
}

static void tab_release(struct tab *t)
{
	free(t->v);
	free(t->quoted);
	memset(t, 0, sizeof *t);
}

static int col_of(const struct tab *t, const char *name)
{
	for (size_t c = 0; c < t->ncols; c++)
		if (strcmp(t->cols[c], name) == 0)
			return (int)c;
	return -1;
}

/* ---- random pairs ---- */

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static const char *const UNIVERSE[] = { "c0", "c1", "c2", "c3", "c4", "c5", "n0", "n1" };
static const char *const VALUES[] = { "x", "y", "z", "", NULL, "\xc3\xa9t\xc3\xa9", "a,b" };
static const char *const IDS[] = { "i0", "i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8",
				   "i9", "i10", "i11", "i12", "i13", "i14", "i15", "i16", "i17",
				   "i18", "i19", "i20", "i21", "i22", "i23", "i24", "i25" };
#define NVALUES (sizeof VALUES / sizeof *VALUES)
#define NIDS (sizeof IDS / sizeof *IDS)

static void shuffle(const char **v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd((uint32_t)i);
		const char *t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

static const char *rand_value(const char *col)
{
	if (strcmp(col, "id") == 0)
		return IDS[rnd(NIDS)];
	if (strcmp(col, "k2") == 0)
		return rnd(2) ? "p" : "q";
	return VALUES[rnd(NVALUES)];
}

static void rand_row(struct tab *t, int unique_ids, size_t *next_id)
{
	const char **r = tab_add(t);
	for (size_t c = 0; c < t->ncols; c++) {
		r[c] = rand_value(t->cols[c]);
		t->quoted[(t->nrows - 1) * t->ncols + c] = (unsigned char)rnd(2);
		if (unique_ids && strcmp(t->cols[c], "id") == 0)
			r[c] = IDS[(*next_id)++ % NIDS];
	}
}

static void gen_pair(struct tab *a, struct tab *b)
{
	const char *pool[8];
	memcpy(pool, UNIVERSE, sizeof pool);
	shuffle(pool, 6);
	a->cols[a->ncols++] = "id";
	a->cols[a->ncols++] = "k2";
	for (size_t i = 0, n = 1 + rnd(5); i < n; i++)
		a->cols[a->ncols++] = pool[i];
	shuffle(a->cols, a->ncols);
	/* B: A's columns less some (never a key's), plus new ones, maybe reordered */
	for (size_t c = 0; c < a->ncols; c++)
		if (strncmp(a->cols[c], "c", 1) != 0 || rnd(5))
			b->cols[b->ncols++] = a->cols[c];
	for (size_t i = 6; i < 8; i++)
		if (!rnd(3))
			b->cols[b->ncols++] = pool[i];
	if (!rnd(3))
		shuffle(b->cols, b->ncols);

	/* mostly unique ids in A; sometimes repeated ones */
	int unique = rnd(4) != 0;
	size_t next_id = 0, na = rnd(6) ? rnd(24) : 0;
	for (size_t i = 0; i < na; i++)
		rand_row(a, unique, &next_id);
	for (size_t i = 0; i < a->nrows; i++) {
		if (!rnd(7))
			continue; /* removed */
		const char **r = tab_add(b);
		for (size_t c = 0; c < b->ncols; c++) {
			int ca = col_of(a, b->cols[c]);
			r[c] = ca >= 0 ? a->v[i * a->ncols + (size_t)ca] : rand_value(b->cols[c]);
			b->quoted[(b->nrows - 1) * b->ncols + c] = (unsigned char)rnd(2);
		}
		if (!rnd(4)) { /* changed, perhaps to the same value */
			size_t c = rnd((uint32_t)b->ncols);
			if (strcmp(b->cols[c], "id") != 0 || !rnd(3))
				r[c] = rand_value(b->cols[c]);
		}
		if (!rnd(10)) { /* a duplicate row */
			const char **d = tab_add(b);
			memcpy(d, b->v + (b->nrows - 2) * b->ncols, b->ncols * sizeof *d);
		}
	}
	for (size_t i = 0, n = rnd(6); i < n; i++)
		rand_row(b, unique, &next_id);
	if (rnd(2)) /* B's rows in another order (keyed diff must not care) */
		for (size_t i = b->nrows; i > 1; i--) {
			size_t j = rnd((uint32_t)i);
			for (size_t c = 0; c < b->ncols; c++) {
				const char *t = b->v[(i - 1) * b->ncols + c];
				b->v[(i - 1) * b->ncols + c] = b->v[j * b->ncols + c];
				b->v[j * b->ncols + c] = t;
			}
		}
}

/* ---- the reference: strings, quadratic, the rules of diff.h ---- */

static int same(const char *x, const char *y)
{
	return x == y || (x && y && strcmp(x, y) == 0);
}

struct ref {
	size_t common_a[MAXC], common_b[MAXC], ncommon;
	size_t key_a[4], key_b[4], nkey;
};

static int rows_equal(const struct tab *a, size_t i, const struct tab *b, size_t j,
		      const size_t *ca, const size_t *cb, size_t n)
{
	for (size_t c = 0; c < n; c++)
		if (!same(a->v[i * a->ncols + ca[c]], b->v[j * b->ncols + cb[c]]))
			return 0;
	return 1;
}

static json_t *jval(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *row_json(const struct tab *t, size_t r)
{
	json_t *o = json_object();
	for (size_t c = 0; c < t->ncols; c++)
		json_object_set_new(o, t->cols[c], jval(t->v[r * t->ncols + c]));
	return json_pack("{sIso}", "row", (json_int_t)(r + 1), "values", o);
}

static json_t *change_json(const struct tab *a, size_t i, const struct tab *b, size_t j,
			   const struct ref *R)
{
	json_t *key = json_object(), *cols = json_object();
	for (size_t k = 0; k < R->nkey; k++)
		json_object_set_new(key, b->cols[R->key_b[k]], jval(b->v[j * b->ncols + R->key_b[k]]));
	for (size_t c = 0; c < R->ncommon; c++) {
		const char *x = a->v[i * a->ncols + R->common_a[c]];
		const char *y = b->v[j * b->ncols + R->common_b[c]];
		if (!same(x, y))
			json_object_set_new(cols, a->cols[R->common_a[c]],
					    json_pack("{soso}", "from", jval(x), "to", jval(y)));
	}
	return json_pack("{sIsIsoso}", "row_a", (json_int_t)(i + 1), "row_b", (json_int_t)(j + 1),
			 "key", key, "columns", cols);
}

/* Appends while fewer than limit: callers go in ascending row order. */
static void bounded_push(json_t *arr, json_t *v, size_t limit)
{
	if (json_array_size(arr) < limit)
		json_array_append_new(arr, v);
	else
		json_decref(v);
}

static json_t *reference(const struct tab *a, const struct tab *b, const char *const *key,
			 size_t nkey, size_t limit)
{
	struct ref R = { .nkey = nkey };
	json_t *added = json_array(), *removed = json_array(), *changed = json_array();
	json_t *cadd = json_array(), *crem = json_array(), *ca = json_array(), *cb = json_array();
	int reordered = 0;
	for (size_t c = 0; c < a->ncols; c++) {
		json_array_append_new(ca, json_string(a->cols[c]));
		int j = col_of(b, a->cols[c]);
		if (j < 0) {
			json_array_append_new(crem, json_string(a->cols[c]));
			continue;
		}
		if (R.ncommon && (size_t)j < R.common_b[R.ncommon - 1])
			reordered = 1;
		R.common_a[R.ncommon] = c;
		R.common_b[R.ncommon++] = (size_t)j;
	}
	for (size_t c = 0; c < b->ncols; c++) {
		json_array_append_new(cb, json_string(b->cols[c]));
		if (col_of(a, b->cols[c]) < 0)
			json_array_append_new(cadd, json_string(b->cols[c]));
	}
	for (size_t k = 0; k < nkey; k++) {
		R.key_a[k] = (size_t)col_of(a, key[k]);
		R.key_b[k] = (size_t)col_of(b, key[k]);
	}
	unsigned char *ma = xcalloc(a->nrows + 1, 1), *mb = xcalloc(b->nrows + 1, 1);
	size_t *pa = xcalloc(a->nrows + 1, sizeof *pa); /* B row of a changed A row, +1 */
	unsigned char *done = xcalloc(a->nrows + 1, 1);
	uint64_t nunch = 0, nchg = 0, dup_a = 0, dup_b = 0;
	/* rows match row by row when the keys (or, without key, nothing) agree */
	for (size_t i = 0; i < a->nrows; i++)
		for (size_t j = 0; j < b->nrows; j++)
			if (!mb[j] && rows_equal(a, i, b, j, R.key_a, R.key_b, nkey) &&
			    rows_equal(a, i, b, j, R.common_a, R.common_b, R.ncommon)) {
				ma[i] = mb[j] = 1;
				nunch++;
				break;
			}
	if (nkey) {
		/* per key, the unmatched rows pair up in row order */
		for (size_t i = 0; i < a->nrows; i++) {
			if (ma[i] || done[i])
				continue;
			size_t j = 0;
			for (size_t i2 = i; i2 < a->nrows; i2++) {
				if (ma[i2] || done[i2] || !rows_equal(a, i, a, i2, R.key_a, R.key_a, nkey))
					continue;
				done[i2] = 1;
				while (j < b->nrows &&
				       (mb[j] || !rows_equal(a, i2, b, j, R.key_a, R.key_b, nkey)))
					j++;
				if (j < b->nrows) {
					mb[j] = 2;
					pa[i2] = j + 1;
					nchg++;
				}
			}
		}
		for (size_t i = 0; i < a->nrows; i++)
			for (size_t i2 = 0; i2 < i; i2++)
				if (rows_equal(a, i, a, i2, R.key_a, R.key_a, nkey)) {
					dup_a++;
					break;
				}
		for (size_t j = 0; j < b->nrows; j++)
			for (size_t j2 = 0; j2 < j; j2++)
				if (rows_equal(b, j, b, j2, R.key_b, R.key_b, nkey)) {
					dup_b++;
					break;
				}
	}
	uint64_t nadd = 0, nrem = 0;
	for (size_t i = 0; i < a->nrows; i++) {
		if (pa[i])
			bounded_push(changed, change_json(a, i, b, pa[i] - 1, &R), limit);
		else if (!ma[i])
			nrem++, bounded_push(removed, row_json(a, i), limit);
	}
	for (size_t j = 0; j < b->nrows; j++)
		if (!mb[j])
			nadd++, bounded_push(added, row_json(b, j), limit);
	free(ma);
	free(mb);
	free(pa);
	free(done);
	json_t *keyj = json_array();
	for (size_t k = 0; k < nkey; k++)
		json_array_append_new(keyj, json_string(key[k]));
	json_t *j = json_pack(
		"{sbsos{sIsI}s{sbsosososos[]sb}s{sIsIsIsI}sIs{sososo}}", "identical", 0, "key",
		nkey ? keyj : json_null(), "rows", "a", (json_int_t)a->nrows, "b",
		(json_int_t)b->nrows, "schema", "changed",
		json_array_size(cadd) || json_array_size(crem) || reordered, "columns_a", ca,
		"columns_b", cb, "added", cadd, "removed", crem, "retyped", "reordered", reordered,
		"counts", "added", (json_int_t)nadd, "removed", (json_int_t)nrem, "changed",
		(json_int_t)nchg, "unchanged", (json_int_t)nunch, "limit", (json_int_t)limit,
		"samples", "added", added, "removed", removed, "changed", changed);
	if (!nkey)
		json_decref(keyj);
	else
		json_object_set_new(j, "key_unique", json_boolean(!dup_a && !dup_b)),
			json_object_set_new(j, "duplicate_keys",
					    json_pack("{sIsI}", "a", (json_int_t)dup_a, "b",
						      (json_int_t)dup_b));
	return j;
}

static void check_equal(json_t *got, json_t *want, uint64_t seed)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_SORT_KEYS | JSON_INDENT(1));
		char *w = json_dumps(want, JSON_SORT_KEYS | JSON_INDENT(1));
		print_error("seed %llu\ngot:\n%s\nwant:\n%s\n", (unsigned long long)seed, g, w);
		free(g);
		free(w);
		fail();
	}
}

static void random_pairs(const char *const *key, size_t nkey)
{
	static const size_t limits[] = { 0, 1, 3, 50 };
	for (uint64_t seed = 1; seed <= 400; seed++) {
		struct tab a = { 0 }, b = { 0 };
		rng = seed * 0x9e3779b97f4a7c15ULL + nkey;
		gen_pair(&a, &b);
		size_t limit = limits[rnd(4)];
		ds_table ta = { tab_scan, &a, "A" }, tb = { tab_scan, &b, "B" };
		ds_diff_opts o = { .key = key, .nkey = nkey, .limit = limit };
		json_t *got = NULL, *want = reference(&a, &b, key, nkey, limit);
		char err[256] = "";
		int rc = ds_diff_tables(&ta, &tb, &o, &got, err, sizeof err);
		if (rc)
			print_error("seed %llu: %s\n", (unsigned long long)seed, err);
		assert_int_equal(rc, 0);
		check_equal(got, want, seed);
		json_decref(got);
		json_decref(want);
		tab_release(&a);
		tab_release(&b);
	}
}

static void test_random_keyed(void **state)
{
	(void)state;
	const char *const key[] = { "id" };
	random_pairs(key, 1);
}

static void test_random_two_column_key(void **state)
{
	(void)state;
	const char *const key[] = { "k2", "id" };
	random_pairs(key, 2);
}

static void test_random_rows(void **state)
{
	(void)state;
	random_pairs(NULL, 0);
}

/* Groups of one sort key larger than sort_digests' insertion buckets: a
 * key with two values over 150 rows, and many equal whole rows. */
static void test_big_groups(void **state)
{
	(void)state;
	static const char *const ids[] = { "i0", "i1" }, *const vals[] = { "x", "y", "z" };
	for (uint64_t seed = 1; seed <= 20; seed++) {
		struct tab a = { 0 }, b = { 0 };
		rng = seed * 0x9e3779b97f4a7c15ULL;
		a.cols[a.ncols++] = b.cols[b.ncols++] = "id";
		a.cols[a.ncols++] = b.cols[b.ncols++] = "v";
		for (size_t i = 0; i < 150; i++) {
			const char **r = tab_add(&a);
			r[0] = ids[rnd(2)], r[1] = vals[rnd(3)];
			r = tab_add(&b);
			r[0] = ids[rnd(2)], r[1] = vals[rnd(3)];
		}
		const char *const key[] = { "id" };
		for (size_t nkey = 0; nkey < 2; nkey++) {
			ds_table ta = { tab_scan, &a, "A" }, tb = { tab_scan, &b, "B" };
			ds_diff_opts o = { .key = key, .nkey = nkey, .limit = 40 };
			json_t *got = NULL, *want = reference(&a, &b, key, nkey, 40);
			char err[256];
			assert_int_equal(ds_diff_tables(&ta, &tb, &o, &got, err, sizeof err), 0);
			check_equal(got, want, seed);
			json_decref(got);
			json_decref(want);
		}
		tab_release(&a);
		tab_release(&b);
	}
}

/* ---- fixed cases ---- */

static void tab_set(struct tab *t, const char *cols, const char *const *rows, size_t n)
{
	char *c = xstrdup(cols), *save = NULL;
	for (char *p = strtok_r(c, ",", &save); p; p = strtok_r(NULL, ",", &save))
		t->cols[t->ncols++] = p;
	/* the column names live as long as the test: leaked copy kept below */
	for (size_t i = 0; i < n; i++) {
		const char **r = tab_add(t);
		const char *s = rows[i];
		for (size_t k = 0; k < t->ncols; k++) {
			size_t len = strcspn(s, ",");
			r[k] = len ? xstrndup(s, len) : NULL;
			s += len + (s[len] == ',');
		}
	}
}

static void tab_free_strings(struct tab *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free((char *)t->v[i]);
	free((char *)t->cols[0]);
	tab_release(t);
}

static json_t *diff(struct tab *a, struct tab *b, const ds_diff_opts *o, int want_rc, char *err)
{
	ds_table ta = { tab_scan, a, "A" }, tb = { tab_scan, b, "B" };
	json_t *got = NULL;
	assert_int_equal(ds_diff_tables(&ta, &tb, o, &got, err, 256), want_rc);
	return got;
}

static void test_multiset(void **state)
{
	(void)state;
	static const char *const ra[] = { "x,1", "y,2", "x,1", "x,1" };
	static const char *const rb[] = { "y,2", "x,1", "z,3" };
	struct tab a = { 0 }, b = { 0 };
	char err[256];
	tab_set(&a, "s,n", ra, 4);
	tab_set(&b, "s,n", rb, 3);
	ds_diff_opts o = { .limit = 10 };
	json_t *j = diff(&a, &b, &o, 0, err);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "removed")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "added")), 1);
	/* the later copies of x are the removed ones */
	json_t *rem = json_object_get(json_object_get(j, "samples"), "removed");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rem, 0), "row")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rem, 1), "row")), 4);
	json_decref(j);
	tab_free_strings(&a);
	tab_free_strings(&b);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	static const char *const ra[] = { "1,a", "1,b", "2,c", "3,d" };
	static const char *const rb[] = { "1,b", "1,e", "1,f", "2,c", "3,d", "3,d" };
	struct tab a = { 0 }, b = { 0 };
	char err[256];
	tab_set(&a, "id,v", ra, 4);
	tab_set(&b, "id,v", rb, 6);
	const char *const key[] = { "id" };
	ds_diff_opts o = { .key = key, .nkey = 1, .limit = 10 };
	json_t *j = diff(&a, &b, &o, 0, err);
	assert_false(json_boolean_value(json_object_get(j, "key_unique")));
	json_t *d = json_object_get(j, "duplicate_keys");
	assert_int_equal(json_integer_value(json_object_get(d, "a")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "b")), 3);
	json_t *c = json_object_get(j, "counts");
	/* key 1: b matches b, a->e changed, f added; key 3: one d added */
	assert_int_equal(json_integer_value(json_object_get(c, "unchanged")), 3);
	assert_int_equal(json_integer_value(json_object_get(c, "changed")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "added")), 2);
	assert_int_equal(json_integer_value(json_object_get(c, "removed")), 0);
	json_decref(j);
	tab_free_strings(&a);
	tab_free_strings(&b);
}

static void test_schema_and_types(void **state)
{
	(void)state;
	static const char *const ra[] = { "1,a,x", "2,b,y" };
	static const char *const rb[] = { "q,2,b", "r,1,z" };
	struct tab a = { 0 }, b = { 0 };
	char err[256];
	tab_set(&a, "id,v,gone", ra, 2);
	tab_set(&b, "new,id,v", rb, 2);
	const char *const key[] = { "id" };
	const ds_coltype ta[] = { { "id", "integer" }, { "v", "string" }, { "gone", "string" } };
	/* a profile entry without a name ("" twice) leaves the others alone */
	const ds_coltype tb[] = { { "id", "float" }, { "v", "string" }, { "new", "string" },
				  { "", "" }, { "", "" } };
	ds_diff_opts o = { .key = key, .nkey = 1, .limit = 5, .types_a = ta, .ntypes_a = 3,
			   .types_b = tb, .ntypes_b = 5 };
	json_t *j = diff(&a, &b, &o, 0, err);
	json_t *want = json_pack("{sbs[sss]s[sss]s[s]s[s]sbs[{ssssss}]}", "changed", 1,
				 "columns_a", "id", "v", "gone", "columns_b", "new", "id", "v",
				 "added", "new", "removed", "gone", "reordered", 0, "retyped",
				 "column", "id", "from", "integer", "to", "float");
	check_equal(json_object_get(j, "schema"), want, 0);
	json_decref(want);
	/* rows compare on id and v only: row 2 is unchanged although gone/new differ */
	json_t *c = json_object_get(j, "counts");
	assert_int_equal(json_integer_value(json_object_get(c, "unchanged")), 1);
	assert_int_equal(json_integer_value(json_object_get(c, "changed")), 1);
	json_decref(j);
	tab_free_strings(&a);
	tab_free_strings(&b);
}

static int no_scan(void *ud, csv_record_fn fn, void *fn_ud, char *err, size_t errlen)
{
	(void)ud, (void)fn, (void)fn_ud, (void)err, (void)errlen;
	fail_msg("an identical pair was read");
	return -EIO;
}

static void test_identical_sha(void **state)
{
	(void)state;
	ds_table t = { no_scan, NULL, "A" };
	ds_diff_opts o = { .limit = 5, .sha_a = "ab12", .sha_b = "AB12" };
	json_t *j = NULL;
	char err[256];
	assert_int_equal(ds_diff_tables(&t, &t, &o, &j, err, sizeof err), 0);
	assert_true(json_is_true(json_object_get(j, "identical")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "added")), 0);
	json_decref(j);
}

static int failing_scan(void *ud, csv_record_fn fn, void *fn_ud, char *err, size_t errlen)
{
	(void)ud, (void)fn, (void)fn_ud;
	snprintf(err, errlen, "disk on fire");
	return -EIO;
}

static void test_refusals(void **state)
{
	(void)state;
	static const char *const rows[] = { "1,a" };
	struct tab a = { 0 }, b = { 0 }, d = { 0 };
	char err[256];
	tab_set(&a, "id,v", rows, 1);
	tab_set(&b, "v,w", rows, 1);
	tab_set(&d, "id,id", rows, 1);
	const char *const key[] = { "id" };
	ds_diff_opts o = { .key = key, .nkey = 1, .limit = 5 };
	assert_null(diff(&a, &b, &o, -EINVAL, err));
	assert_non_null(strstr(err, "B: no key column 'id'"));
	assert_null(diff(&a, &d, &o, -EINVAL, err));
	assert_non_null(strstr(err, "column 'id' appears twice"));
	o.limit = DS_DIFF_LIMIT_MAX + 1;
	assert_null(diff(&a, &a, &o, -EINVAL, err));
	o.limit = 5;
	ds_table ta = { tab_scan, &a, "A" }, tf = { failing_scan, NULL, "broken.csv" };
	json_t *j = NULL;
	assert_int_equal(ds_diff_tables(&ta, &tf, &o, &j, err, sizeof err), -EIO);
	assert_string_equal(err, "broken.csv: disk on fire");
	assert_null(j);
	tab_free_strings(&a);
	tab_free_strings(&b);
	tab_free_strings(&d);
}

/* Samples need a second read, stopped at the last sampled row. */
static void test_second_pass_stops(void **state)
{
	(void)state;
	static char vals[1001][8];
	struct tab a = { 0 }, b = { 0 };
	a.cols[a.ncols++] = b.cols[b.ncols++] = "v";
	for (size_t i = 0; i <= 1000; i++)
		snprintf(vals[i], sizeof vals[i], "%zu", i);
	for (size_t i = 0; i < 1000; i++) {
		*tab_add(&a) = vals[i];
		*tab_add(&b) = vals[i == 3 ? 1000 : i];
	}
	ds_table ta = { tab_scan, &a, "A" }, tb = { tab_scan, &b, "B" };
	ds_diff_opts o = { .limit = 5 };
	json_t *j = NULL;
	char err[256];
	assert_int_equal(ds_diff_tables(&ta, &tb, &o, &j, err, sizeof err), 0);
	/* header, every row, then up to row 4 (header included) */
	assert_int_equal(a.records, 1 + 1001 + 5);
	json_t *s = json_object_get(j, "samples");
	json_t *want = json_pack("{s[{sis{ss}}]s[{sis{ss}}]s[]}", "added", "row", 4, "values", "v",
				 "1000", "removed", "row", 4, "values", "v", "3", "changed");
	check_equal(s, want, 0);
	json_decref(want);
	json_decref(j);
	o.limit = 0;
	a.records = 0;
	assert_int_equal(ds_diff_tables(&ta, &tb, &o, &j, err, sizeof err), 0);
	assert_int_equal(a.records, 1 + 1001); /* no samples: no third read */
	json_decref(j);
	tab_release(&a);
	tab_release(&b);
}

/* ---- real files through the CSV reader ---- */

static char *write_tmp(const char *text)
{
	char *path = xstrdup("/tmp/test_diff_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_files(void **state)
{
	(void)state;
	/* B: other delimiter, CRLF, columns reordered, a quoted newline; an
	 * empty unquoted note is missing (null), a quoted one is "" */
	char *a = write_tmp("id,name,note\n1,ann,\n2,bob,\"x\ny\"\n3,cy,z\n");
	char *b = write_tmp("note;id;name\r\n\"x\ny\";2;bob\r\n\"\";1;ann\r\n;4;dee\r\n");
	char *bad = write_tmp("id,name,note\n1,ann,\n2,\"bob\n");
	const char *const key[] = { "id" };
	ds_diff_opts o = { .key = key, .nkey = 1, .limit = 10 };
	json_t *j = NULL;
	char err[256] = "";
	int rc = ds_diff_paths(a, b, &o, &j, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	json_t *want = json_pack(
		"{s{sIsIsIsI}s{s[{sIs{snssss}}]s[{sIs{ssssss}}]s[{sIsIs{ss}s{s{snss}}}]}}", "counts",
		"added", (json_int_t)1, "removed", (json_int_t)1, "changed", (json_int_t)1,
		"unchanged", (json_int_t)1, "samples", "added", "row", (json_int_t)3, "values",
		"note", "id", "4", "name", "dee", "removed", "row", (json_int_t)3, "values",
		"id", "3", "name", "cy", "note", "z", "changed", "row_a", (json_int_t)1, "row_b",
		(json_int_t)2, "key", "id", "1", "columns", "note", "from", "to", "");
	assert_non_null(want);
	json_t *got = json_pack("{sOsO}", "counts", json_object_get(j, "counts"), "samples",
				json_object_get(j, "samples"));
	check_equal(got, want, 0);
	json_decref(got);
	json_decref(want);
	json_decref(j);
	j = NULL;
	assert_int_equal(ds_diff_paths(a, bad, &o, &j, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, bad));
	assert_non_null(strstr(err, "line 3"));
	assert_null(j);
	assert_int_equal(ds_diff_paths(a, "/nonexistent/b.csv", &o, &j, err, sizeof err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/b.csv"));
	/* the same file: nothing differs */
	assert_int_equal(ds_diff_paths(a, a, &o, &j, err, sizeof err), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "unchanged")), 3);
	assert_false(json_is_true(json_object_get(json_object_get(j, "schema"), "changed")));
	json_decref(j);
	unlink(a);
	unlink(b);
	unlink(bad);
	free(a);
	free(b);
	free(bad);
}

static void test_hash(void **state)
{
	(void)state;
	/* exact-size buffers: ASan sees any read past the end */
	uint64_t seen[129];
	for (size_t n = 0; n <= 128; n++) {
		unsigned char *p = xmalloc(n ? n : 1);
		memset(p, 'a', n);
		seen[n] = ds_hash64(p, n, 7);
		assert_true(ds_hash64(p, n, 7) == seen[n]);
		assert_true(ds_hash64(p, n, 8) != seen[n]);
		for (size_t m = 0; m < n; m++)
			assert_true(seen[m] != seen[n]);
		if (n) {
			p[n - 1] = 'b';
			assert_true(ds_hash64(p, n, 7) != seen[n]);
		}
		free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_random_keyed),
		cmocka_unit_test(test_random_two_column_key),
		cmocka_unit_test(test_random_rows),
		cmocka_unit_test(test_big_groups),
		cmocka_unit_test(test_multiset),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_schema_and_types),
		cmocka_unit_test(test_identical_sha),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_second_pass_stops),
		cmocka_unit_test(test_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
