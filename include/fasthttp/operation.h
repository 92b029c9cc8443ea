/**
 * @file
 * fasthttp — operations: what a route takes and answers, declared next to
 * it in the route table, checked before its handler runs and published in
 * the OpenAPI document (openapi.h).
 *
 *     static const fh_param_t list_params[] = {
 *         { "page", FH_IN_QUERY, FH_INTEGER(FH_MIN(1), .default_json = "1") },
 *         { "per_page", FH_IN_QUERY, FH_INTEGER(FH_RANGE(1, 100), .default_json = "10") },
 *         FH_PARAMS_END,
 *     };
 *     static const fh_operation_t list_users_op = {
 *         .summary = "List users", .tags = FH_TAGS("users"), .operation_id = "listUsers",
 *         .params = list_params,
 *         .responses = FH_RESPONSES({ 200, "One page of users", &user_page }),
 *     };
 *     static int list_users(fh_request_t *req, fh_response_t *res, void *data) {
 *         int64_t page = fh_param_int(req, "page");          // checked, 1 when absent
 *         ...
 *     }
 *     const fh_route_t routes[] = {
 *         FH_GET_OP("/users", list_users, &list_users_op),
 *         FH_POST_OP("/users", create_user, &create_user_op),
 *         FH_ROUTES_END,
 *     };
 *
 * Before the handler. For a route with an operation, the router (after the
 * route's and mount's middleware, so authentication answers first) reads
 * every declared parameter — path (":id"), query, header — and converts it
 * to its schema's type: integer (decimal digits with an optional '-', no
 * '+', no leading zeros beyond "0", within int64), number (a JSON number),
 * boolean ("true" or "false"), string (valid UTF-8, no NUL). Then the
 * schema's ranges, lengths, pattern, format and enum apply. An absent
 * parameter is a violation when required (path parameters always are),
 * else it reads as its schema's default, or as absent. Every bad parameter
 * is listed in one 400 problem document:
 *
 *     {"type":"about:blank","title":"Bad Request","status":400,
 *      "detail":"2 invalid parameters","instance":"/api/users",
 *      "errors":[{"parameter":"page","in":"query","detail":"must be an integer"},
 *                {"parameter":"per_page","in":"query","detail":"must be at most 100"}]}
 *
 * Parameters the operation does not declare are ignored (query fields,
 * headers) or read as strings (path parameters).
 *
 * Then the body, when the operation declares one: fh_request_json_opts
 * (json.h) with body->max_bytes — 400 for JSON that does not parse or a
 * missing required body, 413 past max_bytes, 415 for another Content-Type
 * — then the schema: one 422 problem document listing each bad field with
 * its JSON Pointer, "#/tags/1" for an item:
 *
 *     {"type":"about:blank","title":"Unprocessable Content","status":422,
 *      "detail":"2 validation errors","instance":"/api/users",
 *      "errors":[{"pointer":"#/name","field":"name","detail":"must not be empty"},
 *                {"pointer":"#/tags/1","field":"tags","detail":"must be a string"}]}
 *
 * The list holds at most FH_SCHEMA_MAX_ERRORS (100) entries; past that,
 * work stops, the detail reads "more than 100 validation errors; the first
 * 100 are listed" and the document carries "truncated": true. Work is
 * bounded by the body's size, which max_bytes (else the server's
 * limits.max_body) bounds.
 *
 * In the handler. The values are read with one call each, already
 * converted and checked (fh_param_int and the rest below, fh_body_json and
 * fh_body_* for the body). A route without an operation runs exactly as
 * before: nothing is read or checked, and these calls return their
 * defaults.
 *
 * Response check mode (fh_router_config_t.check_responses, or
 * FH_CHECK_RESPONSES=1 in the environment when the router is made): meant
 * for tests and development. Every response of an operation's handler is
 * compared, just before it is sent, with the declared response for its
 * status: an undeclared status, another Content-Type, or a JSON body that
 * does not match the declared schema is logged on stderr with the route
 * ("fasthttp: response check: GET /api/users/{id} answered 200: #/age: must
 * be an integer") and answered 500 with a problem document saying so,
 * instead of the drifting response. Off (the default), responses are never
 * looked at. Responses the router sends itself (400, 413, 415, 422 above)
 * are not checked.
 *
 * Lifetime: an operation and everything it points to is borrowed by the
 * router (static data, or memory freed after the router); the router
 * compiles its schemas when the route is added and reports contradictions
 * then (fh_router_error names the route). Every view the fh_param_* and
 * fh_body_* calls return lives as long as the request.
 */
#ifndef FASTHTTP_OPERATION_H
#define FASTHTTP_OPERATION_H

#include <jansson.h>

#include "common.h"
#include "request.h"
#include "schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where a parameter is read from. */
typedef enum fh_param_in {
    FH_IN_QUERY = 0, /**< the query string, percent-decoded, first field of the name */
    FH_IN_PATH,      /**< a ":name" of the route's pattern (always required) */
    FH_IN_HEADER,    /**< a header field (case-insensitive), first of the name */
} fh_param_in_t;

/** A declared parameter. Lists end with FH_PARAMS_END (name NULL). */
typedef struct fh_param {
    const char *name;          /**< NULL ends the list */
    fh_param_in_t in;          /**< where it comes from */
    const fh_schema_t *schema; /**< FH_TYPE_INTEGER, NUMBER, BOOLEAN or STRING; NULL = string */
    bool required;             /**< absent is a violation (path parameters always are) */
    const char *description;   /**< documentation */
} fh_param_t;

/** The entry that ends a parameter list. */
#define FH_PARAMS_END                                                                              \
    { NULL, FH_IN_QUERY, NULL, false, NULL }

/** The request body an operation takes: JSON checked against schema. */
typedef struct fh_body_spec {
    const fh_schema_t *schema; /**< required */
    bool optional;             /**< an empty body is accepted (no body to read) */
    size_t max_bytes;          /**< 413 past it; 0 = the server's limits.max_body */
    const char *description;   /**< documentation */
} fh_body_spec_t;

/** One documented response. Lists end with status 0 (FH_RESPONSES adds
 * it). */
typedef struct fh_response_spec {
    int status;              /**< 100..599, or FH_STATUS_DEFAULT; 0 ends the list */
    const char *description; /**< what it means; NULL: the status's reason phrase */
    /** The JSON body's schema; NULL: see content_type. */
    const fh_schema_t *schema;
    /** The media type: NULL means application/json when schema is set,
     * else no body (204, 304, a redirect). A media range (a type, a slash
     * and a star) takes any subtype. FH_PROBLEM here means an RFC
     * 9457 problem document (application/problem+json, published as a
     * reference to the shared Problem schema). */
    const char *content_type;
} fh_response_spec_t;

/** The status of a catch-all response ("default" in OpenAPI). */
#define FH_STATUS_DEFAULT (-1)
/** content_type of a problem document response. */
#define FH_PROBLEM "application/problem+json"
/** A response list literal, ended for you. */
#define FH_RESPONSES(...) ((const fh_response_spec_t[]){ __VA_ARGS__, { 0, NULL, NULL, NULL } })
/** A NULL-terminated list of tags or security scheme names. */
#define FH_TAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/** What a route declares. Every field may be left out (zero). */
typedef struct fh_operation {
    const char *summary;        /**< one line */
    const char *description;    /**< CommonMark */
    const char *const *tags;    /**< NULL-terminated (FH_TAGS) */
    const char *operation_id;   /**< unique in the router; made up from method and path when NULL */
    bool deprecated;            /**< published as deprecated */
    const fh_param_t *params;   /**< FH_PARAMS_END-ended */
    const fh_body_spec_t *body; /**< NULL: no body is read or checked */
    const fh_response_spec_t *responses; /**< status-0-ended (FH_RESPONSES) */
    /** Security scheme names (openapi.h's schemes, or "basicAuth" and
     * "bearerAuth", which the built-in auth middleware around the route
     * add by themselves), NULL-terminated: published as alternatives.
     * Documentation only: the middleware does the checking. */
    const char *const *security;
} fh_operation_t;

/* ---- Reading declared values in the handler ------------------------------
 *
 * name is a declared parameter's name. Each call returns the value as
 * checked before the handler ran; when the parameter was absent (and
 * optional), its schema's default, else the def argument; for a route
 * without an operation, or a name it does not declare, def. */

/** Whether the parameter was sent (a default does not count). */
FH_API bool fh_param_present(const fh_request_t *req, const char *name);
/** An integer parameter. */
FH_API int64_t fh_param_int(const fh_request_t *req, const char *name, int64_t def);
/** A number (or integer) parameter. */
FH_API double fh_param_number(const fh_request_t *req, const char *name, double def);
/** A boolean parameter. */
FH_API bool fh_param_bool(const fh_request_t *req, const char *name, bool def);
/** A string parameter (any declared type reads as the text sent, or the
 * default's text), decoded, in the arena or the read buffer; absent (ptr
 * NULL) when absent without a default. */
FH_API fh_str_t fh_param_str(const fh_request_t *req, const char *name);
/** A string parameter with enum_values: the index of its value in the
 * list, or def. */
FH_API int fh_param_enum(const fh_request_t *req, const char *name, int def);

/** The checked request body (borrowed, in the request's arena; valid for
 * the request's life), or NULL when the operation declares none or an
 * optional body was not sent. */
FH_API const json_t *fh_body_json(const fh_request_t *req);
/** A member of the checked body object (borrowed), or NULL when absent. */
FH_API const json_t *fh_body_get(const fh_request_t *req, const char *name);
/** A string member (NUL-terminated, borrowed), or NULL when absent or null. */
FH_API const char *fh_body_str(const fh_request_t *req, const char *name);
/** An integer member, or def when absent or null. */
FH_API int64_t fh_body_int(const fh_request_t *req, const char *name, int64_t def);
/** A number member, or def when absent or null. */
FH_API double fh_body_number(const fh_request_t *req, const char *name, double def);
/** A boolean member, or def when absent or null. */
FH_API bool fh_body_bool(const fh_request_t *req, const char *name, bool def);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_OPERATION_H */
