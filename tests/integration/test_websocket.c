/* WebSocket (RFC 6455) over real sockets: the handshake and its refusals,
 * and the framing and closing rules as data: the bytes a client sends
 * after the handshake and the bytes the server must answer, and whether
 * it then closes. Client frames in the tables are masked with the key
 * 00000000, so that their payloads read as they travel. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"
#include "tls_files.h"

static atomic_int opens, closes, last_close;
static atomic_int max_queued;
static atomic_int flood_left;

static void echo_message(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)data;
    if (len == 8 && memcmp(msg, "close-me", 8) == 0) {
        assert_int_equal(fh_ws_close(ws, 1000, "bye"), 0);
        assert_int_equal(fh_ws_send(ws, kind, msg, len), FH_ESTATE);
        return;
    }
    fh_ws_send(ws, kind, msg, len);
}

static int count_open(fh_ws_t *ws, fh_request_t *req, void *data) {
    (void)ws, (void)req, (void)data;
    atomic_fetch_add(&opens, 1);
    return 0;
}

static void count_close(fh_ws_t *ws, int code, fh_str_t reason, void *data) {
    (void)ws, (void)reason, (void)data;
    atomic_store(&last_close, code);
    atomic_fetch_add(&closes, 1);
}

/* Sends 16 KiB binary messages until the queue refuses, and again once it
 * has drained, until flood_left reaches 0. */
static void flood(fh_ws_t *ws) {
    static char block[16384];
    while (atomic_load(&flood_left) > 0) {
        int err = fh_ws_send(ws, FH_WS_BINARY, block, sizeof(block));
        int q = (int)fh_ws_queued(ws);
        if (q > atomic_load(&max_queued))
            atomic_store(&max_queued, q);
        if (err == FH_EAGAIN)
            return;
        assert_int_equal(err, 0);
        atomic_fetch_sub(&flood_left, 1);
    }
}
static void flood_message(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)kind, (void)msg, (void)len, (void)data;
    flood(ws);
}
static void flood_drained(fh_ws_t *ws, void *data) {
    (void)data;
    flood(ws);
}

static const fh_ws_handlers_t echo_h = { .on_message = echo_message };
static const fh_ws_handlers_t cb_h = { .on_open = count_open,
                                       .on_message = echo_message,
                                       .on_close = count_close };
static const fh_ws_handlers_t small_h = { .on_message = echo_message, .max_message = 1024 };
static const fh_ws_handlers_t idle_h = { .on_message = echo_message,
                                         .idle_ms = 300,
                                         .close_ms = 300 };
static const char *const protos[] = { "chat.v2", "chat", NULL };
static const char *const origins[] = { "http://ok.example", NULL };
static const fh_ws_handlers_t proto_h = { .subprotocols = protos,
                                          .origins = origins,
                                          .on_message = echo_message };
static const fh_ws_handlers_t flood_h = { .on_message = flood_message,
                                          .on_drained = flood_drained,
                                          .max_queue = 256 * 1024 };

/* Messages of up to 10,000 bytes, and the largest limits accepted. */
static const fh_ws_handlers_t frag_h = { .on_message = echo_message, .max_message = 10000 };
static const fh_ws_handlers_t huge_h = { .on_message = echo_message,
                                         .max_message = FH_WS_MAX_MESSAGE_LIMIT,
                                         .max_queue = FH_WS_MAX_QUEUE_LIMIT,
                                         .close_ms = FH_WS_MAX_CLOSE_MS };
/* Server pings every 200 ms; a pong is awaited 400 ms. */
static const fh_ws_handlers_t ping_h = { .on_open = count_open,
                                         .on_message = echo_message,
                                         .on_close = count_close,
                                         .ping_ms = 200,
                                         .pong_ms = 400 };
/* A frame limit above the message limit: every handshake gets 500. */
static const fh_ws_handlers_t bad_h = { .on_message = echo_message,
                                        .max_message = 1000,
                                        .max_frame = 1001 };

static const fh_ws_handlers_t z_h = { .on_message = echo_message,
                                      .deflate = true,
                                      .max_message = 1 << 20 };

/* A per-route middleware on a WebSocket route: no X-Token, 401; its after
 * hook sees the 101. */
static atomic_int after_status;
static int token_before(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (!fh_str_eq(fh_request_header(req, "X-Token"), "ok")) {
        fh_send_text(res, 401, "token\n");
        return FH_STOP;
    }
    return FH_NEXT;
}
static void token_after(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req, (void)data;
    atomic_store(&after_status, fh_response_get_status(res));
}
static const fh_middleware_t token_mw = { .name = "token",
                                          .before = token_before,
                                          .after = token_after };

static const fh_route_t routes[] = {
    FH_ROUTE_MW(FH_METHOD_GET, "/auth", fh_ws_route, (void *)&echo_h,
                ((const fh_middleware_t *const[]){ &token_mw, NULL })),
    FH_WS("/z", &z_h),
    FH_WS("/echo", &echo_h),
    FH_WS("/small", &small_h),
    FH_WS("/idle", &idle_h),
    FH_WS("/proto", &proto_h),
    FH_WS("/flood", &flood_h),
    FH_WS("/cb", &cb_h),
    FH_WS("/frag", &frag_h),
    FH_WS("/huge", &huge_h),
    FH_WS("/bad", &bad_h),
    FH_WS("/ping", &ping_h),
    FH_ROUTES_END,
};

static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "", routes, NULL), 0);
    fht_start_handler(fh_router_handle, router, 2);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    return 0;
}

/* ---------------------------------------------------------------- client */

static size_t unhex(const char *hex, uint8_t *out, size_t cap) {
    size_t n = 0;
    for (const char *p = hex; *p;) {
        if (*p == ' ') {
            p++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(p, "%2x", &v), 1);
        assert_true(n < cap);
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

/* Opens path with the handshake (extra header lines appended) and checks
 * the 101; returns the fd. */
static int ws_open(const char *path, const char *extra) {
    int fd = fht_connect(fht_port);
    char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra ? extra : "");
    fht_send_str(fd, req);
    char head[2048];
    size_t n = 0;
    while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
        size_t got;
        assert_int_equal(fht_recv_exact(fd, head + n, 1, &got), 0);
        n++;
        assert_true(n < sizeof(head) - 1);
    }
    head[n] = 0;
    /* RFC 6455 1.3's example key and accept value. */
    if (!strstr(head, "HTTP/1.1 101 Switching Protocols\r\n") ||
        !strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        fail_msg("not the handshake: %s", head);
    return fd;
}

/* Reads one server frame: returns its first byte, payload into buf. */
static int ws_read(int fd, uint8_t *buf, size_t cap, size_t *len) {
    uint8_t h[10];
    size_t got;
    if (fht_recv_exact(fd, h, 2, &got) != 0)
        return -1;
    assert_int_equal(h[1] & 0x80, 0); /* servers never mask */
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        assert_int_equal(fht_recv_exact(fd, h + 2, 2, &got), 0);
        n = (uint64_t)h[2] << 8 | h[3];
    } else if (n == 127) {
        assert_int_equal(fht_recv_exact(fd, h + 2, 8, &got), 0);
        n = 0;
        for (int i = 2; i < 10; i++)
            n = n << 8 | h[i];
    }
    assert_true(n <= cap);
    if (n)
        assert_int_equal(fht_recv_exact(fd, buf, (size_t)n, &got), 0);
    *len = (size_t)n;
    return h[0];
}

/* A masked client frame with a real mask. */
static size_t ws_frame(uint8_t *out, uint8_t first, const void *p, size_t len) {
    static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    size_t h = 0;
    out[h++] = first;
    if (len < 126) {
        out[h++] = 0x80 | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(len >> 8);
        out[h++] = (uint8_t)len;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            out[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        out[h + i] = ((const uint8_t *)p)[i] ^ mask[i & 3];
    return h + len;
}

/* --------------------------------------------------------- the handshake */

static void test_handshake_refusals(void **state) {
    (void)state;
    static const struct {
        const char *name, *head;
        int status;
        const char *header, *value;
    } cases[] = {
        { "version 8",
          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n",
          426, "Sec-WebSocket-Version", "13" },
        { "no version",
          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
          426, "Sec-WebSocket-Version", "13" },
        { "no upgrade",
          "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n",
          426, "Upgrade", "websocket" },
        { "no connection",
          "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n",
          400, NULL, NULL },
        { "short key",
          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\nSec-WebSocket-Version: 13\r\n",
          400, NULL, NULL },
        { "key not base64",
          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==\r\n"
          "Sec-WebSocket-Version: 13\r\n",
          400, NULL, NULL },
        { "no key", "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n",
          400, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char raw[1024];
        snprintf(raw, sizeof(raw), "GET /echo HTTP/1.1\r\nHost: t\r\n%s\r\n", cases[i].head);
        fht_response_t r;
        fht_exchange(raw, &r);
        if (r.status != cases[i].status)
            fail_msg("%s: status %d, want %d", cases[i].name, r.status, cases[i].status);
        if (cases[i].header)
            assert_string_equal(fht_hdr(&r, cases[i].header), cases[i].value);
        fht_response_free(&r);
    }
    /* A plain POST to a WebSocket route: the router's 405. */
    fht_response_t r;
    fht_request("POST", "/echo", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 405);
    fht_response_free(&r);
}

static void test_handshake_origin_and_subprotocol(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/proto",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                "Origin: http://evil.example\r\n",
                &r);
    assert_int_equal(r.status, 403);
    fht_response_free(&r);
    fht_request("GET", "/proto",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
                &r);
    assert_int_equal(r.status, 403); /* no Origin where a list is set */
    fht_response_free(&r);

    /* The server's preference wins among what the client offers, across
     * fields; a client offering nothing we speak gets no subprotocol. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /proto HTTP/1.1\r\nHost: t\r\nUpgrade: WebSocket\r\n"
                     "Connection: keep-alive, Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "Origin: http://ok.example\r\nSec-WebSocket-Protocol: x, chat\r\n"
                     "Sec-WebSocket-Protocol: chat.v2\r\n\r\n");
    char buf[1024];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = 0;
    assert_non_null(strstr(buf, "101 Switching Protocols"));
    assert_non_null(strstr(buf, "\r\nSec-WebSocket-Protocol: chat.v2\r\n"));
    fht_close(fd);
    fd = ws_open("/proto", "Origin: http://ok.example\r\nSec-WebSocket-Protocol: mqtt\r\n");
    fht_close(fd);
}

/* Middleware runs on the upgrade request: a before hook refuses it, an
 * after hook sees the 101. */
static void test_handshake_middleware(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/auth",
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
                &r);
    assert_int_equal(r.status, 401);
    fht_response_free(&r);
    atomic_store(&after_status, 0);
    int fd = ws_open("/auth", "X-Token: ok\r\n");
    uint8_t frame[64], buf[64];
    size_t n = ws_frame(frame, 0x81, "hi", 2), len;
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x81);
    assert_int_equal(len, 2);
    for (int i = 0; i < 500 && atomic_load(&after_status) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&after_status), 101);
    fht_close(fd);
}

/* --------------------------------------------------- framing as data */

typedef struct ws_case {
    const char *name;
    const char *path;
    const char *send;   /* hex, after the handshake */
    const char *expect; /* hex of exactly what the server answers */
    bool closes;        /* then the server ends the connection */
} ws_case_t;

#define PING126                                                                                    \
    "89fe007e00000000"                                                                             \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"                             \
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"                             \
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"                             \
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d"

static const ws_case_t cases[] = {
    /* Messages that pass. */
    { "text", "/echo", "8185 00000000 48656c6c6f", "8105 48656c6c6f", false },
    { "empty binary", "/echo", "8280 00000000", "8200", false },
    { "empty text", "/echo", "8180 00000000", "8100", false },
    { "4-byte UTF-8", "/echo", "8184 00000000 f09f9880", "8104 f09f9880", false },
    { "fragments", "/echo", "0182 00000000 4865 0080 00000000 8083 00000000 6c6c6f",
      "8105 48656c6c6f", false },
    { "ping between fragments", "/echo",
      "0182 00000000 4865 8983 00000000 616263 8083 00000000 6c6c6f", "8a03 616263 8105 48656c6c6f",
      false },
    { "UTF-8 split across fragments", "/echo", "0181 00000000 ce 8081 00000000 ba", "8102 ceba",
      false },
    { "ping", "/echo", "8984 00000000 70696e67", "8a04 70696e67", false },
    { "empty ping", "/echo", "8980 00000000", "8a00", false },
    { "pong ignored", "/echo", "8a81 00000000 61 8181 00000000 62", "8101 62", false },
    { "16-bit length", "/small",
      "82fe 007e 00000000"
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
      "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
      "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d",
      "827e 007e"
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
      "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
      "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
      "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d",
      false },
    /* The closing handshake. */
    { "close 1000 with reason", "/echo", "8885 00000000 03e8 627965", "8802 03e8", true },
    { "close without code", "/echo", "8880 00000000", "8800", true },
    { "close 3000", "/echo", "8882 00000000 0bb8", "8802 0bb8", true },
    { "close 4999", "/echo", "8882 00000000 1387", "8802 1387", true },
    { "close 1014", "/echo", "8882 00000000 03f6", "8802 03f6", true },
    { "nothing after close", "/echo", "8880 00000000 8181 00000000 61", "8800", true },
    /* 1002: protocol errors. */
    { "unmasked", "/echo", "8105 48656c6c6f", "8802 03ea", true },
    { "RSV1", "/echo", "c180 00000000", "8802 03ea", true },
    { "RSV2", "/echo", "a180 00000000", "8802 03ea", true },
    { "RSV3", "/echo", "9180 00000000", "8802 03ea", true },
    { "opcode 3", "/echo", "8380 00000000", "8802 03ea", true },
    { "opcode 7", "/echo", "8780 00000000", "8802 03ea", true },
    { "opcode 0xB", "/echo", "8b80 00000000", "8802 03ea", true },
    { "opcode 0xF", "/echo", "8f80 00000000", "8802 03ea", true },
    { "fragmented ping", "/echo", "0980 00000000", "8802 03ea", true },
    { "fragmented close", "/echo", "0880 00000000", "8802 03ea", true },
    { "ping of 126 bytes", "/echo", PING126, "8802 03ea", true },
    { "continuation first", "/echo", "8081 00000000 61", "8802 03ea", true },
    { "text inside a message", "/echo", "0181 00000000 61 8181 00000000 62", "8802 03ea", true },
    { "length top bit", "/echo", "82ff 8000000000000000 00000000", "8802 03ea", true },
    { "close of 1 byte", "/echo", "8881 00000000 03", "8802 03ea", true },
    { "close 999", "/echo", "8882 00000000 03e7", "8802 03ea", true },
    { "close 1004", "/echo", "8882 00000000 03ec", "8802 03ea", true },
    { "close 1005", "/echo", "8882 00000000 03ed", "8802 03ea", true },
    { "close 1006", "/echo", "8882 00000000 03ee", "8802 03ea", true },
    { "close 1015", "/echo", "8882 00000000 03f7", "8802 03ea", true },
    { "close 1016", "/echo", "8882 00000000 03f8", "8802 03ea", true },
    { "close 2999", "/echo", "8882 00000000 0bb7", "8802 03ea", true },
    { "close 5000", "/echo", "8882 00000000 1388", "8802 03ea", true },
    { "close 65535", "/echo", "8882 00000000 ffff", "8802 03ea", true },
    /* 1007: text that is not UTF-8. */
    { "bad UTF-8", "/echo", "8182 00000000 c328", "8802 03ef", true },
    { "overlong", "/echo", "8182 00000000 c0af", "8802 03ef", true },
    { "overlong 3-byte", "/echo", "8183 00000000 e08080", "8802 03ef", true },
    { "surrogate", "/echo", "8183 00000000 eda080", "8802 03ef", true },
    { "above U+10FFFF", "/echo", "8184 00000000 f4908080", "8802 03ef", true },
    { "byte 0xFF", "/echo", "8181 00000000 ff", "8802 03ef", true },
    { "bad first fragment", "/echo", "0181 00000000 ff", "8802 03ef", true },
    { "cut at the end", "/echo", "0181 00000000 ce 8080 00000000", "8802 03ef", true },
    { "cut single frame", "/echo", "8181 00000000 ce", "8802 03ef", true },
    { "close reason not UTF-8", "/echo", "8883 00000000 03e8 ff", "8802 03ef", true },
    /* 1009: above the limits (/small: 1024 bytes). */
    { "frame of limit + 1", "/small", "82fe 0401 00000000", "8802 03f1", true },
    { "frame of 2^62", "/small", "82ff 4000000000000000 00000000", "8802 03f1", true },
};

static void run_case(const ws_case_t *c) {
    uint8_t send[4096], want[1024], got[1024];
    size_t ns = unhex(c->send, send, sizeof(send));
    int fd = ws_open(c->path, NULL);
    fht_send(fd, send, ns);
    if (c->expect) {
        size_t nw = unhex(c->expect, want, sizeof(want)), n;
        if (fht_recv_exact(fd, got, nw, &n) != 0)
            fail_msg("%s: %zu of %zu bytes came", c->name, n, nw);
        if (memcmp(got, want, nw) != 0)
            fail_msg("%s: the answer differs (first byte %02x, want %02x)", c->name, got[0],
                     want[0]);
    }
    int closed = fht_wait_closed(fd, c->closes ? 5000 : 200);
    if (closed != (c->closes ? 1 : 0))
        fail_msg("%s: closed %d", c->name, closed);
    fht_close(fd);
}

static void test_framing_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
    }
}

/* Fragments over the message limit: 1009 once the sum passes it, at the
 * limit exactly a message. */
static void test_message_limit(void **state) {
    (void)state;
    static uint8_t payload[1024], frame[2048], buf[2048];
    memset(payload, 'a', sizeof(payload));
    int fd = ws_open("/small", NULL);
    size_t n = ws_frame(frame, 0x02, payload, 512);
    fht_send(fd, frame, n);
    n = ws_frame(frame, 0x80, payload, 512);
    fht_send(fd, frame, n);
    size_t len;
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x82);
    assert_int_equal(len, 1024);
    n = ws_frame(frame, 0x02, payload, 600);
    fht_send(fd, frame, n);
    n = ws_frame(frame, 0x80, payload, 600);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(len, 2);
    assert_int_equal(buf[0] << 8 | buf[1], 1009);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);
}

/* The limits' check: each at its bound passes, one past it and far past
 * it is refused with a message naming the field and quoting the value. A
 * route whose limits are refused answers 500 to every handshake. */
static void test_limits_check(void **state) {
    (void)state;
    char msg[160];
    fh_ws_handlers_t h = { 0 };
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), 0);
    assert_int_equal(fh_ws_handlers_check(&huge_h, msg, sizeof(msg)), 0);
    assert_int_equal(fh_ws_handlers_check(NULL, msg, sizeof(msg)), FH_EINVAL);
    static const struct {
        fh_ws_handlers_t h;
        const char *want;
    } bad[] = {
        { { .max_message = FH_WS_MAX_MESSAGE_LIMIT + 1 },
          "fasthttp: ws.max_message: 1073741825 is more than the limit (1073741824)" },
        { { .max_message = SIZE_MAX }, "ws.max_message: 18446744073709551615 is more" },
        { { .max_frame = (16u << 20) + 1 },
          "fasthttp: ws.max_frame: 16777217 is more than max_message (16777216)" },
        { { .max_message = 1000, .max_frame = 1001 },
          "fasthttp: ws.max_frame: 1001 is more than max_message (1000)" },
        { { .max_queue = FH_WS_MAX_QUEUE_LIMIT + 1 },
          "fasthttp: ws.max_queue: 1073741825 is more than the limit (1073741824)" },
        { { .deflate = true, .max_message = 100, .deflate_threshold = 101 },
          "fasthttp: ws.deflate_threshold: 101 is more than max_message (100)" },
        { { .close_ms = FH_WS_MAX_CLOSE_MS + 1 },
          "fasthttp: ws.close_ms: 600001 is more than the limit (600000)" },
        { { .close_ms = UINT32_MAX }, "fasthttp: ws.close_ms: 4294967295 is more" },
        { { .ping_ms = FH_WS_MAX_PING_MS + 1 },
          "fasthttp: ws.ping_ms: 86400001 is more than the limit (86400000)" },
        { { .ping_ms = 1000, .pong_ms = FH_WS_MAX_CLOSE_MS + 1 },
          "fasthttp: ws.pong_ms: 600001 is more than the limit (600000)" },
        { { .pong_ms = 1000 }, "fasthttp: ws.pong_ms: 1000 is set without ping_ms" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fh_ws_handlers_check(&bad[i].h, msg, sizeof(msg)), FH_ECONFIG);
        if (!strstr(msg, bad[i].want))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, msg, bad[i].want);
    }
    assert_int_equal(fh_ws_handlers_check(&bad[0].h, NULL, 0), FH_ECONFIG);

    int fd = fht_connect(fht_port);
    fht_send_str(
        fd, "GET /bad HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char head[64] = { 0 };
    size_t n;
    assert_int_equal(fht_recv_exact(fd, head, 12, &n), 0);
    assert_memory_equal(head, "HTTP/1.1 500", 12);
    fht_close(fd);
    /* The largest limits accepted open and echo. */
    fd = ws_open("/huge", NULL);
    uint8_t frame[64], buf[64];
    n = ws_frame(frame, 0x81, "hi", 2);
    fht_send(fd, frame, n);
    size_t len;
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x81);
    assert_int_equal(len, 2);
    fht_close(fd);
}

/* A frame head declaring 1 GiB (and 2^40 bytes) with the default 16 MiB
 * limit: 1009 and the close from the head alone, no payload sent. */
static void test_huge_declared_frame(void **state) {
    (void)state;
    static const uint64_t lens[] = { (uint64_t)1 << 30, (uint64_t)1 << 40 };
    for (size_t k = 0; k < 2; k++) {
        int fd = ws_open("/echo", NULL);
        uint8_t head[14] = { 0x82, 0xff };
        for (int i = 0; i < 8; i++)
            head[2 + i] = (uint8_t)(lens[k] >> (56 - 8 * i));
        fht_send(fd, head, sizeof(head));
        uint8_t buf[64];
        size_t len;
        assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
        assert_int_equal(len, 2);
        assert_int_equal(buf[0] << 8 | buf[1], 1009);
        assert_int_equal(fht_wait_closed(fd, 5000), 1);
        fht_close(fd);
    }
}

/* One message in 10,000 one-byte fragments: at the 10,000-byte limit it
 * arrives whole; 10,001 of them get 1009 and the close. */
static void test_many_fragments(void **state) {
    (void)state;
    enum { FRAGS = 10001 };
    static uint8_t wire[FRAGS * 7], buf[10100];
    for (int extra = 0; extra < 2; extra++) {
        int frags = 10000 + extra;
        size_t n = 0;
        for (int i = 0; i < frags; i++) {
            uint8_t op = i == 0 ? 0x01 : 0x00;
            if (i == frags - 1)
                op |= 0x80;
            n += ws_frame(wire + n, op, "x", 1);
        }
        int fd = ws_open("/frag", NULL);
        fht_send(fd, wire, n);
        size_t len;
        if (!extra) {
            assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x81);
            assert_int_equal(len, 10000);
            assert_int_equal(buf[0], 'x');
            assert_int_equal(buf[9999], 'x');
        } else {
            assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
            assert_int_equal(len, 2);
            assert_int_equal(buf[0] << 8 | buf[1], 1009);
            assert_int_equal(fht_wait_closed(fd, 5000), 1);
        }
        fht_close(fd);
    }
}

/* Server pings: a raw client that answers them stays open past many
 * intervals; one that never answers gets 1011 and the end of the
 * connection once pong_ms has passed; python3-websockets (which answers
 * pings by itself) stays open and echoes after 1.5 s of pings. */
static void test_server_pings(void **state) {
    (void)state;
    uint8_t buf[256], frame[64];
    size_t len, n;
    /* Answers five pings, then checks the connection still echoes. */
    int fd = ws_open("/ping", NULL);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x89);
        assert_int_equal(len, 0);
        n = ws_frame(frame, 0x8a, "", 0);
        fht_send(fd, frame, n);
    }
    n = ws_frame(frame, 0x81, "alive", 5);
    fht_send(fd, frame, n);
    int op;
    while ((op = ws_read(fd, buf, sizeof(buf), &len)) == 0x89) {
        n = ws_frame(frame, 0x8a, "", 0);
        fht_send(fd, frame, n);
    }
    assert_int_equal(op, 0x81);
    assert_memory_equal(buf, "alive", 5);
    fht_close(fd);
    for (int i = 0; i < 500 && atomic_load(&closes) < atomic_load(&opens); i++)
        usleep(10000);

    /* Never answers: one ping, then 1011 after pong_ms. */
    atomic_store(&opens, 0);
    atomic_store(&closes, 0);
    fd = ws_open("/ping", NULL);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x89);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    uint64_t waited = fht_now_ms() - t0;
    assert_int_equal(len, 2);
    assert_int_equal(buf[0] << 8 | buf[1], 1011);
    if (waited < 300)
        fail_msg("1011 came %llu ms after the ping, before pong_ms", (unsigned long long)waited);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);
    for (int i = 0; i < 500 && atomic_load(&closes) == 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&last_close), 1011);

    /* python3-websockets answers the pings by itself (Debian's
     * interpreter, where the package is installed; FH_PYTHON overrides).
     * Over TLS (the integration_tls rerun) it speaks wss:// itself,
     * trusting the test CA. */
    const char *py = getenv("FH_PYTHON") ? getenv("FH_PYTHON") : "/usr/bin/python3";
    char ssl_arg[512] = "";
    if (fht_over_tls())
        snprintf(ssl_arg, sizeof(ssl_arg), ", ssl=ssl.create_default_context(cafile=\"%s\")",
                 fht_tls_path("ca.pem"));
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "timeout 60 %s -c '\n"
             "import asyncio, ssl, websockets\n"
             "async def main():\n"
             "    async with websockets.connect(\"%s://127.0.0.1:%d/ping\", ping_interval=None%s) "
             "as ws:\n"
             "        await asyncio.sleep(1.5)\n"
             "        await ws.send(\"still-here\")\n"
             "        assert await ws.recv() == \"still-here\"\n"
             "asyncio.run(main())\n'",
             py, fht_over_tls() ? "wss" : "ws", fht_port, ssl_arg);
    atomic_store(&closes, 0);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 500 && atomic_load(&closes) == 0; i++)
        usleep(10000);
    assert_int_not_equal(atomic_load(&last_close), 1011);
}

/* Real masks, every length class, a message cut across reads, and 10,000
 * pings in one write answered by 10,000 pongs. */
static void test_masked_and_many(void **state) {
    (void)state;
    static uint8_t payload[70000], frame[70100], buf[70100];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    int fd = ws_open("/echo", NULL);
    static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        size_t n = ws_frame(frame, 0x82, payload, lens[k]);
        /* In two writes, cut inside the head when it is long enough. */
        size_t cut = n > 3 ? 3 : 1;
        fht_send(fd, frame, cut);
        usleep(1000);
        fht_send(fd, frame + cut, n - cut);
        size_t len;
        assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x82);
        assert_int_equal(len, lens[k]);
        assert_memory_equal(buf, payload, len);
    }
    enum { PINGS = 10000 };
    static uint8_t pings[PINGS * 6];
    for (int i = 0; i < PINGS; i++)
        memcpy(pings + 6 * i, "\x89\x80\x01\x02\x03\x04", 6);
    fht_send_async(fd, pings, sizeof(pings));
    for (int i = 0; i < PINGS; i++) {
        size_t len;
        assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x8a);
        assert_int_equal(len, 0);
    }
    fht_send_async_join();
    fht_close(fd);
}

/* The callbacks: open once, close once with the peer's code, 1006 when the
 * peer just leaves. */
static void test_callbacks(void **state) {
    (void)state;
    int o = atomic_load(&opens), c = atomic_load(&closes);
    int fd = ws_open("/cb", NULL);
    uint8_t frame[64];
    size_t n = ws_frame(frame, 0x88, "\x0b\xb9", 2); /* 3001 */
    fht_send(fd, frame, n);
    assert_int_equal(fht_wait_closed(fd, 5000), -1); /* the echoed close */
    fht_close(fd);
    fht_wait_for(&closes, c + 1);
    assert_int_equal(atomic_load(&opens), o + 1);
    assert_int_equal(atomic_load(&last_close), 3001);
    fd = ws_open("/cb", NULL);
    fht_close(fd);
    fht_wait_for(&closes, c + 2);
    assert_int_equal(atomic_load(&last_close), 1006);
}

/* The server closes: its close frame, and the connection ends when the
 * client answers, or after close_ms when it does not. */
static void test_server_close(void **state) {
    (void)state;
    uint8_t frame[64], buf[256];
    size_t len;
    int fd = ws_open("/echo", NULL);
    size_t n = ws_frame(frame, 0x81, "close-me", 8);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(len, 5);
    assert_memory_equal(buf,
                        "\x03\xe8"
                        "bye",
                        5);
    n = ws_frame(frame, 0x88, "\x03\xe8", 2);
    fht_send(fd, frame, n);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);

    /* /idle: no byte for 300 ms gets 1001; no answer for 300 ms more ends it. */
    fd = ws_open("/idle", NULL);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_true(len >= 2);
    assert_int_equal(buf[0] << 8 | buf[1], 1001);
    assert_true(fht_now_ms() - t0 >= 250);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);
}

/* A slow reader: the server's queue stays within max_queue plus one
 * message, and every message arrives once the client reads. */
static void test_backpressure(void **state) {
    (void)state;
    enum { MSGS = 1024 }; /* 16 MiB in 16 KiB messages */
    atomic_store(&flood_left, MSGS);
    atomic_store(&max_queued, 0);
    int fd = ws_open("/flood", NULL);
    uint8_t frame[64];
    size_t n = ws_frame(frame, 0x81, "go", 2);
    fht_send(fd, frame, n);
    size_t rss0 = fht_rss_kb();
    usleep(300 * 1000); /* not reading: the queue fills */
    assert_true(atomic_load(&flood_left) > 0);
    /* 16 MiB offered; the process holds the bounded queue, not the rest. */
    size_t rss1 = fht_rss_kb();
    if (rss1 > rss0 + 8192)
        fail_msg("RSS grew %zu KiB while the reader did not read", rss1 - rss0);
    static uint8_t buf[20000];
    for (int i = 0; i < MSGS; i++) {
        size_t len;
        assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x82);
        assert_int_equal(len, 16384);
    }
    /* The server counts a message after sending it. */
    for (int i = 0; i < 500 && atomic_load(&flood_left) != 0; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&flood_left), 0);
    assert_true(atomic_load(&max_queued) <= 256 * 1024 + 16384 + 14);
    fht_close(fd);
}

/* ------------------------------------------------- permessage-deflate */

/* The Sec-WebSocket-Extensions answer to an offer (NULL: declined). */
static void test_deflate_negotiation(void **state) {
    (void)state;
    static const struct {
        const char *path, *offer, *answer;
    } offers[] = {
        { "/z", "permessage-deflate", "permessage-deflate" },
        { "/z", "permessage-deflate; client_max_window_bits", "permessage-deflate" },
        { "/z", "permessage-deflate; client_max_window_bits=10", "permessage-deflate" },
        { "/z", "permessage-deflate; client_no_context_takeover", "permessage-deflate" },
        { "/z", "permessage-deflate; server_no_context_takeover",
          "permessage-deflate; server_no_context_takeover" },
        { "/z", "permessage-deflate; server_max_window_bits=10",
          "permessage-deflate; server_max_window_bits=10" },
        { "/z", "permessage-deflate; server_max_window_bits=\"12\"",
          "permessage-deflate; server_max_window_bits=12" },
        { "/z", "permessage-deflate; server_max_window_bits=8, permessage-deflate",
          "permessage-deflate" },
        { "/z", "x-webkit-deflate-frame, permessage-deflate", "permessage-deflate" },
        /* Declined, the connection still opens. */
        { "/z", "permessage-deflate; server_max_window_bits=8", NULL },
        { "/z", "permessage-deflate; server_max_window_bits=16", NULL },
        { "/z", "permessage-deflate; server_max_window_bits", NULL },
        { "/z", "permessage-deflate; client_max_window_bits=7", NULL },
        { "/z", "permessage-deflate; client_no_context_takeover=1", NULL },
        { "/z", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
          NULL },
        { "/z", "permessage-deflate; mystery", NULL },
        { "/z", "x-webkit-deflate-frame", NULL },
        { "/echo", "permessage-deflate", NULL }, /* a route without deflate */
    };
    for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
        char extra[256];
        snprintf(extra, sizeof(extra),
                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Extensions: %s\r\n",
                 offers[i].offer);
        int fd = fht_connect(fht_port);
        char raw[512];
        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n", offers[i].path, extra);
        fht_send_str(fd, raw);
        char head[1024];
        size_t n = 0, got;
        while (n < 4 || memcmp(head + n - 4, "\r\n\r\n", 4) != 0) {
            assert_int_equal(fht_recv_exact(fd, head + n, 1, &got), 0);
            n++;
        }
        head[n] = 0;
        if (!strstr(head, " 101 "))
            fail_msg("%s: %s", offers[i].offer, head);
        const char *ext = strstr(head, "Sec-WebSocket-Extensions: ");
        if (!offers[i].answer) {
            if (ext)
                fail_msg("%s: accepted: %s", offers[i].offer, head);
        } else {
            char want[200];
            snprintf(want, sizeof(want), "Sec-WebSocket-Extensions: %s\r\n", offers[i].answer);
            if (!ext || strncmp(ext, want, strlen(want)) != 0)
                fail_msg("%s: answer %s", offers[i].offer, head);
        }
        fht_close(fd);
    }
}

/* Raw deflate of n bytes at p (sync flush, the 4-byte tail taken off). */
static size_t raw_deflate(const void *p, size_t n, uint8_t *out, size_t cap) {
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    assert_memory_equal(out + len - 4, "\0\0\xff\xff", 4);
    return len - 4;
}

/* Compressed messages from the client are inflated (a small answer goes
 * back uncompressed, a large one compressed); a message that inflates past
 * max_message (1 MiB on /z) is a deflate bomb: 1009 while inflating, at
 * the limit it passes; RSV1 on a continuation is 1002. */
static void test_deflate_messages(void **state) {
    (void)state;
    static uint8_t zeros[64 << 20], z[1 << 20], frame[(1 << 20) + 64], buf[(1 << 20) + 64];
    const char *offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    int fd = ws_open("/z", offer);
    size_t zn = raw_deflate("hello", 5, z, sizeof(z)), len;
    size_t n = ws_frame(frame, 0xc1, z, zn);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x81);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    /* Exactly 1 MiB of zeros: passes, and comes back compressed. */
    zn = raw_deflate(zeros, 1 << 20, z, sizeof(z));
    n = ws_frame(frame, 0xc2, z, zn);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0xc2);
    z_stream in = { 0 };
    assert_int_equal(inflateInit2(&in, -15), Z_OK);
    memcpy(buf + len, "\0\0\xff\xff", 4);
    in.next_in = buf;
    in.avail_in = (uInt)len + 4;
    in.next_out = zeros;
    in.avail_out = sizeof(zeros);
    assert_int_equal(inflate(&in, Z_SYNC_FLUSH), Z_OK);
    assert_int_equal(sizeof(zeros) - in.avail_out, 1 << 20);
    inflateEnd(&in);
    memset(zeros, 0, sizeof(zeros));
    /* 1 MiB + 1. */
    zn = raw_deflate(zeros, (1 << 20) + 1, z, sizeof(z));
    n = ws_frame(frame, 0xc2, z, zn);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(buf[0] << 8 | buf[1], 1009);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);

    /* 64 MiB of zeros in about 64 KiB: 1009, and the server's memory does
     * not follow (the message buffer stops at the limit). */
    size_t rss0 = fht_rss_kb();
    zn = raw_deflate(zeros, sizeof(zeros), z, sizeof(z));
    assert_true(zn < 128 * 1024);
    fd = ws_open("/z", offer);
    n = ws_frame(frame, 0xc2, z, zn);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(buf[0] << 8 | buf[1], 1009);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);
    assert_true(fht_rss_kb() < rss0 + 16 * 1024);

    /* RSV1 on a continuation frame. */
    fd = ws_open("/z", offer);
    zn = raw_deflate("ab", 2, z, sizeof(z));
    n = ws_frame(frame, 0x41, z, zn);
    n += ws_frame(frame + n, 0xc0, z, 0);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(buf[0] << 8 | buf[1], 1002);
    fht_close(fd);
    /* Broken deflate data: 1007. */
    fd = ws_open("/z", offer);
    n = ws_frame(frame, 0xc2, "\xff\xff\xff\xff", 4);
    fht_send(fd, frame, n);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &len), 0x88);
    assert_int_equal(buf[0] << 8 | buf[1], 1007);
    fht_close(fd);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_refusals),
        cmocka_unit_test(test_handshake_origin_and_subprotocol),
        cmocka_unit_test(test_handshake_middleware),
        cmocka_unit_test(test_framing_table),
        cmocka_unit_test(test_message_limit),
        cmocka_unit_test(test_limits_check),
        cmocka_unit_test(test_huge_declared_frame),
        cmocka_unit_test(test_many_fragments),
        cmocka_unit_test(test_server_pings),
        cmocka_unit_test(test_masked_and_many),
        cmocka_unit_test(test_callbacks),
        cmocka_unit_test(test_server_close),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_deflate_negotiation),
        cmocka_unit_test(test_deflate_messages),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
