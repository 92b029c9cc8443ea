/* Strings: views, case-insensitive compare, percent-decoding, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fasthttp.h>

static void decode_ok(const char *in, bool plus, const char *want) {
    char buf[128];
    ptrdiff_t n = fh_percent_decode(buf, fh_str(in), plus);
    assert_int_equal(n, (ptrdiff_t)strlen(want));
    assert_memory_equal(buf, want, (size_t)n);
}

static void test_percent_decode(void **state) {
    (void)state;
    decode_ok("abc", false, "abc");
    decode_ok("a%20b", false, "a b");
    decode_ok("%2F%2f", false, "//");
    decode_ok("a+b", false, "a+b");
    decode_ok("a+b", true, "a b");
    decode_ok("%E2%9C%93", false, "\xe2\x9c\x93");
    decode_ok("", false, "");
    char buf[16];
    assert_int_equal(fh_percent_decode(buf, fh_str("%"), false), -1);
    assert_int_equal(fh_percent_decode(buf, fh_str("%2"), false), -1);
    assert_int_equal(fh_percent_decode(buf, fh_str("%zz"), false), -1);
    assert_int_equal(fh_percent_decode(buf, fh_str("a%00b"), false), -1);
    /* In place. */
    char s[] = "x%41y";
    ptrdiff_t n = fh_percent_decode(s, fh_str(s), false);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "xAy", 3);
}

static void test_views(void **state) {
    (void)state;
    assert_true(fh_str_eq(fh_str("abc"), "abc"));
    assert_false(fh_str_eq(fh_str("abc"), "ab"));
    assert_false(fh_str_eq((fh_str_t){ NULL, 0 }, ""));
    assert_true(fh_str_absent(fh_str(NULL)));
    assert_true(fh_str_ieq(FH_STR_LIT("Content-Length"), FH_STR_LIT("content-LENGTH")));
    assert_false(fh_str_ieq(FH_STR_LIT("a"), FH_STR_LIT("ab")));
    assert_true(fh_str_starts_with(FH_STR_LIT("/api/x"), "/api"));
}

/* The reference: one byte at a time. */
static bool ieq_ref(const char *a, const char *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (unsigned char)(x | 0x20);
        if (y >= 'A' && y <= 'Z')
            y = (unsigned char)(y | 0x20);
        if (x != y)
            return false;
    }
    return true;
}

/* Every length up to 40, every byte value at every position against a
 * base text in both cases: the word-at-a-time compare agrees with the
 * byte-at-a-time one, also for bytes next to the letters ('@', '[', '`',
 * '{'), for bytes >= 0x80 and for NUL. */
static void test_ieq_exhaustive(void **state) {
    (void)state;
    static const char base[] = "Content-Type-X-Request-ID:user-agent@[`{Z";
    char a[48], b[48];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t pos = 0; pos < (n ? n : 1); pos++) {
            for (int c = 0; c < 256; c++) {
                memcpy(a, base, n);
                for (size_t i = 0; i < n; i++) {
                    char ch = base[i];
                    /* b: the other case where there is one. */
                    if (ch >= 'a' && ch <= 'z')
                        ch = (char)(ch - 32);
                    else if (ch >= 'A' && ch <= 'Z')
                        ch = (char)(ch + 32);
                    b[i] = ch;
                }
                if (n) {
                    a[pos] = (char)c;
                    /* Half the time b holds the same byte, half the time the
                     * byte one case-bit away. */
                    b[pos] = (char)((c & 1) ? c : (c ^ 0x20));
                }
                bool want = ieq_ref(a, b, n);
                if (fh_str_ieq((fh_str_t){ a, n }, (fh_str_t){ b, n }) != want)
                    fail_msg("n=%zu pos=%zu byte=0x%02x: want %d", n, pos, c, want);
                if (fh_str_ieq((fh_str_t){ b, n }, (fh_str_t){ a, n }) != want)
                    fail_msg("n=%zu pos=%zu byte=0x%02x (swapped): want %d", n, pos, c, want);
            }
        }
    }
    /* Equal lengths, a difference in each position alone. */
    for (size_t n = 1; n <= 40; n++)
        for (size_t pos = 0; pos < n; pos++) {
            memcpy(a, base, n);
            memcpy(b, base, n);
            b[pos] = (char)(b[pos] == 'q' ? 'r' : 'q');
            assert_false(fh_str_ieq((fh_str_t){ a, n }, (fh_str_t){ b, n }));
        }
    assert_true(fh_str_ieq((fh_str_t){ NULL, 0 }, FH_STR_LIT("")));
    assert_false(fh_str_ieq(FH_STR_LIT("host"), FH_STR_LIT("hosts")));
    assert_true(fh_str_ieq(FH_STR_LIT("HOST"), FH_STR_LIT("host")));
    assert_false(fh_str_ieq(FH_STR_LIT("hos\x0d"), FH_STR_LIT("hos-")));
    assert_false(fh_str_ieq(FH_STR_LIT("ho@t"), FH_STR_LIT("ho`t")));
}

static void test_names(void **state) {
    (void)state;
    assert_string_equal(fh_status_reason(404), "Not Found");
    assert_string_equal(fh_status_reason(799), "Unknown");
    assert_string_equal(fh_method_name(FH_METHOD_PATCH), "PATCH");
    assert_string_equal(fh_strerror(FH_ENOMEM), uv_strerror(UV_ENOMEM));
    assert_string_equal(fh_strerror(FH_ECONFIG), "invalid configuration");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_ieq_exhaustive),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
