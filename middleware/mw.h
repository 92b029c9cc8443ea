/* Internal helpers shared by the built-in middleware: config error messages,
 * header lists, Vary, JSON escaping and per-loop state. */
#ifndef FH_MIDDLEWARE_MW_H
#define FH_MIDDLEWARE_MW_H

#include <fasthttp.h>
#include <stdatomic.h>

#include "core/request.h"
#include "core/response.h"
#include "core/str.h"

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

/* Request slot keys of the built-ins: the authenticated user (auth.c, an
 * fh_str_t), the request id (request_id.c, its NUL-terminated text: the
 * public fh_request_id_key) and the request id middleware's own record. */
extern const char fh__mw_user_key, fh__mw_id_key, fh__mw_id_rec_key;

/* What the request id middleware leaves, in one arena allocation: the
 * public slot (the id's text), a private one pointing at this record, and
 * the text with its length. While the public slot still holds this text,
 * the id is known to be valid and its length need not be counted again. */
typedef struct fh__mw_rid_record {
    fh__slot_t id_slot, rec_slot;
    size_t len;
    char text[];
} fh__mw_rid_record_t;

/* The request's id (fh_request_id) and user (fh_auth_user), from one walk
 * over its slots. *plain tells whether the id is known to consist of the
 * characters the request id middleware accepts (letters, digits and
 * "-_.:+/=@"): true for ids that middleware set, false for text another
 * hand put in its slot. user may be NULL. */
static inline fh_str_t fh__mw_request_id_user(const fh_request_t *req, bool *plain,
                                              fh_str_t *user) {
    const char *id = NULL;
    const fh__mw_rid_record_t *rec = NULL;
    if (user)
        *user = (fh_str_t){ NULL, 0 };
    for (const fh__slot_t *s = req->slots; s; s = s->next) {
        if (s->key == &fh__mw_id_key)
            id = s->value;
        else if (s->key == &fh__mw_id_rec_key)
            rec = s->value;
        else if (user && s->key == &fh__mw_user_key)
            *user = *(const fh_str_t *)s->value;
    }
    *plain = id && rec && id == rec->text;
    return *plain ? (fh_str_t){ rec->text, rec->len } : fh_str(id);
}
/* The request's id, as above. */
static inline fh_str_t fh__mw_request_id(const fh_request_t *req, bool *plain) {
    return fh__mw_request_id_user(req, plain, NULL);
}

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
/* The thread's last lookups, two tables' worth (an access log and a rate
 * limit in one chain): a request's lookup is then a compare. A table's id
 * is never reused, so an entry cannot name a freed table's state. */
typedef struct fh__perloop_hit {
    uint64_t id;
    uv_loop_t *loop;
    void *state;
} fh__perloop_hit_t;
extern _Thread_local fh__perloop_hit_t fh__perloop_last[2] FH__TLS_FAST;
/* fh__perloop_get past the thread's last lookups. */
void *fh__perloop_find(fh__perloop_t *pl, uv_loop_t *loop);
/* The state of loop, created on first use. NULL when the table is full or
 * create failed (the caller falls back). Call on loop's thread only. */
static inline void *fh__perloop_get(fh__perloop_t *pl, uv_loop_t *loop) {
    const fh__perloop_hit_t *h = &fh__perloop_last[pl->id & 1];
    if (h->id == pl->id && h->loop == loop)
        return h->state;
    return fh__perloop_find(pl, loop);
}
/* Destroys every state and the table. */
void fh__perloop_free(fh__perloop_t *pl);

#endif
