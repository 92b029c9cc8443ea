/**
 * @file
 * fasthttp — common types: string views, error codes, export macro.
 *
 * Every public function returns 0 or a negative error code (FH_E* below,
 * which reuse libuv's values where one applies), unless its comment says
 * otherwise. A call that fails never fires its callback. Out of memory is
 * reported as FH_ENOMEM, never by aborting.
 */
#ifndef FASTHTTP_COMMON_H
#define FASTHTTP_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(FH_BUILDING_SHARED) && defined(__GNUC__)
#define FH_API __attribute__((visibility("default")))
#else
#define FH_API
#endif

#if defined(__GNUC__)
#define FH_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define FH_PRINTF(fmt, args)
#endif

/** A view of bytes owned by someone else: never NUL-terminated by contract.
 * A view whose ptr is NULL means "absent" (a missing header, query field or
 * param); an empty but present value has a non-NULL ptr and len 0. */
typedef struct fh_str {
    const char *ptr; /**< the first byte; NULL when absent */
    size_t len;      /**< the number of bytes */
} fh_str_t;

/** printf helper: printf("%.*s", FH_STR_FMT(s)). */
#define FH_STR_FMT(s) (int)(s).len, (s).ptr
/** A view of a string literal, computed at compile time. */
#define FH_STR_LIT(lit) ((fh_str_t){ "" lit, sizeof(lit) - 1 })

/** Error codes. The first group are libuv's codes; the rest are fasthttp's
 * own, below libuv's range. fh_strerror() names any of them. */
enum {
    FH_OK = 0,
    FH_ENOMEM = UV_ENOMEM,
    FH_EINVAL = UV_EINVAL,
    FH_EBUSY = UV_EBUSY,
    FH_ENOENT = UV_ENOENT,
    FH_EEXIST = UV_EEXIST,
    FH_E2BIG = UV_E2BIG,
    FH_ECANCELED = UV_ECANCELED,
    FH_ENOTCONN = UV_ENOTCONN,
    FH_EADDRINUSE = UV_EADDRINUSE,
    FH_EAGAIN = UV_EAGAIN,       /**< try again later (a full stream buffer) */
    FH_ENOTSUP = UV_ENOTSUP,     /**< not possible here (sendfile over TLS, say) */
    FH_ETIMEDOUT = UV_ETIMEDOUT, /**< waited too long: a stalled peer, fh_pool_acquire */
    FH_EHANDLER = -30001,        /**< a handler returned an error */
    FH_EALREADY_SENT = -30002,   /**< the response was already final */
    FH_EROUTE_CONFLICT = -30003,
    FH_EROUTE_PATTERN = -30004,
    FH_EHEADER_VALUE = -30005, /**< CR, LF or NUL in a header name or value */
    FH_ECONFIG = -30006,       /**< a bad configuration field (see fh_server_new) */
    FH_ESTATE = -30007,        /**< the call is not valid in the object's state */
    /** A restart's new generation ended before it was ready to serve
     * (fh_server_restart). */
    FH_ERESTART = -30008,
};

/** A static, human-readable name for an error code. Never NULL. */
FH_API const char *fh_strerror(int err);

/** A view of a NUL-terminated string (NULL gives an absent view). */
static inline fh_str_t fh_str(const char *cstr);
/** true when the view holds exactly the bytes of cstr. */
static inline bool fh_str_eq(fh_str_t s, const char *cstr);
/** true when the two views hold the same bytes. */
static inline bool fh_str_equal(fh_str_t a, fh_str_t b);
/** ASCII case-insensitive comparison (header names, tokens). */
FH_API bool fh_str_ieq(fh_str_t a, fh_str_t b);
/** true when the view starts with prefix. */
static inline bool fh_str_starts_with(fh_str_t s, const char *prefix);
/** true when the view is absent (ptr == NULL). */
static inline bool fh_str_absent(fh_str_t s);

/** Percent-decodes src into dst (which may be src->ptr itself: decoding only
 * shrinks). With plus_as_space, '+' becomes ' ' (query strings). Returns the
 * decoded length, or -1 if src holds a malformed escape or decodes to a NUL
 * byte. dst must have room for src.len bytes. */
FH_API ptrdiff_t fh_percent_decode(char *dst, fh_str_t src, bool plus_as_space);

/* ---- inline definitions ---- */

static inline fh_str_t fh_str(const char *cstr) {
    fh_str_t s = { cstr, cstr ? strlen(cstr) : 0 };
    return s;
}

static inline bool fh_str_eq(fh_str_t s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

static inline bool fh_str_equal(fh_str_t a, fh_str_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool fh_str_starts_with(fh_str_t s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static inline bool fh_str_absent(fh_str_t s) { return s.ptr == NULL; }

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_COMMON_H */
