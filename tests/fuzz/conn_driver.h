/* The in-memory transport the connection fuzzers drive the real core with.
 *
 * One worker of a real fh_server_t (never started: no threads) gets a loop
 * run by the fuzzer's own thread. Each input is one connection: one end of
 * an AF_UNIX socketpair is handed to fh__conn_open() exactly as an accepted
 * socket would be; the fuzzer writes the request bytes into the other end
 * in fragments (each fragment is one read for the server, so buffer moves
 * across reads are exercised), runs the loop between fragments, half-closes
 * and runs the loop until the server has closed its end, collecting every
 * response byte. Nothing in conn.c knows it is being fuzzed.
 */
#ifndef FH_FUZZ_CONN_DRIVER_H
#define FH_FUZZ_CONN_DRIVER_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/http1.h"
#include "core/worker.h"

typedef struct fz_out {
    char *p;
    size_t len, cap;
} fz_out_t;

static fh_server_t *fz_server;
static fh__worker_t *fz_worker;

/* Creates the server (limits from cfg, handler required) and its worker's
 * loop on this thread. */
static void fz_init(fh_server_config_t *cfg) {
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    cfg->threads = 1;
    cfg->handle_signals = false;
    int err = fh_server_new(&fz_server, cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(cfg, err));
        abort();
    }
    fz_worker = &fz_server->workers[0];
    if (uv_loop_init(&fz_worker->loop) != 0)
        abort();
    fz_worker->loop.data = fz_worker;
    fh__date_update(&fz_worker->date, time(NULL));
}

static void fz_out_grow(fz_out_t *o) {
    size_t ncap = o->cap ? o->cap * 2 : 65536;
    o->p = realloc(o->p, ncap);
    if (!o->p)
        abort();
    o->cap = ncap;
}

/* Timers and other work the harness started on the loop and that will make
 * progress without any input: the driver keeps turning the loop for them. */
static int fz_pending;

/* Reads what the server wrote, straight into out; returns the byte count. */
static size_t fz_drain(int fd, fz_out_t *out) {
    size_t total = 0;
    for (;;) {
        if (out->cap - out->len < 16384)
            fz_out_grow(out);
        ssize_t n = read(fd, out->p + out->len, out->cap - out->len - 1);
        if (n > 0) {
            out->len += (size_t)n;
            out->p[out->len] = '\0';
            total += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return total;
    }
}

/* Turns the loop until the server has read all it was sent, the harness's
 * timers have fired and no more output comes. server_fd is the server's
 * end, only inspected (FIONREAD). */
static void fz_spin(int server_fd, int fd, fz_out_t *out) {
    for (int i = 0; i < 256; i++) {
        uv_run(&fz_worker->loop, UV_RUN_NOWAIT);
        size_t got = fz_drain(fd, out);
        int unread = 0;
        if (fz_worker->nconns && ioctl(server_fd, FIONREAD, &unread) != 0)
            unread = 0;
        if (!got && unread == 0 && fz_pending == 0)
            break;
    }
}

/* The fragments the input is cut into, from the seed byte: 0 sends it in one
 * read; otherwise it is cut 1 to 4 times at positions the seed picks (few
 * cuts keep the system calls per input low; where they fall is what finds
 * the bugs). */
typedef struct fz_cuts {
    uint32_t state;
    int left;
} fz_cuts_t;

static size_t fz_next_fragment(fz_cuts_t *c, size_t left) {
    if (c->left == 0 || left <= 1)
        return left;
    c->left--;
    c->state ^= c->state << 13;
    c->state ^= c->state >> 17;
    c->state ^= c->state << 5;
    return 1 + c->state % (left - 1);
}

/* One connection: sends data in fragments, half-closes, runs until the
 * server closes. Aborts if the server neither answers nor closes once the
 * client is gone and every deferred response has been ended. */
static void fz_connection(const uint8_t *data, size_t size, uint32_t seed, fz_out_t *out) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (fh__conn_open(fz_worker, sv[0], &fh__transport_tcp, &fh__http1_protocol) != 0)
        abort();
    size_t off = 0;
    fz_cuts_t cuts = { seed * 2654435761u + 1, seed ? 1 + (int)(seed % 4) : 0 };
    while (off < size) {
        size_t n = fz_next_fragment(&cuts, size - off);
        ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            break; /* the server closed: the rest is never read */
        fz_spin(sv[0], sv[1], out);
        if (fz_worker->nconns == 0)
            break;
    }
    shutdown(sv[1], SHUT_WR);
    for (int round = 0; fz_worker->nconns > 0 && round < 100; round++)
        fz_spin(sv[0], sv[1], out);
    if (fz_worker->nconns > 0) {
        fprintf(stderr, "fuzz: the connection neither closed nor progressed after EOF\n");
        abort();
    }
    /* Close callbacks, timers of ended deferred responses. */
    while (uv_run(&fz_worker->loop, UV_RUN_NOWAIT))
        ;
    fz_drain(sv[1], out);
    close(sv[1]);
}

#endif
