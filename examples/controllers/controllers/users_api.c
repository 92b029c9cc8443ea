/* The users API controller: a JSON resource on the in-memory store,
 * declared in full: every route's parameters, body and responses are data
 * next to it (fasthttp/operation.h), checked by the router before the
 * handler runs and published in /openapi.json (see main.c).
 *
 *   GET    /api/users?page=&per_page=  -> 200 {"data":[...],"page","per_page",
 *                                         "total","total_pages"}, with
 *                                         X-Total-Count and Link headers
 *   GET    /api/users/:id              -> 200 the user
 *   POST   /api/users                  -> 201 the user, Location
 *   PUT    /api/users/:id              -> 200 the user, every field replaced
 *   PATCH  /api/users/:id              -> 200 the user, given fields changed
 *   DELETE /api/users/:id              -> 204 (bearer token: the admin token)
 *
 * A user is {"id", "name" (1..100 characters), "email" (an email address,
 * at most 254 characters), "age" (optional, 0..150)}. Bad parameters get
 * one 400 problem naming each, bad bodies one 422 problem listing every
 * bad field, unknown ids a 404 problem. The handlers read checked values
 * (fh_param_int, fh_body_str...) and never parse or check anything
 * themselves. Every JSON value here is built in the request's arena and
 * dies with it; what outlives the request is copied into the store
 * (store.c).
 */
#include "controllers.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"

/* ---- Schemas ------------------------------------------------------------ */

#define NAME_SCHEMA FH_STRING(.min_length = 1, .max_length = 100, .example_json = "\"Ada\"")
#define EMAIL_SCHEMA                                                                               \
    FH_STRING(.format = FH_FORMAT_EMAIL, .max_length = 254, .example_json = "\"ada@example.com\"")

static const fh_schema_t user_schema = {
    .type = FH_TYPE_OBJECT,
    .name = "User",
    .description = "A user as stored.",
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD_REQ("id", FH_INTEGER(FH_MIN(1))),
                        FH_FIELD_REQ("name", NAME_SCHEMA), FH_FIELD_REQ("email", EMAIL_SCHEMA),
                        FH_FIELD("age", FH_INTEGER(FH_RANGE(0, 150)))),
};

static const fh_schema_t user_input = {
    .type = FH_TYPE_OBJECT,
    .name = "UserInput",
    .description = "Every field of a user (POST, PUT); an absent or null age removes it.",
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD_REQ("name", NAME_SCHEMA), FH_FIELD_REQ("email", EMAIL_SCHEMA),
                        FH_FIELD("age", FH_INTEGER(FH_RANGE(0, 150), .nullable = true))),
};

static const fh_schema_t user_patch = {
    .type = FH_TYPE_OBJECT,
    .name = "UserPatch",
    .description = "The fields to change (PATCH); \"age\": null removes the age.",
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD("name", NAME_SCHEMA), FH_FIELD("email", EMAIL_SCHEMA),
                        FH_FIELD("age", FH_INTEGER(FH_RANGE(0, 150), .nullable = true))),
};

static const fh_schema_t user_page = {
    .type = FH_TYPE_OBJECT,
    .name = "UserPage",
    .description = "One page of users, in id order.",
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD_REQ("data", FH_ARRAY(&user_schema, .max_items = 100)),
                        FH_FIELD_REQ("page", FH_INTEGER(FH_MIN(1))),
                        FH_FIELD_REQ("per_page", FH_INTEGER(FH_RANGE(1, 100))),
                        FH_FIELD_REQ("total", FH_INTEGER(FH_MIN(0))),
                        FH_FIELD_REQ("total_pages", FH_INTEGER(FH_MIN(0)))),
};

/* ---- Operations --------------------------------------------------------- */

static const fh_param_t id_param[] = {
    { "id", FH_IN_PATH, FH_INTEGER(FH_MIN(1)), true, "The user's id" },
    FH_PARAMS_END,
};

static const fh_operation_t list_op = {
    .summary = "List users",
    .description = "One page of users in id order; the Link header (RFC 8288) has the first, "
                   "previous, next and last pages, X-Total-Count the number of users.",
    .tags = FH_TAGS("users"),
    .operation_id = "listUsers",
    .params =
        (const fh_param_t[]){
            { "page", FH_IN_QUERY, FH_INTEGER(FH_RANGE(1, 1000000000), .default_json = "1"), false,
              "The page, from 1" },
            { "per_page", FH_IN_QUERY, FH_INTEGER(FH_RANGE(1, 100), .default_json = "10"), false,
              "Users per page" },
            FH_PARAMS_END,
        },
    .responses = FH_RESPONSES({ 200, "One page of users", &user_page, NULL }),
};

static const fh_operation_t create_op = {
    .summary = "Create a user",
    .tags = FH_TAGS("users"),
    .operation_id = "createUser",
    .body = &(const fh_body_spec_t){ .schema = &user_input, .description = "The new user" },
    .responses = FH_RESPONSES({ 201, "The user, created (Location names it)", &user_schema, NULL }),
};

static const fh_operation_t get_op = {
    .summary = "Get a user",
    .tags = FH_TAGS("users"),
    .operation_id = "getUser",
    .params = id_param,
    .responses = FH_RESPONSES({ 200, "The user", &user_schema, NULL },
                              { 404, "No user with this id", NULL, FH_PROBLEM }),
};

static const fh_operation_t replace_op = {
    .summary = "Replace a user",
    .description = "Every field is replaced; an age left out is removed.",
    .tags = FH_TAGS("users"),
    .operation_id = "replaceUser",
    .params = id_param,
    .body = &(const fh_body_spec_t){ .schema = &user_input },
    .responses = FH_RESPONSES({ 200, "The user, replaced", &user_schema, NULL },
                              { 404, "No user with this id", NULL, FH_PROBLEM }),
};

static const fh_operation_t patch_op = {
    .summary = "Change some fields of a user",
    .tags = FH_TAGS("users"),
    .operation_id = "patchUser",
    .params = id_param,
    .body = &(const fh_body_spec_t){ .schema = &user_patch },
    .responses = FH_RESPONSES({ 200, "The user, changed", &user_schema, NULL },
                              { 404, "No user with this id", NULL, FH_PROBLEM }),
};

static const fh_operation_t delete_op = {
    .summary = "Delete a user",
    .description = "Needs the admin token as a bearer token.",
    .tags = FH_TAGS("users"),
    .operation_id = "deleteUser",
    .params = id_param,
    .responses =
        FH_RESPONSES({ 204, "Deleted", NULL, NULL },
                     { 401, "No valid bearer token (see WWW-Authenticate)", NULL, "text/plain" },
                     { 404, "No user with this id", NULL, FH_PROBLEM }),
};

/* ---- Handlers ----------------------------------------------------------- */

static json_t *user_json(const user_t *u) {
    return json_pack("{s:I, s:s, s:s, s:o*}", "id", (json_int_t)u->id, "name", u->name, "email",
                     u->email, "age", u->age >= 0 ? json_integer(u->age) : NULL);
}

static int no_such_user(fh_response_t *res, fh_request_t *req) {
    return fh_send_problem(
        res, 404, NULL,
        fh_sprintf(req, "no user with id \"%lld\"", (long long)fh_param_int(req, "id", 0)), NULL);
}

static int list_users(fh_request_t *req, fh_response_t *res, void *data) {
    store_t *store = data;
    long page = (long)fh_param_int(req, "page", 1);          /* 1..1000000000 */
    long per_page = (long)fh_param_int(req, "per_page", 10); /* 1..100 */

    user_t *users = fh_alloc(req, (size_t)per_page * sizeof(user_t)); /* arena */
    if (!users)
        return FH_ENOMEM;
    size_t total;
    size_t n =
        store_page(store, (size_t)(page - 1) * (size_t)per_page, (size_t)per_page, users, &total);
    long pages = (long)((total + (size_t)per_page - 1) / (size_t)per_page);

    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        if (json_array_append_new(list, user_json(&users[i])))
            return FH_ENOMEM; /* the arena takes list with it */

    /* Link (RFC 8288): first, prev, next, last, as GitHub's API does. Past
     * the last page, prev is the last page: page - 1 does not exist either. */
    long last = pages > 0 ? pages : 1;
    char link[512];
    int len =
        snprintf(link, sizeof(link), "</api/users?page=1&per_page=%ld>; rel=\"first\"", per_page);
    if (page > 1)
        len += snprintf(link + len, sizeof(link) - (size_t)len,
                        ", </api/users?page=%ld&per_page=%ld>; rel=\"prev\"",
                        page - 1 < last ? page - 1 : last, per_page);
    if (page < pages)
        len += snprintf(link + len, sizeof(link) - (size_t)len,
                        ", </api/users?page=%ld&per_page=%ld>; rel=\"next\"", page + 1, per_page);
    snprintf(link + len, sizeof(link) - (size_t)len,
             ", </api/users?page=%ld&per_page=%ld>; rel=\"last\"", last, per_page);
    fh_response_header(res, "Link", link);
    fh_response_headerf(res, "X-Total-Count", "%zu", total);
    return fh_send_json_new(res, 200,
                            json_pack("{s:o, s:I, s:I, s:I, s:I}", "data", list, "page",
                                      (json_int_t)page, "per_page", (json_int_t)per_page, "total",
                                      (json_int_t)total, "total_pages", (json_int_t)pages));
}

static int get_user(fh_request_t *req, fh_response_t *res, void *data) {
    user_t u;
    if (!store_get(data, (long)fh_param_int(req, "id", 0), &u))
        return no_such_user(res, req);
    return fh_send_json_new(res, 200, user_json(&u));
}

/* The checked body as store fields. partial (PATCH): absent fields stay
 * as they are, and "age": null removes the age; otherwise an absent or
 * null age removes it. The strings point into the body (request arena). */
static user_fields_t body_fields(fh_request_t *req, bool partial) {
    user_fields_t f = { fh_body_str(req, "name"), fh_body_str(req, "email"), -2 };
    const json_t *age = fh_body_get(req, "age");
    if (json_is_integer(age))
        f.age = (int)json_integer_value(age);
    else if (!partial || age) /* null, or absent on PUT */
        f.age = -1;
    return f;
}

static int create_user(fh_request_t *req, fh_response_t *res, void *data) {
    user_fields_t f = body_fields(req, false);
    user_t u;
    if (store_create(data, &f, &u))
        return FH_ENOMEM;
    fh_response_headerf(res, "Location", "/api/users/%ld", u.id);
    return fh_send_json_new(res, 201, user_json(&u));
}

static int update_user(fh_request_t *req, fh_response_t *res, void *data, bool partial) {
    user_fields_t f = body_fields(req, partial);
    user_t u;
    if (!store_update(data, (long)fh_param_int(req, "id", 0), &f, &u))
        return no_such_user(res, req);
    return fh_send_json_new(res, 200, user_json(&u));
}

static int replace_user(fh_request_t *req, fh_response_t *res, void *data) {
    return update_user(req, res, data, false);
}

static int patch_user(fh_request_t *req, fh_response_t *res, void *data) {
    return update_user(req, res, data, true);
}

static int delete_user(fh_request_t *req, fh_response_t *res, void *data) {
    if (!store_delete(data, (long)fh_param_int(req, "id", 0)))
        return no_such_user(res, req);
    return fh_response_status(res, 204); /* no body */
}

fh_middleware_t users_admin_auth;

static const fh_middleware_t *const admin_only[] = { &users_admin_auth, NULL };

const fh_route_t users_api_routes[] = {
    FH_GET_OP("/users", list_users, &list_op),
    FH_POST_OP("/users", create_user, &create_op),
    FH_GET_OP("/users/:id", get_user, &get_op),
    FH_PUT_OP("/users/:id", replace_user, &replace_op),
    FH_PATCH_OP("/users/:id", patch_user, &patch_op),
    FH_ROUTE_FULL(FH_METHOD_DELETE, "/users/:id", delete_user, NULL, admin_only, &delete_op),
    FH_ROUTES_END,
};
