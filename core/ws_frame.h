/* Internal: the WebSocket frame codec (ws_frame.c): frame heads read and
 * written, the rules a client's frame must keep, close codes and the
 * incremental UTF-8 check. Pure functions over bytes, with no I/O, so that
 * the tests give them tables of bytes and the fuzzer feeds them anything. */
#ifndef FH_CORE_WS_FRAME_H
#define FH_CORE_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    FH__WS_OP_CONT = 0x0,
    FH__WS_OP_TEXT = 0x1,
    FH__WS_OP_BINARY = 0x2,
    FH__WS_OP_CLOSE = 0x8,
    FH__WS_OP_PING = 0x9,
    FH__WS_OP_PONG = 0xA,
};

/* The most bytes a frame head takes: 2 + 8 (length) + 4 (mask). */
#define FH__WS_HEAD_MAX 14

/* A frame's head, as read. */
typedef struct fh__ws_frame {
    bool fin, masked;
    uint8_t rsv;    /* the three reserved bits, RSV1 as 4 */
    uint8_t opcode; /* FH__WS_OP_* (or a reserved value) */
    uint8_t mask[4];
    uint64_t len;    /* payload bytes */
    size_t head_len; /* bytes of the head */
} fh__ws_frame_t;

/* Reads the head at [p, p + n). Returns 1 (f filled in), 0 when more bytes
 * are needed, or -1 when the length is malformed (its top bit set). */
int fh__ws_frame_read(const uint8_t *p, size_t n, fh__ws_frame_t *f);

/* What a received frame breaks, given whether a fragmented message is in
 * progress, whether RSV1 means "compressed" (permessage-deflate) and the
 * largest frame allowed: 0 when it keeps every rule, else the close code
 * to fail the connection with (1002 or 1009). */
int fh__ws_frame_check(const fh__ws_frame_t *f, bool in_message, bool rsv1_ok, uint64_t max_frame);

/* Writes an unmasked server frame head for len payload bytes into out
 * (FH__WS_HEAD_MAX bytes); returns its length. first: FIN, RSV and opcode. */
size_t fh__ws_frame_head(uint8_t *out, uint8_t first, uint64_t len);

/* XORs n bytes at p with mask, the first byte being at offset phase of
 * the payload. */
void fh__ws_unmask(uint8_t *p, size_t n, const uint8_t mask[4], size_t phase);

/* Whether a close code received from a peer is one it may send. */
bool fh__ws_close_code_ok(unsigned code);

/* The incremental UTF-8 check: feed it the bytes of a text message as
 * they arrive; it fails at the first byte that can never be valid. */
typedef struct fh__utf8 {
    uint8_t need;   /* continuation bytes still expected */
    uint8_t lo, hi; /* the range of the next one */
} fh__utf8_t;
/* Returns false at the first invalid byte (state then undefined). */
bool fh__utf8_feed(fh__utf8_t *u, const uint8_t *p, size_t n);
/* Whether the bytes fed so far end on a character boundary. */
static inline bool fh__utf8_complete(const fh__utf8_t *u) { return u->need == 0; }

#endif
