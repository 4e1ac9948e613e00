/* What handlers call: request accessors, body field helpers, replies and
 * Server-Sent Events. Every reply goes through set_response, which keeps
 * the first and refuses a second (a handler bug, logged). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "store/store.h"
#include "http/http_int.h"

static void set_response(http_req *r, int status, struct MHD_Response *resp, const char *ctype)
{
	if (r->status) {
		/* A second reply is a bug in a handler; keep the first. */
		log_error("http: second reply %d ignored for %s %s", status, r->method, r->path);
		MHD_destroy_response(resp);
		return;
	}
	r->status = status;
	r->resp = resp;
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, "X-Request-Id", r->id);
	/* API replies are never cached, unless the handler says otherwise
	 * (the console's files, SSE). */
	int cache_set = 0;
	for (int i = 0; i < r->nhdrs; i++) {
		MHD_add_response_header(resp, r->hdr_name[i], r->hdr_val[i]);
		cache_set |= strcasecmp(r->hdr_name[i], MHD_HTTP_HEADER_CACHE_CONTROL) == 0;
	}
	if (!cache_set)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	http_cors_headers(r, resp);
}

void http_reply_header(http_req *r, const char *name, const char *value)
{
	/* Handlers set at most a few headers; more is a bug, logged, not a crash. */
	if (r->nhdrs == MAX_HEADERS) {
		log_error("http: header %s dropped on %s %s (more than %d)", name, r->method, r->path,
			  MAX_HEADERS);
		return;
	}
	r->hdr_name[r->nhdrs] = xstrdup(name);
	r->hdr_val[r->nhdrs] = xstrdup(value);
	r->nhdrs++;
}

void http_reply_data(http_req *r, int status, const char *content_type, char *data, size_t len)
{
	if (r->ev) {
		/* The event loop writes the head itself (evloop.c). */
		if (r->status) {
			log_error("http: second reply %d ignored for %s %s", status, r->method, r->path);
			free(data);
			return;
		}
		r->status = status;
		r->ev->body = data;
		r->ev->len = len;
		size_t cl = content_type ? strlen(content_type) : 0;
		if (cl >= sizeof r->ev->ctype_buf) {
			r->ev->ctype = xstrdup(content_type);
		} else if (content_type) {
			memcpy(r->ev->ctype_buf, content_type, cl + 1);
			r->ev->ctype = r->ev->ctype_buf;
		}
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	/* libmicrohttpd fails only when out of memory: the policy of base/mem.h. */
	if (!resp) {
		log_error("http: out of memory for a %zu-byte reply", len);
		abort();
	}
	set_response(r, status, resp, content_type);
}

void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t offset,
		   uint64_t len)
{
	if (r->ev) { /* the event loop's routes answer from memory */
		close(fd);
		http_reply_error(r, 500, "internal", "this listener sends no files");
		return;
	}
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, offset);
	/* NULL only for a range past what off_t holds (callers pass a file's
	 * own range) or out of memory. */
	if (!resp) {
		close(fd);
		http_reply_error(r, 500, "internal", "cannot stream the file");
		return;
	}
	set_response(r, status, resp, content_type);
}

struct cb_reply {
	http_read_fn read;
	void *cls;
	void (*free_fn)(void *);
};

static ssize_t cb_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct cb_reply *c = cls;
	long n = c->read(c->cls, pos, out, max);
	return n > 0 ? (ssize_t)n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
					   : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void cb_free(void *cls)
{
	struct cb_reply *c = cls;
	if (c->free_fn)
		c->free_fn(c->cls);
	free(c);
}

void http_reply_callback(http_req *r, int status, const char *content_type, uint64_t len,
			 http_read_fn read, void *cls, void (*free_fn)(void *))
{
	if (r->ev) {
		if (free_fn)
			free_fn(cls);
		http_reply_error(r, 500, "internal", "this listener streams no replies");
		return;
	}
	struct cb_reply *c = xmalloc(sizeof *c);
	*c = (struct cb_reply){ read, cls, free_fn };
	struct MHD_Response *resp = MHD_create_response_from_callback(
		len == HTTP_LEN_UNKNOWN ? MHD_SIZE_UNKNOWN : len, 65536, cb_read, c, cb_free);
	if (!resp) {
		cb_free(c);
		http_reply_error(r, 500, "internal", "cannot stream the reply");
		return;
	}
	set_response(r, status, resp, content_type);
}

/* Used when even the error envelope cannot be built or encoded (out of
 * jansson's reach: it only fails on invalid UTF-8 or memory), so that a
 * reply is always JSON and never NULL. */
static const char fallback_envelope[] =
	"{\"error\":{\"code\":\"internal\",\"message\":\"the reply could not be encoded\"}}\n";

static void reply_fallback(http_req *r)
{
	char *s = xstrdup(fallback_envelope);
	http_reply_data(r, 500, "application/json", s, strlen(s));
}

/* Replies with s (a JSON text, taken) plus a newline. */
static void reply_text(http_req *r, int status, char *s)
{
	size_t n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	http_reply_data(r, status, "application/json", s, n + 1);
}

void http_reply_json(http_req *r, int status, json_t *json)
{
	char *s = json ? json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(json);
	if (!s) {
		log_error("http: cannot encode the reply to %s %s", r->method, r->path);
		http_reply_error(r, 500, "internal", "cannot encode the response");
		return;
	}
	reply_text(r, status, s);
}

json_t *http_error_json(const char *code, const char *message, const char *request_id)
{
	/* Messages quote outside input (paths, names): invalid UTF-8 in them
	 * becomes U+FFFD rather than a NULL envelope. */
	char *c = sn_utf8_sanitize(code ? code : "internal");
	char *m = sn_utf8_sanitize(message ? message : "");
	char *id = sn_utf8_sanitize(request_id);
	json_t *e = json_pack("{s:s,s:s}", "code", c, "message", m);
	if (e && id && json_object_set_new(e, "request_id", json_string(id))) {
		json_decref(e);
		e = NULL;
	}
	json_t *o = e ? json_pack("{s:o}", "error", e) : NULL;
	free(c);
	free(m);
	free(id);
	return o;
}

void http_reply_error(http_req *r, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	json_t *o = http_error_json(code, msg, r->id);
	free(msg);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!s) {
		reply_fallback(r);
		return;
	}
	reply_text(r, status, s);
}

int http_errno_status(int rc, const char **code)
{
	static const struct { int rc, status; const char *code; } map[] = {
		{ -EINVAL, 400, "bad_request" },
		{ -EACCES, 403, "forbidden" },
		{ -ENOENT, 404, "not_found" },
		{ -EEXIST, 409, "conflict" },
		{ -EFBIG, 413, "too_large" },
		{ -EPERM, 422, "refused" },
		{ -EBADMSG, 422, "bad_archive" },
		{ -EAGAIN, 503, "busy" },
		{ -EBUSY, 503, "busy" },
		{ -ETIMEDOUT, 503, "store_busy" },
		/* The store's own codes, for handlers that pass them on as they
		 * are: a database away (PostgreSQL restarting) is a 503 too. */
		{ STORE_EBUSY, 503, "store_busy" },
		{ STORE_ECONSTRAINT, 409, "conflict" },
		{ -ENOSPC, 507, "insufficient_storage" },
		{ -EDQUOT, 507, "insufficient_storage" },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].rc == rc) {
			*code = map[i].code;
			return map[i].status;
		}
	*code = "internal";
	return 500;
}

void http_reply_errno(http_req *r, int rc, const char *fmt, ...)
{
	const char *code;
	int status = http_errno_status(rc, &code);
	char *msg;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		msg = xvasprintf(fmt, ap);
		va_end(ap);
	} else if (rc == STORE_EBUSY) {
		msg = xstrdup("the database is busy or unavailable; try again");
	} else {
		msg = xstrdup(strerror(rc < 0 ? -rc : rc));
	}
	if (status == 500)
		log_error("http: %s %s: %s (%s)", r->method, r->path, msg, strerror(rc < 0 ? -rc : rc));
	if (status == 503)
		http_reply_header(r, "Retry-After", "1");
	http_reply_error(r, status, code, "%s", msg);
	free(msg);
}

void http_reply_list(http_req *r, json_t *items, const char *next_cursor)
{
	json_t *o = json_pack("{s:o,s:o?}", "items", items, "next_cursor",
			      next_cursor ? json_string(next_cursor) : NULL);
	http_reply_json(r, 200, o); /* NULL (items NULL, bad cursor) answers 500 */
}

/* ---- server-sent events ---- */

struct sse {
	hub *h;
	char *prefix;
	hub_viewer viewer; /* user_id owned */
	uint64_t cursor;
	buf pending;
	size_t off;
	int keepalive_ms;
};

/* libmicrohttpd pulls the stream through this callback on the connection's
 * thread; blocking here (in hub_next) is what a thread per connection is
 * for. Each call hands out what is pending, fetching the next event or a
 * keep-alive only when everything pending has gone out. */
static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *s = cls;
	(void)pos;
	while (s->off >= s->pending.len) {
		char *topic = NULL, *data = NULL;
		buf_reset(&s->pending);
		s->off = 0;
		int rc = hub_next_for(s->h, &s->viewer, s->prefix, &s->cursor, s->keepalive_ms,
				      &topic, &data);
		if (rc == 0)
			buf_printf(&s->pending, "id: %llu\nevent: %s\ndata: %s\n\n",
				   (unsigned long long)s->cursor, topic, data);
		else if (rc == -ETIMEDOUT)
			buf_puts(&s->pending, ": keep-alive\n\n");
		else if (rc == -ESTALE)
			buf_printf(&s->pending, "id: %llu\nevent: lagged\ndata: {}\n\n",
				   (unsigned long long)s->cursor);
		free(topic);
		free(data);
		if (rc == -EPIPE)
			return MHD_CONTENT_READER_END_OF_STREAM;
	}
	size_t n = s->pending.len - s->off;
	if (n > max)
		n = max;
	memcpy(out, s->pending.data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	buf_release(&s->pending);
	free(s->prefix);
	free((char *)s->viewer.user_id);
	free(s);
}

int http_sse_keepalive_ms = 15000;

void http_reply_sse(http_req *r, const char *prefix, const hub_viewer *viewer)
{
	if (!r->srv->events || r->ev) {
		http_reply_error(r, 404, "not_found", "no event stream");
		return;
	}
	struct sse *s = xcalloc(1, sizeof *s);
	s->h = r->srv->events;
	s->prefix = xstrdup(prefix ? prefix : "");
	s->viewer.user_id = xstrdup(viewer ? viewer->user_id : NULL);
	s->viewer.admin = viewer ? viewer->admin : 0;
	s->keepalive_ms = http_sse_keepalive_ms;
	buf_init(&s->pending, 1 << 20);
	/* ?last_event_id= is for a browser that reopens a stream itself
	 * (EventSource sets no header then); the header wins. */
	const char *last = http_req_header(r, "Last-Event-ID");
	if (!last)
		last = http_req_query(r, "last_event_id");
	char *end = NULL;
	unsigned long long v = last ? strtoull(last, &end, 10) : 0;
	/* Without a valid Last-Event-ID the stream starts now, not from the ring's start. */
	s->cursor = (last && *last >= '0' && *last <= '9' && end && *end == '\0') ? v : hub_last_id(s->h);
	buf_puts(&s->pending, "retry: 3000\n: connected\n\n");
	struct MHD_Response *resp =
		MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
	set_response(r, 200, resp, "text/event-stream");
}

/* ---- request accessors ---- */

const char *http_req_method(const http_req *r) { return r->method; }
const char *http_req_path(const http_req *r) { return r->path; }
const char *http_req_addr(const http_req *r) { return r->addr; }
int http_req_relayed(const http_req *r) { return r->replica; }
const char *http_req_id(const http_req *r) { return r->id; }
json_t *http_req_json(const http_req *r) { return r->json; }
const char *http_req_body_path(const http_req *r) { return r->spool_path; }
void *http_req_state(const http_req *r) { return r->state; }
int http_req_stream_error(const http_req *r) { return r->stream_err; }
uint64_t http_req_streamed(const http_req *r) { return r->spooled; }

void http_req_set_state(http_req *r, void *state, void (*free_fn)(void *))
{
	if (r->state && r->state_free)
		r->state_free(r->state);
	r->state = state;
	r->state_free = free_fn;
}
void *http_req_user(const http_req *r) { return r->user; }
const char *http_req_actor(const http_req *r) { return r->actor; }
const char *http_req_target(const http_req *r) { return r->target; }

const char *http_req_raw_target(const http_req *r)
{
	return r->hc && r->hc->raw_uri ? r->hc->raw_uri : r->path;
}
const http_route *http_req_route(const http_req *r) { return r->route; }
void http_req_set_audited(http_req *r) { r->audited = 1; }
int http_req_audited(const http_req *r) { return r->audited; }

const char *http_req_param(const http_req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (strcmp(r->param_name[i], name) == 0)
			return r->param_val[i];
	return NULL;
}

const char *http_req_query(const http_req *r, const char *name)
{
	if (r->ev) {
		for (int i = 0; i < r->ev->nq; i++)
			if (strcmp(r->ev->qname[i], name) == 0)
				return r->ev->qval[i];
		return NULL;
	}
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *http_req_header(const http_req *r, const char *name)
{
	if (r->ev)
		return http_ev_header(&r->ev->h, name);
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *http_req_body(const http_req *r, size_t *len)
{
	if (len)
		*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

void http_req_set_auth(http_req *r, void *user, void (*user_free)(void *), const char *actor)
{
	if (r->user && r->user_free)
		r->user_free(r->user);
	r->user = user;
	r->user_free = user_free;
	free(r->actor);
	r->actor = actor ? xstrdup(actor) : NULL;
}

void http_req_set_target(http_req *r, const char *target)
{
	free(r->target);
	r->target = target ? xstrdup(target) : NULL;
}

json_t *http_json_time(int64_t ms)
{
	char t[40];
	if (ms < 0)
		return json_null();
	sn_time_format(ms, t, sizeof t);
	return json_string(t);
}

/* ---- body helpers ---- */

static json_t *body_field(http_req *r, const char *field, int required, int *rc)
{
	json_t *v = r->json ? json_object_get(r->json, field) : NULL;
	*rc = 0;
	if (!v && required) {
		http_reply_error(r, 400, "bad_request", "missing field '%s'", field);
		*rc = -EINVAL;
	}
	return v;
}

int http_body_str(http_req *r, const char *field, int required, size_t maxlen, const char **out)
{
	int rc;
	json_t *v = body_field(r, field, required, &rc);
	if (!v)
		return rc;
	if (!json_is_string(v)) {
		http_reply_error(r, 400, "bad_request", "field '%s' must be a string", field);
		return -EINVAL;
	}
	/* Lengths are in bytes: what a column or a buffer holds. */
	if (json_string_length(v) > maxlen) {
		http_reply_error(r, 400, "bad_request", "field '%s' is longer than %zu bytes", field,
				 maxlen);
		return -EINVAL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		http_reply_error(r, 400, "bad_request", "field '%s' contains a NUL character", field);
		return -EINVAL;
	}
	*out = json_string_value(v);
	return 0;
}

int http_body_bool(http_req *r, const char *field, int required, int *out)
{
	int rc;
	json_t *v = body_field(r, field, required, &rc);
	if (!v)
		return rc;
	if (!json_is_boolean(v)) {
		http_reply_error(r, 400, "bad_request", "field '%s' must be true or false", field);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

int http_body_int(http_req *r, const char *field, int required, int64_t min, int64_t max,
		  int64_t *out)
{
	int rc;
	json_t *v = body_field(r, field, required, &rc);
	if (!v)
		return rc;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		http_reply_error(r, 400, "bad_request", "field '%s' must be an integer from %lld to %lld",
				 field, (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

int http_page(http_req *r, int *limit, const char **cursor)
{
	const char *l = http_req_query(r, "limit");
	*limit = 50;
	if (l) {
		char *end;
		long v = strtol(l, &end, 10);
		if (!*l || *end || v < 1 || v > 1000) {
			http_reply_error(r, 400, "bad_request",
					 "query parameter 'limit' must be an integer from 1 to 1000");
			return -EINVAL;
		}
		*limit = (int)v;
	}
	*cursor = http_req_query(r, "cursor");
	/* Cursors are ids or names we issued: anything longer is not ours. */
	if (*cursor && strlen(*cursor) > 256) {
		http_reply_error(r, 400, "bad_request", "query parameter 'cursor' is malformed");
		return -EINVAL;
	}
	return 0;
}

