/* Internal layout of requests and responses, shared by the core files. */
#ifndef FH_CORE_REQUEST_H
#define FH_CORE_REQUEST_H

#include <fasthttp.h>

typedef struct fh_conn fh_conn_t;
typedef struct fh_worker fh_worker_t;

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
    FH_RES_FINAL = 1u << 0,    /* serialized, waiting to be written */
    FH_RES_DEFERRED = 1u << 1, /* handler returned without answering */
    FH_RES_RAW = 1u << 2,
    FH_RES_CLOSE = 1u << 3,    /* close the connection after this response */
    FH_RES_CANCELED = 1u << 4, /* the client went away */
    FH_RES_BODY_ARENA = 1u << 5, /* body is a growable arena buffer */
    FH_RES_NO_BODY = 1u << 6,  /* send headers only (HEAD) */
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
    uv_buf_t out[2]; /* serialized bytes: head (+ small body), large body */
    unsigned nout;
};

/* Request flags. */
enum {
    FH_REQ_KEEP_ALIVE = 1u << 0,
    FH_REQ_HEAD_DONE = 1u << 1,  /* header section complete */
    FH_REQ_COMPLETE = 1u << 2,   /* message complete */
    FH_REQ_PINNED = 1u << 3,     /* bytes copied into the arena */
    FH_REQ_CONTINUE = 1u << 4,   /* 100 Continue owed before reading body */
    FH_REQ_UPGRADE = 1u << 5,
    FH_REQ_HAS_HOST = 1u << 6,
};

/* Request states (conn.c). */
enum { FH_RS_PARSING, FH_RS_HANDLING, FH_RS_DEFERRED, FH_RS_READY, FH_RS_WRITING };

/* Parser state for header callbacks. */
enum { FH_HP_NONE, FH_HP_FIELD, FH_HP_VALUE_START, FH_HP_VALUE };

struct fh_request {
    fh_conn_t *conn;     /* NULL once the connection is gone */
    fh_worker_t *worker;
    fh_arena_t *arena;
    fh_request_t *next;  /* in the connection's response queue */
    fh_response_t res;
    unsigned flags;
    uint8_t method;      /* fh_method_t */
    uint8_t version;     /* 10 or 11 */
    uint8_t hstate;      /* FH_HP_* */
    uint8_t state;       /* FH_RS_* (conn.c) */
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
    size_t head_bytes;   /* bytes of the head seen so far */
    size_t chunk_ext;    /* chunk-extension bytes in the current chunk */
    uint64_t id;         /* per-worker sequence number */
    const char *trace_path; /* copy for FH_TRACE_ARENA */
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
/* Tells the connection that req's response is final (conn.c). */
void fh__conn_request_finished(fh_request_t *req);
/* Response state reset for a fresh request. */
void fh__response_init(fh_request_t *req);

#endif
