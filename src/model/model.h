/* The model registry, scoring over HTTP, training as a job, and detectors
 * that score agents' metrics every step (docs/metrics.md, "Models and
 * detectors"). */
#ifndef SN_MODEL_H
#define SN_MODEL_H
#include <stddef.h>
#include "base/hub.h"
#include "blob/blob.h"
#include "blob/blob_http.h"
#include "http/http.h"
#include "metrics/mx_api.h"
#include "sched/sched.h"
#include "store/store.h"

typedef struct model_api model_api;

extern const store_domain model_store_domain;

/* Everything given is borrowed and must outlive the api. Starts the
 * detector thread. */
int model_api_new(store *st, hub *events, blob_store *blobs, blob_api *bapi, mx_api *mx,
		  sched *sc, model_api **out);
void model_api_free(model_api **m);
size_t model_routes(model_api *m, http_route *out, size_t max);
#endif
