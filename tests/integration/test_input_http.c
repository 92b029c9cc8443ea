/* Typed parameters and forms over real sockets: a route reading a path
 * integer, query integers, booleans and decimals answers 200 with what it
 * read, or the 400 problem document naming the parameter and saying
 * absent / malformed / out of range ("?limit=%zz" is malformed, not
 * absent); a form body is read into fields, refused 415 with another
 * Content-Type, 400 for a bad escape and 413 past the field limit (a
 * 10,000-field body). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* GET /orders/:user?limit=&offset=&paid=&min=: the values read. */
static int list_orders(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    uint64_t user;
    int64_t limit = 20, offset;
    bool paid = false;
    double min = 0;
    if (fh_path_u64(req, res, "user", 1, UINT64_MAX, &user) ||
        fh_query_i64_opt(req, res, "limit", 1, 100, &limit) ||
        fh_query_i64(req, res, "offset", INT64_MIN, INT64_MAX, &offset) ||
        fh_query_bool_opt(req, res, "paid", &paid) ||
        fh_query_decimal_opt(req, res, "min", 0, 1e6, &min))
        return 0;
    return fh_send_textf(res, 200, "user=%llu limit=%lld offset=%lld paid=%d min=%g",
                         (unsigned long long)user, (long long)limit, (long long)offset, paid, min);
}

/* GET /flag/:on, GET /price/:p, GET /delta/:d: path booleans, decimals and
 * signed integers. */
static int flag(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    bool on;
    if (fh_path_bool(req, res, "on", &on))
        return 0;
    return fh_send_text(res, 200, on ? "on" : "off");
}
static int price(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    double p;
    if (fh_path_decimal(req, res, "p", 0.01, 999.99, &p))
        return 0;
    return fh_send_textf(res, 200, "%.2f", p);
}
static int delta(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    int64_t d;
    if (fh_path_i64(req, res, "d", -10, 10, &d))
        return 0;
    return fh_send_textf(res, 200, "%lld", (long long)d);
}
/* GET /typo/:id asks for a parameter the route does not have. */
static int typo(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    int64_t v;
    if (fh_path_i64(req, res, "idd", 0, 10, &v))
        return 0;
    return fh_send_text(res, 200, "?");
}

/* POST /form: the fields, one "name=value" per line. */
static int form(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_form_t f;
    int rc = fh_request_form(req, res, 10000, &f);
    if (rc)
        return rc == FH_EINVAL ? 0 : rc;
    fh_response_status(res, 200);
    fh_response_header(res, "Content-Type", "text/plain");
    fh_response_printf(res, "%zu\n", f.count);
    for (size_t i = 0; i < f.count && i < 5; i++)
        fh_response_printf(res, "%.*s=%.*s\n", FH_STR_FMT(f.fields[i].name),
                           FH_STR_FMT(f.fields[i].value));
    return 0;
}

static const fh_route_t routes[] = {
    FH_GET("/orders/:user", list_orders),
    FH_GET("/flag/:on", flag),
    FH_GET("/price/:p", price),
    FH_GET("/delta/:d", delta),
    FH_GET("/typo/:id", typo),
    FH_POST("/form", form),
    FH_ROUTES_END,
};

static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "/", routes, NULL), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.threads = 1;
    cfg.limits.max_body = 1 << 20;
    fht_start(&cfg);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    return 0;
}

/* GET target: expects status and, as the body, want (200) or a problem
 * whose members parameter, in, reason and detail are as given. */
static void get_ok(const char *target, const char *want) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    if (r.status != 200 || strcmp(r.body, want) != 0)
        fail_msg("GET %s: %d %s, want 200 %s", target, r.status, r.body, want);
    fht_response_free(&r);
}

static void get_bad(const char *target, const char *param, const char *in, const char *reason,
                    const char *detail) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    if (r.status != 400)
        fail_msg("GET %s: %d %s, want 400", target, r.status, r.body);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    json_t *doc = json_loadb(r.body, r.body_len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "parameter")), param);
    assert_string_equal(json_string_value(json_object_get(doc, "in")), in);
    assert_string_equal(json_string_value(json_object_get(doc, "reason")), reason);
    if (strcmp(json_string_value(json_object_get(doc, "detail")), detail) != 0)
        fail_msg("GET %s: detail %s, want %s", target,
                 json_string_value(json_object_get(doc, "detail")), detail);
    assert_int_equal(json_integer_value(json_object_get(doc, "status")), 400);
    json_decref(doc);
    fht_response_free(&r);
}

static void test_typed_ok(void **state) {
    (void)state;
    get_ok("/orders/7?offset=0", "user=7 limit=20 offset=0 paid=0 min=0");
    get_ok("/orders/18446744073709551615?offset=-9223372036854775808&limit=100&paid=true&min=2.5",
           "user=18446744073709551615 limit=100 offset=-9223372036854775808 paid=1 min=2.5");
    get_ok("/orders/1?offset=9223372036854775807&limit=1&paid=0&min=1e6",
           "user=1 limit=1 offset=9223372036854775807 paid=0 min=1e+06");
    /* Escapes decode first; the first field of a name counts. */
    get_ok("/orders/%31?of%66set=%2D5&limit=3&limit=999", "user=1 limit=3 offset=-5 paid=0 min=0");
    get_ok("/flag/true", "on");
    get_ok("/flag/0", "off");
    get_ok("/price/12.5", "12.50");
    get_ok("/delta/-10", "-10");
}

static void test_typed_errors(void **state) {
    (void)state;
    get_bad("/orders/7", "offset", "query", "absent", "query parameter \"offset\" is required");
    get_bad("/orders/7?offset=0&limit=%zz", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit=%00", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit=", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit=+5", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit=%205", "limit", "query", "malformed",
            "query parameter \"limit\" must be an integer");
    get_bad("/orders/7?offset=0&limit=0", "limit", "query", "out_of_range",
            "query parameter \"limit\" must be from 1 to 100");
    get_bad("/orders/7?offset=0&limit=101", "limit", "query", "out_of_range",
            "query parameter \"limit\" must be from 1 to 100");
    get_bad("/orders/7?offset=9223372036854775808", "offset", "query", "out_of_range",
            "query parameter \"offset\" must be from -9223372036854775808 to 9223372036854775807");
    get_bad("/orders/7?offset=-92233720368547758080", "offset", "query", "out_of_range",
            "query parameter \"offset\" must be from -9223372036854775808 to 9223372036854775807");
    get_bad("/orders/7?offset=0&paid=yes", "paid", "query", "malformed",
            "query parameter \"paid\" must be true, false, 1 or 0");
    get_bad("/orders/7?offset=0&min=-1", "min", "query", "out_of_range",
            "query parameter \"min\" must be a number from 0 to 1000000");
    get_bad("/orders/7?offset=0&min=1e400", "min", "query", "out_of_range",
            "query parameter \"min\" must be a number from 0 to 1000000");
    get_bad("/orders/7?offset=0&min=nan", "min", "query", "malformed",
            "query parameter \"min\" must be a decimal number");
    get_bad("/orders/0?offset=0", "user", "path", "out_of_range",
            "path parameter \"user\" must be from 1 to 18446744073709551615");
    get_bad("/orders/-1?offset=0", "user", "path", "malformed",
            "path parameter \"user\" must be a non-negative integer");
    get_bad("/orders/18446744073709551616?offset=0", "user", "path", "out_of_range",
            "path parameter \"user\" must be from 1 to 18446744073709551615");
    get_bad("/flag/yes", "on", "path", "malformed",
            "path parameter \"on\" must be true, false, 1 or 0");
    get_bad("/price/1000", "p", "path", "out_of_range",
            "path parameter \"p\" must be a number from 0.01 to 999.99");
    get_bad("/delta/11", "d", "path", "out_of_range",
            "path parameter \"d\" must be from -10 to 10");
    get_bad("/typo/3", "idd", "path", "absent", "path parameter \"idd\" is required");
    /* The connection stays usable after a 400 of this kind. */
    int fd = fht_connect(fht_port);
    fht_send_str(
        fd, "GET /delta/99 HTTP/1.1\r\nHost: t\r\n\r\nGET /delta/9 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 400, NULL, -1);
    fht_expect(fd, 200, "9");
    fht_close(fd);
}

/* POST /form with content type ct and body. */
static void post_form(const char *ct, const char *body, size_t len, fht_response_t *r) {
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST /form HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: %zu\r\n\r\n",
                     ct ? "Content-Type: " : "", ct ? ct : "", ct ? "\r\n" : "", len);
    int fd = fht_connect(fht_port);
    fht_send(fd, head, (size_t)n);
    fht_send(fd, body, len);
    assert_int_equal(fht_read_response(fd, r, 0), 0);
    fht_close(fd);
}

static void test_form(void **state) {
    (void)state;
    fht_response_t r;
    const char *b = "name=Ada+Lovelace&lang=C%2B%2B&&empty=&flag";
    post_form("application/x-www-form-urlencoded", b, strlen(b), &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "4\nname=Ada Lovelace\nlang=C++\nempty=\nflag=\n");
    fht_response_free(&r);
    post_form("Application/X-WWW-Form-Urlencoded; charset=utf-8", "a=1", 3, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "1\na=1\n");
    fht_response_free(&r);
    /* No body: no fields. */
    post_form("application/x-www-form-urlencoded", "", 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "0\n");
    fht_response_free(&r);
    /* Another media type, or none. */
    post_form("application/json", "{}", 2, &r);
    assert_int_equal(r.status, 415);
    assert_string_equal(fht_hdr(&r, "Accept"), "application/x-www-form-urlencoded");
    fht_response_free(&r);
    post_form("application/x-www-form-urlencodedx", "a=1", 3, &r);
    assert_int_equal(r.status, 415);
    fht_response_free(&r);
    post_form(NULL, "a=1", 3, &r);
    assert_int_equal(r.status, 415);
    fht_response_free(&r);
    /* A bad escape names where. */
    post_form("application/x-www-form-urlencoded", "a=1&b=%zz", 9, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "form field at byte 4"));
    fht_response_free(&r);
}

static void test_form_limit(void **state) {
    (void)state;
    size_t cap = 10001 * 16;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t p = 0;
    for (int i = 0; i < 10000; i++)
        p += (size_t)sprintf(body + p, "%sf%d=%d", i ? "&" : "", i, i);
    fht_response_t r;
    post_form("application/x-www-form-urlencoded", body, p, &r);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body, "10000\nf0=0\n", 11);
    fht_response_free(&r);
    p += (size_t)sprintf(body + p, "&one=more");
    post_form("application/x-www-form-urlencoded", body, p, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body, "more than 10000 fields"));
    fht_response_free(&r);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_ok),
        cmocka_unit_test(test_typed_errors),
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_form_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
