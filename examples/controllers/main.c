/* controllers: the V fasthttp example app, in C, grown into a small API.
 *
 *   GET  /          -> 200 "Hello, World!"           (controllers/home.c)
 *   GET  /user/:id  -> 200 "User ID: <id>"           (controllers/user.c)
 *   POST /user      -> 201 "User created successfully"
 *   /api/users...   -> a JSON resource               (controllers/users_api.c)
 *   anything else   -> 404
 *
 * Around the router, a middleware chain: the access log (Common Log Format
 * with latency and request id, on stdout), request ids (X-Request-ID, also
 * in problem documents) and CORS for any origin. Errors are problem
 * documents under /api (the mount's 404 and 405) and for every request the
 * server refuses itself (malformed, too large, too slow...), which an
 * error chain with the same access log and request ids logs too.
 *
 * Usage: controllers [--host HOST] [--port PORT] [--threads N] (--help
 * lists them). Flags win over the environment: HOST (default 127.0.0.1; ""
 * or "*" for every interface), PORT (default 3000; 0 picks a free port,
 * printed on startup) and THREADS (default 0: one per CPU). SIGINT or
 * SIGTERM stops the server gracefully.
 */
#include <fasthttp.h>
#include <stdio.h>
#include "controllers/controllers.h"
#include "store.h"

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 3000;
    fh_args_t args = { .summary =
                           "Routes from tables, one file per controller, and a JSON /api/users." };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
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
        return 1;
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
        store_destroy(&store);
        return 1;
    }

    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    cfg.error_handler = fh_chain_handle;
    cfg.error_handler_data = errors;

    fh_server_t *server = NULL;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
    } else {
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
    store_destroy(&store);
    return err ? 1 : 0;
}
