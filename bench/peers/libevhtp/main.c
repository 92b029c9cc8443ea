/* libevhtp peer: one libevent accept loop on the main thread hands
 * connections to THREADS worker loops (evhtp_use_threads_wexit). */
#include "../common/peer.h"

#include <event2/event.h>
#include <evhtp.h>

/* evhtp_set_cb() also matches longer paths ("/plaintext/x"): check the
 * whole path and the method, as the contract answers 404 to anything else. */
static int is_get(evhtp_request_t *req, const char *path) {
    return evhtp_request_get_method(req) == htp_method_GET && req->uri && req->uri->path &&
           req->uri->path->full && !strcmp(req->uri->path->full, path);
}

static void on_not_found(evhtp_request_t *req, void *arg);

static void add_type(evhtp_request_t *req, const char *type) {
    evhtp_headers_add_header(req->headers_out, evhtp_header_new("Content-Type", type, 0, 0));
}

static void on_plaintext(evhtp_request_t *req, void *arg) {
    if (!is_get(req, "/plaintext")) {
        on_not_found(req, arg);
        return;
    }
    evbuffer_add_reference(req->buffer_out, PEER_PLAINTEXT, sizeof(PEER_PLAINTEXT) - 1, NULL, NULL);
    add_type(req, "text/plain");
    evhtp_send_reply(req, EVHTP_RES_OK);
}

static void on_json(evhtp_request_t *req, void *arg) {
    if (!is_get(req, "/json")) {
        on_not_found(req, arg);
        return;
    }
    size_t len = 0;
    char *body = peer_json_body(&len);
    if (!body) {
        evhtp_send_reply(req, EVHTP_RES_SERVERR);
        return;
    }
    evbuffer_add(req->buffer_out, body, len);
    free(body);
    add_type(req, "application/json");
    evhtp_send_reply(req, EVHTP_RES_OK);
}

static void on_not_found(evhtp_request_t *req, void *arg) {
    (void)arg;
    evbuffer_add_reference(req->buffer_out, PEER_NOT_FOUND, sizeof(PEER_NOT_FOUND) - 1, NULL, NULL);
    add_type(req, "text/plain");
    evhtp_send_reply(req, EVHTP_RES_NOTFOUND);
}

static void on_user(evhtp_request_t *req, void *arg) {
    const char *path = req->uri && req->uri->path ? req->uri->path->full : NULL;
    const char *id = NULL;
    size_t idlen = path ? peer_user_id(path, strlen(path), &id) : 0;
    if (!idlen || evhtp_request_get_method(req) != htp_method_GET) {
        on_not_found(req, arg);
        return;
    }
    evbuffer_add(req->buffer_out, PEER_USER_BODY_PREFIX, sizeof(PEER_USER_BODY_PREFIX) - 1);
    evbuffer_add(req->buffer_out, id, idlen);
    add_type(req, "text/plain");
    evhtp_send_reply(req, EVHTP_RES_OK);
}

static struct event_base *main_base;

static void on_signal(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    (void)arg;
    event_base_loopbreak(main_base);
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    main_base = event_base_new();
    evhtp_t *htp = main_base ? evhtp_new(main_base, NULL) : NULL;
    if (!htp) {
        fprintf(stderr, "libevhtp: evhtp_new failed\n");
        return 1;
    }
    evhtp_enable_flag(htp, EVHTP_FLAG_ENABLE_NODELAY);
    evhtp_set_cb(htp, "/plaintext", on_plaintext, NULL);
    evhtp_set_cb(htp, "/json", on_json, NULL);
    evhtp_set_glob_cb(htp, PEER_USER_PREFIX "*", on_user, NULL);
    evhtp_set_gencb(htp, on_not_found, NULL);

    if (evhtp_use_threads_wexit(htp, NULL, NULL, o.threads, NULL) != 0) {
        fprintf(stderr, "libevhtp: evhtp_use_threads_wexit failed\n");
        return 1;
    }
    if (evhtp_bind_socket(htp, PEER_HOST, (uint16_t)o.port, 4096) != 0) {
        fprintf(stderr, "libevhtp: bind %s:%d failed\n", PEER_HOST, o.port);
        return 1;
    }
    struct event *sigint = evsignal_new(main_base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(main_base, SIGTERM, on_signal, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    fprintf(stderr, "libevhtp: listening on %s:%d with %d threads\n", PEER_HOST, o.port, o.threads);
    event_base_loop(main_base, 0);

    event_free(sigint);
    event_free(sigterm);
    evhtp_unbind_socket(htp);
    evhtp_free(htp);
    event_base_free(main_base);
    return 0;
}
