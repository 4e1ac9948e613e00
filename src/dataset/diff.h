/* Row-level diff of two versions of a table (CSV), at the speed of the disk.
 *
 * What it reports (ds_diff_tables' JSON, see docs in diff.c's head):
 * - the schema change: columns added, removed, retyped (when the caller
 *   gives each side's column types) and whether the common ones were
 *   reordered; rows are then compared on the common columns, by name;
 * - with a key (one or several columns): rows added, removed and changed,
 *   and for each sampled changed row the changed columns with both values;
 *   a key that is not unique is reported with the duplicate counts (rows
 *   whose key already appeared earlier in the same table);
 * - without a key: rows added and removed as a multiset of whole rows (a
 *   row twice in A and once in B is one removal);
 * - exact counts, and at most `limit` sample rows per category (the lowest
 *   row numbers), with their values.
 *
 * Values: a field's bytes, except that an empty unquoted field is a missing
 * value (JSON null), unlike an empty quoted one ("").
 *
 * Contract:
 * - Memory is bounded by the number of rows (24 bytes per row and table,
 *   twice while sorting), not their width, plus the sampled rows' values.
 * - Rows are compared through 64-bit digests: two different rows (or keys)
 *   compare equal with probability about n^2 / 2^64 (5e-8 for 1M rows).
 * - Each table is read twice (header, digests), and a third time up to the
 *   last sampled row when there are samples; the two tables are read in
 *   parallel, on the calling thread and one other.
 * - On error (-errno, one-line message in err) *out is untouched. */
#ifndef SN_DS_DIFF_H
#define SN_DS_DIFF_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/csv.h"

#define DS_DIFF_LIMIT_MAX 1000 /* samples per category (the caller's limit) */
#define DS_DIFF_KEY_MAX 64     /* columns of one key */

/* A table the diff reads, from its header on, as often as it needs.
 * scan delivers the records in order to fn (row 0 is the header), stops as
 * soon as fn returns nonzero and returns that value; it returns 0 at the
 * end of the table, or -errno with a one-line message in err (errlen >= 1).
 * scan is called for the two tables at once, from two threads. */
typedef struct ds_table {
	int (*scan)(void *ud, csv_record_fn fn, void *fn_ud, char *err, size_t errlen);
	void *ud;
	const char *label; /* names the table in messages, e.g. its path */
} ds_table;

/* A column's type from a profile (any string; only compared). */
typedef struct ds_coltype {
	const char *name;
	const char *type;
} ds_coltype;

typedef struct ds_diff_opts {
	const char *const *key; /* key column names; nkey 0: diff whole rows */
	size_t nkey;
	size_t limit;           /* samples per category, <= DS_DIFF_LIMIT_MAX */
	/* Hex SHA-256 of each table when the caller knows them: equal means
	 * identical, answered without reading. */
	const char *sha_a, *sha_b;
	const ds_coltype *types_a, *types_b; /* may be NULL */
	size_t ntypes_a, ntypes_b;
} ds_diff_opts;

/* Diffs table a (the old version) against b. 0 with *out a new JSON
 * object, -EINVAL (a key column missing, a duplicate column name, a limit
 * above the maximum, a malformed table...), or scan's error. */
int ds_diff_tables(const ds_table *a, const ds_table *b, const ds_diff_opts *o, json_t **out,
		   char *err, size_t errlen);

/* The same on two CSV files (read with pread from offset 0, through the
 * project's CSV reader; delimiters detected). The fds are left open. */
int ds_diff_fds(int fd_a, int fd_b, const char *label_a, const char *label_b,
		const ds_diff_opts *o, json_t **out, char *err, size_t errlen);
int ds_diff_paths(const char *path_a, const char *path_b, const ds_diff_opts *o, json_t **out,
		  char *err, size_t errlen);

/* A 64-bit hash (wyhash-style; not cryptographic): the diff's for fields
 * over 16 bytes (shorter ones take one multiply, see diff.c). */
uint64_t ds_hash64(const void *p, size_t n, uint64_t seed);
#endif
