/* Basic and Bearer refusals as problem documents (the problem option):
 * application/problem+json with the status, a detail naming what was wrong
 * and the request id, WWW-Authenticate as in text mode; text stays the
 * default; and one router whose JSON mount answers problems while its pages
 * answer text, each mount with its own auth middleware. Real sockets. */
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
    fh_str_t u = fh_auth_user(req);
    return fh_send_textf(res, 200, "user=%.*s", FH_STR_FMT(u));
}

/* GET path with an Authorization header (NULL: none) on a new connection. */
static void ask(const char *path, const char *auth, fht_response_t *r) {
    size_t cap = strlen(path) + (auth ? strlen(auth) : 0) + 128;
    char *req = malloc(cap);
    snprintf(req, cap, "GET %s HTTP/1.1\r\nHost: t\r\nX-Request-ID: rid-7\r\n%s%s%s\r\n", path,
             auth ? "Authorization: " : "", auth ? auth : "", auth ? "\r\n" : "");
    fht_exchange(req, r);
    free(req);
}

/* r is a problem document of status with this detail. */
static void problem(fht_response_t *r, int status, const char *detail) {
    assert_int_equal(r->status, status);
    assert_string_equal(fht_hdr(r, "Content-Type"), "application/problem+json");
    json_error_t e;
    json_t *j = json_loads(r->body, 0, &e);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), status);
    assert_string_equal(json_string_value(json_object_get(j, "title")),
                        status == 401 ? "Unauthorized" : "Bad Request");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), detail);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "rid-7");
    json_decref(j);
}

static void test_bearer_problem(void **state) {
    (void)state;
    const char *tokens[] = { "tok-1", NULL };
    fh_bearer_auth_options_t o = { .tokens = tokens, .problem = true };
    fh_middleware_t m[2];
    assert_int_equal(fh_request_id_new(&m[0], NULL), 0);
    assert_int_equal(fh_bearer_auth_new(&m[1], &o), 0);
    fht_start_chain(handler, NULL, 1, m, 2);
    fht_response_t r;
    ask("/", NULL, &r);
    problem(&r, 401, "a bearer token is required");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"), "Bearer realm=\"api\"");
    fht_response_free(&r);
    ask("/", "Bearer tok-2", &r);
    problem(&r, 401, "the token is not valid");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"),
                        "Bearer realm=\"api\", error=\"invalid_token\"");
    fht_response_free(&r);
    ask("/", "Bearer a b", &r);
    problem(&r, 400, "the Authorization header is malformed");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"),
                        "Bearer realm=\"api\", error=\"invalid_request\"");
    fht_response_free(&r);
    ask("/", "Bearer tok-1", &r);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    /* A token far past any sensible size (within the server's header
     * limit): still one problem. */
    size_t n = 30000;
    char *big = malloc(n + 8);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'x', n);
    big[n + 7] = '\0';
    ask("/", big, &r);
    problem(&r, 401, "the token is not valid");
    fht_response_free(&r);
    free(big);
    fht_stop();
    fh_middleware_release(&m[1]);
    fh_middleware_release(&m[0]);
}

static void test_basic_problem(void **state) {
    (void)state;
    const fh_basic_user_t users[] = { { "ada", "pw" }, { NULL, NULL } };
    fh_basic_auth_options_t o = { .realm = "admin", .users = users, .problem = true };
    fh_middleware_t m[2];
    assert_int_equal(fh_request_id_new(&m[0], NULL), 0);
    assert_int_equal(fh_basic_auth_new(&m[1], &o), 0);
    fht_start_chain(handler, NULL, 1, m, 2);
    fht_response_t r;
    ask("/", NULL, &r);
    problem(&r, 401, "credentials are required (Basic)");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"),
                        "Basic realm=\"admin\", charset=\"UTF-8\"");
    fht_response_free(&r);
    ask("/", "Basic YWRhOndyb25n", &r); /* ada:wrong */
    problem(&r, 401, "the user name or password is wrong");
    fht_response_free(&r);
    ask("/", "Basic bm9jb2xvbg==", &r); /* "nocolon" */
    problem(&r, 401, "the credentials are malformed");
    fht_response_free(&r);
    ask("/", "Basic YWRhOnB3", &r); /* ada:pw */
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "user=ada");
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m[1]);
    fh_middleware_release(&m[0]);
}

/* The route decides: the /api mount's routes carry a problem-answering
 * bearer auth, the pages a text one; without the option, text as before. */
static fh_router_t *router;
static int route(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_router_handle(req, res, router);
}

static void test_per_mount(void **state) {
    (void)state;
    const char *tokens[] = { "tok-1", NULL };
    fh_bearer_auth_options_t json_opt = { .tokens = tokens, .problem = true };
    fh_bearer_auth_options_t text_opt = { .tokens = tokens };
    fh_middleware_t rid, json_auth, text_auth;
    assert_int_equal(fh_request_id_new(&rid, NULL), 0);
    assert_int_equal(fh_bearer_auth_new(&json_auth, &json_opt), 0);
    assert_int_equal(fh_bearer_auth_new(&text_auth, &text_opt), 0);
    static const fh_route_t api[] = { FH_GET("/me", handler), FH_ROUTES_END };
    static const fh_route_t pages[] = { FH_GET("/page", handler), FH_ROUTES_END };
    const fh_middleware_t *json_mw[] = { &json_auth, NULL };
    const fh_middleware_t *text_mw[] = { &text_auth, NULL };
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount_mw(router, "/api", api, NULL, json_mw), 0);
    assert_int_equal(fh_router_mount_mw(router, "/", pages, NULL, text_mw), 0);
    fht_start_chain(route, NULL, 1, &rid, 1);
    fht_response_t r;
    ask("/api/me", NULL, &r);
    problem(&r, 401, "a bearer token is required");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"), "Bearer realm=\"api\"");
    fht_response_free(&r);
    ask("/page", NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(r.body, "Unauthorized\n");
    assert_string_equal(fht_hdr(&r, "WWW-Authenticate"), "Bearer realm=\"api\"");
    fht_response_free(&r);
    ask("/api/me", "Bearer tok-1", &r);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    fht_stop();
    fh_router_free(router);
    fh_middleware_release(&text_auth);
    fh_middleware_release(&json_auth);
    fh_middleware_release(&rid);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_problem),
        cmocka_unit_test(test_basic_problem),
        cmocka_unit_test(test_per_mount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
