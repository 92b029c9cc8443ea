/* The middleware chain over real sockets: order of before and after hooks,
 * early answers, errors in hooks and handlers, after hooks on deferred and
 * error responses, fh_chain_fail, nested chains, the empty chain, raw
 * responses, and the chain's argument checks.
 *
 * Every test middleware appends to a per-request trace ("bA" for A's
 * before, "aA" for its after, "eA" for its error hook, "h" for the
 * handler) and every after hook copies the trace into X-Trace, so the
 * outermost after hook leaves the whole story on the wire. */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/request.h" /* a hold on the request: users, fh__request_unref */
#include "testutil.h"

/* The trace lives in a typed slot: trace_slot_get / trace_slot_set. */
FH_REQUEST_KEY(trace_slot, char)

/* Checks made on worker threads, where cmocka cannot fail a test: counted
 * here and asserted to be zero by the main thread. */
static atomic_int bad;
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            atomic_fetch_add(&bad, 1);                                                             \
    } while (0)

static void trace(fh_request_t *req, char kind, char name) {
    const char *cur = trace_slot_get(req);
    char *n = fh_sprintf(req, "%s%c%c", cur ? cur : "", kind, name);
    CHECK(n != NULL);
    CHECK(trace_slot_set(req, n) == 0);
}

static const char *trace_of(fh_request_t *req) {
    const char *t = trace_slot_get(req);
    return t ? t : "";
}

/* Does the request's header `name` hold the middleware's letter? */
static bool asks(fh_request_t *req, const char *name, char who) {
    fh_str_t v = fh_request_header(req, name);
    return v.ptr && memchr(v.ptr, who, v.len);
}

static int t_before(fh_request_t *req, fh_response_t *res, void *data) {
    char name = *(const char *)data;
    trace(req, 'b', name);
    if (asks(req, "X-Stop", name)) {
        fh_send_text(res, 403, "stopped");
        return FH_STOP;
    }
    if (asks(req, "X-Send", name)) {
        fh_send_text(res, 202, "sent in before"); /* then returns FH_NEXT */
        return FH_NEXT;
    }
    if (asks(req, "X-Fail", name)) {
        fh_response_header(res, "X-Half", "1");
        return -7;
    }
    return FH_NEXT;
}

static void t_after(fh_request_t *req, fh_response_t *res, void *data) {
    char name = *(const char *)data;
    trace(req, 'a', name);
    fh_response_header_set(res, "X-Trace", trace_of(req));
    if (name == 'C')
        fh_response_headerf(res, "X-Seen", "%d:%zu", fh_response_get_status(res),
                            fh_response_get_body(res).len);
}

static int t_error(fh_request_t *req, fh_response_t *res, int err, void *data) {
    char name = *(const char *)data;
    trace(req, 'e', name);
    if (asks(req, "X-Recover", name)) {
        fh_response_reset(res);
        fh_send_textf(res, 503, "recovered by %c from %d", name, err);
        return FH_STOP;
    }
    return FH_NEXT;
}

static const char name_a = 'A', name_b = 'B', name_c = 'C';

static fh_middleware_t t_mw(const char *name) {
    fh_middleware_t m = {
        .name = "test", .before = t_before, .after = t_after, .error = t_error, .data = (void *)name
    };
    return m;
}

/* data: non-NULL to fail instead of answering. */
static void later(fh_response_t *res, void *data) {
    fh_request_t *req = fh_response_request(res);
    if (data) {
        trace(req, 'F', '!');
        /* Answering may write the response and release the request at
         * once; a hold keeps it for the calls on a final response. */
        req->users++;
        CHECK(fh_chain_fail(res, -9) == 0);
        CHECK(fh_chain_fail(res, -9) == FH_EALREADY_SENT);
        CHECK(fh_chain_fail(res, 0) == FH_EALREADY_SENT);
        fh__request_unref(req);
    } else {
        fh_send_text(res, 200, "late");
    }
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    trace(req, 'h', '-');
    if (fh_str_eq(path, "/fail")) {
        /* A half-built response that must not leak out. */
        fh_response_status(res, 201);
        fh_response_header(res, "X-Half", "1");
        fh_response_write(res, "half", 4);
        return -5;
    }
    if (fh_str_eq(path, "/stream")) {
        fh_stream_t *st;
        int err = fh_stream_begin(res, &st, NULL); /* the commit: after hooks run */
        if (err)
            return err;
        fh_stream_write(st, "str", 3);
        fh_stream_write(st, "eam", 3);
        return fh_stream_end(st);
    }
    if (fh_str_eq(path, "/raw")) {
        static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nraw";
        return fh_send_raw(res, raw, sizeof(raw) - 1, FH_RAW_BORROW);
    }
    if (fh_str_eq(path, "/defer") || fh_str_eq(path, "/defer-fail")) {
        static const char fail = 1;
        CHECK(fh_response_defer(res) == 0);
        return fht_later(res, 30, later, fh_str_eq(path, "/defer-fail") ? (void *)&fail : NULL);
    }
    /* The trace so far shows what the before hooks left in the slot. */
    return fh_send_textf(res, 200, "%s", trace_of(req));
}

/* ------------------------------------------------------------ harness */

typedef struct result {
    int status;
    char trace[256];
    char seen[32];
    char body[256];
    bool half;
} result_t;

static result_t get(const char *path, const char *extra) {
    fht_response_t r;
    fht_request("GET", path, extra, &r);
    result_t out;
    memset(&out, 0, sizeof(out));
    out.status = r.status;
    fht_header(&r, "X-Trace", out.trace, sizeof(out.trace));
    fht_header(&r, "X-Seen", out.seen, sizeof(out.seen));
    out.half = fht_header(&r, "X-Half", NULL, 0);
    snprintf(out.body, sizeof(out.body), "%s", r.body);
    fht_response_free(&r);
    return out;
}

static fh_chain_t *chain;

static int setup_abc(void **state) {
    (void)state;
    assert_int_equal(fh_chain_new(&chain, handler, NULL), 0);
    fh_middleware_t a = t_mw(&name_a), b = t_mw(&name_b), c = t_mw(&name_c);
    assert_int_equal(fh_chain_use(chain, &a), 0);
    assert_int_equal(fh_chain_use(chain, &b), 0);
    assert_int_equal(fh_chain_use(chain, &c), 0);
    assert_int_equal(fh_chain_count(chain), 3);
    fht_start_handler(fh_chain_handle, chain, 2);
    return 0;
}

static int teardown_server(void **state) {
    fht_teardown(state);
    assert_int_equal(atomic_load(&bad), 0);
    fh_chain_free(chain);
    chain = NULL;
    return 0;
}

/* -------------------------------------------------------------- tests */

static void test_order(void **state) {
    (void)state;
    result_t r = get("/", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "bAbBbCh-");        /* before hooks in order, slot seen */
    assert_string_equal(r.trace, "bAbBbCh-aCaBaA"); /* after hooks in reverse */
    assert_string_equal(r.seen, "200:8");           /* an after hook sees the final response */
}

static void test_early_answer(void **state) {
    (void)state;
    result_t r = get("/", "X-Stop: B\r\n");
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, "stopped");
    /* C and the handler never ran; B's own after hook and A's did. */
    assert_string_equal(r.trace, "bAbBaBaA");
    assert_string_equal(r.seen, "");

    /* A before hook that sends but returns FH_NEXT also ends the chain. */
    r = get("/", "X-Send: A\r\n");
    assert_int_equal(r.status, 202);
    assert_string_equal(r.trace, "bAaA");
}

static void test_error_in_before_hook(void **state) {
    (void)state;
    result_t r = get("/", "X-Fail: B\r\n");
    /* Only A was entered before B: its error hook runs, passes, and the
     * core answers 500; the after hooks of A and B still see that 500. */
    assert_int_equal(r.status, 500);
    assert_string_equal(r.trace, "bAbBeAaBaA");
    assert_false(r.half); /* what B had built is gone */
    assert_string_equal(r.body, "Internal Server Error");

    r = get("/", "X-Fail: C\r\nX-Recover: A\r\n");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "recovered by A from -7");
    assert_string_equal(r.trace, "bAbBbCeBeAaCaBaA");
}

static void test_error_in_handler(void **state) {
    (void)state;
    result_t r = get("/fail", NULL);
    assert_int_equal(r.status, 500);
    assert_false(r.half);
    assert_string_equal(r.trace, "bAbBbCh-eCeBeAaCaBaA");
    assert_string_equal(r.seen, "500:21"); /* "Internal Server Error" */

    /* B answers: A's error hook is not asked. */
    r = get("/fail", "X-Recover: B\r\n");
    assert_int_equal(r.status, 503);
    assert_false(r.half);
    assert_string_equal(r.body, "recovered by B from -5");
    assert_string_equal(r.trace, "bAbBbCh-eCeBaCaBaA");
}

static void test_deferred(void **state) {
    (void)state;
    /* The after hooks run when the deferred response ends, 30 ms later. */
    uint64_t t0 = fht_now_ms();
    result_t r = get("/defer", NULL);
    assert_true(fht_now_ms() - t0 >= 25);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "late");
    assert_string_equal(r.trace, "bAbBbCh-aCaBaA");
    assert_string_equal(r.seen, "200:4");

    /* A deferred failure goes through the error hooks of the chain... */
    r = get("/defer-fail", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.trace, "bAbBbCh-F!eCeBeAaCaBaA");
    r = get("/defer-fail", "X-Recover: C\r\n");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "recovered by C from -9");
    assert_string_equal(r.trace, "bAbBbCh-F!eCaCaBaA");
}

static void test_pipelined_deferred_order(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\nX-Stop: C\r\n\r\n"
                     "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n");
    int want[3] = { 200, 403, 500 };
    const char *traces[3] = { "bAbBbCh-aCaBaA", "bAbBbCaCaBaA", "bAbBbCh-eCeBeAaCaBaA" };
    for (int i = 0; i < 3; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, want[i]);
        char t[256];
        assert_true(fht_header(&r, "X-Trace", t, sizeof(t)));
        assert_string_equal(t, traces[i]);
        fht_response_free(&r);
    }
    fht_close(fd);
}

static void test_streamed(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_true(r.chunked);
    assert_string_equal(r.body, "stream");
    char t[128];
    assert_true(fht_header(&r, "X-Trace", t, sizeof(t)));
    assert_string_equal(t, "bAbBbCh-aCaBaA"); /* after hooks ran when the stream began */
    assert_true(fht_header(&r, "X-Seen", t, sizeof(t)));
    assert_string_equal(t, "200:0"); /* ...before any body existed */
    fht_response_free(&r);
    fht_close(fd);
}

static void test_raw_response(void **state) {
    (void)state;
    result_t r = get("/raw", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "raw");
    assert_string_equal(r.trace, ""); /* raw bytes cannot change: no after hooks */
}

/* An outer chain [A] whose handler is an inner chain [B] around handler. */
static fh_chain_t *inner;

static int setup_nested(void **state) {
    (void)state;
    assert_int_equal(fh_chain_new(&inner, handler, NULL), 0);
    fh_middleware_t a = t_mw(&name_a), b = t_mw(&name_b);
    assert_int_equal(fh_chain_use(inner, &b), 0);
    assert_int_equal(fh_chain_new(&chain, fh_chain_handle, inner), 0);
    assert_int_equal(fh_chain_use(chain, &a), 0);
    fht_start_handler(fh_chain_handle, chain, 2);
    return 0;
}

static int teardown_nested(void **state) {
    teardown_server(state);
    fh_chain_free(inner);
    return 0;
}

static void test_nested(void **state) {
    (void)state;
    result_t r = get("/", NULL);
    assert_string_equal(r.trace, "bAbBh-aBaA");
    /* The inner chain's unanswered error goes on to the outer chain. */
    r = get("/fail", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.trace, "bAbBh-eBeAaBaA");
    r = get("/fail", "X-Recover: A\r\n");
    assert_int_equal(r.status, 503);
    assert_string_equal(r.trace, "bAbBh-eBeAaBaA");
    /* fh_chain_fail walks both chains, innermost first. */
    r = get("/defer-fail", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.trace, "bAbBh-F!eBeAaBaA");
}

static int setup_empty(void **state) {
    (void)state;
    assert_int_equal(fh_chain_new(&chain, handler, NULL), 0);
    fht_start_handler(fh_chain_handle, chain, 2);
    return 0;
}

static void test_empty_chain(void **state) {
    (void)state;
    result_t r = get("/", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "h-");
    assert_string_equal(r.trace, "");
    r = get("/fail", NULL);
    assert_int_equal(r.status, 500);
    assert_false(r.half);
    /* Without middleware, fh_chain_fail still answers a plain 500. */
    r = get("/defer-fail", NULL);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "Internal Server Error\n");
}

/* Only some hooks set: an after-only and an error-only middleware. */
static void after_only(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    trace(req, 'a', 'X');
    fh_response_header_set(res, "X-Trace", trace_of(req));
}

static int error_only(fh_request_t *req, fh_response_t *res, int err, void *data) {
    (void)data;
    trace(req, 'e', 'Y');
    fh_response_reset(res);
    fh_response_status(res, 502);
    fh_response_printf(res, "error %d", err);
    return FH_STOP; /* not final yet: the chain's caller ends it */
}

static int setup_partial(void **state) {
    (void)state;
    assert_int_equal(fh_chain_new(&chain, handler, NULL), 0);
    fh_middleware_t x = { .name = "x", .after = after_only };
    fh_middleware_t y = { .name = "y", .error = error_only };
    assert_int_equal(fh_chain_use(chain, &x), 0);
    assert_int_equal(fh_chain_use(chain, &y), 0);
    fht_start_handler(fh_chain_handle, chain, 2);
    return 0;
}

static void test_partial_hooks(void **state) {
    (void)state;
    result_t r = get("/", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.trace, "h-aX");
    r = get("/fail", NULL);
    assert_int_equal(r.status, 502);
    assert_string_equal(r.body, "error -5");
    assert_string_equal(r.trace, "h-eYaX");
    r = get("/defer-fail", NULL);
    assert_int_equal(r.status, 502);
    assert_string_equal(r.body, "error -9");
    assert_string_equal(r.trace, "h-F!eYaX");
}

static void test_arguments(void **state) {
    (void)state;
    fh_chain_t *c;
    assert_int_equal(fh_chain_new(&c, NULL, NULL), FH_EINVAL);
    assert_null(c);
    assert_non_null(strstr(fh_middleware_error(), "chain.handler"));
    assert_int_equal(fh_chain_new(&c, handler, NULL), 0);
    fh_middleware_t none = { .name = "nothing" };
    assert_int_equal(fh_chain_use(c, &none), FH_EINVAL);
    assert_non_null(
        strstr(fh_middleware_error(), "\"nothing\": needs a before, after or error hook"));
    assert_int_equal(fh_chain_count(c), 0);
    /* Growing past the first allocation keeps every entry. */
    fh_middleware_t a = t_mw(&name_a);
    for (int i = 0; i < 20; i++)
        assert_int_equal(fh_chain_use(c, &a), 0);
    assert_int_equal(fh_chain_count(c), 20);
    fh_chain_set_handler(c, fh_chain_handle, NULL);
    fh_chain_free(c);
    fh_chain_free(NULL);
    fh_middleware_release(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_order, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_early_answer, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_error_in_before_hook, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_error_in_handler, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_deferred, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_pipelined_deferred_order, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_streamed, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_raw_response, setup_abc, teardown_server),
        cmocka_unit_test_setup_teardown(test_nested, setup_nested, teardown_nested),
        cmocka_unit_test_setup_teardown(test_empty_chain, setup_empty, teardown_server),
        cmocka_unit_test_setup_teardown(test_partial_hooks, setup_partial, teardown_server),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
