/* Internal: byte-level helpers shared by the core and the built-in
 * middleware (str.c holds the out-of-line ones): word-at-a-time tests,
 * short copies, decimal and hexadecimal digits, UTF-8 sequences. */
#ifndef FH_CORE_STR_H
#define FH_CORE_STR_H

#include <fasthttp.h>
#include <stdint.h>
#include <string.h>

/* Thread-local state read on every request: the initial-exec model reads
 * it at a fixed offset from the thread pointer instead of through a call. */
#ifndef FH__TLS_FAST
#if defined(__GNUC__)
#define FH__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define FH__TLS_FAST
#endif
#endif

/* ---- eight bytes at a time ----
 *
 * Tests over a 64-bit word of text (any byte order): each is nonzero
 * exactly when some byte of x has the property. */
#define FH__ONES 0x0101010101010101ull
#define FH__HIGH 0x8080808080808080ull

static inline uint64_t fh__load8(const void *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}
/* The n < 8 bytes at s in one word, for the tests below and for compares:
 * 4 to 7 bytes as two overlapping 4-byte loads, 1 to 3 as the first,
 * middle and last byte over pad's upper five bytes; every byte of the
 * word is one of s's (some twice) or pad's. No byte beyond s[n - 1] is
 * read. The same s and n give the same word. */
static inline uint64_t fh__load_short(const void *src, size_t n, uint64_t pad) {
    const unsigned char *s = src;
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return a | (uint64_t)b << 32;
    }
    if (n == 0)
        return pad;
    return (pad & ~0xffffffull) | s[0] | (uint64_t)s[n / 2] << 8 | (uint64_t)s[n - 1] << 16;
}
/* A byte of x is below n (n <= 128). */
static inline uint64_t fh__below8(uint64_t x, unsigned char n) {
    return (x - FH__ONES * n) & ~x & FH__HIGH;
}
/* A byte of x is c. */
static inline uint64_t fh__has8(uint64_t x, unsigned char c) {
    return fh__below8(x ^ (FH__ONES * c), 1);
}

/* Copies n bytes from s to p and returns p + n. Runs of up to 32 bytes,
 * the usual header names, values and log fields, are copied inline with
 * two overlapping moves instead of a call to memcpy; neither side is read
 * or written beyond its n bytes. */
static inline char *fh__put(char *p, const void *src, size_t n) {
    const char *s = src;
    if (n > 32) {
        memcpy(p, s, n);
    } else if (n >= 16) {
        uint64_t a = fh__load8(s), b = fh__load8(s + 8);
        uint64_t c = fh__load8(s + n - 16), d = fh__load8(s + n - 8);
        memcpy(p, &a, 8);
        memcpy(p + 8, &b, 8);
        memcpy(p + n - 16, &c, 8);
        memcpy(p + n - 8, &d, 8);
    } else if (n >= 8) {
        uint64_t a = fh__load8(s), b = fh__load8(s + n - 8);
        memcpy(p, &a, 8);
        memcpy(p + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &b, 4);
    } else if (n) {
        p[0] = s[0];
        p[n / 2] = s[n / 2];
        p[n - 1] = s[n - 1];
    }
    return p + n;
}

/* Writes v in decimal at p (at most FH__U64_DIGITS bytes, no NUL) and
 * returns the end. Two digits per division, from a table (str.c). */
#define FH__U64_DIGITS 20
char *fh__put_u64(char *p, uint64_t v);

/* true when value may be a header value: no CR, LF or NUL. */
static inline bool fh__header_value_ok(fh_str_t value) {
    const unsigned char *p = (const unsigned char *)value.ptr;
    size_t i = 0;
    for (; i + 8 <= value.len; i += 8) {
        uint64_t x = fh__load8(p + i);
        if (fh__below8(x, 1) | fh__has8(x, '\r') | fh__has8(x, '\n'))
            return false;
    }
    for (; i < value.len; i++)
        if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
            return false;
    return true;
}

/* Whether the field name n (a token) is lower, case-insensitively, where
 * lower is a literal of lower-case letters and '-' of n's length (the
 * caller switches on the length first). OR-ing 0x20 into each byte folds
 * exactly the letters; the only other token byte it could turn into one of
 * lower's is none ('-' comes only from CR, which no token holds). */
#define fh__name_is(n, lower) fh__name_is_((n), (lower), sizeof(lower) - 1)
static inline bool fh__name_is_(fh_str_t n, const char *lower, size_t len) {
    if (len < 8)
        return (fh__load_short(n.ptr, len, 0) | fh__load_short("\x20\x20\x20\x20\x20\x20\x20", len,
                                                               0)) == fh__load_short(lower, len, 0);
    for (size_t i = 0; i + 8 < len; i += 8)
        if ((fh__load8(n.ptr + i) | 0x2020202020202020ull) != fh__load8(lower + i))
            return false;
    return (fh__load8(n.ptr + len - 8) | 0x2020202020202020ull) == fh__load8(lower + len - 8);
}

/* The value of the hexadecimal digit c, or -1. */
static inline int fh__hex_value(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, surrogates or code points above U+10FFFF), or 0. n > 0. */
size_t fh__utf8_seq(const unsigned char *s, size_t n);

#endif
