/**
 * @file
 * fasthttp — the router: a compressed radix tree of routes.
 *
 *     static const fh_route_t api[] = {
 *         FH_GET("/users", list_users),
 *         FH_GET("/users/:id", get_user),
 *         FH_POST("/users", create_user),
 *         FH_GET("/static/" "*path", static_file), // see below
 *         FH_ROUTES_END,
 *     };
 *     fh_router_t *router;
 *     fh_router_new(&router, NULL);
 *     if (fh_router_mount(router, "/api", api, app_state))
 *         fprintf(stderr, "%s\n", fh_router_error(router));
 *     cfg.handler = fh_router_handle;      // fh_server_config_t
 *     cfg.handler_data = router;
 *
 * Patterns. A pattern starts with '/' and is split at '/' into segments:
 *   - a static segment matches itself, byte for byte (case-sensitive). It is
 *     written decoded ("/café"), and may use %XX escapes for bytes that
 *     cannot be written otherwise ("/a%20b", "/%3Aliteral" for a leading
 *     ':'); "%2F" is refused, a static segment cannot hold a slash;
 *   - ":name" matches one whole non-empty segment (no '/'), captured as the
 *     parameter "name" (letters, digits, '_'); a parameter fills its
 *     segment ("/:id.json" is malformed);
 *   - "*name", only as the last segment, matches the rest of the path,
 *     slashes included and possibly empty: "/static/" followed by "*path"
 *     matches "/static/" and "/static/css/a.css", not "/static". (In C
 *     comments such a pattern has to be split in two literals, as in the
 *     example above, since a slash and a star open a comment; in code,
 *     "/static/" "*path" and the single literal are the same string.)
 *   A pattern may end with '/' ("/users/" differs from "/users"); empty
 *   segments ("/a//b") and more than FH_ROUTER_MAX_PARAMS parameters are
 *   malformed.
 *
 * Matching. Where several patterns match a path, a static segment wins over
 * a parameter, which wins over a catch-all, segment by segment from the
 * left. When the preferred branch fails further right, the router backtracks
 * and tries the next one: with "/users/new" and "/users/:id", "/users/new"
 * goes to the first and "/users/newbie" to the second. A route registered
 * for the request's method wins over routes that only match the path: with
 * GET "/users/new" and POST "/users/:id", a POST to "/users/new" reaches the
 * second. Every node is visited at most once, so a lookup costs O(path
 * length) plus backtracking bounded by the tree, never exponential.
 *
 * Methods. On one pattern, a route for the exact method wins, then (for
 * HEAD) the GET route, then an FH_METHOD_ANY route. HEAD requests served by
 * a GET route get its headers without the body (the core drops it).
 * OPTIONS is answered automatically (204 with Allow) when no route handles
 * OPTIONS for the path, unless cfg.manual_options is set. A path that
 * matches routes, none of them for the method, gets 405 with an Allow
 * header; a path that matches nothing gets 404.
 *
 * Path policy. The router matches the raw, still percent-encoded path split
 * at raw '/' only, so "%2F" stays inside its segment and "/files/a%2Fb"
 * matches "/files/:name" with name "a/b". Escapes of other bytes compare as
 * the byte ("/%75sers" matches "/users"). Then:
 *   - a malformed escape ("%G1", "%4") or an encoded NUL ("%00") anywhere in
 *     the path answers 400;
 *   - a dot segment, "." or "..", after decoding and splitting at every
 *     slash (raw or encoded: "/a/%2e%2e/b", "/f/x%2F..%2Fy"), answers 400:
 *     dot segments are never normalised, so nothing reaches a handler
 *     through them and no path can climb out of a mount;
 *   - empty segments ("/a//b") match only what a catch-all swallows; with
 *     cfg.double_slash = FH_SLASH_REDIRECT, a path that matches nothing but
 *     would match with runs of '/' collapsed answers 308 to that form;
 *   - trailing slash: strict by default ("/users/" does not match
 *     "/users"); with cfg.trailing_slash = FH_SLASH_REDIRECT, a path that
 *     matches nothing but would match with the trailing slash removed or
 *     added answers 308 to that form (the query string is kept). A redirect
 *     whose target would start with "//" or "/\" is never sent (404
 *     instead): browsers read those as another host.
 *   - parameters are percent-decoded ('+' stays '+') into the request's
 *     arena before the handler runs.
 *
 * Not found and method not allowed. By default a 404 or 405 is a short
 * text answer ("Not Found", and Allow on a 405). A handler set for them
 * replaces it: router-wide in fh_router_config_t, or for the paths under
 * one mount's prefix with fh_router_mount_opts (fh_mount_options_t), so a
 * JSON API mounted at "/api" answers problem documents while the pages
 * elsewhere keep text errors:
 *
 *     fh_mount_options_t json = {.not_found = fh_json_error_handler,
 *                                .method_not_allowed = fh_json_error_handler};
 *     fh_router_mount_opts(router, "/api", api, app_state, &json);
 *
 * A path is under a mount's prefix when it is the prefix or continues it
 * with '/' ("/api", "/api/", "/api/nope", not "/apis"), a parameter of the
 * prefix matching any one segment. Where several mounts with such a handler
 * cover a path, the prefix with the most segments wins (the first mounted
 * of equal ones); a mount's handler wins over the router-wide one. Before
 * the handler runs, the status is set on res (404 or 405) and, for 405, the
 * Allow header, so the handler only decides the body
 * (fh_json_error_handler in json.h reads both); it may still set another
 * status. It runs outside every route's and mount's middleware, in the
 * global chain only. Looking for the handler costs nothing on matched
 * requests and allocates nothing.
 *
 * Threads and lifetime. Add every route before fh_server_start. Once the
 * router has dispatched a request it is frozen: fh_router_add and
 * fh_router_mount then return FH_ESTATE. Lookups only read the tree, so
 * every worker thread uses the router at once without locks. The router
 * must outlive the server: free it after fh_server_free.
 *
 * Errors. fh_router_add and fh_router_mount return 0, FH_EROUTE_PATTERN (a
 * malformed pattern), FH_EROUTE_CONFLICT (the same method and pattern
 * twice, two parameter or catch-all names at the same place), FH_EINVAL,
 * FH_ESTATE or FH_ENOMEM. A failed call changes nothing, and
 * fh_router_error() names the route (and the route it conflicts with). The
 * router prints nothing itself.
 */
#ifndef FASTHTTP_ROUTER_H
#define FASTHTTP_ROUTER_H

#include "body.h"
#include "common.h"
#include "middleware.h"
#include "operation.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A router (opaque): a radix tree of routes. */
typedef struct fh_router fh_router_t;

/** The most parameters (":name" and "*name") one pattern may hold. */
#define FH_ROUTER_MAX_PARAMS 16

/** The method of a route that answers every method. */
#define FH_METHOD_ANY ((fh_method_t)0xff)

/** One route of a table. Tables are arrays ended by FH_ROUTES_END and are
 * usually const data; the router copies what it needs, so a table may be a
 * temporary. data is passed to the handler; NULL means "the mount's data". */
typedef struct fh_route {
    fh_method_t method;    /**< an FH_METHOD_* up to FH_METHOD_TRACE, or FH_METHOD_ANY */
    const char *pattern;   /**< the path pattern; NULL ends the table */
    fh_handler_fn handler; /**< called for requests that match */
    void *data;            /**< passed to handler; NULL = the mount's data */
    /** Per-route middleware: NULL, or a NULL-terminated array of pointers
     * to middleware (middleware.h) that run around this route's handler,
     * inside the mount's middleware (fh_router_mount_mw) and the global
     * chain. The middleware values are copied when the route is added, so
     * build them first; they must outlive the router. */
    const fh_middleware_t *const *middleware;
    /** What the route takes and answers (operation.h): its parameters and
     * body are then checked before the handler runs, and it is published
     * with them in the OpenAPI document (openapi.h). NULL: the route runs
     * as it is, and the document shows what the router knows. */
    const fh_operation_t *op;
    /** The route's body streams to its handler (body.h), with these
     * options, when the server's body_stream is fh_router_body_stream.
     * NULL (default): the body is read whole before the handler runs. */
    const fh_body_options_t *body_stream;
} fh_route_t;

/** @{ */
/** An entry of a route table: method m, pattern p, handler h and data d
 * (FH_ROUTE_D); without data (FH_ROUTE, and one shorthand per method). */
#define FH_ROUTE_D(m, p, h, d)                                                                     \
    { (m), (p), (h), (d), NULL, NULL, NULL }
#define FH_ROUTE(m, p, h) FH_ROUTE_D(m, p, h, NULL)
#define FH_GET(p, h) FH_ROUTE(FH_METHOD_GET, p, h)
#define FH_HEAD(p, h) FH_ROUTE(FH_METHOD_HEAD, p, h)
#define FH_POST(p, h) FH_ROUTE(FH_METHOD_POST, p, h)
#define FH_PUT(p, h) FH_ROUTE(FH_METHOD_PUT, p, h)
#define FH_PATCH(p, h) FH_ROUTE(FH_METHOD_PATCH, p, h)
#define FH_DELETE(p, h) FH_ROUTE(FH_METHOD_DELETE, p, h)
#define FH_OPTIONS(p, h) FH_ROUTE(FH_METHOD_OPTIONS, p, h)
#define FH_ANY(p, h) FH_ROUTE(FH_METHOD_ANY, p, h)
/** @} */
/** @{ */
/** The same with per-route data. */
#define FH_GET_D(p, h, d) FH_ROUTE_D(FH_METHOD_GET, p, h, d)
#define FH_HEAD_D(p, h, d) FH_ROUTE_D(FH_METHOD_HEAD, p, h, d)
#define FH_POST_D(p, h, d) FH_ROUTE_D(FH_METHOD_POST, p, h, d)
#define FH_PUT_D(p, h, d) FH_ROUTE_D(FH_METHOD_PUT, p, h, d)
#define FH_PATCH_D(p, h, d) FH_ROUTE_D(FH_METHOD_PATCH, p, h, d)
#define FH_DELETE_D(p, h, d) FH_ROUTE_D(FH_METHOD_DELETE, p, h, d)
#define FH_OPTIONS_D(p, h, d) FH_ROUTE_D(FH_METHOD_OPTIONS, p, h, d)
#define FH_ANY_D(p, h, d) FH_ROUTE_D(FH_METHOD_ANY, p, h, d)
/** @} */
/** A route with per-route middleware: mws is a NULL-terminated array of
 * `const fh_middleware_t *`, for example
 *   FH_ROUTE_MW(FH_METHOD_DELETE, "/users/:id", delete_user, NULL,
 *               ((const fh_middleware_t *const[]){&admin_auth, NULL})) */
#define FH_ROUTE_MW(m, p, h, d, mws)                                                               \
    { (m), (p), (h), (d), (mws), NULL, NULL }
/** A route with an operation (operation.h): FH_ROUTE_OP(m, p, h, op), and
 * one shorthand per method, FH_GET_OP("/users/:id", get_user, &get_user_op). */
#define FH_ROUTE_OP(m, p, h, op)                                                                   \
    { (m), (p), (h), NULL, NULL, (op), NULL }
/** @{ */
/** The same per method. */
#define FH_GET_OP(p, h, op) FH_ROUTE_OP(FH_METHOD_GET, p, h, op)
#define FH_POST_OP(p, h, op) FH_ROUTE_OP(FH_METHOD_POST, p, h, op)
#define FH_PUT_OP(p, h, op) FH_ROUTE_OP(FH_METHOD_PUT, p, h, op)
#define FH_PATCH_OP(p, h, op) FH_ROUTE_OP(FH_METHOD_PATCH, p, h, op)
#define FH_DELETE_OP(p, h, op) FH_ROUTE_OP(FH_METHOD_DELETE, p, h, op)
/** @} */
/** Every field of a route: method, pattern, handler, data, middleware
 * (NULL-terminated array or NULL) and operation (or NULL). */
#define FH_ROUTE_FULL(m, p, h, d, mws, op)                                                         \
    { (m), (p), (h), (d), (mws), (op), NULL }
/** A route whose body streams to its handler (body.h): method m, pattern
 * p, handler h, data d and options opts (a const fh_body_options_t *). */
#define FH_ROUTE_STREAM(m, p, h, d, opts)                                                          \
    { (m), (p), (h), (d), NULL, NULL, (opts) }
/** The entry that ends a route table (its pattern is NULL). */
#define FH_ROUTES_END                                                                              \
    { FH_METHOD_GET, NULL, NULL, NULL, NULL, NULL, NULL }

/** What to do with a path that differs from a route only by slashes. */
typedef enum fh_slash_policy {
    FH_SLASH_STRICT = 0, /**< no match: 404 (default) */
    FH_SLASH_REDIRECT,   /**< 308 to the form that matches */
} fh_slash_policy_t;

/** Router configuration. A zeroed struct is the default configuration. */
typedef struct fh_router_config {
    fh_slash_policy_t trailing_slash; /**< "/users/" vs "/users" */
    fh_slash_policy_t double_slash;   /**< "/a//b" vs "/a/b" */
    /** false (default): OPTIONS on a path without an OPTIONS route answers
     * 204 with Allow. true: such requests get 405 like any other method. */
    bool manual_options;
    /** Called for 404 instead of the plain "Not Found" answer; the status
     * 404 is already set on res when it runs. */
    fh_handler_fn not_found;
    void *not_found_data; /**< passed to not_found */
    /** Called for 405 instead of the plain answer; the status 405 and the
     * Allow header are already set on res when it runs. */
    fh_handler_fn method_not_allowed;
    void *method_not_allowed_data; /**< passed to method_not_allowed */
    /** The response check mode of operations (operation.h), for tests and
     * development: a response of a route with an operation that does not
     * match what it declares for its status is logged and answered 500.
     * Also switched on by FH_CHECK_RESPONSES=1 in the environment when
     * the router is made (FH_CHECK_RESPONSES=0 switches it off). */
    bool check_responses;
} fh_router_config_t;

/** The defaults (all fields zero). */
FH_API fh_router_config_t fh_router_config_default(void);

/** A new, empty router. cfg is copied; NULL means the defaults. Returns 0 or
 * FH_ENOMEM. Free it with fh_router_free. */
FH_API int fh_router_new(fh_router_t **out, const fh_router_config_t *cfg);
/** Frees the router, its tree and its copies of patterns. Every fh_route_info_t
 * and error message it handed out becomes invalid. NULL is a no-op. The
 * server using it must be freed first. */
FH_API void fh_router_free(fh_router_t *router);

/** Adds one route with an operation (NULL: none), as a table entry with
 * op would. Errors as fh_router_add, and FH_EINVAL for an operation that
 * cannot be right (fh_router_error says why). */
FH_API int fh_router_add_op(fh_router_t *router, fh_method_t method, const char *pattern,
                            fh_handler_fn handler, void *data, const fh_operation_t *op);

/** Adds one route. pattern is copied; handler is required; data is passed to
 * the handler (may be NULL). method is FH_METHOD_GET..FH_METHOD_TRACE or
 * FH_METHOD_ANY. Returns 0 or an error listed at the top (the router is then
 * unchanged; fh_router_error tells why). */
FH_API int fh_router_add(fh_router_t *router, fh_method_t method, const char *pattern,
                         fh_handler_fn handler, void *data);

/** Adds every route of a table (ended by FH_ROUTES_END) under prefix: the
 * route "/users" mounted at "/api" is "/api/users", "/" is "/api/" (route
 * patterns start with '/' here too; add "/api" itself directly). prefix
 * is a pattern without a catch-all (it may hold parameters,
 * "/orgs/:org"); NULL, "" and "/" mean the root. A route whose data is NULL
 * gets mount_data. The table and prefix are copied. All or nothing: on
 * error no route of the table is added, and fh_router_error names the
 * failing route by its full pattern. */
FH_API int fh_router_mount(fh_router_t *router, const char *prefix, const fh_route_t *routes,
                           void *mount_data);

/** fh_router_mount with middleware around every route of the table:
 * middleware is NULL or a NULL-terminated array of pointers to middleware,
 * copied when the routes are added (build them first; they must outlive
 * the router). For each route they run, in order, before the route's own
 * middleware (fh_route_t.middleware); the router wraps the route's handler
 * in a chain (middleware.h) at mount time, so a route without middleware
 * costs nothing more. Requests the router answers itself (404, 405,
 * automatic OPTIONS, 308, 400) match no route and meet only the global
 * chain: put CORS there, since preflights are automatic OPTIONS. A
 * middleware with no hook at all fails the mount with FH_EINVAL. */
FH_API int fh_router_mount_mw(fh_router_t *router, const char *prefix, const fh_route_t *routes,
                              void *mount_data, const fh_middleware_t *const *middleware);

/** Options of fh_router_mount_opts. A zeroed struct (or NULL) mounts like
 * fh_router_mount. */
typedef struct fh_mount_options {
    /** As in fh_router_mount_mw: NULL or a NULL-terminated array of
     * pointers to middleware around every route of the table. */
    const fh_middleware_t *const *middleware;
    /** Called, instead of the router-wide not_found or the plain answer,
     * for a 404 whose path is under this mount's prefix (see "Not found
     * and method not allowed" above); status 404 is set on res. NULL: this
     * mount changes nothing for 404s. */
    fh_handler_fn not_found;
    void *not_found_data; /**< passed to not_found */
    /** The same for a 405 under the prefix; status 405 and Allow are set on
     * res. */
    fh_handler_fn method_not_allowed;
    void *method_not_allowed_data; /**< passed to method_not_allowed */
} fh_mount_options_t;

/** fh_router_mount with options: middleware around the table's routes, and
 * handlers for the 404 and 405 answers on paths under prefix. opt may be
 * NULL. A table may be empty (just FH_ROUTES_END) to set those handlers
 * for a prefix alone. Errors as fh_router_mount. */
FH_API int fh_router_mount_opts(fh_router_t *router, const char *prefix, const fh_route_t *routes,
                                void *mount_data, const fh_mount_options_t *opt);

/** The message of the last failed fh_router_add/fh_router_mount, such as
 * `fasthttp: route "GET /u/:name" conflicts with "GET /u/:id": different
 * parameter names at the same place`; "" if none failed. Owned by the
 * router, valid until its next add, mount or free. */
FH_API const char *fh_router_error(const fh_router_t *router);

/** A registered route as the router sees it. */
typedef struct fh_route_info {
    fh_method_t method;       /**< or FH_METHOD_ANY */
    const char *pattern;      /**< full pattern, mount prefix included */
    const char *mount;        /**< the mount prefix; "" for fh_router_add */
    fh_handler_fn handler;    /**< the function answering the route */
    void *data;               /**< the route's data, else the mount's */
    size_t index;             /**< registration order, from 0 */
    const fh_operation_t *op; /**< the route's operation, or NULL */
    /** FH_ROUTE_AUTH_* bits: the built-in auth middleware (mw_auth.h) among
     * the route's and its mount's middleware. */
    unsigned auth;
    /** The route's body streaming options (fh_route_t.body_stream), or NULL. */
    const fh_body_options_t *body_stream;
} fh_route_info_t;

/** Bits of fh_route_info_t.auth. */
enum {
    FH_ROUTE_AUTH_BASIC = 1u << 0,  /**< fh_basic_auth_new middleware */
    FH_ROUTE_AUTH_BEARER = 1u << 1, /**< fh_bearer_auth_new middleware */
};

/** @{ */
/** Introspection: the routes in registration order (for logs, docs, OpenAPI
 * output). The pointer is owned by the router and valid until it is freed;
 * NULL when i is out of range. */
FH_API size_t fh_router_route_count(const fh_router_t *router);
FH_API const fh_route_info_t *fh_router_route_at(const fh_router_t *router, size_t i);
/** @} */

/** The outcome of a lookup. */
typedef enum fh_route_status {
    FH_ROUTE_FOUND = 0,          /**< route and params are set */
    FH_ROUTE_NOT_FOUND,          /**< 404 */
    FH_ROUTE_METHOD_NOT_ALLOWED, /**< 405; allowed lists the methods */
    FH_ROUTE_OPTIONS,            /**< automatic OPTIONS: 204; allowed is Allow */
    FH_ROUTE_REDIRECT,           /**< 308; redirect tells how to fix the path */
    FH_ROUTE_BAD_PATH,           /**< 400: bad escape, encoded NUL, dot segment */
} fh_route_status_t;

/** Flags of fh_route_match_t.redirect (see fh_router_redirect_path). */
enum {
    FH_REDIRECT_COLLAPSE = 1u << 0,     /**< runs of '/' become one */
    FH_REDIRECT_ADD_SLASH = 1u << 1,    /**< append a '/' */
    FH_REDIRECT_REMOVE_SLASH = 1u << 2, /**< drop the trailing '/' */
};

/** A lookup's result. Every view points into the looked-up path (values,
 * still percent-encoded) or into the router (names, route): valid while
 * both are. */
typedef struct fh_route_match {
    fh_route_status_t status;     /**< the outcome of the lookup */
    const fh_route_info_t *route; /**< FH_ROUTE_FOUND only, else NULL */
    /** For 405 and automatic OPTIONS: bit (1u << method) for every method the
     * path accepts, HEAD included with GET, OPTIONS included unless
     * manual_options. */
    unsigned allowed;
    unsigned redirect; /**< FH_ROUTE_REDIRECT: FH_REDIRECT_* flags */
    bool encoded;      /**< the path holds %XX escapes (values may need decoding) */
    size_t nparams;    /**< entries used in names and values */
    fh_str_t names[FH_ROUTER_MAX_PARAMS];  /**< "id" for ":id" */
    fh_str_t values[FH_ROUTER_MAX_PARAMS]; /**< raw: still percent-encoded */
} fh_route_match_t;

/** Looks up a path (the raw path: fh_request_path) for a method. Allocates
 * nothing and only reads the router, so any number of threads may call it
 * at once on a frozen router. Always fills out->status and returns it. */
FH_API fh_route_status_t fh_router_lookup(const fh_router_t *router, fh_method_t method,
                                          fh_str_t path, fh_route_match_t *out);

/** The methods a path accepts, as bits (1u << method) like
 * fh_route_match_t.allowed: every method with a route whose pattern matches
 * the path (all of them when an FH_METHOD_ANY route does), HEAD with GET,
 * OPTIONS unless cfg.manual_options. 0 when no route matches the path or
 * the path is malformed (the router answers those 404 or 400); the slash
 * redirects are not followed. For middleware that answers for a path
 * before the router (a CORS preflight: fh_cors_options_t.router). Reads
 * only and allocates nothing, like fh_router_lookup. */
FH_API unsigned fh_router_methods(const fh_router_t *router, fh_str_t path);

/** Writes the redirect target for a path and FH_REDIRECT_* flags into dst,
 * which needs path.len + 1 bytes; returns its length (no NUL is written). */
FH_API size_t fh_router_redirect_path(fh_str_t path, unsigned flags, char *dst);

/** Writes the Allow header value for a method mask ("GET, HEAD, OPTIONS"),
 * methods in the order of fh_method_t, NUL-terminated, truncated to cap.
 * Returns the length it needs (like snprintf). */
FH_API size_t fh_router_allow(unsigned allowed, char *buf, size_t cap);

/** The server handler (fh_handler_fn) that dispatches through the router
 * given as data: cfg.handler = fh_router_handle; cfg.handler_data = router.
 * On a match it decodes the parameters into the request's arena, sets them
 * (fh_request_param) and returns what the route's handler returns. Else it
 * answers 400, 404, 405 (with Allow), 204 (automatic OPTIONS, with Allow)
 * or 308 (with Location), calling the not_found / method_not_allowed
 * handler of the mount covering the path, else the router-wide one, where
 * one is set (status, and Allow, already on res), and returns 0, or the
 * error of a failed allocation or custom handler. */
FH_API int fh_router_handle(fh_request_t *req, fh_response_t *res, void *router);

/** The server's body_stream (server.h) for a router given as data:
 * cfg.body_stream = fh_router_body_stream; cfg.body_stream_data = router.
 * Looks up the request's route (as fh_router_lookup: reads only, allocates
 * nothing) and returns its body_stream->max_bytes (FH_BODY_STREAM_MAX when
 * 0) when it streams, else 0. */
FH_API uint64_t fh_router_body_stream(fh_request_t *req, void *router);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_ROUTER_H */
