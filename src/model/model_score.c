/* POST /api/v1/models/{name}/score[?version=v] {"vectors":[[…],…]}:
 * scores by ml_scorer, the engine's code, on a model loaded once and kept
 * in the api's cache (shared, reference-counted; each request scores
 * through a scorer of its own). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base/mem.h"
#include "model/model_int.h"

#define BATCH 1024

/* The rows of vectors as floats (n x dim); replies 400 naming the first
 * bad row or value. */
static int parse_vectors(http_req *r, json_t *vectors, int dim, float **out, size_t *n)
{
	size_t i, j, rows = json_array_size(vectors);
	json_t *row, *x;
	if (!json_is_array(vectors) || rows == 0 || rows > MD_SCORE_ROWS) {
		http_reply_error(r, 400, "bad_request", "field 'vectors' must be a list of 1 to %d"
				 " lists of numbers", MD_SCORE_ROWS);
		return -EINVAL;
	}
	float *v = xmalloc(rows * (size_t)dim * sizeof *v);
	json_array_foreach(vectors, i, row) {
		if (!json_is_array(row) || json_array_size(row) != (size_t)dim) {
			http_reply_error(r, 400, "bad_request", "vectors[%zu]: expected %d values, got %zu",
					 i, dim, json_array_size(row));
			goto fail;
		}
		json_array_foreach(row, j, x) {
			double d = json_number_value(x);
			float f = (float)d;
			if (!json_is_number(x) || !isfinite(d) || !isfinite(f)) {
				http_reply_error(r, 400, "bad_request", "vectors[%zu][%zu]: not a finite"
						 " number (as a 32-bit float)", i, j);
				goto fail;
			}
			v[i * (size_t)dim + j] = f;
		}
	}
	*out = v;
	*n = rows;
	return 0;
fail:
	free(v);
	return -EINVAL;
}

/* scores[n] of x by m, BATCH rows per call. */
static int score_all(ml_model *m, const float *x, size_t n, float *scores)
{
	size_t dim = (size_t)ml_model_dim(m);
	ml_scorer *s = ml_scorer_new(m, n < BATCH ? n : BATCH);
	int rc = s ? 0 : -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i += BATCH)
		rc = ml_scorer_score(s, x + i * dim, n - i < BATCH ? n - i : BATCH, scores + i);
	ml_scorer_free(&s);
	return rc;
}

static json_t *reply_json(const char *name, const md_version *v, double thr, const float *scores,
			  size_t n)
{
	json_t *sc = json_array(), *fl = json_array();
	for (size_t i = 0; sc && fl && i < n; i++)
		if (json_array_append_new(sc, json_real(scores[i])) ||
		    json_array_append_new(fl, json_boolean((double)scores[i] > thr)))
			break;
	if (!sc || !fl || json_array_size(fl) != n) {
		json_decref(sc);
		json_decref(fl);
		return NULL;
	}
	return json_pack("{s:s,s:I,s:f,s:o,s:o}", "model", name, "version", (json_int_t)v->number,
			 "threshold", thr, "scores", sc, "flags", fl);
}

static void h_score(http_req *r, void *ctx)
{
	model_api *a = ctx;
	md_item it;
	md_version v;
	ml_model *m = NULL;
	float *x = NULL, *scores = NULL;
	size_t n = 0;
	char err[512];
	json_t *j;
	if (md_resolve(a, r, http_req_query(r, "version"), &it, &v))
		return;
	int rc = md_cache_get(a, it.id, &v, &m, err, sizeof err);
	if (rc) {
		http_reply_error(r, 500, "internal", "cannot load the model: %s", err);
		goto out;
	}
	if (parse_vectors(r, json_object_get(http_req_json(r), "vectors"), ml_model_dim(m), &x, &n))
		goto out;
	scores = xmalloc(n * sizeof *scores);
	if ((rc = score_all(m, x, n, scores))) {
		http_reply_errno(r, rc, "cannot score");
		goto out;
	}
	if (!(j = reply_json(it.name, &v, ml_model_threshold(m), scores, n)))
		http_reply_errno(r, -ENOMEM, NULL);
	else
		http_reply_json(r, 200, j);
out:
	ml_model_free(&m);
	md_version_release(&v);
	free(x);
	free(scores);
}

size_t md_score_routes(model_api *a, http_route *out, size_t max)
{
	const http_route routes[] = {
		{ "POST", "/api/v1/models/{name}/score", h_score, 0, ROLE_MEMBER, NULL, MD_SCORE_BODY, a },
	};
	size_t n = sizeof routes / sizeof routes[0];
	if (n > max)
		n = max;
	memcpy(out, routes, n * sizeof *out);
	return n;
}
