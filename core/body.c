/* Streamed request bodies, the handler's side (include/fasthttp/body.h).
 * The protocol parses the body and calls fn (http1.c); here a handler
 * starts and resumes the delivery, through the request's ops. */
#include "core/request.h"

bool fh_request_body_streaming(const fh_request_t *req) {
    return (req->flags & FH__REQ_STREAM) != 0;
}

uint64_t fh_request_body_declared(const fh_request_t *req) {
    return req->stream ? req->stream->declared : UINT64_MAX;
}

int fh_request_body_read(fh_request_t *req, fh_body_fn fn, void *data) {
    fh__body_stream_t *s = req->stream;
    if (!s || !fn || s->reading || s->ended || (req->res.flags & FH__RES_FINAL))
        return FH_ESTATE;
    if (!req->conn)
        return FH_ENOTCONN;
    if (req->state == FH__RS_HANDLING && !(req->res.flags & FH__RES_DEFERRED)) {
        int err = fh_response_defer(&req->res);
        if (err)
            return err;
    }
    s->fn = fn;
    s->data = data;
    s->reading = true;
    req->ops->body_resume(req);
    return 0;
}

int fh_request_body_resume(fh_request_t *req) {
    fh__body_stream_t *s = req->stream;
    if (!s || !s->reading || !s->paused || s->ended)
        return FH_ESTATE;
    if (!req->conn)
        return FH_ENOTCONN;
    s->paused = false;
    req->ops->body_resume(req);
    return 0;
}

void fh__body_stream_fail(fh_request_t *req, int status) {
    fh__body_stream_t *s = req->stream;
    if (!s || s->ended)
        return;
    s->ended = true;
    if (s->fn)
        s->fn(req, (fh_str_t){ "", 0 }, status, s->data);
}
