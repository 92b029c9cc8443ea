/* floor: the least a server can do per request, as a reference row for
 * bench/run. Not an HTTP server: it answers the benchmark's requests and
 * nothing else.
 *
 * THREADS threads, each with its own SO_REUSEPORT listener and a bare
 * level-triggered epoll loop. Per readable connection: one read(), then for
 * each complete request head ("\r\n\r\n") in the bytes, the path of its
 * request line picks a response built in advance (the Date header is
 * rebuilt once a second); every response of that read leaves in one write().
 * No header is parsed, /json is a fixed string (no serialization), a request
 * body is not understood (bench/run sends none), and there is no timeout.
 *
 * What it measures: with wrk and the kernel's TCP work left, how many
 * requests per second this machine allows a server that does almost nothing.
 * A server near the floor's rate has nothing left to win on that row. */
#include "../common/peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#define IN_CAP 8192   /* the longest request head accepted */
#define OUT_CAP 65536 /* responses gathered before a write */
#define MAX_EVENTS 256

typedef struct {
    int fd;
    size_t have; /* bytes in in[] not yet answered */
    char *out;   /* unsent answer bytes (malloc) while waiting for
                            * EPOLLOUT (reading stops), or NULL */
    size_t out_len, out_off;
    char in[IN_CAP];
} conn_t;

typedef struct {
    pthread_t tid;
    int port;
    time_t now;
    char date[64]; /* "Date: ...\r\n" */
    char plain[256], json[256], missing[256], user_head[256];
    size_t plain_len, json_len, missing_len, user_head_len;
    size_t out_len;
    char out[OUT_CAP];
} worker_t;

static const char JSON_FIXED[] = "{\"message\":\"Hello, World!\"}";

static void build_responses(worker_t *w, time_t now) {
    struct tm tm;
    gmtime_r(&now, &tm);
    char date[40];
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    w->now = now;
    w->plain_len = (size_t)snprintf(
        w->plain, sizeof(w->plain),
        "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: %s\r\nContent-Type: text/plain\r\n"
        "Content-Length: %zu\r\n\r\n%s",
        date, sizeof(PEER_PLAINTEXT) - 1, PEER_PLAINTEXT);
    w->json_len = (size_t)snprintf(
        w->json, sizeof(w->json),
        "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: %s\r\nContent-Type: application/json\r\n"
        "Content-Length: %zu\r\n\r\n%s",
        date, sizeof(JSON_FIXED) - 1, JSON_FIXED);
    w->missing_len = (size_t)snprintf(
        w->missing, sizeof(w->missing),
        "HTTP/1.1 404 Not Found\r\nServer: floor\r\nDate: %s\r\nContent-Type: text/plain\r\n"
        "Content-Length: %zu\r\n\r\n%s",
        date, sizeof(PEER_NOT_FOUND) - 1, PEER_NOT_FOUND);
    /* /user/:id: the head up to the Content-Length value. */
    w->user_head_len = (size_t)snprintf(
        w->user_head, sizeof(w->user_head),
        "HTTP/1.1 200 OK\r\nServer: floor\r\nDate: %s\r\nContent-Type: text/plain\r\n"
        "Content-Length: ",
        date);
}

/* Appends the answer to one request head [head, head+len) to w->out.
 * Returns 0, or -1 when the head is not a request line it knows how to read
 * (the connection is then closed). */
static int answer(worker_t *w, const char *head, size_t len) {
    const char *sp1 = memchr(head, ' ', len);
    if (!sp1)
        return -1;
    const char *path = sp1 + 1;
    const char *sp2 = memchr(path, ' ', len - (size_t)(path - head));
    if (!sp2)
        return -1;
    size_t plen = (size_t)(sp2 - path);
    int get = (size_t)(sp1 - head) == 3 && !memcmp(head, "GET", 3);
    const char *id = NULL;
    size_t idlen = get ? peer_user_id(path, plen, &id) : 0;
    char *o = w->out + w->out_len;
    if (get && plen == 10 && !memcmp(path, "/plaintext", 10)) {
        memcpy(o, w->plain, w->plain_len);
        w->out_len += w->plain_len;
    } else if (get && plen == 5 && !memcmp(path, "/json", 5)) {
        memcpy(o, w->json, w->json_len);
        w->out_len += w->json_len;
    } else if (idlen) {
        size_t blen = sizeof(PEER_USER_BODY_PREFIX) - 1 + idlen;
        memcpy(o, w->user_head, w->user_head_len);
        size_t n = w->user_head_len;
        n += (size_t)sprintf(o + n, "%zu\r\n\r\n" PEER_USER_BODY_PREFIX, blen);
        memcpy(o + n, id, idlen);
        w->out_len += n + idlen;
    } else {
        memcpy(o, w->missing, w->missing_len);
        w->out_len += w->missing_len;
    }
    return 0;
}

static void conn_close(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->out);
    free(c);
}

/* Writes w->out (or what is left of c->out). Returns 0 when all left, 1 when
 * the rest waits for EPOLLOUT, -1 on error. */
static int flush(int ep, worker_t *w, conn_t *c) {
    const char *p = c->out ? c->out + c->out_off : w->out;
    size_t len = c->out ? c->out_len - c->out_off : w->out_len;
    w->out_len = 0;
    while (len) {
        ssize_t n = write(c->fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return -1;
    }
    if (!len) {
        if (c->out) { /* drained: read again */
            free(c->out);
            c->out = NULL;
            struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
            if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
                return -1;
        }
        return 0;
    }
    if (c->out) {
        c->out_off = c->out_len - len;
        return 1;
    }
    c->out = malloc(len);
    if (!c->out)
        return -1;
    memcpy(c->out, p, len);
    c->out_len = len;
    c->out_off = 0;
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) ? -1 : 1;
}

/* Answers every complete request in c->in, stopping early when the answers
 * wait for EPOLLOUT. Returns -1 to close. */
static int process(int ep, worker_t *w, conn_t *c) {
    size_t off = 0;
    int r = 0;
    for (;;) {
        const char *end = memmem(c->in + off, c->have - off, "\r\n\r\n", 4);
        if (!end)
            break;
        size_t len = (size_t)(end - (c->in + off)) + 4;
        /* An answer is at most its request's length (the /user id) plus 512. */
        if (w->out_len + 512 + len > OUT_CAP && (r = flush(ep, w, c)) != 0)
            break;
        if (answer(w, c->in + off, len)) {
            r = -1;
            break;
        }
        off += len;
    }
    if (r == 0 && w->out_len)
        r = flush(ep, w, c);
    w->out_len = 0;
    if (r < 0)
        return -1;
    if (off < c->have)
        memmove(c->in, c->in + off, c->have - off);
    c->have -= off;
    return r == 0 && c->have == IN_CAP ? -1 : 0; /* a head longer than IN_CAP */
}

static int on_readable(int ep, worker_t *w, conn_t *c) {
    ssize_t n;
    do {
        n = read(c->fd, c->in + c->have, IN_CAP - c->have);
    } while (n < 0 && errno == EINTR);
    if (n == 0)
        return -1;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    c->have += (size_t)n;
    return process(ep, w, c);
}

static int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    inet_pton(AF_INET, PEER_HOST, &a.sin_addr);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4096)) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    int lfd = listen_on(w->port);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0) {
        fprintf(stderr, "floor: cannot listen on %s:%d: %s\n", PEER_HOST, w->port, strerror(errno));
        exit(1);
    }
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
    build_responses(w, time(NULL));
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0)
            continue; /* EINTR */
        time_t now = time(NULL);
        if (now != w->now)
            build_responses(w, now);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    conn_t *nc = malloc(sizeof(*nc));
                    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = nc };
                    if (!nc || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
                        free(nc);
                        close(fd);
                        continue;
                    }
                    nc->fd = fd;
                    nc->have = 0;
                    nc->out = NULL;
                }
                continue;
            }
            int r;
            if (c->out) {
                r = flush(ep, w, c);
                /* Drained: answer the requests read before the answers waited. */
                if (r == 0 && c->have)
                    r = process(ep, w, c);
            } else {
                r = on_readable(ep, w, c);
            }
            if (r < 0) {
                w->out_len = 0;
                conn_close(ep, c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    peer_opts_t o = peer_parse_args(argc, argv);
    peer_block_signals();
    worker_t *ws = calloc((size_t)o.threads, sizeof(*ws));
    if (!ws)
        return 1;
    for (int i = 0; i < o.threads; i++) {
        ws[i].port = o.port;
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i])) {
            fprintf(stderr, "floor: cannot start thread %d\n", i);
            return 1;
        }
    }
    fprintf(stderr, "floor: %d thread(s) on %s:%d\n", o.threads, PEER_HOST, o.port);
    peer_wait_signal();
    return 0;
}
