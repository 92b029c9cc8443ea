/* The response builder and its serialization into the request's arena. */
#include <stdio.h>
#include <stdlib.h>

#include "core/format.h"
#include "core/http1_syntax.h"
#include "core/json.h"
#include "core/request.h"
#include "core/worker.h"

#define FH__INLINE_BODY_MAX 2048

static const fh_str_t text_plain = FH_STR_LIT("text/plain; charset=utf-8");

void fh__response_init(fh_request_t *req) {
    fh_response_t *res = &req->res;
    memset(res, 0, offsetof(fh_response_t, header_space));
    res->req = req;
    res->status = 200;
    res->headers = res->header_space;
    res->cap_headers = (uint32_t)(sizeof(res->header_space) / sizeof(res->header_space[0]));
}

fh_request_t *fh_response_request(fh_response_t *res) { return res->req; }
int fh_response_get_status(const fh_response_t *res) { return res->status; }
bool fh_response_is_final(const fh_response_t *res) { return res->flags & FH__RES_FINAL; }
bool fh_response_is_canceled(const fh_response_t *res) { return res->flags & FH__RES_CANCELED; }
void fh_response_close(fh_response_t *res) { res->flags |= FH__RES_CLOSE; }
fh_str_t fh_response_get_body(const fh_response_t *res) {
    return (fh_str_t){ res->body ? res->body : "", res->body_len };
}
size_t fh_response_header_count(const fh_response_t *res) { return res->nheaders; }

bool fh_response_header_at(const fh_response_t *res, size_t i, fh_str_t *name, fh_str_t *value) {
    if (i >= res->nheaders)
        return false;
    if (name)
        *name = res->headers[i].name;
    if (value)
        *value = res->headers[i].value;
    return true;
}

void fh_response_on_cancel(fh_response_t *res, fh_response_cancel_fn fn, void *data) {
    res->cancel_fn = fn;
    res->cancel_data = data;
}

int fh_response_on_commit(fh_response_t *res, fh_response_hook_fn fn, void *data) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    fh__hook_t *h = fh_arena_alloc(res->req->arena, sizeof(*h));
    if (!h)
        return FH_ENOMEM;
    h->fn = (void (*)(void))fn;
    h->data = data;
    h->next = res->commit_hooks;
    res->commit_hooks = h;
    return 0;
}

int fh_response_reset(fh_response_t *res) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    res->status = 200;
    res->content_type = (fh_str_t){ NULL, 0 };
    res->nheaders = 0;
    res->body = NULL;
    res->body_len = res->body_cap = 0;
    res->flags &= ~(unsigned)FH__RES_BODY_ARENA;
    return 0;
}

int fh_response_status(fh_response_t *res, int status) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (status < 100 || status > 999)
        return FH_EINVAL;
    res->status = status;
    return 0;
}

/* ------------------------------------------------------------- headers */

static int check_header(fh_str_t name, fh_str_t value) {
    if (!name.ptr || name.len == 0)
        return FH_EHEADER_VALUE;
    for (size_t i = 0; i < name.len; i++)
        if (!fh__h1_is_tchar((unsigned char)name.ptr[i]))
            return FH_EHEADER_VALUE;
    return fh__header_value_ok(value) ? 0 : FH_EHEADER_VALUE;
}

/* Header fields the framework writes itself. */
static bool is_managed(fh_str_t name) {
    switch (name.len) {
    case 4: return fh_str_ieq(name, FH_STR_LIT("date"));
    case 10: return fh_str_ieq(name, FH_STR_LIT("connection"));
    case 14: return fh_str_ieq(name, FH_STR_LIT("content-length"));
    case 17: return fh_str_ieq(name, FH_STR_LIT("transfer-encoding"));
    default: return false;
    }
}

static bool is_content_type(fh_str_t name) {
    return name.len == 12 && fh_str_ieq(name, FH_STR_LIT("content-type"));
}

bool fh__response_header_plain(fh_str_t name) {
    return !is_managed(name) && !is_content_type(name);
}

/* Appends a field whose bytes are stored (or copied by the caller): one
 * slot in the header array, grown in the arena. */
static int header_append(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (res->nheaders == res->cap_headers) {
        uint32_t ncap = res->cap_headers ? res->cap_headers * 2 : 8;
        fh__header_t *nh = fh_arena_alloc(res->req->arena, ncap * sizeof(*nh));
        if (!nh)
            return FH_ENOMEM;
        if (res->nheaders)
            memcpy(nh, res->headers, res->nheaders * sizeof(*nh));
        res->headers = nh;
        res->cap_headers = ncap;
    }
    res->headers[res->nheaders].name = name;
    res->headers[res->nheaders].value = value;
    res->nheaders++;
    return 0;
}

/* Stores a checked field: the managed ones only set flags, Content-Type has
 * its own place, the others get a copy of name and value (one allocation,
 * both NUL-terminated). */
static int header_store(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (is_managed(name)) {
        if (name.len == 10 && value.len == 5 && fh_str_ieq(value, FH_STR_LIT("close")))
            res->flags |= FH__RES_CLOSE;
        return 0;
    }
    fh_arena_t *a = res->req->arena;
    if (is_content_type(name)) {
        char *v = fh_arena_strndup(a, value.ptr, value.len);
        if (!v)
            return FH_ENOMEM;
        res->content_type = (fh_str_t){ v, value.len };
        return 0;
    }
    char *n = fh_arena_alloc(a, name.len + value.len + 2);
    if (!n)
        return FH_ENOMEM;
    memcpy(n, name.ptr, name.len);
    n[name.len] = '\0';
    char *v = n + name.len + 1;
    if (value.len)
        memcpy(v, value.ptr, value.len);
    v[value.len] = '\0';
    return header_append(res, (fh_str_t){ n, name.len }, (fh_str_t){ v, value.len });
}

int fh_response_header_str(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (!value.ptr)
        value = FH_STR_LIT("");
    int err = check_header(name, value);
    if (err)
        return err;
    return header_store(res, name, value);
}

int fh__response_header_add_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    return header_append(res, name, value);
}

int fh__response_header_set_view_slow(fh_response_t *res, fh_str_t name, fh_str_t value) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    uint32_t i = 0;
    while (i < res->nheaders &&
           !(res->headers[i].name.len == name.len && fh_str_ieq(res->headers[i].name, name)))
        i++;
    if (i == res->nheaders)
        return header_append(res, name, value);
    res->headers[i].value = value;
    /* Later fields of that name go. */
    uint32_t o = ++i;
    for (; i < res->nheaders; i++)
        if (!(res->headers[i].name.len == name.len && fh_str_ieq(res->headers[i].name, name)))
            res->headers[o++] = res->headers[i];
    res->nheaders = o;
    return 0;
}

int fh_response_header(fh_response_t *res, const char *name, const char *value) {
    return fh_response_header_str(res, fh_str(name), fh_str(value));
}

int fh_response_headerf(fh_response_t *res, const char *name, const char *fmt, ...) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    va_list ap;
    va_start(ap, fmt);
    char *v = fh_arena_vsprintf(res->req->arena, fmt, ap);
    va_end(ap);
    if (!v)
        return FH_ENOMEM;
    return fh_response_header_str(res, fh_str(name), fh_str(v));
}

int fh_response_header_remove(fh_response_t *res, const char *name) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    fh_str_t n = fh_str(name);
    if (is_content_type(n)) {
        int had = res->content_type.ptr != NULL;
        res->content_type = (fh_str_t){ NULL, 0 };
        return had;
    }
    uint32_t o = 0;
    int removed = 0;
    for (uint32_t i = 0; i < res->nheaders; i++) {
        if (res->headers[i].name.len == n.len && fh_str_ieq(res->headers[i].name, n))
            removed++;
        else
            res->headers[o++] = res->headers[i];
    }
    res->nheaders = o;
    return removed;
}

int fh_response_header_set(fh_response_t *res, const char *name, const char *value) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    fh_str_t n = fh_str(name), v = fh_str(value ? value : "");
    int err = check_header(n, v);
    if (err)
        return err;
    fh_response_header_remove(res, name);
    return header_store(res, n, v);
}

fh_str_t fh_response_header_get(const fh_response_t *res, const char *name) {
    return fh__response_header_find(res, fh_str(name));
}

/* ---------------------------------------------------------------- body */

int fh_response_body_borrow(fh_response_t *res, const void *body, size_t len) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    res->body = body;
    res->body_len = len;
    res->body_cap = 0;
    res->flags &= ~(unsigned)FH__RES_BODY_ARENA;
    return 0;
}

int fh_response_body(fh_response_t *res, const void *body, size_t len) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    char *copy = fh_arena_alloc(res->req->arena, len);
    if (!copy)
        return FH_ENOMEM;
    if (len)
        memcpy(copy, body, len);
    res->body = copy;
    res->body_len = len;
    res->body_cap = len;
    res->flags |= FH__RES_BODY_ARENA;
    return 0;
}

/* Makes room for extra more body bytes; returns where they go. */
static char *body_reserve(fh_response_t *res, size_t extra) {
    if (res->body_len + extra < extra)
        return NULL;
    size_t need = res->body_len + extra;
    if ((res->flags & FH__RES_BODY_ARENA) && need <= res->body_cap)
        return (char *)res->body + res->body_len;
    size_t ncap = res->body_cap ? res->body_cap * 2 : 256;
    while (ncap < need)
        ncap *= 2;
    char *nb;
    if (res->flags & FH__RES_BODY_ARENA)
        nb = fh_arena_realloc(res->req->arena, (void *)res->body, res->body_cap, ncap);
    else {
        nb = fh_arena_alloc(res->req->arena, ncap);
        if (nb && res->body_len)
            memcpy(nb, res->body, res->body_len);
    }
    if (!nb)
        return NULL;
    res->body = nb;
    res->body_cap = ncap;
    res->flags |= FH__RES_BODY_ARENA;
    return nb + res->body_len;
}

int fh_response_write(fh_response_t *res, const void *data, size_t len) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    char *dst = body_reserve(res, len);
    if (!dst)
        return FH_ENOMEM;
    memcpy(dst, data, len);
    res->body_len += len;
    return 0;
}

static int body_vprintf(fh_response_t *res, const char *fmt, va_list ap) {
    /* Straight into the body's room (256 bytes at least): the common
     * conversions through core/format.c, the rest through the C library;
     * output longer than the room is formatted again into a larger one. */
    char *room = body_reserve(res, 256);
    if (!room)
        return FH_ENOMEM;
    size_t cap = res->body_cap - res->body_len;
    va_list ap1;
    va_copy(ap1, ap);
    int n = fh__vformat(room, cap, fmt, ap1);
    va_end(ap1);
    if (n < 0) {
        va_copy(ap1, ap);
        n = vsnprintf(room, cap, fmt, ap1);
        va_end(ap1);
        if (n < 0)
            return FH_EINVAL;
        if ((size_t)n >= cap) {
            room = body_reserve(res, (size_t)n + 1);
            if (!room)
                return FH_ENOMEM;
            vsnprintf(room, (size_t)n + 1, fmt, ap);
        }
    }
    res->body_len += (size_t)n;
    return 0;
}

int fh_response_printf(fh_response_t *res, const char *fmt, ...) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    va_list ap;
    va_start(ap, fmt);
    int err = body_vprintf(res, fmt, ap);
    va_end(ap);
    return err;
}

/* ------------------------------------------------------------ finishing */

static const char fallback_500[] =
    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void finish(fh_response_t *res) {
    res->flags |= FH__RES_FINAL;
    res->req->ops->finished(res->req);
}

int fh_response_end(fh_response_t *res) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (fh__response_serialize(res->req) != 0) {
        /* Out of memory while serializing: a static answer needs none. */
        res->out[0] = uv_buf_init((char *)fallback_500, sizeof(fallback_500) - 1);
        res->nout = 1;
        res->status = 500;
        res->flags |= FH__RES_CLOSE;
    }
    finish(res);
    return 0;
}

int fh_send_raw(fh_response_t *res, const void *bytes, size_t len, unsigned flags) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    const char *p = bytes;
    if (!(flags & FH_RAW_BORROW)) {
        char *copy = fh_arena_alloc(res->req->arena, len);
        if (!copy)
            return FH_ENOMEM;
        memcpy(copy, bytes, len);
        p = copy;
    }
    res->flags |= FH__RES_RAW;
    if ((flags & FH_RAW_CLOSE) || !(res->req->flags & FH__REQ_KEEP_ALIVE))
        res->flags |= FH__RES_CLOSE;
    res->out[0] = uv_buf_init((char *)p, (unsigned)len);
    res->nout = 1;
    finish(res);
    return 0;
}

int fh_send(fh_response_t *res, int status, const char *content_type, const void *body,
            size_t len) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    int err = fh_response_status(res, status);
    if (!err && content_type)
        err = fh_response_header(res, "Content-Type", content_type);
    if (!err)
        err = fh_response_body(res, body, len);
    if (err)
        return err;
    return fh_response_end(res);
}

int fh_send_text(fh_response_t *res, int status, const char *text) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    int err = fh_response_status(res, status);
    if (!err)
        err = fh_response_body(res, text, strlen(text));
    if (err)
        return err;
    res->content_type = text_plain;
    return fh_response_end(res);
}

/* Starts a plain-text answer with status: the body is emptied. */
static int begin_text(fh_response_t *res, int status) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    int err = fh_response_status(res, status);
    if (!err)
        res->body_len = 0;
    return err;
}

/* Ends a response whose body is plain text. */
static int end_text(fh_response_t *res) {
    res->content_type = text_plain;
    return fh_response_end(res);
}

int fh_send_textf(fh_response_t *res, int status, const char *fmt, ...) {
    int err = begin_text(res, status);
    if (err)
        return err;
    va_list ap;
    va_start(ap, fmt);
    err = body_vprintf(res, fmt, ap);
    va_end(ap);
    return err ? err : end_text(res);
}

int fh_send_status(fh_response_t *res, int status) {
    int err = begin_text(res, status);
    if (err)
        return err;
    if (status < 200 || status == 204 || status == 304) {
        res->content_type = (fh_str_t){ NULL, 0 }; /* no content: nothing describes it */
        return fh_response_end(res);
    }
    err = fh_response_printf(res, "%s\n", fh_status_reason(status));
    return err ? err : end_text(res);
}

int fh_send_redirect(fh_response_t *res, int status, const char *location) {
    if (status < 300 || status > 399)
        return FH_EINVAL;
    int err = fh_response_header(res, "Location", location);
    if (err)
        return err;
    return fh_send_status(res, status);
}

int fh_response_defer(fh_response_t *res) {
    fh_request_t *req = res->req;
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (req->state != FH__RS_HANDLING)
        return FH_ESTATE;
    if (!(req->flags & FH__REQ_PINNED)) {
        int err = fh__request_pin(req);
        if (err)
            return err;
    }
    res->flags |= FH__RES_DEFERRED;
    return 0;
}

void fh__response_error_prepare(fh_request_t *req, int status, bool close) {
    fh_response_t *res = &req->res;
    res->flags &= ~(unsigned)(FH__RES_FINAL | FH__RES_RAW | FH__RES_DEFERRED);
    if (close)
        res->flags |= FH__RES_CLOSE;
    /* Commit hooks stay: after-middleware sees this error response too. */
    res->nheaders = 0;
    res->status = status;
    res->content_type = text_plain;
    const char *reason = fh_status_reason(status);
    res->body = reason;
    res->body_len = strlen(reason);
    res->body_cap = 0;
    res->flags &= ~(unsigned)FH__RES_BODY_ARENA;
}

void fh__response_finalize(fh_request_t *req) {
    fh_response_t *res = &req->res;
    if (fh__response_serialize(req) != 0) {
        res->out[0] = uv_buf_init((char *)fallback_500, sizeof(fallback_500) - 1);
        res->nout = 1;
        res->flags |= FH__RES_CLOSE;
    }
    res->flags |= FH__RES_FINAL;
}

void fh__response_error(fh_request_t *req, int status, bool close) {
    fh__response_error_prepare(req, status, close);
    fh__response_finalize(req);
}

void fh__response_core_error(fh_request_t *req, int status, bool close) {
    fh_server_t *s = req->worker->server;
    if (status >= 400 && status < 600)
        FH__COUNT(req->worker->stats.core_errors[status - 400]);
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
}
