/* A main for a snippet that shows statements "in main": the snippet's top
 * (handlers, tables) is SNIPPET_TOP, its statements SNIPPET_MAIN, placed
 * where the snippet says, after the config of step 2 and before the
 * server starts. Built by tests/docs/snippets.sh. */
#include <fasthttp.h>
#include <stdio.h>

#include SNIPPET_TOP

int main(void) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 3000;
    if (fh_server_config_env(&cfg)) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, FH_ECONFIG));
        return 2;
    }
#include SNIPPET_MAIN
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    err = fh_server_run(server);
    fh_server_free(server);
    return err ? 1 : 0;
}
