/* Global, per-mount and per-route middleware over real sockets: the order
 * of the three layers, route parameters seen by route middleware, early
 * answers and errors inside a route, requests the router answers itself
 * (404, 405, automatic OPTIONS) meeting only the global chain, HEAD through
 * a GET route, a real built-in (Basic auth) on one route only, and mount
 * errors. */
#include <stdatomic.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

FH_REQUEST_KEY(trace, char)

static void add(fh_request_t *req, char kind, char name) {
    const char *cur = trace_get(req);
    char *n = fh_sprintf(req, "%s%c%c", cur ? cur : "", kind, name);
    if (n)
        trace_set(req, n);
}

static bool asks(fh_request_t *req, const char *header, char who) {
    fh_str_t v = fh_request_header(req, header);
    return v.ptr && memchr(v.ptr, who, v.len);
}

static int t_before(fh_request_t *req, fh_response_t *res, void *data) {
    char name = *(const char *)data;
    add(req, 'b', name);
    if (name == 'R') {
        /* Route middleware runs after the router set the parameters. */
        fh_str_t id = fh_request_param(req, "id");
        if (id.ptr)
            fh_response_headerf(res, "X-Param-Seen", "%.*s", FH_STR_FMT(id));
    }
    if (asks(req, "X-Stop", name)) {
        fh_send_status(res, 401);
        return FH_STOP;
    }
    return FH_NEXT;
}

static void t_after(fh_request_t *req, fh_response_t *res, void *data) {
    add(req, 'a', *(const char *)data);
    fh_response_header_set(res, "X-Trace", trace_get(req));
}

static int t_error(fh_request_t *req, fh_response_t *res, int err, void *data) {
    char name = *(const char *)data;
    add(req, 'e', name);
    if (asks(req, "X-Recover", name)) {
        fh_response_reset(res);
        fh_send_textf(res, 503, "%c recovered %d", name, err);
        return FH_STOP;
    }
    return FH_NEXT;
}

static const char G = 'G', M = 'M', R = 'R';
static const fh_middleware_t mw_g = { "g", t_before, t_after, t_error, (void *)&G, NULL };
static const fh_middleware_t mw_m = { "m", t_before, t_after, t_error, (void *)&M, NULL };
static const fh_middleware_t mw_r = { "r", t_before, t_after, t_error, (void *)&R, NULL };

static int h_item(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    add(req, 'h', '-');
    if (fh_request_header(req, "X-Fail").ptr)
        return -3;
    return fh_send_textf(res, 200, "item %.*s", FH_STR_FMT(fh_request_param(req, "id")));
}

static int h_plain(fh_request_t *req, fh_response_t *res, void *data) {
    add(req, 'h', '-');
    return fh_send_text(res, 200, data ? (const char *)data : "plain");
}

static fh_middleware_t basic;

static const fh_route_t api[] = {
    FH_ROUTE_MW(FH_METHOD_GET, "/items/:id", h_item, NULL,
                ((const fh_middleware_t *const[]){ &mw_r, NULL })),
    FH_GET("/plain", h_plain),
    FH_ROUTE_MW(FH_METHOD_GET, "/admin", h_plain, "secret",
                ((const fh_middleware_t *const[]){ &basic, NULL })),
    FH_ROUTES_END,
};

static const fh_route_t root[] = {
    FH_GET("/", h_plain),
    FH_ROUTES_END,
};

static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    static const fh_basic_user_t users[] = { { "admin", "pw" }, { NULL, NULL } };
    fh_basic_auth_options_t bo = { .users = users };
    assert_int_equal(fh_basic_auth_new(&basic, &bo), 0);
    assert_int_equal(fh_router_new(&router, NULL), 0);
    const fh_middleware_t *const mount_mw[] = { &mw_m, NULL };
    if (fh_router_mount_mw(router, "/api", api, NULL, mount_mw) != 0)
        fail_msg("%s", fh_router_error(router));
    assert_int_equal(fh_router_mount(router, "/", root, NULL), 0);
    /* The router's own info still shows the route's handler and data. */
    const fh_route_info_t *ri = fh_router_route_at(router, 2);
    assert_string_equal(ri->pattern, "/api/admin");
    assert_ptr_equal(ri->handler, h_plain);
    assert_string_equal(ri->data, "secret");

    fht_start_chain(fh_router_handle, router, 2, &mw_g, 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fht_stop();
    fh_router_free(router);
    fh_middleware_release(&basic);
    return 0;
}

typedef struct got {
    int status;
    char trace[128], param[32], body[128];
} got_t;

static got_t ask(const char *method, const char *path, const char *extra) {
    fht_response_t r;
    fht_request(method, path, extra, &r);
    got_t g;
    memset(&g, 0, sizeof(g));
    g.status = r.status;
    snprintf(g.trace, sizeof(g.trace), "%s", fht_hdr(&r, "X-Trace"));
    snprintf(g.param, sizeof(g.param), "%s", fht_hdr(&r, "X-Param-Seen"));
    snprintf(g.body, sizeof(g.body), "%s", r.body);
    fht_response_free(&r);
    return g;
}

static void test_layers(void **state) {
    (void)state;
    got_t g = ask("GET", "/api/items/42", NULL);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "item 42");
    assert_string_equal(g.trace, "bGbMbRh-aRaMaG"); /* global, mount, route, inside out */
    assert_string_equal(g.param, "42");
    g = ask("GET", "/api/plain", NULL);
    assert_string_equal(g.trace, "bGbMh-aMaG"); /* mount middleware only */
    g = ask("GET", "/", NULL);
    assert_string_equal(g.trace, "bGh-aG"); /* another mount: global only */
    /* HEAD goes through the GET route and its chains. */
    g = ask("HEAD", "/api/items/7", NULL);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.trace, "bGbMbRh-aRaMaG");
}

static void test_router_answers(void **state) {
    (void)state;
    got_t g = ask("GET", "/api/nothing", NULL);
    assert_int_equal(g.status, 404);
    assert_string_equal(g.trace, "bGaG");
    g = ask("POST", "/api/plain", "Content-Length: 0\r\n");
    assert_int_equal(g.status, 405);
    assert_string_equal(g.trace, "bGaG");
    g = ask("OPTIONS", "/api/items/1", NULL);
    assert_int_equal(g.status, 204);
    assert_string_equal(g.trace, "bGaG");
}

static void test_answers_and_errors_inside(void **state) {
    (void)state;
    got_t g = ask("GET", "/api/items/1", "X-Stop: R\r\n");
    assert_int_equal(g.status, 401);
    assert_string_equal(g.trace, "bGbMbRaRaMaG");
    g = ask("GET", "/api/items/1", "X-Stop: M\r\n");
    assert_int_equal(g.status, 401);
    assert_string_equal(g.trace, "bGbMaMaG");
    /* A failing handler: route, mount, then global error hooks. */
    g = ask("GET", "/api/items/1", "X-Fail: 1\r\n");
    assert_int_equal(g.status, 500);
    assert_string_equal(g.trace, "bGbMbRh-eReMeGaRaMaG");
    g = ask("GET", "/api/items/1", "X-Fail: 1\r\nX-Recover: M\r\n");
    assert_int_equal(g.status, 503);
    assert_string_equal(g.body, "M recovered -3");
    assert_string_equal(g.trace, "bGbMbRh-eReMaRaMaG");
}

static void test_auth_on_one_route(void **state) {
    (void)state;
    got_t g = ask("GET", "/api/admin", NULL);
    assert_int_equal(g.status, 401);
    assert_string_equal(g.trace, "bGbMaMaG");
    g = ask("GET", "/api/admin", "Authorization: Basic YWRtaW46cHc=\r\n");
    assert_int_equal(g.status, 200);
    assert_string_equal(g.body, "secret");
    g = ask("GET", "/api/plain", NULL);
    assert_int_equal(g.status, 200); /* its neighbour needs nothing */
}

static void test_mount_errors(void **state) {
    (void)state;
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    static const fh_middleware_t hookless = { .name = "nothing" };
    const fh_middleware_t *const bad[] = { &mw_m, &hookless, NULL };
    assert_int_equal(fh_router_mount_mw(r, "/x", api, NULL, bad), FH_EINVAL);
    assert_non_null(
        strstr(fh_router_error(r),
               "fasthttp: route \"GET /x/items/:id\": mount middleware[1]: middleware \"nothing\": "
               "needs a before, after or error hook"));
    assert_int_equal(fh_router_route_count(r), 0); /* all or nothing */
    /* An empty list is no middleware. */
    const fh_middleware_t *const none[] = { NULL };
    assert_int_equal(fh_router_mount_mw(r, "/y", root, NULL, none), 0);
    fh_router_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_router_answers),
        cmocka_unit_test(test_answers_and_errors_inside),
        cmocka_unit_test(test_auth_on_one_route),
        cmocka_unit_test(test_mount_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
