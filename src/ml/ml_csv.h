/* Numeric tables from CSV (RFC 4180: a header row, comma separators,
 * double-quoted fields with "" escapes, LF or CRLF line ends), and the
 * number parser and formatter the engine's line protocol shares. */
#ifndef SN_ML_CSV_H
#define SN_ML_CSV_H
#include <stddef.h>

#define ML_CSV_MAX_FIELD 4096   /* bytes in one field */
#define ML_CSV_MAX_COLS 65536
#define ML_CSV_MAX_CELLS (1u << 30) /* rows x selected columns */

typedef struct ml_table {
	int ncols;
	char **names; /* [ncols] */
	size_t nrows;
	float *x;     /* [nrows][ncols] */
} ml_table;

/* Parses data[0..len) keeping the named columns (comma list; NULL or ""
 * keeps all, in file order). Every kept value must be a finite number.
 * Errors name the row (1 = first data row), line and column. 0 or -EINVAL. */
int ml_csv_read(const char *data, size_t len, const char *columns, ml_table *out, char *err,
		size_t errlen);
void ml_table_release(ml_table *t);

/* Parses s[0..n) as a finite decimal float, correctly rounded; no spaces.
 * 0, or -EINVAL (not a number) or -ERANGE (not finite). */
int ml_parse_float(const char *s, size_t n, float *out);
/* Writes v with 9 significant digits (enough to round-trip a float), as
 * %.9g would; returns the length (< 24). out must hold 24 bytes. */
int ml_format_float(float v, char *out);
#endif
