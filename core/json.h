/* Internal JSON details shared by core/json*.c and the tests. */
#ifndef FH_CORE_JSON_H
#define FH_CORE_JSON_H

#include "core/request.h"
#include "core/str.h" /* fh__utf8_seq */

/* Tracking mode: arena-scope jansson allocations become heap blocks freed
 * when their arena is released (see "Debugging" in fasthttp/json.h). It is
 * chosen at load time (FH_JSON_TRACK, FH__SANITIZED); tests switch it. Any
 * mix of modes is safe: each block's tag says how it was made. */
void fh__json_set_tracking(bool on);
bool fh__json_tracking(void);

/* A JSON string of the n bytes at s, with invalid UTF-8 replaced by U+FFFD
 * (jansson refuses invalid UTF-8; error texts and request paths may hold
 * it). Allocated in the current scope; NULL when out of memory. */
json_t *fh__json_text(const char *s, size_t n);

/* Serializes doc (stolen: dropped before the response ends, since ending a
 * deferred response may write and release the request, arena included, at
 * once) as the body with the given content type and status, and ends the
 * response. */
int fh__json_send_doc(fh_response_t *res, int status, json_t *doc, fh_str_t content_type);

extern const fh_str_t fh__json_problem_type;

/* Sets obj[key] to value (stolen); a NULL value or a failure clears *ok. */
static inline void fh__json_put(json_t *obj, const char *key, json_t *value, bool *ok) {
    if (!value || json_object_set_new(obj, key, value) != 0)
        *ok = false;
}

/* The shape limits of a body (json_limits.c), every field set. */
typedef struct fh__json_limits {
    size_t max_depth, max_members, max_values;
} fh__json_limits_t;
/* Checks body against lim in one pass (working memory from arena):
 * 0, FH_EINVAL with why naming the limit, or FH_ENOMEM. */
int fh__json_limits(fh_arena_t *arena, fh_str_t body, const fh__json_limits_t *lim, char *why,
                    size_t whylen);

/* Serializes value into a new NUL-terminated arena buffer exactly as
 * json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY) would (json_dump.c).
 * Returns 0, FH_ENOMEM, or FH__DUMP_UNSUPPORTED when jansson must do it
 * instead (invalid UTF-8, very deep nesting or a cycle). */
#define FH__DUMP_UNSUPPORTED 1
int fh__json_dump_compact(fh_arena_t *arena, const json_t *value, fh_str_t *out);

#endif
