/* The follower's relay (follow.h). The leader's address and secret are
 * cached: they change only when another replica takes the lead, and a
 * relay that cannot reach the leader asks the database again at once. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"
#include "http/proxy.h"
#include "server/follow.h"
#include "server/replica.h"

#define REFRESH_MS 1000

struct follow {
	store *st;
	http_proxy *proxy;  /* the main address */
	http_proxy *ingest; /* --ingest-listen's, or NULL */
	pthread_mutex_t mu; /* guards the cache below; never held over a query */
	char url[256], secret[128];
	int64_t at_ms; /* when the cache was filled; 0: empty */
};

static int upstream(void *ctx, int reset, char *base, size_t baselen, char *secret,
		    size_t secretlen)
{
	follow *f = ctx;
	pthread_mutex_lock(&f->mu);
	if (reset)
		f->at_ms = 0;
	int fresh = f->at_ms && sn_now_ms() - f->at_ms < REFRESH_MS;
	if (fresh && base) {
		sn_strlcpy(base, f->url, baselen);
		sn_strlcpy(secret, f->secret, secretlen);
	}
	pthread_mutex_unlock(&f->mu);
	if (fresh || !base)
		return 0;
	char url[sizeof f->url], sec[sizeof f->secret];
	int rc = replica_upstream(f->st, url, sizeof url, sec, sizeof sec);
	if (rc == 0) {
		pthread_mutex_lock(&f->mu);
		if (strcmp(url, f->url))
			log_info("replica: following the leader at %s", url);
		sn_strlcpy(f->url, url, sizeof f->url);
		sn_strlcpy(f->secret, sec, sizeof f->secret);
		f->at_ms = sn_now_ms();
		pthread_mutex_unlock(&f->mu);
		sn_strlcpy(base, url, baselen);
		sn_strlcpy(secret, sec, secretlen);
	}
	explicit_bzero(sec, sizeof sec);
	return rc;
}

int follow_start(store *st, const http_config *cfg, follow **out, char *err, size_t errlen)
{
	follow *f = xcalloc(1, sizeof *f);
	f->st = st;
	pthread_mutex_init(&f->mu, NULL);
	int rc = http_proxy_start(cfg, upstream, f, &f->proxy, err, errlen);
	if (rc) {
		pthread_mutex_destroy(&f->mu);
		free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void follow_forget(void *ctx)
{
	follow *f = ctx;
	pthread_mutex_lock(&f->mu);
	f->at_ms = 0;
	pthread_mutex_unlock(&f->mu);
	http_proxy_abandon(f->proxy);
	http_proxy_abandon(f->ingest);
}

int follow_add_ingest(follow *f, const http_config *cfg, char *err, size_t errlen)
{
	return http_proxy_start(cfg, upstream, f, &f->ingest, err, errlen);
}

unsigned follow_port(const follow *f)
{
	return http_proxy_port(f->proxy);
}

int follow_handover(follow *f)
{
	return http_proxy_quiesce(f->proxy);
}

void follow_stop(follow **pf)
{
	follow *f = *pf;
	if (!f)
		return;
	*pf = NULL;
	http_proxy_stop(&f->ingest);
	http_proxy_stop(&f->proxy);
	pthread_mutex_destroy(&f->mu);
	explicit_bzero(f->secret, sizeof f->secret);
	free(f);
}
