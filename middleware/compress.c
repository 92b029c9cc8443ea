/* Compression: gzip the finished body in an after hook, with one zlib
 * stream per worker thread. */
#include <stdlib.h>

#include "middleware/mw.h"

#ifdef FH_HAVE_ZLIB
#include <zlib.h>

typedef struct compress {
    int level;
    size_t min_size;
    char **skip;
    size_t nskip;
    bool builtin_skip; /* the default list, with its image/svg+xml exception */
    fh__perloop_t loops;
} compress_t;

static const char *const default_skip[] = {
    "image/",
    "audio/",
    "video/",
    "font/woff",
    "font/woff2",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "application/x-bzip2",
    "application/x-xz",
    "application/zstd",
    "application/x-7z-compressed",
    "application/x-rar-compressed",
    "application/pdf",
    "application/octet-stream",
    NULL,
};

static void *stream_create(void *owner, uv_loop_t *loop) {
    (void)loop;
    compress_t *c = owner;
    z_stream *z = calloc(1, sizeof(*z));
    if (!z)
        return NULL;
    /* 15 + 16: a 32 KiB window with a gzip header and trailer. */
    if (deflateInit2(z, c->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

static void stream_destroy(void *owner, void *state) {
    (void)owner;
    deflateEnd(state);
    free(state);
}

/* A q-value ("0", "0.5", "1.000") as thousandths; -1 when malformed. */
static int parse_q(fh_str_t v) {
    if (v.len == 0 || (v.ptr[0] != '0' && v.ptr[0] != '1'))
        return -1;
    int q = (v.ptr[0] - '0') * 1000;
    if (v.len == 1)
        return q;
    if (v.ptr[1] != '.' || v.len > 5)
        return -1;
    int scale = 100;
    for (size_t i = 2; i < v.len; i++, scale /= 10) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        q += (v.ptr[i] - '0') * scale;
    }
    return q > 1000 ? -1 : q;
}

static fh_str_t trim(fh_str_t s) {
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t'))
        s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* Whether Accept-Encoding allows gzip: an explicit gzip/x-gzip entry
 * decides; else "*" does; else no. */
static bool accepts_gzip(fh_str_t ae) {
    int gzip_q = -1, star_q = -1;
    size_t i = 0;
    while (ae.ptr && i < ae.len) {
        size_t end = i;
        while (end < ae.len && ae.ptr[end] != ',')
            end++;
        fh_str_t item = { ae.ptr + i, end - i };
        i = end + 1;
        const char *semi = memchr(item.ptr, ';', item.len);
        fh_str_t coding = trim((fh_str_t){ item.ptr, semi ? (size_t)(semi - item.ptr) : item.len });
        int q = 1000;
        while (semi) {
            /* Parameters: only q matters. */
            const char *p = semi + 1;
            const char *stop = item.ptr + item.len;
            const char *next = memchr(p, ';', (size_t)(stop - p));
            fh_str_t param = trim((fh_str_t){ p, (size_t)((next ? next : stop) - p) });
            if (param.len >= 2 && (param.ptr[0] == 'q' || param.ptr[0] == 'Q') &&
                param.ptr[1] == '=')
                q = parse_q(trim((fh_str_t){ param.ptr + 2, param.len - 2 }));
            semi = next;
        }
        if (q < 0)
            continue; /* malformed entry: ignored */
        if (fh_str_ieq(coding, FH_STR_LIT("gzip")) || fh_str_ieq(coding, FH_STR_LIT("x-gzip")))
            gzip_q = q > gzip_q ? q : gzip_q;
        else if (coding.len == 1 && coding.ptr[0] == '*')
            star_q = q;
    }
    if (gzip_q >= 0)
        return gzip_q > 0;
    return star_q > 0;
}

static bool type_skipped(const compress_t *c, fh_str_t type) {
    if (!type.ptr)
        return false;
    if (c->builtin_skip && type.len >= 13 &&
        fh_str_ieq((fh_str_t){ type.ptr, 13 }, FH_STR_LIT("image/svg+xml")))
        return false;
    for (size_t i = 0; i < c->nskip; i++) {
        size_t n = strlen(c->skip[i]);
        if (type.len >= n && fh_str_ieq((fh_str_t){ type.ptr, n }, (fh_str_t){ c->skip[i], n }))
            return true;
    }
    return false;
}

static void compress_after(fh_request_t *req, fh_response_t *res, void *data) {
    compress_t *c = data;
    int status = fh_response_get_status(res);
    if (status < 200 || status == 204 || status == 206 || status == 304)
        return;
    fh_str_t body = fh_response_get_body(res);
    if (body.len < c->min_size || fh_response_header_get(res, "Content-Encoding").ptr ||
        fh_response_header_get(res, "Content-Range").ptr ||
        type_skipped(c, fh_response_header_get(res, "Content-Type")))
        return;
    fh_str_t cc = fh_response_header_get(res, "Cache-Control");
    if (cc.ptr && fh__mw_list_has(cc, FH_STR_LIT("no-transform")))
        return;
    /* From here the representation depends on Accept-Encoding. */
    fh__mw_vary_add(res, FH_STR_LIT("Accept-Encoding"));
    if (fh_request_method_id(req) == FH_METHOD_HEAD ||
        !accepts_gzip(fh_request_header(req, "Accept-Encoding")))
        return;
    z_stream *z = fh__perloop_get(&c->loops, fh_request_loop(req));
    if (!z || body.len > 0x7fffffffu || deflateReset(z) != Z_OK)
        return;
    uLong bound = deflateBound(z, (uLong)body.len);
    Bytef *out = fh_alloc(req, bound);
    if (!out)
        return;
    z->next_in = (Bytef *)body.ptr;
    z->avail_in = (uInt)body.len;
    z->next_out = out;
    z->avail_out = (uInt)bound;
    if (deflate(z, Z_FINISH) != Z_STREAM_END || z->total_out >= body.len)
        return;
    if (fh_response_header(res, "Content-Encoding", "gzip") != 0)
        return;
    fh_response_body_borrow(res, out, z->total_out);
    fh_str_t etag = fh_response_header_get(res, "ETag");
    if (etag.ptr && etag.len && etag.ptr[0] == '"') {
        char *weak = fh_sprintf(req, "W/%.*s", FH_STR_FMT(etag));
        if (weak)
            fh_response_header_set(res, "ETag", weak);
    }
}

static void compress_release(void *data) {
    compress_t *c = data;
    if (!c)
        return;
    fh__perloop_free(&c->loops);
    for (size_t i = 0; i < c->nskip; i++)
        free(c->skip[i]);
    free(c->skip);
    free(c);
}

int fh_compress_new(fh_middleware_t *out, const fh_compress_options_t *opt) {
    static const fh_compress_options_t defaults = { 0 };
    memset(out, 0, sizeof(*out));
    if (!opt)
        opt = &defaults;
    if (opt->level < 0 || opt->level > 9)
        return fh__mw_fail(FH_ECONFIG, "compress.level: %d is not 1..9 (0 = 6)", opt->level);
    const char *const *skip = opt->skip_types ? opt->skip_types : default_skip;
    size_t n = 0;
    for (; skip[n]; n++)
        if (!skip[n][0] || !fh__mw_is_field_value(skip[n]))
            return fh__mw_fail(FH_ECONFIG, "compress.skip_types[%zu]: not a content type", n);
    compress_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    c->level = opt->level ? opt->level : 6;
    c->min_size = opt->min_size ? opt->min_size : 1024;
    c->builtin_skip = !opt->skip_types;
    c->skip = calloc(n ? n : 1, sizeof(char *));
    if (!c->skip)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        if (!(c->skip[i] = strdup(skip[i])))
            goto nomem;
        c->nskip++;
    }
    if (fh__perloop_init(&c->loops, 256, stream_create, stream_destroy, c) != 0)
        goto nomem;
    out->name = "compress";
    out->after = compress_after;
    out->data = c;
    out->release = compress_release;
    fh__mw_ok();
    return 0;
nomem:
    compress_release(c);
    return FH_ENOMEM;
}

#else /* !FH_HAVE_ZLIB */

int fh_compress_new(fh_middleware_t *out, const fh_compress_options_t *opt) {
    (void)opt;
    memset(out, 0, sizeof(*out));
    return fh__mw_fail(FH_ECONFIG,
                       "compress: fasthttp was built without zlib (install zlib1g-dev)");
}

#endif
