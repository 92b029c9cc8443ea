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

int fh__vformat(char *dst, size_t cap, const char *fmt, va_list ap) {
    if (cap > INT_MAX)
        cap = INT_MAX;
    char *p = dst, *end = dst + cap;
    const char *f = fmt;
    for (;;) {
        const char *pct = strchr(f, '%');
        size_t lit = pct ? (size_t)(pct - f) : strlen(f);
        if (!put(&p, end, f, lit))
            return -1;
        if (!pct)
            return (int)(p - dst);
        f = pct + 1;
        /* Precision: only for %s. */
        bool has_prec = false;
        long prec = 0;
        if (*f == '.') {
            f++;
            has_prec = true;
            if (*f == '*') {
                int v = va_arg(ap, int);
                if (v < 0)
                    return -1; /* "as if omitted": left to vsnprintf */
                prec = v;
                f++;
            } else {
                while (*f >= '0' && *f <= '9') {
                    prec = prec * 10 + (*f - '0');
                    if (prec > INT_MAX)
                        return -1;
                    f++;
                }
            }
        }
        /* Length: none, l, ll or z. */
        int len = 0; /* 0, 1 = l, 2 = ll, 3 = z */
        if (*f == 'l') {
            f++;
            len = 1;
            if (*f == 'l') {
                f++;
                len = 2;
            }
        } else if (*f == 'z') {
            f++;
            len = 3;
        }
        char conv = *f++;
        if (has_prec && conv != 's')
            return -1;
        switch (conv) {
        case '%':
            if (len || !put(&p, end, "%", 1))
                return -1;
            break;
        case 's': {
            if (len)
                return -1;
            const char *s = va_arg(ap, const char *);
            if (!s)
                return -1; /* "(null)" or nothing, by precision: vsnprintf's call */
            size_t n = has_prec ? strnlen(s, (size_t)prec) : strlen(s);
            if (!put(&p, end, s, n))
                return -1;
            break;
        }
        case 'c': {
            if (len)
                return -1;
            char c = (char)(unsigned char)va_arg(ap, int);
            if (!put(&p, end, &c, 1))
                return -1;
            break;
        }
        case 'd':
        case 'i': {
            long long v = len == 0   ? va_arg(ap, int)
                          : len == 1 ? va_arg(ap, long)
                          : len == 2 ? va_arg(ap, long long)
                                     : (long long)va_arg(ap, ptrdiff_t); /* ssize_t */
            /* The magnitude as unsigned: the most negative value has none
             * as signed. */
            unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            if (!put_decimal(&p, end, u, v < 0))
                return -1;
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = len == 0   ? va_arg(ap, unsigned)
                                   : len == 1 ? va_arg(ap, unsigned long)
                                   : len == 2 ? va_arg(ap, unsigned long long)
                                              : va_arg(ap, size_t);
            if (!(conv == 'u' ? put_decimal(&p, end, v, false) : put_hex(&p, end, v, conv == 'X')))
                return -1;
            break;
        }
        default:
            /* A flag, a width, another conversion, or the end of fmt. */
            return -1;
        }
    }
}
