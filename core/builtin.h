/* Internal: what the core offers the built-in middleware beyond the public
 * API, for the steps they take on every request.
 *
 * Each call does what a public one does, minus work its caller has already
 * done or does not need: a name whose length is known, a hook or slot whose
 * storage the caller allocated with its own record, a header whose bytes
 * the caller vouches for. Nothing here is installed. */
#ifndef FH_CORE_BUILTIN_H
#define FH_CORE_BUILTIN_H

#include <fasthttp.h>
#include <stdint.h>
#include <string.h>

#include "core/arena.h"
#include "core/request.h"

/* The first request header called name (case-insensitive), as
 * fh_request_header, for a name whose length is known (inline, below). */
static inline fh_str_t fh__request_header_find(const fh_request_t *req, fh_str_t name);
/* The request's header fields in arrival order; *n gets their count. The
 * array stays valid as long as the request's views. */
const fh__header_t *fh__request_headers(const fh_request_t *req, size_t *n);

/* fh_request_on_done with the hook's storage supplied by the caller, which
 * must live as long as the request (the request's arena). Never fails.
 * (Inline, below, as are the other calls marked so.) */
static inline void fh__request_on_done_node(fh_request_t *req, fh__hook_t *node,
                                            fh_request_done_fn fn, void *data);
/* fh_request_set with the slot's storage supplied by the caller (used only
 * when key is not set yet), which must live as long as the request. Never
 * fails. (Inline.) */
static inline void fh__request_set_node(fh_request_t *req, fh__slot_t *node, const void *key,
                                        void *value);
/* fh_alloc, inline when the arena's current chunk has room. */
static inline void *fh__alloc(fh_request_t *req, size_t size);

/* The peer's address, read once per connection (fh_request_remote_addr
 * without the copy), or NULL when the connection is gone or the address
 * cannot be read. Valid until the handler returns. */
const struct sockaddr *fh__request_peer(const fh_request_t *req);

/* The monotonic clock (uv_hrtime) for a done hook: the requests released
 * together after one write share one reading, the others each read it. */
uint64_t fh__request_done_ns(const fh_request_t *req);

/* The first response header called name (case-insensitive), as
 * fh_response_header_get, for a name whose length is known (inline,
 * below). */
static inline fh_str_t fh__response_header_find(const fh_response_t *res, fh_str_t name);
/* Appends a header without checking or copying it: name must be a token
 * that fh_response_header_str would store as a field (not Content-Type nor a
 * field the core writes itself), value must hold no CR, LF or NUL, and both
 * must stay valid and unchanged until the response is serialized (static
 * text, the middleware's own configuration, or the request's arena).
 * Returns 0, FH_EALREADY_SENT or FH_ENOMEM. */
static inline int fh__response_header_add_view(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh__response_header_add_view when the inline room is used up or the
 * response is final (response.c). */
int fh__response_header_add_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value);
/* Whether a field called name is stored as one (true), or handled by the
 * core instead (Content-Type, Date, Connection, Content-Length,
 * Transfer-Encoding): only the former may go through the view calls. */
bool fh__response_header_plain(fh_str_t name);
/* Replaces the value of the first header called name, or appends it, under
 * the contract of fh__response_header_add_view. Later headers of the same
 * name are removed, as fh_response_header_set does. */
static inline int fh__response_header_set_view(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh__response_header_set_view when a field called name is there already
 * (response.c). */
int fh__response_header_set_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value);
/* fh_response_on_commit with the hook's storage supplied by the caller,
 * which must live as long as the request. Returns 0 or FH_EALREADY_SENT.
 * (Inline.) */
static inline int fh__response_on_commit_node(fh_response_t *res, fh__hook_t *node,
                                              fh_response_hook_fn fn, void *data);

/* Thread-local state read on every request: the initial-exec model reads
 * it at a fixed offset from the thread pointer instead of through a call. */
#ifndef FH__TLS_FAST
#if defined(__GNUC__)
#define FH__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define FH__TLS_FAST
#endif
#endif

/* ---- inline reads ----
 *
 * The public accessors a middleware calls on every request, inline: the
 * same fields, without a call into another file. */
static inline bool fh__response_final(const fh_response_t *res) {
    return res->flags & FH__RES_FINAL;
}
static inline fh_request_t *fh__response_req(const fh_response_t *res) { return res->req; }
static inline int fh__response_status_of(const fh_response_t *res) { return res->status; }
static inline size_t fh__response_body_len(const fh_response_t *res) { return res->body_len; }
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
/* The index of the first response field called name, or nheaders. */
static inline uint32_t fh__response_header_index(const fh_response_t *res, fh_str_t name) {
    uint32_t i = 0;
    while (i < res->nheaders &&
           !(res->headers[i].name.len == name.len && fh_str_ieq(res->headers[i].name, name)))
        i++;
    return i;
}
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
static inline fh_str_t fh__request_header_find(const fh_request_t *req, fh_str_t name) {
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (req->headers[i].name.len == name.len && fh_str_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    return (fh_str_t){ NULL, 0 };
}
static inline void fh__request_on_done_node(fh_request_t *req, fh__hook_t *node,
                                            fh_request_done_fn fn, void *data) {
    node->fn = (void (*)(void))fn;
    node->data = data;
    node->next = req->done_hooks;
    req->done_hooks = node;
}
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
static inline void *fh__alloc(fh_request_t *req, size_t size) {
    return fh__arena_alloc_fast(req->arena, size);
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
/* fh_request_get, inline. */
static inline void *fh__request_get(const fh_request_t *req, const void *key) {
    for (const fh__slot_t *s = req->slots; s; s = s->next)
        if (s->key == key)
            return s->value;
    return NULL;
}

/* ---- eight bytes at a time ----
 *
 * Tests over a 64-bit word of text (any byte order): each is nonzero
 * exactly when some byte of x has the property. */
#define FH__ONES 0x0101010101010101ull
#define FH__HIGH 0x8080808080808080ull

static inline uint64_t fh__load8(const void *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}
/* The n < 8 bytes at s in one word, for the tests below and for compares:
 * 4 to 7 bytes as two overlapping 4-byte loads, 1 to 3 as the first,
 * middle and last byte over pad's upper five bytes; every byte of the
 * word is one of s's (some twice) or pad's. No byte beyond s[n - 1] is
 * read. The same s and n give the same word. */
static inline uint64_t fh__load_short(const void *src, size_t n, uint64_t pad) {
    const unsigned char *s = src;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return a | (uint64_t)b << 32;
    }
    if (n == 0)
        return pad;
    return (pad & ~0xffffffull) | s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16;
}
/* A byte of x is below n (n <= 128). */
static inline uint64_t fh__below8(uint64_t x, unsigned char n) {
    return (x - FH__ONES * n) & ~x & FH__HIGH;
}
/* A byte of x is c. */
static inline uint64_t fh__has8(uint64_t x, unsigned char c) {
    return fh__below8(x ^ (FH__ONES * c), 1);
}

/* Copies n bytes from s to p and returns p + n. Runs of up to 32 bytes,
 * the usual header names, values and log fields, are copied inline with
 * two overlapping moves instead of a call to memcpy; neither side is read
 * or written beyond its n bytes. */
static inline char *fh__put(char *p, const void *src, size_t n) {
    const char *s = src;
    if (n > 32) {
        memcpy(p, s, n);
    } else if (n >= 16) {
        uint64_t a = fh__load8(s), b = fh__load8(s + 8);
        uint64_t c = fh__load8(s + n - 16), d = fh__load8(s + n - 8);
        memcpy(p, &a, 8);
        memcpy(p + 8, &b, 8);
        memcpy(p + n - 16, &c, 8);
        memcpy(p + n - 8, &d, 8);
    } else if (n >= 8) {
        uint64_t a = fh__load8(s), b = fh__load8(s + n - 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &b, 4);
    } else if (n) {
        p[0] = s[0];
        p[n / 2] = s[n / 2];
        p[n - 1] = s[n - 1];
    }
    return p + n;
}

/* Writes v in decimal at p (at most FH__U64_DIGITS bytes, no NUL) and
 * returns the end. Two digits per division, from a table (str.c). */
#define FH__U64_DIGITS 20
char *fh__put_u64(char *p, uint64_t v);

/* true when value may be a header value: no CR, LF or NUL. */
static inline bool fh__header_value_ok(fh_str_t value) {
    const unsigned char *p = (const unsigned char *)value.ptr;
    size_t i = 0;
    for (; i + 8 <= value.len; i += 8) {
        uint64_t x = fh__load8(p + i);
        if (fh__below8(x, 1) | fh__has8(x, '\r') | fh__has8(x, '\n'))
            return false;
    }
    for (; i < value.len; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return false;
    return true;
}

#endif
