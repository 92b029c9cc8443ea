/**
 * @file
 * fasthttp — metrics in the Prometheus text format, liveness and readiness.
 *
 * A metrics object is made before the server, given to it in
 * cfg.metrics, and served by a handler the application mounts:
 *
 *     fh_metrics_t *metrics;
 *     fh_metrics_new(&metrics, NULL);                 // default buckets
 *     fh_metric_t *logins;
 *     fh_metrics_counter(metrics, "app_logins_total", "Logins.", &logins);
 *     static const fh_route_t ops[] = {
 *         FH_GET("/metrics", fh_metrics_handler),     // data: the metrics
 *         FH_GET("/healthz", fh_health_live),
 *         FH_GET("/readyz", fh_health_ready),         // data: NULL or an fh_readiness_t
 *         FH_ROUTES_END,
 *     };
 *     fh_router_mount(router, "", ops, metrics);
 *     cfg.metrics = metrics;
 *     fh_server_new(&server, &cfg);
 *     ...
 *     fh_server_free(server);
 *     fh_metrics_free(metrics);                       // after the server
 *
 * What the server counts, with cfg.metrics set (metric names below):
 * - fasthttp_requests_total{route, method, code}: every answered request,
 *   by the route's pattern (fh_request_route: "/user/:id", never the raw
 *   path; "unmatched" when no route answered, which includes the answers
 *   the core gives itself), the method ("OTHER" for one the core refused
 *   before it was read, or an unknown one), and the status class ("2xx");
 * - fasthttp_request_duration_seconds{route, method}: a histogram of the
 *   time from the complete request head to the response written, with the
 *   buckets of fh_metrics_config_t;
 * - fasthttp_requests_in_flight, fasthttp_connections_open,
 *   fasthttp_connections_accepted_total, fasthttp_connections_refused_total
 *   (accepted sockets dropped for lack of memory), fasthttp_received_bytes_total,
 *   fasthttp_sent_bytes_total, fasthttp_core_errors_total{code} (the answers
 *   the core gave itself: 400, 408, 413, 414, 431, 500 for a failed
 *   handler, 501, 505 ...), fasthttp_worker_threads and
 *   process_start_time_seconds.
 *
 * Threads. Each worker thread counts into its own memory, with plain loads
 * and stores (relaxed atomics that compile to them): no lock and no
 * read-modify-write shared between threads on the request path. A scrape
 * reads every thread's counters and adds them up, so a scrape taken while
 * requests run may be a few requests behind in some series, never ahead.
 * Route series are kept per thread in a table of cfg.max_routes entries made
 * with the server; routes past it are counted under route="other".
 *
 * Errors: 0 or a negative FH_E* code; FH_ECONFIG names the field in
 * fh_metrics_error().
 */
#ifndef FASTHTTP_METRICS_H
#define FASTHTTP_METRICS_H

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Metrics (opaque): the server's series and the application's own. */
typedef struct fh_metrics fh_metrics_t;
/** One metric of the application's own: a counter, gauge or histogram. */
typedef struct fh_metric fh_metric_t;

/** The most buckets one histogram may have. */
#define FH_METRICS_MAX_BUCKETS 32

/** How the metrics are kept; start from fh_metrics_config_default(). */
typedef struct fh_metrics_config {
    /** Upper bounds of the request latency histogram, in seconds, strictly
     * increasing and positive; NULL: 0.0005 0.001 0.0025 0.005 0.01 0.025
     * 0.05 0.1 0.25 0.5 1 2.5 5 10. The array is copied. */
    const double *buckets;
    size_t nbuckets;   /**< entries in buckets, 1..FH_METRICS_MAX_BUCKETS */
    size_t max_routes; /**< (route, method) series per thread: 256 */
} fh_metrics_config_t;

/** The defaults above. */
FH_API fh_metrics_config_t fh_metrics_config_default(void);

/** Makes the metrics; cfg may be NULL for the defaults (and is copied).
 * Returns 0, FH_ENOMEM, or FH_ECONFIG for bad buckets or max_routes
 * (fh_metrics_error() names the field and quotes the value). */
FH_API int fh_metrics_new(fh_metrics_t **out, const fh_metrics_config_t *cfg);

/** Frees the metrics and every metric made from them. Call it after the
 * server counting into them has been freed. NULL is a no-op. */
FH_API void fh_metrics_free(fh_metrics_t *metrics);

/** The message of the last FH_ECONFIG from a metrics function on this
 * thread ("fasthttp: metrics.buckets[2]: 0.001 is not above 0.005"); ""
 * when there was none. Valid until the next such call on this thread. */
FH_API const char *fh_metrics_error(void);

/** @{ */
/** Adds a metric of the application's own, without labels, before the
 * server is made (afterwards: FH_ESTATE). name follows Prometheus
 * ([a-zA-Z_:][a-zA-Z0-9_:]*, not starting with "fasthttp_") and is unique
 * among the metrics; help is one line (both copied). *out is owned by the
 * metrics and valid until fh_metrics_free. A histogram takes its bucket
 * bounds like fh_metrics_config_t (NULL: the default ones). Returns 0,
 * FH_ENOMEM, FH_ESTATE or FH_ECONFIG (a bad or taken name, bad buckets). */
FH_API int fh_metrics_counter(fh_metrics_t *metrics, const char *name, const char *help,
                              fh_metric_t **out);
FH_API int fh_metrics_gauge(fh_metrics_t *metrics, const char *name, const char *help,
                            fh_metric_t **out);
FH_API int fh_metrics_histogram(fh_metrics_t *metrics, const char *name, const char *help,
                                const double *buckets, size_t nbuckets, fh_metric_t **out);
/** @} */

/** Adds n to a counter. On a worker thread of the server the metrics are
 * attached to, it counts into that thread's memory (no lock, no shared
 * atomic); on any other thread into a shared atomic slot. Not for gauges or
 * histograms (ignored). */
FH_API void fh_metric_add(fh_metric_t *counter, uint64_t n);
/** Sets a gauge (one value shared by every thread, an atomic store). */
FH_API void fh_metric_set(fh_metric_t *gauge, double value);
/** Adds delta (which may be negative) to a gauge (an atomic update). */
FH_API void fh_metric_gauge_add(fh_metric_t *gauge, double delta);
/** Counts one observation into a histogram, per thread as fh_metric_add. */
FH_API void fh_metric_observe(fh_metric_t *histogram, double value);

/** The handler serving the metrics (data: the fh_metrics_t): 200 with the
 * Prometheus text format 0.0.4 ("text/plain; version=0.0.4"), built in the
 * request's arena; 503 when the metrics are not given to a running server
 * (cfg.metrics). */
FH_API int fh_metrics_handler(fh_request_t *req, fh_response_t *res, void *data);

/** Writes the text fh_metrics_handler serves into a buffer malloc'd for
 * the caller (free it), *len its length without the final NUL. Returns 0,
 * FH_ENOMEM or FH_ESTATE (not attached to a server). From any thread. */
FH_API int fh_metrics_text(fh_metrics_t *metrics, char **text, size_t *len);

/** A readiness check of the application's own, for fh_health_ready. */
typedef struct fh_readiness {
    /** Returns true when the application can take traffic (its database
     * answers...). Called on the loop thread for every probe: keep it
     * quick, answer from state kept up to date elsewhere. NULL: ready. */
    bool (*check)(void *data);
    void *data; /**< passed to check */
} fh_readiness_t;

/** Liveness, as Kubernetes probes it (/healthz): 200 "ok" while the loop
 * answers, also while the server drains (a draining process is alive and
 * must not be killed for it). data is ignored. */
FH_API int fh_health_live(fh_request_t *req, fh_response_t *res, void *data);
/** Readiness (/readyz): 503 "draining" from the moment a stop or a restart
 * (fh_server_stop, SIGTERM) begins, 503 "not ready" while the check of the
 * fh_readiness_t in data (NULL: none) says false, else 200 "ready". The
 * answer carries Cache-Control: no-store. */
FH_API int fh_health_ready(fh_request_t *req, fh_response_t *res, void *data);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_METRICS_H */
