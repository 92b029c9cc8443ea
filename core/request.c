/* Requests: making and releasing them, running the handler, accessors,
 * per-request slots and hooks, and moving a request's bytes (rebase, pin). */
#include <stdio.h>

#include "core/conn.h"
#include "core/json.h"
#include "core/metrics.h"
#include "core/request.h"
#include "core/worker.h"

/* --------------------------------------------------------------- lifetime */

fh_request_t *fh__request_new(fh__worker_t *w, fh__conn_t *c, const fh__request_ops_t *ops) {
    fh_arena_t *arena;
    if (fh_arena_new(&arena, w->arena_cache))
        return NULL;
    fh_request_t *req = fh__arena_alloc_fast(arena, sizeof(*req));
    if (!req) {
        fh_arena_release(arena);
        return NULL;
    }
    /* Everything before the response, then the response's own reset. */
    memset(req, 0, offsetof(fh_request_t, res));
    memset(&req->flags, 0, offsetof(fh_request_t, header_space) - offsetof(fh_request_t, flags));
    req->headers = req->header_space;
    req->cap_headers = sizeof(req->header_space) / sizeof(req->header_space[0]);
    fh__arena_set_budget(arena, w->server->cfg.limits.max_request_memory);
    req->arena = arena;
    req->conn = c;
    req->ops = ops;
    req->worker = w;
    req->version = 11;
    req->method = FH_METHOD_OTHER;
    req->id = ++w->next_req_id;
    FH__COUNT(w->stats.created);
    /* When its first byte arrived, to the loop's millisecond: dispatch
     * replaces it by the precise time its head was complete; a request the
     * core refuses keeps it, for the error handler (the access log's
     * latency). Nobody else sees a refused request. */
    if (w->server->cfg.error_handler)
        req->start_ns = uv_now(&w->loop) * 1000000u;
    fh__response_init(req);
    return req;
}

/* Runs the done hooks, prints the arena trace and releases the arena (which
 * holds the request itself) — unless a user (offload, stream, takeover)
 * still holds the request: the last fh__request_unref then does it. */
void fh__request_release(fh_request_t *req) {
    if (req->users) {
        req->conn = NULL;
        req->flags |= FH__REQ_RELEASE_PENDING;
        return;
    }
    for (fh__hook_t *h = req->done_hooks; h; h = h->next)
        ((fh_request_done_fn)h->fn)(req, h->data);
    if (req->worker->server->trace_arena) {
        fh_arena_stats_t st;
        fh_arena_stats(req->arena, &st);
        fprintf(
            stderr,
            "fasthttp: arena: worker=%d req=%llu %s %s status=%d used=%zu chunks=%zu large=%zu\n",
            req->worker->index, (unsigned long long)req->id, fh_method_name(req->method),
            req->trace_path ? req->trace_path : "-", req->res.status, st.used, st.chunks, st.large);
    }
    fh__worker_t *w = req->worker;
    FH__COUNT(w->stats.released);
    if (w->metrics)
        fh__metrics_record(w->metrics, req);
    fh_arena_release(req->arena);
}

void fh__request_unref(fh_request_t *req) {
    if (--req->users == 0 && (req->flags & FH__REQ_RELEASE_PENDING))
        fh__request_release(req);
}

void fh__request_on_cancel(fh_request_t *req, fh__hook_t *node, void (*fn)(fh_request_t *req)) {
    node->fn = (void (*)(void))fn;
    node->data = NULL;
    node->next = NULL;
    if (req->cancel_tail)
        req->cancel_tail->next = node;
    else
        req->cancel_hooks = node;
    req->cancel_tail = node;
}

void fh__request_abandon(fh_request_t *req) {
    if (req->state != FH__RS_DEFERRED && req->state != FH__RS_STREAMING) {
        fh__request_release(req);
        return;
    }
    bool streaming = req->state == FH__RS_STREAMING;
    req->conn = NULL;
    req->res.flags |= FH__RES_CANCELED;
    req->users++; /* a cancel callback may end the response */
    for (fh__hook_t *h = req->cancel_hooks; h; h = h->next)
        ((void (*)(fh_request_t *))h->fn)(req);
    if (req->res.cancel_fn)
        req->res.cancel_fn(&req->res, req->res.cancel_data);
    if (streaming)
        fh__request_release(req); /* the stream's hold keeps it until ended */
    fh__request_unref(req);
}

void fh__request_run_handler(fh_request_t *req) {
    fh_server_t *s = req->worker->server;
    /* jansson values the handler makes live in the request's arena. */
    fh_json_scope_t json_scope = fh_json_arena_begin(req->arena);
    int rc = s->cfg.handler(req, &req->res, s->cfg.handler_data);
    fh_json_scope_end(json_scope);
    fh_response_t *res = &req->res;
    if (res->flags & FH__RES_FINAL)
        return; /* the protocol was told already */
    if (rc < 0) {
        /* A handler that failed for the memory budget gets a 413; any other
         * failure a 500. The connection survives both. */
        bool over = fh__arena_over(req->arena);
        if (over)
            fh__arena_use_reserve(req->arena);
        if (over) {
            fh__response_core_error(req, 413, false);
            FH__COUNT(req->worker->stats.errors_4xx);
        } else {
            fh__response_error(req, 500, false);
            FH__COUNT(req->worker->stats.errors_5xx);
            FH__COUNT(req->worker->stats.core_errors[500 - 400]);
        }
        req->ops->finished(req);
        return;
    }
    if (res->flags & FH__RES_DEFERRED) {
        req->state = FH__RS_DEFERRED;
        return;
    }
    fh_response_end(res);
}

const struct sockaddr *fh__request_peer(const fh_request_t *req) {
    return req->conn ? req->ops->peer(req) : NULL;
}

const char *fh_request_route(const fh_request_t *req) { return req->route; }
void fh_request_set_route(fh_request_t *req, const char *pattern) { req->route = pattern; }

uint64_t fh__request_done_ns(const fh_request_t *req) {
    fh__worker_t *w = req->worker;
    if (!w->releasing_group)
        return uv_hrtime();
    if (!w->group_done_ns)
        w->group_done_ns = uv_hrtime();
    return w->group_done_ns;
}

int fh_request_remote_addr(const fh_request_t *req, struct sockaddr_storage *out) {
    if (!req->conn)
        return FH_ENOTCONN;
    const struct sockaddr *sa = req->ops->peer(req);
    if (!sa)
        return FH_ENOTCONN;
    memset(out, 0, sizeof(*out));
    memcpy(out, sa,
           sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
    return 0;
}

/* -------------------------------------------------------------- accessors */

fh_str_t fh_request_method(const fh_request_t *req) { return req->method_str; }
fh_method_t fh_request_method_id(const fh_request_t *req) { return (fh_method_t)req->method; }
fh_str_t fh_request_target(const fh_request_t *req) { return req->target; }
fh_str_t fh_request_path(const fh_request_t *req) { return req->path; }
fh_str_t fh_request_query_string(const fh_request_t *req) { return req->query; }
int fh_request_version(const fh_request_t *req) {
    return (req->flags & FH__REQ_VERSION) ? req->version : 0;
}
fh_str_t fh_request_body(const fh_request_t *req) { return req->body; }
bool fh_request_keep_alive(const fh_request_t *req) { return req->flags & FH__REQ_KEEP_ALIVE; }
fh_arena_t *fh_request_arena(fh_request_t *req) { return req->arena; }
uv_loop_t *fh_request_loop(const fh_request_t *req) { return &req->worker->loop; }
void *fh_request_server_data(const fh_request_t *req) { return req->worker->server->cfg.user_data; }
uint64_t fh_request_start_ns(const fh_request_t *req) { return req->start_ns; }
size_t fh_request_header_count(const fh_request_t *req) { return req->nheaders; }
size_t fh_request_param_count(const fh_request_t *req) { return req->nparams; }

fh_str_t fh_request_path_decoded(fh_request_t *req) {
    if (req->path_decoded.ptr || !req->path.ptr)
        return req->path_decoded;
    if (!memchr(req->path.ptr, '%', req->path.len)) {
        req->path_decoded = req->path;
        return req->path_decoded;
    }
    char *dst = fh_arena_alloc(req->arena, req->path.len + 1);
    if (!dst)
        return (fh_str_t){ NULL, 0 };
    ptrdiff_t n = fh_percent_decode(dst, req->path, false);
    if (n < 0)
        return (fh_str_t){ NULL, 0 };
    dst[n] = '\0';
    req->path_decoded = (fh_str_t){ dst, (size_t)n };
    return req->path_decoded;
}

fh_str_t fh_request_query(fh_request_t *req, const char *name) {
    fh_str_t q = req->query;
    size_t nlen = strlen(name);
    size_t i = 0;
    while (q.ptr && i <= q.len) {
        size_t end = i;
        while (end < q.len && q.ptr[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && q.ptr[eq] != '=')
            eq++;
        fh_str_t key = { q.ptr + i, eq - i };
        bool match;
        if (memchr(key.ptr, '%', key.len) || memchr(key.ptr, '+', key.len)) {
            char tmp[256];
            ptrdiff_t kl = key.len <= sizeof(tmp) ? fh_percent_decode(tmp, key, true) : -1;
            match = kl == (ptrdiff_t)nlen && memcmp(tmp, name, nlen) == 0;
        } else {
            match = key.len == nlen && memcmp(key.ptr, name, nlen) == 0;
        }
        if (match) {
            fh_str_t raw = { q.ptr + (eq < end ? eq + 1 : end), eq < end ? end - eq - 1 : 0 };
            if (!memchr(raw.ptr, '%', raw.len) && !memchr(raw.ptr, '+', raw.len))
                return raw;
            char *dst = fh_arena_alloc(req->arena, raw.len + 1);
            if (!dst)
                return (fh_str_t){ NULL, 0 };
            ptrdiff_t n = fh_percent_decode(dst, raw, true);
            if (n < 0)
                return (fh_str_t){ NULL, 0 };
            dst[n] = '\0';
            return (fh_str_t){ dst, (size_t)n };
        }
        i = end + 1;
    }
    return (fh_str_t){ NULL, 0 };
}

fh_str_t fh_request_header(const fh_request_t *req, const char *name) {
    return fh_request_header_nth(req, name, 0);
}

fh_str_t fh_request_header_nth(const fh_request_t *req, const char *name, size_t nth) {
    fh_str_t n = fh_str(name);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        /* Lengths first: most names differ there, without a call. */
        if (req->headers[i].name.len == n.len && fh_str_ieq(req->headers[i].name, n) && nth-- == 0)
            return req->headers[i].value;
    }
    return (fh_str_t){ NULL, 0 };
}

bool fh_request_header_at(const fh_request_t *req, size_t i, fh_str_t *name, fh_str_t *value) {
    if (i >= req->nheaders)
        return false;
    if (name)
        *name = req->headers[i].name;
    if (value)
        *value = req->headers[i].value;
    return true;
}

fh_str_t fh_request_remote_ip(fh_request_t *req) {
    struct sockaddr_storage ss;
    char buf[64];
    if (fh_request_remote_addr(req, &ss) != 0)
        return (fh_str_t){ NULL, 0 };
    int err = ss.ss_family == AF_INET6 ? uv_ip6_name((struct sockaddr_in6 *)&ss, buf, sizeof(buf))
                                       : uv_ip4_name((struct sockaddr_in *)&ss, buf, sizeof(buf));
    if (err)
        return (fh_str_t){ NULL, 0 };
    size_t n = strlen(buf);
    char *p = fh_arena_strndup(req->arena, buf, n);
    return p ? (fh_str_t){ p, n } : (fh_str_t){ NULL, 0 };
}

fh_str_t fh_request_param(const fh_request_t *req, const char *name) {
    fh_str_t n = fh_str(name);
    for (size_t i = 0; i < req->nparams; i++)
        if (fh_str_equal(req->param_names[i], n))
            return req->param_values[i];
    return (fh_str_t){ NULL, 0 };
}

bool fh_request_param_at(const fh_request_t *req, size_t i, fh_str_t *name, fh_str_t *value) {
    if (i >= req->nparams)
        return false;
    if (name)
        *name = req->param_names[i];
    if (value)
        *value = req->param_values[i];
    return true;
}

void fh_request_set_params(fh_request_t *req, const fh_str_t *names, const fh_str_t *values,
                           size_t count) {
    req->param_names = names;
    req->param_values = values;
    req->nparams = count;
}

int fh_request_set(fh_request_t *req, const void *key, void *value) {
    for (fh__slot_t *s = req->slots; s; s = s->next) {
        if (s->key == key) {
            s->value = value;
            return 0;
        }
    }
    fh__slot_t *s = fh_arena_alloc(req->arena, sizeof(*s));
    if (!s)
        return FH_ENOMEM;
    s->key = key;
    s->value = value;
    s->next = req->slots;
    req->slots = s;
    return 0;
}

void *fh_request_get(const fh_request_t *req, const void *key) {
    for (fh__slot_t *s = req->slots; s; s = s->next)
        if (s->key == key)
            return s->value;
    return NULL;
}

int fh_request_on_done(fh_request_t *req, fh_request_done_fn fn, void *data) {
    fh__hook_t *h = fh_arena_alloc(req->arena, sizeof(*h));
    if (!h)
        return FH_ENOMEM;
    h->fn = (void (*)(void))fn;
    h->data = data;
    h->next = req->done_hooks;
    req->done_hooks = h;
    return 0;
}

void *fh_alloc(fh_request_t *req, size_t size) { return fh_arena_alloc(req->arena, size); }

char *fh_strdup(fh_request_t *req, const char *s) {
    return fh_arena_strndup(req->arena, s, s ? strlen(s) : 0);
}

char *fh_strndup(fh_request_t *req, fh_str_t s) {
    return fh_arena_strndup(req->arena, s.ptr, s.len);
}

char *fh_sprintf(fh_request_t *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = fh_arena_vsprintf(req->arena, fmt, ap);
    va_end(ap);
    return p;
}

static inline void rebase_one(fh_str_t *s, const char *lo, const char *hi, ptrdiff_t delta) {
    if (s->ptr && s->ptr >= lo && s->ptr < hi)
        s->ptr += delta;
    else if (s->ptr && s->ptr == hi && s->len == 0)
        s->ptr += delta;
}

void fh__request_rebase(fh_request_t *req, const char *lo, const char *hi, ptrdiff_t delta) {
    rebase_one(&req->method_str, lo, hi, delta);
    rebase_one(&req->target, lo, hi, delta);
    rebase_one(&req->path, lo, hi, delta);
    rebase_one(&req->query, lo, hi, delta);
    rebase_one(&req->body, lo, hi, delta);
    rebase_one(&req->path_decoded, lo, hi, delta);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        rebase_one(&req->headers[i].name, lo, hi, delta);
        rebase_one(&req->headers[i].value, lo, hi, delta);
    }
    /* Params are arrays the router placed in the arena. */
    for (size_t i = 0; i < req->nparams; i++) {
        rebase_one((fh_str_t *)&req->param_names[i], lo, hi, delta);
        rebase_one((fh_str_t *)&req->param_values[i], lo, hi, delta);
    }
    if (req->raw_begin && req->raw_begin >= lo && req->raw_begin <= hi) {
        req->raw_begin += delta;
        if (req->raw_end)
            req->raw_end += delta;
    }
}

int fh__request_pin(fh_request_t *req) {
    if ((req->flags & FH__REQ_PINNED) || !req->raw_begin || !req->raw_end)
        return 0;
    size_t n = (size_t)(req->raw_end - req->raw_begin);
    char *copy = fh_arena_alloc(req->arena, n ? n : 1);
    if (!copy)
        return FH_ENOMEM;
    memcpy(copy, req->raw_begin, n);
    const char *lo = req->raw_begin, *hi = req->raw_end;
    fh__request_rebase(req, lo, hi, copy - lo);
    req->flags |= FH__REQ_PINNED;
    return 0;
}
