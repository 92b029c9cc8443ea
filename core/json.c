/* JSON on jansson: tagged allocations routed to request arenas, request
 * bodies, serialization into the arena and problem details.
 *
 * Allocation. jansson's allocator hooks are process-global, so the routing
 * is per thread: a thread-local "current arena" is set around each handler
 * call (core/conn.c) and by explicit scopes. Every block jansson asks for
 * gets a 16-byte header whose tag says where it came from, so the free hook
 * knows what to do with any pointer: heap blocks go back to free(), arena
 * blocks are left to their arena. In tracking mode arena-scope blocks are
 * heap blocks chained to a record in the arena whose release callback frees
 * them all: sanitizers then see a request's JSON die with the request.
 */
#include "core/json.h"
#include "core/str.h" /* FH__TLS_FAST */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define HDR 16
#define TAG_HEAP UINT64_C(0x3170616568736a66)    /* "fjsheap1" */
#define TAG_ARENA UINT64_C(0x31616e7261736a66)   /* "fjsarna1" */
#define TAG_TRACKED UINT64_C(0x316b636172736a66) /* "fjsrack1" */
#define TAG_FREED UINT64_C(0x3164656572736a66)   /* "fjsreed1" */

typedef struct tag_hdr {
    uint64_t tag;
    struct tag_hdr *next; /* tracked blocks: the next one of the same scope */
} tag_hdr_t;

_Static_assert(sizeof(tag_hdr_t) <= HDR, "the tag header must fit in 16 bytes");

typedef struct track {
    tag_hdr_t *blocks;
} track_t;

/* The current scope of this thread: arena NULL = heap. */
static _Thread_local struct {
    fh_arena_t *arena;
    track_t *track; /* tracking mode: this scope's block list, made lazily */
} tl FH__TLS_FAST;

static atomic_bool tracking;

void fh__json_set_tracking(bool on) { atomic_store_explicit(&tracking, on, memory_order_relaxed); }
bool fh__json_tracking(void) { return atomic_load_explicit(&tracking, memory_order_relaxed); }

static void track_release(void *data) {
    track_t *t = data;
    tag_hdr_t *h = t->blocks;
    while (h) {
        tag_hdr_t *next = h->next;
        h->tag = TAG_FREED;
        free(h);
        h = next;
    }
    t->blocks = NULL;
}

static void *json_alloc(size_t n) {
    if (n > SIZE_MAX - HDR)
        return NULL;
    fh_arena_t *a = tl.arena;
    tag_hdr_t *h;
    if (!a) {
        h = malloc(HDR + n);
        if (!h)
            return NULL;
        h->tag = TAG_HEAP;
    } else if (!atomic_load_explicit(&tracking, memory_order_relaxed)) {
        h = fh_arena_alloc(a, HDR + n);
        if (!h)
            return NULL;
        h->tag = TAG_ARENA;
    } else {
        track_t *t = tl.track;
        if (!t) {
            t = fh_arena_alloc(a, sizeof(*t));
            if (!t)
                return NULL;
            t->blocks = NULL;
            if (fh_arena_on_release(a, track_release, t) != 0)
                return NULL;
            tl.track = t;
        }
        if (!fh__arena_charge(a, HDR + n))
            return NULL;
        h = malloc(HDR + n);
        if (!h)
            return NULL;
        h->tag = TAG_TRACKED;
        h->next = t->blocks;
        t->blocks = h;
    }
    return (char *)h + HDR;
}

static void json_release(void *p) {
    tag_hdr_t *h = (tag_hdr_t *)((char *)p - HDR);
    switch (h->tag) {
    case TAG_HEAP:
        h->tag = TAG_FREED;
        free(h);
        return;
    case TAG_ARENA:
    case TAG_TRACKED: return; /* its arena frees it */
    default:
        fprintf(stderr,
                "fasthttp: jansson freed %p, which fasthttp's allocator hooks did not hand out "
                "(freed twice, or json_set_alloc_funcs was called by someone else)\n",
                p);
        abort();
    }
}

/* Installed before main, before any jansson value can exist: every pointer
 * jansson ever frees then carries our tag. */
__attribute__((constructor)) static void json_install(void) {
    const char *env = getenv("FH_JSON_TRACK");
#ifdef FH__SANITIZED
    bool on = !(env && strcmp(env, "0") == 0);
#else
    bool on = env && *env && strcmp(env, "0") != 0;
#endif
    fh__json_set_tracking(on);
    json_set_alloc_funcs(json_alloc, json_release);
}

/* --------------------------------------------------------------- scopes */

fh_json_scope_t fh_json_arena_begin(fh_arena_t *arena) {
    fh_json_scope_t prev = { tl.arena, tl.track };
    tl.arena = arena;
    tl.track = NULL;
    return prev;
}

fh_json_scope_t fh_json_heap_begin(void) { return fh_json_arena_begin(NULL); }

void fh_json_scope_end(fh_json_scope_t prev) {
    tl.arena = prev._arena;
    tl.track = prev._track;
}

fh_arena_t *fh_json_current_arena(void) { return tl.arena; }

json_t *fh_json_persist(const json_t *value) {
    if (!value)
        return NULL;
    fh_json_scope_t s = fh_json_heap_begin();
    json_t *copy = json_deep_copy(value);
    fh_json_scope_end(s);
    return copy;
}

bool fh_json_in_arena(const json_t *value) {
    /* The singletons (true, false, null) are static, with refcount -1. */
    if (!value || value->refcount == (size_t)-1)
        return false;
    const tag_hdr_t *h = (const tag_hdr_t *)((const char *)value - HDR);
    return h->tag == TAG_ARENA || h->tag == TAG_TRACKED;
}

void fh_json_free(void *ptr) {
    if (ptr)
        json_release(ptr);
}

/* ----------------------------------------------------------------- text */

json_t *fh__json_text(const char *s, size_t n) {
    json_t *v = json_stringn(s, n);
    if (v || !s)
        return v;
    /* Invalid UTF-8 (or out of memory): replace each bad byte by U+FFFD,
     * in the current arena when there is one. */
    if (n > SIZE_MAX / 3 - 1)
        return NULL;
    fh_arena_t *a = tl.arena;
    char *buf = a ? fh_arena_alloc(a, n * 3 + 1) : malloc(n * 3 + 1);
    if (!buf)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = fh__utf8_seq(p + i, n - i);
        if (k) {
            memcpy(buf + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(buf + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    v = json_stringn(buf, o);
    if (!a)
        free(buf);
    return v;
}

/* --------------------------------------------------------- request body */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

static fh_str_t trim(const char *p, const char *end) {
    while (p < end && is_ows(*p))
        p++;
    while (end > p && is_ows(end[-1]))
        end--;
    return (fh_str_t){ p, (size_t)(end - p) };
}

/* application/json or application/<x>+json, case-insensitive. */
static bool json_media_type(fh_str_t mt) {
    static const fh_str_t app = FH_STR_LIT("application/"), suffix = FH_STR_LIT("+json");
    if (fh_str_ieq(mt, FH_STR_LIT("application/json")))
        return true;
    return mt.len > app.len + suffix.len && fh_str_ieq((fh_str_t){ mt.ptr, app.len }, app) &&
           fh_str_ieq((fh_str_t){ mt.ptr + mt.len - suffix.len, suffix.len }, suffix);
}

/* Checks a Content-Type for JSON: the media type, then a charset
 * parameter, which may only say UTF-8 (RFC 8259 section 8.1). Writes the
 * reason into text when it refuses. */
static bool check_content_type(fh_str_t ct, char *text, size_t cap) {
    if (!ct.ptr || ct.len == 0) {
        snprintf(text, cap, "Content-Type is missing: send application/json");
        return false;
    }
    const char *end = ct.ptr + ct.len;
    const char *semi = memchr(ct.ptr, ';', ct.len);
    fh_str_t mt = trim(ct.ptr, semi ? semi : end);
    if (!json_media_type(mt)) {
        snprintf(text, cap, "Content-Type %.*s is not JSON: send application/json",
                 (int)(mt.len > 80 ? 80 : mt.len), mt.ptr);
        return false;
    }
    while (semi) {
        const char *p = semi + 1;
        semi = memchr(p, ';', (size_t)(end - p));
        fh_str_t param = trim(p, semi ? semi : end);
        const char *eq = memchr(param.ptr, '=', param.len);
        if (!eq)
            continue;
        fh_str_t name = trim(param.ptr, eq);
        fh_str_t value = trim(eq + 1, param.ptr + param.len);
        if (value.len >= 2 && value.ptr[0] == '"' && value.ptr[value.len - 1] == '"')
            value = (fh_str_t){ value.ptr + 1, value.len - 2 };
        if (fh_str_ieq(name, FH_STR_LIT("charset")) && !fh_str_ieq(value, FH_STR_LIT("utf-8")) &&
            !fh_str_ieq(value, FH_STR_LIT("utf8"))) {
            snprintf(text, cap, "JSON must be UTF-8, not charset=%.*s",
                     (int)(value.len > 40 ? 40 : value.len), value.ptr);
            return false;
        }
    }
    return true;
}

static int refuse(fh_json_error_t *err, int status, int code, const char *fmt, ...) FH_PRINTF(4, 5);
static int refuse(fh_json_error_t *err, int status, int code, const char *fmt, ...) {
    err->status = status;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return code;
}

int fh_request_json(fh_request_t *req, json_t **out, fh_json_error_t *err) {
    return fh_request_json_opts(req, out, err, NULL);
}

int fh_request_json_opts(fh_request_t *req, json_t **out, fh_json_error_t *err,
                         const fh_json_parse_opts_t *opts) {
    fh_json_error_t local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    err->line = err->column = -1;
    *out = NULL;

    fh_str_t body = fh_request_body(req);
    size_t max = opts ? opts->max_bytes : 0;
    if (max && body.len > max)
        return refuse(err, 413, FH_E2BIG, "request body is larger than %zu bytes", max);
    if (!body.ptr || body.len == 0)
        return refuse(err, 400, FH_EINVAL, "request body is empty: send a JSON document");
    if (!(opts && opts->any_content_type)) {
        fh_str_t ce = fh_request_header(req, "Content-Encoding");
        if (ce.ptr && ce.len && !fh_str_ieq(ce, FH_STR_LIT("identity")))
            return refuse(err, 415, FH_EINVAL, "Content-Encoding %.*s is not supported",
                          (int)(ce.len > 40 ? 40 : ce.len), ce.ptr);
        if (!check_content_type(fh_request_header(req, "Content-Type"), err->text,
                                sizeof(err->text)))
            return refuse(err, 415, FH_EINVAL, NULL);
    }

    fh__json_limits_t lim = {
        opts && opts->max_depth ? opts->max_depth : FH_JSON_MAX_DEPTH,
        opts && opts->max_members ? opts->max_members : FH_JSON_MAX_MEMBERS,
        opts && opts->max_values ? opts->max_values : FH_JSON_MAX_VALUES,
    };
    int lerr = fh__json_limits(req->arena, body, &lim, err->text, sizeof(err->text));
    if (lerr == FH_ENOMEM)
        return refuse(err, 500, FH_ENOMEM, "out of memory while parsing the body");
    if (lerr)
        return refuse(err, 400, FH_EINVAL, NULL);

    size_t flags = opts && opts->flags ? opts->flags : FH_JSON_DECODE_DEFAULT;
    json_error_t je;
    fh_json_scope_t s = fh_json_arena_begin(req->arena);
    json_t *v = json_loadb(body.ptr, body.len, flags, &je);
    fh_json_scope_end(s);
    if (!v) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return refuse(err, 500, FH_ENOMEM, "out of memory while parsing the body");
        err->line = je.line;
        err->column = je.column;
        err->position = je.position > 0 ? (size_t)je.position : 0;
        memcpy(err->text, je.text, sizeof(err->text));
        err->text[sizeof(err->text) - 1] = '\0';
        return refuse(err, 400, FH_EINVAL, NULL);
    }
    *out = v;
    return 0;
}

/* ------------------------------------------------------------ responses */

static const fh_str_t ct_json = FH_STR_LIT("application/json");
static const fh_str_t ct_problem = FH_STR_LIT("application/problem+json");

/* Appends jansson's output to a buffer in the arena; the buffer grows in
 * place while nothing else was allocated after it (fh_arena_realloc). */
typedef struct sink {
    fh_arena_t *arena;
    char *buf;
    size_t len, cap;
    bool oom;
} sink_t;

static int sink_write(const char *s, size_t n, void *data) {
    sink_t *k = data;
    if (n >= SIZE_MAX / 4 - k->len) {
        k->oom = true;
        return -1;
    }
    size_t need = k->len + n + 1; /* + NUL */
    if (need > k->cap) {
        size_t ncap = k->cap ? k->cap * 2 : 256;
        while (ncap < need)
            ncap *= 2;
        char *nb = fh_arena_realloc(k->arena, k->buf, k->cap, ncap);
        if (!nb) {
            k->oom = true;
            return -1;
        }
        k->buf = nb;
        k->cap = ncap;
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
    return 0;
}

/* The flags json_dump.c serializes itself; JSON_PRESERVE_ORDER is what
 * jansson does anyway since 2.8. */
#define FAST_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)

static int dump(fh_arena_t *arena, const json_t *value, size_t flags, fh_str_t *out) {
    *out = (fh_str_t){ NULL, 0 };
    if (!value || !arena)
        return FH_EINVAL;
    if ((flags & JSON_COMPACT) && (flags & ~(size_t)FAST_FLAGS) == 0) {
        int err = fh__json_dump_compact(arena, value, out);
        if (err != FH__DUMP_UNSUPPORTED)
            return err;
    }
    sink_t k = { arena, NULL, 0, 0, false };
    /* jansson's working memory (the cycle-check table) goes to the arena. */
    fh_json_scope_t s = fh_json_arena_begin(arena);
    int r = json_dump_callback(value, sink_write, &k, flags | JSON_ENCODE_ANY);
    fh_json_scope_end(s);
    if (r != 0 || !k.buf)
        return k.oom ? FH_ENOMEM : FH_EINVAL;
    k.buf[k.len] = '\0';
    *out = (fh_str_t){ k.buf, k.len };
    return 0;
}

fh_str_t fh_json_dump(fh_arena_t *arena, const json_t *value, size_t flags) {
    fh_str_t out;
    dump(arena, value, flags, &out);
    return out;
}

static int set_body(fh_response_t *res, const json_t *value, size_t flags, fh_str_t ctype) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    fh_str_t body;
    int err = dump(res->req->arena, value, flags, &body);
    if (err)
        return err;
    err = fh_response_body_borrow(res, body.ptr, body.len);
    if (err)
        return err;
    res->content_type = ctype; /* static: no copy */
    return 0;
}

int fh_response_json(fh_response_t *res, const json_t *value, size_t flags) {
    return set_body(res, value, flags, ct_json);
}

static bool valid_status(int status) { return status >= 100 && status <= 999; }

int fh_send_json(fh_response_t *res, int status, const json_t *value) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (!valid_status(status))
        return FH_EINVAL;
    int err = set_body(res, value, FH_JSON_ENCODE_DEFAULT, ct_json);
    if (err)
        return err;
    res->status = status;
    return fh_response_end(res);
}

int fh__json_send_doc(fh_response_t *res, int status, json_t *doc, fh_str_t content_type) {
    int err;
    if (res->flags & FH__RES_FINAL)
        err = FH_EALREADY_SENT;
    else if (!valid_status(status))
        err = FH_EINVAL;
    else if (!doc)
        err = FH_ENOMEM; /* a constructor (json_pack...) that failed */
    else
        err = set_body(res, doc, FH_JSON_ENCODE_DEFAULT, content_type);
    /* Dropped before ending: ending a deferred response may write and
     * release the request at once, and doc may live in its arena. */
    json_decref(doc);
    if (err)
        return err;
    res->status = status;
    return fh_response_end(res);
}

int fh_send_json_new(fh_response_t *res, int status, json_t *value) {
    return fh__json_send_doc(res, status, value, ct_json);
}

/* ------------------------------------------------------ problem details */

const fh_str_t fh__json_problem_type = FH_STR_LIT("application/problem+json");

static const void *request_id_key;

void fh_problem_set_request_id_key(const void *key) { request_id_key = key; }

/* json_object_set_new that remembers a failure. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok) {
    if (!value || json_object_set_new(obj, key, value) != 0)
        *ok = false;
}

json_t *fh_json_problem(fh_request_t *req, int status, const char *title, const char *detail,
                        const json_t *extra) {
    fh_json_scope_t s = fh_json_arena_begin(req->arena);
    json_t *p = json_object();
    bool ok = p != NULL;
    if (ok) {
        if (!title)
            title = fh_status_reason(status);
        put(p, "type", json_string("about:blank"), &ok);
        put(p, "title", fh__json_text(title, strlen(title)), &ok);
        put(p, "status", json_integer(status), &ok);
        if (detail)
            put(p, "detail", fh__json_text(detail, strlen(detail)), &ok);
        fh_str_t path = fh_request_path(req);
        if (path.ptr && path.len)
            put(p, "instance", fh__json_text(path.ptr, path.len), &ok);
        const char *rid = request_id_key ? fh_request_get(req, request_id_key) : NULL;
        if (rid) {
            put(p, "request_id", fh__json_text(rid, strlen(rid)), &ok);
        } else {
            fh_str_t h = fh_response_header_get(&req->res, "X-Request-Id");
            if (h.ptr)
                put(p, "request_id", fh__json_text(h.ptr, h.len), &ok);
        }
        if (extra && json_is_object(extra) && json_object_update(p, (json_t *)extra) != 0)
            ok = false;
    }
    fh_json_scope_end(s);
    if (!ok) {
        json_decref(p);
        return NULL;
    }
    return p;
}

int fh_send_problem(fh_response_t *res, int status, const char *title, const char *detail,
                    const json_t *extra) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (!valid_status(status))
        return FH_EINVAL;
    return fh__json_send_doc(res, status, fh_json_problem(res->req, status, title, detail, extra),
                             ct_problem);
}

int fh_json_error_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (res->flags & FH__RES_FINAL)
        return 0;
    int status = res->status;
    return fh__json_send_doc(res, status, fh_json_problem(req, status, NULL, NULL, NULL),
                             ct_problem);
}

int fh_send_json_error(fh_response_t *res, const fh_json_error_t *err) {
    if (res->flags & FH__RES_FINAL)
        return FH_EALREADY_SENT;
    if (!err)
        return FH_EINVAL;
    int status = err->status >= 400 && err->status <= 599 ? err->status : 400;
    fh_request_t *req = res->req;
    json_t *p = fh_json_problem(req, status, NULL, err->text[0] ? err->text : NULL, NULL);
    if (p && err->line >= 0) {
        bool ok = true;
        fh_json_scope_t s = fh_json_arena_begin(req->arena);
        put(p, "line", json_integer(err->line), &ok);
        put(p, "column", json_integer(err->column), &ok);
        put(p, "position", json_integer((json_int_t)err->position), &ok);
        fh_json_scope_end(s);
        if (!ok) {
            json_decref(p);
            p = NULL;
        }
    }
    if (p && status == 415 && fh_response_header_set(res, "Accept", "application/json") != 0) {
        json_decref(p);
        p = NULL;
    }
    return fh__json_send_doc(res, status, p, ct_problem);
}
