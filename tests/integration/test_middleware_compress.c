/* gzip compression over real sockets: negotiation from Accept-Encoding
 * with q-values, the minimum size, skipped types, HEAD and bodyless
 * statuses, bodies that do not shrink, no-transform, an existing
 * Content-Encoding, ETag weakening, Vary, deferred responses, many
 * requests on two threads (one zlib stream each), and bad options. Bodies
 * are inflated with zlib and compared. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#if __has_include(<zlib.h>)
#include <zlib.h>
#define HAVE_ZLIB 1
#endif

#ifdef HAVE_ZLIB

static char text[8192];

static void make_text(void) {
    size_t n = 0;
    for (int i = 0; n + 64 < sizeof(text); i++)
        n +=
            (size_t)snprintf(text + n, sizeof(text) - n, "line %d: the quick brown fox jumps\n", i);
}

static void send_late(fh_response_t *res, void *data) {
    (void)data;
    fh_send(res, 200, "text/plain", text, 4000);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/text"))
        return fh_send(res, 200, "text/html; charset=utf-8", text, 4000);
    if (fh_str_eq(path, "/small"))
        return fh_send(res, 200, "text/plain", text, 1023);
    if (fh_str_eq(path, "/edge"))
        return fh_send(res, 200, "text/plain", text, 1024);
    if (fh_str_eq(path, "/png"))
        return fh_send(res, 200, "image/png", text, 4000);
    if (fh_str_eq(path, "/svg"))
        return fh_send(res, 200, "IMAGE/SVG+XML", text, 4000);
    if (fh_str_eq(path, "/untyped")) {
        fh_response_body(res, text, 4000);
        return 0;
    }
    if (fh_str_eq(path, "/random")) {
        /* Incompressible bytes: gzip would only add its framing. */
        char *b = fh_alloc(req, 4000);
        uint32_t x = 2463534242u;
        for (int i = 0; i < 4000; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b[i] = (char)x;
        }
        return fh_send(res, 200, "text/plain", b, 4000);
    }
    if (fh_str_eq(path, "/etag")) {
        fh_response_header(res, "ETag", "\"v1\"");
        return fh_send(res, 200, "text/plain", text, 4000);
    }
    if (fh_str_eq(path, "/weak-etag")) {
        fh_response_header(res, "ETag", "W/\"v1\"");
        return fh_send(res, 200, "text/plain", text, 4000);
    }
    if (fh_str_eq(path, "/no-transform")) {
        fh_response_header(res, "Cache-Control", "public, no-transform");
        return fh_send(res, 200, "text/plain", text, 4000);
    }
    if (fh_str_eq(path, "/encoded")) {
        fh_response_header(res, "Content-Encoding", "br");
        return fh_send(res, 200, "text/plain", text, 4000);
    }
    if (fh_str_eq(path, "/vary")) {
        fh_response_header(res, "Vary", "Cookie");
        return fh_send(res, 200, "text/plain", text, 4000);
    }
    if (fh_str_eq(path, "/nocontent")) {
        fh_response_status(res, 204);
        fh_response_body(res, text, 4000);
        return 0;
    }
    if (fh_str_eq(path, "/defer")) {
        fh_response_defer(res);
        return fht_later(res, 10, send_late, NULL);
    }
    return fh_send_status(res, 404);
}

static fh_middleware_t gz;

static int setup(void **state) {
    (void)state;
    make_text();
    assert_int_equal(fh_compress_new(&gz, NULL), 0);
    fht_start_chain(handler, NULL, 2, &gz, 1);
    return 0;
}

static int teardown(void **state) {
    fht_teardown(state);
    fh_middleware_release(&gz);
    return 0;
}

typedef struct reply {
    int status;
    bool gzip;
    char vary[128];
    char etag[64];
    size_t wire_len; /* Content-Length as sent */
    char *body;      /* inflated when gzip */
    size_t body_len;
} reply_t;

static void inflate_all(const char *in, size_t n, char **out, size_t *out_len) {
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK); /* gzip only */
    size_t cap = 65536;
    *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)*out;
    z.avail_out = (uInt)cap;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    inflateEnd(&z);
}

static reply_t ask(const char *method, const char *path, const char *accept) {
    char extra[256];
    snprintf(extra, sizeof(extra), "%s%s%s", accept ? "Accept-Encoding: " : "",
             accept ? accept : "", accept ? "\r\n" : "");
    fht_response_t r;
    fht_request(method, path, extra, &r);
    reply_t out;
    memset(&out, 0, sizeof(out));
    out.status = r.status;
    char v[64];
    if (fht_header(&r, "Content-Encoding", v, sizeof(v)))
        out.gzip = strcmp(v, "gzip") == 0;
    fht_header(&r, "Vary", out.vary, sizeof(out.vary));
    fht_header(&r, "ETag", out.etag, sizeof(out.etag));
    if (fht_header(&r, "Content-Length", v, sizeof(v)))
        out.wire_len = strtoul(v, NULL, 10);
    if (out.gzip && r.body_len) {
        inflate_all(r.body, r.body_len, &out.body, &out.body_len);
        free(r.body);
    } else {
        out.body = r.body;
        out.body_len = r.body_len;
    }
    return out;
}

static void expect_gzip(reply_t r, size_t original) {
    assert_int_equal(r.status, 200);
    assert_true(r.gzip);
    assert_string_equal(r.vary, "Accept-Encoding");
    assert_true(r.wire_len < original / 4); /* repetitive text shrinks a lot */
    assert_int_equal(r.body_len, original);
    assert_memory_equal(r.body, text, original);
    free(r.body);
}

static void expect_identity(reply_t r, size_t len, const char *vary) {
    assert_false(r.gzip);
    assert_string_equal(r.vary, vary);
    assert_int_equal(r.wire_len, len);
    if (r.body_len)
        assert_memory_equal(r.body, text, len);
    free(r.body);
}

static void test_negotiation(void **state) {
    (void)state;
    expect_gzip(ask("GET", "/text", "gzip"), 4000);
    expect_gzip(ask("GET", "/text", "gzip, deflate, br"), 4000);
    expect_gzip(ask("GET", "/text", "br;q=1.0, gzip;q=0.5"), 4000);
    expect_gzip(ask("GET", "/text", "GZIP;Q=0.001"), 4000);
    expect_gzip(ask("GET", "/text", "x-gzip"), 4000);
    expect_gzip(ask("GET", "/text", "*"), 4000);
    expect_gzip(ask("GET", "/text", "identity;q=0, gzip"), 4000);
    expect_gzip(ask("GET", "/text", "gzip ; q=1 , identity"), 4000);
    /* Refusals: gzip at q=0 wins over *, * at q=0, nothing usable. */
    expect_identity(ask("GET", "/text", "gzip;q=0"), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", "gzip;q=0.000, *"), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", "*;q=0"), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", "br, deflate"), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", "identity;q=0"), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", "gzip;q=2"), 4000, "Accept-Encoding"); /* malformed */
    expect_identity(ask("GET", "/text", ""), 4000, "Accept-Encoding");
    expect_identity(ask("GET", "/text", NULL), 4000, "Accept-Encoding");
}

static void test_what_is_skipped(void **state) {
    (void)state;
    expect_identity(ask("GET", "/small", "gzip"), 1023, ""); /* under min_size */
    expect_gzip(ask("GET", "/edge", "gzip"), 1024);
    expect_identity(ask("GET", "/png", "gzip"), 4000, ""); /* already compressed type */
    expect_gzip(ask("GET", "/svg", "gzip"), 4000);         /* the svg exception */
    expect_gzip(ask("GET", "/untyped", "gzip"), 4000);
    reply_t r = ask("GET", "/random", "gzip"); /* gzip would make it grow */
    assert_false(r.gzip);
    assert_string_equal(r.vary, "Accept-Encoding");
    assert_int_equal(r.wire_len, 4000);
    free(r.body);
    expect_identity(ask("GET", "/no-transform", "gzip"), 4000, "");
    r = ask("GET", "/encoded", "gzip");
    assert_false(r.gzip); /* Content-Encoding: br stays */
    assert_string_equal(r.vary, "");
    free(r.body);
    /* HEAD: the identity headers, and Vary. */
    r = ask("HEAD", "/text", "gzip");
    assert_false(r.gzip);
    assert_int_equal(r.wire_len, 4000);
    assert_string_equal(r.vary, "Accept-Encoding");
    free(r.body);
    r = ask("GET", "/nocontent", "gzip");
    assert_int_equal(r.status, 204);
    assert_false(r.gzip);
    free(r.body);
}

static void test_headers_adjusted(void **state) {
    (void)state;
    reply_t r = ask("GET", "/etag", "gzip");
    assert_true(r.gzip);
    assert_string_equal(r.etag, "W/\"v1\"");
    free(r.body);
    r = ask("GET", "/etag", NULL);
    assert_string_equal(r.etag, "\"v1\""); /* identity keeps the strong tag */
    free(r.body);
    r = ask("GET", "/weak-etag", "gzip");
    assert_string_equal(r.etag, "W/\"v1\"");
    free(r.body);
    r = ask("GET", "/vary", "gzip");
    assert_true(r.gzip);
    assert_string_equal(r.vary, "Cookie, Accept-Encoding");
    free(r.body);
}

static void test_deferred(void **state) {
    (void)state;
    expect_gzip(ask("GET", "/defer", "gzip"), 4000);
}

static void *client_main(void *p) {
    int port = *(int *)p;
    int fd = fht_connect(port);
    int ok = 0;
    /* Pipelined pairs: compressed and not, on one connection. */
    for (int i = 0; i < 50; i++) {
        fht_send_str(fd, "GET /text HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
                         "GET /text HTTP/1.1\r\nHost: t\r\n\r\n");
        for (int k = 0; k < 2; k++) {
            fht_response_t r;
            if (fht_read_response(fd, &r, 0) != 0)
                break;
            char v[16];
            if (fht_header(&r, "Content-Encoding", v, sizeof(v))) {
                z_stream z;
                memset(&z, 0, sizeof(z));
                char out[8192];
                inflateInit2(&z, 31);
                z.next_in = (Bytef *)r.body;
                z.avail_in = (uInt)r.body_len;
                z.next_out = (Bytef *)out;
                z.avail_out = sizeof(out);
                if (k == 0 && inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == 4000 &&
                    memcmp(out, text, 4000) == 0)
                    ok++;
                inflateEnd(&z);
            } else if (k == 1 && r.body_len == 4000 && memcmp(r.body, text, 4000) == 0) {
                ok++;
            }
            fht_response_free(&r);
        }
    }
    fht_close(fd);
    return (void *)(intptr_t)ok;
}

static void test_threads(void **state) {
    (void)state;
    int port = fht_port;
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &port), 0);
    intptr_t total = 0;
    for (int i = 0; i < 8; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        total += (intptr_t)ok;
    }
    assert_int_equal(total, 8 * 50 * 2);
}

static void test_options(void **state) {
    (void)state;
    fh_middleware_t m;
    fh_compress_options_t o = { .level = 10 };
    assert_int_equal(fh_compress_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "compress.level: 10"));
    const char *bad[] = { "text/", "", NULL };
    o = (fh_compress_options_t){ .skip_types = bad };
    assert_int_equal(fh_compress_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "compress.skip_types[1]"));

    /* Custom options on a server of their own: level 1, min 100 bytes,
     * only text/html skipped (so images are compressed, svg is not
     * special). */
    const char *skip[] = { "text/html", NULL };
    o = (fh_compress_options_t){ .level = 1, .min_size = 100, .skip_types = skip };
    assert_int_equal(fh_compress_new(&m, &o), 0);
    fh_chain_t *c;
    assert_int_equal(fh_chain_new(&c, handler, NULL), 0);
    assert_int_equal(fh_chain_use(c, &m), 0);
    fh_server_t *saved = fht_server;
    int saved_port = fht_port;
    fht_start_handler(fh_chain_handle, c, 1);
    expect_identity(ask("GET", "/text", "gzip"), 4000, ""); /* text/html skipped */
    expect_gzip(ask("GET", "/png", "gzip"), 4000);
    expect_gzip(ask("GET", "/small", "gzip"), 1023);
    fht_server_stop(fht_server);
    fht_server = saved;
    fht_port = saved_port;
    fh_chain_free(c);
    fh_middleware_release(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),      cmocka_unit_test(test_what_is_skipped),
        cmocka_unit_test(test_headers_adjusted), cmocka_unit_test(test_deferred),
        cmocka_unit_test(test_threads),          cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else /* no zlib */

static void test_without_zlib(void **state) {
    (void)state;
    fh_middleware_t m;
    assert_int_equal(fh_compress_new(&m, NULL), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "without zlib"));
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_without_zlib) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
