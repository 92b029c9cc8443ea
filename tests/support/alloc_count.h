/* A counting allocator. A program that links alloc_count.c has malloc,
 * calloc, realloc, free, memalign, aligned_alloc and posix_memalign replaced
 * for the whole process (libuv's, llhttp's, jansson's and libc's own calls
 * included) by functions that count each call, while counting is on, and go
 * on to glibc's allocator. Only for programs that link it on purpose (the
 * zero-malloc tests, bench_router); never under a sanitizer, which owns
 * malloc itself. */
#ifndef FH_TEST_ALLOC_COUNT_H
#define FH_TEST_ALLOC_COUNT_H

/* Sets both counts to 0 and turns counting on (it starts off). */
void fht_alloc_count_start(void);
/* Turns counting off; the counts keep their values. */
void fht_alloc_count_stop(void);
/* Calls that allocate (malloc, calloc, realloc, memalign, aligned_alloc,
 * posix_memalign), and calls of free with a pointer that is not NULL,
 * counted since fht_alloc_count_start. Any thread may read them. */
unsigned long fht_alloc_count_mallocs(void);
unsigned long fht_alloc_count_frees(void);

#endif
