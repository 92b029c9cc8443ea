/**
 * @file
 * fasthttp — a streamed request body spooled to a temporary file, handed
 * to the handler as a file descriptor once complete: for bodies that must
 * be whole before they are used (an import, a file checked before it is
 * stored) but do not fit in memory.
 *
 *     static void spooled(fh_request_t *req, fh_response_t *res, int fd,
 *                         uint64_t size, int status, void *data) {
 *         if (status == 0)
 *             ... read fd from offset 0, size bytes; answer res ...
 *         else if (status == FH_ECANCELED)
 *             fh_response_end(res);         // the client left
 *         // other errors: answered for you unless you answer
 *     }
 *     static int import(fh_request_t *req, fh_response_t *res, void *data) {
 *         static const fh_spool_options_t opts = { .dir = "/var/tmp" };
 *         return fh_request_body_spool(req, &opts, spooled, NULL);
 *     }
 *     // the route streams its body (body.h): per route, by construction
 *     FH_ROUTE_STREAM(FH_METHOD_POST, "/import", import, NULL, &limits),
 *
 * The file is made in opts->dir with O_TMPFILE (no name at all), or where
 * the filesystem lacks it, created there and unlinked at once: whatever
 * happens to the request (the client leaves, the server stops), no file is
 * left behind. The body is gathered in a buffer of buffer_bytes and
 * written on libuv's thread pool while reading from the socket pauses
 * (backpressure, body.h): memory stays at one buffer per request whatever
 * the body's size; the disk holds the body.
 */
#ifndef FASTHTTP_SPOOL_H
#define FASTHTTP_SPOOL_H

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where and how a body is spooled. */
typedef struct fh_spool_options {
    /** The directory of the temporary file; NULL: $TMPDIR, else /tmp. */
    const char *dir;
    /** Bytes gathered per write on the thread pool; 0: 256 KiB. */
    size_t buffer_bytes;
} fh_spool_options_t;

/** Receives the spooled body, once, on the request's loop thread.
 *  - status 0: fd holds the whole body (size bytes) and is positioned at
 *    offset 0, open for reading and writing. It belongs to the request: it
 *    is closed when the request is released (after its response has been
 *    written); dup() it to keep it longer. Answer res, now or later.
 *  - FH_ECANCELED: the client left; end the response (fh_response_end).
 *  - FH_E2BIG, FH_ETIMEDOUT, FH_EINVAL: the body failed (past the route's
 *    max_bytes, stalled, malformed chunked framing): answered 413, 408, 400
 *    for you unless you answer.
 *  - another negative code: writing the file failed (libuv's code for the
 *    errno: UV_ENOSPC, UV_EIO...); answered 500 for you unless you answer.
 * fd is -1 for every error. */
typedef void (*fh_spool_fn)(fh_request_t *req, fh_response_t *res, int fd, uint64_t size,
                            int status, void *data);

/** Spools req's streamed body (fh_request_body_streaming) to a temporary
 * file and calls fn(req, res, fd, size, status, data) when it is complete
 * or has failed. Call it from the handler (the response is deferred, as by
 * fh_request_body_read) or later on the loop thread. opts (NULL: the
 * defaults) is read during the call; data is borrowed. Returns 0, then fn
 * runs exactly once; or, and then fn never runs: FH_ESTATE (the body is not
 * streamed, or is being read already), the open's error as libuv's code
 * (FH_ENOENT for a missing directory, UV_EACCES...), FH_ENOMEM. */
FH_API int fh_request_body_spool(fh_request_t *req, const fh_spool_options_t *opts, fh_spool_fn fn,
                                 void *data);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_SPOOL_H */
