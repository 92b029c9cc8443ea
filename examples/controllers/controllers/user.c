/* The user controller: the routes of the V fasthttp example app.
 *
 *   GET  /user/:id -> 200 "User ID: <id>"
 *   POST /user     -> 201 "User created successfully"
 */
#include "controllers.h"

static int get_user_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t id = fh_request_param(req, "id"); /* decoded, in the arena */
    return fh_send_textf(res, 200, "User ID: %.*s", FH_STR_FMT(id));
}

static int create_user_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_text(res, 201, "User created successfully");
}

const fh_route_t user_routes[] = {
    FH_GET("/user/:id", get_user_controller),
    FH_POST("/user", create_user_controller),
    FH_ROUTES_END,
};
