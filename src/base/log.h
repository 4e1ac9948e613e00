/* Logging to stderr: one line per record, text or JSON, with an RFC 3339
 * UTC timestamp. Safe to call from any thread.
 *
 * Messages and fields may hold outside text as is: the text format escapes
 * control characters (\n, \xNN), backslashes and invalid UTF-8 at output,
 * and quotes a field value holding a space, '"' or '='; the JSON format
 * leaves escaping to JSON. No argument can end a record early. A field
 * string made with json_string_nocheck may hold any bytes. */
#ifndef SN_LOG_H
#define SN_LOG_H
#include <jansson.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* level: debug|info|warn|error|off; format: text|json. -EINVAL on unknown. */
int log_setup(const char *level, const char *format);
int log_enabled(enum log_level lv);
void log_msg(enum log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A record with structured fields (an object; borrowed, not stolen). A
 * NULL or non-object fields logs the message alone. */
void log_fields(enum log_level lv, const char *msg, json_t *fields);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#endif
