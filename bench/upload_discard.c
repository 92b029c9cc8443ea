/* The framework's own share of bench/upload: a fasthttp server (one
 * worker) whose PUT /files/:name takes its body as a stream
 * (FH_ROUTE_STREAM, fasthttp/body.h) and only counts the bytes, answering
 * 201 with {"size":N}. Against bench/upload_sink it shows what the event
 * loop, the HTTP/1.1 parser and the chunk callbacks cost an upload, without
 * the storing and hashing examples/upload adds. POST /form does the same
 * for a multipart/form-data body (fasthttp/multipart.h): parsed as it
 * streams (fh_request_multipart), its file parts' bytes counted,
 * {"size":N,"parts":P}: what the multipart parser adds.
 *
 *   upload_discard PORT      (runs until SIGINT or SIGTERM) */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct count {
    fh_response_t *res;
    uint64_t size;
    unsigned parts;
} count_t;

static int on_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    (void)req;
    count_t *n = data;
    if (status == FH_BODY_DATA) {
        n->size += chunk.len;
        return FH_BODY_CONTINUE;
    }
    if (status == FH_BODY_END)
        return fh_send_textf(n->res, 201, "{\"size\":%llu}", (unsigned long long)n->size);
    fh_response_end(n->res); /* the client left, or the body failed */
    return 0;
}

static int put_file(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    count_t *n = fh_alloc(req, sizeof(*n));
    if (!n)
        return FH_ENOMEM;
    *n = (count_t){ .res = res };
    return fh_request_body_read(req, on_body, n);
}

static int part_data(const fh_multipart_part_t *part, fh_str_t chunk, void *data) {
    (void)part;
    ((count_t *)data)->size += chunk.len;
    return FH_MULTIPART_CONTINUE;
}

static int part_end(const fh_multipart_part_t *part, fh_str_t value, void *data) {
    (void)part;
    (void)value;
    ((count_t *)data)->parts++;
    return FH_MULTIPART_CONTINUE;
}

static const fh_multipart_callbacks_t counting = { NULL, part_data, part_end };
static const fh_multipart_limits_t form_limits = { .max_file_bytes = 1ull << 40,
                                                   .max_total_bytes = 1ull << 40 };

/* The form is over: answer it, or end a response whose client left (the
 * library answered the other cases). */
static void form_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    count_t *n = data;
    if (status == 0)
        fh_send_textf(res, 201, "{\"size\":%llu,\"parts\":%u}", (unsigned long long)n->size,
                      n->parts);
    else if (status == FH_ECANCELED)
        fh_response_end(res);
}

static int post_form(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    count_t *n = fh_alloc(req, sizeof(*n));
    if (!n)
        return FH_ENOMEM;
    *n = (count_t){ .res = res };
    return fh_request_multipart(req, res, &form_limits, &counting, form_done, n, NULL);
}

static const fh_body_options_t any_size = { .max_bytes = 1ull << 40 };
static const fh_route_t routes[] = {
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/files/:name", put_file, NULL, &any_size),
    FH_ROUTE_STREAM(FH_METHOD_POST, "/form", post_form, NULL, &any_size),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    char *end = NULL;
    long port = argc == 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || *end || port < 0 || port > 65535) {
        fprintf(stderr, "usage: upload_discard PORT (0 to 65535)%s%s%s\n",
                argc == 2 ? ", not \"" : "", argc == 2 ? argv[1] : "", argc == 2 ? "\"" : "");
        return 2;
    }
    fh_router_t *router;
    if (fh_router_new(&router, NULL) != 0 || fh_router_mount(router, "/", routes, NULL) != 0) {
        fprintf(stderr, "upload_discard: the routes could not be built\n");
        return 1;
    }
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = (int)port;
    cfg.threads = 1;
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.body_stream = fh_router_body_stream;
    cfg.body_stream_data = router;
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "upload_discard: %s\n", fh_server_config_error(&cfg, err));
        fh_router_free(router);
        return 1;
    }
    printf("upload_discard: listening on port %d with 1 thread\n", fh_server_port(server));
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
