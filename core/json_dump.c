/* Compact JSON serialization of jansson values straight into an arena.
 *
 * Why not json_dump_callback: for every call jansson builds a hash table of
 * the containers on the current path (to refuse cycles), formats each
 * container's address with snprintf as the table key, and hands the output
 * over in many small callback calls. For the small documents APIs answer
 * with, that bookkeeping costs several times the serialization itself. This
 * writer walks the value with jansson's public accessors and appends to one
 * growing arena buffer; a depth bound replaces the cycle table.
 *
 * It produces exactly what json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY)
 * produces (tests/unit/json/test_json_dump.c compares them on random
 * documents), and it only handles that flag set. For anything else — other
 * flags, a string that is not valid UTF-8 (made with json_stringn_nocheck),
 * nesting deeper than FH__DUMP_MAX_DEPTH (a cycle, most likely) — it reports
 * FH__DUMP_UNSUPPORTED and the caller falls back to jansson, which then
 * gives the same output or the same error as it always would.
 */
#include "core/json.h"
#include "core/str.h"

#include <stdio.h>

#define FH__DUMP_MAX_DEPTH 2048

typedef struct out {
    fh_arena_t *arena;
    char *buf, *p, *end;
    int err; /* 0, FH_ENOMEM or FH__DUMP_UNSUPPORTED */
} out_t;

/* Makes room for n more bytes: in place when the buffer is the arena's
 * last allocation, else by a copy. */
static bool grow(out_t *o, size_t n) {
    size_t len = (size_t)(o->p - o->buf), cap = (size_t)(o->end - o->buf);
    if (n > SIZE_MAX / 4 - len) {
        o->err = FH_ENOMEM;
        return false;
    }
    size_t ncap = cap ? cap * 2 : 128;
    while (ncap < len + n)
        ncap *= 2;
    char *nb = fh_arena_realloc(o->arena, o->buf, cap, ncap);
    if (!nb) {
        o->err = FH_ENOMEM;
        return false;
    }
    o->buf = nb;
    o->p = nb + len;
    o->end = nb + ncap;
    return true;
}

static inline bool room(out_t *o, size_t n) { return (size_t)(o->end - o->p) >= n || grow(o, n); }

/* Bytes a JSON string may hold as they are (ASCII, not a control
 * character, quote or backslash). */
static inline bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

/* Some byte of the word x is not plain: under 0x20, '"', '\\' or 0x80 and
 * up. */
static inline uint64_t json_special8(uint64_t x) {
    return fh__below8(x, 0x20) | (x & FH__HIGH) | fh__has8(x, '"') | fh__has8(x, '\\');
}

static bool put_string(out_t *o, const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (n > SIZE_MAX / 8 || !room(o, n + 2))
        return false;
    *o->p++ = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* Eight bytes at a time while none needs a look of its own. */
        while (run + 8 <= n && !json_special8(fh__load8(s + run)))
            run += 8;
        if (run < n && n - run < 8) {
            /* The last bytes, in one word: the string's last eight when it
             * has eight (those before run are plain, or were escaped and
             * send this to the loop below), else padded with plain ones. */
            uint64_t x = FH__ONES * 'a';
            if (n >= 8)
                x = fh__load8(s + n - 8);
            else
                x = fh__load_short(s + run, n - run, x);
            if (!json_special8(x))
                run = n;
        }
        while (run < n && plain((unsigned char)s[run]))
            run++;
        o->p = fh__put(o->p, s + i, run - i);
        i = run;
        if (i == n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = fh__utf8_seq((const unsigned char *)s + i, n - i);
            if (!k) {
                o->err = FH__DUMP_UNSUPPORTED; /* jansson refuses it: let it say so */
                return false;
            }
            memcpy(o->p, s + i, k); /* counted in n already */
            o->p += k;
            i += k;
            continue;
        }
        /* An escape: up to 6 bytes for the 1 counted, the rest, the quote. */
        if (!room(o, 6 + (n - i - 1) + 1))
            return false;
        *o->p++ = '\\';
        switch (c) {
        case '"': *o->p++ = '"'; break;
        case '\\': *o->p++ = '\\'; break;
        case '\b': *o->p++ = 'b'; break;
        case '\f': *o->p++ = 'f'; break;
        case '\n': *o->p++ = 'n'; break;
        case '\r': *o->p++ = 'r'; break;
        case '\t': *o->p++ = 't'; break;
        default:
            memcpy(o->p, "u00", 3);
            o->p[3] = hex[c >> 4];
            o->p[4] = hex[c & 15];
            o->p += 5;
            break;
        }
        i++;
    }
    *o->p++ = '"';
    return true;
}

static bool put_integer(out_t *o, json_int_t v) {
    if (!room(o, 1 + FH__U64_DIGITS))
        return false;
    if (v < 0)
        *o->p++ = '-';
    /* The magnitude as unsigned: the most negative value has none as
     * signed. */
    o->p = fh__put_u64(o->p, v < 0 ? 0ull - (uint64_t)v : (uint64_t)v);
    return true;
}

/* A real the way jansson writes it: the shortest of %.17g, with "." as the
 * decimal point whatever the locale, ".0" added when the text would read
 * back as an integer, and the exponent without "+" or leading zeros. */
static bool put_real(out_t *o, double v) {
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (n <= 0 || (size_t)n >= sizeof(tmp) - 3) {
        o->err = FH__DUMP_UNSUPPORTED;
        return false;
    }
    bool dot = false, exp = false;
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        if (c == 'e') {
            exp = true;
        } else if (!(c >= '0' && c <= '9') && c != '-' && c != '+') {
            tmp[i] = '.'; /* a locale's decimal separator */
            dot = true;
        }
    }
    size_t len = (size_t)n;
    if (!dot && !exp) {
        memcpy(tmp + len, ".0", 2);
        len += 2;
    } else if (exp) {
        char *e = strchr(tmp, 'e') + 1;
        char *digits = e;
        if (*digits == '+' || *digits == '-')
            digits++;
        char *sig = digits;
        while (*sig == '0' && sig[1])
            sig++;
        char *dst = *e == '+' ? e : digits; /* drop "+", keep "-" */
        size_t rest = (size_t)(tmp + len - sig);
        memmove(dst, sig, rest);
        len = (size_t)(dst - tmp) + rest;
    }
    if (!room(o, len))
        return false;
    memcpy(o->p, tmp, len);
    o->p += len;
    return true;
}

static bool put_value(out_t *o, const json_t *v, int depth) {
    if (depth > FH__DUMP_MAX_DEPTH) {
        o->err = FH__DUMP_UNSUPPORTED;
        return false;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!room(o, 2))
            return false;
        *o->p++ = '{';
        json_t *obj = (json_t *)v;
        bool first = true;
        for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
            if (!first) {
                if (!room(o, 1))
                    return false;
                *o->p++ = ',';
            }
            first = false;
            if (!put_string(o, json_object_iter_key(it), json_object_iter_key_len(it)) ||
                !room(o, 1))
                return false;
            *o->p++ = ':';
            if (!put_value(o, json_object_iter_value(it), depth + 1))
                return false;
        }
        if (!room(o, 1))
            return false;
        *o->p++ = '}';
        return true;
    }
    case JSON_ARRAY: {
        if (!room(o, 2))
            return false;
        *o->p++ = '[';
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) {
                if (!room(o, 1))
                    return false;
                *o->p++ = ',';
            }
            if (!put_value(o, json_array_get(v, i), depth + 1))
                return false;
        }
        if (!room(o, 1))
            return false;
        *o->p++ = ']';
        return true;
    }
    case JSON_STRING: return put_string(o, json_string_value(v), json_string_length(v));
    case JSON_INTEGER: return put_integer(o, json_integer_value(v));
    case JSON_REAL: return put_real(o, json_real_value(v));
    case JSON_TRUE:
        if (!room(o, 4))
            return false;
        memcpy(o->p, "true", 4);
        o->p += 4;
        return true;
    case JSON_FALSE:
        if (!room(o, 5))
            return false;
        memcpy(o->p, "false", 5);
        o->p += 5;
        return true;
    case JSON_NULL:
        if (!room(o, 4))
            return false;
        memcpy(o->p, "null", 4);
        o->p += 4;
        return true;
    }
    o->err = FH__DUMP_UNSUPPORTED;
    return false;
}

int fh__json_dump_compact(fh_arena_t *arena, const json_t *value, fh_str_t *out) {
    out_t o = { arena, NULL, NULL, NULL, 0 };
    if (!put_value(&o, value, 0) || !room(&o, 1))
        return o.err ? o.err : FH_ENOMEM;
    *o.p = '\0';
    *out = (fh_str_t){ o.buf, (size_t)(o.p - o.buf) };
    return 0;
}
