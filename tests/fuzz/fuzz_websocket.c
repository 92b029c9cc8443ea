/* libFuzzer target: the WebSocket frame parser and the inflate path,
 * through the real connection code. Every input is one connection that
 * opens with a fixed, valid handshake (offering permessage-deflate when
 * the input's second byte is odd) and goes on with the input's bytes as
 * WebSocket frames, on an echo endpoint with small limits, or (the second
 * byte's bit 2 set) on a streaming endpoint (on_message_part) whose parts
 * are checked as they come: first and last once each and in order, no
 * empty part but the last, text parts valid UTF-8 taken together, no
 * message past its limit; each message's length is sent back. What the server
 * sends is checked: the 101, then whole unmasked frames with defined
 * opcodes and no reserved bits but RSV1 (only when negotiated), control
 * frames of at most 125 bytes, a close frame last with a code a server may
 * send. The frame codec's pure functions also read the raw input. */
#include "conn_driver.h"
#include "core/ws_frame.h"

static void echo(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data) {
    (void)data;
    fh_ws_send(ws, kind, msg, len);
}

static const fh_ws_handlers_t echo_h = {
    .on_message = echo,
    .deflate = true,
    .deflate_threshold = 16,
    .max_message = 64 * 1024,
    .max_queue = 256 * 1024,
};

/* The streamed message so far (one connection at a time). */
static struct {
    bool started;
    uint64_t total;
    fh__utf8_t utf8;
} st;

static int stream_open(fh_ws_t *ws, fh_request_t *req, void *data) {
    (void)ws, (void)req, (void)data;
    memset(&st, 0, sizeof(st));
    return 0;
}

#define STREAM_LIMIT (96 * 1024)

static void stream_part(fh_ws_t *ws, fh_ws_kind_t kind, const void *part, size_t len, bool first,
                        bool last, void *data) {
    (void)data;
    if (first == st.started || (len == 0 && !last) || !part)
        abort();
    if (first)
        memset(&st, 0, sizeof(st));
    st.started = !last;
    st.total += len;
    if (st.total > STREAM_LIMIT)
        abort();
    if (kind == FH_WS_TEXT &&
        (!fh__utf8_feed(&st.utf8, part, len) || (last && !fh__utf8_complete(&st.utf8))))
        abort();
    if (last) {
        char n[24];
        int k = snprintf(n, sizeof(n), "%llu", (unsigned long long)st.total);
        fh_ws_send(ws, FH_WS_TEXT, n, (size_t)k);
    }
}

static const fh_ws_handlers_t stream_h = {
    .on_open = stream_open,
    .on_message_part = stream_part,
    .deflate = true,
    .deflate_threshold = 16,
    .max_streamed_message = STREAM_LIMIT,
    .max_frame = 32 * 1024,
    .max_queue = 256 * 1024,
};

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    bool stream = fh_str_eq(fh_request_path(req), "/stream");
    return fh_ws_upgrade(req, res, stream ? &stream_h : &echo_h);
}

static const char handshake[] = "Host: t\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n";
static const char offer[] = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

static void check_frames(const uint8_t *p, size_t n, bool deflate) {
    const uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (n < 12 || memcmp(p, "HTTP/1.1 101 ", 13) != 0 || !end)
        abort();
    bool negotiated = memmem(p, (size_t)(end - p), "permessage-deflate", 18) != NULL;
    if (negotiated != deflate)
        abort();
    size_t i = (size_t)(end - p) + 4;
    bool closed = false;
    while (i < n) {
        fh__ws_frame_t f;
        if (closed || fh__ws_frame_read(p + i, n - i, &f) != 1 || f.masked)
            abort();
        if (n - i - f.head_len < f.len)
            abort(); /* a frame cut short */
        bool control = f.opcode & 8;
        if (f.rsv & ~(negotiated && !control ? 4 : 0))
            abort();
        if (f.opcode != 1 && f.opcode != 2 && f.opcode != 8 && f.opcode != 9 && f.opcode != 10)
            abort();
        if (control && f.len > 125)
            abort();
        if (f.opcode == 8) {
            closed = true;
            if (f.len == 1)
                abort();
            if (f.len >= 2) {
                unsigned code = (unsigned)p[i + f.head_len] << 8 | p[i + f.head_len + 1];
                if (!fh__ws_close_code_ok(code))
                    abort();
            }
        }
        i += f.head_len + (size_t)f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!fz_server) {
        fh_server_config_t cfg = fh_server_config_default();
        cfg.handler = handler;
        fz_init(&cfg);
    }
    if (size < 2)
        return 0;
    /* The codec alone, on the raw bytes. */
    fh__ws_frame_t f;
    if (fh__ws_frame_read(data, size, &f) == 1)
        (void)fh__ws_frame_check(&f, data[0] & 1, data[0] & 2, 1024);
    fh__utf8_t u = { 0 };
    (void)fh__utf8_feed(&u, data, size);

    bool deflate = data[1] & 1;
    static uint8_t *in;
    static size_t cap;
    bool stream = data[1] & 2;
    const char *line = stream ? "GET /stream HTTP/1.1\r\n" : "GET /ws HTTP/1.1\r\n";
    size_t ll = strlen(line);
    size_t need = ll + sizeof(handshake) + sizeof(offer) + 2 + size;
    if (need > cap) {
        in = realloc(in, need);
        if (!in)
            abort();
        cap = need;
    }
    memcpy(in, line, ll);
    size_t n = ll;
    memcpy(in + n, handshake, sizeof(handshake) - 1);
    n += sizeof(handshake) - 1;
    if (deflate) {
        memcpy(in + n, offer, sizeof(offer) - 1);
        n += sizeof(offer) - 1;
    }
    memcpy(in + n, "\r\n", 2);
    n += 2;
    memcpy(in + n, data + 2, size - 2);
    n += size - 2;
    static fz_out_t out;
    out.len = 0;
    fz_connection(in, n, data[0], &out);
    check_frames((const uint8_t *)out.p, out.len, deflate);
    return 0;
}
