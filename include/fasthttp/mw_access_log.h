/* fasthttp — access log middleware.
 *
 * One line per request, written once the response has been written to the
 * socket (or the client went away), in one of three formats:
 *
 *   FH_LOG_COMMON    Apache's Common Log Format, "%h %l %u %t \"%r\" %>s %b":
 *     127.0.0.1 - alice [10/Oct/2000:13:55:36 +0000] "GET /a?b=1 HTTP/1.1" 200 2326
 *   FH_LOG_COMBINED  Common plus "\"%{Referer}i\" \"%{User-agent}i\"":
 *     ... 200 2326 "http://example.com/" "curl/8.0"
 *   FH_LOG_JSON      one JSON object per line:
 *     {"time":"2000-10-10T13:55:36.123Z","remote":"127.0.0.1","method":"GET",
 *      "target":"/a?b=1","proto":"HTTP/1.1","status":200,"bytes":2326,
 *      "referer":"http://example.com/","user_agent":"curl/8.0",
 *      "user":"alice","request_id":"...","latency_us":412}
 *
 * Fields, as Apache defines them:
 *   %h  the client's IP address
 *   %l  identd name: always "-"
 *   %u  the authenticated user (fh_auth_user, see mw_auth.h) or "-"
 *   %t  when the request's head arrived, [day/Mon/year:HH:MM:SS +0000] (UTC)
 *   %r  the request line: method, target as sent, protocol
 *   %>s the final status
 *   %b  body bytes sent, headers excluded; "-" for none (HEAD, 204, 304)
 * Raw responses (fh_send_raw) carry no parsed status: they are logged with
 * the status set through fh_response_status (200 unless set) and "-" bytes.
 * Streamed responses (stream.h) are logged when the stream has ended, with
 * their status and latency; their body is not counted ("-"/0 bytes).
 * In %r, %u and the quoted headers, '"' and '\\' are escaped with a
 * backslash and bytes outside printable ASCII as \xhh (Apache's rules), so
 * a line cannot be forged. JSON lines leave out absent fields (referer,
 * user_agent, user, request_id) and escape strings per RFC 8259 (invalid
 * UTF-8 becomes U+FFFD).
 *
 * Extras for Common and Combined, appended in this order when enabled:
 *   latency     " 412": microseconds from the request's head to the end of
 *               the write, like Apache's %D (JSON lines always carry it)
 *   request_id  " \"9f86...\"" (fh_request_id, "-" without one; JSON lines
 *               carry it whenever the request has one)
 *
 * Buffering: each worker thread appends to its own buffer, with no lock per
 * request, and hands it on when the next line would not fit, every
 * flush_ms, and when the middleware is released. Lines from different
 * threads are therefore grouped by thread, in order within a thread; each
 * hand-over holds whole lines. With path, a writer thread of the log's own
 * does the write(2)s: workers copy their buffer into its queue of at most
 * max_pending bytes and go on, so a slow disk (or a pipe nobody reads)
 * never holds a worker. The writer gathers what arrives within 20 ms (or
 * an eighth of max_pending) into one write(2). A buffer that finds the queue full is dropped: its
 * lines are counted (fh_access_log_dropped) and the count is written to
 * stderr. fh_middleware_release waits until the writer has written
 * everything (or, for a pipe or socket that takes nothing for 1 s, counts
 * the rest as dropped). With file and write, the worker thread writes (a
 * slow output slows that worker).
 *
 * Output, exactly one of:
 *   path   a file opened for appending (created 0644), closed on release
 *   file   a FILE * (stdout...) that stays the caller's; written with
 *          fwrite + fflush, never closed
 *   write  a callback given whole lines: write(lines, len, data). It runs on
 *          worker threads, several at once when threads > 1, and must not
 *          keep the pointer.
 * None set: stdout.
 *
 * Requests the core refused (a malformed request, a limit, a timeout: see
 * the error handler in server.h) reach no middleware unless the server's
 * error_handler is a chain holding the access log (the same value as in
 * the main chain is fine). They are then logged like any other request,
 * with what was parsed of them: a part of the request line that is
 * missing is "-" (the method, the target, or the protocol when the version
 * was not read or not accepted), and a request line missing altogether
 * (garbage) is logged as "-":
 *     127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "-" 400 11
 *     127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET /big -" 431 31
 * JSON lines leave the missing fields out. Their latency counts from the
 * request's first byte (to the millisecond) to the end of the write, so a
 * 408 shows how long the client held the connection.
 *
 * The access log should come first in the chain (outermost), so it sees
 * every request, those answered by other middleware included. Release it
 * after fh_server_free, or lines still buffered are lost and its flush
 * timers would outlive their loops.
 */
#ifndef FASTHTTP_MW_ACCESS_LOG_H
#define FASTHTTP_MW_ACCESS_LOG_H

#include <stdio.h>

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fh_log_format {
    FH_LOG_COMMON = 0,
    FH_LOG_COMBINED,
    FH_LOG_JSON,
} fh_log_format_t;

typedef void (*fh_log_write_fn)(const char *lines, size_t len, void *data);

/** Options of fh_access_log_new; all zero (or NULL) = Common format on
 * stdout. Set at most one of path, file and write. */
typedef struct fh_access_log_options {
    fh_log_format_t format; /**< default FH_LOG_COMMON */
    const char *path;       /**< output: see above */
    FILE *file;             /**< output: a stream the caller keeps open */
    fh_log_write_fn write;  /**< output: a callback given whole lines */
    void *write_data;       /**< passed to write */
    bool latency;           /**< Common/Combined: append microseconds */
    bool request_id;        /**< Common/Combined: append the request id */
    size_t buffer_size;     /**< bytes buffered per thread: 0 = 64 KiB;
                                at least 4096 */
    uint32_t flush_ms;      /**< flush period: 0 = 1000 */
    /** path: the most bytes waiting for the writer thread; 0 = 8 MiB (at
     * 100 MB of lines a second, 80 ms of them); at least buffer_size. */
    size_t max_pending;
} fh_access_log_options_t;

/** Fills *out; opt may be NULL (Common format on stdout). FH_ECONFIG names
 * a bad field; a path that cannot be opened returns the open error (as a
 * negative errno) with a message naming access_log.path. Free with
 * fh_middleware_release after the server is freed: that writes the lines
 * still buffered. */
FH_API int fh_access_log_new(fh_middleware_t *out, const fh_access_log_options_t *opt);

/** The lines an access log mw (made by fh_access_log_new) has dropped
 * because its output was too slow: its queue was full, or at release its
 * pipe took nothing for 1 s. Any thread, while mw is not released. */
FH_API uint64_t fh_access_log_dropped(const fh_middleware_t *mw);

/** Reopens the file of every access log opened with a path (for
 * logrotate: the old file was renamed, lines go to a new one by that
 * name), from any thread. Lines already queued for the writer thread are
 * written to the old file first; lines still in a worker's buffer go to
 * the new file.
 * fh_server_run does it on SIGUSR1 (with handle_signals). Returns 0, or
 * the first open error as a negative errno (that log keeps its old file). */
FH_API int fh_access_log_reopen(void);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_ACCESS_LOG_H */
