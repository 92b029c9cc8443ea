/* Listening sockets and accepting (see listener.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/http1.h"
#include "core/listener.h"
#include "core/worker.h"

/* Connections taken per readable event: others wait for the next turn, so
 * that a burst of connections does not starve the ones already open. */
enum { ACCEPT_BATCH = 64 };

int fh__listener_addr(const char *host, int port, struct sockaddr_storage *ss, bool *dual) {
    memset(ss, 0, sizeof(*ss));
    *dual = false;
    if (!host) {
        host = "::";
        *dual = true;
    } else if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) != 0 &&
        uv_ip4_addr(host, port, (struct sockaddr_in *)ss) != 0)
        return FH_ECONFIG;
    return 0;
}

int fh__listener_bind(const char *host, int port, int backlog, uv_os_sock_t *out, int *bound,
                      const char **why) {
    struct sockaddr_storage ss;
    bool dual;
    if (fh__listener_addr(host, port, &ss, &dual) != 0) {
        *why = "not an IPv4 or IPv6 address (or \"localhost\")";
        return FH_ECONFIG;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && dual && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
        dual = false;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_REUSEPORT
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#endif
    if (dual)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    socklen_t slen =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, backlog) != 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    getsockname(fd, (struct sockaddr *)&got, &glen);
    *bound = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                             : ((struct sockaddr_in *)&got)->sin_port);
    *out = fd;
    return 0;
}

int fh__listener_bind_unix(const char *path, unsigned mode, int backlog, uv_os_sock_t *out) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path))
        return FH_EINVAL;
    memcpy(sa.sun_path, path, strlen(path));
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return FH_EADDRINUSE;
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return uv_translate_sys_error(errno);
        int rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
        int err = errno;
        close(probe);
        if (rc == 0 || err != ECONNREFUSED)
            return FH_EADDRINUSE; /* something listens there (or may) */
        unlink(path);             /* stale: nothing listens */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return uv_translate_sys_error(errno);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    /* The mode is set before listen: no client connects before it holds. */
    if (chmod(path, mode) != 0 || listen(fd, backlog) != 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        unlink(path);
        return err;
    }
    *out = fd;
    return 0;
}

int fh__listener_activated(void) {
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strtol(fds, NULL, 10) < 1)
        return -1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening)
        return -1;
    int flags = fcntl(3, F_GETFL);
    fcntl(3, F_SETFL, flags | O_NONBLOCK);
    fcntl(3, F_SETFD, FD_CLOEXEC);
    return 3;
}

int fh__listener_claim_port(int port, bool share) {
    char path[64];
    snprintf(path, sizeof(path), "/tmp/fasthttp-tcp-%d.lock", port);
    /* Read-only: a file another user made can be locked too. */
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return FH_ENOENT; /* no /tmp: the port cannot be claimed */
    if (flock(fd, (share ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        int err = errno == EWOULDBLOCK ? FH_EADDRINUSE : uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    return fd;
}

static bool at_cap(const fh__worker_t *w) {
    return atomic_load_explicit(&w->server->nconns, memory_order_relaxed) >=
           w->server->cfg.limits.max_connections;
}

static void listener_pause(fh__listener_t *l) {
    if (l->paused)
        return;
    l->paused = true;
    uv_poll_stop(&l->poll);
}

/* Accepts up to max connections; returns false when accepting must pause
 * (the cap, out of descriptors or memory). */
static bool accept_some(fh__listener_t *l, int max) {
    fh__worker_t *w = l->w;
    for (int i = 0; i < max; i++) {
        if (at_cap(w))
            return false;
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            /* EAGAIN: the queue is empty; EMFILE, ENFILE, ENOBUFS, ENOMEM:
             * wait for descriptors or memory to come back. */
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        int err = fh__conn_open(w, fd, w->server->transport, &fh__http1_protocol);
        if (err)
            FH__COUNT(w->stats.refused);
        if (err == FH_ENOMEM)
            return false;
    }
    return true;
}

static void on_readable(uv_poll_t *p, int status, int events) {
    fh__listener_t *l = p->data;
    (void)events;
    if (l->w->stopping)
        return;
    if (status < 0 || !accept_some(l, ACCEPT_BATCH))
        listener_pause(l);
}

int fh__listener_start(fh__listener_t *l, fh__worker_t *w) {
    l->w = w;
    int err = uv_poll_init_socket(&w->loop, &l->poll, l->fd);
    if (err)
        return err;
    l->poll.data = l;
    l->open = true; /* the descriptor is closed with the handle */
    return uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

void fh__listener_resume(fh__listener_t *l) {
    if (!l->paused || !l->open || l->w->stopping || at_cap(l->w))
        return;
    l->paused = false;
    uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

static void on_closed(uv_handle_t *h) {
    fh__listener_t *l = h->data;
    fh__worker_conn_count(l->w, 0);
}

void fh__listener_close(fh__listener_t *l) {
    if (!l->open || uv_is_closing((uv_handle_t *)&l->poll))
        return;
    /* Connections the kernel accepted already would be reset when the
     * socket closes: take them first (bounded by the cap), then close at
     * once, so that the kernel queues nothing more behind the last accept.
     * uv_close takes the descriptor out of the loop's poll set before it
     * returns, so it may close right away (a uv_poll_t leaves it open). */
    accept_some(l, INT32_MAX);
    l->open = false;
    uv_close((uv_handle_t *)&l->poll, on_closed);
    close(l->fd);
    l->fd = -1;
}
