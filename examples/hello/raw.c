/* hello_raw: the seed's raw mode. The handler returns complete response
 * bytes, exactly like the V handler that returns []u8, and the framework
 * adds nothing. The same flags and environment variables as hello. */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>

static const char ok[] = "HTTP/1.1 200 OK\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: 13\r\n"
                         "\r\n"
                         "Hello, World!";

static int hello_raw(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/"))
        return fh_send_raw(res, ok, sizeof(ok) - 1, FH_RAW_BORROW); /* static: no copy */
    char *msg = fh_sprintf(req, "%.*s not found", FH_STR_FMT(path));
    if (!msg)
        return FH_ENOMEM;
    char *bytes = fh_sprintf(req,
                             "HTTP/1.1 404 Not Found\r\n"
                             "Content-Type: text/plain\r\n"
                             "Content-Length: %zu\r\n\r\n%s",
                             strlen(msg), msg);
    if (!bytes)
        return FH_ENOMEM;
    return fh_send_raw(res, bytes, strlen(bytes), FH_RAW_BORROW); /* arena: lives until written */
}

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    cfg.handler = hello_raw;
    fh_args_t args = { .summary = "hello in raw mode: the handler writes whole responses." };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    printf("hello_raw: listening on port %d with %d threads\n", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    return err ? 1 : 0;
}
