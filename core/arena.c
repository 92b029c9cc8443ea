/* Request arenas: bump allocation in chunks from a per-thread cache.
 *
 * Layout: an arena is a list of chunks; the first chunk also holds the
 * fh_arena struct itself, so a new arena costs one pop from the cache's free
 * list and nothing else. Allocations that would waste more than a quarter of
 * a chunk get a dedicated "large" block instead, linked into the arena and
 * freed with it. Cleanups registered with fh_arena_on_release are a singly
 * linked list allocated in the arena itself.
 *
 * Released memory is poisoned in checked builds, so that a pointer kept
 * past its request (a jansson value put in a store, a string) fails at its
 * first use instead of reading whatever the next request wrote there.
 * Under AddressSanitizer the cache keeps its counts but no memory: a
 * released chunk goes back to free() at once, where ASan poisons it and
 * keeps it in quarantine, and a chunk taken from the cache is a new one.
 * The first use of a kept pointer is then a heap-use-after-free report
 * with three stacks: the use, the release (fh_arena_release) and the
 * allocation. (Poisoning chunks kept in the cache by hand would name no
 * release, and the next request, handed the same chunk first, would
 * unpoison it before the kept pointer is used.) In other builds without
 * NDEBUG (CMAKE_BUILD_TYPE=Debug) released memory is overwritten with
 * FH__ARENA_POISON_BYTE. Release builds do neither.
 */
#include "core/arena.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define FH__ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FH__ARENA_ASAN 1
#endif
#endif

#if !defined(FH__ARENA_ASAN) && !defined(NDEBUG)
#define ARENA_SCRIBBLE(p, n) memset((p), FH__ARENA_POISON_BYTE, (n))
#else
#define ARENA_SCRIBBLE(p, n) ((void)(p), (void)(n))
#endif

struct fh_arena_cache {
    size_t chunk_size;
    size_t max_free; /* chunks kept at most */
    size_t nfree;
    fh__chunk_t *free;
};

int fh_arena_cache_new(fh_arena_cache_t **out, size_t chunk_size, size_t max_cached_bytes) {
    if (chunk_size == 0)
        chunk_size = 16384;
    if (max_cached_bytes == 0)
        max_cached_bytes = 4u << 20;
    if (chunk_size < 1024)
        return FH_EINVAL;
    fh_arena_cache_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    c->chunk_size = chunk_size;
    c->max_free = max_cached_bytes / chunk_size;
    *out = c;
    return 0;
}

void fh_arena_cache_free(fh_arena_cache_t *cache) {
    if (!cache)
        return;
    fh__chunk_t *ch = cache->free;
    while (ch) {
        fh__chunk_t *next = ch->next;
        free(ch);
        ch = next;
    }
    free(cache);
}

size_t fh__arena_cache_free_chunks(const fh_arena_cache_t *cache) { return cache->nfree; }

static fh__chunk_t *chunk_get(fh_arena_cache_t *cache) {
#ifdef FH__ARENA_ASAN
    if (cache->nfree)
        cache->nfree--; /* it holds no memory: a new chunk below */
    fh__chunk_t *ch;
#else
    fh__chunk_t *ch = cache->free;
    if (ch) {
        cache->free = ch->next;
        cache->nfree--;
        return ch;
    }
#endif
    ch = malloc(cache->chunk_size);
    if (!ch)
        return NULL;
    ch->size = cache->chunk_size;
    return ch;
}

/* The chunk header (next, size) is not scribbled on: the cache's list
 * runs through it. */
static void chunk_put(fh_arena_cache_t *cache, fh__chunk_t *ch) {
    ARENA_SCRIBBLE((char *)ch + FH__CHUNK_HDR, ch->size - FH__CHUNK_HDR);
#ifdef FH__ARENA_ASAN
    if (cache->nfree < cache->max_free)
        cache->nfree++; /* counted as kept, given to ASan's quarantine */
    free(ch);
#else
    if (cache->nfree < cache->max_free) {
        ch->next = cache->free;
        cache->free = ch;
        cache->nfree++;
    } else {
        free(ch);
    }
#endif
}

int fh_arena_new(fh_arena_t **out, fh_arena_cache_t *cache) {
    fh__chunk_t *ch = chunk_get(cache);
    if (!ch)
        return FH_ENOMEM;
    ch->next = NULL;
    fh_arena_t *a = (fh_arena_t *)((char *)ch + FH__CHUNK_HDR);
    memset(a, 0, sizeof(*a));
    a->cache = cache;
    a->chunks = ch;
    a->nchunks = 1;
    a->cur = (char *)a + FH__ALIGN_UP(sizeof(*a));
    a->end = (char *)ch + ch->size;
    a->held = ch->size;
    *out = a;
    return 0;
}

/* Room for an error answer after the budget was hit. */
#define FH__ARENA_RESERVE (64 * 1024)

void fh__arena_set_budget(fh_arena_t *a, size_t bytes) { a->budget = bytes; }

/* Whether n more bytes fit the budget; marks the arena over when not. */
static bool fits(fh_arena_t *a, size_t n) {
    if (!a->budget || (n <= a->budget && a->held <= a->budget - n))
        return true;
    a->over = true;
    return false;
}

bool fh__arena_charge(fh_arena_t *a, size_t n) {
    if (!fits(a, n))
        return false;
    a->held += n;
    return true;
}

void fh__arena_use_reserve(fh_arena_t *a) {
    if (a->budget && a->budget <= SIZE_MAX - FH__ARENA_RESERVE)
        a->budget = a->held + FH__ARENA_RESERVE;
}

void fh_arena_release(fh_arena_t *a) {
    if (!a)
        return;
    /* Cleanups first: they may still read arena memory. */
    for (fh__cleanup_t *c = a->cleanups; c; c = c->next)
        c->fn(c->data);
    fh__large_t *l = a->large;
    while (l) {
        fh__large_t *next = l->next;
        ARENA_SCRIBBLE((char *)l + FH__LARGE_HDR, l->size);
        free(l);
        l = next;
    }
    fh_arena_cache_t *cache = a->cache;
    fh__chunk_t *ch = a->chunks; /* the arena struct lives in the last one */
    while (ch) {
        fh__chunk_t *next = ch->next;
        chunk_put(cache, ch);
        ch = next;
    }
}

static void *alloc_large(fh_arena_t *a, size_t size) {
    if (size > SIZE_MAX - FH__LARGE_HDR || !fits(a, FH__LARGE_HDR + size))
        return NULL;
    fh__large_t *l = malloc(FH__LARGE_HDR + size);
    if (!l)
        return NULL;
    l->size = size;
    l->next = a->large;
    a->large = l;
    a->large_bytes += size;
    a->held += FH__LARGE_HDR + size;
    return (char *)l + FH__LARGE_HDR;
}

void *fh_arena_alloc(fh_arena_t *a, size_t size) {
    size_t need = FH__ALIGN_UP(size ? size : 1);
    if (need < size)
        return NULL; /* overflow */
    if ((size_t)(a->end - a->cur) >= need) {
        void *p = a->cur;
        a->cur += need;
        a->last = p;
        a->used += need;
        return p;
    }
    size_t payload = a->cache->chunk_size - FH__CHUNK_HDR;
    if (need > payload / 4) {
        /* Big: a dedicated block, so the current chunk's tail is not wasted. */
        void *p = alloc_large(a, size);
        if (p)
            a->used += need;
        return p;
    }
    if (!fits(a, a->cache->chunk_size))
        return NULL;
    fh__chunk_t *ch = chunk_get(a->cache);
    if (!ch)
        return NULL;
    a->held += ch->size;
    ch->next = a->chunks;
    a->chunks = ch;
    a->nchunks++;
    a->cur = (char *)ch + FH__CHUNK_HDR;
    a->end = (char *)ch + ch->size;
    void *p = a->cur;
    a->cur += need;
    a->last = p;
    a->used += need;
    return p;
}

void *fh_arena_calloc(fh_arena_t *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = fh_arena_alloc(a, n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *fh_arena_realloc(fh_arena_t *a, void *p, size_t old_size, size_t new_size) {
    if (!p)
        return fh_arena_alloc(a, new_size);
    if (p == a->last) {
        size_t old_need = FH__ALIGN_UP(old_size ? old_size : 1);
        size_t new_need = FH__ALIGN_UP(new_size ? new_size : 1);
        if (new_need >= new_size && (char *)p + new_need <= a->end) {
            a->cur = (char *)p + new_need;
            a->used = a->used - old_need + new_need;
            return p;
        }
    }
    if (new_size <= old_size)
        return p;
    void *q = fh_arena_alloc(a, new_size);
    if (q)
        memcpy(q, p, old_size);
    return q;
}

char *fh_arena_strndup(fh_arena_t *a, const char *s, size_t len) {
    char *p = fh_arena_alloc(a, len + 1);
    if (!p)
        return NULL;
    if (s && len)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *fh_arena_vsprintf(fh_arena_t *a, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    /* Try the space left in the current chunk first: one pass in the
     * common case of a short string. */
    size_t avail = (size_t)(a->end - a->cur);
    int n = vsnprintf(a->cur, avail, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return NULL;
    }
    if ((size_t)n < avail) {
        char *p = fh_arena_alloc(a, (size_t)n + 1); /* the same bytes */
        va_end(ap2);
        return p;
    }
    char *p = fh_arena_alloc(a, (size_t)n + 1);
    if (p)
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

char *fh_arena_sprintf(fh_arena_t *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *p = fh_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

int fh_arena_on_release(fh_arena_t *a, fh_arena_cleanup_fn fn, void *data) {
    fh__cleanup_t *c = fh_arena_alloc(a, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

void fh_arena_stats(const fh_arena_t *a, fh_arena_stats_t *out) {
    out->used = a->used;
    out->chunks = a->nchunks;
    out->large = a->large_bytes;
}
