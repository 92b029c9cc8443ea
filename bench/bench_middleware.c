/* The middleware chain's cost, end to end (driven by bench/middleware).
 *
 *   bench_middleware --mode bare|empty|trio|triocb|all|log|rid|cors [--port P]
 *                    [--threads N] [--log PATH]
 *
 * One server answering GET / ("Hello, World!") and GET /user/:id, whose
 * final handler is the router when the tree has one (include/fasthttp/
 * router.h), else a handler comparing paths:
 *   bare   the final handler is the server's handler: no chain at all;
 *   empty  a chain with no middleware around it;
 *   trio   access log (Combined, latency and request id, to --log, default
 *          /dev/null) + request id + CORS (one allowed origin);
 *   triocb the trio with the access log handed to a write callback that
 *          counts the bytes instead of writing them anywhere: the trio's
 *          cost without the log file's write(2);
 *   all    trio + recover + security headers + rate limit (a rate no
 *          benchmark reaches) + compression (the bodies stay under its
 *          minimum size, so it only negotiates);
 *   log, rid, cors  one of the trio alone, for the breakdown.
 * It prints "listening on PORT" once accepting, and stops on SIGINT or
 * SIGTERM.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fasthttp.h>

#if __has_include(<fasthttp/router.h>)
#include <fasthttp/router.h>
#define HAVE_ROUTER 1
#endif

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "Hello, World!");
}

static int user(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_send_textf(res, 200, "User ID: %.*s", FH_STR_FMT(fh_request_param(req, "id")));
}

#ifndef HAVE_ROUTER
/* Without the router: the same two answers from path comparisons. */
static int by_path(fh_request_t *req, fh_response_t *res, void *data) {
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/"))
        return hello(req, res, data);
    if (fh_str_starts_with(path, "/user/") && path.len > 6)
        return fh_send_textf(res, 200, "User ID: %.*s", (int)(path.len - 6), path.ptr + 6);
    return fh_send_status(res, 404);
}
#endif

static void usage(void) {
    fprintf(stderr, "usage: bench_middleware --mode bare|empty|trio|triocb|all|log|rid|cors "
                    "[--port P] [--threads N] [--log PATH]\n");
    exit(2);
}

/* triocb's access log output: the lines are counted, then dropped. */
static _Atomic unsigned long long logged_bytes;
static void count_lines(const char *lines, size_t len, void *data) {
    (void)lines;
    (void)data;
    atomic_fetch_add_explicit(&logged_bytes, len, memory_order_relaxed);
}

static void check(int err, const char *what) {
    if (err) {
        fprintf(stderr, "bench_middleware: %s: %s %s\n", what, fh_strerror(err),
                fh_middleware_error());
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *mode = NULL, *log_path = "/dev/null";
    int port = 8080, threads = 1;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--mode") == 0)
            mode = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--log") == 0)
            log_path = argv[++i];
        else
            usage();
    }
    if (!mode)
        usage();
    bool bare = strcmp(mode, "bare") == 0, empty = strcmp(mode, "empty") == 0;
    bool triocb = strcmp(mode, "triocb") == 0;
    bool trio = triocb || strcmp(mode, "trio") == 0, all = strcmp(mode, "all") == 0;
    bool log = trio || all || strcmp(mode, "log") == 0;
    bool rid = trio || all || strcmp(mode, "rid") == 0;
    bool cors = trio || all || strcmp(mode, "cors") == 0;
    if (!bare && !empty && !log && !rid && !cors)
        usage();

    fh_handler_fn final_handler;
    void *final_data = NULL;
#ifdef HAVE_ROUTER
    static const fh_route_t routes[] = {
        FH_GET("/", hello),
        FH_GET("/user/:id", user),
        FH_ROUTES_END,
    };
    fh_router_t *router;
    check(fh_router_new(&router, NULL), "router");
    check(fh_router_mount(router, "/", routes, NULL), "router mount");
    final_handler = fh_router_handle;
    final_data = router;
#else
    (void)user;
    final_handler = by_path;
#endif

    fh_middleware_t mws[8];
    int n = 0;
    if (log) {
        fh_access_log_options_t lo = {
            .format = FH_LOG_COMBINED, .path = log_path, .latency = true, .request_id = true
        };
        if (triocb) {
            lo.path = NULL;
            lo.write = count_lines;
        }
        check(fh_access_log_new(&mws[n++], &lo), "access log");
    }
    if (all)
        check(fh_recover_new(&mws[n++], NULL), "recover");
    if (rid)
        check(fh_request_id_new(&mws[n++], NULL), "request id");
    if (cors) {
        static const char *const origins[] = { "https://app.example", NULL };
        fh_cors_options_t co = { .origins = origins };
        check(fh_cors_new(&mws[n++], &co), "cors");
    }
    if (all) {
        check(fh_security_headers_new(&mws[n++], NULL), "security headers");
        fh_rate_limit_options_t ro = { .rate = 1e9, .burst = 1000000000u };
        check(fh_rate_limit_new(&mws[n++], &ro), "rate limit");
        check(fh_compress_new(&mws[n++], NULL), "compress");
    }
    fh_chain_t *chain = NULL;
    if (!bare) {
        check(fh_chain_new(&chain, final_handler, final_data), "chain");
        for (int i = 0; i < n; i++)
            check(fh_chain_use(chain, &mws[i]), "chain use");
    }

    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = port;
    cfg.threads = threads;
    cfg.handler = bare ? final_handler : fh_chain_handle;
    cfg.handler_data = bare ? final_data : chain;
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    printf("listening on %d (mode %s, %d middleware, %s)\n", fh_server_port(server), mode, n,
#ifdef HAVE_ROUTER
           "router"
#else
           "path handler"
#endif
    );
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_chain_free(chain);
    for (int i = 0; i < n; i++)
        fh_middleware_release(&mws[i]);
    if (triocb)
        printf("access log: %llu bytes handed to the callback\n",
               (unsigned long long)atomic_load(&logged_bytes));
#ifdef HAVE_ROUTER
    fh_router_free(router);
#endif
    return err ? 1 : 0;
}
