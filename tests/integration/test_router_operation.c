/* Operations over real sockets: declared parameters converted and checked
 * (one 400 naming each bad one), bodies checked (one 422 with a JSON
 * Pointer per bad field, at most 100, then cut), 413/415/400 bodies, typed
 * reads in the handler, routes without an operation unchanged, the
 * response check mode catching a drifting handler (and staying out of the
 * way when off), operations that cannot be right refused at mount time,
 * and the OpenAPI document of the router: mounts, ANY, catch-alls, auth
 * middleware as security schemes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

/* ------------------------------------------------------------ the app */

static const fh_param_t item_params[] = {
    { "id", FH_IN_PATH, FH_INTEGER(FH_MIN(1)), true, NULL },
    { "limit", FH_IN_QUERY, FH_INTEGER(FH_RANGE(1, 50), .default_json = "20"), false, NULL },
    { "sort", FH_IN_QUERY,
      FH_STRING(.enum_values = FH_ENUM("asc", "desc"), .default_json = "\"asc\""), false, NULL },
    { "flag", FH_IN_QUERY, FH_BOOLEAN(), false, NULL },
    { "ratio", FH_IN_QUERY, FH_NUMBER(FH_RANGE(0, 1)), false, NULL },
    { "q", FH_IN_QUERY, FH_STRING(.pattern = "^[a-z]*$", .max_length = 8), false, NULL },
    { "X-Tenant", FH_IN_HEADER, FH_STRING(.min_length = 1), true, NULL },
    FH_PARAMS_END,
};

static const fh_operation_t get_item_op = {
    .summary = "Get an item",
    .operation_id = "getItem",
    .params = item_params,
    .responses = FH_RESPONSES({ 200, "The item", FH_OBJECT(NULL), NULL }),
};

static int get_item(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t sort = fh_param_str(req, "sort");
    fh_str_t tenant = fh_param_str(req, "X-Tenant");
    return fh_send_json_new(res, 200,
                            json_pack("{s:I, s:I, s:s%, s:i, s:b, s:b, s:f, s:s%, s:b}", "id",
                                      (json_int_t)fh_param_int(req, "id", -1), "limit",
                                      (json_int_t)fh_param_int(req, "limit", -1), "sort", sort.ptr,
                                      sort.len, "sort_index", fh_param_enum(req, "sort", -1),
                                      "flag", fh_param_bool(req, "flag", false), "flag_sent",
                                      fh_param_present(req, "flag"), "ratio",
                                      fh_param_number(req, "ratio", -1), "tenant", tenant.ptr,
                                      tenant.len, "undeclared", fh_param_int(req, "nope", 7) == 7));
}

static const fh_schema_t item_in = {
    .type = FH_TYPE_OBJECT,
    .name = "ItemInput",
    .closed = true,
    .fields = FH_FIELDS(FH_FIELD_REQ("name", FH_STRING(.min_length = 1)),
                        FH_FIELD("tags", FH_ARRAY(FH_STRING())),
                        FH_FIELD("size", FH_INTEGER(FH_RANGE(1, 10)))),
};

static const fh_operation_t create_item_op = {
    .summary = "Create an item",
    .operation_id = "createItem",
    .body = &(const fh_body_spec_t){ .schema = &item_in, .max_bytes = 1 << 20 },
    .responses = FH_RESPONSES({ 201, "Created", &item_in, NULL }),
};

static int create_item(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_send_json_new(
        res, 201,
        json_pack("{s:s, s:O, s:I}", "name", fh_body_str(req, "name"), "tags",
                  fh_body_get(req, "tags") ? fh_body_get(req, "tags") : json_array(), "size",
                  (json_int_t)fh_body_int(req, "size", 1)));
}

/* Answers what its declaration says is an integer with a string. */
static const fh_operation_t drift_op = {
    .summary = "Drifts from its declaration",
    .responses = FH_RESPONSES(
        { 200, "An object with an integer id",
          FH_OBJECT(FH_FIELDS(FH_FIELD_REQ("id", FH_INTEGER())), .closed = true), NULL },
        { 204, "Nothing", NULL, NULL }),
};

static int drift(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t how = fh_request_query(req, "how");
    if (fh_str_eq(how, "ok"))
        return fh_send_json_new(res, 200, json_pack("{s:i}", "id", 1));
    if (fh_str_eq(how, "status"))
        return fh_send_text(res, 418, "teapot");
    if (fh_str_eq(how, "type"))
        return fh_send_text(res, 200, "{\"id\":1}");
    if (fh_str_eq(how, "body204"))
        return fh_send_text(res, 204, "");
    return fh_send_json_new(res, 200, json_pack("{s:s}", "id", "x"));
}

static int plain(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t n = fh_request_param(req, "name");
    return fh_send_textf(res, 200, "%.*s %d %d", FH_STR_FMT(n), (int)fh_param_int(req, "name", -5),
                         fh_body_json(req) == NULL);
}

static fh_middleware_t bearer;
static const fh_middleware_t *const secured[] = { &bearer, NULL };

static const fh_route_t api_routes[] = {
    FH_GET_OP("/items/:id", get_item, &get_item_op),
    FH_POST_OP("/items", create_item, &create_item_op),
    FH_GET_OP("/drift", drift, &drift_op),
    FH_ROUTES_END,
};

static const fh_route_t others[] = {
    FH_GET("/plain/:name", plain),
    FH_ANY("/any", plain),
    FH_GET("/files/"
           "*rest",
           plain),
    FH_ROUTES_END,
};

static fh_router_t *router, *router_off;
static fh_server_t *server, *server_off;
static int port, port_off;

static fh_router_t *make_router(bool check) {
    fh_router_config_t rc = fh_router_config_default();
    rc.check_responses = check;
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, &rc), 0);
    fh_mount_options_t mo = { .middleware = secured };
    assert_int_equal(fh_router_mount_opts(r, "/orgs/:org", api_routes, NULL, &mo), 0);
    assert_int_equal(fh_router_mount(r, "/", others, NULL), 0);
    return r;
}

static int setup(void **state) {
    (void)state;
    static const char *const tokens[] = { "tok", NULL };
    fh_bearer_auth_options_t bo = { .tokens = tokens };
    assert_int_equal(fh_bearer_auth_new(&bearer, &bo), 0);
    unsetenv("FH_CHECK_RESPONSES");
    router = make_router(true);
    router_off = make_router(false);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.threads = 2;
    cfg.limits.max_body = 4 << 20;
    server = fht_server_start(&cfg);
    port = fh_server_port(server);
    cfg.handler_data = router_off;
    server_off = fht_server_start(&cfg);
    port_off = fh_server_port(server_off);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fht_server_stop(server);
    fht_server_stop(server_off);
    fh_router_free(router);
    fh_router_free(router_off);
    fh_middleware_release(&bearer);
    return 0;
}

/* --------------------------------------------------------------- client */

/* One request on a new connection; the response's body parsed when JSON. */
static json_t *call(int p, const char *method, const char *target, const char *headers,
                    const char *body, size_t body_len, fht_response_t *r) {
    size_t cap = 1024 + body_len;
    char *buf = malloc(cap);
    int n = snprintf(buf, cap,
                     "%s %s HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer tok\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     method, target, headers ? headers : "", body_len);
    if (body_len)
        memcpy(buf + n, body, body_len);
    int fd = fht_connect(p);
    fht_send(fd, buf, (size_t)n + body_len);
    free(buf);
    assert_int_equal(fht_read_response(fd, r, 0), 0);
    fht_close(fd);
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY, NULL);
}

/* "a:x b:y" from the errors array of a problem (k1 and k2 of each). */
static void errors_text(const json_t *doc, const char *k1, const char *k2, char *out, size_t cap) {
    size_t o = 0;
    out[0] = '\0';
    const json_t *e;
    size_t i;
    json_array_foreach(json_object_get(doc, "errors"), i, e) {
        o += (size_t)snprintf(out + o, cap - o, "%s%s:%s", i ? "|" : "",
                              json_string_value(json_object_get(e, k1)),
                              json_string_value(json_object_get(e, k2)));
    }
}

#define JSON_HDR "Content-Type: application/json\r\n"

static void test_params_bad(void **state) {
    (void)state;
    fht_response_t r;
    json_t *j = call(port, "GET", "/orgs/o/items/abc?limit=0&sort=up&flag=yes&ratio=1e999&q=Ab%20",
                     NULL, NULL, 0, &r);
    assert_int_equal(r.status, 400);
    char ct[64];
    fht_header(&r, "Content-Type", ct, sizeof(ct));
    assert_string_equal(ct, "application/problem+json");
    char text[1024];
    errors_text(j, "parameter", "detail", text, sizeof(text));
    assert_string_equal(text, "id:must be an integer|limit:must be at least 1|sort:must be one of: "
                              "\"asc\", \"desc\"|flag:must be true or false|ratio:must be a "
                              "number|q:must match the pattern ^[a-z]*$|X-Tenant:is required");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "7 invalid parameters");
    errors_text(j, "parameter", "in", text, sizeof(text));
    assert_non_null(strstr(text, "id:path|limit:query"));
    assert_non_null(strstr(text, "X-Tenant:header"));
    json_decref(j);
    fht_response_free(&r);
    /* Limits of the integer grammar and range. */
    static const struct {
        const char *target, *detail;
    } t[] = {
        { "/orgs/o/items/1?limit=51", "must be at most 50" },
        { "/orgs/o/items/1?limit=+5", "must be an integer" },
        { "/orgs/o/items/1?limit=05", "must be an integer" },
        { "/orgs/o/items/1?limit=", "must be an integer" },
        { "/orgs/o/items/1?limit=99999999999999999999", "must be an integer" },
        { "/orgs/o/items/1?ratio=nan", "must be a number" },
        { "/orgs/o/items/1?ratio=1.", "must be a number" },
        { "/orgs/o/items/1?ratio=1.5", "must be at most 1" },
        { "/orgs/o/items/1?q=%FF", "must be valid UTF-8" },
        { "/orgs/o/items/1?q=abcdefghi", "must be at most 8 characters long" },
        { "/orgs/o/items/0", "must be at least 1" },
        { "/orgs/o/items/9223372036854775808", "must be an integer" },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        j = call(port, "GET", t[i].target, "X-Tenant: a\r\n", NULL, 0, &r);
        if (r.status != 400)
            fail_msg("%s: %d", t[i].target, r.status);
        const json_t *e = json_array_get(json_object_get(j, "errors"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "detail")), t[i].detail);
        assert_int_equal(json_array_size(json_object_get(j, "errors")), 1);
        json_decref(j);
        fht_response_free(&r);
    }
}

static void test_params_typed(void **state) {
    (void)state;
    fht_response_t r;
    json_t *j =
        call(port, "GET", "/orgs/o/items/9223372036854775807", "X-Tenant: acme\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    char *d = json_dumps(j, JSON_COMPACT);
    assert_string_equal(d, "{\"id\":9223372036854775807,\"limit\":20,\"sort\":\"asc\","
                           "\"sort_index\":0,\"flag\":false,\"flag_sent\":false,\"ratio\":-1.0,"
                           "\"tenant\":\"acme\",\"undeclared\":true}");
    fh_json_free(d);
    json_decref(j);
    fht_response_free(&r);
    j = call(port, "GET", "/orgs/o/items/3?limit=50&sort=desc&flag=true&ratio=0.25&q=ab",
             "X-Tenant: z\r\n", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    d = json_dumps(j, JSON_COMPACT);
    assert_string_equal(d, "{\"id\":3,\"limit\":50,\"sort\":\"desc\",\"sort_index\":1,\"flag\":"
                           "true,\"flag_sent\":true,\"ratio\":0.25,\"tenant\":\"z\","
                           "\"undeclared\":true}");
    fh_json_free(d);
    json_decref(j);
    fht_response_free(&r);
    /* Authentication runs before the checks: no token, 401, not 400. */
    int fd = fht_connect(port);
    fht_send_str(fd, "GET /orgs/o/items/abc HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 401);
    fht_response_free(&r);
    fht_close(fd);
}

static void test_body(void **state) {
    (void)state;
    fht_response_t r;
    const char *ok = "{\"name\":\"a\",\"tags\":[\"x\"],\"size\":3}";
    json_t *j = call(port, "POST", "/orgs/o/items", JSON_HDR, ok, strlen(ok), &r);
    assert_int_equal(r.status, 201);
    char *d = json_dumps(j, JSON_COMPACT);
    assert_string_equal(d, "{\"name\":\"a\",\"tags\":[\"x\"],\"size\":3}");
    fh_json_free(d);
    json_decref(j);
    fht_response_free(&r);

    const char *bad = "{\"name\":\"\",\"tags\":[\"a\",1,\"b\",null],\"size\":11,\"extra\":{}}";
    j = call(port, "POST", "/orgs/o/items", JSON_HDR, bad, strlen(bad), &r);
    assert_int_equal(r.status, 422);
    char text[1024];
    errors_text(j, "pointer", "detail", text, sizeof(text));
    assert_string_equal(text, "#/name:must not be empty|#/tags/1:must be a string|#/tags/3:must "
                              "be a string|#/size:must be at most 10|#/extra:is not allowed");
    errors_text(j, "pointer", "field", text, sizeof(text));
    assert_string_equal(text, "#/name:name|#/tags/1:tags|#/tags/3:tags|#/size:size|#/extra:extra");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "5 validation errors");
    assert_null(json_object_get(j, "truncated"));
    json_decref(j);
    fht_response_free(&r);

    static const struct {
        const char *headers, *body;
        int status;
    } t[] = {
        { JSON_HDR, "", 400 },
        { JSON_HDR, "{\"name\":", 400 },
        { "Content-Type: text/plain\r\n", "{}", 415 },
        { "", "{}", 415 },
        { JSON_HDR, "[]", 422 },
        { JSON_HDR, "{}", 422 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        j = call(port, "POST", "/orgs/o/items", t[i].headers, t[i].body, strlen(t[i].body), &r);
        if (r.status != t[i].status)
            fail_msg("body %zu: %d, expected %d", i, r.status, t[i].status);
        json_decref(j);
        fht_response_free(&r);
    }
}

/* Ten thousand bad items: 100 listed and the rest cut; a body past
 * max_bytes: 413 without a look at it. */
static void test_body_limits(void **state) {
    (void)state;
    size_t cap = 16 + 10000 * 2 + 64;
    char *b = malloc(cap);
    size_t o = (size_t)snprintf(b, cap, "{\"name\":\"n\",\"tags\":[");
    for (int i = 0; i < 10000; i++)
        o += (size_t)snprintf(b + o, cap - o, "%s1", i ? "," : "");
    o += (size_t)snprintf(b + o, cap - o, "]}");
    fht_response_t r;
    json_t *j = call(port, "POST", "/orgs/o/items", JSON_HDR, b, o, &r);
    free(b);
    assert_int_equal(r.status, 422);
    assert_int_equal(json_array_size(json_object_get(j, "errors")), FH_SCHEMA_MAX_ERRORS);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_string_equal(json_string_value(json_object_get(j, "detail")),
                        "more than 100 validation errors; the first 100 are listed");
    const json_t *last = json_array_get(json_object_get(j, "errors"), 99);
    assert_string_equal(json_string_value(json_object_get(last, "pointer")), "#/tags/99");
    json_decref(j);
    fht_response_free(&r);

    size_t big = (1 << 20) + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    j = call(port, "POST", "/orgs/o/items", JSON_HDR, huge, big, &r);
    free(huge);
    assert_int_equal(r.status, 413);
    json_decref(j);
    fht_response_free(&r);
}

static void test_without_operation(void **state) {
    (void)state;
    fht_response_t r;
    json_t *j = call(port, "GET", "/plain/a%20b", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "a b -5 1");
    fht_response_free(&r);
    json_decref(j);
    j = call(port, "DELETE", "/any", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, " -5 1");
    fht_response_free(&r);
    json_decref(j);
}

static void test_check_mode(void **state) {
    (void)state;
    static const struct {
        const char *how, *why;
    } t[] = {
        { "x", "#/id: must be an integer" },
        { "status", "status 418 is not declared" },
        { "type", "Content-Type text/plain where application/json is declared" },
        { "body204", NULL },
    };
    fht_response_t r;
    json_t *j = call(port, "GET", "/orgs/o/drift?how=ok", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    json_decref(j);
    fht_response_free(&r);
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char target[64];
        snprintf(target, sizeof(target), "/orgs/o/drift?how=%s", t[i].how);
        j = call(port, "GET", target, NULL, NULL, 0, &r);
        if (t[i].why) {
            assert_int_equal(r.status, 500);
            const char *detail = json_string_value(json_object_get(j, "detail"));
            assert_non_null(detail);
            char want[256];
            snprintf(want, sizeof(want), "response check: GET /orgs/{org}/drift answered %s: %s",
                     strcmp(t[i].how, "status") ? "200" : "418", t[i].why);
            assert_string_equal(detail, want);
        } else {
            assert_int_equal(r.status, 204);
        }
        json_decref(j);
        fht_response_free(&r);
        /* Off: the same response goes out as the handler made it. */
        j = call(port_off, "GET", target, NULL, NULL, 0, &r);
        assert_int_equal(r.status, strcmp(t[i].how, "status") == 0    ? 418
                                   : strcmp(t[i].how, "body204") == 0 ? 204
                                                                      : 200);
        json_decref(j);
        fht_response_free(&r);
    }
}

/* ------------------------------------------------- refused at mount time */

static int nop(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    return fh_send_status(res, 204);
}

static void refused(const fh_route_t *routes, const char *why) {
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    assert_int_equal(fh_router_mount(r, "/a", routes, NULL), FH_EINVAL);
    if (!strstr(fh_router_error(r), why))
        fail_msg("\"%s\" does not say \"%s\"", fh_router_error(r), why);
    assert_int_equal(fh_router_route_count(r), 0);
    fh_router_free(r);
}

static void test_refused(void **state) {
    (void)state;
    const fh_operation_t no_param = {
        .params = (const fh_param_t[]){ { "idx", FH_IN_PATH, NULL, true, NULL }, FH_PARAMS_END },
    };
    refused((const fh_route_t[]){ FH_GET_OP("/x/:id", nop, &no_param), FH_ROUTES_END },
            "route \"GET /a/x/:id\": path parameter \"idx\" is not in the pattern");
    const fh_operation_t bad_range = {
        .params =
            (const fh_param_t[]){ { "n", FH_IN_QUERY, FH_INTEGER(FH_RANGE(5, 1)), false, NULL },
                                  FH_PARAMS_END },
    };
    refused((const fh_route_t[]){ FH_GET_OP("/x", nop, &bad_range), FH_ROUTES_END },
            "parameter \"n\": #: minimum 5 is above maximum 1");
    const fh_operation_t obj_param = {
        .params = (const fh_param_t[]){ { "o", FH_IN_QUERY, FH_OBJECT(NULL), false, NULL },
                                        FH_PARAMS_END },
    };
    refused((const fh_route_t[]){ FH_GET_OP("/x", nop, &obj_param), FH_ROUTES_END },
            "a parameter is an integer, number, boolean or string");
    const fh_operation_t id1 = { .operation_id = "same" }, id2 = { .operation_id = "same" };
    refused((const fh_route_t[]){ FH_GET_OP("/x", nop, &id1), FH_GET_OP("/y", nop, &id2),
                                  FH_ROUTES_END },
            "conflicts with \"GET /a/x\": operation_id \"same\" is taken");
    const fh_operation_t n1 = { .body = &(const fh_body_spec_t){ .schema =
                                                                     FH_STRING(.name = "Thing") } },
                         n2 = { .body = &(const fh_body_spec_t){
                                    .schema = FH_INTEGER(.name = "Thing") } };
    refused((const fh_route_t[]){ FH_POST_OP("/x", nop, &n1), FH_POST_OP("/y", nop, &n2),
                                  FH_ROUTES_END },
            "two different schemas are named \"Thing\"");
    const fh_operation_t twice = {
        .responses = FH_RESPONSES({ 200, "a", NULL, NULL }, { 200, "b", NULL, NULL }),
    };
    refused((const fh_route_t[]){ FH_GET_OP("/x", nop, &twice), FH_ROUTES_END },
            "response 200 is declared twice");
    const fh_operation_t no_body_schema = { .body = &(const fh_body_spec_t){ 0 } };
    refused((const fh_route_t[]){ FH_POST_OP("/x", nop, &no_body_schema), FH_ROUTES_END },
            "body: no schema");
}

/* --------------------------------------------------------- the document */

static const json_t *at(const json_t *doc, const char *path, const char *method) {
    const json_t *op =
        json_object_get(json_object_get(json_object_get(doc, "paths"), path), method);
    if (!op)
        fail_msg("no %s %s in the document", method, path);
    return op;
}

static void test_document(void **state) {
    (void)state;
    json_t *doc = fh_openapi_document(router, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    const json_t *get = at(doc, "/orgs/{org}/items/{id}", "get");
    assert_string_equal(json_string_value(json_object_get(get, "operationId")), "getItem");
    char *d = json_dumps(json_object_get(get, "parameters"), JSON_COMPACT);
    assert_non_null(strstr(d, "{\"name\":\"id\",\"in\":\"path\",\"required\":true,\"schema\":"
                              "{\"type\":\"integer\",\"minimum\":1}}"));
    assert_non_null(strstr(d, "{\"name\":\"sort\",\"in\":\"query\",\"required\":false,\"schema\":"
                              "{\"type\":\"string\",\"enum\":[\"asc\",\"desc\"],\"default\":"
                              "\"asc\"}}"));
    assert_non_null(strstr(d, "{\"name\":\"X-Tenant\",\"in\":\"header\",\"required\":true"));
    /* The mount's parameter, undeclared: a required string. */
    assert_non_null(strstr(d, "{\"name\":\"org\",\"in\":\"path\",\"required\":true,\"schema\":"
                              "{\"type\":\"string\"}}"));
    fh_json_free(d);
    d = json_dumps(json_object_get(get, "security"), JSON_COMPACT);
    assert_string_equal(d, "[{\"bearerAuth\":[]}]");
    fh_json_free(d);
    const json_t *post = at(doc, "/orgs/{org}/items", "post");
    d = json_dumps(json_object_get(post, "responses"), JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(d, "{\"201\":{\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
                           "\"#/components/schemas/ItemInput\"}}},\"description\":\"Created\"},"
                           "\"400\":{\"$ref\":\"#/components/responses/BadRequest\"},\"413\":{"
                           "\"$ref\":\"#/components/responses/ContentTooLarge\"},\"415\":{\"$ref\":"
                           "\"#/components/responses/UnsupportedMediaType\"},\"422\":{\"$ref\":"
                           "\"#/components/responses/UnprocessableContent\"}}");
    fh_json_free(d);
    const json_t *comp = json_object_get(doc, "components");
    assert_non_null(json_object_get(json_object_get(comp, "schemas"), "ItemInput"));
    d = json_dumps(json_object_get(comp, "securitySchemes"), JSON_COMPACT);
    assert_string_equal(d, "{\"bearerAuth\":{\"type\":\"http\",\"scheme\":\"bearer\"}}");
    fh_json_free(d);
    /* Routes without an operation: what the router knows. */
    const json_t *pl = at(doc, "/plain/{name}", "get");
    assert_string_equal(json_string_value(json_object_get(pl, "operationId")), "get_plain_name");
    assert_string_equal(json_string_value(json_object_get(pl, "summary")), "GET /plain/{name}");
    assert_non_null(json_object_get(json_object_get(pl, "responses"), "default"));
    static const char *const any[] = { "get", "put", "post", "delete", "patch" };
    for (size_t i = 0; i < 5; i++)
        at(doc, "/any", any[i]);
    const json_t *files = at(doc, "/files/{rest}", "get");
    assert_non_null(
        strstr(json_string_value(json_object_get(
                   json_array_get(json_object_get(files, "parameters"), 0), "description")),
               "slashes included"));
    /* Every route is there. */
    size_t ops = 0;
    const char *k;
    const json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), k, item) ops += json_object_size(item);
    assert_int_equal(ops, fh_router_route_count(router) - 1 + 5);
    json_decref(doc);
}

static void test_openapi_options(void **state) {
    (void)state;
    fh_router_t *r;
    assert_int_equal(fh_router_new(&r, NULL), 0);
    fh_openapi_t *api = (void *)1;
    fh_openapi_options_t o = {
        .title = "t", .version = "1", .docs_path = "/docs", .docs_dir = "/nonexistent-dir"
    };
    assert_int_equal(fh_openapi_new(&api, r, &o), FH_ECONFIG);
    assert_null(api);
    assert_string_equal(fh_openapi_error(),
                        "fasthttp: openapi.docs_dir: \"/nonexistent-dir\": no readable "
                        "swagger-ui-bundle.js there (install the npm package swagger-ui-dist: "
                        "scripts/install-deps.sh)");
    o.docs_path = "/do\"cs";
    assert_int_equal(fh_openapi_new(&api, r, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_openapi_error(), "openapi.docs_path: \"/do\"cs\""));
    fh_openapi_options_t none = { .version = "1" };
    assert_int_equal(fh_openapi_new(&api, r, &none), FH_ECONFIG);
    assert_string_equal(fh_openapi_error(), "fasthttp: openapi.title: required");
    fh_openapi_options_t sec = { .title = "t",
                                 .version = "1",
                                 .security = (const char *const[]){ "keyAuth", NULL } };
    assert_int_equal(fh_openapi_new(&api, r, &sec), FH_ECONFIG);
    assert_non_null(strstr(fh_openapi_error(), "\"keyAuth\" is not in security_schemes"));
    assert_int_equal(fh_router_route_count(r), 0);
    /* Served: the document, over a socket. */
    fh_openapi_options_t ok = { .title = "T <x>",
                                .version = "2",
                                .security_schemes =
                                    (const fh_security_scheme_t[]){
                                        { "keyAuth", "apiKey", NULL, NULL, "header", "X-Key",
                                          NULL },
                                        { NULL, NULL, NULL, NULL, NULL, NULL, NULL } },
                                .security = (const char *const[]){ "keyAuth", NULL } };
    assert_int_equal(fh_openapi_new(&api, r, &ok), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = r;
    fh_server_t *s = fht_server_start(&cfg);
    fht_response_t res;
    json_t *doc = call(fh_server_port(s), "GET", "/openapi.json", NULL, NULL, 0, &res);
    assert_int_equal(res.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "info"), "title")),
                        "T <x>");
    char *d = json_dumps(json_object_get(doc, "security"), JSON_COMPACT);
    assert_string_equal(d, "[{\"keyAuth\":[]}]");
    fh_json_free(d);
    d = json_dumps(json_object_get(json_object_get(doc, "components"), "securitySchemes"),
                   JSON_COMPACT);
    assert_string_equal(d, "{\"keyAuth\":{\"type\":\"apiKey\",\"in\":\"header\",\"name\":"
                           "\"X-Key\"}}");
    fh_json_free(d);
    json_decref(doc);
    fht_response_free(&res);
    fht_server_stop(s);
    fh_router_free(r);
    fh_openapi_free(api);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_bad),
        cmocka_unit_test(test_params_typed),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_without_operation),
        cmocka_unit_test(test_check_mode),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_openapi_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
