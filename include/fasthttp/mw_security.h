/* fasthttp — security headers middleware.
 *
 * Adds protective response headers to every response of the chain (errors
 * included), from its after hook. A header the handler set itself is left
 * as it is, so one route can loosen a policy.
 *
 * Each option is the header's value: NULL takes the default in brackets,
 * "" leaves the header out.
 *
 *   hsts                     Strict-Transport-Security
 *                            [max-age=31536000; includeSubDomains]
 *                            (browsers only honour it over HTTPS, so it is
 *                            harmless behind a TLS-terminating proxy or not)
 *   content_type_options     X-Content-Type-Options [nosniff]
 *   frame_options            X-Frame-Options [SAMEORIGIN]
 *   referrer_policy          Referrer-Policy [no-referrer]
 *   content_security_policy  Content-Security-Policy [none sent]
 *   cross_origin_opener_policy  Cross-Origin-Opener-Policy [none sent]
 *   permissions_policy       Permissions-Policy [none sent]
 *
 * Values may not hold control characters (FH_ECONFIG names the field).
 */
#ifndef FASTHTTP_MW_SECURITY_H
#define FASTHTTP_MW_SECURITY_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of fh_security_headers_new: each field is the header's value,
 * NULL for the default, "" to leave the header out. */
typedef struct fh_security_options {
    const char *hsts; /**< Strict-Transport-Security [max-age=31536000; includeSubDomains] */
    const char *content_type_options;       /**< X-Content-Type-Options [nosniff] */
    const char *frame_options;              /**< X-Frame-Options [SAMEORIGIN] */
    const char *referrer_policy;            /**< Referrer-Policy [no-referrer] */
    const char *content_security_policy;    /**< Content-Security-Policy [none sent] */
    const char *cross_origin_opener_policy; /**< Cross-Origin-Opener-Policy [none sent] */
    const char *permissions_policy;         /**< Permissions-Policy [none sent] */
} fh_security_options_t;

/** Fills *out; opt may be NULL for the defaults. Values are copied. Free
 * with fh_middleware_release. */
FH_API int fh_security_headers_new(fh_middleware_t *out, const fh_security_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_SECURITY_H */
