/* Static files over real sockets: content types, sendfile bodies, HEAD,
 * conditional requests (304, 412), single ranges (206, 416, If-Range),
 * index files, redirects and listings, and traversal attempts (encoded dot
 * segments, encoded slashes and backslashes, NUL, double encoding, links
 * leading out of the root, dot-files) that must never reach a file outside
 * the root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
/* ThreadSanitizer (clang 14) intercepts neither openat(2) nor
 * fcntl(F_DUPFD_CLOEXEC): it takes a descriptor made that way for an older
 * socket of the same number closed on another thread, and reports its
 * close() as a race on the descriptor. Only such reports are silenced. */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void) { return "race:__interceptor_close\n"; }
#endif
#endif

#define BIG_SIZE (3 * 1024 * 1024 + 17)
/* More than loopback's socket buffers hold (4 MiB each way at most), so
 * that sendfile meets a full socket. */
#define HUGE_SIZE (16 * 1024 * 1024)
#define SECRET "TOP-SECRET-OUTSIDE"

static char base[64];  /* /tmp/fh_static_XXXXXX */
static char root[128]; /* base/root */
static unsigned char *big;
static fh_static_t *never, *inside, *app;
static atomic_int n_released; /* requests sent with X-Track */

static void count_release(fh_request_t *req, void *data) {
    (void)req;
    (void)data;
    atomic_fetch_add(&n_released, 1);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_request_header(req, "X-Track").ptr)
        fh_request_on_done(req, count_release, NULL);
    if (fh_str_starts_with(path, "/follow"))
        return fh_static_handle(req, res, inside);
    if (fh_str_starts_with(path, "/app") || fh_str_starts_with(path, "/spa")) {
        /* Files when there is one, the application otherwise. */
        int r = fh_static_try(req, res, app);
        if (r)
            return r < 0 ? r : 0;
        return fh_send_text(res, 200, "fallback");
    }
    return fh_static_handle(req, res, never);
}

static void put_file(const char *rel, const void *data, size_t n) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void put_dir(const char *rel) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    assert_int_equal(mkdir(p, 0755), 0);
}

static void put_link(const char *target, const char *rel) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", base, rel);
    assert_int_equal(symlink(target, p), 0);
}

static int setup(void **state) {
    (void)state;
    snprintf(base, sizeof(base), "/tmp/fh_static_XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(root, sizeof(root), "%s/root", base);
    put_dir("outside");
    put_file("outside/secret.txt", SECRET, strlen(SECRET));
    put_dir("root");
    put_file("root/index.html", "<h1>home</h1>", 13);
    put_file("root/a.txt", "alpha\n", 6);
    put_file("root/style.css", "body{}", 6);
    put_file("root/empty.txt", "", 0);
    put_file("root/.secret", "dot secret", 10);
    put_file("root/we ird&<name>.txt", "w", 1);
    put_dir("root/sub");
    put_file("root/sub/f.txt", "in sub", 6);
    put_dir("root/sub2");
    put_file("root/sub2/index.html", "sub2 index", 10);
    put_dir("root/%2e%2e"); /* a real directory with that literal name */
    put_file("root/%2e%2e/decoy.txt", "decoy", 5);
    big = malloc(BIG_SIZE);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)(i * 7 + i / 4096);
    put_file("root/big.bin", big, BIG_SIZE);
    char huge_path[256];
    snprintf(huge_path, sizeof(huge_path), "%s/root/huge.bin", base);
    int hfd = open(huge_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(hfd >= 0);
    for (size_t off = 0; off < HUGE_SIZE; off += BIG_SIZE) {
        size_t n = HUGE_SIZE - off < BIG_SIZE ? HUGE_SIZE - off : BIG_SIZE;
        assert_int_equal(write(hfd, big, n), (ssize_t)n);
    }
    close(hfd);
    put_link("../outside/secret.txt", "root/link-out");
    put_link("../outside", "root/dir-out");
    put_link("a.txt", "root/link-in");
    put_link("sub", "root/dirlink");
    put_link("/etc/passwd", "root/abs-out");
    put_link(".secret", "root/linkdot");

    assert_int_equal(fh_static_new(&never, "/static/", root, NULL), 0);
    fh_static_options_t o = { .symlinks = FH_STATIC_SYMLINKS_INSIDE,
                              .list_directories = true,
                              .max_age = 60 };
    assert_int_equal(fh_static_new(&inside, "/follow", root, &o), 0);
    assert_int_equal(fh_static_new(&app, "/app", root, NULL), 0);
    fht_start_handler(handler, NULL, 2);
    return 0;
}

static int teardown(void **state) {
    /* The files went out by the way FH_SENDFILE_POOL asks for: the thread
     * pool read their pages first, or (those just written, in memory) the
     * loop sent them at once. */
    fh_server_stats_t stats;
    fh_server_stats(fht_server, &stats);
    const char *via_pool = getenv("FH_SENDFILE_POOL");
    if (via_pool && strcmp(via_pool, "1") == 0) {
        assert_true(stats.file_steps_pool > 0);
        assert_true(stats.file_steps_loop > 0); /* each sent on the loop once read */
    } else {
        assert_true(stats.file_steps_loop > 0);
    }
    fht_teardown(state);
    fh_static_free(never);
    fh_static_free(inside);
    fh_static_free(app);
    free(big);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void expect(const char *target, const char *extra, int status, const char *body) {
    fht_response_t r;
    fht_request("GET", target, extra, &r);
    if (r.status != status)
        fail_msg("%s: status %d, want %d", target, r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    fht_response_free(&r);
}

static void header_is(const fht_response_t *r, const char *name, const char *want) {
    char v[256];
    if (!fht_header(r, name, v, sizeof(v)))
        fail_msg("no %s header", name);
    assert_string_equal(v, want);
}

static void test_file_types_and_validators(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/static/a.txt", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "alpha\n");
    header_is(&r, "Content-Type", "text/plain; charset=utf-8");
    header_is(&r, "Accept-Ranges", "bytes");
    header_is(&r, "Content-Length", "6");
    assert_true(fht_header(&r, "ETag", NULL, 0));
    assert_true(fht_header(&r, "Last-Modified", NULL, 0));
    assert_false(fht_header(&r, "Cache-Control", NULL, 0));
    fht_response_free(&r);
    fht_request("GET", "/follow/style.css", NULL, &r);
    header_is(&r, "Content-Type", "text/css; charset=utf-8");
    header_is(&r, "Cache-Control", "max-age=60");
    fht_response_free(&r);
    expect("/static/empty.txt", NULL, 200, "");
    assert_string_equal(fh_static_mime_type("x.PNG"), "image/png");
    assert_string_equal(fh_static_mime_type("dir.d/noext"), "application/octet-stream");
    assert_string_equal(fh_static_mime_type(".bashrc"), "application/octet-stream");
}

static void test_big_file_by_sendfile_and_head(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/static/big.bin", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, BIG_SIZE);
    assert_memory_equal(r.body, big, BIG_SIZE);
    header_is(&r, "Content-Type", "application/octet-stream");
    fht_response_free(&r);

    /* HEAD: the length, no body; the connection goes on cleanly. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "HEAD /static/big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                     "HEAD /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                     "GET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 1), 0);
    char want[32];
    snprintf(want, sizeof(want), "%d", BIG_SIZE);
    header_is(&r, "Content-Length", want);
    fht_response_free(&r);
    assert_int_equal(fht_read_response(fd, &r, 1), 0);
    header_is(&r, "Content-Length", "6");
    fht_response_free(&r);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "alpha\n");
    fht_response_free(&r);
    fht_close(fd);
}

/* The default sendfile_min (16 KiB) at the limit: a body one byte under it
 * is read into the arena and leaves with its head (no file step), one of
 * exactly 16 KiB and one far past it go by sendfile (one file step or
 * more); every byte arrives (over TLS too). */
static void test_sendfile_min_edge(void **state) {
    (void)state;
    static const size_t sizes[] = { 16383, 16384, 16385, 3u << 20 };
    static const bool by_sendfile[] = { false, true, true, true };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char rel[64], target[64];
        snprintf(rel, sizeof(rel), "root/edge%zu.bin", sizes[i]);
        snprintf(target, sizeof(target), "/static/edge%zu.bin", sizes[i]);
        put_file(rel, big, sizes[i]);
        fh_server_stats_t before, after;
        fh_server_stats(fht_server, &before);
        fht_response_t r;
        fht_request("GET", target, NULL, &r);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, sizes[i]);
        assert_memory_equal(r.body, big, sizes[i]);
        fht_response_free(&r);
        fh_server_stats(fht_server, &after);
        uint64_t steps = after.file_steps_loop + after.file_steps_pool - before.file_steps_loop -
                         before.file_steps_pool;
        if (fht_over_tls())
            continue; /* TLS sends no file by sendfile: only the bytes count */
        if (by_sendfile[i])
            assert_true(steps >= 1);
        else
            assert_int_equal(steps, 0);
    }
}

/* A reader slower than sendfile: the socket fills, the server waits for it
 * to drain (poll on the duplicate descriptor) and goes on. */
static void test_big_file_to_slow_reader(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    int rcv = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    fht_send_str(fd, "GET /static/huge.bin HTTP/1.1\r\nHost: t\r\n\r\n");
    static char buf[HUGE_SIZE + 4096];
    size_t len = 0, head = 0;
    while (!head || len < head + HUGE_SIZE) {
        ssize_t n = recv(fd, buf + len, 16384, 0);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        len += (size_t)n;
        if (!head) {
            char *e = memmem(buf, len, "\r\n\r\n", 4);
            if (e)
                head = (size_t)(e - buf) + 4;
        }
        if (len < 1024 * 1024)
            usleep(1000); /* slow for the first megabyte */
    }
    assert_int_equal(len, head + HUGE_SIZE);
    for (size_t off = 0; off < HUGE_SIZE; off += BIG_SIZE) {
        size_t n = HUGE_SIZE - off < BIG_SIZE ? HUGE_SIZE - off : BIG_SIZE;
        assert_memory_equal(buf + head + off, big, n);
    }
    /* The connection goes on after a file body. */
    fht_send_str(fd, "GET /static/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "alpha\n");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_client_leaves_mid_file(void **state) {
    (void)state;
    int released = atomic_load(&n_released);
    int fd = fht_connect(fht_port);
    int rcv = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
    fht_send_str(fd, "GET /static/huge.bin HTTP/1.1\r\nHost: t\r\nX-Track: 1\r\n\r\n");
    char buf[4096];
    assert_true(recv(fd, buf, sizeof(buf), 0) > 0);
    usleep(50000); /* the socket is full: the server waits on it */
    fht_close(fd);
    uint64_t t0 = fht_now_ms();
    while (atomic_load(&n_released) == released && fht_now_ms() - t0 < 3000)
        usleep(1000);
    assert_int_equal(atomic_load(&n_released), released + 1); /* released once */
}

static void test_conditional_requests(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/static/a.txt", NULL, &r);
    char etag[128], lm[64], hdr[300];
    assert_true(fht_header(&r, "ETag", etag, sizeof(etag)));
    assert_true(fht_header(&r, "Last-Modified", lm, sizeof(lm)));
    fht_response_free(&r);

    snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
    fht_request("GET", "/static/a.txt", hdr, &r);
    assert_int_equal(r.status, 304);
    assert_string_equal(r.body, "");
    header_is(&r, "ETag", etag);
    assert_false(fht_header(&r, "Content-Length", NULL, 0));
    fht_response_free(&r);
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"x\", W/%s\r\n", etag);
    expect("/static/a.txt", hdr, 304, NULL);
    expect("/static/a.txt", "If-None-Match: *\r\n", 304, NULL);
    expect("/static/a.txt", "If-None-Match: \"other\"\r\n", 200, "alpha\n");

    snprintf(hdr, sizeof(hdr), "If-Modified-Since: %s\r\n", lm);
    expect("/static/a.txt", hdr, 304, NULL);
    expect("/static/a.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n", 200, "alpha\n");
    expect("/static/a.txt", "If-Modified-Since: yesterday\r\n", 200, "alpha\n");
    /* If-None-Match wins over If-Modified-Since. */
    snprintf(hdr, sizeof(hdr), "If-None-Match: \"other\"\r\nIf-Modified-Since: %s\r\n", lm);
    expect("/static/a.txt", hdr, 200, "alpha\n");

    expect("/static/a.txt", "If-Match: \"nope\"\r\n", 412, NULL);
    snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
    expect("/static/a.txt", hdr, 200, "alpha\n");
    snprintf(hdr, sizeof(hdr), "If-Match: W/%s\r\n", etag); /* weak never matches If-Match */
    expect("/static/a.txt", hdr, 412, NULL);
    expect("/static/a.txt", "If-Unmodified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n", 412, NULL);
}

static void test_ranges(void **state) {
    (void)state;
    fht_response_t r;
    fht_request("GET", "/static/a.txt", "Range: bytes=0-2\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(r.body, "alp");
    header_is(&r, "Content-Range", "bytes 0-2/6");
    header_is(&r, "Content-Length", "3");
    fht_response_free(&r);
    expect("/static/a.txt", "Range: bytes=-2\r\n", 206, "a\n");
    expect("/static/a.txt", "Range: bytes=3-\r\n", 206, "ha\n");
    expect("/static/a.txt", "Range: bytes=-100\r\n", 206, "alpha\n");
    fht_request("GET", "/static/a.txt", "Range: bytes=2-100\r\n", &r);
    assert_string_equal(r.body, "pha\n");
    header_is(&r, "Content-Range", "bytes 2-5/6");
    fht_response_free(&r);

    fht_request("GET", "/static/a.txt", "Range: bytes=6-\r\n", &r);
    assert_int_equal(r.status, 416);
    header_is(&r, "Content-Range", "bytes */6");
    fht_response_free(&r);
    expect("/static/a.txt", "Range: bytes=-0\r\n", 416, NULL);
    expect("/static/empty.txt", "Range: bytes=0-\r\n", 416, NULL);

    /* Several ranges, or malformed ones: the whole file. */
    expect("/static/a.txt", "Range: bytes=0-0,2-3\r\n", 200, "alpha\n");
    expect("/static/a.txt", "Range: bytes=abc\r\n", 200, "alpha\n");
    expect("/static/a.txt", "Range: bytes=3-1\r\n", 200, "alpha\n");
    expect("/static/a.txt", "Range: lines=1-2\r\n", 200, "alpha\n");

    /* If-Range: the range only for the representation the client has. */
    fht_response_t full;
    fht_request("GET", "/static/a.txt", NULL, &full);
    char etag[128], hdr[300];
    assert_true(fht_header(&full, "ETag", etag, sizeof(etag)));
    fht_response_free(&full);
    snprintf(hdr, sizeof(hdr), "Range: bytes=0-2\r\nIf-Range: %s\r\n", etag);
    expect("/static/a.txt", hdr, 206, "alp");
    expect("/static/a.txt", "Range: bytes=0-2\r\nIf-Range: \"stale\"\r\n", 200, "alpha\n");

    /* HEAD ignores Range. */
    fht_request("HEAD", "/static/a.txt", "Range: bytes=0-2\r\n", &r);
    assert_int_equal(r.status, 200);
    header_is(&r, "Content-Length", "6");
    fht_response_free(&r);

    /* A large range goes by sendfile from an offset. */
    fht_request("GET", "/static/big.bin", "Range: bytes=1000000-1999999\r\n", &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.body_len, 1000000);
    assert_memory_equal(r.body, big + 1000000, 1000000);
    fht_response_free(&r);
    fht_request("GET", "/static/big.bin", "Range: bytes=-5\r\n", &r);
    assert_int_equal(r.body_len, 5);
    assert_memory_equal(r.body, big + BIG_SIZE - 5, 5);
    fht_response_free(&r);
}

static void test_directories(void **state) {
    (void)state;
    expect("/static/", NULL, 200, "<h1>home</h1>");
    fht_response_t r;
    fht_request("GET", "/static", NULL, &r);
    assert_int_equal(r.status, 301);
    header_is(&r, "Location", "/static/");
    fht_response_free(&r);
    fht_request("GET", "/static/sub2?x=1", NULL, &r);
    assert_int_equal(r.status, 301);
    header_is(&r, "Location", "/static/sub2/?x=1");
    fht_response_free(&r);
    expect("/static/sub2/", NULL, 200, "sub2 index");
    expect("/static/sub/", NULL, 404, NULL); /* no index, listing off */
    expect("/static/a.txt/", NULL, 404, NULL);

    fht_request("GET", "/follow/sub/", NULL, &r);
    assert_int_equal(r.status, 200);
    header_is(&r, "Content-Type", "text/html; charset=utf-8");
    assert_non_null(strstr(r.body, "<a href=\"f.txt\">f.txt</a>"));
    fht_response_free(&r);
}

static void test_root_listing(void **state) {
    (void)state;
    /* A second server whose whole namespace is the root, listing on. */
    fh_static_t *list;
    fh_static_options_t o = { .index = "",
                              .list_directories = true,
                              .symlinks = FH_STATIC_SYMLINKS_INSIDE };
    assert_int_equal(fh_static_new(&list, "/", root, &o), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_static_handle;
    cfg.handler_data = list;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    int fd = fht_connect(fh_server_port(s));
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    /* Names escaped for HTML and for URLs. */
    assert_non_null(
        strstr(r.body, "<a href=\"we%20ird%26%3Cname%3E.txt\">we ird&amp;&lt;name&gt;.txt</a>"));
    assert_non_null(strstr(r.body, "<a href=\"sub/\">sub/</a>"));
    assert_non_null(strstr(r.body, "<a href=\"link-in\">link-in</a>")); /* inside */
    assert_non_null(strstr(r.body, "<a href=\"dirlink/\">dirlink/</a>"));
    assert_null(strstr(r.body, "link-out")); /* leads outside */
    assert_null(strstr(r.body, "dir-out"));
    assert_null(strstr(r.body, "abs-out"));
    assert_null(strstr(r.body, "secret")); /* dot-files and links to them */
    assert_null(strstr(r.body, "linkdot"));
    fht_response_free(&r);
    fht_close(fd);
    fht_server_stop(s);
    fh_static_free(list);
}

/* Every attempt must fail, and no answer may carry what lies outside. */
static void attempt(const char *target) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    if (r.status != 400 && r.status != 404)
        fail_msg("%s: status %d", target, r.status);
    if (strstr(r.body, SECRET) || strstr(r.body, "root:") || strstr(r.body, "dot secret"))
        fail_msg("%s: leaked", target);
    fht_response_free(&r);
}

static void test_traversal_attempts(void **state) {
    (void)state;
    static const char *const targets[] = {
        "/static/../outside/secret.txt",
        "/static/sub/../../outside/secret.txt",
        "/static/%2e%2e/outside/secret.txt",
        "/static/%2E%2E%2Foutside%2Fsecret.txt",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/static/sub/%2e%2e/%2e%2e/outside/secret.txt",
        "/static/sub/..%5c..%5coutside%5csecret.txt",
        "/static/..\\outside\\secret.txt",
        "/static/a.txt%00.html",
        "/static/%00",
        "/static/%zz",
        "/static/.%2e/outside/secret.txt",
        "/static/./a.txt",
        "/static//etc/passwd",
        "/static/link-out",
        "/static/dir-out/secret.txt",
        "/static/abs-out",
        "/static/.secret",
        "/static/%2esecret",
        "/static/link-in", /* a link, even inside: not followed by default */
        "/static/dirlink/f.txt",
        "/follow/link-out",
        "/follow/dir-out/secret.txt",
        "/follow/abs-out",
        "/follow/linkdot",
        "/follow/.secret",
        "/follow/../outside/secret.txt",
        "/staticx/a.txt",
        "/elsewhere",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++)
        attempt(targets[i]);
    /* Double encoding is decoded once: a literal "%2e%2e" directory. */
    expect("/static/%252e%252e/decoy.txt", NULL, 200, "decoy");
    expect("/static/%252e%252e/../outside/secret.txt", NULL, 400, NULL);
    /* Links inside the root, by policy. */
    expect("/follow/link-in", NULL, 200, "alpha\n");
    expect("/follow/dirlink/f.txt", NULL, 200, "in sub");
    /* Encoded ordinary characters are fine. */
    expect("/static/%61.txt", NULL, 200, "alpha\n");
}

static void test_try_falls_through(void **state) {
    (void)state;
    expect("/app/a.txt", NULL, 200, "alpha\n");
    expect("/app/", NULL, 200, "<h1>home</h1>");
    expect("/app/nope.txt", NULL, 200, "fallback");
    expect("/app/sub/", NULL, 200, "fallback"); /* no index, no listing */
    expect("/app/.secret", NULL, 200, "fallback");
    expect("/app/link-out", NULL, 200, "fallback");
    expect("/spa/a.txt", NULL, 200, "fallback"); /* outside the prefix */
    expect("/app/%2e%2e/outside/secret.txt", NULL, 400, NULL);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "DELETE /app/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "fallback");
    fht_response_free(&r);
    fht_close(fd);
}

static void test_methods_and_setup_errors(void **state) {
    (void)state;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "POST /static/a.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\nx");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 405);
    header_is(&r, "Allow", "GET, HEAD");
    fht_response_free(&r);
    fht_close(fd);

    fh_static_t *st;
    char missing[160], file[160];
    snprintf(missing, sizeof(missing), "%s/nope", base);
    snprintf(file, sizeof(file), "%s/a.txt", root);
    assert_int_equal(fh_static_new(&st, "/x", missing, NULL), FH_ENOENT);
    assert_int_equal(fh_static_new(&st, "/x", file, NULL), UV_ENOTDIR);
    assert_int_equal(fh_static_new(&st, "x", root, NULL), FH_EINVAL);
    fh_static_options_t o = { .index = "a/b" };
    assert_int_equal(fh_static_new(&st, "/x", root, &o), FH_EINVAL);
}

static int fallback(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "fallback");
}

/* fh_static as a middleware in a chain: files under its prefix are served,
 * everything else reaches the chain's handler. */
static void test_static_middleware(void **state) {
    (void)state;
    fh_middleware_t mw;
    assert_int_equal(fh_static(&mw, "/mw", root, NULL), 0);
    assert_string_equal(mw.name, "static");
    fh_chain_t *chain;
    assert_int_equal(fh_chain_new(&chain, fallback, NULL), 0);
    assert_int_equal(fh_chain_use(chain, &mw), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    cfg.threads = 1;
    fh_server_t *s = fht_server_start(&cfg);
    int saved = fht_port;
    fht_port = fh_server_port(s);
    expect("/mw/a.txt", NULL, 200, "alpha\n");
    expect("/mw/sub/f.txt", NULL, 200, "in sub");
    expect("/mw/missing.txt", NULL, 200, "fallback"); /* nothing to serve: passed on */
    expect("/elsewhere", NULL, 200, "fallback");
    fht_response_t r;
    fht_request("GET", "/mw/%2e%2e/outside/secret.txt", NULL, &r);
    assert_int_equal(r.status, 400); /* malformed paths are answered, never passed on */
    fht_response_free(&r);
    fht_port = saved;
    fht_server_stop(s);
    fh_chain_free(chain);
    fh_middleware_release(&mw);
    assert_null(mw.data);
    assert_int_equal(fh_static(&mw, "/x", "/nonexistent/dir/for/sure", NULL), UV_ENOENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_types_and_validators),
        cmocka_unit_test(test_big_file_by_sendfile_and_head),
        cmocka_unit_test(test_sendfile_min_edge),
        cmocka_unit_test(test_big_file_to_slow_reader),
        cmocka_unit_test(test_client_leaves_mid_file),
        cmocka_unit_test(test_conditional_requests),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_directories),
        cmocka_unit_test(test_root_listing),
        cmocka_unit_test(test_traversal_attempts),
        cmocka_unit_test(test_try_falls_through),
        cmocka_unit_test(test_methods_and_setup_errors),
        cmocka_unit_test(test_static_middleware),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
