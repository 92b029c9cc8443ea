/* Validation helpers: every field kind, required / optional / nullable,
 * bounds, nested objects and array items with their JSON Pointers, unknown
 * members, custom rules, and the single 422 problem listing them all. */
#include "request_fixture.h"

/* A request held like a connection holds it: its arena (and the body parsed
 * into it) lives until fx_release, after the response is final. */
static fh_request_t *req_for_test(void) {
    fh_request_t *req = fx_request(FH_METHOD_POST, "/users", NULL, NULL);
    fx_hold(req);
    return req;
}

/* Parses text on the request's arena (as fh_request_json would). */
static json_t *parse(fh_request_t *req, const char *text) {
    fh_json_scope_t s = fh_json_arena_begin(req->arena);
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    fh_json_scope_end(s);
    if (!v)
        fail_msg("bad test JSON: %s", e.text);
    return v;
}

/* The detail recorded for pointer, or NULL. */
static const char *detail_at(const fh_json_validator_t *v, const char *pointer) {
    const json_t *errors = fh_json_validate_errors(v);
    size_t i;
    json_t *e;
    json_array_foreach(errors, i, e) {
        if (strcmp(json_string_value(json_object_get(e, "pointer")), pointer) == 0)
            return json_string_value(json_object_get(e, "detail"));
    }
    return NULL;
}

static void test_valid_body_returns_values(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "{\"name\":\"Zoë\",\"age\":36,\"score\":4.5,\"admin\":true,"
                              "\"color\":\"green\",\"tags\":[\"a\",\"b\"],\"nick\":null}");
    static const char *const colors[] = { "red", "green", "blue", NULL };
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    assert_string_equal(fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 3),
                        "Zoë"); /* 3 code points */
    assert_int_equal(fh_json_field_int(&v, "age", FH_JSON_REQUIRED, 0, 150, -1), 36);
    assert_true(fh_json_field_number(&v, "score", FH_JSON_REQUIRED, 0, 5, -1) == 4.5);
    assert_true(fh_json_field_number(&v, "age", FH_JSON_REQUIRED, 0, 100, -1) ==
                36.0); /* ints are numbers */
    assert_true(fh_json_field_bool(&v, "admin", FH_JSON_REQUIRED, false));
    assert_int_equal(fh_json_field_enum(&v, "color", FH_JSON_REQUIRED, colors, -1), 1);
    const json_t *tags = fh_json_field_array(&v, "tags", FH_JSON_OPTIONAL, 1, 5);
    assert_non_null(tags);
    assert_int_equal(json_array_size(tags), 2);
    /* Absent optional members and nullable nulls give the defaults. */
    assert_null(fh_json_field_string(&v, "nick", FH_JSON_NULLABLE, 0, 0));
    assert_null(fh_json_field_string(&v, "nick", FH_JSON_REQUIRED | FH_JSON_NULLABLE, 0, 0));
    assert_int_equal(fh_json_field_int(&v, "limit", FH_JSON_OPTIONAL, 1, 100, 20), 20);
    assert_false(fh_json_field_bool(&v, "missing", FH_JSON_OPTIONAL, false));
    assert_int_equal(fh_json_validate_count(&v), 0);
    assert_null(fh_json_validate_errors(&v));
    assert_false(fh_json_validate_end(&v, &req->res));
    assert_false(fh_response_is_final(&req->res));
    json_decref(body);
    fx_release(req);
}

static void test_every_violation_is_listed(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "{\"name\":\"\",\"age\":151,\"score\":\"high\",\"admin\":1,"
                              "\"color\":\"pink\",\"tags\":[],\"nick\":null,\"bio\":\"abcdef\","
                              "\"height\":1.5,\"weight\":-3}");
    static const char *const colors[] = { "red", "green", NULL };
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    assert_null(fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 100));
    assert_int_equal(fh_json_field_int(&v, "age", FH_JSON_REQUIRED, 0, 150, -1), -1);
    assert_true(fh_json_field_number(&v, "score", FH_JSON_REQUIRED, 0, 5, -1) == -1);
    assert_true(fh_json_field_bool(&v, "admin", FH_JSON_OPTIONAL, true));
    assert_int_equal(fh_json_field_enum(&v, "color", FH_JSON_REQUIRED, colors, -1), -1);
    assert_null(fh_json_field_array(&v, "tags", FH_JSON_REQUIRED, 1, 0));
    assert_null(fh_json_field_string(&v, "nick", FH_JSON_OPTIONAL, 0, 0)); /* null, not nullable */
    assert_null(fh_json_field_string(&v, "bio", FH_JSON_OPTIONAL, 0, 5));
    assert_int_equal(fh_json_field_int(&v, "height", FH_JSON_OPTIONAL, 0, 300, 0), 0);
    assert_true(fh_json_field_number(&v, "weight", FH_JSON_OPTIONAL, 0, 500, 0) == 0);
    assert_null(fh_json_field_string(&v, "email", FH_JSON_REQUIRED, 3, 254));
    assert_int_equal(fh_json_validate_count(&v), 11);
    assert_string_equal(detail_at(&v, "#/name"), "must not be empty");
    assert_string_equal(detail_at(&v, "#/age"), "must be at most 150");
    assert_string_equal(detail_at(&v, "#/score"), "must be a number");
    assert_string_equal(detail_at(&v, "#/admin"), "must be true or false");
    assert_string_equal(detail_at(&v, "#/color"), "must be one of: \"red\", \"green\"");
    assert_string_equal(detail_at(&v, "#/tags"), "must have at least 1 item");
    assert_string_equal(detail_at(&v, "#/nick"), "must be a string");
    assert_string_equal(detail_at(&v, "#/bio"), "must be at most 5 characters long");
    assert_string_equal(detail_at(&v, "#/height"), "must be an integer");
    assert_string_equal(detail_at(&v, "#/weight"), "must be at least 0");
    assert_string_equal(detail_at(&v, "#/email"), "is required");

    /* The 422 problem names them all, in the order found. */
    assert_true(fh_json_validate_end(&v, &req->res));
    json_decref(body); /* the arena lives until the response is written... */
    fx_release(req);   /* ...which is now */
    assert_int_equal(fx_status(), 422);
    assert_string_equal(fx_header("Content-Type"), "application/problem+json");
    json_t *p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Unprocessable Content");
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "11 validation errors");
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "/users");
    json_t *errors = json_object_get(p, "errors");
    assert_int_equal(json_array_size(errors), 11);
    json_t *first = json_array_get(errors, 0);
    assert_string_equal(json_string_value(json_object_get(first, "pointer")), "#/name");
    assert_string_equal(json_string_value(json_object_get(first, "field")), "name");
    assert_string_equal(json_string_value(json_object_get(first, "detail")), "must not be empty");
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 10), "field")),
                        "email");
    json_decref(p);
}

static void test_not_an_object(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "[1,2]");
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    /* Field calls add nothing more: one clear violation. */
    assert_null(fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 10));
    assert_int_equal(fh_json_field_int(&v, "n", FH_JSON_REQUIRED, 0, 1, 7), 7);
    fh_json_no_other_fields(&v);
    assert_int_equal(fh_json_validate_count(&v), 1);
    assert_string_equal(detail_at(&v, "#"), "must be a JSON object");
    assert_null(json_object_get(json_array_get(fh_json_validate_errors(&v), 0), "field"));
    assert_true(fh_json_validate_end(&v, &req->res));
    json_decref(body);
    fx_release(req);
    assert_int_equal(fx_status(), 422);

    req = req_for_test();
    fh_json_validate_begin(&v, req, NULL); /* no body at all */
    assert_int_equal(fh_json_validate_count(&v), 1);
    assert_true(fh_json_validate_end(&v, &req->res));
    fx_release(req);
    assert_int_equal(fx_status(), 422);
}

static void test_nested_and_items(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "{\"address\":{\"city\":\"\",\"zip\":\"75001\"},"
                              "\"items\":[{\"sku\":\"A1\",\"qty\":2},{\"qty\":0},7],"
                              "\"a/b~c\":{\"x y\":1}, \"meta\":5}");
    fh_json_validator_t v, addr, item, odd, meta;
    fh_json_validate_begin(&v, req, body);
    assert_true(fh_json_field_object(&v, &addr, "address", FH_JSON_REQUIRED));
    assert_null(fh_json_field_string(&addr, "city", FH_JSON_REQUIRED, 1, 50));
    assert_string_equal(fh_json_field_string(&addr, "zip", FH_JSON_REQUIRED, 5, 5), "75001");
    assert_null(fh_json_field_string(&addr, "country", FH_JSON_REQUIRED, 2, 2));
    const json_t *items = fh_json_field_array(&v, "items", FH_JSON_REQUIRED, 1, 10);
    assert_non_null(items);
    int good = 0;
    for (size_t i = 0; i < json_array_size(items); i++) {
        if (!fh_json_validate_item(&v, &item, "items", i))
            continue;
        good += fh_json_field_string(&item, "sku", FH_JSON_REQUIRED, 1, 8) != NULL;
        fh_json_field_int(&item, "qty", FH_JSON_REQUIRED, 1, 99, 0);
    }
    assert_int_equal(good, 1);
    assert_false(fh_json_validate_item(&v, &item, "items", 99)); /* out of range: ignored */
    assert_true(fh_json_field_object(&v, &odd, "a/b~c", FH_JSON_OPTIONAL));
    fh_json_field_string(&odd, "x y", FH_JSON_OPTIONAL, 0, 0);
    assert_false(fh_json_field_object(&v, &meta, "meta", FH_JSON_OPTIONAL));
    /* A failed child is inert: calls on it record nothing. */
    assert_int_equal(fh_json_field_int(&meta, "k", FH_JSON_REQUIRED, 0, 1, 3), 3);

    assert_string_equal(detail_at(&v, "#/address/city"), "must not be empty");
    assert_string_equal(detail_at(&v, "#/address/country"), "is required");
    assert_string_equal(detail_at(&v, "#/items/1/sku"), "is required");
    assert_string_equal(detail_at(&v, "#/items/1/qty"), "must be at least 1");
    assert_string_equal(detail_at(&v, "#/items/2"), "must be an object");
    assert_string_equal(detail_at(&v, "#/a~1b~0c/x%20y"), "must be a string");
    assert_string_equal(detail_at(&v, "#/meta"), "must be an object");
    assert_int_equal(fh_json_validate_count(&v), 7);
    assert_int_equal(fh_json_validate_count(&addr), 7); /* children share the list */
    json_t *e = json_array_get(fh_json_validate_errors(&v), 0);
    assert_string_equal(json_string_value(json_object_get(e, "field")), "city");
    assert_true(fh_json_validate_end(&v, &req->res));
    json_decref(body);
    fx_release(req);
    assert_int_equal(fx_status(), 422);
}

static void test_unknown_fields_and_custom_rules(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "{\"password\":\"hunter22\",\"confirm\":\"hunter2\",\"role\":\"x\","
                              "\"débug\":1}");
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    const char *pw = fh_json_field_string(&v, "password", FH_JSON_REQUIRED, 8, 64);
    const char *confirm = fh_json_field_string(&v, "confirm", FH_JSON_REQUIRED, 0, 64);
    if (pw && confirm && strcmp(pw, confirm) != 0)
        fh_json_invalid(&v, "confirm", "must equal \"%s\"", "password");
    fh_json_invalid(&v, NULL, "is suspicious (%d)", 1);
    fh_json_no_other_fields(&v);
    assert_int_equal(fh_json_validate_count(&v), 4);
    assert_string_equal(detail_at(&v, "#/confirm"), "must equal \"password\"");
    assert_string_equal(detail_at(&v, "#"), "is suspicious (1)");
    assert_string_equal(detail_at(&v, "#/role"), "is not allowed");
    assert_string_equal(detail_at(&v, "#/d%C3%A9bug"), "is not allowed"); /* fragment-encoded */
    assert_true(fh_json_validate_end(&v, &req->res));
    json_decref(body);
    fx_release(req);
    json_t *p = fx_json_body();
    json_t *errors = json_object_get(p, "errors");
    json_t *last = json_array_get(errors, 3);
    assert_string_equal(json_string_value(json_object_get(last, "field")), "débug");
    json_decref(p);
}

/* The validator allocates in the request's arena only, whatever the
 * current scope, and needs no cleanup when the handler gives up early. */
static void test_errors_live_in_arena(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    json_t *body = parse(req, "{}");
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    for (int i = 0; i < 200; i++)
        fh_json_field_int(&v, "n", FH_JSON_REQUIRED, 0, 1, 0);
    assert_int_equal(fh_json_validate_count(&v), 200);
    assert_true(fh_json_in_arena(fh_json_validate_errors(&v)));
    json_decref(body);
    fx_release(req); /* never ended: LeakSanitizer sees nothing left behind */
}

/* validate_end on a response already final reports the failure but sends
 * nothing more. */
static void test_end_after_final(void **state) {
    (void)state;
    fh_request_t *req = req_for_test();
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, json_null());
    fh_send_status(&req->res, 400);
    assert_true(fh_json_validate_end(&v, &req->res));
    fx_release(req);
    assert_int_equal(fx_status(), 400);
    assert_string_equal(fx_body(), "Bad Request\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_body_returns_values),
        cmocka_unit_test(test_every_violation_is_listed),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_nested_and_items),
        cmocka_unit_test(test_unknown_fields_and_custom_rules),
        cmocka_unit_test(test_errors_live_in_arena),
        cmocka_unit_test(test_end_after_final),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
