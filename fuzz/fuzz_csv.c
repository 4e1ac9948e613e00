/* libFuzzer target: the CSV reader of `sentinel train` / `produce`, the
 * float parser it shares with the engine's line protocol, and config.json.
 * The first byte picks the column selection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ml/ml_config.h"
#include "ml/ml_csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sel[] = { NULL, "a", "b,a", "a,a", "x" };
	char err[512];
	ml_table t;
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (ml_csv_read(text, len, sel[data[0] % 5], &t, err, sizeof err) == 0)
		ml_table_release(&t);
	float v;
	(void)ml_parse_float(text, len, &v);
	ml_config c;
	if (ml_config_parse(text, len, &c, err, sizeof err) == 0) {
		/* What parses must dump again (or say why not): no crash either way. */
		char *s = NULL;
		if (ml_config_dump(&c, &s, err, sizeof err) == 0 && !s)
			abort();
		free(s);
		ml_config_release(&c);
	}
	return 0;
}
