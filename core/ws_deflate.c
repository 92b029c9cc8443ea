/* permessage-deflate (RFC 7692) for WebSocket: the offer negotiated, and
 * messages inflated (bounded: a deflate bomb fails with 1009 as soon as
 * its output passes max_message) and deflated through zlib.
 *
 * Negotiation (RFC 7692 5 and 7.1). Offers are tried in the client's
 * order; one with an unknown or repeated parameter, or a bad value, is
 * declined (the next is tried; none acceptable: the connection opens
 * without compression, it is not refused). server_max_window_bits=8 is
 * declined too: zlib's raw deflate cannot make an 8-bit window. The
 * answer repeats the client's server_* requests and adds
 * server_no_context_takeover when the route asks for it. It never limits
 * the client's window (client_max_window_bits): messages are inflated with
 * a 15-bit window, which reads any smaller one.
 *
 * State. The two zlib streams are made on first use, so that a connection
 * that never sends a compressed message holds none; with
 * server_no_context_takeover the deflater is reset after each message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/request.h"
#include "core/websocket.h"

#if FH_HAVE_ZLIB
#include <zlib.h>

struct fh__ws_deflate {
    z_stream in, out;
    bool in_ready, out_ready;
    char *buf; /* deflated output of the last message sent */
    size_t cap;
    uint8_t *part; /* streaming: FH__WS_PART_MAX bytes of inflated output,
                    * held while a compressed message is being read */
};

static bool is_ows(char ch) { return ch == ' ' || ch == '\t'; }

static fh_str_t trim(const char *a, const char *b) {
    while (a < b && is_ows(*a))
        a++;
    while (b > a && is_ows(b[-1]))
        b--;
    return (fh_str_t){ a, (size_t)(b - a) };
}

/* Window bits from a parameter value (quotes allowed): 8-15, or -1. */
static int bits_of(fh_str_t v) {
    if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"')
        v = (fh_str_t){ v.ptr + 1, v.len - 2 };
    if (v.len == 1 && v.ptr[0] >= '8' && v.ptr[0] <= '9')
        return v.ptr[0] - '0';
    if (v.len == 2 && v.ptr[0] == '1' && v.ptr[1] >= '0' && v.ptr[1] <= '5')
        return 10 + v.ptr[1] - '0';
    return -1;
}

/* One offer: "permessage-deflate; p1; p2=v". Fills ws's parameters and
 * returns true when it can be accepted. */
static bool offer_ok(fh_ws_t *ws, fh_str_t offer) {
    const char *p = offer.ptr, *end = offer.ptr + offer.len;
    const char *semi = memchr(p, ';', offer.len);
    fh_str_t name = trim(p, semi ? semi : end);
    if (!fh_str_ieq(name, FH_STR_LIT("permessage-deflate")))
        return false;
    bool snct = false, cnct = false, seen_sb = false, seen_cb = false;
    int sbits = 15;
    p = semi ? semi + 1 : end;
    while (p < end) {
        const char *e = memchr(p, ';', (size_t)(end - p));
        if (!e)
            e = end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        fh_str_t key = trim(p, eq ? eq : e);
        fh_str_t val = eq ? trim(eq + 1, e) : (fh_str_t){ NULL, 0 };
        if (fh_str_ieq(key, FH_STR_LIT("server_no_context_takeover")) && !eq && !snct) {
            snct = true;
        } else if (fh_str_ieq(key, FH_STR_LIT("client_no_context_takeover")) && !eq && !cnct) {
            cnct = true;
        } else if (fh_str_ieq(key, FH_STR_LIT("server_max_window_bits")) && eq && !seen_sb) {
            seen_sb = true;
            sbits = bits_of(val);
            if (sbits < 9)
                return false; /* bad, or 8, which zlib cannot honour */
        } else if (fh_str_ieq(key, FH_STR_LIT("client_max_window_bits")) && !seen_cb) {
            seen_cb = true;
            if (eq && bits_of(val) < 0)
                return false;
        } else {
            return false;
        }
        p = e + 1;
    }
    ws->pmd_no_ctx = snct || ws->h->deflate_no_context_takeover;
    ws->pmd_bits = (uint8_t)sbits;
    ws->pmd_bits_asked = seen_sb;
    return true;
}

/* Calls offer_ok on each comma-separated offer of each field. */
static bool pick_offer(fh_ws_t *ws, fh_str_t v) {
    size_t i = 0;
    while (i < v.len) {
        /* Commas inside quoted values do not occur in valid offers: a
         * quoted value is a number. */
        size_t j = i;
        while (j < v.len && v.ptr[j] != ',')
            j++;
        if (offer_ok(ws, trim(v.ptr + i, v.ptr + j)))
            return true;
        i = j + 1;
    }
    return false;
}

int fh__ws_deflate_negotiate(fh_ws_t *ws, const fh_request_t *req, char *out, size_t cap) {
    out[0] = 0;
    if (!ws->h->deflate)
        return 0;
    size_t n;
    const fh__header_t *hs = fh__request_headers_of(req, &n);
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++)
        if (fh_str_ieq(hs[i].name, FH_STR_LIT("Sec-WebSocket-Extensions")))
            ok = pick_offer(ws, hs[i].value);
    if (!ok)
        return 0;
    ws->pmd = calloc(1, sizeof(*ws->pmd));
    if (!ws->pmd)
        return FH_ENOMEM;
    char bits[40] = "";
    if (ws->pmd_bits_asked)
        snprintf(bits, sizeof(bits), "; server_max_window_bits=%d", ws->pmd_bits);
    snprintf(out, cap, "Sec-WebSocket-Extensions: permessage-deflate%s%s\r\n",
             ws->pmd_no_ctx ? "; server_no_context_takeover" : "", bits);
    return 0;
}

void fh__ws_deflate_free(fh_ws_t *ws) {
    struct fh__ws_deflate *d = ws->pmd;
    if (!d)
        return;
    if (d->in_ready)
        inflateEnd(&d->in);
    if (d->out_ready)
        deflateEnd(&d->out);
    free(d->buf);
    free(d->part);
    free(d);
    ws->pmd = NULL;
}

/* Inflates [p, p + n) into the message buffer; the four bytes RFC 7692
 * 7.2.2 takes off each message are put back after its last frame. Returns
 * 0 or a close code: 1009 once the output passes max_message, 1007 for
 * broken data (RFC 7692 8: the extension's failure), 1011 out of memory. */
static unsigned inflate_some(fh_ws_t *ws, const uint8_t *p, size_t n) {
    struct fh__ws_deflate *d = ws->pmd;
    d->in.next_in = (Bytef *)p;
    d->in.avail_in = (uInt)n;
    /* Until every input byte is in and zlib had room to spare: output
     * that filled the buffer exactly may not be all (zlib keeps the rest
     * until it is given room). */
    bool full = false;
    while (d->in.avail_in || full) {
        if (ws->msg_len == ws->msg_cap) {
            /* One byte past the limit tells a message of exactly
             * max_message bytes from a larger one. */
            if (ws->msg_cap > ws->max_message)
                return 1009;
            size_t cap = ws->msg_cap ? ws->msg_cap * 2 : 4096;
            if (cap > ws->max_message + 1)
                cap = ws->max_message + 1;
            char *m = realloc(ws->msg, cap);
            if (!m)
                return 1011;
            ws->msg = m;
            ws->msg_cap = cap;
        }
        d->in.next_out = (Bytef *)ws->msg + ws->msg_len;
        d->in.avail_out = (uInt)(ws->msg_cap - ws->msg_len);
        int r = inflate(&d->in, Z_SYNC_FLUSH);
        ws->msg_len = ws->msg_cap - d->in.avail_out;
        full = d->in.avail_out == 0;
        if (r == Z_STREAM_END) {
            /* A final block: what follows starts a new stream. */
            inflateReset(&d->in);
            continue;
        }
        if (r == Z_BUF_ERROR && d->in.avail_out)
            break; /* no progress possible: everything is out */
        if (r != Z_OK && r != Z_BUF_ERROR)
            return r == Z_MEM_ERROR ? 1011 : 1007;
    }
    return 0;
}

unsigned fh__ws_inflate(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    struct fh__ws_deflate *d = ws->pmd;
    if (!d->in_ready) {
        if (inflateInit2(&d->in, -15) != Z_OK)
            return 1011;
        d->in_ready = true;
    }
    unsigned code = inflate_some(ws, p, n);
    if (!code && fin) {
        static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
        code = inflate_some(ws, tail, 4);
    }
    if (!code && ws->msg_len > ws->max_message)
        code = 1009;
    return code;
}

/* Streaming: inflates [p, p + n) a step of at most FH__WS_PART_MAX bytes
 * of output at a time, each a part. Returns 0 or a close code. */
static unsigned inflate_parts(fh_ws_t *ws, const uint8_t *p, size_t n) {
    struct fh__ws_deflate *d = ws->pmd;
    d->in.next_in = (Bytef *)p;
    d->in.avail_in = (uInt)n;
    for (;;) {
        d->in.next_out = d->part;
        d->in.avail_out = FH__WS_PART_MAX;
        int r = inflate(&d->in, Z_SYNC_FLUSH);
        size_t got = FH__WS_PART_MAX - d->in.avail_out;
        if (r == Z_STREAM_END)
            inflateReset(&d->in); /* a final block: what follows starts anew */
        else if (r != Z_OK && r != Z_BUF_ERROR)
            return r == Z_MEM_ERROR ? 1011 : 1007;
        if (got) {
            unsigned code = fh__ws_part(ws, d->part, got, false);
            if (code || !fh__ws_receiving(ws))
                return code;
        }
        /* Done once all input is in and the step did not fill the buffer
         * (a full one may leave output inside zlib); Z_BUF_ERROR with
         * nothing out means no progress is possible. */
        if ((d->in.avail_in == 0 && got < FH__WS_PART_MAX) || (r == Z_BUF_ERROR && !got))
            return 0;
    }
}

unsigned fh__ws_inflate_parts(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    struct fh__ws_deflate *d = ws->pmd;
    if (!d->in_ready) {
        if (inflateInit2(&d->in, -15) != Z_OK)
            return 1011;
        d->in_ready = true;
    }
    if (!d->part && !(d->part = malloc(FH__WS_PART_MAX)))
        return 1011;
    unsigned code = inflate_parts(ws, p, n);
    if (!code && fin && fh__ws_receiving(ws)) {
        static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
        code = inflate_parts(ws, tail, 4);
    }
    if (fin || code) {
        /* An idle connection holds no part buffer. */
        free(d->part);
        d->part = NULL;
    }
    if (!code && fin && fh__ws_receiving(ws))
        code = fh__ws_part(ws, NULL, 0, true);
    return code;
}

int fh__ws_deflate(fh_ws_t *ws, const void *msg, size_t len, const void **out, size_t *outlen) {
    struct fh__ws_deflate *d = ws->pmd;
    if (!d->out_ready) {
        if (deflateInit2(&d->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -(int)ws->pmd_bits, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return FH_ENOMEM;
        d->out_ready = true;
    }
    size_t need = deflateBound(&d->out, len) + 16;
    if (need > d->cap) {
        char *b = realloc(d->buf, need);
        if (!b)
            return FH_ENOMEM;
        d->buf = b;
        d->cap = need;
    }
    d->out.next_in = (Bytef *)msg;
    d->out.avail_in = (uInt)len;
    d->out.next_out = (Bytef *)d->buf;
    d->out.avail_out = (uInt)d->cap;
    int r = deflate(&d->out, Z_SYNC_FLUSH);
    if (r != Z_OK && r != Z_BUF_ERROR)
        return FH_ENOMEM;
    size_t n = d->cap - d->out.avail_out;
    /* RFC 7692 7.2.1: the empty stored block's 00 00 ff ff is taken off. */
    if (n >= 4 && memcmp(d->buf + n - 4, "\0\0\xff\xff", 4) == 0)
        n -= 4;
    if (ws->pmd_no_ctx)
        deflateReset(&d->out);
    *out = d->buf;
    *outlen = n;
    return 0;
}

#else

int fh__ws_deflate_negotiate(fh_ws_t *ws, const fh_request_t *req, char *out, size_t cap) {
    (void)ws, (void)req, (void)cap;
    out[0] = 0;
    return 0; /* built without zlib: every offer is declined */
}
void fh__ws_deflate_free(fh_ws_t *ws) { (void)ws; }
unsigned fh__ws_inflate(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    (void)ws, (void)p, (void)n, (void)fin;
    return 1011;
}
unsigned fh__ws_inflate_parts(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin) {
    (void)ws, (void)p, (void)n, (void)fin;
    return 1011;
}
int fh__ws_deflate(fh_ws_t *ws, const void *msg, size_t len, const void **out, size_t *outlen) {
    (void)ws, (void)msg, (void)len, (void)out, (void)outlen;
    return FH_ENOTSUP;
}
#endif
