#include "delay_relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RELAY_MAX 16

/* A piece read from one side, due to be written to the other. */
typedef struct piece {
    struct piece *next;
    uint64_t due;
    size_t len, off;
    char data[];
} piece_t;

typedef struct side {
    int fd;
    piece_t *head, *tail; /* to write to fd */
} side_t;

typedef struct pair {
    side_t s[2]; /* 0: the client, 1: the server */
} pair_t;

struct fht_relay {
    pthread_t thread;
    atomic_bool stop;
    int listen_fd;
    int delay_ms;
    char path[108];
    pair_t pairs[RELAY_MAX];
    int npairs;
};

static uint64_t relay_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u; /* µs */
}

static void side_free(side_t *s) {
    for (piece_t *p = s->head, *n; p; p = n) {
        n = p->next;
        free(p);
    }
    s->head = s->tail = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

static void pair_close(pair_t *p) {
    side_free(&p->s[0]);
    side_free(&p->s[1]);
}

static void relay_accept(fht_relay_t *r) {
    int c = accept(r->listen_fd, NULL, NULL);
    if (c < 0)
        return;
    int slot = -1;
    for (int i = 0; i < RELAY_MAX; i++)
        if (r->pairs[i].s[0].fd < 0) {
            slot = i;
            break;
        }
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "%s", r->path);
    if (slot < 0 || u < 0 || connect(u, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c);
        if (u >= 0)
            close(u);
        return;
    }
    r->pairs[slot].s[0].fd = c;
    r->pairs[slot].s[1].fd = u;
}

/* Reads what side `from` of p has; false when it is closed. */
static bool relay_read(fht_relay_t *r, pair_t *p, int from) {
    char buf[65536];
    ssize_t n = read(p->s[from].fd, buf, sizeof buf);
    if (n <= 0)
        return n < 0 && errno == EINTR;
    piece_t *pc = malloc(sizeof(*pc) + (size_t)n);
    if (!pc)
        return false;
    pc->next = NULL;
    pc->due = relay_now() + (uint64_t)r->delay_ms * 1000u;
    pc->len = (size_t)n;
    pc->off = 0;
    memcpy(pc->data, buf, (size_t)n);
    side_t *to = &p->s[1 - from];
    if (to->tail)
        to->tail->next = pc;
    else
        to->head = pc;
    to->tail = pc;
    return true;
}

/* Writes the pieces of s that are due; false on an error. */
static bool relay_write(side_t *s, uint64_t now) {
    while (s->head && s->head->due <= now) {
        piece_t *pc = s->head;
        ssize_t n = write(s->fd, pc->data + pc->off, pc->len - pc->off);
        if (n < 0)
            return errno == EINTR || errno == EAGAIN;
        pc->off += (size_t)n;
        if (pc->off < pc->len)
            return true;
        s->head = pc->next;
        if (!s->head)
            s->tail = NULL;
        free(pc);
    }
    return true;
}

static void *relay_main(void *arg) {
    fht_relay_t *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd fds[1 + 2 * RELAY_MAX];
        int idx[1 + 2 * RELAY_MAX];
        int n = 0;
        fds[n].fd = r->listen_fd;
        fds[n].events = POLLIN;
        idx[n++] = -1;
        uint64_t now = relay_now();
        int wait = 10; /* ms */
        for (int i = 0; i < RELAY_MAX; i++) {
            pair_t *p = &r->pairs[i];
            if (p->s[0].fd < 0)
                continue;
            for (int k = 0; k < 2; k++) {
                fds[n].fd = p->s[k].fd;
                fds[n].events = POLLIN;
                if (p->s[k].head && p->s[k].head->due <= now)
                    fds[n].events |= POLLOUT;
                else if (p->s[k].head && (int)((p->s[k].head->due - now) / 1000u) < wait)
                    wait = (int)((p->s[k].head->due - now) / 1000u);
                idx[n++] = i * 2 + k;
            }
        }
        if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN)
            relay_accept(r);
        now = relay_now();
        for (int j = 1; j < n; j++) {
            pair_t *p = &r->pairs[idx[j] / 2];
            int k = idx[j] % 2;
            if (p->s[k].fd < 0)
                continue;
            bool ok = true;
            if (fds[j].revents & (POLLIN | POLLHUP | POLLERR))
                ok = relay_read(r, p, k);
            if (ok)
                ok = relay_write(&p->s[k], now);
            if (!ok)
                pair_close(p);
        }
        for (int i = 0; i < RELAY_MAX; i++) {
            pair_t *p = &r->pairs[i];
            for (int k = 0; k < 2 && p->s[0].fd >= 0; k++)
                if (!relay_write(&p->s[k], now))
                    pair_close(p);
        }
    }
    return NULL;
}

fht_relay_t *fht_relay_start(const char *path, int delay_ms, int *port) {
    fht_relay_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    for (int i = 0; i < RELAY_MAX; i++)
        r->pairs[i].s[0].fd = r->pairs[i].s[1].fd = -1;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->delay_ms = delay_ms;
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->listen_fd, 16) != 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "delay_relay: listen: %s\n", strerror(errno));
        if (r->listen_fd >= 0)
            close(r->listen_fd);
        free(r);
        return NULL;
    }
    *port = ntohs(a.sin_port);
    if (pthread_create(&r->thread, NULL, relay_main, r) != 0) {
        close(r->listen_fd);
        free(r);
        return NULL;
    }
    return r;
}

void fht_relay_stop(fht_relay_t *r) {
    if (!r)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    for (int i = 0; i < RELAY_MAX; i++)
        pair_close(&r->pairs[i]);
    close(r->listen_fd);
    free(r);
}
