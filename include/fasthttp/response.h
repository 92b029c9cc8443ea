/**
 * @file
 * fasthttp — building the response.
 *
 * Two ways to answer:
 *
 * 1. Raw: fh_send_raw() takes complete response bytes (status line,
 *    headers, body) that the handler built itself, and the framework adds
 *    nothing to them.
 *
 * 2. The builder: set a status, headers and a body, or call one of the
 *    fh_send_* helpers. The framework adds Date, Server (unless disabled),
 *    Content-Length and, where needed, Connection. HEAD requests get the
 *    headers only. No body or Content-Length is sent with 1xx, 204 or 304.
 *
 * A response is final when the handler returns 0 without deferring it, or,
 * after fh_response_defer(), when fh_response_end() or an fh_send_* helper is
 * called. A handler that returns 0 having set nothing answers 200 with an
 * empty body. Once final, builder calls return FH_EALREADY_SENT.
 *
 * Memory: unless a function says it borrows, names, values and bodies are
 * copied into the request's arena, so the caller's buffers may be reused at
 * once. Everything is released after the response has been written.
 *
 * Thread: like the request, a response is used from its loop's thread only.
 */
#ifndef FASTHTTP_RESPONSE_H
#define FASTHTTP_RESPONSE_H

#include "common.h"
#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Flags for fh_send_raw. */
enum {
    FH_RAW_COPY = 0,        /**< copy the bytes into the arena (default) */
    FH_RAW_BORROW = 1 << 0, /**< bytes stay valid until written (static data) */
    FH_RAW_CLOSE = 1 << 1,  /**< close the connection after writing */
};

/** Sends len bytes exactly as given: a complete HTTP response. Nothing is
 * added or checked. The connection stays open if the request allows it,
 * unless flags has FH_RAW_CLOSE. */
FH_API int fh_send_raw(fh_response_t *res, const void *bytes, size_t len, unsigned flags);

/** Sets the status code (100..999; default 200). */
FH_API int fh_response_status(fh_response_t *res, int status);
/** The status set so far. */
FH_API int fh_response_get_status(const fh_response_t *res);
/** @{ */
/** Adds a header field. Name must be a token and value may not hold CR, LF or
 * NUL: otherwise FH_EHEADER_VALUE and nothing is added (no response
 * splitting). Content-Length, Date and Connection set here are ignored in
 * favour of the framework's own, except Connection: close, which closes
 * the connection after this response. Both are copied. */
FH_API int fh_response_header(fh_response_t *res, const char *name, const char *value);
FH_API int fh_response_header_str(fh_response_t *res, fh_str_t name, fh_str_t value);
/** @} */
/** printf-formatted header value. */
FH_API int fh_response_headerf(fh_response_t *res, const char *name, const char *fmt, ...)
    FH_PRINTF(3, 4);
/** Replaces every field called name (case-insensitive) by one with value, or
 * adds it. */
FH_API int fh_response_header_set(fh_response_t *res, const char *name, const char *value);
/** The first response header called name (case-insensitive); absent if none. */
FH_API fh_str_t fh_response_header_get(const fh_response_t *res, const char *name);
/** Removes every field called name; returns how many were removed. */
FH_API int fh_response_header_remove(fh_response_t *res, const char *name);
/** @{ */
/** Iteration over the headers set so far. */
FH_API size_t fh_response_header_count(const fh_response_t *res);
FH_API bool fh_response_header_at(const fh_response_t *res, size_t i, fh_str_t *name,
                                  fh_str_t *value);
/** @} */

/** Sets the body to a copy of len bytes (replacing any previous body). */
FH_API int fh_response_body(fh_response_t *res, const void *body, size_t len);
/** Sets the body to borrowed bytes that stay valid and unchanged until the
 * response is written (static data, or memory in the request's arena). */
FH_API int fh_response_body_borrow(fh_response_t *res, const void *body, size_t len);
/** Appends a copy of len bytes to the body. */
FH_API int fh_response_write(fh_response_t *res, const void *data, size_t len);
/** Appends printf output to the body. */
FH_API int fh_response_printf(fh_response_t *res, const char *fmt, ...) FH_PRINTF(2, 3);
/** The body set so far (a view into the arena or borrowed memory). */
FH_API fh_str_t fh_response_get_body(const fh_response_t *res);

/** status + Content-Type + a copy of the body, and the response is final. */
FH_API int fh_send(fh_response_t *res, int status, const char *content_type, const void *body,
                   size_t len);
/** @{ */
/** text/plain; charset=utf-8 */
FH_API int fh_send_text(fh_response_t *res, int status, const char *text);
FH_API int fh_send_textf(fh_response_t *res, int status, const char *fmt, ...) FH_PRINTF(3, 4);
/** @} */
/** A response with the status's reason phrase as a text body ("Not Found").
 * Statuses that carry no content (1xx, 204, 304) get no body and no
 * Content-Type: `fh_send_status(res, 204)` sends the status line, Date,
 * Server and the headers already set, nothing else. */
FH_API int fh_send_status(fh_response_t *res, int status);
/** 3xx with a Location header (copied) and a short text body. */
FH_API int fh_send_redirect(fh_response_t *res, int status, const char *location);

/** Discards what was built so far into a response that is not final: the
 * status goes back to 200 and every header (Content-Type included) and the
 * body are dropped. Commit hooks stay registered. For error handling that
 * answers in place of a half-built response. FH_EALREADY_SENT if final. */
FH_API int fh_response_reset(fh_response_t *res);

/** Asks to close the connection after this response. */
FH_API void fh_response_close(fh_response_t *res);
/** Whether the response is final. */
FH_API bool fh_response_is_final(const fh_response_t *res);

/** Defers the response: the handler may return without answering, and the
 * response becomes final when fh_response_end() or an fh_send_* helper is
 * called later on the request's loop thread (from a timer, an fh_offload
 * `done` callback, an fh_loop_post callback...). Responses to pipelined
 * requests still leave in request order. */
FH_API int fh_response_defer(fh_response_t *res);
/** Makes a deferred (or still open) builder response final. */
FH_API int fh_response_end(fh_response_t *res);
/** @{ */
/** Called once, on the loop thread, if the client goes away while the
 * response is deferred or streaming (stream.h): socket error, end of file,
 * timeout. Offloaded work not yet started is canceled first (async.h). The
 * request stays valid until the response is ended (fh_response_end,
 * fh_send_*, or fh_stream_end for a stream: its bytes are then dropped), so
 * the code that deferred must still end it — from the callback or later. */
typedef void (*fh_response_cancel_fn)(fh_response_t *res, void *data);
/** @} */
/** @copydoc fh_response_cancel_fn */
FH_API void fh_response_on_cancel(fh_response_t *res, fh_response_cancel_fn fn, void *data);
/** Whether the client went away (a deferred response will not be sent). */
FH_API bool fh_response_is_canceled(const fh_response_t *res);

/** @{ */
/** Runs fn(res, data) once, just before the response is serialized: headers
 * and body may still be changed (used by after-middleware). Hooks run in
 * reverse order of registration. Not run for raw responses. */
typedef void (*fh_response_hook_fn)(fh_response_t *res, void *data);
/** @} */
/** @copydoc fh_response_hook_fn */
FH_API int fh_response_on_commit(fh_response_t *res, fh_response_hook_fn fn, void *data);

/** The request this response answers. */
FH_API fh_request_t *fh_response_request(fh_response_t *res);

/** The reason phrase of a status code ("Not Found"), or "Unknown". */
FH_API const char *fh_status_reason(int status);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_RESPONSE_H */
