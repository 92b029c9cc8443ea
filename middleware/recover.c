/* Error recovery: a failed handler's response becomes a problem+json 500
 * (fh_send_problem, json.h). */
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
    if (!e)
        e = fh_send_problem(res, 500, NULL, r->opt.expose_errors ? fh_strerror(err) : NULL, NULL);
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
