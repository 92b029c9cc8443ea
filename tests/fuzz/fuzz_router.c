/* libFuzzer target for the router.
 *
 * Input: byte 0 picks the mode and the router options, byte 1 the method,
 * the rest is lines separated by '\n'.
 *
 *   mode 0 (byte 0 even): the rest is one path, looked up in a fixed router
 *     built from a realistic API table;
 *   mode 1 (byte 0 odd): every line but the last is a route (its first byte
 *     picks the method: G H P U D A O C T for GET HEAD POST PUT DELETE
 *     PATCH OPTIONS CONNECT TRACE, '*' for any; the rest is the pattern),
 *     added one by one or, with
 *     bit 1 of byte 0, mounted as one table under the first line; the last
 *     line is a path to look up.
 *
 * Beyond "no crash, no leak, no undefined behaviour", each run checks what
 * must hold for any input:
 *   - a FOUND match has at most FH_ROUTER_MAX_PARAMS params, each a view
 *     inside the path, and its params decode without error;
 *   - a path with a dot segment or a bad escape is never FOUND;
 *   - a REDIRECT target, looked up again, is never a redirect, a 404 or a
 *     400 (the probe and the Location agree);
 *   - every route a router accepted is reachable: its pattern with each
 *     parameter filled in is FOUND, and an all-static pattern finds exactly
 *     its own route for its own method;
 *   - a failed add or mount leaves the tree a fresh build of the accepted
 *     routes would give;
 *   - with routes from the input, the lookup agrees with a slow reference
 *     matcher that states the priority rules directly (which route, which
 *     params, which Allow set).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fasthttp.h>

#include "router/router.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_router: check failed at line %d: %s\n", __LINE__, #cond);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int noop(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return 0;
}

static const fh_route_t api[] = {
    FH_GET("/", noop),
    FH_GET("/users", noop),
    FH_POST("/users", noop),
    FH_GET("/users/new", noop),
    FH_GET("/users/:id", noop),
    FH_PATCH("/users/:id", noop),
    FH_DELETE("/users/:id", noop),
    FH_GET("/users/:id/repos", noop),
    FH_GET("/repos/:owner/:repo", noop),
    FH_GET("/repos/:owner/:repo/issues", noop),
    FH_POST("/repos/:owner/:repo/issues", noop),
    FH_GET("/repos/:owner/:repo/issues/:number", noop),
    FH_GET("/repos/:owner/:repo/contents/*path", noop),
    FH_GET("/repos/:owner/:repo/git/refs/*ref", noop),
    FH_GET("/repos/:owner/:repo/branches/main", noop),
    FH_GET("/search/code", noop),
    FH_GET("/caf%C3%A9", noop),
    FH_GET("/docs/", noop),
    FH_ANY("/proxy/*rest", noop),
    FH_OPTIONS("/cors", noop),
    FH_HEAD("/ping", noop),
    FH_GET("/static/*path", noop),
    FH_GET("/:lang/docs", noop),
    FH_ROUTES_END,
};

static fh_arena_cache_t *cache;
static fh_router_t *fixed[4]; /* by option bits: trailing, double slash */

/* A route line's method: a readable letter (G H P U D A O C T, '*' for
 * any), else the byte modulo 10. */
static fh_method_t pick_method(uint8_t b) {
    static const char letters[] = "GHPUDAOCT";
    const char *at = b ? strchr(letters, b) : NULL;
    if (at)
        return (fh_method_t)(at - letters);
    if (b == '*')
        return FH_METHOD_ANY;
    b %= 10;
    return b == 9 ? FH_METHOD_ANY : (fh_method_t)b;
}

static fh_router_config_t options(uint8_t b) {
    fh_router_config_t cfg = fh_router_config_default();
    cfg.trailing_slash = (b & 4) ? FH_SLASH_REDIRECT : FH_SLASH_STRICT;
    cfg.double_slash = (b & 8) ? FH_SLASH_REDIRECT : FH_SLASH_STRICT;
    cfg.manual_options = (b & 16) != 0;
    return cfg;
}

/* A naive check, independent of the router's: does the decoded path hold
 * a "." or ".." segment, or fail to decode? */
static bool naive_bad_path(const char *p, size_t n) {
    char *d = malloc(n + 1);
    CHECK(d);
    ptrdiff_t k = fh_percent_decode(d, (fh_str_t){ p, n }, false);
    bool bad = k < 0;
    for (ptrdiff_t i = 0, seg = 0; !bad && i <= k; i++) {
        if (i == k || d[i] == '/') {
            size_t len = (size_t)(i - seg);
            if ((len == 1 && d[seg] == '.') || (len == 2 && d[seg] == '.' && d[seg + 1] == '.'))
                bad = true;
            seg = i + 1;
        }
    }
    free(d);
    return bad;
}

static void check_lookup(const fh_router_t *r, fh_method_t method, const char *p, size_t n) {
    fh_route_match_t m;
    fh_str_t path = { p, n };
    fh_route_status_t st = fh_router_lookup(r, method, path, &m);
    CHECK(st == m.status);
    bool slash = n > 0 && p[0] == '/';
    if (slash)
        CHECK((st == FH_ROUTE_BAD_PATH) == naive_bad_path(p, n));
    if (st == FH_ROUTE_FOUND) {
        CHECK(m.route && m.nparams <= FH_ROUTER_MAX_PARAMS);
        for (size_t i = 0; i < m.nparams; i++) {
            CHECK(m.names[i].len > 0);
            CHECK(m.values[i].ptr >= p && m.values[i].ptr + m.values[i].len <= p + n);
        }
        fh_arena_t *a;
        CHECK(fh_arena_new(&a, cache) == 0);
        fh_str_t *names, *values;
        CHECK(fh__router_decode_params(&m, a, &names, &values) == 0);
        fh_arena_release(a);
    } else {
        CHECK(m.route == NULL);
    }
    if (st == FH_ROUTE_METHOD_NOT_ALLOWED || st == FH_ROUTE_OPTIONS) {
        char allow[128];
        CHECK(m.allowed != 0);
        CHECK(fh_router_allow(m.allowed, allow, sizeof(allow)) < sizeof(allow));
    }
    if (st == FH_ROUTE_REDIRECT) {
        char *to = malloc(n + 1);
        CHECK(to);
        size_t len = fh_router_redirect_path(path, m.redirect, to);
        CHECK(len >= 1 && len <= n + 1 && to[0] == '/');
        CHECK(len < 2 || (to[1] != '/' && to[1] != '\\'));
        fh_route_match_t again;
        fh_route_status_t st2 = fh_router_lookup(r, method, (fh_str_t){ to, len }, &again);
        CHECK(st2 == FH_ROUTE_FOUND || st2 == FH_ROUTE_METHOD_NOT_ALLOWED ||
              st2 == FH_ROUTE_OPTIONS);
        free(to);
    }
}

/* The pattern with ":name" filled by "v" and "*name" by "t/u". */
static size_t instantiate(const char *pat, char *out) {
    size_t o = 0;
    for (size_t i = 0; pat[i];) {
        bool seg_start = i > 0 && pat[i - 1] == '/';
        if (seg_start && (pat[i] == ':' || pat[i] == '*')) {
            const char *fill = pat[i] == ':' ? "v" : "t/u";
            memcpy(out + o, fill, strlen(fill));
            o += strlen(fill);
            while (pat[i] && pat[i] != '/')
                i++;
            continue;
        }
        out[o++] = pat[i++];
    }
    return o;
}

static bool all_static(const char *pat) {
    for (size_t i = 1; pat[i]; i++)
        if (pat[i - 1] == '/' && (pat[i] == ':' || pat[i] == '*'))
            return false;
    return true;
}

static void check_reachable(const fh_router_t *r) {
    for (size_t i = 0; i < fh_router_route_count(r); i++) {
        const fh_route_info_t *ri = fh_router_route_at(r, i);
        CHECK(ri && ri->index == i);
        size_t n = strlen(ri->pattern);
        char *path = malloc(3 * n + 8);
        CHECK(path);
        size_t len = instantiate(ri->pattern, path);
        fh_method_t method = ri->method == FH_METHOD_ANY ? FH_METHOD_PATCH : ri->method;
        fh_route_match_t m;
        fh_route_status_t st = fh_router_lookup(r, method, (fh_str_t){ path, len }, &m);
        CHECK(st == FH_ROUTE_FOUND);
        if (all_static(ri->pattern) && ri->method != FH_METHOD_ANY)
            CHECK(m.route == ri);
        free(path);
    }
}

/* Builds a router from the accepted routes alone: the same node count and
 * the same number of routes without parameters in the fast table. */
static void check_fresh(const fh_router_t *r) {
    fh_router_t *f;
    CHECK(fh_router_new(&f, NULL) == 0);
    for (size_t i = 0; i < fh_router_route_count(r); i++) {
        const fh_route_info_t *ri = fh_router_route_at(r, i);
        CHECK(fh_router_add(f, ri->method, ri->pattern, ri->handler, ri->data) == 0);
    }
    CHECK(fh__router_node_count(r) == fh__router_node_count(f));
    CHECK(fh__router_static_count(r) == fh__router_static_count(f));
    fh_router_free(f);
}

/* ------------------------------------------------- reference matcher
 *
 * A slow, obvious statement of the matching rules, to compare the tree
 * with: split the pattern and the raw path at '/', match segment by segment
 * (static: decoded bytes equal; param: non-empty; catch-all: the rest), rank
 * each matching route by its segment kinds from the left (static < param <
 * catch-all), and take the first rank whose routes accept the method
 * (exact, then GET for HEAD, then ANY). */

enum { REF_STATIC, REF_PARAM, REF_CATCHALL };

typedef struct ref_match {
    const fh_route_info_t *route;
    uint8_t rank[FH_ROUTER_MAX_PARAMS * 4 + 64];
    size_t nrank;
    size_t nvalues;
    fh_str_t values[FH_ROUTER_MAX_PARAMS];
} ref_match_t;

/* Start offsets of the path's segments (after each raw '/'). */
static size_t path_segments(const char *p, size_t n, size_t *starts, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k < cap; i++)
        if (p[i] == '/')
            starts[k++] = i + 1;
    return k;
}

/* starts has room for n entries (a path of n bytes has at most n
 * segments). */
static bool ref_match(const fh_route_info_t *ri, const char *p, size_t n, const size_t *starts,
                      size_t ns, ref_match_t *out) {
    const char *pat = ri->pattern + 1;
    size_t i = 0;
    out->route = ri;
    out->nrank = 0;
    out->nvalues = 0;
    for (;;) {
        const char *e = strchr(pat, '/');
        size_t plen = e ? (size_t)(e - pat) : strlen(pat);
        if (out->nrank >= sizeof(out->rank))
            return false;
        if (plen > 0 && pat[0] == '*') {
            if (i >= ns)
                return false;
            out->rank[out->nrank++] = REF_CATCHALL;
            out->values[out->nvalues++] = (fh_str_t){ p + starts[i], n - starts[i] };
            return true;
        }
        if (i >= ns)
            return false;
        size_t send = i + 1 < ns ? starts[i + 1] - 1 : n;
        fh_str_t seg = { p + starts[i], send - starts[i] };
        if (plen > 0 && pat[0] == ':') {
            if (seg.len == 0)
                return false;
            out->rank[out->nrank++] = REF_PARAM;
            out->values[out->nvalues++] = seg;
        } else {
            char a[4096], b[4096];
            if (seg.len >= sizeof(a) || plen >= sizeof(b))
                return false;
            ptrdiff_t la = fh_percent_decode(a, seg, false);
            ptrdiff_t lb = fh_percent_decode(b, (fh_str_t){ pat, plen }, false);
            CHECK(la >= 0 && lb >= 0);
            if (la != lb || memcmp(a, b, (size_t)la) != 0 || memchr(a, '/', (size_t)la))
                return false;
            out->rank[out->nrank++] = REF_STATIC;
        }
        i++;
        if (!e)
            return i == ns;
        pat = e + 1;
    }
}

static int rank_cmp(const ref_match_t *a, const ref_match_t *b) {
    size_t n = a->nrank < b->nrank ? a->nrank : b->nrank;
    for (size_t i = 0; i < n; i++)
        if (a->rank[i] != b->rank[i])
            return a->rank[i] < b->rank[i] ? -1 : 1;
    return a->nrank < b->nrank ? -1 : a->nrank > b->nrank;
}

static void check_reference(const fh_router_t *r, const fh_router_config_t *cfg, fh_method_t method,
                            const char *p, size_t n) {
    fh_route_match_t m;
    fh_route_status_t st = fh_router_lookup(r, method, (fh_str_t){ p, n }, &m);
    if (st == FH_ROUTE_BAD_PATH || n == 0 || p[0] != '/')
        return;
    size_t count = fh_router_route_count(r);
    ref_match_t *all = malloc((count + 1) * sizeof(*all));
    CHECK(all);
    size_t *starts = malloc(n * sizeof(*starts));
    CHECK(starts);
    size_t ns = path_segments(p, n, starts, n);
    size_t nm = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < count; i++) {
        const fh_route_info_t *ri = fh_router_route_at(r, i);
        if (ref_match(ri, p, n, starts, ns, &all[nm])) {
            bits |= ri->method == FH_METHOD_ANY ? 0x1ffu : 1u << ri->method;
            nm++;
        }
    }
    /* The best-ranked matching route that accepts the method. */
    const ref_match_t *best = NULL;
    int best_pref = 0;
    for (size_t i = 0; i < nm; i++) {
        const ref_match_t *c = &all[i];
        fh_method_t rm = c->route->method;
        int pref = rm == method                                        ? 3
                   : (method == FH_METHOD_HEAD && rm == FH_METHOD_GET) ? 2
                   : rm == FH_METHOD_ANY                               ? 1
                                                                       : 0;
        if (!pref)
            continue;
        int cmp = best ? rank_cmp(c, best) : -1;
        if (cmp < 0 || (cmp == 0 && pref > best_pref)) {
            best = c;
            best_pref = pref;
        }
    }
    if ((best && (st != FH_ROUTE_FOUND || m.route != best->route)) ||
        (!best && st == FH_ROUTE_FOUND)) {
        fprintf(stderr, "fuzz_router: %s \"%.*s\": tree says %d %s, reference says %s\n",
                fh_method_name(method), (int)n, p, (int)st, m.route ? m.route->pattern : "-",
                best ? best->route->pattern : "-");
        for (size_t i = 0; i < count; i++)
            fprintf(stderr, "  route %s %s\n",
                    fh_router_route_at(r, i)->method == FH_METHOD_ANY
                        ? "ANY"
                        : fh_method_name(fh_router_route_at(r, i)->method),
                    fh_router_route_at(r, i)->pattern);
    }
    if (best) {
        CHECK(st == FH_ROUTE_FOUND);
        CHECK(m.route == best->route);
        CHECK(m.nparams == best->nvalues);
        for (size_t i = 0; i < m.nparams; i++)
            CHECK(m.values[i].ptr == best->values[i].ptr && m.values[i].len == best->values[i].len);
    } else if (nm) {
        unsigned allow = bits;
        if (allow & (1u << FH_METHOD_GET))
            allow |= 1u << FH_METHOD_HEAD;
        if (!cfg->manual_options)
            allow |= 1u << FH_METHOD_OPTIONS;
        CHECK(st == (method == FH_METHOD_OPTIONS && !cfg->manual_options
                         ? FH_ROUTE_OPTIONS
                         : FH_ROUTE_METHOD_NOT_ALLOWED));
        CHECK(m.allowed == allow);
    } else {
        CHECK(st == FH_ROUTE_NOT_FOUND || st == FH_ROUTE_REDIRECT);
    }
    free(starts);
    free(all);
}

static void fuzz_routes(uint8_t opts, fh_method_t method, const char *data, size_t size) {
    /* Split into NUL-terminated lines in one copy. */
    char *buf = malloc(size + 1);
    CHECK(buf);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *lines[66];
    size_t nl = 0;
    for (char *s = buf; nl < 66;) {
        lines[nl++] = s;
        char *e = memchr(s, '\n', (size_t)(buf + size - s));
        if (!e)
            break;
        *e = '\0';
        s = e + 1;
    }
    /* The last line runs to the end of the input (past further newlines
     * once the line budget is spent). */
    const char *path = lines[nl - 1];
    size_t path_len = (size_t)(buf + size - path);

    fh_router_config_t cfg = options(opts);
    fh_router_t *r;
    CHECK(fh_router_new(&r, &cfg) == 0);
    if ((opts & 2) && nl >= 2) {
        fh_route_t table[66];
        size_t nt = 0;
        for (size_t i = 1; i + 1 < nl; i++) {
            fh_route_t rt = FH_ROUTE(pick_method((uint8_t)lines[i][0]),
                                     lines[i][0] ? lines[i] + 1 : lines[i], noop);
            table[nt++] = rt;
        }
        table[nt] = (fh_route_t)FH_ROUTES_END;
        int rc = fh_router_mount(r, lines[0], table, NULL);
        CHECK(rc == 0 || rc == FH_EROUTE_CONFLICT || rc == FH_EROUTE_PATTERN);
        CHECK((rc == 0) == (fh_router_error(r)[0] == '\0'));
        CHECK(rc == 0 || fh_router_route_count(r) == 0);
    } else {
        for (size_t i = 0; i + 1 < nl; i++) {
            size_t before = fh_router_route_count(r);
            size_t nodes = fh__router_node_count(r);
            int rc = fh_router_add(r, pick_method((uint8_t)lines[i][0]),
                                   lines[i][0] ? lines[i] + 1 : lines[i], noop, NULL);
            CHECK(rc == 0 || rc == FH_EROUTE_CONFLICT || rc == FH_EROUTE_PATTERN);
            CHECK(fh_router_route_count(r) == before + (rc == 0));
            if (rc)
                CHECK(fh__router_node_count(r) == nodes && fh_router_error(r)[0] != '\0');
        }
    }
    check_fresh(r);
    check_reachable(r);
    check_lookup(r, method, path, path_len);
    check_reference(r, &cfg, method, path, path_len);
    fh_router_free(r);
    free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    CHECK(fh_arena_cache_new(&cache, 0, 0) == 0);
    for (int i = 0; i < 4; i++) {
        fh_router_config_t cfg = options((uint8_t)(i << 2));
        CHECK(fh_router_new(&fixed[i], &cfg) == 0);
        CHECK(fh_router_mount(fixed[i], "/api", api, NULL) == 0);
        CHECK(fh_router_mount(fixed[i], NULL, api, NULL) == 0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2 || size > 4096)
        return 0;
    uint8_t opts = data[0];
    fh_method_t method = (fh_method_t)(data[1] % (FH_METHOD_OTHER + 1));
    const char *rest = (const char *)data + 2;
    size -= 2;
    if (opts & 1)
        fuzz_routes(opts, method, rest, size);
    else
        check_lookup(fixed[(opts >> 2) & 3], method, rest, size);
    return 0;
}
