/* A main for a snippet that is one handler, create_user
 * (docs/getting-started.md, step 4): it answers POST /api/users, as the
 * step says once the route is in the table. Built by
 * tests/docs/snippets.sh with the snippet as SNIPPET_TOP. */
#include <fasthttp.h>
#include <stdio.h>

#include SNIPPET_TOP

static const fh_route_t routes[] = {
    FH_POST("/users", create_user),
    FH_ROUTES_END,
};

int main(void) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    if (fh_server_config_env(&cfg))
        return 2;
    fh_router_t *router;
    if (fh_router_new(&router, NULL) || fh_router_mount(router, "/api", routes, NULL))
        return 1;
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (!err) {
        err = fh_server_run(server);
        fh_server_free(server);
    }
    fh_router_free(router);
    return err ? 1 : 0;
}
