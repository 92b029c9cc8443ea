/* civetweb peer. civetweb serves each connection on one worker thread for
 * as long as the connection lives (num_threads = "the number of concurrent
 * HTTP connections civetweb can handle"), so its worker count is set apart
 * from THREADS: CIVETWEB_NUM_THREADS (default: THREADS). bench/run sets it to
 * the number of connections it opens, and says so in the report. */
#include "../common/peer.h"

#include <civetweb.h>

static int send_body(struct mg_connection *conn, int status, const char *type, const char *body,
                     size_t len) {
    char clen[32];
    snprintf(clen, sizeof clen, "%zu", len);
    mg_response_header_start(conn, status);
    mg_response_header_add(conn, "Content-Type", type, -1);
    mg_response_header_add(conn, "Content-Length", clen, -1);
    mg_response_header_send(conn);
    mg_write(conn, body, len);
    return status;
}

static int is_get(struct mg_connection *conn) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    return ri && ri->request_method && !strcmp(ri->request_method, "GET");
}

static int on_not_found(struct mg_connection *conn, void *data) {
    (void)data;
    return send_body(conn, 404, "text/plain", PEER_NOT_FOUND, sizeof(PEER_NOT_FOUND) - 1);
}

static int on_plaintext(struct mg_connection *conn, void *data) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!is_get(conn) || strcmp(ri->local_uri, "/plaintext"))
        return on_not_found(conn, data);
    return send_body(conn, 200, "text/plain", PEER_PLAINTEXT, sizeof(PEER_PLAINTEXT) - 1);
}

static int on_json(struct mg_connection *conn, void *data) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    if (!is_get(conn) || strcmp(ri->local_uri, "/json"))
        return on_not_found(conn, data);
    size_t len = 0;
    char *body = peer_json_body(&len);
    if (!body)
        return send_body(conn, 500, "text/plain", "error", 5);
    int r = send_body(conn, 200, "application/json", body, len);
    free(body);
    return r;
}

static int on_user(struct mg_connection *conn, void *data) {
    const struct mg_request_info *ri = mg_get_request_info(conn);
    const char *id = NULL;
    size_t idlen = peer_user_id(ri->local_uri, strlen(ri->local_uri), &id);
    if (!idlen || !is_get(conn))
        return on_not_found(conn, data);
    char buf[256];
    int n = snprintf(buf, sizeof buf, PEER_USER_BODY_PREFIX "%.*s", (int)idlen, id);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    return send_body(conn, 200, "text/plain", buf, (size_t)n);
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    int workers = o.threads;
    const char *e = getenv("CIVETWEB_NUM_THREADS");
    if (e && *e)
        workers = peer_parse_int(e, 1, 100000, "CIVETWEB_NUM_THREADS");
    peer_block_signals();

    char ports[64], nthreads[16];
    snprintf(ports, sizeof ports, "%s:%d", PEER_HOST, o.port);
    snprintf(nthreads, sizeof nthreads, "%d", workers);
    const char *options[] = {
        "listening_ports",
        ports,
        "num_threads",
        nthreads,
        "enable_keep_alive",
        "yes",
        "keep_alive_timeout_ms",
        "120000",
        "request_timeout_ms",
        "120000",
        "tcp_nodelay",
        "1",
        "listen_backlog",
        "4096",
        "connection_queue",
        "4096",
        NULL,
    };
    mg_init_library(0);
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) {
        fprintf(stderr, "civetweb: mg_start failed on %s\n", ports);
        return 1;
    }
    mg_set_request_handler(ctx, "/plaintext", on_plaintext, NULL);
    mg_set_request_handler(ctx, "/json", on_json, NULL);
    mg_set_request_handler(ctx, PEER_USER_PREFIX, on_user, NULL);
    mg_set_request_handler(ctx, "/", on_not_found, NULL);
    fprintf(stderr, "civetweb %s: listening on %s with %d worker threads (THREADS=%d)\n",
            mg_version(), ports, workers, o.threads);
    peer_wait_signal();
    mg_stop(ctx);
    mg_exit_library();
    return 0;
}
