/* websocket: WebSocket endpoints (RFC 6455).
 *
 *   GET /echo  -> a WebSocket that sends every message back unchanged,
 *                 with the same opcode (text stays text, binary binary):
 *                 the contract the interop tests and benchmarks rely on.
 *                 Messages up to 16 MiB; a ping is answered with a pong;
 *                 permessage-deflate when the client offers it.
 *   GET /chat  -> a WebSocket chat room: every text message a member sends
 *                 goes to every member, on every worker thread (a room).
 *   GET /      -> the chat page (public/index.html), from the static
 *                 files middleware, which serves --root.
 *
 * With TLS_CERT and TLS_KEY set it serves HTTPS, and the endpoints are
 * wss://HOST:PORT/echo and wss://HOST:PORT/chat.
 *
 * Usage: websocket [--host HOST] [--port PORT] [--threads N] [--root DIR]
 * [PORT [THREADS]] (--help lists them). Flags win over the environment
 * variables HOST (default 127.0.0.1), PORT (default 3000), THREADS
 * (default 0: one per CPU) and ROOT (default: the example's public/
 * folder in the source tree).
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

/* The chat room, made once the server exists. */
static fh_ws_room_t *room;

static int chat_open(fh_ws_t *ws, fh_request_t *req, void *data) {
    (void)req, (void)data;
    return fh_ws_room_join(room, ws) ? 1011 : 0;
}

static void chat_message(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)ws, (void)data;
    if (kind == FH_WS_TEXT)
        fh_ws_room_broadcast(room, FH_WS_TEXT, msg, len);
}

static const fh_ws_handlers_t CHAT_WS = {
    .on_open = chat_open,
    .on_message = chat_message,
    .max_message = 4096,
};

static const fh_route_t ROUTES[] = {
    FH_WS("/echo", &ECHO_WS),
    FH_WS("/chat", &CHAT_WS),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    const char *root = FH_WS_PUBLIC_DIR;
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("root", "DIR", "ROOT", "the directory of the chat page", &root),
        FH_FLAGS_END,
    };
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "WebSocket endpoints: /echo sends every message back, /chat "
                                  "is a chat room, / its page.",
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
    fh_router_t *router;
    if (fh_router_new(&router, NULL) || fh_router_mount(router, "", ROUTES, NULL)) {
        fprintf(stderr, "websocket: routes: %s\n", router ? fh_router_error(router) : "");
        fh_router_free(router);
        return 1;
    }
    /* The page from the static files middleware, in front of the router. */
    fh_middleware_t files;
    fh_chain_t *chain = NULL;
    err = fh_static(&files, "/", root, NULL);
    if (err) {
        fprintf(stderr, "websocket: --root %s: %s\n", root, fh_strerror(err));
        fh_router_free(router);
        return 1;
    }
    if (fh_chain_new(&chain, fh_router_handle, router) || fh_chain_use(chain, &files)) {
        fprintf(stderr, "websocket: out of memory\n");
        return 1;
    }
    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (!err)
        err = fh_ws_room_new(server, &room);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_chain_free(chain);
        fh_middleware_release(&files);
        fh_router_free(router);
        return 1;
    }
    /* With TLS_CERT and TLS_KEY the same routes answer wss:// (the
     * handlers do not change). */
    printf("websocket: listening on %s://%s:%d with %d threads\n",
           cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_ws_room_free(room);
    fh_chain_free(chain);
    fh_middleware_release(&files);
    fh_router_free(router);
    return err ? 1 : 0;
}
