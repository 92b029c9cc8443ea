/**
 * @file
 * fasthttp — the request a handler receives.
 *
 * Lifetime: a request and every view it hands out (method, target, path,
 * headers, body, params, query values) stay valid until its response is
 * final and written — also when the handler defers the response (the core
 * then moves the request's bytes into its arena before the read buffer is
 * reused). Views point into the read buffer or into the request's arena;
 * never free them. Copy what must outlive the request.
 *
 * Thread: a request belongs to the loop thread that accepted its connection.
 * Call these functions from that thread only (inside the handler, middleware
 * hooks, a timer of that loop, or an fh_offload `done` callback).
 */
#ifndef FASTHTTP_REQUEST_H
#define FASTHTTP_REQUEST_H

#include "arena.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A request as its handler sees it (opaque). */
typedef struct fh_request fh_request_t;
/** The response being built for a request (opaque); see response.h. */
typedef struct fh_response fh_response_t;

/** A handler answers one request through res. Return 0, or a negative code
 * to signal failure: if the response is not final yet, the framework then
 * answers 500 (or the error middleware's problem document). */
typedef int (*fh_handler_fn)(fh_request_t *req, fh_response_t *res, void *data);

/** Request methods fasthttp knows. FH_METHOD_OTHER is never delivered to a
 * handler: unknown methods are answered 501 by the core. */
typedef enum fh_method {
    FH_METHOD_GET = 0,
    FH_METHOD_HEAD,
    FH_METHOD_POST,
    FH_METHOD_PUT,
    FH_METHOD_DELETE,
    FH_METHOD_PATCH,
    FH_METHOD_OPTIONS,
    FH_METHOD_CONNECT,
    FH_METHOD_TRACE,
    FH_METHOD_OTHER,
    FH_METHOD__COUNT
} fh_method_t;

/** The method's canonical name ("GET"), or "OTHER". */
FH_API const char *fh_method_name(fh_method_t m);

/** The method as sent ("GET"). */
FH_API fh_str_t fh_request_method(const fh_request_t *req);
/** The method as an enum. */
FH_API fh_method_t fh_request_method_id(const fh_request_t *req);
/** The request target exactly as sent: "/a%20b?x=1". */
FH_API fh_str_t fh_request_target(const fh_request_t *req);
/** The path of the target, still percent-encoded, without the query:
 * "/a%20b". For an absolute-form target, the path after the authority. */
FH_API fh_str_t fh_request_path(const fh_request_t *req);
/** The path percent-decoded (in the arena, computed once). An absent view if
 * the path holds a malformed escape or an encoded NUL. */
FH_API fh_str_t fh_request_path_decoded(fh_request_t *req);
/** The raw query string after '?', without it; absent if there is no '?'. */
FH_API fh_str_t fh_request_query_string(const fh_request_t *req);
/** The first query field called name, percent-decoded ('+' is a space), in
 * the arena. Absent if there is no such field; empty for "?name" or
 * "?name=". */
FH_API fh_str_t fh_request_query(fh_request_t *req, const char *name);
/** HTTP version as major*10+minor: 10 or 11. */
FH_API int fh_request_version(const fh_request_t *req);

/** The value of the first header field called name (case-insensitive), with
 * surrounding whitespace trimmed; absent if there is none. */
FH_API fh_str_t fh_request_header(const fh_request_t *req, const char *name);
/** @{ */
/** Iteration over all header fields in the order received; repeated fields
 * appear repeatedly. Returns false when i is out of range. */
FH_API size_t fh_request_header_count(const fh_request_t *req);
FH_API bool fh_request_header_at(const fh_request_t *req, size_t i, fh_str_t *name,
                                 fh_str_t *value);
/** @} */
/** Number of header fields called name, and the i-th one (repeated fields
 * such as Cookie or Forwarded). */
FH_API fh_str_t fh_request_header_nth(const fh_request_t *req, const char *name, size_t nth);

/** The body, de-chunked. Present and empty when there is none. */
FH_API fh_str_t fh_request_body(const fh_request_t *req);
/** Whether the connection stays open after this response (HTTP/1.1 unless
 * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"). */
FH_API bool fh_request_keep_alive(const fh_request_t *req);
/** The peer's address. Returns 0 or FH_ENOTCONN. */
FH_API int fh_request_remote_addr(const fh_request_t *req, struct sockaddr_storage *out);
/** The peer's IP address as text ("127.0.0.1", "::1"), in the arena. */
FH_API fh_str_t fh_request_remote_ip(fh_request_t *req);

/** A route parameter by name (":id" → "id", "*path" → "path"),
 * percent-decoded; absent when the route has no such parameter. */
FH_API fh_str_t fh_request_param(const fh_request_t *req, const char *name);
/** @{ */
/** Iteration over route parameters in pattern order. */
FH_API size_t fh_request_param_count(const fh_request_t *req);
FH_API bool fh_request_param_at(const fh_request_t *req, size_t i, fh_str_t *name, fh_str_t *value);
/** @} */
/** The pattern of the route that answers the request ("/user/:id", mount
 * prefix included), set by the router before the route's handler runs;
 * NULL before that and for requests no route matched. Owned by the router:
 * valid while it is. Metrics (metrics.h) label requests with it. */
FH_API const char *fh_request_route(const fh_request_t *req);
/** Sets the route pattern (used by routers). pattern must stay valid as
 * long as the server runs. */
FH_API void fh_request_set_route(fh_request_t *req, const char *pattern);
/** Sets the route parameters (used by routers). names and values must stay
 * valid as long as the request (arena or static memory). */
FH_API void fh_request_set_params(fh_request_t *req, const fh_str_t *names, const fh_str_t *values,
                                  size_t count);

/** @{ */
/** Per-request slots where middleware keeps state for later hooks or for
 * handlers. key is any address that identifies the owner (use the address
 * of a static variable). Setting the same key again replaces the value. */
FH_API int fh_request_set(fh_request_t *req, const void *key, void *value);
FH_API void *fh_request_get(const fh_request_t *req, const void *key);
/** @} */

/** The request's arena. */
FH_API fh_arena_t *fh_request_arena(fh_request_t *req);
/** @{ */
/** Allocation helpers on the request's arena (see arena.h for lifetime). */
FH_API void *fh_alloc(fh_request_t *req, size_t size);
FH_API char *fh_strdup(fh_request_t *req, const char *s);
FH_API char *fh_strndup(fh_request_t *req, fh_str_t s);
FH_API char *fh_sprintf(fh_request_t *req, const char *fmt, ...) FH_PRINTF(2, 3);
/** @} */

/** The loop (worker thread) the request lives on. */
FH_API uv_loop_t *fh_request_loop(const fh_request_t *req);
/** The user data given to the server config (cfg.user_data). */
FH_API void *fh_request_server_data(const fh_request_t *req);
/** Monotonic time in nanoseconds at which the request's head was complete. */
FH_API uint64_t fh_request_start_ns(const fh_request_t *req);

/** @{ */
/** Runs fn(req, data) once the request is over: after its response has been
 * written, or when the connection was lost before. Hooks run in reverse
 * order of registration, before the arena is released. */
typedef void (*fh_request_done_fn)(fh_request_t *req, void *data);
/** @} */
/** @copydoc fh_request_done_fn */
FH_API int fh_request_on_done(fh_request_t *req, fh_request_done_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_REQUEST_H */
