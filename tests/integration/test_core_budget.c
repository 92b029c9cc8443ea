/* One request's memory is bounded. A handler that keeps allocating, from
 * the arena or as jansson values, stops at limits.max_request_memory and
 * its request is answered 413 (a problem document under the JSON error
 * handler) while the connection goes on; JSON bodies of a million keys (8
 * MB, under the 8 MiB body limit), a million levels or a million items are
 * refused by the parser's shape limits in milliseconds, naming the limit,
 * with the process's RSS growing by less than 64 MB. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testutil.h"

enum { BUDGET = 8 << 20 };
static int blocks; /* 1 MiB blocks /hog got before it was refused */

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/hog")) {
        blocks = 0;
        while (fh_alloc(req, 1 << 20))
            blocks++;
        return FH_ENOMEM;
    }
    if (fh_str_eq(path, "/json-hog")) {
        /* jansson values of the request's scope count too. */
        json_t *a = json_array();
        for (int i = 0; a && i < 10000000; i++)
            if (json_array_append_new(a, json_string("a string of some length, again")) != 0)
                return FH_ENOMEM;
        return fh_send_json_new(res, 200, a);
    }
    if (fh_str_eq(path, "/parse")) {
        json_t *v;
        fh_json_error_t err;
        if (fh_request_json(req, &v, &err))
            return fh_send_json_error(res, &err);
        json_decref(v);
        return fh_send_text(res, 200, "parsed");
    }
    return fh_send_text(res, 200, "ok");
}

static int setup(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.error_handler = fh_json_error_handler;
    cfg.threads = 2;
    cfg.limits.max_request_memory = BUDGET;
    fht_start(&cfg);
    return 0;
}

static void test_arena_past_the_budget_is_413(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    for (int i = 0; i < 3; i++) {
        fht_send_str(fd, "GET /hog HTTP/1.1\r\nHost: t\r\n\r\n");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 413);
        char ct[64];
        assert_true(fht_header(&r, "Content-Type", ct, sizeof(ct)));
        assert_string_equal(ct, "application/problem+json");
        fht_response_free(&r);
        assert_true(blocks >= 4 && blocks < BUDGET >> 20);
    }
    /* The connection goes on. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "ok");
    fht_close(fd);
}

static void test_jansson_past_the_budget_is_413(void **state) {
    (void)state;
    size_t before = fht_rss_kb();
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /json-hog HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "ok");
    fht_close(fd);
    assert_true(fht_rss_kb() - before < 64 * 1024);
}

/* The printable ASCII a JSON key holds without an escape. */
static char key_char(size_t i) {
    static char set[96];
    static size_t n;
    if (!n)
        for (int c = 0x20; c < 0x7f; c++)
            if (c != '"' && c != '\\')
                set[n++] = (char)c;
    return set[i % n];
}

/* {"<k>":1,...} with n distinct keys, the shortest first: under 8 MiB for
 * a million. */
static char *million_keys(size_t n, size_t *len) {
    char *p = malloc(n * 10 + 2);
    assert_non_null(p);
    size_t k = 0, made = 0, width = 1, per = 92;
    p[k++] = '{';
    while (made < n) {
        for (size_t i = 0; i < per && made < n; i++, made++) {
            if (made)
                p[k++] = ',';
            p[k++] = '"';
            size_t j = i;
            for (size_t w = 0; w < width; w++, j /= 92)
                p[k++] = key_char(j);
            memcpy(p + k, "\":1", 3);
            k += 3;
        }
        width++;
        per *= 92;
    }
    p[k++] = '}';
    *len = k;
    return p;
}

static void post(const char *body, size_t len, int status, const char *limit) {
    char head[256];
    int hn = snprintf(head, sizeof(head),
                      "POST /parse HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      len);
    int fd = fht_connect(fht_port);
    uint64_t t0 = fht_now_ms();
    fht_send(fd, head, (size_t)hn);
    fht_send(fd, body, len);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    uint64_t ms = fht_now_ms() - t0;
    assert_int_equal(r.status, status);
    if (limit)
        assert_non_null(strstr(r.body, limit));
    fht_response_free(&r);
    /* Another client is answered at once after it. */
    int other = fht_connect(fht_port);
    fht_send_str(other, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(other, 200, "ok");
    fht_close(other);
    fht_close(fd);
    assert_true(ms < 2000);
}

static void test_huge_json_bodies_are_cheap(void **state) {
    (void)state;
    size_t before = fht_rss_kb();
    size_t len;
    char *keys = million_keys(1000000, &len);
    assert_true(len < (8u << 20)); /* under the body limit: the parser sees it */
    post(keys, len, 400, "max_members");
    free(keys);
    size_t n = 1000000;
    char *deep = malloc(2 * n);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    post(deep, 2 * n, 400, "max_depth");
    free(deep);
    char *arr = malloc(2 * n + 1);
    arr[0] = '[';
    for (size_t i = 0; i < n; i++) {
        arr[1 + 2 * i] = '1';
        arr[2 + 2 * i] = ',';
    }
    arr[2 * n] = ']';
    post(arr, 2 * n + 1, 400, "max_members");
    free(arr);
    /* The client's own buffers count in this process's RSS too. */
    assert_true(fht_rss_kb() - before < 64 * 1024);
    post("{\"a\":[1,2,{\"b\":null}]}", 22, 200, "parsed");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_past_the_budget_is_413),
        cmocka_unit_test(test_jansson_past_the_budget_is_413),
        cmocka_unit_test(test_huge_json_bodies_are_cheap),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
