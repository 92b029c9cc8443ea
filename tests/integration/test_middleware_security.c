/* Security headers over real sockets: the defaults, custom values,
 * omitted headers, handler overrides, error responses, bad values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/fail"))
        return -1;
    if (fh_str_eq(path, "/frame")) {
        fh_response_header(res, "x-frame-options", "ALLOW-FROM https://a.example");
        return fh_send_text(res, 200, "framed");
    }
    return fh_send_text(res, 200, "ok");
}

static void test_defaults(void **state) {
    (void)state;
    fh_middleware_t m;
    assert_int_equal(fh_security_headers_new(&m, NULL), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(fht_hdr(&r, "Strict-Transport-Security"),
                        "max-age=31536000; includeSubDomains");
    assert_string_equal(fht_hdr(&r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(fht_hdr(&r, "X-Frame-Options"), "SAMEORIGIN");
    assert_string_equal(fht_hdr(&r, "Referrer-Policy"), "no-referrer");
    assert_false(fht_header(&r, "Content-Security-Policy", NULL, 0));
    assert_false(fht_header(&r, "Cross-Origin-Opener-Policy", NULL, 0));
    assert_false(fht_header(&r, "Permissions-Policy", NULL, 0));
    fht_response_free(&r);
    /* The handler's own value wins (names compare case-insensitively). */
    fht_exchange("GET /frame HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(fht_hdr(&r, "X-Frame-Options"), "ALLOW-FROM https://a.example");
    assert_string_equal(fht_hdr(&r, "X-Content-Type-Options"), "nosniff");
    fht_response_free(&r);
    /* Errors produced by the core after the handler get them as well. */
    fht_exchange("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(fht_hdr(&r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(fht_hdr(&r, "Referrer-Policy"), "no-referrer");
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

static void test_custom(void **state) {
    (void)state;
    fh_security_options_t o = {
        .hsts = "",
        .frame_options = "DENY",
        .referrer_policy = "strict-origin-when-cross-origin",
        .content_security_policy = "default-src 'self'",
        .cross_origin_opener_policy = "same-origin",
        .permissions_policy = "geolocation=()",
    };
    fh_middleware_t m;
    assert_int_equal(fh_security_headers_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_false(fht_header(&r, "Strict-Transport-Security", NULL, 0));
    assert_string_equal(fht_hdr(&r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(fht_hdr(&r, "X-Frame-Options"), "DENY");
    assert_string_equal(fht_hdr(&r, "Referrer-Policy"), "strict-origin-when-cross-origin");
    assert_string_equal(fht_hdr(&r, "Content-Security-Policy"), "default-src 'self'");
    assert_string_equal(fht_hdr(&r, "Cross-Origin-Opener-Policy"), "same-origin");
    assert_string_equal(fht_hdr(&r, "Permissions-Policy"), "geolocation=()");
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);

    o = (fh_security_options_t){ .content_security_policy = "default-src 'self'\r\nX-Evil: 1" };
    assert_int_equal(fh_security_headers_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "security.content_security_policy"));
    o = (fh_security_options_t){ .hsts = "max-age=1\n" };
    assert_int_equal(fh_security_headers_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "security.hsts"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_custom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
