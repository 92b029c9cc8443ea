/* static: serves a directory, like `python3 -m http.server`.
 *
 *   ROOT     the directory to serve (default ".")
 *   LIST=1   HTML listings for directories without index.html
 *   PORT (default 3000), THREADS (default: one per CPU), HOST (default
 *   127.0.0.1; "" or "*" for all interfaces)
 *
 * Large files go out with sendfile(2): serving a 1 GB file takes no more
 * memory than serving a small one (see docs/benchmarks.md).
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    const char *root = getenv("ROOT"), *list = getenv("LIST");
    const char *port = getenv("PORT"), *threads = getenv("THREADS"), *host = getenv("HOST");
    fh_static_options_t opts = { .list_directories = list && *list == '1' };
    fh_static_t *files;
    int err = fh_static_new(&files, "/", root ? root : ".", &opts);
    if (err) {
        fprintf(stderr, "static: %s: %s\n", root ? root : ".", fh_strerror(err));
        return 1;
    }
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = port ? atoi(port) : 3000;
    cfg.threads = threads ? atoi(threads) : 0;
    cfg.host = !host ? "127.0.0.1" : (*host == '\0' || *host == '*') ? NULL : host;
    cfg.handler = fh_static_handle;
    cfg.handler_data = files;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_static_free(files);
        return 1;
    }
    printf("static: serving %s on http://%s:%d with %d threads\n", root ? root : ".",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_static_free(files);
    return err ? 1 : 0;
}
