/* WebSocket across threads: a room whose members live on both workers
 * gets a broadcast sent from one member's loop and one sent from a thread
 * outside the server; fh_ws_post from the test thread delivers in order,
 * and after the connection has gone is dropped safely (the held handle
 * stays valid); closed connections leave the room. Run under TSan too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/websocket.h"
#include "core/worker.h"
#include "testutil.h"

static fh_ws_room_t *room;
static _Atomic(fh_ws_t *) held;
static atomic_int workers_seen[2], opened;

static int on_open(fh_ws_t *ws, fh_request_t *req, void *data) {
    (void)req, (void)data;
    atomic_fetch_add(&workers_seen[ws->w->index], 1);
    assert_int_equal(fh_ws_room_join(room, ws), 0);
    assert_int_equal(fh_ws_room_join(room, ws), FH_EEXIST);
    fh_ws_t *none = NULL;
    fh_ws_hold(ws);
    if (!atomic_compare_exchange_strong(&held, &none, ws))
        fh_ws_release(ws);
    atomic_fetch_add(&opened, 1);
    return 0;
}

/* A member's message goes to the whole room, from its loop. */
static void on_message(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)ws, (void)data;
    assert_int_equal(fh_ws_room_broadcast(room, kind, msg, len), 0);
}

static const fh_ws_handlers_t room_h = { .on_open = on_open, .on_message = on_message };
static const fh_route_t routes[] = { FH_WS("/room", &room_h), FH_ROUTES_END };

static int ws_connect(void) {
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /room HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
    char head[512];
    size_t n = 0, got;
    while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
        assert_int_equal(fht_recv_exact(fd, head + n, 1, &got), 0);
        n++;
    }
    return fd;
}

/* Reads one small text frame and checks its payload. */
static void expect_text(int fd, const char *want) {
    uint8_t h[2], buf[128];
    size_t got, n = strlen(want);
    if (fht_recv_exact(fd, h, 2, &got) != 0)
        fail_msg("fd %d: no frame for '%s' (%zu bytes)", fd, want, got);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], n);
    assert_int_equal(fht_recv_exact(fd, buf, n, &got), 0);
    assert_memory_equal(buf, want, n);
}

static void wait_size(size_t want) {
    for (int i = 0; i < 500 && fh_ws_room_size(room) != want; i++)
        usleep(10000);
    assert_int_equal(fh_ws_room_size(room), want);
}

static void test_rooms_across_workers(void **state) {
    (void)state;
    fh_router_t *router;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "", routes, NULL), 0);
    fht_start_handler(fh_router_handle, router, 2);
    assert_int_equal(fh_ws_room_new(fht_server, &room), 0);
    enum { N = 24 };
    int fds[N];
    /* The first connection's on_open has run (it holds the handle the
     * posts go to) before the others connect. */
    fds[0] = ws_connect();
    fht_wait_for(&opened, 1);
    for (int i = 1; i < N; i++)
        fds[i] = ws_connect();
    wait_size(N);
    /* SO_REUSEPORT spreads 24 connections over both workers (all on one:
     * a chance of 2^-23). */
    assert_true(atomic_load(&workers_seen[0]) > 0 && atomic_load(&workers_seen[1]) > 0);

    /* From a member's loop: everyone, the sender too. */
    uint8_t frame[64] = { 0x81, 0x85, 0, 0, 0, 0, 'h', 'e', 'l', 'l', 'o' };
    fht_send(fds[3], frame, 11);
    for (int i = 0; i < N; i++)
        expect_text(fds[i], "hello");
    /* From outside the server. */
    for (int k = 0; k < 10; k++)
        assert_int_equal(fh_ws_room_broadcast(room, FH_WS_TEXT, "outside", 7), 0);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 10; k++)
            expect_text(fds[i], "outside");
    assert_int_equal(fh_ws_room_broadcast(room, 9, "x", 1), FH_EINVAL);

    /* fh_ws_post from this thread to the first connection, in order. */
    fh_ws_t *ws = atomic_load(&held);
    assert_non_null(ws);
    char msg[16];
    for (int k = 0; k < 100; k++) {
        snprintf(msg, sizeof(msg), "post %03d", k);
        assert_int_equal(fh_ws_post(ws, FH_WS_TEXT, msg, strlen(msg)), 0);
    }
    for (int k = 0; k < 100; k++) {
        snprintf(msg, sizeof(msg), "post %03d", k);
        expect_text(fds[0], msg);
    }
    /* Everyone leaves; a post to a gone connection is dropped. */
    for (int i = 0; i < N; i++)
        fht_close(fds[i]);
    wait_size(0);
    assert_int_equal(fh_ws_post(ws, FH_WS_BINARY, "late", 4), 0);
    usleep(50000);
    fh_ws_release(ws);
    fht_stop();
    fh_ws_room_free(room);
    fh_router_free(router);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rooms_across_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
