/* Shared by the router tests: routers built from "METHOD /pattern" lines and
 * lookup tables checked row by row. */
#ifndef FH_TEST_ROUTER_FIXTURE_H
#define FH_TEST_ROUTER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <fasthttp.h>

/* Every route gets this handler; tests tell routes apart by method and
 * pattern. */
static int fixture_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return 0;
}

static fh_method_t fixture_method(const char *name, size_t len) {
    static const char *const names[] = { "GET",   "HEAD",    "POST",    "PUT",  "DELETE",
                                         "PATCH", "OPTIONS", "CONNECT", "TRACE" };
    for (int m = 0; m < (int)(sizeof(names) / sizeof(names[0])); m++)
        if (strlen(names[m]) == len && memcmp(names[m], name, len) == 0)
            return (fh_method_t)m;
    if (len == 3 && memcmp(name, "ANY", 3) == 0)
        return FH_METHOD_ANY;
    return FH_METHOD_OTHER;
}

/* Adds "METHOD /pattern" lines (NULL-terminated); fails the test if one is
 * refused. */
static fh_router_t *fixture_router(const fh_router_config_t *cfg, const char *const *specs) {
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, cfg), 0);
    for (; *specs; specs++) {
        const char *sp = strchr(*specs, ' ');
        assert_non_null(sp);
        int rc = fh_router_add(r, fixture_method(*specs, (size_t)(sp - *specs)), sp + 1,
                               fixture_handler, NULL);
        if (rc)
            fail_msg("adding \"%s\": %s", *specs, fh_router_error(r));
    }
    return r;
}

/* One lookup and what it must give. */
typedef struct lookup_case {
    const char *method; /* "GET", ... or "OTHER" */
    const char *path;
    fh_route_status_t status;
    /* FOUND: "METHOD /pattern" of the route. REDIRECT: the target path.
     * METHOD_NOT_ALLOWED, OPTIONS: the Allow value. Else NULL. */
    const char *want;
    /* FOUND: "name=raw-value" pairs separated by '|', in pattern order; NULL
     * or "" for none. */
    const char *params;
} lookup_case_t;

static const char *const status_names[] = { "FOUND",   "NOT_FOUND", "METHOD_NOT_ALLOWED",
                                            "OPTIONS", "REDIRECT",  "BAD_PATH" };

static void fixture_check(const fh_router_t *r, const lookup_case_t *c, size_t n) {
    int failures = 0;
    for (size_t i = 0; i < n; i++, c++) {
        fh_route_match_t m;
        fh_str_t path = fh_str(c->path);
        fh_route_status_t st =
            fh_router_lookup(r, fixture_method(c->method, strlen(c->method)), path, &m);
        char got[512] = "", params[512] = "";
        if (st == FH_ROUTE_FOUND) {
            snprintf(got, sizeof(got), "%s %s",
                     m.route->method == FH_METHOD_ANY ? "ANY" : fh_method_name(m.route->method),
                     m.route->pattern);
            size_t o = 0;
            for (size_t k = 0; k < m.nparams && o < sizeof(params); k++)
                o += (size_t)snprintf(params + o, sizeof(params) - o, "%s%.*s=%.*s", k ? "|" : "",
                                      FH_STR_FMT(m.names[k]), FH_STR_FMT(m.values[k]));
        } else if (st == FH_ROUTE_REDIRECT) {
            char buf[512];
            size_t len = fh_router_redirect_path(path, m.redirect, buf);
            snprintf(got, sizeof(got), "%.*s", (int)len, buf);
        } else if (st == FH_ROUTE_METHOD_NOT_ALLOWED || st == FH_ROUTE_OPTIONS) {
            fh_router_allow(m.allowed, got, sizeof(got));
        }
        const char *want = c->want ? c->want : "";
        const char *want_params = c->params ? c->params : "";
        if (st != c->status || strcmp(got, want) != 0 || strcmp(params, want_params) != 0) {
            print_error("row %zu: %s %s: got %s \"%s\" [%s], want %s \"%s\" [%s]\n", i, c->method,
                        c->path, status_names[st], got, params, status_names[c->status], want,
                        want_params);
            failures++;
        }
    }
    if (failures)
        fail_msg("%d of %zu lookups differ", failures, n);
}

#define FIXTURE_CHECK(r, cases) fixture_check((r), (cases), sizeof(cases) / sizeof((cases)[0]))

#endif /* FH_TEST_ROUTER_FIXTURE_H */
