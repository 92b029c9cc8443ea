/* libmicrohttpd peer: a thread pool of THREADS epoll loops (MHD's
 * "internal polling thread" mode with MHD_OPTION_THREAD_POOL_SIZE); one
 * poll() thread when THREADS is 1. */
#include "../common/peer.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             struct MHD_Response *res) {
    if (!res)
        return MHD_NO;
    if (type)
        MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result r = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return r;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls) {
    static int first_call_marker;
    (void)cls;
    (void)version;
    (void)upload_data;
    /* MHD calls once when the headers are in, then with the body (if any),
     * then once more with *upload_data_size == 0. A response queued on the
     * first call makes MHD close the connection (it cannot know the body was
     * read), so answer on the last call, as MHD's documentation shows. */
    if (*req_cls == NULL) {
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0; /* a body is not part of the contract: drop it */
        return MHD_YES;
    }
    if (!strcmp(method, MHD_HTTP_METHOD_GET)) {
        if (!strcmp(url, "/plaintext"))
            return reply(conn, MHD_HTTP_OK, "text/plain",
                         MHD_create_response_from_buffer(sizeof(PEER_PLAINTEXT) - 1,
                                                         (void *)PEER_PLAINTEXT,
                                                         MHD_RESPMEM_PERSISTENT));
        if (!strcmp(url, "/json")) {
            size_t len = 0;
            char *body = peer_json_body(&len);
            if (!body)
                return MHD_NO;
            return reply(conn, MHD_HTTP_OK, "application/json",
                         MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE));
        }
        const char *id = NULL;
        size_t idlen = peer_user_id(url, strlen(url), &id);
        if (idlen) {
            char buf[256];
            int n = snprintf(buf, sizeof buf, PEER_USER_BODY_PREFIX "%.*s", (int)idlen, id);
            if (n < 0 || (size_t)n >= sizeof buf)
                n = (int)sizeof buf - 1;
            return reply(conn, MHD_HTTP_OK, "text/plain",
                         MHD_create_response_from_buffer((size_t)n, buf, MHD_RESPMEM_MUST_COPY));
        }
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                 MHD_create_response_from_buffer(sizeof(PEER_NOT_FOUND) - 1, (void *)PEER_NOT_FOUND,
                                                 MHD_RESPMEM_PERSISTENT));
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    peer_block_signals();

    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o.port);
    inet_pton(AF_INET, PEER_HOST, &addr.sin_addr);

    /* MHD ignores a pool of one thread, and its single-thread epoll mode
     * (0.9.75) stalls above about 100 connections: one thread uses poll(). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
                     (o.threads > 1 ? MHD_USE_EPOLL : MHD_USE_POLL);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)o.port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)(o.threads > 1 ? o.threads : 0), MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)60000, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "libmicrohttpd: MHD_start_daemon failed on %s:%d\n", PEER_HOST, o.port);
        return 1;
    }
    fprintf(stderr, "libmicrohttpd %s: listening on %s:%d with %d threads\n", MHD_get_version(),
            PEER_HOST, o.port, o.threads);
    peer_wait_signal();
    MHD_stop_daemon(d);
    return 0;
}
