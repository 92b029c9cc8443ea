/* fh_request_json: Content-Type and encoding checks, size limit, empty
 * bodies, syntax errors with jansson's position, decoding flags, where the
 * parsed value lives, and the problem documents fh_send_json_error sends. */
#include "request_fixture.h"

static const char *const ct_json[] = { "Content-Type", "application/json", NULL };

static fh_request_t *post(const char *const *headers, const char *body) {
    return fx_request(FH_METHOD_POST, "/items?x=1", headers, body);
}

static void test_parses_object_into_arena(void **state) {
    (void)state;
    fh_request_t *req = post(ct_json, "{\"name\": \"Ada\", \"tags\": [\"x\", \"y\"], \"n\": 1.5}");
    json_t *v = NULL;
    fh_json_error_t err;
    assert_null(fh_json_current_arena()); /* not inside a handler: heap scope */
    assert_int_equal(fh_request_json(req, &v, &err), 0);
    assert_non_null(v);
    assert_true(fh_json_in_arena(v)); /* the request's arena all the same */
    assert_true(fh_json_in_arena(json_object_get(v, "tags")));
    assert_null(fh_json_current_arena()); /* and the scope was restored */
    assert_string_equal(json_string_value(json_object_get(v, "name")), "Ada");
    assert_int_equal(json_array_size(json_object_get(v, "tags")), 2);
    json_decref(v);
    fx_release(req);
}

static void test_content_types(void **state) {
    (void)state;
    static const struct {
        const char *ct; /* NULL: no header */
        int status;
    } cases[] = {
        { "application/json", 0 },
        { "Application/JSON", 0 },
        { "application/json; charset=utf-8", 0 },
        { "application/json;charset=\"UTF-8\"", 0 },
        { "  application/json  ; foo=bar", 0 },
        { "application/merge-patch+json", 0 },
        { "application/vnd.api+json; charset=utf8", 0 },
        { "application/json; charset=latin1", 415 },
        { "text/plain", 415 },
        { "application/jsonx", 415 },
        { "application/+json", 415 },
        { "text/json", 415 },
        { "", 415 },
        { NULL, 415 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *headers[] = { "Content-Type", cases[i].ct, NULL };
        fh_request_t *req = post(cases[i].ct ? headers : NULL, "{}");
        json_t *v = NULL;
        fh_json_error_t err;
        int rc = fh_request_json(req, &v, &err);
        if (cases[i].status == 0) {
            if (rc != 0)
                fail_msg("Content-Type %s refused: %s", cases[i].ct, err.text);
            assert_non_null(v);
        } else {
            if (rc != FH_EINVAL)
                fail_msg("Content-Type %s accepted", cases[i].ct ? cases[i].ct : "(none)");
            assert_null(v);
            assert_int_equal(err.status, 415);
            assert_int_equal(err.line, -1);
            assert_true(strlen(err.text) > 0);
        }
        json_decref(v);
        fx_release(req);
    }
    /* The check can be switched off. */
    fh_request_t *req = post(NULL, "[1]");
    fh_json_parse_opts_t opts = { .any_content_type = true };
    json_t *v;
    assert_int_equal(fh_request_json_opts(req, &v, NULL, &opts), 0);
    assert_int_equal(json_array_size(v), 1);
    fx_release(req);
}

static void test_content_encoding_refused(void **state) {
    (void)state;
    const char *headers[] = { "Content-Type", "application/json", "Content-Encoding", "gzip",
                              NULL };
    fh_request_t *req = post(headers, "{}");
    json_t *v;
    fh_json_error_t err;
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_int_equal(err.status, 415);
    assert_non_null(strstr(err.text, "gzip"));
    fx_release(req);
    const char *identity[] = { "Content-Type", "application/json", "Content-Encoding", "identity",
                               NULL };
    req = post(identity, "{}");
    assert_int_equal(fh_request_json(req, &v, &err), 0);
    fx_release(req);
}

static void test_empty_and_too_large(void **state) {
    (void)state;
    json_t *v;
    fh_json_error_t err;
    fh_request_t *req = post(ct_json, NULL);
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.text, "empty"));
    fx_release(req);

    /* The size check comes first, before the Content-Type. */
    req = post(NULL, "{\"a\":\"0123456789\"}");
    fh_json_parse_opts_t opts = { .max_bytes = 10 };
    assert_int_equal(fh_request_json_opts(req, &v, &err, &opts), FH_E2BIG);
    assert_int_equal(err.status, 413);
    assert_null(v);
    fx_release(req);

    req = post(ct_json, "{\"a\":1}"); /* 7 bytes: exactly at a limit of 7 */
    opts.max_bytes = 7;
    assert_int_equal(fh_request_json_opts(req, &v, &err, &opts), 0);
    fx_release(req);
}

static void test_syntax_error_position(void **state) {
    (void)state;
    fh_request_t *req = post(ct_json, "{\n  \"a\": 1,\n  \"b\": tru\n}");
    json_t *v = (json_t *)1;
    fh_json_error_t err;
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_null(v);
    assert_int_equal(err.status, 400);
    assert_int_equal(err.line, 3);
    assert_true(err.column >= 8 && err.column <= 10);
    assert_true(err.position >= 18 && err.position <= 22);
    assert_non_null(strstr(err.text, "invalid token"));

    /* fh_send_json_error: a problem document carrying the position. */
    assert_int_equal(fh_send_json_error(&req->res, &err), 0);
    assert_int_equal(fx_status(), 400);
    assert_string_equal(fx_header("Content-Type"), "application/problem+json");
    json_t *p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Bad Request");
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 400);
    assert_string_equal(json_string_value(json_object_get(p, "detail")), err.text);
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "/items");
    assert_int_equal(json_integer_value(json_object_get(p, "line")), 3);
    assert_int_equal(json_integer_value(json_object_get(p, "column")), err.column);
    assert_int_equal(json_integer_value(json_object_get(p, "position")), (json_int_t)err.position);
    json_decref(p);
}

static void test_error_problems_by_status(void **state) {
    (void)state;
    /* 415 says what would have been accepted; no position members. */
    fh_request_t *req = post(NULL, "{}");
    json_t *v;
    fh_json_error_t err;
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_int_equal(fh_send_json_error(&req->res, &err), 0);
    assert_int_equal(fx_status(), 415);
    assert_string_equal(fx_header("Accept"), "application/json");
    json_t *p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Unsupported Media Type");
    assert_null(json_object_get(p, "line"));
    json_decref(p);

    req = post(ct_json, "[1,2,3]");
    fh_json_parse_opts_t opts = { .max_bytes = 3 };
    assert_int_equal(fh_request_json_opts(req, &v, &err, &opts), FH_E2BIG);
    assert_int_equal(fh_send_json_error(&req->res, &err), 0);
    assert_int_equal(fx_status(), 413);
    p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Content Too Large");
    assert_string_equal(json_string_value(json_object_get(p, "detail")),
                        "request body is larger than 3 bytes");
    json_decref(p);
}

static void test_decoding_flags(void **state) {
    (void)state;
    json_t *v;
    fh_json_error_t err;
    /* Defaults: scalars accepted, duplicate keys refused. */
    fh_request_t *req = post(ct_json, "  42 ");
    assert_int_equal(fh_request_json(req, &v, &err), 0);
    assert_int_equal(json_integer_value(v), 42);
    fx_release(req);
    req = post(ct_json, "{\"a\":1,\"a\":2}");
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_int_equal(err.status, 400);
    assert_non_null(strstr(err.text, "duplicate"));
    fx_release(req);
    /* Trailing garbage is an error. */
    req = post(ct_json, "{} {}");
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    fx_release(req);
    /* Invalid UTF-8 is refused, and the problem document is still valid
     * JSON although jansson's message quotes the bad bytes. */
    req = post(ct_json, "[\"\xff\xfe\"]");
    assert_int_equal(fh_request_json(req, &v, &err), FH_EINVAL);
    assert_int_equal(fh_send_json_error(&req->res, &err), 0);
    assert_int_equal(fx_status(), 400);
    json_t *p = fx_json_body();
    json_decref(p);
    /* Explicit flags replace the defaults. */
    req = post(ct_json, "{\"a\":1,\"a\":2}");
    fh_json_parse_opts_t opts = { .flags = JSON_DECODE_INT_AS_REAL };
    assert_int_equal(fh_request_json_opts(req, &v, &err, &opts), 0);
    assert_true(json_is_real(json_object_get(v, "a")));
    fx_release(req);
    req = post(ct_json, "42");
    assert_int_equal(fh_request_json_opts(req, &v, &err, &opts), FH_EINVAL);
    fx_release(req);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parses_object_into_arena),
        cmocka_unit_test(test_content_types),
        cmocka_unit_test(test_content_encoding_refused),
        cmocka_unit_test(test_empty_and_too_large),
        cmocka_unit_test(test_syntax_error_position),
        cmocka_unit_test(test_error_problems_by_status),
        cmocka_unit_test(test_decoding_flags),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
