/* Typed input (core/input.c): integers at and past INT64_MIN/MAX and
 * UINT64_MAX, overflow by one digit, empty text, leading '+', '-', spaces
 * and zeros, booleans, decimals (syntax, range, locale), and the
 * x-www-form-urlencoded parser up to and past its field limit. */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <fasthttp.h>

#define S(lit) fh_str(lit)

static fh_input_status_t i64(const char *text, int64_t *v) {
    return fh_input_parse_i64(fh_str(text), INT64_MIN, INT64_MAX, v);
}

static void test_i64_limits(void **state) {
    (void)state;
    int64_t v = 7;
    assert_int_equal(i64("0", &v), FH_INPUT_OK);
    assert_true(v == 0);
    assert_int_equal(i64("-0", &v), FH_INPUT_OK);
    assert_true(v == 0);
    assert_int_equal(i64("9223372036854775807", &v), FH_INPUT_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(i64("-9223372036854775808", &v), FH_INPUT_OK);
    assert_true(v == INT64_MIN);
    v = 7;
    /* One past each end, and one digit more. */
    assert_int_equal(i64("9223372036854775808", &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(i64("-9223372036854775809", &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(i64("92233720368547758070", &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(i64("-92233720368547758080", &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(i64("18446744073709551616", &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(i64("99999999999999999999999999999999999999999999", &v),
                     FH_INPUT_OUT_OF_RANGE);
    assert_true(v == 7); /* untouched on every error */
    /* A bad byte after an overflow is still malformed. */
    assert_int_equal(i64("99999999999999999999x", &v), FH_INPUT_MALFORMED);
}

static void test_i64_syntax(void **state) {
    (void)state;
    int64_t v = 7;
    const char *bad[] = { "",   "-",   "+1",   " 1",  "1 ",  "\t1", "01", "-01", "00",
                          "1a", "0x1", "1.0",  "1e3", "--1", "- 1", "1-", "٣",   "1,000",
                          "½",  "1\n", "true", "%31", "+",   "-+1", "+-1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (i64(bad[i], &v) != FH_INPUT_MALFORMED)
            fail_msg("\"%s\" should be malformed", bad[i]);
    }
    assert_int_equal(fh_input_parse_i64((fh_str_t){ "1\0", 2 }, INT64_MIN, INT64_MAX, &v),
                     FH_INPUT_MALFORMED);
    assert_int_equal(fh_input_parse_i64((fh_str_t){ NULL, 0 }, 0, 1, &v), FH_INPUT_ABSENT);
    assert_true(v == 7);
}

static void test_i64_range(void **state) {
    (void)state;
    int64_t v = 0;
    assert_int_equal(fh_input_parse_i64(S("1"), 1, 100, &v), FH_INPUT_OK);
    assert_int_equal(fh_input_parse_i64(S("100"), 1, 100, &v), FH_INPUT_OK);
    assert_true(v == 100);
    assert_int_equal(fh_input_parse_i64(S("0"), 1, 100, &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_i64(S("101"), 1, 100, &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_i64(S("-5"), -5, -5, &v), FH_INPUT_OK);
    assert_true(v == -5);
    assert_int_equal(fh_input_parse_i64(S("-6"), -5, -5, &v), FH_INPUT_OUT_OF_RANGE);
}

static void test_u64(void **state) {
    (void)state;
    uint64_t v = 7;
    assert_int_equal(fh_input_parse_u64(S("18446744073709551615"), 0, UINT64_MAX, &v), FH_INPUT_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(fh_input_parse_u64(S("0"), 0, UINT64_MAX, &v), FH_INPUT_OK);
    assert_true(v == 0);
    v = 7;
    assert_int_equal(fh_input_parse_u64(S("18446744073709551616"), 0, UINT64_MAX, &v),
                     FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_u64(S("184467440737095516150"), 0, UINT64_MAX, &v),
                     FH_INPUT_OUT_OF_RANGE);
    const char *bad[] = { "", "-0", "-1", "+1", " 1", "1 ", "01", "1.5", "0x10" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fh_input_parse_u64(S(bad[i]), 0, UINT64_MAX, &v) != FH_INPUT_MALFORMED)
            fail_msg("\"%s\" should be malformed", bad[i]);
    }
    assert_int_equal(fh_input_parse_u64(S("10"), 11, 20, &v), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_u64(S("21"), 11, 20, &v), FH_INPUT_OUT_OF_RANGE);
    assert_true(v == 7);
}

static void test_bool(void **state) {
    (void)state;
    bool b = false;
    assert_int_equal(fh_input_parse_bool(S("true"), &b), FH_INPUT_OK);
    assert_true(b);
    assert_int_equal(fh_input_parse_bool(S("0"), &b), FH_INPUT_OK);
    assert_false(b);
    assert_int_equal(fh_input_parse_bool(S("1"), &b), FH_INPUT_OK);
    assert_true(b);
    assert_int_equal(fh_input_parse_bool(S("false"), &b), FH_INPUT_OK);
    assert_false(b);
    const char *bad[] = { "", "TRUE", "yes", "on", " true", "true ", "2", "-1", "truee", "t" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fh_input_parse_bool(S(bad[i]), &b) != FH_INPUT_MALFORMED)
            fail_msg("\"%s\" should be malformed", bad[i]);
    }
    assert_int_equal(fh_input_parse_bool((fh_str_t){ NULL, 0 }, &b), FH_INPUT_ABSENT);
}

static void test_decimal(void **state) {
    (void)state;
    double d = 7;
    assert_int_equal(fh_input_parse_decimal(S("1.5"), 0, 2, &d), FH_INPUT_OK);
    assert_true(d == 1.5);
    assert_int_equal(fh_input_parse_decimal(S("-0.25"), -1, 1, &d), FH_INPUT_OK);
    assert_true(d == -0.25);
    assert_int_equal(fh_input_parse_decimal(S("2e3"), 0, 1e4, &d), FH_INPUT_OK);
    assert_true(d == 2000);
    assert_int_equal(fh_input_parse_decimal(S("1E-2"), 0, 1, &d), FH_INPUT_OK);
    assert_true(d == 0.01);
    assert_int_equal(fh_input_parse_decimal(S("0"), 0, 0, &d), FH_INPUT_OK);
    assert_int_equal(fh_input_parse_decimal(S("2"), 0, 2, &d), FH_INPUT_OK);
    d = 7;
    assert_int_equal(fh_input_parse_decimal(S("2.0000001"), 0, 2, &d), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_decimal(S("-0.1"), 0, 2, &d), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_decimal(S("1e999"), -1e308, 1e308, &d), FH_INPUT_OUT_OF_RANGE);
    assert_int_equal(fh_input_parse_decimal(S("-1e999"), -1e308, 1e308, &d), FH_INPUT_OUT_OF_RANGE);
    const char *bad[] = { "",    ".5",   "5.",  "+1",       " 1",    "1 ",  "01",
                          "1e",  "1e+",  "-",   "nan",      "inf",   "NaN", "0x1",
                          "1,5", "1..2", "--1", "Infinity", "1.2.3", "e5" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (fh_input_parse_decimal(S(bad[i]), -1e308, 1e308, &d) != FH_INPUT_MALFORMED)
            fail_msg("\"%s\" should be malformed", bad[i]);
    }
    /* Far too long a text is refused, not copied. */
    char big[2000];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(fh_input_parse_decimal(S(big), -1e308, 1e308, &d), FH_INPUT_MALFORMED);
    assert_true(d == 7);
    /* A locale whose decimal point is a comma changes nothing. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        assert_int_equal(fh_input_parse_decimal(S("1.5"), 0, 2, &d), FH_INPUT_OK);
        assert_true(d == 1.5);
        setlocale(LC_NUMERIC, "C");
    }
}

static fh_arena_cache_t *cache;

static int setup(void **state) {
    (void)state;
    return fh_arena_cache_new(&cache, 0, 0);
}

static int teardown(void **state) {
    (void)state;
    fh_arena_cache_free(cache);
    return 0;
}

static void test_form_basic(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    fh_form_t f;
    assert_int_equal(fh_form_parse(a, S("a=1&b=x+y%21&&c&d=&=e&a=2"), 0, &f, NULL), 0);
    assert_int_equal(f.count, 6);
    assert_true(fh_str_eq(f.fields[0].name, "a") && fh_str_eq(f.fields[0].value, "1"));
    assert_true(fh_str_eq(f.fields[1].name, "b") && fh_str_eq(f.fields[1].value, "x y!"));
    assert_true(fh_str_eq(f.fields[2].name, "c") && fh_str_eq(f.fields[2].value, ""));
    assert_true(fh_str_eq(f.fields[3].name, "d") && fh_str_eq(f.fields[3].value, ""));
    assert_true(fh_str_eq(f.fields[4].name, "") && fh_str_eq(f.fields[4].value, "e"));
    assert_true(fh_str_eq(fh_form_get(&f, "a"), "1")); /* the first one */
    assert_true(fh_str_eq(fh_form_get(&f, "b"), "x y!"));
    assert_true(fh_str_absent(fh_form_get(&f, "zz")));
    /* Encoded names, '=' inside a value. */
    assert_int_equal(fh_form_parse(a, S("na%6De=v=w&%26=%3D"), 0, &f, NULL), 0);
    assert_int_equal(f.count, 2);
    assert_true(fh_str_eq(fh_form_get(&f, "name"), "v=w"));
    assert_true(fh_str_eq(fh_form_get(&f, "&"), "="));
    /* Empty bodies. */
    assert_int_equal(fh_form_parse(a, S(""), 0, &f, NULL), 0);
    assert_int_equal(f.count, 0);
    assert_int_equal(fh_form_parse(a, S("&&&"), 0, &f, NULL), 0);
    assert_int_equal(f.count, 0);
    fh_arena_release(a);
}

static void test_form_errors(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    fh_form_t f;
    fh_form_error_t e;
    assert_int_equal(fh_form_parse(a, S("a=1&limit=%zz"), 0, &f, &e), FH_EINVAL);
    assert_int_equal(e.offset, 4);
    assert_non_null(e.why);
    assert_int_equal(f.count, 0);
    assert_int_equal(fh_form_parse(a, S("a%0=1"), 0, &f, &e), FH_EINVAL);
    assert_int_equal(e.offset, 0);
    assert_int_equal(fh_form_parse(a, S("a=%00"), 0, &f, &e), FH_EINVAL);
    assert_int_equal(fh_form_parse(a, S("a=%"), 0, &f, &e), FH_EINVAL);
    fh_arena_release(a);
}

/* Builds n fields "f0=0&f1=1...". */
static char *many_fields(size_t n, size_t *len) {
    char *buf = malloc(n * 16 + 1);
    assert_non_null(buf);
    size_t p = 0;
    for (size_t i = 0; i < n; i++)
        p += (size_t)sprintf(buf + p, "%sf%zu=%zu", i ? "&" : "", i, i);
    *len = p;
    return buf;
}

static void test_form_limits(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, cache), 0);
    size_t len;
    char *body = many_fields(10000, &len);
    fh_form_t f;
    fh_form_error_t e;
    /* At the limit. */
    assert_int_equal(fh_form_parse(a, (fh_str_t){ body, len }, 10000, &f, &e), 0);
    assert_int_equal(f.count, 10000);
    assert_true(fh_str_eq(f.fields[9999].name, "f9999"));
    assert_true(fh_str_eq(f.fields[9999].value, "9999"));
    /* One past it, and the default limit far below. */
    assert_int_equal(fh_form_parse(a, (fh_str_t){ body, len }, 9999, &f, &e), FH_E2BIG);
    assert_int_equal(f.count, 0);
    assert_int_equal(fh_form_parse(a, (fh_str_t){ body, len }, 0, &f, &e), FH_E2BIG);
    assert_int_equal(e.offset, strstr(body, "&f1000=") - body + 1);
    free(body);
    body = many_fields(FH_FORM_MAX_FIELDS, &len);
    assert_int_equal(fh_form_parse(a, (fh_str_t){ body, len }, 0, &f, &e), 0);
    assert_int_equal(f.count, FH_FORM_MAX_FIELDS);
    free(body);
    /* A million '&' and nothing else: no field, no memory. */
    size_t n = 1000000;
    char *amps = malloc(n);
    assert_non_null(amps);
    memset(amps, '&', n);
    assert_int_equal(fh_form_parse(a, (fh_str_t){ amps, n }, 0, &f, &e), 0);
    assert_int_equal(f.count, 0);
    free(amps);
    fh_arena_release(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_limits),  cmocka_unit_test(test_i64_syntax),
        cmocka_unit_test(test_i64_range),   cmocka_unit_test(test_u64),
        cmocka_unit_test(test_bool),        cmocka_unit_test(test_decimal),
        cmocka_unit_test(test_form_basic),  cmocka_unit_test(test_form_errors),
        cmocka_unit_test(test_form_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
