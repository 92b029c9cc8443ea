/* Pipelining of any depth: 10,000 requests in one write, in bursts, to a
 * client that does not read for a while, every answer in order on one
 * open connection; and a differential property: any sequence of requests
 * (bodies by length and chunked, HEAD, deferred answers, errors the router
 * would give) sent pipelined in arbitrary splits gets byte for byte the
 * answers the same requests get one by one. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "testutil.h"

/* ---------------------------------------------------------------- server */

enum { BIG = 2000 };

static void send_body(fh_response_t *res, void *data) {
    (void)data;
    fh_str_t body = fh_request_body(fh_response_request(res)); /* the pinned copy */
    fh_send(res, 200, "text/plain", body.ptr, body.len);
}

/* /n/<text>: "<text>"; /echo: the body; /defer?ms=N: the body after N ms;
 * /status/<code>: that status; anything else: 404. */
static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (path.len > 3 && memcmp(path.ptr, "/n/", 3) == 0)
        return fh_send(res, 200, "text/plain", path.ptr + 3, path.len - 3);
    if (path.len > 5 && memcmp(path.ptr, "/big/", 5) == 0) {
        /* The text, then dots up to BIG bytes. */
        char *body = fh_alloc(req, BIG);
        if (!body)
            return FH_ENOMEM;
        memset(body, '.', BIG);
        memcpy(body, path.ptr + 5, path.len - 5);
        return fh_send(res, 200, "text/plain", body, BIG);
    }
    if (fh_str_eq(path, "/echo")) {
        fh_str_t body = fh_request_body(req);
        return fh_send(res, 200, "application/octet-stream", body.ptr, body.len);
    }
    if (fh_str_eq(path, "/defer")) {
        fh_str_t ms = fh_request_query(req, "ms");
        int err = fh_response_defer(res);
        if (err)
            return err;
        return fht_later(res, ms.ptr ? strtoul(ms.ptr, NULL, 10) : 1, send_body, NULL);
    }
    if (path.len > 8 && memcmp(path.ptr, "/status/", 8) == 0)
        return fh_send_status(res, (int)strtol(path.ptr + 8, NULL, 10));
    return fh_send_status(res, 404);
}

static int setup(void **state) {
    (void)state;
    fht_start_handler(handler, NULL, 2);
    return 0;
}

/* --------------------------------------------------------- deep pipelines */

enum { DEEP = 10000 };

/* All DEEP requests GET /n/<i> (or /big/<i>), one string. */
static char *deep_requests(size_t *len, bool big) {
    size_t cap = (size_t)DEEP * 48, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int i = 0; i < DEEP; i++)
        n += (size_t)snprintf(buf + n, cap - n, "GET /%s/%d HTTP/1.1\r\nHost: t\r\n\r\n",
                              big ? "big" : "n", i);
    *len = n;
    return buf;
}

/* Reads the DEEP answers in order, then checks the connection still serves. */
static void expect_deep_answers(int fd, bool big) {
    for (int i = 0; i < DEEP; i++) {
        char want[16];
        int n = snprintf(want, sizeof(want), "%d", i);
        fht_response_t r;
        if (fht_read_response(fd, &r, 0) != 0)
            fail_msg("answer %d of %d missing", i, DEEP);
        assert_int_equal(r.status, 200);
        if (big) {
            assert_int_equal(r.body_len, BIG);
            assert_memory_equal(r.body, want, (size_t)n);
            assert_int_equal(r.body[n], '.');
        } else {
            assert_string_equal(r.body, want);
        }
        char conn[32];
        assert_false(fht_header(&r, "Connection", conn, sizeof(conn)));
        fht_response_free(&r);
    }
    fht_send_str(fd, "GET /n/after HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_expect(fd, 200, "after");
    assert_int_equal(fht_wait_closed(fd, 50), 0);
}

static void test_deep_one_write(void **state) {
    (void)state;
    size_t len;
    char *reqs = deep_requests(&len, false);
    int fd = fht_connect(fht_port);
    /* Sent by a thread: the server stops reading at its pipelining cap
     * until answers leave, so one blocking send could wait on our reads. */
    fht_send_async(fd, reqs, len);
    expect_deep_answers(fd, false);
    fht_send_async_join();
    fht_close(fd);
    free(reqs);
}

static void test_deep_bursts(void **state) {
    (void)state;
    size_t len;
    char *reqs = deep_requests(&len, false);
    int fd = fht_connect(fht_port);
    /* Ten bursts of a thousand, split anywhere (mid-request too), a pause
     * after each. */
    size_t per = len / 10, off = 0;
    for (int b = 0; b < 10; b++) {
        size_t n = b == 9 ? len - off : per + (size_t)(b * 7);
        fht_send(fd, reqs + off, n);
        off += n;
        usleep(20000);
    }
    expect_deep_answers(fd, false);
    fht_close(fd);
    free(reqs);
}

static void test_deep_slow_reader(void **state) {
    (void)state;
    size_t len;
    char *reqs = deep_requests(&len, true);
    int fd = fht_connect(fht_port);
    fht_send_async(fd, reqs, len);
    /* 20 MB of answers fill the socket buffers on both sides: the server's
     * writes wait for the socket, its reading pauses at the cap. */
    usleep(300000);
    expect_deep_answers(fd, true);
    fht_send_async_join();
    fht_close(fd);
    free(reqs);
}

/* ------------------------------------------------- the differential test */

/* A raw reader of its own, so that the exact bytes of each answer are kept:
 * Date values masked, everything else compared. */
typedef struct raw {
    char *p;
    size_t len, cap;
} raw_t;

static void raw_put(raw_t *r, const char *p, size_t n) {
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2 + 4096;
        r->p = realloc(r->p, r->cap);
        assert_non_null(r->p);
    }
    memcpy(r->p + r->len, p, n);
    r->len += n;
}

static void mask_dates(raw_t *r) {
    for (size_t i = 0; i + 6 + 29 <= r->len; i++)
        if (memcmp(r->p + i, "\r\nDate: ", 8) == 0)
            memset(r->p + i + 8, 'D', 29);
}

/* Reads bytes until the connection has sent want bytes in all. */
static void read_bytes(int fd, raw_t *r, size_t want) {
    char buf[65536];
    while (r->len < want) {
        size_t k = want - r->len < sizeof(buf) ? want - r->len : sizeof(buf);
        ssize_t n = recv(fd, buf, k, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("connection ended after %zu of %zu bytes", r->len, want);
        raw_put(r, buf, (size_t)n);
    }
}

/* Reads exactly one answer into r: the head, then its body by its
 * Content-Length (every answer here has one, or none for HEAD). */
static int cur_round, cur_req;

static void read_one(int fd, raw_t *r, bool head) {
    size_t start = r->len;
    char c;
    while (r->len - start < 4 || memcmp(r->p + r->len - 4, "\r\n\r\n", 4) != 0) {
        ssize_t n = recv(fd, &c, 1, 0);
        if (n <= 0)
            fail_msg("round %d, request %d: answer head cut after %zu bytes (%s)", cur_round,
                     cur_req, r->len - start, n < 0 ? strerror(errno) : "EOF");
        raw_put(r, &c, 1);
    }
    raw_put(r, "", 1); /* a NUL to search the head; taken off below */
    r->len--;
    const char *cl = strstr(r->p + start, "Content-Length: ");
    size_t body = cl && !head ? strtoul(cl + 16, NULL, 10) : 0;
    read_bytes(fd, r, r->len + body);
}

typedef struct gen_req {
    char text[2048];
    size_t len;
    bool head;
} gen_req_t;

static unsigned rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* One random request of the kinds above. */
static void gen(gen_req_t *g, unsigned *seed, int i) {
    char body[600];
    size_t blen = rnd(seed) % 500;
    for (size_t k = 0; k < sizeof(body); k++)
        body[k] = (char)('a' + (k + (size_t)i) % 26);
    g->head = false;
    int n = 0;
    switch (rnd(seed) % 7) {
    case 0:
        n = snprintf(g->text, sizeof(g->text), "GET /n/r%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        break;
    case 1:
        g->head = true;
        n = snprintf(g->text, sizeof(g->text), "HEAD /n/h%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        break;
    case 2:
        n = snprintf(g->text, sizeof(g->text),
                     "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%.*s", blen,
                     (int)blen, body);
        break;
    case 3: {
        /* Chunked, in two chunks. */
        size_t a = blen / 2;
        n = snprintf(g->text, sizeof(g->text),
                     "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "%zx\r\n%.*s\r\n%zx\r\n%.*s\r\n0\r\n\r\n",
                     a ? a : 1, (int)(a ? a : 1), body, blen - a + 1, (int)(blen - a + 1),
                     body + a);
        break;
    }
    case 4:
        n = snprintf(g->text, sizeof(g->text),
                     "POST /defer?ms=%u HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%.*s",
                     rnd(seed) % 4, blen, (int)blen, body);
        break;
    case 5:
        n = snprintf(g->text, sizeof(g->text), "GET /nowhere/%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        break;
    default: {
        static const int codes[] = { 200, 201, 202, 204, 301, 304, 404, 410, 418, 500, 503 };
        n = snprintf(g->text, sizeof(g->text), "DELETE /status/%d HTTP/1.1\r\nHost: t\r\n\r\n",
                     codes[rnd(seed) % (sizeof(codes) / sizeof(codes[0]))]);
        break;
    }
    }
    g->len = (size_t)n;
}

/* Runs the rounds against the server on port. */
static void differential(int port, unsigned seed) {
    enum { ROUNDS = 40, MAXREQ = 120 };
    static gen_req_t reqs[MAXREQ];
    for (int round = 0; round < ROUNDS; round++) {
        int nreq = 1 + (int)(rnd(&seed) % MAXREQ);
        for (int i = 0; i < nreq; i++)
            gen(&reqs[i], &seed, i);

        /* One by one, each answer read before the next request. */
        raw_t want = { 0 };
        int fd = fht_connect(port);
        cur_round = round;
        for (int i = 0; i < nreq; i++) {
            cur_req = i;
            fht_send(fd, reqs[i].text, reqs[i].len);
            read_one(fd, &want, reqs[i].head);
        }
        fht_close(fd);
        raw_put(&want, "", 1);
        want.len--;
        if (strstr(want.p, "HTTP/1.1 400 "))
            fail_msg("round %d: a generated request was refused", round);

        /* Pipelined: all the bytes, cut at random places, short pauses
         * between some pieces. */
        raw_t all = { 0 };
        for (int i = 0; i < nreq; i++)
            raw_put(&all, reqs[i].text, reqs[i].len);
        raw_t got = { 0 };
        fd = fht_connect(port);
        size_t off = 0;
        while (off < all.len) {
            size_t piece = 1 + rnd(&seed) % (rnd(&seed) % 3 == 0 ? 16 : 4096);
            if (piece > all.len - off)
                piece = all.len - off;
            fht_send(fd, all.p + off, piece);
            off += piece;
            if (rnd(&seed) % 8 == 0)
                usleep(rnd(&seed) % 2000);
        }
        read_bytes(fd, &got, want.len);
        assert_int_equal(fht_wait_closed(fd, 20), 0); /* nothing more, still open */
        fht_close(fd);

        mask_dates(&want);
        mask_dates(&got);
        if (memcmp(want.p, got.p, want.len) != 0) {
            size_t k = 0;
            while (want.p[k] == got.p[k])
                k++;
            fail_msg("round %d (%d requests): answers differ at byte %zu: want \"%.60s\" got "
                     "\"%.60s\"",
                     round, nreq, k, want.p + k, got.p + k);
        }
        free(want.p);
        free(got.p);
        free(all.p);
    }
}

static void test_pipelined_equals_one_by_one(void **state) {
    (void)state;
    differential(fht_port, 20261207u);
}

/* The same against a server that pauses reading after every third
 * unanswered request, so that pausing and resuming run all the time. */
static void test_pipelined_equals_one_by_one_small_cap(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    cfg.limits.max_pipelined = 3;
    fh_server_t *s = fht_server_start(&cfg);
    differential(fh_server_port(s), 7u);
    fht_server_stop(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_one_write),
        cmocka_unit_test(test_deep_bursts),
        cmocka_unit_test(test_deep_slow_reader),
        cmocka_unit_test(test_pipelined_equals_one_by_one),
        cmocka_unit_test(test_pipelined_equals_one_by_one_small_cap),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
