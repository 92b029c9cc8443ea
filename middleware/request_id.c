/* Request id: keep a valid client id or generate one, expose it through a
 * request slot, echo it in a response header. */
#include <stdio.h>
#include <stdlib.h>

#include "middleware/mw.h"

typedef struct request_id {
    char *header;
    size_t header_len;
    size_t max_length;
    bool ignore_incoming;
    bool echo;
} request_id_t;

/* The slot holds the id as a NUL-terminated string in the arena. */
static const char id_key;

const void *fh_request_id_key(void) { return &id_key; }

/* Per-thread generator state: a random prefix drawn on first use. */
static _Thread_local struct {
    bool ready;
    uint64_t counter;
    char prefix[17];
} gen;

static void gen_init(void) {
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[8];
    if (uv_random(NULL, NULL, rnd, sizeof(rnd), 0, NULL) != 0) {
        /* No entropy source: mix the clock, the thread's stack address
         * and a process-wide counter; still unique per thread. */
        static _Atomic uint64_t fallback;
        uint64_t x = uv_hrtime() ^ (uint64_t)(uintptr_t)&gen ^
                     (atomic_fetch_add(&fallback, 1) * 0x9e3779b97f4a7c15ull);
        memcpy(rnd, &x, sizeof(rnd));
    }
    for (int i = 0; i < 8; i++) {
        gen.prefix[2 * i] = hex[rnd[i] >> 4];
        gen.prefix[2 * i + 1] = hex[rnd[i] & 15];
    }
    gen.prefix[16] = '\0';
    gen.ready = true;
}

static bool id_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '=' ||
           c == '@';
}

static bool id_valid(fh_str_t s, size_t max) {
    if (!s.ptr || s.len == 0 || s.len > max)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!id_char((unsigned char)s.ptr[i]))
            return false;
    return true;
}

static int rid_before(fh_request_t *req, fh_response_t *res, void *data) {
    (void)res;
    request_id_t *r = data;
    char *id;
    fh_str_t in = r->ignore_incoming ? (fh_str_t){NULL, 0} : fh_request_header(req, r->header);
    if (id_valid(in, r->max_length)) {
        /* Copied: request views may not outlive a written response. */
        id = fh_strndup(req, in);
        if (!id)
            return FH_ENOMEM;
    } else {
        static const char hex[] = "0123456789abcdef";
        if (!gen.ready)
            gen_init();
        uint64_t n = ++gen.counter;
        char *p = id = fh_alloc(req, 30);
        if (!p)
            return FH_ENOMEM;
        memcpy(p, gen.prefix, 16);
        p[16] = '-';
        for (int i = 28; i > 16; i--) {
            p[i] = hex[n & 15];
            n >>= 4;
        }
        p[29] = '\0';
    }
    return fh_request_set(req, &id_key, id);
}

static void rid_after(fh_request_t *req, fh_response_t *res, void *data) {
    request_id_t *r = data;
    const char *id = fh_request_get(req, &id_key);
    if (!id)
        return;
    fh_str_t name = {r->header, r->header_len};
    if (fh_response_header_get(res, r->header).ptr)
        fh_response_header_set(res, r->header, id);
    else
        fh_response_header_str(res, name, fh_str(id));
}

fh_str_t fh_request_id(const fh_request_t *req) {
    return fh_str(fh_request_get(req, &id_key));
}

static void rid_release(void *data) {
    request_id_t *r = data;
    free(r->header);
    free(r);
}

int fh_request_id_new(fh_middleware_t *out, const fh_request_id_options_t *opt) {
    static const fh_request_id_options_t defaults = {0};
    memset(out, 0, sizeof(*out));
    if (!opt)
        opt = &defaults;
    const char *header = opt->header ? opt->header : "X-Request-ID";
    if (!fh__mw_is_token(fh_str(header)))
        return fh__mw_fail(FH_ECONFIG, "request_id.header: \"%s\" is not a header name", header);
    if (opt->max_length > 1024)
        return fh__mw_fail(FH_ECONFIG, "request_id.max_length: %zu is over 1024", opt->max_length);
    request_id_t *r = calloc(1, sizeof(*r));
    if (!r)
        return FH_ENOMEM;
    r->header = strdup(header);
    if (!r->header) {
        free(r);
        return FH_ENOMEM;
    }
    r->header_len = strlen(header);
    r->max_length = opt->max_length ? opt->max_length : 128;
    r->ignore_incoming = opt->ignore_incoming;
    r->echo = !opt->no_response_header;
    /* Problem documents (json.h) carry the id from now on. */
    fh_problem_set_request_id_key(&id_key);
    out->name = "request_id";
    out->before = rid_before;
    out->after = r->echo ? rid_after : NULL;
    out->data = r;
    out->release = rid_release;
    fh__mw_ok();
    return 0;
}
