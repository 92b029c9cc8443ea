/* Requests built by hand for unit tests (no socket): a server and worker
 * that are only data, a protocol side (fx_ops) that releases a request when
 * its response is final unless the test holds it, a request over given
 * method, path, headers and body, and the bytes of its response captured
 * when the request is released. */
#ifndef FH_TEST_REQUEST_FIXTURE_H
#define FH_TEST_REQUEST_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/json.h"
#include "core/request.h"
#include "core/worker.h"

static fh_server_t fx_server;
static fh__worker_t fx_worker;
static char fx_out[1 << 16];
static size_t fx_out_len;
static int fx_released;
static unsigned fx_flags; /* the captured response's flags: its request is gone */

/* Done hook: copies the serialized response before the arena goes. */
static inline void fx_capture(fh_request_t *req, void *data) {
    (void)data;
    fx_flags = req->res.flags;
    fx_out_len = 0;
    for (unsigned i = 0; i < req->res.nout; i++) {
        assert_true(fx_out_len + req->res.out[i].len < sizeof(fx_out));
        memcpy(fx_out + fx_out_len, req->res.out[i].base, req->res.out[i].len);
        fx_out_len += req->res.out[i].len;
    }
    fx_out[fx_out_len] = '\0';
    fx_released++;
}

/* The protocol's side: a final response of a request the test holds
 * (fx_hold) waits for fx_release, as a connection waits for the bytes to be
 * written; any other is released at once. */
static inline void fx_finished(fh_request_t *req) {
    if (!req->conn)
        fh__request_release(req);
}
static const fh__request_ops_t fx_ops = { .finished = fx_finished };

static inline int fx_setup(void **state) {
    (void)state;
    memset(&fx_server, 0, sizeof(fx_server));
    memset(&fx_worker, 0, sizeof(fx_worker));
    fx_server.server_line = "Server: t\r\n";
    fx_server.server_line_len = strlen(fx_server.server_line);
    fx_worker.server = &fx_server;
    fh__date_update(&fx_worker.date, 784111777);
    return fh_arena_cache_new(&fx_worker.arena_cache, 0, 0);
}

static inline int fx_teardown(void **state) {
    (void)state;
    fh_arena_cache_free(fx_worker.arena_cache);
    return 0;
}

/* A request as the parser would leave it. headers: name, value pairs ending
 * with NULL (may be NULL). body may be NULL (no body). Every string must
 * outlive the request (literals). */
static inline fh_request_t *fx_request(fh_method_t m, const char *path, const char *const *headers,
                                       const char *body) {
    fh_arena_t *a;
    assert_int_equal(fh_arena_new(&a, fx_worker.arena_cache), 0);
    fh_request_t *req = fh_arena_calloc(a, 1, sizeof(*req));
    assert_non_null(req);
    req->arena = a;
    req->worker = &fx_worker;
    req->ops = &fx_ops;
    req->method = (uint8_t)m;
    req->method_str = fh_str(fh_method_name(m));
    req->version = 11;
    req->flags = FH__REQ_KEEP_ALIVE | FH__REQ_VERSION;
    req->state = FH__RS_HANDLING;
    fh__response_init(req);
    req->target = fh_str(path);
    const char *q = strchr(path, '?');
    req->path = (fh_str_t){ path, q ? (size_t)(q - path) : strlen(path) };
    if (q)
        req->query = fh_str(q + 1);
    uint32_t n = 0;
    while (headers && headers[2 * n])
        n++;
    req->headers = fh_arena_calloc(a, n ? n : 1, sizeof(fh__header_t));
    for (uint32_t i = 0; i < n; i++) {
        req->headers[i].name = fh_str(headers[2 * i]);
        req->headers[i].value = fh_str(headers[2 * i + 1]);
    }
    req->nheaders = req->cap_headers = n;
    req->body = body ? fh_str(body) : FH_STR_LIT("");
    fh_request_on_done(req, fx_capture, NULL);
    return req;
}

/* Keeps the request alive after its response is final, as a connection
 * does until the bytes are written (fx_release then captures them). */
static inline void fx_hold(fh_request_t *req) {
    static char fake_conn; /* never dereferenced: fx_ops holds no connection */
    req->conn = (fh__conn_t *)(void *)&fake_conn;
}

/* Releases a request whose response was never ended (or held). */
static inline void fx_release(fh_request_t *req) { fh__request_release(req); }

/* The captured response's status code. */
static inline int fx_status(void) {
    assert_true(fx_out_len > 12);
    return atoi(fx_out + 9);
}

/* The captured response's body (NUL-terminated, in fx_out). */
static inline const char *fx_body(void) {
    const char *p = strstr(fx_out, "\r\n\r\n");
    assert_non_null(p);
    return p + 4;
}

/* The value of a header in the captured response, copied into a static
 * buffer; NULL when absent. */
static inline const char *fx_header(const char *name) {
    static char value[512];
    size_t n = strlen(name);
    const char *p = strstr(fx_out, "\r\n");
    const char *end = strstr(fx_out, "\r\n\r\n");
    while (p && p < end) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t len = (size_t)(e - v);
            assert_true(len < sizeof(value));
            memcpy(value, v, len);
            value[len] = '\0';
            return value;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/* Parses the captured body as JSON (on the heap: decref it). */
static inline json_t *fx_json_body(void) {
    json_error_t e;
    fh_json_scope_t s = fh_json_heap_begin();
    json_t *v = json_loads(fx_body(), 0, &e);
    fh_json_scope_end(s);
    if (!v)
        fail_msg("response body is not JSON (%s): %s", e.text, fx_body());
    return v;
}

#endif
