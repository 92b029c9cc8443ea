/* Strict HTTP/1.1 message syntax (RFC 9110, RFC 9112), checked by us.
 *
 * llhttp finds the framing and hands out spans, but the version Debian
 * ships (8.1.0, non-strict build) accepts things a server must refuse: a
 * bare CR or LF as a line end, obsolete line folding, whitespace before a
 * field's colon, any two bytes after chunk data, any byte after a chunk
 * size's CR. http1_parser.c therefore runs the checks below over the bytes llhttp
 * has already accepted, before anything of the request is used: the head
 * at on_headers_complete, each chunk-size line at on_chunk_header, the CRLF
 * after each chunk's data at on_chunk_complete, and the trailer section at
 * on_message_complete. A check accepts only the strict grammar, so where it
 * passes, llhttp and we agree on where every line ends.
 *
 * Each function reads at most n bytes from p and returns 0 (well formed) or
 * the status to reject with: 400, or 505 for a well-formed request line
 * whose version is not HTTP/1 (a higher HTTP/1 minor version is taken as
 * HTTP/1.1).
 */
#ifndef FH_CORE_HTTP1_SYNTAX_H
#define FH_CORE_HTTP1_SYNTAX_H

#include <fasthttp.h>

#include "core/response.h" /* fh__header_t */

/* The request line and header section starting at p, up to and including
 * the empty line. On success *len is the head's length in bytes. */
int fh__h1_check_head(const char *p, size_t n, size_t *len);

/* The request line and the header fields of a head, parsed as strictly
 * as fh__h1_check_head checks them, for the request's views: method and
 * target (views into p), the version's minor digit, and the head's length
 * (request line to empty line). */
typedef struct fh__h1_head {
    fh_str_t method, target;
    uint8_t minor;
    size_t len;
} fh__h1_head_t;

/* Where fh__h1_parse_head puts the fields (name and value without the OWS
 * around it, views into p): an array in arena grown as needed, up to max
 * fields. */
typedef struct fh__h1_fields {
    fh__header_t *v;
    uint32_t n, cap, max;
    fh_arena_t *arena;
} fh__h1_fields_t;

/* fh__h1_check_head, collecting the head into h and f. Returns 0, 400, 505,
 * 431 (more than f->max fields) or 503 (out of memory). */
int fh__h1_parse_head(const char *p, size_t n, fh__h1_head_t *h, fh__h1_fields_t *f);

/* What can be read of a head that is incomplete or refused, for the error
 * handler and the access log: the method and target when the request line
 * has them, and the complete, valid field lines before anything else. */
void fh__h1_parse_partial(const char *p, size_t n, fh__h1_head_t *h, fh__h1_fields_t *f);

/* The start of a request line that may not be complete yet: 0 when it can
 * still become a valid one, -1 when it is complete and valid, 414 when its
 * target is already longer than max_target, and 400 or 505 when it can
 * never be valid (a request line without a version, a bad byte). */
int fh__h1_check_line(const char *p, size_t n, size_t max_target);

/* Only the request line (used when llhttp failed on the version): 505 if it
 * is `token SP target SP HTTP/d.d CRLF` with another major version, else
 * 400. */
int fh__h1_version_status(const char *p, size_t n);

/* A chunk-size line: 1*HEXDIG *(";" ext-name ["=" token / quoted-string])
 * CRLF, with no whitespace anywhere. *len is the line's length with CRLF. */
int fh__h1_check_chunk_line(const char *p, size_t n, size_t *len);

/* Field lines ending with an empty line (a trailer section). *len is the
 * section's length with the final CRLF. */
int fh__h1_check_fields(const char *p, size_t n, size_t *len);

/* A Content-Length value: 1*DIGIT, at most 2^63-1. Returns 0 or 400. */
int fh__h1_content_length(fh_str_t v, uint64_t *out);

/* Transfer-Encoding values combined across fields: 0 if the list is exactly
 * one "chunked" (case-insensitive, empty list elements ignored); 501 if
 * every coding is a well-formed token, the last is chunked, and another is
 * one we do not implement (gzip, chunked); 400 otherwise (empty, chunked
 * not last, chunked twice, parameters on chunked, bad syntax). */
int fh__h1_transfer_encoding(const fh_str_t *values, size_t n);

/* A Host value (RFC 9110 7.2): uri-host [":" port], where uri-host is an
 * IP-literal in brackets, or a reg-name of unreserved, pct-encoded and
 * sub-delims characters (an empty value is allowed). Returns 0 or 400. */
int fh__h1_check_host(fh_str_t v);

/* The options of a Connection field value (a comma-separated list of
 * tokens, case-insensitive, OWS around them): the bits of the ones the
 * core acts on. */
enum { FH__H1_CONN_CLOSE = 1, FH__H1_CONN_KEEP_ALIVE = 2, FH__H1_CONN_UPGRADE = 4 };
unsigned fh__h1_connection_options(fh_str_t v);

/* The byte classes behind these checks (http1.c); bit 0 marks the token
 * characters. */
extern const uint8_t fh__h1_class[256];

/* Whether c may appear in a token (RFC 9110 5.6.2): one table lookup. */
static inline bool fh__h1_is_tchar(unsigned char c) { return fh__h1_class[c] & 1; }

#endif
