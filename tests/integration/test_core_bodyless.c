/* Responses without content (core/response.c): 204 and 304 carry no body
 * and no content headers — no Content-Type, no Content-Length — however the
 * handler answered (fh_send_status, fh_send with a type and a body,
 * fh_send_text, a Content-Type header of its own), the headers it set
 * otherwise stay, and the connection goes on with the next request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t p = fh_request_path(req);
    if (fh_str_eq(p, "/status-204"))
        return fh_send_status(res, 204);
    if (fh_str_eq(p, "/send-204"))
        return fh_send(res, 204, "application/json", "{}", 2);
    if (fh_str_eq(p, "/header-204")) {
        fh_response_header(res, "Content-Type", "text/html");
        fh_response_header(res, "X-Kept", "yes");
        return fh_send_status(res, 204);
    }
    if (fh_str_eq(p, "/status-304")) {
        fh_response_header(res, "ETag", "\"v1\"");
        return fh_send_status(res, 304);
    }
    if (fh_str_eq(p, "/text-304"))
        return fh_send_text(res, 304, "not sent");
    if (fh_str_eq(p, "/status-200"))
        return fh_send_status(res, 200);
    return fh_send_status(res, 404);
}

static fh_server_t *server;
static int port;

static int setup(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.threads = 1;
    cfg.handler = handler;
    server = fht_server_start(&cfg);
    port = fh_server_port(server);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fht_server_stop(server);
    return 0;
}

/* Sends one request on fd and reads its answer, checking no content
 * header is in it. */
static void bodyless(int fd, const char *method, const char *path, int status) {
    char req[256];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
    fht_send_str(fd, req);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, strcmp(method, "HEAD") == 0), 0);
    assert_int_equal(r.status, status);
    char v[128];
    assert_false(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_false(fht_header(&r, "Content-Length", v, sizeof(v)));
    assert_false(fht_header(&r, "Transfer-Encoding", v, sizeof(v)));
    assert_true(fht_header(&r, "Date", v, sizeof(v)));
    assert_int_equal(r.body_len, 0);
    /* The head ends the response: nothing follows it. */
    assert_non_null(strstr(r.head, "\r\n\r\n"));
    fht_response_free(&r);
}

static void test_204_and_304_have_no_content_headers(void **state) {
    (void)state;
    int fd = fht_connect(port);
    bodyless(fd, "GET", "/status-204", 204);
    bodyless(fd, "GET", "/send-204", 204);
    bodyless(fd, "GET", "/header-204", 204);
    bodyless(fd, "HEAD", "/status-204", 204);
    bodyless(fd, "GET", "/status-304", 304);
    bodyless(fd, "GET", "/text-304", 304);
    /* The same connection still answers: no stray body bytes were sent. */
    fht_send_str(fd, "GET /status-200 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    char v[128];
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/plain; charset=utf-8");
    assert_string_equal(r.body, "OK\n");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_other_headers_stay(void **state) {
    (void)state;
    int fd = fht_connect(port);
    fht_send_str(fd, "GET /header-204 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /status-304 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    char v[128];
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 204);
    assert_true(fht_header(&r, "X-Kept", v, sizeof(v)));
    assert_string_equal(v, "yes");
    fht_response_free(&r);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 304);
    assert_true(fht_header(&r, "ETag", v, sizeof(v)));
    assert_string_equal(v, "\"v1\"");
    assert_false(fht_header(&r, "Content-Type", v, sizeof(v)));
    fht_response_free(&r);
    fht_close(fd);
}

/* A thousand bodyless answers pipelined in one write: every one framed
 * right, so the last is still read as its own response. */
static void test_pipelined(void **state) {
    (void)state;
    int fd = fht_connect(port);
    static const char one[] = "GET /send-204 HTTP/1.1\r\nHost: t\r\n\r\n";
    enum { N = 1000 };
    char *all = malloc(N * (sizeof(one) - 1));
    for (int i = 0; i < N; i++)
        memcpy(all + i * (sizeof(one) - 1), one, sizeof(one) - 1);
    fht_send(fd, all, N * (sizeof(one) - 1));
    free(all);
    for (int i = 0; i < N; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 204);
        assert_null(strstr(r.head, "Content-"));
        fht_response_free(&r);
    }
    fht_close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_204_and_304_have_no_content_headers),
        cmocka_unit_test(test_other_headers_stay),
        cmocka_unit_test(test_pipelined),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
