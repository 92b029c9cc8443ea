/* fasthttp — error recovery middleware.
 *
 * Turns a failure into a clean RFC 9457 problem document. When the handler
 * (or a before hook of a middleware added after this one) returns a
 * negative code without having finished its response, or a deferred
 * handler calls fh_chain_fail, whatever the handler had built (status,
 * headers, part of a body) is discarded and the client gets exactly:
 *
 *     HTTP/1.1 500 Internal Server Error
 *     Content-Type: application/problem+json
 *
 *     {"type":"about:blank","title":"Internal Server Error","status":500,
 *      "instance":"/orders/7","request_id":"9f86d081884c7d65-00000000002a"}
 *
 * The document is fh_send_problem's (json.h): "instance" is the request
 * path, "request_id" is there when the request id middleware ran (see
 * mw_request_id.h), and "detail" (fh_strerror of the code) only with
 * expose_errors. After hooks (CORS, security headers, the access log...)
 * still run on that response. A response is never half-written: responses
 * are serialized only once final, so replacing one is always clean.
 *
 * Add it first (outermost) so it covers every other middleware. It has no
 * before or after hook: an empty request path costs nothing.
 */
#ifndef FASTHTTP_MW_RECOVER_H
#define FASTHTTP_MW_RECOVER_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*fh_recover_report_fn)(fh_request_t *req, int err, void *data);

typedef struct fh_recover_options {
    /* Put fh_strerror(err) in the document's "detail" (default false: the
     * client learns nothing about internals). */
    bool expose_errors;
    /* Called for every error recovered, before the answer is built, on the
     * request's thread (log it, count it). NULL = none. */
    fh_recover_report_fn report;
    void *report_data;
} fh_recover_options_t;

/* Fills *out; opt may be NULL. Free with fh_middleware_release. */
FH_API int fh_recover_new(fh_middleware_t *out, const fh_recover_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_RECOVER_H */
