/* WebSocket messages in steady state make no malloc call: after a warm-up,
 * thousands of echo round trips of uncompressed messages under 4 KiB
 * (text, binary, fragmented, pings) leave the allocation count at 0; so do
 * the same messages streamed in parts (on_message_part), each answered
 * with its size.
 *
 * Links tests/support/alloc_count.c (every allocation of the process is
 * counted); the test thread allocates nothing while counting: fixed
 * buffers and plain send/recv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "alloc_count.h"
#include "testutil.h"

static void echo(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)data;
    fh_ws_send(ws, kind, msg, len);
}
static const fh_ws_handlers_t echo_h = { .on_message = echo };

/* Streaming: each message's parts are counted (one connection at a time,
 * on its loop) and its size goes back as 8 bytes. */
static uint64_t part_total;
static void parts(fh_ws_t *ws, fh_ws_kind_t kind, const void *p, size_t len, bool first, bool last,
                  void *data) {
    (void)kind, (void)p, (void)data;
    if (first)
        part_total = 0;
    part_total += len;
    if (last) {
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(part_total >> (56 - 8 * i));
        fh_ws_send(ws, FH_WS_BINARY, b, 8);
    }
}
static const fh_ws_handlers_t parts_h = { .on_message_part = parts };
static const fh_route_t routes[] = { FH_WS("/echo", &echo_h), FH_WS("/parts", &parts_h),
                                     FH_ROUTES_END };

static void recv_all(int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, buf + got, n - got, 0);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

/* One masked client frame into out; returns its length. */
static size_t frame(uint8_t *out, uint8_t first, const uint8_t *p, size_t len) {
    size_t h = 0;
    out[h++] = first;
    if (len < 126) {
        out[h++] = 0x80 | (uint8_t)len;
    } else {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    }
    static const uint8_t mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = p[i] ^ mask[i & 3];
    return h + len;
}

static uint8_t payload[4095], out[3 * 4200], in[3 * 4200];

/* One round: a text message of n bytes whole, a binary one in three
 * fragments, and a ping; reads the three answers. */
static void round_trip(int fd, size_t n, bool streamed) {
    size_t k = frame(out, 0x81, payload, n);
    size_t third = n / 3;
    k += frame(out + k, 0x02, payload, third);
    k += frame(out + k, 0x00, payload + third, third);
    k += frame(out + k, 0x80, payload + 2 * third, n - 2 * third);
    k += frame(out + k, 0x89, payload, 4);
    assert_int_equal(send(fd, out, k, 0), (ssize_t)k);
    if (streamed) {
        /* Two sizes (8-byte binary messages), then the pong. */
        recv_all(fd, in, 2 * 10 + 6);
        assert_int_equal(in[0], 0x82);
        assert_int_equal(in[9], (uint8_t)n);
        assert_int_equal(in[10], 0x82);
        assert_int_equal(in[19], (uint8_t)n);
        assert_int_equal(in[20], 0x8a);
        return;
    }
    size_t head = n < 126 ? 2 : 4;
    size_t want = 2 * (head + n) + 2 + 4;
    recv_all(fd, in, want);
    assert_int_equal(in[0], 0x81);
    assert_int_equal(in[head + n], 0x82);
    assert_int_equal(in[2 * (head + n)], 0x8a);
}

static void test_zero_malloc_per_message(void **state) {
    (void)state;
    memset(payload, 'x', sizeof(payload));
    fh_router_t *router;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "", routes, NULL), 0);
    fht_start_handler(fh_router_handle, router, 2);
    for (int streamed = 0; streamed < 2; streamed++) {
        int fd = fht_connect(fht_port);
        fht_send_str(fd, streamed ? "GET /parts HTTP/1.1\r\n" : "GET /echo HTTP/1.1\r\n");
        fht_send_str(fd, "Host: t\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n");
        char head[512];
        size_t n = 0;
        while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
            size_t got;
            assert_int_equal(fht_recv_exact(fd, head + n, 1, &got), 0);
            n++;
        }
        static const size_t sizes[] = { 32, 125, 126, 1000, 4095 };
        for (int w = 0; w < 50; w++)
            for (size_t s = 0; s < 5; s++)
                round_trip(fd, sizes[s], streamed);
        fht_alloc_count_start();
        for (int r = 0; r < 1000; r++)
            for (size_t s = 0; s < 5; s++)
                round_trip(fd, sizes[s], streamed);
        fht_alloc_count_stop();
        unsigned long mallocs = fht_alloc_count_mallocs(), frees = fht_alloc_count_frees();
        printf("websocket%s: 5,000 rounds (15,000 messages and 5,000 pings): %lu mallocs, %lu "
               "frees\n",
               streamed ? " (streamed in parts)" : "", mallocs, frees);
        assert_int_equal(mallocs, 0);
        assert_int_equal(frees, 0);
        fht_close(fd);
    }
    fht_stop();
    fh_router_free(router);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_malloc_per_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
