/* libh2o-evloop peer: THREADS worker threads, each with its own h2o evloop,
 * h2o context and SO_REUSEPORT listening socket; one global configuration
 * with a handler per path. */
#include "../common/peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

typedef struct {
    pthread_t tid;
    int fd;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
} worker_t;

static h2o_globalconf_t config;

static int is_get(h2o_req_t *req) {
    return h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
}

static int path_is(h2o_req_t *req, const char *path) {
    return h2o_memis(req->path_normalized.base, req->path_normalized.len, path, strlen(path));
}

static void send_text(h2o_req_t *req, int status, const char *type, const char *body, size_t len) {
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "Not Found";
    req->res.content_length = len;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, type, strlen(type));
    h2o_send_inline(req, body, len); /* copies the body into the request's pool */
}

/* A handler returning -1 declines: h2o tries the next one, then answers 404. */
static int on_plaintext(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    if (!is_get(req) || !path_is(req, "/plaintext"))
        return -1;
    send_text(req, 200, "text/plain", PEER_PLAINTEXT, sizeof(PEER_PLAINTEXT) - 1);
    return 0;
}

static int on_json(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    if (!is_get(req) || !path_is(req, "/json"))
        return -1;
    size_t len = 0;
    char *body = peer_json_body(&len);
    if (!body)
        return -1;
    send_text(req, 200, "application/json", body, len);
    free(body);
    return 0;
}

static int on_user(h2o_handler_t *self, h2o_req_t *req) {
    (void)self;
    const char *id = NULL;
    size_t idlen = peer_user_id(req->path_normalized.base, req->path_normalized.len, &id);
    if (!is_get(req) || !idlen)
        return -1;
    h2o_iovec_t body = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT(PEER_USER_BODY_PREFIX)),
                                  h2o_iovec_init(id, idlen));
    send_text(req, 200, "text/plain", body.base, body.len);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err) {
    worker_t *w = listener->data;
    if (err)
        return;
    for (int i = 0; i < 64; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock)
            break;
        h2o_accept(&w->accept_ctx, sock);
    }
}

static int listen_socket(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, PEER_HOST, &addr.sin_addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 4096)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    w->loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, w->loop, &config);
    w->accept_ctx.ctx = &w->ctx;
    w->accept_ctx.hosts = config.hosts;
    h2o_socket_t *listener = h2o_evloop_socket_create(w->loop, w->fd, H2O_SOCKET_FLAG_DONT_READ);
    listener->data = w;
    h2o_socket_read_start(listener, on_accept);
    for (;;)
        h2o_evloop_run(w->loop, INT32_MAX);
    return NULL;
}

static void add_path(h2o_hostconf_t *host, const char *path,
                     int (*on_req)(h2o_handler_t *, h2o_req_t *)) {
    h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
    h2o_handler_t *h = h2o_create_handler(pc, sizeof *h);
    h->on_req = on_req;
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    peer_block_signals();

    h2o_config_init(&config);
    config.http1.req_timeout = 120 * 1000; /* ms; the default 10 s would close idle keep-alives */
    h2o_hostconf_t *host =
        h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    add_path(host, "/plaintext", on_plaintext);
    add_path(host, "/json", on_json);
    add_path(host, "/user", on_user);

    worker_t *workers = calloc((size_t)o.threads, sizeof *workers);
    if (!workers)
        return 1;
    for (int i = 0; i < o.threads; i++) {
        workers[i].fd = listen_socket(o.port);
        if (workers[i].fd < 0) {
            fprintf(stderr, "libh2o: cannot listen on %s:%d: %s\n", PEER_HOST, o.port,
                    strerror(errno));
            return 1;
        }
    }
    for (int i = 0; i < o.threads; i++) {
        if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])) {
            fprintf(stderr, "libh2o: pthread_create failed\n");
            return 1;
        }
    }
    fprintf(stderr, "libh2o-evloop %s: listening on %s:%d with %d threads\n", H2O_VERSION,
            PEER_HOST, o.port, o.threads);
    peer_wait_signal();
    /* The evloops have no stop call that is safe from another thread: leave
     * with the process, as h2o's own server does on SIGTERM. */
    return 0;
}
