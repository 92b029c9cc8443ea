/* Internal: transports, what a connection's bytes travel over.
 *
 * A transport moves bytes between the connection's buffers and its socket
 * and knows nothing of HTTP: plain TCP (or a Unix-domain stream) in
 * transport_tcp.c; TLS is another table of the same shape. The connection
 * (conn.c) calls these when its socket is readable or writable; a protocol
 * never calls them.
 *
 * Every function is non-blocking and returns at once. Results: a count of
 * bytes (> 0), 0 for "the peer closed its side" (read only), FH_EAGAIN for
 * "nothing now: wait for the socket", or another negative error code, after
 * which the connection closes. */
#ifndef FH_CORE_TRANSPORT_H
#define FH_CORE_TRANSPORT_H

#include <fasthttp.h>
#include <sys/types.h>

typedef struct fh__conn fh__conn_t;

typedef struct fh__transport {
    const char *name;
    /* The connection c was opened over this transport (after its protocol
     * opened). Returns 0 or an error (the connection is then closed). May
     * be NULL. */
    int (*open)(fh__conn_t *c);
    /* Reads at most len bytes into buf. A transport that may hold bytes it
     * has already taken from the socket (TLS records) says so through
     * pending, so that the connection reads again without waiting. */
    ssize_t (*read)(fh__conn_t *c, char *buf, size_t len);
    bool (*pending)(const fh__conn_t *c);
    /* Writes what the socket takes now of the n buffers, in order; returns
     * the bytes taken (possibly fewer than offered) or an error. more:
     * bytes follow at once (a file by sendfile), so the last segment may
     * wait for them (MSG_MORE) instead of leaving half full. */
    ssize_t (*writev)(fh__conn_t *c, const uv_buf_t *bufs, unsigned n, bool more);
    /* Ends our side of the byte stream (a FIN, or TLS close_notify and a
     * FIN); reading goes on. Returns 0 or an error. */
    int (*shutdown)(fh__conn_t *c);
    /* Whether bytes may be sent straight from a file to the socket
     * (sendfile), bypassing writev. */
    bool can_sendfile;
    /* Whether the socket may be handed to a taker (fh_request_takeover):
     * not when the transport holds state of the byte stream (TLS). */
    bool can_hand_over;
    /* The peer's verified certificate (an X509 *), NULL when none or when
     * the transport has none. May be NULL. */
    void *(*peer_cert)(const fh__conn_t *c);
    /* The protocol ALPN agreed on, NULL when none. May be NULL. */
    const char *(*alpn)(const fh__conn_t *c);
    /* Frees what the transport holds for the connection (its descriptor
     * stays with the connection). May be NULL. */
    void (*free)(fh__conn_t *c);
} fh__transport_t;

/* Plain TCP: read(2), writev(2), shutdown(2) on the connection's socket. */
extern const fh__transport_t fh__transport_tcp;
/* TLS over OpenSSL: tls.h. */

#endif
