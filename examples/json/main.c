/* json: a small JSON API on jansson, and the TechEmpower JSON test.
 *
 *   GET    /json        -> {"message":"Hello, World!"}, built and serialized
 *                          per request (TechEmpower's JSON test)
 *   GET    /plaintext   -> Hello, World!
 *   GET    /users       -> {"users":[...]}
 *   POST   /users       -> validates {"name","email","age"?,"tags"?}: 201 with
 *                          the user and a Location, or one 422 problem naming
 *                          every bad field (400/413/415 for a bad body)
 *   GET    /users/ID    -> the user, or a 404 problem
 *   DELETE /users/ID    -> 204, or a 404 problem
 *
 * Users live in an in-memory store shared by the worker threads: values a
 * request made are stored as fh_json_persist() copies, and the store is
 * changed inside fh_json_heap_begin() scopes (see fasthttp/json.h).
 *
 * Usage: json [--host HOST] [--port PORT] [--threads N] [PORT [THREADS]]
 * (--help lists them). Flags win over the environment variables HOST
 * (default 127.0.0.1; "" or "*" for every interface), PORT (default 3000)
 * and THREADS (default 0: one per CPU).
 */
#include <fasthttp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct app {
    pthread_mutex_t lock;
    json_t *users; /* id -> user object, on the heap */
    long next_id;
} app_t;

static int hello_json(fh_response_t *res) {
    /* A new object per request: allocated in the request's arena,
     * serialized into it; no malloc. */
    return fh_send_json_new(res, 200, json_pack("{s:s}", "message", "Hello, World!"));
}

static int list_users(app_t *app, fh_response_t *res) {
    pthread_mutex_lock(&app->lock);
    json_t *list = json_array(); /* arena: this request's */
    const char *id;
    json_t *user;
    json_object_foreach(app->users, id, user) json_array_append(list, user);
    /* Serialized while the lock keeps the stored users unchanged. */
    int rc = fh_send_json_new(res, 200, json_pack("{s:o}", "users", list));
    pthread_mutex_unlock(&app->lock);
    return rc;
}

static int create_user(app_t *app, fh_request_t *req, fh_response_t *res) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr))
        return fh_send_json_error(res, &jerr);

    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    const char *name = fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 100);
    const char *email = fh_json_field_string(&v, "email", FH_JSON_REQUIRED, 3, 254);
    json_int_t age = fh_json_field_int(&v, "age", FH_JSON_OPTIONAL | FH_JSON_NULLABLE, 0, 150, -1);
    const json_t *tags = fh_json_field_array(&v, "tags", FH_JSON_OPTIONAL, 0, 10);
    if (email && !strchr(email, '@'))
        fh_json_invalid(&v, "email", "must be an email address");
    for (size_t i = 0; tags && i < json_array_size(tags); i++)
        if (!json_is_string(json_array_get(tags, i)))
            fh_json_invalid(&v, "tags", "item %zu must be a string", i);
    fh_json_no_other_fields(&v);
    if (fh_json_validate_end(&v, res)) {
        json_decref(body);
        return 0;
    }

    json_t *user = json_pack("{s:s, s:s, s:o*, s:O*}", "name", name, "email", email, "age",
                             age >= 0 ? json_integer(age) : NULL, "tags", tags);
    json_decref(body);
    if (!user)
        return FH_ENOMEM;
    pthread_mutex_lock(&app->lock);
    long id = ++app->next_id;
    char key[24];
    snprintf(key, sizeof(key), "%ld", id);
    json_object_set_new(user, "id", json_integer(id));
    /* The store outlives the request: a heap copy, changed in a heap scope. */
    json_t *kept = fh_json_persist(user);
    fh_json_scope_t heap = fh_json_heap_begin();
    int err = kept ? json_object_set_new(app->users, key, kept) : -1;
    fh_json_scope_end(heap);
    pthread_mutex_unlock(&app->lock);
    if (err) {
        json_decref(user);
        return FH_ENOMEM;
    }
    fh_response_headerf(res, "Location", "/users/%ld", id);
    return fh_send_json_new(res, 201, user);
}

static int user_by_id(app_t *app, fh_request_t *req, fh_response_t *res, const char *key) {
    int rc;
    pthread_mutex_lock(&app->lock);
    json_t *user = json_object_get(app->users, key); /* borrowed */
    if (!user) {
        rc = fh_send_problem(res, 404, NULL, "no user with this id", NULL);
    } else if (fh_request_method_id(req) == FH_METHOD_DELETE) {
        fh_json_scope_t heap = fh_json_heap_begin();
        json_object_del(app->users, key);
        fh_json_scope_end(heap);
        rc = fh_response_status(res, 204);
    } else {
        rc = fh_send_json(res, 200, user);
    }
    pthread_mutex_unlock(&app->lock);
    return rc;
}

static int route(fh_request_t *req, fh_response_t *res, void *data) {
    app_t *app = data;
    fh_str_t path = fh_request_path(req);
    fh_method_t m = fh_request_method_id(req);
    bool get = m == FH_METHOD_GET || m == FH_METHOD_HEAD;
    if (fh_str_eq(path, "/json") && get)
        return hello_json(res);
    if (fh_str_eq(path, "/plaintext") && get)
        return fh_send_text(res, 200, "Hello, World!");
    if (fh_str_eq(path, "/users")) {
        if (get)
            return list_users(app, res);
        if (m == FH_METHOD_POST)
            return create_user(app, req, res);
        fh_response_header(res, "Allow", "GET, HEAD, POST");
        return fh_send_problem(res, 405, NULL, NULL, NULL);
    }
    if (fh_str_starts_with(path, "/users/") && path.len > 7 && path.len < 27) {
        if (get || m == FH_METHOD_DELETE)
            return user_by_id(app, req, res,
                              fh_strndup(req, (fh_str_t){ path.ptr + 7, path.len - 7 }));
        fh_response_header(res, "Allow", "GET, HEAD, DELETE");
        return fh_send_problem(res, 405, NULL, NULL, NULL);
    }
    return fh_send_problem(res, 404, NULL, NULL, NULL);
}

int main(int argc, char **argv) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.host = "127.0.0.1";
    cfg.handler = route;
    static const char *const operands[] = { "port", "threads", NULL };
    fh_args_t args = { .summary = "A small JSON API on jansson, and the TechEmpower JSON test.",
                       .operands = operands };
    int err = fh_server_config_args(&cfg, argc, argv, &args); /* flags, then the environment */
    if (err == FH_ARGS_HELP) {
        fh_server_usage(stdout, argv[0], &cfg, &args);
        return 0;
    }
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 2;
    }

    app_t app = { .next_id = 0 };
    pthread_mutex_init(&app.lock, NULL);
    app.users = json_object(); /* before the server: on the heap */

    cfg.handler_data = &app;

    fh_server_t *server;
    err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        json_decref(app.users);
        pthread_mutex_destroy(&app.lock);
        return 1;
    }
    printf("json: listening on %s://%s:%d with %d threads\n", cfg.tls.cert_file ? "https" : "http",
           cfg.host ? cfg.host : "*", fh_server_port(server), fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server); /* until SIGINT or SIGTERM */
    fh_server_free(server);
    json_decref(app.users);
    pthread_mutex_destroy(&app.lock);
    return err ? 1 : 0;
}
