/* The TLS relay (tls_relay.h). */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tls_relay.h"

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static SSL_CTX *ctx;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
/* Relays running, and the process ending: they stop, and exit waits for
 * them (up to 5 s) before OpenSSL's own exit handler frees its state. */
static atomic_int active;
static atomic_bool quitting;

static void relays_end(void) {
    atomic_store(&quitting, true);
    for (int i = 0; i < 500 && atomic_load(&active) > 0; i++)
        usleep(10000);
    if (atomic_load(&active) == 0)
        SSL_CTX_free(ctx); /* a relay still running keeps it */
}

static void ctx_make(void) {
    /* No exit handler of OpenSSL's: a relay thread still running at exit
     * must not find libcrypto's locks freed under it. */
    OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT, NULL);
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    atexit(relays_end); /* so this one runs before it */
}

static SSL_CTX *client_ctx(void) {
    pthread_once(&ctx_once, ctx_make);
    return ctx;
}

/* A relay: TLS on tcp, plain bytes on side (the other end is the test's
 * socket). The test's end closing or shutting its side sends close_notify
 * (the server reads the end of the stream); the server ending its side
 * shuts side for writing; a write to side that fails (the test closed it)
 * ends the relay, closing the TCP connection. */
typedef struct relay {
    int tcp, side;
} relay_t;

static int relay_write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ssl_write_all(SSL *ssl, int tcp, const char *p, size_t n) {
    while (n) {
        size_t w = 0;
        if (SSL_write_ex(ssl, p, n, &w) == 1) {
            p += w;
            n -= w;
            continue;
        }
        int e = SSL_get_error(ssl, 0);
        if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
            return -1;
        struct pollfd pfd = { tcp, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0 };
        poll(&pfd, 1, 100);
    }
    return 0;
}

static void *relay_main(void *arg) {
    relay_t rl = *(relay_t *)arg;
    free(arg);
    SSL *ssl = SSL_new(client_ctx());
    bool side_open = true, tcp_open = true;
    if (!ssl || SSL_set_fd(ssl, rl.tcp) != 1 || SSL_connect(ssl) != 1)
        goto done;
    int fl = 1;
    ioctl(rl.tcp, FIONBIO, &fl);
    uint64_t until = now_ms() + 120000;
    char buf[65536];
    while (tcp_open && now_ms() < until && !atomic_load(&quitting)) {
        struct pollfd pfd[2] = { { rl.tcp, POLLIN, 0 }, { rl.side, side_open ? POLLIN : 0, 0 } };
        if (!SSL_has_pending(ssl) && poll(pfd, 2, 200) <= 0)
            continue;
        if (side_open && (pfd[1].revents & (POLLIN | POLLHUP))) {
            ssize_t n = recv(rl.side, buf, sizeof(buf), MSG_DONTWAIT);
            if (n > 0) {
                if (ssl_write_all(ssl, rl.tcp, buf, (size_t)n) != 0)
                    break;
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                side_open = false;
                SSL_shutdown(ssl); /* close_notify: the end of what the test sends */
            }
        }
        for (;;) {
            size_t got = 0;
            if (SSL_read_ex(ssl, buf, sizeof(buf), &got) == 1) {
                if (relay_write_all(rl.side, buf, got) != 0) {
                    tcp_open = false; /* the test closed its socket */
                    break;
                }
                continue;
            }
            int e = SSL_get_error(ssl, 0);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                tcp_open = false; /* the server closed (or reset) */
                shutdown(rl.side, SHUT_WR);
            }
            break;
        }
    }
done:
    ERR_clear_error();
    SSL_free(ssl);
    /* This thread's OpenSSL state freed now: the process may be ending,
     * and OpenSSL's exit handler (registered by the server's own TLS in
     * the same process) frees every thread's state it still knows of, which
     * the thread's own exit would then free a second time. */
    OPENSSL_thread_stop();
    close(rl.tcp);
    /* The test's socket sees the end once it has read what came. */
    shutdown(rl.side, SHUT_WR);
    char sink[4096];
    uint64_t drain_until = now_ms() + 10000;
    while (side_open && now_ms() < drain_until && !atomic_load(&quitting)) {
        struct pollfd p = { rl.side, POLLIN, 0 };
        if (poll(&p, 1, 200) > 0 && recv(rl.side, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            break;
    }
    close(rl.side);
    atomic_fetch_sub(&active, 1);
    return NULL;
}

int fht_tls_relay(int tcp) {
    int sp[2];
    if (!client_ctx() || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
        close(tcp);
        return -1;
    }
    relay_t *rl = malloc(sizeof(*rl));
    pthread_t t;
    if (!rl) {
        close(sp[0]);
        close(sp[1]);
        close(tcp);
        return -1;
    }
    rl->tcp = tcp;
    rl->side = sp[1];
    atomic_fetch_add(&active, 1);
    if (pthread_create(&t, NULL, relay_main, rl) != 0) {
        atomic_fetch_sub(&active, 1);
        free(rl);
        close(sp[0]);
        close(sp[1]);
        close(tcp);
        return -1;
    }
    pthread_detach(t);
    return sp[0];
}
