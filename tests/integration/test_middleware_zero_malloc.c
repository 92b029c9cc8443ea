/* Steady state with every built-in in the chain makes no malloc call per
 * request: the access log (per-thread buffer, a callback output), request
 * id, CORS, security headers, recovery, rate limit and gzip (one zlib
 * stream per thread, output in the arena), keep-alive and pipelined.
 *
 * Like test_zero_malloc, this program links tests/support/alloc_count.c,
 * which replaces the allocator entry points, and counts them once warm-up
 * is over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "testutil.h"

static char page[3000];

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (fh_str_eq(fh_request_path(req), "/big"))
        return fh_send(res, 200, "text/plain", page, sizeof(page)); /* compressed */
    return fh_send_text(res, 200, "Hello, World!");
}

static atomic_ulong logged_bytes;

static void sink(const char *lines, size_t len, void *data) {
    (void)lines;
    (void)data;
    atomic_fetch_add(&logged_bytes, len);
}

static const char gzip_req[] = "GET /big HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
                               "Accept-Encoding: gzip\r\n\r\n";

static void check_zero(const char *req, int pipelined, int rounds) {
    for (size_t i = 0; i < sizeof(page); i++)
        page[i] = (char)('a' + i % 7);
    fh_middleware_t mws[8];
    fh_access_log_options_t lo = {
        .format = FH_LOG_COMBINED, .write = sink, .latency = true, .request_id = true
    };
    assert_int_equal(fh_access_log_new(&mws[0], &lo), 0);
    assert_int_equal(fh_recover_new(&mws[1], NULL), 0);
    assert_int_equal(fh_request_id_new(&mws[2], NULL), 0);
    const char *origins[] = { "https://app.example", NULL };
    fh_cors_options_t co = { .origins = origins };
    assert_int_equal(fh_cors_new(&mws[3], &co), 0);
    assert_int_equal(fh_security_headers_new(&mws[4], NULL), 0);
    fh_rate_limit_options_t ro = { .rate = 1e7, .burst = 100000000 };
    assert_int_equal(fh_rate_limit_new(&mws[5], &ro), 0);
    assert_int_equal(fh_compress_new(&mws[6], NULL), 0);
    fht_start_chain(handler, NULL, 2, mws, 7);

    int fds[4];
    size_t rlen = 0;
    for (int c = 0; c < 4; c++) {
        fds[c] = fht_connect(fht_port);
        fht_send_str(fds[c], req);
        fht_response_t r;
        assert_int_equal(fht_read_response(fds[c], &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_true(fht_header(&r, "X-Request-ID", NULL, 0));
        assert_true(fht_header(&r, "Access-Control-Allow-Origin", NULL, 0));
        assert_true(fht_header(&r, "RateLimit-Remaining", NULL, 0));
        assert_int_equal(fht_header(&r, "Content-Encoding", NULL, 0), req == gzip_req);
        rlen = strlen(r.head) + r.body_len;
        fht_response_free(&r);
    }
    for (int c = 0; c < 4; c++)
        fht_round_trips(fds[c], req, pipelined, 200, rlen); /* warm every thread */

    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    fht_alloc_count_start();
    for (int c = 0; c < 4; c++)
        fht_round_trips(fds[c], req, pipelined, rounds, rlen);
    fht_alloc_count_stop();
    fh_server_stats(fht_server, &after);
    unsigned long mallocs = fht_alloc_count_mallocs();
    unsigned long reqs = (unsigned long)(after.requests - before.requests);
    print_message("%lu requests through 7 middleware (x%d pipelined): %lu malloc\n", reqs,
                  pipelined, mallocs);
    assert_int_equal(reqs, (unsigned long)rounds * 4ul * (unsigned long)pipelined);
    assert_int_equal(mallocs, 0);
    for (int c = 0; c < 4; c++)
        fht_close(fds[c]);
    fht_stop();
    atomic_store(&logged_bytes, 0);
    for (int i = 0; i < 7; i++)
        fh_middleware_release(&mws[i]);
    assert_true(atomic_load(&logged_bytes) > 0); /* the log really wrote */
}

static const char plain_req[] = "GET / HTTP/1.1\r\nHost: t\r\nOrigin: https://app.example\r\n"
                                "User-Agent: zero\r\n\r\n";
static void test_keep_alive(void **state) {
    (void)state;
    check_zero(plain_req, 1, 2000);
}

static void test_pipelined(void **state) {
    (void)state;
    check_zero(plain_req, 16, 200);
}

static void test_gzip(void **state) {
    (void)state;
    check_zero(gzip_req, 4, 300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_gzip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
