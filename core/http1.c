/* HTTP/1.1 on a connection: batches of requests, their order, their
 * responses' writes, pipelining, 100 Continue, timeouts and stopping (see
 * http1.h). */
#include <stdlib.h>

#include "core/http1.h"
#include "core/http1_syntax.h"
#include "core/worker.h"

/* After an error response what the client still sends is read and dropped,
 * up to limits.max_discard bytes, then left unread, and the connection is
 * closed when the client ends its side or this long after, so that it reads
 * the response instead of a reset. */
#define FH__LINGER_MS 2000

static const fh__request_ops_t h1_ops;

/* The write of one group of responses that the socket did not take at once. */
typedef struct h1_write {
    fh__write_t w;
    fh_request_t *group;    /* requests whose bytes this write carries */
    fh_request_t *takeover; /* its last request, when it takes the connection */
    bool close_after;
    bool linger;
    uv_buf_t bufs[];
} h1_write_t;

static void h1_flush(fh__conn_t *c);
static void h1_progress(fh__conn_t *c);
static void h1_fail(fh__conn_t *c, int status);
static void h1_dispatch(fh__conn_t *c, fh_request_t *req);

static inline const fh_limits_t *limits_of(const fh__conn_t *c) {
    return &fh__conn_worker(c)->server->cfg.limits;
}
static inline const fh_timeouts_t *timeouts_of(const fh__conn_t *c) {
    return &fh__conn_worker(c)->server->cfg.timeouts;
}

/* Whether the connection is no longer HTTP/1.1's: closed, or switched to
 * another protocol (an upgrade) by the last write. */
static bool h1_gone(const fh__conn_t *c) {
    return fh__conn_closed(c) || c->protocol != &fh__http1_protocol;
}

/* Whether nothing is in flight: nothing queued and nothing being written. */
static bool h1_idle(const fh__conn_t *c) {
    return fh__h1_of(c)->nqueued == 0 && !fh__conn_writing(c);
}

static void queue_append(fh__h1_t *h, fh_request_t *req) {
    req->next = NULL;
    if (h->q_tail)
        h->q_tail->next = req;
    else
        h->q_head = req;
    h->q_tail = req;
    h->nqueued++;
}

/* Abandons every queued request (the client is gone, or nothing after a
 * closing response is ever sent). */
static void queue_abandon(fh__h1_t *h, fh_request_t *req) {
    while (req) {
        fh_request_t *next = req->next;
        fh__request_abandon(req);
        req = next;
    }
}

/* Ends the connection once its last response has been written: lingering
 * after an error or while the server stops (the client may still be
 * sending; closing with unread bytes would make the kernel reset the
 * connection and destroy the response), closing otherwise. */
static void h1_end(fh__conn_t *c, bool linger) {
    /* Lingering already (an error response was written): it ends by
     * itself; closing now would reset what the client still sends. */
    if (fh__conn_lingering(c))
        return;
    if (!linger) {
        fh__conn_close(c);
        return;
    }
    uint32_t ms = timeouts_of(c)->header_ms;
    fh__conn_linger(c, ms < FH__LINGER_MS ? ms : FH__LINGER_MS, limits_of(c)->max_discard);
}

/* --------------------------------------------------------------- deadlines */

static uint64_t h1_drain_grace_ms(const fh__conn_t *c);

/* The read deadline for where the connection is. */
static void h1_update_deadline(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    const fh_timeouts_t *t = timeouts_of(c);
    uint64_t now = uv_now(&fh__conn_worker(c)->loop);
    if (fh__conn_writing(c) || h->body_wait) {
        /* The write deadline runs, or a streamed body waits for its
         * handler: the read side waits for them. */
        h->to_kind = FH__H1_TO_NONE;
        fh__conn_set_read_deadline(c, 0);
    } else if (h->cur) {
        if (h->cur->flags & FH__REQ_HEAD_DONE) {
            h->to_kind = FH__H1_TO_BODY;
            fh__conn_set_read_deadline(c, now + t->body_ms);
        } else if (h->to_kind != FH__H1_TO_HEADER) {
            /* The whole head must arrive within header_ms of its first byte:
             * trickling bytes do not extend it (slowloris). */
            h->to_kind = FH__H1_TO_HEADER;
            fh__conn_set_read_deadline(c, now + t->header_ms);
        }
    } else if (h->nqueued || h->state == FH__H1_PAUSED) {
        h->to_kind = FH__H1_TO_NONE;
        fh__conn_set_read_deadline(c, 0);
    } else if (h->draining && h->to_kind != FH__H1_TO_FRESH && h->to_kind != FH__H1_TO_DRAIN) {
        /* Kept while draining after a handover: idle now, for the grace. */
        h->to_kind = FH__H1_TO_DRAIN;
        fh__conn_set_read_deadline(c, now + h1_drain_grace_ms(c));
    } else if (h->to_kind != FH__H1_TO_FRESH && h->to_kind != FH__H1_TO_IDLE &&
               h->to_kind != FH__H1_TO_DRAIN) {
        /* Idle between requests: the deadline counts from the moment the
         * connection became idle, whatever it sends that is no request. */
        h->to_kind = FH__H1_TO_IDLE;
        fh__conn_set_read_deadline(c, now + t->keepalive_ms);
    }
}

/* ------------------------------------------------------------ 100 Continue */

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* The rest of a 100 Continue the socket did not take at once (rare: it
 * is the first write after a read), kept until it has left. */
typedef struct continue_write {
    fh__write_t w;
    uv_buf_t buf;
} continue_write_t;

static void on_continue_written(fh__conn_t *c, fh__write_t *w, int status) {
    free(w);
    if (status < 0)
        return; /* the connection is closing */
    h1_flush(c);
    h1_progress(c);
}

/* Sends the 100 Continue owed to the request being read, once every earlier
 * response has left (interim responses keep request order too) and only if
 * no byte of its body has arrived yet. The one place that writes it. */
static void h1_continue(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    fh_request_t *req = h->cur;
    if (!req || !(req->flags & FH__REQ_CONTINUE) || fh__conn_writing(c) ||
        h->state == FH__H1_LAST || h->state == FH__H1_HANDOVER)
        return;
    /* A streamed body is wanted once its handler asks for it, while its
     * answer is still to come; any other once no answer is ahead of it. */
    if (req->flags & FH__REQ_STREAM) {
        if (h->q_head != req || !req->stream->reading || h->body_wait ||
            (req->res.flags & FH__RES_FINAL))
            return;
    } else if (h->q_head) {
        return;
    }
    req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    uv_buf_t b = uv_buf_init((char *)continue_100, sizeof(continue_100) - 1);
    ssize_t r = fh__conn_try_write(c, &b, 1);
    if (r < 0 || (size_t)r == b.len)
        return; /* sent, or failed: the read side sees the failure */
    continue_write_t *cw = malloc(sizeof(*cw));
    if (!cw) {
        fh__conn_close(c);
        return;
    }
    cw->buf = uv_buf_init(b.base + r, (unsigned)(b.len - (size_t)r));
    fh__write_init(&cw->w, &cw->buf, 1, on_continue_written);
    fh__conn_queue(c, &cw->w);
}

/* ----------------------------------------------------------------- writes */

static void group_release(fh_request_t *req) {
    if (!req)
        return;
    /* The group's bytes left together: its done hooks share one clock
     * reading (fh__request_done_ns) instead of one each. */
    fh__worker_t *w = req->worker;
    bool outer = !w->releasing_group;
    if (outer) {
        w->releasing_group = true;
        w->group_done_ns = 0;
    }
    while (req) {
        fh_request_t *next = req->next;
        fh__request_release(req);
        req = next;
    }
    if (outer)
        w->releasing_group = false;
}

/* A group's bytes were written (ok) or failed: a takeover gets the socket,
 * the group is released, and the connection ends if nothing more will be
 * sent. Returns whether the connection stays open. */
static bool group_done(fh__conn_t *c, fh_request_t *group, fh_request_t *takeover, bool close_after,
                       bool linger, bool ok) {
    if (takeover && ok && !fh__conn_closed(c) && takeover->res.upgrade) {
        /* The connection goes on in another protocol: nothing of HTTP/1.1
         * is touched after the switch. */
        const char *rest = takeover->rest.ptr;
        fh__conn_switch(c, takeover->res.upgrade, takeover->res.upgrade_arg, rest,
                        rest ? rest + takeover->rest.len : rest);
        group_release(group);
        return false;
    }
    if (takeover && ok && !fh__conn_closed(c) && takeover->res.handover) {
        int fd = fh__conn_socket_fd(c);
        if (fd >= 0)
            takeover->res.handover(takeover, fd);
    }
    group_release(group);
    if (fh__conn_closed(c))
        return false;
    if (!ok || takeover) {
        fh__conn_close(c);
        return false;
    }
    if (close_after) {
        h1_end(c, linger);
        return false;
    }
    return true;
}

static void on_group_written(fh__conn_t *c, fh__write_t *w, int status) {
    h1_write_t *fw = (h1_write_t *)w;
    /* fw lives in the group's arena: its fields are read before release. */
    if (group_done(c, fw->group, fw->takeover, fw->close_after, fw->linger, status >= 0)) {
        h1_flush(c);
        h1_progress(c);
    }
}

/* Queues what the socket did not take of a group: a record in its last
 * request's arena, with the bytes that live in a read buffer (reused
 * before the write completes) copied there. */
static int queue_rest(fh__conn_t *c, h1_write_t *proto, fh_request_t *last, unsigned n,
                      size_t skip) {
    uv_buf_t *iov = fh__conn_worker(c)->iov;
    unsigned k = 0;
    /* Keep at least one buffer: a group of empty ones (a silent takeover)
     * must still wait behind the writes queued before. */
    while (k + 1 < n && skip >= iov[k].len) {
        skip -= iov[k].len;
        k++;
    }
    h1_write_t *fw = fh_arena_alloc(last->arena, sizeof(*fw) + (n - k) * sizeof(uv_buf_t));
    if (!fw)
        return FH_ENOMEM;
    *fw = *proto;
    for (unsigned i = 0; i < n - k; i++) {
        uv_buf_t b = iov[k + i];
        if (i == 0) {
            b.base += skip;
            b.len -= skip;
        }
        if (fh__conn_holds(c, b.base)) {
            char *copy = fh_arena_alloc(last->arena, b.len);
            if (!copy)
                return FH_ENOMEM;
            memcpy(copy, b.base, b.len);
            b.base = copy;
        }
        fw->bufs[i] = b;
    }
    fh__write_init(&fw->w, fw->bufs, n - k, on_group_written);
    fh__conn_queue(c, &fw->w);
    return 0;
}

/* Takes the ready responses at the head of the queue into one group, up to
 * a closing one or a full iovec; returns the buffer count and fills the
 * group's description. */
static unsigned group_take(fh__conn_t *c, h1_write_t *g, size_t *total) {
    fh__h1_t *h = fh__h1_of(c);
    uv_buf_t *iov = fh__conn_worker(c)->iov;
    unsigned n = 0;
    fh_request_t *req, *last = NULL;
    memset(g, 0, sizeof(*g));
    g->group = h->q_head;
    *total = 0;
    for (req = h->q_head; req && req->state == FH__RS_READY; req = req->next) {
        if (n + req->res.nout > FH__MAX_IOV)
            break;
        for (unsigned i = 0; i < req->res.nout; i++) {
            iov[n++] = req->res.out[i];
            *total += req->res.out[i].len;
        }
        req->state = FH__RS_WRITING;
        last = req;
        h->nqueued--;
        if (req->res.flags & FH__RES_TAKEOVER)
            g->takeover = req;
        if (req->res.flags & (FH__RES_CLOSE | FH__RES_TAKEOVER)) {
            g->close_after = true;
            g->linger = (req->res.flags & FH__RES_LINGER) || h->draining;
            break;
        }
    }
    h->q_head = last->next;
    if (!h->q_head)
        h->q_tail = NULL;
    last->next = NULL;
    if (g->close_after) {
        /* Nothing after a closing response is ever sent. */
        h->state = g->takeover ? FH__H1_HANDOVER : FH__H1_LAST;
        fh_request_t *rest = h->q_head;
        h->q_head = h->q_tail = NULL;
        h->nqueued = 0;
        queue_abandon(h, rest);
    }
    return n;
}

/* Writes the ready responses at the head of the queue, in groups of one
 * write each; a stream that reaches the head then writes its own. */
static void h1_flush(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    while (!fh__conn_closed(c) && h->q_head && h->q_head->state == FH__RS_READY) {
        h1_write_t g;
        size_t total;
        unsigned n = group_take(c, &g, &total);
        fh_request_t *last = g.group;
        while (last->next)
            last = last->next;
        /* Behind queued writes, even a group of no bytes (a silent
         * takeover) waits its turn. */
        bool behind = fh__conn_writing(c);
        ssize_t r = behind ? 0 : fh__conn_try_write(c, fh__conn_worker(c)->iov, n);
        if (!behind && r >= 0 && (size_t)r == total) {
            if (!group_done(c, g.group, g.takeover, g.close_after, g.linger, true))
                return;
            continue;
        }
        if (r < 0 || queue_rest(c, &g, last, n, (size_t)r) != 0) {
            group_release(g.group);
            fh__conn_close(c);
            return;
        }
        if (g.close_after)
            return;
    }
    if (!fh__conn_closed(c) && h->q_head && h->q_head->state == FH__RS_STREAMING &&
        h->q_head->res.activate)
        h->q_head->res.activate(h->q_head);
}

/* ---------------------------------------------------------------- dispatch */

/* Copies into the arena a response buffer that points into a read buffer:
 * those are reused (or freed, after a refusal) before the write is done. */
static void copy_out_of_read_buffers(fh__conn_t *c, fh_request_t *req) {
    fh_response_t *res = &req->res;
    for (unsigned i = 0; i < res->nout; i++) {
        uv_buf_t *b = &res->out[i];
        if (!b->len || !fh__conn_holds(c, b->base))
            continue;
        char *copy = fh_arena_alloc(req->arena, b->len);
        if (!copy) {
            fh__response_error(req, res->status, true);
            return;
        }
        memcpy(copy, b->base, b->len);
        b->base = copy;
    }
}

static void count_error(fh__worker_t *w, int status) {
    if (status >= 500)
        FH__COUNT(w->stats.errors_5xx);
    else
        FH__COUNT(w->stats.errors_4xx);
}

static void h1_dispatch(fh__conn_t *c, fh_request_t *req) {
    fh__h1_t *h = fh__h1_of(c);
    fh__worker_t *w = fh__conn_worker(c);
    queue_append(h, req);
    req->state = FH__RS_HANDLING;
    FH__COUNT(w->stats.requests);
    if (h->to_kind == FH__H1_TO_FRESH)
        h->to_kind = FH__H1_TO_NONE; /* no longer a connection that sent nothing */
    if (h->draining || w->stopping)
        req->flags &= ~(unsigned)FH__REQ_KEEP_ALIVE; /* its answer says close */
    /* Nothing after a request that closes the connection is parsed; a
     * streamed body still to come is, up to its end (h1_stream_end). */
    if (!(req->flags & FH__REQ_KEEP_ALIVE) &&
        !((req->flags & FH__REQ_STREAM) && !(req->flags & FH__REQ_COMPLETE)))
        h->state = FH__H1_LAST;
    if (req->flags & FH__REQ_UPGRADE) {
        /* Nothing after an Upgrade request is parsed as HTTP: its response
         * says the connection closes (unless a handler takes it over). */
        h->state = FH__H1_LAST;
        req->res.flags |= FH__RES_CLOSE;
    }
    /* A 100 Continue not sent yet is not owed any more: the body is here
     * (a streamed one's handler decides). */
    if (!(req->flags & FH__REQ_STREAM))
        req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    if (req->method == FH_METHOD_OTHER) {
        fh__response_core_error(req, 501, false);
        copy_out_of_read_buffers(c, req);
        count_error(w, 501);
        req->ops->finished(req);
        return;
    }
    if (w->server->trace_arena)
        req->trace_path = fh_arena_strndup(req->arena, req->path.ptr, req->path.len);
    /* Requests of one read arrived together: one clock read serves them. */
    if (!h->batch->ns)
        h->batch->ns = uv_hrtime();
    req->start_ns = h->batch->ns;
    fh__request_run_handler(req);
}

/* ---------------------------------------------------------- streamed body */

/* A streamed body is left unread (its response came first, or it failed):
 * nothing more is parsed, and the connection ends after the response,
 * lingering so that the client reads it. */
static void h1_stream_stop(fh__conn_t *c, fh_request_t *req) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->cur == req)
        h->cur = NULL;
    req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    h->body_wait = false;
    h->state = FH__H1_LAST;
    req->res.flags |= FH__RES_CLOSE | FH__RES_LINGER;
    if (!h->batch)
        fh__h1_parser_put(c);
}

/* The streamed body of req (dispatched) failed with status (400, 408,
 * 413...): fn learns it, and unless it answers, the core does. */
static void h1_stream_fail(fh__conn_t *c, fh_request_t *req, int status) {
    int code = status == 413 ? FH_E2BIG : status == 408 ? FH_ETIMEDOUT : FH_EINVAL;
    h1_stream_stop(c, req);
    /* fn may answer, and the answer be written and the request released
     * before it returns: hold it. */
    req->users++;
    fh__body_stream_fail(req, code);
    bool answered = !req->conn || (req->res.flags & FH__RES_FINAL);
    fh__request_unref(req);
    if (answered)
        return;
    bool deferred = req->state == FH__RS_DEFERRED;
    fh__response_core_error(req, status, true);
    if (status == 408)
        req->res.flags &= ~(unsigned)FH__RES_LINGER;
    copy_out_of_read_buffers(c, req);
    count_error(fh__conn_worker(c), status);
    if (deferred)
        req->state = FH__RS_DEFERRED; /* op_finished flushes it */
    req->ops->finished(req);
}

/* The head of a streamed request is complete (its body starts at body):
 * its views move into the arena, what follows is kept from body on, and
 * its handler runs. */
static void h1_stream_dispatch(fh__conn_t *c, fh_request_t *req, const char *body) {
    fh__h1_t *h = fh__h1_of(c);
    (void)body; /* llhttp may pause before the head's last byte: count it */
    body = req->raw_begin + req->head_len;
    req->raw_end = body;
    h->lead = 0;
    if (fh__request_pin(req) != 0) {
        h1_fail(c, 503);
        return;
    }
    req->raw_begin = body;
    req->raw_end = NULL;
    if (req->flags & FH__REQ_CHUNKED)
        req->chunk_line = 0; /* the first chunk-size line starts the body */
    req->body = FH_STR_LIT("");
    req->stream->dispatched = true;
    h1_dispatch(c, req);
}

/* After the handler ran or fn was called: stop if the response came first,
 * wait if the body is not wanted now. */
static void h1_stream_check(fh__conn_t *c, fh_request_t *req) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->cur != req)
        return;
    if ((req->res.flags & FH__RES_FINAL) || !req->conn) {
        req->stream->ended = true; /* answered first: fn hears no more */
        h1_stream_stop(c, req);
        return;
    }
    if (!req->stream->reading || req->stream->paused)
        h->body_wait = true;
}

/* The streamed body is complete: fn gets the end. A request that closes
 * the connection is the last one parsed, now that its body is read. */
static void h1_stream_end(fh_request_t *req) {
    fh__body_stream_t *bs = req->stream;
    if (!(req->flags & FH__REQ_KEEP_ALIVE) && req->conn &&
        fh__h1_of(req->conn)->state == FH__H1_READING)
        fh__h1_of(req->conn)->state = FH__H1_LAST;
    bs->ended = true;
    req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    bs->fn(req, (fh_str_t){ "", 0 }, FH_BODY_END, bs->data);
}

/* Queues an error response for the request being parsed (or a new one) and
 * stops parsing: the connection ends once it has been written. */
static void h1_fail(fh__conn_t *c, int status) {
    fh__h1_t *h = fh__h1_of(c);
    fh_request_t *req = h->cur;
    h->cur = NULL;
    if (req && req->stream && req->stream->dispatched) {
        h1_stream_fail(c, req, status);
        return;
    }
    if (req && !(req->flags & FH__REQ_HEAD_DONE)) {
        /* What the error handler and the access log can see of it. */
        const char *b, *e = NULL;
        if (h->batch)
            e = h->batch->end;
        else if (fh__conn_kept(c, &b, &e) && req->raw_begin != b)
            e = NULL;
        if (e && req->raw_begin && e > req->raw_begin)
            fh__h1_fill_partial(c, req, (size_t)(e - req->raw_begin));
    }
    if (!req)
        req = fh__request_new(fh__conn_worker(c), c, &h1_ops);
    h->state = FH__H1_LAST;
    if (!req) {
        fh__conn_close(c);
        return;
    }
    queue_append(h, req);
    req->state = FH__RS_HANDLING;
    /* Nothing follows this response: the request does not keep the
     * connection alive, whatever it asked for. */
    req->flags &= ~(unsigned)FH__REQ_KEEP_ALIVE;
    fh__response_core_error(req, status, true);
    /* A timed-out client is slow, not sending: it gets no lingering. */
    if (status != 408)
        req->res.flags |= FH__RES_LINGER;
    copy_out_of_read_buffers(c, req);
    count_error(fh__conn_worker(c), status);
    req->ops->finished(req);
}

/* Empty lines (CRLF) received before a request line are ignored (RFC 9112
 * 2.2: at least one); llhttp would also skip bare CRs and LFs, which we
 * refuse. The bytes are consumed here, so llhttp never sees them: they are
 * not kept, and the idle deadline keeps running while they come. Returns
 * false when they break the rule. */
static bool skip_empty_lines(fh__h1_t *h, const char **pp, const char *end) {
    const char *p = *pp;
    while (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\r' && h->lead == 0)
            h->lead = 1;
        else if (*p == '\n' && h->lead == 1)
            h->lead = 0; /* one empty line: any number may follow */
        else
            return false;
        p++;
    }
    if (p < end && h->lead == 1)
        return false; /* a CR not followed by LF */
    *pp = p;
    return true;
}

/* Starts the request whose first byte is at p. */
static bool h1_begin(fh__conn_t *c, const char *p) {
    fh__h1_t *h = fh__h1_of(c);
    h->cur = fh__request_new(fh__conn_worker(c), c, &h1_ops);
    if (!h->cur)
        return false;
    h->cur->raw_begin = p;
    return true;
}

/* Parses [p, end) into requests and dispatches each as it completes, up to
 * the pipelining cap; then keeps what the next bytes need. Returns where
 * parsing stopped. */
static const char *h1_parse_batch(fh__conn_t *c, const char *p, const char *end) {
    fh__h1_t *h = fh__h1_of(c);
    const fh_limits_t *l = limits_of(c);
    while (p < end && h->state == FH__H1_READING && !fh__conn_closed(c) && !h->body_wait) {
        if (h->nqueued >= l->max_pipelined && !h->cur) {
            h->state = FH__H1_PAUSED;
            break;
        }
        if (!h->cur) {
            if (!skip_empty_lines(h, &p, end)) {
                h1_fail(c, 400);
                break;
            }
            if (p == end)
                break;
            if (!h1_begin(c, p)) {
                h1_fail(c, 503);
                break;
            }
            if (fh__h1_fast_head(c, end)) {
                fh_request_t *req = h->cur;
                h->cur = NULL;
                p = req->raw_end;
                h->lead = 0;
                h1_dispatch(c, req);
                continue;
            }
        }
        if (!h->parser && !(h->parser = fh__h1_parser_get(c))) {
            h1_fail(c, 503);
            break;
        }
        llhttp_errno_t err = llhttp_execute(h->parser, p, (size_t)(end - p));
        if (err == HPE_OK) {
            p = end;
            break;
        }
        if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
            if (fh__h1_normalize(c, err)) {
                p = h->cur->raw_begin; /* again, from the request's first byte */
                continue;
            }
            h1_fail(c, fh__h1_parse_error_status(c, err));
            break;
        }
        const char *pos = llhttp_get_error_pos(h->parser);
        if (err == HPE_PAUSED)
            llhttp_resume(h->parser);
        fh_request_t *req = h->cur;
        if (!req) {
            /* fn answered a streamed body's chunk, which stopped the
             * request (op_finished, h1_stream_stop): the rest of the
             * batch is not parsed. */
            p = pos ? pos : end;
            break;
        }
        if (req->flags & FH__REQ_STREAM) {
            /* A streamed body: paused after its head, after a chunk fn
             * paused at, or after a response that came first; or it ended. */
            p = pos ? pos : end;
            if (!(req->flags & FH__REQ_COMPLETE)) {
                if (!req->stream->dispatched)
                    h1_stream_dispatch(c, req, p);
                if (h->cur == req)
                    h1_stream_check(c, req);
                continue;
            }
            if (req->stream->paused) {
                h->body_wait = true; /* the end waits for the resume too */
                continue;
            }
            h->cur = NULL;
            h->lead = 0;
            h1_stream_end(req);
            continue;
        }
        h->cur = NULL;
        p = pos ? pos : end;
        h->lead = 0;
        req->raw_end = p;
        h1_dispatch(c, req);
        if (err == HPE_PAUSED_UPGRADE && h->state == FH__H1_READING)
            h->state = FH__H1_LAST;
    }
    return p;
}

/* After a batch: the parser goes back unless a request is half read, the
 * bytes after a takeover request go with it, an incomplete head is checked
 * against the limits, and what the next bytes need is kept. */
static void h1_batch_end(fh__conn_t *c, const char *p, const char *end) {
    fh__h1_t *h = fh__h1_of(c);
    if (!h->cur || fh__conn_closed(c))
        fh__h1_parser_put(c);
    if (fh__conn_closed(c))
        return;
    /* Bytes after a takeover request belong to whoever takes the socket. */
    if (h->state == FH__H1_HANDOVER && p < end && h->q_tail) {
        fh_request_t *tk = h->q_tail;
        size_t n = (size_t)(end - p);
        tk->rest.ptr = fh_arena_strndup(tk->arena, p, n);
        tk->rest.len = tk->rest.ptr ? n : 0;
        if (!tk->rest.ptr) {
            /* Without those bytes the new protocol would be corrupt. */
            tk->res.handover = NULL;
            tk->res.upgrade = NULL;
        }
    }
    if (h->cur && (h->cur->flags & FH__REQ_STREAM) && h->cur->stream->dispatched) {
        /* A streamed body keeps only what is not parsed yet, and, when
         * chunked, the chunk-size line or trailers being read, and the
         * CRLF after a chunk's data: on_chunk_complete checks both bytes
         * once llhttp has read the LF, which a read may bring apart from
         * the CR. */
        fh_request_t *req = h->cur;
        const char *from = p;
        if (req->flags & FH__REQ_CHUNKED) {
            size_t line = req->chunk_line;
            if (!(req->flags & FH__REQ_LAST_CHUNK) && line >= 2)
                line -= 2;
            if (req->raw_begin + line < from)
                from = req->raw_begin + line;
        }
        req->chunk_line -= (size_t)(from - req->raw_begin);
        req->raw_begin = from;
    }
    if (h->state == FH__H1_READING && h->cur) {
        int st = fh__h1_check_partial(c, end);
        if (st) {
            h1_fail(c, st);
            fh__h1_parser_put(c);
        }
    }
    if (h->state == FH__H1_LAST || h->state == FH__H1_HANDOVER) {
        fh__conn_drop(c);
        return;
    }
    const char *from = h->cur ? h->cur->raw_begin : p;
    if (from < end) {
        fh__conn_keep(c, from, p, end);
    } else {
        fh__conn_drop(c);
        /* A streamed body kept nothing: its offsets count from the next
         * batch's first byte (h1_parse). */
        if (h->cur && h->cur->stream)
            h->cur->raw_begin = NULL;
    }
}

static void h1_parse(fh__conn_t *c, const char *p, const char *end) {
    fh__h1_t *h = fh__h1_of(c);
    fh__h1_batch_t batch = { end, 0 };
    fh__h1_batch_t *outer = h->batch;
    h->batch = &batch;
    if (h->cur && h->cur->stream && !h->cur->raw_begin)
        h->cur->raw_begin = p;
    p = h1_parse_batch(c, p, end);
    h1_batch_end(c, p, end);
    h->batch = outer;
}

/* After bytes were parsed, a write or a deferred completion: end if
 * nothing more will come, resume parsing paused at the pipelining cap
 * (bytes already read first), send a 100 Continue that waited. */
static void h1_progress(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    const fh_limits_t *l = limits_of(c);
    for (;;) {
        if (h1_gone(c) || h->batch)
            return;
        if ((h->state == FH__H1_LAST || fh__conn_peer_done(c)) && h1_idle(c)) {
            h1_end(c, h->draining && !fh__conn_peer_done(c));
            return;
        }
        if (h->state != FH__H1_PAUSED || h->nqueued >= l->max_pipelined)
            break;
        h->state = FH__H1_READING;
        char *p, *end;
        if (!fh__conn_unconsumed(c, &p, &end))
            break;
        h1_parse(c, p, end);
        h1_flush(c);
    }
    fh__conn_read(c, h->state != FH__H1_PAUSED && h->state != FH__H1_HANDOVER && !h->body_wait);
    h1_update_deadline(c);
    h1_continue(c);
}

/* --------------------------------------------------------- protocol table */

static int h1_open(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    const fh_limits_t *l = limits_of(c);
    h->state = FH__H1_READING;
    h->to_kind = FH__H1_TO_FRESH;
    h->late = fh__conn_worker(c)->stopping;
    fh__conn_set_keep_limit(c, l->max_header_bytes + l->max_body + 65536);
    fh__conn_set_read_deadline(c, uv_now(&fh__conn_worker(c)->loop) + timeouts_of(c)->header_ms);
    return 0;
}

static void h1_on_data(fh__conn_t *c, char *p, char *end) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->body_wait && h->state == FH__H1_READING && h->cur) {
        if (!h->cur->raw_begin)
            h->cur->raw_begin = p;
        fh__conn_keep(c, h->cur->raw_begin, p, end); /* parsed when the handler resumes */
        return;
    }
    if (h->state != FH__H1_READING) {
        /* Nothing after the last request is parsed (nor kept); bytes that
         * come while parsing is paused wait for it. */
        if (h->state == FH__H1_PAUSED)
            fh__conn_keep(c, p, p, end);
        else
            fh__conn_drop(c);
        return;
    }
    h1_parse(c, p, end);
    h1_flush(c);
    h1_progress(c);
}

static void h1_on_eof(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    /* Half-closed: an incomplete request never completes. */
    if (h->cur && h->cur->stream && h->cur->stream->dispatched) {
        fh_request_t *req = h->cur;
        h1_stream_stop(c, req);
        req->users++; /* fn may end the response, which may release it */
        fh__body_stream_fail(req, FH_ECANCELED);
        fh__request_unref(req);
        if (fh__conn_closed(c))
            return;
    } else if (h->cur) {
        fh__request_release(h->cur);
        h->cur = NULL;
        fh__h1_parser_put(c);
    }
    /* A client that leaves while its response waits on a deferred or
     * streaming owner aborts it (the owner's cancel callback runs), as nginx
     * does; otherwise it gets the answers it asked for. */
    bool awaits_owner = false;
    for (const fh_request_t *r = h->q_head; r; r = r->next)
        if (r->state == FH__RS_DEFERRED || r->state == FH__RS_STREAMING)
            awaits_owner = true;
    if (h1_idle(c) || awaits_owner)
        fh__conn_close(c);
    else
        h1_update_deadline(c);
}

static void h1_on_timeout(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->to_kind == FH__H1_TO_DRAIN) {
        h1_end(c, true); /* no request came in the grace: end, no reset */
        return;
    }
    FH__COUNT(fh__conn_worker(c)->stats.timeouts);
    if ((h->to_kind == FH__H1_TO_HEADER || h->to_kind == FH__H1_TO_BODY) && !fh__conn_writing(c)) {
        h1_fail(c, 408);
        h1_flush(c);
        if (!h1_gone(c) && h1_idle(c))
            fh__conn_close(c);
        return;
    }
    fh__conn_close(c);
}

static void h1_rebase(fh__conn_t *c, const char *lo, const char *hi, ptrdiff_t delta) {
    fh__h1_t *h = fh__h1_of(c);
    if (h->cur)
        fh__request_rebase(h->cur, lo, hi, delta);
}

/* After a restart's handover (the new generation accepts on the same
 * sockets) a draining connection whose last answer said keep-alive, or
 * that was accepted and has sent nothing yet, is kept open for its next
 * request up to a grace (1 s, at most half of drain_ms) from the moment it
 * became idle (or was accepted), and that request is answered with
 * Connection: close: a client that sends right after each answer, as
 * a busy keep-alive client does, never sees its connection end while a
 * request is on its way (which it may only send again when that request
 * is idempotent). One idle longer, or still idle at the grace's end, ends
 * as in any stop. 0 when there is no grace (a plain stop). */
static uint64_t h1_drain_grace_ms(const fh__conn_t *c) {
    const fh__worker_t *w = fh__conn_worker(c);
    const fh_timeouts_t *t = timeouts_of(c);
    if (!atomic_load_explicit(&w->server->handed_over, memory_order_relaxed))
        return 0;
    return t->drain_ms / 2 < 1000 ? t->drain_ms / 2 : 1000;
}

/* An idle connection as the drain starts: kept for the rest of its grace
 * (see above) when it became idle less than the grace ago, or was
 * accepted less than the grace ago and has sent nothing yet (its first
 * request is on its way). */
static bool h1_drain_grace(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    const fh_timeouts_t *t = timeouts_of(c);
    uint64_t grace = h1_drain_grace_ms(c), since_deadline;
    if (!grace || h->state != FH__H1_READING)
        return false;
    if (h->to_kind == FH__H1_TO_IDLE)
        since_deadline = t->keepalive_ms; /* the deadline: idle since + keepalive_ms */
    else if (h->to_kind == FH__H1_TO_FRESH)
        since_deadline = t->header_ms; /* accepted + header_ms */
    else
        return false;
    uint64_t now = uv_now(&fh__conn_worker(c)->loop), deadline = fh__conn_read_deadline(c);
    uint64_t idle_since = deadline > since_deadline ? deadline - since_deadline : 0;
    if (now - idle_since >= grace)
        return false;
    h->to_kind = FH__H1_TO_DRAIN;
    fh__conn_set_read_deadline(c, idle_since + grace);
    return true;
}

/* The server stops. An idle connection ends at once, without a reset
 * (lingering), unless bytes are waiting: they are served first. One with
 * requests in flight answers them, the last with Connection: close, and a
 * request being received completes and is answered the same way. */
static void h1_stop(fh__conn_t *c, bool force) {
    fh__h1_t *h = fh__h1_of(c);
    if (force) {
        fh__conn_close(c);
        return;
    }
    h->draining = true;
    if (!h->cur && h1_idle(c)) {
        /* Bytes waiting are served when they are read (the answer says
         * close); a connection taken from the kernel's queue as the
         * listener closed is waited for, up to its header timeout or the
         * drain's end: its request is on the way. One that has long been
         * idle is ended. */
        if (h->state == FH__H1_READING &&
            ((h->late && h->to_kind == FH__H1_TO_FRESH) || fh__conn_input_waiting(c)))
            return;
        if (h1_drain_grace(c))
            return;
        h1_end(c, true);
        return;
    }
    /* The last answer, unless its head is made already, says close. One
     * made already says keep-alive: after a handover the connection then
     * stays for the grace once idle (h1_update_deadline), and the next
     * request is answered with close; otherwise it ends after the answer. */
    bool said_keep_alive = !h->q_tail || h->q_tail->state >= FH__RS_READY;
    if (h->q_tail && h->q_tail->state < FH__RS_READY)
        h->q_tail->flags &= ~(unsigned)FH__REQ_KEEP_ALIVE;
    if (!h->cur && h->state != FH__H1_HANDOVER &&
        !(said_keep_alive && h->state == FH__H1_READING && h1_drain_grace_ms(c)))
        h->state = FH__H1_LAST;
}

static void h1_close(fh__conn_t *c) {
    fh__h1_t *h = fh__h1_of(c);
    if (!h->batch)
        fh__h1_parser_put(c); /* inside a batch, the batch's end puts it back */
    if (h->cur && h->cur->stream && h->cur->stream->dispatched) {
        /* Queued too: abandoned below, after fn has learnt it. */
        fh_request_t *req = h->cur;
        h->cur = NULL;
        h->body_wait = false;
        req->users++; /* fn may end the response, which may release it */
        fh__body_stream_fail(req, FH_ECANCELED);
        fh__request_unref(req);
    } else if (h->cur) {
        fh__request_release(h->cur);
        h->cur = NULL;
    }
    fh_request_t *req = h->q_head;
    h->q_head = h->q_tail = NULL;
    h->nqueued = 0;
    queue_abandon(h, req);
}

const fh__protocol_t fh__http1_protocol = {
    .name = "http/1.1",
    .data_size = sizeof(fh__h1_t),
    .open = h1_open,
    .on_data = h1_on_data,
    .on_eof = h1_on_eof,
    .on_timeout = h1_on_timeout,
    .rebase = h1_rebase,
    .stop = h1_stop,
    .close = h1_close,
};

/* ------------------------------------------------------------ request ops */

static void op_finished(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    bool was_deferred = req->state == FH__RS_DEFERRED;
    req->state = FH__RS_READY;
    if (!c) {
        /* Canceled while deferred: nobody to write to. */
        fh__request_release(req);
        return;
    }
    if (fh__h1_of(c)->cur == req && req->stream) {
        req->stream->ended = true; /* answered before its body was read */
        h1_stream_stop(c, req);
    }
    if (was_deferred && !fh__h1_of(c)->batch) {
        h1_flush(c);
        h1_progress(c);
    }
}

static void op_body_resume(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    fh__h1_t *h = fh__h1_of(c);
    if (h->cur != req)
        return;
    h->body_wait = false;
    if (req->flags & FH__REQ_COMPLETE) {
        /* The whole body had come while fn was paused: now its end. */
        h->cur = NULL;
        h->lead = 0;
        h1_stream_end(req);
    }
    if (h->batch)
        return; /* the batch being parsed goes on */
    char *p, *end;
    if (fh__conn_unconsumed(c, &p, &end)) {
        h1_parse(c, p, end);
        h1_flush(c);
    }
    if (!fh__conn_closed(c))
        h1_progress(c);
}

static void op_stream_started(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    fh__h1_t *h = fh__h1_of(c);
    if ((req->res.flags & FH__RES_CLOSE) && h->state != FH__H1_HANDOVER)
        h->state = FH__H1_LAST; /* close-delimited, or closing: nothing after it */
    if (!h->batch) {
        h1_flush(c);
        if (!h1_gone(c))
            h1_update_deadline(c);
    }
}

static int op_write(fh_request_t *req, fh__write_t *w) { return fh__conn_write(req->conn, w); }

static int op_socket_fd(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    return c->transport->can_sendfile ? fh__conn_socket_fd(c) : FH_ENOTSUP;
}

static void op_io_pending(fh_request_t *req, int delta) { fh__conn_io_pending(req->conn, delta); }

static void on_conn_writable(fh__conn_t *c, void *data) {
    fh_request_t *req = data;
    void (*cb)(fh_request_t *) = fh__h1_of(c)->writable_cb;
    cb(req);
}

static void op_wait_writable(fh_request_t *req, void (*cb)(fh_request_t *req)) {
    fh__h1_of(req->conn)->writable_cb = cb;
    fh__conn_wait_writable(req->conn, on_conn_writable, req);
}

static void op_stream_finished(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    fh__h1_t *h = fh__h1_of(c);
    h->q_head = req->next;
    if (!h->q_head)
        h->q_tail = NULL;
    h->nqueued--;
    req->next = NULL;
    req->state = FH__RS_WRITING;
    bool close = req->res.flags & FH__RES_CLOSE;
    fh__request_release(req);
    if (close) {
        h1_end(c, h->draining);
        return;
    }
    h1_flush(c);
    if (!h1_gone(c))
        h1_progress(c);
}

static void op_abort(fh_request_t *req) {
    if (req->conn)
        fh__conn_close(req->conn);
}

static int op_takeover_prepare(fh_request_t *req, bool hand_over) {
    fh__conn_t *c = req->conn;
    if (!c || fh__conn_closed(c) || req->state != FH__RS_HANDLING)
        return FH_ESTATE;
    if (hand_over && !c->transport->can_hand_over)
        return FH_ENOTSUP; /* the TLS session cannot go with the socket */
    fh__h1_of(c)->state = FH__H1_HANDOVER;
    fh__conn_read(c, false);
    return 0;
}

static const struct sockaddr *op_peer(const fh_request_t *req) {
    return req->conn ? fh__conn_peer(req->conn) : NULL;
}

static void *op_peer_cert(const fh_request_t *req) {
    const fh__conn_t *c = req->conn;
    return c && c->transport->peer_cert ? c->transport->peer_cert(c) : NULL;
}

static const char *op_alpn(const fh_request_t *req) {
    const fh__conn_t *c = req->conn;
    return c && c->transport->alpn ? c->transport->alpn(c) : NULL;
}

static const fh__request_ops_t h1_ops = {
    .finished = op_finished,
    .stream_started = op_stream_started,
    .write = op_write,
    .socket_fd = op_socket_fd,
    .io_pending = op_io_pending,
    .wait_writable = op_wait_writable,
    .stream_finished = op_stream_finished,
    .abort = op_abort,
    .takeover_prepare = op_takeover_prepare,
    .peer = op_peer,
    .peer_cert = op_peer_cert,
    .alpn = op_alpn,
    .body_resume = op_body_resume,
};
