/* hello: the V fasthttp README's quick start, in C.
 *
 *   GET /        -> 200 "Hello, World!"
 *   anything else -> 404 "<path> not found"
 *
 * Usage: hello [--host HOST] [--port PORT] [--threads N] (--help lists
 * them). Flags win over the environment variables HOST (default 127.0.0.1;
 * "" or "*" for every interface), PORT (default 3000; 0 picks a free port)
 * and THREADS (default 0: one per CPU).
 */
#include <fasthttp.h>
#include <stdio.h>

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req); /* a view into the read buffer */
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "Hello, World!");
    return fh_send_textf(res, 404, "%.*s not found", FH_STR_FMT(path));
}

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    cfg.handler = hello;
    fh_args_t args = { .summary = "Answers \"Hello, World!\" on / and 404 elsewhere." };
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
    printf("hello: listening on %s://%s:%d with %d threads\n", cfg.tls.cert_file ? "https" : "http",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    return err ? 1 : 0;
}
