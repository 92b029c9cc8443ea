/* The core over real sockets: keep-alive, pipelining in one write, a
 * request one byte at a time, HTTP/1.0 and Connection: close, chunked
 * bodies, deferred responses in order, handler errors, raw mode, 100
 * concurrent clients, and a graceful stop with requests in flight. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "testutil.h"
#include "tls_files.h"

static void send_late(fh_response_t *res, void *text) { fh_send_text(res, 200, text); }

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/"))
        return fh_send_text(res, 200, "Hello, World!");
    if (fh_str_eq(path, "/echo")) {
        fh_response_header(res, "X-Method", fh_strndup(req, fh_request_method(req)));
        fh_response_body_borrow(res, fh_request_body(req).ptr, fh_request_body(req).len);
        return 0; /* a builder response becomes final when the handler returns */
    }
    if (fh_str_eq(path, "/fail"))
        return -1;
    if (fh_str_eq(path, "/raw")) {
        static const char raw[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Raw: 1\r\n\r\nraw";
        return fh_send_raw(res, raw, sizeof(raw) - 1, FH_RAW_BORROW);
    }
    if (fh_str_eq(path, "/header"))
        return fh_send_textf(res, 200, "%.*s", FH_STR_FMT(fh_request_header(req, "X-Test")));
    if (fh_str_eq(path, "/defer")) {
        /* Answer later from a timer on the request's loop. */
        fh_str_t ms = fh_request_query(req, "ms");
        char *text = fh_alloc(req, 32);
        snprintf(text, 32, "late %.*s", FH_STR_FMT(fh_request_query(req, "id")));
        fh_response_defer(res);
        return fht_later(res, ms.ptr ? strtoul(ms.ptr, NULL, 10) : 10, send_late, text);
    }
    return fh_send_textf(res, 404, "%.*s not found", FH_STR_FMT(path));
}

static int setup(void **state) {
    (void)state;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static void test_keep_alive(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    for (int i = 0; i < 5; i++) {
        fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        fht_expect(fd, 200, "Hello, World!");
    }
    fht_send_str(fd, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 404, "/nope not found");
    assert_int_equal(fht_wait_closed(fd, 50), 0); /* still open */
    fht_close(fd);
}

static void test_pipelined_16_one_write(void **state) {
    (void)state;
    char buf[4096];
    size_t n = 0;
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                              "GET /header HTTP/1.1\r\nHost: t\r\nX-Test: %d\r\n\r\n", i);
    int fd = fht_connect(fht_port);
    /* Warm the connection so the 16 arrive in one read. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, NULL);
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    fht_send(fd, buf, n);
    for (int i = 0; i < 16; i++) {
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        fht_expect(fd, 200, want);
    }
    fh_server_stats(fht_server, &after);
    assert_int_equal(after.requests - before.requests, 16);
    assert_int_equal(after.writes - before.writes, 1); /* all 16 responses in ONE write */
    fht_close(fd);
}

static void test_one_byte_at_a_time(void **state) {
    (void)state;
    const char *req =
        "POST /echo?x=1 HTTP/1.1\r\nHost: t\r\nX-Long-Header: abcdefghijklmnopqrstuvwxyz\r\n"
        "Content-Length: 11\r\n\r\nhello world"
        "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = fht_connect(fht_port);
    for (size_t i = 0; req[i]; i++) {
        fht_send(fd, req + i, 1);
        if (i % 7 == 0)
            usleep(200);
    }
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello world");
    char m[16];
    assert_true(fht_header(&r, "X-Method", m, sizeof(m)));
    assert_string_equal(m, "POST");
    fht_response_free(&r);
    fht_expect(fd, 200, "Hello, World!");
    fht_close(fd);
}

static void test_http10_closes(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.0\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    char v[32];
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);

    /* HTTP/1.0 with keep-alive stays open. */
    fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "keep-alive");
    fht_response_free(&r);
    fht_send_str(fd, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    fht_expect(fd, 200, "Hello, World!");
    fht_close(fd);
}

static void test_connection_close_stops_pipeline(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                     "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "Hello, World!");
    assert_int_equal(fht_wait_closed(fd, 2000), 1); /* the second is never answered */
    fht_close(fd);
}

static void test_chunked_body(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n");
    fht_expect(fd, 200, "hello world!");
    /* The same, split in odd places across several sends. */
    const char *parts[] = { "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-",
                            "Encoding: chunked\r\n\r\n3\r",
                            "\nabc\r\n",
                            "A\r\n0123",
                            "456789\r\n0\r\n",
                            "\r\n" };
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        fht_send_str(fd, parts[i]);
        usleep(2000);
    }
    fht_expect(fd, 200, "abc0123456789");
    fht_close(fd);
}

static void test_large_body_across_reads(void **state) {
    (void)state;
    size_t n = 300000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    snprintf(head, sizeof(head), "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             n);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, head);
    fht_send(fd, body, n);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.body_len, n);
    assert_memory_equal(r.body, body, n);
    fht_response_free(&r);
    free(body);
    fht_close(fd);
}

static void test_errors_and_raw(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 500, NULL);
    fht_send_str(fd, "GET /raw HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "raw");
    assert_false(fht_header(&r, "Date", NULL, 0)); /* nothing is added to raw responses */
    assert_false(fht_header(&r, "Server", NULL, 0));
    fht_response_free(&r);
    fht_send_str(fd, "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 1), 0);
    char v[16];
    assert_true(fht_header(&r, "Content-Length", v, sizeof(v)));
    assert_string_equal(v, "13");
    fht_response_free(&r);
    /* No body followed the HEAD response: the next answer parses cleanly. */
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "Hello, World!");
    fht_close(fd);
}

static void test_bad_request_closes(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(
        fd, "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 400);
    char v[16];
    assert_true(fht_header(&r, "Connection", v, sizeof(v)));
    assert_string_equal(v, "close");
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 2000), 1);
    fht_close(fd);
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A client that goes on sending a body far past max_body after its 413 (as
 * curl does until it has read the answer): the server drops max_discard
 * bytes, then stops reading but does not close before its linger deadline.
 * Closing with bytes unread would reset the connection, and a client still
 * in its send loop would see the reset instead of the 413. Plain TCP only:
 * over TLS the test's relay cannot read while its writes are blocked. */
static void test_error_then_flood_reads_the_answer(void **state) {
    (void)state;
    if (fht_over_tls())
        skip();
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n");
    int fl = fcntl(fd, F_GETFL);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
    static char zeros[65536];
    size_t sent = 0;
    int send_err = 0;
    uint64_t until = mono_ms() + 700;
    while (mono_ms() < until) {
        ssize_t n = send(fd, zeros, sizeof(zeros), MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            usleep(2000);
        } else {
            send_err = errno;
            break;
        }
    }
    /* Still connected 700 ms on, and the server took only what fits in
     * the discard allowance and the socket buffers, not the gigabyte. */
    if (send_err)
        fail_msg("the connection was reset %zu bytes into the flood: %s", sent, strerror(send_err));
    assert_true(sent > 65536);
    assert_true(sent < ((size_t)64 << 20));
    assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    /* And it is closed by the linger deadline (2 s from the answer). */
    assert_int_equal(fht_wait_closed(fd, 3000), 1);
    fht_close(fd);
}

static void test_deferred_in_order(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    /* The first answers after 60 ms, the second at once: order holds. */
    fht_send_str(fd, "GET /defer?ms=60&id=1 HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /defer?ms=5&id=3 HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "late 1");
    fht_expect(fd, 200, "Hello, World!");
    fht_expect(fd, 200, "late 3");
    fht_close(fd);
}

typedef struct client_arg {
    int port;
    int ok;
} client_arg_t;

static void *client_main(void *p) {
    client_arg_t *a = p;
    int fd = fht_connect(a->port);
    for (int i = 0; i < 100; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /header HTTP/1.1\r\nHost: t\r\nX-Test: %d\r\n\r\n", i);
        fht_send_str(fd, req);
        fht_response_t r;
        if (fht_read_response(fd, &r, 0) != 0)
            break;
        char want[8];
        snprintf(want, sizeof(want), "%d", i);
        if (r.status == 200 && strcmp(r.body, want) == 0)
            a->ok++;
        fht_response_free(&r);
    }
    fht_close(fd);
    return NULL;
}

static void test_100_clients_x_100(void **state) {
    (void)state;
    pthread_t th[100];
    client_arg_t args[100];
    for (int i = 0; i < 100; i++) {
        args[i].port = fht_port;
        args[i].ok = 0;
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &args[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 100; i++) {
        pthread_join(th[i], NULL);
        total += args[i].ok;
    }
    assert_int_equal(total, 100 * 100);
}

static void test_stop_with_requests_in_flight(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fh_server_t *s = fht_server_start(&cfg);
    int p = fh_server_port(s);
    int fds[8];
    for (int i = 0; i < 8; i++) {
        fds[i] = fht_connect(p);
        char req[128];
        snprintf(req, sizeof(req), "GET /defer?ms=150&id=%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        fht_send_str(fds[i], req);
    }
    int idle = fht_connect(p);
    usleep(50000); /* all requests are now being handled */
    fh_server_stop(s);
    for (int i = 0; i < 8; i++) {
        char want[16];
        snprintf(want, sizeof(want), "late %d", i);
        fht_response_t r;
        assert_int_equal(fht_read_response(fds[i], &r, 0), 0); /* no response lost */
        assert_string_equal(r.body, want);
        char v[16];
        assert_true(fht_header(&r, "Connection", v, sizeof(v)));
        assert_string_equal(v, "close");
        fht_response_free(&r);
        assert_int_equal(fht_wait_closed(fds[i], 2000), 1);
        fht_close(fds[i]);
    }
    assert_int_equal(fht_wait_closed(idle, 2000), 1); /* idle connections close */
    fht_close(idle);
    fh_server_wait(s);
    fh_server_free(s);
}

static void test_idle_holds_no_buffer(void **state) {
    (void)state;
    fh_server_stats_t st;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\nX-Half: ");
    uint64_t t0 = fht_now_ms();
    do {
        usleep(2000);
        fh_server_stats(fht_server, &st);
    } while (st.conn_buffers != 1 && fht_now_ms() - t0 < 2000);
    assert_int_equal(st.conn_buffers, 1); /* incomplete: the bytes are kept */
    fht_send_str(fd, "yes\r\n\r\n");
    fht_expect(fd, 200, "Hello, World!");
    fh_server_stats(fht_server, &st);
    assert_int_equal(st.conn_buffers, 0); /* idle again: no buffer */
    fht_close(fd);
}

/* FH_TRACE_ARENA=1 prints one line per released request arena. */
static void test_trace_arena(void **state) {
    (void)state;
    char path[] = "/tmp/fh_trace_XXXXXX";
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(tmp, 2);
    setenv("FH_TRACE_ARENA", "1", 1);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    unsetenv("FH_TRACE_ARENA");
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET /traced HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 404, NULL);
    fht_close(fd);
    fht_server_stop(s);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = { 0 };
    ssize_t n = pread(tmp, buf, sizeof(buf) - 1, 0);
    close(tmp);
    unlink(path);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "fasthttp: arena: "));
    assert_non_null(strstr(buf, "GET /traced status=404 used="));
}

/* PORT, THREADS and HOST from the environment: whole numbers only, every
 * refusal names the variable and leaves the config as it was. */
static void test_config_env(void **state) {
    (void)state;
    unsetenv("PORT");
    unsetenv("THREADS");
    unsetenv("HOST");
    fh_server_config_t cfg = fh_server_config_default();
    cfg.port = 3000;
    cfg.threads = 2;
    cfg.host = "127.0.0.1";
    assert_int_equal(fh_server_config_env(&cfg), 0); /* nothing set: unchanged */
    assert_int_equal(cfg.port, 3000);
    assert_int_equal(cfg.threads, 2);
    assert_string_equal(cfg.host, "127.0.0.1");

    setenv("PORT", "8081", 1);
    setenv("THREADS", "0", 1);
    setenv("HOST", "::1", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_int_equal(cfg.port, 8081);
    assert_int_equal(cfg.threads, 0);
    assert_string_equal(cfg.host, "::1");
    setenv("HOST", "*", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_null(cfg.host);
    setenv("HOST", "", 1);
    cfg.host = "127.0.0.1";
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_null(cfg.host);
    setenv("PORT", "65535", 1);
    setenv("THREADS", "1024", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_int_equal(cfg.port, 65535);
    assert_int_equal(cfg.threads, 1024);

    static const char *const bad_ports[] = {
        "", "80a", "-1", "+80", " 80", "80 ", "0x50", "65536", "99999999999999999999999", "8.0"
    };
    cfg.port = 3000;
    cfg.threads = 2;
    cfg.host = "127.0.0.1";
    unsetenv("THREADS");
    unsetenv("HOST");
    for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]); i++) {
        setenv("PORT", bad_ports[i], 1);
        assert_int_equal(fh_server_config_env(&cfg), FH_ECONFIG);
        const char *msg = fh_server_config_error(&cfg, FH_ECONFIG);
        assert_non_null(strstr(msg, "fasthttp: environment variable PORT: \""));
        assert_non_null(strstr(msg, "is not a whole number in 0..65535"));
        assert_int_equal(cfg.port, 3000);
    }
    setenv("PORT", "80a", 1);
    assert_int_equal(fh_server_config_env(&cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: environment variable PORT: \"80a\" is not a whole number "
                        "in 0..65535");
    /* A good PORT and a bad THREADS: neither is taken. */
    setenv("PORT", "8082", 1);
    setenv("THREADS", "1025", 1);
    setenv("HOST", "::1", 1);
    assert_int_equal(fh_server_config_env(&cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: environment variable THREADS: \"1025\" is not a whole number "
                        "in 0..1024");
    assert_int_equal(cfg.port, 3000);
    assert_int_equal(cfg.threads, 2);
    assert_string_equal(cfg.host, "127.0.0.1");
    /* A long value is cut in the message. */
    char big[200];
    memset(big, '7', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    setenv("THREADS", big, 1);
    assert_int_equal(fh_server_config_env(&cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "...\" is not"));
    /* A config error afterwards names its field again, not a variable. */
    unsetenv("THREADS");
    fh_server_t *s = NULL;
    cfg.port = 70000;
    cfg.handler = handler;
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: config.port: must be 0..65535");
    unsetenv("PORT");
    unsetenv("HOST");
}

static void test_config_errors_name_the_field(void **state) {
    (void)state;
    fh_server_t *s = NULL;
    fh_server_config_t cfg = fh_server_config_default();
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "config.handler"));
    cfg.handler = handler;
    cfg.port = 70000;
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, FH_ECONFIG),
                        "fasthttp: config.port: must be 0..65535");
    cfg.port = 0;
    cfg.host = "not-an-address";
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "config.host"));
    cfg.host = "127.0.0.1";
    cfg.threads = -1;
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "config.threads"));
    cfg.threads = 1;
    cfg.limits.max_header_bytes = 100;
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_non_null(
        strstr(fh_server_config_error(&cfg, FH_ECONFIG), "config.limits.max_header_bytes"));
    cfg.limits.max_header_bytes = 0;
    cfg.server_name = "evil\r\nX: y";
    assert_int_equal(fh_server_new(&s, &cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "config.server_name"));
    cfg.server_name = "";
    /* This server is started here, not by fht_server_start: over TLS it
     * needs the test certificate itself, as fht_connect speaks TLS then. */
    if (fht_over_tls())
        fht_tls_config(&cfg);
    assert_int_equal(fh_server_new(&s, &cfg), 0); /* "" sends no Server header */
    assert_int_equal(fh_server_start(s), 0);
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_false(fht_header(&r, "Server", NULL, 0));
    fht_response_free(&r);
    fht_close(fd);
    fht_server_stop(s);
}

static void test_ipv6_loopback(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.host = "::1";
    cfg.handle_signals = false;
    fh_server_t *s;
    int err = fh_server_new(&s, &cfg);
    if (err == UV_EADDRNOTAVAIL || err == UV_EAFNOSUPPORT)
        skip(); /* no IPv6 on this machine */
    assert_int_equal(err, 0);
    assert_int_equal(fh_server_start(s), 0);
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons((uint16_t)fh_server_port(s));
    sa.sin6_addr = in6addr_loopback;
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    fht_expect(fd, 200, "Hello, World!");
    fht_close(fd);
    fht_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        /* First, before any connection's descriptor is closed by a worker
         * thread: its dup()/mkstemp() would otherwise reuse such a number,
         * which ThreadSanitizer reports as a race. */
        cmocka_unit_test(test_trace_arena),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_pipelined_16_one_write),
        cmocka_unit_test(test_one_byte_at_a_time),
        cmocka_unit_test(test_http10_closes),
        cmocka_unit_test(test_connection_close_stops_pipeline),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_large_body_across_reads),
        cmocka_unit_test(test_errors_and_raw),
        cmocka_unit_test(test_bad_request_closes),
        cmocka_unit_test(test_error_then_flood_reads_the_answer),
        cmocka_unit_test(test_deferred_in_order),
        cmocka_unit_test(test_100_clients_x_100),
        cmocka_unit_test(test_stop_with_requests_in_flight),
        cmocka_unit_test(test_idle_holds_no_buffer),
        cmocka_unit_test(test_config_errors_name_the_field),
        cmocka_unit_test(test_config_env),
        cmocka_unit_test(test_ipv6_loopback),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
