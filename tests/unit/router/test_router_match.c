/* Router lookups, table-driven: static segments, parameters, catch-alls,
 * priority and backtracking, methods (405, HEAD, ANY, OPTIONS), the path
 * policy (escapes, dot segments, double and trailing slashes, case). */
#include "router_fixture.h"

#define FOUND(m, p, route, params)                                                                 \
    { m, p, FH_ROUTE_FOUND, route, params }
#define MISS(m, p)                                                                                 \
    { m, p, FH_ROUTE_NOT_FOUND, NULL, NULL }
#define NOT_ALLOWED(m, p, allow)                                                                   \
    { m, p, FH_ROUTE_METHOD_NOT_ALLOWED, allow, NULL }
#define AUTO_OPTIONS(p, allow)                                                                     \
    { "OPTIONS", p, FH_ROUTE_OPTIONS, allow, NULL }
#define REDIRECT(m, p, to)                                                                         \
    { m, p, FH_ROUTE_REDIRECT, to, NULL }
#define BAD(m, p)                                                                                  \
    { m, p, FH_ROUTE_BAD_PATH, NULL, NULL }

/* A small REST API used by several tables. */
static const char *const api[] = {
    "GET /",
    "GET /users",
    "POST /users",
    "GET /users/new",
    "GET /users/:id",
    "PUT /users/:id",
    "DELETE /users/:id",
    "GET /users/:id/posts",
    "GET /users/:id/posts/:post",
    "GET /static/*path",
    "GET /docs/",
    NULL,
};

static void test_static_and_params(void **state) {
    (void)state;
    fh_router_t *r = fixture_router(NULL, api);
    static const lookup_case_t cases[] = {
        FOUND("GET", "/", "GET /", NULL),
        FOUND("GET", "/users", "GET /users", NULL),
        FOUND("POST", "/users", "POST /users", NULL),
        FOUND("GET", "/users/new", "GET /users/new", NULL),
        FOUND("GET", "/users/42", "GET /users/:id", "id=42"),
        FOUND("PUT", "/users/42", "PUT /users/:id", "id=42"),
        FOUND("DELETE", "/users/x", "DELETE /users/:id", "id=x"),
        FOUND("GET", "/users/42/posts", "GET /users/:id/posts", "id=42"),
        FOUND("GET", "/users/42/posts/7", "GET /users/:id/posts/:post", "id=42|post=7"),
        FOUND("GET", "/docs/", "GET /docs/", NULL),
        /* A parameter is one whole, non-empty segment. */
        MISS("GET", "/users//posts"),
        MISS("GET", "/users/42/posts/7/x"),
        MISS("GET", "/users/42/posts/"),
        FOUND("GET", "/users/a+b", "GET /users/:id", "id=a+b"),
        FOUND("GET", "/users/a:b", "GET /users/:id", "id=a:b"),
        /* Prefixes and extensions of static segments are other paths. */
        MISS("GET", "/user"),
        MISS("GET", "/usersx"),
        MISS("GET", "/x"),
        MISS("GET", "/docs"),
        /* Strict trailing slash by default. */
        MISS("GET", "/users/"),
        MISS("GET", "/users/42/"),
        /* Case-sensitive. */
        MISS("GET", "/Users"),
        MISS("GET", "/USERS/42"),
        FOUND("GET", "/users/ABC", "GET /users/:id", "id=ABC"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

static void test_catchall(void **state) {
    (void)state;
    static const char *const routes[] = {
        "GET /static/*path", "GET /files/:name", "GET /files/:name/meta",
        "GET /files/*path",  "GET /*all",        NULL,
    };
    fh_router_t *r = fixture_router(NULL, routes);
    static const lookup_case_t cases[] = {
        FOUND("GET", "/static/", "GET /static/*path", "path="),
        FOUND("GET", "/static/a.css", "GET /static/*path", "path=a.css"),
        FOUND("GET", "/static/css/site/a.css", "GET /static/*path", "path=css/site/a.css"),
        FOUND("GET", "/static/a//b/", "GET /static/*path", "path=a//b/"),
        /* "/static" is not under "/static/": the root catch-all takes it. */
        FOUND("GET", "/static", "GET /*all", "all=static"),
        /* Parameter before catch-all at the same place. */
        FOUND("GET", "/files/a", "GET /files/:name", "name=a"),
        FOUND("GET", "/files/a/meta", "GET /files/:name/meta", "name=a"),
        FOUND("GET", "/files/a/b", "GET /files/*path", "path=a/b"),
        FOUND("GET", "/files/a/metax", "GET /files/*path", "path=a/metax"),
        FOUND("GET", "/files/", "GET /files/*path", "path="),
        FOUND("GET", "/", "GET /*all", "all="),
        FOUND("GET", "/anything/at/all", "GET /*all", "all=anything/at/all"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

static void test_priority_and_backtracking(void **state) {
    (void)state;
    static const char *const routes[] = {
        "GET /a/b/c",
        "GET /a/:x/d",
        "GET /a/*rest",
        "GET /:lang/docs",
        "GET /api/v1",
        "GET /p/:a/x",
        "GET /p/s/:b",
        "GET /users/new",
        "GET /users/:id",
        "GET /users/:id/edit",
        "GET /users/newest/top",
        "GET /search/:q/page/:n",
        "GET /search/all",
        NULL,
    };
    fh_router_t *r = fixture_router(NULL, routes);
    static const lookup_case_t cases[] = {
        FOUND("GET", "/a/b/c", "GET /a/b/c", NULL),
        /* Static "b" leads nowhere for "/d": back to the parameter. */
        FOUND("GET", "/a/b/d", "GET /a/:x/d", "x=b"),
        /* Neither static nor parameter: back to the catch-all. */
        FOUND("GET", "/a/b/e", "GET /a/*rest", "rest=b/e"),
        FOUND("GET", "/a/bb/d", "GET /a/:x/d", "x=bb"),
        FOUND("GET", "/a/b", "GET /a/*rest", "rest=b"),
        FOUND("GET", "/a/b/c/d", "GET /a/*rest", "rest=b/c/d"),
        /* A static prefix "api" that fails further right. */
        FOUND("GET", "/api/v1", "GET /api/v1", NULL),
        FOUND("GET", "/api/docs", "GET /:lang/docs", "lang=api"),
        FOUND("GET", "/en/docs", "GET /:lang/docs", "lang=en"),
        MISS("GET", "/api/v2"),
        /* Segment by segment from the left: static "s" wins over ":a". */
        FOUND("GET", "/p/s/x", "GET /p/s/:b", "b=x"),
        FOUND("GET", "/p/t/x", "GET /p/:a/x", "a=t"),
        FOUND("GET", "/p/s/y", "GET /p/s/:b", "b=y"),
        /* A static segment that is a prefix of the path's segment. */
        FOUND("GET", "/users/new", "GET /users/new", NULL),
        FOUND("GET", "/users/newbie", "GET /users/:id", "id=newbie"),
        FOUND("GET", "/users/ne", "GET /users/:id", "id=ne"),
        FOUND("GET", "/users/new/edit", "GET /users/:id/edit", "id=new"),
        FOUND("GET", "/users/newest", "GET /users/:id", "id=newest"),
        FOUND("GET", "/users/newest/top", "GET /users/newest/top", NULL),
        FOUND("GET", "/users/newest/edit", "GET /users/:id/edit", "id=newest"),
        /* Params captured on a failed branch are forgotten. */
        FOUND("GET", "/search/all", "GET /search/all", NULL),
        FOUND("GET", "/search/x/page/2", "GET /search/:q/page/:n", "q=x|n=2"),
        MISS("GET", "/search/x/page"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

static void test_methods(void **state) {
    (void)state;
    static const char *const routes[] = {
        "GET /users",
        "POST /users",
        "GET /users/new",
        "GET /users/:id",
        "PUT /users/:id",
        "DELETE /users/:id",
        "ANY /proxy/*rest",
        "GET /proxy/status",
        "ANY /any",
        "GET /any",
        "GET /h",
        "HEAD /h",
        "OPTIONS /cors",
        "GET /cors",
        "TRACE /t",
        "CONNECT /c",
        "PATCH /only-patch",
        NULL,
    };
    fh_router_t *r = fixture_router(NULL, routes);
    static const lookup_case_t cases[] = {
        NOT_ALLOWED("PATCH", "/users", "GET, HEAD, POST, OPTIONS"),
        NOT_ALLOWED("PATCH", "/users/42", "GET, HEAD, PUT, DELETE, OPTIONS"),
        /* Allow lists every route that matches the path: the static one
         * and the parameter one. */
        NOT_ALLOWED("POST", "/users/new", "GET, HEAD, PUT, DELETE, OPTIONS"),
        /* A route for the method wins over a better-placed one without it. */
        FOUND("PUT", "/users/new", "PUT /users/:id", "id=new"),
        FOUND("DELETE", "/users/new", "DELETE /users/:id", "id=new"),
        /* HEAD: the HEAD route, else GET, else ANY. */
        FOUND("HEAD", "/users/42", "GET /users/:id", "id=42"),
        FOUND("HEAD", "/h", "HEAD /h", NULL),
        FOUND("GET", "/h", "GET /h", NULL),
        FOUND("HEAD", "/any", "GET /any", NULL),
        /* ANY takes what no exact method takes. */
        FOUND("GET", "/any", "GET /any", NULL),
        FOUND("DELETE", "/any", "ANY /any", NULL),
        FOUND("OPTIONS", "/any", "ANY /any", NULL),
        FOUND("OTHER", "/any", "ANY /any", NULL),
        FOUND("GET", "/proxy/status", "GET /proxy/status", NULL),
        FOUND("POST", "/proxy/status", "ANY /proxy/*rest", "rest=status"),
        FOUND("PATCH", "/proxy/a/b", "ANY /proxy/*rest", "rest=a/b"),
        /* OPTIONS: an explicit route, else the automatic answer. */
        FOUND("OPTIONS", "/cors", "OPTIONS /cors", NULL),
        AUTO_OPTIONS("/users", "GET, HEAD, POST, OPTIONS"),
        AUTO_OPTIONS("/users/7", "GET, HEAD, PUT, DELETE, OPTIONS"),
        AUTO_OPTIONS("/only-patch", "PATCH, OPTIONS"),
        AUTO_OPTIONS("/t", "OPTIONS, TRACE"),
        MISS("OPTIONS", "/nowhere"),
        /* The whole server. */
        AUTO_OPTIONS("*", "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT, TRACE"),
        BAD("GET", "*"),
        FOUND("TRACE", "/t", "TRACE /t", NULL),
        FOUND("CONNECT", "/c", "CONNECT /c", NULL),
        NOT_ALLOWED("GET", "/only-patch", "PATCH, OPTIONS"),
        NOT_ALLOWED("HEAD", "/only-patch", "PATCH, OPTIONS"),
        NOT_ALLOWED("OTHER", "/users", "GET, HEAD, POST, OPTIONS"),
        MISS("DELETE", "/nothing"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);

    /* Manual OPTIONS: no automatic answer, and OPTIONS leaves Allow. */
    fh_router_config_t cfg = fh_router_config_default();
    cfg.manual_options = true;
    r = fixture_router(&cfg, routes);
    static const lookup_case_t manual[] = {
        NOT_ALLOWED("OPTIONS", "/users", "GET, HEAD, POST"),
        NOT_ALLOWED("PATCH", "/users", "GET, HEAD, POST"),
        FOUND("OPTIONS", "/cors", "OPTIONS /cors", NULL),
        MISS("OPTIONS", "*"),
    };
    FIXTURE_CHECK(r, manual);
    fh_router_free(r);
}

static void test_percent_encoding(void **state) {
    (void)state;
    static const char *const routes[] = {
        "GET /users",
        "GET /users/:id",
        "GET /files/:name",
        "GET /files/:name/meta",
        "GET /static/*path",
        "GET /caf%C3%A9",
        "GET /menu/\xc3\xa9t\xc3\xa9",
        "GET /a%20b",
        "GET /%3Aliteral",
        "GET /100%25",
        NULL,
    };
    fh_router_t *r = fixture_router(NULL, routes);
    static const lookup_case_t cases[] = {
        /* %2F stays inside its segment; values stay raw (dispatch decodes). */
        FOUND("GET", "/files/a%2Fb", "GET /files/:name", "name=a%2Fb"),
        FOUND("GET", "/files/a%2fb/meta", "GET /files/:name/meta", "name=a%2fb"),
        FOUND("GET", "/files/%2F", "GET /files/:name", "name=%2F"),
        FOUND("GET", "/static/a%2Fb/c", "GET /static/*path", "path=a%2Fb/c"),
        /* An encoded slash never stands for a separator. */
        MISS("GET", "/users%2F42"),
        MISS("GET", "/files%2Fx"),
        /* Escapes of other bytes compare as the byte. */
        FOUND("GET", "/%75sers", "GET /users", NULL),
        FOUND("GET", "/user%73", "GET /users", NULL),
        FOUND("GET", "/%75%73%65%72%73/7", "GET /users/:id", "id=7"),
        FOUND("GET", "/users/%41", "GET /users/:id", "id=%41"),
        FOUND("GET", "/caf%C3%A9", "GET /caf%C3%A9", NULL),
        FOUND("GET", "/caf%c3%a9", "GET /caf%C3%A9", NULL),
        FOUND("GET", "/caf\xc3\xa9", "GET /caf%C3%A9", NULL),
        FOUND("GET", "/menu/%C3%A9t%C3%A9", "GET /menu/\xc3\xa9t\xc3\xa9", NULL),
        FOUND("GET", "/a%20b", "GET /a%20b", NULL),
        MISS("GET", "/a+b"),
        MISS("GET", "/a%2Bb"),
        FOUND("GET", "/%3Aliteral", "GET /%3Aliteral", NULL),
        FOUND("GET", "/:literal", "GET /%3Aliteral", NULL),
        FOUND("GET", "/100%25", "GET /100%25", NULL),
        /* Malformed escapes and encoded NUL anywhere: 400. */
        BAD("GET", "/100%"),
        BAD("GET", "/users/%zz"),
        BAD("GET", "/users/%4"),
        BAD("GET", "/users/%4g"),
        BAD("GET", "/users/a%00b"),
        BAD("GET", "/%"),
        BAD("GET", "/nowhere/%GG"),
        /* Dot segments, raw or encoded, split at raw or encoded slashes. */
        BAD("GET", "/users/.."),
        BAD("GET", "/users/."),
        BAD("GET", "/users/../users"),
        BAD("GET", "/./users"),
        BAD("GET", "/users/%2e%2e"),
        BAD("GET", "/users/%2E"),
        BAD("GET", "/users/.%2E/x"),
        BAD("GET", "/static/a/../../etc/passwd"),
        BAD("GET", "/static/a%2F..%2F..%2Fetc"),
        BAD("GET", "/files/..%2Fetc"),
        BAD("GET", "/files/x%2F."),
        BAD("GET", "/.."),
        /* Dots that are not dot segments are ordinary bytes. */
        FOUND("GET", "/static/...", "GET /static/*path", "path=..."),
        FOUND("GET", "/static/.hidden/a..b", "GET /static/*path", "path=.hidden/a..b"),
        FOUND("GET", "/files/a.json", "GET /files/:name", "name=a.json"),
        FOUND("GET", "/files/..a", "GET /files/:name", "name=..a"),
        /* Not a path at all. */
        BAD("GET", ""),
        BAD("GET", "users"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

static void test_double_slashes(void **state) {
    (void)state;
    /* Strict (default): empty segments match nothing but a catch-all. */
    fh_router_t *r = fixture_router(NULL, api);
    static const lookup_case_t strict[] = {
        MISS("GET", "//users"),
        MISS("GET", "/users//42"),
        MISS("GET", "//"),
        FOUND("GET", "/static//a", "GET /static/*path", "path=/a"),
    };
    FIXTURE_CHECK(r, strict);
    fh_router_free(r);

    fh_router_config_t cfg = fh_router_config_default();
    cfg.double_slash = FH_SLASH_REDIRECT;
    r = fixture_router(&cfg, api);
    static const lookup_case_t redirect[] = {
        REDIRECT("GET", "//users", "/users"),
        REDIRECT("GET", "/users//42", "/users/42"),
        REDIRECT("GET", "/users///42//posts", "/users/42/posts"),
        REDIRECT("POST", "//users", "/users"),
        REDIRECT("GET", "//", "/"),
        REDIRECT("GET", "/users/%41//posts", "/users/%41/posts"),
        /* The collapsed path would 405: still the canonical resource. */
        REDIRECT("PATCH", "/users//42", "/users/42"),
        /* A path that matches as it is is left alone. */
        FOUND("GET", "/static//a", "GET /static/*path", "path=/a"),
        /* Collapsing alone does not fix a trailing slash (strict here). */
        MISS("GET", "/users//"),
        MISS("GET", "//nothing"),
    };
    FIXTURE_CHECK(r, redirect);
    fh_router_free(r);
}

static void test_trailing_slash(void **state) {
    (void)state;
    fh_router_config_t cfg = fh_router_config_default();
    cfg.trailing_slash = FH_SLASH_REDIRECT;
    static const char *const routes[] = {
        "GET /",          "GET /users", "POST /users",
        "GET /users/:id", "GET /docs/", "GET /static/*path",
        "GET /both",      "GET /both/", NULL,
    };
    fh_router_t *r = fixture_router(&cfg, routes);
    static const lookup_case_t cases[] = {
        REDIRECT("GET", "/users/", "/users"),
        REDIRECT("POST", "/users/", "/users"),
        REDIRECT("GET", "/users/42/", "/users/42"),
        REDIRECT("GET", "/docs", "/docs/"),
        REDIRECT("GET", "/static", "/static/"),
        /* The form that exists only answers another method: redirect, and
         * the client then learns the methods from a 405. */
        REDIRECT("DELETE", "/users/", "/users"),
        /* Both forms are routes: no redirect. */
        FOUND("GET", "/both", "GET /both", NULL),
        FOUND("GET", "/both/", "GET /both/", NULL),
        FOUND("GET", "/users", "GET /users", NULL),
        FOUND("GET", "/docs/", "GET /docs/", NULL),
        MISS("GET", "/users/42/x/"),
        /* Without double-slash redirects a doubled slash is not fixed. */
        MISS("GET", "/users//"),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);

    /* Both policies: collapse and fix the trailing slash in one redirect. */
    cfg.double_slash = FH_SLASH_REDIRECT;
    r = fixture_router(&cfg, routes);
    static const lookup_case_t both[] = {
        REDIRECT("GET", "/users//", "/users"),
        REDIRECT("GET", "//users/42//", "/users/42"),
        REDIRECT("GET", "//docs", "/docs/"),
        REDIRECT("GET", "//users", "/users"),
    };
    FIXTURE_CHECK(r, both);
    fh_router_free(r);

    /* Browsers read a Location starting with "//" or "/\" as another host:
     * such a redirect is never sent. */
    static const char *const page[] = { "GET /:page/", NULL };
    r = fixture_router(&cfg, page);
    static const lookup_case_t hosts[] = {
        REDIRECT("GET", "/good", "/good/"),
        REDIRECT("GET", "/a%20b", "/a%20b/"),
        MISS("GET", "/\\evil.example"),
        MISS("GET", "//\\evil.example"),
        REDIRECT("GET", "//evil.example", "/evil.example/"),
    };
    FIXTURE_CHECK(r, hosts);
    fh_router_free(r);
}

static void test_root_and_empty_router(void **state) {
    (void)state;
    static const char *const none[] = { NULL };
    fh_router_t *r = fixture_router(NULL, none);
    static const lookup_case_t cases[] = {
        MISS("GET", "/"),
        MISS("OPTIONS", "/"),
        MISS("OPTIONS", "*"),
        BAD("GET", "/.."),
    };
    FIXTURE_CHECK(r, cases);
    fh_router_free(r);
}

/* Many routes sharing prefixes force splits and nodes with many children
 * (the binary-search path of child lookup). */
static void test_many_routes(void **state) {
    (void)state;
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    char pat[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(pat, sizeof(pat), "/r%d/items/:id", i);
        assert_int_equal(fh_router_add(r, FH_METHOD_GET, pat, fixture_handler, NULL), 0);
        snprintf(pat, sizeof(pat), "/%c%d", (char)(' ' + 1 + i % 90), i);
        if (strchr("?#%/:*", pat[1]) || pat[1] == 0x7f)
            continue;
        assert_int_equal(fh_router_add(r, FH_METHOD_POST, pat, fixture_handler, NULL), 0);
    }
    for (int i = 0; i < 2000; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/r%d/items/x%d", i, i);
        fh_route_match_t m;
        assert_int_equal(fh_router_lookup(r, FH_METHOD_GET, fh_str(path), &m), FH_ROUTE_FOUND);
        snprintf(pat, sizeof(pat), "/r%d/items/:id", i);
        assert_string_equal(m.route->pattern, pat);
        char want[32];
        snprintf(want, sizeof(want), "x%d", i);
        assert_int_equal(m.nparams, 1);
        assert_true(fh_str_eq(m.values[0], want));
        snprintf(path, sizeof(path), "/r%d/items", i);
        assert_int_equal(fh_router_lookup(r, FH_METHOD_GET, fh_str(path), &m), FH_ROUTE_NOT_FOUND);
    }
    fh_router_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_and_params),
        cmocka_unit_test(test_catchall),
        cmocka_unit_test(test_priority_and_backtracking),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_percent_encoding),
        cmocka_unit_test(test_double_slashes),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_root_and_empty_router),
        cmocka_unit_test(test_many_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
