/* Building routers: malformed patterns, conflicts and their messages,
 * route tables and mounts, all-or-nothing failures, introspection, and the
 * helpers (Allow values, redirect paths, parameter decoding). */
#include "router_fixture.h"

#include "router/router.h"

static int other_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return 1;
}

typedef struct pattern_case {
    const char *pattern;
    const char *why; /* a phrase the message must hold; NULL: accepted */
} pattern_case_t;

static void test_patterns(void **state) {
    (void)state;
    static const pattern_case_t cases[] = {
        { "", "must start with '/'" },
        { "users", "must start with '/'" },
        { "/a//b", "empty segment" },
        { "//", "empty segment" },
        { "/a/:", "a parameter is ':' and a name" },
        { "/a/:id.json", "a parameter is ':' and a name" },
        { "/a/:i-d", "a parameter is ':' and a name" },
        { "/a/x:id", NULL }, /* ':' inside a static segment is a byte */
        { "/a/*", "a catch-all is '*' and a name" },
        { "/a/*p/b", "a catch-all must be the last segment" },
        { "/a/*p/", "a catch-all must be the last segment" },
        { "/a/*p.x", "a catch-all is '*' and a name" },
        { "/a/b*c", NULL },
        { "/:id/:id", "the same parameter name twice" },
        { "/:id/*id", "the same parameter name twice" },
        { "/a b", "cannot hold spaces" },
        { "/a?b", "cannot hold spaces, control characters, '?' or '#'" },
        { "/a#b", "'#'" },
        { "/a\tb", "control characters" },
        { "/a\x7f", "control characters" },
        { "/a%2Fb", "cannot encode '/'" },
        { "/a%2fb", "cannot encode '/'" },
        { "/a%00", "cannot encode '/' or NUL" },
        { "/a%zz", "malformed %XX" },
        { "/a%4", "malformed %XX" },
        { "/a%", "malformed %XX" },
        { "/a/./b", "'.' or '..' segment" },
        { "/a/..", "'.' or '..' segment" },
        { "/a/%2e%2E", "'.' or '..' segment" },
        { "/a/...", NULL },
        { "/a/.well-known", NULL },
        { "/", NULL },
        { "/a/", NULL },
        { "/caf%C3%A9", NULL },
        { "/%3Aid", NULL },
        { "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j/:k/:l/:m/:n/:o/*p", NULL },
        { "/:a/:b/:c/:d/:e/:f/:g/:h/:i/:j/:k/:l/:m/:n/:o/:p/:q", "more than FH_ROUTER_MAX_PARAMS" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fh_router_t *r;
        assert_int_equal(fh_router_new(&r, NULL), 0);
        int rc = fh_router_add(r, FH_METHOD_GET, cases[i].pattern, fixture_handler, NULL);
        const char *msg = fh_router_error(r);
        if (cases[i].why == NULL) {
            if (rc != 0)
                fail_msg("\"%s\" refused: %s", cases[i].pattern, msg);
            assert_string_equal(msg, "");
            assert_int_equal(fh_router_route_count(r), 1);
        } else {
            if (rc != FH_EROUTE_PATTERN)
                fail_msg("\"%s\": rc %d, want FH_EROUTE_PATTERN", cases[i].pattern, rc);
            if (!strstr(msg, cases[i].why))
                fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i].pattern, msg,
                         cases[i].why);
            /* The message names the route. */
            char route[128];
            snprintf(route, sizeof(route), "route \"GET %s\"", cases[i].pattern);
            if (!strstr(msg, route))
                fail_msg("message \"%s\" does not name %s", msg, route);
            assert_int_equal(fh_router_route_count(r), 0);
        }
        fh_router_free(r);
    }
}

typedef struct conflict_case {
    const char *first[4]; /* added first, all accepted */
    const char *second;   /* then this one, refused */
    const char *message;  /* the exact message */
} conflict_case_t;

static void test_conflicts(void **state) {
    (void)state;
    static const conflict_case_t cases[] = {
        { { "GET /a" },
          "GET /a",
          "fasthttp: route \"GET /a\" conflicts with \"GET /a\": the same method and pattern" },
        { { "GET /u/:id" },
          "GET /u/:name/x",
          "fasthttp: route \"GET /u/:name/x\" conflicts with \"GET /u/:id\": different "
          "parameter names at the same place" },
        { { "GET /u/:id/a", "POST /u/:id/b" },
          "PUT /u/:uid",
          "fasthttp: route \"PUT /u/:uid\" conflicts with \"GET /u/:id/a\": different "
          "parameter names at the same place" },
        { { "GET /f/*path" },
          "POST /f/*rest",
          "fasthttp: route \"POST /f/*rest\" conflicts with \"GET /f/*path\": different "
          "catch-all names at the same place" },
        { { "ANY /p", "GET /p" },
          "ANY /p",
          "fasthttp: route \"ANY /p\" conflicts with \"ANY /p\": the same method and pattern" },
        /* Two spellings of one pattern are one pattern. */
        { { "GET /ab" },
          "GET /a%62",
          "fasthttp: route \"GET /a%62\" conflicts with \"GET /ab\": the same method and "
          "pattern" },
        { { "GET /x/:id/y", "GET /x/:id" }, "GET /x/:id/", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fh_router_t *r;
        assert_int_equal(fh_router_new(&r, NULL), 0);
        size_t n = 0;
        for (; n < 4 && cases[i].first[n]; n++) {
            const char *sp = strchr(cases[i].first[n], ' ');
            assert_int_equal(
                fh_router_add(r,
                              fixture_method(cases[i].first[n], (size_t)(sp - cases[i].first[n])),
                              sp + 1, fixture_handler, NULL),
                0);
        }
        size_t before = fh__router_node_count(r);
        const char *sp = strchr(cases[i].second, ' ');
        int rc = fh_router_add(r, fixture_method(cases[i].second, (size_t)(sp - cases[i].second)),
                               sp + 1, fixture_handler, NULL);
        if (!cases[i].message) {
            assert_int_equal(rc, 0);
            assert_int_equal(fh_router_route_count(r), n + 1);
        } else {
            assert_int_equal(rc, FH_EROUTE_CONFLICT);
            assert_string_equal(fh_router_error(r), cases[i].message);
            assert_int_equal(fh_router_route_count(r), n);
            assert_int_equal(fh__router_node_count(r), before);
        }
        fh_router_free(r);
    }
}

static void test_invalid_arguments(void **state) {
    (void)state;
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, "/a", NULL, NULL), FH_EINVAL);
    assert_non_null(strstr(fh_router_error(r), "needs a handler"));
    assert_int_equal(fh_router_add(r, FH_METHOD_OTHER, "/a", fixture_handler, NULL), FH_EINVAL);
    assert_non_null(strstr(fh_router_error(r), "method must be"));
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, NULL, fixture_handler, NULL),
                     FH_EROUTE_PATTERN);
    /* A middleware with no hook at all is refused. */
    static const fh_middleware_t hookless = { .name = "hookless" };
    const fh_route_t with_mw[] = {
        FH_ROUTE_MW(FH_METHOD_GET, "/a", fixture_handler, NULL,
                    ((const fh_middleware_t *const[]){ &hookless, NULL })),
        FH_ROUTES_END,
    };
    assert_int_equal(fh_router_mount(r, "/", with_mw, NULL), FH_EINVAL);
    assert_non_null(strstr(fh_router_error(r), "middleware"));
    assert_int_equal(fh_router_mount(r, "/", NULL, NULL), FH_EINVAL);
    assert_int_equal(fh_router_route_count(r), 0);
    /* A success clears the last message. */
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, "/a", fixture_handler, NULL), 0);
    assert_string_equal(fh_router_error(r), "");
    fh_router_free(r);
    fh_router_free(NULL);
}

static int d_route, d_mount, d_other;

static void test_mounts_and_tables(void **state) {
    (void)state;
    static const fh_route_t users[] = {
        FH_GET("/", fixture_handler),
        FH_GET("/users", fixture_handler),
        FH_POST_D("/users", other_handler, &d_route),
        FH_GET("/users/:id", fixture_handler),
        FH_PUT("/users/:id", fixture_handler),
        FH_PATCH("/users/:id", fixture_handler),
        FH_DELETE("/users/:id", fixture_handler),
        FH_HEAD("/users/:id", fixture_handler),
        FH_OPTIONS("/users/:id", fixture_handler),
        FH_ANY("/any/*rest", fixture_handler),
        FH_ROUTES_END,
    };
    static const fh_route_t repos[] = {
        FH_GET("/repos/:repo", fixture_handler),
        FH_GET_D("/repos/:repo/issues/:n", fixture_handler, &d_route),
        FH_ROUTES_END,
    };
    static const fh_route_t root[] = {
        FH_GET("/health", fixture_handler),
        FH_ROUTES_END,
    };
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    assert_int_equal(fh_router_mount(r, "/api", users, &d_mount), 0);
    /* A trailing slash on the prefix is ignored; a prefix may hold params. */
    assert_int_equal(fh_router_mount(r, "/orgs/:org/", repos, &d_other), 0);
    assert_int_equal(fh_router_mount(r, NULL, root, NULL), 0);
    static const fh_route_t v[] = { FH_GET("/v", fixture_handler), FH_ROUTES_END };
    assert_int_equal(fh_router_mount(r, "/", v, NULL), 0);
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, "/direct", fixture_handler, &d_other), 0);

    static const char *const want[] = {
        "GET /api/",
        "GET /api/users",
        "POST /api/users",
        "GET /api/users/:id",
        "PUT /api/users/:id",
        "PATCH /api/users/:id",
        "DELETE /api/users/:id",
        "HEAD /api/users/:id",
        "OPTIONS /api/users/:id",
        "ANY /api/any/*rest",
        "GET /orgs/:org/repos/:repo",
        "GET /orgs/:org/repos/:repo/issues/:n",
        "GET /health",
        "GET /v",
        "GET /direct",
    };
    size_t n = sizeof(want) / sizeof(want[0]);
    assert_int_equal(fh_router_route_count(r), n);
    for (size_t i = 0; i < n; i++) {
        const fh_route_info_t *ri = fh_router_route_at(r, i);
        assert_non_null(ri);
        char got[128];
        snprintf(got, sizeof(got), "%s %s",
                 ri->method == FH_METHOD_ANY ? "ANY" : fh_method_name(ri->method), ri->pattern);
        assert_string_equal(got, want[i]);
        assert_int_equal(ri->index, i);
    }
    assert_null(fh_router_route_at(r, n));

    /* Data: the route's own, else the mount's. */
    const fh_route_info_t *ri = fh_router_route_at(r, 1);
    assert_ptr_equal(ri->data, &d_mount);
    assert_string_equal(ri->mount, "/api");
    assert_ptr_equal(ri->handler, fixture_handler);
    ri = fh_router_route_at(r, 2);
    assert_ptr_equal(ri->data, &d_route);
    assert_ptr_equal(ri->handler, other_handler);
    assert_ptr_equal(fh_router_route_at(r, 10)->data, &d_other);
    assert_string_equal(fh_router_route_at(r, 10)->mount, "/orgs/:org");
    assert_ptr_equal(fh_router_route_at(r, 11)->data, &d_route);
    assert_null(fh_router_route_at(r, 12)->data);
    assert_string_equal(fh_router_route_at(r, 12)->mount, "");
    assert_string_equal(fh_router_route_at(r, 14)->mount, "");
    assert_ptr_equal(fh_router_route_at(r, 14)->data, &d_other);

    static const lookup_case_t cases[] = {
        { "GET", "/api/", FH_ROUTE_FOUND, "GET /api/", NULL },
        { "GET", "/api", FH_ROUTE_NOT_FOUND, NULL, NULL },
        { "POST", "/api/users", FH_ROUTE_FOUND, "POST /api/users", NULL },
        { "HEAD", "/api/users/1", FH_ROUTE_FOUND, "HEAD /api/users/:id", "id=1" },
        { "OPTIONS", "/api/users/1", FH_ROUTE_FOUND, "OPTIONS /api/users/:id", "id=1" },
        { "PATCH", "/api/users/1", FH_ROUTE_FOUND, "PATCH /api/users/:id", "id=1" },
        { "TRACE", "/api/any/x", FH_ROUTE_FOUND, "ANY /api/any/*rest", "rest=x" },
        { "GET", "/orgs/acme/repos/web/issues/12", FH_ROUTE_FOUND,
          "GET /orgs/:org/repos/:repo/issues/:n", "org=acme|repo=web|n=12" },
        { "GET", "/health", FH_ROUTE_FOUND, "GET /health", NULL },
        { "GET", "/api/health", FH_ROUTE_NOT_FOUND, NULL, NULL },
        /* No dot segment reaches into or out of a mount. */
        { "GET", "/api/../health", FH_ROUTE_BAD_PATH, NULL, NULL },
        { "GET", "/api/users/%2e%2e", FH_ROUTE_BAD_PATH, NULL, NULL },
        { "GET", "/api/any/..%2F..%2Fhealth", FH_ROUTE_BAD_PATH, NULL, NULL },
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

static void test_mount_all_or_nothing(void **state) {
    (void)state;
    fh_router_t *r, *fresh;
    static const char *const base[] = { "GET /m/abc", "GET /m/x/:a/y", "GET /q", NULL };
    r = fixture_router(NULL, base);
    fresh = fixture_router(NULL, base);
    size_t nodes = fh__router_node_count(r);
    assert_int_equal(nodes, fh__router_node_count(fresh));

    /* The fourth route conflicts: the three before it are taken back,
     * including the splits of "/m/ab" and the new parameter node ":b". */
    static const fh_route_t bad[] = {
        FH_GET("/abd", fixture_handler),
        FH_GET("/ab", fixture_handler),
        FH_GET("/z/:b/w", fixture_handler),
        FH_GET("/x/:c/y", fixture_handler),
        FH_ROUTES_END,
    };
    assert_int_equal(fh_router_mount(r, "/m", bad, NULL), FH_EROUTE_CONFLICT);
    assert_string_equal(fh_router_error(r),
                        "fasthttp: route \"GET /m/x/:c/y\" conflicts with \"GET /m/x/:a/y\": "
                        "different parameter names at the same place");
    assert_int_equal(fh_router_route_count(r), 3);
    assert_int_equal(fh__router_node_count(r), nodes);
    /* The table of routes without parameters holds "/m/abc" and "/q" only. */
    assert_int_equal(fh__router_static_count(r), 2);
    assert_int_equal(fh__router_static_count(fresh), 2);
    static const lookup_case_t after[] = {
        { "GET", "/m/abd", FH_ROUTE_NOT_FOUND, NULL, NULL },
        { "GET", "/m/ab", FH_ROUTE_NOT_FOUND, NULL, NULL },
        { "GET", "/m/z/1/w", FH_ROUTE_NOT_FOUND, NULL, NULL },
        { "GET", "/m/abc", FH_ROUTE_FOUND, "GET /m/abc", NULL },
        { "GET", "/m/x/1/y", FH_ROUTE_FOUND, "GET /m/x/:a/y", "a=1" },
        { "GET", "/q", FH_ROUTE_FOUND, "GET /q", NULL },
    };
    FIXTURE_CHECK(r, after);

    /* No ghost of ":b" is left to conflict with. */
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, "/m/z/:other", fixture_handler, NULL), 0);
    /* A conflict inside the table itself, and a route after a duplicate. */
    static const fh_route_t self[] = {
        FH_GET("/s/:a", fixture_handler),
        FH_POST("/s/:b", fixture_handler),
        FH_ROUTES_END,
    };
    assert_int_equal(fh_router_mount(r, "", self, NULL), FH_EROUTE_CONFLICT);
    assert_string_equal(fh_router_error(r),
                        "fasthttp: route \"POST /s/:b\" conflicts with \"GET /s/:a\": different "
                        "parameter names at the same place");
    assert_int_equal(fh_router_route_count(r), 4);
    assert_int_equal(fh_router_add(r, FH_METHOD_GET, "/s/:c", fixture_handler, NULL), 0);

    /* Mounting the same table twice is a conflict: nothing shadows silently. */
    static const fh_route_t twice[] = { FH_GET("/t", fixture_handler), FH_ROUTES_END };
    assert_int_equal(fh_router_mount(r, "/k", twice, NULL), 0);
    assert_int_equal(fh_router_mount(r, "/k", twice, NULL), FH_EROUTE_CONFLICT);
    assert_string_equal(fh_router_error(r), "fasthttp: route \"GET /k/t\" conflicts with "
                                            "\"GET /k/t\": the same method and pattern");
    /* Bad prefixes. */
    assert_int_equal(fh_router_mount(r, "/x/*p", twice, NULL), FH_EROUTE_PATTERN);
    assert_string_equal(fh_router_error(r),
                        "fasthttp: mount prefix \"/x/*p\": a mount prefix cannot hold a catch-all");
    assert_int_equal(fh_router_mount(r, "api", twice, NULL), FH_EROUTE_PATTERN);
    /* A route of a table starts with '/' too: "users" under "/api" is not
     * "/apiusers". */
    static const fh_route_t no_slash[] = { FH_GET("users", fixture_handler), FH_ROUTES_END };
    assert_int_equal(fh_router_mount(r, "/api", no_slash, NULL), FH_EROUTE_PATTERN);
    assert_string_equal(fh_router_error(r), "fasthttp: route \"GET users\" under \"/api\": a "
                                            "pattern must start with '/'");
    static const fh_route_t empty[] = { FH_GET("", fixture_handler), FH_ROUTES_END };
    assert_int_equal(fh_router_mount(r, "/api", empty, NULL), FH_EROUTE_PATTERN);
    assert_int_equal(fh_router_route_count(r), 6);
    fh_router_free(r);
    fh_router_free(fresh);
}

static void test_allow_and_redirect_helpers(void **state) {
    (void)state;
    char buf[128];
    unsigned all = (1u << FH_METHOD_OTHER) - 1;
    size_t len = fh_router_allow(all, buf, sizeof(buf));
    assert_int_equal(len, strlen(buf));
    assert_string_equal(buf, "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE");
    fh_router_allow((1u << FH_METHOD_PATCH) | (1u << FH_METHOD_GET), buf, sizeof(buf));
    assert_string_equal(buf, "GET, PATCH");
    assert_int_equal(fh_router_allow(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    /* Truncated like snprintf: the full length comes back. */
    assert_int_equal(fh_router_allow((1u << FH_METHOD_GET) | (1u << FH_METHOD_HEAD), buf, 6), 9);
    assert_string_equal(buf, "GET, ");
    assert_int_equal(fh_router_allow(1u << FH_METHOD_GET, NULL, 0), 3);

    static const struct {
        const char *in;
        unsigned flags;
        const char *out;
    } rp[] = {
        { "/a//b/", FH_REDIRECT_COLLAPSE | FH_REDIRECT_REMOVE_SLASH, "/a/b" },
        { "/a//b/", FH_REDIRECT_COLLAPSE, "/a/b/" },
        { "/a", FH_REDIRECT_ADD_SLASH, "/a/" },
        { "/a/", FH_REDIRECT_REMOVE_SLASH, "/a" },
        { "///", FH_REDIRECT_COLLAPSE, "/" },
        { "/a///", FH_REDIRECT_COLLAPSE | FH_REDIRECT_REMOVE_SLASH, "/a" },
        { "/a///", FH_REDIRECT_REMOVE_SLASH, "/a//" },
        { "/%2F/x", FH_REDIRECT_ADD_SLASH, "/%2F/x/" },
        { "/", FH_REDIRECT_REMOVE_SLASH, "/" },
    };
    for (size_t i = 0; i < sizeof(rp) / sizeof(rp[0]); i++) {
        size_t n = fh_router_redirect_path(fh_str(rp[i].in), rp[i].flags, buf);
        buf[n] = '\0';
        assert_string_equal(buf, rp[i].out);
    }
}

static void test_decode_params(void **state) {
    (void)state;
    fh_arena_cache_t *cache;
    fh_arena_t *arena;
    assert_int_equal(fh_arena_cache_new(&cache, 0, 0), 0);
    assert_int_equal(fh_arena_new(&arena, cache), 0);
    static const char *const routes[] = { "GET /f/:name/:b/:c/*rest", NULL };
    fh_router_t *r = fixture_router(NULL, routes);
    static const char path[] = "/f/a%2Fb/%E2%9C%93/a+b%20c/";
    fh_route_match_t m;
    assert_int_equal(fh_router_lookup(r, FH_METHOD_GET, fh_str(path), &m), FH_ROUTE_FOUND);
    fh_str_t *names, *values;
    assert_int_equal(fh__router_decode_params(&m, arena, &names, &values), 0);
    assert_true(fh_str_eq(names[0], "name"));
    assert_true(fh_str_eq(values[0], "a/b"));
    assert_true(fh_str_eq(names[1], "b"));
    assert_true(fh_str_eq(values[1], "\xe2\x9c\x93"));
    assert_true(fh_str_eq(values[2], "a+b c"));
    /* An empty catch-all is present and empty, not absent. */
    assert_true(fh_str_eq(names[3], "rest"));
    assert_non_null(values[3].ptr);
    assert_int_equal(values[3].len, 0);

    /* A value without escapes is the path itself (no copy). */
    static const char plain[] = "/f/x/y/z/w/v";
    assert_int_equal(fh_router_lookup(r, FH_METHOD_GET, fh_str(plain), &m), FH_ROUTE_FOUND);
    assert_int_equal(fh__router_decode_params(&m, arena, &names, &values), 0);
    assert_ptr_equal(values[0].ptr, plain + 3);
    assert_true(fh_str_eq(values[3], "w/v"));

    /* Lookups refuse what decoding would refuse; a match built by hand
     * shows decoding would say so too. */
    m.nparams = 1;
    m.encoded = true;
    m.values[0] = fh_str("%4");
    assert_int_equal(fh__router_decode_params(&m, arena, &names, &values), FH_EINVAL);
    m.values[0] = fh_str("a%00");
    assert_int_equal(fh__router_decode_params(&m, arena, &names, &values), FH_EINVAL);

    fh_router_free(r);
    fh_arena_release(arena);
    fh_arena_cache_free(cache);
}

static void test_config_default(void **state) {
    (void)state;
    fh_router_config_t cfg = fh_router_config_default();
    assert_int_equal(cfg.trailing_slash, FH_SLASH_STRICT);
    assert_int_equal(cfg.double_slash, FH_SLASH_STRICT);
    assert_false(cfg.manual_options);
    assert_null(cfg.not_found);
    assert_null(cfg.method_not_allowed);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_mounts_and_tables),
        cmocka_unit_test(test_mount_all_or_nothing),
        cmocka_unit_test(test_allow_and_redirect_helpers),
        cmocka_unit_test(test_decode_params),
        cmocka_unit_test(test_config_default),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
