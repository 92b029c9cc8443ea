/* Serializing a response into its request's arena: the status line, the
 * fields the core adds (Server, Date, Content-Type, the framing,
 * Connection), the handler's fields and, when it is small, the body, in
 * one buffer; a large body follows as a second buffer, not copied. */
#include "core/date.h"
#include "core/request.h"
#include "core/status.h"
#include "core/worker.h"

/* Bodies up to this size are copied behind the head: one buffer to write. */
#define FH__INLINE_BODY_MAX 2048

/* "HTTP/1.1 200 OK\r\n" for the statuses the core knows, with its length;
 * NULL for another. */
static const char *status_line(int status, size_t *len) {
    switch (status) {
#define FH__LINE(code, text)                                                                       \
    case code:                                                                                     \
        *len = sizeof("HTTP/1.1 " #code " " text "\r\n") - 1;                                      \
        return "HTTP/1.1 " #code " " text "\r\n";
        FH__STATUS_LIST(FH__LINE)
#undef FH__LINE
    default: return NULL;
    }
}

/* What the head says, decided once. */
typedef struct plan {
    const char *line; /* the status line, or NULL: written from the code */
    size_t line_len;
    bool bodyless_status; /* 1xx, 204, 304: no body, no framing */
    bool unframed;        /* a stream of unknown length */
    bool chunked;
    bool send_body;
    bool inline_body;
    bool upgrade, close;
    size_t length; /* Content-Length */
} plan_t;

/* A 1xx is no final answer: the client would wait for the real one, and an
 * HTTP/1.0 client must never see one. Only a takeover's 101 (the
 * connection changes protocol) is final. A handler that sends any other
 * 1xx as its response gets a 500 instead. */
static void settle_status(fh_response_t *res) {
    if (res->status < 200 && !((res->flags & FH__RES_TAKEOVER) && res->status == 101)) {
        res->status = 500;
        res->body = "Internal Server Error";
        res->body_len = 21;
        res->flags &= ~(unsigned)FH__RES_BODY_ARENA;
        res->flags |= FH__RES_CLOSE;
    }
}

static void plan_head(fh_request_t *req, plan_t *pl) {
    fh_response_t *res = &req->res;
    int status = res->status;
    pl->line = status_line(status, &pl->line_len);
    if (!pl->line)
        pl->line_len = 9 + 3 + 1 + strlen(fh_status_reason(status)) + 2;
    pl->bodyless_status = status < 200 || status == 204 || status == 304;
    /* A stream's body follows the head later (stream.c): its length is
     * declared (a file), or it is chunked (HTTP/1.1) or close-delimited. */
    bool stream = res->flags & FH__RES_STREAM;
    pl->unframed = stream && res->stream_len < 0 && !pl->bodyless_status;
    pl->chunked = pl->unframed && req->version == 11;
    pl->send_body = !stream && !pl->bodyless_status && req->method != FH_METHOD_HEAD &&
                    !(res->flags & FH__RES_NO_BODY) && res->body_len > 0;
    /* Closing, too, for an answer that comes before its streamed body has
     * been read (body.h): the rest of the body is never parsed. */
    if (!(req->flags & FH__REQ_KEEP_ALIVE) || (pl->unframed && !pl->chunked) ||
        (req->flags & (FH__REQ_STREAM | FH__REQ_COMPLETE)) == FH__REQ_STREAM)
        res->flags |= FH__RES_CLOSE;
    if (pl->chunked)
        res->flags |= FH__RES_CHUNKED;
    /* A takeover keeps the socket: no Connection: close, and a 101 says
     * what the connection becomes. */
    bool takeover = res->flags & FH__RES_TAKEOVER;
    pl->upgrade = takeover && status == 101;
    pl->close = (res->flags & FH__RES_CLOSE) && !takeover;
    pl->length = stream ? (size_t)res->stream_len : res->body_len;
    /* A body that points into the request's bytes (an echo) lives in a read
     * buffer that is reused before the write may finish: copy it inline. */
    bool body_in_request = res->body && req->raw_begin && res->body >= req->raw_begin &&
                           res->body < req->raw_end && !(req->flags & FH__REQ_PINNED);
    pl->inline_body = pl->send_body && (res->body_len <= FH__INLINE_BODY_MAX || body_in_request);
}

/* A bound on the head's bytes (the buffer's used length is what counts). */
static size_t head_size(const fh_request_t *req, const plan_t *pl) {
    const fh_response_t *res = &req->res;
    size_t n = pl->line_len + req->worker->server->server_line_len + FH__DATE_LINE_LEN;
    if (res->content_type.ptr && !pl->bodyless_status)
        n += 14 + res->content_type.len + 2;
    for (uint32_t i = 0; i < res->nheaders; i++)
        n += res->headers[i].name.len + 2 + res->headers[i].value.len + 2;
    if (pl->chunked)
        n += 28;
    else if (!pl->bodyless_status && !pl->unframed)
        n += 16 + FH__U64_DIGITS + 2;
    n += 24 + 2; /* the longest Connection field, and the empty line */
    if (pl->inline_body)
        n += res->body_len;
    return n;
}

static char *put_status_line(char *p, int status, const plan_t *pl) {
    if (pl->line)
        return fh__put(p, pl->line, pl->line_len);
    const char *reason = fh_status_reason(status);
    p = fh__put(p, "HTTP/1.1 ", 9);
    *p++ = (char)('0' + status / 100);
    *p++ = (char)('0' + status / 10 % 10);
    *p++ = (char)('0' + status % 10);
    *p++ = ' ';
    p = fh__put(p, reason, strlen(reason));
    return fh__put(p, "\r\n", 2);
}

static char *put_fields(char *p, const fh_request_t *req, const plan_t *pl) {
    const fh_response_t *res = &req->res;
    const fh_server_t *s = req->worker->server;
    p = fh__put(p, s->server_line, s->server_line_len);
    p = fh__put(p, req->worker->date.line, FH__DATE_LINE_LEN);
    /* 1xx, 204 and 304 carry no content, so nothing describes it: a
     * Content-Type set for them is left out (as Content-Length is). */
    if (res->content_type.ptr && !pl->bodyless_status) {
        p = fh__put(p, "Content-Type: ", 14);
        p = fh__put(p, res->content_type.ptr, res->content_type.len);
        p = fh__put(p, "\r\n", 2);
    }
    for (uint32_t i = 0; i < res->nheaders; i++) {
        p = fh__put(p, res->headers[i].name.ptr, res->headers[i].name.len);
        p = fh__put(p, ": ", 2);
        p = fh__put(p, res->headers[i].value.ptr, res->headers[i].value.len);
        p = fh__put(p, "\r\n", 2);
    }
    if (pl->chunked) {
        p = fh__put(p, "Transfer-Encoding: chunked\r\n", 28);
    } else if (!pl->bodyless_status && !pl->unframed) {
        p = fh__put(p, "Content-Length: ", 16);
        p = fh__put_u64(p, pl->length);
        p = fh__put(p, "\r\n", 2);
    }
    if (pl->upgrade)
        p = fh__put(p, "Connection: upgrade\r\n", 21);
    else if (pl->close)
        p = fh__put(p, "Connection: close\r\n", 19);
    else if (req->version == 10)
        p = fh__put(p, "Connection: keep-alive\r\n", 24);
    return fh__put(p, "\r\n", 2);
}

int fh__response_serialize(fh_request_t *req) {
    fh_response_t *res = &req->res;
    for (fh__hook_t *h = res->commit_hooks; h; h = h->next)
        ((fh_response_hook_fn)h->fn)(res, h->data);
    res->commit_hooks = NULL;
    settle_status(res);
    plan_t pl;
    plan_head(req, &pl);
    size_t size = head_size(req, &pl);
    char *buf = fh__arena_alloc_fast(req->arena, size);
    if (!buf && fh__arena_over(req->arena)) {
        /* Past the request's memory budget: its answer still goes out. */
        fh__arena_use_reserve(req->arena);
        buf = fh__arena_alloc_fast(req->arena, size);
    }
    if (!buf)
        return FH_ENOMEM;
    char *p = put_status_line(buf, res->status, &pl);
    p = put_fields(p, req, &pl);
    if (pl.inline_body)
        p = fh__put(p, res->body, res->body_len);
    res->out[0] = uv_buf_init(buf, (unsigned)(p - buf));
    res->nout = 1;
    if (pl.send_body && !pl.inline_body) {
        res->out[1] = uv_buf_init((char *)res->body, (unsigned)res->body_len);
        res->nout = 2;
    }
    return 0;
}
