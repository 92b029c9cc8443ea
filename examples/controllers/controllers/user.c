/* The user controller: the routes of the V fasthttp example app.
 *
 *   GET  /user/:id -> 200 "User ID: <id>"
 *   POST /user     -> 201 "User created successfully"
 *   GET  /user/:id/posts?page=1..&drafts=true|false
 *                  -> 200 "Posts of user <id>, page <page>, drafts <yes|no>";
 *                     a 400 problem naming the parameter when :id is not an
 *                     integer from 1, page not one from 1 to 1000, or
 *                     drafts not a boolean (fasthttp/input.h)
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

static int user_posts_controller(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    uint64_t id;
    int64_t page = 1; /* the defaults, kept when the query leaves them out */
    bool drafts = false;
    if (fh_path_u64(req, res, "id", 1, UINT64_MAX, &id) ||
        fh_query_i64_opt(req, res, "page", 1, 1000, &page) ||
        fh_query_bool_opt(req, res, "drafts", &drafts))
        return 0; /* answered: 400 problem+json */
    return fh_send_textf(res, 200, "Posts of user %llu, page %lld, drafts %s",
                         (unsigned long long)id, (long long)page, drafts ? "yes" : "no");
}

const fh_route_t user_routes[] = {
    FH_GET("/user/:id", get_user_controller),
    FH_GET("/user/:id/posts", user_posts_controller),
    FH_POST("/user", create_user_controller),
    FH_ROUTES_END,
};
