/* libFuzzer target for the multipart/form-data parser (core/multipart.c).
 *
 * Input: byte 0 picks the boundary (bit 7 set: the next (byte 0 & 63)
 * bytes are the boundary, else "XyZ"), byte 1 the limits, bytes 2-3 the
 * seed of the split points and of the callbacks' pauses; the rest is the
 * body.
 *
 * What must hold for any input: the body fed whole and fed in random
 * pieces, with callbacks pausing at random, gives the same parts (a hash of
 * every event) when it is well formed, the same result and the same error
 * (reason, offset, part) when it is not;
 * the result is 0, FH_EINVAL or FH_E2BIG with a status, a sentence and an
 * offset inside the body; no field is longer than max_field_bytes, no file
 * than max_file_bytes, no more parts than max_parts; every filename the
 * sanitizer accepts is one safe segment.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fasthttp.h>

typedef struct run {
    uint64_t hash;
    uint32_t rng;
    int pause_rate; /* out of 8 */
    fh_multipart_limits_t lim;
    uint32_t parts;
} run_t;

static uint32_t next(uint32_t *s) {
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void mix(run_t *r, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ b[i]) * 1099511628211ull;
}

static int ret(run_t *r) {
    return (int)(next(&r->rng) % 8) < r->pause_rate ? FH_MULTIPART_PAUSE : FH_MULTIPART_CONTINUE;
}

static void check_filename(fh_str_t name) {
    char out[FH_MULTIPART_FILENAME_MAX + 1];
    const char *why = NULL;
    if (fh_multipart_filename_sanitize(name, out, &why) != 0) {
        if (!why || out[0])
            abort();
        return;
    }
    size_t n = strlen(out);
    if (n == 0 || n > FH_MULTIPART_FILENAME_MAX || out[0] == '.' || out[0] == ' ' ||
        out[n - 1] == '.' || out[n - 1] == ' ')
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
            abort();
    }
}

static int on_begin(const fh_multipart_part_t *p, void *data) {
    run_t *r = data;
    r->parts++;
    if (r->parts > r->lim.max_parts || p->index != r->parts || !p->name.ptr || p->size)
        abort();
    mix(r, "B", 1);
    mix(r, p->name.ptr, p->name.len);
    mix(r, &p->is_file, 1);
    if (p->is_file != (p->filename.ptr != NULL))
        abort();
    if (p->filename.ptr) {
        mix(r, p->filename.ptr, p->filename.len);
        check_filename(p->filename);
    }
    if (p->content_type.ptr)
        mix(r, p->content_type.ptr, p->content_type.len);
    return ret(r);
}

static int on_data(const fh_multipart_part_t *p, fh_str_t chunk, void *data) {
    run_t *r = data;
    if (!p->is_file || chunk.len == 0 || p->size > r->lim.max_file_bytes)
        abort();
    mix(r, chunk.ptr, chunk.len); /* the bytes, not the pieces: split-free */
    return ret(r);
}

static int on_end(const fh_multipart_part_t *p, fh_str_t value, void *data) {
    run_t *r = data;
    if (!p->is_file && (value.len != p->size || value.len > r->lim.max_field_bytes))
        abort();
    if (p->is_file && value.len)
        abort();
    mix(r, "E", 1);
    mix(r, value.ptr, value.len);
    mix(r, &p->size, sizeof(p->size));
    return ret(r);
}

static const fh_multipart_callbacks_t cbs = { on_begin, on_data, on_end };

/* Feeds body in pieces of random sizes (max_piece 0: whole), refeeding
 * what a pause left; returns the result and the error. */
static int feed(const char *ct, const char *body, size_t len, run_t *r, size_t max_piece,
                fh_multipart_error_t *err) {
    fh_multipart_t *mp;
    if (fh_multipart_new(&mp, fh_str(ct), &r->lim, &cbs, r, err) != 0)
        abort(); /* the boundary was checked */
    int rc = 0;
    size_t off = 0;
    while (off < len) {
        size_t piece = max_piece ? 1 + next(&r->rng) % max_piece : len - off;
        if (piece > len - off)
            piece = len - off;
        size_t used = 0;
        rc = fh_multipart_feed(mp, (fh_str_t){ body + off, piece }, &used);
        if (used > piece)
            abort();
        if (rc < 0)
            break;
        if (rc == 0 && used != piece)
            abort();
        if (rc != 0 && rc != FH_MULTIPART_PAUSED)
            abort();
        off += used;
    }
    if (rc >= 0)
        rc = fh_multipart_finish(mp);
    *err = *fh_multipart_error(mp);
    /* A stopped parser stays stopped. */
    if (rc < 0 && fh_multipart_feed(mp, (fh_str_t){ "x", 1 }, NULL) != rc)
        abort();
    fh_multipart_free(mp);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || size > 65536)
        return 0;
    char ct[128] = "multipart/form-data; boundary=";
    size_t at = 4;
    if (data[0] & 0x80) {
        size_t n = data[0] & 63;
        if (n > size - at)
            return 0;
        size_t l = strlen(ct);
        ct[l] = '"';
        memcpy(ct + l + 1, data + at, n);
        ct[l + 1 + n] = '"';
        ct[l + 2 + n] = '\0';
        at += n;
        fh_str_t b;
        fh_multipart_error_t err;
        if (memchr(data + 4, '\0', n))
            return 0; /* a C string cannot carry it */
        if (fh_multipart_boundary(fh_str(ct), &b, &err) != 0) {
            if (err.status != 400 || !err.detail[0])
                abort();
            return 0;
        }
    } else {
        strcat(ct, "XyZ");
    }
    run_t base = { 0 };
    unsigned l = data[1];
    base.lim.max_parts = 1 + (l & 7) * 3;
    base.lim.max_header_bytes = 16u << ((l >> 3) & 7);
    base.lim.max_field_bytes = 1u + ((l >> 6) & 3) * 100;
    base.lim.max_file_bytes = (l & 0x20) ? 5000 : 50;
    base.lim.max_total_bytes = (l & 0x10) ? size : UINT64_MAX;
    const char *body = (const char *)data + at;
    size_t len = size - at;

    run_t whole = base;
    whole.hash = 14695981039346656037ull;
    fh_multipart_error_t e1, e2;
    int rc1 = feed(ct, body, len, &whole, 0, &e1);
    if (rc1 != 0 && rc1 != FH_EINVAL && rc1 != FH_E2BIG)
        abort();
    if (rc1 != 0) {
        if (e1.reason == FH_MULTIPART_OK || !e1.detail[0] || e1.offset > len ||
            e1.status != (rc1 == FH_E2BIG ? 413 : 400))
            abort();
    }
    run_t split = base;
    split.hash = 14695981039346656037ull;
    split.rng = (uint32_t)data[2] << 8 | data[3];
    split.pause_rate = data[3] & 7;
    int rc2 = feed(ct, body, len, &split, 1 + data[2] % 64, &e2);
    /* On an error, what was handed over before it depends on the pieces
     * (a file's bytes before its limit, say): only the error must agree. */
    bool same_parts = rc1 != 0 || (whole.hash == split.hash && whole.parts == split.parts);
    if (rc1 != rc2 || !same_parts || e1.reason != e2.reason || e1.offset != e2.offset ||
        e1.part != e2.part) {
        fprintf(stderr,
                "whole: rc %d %s at %llu part %u \"%s\"\nsplit: rc %d %s at %llu part %u \"%s\"\n",
                rc1, fh_multipart_reason_name(e1.reason), (unsigned long long)e1.offset, e1.part,
                e1.detail, rc2, fh_multipart_reason_name(e2.reason), (unsigned long long)e2.offset,
                e2.part, e2.detail);
        abort();
    }
    return 0;
}
