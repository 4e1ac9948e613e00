/* Log records are one line each, whatever the caller passes: text that came
 * from outside (a request path, a login name) must not be able to end a
 * record and start a fake one. So every piece of a text record goes through
 * esc() at output, and a JSON record is made of valid UTF-8 that jansson
 * escapes. A record that cannot be encoded as JSON falls back to text. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"

/* A record longer than this is cut (at an escape boundary, so still one line). */
#define LINE_MAX_BYTES (1u << 16)

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


/* Appends s escaped: C0 controls and DEL as \n \r \t or \xNN, backslash as
 * \\, each byte of invalid UTF-8 as \xNN, C1 controls and the Unicode line
 * and paragraph separators as \uNNNN. With quote, '"' becomes \" too (the
 * caller adds the quotes). The result is valid UTF-8 without control
 * characters, and the escaping is reversible. */
static void esc(buf *b, const char *s, size_t n, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, k;
	uint32_t cp;
	char e[16];
	while (i + run < n) {
		const unsigned char *q = p + i + run;
		k = sn_utf8_decode((const char *)q, n - i - run, &cp);
		int plain = k && cp >= 0x20 && cp != 0x7f && cp != '\\' && !(quote && cp == '"') &&
			    !(cp >= 0x80 && cp <= 0x9f) && cp != 0x2028 && cp != 0x2029;
		if (plain) {
			run += k;
			continue;
		}
		if (run && buf_append(b, p + i, run))
			return;
		i += run;
		run = 0;
		if (!k)
			snprintf(e, sizeof e, "\\x%02x", *q), k = 1;
		else if (cp == '\n' || cp == '\r' || cp == '\t')
			snprintf(e, sizeof e, "\\%c", cp == '\n' ? 'n' : cp == '\r' ? 'r' : 't');
		else if (cp == '\\' || cp == '"')
			snprintf(e, sizeof e, "\\%c", (char)cp);
		else if (cp < 0x80)
			snprintf(e, sizeof e, "\\x%02x", (unsigned)cp);
		else
			snprintf(e, sizeof e, "\\u%04x", (unsigned)cp);
		if (buf_puts(b, e))
			return;
		i += k;
	}
	(void)buf_append(b, p + i, run);
}

/* A field value is quoted when it would otherwise read as several fields. */
static void esc_value(buf *b, const char *s)
{
	size_t n = strlen(s);
	if (n && !strpbrk(s, " \"=")) {
		esc(b, s, n, 0);
		return;
	}
	(void)buf_puts(b, "\"");
	esc(b, s, n, 1);
	(void)buf_puts(b, "\"");
}

/* ts LEVEL msg key=value ...; every byte from the caller escaped. */
static char *text_line(const char *ts, enum log_level lv, const char *msg, json_t *fields)
{
	buf b;
	const char *k;
	json_t *v;
	buf_init(&b, LINE_MAX_BYTES);
	(void)buf_printf(&b, "%s %-5s ", ts, names[lv]);
	esc(&b, msg, strlen(msg), 0);
	json_object_foreach(fields, k, v) {
		(void)buf_puts(&b, " ");
		esc(&b, k, strlen(k), 0);
		(void)buf_puts(&b, "=");
		if (json_is_string(v)) {
			esc_value(&b, json_string_value(v));
			continue;
		}
		/* Compact ASCII JSON holds no raw control or non-ASCII byte: as is. */
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_ENSURE_ASCII |
				     JSON_REAL_PRECISION(9));
		(void)buf_puts(&b, s ? s : "?");
		free(s);
	}
	return buf_detach(&b, NULL);
}

/* NULL when the record cannot be JSON (a field string made with
 * json_string_nocheck that is not UTF-8, or out of memory). */
static char *json_line(const char *ts, enum log_level lv, const char *msg, json_t *fields)
{
	char *line = NULL, *fixed = NULL;
	json_t *o = json_is_object(fields) ? json_deep_copy(fields) : json_object();
	if (!sn_utf8_valid(msg, strlen(msg), 0)) {
		buf b;
		buf_init(&b, LINE_MAX_BYTES);
		esc(&b, msg, strlen(msg), 0);
		msg = fixed = buf_detach(&b, NULL);
	}
	if (!o || json_object_set_new(o, "ts", json_string(ts)) ||
	    json_object_set_new(o, "level", json_string(names[lv])) ||
	    json_object_set_new(o, "msg", json_string(msg)))
		goto out;
	line = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
	if (line && strlen(line) > LINE_MAX_BYTES)
		xfree(&line);
out:
	json_decref(o);
	free(fixed);
	return line;
}

static void emit(enum log_level lv, const char *msg, json_t *fields)
{
	char ts[40];
	sn_time_format(sn_now_ms(), ts, sizeof ts);
	if (!json_is_object(fields))
		fields = NULL;
	char *line = g_json ? json_line(ts, lv, msg, fields) : NULL;
	if (!line)
		line = text_line(ts, lv, msg, fields);
	flockfile(stderr);
	fputs(line, stderr);
	fputc('\n', stderr);
	funlockfile(stderr);
	free(line);
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
