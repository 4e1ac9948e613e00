/* Column profiles of a table, built record by record in the same pass that
 * reads it (an upload's csv_feed callback hands each record on): never a
 * second read of the data.
 *
 * Per column:
 * - type: the narrowest of int (64-bit signed), float (finite decimal),
 *   bool (true/false, any case), date (YYYY-MM-DD, a real calendar day),
 *   timestamp (a date, 'T' or ' ', HH:MM[:SS[.fraction]] and optionally Z
 *   or +HH:MM / +HHMM / +HH; no offset is read as UTC) and string that all
 *   non-null values fit. int fits float and date fits timestamp, so a
 *   column of ints and floats is float, of dates and timestamps timestamp.
 *   A column with no non-null value has type "null".
 * - null: an UNQUOTED field that is empty or exactly NA, N/A, null, NULL
 *   or NaN. A quoted field is always a value ("" is an empty string).
 * - count of values and of nulls; for int and float min, max, mean and the
 *   sample standard deviation (n - 1; one pass without cancellation:
 *   Welford's update, or blocks of values merged by Chan's formula); for date and timestamp min and max (compared as
 *   instants, printed as written); for string the shortest and longest
 *   value in bytes.
 * - distinct values: exact while the column has at most DS_TOP_TRACK of
 *   them (holding at most DS_TOP_BYTES bytes); past that a HyperLogLog of
 *   2^14 one-byte registers (16 KiB, allocated only then) estimated with
 *   Ertl's improved raw estimator: relative standard error 1.04/sqrt(2^14)
 *   = 0.8%, so within 2% about 98.7% of the time and within 2.5% (3 sigma)
 *   almost always, at any cardinality.
 * - top values: the DS_TOP_SHOW most frequent with their exact counts while
 *   the exact table holds; once it overflows the list is dropped (null)
 *   and "top_dropped" says why.
 * - histogram, for int and float: at most DS_HIST_BINS bins of width 2^e
 *   with edges at multiples of it, [k 2^e, (k+1) 2^e), for the least e
 *   at which min and max fit in that many (e >= 0 for int; for float e >=
 *   -1022 and |k| < 2^53, so edges are exact doubles), each with the exact
 *   count of its values: a function of the values alone, whatever their
 *   order, in 32 counters per column. A float column that holds an int
 *   text of magnitude 2^53 or more has none (such an int and the double
 *   it rounds to may lie in different bins).
 * Columns past DS_PROFILE_MAX_COLS are counted but not profiled, so memory
 * is bounded: at most 1024 x (16 KiB + 32 KiB of values + 36 KiB table
 * + 288 bytes of histogram).
 *
 * JSON (ds_profile_json):
 * {"rows": N data rows, "delimiter": ",", "column_count": N,
 *  "columns": [{"name": "a", "type": "int", "count": N, "nulls": N,
 *               "distinct": N, "distinct_exact": true,
 *               "min": 1, "max": 9, "mean": 4.5, "std": 2.7,
 *               "top": [{"value": "1", "count": 3}, ...],
 *               "top_dropped": "...",
 *               "histogram": [{"lo": 0, "hi": 3, "count": 5}, ...]}, ...]}
 * min/max are JSON integers for int, reals for float, strings for date and
 * timestamp and absent otherwise; mean/std only for int and float (std
 * null under two values); min_length/max_length only for string; min/max
 * and mean are absent when the column has no value; "top_dropped" only
 * when "top" is null. "histogram" (int and float with a value, see above)
 * lists the bins from the first non-empty one to the last, in order, so
 * the counts sum to "count": for int lo and hi are the least and greatest
 * ints of the bin (lo == hi at width 1), for float the bin is lo <= x < hi
 * (an edge past the largest double is given as it), but for a column of
 * one value: one bin, lo == hi == that value. "columns" lists the profiled columns in file order.
 *
 * Contract: one thread at a time per profile; ds_profile_add takes records
 * as base/csv delivers them (row 0 the header, p[n] == '\0', valid UTF-8);
 * on an error the profile is unchanged and may still be freed. */
#ifndef SN_DS_PROFILE_H
#define SN_DS_PROFILE_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "base/csv.h"

#define DS_PROFILE_MAX_COLS 1024
#define DS_TOP_TRACK 1000  /* distinct values counted exactly per column */
#define DS_TOP_BYTES 32768 /* bytes of those values per column */
#define DS_TOP_SHOW 10
#define DS_HLL_P 14 /* 2^14 registers */
#define DS_HIST_BINS 32 /* histogram bins at most (a power of two) */

typedef struct ds_profile ds_profile;

ds_profile *ds_profile_new(void);
/* One record: row 0 is the header (sets the columns), then data rows with
 * the header's field count. 0, or -EINVAL (a data row before the header, a
 * second header, a field count that differs from the header's). */
int ds_profile_add(ds_profile *p, uint64_t row, const csv_field *f, size_t nf);
/* nrec records at once, rows row..row + nrec - 1, as base/csv's batch
 * callback hands them (f[i * nf + j]: field j of record i; CSV_BATCH_PAD
 * bytes readable past each field); the same profile as adding them one by
 * one (mean and std to rounding), at a fraction of the cost: each column's
 * cells are taken in one run. Same returns; a refusal changes nothing. */
int ds_profile_add_batch(ds_profile *p, uint64_t row, const csv_field *f, size_t nrec,
			 size_t nf);
/* The profile so far as a new JSON object (shape above); delim is the
 * reader's (csv_delimiter). 0 or -ENOMEM (a jansson call failed; *out is
 * then NULL). */
int ds_profile_json(const ds_profile *p, char delim, json_t **out);
void ds_profile_free(ds_profile **p);

/* The HyperLogLog on its own, for tests and other counters: insert 64-bit
 * hashes, read the estimate. regs must hold 2^DS_HLL_P bytes, zeroed. */
void ds_hll_add(uint8_t *regs, uint64_t hash);
double ds_hll_estimate(const uint8_t *regs);
/* The 64-bit hash the profile uses for values. */
uint64_t ds_hash(const char *p, size_t n);
/* The float type's parser: s[0..n) a finite decimal as above (no NUL
 * needed after it), the double strtod gives for it. 0, -EINVAL (not such
 * a decimal, or 128 bytes or more) or -ERANGE (not finite). */
int ds_parse_float(const char *s, size_t n, double *out);
#endif
