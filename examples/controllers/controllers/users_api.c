/* The users API controller: a JSON resource on the in-memory store.
 *
 *   GET    /api/users?page=&per_page=  -> 200 {"data":[...],"page","per_page",
 *                                         "total","total_pages"}, with
 *                                         X-Total-Count and Link headers
 *   GET    /api/users/:id              -> 200 the user
 *   POST   /api/users                  -> 201 the user, Location
 *   PUT    /api/users/:id              -> 200 the user, every field replaced
 *   PATCH  /api/users/:id              -> 200 the user, given fields changed
 *   DELETE /api/users/:id              -> 204
 *
 * A user is {"id", "name" (1..100 characters), "email" (must hold an '@',
 * at most 254 bytes), "age" (optional, 0..150)}. Bad bodies get one 422
 * problem listing every bad field; unknown ids a 404 problem. Every JSON
 * value here is built in the request's arena and dies with it; what
 * outlives the request is copied into the store (store.c).
 */
#include "controllers.h"
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"

#define PER_PAGE_DEFAULT 10
#define PER_PAGE_MAX 100

static json_t *user_json(const user_t *u) {
    return json_pack("{s:I, s:s, s:s, s:o*}", "id", (json_int_t)u->id, "name", u->name, "email",
                     u->email, "age", u->age >= 0 ? json_integer(u->age) : NULL);
}

/* The route's :id as a positive number, or 0 (which no user has). */
static long param_id(fh_request_t *req) {
    fh_str_t s = fh_request_param(req, "id");
    long id = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9' || id > (LONG_MAX - 9) / 10)
            return 0;
        id = id * 10 + (s.ptr[i] - '0');
    }
    return id;
}

static int no_such_user(fh_response_t *res, fh_request_t *req) {
    fh_str_t id = fh_request_param(req, "id");
    return fh_send_problem(res, 404, NULL,
                           fh_sprintf(req, "no user with id \"%.*s\"", FH_STR_FMT(id)), NULL);
}

/* A query parameter as an integer in 1..max; def when absent; -1 when bad. */
static long query_int(fh_request_t *req, const char *name, long def, long max) {
    fh_str_t s = fh_request_query(req, name);
    if (fh_str_absent(s))
        return def;
    if (s.len == 0 || s.len > 9)
        return -1;
    long n = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -1;
        n = n * 10 + (s.ptr[i] - '0');
    }
    return n >= 1 && n <= max ? n : -1;
}

static int list_users(fh_request_t *req, fh_response_t *res, void *data) {
    store_t *store = data;
    long page = query_int(req, "page", 1, 1000000000);
    long per_page = query_int(req, "per_page", PER_PAGE_DEFAULT, PER_PAGE_MAX);
    if (page < 0 || per_page < 0) {
        json_t *errors = json_array();
        if (page < 0)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "parameter", "page", "detail",
                                                    "must be an integer of at least 1"));
        if (per_page < 0)
            json_array_append_new(errors, json_pack("{s:s,s:s}", "parameter", "per_page", "detail",
                                                    "must be an integer from 1 to 100"));
        json_t *extra = json_pack("{s:o}", "errors", errors);
        int rc = fh_send_problem(res, 400, "Bad query parameter", NULL, extra);
        json_decref(extra);
        return rc;
    }

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
    if (!store_get(data, param_id(req), &u))
        return no_such_user(res, req);
    return fh_send_json_new(res, 200, user_json(&u));
}

/* Reads and checks a user body. partial (PATCH): every field optional, and
 * "age": null removes the age. Returns true with *f filled, or false when
 * the response (400/413/415/422 problem) has been sent. The strings in *f
 * point into the body, which lives in the request's arena. */
static bool read_user(fh_request_t *req, fh_response_t *res, bool partial, user_fields_t *f) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr)) {
        fh_send_json_error(res, &jerr);
        return false;
    }
    unsigned need = partial ? FH_JSON_OPTIONAL : FH_JSON_REQUIRED;
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    f->name = fh_json_field_string(&v, "name", need, 1, 100);
    f->email = fh_json_field_string(&v, "email", need, 3, 254);
    json_int_t age = fh_json_field_int(&v, "age", FH_JSON_OPTIONAL | FH_JSON_NULLABLE, 0, 150, -1);
    if (f->email && !strchr(f->email, '@'))
        fh_json_invalid(&v, "email", "must be an email address");
    else if (f->email && strlen(f->email) > USER_EMAIL_MAX)
        fh_json_invalid(&v, "email", "must be at most %d bytes", USER_EMAIL_MAX);
    fh_json_no_other_fields(&v);
    /* age: a number sets it; null (or absent, for PUT) removes it. */
    if (age >= 0)
        f->age = (int)age;
    else if (!partial || json_is_null(json_object_get(body, "age")))
        f->age = -1;
    else
        f->age = -2;
    /* The body stays alive (arena) for the strings in *f. */
    return !fh_json_validate_end(&v, res);
}

static int create_user(fh_request_t *req, fh_response_t *res, void *data) {
    user_fields_t f;
    if (!read_user(req, res, false, &f))
        return 0;
    user_t u;
    if (store_create(data, &f, &u))
        return FH_ENOMEM;
    fh_response_headerf(res, "Location", "/api/users/%ld", u.id);
    return fh_send_json_new(res, 201, user_json(&u));
}

static int update_user(fh_request_t *req, fh_response_t *res, void *data, bool partial) {
    long id = param_id(req);
    user_t u;
    if (!store_get(data, id, &u)) /* 404 before looking at the body */
        return no_such_user(res, req);
    user_fields_t f;
    if (!read_user(req, res, partial, &f))
        return 0;
    if (!store_update(data, id, &f, &u)) /* deleted meanwhile */
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
    if (!store_delete(data, param_id(req)))
        return no_such_user(res, req);
    return fh_response_status(res, 204); /* no body */
}

const fh_route_t users_api_routes[] = {
    FH_GET("/users", list_users),
    FH_POST("/users", create_user),
    FH_GET("/users/:id", get_user),
    FH_PUT("/users/:id", replace_user),
    FH_PATCH("/users/:id", patch_user),
    FH_DELETE("/users/:id", delete_user),
    FH_ROUTES_END,
};
