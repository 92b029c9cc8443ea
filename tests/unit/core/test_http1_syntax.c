/* core/http1.c: the strict syntax checks conn.c runs over what llhttp
 * accepted. Each check is fed well-formed input, then the same input broken
 * in one place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/http1_syntax.h"

static int head(const char *s, size_t *len) { return fh__h1_check_head(s, strlen(s), len); }

static void test_head_ok(void **state) {
    (void)state;
    size_t len = 0;
    const char *h = "GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Ows: \t v \t\r\n\r\nBODY";
    assert_int_equal(head(h, &len), 0);
    assert_int_equal(len, strlen(h) - 4);
    assert_int_equal(head("GET / HTTP/1.0\r\n\r\n", &len), 0);
    assert_int_equal(len, 18);
    assert_int_equal(head("M-._~!#$%&'*+^`| * HTTP/1.1\r\n\r\n", &len), 0);
    assert_int_equal(head("GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", &len), 0);
}

static void test_head_request_line(void **state) {
    (void)state;
    size_t len;
    assert_int_equal(head("GET  / HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head(" GET / HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET\t/ HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1 \r\n\r\n", &len), 400);
    assert_int_equal(head("GET / http/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.10\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET /#f HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET /\x80 HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("G@T / HTTP/1.1\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/2.0\r\n\r\n", &len), 505);
    /* A higher HTTP/1 minor version is HTTP/1.1 to us. */
    assert_int_equal(head("GET / HTTP/1.2\r\n\r\n", &len), 0);
    assert_int_equal(head("GET / HTTP/1.9\r\n\r\n", &len), 0);
    assert_int_equal(head("GET / HTTP/0.9\r\n\r\n", &len), 505);
    assert_int_equal(fh__h1_version_status("GET / HTTP/2.0\r\n", 16), 505);
    assert_int_equal(fh__h1_version_status("GET / HTTP/2.0x\r\n", 17), 400);
    assert_int_equal(fh__h1_version_status("GET / HTTP/1.1\r", 15), 400);
}

static void test_head_fields(void **state) {
    (void)state;
    size_t len;
    assert_int_equal(head("GET / HTTP/1.1\r\nHost : x\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\n Host: x\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\r\n\tc\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\r\n\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: b\r\n\r", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\n: b\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nnocolon\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA B: c\r\n\r\n", &len), 400);
    assert_int_equal(fh__h1_check_head("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24, &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: \x01\r\n\r\n", &len), 400);
    assert_int_equal(head("GET / HTTP/1.1\r\nA: \x7f\r\n\r\n", &len), 400);
    /* Cut short anywhere: never well formed. */
    const char *h = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t n = 0; n < strlen(h); n++)
        assert_int_not_equal(fh__h1_check_head(h, n, &len), 0);
}

/* The word-at-a-time scans: one odd byte at every position of a long value
 * or target, so that it falls in every lane of a word and in the tail. */
static void test_head_every_position(void **state) {
    (void)state;
    size_t len;
    const unsigned char bad_value[] = { 0x00, 0x01, 0x0a, 0x0d, 0x1f, 0x7f };
    const unsigned char good_value[] = { 0x09, 0x20, 0x7e, 0x80, 0xff };
    const unsigned char bad_target[] = { 0x00, 0x09, 0x20, '#', 0x7f, 0x80, 0xff };
    for (size_t k = 0; k < 41; k++) {
        char h[160];
        for (size_t b = 0; b < sizeof(bad_value); b++) {
            int n = snprintf(h, sizeof(h), "GET / HTTP/1.1\r\nX: %.41s\r\n\r\n",
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
            h[19 + k] = (char)bad_value[b];
            assert_int_equal(fh__h1_check_head(h, (size_t)n, &len), 400);
        }
        for (size_t b = 0; b < sizeof(good_value); b++) {
            int n = snprintf(h, sizeof(h), "GET / HTTP/1.1\r\nX: a%.41s\r\n\r\n",
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
            h[20 + k] = (char)good_value[b];
            assert_int_equal(fh__h1_check_head(h, (size_t)n, &len), 0);
            assert_int_equal(len, (size_t)n);
        }
        for (size_t b = 0; b < sizeof(bad_target); b++) {
            int n = snprintf(h, sizeof(h), "GET /%.41s HTTP/1.1\r\n\r\n",
                             "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            h[5 + k] = (char)bad_target[b];
            assert_int_equal(fh__h1_check_head(h, (size_t)n, &len), 400);
        }
    }
}

static int chunk(const char *s, size_t *len) { return fh__h1_check_chunk_line(s, strlen(s), len); }

static void test_chunk_line(void **state) {
    (void)state;
    size_t len = 0;
    assert_int_equal(chunk("5\r\nhello", &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(chunk("00aF\r\n", &len), 0);
    assert_int_equal(chunk("5;a\r\n", &len), 0);
    assert_int_equal(chunk("5;a=b;c=\"d ; \\\"e\"\r\n", &len), 0);
    assert_int_equal(len, 19);
    assert_int_equal(chunk("\r\n", &len), 400);
    assert_int_equal(chunk("0x5\r\n", &len), 400);
    assert_int_equal(chunk(" 5\r\n", &len), 400);
    assert_int_equal(chunk("5 \r\n", &len), 400);
    assert_int_equal(chunk("5 ;a\r\n", &len), 400);
    assert_int_equal(chunk("+5\r\n", &len), 400);
    assert_int_equal(chunk("5;\r\n", &len), 400);
    assert_int_equal(chunk("5;a=\r\n", &len), 400);
    assert_int_equal(chunk("5;a=\"b\r\n", &len), 400);
    assert_int_equal(chunk("5;a=\x01\r\n", &len), 400);
    assert_int_equal(chunk("5\rX", &len), 400);
    assert_int_equal(chunk("5\n", &len), 400);
    assert_int_equal(chunk("5\r", &len), 400);
}

static void test_fields(void **state) {
    (void)state;
    size_t len = 0;
    assert_int_equal(fh__h1_check_fields("\r\n", 2, &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(fh__h1_check_fields("A: b\r\nC:d\r\n\r\nX", 14, &len), 0);
    assert_int_equal(len, 13);
    assert_int_equal(fh__h1_check_fields("\n", 1, &len), 400);
    assert_int_equal(fh__h1_check_fields("A: b\n\r\n", 7, &len), 400);
    assert_int_equal(fh__h1_check_fields("A : b\r\n\r\n", 9, &len), 400);
}

static int cl(const char *s, uint64_t *v) { return fh__h1_content_length(fh_str(s), v); }

static void test_content_length(void **state) {
    (void)state;
    uint64_t v = 1;
    assert_int_equal(cl("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cl("0042", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cl("9223372036854775807", &v), 0);
    assert_int_equal(v, UINT64_C(9223372036854775807));
    assert_int_equal(cl("9223372036854775808", &v), 400);
    assert_int_equal(cl("184467440737095516160", &v), 400);
    assert_int_equal(cl("", &v), 400);
    assert_int_equal(cl("+1", &v), 400);
    assert_int_equal(cl("-1", &v), 400);
    assert_int_equal(cl("1 2", &v), 400);
    assert_int_equal(cl("1,1", &v), 400);
    assert_int_equal(cl("0x1", &v), 400);
}

static int te(const char *a, const char *b) {
    fh_str_t v[2] = { fh_str(a), fh_str(b) };
    return fh__h1_transfer_encoding(v, b ? 2 : 1);
}

static void test_transfer_encoding(void **state) {
    (void)state;
    assert_int_equal(te("chunked", NULL), 0);
    assert_int_equal(te("CHUNKED", NULL), 0);
    assert_int_equal(te(" , chunked ,", NULL), 0);
    assert_int_equal(te("", "chunked"), 0);
    assert_int_equal(te("gzip, chunked", NULL), 501);
    assert_int_equal(te("gzip;level=\"9\"", "chunked"), 501);
    assert_int_equal(te("gzip", NULL), 400);
    assert_int_equal(te("chunked, gzip", NULL), 400);
    assert_int_equal(te("chunked", "gzip"), 400);
    assert_int_equal(te("chunked, chunked", NULL), 400);
    assert_int_equal(te("chunked", "chunked"), 400);
    assert_int_equal(te("chunked;a=b", NULL), 400);
    assert_int_equal(te("", NULL), 400);
    assert_int_equal(te(",", NULL), 400);
    assert_int_equal(te("chun ked", NULL), 400);
    assert_int_equal(te("gzip;", "chunked"), 400);
    assert_int_equal(te("gzip;a", "chunked"), 400);
    assert_int_equal(te("\"chunked\"", NULL), 400);
}

static void test_host(void **state) {
    (void)state;
    const char *ok[] = {
        "",      "a",          "example.com", "example.com:80",      "a:",
        "[::1]", "[::1]:8080", "ex%41mple",   "a-b_c~d!$&'()*+,;=e", "1.2.3.4:65535"
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(fh__h1_check_host(fh_str(ok[i])), 0);
    const char *bad[] = { "a b",  "a/b", "a?b",    "a#b", "user@a", "a:b",   "a:65536", "a:1:2",
                          "[::1", "[]",  "[::1]x", "a%4", "a%zz",   "\"a\"", "a\tb",    "[a b]" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(fh__h1_check_host(fh_str(bad[i])), 400);
}

static void test_tchar(void **state) {
    (void)state;
    const char *tchars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (int c = 0; c < 256; c++)
        assert_int_equal(fh__h1_is_tchar((unsigned char)c), c != 0 && strchr(tchars, c) != NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_ok),        cmocka_unit_test(test_head_request_line),
        cmocka_unit_test(test_head_fields),    cmocka_unit_test(test_head_every_position),
        cmocka_unit_test(test_chunk_line),     cmocka_unit_test(test_fields),
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_host),           cmocka_unit_test(test_tchar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
