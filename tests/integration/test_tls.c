/* HTTPS against real clients: curl and openssl s_client with certificates
 * made at test time (ECDSA P-256, signed by a CA of the test's own). GET,
 * keep-alive, pipelining in one encrypted write, large bodies both ways,
 * ALPN, the protocol versions, plain HTTP to the TLS port, truncated and
 * garbage handshakes (no crash, no stall of other connections), the
 * handshake timeout, and config errors naming the file. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"
#include "tls_files.h"

enum { BIG = 3 * 1024 * 1024 + 17 };

static char big_body[BIG];

/* /hello: "Hello"; /big: BIG bytes; /len: the body's length; /alpn: the
 * ALPN protocol; anything else: 404. */
static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/hello"))
        return fh_send_text(res, 200, "Hello");
    if (fh_str_eq(path, "/big"))
        return fh_send(res, 200, "application/octet-stream", big_body, BIG);
    if (fh_str_eq(path, "/len"))
        return fh_send_textf(res, 200, "%zu", fh_request_body(req).len);
    if (fh_str_eq(path, "/alpn")) {
        fh_str_t a = fh_request_tls_alpn(req);
        return fh_send_textf(res, 200, "%.*s", a.ptr ? (int)a.len : 4, a.ptr ? a.ptr : "none");
    }
    return fh_send_status(res, 404);
}

static void start(uint32_t handshake_ms) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fht_tls_config(&cfg);
    cfg.tls.handshake_ms = handshake_ms;
    fht_start(&cfg);
}

static int setup(void **state) {
    (void)state;
    for (size_t i = 0; i < BIG; i++)
        big_body[i] = (char)('a' + i % 26);
    start(0);
    return 0;
}

static char out[1 << 16];

/* curl with the test CA, quiet, failing on errors; args follow. */
#define CURL "timeout 30 curl -sS --cacert '%s' "

/* ------------------------------------------------------------------ curl */

static void test_get(void **state) {
    (void)state;
    int st = fht_run(out, sizeof(out),
                     CURL "-w ' %%{http_code} %%{http_version}' https://localhost:%d/hello",
                     fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello 200 1.1");
    /* By address too: the certificate names 127.0.0.1. */
    st = fht_run(out, sizeof(out), CURL "https://127.0.0.1:%d/hello", fht_tls_path("ca.pem"),
                 fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello");
}

static void test_versions(void **state) {
    (void)state;
    int st = fht_run(
        out, sizeof(out),
        CURL "--tlsv1.2 --tls-max 1.2 -w ' %%{ssl_verify_result}' https://localhost:%d/hello",
        fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello 0");
    st = fht_run(out, sizeof(out),
                 "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d -tls1_3 -brief",
                 fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "Protocol version: TLSv1.3"));
    /* TLS 1.1 and below are refused. */
    st = fht_run(out, sizeof(out),
                 "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d -tls1_1 -cipher "
                 "DEFAULT@SECLEVEL=0 -brief",
                 fht_port);
    assert_int_not_equal(st, 0);
    /* A TLS 1.2 suite outside the intermediate list is refused. */
    st = fht_run(out, sizeof(out),
                 "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d -tls1_2 -cipher "
                 "ECDHE-ECDSA-AES128-SHA -brief",
                 fht_port);
    assert_int_not_equal(st, 0);
}

static void test_keep_alive(void **state) {
    (void)state;
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    int st = fht_run(out, sizeof(out),
                     CURL "-w '[%%{num_connects}]' https://localhost:%d/hello "
                          "https://localhost:%d/hello https://localhost:%d/hello",
                     fht_tls_path("ca.pem"), fht_port, fht_port, fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello[1]Hello[0]Hello[0]");
    fh_server_stats(fht_server, &after);
    assert_int_equal(after.connections_accepted - before.connections_accepted, 1);
}

static void test_big_bodies(void **state) {
    (void)state;
    /* A body far larger than the socket takes at once, both ways. */
    char path[300];
    snprintf(path, sizeof(path), "%s", fht_tls_path("big.out"));
    int st =
        fht_run(out, sizeof(out), CURL "-o '%s' -w '%%{size_download}' https://localhost:%d/big",
                fht_tls_path("ca.pem"), path, fht_port);
    assert_int_equal(st, 0);
    char want[32];
    snprintf(want, sizeof(want), "%d", BIG);
    assert_string_equal(out, want);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *got = malloc(BIG);
    assert_non_null(got);
    assert_int_equal(fread(got, 1, BIG, f), BIG);
    fclose(f);
    assert_memory_equal(got, big_body, BIG);
    free(got);
    st = fht_run(out, sizeof(out),
                 CURL "--data-binary '@%s' -H 'Content-Type: application/octet-stream' "
                      "https://localhost:%d/len",
                 fht_tls_path("ca.pem"), path, fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, want);
}

/* ------------------------------------------------------------- s_client */

static void test_pipelining_one_write(void **state) {
    (void)state;
    /* 16 requests in one record: 16 answers, in one encrypted write. */
    char reqs[2048] = "";
    for (int i = 0; i < 16; i++)
        strcat(reqs, i < 15
                         ? "GET /hello HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
                         : "GET /hello HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n");
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    int st = fht_run(out, sizeof(out),
                     "printf '%s' | timeout 20 openssl s_client -connect 127.0.0.1:%d -quiet "
                     "-ign_eof",
                     reqs, fht_port);
    assert_int_equal(st, 0);
    assert_int_equal(fht_count(out, "HTTP/1.1 200 OK"), 16);
    assert_int_equal(fht_count(out, "\r\n\r\nHello"), 16);
    fh_server_stats(fht_server, &after);
    assert_int_equal(after.requests - before.requests, 16);
    /* s_client sends what it read from the pipe in one record as a rule;
     * even split, the writes stay far below one per response. */
    assert_true(after.writes - before.writes <= 4);
}

static void test_alpn(void **state) {
    (void)state;
    int st =
        fht_run(out, sizeof(out),
                "printf 'GET /alpn HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
                "timeout 20 openssl s_client -connect 127.0.0.1:%d -alpn h2,http/1.1 -ign_eof",
                fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "ALPN protocol: http/1.1"));
    assert_non_null(strstr(out, "\r\n\r\nhttp/1.1"));
    /* Without ALPN the connection serves HTTP/1.1 all the same. */
    st = fht_run(out, sizeof(out),
                 "printf 'GET /alpn HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
                 "timeout 20 openssl s_client -connect 127.0.0.1:%d -ign_eof",
                 fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "No ALPN negotiated"));
    assert_non_null(strstr(out, "\r\n\r\nnone"));
    /* Only protocols the server does not speak: refused. */
    st = fht_run(out, sizeof(out),
                 "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d -alpn h2,spdy/3",
                 fht_port);
    assert_int_not_equal(st, 0);
    assert_non_null(strstr(out, "no application protocol"));
}

/* ---------------------------------------------------------- bad input */

static void test_plain_http(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body,
                        "400 Bad Request: a plain HTTP request was sent to an HTTPS port\n");
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 5000), 1);
    fht_close(fd);
    /* curl says the same. */
    int st = fht_run(out, sizeof(out), "timeout 20 curl -sS http://127.0.0.1:%d/hello", fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "plain HTTP request was sent to an HTTPS port"));
    /* Ten thousand requests' worth of it: still one answer, then closed. */
    fd = fht_connect(fht_port);
    size_t n = 10000 * 32;
    char *flood = malloc(n);
    assert_non_null(flood);
    for (size_t i = 0; i < n; i += 32)
        memcpy(flood + i, "GET / HTTP/1.1\r\nHost: xxxxxx\r\n\r\n", 32);
    (void)!send(fd, flood, n, MSG_NOSIGNAL);
    free(flood);
    char head[16] = "";
    ssize_t got = recv(fd, head, sizeof(head) - 1, 0);
    if (got > 0)
        assert_memory_equal(head, "HTTP/1.1 400", 12);
    fht_close(fd);
    /* The server still serves. */
    assert_int_equal(fht_run(out, sizeof(out), CURL "https://localhost:%d/hello",
                             fht_tls_path("ca.pem"), fht_port),
                     0);
}

static void curl_hello(void) {
    int st = fht_run(out, sizeof(out), CURL "-m 10 https://localhost:%d/hello",
                     fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello");
}

static void test_truncated_record(void **state) {
    (void)state;
    /* A record header announcing 16 KiB, then a few bytes of it, held open
     * on several connections: others are served meanwhile. */
    int fds[8];
    static const unsigned char part[] = { 0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0x3f,
                                          0xfc, 0x03, 0x03, 1,    2,    3,    4 };
    for (int i = 0; i < 8; i++) {
        fds[i] = fht_connect(fht_port);
        fht_send(fds[i], part, sizeof(part));
    }
    uint64_t t0 = fht_now_ms();
    curl_hello();
    assert_true(fht_now_ms() - t0 < 8000);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(fht_wait_closed(fds[i], 0), 0); /* still waiting for the rest */
        fht_close(fds[i]);
    }
    /* The record cut short by the client leaving: closed, nothing else. */
    curl_hello();
}

static void test_garbage_handshake(void **state) {
    (void)state;
    /* A record of the handshake type holding garbage. */
    static const unsigned char garbage[] = { 0x16, 0x03, 0x01, 0x00, 0x10, 0xde, 0xad, 0xbe,
                                             0xef, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                             0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc };
    int fd = fht_connect(fht_port);
    fht_send(fd, garbage, sizeof(garbage));
    char buf[256];
    /* An alert, perhaps, then the close. */
    uint64_t t0 = fht_now_ms();
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 && fht_now_ms() - t0 < 5000) {
    }
    assert_true(n <= 0);
    assert_true(fht_now_ms() - t0 < 5000);
    fht_close(fd);
    /* Bytes that are no record at all, and a megabyte of random bytes. */
    fd = fht_connect(fht_port);
    fht_send(fd, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10);
    t0 = fht_now_ms();
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0 && fht_now_ms() - t0 < 5000) {
    }
    assert_true(n <= 0);
    fht_close(fd);
    assert_int_equal(fht_run(out, sizeof(out),
                             "head -c 1048576 /dev/urandom | timeout 20 openssl s_client -connect "
                             "127.0.0.1:%d -quiet; true",
                             fht_port),
                     0);
    fd = fht_connect(fht_port);
    size_t big = 1 << 20;
    char *junk = malloc(big);
    assert_non_null(junk);
    for (size_t i = 0; i < big; i++)
        junk[i] = (char)(0x16 ^ (i * 131));
    (void)!send(fd, junk, big, MSG_NOSIGNAL);
    free(junk);
    fht_close(fd);
    curl_hello();
}

/* Whether the server closes fd within 5 s, an alert perhaps first. */
static bool closes(int fd) {
    char buf[256];
    uint64_t t0 = fht_now_ms();
    while (fht_now_ms() - t0 < 5000) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true;
    }
    return false;
}

/* Reads the file at path into out (cut to cap). */
static void slurp(const char *path, char *buf, size_t cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_failures_logged_once(void **state) {
    (void)state;
    /* The server's stderr goes to a file for the while. */
    char path[300];
    snprintf(path, sizeof(path), "%s", fht_tls_path("stderr.log"));
    fflush(stderr);
    int saved = dup(2);
    int logfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && logfd >= 0);
    dup2(logfd, 2);
    close(logfd);
    /* 30 connections whose records are garbage, sent a byte at a time: one
     * line each for the first ten, the rest counted. */
    char port_of[30][16];
    int not_closed = 0; /* asserted once stderr is back */
    uint64_t t0 = fht_now_ms();
    for (int i = 0; i < 30; i++) {
        int fd = fht_connect_raw(fht_port);
        if (fd < 0) {
            not_closed++;
            continue;
        }
        struct sockaddr_in me;
        socklen_t len = sizeof(me);
        getsockname(fd, (struct sockaddr *)&me, &len);
        snprintf(port_of[i], sizeof(port_of[i]), ":%u failed", ntohs(me.sin_port));
        static const unsigned char bad[] = { 0x16, 0x03, 0x01, 0x00, 0x08, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        for (size_t k = 0; k < sizeof(bad); k++)
            (void)!send(fd, &bad[k], 1, MSG_NOSIGNAL);
        not_closed += !closes(fd);
        close(fd);
    }
    bool same_second = fht_now_ms() - t0 < 900;
    usleep(1100 * 1000);
    int fd = fht_connect_raw(fht_port); /* a failure a second later says how many were not */
    (void)!send(fd, "\x16\x03\x01\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff", 13, MSG_NOSIGNAL);
    not_closed += !closes(fd);
    close(fd);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(not_closed, 0);
    static char log[1 << 16];
    slurp(path, log, sizeof(log));
    int lines = fht_count(log, "fasthttp: TLS handshake with 127.0.0.1:");
    for (int i = 0; i < 30; i++)
        assert_true(fht_count(log, port_of[i]) <= 1); /* never one per byte */
    /* 31 failures in all: at most ten lines a second per worker (two
     * here) and one more, when the 30 fit in one second; a loaded machine
     * spreads them over more seconds, each with its own ten. */
    assert_true(lines >= 10 && lines <= 31);
    if (same_second) {
        assert_true(lines <= 22);
        assert_int_equal(fht_count(log, port_of[0]), 1);
        assert_non_null(strstr(log, "more failed handshakes not logged"));
    }
}

static void test_handshake_timeout(void **state) {
    (void)state;
    fht_stop();
    start(400);
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    /* Nothing sent, and half a ClientHello: both closed near 400 ms. */
    int silent = fht_connect(fht_port);
    int half = fht_connect(fht_port);
    fht_send(half, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    uint64_t t0 = fht_now_ms();
    assert_int_equal(fht_wait_closed(silent, 5000), 1);
    assert_int_equal(fht_wait_closed(half, 5000), 1);
    uint64_t took = fht_now_ms() - t0;
    assert_true(took >= 300 && took < 5000);
    fht_close(silent);
    fht_close(half);
    fh_server_stats(fht_server, &after);
    assert_true(after.timeouts - before.timeouts >= 2);
    /* A completed handshake is not held to it: the request comes a second
     * later and is answered. */
    int st = fht_run(out, sizeof(out),
                     "(sleep 1; printf 'GET /hello HTTP/1.1\\r\\nHost: x\\r\\nConnection: "
                     "close\\r\\n\\r\\n') | timeout 20 openssl s_client -connect 127.0.0.1:%d "
                     "-quiet -ign_eof",
                     fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "\r\n\r\nHello"));
    fht_stop();
    start(0);
}

/* ---------------------------------------------------------------- config */

static void test_config_errors(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    fh_server_t *s = NULL;
    cfg.tls.cert_file = "/nonexistent/chain.pem";
    cfg.tls.key_file = fht_tls_path("localhost.key");
    int err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, err),
                        "fasthttp: config.tls.cert_file: cannot read \"/nonexistent/chain.pem\": "
                        "No such file or directory");
    /* A key that is not the certificate's. */
    fht_tls_make_cert("other", "/CN=other", "DNS:other", NULL);
    char key[256];
    snprintf(key, sizeof(key), "%s", fht_tls_path("other.key"));
    cfg.tls.cert_file = fht_tls_path("localhost.pem");
    cfg.tls.key_file = key;
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    const char *msg = fh_server_config_error(&cfg, err);
    assert_non_null(strstr(msg, "config.tls.key_file: "));
    assert_non_null(strstr(msg, "the certificate's key is not the one in"));
    assert_non_null(strstr(msg, "other.key"));
    /* A file that is no PEM. */
    cfg.tls.cert_file = "/etc/hostname";
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err),
                           "config.tls.cert_file: no certificate in \"/etc/hostname\""));
    /* A certificate without its key. */
    cfg.tls.key_file = NULL;
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "config.tls.key_file: required"));
}

static void test_config_env(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    setenv("TLS_CERT", "/a/cert.pem", 1);
    setenv("TLS_KEY", "/a/key.pem", 1);
    setenv("TLS_VERIFY_CLIENT", "required", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_string_equal(cfg.tls.cert_file, "/a/cert.pem");
    assert_string_equal(cfg.tls.key_file, "/a/key.pem");
    assert_int_equal(cfg.tls.verify_client, FH_TLS_VERIFY_REQUIRED);
    setenv("TLS_VERIFY_CLIENT", "sometimes", 1);
    int err = fh_server_config_env(&cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, err),
                        "fasthttp: environment variable TLS_VERIFY_CLIENT: \"sometimes\" is not "
                        "\"none\", \"optional\" or \"required\"");
    unsetenv("TLS_VERIFY_CLIENT");
    unsetenv("TLS_KEY");
    err = fh_server_config_env(&cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "TLS_CERT: set without TLS_KEY"));
    unsetenv("TLS_CERT");
}

/* The numeric TLS settings from the environment: set at their limits, and
 * a value past a limit, negative, with a suffix or far past any number is
 * refused naming the variable and quoting the value, cfg left as it was. */
static void test_config_env_numbers(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    setenv("TLS_HANDSHAKE_MS", "2500", 1);
    setenv("TLS_TICKET_ROTATE_S", "604800", 1);
    setenv("TLS_SESSION_CACHE_SIZE", "16777216", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_int_equal(cfg.tls.handshake_ms, 2500);
    assert_int_equal(cfg.tls.ticket_rotate_s, 604800);
    assert_int_equal(cfg.tls.session_cache_size, 16777216);
    setenv("TLS_HANDSHAKE_MS", "3600000", 1);
    setenv("TLS_SESSION_CACHE_SIZE", "0", 1);
    assert_int_equal(fh_server_config_env(&cfg), 0);
    assert_int_equal(cfg.tls.handshake_ms, 3600000);
    assert_int_equal(cfg.tls.session_cache_size, 0);
    static const struct {
        const char *name, *value, *message;
    } bad[] = {
        { "TLS_HANDSHAKE_MS", "3600001",
          "fasthttp: environment variable TLS_HANDSHAKE_MS: \"3600001\" is not a whole number "
          "in 0..3600000" },
        { "TLS_HANDSHAKE_MS", "10s",
          "fasthttp: environment variable TLS_HANDSHAKE_MS: \"10s\" is not a whole number in "
          "0..3600000" },
        { "TLS_TICKET_ROTATE_S", "-1",
          "fasthttp: environment variable TLS_TICKET_ROTATE_S: \"-1\" is not a whole number in "
          "0..604800" },
        { "TLS_TICKET_ROTATE_S", "604801",
          "fasthttp: environment variable TLS_TICKET_ROTATE_S: \"604801\" is not a whole number "
          "in 0..604800" },
        { "TLS_SESSION_CACHE_SIZE", "99999999999999999999999999",
          "fasthttp: environment variable TLS_SESSION_CACHE_SIZE: \"99999999999999999999999999\" "
          "is not a whole number in 0..16777216" },
        { "TLS_SESSION_CACHE_SIZE", "",
          "fasthttp: environment variable TLS_SESSION_CACHE_SIZE: \"\" is not a whole number in "
          "0..16777216" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fh_server_config_t before = fh_server_config_default();
        assert_int_equal(fh_server_config_env(&before), 0);
        fh_server_config_t after = before;
        const char *old = getenv(bad[i].name);
        char saved[32];
        snprintf(saved, sizeof(saved), "%s", old ? old : "");
        setenv(bad[i].name, bad[i].value, 1);
        int err = fh_server_config_env(&after);
        assert_int_equal(err, FH_ECONFIG);
        assert_string_equal(fh_server_config_error(&after, err), bad[i].message);
        assert_int_equal(after.tls.handshake_ms, before.tls.handshake_ms);
        assert_int_equal(after.tls.ticket_rotate_s, before.tls.ticket_rotate_s);
        assert_int_equal(after.tls.session_cache_size, before.tls.session_cache_size);
        setenv(bad[i].name, saved, 1);
    }
    /* Unset, the three stay 0: the defaults. */
    unsetenv("TLS_TICKET_ROTATE_S");
    unsetenv("TLS_SESSION_CACHE_SIZE");
    unsetenv("TLS_HANDSHAKE_MS");
    fh_server_config_t d = fh_server_config_default();
    assert_int_equal(fh_server_config_env(&d), 0);
    assert_int_equal(d.tls.handshake_ms, 0);
    assert_int_equal(d.tls.ticket_rotate_s, 0);
    assert_int_equal(d.tls.session_cache_size, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_big_bodies),
        cmocka_unit_test(test_pipelining_one_write),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_plain_http),
        cmocka_unit_test(test_truncated_record),
        cmocka_unit_test(test_garbage_handshake),
        cmocka_unit_test(test_failures_logged_once),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_env),
        cmocka_unit_test(test_config_env_numbers),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
