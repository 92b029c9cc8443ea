/* The router's 404 and 405 for a JSON API over real sockets: a mount at
 * "/api" with fh_json_error_handler as its not-found and method-not-allowed
 * handlers answers problem documents (405 with Allow) for paths under its
 * prefix, while the text routes elsewhere keep text errors; the deepest
 * covering mount wins; a parameter in a prefix matches any segment; escapes
 * compare decoded; the router-wide handlers see the status (and Allow)
 * preset; a mount that sets only one handler leaves the other answer
 * alone; and requests that match routes never look for a handler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int page(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "page");
}

static int api_list(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_json_new(res, 200, json_pack("{s:[]}", "users"));
}

/* Answers "<data> <status on res> <Allow on res>" as text: what a custom
 * handler finds when it runs. */
static int tell(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    fh_str_t allow = fh_response_header_get(res, "Allow");
    int status = fh_response_get_status(res);
    fh_response_body(res, "", 0);
    fh_response_printf(res, "%s %d %.*s", (const char *)data, status, FH_STR_FMT(allow));
    fh_response_header_set(res, "Content-Type", "text/x-told");
    return 0;
}

static const fh_route_t site[] = {
    FH_GET("/", page),
    FH_GET("/page", page),
    FH_ROUTES_END,
};

static const fh_route_t api[] = {
    FH_GET("/users", api_list),
    FH_POST("/users", api_list),
    FH_GET("/users/:id", api_list),
    FH_ROUTES_END,
};

static const fh_route_t v2[] = {
    FH_GET("/things", api_list),
    FH_ROUTES_END,
};

static const fh_route_t org[] = {
    FH_GET("/repos", api_list),
    FH_ROUTES_END,
};

static const fh_route_t none[] = { FH_ROUTES_END };

static fh_router_t *router;

static void start(const fh_router_config_t *rcfg) {
    assert_int_equal(fh_router_new(&router, rcfg), 0);
    fh_mount_options_t json = { .not_found = fh_json_error_handler,
                                .method_not_allowed = fh_json_error_handler };
    fh_mount_options_t deeper = { .not_found = tell, .not_found_data = "v2" };
    fh_mount_options_t caf = { .method_not_allowed = tell, .method_not_allowed_data = "cafe" };
    assert_int_equal(fh_router_mount(router, "/", site, NULL), 0);
    assert_int_equal(fh_router_mount_opts(router, "/api", api, NULL, &json), 0);
    /* Deeper than /api: wins there for 404s, leaves its 405s to /api. */
    assert_int_equal(fh_router_mount_opts(router, "/api/v2/", v2, NULL, &deeper), 0);
    assert_int_equal(fh_router_mount_opts(router, "/orgs/:org", org, NULL, &json), 0);
    /* A prefix alone, with an escape in its pattern. */
    assert_int_equal(fh_router_mount_opts(router, "/caf%C3%A9", none, NULL, &caf), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/caf%C3%A9/menu", page, NULL), 0);
    /* NULL options: a plain mount. */
    assert_int_equal(fh_router_mount_opts(router, "/plain", site, NULL, NULL), 0);
    fht_start_handler(fh_router_handle, router, 1);
}

static void stop(void) {
    fht_stop();
    fh_router_free(router);
}

/* r is a problem document of status for instance. */
static void expect_problem(const char *method, const char *path, int status, const char *allow) {
    fht_response_t r;
    fht_request(method, path, NULL, &r);
    assert_int_equal(r.status, status);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_string_equal(fht_hdr(&r, "Allow"), allow ? allow : "");
    json_error_t je;
    json_t *p = json_loadb(r.body, r.body_len, 0, &je);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(p, "title")), fh_status_reason(status));
    assert_int_equal(json_integer_value(json_object_get(p, "status")), status);
    char want[256];
    snprintf(want, sizeof(want), "%s", path);
    char *q = strchr(want, '?');
    if (q)
        *q = '\0';
    assert_string_equal(json_string_value(json_object_get(p, "instance")), want);
    json_decref(p);
    fht_response_free(&r);
}

static void expect_text(const char *method, const char *path, int status, const char *body,
                        const char *allow) {
    fht_response_t r;
    fht_request(method, path, NULL, &r);
    assert_int_equal(r.status, status);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(r.body, body);
    assert_string_equal(fht_hdr(&r, "Allow"), allow ? allow : "");
    fht_response_free(&r);
}

static void expect_told(const char *method, const char *path, int status, const char *body) {
    fht_response_t r;
    fht_request(method, path, NULL, &r);
    assert_int_equal(r.status, status);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "text/x-told");
    assert_string_equal(r.body, body);
    fht_response_free(&r);
}

static void test_json_mount(void **state) {
    (void)state;
    start(NULL);
    /* Under /api: problem documents, Allow on 405. */
    expect_problem("GET", "/api", 404, NULL);
    expect_problem("GET", "/api/", 404, NULL);
    expect_problem("GET", "/api/nope?x=1", 404, NULL);
    expect_problem("GET", "/api/users/1/more", 404, NULL);
    expect_problem("DELETE", "/api/users", 405, "GET, HEAD, POST, OPTIONS");
    expect_problem("PUT", "/api/users/7", 405, "GET, HEAD, OPTIONS");
    /* An escaped prefix byte is the byte. */
    expect_problem("GET", "/%61pi/nope", 404, NULL);
    /* HEAD gets the head of the problem. */
    fht_response_t r;
    fht_request("HEAD", "/api/nope", NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    fht_response_free(&r);
    /* Routes still answer. */
    fht_request("GET", "/api/users", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"users\":[]}");
    fht_response_free(&r);

    /* Outside the prefix: text. "/apis" shares bytes, not the segment. */
    expect_text("GET", "/nope", 404, "Not Found\n", NULL);
    expect_text("GET", "/apis", 404, "Not Found\n", NULL);
    expect_text("GET", "/apis/users", 404, "Not Found\n", NULL);
    expect_text("POST", "/page", 405, "Method Not Allowed\n", "GET, HEAD, OPTIONS");
    expect_text("GET", "/plain/nope", 404, "Not Found\n", NULL);
    /* Bad paths stay the router's 400, under the prefix too. */
    expect_text("GET", "/api/%zz", 400, "Bad Request\n", NULL);

    /* The deeper mount wins for its 404s, and leaves 405s to /api. */
    expect_told("GET", "/api/v2/nope", 404, "v2 404 ");
    expect_told("GET", "/api/v2", 404, "v2 404 ");
    expect_problem("POST", "/api/v2/things", 405, "GET, HEAD, OPTIONS");
    expect_problem("GET", "/api/v22", 404, NULL);

    /* A parameter in the prefix matches one non-empty segment. */
    expect_problem("GET", "/orgs/acme/nope", 404, NULL);
    expect_problem("GET", "/orgs/acme", 404, NULL);
    expect_problem("DELETE", "/orgs/acme/repos", 405, "GET, HEAD, OPTIONS");
    expect_text("GET", "/orgs", 404, "Not Found\n", NULL);
    expect_text("GET", "/orgs/", 404, "Not Found\n", NULL);

    /* A prefix written with an escape matches the path's escapes in either
     * case; this mount sets a 405 handler only. */
    expect_told("POST", "/caf%C3%A9/menu", 405, "cafe 405 GET, HEAD, OPTIONS");
    expect_told("POST", "/caf%c3%a9/menu", 405, "cafe 405 GET, HEAD, OPTIONS");
    expect_text("GET", "/caf%C3%A9/nope", 404, "Not Found\n", NULL);
    expect_text("POST", "/cafe/menu", 404, "Not Found\n", NULL);
    stop();
}

/* The router-wide handlers see the status preset, and Allow for 405; a
 * mount's handler wins over them under its prefix. */
static void test_router_wide_handlers(void **state) {
    (void)state;
    fh_router_config_t rcfg = fh_router_config_default();
    rcfg.not_found = tell;
    rcfg.not_found_data = "all";
    rcfg.method_not_allowed = tell;
    rcfg.method_not_allowed_data = "all";
    start(&rcfg);
    expect_told("GET", "/nope", 404, "all 404 ");
    expect_told("DELETE", "/page", 405, "all 405 GET, HEAD, OPTIONS");
    expect_problem("GET", "/api/nope", 404, NULL);
    expect_problem("DELETE", "/api/users", 405, "GET, HEAD, POST, OPTIONS");
    /* /caf%C3%A9 sets a 405 handler only: its 404s are the router's. */
    expect_told("GET", "/caf%C3%A9/x", 404, "all 404 ");
    stop();
}

/* fh_json_error_handler as the router-wide handler, straight. */
static void test_json_router_wide(void **state) {
    (void)state;
    fh_router_config_t rcfg = fh_router_config_default();
    rcfg.not_found = fh_json_error_handler;
    rcfg.method_not_allowed = fh_json_error_handler;
    start(&rcfg);
    expect_problem("GET", "/nope", 404, NULL);
    expect_problem("DELETE", "/page", 405, "GET, HEAD, OPTIONS");
    stop();
}

/* A failed mount leaves no error handler behind. */
static void test_failed_mount(void **state) {
    (void)state;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    fh_mount_options_t json = { .not_found = fh_json_error_handler };
    static const fh_route_t bad[] = { FH_GET("/ok", page), FH_GET("/x//y", page), FH_ROUTES_END };
    assert_int_not_equal(fh_router_mount_opts(router, "/api", bad, NULL, &json), 0);
    assert_int_equal(fh_router_mount(router, "/", site, NULL), 0);
    fht_start_handler(fh_router_handle, router, 1);
    expect_text("GET", "/api/nope", 404, "Not Found\n", NULL);
    stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_mount),
        cmocka_unit_test(test_router_wide_handlers),
        cmocka_unit_test(test_json_router_wide),
        cmocka_unit_test(test_failed_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
