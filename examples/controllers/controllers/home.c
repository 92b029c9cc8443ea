/* The home controller: GET / answers "Hello, World!". */
#include "controllers.h"

static int home_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_text(res, 200, "Hello, World!");
}

/* Anything the router has no route for. */
int not_found_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/api") || fh_str_starts_with(path, "/api/"))
        return fh_send_problem(res, 404, NULL, "no such resource", NULL);
    return fh_send_text(res, 404, "404 Not Found");
}

/* A known path with another method; the router has set Allow already. */
int method_not_allowed_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_starts_with(path, "/api/"))
        return fh_send_problem(res, 405, NULL, NULL, NULL);
    return fh_send_text(res, 405, "405 Method Not Allowed");
}

const fh_route_t home_routes[] = {
    FH_GET("/", home_controller),
    FH_ROUTES_END,
};
