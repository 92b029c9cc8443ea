/* CORS preflights answered with the router (fh_cors_options_t.router): the
 * methods announced are those of the path's routes, a path without routes
 * gets the router's 404 (the mount's problem document under /api) or 400,
 * the methods option narrows the router's list, and the handlers never run
 * for a preflight. Over real sockets, the router as the chain's handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int ran; /* handler calls: preflights must not reach them */

static int answer(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    __atomic_add_fetch(&ran, 1, __ATOMIC_RELAXED);
    return fh_send_textf(res, 200, "%.*s", FH_STR_FMT(fh_request_method(req)));
}

static const fh_route_t api[] = {
    FH_GET("/users", answer),
    FH_POST("/users", answer),
    FH_GET("/users/:id", answer),
    FH_PUT("/users/:id", answer),
    FH_DELETE("/users/:id", answer),
    FH_OPTIONS("/custom", answer),
    FH_ROUTES_END,
};
static const fh_route_t pages[] = { FH_GET("/about", answer), FH_ROUTES_END };

static fh_router_t *router;

static int route(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_router_handle(req, res, router);
}

static void make_router(void) {
    assert_int_equal(fh_router_new(&router, NULL), 0);
    fh_mount_options_t json = { .not_found = fh_json_error_handler,
                                .method_not_allowed = fh_json_error_handler };
    assert_int_equal(fh_router_mount_opts(router, "/api", api, NULL, &json), 0);
    assert_int_equal(fh_router_mount(router, "/", pages, NULL), 0);
}

#define PREFLIGHT(path, method)                                                                    \
    "OPTIONS " path " HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"                      \
    "Access-Control-Request-Method: " method "\r\n\r\n"

static void test_methods_of_the_path(void **state) {
    (void)state;
    make_router();
    const char *any[] = { "*", NULL };
    fh_cors_options_t o = { .origins = any, .router = router };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fht_start_chain(route, NULL, 2, &m, 1);
    fht_response_t r;
    ran = 0;

    fht_exchange(PREFLIGHT("/api/users/1", "DELETE"), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "*");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"), "GET, HEAD, PUT, DELETE");
    assert_false((fht_header(&r, "Content-Type", NULL, 0) != 0));
    fht_response_free(&r);

    /* No POST route on /api/users/1: POST is not announced; the answer is
     * still a preflight answer, which the browser then refuses. */
    fht_exchange(PREFLIGHT("/api/users/1", "POST"), &r);
    assert_int_equal(r.status, 204);
    assert_null(strstr(fht_hdr(&r, "Access-Control-Allow-Methods"), "POST"));
    fht_response_free(&r);

    fht_exchange(PREFLIGHT("/api/users", "POST"), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"), "GET, HEAD, POST");
    fht_response_free(&r);

    /* A path with an OPTIONS route of its own: OPTIONS itself is never
     * announced, and the preflight is still answered here. */
    fht_exchange(PREFLIGHT("/api/custom", "OPTIONS"), &r);
    assert_int_equal(r.status, 204);
    assert_false((fht_header(&r, "Access-Control-Allow-Methods", NULL, 0) != 0));
    fht_response_free(&r);

    /* No route matches: the router's 404, a problem document under /api,
     * text elsewhere, without CORS headers. */
    fht_exchange(PREFLIGHT("/api/nothing", "GET"), &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_non_null(strstr(r.body, "\"status\":404"));
    assert_false((fht_header(&r, "Access-Control-Allow-Origin", NULL, 0) != 0));
    assert_false((fht_header(&r, "Access-Control-Allow-Methods", NULL, 0) != 0));
    fht_response_free(&r);
    fht_exchange(PREFLIGHT("/nothing", "GET"), &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "Not Found\n");
    fht_response_free(&r);
    /* A malformed path: the router's 400. */
    fht_exchange(PREFLIGHT("/api/%zz", "GET"), &r);
    assert_int_equal(r.status, 400);
    fht_response_free(&r);
    assert_int_equal(ran, 0);

    /* Other requests are untouched: the route answers, with CORS headers. */
    fht_exchange("GET /api/users HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "GET");
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Origin"), "*");
    fht_response_free(&r);
    /* OPTIONS without Access-Control-Request-Method is no preflight: the
     * router's own OPTIONS answer. */
    fht_exchange("OPTIONS /api/users HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n\r\n",
                 &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Allow"), "GET, HEAD, POST, OPTIONS");
    fht_response_free(&r);
    assert_int_equal(ran, 1);

    /* Ten thousand preflights to unknown paths on one connection: each a
     * 404, nothing grows. */
    int fd = fht_connect(fht_port);
    for (int i = 0; i < 10000; i++) {
        char req[160];
        snprintf(req, sizeof(req),
                 "OPTIONS /x%d HTTP/1.1\r\nHost: t\r\nOrigin: https://a.example\r\n"
                 "Access-Control-Request-Method: GET\r\n\r\n",
                 i);
        fht_send_str(fd, req);
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 404);
        fht_response_free(&r);
    }
    fht_close(fd);
    fht_stop();
    fh_middleware_release(&m);
    fh_router_free(router);
}

/* The methods option narrows what the router announces; tokens the router
 * cannot route are never announced. */
static void test_methods_option_narrows(void **state) {
    (void)state;
    make_router();
    const char *origins[] = { "https://app.example", NULL };
    const char *methods[] = { "GET", "DELETE", "PURGE", NULL };
    fh_cors_options_t o = { .origins = origins, .methods = methods, .router = router };
    fh_middleware_t m;
    assert_int_equal(fh_cors_new(&m, &o), 0);
    fht_start_chain(route, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange(PREFLIGHT("/api/users/7", "DELETE"), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"), "GET, DELETE");
    fht_response_free(&r);
    /* Nothing of the list on /about but GET. */
    fht_exchange(PREFLIGHT("/about", "GET"), &r);
    assert_int_equal(r.status, 204);
    assert_string_equal(fht_hdr(&r, "Access-Control-Allow-Methods"), "GET");
    fht_response_free(&r);
    /* A refused origin still gets no Allow-* header on a known path. */
    fht_exchange("OPTIONS /about HTTP/1.1\r\nHost: t\r\nOrigin: https://evil.example\r\n"
                 "Access-Control-Request-Method: GET\r\n\r\n",
                 &r);
    assert_int_equal(r.status, 204);
    assert_false((fht_header(&r, "Access-Control-Allow-Origin", NULL, 0) != 0));
    assert_false((fht_header(&r, "Access-Control-Allow-Methods", NULL, 0) != 0));
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
    fh_router_free(router);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_of_the_path),
        cmocka_unit_test(test_methods_option_narrows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
