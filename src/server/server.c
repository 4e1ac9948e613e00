/* The control plane: `sentinel server` and `sentinel up`. Wires the store,
 * the event hub, the domain modules and the HTTP server together, serves
 * health, status, /metrics and the event stream, and shuts down cleanly on
 * SIGINT/SIGTERM: stop accepting, finish in-flight requests, close the
 * store, exit 0. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "alert/alert.h"
#include "auth/auth.h"
#include "base/cfg.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/sig.h"
#include "base/util.h"
#include "blob/blob.h"
#include "blob/blob_http.h"
#include "cmd/commands.h"
#include "dataset/ds.h"
#include "dataset/ds_import.h"
#include "server/server.h"
#include "server/openapi.h"
#include "server/evlog.h"
#include "server/follow.h"
#include "server/replica.h"
#include "http/http.h"
#include "metrics/mx_api.h"
#include "model/model.h"
#include "node/node.h"
#include "sched/sched.h"
#include "runtime/rt.h"
#include "store/store.h"
#include "version.h"

#define MAX_ROUTES 256

/* Where `make install` puts the console (PREFIX/share/sentinel/web). */
#ifndef SN_WEB_SHARE_DIR
#define SN_WEB_SHARE_DIR "/usr/local/share/sentinel/web"
#endif

/* The domains whose schemas the store migrates at start, in this order. */
static const store_domain *const domains[] = { &auth_store_domain, &blob_store_domain,
						&ds_store_domain, &node_store_domain,
						&sched_store_domain, &mx_store_domain,
						&alert_store_domain, &model_store_domain,
						&evlog_store_domain };
#define NDOMAINS (sizeof domains / sizeof domains[0])

const store_domain *const *server_domains(size_t *n)
{
	*n = NDOMAINS;
	return domains;
}

struct app {
	store *st;
	replica *replica; /* the lead of a PostgreSQL database; NULL on SQLite */
	hub *events;
	evlog *evlog;     /* keeps the hub's events: Last-Event-ID across restarts */
	auth *auth;
	http_server *http;
	http_server *ingest; /* --ingest-listen: the ingest routes on an event loop */
	http_server *peers;  /* the leader's replica listener: every route, for the
			      * followers' relays (http/proxy.h); NULL on SQLite */
	int64_t started_ms;
	http_route routes[MAX_ROUTES];
	size_t nroutes;
	http_route ingest_routes[MAX_ROUTES];
	size_t ningest_routes;
	const char *data; /* the data directory (runtimes) */
	blob_store *blobs;
	blob_api *blob_api;
	ds_api *ds;
	node_reg *nodes;
	sched *sched;
	mx_api *mx;
	alert_mgr *alerts;
	model_api *models;
};

static void h_health(http_req *r, void *ctx)
{
	(void)ctx;
	http_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* schema_version: each domain's schema version ({"auth": 2}); a domain
 * whose version cannot be read is left out and the reply is a 503. */
static void h_status(http_req *r, void *ctx)
{
	struct app *app = ctx;
	json_t *versions = json_object();
	int rc = versions ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < NDOMAINS; i++) {
		int v = store_schema_version(app->st, domains[i]->name);
		rc = v < 0 ? v : json_object_set_new(versions, domains[i]->name, json_integer(v)) ? -ENOMEM : 0;
	}
	if (rc) {
		json_decref(versions);
		http_reply_errno(r, rc == STORE_EBUSY ? -ETIMEDOUT : rc, "cannot read the schema versions");
		return;
	}
	/* Capabilities a client may check before using them (the CLI does for
	 * resumable dataset pushes). */
	http_reply_json(r, 200, json_pack("{s:s,s:I,s:o,s:s,s:o,s:[s]}", "version", SENTINEL_VERSION,
					   "uptime_s", (json_int_t)((sn_now_ms() - app->started_ms) / 1000),
					   "started_at", http_json_time(app->started_ms), "store",
					   store_backend(app->st), "schema_version", versions,
					   "features", "dataset_upload"));
}

static void h_metrics(http_req *r, void *ctx)
{
	struct app *app = ctx;
	buf b;
	buf_init(&b, 64 << 20);
	buf_printf(&b, "# HELP sentinel_build_info Build information.\n# TYPE sentinel_build_info gauge\n"
		       "sentinel_build_info{version=\"%s\",store=\"%s\"} 1\n",
		   SENTINEL_VERSION, store_backend(app->st));
	buf_printf(&b, "# HELP sentinel_uptime_seconds Seconds since the server started.\n"
		       "# TYPE sentinel_uptime_seconds gauge\nsentinel_uptime_seconds %.3f\n",
		   (double)(sn_now_ms() - app->started_ms) / 1000.0);
	buf_printf(&b, "# HELP sentinel_store_errors_total Store operations that failed.\n"
		       "# TYPE sentinel_store_errors_total counter\nsentinel_store_errors_total %llu\n",
		   (unsigned long long)store_error_count(app->st));
	http_server *srvs[] = { app->http, app->ingest, app->peers };
	const char *listeners[] = { NULL, "ingest", "replica" };
	http_server_metrics(srvs, listeners, 3, &b);
	sched_metrics(app->sched, &b);
	size_t n;
	char *data = buf_detach(&b, &n);
	http_reply_data(r, 200, "text/plain; version=0.0.4; charset=utf-8", data, n);
}

/* Each event is checked against its topic's rule for this caller, on
 * replay (Last-Event-ID) as on live delivery. */
static void h_events(http_req *r, void *ctx)
{
	(void)ctx;
	const char *topic = http_req_query(r, "topic");
	const auth_user *u = auth_caller(r);
	hub_viewer v = { u ? u->id : NULL, u && u->role >= ROLE_ADMIN };
	http_reply_sse(r, topic, &v);
}

static void add_routes(struct app *app)
{
	const http_route own[] = {
		{ "GET", "/api/v1/health", h_health, HTTP_PUBLIC, 0, NULL, 0, app },
		{ "GET", "/api/v1/status", h_status, 0, ROLE_MEMBER, NULL, 0, app },
		{ "GET", "/metrics", h_metrics, HTTP_PUBLIC, 0, NULL, 0, app },
		{ "GET", "/api/v1/events", h_events, 0, ROLE_MEMBER, NULL, 0, app },
	};
	memcpy(app->routes, own, sizeof own);
	app->nroutes = sizeof own / sizeof own[0];
	app->nroutes += auth_routes(app->auth, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += rt_routes(app->data, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += blob_routes(app->blob_api, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += ds_routes(app->ds, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += node_routes(app->nodes, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += sched_routes(app->sched, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += mx_api_routes(app->mx, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += alert_routes(app->alerts, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += model_routes(app->models, app->routes + app->nroutes, MAX_ROUTES - app->nroutes);
	app->nroutes += openapi_routes(app->routes, app->nroutes, MAX_ROUTES); /* last: checks them all */
}

/* Nodes sign their requests (HTTP_NODE routes); users send tokens. */
static int app_auth_hook(http_req *r, const http_route *route, void *ctx)
{
	struct app *app = ctx;
	if (route->flags & HTTP_NODE)
		return node_auth_hook(app->nodes, r, route);
	return auth_hook(r, route, app->auth);
}

static void app_audit_hook(http_req *r, const http_route *route, int status, void *ctx)
{
	struct app *app = ctx;
	auth_audit_hook(r, route, status, app->auth);
}

static const cfg_opt server_opts[] = {
	{ "listen", "ADDR", "127.0.0.1:8080", "address and port to listen on (HOST:PORT, [V6]:PORT)", 0 },
	{ "data", "DIR", "./sentinel-data", "data directory (database, blobs)", 0 },
	{ "db", "URL", NULL, "metadata store: sqlite:PATH (default DIR/sentinel.db)", 0 },
	{ "tls-cert", "FILE", NULL, "PEM certificate: serve HTTPS (with --tls-key)", 0 },
	{ "tls-key", "FILE", NULL, "PEM private key for --tls-cert", 0 },
	{ "admin-password", "PW", NULL, "password of the first superadmin 'admin' on an empty store"
	  " (ignored once users exist)", 0 },
	{ "store-timeout", "DUR", "5s", "how long a request waits for a free store connection (503 beyond)", 0 },
	{ "session-ttl", "DUR", "24h", "lifetime of login tokens", 0 },
	{ "login-max-failures", "N", "5", "failed logins of a user from one address before 429 (per address: 4x)", 0 },
	{ "login-lockout", "DUR", "60s", "first lockout after too many failures (doubles, max 15m)", 0 },
	{ "audit-retention", "DUR", "365d", "delete audit rows older than this (at start, then daily; at least 1d)", 0 },
	{ "max-connections", "N", "512", "simultaneous connections", 0 },
	{ "max-connections-per-ip", "N", "64", "simultaneous connections from one address", 0 },
	{ "reserved-connections", "N", "8", "of max-connections, slots only authenticated requests may use", 0 },
	{ "header-timeout", "DUR", "10s", "deadline for a whole request head (slow clients are cut off)", 0 },
	{ "ingest-listen", "ADDR", NULL, "also serve the metrics ingest routes (and health) here, on an"
	  " event loop: for agents that push many small requests", 0 },
	{ "ingest-threads", "N", "0", "threads of the --ingest-listen event loop (0: one per CPU)", 0 },
	{ "idle-timeout", "DUR", "60s", "close a connection idle this long", 0 },
	{ "min-free-disk", "SIZE", "1G", "refuse uploads (507) that would leave less free space in DATA", 0 },
	{ "upload-inflight-user", "SIZE", "16G", "upload bytes in flight per user (429 beyond)", 0 },
	{ "upload-inflight-total", "SIZE", "64G", "upload bytes in flight in all (503 beyond)", 0 },
	{ "dataset-max-size", "SIZE", "64G", "the most one dataset push may send (413 beyond)", 0 },
	{ "import", NULL, NULL, "let dataset pushes fetch a URL (?import=), public addresses only", CFG_FLAG },
	{ "import-allow", "LIST", NULL, "enable ?import= and let it reach these private addresses:"
	  " host[:port], IP[:port] or CIDR, comma-separated", 0 },
	{ "node-timeout", "DUR", "30s", "a node is offline after this long without a heartbeat", 0 },
	{ "heartbeat", "DUR", "5s", "how often nodes are told to send a heartbeat", 0 },
	{ "metrics-retention", "DUR", "30d", "drop metrics samples older than this (whole partitions;"
	  " at least 1d)", 0 },
	{ "metrics-max-series", "N", "100000", "distinct metric series kept (429 beyond)", 0 },
	{ "agent-timeout", "DUR", "60s", "an agent is offline after this long without a sample", 0 },
	{ "alert-interval", "DUR", "10s", "how often alert rules are evaluated", 0 },
	{ "web-dir", "DIR", NULL, "the web console's files (default: web/dist beside the binary, then"
	  " " SN_WEB_SHARE_DIR ")", 0 },
	{ "allowed-origins", "LIST", NULL, "origins (scheme://host[:port], comma-separated) that may"
	  " call the API from a browser on another site (default: none)", 0 },
	{ "shutdown-grace", "DUR", "10s", "how long shutdown waits for in-flight requests", 0 },
	{ "no-local-node", NULL, NULL, "sentinel up: start no local node (by default one runs, claimed"
	  " for the first admin, state in DIR/node)", CFG_FLAG },
	{ "replica-listen", "ADDR", NULL, "PostgreSQL replicas: where the leader takes the other"
	  " replicas' relayed requests (default: the --listen host, a free port)", 0 },
	{ "replica-url", "URL", NULL, "PostgreSQL replicas: how the others reach --replica-listen"
	  " (default: its address; a wildcard one names this host)", 0 },
	{ "node-url", "URL", NULL, "PostgreSQL replicas: where nodes attached to a follower are told"
	  " to reach this server directly while it leads (default: its --listen address, a wildcard"
	  " one naming this host; 'none': they stay on their follower)", 0 },
	{ "lead-timeout", "DUR", "10s", "PostgreSQL replicas: a leader that has not renewed its lead"
	  " for this long (stopped, hung) is ended by a follower, which takes over", 0 },
	{ "ready-file", "FILE", NULL, "write the server's URL to FILE once it listens (a replica:"
	  " once it leads)", CFG_NOENV },
	{ NULL, NULL, NULL, NULL, 0 },
};

static const cfg_spec server_spec = {
	"server", "[options]", "Run the control plane: REST API, live events, metrics.", server_opts, 0,
};

static const cfg_spec up_spec = {
	"up", "[options]",
	"Quick start: a server on embedded defaults (SQLite in ./sentinel-data);\n"
	"prints the URL and the first admin's credentials.",
	server_opts, 0,
};

struct settings {
	http_config http;
	http_config ingest; /* listen NULL: no ingest listener */
	const char *replica_listen, *replica_url, *node_url; /* NULL: defaults */
	int64_t lead_timeout_ms;
	auth_config auth;
	int64_t grace_ms;
	int64_t store_timeout_ms;
	node_config node;
	sched_config sched;
	mx_api_config mx;
	alert_config alert;
	uint64_t dataset_max;
	int import;
	const char *import_allow;
	char *db;
	char *web_dir;
};

/* The console's directory: --web-dir as given (a missing one is said at
 * start and / explains it), else web/dist beside this binary (a build
 * tree), else the installed one. NULL when none of them exists. */
/* Whether dir holds a built console (its index.html). */
static int console_built(const char *dir)
{
	if (!dir)
		return 0;
	char *index = xasprintf("%s/index.html", dir);
	int ok = access(index, R_OK) == 0;
	free(index);
	return ok;
}

static char *web_dir_pick(const char *given)
{
	struct stat st;
	if (given && *given) {
		if (stat(given, &st) || !S_ISDIR(st.st_mode))
			log_warn("--web-dir %s is not a directory: / will say the console is not built",
				 given);
		return xstrdup(given);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = '\0';
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			char *d = xasprintf("%s/web/dist", exe);
			if (stat(d, &st) == 0 && S_ISDIR(st.st_mode))
				return d;
			free(d);
		}
	}
	if (stat(SN_WEB_SHARE_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return xstrdup(SN_WEB_SHARE_DIR);
	return NULL;
}

/* An integer setting within [min, max]; the message names the range. */
static int int_in(const cfg *c, const char *name, long long min, long long max, long long *out,
		  char *err, size_t errlen)
{
	if (cfg_get_int(c, name, out, err, errlen) || *out < min || *out > max) {
		snprintf(err, errlen, "--%s must be from %lld to %lld", name, min, max);
		return -EINVAL;
	}
	return 0;
}

/* A duration within [min_ms, max_ms] (max_ms < 0: no upper bound); what
 * is a sensible range is said in the message, written as the user would. */
static int dur_in(const cfg *c, const char *name, int64_t min_ms, int64_t max_ms,
		  const char *range, int64_t *out, char *err, size_t errlen)
{
	if (cfg_get_duration_ms(c, name, out, err, errlen))
		return -EINVAL;
	if (*out < min_ms || (max_ms >= 0 && *out > max_ms)) {
		snprintf(err, errlen, "--%s must be %s", name, range);
		return -EINVAL;
	}
	return 0;
}

static int read_settings(const cfg *c, struct settings *s, char *err, size_t errlen)
{
	long long n;
	int64_t ms;
	memset(s, 0, sizeof *s);
	s->http.listen = cfg_get(c, "listen");
	s->http.tls_cert = cfg_get(c, "tls-cert");
	s->http.tls_key = cfg_get(c, "tls-key");
	if (!s->http.tls_cert != !s->http.tls_key) {
		snprintf(err, errlen, "--tls-cert and --tls-key must be given together");
		return -EINVAL;
	}
	if (dur_in(c, "session-ttl", 1000, -1, "at least 1s", &s->auth.session_ttl_ms, err, errlen) ||
	    dur_in(c, "login-lockout", 1, -1, "above 0", &s->auth.login_lockout_ms, err, errlen) ||
	    dur_in(c, "shutdown-grace", 0, -1, "0 or more", &s->grace_ms, err, errlen) ||
	    dur_in(c, "audit-retention", 86400000LL, -1, "at least 1d", &s->auth.audit_retention_ms,
		   err, errlen) ||
	    dur_in(c, "store-timeout", 10, 600000, "from 10ms to 10m", &s->store_timeout_ms, err,
		   errlen))
		return -EINVAL;
	if (dur_in(c, "node-timeout", 1000, 86400000, "from 1s to 24h", &s->node.node_timeout_ms, err,
		   errlen) ||
	    dur_in(c, "heartbeat", 100, 3600000, "from 100ms to 1h", &s->node.heartbeat_ms, err, errlen))
		return -EINVAL;
	if (s->node.heartbeat_ms * 2 > s->node.node_timeout_ms) {
		snprintf(err, errlen, "--heartbeat must be at most half of --node-timeout");
		return -EINVAL;
	}
	s->node.clock_window_ms = 60000;
	s->node.pending_ttl_ms = 3600000;
	s->node.offline_ttl_ms = 30LL * 86400000;
	s->sched.lease_ms = 3 * s->node.node_timeout_ms;
	s->sched.chunk_log_max = 16 << 20;
	if (dur_in(c, "metrics-retention", 86400000LL, -1, "at least 1d", &s->mx.retention_ms, err,
		   errlen) ||
	    dur_in(c, "agent-timeout", 1000, 86400000, "from 1s to 24h", &s->mx.agent_timeout_ms,
		   err, errlen) ||
	    dur_in(c, "alert-interval", 100, 3600000, "from 100ms to 1h", &s->alert.interval_ms,
		   err, errlen) ||
	    int_in(c, "metrics-max-series", 1, 100000000, &n, err, errlen))
		return -EINVAL;
	s->mx.max_series = (uint64_t)n;
	if (int_in(c, "login-max-failures", 1, 1000, &n, err, errlen))
		return -EINVAL;
	s->auth.login_max_failures = (int)n;
	if (int_in(c, "max-connections", 4, 100000, &n, err, errlen))
		return -EINVAL;
	s->http.max_conns = (unsigned)n;
	/* Both below are bounded by max-connections: a cap above the total
	 * means nothing, and reserving every slot would lock anonymous clients
	 * (logins included) out. */
	if (int_in(c, "max-connections-per-ip", 1, n, &n, err, errlen))
		return -EINVAL;
	s->http.max_conns_per_ip = (unsigned)n;
	if (int_in(c, "reserved-connections", 1, (long long)s->http.max_conns - 1, &n, err, errlen))
		return -EINVAL;
	s->http.reserved_conns = (unsigned)n;
	if (dur_in(c, "header-timeout", 1000, 3600000, "from 1s to 1h", &ms, err, errlen))
		return -EINVAL;
	s->http.header_timeout_s = (unsigned)(ms / 1000);
	if (dur_in(c, "idle-timeout", 1000, 86400000, "from 1s to 24h", &ms, err, errlen))
		return -EINVAL;
	s->http.timeout_s = (unsigned)(ms / 1000);
	if (int_in(c, "ingest-threads", 0, 64, &n, err, errlen))
		return -EINVAL;
	if (n == 0) {
		/* One per CPU: one thread serves every connection in turn, and
		 * with a single one the loop, not the disk, bounded small pushes. */
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus;
	}
	s->ingest.event_threads = (unsigned)n;
	s->ingest.listen = cfg_get(c, "ingest-listen");
	s->replica_listen = cfg_get(c, "replica-listen");
	s->replica_url = cfg_get(c, "replica-url");
	s->node_url = cfg_get(c, "node-url");
	if (s->node_url && strcmp(s->node_url, "none") && !sn_url_ok(s->node_url, 256)) {
		snprintf(err, errlen, "--node-url must be an http:// or https:// URL of at most 255"
			 " characters without blanks, or 'none'");
		return -EINVAL;
	}
	/* The leader beats every quarter of it (every second at most). */
	if (dur_in(c, "lead-timeout", 1000, 3600000, "from 1s to 1h", &s->lead_timeout_ms, err,
		   errlen))
		return -EINVAL;
	if (cfg_get_size(c, "min-free-disk", &s->http.min_free_disk, err, errlen) ||
	    cfg_get_size(c, "upload-inflight-user", &s->http.upload_user_max, err, errlen) ||
	    cfg_get_size(c, "upload-inflight-total", &s->http.upload_total_max, err, errlen))
		return -EINVAL;
	if (cfg_get_size(c, "dataset-max-size", &s->dataset_max, err, errlen))
		return -EINVAL;
	if (!s->dataset_max) {
		snprintf(err, errlen, "--dataset-max-size must be above 0");
		return -EINVAL;
	}
	s->import = cfg_get_bool(c, "import");
	s->import_allow = cfg_get(c, "import-allow");
	/* 0 means "default" to the HTTP layer: the smallest setting is 1 byte. */
	if (!s->http.min_free_disk)
		s->http.min_free_disk = 1;
	if (!s->http.upload_user_max || !s->http.upload_total_max) {
		snprintf(err, errlen, "--upload-inflight-user and --upload-inflight-total must be above 0");
		return -EINVAL;
	}
	s->http.allowed_origins = cfg_get(c, "allowed-origins");
	if ((s->web_dir = web_dir_pick(cfg_get(c, "web-dir"))))
		s->http.web_dir = s->web_dir;
	const char *db = cfg_get(c, "db");
	s->db = db ? xstrdup(db) : xasprintf("sqlite:%s/sentinel.db", cfg_get(c, "data"));
	return 0;
}

/* SIGINT and SIGTERM reach a handler that writes the signal number to a
 * pipe the main thread reads. A handler (unlike a signal mask) holds for
 * every thread, also those that libraries such as OpenBLAS start before
 * main(); a second signal during shutdown is thus harmless. */
static int sig_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	if (write(sig_pipe[1], &b, 1) < 0) {
		/* The pipe is full: a signal is already pending, nothing is lost. */
	}
	errno = saved;
}

static int catch_signals(void)
{
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
		return -errno;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static int wait_for_signal(void)
{
	struct pollfd p = { .fd = sig_pipe[0], .events = POLLIN };
	unsigned char b = 0;
	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return SIGTERM;
		if (read(sig_pipe[0], &b, 1) == 1)
			return b;
	}
}

/* The spool directory of uploads in flight: what a crash left there is
 * of no use to anyone. */
static int spool_prepare(const char *dir)
{
	int rc = sn_mkdir_p(dir, 0700);
	DIR *d = rc ? NULL : opendir(dir);
	if (!d)
		return rc ? rc : -errno;
	for (struct dirent *e; (e = readdir(d));)
		if (strncmp(e->d_name, ".body-", 6) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return 0;
}

struct server {
	cfg *c;
	struct app app;
	struct settings s;
	char *generated, *spool;
	char url[300];
	follow *follow; /* a PostgreSQL replica's relay while another leads */
};

void server_stop(server **ps)
{
	server *sv = *ps;
	if (!sv)
		return;
	follow_stop(&sv->follow);
	http_server_stop(&sv->app.ingest, 0);
	http_server_stop(&sv->app.peers, 0);
	http_server_stop(&sv->app.http, 0);
	model_api_free(&sv->app.models);
	alert_free(&sv->app.alerts);
	mx_api_free(&sv->app.mx);
	sched_free(&sv->app.sched);
	node_reg_free(&sv->app.nodes);
	auth_free(&sv->app.auth);
	ds_api_free(&sv->app.ds);
	blob_api_free(&sv->app.blob_api);
	blob_store_free(&sv->app.blobs);
	/* http_server_stop closed the hub (and a failed start may not have
	 * run it): the log writes what is left and its writer ends. */
	if (sv->app.events)
		hub_close(sv->app.events);
	evlog_close(&sv->app.evlog);
	hub_free(&sv->app.events);
	replica_free(&sv->app.replica);
	store_free(&sv->app.st);
	free(sv->generated);
	free(sv->spool);
	free(sv->s.db);
	free(sv->s.web_dir);
	cfg_free(&sv->c);
	free(sv);
	*ps = NULL;
}

/* Everything of `sentinel server` but the signals: c is taken. 0, -EINVAL
 * for a bad setting, another negative errno otherwise (message in err). */
/* The ingest listener: the routes an ingest token may call (they answer
 * once their batch is durable, deferred, so the loop's threads never wait)
 * and the health check, with the main listener's limits and TLS. */
static int ingest_start(server *sv, const http_hooks *hooks, char *err, size_t errlen)
{
	struct app *app = &sv->app;
	for (size_t i = 0; i < app->nroutes; i++) {
		const http_route *rt = &app->routes[i];
		if ((rt->flags & HTTP_INGEST) || rt->fn == h_health)
			app->ingest_routes[app->ningest_routes++] = *rt;
	}
	http_config ic = sv->s.http;
	ic.listen = sv->s.ingest.listen;
	ic.event_threads = sv->s.ingest.event_threads;
	ic.web_dir = NULL;
	ic.allowed_origins = NULL;
	char why[256];
	int rc = http_server_start(&ic, app->ingest_routes, app->ningest_routes, hooks, app, NULL,
				   &app->ingest, why, sizeof why);
	if (rc) {
		snprintf(err, errlen, "--ingest-listen: %s", why);
		return rc;
	}
	log_info("ingest listener on %s (port %u, %u event thread%s)", ic.listen,
		 http_server_port(app->ingest), ic.event_threads, ic.event_threads == 1 ? "" : "s");
	return 0;
}

/* "http[s]://HOST:PORT" of a listener on listen ("HOST:PORT") that got port. */
static void listen_url(const char *listen, int tls, unsigned port, char *out, size_t n)
{
	const char *colon = strrchr(listen, ':');
	snprintf(out, n, "%s://%.*s:%u", tls ? "https" : "http", (int)(colon - listen), listen, port);
}

/* The URL others reach a listener on listen ("HOST:PORT") that got port
 * at: a wildcard address is not one they can reach, this host's name is. */
static void reach_url(const char *listen, int tls, unsigned port, char *out, size_t n)
{
	char named[300];
	if (!strncmp(listen, "0.0.0.0:", 8) || !strncmp(listen, "[::]:", 5)) {
		char name[200] = "localhost";
		gethostname(name, sizeof name - 1);
		snprintf(named, sizeof named, "%s%s", name, strrchr(listen, ':'));
		listen = named;
	}
	listen_url(listen, tls, port, out, n);
}

/* The leader's replica listener: every route, for the requests the
 * followers relay (docs/postgres.md). Its secret is new with each lead and
 * reaches the followers through the database only. */
static int peers_start(server *sv, const http_hooks *hooks, char *err, size_t errlen)
{
	struct app *app = &sv->app;
	unsigned char raw[32];
	char secret[65], listen[300], why[256], url[320];
	const char *colon = strrchr(sv->s.http.listen, ':');
	if (sv->s.replica_listen)
		sn_strlcpy(listen, sv->s.replica_listen, sizeof listen);
	else
		snprintf(listen, sizeof listen, "%.*s:0", (int)(colon - sv->s.http.listen),
			 sv->s.http.listen);
	sn_random(raw, sizeof raw);
	sn_hex(raw, sizeof raw, secret);
	explicit_bzero(raw, sizeof raw);
	http_config pc = sv->s.http;
	pc.listen = listen;
	pc.listen_fd = 0;
	pc.replica_secret = secret;
	int rc = http_server_start(&pc, app->routes, app->nroutes, hooks, app, app->events,
				   &app->peers, why, sizeof why);
	if (rc) {
		snprintf(err, errlen, "--replica-listen: %s", why);
		goto out;
	}
	if (sv->s.replica_url)
		sn_strlcpy(url, sv->s.replica_url, sizeof url);
	else
		reach_url(listen, sv->s.http.tls_cert != NULL, http_server_port(app->peers), url,
			  sizeof url);
	if ((rc = replica_advertise(app->replica, url, secret))) {
		snprintf(err, errlen, "cannot tell the other replicas where this one is: %s",
			 strerror(-rc));
		goto out;
	}
	log_info("replica: the other replicas relay to %s", url);
	if (!sv->s.node_url)
		reach_url(sv->s.http.listen, sv->s.http.tls_cert != NULL, http_server_port(app->http),
			  url, sizeof url);
	else
		sn_strlcpy(url, strcmp(sv->s.node_url, "none") ? sv->s.node_url : "", sizeof url);
	node_reg_set_leader_url(app->nodes, url);
out:
	explicit_bzero(secret, sizeof secret);
	return rc;
}

static int server_open(cfg *c, server **out, char *err, size_t errlen)
{
	server *sv = xcalloc(1, sizeof *sv);
	struct app *app = &sv->app;
	sv->c = c;
	int rc = read_settings(c, &sv->s, err, errlen);
	if (rc)
		goto fail;
	if ((rc = sn_mkdir_p(cfg_get(c, "data"), 0700))) {
		snprintf(err, errlen, "cannot create data directory %s: %s", cfg_get(c, "data"),
			 strerror(-rc));
		goto fail;
	}
	app->started_ms = sn_now_ms();
	store_opts so = { .domains = domains, .ndomains = NDOMAINS,
			  .acquire_timeout_ms = sv->s.store_timeout_ms };
	if ((rc = store_open(sv->s.db, &so, &app->st, err, errlen)))
		goto fail;
	/* On a database that other replicas share: nothing below (recovery of
	 * blobs, metrics and jobs) runs before this one leads. */
	char who[300];
	snprintf(who, sizeof who, "%s pid %d", sv->s.http.listen, (int)getpid());
	/* Until it leads, a replica serves by relaying to the leader. */
	if (strcmp(store_backend(app->st), "postgres") == 0) {
		if ((rc = follow_start(app->st, &sv->s.http, &sv->follow, err, errlen)))
			goto fail;
		http_config ic = sv->s.http;
		ic.listen = sv->s.ingest.listen;
		char why[256];
		if (ic.listen && (rc = follow_add_ingest(sv->follow, &ic, why, sizeof why))) {
			snprintf(err, errlen, "--ingest-listen: %s", why);
			goto fail;
		}
		char url[320];
		listen_url(sv->s.http.listen, sv->s.http.tls_cert != NULL, follow_port(sv->follow),
			   url, sizeof url);
		log_info("replica: serving %s (relayed to the leader while another leads)", url);
	}
	if ((rc = replica_lead(app->st, who, sv->s.lead_timeout_ms, sig_pipe[0],
			       sv->follow ? follow_forget : NULL,
			       sv->follow, &app->replica, err, errlen)))
		goto fail;
	app->events = hub_new();
	if ((rc = evlog_open(app->st, app->events, &app->evlog, err, errlen)))
		goto fail;
	/* Every topic declares who may read it (hub.h); audit rows are for
	 * admins only (they may hold what a user typed as a username). */
	hub_declare(app->events, "audit", HUB_ADMIN);
	if ((rc = auth_new(app->st, app->events, &sv->s.auth, &app->auth))) {
		snprintf(err, errlen, "cannot start authentication: %s", strerror(-rc));
		goto fail;
	}
	const char *admin_pw = cfg_get(c, "admin-password");
	int created = 0;
	if ((rc = auth_bootstrap(app->auth, admin_pw, &sv->generated, &created))) {
		snprintf(err, errlen, "cannot create the first user: %s", strerror(-rc));
		goto fail;
	}
	if (admin_pw && *admin_pw && !created)
		log_warn("--admin-password (SENTINEL_ADMIN_PASSWORD) is ignored: users exist, and it"
			 " sets only the first admin's password on an empty store; a lost password is"
			 " reset with 'sentinel admin reset-password USER --data DIR'");
	app->data = cfg_get(c, "data");
	/* Removes what a crash left of blob writes and expired uploads. */
	if ((rc = blob_store_open(app->data, app->st, BLOB_RECOVER, &app->blobs, err, errlen)))
		goto fail;
	if ((rc = blob_api_new(app->blobs, &app->blob_api))) {
		snprintf(err, errlen, "cannot start the blob API: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = ds_api_new(app->st, app->blobs, app->blob_api, sv->s.dataset_max, &app->ds))) {
		snprintf(err, errlen, "cannot start the dataset API: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = ds_import_configure(app->ds, sv->s.import, sv->s.import_allow, err, errlen)))
		goto fail;
	if ((rc = node_reg_new(app->st, app->events, &sv->s.node, &app->nodes))) {
		snprintf(err, errlen, "cannot start the node registry: %s", strerror(-rc));
		goto fail;
	}
	/* GET /api/v1/datasets?kind=local: data on the nodes' own disks. */
	ds_api_set_local_provider(app->ds, node_local_datasets, app->nodes);
	sv->s.sched.data = app->data;
	if ((rc = sched_new(app->st, app->events, app->blobs, app->nodes, &sv->s.sched, &app->sched))) {
		snprintf(err, errlen, "cannot start the scheduler: %s", strerror(-rc));
		goto fail;
	}
	/* Job artifacts, scripts and inputs: readable by who may see the job. */
	if ((rc = blob_api_reader_add(app->blob_api, "job", sched_blob_may_read, app->sched))) {
		snprintf(err, errlen, "cannot start the scheduler: %s", strerror(-rc));
		goto fail;
	}
	sv->s.mx.data = app->data;
	sv->s.mx.min_free_disk = sv->s.http.min_free_disk;
	if ((rc = mx_api_new(app->st, app->events, app->nodes, &sv->s.mx, &app->mx, err, errlen)))
		goto fail;
	if ((rc = alert_new(app->st, app->events, app->mx, &sv->s.alert, &app->alerts))) {
		snprintf(err, errlen, "cannot start alerts: %s", strerror(-rc));
		goto fail;
	}
	if ((rc = model_api_new(app->st, app->events, app->blobs, app->blob_api, app->mx,
				app->sched, &app->models))) {
		snprintf(err, errlen, "cannot start the model registry: %s", strerror(-rc));
		goto fail;
	}
	add_routes(app);
	sv->spool = xasprintf("%s/tmp", cfg_get(c, "data"));
	if ((rc = spool_prepare(sv->spool))) {
		snprintf(err, errlen, "cannot prepare %s: %s", sv->spool, strerror(-rc));
		goto fail;
	}
	sv->s.http.spool_dir = sv->spool;
	http_hooks hooks = { app_auth_hook, app_audit_hook };
	http_config hc = sv->s.http;
	if (sv->follow)
		hc.listen_fd = follow_handover(sv->follow);
	if ((rc = http_server_start(&hc, app->routes, app->nroutes, &hooks, app, app->events,
				    &app->http, err, errlen))) {
		if (hc.listen_fd > 0)
			close(hc.listen_fd);
		goto fail;
	}
	/* Relays still in flight went to a leader that is gone. */
	follow_stop(&sv->follow);
	if (app->replica && (rc = peers_start(sv, &hooks, err, errlen)))
		goto fail;
	listen_url(sv->s.http.listen, sv->s.http.tls_cert != NULL, http_server_port(app->http),
		   sv->url, sizeof sv->url);
	if (sv->s.ingest.listen && (rc = ingest_start(sv, &hooks, err, errlen)))
		goto fail;
	*out = sv;
	return 0;
fail:
	server_stop(&sv);
	return rc < 0 ? rc : -EINVAL;
}

int server_start(int argc, char **argv, server **out, char *err, size_t errlen)
{
	cfg *c = NULL;
	int rc = cfg_parse(&server_spec, argc, argv, &c, err, errlen);
	if (rc)
		return rc < 0 ? rc : -EINVAL;
	return server_open(c, out, err, errlen);
}

const char *server_url(const server *sv)
{
	return sv->url;
}

/* `sentinel up`'s local node: its key is made (or read) in DATA/node and
 * recorded as claimed by the first superadmin before the agent starts, so
 * that a fresh install runs jobs at once. The agent is this binary's
 * `sentinel node`, a child that dies with us (PR_SET_PDEATHSIG); its log
 * is DATA/node/agent.log. Returns its pid, or -1 (logged: the server runs
 * on without it). */
static pid_t local_node_start(server *sv)
{
	const char *data = cfg_get(sv->c, "data");
	char *dir = xasprintf("%s/node", data), *key = xasprintf("%s/node.key", dir);
	char *logp = xasprintf("%s/agent.log", dir), err[300] = "", owner[64] = "";
	uint8_t sec[SN_SIG_SEC];
	pid_t pid = -1;
	int created = 0, rc = sn_mkdir_p(dir, 0700);
	store_conn *c = NULL;
	store_rows *rows = NULL;
	if (rc || (rc = sn_sig_key_file(key, sec, &created, err, sizeof err))) {
		log_warn("local node: %s", *err ? err : strerror(-rc));
		goto out;
	}
	if ((rc = store_acquire(sv->app.st, &c)) == 0 &&
	    (rc = store_query(c, "SELECT id FROM users WHERE role = 'superadmin' AND disabled = 0"
			      " ORDER BY created_at, id LIMIT 1", &rows, SNOARGS)) == 0 &&
	    (rc = store_rows_next(rows)) == 1)
		sn_strlcpy(owner, store_rows_text(rows, 0), sizeof owner);
	store_rows_free(&rows);
	store_release(&c);
	if (!*owner) {
		log_warn("local node: no superadmin to claim it for: not started");
		goto out;
	}
	/* libsodium's secret key is the seed followed by the public key. */
	if ((rc = node_preclaim(sv->app.nodes, sec + 32, owner, "local"))) {
		log_warn("local node: cannot record it: %s", strerror(-rc));
		goto out;
	}
	pid_t parent = getpid();
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		signal(SIGPIPE, SIG_DFL);
		execl("/proc/self/exe", "sentinel", "node", "--server", sv->url, "--state", dir,
		      "--name", "local", (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		log_warn("local node: cannot start it: %s", strerror(errno));
	else
		log_info("local node started (pid %d, log %s)", (int)pid, logp);
out:
	explicit_bzero(sec, sizeof sec);
	free(dir);
	free(key);
	free(logp);
	return pid;
}

/* Drains the local node: SIGTERM (running chunks finish), a second one
 * (they are handed back) after grace_ms, SIGKILL 5 s later. */
static void local_node_stop(pid_t pid, int64_t grace_ms)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	int64_t start = sn_now_ms(), second = 0;
	for (;;) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		int64_t t = sn_now_ms() - start;
		if (!second && t >= grace_ms) {
			kill(pid, SIGTERM);
			second = t;
		} else if (second && t >= second + 5000) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
}

static int run(const cfg_spec *spec, int argc, char **argv, int quickstart)
{
	cfg *c = NULL;
	server *sv = NULL;
	char err[512] = "";
	int code, rc;
	if (cfg_cmd_init(spec, argc, argv, &c, &code))
		return code;
	if ((rc = catch_signals())) {
		fprintf(stderr, "sentinel %s: cannot set up signal handling: %s\n", spec->cmd,
			strerror(-rc));
		cfg_free(&c);
		return 1;
	}
	if ((rc = server_open(c, &sv, err, sizeof err))) {
		if (rc == -ECANCELED) {
			log_info("%s: stopped", err);
			return 0;
		}
		fprintf(stderr, "sentinel %s: %s\n", spec->cmd, err);
		return rc == -EINVAL ? 2 : 1;
	}
	const char *url = sv->url;
	log_info("sentinel %s listening on %s (store %s, data %s)", SENTINEL_VERSION, url,
		 store_backend(sv->app.st), cfg_get(c, "data"));
	log_info("web console from %s", sv->s.web_dir ? sv->s.web_dir
			: "nowhere (no web/dist beside the binary, no " SN_WEB_SHARE_DIR "): / says how to build it");
	if (sv->generated)
		fprintf(stderr, "\nFirst start: created superadmin 'admin' with password: %s\n"
			"(shown once; change it with 'sentinel passwd' after 'sentinel login')\n\n",
			sv->generated);
	if (quickstart) {
		printf("Sentinel is running at %s\n", url);
		if (console_built(sv->s.web_dir))
			printf("Open it in a browser for the web console.\n");
		else
			printf("No web console is built (make web: it needs Node.js); the API and the CLI"
			       " work without it.\n");
		if (sv->generated)
			printf("Log in as admin with password %s\n", sv->generated);
		else
			printf("Log in as admin with the password set at first start (a lost one:"
			       " 'sentinel admin reset-password admin --data %s')\n", cfg_get(c, "data"));
		printf("  sentinel login --server %s --username admin\nPress Ctrl-C to stop.\n", url);
		fflush(stdout);
	}
	pid_t node = quickstart && !cfg_get_bool(c, "no-local-node") ? local_node_start(sv) : -1;
	if (node > 0)
		printf("A local node runs jobs (claimed for the first admin; 'sentinel node ls').\n");
	fflush(stdout);
	const char *ready = cfg_get(c, "ready-file");
	if (ready && (rc = sn_write_file_atomic(ready, url, strlen(url), 0644)))
		log_warn("cannot write --ready-file %s: %s", ready, strerror(-rc));
	int sig = wait_for_signal();
	log_info("received %s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	local_node_stop(node, sv->s.grace_ms);
	if (http_server_stop(&sv->app.ingest, (int)sv->s.grace_ms) == -EBUSY ||
	    http_server_stop(&sv->app.peers, (int)sv->s.grace_ms) == -EBUSY ||
	    http_server_stop(&sv->app.http, (int)sv->s.grace_ms) == -EBUSY) {
		/* Handlers still run and use the store: exit without closing it
		 * (every write is a committed transaction or nothing). */
		log_warn("stopped with requests still running");
		fflush(NULL);
		_exit(0);
	}
	log_info("stopped");
	server_stop(&sv);
	return 0;
}

int server_cmd(int argc, char **argv)
{
	return run(&server_spec, argc, argv, 0);
}

int up_cmd(int argc, char **argv)
{
	return run(&up_spec, argc, argv, 1);
}
