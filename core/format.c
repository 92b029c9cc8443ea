/* A small printf for response bodies (see format.h). glibc's vsnprintf
 * sets up a string stream for every call and runs its general conversion
 * engine: about 800 instructions for "User ID: %.*s". The common
 * conversions written straight into the buffer take a tenth of that. */
#include "core/format.h"
#include "core/str.h" /* fh__put_u64 */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Appends n bytes; false when they do not fit. */
static inline bool put(char **p, char *end, const char *s, size_t n) {
    if ((size_t)(end - *p) < n)
        return false;
    memcpy(*p, s, n);
    *p += n;
    return true;
}

/* v in decimal, after a '-' when neg. */
static bool put_decimal(char **p, char *end, unsigned long long v, bool neg) {
    if ((size_t)(end - *p) < 1 + FH__U64_DIGITS)
        return false; /* maybe enough, but the caller's vsnprintf will know */
    if (neg)
        *(*p)++ = '-';
    *p = fh__put_u64(*p, v);
    return true;
}

/* v in hexadecimal, lower or upper case. */
static bool put_hex(char **p, char *end, unsigned long long v, bool upper) {
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[16];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = digits[v & 15];
        v >>= 4;
    } while (v);
    return put(p, end, tmp + i, sizeof(tmp) - i);
}

/* A conversion's precision (for %s only) and length modifier. */
typedef struct spec {
    bool has_prec;
    long prec;
    int len; /* 0, 1 = l, 2 = ll, 3 = z */
    char conv;
} spec_t;

/* Reads the specification after a '%' at *f; false for what is left to
 * vsnprintf (a negative precision from ".*", an overlong one). */
static bool parse_spec(const char **fp, va_list *ap, spec_t *sp) {
    const char *f = *fp;
    sp->has_prec = false;
    sp->prec = 0;
    sp->len = 0;
    if (*f == '.') {
        f++;
        sp->has_prec = true;
        if (*f == '*') {
            int v = va_arg(*ap, int);
            if (v < 0)
                return false; /* "as if omitted": left to vsnprintf */
            sp->prec = v;
            f++;
        } else {
            while (*f >= '0' && *f <= '9') {
                sp->prec = sp->prec * 10 + (*f - '0');
                if (sp->prec > INT_MAX)
                    return false;
                f++;
            }
        }
    }
    if (*f == 'l') {
        f++;
        sp->len = 1;
        if (*f == 'l') {
            f++;
            sp->len = 2;
        }
    } else if (*f == 'z') {
        f++;
        sp->len = 3;
    }
    sp->conv = *f++;
    *fp = f;
    return !(sp->has_prec && sp->conv != 's');
}

/* Writes one conversion; false for what is left to vsnprintf (a flag, a
 * width, another conversion, the end of fmt) or output that does not fit. */
static bool convert(char **p, char *end, const spec_t *sp, va_list *ap) {
    switch (sp->conv) {
    case '%': return !sp->len && put(p, end, "%", 1);
    case 's': {
        if (sp->len)
            return false;
        const char *s = va_arg(*ap, const char *);
        if (!s)
            return false; /* "(null)" or nothing, by precision: vsnprintf's call */
        size_t n = sp->has_prec ? strnlen(s, (size_t)sp->prec) : strlen(s);
        return put(p, end, s, n);
    }
    case 'c': {
        if (sp->len)
            return false;
        char c = (char)(unsigned char)va_arg(*ap, int);
        return put(p, end, &c, 1);
    }
    case 'd':
    case 'i': {
        long long v = sp->len == 0   ? va_arg(*ap, int)
                      : sp->len == 1 ? va_arg(*ap, long)
                      : sp->len == 2 ? va_arg(*ap, long long)
                                     : (long long)va_arg(*ap, ptrdiff_t); /* ssize_t */
        /* The magnitude as unsigned: the most negative value has none as
         * signed. */
        unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
        return put_decimal(p, end, u, v < 0);
    }
    case 'u':
    case 'x':
    case 'X': {
        unsigned long long v = sp->len == 0   ? va_arg(*ap, unsigned)
                               : sp->len == 1 ? va_arg(*ap, unsigned long)
                               : sp->len == 2 ? va_arg(*ap, unsigned long long)
                                              : va_arg(*ap, size_t);
        return sp->conv == 'u' ? put_decimal(p, end, v, false)
                               : put_hex(p, end, v, sp->conv == 'X');
    }
    default: return false;
    }
}

int fh__vformat(char *dst, size_t cap, const char *fmt, va_list ap) {
    if (cap > INT_MAX)
        cap = INT_MAX;
    char *p = dst, *end = dst + cap;
    const char *f = fmt;
    va_list args;
    va_copy(args, ap);
    int result = -1;
    for (;;) {
        const char *pct = strchr(f, '%');
        size_t lit = pct ? (size_t)(pct - f) : strlen(f);
        if (!put(&p, end, f, lit))
            break;
        if (!pct) {
            result = (int)(p - dst);
            break;
        }
        f = pct + 1;
        spec_t sp;
        if (!parse_spec(&f, &args, &sp) || !convert(&p, end, &sp, &args))
            break;
    }
    va_end(args);
    return result;
}
