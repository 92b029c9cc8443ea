/* Slow clients against a real server: 1,000 slowloris connections trickling
 * header lines while a normal client keeps being answered promptly; every
 * slowloris connection gets its 408 and is closed once header_ms has passed
 * since its first byte. Also: a slow reader (write timeout), a slow upload
 * (body timeout), the connection cap (accept pauses and resumes), and
 * running out of descriptors (EMFILE) without spinning.
 *
 * Bounded: each test finishes in a few seconds; descriptors are raised with
 * RLIMIT_NOFILE when the hard limit allows. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define SLOW_CONNS 1000
/* "Promptly": the worst latency of the normal client's requests. Sanitizer
 * builds run several times slower. */
#ifdef FH__SANITIZED
#define PROMPT_MS 2000
#else
#define PROMPT_MS 500
#endif

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    static char big[32 << 20]; /* more than the socket buffers hold */
    if (fh_str_eq(path, "/big")) {
        fh_response_body_borrow(res, big, sizeof(big));
        return 0;
    }
    if (fh_str_eq(path, "/big16")) {
        fh_response_body_borrow(res, big, 16 << 20);
        return 0;
    }
    return fh_send_text(res, 200, "ok");
}

/* Raises the soft descriptor limit to want if the hard limit allows;
 * returns the limit in force. */
static rlim_t raise_nofile(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur;
}

/* A plain blocking connect, then non-blocking: no testutil buffers. */
static int raw_connect(int port) {
    int fd = fht_connect_raw(port);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

typedef struct trickle {
    int *fds;
    int n;
    atomic_int stop;
} trickle_t;

/* Sends one more header line on every slow connection every 100 ms. */
static void *trickler(void *p) {
    trickle_t *t = p;
    while (!atomic_load(&t->stop)) {
        for (int i = 0; i < t->n; i++)
            if (t->fds[i] >= 0)
                send(t->fds[i], "X-Slow: 1\r\n", 11, MSG_NOSIGNAL | MSG_DONTWAIT);
        usleep(100000);
    }
    return NULL;
}

/* Reads what is there; returns 1 once the peer closed, 0 if still open. */
static int read_until_closed(int fd, char *buf, size_t cap, size_t *len) {
    for (;;) {
        char tmp[4096];
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0) {
            size_t k = (size_t)n < cap - 1 - *len ? (size_t)n : cap - 1 - *len;
            memcpy(buf + *len, tmp, k);
            *len += k;
            buf[*len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            return 1;
        return 0;
    }
}

static void test_1000_slowloris(void **state) {
    (void)state;
    rlim_t lim = raise_nofile(4096);
    int n = SLOW_CONNS;
    if (lim < (rlim_t)(2 * n + 200))
        n = lim > 400 ? (int)(lim - 200) / 2 : 0;
    if (n < SLOW_CONNS)
        fprintf(stderr, "slowloris: RLIMIT_NOFILE is %lu: %d connections instead of %d\n",
                (unsigned long)lim, n, SLOW_CONNS);
    assert_true(n >= 100);

    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    cfg.timeouts.header_ms = 2000;
    fh_server_t *s = fht_server_start(&cfg);
    int port = fh_server_port(s);

    int *fds = malloc(sizeof(int) * (size_t)n);
    uint64_t t0 = fht_now_ms();
    for (int i = 0; i < n; i++) {
        fds[i] = raw_connect(port);
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], "GET / HTTP/1.1\r\nHost: a\r\n", 25, MSG_NOSIGNAL), 25);
    }
    /* All of them accepted and holding a partial head in the server. */
    fh_server_stats_t st;
    do {
        usleep(10000);
        fh_server_stats(s, &st);
    } while (st.connections_open < (uint64_t)n && fht_now_ms() - t0 < 5000);
    assert_int_equal(st.connections_open, n);
    uint64_t opened = fht_now_ms();
    static trickle_t t;
    t.fds = fds;
    t.n = n;
    atomic_store(&t.stop, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, trickler, &t), 0);

    /* A normal client meanwhile: a request every 20 ms, each answered fast. */
    int fd = fht_connect(port);
    uint64_t worst = 0, total = 0;
    int answered = 0;
    while (fht_now_ms() - opened < 1500) {
        uint64_t a = fht_now_ms();
        fht_send_str(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        fht_response_free(&r);
        uint64_t d = fht_now_ms() - a;
        worst = d > worst ? d : worst;
        total += d;
        answered++;
        usleep(20000);
    }
    fprintf(stderr,
            "slowloris: %d slow connections accepted in %llu ms; normal client: %d requests, "
            "mean %.2f ms, worst %llu ms\n",
            n, (unsigned long long)(opened - t0), answered, (double)total / answered,
            (unsigned long long)worst);
    assert_true(answered >= 10);
    assert_true(worst < PROMPT_MS);

    /* Every slow connection: 408, then closed, within header_ms + slack. */
    int closed = 0, got408 = 0;
    char(*bufs)[256] = calloc((size_t)n, 256);
    size_t *lens = calloc((size_t)n, sizeof(size_t));
    bool *done = calloc((size_t)n, sizeof(bool));
    while (closed < n && fht_now_ms() - t0 < 2000 + 4000) {
        for (int i = 0; i < n; i++) {
            if (done[i])
                continue;
            if (read_until_closed(fds[i], bufs[i], sizeof(bufs[i]), &lens[i])) {
                done[i] = true;
                closed++;
                got408 += strncmp(bufs[i], "HTTP/1.1 408 ", 13) == 0;
            }
        }
        usleep(20000);
    }
    uint64_t all_closed = fht_now_ms() - t0;
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "slowloris: %d of %d closed (%d with a 408) %llu ms after the first connect\n",
            closed, n, got408, (unsigned long long)all_closed);
    assert_int_equal(closed, n);
    assert_int_equal(got408, n);

    /* The normal client is still served; the timeouts were counted. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    fht_close(fd);
    fh_server_stats(s, &st);
    assert_true(st.timeouts >= (uint64_t)n);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    free(bufs);
    free(lens);
    free(done);
    fht_server_stop(s);
}

/* A client that asks for 32 MiB and stops reading is cut off after write_ms,
 * and the server keeps serving others meanwhile. */
static void test_slow_reader(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.timeouts.write_ms = 300;
    fh_server_t *s = fht_server_start(&cfg);
    int port = fh_server_port(s);
    int slow = raw_connect(port);
    assert_true(send(slow, "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", 30, MSG_NOSIGNAL) == 30);
    usleep(100000);
    int fd = fht_connect(port);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    fht_close(fd);
    /* Not reading for 1.5 s: the server gives up on the write. */
    usleep(1500000);
    size_t got = 0;
    uint64_t t0 = fht_now_ms();
    bool eof = false;
    while (!eof && fht_now_ms() - t0 < 5000) {
        char buf[65536];
        struct pollfd pfd = { slow, POLLIN, 0 };
        poll(&pfd, 1, 100);
        ssize_t n = recv(slow, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            eof = true;
    }
    fprintf(stderr, "slow reader: %zu bytes, %s after %llu ms\n", got, eof ? "closed" : "open",
            (unsigned long long)(fht_now_ms() - t0));
    assert_true(eof);
    assert_true(got < (size_t)(32 << 20));
    close(slow);
    fh_server_stats_t st;
    fh_server_stats(s, &st);
    assert_true(st.timeouts >= 1);
    fht_server_stop(s);
}

/* A client that reads slowly but steadily is not cut off, even when the
 * whole response takes many times write_ms: the timeout is on progress. */
static void test_slow_but_reading(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.timeouts.write_ms = 1000;
    fh_server_t *s = fht_server_start(&cfg);
    int fd = raw_connect(fh_server_port(s));
    assert_true(send(fd, "GET /big16 HTTP/1.1\r\nHost: a\r\n\r\n", 32, MSG_NOSIGNAL) == 32);
    size_t got = 0, want = 0;
    uint64_t t0 = fht_now_ms();
    static char buf[256 << 10]; /* 5 MB/s: the socket buffers fill and drain */
    while (fht_now_ms() - t0 < 20000) {
        usleep(50000);
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            break;
        if (n > 0) {
            if (!want) {
                char *cl = memmem(buf, (size_t)n, "Content-Length: ", 16);
                char *end = memmem(buf, (size_t)n, "\r\n\r\n", 4);
                assert_non_null(cl);
                assert_non_null(end);
                want = strtoul(cl + 16, NULL, 10) + (size_t)(end + 4 - buf);
            }
            got += (size_t)n;
            if (got == want)
                break;
        }
    }
    uint64_t took = fht_now_ms() - t0;
    fprintf(stderr, "slow but reading: %zu of %zu bytes in %llu ms (write_ms 1000)\n", got, want,
            (unsigned long long)took);
    assert_int_equal(got, want);
    assert_true(took > 2000); /* it took longer than write_ms */
    close(fd);
    fht_server_stop(s);
}

/* A body that stops coming halfway gets a 408 after body_ms. */
static void test_slow_upload(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.timeouts.body_ms = 300;
    fh_server_t *s = fht_server_start(&cfg);
    int fd = fht_connect(fh_server_port(s));
    uint64_t t0 = fht_now_ms();
    fht_send_str(fd, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 408);
    uint64_t took = fht_now_ms() - t0;
    assert_true(took >= 250 && took < 3000);
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
    fht_server_stop(s);
}

/* At max_connections the server stops accepting; the waiting client is
 * served as soon as a connection closes. */
static void test_connection_cap(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    cfg.limits.max_connections = 4;
    fh_server_t *s = fht_server_start(&cfg);
    int port = fh_server_port(s);
    int fds[4];
    fht_response_t r;
    for (int i = 0; i < 4; i++) {
        fds[i] = fht_connect(port);
        fht_send_str(fds[i], "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_int_equal(fht_read_response(fds[i], &r, 0), 0);
        fht_response_free(&r);
    }
    fh_server_stats_t st;
    fh_server_stats(s, &st);
    assert_int_equal(st.connections_open, 4);
    int extra = fht_connect(port); /* the kernel completes it; nobody serves it */
    fht_send_str(extra, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    struct pollfd pfd = { extra, POLLIN, 0 };
    assert_int_equal(poll(&pfd, 1, 300), 0);
    fh_server_stats(s, &st);
    assert_int_equal(st.connections_open, 4);
    fht_close(fds[0]);
    assert_int_equal(fht_read_response(extra, &r, 0), 0); /* resumed below the cap */
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    fht_close(extra);
    for (int i = 1; i < 4; i++)
        fht_close(fds[i]);
    fht_server_stop(s);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Out of descriptors: connections cannot be accepted, and the loops must
 * not spin on the listener meanwhile; once descriptors are free again,
 * clients are served. */
static void test_emfile_does_not_spin(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fh_server_t *s = fht_server_start(&cfg);
    int port = fh_server_port(s);

    /* Client sockets made first; then every free descriptor is taken. */
    enum { N = 20 };
    int clients[N];
    for (int i = 0; i < N; i++) {
        clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(clients[i] >= 0);
    }
    struct rlimit saved;
    getrlimit(RLIMIT_NOFILE, &saved);
    int hog[8192];
    int nhog = 0;
    struct rlimit low = saved;
    low.rlim_cur = 512 < saved.rlim_cur ? 512 : saved.rlim_cur;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    while (nhog < 8192) {
        int d = dup(0);
        if (d < 0)
            break;
        hog[nhog++] = d;
    }
    assert_true(errno == EMFILE);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++)
        assert_int_equal(connect(clients[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    double c0 = cpu_seconds();
    usleep(500000);
    double spent = cpu_seconds() - c0;
    fprintf(stderr, "emfile: %.3f s of CPU in 0.5 s with the descriptor table full\n", spent);
    assert_true(spent < 0.25);

    /* Descriptors free again: new clients are served. */
    for (int i = 0; i < nhog; i++)
        close(hog[i]);
    setrlimit(RLIMIT_NOFILE, &saved);
    for (int i = 0; i < N; i++)
        close(clients[i]);
    int fd = -1;
    fht_response_t r;
    int status = 0;
    uint64_t t0 = fht_now_ms();
    while (status != 200 && fht_now_ms() - t0 < 5000) {
        fd = fht_connect(port);
        fht_send_str(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        if (fht_read_response(fd, &r, 0) == 0) {
            status = r.status;
            fht_response_free(&r);
        }
        fht_close(fd);
    }
    assert_int_equal(status, 200);
    fht_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emfile_does_not_spin), cmocka_unit_test(test_1000_slowloris),
        cmocka_unit_test(test_slow_reader),          cmocka_unit_test(test_slow_but_reading),
        cmocka_unit_test(test_slow_upload),          cmocka_unit_test(test_connection_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
