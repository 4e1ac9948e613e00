/* Alert rules over metrics and detectors, their firing and resolved
 * events, and webhooks (docs/metrics.md, "Alerts"). */
#ifndef SN_ALERT_H
#define SN_ALERT_H
#include <stddef.h>
#include <stdint.h>
#include "base/hub.h"
#include "http/http.h"
#include "metrics/mx_api.h"
#include "store/store.h"

typedef struct alert_mgr alert_mgr;

typedef struct alert_config {
	int64_t interval_ms; /* --alert-interval (10s) */
} alert_config;

extern const store_domain alert_store_domain;

/* Starts the evaluator and the webhook sender threads; st, events and mx
 * are borrowed and must outlive the manager. */
int alert_new(store *st, hub *events, mx_api *mx, const alert_config *cfg, alert_mgr **out);
/* Stops both threads (webhooks still queued are dropped, and logged). */
void alert_free(alert_mgr **a);
size_t alert_routes(alert_mgr *a, http_route *out, size_t max);
#endif
