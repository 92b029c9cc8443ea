/* Request accessors and response serialization, on requests built by hand
 * (no socket): query decoding, header lookup, rebase/pin, the builder's
 * output byte for byte, HEAD and bodyless statuses, header validation. */
#include <limits.h>

#include "request_fixture.h"

static fh__header_t hdrs[4];

/* A request as the parser would leave it, over the bytes of raw (the
 * fixture's fx_request builds one from its parts instead). */
static fh_request_t *make_request(const char *raw, fh_method_t m, int version) {
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, fx_worker.arena_cache), 0);
    fh_request_t *req = fh_arena_calloc(a, 1, sizeof(*req));
    req->arena = a;
    req->worker = &fx_worker;
    req->ops = &fx_ops;
    req->method = (uint8_t)m;
    req->version = (uint8_t)version;
    req->flags = FH__REQ_KEEP_ALIVE | FH__REQ_VERSION;
    req->state = FH__RS_HANDLING;
    fh__response_init(req);
    req->raw_begin = raw;
    req->raw_end = raw + strlen(raw);
    const char *sp = strchr(raw, ' ');
    req->method_str = (fh_str_t){ raw, (size_t)(sp - raw) };
    const char *t = sp + 1, *te = strchr(t, ' ');
    req->target = (fh_str_t){ t, (size_t)(te - t) };
    const char *q = memchr(t, '?', (size_t)(te - t));
    req->path = (fh_str_t){ t, (size_t)((q ? q : te) - t) };
    if (q)
        req->query = (fh_str_t){ q + 1, (size_t)(te - q - 1) };
    const char *h = strstr(raw, "\r\n") + 2;
    uint32_t n = 0;
    while (strncmp(h, "\r\n", 2) != 0 && n < 4) {
        const char *colon = strchr(h, ':'), *eol = strstr(h, "\r\n");
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        hdrs[n].name = (fh_str_t){ h, (size_t)(colon - h) };
        hdrs[n].value = (fh_str_t){ v, (size_t)(eol - v) };
        n++;
        h = eol + 2;
    }
    req->headers = fh_arena_alloc(a, sizeof(hdrs));
    memcpy(req->headers, hdrs, sizeof(hdrs));
    req->nheaders = n;
    req->body = (fh_str_t){ h + 2, strlen(h + 2) };
    fh_request_on_done(req, fx_capture, NULL);
    return req;
}

static void test_query_and_headers(void **state) {
    (void)state;
    const char *raw = "GET /a%20b/c?x=1&name=J%C3%B6rg+M&flag&empty=&x=2 HTTP/1.1\r\n"
                      "Host: example\r\nX-Multi: one\r\nx-multi: two\r\nAccept:  text/html\r\n\r\n";
    fh_request_t *req = make_request(raw, FH_METHOD_GET, 11);
    assert_true(fh_str_eq(fh_request_path(req), "/a%20b/c"));
    assert_true(fh_str_eq(fh_request_path_decoded(req), "/a b/c"));
    assert_true(fh_str_eq(fh_request_query(req, "x"), "1"));
    assert_true(fh_str_eq(fh_request_query(req, "name"), "J\xc3\xb6rg M"));
    fh_str_t flag = fh_request_query(req, "flag");
    assert_non_null(flag.ptr);
    assert_int_equal(flag.len, 0);
    assert_true(fh_str_eq(fh_request_query(req, "empty"), ""));
    assert_true(fh_str_absent(fh_request_query(req, "missing")));
    assert_true(fh_str_eq(fh_request_header(req, "host"), "example"));
    assert_true(fh_str_eq(fh_request_header(req, "X-MULTI"), "one"));
    assert_true(fh_str_eq(fh_request_header_nth(req, "x-multi", 1), "two"));
    assert_true(fh_str_absent(fh_request_header_nth(req, "x-multi", 2)));
    assert_true(fh_str_absent(fh_request_header(req, "cookie")));
    assert_int_equal(fh_request_header_count(req), 4);
    fh_send_status(&req->res, 204);
}

static void test_pin_moves_views(void **state) {
    (void)state;
    char raw[] = "POST /p?q=1 HTTP/1.1\r\nHost: h\r\n\r\nbody!";
    fh_request_t *req = make_request(raw, FH_METHOD_POST, 11);
    assert_int_equal(fh__request_pin(req), 0);
    memset(raw, 'Z', sizeof(raw) - 1); /* the read buffer is reused */
    assert_true(fh_str_eq(fh_request_path(req), "/p"));
    assert_true(fh_str_eq(fh_request_query(req, "q"), "1"));
    assert_true(fh_str_eq(fh_request_header(req, "Host"), "h"));
    assert_true(fh_str_eq(fh_request_body(req), "body!"));
    assert_true(fh_str_eq(fh_request_method(req), "POST"));
    fh_send_text(&req->res, 200, "ok");
}

static void test_builder_output(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_t *res = &req->res;
    assert_int_equal(fh_response_header(res, "X-One", "1"), 0);
    assert_int_equal(fh_response_headerf(res, "X-Two", "%d", 2), 0);
    assert_int_equal(fh_response_header(res, "Content-Length", "999"), 0); /* ignored */
    assert_int_equal(fh_send_text(res, 201, "made"), 0);
    assert_string_equal(fx_out, "HTTP/1.1 201 Created\r\nServer: t\r\n"
                                "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "X-One: 1\r\nX-Two: 2\r\nContent-Length: 4\r\n\r\nmade");
}

static void test_head_and_bodyless(void **state) {
    (void)state;
    fh_request_t *req = make_request("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_HEAD, 11);
    fh_send_text(&req->res, 200, "hello");
    assert_non_null(strstr(fx_out, "Content-Length: 5\r\n\r\n"));
    assert_int_equal(fx_out[fx_out_len - 1], '\n'); /* no body */

    req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_send_text(&req->res, 204, "ignored");
    assert_null(strstr(fx_out, "Content-Length"));
    assert_null(strstr(fx_out, "ignored"));

    req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_status(&req->res, 304);
    fh_response_end(&req->res);
    assert_null(strstr(fx_out, "Content-Length"));
}

static void test_connection_headers(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.0\r\nHost: h\r\n\r\n", FH_METHOD_GET, 10);
    fh_send_text(&req->res, 200, "x");
    assert_non_null(strstr(fx_out, "Connection: keep-alive\r\n"));

    req = make_request("GET / HTTP/1.0\r\n\r\n", FH_METHOD_GET, 10);
    req->flags = 0; /* no keep-alive */
    fh_send_text(&req->res, 200, "x");
    assert_non_null(strstr(fx_out, "Connection: close\r\n"));

    req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_header(&req->res, "Connection", "close");
    fh_send_text(&req->res, 200, "x");
    assert_non_null(strstr(fx_out, "Connection: close\r\n"));
    assert_true(fx_flags & FH__RES_CLOSE); /* the request is gone by now */
}

static void test_header_validation(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_t *res = &req->res;
    assert_int_equal(fh_response_header(res, "X-Evil", "a\r\nSet-Cookie: x"), FH_EHEADER_VALUE);
    assert_int_equal(fh_response_header(res, "X Bad", "v"), FH_EHEADER_VALUE);
    assert_int_equal(fh_response_header(res, "", "v"), FH_EHEADER_VALUE);
    assert_int_equal(fh_response_header(res, "X-Nul", "a\nb"), FH_EHEADER_VALUE);
    assert_int_equal(fh_response_header(res, "X-Ok", "v"), 0);
    assert_int_equal(fh_response_header(res, "x-ok", "w"), 0);
    assert_true(fh_str_eq(fh_response_header_get(res, "X-OK"), "v"));
    assert_int_equal(fh_response_header_set(res, "X-Ok", "z"), 0);
    assert_int_equal(fh_response_header_count(res), 1);
    assert_true(fh_str_eq(fh_response_header_get(res, "x-ok"), "z"));
    assert_int_equal(fh_response_header_remove(res, "X-OK"), 1);
    assert_int_equal(fh_response_status(res, 42), FH_EINVAL);
    /* Held as a connection holds it until the bytes are written, so the
     * final response may still be asked; released below. */
    fx_hold(req);
    fh_send_status(res, 418);
    assert_int_equal(fh_send_text(res, 200, "again"), FH_EALREADY_SENT);
    req->conn = NULL;
    fx_release(req);
    assert_non_null(strstr(fx_out, " 418 "));
    assert_null(strstr(fx_out, "Set-Cookie"));
}

static void test_body_append_and_large(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_t *res = &req->res;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(fh_response_printf(res, "%04d,", i), 0);
    fh_str_t b = fh_response_get_body(res);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(b.ptr + 4995, "0999,", 5);
    fh_response_end(res);
    assert_non_null(strstr(fx_out, "Content-Length: 5000\r\n\r\n0000,0001,"));
    assert_int_equal(fx_out_len, strstr(fx_out, "\r\n\r\n") - fx_out + 4 + 5000);
}

/* fh_response_printf formats the common conversions itself and hands the
 * rest, and output over 255 bytes, to vsnprintf: both kinds, mixed. */
static void test_body_printf_paths(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_response_t *res = &req->res;
    char big[300];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(fh_response_printf(res, "id=%.*s;", 2, "42xyz"), 0);
    assert_int_equal(fh_response_printf(res, "%5.1f;", 2.25), 0);
    assert_int_equal(fh_response_printf(res, "%lld;%zu;%x;", LLONG_MIN, (size_t)7, 255u), 0);
    assert_int_equal(fh_response_printf(res, "%s;", big), 0);
    assert_int_equal(fh_response_printf(res, "%s|%-3s|", "a", "b"), 0);
    char want[512];
    int n = snprintf(want, sizeof(want), "id=42;%5.1f;%lld;7;ff;%s;a|b  |", 2.25, LLONG_MIN, big);
    fh_str_t b = fh_response_get_body(res);
    assert_int_equal(b.len, (size_t)n);
    assert_memory_equal(b.ptr, want, (size_t)n);
    assert_int_equal(fh_send_textf(res, 200, "User ID: %.*s", 3, "123"), 0);
    assert_non_null(strstr(fx_out, "Content-Length: 12\r\n\r\nUser ID: 123"));
}

static int commit_calls;
static void on_commit(fh_response_t *res, void *data) {
    commit_calls++;
    fh_response_header(res, "X-Hook", data);
}

static void test_commit_hook_and_raw(void **state) {
    (void)state;
    fh_request_t *req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    commit_calls = 0;
    fh_response_on_commit(&req->res, on_commit, "yes");
    fh_send_text(&req->res, 200, "x");
    assert_int_equal(commit_calls, 1);
    assert_non_null(strstr(fx_out, "X-Hook: yes\r\n"));

    req = make_request("GET / HTTP/1.1\r\nHost: h\r\n\r\n", FH_METHOD_GET, 11);
    fh_send_raw(&req->res, "HTTP/1.1 200 OK\r\n\r\n", 19, FH_RAW_COPY);
    assert_string_equal(fx_out, "HTTP/1.1 200 OK\r\n\r\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_and_headers),     cmocka_unit_test(test_pin_moves_views),
        cmocka_unit_test(test_builder_output),        cmocka_unit_test(test_head_and_bodyless),
        cmocka_unit_test(test_connection_headers),    cmocka_unit_test(test_header_validation),
        cmocka_unit_test(test_body_append_and_large), cmocka_unit_test(test_body_printf_paths),
        cmocka_unit_test(test_commit_hook_and_raw),
    };
    return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
