/* Streams over real sockets: chunked for HTTP/1.1, close-delimited for
 * HTTP/1.0, HEAD, streams begun in the handler or later, pipelined requests
 * behind a stream, 100 MB to a slow reader with the server's buffering
 * bounded, and clients that leave (or stop reading) mid-stream. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define BOUND (256 * 1024) /* the default max_buffered */
#define PIECE (64 * 1024)

static uint8_t pattern[PIECE + 251]; /* pattern[i] = i % 251 */
static atomic_size_t max_buffered_seen;
static atomic_int n_eagain, n_drain, n_canceled, n_released, n_stuck_full;
static atomic_int begin_errors;

typedef struct ticker {
    uv_timer_t timer;
    fh_stream_t *st;
    int left, i;
    bool stop;
} ticker_t;

static void count_release(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    atomic_fetch_add(&n_released, 1);
}

static void ticker_closed(uv_handle_t *h) {
    ticker_t *t = h->data;
    fh_stream_end(t->st);
}

static void tick(uv_timer_t *timer) {
    ticker_t *t = timer->data;
    if (t->stop)
        return;
    if (t->left-- == 0) {
        uv_close((uv_handle_t *)timer, ticker_closed);
        return;
    }
    int err = fh_stream_printf(t->st, "chunk %d\n", t->i++);
    if (err && err != FH_EAGAIN)
        t->stop = true;
}

/* The client left: stop ticking and end the stream (required). */
static void ticker_canceled(fh_response_t *res, void *data) {
    (void)res;
    ticker_t *t = data;
    atomic_fetch_add(&n_canceled, 1);
    t->stop = true;
    if (!uv_is_closing((uv_handle_t *)&t->timer))
        uv_close((uv_handle_t *)&t->timer, ticker_closed);
}

static void ticker_start(fh_request_t *req, fh_response_t *res, int n, int ms) {
    ticker_t *t = fh_alloc(req, sizeof(*t));
    memset(t, 0, sizeof(*t));
    if (fh_stream_begin(res, &t->st, NULL) != 0) {
        atomic_fetch_add(&begin_errors, 1);
        fh_response_end(res);
        return;
    }
    t->left = n;
    fh_response_on_cancel(res, ticker_canceled, t);
    uv_timer_init(fh_request_loop(req), &t->timer);
    t->timer.data = t;
    uv_timer_start(&t->timer, tick, (uint64_t)ms, (uint64_t)ms);
}

/* ---- a stream begun on a deferred response */

static void stream_late(fh_response_t *res, void *data) {
    (void)data;
    ticker_start(fh_response_request(res), res, 3, 1);
}

/* ---- 100 MB with backpressure */

typedef struct big {
    fh_stream_t *st;
    size_t sent, total;
    bool ended;
} big_t;

static void big_pump(big_t *b) {
    while (b->sent < b->total) {
        size_t n = b->total - b->sent < PIECE ? b->total - b->sent : PIECE;
        int err = fh_stream_write(b->st, pattern + b->sent % 251, n);
        if (err == FH_EAGAIN) {
            atomic_fetch_add(&n_eagain, 1);
            return; /* on_drain comes back */
        }
        if (err)
            return; /* canceled: the cancel callback ends it */
        b->sent += n;
        size_t buffered = fh_stream_buffered(b->st);
        if (buffered > atomic_load(&max_buffered_seen))
            atomic_store(&max_buffered_seen, buffered);
    }
    if (!b->ended) {
        b->ended = true;
        fh_stream_end(b->st);
    }
}

static void big_drain(fh_stream_t *st, void *data) {
    (void)st;
    atomic_fetch_add(&n_drain, 1);
    big_pump(data);
}

static void big_canceled(fh_response_t *res, void *data) {
    (void)res;
    big_t *b = data;
    atomic_fetch_add(&n_canceled, 1);
    if (!b->ended) {
        b->ended = true;
        fh_stream_end(b->st);
    }
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(fh_request_query(req, "track"), "1"))
        fh_request_on_done(req, count_release, NULL);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "plain");
    if (fh_str_eq(path, "/chunks")) {
        fh_str_t n = fh_request_query(req, "n"), ms = fh_request_query(req, "ms");
        fh_response_header(res, "Content-Type", "text/plain");
        ticker_start(req, res, n.ptr ? atoi(fh_strndup(req, n)) : 3,
                     ms.ptr ? atoi(fh_strndup(req, ms)) : 1);
        return 0;
    }
    if (fh_str_eq(path, "/now")) {
        fh_stream_t *st;
        int err = fh_stream_begin(res, &st, NULL);
        if (err)
            return err;
        fh_stream_write(st, "a", 1);
        fh_stream_write(st, "", 0); /* no empty chunk: that would end the body */
        fh_stream_printf(st, "%s", "bc");
        if (fh_response_header(res, "X-Late", "1") != FH_EALREADY_SENT)
            atomic_fetch_add(&begin_errors, 1);
        fh_stream_end(st);
        if (fh_stream_end(st) != FH_ESTATE)
            atomic_fetch_add(&begin_errors, 1);
        return 0;
    }
    if (fh_str_eq(path, "/later")) {
        /* Deferred first; the stream begins from a timer. */
        fh_response_defer(res);
        return fht_later(res, 20, stream_late, NULL);
    }
    if (fh_str_eq(path, "/big")) {
        big_t *b = fh_alloc(req, sizeof(*b));
        memset(b, 0, sizeof(*b));
        b->total = (size_t)atoi(fh_strndup(req, fh_request_query(req, "mb"))) << 20;
        fh_stream_options_t o = { .on_drain = big_drain, .data = b };
        int err = fh_stream_begin(res, &b->st, &o);
        if (err)
            return err;
        fh_response_on_cancel(res, big_canceled, b);
        big_pump(b);
        return 0;
    }
    if (fh_str_eq(path, "/stuck")) {
        big_t *b = fh_alloc(req, sizeof(*b));
        memset(b, 0, sizeof(*b));
        /* Keeps writing as the socket takes bytes, until the kernel's
         * buffers are full and a write stays in flight. */
        fh_stream_options_t o = { .on_drain = big_drain, .data = b, .max_buffered = 64 * 1024 };
        int err = fh_stream_begin(res, &b->st, &o);
        if (err)
            return err;
        fh_response_on_cancel(res, big_canceled, b);
        /* Far more than socket buffers hold: the stream fills and waits. */
        b->total = (size_t)256 << 20;
        big_pump(b);
        atomic_fetch_add(&n_stuck_full, 1);
        return 0;
    }
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i % 251);
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    assert_int_equal(atomic_load(&begin_errors), 0);
    return 0;
}

static void test_chunked_from_timer(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /chunks?n=4&ms=2 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.chunked, 1);
    assert_string_equal(r.body, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    char v[64];
    assert_true(fht_header(&r, "Content-Type", v, sizeof(v)));
    assert_string_equal(v, "text/plain");
    assert_false(fht_header(&r, "Content-Length", NULL, 0));
    fht_response_free(&r);
    /* The connection goes on after the stream. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "plain", 0);
    fht_close(fd);
}

static void test_stream_within_handler(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "abc", 1);
    fht_close(fd);
}

static void test_http10_close_delimited(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /chunks?n=3&ms=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0); /* reads to EOF */
    assert_int_equal(r.chunked, 0);
    assert_string_equal(r.body, "chunk 0\nchunk 1\nchunk 2\n");
    char v[32];
    assert_false(fht_header(&r, "Content-Length", NULL, 0));
    assert_false(fht_header(&r, "Transfer-Encoding", NULL, 0));
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_head_gets_head_only(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "HEAD /chunks?n=3&ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /now HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 1), 0);
    assert_int_equal(r.status, 200);
    char v[32];
    assert_true(fht_header(&r, "Transfer-Encoding", v, sizeof(v)));
    fht_response_free(&r);
    /* No body bytes came between: the next response parses cleanly. */
    fht_expect_response(fd, 0, 200, "abc", 1);
    fht_close(fd);
}

static void test_pipelined_behind_stream(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /chunks?n=5&ms=3 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /now HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /chunks?n=2&ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n", 1);
    fht_expect_response(fd, 0, 200, "plain", 0);
    fht_expect_response(fd, 0, 200, "abc", 1);
    fht_expect_response(fd, 0, 200, "chunk 0\nchunk 1\n", 1);
    fht_expect_response(fd, 0, 200, "plain", 0);
    fht_close(fd);
}

static void test_stream_after_defer(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /later HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "chunk 0\nchunk 1\nchunk 2\n", 1);
    fht_expect_response(fd, 0, 200, "plain", 0);
    fht_close(fd);
}

/* Reads a chunked body as it comes, checking every byte against the
 * pattern, sleeping now and then: a slow reader. Returns the body size. */
static size_t read_big_chunked(int fd, size_t *peak_rss_kb) {
    static char buf[256 * 1024];
    size_t len = 0, body = 0, chunk_left = 0, reads = 0;
    bool in_head = true, done = false;
    enum { SIZE, DATA, DATA_CRLF } st = SIZE;
    while (!done) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        len += (size_t)n;
        size_t p = 0;
        if (in_head) {
            char *e = memmem(buf, len, "\r\n\r\n", 4);
            if (!e)
                continue;
            assert_non_null(strcasestr(buf, "transfer-encoding: chunked"));
            p = (size_t)(e - buf) + 4;
            in_head = false;
        }
        for (;;) {
            if (st == SIZE) {
                char *e = memmem(buf + p, len - p, "\r\n", 2);
                if (!e)
                    break;
                chunk_left = strtoul(buf + p, NULL, 16);
                p = (size_t)(e - buf) + 2;
                st = DATA;
                if (chunk_left == 0) {
                    done = true;
                    break;
                }
            } else if (st == DATA) {
                size_t k = len - p < chunk_left ? len - p : chunk_left;
                if (k == 0)
                    break;
                assert_memory_equal(buf + p, pattern + body % 251, k);
                body += k;
                p += k;
                chunk_left -= k;
                if (chunk_left == 0)
                    st = DATA_CRLF;
            } else {
                if (len - p < 2)
                    break;
                assert_memory_equal(buf + p, "\r\n", 2);
                p += 2;
                st = SIZE;
            }
        }
        memmove(buf, buf + p, len - p);
        len -= p;
        if (++reads % 64 == 0) {
            size_t rss = fht_rss_kb();
            if (rss > *peak_rss_kb)
                *peak_rss_kb = rss;
        }
        usleep(1000); /* at most one small read per millisecond: ~50 MB/s */
    }
    return body;
}

static void test_100mb_to_slow_reader_bounded(void **state) {
    (void)state;
    atomic_store(&max_buffered_seen, 0);
    int eagain = atomic_load(&n_eagain), drain = atomic_load(&n_drain);
    int fd = fht_connect(fht_port);
    /* A small receive buffer keeps the reader slow and the server waiting. */
    int rcv = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "plain", 0);
    size_t before = fht_rss_kb(), peak = before;
    fht_send_str(fd, "GET /big?mb=100 HTTP/1.1\r\nHost: t\r\n\r\n");
    size_t got = read_big_chunked(fd, &peak);
    assert_int_equal(got, (size_t)100 << 20);
    /* Backpressure happened, and the stream never held more than its bound
     * (plus the one piece that may enter an empty buffer). */
    assert_true(atomic_load(&n_eagain) > eagain);
    assert_true(atomic_load(&n_drain) > drain);
    assert_true(atomic_load(&max_buffered_seen) <= BOUND + PIECE);
    /* The process (server and client) grew by far less than the body. */
    print_message("100 MB stream: RSS %zu kB before, %zu kB peak; max buffered %zu bytes\n", before,
                  peak, (size_t)atomic_load(&max_buffered_seen));
    assert_true(peak - before < 16 * 1024);
    /* Keep-alive still works after 100 MB. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect_response(fd, 0, 200, "plain", 0);
    fht_close(fd);
}

static void test_client_leaves_mid_stream(void **state) {
    (void)state;
    int canceled = atomic_load(&n_canceled), released = atomic_load(&n_released);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /chunks?n=100000&ms=1&track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    char buf[512];
    assert_true(recv(fd, buf, sizeof(buf), 0) > 0); /* streaming */
    usleep(20000);
    fht_close(fd);
    fht_wait_for(&n_canceled, canceled + 1);
    fht_wait_for(&n_released, released + 1);
}

static void test_client_leaves_with_full_buffer(void **state) {
    (void)state;
    int canceled = atomic_load(&n_canceled), released = atomic_load(&n_released);
    int full = atomic_load(&n_stuck_full);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /stuck?track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_wait_for(&n_stuck_full, full + 1);
    usleep(50000); /* socket buffers fill up; the stream holds its bound */
    fht_close(fd);
    fht_wait_for(&n_canceled, canceled + 1);
    fht_wait_for(&n_released, released + 1);
}

static void test_stalled_reader_times_out(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.timeouts.write_ms = 200;
    fh_server_t *s = fht_server_start(&cfg);
    int canceled = atomic_load(&n_canceled), released = atomic_load(&n_released);
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET /stuck?track=1 HTTP/1.1\r\nHost: t\r\n\r\n");
    /* The client never reads: the write timeout closes the connection and
     * the stream is canceled, without the client doing anything. */
    fht_wait_for(&n_canceled, canceled + 1);
    fht_wait_for(&n_released, released + 1);
    fh_server_stats_t st;
    fh_server_stats(s, &st);
    assert_true(st.timeouts >= 1);
    fht_close(fd);
    fht_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_from_timer),
        cmocka_unit_test(test_stream_within_handler),
        cmocka_unit_test(test_http10_close_delimited),
        cmocka_unit_test(test_head_gets_head_only),
        cmocka_unit_test(test_pipelined_behind_stream),
        cmocka_unit_test(test_stream_after_defer),
        cmocka_unit_test(test_100mb_to_slow_reader_bounded),
        cmocka_unit_test(test_client_leaves_mid_stream),
        cmocka_unit_test(test_client_leaves_with_full_buffer),
        cmocka_unit_test(test_stalled_reader_times_out),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
