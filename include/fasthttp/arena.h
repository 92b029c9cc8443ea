/**
 * @file
 * fasthttp — arenas: bump allocation released as a unit.
 *
 * Every request owns an arena. Everything allocated from it (parsed headers,
 * route params, decoded strings, the response bytes and whatever a handler
 * asks for through fh_alloc/fh_strdup/fh_sprintf in request.h) stays valid
 * until the response has been written to the socket — not merely until the
 * handler returns — and is then released at once. Nothing in an arena is
 * freed one by one; there is no fh_free.
 *
 * Arenas take fixed-size chunks from a per-thread cache, which is refilled
 * with malloc (tcmalloc's when the library is linked with it). A request in
 * steady state therefore makes no malloc or free call at all. Allocations
 * larger than a chunk get a dedicated block, freed with the arena.
 *
 * Arenas are not thread-safe: use one from the thread that owns it (for a
 * request, its loop's thread).
 *
 * Checked builds make a pointer kept past its arena fail at its first use.
 * Built with AddressSanitizer (FH_SANITIZE=address,...), a released arena
 * gives its chunks back to the allocator instead of the cache, so the use
 * is a heap-use-after-free report with the stacks of the use, of
 * fh_arena_release and of the allocation. In other builds without NDEBUG
 * (CMAKE_BUILD_TYPE=Debug) released memory is overwritten with 0xdd bytes.
 * Release builds do neither.
 */
#ifndef FASTHTTP_ARENA_H
#define FASTHTTP_ARENA_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An arena (opaque). */
typedef struct fh_arena fh_arena_t;
/** A per-thread cache of free arena chunks (opaque). */
typedef struct fh_arena_cache fh_arena_cache_t;

/** Called when the arena is released, in reverse order of registration,
 * before its memory goes away (close a file, drop a reference...). */
typedef void (*fh_arena_cleanup_fn)(void *data);

/** A chunk cache: chunk_size bytes per chunk (0 = 16 KiB), keeping at most
 * max_cached_bytes of free chunks (0 = 4 MiB). The cache must outlive every
 * arena made from it. */
FH_API int fh_arena_cache_new(fh_arena_cache_t **out, size_t chunk_size, size_t max_cached_bytes);
/** Frees the cached chunks and the cache. Every arena must be released. */
FH_API void fh_arena_cache_free(fh_arena_cache_t *cache);

/** A new, empty arena whose chunks come from cache. */
FH_API int fh_arena_new(fh_arena_t **out, fh_arena_cache_t *cache);
/** Runs the cleanups, returns chunks to the cache and frees large blocks.
 * Every pointer the arena handed out becomes invalid. NULL is a no-op. */
FH_API void fh_arena_release(fh_arena_t *arena);

/** size bytes aligned to 16 (max_align_t), or NULL when out of memory.
 * size 0 returns a valid unique pointer. */
FH_API void *fh_arena_alloc(fh_arena_t *arena, size_t size);
/** Like fh_arena_alloc, zero-filled. */
FH_API void *fh_arena_calloc(fh_arena_t *arena, size_t n, size_t size);
/** Grows the most recent allocation p (of old_size bytes) in place when it is
 * the last one made, else copies. NULL when out of memory (p stays valid). */
FH_API void *fh_arena_realloc(fh_arena_t *arena, void *p, size_t old_size, size_t new_size);
/** A NUL-terminated copy of the view in the arena; NULL when out of memory.
 * An absent view gives an empty string. */
FH_API char *fh_arena_strndup(fh_arena_t *arena, const char *s, size_t len);
/** @{ */
/** printf into the arena; NULL when out of memory or on a format error. */
FH_API char *fh_arena_sprintf(fh_arena_t *arena, const char *fmt, ...) FH_PRINTF(2, 3);
FH_API char *fh_arena_vsprintf(fh_arena_t *arena, const char *fmt, va_list ap);
/** @} */
/** Registers fn(data) to run when the arena is released. */
FH_API int fh_arena_on_release(fh_arena_t *arena, fh_arena_cleanup_fn fn, void *data);

/** @{ */
/** Usage counters, for tracing and tests. */
typedef struct fh_arena_stats {
    size_t used;   /**< bytes handed out, alignment included */
    size_t chunks; /**< chunks held */
    size_t large;  /**< bytes in dedicated large blocks */
} fh_arena_stats_t;
/** @copydoc fh_arena_stats_t */
FH_API void fh_arena_stats(const fh_arena_t *arena, fh_arena_stats_t *out);
/** @} */

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_ARENA_H */
