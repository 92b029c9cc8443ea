/* Internal: the metrics' side the core calls (metrics.c). */
#ifndef FH_CORE_METRICS_H
#define FH_CORE_METRICS_H

#include <fasthttp.h>

#include "core/worker.h"

/* One worker's route series (metrics.c): written by that worker only. */
typedef struct fh__metrics_shard fh__metrics_shard_t;

/* The worker whose loop runs on this thread, NULL on other threads. */
extern _Thread_local fh__worker_t *fh__worker_current;

/* Gives m to s (fh_server_new): a shard for each worker, per-thread slots
 * for the application's metrics. FH_ESTATE when m counts for another
 * server already, FH_ENOMEM. */
int fh__metrics_attach(fh_metrics_t *m, fh_server_t *s);
/* Takes m back from s (fh_server_free): the per-thread counts of the
 * application's metrics are kept (folded into their shared slot), the
 * route series go with the shards. */
void fh__metrics_detach(fh_metrics_t *m);
/* Counts a request whose response is done, on its worker's thread. */
void fh__metrics_record(fh__metrics_shard_t *sh, const fh_request_t *req);

#endif
