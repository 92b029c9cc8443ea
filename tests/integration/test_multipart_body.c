/* fh_request_multipart (multipart.h) over real sockets: a streamed
 * multipart/form-data body parsed whole, sent with a Content-Length or
 * chunked; a route whose callbacks pause on every call and resume from a
 * timer on the request's loop gets every byte, in order; a malformed body
 * is answered 400 with its reason, a limit 413 (at the limit: 201; far
 * past it, as soon as it is crossed), a Content-Type that is not a form
 * 415, a form without a body 400, and in each case done runs once with
 * that status; a client that leaves mid-form (reading or paused) gives
 * done FH_ECANCELED once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static atomic_int pauses, done_ok, done_400, done_413, done_415, done_cancel, done_other;

/* A file part may hold at most this many bytes. */
#define FILE_MAX 100000u

/* One form: what arrived, as a checksum (FNV-1a) over each part's name
 * then its value or data, in order. */
typedef struct form {
    fh_request_t *req;
    fh_response_t *res;
    uint64_t sum, bytes;
    unsigned parts, pauses;
    bool slow, timer, gone;
} form_t;

static uint64_t fnv(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void resume_later(fh_response_t *res, void *data) {
    form_t *f = data;
    f->timer = false;
    if (f->gone) {
        fh_response_end(res); /* the client left while the timer ran */
        return;
    }
    int rc = fh_request_multipart_resume(f->req);
    assert_true(rc == 0 || rc == FH_ENOTCONN);
}

/* The slow route pauses after every callback, for 1 ms of "work". */
static int maybe_pause(form_t *f) {
    if (!f->slow)
        return FH_MULTIPART_CONTINUE;
    if (fht_later(f->res, 1, resume_later, f) != 0)
        return FH_ENOMEM;
    f->timer = true;
    f->pauses++;
    atomic_fetch_add(&pauses, 1);
    return FH_MULTIPART_PAUSE;
}

static int part_begin(const fh_multipart_part_t *part, void *data) {
    form_t *f = data;
    f->sum = fnv(f->sum, part->name.ptr, part->name.len);
    return maybe_pause(f);
}

static int part_data(const fh_multipart_part_t *part, fh_str_t chunk, void *data) {
    (void)part;
    form_t *f = data;
    f->sum = fnv(f->sum, chunk.ptr, chunk.len);
    f->bytes += chunk.len;
    return maybe_pause(f);
}

static int part_end(const fh_multipart_part_t *part, fh_str_t value, void *data) {
    form_t *f = data;
    if (!part->is_file) {
        f->sum = fnv(f->sum, value.ptr, value.len);
        f->bytes += value.len;
    }
    f->parts++;
    return maybe_pause(f);
}

static const fh_multipart_callbacks_t callbacks = { part_begin, part_data, part_end };
static const fh_multipart_limits_t limits = { .max_file_bytes = FILE_MAX };

static void form_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    form_t *f = data;
    switch (status) {
    case 0:
        atomic_fetch_add(&done_ok, 1);
        fh_send_textf(res, 201, "parts=%u bytes=%llu sum=%016llx", f->parts,
                      (unsigned long long)f->bytes, (unsigned long long)f->sum);
        return;
    case 400: atomic_fetch_add(&done_400, 1); return;
    case 413: atomic_fetch_add(&done_413, 1); return;
    case 415: atomic_fetch_add(&done_415, 1); return;
    case FH_ECANCELED:
        atomic_fetch_add(&done_cancel, 1);
        f->gone = true;
        if (!f->timer)
            fh_response_end(res);
        return;
    default: atomic_fetch_add(&done_other, 1); return;
    }
}

static int post_form(fh_request_t *req, fh_response_t *res, void *data) {
    form_t *f = fh_alloc(req, sizeof(*f));
    if (!f)
        return FH_ENOMEM;
    *f = (form_t){ .req = req, .res = res, .sum = 14695981039346656037ull, .slow = data != NULL };
    fh_multipart_t *mp = NULL;
    return fh_request_multipart(req, res, &limits, &callbacks, form_done, f, &mp);
}

static int slow_tag;
static const fh_body_options_t body_max = { .max_bytes = 64u << 20 };
static const fh_route_t routes[] = {
    FH_ROUTE_STREAM(FH_METHOD_POST, "/form", post_form, NULL, &body_max),
    FH_ROUTE_STREAM(FH_METHOD_POST, "/slow", post_form, &slow_tag, &body_max),
    FH_ROUTES_END,
};

static fh_router_t *router;

static int setup(void **state) {
    (void)state;
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_mount(router, "/", routes, NULL), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.threads = 1;
    cfg.limits.max_body = 64 << 10; /* far below what streams */
    fht_start_router(&cfg, router);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_router_free(router);
    return 0;
}

/* A form: field a=hello, file f (n bytes of a pattern), field b=world;
 * *len its size, *want the answer the server must give. malloc'ed. */
static char *make_form(size_t n, size_t *len, char want[96]) {
    static const char head[] =
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
        "filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    static const char tail[] =
        "\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nworld\r\n--XyZ--\r\n";
    size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
    char *b = malloc(hl + n + tl);
    assert_non_null(b);
    memcpy(b, head, hl);
    for (size_t i = 0; i < n; i++)
        b[hl + i] = (char)('a' + (i * 7 + i / 251) % 26);
    memcpy(b + hl + n, tail, tl);
    *len = hl + n + tl;
    uint64_t h = 14695981039346656037ull;
    h = fnv(h, "a", 1);
    h = fnv(h, "hello", 5);
    h = fnv(h, "f", 1);
    h = fnv(h, b + hl, n);
    h = fnv(h, "b", 1);
    h = fnv(h, "world", 5);
    snprintf(want, 96, "parts=3 bytes=%zu sum=%016llx", n + 10, (unsigned long long)h);
    return b;
}

static const char form_type[] = "Content-Type: multipart/form-data; boundary=XyZ\r\n";

/* Sends the form with a Content-Length to path; returns the response. */
static void send_length(const char *path, const char *body, size_t len, fht_response_t *r) {
    char head[256];
    int hl =
        snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n",
                 path, form_type, len);
    int fd = fht_connect(fht_port);
    fht_send(fd, head, (size_t)hl);
    fht_send_async(fd, body, len);
    assert_int_equal(fht_read_response(fd, r, 0), 0);
    fht_send_async_join();
    fht_close(fd);
}

/* The same, chunked, in chunks of 1 and 7001 bytes in turn. */
static void send_chunked(const char *path, const char *body, size_t len, fht_response_t *r) {
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST %s HTTP/1.1\r\nHost: t\r\n%sTransfer-Encoding: chunked\r\n\r\n", path,
                      form_type);
    int fd = fht_connect(fht_port);
    fht_send(fd, head, (size_t)hl);
    for (size_t off = 0, k = 0; off < len; k++) {
        size_t n = k % 2 == 0 ? 1 : 7001;
        if (n > len - off)
            n = len - off;
        char line[32];
        int ll = snprintf(line, sizeof(line), "%zx\r\n", n);
        fht_send(fd, line, (size_t)ll);
        fht_send(fd, body + off, n);
        fht_send(fd, "\r\n", 2);
        off += n;
    }
    fht_send_str(fd, "0\r\n\r\n");
    assert_int_equal(fht_read_response(fd, r, 0), 0);
    fht_close(fd);
}

/* Waits for *counter to reach want, then checks that it stays there. */
static void expect_once(atomic_int *counter, int want) {
    fht_wait_for(counter, want);
    usleep(50000);
    assert_int_equal(atomic_load(counter), want);
    assert_int_equal(atomic_load(&done_other), 0);
}

static void test_whole(void **state) {
    (void)state;
    const char *paths[] = { "/form", "/slow" };
    size_t sizes[] = { 0, 1, 65536, FILE_MAX };
    for (size_t p = 0; p < 2; p++)
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            size_t len;
            char want[96];
            char *b = make_form(sizes[k], &len, want);
            for (int chunked = 0; chunked < 2; chunked++) {
                int ok = atomic_load(&done_ok) + 1, paused = atomic_load(&pauses);
                fht_response_t r;
                if (chunked)
                    send_chunked(paths[p], b, len, &r);
                else
                    send_length(paths[p], b, len, &r);
                assert_int_equal(r.status, 201);
                assert_string_equal(r.body, want);
                fht_response_free(&r);
                expect_once(&done_ok, ok);
                /* The slow route paused at each part's begin and end, and
                 * at each piece of the file's data. */
                if (p == 1)
                    assert_true(atomic_load(&pauses) - paused >= 6 + (sizes[k] > 0));
                else
                    assert_int_equal(atomic_load(&pauses), paused);
            }
            free(b);
        }
}

static void test_malformed(void **state) {
    (void)state;
    static const char *bodies[] = {
        /* no name */
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--\r\n",
        /* the body ends before the final delimiter */
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhello",
    };
    static const char *reasons[] = { "\"no_name\"", "\"truncated\"" };
    const char *paths[] = { "/form", "/slow" };
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < 2; i++) {
            int want = atomic_load(&done_400) + 1;
            fht_response_t r;
            send_length(paths[p], bodies[i], strlen(bodies[i]), &r);
            assert_int_equal(r.status, 400);
            assert_non_null(strstr(r.body, reasons[i]));
            fht_response_free(&r);
            expect_once(&done_400, want);
        }
    /* A form without a body. */
    int want = atomic_load(&done_400) + 1;
    fht_response_t r;
    char raw[256];
    snprintf(raw, sizeof(raw), "POST /form HTTP/1.1\r\nHost: t\r\n%sContent-Length: 0\r\n\r\n",
             form_type);
    fht_exchange(raw, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"no_delimiter\""));
    fht_response_free(&r);
    expect_once(&done_400, want);
}

static void test_limit(void **state) {
    (void)state;
    /* One byte past the file limit, sent whole; and far past it, a form
     * declared with a 1 MiB file of which the client sends 150,000 bytes
     * (the first 50,000 past the limit), then waits: the answer comes as
     * soon as the limit is crossed, not at the body's end. */
    size_t sizes[] = { FILE_MAX + 1, 1u << 20 };
    const char *paths[] = { "/form", "/slow" };
    for (size_t p = 0; p < 2; p++)
        for (size_t k = 0; k < 2; k++) {
            size_t len;
            char want[96];
            char *b = make_form(sizes[k], &len, want);
            size_t sent = k == 0 ? len : 150000;
            int n = atomic_load(&done_413) + 1;
            char head[256];
            int hl = snprintf(head, sizeof(head),
                              "POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n",
                              paths[p], form_type, len);
            int fd = fht_connect(fht_port);
            fht_send(fd, head, (size_t)hl);
            fht_send(fd, b, sent);
            fht_response_t r;
            assert_int_equal(fht_read_response(fd, &r, 0), 0);
            assert_int_equal(r.status, 413);
            assert_non_null(strstr(r.body, "\"file_too_big\""));
            fht_response_free(&r);
            fht_close(fd);
            expect_once(&done_413, n);
            free(b);
        }
}

static void test_not_a_form(void **state) {
    (void)state;
    int want = atomic_load(&done_415) + 1;
    fht_response_t r;
    fht_exchange("POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 5\r\n\r\nhello",
                 &r);
    assert_int_equal(r.status, 415);
    assert_string_equal(fht_hdr(&r, "Accept"), "multipart/form-data");
    assert_non_null(strstr(r.body, "\"not_multipart\""));
    fht_response_free(&r);
    expect_once(&done_415, want);
    /* A bad boundary: 400. */
    want = atomic_load(&done_400) + 1;
    fht_exchange("POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data\r\n"
                 "Content-Length: 5\r\n\r\nhello",
                 &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"no_boundary\""));
    fht_response_free(&r);
    expect_once(&done_400, want);
}

static void test_client_leaves(void **state) {
    (void)state;
    const char *paths[] = { "/form", "/slow" };
    for (size_t p = 0; p < 2; p++) {
        size_t len;
        char want[96];
        char *b = make_form(FILE_MAX, &len, want);
        int n = atomic_load(&done_cancel) + 1;
        int ok = atomic_load(&done_ok);
        char head[256];
        int hl = snprintf(head, sizeof(head),
                          "POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n\r\n", paths[p],
                          form_type, len);
        int fd = fht_connect(fht_port);
        fht_send(fd, head, (size_t)hl);
        fht_send(fd, b, len / 2);
        usleep(50000);
        fht_close(fd);
        expect_once(&done_cancel, n);
        assert_int_equal(atomic_load(&done_ok), ok);
        free(b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),         cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limit),         cmocka_unit_test(test_not_a_form),
        cmocka_unit_test(test_client_leaves),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
