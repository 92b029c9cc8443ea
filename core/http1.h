/* Internal: HTTP/1.1, the protocol a connection speaks from its first byte
 * (http1.c: requests in order and their responses; http1_parser.c: llhttp
 * and the framing rules).
 *
 * Ordering. Every parsed request joins the connection's queue. Handlers run
 * synchronously as requests are parsed; a response that is final is
 * serialized at once into the request's arena. After the bytes of one read
 * (a batch), the ready responses at the head of the queue leave in one
 * write; what the socket does not take at once is queued on the
 * connection. A deferred response blocks the ones behind it until it ends;
 * a stream at the head writes its own bytes. A request's arena is released
 * when its bytes have been written.
 *
 * Strictness. llhttp only finds the framing; the head is parsed and checked
 * by http1_syntax.c when llhttp reports it complete, and chunk lines, the
 * CRLF after chunk data and trailers are checked as llhttp passes them, so
 * that nothing of a request is used before it is known to be well formed.
 * Any breach answers one error response with Connection: close, nothing
 * after it is parsed, and the connection lingers so that the client reads
 * the error. docs/conformance.md lists the rules; tests/conformance/ proves
 * them. */
#ifndef FH_CORE_HTTP1_H
#define FH_CORE_HTTP1_H

#include <llhttp.h>

#include "core/conn.h"
#include "core/request.h"

extern const fh__protocol_t fh__http1_protocol;

/* Where a connection is, as HTTP/1.1 sees it. */
typedef enum fh__h1_state {
    FH__H1_READING,  /* requests are parsed as they come */
    FH__H1_PAUSED,   /* at the pipelining cap: reading waits for answers to leave */
    FH__H1_LAST,     /* no request after the last one parsed (close, upgrade,
                     * error, stop): answer the queue, then end */
    FH__H1_HANDOVER, /* the last request takes the connection over: nothing
                      * more is read, so that its bytes go with the socket */
} fh__h1_state_t;

/* What the read deadline guards (DRAIN: an idle connection kept a little
 * while after a restart's handover, for a request on its way). */
enum {
    FH__H1_TO_NONE,
    FH__H1_TO_FRESH,
    FH__H1_TO_HEADER,
    FH__H1_TO_BODY,
    FH__H1_TO_IDLE,
    FH__H1_TO_DRAIN
};

/* One read's bytes being parsed: on the stack of the batch, so that a
 * handler finishing another connection's response (which may parse that
 * connection's next bytes) cannot disturb it. */
typedef struct fh__h1_batch {
    const char *end; /* end of the bytes given to llhttp */
    uint64_t ns;     /* the clock at its first dispatch, 0 until then */
} fh__h1_batch_t;

typedef struct fh__h1 {
    llhttp_t *parser;              /* from the worker's pool, only while parsing */
    fh_request_t *cur;             /* request being parsed */
    fh_request_t *q_head, *q_tail; /* dispatched, not yet written */
    uint32_t nqueued;
    void (*writable_cb)(fh_request_t *req); /* a stream waiting for room */
    uint8_t state;                          /* fh__h1_state_t */
    uint8_t to_kind;                        /* FH__H1_TO_* */
    uint8_t lead;                           /* bytes of the empty line before a request: 0..2 */
    bool draining;                          /* the server stops: the last answer says close */
    bool late;             /* accepted while the server stops (from the kernel's queue) */
    bool rewritten;        /* the head was rewritten for llhttp: parse it again */
    bool body_wait;        /* a streamed body waits for its handler (body.h) */
    uint16_t err_status;   /* status chosen by a callback that failed */
    fh__h1_batch_t *batch; /* being parsed, or NULL */
} fh__h1_t;

static inline fh__h1_t *fh__h1_of(const fh__conn_t *c) { return fh__conn_proto(c); }

/* ---- http1_parser.c ---- */

/* A parser for c from the worker's pool, or NULL when out of memory. */
llhttp_t *fh__h1_parser_get(fh__conn_t *c);
void fh__h1_parser_put(fh__conn_t *c);
/* Frees the worker's pool of parsers. */
void fh__h1_parsers_free(fh__worker_t *w);
/* The status for llhttp's error err on c's current bytes. */
int fh__h1_parse_error_status(fh__conn_t *c, llhttp_errno_t err);
/* The request being parsed (h->cur, its first byte at raw_begin), when
 * the bytes up to end hold its whole head, well formed, with no body (no
 * Content-Length, no Transfer-Encoding) and a method the core serves:
 * parsed and checked by the strict head parser alone, without llhttp, and
 * complete (raw_end set). Returns false, with the request as it was, for
 * anything else: llhttp's way then parses it, and refuses what it must. */
bool fh__h1_fast_head(fh__conn_t *c, const char *end);
/* After llhttp refused a head that the rules accept, where it is stricter
 * than RFC 9112 (an HTTP/1 minor version above 1, to be served as
 * HTTP/1.1; a tab in the optional whitespace after a field value, which it
 * misreads in Content-Length and Transfer-Encoding): rewrites those bytes
 * to the equivalent llhttp takes ("1", a space), resets the parser and
 * returns true, so the request is parsed again from its first byte; false
 * when nothing was left to rewrite (the refusal stands). */
bool fh__h1_normalize(fh__conn_t *c, llhttp_errno_t err);
/* Gives a request refused before its head was parsed what can be read of
 * it (method, target, complete fields) from its first avail bytes. */
void fh__h1_fill_partial(fh__conn_t *c, fh_request_t *req, size_t avail);
/* Checks an incomplete head at the end of a batch (end: the batch's last
 * byte): 0, or the status to refuse it with (431: too large; 414: the
 * target is too long; 400/505: the request line can never be valid). */
int fh__h1_check_partial(fh__conn_t *c, const char *end);

#endif
