/* CORS: preflights answered in the before hook, Access-Control-* response
 * headers and Vary: Origin added in the after hook. */
#include <stdio.h>
#include <stdlib.h>

#include "core/http1_syntax.h"
#include "middleware/mw.h"

typedef struct cors {
    char **origins;
    size_t norigins;
    bool any; /* origins is {"*"} */
    fh_cors_origin_fn fn;
    void *fn_data;
    char *methods;
    fh_router_t *router;  /* preflights announce its methods for the path */
    unsigned method_mask; /* with router: the methods option as method bits */
    char *allow_headers;  /* NULL: echo Access-Control-Request-Headers */
    char *expose;         /* NULL: none */
    bool credentials;
    bool vary;        /* responses depend on Origin */
    char max_age[16]; /* "" = none */
} cors_t;

static bool cors_allowed(const cors_t *c, fh_request_t *req, fh_str_t origin) {
    if (c->any)
        return true;
    for (size_t i = 0; i < c->norigins; i++)
        if (fh_str_ieq(origin, fh_str(c->origins[i])))
            return true;
    return c->fn && c->fn(req, origin, c->fn_data);
}

static const fh_str_t h_origin = FH_STR_LIT("Origin");
static const fh_str_t h_vary = FH_STR_LIT("Vary");
static const fh_str_t h_request_method = FH_STR_LIT("Access-Control-Request-Method");
static const fh_str_t h_request_headers = FH_STR_LIT("Access-Control-Request-Headers");
static const fh_str_t h_allow_origin = FH_STR_LIT("Access-Control-Allow-Origin");
static const fh_str_t h_allow_credentials = FH_STR_LIT("Access-Control-Allow-Credentials");
static const fh_str_t h_allow_methods = FH_STR_LIT("Access-Control-Allow-Methods");
static const fh_str_t h_allow_headers = FH_STR_LIT("Access-Control-Allow-Headers");
static const fh_str_t h_max_age = FH_STR_LIT("Access-Control-Max-Age");
static const fh_str_t h_expose = FH_STR_LIT("Access-Control-Expose-Headers");

/* A preflight: OPTIONS with Origin and Access-Control-Request-Method. The
 * method is compared first, so other requests cost no header scan. */
static bool is_preflight(fh_request_t *req, fh_str_t origin) {
    return fh__request_method_of(req) == FH_METHOD_OPTIONS && origin.ptr &&
           fh__request_header_find(req, h_request_method).ptr;
}

/* Access-Control-Request-Headers is echoed only when it is a plain list of
 * tokens: anything else could smuggle bytes into the response. */
static bool token_list(fh_str_t s) {
    for (size_t i = 0; i < s.len; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        if (ch != ',' && ch != ' ' && ch != '\t' && !fh__h1_is_tchar(ch))
            return false;
    }
    return true;
}

/* The headers below are stored as views (fh__response_header_set_view):
 * the middleware's own strings, literals, and request fields, which the
 * parser checked, read while the response is being committed (or ended
 * in the same hook), so they are still valid when it is serialized right
 * after. */

/* Sets Allow-Origin (and Allow-Credentials) for an allowed origin. */
static int allow_origin_headers(const cors_t *c, fh_response_t *res, fh_str_t origin) {
    int err;
    if (c->any && !c->credentials)
        err = fh__response_header_set_view(res, h_allow_origin, FH_STR_LIT("*"));
    else
        err = fh__response_header_set_view(res, h_allow_origin, origin);
    if (!err && c->credentials)
        err = fh__response_header_set_view(res, h_allow_credentials, FH_STR_LIT("true"));
    return err;
}

/* Access-Control-Allow-Methods from the router: the methods of the path
 * (OPTIONS left out: the preflight is one), those of the methods option
 * only when it was given. Empty when none is left: no header then. */
static int router_methods(const cors_t *c, fh_request_t *req, unsigned mask, fh_str_t *out) {
    mask &= c->method_mask & ~(1u << FH_METHOD_OPTIONS);
    char *buf = fh_alloc(req, 96);
    if (!buf)
        return FH_ENOMEM;
    size_t n = fh_router_allow(mask, buf, 96);
    *out = (fh_str_t){ buf, n < 96 ? n : 95 };
    return 0;
}

static int cors_before(fh_request_t *req, fh_response_t *res, void *data) {
    cors_t *c = data;
    if (fh__request_method_of(req) != FH_METHOD_OPTIONS)
        return FH_NEXT;
    fh_str_t origin = fh__request_header_find(req, h_origin);
    if (!is_preflight(req, origin))
        return FH_NEXT;
    int err = 0;
    fh_str_t methods = fh_str(c->methods);
    if (c->router) {
        unsigned mask = fh_router_methods(c->router, fh_request_path(req));
        if (!mask) {
            /* No route here: the router answers it as any request (404, the
             * mount's not_found handler, 400), whatever runs in between. */
            int rc = fh_router_handle(req, res, c->router);
            return rc < 0 ? rc : FH_STOP;
        }
        if ((err = router_methods(c, req, mask, &methods)) != 0)
            return err;
    }
    if (cors_allowed(c, req, origin)) {
        err = allow_origin_headers(c, res, origin);
        if (!err && methods.len)
            err = fh__response_header_add_view(res, h_allow_methods, methods);
        if (!err) {
            if (c->allow_headers) {
                if (c->allow_headers[0]) /* an empty list allows none */
                    err = fh__response_header_add_view(res, h_allow_headers,
                                                       fh_str(c->allow_headers));
            } else {
                fh_str_t asked = fh__request_header_find(req, h_request_headers);
                if (asked.ptr && asked.len && token_list(asked))
                    err = fh__response_header_add_view(res, h_allow_headers, asked);
            }
        }
        if (!err && c->max_age[0])
            err = fh__response_header_add_view(res, h_max_age, fh_str(c->max_age));
    }
    if (!err)
        err = fh__mw_vary_add(res, h_origin);
    if (!err)
        err = fh__mw_vary_add(res, h_request_method);
    if (!err)
        err = fh__mw_vary_add(res, h_request_headers);
    if (!err)
        err = fh_response_status(res, 204);
    if (!err)
        err = fh_response_end(res);
    return err ? err : FH_STOP;
}

static void cors_after(fh_request_t *req, fh_response_t *res, void *data) {
    cors_t *c = data;
    fh_str_t origin = fh__request_header_find(req, h_origin);
    if (is_preflight(req, origin))
        return; /* the before hook built it */
    if (c->vary) {
        /* Usually no Vary yet: one static field, appended. */
        if (fh__response_header_index(res, h_vary) == res->nheaders)
            fh__response_header_add_view(res, h_vary, h_origin);
        else
            fh__mw_vary_add(res, h_origin);
    }
    if (!origin.ptr || !cors_allowed(c, req, origin))
        return;
    if (allow_origin_headers(c, res, origin) == 0 && c->expose && c->expose[0])
        fh__response_header_set_view(res, h_expose, fh_str(c->expose));
}

static void cors_release(void *data) {
    cors_t *c = data;
    if (!c)
        return;
    for (size_t i = 0; i < c->norigins; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c->methods);
    free(c->allow_headers);
    free(c->expose);
    free(c);
}

/* "scheme://host[:port]" with nothing after, or the literal "null". */
static bool origin_valid(const char *s) {
    if (strcmp(s, "null") == 0)
        return true;
    const char *p = s;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
           *p == '+' || *p == '-' || *p == '.')
        p++;
    if (strncmp(p, "://", 3) != 0)
        return false;
    p += 3;
    if (*p == '[') {
        const char *close = strchr(p, ']');
        if (!close || close == p + 1)
            return false;
        for (const char *q = p + 1; q < close; q++)
            if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f') ||
                  (*q >= 'A' && *q <= 'F') || *q == ':' || *q == '.'))
                return false;
        p = close + 1;
    } else {
        const char *h = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '-' || *p == '.')
            p++;
        if (p == h)
            return false;
    }
    if (*p == ':') {
        const char *d = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == d || p - d > 5)
            return false;
    }
    return *p == '\0';
}

int fh_cors_new(fh_middleware_t *out, const fh_cors_options_t *opt) {
    static const char *const default_methods[] = { "GET",  "HEAD",   "PUT", "PATCH",
                                                   "POST", "DELETE", NULL };
    memset(out, 0, sizeof(*out));
    if (!opt || (!opt->origins && !opt->allow_origin))
        return fh__mw_fail(FH_ECONFIG, "cors.origins: set origins or allow_origin");
    if (opt->max_age < -1)
        return fh__mw_fail(FH_ECONFIG, "cors.max_age: %d (seconds, 0 = 600, -1 = none)",
                           opt->max_age);
    cors_t *c = calloc(1, sizeof(*c));
    if (!c)
        return FH_ENOMEM;
    int err = 0;
    size_t n = 0;
    if (opt->origins) {
        while (opt->origins[n])
            n++;
        if (n == 0 && !opt->allow_origin) {
            err = fh__mw_fail(FH_ECONFIG, "cors.origins: the list is empty");
            goto error;
        }
        for (size_t i = 0; i < n; i++) {
            const char *o = opt->origins[i];
            if (strcmp(o, "*") == 0) {
                if (n != 1) {
                    err = fh__mw_fail(FH_ECONFIG, "cors.origins[%zu]: \"*\" must be the only entry",
                                      i);
                    goto error;
                }
                if (opt->credentials) {
                    err = fh__mw_fail(FH_ECONFIG,
                                      "cors.credentials: not allowed with origins {\"*\"} "
                                      "(list the origins or use allow_origin)");
                    goto error;
                }
                c->any = true;
            } else if (!origin_valid(o)) {
                err = fh__mw_fail(
                    FH_ECONFIG, "cors.origins[%zu]: \"%s\" is not an origin (scheme://host[:port])",
                    i, o);
                goto error;
            }
        }
        if (!c->any) {
            c->origins = calloc(n ? n : 1, sizeof(char *));
            if (!c->origins) {
                err = FH_ENOMEM;
                goto error;
            }
            for (size_t i = 0; i < n; i++) {
                c->origins[i] = strdup(opt->origins[i]);
                if (!c->origins[i]) {
                    err = FH_ENOMEM;
                    goto error;
                }
                c->norigins++;
            }
        }
    }
    c->fn = opt->allow_origin;
    c->fn_data = opt->allow_origin_data;
    c->credentials = opt->credentials;
    c->vary = !(c->any && !c->credentials);
    c->router = opt->router;
    c->method_mask = ~0u;
    if (opt->router && opt->methods) {
        /* The listed methods the router can route; other tokens cannot
         * have a route, so they are never announced. */
        c->method_mask = 0;
        for (size_t i = 0; opt->methods[i]; i++)
            for (int m = FH_METHOD_GET; m < FH_METHOD_OTHER; m++)
                if (strcmp(opt->methods[i], fh_method_name((fh_method_t)m)) == 0)
                    c->method_mask |= 1u << m;
    }
    if ((err = fh__mw_join_tokens(&c->methods, opt->methods ? opt->methods : default_methods,
                                  "cors.methods")) != 0 ||
        (err = fh__mw_join_tokens(&c->allow_headers, opt->allow_headers, "cors.allow_headers")) !=
            0 ||
        (err = fh__mw_join_tokens(&c->expose, opt->expose_headers, "cors.expose_headers")) != 0)
        goto error;
    if (opt->max_age != -1)
        snprintf(c->max_age, sizeof(c->max_age), "%d", opt->max_age ? opt->max_age : 600);
    out->name = "cors";
    out->before = cors_before;
    out->after = cors_after;
    out->data = c;
    out->release = cors_release;
    fh__mw_ok();
    return 0;
error:
    cors_release(c);
    return err;
}
