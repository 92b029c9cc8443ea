/**
 * @file
 * fasthttp — JSON with jansson: request bodies, responses, problem details
 * (RFC 9457) and request validation.
 *
 *     static int create_user(fh_request_t *req, fh_response_t *res, void *data) {
 *         json_t *body;
 *         fh_json_error_t jerr;
 *         if (fh_request_json(req, &body, &jerr))
 *             return fh_send_json_error(res, &jerr);      // 400, 413 or 415
 *         fh_json_validator_t v;
 *         fh_json_validate_begin(&v, req, body);
 *         const char *name = fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 100);
 *         json_int_t age = fh_json_field_int(&v, "age", FH_JSON_OPTIONAL, 0, 150, 0);
 *         if (fh_json_validate_end(&v, res)) {             // 422 listing the bad fields
 *             json_decref(body);
 *             return 0;
 *         }
 *         json_t *user = json_pack("{s:s, s:I}", "name", name, "age", age);
 *         json_decref(body);
 *         return fh_send_json_new(res, 201, user);          // steals user
 *     }
 *
 * ---- Where jansson values live -------------------------------------------
 *
 * fasthttp installs jansson's allocator hooks (json_set_alloc_funcs) when
 * the library is loaded, before main. Each allocation jansson makes carries
 * a 16-byte tag saying where it came from:
 *
 * - While a handler runs, and inside an fh_json_arena_begin() scope, every
 *   jansson allocation made *by that thread* (json_object, json_pack,
 *   json_loads, json_deep_copy, the key and bucket storage of containers...)
 *   comes from the request's arena. json_decref on such a value frees
 *   nothing; the memory goes away with the arena, after the response has
 *   been written. Building and serializing JSON per request therefore makes
 *   no malloc call at all.
 * - Everywhere else (main, other threads, the thread pool, loop callbacks
 *   outside a scope, and inside fh_json_heap_begin() scopes) allocations
 *   come from the heap exactly as in plain jansson, and json_decref frees
 *   them.
 *
 * The rules that follow from it:
 *
 * 1. Decref what you own, as with plain jansson. For arena values it costs
 *    next to nothing, and it is what drops the references an arena container
 *    holds on heap values (json_object_set(arena_obj, "k", heap_value)
 *    increments heap_value's count; only json_decref(arena_obj) gives it
 *    back — the arena going away does not).
 * 2. A value allocated in a request's arena must not be used once that
 *    request is over: not kept in a global, a cache, another request or
 *    another thread. To keep one, keep fh_json_persist(value): a deep copy
 *    on the heap.
 * 3. Change long-lived (heap) containers only inside an fh_json_heap_begin()
 *    scope: json_object_set() or json_array_append() on a global store
 *    allocates its hash buckets, key copies and item tables at that moment,
 *    and inside a handler those would land in the arena. Put only heap values
 *    into it (fh_json_persist).
 * 4. Memory jansson hands you (json_dumps) carries the tag too: release it
 *    with fh_json_free(), never free(). In a handler, fh_json_dump() into the
 *    arena is cheaper anyway.
 * 5. Do not call json_set_alloc_funcs() yourself: values allocated with
 *    other functions cannot be told apart and freeing them would abort.
 *
 * Arena values stay valid for the whole life of their request, deferred
 * responses included: a value built in the handler may be serialized from
 * a timer later. They belong to the request's loop thread, like the request.
 *
 * Debugging: with FH_JSON_TRACK=1 in the environment, and in builds made
 * with FH_SANITIZE unless FH_JSON_TRACK=0, arena-scope allocations are
 * separate heap blocks that are freed together when the arena is released,
 * instead of arena bytes. AddressSanitizer or valgrind then report any use
 * of a request's JSON after the request (a missing fh_json_persist) as a
 * use after free. Without tracking, an AddressSanitizer build still reports
 * it, and a Debug build makes the value read as 0xdd bytes: released arena
 * memory is poisoned (arena.h).
 *
 * ---- References: borrow or steal ------------------------------------------
 *
 * Every json_t * that fasthttp takes is *borrowed* (the caller keeps its
 * reference and must still decref it), except in functions whose name ends
 * in _new, which *steal* it (the reference is consumed even when the call
 * fails), following jansson's own json_object_set / json_object_set_new.
 * Every json_t * fasthttp returns is a *new* reference unless its comment
 * says "borrowed".
 *
 * Thread: the functions taking a request or response are called from the
 * request's loop thread, like the rest of the request API.
 */
#ifndef FASTHTTP_JSON_H
#define FASTHTTP_JSON_H

#include <jansson.h>

#include "common.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Allocation scopes ---------------------------------------------------- */

/** The previous scope, restored by fh_json_scope_end. Opaque. */
typedef struct fh_json_scope {
    fh_arena_t *_arena;
    void *_track;
} fh_json_scope_t;

/** From here until the matching fh_json_scope_end, jansson allocations made
 * by this thread come from arena (for a request: fh_request_arena(req)).
 * Use it in loop callbacks outside the handler — timers, fh_offload `done`,
 * deferred responses — to build a request's JSON without malloc. The arena
 * must outlive every value made in the scope (rule 2). Scopes nest: the
 * framework opens one around each handler call. */
FH_API fh_json_scope_t fh_json_arena_begin(fh_arena_t *arena);
/** From here until the matching fh_json_scope_end, jansson allocations made
 * by this thread come from the heap, even inside a handler (rule 3). */
FH_API fh_json_scope_t fh_json_heap_begin(void);
/** Restores the scope that was current before the matching begin call.
 * Scopes must end in reverse order of beginning, on the same thread. */
FH_API void fh_json_scope_end(fh_json_scope_t previous);
/** The arena this thread's jansson allocations come from now; NULL = heap. */
FH_API fh_arena_t *fh_json_current_arena(void);

/** A deep copy of value on the heap, whatever the current scope: a new
 * reference that may outlive the request (store it, share it with other
 * threads under your own locking, json_decref it when done). value is
 * borrowed and may live in an arena or on the heap. NULL when value is NULL
 * or out of memory. */
FH_API json_t *fh_json_persist(const json_t *value);
/** Whether value itself (not its members) was allocated in an arena scope.
 * false for NULL and for the json_true/false/null singletons. For checks and
 * tests: fh_json_in_arena(v) on something you are about to keep is a bug. */
FH_API bool fh_json_in_arena(const json_t *value);
/** Releases memory that jansson allocated and handed to the caller, such as
 * the string returned by json_dumps (rule 4). NULL is a no-op; memory from
 * an arena scope is left to its arena. */
FH_API void fh_json_free(void *ptr);

/* ---- Request bodies -------------------------------------------------------- */

/** Why a body was refused, with the HTTP status that says it. */
typedef struct fh_json_error {
    int status;                        /**< 400 bad JSON or empty body, 413 too large,
                         415 not JSON (Content-Type), 500 out of memory */
    int line;                          /**< jansson's position of a syntax error (1-based); */
    int column;                        /**<   -1 when the error is not about the JSON text */
    size_t position;                   /**< byte offset of the syntax error in the body */
    char text[JSON_ERROR_TEXT_LENGTH]; /**< jansson's message, or ours */
} fh_json_error_t;

/** jansson decoding flags used when fh_json_parse_opts_t.flags is 0: any JSON
 * value at the top level (RFC 8259), duplicate object keys refused. */
#define FH_JSON_DECODE_DEFAULT (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES)

/** Options of fh_request_json_opts. */
typedef struct fh_json_parse_opts {
    /** Largest body accepted, in bytes [413]; 0 = only the server's
     * limits.max_body (which the core already enforced while reading). */
    size_t max_bytes;
    /** jansson decoding flags (JSON_DECODE_INT_AS_REAL, JSON_ALLOW_NUL...);
     * 0 = FH_JSON_DECODE_DEFAULT. */
    size_t flags;
    /** Skip the Content-Type check. */
    bool any_content_type;
    /** The shape of the document, checked in one pass over the body before
     * anything is built [400, naming the limit]: containers nested at most
     * this deep (0 = FH_JSON_MAX_DEPTH)... */
    size_t max_depth;
    /** ...at most this many members in one object or items in one array
     * (0 = FH_JSON_MAX_MEMBERS)... */
    size_t max_members;
    /** ...and at most this many values in all (0 = FH_JSON_MAX_VALUES).
     * A body of a million small values would otherwise take about a
     * gigabyte and seconds of its worker to build and check. */
    size_t max_values;
} fh_json_parse_opts_t;

/** Default nesting depth of a body fh_request_json accepts. */
#define FH_JSON_MAX_DEPTH 64
/** Default members of one object or items of one array it accepts. */
#define FH_JSON_MAX_MEMBERS 10000
/** Default values in all it accepts. */
#define FH_JSON_MAX_VALUES 100000

/** The most violations a 422 from fh_json_validate_end lists: more are
 * counted (its detail says how many) and the document says
 * "truncated": true. */
#define FH_JSON_MAX_ERRORS 100

/** Parses the request body as JSON into *out (a new reference, allocated in
 * the request's arena whatever the current scope: valid until the request
 * is over; keep fh_json_persist(*out) beyond that).
 *
 * Checks, in order: the body size against opts->max_bytes [413], an empty
 * body [400], the Content-Type — application/json or any
 * `application/<something>+json`, parameters such as charset allowed [415] —
 * the shape limits (depth, members, values) [400, err->text names the
 * limit], then the JSON text [400, with jansson's line, column, position
 * and message]. err may be NULL. Returns 0; FH_EINVAL (400, 415), FH_E2BIG (413)
 * or FH_ENOMEM (500), with *out = NULL and err filled in. */
FH_API int fh_request_json(fh_request_t *req, json_t **out, fh_json_error_t *err);
/** The same with options; opts may be NULL (the defaults above). */
FH_API int fh_request_json_opts(fh_request_t *req, json_t **out, fh_json_error_t *err,
                                const fh_json_parse_opts_t *opts);

/* ---- Responses ------------------------------------------------------------- */

/** jansson encoding flags fh_send_json uses: compact, no spaces. */
#define FH_JSON_ENCODE_DEFAULT JSON_COMPACT

/** Serializes value (borrowed) with jansson's encoding flags into arena, as
 * NUL-terminated text: the view's bytes live in the arena. JSON_ENCODE_ANY
 * is always added, so scalars serialize too. jansson's own working memory
 * comes from the arena as well. Returns an absent view (ptr NULL) when
 * value is NULL, holds a reference cycle, or memory runs out. */
FH_API fh_str_t fh_json_dump(fh_arena_t *arena, const json_t *value, size_t flags);

/** Sets the response body to value (borrowed) serialized with flags straight
 * into the request's arena (no copy), and Content-Type: application/json.
 * The response is not final yet (see fh_response_end). Returns 0,
 * FH_EALREADY_SENT, FH_EINVAL (value NULL or not serializable) or
 * FH_ENOMEM. */
FH_API int fh_response_json(fh_response_t *res, const json_t *value, size_t flags);
/** status + value (borrowed: the caller still decrefs it) serialized compact
 * as application/json, and the response is final. Returns as
 * fh_response_json, or FH_EINVAL for a bad status.
 *
 * Inside a handler the request lives on until its bytes are written, so
 * decref'ing an arena value after this call is fine. Ending a *deferred*
 * response (from a timer or callback) may write and release the request at
 * once: there, decref arena values before the call, or use
 * fh_send_json_new, and touch nothing of the request afterwards. */
FH_API int fh_send_json(fh_response_t *res, int status, const json_t *value);
/** fh_send_json that steals value: its reference is dropped in every case,
 * so `return fh_send_json_new(res, 200, json_pack(...));` is leak-free;
 * a NULL value (a failed json_pack) returns FH_ENOMEM and the framework
 * answers 500. */
FH_API int fh_send_json_new(fh_response_t *res, int status, json_t *value);

/* ---- Problem details (RFC 9457) ------------------------------------------ */

/** A problem document: {"type", "title", "status", "detail", "instance",
 * "request_id"} followed by the members of extra.
 *   type      "about:blank" (set another through extra)
 *   title     title, or the status's reason phrase when title is NULL
 *   status    status
 *   detail    only when detail is not NULL
 *   instance  the request path (as sent, without the query)
 *   request_id  only when the request-id middleware recorded one (see
 *             fh_problem_set_request_id_key)
 * extra (borrowed, may be NULL) must be an object; its members are added
 * after these and replace a standard member of the same name. Returns a new
 * reference allocated in the request's arena, or NULL when out of memory. */
FH_API json_t *fh_json_problem(fh_request_t *req, int status, const char *title, const char *detail,
                               const json_t *extra);
/** Sends fh_json_problem(...) as application/problem+json with that status;
 * the response is final. Every error fasthttp's JSON helpers produce goes
 * through here, and routers or middleware answering JSON routes should too.
 * extra is borrowed. Returns 0, FH_EALREADY_SENT, FH_EINVAL (status) or
 * FH_ENOMEM. */
FH_API int fh_send_problem(fh_response_t *res, int status, const char *title, const char *detail,
                           const json_t *extra);
/** Sends the problem that describes a refused body (fh_request_json): its
 * status, err->text as detail, and "line", "column" and "position" members
 * for syntax errors; 415 also gets "Accept: application/json". Returns as
 * fh_send_problem, so `return fh_send_json_error(res, &err);` answers. */
FH_API int fh_send_json_error(fh_response_t *res, const fh_json_error_t *err);
/** A handler that answers with the problem document of the status already
 * set on res: application/problem+json with "type" "about:blank", the
 * status's reason phrase as "title" and the status as "status", plus
 * "instance" (the path, when the request has one) and "request_id" as
 * fh_json_problem adds them. The headers
 * already on res stay (Allow on a 405, a request id...); the body and
 * Content-Type are replaced. data is ignored. Returns 0 when res was final
 * already, else as fh_send_problem. It fits wherever an error's status is
 * decided before the handler runs:
 *   - the server's error handler (cfg.error_handler, server.h), alone or as
 *     the final handler of an error chain, so the core's own refusals
 *     (400, 408, 413, 431, 505...) are problem documents;
 *   - the router's not_found and method_not_allowed handlers, router-wide
 *     (fh_router_config_t) or for one mount (fh_mount_options_t): the
 *     router sets 404, or 405 and Allow, before calling them. */
FH_API int fh_json_error_handler(fh_request_t *req, fh_response_t *res, void *data);
/** The fh_request_set key under which the request-id middleware stores the
 * request's id as a NUL-terminated string (arena or static memory). When
 * set, problem documents carry it as "request_id". Without a key, or when
 * the request has no such slot, a response header X-Request-Id already set
 * on the response is used instead. Call once before the server starts (it
 * is a plain global, read by every worker); NULL switches it off. */
FH_API void fh_problem_set_request_id_key(const void *key);

/* ---- Validation ------------------------------------------------------------ */

/** Field flags. */
enum {
    FH_JSON_OPTIONAL = 0,      /**< absent is fine: the default is returned */
    FH_JSON_REQUIRED = 1 << 0, /**< absent is a violation ("is required") */
    FH_JSON_NULLABLE = 1 << 1, /**< null is accepted, treated as absent */
};

/** Collects every violation of one JSON body into a list, so that one 422
 * problem names all the bad fields at once. Lives on the handler's stack
 * (do not copy one: children point to their root); everything it allocates
 * is in the request's arena and needs no cleanup, even when
 * fh_json_validate_end is never reached. The fields are private. */
typedef struct fh_json_validator {
    fh_request_t *_req;
    const json_t *_object;           /**< the object checked; NULL if it is not one */
    struct fh_json_validator *_root; /**< where violations are collected */
    const char *_pointer;            /**< JSON Pointer of _object ("" for the body) */
    json_t *_errors;                 /**< [{"pointer","field","detail"}], in the arena */
    size_t _count;
    const char **_seen; /**< member names looked at (fh_json_no_other_fields) */
    size_t _nseen, _capseen;
    bool _oom;
} fh_json_validator_t;

/** Starts checking value (borrowed; typically the body from fh_request_json,
 * which must stay alive until fh_json_validate_end). A value that is not an
 * object is itself one violation, and the field calls then return their
 * defaults without adding more. */
FH_API void fh_json_validate_begin(fh_json_validator_t *v, fh_request_t *req, const json_t *value);

/* Each fh_json_field_* call looks up member name (a string that stays valid
 * until fh_json_validate_end: a literal), checks it and returns its value,
 * or records a violation and returns the default (NULL, def). An absent
 * member gives the default, and with FH_JSON_REQUIRED the violation "is
 * required". A null member is a type violation ("must be a string"...)
 * unless FH_JSON_NULLABLE, which takes it as present and gives the default. */

/** A string of min_len..max_len Unicode code points (max_len 0: no upper
 * bound). Returns the value's bytes (borrowed from the JSON value, valid as
 * long as it; NUL-terminated) or NULL. */
FH_API const char *fh_json_field_string(fh_json_validator_t *v, const char *name, unsigned flags,
                                        size_t min_len, size_t max_len);
/** An integer (a JSON number without fraction or exponent) in min..max. */
FH_API json_int_t fh_json_field_int(fh_json_validator_t *v, const char *name, unsigned flags,
                                    json_int_t min, json_int_t max, json_int_t def);
/** Any JSON number in min..max. */
FH_API double fh_json_field_number(fh_json_validator_t *v, const char *name, unsigned flags,
                                   double min, double max, double def);
/** true or false. */
FH_API bool fh_json_field_bool(fh_json_validator_t *v, const char *name, unsigned flags, bool def);
/** A string equal to one of choices (a NULL-terminated array). Returns its
 * index in choices, or def. */
FH_API int fh_json_field_enum(fh_json_validator_t *v, const char *name, unsigned flags,
                              const char *const *choices, int def);
/** An array of min_items..max_items items (max_items 0: no upper bound).
 * Returns it (borrowed) or NULL. Check its items with fh_json_validate_item. */
FH_API const json_t *fh_json_field_array(fh_json_validator_t *v, const char *name, unsigned flags,
                                         size_t min_items, size_t max_items);
/** A nested object: on success starts child on it — its violations join v's
 * list with pointers like "#/address/city" — and returns true. child needs
 * no end call. */
FH_API bool fh_json_field_object(fh_json_validator_t *v, fh_json_validator_t *child,
                                 const char *name, unsigned flags);
/** Item index of array member name must be an object: on success starts
 * child on it ("#/items/3/...") and returns true. */
FH_API bool fh_json_validate_item(fh_json_validator_t *v, fh_json_validator_t *child,
                                  const char *name, size_t index);
/** Records a violation of member name (NULL: the object itself) with a
 * printf-formatted detail, for rules of your own ("must differ from
 * \"old_password\""). */
FH_API void fh_json_invalid(fh_json_validator_t *v, const char *name, const char *fmt, ...)
    FH_PRINTF(3, 4);
/** Every member of v's object that no fh_json_field_* call named so far
 * becomes a violation "is not allowed" (call it after the field calls). */
FH_API void fh_json_no_other_fields(fh_json_validator_t *v);

/** Number of violations so far (of the whole body). */
FH_API size_t fh_json_validate_count(const fh_json_validator_t *v);
/** The violations so far (borrowed, in the arena; NULL while there are
 * none): [{"pointer": "#/age", "field": "age", "detail": "must be at most
 * 150"}, ...]. */
FH_API const json_t *fh_json_validate_errors(const fh_json_validator_t *v);
/** Ends the check (call it on the validator given to begin, not on a child).
 * No violation: returns false and leaves res alone. Otherwise sends a 422
 * problem (title "Unprocessable Content", "errors": the list, at most
 * FH_JSON_MAX_ERRORS of them) and returns true; the response is then final in every case (should memory run out, a
 * bare 422 or the core's static 500 goes instead), so the handler just
 * returns 0. */
FH_API bool fh_json_validate_end(fh_json_validator_t *v, fh_response_t *res);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_JSON_H */
