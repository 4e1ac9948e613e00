/* Webhook deliveries: a bounded queue and one sender thread.
 *
 * Invariants:
 *  1. The queue holds at most cap deliveries; alert_hooks_push never waits
 *     for the network: h->mu is held only to change the queue, never
 *     across a send. When the queue is full the oldest delivery (lowest
 *     seq) is dropped and counted, so the newest events always get a try.
 *  2. A delivery is in the queue or in the sender's hands, never both: the
 *     sender takes it out before sending and puts it back (with tries + 1
 *     and due = now + backoff << (tries - 1)) after a failure, unless it
 *     has had ALERT_HOOK_TRIES tries.
 *  3. A delivery waiting for its retry does not hold back the others: the
 *     sender always takes the due delivery with the lowest seq.
 * A dead webhook thus costs the sender at most ALERT_HOOK_TIMEOUT_S per
 * try, and nobody else anything. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "base/util.h"
#include "http/client.h"
#include "alert/alert_int.h"

struct delivery {
	char *url;
	char *body;
	uint64_t seq;
	int tries;       /* done so far */
	int64_t due_ms;  /* monotonic */
};

struct alert_hooks {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct delivery *q;  /* unordered; at most cap */
	size_t n, cap;
	uint64_t seq;
	char **urls;
	size_t nurls;
	int64_t backoff_ms;
	alert_send_fn send;
	void *send_ctx;
	int stopping, has_thread;
	pthread_t thread;
	alert_hooks_stats st;
	int64_t drop_logged_ms; /* drops are logged at most once a second */
};

static int64_t mono_ms(void)
{
	return sn_mono_ns() / 1000000;
}

static void delivery_release(struct delivery *d)
{
	free(d->url);
	free(d->body);
}

/* What logs may say of a webhook: scheme, host and port. The rest of a
 * URL (path, query, user info) is often the receiver's secret. */
static void url_label(const char *url, char *out, size_t outlen)
{
	char scheme[8], host[256];
	int port;
	if (hc_url_parts(url, scheme, host, &port))
		snprintf(out, outlen, "(unparsable URL)");
	else
		snprintf(out, outlen, "%s://%s:%d", scheme, host, port);
}

/* A JSON POST with the timeout; any 2xx is delivered. The response body is
 * read up to the client's cap and dropped. */
static int http_send(void *ctx, const char *url, const char *body, size_t len)
{
	(void)ctx;
	hc_opts o = { .timeout_s = ALERT_HOOK_TIMEOUT_S };
	hc_xfer x = { .content_type = "application/json", .body_fd = -1, .out_fd = -1,
		      .body = body, .body_size = len };
	hc_resp resp = { 0 };
	char err[512], label[300];
	int rc = hc_transfer("POST", url, &o, &x, &resp, err, sizeof err);
	url_label(url, label, sizeof label);
	if (rc)
		/* err is "URL: why": only the why. */
		log_warn("webhook %s: %s", label,
			 strncmp(err, url, strlen(url)) == 0 && err[strlen(url)] == ':'
				 ? err + strlen(url) + 2 : "transport error");
	else if (resp.status < 200 || resp.status > 299)
		log_warn("webhook %s: HTTP %ld", label, resp.status);
	rc = rc ? rc : resp.status >= 200 && resp.status <= 299 ? 0 : -EIO;
	hc_resp_release(&resp);
	return rc;
}

/* The due delivery with the lowest seq, taken out of the queue; 0 when
 * none is due (then *wait_ms is how long until the next one, or -1). */
static int take_due(alert_hooks *h, int64_t now, struct delivery *out, int64_t *wait_ms)
{
	size_t best = h->n;
	*wait_ms = -1;
	for (size_t i = 0; i < h->n; i++) {
		if (h->q[i].due_ms <= now) {
			if (best == h->n || h->q[i].seq < h->q[best].seq)
				best = i;
		} else if (*wait_ms < 0 || h->q[i].due_ms - now < *wait_ms) {
			*wait_ms = h->q[i].due_ms - now;
		}
	}
	if (best == h->n)
		return 0;
	*out = h->q[best];
	h->q[best] = h->q[--h->n];
	return 1;
}

/* Puts d (which has failed) back for its next try, or gives it up. */
static void after_failure(alert_hooks *h, struct delivery *d, int64_t now)
{
	if (d->tries >= ALERT_HOOK_TRIES) {
		h->st.failed++;
		char label[300];
		url_label(d->url, label, sizeof label);
		log_warn("webhook %s: giving up after %d tries", label, d->tries);
		delivery_release(d);
		return;
	}
	if (h->n == h->cap) {
		/* A fresh event took the place meanwhile: it goes first. */
		h->st.dropped++;
		delivery_release(d);
		return;
	}
	h->st.retries++;
	d->due_ms = now + (h->backoff_ms << (d->tries - 1));
	h->q[h->n++] = *d;
}

static int send_one(alert_hooks *h, int64_t now, int64_t *wait_ms)
{
	struct delivery d;
	if (!take_due(h, now, &d, wait_ms))
		return 0;
	pthread_mutex_unlock(&h->mu);
	int rc = h->send(h->send_ctx, d.url, d.body, strlen(d.body));
	pthread_mutex_lock(&h->mu);
	d.tries++;
	if (rc == 0) {
		h->st.delivered++;
		delivery_release(&d);
	} else {
		after_failure(h, &d, mono_ms());
	}
	return 1;
}

int alert_hooks_run_due(alert_hooks *h, int64_t now_ms)
{
	int64_t wait;
	int n = 0;
	pthread_mutex_lock(&h->mu);
	/* A failed delivery is due again only after its backoff from the real
	 * clock, so a now_ms far ahead runs it through its tries at once. */
	while (send_one(h, now_ms, &wait))
		n++;
	pthread_mutex_unlock(&h->mu);
	return n;
}

static void *sender_main(void *arg)
{
	alert_hooks *h = arg;
	pthread_mutex_lock(&h->mu);
	while (!h->stopping) {
		int64_t wait;
		if (send_one(h, mono_ms(), &wait))
			continue;
		if (wait < 0) {
			pthread_cond_wait(&h->cv, &h->mu);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&h->cv, &h->mu, &ts);
		}
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

int alert_hooks_new(size_t cap, int64_t backoff_ms, alert_send_fn send, void *send_ctx,
		    int thread, alert_hooks **out)
{
	alert_hooks *h = xcalloc(1, sizeof *h);
	pthread_condattr_t ca;
	int rc;
	h->cap = cap ? cap : ALERT_HOOK_QUEUE;
	h->q = xcalloc(h->cap, sizeof *h->q);
	h->backoff_ms = backoff_ms > 0 ? backoff_ms : ALERT_HOOK_BACKOFF_MS;
	h->send = send ? send : http_send;
	h->send_ctx = send_ctx;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (thread && (rc = -pthread_create(&h->thread, NULL, sender_main, h))) {
		alert_hooks_free(&h);
		return rc;
	}
	h->has_thread = thread;
	*out = h;
	return 0;
}

void alert_hooks_free(alert_hooks **hp)
{
	alert_hooks *h = *hp;
	if (!h)
		return;
	pthread_mutex_lock(&h->mu);
	h->stopping = 1;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	if (h->has_thread)
		pthread_join(h->thread, NULL);
	if (h->n)
		log_warn("alerts: %zu webhook deliveries dropped at shutdown", h->n);
	for (size_t i = 0; i < h->n; i++)
		delivery_release(&h->q[i]);
	for (size_t i = 0; i < h->nurls; i++)
		free(h->urls[i]);
	free(h->urls);
	free(h->q);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
	*hp = NULL;
}

void alert_hooks_set_urls(alert_hooks *h, const char *const *urls, size_t n)
{
	char **copy = xcalloc(n + 1, sizeof *copy);
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(urls[i]);
	pthread_mutex_lock(&h->mu);
	char **old = h->urls;
	size_t nold = h->nurls;
	h->urls = copy;
	h->nurls = n;
	pthread_mutex_unlock(&h->mu);
	for (size_t i = 0; i < nold; i++)
		free(old[i]);
	free(old);
}

/* Drops the oldest delivery to make room (invariant 1). */
static void drop_oldest(alert_hooks *h)
{
	size_t old = 0;
	for (size_t i = 1; i < h->n; i++)
		if (h->q[i].seq < h->q[old].seq)
			old = i;
	delivery_release(&h->q[old]);
	h->q[old] = h->q[--h->n];
	h->st.dropped++;
	int64_t now = mono_ms();
	if (now - h->drop_logged_ms >= 1000) {
		h->drop_logged_ms = now;
		log_warn("alerts: the webhook queue is full (%zu): oldest deliveries dropped, %llu so far",
			 h->cap, (unsigned long long)h->st.dropped);
	}
}

void alert_hooks_push(alert_hooks *h, const char *body)
{
	pthread_mutex_lock(&h->mu);
	int64_t now = mono_ms();
	for (size_t i = 0; i < h->nurls && !h->stopping; i++) {
		if (h->n == h->cap)
			drop_oldest(h);
		h->q[h->n++] = (struct delivery){ xstrdup(h->urls[i]), xstrdup(body), ++h->seq, 0, now };
		h->st.queued++;
	}
	pthread_cond_signal(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

void alert_hooks_stats_get(alert_hooks *h, alert_hooks_stats *out)
{
	pthread_mutex_lock(&h->mu);
	*out = h->st;
	pthread_mutex_unlock(&h->mu);
}

int alert_hooks_check(const json_t *urls, char *err, size_t errlen)
{
	size_t i, j;
	const json_t *u;
	if (!json_is_array(urls)) {
		snprintf(err, errlen, "urls: must be an array of http or https URLs");
		return -EINVAL;
	}
	if (json_array_size(urls) > ALERT_HOOK_URLS_MAX) {
		snprintf(err, errlen, "urls: at most %d", ALERT_HOOK_URLS_MAX);
		return -EINVAL;
	}
	json_array_foreach(urls, i, u) {
		const char *s = json_string_value(u);
		char scheme[8], host[256];
		int port;
		if (!s || json_string_length(u) > ALERT_HOOK_URL_MAX ||
		    !sn_utf8_valid(s, json_string_length(u), 1) || hc_url_parts(s, scheme, host, &port) ||
		    !host[0]) {
			snprintf(err, errlen, "urls[%zu]: must be an absolute http or https URL of at most %d bytes",
				 i, ALERT_HOOK_URL_MAX);
			return -EINVAL;
		}
		for (j = 0; j < i; j++)
			if (json_equal(json_array_get(urls, j), u)) {
				snprintf(err, errlen, "urls[%zu]: repeats urls[%zu]", i, j);
				return -EINVAL;
			}
	}
	return 0;
}
