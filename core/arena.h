/* Internal arena details shared by the core: nothing here is public. */
#ifndef FH_CORE_ARENA_H
#define FH_CORE_ARENA_H

#include "fasthttp/arena.h"

/* The layout, shared so that the core's hot paths can bump-allocate
 * inline (fh__arena_alloc_fast); arena.c owns every other use. */
#define FH__ALIGN 16u
#define FH__ALIGN_UP(n) (((n) + (FH__ALIGN - 1)) & ~(size_t)(FH__ALIGN - 1))

typedef struct fh__chunk {
    struct fh__chunk *next;
    size_t size; /* total bytes including this header */
    /* payload follows, aligned */
} fh__chunk_t;

#define FH__CHUNK_HDR FH__ALIGN_UP(sizeof(fh__chunk_t))

/* What released arena memory is overwritten with in Debug builds without
 * AddressSanitizer (arena.c), so a pointer kept past its request reads
 * 0xdddd... at once. */
#define FH__ARENA_POISON_BYTE 0xdd

typedef struct fh__large {
    struct fh__large *next;
    size_t size;
} fh__large_t;

#define FH__LARGE_HDR FH__ALIGN_UP(sizeof(fh__large_t))

typedef struct fh__cleanup {
    struct fh__cleanup *next;
    fh_arena_cleanup_fn fn;
    void *data;
} fh__cleanup_t;

struct fh_arena {
    fh_arena_cache_t *cache;
    fh__chunk_t *chunks; /* current chunk first */
    char *cur;           /* next free byte in the current chunk */
    char *end;           /* end of the current chunk */
    char *last;          /* start of the most recent allocation (for realloc) */
    fh__large_t *large;
    fh__cleanup_t *cleanups;
    size_t used;
    size_t nchunks;
    size_t large_bytes;
    size_t budget; /* the most bytes of chunks and blocks it may hold; 0: any */
    size_t held;   /* bytes of chunks and blocks it holds */
    bool over;     /* an allocation failed for the budget */
};

/* fh_arena_alloc, with the common case (room left in the current chunk)
 * inline. size must be small enough not to overflow when aligned. */
static inline void *fh__arena_alloc_fast(fh_arena_t *a, size_t size) {
    size_t need = FH__ALIGN_UP(size ? size : 1);
    if ((size_t)(a->end - a->cur) < need)
        return fh_arena_alloc(a, size);
    void *p = a->cur;
    a->cur += need;
    a->last = p;
    a->used += need;
    return p;
}

/* The memory budget (see fh_limits_t.max_request_memory): 0 for none. An
 * allocation that would take the arena past it fails and marks it over. */
void fh__arena_set_budget(fh_arena_t *a, size_t bytes);
/* Counts n bytes held outside the arena on its behalf (jansson's tracked
 * blocks) against the budget: false, and over, when they do not fit. */
bool fh__arena_charge(fh_arena_t *a, size_t n);
/* Whether an allocation failed for the budget; once, after that, the
 * budget grows by a reserve, so that the error answer can still be made. */
static inline bool fh__arena_over(const fh_arena_t *a) { return a->over; }
void fh__arena_use_reserve(fh_arena_t *a);

/* Number of chunks currently kept free in the cache, and mallocs made. */
size_t fh__arena_cache_free_chunks(const fh_arena_cache_t *cache);

#endif
