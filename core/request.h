/* Internal layout of requests and responses, shared by the core files. */
#ifndef FH_CORE_REQUEST_H
#define FH_CORE_REQUEST_H

#include <fasthttp.h>

typedef struct fh__conn fh__conn_t;
typedef struct fh__worker fh__worker_t;

typedef struct fh__header {
    fh_str_t name;
    fh_str_t value;
} fh__header_t;

typedef struct fh__hook {
    struct fh__hook *next;
    void (*fn)(void);
    void *data;
} fh__hook_t;

typedef struct fh__slot {
    struct fh__slot *next;
    const void *key;
    void *value;
} fh__slot_t;

/* Response flags. */
enum {
    FH__RES_FINAL = 1u << 0,    /* serialized, waiting to be written */
    FH__RES_DEFERRED = 1u << 1, /* handler returned without answering */
    FH__RES_RAW = 1u << 2,
    FH__RES_CLOSE = 1u << 3,      /* close the connection after this response */
    FH__RES_CANCELED = 1u << 4,   /* the client went away */
    FH__RES_BODY_ARENA = 1u << 5, /* body is a growable arena buffer */
    FH__RES_NO_BODY = 1u << 6,    /* send headers only (HEAD) */
    FH__RES_STREAM = 1u << 7,     /* body produced over time by stream.c */
    FH__RES_CHUNKED = 1u << 8,    /* stream framed with chunked coding */
    FH__RES_TAKEOVER = 1u << 9,   /* hand the connection over once written */
};

struct fh_response {
    fh_request_t *req;
    unsigned flags;
    int status;
    fh_str_t content_type;
    fh__header_t *headers;
    uint32_t nheaders, cap_headers;
    const char *body;
    size_t body_len, body_cap;
    fh__hook_t *commit_hooks;
    fh_response_cancel_fn cancel_fn;
    void *cancel_data;
    struct fh_stream *stream; /* FH__RES_STREAM (stream.c) */
    int64_t stream_len;       /* stream body length, or -1: chunked/close */
    uv_buf_t out[2];          /* serialized bytes: head (+ small body), large body */
    unsigned nout;
    /* Room for the first headers, so that a response with a few needs no
     * allocation for them (headers points here until it outgrows it).
     * Last: fh__response_init clears what comes before it. */
    fh__header_t header_space[4];
};

/* Request flags. */
enum {
    FH__REQ_KEEP_ALIVE = 1u << 0,
    FH__REQ_HEAD_DONE = 1u << 1, /* header section complete */
    FH__REQ_COMPLETE = 1u << 2,  /* message complete */
    FH__REQ_PINNED = 1u << 3,    /* bytes copied into the arena */
    FH__REQ_CONTINUE = 1u << 4,  /* 100 Continue owed before reading body */
    FH__REQ_UPGRADE = 1u << 5,
    FH__REQ_HAS_HOST = 1u << 6,
    FH__REQ_RELEASE_PENDING = 1u << 7, /* released by the connection, users remain */
    FH__REQ_CHUNKED = 1u << 8,         /* chunked body: framing checked by conn.c */
    FH__REQ_LAST_CHUNK = 1u << 9,      /* the zero-size chunk was seen */
    FH__REQ_VERSION = 1u << 10,        /* version parsed and accepted */
};

/* Request states (conn.c). */
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

/* Parser state for header callbacks. */
enum { FH__HP_NONE, FH__HP_FIELD, FH__HP_VALUE_START, FH__HP_VALUE };

struct fh_request {
    fh__conn_t *conn; /* NULL once the connection is gone */
    fh__worker_t *worker;
    fh_arena_t *arena;
    fh_request_t *next; /* in the connection's response queue */
    fh_response_t res;
    unsigned flags;
    uint8_t method;  /* fh_method_t */
    uint8_t version; /* 10 or 11 */
    uint8_t hstate;  /* FH__HP_* */
    uint8_t state;   /* FH__RS_* (conn.c) */
    fh_str_t method_str, target, path, query, body;
    fh_str_t path_decoded;
    fh__header_t *headers;
    uint32_t nheaders, cap_headers;
    const fh_str_t *param_names, *param_values;
    size_t nparams;
    fh__slot_t *slots;
    fh__hook_t *done_hooks;
    const char *raw_begin, *raw_end; /* the request's bytes, head to body */
    uint64_t start_ns;
    size_t head_len;      /* bytes of the head, request line to empty line */
    size_t trailer_bytes; /* bytes of trailer fields seen so far */
    uint32_t ntrailers;
    size_t chunk_ext; /* chunk-extension bytes in the current chunk */
    /* Offset from raw_begin of the next chunk-size line (or, after the last
     * chunk, of the trailer section): offsets survive buffer moves. */
    size_t chunk_line;
    uint64_t id;            /* per-worker sequence number */
    const char *trace_path; /* copy for FH_TRACE_ARENA */
    /* Holders besides the connection (offloads in flight, a stream, a
     * takeover): the arena is released when the connection is done with the
     * request and users is back to 0. */
    uint32_t users;
    struct fh__offload *offloads; /* in flight (offload.c) */
};

/* Moves every view of req that points into [lo, hi) by delta bytes. */
void fh__request_rebase(fh_request_t *req, const char *lo, const char *hi, ptrdiff_t delta);
/* Copies the request's bytes into its arena so its views no longer depend
 * on the read buffer. Returns 0 or FH_ENOMEM. */
int fh__request_pin(fh_request_t *req);
/* Serializes the response into req->res.out (runs commit hooks first).
 * keep_alive tells whether the connection stays open. */
int fh__response_serialize(fh_request_t *req);
/* Replaces anything built by a short text error response and serializes it
 * (the response is then final); close adds Connection: close. The commit
 * hooks registered so far run, so after-middleware sees the error. */
void fh__response_error(fh_request_t *req, int status, bool close);
/* The two halves of fh__response_error: prepare builds the text error
 * response without ending it (commit hooks stay), finalize serializes
 * whatever the builder holds (a static 500 when out of memory) and marks
 * it final without telling the connection. */
void fh__response_error_prepare(fh_request_t *req, int status, bool close);
void fh__response_finalize(fh_request_t *req);
/* Tells the connection that req's response is final (conn.c). */
void fh__conn_request_finished(fh_request_t *req);
/* Response state reset for a fresh request. */
void fh__response_init(fh_request_t *req);

/* ---- lifetime (conn.c) ----
 * fh__request_release is the connection's side: the request's arena goes
 * when the connection is done with it and no user holds it. A user takes a
 * hold with req->users++ and drops it with fh__request_unref, which releases
 * the request if the connection had already let go. */
void fh__request_release(fh_request_t *req);
void fh__request_unref(fh_request_t *req);

/* ---- hooks for stream.c and takeover.c (conn.c) ---- */
/* The connection's socket. */
uv_stream_t *fh__conn_stream(fh__conn_t *c);
/* A stream started (+1) or finished (-1) a write or sendfile step: counts
 * towards the write timeout and refreshes it. */
void fh__conn_write_pending(fh__conn_t *c, int delta);
/* req became a stream: its head leaves when it reaches the queue's head. */
void fh__conn_stream_started(fh_request_t *req);
/* req's stream wrote its last byte: the connection goes on with the next
 * response (or closes). req must be at the head of the queue. */
void fh__conn_stream_finished(fh_request_t *req);
/* Closes the connection now (a write failed); its pending requests are
 * abandoned (deferred and streamed ones are canceled). */
void fh__conn_abort(fh__conn_t *c);
/* Stops reading and parsing: req (being handled) is the connection's last
 * request and will take the connection over. FH_ESTATE if it cannot. */
int fh__conn_takeover_prepare(fh_request_t *req);

/* ---- stream.c ---- */
/* The stream at the queue's head may write now. */
void fh__stream_activate(fh_request_t *req);
/* The client went away: stop all I/O of req's stream. */
void fh__stream_cancel(fh_request_t *req);

/* ---- offload.c ---- */
/* The client went away: work not yet started will not start. */
void fh__offload_cancel(fh_request_t *req);

/* ---- takeover.c ---- */
/* Keeps the n bytes read after the takeover request. */
void fh__takeover_keep(fh_request_t *req, const char *p, size_t n);
/* req's response is written: move the socket to the takeover's handle and
 * call its callback (before the connection closes its own handle). */
void fh__takeover_handover(fh_request_t *req, uv_tcp_t *from);
/* Server stop: closes every taken-over connection of the worker. */
void fh__takeover_close_all(fh__worker_t *w);

#endif
