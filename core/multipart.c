/* multipart/form-data as a stream (include/fasthttp/multipart.h).
 *
 * The parser is a state machine over the bytes fed, which may end
 * anywhere. Data is searched for the delimiter CRLF "--" boundary with
 * memmem, and a chunk's last bytes for its start (its CR). The delimiter
 * holds no other CR, so a partial match can only begin at its own first
 * byte: bytes held back while a match is open at the end of a chunk are
 * the delimiter's own prefix, and when the match fails they are handed
 * over from the delimiter itself. Nothing is copied but header sections
 * (into hbuf) and field values (into fbuf). */
#include <fasthttp/json.h>
#include <fasthttp/multipart.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    ST_START,    /* matching "--boundary" at the body's first byte */
    ST_PREAMBLE, /* before the first delimiter: ignored */
    ST_AFTER,    /* just after a delimiter */
    ST_CLOSE,    /* after a delimiter and one '-' */
    ST_PADDING,  /* spaces and tabs after a delimiter */
    ST_LF,       /* the CR after a delimiter, its LF expected */
    ST_HEADERS,  /* a part's header section */
    ST_BODY,     /* a part's data */
    ST_EPILOGUE, /* after the final delimiter: ignored */
    ST_FINISHED, /* fh_multipart_finish succeeded */
    ST_ERROR,    /* stopped */
};

/* Where the header section is: at a line's start, inside a line, at the CR
 * ending a line, at the CR of the empty line. */
enum { H_START, H_LINE, H_CR, H_END_CR };

/* At most this many spaces and tabs after a delimiter. */
#define MAX_PADDING 256

struct fh_multipart {
    fh_multipart_limits_t lim;
    const fh_multipart_callbacks_t *cb;
    void *data;
    int state, hstate, rc;
    bool paused;
    size_t match;    /* delimiter bytes matched and held back */
    size_t dlen;     /* strlen(delim) */
    uint64_t offset; /* body bytes taken before this feed */
    uint64_t preamble, padding;
    const char *base; /* the chunk being fed */
    uint32_t parts;
    fh_multipart_part_t part;
    fh_multipart_error_t err;
    char *fbuf; /* the field value being gathered */
    size_t flen, fcap;
    size_t hlen, hline;                            /* hbuf's bytes, where its last line starts */
    char delim[4 + FH_MULTIPART_BOUNDARY_MAX + 1]; /* "\r\n--" boundary */
    char hbuf[];                                   /* max_header_bytes: the header section */
};

static const struct {
    const char *name;
    int status;
} reasons[] = {
    [FH_MULTIPART_OK] = { "ok", 200 },
    [FH_MULTIPART_NOT_FORM] = { "not_multipart", 415 },
    [FH_MULTIPART_NO_BOUNDARY] = { "no_boundary", 400 },
    [FH_MULTIPART_BAD_BOUNDARY] = { "bad_boundary", 400 },
    [FH_MULTIPART_NO_DELIMITER] = { "no_delimiter", 400 },
    [FH_MULTIPART_BAD_DELIMITER] = { "bad_delimiter", 400 },
    [FH_MULTIPART_BAD_HEADER] = { "bad_header", 400 },
    [FH_MULTIPART_HEADER_TOO_BIG] = { "header_too_big", 400 },
    [FH_MULTIPART_NO_DISPOSITION] = { "no_disposition", 400 },
    [FH_MULTIPART_BAD_DISPOSITION] = { "bad_disposition", 400 },
    [FH_MULTIPART_NO_NAME] = { "no_name", 400 },
    [FH_MULTIPART_TRUNCATED] = { "truncated", 400 },
    [FH_MULTIPART_TOO_MANY_PARTS] = { "too_many_parts", 413 },
    [FH_MULTIPART_FIELD_TOO_BIG] = { "field_too_big", 413 },
    [FH_MULTIPART_FILE_TOO_BIG] = { "file_too_big", 413 },
    [FH_MULTIPART_TOTAL_TOO_BIG] = { "total_too_big", 413 },
    [FH_MULTIPART_CALLBACK] = { "callback", 500 },
    [FH_MULTIPART_NO_MEMORY] = { "no_memory", 503 },
};

const char *fh_multipart_reason_name(fh_multipart_reason_t reason) {
    if ((unsigned)reason >= sizeof(reasons) / sizeof(reasons[0]))
        return "unknown";
    return reasons[reason].name;
}

FH_PRINTF(5, 6)
static void error_set(fh_multipart_error_t *err, fh_multipart_reason_t reason, uint64_t offset,
                      uint32_t part, const char *fmt, ...) {
    if (!err)
        return;
    err->reason = reason;
    err->status = reasons[reason].status;
    err->offset = offset;
    err->part = part;
    char text[sizeof(err->detail) - 24]; /* room for "part N: " */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (part)
        snprintf(err->detail, sizeof(err->detail), "part %u: %s", part, text);
    else
        snprintf(err->detail, sizeof(err->detail), "%s", text);
}

/* The body offset of at, a byte of the chunk being fed (NULL: where the
 * parser stands between feeds); back bytes before it. */
static uint64_t pos(const fh_multipart_t *mp, const char *at, uint64_t back) {
    uint64_t off = mp->offset + (at && mp->base ? (uint64_t)(at - mp->base) : 0);
    return off - back;
}

/* Stops the parser: FH_E2BIG for the limits, FH_ENOMEM, else FH_EINVAL;
 * off is the body offset of the byte at fault. */
FH_PRINTF(4, 5)
static int fail(fh_multipart_t *mp, fh_multipart_reason_t reason, uint64_t off, const char *fmt,
                ...) {
    uint32_t part = mp->state == ST_PREAMBLE || mp->state == ST_START ? 0 : mp->parts;
    mp->state = ST_ERROR;
    mp->rc = reasons[reason].status == 413      ? FH_E2BIG
             : reason == FH_MULTIPART_NO_MEMORY ? FH_ENOMEM
                                                : FH_EINVAL;
    char text[sizeof(mp->err.detail) - 24];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    error_set(&mp->err, reason, off, part, "%s", text);
    return mp->rc;
}

/* A callback's return: pause, go on, or stop with its code. */
static int callback_rc(fh_multipart_t *mp, int rc, const char *at) {
    if (rc == FH_MULTIPART_PAUSE)
        mp->paused = true;
    else if (rc < 0) {
        fail(mp, FH_MULTIPART_CALLBACK, pos(mp, at, 0), "the handler refused the part (%d)", rc);
        mp->rc = rc;
        return rc;
    }
    return 0;
}

/* ---- the Content-Type ------------------------------------------------------ */

static bool is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 2046's bcharsnospace, and the space. */
static bool is_bchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("'()+_,-./:=? ", c));
}

static bool ieq(const char *p, size_t n, const char *lit) {
    size_t m = strlen(lit);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++) {
        char a = p[i], b = lit[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

static const char *skip_ows(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

int fh_multipart_boundary(fh_str_t ct, fh_str_t *boundary, fh_multipart_error_t *err) {
    const char *p = ct.ptr ? ct.ptr : "", *e = p + (ct.ptr ? ct.len : 0);
    p = skip_ows(p, e);
    const char *t = p;
    while (p < e && *p != ';' && *p != ' ' && *p != '\t')
        p++;
    if (!ieq(t, (size_t)(p - t), "multipart/form-data")) {
        if (ct.ptr && ct.len)
            error_set(err, FH_MULTIPART_NOT_FORM, 0, 0,
                      "the Content-Type is \"%.*s\", not multipart/form-data",
                      (int)(ct.len > 60 ? 60 : ct.len), ct.ptr);
        else
            error_set(err, FH_MULTIPART_NOT_FORM, 0, 0,
                      "no Content-Type: multipart/form-data expected");
        return FH_EINVAL;
    }
    fh_str_t found = { NULL, 0 };
    for (;;) {
        p = skip_ows(p, e);
        if (p == e)
            break;
        if (*p != ';')
            goto malformed;
        p = skip_ows(p + 1, e);
        if (p == e)
            break;
        const char *n = p;
        while (p < e && is_tchar((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - n);
        if (nlen == 0 || p == e || *p != '=')
            goto malformed;
        p++;
        const char *v = p;
        size_t vlen;
        bool quoted = p < e && *p == '"';
        if (quoted) {
            v = ++p;
            while (p < e && *p != '"') {
                if (*p == '\\') {
                    if (ieq(n, nlen, "boundary")) {
                        error_set(err, FH_MULTIPART_BAD_BOUNDARY, 0, 0,
                                  "the boundary parameter holds a backslash");
                        return FH_EINVAL;
                    }
                    p++;
                    if (p == e)
                        goto malformed;
                }
                p++;
            }
            if (p == e)
                goto malformed;
            vlen = (size_t)(p - v);
            p++;
        } else {
            while (p < e && is_tchar((unsigned char)*p))
                p++;
            vlen = (size_t)(p - v);
        }
        if (ieq(n, nlen, "boundary")) {
            if (found.ptr) {
                error_set(err, FH_MULTIPART_BAD_BOUNDARY, 0, 0,
                          "the Content-Type has two boundary parameters");
                return FH_EINVAL;
            }
            found = (fh_str_t){ v, vlen };
        }
    }
    if (!found.ptr) {
        error_set(err, FH_MULTIPART_NO_BOUNDARY, 0, 0,
                  "the Content-Type has no boundary parameter");
        return FH_EINVAL;
    }
    if (found.len == 0 || found.len > FH_MULTIPART_BOUNDARY_MAX) {
        error_set(err, FH_MULTIPART_BAD_BOUNDARY, 0, 0,
                  "the boundary is %zu bytes long; it must be 1 to %d", found.len,
                  FH_MULTIPART_BOUNDARY_MAX);
        return FH_EINVAL;
    }
    for (size_t i = 0; i < found.len; i++) {
        if (!is_bchar((unsigned char)found.ptr[i])) {
            error_set(err, FH_MULTIPART_BAD_BOUNDARY, 0, 0,
                      "the boundary holds a byte (0x%02x) that RFC 2046 does not allow",
                      (unsigned char)found.ptr[i]);
            return FH_EINVAL;
        }
    }
    if (found.ptr[found.len - 1] == ' ') {
        error_set(err, FH_MULTIPART_BAD_BOUNDARY, 0, 0, "the boundary ends with a space");
        return FH_EINVAL;
    }
    *boundary = found;
    return 0;
malformed:
    error_set(err, FH_MULTIPART_NO_BOUNDARY, 0, 0,
              "the Content-Type's parameters are malformed (no boundary read)");
    return FH_EINVAL;
}

/* ---- the parser -------------------------------------------------------------- */

int fh_multipart_new(fh_multipart_t **out, fh_str_t content_type,
                     const fh_multipart_limits_t *limits, const fh_multipart_callbacks_t *callbacks,
                     void *data, fh_multipart_error_t *err) {
    static const fh_multipart_callbacks_t none = { NULL, NULL, NULL };
    *out = NULL;
    fh_str_t b;
    int rc = fh_multipart_boundary(content_type, &b, err);
    if (rc)
        return rc;
    fh_multipart_limits_t lim = limits ? *limits : (fh_multipart_limits_t){ 0 };
    if (!lim.max_parts)
        lim.max_parts = FH_MULTIPART_MAX_PARTS;
    if (!lim.max_header_bytes)
        lim.max_header_bytes = FH_MULTIPART_MAX_HEADER;
    if (!lim.max_field_bytes)
        lim.max_field_bytes = FH_MULTIPART_MAX_FIELD;
    if (!lim.max_file_bytes)
        lim.max_file_bytes = FH_MULTIPART_MAX_FILE;
    if (!lim.max_total_bytes)
        lim.max_total_bytes = FH_MULTIPART_MAX_TOTAL;
    fh_multipart_t *mp = malloc(sizeof(*mp) + lim.max_header_bytes);
    if (!mp) {
        error_set(err, FH_MULTIPART_NO_MEMORY, 0, 0, "out of memory");
        return FH_ENOMEM;
    }
    memset(mp, 0, sizeof(*mp));
    mp->lim = lim;
    mp->cb = callbacks ? callbacks : &none;
    mp->data = data;
    mp->state = ST_START;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, b.ptr, b.len);
    mp->dlen = 4 + b.len;
    mp->delim[mp->dlen] = '\0';
    *out = mp;
    return 0;
}

void fh_multipart_free(fh_multipart_t *mp) {
    if (!mp)
        return;
    free(mp->fbuf);
    free(mp);
}

bool fh_multipart_done(const fh_multipart_t *mp) {
    return mp->state == ST_EPILOGUE || mp->state == ST_FINISHED;
}

const fh_multipart_error_t *fh_multipart_error(const fh_multipart_t *mp) { return &mp->err; }

/* Hands n data bytes of the current part (or the preamble) over. */
static int emit(fh_multipart_t *mp, const char *p, size_t n, const char *at) {
    if (n == 0)
        return 0;
    if (mp->state == ST_PREAMBLE) {
        uint64_t room = mp->lim.max_header_bytes - mp->preamble;
        mp->preamble += n;
        if (mp->preamble > mp->lim.max_header_bytes)
            return fail(mp, FH_MULTIPART_NO_DELIMITER, pos(mp, at, n - room),
                        "no boundary delimiter \"--%s\" in the first %u bytes (is the boundary "
                        "right?)",
                        mp->delim + 4, mp->lim.max_header_bytes);
        return 0;
    }
    fh_multipart_part_t *part = &mp->part;
    if (!part->is_file) {
        if (n > mp->lim.max_field_bytes - mp->flen)
            return fail(mp, FH_MULTIPART_FIELD_TOO_BIG,
                        pos(mp, at, n - (mp->lim.max_field_bytes - mp->flen)),
                        "the value of field \"%.*s\" is larger than %u bytes",
                        (int)(part->name.len > 60 ? 60 : part->name.len), part->name.ptr,
                        mp->lim.max_field_bytes);
        if (mp->flen + n > mp->fcap) {
            size_t cap = mp->fcap ? mp->fcap : 1024;
            while (cap < mp->flen + n)
                cap *= 2;
            if (cap > mp->lim.max_field_bytes)
                cap = mp->lim.max_field_bytes;
            char *b = realloc(mp->fbuf, cap);
            if (!b)
                return fail(mp, FH_MULTIPART_NO_MEMORY, pos(mp, at, 0), "out of memory");
            mp->fbuf = b;
            mp->fcap = cap;
        }
        memcpy(mp->fbuf + mp->flen, p, n);
        mp->flen += n;
        part->size += n;
        return 0;
    }
    if (n > mp->lim.max_file_bytes - part->size)
        return fail(mp, FH_MULTIPART_FILE_TOO_BIG,
                    pos(mp, at, n - (mp->lim.max_file_bytes - part->size)),
                    "file \"%.*s\" is larger than %llu bytes",
                    (int)(part->filename.len > 60 ? 60 : part->filename.len), part->filename.ptr,
                    (unsigned long long)mp->lim.max_file_bytes);
    part->size += n;
    if (mp->cb->on_part_data)
        return callback_rc(mp, mp->cb->on_part_data(part, (fh_str_t){ p, n }, mp->data), at);
    return 0;
}

/* A whole delimiter has been read, ending at `at`. */
static int delimiter_found(fh_multipart_t *mp, const char *at) {
    bool body = mp->state == ST_BODY;
    mp->state = ST_AFTER;
    mp->padding = 0;
    if (!body)
        return 0;
    fh_str_t value =
        mp->part.is_file ? (fh_str_t){ "", 0 } : (fh_str_t){ mp->fbuf ? mp->fbuf : "", mp->flen };
    if (mp->cb->on_part_end)
        return callback_rc(mp, mp->cb->on_part_end(&mp->part, value, mp->data), at);
    return 0;
}

/* Decodes a quoted string starting at *pp (its opening quote) in place;
 * returns its end (where the decoded bytes stop) or NULL when unclosed. */
static char *unquote(char **pp, char *e, char **start) {
    char *p = *pp + 1, *w = p;
    *start = p;
    while (p < e && *p != '"') {
        if (*p == '\\') {
            if (++p == e)
                return NULL;
        }
        *w++ = *p++;
    }
    if (p == e)
        return NULL;
    *pp = p + 1;
    return w;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* RFC 8187: charset "'" [language] "'" value, decoded in place into *out
 * when the charset is UTF-8. Returns 0, 1 (another charset: ignored) or
 * -1 (malformed). */
static int ext_value(char *p, size_t n, fh_str_t *out) {
    char *e = p + n, *q1 = memchr(p, '\'', n);
    if (!q1)
        return -1;
    char *q2 = memchr(q1 + 1, '\'', (size_t)(e - q1 - 1));
    if (!q2)
        return -1;
    bool utf8 = ieq(p, (size_t)(q1 - p), "utf-8");
    char *r = q2 + 1, *w = r;
    while (r < e) {
        if (*r == '%') {
            int h, l;
            if (e - r < 3 || (h = hexval(r[1])) < 0 || (l = hexval(r[2])) < 0)
                return -1;
            *w++ = (char)(h * 16 + l);
            r += 3;
        } else if (*r == '\'') {
            return -1;
        } else {
            *w++ = *r++;
        }
    }
    if (!utf8)
        return 1;
    *out = (fh_str_t){ q2 + 1, (size_t)(w - (q2 + 1)) };
    return 0;
}

/* Content-Disposition: form-data; name="..."; filename="..." (value is in
 * hbuf: decoded in place). */
static int disposition(fh_multipart_t *mp, char *p, char *e, const char *at) {
    fh_multipart_part_t *part = &mp->part;
    char *t = p;
    while (p < e && is_tchar((unsigned char)*p))
        p++;
    if (!ieq(t, (size_t)(p - t), "form-data"))
        return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                    "the Content-Disposition type is not form-data");
    fh_str_t name = { NULL, 0 }, filename = { NULL, 0 }, star = { NULL, 0 };
    for (;;) {
        p = (char *)skip_ows(p, e);
        if (p == e)
            break;
        if (*p != ';')
            return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                        "the Content-Disposition holds junk where ';' was expected");
        p = (char *)skip_ows(p + 1, e);
        if (p == e)
            break;
        char *n = p;
        while (p < e && is_tchar((unsigned char)*p))
            p++;
        size_t nlen = (size_t)(p - n);
        if (nlen == 0 || p == e || *p != '=')
            return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                        "a Content-Disposition parameter without a value");
        p++;
        fh_str_t v;
        if (p < e && *p == '"') {
            char *start, *w = unquote(&p, e, &start);
            if (!w)
                return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                            "a quoted string in the Content-Disposition is not closed");
            v = (fh_str_t){ start, (size_t)(w - start) };
        } else {
            char *s = p;
            while (p < e && is_tchar((unsigned char)*p))
                p++;
            if (p == s)
                return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                            "a Content-Disposition parameter with an empty value");
            v = (fh_str_t){ s, (size_t)(p - s) };
        }
        fh_str_t *slot = ieq(n, nlen, "name")        ? &name
                         : ieq(n, nlen, "filename")  ? &filename
                         : ieq(n, nlen, "filename*") ? &star
                                                     : NULL;
        if (!slot)
            continue;
        if (slot->ptr)
            return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                        "the Content-Disposition parameter \"%.*s\" is given twice", (int)nlen, n);
        *slot = v;
    }
    if (star.ptr) {
        fh_str_t decoded;
        int r = ext_value((char *)star.ptr, star.len, &decoded);
        if (r < 0)
            return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                        "the filename* parameter is not charset'language'value");
        if (r == 0)
            filename = decoded;
    }
    if (!name.ptr)
        return fail(mp, FH_MULTIPART_NO_NAME, pos(mp, at, 0),
                    "the Content-Disposition has no name");
    part->name = name;
    part->filename = filename;
    part->is_file = filename.ptr != NULL;
    return 0;
}

/* The header section is complete in hbuf[0, hlen): its lines, each ended
 * by CRLF, then the empty line. */
static int headers_done(fh_multipart_t *mp, const char *at) {
    fh_multipart_part_t *part = &mp->part;
    char *p = mp->hbuf, *e = mp->hbuf + mp->hlen - 2;
    bool cd = false;
    while (p < e) {
        char *eol = memchr(p, '\r', (size_t)(e - p)); /* the checks left only CRLF pairs */
        char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, at, 0),
                        "a header line without a colon");
        for (char *c = p; c < colon; c++) {
            if (!is_tchar((unsigned char)*c))
                return fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, at, 0),
                            "a header name holds a byte (0x%02x) that is not a token's",
                            (unsigned char)*c);
        }
        if (colon == p)
            return fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, at, 0),
                        "a header line with an empty name");
        char *v = (char *)skip_ows(colon + 1, eol), *ve = eol;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (char *c = v; c < ve; c++) {
            unsigned char b = (unsigned char)*c;
            if ((b < 0x20 && b != '\t') || b == 0x7f)
                return fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, at, 0),
                            "a header value holds a control byte (0x%02x)", b);
        }
        size_t nlen = (size_t)(colon - p);
        if (ieq(p, nlen, "content-disposition")) {
            if (cd)
                return fail(mp, FH_MULTIPART_BAD_DISPOSITION, pos(mp, at, 0),
                            "Content-Disposition is given twice");
            cd = true;
            int rc = disposition(mp, v, ve, at);
            if (rc)
                return rc;
        } else if (ieq(p, nlen, "content-type")) {
            if (part->content_type.ptr)
                return fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, at, 0),
                            "Content-Type is given twice");
            part->content_type = (fh_str_t){ v, (size_t)(ve - v) };
        }
        p = eol + 2;
    }
    if (!cd)
        return fail(mp, FH_MULTIPART_NO_DISPOSITION, pos(mp, at, 0),
                    "the part has no Content-Disposition");
    mp->state = ST_BODY;
    mp->match = 0;
    mp->flen = 0;
    if (mp->cb->on_part_begin)
        return callback_rc(mp, mp->cb->on_part_begin(part, mp->data), at);
    return 0;
}

/* A part opens after its delimiter line. */
static int part_open(fh_multipart_t *mp, const char *at) {
    if (mp->parts >= mp->lim.max_parts) {
        mp->parts++;
        return fail(mp, FH_MULTIPART_TOO_MANY_PARTS, pos(mp, at, 0), "more than %u parts",
                    mp->lim.max_parts);
    }
    mp->parts++;
    memset(&mp->part, 0, sizeof(mp->part));
    mp->part.index = mp->parts;
    mp->state = ST_HEADERS;
    mp->hstate = H_START;
    mp->hlen = 0;
    mp->hline = 0;
    return 0;
}

/* Data (or preamble) from p to lim: returns where it stopped. */
static const char *scan_data(fh_multipart_t *mp, const char *p, const char *lim) {
    const char *run = p;
    if (mp->match) {
        /* A match left open at the end of the last chunk. */
        size_t k = mp->match, want = mp->dlen - k, avail = (size_t)(lim - p);
        size_t n = want < avail ? want : avail, i = 0;
        while (i < n && p[i] == mp->delim[k + i])
            i++;
        if (i == n) {
            mp->match = k + n;
            p += n;
            if (mp->match == mp->dlen) {
                mp->match = 0;
                delimiter_found(mp, p);
            }
            return p;
        }
        /* Not a delimiter: what was held back is data, the delimiter's
         * own first k + i bytes. */
        mp->match = 0;
        p += i;
        if (emit(mp, mp->delim, k + i, p) || mp->paused)
            return p;
        run = p;
    }
    /* The whole delimiter: memmem skips through data far faster than
     * stopping at each CR. Failing that, a start of it in the last bytes. */
    const char *q = memmem(p, (size_t)(lim - p), mp->delim, mp->dlen);
    size_t n = mp->dlen;
    if (!q) {
        const char *t = (size_t)(lim - p) > mp->dlen - 1 ? lim - (mp->dlen - 1) : p;
        for (q = memchr(t, '\r', (size_t)(lim - t)); q;
             q = memchr(q + 1, '\r', (size_t)(lim - q - 1))) {
            n = (size_t)(lim - q);
            if (memcmp(q, mp->delim, n) == 0)
                break;
        }
        if (!q) {
            emit(mp, run, (size_t)(lim - run), lim);
            return lim;
        }
    }
    if (emit(mp, run, (size_t)(q - run), q) || mp->paused)
        return q;
    if (n < mp->dlen) {
        mp->match = n; /* held back: the delimiter's own first n bytes */
        return lim;
    }
    delimiter_found(mp, q + n);
    return q + n;
}

/* A header section's bytes from p to lim: returns where it stopped. */
static const char *scan_headers(fh_multipart_t *mp, const char *p, const char *lim) {
    while (p < lim) {
        char c = *p;
        if (mp->hlen >= mp->lim.max_header_bytes) {
            fail(mp, FH_MULTIPART_HEADER_TOO_BIG, pos(mp, p, 0),
                 "the header section is larger than %u bytes", mp->lim.max_header_bytes);
            return p;
        }
        mp->hbuf[mp->hlen++] = c;
        switch (mp->hstate) {
        case H_START:
            if (c == '\r')
                mp->hstate = H_END_CR;
            else if (c == ' ' || c == '\t') {
                fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, p, 0),
                     "a header line starts with whitespace (folding is not allowed)");
                return p;
            } else if (c == '\n')
                goto bare_lf;
            else
                mp->hstate = H_LINE;
            break;
        case H_LINE:
            if (c == '\r')
                mp->hstate = H_CR;
            else if (c == '\n')
                goto bare_lf;
            break;
        case H_CR:
            if (c != '\n')
                goto bare_cr;
            /* A line without a colon is refused at once, not at the
             * section's end (which a junk section may never reach). */
            if (!memchr(mp->hbuf + mp->hline, ':', mp->hlen - 2 - mp->hline)) {
                fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, p, 0), "a header line without a colon");
                return p;
            }
            mp->hline = mp->hlen;
            mp->hstate = H_START;
            break;
        case H_END_CR:
            if (c != '\n')
                goto bare_cr;
            p++;
            headers_done(mp, p);
            return p;
        }
        p++;
    }
    return p;
bare_lf:
    fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, p, 0),
         "a header line ends with a bare LF (CRLF expected)");
    return p;
bare_cr:
    fail(mp, FH_MULTIPART_BAD_HEADER, pos(mp, p, 0),
         "a CR in the header section is not followed by LF");
    return p;
}

int fh_multipart_feed(fh_multipart_t *mp, fh_str_t chunk, size_t *consumed) {
    if (consumed)
        *consumed = 0;
    if (mp->state == ST_ERROR)
        return mp->rc;
    if (mp->state == ST_FINISHED)
        return FH_ESTATE;
    mp->paused = false;
    mp->base = chunk.ptr;
    const char *p = chunk.ptr, *end = p + chunk.len, *lim = end;
    uint64_t room = mp->lim.max_total_bytes - mp->offset;
    if (chunk.len > room)
        lim = p + room;
    while (p < lim && !mp->paused && mp->state != ST_ERROR) {
        char c = *p;
        switch (mp->state) {
        case ST_START: {
            size_t k = mp->match, want = mp->dlen - 2 - k, avail = (size_t)(lim - p);
            size_t n = want < avail ? want : avail, i = 0;
            while (i < n && p[i] == mp->delim[2 + k + i])
                i++;
            if (i == n) {
                p += n;
                mp->match = k + n;
                if (mp->match == mp->dlen - 2) {
                    mp->match = 0;
                    delimiter_found(mp, p);
                }
            } else {
                /* A preamble: the bytes matched so far are its own. */
                mp->match = 0;
                mp->state = ST_PREAMBLE;
                p += i;
                emit(mp, mp->delim + 2, k + i, p);
            }
            break;
        }
        case ST_PREAMBLE:
        case ST_BODY: p = scan_data(mp, p, lim); break;
        case ST_AFTER:
        case ST_PADDING:
            if (c == '-' && mp->state == ST_AFTER) {
                mp->state = ST_CLOSE;
            } else if (c == ' ' || c == '\t') {
                mp->state = ST_PADDING;
                if (++mp->padding > MAX_PADDING) {
                    fail(mp, FH_MULTIPART_BAD_DELIMITER, pos(mp, p, 0),
                         "more than %d spaces after a boundary delimiter", MAX_PADDING);
                    break;
                }
            } else if (c == '\r') {
                mp->state = ST_LF;
            } else {
                fail(mp, FH_MULTIPART_BAD_DELIMITER, pos(mp, p, 0),
                     "junk after a boundary delimiter (CRLF or \"--\" expected)");
                break;
            }
            p++;
            break;
        case ST_CLOSE:
            if (c != '-') {
                fail(mp, FH_MULTIPART_BAD_DELIMITER, pos(mp, p, 0),
                     "junk after a boundary delimiter (CRLF or \"--\" expected)");
                break;
            }
            mp->state = ST_EPILOGUE;
            p++;
            break;
        case ST_LF:
            if (c != '\n') {
                fail(mp, FH_MULTIPART_BAD_DELIMITER, pos(mp, p, 0),
                     "a boundary delimiter's line ends with a CR without LF");
                break;
            }
            p++;
            part_open(mp, p);
            break;
        case ST_HEADERS: p = scan_headers(mp, p, lim); break;
        case ST_EPILOGUE: p = lim; break;
        }
    }
    if (consumed)
        *consumed = (size_t)(p - chunk.ptr);
    mp->offset += (uint64_t)(p - chunk.ptr);
    mp->base = NULL;
    if (mp->state == ST_ERROR)
        return mp->rc;
    if (mp->paused)
        return FH_MULTIPART_PAUSED;
    if (lim < end) {
        mp->base = NULL;
        return fail(mp, FH_MULTIPART_TOTAL_TOO_BIG, pos(mp, NULL, 0),
                    "the body is larger than %llu bytes",
                    (unsigned long long)mp->lim.max_total_bytes);
    }
    return 0;
}

int fh_multipart_finish(fh_multipart_t *mp) {
    switch (mp->state) {
    case ST_ERROR: return mp->rc;
    case ST_EPILOGUE:
    case ST_FINISHED: mp->state = ST_FINISHED; return 0;
    case ST_START:
    case ST_PREAMBLE:
        if (mp->offset == 0)
            return fail(mp, FH_MULTIPART_NO_DELIMITER, pos(mp, NULL, 0), "the body is empty");
        return fail(mp, FH_MULTIPART_NO_DELIMITER, pos(mp, NULL, 0),
                    "the body holds no boundary delimiter \"--%s\"", mp->delim + 4);
    default:
        return fail(mp, FH_MULTIPART_TRUNCATED, pos(mp, NULL, 0),
                    "the body ends before the final boundary \"--%s--\"", mp->delim + 4);
    }
}

int fh_multipart_send_error(fh_response_t *res, const fh_multipart_error_t *err) {
    json_t *extra = json_pack("{s:s, s:I, s:I}", "reason", fh_multipart_reason_name(err->reason),
                              "offset", (json_int_t)err->offset, "part", (json_int_t)err->part);
    if (err->status == 415)
        fh_response_header(res, "Accept", "multipart/form-data");
    int rc = fh_send_problem(res, err->status ? err->status : 400, NULL, err->detail, extra);
    json_decref(extra);
    return rc;
}

/* ---- filenames --------------------------------------------------------------- */

/* The length of the UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len;
    uint32_t min, cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

int fh_multipart_filename_sanitize(fh_str_t filename, char out[FH_MULTIPART_FILENAME_MAX + 1],
                                   const char **why) {
    const char *reason;
    out[0] = '\0';
    if (!filename.ptr || filename.len == 0) {
        reason = "the filename is empty";
        goto refuse;
    }
    const unsigned char *s = (const unsigned char *)filename.ptr;
    size_t base = 0;
    for (size_t i = 0; i < filename.len;) {
        unsigned char c = s[i];
        if (c == 0) {
            reason = "the filename holds a NUL byte";
            goto refuse;
        }
        if (c < 0x20 || c == 0x7f) {
            reason = "the filename holds a control byte";
            goto refuse;
        }
        size_t n = utf8_len(s + i, filename.len - i);
        if (!n) {
            reason = "the filename is not valid UTF-8";
            goto refuse;
        }
        if (c == '/' || c == '\\')
            base = i + 1;
        i += n;
    }
    size_t b = base, e = filename.len;
    while (b < e && (s[b] == '.' || s[b] == ' '))
        b++;
    while (e > b && (s[e - 1] == '.' || s[e - 1] == ' '))
        e--;
    if (b == e) {
        reason = "no name is left once directories and leading dots are removed";
        goto refuse;
    }
    if (e - b > FH_MULTIPART_FILENAME_MAX) {
        reason = "the filename is longer than 255 bytes";
        goto refuse;
    }
    memcpy(out, s + b, e - b);
    out[e - b] = '\0';
    return 0;
refuse:
    if (why)
        *why = reason;
    return FH_EINVAL;
}
