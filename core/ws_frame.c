/* The WebSocket frame codec (see ws_frame.h). */
#include <string.h>

#include "core/ws_frame.h"

int fh__ws_frame_read(const uint8_t *p, size_t n, fh__ws_frame_t *f) {
    if (n < 2)
        return 0;
    f->fin = p[0] & 0x80;
    f->rsv = (p[0] >> 4) & 7;
    f->opcode = p[0] & 0x0f;
    f->masked = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t h = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        if (p[2] & 0x80)
            return -1;
        len = 0;
        for (int i = 2; i < 10; i++)
            len = len << 8 | p[i];
        h = 10;
    }
    if (f->masked) {
        if (n < h + 4)
            return 0;
        memcpy(f->mask, p + h, 4);
        h += 4;
    }
    f->len = len;
    f->head_len = h;
    return 1;
}

int fh__ws_frame_check(const fh__ws_frame_t *f, bool in_message, bool rsv1_ok, uint64_t max_frame) {
    /* RFC 6455 5.1: every client frame is masked. */
    if (!f->masked)
        return 1002;
    bool control = f->opcode & 0x8;
    /* 5.2: reserved bits need a negotiated extension; RSV1 (compressed)
     * only on a message's first frame, never on a control frame. */
    uint8_t rsv_allowed = (rsv1_ok && !control && f->opcode != FH__WS_OP_CONT) ? 4 : 0;
    if (f->rsv & ~rsv_allowed)
        return 1002;
    switch (f->opcode) {
    case FH__WS_OP_CONT:
        if (!in_message)
            return 1002;
        break;
    case FH__WS_OP_TEXT:
    case FH__WS_OP_BINARY:
        if (in_message)
            return 1002;
        break;
    case FH__WS_OP_CLOSE:
    case FH__WS_OP_PING:
    case FH__WS_OP_PONG:
        /* 5.5: control frames are never fragmented and carry <= 125 bytes. */
        if (!f->fin || f->len > 125)
            return 1002;
        return 0;
    default: return 1002; /* reserved opcodes 3-7, 0xB-0xF */
    }
    if (f->len > max_frame)
        return 1009;
    return 0;
}

size_t fh__ws_frame_head(uint8_t *out, uint8_t first, uint64_t len) {
    out[0] = first;
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

void fh__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t phase) {
    size_t i = 0;
    /* Byte by byte up to the mask's phase 0, then eight bytes at a time. */
    while (i < n && ((phase + i) & 3))
        p[i] ^= mask[(phase + i) & 3], i++;
    if (n - i >= 8) {
        uint32_t m4;
        memcpy(&m4, mask, 4);
        uint64_t m8 = (uint64_t)m4 << 32 | m4;
        for (; n - i >= 8; i += 8) {
            uint64_t v;
            memcpy(&v, p + i, 8);
            v ^= m8;
            memcpy(p + i, &v, 8);
        }
    }
    for (; i < n; i++)
        p[i] ^= mask[(phase + i) & 3];
}

bool fh__ws_close_code_ok(unsigned code) {
    /* 7.4.1 and the IANA registry: 1004-1006 and 1015 are never sent;
     * 1016-2999 are reserved; 3000-4999 are for libraries and apps. */
    if (code >= 1000 && code <= 1003)
        return true;
    if (code >= 1007 && code <= 1014)
        return true;
    return code >= 3000 && code <= 4999;
}

bool fh__utf8_feed(fh__utf8_t *u, const uint8_t *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        if (u->need) {
            if (b < u->lo || b > u->hi)
                return false;
            u->need--;
            u->lo = 0x80;
            u->hi = 0xbf;
            i++;
            continue;
        }
        /* ASCII runs eight bytes at a time. */
        if (b < 0x80) {
            while (n - i >= 8) {
                uint64_t v;
                memcpy(&v, p + i, 8);
                if (v & 0x8080808080808080ull)
                    break;
                i += 8;
            }
            while (i < n && p[i] < 0x80)
                i++;
            continue;
        }
        u->lo = 0x80;
        u->hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            u->need = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            u->need = 2;
            if (b == 0xe0)
                u->lo = 0xa0; /* overlong */
            else if (b == 0xed)
                u->hi = 0x9f; /* surrogates */
        } else if (b >= 0xf0 && b <= 0xf4) {
            u->need = 3;
            if (b == 0xf0)
                u->lo = 0x90; /* overlong */
            else if (b == 0xf4)
                u->hi = 0x8f; /* above U+10FFFF */
        } else {
            return false;
        }
        i++;
    }
    return true;
}
