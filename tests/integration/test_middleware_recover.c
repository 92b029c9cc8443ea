/* Error recovery over real sockets: a failing handler's half-built
 * response becomes exactly one problem+json 500 carrying the request id;
 * failing before hooks and deferred failures too; expose_errors; the
 * report callback; after hooks still run; successes are untouched. */
#include <stdatomic.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static void fail_late(fh_response_t *res, void *data) {
    (void)data;
    fh_response_write(res, "partial", 7); /* then it fails */
    fh_chain_fail(res, FH_ENOENT);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/fail")) {
        fh_response_status(res, 201);
        fh_response_header(res, "X-Half", "1");
        fh_response_header(res, "Content-Type", "text/html");
        fh_response_write(res, "<html>half", 10);
        return FH_ENOMEM;
    }
    if (fh_str_eq(path, "/defer-fail")) {
        fh_response_defer(res);
        return fht_later(res, 10, fail_late, NULL);
    }
    return fh_send_text(res, 200, "fine");
}

static int failing_before(fh_request_t *req, fh_response_t *res, void *data) {
    (void)res;
    (void)data;
    return fh_request_header(req, "X-Break").ptr ? FH_EINVAL : FH_NEXT;
}

static atomic_int reports, last_err;

static void report(fh_request_t *req, int err, void *data) {
    (void)req;
    atomic_fetch_add(&reports, 1);
    atomic_store(&last_err, err + *(int *)data);
}

static void test_problem_document(void **state) {
    (void)state;
    static int zero = 0;
    fh_middleware_t mws[4];
    fh_recover_options_t ro = { .report = report, .report_data = &zero };
    assert_int_equal(fh_recover_new(&mws[0], &ro), 0);
    assert_int_equal(fh_request_id_new(&mws[1], NULL), 0);
    assert_int_equal(fh_security_headers_new(&mws[2], NULL), 0);
    mws[3] = (fh_middleware_t){ .name = "breaker", .before = failing_before };
    fht_start_chain(handler, NULL, 2, mws, 4);
    fht_response_t r;

    fht_exchange("GET /fail HTTP/1.1\r\nHost: t\r\nX-Request-ID: req-42\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_string_equal(r.body, "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                                "\"status\":500,\"instance\":\"/fail\",\"request_id\":\"req-42\"}");
    assert_false(fht_header(&r, "X-Half", NULL, 0));            /* nothing half-built leaks */
    assert_string_equal(fht_hdr(&r, "X-Request-ID"), "req-42"); /* after hooks ran */
    assert_string_equal(fht_hdr(&r, "X-Content-Type-Options"), "nosniff");
    fht_response_free(&r);
    assert_int_equal(atomic_load(&reports), 1);
    assert_int_equal(atomic_load(&last_err), FH_ENOMEM);

    /* A before hook failing further in. */
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nX-Break: 1\r\nX-Request-ID: b-1\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body, "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                                "\"status\":500,\"instance\":\"/\",\"request_id\":\"b-1\"}");
    fht_response_free(&r);
    assert_int_equal(atomic_load(&last_err), FH_EINVAL);

    /* A deferred handler that fails later. */
    fht_exchange("GET /defer-fail HTTP/1.1\r\nHost: t\r\nX-Request-ID: d-1\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(r.body,
                        "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\","
                        "\"status\":500,\"instance\":\"/defer-fail\",\"request_id\":\"d-1\"}");
    fht_response_free(&r);
    assert_int_equal(atomic_load(&reports), 3);
    assert_int_equal(atomic_load(&last_err), FH_ENOENT);

    /* Successes are untouched, and HEAD of a failure has no body. */
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "fine");
    fht_response_free(&r);
    fht_exchange("HEAD /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    fht_response_free(&r);
    fht_stop();
    for (int i = 0; i < 3; i++)
        fh_middleware_release(&mws[i]);
}

static void test_expose_errors_without_id(void **state) {
    (void)state;
    fh_recover_options_t ro = { .expose_errors = true };
    fh_middleware_t m;
    assert_int_equal(fh_recover_new(&m, &ro), 0);
    assert_null(m.before);
    assert_null(m.after); /* no per-request cost on the happy path */
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange("GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    char want[256];
    snprintf(want, sizeof(want),
             "{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,"
             "\"detail\":\"%s\",\"instance\":\"/fail\"}",
             fh_strerror(FH_ENOMEM));
    assert_string_equal(r.body, want);
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_document),
        cmocka_unit_test(test_expose_errors_without_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
