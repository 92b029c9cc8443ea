/* The router over real sockets: a server on 127.0.0.1 whose handler is
 * fh_router_handle. Parameters through fh_request_param (decoded, kept
 * across a deferred response), 400/404/405/OPTIONS/308 answers with their
 * headers, HEAD through GET, custom not-found and method-not-allowed
 * handlers, mount data, pipelined routed requests, and the freeze. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* Answers "<data>:" then "name=value;" for every parameter, through the
 * iteration API, and checks that fh_request_param agrees with it. This runs
 * on a worker thread, where cmocka's asserts must not be used: a mismatch
 * answers 500 instead, which the test thread then sees. */
static int echo(fh_request_t *req, fh_response_t *res, void *data) {
    int rc = fh_response_printf(res, "%s:", data ? (const char *)data : "-");
    size_t n = fh_request_param_count(req);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        fh_str_t name, value;
        if (!fh_request_param_at(req, i, &name, &value))
            return fh_send_text(res, 500, "param_at failed");
        char *cname = fh_strndup(req, name);
        if (!cname || !fh_str_equal(fh_request_param(req, cname), value))
            return fh_send_text(res, 500, "fh_request_param disagrees");
        rc = fh_response_printf(res, "%.*s=%.*s;", FH_STR_FMT(name), FH_STR_FMT(value));
    }
    if (fh_request_param_at(req, n, NULL, NULL) ||
        !fh_str_absent(fh_request_param(req, "no-such-param")))
        return fh_send_text(res, 500, "out-of-range param found");
    return rc;
}

static int fail_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return FH_EHANDLER;
}

static void send_late(fh_response_t *res, void *data) {
    (void)data;
    /* By now the read buffer has been reused: the parameter must have been
     * moved with the request. */
    fh_send_textf(res, 200, "late %.*s",
                  FH_STR_FMT(fh_request_param(fh_response_request(res), "id")));
}

static int deferred(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    (void)req;
    int rc = fh_response_defer(res);
    if (rc)
        return rc;
    return fht_later(res, 20, send_late, NULL);
}

static int custom_404(fh_request_t *req, fh_response_t *res, void *data) {
    return fh_send_textf(res, 404, "%s %.*s", (const char *)data, FH_STR_FMT(fh_request_path(req)));
}

static int custom_405(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    return fh_send_textf(res, 405, "%s [%.*s]", (const char *)data,
                         FH_STR_FMT(fh_response_header_get(res, "Allow")));
}

static const fh_route_t api[] = {
    FH_GET("/", echo),
    FH_GET("/users/:id", echo),
    FH_PUT("/users/:id", echo),
    FH_DELETE("/users/:id", echo),
    FH_GET_D("/users/:id/posts/:post", echo, "route-data"),
    FH_GET("/files/:name", echo),
    FH_GET("/static/*path", echo),
    FH_GET("/defer/:id", deferred),
    FH_POST("/fail", fail_handler),
    FH_ROUTES_END,
};

static fh_router_t *router;

static void start(const fh_router_config_t *cfg) {
    assert_int_equal(fh_router_new(&router, cfg), 0);
    if (fh_router_mount(router, "/api", api, "mount-data"))
        fail_msg("%s", fh_router_error(router));
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/", echo, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/docs/", echo, NULL), 0);
    fht_start_handler(fh_router_handle, router, 2);
}

static int setup_default(void **state) {
    (void)state;
    start(NULL);
    return 0;
}

static int setup_custom(void **state) {
    (void)state;
    fh_router_config_t cfg = fh_router_config_default();
    cfg.trailing_slash = FH_SLASH_REDIRECT;
    cfg.double_slash = FH_SLASH_REDIRECT;
    cfg.not_found = custom_404;
    cfg.not_found_data = "custom";
    cfg.method_not_allowed = custom_405;
    cfg.method_not_allowed_data = "custom";
    start(&cfg);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    return 0;
}

/* One request on a connection and what must come back. */
typedef struct http_case {
    const char *method;
    const char *target;
    int status;
    const char *body;   /* NULL: not checked */
    const char *header; /* "Name: value" that must be present, or NULL */
} http_case_t;

static void run_cases(const http_case_t *c, size_t n) {
    int fd = fht_connect(fht_port);
    for (size_t i = 0; i < n; i++, c++) {
        char req[512];
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", c->method, c->target);
        fht_send_str(fd, req);
        fht_response_t r;
        bool head = strcmp(c->method, "HEAD") == 0;
        if (fht_read_response(fd, &r, head))
            fail_msg("%s %s: no response", c->method, c->target);
        if (r.status != c->status)
            fail_msg("%s %s: status %d, want %d (%s)", c->method, c->target, r.status, c->status,
                     r.body);
        if (c->body && strcmp(r.body, c->body) != 0)
            fail_msg("%s %s: body \"%s\", want \"%s\"", c->method, c->target, r.body, c->body);
        if (c->header) {
            char name[64], got[256];
            const char *colon = strchr(c->header, ':');
            snprintf(name, sizeof(name), "%.*s", (int)(colon - c->header), c->header);
            if (!fht_header(&r, name, got, sizeof(got)) || strcmp(got, colon + 2) != 0)
                fail_msg("%s %s: header %s is \"%s\", want \"%s\"", c->method, c->target, name, got,
                         colon + 2);
        }
        fht_response_free(&r);
    }
    fht_close(fd);
}

#define RUN_CASES(cases) run_cases((cases), sizeof(cases) / sizeof((cases)[0]))

static void test_dispatch(void **state) {
    (void)state;
    static const http_case_t cases[] = {
        { "GET", "/", 200, "-:", NULL },
        { "GET", "/api/", 200, "mount-data:", NULL },
        { "GET", "/api/users/42", 200, "mount-data:id=42;", NULL },
        { "GET", "/api/users/42?x=1", 200, "mount-data:id=42;", NULL },
        { "PUT", "/api/users/7", 200, "mount-data:id=7;", NULL },
        { "GET", "/api/users/42/posts/9", 200, "route-data:id=42;post=9;", NULL },
        /* Decoded values; %2F stays in the parameter. */
        { "GET", "/api/files/a%2Fb", 200, "mount-data:name=a/b;", NULL },
        { "GET", "/api/files/%E2%9C%93%20x+y", 200, "mount-data:name=\xe2\x9c\x93 x+y;", NULL },
        { "GET", "/api/users/%41%42", 200, "mount-data:id=AB;", NULL },
        { "GET", "/api/static/css/site.css", 200, "mount-data:path=css/site.css;", NULL },
        { "GET", "/api/static/", 200, "mount-data:path=;", NULL },
        { "GET", "/api/%75sers/1", 200, "mount-data:id=1;", NULL },
        /* HEAD through GET: same headers, no body. */
        { "HEAD", "/api/users/42", 200, "", "Content-Length: 17" },
        /* 404, 405 with Allow, automatic OPTIONS. */
        { "GET", "/nothing", 404, "Not Found\n", NULL },
        { "GET", "/api/users/", 404, NULL, NULL },
        { "GET", "/docs", 404, NULL, NULL },
        { "GET", "//api/users/1", 404, NULL, NULL },
        { "PATCH", "/api/users/42", 405, "Method Not Allowed\n",
          "Allow: GET, HEAD, PUT, DELETE, OPTIONS" },
        { "POST", "/", 405, NULL, "Allow: GET, HEAD, OPTIONS" },
        { "OPTIONS", "/api/users/42", 204, "", "Allow: GET, HEAD, PUT, DELETE, OPTIONS" },
        { "OPTIONS", "*", 204, "", "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS" },
        { "OPTIONS", "/nothing", 404, NULL, NULL },
        /* 400: bad escapes, encoded NUL, dot segments. */
        { "GET", "/api/users/%zz", 400, "Bad Request\n", NULL },
        { "GET", "/api/users/%00", 400, NULL, NULL },
        { "GET", "/api/users/%2e%2e", 400, NULL, NULL },
        { "GET", "/api/static/a%2F..%2F..%2Fsecret", 400, NULL, NULL },
        { "GET", "/api/../api/users/1", 400, NULL, NULL },
        /* A handler error becomes a 500; the connection goes on. */
        { "POST", "/api/fail", 500, NULL, NULL },
        { "GET", "/api/users/1", 200, "mount-data:id=1;", NULL },
    };
    RUN_CASES(cases);
}

static void test_deferred_params(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    /* Two in one write: the second request's bytes reuse the buffer while
     * the first waits on its timer. */
    fht_send_str(fd, "GET /api/defer/first%21 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /api/defer/second HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "late first!");
    fht_response_free(&r);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "late second");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_pipelined(void **state) {
    (void)state;
    char buf[8192];
    size_t n = 0;
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                              "GET /api/users/%d/posts/%d HTTP/1.1\r\nHost: t\r\n\r\n", i, 100 + i);
    int fd = fht_connect(fht_port);
    fht_send(fd, buf, n);
    for (int i = 0; i < 16; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        char want[64];
        snprintf(want, sizeof(want), "route-data:id=%d;post=%d;", i, 100 + i);
        assert_string_equal(r.body, want);
        fht_response_free(&r);
    }
    fht_close(fd);
}

static void test_frozen(void **state) {
    (void)state;
    /* The router has served requests by now. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    fht_response_free(&r);
    fht_close(fd);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/late", echo, NULL), FH_ESTATE);
    assert_non_null(strstr(fh_router_error(router), "once the router has served"));
    assert_int_equal(fh_router_mount(router, "/x", api, NULL), FH_ESTATE);
}

static void test_custom_and_redirects(void **state) {
    (void)state;
    static const http_case_t cases[] = {
        { "GET", "/nothing", 404, "custom /nothing", NULL },
        { "PATCH", "/api/users/1", 405, "custom [GET, HEAD, PUT, DELETE, OPTIONS]",
          "Allow: GET, HEAD, PUT, DELETE, OPTIONS" },
        { "GET", "/api/users/1/", 308, NULL, "Location: /api/users/1" },
        { "GET", "/api/users/1/?a=b&c", 308, NULL, "Location: /api/users/1?a=b&c" },
        { "GET", "/docs?x", 308, NULL, "Location: /docs/?x" },
        { "GET", "//api//users/1", 308, NULL, "Location: /api/users/1" },
        { "GET", "/api/static", 308, NULL, "Location: /api/static/" },
        { "PUT", "/api//users/2/", 308, NULL, "Location: /api/users/2" },
        { "HEAD", "/api/users/1/", 308, "", "Location: /api/users/1" },
        { "GET", "/api/users/1", 200, "mount-data:id=1;", NULL },
        { "GET", "/api/nothing/", 404, "custom /api/nothing/", NULL },
    };
    RUN_CASES(cases);
}

int main(void) {
    const struct CMUnitTest defaults[] = {
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_deferred_params),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_frozen),
    };
    const struct CMUnitTest custom[] = {
        cmocka_unit_test(test_custom_and_redirects),
    };
    int failed = cmocka_run_group_tests_name("router, defaults", defaults, setup_default, teardown);
    failed += cmocka_run_group_tests_name("router, custom", custom, setup_custom, teardown);
    return failed;
}
