/* Internal: the request, as every layer of the core sees it, and how the
 * layers reach each other through it (request.c).
 *
 * Down: a request knows the protocol that carried it only through its ops
 * table (fh__request_ops_t), filled in by that protocol (http1.c today):
 * the response module, streams, offloads and takeovers call those, never a
 * connection function by name. Up: what the protocol must tell the layers
 * above (the client left; a stream may write; a takeover's socket is free)
 * goes through hooks those layers registered on the request or its
 * response: cancel hooks, the response's activate and handover functions.
 * Nothing below calls a module above by name. */
#ifndef FH_CORE_REQUEST_H
#define FH_CORE_REQUEST_H

#include <fasthttp.h>

#include "core/response.h"

typedef struct fh__conn fh__conn_t;
typedef struct fh__worker fh__worker_t;
typedef struct fh__write fh__write_t;

/* Request flags. */
enum {
    FH__REQ_KEEP_ALIVE = 1u << 0,
    FH__REQ_HEAD_DONE = 1u << 1, /* header section complete */
    FH__REQ_COMPLETE = 1u << 2,  /* message complete */
    FH__REQ_PINNED = 1u << 3,    /* bytes copied into the arena */
    FH__REQ_CONTINUE = 1u << 4,  /* 100 Continue owed before reading body */
    FH__REQ_UPGRADE = 1u << 5,
    FH__REQ_LINE_OK = 1u << 6,         /* request line complete and checked */
    FH__REQ_RELEASE_PENDING = 1u << 7, /* released by the connection, users remain */
    FH__REQ_CHUNKED = 1u << 8,         /* chunked body: framing checked by http1_parser.c */
    FH__REQ_LAST_CHUNK = 1u << 9,      /* the zero-size chunk was seen */
    FH__REQ_VERSION = 1u << 10,        /* version parsed and accepted */
    FH__REQ_OFFLOADED = 1u << 11,      /* offload.c's cancel hook is registered */
    FH__REQ_STREAM = 1u << 12,         /* the body streams to req->stream (body.h) */
};

/* A streamed body's state (body.h), in the request's arena. */
typedef struct fh__body_stream {
    uint64_t limit;    /* the route's max_bytes */
    uint64_t received; /* body bytes delivered so far */
    uint64_t declared; /* Content-Length, or UINT64_MAX when chunked */
    fh_body_fn fn;     /* set by fh_request_body_read */
    void *data;
    bool dispatched; /* the handler ran on the head */
    bool reading;    /* fn is set: body bytes may be parsed */
    bool paused;     /* fn returned FH_BODY_PAUSE */
    bool ended;      /* fn got the end or an error (or the body was left unread) */
} fh__body_stream_t;

/* Request states, as the protocol moves a request along. */
enum {
    FH__RS_PARSING,
    FH__RS_HANDLING,
    FH__RS_DEFERRED,
    FH__RS_READY,
    FH__RS_WRITING,
    FH__RS_STREAMING, /* a stream at (or waiting for) the head of the queue */
    /* The server's error_handler shapes a response the core produced:
     * defer, stream and takeover are refused (they check for
     * FH__RS_HANDLING). */
    FH__RS_CORE_ERROR
};

/* What the layers above a protocol may ask of it for one request. Every
 * function runs on the request's loop, and only while req->conn is set
 * (the client is still there). */
typedef struct fh__request_ops {
    /* The response is final (req->res.out holds its bytes): it leaves in
     * request order. Called by response.c from the handler or later. */
    void (*finished)(fh_request_t *req);
    /* The response became a stream (FH__RES_STREAM): its head and body
     * leave through write once the protocol calls res->activate. */
    void (*stream_started)(fh_request_t *req);
    /* Writes w's buffers (which stay valid until w->cb) after everything
     * the request's connection sent before; see fh__conn_write. */
    int (*write)(fh_request_t *req, fh__write_t *w);
    /* The socket's descriptor, for a stream that sends a file itself
     * (sendfile on the loop), or FH_ENOTSUP when the transport
     * cannot take bytes that did not pass through it. */
    int (*socket_fd)(fh_request_t *req);
    /* Calls cb(req) once the socket has room and every write before has
     * left (a stream that sendfile found full waits so); not called when
     * the connection goes first (the stream's cancel hook runs instead). */
    void (*wait_writable)(fh_request_t *req, void (*cb)(fh_request_t *req));
    /* I/O of the stream outside write (a file step) started (+1) or
     * ended (-1): it counts towards the write timeout. */
    void (*io_pending)(fh_request_t *req, int delta);
    /* The stream wrote its last byte: the next response may go. */
    void (*stream_finished)(fh_request_t *req);
    /* A write failed: the connection closes now; its other requests are
     * abandoned (their cancel hooks run). */
    void (*abort)(fh_request_t *req);
    /* The request (being handled) asks to take the connection over:
     * nothing after it is read or parsed. hand_over: the socket itself
     * will leave the connection (fh_request_takeover), which a transport
     * holding the byte stream's state (TLS) refuses with FH_ENOTSUP;
     * otherwise the connection stays and switches protocol (WebSocket),
     * on whatever transport it has. FH_ESTATE when it cannot. */
    int (*takeover_prepare)(fh_request_t *req, bool hand_over);
    /* The peer's address, read once per connection; NULL when unknown. */
    const struct sockaddr *(*peer)(const fh_request_t *req);
    /* The peer's verified certificate (an X509 *) when the transport has
     * one (TLS with client verification), else NULL. */
    void *(*peer_cert)(const fh_request_t *req);
    /* The protocol agreed on by ALPN ("http/1.1", static), NULL when none. */
    const char *(*alpn)(const fh_request_t *req);
    /* A streamed body may be parsed again (fn set, or no longer paused). */
    void (*body_resume)(fh_request_t *req);
} fh__request_ops_t;

struct fh_request {
    fh__conn_t *conn; /* NULL once the connection is gone */
    const fh__request_ops_t *ops;
    fh__worker_t *worker;
    fh_arena_t *arena;
    fh_request_t *next; /* in the protocol's response queue */
    fh_response_t res;
    unsigned flags;
    uint8_t method;  /* fh_method_t */
    uint8_t version; /* 10 or 11 */
    uint8_t state;   /* FH__RS_* */
    fh_str_t method_str, target, path, query, body;
    fh_str_t path_decoded;
    fh__header_t *headers;
    uint32_t nheaders, cap_headers;
    const fh_str_t *param_names, *param_values;
    size_t nparams;
    fh__slot_t *slots;
    fh__hook_t *done_hooks;
    /* Run when the client goes away while the response is in its owner's
     * hands (deferred or streaming), oldest first, before the user's
     * cancel callback: offloads not started are canceled, a stream stops. */
    fh__hook_t *cancel_hooks, *cancel_tail;
    const char *raw_begin, *raw_end; /* the request's bytes, head to body */
    uint64_t start_ns;
    size_t head_len;  /* bytes of the head, request line to empty line */
    size_t chunk_ext; /* chunk-extension bytes in the current chunk */
    /* Offset from raw_begin of the next chunk-size line (or, after the last
     * chunk, of the trailer section): offsets survive buffer moves. */
    size_t chunk_line;
    uint64_t id;            /* per-worker sequence number */
    const char *route;      /* the matched route's pattern (router-owned), or NULL */
    const char *trace_path; /* copy for FH_TRACE_ARENA */
    /* Holders besides the connection (offloads in flight, a stream, a
     * takeover): the arena is released when the connection is done with the
     * request and users is back to 0. */
    uint32_t users;
    struct fh__offload *offloads; /* in flight (offload.c) */
    /* The bytes read after a takeover request (copied into the arena), for
     * whoever takes the socket. */
    fh_str_t rest;
    fh__body_stream_t *stream; /* FH__REQ_STREAM only */
    /* Room for the first fields, so that a head with a few needs no
     * allocation for them (headers points here until it outgrows it).
     * Last: fh__request_new clears what comes before it. */
    fh__header_t header_space[8];
};

/* ---- lifetime ----
 * fh__request_new makes a request in a new arena of w's, carried by c
 * through ops; NULL when out of memory. fh__request_release is the
 * protocol's side: the request's arena goes when the protocol is done with
 * it and no user holds it. A user takes a hold with req->users++ and drops
 * it with fh__request_unref, which releases the request if the protocol had
 * already let go. fh__request_abandon is for a request whose client left:
 * a deferred or streamed one learns it (cancel hooks, then the user's
 * cancel callback) and is released when its owner ends it; any other is
 * released now (or when its last user lets go). */
fh_request_t *fh__request_new(fh__worker_t *w, fh__conn_t *c, const fh__request_ops_t *ops);
void fh__request_release(fh_request_t *req);
void fh__request_unref(fh_request_t *req);
void fh__request_abandon(fh_request_t *req);
/* Adds a cancel hook (node in the request's arena, filled in here). */
void fh__request_on_cancel(fh_request_t *req, fh__hook_t *node, void (*fn)(fh_request_t *req));

/* Runs the server's handler on req (state FH__RS_HANDLING) with its JSON
 * scope, and settles what it left: a failure without a final response
 * becomes a 500, a deferred response waits, anything else is ended. The
 * protocol learns of a final response through ops->finished. */
void fh__request_run_handler(fh_request_t *req);

/* Moves every view of req that points into [lo, hi) by delta bytes. */
void fh__request_rebase(fh_request_t *req, const char *lo, const char *hi, ptrdiff_t delta);
/* Copies the request's bytes into its arena so its views no longer depend
 * on the read buffer. Returns 0 or FH_ENOMEM. */
int fh__request_pin(fh_request_t *req);

/* The peer's address (see ops->peer), or NULL when the connection is gone
 * or the address cannot be read. Valid until the handler returns. */
const struct sockaddr *fh__request_peer(const fh_request_t *req);
/* The monotonic clock (uv_hrtime) for a done hook: the requests released
 * together after one write share one reading, the others each read it. */
uint64_t fh__request_done_ns(const fh_request_t *req);

/* Tells a streamed body's fn that it will not complete (status < 0), once;
 * nothing when it had no fn or has ended. */
void fh__body_stream_fail(fh_request_t *req, int status);

/* ---- inline reads for the built-in middleware ----
 *
 * The public accessors a middleware calls on every request, inline: the
 * same fields, without a call into another file. */
static inline fh_method_t fh__request_method_of(const fh_request_t *req) {
    return (fh_method_t)req->method;
}
static inline uint64_t fh__request_start_of(const fh_request_t *req) { return req->start_ns; }
static inline fh_str_t fh__request_target_of(const fh_request_t *req) { return req->target; }
/* fh_request_version, inline. */
static inline int fh__request_version_of(const fh_request_t *req) {
    return (req->flags & FH__REQ_VERSION) ? req->version : 0;
}
static inline const fh__header_t *fh__request_headers_of(const fh_request_t *req, size_t *n) {
    *n = req->nheaders;
    return req->headers;
}
/* The first request header called name (case-insensitive), as
 * fh_request_header, for a name whose length is known. */
static inline fh_str_t fh__request_header_find(const fh_request_t *req, fh_str_t name) {
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name.len == name.len && fh_str_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    return (fh_str_t){ NULL, 0 };
}
/* fh_request_on_done with the hook's storage supplied by the caller, which
 * must live as long as the request (the request's arena). Never fails. */
static inline void fh__request_on_done_node(fh_request_t *req, fh__hook_t *node,
                                            fh_request_done_fn fn, void *data) {
    node->fn = (void (*)(void))fn;
    node->data = data;
    node->next = req->done_hooks;
    req->done_hooks = node;
}
/* fh_request_set with the slot's storage supplied by the caller (used only
 * when key is not set yet), which must live as long as the request. Never
 * fails. */
static inline void fh__request_set_node(fh_request_t *req, fh__slot_t *node, const void *key,
                                        void *value) {
    for (fh__slot_t *s = req->slots; s; s = s->next) {
        if (s->key == key) {
            s->value = value;
            return;
        }
    }
    node->key = key;
    node->value = value;
    node->next = req->slots;
    req->slots = node;
}
/* fh_request_get, inline. */
static inline void *fh__request_get(const fh_request_t *req, const void *key) {
    for (const fh__slot_t *s = req->slots; s; s = s->next)
        if (s->key == key)
            return s->value;
    return NULL;
}
/* fh_alloc, inline when the arena's current chunk has room. */
static inline void *fh__alloc(fh_request_t *req, size_t size) {
    return fh__arena_alloc_fast(req->arena, size);
}

#endif
