/* model_pull: the version's JSON, then each file from the blob API into a
 * temporary file beside its target, checked and renamed into place. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "base/mem.h"
#include "base/util.h"
#include "http/client.h"
#include "model/model_client.h"
#include "model/model_int.h"

static char *url_of(const model_conn *mc, const char *path)
{
	size_t n = strlen(mc->server);
	while (n && mc->server[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s", (int)n, mc->server, path);
}

/* The error of a non-2xx answer into err. */
static int answer_error(const hc_resp *r, char *err, size_t errlen)
{
	json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
	const char *m = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	snprintf(err, errlen, "%s (HTTP %ld)", m ? m : "the server refused", r->status);
	json_decref(j);
	return r->status == 404 ? -ENOENT : -EIO;
}

static int fetch_file(const model_conn *mc, const char *sha, const char *target, char *err,
		      size_t errlen)
{
	hc_opts o = { .token = mc->token, .insecure = mc->insecure };
	char *tmp = xasprintf("%s.partXXXXXX", target), *path = xasprintf("/api/v1/blobs/%s", sha);
	char *url = url_of(mc, path), got[65] = "";
	hc_resp r = { 0 };
	int fd = mkstemp(tmp), rc = 0;
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", target, strerror(errno));
		goto out;
	}
	hc_xfer x = { .body_fd = -1, .out_fd = fd };
	if ((rc = hc_transfer("GET", url, &o, &x, &r, err, errlen)))
		goto out;
	if (r.status != 200) {
		rc = answer_error(&r, err, errlen);
	} else if (fsync(fd) || sn_sha256_file(tmp, got) || fchmod(fd, 0644)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
	} else if (strcmp(got, sha) != 0) {
		rc = -EIO;
		snprintf(err, errlen, "%s: the download does not match its sha256 %s", target, sha);
	} else if (rename(tmp, target)) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", target, strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc && fd >= 0)
		unlink(tmp);
	hc_resp_release(&r);
	free(tmp);
	free(path);
	free(url);
	return rc;
}

static int version_get(const model_conn *mc, const char *spec, json_t **out, char *err,
		       size_t errlen)
{
	hc_opts o = { .token = mc->token, .insecure = mc->insecure };
	hc_resp r = { 0 };
	char name[MD_NAME_MAX + 1], vs[24] = "latest";
	int64_t v;
	if (md_spec_parse(spec, name, &v)) {
		snprintf(err, errlen, "'%s' is not NAME[@VERSION]", spec ? spec : "");
		return -EINVAL;
	}
	if (v)
		snprintf(vs, sizeof vs, "%lld", (long long)v);
	char *path = xasprintf("/api/v1/models/%s/versions/%s", name, vs), *url = url_of(mc, path);
	int rc = hc_request("GET", url, NULL, &o, &r, err, errlen);
	if (rc == 0 && r.status != 200)
		rc = answer_error(&r, err, errlen);
	if (rc == 0 && !(*out = json_loadb(r.body, r.len, 0, NULL))) {
		snprintf(err, errlen, "the server's answer is not JSON");
		rc = -EIO;
	}
	hc_resp_release(&r);
	free(path);
	free(url);
	return rc;
}

int model_pull(const model_conn *mc, const char *spec, const char *dir, json_t **version,
	       char *err, size_t errlen)
{
	json_t *v = NULL, *f;
	size_t i, nfiles = 0;
	int rc = version_get(mc, spec, &v, err, errlen);
	if (version)
		*version = NULL;
	if (rc == 0 && (rc = sn_mkdir_p(dir, 0755)))
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
	json_array_foreach(json_object_get(v, "files"), i, f) {
		const char *p = json_string_value(json_object_get(f, "path"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		if (rc)
			break;
		if (!p || !sha || !blob_sha_valid(sha) || (strcmp(p, ML_MODEL_FILE) &&
							    strcmp(p, ML_CONFIG_FILE))) {
			snprintf(err, errlen, "the server lists an unexpected file");
			rc = -EIO;
			break;
		}
		char *target = xasprintf("%s/%s", dir, p);
		rc = fetch_file(mc, sha, target, err, errlen);
		free(target);
		nfiles++;
	}
	if (rc == 0 && nfiles != 2) {
		snprintf(err, errlen, "the server lists %zu files, not model.onnx and config.json",
			 nfiles);
		rc = -EIO;
	}
	if (rc == 0 && version)
		*version = json_incref(v);
	json_decref(v);
	return rc;
}
