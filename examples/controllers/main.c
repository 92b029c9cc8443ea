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
 * (--help lists them). Flags win over the environment: HOST (default 127.0.0.1; "" or "*" for
 * every interface), PORT (default 3000; 0 picks a free port, printed on
 * startup), THREADS (default 0: one per CPU), DOCS_DIR (the npm package
 * swagger-ui-dist's directory; default: where scripts/install-deps.sh puts
 * it) and ADMIN_TOKEN (the bearer token DELETE needs; default: a random
 * one, printed on startup). FH_CHECK_RESPONSES=1 checks every response of
 * the users API against its declaration. SIGINT or SIGTERM stops the
 * server gracefully; SIGUSR2 restarts it without downtime (a new
 * generation of the program takes the listening sockets over; the users
 * kept in memory start empty there).
 */
#include <fasthttp.h>
#include <stdio.h>
#include "controllers/controllers.h"
#include "store.h"

#ifndef CONTROLLERS_DOCS_DIR
#define CONTROLLERS_DOCS_DIR "build-deps/npm/node_modules/swagger-ui-dist"
#endif

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
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 3000;
    struct {
        const char *docs_dir, *token;
        bool list_routes;
    } opt = { NULL, NULL, false };
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("docs-dir", "DIR", "DOCS_DIR",
                     "the npm package swagger-ui-dist's folder, for the page at /docs",
                     &opt.docs_dir),
        FH_TEXT_FLAG("admin-token", "TOKEN", "ADMIN_TOKEN",
                     "the bearer token DELETE /api/users/:id needs (default: a random one)",
                     &opt.token),
        FH_SWITCH_FLAG("list-routes", NULL, "print the router's routes (METHOD PATTERN) and exit",
                       &opt.list_routes),
        FH_FLAGS_END,
    };
    fh_args_t args = { .summary = "Routes from tables, one file per controller, and a JSON "
                                  "/api/users described as OpenAPI.",
                       .flags = flags };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
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

    /* Prometheus metrics of every request, counted per worker thread. */
    fh_metrics_t *metrics = NULL;
    if (fh_metrics_new(&metrics, NULL)) {
        fprintf(stderr, "controllers: out of memory\n");
        store_destroy(&store);
        fh_middleware_release(&users_admin_auth);
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
        fh_metrics_free(metrics);
        fh_middleware_release(&users_admin_auth);
        return 1;
    }
    /* The JSON API answers its own 404 and 405 as problem documents. */
    fh_mount_options_t api_opt = { .not_found = fh_json_error_handler,
                                   .method_not_allowed = fh_json_error_handler };
    if (fh_router_mount(router, "/", home_routes, NULL) ||
        fh_router_mount(router, "/", user_routes, NULL) ||
        fh_router_mount_opts(router, "/api", users_api_routes, &store, &api_opt) ||
        /* Operations: the metrics, liveness and readiness (503 from the
         * moment a stop begins). */
        fh_router_add(router, FH_METHOD_GET, "/metrics", fh_metrics_handler, metrics) ||
        fh_router_add(router, FH_METHOD_GET, "/healthz", fh_health_live, NULL) ||
        fh_router_add(router, FH_METHOD_GET, "/readyz", fh_health_ready, NULL)) {
        fprintf(stderr, "%s\n", fh_router_error(router));
        fh_router_free(router);
        store_destroy(&store);
        fh_metrics_free(metrics);
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
    err = fh_openapi_new(&openapi, router, &oa);
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
        fh_metrics_free(metrics);
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
        fh_metrics_free(metrics);
        fh_middleware_release(&users_admin_auth);
        return 0;
    }

    /* The middleware, outermost first: the access log sees every request. */
    fh_access_log_options_t log_opt = { .latency = true, .request_id = true, .file = stdout };
    static const char *const any_origin[] = { "*", NULL };
    static const char *const exposed[] = { "Location", "Link", "X-Total-Count", "X-Request-ID",
                                           NULL };
    /* With the router, a preflight announces the methods its path has, and
     * a path without routes gets the router's 404. */
    fh_cors_options_t cors_opt = { .origins = any_origin,
                                   .expose_headers = exposed,
                                   .router = router };
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
        fh_metrics_free(metrics);
        fh_middleware_release(&users_admin_auth);
        return 1;
    }

    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    cfg.error_handler = fh_chain_handle;
    cfg.error_handler_data = errors;
    cfg.metrics = metrics;

    fh_server_t *server = NULL;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
    } else {
        if (!opt.token)
            printf("controllers: admin token (DELETE /api/users/:id): %s\n", token);
        printf("controllers: listening on %s://%s:%d with %d threads\n",
               cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*",
               fh_server_port(server), fh_server_threads(server));
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
    fh_metrics_free(metrics);
    fh_middleware_release(&users_admin_auth);
    return err ? 1 : 0;
}
