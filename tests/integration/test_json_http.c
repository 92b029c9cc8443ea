/* JSON over real sockets: GET /json the TechEmpower way (keep-alive,
 * pipelined, HEAD), bodies echoed (plain and chunked), refused bodies as
 * problem documents (400 with position, 413, 415), a 422 validation
 * problem, request ids, a deferred JSON response built from a timer, and an
 * in-memory store whose values are made in one request and read, changed
 * and deleted by later ones on any worker. Run under AddressSanitizer
 * (make asan, where arena JSON is tracked) this proves that nothing leaks
 * and nothing kept across requests points into a released arena. */
#include <pthread.h>
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

/* The store: id -> JSON object, on the heap, shared by the workers. */
static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *store;
static int request_id_key; /* its address: the "request-id middleware" key */

/* From the loop, later: build and send the JSON. */
static void send_late_json(fh_response_t *res, void *data) {
    (void)data;
    fh_json_scope_t s = fh_json_arena_begin(fh_request_arena(fh_response_request(res)));
    json_t *v = json_pack("{s:s, s:b}", "late", "yes", "in_arena", 1);
    json_object_set_new(v, "in_arena", json_boolean(fh_json_in_arena(v)));
    fh_send_json_new(res, 200, v); /* may release the request: touch nothing after */
    fh_json_scope_end(s);
}

static int create_user(fh_request_t *req, fh_response_t *res) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr))
        return fh_send_json_error(res, &jerr);
    static const char *const roles[] = { "admin", "editor", "viewer", NULL };
    fh_json_validator_t v;
    fh_json_validate_begin(&v, req, body);
    const char *name = fh_json_field_string(&v, "name", FH_JSON_REQUIRED, 1, 40);
    json_int_t age = fh_json_field_int(&v, "age", FH_JSON_OPTIONAL, 0, 150, 0);
    int role = fh_json_field_enum(&v, "role", FH_JSON_OPTIONAL, roles, 2);
    fh_json_validator_t addr;
    const char *city = NULL;
    if (fh_json_field_object(&v, &addr, "address", FH_JSON_OPTIONAL))
        city = fh_json_field_string(&addr, "city", FH_JSON_REQUIRED, 1, 60);
    fh_json_no_other_fields(&v);
    if (fh_json_validate_end(&v, res)) {
        json_decref(body);
        return 0;
    }
    json_t *user = json_pack("{s:s, s:I, s:s, s:s?}", "name", name, "age", age, "role", roles[role],
                             "city", city);
    json_decref(body);
    return fh_send_json_new(res, 201, user);
}

static int store_put(fh_request_t *req, fh_response_t *res, const char *key) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr))
        return fh_send_json_error(res, &jerr);
    /* Keep a heap copy; change the long-lived store in a heap scope. */
    json_t *kept = fh_json_persist(body);
    json_decref(body);
    if (!kept)
        return FH_ENOMEM;
    pthread_mutex_lock(&store_lock);
    fh_json_scope_t s = fh_json_heap_begin();
    int rc = json_object_set_new(store, key, kept);
    fh_json_scope_end(s);
    pthread_mutex_unlock(&store_lock);
    if (rc)
        return FH_ENOMEM;
    return fh_send_json_new(res, 201, json_pack("{s:s}", "stored", key));
}

static int store_get(fh_response_t *res, const char *key) {
    pthread_mutex_lock(&store_lock);
    json_t *v = json_object_get(store, key); /* borrowed, heap */
    int rc = v ? fh_send_json(res, 200, v)   /* serialized now, under the lock */
               : fh_send_problem(res, 404, NULL, "no such key", NULL);
    pthread_mutex_unlock(&store_lock);
    return rc;
}

static int store_patch(fh_request_t *req, fh_response_t *res, const char *key) {
    json_t *body;
    fh_json_error_t jerr;
    if (fh_request_json(req, &body, &jerr))
        return fh_send_json_error(res, &jerr);
    pthread_mutex_lock(&store_lock);
    json_t *v = json_object_get(store, key);
    int rc;
    if (!v || !json_is_object(body)) {
        rc = fh_send_problem(res, v ? 422 : 404, NULL, v ? "send an object" : "no such key", NULL);
    } else {
        /* Merge a heap copy of the patch (its members are then heap too). */
        json_t *patch = fh_json_persist(body);
        fh_json_scope_t s = fh_json_heap_begin();
        json_object_update(v, patch);
        json_decref(patch);
        fh_json_scope_end(s);
        rc = fh_send_json(res, 200, v);
    }
    pthread_mutex_unlock(&store_lock);
    json_decref(body);
    return rc;
}

static int store_delete(fh_response_t *res, const char *key) {
    pthread_mutex_lock(&store_lock);
    fh_json_scope_t s = fh_json_heap_begin();
    int missing = json_object_del(store, key); /* frees the heap value */
    fh_json_scope_end(s);
    pthread_mutex_unlock(&store_lock);
    if (missing)
        return fh_send_problem(res, 404, NULL, "no such key", NULL);
    fh_response_status(res, 204);
    return 0;
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    fh_method_t m = fh_request_method_id(req);
    if (fh_str_eq(path, "/json"))
        return fh_send_json_new(res, 200, json_pack("{s:s}", "message", "Hello, World!"));
    if (fh_str_eq(path, "/where")) {
        json_t *probe = json_object();
        json_t *out =
            json_pack("{s:b, s:b}", "handler_in_arena", fh_json_in_arena(probe), "arena_is_request",
                      fh_json_current_arena() == fh_request_arena(req));
        json_decref(probe);
        return fh_send_json_new(res, 200, out);
    }
    if (fh_str_eq(path, "/echo") || fh_str_eq(path, "/echo-small")) {
        fh_json_parse_opts_t opts = { .max_bytes = fh_str_eq(path, "/echo-small") ? 32 : 0 };
        json_t *body;
        fh_json_error_t jerr;
        if (fh_request_json_opts(req, &body, &jerr, &opts))
            return fh_send_json_error(res, &jerr);
        int rc = fh_send_json(res, 200, body);
        json_decref(body);
        return rc;
    }
    if (fh_str_eq(path, "/users") && m == FH_METHOD_POST)
        return create_user(req, res);
    if (fh_str_eq(path, "/problem")) {
        fh_request_set(req, &request_id_key, "rid-0042"); /* as the middleware would */
        json_t *extra =
            json_pack("{s:s, s:i}", "type", "https://example.com/probs/quota", "left", 0);
        int rc = fh_send_problem(res, 429, NULL, "quota exhausted", extra);
        json_decref(extra);
        return rc;
    }
    if (fh_str_eq(path, "/deferred")) {
        fh_response_defer(res);
        return fht_later(res, 5, send_late_json, NULL);
    }
    if (fh_str_starts_with(path, "/store/") && path.len > 7) {
        char *key = fh_strndup(req, (fh_str_t){ path.ptr + 7, path.len - 7 });
        switch (m) {
        case FH_METHOD_PUT: return store_put(req, res, key);
        case FH_METHOD_GET: return store_get(res, key);
        case FH_METHOD_PATCH: return store_patch(req, res, key);
        case FH_METHOD_DELETE: return store_delete(res, key);
        default: break;
        }
    }
    return fh_send_problem(res, 404, NULL, NULL, NULL);
}

/* --------------------------------------------------------------- client */

static int setup(void **state) {
    (void)state;
    fh_problem_set_request_id_key(&request_id_key);
    store = json_object();
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    json_decref(store); /* every stored value was a heap copy: all freed here */
    store = NULL;
    fh_problem_set_request_id_key(NULL);
    return 0;
}

static json_t *body_json(const fht_response_t *r) {
    json_error_t e;
    json_t *v = json_loadb(r->body, r->body_len, JSON_DECODE_ANY, &e);
    if (!v)
        fail_msg("not JSON (%s): %.*s", e.text, (int)r->body_len, r->body);
    return v;
}

static const char *str_member(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    if (!s)
        fail_msg("member %s missing", k);
    return s;
}

static char *post(char *buf, size_t cap, const char *method, const char *path, const char *ctype,
                  const char *body) {
    snprintf(buf, cap, "%s %s HTTP/1.1\r\nHost: t\r\n%s%s%sContent-Length: %zu\r\n\r\n%s", method,
             path, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
             strlen(body), body);
    return buf;
}

static void test_get_json(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    char ct[128], cl[32];
    for (int i = 0; i < 50; i++) { /* keep-alive */
        fht_send_str(fd, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_true(fht_header(&r, "Content-Type", ct, sizeof(ct)));
        assert_string_equal(ct, "application/json");
        assert_true(fht_header(&r, "Content-Length", cl, sizeof(cl)));
        assert_string_equal(cl, "27");
        assert_string_equal(r.body, "{\"message\":\"Hello, World!\"}");
        fht_response_free(&r);
    }
    /* 16 pipelined in one write. */
    char batch[16 * 40];
    batch[0] = '\0';
    for (int i = 0; i < 16; i++)
        strcat(batch, "GET /json HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_send_str(fd, batch);
    for (int i = 0; i < 16; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_string_equal(r.body, "{\"message\":\"Hello, World!\"}");
        fht_response_free(&r);
    }
    /* HEAD: the length, no body. */
    fht_send_str(fd, "HEAD /json HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 200);
    assert_true(fht_header(&r, "Content-Length", cl, sizeof(cl)));
    assert_string_equal(cl, "27");
    assert_int_equal(r.body_len, 0);
    fht_response_free(&r);
    fht_close(fd);
}

static void test_handler_scope(void **state) {
    (void)state;
    fht_response_t r;
    fht_exchange("GET /where HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_string_equal(r.body, "{\"handler_in_arena\":true,\"arena_is_request\":true}");
    fht_response_free(&r);
}

static void test_echo_bodies(void **state) {
    (void)state;
    char buf[1024];
    fht_response_t r;
    fht_exchange(post(buf, sizeof(buf), "POST", "/echo", "application/json; charset=utf-8",
                      "{ \"a\" : [1, 2.5, \"\\u00e9\", null, true] , \"b\": {} }"),
                 &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"a\":[1,2.5,\"\xc3\xa9\",null,true],\"b\":{}}");
    fht_response_free(&r);
    /* Chunked request body. */
    fht_exchange(
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"k\":\r\n4\r\n[42]\r\n1\r\n}\r\n0\r\n\r\n",
        &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"k\":[42]}");
    fht_response_free(&r);
}

static void test_refused_bodies(void **state) {
    (void)state;
    char buf[1024], v[128];
    fht_response_t r;
    /* 400 with the position of the error. */
    fht_exchange(post(buf, sizeof(buf), "POST", "/echo", "application/json", "{\"a\":\n [1,,2]}"),
                 &r);
    assert_int_equal(r.status, 400);
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/problem+json");
    json_t *p = body_json(&r);
    assert_string_equal(str_member(p, "title"), "Bad Request");
    assert_string_equal(str_member(p, "instance"), "/echo");
    assert_int_equal(json_integer_value(json_object_get(p, "line")), 2);
    assert_int_equal(json_integer_value(json_object_get(p, "column")), 5); /* the second comma */
    assert_non_null(strstr(str_member(p, "detail"), "unexpected token"));
    json_decref(p);
    fht_response_free(&r);
    /* 415 for a form post, with Accept. */
    fht_exchange(
        post(buf, sizeof(buf), "POST", "/echo", "application/x-www-form-urlencoded", "a=1"), &r);
    assert_int_equal(r.status, 415);
    assert_true(fht_header(&r, "Accept", v, sizeof(v)));
    assert_string_equal(v, "application/json");
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/problem+json");
    p = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 415);
    assert_string_equal(str_member(p, "title"), "Unsupported Media Type");
    assert_string_equal(str_member(p, "instance"), "/echo");
    json_decref(p);
    fht_response_free(&r);
    /* 413 over the route's own limit; the connection stays usable. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, post(buf, sizeof(buf), "POST", "/echo-small", "application/json",
                          "{\"text\":\"this is longer than 32 bytes\"}"));
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "application/problem+json");
    p = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(p, "status")), 413);
    assert_string_equal(str_member(p, "title"), fh_status_reason(413));
    json_decref(p);
    fht_response_free(&r);
    fht_send_str(fd, post(buf, sizeof(buf), "POST", "/echo-small", "application/json", "[1]"));
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "[1]");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_validation_problem(void **state) {
    (void)state;
    char buf[1024];
    fht_response_t r;
    fht_exchange(post(buf, sizeof(buf), "POST", "/users", "application/json",
                      "{\"name\":\"\",\"age\":200,\"role\":\"root\",\"address\":{},\"extra\":1}"),
                 &r);
    assert_int_equal(r.status, 422);
    json_t *p = body_json(&r);
    assert_string_equal(str_member(p, "title"), "Unprocessable Content");
    assert_string_equal(str_member(p, "detail"), "5 validation errors");
    json_t *errors = json_object_get(p, "errors");
    assert_int_equal(json_array_size(errors), 5);
    static const char *const pointers[] = { "#/name", "#/age", "#/role", "#/address/city",
                                            "#/extra" };
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(str_member(json_array_get(errors, i), "pointer"), pointers[i]);
    json_decref(p);
    fht_response_free(&r);

    fht_exchange(post(buf, sizeof(buf), "POST", "/users", "application/json",
                      "{\"name\":\"Ada\",\"age\":36,\"address\":{\"city\":\"London\"}}"),
                 &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body,
                        "{\"name\":\"Ada\",\"age\":36,\"role\":\"viewer\",\"city\":\"London\"}");
    fht_response_free(&r);
}

static void test_problem_with_request_id(void **state) {
    (void)state;
    fht_response_t r;
    fht_exchange("GET /problem HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(r.body, "{\"type\":\"https://example.com/probs/quota\","
                                "\"title\":\"Too Many Requests\",\"status\":429,"
                                "\"detail\":\"quota exhausted\",\"instance\":\"/problem\","
                                "\"request_id\":\"rid-0042\",\"left\":0}");
    fht_response_free(&r);
    fht_exchange("GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    json_t *p = body_json(&r);
    assert_string_equal(str_member(p, "title"), "Not Found");
    json_decref(p);
    fht_response_free(&r);
}

static void test_deferred_json(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    /* The deferred one first: the second waits for it (request order). */
    fht_send_str(fd,
                 "GET /deferred HTTP/1.1\r\nHost: t\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"late\":\"yes\",\"in_arena\":true}");
    fht_response_free(&r);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "{\"message\":\"Hello, World!\"}");
    fht_response_free(&r);
    fht_close(fd);
}

/* Values made by one request, kept in the store, then read, changed and
 * deleted by later requests on other connections (and workers). */
static void test_store_across_requests(void **state) {
    (void)state;
    char buf[1024];
    fht_response_t r;
    for (int i = 0; i < 20; i++) {
        char path[32], body[128];
        snprintf(path, sizeof(path), "/store/k%d", i);
        snprintf(body, sizeof(body), "{\"n\":%d,\"tags\":[\"t%d\",{\"deep\":[%d]}],\"s\":\"%0*d\"}",
                 i, i, i, 40 + i, i);
        fht_exchange(post(buf, sizeof(buf), "PUT", path, "application/json", body), &r);
        assert_int_equal(r.status, 201);
        fht_response_free(&r);
    }
    /* Many other requests in between recycle the arenas the values came from. */
    for (int i = 0; i < 100; i++) {
        fht_exchange("GET /json HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        fht_response_free(&r);
    }
    fht_exchange(post(buf, sizeof(buf), "PATCH", "/store/k7", "application/json",
                      "{\"n\":700,\"added\":{\"x\":[1,2,3]}}"),
                 &r);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    for (int i = 0; i < 100; i++) {
        fht_exchange("GET /json HTTP/1.1\r\nHost: t\r\n\r\n", &r);
        fht_response_free(&r);
    }
    for (int i = 0; i < 20; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /store/k%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        fht_exchange(req, &r);
        assert_int_equal(r.status, 200);
        json_t *v = body_json(&r);
        assert_int_equal(json_integer_value(json_object_get(v, "n")), i == 7 ? 700 : i);
        json_t *deep = json_object_get(json_array_get(json_object_get(v, "tags"), 1), "deep");
        assert_int_equal(json_integer_value(json_array_get(deep, 0)), i);
        assert_int_equal(strlen(str_member(v, "s")), (size_t)(40 + i));
        if (i == 7)
            assert_int_equal(json_array_size(json_object_get(json_object_get(v, "added"), "x")), 3);
        json_decref(v);
        fht_response_free(&r);
    }
    fht_exchange("DELETE /store/k3 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 204);
    fht_response_free(&r);
    fht_exchange("GET /store/k3 HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 404);
    fht_response_free(&r);
    pthread_mutex_lock(&store_lock);
    assert_int_equal(json_object_size(store), 19);
    pthread_mutex_unlock(&store_lock);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_json),           cmocka_unit_test(test_handler_scope),
        cmocka_unit_test(test_echo_bodies),        cmocka_unit_test(test_refused_bodies),
        cmocka_unit_test(test_validation_problem), cmocka_unit_test(test_problem_with_request_id),
        cmocka_unit_test(test_deferred_json),      cmocka_unit_test(test_store_across_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
