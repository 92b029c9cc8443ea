/* controllers: the V fasthttp example app, in C, grown into a small API.
 *
 *   GET  /          -> 200 "Hello, World!"           (controllers/home.c)
 *   GET  /user/:id  -> 200 "User ID: <id>"           (controllers/user.c)
 *   POST /user      -> 201 "User created successfully"
 *   /api/users...   -> a JSON resource               (controllers/users_api.c)
 *   GET  /openapi.json -> the OpenAPI 3.1 document of every route
 *   GET  /docs      -> its documentation page (Swagger UI)
 *   anything else   -> 404
 *
 * Around the router, a middleware chain: the access log (Common Log Format
 * with latency and request id, on stdout), request ids (X-Request-ID, also
 * in problem documents) and CORS for any origin. Errors are problem
 * documents under /api (the mount's 404 and 405) and for every request the
 * server refuses itself (malformed, too large, too slow...), which an
 * error chain with the same access log and request ids logs too.
 *
 * Usage: controllers [--host HOST] [--port PORT] [--threads N]
 *                    [--docs-dir DIR] [--admin-token TOKEN] [--list-routes]
 * Flags win over the environment: HOST (default 127.0.0.1; "" or "*" for
 * every interface), PORT (default 3000; 0 picks a free port, printed on
 * startup), THREADS (default 0: one per CPU), DOCS_DIR (the npm package
 * swagger-ui-dist's directory; default: where scripts/install-deps.sh puts
 * it) and ADMIN_TOKEN (the bearer token DELETE needs; default: a random
 * one, printed on startup). FH_CHECK_RESPONSES=1 checks every response of
 * the users API against its declaration. SIGINT or SIGTERM stops the
 * server gracefully.
 */
#include <errno.h>
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "controllers/controllers.h"
#include "store.h"

#ifndef CONTROLLERS_DOCS_DIR
#define CONTROLLERS_DOCS_DIR "build-deps/npm/node_modules/swagger-ui-dist"
#endif

static void usage(FILE *to) {
    fprintf(to, "usage: controllers [--host HOST] [--port PORT] [--threads N] [--docs-dir DIR]\n"
                "                   [--admin-token TOKEN] [--list-routes]\n"
                "  --list-routes: print the router's routes (METHOD PATTERN) and exit\n"
                "  environment: HOST (127.0.0.1), PORT (3000), THREADS (0 = one per CPU),\n"
                "  DOCS_DIR (swagger-ui-dist), ADMIN_TOKEN (random)\n");
}

/* A whole decimal number in min..max, or -1. */
static long parse_num(const char *s, long min, long max) {
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    return errno || *end || n < min || n > max ? -1 : n;
}

typedef struct options {
    const char *host, *port, *threads, *docs_dir, *token;
    bool list_routes;
} options_t;

/* Reads --name VALUE and --name=VALUE flags over the environment's values.
 * Returns 0, 1 for --help, -1 for a bad command line. */
static int parse_args(int argc, char **argv, options_t *o) {
    o->host = getenv("HOST");
    o->port = getenv("PORT");
    o->threads = getenv("THREADS");
    o->list_routes = false;
    o->docs_dir = getenv("DOCS_DIR");
    o->token = getenv("ADMIN_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help"))
            return 1;
        if (!strcmp(arg, "--list-routes")) {
            o->list_routes = true;
            continue;
        }
        static const char *const names[] = { "--host", "--port", "--threads", "--docs-dir",
                                             "--admin-token" };
        const char **slots[] = { &o->host, &o->port, &o->threads, &o->docs_dir, &o->token };
        size_t k;
        for (k = 0; k < 5; k++) {
            size_t len = strlen(names[k]);
            if (strncmp(arg, names[k], len) != 0)
                continue;
            if (arg[len] == '=') {
                *slots[k] = arg + len + 1;
                break;
            }
            if (arg[len] == '\0' && i + 1 < argc) {
                *slots[k] = argv[++i];
                break;
            }
        }
        if (k == 5) {
            fprintf(stderr, "controllers: bad argument \"%s\"\n", arg);
            return -1;
        }
    }
    return 0;
}

/* A random admin token of 32 hex digits, or "" when /dev/urandom fails. */
static void random_token(char out[33]) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    size_t n = f ? fread(b, 1, sizeof(b), f) : 0;
    if (f)
        fclose(f);
    out[0] = '\0';
    for (size_t i = 0; n == sizeof(b) && i < sizeof(b); i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int main(int argc, char **argv) {
    options_t opt;
    int pa = parse_args(argc, argv, &opt);
    if (pa) {
        usage(pa > 0 ? stdout : stderr);
        return pa > 0 ? 0 : 2;
    }
    long port = opt.port ? parse_num(opt.port, 0, 65535) : 3000;
    long threads = opt.threads ? parse_num(opt.threads, 0, 1024) : 0;
    if (port < 0 || threads < 0) {
        fprintf(stderr, "controllers: %s must be a number from %s\n",
                port < 0 ? "the port" : "the thread count", port < 0 ? "0 to 65535" : "0 to 1024");
        return 2;
    }

    char generated[33];
    const char *token = opt.token;
    if (!token) {
        random_token(generated);
        token = generated;
    }
    const char *tokens[] = { token, NULL };
    fh_bearer_auth_options_t auth_opt = { .realm = "users", .tokens = tokens };
    if (!*token || fh_bearer_auth_new(&users_admin_auth, &auth_opt)) {
        fprintf(stderr, "controllers: admin token \"%s\": %s\n", token,
                *token ? fh_middleware_error() : "empty");
        return 2;
    }

    store_t store;
    if (store_init(&store)) {
        fprintf(stderr, "controllers: cannot create the store\n");
        return 1;
    }

    /* The routes: one table per controller, all on one router. */
    fh_router_config_t rcfg = fh_router_config_default();
    rcfg.not_found = not_found_controller;
    rcfg.method_not_allowed = method_not_allowed_controller;
    fh_router_t *router;
    if (fh_router_new(&router, &rcfg)) {
        fprintf(stderr, "controllers: out of memory\n");
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
        return 1;
    }
    /* The JSON API answers its own 404 and 405 as problem documents. */
    fh_mount_options_t api_opt = { .not_found = fh_json_error_handler,
                                   .method_not_allowed = fh_json_error_handler };
    if (fh_router_mount(router, "/", home_routes, NULL) ||
        fh_router_mount(router, "/", user_routes, NULL) ||
        fh_router_mount_opts(router, "/api", users_api_routes, &store, &api_opt)) {
        fprintf(stderr, "%s\n", fh_router_error(router));
        fh_router_free(router);
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
        return 1;
    }

    /* The OpenAPI document of every route above, and its page. Without a
     * docs directory given, a missing swagger-ui-dist only turns the page
     * off. */
    static const fh_openapi_tag_t tags[] = {
        { "users", "The users resource" },
        { "documentation", "This document and its page" },
        { NULL, NULL },
    };
    fh_openapi_options_t oa = {
        .title = "fasthttp controllers example",
        .version = "1.0.0",
        .description = "The V fasthttp example's routes and a JSON users resource.",
        .license_name = "MIT",
        .license_identifier = "MIT",
        .tags = tags,
        .docs_path = "/docs",
        .docs_dir = opt.docs_dir ? opt.docs_dir : CONTROLLERS_DOCS_DIR,
    };
    fh_openapi_t *openapi = NULL;
    int err = fh_openapi_new(&openapi, router, &oa);
    if (err == FH_ECONFIG && !opt.docs_dir) {
        fprintf(stderr, "controllers: no documentation page: %s\n", fh_openapi_error());
        oa.docs_path = NULL;
        err = fh_openapi_new(&openapi, router, &oa);
    }
    if (err) {
        fprintf(stderr, "controllers: %s\n",
                err == FH_ECONFIG ? fh_openapi_error() : fh_router_error(router));
        fh_router_free(router);
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
        return 2;
    }

    if (opt.list_routes) {
        for (size_t i = 0; i < fh_router_route_count(router); i++) {
            const fh_route_info_t *ri = fh_router_route_at(router, i);
            printf("%s %s\n", ri->method == FH_METHOD_ANY ? "ANY" : fh_method_name(ri->method),
                   ri->pattern);
        }
        fh_router_free(router);
        fh_openapi_free(openapi);
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
        return 0;
    }

    /* The middleware, outermost first: the access log sees every request. */
    fh_access_log_options_t log_opt = { .latency = true, .request_id = true, .file = stdout };
    static const char *const any_origin[] = { "*", NULL };
    static const char *const exposed[] = { "Location", "Link", "X-Total-Count", "X-Request-ID",
                                           NULL };
    fh_cors_options_t cors_opt = { .origins = any_origin, .expose_headers = exposed };
    fh_middleware_t access_log = { 0 }, request_id = { 0 }, cors = { 0 };
    fh_chain_t *chain = NULL, *errors = NULL;
    if ((err = fh_access_log_new(&access_log, &log_opt)) ||
        (err = fh_request_id_new(&request_id, NULL)) || (err = fh_cors_new(&cors, &cors_opt)) ||
        (err = fh_chain_new(&chain, fh_router_handle, router)) ||
        (err = fh_chain_use(chain, &access_log)) || (err = fh_chain_use(chain, &request_id)) ||
        (err = fh_chain_use(chain, &cors)) ||
        /* The server's own refusals: logged, with a request id, answered
         * as problem documents. */
        (err = fh_chain_new(&errors, fh_json_error_handler, NULL)) ||
        (err = fh_chain_use(errors, &access_log)) || (err = fh_chain_use(errors, &request_id))) {
        const char *why = fh_middleware_error();
        fprintf(stderr, "controllers: %s\n", *why ? why : fh_strerror(err));
        fh_chain_free(errors);
        fh_chain_free(chain);
        fh_middleware_release(&cors);
        fh_middleware_release(&request_id);
        fh_middleware_release(&access_log);
        fh_router_free(router);
        fh_openapi_free(openapi);
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
        return 1;
    }

    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = !opt.host ? "127.0.0.1" : (!*opt.host || !strcmp(opt.host, "*")) ? NULL : opt.host;
    cfg.port = (int)port;
    cfg.threads = (int)threads;
    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    cfg.error_handler = fh_chain_handle;
    cfg.error_handler_data = errors;

    fh_server_t *server = NULL;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
    } else {
        if (!opt.token)
            printf("controllers: admin token (DELETE /api/users/:id): %s\n", token);
        printf("controllers: listening on http://%s:%d with %d threads\n",
               cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
        fflush(stdout);
        err = fh_server_run(server); /* until SIGINT or SIGTERM */
        fh_server_free(server);
    }
    /* After the server: the access log writes its last lines here. */
    fh_chain_free(errors);
    fh_chain_free(chain);
    fh_middleware_release(&cors);
    fh_middleware_release(&request_id);
    fh_middleware_release(&access_log);
    fh_router_free(router);
    fh_openapi_free(openapi);
    store_destroy(&store);
    fh_middleware_release(&users_admin_auth);
    return err ? 1 : 0;
}
