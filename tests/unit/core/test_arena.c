/* Arena: alignment, growth across chunks, large blocks, realloc in place,
 * printf, cleanups, and chunk reuse through the cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"

static fh_arena_cache_t *cache;

static int setup(void **state) {
    (void)state;
    return fh_arena_cache_new(&cache, 4096, 64 * 4096);
}

static int teardown(void **state) {
    (void)state;
    fh_arena_cache_free(cache);
    return 0;
}

static void test_alignment_and_distinct(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    char *prev = NULL;
    for (int i = 1; i < 200; i++) {
        char *p = fh_arena_alloc(a, (size_t)i);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)i);
        assert_ptr_not_equal(p, prev);
        prev = p;
    }
    char *z1 = fh_arena_alloc(a, 0), *z2 = fh_arena_alloc(a, 0);
    assert_non_null(z1);
    assert_ptr_not_equal(z1, z2);
    fh_arena_stats_t st;
    fh_arena_stats(a, &st);
    assert_true(st.chunks > 1); /* 200 small allocations exceed one 4 KiB chunk */
    fh_arena_release(a);
}

static void test_large_blocks(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    char *big = fh_arena_alloc(a, 1 << 20);
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    fh_arena_stats_t st;
    fh_arena_stats(a, &st);
    assert_int_equal(st.large, 1 << 20);
    assert_int_equal(st.chunks, 1);
    assert_null(fh_arena_alloc(a, SIZE_MAX - 4));
    fh_arena_release(a);
}

static void test_realloc_in_place(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    char *p = fh_arena_alloc(a, 32);
    memcpy(p, "0123456789", 10);
    char *q = fh_arena_realloc(a, p, 32, 256);
    assert_ptr_equal(p, q); /* the last allocation grows where it is */
    char *other = fh_arena_alloc(a, 8);
    (void)other;
    char *r = fh_arena_realloc(a, q, 256, 512);
    assert_ptr_not_equal(r, q); /* not the last one any more: copied */
    assert_memory_equal(r, "0123456789", 10);
    fh_arena_release(a);
}

static void test_strings(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    char *s = fh_arena_sprintf(a, "%s-%d", "id", 42);
    assert_string_equal(s, "id-42");
    char long_fmt[6000];
    memset(long_fmt, 'x', sizeof(long_fmt) - 1);
    long_fmt[sizeof(long_fmt) - 1] = '\0';
    char *l = fh_arena_sprintf(a, "%s!", long_fmt);
    assert_int_equal(strlen(l), sizeof(long_fmt));
    assert_int_equal(l[sizeof(long_fmt) - 1], '!');
    char *d = fh_arena_strndup(a, "abcdef", 3);
    assert_string_equal(d, "abc");
    assert_string_equal(fh_arena_strndup(a, NULL, 0), "");
    fh_arena_release(a);
}

static int cleanup_order[4];
static int cleanup_n;
static void cleanup(void *data) { cleanup_order[cleanup_n++] = (int)(intptr_t)data; }

static void test_cleanups_reverse_order(void **state) {
    (void)state;
    fh_arena_t *a;
    cleanup_n = 0;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    for (intptr_t i = 1; i <= 3; i++)
        assert_int_equal(fh_arena_on_release(a, cleanup, (void *)i), 0);
    fh_arena_release(a);
    assert_int_equal(cleanup_n, 3);
    assert_int_equal(cleanup_order[0], 3);
    assert_int_equal(cleanup_order[2], 1);
}

static void test_chunks_are_reused(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    for (int i = 0; i < 10; i++)
        fh_arena_alloc(a, 1000);
    fh_arena_release(a);
    size_t free_before = fh__arena_cache_free_chunks(cache);
    assert_true(free_before >= 3);
    assert_int_equal(fh_arena_new(&a, cache), 0);
    assert_int_equal(fh__arena_cache_free_chunks(cache), free_before - 1);
    fh_arena_release(a);
    assert_int_equal(fh__arena_cache_free_chunks(cache), free_before);
}

static void test_cache_bound(void **state) {
    (void)state;
    fh_arena_cache_t *small;
    assert_int_equal(fh_arena_cache_new(&small, 4096, 2 * 4096), 0);
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, small), 0);
    for (int i = 0; i < 20; i++)
        fh_arena_alloc(a, 900);
    fh_arena_release(a);
    assert_int_equal(fh__arena_cache_free_chunks(small), 2);
    fh_arena_cache_free(small);
    assert_int_equal(fh_arena_cache_new(&small, 100, 0), FH_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_distinct),
        cmocka_unit_test(test_large_blocks),
        cmocka_unit_test(test_realloc_in_place),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_cleanups_reverse_order),
        cmocka_unit_test(test_chunks_are_reused),
        cmocka_unit_test(test_cache_bound),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
