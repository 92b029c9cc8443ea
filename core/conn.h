/* Internal: connections (conn.c).
 *
 * A connection is one accepted socket on a worker's loop: the socket's
 * poll handle, its transport (transport.h: how bytes move), its protocol
 * (what the bytes mean: http1.c today), the read buffer it keeps while a
 * protocol needs bytes kept, the queue of writes not yet taken by the
 * socket, its deadlines, and closing (at once, or lingering after an
 * error). It knows nothing of HTTP: everything it learns it hands to its
 * protocol through fh__protocol_t, and a protocol drives it through the
 * functions below.
 *
 * Everything here runs on the connection's loop thread.
 *
 * Buffers. A read lands in the loop's shared buffer (FH__LOOP_BUF_SIZE)
 * unless the connection holds bytes of its own (fh__conn_keep), in which
 * case it lands at their tail. When the bytes a protocol keeps move (the
 * buffer grows, or kept bytes move to its start), the protocol's rebase
 * runs so that views into them follow. An idle connection holds no buffer.
 */
#ifndef FH_CORE_CONN_H
#define FH_CORE_CONN_H

#include <fasthttp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/transport.h"

typedef struct fh__conn fh__conn_t;
typedef struct fh__worker fh__worker_t;
typedef struct fh__write fh__write_t;

/* ---------------------------------------------------------------- protocols */

/* What a connection's bytes mean. A new protocol is a file that fills in
 * this table. Every function runs on the loop, never re-entered for the
 * same connection from its own on_data. */
typedef struct fh__protocol {
    const char *name;
    /* Bytes of per-connection state, given zeroed to open (fh__conn_proto). */
    size_t data_size;
    /* The connection was opened with this protocol. Returns 0 or an error
     * (the connection is then closed). */
    int (*open)(fh__conn_t *c);
    /* The connection switched to this protocol from another one (an HTTP
     * Upgrade), with arg from the protocol that asked (fh__conn_switch).
     * Returns 0 or an error (the connection is then closed). NULL for a
     * protocol that is only ever the first. */
    int (*upgrade)(fh__conn_t *c, void *arg);
    /* Bytes arrived at [p, end): in the loop's buffer (valid only during
     * this call) or at the tail of what the protocol kept. Before it
     * returns, the protocol keeps what it still needs (fh__conn_keep) or
     * drops the connection's buffer (fh__conn_drop). */
    void (*on_data)(fh__conn_t *c, char *p, char *end);
    /* The peer closed its side: no more bytes will come. */
    void (*on_eof)(fh__conn_t *c);
    /* The read deadline the protocol set passed. */
    void (*on_timeout)(fh__conn_t *c);
    /* Kept bytes in [lo, hi) moved by delta: views into them must follow. */
    void (*rebase)(fh__conn_t *c, const char *lo, const char *hi, ptrdiff_t delta);
    /* The server is stopping: answer what was received and end; when
     * force, end now. */
    void (*stop)(fh__conn_t *c, bool force);
    /* The connection is closing (no more I/O): let go of everything in
     * flight. Queued writes are canceled after it returns. */
    void (*close)(fh__conn_t *c);
} fh__protocol_t;

/* ------------------------------------------------------------------ writes */

/* A write: buffers that leave in order after every write queued before.
 * The owner provides the record and the buffers and keeps both valid until
 * cb runs; the connection advances bufs and nbufs as bytes leave. cb runs
 * once, with 0 when every byte was taken by the socket, or a negative code
 * when the connection failed or closed first (FH_ECANCELED). */
typedef void (*fh__write_cb)(fh__conn_t *c, fh__write_t *w, int status);
struct fh__write {
    fh__write_t *next;
    fh__write_cb cb;
    uv_buf_t *bufs;
    unsigned nbufs;
    bool more; /* bytes follow at once by sendfile (see transport writev) */
};

/* Sets every field of w for a write of the nbufs buffers at bufs, cb run
 * once they have left; more is false. The caller owns w and the buffers
 * (see above). */
static inline void fh__write_init(fh__write_t *w, uv_buf_t *bufs, unsigned nbufs, fh__write_cb cb) {
    *w = (fh__write_t){ .cb = cb, .bufs = bufs, .nbufs = nbufs };
}

/* Called once the socket has room, with no write queued (see
 * fh__conn_wait_writable). */
typedef void (*fh__writable_cb)(fh__conn_t *c, void *data);

/* ------------------------------------------------------------- the record */

/* The connection's fields, here so that the accessors below are inline;
 * only conn.c writes them. */
typedef enum fh__conn_state {
    FH__CONN_OPEN,        /* bytes flow both ways */
    FH__CONN_READ_CLOSED, /* the peer closed its side; writes go on */
    FH__CONN_LINGERING,   /* our side shut: dropping what still arrives */
    FH__CONN_CLOSED,      /* the handle is closing */
} fh__conn_state_t;

struct fh__conn {
    uv_poll_t poll; /* first: the close callback frees the connection from it */
    uv_os_sock_t fd;
    uint8_t state;   /* fh__conn_state_t */
    bool read_on;    /* the protocol wants bytes */
    uint8_t events;  /* what the poll handle watches now */
    bool peer_known; /* peer holds the peer's address */
    bool may_hold;   /* the transport may hold bytes it read (pending) */
    fh__worker_t *w;
    fh__conn_t *prev, *next; /* the worker's connections */
    const fh__transport_t *transport;
    void *transport_data; /* the transport's own state (TLS), or NULL */
    const fh__protocol_t *protocol;
    char *buf;                      /* own buffer, only while bytes must be kept */
    size_t cap, len;                /* capacity and bytes held */
    size_t consumed;                /* bytes of buf the protocol has consumed */
    size_t keep_limit;              /* the most bytes buf may hold */
    fh__write_t *wq_head, *wq_tail; /* queued writes, oldest first */
    size_t wq_bytes;                /* bytes they still hold */
    size_t wq_seen;                 /* wq_bytes at the last progress check */
    uint32_t io_pending;            /* I/O outside the queue (file steps) */
    fh__writable_cb writable_cb;    /* waits for room (fh__conn_wait_writable) */
    void *writable_data;
    uint32_t discard_left;       /* bytes still dropped while lingering */
    uint64_t read_deadline;      /* loop ms, 0: none */
    uint64_t write_deadline;     /* loop ms, 0: none */
    uint64_t transport_deadline; /* loop ms, 0: none (a TLS handshake) */
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } peer; /* read once: middleware asks for it on every request */
    /* The protocol's state follows, aligned (fh__conn_proto). */
    _Alignas(16) char proto[];
};

/* --------------------------------------------------------------- lifetime */

/* Serves the connected stream socket fd (taken: closed on failure too) on
 * w's loop, from w's thread, with the given transport and protocol, and
 * starts reading. Returns 0, FH_ENOMEM or a libuv error. The listener opens
 * every accepted socket this way; the fuzzers drive the core through it
 * with one end of a socketpair. */
int fh__conn_open(fh__worker_t *w, uv_os_sock_t fd, const fh__transport_t *transport,
                  const fh__protocol_t *protocol);
/* Closes the connection now: the protocol lets go of its requests, queued
 * writes are canceled, and the socket is closed (unread bytes make the
 * kernel reset it). Safe to call again. */
void fh__conn_close(fh__conn_t *c);
/* Ends the connection without a reset: our side is shut (the peer reads
 * EOF after every byte written), and what the peer still sends is read and
 * dropped until it closes, max_bytes arrive or ms pass; then it closes.
 * Closes at once when the peer has closed already or writes are queued
 * (the caller lingers once they have left). */
void fh__conn_linger(fh__conn_t *c, uint32_t ms, size_t max_bytes);
/* Changes the connection's protocol: the current one lets go (close), its
 * state is cleared, the kept buffer dropped and to->upgrade(c, arg) runs;
 * then the bytes [p, end) that followed the switching message (which may
 * lie anywhere the caller keeps valid during the call) go to to->on_data.
 * to's data_size may not exceed the first protocol's (the state's room was
 * sized for it). Returns 0, FH_EINVAL (to does not fit or cannot be
 * switched to) or to->upgrade's error; the connection is closed on any
 * error. */
int fh__conn_switch(fh__conn_t *c, const fh__protocol_t *to, void *arg, const char *p,
                    const char *end);
/* Whether the connection is closing or closed. */
static inline bool fh__conn_closed(const fh__conn_t *c) { return c->state == FH__CONN_CLOSED; }
/* Whether our side is shut and what still arrives is being dropped: the
 * connection ends by itself (fh__conn_linger). */
static inline bool fh__conn_lingering(const fh__conn_t *c) {
    return c->state == FH__CONN_LINGERING;
}
/* Whether the peer closed its side (then no byte will arrive). */
static inline bool fh__conn_peer_done(const fh__conn_t *c) { return c->state != FH__CONN_OPEN; }
/* Whether bytes wait in the socket's receive queue now. */
bool fh__conn_input_waiting(const fh__conn_t *c);

/* The protocol's state (data_size bytes) and the connection's worker. */
static inline void *fh__conn_proto(const fh__conn_t *c) { return (void *)c->proto; }
static inline fh__worker_t *fh__conn_worker(const fh__conn_t *c) { return c->w; }
/* The socket's descriptor (for a takeover, or sendfile when the transport
 * can). */
static inline int fh__conn_socket_fd(const fh__conn_t *c) { return c->fd; }
/* The peer's address, read once; NULL when it cannot be read. */
const struct sockaddr *fh__conn_peer(fh__conn_t *c);

/* ------------------------------------------------------------------ reading */

/* Whether the protocol wants bytes now (reading pauses while it does not). */
void fh__conn_read(fh__conn_t *c, bool on);
/* Keeps [from, end) for later: p is the first byte not yet consumed, from
 * where the next on_data starts (see fh__conn_unconsumed). from may lie in
 * the loop's buffer or in the connection's own. Returns 0, or FH_ENOMEM
 * (the connection is closed). */
int fh__conn_keep(fh__conn_t *c, const char *from, const char *p, const char *end);
/* Frees the connection's buffer (nothing is kept). */
void fh__conn_drop(fh__conn_t *c);
/* The kept bytes not yet consumed, [*p, *end); false when there are none. */
bool fh__conn_unconsumed(fh__conn_t *c, char **p, char **end);
/* All the kept bytes, [*p, *end); false when there are none. */
bool fh__conn_kept(const fh__conn_t *c, const char **p, const char **end);
/* Whether p points into one of the buffers reads land in (their bytes are
 * reused or freed before a later write may finish). */
bool fh__conn_holds(const fh__conn_t *c, const void *p);
/* The most bytes the connection may keep; reading with a full buffer
 * closes it. */
void fh__conn_set_keep_limit(fh__conn_t *c, size_t max);

/* ------------------------------------------------------------------ writing */

/* Writes what the socket takes now of bufs when no write is queued.
 * Returns the bytes written (0 when a write is queued or the socket is
 * full) or a negative error (the caller closes). */
ssize_t fh__conn_try_write(fh__conn_t *c, const uv_buf_t *bufs, unsigned n);
/* Queues w (its buffers hold what is left to write, at least one). */
void fh__conn_queue(fh__conn_t *c, fh__write_t *w);
/* fh__conn_try_write, then fh__conn_queue of the rest. Returns 1 when every
 * byte left at once (w->cb is not called), 0 when queued, or a negative
 * error (nothing queued, cb not called). */
int fh__conn_write(fh__conn_t *c, fh__write_t *w);
/* Whether writes are queued. */
static inline bool fh__conn_writing(const fh__conn_t *c) { return c->wq_head != NULL; }
/* Calls cb(c, data) once, when the socket has room and no write is queued
 * (a stream sending a file itself waits so). One waiter at a time; a
 * connection that closes first never calls it. */
void fh__conn_wait_writable(fh__conn_t *c, fh__writable_cb cb, void *data);
/* I/O of the connection's outside the queue (a file sent by a thread-pool
 * job) started (+1) or ended (-1): it keeps the write deadline running, and
 * each start counts as progress. */
void fh__conn_io_pending(fh__conn_t *c, int delta);

/* ---------------------------------------------------------------- deadlines */

/* The protocol's read deadline, in loop milliseconds (uv_now), or 0 for
 * none; on_timeout runs once it has passed. The write deadline is the
 * connection's own: writes that make no progress for timeouts.write_ms
 * close it. */
void fh__conn_set_read_deadline(fh__conn_t *c, uint64_t at);
/* The read deadline set last (loop ms), 0 when none. */
uint64_t fh__conn_read_deadline(const fh__conn_t *c);
/* The transport's own deadline (a handshake must complete by it), in loop
 * milliseconds, or 0 for none; when it passes the connection closes,
 * counted as a timeout. */
void fh__conn_set_transport_deadline(fh__conn_t *c, uint64_t at);

/* --------------------------------------------------------- worker's side */

/* Checks every connection of w against its deadlines (the tick). */
void fh__conn_sweep(fh__worker_t *w);
/* Tells every connection of w that the server stops (see protocol stop). */
void fh__conn_stop_all(fh__worker_t *w, bool force);

#endif
