/**
 * @file websocket.h
 * WebSocket (RFC 6455): a route that upgrades, callbacks for what arrives,
 * and calls that send.
 *
 * A WebSocket route is an ordinary GET route (FH_WS in a route table, or
 * fh_ws_upgrade from a handler), so the global, mount and route middleware
 * run on the upgrade request like on any other (authentication, request
 * id, access log: it logs 101). The handshake is checked (Upgrade,
 * Connection, Sec-WebSocket-Key, Sec-WebSocket-Version 13 only, optional
 * Origin list), a subprotocol is chosen from the client's offer, and after
 * the `101 Switching Protocols` has been written the connection speaks
 * WebSocket on the same loop: no thread, socket or file changes.
 *
 * Every callback runs on the connection's loop thread; the fh_ws_t handle
 * is valid from on_open until on_close returns, and every fh_ws_* call
 * below must be made on that thread within that time.
 *
 * Messages arrive whole (on_message): fragments are reassembled, text is
 * checked as UTF-8 as its fragments arrive. Or, for a route that sets
 * on_message_part, in parts as they arrive: each read's worth of a
 * message's payload, unmasked and (permessage-deflate) inflated in bounded
 * steps, never gathered, so that a message may be far larger than memory
 * (max_streamed_message). A breach of the protocol fails the connection
 * with the close code RFC 6455 gives it (1002 protocol error, 1007 invalid
 * UTF-8, 1009 too big), reported to on_close.
 */
#ifndef FASTHTTP_WEBSOCKET_H
#define FASTHTTP_WEBSOCKET_H

#include "fasthttp/common.h"
#include "fasthttp/request.h"
#include "fasthttp/response.h"
#include "fasthttp/router.h"
#include "fasthttp/server.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A WebSocket connection (opaque). */
typedef struct fh_ws fh_ws_t;

/** Message kinds, as their opcodes. */
typedef enum fh_ws_kind {
    FH_WS_TEXT = 1,   /**< UTF-8 text (checked on arrival) */
    FH_WS_BINARY = 2, /**< bytes */
} fh_ws_kind_t;

/** Close codes (RFC 6455 section 7.4.1) the server sends or reports. */
enum {
    FH_WS_NORMAL = 1000,         /**< normal closure */
    FH_WS_GOING_AWAY = 1001,     /**< server stopping, or idle timeout */
    FH_WS_PROTOCOL_ERROR = 1002, /**< a rule of the protocol was broken */
    FH_WS_NO_STATUS = 1005,      /**< reported: the close frame had no code */
    FH_WS_ABNORMAL = 1006,       /**< reported: the connection ended without a close frame */
    FH_WS_INVALID_DATA = 1007,   /**< text that is not UTF-8 */
    FH_WS_TOO_BIG = 1009,        /**< a frame or message above the limits */
};

/** What a WebSocket route does. Lives as long as the router holds the
 * route (static data, typically); zero fields take their defaults. */
typedef struct fh_ws_handlers {
    /** Subprotocols the server speaks, most preferred first, NULL-terminated;
     * the first one the client also offers is chosen. NULL: none. */
    const char *const *subprotocols;
    /** Origins allowed (exact `Origin` values, NULL-terminated); a request
     * with another Origin gets 403. NULL: any origin, and none. */
    const char *const *origins;
    /** The connection is open (the 101 has been written). req is the
     * upgrade request: its views (headers, params) and what middleware
     * stored in it are valid only during this call. Return 0, or a close
     * code (1000-4999) to close at once. May be NULL. */
    int (*on_open)(fh_ws_t *ws, fh_request_t *req, void *data);
    /** A whole message arrived: msg (len bytes, not NUL-terminated) is
     * valid only during this call. May be NULL (messages are dropped). Not
     * called when on_message_part is set. */
    void (*on_message)(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len, void *data);
    /** Streaming: when set, every data message arrives through this call
     * instead of on_message, in parts as its bytes arrive, and is never
     * reassembled: a part is what one read brought of a frame's payload,
     * unmasked, or for a compressed message what inflating it gave, at
     * most 16 KiB at a time. part (len bytes) points into the loop's read
     * buffer or the connection's inflate buffer and is valid only during
     * this call (copy what must outlive it). first is true on a message's
     * first part, last on its final one; every message has both, on one
     * call for a message that arrives at once. Only a last part may be
     * empty (an empty message, or a message whose last frame or inflated
     * tail carried no byte). Text is checked as UTF-8 across parts before
     * each part is delivered: a part may end inside a character, whose
     * rest opens the next part, but a part never holds a byte that cannot
     * be UTF-8 (the connection fails with 1007 first, and a message that
     * ends inside a character fails with 1007 instead of its last part).
     * Limits: max_streamed_message, not max_message; a message already
     * partly delivered that then breaks a rule gets no last part, only
     * on_close with the code. Control frames (ping, pong, close) keep
     * working between a message's fragments. May be NULL. */
    void (*on_message_part)(fh_ws_t *ws, fh_ws_kind_t kind, const void *part, size_t len,
                            bool first, bool last, void *data);
    /** The connection ended: code and reason from the peer's close frame,
     * FH_WS_NO_STATUS for one without a code, FH_WS_ABNORMAL when the
     * connection ended without one, or the code the server failed it with.
     * Called exactly once for every connection that was opened; ws is not
     * valid after it returns. reason is valid during the call. May be NULL. */
    void (*on_close)(fh_ws_t *ws, int code, fh_str_t reason, void *data);
    /** The send queue, once above max_queue (a send returned FH_EAGAIN),
     * has emptied. May be NULL. */
    void (*on_drained)(fh_ws_t *ws, void *data);
    /** Passed to every callback. */
    void *data;
    /** The largest message (the sum of its fragments), in bytes; 0: 16 MiB.
     * A larger one fails the connection with 1009. */
    size_t max_message;
    /** The largest single frame, in bytes; 0: max_message, or with
     * on_message_part max_streamed_message (a streamed frame is never held
     * whole, so it may be as large as its message). */
    uint64_t max_frame;
    /** The most bytes the send queue holds (what the socket has not taken)
     * before a send is refused with FH_EAGAIN; 0: 1 MiB. A send into an
     * empty queue is always taken, whatever its size. */
    size_t max_queue;
    /** Milliseconds without a byte from the peer before the server closes
     * with 1001; 0: 60,000; UINT32_MAX: never. */
    uint32_t idle_ms;
    /** Accept permessage-deflate (RFC 7692) when the client offers it in a
     * form we can honour (otherwise the offer is declined and the
     * connection opens uncompressed). */
    bool deflate;
    /** With deflate: messages shorter than this many bytes are sent
     * uncompressed; 0: 256. */
    size_t deflate_threshold;
    /** With deflate: reset the compressor after every message
     * (server_no_context_takeover), trading ratio for memory. */
    bool deflate_no_context_takeover;
    /** Milliseconds the server waits for the peer's close frame after it
     * sent its own, before it drops the connection; 0: 5,000. */
    uint32_t close_ms;
    /** Milliseconds between the server's pings (empty payload); 0: none.
     * At most 24 hours. */
    uint32_t ping_ms;
    /** With ping_ms: milliseconds the server waits for a pong after a
     * ping before it fails the connection with 1011 (the close frame is
     * sent, the peer's answer is not awaited beyond a short linger, and
     * on_close reports 1011); 0: 10,000. At most 10 minutes; set without
     * ping_ms it is refused. */
    uint32_t pong_ms;
    /** With on_message_part: the largest message (the sum of its
     * fragments, after inflating when compressed), in bytes; 0: 64 MiB;
     * at most FH_WS_MAX_STREAMED_LIMIT. A larger one fails the connection
     * with 1009 as soon as its size is known to pass (a frame head that
     * announces too much, or inflated output past it), before the rest is
     * read. Set without on_message_part it is refused. */
    uint64_t max_streamed_message;
} fh_ws_handlers_t;

/** The largest max_message (and max_frame) accepted: 1 GiB. */
#define FH_WS_MAX_MESSAGE_LIMIT ((size_t)1 << 30)
/** The largest max_streamed_message accepted: 1 TiB. */
#define FH_WS_MAX_STREAMED_LIMIT ((uint64_t)1 << 40)
/** The default max_streamed_message: 64 MiB. */
#define FH_WS_DEFAULT_STREAMED ((uint64_t)64 << 20)
/** The largest max_queue accepted: 1 GiB. */
#define FH_WS_MAX_QUEUE_LIMIT ((size_t)1 << 30)
/** The largest close_ms and pong_ms accepted: 10 minutes. */
#define FH_WS_MAX_CLOSE_MS 600000u
/** The largest ping_ms accepted: 24 hours. */
#define FH_WS_MAX_PING_MS 86400000u

/** Checks the limits in h: max_message and max_queue at most 1 GiB,
 * max_frame at most max_message (with its default), or with
 * on_message_part at most max_streamed_message (with its default; at most
 * 1 TiB, and set only with on_message_part), deflate_threshold at
 * most max_message, close_ms and pong_ms at most 10 minutes, ping_ms at
 * most 24 hours, pong_ms only with ping_ms, idle_ms any (UINT32_MAX:
 * never). Returns 0, FH_EINVAL for a NULL h, or FH_ECONFIG with a message
 * naming the field and quoting the value
 * ("fasthttp: ws.max_frame: 33554432 is more than max_message (16777216)")
 * written into msg (cap bytes, NUL-terminated, owned by the caller; msg
 * may be NULL). fh_ws_upgrade runs it on every handshake and answers 500
 * (and writes the message to stderr) when it fails. */
FH_API int fh_ws_handlers_check(const fh_ws_handlers_t *h, char *msg, size_t cap);

/** A route table entry for a WebSocket endpoint at pattern p whose
 * handlers (a `const fh_ws_handlers_t *`) outlive the router. */
#define FH_WS(p, handlers) FH_ROUTE_D(FH_METHOD_GET, p, fh_ws_route, (void *)(handlers))

/** The handler FH_WS installs: fh_ws_upgrade with data as the handlers. */
FH_API int fh_ws_route(fh_request_t *req, fh_response_t *res, void *data);

/** Answers req with the WebSocket handshake, or with the refusal it
 * deserves: 426 with `Sec-WebSocket-Version: 13` for another version or a
 * request without Upgrade: websocket, 400 for a missing or malformed
 * Sec-WebSocket-Key or Connection: upgrade, 403 for an Origin not in the
 * list. On success the response is final (101) and the connection
 * switches protocol once it has been written; handlers must outlive the
 * connection. Returns 0 (also after a refusal was sent), or an error from
 * sending (FH_ENOMEM, FH_ESTATE when the response was already started). */
FH_API int fh_ws_upgrade(fh_request_t *req, fh_response_t *res, const fh_ws_handlers_t *handlers);

/** Sends one message of len bytes (copied when the socket cannot take them
 * at once). Returns 0; FH_EAGAIN when the send queue holds more than
 * max_queue (nothing is sent; on_drained follows when it empties);
 * FH_ESTATE after the closing handshake began; FH_EINVAL for a kind that
 * is neither text nor binary; FH_ENOMEM. Text is not checked: it must be
 * UTF-8. */
FH_API int fh_ws_send(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len);
/** Sends a ping with up to 125 bytes of payload (FH_EINVAL above). The
 * peer's pong is not reported. Returns as fh_ws_send. */
FH_API int fh_ws_ping(fh_ws_t *ws, const void *payload, size_t len);
/** Starts the closing handshake with code (1000-4999 except 1004-1006 and
 * 1015, FH_EINVAL otherwise) and a reason of up to 123 bytes of UTF-8; the
 * connection ends when the peer answers, or after close_ms. on_close then
 * reports the code sent. Returns 0, FH_ESTATE when already closing, or
 * FH_EINVAL. */
FH_API int fh_ws_close(fh_ws_t *ws, int code, const char *reason);
/** The subprotocol chosen in the handshake (a view valid as long as ws),
 * empty when none. */
FH_API fh_str_t fh_ws_subprotocol(const fh_ws_t *ws);
/** Bytes in the send queue now (what the socket has not taken yet). */
FH_API size_t fh_ws_queued(const fh_ws_t *ws);
/** Attaches a pointer of the user's to the connection (NULL at open). */
FH_API void fh_ws_set_user(fh_ws_t *ws, void *user);
/** The pointer fh_ws_set_user attached. */
FH_API void *fh_ws_user(const fh_ws_t *ws);

/** @name From other threads
 * A thread other than the connection's loop may send to a connection it
 * holds, and anyone may broadcast to a room. @{ */

/** Takes a hold on ws, so that the handle (not the connection) stays valid
 * for fh_ws_post after on_close: call it on the loop thread while ws is
 * valid, or from a thread that holds ws already. Each hold is given back
 * with fh_ws_release. */
FH_API void fh_ws_hold(fh_ws_t *ws);
/** Gives back a hold (any thread); the last one frees the handle. */
FH_API void fh_ws_release(fh_ws_t *ws);
/** From any thread holding ws (fh_ws_hold): queues a copy of msg for
 * ws's loop, which sends it as fh_ws_send does if the connection is still
 * open then (messages posted from one thread leave in order; a message
 * that finds the connection closing, or its send queue full, is dropped).
 * Returns 0, FH_EINVAL for a bad kind, FH_ENOMEM, or FH_ESTATE while the
 * server stops. */
FH_API int fh_ws_post(fh_ws_t *ws, fh_ws_kind_t kind, const void *msg, size_t len);

/** A set of connections across every worker of one server. Each worker
 * keeps its own list of the room's members, touched only by its loop, so
 * joining, leaving and sending take no lock; a broadcast is one post per
 * worker. */
typedef struct fh_ws_room fh_ws_room_t;
/** Makes an empty room for server's connections (*out). Returns 0 or
 * FH_ENOMEM. */
FH_API int fh_ws_room_new(fh_server_t *server, fh_ws_room_t **out);
/** Frees the room: after the server has stopped (fh_server_run returned),
 * or once every member has left and no broadcast is in flight. */
FH_API void fh_ws_room_free(fh_ws_room_t *room);
/** Adds ws (on its loop thread, while it is valid). A connection leaves
 * its rooms by itself when it closes. Returns 0, FH_EEXIST when ws is a
 * member already, or FH_ENOMEM. */
FH_API int fh_ws_room_join(fh_ws_room_t *room, fh_ws_t *ws);
/** Removes ws (on its loop thread); nothing when it is not a member. */
FH_API void fh_ws_room_leave(fh_ws_room_t *room, fh_ws_t *ws);
/** Sends a copy of msg to every member, from any thread: each worker's
 * loop sends it to its own members (a member whose send queue is full
 * misses it, see fh_ws_send). Returns 0, FH_EINVAL, FH_ENOMEM, or FH_ESTATE
 * while the server stops (no worker got it). */
FH_API int fh_ws_room_broadcast(fh_ws_room_t *room, fh_ws_kind_t kind, const void *msg, size_t len);
/** Members of the room on every worker (a snapshot, approximate while
 * connections join and leave on other threads). */
FH_API size_t fh_ws_room_size(const fh_ws_room_t *room);
/** @} */

#ifdef __cplusplus
}
#endif

#endif
