/* Server-Sent Events: frames read by a real EventSource client (Node's
 * eventsource, from Debian), including multi-line data, event types, ids,
 * the retry delay and Last-Event-ID on reconnection; the exact bytes on the
 * wire; field validation; keep-alive comments; a client leaving. */
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static atomic_int n_invalid, n_canceled, n_released;

typedef struct quiet {
    fh_stream_t *st;
} quiet_t;

static void count_release(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    atomic_fetch_add(&n_released, 1);
}

static void end_on_cancel(fh_response_t *res, void *data) {
    (void)res;
    quiet_t *q = data;
    atomic_fetch_add(&n_canceled, 1);
    fh_stream_end(q->st);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    fh_stream_t *st;
    int err;
    if (fh_str_eq(path, "/events")) {
        fh_str_t last = fh_request_header(req, "Last-Event-ID");
        fh_sse_options_t o = { .retry_ms = 50 };
        if ((err = fh_sse_begin(res, &st, &o)) != 0)
            return err;
        if (!last.ptr) {
            /* First visit: events, then the stream ends and the client
             * comes back after `retry` with the last id it saw. */
            fh_sse_event_t greet = { .event = "greet", .id = "1", .data = "hello\nworld" };
            fh_sse_send(st, &greet);
            fh_sse_comment(st, "ignored by clients");
            fh_sse_data(st, NULL, "a\r\nb\rc");
            fh_sse_event_t seven = { .id = "7", .data = "seven" };
            fh_sse_send(st, &seven);
        } else {
            char *id = fh_strndup(req, last);
            fh_sse_data(st, "resume", id);
            fh_sse_data(st, "bye", "done");
        }
        return fh_stream_end(st);
    }
    if (fh_str_eq(path, "/raw")) {
        fh_sse_options_t o = { .keepalive_ms = -1 };
        if ((err = fh_sse_begin(res, &st, &o)) != 0)
            return err;
        fh_sse_event_t ev = { .event = "x", .id = "9", .retry_ms = 10, .data = "l1\nl2\n" };
        fh_sse_send(st, &ev);
        fh_sse_event_t sized = { .data = "abcdef", .data_len = 3 };
        fh_sse_send(st, &sized);
        fh_sse_event_t bad1 = { .event = "x\ny", .data = "z" };
        fh_sse_event_t bad2 = { .id = "1\r", .data = "z" };
        if (fh_sse_send(st, &bad1) == FH_EINVAL)
            atomic_fetch_add(&n_invalid, 1);
        if (fh_sse_send(st, &bad2) == FH_EINVAL)
            atomic_fetch_add(&n_invalid, 1);
        if (fh_sse_comment(st, "two\nlines") == FH_EINVAL)
            atomic_fetch_add(&n_invalid, 1);
        return fh_stream_end(st);
    }
    if (fh_str_eq(path, "/quiet")) {
        fh_request_on_done(req, count_release, NULL);
        quiet_t *q = fh_alloc(req, sizeof(*q));
        fh_sse_options_t o = { .keepalive_ms = 30 };
        if ((err = fh_sse_begin(res, &q->st, &o)) != 0)
            return err;
        fh_response_on_cancel(res, end_on_cancel, q);
        return 0; /* nothing more is sent: only keep-alive comments */
    }
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static void test_real_eventsource_client(void **state) {
    (void)state;
    char here[] = __FILE__;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "NODE_PATH=/usr/share/nodejs:/usr/lib/nodejs node %s/clients/sse_client.js "
             "http://127.0.0.1:%d/events 2>&1",
             dirname(here), fht_port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = { 0 };
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    int rc = pclose(p);
    out[n] = '\0';
    print_message("%s", out);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "{\"type\":\"greet\",\"data\":\"hello\\nworld\",\"id\":\"1\"}\n"
                             "{\"type\":\"message\",\"data\":\"a\\nb\\nc\",\"id\":\"1\"}\n"
                             "{\"type\":\"message\",\"data\":\"seven\",\"id\":\"7\"}\n"
                             "{\"type\":\"resume\",\"data\":\"7\",\"id\":\"7\"}\n"
                             "{\"type\":\"bye\",\"data\":\"done\",\"id\":\"7\"}\n");
}

static void test_wire_format(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /raw HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.chunked, 1);
    char v[64];
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/event-stream");
    assert_true(fht_header(&r, "Cache-Control", v, sizeof(v)));
    assert_string_equal(v, "no-cache");
    assert_string_equal(r.body, "event: x\nid: 9\nretry: 10\ndata: l1\ndata: l2\n\n"
                                "data: abc\n\n");
    fht_response_free(&r);
    fht_close(fd);
    assert_int_equal(atomic_load(&n_invalid), 3);
}

static void test_keepalive_comments_and_leaving(void **state) {
    (void)state;
    int canceled = atomic_load(&n_canceled), released = atomic_load(&n_released);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /quiet HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[4096];
    size_t len = 0;
    uint64_t t0 = fht_now_ms();
    while (fht_now_ms() - t0 < 300 && len < sizeof(buf) - 1) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, MSG_DONTWAIT);
        if (n > 0)
            len += (size_t)n;
        usleep(5000);
    }
    buf[len] = '\0';
    int comments = 0;
    for (char *p = buf; (p = strstr(p, ": keep-alive\n\n")) != NULL; p++)
        comments++;
    assert_true(comments >= 3); /* about one per 30 ms of silence */
    fht_close(fd);
    fht_wait_for(&n_canceled, canceled + 1);
    fht_wait_for(&n_released, released + 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_eventsource_client),
        cmocka_unit_test(test_wire_format),
        cmocka_unit_test(test_keepalive_comments_and_leaving),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
