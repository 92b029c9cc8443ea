/* Streamed request bodies (body.h) over real sockets: a route that opts in
 * receives its body in chunks (Content-Length and chunked, byte for byte),
 * answers 401 before the body (no 100 Continue), gets 413 at once past its
 * own limit (declared) or when a chunked body grows past it, sends 100
 * Continue only once it reads, a body that stalls gets 408 and fn
 * FH_ETIMEDOUT, a client that leaves mid-body gives fn FH_ECANCELED, a
 * request after a streamed one on the same connection is answered, and a
 * handler that pauses on every chunk keeps memory flat while the client
 * sends 64 MiB (reading stops until it resumes). Routes without the option
 * still get their body whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static atomic_int handler_calls, canceled, timed_out, too_big;

/* One upload: bytes and a checksum (FNV-1a) of what arrived, the chunks,
 * and for the slow route a resume pending on a timer. */
typedef struct upload {
    fh_response_t *res;
    uint64_t size, sum;
    unsigned chunks;
    bool slow, timer, gone;
    bool early; /* answer 422 on the first chunk */
} upload_t;

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void resume_later(fh_response_t *res, void *data) {
    upload_t *u = data;
    u->timer = false;
    if (u->gone) {
        fh_response_end(res); /* the client left while the timer ran */
        return;
    }
    fh_request_body_resume(fh_response_request(res));
}

static int on_body(fh_request_t *req, fh_str_t chunk, int status, void *data) {
    (void)req;
    upload_t *u = data;
    if (status == FH_BODY_DATA) {
        if (u->early) {
            fh_send_text(u->res, 422, "early");
            return FH_BODY_CONTINUE;
        }
        u->size += chunk.len;
        u->sum = fnv(u->sum, chunk.ptr, chunk.len);
        u->chunks++;
        if (u->slow) {
            /* Every chunk "takes" 1 ms of work: read nothing meanwhile. */
            if (fht_later(u->res, 1, resume_later, u) != 0)
                return FH_BODY_CONTINUE;
            u->timer = true;
            return FH_BODY_PAUSE;
        }
        return FH_BODY_CONTINUE;
    }
    if (status == FH_BODY_END)
        return fh_send_textf(u->res, 201, "size=%llu sum=%016llx", (unsigned long long)u->size,
                             (unsigned long long)u->sum);
    if (status == FH_ECANCELED) {
        atomic_fetch_add(&canceled, 1);
        u->gone = true;
        if (!u->timer)
            fh_response_end(u->res);
    } else if (status == FH_ETIMEDOUT) {
        atomic_fetch_add(&timed_out, 1);
    } else if (status == FH_E2BIG) {
        atomic_fetch_add(&too_big, 1);
    }
    return 0;
}

/* PUT /up/:name (and /slow/:name): 401 for "Authorization: no" before the
 * body, else the body read in chunks. */
static int put_upload(fh_request_t *req, fh_response_t *res, void *data) {
    atomic_fetch_add(&handler_calls, 1);
    if (!fh_request_body_streaming(req))
        return fh_send_text(res, 500, "not streamed");
    if (fh_str_eq(fh_request_header(req, "Authorization"), "no"))
        return fh_send_text(res, 401, "no");
    upload_t *u = fh_alloc(req, sizeof(*u));
    if (!u)
        return FH_ENOMEM;
    *u = (upload_t){ .res = res,
                     .sum = 14695981039346656037ull,
                     .slow = data != NULL,
                     .early = fh_str_eq(fh_request_header(req, "Authorization"), "early") };
    return fh_request_body_read(req, on_body, u);
}

/* POST /whole: a body read whole as usual. */
static int post_whole(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t b = fh_request_body(req);
    return fh_send_textf(res, 200, "%s %zu", fh_request_body_streaming(req) ? "streamed" : "whole",
                         b.len);
}

static int slow_tag;
static const fh_body_options_t small = { .max_bytes = 1 << 20 };
static const fh_body_options_t big = { .max_bytes = 1ull << 32 };
static const fh_route_t routes[] = {
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/up/:name", put_upload, NULL, &small),
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/slow/:name", put_upload, &slow_tag, &big),
    FH_POST("/whole", post_whole),
    FH_ROUTES_END,
};

static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "/", routes, NULL), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.threads = 1;
    cfg.limits.max_body = 64 << 10; /* far below what streams */
    cfg.timeouts.body_ms = 500;
    fht_start_router(&cfg, router);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    return 0;
}

static void expect_sum(const fht_response_t *r, const char *b, size_t n) {
    char want[96];
    snprintf(want, sizeof(want), "size=%zu sum=%016llx", n,
             (unsigned long long)fnv(14695981039346656037ull, b, n));
    assert_int_equal(r->status, 201);
    assert_string_equal(r->body, want);
}

/* A request that closes the connection (Connection: close, HTTP/1.0)
 * whose body comes after its head, in later reads: the body is still read
 * (it was dropped, and the client got 408), and nothing after it is
 * parsed. */
static void test_connection_close(void **state) {
    (void)state;
    const char *heads[] = {
        "PUT /up/c HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 200000\r\n\r\n",
        "PUT /up/c HTTP/1.0\r\nContent-Length: 200000\r\n\r\n",
        "PUT /up/c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
    };
    char *b = fht_pattern(200000);
    for (size_t i = 0; i < 3; i++) {
        int fd = fht_connect(fht_port);
        fht_send_str(fd, heads[i]);
        usleep(50000); /* the head is read alone */
        if (i < 2) {
            fht_send(fd, b, 1000);
            usleep(20000);
            fht_send(fd, b + 1000, 200000 - 1000);
        } else {
            fht_send_str(fd, "3e8\r\n");
            fht_send(fd, b, 1000);
            usleep(20000);
            fht_send_str(fd, "\r\n30958\r\n");
            fht_send(fd, b + 1000, 200000 - 1000);
            fht_send_str(fd, "\r\n0\r\n\r\n");
        }
        /* A request after it is not answered. */
        fht_send_str(fd, "POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        expect_sum(&r, b, 200000);
        fht_response_free(&r);
        assert_int_equal(fht_read_response(fd, &r, 0), -1);
        fht_close(fd);
    }
    free(b);
}

static void test_content_length(void **state) {
    (void)state;
    size_t sizes[] = { 1, 100, 65536, 300000, 1 << 20 };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *b = fht_pattern(n);
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "PUT /up/a HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
        int fd = fht_connect(fht_port);
        fht_send(fd, head, (size_t)hl);
        fht_send_async(fd, b, n);
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        fht_send_async_join();
        expect_sum(&r, b, n);
        fht_response_free(&r);
        /* The connection stays open for the next request. */
        fht_send_str(fd, "POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
        fht_expect(fd, 200, "whole 3");
        fht_close(fd);
        free(b);
    }
}

static void test_chunked(void **state) {
    (void)state;
    size_t n = 200000;
    char *b = fht_pattern(n);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /up/c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t off = 0; off < n;) {
        size_t len = off % 3 == 0 ? 1 : 7001;
        if (len > n - off)
            len = n - off;
        char line[32];
        int ll = snprintf(line, sizeof(line), "%zx\r\n", len);
        fht_send(fd, line, (size_t)ll);
        fht_send(fd, b + off, len);
        fht_send(fd, "\r\n", 2);
        off += len;
    }
    fht_send_str(fd, "0\r\nX-Trailer: y\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    expect_sum(&r, b, n);
    fht_response_free(&r);
    /* And a pipelined request right behind it. */
    fht_send_str(
        fd, "PUT /up/d HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\nPOST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nzz");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    expect_sum(&r, "abc", 3);
    fht_response_free(&r);
    fht_expect(fd, 200, "whole 2");
    fht_close(fd);
    free(b);
}

/* A chunked body sent in two writes, split at every byte: whatever read
 * ends where (inside a chunk-size line, between a chunk's data and its CR,
 * between its CR and LF, inside the trailers), the body arrives whole, on
 * a route that reads on and on one that pauses at every chunk. */
static void test_chunked_every_split(void **state) {
    (void)state;
    static const char body[] = "5\r\nhello\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n"
                               "0\r\nX-T: y\r\n\r\n";
    const char *routes_put[] = { "/up/s", "/slow/s" };
    for (int route = 0; route < 2; route++) {
        for (size_t k = 1; k < sizeof(body) - 1; k++) {
            int fd = fht_connect(fht_port);
            char head[128];
            int hl = snprintf(head, sizeof(head),
                              "PUT %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                              routes_put[route]);
            fht_send(fd, head, (size_t)hl);
            fht_send(fd, body, k);
            usleep(15000); /* read apart: two batches */
            fht_send(fd, body + k, sizeof(body) - 1 - k);
            fht_response_t r;
            assert_int_equal(fht_read_response(fd, &r, 0), 0);
            if (r.status != 201)
                fail_msg("split at %zu on %s: %d %s", k, routes_put[route], r.status, r.body);
            expect_sum(&r, "helloabc0123456789abcdef", 24);
            fht_response_free(&r);
            fht_close(fd);
        }
    }
}

static void test_early_answers(void **state) {
    (void)state;
    int calls = atomic_load(&handler_calls);
    /* Declared past the route's limit: 413 at once, the handler never runs,
     * and no 100 Continue. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /up/x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                     "Content-Length: 1048577\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    fht_close(fd);
    assert_int_equal(atomic_load(&handler_calls), calls);
    /* Exactly at the limit it streams. */
    size_t n = 1 << 20;
    char *b = fht_pattern(n);
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "PUT /up/x HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    fd = fht_connect(fht_port);
    fht_send(fd, head, (size_t)hl);
    fht_send_async(fd, b, n);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    fht_send_async_join();
    expect_sum(&r, b, n);
    fht_response_free(&r);
    fht_close(fd);
    free(b);
    /* 401 from the handler before the body; no 100 Continue, and the
     * connection closes after the answer. */
    fd = fht_connect(fht_port);
    fht_send_str(fd,
                 "PUT /up/x HTTP/1.1\r\nHost: t\r\nAuthorization: no\r\nExpect: 100-continue\r\n"
                 "Content-Length: 1000000\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.body, "no");
    assert_string_equal(fht_hdr(&r, "Connection"), "close");
    fht_response_free(&r);
    fht_close(fd);
    /* A chunked body past the limit: fn learns it, the client gets 413. */
    int big0 = atomic_load(&too_big);
    fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /up/y HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    char *chunk = fht_pattern(600000);
    fht_send_str(fd, "927c0\r\n");
    fht_send(fd, chunk, 600000);
    fht_send_str(fd, "\r\n927c0\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    fht_close(fd);
    free(chunk);
    assert_int_equal(atomic_load(&too_big), big0 + 1);
    /* fn answers on the first chunk, which came in the head's own read:
     * the answer, then the end of the connection; the next request of the
     * batch is not parsed. */
    const char *early[] = {
        "PUT /up/e HTTP/1.1\r\nHost: t\r\nAuthorization: early\r\nContent-Length: 5\r\n\r\n"
        "hello"
        "GET /whole HTTP/1.1\r\nHost: t\r\n\r\n",
        "PUT /up/e HTTP/1.1\r\nHost: t\r\nAuthorization: early\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < 2; i++) {
        fd = fht_connect(fht_port);
        fht_send_str(fd, early[i]);
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 422);
        assert_string_equal(r.body, "early");
        assert_string_equal(fht_hdr(&r, "Connection"), "close");
        fht_response_free(&r);
        assert_int_equal(fht_read_response(fd, &r, 0), -1); /* closed: nothing more */
        fht_close(fd);
    }
}

static void test_continue(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /up/e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                     "Content-Length: 5\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 100);
    fht_response_free(&r);
    fht_send_str(fd, "hello");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    expect_sum(&r, "hello", 5);
    fht_response_free(&r);
    fht_close(fd);
}

static void test_stall_and_abort(void **state) {
    (void)state;
    /* Half a body, then silence: 408 after body_ms, fn got FH_ETIMEDOUT. */
    int t0 = atomic_load(&timed_out);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /up/s HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 408);
    fht_response_free(&r);
    fht_close(fd);
    assert_int_equal(atomic_load(&timed_out), t0 + 1);
    /* Gone mid-body: fn gets FH_ECANCELED, on both routes (the slow one
     * with a resume pending). */
    int c0 = atomic_load(&canceled);
    const char *paths[] = { "/up/g", "/slow/g" };
    for (int i = 0; i < 2; i++) {
        fd = fht_connect(fht_port);
        char head[256];
        snprintf(head, sizeof(head),
                 "PUT %s HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n", paths[i]);
        fht_send_str(fd, head);
        char *b = fht_pattern(300000);
        fht_send(fd, b, 300000);
        free(b);
        fht_close(fd);
        fht_wait_for(&canceled, c0 + i + 1);
    }
    /* The server still serves. */
    fd = fht_connect(fht_port);
    fht_send_str(fd, "POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nq");
    fht_expect(fd, 200, "whole 1");
    fht_close(fd);
}

/* A handler that pauses 1 ms on every chunk while the client sends 64 MiB:
 * reading stops while paused, so the server's memory stays flat. */
static void test_backpressure(void **state) {
    (void)state;
    size_t n = 64u << 20, block = 1 << 20;
    char *b = fht_pattern(block);
    size_t rss0 = fht_rss_kb();
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "PUT /slow/big HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
    int fd = fht_connect(fht_port);
    fht_send(fd, head, (size_t)hl);
    uint64_t sum = 14695981039346656037ull;
    size_t peak = rss0;
    for (size_t off = 0; off < n; off += block) {
        fht_send(fd, b, block);
        sum = fnv(sum, b, block);
        size_t rss = fht_rss_kb();
        if (rss > peak)
            peak = rss;
    }
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    char want[96];
    snprintf(want, sizeof(want), "size=%zu sum=%016llx", n, (unsigned long long)sum);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, want);
    fht_response_free(&r);
    fht_close(fd);
    free(b);
    print_message("backpressure: RSS %zu KiB before, peak %zu KiB while 64 MiB streamed\n", rss0,
                  peak);
#ifdef FH__SANITIZED
    /* Over TLS, OpenSSL frees its record buffers whenever a connection
     * goes idle and allocates them again: ASan's quarantine keeps every
     * freed one, so the resident size says nothing there. */
    if (!fht_over_tls())
#endif
        assert_true(peak - rss0 < 16 * 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length),      cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_every_split), cmocka_unit_test(test_early_answers),
        cmocka_unit_test(test_connection_close),    cmocka_unit_test(test_continue),
        cmocka_unit_test(test_stall_and_abort),     cmocka_unit_test(test_backpressure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
