/* The static files' open-file cache over real sockets: a file replaced,
 * rewritten in place or deleted on disk is served as it is now once the
 * revalidation time has passed; bodies sent by sendfile from a cached
 * descriptor survive its eviction; and 100,000 requests over 1,000 files
 * leave no descriptor behind (the cache holds at most its bound while the
 * server runs, nothing once it is freed). */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#define VALID_MS 300
#define NFILES 1000
#define NREQUESTS 100000
#define BATCH 100
#define CACHE_ENTRIES 64
#define THREADS 2
#define BIG_SIZE (256 * 1024 + 3)

static char root[64]; /* /tmp/fh_cache_XXXXXX */

static void put(const char *rel, const void *data, size_t n) {
    char p[256], tmp[300];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    snprintf(tmp, sizeof(tmp), "%s.tmp", p);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    assert_int_equal(rename(tmp, p), 0); /* replaced: a new inode under the name */
}

static void rewrite_in_place(const char *rel, const char *data) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    int fd = open(p, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    close(fd);
}

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void expect_get(const char *target, int status, const char *body) {
    fht_response_t r;
    fht_request("GET", target, NULL, &r);
    assert_int_equal(r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    fht_response_free(&r);
}

static void wait_revalidation(void) { usleep((VALID_MS + 150) * 1000); }

static int setup(void **state) {
    (void)state;
    snprintf(root, sizeof(root), "/tmp/fh_cache_XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

static fh_static_t *start_with(uint32_t entries, uint32_t valid_ms, int threads) {
    fh_static_t *st;
    fh_static_options_t o = { .cache_entries = entries, .cache_valid_ms = valid_ms };
    assert_int_equal(fh_static_new(&st, "", root, &o), 0);
    fht_start_handler(fh_static_handle, st, threads);
    return st;
}

static fh_static_t *start(uint32_t entries) { return start_with(entries, VALID_MS, THREADS); }

/* Within the revalidation time the cached descriptor answers: the file
 * as it was when opened, even replaced or deleted since (the trade every
 * open-file cache makes, bounded by cache_valid_ms). */
static void test_hit_within_window(void **state) {
    (void)state;
    put("w.txt", "first", 5);
    fh_static_t *st = start_with(CACHE_ENTRIES, 60000, 1);
    expect_get("/w.txt", 200, "first");
    put("w.txt", "second", 6);
    expect_get("/w.txt", 200, "first");
    char path[256];
    snprintf(path, sizeof(path), "%s/w.txt", root);
    assert_int_equal(unlink(path), 0);
    expect_get("/w.txt", 200, "first");
    expect_get("/none.txt", 404, NULL); /* misses are not cached */
    put("none.txt", "now", 3);
    expect_get("/none.txt", 200, "now");
    fht_stop();
    fh_static_free(st);
}

static void test_replaced_and_deleted(void **state) {
    (void)state;
    put("a.txt", "one", 3);
    put("b.txt", "bee", 3);
    put("c.txt", "sea", 3);
    fh_static_t *st = start(CACHE_ENTRIES);
    /* Several times, so that each worker's cache holds them. */
    for (int i = 0; i < 8; i++) {
        expect_get("/a.txt", 200, "one");
        expect_get("/b.txt", 200, "bee");
        expect_get("/c.txt", 200, "sea");
    }
    put("a.txt", "two-two", 7);
    char path[256];
    snprintf(path, sizeof(path), "%s/b.txt", root);
    assert_int_equal(unlink(path), 0);
    rewrite_in_place("c.txt", "ocean!");
    wait_revalidation();
    for (int i = 0; i < 8; i++) {
        expect_get("/a.txt", 200, "two-two");
        expect_get("/b.txt", 404, NULL);
        expect_get("/c.txt", 200, "ocean!");
    }
    /* Back again: found again, and a conditional request sees the new
     * validators. */
    put("b.txt", "bee again", 9);
    wait_revalidation();
    fht_response_t r;
    fht_request("GET", "/b.txt", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "bee again");
    char etag[128], extra[200];
    assert_true(fht_header(&r, "ETag", etag, sizeof(etag)) > 0);
    fht_response_free(&r);
    snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
    for (int i = 0; i < 4; i++) {
        fht_request("GET", "/b.txt", extra, &r);
        assert_int_equal(r.status, 304);
        fht_response_free(&r);
    }
    put("b.txt", "bee third", 9);
    wait_revalidation();
    for (int i = 0; i < 4; i++) {
        fht_request("GET", "/b.txt", extra, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "bee third");
        fht_response_free(&r);
    }
    fht_stop();
    fh_static_free(st);
}

/* A body sent from a cached descriptor while the cache lets go of it (a
 * one-entry cache, another file asked for meanwhile) arrives whole. */
static void test_big_body_outlives_eviction(void **state) {
    (void)state;
    unsigned char *big = malloc(BIG_SIZE);
    assert_non_null(big);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (unsigned char)(i * 13 + i / 1000);
    put("big.bin", big, BIG_SIZE);
    put("small.txt", "s", 1);
    fh_static_t *st = start(1);
    for (int round = 0; round < 20; round++) {
        int fd = fht_connect(fht_port);
        fht_send_str(fd, "GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                         "GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, BIG_SIZE);
        assert_memory_equal(r.body, big, BIG_SIZE);
        fht_response_free(&r);
        fht_expect(fd, 200, "s");
        fht_close(fd);
    }
    fht_stop();
    fh_static_free(st);
    free(big);
}

/* Sends n requests for consecutive files from *next on, in one write, and
 * reads their n answers of resp_len bytes each. */
static void batch(int fd, int *next, int n, size_t resp_len) {
    static char out[BATCH * 64], in[1 << 16];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(out + len, sizeof(out) - len,
                                "GET /f%04d.txt HTTP/1.1\r\nHost: t\r\n\r\n", *next);
        *next = (*next + 1) % NFILES;
    }
    for (size_t off = 0; off < len;) {
        ssize_t s = send(fd, out + off, len - off, MSG_NOSIGNAL);
        assert_true(s > 0);
        off += (size_t)s;
    }
    size_t want = (size_t)n * resp_len, got = 0;
    while (got < want) {
        ssize_t s = recv(fd, in, sizeof(in), 0);
        assert_true(s > 0);
        got += (size_t)s;
    }
    assert_int_equal(got, want);
}

static void test_no_fd_leak(void **state) {
    (void)state;
    char rel[32], body[32];
    for (int i = 0; i < NFILES; i++) {
        snprintf(rel, sizeof(rel), "f%04d.txt", i);
        snprintf(body, sizeof(body), "file %04d\n", i); /* all the same length */
        put(rel, body, strlen(body));
    }
    int before = count_fds();
    fh_static_t *st = start(CACHE_ENTRIES);
    int fd = fht_connect(fht_port);
    /* The length of one answer: every one is as long (same size, same
     * length of validators and type). */
    fht_send_str(fd, "GET /f0000.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "file 0000\n");
    size_t resp_len = strlen(r.head) + r.body_len;
    fht_response_free(&r);
    int next = 1, max_during = 0;
    uint64_t t0 = fht_now_ms();
    for (int done = 1; done < NREQUESTS;) {
        int n = NREQUESTS - done < BATCH ? NREQUESTS - done : BATCH;
        batch(fd, &next, n, resp_len);
        done += n;
        if (done % 10000 < BATCH) {
            int now = count_fds();
            if (now > max_during)
                max_during = now;
        }
        assert_true(fht_now_ms() - t0 < 120000); /* bounded, even on a loaded machine */
    }
    fht_close(fd);
    /* The test's own connection, the server's sockets and loops, and at
     * most CACHE_ENTRIES cached files per worker. */
    assert_true(max_during <= before + THREADS * CACHE_ENTRIES + 64);
    fht_stop();
    fh_static_free(st);
    assert_int_equal(count_fds(), before);
}

static void test_bad_cache_size(void **state) {
    (void)state;
    fh_static_t *st = NULL;
    fh_static_options_t o = { .cache_entries = (1u << 20) + 1 };
    assert_int_equal(fh_static_new(&st, "", root, &o), FH_EINVAL);
    assert_null(st);
    o.cache_entries = 1u << 20; /* the limit itself is accepted */
    assert_int_equal(fh_static_new(&st, "", root, &o), 0);
    fh_static_free(st);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hit_within_window),
        cmocka_unit_test(test_replaced_and_deleted),
        cmocka_unit_test(test_big_body_outlives_eviction),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_bad_cache_size),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
