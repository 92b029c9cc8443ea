/* core/format.c: the same bytes as vsnprintf for every conversion it
 * handles, and -1 (so the caller uses vsnprintf) for everything else. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/format.h"

/* fh__vformat into a buffer of cap bytes; returns its result. */
static int fmt_cap(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = fh__vformat(out, cap, fmt, ap);
    va_end(ap);
    return n;
}

/* Formats with both and compares; the arguments go through twice. */
#define SAME(...)                                                                                  \
    do {                                                                                           \
        char want_[512], got_[512];                                                                \
        int w_ = snprintf(want_, sizeof(want_), __VA_ARGS__);                                      \
        int g_ = fmt_cap(got_, sizeof(got_), __VA_ARGS__);                                         \
        if (g_ != w_ || memcmp(got_, want_, (size_t)w_) != 0)                                      \
            fail_msg("%s: vsnprintf \"%s\" (%d), ours \"%.*s\" (%d)", #__VA_ARGS__, want_, w_,     \
                     g_ < 0 ? 0 : g_, got_, g_);                                                   \
    } while (0)

/* Not handled: must say so. */
#define FALLBACK(...)                                                                              \
    do {                                                                                           \
        char got_[512];                                                                            \
        if (fmt_cap(got_, sizeof(got_), __VA_ARGS__) != -1)                                        \
            fail_msg("%s: handled, should fall back", #__VA_ARGS__);                               \
    } while (0)

static void test_literals_and_strings(void **state) {
    (void)state;
    SAME("plain text, no conversion");
    SAME("100%%");
    SAME("%%%%%%");
    SAME("%s", "");
    SAME("%s", "abc");
    SAME("User ID: %.*s", 2, "42xyz");
    SAME("%.*s|", 0, "abc");
    SAME("%.*s|", 10, "abc");
    SAME("%.3s|%.0s|%.s|%.10s", "abcdef", "abc", "abc", "ab");
    SAME("a%sb%sc", "1", "22");
    SAME("%c%c%c", 'x', 'y', 'z');
    char nul[4];
    assert_int_equal(fmt_cap(nul, sizeof(nul), "a%cb", 0), 3);
    assert_memory_equal(nul, "a\0b", 3);
}

static void test_integers(void **state) {
    (void)state;
    SAME("%d %i %d %d", 0, -1, INT_MAX, INT_MIN);
    SAME("%u %u", 0u, UINT_MAX);
    SAME("%x %X %x", 0u, 0xDEADBEEFu, UINT_MAX);
    SAME("%ld %ld %lu %lx", LONG_MAX, LONG_MIN, ULONG_MAX, ULONG_MAX);
    SAME("%lld %lld %llu %llX", LLONG_MAX, LLONG_MIN, ULLONG_MAX, 0x123456789abcdefull);
    SAME("%zu %zx %zd %zd", SIZE_MAX, (size_t)48879, (ptrdiff_t)-7, (ptrdiff_t)PTRDIFF_MIN);
    SAME("[%d] [%s] [%u] [%.*s] [%c] [%x]", -42, "mid", 7u, 1, "zz", '!', 255u);
    for (int v = -1000; v <= 1000; v += 7)
        SAME("%d/%u/%x", v, (unsigned)v, (unsigned)v);
}

static void test_fallbacks(void **state) {
    (void)state;
    FALLBACK("%5d", 1);
    FALLBACK("%-5s|", "a");
    FALLBACK("%05d", 1);
    FALLBACK("%+d", 1);
    FALLBACK("% d", 1);
    FALLBACK("%#x", 1u);
    FALLBACK("%hd", 1);
    FALLBACK("%hhu", 1);
    FALLBACK("%jd", (intmax_t)1);
    FALLBACK("%f", 1.5);
    FALLBACK("%g", 1.5);
    FALLBACK("%p", (void *)0);
    FALLBACK("%.3d", 1);
    FALLBACK("%ls", L"w");
    FALLBACK("%lc", 'w');
    FALLBACK("%s", (const char *)NULL);
    FALLBACK("%.*s", -1, "abc");
    FALLBACK("trailing %");
    FALLBACK("%q");
}

static void test_buffer_bounds(void **state) {
    (void)state;
    char out[16];
    memset(out, '#', sizeof(out));
    assert_int_equal(fmt_cap(out, 8, "%s", "12345678"), 8);
    assert_memory_equal(out, "12345678", 8);
    assert_int_equal(out[8], '#'); /* no NUL, nothing past cap */
    assert_int_equal(fmt_cap(out, 8, "%s", "123456789"), -1);
    assert_int_equal(fmt_cap(out, 8, "1234567%d", 42), -1);
    assert_int_equal(fmt_cap(out, 3, "abcd"), -1);
    assert_int_equal(fmt_cap(out, 0, ""), 0);
    assert_int_equal(fmt_cap(out, 0, "%s", ""), 0);
    assert_int_equal(fmt_cap(out, 0, "x"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals_and_strings),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_buffer_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
