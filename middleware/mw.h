/* Internal helpers shared by the built-in middleware: config error messages,
 * header lists, Vary, JSON escaping and per-loop state. */
#ifndef FH_MIDDLEWARE_MW_H
#define FH_MIDDLEWARE_MW_H

#include <fasthttp.h>
#include <stdatomic.h>

#include "core/builtin.h"

/* Records "fasthttp: <printf>" as this thread's fh_middleware_error() and
 * returns err (FH_ECONFIG or FH_EINVAL). */
int fh__mw_fail(int err, const char *fmt, ...) FH_PRINTF(2, 3);
/* Clears this thread's message (a constructor that succeeded). */
void fh__mw_ok(void);

/* true when every byte of s is an RFC 9110 token character. */
bool fh__mw_is_token(fh_str_t s);
/* true when s may be a header value: no CR, LF, NUL or other control
 * characters except tab. */
bool fh__mw_is_field_value(const char *s);

/* Joins a NULL-terminated list of tokens with ", " into a malloc'ed string
 * ("" for an empty list). Each entry must be a token, else FH_ECONFIG naming
 * "<field>[i]". *out is NULL when list is NULL. */
int fh__mw_join_tokens(char **out, const char *const *list, const char *field);

/* true when the comma-separated header value list holds token
 * (case-insensitive). */
bool fh__mw_list_has(fh_str_t list, fh_str_t token);
/* Adds token to the response's Vary header unless it is already listed (or
 * Vary is "*"). token must be static text (it may be stored as is).
 * Returns 0 or an error from the response functions. */
int fh__mw_vary_add(fh_response_t *res, fh_str_t token);

/* Writes s as the inside of a JSON string (no quotes) at dst, which has
 * room for fh__mw_json_len(s) bytes; returns the bytes written. Control
 * characters, '"' and '\\' are escaped; invalid UTF-8 becomes U+FFFD. */
size_t fh__mw_json_escape(char *dst, fh_str_t s);
/* The most bytes fh__mw_json_escape may write for s. */
static inline size_t fh__mw_json_len(fh_str_t s) { return s.len * 6; }

/* The request's id (fh_request_id), and whether it is known to consist of
 * the characters the request id middleware accepts (letters, digits and
 * "-_.:+/=@"): true for ids that middleware set, false for text another
 * hand put in its slot. */
fh_str_t fh__mw_request_id(const fh_request_t *req, bool *plain);

/* ---- per-loop state ----
 *
 * Built-ins that keep state per worker thread without locks (access log
 * buffers, rate-limit tables, zlib streams) look it up by the request's loop
 * in an open-addressing table of loop pointers. A thread claims its entry
 * once with a compare-and-swap; entries are never removed, so a lookup is a
 * load and a compare. The state is created by the owning thread, on first
 * use, and destroyed by fh__perloop_free once every loop is gone. A loop
 * address reused by a later server finds the previous state (created by a
 * thread that has been joined since), which each built-in accepts. */
typedef struct fh__perloop {
    size_t cap; /* power of two */
    _Atomic(uv_loop_t *) *loops;
    void **states;
    void *(*create)(void *owner, uv_loop_t *loop);
    void (*destroy)(void *owner, void *state);
    void *owner;
    uint64_t id; /* unique per table: keys the thread's last lookup */
} fh__perloop_t;

int fh__perloop_init(fh__perloop_t *pl, size_t cap, void *(*create)(void *, uv_loop_t *),
                     void (*destroy)(void *, void *), void *owner);
/* The state of loop, created on first use. NULL when the table is full or
 * create failed (the caller falls back). Call on loop's thread only. */
void *fh__perloop_get(fh__perloop_t *pl, uv_loop_t *loop);
/* Destroys every state and the table. */
void fh__perloop_free(fh__perloop_t *pl);

#endif
