/* WebSocket messages streamed in parts (on_message_part) over real
 * sockets: 64 MiB messages, plain and compressed (one frame and many),
 * with the server's memory bounded; UTF-8 characters cut between parts at
 * every offset (between fragments and between reads of one frame);
 * invalid UTF-8 in a later part failing with 1007 before the frame's rest
 * is sent; the streaming limit at the limit and past it (1009, from the
 * frame head or from inflated output); fragmented messages and control
 * frames between fragments.
 *
 * The server's route counts each message's parts, bytes and CRC-32 and,
 * on its last part, answers with a text message "len crc parts maxpart"
 * that the client checks against what it sent. */
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "testutil.h"

/* ---------------------------------------------------------------- server */

typedef struct msg_stats {
    uint64_t total;
    uint32_t crc;
    unsigned parts;
    size_t max_part;
    uint64_t next_sample; /* where the next RSS sample is taken */
    bool started;
    char head[64]; /* the first bytes of the message */
} msg_stats_t;

static atomic_int bad_flags;       /* first/last out of order, or an empty middle part */
static atomic_int last_close;      /* the code on_close reported */
static atomic_int closes;          /* on_close calls */
static int opened;                 /* connections ws_open opened */
static _Atomic uint64_t delivered; /* bytes of parts delivered on the current connection */
static atomic_int parts_seen;      /* parts of the current connection */
static _Atomic size_t base_rss_kb; /* set by the test before a large message */
static _Atomic size_t peak_rss_kb; /* the largest RSS seen while parts arrived */

static int stream_open(fh_ws_t *ws, fh_request_t *req, void *data) {
    (void)req, (void)data;
    msg_stats_t *m = calloc(1, sizeof(*m));
    if (!m)
        return 1011;
    fh_ws_set_user(ws, m);
    atomic_store(&delivered, 0);
    atomic_store(&parts_seen, 0);
    return 0;
}

static void stream_part(fh_ws_t *ws, fh_ws_kind_t kind, const void *part, size_t len, bool first,
                        bool last, void *data) {
    (void)data;
    msg_stats_t *m = fh_ws_user(ws);
    if (first == m->started || (len == 0 && !last))
        atomic_fetch_add(&bad_flags, 1);
    if (first)
        *m = (msg_stats_t){ .started = true, .crc = (uint32_t)crc32(0, NULL, 0) };
    if (m->total < sizeof(m->head)) {
        size_t k = sizeof(m->head) - (size_t)m->total;
        memcpy(m->head + m->total, part, len < k ? len : k);
    }
    m->crc = (uint32_t)crc32(m->crc, part, (uInt)len);
    m->total += len;
    m->parts++;
    if (len > m->max_part)
        m->max_part = len;
    atomic_fetch_add(&delivered, len);
    atomic_fetch_add(&parts_seen, 1);
    if (m->total >= m->next_sample) {
        /* Once a MiB: the process's memory while the message goes by. */
        m->next_sample = m->total + (1u << 20);
        size_t kb = fht_rss_kb();
        if (kb > atomic_load(&peak_rss_kb))
            atomic_store(&peak_rss_kb, kb);
    }
    if (last) {
        char reply[128];
        int n = snprintf(reply, sizeof(reply), "%" PRIu64 " %08x %u %zu %d %.*s", m->total, m->crc,
                         m->parts, m->max_part, (int)kind, (int)(m->total < 16 ? m->total : 16),
                         m->head);
        fh_ws_send(ws, FH_WS_TEXT, reply, (size_t)n);
        m->started = false;
    }
}

static void stream_close(fh_ws_t *ws, int code, fh_str_t reason, void *data) {
    (void)reason, (void)data;
    free(fh_ws_user(ws));
    atomic_store(&last_close, code);
    atomic_fetch_add(&closes, 1);
}

/* Default streaming limit (64 MiB), permessage-deflate when offered. */
static const fh_ws_handlers_t stream_h = { .on_open = stream_open,
                                           .on_message_part = stream_part,
                                           .on_close = stream_close,
                                           .deflate = true };
/* A 1 MiB streaming limit. */
static const fh_ws_handlers_t small_h = { .on_open = stream_open,
                                          .on_message_part = stream_part,
                                          .on_close = stream_close,
                                          .deflate = true,
                                          .max_streamed_message = 1u << 20 };

static const fh_route_t routes[] = {
    FH_WS("/stream", &stream_h),
    FH_WS("/small", &small_h),
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

static const char deflate_offer[] = "Sec-WebSocket-Extensions: permessage-deflate\r\n";

/* Opens path (with extra header lines) and checks the 101, and whether
 * permessage-deflate was agreed as want_deflate says; returns the fd. */
static int ws_open(const char *path, const char *extra, bool want_deflate) {
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
    if (!strstr(head, "HTTP/1.1 101 Switching Protocols\r\n"))
        fail_msg("not the handshake: %s", head);
    assert_int_equal(strstr(head, "permessage-deflate") != NULL, want_deflate);
    opened++;
    return fd;
}

/* Waits until on_close ran for every connection opened: the two
 * workers may report an earlier connection's close after a later one's,
 * so each test step starts only once the one before it is gone. */
static void wait_all_closed(void) {
    for (int i = 0; i < 1000 && atomic_load(&closes) < opened; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&closes), opened);
}

/* Closes the client's end and waits for the server's on_close. */
static void ws_close(int fd) {
    fht_close(fd);
    wait_all_closed();
}

/* Reads one server frame: returns its first byte, payload into buf
 * (NUL-terminated; cap includes the NUL). */
static int ws_read(int fd, uint8_t *buf, size_t cap, size_t *len) {
    uint8_t h[10];
    size_t got;
    if (fht_recv_exact(fd, h, 2, &got) != 0)
        return -1;
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
    assert_true(n < cap);
    if (n)
        assert_int_equal(fht_recv_exact(fd, buf, (size_t)n, &got), 0);
    buf[n] = 0;
    *len = (size_t)n;
    return h[0];
}

static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* A masked client frame head for len payload bytes; returns its length. */
static size_t ws_head(uint8_t *out, uint8_t first, uint64_t len) {
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
            out[h++] = (uint8_t)(len >> (56 - 8 * i));
    }
    memcpy(out + h, mask, 4);
    return h + 4;
}

/* Masks n bytes of payload at p (offset off into it) into out. */
static void ws_mask(uint8_t *out, const void *p, size_t n, uint64_t off) {
    for (size_t i = 0; i < n; i++)
        out[i] = ((const uint8_t *)p)[i] ^ mask[(off + i) & 3];
}

/* Sends a whole masked frame. */
static void send_frame(int fd, uint8_t first, const void *p, size_t len) {
    uint8_t *out = malloc(14 + len + 1);
    assert_non_null(out);
    size_t h = ws_head(out, first, len);
    ws_mask(out + h, p, len, 0);
    fht_send(fd, out, h + len);
    free(out);
}

/* Sends payload bytes of a frame already begun (at offset off). */
static void send_payload(int fd, const void *p, size_t n, uint64_t off) {
    static uint8_t out[1 << 18];
    assert_true(n <= sizeof(out));
    ws_mask(out, p, n, off);
    fht_send(fd, out, n);
}

/* Reads the server's answer to a whole message and checks it. */
static void expect_reply(int fd, uint64_t len, uint32_t crc, int kind, unsigned min_parts,
                         size_t max_part) {
    uint8_t buf[256];
    size_t n;
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &n), 0x81);
    uint64_t got_len;
    unsigned got_crc, parts;
    size_t got_max;
    int got_kind;
    if (sscanf((char *)buf, "%" SCNu64 " %x %u %zu %d", &got_len, &got_crc, &parts, &got_max,
               &got_kind) != 5)
        fail_msg("reply: %s", buf);
    if (got_len != len || got_crc != crc || got_kind != kind || parts < min_parts ||
        got_max > max_part)
        fail_msg("reply %s; want len %" PRIu64 " crc %08x kind %d, at least %u parts of at most "
                 "%zu bytes",
                 buf, len, crc, kind, min_parts, max_part);
    assert_int_equal(atomic_load(&bad_flags), 0);
}

/* Expects the server's close frame with code, and the end. */
static void expect_close(int fd, int code) {
    uint8_t buf[256];
    size_t n;
    int first = ws_read(fd, buf, sizeof(buf), &n);
    if (first != 0x88 || n < 2 || (buf[0] << 8 | buf[1]) != code)
        fail_msg("wanted close %d, got frame %#x (%zu bytes: %.*s)", code, first, n, (int)n, buf);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    wait_all_closed();
    assert_int_equal(atomic_load(&last_close), code);
}

static void wait_delivered(uint64_t want) {
    for (int i = 0; i < 1000 && atomic_load(&delivered) < want; i++)
        usleep(5000);
    assert_int_equal(atomic_load(&delivered), want);
}

/* Sends what it can of n bytes, ignoring a peer that stopped reading. */
static void send_some(int fd, const void *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p = (const char *)p + k;
        n -= (size_t)k;
    }
}

/* ------------------------------------------------------- the payloads */

/* Text of whole characters of 1 to 4 bytes: "aé€😀" (10 bytes). */
static const char unit[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
#define UNIT 10

/* Bytes [off, off + n) of the text stream. */
static void text_at(uint8_t *out, uint64_t off, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)unit[(off + i) % UNIT];
}

/* Bytes [off, off + n) of an incompressible binary stream. */
static void binary_at(uint8_t *out, uint64_t off, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint64_t x = (off + i) / 8 * 0x9e3779b97f4a7c15u;
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9u;
        x ^= x >> 32;
        out[i] = (uint8_t)(x >> (8 * ((off + i) % 8)));
    }
}

#define BIG ((uint64_t)64 << 20)
#define STEP (256u << 10)

/* Sends a message of len bytes of gen's stream in one uncompressed frame
 * (frags == 1) or frags fragments, generated a step at a time so that the
 * client holds no copy; returns its CRC-32. */
static uint32_t send_big(int fd, uint8_t opcode, uint64_t len, unsigned frags,
                         void (*gen)(uint8_t *, uint64_t, size_t)) {
    static uint8_t chunk[STEP];
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    uint64_t off = 0, frag_len = len / frags;
    for (unsigned f = 0; f < frags; f++) {
        uint64_t n = f + 1 == frags ? len - off : frag_len;
        uint8_t head[14];
        size_t hl = ws_head(head, (uint8_t)((f ? 0 : opcode) | (f + 1 == frags ? 0x80 : 0)), n);
        fht_send(fd, head, hl);
        for (uint64_t done = 0; done < n;) {
            size_t k = n - done < STEP ? (size_t)(n - done) : STEP;
            gen(chunk, off, k);
            crc = (uint32_t)crc32(crc, chunk, (uInt)k);
            send_payload(fd, chunk, k, done);
            done += k;
            off += k;
        }
    }
    return crc;
}

/* Sends a message of len bytes of gen's stream compressed (raw deflate),
 * as one frame (frags == 1: compressed whole first, a small buffer for
 * this text) or as one fragment per MiB of input; returns its CRC-32. */
static uint32_t send_big_deflated(int fd, uint8_t opcode, uint64_t len, bool one_frame,
                                  void (*gen)(uint8_t *, uint64_t, size_t)) {
    static uint8_t chunk[STEP];
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    size_t cap = 1 << 20, have = 0;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    bool first_frame = true;
    for (uint64_t off = 0; off < len || len == 0;) {
        size_t k = len - off < STEP ? (size_t)(len - off) : STEP;
        gen(chunk, off, k);
        crc = (uint32_t)crc32(crc, chunk, (uInt)k);
        off += k;
        bool end = off == len;
        bool flush = end || (!one_frame && off % (1u << 20) == 0);
        z.next_in = chunk;
        z.avail_in = (uInt)k;
        do {
            if (cap - have < 65536) {
                cap *= 2;
                out = realloc(out, cap);
                assert_non_null(out);
            }
            z.next_out = out + have;
            z.avail_out = (uInt)(cap - have);
            int r = deflate(&z, flush ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            assert_true(r == Z_OK || r == Z_BUF_ERROR);
            have = cap - z.avail_out;
        } while (z.avail_in || z.avail_out == 0);
        if (flush && (end || !one_frame)) {
            if (end) {
                /* RFC 7692 7.2.1: the message's 00 00 ff ff taken off. */
                assert_true(have >= 4 && memcmp(out + have - 4, "\0\0\xff\xff", 4) == 0);
                have -= 4;
            }
            uint8_t first = (uint8_t)(first_frame ? (opcode | 0x40) : 0) | (end ? 0x80 : 0);
            uint8_t head[14];
            size_t hl = ws_head(head, first, have);
            fht_send(fd, head, hl);
            for (size_t done = 0; done < have;) {
                size_t s = have - done < STEP ? have - done : STEP;
                send_payload(fd, out + done, s, done);
                done += s;
            }
            have = 0;
            first_frame = false;
        }
        if (end)
            break;
    }
    deflateEnd(&z);
    free(out);
    return crc;
}

static uint32_t crc_of(const void *p, size_t n) {
    return (uint32_t)crc32(crc32(0, NULL, 0), p, (uInt)n);
}

/* ---------------------------------------------------------------- tests */

/* The server's RSS, sampled once a MiB while the parts went by (64
 * samples at least), grew by less than 16 MiB. */
static void check_rss(const char *what, unsigned frames) {
    size_t base = atomic_load(&base_rss_kb), peak = atomic_load(&peak_rss_kb);
    assert_true(peak > 0);
    bool bounded = true;
#ifdef FH__SANITIZED
    /* Over TLS, OpenSSL frees its record buffers whenever a connection
     * goes idle and allocates them again: ASan's quarantine keeps every
     * freed one, so the resident size says nothing there. */
    bounded = !fht_over_tls();
#endif
    if (bounded && peak > base && peak - base > 16 * 1024)
        fail_msg("%s: RSS grew %zu KiB while a 64 MiB message streamed by", what, peak - base);
    print_message("%s 64 MiB in %u frame(s): peak RSS %zu KiB, %zu KiB before\n", what, frames,
                  peak, base);
}

/* 64 MiB, at the default limit: binary in one frame and in 64 fragments,
 * text in one frame; the server's RSS while the parts pass grows by less
 * than 16 MiB (a quarter of the message), and no part is larger than a
 * read (the loop's 64 KiB buffer). */
static void test_big_plain(void **state) {
    (void)state;
    static const struct {
        uint8_t op;
        unsigned frags;
        uint64_t len;
    } runs[] = { { 0x2, 1, BIG }, { 0x2, 64, BIG }, { 0x1, 1, BIG - BIG % UNIT } };
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        int fd = ws_open("/stream", NULL, false);
        atomic_store(&peak_rss_kb, 0);
        atomic_store(&base_rss_kb, fht_rss_kb());
        uint32_t crc = send_big(fd, runs[r].op, runs[r].len, runs[r].frags,
                                runs[r].op == 1 ? text_at : binary_at);
        expect_reply(fd, runs[r].len, crc, runs[r].op, 64, 64 * 1024);
        check_rss("plain", runs[r].frags);
        ws_close(fd);
    }
}

/* 64 MiB compressed: text in one frame (its deflated form is small, its
 * inflated form 64 MiB: drained from zlib 16 KiB at a time, output left
 * in zlib whenever a step fills up) and in one fragment per MiB; binary
 * (incompressible) in fragments. RSS bounded as above, parts of at most
 * 16 KiB. */
static void test_big_deflate(void **state) {
    (void)state;
    static const struct {
        uint8_t op;
        bool one_frame;
    } runs[] = { { 0x1, true }, { 0x1, false }, { 0x2, false } };
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        uint64_t len = runs[r].op == 1 ? BIG - BIG % UNIT : BIG;
        int fd = ws_open("/stream", deflate_offer, true);
        atomic_store(&peak_rss_kb, 0);
        atomic_store(&base_rss_kb, fht_rss_kb());
        uint32_t crc = send_big_deflated(fd, runs[r].op, len, runs[r].one_frame,
                                         runs[r].op == 1 ? text_at : binary_at);
        expect_reply(fd, len, crc, runs[r].op, (unsigned)(len / 16384), 16384);
        check_rss("deflate", runs[r].one_frame ? 1 : 64);
        ws_close(fd);
    }
}

/* A character cut at every offset of "aé€😀": between two fragments, and
 * between two reads of one frame (the rest is sent only once the server
 * has delivered the first bytes). Two parts each time, the message whole
 * and valid. */
static void test_utf8_split(void **state) {
    (void)state;
    for (size_t k = 1; k < UNIT; k++) {
        int fd = ws_open("/stream", NULL, false);
        send_frame(fd, 0x01, unit, k);
        send_frame(fd, 0x80, unit + k, UNIT - k);
        expect_reply(fd, UNIT, crc_of(unit, UNIT), 1, 2, UNIT);
        assert_int_equal(atomic_load(&parts_seen), 2);

        uint8_t head[14];
        size_t hl = ws_head(head, 0x81, UNIT);
        fht_send(fd, head, hl);
        atomic_store(&delivered, 0);
        atomic_store(&parts_seen, 0);
        send_payload(fd, unit, k, 0);
        wait_delivered(k);
        send_payload(fd, unit + k, UNIT - k, k);
        expect_reply(fd, UNIT, crc_of(unit, UNIT), 1, 2, UNIT);
        assert_int_equal(atomic_load(&parts_seen), 2);
        ws_close(fd);
    }
}

/* Invalid UTF-8 in a later part: 1007 at once, with most of the frame
 * never sent; also in a later fragment, in a compressed message's later
 * output, and a message that ends inside a character. */
static void test_utf8_invalid_later(void **state) {
    (void)state;
    static uint8_t text[200000];
    text_at(text, 0, sizeof(text));

    /* A 1 MiB frame: 1,000 valid bytes delivered, then 0xff. */
    int fd = ws_open("/stream", NULL, false);
    uint8_t head[14];
    size_t hl = ws_head(head, 0x81, 1 << 20);
    fht_send(fd, head, hl);
    send_payload(fd, text, 1000, 0);
    wait_delivered(1000);
    send_payload(fd, "\xff", 1, 1000);
    expect_close(fd, 1007);
    assert_int_equal(atomic_load(&delivered), 1000);
    ws_close(fd);

    /* A later fragment: "é" then a lone continuation byte. */
    fd = ws_open("/stream", NULL, false);
    send_frame(fd, 0x01, "\xc3\xa9", 2);
    send_frame(fd, 0x80, "\x80", 1);
    expect_close(fd, 1007);
    ws_close(fd);

    /* A character cut by the message's end: no last part, 1007. */
    fd = ws_open("/stream", NULL, false);
    send_frame(fd, 0x01, "ab\xe2", 3);
    send_frame(fd, 0x80, "\x82", 1);
    expect_close(fd, 1007);
    assert_int_equal(atomic_load(&delivered), 3);
    ws_close(fd);

    /* Compressed: 200,000 valid bytes then an overlong "/" (c0 af): the
     * valid output is delivered in parts, then 1007. */
    fd = ws_open("/stream", deflate_offer, true);
    static uint8_t bad[200002], z[250000];
    memcpy(bad, text, sizeof(text));
    memcpy(bad + sizeof(text), "\xc0\xaf", 2);
    z_stream zs = { 0 };
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = bad;
    zs.avail_in = sizeof(bad);
    zs.next_out = z;
    zs.avail_out = sizeof(z);
    assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t zn = sizeof(z) - zs.avail_out - 4;
    deflateEnd(&zs);
    send_frame(fd, 0xc1, z, zn);
    expect_close(fd, 1007);
    assert_true(atomic_load(&delivered) >= 180000 && atomic_load(&delivered) <= 200000);
    ws_close(fd);
}

/* The 1 MiB streaming limit: exactly 1 MiB passes, plain (one frame, two
 * fragments) and compressed; one byte more fails with 1009: from the frame
 * head alone (nothing of the payload sent), from a fragment's head, and
 * from inflated output (a deflate bomb far past the limit too). */
static void test_streaming_limit(void **state) {
    (void)state;
    static uint8_t zeros[(1 << 20) + 1], z[1 << 16];
    const size_t limit = 1 << 20;
    int fd = ws_open("/small", NULL, false);
    uint32_t crc = send_big(fd, 0x2, limit, 1, binary_at);
    expect_reply(fd, limit, crc, 2, 16, 64 * 1024);
    crc = send_big(fd, 0x2, limit, 2, binary_at);
    expect_reply(fd, limit, crc, 2, 16, 64 * 1024);
    ws_close(fd);

    fd = ws_open("/small", NULL, false);
    uint8_t head[14];
    size_t hl = ws_head(head, 0x82, limit + 1);
    fht_send(fd, head, hl);
    expect_close(fd, 1009);
    ws_close(fd);

    fd = ws_open("/small", NULL, false);
    send_frame(fd, 0x02, zeros, limit / 2);
    hl = ws_head(head, 0x80, limit / 2 + 1);
    fht_send(fd, head, hl);
    expect_close(fd, 1009);
    ws_close(fd);

    /* A frame head of 2^40 bytes on the default route. */
    fd = ws_open("/stream", NULL, false);
    hl = ws_head(head, 0x82, (uint64_t)1 << 40);
    fht_send(fd, head, hl);
    expect_close(fd, 1009);
    ws_close(fd);

    for (int extra = 0; extra < 2; extra++) {
        fd = ws_open("/small", deflate_offer, true);
        z_stream zs = { 0 };
        assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
        zs.next_in = zeros;
        zs.avail_in = (uInt)(limit + (size_t)extra);
        zs.next_out = z;
        zs.avail_out = sizeof(z);
        assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
        size_t zn = sizeof(z) - zs.avail_out - 4;
        deflateEnd(&zs);
        send_frame(fd, 0xc2, z, zn);
        if (extra) {
            expect_close(fd, 1009);
            assert_true(atomic_load(&delivered) <= limit);
        } else {
            expect_reply(fd, limit, crc_of(zeros, limit), 2, 64, 16384);
        }
        ws_close(fd);
    }
    /* 128 MiB of zeros deflated (about 128 KiB) against the 64 MiB
     * default: 1009 once 64 MiB came out. */
    fd = ws_open("/stream", deflate_offer, true);
    z_stream zs = { 0 };
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bcap = 2 << 20, bn = 0;
    uint8_t *bomb = malloc(bcap);
    assert_non_null(bomb);
    for (int i = 0; i < 128; i++) {
        zs.next_in = zeros;
        zs.avail_in = 1 << 20;
        do {
            zs.next_out = bomb + bn;
            zs.avail_out = (uInt)(bcap - bn);
            assert_int_not_equal(deflate(&zs, i == 127 ? Z_SYNC_FLUSH : Z_NO_FLUSH),
                                 Z_STREAM_ERROR);
            bn = bcap - zs.avail_out;
        } while (zs.avail_in);
    }
    deflateEnd(&zs);
    uint8_t *wire = malloc(bn + 14);
    assert_non_null(wire);
    hl = ws_head(wire, 0xc2, bn);
    ws_mask(wire + hl, bomb, bn, 0);
    send_some(fd, wire, hl + bn);
    expect_close(fd, 1009);
    assert_true(atomic_load(&delivered) <= BIG);
    free(wire);
    free(bomb);
    ws_close(fd);
}

/* Fragmented messages: empty fragments among others, an empty message
 * (one part, first and last), an empty compressed message, a message of
 * many one-byte fragments; the parts add up and first and last come once
 * each, in order. */
static void test_fragments(void **state) {
    (void)state;
    int fd = ws_open("/stream", NULL, false);
    send_frame(fd, 0x01, "", 0);
    send_frame(fd, 0x00, "a", 1);
    send_frame(fd, 0x00, "", 0);
    send_frame(fd, 0x00, "bcd", 3);
    send_frame(fd, 0x80, "e", 1);
    expect_reply(fd, 5, crc_of("abcde", 5), 1, 3, 3);
    send_frame(fd, 0x82, "", 0);
    expect_reply(fd, 0, crc_of("", 0), 2, 1, 0);
    send_frame(fd, 0x01, "", 0);
    send_frame(fd, 0x80, "", 0);
    expect_reply(fd, 0, crc_of("", 0), 1, 1, 0);
    static uint8_t wire[1000 * 7];
    size_t n = 0;
    for (int i = 0; i < 1000; i++) {
        size_t hl = ws_head(wire + n, (uint8_t)((i ? 0 : 2) | (i == 999 ? 0x80 : 0)), 1);
        ws_mask(wire + n + hl, "x", 1, 0);
        n += hl + 1;
    }
    fht_send(fd, wire, n);
    static char xs[1000];
    memset(xs, 'x', sizeof(xs));
    expect_reply(fd, 1000, crc_of(xs, 1000), 2, 1000, 1);
    /* A data frame that starts a message inside another: 1002. */
    send_frame(fd, 0x01, "a", 1);
    send_frame(fd, 0x81, "b", 1);
    expect_close(fd, 1002);
    ws_close(fd);

    /* An empty compressed message: the inflated tail gives nothing, the
     * last part is empty. */
    fd = ws_open("/stream", deflate_offer, true);
    send_frame(fd, 0xc1, "\x00", 1);
    expect_reply(fd, 0, crc_of("", 0), 1, 1, 0);
    ws_close(fd);
}

/* Control frames between fragments: pings answered at once (before the
 * message ends), a pong ignored, and a close in the middle of a message
 * ends it without its last part. */
static void test_control_between(void **state) {
    (void)state;
    int fd = ws_open("/stream", NULL, false);
    uint8_t buf[256];
    size_t n;
    send_frame(fd, 0x01, "hel", 3);
    send_frame(fd, 0x89, "p1", 2);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &n), 0x8a);
    assert_memory_equal(buf, "p1", 2);
    send_frame(fd, 0x00, "lo ", 3);
    send_frame(fd, 0x8a, "unasked", 7);
    send_frame(fd, 0x89, "p2", 2);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &n), 0x8a);
    assert_memory_equal(buf, "p2", 2);
    send_frame(fd, 0x80, "world", 5);
    expect_reply(fd, 11, crc_of("hello world", 11), 1, 3, 5);
    /* A ping inside one frame's bytes is not a frame: cut one across
     * reads, then the message goes on. */
    uint8_t ping[8];
    size_t hl = ws_head(ping, 0x89, 2);
    ws_mask(ping + hl, "p3", 2, 0);
    send_frame(fd, 0x02, "x", 1);
    fht_send(fd, ping, 3);
    usleep(20000);
    fht_send(fd, ping + 3, hl + 2 - 3);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &n), 0x8a);
    assert_memory_equal(buf, "p3", 2);
    send_frame(fd, 0x80, "y", 1);
    expect_reply(fd, 2, crc_of("xy", 2), 2, 2, 1);

    atomic_store(&parts_seen, 0);
    send_frame(fd, 0x01, "abc", 3);
    send_frame(fd, 0x88, "\x03\xe8", 2);
    assert_int_equal(ws_read(fd, buf, sizeof(buf), &n), 0x88);
    assert_int_equal(buf[0] << 8 | buf[1], 1000);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    assert_int_equal(atomic_load(&parts_seen), 1);
    ws_close(fd);
}

/* The limits' check: the streaming limit set without on_message_part, past
 * its bound, and a frame limit past it are refused naming the field. */
static void test_limits_check(void **state) {
    (void)state;
    char msg[160];
    fh_ws_handlers_t h = { .max_streamed_message = 100 };
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), FH_ECONFIG);
    assert_string_equal(msg, "fasthttp: ws.max_streamed_message: 100 is set without "
                             "on_message_part, which is (0)");
    h.on_message_part = stream_part;
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), 0);
    h.max_streamed_message = FH_WS_MAX_STREAMED_LIMIT;
    h.max_frame = FH_WS_MAX_STREAMED_LIMIT;
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), 0);
    h.max_streamed_message = FH_WS_MAX_STREAMED_LIMIT + 1;
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), FH_ECONFIG);
    assert_string_equal(msg, "fasthttp: ws.max_streamed_message: 1099511627777 is more than the "
                             "limit (1099511627776)");
    h.max_streamed_message = 0;
    h.max_frame = FH_WS_DEFAULT_STREAMED + 1;
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), FH_ECONFIG);
    assert_string_equal(msg, "fasthttp: ws.max_frame: 67108865 is more than max_streamed_message "
                             "(67108864)");
    /* Streaming, a frame may be larger than max_message. */
    h.max_frame = FH_WS_DEFAULT_STREAMED;
    h.max_message = 1024;
    assert_int_equal(fh_ws_handlers_check(&h, msg, sizeof(msg)), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_check),       cmocka_unit_test(test_fragments),
        cmocka_unit_test(test_control_between),    cmocka_unit_test(test_utf8_split),
        cmocka_unit_test(test_utf8_invalid_later), cmocka_unit_test(test_streaming_limit),
        cmocka_unit_test(test_big_plain),          cmocka_unit_test(test_big_deflate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
