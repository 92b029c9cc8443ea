/**
 * @file
 * fasthttp — answering later: blocking work on the thread pool, and waking a
 * worker loop from any thread.
 *
 * A handler that must wait (a database, a file, another service) defers its
 * response (fh_response_defer in response.h) and ends it later on the
 * request's loop thread. Two ways to get back to that thread:
 *
 *   - fh_offload runs a function on libuv's thread pool and its completion
 *     on the request's loop: the usual way to call blocking code.
 *
 *       static void lookup(void *data) {             // a pool thread
 *           job_t *job = data;
 *           job->found = db_lookup(job->id, job->name, sizeof(job->name));
 *       }
 *       static void looked_up(fh_request_t *req, fh_response_t *res,
 *                             int status, void *data) {  // the loop thread
 *           job_t *job = data;
 *           if (status == 0 && job->found)
 *               fh_send_text(res, 200, job->name);
 *           else
 *               fh_send_status(res, status ? 503 : 404);
 *       }
 *       static int get_user(fh_request_t *req, fh_response_t *res, void *d) {
 *           job_t *job = fh_alloc(req, sizeof(*job));   // lives with the request
 *           if (!job) return FH_ENOMEM;
 *           job->id = 42;
 *           return fh_offload(req, lookup, looked_up, job);
 *       }
 *
 *   - fh_loop_post queues a callback for a worker loop from any thread (a
 *     thread of your own, a client library's callback thread).
 *
 * Ordering: responses to pipelined requests leave in request order whatever
 * order their deferred completions run in.
 *
 * Cancellation: when the client goes away while a response is deferred, the
 * response's cancel callback runs (fh_response_on_cancel), offloaded work
 * that has not started yet is dropped (its `done` still runs, with
 * FH_ECANCELED), and fh_response_is_canceled() becomes true. The request and
 * its arena stay valid until the response has been ended AND every offload's
 * `done` has returned; then they are released, exactly once.
 */
#ifndef FASTHTTP_ASYNC_H
#define FASTHTTP_ASYNC_H

#include "common.h"
#include "request.h"
#include "response.h"
#include "server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Runs on a thread-pool thread. It may read what data points to and views
 * copied out of the request before fh_offload (they stay valid and unchanged
 * until `done` has run), but must not call any fh_* function on the request
 * or response, nor allocate from the request's arena: those belong to the
 * loop thread. */
typedef void (*fh_offload_work_fn)(void *data);

/** Runs on the request's loop thread once `work` has returned (status 0), or
 * instead of it when the work was canceled before it started (status
 * FH_ECANCELED: the client went away). Runs exactly once for every
 * fh_offload that returned 0, even when the client is gone: end the
 * response here (fh_send_*, fh_response_end, a stream...) — ending a
 * canceled response is required too, and then only releases it — or keep it
 * deferred for later. The request is valid during the call. */
typedef void (*fh_offload_done_fn)(fh_request_t *req, fh_response_t *res, int status, void *data);

/** Runs work(data) on libuv's thread pool, then done(req, res, status, data)
 * on the request's loop thread. Call it from that loop thread: in the
 * handler, in a timer, in another offload's `done`...
 *
 * The response must not be final yet: called in the handler, fh_offload
 * defers it (fh_response_defer); called later, the response is already
 * deferred. Several offloads may be in flight for one request. Work that
 * must go on after answering (logging, a cache refresh) is offloaded first,
 * then the handler answers: the request outlives its response until `done`
 * has run.
 *
 * The request (its views and arena, so data allocated with fh_alloc) stays
 * valid until `done` has returned. data belongs to the caller.
 *
 * Returns 0, FH_EINVAL (a NULL argument), FH_ESTATE (the response is
 * final), FH_ECANCELED (the client already left: nothing runs, and a
 * deferred response must still be ended),
 * FH_ENOMEM, or a libuv error; on error neither callback runs. */
FH_API int fh_offload(fh_request_t *req, fh_offload_work_fn work, fh_offload_done_fn done,
                      void *data);

/** Runs fn(data) on the thread of a worker loop, from any thread, in the
 * order posted; safe to call from the loop's own thread too (fn then runs
 * on a later turn of the loop). loop must be a fasthttp worker loop, as
 * given by fh_request_loop(req). data belongs to the caller.
 *
 * Posts are accepted while the server runs and during its graceful stop,
 * until the loop has no connection left and shuts down; then FH_ESTATE and
 * fn never runs. A deferred response that a foreign thread will end is
 * therefore safe to complete with fh_loop_post during the drain; past it
 * the connection is canceled (see fh_response_on_cancel), and code that
 * must end the response even then should use fh_offload, which the loop
 * always waits for.
 *
 * Returns 0, FH_EINVAL (NULL fn or not a worker loop), FH_ESTATE or
 * FH_ENOMEM. */
FH_API int fh_loop_post(uv_loop_t *loop, fh_loop_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_ASYNC_H */
