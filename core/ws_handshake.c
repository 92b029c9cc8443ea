/* The WebSocket opening handshake (RFC 6455 section 4.2): the upgrade
 * request checked, Sec-WebSocket-Accept computed (SHA-1 and base64, both
 * here: 20 bytes of one hash per connection do not justify a crypto
 * library), a subprotocol chosen, and the 101 answered with the connection
 * set to switch to fh__ws_protocol once it has been written. */
#include <stdio.h>
#include <string.h>

#include "core/request.h"
#include "core/websocket.h"
#include "core/worker.h"

/* ------------------------------------------------------------------ SHA-1 */

static inline uint32_t rol(uint32_t v, int n) { return v << n | v >> (32 - n); }

static void sha1_block(uint32_t h[5], const uint8_t *b) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20)
            f = (bb & c) | (~bb & d), k = 0x5a827999;
        else if (i < 40)
            f = bb ^ c ^ d, k = 0x6ed9eba1;
        else if (i < 60)
            f = (bb & c) | (bb & d) | (c & d), k = 0x8f1bbcdc;
        else
            f = bb ^ c ^ d, k = 0xca62c1d6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rol(bb, 30), bb = a, a = t;
    }
    h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e;
}

/* SHA-1 of n bytes at p (FIPS 180-4), into out. */
static void sha1(const uint8_t *p, size_t n, uint8_t out[20]) {
    uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    size_t i = 0;
    for (; n - i >= 64; i += 64)
        sha1_block(h, p + i);
    uint8_t last[128] = { 0 };
    size_t rest = n - i;
    memcpy(last, p + i, rest);
    last[rest] = 0x80;
    size_t blocks = rest + 9 > 64 ? 2 : 1;
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        last[blocks * 64 - 1 - k] = (uint8_t)(bits >> (8 * k));
    for (size_t k = 0; k < blocks; k++)
        sha1_block(h, last + 64 * k);
    for (int k = 0; k < 5; k++) {
        out[4 * k] = (uint8_t)(h[k] >> 24);
        out[4 * k + 1] = (uint8_t)(h[k] >> 16);
        out[4 * k + 2] = (uint8_t)(h[k] >> 8);
        out[4 * k + 3] = (uint8_t)h[k];
    }
}

/* ----------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of n bytes into out (4 * ceil(n / 3) bytes); returns its length. */
static size_t base64(const uint8_t *p, size_t n, char *out) {
    size_t o = 0, i = 0;
    for (; n - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i) {
        uint32_t v = (uint32_t)p[i] << 16 | (n - i == 2 ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = n - i == 2 ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    return o;
}

/* Whether key is the base64 of 16 bytes (4.2.1: 24 characters, "=="). */
static bool key_ok(fh_str_t key) {
    if (key.len != 24 || key.ptr[22] != '=' || key.ptr[23] != '=')
        return false;
    for (size_t i = 0; i < 22; i++)
        if (!memchr(b64, key.ptr[i], 64))
            return false;
    /* The last character before the padding carries 2 bits of data. */
    return strchr("AQgw", key.ptr[21]) != NULL;
}

/* --------------------------------------------------------- header tokens */

static bool is_ows(char ch) { return ch == ' ' || ch == '\t'; }

/* Calls fn on every element of a comma-separated header value, trimmed;
 * stops and returns true when fn does. */
static bool each_token(fh_str_t v, bool (*fn)(fh_str_t tok, void *arg), void *arg) {
    size_t i = 0;
    while (i < v.len) {
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_ows(v.ptr[a]))
            a++;
        while (b > a && is_ows(v.ptr[b - 1]))
            b--;
        if (b > a && fn((fh_str_t){ v.ptr + a, b - a }, arg))
            return true;
        i = j + 1;
    }
    return false;
}

static bool tok_ieq(fh_str_t tok, void *arg) { return fh_str_ieq(tok, *(const fh_str_t *)arg); }

/* Whether any field called name lists token (case-insensitive). */
static bool header_has_token(const fh_request_t *req, fh_str_t name, fh_str_t token) {
    size_t n;
    const fh__header_t *hs = fh__request_headers_of(req, &n);
    for (size_t i = 0; i < n; i++)
        if (fh_str_ieq(hs[i].name, name) && each_token(hs[i].value, tok_ieq, &token))
            return true;
    return false;
}

static bool tok_eq(fh_str_t tok, void *arg) { return fh_str_equal(tok, *(const fh_str_t *)arg); }

/* The first of the server's subprotocols that the client offers. */
static const char *choose_subprotocol(const fh_request_t *req, const char *const *ours) {
    if (!ours)
        return NULL;
    size_t n;
    const fh__header_t *hs = fh__request_headers_of(req, &n);
    for (const char *const *s = ours; *s; s++) {
        fh_str_t want = fh_str(*s);
        for (size_t i = 0; i < n; i++)
            if (fh_str_ieq(hs[i].name, FH_STR_LIT("Sec-WebSocket-Protocol")) &&
                each_token(hs[i].value, tok_eq, &want))
                return *s;
    }
    return NULL;
}

/* -------------------------------------------------------------- upgrade */

static int refuse(fh_response_t *res, int status, const char *why) {
    int err = 0;
    if (status == 426) {
        err = fh_response_header(res, "Upgrade", "websocket");
        if (!err)
            err = fh_response_header(res, "Sec-WebSocket-Version", "13");
    }
    if (!err)
        err = fh_send_text(res, status, why);
    return err;
}

/* Frees the handle when the connection never switched (the 101 was not
 * written: the client left, or the server stopped). */
static void ws_request_done(fh_request_t *req, void *data) {
    (void)req;
    fh_ws_t *ws = data;
    if (!ws->opened)
        fh__ws_free(ws);
}

int fh_ws_route(fh_request_t *req, fh_response_t *res, void *data) {
    return fh_ws_upgrade(req, res, data);
}

int fh_ws_upgrade(fh_request_t *req, fh_response_t *res, const fh_ws_handlers_t *h) {
    if (!h)
        return FH_EINVAL;
    if ((res->flags & FH__RES_FINAL) || req->state != FH__RS_HANDLING || !req->conn)
        return FH_ESTATE;
    char why[160];
    if (fh_ws_handlers_check(h, why, sizeof(why)) != 0) {
        fprintf(stderr, "%s\n", why);
        return refuse(res, 500, "WebSocket endpoint misconfigured\n");
    }
    if (fh__request_method_of(req) != FH_METHOD_GET || fh_request_version(req) != 11)
        return refuse(res, 400, "a WebSocket handshake is an HTTP/1.1 GET\n");
    if (!header_has_token(req, FH_STR_LIT("Upgrade"), FH_STR_LIT("websocket")))
        return refuse(res, 426, "this resource is a WebSocket: Upgrade: websocket expected\n");
    if (!header_has_token(req, FH_STR_LIT("Connection"), FH_STR_LIT("upgrade")))
        return refuse(res, 400, "Connection: Upgrade expected\n");
    fh_str_t version = fh_request_header(req, "Sec-WebSocket-Version");
    if (!fh_str_eq(version, "13"))
        return refuse(res, 426, "Sec-WebSocket-Version 13 only\n");
    fh_str_t key = fh_request_header(req, "Sec-WebSocket-Key");
    if (!key_ok(key))
        return refuse(res, 400, "Sec-WebSocket-Key missing or malformed\n");
    if (h->origins) {
        fh_str_t origin = fh_request_header(req, "Origin");
        bool allowed = false;
        for (const char *const *o = h->origins; *o && !allowed; o++)
            allowed = origin.ptr && fh_str_eq(origin, *o);
        if (!allowed)
            return refuse(res, 403, "Origin not allowed\n");
    }
    const char *proto = choose_subprotocol(req, h->subprotocols);

    /* Sec-WebSocket-Accept: base64(SHA-1(key + the GUID)). */
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t in[24 + sizeof(guid) - 1], digest[20];
    memcpy(in, key.ptr, 24);
    memcpy(in + 24, guid, sizeof(guid) - 1);
    sha1(in, sizeof(in), digest);
    char accept[28];
    base64(digest, 20, accept);

    fh_ws_t *ws = fh__ws_new(h, req);
    if (!ws)
        return FH_ENOMEM;
    if (proto) {
        size_t n = strlen(proto);
        if (n >= sizeof(ws->subprotocol_buf))
            n = sizeof(ws->subprotocol_buf) - 1;
        memcpy(ws->subprotocol_buf, proto, n);
        ws->subprotocol.len = n;
    }
    char ext[128];
    int err = fh__ws_deflate_negotiate(ws, req, ext, sizeof(ext));
    if (err) {
        fh__ws_free(ws);
        return err;
    }
    err = fh_request_on_done(req, ws_request_done, ws);
    if (err) {
        fh__ws_free(ws);
        return err;
    }
    /* on_open reads the request after the write, when the read buffer
     * has been reused. The connection stays (only its protocol changes),
     * so WebSocket runs over any transport, TLS included. */
    err = fh__request_pin(req);
    if (!err)
        err = req->ops->takeover_prepare(req, false);
    if (err)
        return err;
    /* Built like any response, so that the after hooks (access log,
     * metrics) see the 101; the serializer adds no body framing to a 1xx. */
    char accept_z[29];
    memcpy(accept_z, accept, 28);
    accept_z[28] = 0;
    err = fh_response_status(res, 101);
    if (!err)
        err = fh_response_header(res, "Upgrade", "websocket");
    if (!err)
        err = fh_response_header(res, "Connection", "Upgrade");
    if (!err)
        err = fh_response_header(res, "Sec-WebSocket-Accept", accept_z);
    if (!err && proto)
        err = fh_response_header(res, "Sec-WebSocket-Protocol", ws->subprotocol_buf);
    if (!err && ext[0]) {
        /* ext is a whole header line: its value follows the name. */
        ext[strlen(ext) - 2] = 0;
        err = fh_response_header(res, "Sec-WebSocket-Extensions",
                                 ext + sizeof("Sec-WebSocket-Extensions: ") - 1);
    }
    if (err)
        return err;
    res->flags |= FH__RES_TAKEOVER;
    res->upgrade = &fh__ws_protocol;
    res->upgrade_arg = ws;
    return fh_response_end(res);
}
