/* The server of bench/validate_cost: the same POST with a 10-field JSON
 * body on two routes, one declared (the router checks the body against
 * its schema before the handler runs), one checked by hand in the handler
 * (fh_request_json and the fh_json_field_* calls of json.h, with the
 * string rules written out as loops). Both answer 201 with the same small
 * JSON; a bad body gets a 422 listing every bad field on both.
 *
 *   bench_validate PORT THREADS
 */
#include <fasthttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const fh_schema_t signup = {
    .type = FH_TYPE_OBJECT,
    .closed = true,
    .fields = FH_FIELDS(
        FH_FIELD_REQ("name", FH_STRING(.min_length = 1, .max_length = 100)),
        FH_FIELD_REQ("email", FH_STRING(.format = FH_FORMAT_EMAIL, .max_length = 254)),
        FH_FIELD_REQ("age", FH_INTEGER(FH_RANGE(0, 150))),
        FH_FIELD_REQ("score", FH_NUMBER(FH_RANGE(0, 100))), FH_FIELD_REQ("active", FH_BOOLEAN()),
        FH_FIELD_REQ("role", FH_STRING(.enum_values = FH_ENUM("user", "admin", "guest"))),
        FH_FIELD_REQ("country", FH_STRING(.min_length = 2, .max_length = 2)),
        FH_FIELD_REQ("zip", FH_STRING(.min_length = 5, .max_length = 10)),
        FH_FIELD_REQ("tags", FH_ARRAY(FH_STRING(.max_length = 20), .max_items = 10)),
        FH_FIELD("referrer", FH_STRING(.format = FH_FORMAT_URI, .nullable = true))),
};

static const fh_operation_t signup_op = {
    .summary = "Sign up",
    .body = &(const fh_body_spec_t){ .schema = &signup },
    .responses = FH_RESPONSES({ 201, "Created", FH_OBJECT(NULL), NULL }),
};

static int answer(fh_response_t *res, const char *name) {
    return fh_send_json_new(res, 201, json_pack("{s:b, s:s}", "ok", 1, "name", name));
}

static int declared(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return answer(res, fh_body_str(req, "name"));
}

/* The checks the schema makes, by hand. */
static int manual(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr))
        return fh_send_json_error(res, &jerr);
    static const char *const roles[] = { "user", "admin", "guest", NULL };
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    const char *name = fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 100);
    const char *email = fh_json_field_string(&v, "email", FH_JSON_REQUIRED, 3, 254);
    fh_json_field_int(&v, "age", FH_JSON_REQUIRED, 0, 150, 0);
    fh_json_field_number(&v, "score", FH_JSON_REQUIRED, 0, 100, 0);
    fh_json_field_bool(&v, "active", FH_JSON_REQUIRED, false);
    fh_json_field_enum(&v, "role", FH_JSON_REQUIRED, roles, 0);
    fh_json_field_string(&v, "country", FH_JSON_REQUIRED, 2, 2);
    fh_json_field_string(&v, "zip", FH_JSON_REQUIRED, 5, 10);
    const json_t *tags = fh_json_field_array(&v, "tags", FH_JSON_REQUIRED, 0, 10);
    const char *ref = fh_json_field_string(&v, "referrer", FH_JSON_NULLABLE, 0, 0);
    if (email) {
        const char *at = strchr(email, '@');
        if (!at || at == email || !strchr(at, '.') || at[1] == '.')
            fh_json_invalid(&v, "email", "must be an email address");
    }
    if (ref && !strstr(ref, "://"))
        fh_json_invalid(&v, "referrer", "must be an absolute URI");
    for (size_t i = 0; tags && i < json_array_size(tags); i++) {
        const json_t *t = json_array_get(tags, i);
        if (!json_is_string(t) || json_string_length(t) > 20)
            fh_json_invalid(&v, "tags", "item %zu must be a string of at most 20 characters", i);
    }
    fh_json_no_other_fields(&v);
    if (fh_json_validate_end(&v, res))
        return 0;
    return answer(res, name);
}

static const fh_route_t routes[] = {
    FH_POST_OP("/declared", declared, &signup_op),
    FH_POST("/manual", manual),
    FH_ROUTES_END,
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench_validate PORT THREADS\n");
        return 2;
    }
    fh_router_t *router;
    if (fh_router_new(&router, NULL) || fh_router_mount(router, "/", routes, NULL)) {
        fprintf(stderr, "bench_validate: %s\n", router ? fh_router_error(router) : "no memory");
        return 1;
    }
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = atoi(argv[1]);
    cfg.threads = atoi(argv[2]);
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    fh_server_t *server;
    int err = fh_server_new(&server, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return 1;
    }
    printf("bench_validate: port %d with %d threads\n", fh_server_port(server),
           fh_server_threads(server));
    fflush(stdout);
    err = fh_server_run(server);
    fh_server_free(server);
    fh_router_free(router);
    return err ? 1 : 0;
}
