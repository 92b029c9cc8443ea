/* fasthttp — response compression middleware: gzip with zlib.
 *
 * The after hook compresses the finished body into the request's arena
 * when all of these hold:
 *   - the client accepts gzip: Accept-Encoding lists gzip (or x-gzip, or
 *     "*" without gzip being listed) with a q-value above 0;
 *   - the body has at least min_size bytes;
 *   - the response is not HEAD, 1xx, 204, 206 or 304, has no
 *     Content-Encoding yet and no "Cache-Control: no-transform";
 *   - its Content-Type is not an already-compressed type (skip_types);
 *   - the gzip output is smaller than the body.
 * Then Content-Encoding: gzip is set, Content-Length follows the new body,
 * and a strong ETag becomes weak (W/"..."): the bytes differ.
 * Every response that could have been compressed (the type and size
 * qualify) gets "Vary: Accept-Encoding", compressed or not, so caches keep
 * the variants apart. "identity;q=0" with gzip refused still gets the
 * identity body (RFC 9110 allows that rather than a 406).
 *
 * Each worker thread keeps one zlib stream, reset between responses: no
 * allocation per response besides the arena. After hooks run innermost
 * first, so middleware added before compression (outside it) sees the
 * compressed body, and middleware added after it sees the original.
 *
 * Built without zlib (FH_HAVE_ZLIB undefined), fh_compress_new returns
 * FH_ECONFIG.
 */
#ifndef FASTHTTP_MW_COMPRESS_H
#define FASTHTTP_MW_COMPRESS_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fh_compress_options {
    /* zlib level 1 (fast) .. 9 (small); 0 = 6. */
    int level;
    /* Smallest body compressed, in bytes: 0 = 1024. */
    size_t min_size;
    /* Content types never compressed, matched case-insensitively as
     * prefixes of the Content-Type ("image/" covers every image type),
     * NULL-terminated. NULL = the built-in list: image/ (except
     * image/svg+xml), audio/, video/, font/woff, font/woff2,
     * application/zip, application/gzip, application/x-gzip,
     * application/x-bzip2, application/x-xz, application/zstd,
     * application/x-7z-compressed, application/x-rar-compressed,
     * application/pdf, application/octet-stream. Copied. */
    const char *const *skip_types;
} fh_compress_options_t;

/* Fills *out. FH_ECONFIG names a bad field. Free with
 * fh_middleware_release after the server is freed. */
FH_API int fh_compress_new(fh_middleware_t *out, const fh_compress_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_COMPRESS_H */
