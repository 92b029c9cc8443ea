/* A streamed body spooled to a temporary file (fasthttp/spool.h) over real
 * sockets: Content-Length and chunked bodies of 1 byte to 64 MiB reach fn
 * whole (size and checksum read back from the descriptor, at offset 0, a
 * file with no name); the descriptor is closed once the request is over;
 * the spool directory stays empty throughout, also when the client leaves
 * mid-body; a body past the route's limit gets 413 and fn FH_E2BIG; a
 * missing directory is refused at the call; memory stays flat while
 * 64 MiB spool; a body on a route read whole is not spooled (FH_ESTATE). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

/* A sanitizer's quarantine keeps freed memory resident. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FHT_HAS_ASAN 1
#endif
#endif
#ifndef FHT_HAS_ASAN
#define FHT_HAS_ASAN 0
#endif

static char spool_dir[] = "/tmp/fh-spool-test.XXXXXX";
static atomic_int spooled, canceled, too_big;

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Reads the spooled body back: its size, checksum, link count, offset. */
static void done(fh_request_t *req, fh_response_t *res, int fd, uint64_t size, int status,
                 void *data) {
    (void)req;
    (void)data;
    if (status) {
        if (fd != -1)
            fh_send_text(res, 500, "an fd on error");
        if (status == FH_ECANCELED)
            atomic_fetch_add(&canceled, 1);
        if (status == FH_E2BIG)
            atomic_fetch_add(&too_big, 1);
        return; /* answered (or released) by the spool */
    }
    struct stat st;
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (fstat(fd, &st) != 0) {
        fh_send_text(res, 500, "fstat");
        return;
    }
    uint64_t h = 14695981039346656037ull;
    static char buf[1 << 16];
    uint64_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        h = fnv(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    atomic_fetch_add(&spooled, 1);
    fh_send_textf(res, 201, "size=%llu read=%llu sum=%016llx links=%lu at=%lld",
                  (unsigned long long)size, (unsigned long long)total, (unsigned long long)h,
                  (unsigned long)st.st_nlink, (long long)at);
}

static int put_spool(fh_request_t *req, fh_response_t *res, void *data) {
    const char *dir = data ? (const char *)data : spool_dir;
    fh_spool_options_t opts = { .dir = dir, .buffer_bytes = 100000 };
    if (!fh_request_body_streaming(req))
        return fh_send_text(res, 400, "no body");
    int err = fh_request_body_spool(req, &opts, done, NULL);
    if (err)
        return fh_send_textf(res, 500, "spool: %s", fh_strerror(err));
    return 0;
}

static int post_whole(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    int err = fh_request_body_spool(req, NULL, done, NULL);
    return fh_send_textf(res, 200, "%s", err == FH_ESTATE ? "not spooled" : "spooled?");
}

static const fh_body_options_t limit = { .max_bytes = 128u << 20 };
static const fh_body_options_t small = { .max_bytes = 1u << 20 };
static const fh_route_t routes[] = {
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/spool", put_spool, NULL, &limit),
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/small", put_spool, NULL, &small),
    FH_ROUTE_STREAM(FH_METHOD_PUT, "/missing", put_spool, "/nonexistent/fh-spool", &limit),
    FH_POST("/whole", post_whole),
    FH_ROUTES_END,
};
static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    assert_non_null(mkdtemp(spool_dir));
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "/", routes, NULL), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.threads = 1;
    cfg.timeouts.body_ms = 2000;
    fht_start_router(&cfg, router);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    rmdir(spool_dir);
    return 0;
}

static int dir_entries(const char *path) {
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int open_fds(void) { return dir_entries("/proc/self/fd"); }

static void expect_spooled(const fht_response_t *r, const char *b, size_t n) {
    char want[160];
    snprintf(want, sizeof(want), "size=%zu read=%zu sum=%016llx links=0 at=0", n, n,
             (unsigned long long)fnv(14695981039346656037ull, b, n));
    assert_int_equal(r->status, 201);
    assert_string_equal(r->body, want);
}

/* The descriptors come back to where they were (the request's release
 * follows its response's write: wait a little for it). A connection that
 * answered 413 to a body still coming lingers: past the bytes it drops it
 * reads no more, so the client's close, queued behind the body bytes it
 * could not send, never reaches it, and it ends at its deadline (2 s). */
static void expect_fds(int want) {
    for (int i = 0; i < 600 && open_fds() != want; i++)
        usleep(5000);
    assert_int_equal(open_fds(), want);
}

static void test_spooled_bodies(void **state) {
    (void)state;
    size_t sizes[] = { 1, 99999, 100000, 100001, 1 << 20, 5000000 };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        char *b = fht_pattern(n);
        for (int chunked = 0; chunked <= 1; chunked++) {
            int fds = open_fds();
            int fd = fht_connect(fht_port);
            char head[256];
            snprintf(head, sizeof(head), "PUT /spool HTTP/1.1\r\nHost: t\r\n%s\r\n\r\n",
                     chunked ? "Transfer-Encoding: chunked" : "");
            if (!chunked)
                snprintf(head, sizeof(head),
                         "PUT /spool HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n);
            fht_send_str(fd, head);
            if (chunked) {
                /* In chunks of 77,777 bytes. */
                for (size_t off = 0; off < n; off += 77777) {
                    size_t c = n - off < 77777 ? n - off : 77777;
                    char line[32];
                    snprintf(line, sizeof(line), "%zx\r\n", c);
                    fht_send_str(fd, line);
                    fht_send(fd, b + off, c);
                    fht_send_str(fd, "\r\n");
                }
                fht_send_str(fd, "0\r\n\r\n");
            } else {
                fht_send_async(fd, b, n);
            }
            fht_response_t r;
            assert_int_equal(fht_read_response(fd, &r, 0), 0);
            if (!chunked)
                fht_send_async_join();
            expect_spooled(&r, b, n);
            fht_response_free(&r);
            assert_int_equal(dir_entries(spool_dir), 0);
            /* The connection goes on. */
            fht_send_str(fd, "POST /whole HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
            fht_expect(fd, 200, "not spooled");
            fht_close(fd);
            expect_fds(fds); /* the spool's descriptor is closed, and the sockets */
        }
        free(b);
    }
}

static void test_abort_and_limits(void **state) {
    (void)state;
    /* The client leaves mid-body: fn hears it, nothing stays. */
    int c0 = atomic_load(&canceled);
    int fds = open_fds();
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /spool HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n");
    char *b = fht_pattern(3000000);
    fht_send(fd, b, 3000000);
    usleep(100000);
    assert_int_equal(dir_entries(spool_dir), 0); /* O_TMPFILE: no name, even now */
    fht_close(fd);
    fht_wait_for(&canceled, c0 + 1);
    expect_fds(fds);
    assert_int_equal(dir_entries(spool_dir), 0);

    /* Past the route's limit, chunked: 413, fn gets FH_E2BIG. */
    int big0 = atomic_load(&too_big);
    fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
    fht_send_str(fd, "927c0\r\n"); /* 600,000 */
    fht_send(fd, b, 600000);
    fht_send_str(fd, "\r\n927c0\r\n");
    fht_send(fd, b, 600000);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    fht_close(fd);
    fht_wait_for(&too_big, big0 + 1);
    expect_fds(fds);
    assert_int_equal(dir_entries(spool_dir), 0);
    /* Declared past it: 413 at once, nothing spooled. */
    fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /spool HTTP/1.1\r\nHost: t\r\nContent-Length: 134217729\r\n\r\n");
    /* (the route's limit is 128 MiB: one byte more) */
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 413);
    fht_response_free(&r);
    fht_close(fd);

    /* A directory that does not exist: refused at the call. */
    fd = fht_connect(fht_port);
    fht_send_str(fd, "PUT /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 500);
    assert_non_null(strstr(r.body, "spool: "));
    fht_response_free(&r);
    fht_close(fd);
    free(b);
    expect_fds(fds);
}

static void test_memory_flat(void **state) {
    (void)state;
    /* 64 MiB through a 100,000-byte buffer: RSS stays where it was. */
    size_t n = 64u << 20;
    char *b = fht_pattern(n);
    size_t rss0 = fht_rss_kb();
    int fd = fht_connect(fht_port);
    char head[128];
    snprintf(head, sizeof(head), "PUT /spool HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
             n);
    fht_send_str(fd, head);
    fht_send_async(fd, b, n);
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    fht_send_async_join();
    expect_spooled(&r, b, n);
    fht_response_free(&r);
    fht_close(fd);
    size_t rss1 = fht_rss_kb();
    free(b);
    printf("spool: RSS %zu KiB before, %zu KiB after 64 MiB spooled (the test's own 64 MiB "
           "pattern included)\n",
           rss0, rss1);
#if !defined(__SANITIZE_ADDRESS__) && !FHT_HAS_ASAN
    /* The pattern is the test's (64 MiB, counted in both); the server may
     * add its buffer and read buffers, not the body. */
    assert_true(rss1 < rss0 + 16384);
#endif
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spooled_bodies),
        cmocka_unit_test(test_abort_and_limits),
        cmocka_unit_test(test_memory_flat),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
