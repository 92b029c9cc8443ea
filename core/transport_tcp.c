/* The plain transport: the socket's own system calls, nothing in between
 * (TCP, or a Unix-domain stream socket): read(2), sendmsg(2), shutdown(2). */
#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/conn.h"

static ssize_t tcp_read(fh__conn_t *c, char *buf, size_t len) {
    int fd = fh__conn_socket_fd(c);
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return FH_EAGAIN;
        return uv_translate_sys_error(errno);
    }
}

static ssize_t tcp_writev(fh__conn_t *c, const uv_buf_t *bufs, unsigned n, bool more) {
    int fd = fh__conn_socket_fd(c);
    if (n > IOV_MAX)
        n = IOV_MAX;
    /* uv_buf_t is struct iovec's layout on Unix (libuv's uv-unix.h); a
     * peer that is gone is an error code, never SIGPIPE. */
    struct msghdr msg = { .msg_iov = (struct iovec *)bufs, .msg_iovlen = n };
    for (;;) {
        ssize_t r = sendmsg(fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return FH_EAGAIN;
        return uv_translate_sys_error(errno);
    }
}

static int tcp_shutdown(fh__conn_t *c) {
    return shutdown(fh__conn_socket_fd(c), SHUT_WR) == 0 ? 0 : uv_translate_sys_error(errno);
}

const fh__transport_t fh__transport_tcp = {
    .name = "tcp",
    .open = NULL,
    .read = tcp_read,
    .pending = NULL,
    .writev = tcp_writev,
    .shutdown = tcp_shutdown,
    .can_sendfile = true,
    .can_hand_over = true,
    .peer_cert = NULL,
    .alpn = NULL,
    .free = NULL,
};
