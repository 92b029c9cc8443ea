/* The connection without HTTP: a protocol of the test's own over one end
 * of a socketpair on a loop run here. Reads into the loop's buffer, bytes
 * kept and moved (with the protocol's rebase), the keep limit, the write
 * queue (partial writes, order, a write of no bytes behind others, cancel
 * on close), lingering, EOF, and both deadlines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/conn.h"
#include "core/worker.h"

static fh_server_t server;
static fh__worker_t worker;
static fh__conn_t *conn; /* the connection under test, NULL once closed */
static int peer = -1;    /* the test's end of the socketpair */
static int conn_fd = -1; /* the connection's end */

/* ------------------------------------------------------- the protocol */

enum { KEEP_ALL, DROP_ALL };
static int mode;
static char seen[1 << 20]; /* every byte on_data was given, in order */
static size_t nseen;
static bool last_in_loop_buffer;
static const char *view; /* a view into kept bytes, moved by rebase */
static int rebases, eofs, timeouts, closes, stops;

static int p_open(fh__conn_t *c) {
    conn = c;
    return 0;
}

static void p_on_data(fh__conn_t *c, char *p, char *end) {
    size_t n = (size_t)(end - p);
    assert_true(nseen + n <= sizeof(seen));
    memcpy(seen + nseen, p, n);
    nseen += n;
    last_in_loop_buffer = p >= worker.loop_buf && p < worker.loop_buf + FH__LOOP_BUF_SIZE;
    if (mode == DROP_ALL) {
        fh__conn_drop(c);
        return;
    }
    /* Everything read so far is kept and consumed. */
    const char *from, *kend;
    if (!fh__conn_kept(c, &from, &kend))
        from = p;
    if (!view)
        view = from;
    fh__conn_keep(c, from, end, end);
}

static void p_on_eof(fh__conn_t *c) {
    (void)c;
    eofs++;
}

static void p_on_timeout(fh__conn_t *c) {
    (void)c;
    timeouts++;
}

static void p_rebase(fh__conn_t *c, const char *lo, const char *hi, ptrdiff_t delta) {
    (void)c;
    rebases++;
    if (view && view >= lo && view < hi)
        view += delta;
}

static void p_stop(fh__conn_t *c, bool force) {
    (void)c;
    (void)force;
    stops++;
}

static void p_close(fh__conn_t *c) {
    (void)c;
    closes++;
    conn = NULL;
}

static const fh__protocol_t test_protocol = {
    .name = "test",
    .data_size = 16,
    .open = p_open,
    .on_data = p_on_data,
    .on_eof = p_on_eof,
    .on_timeout = p_on_timeout,
    .rebase = p_rebase,
    .stop = p_stop,
    .close = p_close,
};

/* ------------------------------------------------------------ helpers */

static void spin(int rounds) {
    for (int i = 0; i < rounds; i++) {
        uv_run(&worker.loop, UV_RUN_NOWAIT);
        usleep(200);
    }
}

static int setup(void **state) {
    (void)state;
    memset(&server, 0, sizeof(server));
    server.cfg.timeouts.write_ms = 50;
    assert_int_equal(fh__worker_new(&worker, &server, 0), 0);
    assert_int_equal(uv_loop_init(&worker.loop), 0);
    worker.loop.data = &worker;
    return 0;
}

static int teardown(void **state) {
    (void)state;
    spin(5);
    assert_int_equal(uv_loop_close(&worker.loop), 0);
    fh__worker_free(&worker);
    return 0;
}

/* Opens a connection over a fresh socketpair (small buffers when small). */
static void open_pair(bool small) {
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    if (small) {
        int n = 4096;
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &n, sizeof(n));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &n, sizeof(n));
    }
    nseen = 0;
    view = NULL;
    rebases = eofs = timeouts = closes = stops = 0;
    mode = KEEP_ALL;
    conn_fd = sv[0];
    assert_int_equal(fh__conn_open(&worker, sv[0], &fh__transport_tcp, &test_protocol), 0);
    assert_non_null(conn);
    peer = sv[1];
}

static void close_pair(void) {
    if (conn)
        fh__conn_close(conn);
    close(peer);
    peer = -1;
    spin(3);
    assert_null(conn);
    assert_int_equal(worker.nconns, 0);
}

static void send_all(const void *p, size_t n) {
    const char *s = p;
    while (n) {
        ssize_t k = send(peer, s, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EAGAIN) {
            spin(1);
            continue;
        }
        assert_true(k > 0);
        s += k;
        n -= (size_t)k;
    }
}

/* Reads what is there now from the peer's end (non-blocking). */
static size_t drain_peer(char *buf, size_t cap) {
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(peer, buf + got, cap - got, 0);
        if (k <= 0)
            return got;
        got += (size_t)k;
        if (got == cap)
            return got;
    }
}

/* -------------------------------------------------------------- reads */

static void test_reads_land_in_the_loop_buffer_until_kept(void **state) {
    (void)state;
    open_pair(false);
    mode = DROP_ALL;
    send_all("abc", 3);
    spin(3);
    assert_int_equal(nseen, 3);
    assert_true(last_in_loop_buffer); /* nothing kept: no buffer of its own */
    mode = KEEP_ALL;
    send_all("def", 3);
    spin(3);
    send_all("ghi", 3);
    spin(3);
    assert_int_equal(nseen, 9);
    assert_false(last_in_loop_buffer); /* the tail of the kept bytes */
    const char *p, *end;
    assert_true(fh__conn_kept(conn, &p, &end));
    assert_int_equal(end - p, 6);
    assert_memory_equal(p, "defghi", 6);
    assert_true(fh__conn_holds(conn, p));
    fh__conn_drop(conn);
    assert_false(fh__conn_kept(conn, &p, &end));
    close_pair();
}

static void test_kept_bytes_grow_and_views_follow(void **state) {
    (void)state;
    open_pair(false);
    static char big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    send_all(big, sizeof(big));
    spin(50);
    assert_int_equal(nseen, sizeof(big));
    assert_true(rebases > 0); /* the buffer moved as it grew */
    const char *p, *end;
    assert_true(fh__conn_kept(conn, &p, &end));
    assert_int_equal(end - p, sizeof(big));
    assert_memory_equal(p, big, sizeof(big));
    assert_ptr_equal(view, p); /* the protocol's view was moved with the bytes */
    close_pair();
}

static void test_keep_limit_closes(void **state) {
    (void)state;
    open_pair(false);
    fh__conn_set_keep_limit(conn, 32768);
    static char big[100000];
    memset(big, 'x', sizeof(big));
    send(peer, big, sizeof(big), MSG_NOSIGNAL); /* may stop short when closed */
    spin(50);
    assert_null(conn); /* over the limit: closed, not grown */
    assert_int_equal(closes, 1);
    assert_true(nseen <= 32768 + FH__LOOP_BUF_SIZE);
    close(peer);
    spin(3);
}

static void test_eof_tells_the_protocol(void **state) {
    (void)state;
    open_pair(false);
    shutdown(peer, SHUT_WR);
    spin(5);
    assert_int_equal(eofs, 1);
    assert_true(fh__conn_peer_done(conn));
    close_pair();
}

/* ------------------------------------------------------------- writes */

static int written[8], nwritten;

static void on_written(fh__conn_t *c, fh__write_t *w, int status) {
    (void)c;
    (void)w;
    written[nwritten++] = status;
}

static void test_queued_writes_leave_in_order(void **state) {
    (void)state;
    open_pair(true);
    nwritten = 0;
    static char a[1 << 20], b[100];
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = (char)(i % 251);
    memset(b, 'B', sizeof(b));
    uv_buf_t ba[2] = { uv_buf_init(a, sizeof(a) / 2),
                       uv_buf_init(a + sizeof(a) / 2, sizeof(a) / 2) };
    uv_buf_t bb[1] = { uv_buf_init(b, sizeof(b)) };
    uv_buf_t bz[1] = { uv_buf_init(b, 0) };
    fh__write_t wa = { .cb = on_written, .bufs = ba, .nbufs = 2 };
    fh__write_t wb = { .cb = on_written, .bufs = bb, .nbufs = 1 };
    fh__write_t wz = { .cb = on_written, .bufs = bz, .nbufs = 1 };
    assert_int_equal(fh__conn_write(conn, &wa), 0); /* the socket takes a part only */
    assert_true(fh__conn_writing(conn));
    /* Behind it, even no bytes wait their turn; try_write does not jump. */
    assert_int_equal(fh__conn_try_write(conn, bb, 1), 0);
    assert_int_equal(fh__conn_write(conn, &wz), 0);
    assert_int_equal(fh__conn_write(conn, &wb), 0);
    static char got[(1 << 20) + 200];
    size_t n = 0;
    for (int round = 0; round < 20000 && n < sizeof(a) + sizeof(b); round++) {
        spin(1);
        n += drain_peer(got + n, sizeof(got) - n);
    }
    assert_int_equal(n, sizeof(a) + sizeof(b));
    assert_memory_equal(got, a, sizeof(a));
    assert_memory_equal(got + sizeof(a), b, sizeof(b));
    assert_int_equal(nwritten, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(written[i], 0);
    assert_false(fh__conn_writing(conn));
    close_pair();
}

static int order[8], norder;
static void on_order(fh__conn_t *c, fh__write_t *w, int status) {
    (void)w;
    /* Writes are canceled after the protocol let go. */
    assert_null(conn);
    (void)c;
    order[norder++] = status;
}

static void test_close_cancels_queued_writes(void **state) {
    (void)state;
    open_pair(true);
    norder = 0;
    static char a[1 << 20];
    memset(a, 'a', sizeof(a));
    uv_buf_t b1[1] = { uv_buf_init(a, sizeof(a)) }, b2[1] = { uv_buf_init(a, 10) };
    fh__write_t w1 = { .cb = on_order, .bufs = b1, .nbufs = 1 };
    fh__write_t w2 = { .cb = on_order, .bufs = b2, .nbufs = 1 };
    assert_int_equal(fh__conn_write(conn, &w1), 0);
    assert_int_equal(fh__conn_write(conn, &w2), 0);
    fh__conn_close(conn);
    assert_int_equal(closes, 1);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], FH_ECANCELED);
    assert_int_equal(order[1], FH_ECANCELED);
    close_pair();
}

/* ---------------------------------------------------- ending, deadlines */

static void test_linger_reads_until_eof(void **state) {
    (void)state;
    open_pair(false);
    fh__conn_linger(conn, 5000, 1 << 20);
    spin(3);
    char c;
    assert_int_equal(recv(peer, &c, 1, 0), 0); /* our side is shut: EOF */
    send_all("late bytes", 10);                /* dropped, no reset */
    spin(3);
    assert_non_null(conn);
    assert_int_equal(nseen, 0);
    shutdown(peer, SHUT_WR);
    spin(5);
    assert_null(conn); /* the peer's EOF ends it */
    close_pair();
}

/* Past its byte bound a lingering connection reads no more, but is not
 * closed (a close with bytes unread would reset it and destroy the answer
 * the peer has not read yet) until its deadline. */
static void test_linger_bounded_by_bytes(void **state) {
    (void)state;
    open_pair(false);
    fh__conn_linger(conn, 50, 100);
    static char junk[1000];
    assert_int_equal(send(peer, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    spin(5);
    assert_non_null(conn);
    /* The first read took the 1,000 bytes, past the bound: the next
     * 1,000 stay in the socket, unread. */
    assert_int_equal(send(peer, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    spin(5);
    assert_non_null(conn);
    int queued = -1;
    assert_int_equal(ioctl(conn_fd, FIONREAD, &queued), 0);
    assert_int_equal(queued, (int)sizeof(junk));
    /* The peer's end, behind the unread bytes, ends it at once. */
    shutdown(peer, SHUT_WR);
    spin(5);
    assert_null(conn);
    close_pair();

    /* A peer that neither reads nor ends: the deadline ends it. */
    open_pair(false);
    fh__conn_linger(conn, 50, 100);
    assert_int_equal(send(peer, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    spin(5);
    assert_non_null(conn);
    for (int i = 0; i < 200 && conn; i++) {
        usleep(1000);
        uv_update_time(&worker.loop);
        fh__conn_sweep(&worker);
        spin(1);
    }
    assert_null(conn);
    close_pair();
}

static void test_deadlines(void **state) {
    (void)state;
    open_pair(true);
    /* The read deadline is the protocol's: it is told. */
    fh__conn_set_read_deadline(conn, uv_now(&worker.loop));
    uv_update_time(&worker.loop);
    fh__conn_sweep(&worker);
    assert_int_equal(timeouts, 1);
    assert_non_null(conn);
    /* A write that makes no progress for write_ms closes the connection. */
    static char a[1 << 20];
    uv_buf_t b[1] = { uv_buf_init(a, sizeof(a)) };
    nwritten = 0;
    fh__write_t w = { .cb = on_written, .bufs = b, .nbufs = 1 };
    assert_int_equal(fh__conn_write(conn, &w), 0);
    for (int i = 0; i < 200 && conn; i++) {
        usleep(1000);
        uv_update_time(&worker.loop);
        fh__conn_sweep(&worker);
    }
    assert_null(conn);
    assert_int_equal(nwritten, 1);
    assert_int_equal(written[0], FH_ECANCELED);
    close_pair();
}

static void test_stop_reaches_the_protocol(void **state) {
    (void)state;
    open_pair(false);
    fh__conn_stop_all(&worker, false);
    assert_int_equal(stops, 1);
    fh__conn_stop_all(&worker, true); /* forced: closed */
    assert_null(conn);
    close_pair();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_land_in_the_loop_buffer_until_kept),
        cmocka_unit_test(test_kept_bytes_grow_and_views_follow),
        cmocka_unit_test(test_keep_limit_closes),
        cmocka_unit_test(test_eof_tells_the_protocol),
        cmocka_unit_test(test_queued_writes_leave_in_order),
        cmocka_unit_test(test_close_cancels_queued_writes),
        cmocka_unit_test(test_linger_reads_until_eof),
        cmocka_unit_test(test_linger_bounded_by_bytes),
        cmocka_unit_test(test_deadlines),
        cmocka_unit_test(test_stop_reaches_the_protocol),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
