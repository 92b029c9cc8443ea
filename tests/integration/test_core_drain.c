/* Stopping under load loses nothing that reached the server. A server in a
 * child process (fh_server_run, stopped by SIGTERM as a deployment stops
 * it) is loaded by 64 keep-alive connections; some requests are answered
 * late (deferred), so that answers are in flight when the signal comes.
 * The client retries only what RFC 9112 9.3.1 allows: an idempotent request
 * (GET) whose connection closed before a byte of its answer came, once, on a
 * new connection. Counted: answered, refused (no connection could be made:
 * the client knows nothing was received), and lost (a request sent that got
 * neither an answer nor a clean refusal, or an answer cut short). Lost must
 * be 0, every time. Retries on a connection that was new (not reused) are
 * counted apart: they are what a connection accepted by the kernel in the
 * instant between the listener's last accept and its close costs. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"

enum { CONNS = 64, THREADS = 8, ROUNDS = 4 };

/* ------------------------------------------------------------- the server */

typedef struct later {
    uv_timer_t timer;
    fh_response_t *res;
} later_t;

static void later_closed(uv_handle_t *h) {
    later_t *l = h->data;
    fh_send_text(l->res, 200, "late");
}

static void later_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, later_closed); }

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (fh_str_eq(fh_request_path(req), "/late")) {
        later_t *l = fh_alloc(req, sizeof(*l));
        if (!l || fh_response_defer(res) != 0)
            return FH_ENOMEM;
        l->res = res;
        uv_timer_init(fh_request_loop(req), &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, later_fire, 20, 0);
        return 0;
    }
    return fh_send_text(res, 200, "ok");
}

/* Runs a server in a child on a free port (written into the pipe once it
 * listens); returns the child's pid. */
static pid_t start_child(int *port) {
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        fh_server_config_t cfg = fh_server_config_default();
        cfg.handler = handler;
        cfg.host = "127.0.0.1";
        cfg.threads = 2;
        fh_server_t *s;
        if (fh_server_new(&s, &cfg) != 0)
            _exit(2);
        int p = fh_server_port(s);
        if (write(pfd[1], &p, sizeof(p)) != sizeof(p))
            _exit(3);
        close(pfd[1]);
        int err = fh_server_run(s); /* SIGTERM: a graceful stop */
        fh_server_free(s);
        _exit(err ? 1 : 0);
    }
    close(pfd[1]);
    assert_int_equal(read(pfd[0], port, sizeof(*port)), (ssize_t)sizeof(*port));
    close(pfd[0]);
    return pid;
}

/* ------------------------------------------------------------- the client */

static int port;
static atomic_int answered, refused, lost, retried, retried_new;
static atomic_bool stopping;

/* A connection, or -1 when refused. */
static int dial(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Sends one request and reads its answer. Returns 1 answered (*closes set
 * when it said Connection: close), 0 when the connection ended before any
 * byte of the answer, -1 when it ended in the middle of one. */
static int exchange(int fd, const char *req, bool *closes) {
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
        return 0; /* a reset before the request left: nothing received */
    char buf[4096];
    size_t n = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
        if (k <= 0)
            return n == 0 ? 0 : -1;
        n += (size_t)k;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        char *cl = strstr(buf, "Content-Length: ");
        if (end && cl && n >= (size_t)(end + 4 - buf) + strtoul(cl + 16, NULL, 10)) {
            *closes = strstr(buf, "Connection: close") != NULL;
            return 1;
        }
    }
}

static void *client_main(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    int fds[CONNS / THREADS];
    int reused[CONNS / THREADS];
    for (int i = 0; i < CONNS / THREADS; i++) {
        fds[i] = dial();
        reused[i] = 0;
    }
    int live = CONNS / THREADS;
    while (live > 0) {
        for (int i = 0; i < CONNS / THREADS; i++) {
            if (fds[i] < 0)
                continue;
            seed = seed * 1103515245u + 12345u;
            const char *req = (seed >> 16) % 16 == 0 ? "GET /late HTTP/1.1\r\nHost: t\r\n\r\n"
                                                     : "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
            bool closes = false;
            int r = exchange(fds[i], req, &closes);
            if (r == 0) {
                /* RFC 9112 9.3.1: a GET retried once, on a new connection. */
                atomic_fetch_add(reused[i] ? &retried : &retried_new, 1);
                close(fds[i]);
                fds[i] = dial();
                reused[i] = 0;
                if (fds[i] < 0) {
                    atomic_fetch_add(&refused, 1);
                    live--;
                    continue;
                }
                r = exchange(fds[i], req, &closes);
            }
            if (r == 1) {
                atomic_fetch_add(&answered, 1);
                reused[i] = 1;
            } else {
                atomic_fetch_add(&lost, 1);
                fprintf(stderr, "lost a request (%s connection, %s)\n",
                        reused[i] ? "reused" : "new", r == 0 ? "no answer" : "cut answer");
            }
            if (r != 1 || closes) {
                close(fds[i]);
                /* After a close the client reconnects while the server runs;
                 * once it stops, connecting is refused. */
                fds[i] = atomic_load(&stopping) ? -1 : dial();
                reused[i] = 0;
                if (fds[i] < 0)
                    live--;
            }
        }
    }
    return NULL;
}

static void test_sigterm_under_load_loses_nothing(void **state) {
    (void)state;
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&answered, 0);
        atomic_store(&refused, 0);
        atomic_store(&lost, 0);
        atomic_store(&retried, 0);
        atomic_store(&retried_new, 0);
        atomic_store(&stopping, false);
        pid_t child = start_child(&port);
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++)
            pthread_create(&th[i], NULL, client_main, (void *)(uintptr_t)(round * 100 + i + 1));
        usleep(300000);
        int before = atomic_load(&answered);
        atomic_store(&stopping, true);
        kill(child, SIGTERM);
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        int status = 0;
        assert_int_equal(waitpid(child, &status, 0), child);
        fprintf(stderr,
                "round %d: %d answered (%d before the signal), %d refused, %d retried (%d on a "
                "new connection), %d lost\n",
                round, atomic_load(&answered), before, atomic_load(&refused),
                atomic_load(&retried) + atomic_load(&retried_new), atomic_load(&retried_new),
                atomic_load(&lost));
        assert_true(before > 0);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(atomic_load(&lost), 0);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_under_load_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
