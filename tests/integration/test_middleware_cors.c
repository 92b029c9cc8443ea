/* CORS over real sockets: preflights from allowed and refused origins,
 * requested headers echoed or a fixed list, Max-Age, simple requests with
 * and without Origin, Vary: Origin, "*", credentials, exposed headers, an
 * origin function, CORS headers on error responses, and bad options. */
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
    if (fh_str_eq(path, "/vary")) {
        fh_response_header(res, "Vary", "Accept");
        return fh_send_text(res, 200, "v");
    }
    return fh_send_textf(res, 200, "%.*s", FH_STR_FMT(fh_request_method(req)));
}

#define PREFLIGHT(origin, extra)                                                                   \
    "OPTIONS /r HTTP/1.1\r\nHost: t\r\nOrigin: " origin "\r\n"                                     \
    "Access-Control-Request-Method: PUT\r\n" extra "\r\n"

static void test_list_preflight(void **state) {
    (void)state;
    const char *origins[] = { "https://app.example", "http://localhost:8080", NULL };
    const char *expose[] = { "X-Total", "ETag", NULL };
    fh_cors_options_t o = { .origins = origins, .expose_headers = expose };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 2, &m, 1);
    fht_response_t r;

    fht_exchange(
        PREFLIGHT("https://app.example", "Access-Control-Request-Headers: X-A, content-type\r\n"),
        &r);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://app.example");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"),
                        "GET, HEAD, PUT, PATCH, POST, DELETE");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Headers"), "X-A, content-type");
    assert_string_equal(fht_hdr(&r, "Access-Control-Max-Age"), "600");
    assert_string_equal(fht_hdr(&r, "Vary"),
                        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    assert_false(fht_header(&r, "Access-Control-Allow-Credentials", NULL, 0));
    assert_false(fht_header(&r, "Access-Control-Expose-Headers", NULL, 0));
    fht_response_free(&r);

    /* Origins compare case-insensitively; a requested header list that is
     * not a token list is not echoed. */
    fht_exchange(PREFLIGHT("HTTP://LOCALHOST:8080", "Access-Control-Request-Headers: a\"b\r\n"),
                 &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "HTTP://LOCALHOST:8080");
    assert_false(fht_header(&r, "Access-Control-Allow-Headers", NULL, 0));
    fht_response_free(&r);

    /* A refused origin: 204, no Allow-* header, the handler never runs. */
    fht_exchange(PREFLIGHT("https://evil.example", ""), &r);
    assert_int_equal(r.status, 204);
    assert_false(fht_header(&r, "Access-Control-Allow-Origin", NULL, 0));
    assert_false(fht_header(&r, "Access-Control-Allow-Methods", NULL, 0));
    assert_string_equal(fht_hdr(&r, "Vary"),
                        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    fht_response_free(&r);

    /* OPTIONS without Access-Control-Request-Method is no preflight. */
    fht_exchange("OPTIONS /r HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "OPTIONS");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://app.example");
    fht_response_free(&r);

    /* Simple requests. */
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://app.example");
    assert_string_equal(fht_hdr(&r, "Access-Control-Expose-Headers"), "X-Total, ETag");
    assert_string_equal(fht_hdr(&r, "Vary"), "Origin");
    assert_false(fht_header(&r, "Access-Control-Allow-Methods", NULL, 0)); /* preflight only */
    fht_response_free(&r);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_false(fht_header(&r, "Access-Control-Allow-Origin", NULL, 0));
    assert_false(fht_header(&r, "Access-Control-Expose-Headers", NULL, 0));
    assert_string_equal(fht_hdr(&r, "Vary"), "Origin");
    fht_response_free(&r);
    /* No Origin: still Vary, since the answer depends on it. */
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_false(fht_header(&r, "Access-Control-Allow-Origin", NULL, 0));
    assert_string_equal(fht_hdr(&r, "Vary"), "Origin");
    fht_response_free(&r);
    /* Vary the handler set is extended; errors get the headers too. */
    fht_exchange("GET /vary HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", &r);
    assert_string_equal(fht_hdr(&r, "Vary"), "Accept, Origin");
    fht_response_free(&r);
    fht_exchange("GET /fail HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://app.example");
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

static void test_any_origin(void **state) {
    (void)state;
    const char *any[] = { "*", NULL };
    const char *methods[] = { "GET", "POST", NULL };
    const char *headers[] = { "Content-Type", NULL };
    fh_cors_options_t o = {
        .origins = any, .methods = methods, .allow_headers = headers, .max_age = -1
    };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange(PREFLIGHT("https://who.ever", "Access-Control-Request-Headers: X-Other\r\n"), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"), "GET, POST");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Headers"), "Content-Type");
    assert_false(fht_header(&r, "Access-Control-Max-Age", NULL, 0));
    fht_response_free(&r);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://who.ever\r\n\r\n", &r);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "*");
    assert_false(fht_header(&r, "Vary", NULL, 0)); /* "*" does not depend on the origin */
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

static bool allow_subdomains(fh_request_t *req, fh_str_t origin, void *data) {
    (void)req;
    const char *suffix = data;
    size_t n = strlen(suffix);
    return origin.len > n && memcmp(origin.ptr + origin.len - n, suffix, n) == 0;
}

static void test_credentials_and_function(void **state) {
    (void)state;
    fh_cors_options_t o = { .allow_origin = allow_subdomains,
                            .allow_origin_data = ".example.com",
                            .credentials = true,
                            .max_age = 86400 };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange(PREFLIGHT("https://a.example.com", ""), &r);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://a.example.com");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(fht_hdr(&r, "Access-Control-Max-Age"), "86400");
    fht_response_free(&r);
    fht_exchange(
        "POST / HTTP/1.1\r\nHost: t\r\nOrigin: https://b.example.com\r\nContent-Length: 0\r\n\r\n",
        &r);
    assert_string_equal(r.body, "POST");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "https://b.example.com");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(fht_hdr(&r, "Vary"), "Origin");
    fht_response_free(&r);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://example.org\r\n\r\n", &r);
    assert_false(fht_header(&r, "Access-Control-Allow-Origin", NULL, 0));
    assert_false(fht_header(&r, "Access-Control-Allow-Credentials", NULL, 0));
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

static void expect_config_error(const fh_cors_options_t *o, const char *msg) {
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, o), FH_ECONFIG);
    if (!strstr(fh_middleware_error(), msg))
        fail_msg("message \"%s\" lacks \"%s\"", fh_middleware_error(), msg);
    assert_null(m.data);
}

static void test_bad_options(void **state) {
    (void)state;
    fh_cors_options_t o = { 0 };
    expect_config_error(&o, "cors.origins: set origins or allow_origin");
    expect_config_error(NULL, "cors.origins");
    const char *bad1[] = { "https://ok.example", "https://x.example/", NULL };
    o = (fh_cors_options_t){ .origins = bad1 };
    expect_config_error(&o, "cors.origins[1]: \"https://x.example/\" is not an origin");
    const char *bad2[] = { "app.example", NULL };
    o = (fh_cors_options_t){ .origins = bad2 };
    expect_config_error(&o, "cors.origins[0]");
    const char *star_plus[] = { "https://a.example", "*", NULL };
    o = (fh_cors_options_t){ .origins = star_plus };
    expect_config_error(&o, "cors.origins[1]: \"*\" must be the only entry");
    const char *star[] = { "*", NULL };
    o = (fh_cors_options_t){ .origins = star, .credentials = true };
    expect_config_error(&o, "cors.credentials: not allowed with origins {\"*\"}");
    const char *ok[] = { "https://[::1]:8443", "null", "http://a-b.c:1", NULL };
    const char *bad_method[] = { "GET", "PO ST", NULL };
    o = (fh_cors_options_t){ .origins = ok, .methods = bad_method };
    expect_config_error(&o, "cors.methods[1]: \"PO ST\" is not a token");
    const char *bad_header[] = { "X:Y", NULL };
    o = (fh_cors_options_t){ .origins = ok, .expose_headers = bad_header };
    expect_config_error(&o, "cors.expose_headers[0]");
    o = (fh_cors_options_t){ .origins = ok, .allow_headers = bad_header };
    expect_config_error(&o, "cors.allow_headers[0]");
    o = (fh_cors_options_t){ .origins = ok, .max_age = -2 };
    expect_config_error(&o, "cors.max_age: -2");
    const char *empty[] = { NULL };
    o = (fh_cors_options_t){ .origins = empty };
    expect_config_error(&o, "cors.origins: the list is empty");
    /* The valid forms are accepted. */
    o = (fh_cors_options_t){ .origins = ok };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fh_middleware_release(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_preflight),
        cmocka_unit_test(test_any_origin),
        cmocka_unit_test(test_credentials_and_function),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
