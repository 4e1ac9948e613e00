/* The HTTP client wrapper (libcurl) used by the CLI and, later, the node
 * agent. Response bodies are capped. */
#ifndef SN_HTTP_CLIENT_H
#define SN_HTTP_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define HC_BODY_MAX ((size_t)64 << 20)

typedef struct hc_opts {
	const char *token;  /* Bearer token, or NULL */
	long timeout_s;     /* whole request; 0: 60 s */
	int insecure;       /* accept any TLS certificate (self-signed test servers) */
} hc_opts;

typedef struct hc_resp {
	long status;
	char *body;   /* NUL-terminated */
	size_t len;
} hc_resp;

/* Sends method url with an optional JSON body (borrowed). On 0, *out holds
 * the response (any status); release it with hc_resp_release. On a
 * transport error returns -EIO with a one-line message in err. */
int hc_request(const char *method, const char *url, const json_t *body, const hc_opts *o,
	       hc_resp *out, char *err, size_t errlen);
void hc_resp_release(hc_resp *r);

/* One file part of a multipart/form-data body, read from disk while it is
 * sent (never held in memory). */
typedef struct hc_part {
	const char *name;     /* the form field, e.g. "file" */
	const char *path;     /* the file to send */
	const char *filename; /* the part's filename (e.g. a relative path) */
} hc_part;

/* Called about once a second and on every chunk: bytes sent (a request
 * with a body) or received so far, and the total (0 while unknown).
 * Returning non-zero aborts the transfer (hc_transfer returns -ECANCELED). */
typedef int (*hc_progress_fn)(void *ud, int64_t done, int64_t total);

/* A streamed transfer. The request body is at most one of: body_len bytes
 * of body_fd from body_off (read with pread while sending), or parts.
 * out_fd >= 0: a 2xx body is written there as it arrives, unbounded, and
 * only a non-2xx body (an error envelope) is kept in the response; out_fd
 * < 0: the body is kept in the response, capped at HC_BODY_MAX. */
typedef struct hc_xfer {
	const char *content_type;   /* of a body_fd body, or NULL */
	const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
	int body_fd;
	int64_t body_off, body_len;
	const hc_part *parts;
	size_t nparts;
	int out_fd;
	hc_progress_fn progress;
	void *progress_ud;
	int64_t max_rate; /* bytes/s each way; 0: no cap */
	/* A request body held in memory (body_size bytes, borrowed; sent as
	 * content_type, default application/json); when set, body_fd and
	 * parts are ignored. Lets a caller send exactly the bytes it signed. */
	const void *body;
	size_t body_size;
} hc_xfer;

/* Like hc_request for streamed bodies. o->timeout_s 0 here means no limit
 * on the whole transfer (a 64 GiB upload may take hours); a transfer that
 * moves nothing for 60 s fails instead. 0 with *out set (any status);
 * -EIO (transport), -ECANCELED (progress said stop) or -errno (out_fd
 * write) with a one-line message in err. */
int hc_transfer(const char *method, const char *url, const hc_opts *o, const hc_xfer *x,
		hc_resp *out, char *err, size_t errlen);
/* ---- a capped fetch for the server (dataset import) ---- */
struct sockaddr;

/* The scheme (lower case), host (lower case, IPv6 without brackets) and
 * port (the scheme's default when absent) of url, as libcurl itself parses
 * it, so that a check of the host sees what the transfer will use. -EINVAL
 * when url is not an absolute http(s) URL; -ENOSYS without libcurl. */
int hc_url_parts(const char *url, char scheme[8], char host[256], int *port);

/* One GET of url, no redirect followed (the caller re-checks each). */
typedef struct hc_fetch_opts {
	long timeout_s;    /* whole transfer */
	long stall_s;      /* nothing received this long: fails */
	uint64_t max_bytes; /* of a 2xx body: beyond, -EFBIG */
	/* Called for every address the transfer is about to connect to
	 * (DNS rebinding cannot slip past it): 0 allows, else refuses. */
	int (*allow_addr)(void *addr_ud, const struct sockaddr *sa);
	void *addr_ud;
	/* A 2xx body, piece by piece; a nonzero return stops the transfer
	 * and is hc_fetch's result. Other statuses' bodies are dropped. */
	int (*on_data)(void *ud, const char *p, size_t n);
	void *ud;
} hc_fetch_opts;

/* 0 with *status (and, for a 3xx, the absolute target in *location, the
 * caller frees it; else NULL); -EPERM (allow_addr refused every address),
 * -EFBIG, -ETIMEDOUT, -EIO (transport), or on_data's error, each with a
 * one-line message in err. */
int hc_fetch(const char *url, const hc_fetch_opts *o, long *status, char **location, char *err,
	     size_t errlen);
/* ---- a relayed exchange (the replica proxy, http/proxy.h) ---- */

/* read_body's answers besides a byte count. */
#define HC_RELAY_ABORT ((size_t)-1) /* stop: the relay fails */
#define HC_RELAY_WAIT ((size_t)-2)  /* nothing yet: hc_relay_resume once there is */
#define HC_RELAY_NO_BODY ((int64_t)-2)

/* Sends method url with the given header lines ("Name: value", sent as
 * they are: the caller drops hop-by-hop ones) and, unless body_len is
 * HC_RELAY_NO_BODY, a body that read_body gives as the transfer needs it
 * (bytes, 0 at its end, HC_RELAY_WAIT or HC_RELAY_ABORT); body_len -1:
 * length unknown (chunked). The body waits for the upstream's 100
 * Continue (on_continue, may be NULL). The response's status and header
 * lines (without the status line) go to on_head once all have arrived,
 * then its body piece by piece to on_body; a nonzero return of either
 * stops the exchange. No redirect is followed, no timeout applies but
 * connecting (5 s). */
typedef struct hc_relay {
	const char *method, *url;
	const char *const *headers; /* NULL-terminated */
	int64_t body_len;
	size_t (*read_body)(void *ud, char *p, size_t n);
	int (*on_head)(void *ud, long status, char *const *lines, size_t nlines);
	int (*on_body)(void *ud, const char *p, size_t n);
	void (*on_continue)(void *ud);
	void *ud;
} hc_relay;
/* The exchange runs on its caller's thread, only inside hc_relay_step,
 * which calls the callbacks: one thread relays without a second one or a
 * buffer of its own. r's strings are borrowed until hc_relay_end. */
typedef struct hc_relay_job hc_relay_job;
int hc_relay_begin(const hc_relay *r, hc_relay_job **out, char *err, size_t errlen);
/* Moves the exchange on, waiting at most timeout_ms for the network: 1
 * once it has ended, else 0 (call again). */
int hc_relay_step(hc_relay_job *j, int timeout_ms);
/* read_body has bytes again after it said HC_RELAY_WAIT. */
void hc_relay_resume(hc_relay_job *j);
/* Ends the exchange (stops it if still running) and frees *j: 0 when the
 * whole response was relayed; -ECONNREFUSED when no connection could be
 * made (nothing was sent); -ECANCELED (stopped early or by a callback);
 * -EIO, with a message in err. */
int hc_relay_end(hc_relay_job **j, char *err, size_t errlen);
#endif
