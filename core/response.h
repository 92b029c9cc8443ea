/* Internal: the response being built for a request, and its serialization
 * into the request's arena (response.c, response_head.c). */
#ifndef FH_CORE_RESPONSE_H
#define FH_CORE_RESPONSE_H

#include <fasthttp.h>

#include "core/arena.h"
#include "core/str.h"

/* A header field: views whose storage the owner of the array vouches for. */
typedef struct fh__header {
    fh_str_t name;
    fh_str_t value;
} fh__header_t;

/* A callback in a list (done, commit and cancel hooks). */
typedef struct fh__hook {
    struct fh__hook *next;
    void (*fn)(void);
    void *data;
} fh__hook_t;

/* A per-request slot (fh_request_set). */
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
    /* An error the core answered: after it, the connection reads and drops
     * what the client still sends before it closes (see fh__conn_linger). */
    FH__RES_LINGER = 1u << 10,
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
    /* Set by stream.c: the protocol calls it when the stream may write
     * (it is at the head of its connection's queue). */
    void (*activate)(fh_request_t *req);
    /* Set by takeover.c: the protocol calls it once every byte before and
     * of this response has been written, with the socket's descriptor
     * (still the connection's: the callee duplicates it). */
    void (*handover)(fh_request_t *req, uv_os_sock_t fd);
    /* Set by an upgrade (websocket.c), with FH__RES_TAKEOVER: once every
     * byte before and of this response has been written, the connection
     * switches to this protocol (fh__conn_switch) with upgrade_arg, and
     * the bytes read after the request. */
    const struct fh__protocol *upgrade;
    void *upgrade_arg;
    uv_buf_t out[2]; /* serialized bytes: head (+ small body), large body */
    unsigned nout;
    /* Room for the first headers, so that a response with a few needs no
     * allocation for them (headers points here until it outgrows it).
     * Last: fh__response_init clears what comes before it. */
    fh__header_t header_space[4];
};

/* Response state reset for a fresh request. */
void fh__response_init(fh_request_t *req);
/* Serializes the response into req->res.out (runs commit hooks first).
 * Returns 0 or FH_ENOMEM. */
int fh__response_serialize(fh_request_t *req);
/* Replaces anything built by a short text error response and serializes it
 * (the response is then final); close adds Connection: close. The commit
 * hooks registered so far run, so after-middleware sees the error. */
void fh__response_error(fh_request_t *req, int status, bool close);
/* The two halves of fh__response_error: prepare builds the text error
 * response without ending it (commit hooks stay), finalize serializes
 * whatever the builder holds (a static 500 when out of memory) and marks
 * it final without telling the protocol. */
void fh__response_error_prepare(fh_request_t *req, int status, bool close);
void fh__response_finalize(fh_request_t *req);
/* Answers req with an error response of the core's own: the short text
 * answer, reshaped by the server's error_handler when there is one (see
 * server.h for what it may do). The response is final afterwards; the
 * caller tells the protocol. */
void fh__response_core_error(fh_request_t *req, int status, bool close);

/* ---- fast paths for the built-in middleware ----
 * Each does what a public call does, minus work its caller has already
 * done or does not need. */

/* Appends a header without checking or copying it: name must be a token
 * that fh_response_header_str would store as a field (not Content-Type nor a
 * field the core writes itself), value must hold no CR, LF or NUL, and both
 * must stay valid and unchanged until the response is serialized (static
 * text, the middleware's own configuration, or the request's arena).
 * Returns 0, FH_EALREADY_SENT or FH_ENOMEM. (Inline, below.) */
static inline int fh__response_header_add_view(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh__response_header_add_view when the inline room is used up or the
 * response is final. */
int fh__response_header_add_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value);
/* Whether a field called name is stored as one (true), or handled by the
 * core instead (Content-Type, Date, Connection, Content-Length,
 * Transfer-Encoding): only the former may go through the view calls. */
bool fh__response_header_plain(fh_str_t name);
/* Replaces the value of the first header called name, or appends it, under
 * the contract of fh__response_header_add_view. Later headers of the same
 * name are removed, as fh_response_header_set does. (Inline.) */
static inline int fh__response_header_set_view(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh__response_header_set_view when a field called name is there already. */
int fh__response_header_set_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh_response_on_commit with the hook's storage supplied by the caller,
 * which must live as long as the request. Returns 0 or FH_EALREADY_SENT.
 * (Inline.) */
static inline int fh__response_on_commit_node(fh_response_t *res, fh__hook_t *node,
                                              fh_response_hook_fn fn, void *data);

/* ---- inline reads ---- */
static inline bool fh__response_final(const fh_response_t *res) {
    return res->flags & FH__RES_FINAL;
}
static inline fh_request_t *fh__response_req(const fh_response_t *res) { return res->req; }
static inline int fh__response_status_of(const fh_response_t *res) { return res->status; }
static inline size_t fh__response_body_len(const fh_response_t *res) { return res->body_len; }
/* The index of the first response field called name, or nheaders. */
static inline uint32_t fh__response_header_index(const fh_response_t *res, fh_str_t name) {
    uint32_t i = 0;
    while (i < res->nheaders &&
           !(res->headers[i].name.len == name.len && fh_str_ieq(res->headers[i].name, name)))
        i++;
    return i;
}
/* The first response header called name (case-insensitive), as
 * fh_response_header_get, for a name whose length is known. */
static inline fh_str_t fh__response_header_find(const fh_response_t *res, fh_str_t name) {
    if (name.len == 12 && fh_str_ieq(name, FH_STR_LIT("content-type")))
        return res->content_type;
    uint32_t i = fh__response_header_index(res, name);
    return i < res->nheaders ? res->headers[i].value : (fh_str_t){ NULL, 0 };
}
static inline int fh__response_header_add_view(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if ((res->flags & FH__RES_FINAL) || res->nheaders == res->cap_headers)
        return fh__response_header_add_view_slow(res, name, value);
    res->headers[res->nheaders].name = name;
    res->headers[res->nheaders].value = value;
    res->nheaders++;
    return 0;
}
static inline int fh__response_header_set_view(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (fh__response_header_index(res, name) == res->nheaders)
        return fh__response_header_add_view(res, name, value);
    return fh__response_header_set_view_slow(res, name, value);
}
static inline int fh__response_on_commit_node(fh_response_t *res, fh__hook_t *node,
                                              fh_response_hook_fn fn, void *data) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    node->fn = (void (*)(void))fn;
    node->data = data;
    node->next = res->commit_hooks;
    res->commit_hooks = node;
    return 0;
}

/* fh_send_fd with a descriptor the caller keeps: when the stream is done
 * with fd (sent, failed or canceled) it calls release(data) instead of
 * closing fd, on the request's loop thread. On an error return nothing is
 * called and fd is still the caller's. (stream.c) */
int fh__send_fd_held(fh_response_t *res, int fd, int64_t offset, int64_t length,
                     void (*release)(void *data), void *data);

#endif
