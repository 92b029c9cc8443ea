/* Connections: reading, parsing with llhttp, dispatching requests in order
 * and writing their responses in one batch per read.
 *
 * Buffers. A read lands in the loop's shared 64 KiB buffer unless the
 * connection already holds bytes of an incomplete request, in which case it
 * lands at the tail of the connection's own buffer. Requests are parsed in
 * place and their views point into whichever buffer holds them. When a read
 * ends in the middle of a request, the bytes from the start of that request
 * onward are moved into the connection's buffer and the request's views are
 * rebased, so an idle keep-alive connection holds no buffer at all.
 *
 * Ordering. Every parsed request joins the connection's queue. Handlers run
 * synchronously in the read callback; a response that is final is serialized
 * at once into the request's arena. After the batch, the ready responses at
 * the head of the queue leave in one write (uv_try_write first, uv_write for
 * what is left). A deferred response blocks the ones behind it until it
 * ends. A request's arena is released when its bytes have been written.
 */
#include "core/worker.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/arena.h"

enum { FH_TO_NONE, FH_TO_FRESH, FH_TO_HEADER, FH_TO_BODY, FH_TO_KEEPALIVE, FH_TO_WRITE };

struct fh_conn {
    uv_tcp_t tcp;
    fh_worker_t *w;
    fh_conn_t *prev, *next;
    llhttp_t parser;
    char *buf;            /* own buffer, only while bytes must be kept */
    size_t cap, len;      /* capacity and bytes held */
    size_t parsed;        /* bytes of buf already fed to the parser */
    fh_request_t *cur;    /* request being parsed */
    fh_request_t *q_head, *q_tail; /* dispatched, not yet written */
    size_t nqueued;
    size_t writes_pending;
    uint64_t deadline;    /* uv_now() ms, 0 = none */
    uint8_t to_kind;
    int err_status;       /* status chosen by a callback that failed */
    uint64_t batch_ns;    /* clock at the first dispatch of this read */
    bool closing;
    bool no_more;         /* parse no further requests */
    bool in_batch;        /* inside process(): defer flushing */
    bool read_paused;     /* reading stopped at the pipelining cap */
    bool eof;
};

typedef struct fh_write {
    uv_write_t req;
    fh_request_t *group;  /* requests whose bytes this write carries */
    fh_request_t *takeover; /* its last request, when it takes the connection */
    bool close_after;
    unsigned nbufs;
    uv_buf_t bufs[];
} fh_write_t;

static const llhttp_settings_t parser_settings;
static void conn_close(fh_conn_t *c);
static void conn_flush(fh_conn_t *c);
static void conn_process(fh_conn_t *c, const char *p, const char *end);
static void conn_update_deadline(fh_conn_t *c);
static void conn_fail(fh_conn_t *c, int status);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static inline const fh_limits_t *limits(const fh_conn_t *c) {
    return &c->w->server->cfg.limits;
}

/* ---------------------------------------------------------------- requests */

static fh_request_t *request_new(fh_conn_t *c) {
    fh_arena_t *arena;
    if (fh_arena_new(&arena, c->w->arena_cache))
        return NULL;
    fh_request_t *req = fh_arena_alloc(arena, sizeof(*req));
    if (!req) {
        fh_arena_release(arena);
        return NULL;
    }
    memset(req, 0, sizeof(*req));
    req->arena = arena;
    req->conn = c;
    req->worker = c->w;
    req->version = 11;
    req->method = FH_METHOD_OTHER;
    req->id = ++c->w->next_req_id;
    fh__response_init(req);
    return req;
}

/* Runs the done hooks, prints the arena trace and releases the arena (which
 * holds the request itself) — unless a user (offload, stream, takeover)
 * still holds the request: the last fh__request_unref then does it. */
void fh__request_release(fh_request_t *req) {
    if (req->users) {
        req->conn = NULL;
        req->flags |= FH_REQ_RELEASE_PENDING;
        return;
    }
    for (fh__hook_t *h = req->done_hooks; h; h = h->next)
        ((fh_request_done_fn)h->fn)(req, h->data);
    if (req->worker->server->trace_arena) {
        fh_arena_stats_t st;
        fh_arena_stats(req->arena, &st);
        fprintf(stderr, "fasthttp: arena: worker=%d req=%llu %s %s status=%d used=%zu chunks=%zu large=%zu\n",
                req->worker->index, (unsigned long long)req->id, fh_method_name(req->method),
                req->trace_path ? req->trace_path : "-", req->res.status, st.used, st.chunks,
                st.large);
    }
    fh_arena_release(req->arena);
}

void fh__request_unref(fh_request_t *req) {
    if (--req->users == 0 && (req->flags & FH_REQ_RELEASE_PENDING))
        fh__request_release(req);
}

static void queue_append(fh_conn_t *c, fh_request_t *req) {
    req->next = NULL;
    if (c->q_tail)
        c->q_tail->next = req;
    else
        c->q_head = req;
    c->q_tail = req;
    c->nqueued++;
}

/* The client is gone: a deferred or streamed request learns it (its work
 * not yet started is canceled, its stream stops) and is released when its
 * owner ends it; any other request is released now (or when its last user
 * lets go). */
static void request_abandon(fh_request_t *req) {
    if (req->state != FH_RS_DEFERRED && req->state != FH_RS_STREAMING) {
        fh__request_release(req);
        return;
    }
    bool streaming = req->state == FH_RS_STREAMING;
    req->conn = NULL;
    req->res.flags |= FH_RES_CANCELED;
    req->users++; /* the cancel callback may end the response */
    fh__offload_cancel(req);
    if (streaming)
        fh__stream_cancel(req);
    if (req->res.cancel_fn)
        req->res.cancel_fn(&req->res, req->res.cancel_data);
    if (streaming)
        fh__request_release(req); /* the stream's hold keeps it until ended */
    fh__request_unref(req);
}

/* Whether a response the connection waits for is in its owner's hands
 * (deferred or streaming): a client that leaves must then be told. */
static bool conn_awaits_owner(const fh_conn_t *c) {
    for (const fh_request_t *r = c->q_head; r; r = r->next)
        if (r->state == FH_RS_DEFERRED || r->state == FH_RS_STREAMING)
            return true;
    return false;
}

/* Called by response.c when a response became final outside the handler's
 * synchronous return (deferred responses), or from dispatch. */
void fh__conn_request_finished(fh_request_t *req) {
    fh_conn_t *c = req->conn;
    bool was_deferred = req->state == FH_RS_DEFERRED;
    req->state = FH_RS_READY;
    if (!c) {
        /* Canceled while deferred: nobody to write to. */
        fh__request_release(req);
        return;
    }
    if (was_deferred && !c->in_batch) {
        conn_flush(c);
        conn_update_deadline(c);
    }
}

/* --------------------------------------------------------------- buffers */

/* Grows the connection buffer to at least mincap bytes, rebasing the views
 * of the request being parsed. */
static int conn_buf_reserve(fh_conn_t *c, size_t mincap) {
    if (c->cap >= mincap)
        return 0;
    const fh_limits_t *l = limits(c);
    size_t hard = l->max_header_bytes + l->max_body + 65536;
    size_t ncap = c->cap ? c->cap * 2 : 16384;
    if (ncap < mincap)
        ncap = mincap;
    if (ncap > hard)
        ncap = hard > mincap ? hard : mincap;
    /* malloc + copy rather than realloc: the old range is needed to rebase. */
    char *nb = malloc(ncap);
    if (!nb)
        return FH_ENOMEM;
    if (c->buf) {
        memcpy(nb, c->buf, c->len);
        if (c->cur)
            fh__request_rebase(c->cur, c->buf, c->buf + c->len, nb - c->buf);
        free(c->buf);
    } else {
        FH_COUNT(c->w->stats.conn_buffers);
    }
    c->buf = nb;
    c->cap = ncap;
    return 0;
}

static void conn_buf_drop(fh_conn_t *c) {
    if (c->buf)
        FH_COUNT_SUB(c->w->stats.conn_buffers, 1);
    free(c->buf);
    c->buf = NULL;
    c->cap = c->len = c->parsed = 0;
}

/* Keeps [from, end) for later; p is the first byte not yet parsed. */
static void conn_keep_tail(fh_conn_t *c, const char *from, const char *p, const char *end) {
    size_t n = (size_t)(end - from);
    if (c->buf && from >= c->buf && from <= c->buf + c->len) {
        if (from != c->buf) {
            memmove(c->buf, from, n);
            if (c->cur)
                fh__request_rebase(c->cur, from, end, c->buf - from);
        }
    } else {
        size_t want = n + 4096;
        if (want < 16384)
            want = 16384;
        char *nb = malloc(want);
        if (!nb) {
            conn_close(c);
            return;
        }
        memcpy(nb, from, n);
        if (c->cur)
            fh__request_rebase(c->cur, from, end, nb - from);
        if (!c->buf)
            FH_COUNT(c->w->stats.conn_buffers);
        free(c->buf);
        c->buf = nb;
        c->cap = want;
    }
    c->len = n;
    c->parsed = (size_t)(p - from);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    fh_conn_t *c = (fh_conn_t *)h;
    if (c->buf) {
        if (c->cap - c->len < 4096 && conn_buf_reserve(c, c->len + 16384) != 0) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        buf->base = c->buf + c->len;
        buf->len = c->cap - c->len;
        return;
    }
    buf->base = c->w->loop_buf;
    buf->len = FH_LOOP_BUF_SIZE;
}

/* ------------------------------------------------------------- lifecycle */

static void on_close(uv_handle_t *h) {
    free(h);
}

static void conn_close(fh_conn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    fh_worker_t *w = c->w;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->cur) {
        fh__request_release(c->cur);
        c->cur = NULL;
    }
    fh_request_t *req = c->q_head;
    c->q_head = c->q_tail = NULL;
    c->nqueued = 0;
    while (req) {
        fh_request_t *next = req->next;
        request_abandon(req);
        req = next;
    }
    conn_buf_drop(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    atomic_fetch_sub_explicit(&w->server->nconns, 1, memory_order_relaxed);
    uv_close((uv_handle_t *)&c->tcp, on_close);
    fh__worker_try_resume_accept(w);
    if (w->stopping)
        fh__worker_stop_conns(w, false);
}

static bool conn_idle(const fh_conn_t *c) {
    return c->nqueued == 0 && c->writes_pending == 0;
}

/* After a write or a deferred completion: close if nothing more will come,
 * resume reading if it was paused at the pipelining cap. */
static void conn_after_progress(fh_conn_t *c) {
    if (c->closing)
        return;
    if ((c->no_more || c->eof) && conn_idle(c)) {
        conn_close(c);
        return;
    }
    if (c->read_paused && c->nqueued < limits(c)->max_pipelined && !c->no_more) {
        c->read_paused = false;
        if (c->buf && c->parsed < c->len)
            conn_process(c, c->buf + c->parsed, c->buf + c->len);
        if (!c->closing && !c->read_paused && !c->no_more && !c->eof &&
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            conn_close(c);
    }
    if (!c->closing)
        conn_update_deadline(c);
}

/* ------------------------------------------------------------------ writes */

static void group_release(fh_request_t *req) {
    while (req) {
        fh_request_t *next = req->next;
        fh__request_release(req);
        req = next;
    }
}

/* A group's bytes were written (ok) or failed: a takeover gets the socket,
 * the group is released, and the connection closes if nothing more will be
 * sent. Returns whether the connection stays open. */
static bool group_done(fh_conn_t *c, fh_request_t *group, fh_request_t *takeover,
                       bool close_after, bool ok) {
    if (takeover && ok && !c->closing)
        fh__takeover_handover(takeover, &c->tcp);
    group_release(group);
    if (c->closing)
        return false;
    if (!ok || close_after) {
        conn_close(c);
        return false;
    }
    return true;
}

static void on_write(uv_write_t *wr, int status) {
    fh_write_t *fw = (fh_write_t *)wr;
    fh_conn_t *c = (fh_conn_t *)wr->handle;
    c->writes_pending--;
    /* fw lives in the group's arena: its fields are read before release. */
    if (group_done(c, fw->group, fw->takeover, fw->close_after, status >= 0)) {
        conn_flush(c);
        conn_after_progress(c);
    }
}

/* Copies into the arena any remaining write bytes that live in a read
 * buffer, which will be reused before the write completes. */
static bool in_read_buffers(const fh_conn_t *c, const char *p) {
    const char *lb = c->w->loop_buf;
    if (p >= lb && p < lb + FH_LOOP_BUF_SIZE)
        return true;
    return c->buf && p >= c->buf && p < c->buf + c->cap;
}

static void conn_flush(fh_conn_t *c) {
    fh_worker_t *w = c->w;
    while (!c->closing && c->q_head && c->q_head->state == FH_RS_READY) {
        unsigned n = 0;
        size_t total = 0;
        fh_request_t *first = c->q_head, *last = NULL, *req, *takeover = NULL;
        bool close_after = false;
        for (req = c->q_head; req && req->state == FH_RS_READY; req = req->next) {
            if (n + req->res.nout > FH_MAX_IOV)
                break;
            for (unsigned i = 0; i < req->res.nout; i++) {
                w->iov[n++] = req->res.out[i];
                total += req->res.out[i].len;
            }
            req->state = FH_RS_WRITING;
            last = req;
            c->nqueued--;
            if (req->res.flags & FH_RES_TAKEOVER)
                takeover = req;
            if (req->res.flags & (FH_RES_CLOSE | FH_RES_TAKEOVER)) {
                close_after = true;
                break;
            }
        }
        c->q_head = last->next;
        if (!c->q_head)
            c->q_tail = NULL;
        last->next = NULL;
        if (close_after) {
            /* Nothing after a closing response is ever sent. */
            c->no_more = true;
            fh_request_t *rest = c->q_head;
            c->q_head = c->q_tail = NULL;
            c->nqueued = 0;
            while (rest) {
                fh_request_t *next = rest->next;
                request_abandon(rest);
                rest = next;
            }
        }

        int r = UV_EAGAIN;
        if (c->writes_pending == 0) {
            FH_COUNT(w->stats.writes);
            r = uv_try_write((uv_stream_t *)&c->tcp, w->iov, n);
        }
        if (r >= 0 && (size_t)r == total) {
            if (!group_done(c, first, takeover, close_after, true))
                return;
            continue;
        }
        if (r < 0 && r != UV_EAGAIN) {
            group_release(first);
            conn_close(c);
            return;
        }
        /* Partial: queue the rest with uv_write. */
        size_t skip = r > 0 ? (size_t)r : 0;
        unsigned k = 0;
        /* Keep at least one buffer: a group of empty ones (a silent
         * takeover) must still wait behind the writes in flight. */
        while (k + 1 < n && skip >= w->iov[k].len) {
            skip -= w->iov[k].len;
            k++;
        }
        fh_write_t *fw = fh_arena_alloc(last->arena, sizeof(*fw) + (n - k) * sizeof(uv_buf_t));
        if (!fw) {
            group_release(first);
            conn_close(c);
            return;
        }
        fw->group = first;
        fw->takeover = takeover;
        fw->close_after = close_after;
        fw->nbufs = n - k;
        for (unsigned i = 0; i < fw->nbufs; i++) {
            uv_buf_t b = w->iov[k + i];
            if (i == 0) {
                b.base += skip;
                b.len -= skip;
            }
            if (in_read_buffers(c, b.base)) {
                char *copy = fh_arena_alloc(last->arena, b.len);
                if (!copy) {
                    group_release(first);
                    conn_close(c);
                    return;
                }
                memcpy(copy, b.base, b.len);
                b.base = copy;
            }
            fw->bufs[i] = b;
        }
        FH_COUNT(w->stats.writes);
        if (uv_write(&fw->req, (uv_stream_t *)&c->tcp, fw->bufs, fw->nbufs, on_write) != 0) {
            group_release(first);
            conn_close(c);
            return;
        }
        c->writes_pending++;
        if (close_after)
            return;
    }
    /* A stream at the head writes its own bytes, after those queued above. */
    if (!c->closing && c->q_head && c->q_head->state == FH_RS_STREAMING)
        fh__stream_activate(c->q_head);
}

/* ---------------------------------------------------------------- dispatch */

static void dispatch(fh_conn_t *c, fh_request_t *req) {
    fh_server_t *s = c->w->server;
    queue_append(c, req);
    req->state = FH_RS_HANDLING;
    FH_COUNT(c->w->stats.requests);
    if (!(req->flags & FH_REQ_KEEP_ALIVE) || (req->flags & FH_REQ_UPGRADE))
        c->no_more = true;
    if (req->flags & FH_REQ_CONTINUE) {
        /* The 100 Continue was not sent (the body came at once). */
        req->flags &= ~(unsigned)FH_REQ_CONTINUE;
    }
    if (req->method == FH_METHOD_OTHER) {
        fh__response_error(req, 501, false);
        FH_COUNT(c->w->stats.errors_5xx);
        fh__conn_request_finished(req);
        return;
    }
    if (s->trace_arena)
        req->trace_path = fh_arena_strndup(req->arena, req->path.ptr, req->path.len);
    /* Requests of one read arrived together: one clock read serves them. */
    if (!c->batch_ns)
        c->batch_ns = uv_hrtime();
    req->start_ns = c->batch_ns;
    /* jansson values the handler makes live in the request's arena. */
    fh_json_scope_t json_scope = fh_json_arena_begin(req->arena);
    int rc = s->cfg.handler(req, &req->res, s->cfg.handler_data);
    fh_json_scope_end(json_scope);
    fh_response_t *res = &req->res;
    if (res->flags & FH_RES_FINAL)
        return; /* fh__conn_request_finished already ran */
    if (rc < 0) {
        fh__response_error(req, 500, false); /* the connection survives */
        FH_COUNT(c->w->stats.errors_5xx);
        fh__conn_request_finished(req);
        return;
    }
    if (res->flags & FH_RES_DEFERRED) {
        req->state = FH_RS_DEFERRED;
        return;
    }
    fh_response_end(res);
}

/* Queues an error response for the request being parsed (or a new one) and
 * stops parsing: the connection closes once it has been written. */
static void conn_fail(fh_conn_t *c, int status) {
    fh_request_t *req = c->cur;
    c->cur = NULL;
    if (!req)
        req = request_new(c);
    c->no_more = true;
    if (!req) {
        conn_close(c);
        return;
    }
    queue_append(c, req);
    req->state = FH_RS_HANDLING;
    fh__response_error(req, status, true);
    if (status >= 500)
        FH_COUNT(c->w->stats.errors_5xx);
    else
        FH_COUNT(c->w->stats.errors_4xx);
    fh__conn_request_finished(req);
}

static int parse_error_status(const fh_conn_t *c, llhttp_errno_t err) {
    if (c->err_status)
        return c->err_status;
    switch (err) {
    case HPE_INVALID_METHOD: return 501;
    case HPE_INVALID_VERSION: return 505;
    case HPE_CB_MESSAGE_BEGIN: return 503;
    default: return 400;
    }
}

static void conn_process(fh_conn_t *c, const char *p, const char *end) {
    const fh_limits_t *l = limits(c);
    c->in_batch = true;
    c->batch_ns = 0;
    while (p < end && !c->no_more && !c->closing) {
        if (c->nqueued >= l->max_pipelined) {
            c->read_paused = true;
            uv_read_stop((uv_stream_t *)&c->tcp);
            break;
        }
        llhttp_errno_t err = llhttp_execute(&c->parser, p, (size_t)(end - p));
        if (err == HPE_OK) {
            p = end;
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            if (err == HPE_PAUSED)
                llhttp_resume(&c->parser);
            fh_request_t *req = c->cur;
            c->cur = NULL;
            p = pos ? pos : end;
            if (req) {
                req->raw_end = p;
                dispatch(c, req);
            }
            if (err == HPE_PAUSED_UPGRADE)
                c->no_more = true;
            continue;
        }
        conn_fail(c, parse_error_status(c, err));
        break;
    }
    c->in_batch = false;
    if (c->closing)
        return;
    /* Bytes after a takeover request belong to whoever takes the socket. */
    if (c->no_more && p < end && c->q_tail && (c->q_tail->res.flags & FH_RES_TAKEOVER))
        fh__takeover_keep(c->q_tail, p, (size_t)(end - p));

    /* Enforce the header-size limit on a head still incomplete. */
    if (!c->no_more && c->cur && !(c->cur->flags & FH_REQ_HEAD_DONE) && c->cur->raw_begin &&
        (size_t)(end - c->cur->raw_begin) > l->max_header_bytes) {
        conn_fail(c, 431);
    }

    if (c->no_more) {
        conn_buf_drop(c);
    } else {
        const char *from = end;
        if (c->cur && c->cur->raw_begin)
            from = c->cur->raw_begin;
        else if (p < end)
            from = p;
        if (from < end)
            conn_keep_tail(c, from, p, end);
        else if (c->buf)
            conn_buf_drop(c);
    }
    if (c->closing)
        return;
    conn_flush(c);
    if (c->closing)
        return;
    conn_after_progress(c);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    fh_conn_t *c = (fh_conn_t *)stream;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_EOF) {
            /* Half-closed: answer what was asked, then close. */
            c->eof = true;
            uv_read_stop(stream);
            if (c->cur) {
                fh__request_release(c->cur);
                c->cur = NULL;
            }
            /* A client that leaves while its response waits on a deferred
             * or streaming owner aborts it (the owner's cancel callback runs),
             * as nginx does; otherwise it gets the answers it asked for. */
            if (conn_idle(c) || conn_awaits_owner(c))
                conn_close(c);
            else
                conn_update_deadline(c);
            return;
        }
        conn_close(c);
        return;
    }
    if (c->buf) {
        c->len += (size_t)nread;
        conn_process(c, c->buf + c->parsed, c->buf + c->len);
    } else {
        conn_process(c, buf->base, buf->base + nread);
    }
}

/* --------------------------------------------------------------- timeouts */

static void conn_update_deadline(fh_conn_t *c) {
    const fh_timeouts_t *t = &c->w->server->cfg.timeouts;
    uint64_t now = uv_now(&c->w->loop);
    if (c->writes_pending) {
        c->to_kind = FH_TO_WRITE;
        c->deadline = now + t->write_ms;
    } else if (c->cur && c->cur->raw_begin) {
        if (c->cur->flags & FH_REQ_HEAD_DONE) {
            c->to_kind = FH_TO_BODY;
            c->deadline = now + t->body_ms;
        } else if (c->to_kind != FH_TO_HEADER) {
            /* The whole head must arrive within header_ms of its first byte:
             * trickling bytes do not extend it (slowloris). */
            c->to_kind = FH_TO_HEADER;
            c->deadline = now + t->header_ms;
        }
    } else if (c->nqueued || c->read_paused) {
        c->to_kind = FH_TO_NONE;
        c->deadline = 0;
    } else if (c->to_kind != FH_TO_FRESH) {
        c->to_kind = FH_TO_KEEPALIVE;
        c->deadline = now + t->keepalive_ms;
    }
}

void fh__conn_sweep(fh_worker_t *w) {
    uint64_t now = uv_now(&w->loop);
    fh_conn_t *c = w->conns;
    while (c) {
        fh_conn_t *next = c->next;
        if (c->deadline && now >= c->deadline && !c->closing) {
            FH_COUNT(w->stats.timeouts);
            c->deadline = 0;
            if ((c->to_kind == FH_TO_HEADER || c->to_kind == FH_TO_BODY) && c->writes_pending == 0) {
                conn_fail(c, 408);
                conn_flush(c);
                if (!c->closing && conn_idle(c))
                    conn_close(c);
                else if (!c->closing) {
                    c->to_kind = FH_TO_WRITE;
                    c->deadline = now + w->server->cfg.timeouts.write_ms;
                }
            } else {
                conn_close(c);
            }
        }
        c = next;
    }
}

/* --------------------------------------------------------------- accepting */

static int accept_one(fh_worker_t *w) {
    fh_conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    int err = uv_tcp_init(&w->loop, &c->tcp);
    if (err) {
        free(c);
        return err;
    }
    err = uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&c->tcp);
    if (err) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return err;
    }
    c->w = w;
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    atomic_fetch_add_explicit(&w->server->nconns, 1, memory_order_relaxed);
    FH_COUNT(w->stats.accepted);
    c->to_kind = FH_TO_FRESH;
    c->deadline = uv_now(&w->loop) + w->server->cfg.timeouts.header_ms;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
    return 0;
}

void fh__conn_on_connection(uv_stream_t *listener, int status) {
    fh_worker_t *w = listener->data;
    if (status < 0 || w->stopping)
        return;
    size_t cap = w->server->cfg.limits.max_connections;
    if (atomic_load_explicit(&w->server->nconns, memory_order_relaxed) >= cap) {
        /* Not calling uv_accept makes libuv stop polling the listener until
         * we do: the pending socket waits, nothing spins. */
        w->accept_paused = true;
        return;
    }
    if (accept_one(w) == FH_ENOMEM)
        w->accept_paused = true;
}

void fh__worker_try_resume_accept(fh_worker_t *w) {
    if (!w->accept_paused || w->stopping || !w->listener_open)
        return;
    if (atomic_load_explicit(&w->server->nconns, memory_order_relaxed) >=
        w->server->cfg.limits.max_connections)
        return;
    w->accept_paused = false;
    if (accept_one(w) == FH_ENOMEM)
        w->accept_paused = true;
}

void fh__worker_stop_conns(fh_worker_t *w, bool force) {
    fh_conn_t *c = w->conns;
    while (c) {
        fh_conn_t *next = c->next;
        if (force || conn_idle(c)) {
            conn_close(c);
        } else {
            c->no_more = true;
            if (c->cur) {
                fh__request_release(c->cur);
                c->cur = NULL;
            }
        }
        c = next;
    }
}

/* ------------------------------------------------------- llhttp callbacks */

static inline fh_conn_t *conn_of(llhttp_t *p) {
    return p->data;
}

static int on_message_begin(llhttp_t *p) {
    fh_conn_t *c = conn_of(p);
    if (!c->cur) {
        c->cur = request_new(c);
        if (!c->cur) {
            c->err_status = 503;
            return -1;
        }
    }
    return 0;
}

static int span_extend(fh_str_t *s, const char *at, size_t len) {
    if (!s->ptr) {
        s->ptr = at;
        s->len = len;
    } else {
        /* Spans split across reads stay contiguous (see conn_keep_tail). */
        s->len += len;
    }
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len) {
    fh_request_t *req = conn_of(p)->cur;
    if (!req->raw_begin)
        req->raw_begin = at;
    return span_extend(&req->method_str, at, len);
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    span_extend(&req->target, at, len);
    if (req->target.len > limits(c)->max_target) {
        c->err_status = 414;
        return HPE_USER;
    }
    return 0;
}

static int head_too_big(fh_conn_t *c, const char *at, size_t len) {
    fh_request_t *req = c->cur;
    if (req->raw_begin && (size_t)(at + len - req->raw_begin) > limits(c)->max_header_bytes) {
        c->err_status = 431;
        return 1;
    }
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (head_too_big(c, at, len))
        return HPE_USER;
    if (req->hstate == FH_HP_FIELD)
        return span_extend(&req->headers[req->nheaders - 1].name, at, len);
    /* A new field line must follow CRLF: llhttp 8.1.0 also accepts a bare CR
     * as a line end (CVE-2023-30589), which we refuse here. */
    if (at - 2 < req->raw_begin || at[-1] != '\n' || at[-2] != '\r') {
        c->err_status = 400;
        return HPE_USER;
    }
    if (req->nheaders == limits(c)->max_headers) {
        c->err_status = 431;
        return HPE_USER;
    }
    if (req->nheaders == req->cap_headers) {
        uint32_t ncap = req->cap_headers ? req->cap_headers * 2 : 16;
        fh__header_t *nh = fh_arena_realloc(req->arena, req->headers,
                                            req->cap_headers * sizeof(fh__header_t),
                                            ncap * sizeof(fh__header_t));
        if (!nh) {
            c->err_status = 503;
            return HPE_USER;
        }
        req->headers = nh;
        req->cap_headers = ncap;
    }
    fh__header_t *h = &req->headers[req->nheaders++];
    h->name.ptr = at;
    h->name.len = len;
    h->value.ptr = NULL;
    h->value.len = 0;
    req->hstate = FH_HP_FIELD;
    return 0;
}

static int on_header_field_complete(llhttp_t *p) {
    fh_request_t *req = conn_of(p)->cur;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    h->value.ptr = h->name.ptr + h->name.len; /* present, empty until a value */
    h->value.len = 0;
    req->hstate = FH_HP_VALUE_START;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (head_too_big(c, at, len))
        return HPE_USER;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    if (req->hstate == FH_HP_VALUE_START) {
        h->value.ptr = at;
        h->value.len = len;
        req->hstate = FH_HP_VALUE;
    } else {
        h->value.len += len;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    while (h->value.len && (h->value.ptr[h->value.len - 1] == ' ' || h->value.ptr[h->value.len - 1] == '\t'))
        h->value.len--;
    /* No CR, LF or NUL inside a value: that is how obsolete line folding and
     * bare CRs would otherwise slip through. */
    for (size_t i = 0; i < h->value.len; i++) {
        char ch = h->value.ptr[i];
        if (ch == '\r' || ch == '\n' || ch == '\0') {
            c->err_status = 400;
            return HPE_USER;
        }
    }
    req->hstate = FH_HP_NONE;
    return 0;
}

static fh_method_t map_method(uint8_t m) {
    switch (m) {
    case HTTP_GET: return FH_METHOD_GET;
    case HTTP_HEAD: return FH_METHOD_HEAD;
    case HTTP_POST: return FH_METHOD_POST;
    case HTTP_PUT: return FH_METHOD_PUT;
    case HTTP_DELETE: return FH_METHOD_DELETE;
    case HTTP_PATCH: return FH_METHOD_PATCH;
    case HTTP_OPTIONS: return FH_METHOD_OPTIONS;
    case HTTP_CONNECT: return FH_METHOD_CONNECT;
    case HTTP_TRACE: return FH_METHOD_TRACE;
    default: return FH_METHOD_OTHER;
    }
}

/* Splits the target into path and query. Origin-form "/p?q", absolute-form
 * "http://host/p?q" (the path after the authority), asterisk-form "*". */
static int split_target(fh_request_t *req) {
    const char *t = req->target.ptr;
    size_t n = req->target.len;
    if (!t || n == 0)
        return -1;
    size_t start = 0;
    if (t[0] != '/') {
        if (n == 1 && t[0] == '*') {
            if (req->method != FH_METHOD_OPTIONS)
                return -1;
            req->path = req->target;
            return 0;
        }
        const char *sep = memchr(t, ':', n);
        if (!sep || (size_t)(sep - t) + 3 > n || sep[1] != '/' || sep[2] != '/')
            return -1;
        size_t i = (size_t)(sep - t) + 3;
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        if (i == n || t[i] == '?') {
            req->path = FH_STR_LIT("/");
            if (i < n) {
                req->query.ptr = t + i + 1;
                req->query.len = n - i - 1;
            }
            return 0;
        }
        start = i;
    }
    const char *q = memchr(t + start, '?', n - start);
    req->path.ptr = t + start;
    req->path.len = q ? (size_t)(q - (t + start)) : n - start;
    if (q) {
        req->query.ptr = q + 1;
        req->query.len = (size_t)(t + n - (q + 1));
    }
    return 0;
}

static const char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int on_headers_complete(llhttp_t *p) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    const fh_limits_t *l = limits(c);
    req->flags |= FH_REQ_HEAD_DONE;
    if (p->http_major != 1 || p->http_minor > 1) {
        c->err_status = 505;
        return -1;
    }
    req->version = (uint8_t)(p->http_major * 10 + p->http_minor);
    req->method = (uint8_t)map_method(p->method);
    if (llhttp_should_keep_alive(p))
        req->flags |= FH_REQ_KEEP_ALIVE;
    if (p->upgrade)
        req->flags |= FH_REQ_UPGRADE;
    if (split_target(req) != 0) {
        c->err_status = 400;
        return -1;
    }
    int hosts = 0;
    fh_str_t expect = {NULL, 0};
    for (uint32_t i = 0; i < req->nheaders; i++) {
        fh__header_t *h = &req->headers[i];
        if (h->name.len == 4 && fh_str_ieq(h->name, FH_STR_LIT("host"))) {
            hosts++;
            for (size_t k = 0; k < h->value.len; k++) {
                unsigned char ch = (unsigned char)h->value.ptr[k];
                if (ch <= ' ' || ch == '/' || ch == '?' || ch == '#' || ch == '@' || ch == 0x7f) {
                    c->err_status = 400;
                    return -1;
                }
            }
        } else if (h->name.len == 6 && fh_str_ieq(h->name, FH_STR_LIT("expect"))) {
            expect = h->value;
        }
    }
    if (hosts > 1 || (hosts == 0 && req->version == 11)) {
        c->err_status = 400;
        return -1;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > l->max_body) {
        c->err_status = 413;
        return -1;
    }
    if (expect.ptr && req->version == 11) {
        if (!fh_str_ieq(expect, FH_STR_LIT("100-continue"))) {
            c->err_status = 417;
            return -1;
        }
        bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
        if (has_body && !c->q_head && c->writes_pending == 0) {
            uv_buf_t b = uv_buf_init((char *)continue_100, sizeof(continue_100) - 1);
            FH_COUNT(c->w->stats.writes);
            uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    fh_conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (req->body.len + len > limits(c)->max_body) {
        c->err_status = 413;
        return HPE_USER;
    }
    if (!req->body.ptr) {
        req->body.ptr = at;
        req->body.len = len;
    } else {
        char *dst = (char *)req->body.ptr + req->body.len;
        /* Chunked bodies are joined in place: data only ever moves back over
         * chunk framing the parser has already consumed. */
        if (dst != at)
            memmove(dst, at, len);
        req->body.len += len;
    }
    return 0;
}

static int on_chunk_header(llhttp_t *p) {
    conn_of(p)->cur->chunk_ext = 0;
    return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t len) {
    fh_conn_t *c = conn_of(p);
    c->cur->chunk_ext += len;
    if (c->cur->chunk_ext > limits(c)->max_chunk_ext) {
        c->err_status = 400;
        return HPE_USER;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    fh_request_t *req = conn_of(p)->cur;
    req->flags |= FH_REQ_COMPLETE;
    if (!req->body.ptr)
        req->body = FH_STR_LIT("");
    /* Pause so the request is dispatched before the next one is parsed. */
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

/* --------------------------------------- hooks for stream.c and takeover.c */

uv_stream_t *fh__conn_stream(fh_conn_t *c) {
    return (uv_stream_t *)&c->tcp;
}

void fh__conn_write_pending(fh_conn_t *c, int delta) {
    if (c->closing)
        return;
    c->writes_pending = (size_t)((ptrdiff_t)c->writes_pending + delta);
    conn_update_deadline(c);
}

void fh__conn_stream_started(fh_request_t *req) {
    fh_conn_t *c = req->conn;
    if (req->res.flags & FH_RES_CLOSE)
        c->no_more = true; /* close-delimited, or closing: nothing after it */
    if (!c->in_batch) {
        conn_flush(c);
        if (!c->closing)
            conn_update_deadline(c);
    }
}

void fh__conn_stream_finished(fh_request_t *req) {
    fh_conn_t *c = req->conn;
    c->q_head = req->next;
    if (!c->q_head)
        c->q_tail = NULL;
    c->nqueued--;
    req->next = NULL;
    req->state = FH_RS_WRITING;
    bool close = req->res.flags & FH_RES_CLOSE;
    fh__request_release(req);
    if (close) {
        conn_close(c);
        return;
    }
    conn_flush(c);
    if (!c->closing)
        conn_after_progress(c);
}

void fh__conn_abort(fh_conn_t *c) {
    conn_close(c);
}

int fh__conn_takeover_prepare(fh_request_t *req) {
    fh_conn_t *c = req->conn;
    if (!c || c->closing || req->state != FH_RS_HANDLING)
        return FH_ESTATE;
    c->no_more = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return 0;
}

/* ------------------------------------------------------ request accessors */

int fh_request_remote_addr(const fh_request_t *req, struct sockaddr_storage *out) {
    if (!req->conn || req->conn->closing)
        return FH_ENOTCONN;
    int len = sizeof(*out);
    return uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)out, &len);
}
