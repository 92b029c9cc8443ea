/* fasthttp — middleware: before, after and error hooks around a handler.
 *
 * A middleware is a small struct of function pointers plus data. A chain
 * (fh_chain_t) wraps a final handler (usually the router's fh_router_handle)
 * with an ordered list of middleware, and fh_chain_handle has the handler
 * signature, so a chain plugs in wherever a handler does:
 *
 *     fh_chain_t *chain;
 *     fh_chain_new(&chain, fh_router_handle, router);
 *     fh_chain_use(chain, &access_log);   // outermost
 *     fh_chain_use(chain, &request_id);
 *     fh_chain_use(chain, &cors);         // innermost
 *     cfg.handler = fh_chain_handle;
 *     cfg.handler_data = chain;
 *
 * What runs when, for middleware m0..mN-1 in the order they were added:
 *
 *   before  m0.before, m1.before, ... then the final handler. A before hook
 *           returns FH_NEXT (0) to go on, FH_STOP (1) when it answered the
 *           request itself (sent or deferred a response: auth, a CORS
 *           preflight, a rate limit), or a negative error code. A before
 *           hook that makes the response final also stops the chain.
 *
 *   after   Once the response is final — when the handler returns, later
 *           when a deferred response ends, and also for error responses
 *           (the core's 500 and the chain's error path) — the after hooks
 *           run in reverse order, innermost first, just before the response
 *           is serialized: status, headers and body can still be read and
 *           changed (CORS and security headers, compression, metrics). Only
 *           the middleware whose before hook ran (or which has none and was
 *           reached) get their after hook called: when m1 stops the chain,
 *           m1.after then m0.after run. After hooks are not run for raw
 *           responses (fh_send_raw), which cannot change; use
 *           fh_request_on_done for accounting that must see every request.
 *
 *   error   When a before hook or the handler returns a negative code and
 *           the response is not final, the error hooks of the middleware
 *           entered before the failing point run in reverse order. An error
 *           hook returns FH_STOP when it answered (fh_response_reset
 *           discards a half-built response first), FH_NEXT to pass the
 *           error on, or a negative code that replaces it for the hooks
 *           outside. When no hook answers, fh_chain_handle returns the
 *           error and the core answers 500 (the after hooks still run).
 *           A deferred handler that fails later calls fh_chain_fail.
 *
 * State between hooks and for handlers lives in per-request slots
 * (fh_request_set / fh_request_get in request.h), keyed by the address of a
 * static variable of the middleware:
 *
 *     static const char user_key;   // its address is the key
 *     fh_request_set(req, &user_key, user);
 *     const char *user = fh_request_get(req, &user_key);
 *
 * or, type-checked, with FH_REQUEST_KEY (below):
 *
 *     FH_REQUEST_KEY(session, struct session)
 *     session_set(req, s);              // int, 0 or FH_ENOMEM
 *     struct session *s = session_get(req);
 *
 * Lifetime and threads: configure chains before the server starts; while
 * it runs they are only read, from every worker thread at once, without
 * locks. Hooks run on the request's loop thread. An after hook runs before
 * the response is written; anything that must run after the write belongs
 * in fh_request_on_done — and a done hook must not use request views (path,
 * headers...): for a response written at once their bytes live in a read
 * buffer that is reused by then. Copy what a done hook needs into the arena
 * (fh_strndup) in a before or after hook.
 *
 * Nesting: the final handler of a chain may be anything, a router or
 * another chain (per mount and per route middleware are chains the router
 * calls). After hooks of an inner chain run before those of the outer one;
 * errors an inner chain does not answer go on to the outer chain.
 *
 * Cost: a chain with no middleware is one indirect call to the final
 * handler. Otherwise one arena allocation per request, plus one commit hook
 * when some middleware has an after hook and one slot when some has an
 * error hook.
 *
 * Errors: 0 or a negative FH_E* code. Constructors of the built-in
 * middleware (mw_*.h) return FH_ECONFIG for a bad option; then
 * fh_middleware_error() names the field.
 */
#ifndef FASTHTTP_MIDDLEWARE_H
#define FASTHTTP_MIDDLEWARE_H

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Return values of before and error hooks. */
enum {
    FH_NEXT = 0, /* go on with the chain */
    FH_STOP = 1, /* the hook answered the request: stop here */
};

typedef int (*fh_before_fn)(fh_request_t *req, fh_response_t *res, void *data);
typedef void (*fh_after_fn)(fh_request_t *req, fh_response_t *res, void *data);
typedef int (*fh_error_fn)(fh_request_t *req, fh_response_t *res, int err, void *data);

/** A middleware: up to three hooks around a handler, plus their data.
 * Built by the mw_*.h constructors or by hand. */
typedef struct fh_middleware {
    const char *name;    /**< for messages ("cors"); may be NULL */
    fh_before_fn before; /**< any of the three hooks may be NULL, not all */
    fh_after_fn after;   /**< runs once the response is final, innermost first */
    fh_error_fn error;   /**< runs when a before hook or the handler fails */
    void *data;          /**< passed to every hook */
    /** Frees data; called by fh_middleware_release. May be NULL. */
    void (*release)(void *data);
} fh_middleware_t;

/** Frees what a built-in constructor (or anyone setting mw->release)
 * allocated, and clears *mw. Call it after the servers using the middleware
 * have been freed (fh_server_free): workers may still be using it before.
 * The access log flushes its buffered lines here. NULL is a no-op. */
FH_API void fh_middleware_release(fh_middleware_t *mw);

/** A message for the last FH_ECONFIG (or FH_EINVAL) returned by a middleware
 * or chain function on this thread, naming the bad field:
 * "fasthttp: cors.origins[1]: \"http://a/\" is not an origin". "" when
 * there was none. Valid until the next such call on this thread. */
FH_API const char *fh_middleware_error(void);

typedef struct fh_chain fh_chain_t;

/** A chain with no middleware around handler (required), which gets
 * handler_data. */
FH_API int fh_chain_new(fh_chain_t **out, fh_handler_fn handler, void *handler_data);
/** Appends a middleware (copied by value; the chain does not own mw->data).
 * FH_EINVAL when all three hooks are NULL. Not while serving. */
FH_API int fh_chain_use(fh_chain_t *chain, const fh_middleware_t *mw);
/** Replaces the final handler (for a router built after the chain). */
FH_API void fh_chain_set_handler(fh_chain_t *chain, fh_handler_fn handler, void *handler_data);
/** Number of middleware in the chain. */
FH_API size_t fh_chain_count(const fh_chain_t *chain);
/** Frees the chain (not the middleware's data). NULL is a no-op. */
FH_API void fh_chain_free(fh_chain_t *chain);

/** The handler that runs a chain: chain is the fh_chain_t. Returns what the
 * final handler returned, 0 when a hook answered, or the error no error
 * hook answered. */
FH_API int fh_chain_handle(fh_request_t *req, fh_response_t *res, void *chain);

/** For a handler (or before hook) that deferred its response and then
 * failed: runs the error hooks of every chain the request went through,
 * innermost first, as if the handler had returned err. When none answers,
 * the response is discarded and a plain 500 is sent. The response is final
 * afterwards, and may already be written with its request released:
 * touch nothing of res or the request after a call that returned 0.
 * Returns 0, FH_EALREADY_SENT when it was already final, or FH_EINVAL when
 * err is not negative. */
FH_API int fh_chain_fail(fh_response_t *res, int err);

/** Declares a typed per-request slot private to this file:
 * name_set(req, type *value) returns 0 or FH_ENOMEM, name_get(req) returns
 * the value or NULL when unset; the key is a static variable the macro
 * defines. To share a slot between files, wrap these two in ordinary
 * functions (as fh_request_id does). */
#define FH_REQUEST_KEY(name, type)                                                                 \
    static const char name##_slot_key_;                                                            \
    static inline int name##_set(fh_request_t *req_, type *value_) {                               \
        return fh_request_set(req_, &name##_slot_key_, (void *)value_);                            \
    }                                                                                              \
    static inline type *name##_get(const fh_request_t *req_) {                                     \
        return (type *)fh_request_get(req_, &name##_slot_key_);                                    \
    }

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MIDDLEWARE_H */
