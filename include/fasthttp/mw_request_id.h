/* fasthttp — request id middleware.
 *
 * Gives every request an id that handlers, the access log and the error
 * recovery middleware can read with fh_request_id(req), and that goes back
 * to the client in a response header.
 *
 * The client's X-Request-ID is kept when it is valid: 1 to max_length bytes
 * of letters, digits and "-_.:+/=@". Otherwise (absent, too long, other
 * characters) a new id is generated: a random 64-bit prefix drawn once per
 * worker thread and a per-thread counter, as 16 + 1 + 12 hex digits
 * ("9f86d081884c7d65-00000000002a"). Ids are unique across threads without
 * any lock or shared counter.
 *
 *     fh_middleware_t rid;
 *     fh_request_id_new(&rid, NULL);           // defaults
 *     fh_chain_use(chain, &rid);
 *     ...
 *     fh_str_t id = fh_request_id(req);        // in a handler
 *
 * Its position relative to the access log does not matter: the log reads
 * the id when the request is done. The response header is added by the after hook, so it is present on
 * every response this chain produces, error responses included.
 */
#ifndef FASTHTTP_MW_REQUEST_ID_H
#define FASTHTTP_MW_REQUEST_ID_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of fh_request_id_new; NULL for the defaults. */
typedef struct fh_request_id_options {
    /** Request and response header name: "X-Request-ID" when NULL. Must be
     * a token. */
    const char *header;
    /** Longest client id accepted: 0 = 128; at most 1024. */
    size_t max_length;
    /** Always generate, ignoring the client's header (default false: a valid
     * client id is kept, useful behind a proxy that sets one). */
    bool ignore_incoming;
    /** Do not echo the id in a response header (default false: echo). */
    bool no_response_header;
} fh_request_id_options_t;

/** Fills *out, and makes problem documents (fh_send_problem, json.h) carry
 * the id as "request_id" (fh_problem_set_request_id_key). opt may be NULL
 * for the defaults. FH_ECONFIG names a bad field (fh_middleware_error).
 * Free with fh_middleware_release. */
FH_API int fh_request_id_new(fh_middleware_t *out, const fh_request_id_options_t *opt);

/** The request's id (in its arena, valid as long as the request), or an
 * absent view when no request id middleware has run for it. */
FH_API fh_str_t fh_request_id(const fh_request_t *req);
/** The fh_request_set key under which the id is stored, as a NUL-terminated
 * string in the request's arena, for code that reads slots directly. */
FH_API const void *fh_request_id_key(void);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_REQUEST_ID_H */
