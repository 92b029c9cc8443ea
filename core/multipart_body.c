/* A streamed request body fed to a multipart/form-data parser
 * (include/fasthttp/multipart.h, fh_request_multipart).
 *
 * The state lives in the request's arena, found again by
 * fh_request_multipart_resume through a request slot. When a callback
 * pauses the parser, what it had not read of the chunk is copied into
 * `kept` (arena memory, grown only when a longer rest comes: at most one
 * read each time) and the socket pauses too; resuming feeds `kept` first,
 * then reads on. The parser is freed when the arena is released. */
#include <fasthttp/body.h>
#include <fasthttp/json.h>
#include <fasthttp/multipart.h>
#include <fasthttp/request.h>
#include <string.h>

/* The request slot's key. */
static const char slot;

typedef struct form_body {
    fh_request_t *req;
    fh_response_t *res;
    fh_multipart_t *mp;
    fh_multipart_done_fn done;
    void *data;
    char *kept; /* body bytes the paused parser has not read */
    size_t cap, len, off;
    bool paused; /* a callback paused: the app resumes */
    bool ended;  /* FH_BODY_END came while paused */
    bool over;   /* done has been called */
} form_body_t;

static void release(void *data) {
    form_body_t *f = data;
    fh_multipart_free(f->mp);
    f->mp = NULL;
}

static void finish(form_body_t *f, int status) {
    f->over = true;
    f->len = f->off = 0;
    f->done(f->req, f->res, status, f->data);
}

/* The parser stopped: tell the app, then answer its error (unless a
 * callback answered before it returned its error). done runs first: the
 * answer may end the request and release its arena (f, the parser). */
static void refuse(form_body_t *f) {
    const fh_multipart_error_t *e = fh_multipart_error(f->mp);
    fh_response_t *res = f->res;
    bool answered = fh_response_is_final(res);
    finish(f, e->status);
    if (!answered)
        fh_multipart_send_error(res, e);
}

/* The body is complete and every byte fed. */
static void end(form_body_t *f) {
    if (fh_multipart_finish(f->mp) != 0)
        refuse(f);
    else
        finish(f, 0);
}

/* Feeds chunk; on a pause keeps its rest. Returns FH_BODY_PAUSE when
 * paused, else FH_BODY_CONTINUE (an error is answered). */
static int feed(form_body_t *f, fh_str_t chunk) {
    size_t used = 0;
    int rc = fh_multipart_feed(f->mp, chunk, &used);
    if (rc < 0) {
        refuse(f);
        return FH_BODY_CONTINUE;
    }
    if (rc == 0)
        return FH_BODY_CONTINUE;
    size_t rest = chunk.len - used;
    if (rest > f->cap) {
        char *p = fh_arena_realloc(fh_request_arena(f->req), f->kept, f->cap, rest);
        if (!p) {
            fh_response_t *res = f->res;
            finish(f, 503);
            fh_send_problem(res, 503, NULL, "out of memory", NULL);
            return FH_BODY_CONTINUE;
        }
        f->kept = p;
        f->cap = rest;
    }
    if (rest)
        memcpy(f->kept, chunk.ptr + used, rest);
    f->len = rest;
    f->off = 0;
    f->paused = true;
    return FH_BODY_PAUSE;
}

static int on_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    (void)req;
    form_body_t *f = data;
    if (f->over) /* answered already: the rest does not matter */
        return FH_BODY_CONTINUE;
    if (status == FH_BODY_DATA)
        return feed(f, chunk);
    if (status == FH_BODY_END) {
        if (f->paused)
            f->ended = true; /* finished once resumed */
        else
            end(f);
        return FH_BODY_CONTINUE;
    }
    /* The client left, or the core answers the body's error itself. */
    int code = status == FH_E2BIG       ? 413
               : status == FH_ETIMEDOUT ? 408
               : status == FH_EINVAL    ? 400
                                        : status;
    finish(f, code);
    return FH_BODY_CONTINUE;
}

int fh_request_multipart(fh_request_t *req, fh_response_t *res, const fh_multipart_limits_t *limits,
                         const fh_multipart_callbacks_t *callbacks, fh_multipart_done_fn done,
                         void *data, fh_multipart_t **out) {
    if (out)
        *out = NULL;
    if (!req || !res || !done)
        return FH_EINVAL;
    if (fh_request_get(req, &slot))
        return FH_ESTATE;
    if (!fh_request_body_streaming(req) && fh_request_body(req).len > 0)
        return FH_ESTATE; /* the route does not stream its body */
    form_body_t *f = fh_alloc(req, sizeof(*f));
    if (!f)
        return FH_ENOMEM;
    memset(f, 0, sizeof(*f));
    f->req = req;
    f->res = res;
    f->done = done;
    f->data = data;
    fh_multipart_error_t err;
    int rc = fh_multipart_new(&f->mp, fh_request_header(req, "Content-Type"), limits, callbacks,
                              data, &err);
    if (rc == FH_EINVAL) { /* not a form, or a bad boundary */
        f->over = true;
        done(req, res, err.status, data);
        return fh_multipart_send_error(res, &err);
    }
    if (rc)
        return rc;
    rc = fh_arena_on_release(fh_request_arena(req), release, f);
    if (rc) {
        fh_multipart_free(f->mp);
        return rc;
    }
    rc = fh_request_set(req, &slot, f);
    if (rc)
        return rc;
    if (out)
        *out = f->mp;
    if (!fh_request_body_streaming(req)) { /* no body at all */
        if (fh_response_defer(res) != 0)
            return FH_ESTATE;
        end(f);
        return 0;
    }
    rc = fh_request_body_read(req, on_body, f);
    if (rc && out)
        *out = NULL;
    return rc;
}

int fh_request_multipart_resume(fh_request_t *req) {
    form_body_t *f = req ? fh_request_get(req, &slot) : NULL;
    if (!f || !f->paused)
        return FH_ESTATE;
    if (f->over)
        return FH_ENOTCONN;
    f->paused = false;
    while (f->off < f->len) {
        size_t used = 0;
        fh_str_t rest = { f->kept + f->off, f->len - f->off };
        int rc = fh_multipart_feed(f->mp, rest, &used);
        f->off += used;
        if (rc < 0) {
            refuse(f);
            return 0;
        }
        if (rc == FH_MULTIPART_PAUSED) {
            f->paused = true;
            return 0;
        }
    }
    f->len = f->off = 0;
    if (f->ended) {
        end(f);
        return 0;
    }
    int rc = fh_request_body_resume(req); /* may call on_body before it returns */
    return rc == FH_ENOTCONN ? FH_ENOTCONN : 0;
}
