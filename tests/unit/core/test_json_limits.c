/* The shape limits of JSON request bodies (depth, members, values) at the
 * limit and past it, strings and escapes that look like structure, and the
 * 422 that lists at most FH_JSON_MAX_ERRORS violations. */
#include "request_fixture.h"

static char *make(size_t cap) {
    char *p = malloc(cap);
    assert_non_null(p);
    return p;
}

/* Parses body with the given limits (0: defaults); returns the status (0 when
 * it parsed) and frees the value. */
static int parse(const char *body, size_t depth, size_t members, size_t values, char *text) {
    static const char *const hdrs[] = { "Content-Type", "application/json", NULL };
    fh_request_t *req = fx_request(FH_METHOD_POST, "/", hdrs, body);
    fh_json_parse_opts_t o = { .max_depth = depth, .max_members = members, .max_values = values };
    json_t *v;
    fh_json_error_t e;
    int rc = fh_request_json_opts(req, &v, &e, &o);
    if (text)
        strcpy(text, e.text);
    json_decref(v);
    fx_release(req);
    return rc ? e.status : 0;
}

static void test_depth(void **state) {
    (void)state;
    char body[64], text[256];
    /* [[[1]]] is three levels. */
    assert_int_equal(parse("[[[1]]]", 3, 0, 0, NULL), 0);
    assert_int_equal(parse("[[[1]]]", 2, 0, 0, text), 400);
    assert_non_null(strstr(text, "max_depth"));
    assert_int_equal(parse("{\"a\":{\"b\":{}}}", 3, 0, 0, NULL), 0);
    assert_int_equal(parse("{\"a\":{\"b\":{}}}", 2, 0, 0, NULL), 400);
    /* Brackets inside strings are no structure. */
    snprintf(body, sizeof(body), "[\"[[[[\\\"[[\",\"]]\"]");
    assert_int_equal(parse(body, 1, 0, 0, NULL), 0);
    /* A million levels cost one scan: refused at the default. */
    size_t n = 1000000;
    char *deep = make(2 * n + 2);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    assert_int_equal(parse(deep, 0, 0, 0, text), 400);
    assert_non_null(strstr(text, "64"));
    free(deep);
}

static void test_members_and_values(void **state) {
    (void)state;
    char text[256];
    assert_int_equal(parse("[1,2,3]", 0, 3, 0, NULL), 0);
    assert_int_equal(parse("[1,2,3,4]", 0, 3, 0, text), 400);
    assert_non_null(strstr(text, "array has more than 3 members"));
    /* Keys are not values: {"a":1,"b":2} has two members, two values and
     * one container. */
    assert_int_equal(parse("{\"a\":1,\"b\":2}", 0, 2, 3, NULL), 0);
    assert_int_equal(parse("{\"a\":1,\"b\":2,\"c\":3}", 0, 2, 0, text), 400);
    assert_non_null(strstr(text, "object has more than 2 members"));
    assert_int_equal(parse("{\"a\":1,\"b\":2}", 0, 0, 2, text), 400);
    assert_non_null(strstr(text, "max_values"));
    /* Members count per container, values in all. */
    assert_int_equal(parse("[[1,2],[3,4]]", 0, 2, 7, NULL), 0);
    assert_int_equal(parse("[[1,2],[3,4]]", 0, 2, 6, NULL), 400);
    /* A million keys (8 MB) are refused by the default limits, by name. */
    size_t n = 1000000;
    char *obj = make(n * 12 + 4);
    size_t k = 0;
    obj[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(obj + k, "%s\"k%zu\":1", i ? "," : "", i);
    obj[k++] = '}';
    obj[k] = '\0';
    assert_int_equal(parse(obj, 0, 0, 0, text), 400);
    assert_non_null(strstr(text, "max_members"));
    free(obj);
    /* A million-item array too, and the exact default passes. */
    char *arr = make(2 * n + 3);
    arr[0] = '[';
    for (size_t i = 0; i < n; i++) {
        arr[1 + 2 * i] = '1';
        arr[2 + 2 * i] = ',';
    }
    arr[2 * n] = ']';
    arr[2 * n + 1] = '\0';
    assert_int_equal(parse(arr, 0, 0, 0, NULL), 400);
    arr[1 + 2 * FH_JSON_MAX_MEMBERS - 1] = ']';
    arr[1 + 2 * FH_JSON_MAX_MEMBERS] = '\0';
    assert_int_equal(parse(arr, 0, 0, 0, NULL), 0); /* exactly FH_JSON_MAX_MEMBERS items */
    free(arr);
}

/* A validator over an object with many unknown members lists the first
 * FH_JSON_MAX_ERRORS, counts all and says it cut the list. */
static void test_422_is_bounded(void **state) {
    (void)state;
    size_t n = 5000;
    char *obj = make(n * 16 + 4);
    size_t k = 0;
    obj[k++] = '{';
    for (size_t i = 0; i < n; i++)
        k += (size_t)sprintf(obj + k, "%s\"x%zu\":1", i ? "," : "", i);
    obj[k++] = '}';
    obj[k] = '\0';
    static const char *const hdrs[] = { "Content-Type", "application/json", NULL };
    fh_request_t *req = fx_request(FH_METHOD_POST, "/", hdrs, obj);
    fx_hold(req);
    json_t *v;
    assert_int_equal(fh_request_json(req, &v, NULL), 0);
    fh_json_validator_t val;
    fh_json_validate_begin(&val, req, v);
    fh_json_no_other_fields(&val);
    assert_int_equal(fh_json_validate_count(&val), n);
    assert_true(fh_json_validate_end(&val, &req->res));
    req->conn = NULL;
    fx_release(req);
    assert_int_equal(fx_status(), 422);
    json_t *doc = fx_json_body();
    assert_int_equal(json_array_size(json_object_get(doc, "errors")), FH_JSON_MAX_ERRORS);
    assert_true(json_is_true(json_object_get(doc, "truncated")));
    assert_non_null(strstr(json_string_value(json_object_get(doc, "detail")), "5000"));
    assert_true(fx_out_len < 64 * 1024);
    json_decref(doc);
    free(obj);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_members_and_values),
        cmocka_unit_test(test_422_is_bounded),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
