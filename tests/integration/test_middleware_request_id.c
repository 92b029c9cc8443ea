/* Request ids over real sockets: valid client ids kept, invalid ones
 * replaced, the generated form, uniqueness across two worker threads and
 * many connections, the id on error responses, the options, and the slot
 * key other modules read. */
#include <pthread.h>
#include <regex.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (fh_str_eq(fh_request_path(req), "/fail"))
        return -1;
    if (fh_str_eq(fh_request_path(req), "/problem"))
        return fh_send_problem(res, 422, NULL, NULL, NULL);
    /* The handler sees the id, directly and through the slot key. */
    const char *by_key = fh_request_get(req, fh_request_id_key());
    fh_str_t id = fh_request_id(req);
    if (!id.ptr)
        return fh_send_text(res, 200, "none");
    if (!by_key || strlen(by_key) != id.len || memcmp(by_key, id.ptr, id.len) != 0)
        return fh_send_text(res, 500, "slot mismatch");
    return fh_send_textf(res, 200, "%.*s", FH_STR_FMT(id));
}

static bool is_generated(const char *s) {
    regex_t re;
    assert_int_equal(regcomp(&re, "^[0-9a-f]{16}-[0-9a-f]{12}$", REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static void test_incoming_and_generated(void **state) {
    (void)state;
    fh_middleware_t m;
    assert_int_equal(fh_request_id_new(&m, NULL), 0);
    fht_start_chain(handler, NULL, 2, &m, 1);
    fht_response_t r;
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: abc-DEF_1.2:3+4/5=6@7\r\n\r\n", &r);
    assert_string_equal(r.body, "abc-DEF_1.2:3+4/5=6@7");
    assert_string_equal(fht_hdr(&r, "X-Request-ID"), "abc-DEF_1.2:3+4/5=6@7");
    fht_response_free(&r);
    /* Header names are case-insensitive. */
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nx-request-id: lower\r\n\r\n", &r);
    assert_string_equal(r.body, "lower");
    fht_response_free(&r);
    /* Invalid: a space, a quote, a byte over 0x7f, empty, too long. */
    const char *bad[] = { "has space", "q\"uote", "caf\xc3\xa9", "", NULL };
    for (int i = 0; bad[i]; i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: %s\r\n\r\n", bad[i]);
        fht_exchange(req, &r);
        assert_true(is_generated(r.body));
        assert_string_equal(fht_hdr(&r, "X-Request-ID"), r.body);
        fht_response_free(&r);
    }
    char req[512], longid[200];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: %s\r\n\r\n", longid);
    fht_exchange(req, &r);
    assert_true(is_generated(r.body));
    fht_response_free(&r);
    longid[128] = '\0'; /* exactly max_length is fine */
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: %s\r\n\r\n", longid);
    fht_exchange(req, &r);
    assert_string_equal(r.body, longid);
    fht_response_free(&r);
    /* Problem documents (json.h) carry it. */
    fht_exchange("GET /problem HTTP/1.1\r\nHost: t\r\nX-Request-ID: p-7\r\n\r\n", &r);
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "\"request_id\":\"p-7\""));
    fht_response_free(&r);
    /* The id is on error responses too. */
    fht_exchange("GET /fail HTTP/1.1\r\nHost: t\r\nX-Request-ID: err-1\r\n\r\n", &r);
    assert_int_equal(r.status, 500);
    assert_string_equal(fht_hdr(&r, "X-Request-ID"), "err-1");
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);
}

typedef struct client {
    int port;
    char ids[50][40];
} client_t;

/* One request on a fresh socket, read to the end of its body into body.
 * Plain sockets rather than testutil's per-fd buffers: connections open and
 * close on several threads at once here, and fd numbers get reused. */
static int raw_get(int port, char *body, size_t cap) {
    int fd = fht_connect_raw(port);
    if (fd < 0)
        return -1;
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char buf[2048];
    size_t len = 0;
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
        close(fd);
        return -1;
    }
    for (;;) { /* Connection: close, so the body ends at EOF */
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    const char *b = strstr(buf, "\r\n\r\n");
    if (!b)
        return -1;
    snprintf(body, cap, "%s", b + 4);
    return 0;
}

static void *client_main(void *p) {
    client_t *c = p;
    /* A new connection per request, so both workers get some. */
    for (int i = 0; i < 50; i++)
        if (raw_get(c->port, c->ids[i], sizeof(c->ids[i])) != 0)
            c->ids[i][0] = '\0';
    return NULL;
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

static void test_unique_across_threads(void **state) {
    (void)state;
    fh_middleware_t m;
    assert_int_equal(fh_request_id_new(&m, NULL), 0);
    fht_start_chain(handler, NULL, 2, &m, 1);
    enum { CLIENTS = 8 };
    static client_t c[CLIENTS];
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        c[i].port = fht_port;
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &c[i]), 0);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    fht_stop();
    fh_middleware_release(&m);
    static char all[CLIENTS * 50][40];
    for (int i = 0; i < CLIENTS; i++)
        for (int k = 0; k < 50; k++) {
            assert_true(is_generated(c[i].ids[k]));
            memcpy(all[i * 50 + k], c[i].ids[k], 40);
        }
    qsort(all, CLIENTS * 50, 40, cmp);
    int prefixes = 1;
    for (int i = 1; i < CLIENTS * 50; i++) {
        assert_string_not_equal(all[i - 1], all[i]); /* unique */
        if (strncmp(all[i - 1], all[i], 16) != 0)
            prefixes++;
    }
    assert_true(prefixes >= 1 && prefixes <= 2); /* one random prefix per worker */
}

static void test_options(void **state) {
    (void)state;
    fh_request_id_options_t o = { .header = "Trace-Id", .max_length = 4, .ignore_incoming = false };
    fh_middleware_t m;
    assert_int_equal(fh_request_id_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_response_t r;
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nTrace-Id: abcd\r\nX-Request-ID: other\r\n\r\n", &r);
    assert_string_equal(r.body, "abcd");
    assert_string_equal(fht_hdr(&r, "Trace-Id"), "abcd");
    assert_false(fht_header(&r, "X-Request-ID", NULL, 0));
    fht_response_free(&r);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nTrace-Id: abcde\r\n\r\n", &r);
    assert_true(is_generated(r.body));
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);

    o = (fh_request_id_options_t){ .ignore_incoming = true, .no_response_header = true };
    assert_int_equal(fh_request_id_new(&m, &o), 0);
    fht_start_chain(handler, NULL, 1, &m, 1);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: mine\r\n\r\n", &r);
    assert_true(is_generated(r.body));
    assert_false(fht_header(&r, "X-Request-ID", NULL, 0));
    fht_response_free(&r);
    fht_stop();
    fh_middleware_release(&m);

    /* Without the middleware there is no id. */
    fht_start_chain(handler, NULL, 1, NULL, 0);
    fht_exchange("GET / HTTP/1.1\r\nHost: t\r\nX-Request-ID: mine\r\n\r\n", &r);
    assert_string_equal(r.body, "none");
    fht_response_free(&r);
    fht_stop();

    o = (fh_request_id_options_t){ .header = "Bad Header" };
    assert_int_equal(fh_request_id_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "request_id.header: \"Bad Header\""));
    o = (fh_request_id_options_t){ .max_length = 5000 };
    assert_int_equal(fh_request_id_new(&m, &o), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "request_id.max_length: 5000"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incoming_and_generated),
        cmocka_unit_test(test_unique_across_threads),
        cmocka_unit_test(test_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
