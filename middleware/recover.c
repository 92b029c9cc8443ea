/* Error recovery: a failed handler's response becomes a problem+json 500. */
#include <stdlib.h>

#include "middleware/mw.h"

typedef struct recover {
    fh_recover_options_t opt;
} recover_t;

static int recover_error(fh_request_t *req, fh_response_t *res, int err, void *data) {
    recover_t *r = data;
    if (r->opt.report)
        r->opt.report(req, err, r->opt.report_data);
    int e = fh_response_reset(res);
    if (e)
        return e;
    static const char head[] =
        "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500";
    fh_str_t id = fh_request_id(req);
    fh_str_t detail = r->opt.expose_errors ? fh_str(fh_strerror(err)) : (fh_str_t){NULL, 0};
    size_t cap = sizeof(head) + 32 + fh__mw_json_len(id) + fh__mw_json_len(detail);
    char *body = fh_alloc(req, cap);
    if (!body)
        return FH_ENOMEM;
    char *p = body;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    if (detail.ptr) {
        memcpy(p, ",\"detail\":\"", 11);
        p += 11;
        p += fh__mw_json_escape(p, detail);
        *p++ = '"';
    }
    if (id.ptr) {
        memcpy(p, ",\"request_id\":\"", 15);
        p += 15;
        p += fh__mw_json_escape(p, id);
        *p++ = '"';
    }
    *p++ = '}';
    e = fh_response_status(res, 500);
    if (!e)
        e = fh_response_header(res, "Content-Type", "application/problem+json");
    if (!e)
        e = fh_response_body_borrow(res, body, (size_t)(p - body));
    if (!e)
        e = fh_response_end(res);
    return e ? e : FH_STOP;
}

int fh_recover_new(fh_middleware_t *out, const fh_recover_options_t *opt) {
    memset(out, 0, sizeof(*out));
    recover_t *r = calloc(1, sizeof(*r));
    if (!r)
        return FH_ENOMEM;
    if (opt)
        r->opt = *opt;
    out->name = "recover";
    out->error = recover_error;
    out->data = r;
    out->release = free;
    fh__mw_ok();
    return 0;
}
