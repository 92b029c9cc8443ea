/* websocket: WebSocket endpoints (RFC 6455).
 *
 *   GET /echo  -> a WebSocket that sends every message back unchanged,
 *                 with the same opcode (text stays text, binary binary):
 *                 the contract the interop tests and benchmarks rely on.
 *                 Messages up to 16 MiB; a ping is answered with a pong;
 *                 permessage-deflate when the client offers it.
 *
 * Usage: websocket [--host HOST] [--port PORT] [--threads N]
 * [PORT [THREADS]] (--help lists them). Flags win over the environment
 * variables HOST (default 127.0.0.1), PORT (default 3000) and THREADS
 * (default 0: one per CPU).
 */
#include <fasthttp.h>
#include <stdio.h>

/* Sends the message back as it came. A refusal (the send queue of a slow
 * reader is full: FH_EAGAIN) closes with 1008, so that a client that does
 * not read cannot make the server hold more than the queue's bound. */
static void echo_message(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)data;
    int err = fh_ws_send(ws, kind, msg, len);
    if (err == FH_EAGAIN)
        fh_ws_close(ws, 1008, "read your messages");
}

static const fh_ws_handlers_t ECHO_WS = {
    .on_message = echo_message,
    .max_queue = 32u << 20, /* two whole 16 MiB messages */
    .deflate = true,        /* permessage-deflate when the client offers it */
};

static const fh_route_t ROUTES[] = {
    FH_WS("/echo", &ECHO_WS),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "WebSocket endpoints: /echo sends every message back.",
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
    fh_router_t *router;
    if (fh_router_new(&router, NULL) || fh_router_mount(router, "", ROUTES, NULL)) {
        fprintf(stderr, "websocket: routes: %s\n", router ? fh_router_error(router) : "");
        fh_router_free(router);
        return 1;
    }
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        return 1;
    }
    printf("websocket: listening on http://%s:%d with %d threads\n", cfg.host ? cfg.host : "*",
           fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
