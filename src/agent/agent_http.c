/* Signed requests to the server, with fail-over: each request is signed
 * afresh (new timestamp and nonce) for each server it is tried on, and a
 * connection error moves on to the next URL; the one that answered is
 * tried first next time. The leading replica a follower named comes before
 * them all while it answers; a connection error there (it stopped or
 * died) forgets it, and the request goes on to the configured servers. A
 * leader that became a follower relays, and names the next leader. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "agent/agent_int.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/util.h"

/* What stops a call: the caller's flag; on the lead, a change of lead. */
struct stop {
	const int *flag;
	const unsigned *gen; /* NULL: not a call to the lead */
	unsigned at;
};

static int on_progress(void *ud, int64_t done, int64_t total)
{
	(void)done;
	(void)total;
	const struct stop *s = ud;
	return (s->flag && __atomic_load_n(s->flag, __ATOMIC_RELAXED)) ||
	       (s->gen && __atomic_load_n(s->gen, __ATOMIC_RELAXED) != s->at);
}

/* One attempt on one server; on the lead (gen not NULL), it ends when the
 * lead changes. */
static int call_one(agent *a, const char *base, const ag_req *r, const void *body, size_t len,
		    const unsigned *gen, unsigned at, hc_resp *out, char *err, size_t errlen)
{
	sn_sig_headers h;
	char *url = xasprintf("%s%s", base, r->path);
	char *hdr[8] = { NULL };
	int rc = sn_sig_sign(a->sec, r->method, r->path, sn_now_ms(), body, len, &h);
	if (rc) {
		snprintf(err, errlen, "cannot sign %s %s", r->method, r->path);
		goto out;
	}
	hdr[0] = xasprintf("%s: %s", SN_SIG_HDR_KEY, h.key);
	hdr[1] = xasprintf("%s: %s", SN_SIG_HDR_TS, h.ts);
	hdr[2] = xasprintf("%s: %s", SN_SIG_HDR_NONCE, h.nonce);
	hdr[3] = xasprintf("%s: %s", SN_SIG_HDR_BODY, h.body);
	hdr[4] = xasprintf("%s: %s", SN_SIG_HDR_SIG, h.sig);
	hdr[5] = xstrdup("Accept: application/json");
	hc_opts o = { .timeout_s = r->timeout_s, .insecure = a->cfg.insecure };
	hc_xfer x = { .headers = (const char *const *)hdr, .body_fd = -1, .out_fd = r->out_fd };
	if (r->json) {
		x.body = body;
		x.body_size = len;
	} else if (r->in_fd >= 0) {
		x.body_fd = r->in_fd;
		x.body_len = r->in_len;
	}
	struct stop stop = { r->abort_flag, gen, at };
	if (r->abort_flag || gen) {
		x.progress = on_progress;
		x.progress_ud = &stop;
	}
	rc = hc_transfer(r->method, url, &o, &x, out, err, errlen);
out:
	for (size_t i = 0; hdr[i]; i++)
		free(hdr[i]);
	free(url);
	return rc;
}

/* The bytes to sign: the JSON text, or the file mapped (its hash is
 * computed again by sn_sig_sign; mapping keeps a large artifact out of
 * memory). */
static int body_of(const ag_req *r, char **json, void **map, const void **body, size_t *len)
{
	*json = NULL;
	*map = NULL;
	*body = NULL;
	*len = 0;
	if (r->json) {
		*json = json_dumps(r->json, JSON_COMPACT);
		if (!*json)
			return -EINVAL;
		*body = *json;
		*len = strlen(*json);
	} else if (r->in_fd >= 0 && r->in_len > 0) {
		*map = mmap(NULL, (size_t)r->in_len, PROT_READ, MAP_PRIVATE, r->in_fd, 0);
		if (*map == MAP_FAILED) {
			*map = NULL;
			return -errno;
		}
		*body = *map;
		*len = (size_t)r->in_len;
	}
	return 0;
}

#define LEAD_RETRY_MS 60000

void ag_lead_learn(agent *a, const char *url)
{
	if (!sn_url_ok(url, sizeof a->lead))
		return;
	pthread_mutex_lock(&a->mu);
	int skip = !strcmp(url, a->lead) ||
		   (!strcmp(url, a->lead_failed) && sn_now_ms() < a->lead_retry_ms);
	if (!skip) {
		sn_strlcpy(a->lead, url, sizeof a->lead);
		__atomic_add_fetch(&a->lead_gen, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&a->mu);
	if (!skip)
		log_msg(LOG_INFO, "node: talking to the leading replica at %s directly", url);
}

/* The lead failed (url) or is no longer named (NULL): the configured
 * servers from now on; a failed one not taken again for a while. */
static void lead_forget(agent *a, const char *url, const char *why)
{
	pthread_mutex_lock(&a->mu);
	int had = *a->lead && (!url || !strcmp(a->lead, url));
	char was[sizeof a->lead];
	sn_strlcpy(was, a->lead, sizeof was);
	if (had) {
		a->lead[0] = '\0';
		__atomic_add_fetch(&a->lead_gen, 1, __ATOMIC_RELAXED);
		if (url) {
			sn_strlcpy(a->lead_failed, url, sizeof a->lead_failed);
			a->lead_retry_ms = sn_now_ms() + LEAD_RETRY_MS;
		}
	}
	pthread_mutex_unlock(&a->mu);
	if (had)
		log_msg(LOG_INFO, "node: the leading replica at %s %s; back to the configured servers",
			was, why);
}

void ag_lead_drop(agent *a)
{
	lead_forget(a, NULL, "is no longer named by the configured server");
}

/* Rewinds a partly written download before the next try; 0 or -EIO. */
static int rewind_out(const ag_req *r)
{
	if (r->out_fd >= 0 && (lseek(r->out_fd, 0, SEEK_SET) || ftruncate(r->out_fd, 0)))
		return -EIO;
	return 0;
}

int ag_call(agent *a, const ag_req *r, hc_resp *out, char *err, size_t errlen)
{
	char *json;
	void *map;
	const void *body;
	size_t len;
	int rc = body_of(r, &json, &map, &body, &len);
	if (rc) {
		snprintf(err, errlen, "cannot encode the body of %s %s", r->method, r->path);
		return rc;
	}
	char lead[sizeof a->lead] = "";
	pthread_mutex_lock(&a->mu);
	size_t first = a->cur;
	unsigned gen = a->lead_gen;
	if (!r->configured)
		sn_strlcpy(lead, a->lead, sizeof lead);
	pthread_mutex_unlock(&a->mu);
	rc = -EIO;
	if (*lead) {
		memset(out, 0, sizeof *out);
		rc = call_one(a, lead, r, body, len, &a->lead_gen, gen, out, err, errlen);
		/* Ended by a change of lead, not by the caller: tried again below. */
		if (rc == -ECANCELED && !(r->abort_flag && *r->abort_flag))
			rc = -EIO;
		else if (rc == -EIO)
			lead_forget(a, lead, "does not answer");
		if (rc == -EIO && rewind_out(r))
			goto out;
	}
	for (size_t i = 0; i < a->nservers && rc == -EIO; i++) {
		size_t k = (first + i) % a->nservers;
		memset(out, 0, sizeof *out);
		rc = call_one(a, a->servers[k], r, body, len, NULL, 0, out, err, errlen);
		if (rc == 0 && k != first) {
			pthread_mutex_lock(&a->mu);
			a->cur = k;
			pthread_mutex_unlock(&a->mu);
		}
		/* A partly written download must not be appended to by the next try. */
		if (rc == -EIO && rewind_out(r))
			break;
	}
out:
	if (map)
		munmap(map, len);
	free(json);
	return rc;
}

int ag_call_json(agent *a, const char *method, const char *path, const json_t *body,
		 long timeout_s, const int *abort_flag, long *status, json_t **reply, char *err,
		 size_t errlen)
{
	ag_req r = { .method = method, .path = path, .json = body, .in_fd = -1, .out_fd = -1,
		     .timeout_s = timeout_s, .abort_flag = abort_flag };
	return ag_call_req_json(a, &r, status, reply, err, errlen);
}

int ag_call_req_json(agent *a, const ag_req *r, long *status, json_t **reply, char *err,
		     size_t errlen)
{
	hc_resp resp = { 0 };
	*reply = NULL;
	int rc = ag_call(a, r, &resp, err, errlen);
	if (rc)
		return rc;
	*status = resp.status;
	if (resp.len)
		*reply = json_loadb(resp.body, resp.len, 0, NULL);
	hc_resp_release(&resp);
	return 0;
}

const char *ag_err_code(const json_t *reply)
{
	const char *s = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
	return s ? s : "";
}
