/* Connections: the socket's events, the read buffer, the write queue,
 * deadlines and closing (see conn.h). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/worker.h"

static void on_poll(uv_poll_t *p, int status, int events);

/* ------------------------------------------------------------- accessors */

void fh__conn_set_keep_limit(fh__conn_t *c, size_t max) { c->keep_limit = max; }
void fh__conn_set_read_deadline(fh__conn_t *c, uint64_t at) { c->read_deadline = at; }
uint64_t fh__conn_read_deadline(const fh__conn_t *c) { return c->read_deadline; }
void fh__conn_set_transport_deadline(fh__conn_t *c, uint64_t at) { c->transport_deadline = at; }

bool fh__conn_input_waiting(const fh__conn_t *c) {
    int n = 0;
    return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

const struct sockaddr *fh__conn_peer(fh__conn_t *c) {
    if (!c->peer_known) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0)
            return NULL;
        if (len > sizeof(c->peer))
            len = sizeof(c->peer);
        memset(&c->peer, 0, sizeof(c->peer));
        memcpy(&c->peer, &ss, len);
        c->peer_known = true;
    }
    return &c->peer.sa;
}

/* Makes the poll handle watch what the connection waits for: bytes while
 * the protocol wants them (or while lingering), room while writes are
 * queued. Unchanged events cost nothing. */
static void conn_watch(fh__conn_t *c) {
    if (c->state == FH__CONN_CLOSED)
        return;
    uint8_t ev = 0;
    if ((c->read_on && c->state == FH__CONN_OPEN) ||
        (c->state == FH__CONN_LINGERING && c->discard_left > 0))
        ev |= UV_READABLE;
    else if (c->state == FH__CONN_LINGERING)
        ev |= UV_DISCONNECT; /* past the bytes dropped: the peer's end only */
    if (c->wq_head || c->writable_cb)
        ev |= UV_WRITABLE;
    /* Bytes the transport holds (TLS records read ahead) wake nothing on
     * the socket: a writable socket (at once, as a rule) stands in. */
    else if (c->may_hold && (ev & UV_READABLE) && c->transport->pending(c))
        ev |= UV_WRITABLE;
    if (ev == c->events)
        return;
    c->events = ev;
    if (ev)
        uv_poll_start(&c->poll, ev, on_poll);
    else
        uv_poll_stop(&c->poll);
}

void fh__conn_read(fh__conn_t *c, bool on) {
    c->read_on = on;
    conn_watch(c);
}

/* ----------------------------------------------------------------- buffers */

bool fh__conn_holds(const fh__conn_t *c, const void *ptr) {
    const char *p = ptr, *lb = c->w->loop_buf;
    if (p >= lb && p < lb + FH__LOOP_BUF_SIZE)
        return true;
    return c->buf && p >= c->buf && p < c->buf + c->cap;
}

/* Replaces the buffer by one of ncap bytes holding [from, from + n), which
 * may lie in the old buffer or the loop's; the protocol's views follow. */
static int buf_move(fh__conn_t *c, const char *from, size_t n, size_t ncap) {
    char *nb = malloc(ncap);
    if (!nb)
        return FH_ENOMEM;
    memcpy(nb, from, n);
    c->protocol->rebase(c, from, from + n, nb - from);
    if (c->buf)
        free(c->buf);
    else
        FH__COUNT(c->w->stats.conn_buffers);
    c->buf = nb;
    c->cap = ncap;
    c->len = n;
    return 0;
}

int fh__conn_keep(fh__conn_t *c, const char *from, const char *p, const char *end) {
    size_t n = (size_t)(end - from);
    if (c->buf && from >= c->buf && from <= c->buf + c->len) {
        if (from != c->buf) {
            memmove(c->buf, from, n);
            c->protocol->rebase(c, from, end, c->buf - from);
        }
        c->len = n;
    } else {
        size_t want = n + 4096 < 16384 ? 16384 : n + 4096;
        if (buf_move(c, from, n, want) != 0) {
            fh__conn_close(c);
            return FH_ENOMEM;
        }
    }
    c->consumed = (size_t)(p - from);
    return 0;
}

void fh__conn_drop(fh__conn_t *c) {
    if (!c->buf)
        return;
    FH__COUNT_SUB(c->w->stats.conn_buffers, 1);
    free(c->buf);
    c->buf = NULL;
    c->cap = c->len = c->consumed = 0;
}

bool fh__conn_unconsumed(fh__conn_t *c, char **p, char **end) {
    if (!c->buf || c->consumed >= c->len)
        return false;
    *p = c->buf + c->consumed;
    *end = c->buf + c->len;
    return true;
}

bool fh__conn_kept(const fh__conn_t *c, const char **p, const char **end) {
    if (!c->buf || !c->len)
        return false;
    *p = c->buf;
    *end = c->buf + c->len;
    return true;
}

/* Where the next read lands: the tail of the own buffer (grown when little
 * room is left, up to keep_limit), else the loop's buffer. */
static bool read_room(fh__conn_t *c, char **base, size_t *len) {
    if (!c->buf) {
        *base = c->w->loop_buf;
        *len = FH__LOOP_BUF_SIZE;
        return true;
    }
    if (c->cap - c->len < 4096) {
        size_t ncap = c->cap * 2 < c->len + 16384 ? c->len + 16384 : c->cap * 2;
        if (ncap > c->keep_limit)
            ncap = c->keep_limit;
        if (ncap <= c->len || buf_move(c, c->buf, c->len, ncap) != 0)
            return false;
    }
    *base = c->buf + c->len;
    *len = c->cap - c->len;
    return true;
}

/* --------------------------------------------------------------- protocol */

int fh__conn_switch(fh__conn_t *c, const fh__protocol_t *to, void *arg, const char *p,
                    const char *end) {
    if (!to->upgrade || to->data_size > c->protocol->data_size) {
        fh__conn_close(c);
        return FH_EINVAL;
    }
    size_t room = c->protocol->data_size;
    c->protocol->close(c);
    fh__conn_drop(c);
    memset(c->proto, 0, room);
    c->protocol = to;
    c->read_deadline = 0;
    int err = to->upgrade(c, arg);
    if (err) {
        fh__conn_close(c);
        return err;
    }
    if (p < end && !fh__conn_closed(c))
        to->on_data(c, (char *)p, (char *)end);
    return 0;
}

/* ----------------------------------------------------------------- reading */

static void conn_on_readable(fh__conn_t *c) {
    if (c->state == FH__CONN_LINGERING) {
        char drop[4096];
        ssize_t n;
        /* A few reads per wakeup while the socket has more to drop. */
        for (int round = 0;; round++) {
            n = c->transport->read(c, drop, sizeof(drop));
            if (n != (ssize_t)sizeof(drop) || (size_t)n >= c->discard_left || round == 15)
                break;
            c->discard_left -= (uint32_t)n;
        }
        if (n == FH_EAGAIN)
            return;
        if (n <= 0) {
            fh__conn_close(c); /* the client is done (or gone) */
        } else if ((size_t)n >= c->discard_left) {
            /* Enough dropped: no more reading, but no close before the
             * deadline either. Closing with bytes unread resets the
             * connection, and the reset destroys the response in the
             * client's buffer if it has not read it yet (a fast client
             * still sending a large body can be that far behind). Not
             * read, it stops sending once the socket buffers fill, and
             * has the rest of the deadline to read the response; its
             * end (a FIN behind the unread bytes, or a reset) still ends
             * the connection at once (UV_DISCONNECT). */
            c->discard_left = 0;
            conn_watch(c);
        } else {
            c->discard_left -= (size_t)n;
        }
        return;
    }
    /* A transport holding bytes it took from the socket (TLS) is read
     * again at once: the socket will not say it is readable for them. */
    for (int round = 0; round < 16; round++) {
        char *base;
        size_t room;
        if (!read_room(c, &base, &room)) {
            fh__conn_close(c); /* the protocol's limit on kept bytes */
            return;
        }
        ssize_t n = c->transport->read(c, base, room);
        if (n == FH_EAGAIN) {
            if (c->may_hold)
                conn_watch(c); /* it holds nothing now */
            return;
        }
        if (n == 0) {
            c->state = FH__CONN_READ_CLOSED;
            conn_watch(c);
            c->protocol->on_eof(c);
            return;
        }
        if (n < 0) {
            fh__conn_close(c);
            return;
        }
        FH__COUNT_ADD(c->w->stats.bytes_in, (uint64_t)n);
        if (c->buf) {
            c->len += (size_t)n;
            c->protocol->on_data(c, c->buf + c->consumed, c->buf + c->len);
        } else {
            c->protocol->on_data(c, base, base + n);
        }
        if (!c->may_hold)
            return; /* the socket says when more comes */
        if (c->state != FH__CONN_OPEN || !c->read_on || !c->transport->pending(c))
            break;
    }
    /* What the transport holds now decides whether a writable socket
     * stands in for a readable one (conn_watch). */
    conn_watch(c);
}

/* ----------------------------------------------------------------- writing */

static size_t bufs_total(const uv_buf_t *b, unsigned n) {
    size_t t = 0;
    for (unsigned i = 0; i < n; i++)
        t += b[i].len;
    return t;
}

/* fh__conn_try_write of a write that may say more bytes follow. */
static ssize_t try_write_more(fh__conn_t *c, const uv_buf_t *bufs, unsigned n, bool more) {
    if (c->wq_head || c->state == FH__CONN_CLOSED)
        return c->state == FH__CONN_CLOSED ? FH_ECANCELED : 0;
    FH__COUNT(c->w->stats.writes);
    ssize_t r = c->transport->writev(c, bufs, n, more);
    if (r > 0)
        FH__COUNT_ADD(c->w->stats.bytes_out, (uint64_t)r);
    return r == FH_EAGAIN ? 0 : r;
}

ssize_t fh__conn_try_write(fh__conn_t *c, const uv_buf_t *bufs, unsigned n) {
    return try_write_more(c, bufs, n, false);
}

/* Drops the first k bytes of w's buffers. */
static void advance(fh__write_t *w, size_t k) {
    while (w->nbufs && k >= w->bufs[0].len) {
        k -= w->bufs[0].len;
        w->bufs++;
        w->nbufs--;
    }
    if (k) {
        w->bufs[0].base += k;
        w->bufs[0].len -= k;
    }
}

static void write_deadline_start(fh__conn_t *c) {
    if (!c->write_deadline) {
        c->write_deadline = uv_now(&c->w->loop) + c->w->server->cfg.timeouts.write_ms;
        c->wq_seen = c->wq_bytes;
    }
}

static void write_deadline_check_end(fh__conn_t *c) {
    if (!c->wq_head && !c->io_pending)
        c->write_deadline = 0;
}

void fh__conn_queue(fh__conn_t *c, fh__write_t *w) {
    w->next = NULL;
    if (c->wq_tail)
        c->wq_tail->next = w;
    else
        c->wq_head = w;
    c->wq_tail = w;
    c->wq_bytes += bufs_total(w->bufs, w->nbufs);
    write_deadline_start(c);
    conn_watch(c);
}

int fh__conn_write(fh__conn_t *c, fh__write_t *w) {
    if (c->wq_head) {
        fh__conn_queue(c, w); /* in order, even with no bytes */
        return 0;
    }
    size_t total = bufs_total(w->bufs, w->nbufs);
    ssize_t r = try_write_more(c, w->bufs, w->nbufs, w->more);
    if (r < 0)
        return (int)r;
    if ((size_t)r == total)
        return 1;
    advance(w, (size_t)r);
    fh__conn_queue(c, w);
    return 0;
}

/* The socket has room: queued writes go, oldest first; each finished one's
 * callback runs (and may close the connection). */
static void conn_on_writable(fh__conn_t *c) {
    while (c->wq_head) {
        fh__write_t *w = c->wq_head;
        FH__COUNT(c->w->stats.writes);
        ssize_t r = c->transport->writev(c, w->bufs, w->nbufs, w->more);
        if (r == FH_EAGAIN)
            break;
        if (r < 0) {
            fh__conn_close(c);
            return;
        }
        FH__COUNT_ADD(c->w->stats.bytes_out, (uint64_t)r);
        c->wq_bytes -= (size_t)r;
        advance(w, (size_t)r);
        if (w->nbufs)
            continue; /* a partial write: try again (writev took fewer bufs) */
        c->wq_head = w->next;
        if (!c->wq_head)
            c->wq_tail = NULL;
        write_deadline_check_end(c);
        w->cb(c, w, 0);
        if (c->state == FH__CONN_CLOSED)
            return;
    }
    conn_watch(c);
}

void fh__conn_wait_writable(fh__conn_t *c, fh__writable_cb cb, void *data) {
    c->writable_cb = cb;
    c->writable_data = data;
    conn_watch(c);
}

void fh__conn_io_pending(fh__conn_t *c, int delta) {
    c->io_pending = (uint32_t)((int64_t)c->io_pending + delta);
    if (delta > 0) {
        c->write_deadline = 0; /* a new step is progress */
        write_deadline_start(c);
    } else {
        write_deadline_check_end(c);
    }
}

/* ------------------------------------------------------------------ events */

static void on_poll(uv_poll_t *p, int status, int events) {
    fh__conn_t *c = (fh__conn_t *)p;
    if (status < 0) {
        fh__conn_close(c); /* an error on the socket (a reset) */
        return;
    }
    if ((events & UV_DISCONNECT) && c->state == FH__CONN_LINGERING && c->discard_left == 0) {
        fh__conn_close(c); /* the peer ended its side: it has read what it will */
        return;
    }
    if ((events & UV_WRITABLE) && c->wq_head) {
        conn_on_writable(c);
        if (c->state == FH__CONN_CLOSED)
            return;
    }
    if ((events & UV_WRITABLE) && !c->wq_head && c->writable_cb) {
        fh__writable_cb cb = c->writable_cb;
        c->writable_cb = NULL;
        cb(c, c->writable_data); /* usually waits again: the watch stays */
        if (c->state == FH__CONN_CLOSED)
            return;
        conn_watch(c);
    }
    if ((events & UV_READABLE) ||
        (c->may_hold && c->read_on && c->state == FH__CONN_OPEN && c->transport->pending(c)))
        conn_on_readable(c);
}

/* --------------------------------------------------------------- lifetime */

int fh__conn_open(fh__worker_t *w, uv_os_sock_t fd, const fh__transport_t *transport,
                  const fh__protocol_t *protocol) {
    fh__conn_t *c = calloc(1, sizeof(*c) + protocol->data_size);
    if (!c) {
        close(fd);
        return FH_ENOMEM;
    }
    int err = uv_poll_init_socket(&w->loop, &c->poll, fd);
    if (err) {
        free(c);
        close(fd);
        return err;
    }
    c->fd = fd;
    c->w = w;
    c->transport = transport;
    c->may_hold = transport->pending != NULL;
    c->protocol = protocol;
    c->keep_limit = SIZE_MAX;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails on Unix sockets */
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    fh__worker_conn_count(w, +1);
    FH__COUNT(w->stats.accepted);
    c->read_on = true;
    if (protocol->open(c) != 0 || (transport->open && transport->open(c) != 0)) {
        fh__conn_close(c);
        return 0; /* the socket was taken */
    }
    conn_watch(c);
    return 0;
}

static void on_closed(uv_handle_t *h) { free(h); }

void fh__conn_close(fh__conn_t *c) {
    if (c->state == FH__CONN_CLOSED)
        return;
    c->state = FH__CONN_CLOSED;
    c->writable_cb = NULL; /* its owner is told by the protocol's close */
    fh__worker_t *w = c->w;
    uv_close((uv_handle_t *)&c->poll, on_closed);
    c->protocol->close(c);
    /* Writes that never left: their owners let go. */
    while (c->wq_head) {
        fh__write_t *wr = c->wq_head;
        c->wq_head = wr->next;
        wr->cb(c, wr, FH_ECANCELED);
    }
    c->wq_tail = NULL;
    fh__conn_drop(c);
    if (c->transport->free)
        c->transport->free(c);
    /* The poll handle no longer watches the descriptor (uv_close removed
     * it from the loop at once), so it may close now. */
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    fh__worker_conn_count(w, -1);
}

void fh__conn_linger(fh__conn_t *c, uint32_t ms, size_t max_bytes) {
    if (c->state == FH__CONN_CLOSED || c->state == FH__CONN_LINGERING)
        return;
    if (c->state == FH__CONN_READ_CLOSED || c->wq_head || c->transport->shutdown(c) != 0) {
        fh__conn_close(c);
        return;
    }
    c->state = FH__CONN_LINGERING;
    c->discard_left = max_bytes < UINT32_MAX ? (uint32_t)max_bytes : UINT32_MAX;
    fh__conn_drop(c);
    c->read_deadline = uv_now(&c->w->loop) + ms;
    conn_watch(c);
}

/* -------------------------------------------------------------- the worker */

void fh__conn_sweep(fh__worker_t *w) {
    uint64_t now = uv_now(&w->loop);
    fh__conn_t *c = w->conns;
    while (c) {
        fh__conn_t *next = c->next;
        if (c->transport_deadline && now >= c->transport_deadline) {
            FH__COUNT(w->stats.timeouts);
            fh__conn_close(c);
        } else if (c->write_deadline && now >= c->write_deadline) {
            if (c->wq_bytes < c->wq_seen) {
                /* A slow reader that still reads: write_ms is the longest
                 * the queued bytes may stay without any of them leaving. */
                c->wq_seen = c->wq_bytes;
                c->write_deadline = now + w->server->cfg.timeouts.write_ms;
            } else {
                FH__COUNT(w->stats.timeouts);
                fh__conn_close(c);
            }
        } else if (c->read_deadline && now >= c->read_deadline) {
            c->read_deadline = 0;
            if (c->state == FH__CONN_LINGERING)
                fh__conn_close(c);
            else
                c->protocol->on_timeout(c);
        }
        c = next;
    }
}

void fh__conn_stop_all(fh__worker_t *w, bool force) {
    fh__conn_t *c = w->conns;
    while (c) {
        fh__conn_t *next = c->next;
        if (force)
            fh__conn_close(c);
        else if (c->state != FH__CONN_LINGERING)
            c->protocol->stop(c, false);
        c = next;
    }
}
