/* fh_router_methods: the methods a path accepts, as middleware that answers
 * before the router (CORS preflights) asks for them. */
#include "router_fixture.h"

#include <stdlib.h>

/* The Allow form of fh_router_methods(r, path), "" for none. */
static const char *methods_of(const fh_router_t *r, const char *path) {
    static char buf[128];
    fh_router_allow(fh_router_methods(r, fh_str(path)), buf, sizeof(buf));
    return buf;
}

static void test_methods_of_paths(void **state) {
    (void)state;
    static const char *const routes[] = {
        "GET /users",        "POST /users",
        "GET /users/:id",    "PUT /users/:id",
        "DELETE /users/:id", "PATCH /users/new",
        "OPTIONS /opt",      "ANY /any/*rest",
        "GET /files/*path",  NULL,
    };
    fh_router_t *r = fixture_router(NULL, routes);
    assert_string_equal(methods_of(r, "/users"), "GET, HEAD, POST, OPTIONS");
    assert_string_equal(methods_of(r, "/users/1"), "GET, HEAD, PUT, DELETE, OPTIONS");
    /* Every route whose pattern matches counts: the static one and the
     * parameter one both match /users/new. */
    assert_string_equal(methods_of(r, "/users/new"), "GET, HEAD, PUT, DELETE, PATCH, OPTIONS");
    assert_string_equal(methods_of(r, "/opt"), "OPTIONS");
    assert_string_equal(methods_of(r, "/any/x/y"),
                        "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE");
    assert_string_equal(methods_of(r, "/files/"), "GET, HEAD, OPTIONS");
    assert_string_equal(methods_of(r, "/files/a/b.css"), "GET, HEAD, OPTIONS");
    /* Escapes compare as the bytes they stand for. */
    assert_string_equal(methods_of(r, "/%75sers"), "GET, HEAD, POST, OPTIONS");
    /* The same set the automatic OPTIONS answer announces in Allow. */
    static const lookup_case_t agree[] = {
        { "OPTIONS", "/users", FH_ROUTE_OPTIONS, "GET, HEAD, POST, OPTIONS", NULL },
        { "OPTIONS", "/users/1", FH_ROUTE_OPTIONS, "GET, HEAD, PUT, DELETE, OPTIONS", NULL },
        { "OPTIONS", "/nothing", FH_ROUTE_NOT_FOUND, NULL, NULL },
    };
    fixture_check(r, agree, sizeof(agree) / sizeof(agree[0]));
    /* Nothing matches: 0. */
    assert_int_equal(fh_router_methods(r, fh_str("/nothing")), 0);
    assert_int_equal(fh_router_methods(r, fh_str("/users/1/x")), 0);
    assert_int_equal(fh_router_methods(r, fh_str("/users/")), 0); /* strict slashes */
    assert_int_equal(fh_router_methods(r, fh_str("/files")), 0);
    /* Malformed paths: 0 too (the router answers them 400). */
    assert_int_equal(fh_router_methods(r, fh_str("/users/%zz")), 0);
    assert_int_equal(fh_router_methods(r, fh_str("/a/../users")), 0);
    assert_int_equal(fh_router_methods(r, fh_str("users")), 0);
    assert_int_equal(fh_router_methods(r, fh_str("*")), 0);
    assert_int_equal(fh_router_methods(r, (fh_str_t){ NULL, 0 }), 0);
    /* Far past a sensible length: still a plain answer. */
    size_t n = 1 << 20;
    char *big = malloc(n + 1);
    big[0] = '/';
    memset(big + 1, 'a', n - 1);
    big[n] = '\0';
    assert_int_equal(fh_router_methods(r, fh_str(big)), 0);
    memcpy(big, "/files/", 7);
    assert_string_equal(methods_of(r, big), "GET, HEAD, OPTIONS");
    free(big);
    fh_router_free(r);
}

static void test_manual_options(void **state) {
    (void)state;
    fh_router_config_t cfg = fh_router_config_default();
    cfg.manual_options = true;
    static const char *const routes[] = { "GET /a", "OPTIONS /b", NULL };
    fh_router_t *r = fixture_router(&cfg, routes);
    assert_string_equal(methods_of(r, "/a"), "GET, HEAD");
    assert_string_equal(methods_of(r, "/b"), "OPTIONS");
    fh_router_free(r);
    /* An empty router knows no path. */
    assert_int_equal(fh_router_new(&r, NULL), 0);
    assert_int_equal(fh_router_methods(r, fh_str("/")), 0);
    fh_router_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods_of_paths),
        cmocka_unit_test(test_manual_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
