/* Strict HTTP/1.1 syntax checks (see http1.h for why and when they run). */
#include "core/http1_syntax.h"
#include "core/str.h"

/* Byte classes: C_TOKEN (RFC 9110 tchar), C_VALUE (field-vchar, SP, HTAB,
 * obs-text), C_TARGET (visible ASCII but '#'), C_HOST (RFC 3986 unreserved
 * and sub-delims: a reg-name). One table lookup per byte. */
enum { C_TOKEN = 1, C_VALUE = 2, C_TARGET = 4, C_HOST = 8 };
const uint8_t fh__h1_class[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0,  0,  0,  0,  0,  0,  0,  0,  2,  15, 6,  3,  15, 7,  15, 15, 14, 14, 15, 15, 14, 15, 15, 6,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  14, 6,  14, 6,  6,  6,  15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  6,  6,  7,  15,
    7,  15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15,
    15, 15, 15, 6,  7,  6,  15, 0,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,
};

static inline bool is_token(unsigned char c) { return fh__h1_class[c] & C_TOKEN; }

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static inline bool is_hex(unsigned char c) { return fh__hex_value(c) >= 0; }

/* field-vchar, SP or HTAB: what a field value may hold (obs-text too). */
static inline bool is_value_char(unsigned char c) { return fh__h1_class[c] & C_VALUE; }

/* A request-target byte: visible ASCII, and no fragment. */
static inline bool is_target_char(unsigned char c) { return fh__h1_class[c] & C_TARGET; }

/* Word-at-a-time scans: 8 bytes per step while all are plain printable
 * ASCII (0x20..0x7e), byte by byte from the first word that is not. A borrow
 * may flag a byte after a low one too: that only sends the word to the
 * careful loop. */
#define ONES UINT64_C(0x0101010101010101)
#define HIGHS UINT64_C(0x8080808080808080)

static inline bool word_has_byte(uint64_t w, unsigned char b) {
    uint64_t x = w ^ (ONES * b);
    return ((x - ONES) & ~x & HIGHS) != 0;
}

static inline bool word_printable(uint64_t w, unsigned char lowest) {
    return !(((w - ONES * lowest) | w) & HIGHS) && !word_has_byte(w, 0x7f);
}

/* Index after the field-value characters starting at i. */
static inline size_t scan_value(const unsigned char *p, size_t i, size_t n) {
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (!word_printable(w, 0x20))
            break;
    }
    while (i < n && is_value_char(p[i]))
        i++;
    return i;
}

/* Index after the request-target characters starting at i. */
static inline size_t scan_target(const unsigned char *p, size_t i, size_t n) {
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if (!word_printable(w, 0x21) || word_has_byte(w, '#'))
            break;
    }
    while (i < n && is_target_char(p[i]))
        i++;
    return i;
}

static inline bool is_crlf(const unsigned char *p, size_t i, size_t n) {
    return i + 1 < n && p[i] == '\r' && p[i + 1] == '\n';
}

/* method SP request-target SP HTTP-version CRLF; *pos is set after CRLF.
 * When h is given, it gets the method, the target and the version. */
static int request_line(const unsigned char *p, size_t n, size_t *pos, fh__h1_head_t *h) {
    size_t i = 0;
    while (i < n && is_token(p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return 400;
    size_t m = i, t = ++i;
    i = scan_target(p, i, n);
    if (i == t || i >= n || p[i] != ' ')
        return 400;
    size_t te = i++;
    if (n - i < 10 || memcmp(p + i, "HTTP/", 5) != 0 || !is_digit(p[i + 5]) || p[i + 6] != '.' ||
        !is_digit(p[i + 7]) || !is_crlf(p, i + 8, n))
        return 400;
    /* Another major version is not ours; a higher HTTP/1 minor version is
     * served as HTTP/1.1 (RFC 9110 2.5: a recipient of a higher minor
     * version within the major it implements treats it as its own). */
    if (p[i + 5] != '1')
        return 505;
    if (h) {
        h->method = (fh_str_t){ (const char *)p, m };
        h->target = (fh_str_t){ (const char *)p + t, te - t };
        h->minor = p[i + 7] == '0' ? 0 : 1;
    }
    *pos = i + 10;
    return 0;
}

/* Field lines up to the empty line; each field's name and value (without
 * the OWS around it) go into f when it is given. */
static int fields(const unsigned char *p, size_t n, size_t *len, fh__h1_fields_t *f) {
    size_t i = 0;
    for (;;) {
        if (i < n && p[i] == '\r') {
            if (!is_crlf(p, i, n))
                return 400;
            *len = i + 2;
            return 0;
        }
        /* field-name ":" — a line starting with SP/HT (obs-fold, or
         * whitespace before the first field), an empty name, whitespace
         * before the colon or no colon at all stop here. */
        size_t b = i;
        while (i < n && is_token(p[i]))
            i++;
        if (i == b || i >= n || p[i] != ':')
            return 400;
        size_t colon = i++;
        /* OWS field-value OWS: no CTL but HTAB, so no NUL and no bare CR
         * or LF inside. */
        i = scan_value(p, i, n);
        if (!is_crlf(p, i, n))
            return 400;
        if (f) {
            if (f->n == f->max)
                return 431;
            if (f->n == f->cap) {
                uint32_t ncap = f->cap ? f->cap * 2 : 16;
                if (ncap > f->max)
                    ncap = f->max;
                fh__header_t *nv =
                    fh_arena_realloc(f->arena, f->v, f->cap * sizeof(*nv), ncap * sizeof(*nv));
                if (!nv)
                    return 503;
                f->v = nv;
                f->cap = ncap;
            }
            size_t vb = colon + 1, ve = i;
            while (vb < ve && (p[vb] == ' ' || p[vb] == '\t'))
                vb++;
            while (ve > vb && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
                ve--;
            fh__header_t *h = &f->v[f->n++];
            h->name = (fh_str_t){ (const char *)p + b, colon - b };
            h->value = (fh_str_t){ (const char *)p + vb, ve - vb };
        }
        i += 2;
    }
}

int fh__h1_check_fields(const char *s, size_t n, size_t *len) {
    return fields((const unsigned char *)s, n, len, NULL);
}

int fh__h1_check_head(const char *s, size_t n, size_t *len) {
    size_t i = 0, flen = 0;
    int st = request_line((const unsigned char *)s, n, &i, NULL);
    if (st)
        return st;
    st = fh__h1_check_fields(s + i, n - i, &flen);
    if (st)
        return st;
    *len = i + flen;
    return 0;
}

int fh__h1_parse_head(const char *s, size_t n, fh__h1_head_t *h, fh__h1_fields_t *f) {
    size_t i = 0, flen = 0;
    int st = request_line((const unsigned char *)s, n, &i, h);
    if (st)
        return st;
    st = fields((const unsigned char *)s + i, n - i, &flen, f);
    if (st)
        return st;
    h->len = i + flen;
    return 0;
}

void fh__h1_parse_partial(const char *s, size_t n, fh__h1_head_t *h, fh__h1_fields_t *f) {
    const unsigned char *p = (const unsigned char *)s;
    memset(h, 0, sizeof(*h));
    size_t i = 0, pos, len;
    while (i < n && is_token(p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return;
    h->method = (fh_str_t){ s, i };
    size_t t = ++i;
    while (i < n && p[i] > ' ' && p[i] < 0x7f)
        i++;
    h->target = (fh_str_t){ s + t, i - t };
    if (request_line(p, n, &pos, h) == 0)
        fields(p + pos, n - pos, &len, f); /* the complete, valid lines (f may be NULL) */
}

int fh__h1_check_line(const char *s, size_t n, size_t max_target) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && is_token(p[i]))
        i++;
    if (i < n && p[i] != ' ')
        return 400;
    if (i == n)
        return 0;
    size_t t = ++i;
    i = scan_target(p, i, n);
    if (i - t > max_target)
        return 414;
    if (i == n)
        return 0;
    size_t pos;
    const char *eol = memchr(s + i, '\n', n - i);
    if (!eol)
        return p[i] == ' ' || p[i] == '\r' ? 0 : 400;
    int st = request_line(p, (size_t)(eol - s) + 1, &pos, NULL);
    return st ? st : -1;
}

int fh__h1_version_status(const char *s, size_t n) {
    size_t pos;
    return request_line((const unsigned char *)s, n, &pos, NULL) == 505 ? 505 : 400;
}

/* quoted-string starting at p[i] == '"'; returns the index after it, or 0. */
static size_t quoted_string(const unsigned char *p, size_t i, size_t n) {
    for (i++; i < n; i++) {
        unsigned char c = p[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (++i >= n || !is_value_char(p[i]))
                return 0;
        } else if (!is_value_char(c)) {
            return 0;
        }
    }
    return 0;
}

/* token / quoted-string at p[i] (a parameter's value); returns the index
 * after it, or 0. */
static size_t token_or_quoted(const unsigned char *p, size_t i, size_t n) {
    if (i < n && p[i] == '"')
        return quoted_string(p, i, n);
    size_t b = i;
    while (i < n && is_token(p[i]))
        i++;
    return i == b ? 0 : i;
}

int fh__h1_check_chunk_line(const char *s, size_t n, size_t *len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n && is_hex(p[i]))
        i++;
    if (i == 0)
        return 400;
    while (i < n && p[i] == ';') {
        size_t b = ++i;
        while (i < n && is_token(p[i]))
            i++;
        if (i == b)
            return 400;
        if (i < n && p[i] == '=') {
            i++;
            if (!(i = token_or_quoted(p, i, n)))
                return 400;
        }
    }
    if (!is_crlf(p, i, n))
        return 400;
    *len = i + 2;
    return 0;
}

int fh__h1_content_length(fh_str_t v, uint64_t *out) {
    if (v.len == 0)
        return 400;
    uint64_t x = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (!is_digit(c))
            return 400;
        if (x > (UINT64_C(0x7fffffffffffffff) - (c - '0')) / 10)
            return 400;
        x = x * 10 + (c - '0');
    }
    *out = x;
    return 0;
}

static inline size_t skip_ows(const unsigned char *p, size_t i, size_t n) {
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

int fh__h1_transfer_encoding(const fh_str_t *values, size_t nvalues) {
    size_t codings = 0, chunked = 0;
    bool unknown = false, last_chunked = false;
    for (size_t v = 0; v < nvalues; v++) {
        const unsigned char *p = (const unsigned char *)values[v].ptr;
        size_t n = values[v].len, i = 0;
        for (;;) {
            i = skip_ows(p, i, n);
            if (i >= n)
                break;
            if (p[i] == ',') { /* empty list element */
                i++;
                continue;
            }
            size_t b = i;
            while (i < n && is_token(p[i]))
                i++;
            if (i == b)
                return 400;
            bool is_chunked = i - b == 7 && fh_str_ieq((fh_str_t){ (const char *)p + b, 7 },
                                                       FH_STR_LIT("chunked"));
            /* transfer-parameters: *( OWS ";" OWS token BWS "=" BWS value ) */
            for (;;) {
                i = skip_ows(p, i, n);
                if (i >= n || p[i] != ';')
                    break;
                if (is_chunked)
                    return 400;
                i = skip_ows(p, i + 1, n);
                b = i;
                while (i < n && is_token(p[i]))
                    i++;
                if (i == b)
                    return 400;
                i = skip_ows(p, i, n);
                if (i >= n || p[i] != '=')
                    return 400;
                i = skip_ows(p, i + 1, n);
                if (!(i = token_or_quoted(p, i, n)))
                    return 400;
            }
            if (i < n && p[i] != ',')
                return 400;
            codings++;
            if (is_chunked)
                chunked++;
            else
                unknown = true;
            last_chunked = is_chunked;
        }
    }
    if (codings == 0 || !last_chunked || chunked > 1)
        return 400;
    return unknown ? 501 : 0;
}

/* unreserved / sub-delims (RFC 3986), the characters of a reg-name. */
static inline bool is_host_char(unsigned char c) { return fh__h1_class[c] & C_HOST; }

int fh__h1_check_host(fh_str_t v) {
    const unsigned char *p = (const unsigned char *)v.ptr;
    size_t n = v.len, i = 0;
    if (n && p[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture, checked for its alphabet. */
        for (i = 1; i < n && p[i] != ']'; i++)
            if (!is_host_char(p[i]) && p[i] != ':')
                return 400;
        if (i >= n || i == 1)
            return 400;
        i++;
    } else {
        for (;;) {
            while (i < n && is_host_char(p[i]))
                i++; /* the common case: no escape */
            if (i >= n || p[i] != '%')
                break;
            if (i + 2 >= n || !is_hex(p[i + 1]) || !is_hex(p[i + 2]))
                return 400;
            i += 3;
        }
    }
    if (i == n)
        return 0;
    if (p[i] != ':')
        return 400;
    unsigned port = 0;
    for (i++; i < n; i++) {
        if (!is_digit(p[i]))
            return 400;
        port = port * 10 + (p[i] - '0');
        if (port > 65535)
            return 400;
    }
    return 0;
}

unsigned fh__h1_connection_options(fh_str_t v) {
    unsigned opts = 0;
    size_t i = 0;
    while (i < v.len) {
        /* One list element: up to the next comma, OWS around it trimmed. */
        size_t b = i;
        while (i < v.len && v.ptr[i] != ',')
            i++;
        size_t e = i++;
        while (b < e && (v.ptr[b] == ' ' || v.ptr[b] == '\t'))
            b++;
        while (e > b && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t'))
            e--;
        fh_str_t t = { v.ptr + b, e - b };
        if (t.len == 5 && fh_str_ieq(t, FH_STR_LIT("close")))
            opts |= FH__H1_CONN_CLOSE;
        else if (t.len == 10 && fh_str_ieq(t, FH_STR_LIT("keep-alive")))
            opts |= FH__H1_CONN_KEEP_ALIVE;
        else if (t.len == 7 && fh_str_ieq(t, FH_STR_LIT("upgrade")))
            opts |= FH__H1_CONN_UPGRADE;
    }
    return opts;
}
