/* What else works on plain TCP, over TLS: files (read and encrypted in
 * pieces, since sendfile cannot encrypt) by fh_send_fd and the static
 * middleware, chunked streams, Server-Sent Events; a takeover is refused
 * with FH_ENOTSUP; renegotiation is refused; and a thousand half-open
 * handshakes trickling a byte at a time neither stall other clients nor
 * outlive the handshake timeout. */
#include <errno.h>
#include <fcntl.h>
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
#include "tls_files.h"

enum { FILE_SIZE = 5 * 1024 * 1024 + 321, CHUNKS = 200, CHUNK = 1000 };

static char out[1 << 16];
static char file_path[512], dir_path[256];
static fh_static_t *files;

static void never_ready(fh_takeover_t *tk, int status, void *data) {
    (void)status;
    (void)data;
    fh_takeover_close(tk);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (path.len >= 7 && memcmp(path.ptr, "/static", 7) == 0)
        return fh_static_handle(req, res, files);
    if (fh_str_eq(path, "/file")) {
        int fd = open(file_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return fh_send_status(res, 500);
        int err = fh_send_fd(res, fd, 0, FILE_SIZE);
        if (err)
            close(fd);
        return err;
    }
    if (fh_str_eq(path, "/stream")) {
        fh_stream_t *st;
        int err = fh_stream_begin(res, &st, NULL);
        if (err)
            return err;
        char chunk[CHUNK];
        for (int i = 0; i < CHUNKS; i++) {
            memset(chunk, 'a' + i % 26, sizeof(chunk));
            if ((err = fh_stream_write(st, chunk, sizeof(chunk))) != 0)
                return err;
        }
        return fh_stream_end(st);
    }
    if (fh_str_eq(path, "/sse")) {
        fh_stream_t *st;
        int err = fh_sse_begin(res, &st, NULL);
        if (err)
            return err;
        for (int i = 0; i < 3; i++)
            fh_sse_data(st, "tick", "over TLS");
        return fh_stream_end(st);
    }
    if (fh_str_eq(path, "/takeover")) {
        int err = fh_request_takeover(res, 0, never_ready, NULL);
        return fh_send_textf(res, 200, "takeover: %s", err == FH_ENOTSUP ? "refused" : "other");
    }
    return fh_send_text(res, 200, "Hello");
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
    snprintf(dir_path, sizeof(dir_path), "%s", fht_tls_path("www"));
    assert_int_equal(fht_run(out, sizeof(out), "mkdir -p '%s'", dir_path), 0);
    snprintf(file_path, sizeof(file_path), "%s/big.bin", dir_path);
    FILE *f = fopen(file_path, "wb");
    assert_non_null(f);
    for (int i = 0; i < FILE_SIZE; i++)
        fputc((i * 7 + i / 4096) & 0xff, f);
    fclose(f);
    f = fopen(fht_tls_path("www/small.txt"), "wb");
    assert_non_null(f);
    fputs("small over TLS\n", f);
    fclose(f);
    assert_int_equal(fh_static_new(&files, "/static", dir_path, NULL), 0);
    start(0);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_static_free(files);
    return 0;
}

#define CURL "timeout 60 curl -sS --cacert '%s' "

static void test_files(void **state) {
    (void)state;
    char got[300];
    snprintf(got, sizeof(got), "%s", fht_tls_path("got.bin"));
    const char *urls[] = { "/file", "/static/big.bin" };
    for (int i = 0; i < 2; i++) {
        int st = fht_run(out, sizeof(out),
                         CURL "-o '%s' -w '%%{http_code} %%{size_download}' "
                              "https://localhost:%d%s && cmp '%s' '%s'",
                         fht_tls_path("ca.pem"), got, fht_port, urls[i], got, file_path);
        char want[64];
        snprintf(want, sizeof(want), "200 %d", FILE_SIZE);
        assert_string_equal(out, want);
        assert_int_equal(st, 0);
    }
    int st = fht_run(out, sizeof(out), CURL "https://localhost:%d/static/small.txt",
                     fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "small over TLS\n");
    /* A range of the big file, and HEAD: the head alone. */
    st = fht_run(out, sizeof(out),
                 CURL "-r 1000000-1000009 https://localhost:%d/static/big.bin | od -An -tu1",
                 fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    char want[128] = "";
    for (int i = 1000000; i < 1000010; i++)
        snprintf(want + strlen(want), sizeof(want) - strlen(want), " %d",
                 (i * 7 + i / 4096) & 0xff);
    char *p = out, *q = want;
    while (*p == ' ')
        p++;
    while (*q == ' ')
        q++;
    assert_int_equal(strncmp(p, q, strlen(q)), 0);
    st = fht_run(out, sizeof(out), CURL "-I https://localhost:%d/file", fht_tls_path("ca.pem"),
                 fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "Content-Length: 5243201"));
    /* Two downloads at once and a slow reader do not mix. */
    st = fht_run(
        out, sizeof(out),
        CURL
        "--limit-rate 2M -o '%s.1' https://localhost:%d/file & " CURL
        "-o '%s.2' https://localhost:%d/static/big.bin; wait; cmp '%s.1' '%s' && cmp '%s.2' '%s'",
        fht_tls_path("ca.pem"), got, fht_port, fht_tls_path("ca.pem"), got, fht_port, got,
        file_path, got, file_path);
    assert_int_equal(st, 0);
}

static void test_stream_and_sse(void **state) {
    (void)state;
    int st = fht_run(out, sizeof(out),
                     CURL "-w '%%{size_download}' -o /dev/null https://localhost:%d/stream",
                     fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    char want[32];
    snprintf(want, sizeof(want), "%d", CHUNKS * CHUNK);
    assert_string_equal(out, want);
    st = fht_run(out, sizeof(out), CURL "-N https://localhost:%d/sse", fht_tls_path("ca.pem"),
                 fht_port);
    assert_int_equal(st, 0);
    assert_int_equal(fht_count(out, "event: tick\ndata: over TLS\n\n"), 3);
}

static void test_takeover_refused(void **state) {
    (void)state;
    int st = fht_run(out, sizeof(out), CURL "https://localhost:%d/takeover https://localhost:%d/",
                     fht_tls_path("ca.pem"), fht_port, fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "takeover: refusedHello");
}

static void test_renegotiation_refused(void **state) {
    (void)state;
    int st = fht_run(out, sizeof(out),
                     "(printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'; sleep 1; printf 'R\\n'; "
                     "sleep 2) | timeout 20 openssl s_client -tls1_2 -connect 127.0.0.1:%d",
                     fht_port);
    (void)st;
    assert_non_null(strstr(out, "\r\n\r\nHello"));
    assert_non_null(strstr(out, "RENEGOTIATING"));
    assert_non_null(strstr(out, "no renegotiation"));
    st = fht_run(out, sizeof(out), CURL "https://localhost:%d/", fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
}

enum { HALF_OPEN = 1000 };

static void test_half_open_trickle(void **state) {
    (void)state;
    /* Both ends of each connection live in this process. */
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 3 * HALF_OPEN && rl.rlim_max >= 3 * HALF_OPEN) {
        rl.rlim_cur = 3 * HALF_OPEN;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    fht_stop();
    start(3000);
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    static int fds[HALF_OPEN];
    static const unsigned char hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                           0x03, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66 };
    for (int i = 0; i < HALF_OPEN; i++) {
        fds[i] = fht_connect_raw(fht_port);
        assert_true(fds[i] >= 0);
    }
    /* A byte each, every 100 ms, while others are served. */
    uint64_t t0 = fht_now_ms();
    uint64_t worst = 0;
    for (size_t k = 0; k < sizeof(hello); k++) {
        for (int i = 0; i < HALF_OPEN; i++)
            (void)!send(fds[i], &hello[k], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k % 4 == 0) {
            uint64_t s = fht_now_ms();
            int st = fht_run(out, sizeof(out), CURL "-m 10 https://localhost:%d/",
                             fht_tls_path("ca.pem"), fht_port);
            assert_int_equal(st, 0);
            assert_string_equal(out, "Hello");
            if (fht_now_ms() - s > worst)
                worst = fht_now_ms() - s;
        }
        usleep(100 * 1000);
        if (fht_now_ms() - t0 > 2500)
            break;
    }
    assert_true(worst < 5000);
    /* Past the handshake timeout every one of them is closed. */
    int closed = 0;
    for (int i = 0; i < HALF_OPEN; i++) {
        if (fht_wait_closed(fds[i], 8000) == 1)
            closed++;
        close(fds[i]);
    }
    assert_int_equal(closed, HALF_OPEN);
    fh_server_stats(fht_server, &after);
    assert_true(after.timeouts - before.timeouts >= HALF_OPEN);
    assert_int_equal(
        fht_run(out, sizeof(out), CURL "https://localhost:%d/", fht_tls_path("ca.pem"), fht_port),
        0);
    fht_stop();
    start(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_stream_and_sse),
        cmocka_unit_test(test_takeover_refused),
        cmocka_unit_test(test_renegotiation_refused),
        cmocka_unit_test(test_half_open_trickle),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
