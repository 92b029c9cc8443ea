/* Steady state makes no malloc call per request.
 *
 * This program links tests/support/alloc_count.c, which replaces malloc,
 * calloc, realloc, free and the aligned variants, so every allocation in the
 * process — libuv's, llhttp's, the arena's, libc's — goes through its
 * counters and on to the real allocator. After a warm-up, the test thread (which itself allocates
 * nothing: fixed buffers, raw send/recv) sends thousands of keep-alive and
 * pipelined requests and checks that the count did not move. GET /json
 * builds {"message":"Hello, World!"} with jansson and serializes it on every
 * request: its values and output live in the request's arena.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "Hello, World!");
    if (fh_str_eq(path, "/user")) {
        /* A little more work: a header, a query value, printf into the body. */
        fh_response_header(res, "X-Id", "1");
        return fh_send_textf(res, 200, "User ID: %.*s", FH_STR_FMT(fh_request_query(req, "id")));
    }
    if (fh_str_eq(path, "/json")) {
        /* TechEmpower's JSON test: a new object built and serialized by
         * jansson on every request (into the request's arena). */
        return fh_send_json_new(res, 200, json_pack("{s:s}", "message", "Hello, World!"));
    }
    return fh_send_status(res, 404);
}

static const char hello_req[] = "GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: zero\r\n\r\n";
static const char user_req[] = "GET /user?id=42 HTTP/1.1\r\nHost: t\r\n\r\n";
static const char json_req[] = "GET /json HTTP/1.1\r\nHost: t\r\nUser-Agent: zero\r\n\r\n";

/* The byte length of one response to req (every response to it has the
 * same length: the Date line is fixed-width). */
static size_t response_len(int fd, const char *req) {
    fht_send_str(fd, req);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    size_t n = strlen(r.head) + r.body_len;
    fht_response_free(&r);
    return n;
}

/* The handler behind a router's pattern, for the metrics' route series. */
static int routed(fh_request_t *req, fh_response_t *res, void *data) {
    fh_request_set_route(req, "/");
    return handler(req, res, data);
}

/* With metrics (NULL: none), counted into by every request. */
static void check_zero_with(const char *req, int conns, int pipelined, int warm, int rounds,
                            fh_metrics_t *metrics) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = metrics ? routed : handler;
    cfg.threads = 2;
    cfg.metrics = metrics;
    fht_start(&cfg);
    int fds[8];
    size_t rlen = 0;
    for (int c = 0; c < conns; c++) {
        fds[c] = fht_connect(fht_port);
        rlen = response_len(fds[c], req);
    }
    for (int c = 0; c < conns; c++)
        fht_round_trips(fds[c], req, pipelined, warm, rlen);

    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    fht_alloc_count_start();
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < conns; c++)
            fht_round_trips(fds[c], req, pipelined, 1, rlen);
    fht_alloc_count_stop();
    fh_server_stats(fht_server, &after);
    unsigned long mallocs = fht_alloc_count_mallocs(), frees = fht_alloc_count_frees();
    unsigned long reqs = (unsigned long)(after.requests - before.requests);
    print_message("%lu requests (%d conns x %d pipelined): %lu malloc, %lu free\n", reqs, conns,
                  pipelined, mallocs, frees);
    assert_int_equal(reqs, (unsigned long)rounds * (unsigned long)conns * (unsigned long)pipelined);
    assert_int_equal(mallocs, 0);
    assert_int_equal(frees, 0);
    if (metrics) {
        /* Every answer is read, so every request is counted (warm-up and
         * the first one per connection included) once its worker has gone
         * past the write that sent it: a scrape may be behind for a moment,
         * never ahead. */
        const char *line = "fasthttp_requests_total{route=\"/\",method=\"GET\",code=\"2xx\"} ";
        unsigned long want = (unsigned long)conns *
                             (1ul + (unsigned long)(warm + rounds) * (unsigned long)pipelined);
        unsigned long got = 0;
        for (uint64_t until = fht_now_ms() + 5000; got != want && fht_now_ms() < until;) {
            char *text;
            size_t len;
            assert_int_equal(fh_metrics_text(metrics, &text, &len), 0);
            const char *at = strstr(text, line);
            assert_non_null(at);
            got = strtoul(at + strlen(line), NULL, 10);
            free(text);
            assert_true(got <= want);
            if (got != want)
                usleep(1000);
        }
        assert_int_equal(got, want);
    }
    for (int c = 0; c < conns; c++)
        fht_close(fds[c]);
    fht_stop();
}

static void check_zero(const char *req, int conns, int pipelined, int warm, int rounds) {
    check_zero_with(req, conns, pipelined, warm, rounds, NULL);
}

/* Metrics count every request (per thread, into memory made with the
 * server) without an allocation; they counted them all. */
static void test_metrics_pipelined_zero_malloc(void **state) {
    (void)state;
    fh_metrics_t *m;
    assert_int_equal(fh_metrics_new(&m, NULL), 0);
    check_zero_with(hello_req, 4, 16, 100, 500, m);
    fh_metrics_free(m);
}

static void test_keep_alive_zero_malloc(void **state) {
    (void)state;
    check_zero(hello_req, 4, 1, 200, 5000);
}

static void test_pipelined_zero_malloc(void **state) {
    (void)state;
    check_zero(hello_req, 4, 16, 100, 500);
}

static void test_query_printf_zero_malloc(void **state) {
    (void)state;
    check_zero(user_req, 2, 8, 100, 500);
}

static void test_json_keep_alive_zero_malloc(void **state) {
    (void)state;
    check_zero(json_req, 4, 1, 200, 5000);
}

static void test_json_pipelined_zero_malloc(void **state) {
    (void)state;
    check_zero(json_req, 4, 16, 100, 500);
}

/* The counters themselves work: a malloc and a free while counting are
 * seen, and nothing once counting is off. */
static void test_counter_sees_malloc(void **state) {
    (void)state;
    fht_alloc_count_start();
    void *volatile p = malloc(10);
    free(p);
    fht_alloc_count_stop();
    p = malloc(10);
    free(p);
    assert_int_equal(fht_alloc_count_mallocs(), 1);
    assert_int_equal(fht_alloc_count_frees(), 1);
}

/* ... and so are the server threads': a new connection allocates. */
static void test_counter_sees_server_threads(void **state) {
    (void)state;
    fht_start_handler(handler, NULL, 1);
    static char in[4096];
    fht_alloc_count_start();
    int fd = fht_connect(fht_port); /* socket(): no malloc here */
    send(fd, hello_req, sizeof(hello_req) - 1, MSG_NOSIGNAL);
    ssize_t got = recv(fd, in, sizeof(in), 0);
    fht_alloc_count_stop();
    assert_true(got > 0);
    assert_true(fht_alloc_count_mallocs() >= 1); /* the connection struct */
    fht_close(fd);
    fht_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_sees_malloc),
        cmocka_unit_test(test_counter_sees_server_threads),
        cmocka_unit_test(test_keep_alive_zero_malloc),
        cmocka_unit_test(test_pipelined_zero_malloc),
        cmocka_unit_test(test_query_printf_zero_malloc),
        cmocka_unit_test(test_json_keep_alive_zero_malloc),
        cmocka_unit_test(test_json_pipelined_zero_malloc),
        cmocka_unit_test(test_metrics_pipelined_zero_malloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
