/* static: serves a directory, like `python3 -m http.server`.
 *
 * Usage: static [--host HOST] [--port PORT] [--threads N] [--root DIR]
 * [--list] (--help lists them). Flags win over the environment:
 *   --root DIR   ROOT     the directory to serve (default ".")
 *   --list       LIST=1   HTML listings for directories without index.html
 *   --cache N    CACHE    files kept open per thread (default 1024; 0: none)
 *   --cache-valid MS  CACHE_VALID_MS  how long a kept file is trusted (1000)
 *   --port PORT  PORT     default 3000
 *   --threads N  THREADS  default 0: one per CPU
 *   --host HOST  HOST     default 127.0.0.1; "" or "*" for every interface
 *
 * Large files go out with sendfile(2): serving a 1 GB file takes no more
 * memory than serving a small one (see docs/benchmarks.md).
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    const char *root = ".";
    bool list = false;
    long cache = 1024, cache_valid = 1000;
    const fh_flag_t flags[] = {
        FH_TEXT_FLAG("root", "DIR", "ROOT", "the directory to serve", &root),
        FH_SWITCH_FLAG("list", "LIST", "HTML listings for directories without index.html", &list),
        FH_NUMBER_FLAG("cache", "N", "CACHE", "files kept open per thread (0: none)", &cache, 0,
                       1 << 20),
        FH_NUMBER_FLAG("cache-valid", "MS", "CACHE_VALID_MS",
                       "how long a kept file is trusted before it is checked again", &cache_valid,
                       1, 86400000),
        FH_FLAGS_END,
    };
    fh_args_t args = { .summary = "Serves a directory.", .flags = flags };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }

    fh_static_options_t opts = { .list_directories = list,
                                 .cache_entries = (uint32_t)cache,
                                 .cache_valid_ms = (uint32_t)cache_valid };
    fh_static_t *files;
    err = fh_static_new(&files, "/", root, &opts);
    if (err) {
        fprintf(stderr, "static: %s: %s\n", root, fh_strerror(err));
        return 1;
    }
    cfg.handler = fh_static_handle;
    cfg.handler_data = files;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        fh_static_free(files);
        return 1;
    }
    printf("static: serving %s on %s://%s:%d with %d threads\n", root,
           cfg.tls.cert_file ? "https" : "http", cfg.host ? cfg.host : "*", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    fh_static_free(files);
    return err ? 1 : 0;
}
