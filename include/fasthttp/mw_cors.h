/* fasthttp — CORS middleware (the Fetch standard's CORS protocol).
 *
 * Preflight: an OPTIONS request with Origin and
 * Access-Control-Request-Method is answered here, 204 with no body, and
 * goes no further:
 *     Access-Control-Allow-Origin: <origin>   (or * for any origin)
 *     Access-Control-Allow-Credentials: true  (with credentials)
 *     Access-Control-Allow-Methods: <methods>
 *     Access-Control-Allow-Headers: <allow_headers, or the requested ones>
 *     Access-Control-Max-Age: <max_age>
 *     Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers
 * A preflight from an origin that is not allowed gets the same 204 without
 * any Access-Control-Allow-* header, so the browser refuses the request.
 *
 * With the router (options.router), a preflight is answered for its path:
 * Access-Control-Allow-Methods lists the methods the router has routes for
 * on that path (fh_router_methods; HEAD with GET, never OPTIONS), and a path
 * no route matches is answered by the router itself, as any request there:
 * 404 (the not_found handler of the mount covering it, a problem document
 * under a JSON mount), or 400 for a malformed path. Without it, every
 * preflight gets 204 and the methods option.
 *
 * Other requests go on; when their Origin is allowed, the after hook adds
 * Access-Control-Allow-Origin, -Allow-Credentials and -Expose-Headers to
 * the response, whatever it is (errors included). "Vary: Origin" is added
 * to every response whose headers depend on the Origin (all of them, unless
 * origins is exactly {"*"} without credentials), so shared caches keep one
 * copy per origin.
 *
 * Place CORS before auth and rate limiting, so preflights (which carry no
 * credentials) are answered before those refuse them.
 */
#ifndef FASTHTTP_MW_CORS_H
#define FASTHTTP_MW_CORS_H

#include "middleware.h"
#include "router.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Decides whether origin (the Origin header's value, never absent) may use
 * the resource. Runs on the request's thread, for every request with an
 * Origin. */
typedef bool (*fh_cors_origin_fn)(fh_request_t *req, fh_str_t origin, void *data);

/** Options of fh_cors_new. */
typedef struct fh_cors_options {
    /** Allowed origins, a NULL-terminated list of "scheme://host[:port]"
     * compared case-insensitively, or the single entry "*" for any origin.
     * Either origins or allow_origin is required; with both, an origin is
     * allowed when it is listed or the function says yes. */
    const char *const *origins;
    fh_cors_origin_fn allow_origin; /**< or a function deciding per origin */
    void *allow_origin_data;        /**< passed to allow_origin */
    /** Methods announced in preflights (tokens). NULL =
     * GET, HEAD, PUT, PATCH, POST, DELETE; with router, NULL means the
     * router's methods for the path, and a list keeps those of them it
     * names. */
    const char *const *methods;
    /** The router behind this middleware (the chain's final handler), or
     * NULL. When set, preflights announce the methods of their path and
     * unknown paths get the router's 404 (see above). It must outlive the
     * middleware; it is only read, from every worker thread. */
    fh_router_t *router;
    /** Request headers allowed in preflights (tokens). NULL = whatever the
     * preflight asks for (Access-Control-Request-Headers is echoed). */
    const char *const *allow_headers;
    /** Response headers scripts may read (tokens); NULL = none. */
    const char *const *expose_headers;
    /** Send Access-Control-Allow-Credentials: true (cookies, HTTP auth).
     * Not allowed with origins {"*"}: list the origins instead. */
    bool credentials;
    /** Seconds a preflight may be cached (Access-Control-Max-Age):
     * 0 = 600; -1 = send no Max-Age. */
    int max_age;
} fh_cors_options_t;

/** Fills *out. FH_ECONFIG names a bad field (fh_middleware_error): an entry
 * of origins that is not "*" or scheme://host[:port], a method or header
 * that is not a token, credentials with "*", no origins at all. The lists
 * are copied. Free with fh_middleware_release. */
FH_API int fh_cors_new(fh_middleware_t *out, const fh_cors_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_CORS_H */
