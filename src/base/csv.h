/* The one CSV reader of the project (RFC 4180), streaming: the server's
 * dataset uploads, the profiler, the diff and the trainer all read tables
 * through it, so they accept and refuse exactly the same files.
 *
 * Accepted: fields separated by one delimiter (detected among ',' ';' '\t'
 * '|' from the start of the input, or given), records ended by LF or CRLF
 * (the last one may lack it), double-quoted fields with "" for a quote and
 * newlines inside, a UTF-8 BOM at the start, a header row.
 * Refused (-EINVAL, csv_error says why, with the 1-based physical line and
 * field number): an unterminated quote, a quote inside an unquoted field or
 * text after a closing quote, a record whose field count differs from the
 * header's, invalid UTF-8 or a NUL byte, a record over CSV_MAX_RECORD bytes,
 * more than CSV_MAX_FIELDS fields, an empty input (no header).
 *
 * Memory is bounded by the longest record, whatever the input's size: feed
 * it any chunks; each complete record reaches the callback at once.
 *
 * Refinements made while implementing (csv.c), for code written against the
 * first draft of this header:
 * - Blank lines (nothing between two line ends, or before the header) are
 *   skipped: they are no record and take no row number, but count as lines.
 *   So in a one-column table an empty value must be written "" (quoted).
 * - A CR outside quotes must be followed by LF ("CR not followed by LF");
 *   inside quotes CR and LF are data, kept as they are.
 * - Detection reads the first line that has text; the tie order is
 *   ',' ';' '\t' '|'. A delim other than those four means "detect".
 * - The error's field is the 1-based field being read, including for
 *   "more fields than the header's N" (field N + 1) and the unterminated
 *   quote (reported at the line the quote opened).
 * - csv_feed after csv_finish is an error; csv_finish twice returns the
 *   first result.
 *
 * Contract: a reader is used by one thread at a time; the callback runs
 * inside csv_feed/csv_finish only, never after one of them returned an
 * error; field bytes are valid UTF-8 with no NUL, and every data record has
 * exactly the header's field count when it reaches the callback. */
#ifndef SN_CSV_H
#define SN_CSV_H
#include <stddef.h>
#include <stdint.h>

#define CSV_MAX_RECORD ((size_t)1 << 20) /* bytes of one record, quotes included */
#define CSV_MAX_FIELDS 65536
#define CSV_BATCH_PAD 16 /* bytes readable past a batch's field (csv_batch_fn) */

typedef struct csv_reader csv_reader;

/* One field: its unquoted bytes (p[n] is '\0'; no NUL inside) and whether
 * it was quoted (an empty quoted field is "" rather than a missing value). */
typedef struct csv_field {
	const char *p;
	size_t n;
	int quoted;
} csv_field;

/* Called once per record: row 0 is the header, then 1, 2, ...; line is the
 * physical line the record starts on. The fields are valid until the call
 * returns. Return 0 to go on; any other value stops the reader, and
 * csv_feed/csv_finish return it. */
typedef int (*csv_record_fn)(void *ud, uint64_t row, uint64_t line, const csv_field *f,
			     size_t nf);

/* Called, when set (csv_set_batch), with nrec >= 1 data records at once
 * instead of fn for each: f[i * nf + j] is field j of record row + i. The
 * reader gathers them where it takes plain records whole (most of a
 * table), so a consumer that goes column by column over many records pays
 * its per-column setup once per batch; every other record (the header, a
 * quoted or otherwise irregular one) still goes to fn, in order. Same
 * fields, same return contract, as fn; and at least CSV_BATCH_PAD bytes
 * past each field's end may be read (they are the reader's; what they
 * hold is unspecified), so a consumer may load whole words. When it stops
 * the reader, csv_records counts the whole batch. */
typedef int (*csv_batch_fn)(void *ud, uint64_t row, const csv_field *f, size_t nrec, size_t nf);

/* delim: one of ',' ';' '\t' '|', or 0 to detect it from the first record
 * (the candidate that splits the header into the most fields; ',' on a tie).
 * Returns a reader; the caller frees it with csv_free. */
csv_reader *csv_new(char delim, csv_record_fn fn, void *ud);
/* Sets (or with NULL clears) the batch callback; any time before or
 * between feeds. */
void csv_set_batch(csv_reader *r, csv_batch_fn fn);
/* Feeds the next n bytes. 0, -EINVAL (malformed; see csv_error) or what the
 * callback returned. After an error every later call returns it again. */
int csv_feed(csv_reader *r, const char *p, size_t n);
/* Ends the input: delivers a last record that lacks its line end, and
 * refuses an empty input or an open quote. Same returns as csv_feed. */
int csv_finish(csv_reader *r);
/* The delimiter in use (0 before it is known). */
char csv_delimiter(const csv_reader *r);
/* Records delivered so far, the header included. */
uint64_t csv_records(const csv_reader *r);
/* After -EINVAL: why, and where (1-based physical line and field number;
 * field 0 when the whole record is at fault). NULL when no error. */
const char *csv_error(const csv_reader *r, uint64_t *line, uint64_t *field);
void csv_free(csv_reader **r);

/* A whole buffer in one call (csv_new + feed + finish + free). On a parse
 * error err gets "line L, field F: why" (or "line L: why" for field 0); when
 * the callback stopped the reader err is left alone (the callback knows
 * why). err may be NULL when errlen is 0. */
int csv_parse(const char *p, size_t n, char delim, csv_record_fn fn, void *ud, char *err,
	      size_t errlen);
#endif
