/* fasthttp — HTTP authentication middleware: Basic (RFC 7617) and Bearer
 * tokens (RFC 6750).
 *
 * The before hook reads the Authorization header. Valid credentials let the
 * request go on, with the user name available to handlers and the access
 * log through fh_auth_user(req). Otherwise the request is answered here:
 *
 *   Basic, missing or wrong credentials:
 *     401, WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"
 *   Bearer, no token:
 *     401, WWW-Authenticate: Bearer realm="<realm>"
 *   Bearer, a token that does not validate:
 *     401, WWW-Authenticate: Bearer realm="<realm>", error="invalid_token"
 *   Bearer, a malformed Authorization header:
 *     400, WWW-Authenticate: Bearer realm="<realm>", error="invalid_request"
 *
 * The body is a short text ("Unauthorized"), or, with the problem option,
 * an RFC 9457 problem document (application/problem+json) whose detail
 * says what was wrong ("a bearer token is required", "the token is not
 * valid"...) and which carries the request id when the request-id
 * middleware runs: what the clients of a JSON API expect. WWW-Authenticate
 * is the same either way. To answer problem documents on some routes only
 * (a JSON API beside HTML pages), make one middleware of each kind and give
 * the JSON routes theirs, per route (FH_ROUTE_MW) or per mount
 * (fh_mount_options_t.middleware).
 *
 * Credentials come from a static list, compared in constant time (every
 * entry is compared in full, so timing tells nothing about which part
 * matched), or from a validation callback, which should compare secrets
 * with fh_auth_equal. Put CORS before auth so preflights get through.
 */
#ifndef FASTHTTP_MW_AUTH_H
#define FASTHTTP_MW_AUTH_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Returns true to accept user and password (decoded, not NUL-terminated,
 * valid during the call only). Runs on the request's thread; it may call
 * fh_auth_set_user to record another name than user. */
typedef bool (*fh_basic_auth_fn)(fh_request_t *req, fh_str_t user, fh_str_t password, void *data);

/** One accepted Basic credential (user name and password). */
typedef struct fh_basic_user {
    const char *user;     /**< user name; NULL ends a list; no ':' */
    const char *password; /**< its password */
} fh_basic_user_t;

/** Options of fh_basic_auth_new. */
typedef struct fh_basic_auth_options {
    /** The protection space shown by browsers: "Restricted" when NULL. No
     * '"', '\\' or control characters. */
    const char *realm;
    /** Accepted credentials, ended by an entry whose user is NULL. Users may
     * not contain ':'. Copied. */
    const fh_basic_user_t *users;
    /** Or a callback (at least one of users and validate; with both, a
     * listed user is accepted first, then validate is asked). */
    fh_basic_auth_fn validate;
    void *validate_data; /**< passed to validate */
    /** Refusals as problem documents (application/problem+json) instead of
     * text; see above. */
    bool problem;
} fh_basic_auth_options_t;

/** Returns true to accept token (not NUL-terminated, valid during the call).
 * It may call fh_auth_set_user to name the token's owner for the log. */
typedef bool (*fh_bearer_auth_fn)(fh_request_t *req, fh_str_t token, void *data);

/** Options of fh_bearer_auth_new. */
typedef struct fh_bearer_auth_options {
    /** "api" when NULL. Same characters as the Basic realm. */
    const char *realm;
    /** Accepted tokens (token68 syntax), NULL-terminated; copied. */
    const char *const *tokens;
    /** Or a callback (at least one; with both, the list is tried first). */
    fh_bearer_auth_fn validate;
    void *validate_data; /**< passed to validate */
    /** Refusals as problem documents (application/problem+json) instead of
     * text; see above. */
    bool problem;
} fh_bearer_auth_options_t;

/** Fill *out. FH_ECONFIG names a bad field. Free with
 * fh_middleware_release. */
FH_API int fh_basic_auth_new(fh_middleware_t *out, const fh_basic_auth_options_t *opt);
FH_API int fh_bearer_auth_new(fh_middleware_t *out, const fh_bearer_auth_options_t *opt);

/** The authenticated user of the request (arena copy), or absent: the
 * Basic user name, or what a validation callback recorded. */
FH_API fh_str_t fh_auth_user(const fh_request_t *req);
/** Records user (copied into the arena) as the request's user. */
FH_API int fh_auth_set_user(fh_request_t *req, fh_str_t user);

/** Compares two byte strings in time that depends only on their lengths,
 * not on where they differ. true when equal. */
FH_API bool fh_auth_equal(fh_str_t a, fh_str_t b);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_AUTH_H */
