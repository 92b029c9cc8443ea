/* Request id: keep a valid client id or generate one, expose it through a
 * request slot, echo it in a response header. */
#include <stdio.h>
#include <stdlib.h>

#include "middleware/mw.h"

typedef struct request_id {
    char *header;
    fh_str_t name; /* header, with its length */
    bool plain;    /* name is stored as a field (fh__response_header_plain) */
    size_t max_length;
    bool ignore_incoming;
    bool echo;
} request_id_t;

/* The slot holds the id as a NUL-terminated string in the arena. */
const char fh__mw_id_key, fh__mw_id_rec_key;

const void *fh_request_id_key(void) { return &fh__mw_id_key; }

/* Per-thread generator state: the next id to hand out, "<16 hex digits of
 * a random prefix drawn on first use>-<12 hex digits of a counter>", and
 * the counter. Each id is a copy of text, whose counter digits are
 * incremented in place. */
#define ID_LEN 29
static _Thread_local struct {
    bool ready;
    uint64_t counter;
    char text[ID_LEN + 1];
} gen FH__TLS_FAST;

static const char hex[] = "0123456789abcdef";

static void gen_init(void) {
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
        gen.text[2 * i] = hex[rnd[i] >> 4];
        gen.text[2 * i + 1] = hex[rnd[i] & 15];
    }
    gen.text[16] = '-';
    memset(gen.text + 17, '0', 12);
    gen.text[ID_LEN] = '\0';
    gen.counter = 0;
    gen.ready = true;
}

/* Advances the counter and its 12 hex digits: the last digit, and the
 * ones before it that wrap (one in sixteen ids touches a second digit). */
static void gen_next(void) {
    uint64_t n = ++gen.counter;
    for (int i = ID_LEN - 1; i > 16; i--) {
        gen.text[i] = hex[n & 15];
        if (n & 15)
            break;
        n >>= 4;
    }
}

static bool id_char(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == '.' || c == ':' || c == '+' || c == '/' || c == '=' || c == '@';
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
    fh_str_t in =
        r->ignore_incoming ? (fh_str_t){ NULL, 0 } : fh__request_header_find(req, r->name);
    fh__mw_rid_record_t *rec;
    if (id_valid(in, r->max_length)) {
        /* Copied: request views may not outlive a written response. */
        rec = fh__alloc(req, sizeof(*rec) + in.len + 1);
        if (!rec)
            return FH_ENOMEM;
        memcpy(rec->text, in.ptr, in.len);
        rec->text[in.len] = '\0';
        rec->len = in.len;
    } else {
        if (!gen.ready)
            gen_init();
        gen_next();
        rec = fh__alloc(req, sizeof(*rec) + ID_LEN + 1);
        if (!rec)
            return FH_ENOMEM;
        memcpy(rec->text, gen.text, ID_LEN + 1);
        rec->len = ID_LEN;
    }
    fh__request_set_node(req, &rec->id_slot, &fh__mw_id_key, rec->text);
    fh__request_set_node(req, &rec->rec_slot, &fh__mw_id_rec_key, rec);
    return FH_NEXT;
}

static void rid_after(fh_request_t *req, fh_response_t *res, void *data) {
    request_id_t *r = data;
    bool checked;
    fh_str_t id = fh__mw_request_id(req, &checked);
    /* The slot is public: text that another hand put there is checked
     * before it becomes a header. The id is in the arena, so a view of it
     * is kept. */
    if (!id.ptr || (!checked && !fh__header_value_ok(id)))
        return;
    if (r->plain)
        fh__response_header_set_view(res, r->name, id);
    else
        fh_response_header_set(res, r->header, id.ptr);
}

fh_str_t fh_request_id(const fh_request_t *req) {
    bool checked;
    return fh__mw_request_id(req, &checked);
}

static void rid_release(void *data) {
    request_id_t *r = data;
    free(r->header);
    free(r);
}

int fh_request_id_new(fh_middleware_t *out, const fh_request_id_options_t *opt) {
    static const fh_request_id_options_t defaults = { 0 };
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
    r->name = (fh_str_t){ r->header, strlen(header) };
    r->plain = fh__response_header_plain(r->name);
    r->max_length = opt->max_length ? opt->max_length : 128;
    r->ignore_incoming = opt->ignore_incoming;
    r->echo = !opt->no_response_header;
    /* Problem documents (json.h) carry the id from now on. */
    fh_problem_set_request_id_key(&fh__mw_id_key);
    out->name = "request_id";
    out->before = rid_before;
    out->after = r->echo ? rid_after : NULL;
    out->data = r;
    out->release = rid_release;
    fh__mw_ok();
    return 0;
}
