/* Steady state makes no malloc call per request.
 *
 * This program defines malloc, calloc, realloc, free and the aligned
 * variants itself, so every allocation in the process — libuv's, llhttp's,
 * the arena's, libc's — goes through these counters and on to the real
 * allocator. After a warm-up, the test thread (which itself allocates
 * nothing: fixed buffers, raw send/recv) sends thousands of keep-alive and
 * pipelined requests and checks that the count did not move. GET /json
 * builds {"message":"Hello, World!"} with jansson and serializes it on every
 * request: its values and output live in the request's arena.
 */
#include <malloc.h>
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

#include "testutil.h"

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static atomic_bool counting;
static atomic_ulong n_malloc, n_free;

static inline void count(atomic_ulong *c) {
    if (atomic_load_explicit(&counting, memory_order_relaxed))
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

void *malloc(size_t n) {
    count(&n_malloc);
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m) {
    count(&n_malloc);
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n) {
    count(&n_malloc);
    return __libc_realloc(p, n);
}
void free(void *p) {
    if (p)
        count(&n_free);
    __libc_free(p);
}
void *memalign(size_t a, size_t n) {
    count(&n_malloc);
    return __libc_memalign(a, n);
}
void *aligned_alloc(size_t a, size_t n) {
    count(&n_malloc);
    return __libc_memalign(a, n);
}
int posix_memalign(void **out, size_t a, size_t n) {
    count(&n_malloc);
    void *p = __libc_memalign(a, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}

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

/* Sends `reqs` copies of req per round (pipelined when > 1) and reads
 * exactly reqs * resp_len bytes back, with no allocation. */
static void run_rounds(int fd, const char *req, int reqs, int rounds, size_t resp_len) {
    static char out[16 * 256];
    static char in[1 << 16];
    size_t rl = strlen(req);
    for (int i = 0; i < reqs; i++)
        memcpy(out + (size_t)i * rl, req, rl);
    for (int r = 0; r < rounds; r++) {
        size_t n = (size_t)reqs * rl, off = 0;
        while (off < n) {
            ssize_t s = send(fd, out + off, n - off, MSG_NOSIGNAL);
            assert_true(s > 0);
            off += (size_t)s;
        }
        size_t want = (size_t)reqs * resp_len, got = 0;
        while (got < want) {
            ssize_t s = recv(fd, in, sizeof(in), 0);
            assert_true(s > 0);
            got += (size_t)s;
        }
        assert_int_equal(got, want);
    }
}

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

static void check_zero(const char *req, int conns, int pipelined, int warm, int rounds) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fh_server_t *s = fht_server_start(&cfg);
    int fds[8];
    size_t rlen = 0;
    for (int c = 0; c < conns; c++) {
        fds[c] = fht_connect(fh_server_port(s));
        rlen = response_len(fds[c], req);
    }
    for (int c = 0; c < conns; c++)
        run_rounds(fds[c], req, pipelined, warm, rlen);

    fh_server_stats_t before, after;
    fh_server_stats(s, &before);
    atomic_store(&n_malloc, 0);
    atomic_store(&n_free, 0);
    atomic_store(&counting, true);
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < conns; c++)
            run_rounds(fds[c], req, pipelined, 1, rlen);
    atomic_store(&counting, false);
    fh_server_stats(s, &after);
    unsigned long mallocs = atomic_load(&n_malloc), frees = atomic_load(&n_free);
    unsigned long reqs = (unsigned long)(after.requests - before.requests);
    print_message("%lu requests (%d conns x %d pipelined): %lu malloc, %lu free\n", reqs, conns,
                  pipelined, mallocs, frees);
    assert_int_equal(reqs, (unsigned long)rounds * (unsigned long)conns * (unsigned long)pipelined);
    assert_int_equal(mallocs, 0);
    assert_int_equal(frees, 0);
    for (int c = 0; c < conns; c++)
        fht_close(fds[c]);
    fht_server_stop(s);
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

/* The counters themselves work: a malloc while counting is seen. */
static void test_counter_sees_malloc(void **state) {
    (void)state;
    atomic_store(&n_malloc, 0);
    atomic_store(&counting, true);
    void *volatile p = malloc(10);
    atomic_store(&counting, false);
    free(p);
    assert_int_equal(atomic_load(&n_malloc), 1);
}

/* ... and so are the server threads': a new connection allocates. */
static void test_counter_sees_server_threads(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    static char in[4096];
    atomic_store(&n_malloc, 0);
    atomic_store(&counting, true);
    int fd = fht_connect(fh_server_port(s)); /* socket(): no malloc here */
    send(fd, hello_req, sizeof(hello_req) - 1, MSG_NOSIGNAL);
    ssize_t got = recv(fd, in, sizeof(in), 0);
    atomic_store(&counting, false);
    assert_true(got > 0);
    assert_true(atomic_load(&n_malloc) >= 1); /* the connection struct */
    fht_close(fd);
    fht_server_stop(s);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
