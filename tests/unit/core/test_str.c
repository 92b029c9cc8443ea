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
    assert_false(fh_str_eq((fh_str_t){NULL, 0}, ""));
    assert_true(fh_str_absent(fh_str(NULL)));
    assert_true(fh_str_ieq(FH_STR_LIT("Content-Length"), FH_STR_LIT("content-LENGTH")));
    assert_false(fh_str_ieq(FH_STR_LIT("a"), FH_STR_LIT("ab")));
    assert_true(fh_str_starts_with(FH_STR_LIT("/api/x"), "/api"));
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
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
