/**
 * @file
 * fasthttp — responses produced over time: streams, files, Server-Sent
 * Events, and taking the connection over.
 *
 * A stream is a response whose head is sent first and whose body follows in
 * pieces, written whenever the code that owns it has them (a timer, an
 * fh_offload `done`, an fh_loop_post callback...). Framing is chosen for the
 * client: chunked for HTTP/1.1, close-delimited for HTTP/1.0 (the connection
 * closes after the body). HEAD requests and 1xx/204/304 statuses get the
 * head only: writes are accepted and dropped.
 *
 *     static int ticks(fh_request_t *req, fh_response_t *res, void *data) {
 *         fh_response_header(res, "Content-Type", "text/plain");
 *         fh_stream_t *st;
 *         int err = fh_stream_begin(res, &st, NULL);
 *         if (err) return err;
 *         ... keep st, write from a timer with fh_stream_write(st, ...),
 *         ... finish with fh_stream_end(st)
 *         return 0;
 *     }
 *
 * Ordering: a stream occupies its connection until it ends; responses to
 * requests pipelined behind it wait, and leave in request order after it.
 *
 * Memory and backpressure: written bytes are copied into a few small blocks
 * that belong to the stream and are recycled as the socket takes them (the
 * request's arena does not grow with the body). A stream holds at most
 * max_buffered bytes not yet written to the socket: past that,
 * fh_stream_write refuses with FH_EAGAIN and takes nothing, and the
 * stream's on_drain callback runs once the buffered bytes fall to half the
 * bound. A slow reader therefore costs at most max_buffered bytes.
 *
 * Cancellation: when the client goes away (or the connection fails or times
 * out) the response's cancel callback runs (fh_response_on_cancel),
 * fh_response_is_canceled() becomes true and writes return FH_ECANCELED.
 * The code that began the stream must still call fh_stream_end (it may do so
 * inside the cancel callback): the request, its arena and the stream stay
 * valid until then, and are released exactly once after it.
 *
 * Thread: like the response, a stream is used from its loop's thread only.
 */
#ifndef FASTHTTP_STREAM_H
#define FASTHTTP_STREAM_H

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A streamed response (opaque). */
typedef struct fh_stream fh_stream_t;

/** Runs on the loop thread when a stream that refused a write (FH_EAGAIN)
 * has drained to half its bound; it may write and end the stream. */
typedef void (*fh_stream_drain_fn)(fh_stream_t *st, void *data);

/** Options of fh_stream_begin. */
typedef struct fh_stream_options {
    /** Bytes the stream may hold before the socket takes them; 0 = 256 KiB.
     * Framing bytes count too. */
    size_t max_buffered;
    fh_stream_drain_fn on_drain; /**< optional */
    void *data;                  /**< passed to on_drain */
} fh_stream_options_t;

/** Turns the response into a stream: its status and headers (as set so far
 * with the builder) are final, commit hooks run, and the head is sent when
 * every earlier response on the connection has left. Call it in the handler
 * or later on a deferred response. opts may be NULL (defaults) and is
 * copied. *out stays valid until fh_stream_end has been called and the
 * request is released: do not use it after fh_stream_end.
 * Returns 0, FH_EALREADY_SENT (the response is final), FH_ECANCELED (the
 * client already left: end the deferred response with fh_response_end),
 * FH_ESTATE (not from the handler or a deferred response) or FH_ENOMEM. */
FH_API int fh_stream_begin(fh_response_t *res, fh_stream_t **out, const fh_stream_options_t *opts);

/** Appends len bytes (copied: the caller's buffer may be reused at once) as
 * one chunk. len 0 does nothing. Returns 0; FH_EAGAIN when the stream
 * already holds bytes and these would pass max_buffered (nothing was taken:
 * wait for on_drain, then write them again; a write into an empty stream is
 * always taken, whatever its size); FH_ECANCELED once the client left;
 * FH_ESTATE after fh_stream_end; FH_ENOMEM. */
FH_API int fh_stream_write(fh_stream_t *st, const void *data, size_t len);
/** printf into one chunk; same returns as fh_stream_write. */
FH_API int fh_stream_printf(fh_stream_t *st, const char *fmt, ...) FH_PRINTF(2, 3);

/** Ends the body (the last chunk for chunked framing); the connection goes on
 * with the next response once every byte has left, or closes
 * (close-delimited, or Connection: close). Also required after the client
 * left. st must not be used afterwards. Returns 0 or FH_ESTATE (already
 * ended). */
FH_API int fh_stream_end(fh_stream_t *st);

/** Bytes written to the stream that the socket has not taken yet. */
FH_API size_t fh_stream_buffered(const fh_stream_t *st);
/** The response and request the stream belongs to. */
FH_API fh_response_t *fh_stream_response(fh_stream_t *st);

/* ---------------------------------------------------------------- files */

/** Sends length bytes of the open file fd, from offset, as the body, without
 * copying them through user space: the head is written, then the kernel
 * sends the file (sendfile(2) on the loop, as much as the socket takes,
 * while the file's pages are in memory, which a read that may not block
 * probes before each step of at most 4 MiB; pages that are not are read on
 * libuv's thread pool first. So neither a slow disk nor a slow reader
 * blocks the loop, and memory does not depend on the file's size). The
 * head shares its TCP segment with the file's first bytes (MSG_MORE). Over TLS, where every byte must be
 * encrypted, the file is read on the thread pool instead, 128 KiB at a
 * time into the stream's blocks, and each piece is encrypted and sent
 * before the next is read. The response is final (status and
 * headers as set so far; Content-Length: length). HEAD and bodyless statuses
 * send the head only.
 * On success fd belongs to the framework and is closed once the body has
 * been sent or the client left; on error it stays the caller's.
 * Returns 0, FH_EALREADY_SENT, FH_ECANCELED, FH_ESTATE, FH_EINVAL (negative
 * offset or a range past what off_t holds) or FH_ENOMEM. */
FH_API int fh_send_fd(fh_response_t *res, int fd, int64_t offset, int64_t length);

/* ------------------------------------------------- Server-Sent Events */

/** Options of fh_sse_begin. */
typedef struct fh_sse_options {
    /** A comment line is sent when nothing else was for this long, so that
     * proxies keep the connection and a gone client is noticed: 0 = 15000
     * ms; negative = never. */
    int32_t keepalive_ms;
    /** Sent first as "retry:" (the client's reconnection delay); 0 = none. */
    uint32_t retry_ms;
    size_t max_buffered;         /**< as for fh_stream_options_t */
    fh_stream_drain_fn on_drain; /**< as for fh_stream_options_t */
    void *data;                  /**< passed to on_drain */
} fh_sse_options_t;

/** One event. Fields that are NULL (or 0) are left out. */
typedef struct fh_sse_event {
    const char *event; /**< "event:" type; no CR or LF */
    const char *id;    /**< "id:" (the client's Last-Event-ID); no CR, LF or NUL */
    const char *data;  /**< split into "data:" lines at LF, CRLF or CR */
    size_t data_len;   /**< bytes of data; with data, 0 means strlen(data) */
    uint32_t retry_ms; /**< "retry:" */
} fh_sse_event_t;

/** Begins a text/event-stream stream (Content-Type, Cache-Control: no-cache
 * and X-Accel-Buffering: no are set) with periodic keep-alive comments. The
 * stream is ended with fh_stream_end like any other. Same returns as
 * fh_stream_begin. */
FH_API int fh_sse_begin(fh_response_t *res, fh_stream_t **out, const fh_sse_options_t *opts);
/** Sends one event, whole or not at all. Returns as fh_stream_write, and
 * FH_EINVAL for CR/LF in event or id. */
FH_API int fh_sse_send(fh_stream_t *st, const fh_sse_event_t *ev);
/** Shorthand: an event with only data (and a type when event is not NULL). */
FH_API int fh_sse_data(fh_stream_t *st, const char *event, const char *data);
/** Sends a comment line (": text"), ignored by clients. FH_EINVAL for CR or
 * LF in text. */
FH_API int fh_sse_comment(fh_stream_t *st, const char *text);

/* ------------------------------------------------------------ takeover */

/** A connection handed over to user code (WebSocket, a custom protocol, a
 * long poll answered by hand). */
typedef struct fh_takeover fh_takeover_t;

/** Flags for fh_request_takeover. */
enum {
    /** Send the response built so far first (typically 101 Switching
     * Protocols with an Upgrade header: the framework adds "Connection:
     * upgrade"). The default. */
    FH_TAKEOVER_RESPONSE = 0,
    /** Send nothing: user code writes every byte itself. */
    FH_TAKEOVER_SILENT = 1 << 0,
};

/** Called once on the loop thread: with status 0 and the takeover when the
 * connection is yours; with status FH_ECANCELED and tk NULL when the
 * connection was lost (or the server began to stop) before that. */
typedef void (*fh_takeover_fn)(fh_takeover_t *tk, int status, void *data);
/** Called once when a taken-over connection closes (fh_takeover_close, or the
 * server stopping), before its handle and the request are freed. */
typedef void (*fh_takeover_close_fn)(fh_takeover_t *tk, void *data);

/** Asks for the connection. Call it in the handler. Parsing stops: this is
 * the connection's last request. Its response (unless FH_TAKEOVER_SILENT)
 * and every earlier pipelined response are written first; then the socket
 * moves to a uv_tcp_t of the takeover on the same loop, and on_ready runs.
 * Ownership from then on:
 *   - the connection has left the server's management: no timeouts, not
 *     counted in connections_open or against max_connections;
 *   - the handle (fh_takeover_tcp) is yours to read and write with libuv
 *     (set its data field freely), but its memory is the framework's: never
 *     uv_close it yourself, call fh_takeover_close (or fh_takeover_detach);
 *   - the request and its arena stay valid until the takeover is closed:
 *     views of the request and fh_alloc'ed memory may serve as connection
 *     state (the arena only grows, so do not allocate per message);
 *   - a server stop closes every taken-over connection of the server (the
 *     close callback runs), when the stop begins.
 * data belongs to the caller. Returns 0, FH_ESTATE (not in a handler, or the
 * response is final), FH_ENOTSUP (a TLS connection: its session cannot go
 * with the socket; answer normally, or serve the protocol behind a plain
 * listener) or FH_ENOMEM; on error on_ready never runs. */
FH_API int fh_request_takeover(fh_response_t *res, unsigned flags, fh_takeover_fn on_ready,
                               void *data);

/** The connection's handle, on the request's loop. Valid until the close
 * callback has returned. */
FH_API uv_tcp_t *fh_takeover_tcp(fh_takeover_t *tk);
/** Bytes the client sent after the request that were already read (the
 * first bytes of the new protocol): hand them to your parser before the
 * ones you read. Valid as long as the takeover. */
FH_API fh_str_t fh_takeover_rest(const fh_takeover_t *tk);
/** The request that took the connection (valid as long as the takeover). */
FH_API fh_request_t *fh_takeover_request(fh_takeover_t *tk);
/** Sets the close callback (replacing any previous one). */
FH_API void fh_takeover_on_close(fh_takeover_t *tk, fh_takeover_close_fn fn, void *data);
/** Closes the connection: the close callback runs now, then the handle is
 * closed (pending writes fail with UV_ECANCELED) and the request released.
 * tk must not be used after this call. Calling it again is a no-op until
 * then. */
FH_API void fh_takeover_close(fh_takeover_t *tk);
/** Gives the socket itself away: *fd is a new descriptor of the connection
 * (close-on-exec, non-blocking) that belongs to the caller, to use with any
 * event loop or thread; the server never touches it again, not even when it
 * stops. The takeover is then closed as by fh_takeover_close. Returns 0 or a
 * libuv error (the takeover then stays open). */
FH_API int fh_takeover_detach(fh_takeover_t *tk, uv_os_sock_t *fd);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_STREAM_H */
