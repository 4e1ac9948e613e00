/* Internals shared by the model files: the api's state, items (models)
 * with their access rule, version records, the cache of loaded models.
 *
 * Access to a model is the rule of auth/share.h, as for datasets: admins and the
 * owner have all rights; a group share gives "read" or "write"; public
 * gives read to every member; anyone else is answered as for a missing
 * model (404). Push: write. PATCH and DELETE: owner or admin. */
#ifndef SN_MODEL_INT_H
#define SN_MODEL_INT_H
#include <pthread.h>
#include <stdint.h>
#include <jansson.h>
#include "auth/auth.h"
#include "auth/share.h"
#include "ml/ml.h"
#include "model/model.h"

#define MD_NAME_MAX 128
#define MD_PUSH_MAX ((size_t)600 << 20)  /* one push: the loader caps model.onnx at 256 MiB */
#define MD_CONFIG_MAX ((size_t)16 << 20) /* config.json */
#define MD_SCORE_ROWS 10000              /* vectors of one score request */
#define MD_SCORE_BODY ((size_t)64 << 20)
#define MD_CACHE 16                      /* loaded models kept */

typedef struct md_item {
	char id[48];
	char name[MD_NAME_MAX + 1];
	char owner_id[48];
	int public_;
	enum share_access access; /* the caller's (auth/share.h) */
} md_item;

typedef struct md_version {
	int64_t number, onnx_bytes, config_bytes, dim, created_at;
	double threshold;
	char onnx_sha[65], config_sha[65];
	char kind[8];
	char *features;  /* JSON array text */
	char *uploader;  /* username, or NULL */
	char *job_id;    /* the training job, or NULL */
} md_version;

struct md_cached {
	char item_id[48];
	int64_t version;
	ml_model *m;
	uint64_t used;
};

struct md_det; /* model_det.c */

struct model_api {
	store *st;
	hub *events;
	blob_store *bs;
	mx_api *mx;
	http_stream push_stream;

	pthread_mutex_t cache_mu;
	struct md_cached cache[MD_CACHE];
	uint64_t tick;

	/* The thread that registers finished training jobs (model_train.c)
	 * and the detector thread (model_det.c); quit under mu, cv wakes
	 * both. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int quit;
	pthread_t train_th, det_th;
	int train_started, det_started;
	int64_t det_step_wait_ms; /* the detector thread's wake-up cap */
};

/* 1 when s is a valid model name (as a dataset name). */
int md_name_valid(const char *s);

/* The item name for u (-ENOENT when missing or not readable: the same). */
int md_item_get(store_conn *c, const char *name, const auth_user *u, md_item *out);
/* The version number of item (0: the latest); -ENOENT. */
int md_version_get(store_conn *c, const char *item_id, int64_t number, md_version *out);
void md_version_release(md_version *v);
json_t *md_version_json(const char *name, const md_version *v);

/* A checked model to record. */
typedef struct md_newver {
	const char *onnx_sha, *config_sha;
	uint64_t onnx_bytes, config_bytes;
	const ml_model *m;
	const char *job_id;   /* a training job's result, or NULL */
} md_newver;
/* Creates the item on its first push (owned by u), checks u may write it,
 * records the version and its blob references in one transaction (and,
 * with a job, its training record). Identical files answer the existing
 * version with *dedup = 1. -ENOENT (not readable), -EACCES. */
int md_version_add(model_api *a, const char *name, const auth_user *u, const md_newver *nv,
		   md_version *out, int *dedup);

/* Loads a model from its two blobs with ml_model_load_files. */
int md_load_blobs(blob_store *bs, const char *onnx_sha, const char *config_sha, ml_model **out,
		  char *err, size_t errlen);
/* The loaded model of item@version (a new reference: ml_model_free it),
 * from the cache or the blobs. */
int md_cache_get(model_api *a, const char *item_id, const md_version *v, ml_model **out,
		 char *err, size_t errlen);
/* Drops item's cached versions (version 0: all). */
void md_cache_drop(model_api *a, const char *item_id, int64_t version);

/* Replies for a store or domain error. */
void md_reply_rc(http_req *r, int rc, const char *what);
/* Resolves the request's {name} and version vstr (NULL: the latest) for
 * the caller: 0, or replies and returns nonzero. */
int md_resolve(model_api *a, http_req *r, const char *vstr, md_item *it, md_version *v);
/* Parses "M@v" or "M" (the latest) into name and number (0: latest). */
int md_spec_parse(const char *spec, char name[MD_NAME_MAX + 1], int64_t *version);

/* The caller's row of users, for work done on a user's behalf. */
int md_user_get(store_conn *c, const char *user_id, auth_user *out);

/* Routes of the other files. */
size_t md_push_routes(model_api *a, http_route *out, size_t max);
size_t md_score_routes(model_api *a, http_route *out, size_t max);
size_t md_train_routes(model_api *a, http_route *out, size_t max);
size_t md_det_routes(model_api *a, http_route *out, size_t max);
int md_train_start(model_api *a);
void md_train_stop(model_api *a);
int md_det_start(model_api *a);
void md_det_stop(model_api *a);
#endif
