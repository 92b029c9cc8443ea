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
 *
 * Strictness. llhttp only finds the framing; before any part of a request is
 * used, the bytes it accepted are checked again by core/http1.c (the head at
 * on_headers_complete, chunk lines, the CRLF after chunk data, trailers), and
 * the framing fields by on_headers_complete (Content-Length, Transfer-Encoding,
 * Host, Expect). Any breach answers one error response with Connection: close
 * and nothing after it is parsed (conn_fail); the socket then lingers briefly
 * so the client reads the error (conn_end). docs/conformance.md lists the
 * rules; tests/conformance/ proves them.
 */
#include "core/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/builtin.h"
#include "core/http1.h"

enum {
    FH__TO_NONE,
    FH__TO_FRESH,
    FH__TO_HEADER,
    FH__TO_BODY,
    FH__TO_KEEPALIVE,
    FH__TO_WRITE,
    FH__TO_LINGER
};

/* After an error response the socket is shut for writing and what the
 * client still sends is read and dropped, up to limits.max_discard bytes
 * and this long, so that it reads the response instead of a reset. */
#define FH__LINGER_MS 2000

struct fh__conn {
    uv_tcp_t tcp;
    fh__worker_t *w;
    fh__conn_t *prev, *next;
    llhttp_t *parser;              /* from the worker's pool, only while parsing */
    char *buf;                     /* own buffer, only while bytes must be kept */
    size_t cap, len;               /* capacity and bytes held */
    size_t parsed;                 /* bytes of buf already fed to the parser */
    fh_request_t *cur;             /* request being parsed */
    fh_request_t *q_head, *q_tail; /* dispatched, not yet written */
    uint32_t nqueued;
    uint32_t writes_pending;
    uint64_t deadline; /* uv_now() ms, 0 = none */
    uint8_t to_kind;
    uint8_t lead;     /* bytes of the empty line before a request: 0..2 */
    int err_status;   /* status chosen by a callback that failed */
    size_t discarded; /* bytes dropped while lingering */
    size_t wq_seen;   /* bytes waiting to be written at the last check */
    bool linger;      /* a parse error: linger before closing */
    bool lingering;   /* shut for writing, draining what comes */
    bool closing;
    bool no_more;     /* parse no further requests */
    bool in_batch;    /* inside process(): defer flushing */
    bool read_paused; /* reading stopped at the pipelining cap */
    bool reading;     /* uv_read_start is in effect */
    bool eof;
    bool peer_known; /* peer below holds the peer's address */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer; /* cached: middleware asks for it on every request */
};

typedef struct fh__write {
    uv_write_t req;
    fh_request_t *group;    /* requests whose bytes this write carries */
    fh_request_t *takeover; /* its last request, when it takes the connection */
    bool close_after;
    unsigned nbufs;
    uv_buf_t bufs[];
} fh__write_t;

static const llhttp_settings_t parser_settings;
static void conn_close(fh__conn_t *c);
static void parser_put(fh__conn_t *c);
static void conn_flush(fh__conn_t *c);
static void conn_process(fh__conn_t *c, const char *p, const char *end);
static void conn_update_deadline(fh__conn_t *c);
static void conn_fail(fh__conn_t *c, int status);
static void core_error(fh__conn_t *c, fh_request_t *req, int status, bool close);
static void conn_continue(fh__conn_t *c);
static void conn_after_progress(fh__conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static inline const fh_limits_t *limits(const fh__conn_t *c) { return &c->w->server->cfg.limits; }

/* Reading on and off. Starting twice would fail (UV_EALREADY), so the state
 * is kept: a resume nested inside another resume must not end the
 * connection. Returns 0 or a libuv error. */
static int conn_read_start(fh__conn_t *c) {
    if (c->reading)
        return 0;
    int err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (!err)
        c->reading = true;
    return err;
}

static void conn_read_stop(fh__conn_t *c) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

/* ---------------------------------------------------------------- requests */

static fh_request_t *request_new(fh__conn_t *c) {
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
    /* When its first byte arrived, to the loop's millisecond: dispatch
     * replaces it by the precise time its head was complete; a request the
     * core refuses keeps it, for the error handler (the access log's
     * latency). Nobody else sees a refused request. */
    if (c->w->server->cfg.error_handler)
        req->start_ns = uv_now(&c->w->loop) * 1000000u;
    fh__response_init(req);
    return req;
}

/* Runs the done hooks, prints the arena trace and releases the arena (which
 * holds the request itself) — unless a user (offload, stream, takeover)
 * still holds the request: the last fh__request_unref then does it. */
void fh__request_release(fh_request_t *req) {
    if (req->users) {
        req->conn = NULL;
        req->flags |= FH__REQ_RELEASE_PENDING;
        return;
    }
    for (fh__hook_t *h = req->done_hooks; h; h = h->next)
        ((fh_request_done_fn)h->fn)(req, h->data);
    if (req->worker->server->trace_arena) {
        fh_arena_stats_t st;
        fh_arena_stats(req->arena, &st);
        fprintf(
            stderr,
            "fasthttp: arena: worker=%d req=%llu %s %s status=%d used=%zu chunks=%zu large=%zu\n",
            req->worker->index, (unsigned long long)req->id, fh_method_name(req->method),
            req->trace_path ? req->trace_path : "-", req->res.status, st.used, st.chunks, st.large);
    }
    fh_arena_release(req->arena);
}

void fh__request_unref(fh_request_t *req) {
    if (--req->users == 0 && (req->flags & FH__REQ_RELEASE_PENDING))
        fh__request_release(req);
}

static void queue_append(fh__conn_t *c, fh_request_t *req) {
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
    if (req->state != FH__RS_DEFERRED && req->state != FH__RS_STREAMING) {
        fh__request_release(req);
        return;
    }
    bool streaming = req->state == FH__RS_STREAMING;
    req->conn = NULL;
    req->res.flags |= FH__RES_CANCELED;
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
static bool conn_awaits_owner(const fh__conn_t *c) {
    for (const fh_request_t *r = c->q_head; r; r = r->next)
        if (r->state == FH__RS_DEFERRED || r->state == FH__RS_STREAMING)
            return true;
    return false;
}

/* Called by response.c when a response became final outside the handler's
 * synchronous return (deferred responses), or from dispatch. */
void fh__conn_request_finished(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    bool was_deferred = req->state == FH__RS_DEFERRED;
    req->state = FH__RS_READY;
    if (!c) {
        /* Canceled while deferred: nobody to write to. */
        fh__request_release(req);
        return;
    }
    if (was_deferred && !c->in_batch) {
        conn_flush(c);
        /* Also resumes reading paused at the pipelining cap, and sends a
         * 100 Continue that waited for this response. */
        conn_after_progress(c);
    }
}

/* --------------------------------------------------------------- buffers */

/* Grows the connection buffer to at least mincap bytes, rebasing the views
 * of the request being parsed. */
static int conn_buf_reserve(fh__conn_t *c, size_t mincap) {
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
        FH__COUNT(c->w->stats.conn_buffers);
    }
    c->buf = nb;
    c->cap = ncap;
    return 0;
}

static void conn_buf_drop(fh__conn_t *c) {
    if (c->buf)
        FH__COUNT_SUB(c->w->stats.conn_buffers, 1);
    free(c->buf);
    c->buf = NULL;
    c->cap = c->len = c->parsed = 0;
}

/* Keeps [from, end) for later; p is the first byte not yet parsed. */
static void conn_keep_tail(fh__conn_t *c, const char *from, const char *p, const char *end) {
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
            FH__COUNT(c->w->stats.conn_buffers);
        free(c->buf);
        c->buf = nb;
        c->cap = want;
    }
    c->len = n;
    c->parsed = (size_t)(p - from);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    fh__conn_t *c = (fh__conn_t *)h;
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
    buf->len = FH__LOOP_BUF_SIZE;
}

/* ------------------------------------------------------------- lifecycle */

static void on_close(uv_handle_t *h) { free(h); }

static void conn_close(fh__conn_t *c) {
    if (c->closing)
        return;
    c->closing = true;
    if (!c->in_batch)
        parser_put(c); /* inside a batch, the batch's end puts it back */
    fh__worker_t *w = c->w;
    conn_read_stop(c);
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

static bool conn_idle(const fh__conn_t *c) { return c->nqueued == 0 && c->writes_pending == 0; }

/* The last response has been written and the connection is to end. After a
 * parse error the client may still be sending (the rest of a body, more
 * pipelined requests): closing with unread bytes would make the kernel send
 * a reset that can destroy the response before the client reads it. So the
 * socket is shut for writing and whatever still arrives is read and dropped
 * until EOF, limits.max_discard bytes or FH__LINGER_MS, then closed. */
static void conn_end(fh__conn_t *c) {
    if (c->closing)
        return;
    uv_os_fd_t fd;
    if (!c->linger || c->eof || uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 ||
        shutdown(fd, SHUT_WR) != 0) {
        conn_close(c);
        return;
    }
    c->lingering = true;
    c->discarded = 0;
    if (c->cur) {
        fh__request_release(c->cur);
        c->cur = NULL;
    }
    conn_buf_drop(c);
    uint32_t ms = c->w->server->cfg.timeouts.header_ms;
    c->to_kind = FH__TO_LINGER;
    c->deadline = uv_now(&c->w->loop) + (ms < FH__LINGER_MS ? ms : FH__LINGER_MS);
    conn_read_stop(c);
    if (conn_read_start(c) != 0)
        conn_close(c);
}

/* After a write or a deferred completion: close if nothing more will come,
 * resume reading if it was paused at the pipelining cap. */
static void conn_after_progress(fh__conn_t *c) {
    if (c->closing || c->lingering)
        return;
    if ((c->no_more || c->eof) && conn_idle(c)) {
        conn_close(c);
        return;
    }
    if (c->read_paused && c->nqueued < limits(c)->max_pipelined && !c->no_more) {
        c->read_paused = false;
        if (c->buf && c->parsed < c->len)
            conn_process(c, c->buf + c->parsed, c->buf + c->len);
        if (!c->closing && !c->read_paused && !c->no_more && !c->eof && conn_read_start(c) != 0)
            conn_close(c);
    }
    if (c->closing)
        return;
    conn_update_deadline(c);
    conn_continue(c);
}

/* ------------------------------------------------------------------ writes */

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
 * the group is released, and the connection closes if nothing more will be
 * sent. Returns whether the connection stays open. */
static bool group_done(fh__conn_t *c, fh_request_t *group, fh_request_t *takeover, bool close_after,
                       bool ok) {
    if (takeover && ok && !c->closing)
        fh__takeover_handover(takeover, &c->tcp);
    group_release(group);
    if (c->closing)
        return false;
    if (!ok || takeover) {
        conn_close(c);
        return false;
    }
    if (close_after) {
        conn_end(c); /* after an error: lingers (see conn_end) */
        return false;
    }
    return true;
}

static void on_write(uv_write_t *wr, int status) {
    fh__write_t *fw = (fh__write_t *)wr;
    fh__conn_t *c = (fh__conn_t *)wr->handle;
    c->writes_pending--;
    /* fw lives in the group's arena: its fields are read before release. */
    if (group_done(c, fw->group, fw->takeover, fw->close_after, status >= 0)) {
        conn_flush(c);
        conn_after_progress(c);
    }
}

/* Copies into the arena any remaining write bytes that live in a read
 * buffer, which will be reused before the write completes. */
static bool in_read_buffers(const fh__conn_t *c, const char *p) {
    const char *lb = c->w->loop_buf;
    if (p >= lb && p < lb + FH__LOOP_BUF_SIZE)
        return true;
    return c->buf && p >= c->buf && p < c->buf + c->cap;
}

static void conn_flush(fh__conn_t *c) {
    fh__worker_t *w = c->w;
    while (!c->closing && c->q_head && c->q_head->state == FH__RS_READY) {
        unsigned n = 0;
        size_t total = 0;
        fh_request_t *first = c->q_head, *last = NULL, *req, *takeover = NULL;
        bool close_after = false;
        for (req = c->q_head; req && req->state == FH__RS_READY; req = req->next) {
            if (n + req->res.nout > FH__MAX_IOV)
                break;
            for (unsigned i = 0; i < req->res.nout; i++) {
                w->iov[n++] = req->res.out[i];
                total += req->res.out[i].len;
            }
            req->state = FH__RS_WRITING;
            last = req;
            c->nqueued--;
            if (req->res.flags & FH__RES_TAKEOVER)
                takeover = req;
            if (req->res.flags & (FH__RES_CLOSE | FH__RES_TAKEOVER)) {
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
            FH__COUNT(w->stats.writes);
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
        fh__write_t *fw = fh_arena_alloc(last->arena, sizeof(*fw) + (n - k) * sizeof(uv_buf_t));
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
        FH__COUNT(w->stats.writes);
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
    if (!c->closing && c->q_head && c->q_head->state == FH__RS_STREAMING)
        fh__stream_activate(c->q_head);
}

/* ---------------------------------------------------------------- dispatch */

/* Copies into the arena a response buffer that points into a read buffer:
 * those are reused (or freed, after a refusal) before the write is done. */
static void copy_out_of_read_buffers(fh__conn_t *c, fh_request_t *req) {
    fh_response_t *res = &req->res;
    for (unsigned i = 0; i < res->nout; i++) {
        uv_buf_t *b = &res->out[i];
        if (!b->len || !in_read_buffers(c, b->base))
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

/* Answers a request with an error response of the core's own: the short
 * text answer, reshaped by the server's error_handler when there is one
 * (see server.h for what it may do). The response is final afterwards;
 * the caller tells the connection (fh__conn_request_finished). */
static void core_error(fh__conn_t *c, fh_request_t *req, int status, bool close) {
    fh_server_t *s = c->w->server;
    if (!s->cfg.error_handler) {
        fh__response_error(req, status, close);
        return;
    }
    fh_response_t *res = &req->res;
    fh__response_error_prepare(req, status, close);
    /* Refuses defer, stream and takeover while the handler runs. */
    req->state = FH__RS_CORE_ERROR;
    fh_json_scope_t json_scope = fh_json_arena_begin(req->arena);
    int rc = s->cfg.error_handler(req, res, s->cfg.error_handler_data);
    fh_json_scope_end(json_scope);
    req->state = FH__RS_HANDLING;
    if ((res->flags & FH__RES_RAW) || (rc < 0 && !(res->flags & FH__RES_FINAL))) {
        /* Raw bytes cannot be checked, and a failure leaves a half-built
         * response: the core's own answer goes instead. */
        fh__response_error(req, status, close);
        return;
    }
    if (close)
        res->flags |= FH__RES_CLOSE;
    if (!(res->flags & FH__RES_FINAL)) {
        res->status = status;
        fh__response_finalize(req);
    } else if (res->status != status) {
        /* Ended with another status: serialized again with the core's
         * (the commit hooks have run already and do not run twice). */
        res->status = status;
        res->flags &= ~(unsigned)FH__RES_FINAL;
        fh__response_finalize(req);
    }
    copy_out_of_read_buffers(c, req);
}

static void dispatch(fh__conn_t *c, fh_request_t *req) {
    fh_server_t *s = c->w->server;
    queue_append(c, req);
    req->state = FH__RS_HANDLING;
    FH__COUNT(c->w->stats.requests);
    if (c->to_kind == FH__TO_FRESH)
        c->to_kind = FH__TO_NONE; /* no longer a connection that sent nothing */
    if (!(req->flags & FH__REQ_KEEP_ALIVE))
        c->no_more = true;
    if (req->flags & FH__REQ_UPGRADE) {
        /* Nothing after an Upgrade request is parsed as HTTP: its response
         * says the connection closes. */
        c->no_more = true;
        req->res.flags |= FH__RES_CLOSE;
    }
    if (req->flags & FH__REQ_CONTINUE) {
        /* The 100 Continue was not sent (the body came at once). */
        req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    }
    if (req->method == FH_METHOD_OTHER) {
        core_error(c, req, 501, false);
        FH__COUNT(c->w->stats.errors_5xx);
        fh__conn_request_finished(req);
        return;
    }
    if (s->trace_arena)
        req->trace_path = fh_arena_strndup(req->arena, req->path.ptr, req->path.len);
    /* Requests of one read arrived together: one clock read serves them. */
    if (!c->w->batch_ns)
        c->w->batch_ns = uv_hrtime();
    req->start_ns = c->w->batch_ns;
    /* jansson values the handler makes live in the request's arena. */
    fh_json_scope_t json_scope = fh_json_arena_begin(req->arena);
    int rc = s->cfg.handler(req, &req->res, s->cfg.handler_data);
    fh_json_scope_end(json_scope);
    fh_response_t *res = &req->res;
    if (res->flags & FH__RES_FINAL)
        return; /* fh__conn_request_finished already ran */
    if (rc < 0) {
        fh__response_error(req, 500, false); /* the connection survives */
        FH__COUNT(c->w->stats.errors_5xx);
        fh__conn_request_finished(req);
        return;
    }
    if (res->flags & FH__RES_DEFERRED) {
        req->state = FH__RS_DEFERRED;
        return;
    }
    fh_response_end(res);
}

/* Queues an error response for the request being parsed (or a new one) and
 * stops parsing: the connection closes once it has been written. */
static void conn_fail(fh__conn_t *c, int status) {
    fh_request_t *req = c->cur;
    c->cur = NULL;
    if (!req)
        req = request_new(c);
    c->no_more = true;
    /* A timed-out client is slow, not sending: it gets no lingering. */
    c->linger = status != 408;
    if (!req) {
        conn_close(c);
        return;
    }
    queue_append(c, req);
    req->state = FH__RS_HANDLING;
    /* Nothing follows this response: the request does not keep the
     * connection alive, whatever it asked for. */
    req->flags &= ~(unsigned)FH__REQ_KEEP_ALIVE;
    core_error(c, req, status, true);
    if (status >= 500)
        FH__COUNT(c->w->stats.errors_5xx);
    else
        FH__COUNT(c->w->stats.errors_4xx);
    fh__conn_request_finished(req);
}

/* Where the request llhttp failed on starts: the method span if llhttp
 * reported it (it does at the end of each execute), else the first byte
 * given for a message not yet begun. */
static const char *failed_start(const fh__conn_t *c) {
    if (c->cur && c->cur->raw_begin)
        return c->cur->raw_begin;
    return c->w->msg_start;
}

static int parse_error_status(const fh__conn_t *c, llhttp_errno_t err) {
    if (c->err_status)
        return c->err_status;
    const char *b = failed_start(c);
    switch (err) {
    case HPE_INVALID_METHOD:
        /* A method token llhttp does not know is 501 (RFC 9110 9.1); bytes
         * that are no token at all (a TLS hello, garbage) are 400. */
        if (b && b < c->w->exec_end) {
            const char *q = b;
            while (q < c->w->exec_end && fh__h1_is_tchar((unsigned char)*q))
                q++;
            if (q > b && (q == c->w->exec_end || *q == ' '))
                return 501;
        }
        return 400;
    case HPE_INVALID_VERSION:
        return b && b < c->w->exec_end ? fh__h1_version_status(b, (size_t)(c->w->exec_end - b))
                                       : 400;
    case HPE_PAUSED_H2_UPGRADE:
        /* The HTTP/2 connection preface: we speak HTTP/1.1 only. */
        return 505;
    case HPE_CB_MESSAGE_BEGIN: return 503;
    default: return 400;
    }
}

/* Between requests only one empty line (CRLF) may precede a request line
 * (RFC 9112 2.2); llhttp would skip any number of bare CRs and LFs. The
 * bytes are consumed here, so llhttp never sees them. Returns false when
 * they break the rule. */
static bool skip_empty_line(fh__conn_t *c, const char **pp, const char *end) {
    const char *p = *pp;
    while (p < end && (*p == '\r' || *p == '\n')) {
        if (*p == '\r' && c->lead == 0)
            c->lead = 1;
        else if (*p == '\n' && c->lead == 1)
            c->lead = 2;
        else
            return false;
        p++;
    }
    if (p < end && c->lead == 1)
        return false; /* a CR not followed by LF */
    *pp = p;
    return true;
}

/* Parsers. An llhttp_t is only needed while bytes are being parsed or a
 * request is half read; idle keep-alive connections hold none, which keeps
 * them small. The worker keeps the released ones for reuse. */
enum { PARSER_POOL_MAX = 1024 };

static llhttp_t *parser_get(fh__conn_t *c) {
    fh__worker_t *w = c->w;
    llhttp_t *p = w->parsers;
    if (p) {
        w->parsers = p->data;
        w->nparsers--;
    } else if (!(p = malloc(sizeof(*p)))) {
        return NULL;
    }
    llhttp_init(p, HTTP_REQUEST, &parser_settings);
    p->data = c;
    return p;
}

static void parser_put(fh__conn_t *c) {
    llhttp_t *p = c->parser;
    if (!p)
        return;
    c->parser = NULL;
    fh__worker_t *w = c->w;
    if (w->nparsers >= PARSER_POOL_MAX) {
        free(p);
        return;
    }
    p->data = w->parsers;
    w->parsers = p;
    w->nparsers++;
}

void fh__worker_free_parsers(fh__worker_t *w) {
    while (w->parsers) {
        llhttp_t *next = w->parsers->data;
        free(w->parsers);
        w->parsers = next;
    }
    w->nparsers = 0;
}

static void conn_process_batch(fh__conn_t *c, const char *p, const char *end);

/* The worker's per-batch fields (exec_end, msg_start, batch_ns) are saved
 * around a batch: a handler may finish another connection's response and
 * so start that connection's batch inside this one. */
static void conn_process(fh__conn_t *c, const char *p, const char *end) {
    fh__worker_t *w = c->w;
    const char *exec_end = w->exec_end, *msg_start = w->msg_start;
    uint64_t batch_ns = w->batch_ns;
    conn_process_batch(c, p, end);
    w->exec_end = exec_end;
    w->msg_start = msg_start;
    w->batch_ns = batch_ns;
}

static void conn_process_batch(fh__conn_t *c, const char *p, const char *end) {
    const fh_limits_t *l = limits(c);
    c->in_batch = true;
    c->w->batch_ns = 0;
    while (p < end && !c->no_more && !c->closing) {
        if (c->nqueued >= l->max_pipelined) {
            c->read_paused = true;
            conn_read_stop(c);
            break;
        }
        if (!c->cur) {
            if (!skip_empty_line(c, &p, end)) {
                conn_fail(c, 400);
                break;
            }
            if (p == end)
                break;
            c->w->msg_start = p;
        }
        if (!c->parser && !(c->parser = parser_get(c))) {
            conn_fail(c, 503);
            break;
        }
        c->w->exec_end = end;
        llhttp_errno_t err = llhttp_execute(c->parser, p, (size_t)(end - p));
        if (err == HPE_OK) {
            p = end;
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            const char *pos = llhttp_get_error_pos(c->parser);
            if (err == HPE_PAUSED)
                llhttp_resume(c->parser);
            fh_request_t *req = c->cur;
            c->cur = NULL;
            p = pos ? pos : end;
            c->lead = 0;
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
    if (!c->cur || c->closing)
        parser_put(c);
    if (c->closing)
        return;
    /* Bytes after a takeover request belong to whoever takes the socket. */
    if (c->no_more && p < end && c->q_tail && (c->q_tail->res.flags & FH__RES_TAKEOVER))
        fh__takeover_keep(c->q_tail, p, (size_t)(end - p));

    /* Enforce the header-size limit on a head still incomplete. */
    if (!c->no_more && c->cur && !(c->cur->flags & FH__REQ_HEAD_DONE) && c->cur->raw_begin &&
        (size_t)(end - c->cur->raw_begin) > l->max_header_bytes) {
        conn_fail(c, 431);
        parser_put(c);
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
    fh__conn_t *c = (fh__conn_t *)stream;
    if (nread == 0)
        return;
    if (c->lingering) {
        if (nread < 0 || (c->discarded += (size_t)nread) > limits(c)->max_discard)
            conn_close(c);
        return;
    }
    if (nread < 0) {
        if (nread == UV_EOF) {
            /* Half-closed: answer what was asked, then close. */
            c->eof = true;
            conn_read_stop(c);
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

static void conn_update_deadline(fh__conn_t *c) {
    const fh_timeouts_t *t = &c->w->server->cfg.timeouts;
    uint64_t now = uv_now(&c->w->loop);
    if (c->lingering)
        return;
    if (c->writes_pending) {
        c->to_kind = FH__TO_WRITE;
        c->deadline = now + t->write_ms;
        c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    } else if (c->cur && c->cur->raw_begin) {
        if (c->cur->flags & FH__REQ_HEAD_DONE) {
            c->to_kind = FH__TO_BODY;
            c->deadline = now + t->body_ms;
        } else if (c->to_kind != FH__TO_HEADER) {
            /* The whole head must arrive within header_ms of its first byte:
             * trickling bytes do not extend it (slowloris). */
            c->to_kind = FH__TO_HEADER;
            c->deadline = now + t->header_ms;
        }
    } else if (c->nqueued || c->read_paused) {
        c->to_kind = FH__TO_NONE;
        c->deadline = 0;
    } else if (c->to_kind != FH__TO_FRESH && c->to_kind != FH__TO_KEEPALIVE) {
        /* Idle between requests: the deadline counts from the moment the
         * connection became idle, whatever it sends that is no request. */
        c->to_kind = FH__TO_KEEPALIVE;
        c->deadline = now + t->keepalive_ms;
    }
}

/* Whether some pending response bytes reached the kernel since the last
 * check (one uv_write may take long for a large body, and still move). */
static bool write_progressed(fh__conn_t *c) {
    size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    bool moved = q < c->wq_seen;
    c->wq_seen = q;
    return moved;
}

void fh__conn_sweep(fh__worker_t *w) {
    uint64_t now = uv_now(&w->loop);
    fh__conn_t *c = w->conns;
    while (c) {
        fh__conn_t *next = c->next;
        if (c->deadline && now >= c->deadline && !c->closing && c->to_kind == FH__TO_LINGER) {
            conn_close(c);
        } else if (c->deadline && now >= c->deadline && !c->closing && c->to_kind == FH__TO_WRITE &&
                   write_progressed(c)) {
            /* A slow reader that still reads: write_ms is the longest the
             * pending bytes may stay without any of them leaving. */
            c->deadline = now + w->server->cfg.timeouts.write_ms;
        } else if (c->deadline && now >= c->deadline && !c->closing) {
            FH__COUNT(w->stats.timeouts);
            c->deadline = 0;
            if ((c->to_kind == FH__TO_HEADER || c->to_kind == FH__TO_BODY) &&
                c->writes_pending == 0) {
                conn_fail(c, 408);
                conn_flush(c);
                if (!c->closing && conn_idle(c))
                    conn_close(c);
                else if (!c->closing) {
                    c->to_kind = FH__TO_WRITE;
                    c->deadline = now + w->server->cfg.timeouts.write_ms;
                    c->wq_seen = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
                }
            } else {
                conn_close(c);
            }
        }
        c = next;
    }
}

/* --------------------------------------------------------------- accepting */

/* Makes a connection of the socket that fill() puts into c->tcp (an accept
 * from the listener, or a descriptor handed over) and starts reading. */
static int conn_start(fh__worker_t *w, int (*fill)(fh__worker_t *, uv_tcp_t *, uv_os_sock_t),
                      uv_os_sock_t fd) {
    fh__conn_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    int err = uv_tcp_init(&w->loop, &c->tcp);
    if (err) {
        free(c);
        return err;
    }
    err = fill(w, &c->tcp, fd);
    if (err) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return err;
    }
    c->w = w;
    uv_tcp_nodelay(&c->tcp, 1);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    atomic_fetch_add_explicit(&w->server->nconns, 1, memory_order_relaxed);
    FH__COUNT(w->stats.accepted);
    c->to_kind = FH__TO_FRESH;
    c->deadline = uv_now(&w->loop) + w->server->cfg.timeouts.header_ms;
    if (conn_read_start(c) != 0)
        conn_close(c);
    return 0;
}

static int fill_open(fh__worker_t *w, uv_tcp_t *tcp, uv_os_sock_t fd) {
    (void)w;
    return uv_tcp_open(tcp, fd);
}

int fh__conn_open(fh__worker_t *w, uv_os_sock_t fd) { return conn_start(w, fill_open, fd); }

/* The listening socket is watched with a uv_poll_t and accepted from here,
 * not through uv_listen, so that accepting can pause: at the connection cap,
 * and when the process is out of descriptors (EMFILE, ENFILE) or of memory.
 * Paused, the watcher is stopped and pending connections wait in the
 * kernel's queue; a closing connection or the next tick resumes. (libuv's
 * listener cannot pause on an accept error: its spare-descriptor trick is
 * one per loop, threads race for the freed slot, and a loop that loses it
 * gets the error back on every turn of a level-triggered poll: a spin.) */
enum { ACCEPT_BATCH = 64 };

static void accept_pause(fh__worker_t *w) {
    if (w->accept_paused)
        return;
    w->accept_paused = true;
    uv_poll_stop(&w->listener);
}

static bool at_cap(const fh__worker_t *w) {
    return atomic_load_explicit(&w->server->nconns, memory_order_relaxed) >=
           w->server->cfg.limits.max_connections;
}

void fh__conn_on_listen(uv_poll_t *p, int status, int events) {
    fh__worker_t *w = p->data;
    (void)events;
    if (w->stopping)
        return;
    if (status < 0) {
        accept_pause(w);
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (at_cap(w)) {
            accept_pause(w);
            return;
        }
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                accept_pause(w); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
            return;
        }
        int err = conn_start(w, fill_open, fd);
        if (err) {
            close(fd);
            if (err == FH_ENOMEM) {
                accept_pause(w);
                return;
            }
        }
    }
}

void fh__worker_try_resume_accept(fh__worker_t *w) {
    if (!w->accept_paused || w->stopping || !w->listener_open || at_cap(w))
        return;
    w->accept_paused = false;
    uv_poll_start(&w->listener, UV_READABLE, fh__conn_on_listen);
}

void fh__worker_stop_conns(fh__worker_t *w, bool force) {
    fh__conn_t *c = w->conns;
    while (c) {
        fh__conn_t *next = c->next;
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

static inline fh__conn_t *conn_of(llhttp_t *p) { return p->data; }

static int on_message_begin(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
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
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    span_extend(&req->target, at, len);
    if (req->target.len > limits(c)->max_target) {
        c->err_status = 414;
        return HPE_USER;
    }
    return 0;
}

static int head_too_big(fh__conn_t *c, const char *at, size_t len) {
    fh_request_t *req = c->cur;
    if (req->raw_begin && (size_t)(at + len - req->raw_begin) > limits(c)->max_header_bytes) {
        c->err_status = 431;
        return 1;
    }
    return 0;
}

/* Trailer fields (after the last chunk) are counted against the header
 * limits and checked at on_message_complete, but never stored: they cannot
 * add to or override the header section (Content-Length, Host, ...),
 * RFC 9110 6.5.1. */
static int trailer_bytes(fh__conn_t *c, size_t len, bool new_field) {
    fh_request_t *req = c->cur;
    const fh_limits_t *l = limits(c);
    req->trailer_bytes += len;
    if ((new_field && ++req->ntrailers > l->max_headers) ||
        req->trailer_bytes > l->max_header_bytes) {
        c->err_status = 431;
        return HPE_USER;
    }
    return 0;
}

/* Header spans are only collected here: the syntax of the whole head is
 * checked at once in on_headers_complete, before anything is used. */
static int on_header_field(llhttp_t *p, const char *at, size_t len) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    bool new_field = req->hstate != FH__HP_FIELD;
    req->hstate = FH__HP_FIELD;
    if (req->flags & FH__REQ_HEAD_DONE)
        return trailer_bytes(c, len, new_field);
    if (head_too_big(c, at, len))
        return HPE_USER;
    if (!new_field)
        return span_extend(&req->headers[req->nheaders - 1].name, at, len);
    if (req->nheaders == limits(c)->max_headers) {
        c->err_status = 431;
        return HPE_USER;
    }
    if (req->nheaders == req->cap_headers) {
        uint32_t ncap = req->cap_headers ? req->cap_headers * 2 : 16;
        fh__header_t *nh =
            fh_arena_realloc(req->arena, req->headers, req->cap_headers * sizeof(fh__header_t),
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
    return 0;
}

static int on_header_field_complete(llhttp_t *p) {
    fh_request_t *req = conn_of(p)->cur;
    req->hstate = FH__HP_VALUE_START;
    if (req->flags & FH__REQ_HEAD_DONE)
        return 0;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    h->value.ptr = h->name.ptr + h->name.len; /* present, empty until a value */
    h->value.len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (req->flags & FH__REQ_HEAD_DONE) {
        req->hstate = FH__HP_VALUE;
        return trailer_bytes(c, len, false);
    }
    if (head_too_big(c, at, len))
        return HPE_USER;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    if (req->hstate == FH__HP_VALUE_START) {
        h->value.ptr = at;
        h->value.len = len;
        req->hstate = FH__HP_VALUE;
    } else {
        h->value.len += len;
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p) {
    fh_request_t *req = conn_of(p)->cur;
    req->hstate = FH__HP_NONE;
    if (req->flags & FH__REQ_HEAD_DONE)
        return 0;
    fh__header_t *h = &req->headers[req->nheaders - 1];
    while (h->value.len &&
           (h->value.ptr[h->value.len - 1] == ' ' || h->value.ptr[h->value.len - 1] == '\t'))
        h->value.len--;
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
 * "http://host/p?q" (the path after the authority, which is returned in
 * *authority), asterisk-form "*" (OPTIONS only). Returns 0 or 400. */
static int split_target(fh_request_t *req, fh_str_t *authority) {
    const char *t = req->target.ptr;
    size_t n = req->target.len;
    if (!t || n == 0)
        return 400;
    size_t start = 0;
    if (t[0] != '/') {
        if (n == 1 && t[0] == '*') {
            if (req->method != FH_METHOD_OPTIONS)
                return 400;
            req->path = req->target;
            return 0;
        }
        size_t s;
        if (n > 7 && fh_str_ieq((fh_str_t){ t, 7 }, FH_STR_LIT("http://")))
            s = 7;
        else if (n > 8 && fh_str_ieq((fh_str_t){ t, 8 }, FH_STR_LIT("https://")))
            s = 8;
        else
            return 400;
        size_t i = s;
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        /* No empty authority, and no userinfo (RFC 9110 4.2.4). */
        fh_str_t auth = { t + s, i - s };
        if (auth.len == 0 || memchr(auth.ptr, '@', auth.len) || fh__h1_check_host(auth))
            return 400;
        *authority = auth;
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

typedef struct fh__continue_write {
    uv_write_t req;
    uv_buf_t buf;
} fh__continue_write_t;

static void on_continue_written(uv_write_t *wr, int status) {
    fh__conn_t *c = (fh__conn_t *)wr->handle;
    free(wr);
    c->writes_pending--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    conn_flush(c);
    conn_after_progress(c);
}

/* Sends the 100 Continue owed to the request being read, once every earlier
 * response has left (interim responses keep request order too) and only if
 * no byte of its body has arrived yet. */
static void conn_continue(fh__conn_t *c) {
    fh_request_t *req = c->cur;
    if (!req || !(req->flags & FH__REQ_CONTINUE) || c->q_head || c->writes_pending || c->closing ||
        c->no_more)
        return;
    req->flags &= ~(unsigned)FH__REQ_CONTINUE;
    size_t n = sizeof(continue_100) - 1;
    uv_buf_t b = uv_buf_init((char *)continue_100, (unsigned)n);
    FH__COUNT(c->w->stats.writes);
    int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (r >= 0 && (size_t)r == n)
        return;
    if (r < 0 && r != UV_EAGAIN)
        return; /* the read side sees the failure */
    size_t skip = r > 0 ? (size_t)r : 0;
    fh__continue_write_t *cw = malloc(sizeof(*cw));
    if (!cw) {
        conn_close(c);
        return;
    }
    cw->buf = uv_buf_init((char *)continue_100 + skip, (unsigned)(n - skip));
    FH__COUNT(c->w->stats.writes);
    if (uv_write(&cw->req, (uv_stream_t *)&c->tcp, &cw->buf, 1, on_continue_written) != 0) {
        free(cw);
        conn_close(c);
        return;
    }
    c->writes_pending++;
}

static int reject(fh__conn_t *c, int status) {
    c->err_status = status;
    return -1;
}

static int on_headers_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    const fh_limits_t *l = limits(c);
    req->flags |= FH__REQ_HEAD_DONE;
    /* The whole head, strictly: this is where bare CRs and LFs, obs-fold,
     * whitespace before a colon and malformed request lines are refused. */
    if (!req->raw_begin || req->raw_begin >= c->w->exec_end)
        return reject(c, 400);
    size_t avail = (size_t)(c->w->exec_end - req->raw_begin);
    int st = fh__h1_check_head(req->raw_begin, avail, &req->head_len);
    if (st)
        return reject(c, st);
    if (p->http_major != 1 || p->http_minor > 1)
        return reject(c, 505);
    req->version = (uint8_t)(p->http_major * 10 + p->http_minor);
    req->flags |= FH__REQ_VERSION;
    req->method = (uint8_t)map_method(p->method);
    /* We open no tunnels. */
    if (p->method == HTTP_CONNECT)
        return reject(c, 501);
    if (llhttp_should_keep_alive(p))
        req->flags |= FH__REQ_KEEP_ALIVE;
    if (p->upgrade)
        req->flags |= FH__REQ_UPGRADE;
    fh_str_t authority = { NULL, 0 };
    st = split_target(req, &authority);
    if (st)
        return reject(c, st);

    fh__header_t *host = NULL;
    int hosts = 0;
    bool expect_continue = false, expect_other = false;
    fh_str_t te[8];
    size_t nte = 0, ncl = 0;
    uint64_t cl = 0;
    for (uint32_t i = 0; i < req->nheaders; i++) {
        fh__header_t *h = &req->headers[i];
        switch (h->name.len) {
        case 4:
            if (fh_str_ieq(h->name, FH_STR_LIT("host"))) {
                hosts++;
                host = h;
                if (fh__h1_check_host(h->value))
                    return reject(c, 400);
            }
            break;
        case 6:
            if (fh_str_ieq(h->name, FH_STR_LIT("expect"))) {
                if (fh_str_ieq(h->value, FH_STR_LIT("100-continue")))
                    expect_continue = true;
                else
                    expect_other = true;
            }
            break;
        case 14:
            if (fh_str_ieq(h->name, FH_STR_LIT("content-length"))) {
                ncl++;
                if (fh__h1_content_length(h->value, &cl))
                    return reject(c, 400);
            }
            break;
        case 17:
            if (fh_str_ieq(h->name, FH_STR_LIT("transfer-encoding"))) {
                if (nte == sizeof(te) / sizeof(te[0]))
                    return reject(c, 400);
                te[nte++] = h->value;
            }
            break;
        default: break;
        }
    }
    if (hosts > 1 || (hosts == 0 && req->version == 11))
        return reject(c, 400);
    /* The authority of an absolute-form target wins over Host (RFC 9112
     * 3.2.2): handlers asking for Host see it. */
    if (authority.ptr && host)
        host->value = authority;
    if (nte) {
        /* RFC 9112 6.1 and 6.3: TE with Content-Length, or in HTTP/1.0, is
         * faulty framing; chunked must be the one and final coding. */
        if (ncl || req->version == 10)
            return reject(c, 400);
        st = fh__h1_transfer_encoding(te, nte);
        if (st)
            return reject(c, st);
        if (!(p->flags & F_CHUNKED))
            return reject(c, 400);
        req->flags |= FH__REQ_CHUNKED;
        req->chunk_line = req->head_len;
    } else if (ncl > 1 || (ncl && cl != p->content_length)) {
        return reject(c, 400);
    }
    if (ncl && cl > l->max_body)
        return reject(c, 413);
    /* HTTP/1.0 has no expectations (RFC 9110 10.1.1): ignored there. */
    if (req->version == 11 && (expect_continue || expect_other)) {
        if (expect_other)
            return reject(c, 417);
        /* 100 only when a body is still to come: not if it is already
         * here (RFC 9110 10.1.1 lets us omit it). */
        bool has_body = nte || cl > 0;
        if (has_body && req->head_len == avail) {
            req->flags |= FH__REQ_CONTINUE;
            conn_continue(c);
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    req->flags &= ~(unsigned)FH__REQ_CONTINUE; /* the client did not wait */
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
         * chunk framing the parser has already consumed (and checked: the
         * checks below only look ahead of the data being moved). */
        if (dst != at)
            memmove(dst, at, len);
        req->body.len += len;
    }
    return 0;
}

/* Bytes from raw_begin that llhttp has been given, for the checks below. */
static inline size_t raw_avail(const fh__conn_t *c) {
    return (size_t)(c->w->exec_end - c->cur->raw_begin);
}

/* A chunk-size line is complete: check it strictly (llhttp 8.1.0 takes any
 * byte after its CR) and note where the next line will start. */
static int on_chunk_header(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    req->chunk_ext = 0;
    size_t off = req->chunk_line, len = 0, avail = raw_avail(c);
    if (!(req->flags & FH__REQ_CHUNKED) || off > avail ||
        fh__h1_check_chunk_line(req->raw_begin + off, avail - off, &len)) {
        c->err_status = 400;
        return HPE_USER;
    }
    uint64_t size = p->content_length;
    if (size > limits(c)->max_body - req->body.len) {
        c->err_status = 413; /* said at once, not when the data comes */
        return HPE_USER;
    }
    if (size == 0) {
        req->flags |= FH__REQ_LAST_CHUNK;
        req->chunk_line = off + len; /* the trailer section */
    } else {
        req->chunk_line = off + len + size + 2;
    }
    return 0;
}

/* Chunk data must end with CRLF: llhttp 8.1.0 skips any two bytes. */
static int on_chunk_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (req->flags & FH__REQ_LAST_CHUNK)
        return 0;
    size_t end = req->chunk_line;
    const char *crlf = req->raw_begin + end - 2;
    if (end < 2 || end > raw_avail(c) || crlf[0] != '\r' || crlf[1] != '\n') {
        c->err_status = 400;
        return HPE_USER;
    }
    return 0;
}

static int on_chunk_ext(llhttp_t *p, const char *at, size_t len) {
    fh__conn_t *c = conn_of(p);
    c->cur->chunk_ext += len;
    if (c->cur->chunk_ext > limits(c)->max_chunk_ext) {
        c->err_status = 400;
        return HPE_USER;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p) {
    fh__conn_t *c = conn_of(p);
    fh_request_t *req = c->cur;
    if (req->flags & FH__REQ_CHUNKED) {
        /* The trailer section, strictly, up to its empty line. */
        size_t off = req->chunk_line, len, avail = raw_avail(c);
        if (!(req->flags & FH__REQ_LAST_CHUNK) || off > avail ||
            fh__h1_check_fields(req->raw_begin + off, avail - off, &len)) {
            c->err_status = 400;
            return HPE_USER;
        }
    }
    req->flags |= FH__REQ_COMPLETE;
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
    .on_chunk_complete = on_chunk_complete,
    .on_chunk_extension_name = on_chunk_ext,
    .on_chunk_extension_value = on_chunk_ext,
    .on_message_complete = on_message_complete,
};

/* --------------------------------------- hooks for stream.c and takeover.c */

uv_stream_t *fh__conn_stream(fh__conn_t *c) { return (uv_stream_t *)&c->tcp; }

void fh__conn_write_pending(fh__conn_t *c, int delta) {
    if (c->closing)
        return;
    c->writes_pending = (size_t)((ptrdiff_t)c->writes_pending + delta);
    conn_update_deadline(c);
}

void fh__conn_stream_started(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    if (req->res.flags & FH__RES_CLOSE)
        c->no_more = true; /* close-delimited, or closing: nothing after it */
    if (!c->in_batch) {
        conn_flush(c);
        if (!c->closing)
            conn_update_deadline(c);
    }
}

void fh__conn_stream_finished(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    c->q_head = req->next;
    if (!c->q_head)
        c->q_tail = NULL;
    c->nqueued--;
    req->next = NULL;
    req->state = FH__RS_WRITING;
    bool close = req->res.flags & FH__RES_CLOSE;
    fh__request_release(req);
    if (close) {
        conn_close(c);
        return;
    }
    conn_flush(c);
    if (!c->closing)
        conn_after_progress(c);
}

void fh__conn_abort(fh__conn_t *c) { conn_close(c); }

int fh__conn_takeover_prepare(fh_request_t *req) {
    fh__conn_t *c = req->conn;
    if (!c || c->closing || req->state != FH__RS_HANDLING)
        return FH_ESTATE;
    c->no_more = true;
    conn_read_stop(c);
    return 0;
}

/* ------------------------------------------------------ request accessors */

/* The connection's peer address, read once per connection, not per
 * request. Returns 0 or an error. */
static int conn_peer(fh__conn_t *c) {
    if (!c || c->closing)
        return FH_ENOTCONN;
    if (!c->peer_known) {
        struct sockaddr_storage ss;
        int len = sizeof(ss);
        int err = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len);
        if (err)
            return err;
        if ((size_t)len > sizeof(c->peer))
            len = sizeof(c->peer);
        memcpy(&c->peer, &ss, (size_t)len);
        c->peer_known = true;
    }
    return 0;
}

const struct sockaddr *fh__request_peer(const fh_request_t *req) {
    return conn_peer(req->conn) == 0 ? &req->conn->peer.sa : NULL;
}

uint64_t fh__request_done_ns(const fh_request_t *req) {
    fh__worker_t *w = req->worker;
    if (!w->releasing_group)
        return uv_hrtime();
    if (!w->group_done_ns)
        w->group_done_ns = uv_hrtime();
    return w->group_done_ns;
}

int fh_request_remote_addr(const fh_request_t *req, struct sockaddr_storage *out) {
    fh__conn_t *c = req->conn;
    int err = conn_peer(c);
    if (err)
        return err;
    memset(out, 0, sizeof(*out));
    memcpy(out, &c->peer,
           c->peer.sa.sa_family == AF_INET6 ? sizeof(c->peer.in6) : sizeof(c->peer.in4));
    return 0;
}
