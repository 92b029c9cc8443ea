/* WebSocket (RFC 6455): the protocol of a connection after its upgrade.
 *
 * Reading. Frames are parsed straight from the bytes of a read: a frame
 * whose bytes are all there is unmasked in place and, when it is a whole
 * message, handed to on_message from where it lies (no copy). A frame cut
 * by the end of a read is kept by the connection (fh__conn_keep) until the
 * rest arrives, so the keep limit is the largest frame plus its head. The
 * fragments of a message are gathered in the handle's message buffer,
 * checked as UTF-8 one fragment at a time when the message is text.
 *
 * Streaming (on_message_part). A data frame's payload is unmasked and
 * handed on as far as each read brought it, its place in the frame (bytes
 * left, mask phase) kept in the handle; a compressed message is inflated
 * in steps of FH__WS_PART_MAX bytes (ws_deflate.c). Only a cut frame head
 * or control frame is kept between reads, so memory does not grow with
 * the message, which is bounded by max_streamed_message alone.
 *
 * Writing. A frame is the head on the stack and the caller's payload: the
 * socket takes them at once when it has room (no copy, no allocation);
 * what it does not take is copied into one heap record queued on the
 * connection. The queue's bytes are counted against max_queue.
 *
 * Closing. Either side sends a close frame and the other answers it; the
 * server ends the TCP connection (RFC 6455 7.1.1) by shutting its side and
 * lingering until the peer closes. A breach of the rules sends the close
 * code it deserves and ends the same way, reading nothing more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"
#include "core/websocket.h"
#include "core/worker.h"

#define WS_DEFAULT_MESSAGE (16u << 20)
#define WS_DEFAULT_QUEUE (1u << 20)
#define WS_DEFAULT_IDLE_MS 60000u
#define WS_DEFAULT_CLOSE_MS 5000u
#define WS_DEFAULT_PONG_MS 10000u
/* How long, and for how many bytes, a closed connection waits for the
 * peer to close its side. */
#define WS_LINGER_MS 2000u
#define WS_LINGER_BYTES (256u << 10)
/* A message buffer larger than this is freed after its message, so that
 * an idle connection does not hold a large one. */
#define WS_MSG_KEEP (64u << 10)
/* What a streaming connection may keep between reads: a cut frame head
 * or control frame (at most 139 bytes), and room for the read after it. */
#define WS_STREAM_KEEP (32u << 10)

static inline fh_ws_t *ws_of(const fh__conn_t *c) { return *(fh_ws_t **)fh__conn_proto(c); }

/* A queued frame: what the socket did not take, copied. */
typedef struct ws_out {
    fh__write_t w;
    fh_ws_t *ws;
    size_t bytes;
    uv_buf_t buf;
    char data[];
} ws_out_t;

/* ------------------------------------------------------------------ limits */

static int limit_refuse(char *msg, size_t cap, const char *field, unsigned long long value,
                        const char *why, unsigned long long bound) {
    if (msg && cap)
        snprintf(msg, cap, "fasthttp: ws.%s: %llu %s (%llu)", field, value, why, bound);
    return FH_ECONFIG;
}

int fh_ws_handlers_check(const fh_ws_handlers_t *h, char *msg, size_t cap) {
    if (!h)
        return FH_EINVAL;
    size_t message = h->max_message ? h->max_message : WS_DEFAULT_MESSAGE;
    uint64_t streamed = h->max_streamed_message ? h->max_streamed_message : FH_WS_DEFAULT_STREAMED;
    if (h->max_message > FH_WS_MAX_MESSAGE_LIMIT)
        return limit_refuse(msg, cap, "max_message", h->max_message, "is more than the limit",
                            FH_WS_MAX_MESSAGE_LIMIT);
    if (h->max_streamed_message && !h->on_message_part)
        return limit_refuse(msg, cap, "max_streamed_message", h->max_streamed_message,
                            "is set without on_message_part, which is", 0);
    if (h->max_streamed_message > FH_WS_MAX_STREAMED_LIMIT)
        return limit_refuse(msg, cap, "max_streamed_message", h->max_streamed_message,
                            "is more than the limit", FH_WS_MAX_STREAMED_LIMIT);
    if (h->on_message_part && h->max_frame > streamed)
        return limit_refuse(msg, cap, "max_frame", h->max_frame,
                            "is more than max_streamed_message", streamed);
    if (!h->on_message_part && h->max_frame > message)
        return limit_refuse(msg, cap, "max_frame", h->max_frame, "is more than max_message",
                            message);
    if (h->max_queue > FH_WS_MAX_QUEUE_LIMIT)
        return limit_refuse(msg, cap, "max_queue", h->max_queue, "is more than the limit",
                            FH_WS_MAX_QUEUE_LIMIT);
    if (h->deflate_threshold > message)
        return limit_refuse(msg, cap, "deflate_threshold", h->deflate_threshold,
                            "is more than max_message", message);
    if (h->close_ms > FH_WS_MAX_CLOSE_MS)
        return limit_refuse(msg, cap, "close_ms", h->close_ms, "is more than the limit",
                            FH_WS_MAX_CLOSE_MS);
    if (h->ping_ms > FH_WS_MAX_PING_MS)
        return limit_refuse(msg, cap, "ping_ms", h->ping_ms, "is more than the limit",
                            FH_WS_MAX_PING_MS);
    if (h->pong_ms > FH_WS_MAX_CLOSE_MS)
        return limit_refuse(msg, cap, "pong_ms", h->pong_ms, "is more than the limit",
                            FH_WS_MAX_CLOSE_MS);
    if (h->pong_ms && !h->ping_ms)
        return limit_refuse(msg, cap, "pong_ms", h->pong_ms, "is set without ping_ms, which is", 0);
    if (msg && cap)
        msg[0] = 0;
    return 0;
}

/* ---------------------------------------------------------------- lifetime */

fh_ws_t *fh__ws_new(const fh_ws_handlers_t *h, fh_request_t *req) {
    fh_ws_t *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return NULL;
    ws->h = h;
    ws->req = req;
    ws->w = req->worker;
    atomic_init(&ws->refs, 1);
    ws->max_message = h->max_message ? h->max_message : WS_DEFAULT_MESSAGE;
    ws->stream = h->on_message_part != NULL;
    ws->max_streamed = h->max_streamed_message ? h->max_streamed_message : FH_WS_DEFAULT_STREAMED;
    uint64_t frame_cap = ws->stream ? ws->max_streamed : ws->max_message;
    ws->max_frame = h->max_frame && h->max_frame < frame_cap ? h->max_frame : frame_cap;
    ws->max_queue = h->max_queue ? h->max_queue : WS_DEFAULT_QUEUE;
    ws->idle_ms = h->idle_ms ? h->idle_ms : WS_DEFAULT_IDLE_MS;
    ws->close_ms = h->close_ms ? h->close_ms : WS_DEFAULT_CLOSE_MS;
    ws->ping_ms = h->ping_ms;
    ws->pong_ms = h->pong_ms ? h->pong_ms : WS_DEFAULT_PONG_MS;
    ws->subprotocol = (fh_str_t){ ws->subprotocol_buf, 0 };
    return ws;
}

void fh__ws_free(fh_ws_t *ws) {
    free(ws->msg);
    ws->msg = NULL;
    fh__ws_deflate_free(ws);
    fh_ws_release(ws);
}

void fh_ws_hold(fh_ws_t *ws) { atomic_fetch_add_explicit(&ws->refs, 1, memory_order_relaxed); }

void fh_ws_release(fh_ws_t *ws) {
    if (atomic_fetch_sub_explicit(&ws->refs, 1, memory_order_acq_rel) == 1)
        free(ws);
}

/* ----------------------------------------------------- from other threads */

typedef struct ws_post {
    fh_ws_t *ws;
    fh_ws_kind_t kind;
    size_t len;
    char data[];
} ws_post_t;

static void ws_post_run(void *data) {
    ws_post_t *p = data;
    if (p->ws->c && p->ws->state == FH__WS_OPEN)
        fh_ws_send(p->ws, p->kind, p->data, p->len);
    fh_ws_release(p->ws);
    free(p);
}

int fh_ws_post(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len) {
    if (kind != FH_WS_TEXT && kind != FH_WS_BINARY)
        return FH_EINVAL;
    ws_post_t *p = malloc(sizeof(*p) + len);
    if (!p)
        return FH_ENOMEM;
    p->ws = ws;
    p->kind = kind;
    p->len = len;
    if (len)
        memcpy(p->data, msg, len);
    fh_ws_hold(ws);
    int err = fh__worker_post(ws->w, ws_post_run, p, false);
    if (err) {
        fh_ws_release(ws);
        free(p);
    }
    return err;
}

/* on_close, once. */
static void ws_notify(fh_ws_t *ws, int code, fh_str_t reason) {
    if (ws->notified || !ws->opened)
        return;
    ws->notified = true;
    if (ws->h->on_close)
        ws->h->on_close(ws, code, reason, ws->h->data);
}

static void ws_deadline(fh_ws_t *ws, uint32_t ms) {
    fh__conn_t *c = ws->c;
    if (ms == UINT32_MAX)
        fh__conn_set_read_deadline(c, 0);
    else
        fh__conn_set_read_deadline(c, uv_now(&fh__conn_worker(c)->loop) + ms);
}

/* While open: the deadline is the earlier of the idle limit (from the
 * last read) and, with server pings, the next ping or the pong's
 * deadline. */
static void ws_arm(fh_ws_t *ws) {
    if (!ws->ping_ms) {
        ws_deadline(ws, ws->idle_ms);
        return;
    }
    uint64_t at = ws->ping_at;
    if (ws->idle_ms != UINT32_MAX && ws->last_read + ws->idle_ms < at)
        at = ws->last_read + ws->idle_ms;
    fh__conn_set_read_deadline(ws->c, at ? at : 1);
}

/* ------------------------------------------------------------------ sending */

/* Frees the handle once nothing refers to it: the connection has gone,
 * no callback of its is running and no queued frame points to it. */
static void ws_maybe_free(fh_ws_t *ws) {
    if (!ws->c && !ws->busy && ws->nout == 0 && !ws->freed) {
        ws->freed = true;
        fh__ws_free(ws);
    }
}

/* Ends the connection once what is queued has left: our side is shut and
 * the peer's close is awaited (bounded), as RFC 6455 7.1.1 asks. */
static void ws_end(fh_ws_t *ws) {
    fh__conn_t *c = ws->c;
    if (!c || fh__conn_closed(c))
        return;
    if (fh__conn_writing(c)) {
        ws->end_pending = true;
        return;
    }
    fh__conn_linger(c, WS_LINGER_MS, WS_LINGER_BYTES);
}

static void on_out_written(fh__conn_t *c, fh__write_t *w, int status) {
    ws_out_t *o = (ws_out_t *)w;
    fh_ws_t *ws = o->ws;
    ws->queued -= o->bytes;
    ws->nout--;
    free(o);
    if (!ws->c) {
        ws_maybe_free(ws);
        return;
    }
    if (status < 0 || fh__conn_closed(c))
        return;
    if (ws->end_pending) {
        if (!fh__conn_writing(c))
            fh__conn_linger(c, WS_LINGER_MS, WS_LINGER_BYTES);
        return;
    }
    if (ws->queued == 0 && ws->want_drain && ws->state != FH__WS_DONE) {
        ws->want_drain = false;
        if (ws->h->on_drained)
            ws->h->on_drained(ws, ws->h->data);
    }
}

/* Sends one frame: head byte first, payload p (len bytes). last: the
 * connection ends once it has been written. */
static int ws_frame_send(fh_ws_t *ws, uint8_t first, const void *p, size_t len, bool last) {
    fh__conn_t *c = ws->c;
    if (!c || fh__conn_closed(c))
        return FH_ECANCELED;
    uint8_t head[FH__WS_HEAD_MAX];
    size_t hl = fh__ws_frame_head(head, first, len);
    uv_buf_t bufs[2] = { uv_buf_init((char *)head, (unsigned)hl),
                         uv_buf_init((char *)p, (unsigned)len) };
    size_t total = hl + len;
    ssize_t r = fh__conn_try_write(c, bufs, len ? 2 : 1);
    if (r < 0) {
        fh__conn_close(c);
        return (int)r;
    }
    if ((size_t)r == total) {
        if (last)
            ws_end(ws);
        return 0;
    }
    size_t left = total - (size_t)r;
    ws_out_t *o = malloc(sizeof(*o) + left);
    if (!o)
        return FH_ENOMEM;
    /* Copy what is left of the head, then of the payload. */
    size_t off = (size_t)r, n = 0;
    if (off < hl) {
        memcpy(o->data, head + off, hl - off);
        n = hl - off;
        off = 0;
    } else {
        off -= hl;
    }
    if (len)
        memcpy(o->data + n, (const char *)p + off, len - off);
    o->ws = ws;
    o->bytes = left;
    o->buf = uv_buf_init(o->data, (unsigned)left);
    fh__write_init(&o->w, &o->buf, 1, on_out_written);
    ws->queued += left;
    ws->nout++;
    fh__conn_queue(c, &o->w);
    if (last)
        ws_end(ws);
    return 0;
}

int fh_ws_send(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len) {
    if (kind != FH_WS_TEXT && kind != FH_WS_BINARY)
        return FH_EINVAL;
    if (!ws->c || ws->state != FH__WS_OPEN || fh__conn_closed(ws->c))
        return FH_ESTATE;
    if (ws->queued && ws->queued + len > ws->max_queue) {
        ws->want_drain = true;
        return FH_EAGAIN;
    }
    size_t threshold = ws->h->deflate_threshold ? ws->h->deflate_threshold : 256;
    if (ws->pmd && len >= threshold) {
        const void *z;
        size_t zlen;
        int err = fh__ws_deflate(ws, msg, len, &z, &zlen);
        if (err)
            return err;
        return ws_frame_send(ws, 0xc0 | (uint8_t)kind, z, zlen, false);
    }
    return ws_frame_send(ws, 0x80 | (uint8_t)kind, msg, len, false);
}

int fh_ws_ping(fh_ws_t *ws, const void *payload, size_t len) {
    if (len > 125)
        return FH_EINVAL;
    if (!ws->c || ws->state != FH__WS_OPEN || fh__conn_closed(ws->c))
        return FH_ESTATE;
    return ws_frame_send(ws, 0x80 | FH__WS_OP_PING, payload, len, false);
}

/* Sends a close frame with code (0: none) and reason; last: end once it
 * has left. */
static int ws_close_send(fh_ws_t *ws, unsigned code, const char *reason, size_t rlen, bool last) {
    uint8_t body[125];
    size_t n = 0;
    if (code) {
        body[0] = (uint8_t)(code >> 8);
        body[1] = (uint8_t)code;
        if (rlen > 123)
            rlen = 123;
        memcpy(body + 2, reason, rlen);
        n = 2 + rlen;
    }
    return ws_frame_send(ws, 0x80 | FH__WS_OP_CLOSE, body, n, last);
}

int fh_ws_close(fh_ws_t *ws, int code, const char *reason) {
    size_t rlen = reason ? strlen(reason) : 0;
    fh__utf8_t u = { 0 };
    if (code < 0 || !fh__ws_close_code_ok((unsigned)code) || rlen > 123 ||
        !fh__utf8_feed(&u, (const uint8_t *)reason, rlen) || !fh__utf8_complete(&u))
        return FH_EINVAL;
    if (!ws->c || ws->state != FH__WS_OPEN || fh__conn_closed(ws->c))
        return FH_ESTATE;
    ws->state = FH__WS_CLOSING;
    ws->close_code = (uint16_t)code;
    int err = ws_close_send(ws, (unsigned)code, reason, rlen, false);
    if (ws->c && !fh__conn_closed(ws->c))
        ws_deadline(ws, ws->close_ms);
    return err;
}

fh_str_t fh_ws_subprotocol(const fh_ws_t *ws) { return ws->subprotocol; }
size_t fh_ws_queued(const fh_ws_t *ws) { return ws->queued; }
void fh_ws_set_user(fh_ws_t *ws, void *user) { ws->user = user; }
void *fh_ws_user(const fh_ws_t *ws) { return ws->user; }

/* Fails the connection: the close frame with code goes out, the user
 * learns the code, and nothing more is read. */
static void ws_fail(fh_ws_t *ws, unsigned code) {
    bool was_open = ws->state == FH__WS_OPEN;
    ws->state = FH__WS_DONE;
    ws_notify(ws, (int)code, FH_STR_LIT(""));
    if (!ws->c || fh__conn_closed(ws->c))
        return;
    if (was_open)
        ws_close_send(ws, code, "", 0, true);
    else
        ws_end(ws);
}

/* ------------------------------------------------------------------ reading */

static void ws_deliver(fh_ws_t *ws, uint8_t kind, const void *p, size_t len) {
    if (ws->h->on_message)
        ws->h->on_message(ws, (fh_ws_kind_t)kind, p ? p : "", len, ws->h->data);
}

/* Appends a fragment to the message buffer. Returns 0 or a close code. */
static unsigned ws_append(fh_ws_t *ws, const uint8_t *p, size_t len) {
    if (len > ws->max_message - ws->msg_len)
        return 1009;
    if (len == 0)
        return 0;
    if (ws->msg_len + len > ws->msg_cap) {
        size_t cap = ws->msg_cap ? ws->msg_cap : 4096;
        while (cap < ws->msg_len + len)
            cap *= 2;
        if (cap > ws->max_message)
            cap = ws->max_message;
        char *m = realloc(ws->msg, cap);
        if (!m)
            return 1011; /* internal error: out of memory */
        ws->msg = m;
        ws->msg_cap = cap;
    }
    memcpy(ws->msg + ws->msg_len, p, len);
    ws->msg_len += len;
    return 0;
}

static void ws_message_reset(fh_ws_t *ws) {
    ws->in_message = false;
    ws->msg_len = 0;
    memset(&ws->utf8, 0, sizeof(ws->utf8));
    if (ws->msg_cap > WS_MSG_KEEP) {
        free(ws->msg);
        ws->msg = NULL;
        ws->msg_cap = 0;
    }
}

static void ws_on_close_frame(fh_ws_t *ws, uint8_t *p, size_t len) {
    unsigned code = FH_WS_NO_STATUS;
    fh_str_t reason = FH_STR_LIT("");
    if (len == 1) {
        ws_fail(ws, 1002);
        return;
    }
    if (len >= 2) {
        code = (unsigned)p[0] << 8 | p[1];
        if (!fh__ws_close_code_ok(code)) {
            ws_fail(ws, 1002);
            return;
        }
        fh__utf8_t u = { 0 };
        if (!fh__utf8_feed(&u, p + 2, len - 2) || !fh__utf8_complete(&u)) {
            ws_fail(ws, 1007);
            return;
        }
        reason = (fh_str_t){ (const char *)p + 2, len - 2 };
    }
    if (ws->state == FH__WS_CLOSING) {
        /* The answer to ours: both have been said. */
        ws->state = FH__WS_DONE;
        ws_notify(ws, ws->close_code, FH_STR_LIT(""));
        ws_end(ws);
        return;
    }
    ws->state = FH__WS_DONE;
    ws_notify(ws, (int)code, reason);
    if (ws->c && !fh__conn_closed(ws->c))
        ws_close_send(ws, code == FH_WS_NO_STATUS ? 0 : code, "", 0, true);
}

/* One whole frame (payload unmasked at p). */
static void ws_on_frame(fh_ws_t *ws, const fh__ws_frame_t *f, uint8_t *p) {
    size_t len = (size_t)f->len;
    switch (f->opcode) {
    case FH__WS_OP_PING:
        if (ws->state == FH__WS_OPEN)
            ws_frame_send(ws, 0x80 | FH__WS_OP_PONG, p, len, false);
        return;
    case FH__WS_OP_PONG:
        if (ws->ping_out) {
            ws->ping_out = false;
            ws->ping_at = uv_now(&ws->w->loop) + ws->ping_ms;
        }
        return;
    case FH__WS_OP_CLOSE: ws_on_close_frame(ws, p, len); return;
    default: break;
    }
    if (ws->state != FH__WS_OPEN)
        return; /* data after our close frame is dropped (RFC 6455 1.4) */
    if (f->opcode != FH__WS_OP_CONT) {
        ws->msg_kind = f->opcode;
        ws->msg_compressed = f->rsv & 4;
        if (!ws->msg_compressed && len > ws->max_message) {
            ws_fail(ws, 1009);
            return;
        }
        memset(&ws->utf8, 0, sizeof(ws->utf8));
    }
    bool text = ws->msg_kind == FH__WS_OP_TEXT;
    if (ws->msg_compressed) {
        /* Inflated into the message buffer, checked as it comes out. */
        size_t before = ws->msg_len;
        unsigned code = fh__ws_inflate(ws, p, len, f->fin);
        size_t grown = ws->msg_len - before;
        if (!code && text &&
            ((grown && !fh__utf8_feed(&ws->utf8, (const uint8_t *)ws->msg + before, grown)) ||
             (f->fin && !fh__utf8_complete(&ws->utf8))))
            code = 1007;
        if (code) {
            ws_fail(ws, code);
            return;
        }
        ws->in_message = !f->fin;
        if (f->fin) {
            ws_deliver(ws, ws->msg_kind, ws->msg, ws->msg_len);
            ws->msg_compressed = false;
            ws_message_reset(ws);
        }
        return;
    }
    if (text && (!fh__utf8_feed(&ws->utf8, p, len) || (f->fin && !fh__utf8_complete(&ws->utf8)))) {
        ws_fail(ws, 1007);
        return;
    }
    if (f->fin && !ws->in_message) {
        ws_deliver(ws, ws->msg_kind, p, len);
        return;
    }
    unsigned code = ws_append(ws, p, len);
    if (code) {
        ws_fail(ws, code);
        return;
    }
    ws->in_message = true;
    if (f->fin) {
        ws_deliver(ws, ws->msg_kind, ws->msg, ws->msg_len);
        ws_message_reset(ws);
    }
}

static bool ws_live(const fh_ws_t *ws) {
    return ws->c && !fh__conn_closed(ws->c) && ws->state != FH__WS_DONE;
}

/* ---------------------------------------------------------------- streaming */

bool fh__ws_receiving(const fh_ws_t *ws) { return ws_live(ws) && ws->state == FH__WS_OPEN; }

unsigned fh__ws_part(fh_ws_t *ws, const uint8_t *p, size_t n, bool last) {
    bool text = ws->msg_kind == FH__WS_OP_TEXT;
    if (n > ws->max_streamed - ws->msg_total)
        return 1009;
    ws->msg_total += n;
    if (text && ((n && !fh__utf8_feed(&ws->utf8, p, n)) || (last && !fh__utf8_complete(&ws->utf8))))
        return 1007;
    if (n == 0 && !last)
        return 0;
    bool first = !ws->part_sent;
    ws->part_sent = true;
    if (last) {
        /* The next frame may start a message; this one is over whatever
         * the callback does. */
        ws->in_message = false;
        ws->msg_compressed = false;
    }
    ws->h->on_message_part(ws, (fh_ws_kind_t)ws->msg_kind, n ? (const void *)p : "", n, first, last,
                           ws->h->data);
    return 0;
}

/* Bytes [p, p + n) of the data frame being read, unmasked; fin: they end
 * their message. */
static void ws_stream_bytes(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    if (ws->state != FH__WS_OPEN)
        return; /* data after our close frame is dropped (RFC 6455 1.4) */
    unsigned code =
        ws->msg_compressed ? fh__ws_inflate_parts(ws, p, n, fin) : fh__ws_part(ws, p, n, fin);
    if (code)
        ws_fail(ws, code);
}

/* The streaming reader: a data frame's payload is handed on as far as it
 * has arrived, so that only a frame head or a control frame cut by the
 * end of a read is ever kept. Returns where it stopped. */
static uint8_t *ws_stream_data(fh_ws_t *ws, uint8_t *p, uint8_t *end) {
    while (p < end && ws_live(ws)) {
        if (ws->frame_left) {
            size_t n = (size_t)(end - p);
            if (n > ws->frame_left)
                n = (size_t)ws->frame_left;
            fh__ws_unmask(p, n, ws->frame_mask, ws->frame_phase);
            ws->frame_phase = (uint8_t)((ws->frame_phase + n) & 3);
            ws->frame_left -= n;
            uint8_t *at = p;
            p += n;
            ws_stream_bytes(ws, at, n, ws->frame_fin && ws->frame_left == 0);
            continue;
        }
        fh__ws_frame_t f;
        int r = fh__ws_frame_read(p, (size_t)(end - p), &f);
        if (r < 0) {
            ws_fail(ws, 1002);
            break;
        }
        if (r == 0)
            break;
        int code = fh__ws_frame_check(&f, ws->in_message, ws->pmd != NULL, ws->frame_limit);
        bool control = f.opcode & 8;
        if (!code && !control) {
            bool cont = f.opcode == FH__WS_OP_CONT;
            bool compressed = cont ? ws->msg_compressed : (f.rsv & 4) != 0;
            uint64_t total = cont ? ws->msg_total : 0;
            /* Uncompressed, the frame's length says at once whether the
             * message passes the limit; inflated bytes are counted as
             * they come out. */
            if (!compressed && f.len > ws->max_streamed - total)
                code = 1009;
        }
        if (code) {
            ws_fail(ws, (unsigned)code);
            break;
        }
        if (control) {
            if ((uint64_t)(end - p) - f.head_len < f.len)
                break; /* kept whole: at most 125 bytes */
            uint8_t *payload = p + f.head_len;
            fh__ws_unmask(payload, (size_t)f.len, f.mask, 0);
            p = payload + f.len;
            ws_on_frame(ws, &f, payload);
            continue;
        }
        p += f.head_len;
        if (f.opcode != FH__WS_OP_CONT && ws->state == FH__WS_OPEN) {
            ws->msg_kind = f.opcode;
            ws->msg_compressed = f.rsv & 4;
            ws->msg_total = 0;
            ws->part_sent = false;
            ws->in_message = true;
            memset(&ws->utf8, 0, sizeof(ws->utf8));
        }
        ws->frame_left = f.len;
        ws->frame_fin = f.fin;
        ws->frame_phase = 0;
        memcpy(ws->frame_mask, f.mask, 4);
        if (f.len == 0)
            ws_stream_bytes(ws, p, 0, f.fin);
    }
    return p;
}

static void ws_on_data(fh__conn_t *c, char *cp, char *cend) {
    fh_ws_t *ws = ws_of(c);
    uint8_t *p = (uint8_t *)cp, *end = (uint8_t *)cend;
    if (ws->state == FH__WS_DONE) {
        fh__conn_drop(c);
        return;
    }
    ws->busy = true;
    if (ws->stream)
        p = ws_stream_data(ws, p, end);
    while (!ws->stream && p < end && ws_live(ws)) {
        fh__ws_frame_t f;
        int r = fh__ws_frame_read(p, (size_t)(end - p), &f);
        if (r < 0) {
            ws_fail(ws, 1002);
            break;
        }
        if (r == 0)
            break;
        int code = fh__ws_frame_check(&f, ws->in_message, ws->pmd != NULL, ws->frame_limit);
        if (!code && f.opcode == FH__WS_OP_CONT && !ws->msg_compressed &&
            f.len > ws->max_message - ws->msg_len)
            code = 1009;
        if (code) {
            ws_fail(ws, (unsigned)code);
            break;
        }
        if ((uint64_t)(end - p) - f.head_len < f.len)
            break; /* the rest of the frame is on its way */
        uint8_t *payload = p + f.head_len;
        fh__ws_unmask(payload, (size_t)f.len, f.mask, 0);
        p = payload + f.len;
        ws_on_frame(ws, &f, payload);
    }
    ws->busy = false;
    if (!ws->c) {
        ws_maybe_free(ws); /* the connection closed under a callback */
        return;
    }
    if (fh__conn_closed(c))
        return;
    if (ws_live(ws) && p < end)
        fh__conn_keep(c, (char *)p, (char *)p, (char *)end);
    else
        fh__conn_drop(c);
    if (ws_live(ws) && ws->state == FH__WS_OPEN) {
        ws->last_read = uv_now(&ws->w->loop);
        ws_arm(ws);
    }
}

/* ---------------------------------------------------------- protocol table */

static int ws_upgrade(fh__conn_t *c, void *arg) {
    fh_ws_t *ws = arg;
    *(fh_ws_t **)fh__conn_proto(c) = ws;
    ws->c = c;
    ws->opened = true;
    /* A compressed frame may exceed max_frame by what deflate adds to data
     * it cannot shrink (stored blocks: 5 bytes per 64 KiB); the inflated
     * message is bounded by max_message as it comes out. */
    ws->frame_limit = ws->max_frame;
    if (ws->pmd)
        ws->frame_limit += (ws->max_frame >> 8) + 1024;
    /* A frame cut by the end of a read is kept whole; streaming keeps only
     * a frame head or a control frame. */
    fh__conn_set_keep_limit(c, ws->stream ? WS_STREAM_KEEP
                                          : (size_t)ws->frame_limit + FH__WS_HEAD_MAX + 4096);
    fh__conn_read(c, true);
    ws->last_read = uv_now(&ws->w->loop);
    ws->ping_at = ws->last_read + ws->ping_ms;
    ws_arm(ws);
    fh_request_t *req = ws->req;
    ws->req = NULL;
    if (ws->h->on_open) {
        ws->busy = true;
        int code = ws->h->on_open(ws, req, ws->h->data);
        ws->busy = false;
        if (!ws->c) {
            ws_maybe_free(ws);
            return 0;
        }
        if (code && ws->state == FH__WS_OPEN) {
            if (code < 1000 || code > 4999 || !fh__ws_close_code_ok((unsigned)code))
                code = 1011;
            fh_ws_close(ws, code, "");
        }
    }
    return 0;
}

static int ws_open(fh__conn_t *c) {
    (void)c;
    return FH_EINVAL; /* only ever reached through an upgrade */
}

static void ws_on_eof(fh__conn_t *c) {
    fh_ws_t *ws = ws_of(c);
    ws->state = FH__WS_DONE;
    fh__conn_close(c);
}

static void ws_on_timeout(fh__conn_t *c) {
    fh_ws_t *ws = ws_of(c);
    if (ws->state == FH__WS_OPEN && ws->ping_ms) {
        uint64_t now = uv_now(&ws->w->loop);
        bool idle = ws->idle_ms != UINT32_MAX && now >= ws->last_read + ws->idle_ms;
        if (!idle && now >= ws->ping_at) {
            if (ws->ping_out) {
                FH__COUNT(fh__conn_worker(c)->stats.timeouts);
                ws_fail(ws, 1011); /* no pong in time */
                return;
            }
            /* A ping that cannot leave now (the queue is full) waits for
             * the next interval. */
            if (ws_frame_send(ws, 0x80 | FH__WS_OP_PING, NULL, 0, false) == 0) {
                ws->ping_out = true;
                ws->ping_at = now + ws->pong_ms;
            } else {
                ws->ping_at = now + ws->ping_ms;
            }
            if (ws->c && !fh__conn_closed(c))
                ws_arm(ws);
            return;
        }
        if (!idle) {
            ws_arm(ws);
            return;
        }
    }
    FH__COUNT(fh__conn_worker(c)->stats.timeouts);
    if (ws->state == FH__WS_OPEN && !fh__conn_writing(c)) {
        /* Idle: say so, then wait for the answer as after any close. */
        ws->close_code = FH_WS_GOING_AWAY;
        ws->state = FH__WS_CLOSING;
        ws_close_send(ws, FH_WS_GOING_AWAY, "idle", 4, false);
        if (!fh__conn_closed(c))
            ws_deadline(ws, ws->close_ms);
        return;
    }
    fh__conn_close(c);
}

static void ws_rebase(fh__conn_t *c, const char *lo, const char *hi, ptrdiff_t delta) {
    /* Nothing points into kept bytes between reads. */
    (void)c, (void)lo, (void)hi, (void)delta;
}

static void ws_stop(fh__conn_t *c, bool force) {
    fh_ws_t *ws = ws_of(c);
    if (force || ws->state != FH__WS_OPEN) {
        fh__conn_close(c);
        return;
    }
    ws->close_code = FH_WS_GOING_AWAY;
    ws->state = FH__WS_CLOSING;
    ws_close_send(ws, FH_WS_GOING_AWAY, "server stopping", 15, false);
    if (!fh__conn_closed(c))
        ws_deadline(ws, ws->close_ms < 1000 ? ws->close_ms : 1000);
}

static void ws_close(fh__conn_t *c) {
    fh_ws_t *ws = ws_of(c);
    if (!ws)
        return;
    ws_notify(ws, FH_WS_ABNORMAL, FH_STR_LIT(""));
    fh__ws_leave_all(ws);
    ws->c = NULL;
    *(fh_ws_t **)fh__conn_proto(c) = NULL;
    ws_maybe_free(ws);
}

const fh__protocol_t fh__ws_protocol = {
    .name = "websocket",
    .data_size = sizeof(fh_ws_t *),
    .open = ws_open,
    .upgrade = ws_upgrade,
    .on_data = ws_on_data,
    .on_eof = ws_on_eof,
    .on_timeout = ws_on_timeout,
    .rebase = ws_rebase,
    .stop = ws_stop,
    .close = ws_close,
};
