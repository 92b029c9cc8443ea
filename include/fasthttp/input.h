/**
 * @file
 * fasthttp — typed input: path and query parameters read as integers,
 * booleans and decimals with a range, in one call that answers the 400
 * itself, and application/x-www-form-urlencoded bodies parsed into
 * name/value views.
 *
 *     static int list_orders(fh_request_t *req, fh_response_t *res, void *data) {
 *         uint64_t user;
 *         int64_t limit = 20;   // kept when ?limit is absent
 *         bool paid = false;
 *         if (fh_path_u64(req, res, "user", 1, UINT64_MAX, &user) ||
 *             fh_query_i64_opt(req, res, "limit", 1, 100, &limit) ||
 *             fh_query_bool_opt(req, res, "paid", &paid))
 *             return 0;         // a 400 problem document has been sent
 *         ...
 *     }
 *
 * Syntax. The text of the parameter (after percent-decoding, '+' as a space
 * in the query) must be exactly:
 *   - signed integer: an optional '-', then decimal digits without leading
 *     zeros ("0" itself is fine), within int64_t;
 *   - unsigned integer: decimal digits without leading zeros, within
 *     uint64_t (a '-' is malformed, "-0" too);
 *   - boolean: "true", "false", "1" or "0";
 *   - decimal: a JSON number (an optional '-', digits without leading
 *     zeros, an optional fraction, an optional exponent), finite as a
 *     double; read with the C locale's decimal point whatever the
 *     program's locale.
 * No '+', no spaces around it, no hex, no empty value: "?limit=" and
 * "?limit" are malformed, not absent.
 *
 * Errors. Each fh_path_* / fh_query_* call returns 0 and writes *out, or
 * answers the request itself and returns FH_EINVAL (FH_ENOMEM if even the
 * answer could not be built): a 400 problem document (json.h,
 * fh_send_problem) such as
 *
 *     {"type":"about:blank","title":"Bad Request","status":400,
 *      "detail":"query parameter \"limit\" must be at most 100",
 *      "instance":"/orders","parameter":"limit","in":"query",
 *      "reason":"out_of_range"}
 *
 * where "reason" is "absent" (a required parameter not sent), "malformed"
 * (not of the type, or a malformed percent-escape such as "%zz" or an
 * encoded NUL) or "out_of_range". The handler then returns 0 (the response
 * is final). On an error *out is unchanged. The _opt forms leave *out as it
 * is when the parameter is absent, so initialise it with the default.
 *
 * Query fields. The first field of the name counts. A field whose name
 * holds a malformed escape never matches. The query string is read as it
 * is each time (a few hundred nanoseconds for a typical one); nothing is
 * allocated unless the value holds escapes (then a copy in the arena).
 *
 * Forms. fh_form_parse splits a body into fields; each name and value is
 * percent-decoded ('+' as a space) into the arena, or points into the body
 * when it needs no decoding: valid as long as the arena and the body.
 */
#ifndef FASTHTTP_INPUT_H
#define FASTHTTP_INPUT_H

#include "arena.h"
#include "common.h"
#include "request.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Why a text is not a value (fh_input_parse_*). */
typedef enum fh_input_status {
    FH_INPUT_OK = 0,       /**< the value was written */
    FH_INPUT_ABSENT,       /**< no text (an absent view) */
    FH_INPUT_MALFORMED,    /**< not of the type (or a malformed escape) */
    FH_INPUT_OUT_OF_RANGE, /**< of the type, outside [min, max] */
} fh_input_status_t;

/** @{ */
/** Parses a whole text (already decoded) as the type, within [min, max]
 * (inclusive). Writes *out only for FH_INPUT_OK. An absent view (ptr NULL)
 * is FH_INPUT_ABSENT; anything else not of the syntax above, the empty
 * text included, is FH_INPUT_MALFORMED; a value of the syntax beyond the
 * type's own range (INT64_MAX + 1, "1e999") is FH_INPUT_OUT_OF_RANGE. Pure
 * functions: they read text only, allocate nothing, any thread. */
FH_API fh_input_status_t fh_input_parse_i64(fh_str_t text, int64_t min, int64_t max, int64_t *out);
FH_API fh_input_status_t fh_input_parse_u64(fh_str_t text, uint64_t min, uint64_t max,
                                            uint64_t *out);
FH_API fh_input_status_t fh_input_parse_bool(fh_str_t text, bool *out);
FH_API fh_input_status_t fh_input_parse_decimal(fh_str_t text, double min, double max, double *out);
/** @} */

/** The first query field called name, percent-decoded ('+' as a space):
 * FH_INPUT_OK with *out a view (into the request's bytes, or a copy in its
 * arena when it held escapes; valid as long as the request),
 * FH_INPUT_ABSENT when there is no such field, FH_INPUT_MALFORMED when its
 * value holds a malformed escape or an encoded NUL. Unlike
 * fh_request_query, which reads such a value as absent. FH_INPUT_MALFORMED
 * too when out of memory (the copy), *out then absent. */
FH_API fh_input_status_t fh_request_query_raw(fh_request_t *req, const char *name, fh_str_t *out);

/** @{ */
/** A route parameter (":name", always required) as the type within
 * [min, max]; 0, or a 400 problem sent and FH_EINVAL (see the top). */
FH_API int fh_path_i64(fh_request_t *req, fh_response_t *res, const char *name, int64_t min,
                       int64_t max, int64_t *out);
FH_API int fh_path_u64(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min,
                       uint64_t max, uint64_t *out);
FH_API int fh_path_bool(fh_request_t *req, fh_response_t *res, const char *name, bool *out);
FH_API int fh_path_decimal(fh_request_t *req, fh_response_t *res, const char *name, double min,
                           double max, double *out);
/** @} */
/** @{ */
/** A required query parameter as the type within [min, max]; 0, or a 400
 * problem sent and FH_EINVAL (absent, malformed or out of range). */
FH_API int fh_query_i64(fh_request_t *req, fh_response_t *res, const char *name, int64_t min,
                        int64_t max, int64_t *out);
FH_API int fh_query_u64(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min,
                        uint64_t max, uint64_t *out);
FH_API int fh_query_bool(fh_request_t *req, fh_response_t *res, const char *name, bool *out);
FH_API int fh_query_decimal(fh_request_t *req, fh_response_t *res, const char *name, double min,
                            double max, double *out);
/** @} */
/** @{ */
/** An optional query parameter: as the required forms, except that an
 * absent one returns 0 and leaves *out (the default) unchanged. Sent but
 * empty ("?limit=") is malformed, not absent. */
FH_API int fh_query_i64_opt(fh_request_t *req, fh_response_t *res, const char *name, int64_t min,
                            int64_t max, int64_t *out);
FH_API int fh_query_u64_opt(fh_request_t *req, fh_response_t *res, const char *name, uint64_t min,
                            uint64_t max, uint64_t *out);
FH_API int fh_query_bool_opt(fh_request_t *req, fh_response_t *res, const char *name, bool *out);
FH_API int fh_query_decimal_opt(fh_request_t *req, fh_response_t *res, const char *name, double min,
                                double max, double *out);
/** @} */

/* ---- application/x-www-form-urlencoded ----------------------------------- */

/** One field of a form: name and value, decoded. */
typedef struct fh_form_field {
    fh_str_t name;  /**< decoded; may be empty ("=x") */
    fh_str_t value; /**< decoded; empty for "name" and "name=" */
} fh_form_field_t;

/** A parsed form: count fields in the order sent (repeated names repeat). */
typedef struct fh_form {
    const fh_form_field_t *fields; /**< in the arena; NULL when count is 0 */
    size_t count;                  /**< the number of fields */
} fh_form_t;

/** The default of fh_form_parse's max_fields. */
#define FH_FORM_MAX_FIELDS 1000

/** Why fh_form_parse refused a body. */
typedef struct fh_form_error {
    size_t offset;   /**< byte offset in the body of the bad field */
    const char *why; /**< static text: "malformed percent-escape"... */
} fh_form_error_t;

/** Parses body as application/x-www-form-urlencoded (fields separated by
 * '&', name and value by the first '='; empty fields between "&&" are
 * skipped) into out, the fields array and decoded copies in arena. At most
 * max_fields fields (0: FH_FORM_MAX_FIELDS). Returns 0; FH_EINVAL for a
 * malformed percent-escape or an encoded NUL in a name or value; FH_E2BIG
 * for more than max_fields fields; FH_ENOMEM. On an error out is empty and
 * err (may be NULL) says where and why. Work and memory are linear in the
 * body's length. Any thread, given an arena that thread owns. */
FH_API int fh_form_parse(fh_arena_t *arena, fh_str_t body, size_t max_fields, fh_form_t *out,
                         fh_form_error_t *err);

/** The value of the first field called name; absent if there is none. */
FH_API fh_str_t fh_form_get(const fh_form_t *form, const char *name);

/** The request's body as a form, in its arena, when the request's
 * Content-Type is application/x-www-form-urlencoded (parameters such as
 * "; charset=utf-8" allowed). Returns 0 with *out filled; otherwise
 * answers itself and returns FH_EINVAL: 415 (problem document, with
 * "Accept: application/x-www-form-urlencoded") for another or no
 * Content-Type, 400 naming the bad field's offset and why, 413 for more than
 * max_fields fields (0: FH_FORM_MAX_FIELDS); FH_ENOMEM. */
FH_API int fh_request_form(fh_request_t *req, fh_response_t *res, size_t max_fields,
                           fh_form_t *out);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_INPUT_H */
