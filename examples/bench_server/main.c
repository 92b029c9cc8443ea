/* fh_bench_server: the endpoints every server in bench/ answers, routed.
 *
 *   GET /plaintext  -> text/plain "Hello, World!"
 *   GET /json       -> {"message":"Hello, World!"}, a jansson object built
 *                      and serialized on every request (never cached)
 *   GET /user/:id   -> text/plain "User ID: <id>"
 *   anything else   -> 404 (405 with Allow for another method)
 *
 * Usage: fh_bench_server [--host HOST] [--port PORT] [--threads N] [--metrics]
 * [PORT [THREADS]] (--help lists them). Flags win over the environment
 * variables HOST (default 127.0.0.1), PORT (default 8080) and THREADS
 * (default 0: one per CPU). --metrics (or METRICS=1) counts every request
 * into Prometheus metrics, served at GET /metrics.
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>

static int plaintext(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "Hello, World!");
}

static int json(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    /* Built as the peers build it (bench/peers/common/peer.h). */
    json_t *obj = json_object();
    if (obj && json_object_set_new(obj, "message", json_string("Hello, World!")) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    return fh_send_json_new(res, 200, obj);
}

static int user(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_send_textf(res, 200, "User ID: %.*s", FH_STR_FMT(fh_request_param(req, "id")));
}

static const fh_route_t routes[] = {
    FH_GET("/plaintext", plaintext),
    FH_GET("/json", json),
    FH_GET("/user/:id", user),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 8080;
    cfg.host = "127.0.0.1";
    static const char *const operands[] = { "port", "threads", NULL };
    bool with_metrics = false;
    const fh_flag_t flags[] = {
        FH_SWITCH_FLAG("metrics", "METRICS",
                       "count every request into Prometheus metrics (served at /metrics)",
                       &with_metrics),
        FH_FLAGS_END,
    };
    fh_args_t args = { .summary = "The endpoints every server in bench/ answers.",
                       .flags = flags,
                       .operands = operands };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }

    fh_metrics_t *metrics = NULL;
    if (with_metrics && fh_metrics_new(&metrics, NULL)) {
        fprintf(stderr, "fh_bench_server: out of memory\n");
        return 1;
    }
    fh_router_t *router = NULL;
    err = fh_router_new(&router, NULL);
    if (!err)
        err = fh_router_mount(router, "", routes, NULL);
    if (!err && metrics)
        err = fh_router_add(router, FH_METHOD_GET, "/metrics", fh_metrics_handler, metrics);
    if (err) {
        fprintf(stderr, "fh_bench_server: %s\n",
                router ? fh_router_error(router) : fh_strerror(err));
        fh_router_free(router);
        fh_metrics_free(metrics);
        return 1;
    }
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.limits.max_connections = 20000;
    cfg.metrics = metrics;
    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        fh_metrics_free(metrics);
        return 1;
    }
    printf("fh_bench_server: listening on %s://%s:%d with %d threads\n",
           cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_router_free(router);
    fh_metrics_free(metrics);
    return err ? 1 : 0;
}
