/* Takeover: the socket and the bytes already read go to user code, which
 * echoes on the raw socket; a 101 upgrade; earlier pipelined responses leave
 * first; the connection leaves the server's counts; a client lost before the
 * handover; a detached descriptor; a server stop closing taken-over
 * connections. */
#include <errno.h>
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

static atomic_int n_ready, n_ready_canceled, n_closed, n_takeover_errors;
static atomic_int n_released; /* requests with ?track=1 */

typedef struct echo_write {
    uv_write_t req;
    char data[];
} echo_write_t;

static void count_release(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    atomic_fetch_add(&n_released, 1);
}

static void echo_written(uv_write_t *wr, int status) {
    (void)status;
    free(wr);
}

static void echo(fh_takeover_t *tk, const char *p, size_t n) {
    if (n == 0)
        return;
    echo_write_t *w = malloc(sizeof(*w) + n);
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)fh_takeover_tcp(tk), &b, 1, echo_written) != 0)
        free(w);
}

static void echo_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void echo_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    fh_takeover_t *tk = s->data; /* the handle's data is the user's */
    if (nread > 0)
        echo(tk, buf->base, (size_t)nread);
    free(buf->base);
    if (nread < 0)
        fh_takeover_close(tk);
}

static void on_closed(fh_takeover_t *tk, void *data) {
    (void)tk;
    (void)data;
    atomic_fetch_add(&n_closed, 1);
}

static void on_ready(fh_takeover_t *tk, int status, void *data) {
    (void)data;
    if (status) {
        if (!tk && status == FH_ECANCELED)
            atomic_fetch_add(&n_ready_canceled, 1);
        return;
    }
    atomic_fetch_add(&n_ready, 1);
    fh_takeover_on_close(tk, on_closed, NULL);
    /* The request outlives the handler: its views are still good. */
    fh_str_t who = fh_request_header(fh_takeover_request(tk), "X-Who");
    if (who.ptr) {
        echo(tk, who.ptr, who.len);
        echo(tk, "|", 1);
    }
    fh_str_t rest = fh_takeover_rest(tk); /* the new protocol's first bytes */
    echo(tk, rest.ptr, rest.len);
    uv_tcp_t *tcp = fh_takeover_tcp(tk);
    tcp->data = tk;
    uv_read_start((uv_stream_t *)tcp, echo_alloc, echo_read);
}

static void on_ready_detach(fh_takeover_t *tk, int status, void *data) {
    (void)data;
    if (status)
        return;
    atomic_fetch_add(&n_ready, 1);
    uv_os_sock_t fd;
    if (fh_takeover_detach(tk, &fd) != 0) {
        atomic_fetch_add(&n_takeover_errors, 1);
        return;
    }
    /* The descriptor is ours alone now, outside any loop. */
    static const char msg[] = "detached\n";
    ssize_t w;
    do
        w = send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL);
    while (w < 0 && errno == EAGAIN);
    close(fd);
}

static void send_first(fh_response_t *res, void *data) {
    (void)data;
    fh_send_text(res, 200, "first");
}

#define BIG (4 * 1024 * 1024)
static char big_body[BIG];

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(fh_request_query(req, "track"), "1"))
        fh_request_on_done(req, count_release, NULL);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "plain");
    if (fh_str_eq(path, "/big")) {
        fh_response_body_borrow(res, big_body, BIG); /* stays queued in libuv */
        return 0;
    }
    if (fh_str_eq(path, "/slow")) {
        fh_response_defer(res);
        fh_str_t ms = fh_request_query(req, "ms");
        return fht_later(res, ms.ptr ? strtoul(fh_strndup(req, ms), NULL, 10) : 60, send_first,
                         NULL);
    }
    if (fh_str_eq(path, "/raw"))
        return fh_request_takeover(res, FH_TAKEOVER_SILENT, on_ready, NULL);
    if (fh_str_eq(path, "/upgrade")) {
        fh_response_status(res, 101);
        fh_response_header(res, "Upgrade", "echo");
        return fh_request_takeover(res, FH_TAKEOVER_RESPONSE, on_ready, NULL);
    }
    if (fh_str_eq(path, "/detach"))
        return fh_request_takeover(res, FH_TAKEOVER_SILENT, on_ready_detach, NULL);
    if (fh_str_eq(path, "/twice")) {
        fh_send_text(res, 200, "answered");
        if (fh_request_takeover(res, 0, on_ready, NULL) != FH_ESTATE)
            atomic_fetch_add(&n_takeover_errors, 1);
        return 0;
    }
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    assert_int_equal(atomic_load(&n_takeover_errors), 0);
    return 0;
}

/* Reads exactly strlen(want) bytes and compares. */
static void expect_bytes(int fd, const char *want) {
    size_t n = strlen(want), got = 0;
    char buf[256];
    assert_true(n < sizeof(buf));
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        got += (size_t)r;
    }
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

/* Reads until the bytes received end with suffix; returns them (static). */
static const char *recv_until(int fd, const char *suffix) {
    static char buf[8192];
    size_t len = 0, k = strlen(suffix);
    for (;;) {
        ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        len += (size_t)r;
        buf[len] = '\0';
        if (len >= k && memcmp(buf + len - k, suffix, k) == 0)
            return buf;
    }
}

static void test_raw_echo_with_bytes_already_read(void **state) {
    (void)state;
    int ready = atomic_load(&n_ready), closed = atomic_load(&n_closed);
    int released = atomic_load(&n_released);
    int fd = fht_connect(fht_port);
    fh_server_stats_t st;
    /* The request and the new protocol's first bytes in one send. */
    fht_send_str(fd, "GET /raw?track=1 HTTP/1.1\r\nHost: t\r\nX-Who: me\r\n\r\nhello");
    expect_bytes(fd, "me|hello");
    fht_wait_for(&n_ready, ready + 1);
    uint64_t t0 = fht_now_ms();
    do {
        fh_server_stats(fht_server, &st);
    } while (st.connections_open != 0 && fht_now_ms() - t0 < 2000 && usleep(1000) == 0);
    assert_int_equal(st.connections_open, 0); /* it left the server's management */
    fht_send_str(fd, "world");
    expect_bytes(fd, "world");
    fht_send_str(fd, "GET / HTTP/1.1\r\n\r\n"); /* no longer HTTP: echoed */
    expect_bytes(fd, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(atomic_load(&n_released), released); /* the request lives on */
    shutdown(fd, SHUT_WR);
    fht_wait_for(&n_closed, closed + 1);
    fht_wait_for(&n_released, released + 1);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
}

static void test_upgrade_101(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(
        fd, "GET /upgrade HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 101);
    char v[32];
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "upgrade");
    assert_true(fht_header(&r, "Upgrade", v, sizeof(v)));
    assert_string_equal(v, "echo");
    assert_false(fht_header(&r, "Content-Length", NULL, 0));
    fht_response_free(&r);
    fht_send_str(fd, "ping");
    expect_bytes(fd, "ping");
    fht_close(fd);
}

static void test_earlier_responses_leave_first(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    /* A deferred response and a plain one before the takeover; bytes for
     * the new protocol right behind it. */
    fht_send_str(fd, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /raw HTTP/1.1\r\nHost: t\r\n\r\n"
                     "after");
    /* Raw reads: the echo may arrive in the same segment as the responses. */
    const char *got = recv_until(fd, "after");
    const char *first = strstr(got, "\r\n\r\nfirst");
    const char *plain = strstr(got, "\r\n\r\nplain");
    assert_non_null(first);
    assert_non_null(plain);
    assert_true(first < plain);
    assert_true(plain + strlen("\r\n\r\nplain") == got + strlen(got) - strlen("after"));
    fht_send_str(fd, "more");
    expect_bytes(fd, "more");
    fht_close(fd);
}

static void test_silent_takeover_waits_for_writes_in_flight(void **state) {
    (void)state;
    memset(big_body, 'b', BIG);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(50000); /* not read: most of the 4 MB wait in a uv_write */
    fht_send_str(fd, "GET /raw HTTP/1.1\r\nHost: t\r\n\r\nx");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.body_len, BIG);
    fht_response_free(&r);
    expect_bytes(fd, "x"); /* handed over only after the whole body left */
    fht_close(fd);
}

static void test_no_handover_when_stopping(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    int canceled = atomic_load(&n_ready_canceled), ready = atomic_load(&n_ready);
    int released = atomic_load(&n_released);
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET /slow?track=1&ms=400 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /raw?track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    usleep(20000);
    fh_server_stop(s); /* while /slow is still deferred */
    fht_expect(fd, 200, "first");
    /* The takeover is told it will not happen; the connection closes. */
    fht_wait_for(&n_ready_canceled, canceled + 1);
    fht_wait_for(&n_released, released + 2);
    assert_int_equal(atomic_load(&n_ready), ready);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
    fh_server_wait(s);
    fh_server_free(s);
}

static void test_takeover_after_answer_refused(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /twice HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "answered");
    fht_expect(fd, 200, "plain"); /* still an HTTP connection */
    fht_close(fd);
}

static void test_detached_descriptor(void **state) {
    (void)state;
    int closed = atomic_load(&n_closed);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /detach HTTP/1.1\r\nHost: t\r\n\r\n");
    expect_bytes(fd, "detached\n");
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
    assert_int_equal(atomic_load(&n_closed), closed); /* no close callback was set */
}

static void test_stop_closes_takeovers(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    int closed = atomic_load(&n_closed), ready = atomic_load(&n_ready);
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET /raw HTTP/1.1\r\nHost: t\r\n\r\nx");
    expect_bytes(fd, "x");
    fht_wait_for(&n_ready, ready + 1);
    uint64_t t0 = fht_now_ms();
    fht_server_stop(s);                    /* returns once the worker has joined */
    assert_true(fht_now_ms() - t0 < 2000); /* not held until the drain timeout */
    assert_int_equal(atomic_load(&n_closed), closed + 1);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_echo_with_bytes_already_read),
        cmocka_unit_test(test_upgrade_101),
        cmocka_unit_test(test_earlier_responses_leave_first),
        cmocka_unit_test(test_silent_takeover_waits_for_writes_in_flight),
        cmocka_unit_test(test_no_handover_when_stopping),
        cmocka_unit_test(test_takeover_after_answer_refused),
        cmocka_unit_test(test_detached_descriptor),
        cmocka_unit_test(test_stop_closes_takeovers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
