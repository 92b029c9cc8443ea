/**
 * @file
 * fasthttp — serving files from a directory.
 *
 *     fh_static_t *files;
 *     int err = fh_static_new(&files, "/static", "./public", NULL);
 *     ...
 *     cfg.handler = fh_static_handle;   // or call it from your own handler
 *     cfg.handler_data = files;
 *
 * GET /static/css/app.css answers with ./public/css/app.css:
 *   - GET and HEAD only (405 with Allow otherwise);
 *   - Content-Type from the file's extension (application/octet-stream when
 *     unknown), ETag and Last-Modified, 304 for If-None-Match and
 *     If-Modified-Since, 412 for If-Match and If-Unmodified-Since;
 *   - one byte range (Range: bytes=a-b, a-, -n): 206 with Content-Range,
 *     416 when unsatisfiable; If-Range honoured; several ranges get the
 *     whole file (200), as RFC 9110 allows;
 *   - small files are read into the request's arena; larger ones are sent
 *     with sendfile(2) through fh_send_fd (stream.h), so memory does not
 *     depend on the file's size and the loop never waits for the disk;
 *   - a directory redirects to its name with a trailing slash (301), then
 *     serves its index file; without one, 404 — or an HTML listing when
 *     list_directories is on.
 *
 * Paths never leave the root. The request path is percent-decoded once; a
 * decoded NUL, a backslash or a "." or ".." segment is refused (400), and so
 * are malformed escapes. The file is opened one path segment at a time
 * below a descriptor of the root, with O_NOFOLLOW: no symbolic link is
 * followed unless symlinks is FH_STATIC_SYMLINKS_INSIDE, and then only one
 * whose resolved target is still under the root (checked on the resolved
 * path, which is opened again segment by segment without following links,
 * so a link swapped in meanwhile is refused too). Names beginning with '.'
 * are not served unless dotfiles is on (no .git or .env by accident).
 * Anything refused or missing is 404, so the answer tells nothing about
 * what lies outside.
 *
 * Open files may be cached per worker thread (cache_entries,
 * cache_valid_ms): a hot file then costs no open/stat/close, and a change
 * on disk is seen within cache_valid_ms.
 *
 * Blocking: opening and stat-ing the file (and reading a small one) happen
 * on the loop thread, as in nginx; sending a large one does not.
 */
#ifndef FASTHTTP_STATIC_H
#define FASTHTTP_STATIC_H

#include "common.h"
#include "middleware.h"
#include "request.h"
#include "response.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A static file server for one directory (opaque). */
typedef struct fh_static fh_static_t;

/** Symbolic links inside the root. */
typedef enum fh_static_symlinks {
    FH_STATIC_SYMLINKS_NEVER = 0, /**< any link on the path: 404 (default) */
    FH_STATIC_SYMLINKS_INSIDE,    /**< follow links whose target stays under root */
} fh_static_symlinks_t;

/** Options of a static file server. */
typedef struct fh_static_options {
    /** The file served for a directory; NULL = "index.html", "" = none. */
    const char *index;
    bool list_directories;         /**< HTML listing without index: off */
    bool dotfiles;                 /**< serve names beginning with '.': off */
    fh_static_symlinks_t symlinks; /**< FH_STATIC_SYMLINKS_NEVER */
    uint32_t max_age;              /**< Cache-Control: max-age=N; 0 = none */
    /** Bodies of at least this many bytes go by sendfile, smaller ones are
     * read into the arena and leave with the head in one write: 0 = 16 KiB
     * (from 16 KiB on, one copy less costs less than the second system
     * call; docs/benchmarks.md, "Static files against nginx"). */
    size_t sendfile_min;
    /** The open-file cache: each worker thread keeps up to this many
     * regular files open, with their size, modification time and ETag, so
     * that a file asked for again costs no open, stat or close. Each entry
     * holds one descriptor: the cache holds at most cache_entries
     * descriptors per worker thread (plus those of bodies still being
     * sent). The least recently used entry goes first. 0 = no cache (the
     * default); at most 1,048,576. */
    uint32_t cache_entries;
    /** How long a cached file is trusted, in milliseconds: after that the
     * next request for it opens and stats it again, so a file replaced or
     * deleted on disk is served stale for at most this long. 0 = 1000 ms. */
    uint32_t cache_valid_ms;
} fh_static_options_t;

/** Serves the directory root under the URL prefix ("/static": paths
 * "/static" and "/static/..."; "" or "/" for every path). Both strings and
 * opts (NULL: the defaults above) are copied; root is resolved and opened
 * now, so it must exist and be a directory.
 * Returns 0, FH_EINVAL (prefix not starting with '/'), FH_ENOMEM, or the
 * libuv error of opening root (FH_ENOENT, UV_ENOTDIR, UV_EACCES...). */
FH_API int fh_static_new(fh_static_t **out, const char *prefix, const char *root,
                         const fh_static_options_t *opts);
/** Frees it. Every request it handles must be over (the server stopped).
 * NULL is a no-op. */
FH_API void fh_static_free(fh_static_t *st);

/** A handler (fh_handler_fn) that answers req from the files of st (its
 * data). Paths outside the prefix get 404. Thread-safe: one fh_static_t
 * serves every worker. Returns 0 or a handler error (FH_ENOMEM). */
FH_API int fh_static_handle(fh_request_t *req, fh_response_t *res, void *st);

/** Like fh_static_handle, but leaves alone a request that is not for st:
 * outside the prefix, a method other than GET and HEAD, or naming nothing
 * that would be served (no such file, a refused link or dot-file, a
 * directory without index or listing). Returns 1 when it answered (the
 * response is final, or a file body is on its way), 0 when it left the
 * request untouched (answer it yourself: another route, an SPA's index...),
 * or a negative error. Malformed paths (bad escapes, "..") are answered
 * 400. This is the shape of a middleware's before hook (FH_STOP / FH_NEXT). */
FH_API int fh_static_try(fh_request_t *req, fh_response_t *res, const fh_static_t *st);

/** The static files middleware: a before hook that serves GET and HEAD
 * requests under prefix from root (see fh_static_new for the arguments and
 * options) and passes every other request on (FH_NEXT), exactly like
 * fh_static_try. Fills *out; add it with fh_chain_use or as a mount's or
 * route's middleware. The files' state lives in out->data and is freed by
 * fh_middleware_release(out), after the servers using it are freed.
 * Returns 0, FH_EINVAL, FH_ENOMEM or the error opening root. */
FH_API int fh_static(fh_middleware_t *out, const char *prefix, const char *root,
                     const fh_static_options_t *opts);

/** The Content-Type fasthttp uses for a file name ("app.css" →
 * "text/css; charset=utf-8"). Static string; never NULL. */
FH_API const char *fh_static_mime_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_STATIC_H */
