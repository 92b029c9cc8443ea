#include "alloc_count.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* glibc's allocator under its own names. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_bool counting;
static atomic_ulong n_malloc, n_free;

static inline void count(atomic_ulong *c) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void fht_alloc_count_start(void) {
    atomic_store(&n_malloc, 0);
    atomic_store(&n_free, 0);
    atomic_store(&counting, true);
}

void fht_alloc_count_stop(void) { atomic_store(&counting, false); }

unsigned long fht_alloc_count_mallocs(void) { return atomic_load(&n_malloc); }

unsigned long fht_alloc_count_frees(void) { return atomic_load(&n_free); }

void *malloc(size_t n) {
    count(&n_malloc);
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m) {
    count(&n_malloc);
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n) {
    count(&n_malloc);
    return __libc_realloc(p, n);
}

void free(void *p) {
    if (p)
        count(&n_free);
    __libc_free(p);
}

void *memalign(size_t a, size_t n) {
    count(&n_malloc);
    return __libc_memalign(a, n);
}

void *aligned_alloc(size_t a, size_t n) {
    count(&n_malloc);
    return __libc_memalign(a, n);
}

int posix_memalign(void **out, size_t a, size_t n) {
    count(&n_malloc);
    void *p = __libc_memalign(a, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
