/* Strings, errors, methods and status phrases. */
#include <fasthttp.h>

#include "core/status.h"
#include "core/str.h"

const char *fh_strerror(int err) {
    switch (err) {
    case 0: return "success";
    case FH_EHANDLER: return "handler failed";
    case FH_EALREADY_SENT: return "response already final";
    case FH_EROUTE_CONFLICT: return "route conflicts with an existing route";
    case FH_EROUTE_PATTERN: return "malformed route pattern";
    case FH_EHEADER_VALUE: return "invalid header name or value (CR, LF or NUL)";
    case FH_ECONFIG: return "invalid configuration";
    case FH_ESTATE: return "not valid in the current state";
    case FH_ERESTART: return "the new generation ended before it was ready";
    default: break;
    }
    if (err < 0 && err > -30000)
        return uv_strerror(err);
    return "unknown error";
}

/* The eight bytes of x with each of 'A'..'Z' turned into its lower case,
 * every other byte unchanged: bit 7 of ge is set where the byte's low seven
 * bits are >= 'A', of gt where they are > 'Z' (no carry crosses a byte:
 * 0x7f + 0x3f < 0x100), and bytes >= 0x80 are left out. */
static inline uint64_t fold8(uint64_t x) {
    uint64_t h = x & 0x7f7f7f7f7f7f7f7full;
    uint64_t ge = h + 0x3f3f3f3f3f3f3f3full;
    uint64_t gt = h + 0x2525252525252525ull;
    uint64_t upper = ge & ~gt & ~x & 0x8080808080808080ull;
    return x | (upper >> 2);
}

/* Eight bytes at a time, the last group overlapping the one before it;
 * under eight, the bytes of both ends packed into one word (header names,
 * the common case, are 4 to 19 bytes). */
bool fh_str_ieq(fh_str_t a, fh_str_t b) {
    size_t n = a.len;
    if (n != b.len)
        return false;
    const char *x = a.ptr, *y = b.ptr;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 < n; i += 8)
            if (fold8(fh__load8(x + i)) != fold8(fh__load8(y + i)))
                return false;
        return fold8(fh__load8(x + n - 8)) == fold8(fh__load8(y + n - 8));
    }
    return fold8(fh__load_short(x, n, 0)) == fold8(fh__load_short(y, n, 0));
}

ptrdiff_t fh_percent_decode(char *dst, fh_str_t src, bool plus_as_space) {
    size_t o = 0;
    for (size_t i = 0; i < src.len; i++) {
        char c = src.ptr[i];
        if (c == '%') {
            if (i + 2 >= src.len)
                return -1;
            int h = fh__hex_value((unsigned char)src.ptr[i + 1]);
            int l = fh__hex_value((unsigned char)src.ptr[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (char)(h * 16 + l);
            if (c == '\0')
                return -1;
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        dst[o++] = c;
    }
    return (ptrdiff_t)o;
}

static const char *const method_names[FH_METHOD__COUNT] = {
    [FH_METHOD_GET] = "GET",         [FH_METHOD_HEAD] = "HEAD",       [FH_METHOD_POST] = "POST",
    [FH_METHOD_PUT] = "PUT",         [FH_METHOD_DELETE] = "DELETE",   [FH_METHOD_PATCH] = "PATCH",
    [FH_METHOD_OPTIONS] = "OPTIONS", [FH_METHOD_CONNECT] = "CONNECT", [FH_METHOD_TRACE] = "TRACE",
    [FH_METHOD_OTHER] = "OTHER",
};

const char *fh_method_name(fh_method_t m) {
    return (unsigned)m < FH_METHOD__COUNT ? method_names[m] : "OTHER";
}

const char *fh_status_reason(int s) {
    switch (s) {
#define FH__REASON(code, text)                                                                     \
    case code: return text;
        FH__STATUS_LIST(FH__REASON)
#undef FH__REASON
    default: return "Unknown";
    }
}

char *fh__put_u64(char *p, uint64_t v) {
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10)
        n++;
    char *q = p + n;
    while (v >= 100) {
        q -= 2;
        memcpy(q, pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        q -= 2;
        memcpy(q, pairs + 2 * v, 2);
    } else {
        *--q = (char)('0' + v);
    }
    return p + n;
}

size_t fh__utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}
