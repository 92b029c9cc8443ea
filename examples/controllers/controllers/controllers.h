/* The controllers of the app, one file each, and their route tables.
 * main.c mounts every table on one router; a controller reaches shared
 * state through the data its table was mounted with. */
#ifndef CONTROLLERS_CONTROLLERS_H
#define CONTROLLERS_CONTROLLERS_H
#include <fasthttp.h>

/* home.c — GET / (mounted at "/", no data). */
extern const fh_route_t home_routes[];

/* user.c — the V example's routes: GET /user/:id, POST /user (mounted at
 * "/", no data). */
extern const fh_route_t user_routes[];

/* users_api.c — the JSON resource /users (mounted at "/api", data: the
 * store_t), every route declared with its operation (parameters, body,
 * responses). DELETE runs users_admin_auth, which main.c builds (bearer
 * auth with the admin token) before mounting the table. */
extern const fh_route_t users_api_routes[];
extern fh_middleware_t users_admin_auth;

/* The router's 404 and 405 answers in plain text, like the V example's.
 * Under /api the mount answers them with problem documents instead
 * (fh_json_error_handler, see main.c). */
int not_found_controller(fh_request_t *req, fh_response_t *res, void *data);
int method_not_allowed_controller(fh_request_t *req, fh_response_t *res, void *data);

#endif
