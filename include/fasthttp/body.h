/**
 * @file
 * fasthttp — request bodies read as a stream, chunk by chunk, as they
 * arrive: uploads larger than memory (limits.max_body), with backpressure.
 *
 * Opting in. A route says that its body streams (router.h,
 * fh_route_t.body_stream, FH_ROUTE_STREAM), and the server asks the router
 * when a head is complete:
 *
 *     static const fh_body_options_t upload = { .max_bytes = 4ull << 30 };
 *     static const fh_route_t routes[] = {
 *         FH_ROUTE_STREAM(FH_METHOD_PUT, "/files/:name", put_file, NULL, &upload),
 *         FH_ROUTES_END,
 *     };
 *     cfg.handler = fh_router_handle;           cfg.handler_data = router;
 *     cfg.body_stream = fh_router_body_stream;  cfg.body_stream_data = router;
 *
 * For such a request (one with a body: a Content-Length above 0, or
 * chunked) the handler runs as soon as the head is complete, before any
 * byte of the body is read; fh_request_body() is then empty. A
 * Content-Length above the route's max_bytes is answered 413 at once,
 * without calling the handler; a chunked body that grows past it ends with
 * FH_E2BIG (below) and 413.
 *
 * In the handler:
 *   - answer at once (401, 403, 413...) without reading the body: the
 *     response says nothing is read ("100 Continue" is never sent), and
 *     the connection closes after it, once what the client still sends
 *     (up to limits.max_discard) has been read and dropped;
 *   - or call fh_request_body_read(): the response is deferred, and fn
 *     receives the body in chunks, then the end (FH_BODY_END) or an error.
 *     A client that sent "Expect: 100-continue" gets "100 Continue" then.
 *     fh_request_body_read may also be called later (after an offloaded
 *     check): until it is, nothing of the body is read from the socket.
 *
 * Backpressure. fn returning FH_BODY_PAUSE stops reading from the socket
 * (the kernel's buffers fill, and TCP flow control stops the client) until
 * fh_request_body_resume(). So a handler that writes each chunk on the
 * thread pool pauses, and resumes in the offload's `done`: memory stays at
 * one read per upload, whatever the body's size. While paused the body
 * timeout does not run; while reading, each read must arrive within
 * timeouts.body_ms, else fn gets FH_ETIMEDOUT and the client 408.
 */
#ifndef FASTHTTP_BODY_H
#define FASTHTTP_BODY_H

#include "common.h"
#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A route's streaming options (router.h, fh_route_t.body_stream). */
typedef struct fh_body_options {
    /** The most body bytes: more gets 413. 0 = FH_BODY_STREAM_MAX. */
    uint64_t max_bytes;
} fh_body_options_t;

/** The default of fh_body_options_t.max_bytes: 4 GiB. */
#define FH_BODY_STREAM_MAX (4ull << 30)

/** fn's status: a chunk of body bytes (0), the end of the body, or an
 * error (negative: FH_E2BIG past max_bytes, FH_ETIMEDOUT for a stalled
 * client, FH_EINVAL for malformed chunked framing, FH_ECANCELED when the
 * client went away). After the end or an error, fn is not called again. */
enum {
    FH_BODY_DATA = 0, /**< chunk holds the next bytes (never empty) */
    FH_BODY_END = 1,  /**< the whole body has arrived; chunk is empty */
};

/** fn's return: go on, or stop reading until fh_request_body_resume. */
enum {
    FH_BODY_CONTINUE = 0, /**< keep reading */
    FH_BODY_PAUSE = 1,    /**< stop reading the socket until resumed */
};

/** Receives a streamed body. chunk points into the read buffer and is valid
 * only during the call: copy what must outlive it. status is FH_BODY_DATA,
 * FH_BODY_END or a negative error (see above). On FH_BODY_END or an error
 * the handler answers (with fh_send_* or fh_response_end, now or later:
 * the response is deferred); after FH_E2BIG, FH_ETIMEDOUT or FH_EINVAL
 * where it does not answer now, the core answers (413, 408, 400) itself.
 * After FH_ECANCELED nobody will read an answer, but as for any deferred
 * response whose client left, the code that deferred still ends it
 * (fh_response_end), now or when its own work (an offload) is over. fn may answer early on data too:
 * then nothing more is read and the connection closes after the response.
 * Return FH_BODY_CONTINUE or FH_BODY_PAUSE (ignored for END and errors).
 * Runs on the request's loop thread. */
typedef int (*fh_body_fn)(fh_request_t *req, fh_str_t chunk, int status, void *data);

/** Whether req's body is streamed (its route opted in, it has a body). */
FH_API bool fh_request_body_streaming(const fh_request_t *req);

/** The body's declared length (Content-Length), or UINT64_MAX when chunked
 * or not streamed. */
FH_API uint64_t fh_request_body_declared(const fh_request_t *req);

/** Starts delivering req's streamed body to fn(req, chunk, status, data),
 * from the handler or later on the loop thread; defers the response when
 * called from the handler (fh_response_defer). data is borrowed. Returns
 * 0; FH_ESTATE when the body is not streamed, already read, or the
 * response is final; FH_ENOTCONN when the client is gone. */
FH_API int fh_request_body_read(fh_request_t *req, fh_body_fn fn, void *data);

/** Reads again after fn returned FH_BODY_PAUSE (from the loop thread: a
 * timer, an fh_offload `done`). fn may be called before this returns, with
 * the bytes already read. Returns 0, FH_ESTATE when not paused, or
 * FH_ENOTCONN when the client is gone (fn got FH_ECANCELED then). */
FH_API int fh_request_body_resume(fh_request_t *req);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_BODY_H */
