/* Streams: responses whose body is written over time (chunked or
 * close-delimited), files sent with sendfile(2), and Server-Sent Events.
 *
 * A stream sits in its connection's queue like any response, in state
 * FH__RS_STREAMING. When it reaches the head (the protocol calls the
 * response's activate) it writes its head and then its body through the
 * request's ops, and later responses wait behind it. When it has ended and
 * every byte has left, it tells the protocol (ops->stream_finished), which
 * goes on with the next response. When the client goes away, the cancel
 * hook it registered on the request stops its I/O. It never calls a
 * connection function by name.
 *
 * Memory. Body bytes are copied into blocks of BLOCK_SIZE that belong to the
 * stream: `pending` blocks wait for the socket, `inflight` ones are part of
 * the single write in flight, `spare` ones are recycled. Writes are
 * refused (FH_EAGAIN) past max_buffered, so a stream never holds more than
 * about max_buffered + 2 blocks, whatever the body's size, and its steady
 * state makes no allocation at all. One write is in flight at a time: the
 * blocks filled meanwhile leave together in the next one (at most
 * WRITE_BUFS buffers).
 *
 * Files. After the head, sendfile(2) runs on the loop, on the socket's own
 * descriptor (non-blocking: it takes what the socket has room for), and
 * the connection calls back when the socket has room again (no second
 * poll handle, no duplicate descriptor). sendfile does not wait for the
 * client but may wait for the disk: before each step of at most
 * SENDFILE_STEP bytes, a read that may not block (RWF_NOWAIT) probes
 * whether the pages are in memory; when they are not, a thread-pool job
 * reads them first (it never touches the socket) and the loop sends them
 * after. When the pages are in memory the head leaves with MSG_MORE, so
 * that it shares its segment with the file's first bytes.
 * Over a transport that must see every byte (TLS: ops->socket_fd says
 * FH_ENOTSUP) nothing is sent by sendfile: a job reads up to WRITE_BUFS
 * blocks of the file instead, and they leave in one write through the
 * transport; the next read starts when it has.
 *
 * Lifetime. The stream lives in the request's arena and holds the request
 * (req->users) from fh_stream_begin until it is finished: ended by its owner
 * (or by the framework, for files), no I/O in flight, handles closed. Entry
 * points that run user callbacks hold the request for their own duration.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/conn.h" /* fh__write_t */
#include "core/request.h"
#include "core/worker.h"

#define BLOCK_SIZE (16 * 1024)
#define WRITE_BUFS 8
#define DEFAULT_MAX_BUFFERED (256 * 1024)
#define SENDFILE_STEP ((size_t)4 << 20)
#define SSE_KEEPALIVE_MS 15000

typedef struct block {
    struct block *next;
    size_t len;
    char data[BLOCK_SIZE];
} block_t;

enum { BODY_CHUNKED, BODY_CLOSE, BODY_FILE };
enum { IDLE, WRITING, SENDING_FILE, WAITING_WRITABLE };

struct fh_stream {
    fh_request_t *req;
    fh__write_t wr;
    uv_buf_t bufs[WRITE_BUFS]; /* the write in flight's buffers */
    fh__hook_t cancel_hook;
    block_t *pending, *pending_tail; /* written, waiting for the socket */
    block_t *inflight;               /* carried by the write in flight */
    block_t *spare;                  /* recycled blocks */
    size_t nspare;
    size_t buffered; /* bytes in pending and inflight */
    size_t max_buffered;
    fh_stream_drain_fn on_drain;
    void *data;
    uint8_t body; /* BODY_* */
    uint8_t busy; /* IDLE, or the I/O in flight */
    bool no_body; /* HEAD or a bodyless status: writes are dropped */
    bool active;  /* at the head of the connection's queue */
    bool head_sent;
    bool ended;
    bool canceled;
    bool want_drain; /* a write was refused: call on_drain */
    bool finished;
    bool wrote;       /* bytes written since the last keep-alive tick */
    unsigned handles; /* open handles (the keep-alive timer) */
    /* BODY_FILE */
    int fd;
    void (*fd_release)(void *data); /* instead of close(fd), when set */
    void *fd_release_data;
    int64_t off, left;
    int step_err;
    bool warm;        /* the next step's pages were just read or found in memory */
    size_t step_read; /* bytes the last read step got (file_copy) */
    /* The transport takes no sendfile (TLS): the file is read into blocks
     * on the thread pool and they leave as any written bytes do. */
    bool file_copy;
    block_t *reading; /* blocks a read step fills */
    uv_work_t work;
    /* Server-Sent Events */
    uv_timer_t *timer;
};

static void stream_kick(fh_stream_t *st);
static void stream_maybe_finish(fh_stream_t *st);
static void stream_drain_check(fh_stream_t *st);

/* Whether the client is still there (the request's ops may be used). */
static inline bool stream_conn(const fh_stream_t *st) { return !st->canceled && st->req->conn; }

/* ------------------------------------------------------------------ blocks */

static void blocks_free(block_t *b) {
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

/* Makes sure n more bytes fit in the tail block plus spare blocks, so that
 * appending them cannot fail halfway through a chunk. */
static int reserve(fh_stream_t *st, size_t n) {
    size_t room = st->pending_tail ? BLOCK_SIZE - st->pending_tail->len : 0;
    while (room + st->nspare * BLOCK_SIZE < n) {
        block_t *b = malloc(sizeof(*b));
        if (!b)
            return FH_ENOMEM;
        b->next = st->spare;
        st->spare = b;
        st->nspare++;
    }
    return 0;
}

/* Copies n bytes behind the pending ones (room was reserved). */
static void append(fh_stream_t *st, const char *p, size_t n) {
    while (n) {
        block_t *b = st->pending_tail;
        if (!b || b->len == BLOCK_SIZE) {
            b = st->spare;
            st->spare = b->next;
            st->nspare--;
            b->next = NULL;
            b->len = 0;
            if (st->pending_tail)
                st->pending_tail->next = b;
            else
                st->pending = b;
            st->pending_tail = b;
        }
        size_t k = BLOCK_SIZE - b->len;
        if (k > n)
            k = n;
        memcpy(b->data + b->len, p, k);
        b->len += k;
        st->buffered += k;
        p += k;
        n -= k;
    }
}

/* Moves a list of used blocks to the spare list, keeping no more spares
 * than the bound needs (one large write may have taken many). */
static void recycle(fh_stream_t *st, block_t *b) {
    size_t keep = st->max_buffered / BLOCK_SIZE + 2;
    while (b) {
        block_t *next = b->next;
        st->buffered -= b->len;
        if (st->nspare < keep) {
            b->next = st->spare;
            st->spare = b;
            st->nspare++;
        } else {
            free(b);
        }
        b = next;
    }
}

/* ------------------------------------------------------------------ writes */

/* Produces a chunk's bytes: called once to measure them (copy false), then
 * once to append them (copy true, room reserved); returns their length. */
typedef size_t (*produce_fn)(fh_stream_t *st, const void *arg, bool copy);

typedef struct bytes_arg {
    const char *p;
    size_t n;
} bytes_arg_t;

static size_t produce_bytes(fh_stream_t *st, const void *arg, bool copy) {
    const bytes_arg_t *b = arg;
    if (copy)
        append(st, b->p, b->n);
    return b->n;
}

/* Writes one chunk made by produce, whole or not at all. */
static int stream_put(fh_stream_t *st, produce_fn produce, const void *arg) {
    if (st->ended)
        return FH_ESTATE;
    if (st->canceled)
        return FH_ECANCELED;
    size_t len = produce(st, arg, false);
    if (len == 0)
        return 0;
    st->wrote = true;
    if (st->no_body)
        return 0;
    char head[24];
    size_t hn = 0, tn = 0;
    if (st->body == BODY_CHUNKED) {
        hn = (size_t)snprintf(head, sizeof(head), "%zx\r\n", len);
        tn = 2;
    }
    size_t total = hn + len + tn;
    if (st->buffered > 0 && st->buffered + total > st->max_buffered) {
        st->want_drain = true;
        return FH_EAGAIN;
    }
    if (reserve(st, total) != 0)
        return FH_ENOMEM;
    append(st, head, hn);
    produce(st, arg, true);
    append(st, "\r\n", tn);
    stream_kick(st);
    return 0;
}

static void on_written(fh__conn_t *c, fh__write_t *wr, int status) {
    (void)c;
    fh_stream_t *st = (fh_stream_t *)((char *)wr - offsetof(fh_stream_t, wr));
    fh_request_t *req = st->req;
    req->users++; /* on_drain or an abort may end the stream */
    st->busy = IDLE;
    recycle(st, st->inflight);
    st->inflight = NULL;
    if (stream_conn(st)) {
        if (status < 0) {
            req->ops->abort(req); /* cancels this stream */
        } else {
            stream_kick(st); /* may write all that is pending at once */
            stream_drain_check(st);
        }
    }
    stream_maybe_finish(st);
    fh__request_unref(req);
}

/* -------------------------------------------------------------------- files */

static void file_step(fh_stream_t *st);

/* Whether sendfile of [off, off + len) can run without waiting for the
 * disk: a one-byte read of the range's last page that may not wait
 * (RWF_NOWAIT) succeeds. Pages are read in ahead in order, so the last one
 * being in memory stands for the range; one that is not found costs the
 * thread-pool path. A file system without RWF_NOWAIT takes that path
 * always. */
static bool file_resident(int fd, int64_t off, size_t len) {
    char b;
    struct iovec iov = { &b, 1 };
    int64_t last = off + (int64_t)len - 1;
    ssize_t r = preadv2(fd, &iov, 1, (off_t)(last & ~(int64_t)4095), RWF_NOWAIT);
    return r == 1;
}

/* On the thread pool: reads the next step's bytes (into a scratch buffer
 * that nobody looks at) so that their pages are in memory when the loop
 * sends them. It never touches the socket, so a connection closed
 * meanwhile (and its descriptor's number reused) is no concern. */
static void file_work(uv_work_t *w) {
    static _Thread_local char scratch[64 * 1024];
    fh_stream_t *st = (fh_stream_t *)((char *)w - offsetof(fh_stream_t, work));
    size_t want = (uint64_t)st->left > SENDFILE_STEP ? SENDFILE_STEP : (size_t)st->left;
    off_t off = (off_t)st->off;
    size_t got = 0;
    int err = 0;
    while (got < want) {
        size_t k = want - got < sizeof(scratch) ? want - got : sizeof(scratch);
        ssize_t r = pread(st->fd, scratch, k, off + (off_t)got);
        if (r > 0) {
            got += (size_t)r;
        } else if (r == 0) {
            err = UV_EOF; /* the file shrank below the announced length */
            break;
        } else if (errno != EINTR) {
            err = uv_translate_sys_error(errno);
            break;
        }
    }
    st->step_err = err;
}

static void on_writable(fh_request_t *req) {
    fh_stream_t *st = req->res.stream;
    req->users++;
    st->busy = IDLE;
    if (stream_conn(st)) {
        req->ops->io_pending(req, -1);
        file_step(st);
    }
    stream_maybe_finish(st);
    fh__request_unref(req);
}

/* Waits until the socket takes more. */
static void file_wait(fh_stream_t *st) {
    fh_request_t *req = st->req;
    st->busy = WAITING_WRITABLE;
    req->ops->io_pending(req, +1);
    req->ops->wait_writable(req, on_writable);
}

static void file_after(uv_work_t *w, int status) {
    fh_stream_t *st = (fh_stream_t *)((char *)w - offsetof(fh_stream_t, work));
    fh_request_t *req = st->req;
    req->users++;
    st->busy = IDLE;
    if (stream_conn(st)) {
        req->ops->io_pending(req, -1);
        if (status != 0 || st->step_err) {
            req->ops->abort(req);
        } else {
            st->warm = true; /* in memory now: sent on the loop */
            file_step(st);
        }
    }
    stream_maybe_finish(st);
    fh__request_unref(req);
}

static void on_handle_closed(uv_handle_t *h) {
    fh_stream_t *st = h->data;
    st->handles--;
    stream_maybe_finish(st);
}

/* Reads the next blocks of the file (a thread-pool job). */
static void file_read_work(uv_work_t *w) {
    fh_stream_t *st = (fh_stream_t *)((char *)w - offsetof(fh_stream_t, work));
    off_t off = (off_t)st->off;
    int64_t left = st->left;
    size_t got = 0;
    int err = 0;
    for (block_t *b = st->reading; b && left > 0 && !err; b = b->next) {
        size_t want = left > BLOCK_SIZE ? BLOCK_SIZE : (size_t)left;
        b->len = 0;
        while (b->len < want) {
            ssize_t r = pread(st->fd, b->data + b->len, want - b->len, off);
            if (r > 0) {
                b->len += (size_t)r;
                off += r;
            } else if (r == 0) {
                err = UV_EOF; /* the file shrank below the announced length */
                break;
            } else if (errno != EINTR) {
                err = uv_translate_sys_error(errno);
                break;
            }
        }
        got += b->len;
        left -= (int64_t)b->len;
    }
    st->step_read = got;
    st->step_err = err;
}

static void file_read_after(uv_work_t *w, int status) {
    fh_stream_t *st = (fh_stream_t *)((char *)w - offsetof(fh_stream_t, work));
    fh_request_t *req = st->req;
    req->users++;
    st->busy = IDLE;
    block_t *b = st->reading;
    st->reading = NULL;
    if (status == 0 && !st->step_err) {
        st->off += (int64_t)st->step_read;
        st->left -= (int64_t)st->step_read;
    }
    /* The blocks read join the pending ones; empty ones go back. */
    while (b) {
        block_t *next = b->next;
        b->next = NULL;
        if (b->len && status == 0 && !st->step_err) {
            st->buffered += b->len;
            if (st->pending_tail)
                st->pending_tail->next = b;
            else
                st->pending = b;
            st->pending_tail = b;
        } else {
            b->next = st->spare;
            st->spare = b;
            st->nspare++;
        }
        b = next;
    }
    if (stream_conn(st)) {
        req->ops->io_pending(req, -1);
        if (status != 0 || st->step_err)
            req->ops->abort(req);
        else
            stream_kick(st);
    }
    stream_maybe_finish(st);
    fh__request_unref(req);
}

/* Reads the next WRITE_BUFS blocks at most, for the write that follows. */
static void file_read_step(fh_stream_t *st) {
    fh_request_t *req = st->req;
    size_t want = (uint64_t)st->left > (uint64_t)WRITE_BUFS * BLOCK_SIZE
                      ? (size_t)WRITE_BUFS * BLOCK_SIZE
                      : (size_t)st->left;
    if (reserve(st, want + (st->pending_tail ? BLOCK_SIZE : 0)) != 0) {
        req->ops->abort(req);
        return;
    }
    block_t **tail = &st->reading;
    for (size_t n = 0; n < want; n += BLOCK_SIZE) {
        block_t *b = st->spare;
        st->spare = b->next;
        st->nspare--;
        b->next = NULL;
        b->len = 0;
        *tail = b;
        tail = &b->next;
    }
    if (uv_queue_work(&req->worker->loop, &st->work, file_read_work, file_read_after) != 0) {
        recycle(st, st->reading);
        st->reading = NULL;
        req->ops->abort(req);
        return;
    }
    st->busy = SENDING_FILE;
    req->ops->io_pending(req, +1);
}

/* Sends what the socket takes of the file with sendfile(2) on the loop,
 * once the head has left and while the pages are in memory; when they may
 * not be, has the thread pool read them first. */
static void file_step(fh_stream_t *st) {
    fh_request_t *req = st->req;
    if (st->left <= 0 || st->no_body)
        return;
    int sock = st->file_copy ? FH_ENOTSUP : req->ops->socket_fd(req);
    if (sock == FH_ENOTSUP) {
        st->file_copy = true; /* TLS: every byte goes through the transport */
        file_read_step(st);
        return;
    }
    if (sock < 0) {
        req->ops->abort(req);
        return;
    }
    fh__worker_t *w = req->worker;
    for (;;) {
        size_t want = (uint64_t)st->left > SENDFILE_STEP ? SENDFILE_STEP : (size_t)st->left;
        if (!st->warm && (w->server->sendfile_via_pool || !file_resident(st->fd, st->off, want))) {
            if (uv_queue_work(&w->loop, &st->work, file_work, file_after) != 0) {
                req->ops->abort(req);
                return;
            }
            FH__COUNT(w->stats.file_steps_pool);
            st->busy = SENDING_FILE;
            req->ops->io_pending(req, +1);
            return;
        }
        st->warm = false;
        FH__COUNT(w->stats.file_steps_loop);
        off_t off = (off_t)st->off;
        ssize_t r;
        do
            r = sendfile(sock, st->fd, &off, want);
        while (r < 0 && errno == EINTR);
        if (r > 0) {
            st->off += r;
            st->left -= r;
            if (st->left <= 0)
                return;
            if ((size_t)r == want)
                continue;    /* the socket may take more */
            st->warm = true; /* the rest of this step was just found in memory */
            file_wait(st);
            return;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            st->warm = true;
            file_wait(st);
            return;
        }
        req->ops->abort(req); /* an error, or the file shrank (r == 0) */
        return;
    }
}

/* ------------------------------------------------------------- the engine */

/* Moves pending blocks (and the head, first) into the write's buffers;
 * returns their count. */
static unsigned take_pending(fh_stream_t *st) {
    unsigned n = 0;
    if (!st->head_sent)
        st->bufs[n++] = st->req->res.out[0];
    block_t **tail = &st->inflight;
    while (st->pending && n < WRITE_BUFS) {
        block_t *b = st->pending;
        st->pending = b->next;
        b->next = NULL;
        *tail = b;
        tail = &b->next;
        st->bufs[n++] = uv_buf_init(b->data, (unsigned)b->len);
    }
    if (!st->pending)
        st->pending_tail = NULL;
    return n;
}

/* Writes while the stream may and has something to: what the socket takes
 * at once is done here, the rest completes in on_written. */
static void stream_kick(fh_stream_t *st) {
    fh_request_t *req = st->req;
    while (stream_conn(st) && st->active && st->busy == IDLE && !st->finished) {
        if (st->head_sent && st->body == BODY_FILE && !st->pending) {
            file_step(st);
            return;
        }
        bool file_follows = !st->head_sent && st->body == BODY_FILE && st->left > 0;
        unsigned n = take_pending(st);
        if (n == 0)
            return;
        fh__write_init(&st->wr, st->bufs, n, on_written);
        if (file_follows && !req->worker->server->sendfile_via_pool &&
            req->ops->socket_fd(req) >= 0) {
            size_t first = (uint64_t)st->left > SENDFILE_STEP ? SENDFILE_STEP : (size_t)st->left;
            st->warm = st->wr.more = file_resident(st->fd, st->off, first);
        }
        st->head_sent = true;
        int r = req->ops->write(req, &st->wr);
        if (r == 0) {
            st->busy = WRITING;
            return;
        }
        recycle(st, st->inflight);
        st->inflight = NULL;
        if (r < 0) {
            req->ops->abort(req);
            return;
        }
    }
}

/* A write was refused for a full buffer and enough has left since: the
 * owner may write again. Not called from inside the owner's own write. */
static void stream_drain_check(fh_stream_t *st) {
    if (st->want_drain && !st->ended && !st->canceled && st->buffered <= st->max_buffered / 2) {
        st->want_drain = false;
        if (st->on_drain)
            st->on_drain(st, st->data);
    }
}

/* Finishes the stream once it has ended, its bytes have left (or the client
 * is gone) and nothing is in flight: closes its handles, frees its blocks
 * and file descriptors, lets the connection go on and drops its hold. */
static void stream_maybe_finish(fh_stream_t *st) {
    if (st->finished || !st->ended || st->busy != IDLE)
        return;
    if (!st->canceled && (!st->head_sent || st->pending || (st->body == BODY_FILE && st->left > 0)))
        return;
    blocks_free(st->reading);
    st->reading = NULL;
    if (st->timer && !uv_is_closing((uv_handle_t *)st->timer))
        uv_close((uv_handle_t *)st->timer, on_handle_closed);
    if (st->handles)
        return; /* on_handle_closed comes back here */
    st->finished = true;
    blocks_free(st->pending);
    blocks_free(st->spare);
    st->pending = st->pending_tail = st->spare = NULL;
    if (st->fd >= 0 && st->fd_release)
        st->fd_release(st->fd_release_data);
    else if (st->fd >= 0)
        close(st->fd);
    fh_request_t *req = st->req;
    if (!st->canceled && req->conn)
        req->ops->stream_finished(req);
    fh__request_unref(req);
}

/* The protocol lets the stream write (res->activate). */
static void stream_activate(fh_request_t *req) {
    fh_stream_t *st = req->res.stream;
    req->users++; /* the drain callback may end the stream */
    st->active = true;
    stream_kick(st);
    stream_drain_check(st);
    stream_maybe_finish(st);
    fh__request_unref(req);
}

/* The client went away (a cancel hook): stop all I/O. */
static void stream_cancel(fh_request_t *req) {
    fh_stream_t *st = req->res.stream;
    st->canceled = true;
    st->active = false;
    recycle(st, st->pending);
    st->pending = st->pending_tail = NULL;
    if (st->timer)
        uv_timer_stop(st->timer);
    if (st->busy == WAITING_WRITABLE) {
        st->busy = IDLE; /* the closing connection dropped the wait */
    } else if (st->busy == SENDING_FILE) {
        uv_cancel((uv_req_t *)&st->work); /* file_after still comes */
    }
    /* A write in flight completes with FH_ECANCELED when the connection
     * closes. */
    stream_maybe_finish(st);
}

/* ------------------------------------------------------------- beginning */

/* Makes res a stream of the given body length (-1: chunked or
 * close-delimited) and serializes its head. The caller finishes setting the
 * stream up, then calls stream_start. */
static int stream_new(fh_response_t *res, fh_stream_t **out, size_t max_buffered, int64_t length) {
    fh_request_t *req = res->req;
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (res->flags & FH__RES_CANCELED)
        return FH_ECANCELED;
    if ((req->state != FH__RS_HANDLING && req->state != FH__RS_DEFERRED) || !req->conn)
        return FH_ESTATE;
    /* The body outlives the handler: so must the request's views. */
    int err = fh__request_pin(req);
    if (err)
        return err;
    fh_stream_t *st = fh_arena_calloc(req->arena, 1, sizeof(*st));
    if (!st)
        return FH_ENOMEM;
    st->req = req;
    st->fd = -1;
    st->max_buffered = max_buffered ? max_buffered : DEFAULT_MAX_BUFFERED;
    res->stream = st;
    res->stream_len = length;
    res->flags |= FH__RES_STREAM;
    if (fh__response_serialize(req) != 0) {
        res->flags &= ~(unsigned)FH__RES_STREAM;
        res->stream = NULL;
        return FH_ENOMEM;
    }
    res->activate = stream_activate;
    fh__request_on_cancel(req, &st->cancel_hook, stream_cancel);
    int status = res->status;
    st->no_body = req->method == FH_METHOD_HEAD || status < 200 || status == 204 || status == 304;
    st->body = length >= 0 ? BODY_FILE : (res->flags & FH__RES_CHUNKED) ? BODY_CHUNKED : BODY_CLOSE;
    *out = st;
    return 0;
}

/* The response is final: the stream joins its connection's write path. */
static void stream_start(fh_stream_t *st) {
    fh_request_t *req = st->req;
    req->res.flags |= FH__RES_FINAL;
    req->state = FH__RS_STREAMING;
    req->users++;
    req->ops->stream_started(req);
}

int fh_stream_begin(fh_response_t *res, fh_stream_t **out, const fh_stream_options_t *opts) {
    fh_stream_options_t o = { 0 };
    if (opts)
        o = *opts;
    fh_stream_t *st;
    int err = stream_new(res, &st, o.max_buffered, -1);
    if (err)
        return err;
    st->on_drain = o.on_drain;
    st->data = o.data;
    stream_start(st);
    *out = st;
    return 0;
}

int fh_stream_write(fh_stream_t *st, const void *data, size_t len) {
    bytes_arg_t b = { data, len };
    return stream_put(st, produce_bytes, &b);
}

int fh_stream_printf(fh_stream_t *st, const char *fmt, ...) {
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return FH_EINVAL;
    if ((size_t)n < sizeof(small))
        return fh_stream_write(st, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return FH_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int err = fh_stream_write(st, big, (size_t)n);
    free(big);
    return err;
}

int fh_stream_end(fh_stream_t *st) {
    if (st->ended)
        return FH_ESTATE;
    fh_request_t *req = st->req;
    req->users++;
    st->ended = true;
    if (st->timer)
        uv_timer_stop(st->timer);
    if (!st->canceled && !st->no_body && st->body == BODY_CHUNKED) {
        if (reserve(st, 5) == 0)
            append(st, "0\r\n\r\n", 5);
        else
            req->ops->abort(req); /* the body cannot be terminated */
    }
    stream_kick(st);
    stream_maybe_finish(st);
    fh__request_unref(req);
    return 0;
}

size_t fh_stream_buffered(const fh_stream_t *st) { return st->buffered; }

fh_response_t *fh_stream_response(fh_stream_t *st) { return &st->req->res; }

int fh_send_fd(fh_response_t *res, int fd, int64_t offset, int64_t length) {
    return fh__send_fd_held(res, fd, offset, length, NULL, NULL);
}

int fh__send_fd_held(fh_response_t *res, int fd, int64_t offset, int64_t length,
                     void (*release)(void *data), void *data) {
    if (fd < 0 || offset < 0 || length < 0 || offset > INT64_MAX - length ||
        (sizeof(off_t) < sizeof(int64_t) && offset + length > (int64_t)INT32_MAX))
        return FH_EINVAL;
    fh_stream_t *st;
    int err = stream_new(res, &st, 0, length);
    if (err)
        return err;
    st->fd = fd;
    st->fd_release = release;
    st->fd_release_data = data;
    st->off = offset;
    st->left = st->no_body ? 0 : length;
    st->ended = true; /* the file is the whole body */
    stream_start(st);
    return 0;
}

/* ---------------------------------------------------- Server-Sent Events */

static bool has_line_break(const char *s) { return s && strpbrk(s, "\r\n") != NULL; }

typedef struct sse_arg {
    const fh_sse_event_t *ev;
    const char *comment;
} sse_arg_t;

/* One field line: "name: value\n". */
static size_t sse_field(fh_stream_t *st, bool copy, const char *name, const char *v, size_t n) {
    size_t k = strlen(name);
    if (copy) {
        append(st, name, k);
        append(st, ": ", 2);
        append(st, v, n);
        append(st, "\n", 1);
    }
    return k + 2 + n + 1;
}

static size_t produce_sse(fh_stream_t *st, const void *arg, bool copy) {
    const sse_arg_t *a = arg;
    size_t len = 0;
    if (a->comment) {
        /* ": text\n\n" */
        len += sse_field(st, copy, "", a->comment, strlen(a->comment));
        if (copy)
            append(st, "\n", 1);
        return len + 1;
    }
    const fh_sse_event_t *ev = a->ev;
    if (ev->event)
        len += sse_field(st, copy, "event", ev->event, strlen(ev->event));
    if (ev->id)
        len += sse_field(st, copy, "id", ev->id, strlen(ev->id));
    if (ev->retry_ms) {
        char num[16];
        int k = snprintf(num, sizeof(num), "%u", (unsigned)ev->retry_ms);
        len += sse_field(st, copy, "retry", num, (size_t)k);
    }
    if (ev->data) {
        size_t n = ev->data_len ? ev->data_len : strlen(ev->data);
        const char *p = ev->data, *end = ev->data + n;
        for (;;) {
            const char *eol = p;
            while (eol < end && *eol != '\n' && *eol != '\r')
                eol++;
            len += sse_field(st, copy, "data", p, (size_t)(eol - p));
            if (eol == end)
                break;
            p = eol + 1 + (eol[0] == '\r' && eol + 1 < end && eol[1] == '\n');
            if (p == end)
                break; /* a trailing line break ends the last line */
        }
    }
    if (copy)
        append(st, "\n", 1); /* the blank line dispatches the event */
    return len + 1;
}

static void on_sse_tick(uv_timer_t *t) {
    fh_stream_t *st = t->data;
    if (!st->wrote)
        fh_sse_comment(st, "keep-alive"); /* a full buffer needs none */
    st->wrote = false;
}

int fh_sse_begin(fh_response_t *res, fh_stream_t **out, const fh_sse_options_t *opts) {
    fh_sse_options_t o = { 0 };
    if (opts)
        o = *opts;
    int err = fh_response_header_set(res, "Content-Type", "text/event-stream");
    if (!err)
        err = fh_response_header_set(res, "Cache-Control", "no-cache");
    if (!err)
        err = fh_response_header_set(res, "X-Accel-Buffering", "no");
    if (err)
        return err;
    fh_stream_t *st;
    err = stream_new(res, &st, o.max_buffered, -1);
    if (err)
        return err;
    st->on_drain = o.on_drain;
    st->data = o.data;
    fh_request_t *req = res->req;
    if (o.keepalive_ms >= 0) {
        uint64_t ms = o.keepalive_ms ? (uint64_t)o.keepalive_ms : SSE_KEEPALIVE_MS;
        uv_timer_t *t = fh_arena_alloc(req->arena, sizeof(*t));
        if (t && uv_timer_init(&req->worker->loop, t) == 0) {
            t->data = st;
            st->timer = t;
            st->handles++;
            uv_timer_start(t, on_sse_tick, ms, ms);
        }
        /* Without memory for a timer the stream simply has no keep-alive. */
    }
    stream_start(st);
    if (o.retry_ms) {
        fh_sse_event_t ev = { .retry_ms = o.retry_ms };
        fh_sse_send(st, &ev); /* the first write of an empty stream: taken */
    }
    *out = st;
    return 0;
}

int fh_sse_send(fh_stream_t *st, const fh_sse_event_t *ev) {
    if (!ev || has_line_break(ev->event) || has_line_break(ev->id))
        return FH_EINVAL;
    sse_arg_t a = { ev, NULL };
    return stream_put(st, produce_sse, &a);
}

int fh_sse_data(fh_stream_t *st, const char *event, const char *data) {
    fh_sse_event_t ev = { .event = event, .data = data };
    return fh_sse_send(st, &ev);
}

int fh_sse_comment(fh_stream_t *st, const char *text) {
    if (!text || has_line_break(text))
        return FH_EINVAL;
    sse_arg_t a = { NULL, text };
    return stream_put(st, produce_sse, &a);
}
