/* The rate limiter over real sockets: a burst, then 429 with Retry-After
 * and RateLimit-* headers, refill over time, separate buckets per client
 * (through a trusted proxy header), IPv6 prefixes, eviction in a bounded
 * table, headers off, and bad options. One worker thread, so every
 * connection meets the same table. */
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (fh_str_eq(fh_request_path(req), "/fail"))
        return -1;
    return fh_send_text(res, 200, "ok");
}

typedef struct seen {
    int status;
    char remaining[16], limit[16], reset[16], retry[16], policy[32];
} seen_t;

static seen_t hit(const char *path, const char *client) {
    char req[256];
    if (client)
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: %s\r\n\r\n",
                 path, client);
    else
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    fht_response_t r;
    fht_exchange(req, &r);
    seen_t s;
    memset(&s, 0, sizeof(s));
    s.status = r.status;
    snprintf(s.remaining, sizeof(s.remaining), "%s", fht_hdr(&r, "RateLimit-Remaining"));
    snprintf(s.limit, sizeof(s.limit), "%s", fht_hdr(&r, "RateLimit-Limit"));
    snprintf(s.reset, sizeof(s.reset), "%s", fht_hdr(&r, "RateLimit-Reset"));
    snprintf(s.retry, sizeof(s.retry), "%s", fht_hdr(&r, "Retry-After"));
    snprintf(s.policy, sizeof(s.policy), "%s", fht_hdr(&r, "RateLimit-Policy"));
    fht_response_free(&r);
    return s;
}

static void test_burst_then_429(void **state) {
    (void)state;
    fh_rate_limit_options_t o = { .rate = 2, .burst = 3 };
    fh_middleware_t m;
    assert_int_equal(fh_rate_limit_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    const char *left[] = { "2", "1", "0" };
    for (int i = 0; i < 3; i++) {
        seen_t s = hit(i == 1 ? "/fail" : "/", NULL);
        assert_int_equal(s.status, i == 1 ? 500 : 200); /* errors count and get headers too */
        assert_string_equal(s.limit, "3");
        assert_string_equal(s.remaining, left[i]);
        assert_string_equal(s.policy, "3;w=2");
        assert_string_equal(s.retry, "");
    }
    seen_t s = hit("/", NULL);
    assert_int_equal(s.status, 429);
    assert_string_equal(s.retry, "1"); /* one token back in 0.5 s */
    assert_string_equal(s.remaining, "0");
    assert_string_equal(s.limit, "3");
    assert_string_equal(s.reset, "2"); /* full again in 1.5 s */
    assert_string_equal(s.policy, "3;w=2");
    /* A token comes back after half a second. */
    usleep(600 * 1000);
    s = hit("/", NULL);
    assert_int_equal(s.status, 200);
    assert_string_equal(s.remaining, "0");
    assert_int_equal(hit("/", NULL).status, 429);
    fht_stop();
    fh_middleware_release(&m);
}

static void test_clients_behind_proxy(void **state) {
    (void)state;
    fh_rate_limit_options_t o = { .rate = 0.5, .burst = 2, .trusted_header = "X-Forwarded-For" };
    fh_middleware_t m;
    assert_int_equal(fh_rate_limit_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    /* The last entry is the client the proxy saw; the first is spoofable. */
    assert_int_equal(hit("/", "6.6.6.6, 10.0.0.1").status, 200);
    assert_int_equal(hit("/", "7.7.7.7, 10.0.0.1").status, 200);
    seen_t s = hit("/", "10.0.0.1");
    assert_int_equal(s.status, 429);
    assert_string_equal(s.retry, "2");                       /* 0.5 tokens per second */
    assert_int_equal(hit("/", "10.0.0.1:5555").status, 429); /* a port is ignored */
    assert_int_equal(hit("/", "10.0.0.2").status, 200);      /* another client */
    /* IPv6: one /64 is one client. */
    assert_int_equal(hit("/", "2001:db8:1:2::1").status, 200);
    assert_int_equal(hit("/", "[2001:db8:1:2:ffff::9]:443").status, 200);
    assert_int_equal(hit("/", "2001:db8:1:2::77").status, 429);
    assert_int_equal(hit("/", "2001:db8:1:3::1").status, 200);
    /* IPv4-mapped IPv6 is the IPv4 client. */
    assert_int_equal(hit("/", "::ffff:10.0.0.1").status, 429);
    /* Garbage falls back to the peer (127.0.0.1), which has tokens. */
    assert_int_equal(hit("/", "not-an-ip").status, 200);
    assert_int_equal(hit("/", "").status, 200);
    assert_int_equal(hit("/", NULL).status, 429); /* the peer's third request */
    fht_stop();
    fh_middleware_release(&m);
}

static void test_bounded_table(void **state) {
    (void)state;
    /* 8 buckets: one set. A drained client is forgotten once 8 others
     * came after it, and starts again with a full bucket. */
    fh_rate_limit_options_t o = {
        .rate = 0.1, .burst = 1, .max_clients = 8, .trusted_header = "X-Real-IP", .no_headers = true
    };
    fh_middleware_t m;
    assert_int_equal(fh_rate_limit_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    char req[256];
    fht_response_t r;
    const char *fmt = "GET / HTTP/1.1\r\nHost: t\r\nX-Real-IP: 192.0.2.%d\r\n\r\n";
    snprintf(req, sizeof(req), fmt, 1);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 200);
    assert_false(fht_header(&r, "RateLimit-Limit", NULL, 0)); /* no_headers */
    fht_response_free(&r);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 429);
    assert_true(fht_header(&r, "RateLimit-Limit", NULL, 0)); /* a 429 always says why */
    fht_response_free(&r);
    /* 7 more clients fill the set; client 1 is still known. */
    for (int i = 2; i <= 8; i++) {
        snprintf(req, sizeof(req), fmt, i);
        fht_exchange(req, &r);
        assert_int_equal(r.status, 200);
        fht_response_free(&r);
    }
    snprintf(req, sizeof(req), fmt, 1);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 429);
    fht_response_free(&r);
    /* A ninth client evicts the least recently seen: client 2. */
    snprintf(req, sizeof(req), fmt, 9);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    snprintf(req, sizeof(req), fmt, 2);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 200); /* forgotten: a full bucket again */
    fht_response_free(&r);
    snprintf(req, sizeof(req), fmt, 1);
    fht_exchange(req, &r);
    assert_int_equal(r.status, 429);
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

static void test_bad_options(void **state) {
    (void)state;
    fh_middleware_t m;
    fh_rate_limit_options_t o = { 0 };
    assert_int_equal(fh_rate_limit_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "rate_limit.rate: must be > 0"));
    assert_int_equal(fh_rate_limit_new(&m, NULL), FH_ECONFIG);
    o = (fh_rate_limit_options_t){ .rate = -1 };
    assert_int_equal(fh_rate_limit_new(&m, &o), FH_ECONFIG);
    o = (fh_rate_limit_options_t){ .rate = 1, .ipv6_prefix = 129 };
    assert_int_equal(fh_rate_limit_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "rate_limit.ipv6_prefix: 129"));
    o = (fh_rate_limit_options_t){ .rate = 1, .max_clients = (1u << 24) + 1 };
    assert_int_equal(fh_rate_limit_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "rate_limit.max_clients"));
    o = (fh_rate_limit_options_t){ .rate = 1, .trusted_header = "X Forwarded" };
    assert_int_equal(fh_rate_limit_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "rate_limit.trusted_header"));
    /* burst defaults to the rate rounded up. */
    o = (fh_rate_limit_options_t){ .rate = 2.5 };
    assert_int_equal(fh_rate_limit_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    seen_t s = hit("/", NULL);
    assert_string_equal(s.limit, "3");
    assert_string_equal(s.remaining, "2");
    fht_stop();
    fh_middleware_release(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_429),
        cmocka_unit_test(test_clients_behind_proxy),
        cmocka_unit_test(test_bounded_table),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
