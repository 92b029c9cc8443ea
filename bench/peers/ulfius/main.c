/* ulfius peer. ulfius_start_framework() runs libmicrohttpd with one thread
 * per connection; to give ulfius the same THREADS as every other server we
 * start it with ulfius_start_framework_with_mhd_options(): an epoll thread
 * pool of THREADS, plus the two options its header says must be present. */
#include "../common/peer.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <ulfius.h>

static int on_plaintext(const struct _u_request *req, struct _u_response *res, void *data) {
    (void)req;
    (void)data;
    ulfius_set_string_body_response(res, 200, PEER_PLAINTEXT);
    u_map_put(res->map_header, "Content-Type", "text/plain");
    return U_CALLBACK_COMPLETE;
}

static int on_json(const struct _u_request *req, struct _u_response *res, void *data) {
    (void)req;
    (void)data;
    /* ulfius serializes the object (json_dumps, compact) and sets
     * Content-Type: application/json itself. */
    json_t *obj = json_object();
    json_object_set_new(obj, "message", json_string(PEER_PLAINTEXT));
    ulfius_set_json_body_response(res, 200, obj);
    json_decref(obj);
    return U_CALLBACK_COMPLETE;
}

static int on_user(const struct _u_request *req, struct _u_response *res, void *data) {
    (void)data;
    const char *id = u_map_get(req->map_url, "id");
    if (!id || !*id) {
        ulfius_set_string_body_response(res, 404, PEER_NOT_FOUND);
        return U_CALLBACK_COMPLETE;
    }
    char buf[256];
    snprintf(buf, sizeof buf, PEER_USER_BODY_PREFIX "%s", id);
    ulfius_set_string_body_response(res, 200, buf);
    u_map_put(res->map_header, "Content-Type", "text/plain");
    return U_CALLBACK_COMPLETE;
}

static int on_default(const struct _u_request *req, struct _u_response *res, void *data) {
    (void)req;
    (void)data;
    ulfius_set_string_body_response(res, 404, PEER_NOT_FOUND);
    u_map_put(res->map_header, "Content-Type", "text/plain");
    return U_CALLBACK_COMPLETE;
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    peer_block_signals();

    static struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, PEER_HOST, &addr.sin_addr);

    struct _u_instance inst;
    if (ulfius_init_instance(&inst, (unsigned)o.port, &addr, NULL) != U_OK) {
        fprintf(stderr, "ulfius: ulfius_init_instance failed\n");
        return 1;
    }
    inst.check_utf8 = 0;
    ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/plaintext", 0, on_plaintext, NULL);
    ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/json", 0, on_json, NULL);
    ulfius_add_endpoint_by_val(&inst, "GET", NULL, "/user/:id", 0, on_user, NULL);
    ulfius_set_default_endpoint(&inst, on_default, NULL);

    struct MHD_OptionItem ops[] = {
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)mhd_request_completed, NULL },
        { MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)ulfius_uri_logger, NULL },
        { MHD_OPTION_SOCK_ADDR, 0, &addr },
        { MHD_OPTION_THREAD_POOL_SIZE, o.threads > 1 ? o.threads : 0, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, 60000, NULL },
        { MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, 120, NULL },
        { MHD_OPTION_END, 0, NULL },
    };
    /* As in the libmicrohttpd peer: MHD ignores a pool of one thread, and its
     * single-thread epoll mode (0.9.75) stalls above about 100 connections,
     * so one thread uses poll(). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
                     (o.threads > 1 ? MHD_USE_EPOLL : MHD_USE_POLL);
    if (ulfius_start_framework_with_mhd_options(&inst, flags, ops) != U_OK) {
        fprintf(stderr, "ulfius: start failed on %s:%d\n", PEER_HOST, o.port);
        ulfius_clean_instance(&inst);
        return 1;
    }
    fprintf(stderr, "ulfius: listening on %s:%d with %d threads\n", PEER_HOST, o.port, o.threads);
    peer_wait_signal();
    ulfius_stop_framework(&inst);
    ulfius_clean_instance(&inst);
    return 0;
}
