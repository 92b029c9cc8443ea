/* Internal arena details shared by the core: nothing here is public. */
#ifndef FH_CORE_ARENA_H
#define FH_CORE_ARENA_H

#include "fasthttp/arena.h"

/* Bytes of a chunk usable by allocations (after the chunk header). */
size_t fh__arena_chunk_payload(const fh_arena_cache_t *cache);
/* Number of chunks currently kept free in the cache, and mallocs made. */
size_t fh__arena_cache_free_chunks(const fh_arena_cache_t *cache);

#endif
