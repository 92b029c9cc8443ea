/**
 * @file
 * fasthttp — multipart/form-data (RFC 7578, boundaries as in RFC 2046)
 * parsed as a stream: fed the body in chunks of any size as it arrives
 * (body.h), it calls back for each part's start (its name, filename and
 * Content-Type), its data and its end. Field values (parts without a
 * filename) are gathered in memory up to a limit and handed over whole at
 * the part's end; file parts stream through on_part_data and are never
 * held.
 *
 *     static int begin(const fh_multipart_part_t *part, void *data);
 *     static int file_data(const fh_multipart_part_t *part, fh_str_t chunk, void *data);
 *     static int end(const fh_multipart_part_t *part, fh_str_t value, void *data);
 *     static const fh_multipart_callbacks_t cbs = { begin, file_data, end };
 *
 *     fh_multipart_t *mp;
 *     fh_multipart_error_t err;
 *     if (fh_multipart_new(&mp, fh_request_header(req, "Content-Type"), NULL, &cbs, u, &err))
 *         return fh_multipart_send_error(res, &err);      // 415 or 400
 *     ... in the body callback (body.h):
 *     rc = fh_multipart_feed(mp, chunk, &used);           // then, at FH_BODY_END:
 *     rc = fh_multipart_finish(mp);                        // truncated body?
 *     if (rc < 0)
 *         fh_multipart_send_error(res, fh_multipart_error(mp)); // 400 or 413
 *
 * Memory. A parser is one allocation of about max_header_bytes plus a
 * field buffer grown by doubling up to max_field_bytes: bounded by the
 * limits whatever the input, and nothing is allocated per chunk. File data
 * is handed over as views into the chunk fed (zero-copy).
 *
 * Syntax accepted. Anything before the first boundary delimiter is a
 * preamble, ignored, at most max_header_bytes long (a longer one is
 * FH_MULTIPART_NO_DELIMITER: most likely the wrong boundary); anything
 * after the final one ("--boundary--") an epilogue, ignored. A delimiter
 * is CRLF "--" boundary, followed by optional spaces and tabs and CRLF, or
 * by "--" for the last. Part headers are lines ended by CRLF (a bare CR or
 * LF, a line folded or without a colon are errors), ended by an empty
 * line. Content-Disposition must be there, once, of type form-data, with a
 * name parameter; its parameters are tokens or quoted strings (a
 * backslash quotes the next byte); filename* (RFC 8187, UTF-8 only; other
 * charsets are ignored) wins over filename. Other headers are ignored.
 */
#ifndef FASTHTTP_MULTIPART_H
#define FASTHTTP_MULTIPART_H

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A streaming multipart/form-data parser (opaque). One thread at a time. */
typedef struct fh_multipart fh_multipart_t;

/** What went wrong, for the client (fh_multipart_error_t.reason). */
typedef enum fh_multipart_reason {
    FH_MULTIPART_OK = 0,          /**< no error */
    FH_MULTIPART_NOT_FORM,        /**< 415: the Content-Type is not multipart/form-data */
    FH_MULTIPART_NO_BOUNDARY,     /**< 400: no boundary parameter */
    FH_MULTIPART_BAD_BOUNDARY,    /**< 400: empty, over 70 bytes, bad bytes, ends in a space */
    FH_MULTIPART_NO_DELIMITER,    /**< 400: no boundary delimiter in the body (wrong boundary) */
    FH_MULTIPART_BAD_DELIMITER,   /**< 400: junk after a delimiter (neither CRLF nor "--") */
    FH_MULTIPART_BAD_HEADER,      /**< 400: a malformed part header line */
    FH_MULTIPART_HEADER_TOO_BIG,  /**< 400: a part's header section past max_header_bytes */
    FH_MULTIPART_NO_DISPOSITION,  /**< 400: a part without Content-Disposition */
    FH_MULTIPART_BAD_DISPOSITION, /**< 400: malformed, twice, or not form-data */
    FH_MULTIPART_NO_NAME,         /**< 400: Content-Disposition without a name */
    FH_MULTIPART_TRUNCATED,       /**< 400: the body ends before the final delimiter */
    FH_MULTIPART_TOO_MANY_PARTS,  /**< 413: more than max_parts parts */
    FH_MULTIPART_FIELD_TOO_BIG,   /**< 413: a field value past max_field_bytes */
    FH_MULTIPART_FILE_TOO_BIG,    /**< 413: a file part past max_file_bytes */
    FH_MULTIPART_TOTAL_TOO_BIG,   /**< 413: the body past max_total_bytes */
    FH_MULTIPART_CALLBACK,        /**< 500: a callback returned an error */
    FH_MULTIPART_NO_MEMORY,       /**< 503: out of memory */
} fh_multipart_reason_t;

/** A refusal: why, where, and a sentence that says it. */
typedef struct fh_multipart_error {
    fh_multipart_reason_t reason; /**< what is wrong */
    int status;                   /**< the HTTP status that answers it: 400, 413, 415, 500, 503 */
    uint64_t offset;              /**< the byte of the body where it was found */
    uint32_t part;                /**< the part (1 = the first), 0 before any */
    char detail[200]; /**< e.g. "part 2: the header section is larger than 8192 bytes" */
} fh_multipart_error_t;

/** The limits of one parser; 0 in a field means its default. */
typedef struct fh_multipart_limits {
    uint32_t max_parts;        /**< parts, fields and files (default 1000) */
    uint32_t max_header_bytes; /**< one part's header section, CRLFs included; also
                                    the preamble (default 8192) */
    uint32_t max_field_bytes;  /**< one field's value, held in memory (default 64 KiB) */
    uint64_t max_file_bytes;   /**< one file part's data (default 4 GiB) */
    uint64_t max_total_bytes;  /**< the whole body (default 4 GiB) */
} fh_multipart_limits_t;

/** The default of fh_multipart_limits_t.max_parts. */
#define FH_MULTIPART_MAX_PARTS 1000u
/** The default of fh_multipart_limits_t.max_header_bytes. */
#define FH_MULTIPART_MAX_HEADER 8192u
/** The default of fh_multipart_limits_t.max_field_bytes. */
#define FH_MULTIPART_MAX_FIELD (64u << 10)
/** The default of fh_multipart_limits_t.max_file_bytes. */
#define FH_MULTIPART_MAX_FILE (4ull << 30)
/** The default of fh_multipart_limits_t.max_total_bytes. */
#define FH_MULTIPART_MAX_TOTAL (4ull << 30)
/** RFC 2046: a boundary is 1 to 70 bytes. */
#define FH_MULTIPART_BOUNDARY_MAX 70

/** One part, as the callbacks see it. The views point into the parser's
 * header buffer and stay valid until on_part_end has returned. */
typedef struct fh_multipart_part {
    uint32_t index;        /**< 1 for the first part */
    fh_str_t name;         /**< the name parameter, unquoted (may be empty) */
    fh_str_t filename;     /**< filename* decoded, else filename unquoted; ptr NULL when
                                neither was sent. Never a path: see
                                fh_multipart_filename_sanitize */
    fh_str_t content_type; /**< the part's Content-Type; ptr NULL when absent */
    bool is_file;          /**< a filename parameter was sent: data streams */
    uint64_t size;         /**< data bytes so far; at on_part_end, all of them */
} fh_multipart_part_t;

/** The callbacks' return: go on, or stop feeding (fh_multipart_feed then
 * returns FH_MULTIPART_PAUSED); a negative value stops the parser for good
 * (fh_multipart_feed returns it, reason FH_MULTIPART_CALLBACK). */
enum {
    FH_MULTIPART_CONTINUE = 0, /**< go on parsing */
    FH_MULTIPART_PAUSE = 1,    /**< stop after this callback; feed the rest later */
};

/** fh_multipart_feed's return when a callback asked to pause. */
#define FH_MULTIPART_PAUSED 1

/** The callbacks; each may be NULL. data is fh_multipart_new's. They run
 * inside fh_multipart_feed, on its thread; they must not free the parser.
 *  - on_part_begin: the part's headers are complete.
 *  - on_part_data: the next bytes of a file part (never empty); chunk is
 *    valid during the call only (it points into what was fed, or into the
 *    parser). Fields do not come here.
 *  - on_part_end: the part's data is complete; value is the field's value
 *    (empty for a file part), valid during the call only. */
typedef struct fh_multipart_callbacks {
    /** A part's headers are complete. */
    int (*on_part_begin)(const fh_multipart_part_t *part, void *data);
    /** The next bytes of a file part. */
    int (*on_part_data)(const fh_multipart_part_t *part, fh_str_t chunk, void *data);
    /** The part is complete; value: a field's value. */
    int (*on_part_end)(const fh_multipart_part_t *part, fh_str_t value, void *data);
} fh_multipart_callbacks_t;

/** Reads the boundary out of a Content-Type value: multipart/form-data
 * (case-insensitive) with a boundary parameter, a token or a quoted
 * string, of 1 to 70 bytes of RFC 2046's bchars, not ending in a space.
 * On 0 *boundary points into content_type (the quoted form's, without
 * quotes: a boundary holds no backslash). Else FH_EINVAL, with err (may be
 * NULL) saying why: FH_MULTIPART_NOT_FORM, _NO_BOUNDARY or _BAD_BOUNDARY.
 * Pure: any thread. */
FH_API int fh_multipart_boundary(fh_str_t content_type, fh_str_t *boundary,
                                 fh_multipart_error_t *err);

/** A parser for a body of that Content-Type (fh_multipart_boundary) with
 * limits (NULL: the defaults; copied) and callbacks (borrowed: they must
 * outlive the parser), which get data. Returns 0 with *out to free with
 * fh_multipart_free; FH_EINVAL (err says why, may be NULL) or FH_ENOMEM.
 * The parser is the caller's, on one thread at a time. */
FH_API int fh_multipart_new(fh_multipart_t **out, fh_str_t content_type,
                            const fh_multipart_limits_t *limits,
                            const fh_multipart_callbacks_t *callbacks, void *data,
                            fh_multipart_error_t *err);

/** Parses the next bytes of the body, which may end anywhere (inside a
 * boundary, a header, a CRLF). Returns
 *  - 0: every byte was taken (*consumed = chunk.len);
 *  - FH_MULTIPART_PAUSED: a callback returned FH_MULTIPART_PAUSE; the
 *    first *consumed bytes were taken, feed the rest again (a copy is fine:
 *    the parser keeps no pointer into chunk) when ready;
 *  - FH_EINVAL (malformed, 400), FH_E2BIG (a limit, 413), FH_ENOMEM, or a
 *    callback's negative return: the parser has stopped, every later call
 *    returns the same, and fh_multipart_error says what and where.
 * consumed may be NULL. Bytes after the final delimiter are taken and
 * ignored. */
FH_API int fh_multipart_feed(fh_multipart_t *mp, fh_str_t chunk, size_t *consumed);

/** The body is over: 0 when its final delimiter was seen; FH_EINVAL
 * (FH_MULTIPART_TRUNCATED or _NO_DELIMITER) when not; the stopping error
 * when the parser had stopped. */
FH_API int fh_multipart_finish(fh_multipart_t *mp);

/** Whether the final delimiter has been seen (the rest is epilogue). */
FH_API bool fh_multipart_done(const fh_multipart_t *mp);

/** Why the parser stopped (reason FH_MULTIPART_OK while it has not). The
 * pointer is valid as long as the parser. */
FH_API const fh_multipart_error_t *fh_multipart_error(const fh_multipart_t *mp);

/** Frees the parser (NULL is fine). */
FH_API void fh_multipart_free(fh_multipart_t *mp);

/** The reason as a word for machines: "not_multipart", "no_boundary",
 * "bad_boundary", "no_delimiter", "bad_delimiter", "bad_header",
 * "header_too_big", "no_disposition", "bad_disposition", "no_name",
 * "truncated", "too_many_parts", "field_too_big", "file_too_big",
 * "total_too_big", "callback", "no_memory" (static text). */
FH_API const char *fh_multipart_reason_name(fh_multipart_reason_t reason);

/** Answers res with err as a problem document (json.h): err->status, the
 * detail, and members "reason" (fh_multipart_reason_name), "offset" and
 * "part"; 415 also gets "Accept: multipart/form-data". Returns as
 * fh_send_problem. */
FH_API int fh_multipart_send_error(fh_response_t *res, const fh_multipart_error_t *err);

/** The longest sanitized filename, in bytes (NAME_MAX). */
#define FH_MULTIPART_FILENAME_MAX 255

/** Makes a client's filename safe to use as one name in a directory:
 * refuses it when empty, when it holds a NUL or another control byte
 * (below 0x20, 0x7f) or is not valid UTF-8; keeps what follows the last
 * '/' or '\\' (so "../../etc/passwd" is "passwd", "C:\\x\\y.txt" is
 * "y.txt"); removes leading dots and spaces (no hidden files, no "..")
 * and trailing dots and spaces; refuses what is then empty or longer than
 * FH_MULTIPART_FILENAME_MAX. On 0, out holds the name, NUL-terminated. On
 * FH_EINVAL, *why (may be NULL) is a static sentence. Pure: any thread. */
FH_API int fh_multipart_filename_sanitize(fh_str_t filename,
                                          char out[FH_MULTIPART_FILENAME_MAX + 1],
                                          const char **why);

/* ---- one call: a streamed request body into a parser (core/multipart_body.c) */

/** fh_request_multipart's end of the form, called exactly once, on the
 * request's loop thread. status says who answers:
 *  - 0: the final delimiter arrived and fh_multipart_finish agreed: the app
 *    answers res (fh_send_*, now or later: the response is deferred);
 *  - 400, 413, 415, 500, 503: the library answered the parser's refusal
 *    (fh_multipart_send_error; fh_multipart_error tells it) or a failure of
 *    its own;
 *  - 408, 413, 400 for a body that stalled, grew past the route's
 *    max_bytes, or had malformed chunked framing: the core answers;
 *  - FH_ECANCELED: the client left; as body.h says, the app still ends res
 *    (fh_response_end), now or once its own work in flight is over.
 * Only with 0 or FH_ECANCELED does the app touch res. It cleans up its
 * state in any case. For a status the library answers, done runs just
 * before the answer is sent (which may end the request): the parser stays
 * valid (fh_multipart_error) during done, and until the request is over;
 * it is freed with the request. */
typedef void (*fh_multipart_done_fn)(fh_request_t *req, fh_response_t *res, int status, void *data);

/** Parses req's streamed body (body.h: its route opts in with
 * FH_ROUTE_STREAM) as multipart/form-data as it arrives: the glue between
 * fh_request_body_read and fh_multipart_feed, called from the handler
 * (or later on the loop thread, as fh_request_body_read).
 *
 * The Content-Type is checked first: one that is not multipart/form-data,
 * or has a bad boundary, is answered 415 or 400 (fh_multipart_send_error)
 * (done is called with that status just before, inside this call; the
 * call returns fh_multipart_send_error's result); a request without
 * a body gets 400 (no delimiter) the same way. Otherwise the body is fed to
 * a parser made with limits (NULL: the defaults) and callbacks (borrowed:
 * they must outlive the request), which, like done, get data (borrowed)
 * and run on the request's loop thread, inside this call or a later body
 * read. The callbacks' views are valid as multipart.h says (during the
 * call for chunk and value, until on_part_end for the part's).
 *
 * A callback returning FH_MULTIPART_PAUSE pauses the parser and the socket
 * (FH_BODY_PAUSE): what was not parsed of the chunk is kept, copied into
 * the request's arena (at most one read), until fh_request_multipart_resume.
 * A callback's negative return, a malformed body or a limit is answered by
 * the library (500, 400, 413: unless the callback answered res itself
 * before returning its error); done then gets the parser's status. An app
 * that answers res while paused (its own work failed) does not resume:
 * done is then not called, and the parser goes with the request.
 *
 * Returns 0 when done will be, or has been, called (the response is
 * deferred: the handler returns 0); *out (may be NULL) is then the parser,
 * owned by the request (NULL after a refused Content-Type). Else nothing
 * was answered and done is never called: FH_ENOMEM, FH_ESTATE (called
 * twice, the route does not stream its body, or it is being read already),
 * FH_ENOTCONN (the client is gone): the handler returns the error. */
FH_API int fh_request_multipart(fh_request_t *req, fh_response_t *res,
                                const fh_multipart_limits_t *limits,
                                const fh_multipart_callbacks_t *callbacks,
                                fh_multipart_done_fn done, void *data, fh_multipart_t **out);

/** Goes on after a callback of fh_request_multipart's parser paused: feeds
 * what was kept of the chunk (a callback may pause again, or the form end:
 * done may run before this returns), then reads the socket again. Loop
 * thread only (a timer, an fh_offload `done`). Returns 0; FH_ESTATE when
 * req's form is not paused (or there is none); FH_ENOTCONN when done has
 * been called meanwhile (the client left): nothing is fed. */
FH_API int fh_request_multipart_resume(fh_request_t *req);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MULTIPART_H */
