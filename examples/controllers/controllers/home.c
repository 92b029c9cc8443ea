/* The home controller: GET / answers "Hello, World!". */
#include "controllers.h"

static int home_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_text(res, 200, "Hello, World!");
}

/* Anything the router has no route for, outside /api (whose mount answers
 * its own 404s with problem documents: see main.c). */
int not_found_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_text(res, 404, "404 Not Found");
}

/* A known path with another method, outside /api; the router has set the
 * status and Allow already. */
int method_not_allowed_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_text(res, 405, "405 Method Not Allowed");
}

const fh_route_t home_routes[] = {
    FH_GET("/", home_controller),
    FH_ROUTES_END,
};
