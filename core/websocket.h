/* Internal: WebSocket, the protocol a connection speaks after an upgrade
 * (websocket.c), and the handshake that leads to it (ws_handshake.c).
 *
 * The connection keeps speaking on the same loop; its protocol state is a
 * pointer to an fh_ws_t on the heap (the room HTTP/1.1 had is larger, and
 * the handle's address must not move while users hold it). */
#ifndef FH_CORE_WEBSOCKET_H
#define FH_CORE_WEBSOCKET_H

#include <fasthttp/websocket.h>
#include <stdatomic.h>

#include "core/conn.h"
#include "core/ws_frame.h"

extern const fh__protocol_t fh__ws_protocol;

/* Where a WebSocket is. */
enum {
    FH__WS_OPEN,    /* messages flow both ways */
    FH__WS_CLOSING, /* we sent a close frame: waiting for the peer's */
    FH__WS_DONE,    /* both close frames crossed, or the connection failed:
                     * nothing more is read or sent */
};

struct fh_ws {
    fh__conn_t *c;   /* NULL once the connection is gone */
    fh__worker_t *w; /* the loop it lives on */
    /* Holders: the connection (until it has gone and nothing of it points
     * here), and each fh_ws_hold; the handle is freed at 0. */
    _Atomic uint32_t refs;
    struct fh__ws_member *rooms; /* the rooms it joined (ws_room.c) */
    const fh_ws_handlers_t *h;
    fh_request_t *req; /* the upgrade request, until on_open returns */
    void *user;
    uint8_t state;       /* FH__WS_* */
    bool opened;         /* the connection switched: on_close is owed */
    bool notified;       /* on_close ran */
    bool busy;           /* inside on_data: freeing waits for its end */
    bool want_drain;     /* a send was refused: on_drained is owed */
    bool end_pending;    /* end the connection once the queue has left */
    bool freed;          /* the connection's hold was dropped */
    bool in_message;     /* a fragmented message is being received */
    uint8_t msg_kind;    /* its opcode */
    uint16_t close_code; /* what on_close reports */
    fh__utf8_t utf8;     /* the text message's check so far */
    size_t max_message, max_queue;
    uint64_t max_frame;
    uint64_t frame_limit; /* max_frame, plus deflate's worst growth when compressed */
    /* Streaming (on_message_part): data frames are consumed as their bytes
     * arrive, never kept whole. */
    bool stream;
    bool part_sent;        /* the message's first part went out */
    bool frame_fin;        /* the frame being read is its message's last */
    uint8_t frame_phase;   /* where in the mask its next byte is */
    uint8_t frame_mask[4]; /* its mask */
    uint64_t frame_left;   /* payload bytes of it still to come */
    uint64_t max_streamed; /* max_streamed_message */
    uint64_t msg_total;    /* bytes of the message delivered so far */
    uint32_t idle_ms, close_ms;
    uint32_t ping_ms, pong_ms; /* server pings (0: none) */
    bool ping_out;             /* a ping awaits its pong */
    uint64_t last_read;        /* loop time of the last read */
    uint64_t ping_at;          /* the next ping, or the pong's deadline */
    char *msg;                 /* the fragments so far */
    size_t msg_len, msg_cap;
    size_t queued; /* bytes of the send queue */
    uint32_t nout; /* queued frames (each points to the handle) */
    /* permessage-deflate, when negotiated (ws_deflate.c). */
    struct fh__ws_deflate *pmd;
    bool pmd_no_ctx;     /* server_no_context_takeover */
    bool pmd_bits_asked; /* the client set server_max_window_bits */
    uint8_t pmd_bits;    /* our window: 9-15 */
    bool msg_compressed; /* the message being received had RSV1 */
    fh_str_t subprotocol;
    char subprotocol_buf[64];
};

/* Makes the handle for an upgrade of req (heap; freed by the protocol, or
 * by fh__ws_free when the switch never happens). NULL when out of memory. */
fh_ws_t *fh__ws_new(const fh_ws_handlers_t *h, fh_request_t *req);
/* Drops the connection's hold on a handle (whose connection never
 * switched, or has gone). */
void fh__ws_free(fh_ws_t *ws);
/* permessage-deflate (ws_deflate.c). negotiate picks an acceptable offer
 * of req's and writes the answer's header line into out (cap bytes; empty
 * when declined); 0 or FH_ENOMEM. inflate appends a compressed message's
 * frame to the message buffer (fin: its last); 0 or a close code. deflate
 * compresses one message into the handle's buffer (*out valid until the
 * next call); 0 or an error. */
int fh__ws_deflate_negotiate(fh_ws_t *ws, const fh_request_t *req, char *out, size_t cap);
void fh__ws_deflate_free(fh_ws_t *ws);
unsigned fh__ws_inflate(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin);
int fh__ws_deflate(fh_ws_t *ws, const void *msg, size_t len, const void **out, size_t *outlen);
/* Streaming: inflates a compressed message's frame bytes [p, p + n) in
 * steps of at most FH__WS_PART_MAX bytes, each handed to fh__ws_part;
 * after the message's last bytes (fin) the tail is inflated and the empty
 * last part follows. Stops, returning 0, once the connection is no longer
 * open to messages (a part's callback closed it). Returns 0 or a close
 * code (1007 broken data, 1011 out of memory, or fh__ws_part's). */
unsigned fh__ws_inflate_parts(fh_ws_t *ws, const uint8_t *p, size_t n, bool fin);
/* Streaming: one part of the current message (websocket.c): counted
 * against max_streamed_message, checked as UTF-8 when text, then handed to
 * on_message_part (an empty part that is not the last is not). Returns 0
 * or a close code (1009, 1007). */
unsigned fh__ws_part(fh_ws_t *ws, const uint8_t *p, size_t n, bool last);
/* Whether the connection still takes messages (open, not closing). */
bool fh__ws_receiving(const fh_ws_t *ws);

/* The most bytes one streamed part of a compressed message holds. */
#define FH__WS_PART_MAX 16384

/* Leaves every room ws joined (ws_room.c): the connection has gone. */
void fh__ws_leave_all(fh_ws_t *ws);

#endif
