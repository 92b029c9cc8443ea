/* The router: route records, mounts, lookups with their redirect probes,
 * and the dispatch that answers 400/404/405/OPTIONS/308 on the server. */
#include "router/router.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "router/operation.h"
#include "router/radix.h"

/* A mount with its own 404 or 405 handler (fh_mount_options_t). */
typedef struct error_mount {
    const char *prefix; /* the mount's prefix (one of mounts), "" = root */
    size_t depth;       /* its segments: the deepest covering prefix wins */
    fh_handler_fn not_found, method_not_allowed;
    void *not_found_data, *method_not_allowed_data;
} error_mount_t;

struct fh_router {
    fh_router_config_t cfg;
    fh__radix_t *tree;
    fh_route_info_t **routes; /* registration order; each owns its pattern */
    size_t nroutes, cap;
    char **mounts; /* mount prefixes, shared by their routes */
    size_t nmounts, mcap;
    error_mount_t *emounts; /* mounts with 404/405 handlers, in order */
    size_t nemounts, ecap;
    unsigned all_mask; /* method bits of every route ("OPTIONS *") */
    /* Set by the first dispatch. Workers only read it once set, so the flag
     * costs one shared load per request. */
    atomic_bool frozen;
    char error[512];
};

/* A route record: the public info first (radix.c and lookups see only
 * that), then what a match calls: the handler itself, or the chain
 * wrapping it when the route has middleware (per mount or per route), or
 * its operation's checks (inside the chain, when there is one). */
typedef struct route_rec {
    fh_route_info_t info;
    fh_handler_fn call;
    void *call_data;
    fh_chain_t *chain;
    fh__op_t *op;
} route_rec_t;

static void record_free(fh_route_info_t *ri) {
    if (ri) {
        fh_chain_free(((route_rec_t *)ri)->chain);
        fh__op_free(((route_rec_t *)ri)->op);
    }
    free(ri);
}

fh_router_config_t fh_router_config_default(void) {
    fh_router_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    return cfg;
}

int fh_router_new(fh_router_t **out, const fh_router_config_t *cfg) {
    *out = NULL;
    fh_router_t *r = calloc(1, sizeof(*r));
    if (!r)
        return FH_ENOMEM;
    r->tree = fh__radix_new();
    if (!r->tree) {
        free(r);
        return FH_ENOMEM;
    }
    if (cfg)
        r->cfg = *cfg;
    const char *check = getenv("FH_CHECK_RESPONSES");
    if (check && *check)
        r->cfg.check_responses = strcmp(check, "0") != 0;
    atomic_init(&r->frozen, false);
    *out = r;
    return 0;
}

void fh_router_free(fh_router_t *r) {
    if (!r)
        return;
    fh__radix_free(r->tree);
    for (size_t i = 0; i < r->nroutes; i++)
        record_free(r->routes[i]);
    free(r->routes);
    for (size_t i = 0; i < r->nmounts; i++)
        free(r->mounts[i]);
    free(r->mounts);
    free(r->emounts);
    free(r);
}

const char *fh_router_error(const fh_router_t *r) { return r->error; }

size_t fh_router_route_count(const fh_router_t *r) { return r->nroutes; }

const fh_route_info_t *fh_router_route_at(const fh_router_t *r, size_t i) {
    return i < r->nroutes ? r->routes[i] : NULL;
}

static const char *method_label(fh_method_t m) {
    return m == FH_METHOD_ANY ? "ANY" : fh_method_name(m);
}

/* ------------------------------------------------------------- adding */

/* A route record with its full pattern (prefix + pattern) in the same
 * allocation. */
static fh_route_info_t *record_new(fh_method_t method, const char *prefix, const char *pattern,
                                   fh_handler_fn handler, void *data, const char *mount) {
    size_t pl = strlen(prefix), n = pattern ? strlen(pattern) : 0;
    route_rec_t *rec = malloc(sizeof(*rec) + pl + n + 1);
    if (!rec)
        return NULL;
    rec->chain = NULL;
    rec->op = NULL;
    rec->call = handler;
    rec->call_data = data;
    fh_route_info_t *ri = &rec->info;
    char *p = (char *)(rec + 1);
    memcpy(p, prefix, pl);
    if (n)
        memcpy(p + pl, pattern, n);
    p[pl + n] = '\0';
    ri->method = method;
    ri->pattern = p;
    ri->mount = mount;
    ri->handler = handler;
    ri->data = data;
    ri->index = 0;
    ri->op = NULL;
    ri->auth = 0;
    return ri;
}

static void fail(fh_router_t *r, const char *method, const char *pattern, const fh__rerror_t *e) {
    if (e->other)
        snprintf(r->error, sizeof(r->error),
                 "fasthttp: route \"%s %s\" conflicts with \"%s %s\": %s", method, pattern,
                 method_label(e->other->method), e->other->pattern, e->why);
    else
        snprintf(r->error, sizeof(r->error), "fasthttp: route \"%s %s\": %s", method, pattern,
                 e->why);
}

/* Takes back everything added since the router held `from` routes. */
static void rollback(fh_router_t *r, size_t from) {
    fh__radix_remove_from(r->tree, from);
    for (size_t i = from; i < r->nroutes; i++)
        record_free(r->routes[i]);
    r->nroutes = from;
}

static void update_mask(fh_router_t *r) {
    unsigned mask = 0;
    for (size_t i = 0; i < r->nroutes; i++)
        mask |= r->routes[i]->method == FH_METHOD_ANY ? FH__RANY_BIT : 1u << r->routes[i]->method;
    r->all_mask = mask;
}

/* Wraps what a route calls (its handler, or its operation's checks) in a
 * chain of the mount's middleware, then the route's own. */
static int route_chain(fh_router_t *r, route_rec_t *rec, const char *mname,
                       const fh_middleware_t *const *mount_mw,
                       const fh_middleware_t *const *route_mw) {
    int err = fh_chain_new(&rec->chain, rec->call, rec->call_data);
    const fh_middleware_t *const *lists[2] = { mount_mw, route_mw };
    for (int l = 0; l < 2 && !err; l++) {
        for (size_t i = 0; lists[l] && lists[l][i] && !err; i++) {
            err = fh_chain_use(rec->chain, lists[l][i]);
            if (err == FH_EINVAL) {
                const char *why = fh_middleware_error();
                if (strncmp(why, "fasthttp: ", 10) == 0)
                    why += 10;
                snprintf(r->error, sizeof(r->error),
                         "fasthttp: route \"%s %s\": %s middleware[%zu]: %s", mname,
                         rec->info.pattern, l ? "route" : "mount", i, why);
            }
        }
    }
    if (err == FH_ENOMEM)
        snprintf(r->error, sizeof(r->error), "fasthttp: route \"%s %s\": out of memory", mname,
                 rec->info.pattern);
    if (!err) {
        rec->call = fh_chain_handle;
        rec->call_data = rec->chain;
    }
    return err;
}

/* The built-in auth middleware among lists (by the names their
 * constructors give them). */
static unsigned auth_bits(const fh_middleware_t *const *a, const fh_middleware_t *const *b) {
    unsigned bits = 0;
    const fh_middleware_t *const *lists[2] = { a, b };
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] && lists[l][i]; i++) {
            const char *n = lists[l][i]->name;
            if (n && strcmp(n, "basic_auth") == 0)
                bits |= FH_ROUTE_AUTH_BASIC;
            else if (n && strcmp(n, "bearer_auth") == 0)
                bits |= FH_ROUTE_AUTH_BEARER;
        }
    return bits;
}

/* Compiles a route's operation and checks it against the other routes'
 * (operation ids, schema names). */
static int route_op(fh_router_t *r, route_rec_t *rec, const char *mname, const fh_operation_t *op) {
    char why[400];
    int err = fh__op_new(&rec->op, op, &rec->info, rec->call, rec->call_data,
                         r->cfg.check_responses, why, sizeof(why));
    if (!err && fh__op_conflict(op, op, why, sizeof(why)))
        err = FH_EINVAL;
    for (size_t i = 0; !err && i < r->nroutes; i++) {
        const fh_operation_t *other = r->routes[i]->op;
        if (other && other != op && fh__op_conflict(op, other, why, sizeof(why))) {
            snprintf(r->error, sizeof(r->error),
                     "fasthttp: route \"%s %s\" conflicts with \"%s %s\": %s", mname,
                     rec->info.pattern, method_label(r->routes[i]->method), r->routes[i]->pattern,
                     why);
            return FH_EINVAL;
        }
    }
    if (err) {
        snprintf(r->error, sizeof(r->error), "fasthttp: route \"%s %s\": %s", mname,
                 rec->info.pattern, why);
        return err;
    }
    rec->info.op = op;
    rec->call = fh__op_handle;
    rec->call_data = rec->op;
    return 0;
}

/* Validates and inserts one route, which becomes r->routes[r->nroutes]. */
static int add_record(fh_router_t *r, fh_method_t method, const char *prefix, const char *pattern,
                      fh_handler_fn handler, void *data, const fh_middleware_t *const *mount_mw,
                      const fh_middleware_t *const *middleware, const char *mount,
                      const fh_operation_t *op) {
    const char *mname =
        (method == FH_METHOD_ANY || (unsigned)method < FH__RMETHODS) ? method_label(method) : "?";
    if (!pattern)
        pattern = "";
    if (mname[0] == '?' || !handler) {
        snprintf(r->error, sizeof(r->error), "fasthttp: route \"%s %s%s\": %s", mname, prefix,
                 pattern,
                 mname[0] == '?' ? "method must be FH_METHOD_GET..FH_METHOD_TRACE or FH_METHOD_ANY"
                                 : "a route needs a handler");
        return FH_EINVAL;
    }
    /* Checked before joining: under "/api", "users" would read "/apiusers". */
    if (pattern[0] != '/') {
        snprintf(r->error, sizeof(r->error),
                 "fasthttp: route \"%s %s\"%s%s%s: a pattern must start with '/'", mname, pattern,
                 prefix[0] ? " under \"" : "", prefix, prefix[0] ? "\"" : "");
        return FH_EROUTE_PATTERN;
    }
    if (r->nroutes == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 16;
        fh_route_info_t **v = realloc(r->routes, ncap * sizeof(*v));
        if (!v)
            return FH_ENOMEM;
        r->routes = v;
        r->cap = ncap;
    }
    fh_route_info_t *ri = record_new(method, prefix, pattern, handler, data, mount);
    if (!ri)
        return FH_ENOMEM;
    ri->auth = auth_bits(mount_mw, middleware);
    if (op) {
        int err = route_op(r, (route_rec_t *)ri, mname, op);
        if (err) {
            record_free(ri);
            return err;
        }
    }
    if ((mount_mw && mount_mw[0]) || (middleware && middleware[0])) {
        int err = route_chain(r, (route_rec_t *)ri, mname, mount_mw, middleware);
        if (err) {
            record_free(ri);
            return err;
        }
    }
    ri->index = r->nroutes;
    r->routes[r->nroutes++] = ri;
    fh__rerror_t e;
    int rc = fh__radix_insert(r->tree, ri, &e);
    if (rc == FH_ENOMEM)
        snprintf(r->error, sizeof(r->error), "fasthttp: route \"%s %s\": out of memory", mname,
                 ri->pattern);
    else if (rc)
        fail(r, mname, ri->pattern, &e);
    return rc;
}

static int check_open(fh_router_t *r) {
    r->error[0] = '\0';
    if (atomic_load_explicit(&r->frozen, memory_order_relaxed)) {
        snprintf(r->error, sizeof(r->error),
                 "fasthttp: routes cannot be added once the router has served a request");
        return FH_ESTATE;
    }
    return 0;
}

int fh_router_add(fh_router_t *r, fh_method_t method, const char *pattern, fh_handler_fn handler,
                  void *data) {
    return fh_router_add_op(r, method, pattern, handler, data, NULL);
}

int fh_router_add_op(fh_router_t *r, fh_method_t method, const char *pattern, fh_handler_fn handler,
                     void *data, const fh_operation_t *op) {
    int rc = check_open(r);
    if (rc)
        return rc;
    size_t before = r->nroutes;
    rc = add_record(r, method, "", pattern, handler, data, NULL, NULL, "", op);
    if (rc)
        rollback(r, before);
    update_mask(r);
    return rc;
}

int fh_router_mount(fh_router_t *r, const char *prefix, const fh_route_t *routes,
                    void *mount_data) {
    return fh_router_mount_opts(r, prefix, routes, mount_data, NULL);
}

int fh_router_mount_mw(fh_router_t *r, const char *prefix, const fh_route_t *routes,
                       void *mount_data, const fh_middleware_t *const *middleware) {
    fh_mount_options_t opt = { .middleware = middleware };
    return fh_router_mount_opts(r, prefix, routes, mount_data, &opt);
}

int fh_router_mount_opts(fh_router_t *r, const char *prefix, const fh_route_t *routes,
                         void *mount_data, const fh_mount_options_t *opt) {
    static const fh_mount_options_t none = { 0 };
    if (!opt)
        opt = &none;
    const fh_middleware_t *const *middleware = opt->middleware;
    bool errors = opt->not_found || opt->method_not_allowed;
    int rc = check_open(r);
    if (rc)
        return rc;
    if (!routes) {
        snprintf(r->error, sizeof(r->error), "fasthttp: mount \"%s\": no route table",
                 prefix ? prefix : "");
        return FH_EINVAL;
    }
    /* The prefix is a pattern without its trailing slash ("/" and "" are the
     * root), so that "/api" + "/users" reads "/api/users". */
    size_t pl = prefix ? strlen(prefix) : 0;
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    char *pfx = malloc(pl + 1);
    if (!pfx)
        return FH_ENOMEM;
    if (pl)
        memcpy(pfx, prefix, pl);
    pfx[pl] = '\0';
    if (pl) {
        fh__rerror_t e;
        rc = fh__radix_check_pattern(pfx, false, &e);
        if (rc) {
            if (rc == FH_EROUTE_PATTERN)
                snprintf(r->error, sizeof(r->error), "fasthttp: mount prefix \"%s\": %s", prefix,
                         e.why);
            free(pfx);
            return rc;
        }
    }
    if (r->nmounts == r->mcap) {
        size_t ncap = r->mcap ? r->mcap * 2 : 4;
        char **v = realloc(r->mounts, ncap * sizeof(*v));
        if (!v) {
            free(pfx);
            return FH_ENOMEM;
        }
        r->mounts = v;
        r->mcap = ncap;
    }
    if (errors && r->nemounts == r->ecap) {
        size_t ncap = r->ecap ? r->ecap * 2 : 4;
        error_mount_t *v = realloc(r->emounts, ncap * sizeof(*v));
        if (!v) {
            free(pfx);
            return FH_ENOMEM;
        }
        r->emounts = v;
        r->ecap = ncap;
    }
    size_t before = r->nroutes;
    for (const fh_route_t *rt = routes; rt->pattern; rt++) {
        rc = add_record(r, rt->method, pfx, rt->pattern, rt->handler,
                        rt->data ? rt->data : mount_data, middleware, rt->middleware, pfx, rt->op);
        if (rc)
            break;
        r->routes[r->nroutes - 1]->body_stream = rt->body_stream;
    }
    if (rc) {
        rollback(r, before);
        free(pfx);
    } else {
        r->mounts[r->nmounts++] = pfx;
        if (errors) {
            error_mount_t *em = &r->emounts[r->nemounts++];
            em->prefix = pfx;
            em->depth = 0;
            for (const char *p = pfx; *p; p++)
                em->depth += *p == '/';
            em->not_found = opt->not_found;
            em->not_found_data = opt->not_found_data;
            em->method_not_allowed = opt->method_not_allowed;
            em->method_not_allowed_data = opt->method_not_allowed_data;
        }
    }
    update_mask(r);
    return rc;
}

/* ------------------------------------------------------------ lookups */

/* The Allow set for method bits seen on matching leaves: HEAD comes with
 * GET, OPTIONS with automatic OPTIONS, everything with an ANY route. */
static unsigned allow_mask(const fh_router_t *r, unsigned bits) {
    unsigned all = (1u << FH__RMETHODS) - 1;
    unsigned a = (bits & FH__RANY_BIT) ? all : (bits & all);
    if (a & (1u << FH_METHOD_GET))
        a |= 1u << FH_METHOD_HEAD;
    if (!r->cfg.manual_options)
        a |= 1u << FH_METHOD_OPTIONS;
    return a;
}

static void put(char *buf, size_t cap, size_t at, const char *s, size_t n) {
    for (size_t i = 0; i < n && cap && at + i < cap - 1; i++)
        buf[at + i] = s[i];
}

size_t fh_router_allow(unsigned allowed, char *buf, size_t cap) {
    size_t n = 0;
    for (int m = 0; m < FH__RMETHODS; m++) {
        if (!(allowed & (1u << m)))
            continue;
        if (n) {
            put(buf, cap, n, ", ", 2);
            n += 2;
        }
        const char *name = fh_method_name((fh_method_t)m);
        put(buf, cap, n, name, strlen(name));
        n += strlen(name);
    }
    if (cap)
        buf[n < cap - 1 ? n : cap - 1] = '\0';
    return n;
}

/* The raw length a path keeps under the redirect flags: a removed trailing
 * slash is dropped (a whole run of them when collapsing). */
static size_t kept_len(fh_str_t path, unsigned flags) {
    size_t n = path.len;
    if (flags & FH_REDIRECT_REMOVE_SLASH) {
        if (n > 1 && path.ptr[n - 1] == '/')
            n--;
        while ((flags & FH_REDIRECT_COLLAPSE) && n > 1 && path.ptr[n - 1] == '/')
            n--;
    }
    return n;
}

/* Writes at most cap bytes of the redirect target; returns its length. */
static size_t canonical(fh_str_t path, unsigned flags, char *dst, size_t cap) {
    size_t n = kept_len(path, flags), o = 0;
    char prev = 0;
    for (size_t i = 0; i < n; i++) {
        char c = path.ptr[i];
        if ((flags & FH_REDIRECT_COLLAPSE) && c == '/' && prev == '/')
            continue;
        if (o < cap)
            dst[o] = c;
        o++;
        prev = c;
    }
    if (flags & FH_REDIRECT_ADD_SLASH) {
        if (o < cap)
            dst[o] = '/';
        o++;
    }
    return o;
}

size_t fh_router_redirect_path(fh_str_t path, unsigned flags, char *dst) {
    return canonical(path, flags, dst, path.len + 1);
}

/* Looks for a slash-fixed form of a path that matches nothing. */
static unsigned probe(const fh_router_t *r, fh_method_t method, fh_str_t path, bool esc) {
    bool tsr = r->cfg.trailing_slash == FH_SLASH_REDIRECT;
    bool dbl = r->cfg.double_slash == FH_SLASH_REDIRECT;
    if (dbl) {
        dbl = false;
        for (size_t i = 1; i < path.len && !dbl; i++)
            dbl = path.ptr[i] == '/' && path.ptr[i - 1] == '/';
    }
    bool ends = path.len > 1 && path.ptr[path.len - 1] == '/';
    unsigned slash = ends ? FH_REDIRECT_REMOVE_SLASH : FH_REDIRECT_ADD_SLASH;
    unsigned tries[3];
    int nt = 0;
    if (dbl)
        tries[nt++] = FH_REDIRECT_COLLAPSE;
    if (tsr)
        tries[nt++] = slash;
    if (dbl && tsr)
        tries[nt++] = FH_REDIRECT_COLLAPSE | slash;
    for (int t = 0; t < nt; t++) {
        unsigned f = tries[t];
        /* A Location starting with "//" or "/\" names another host. */
        char head[2];
        if (canonical(path, f, head, 2) >= 2 && (head[1] == '/' || head[1] == '\\'))
            continue;
        fh_route_match_t scratch;
        fh__rsearch_t s;
        s.path.p = path.ptr;
        s.path.len = kept_len(path, f);
        s.path.decode = esc;
        s.path.vslash = (f & FH_REDIRECT_ADD_SLASH) != 0;
        s.path.collapse = (f & FH_REDIRECT_COLLAPSE) != 0;
        s.method = method;
        s.m = &scratch;
        if (fh__radix_search(r->tree, &s) || s.mask)
            return f;
    }
    return 0;
}

fh_route_status_t fh_router_lookup(const fh_router_t *r, fh_method_t method, fh_str_t path,
                                   fh_route_match_t *m) {
    m->route = NULL;
    m->allowed = 0;
    m->redirect = 0;
    m->encoded = false;
    m->nparams = 0;
    if (!path.ptr || path.len == 0 || path.ptr[0] != '/') {
        /* "OPTIONS *" asks about the server as a whole. */
        if (method == FH_METHOD_OPTIONS && path.len == 1 && path.ptr[0] == '*') {
            if (r->cfg.manual_options || !r->all_mask)
                return m->status = FH_ROUTE_NOT_FOUND;
            m->allowed = allow_mask(r, r->all_mask);
            return m->status = FH_ROUTE_OPTIONS;
        }
        return m->status = FH_ROUTE_BAD_PATH;
    }
    bool esc;
    if (!fh__radix_path_ok(path.ptr, path.len, &esc))
        return m->status = FH_ROUTE_BAD_PATH;
    m->encoded = esc;
    if (!esc) {
        const fh_route_info_t *hit = fh__radix_find_static(r->tree, method, path.ptr, path.len);
        if (hit) {
            m->route = hit;
            return m->status = FH_ROUTE_FOUND;
        }
    }
    fh__rsearch_t s;
    s.path.p = path.ptr;
    s.path.len = path.len;
    s.path.decode = esc;
    s.path.vslash = false;
    s.path.collapse = false;
    s.method = method;
    s.m = m;
    const fh_route_info_t *ri = fh__radix_search(r->tree, &s);
    if (ri) {
        m->route = ri;
        return m->status = FH_ROUTE_FOUND;
    }
    m->nparams = 0;
    if (s.mask) {
        m->allowed = allow_mask(r, s.mask);
        if (method == FH_METHOD_OPTIONS && !r->cfg.manual_options)
            return m->status = FH_ROUTE_OPTIONS;
        return m->status = FH_ROUTE_METHOD_NOT_ALLOWED;
    }
    if (r->cfg.trailing_slash == FH_SLASH_REDIRECT || r->cfg.double_slash == FH_SLASH_REDIRECT) {
        m->redirect = probe(r, method, path, esc);
        if (m->redirect)
            return m->status = FH_ROUTE_REDIRECT;
    }
    return m->status = FH_ROUTE_NOT_FOUND;
}

unsigned fh_router_methods(const fh_router_t *r, fh_str_t path) {
    bool esc;
    if (!path.ptr || path.len == 0 || path.ptr[0] != '/' ||
        !fh__radix_path_ok(path.ptr, path.len, &esc))
        return 0;
    fh_route_match_t scratch;
    fh__rsearch_t s;
    s.path.p = path.ptr;
    s.path.len = path.len;
    s.path.decode = esc;
    s.path.vslash = false;
    s.path.collapse = false;
    s.method = FH__RMETHODS; /* collect the methods of every matching route */
    s.m = &scratch;
    fh__radix_search(r->tree, &s);
    return s.mask ? allow_mask(r, s.mask) : 0;
}

/* ----------------------------------------------------------- dispatch */

/* The byte at s[*i], a %XX escape decoded, before end; advances *i. */
static int take_byte(const char *s, size_t end, size_t *i) {
    size_t k = *i;
    if (s[k] == '%' && end - k >= 3) {
        int h = fh__hex_value((unsigned char)s[k + 1]), l = fh__hex_value((unsigned char)s[k + 2]);
        if (h >= 0 && l >= 0) {
            *i = k + 3;
            return h * 16 + l;
        }
    }
    *i = k + 1;
    return (unsigned char)s[k];
}

/* Whether path (raw) is under a mount prefix (a pattern without its
 * trailing slash, "" for the root): segment by segment, split at raw '/',
 * static segments compared decoded as the tree does, a ":param" matching
 * any non-empty segment; the path then ends or goes on with '/'. */
static bool under_prefix(const char *pfx, fh_str_t path) {
    if (!pfx[0])
        return true;
    size_t i = 0, j = 0, pn = strlen(pfx);
    while (i < pn) {
        if (j >= path.len || path.ptr[j] != '/')
            return false;
        i++;
        j++;
        size_t se = i, pe = j;
        while (se < pn && pfx[se] != '/')
            se++;
        while (pe < path.len && path.ptr[pe] != '/')
            pe++;
        if (pfx[i] == ':') {
            if (pe == j)
                return false;
        } else {
            while (i < se && j < pe)
                if (take_byte(pfx, se, &i) != take_byte(path.ptr, pe, &j))
                    return false;
            if (i < se || j < pe)
                return false;
        }
        i = se;
        j = pe;
    }
    return j == path.len || path.ptr[j] == '/';
}

/* The deepest mount covering path with a handler for 404 (nf) or 405. */
static const error_mount_t *error_mount(const fh_router_t *r, fh_str_t path, bool nf) {
    const error_mount_t *best = NULL;
    for (size_t i = 0; i < r->nemounts; i++) {
        const error_mount_t *em = &r->emounts[i];
        if (!(nf ? em->not_found : em->method_not_allowed))
            continue;
        if ((!best || em->depth > best->depth) && under_prefix(em->prefix, path))
            best = em;
    }
    return best;
}

int fh__router_decode_params(const fh_route_match_t *m, fh_arena_t *arena, fh_str_t **names,
                             fh_str_t **values) {
    size_t n = m->nparams;
    fh_str_t *v = fh_arena_alloc(arena, 2 * n * sizeof(fh_str_t));
    if (!v)
        return FH_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        fh_str_t raw = m->values[i];
        v[i] = m->names[i];
        v[n + i] = raw;
        if (!m->encoded || raw.len == 0 || !memchr(raw.ptr, '%', raw.len))
            continue;
        char *d = fh_arena_alloc(arena, raw.len);
        if (!d)
            return FH_ENOMEM;
        ptrdiff_t k = fh_percent_decode(d, raw, false);
        if (k < 0)
            return FH_EINVAL;
        v[n + i] = (fh_str_t){ d, (size_t)k };
    }
    *names = v;
    *values = v + n;
    return 0;
}

static int set_allow(fh_response_t *res, unsigned allowed) {
    char buf[96];
    fh_router_allow(allowed, buf, sizeof(buf));
    return fh_response_header(res, "Allow", buf);
}

static int redirect(fh_request_t *req, fh_response_t *res, fh_str_t path, unsigned flags) {
    fh_str_t q = fh_request_query_string(req);
    size_t extra = q.ptr ? q.len + 1 : 0;
    char *loc = fh_alloc(req, path.len + 1 + extra + 1);
    if (!loc)
        return FH_ENOMEM;
    size_t n = fh_router_redirect_path(path, flags, loc);
    if (q.ptr) {
        loc[n++] = '?';
        memcpy(loc + n, q.ptr, q.len);
        n += q.len;
    }
    loc[n] = '\0';
    return fh_send_redirect(res, 308, loc);
}

int fh_router_handle(fh_request_t *req, fh_response_t *res, void *data) {
    fh_router_t *r = data;
    if (!atomic_load_explicit(&r->frozen, memory_order_relaxed))
        atomic_store_explicit(&r->frozen, true, memory_order_relaxed);
    fh_route_match_t m;
    fh_str_t path = fh_request_path(req);
    int rc;
    switch (fh_router_lookup(r, fh_request_method_id(req), path, &m)) {
    case FH_ROUTE_FOUND:
        fh_request_set_route(req, m.route->pattern);
        if (m.nparams) {
            fh_str_t *names, *values;
            rc = fh__router_decode_params(&m, fh_request_arena(req), &names, &values);
            if (rc == FH_EINVAL)
                return fh_send_status(res, 400);
            if (rc)
                return rc;
            fh_request_set_params(req, names, values, m.nparams);
        }
        return ((const route_rec_t *)m.route)
            ->call(req, res, ((const route_rec_t *)m.route)->call_data);
    case FH_ROUTE_NOT_FOUND: {
        const error_mount_t *em = r->nemounts ? error_mount(r, path, true) : NULL;
        fh_handler_fn h = em ? em->not_found : r->cfg.not_found;
        if (!h)
            return fh_send_status(res, 404);
        rc = fh_response_status(res, 404);
        if (rc)
            return rc;
        return h(req, res, em ? em->not_found_data : r->cfg.not_found_data);
    }
    case FH_ROUTE_METHOD_NOT_ALLOWED: {
        rc = set_allow(res, m.allowed);
        if (rc)
            return rc;
        const error_mount_t *em = r->nemounts ? error_mount(r, path, false) : NULL;
        fh_handler_fn h = em ? em->method_not_allowed : r->cfg.method_not_allowed;
        if (!h)
            return fh_send_status(res, 405);
        rc = fh_response_status(res, 405);
        if (rc)
            return rc;
        return h(req, res, em ? em->method_not_allowed_data : r->cfg.method_not_allowed_data);
    }
    case FH_ROUTE_OPTIONS:
        rc = set_allow(res, m.allowed);
        if (rc)
            return rc;
        rc = fh_response_status(res, 204);
        return rc ? rc : fh_response_end(res);
    case FH_ROUTE_REDIRECT: return redirect(req, res, path, m.redirect);
    case FH_ROUTE_BAD_PATH:
    default: return fh_send_status(res, 400);
    }
}

uint64_t fh_router_body_stream(fh_request_t *req, void *data) {
    const fh_router_t *r = data;
    fh_route_match_t m;
    if (fh_router_lookup(r, fh_request_method_id(req), fh_request_path(req), &m) !=
            FH_ROUTE_FOUND ||
        !m.route->body_stream)
        return 0;
    uint64_t max = m.route->body_stream->max_bytes;
    return max ? max : FH_BODY_STREAM_MAX;
}

size_t fh__router_node_count(const fh_router_t *r) { return fh__radix_node_count(r->tree); }

size_t fh__router_static_count(const fh_router_t *r) { return fh__radix_static_count(r->tree); }
