/* Offloading blocking work to libuv's thread pool, and posting to a worker
 * loop from any thread.
 *
 * An offload is a small record in the request's arena. It holds the request
 * (req->users) from submission until its `done` callback has returned, so the
 * arena outlives both the work and the response. The request keeps a list of
 * its offloads in flight, and its first offload registers a cancel hook, so
 * that a client leaving cancels the ones the pool has not started yet
 * (uv_cancel: their `done` then runs with FH_ECANCELED).
 */
#include "core/request.h"
#include "core/worker.h"

typedef struct fh__offload {
    uv_work_t work;
    fh_request_t *req;
    fh_offload_work_fn fn;
    fh_offload_done_fn done;
    void *data;
    struct fh__offload *next, *prev;
    fh__hook_t cancel_hook; /* the request's, on its first offload */
} fh__offload_t;

static void offload_unlink(fh__offload_t *o) {
    fh_request_t *req = o->req;
    if (o->prev)
        o->prev->next = o->next;
    else
        req->offloads = o->next;
    if (o->next)
        o->next->prev = o->prev;
}

static void offload_cancel(fh_request_t *req);

static void offload_work(uv_work_t *w) {
    fh__offload_t *o = (fh__offload_t *)w;
    o->fn(o->data);
}

static void offload_after(uv_work_t *w, int status) {
    fh__offload_t *o = (fh__offload_t *)w;
    fh_request_t *req = o->req;
    offload_unlink(o);
    o->done(req, &req->res, status == UV_ECANCELED ? FH_ECANCELED : 0, o->data);
    fh__request_unref(req); /* o lives in the arena: nothing touches it after */
}

int fh_offload(fh_request_t *req, fh_offload_work_fn work, fh_offload_done_fn done, void *data) {
    if (!req || !work || !done)
        return FH_EINVAL;
    fh_response_t *res = &req->res;
    if (res->flags & FH__RES_CANCELED)
        return FH_ECANCELED;
    if (res->flags & FH__RES_FINAL)
        return FH_ESTATE;
    bool deferred_here = false;
    int err;
    if (!(res->flags & FH__RES_DEFERRED)) {
        err = fh_response_defer(res); /* pins the request's bytes */
        if (err)
            return err;
        deferred_here = true;
    }
    fh__offload_t *o = fh_arena_alloc(req->arena, sizeof(*o));
    if (!o) {
        err = FH_ENOMEM;
        goto error;
    }
    o->req = req;
    o->fn = work;
    o->done = done;
    o->data = data;
    o->prev = NULL;
    o->next = req->offloads;
    err = uv_queue_work(&req->worker->loop, &o->work, offload_work, offload_after);
    if (err)
        goto error;
    if (!(req->flags & FH__REQ_OFFLOADED)) {
        req->flags |= FH__REQ_OFFLOADED;
        fh__request_on_cancel(req, &o->cancel_hook, offload_cancel);
    }
    if (req->offloads)
        req->offloads->prev = o;
    req->offloads = o;
    req->users++;
    return 0;

error:
    if (deferred_here)
        res->flags &= ~(unsigned)FH__RES_DEFERRED;
    return err;
}

/* The client went away (a cancel hook): work not yet started will not
 * start. */
static void offload_cancel(fh_request_t *req) {
    /* Work already running or done cannot be canceled (uv_cancel says
     * UV_EBUSY): its `done` runs normally and sees the canceled response. */
    for (fh__offload_t *o = req->offloads; o; o = o->next)
        uv_cancel((uv_req_t *)&o->work);
}

int fh_loop_post(uv_loop_t *loop, fh_loop_fn fn, void *data) {
    if (!loop || !fn)
        return FH_EINVAL;
    fh__worker_t *w = loop->data;
    /* Worker loops point back at their worker (server.c, worker_init). */
    if (!w || &w->loop != loop)
        return FH_EINVAL;
    return fh__worker_post(w, fn, data, true);
}
