/* Serialization into the arena and JSON responses: fh_json_dump flags and
 * failures, fh_response_json / fh_send_json / fh_send_json_new byte for
 * byte, borrow and steal, HEAD, and RFC 9457 problem documents. */
#include "request_fixture.h"

static fh_request_t *get(const char *path) { return fx_request(FH_METHOD_GET, path, NULL, NULL); }

static void test_dump_flags(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, fx_worker.arena_cache), 0);
    json_t *v = json_pack("{s:[i,i], s:s}", "a", 1, 2, "b", "x\"y\n\xc3\xa9");
    fh_str_t s = fh_json_dump(a, v, JSON_COMPACT);
    assert_string_equal(s.ptr, "{\"a\":[1,2],\"b\":\"x\\\"y\\n\xc3\xa9\"}");
    assert_int_equal(s.len, strlen(s.ptr));
    s = fh_json_dump(a, v, JSON_COMPACT | JSON_ENSURE_ASCII);
    assert_string_equal(s.ptr, "{\"a\":[1,2],\"b\":\"x\\\"y\\n\\u00E9\"}");
    s = fh_json_dump(a, v, JSON_INDENT(1));
    assert_string_equal(s.ptr, "{\n \"a\": [\n  1,\n  2\n ],\n \"b\": \"x\\\"y\\n\xc3\xa9\"\n}");
    /* Scalars serialize too (JSON_ENCODE_ANY is implied). */
    json_t *n = json_integer(-7);
    s = fh_json_dump(a, n, 0);
    assert_string_equal(s.ptr, "-7");
    json_decref(n);
    /* A cycle cannot be serialized; NULL neither. */
    json_t *outer = json_array(), *inner = json_array();
    assert_int_equal(json_array_append(outer, inner), 0);
    assert_int_equal(json_array_append(inner, outer), 0);
    s = fh_json_dump(a, outer, JSON_COMPACT);
    assert_null(s.ptr);
    json_array_clear(inner); /* break the cycle so both can be freed */
    json_decref(inner);
    json_decref(outer);
    assert_null(fh_json_dump(a, NULL, 0).ptr);
    json_decref(v);
    fh_arena_release(a);
}

/* A body larger than the first buffers: the arena buffer grows (in place
 * while it is the last allocation, by copy when jansson allocated after
 * it), and the result is the same as json_dumps. */
static void test_dump_large_nested(void **state) {
    (void)state;
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, fx_worker.arena_cache), 0);
    json_t *root = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(
            root, json_pack("{s:i, s:{s:[s,s]}}", "id", i, "inner", "l", "alpha", "beta"));
    char *expect = json_dumps(root, JSON_COMPACT);
    fh_str_t s = fh_json_dump(a, root, JSON_COMPACT);
    assert_non_null(s.ptr);
    assert_int_equal(s.len, strlen(expect));
    assert_memory_equal(s.ptr, expect, s.len);
    fh_json_free(expect);
    json_decref(root);
    fh_arena_release(a);
}

static void test_send_json_bytes(void **state) {
    (void)state;
    fh_request_t *req = get("/json");
    json_t *v = json_pack("{s:s}", "message", "Hello, World!");
    assert_int_equal(fh_send_json(&req->res, 200, v), 0);
    assert_string_equal(fx_out, "HTTP/1.1 200 OK\r\nServer: t\r\n"
                                "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: 27\r\n\r\n"
                                "{\"message\":\"Hello, World!\"}");
    /* Borrowed: the caller's reference is intact. */
    assert_int_equal(v->refcount, 1);
    json_decref(v);
}

static void test_send_json_new_steals(void **state) {
    (void)state;
    json_t *kept = json_string("kept"); /* heap */
    fh_request_t *req = get("/x");
    json_t *v = json_pack("{s:O}", "k", kept); /* O: takes a new reference */
    assert_int_equal(kept->refcount, 2);
    assert_int_equal(fh_send_json_new(&req->res, 201, v), 0);
    assert_int_equal(kept->refcount, 1); /* v was dropped, and its reference with it */
    assert_int_equal(fx_status(), 201);
    assert_string_equal(fx_body(), "{\"k\":\"kept\"}");
    json_decref(kept);

    /* A failed constructor: FH_ENOMEM, nothing sent. */
    req = get("/x");
    assert_int_equal(fh_send_json_new(&req->res, 200, NULL), FH_ENOMEM);
    assert_false(fh_response_is_final(&req->res));
    /* A bad status: refused, the value still dropped (no leak to see). */
    assert_int_equal(fh_send_json_new(&req->res, 42, json_pack("[s]", "x")), FH_EINVAL);
    assert_int_equal(fh_send_json(&req->res, 1000, json_null()), FH_EINVAL);
    assert_int_equal(fh_send_json(&req->res, 200, NULL), FH_EINVAL);
    assert_int_equal(fh_send_json(&req->res, 200, json_true()), 0);
    assert_string_equal(fx_body(), "true");
}

static void test_response_json_builder(void **state) {
    (void)state;
    fh_request_t *req = get("/b");
    fh_response_t *res = &req->res;
    json_t *v = json_pack("{s:i}", "a", 1);
    assert_int_equal(fh_response_json(res, v, JSON_INDENT(2)), 0);
    assert_false(fh_response_is_final(res));
    assert_true(fh_str_eq(fh_response_header_get(res, "content-type"), "application/json"));
    assert_true(fh_str_eq(fh_response_get_body(res), "{\n  \"a\": 1\n}"));
    /* The body is serialized at the call: later changes to v do not show. */
    json_object_set_new(v, "b", json_integer(2));
    fh_response_header(res, "X-Extra", "1");
    fh_response_status(res, 202);
    fx_hold(req); /* final, not yet released: res may still be asked */
    fh_response_end(res);
    assert_int_equal(fh_response_json(res, v, 0), FH_EALREADY_SENT);
    assert_int_equal(fh_send_json(res, 200, v), FH_EALREADY_SENT);
    json_decref(v);
    fx_release(req);
    assert_int_equal(fx_status(), 202);
    assert_string_equal(fx_header("X-Extra"), "1");
    assert_string_equal(fx_body(), "{\n  \"a\": 1\n}");
}

static void test_head_gets_length_only(void **state) {
    (void)state;
    fh_request_t *req = fx_request(FH_METHOD_HEAD, "/json", NULL, NULL);
    assert_int_equal(
        fh_send_json_new(&req->res, 200, json_pack("{s:s}", "message", "Hello, World!")), 0);
    assert_non_null(strstr(fx_out, "Content-Length: 27\r\n\r\n"));
    assert_string_equal(fx_body(), "");
}

/* Built inside a handler scope the JSON of a response costs no malloc at
 * all in the arena mode: only arena bytes. */
static void test_handler_scope_uses_arena_only(void **state) {
    (void)state;
    bool saved = fh__json_tracking();
    fh__json_set_tracking(false);
    fh_request_t *req = get("/json");
    fh_json_scope_t s = fh_json_arena_begin(req->arena);
    json_t *v = json_pack("{s:s}", "message", "Hello, World!");
    assert_true(fh_json_in_arena(v));
    fh_arena_stats_t st;
    fh_arena_stats(req->arena, &st);
    assert_int_equal(st.large, 0);
    assert_int_equal(st.chunks, 1); /* everything fit in the request's first chunk */
    int rc = fh_send_json_new(&req->res, 200, v);
    fh_json_scope_end(s);
    assert_int_equal(rc, 0);
    assert_string_equal(fx_body(), "{\"message\":\"Hello, World!\"}");
    fh__json_set_tracking(saved);
}

static void test_problem_document(void **state) {
    (void)state;
    fh_request_t *req = get("/orders/42?verbose=1");
    json_t *extra = json_pack("{s:s, s:i, s:s}", "type", "https://example.com/probs/out-of-stock",
                              "balance", 30, "title", "Replaced title");
    assert_int_equal(fh_send_problem(&req->res, 409, "Out of stock", "Item 42 is gone", extra), 0);
    assert_int_equal(extra->refcount, 1); /* borrowed */
    json_decref(extra);
    assert_int_equal(fx_status(), 409);
    assert_string_equal(fx_header("Content-Type"), "application/problem+json");
    /* Member order: the standard ones, then extra's (replacing in place). */
    assert_string_equal(
        fx_body(), "{\"type\":\"https://example.com/probs/out-of-stock\","
                   "\"title\":\"Replaced title\",\"status\":409,"
                   "\"detail\":\"Item 42 is gone\",\"instance\":\"/orders/42\",\"balance\":30}");

    /* Defaults: title from the status, no detail. */
    req = get("/");
    assert_int_equal(fh_send_problem(&req->res, 404, NULL, NULL, NULL), 0);
    assert_string_equal(fx_body(),
                        "{\"type\":\"about:blank\",\"title\":\"Not Found\",\"status\":404,"
                        "\"instance\":\"/\"}");
    /* Invalid UTF-8 in the detail becomes U+FFFD rather than failing. */
    req = get("/u");
    assert_int_equal(fh_send_problem(&req->res, 400, "Bad", "byte \xff here", NULL), 0);
    json_t *p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "detail")), "byte \xef\xbf\xbd here");
    json_decref(p);
    /* Bad status and final response. */
    req = get("/u");
    assert_int_equal(fh_send_problem(&req->res, 7, NULL, NULL, NULL), FH_EINVAL);
    fx_hold(req); /* final, not yet released: res may still be asked */
    fh_send_status(&req->res, 204);
    assert_int_equal(fh_send_problem(&req->res, 500, NULL, NULL, NULL), FH_EALREADY_SENT);
    fx_release(req);
}

static int request_id_slot; /* its address is the key */

static void test_problem_request_id(void **state) {
    (void)state;
    fh_problem_set_request_id_key(&request_id_slot);
    fh_request_t *req = get("/a");
    assert_int_equal(fh_request_set(req, &request_id_slot, "req-7f3a"), 0);
    fh_send_problem(&req->res, 500, NULL, "boom", NULL);
    json_t *p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), "req-7f3a");
    json_decref(p);

    /* No slot on this request: the response header is used. */
    req = get("/b");
    fh_response_header(&req->res, "X-Request-Id", "hdr-1");
    fh_send_problem(&req->res, 500, NULL, NULL, NULL);
    p = fx_json_body();
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), "hdr-1");
    json_decref(p);

    /* Neither: no member. */
    fh_problem_set_request_id_key(NULL);
    req = get("/c");
    fh_send_problem(&req->res, 500, NULL, NULL, NULL);
    p = fx_json_body();
    assert_null(json_object_get(p, "request_id"));
    json_decref(p);
}

static void test_problem_builder(void **state) {
    (void)state;
    fh_request_t *req = get("/p");
    json_t *p = fh_json_problem(req, 429, NULL, "slow down", NULL);
    assert_non_null(p);
    assert_true(fh_json_in_arena(p)); /* the request's arena, outside any scope */
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Too Many Requests");
    json_decref(p);
    /* extra that is not an object is ignored. */
    json_t *arr = json_array();
    p = fh_json_problem(req, 400, NULL, NULL, arr);
    assert_int_equal(json_object_size(p), 4);
    json_decref(p);
    json_decref(arr);
    fx_release(req);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_flags),
        cmocka_unit_test(test_dump_large_nested),
        cmocka_unit_test(test_send_json_bytes),
        cmocka_unit_test(test_send_json_new_steals),
        cmocka_unit_test(test_response_json_builder),
        cmocka_unit_test(test_head_gets_length_only),
        cmocka_unit_test(test_handler_scope_uses_arena_only),
        cmocka_unit_test(test_problem_document),
        cmocka_unit_test(test_problem_request_id),
        cmocka_unit_test(test_problem_builder),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
