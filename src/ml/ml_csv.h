/* Numeric tables from CSV, read through base/csv.h (so the trainer accepts
 * and refuses exactly the files the server does: delimiter detected among
 * , ; tab |, BOM, quotes, UTF-8 only, record and field limits there), and
 * the number parser and formatter the engine's line protocol shares. */
#ifndef SN_ML_CSV_H
#define SN_ML_CSV_H
#include <stddef.h>

#define ML_CSV_MAX_CELLS (1u << 30) /* rows x selected columns */

typedef struct ml_table {
	int ncols;
	char **names; /* [ncols] */
	size_t nrows;
	float *x;     /* [nrows][ncols] */
} ml_table;

/* Parses data[0..len) keeping the named columns (comma list; NULL or ""
 * keeps all, in file order). Every kept value must be a finite number
 * (spaces around it are ignored); header names are trimmed and must not be
 * empty. Errors name the row (1 = first data row; "header" for the header),
 * physical line and column (by name for a value, by 1-based number for the
 * reader's refusals). 0 or -EINVAL. */
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
