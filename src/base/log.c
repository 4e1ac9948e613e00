#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

static enum log_level g_level = LOG_INFO;
static int g_json;
static const char *const names[] = { "debug", "info", "warn", "error", "off" };

int log_setup(const char *level, const char *format)
{
	int lv = -1;
	for (int i = 0; i <= LOG_OFF; i++)
		if (level && strcmp(level, names[i]) == 0)
			lv = i;
	if (level && lv < 0)
		return -EINVAL;
	if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
		return -EINVAL;
	if (level)
		g_level = (enum log_level)lv;
	if (format)
		g_json = strcmp(format, "json") == 0;
	return 0;
}

int log_enabled(enum log_level lv)
{
	return lv >= g_level && lv < LOG_OFF;
}

static void emit(enum log_level lv, const char *msg, json_t *fields)
{
	char ts[40];
	sn_time_format(sn_now_ms(), ts, sizeof ts);
	char *line;
	if (g_json) {
		json_t *o = fields ? json_deep_copy(fields) : json_object();
		json_object_set_new(o, "ts", json_string(ts));
		json_object_set_new(o, "level", json_string(names[lv]));
		json_object_set_new(o, "msg", json_string(msg));
		line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
		json_decref(o);
	} else {
		char *extra = NULL;
		if (fields) {
			buf b;
			buf_init(&b, 1 << 16);
			const char *k;
			json_t *v;
			json_object_foreach(fields, k, v) {
				if (json_is_string(v))
					buf_printf(&b, " %s=%s", k, json_string_value(v));
				else {
					char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
					buf_printf(&b, " %s=%s", k, s ? s : "?");
					free(s);
				}
			}
			extra = buf_detach(&b, NULL);
		}
		line = xasprintf("%s %-5s %s%s", ts, names[lv], msg, extra ? extra : "");
		free(extra);
	}
	if (line) {
		flockfile(stderr);
		fputs(line, stderr);
		fputc('\n', stderr);
		funlockfile(stderr);
		free(line);
	}
}

void log_msg(enum log_level lv, const char *fmt, ...)
{
	if (!log_enabled(lv))
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	emit(lv, msg, NULL);
	free(msg);
}

void log_fields(enum log_level lv, const char *msg, json_t *fields)
{
	if (log_enabled(lv))
		emit(lv, msg, fields);
}
