/* The server's error handler (cfg.error_handler) over real sockets: the
 * core's own refusals (400, 408, 413, 414, 417, 431, 501, 505) as problem
 * documents with Connection: close; an error chain with the access log and
 * request ids that logs them with "-" for what was never parsed, and with
 * their latency; every request accessor on half-parsed requests; a hook
 * that tries to defer, stream, take over, send raw bytes, change the status
 * or fail, and gets the core's answer or status back; a body borrowed from
 * the request's bytes; garbage and mutated requests by the hundred with the
 * hook reading every view (run under AddressSanitizer, this is where an
 * out-of-bounds read would show); and the unchanged answer without a
 * hook. */
#include <pthread.h>
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

#include "log_capture.h"
#include "testutil.h"

/* ------------------------------------------------------------ the app */

static int app(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "ok");
}

/* What the probing hook saw of the last request, copied out. */
typedef struct seen {
    int calls;
    int status; /* on res when the hook ran */
    bool method_absent, target_absent, path_absent;
    char method[64], target[64], path[64], host[64], ctype[64];
    int method_id, version;
    size_t headers, body_len;
    bool keep_alive, has_ip, has_start;
} seen_t;

static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static seen_t seen;

static void copy_view(char *dst, size_t cap, fh_str_t s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (s.ptr && n)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

/* Reads every byte of a view: AddressSanitizer catches a view that points
 * outside live memory. */
static unsigned touch(fh_str_t s) {
    unsigned sum = 0;
    for (size_t i = 0; s.ptr && i < s.len; i++)
        sum += (unsigned char)s.ptr[i];
    return sum;
}

/* Calls every request accessor. Returns a checksum so nothing is optimized
 * away. */
static unsigned probe_all(fh_request_t *req, fh_response_t *res) {
    unsigned sum = 0;
    sum += touch(fh_request_method(req));
    sum += (unsigned)fh_request_method_id(req);
    sum += touch(fh_request_target(req));
    sum += touch(fh_request_path(req));
    sum += touch(fh_request_path_decoded(req));
    sum += touch(fh_request_query_string(req));
    sum += touch(fh_request_query(req, "a"));
    sum += (unsigned)fh_request_version(req);
    sum += touch(fh_request_header(req, "Host"));
    sum += touch(fh_request_header_nth(req, "X-A", 1));
    fh_str_t name, value;
    for (size_t i = 0; fh_request_header_at(req, i, &name, &value); i++)
        sum += touch(name) + touch(value);
    sum += (unsigned)fh_request_header_count(req);
    sum += touch(fh_request_body(req));
    sum += fh_request_keep_alive(req);
    struct sockaddr_storage ss;
    sum += (unsigned)fh_request_remote_addr(req, &ss);
    sum += touch(fh_request_remote_ip(req));
    sum += touch(fh_request_param(req, "id"));
    sum += (unsigned)fh_request_param_count(req);
    sum += fh_request_param_at(req, 0, &name, &value);
    sum += fh_request_get(req, &seen) != NULL;
    sum += fh_request_start_ns(req) != 0;
    sum += (unsigned)fh_response_get_status(res);
    sum += touch(fh_response_get_body(res));
    return sum;
}

static int probe_hook(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    probe_all(req, res);
    pthread_mutex_lock(&seen_lock);
    seen.calls++;
    seen.status = fh_response_get_status(res);
    seen.method_absent = fh_request_method(req).ptr == NULL;
    seen.target_absent = fh_request_target(req).ptr == NULL;
    seen.path_absent = fh_request_path(req).ptr == NULL;
    copy_view(seen.method, sizeof(seen.method), fh_request_method(req));
    copy_view(seen.target, sizeof(seen.target), fh_request_target(req));
    copy_view(seen.path, sizeof(seen.path), fh_request_path(req));
    copy_view(seen.host, sizeof(seen.host), fh_request_header(req, "Host"));
    copy_view(seen.ctype, sizeof(seen.ctype), fh_response_header_get(res, "Content-Type"));
    seen.method_id = (int)fh_request_method_id(req);
    seen.version = fh_request_version(req);
    seen.headers = fh_request_header_count(req);
    seen.body_len = fh_request_body(req).len;
    seen.keep_alive = fh_request_keep_alive(req);
    seen.has_ip = fh_request_remote_ip(req).ptr != NULL;
    seen.has_start = fh_request_start_ns(req) != 0;
    pthread_mutex_unlock(&seen_lock);
    return fh_json_error_handler(req, res, NULL);
}

static seen_t seen_get(void) {
    pthread_mutex_lock(&seen_lock);
    seen_t s = seen;
    pthread_mutex_unlock(&seen_lock);
    return s;
}

static void seen_reset(void) {
    pthread_mutex_lock(&seen_lock);
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_unlock(&seen_lock);
}

/* ------------------------------------------------------------ servers */

static void start(fh_handler_fn hook, void *hook_data, uint32_t header_ms) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = app;
    cfg.threads = 1;
    cfg.error_handler = hook;
    cfg.error_handler_data = hook_data;
    cfg.limits.max_body = 4096;
    cfg.limits.max_target = 1024;
    cfg.limits.max_header_bytes = 8192;
    cfg.limits.max_headers = 8;
    cfg.timeouts.header_ms = header_ms ? header_ms : 5000;
    fht_start(&cfg);
    seen_reset();
}

static void stop(void) { fht_stop(); }

/* Sends raw on a new connection, reads one response, and checks that the
 * server then closes the connection (close) or keeps it open. */
static void ask(const char *raw, size_t len, fht_response_t *r, bool close) {
    int fd = fht_connect(fht_port);
    fht_send(fd, raw, len);
    assert_int_equal(fht_read_response(fd, r, 0), 0);
    assert_int_equal(fht_wait_closed(fd, close ? 3000 : 100), close ? 1 : 0);
    fht_close(fd);
}

/* ask for a refusal: the connection closes. */
static void ask_str(const char *raw, fht_response_t *r) { ask(raw, strlen(raw), r, true); }

/* Checks r is the problem document of status, closing the connection when
 * close; returns it (decref it). */
static json_t *expect_problem(const fht_response_t *r, int status, bool close) {
    assert_int_equal(r->status, status);
    assert_string_equal(fht_hdr(r, "Content-Type"), "application/problem+json");
    if (close)
        assert_string_equal(fht_hdr(r, "Connection"), "close");
    else
        assert_string_equal(fht_hdr(r, "Connection"), "");
    json_error_t je;
    json_t *p = json_loadb(r->body, r->body_len, 0, &je);
    assert_non_null(p);
    assert_string_equal(json_string_value(json_object_get(p, "type")), "about:blank");
    assert_string_equal(json_string_value(json_object_get(p, "title")), fh_status_reason(status));
    assert_int_equal(json_integer_value(json_object_get(p, "status")), status);
    return p;
}

static char *repeat(char c, size_t n) {
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* ------------------------------------------------------------- tests */

/* Without a hook nothing changes: the core's short text answer. */
static void test_no_hook(void **state) {
    (void)state;
    start(NULL, NULL, 0);
    fht_response_t r;
    ask_str("\x16\x03\x01 garbage\r\n\r\n", &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(fht_hdr(&r, "Connection"), "close");
    assert_string_equal(r.body, "Bad Request");
    fht_response_free(&r);
    const char *propfind = "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n";
    ask(propfind, strlen(propfind), &r, false);
    assert_int_equal(r.status, 501);
    assert_string_equal(r.body, "Not Implemented");
    fht_response_free(&r);
    stop();
}

/* Each refusal of the core, as a problem document with fh_json_error_handler
 * as the hook, and what the hook saw of the request. */
static void test_json_refusals(void **state) {
    (void)state;
    start(probe_hook, NULL, 0);
    fht_response_t r;
    json_t *p;

    /* Garbage: nothing of a request line. */
    ask_str("\x16\x03\x01\x02\x00 hello\r\n\r\n", &r);
    p = expect_problem(&r, 400, true);
    assert_null(json_object_get(p, "instance"));
    json_decref(p);
    fht_response_free(&r);
    seen_t s = seen_get();
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, 400);
    assert_string_equal(s.ctype, "text/plain; charset=utf-8"); /* the core's answer */
    assert_true(s.method_absent);
    assert_true(s.target_absent);
    assert_true(s.path_absent);
    assert_int_equal(s.method_id, FH_METHOD_OTHER);
    assert_int_equal(s.version, 0);
    assert_int_equal(s.headers, 0);
    assert_false(s.keep_alive);
    assert_true(s.has_ip);
    assert_true(s.has_start);

    /* 413: the head is whole, the body too large. */
    ask_str("POST /upload?a=1 HTTP/1.1\r\nHost: h1\r\nContent-Length: 999999\r\n\r\n", &r);
    p = expect_problem(&r, 413, true);
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "/upload");
    json_decref(p);
    fht_response_free(&r);
    s = seen_get();
    assert_string_equal(s.method, "POST");
    assert_int_equal(s.method_id, FH_METHOD_POST);
    assert_string_equal(s.target, "/upload?a=1");
    assert_string_equal(s.path, "/upload");
    assert_string_equal(s.host, "h1");
    assert_int_equal(s.version, 11);
    assert_int_equal(s.headers, 2);
    assert_false(s.keep_alive); /* the connection closes after the refusal */

    /* 431: too many header fields. */
    ask_str("GET /h HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n"
            "F: 6\r\nG: 7\r\nH: 8\r\n\r\n",
            &r);
    json_decref(expect_problem(&r, 431, true));
    fht_response_free(&r);
    s = seen_get();
    assert_string_equal(s.method, "GET");
    assert_string_equal(s.target, "/h");
    assert_true(s.path_absent); /* the target is split once the head is whole */
    assert_int_equal(s.version, 0);

    /* 431: a header section over max_header_bytes, still incomplete. */
    char *big = repeat('b', 9000);
    char raw[9200];
    snprintf(raw, sizeof(raw), "GET /big HTTP/1.1\r\nHost: a\r\nX-Big: %s", big);
    free(big);
    ask_str(raw, &r);
    json_decref(expect_problem(&r, 431, true));
    fht_response_free(&r);

    /* 414. */
    char *longt = repeat('t', 1100);
    snprintf(raw, sizeof(raw), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n", longt);
    free(longt);
    ask_str(raw, &r);
    json_decref(expect_problem(&r, 414, true));
    fht_response_free(&r);

    /* 505, for a version after the request line, and as llhttp refuses it. */
    ask_str("GET /v HTTP/3.0\r\nHost: a\r\n\r\n", &r);
    json_decref(expect_problem(&r, 505, true));
    fht_response_free(&r);
    s = seen_get();
    assert_int_equal(s.version, 0);
    ask_str("GET /v HTTP/2.0\r\nHost: a\r\n\r\n", &r);
    json_decref(expect_problem(&r, 505, true));
    fht_response_free(&r);

    /* 417 and 400 found in the head's fields. */
    ask_str("PUT /e HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", &r);
    json_decref(expect_problem(&r, 417, true));
    fht_response_free(&r);
    ask_str("GET /nohost HTTP/1.1\r\n\r\n", &r);
    p = expect_problem(&r, 400, true);
    json_decref(p);
    fht_response_free(&r);

    /* 501 for a method token nobody knows: a parse error, closing. */
    ask_str("BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", &r);
    json_decref(expect_problem(&r, 501, true));
    fht_response_free(&r);
    /* 501 for a method llhttp knows and we serve not: the request is whole,
     * the connection stays open. */
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    p = expect_problem(&r, 501, false);
    assert_string_equal(json_string_value(json_object_get(p, "instance")), "/dav");
    json_decref(p);
    fht_response_free(&r);
    s = seen_get();
    assert_string_equal(s.method, "PROPFIND");
    assert_int_equal(s.version, 11);
    assert_true(s.keep_alive);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    fht_response_free(&r);
    fht_close(fd);

    /* A bad chunk after a partial body. */
    ask_str("POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\nzz\r\n",
            &r);
    json_decref(expect_problem(&r, 400, true));
    fht_response_free(&r);
    s = seen_get();
    assert_string_equal(s.path, "/c");
    assert_int_equal(s.body_len, 3);

    /* Requests the handler answers never meet the hook. */
    int calls = seen_get().calls;
    const char *fine = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    ask(fine, strlen(fine), &r, false);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    assert_int_equal(seen_get().calls, calls);
    stop();
}

/* Slowloris: the head never ends; 408 as a problem document. */
static void test_json_timeout(void **state) {
    (void)state;
    start(probe_hook, NULL, 300);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /slow HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Trickle: ab");
    uint64_t t0 = fht_now_ms();
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_true(fht_now_ms() - t0 >= 250);
    json_decref(expect_problem(&r, 408, true));
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 3000), 1);
    fht_close(fd);
    seen_t s = seen_get();
    assert_string_equal(s.method, "GET");
    assert_string_equal(s.target, "/slow");
    assert_string_equal(s.host, "a");
    stop();
}

/* --------------------------------------------- an error chain with logs */

static fh_middleware_t access_log, request_id;
static fh_chain_t *errors;

static void start_chain(fh_handler_fn final, fh_log_format_t format, uint32_t header_ms) {
    fht_log_reset();
    fh_access_log_options_t lo = {
        .format = format, .write = fht_log_write, .latency = true, .request_id = true
    };
    assert_int_equal(fh_access_log_new(&access_log, &lo), 0);
    assert_int_equal(fh_request_id_new(&request_id, NULL), 0);
    assert_int_equal(fh_chain_new(&errors, final, NULL), 0);
    assert_int_equal(fh_chain_use(errors, &access_log), 0);
    assert_int_equal(fh_chain_use(errors, &request_id), 0);
    start(fh_chain_handle, errors, header_ms);
}

/* Stops the server and releases the log: every line is written then. */
static void stop_chain(void) {
    stop();
    fh_chain_free(errors);
    fh_middleware_release(&request_id);
    fh_middleware_release(&access_log);
}

static void test_chain_logs_refusals(void **state) {
    (void)state;
    start_chain(fh_json_error_handler, FH_LOG_COMMON, 300);
    fht_response_t r;
    json_t *p;
    ask_str("\x01\x02\x03garbage\r\n\r\n", &r);
    p = expect_problem(&r, 400, true);
    /* The request id middleware ran: header and problem member agree. */
    const char *rid = fht_hdr(&r, "X-Request-ID");
    assert_true(strlen(rid) == 29);
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), rid);
    json_decref(p);
    fht_response_free(&r);
    ask_str("POST /up HTTP/1.1\r\nHost: a\r\nX-Request-ID: big-1\r\n"
            "Content-Length: 100000\r\n\r\n",
            &r);
    p = expect_problem(&r, 413, true);
    assert_string_equal(fht_hdr(&r, "X-Request-ID"), "big-1");
    assert_string_equal(json_string_value(json_object_get(p, "request_id")), "big-1");
    json_decref(p);
    fht_response_free(&r);
    ask_str("GET /ver HTTP/3.0\r\nHost: a\r\nX-Request-ID: v-1\r\n\r\n", &r);
    json_decref(expect_problem(&r, 505, true));
    fht_response_free(&r);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /slow HTTP/1.1\r\nHost: a\r\nX-Request-ID: slow-1\r\nX-More: 1");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    json_decref(expect_problem(&r, 408, true));
    fht_response_free(&r);
    fht_close(fd);
    /* A handled request is not this chain's to log. */
    const char *fine = "GET /fine HTTP/1.1\r\nHost: a\r\n\r\n";
    ask(fine, strlen(fine), &r, false);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    stop_chain();

    char line[1024];
    assert_int_equal(fht_count_lines(fht_log_text()), 4);
    assert_null(strstr(fht_log_text(), "/fine"));
    /* Garbage: no request line; status, bytes, latency and request id. */
    fht_log_line("\"-\" 400 ", line, sizeof(line));
    unsigned long bytes, latency;
    char id[64];
    assert_int_equal(
        sscanf(strstr(line, "\"-\" 400 "), "\"-\" 400 %lu %lu \"%63[^\"]\"", &bytes, &latency, id),
        3);
    assert_true(bytes > 20); /* the problem document */
    assert_int_equal(strlen(id), 29);
    assert_int_equal(strncmp(line, "127.0.0.1 - - [", 15), 0);
    /* The version was never accepted: "-" for the protocol. */
    fht_log_line("\"POST /up HTTP/1.1\" 413 ", line, sizeof(line));
    assert_non_null(strstr(line, "\"big-1\""));
    /* llhttp refuses the version before any header field is read: the
     * client's id is unknown, one is generated. */
    fht_log_line("\"GET /ver -\" 505 ", line, sizeof(line));
    assert_null(strstr(line, "\"v-1\""));
    assert_int_equal(sscanf(strstr(line, "505 "), "505 %lu %lu \"%63[^\"]\"", &bytes, &latency, id),
                     3);
    assert_int_equal(strlen(id), 29);
    /* The slow head: method and target, no protocol; its latency spans the
     * timeout (at least 300 ms, in microseconds). */
    fht_log_line("\"GET /slow -\" 408 ", line, sizeof(line));
    assert_int_equal(sscanf(strstr(line, "408 "), "408 %lu %lu \"%63[^\"]\"", &bytes, &latency, id),
                     3);
    assert_true(latency >= 250000);
    assert_true(latency < 5000000);
    assert_string_equal(id, "slow-1");
    fht_log_reset();
}

/* JSON lines leave out what was not parsed. */
static void test_chain_json_log(void **state) {
    (void)state;
    start_chain(fh_error_keep, FH_LOG_JSON, 0);
    fht_response_t r;
    ask_str("\x7f\x7f\x7f\r\n\r\n", &r);
    /* fh_error_keep: the core's text, decorated by the middleware. */
    assert_int_equal(r.status, 400);
    assert_string_equal(fht_hdr(&r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(r.body, "Bad Request");
    assert_int_equal(strlen(fht_hdr(&r, "X-Request-ID")), 29);
    fht_response_free(&r);
    stop_chain();
    assert_int_equal(fht_count_lines(fht_log_text()), 1);
    json_error_t je;
    json_t *line = json_loads(fht_log_text(), JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(line);
    assert_int_equal(json_integer_value(json_object_get(line, "status")), 400);
    assert_int_equal(json_integer_value(json_object_get(line, "bytes")), 11);
    assert_null(json_object_get(line, "method"));
    assert_null(json_object_get(line, "target"));
    assert_null(json_object_get(line, "proto"));
    assert_string_equal(json_string_value(json_object_get(line, "remote")), "127.0.0.1");
    assert_non_null(json_object_get(line, "request_id"));
    assert_true(json_integer_value(json_object_get(line, "latency_us")) < 5000000);
    json_decref(line);
    fht_log_reset();
}

/* ----------------------------------------------- a hook that misbehaves */

enum {
    MODE_DEFER,
    MODE_STREAM,
    MODE_TAKEOVER,
    MODE_OFFLOAD,
    MODE_STATUS,
    MODE_RAW,
    MODE_FAIL,
    MODE_OPEN,
    MODE_RESET,
    MODE_BORROW
};
static int mode;
static int mode_rc; /* what the refused call returned */

static void never_work(void *data) { (void)data; }
static void never_done(fh_request_t *req, fh_response_t *res, int status, void *data) {
    (void)req;
    (void)res;
    (void)status;
    (void)data;
}
static void never_ready(fh_takeover_t *tk, int status, void *data) {
    (void)tk;
    (void)status;
    (void)data;
}

static int bad_hook(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_stream_t *st;
    switch (mode) {
    case MODE_DEFER: mode_rc = fh_response_defer(res); return mode_rc;
    case MODE_STREAM: mode_rc = fh_stream_begin(res, &st, NULL); return 0;
    case MODE_TAKEOVER: mode_rc = fh_request_takeover(res, 0, never_ready, NULL); return 0;
    case MODE_OFFLOAD: mode_rc = fh_offload(req, never_work, never_done, NULL); return 0;
    case MODE_STATUS:
        fh_response_header(res, "X-Hook", "1");
        return fh_send_problem(res, 418, "teapot", NULL, NULL);
    case MODE_RAW: return fh_send_raw(res, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 40, 0);
    case MODE_FAIL:
        fh_response_header(res, "X-Hook", "1");
        fh_response_body(res, "half", 4);
        return FH_EINVAL;
    case MODE_OPEN:
        fh_response_header(res, "X-Hook", "open");
        fh_response_body(res, "", 0);
        fh_response_printf(res, "refused: %d", fh_response_get_status(res));
        fh_response_status(res, 200);
        return 0;
    case MODE_RESET: fh_response_reset(res); return fh_send_text(res, 201, "reset");
    case MODE_BORROW: {
        fh_str_t v = fh_request_header(req, "X-Big");
        fh_response_body_borrow(res, v.ptr, v.len);
        return 0;
    }
    default: return 0;
    }
}

static void test_hook_limits(void **state) {
    (void)state;
    start(bad_hook, NULL, 0);
    static const char garbage[] = "\x05\x05\x05\r\n\r\n";
    fht_response_t r;
    int refused[] = { MODE_DEFER, MODE_STREAM, MODE_TAKEOVER, MODE_OFFLOAD };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        mode = refused[i];
        mode_rc = 0;
        ask_str(garbage, &r);
        assert_int_equal(mode_rc, FH_ESTATE);
        assert_int_equal(r.status, 400);
        assert_string_equal(r.body, "Bad Request");
        fht_response_free(&r);
    }
    /* Another status is put back; the rest of the answer stays. */
    mode = MODE_STATUS;
    ask_str(garbage, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(fht_hdr(&r, "X-Hook"), "1");
    assert_string_equal(fht_hdr(&r, "Content-Type"), "application/problem+json");
    assert_non_null(strstr(r.body, "teapot"));
    fht_response_free(&r);
    /* Raw bytes and failures: the core's own answer. */
    mode = MODE_RAW;
    ask_str(garbage, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "Bad Request");
    fht_response_free(&r);
    mode = MODE_FAIL;
    ask_str(garbage, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, "Bad Request");
    assert_string_equal(fht_hdr(&r, "X-Hook"), "");
    fht_response_free(&r);
    /* Left open: ended as built, with the core's status and close. */
    mode = MODE_OPEN;
    ask_str("GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n", &r);
    assert_int_equal(r.status, 413);
    assert_string_equal(fht_hdr(&r, "X-Hook"), "open");
    assert_string_equal(fht_hdr(&r, "Connection"), "close");
    assert_string_equal(r.body, "refused: 413");
    fht_response_free(&r);
    /* A handled 501 keeps the connection; the hook cannot change that
     * either way, nor the status. */
    mode = MODE_RESET;
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 501);
    assert_string_equal(r.body, "reset");
    assert_string_equal(fht_hdr(&r, "Connection"), "");
    fht_response_free(&r);
    fht_send_str(fd, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    fht_close(fd);
    stop();
}

/* A body borrowed from the request's bytes outlives the read buffer, which
 * is dropped right after a refusal: the bytes are copied. Large enough not
 * to be inlined in the head. */
static void test_hook_borrows_request_bytes(void **state) {
    (void)state;
    start(bad_hook, NULL, 0);
    mode = MODE_BORROW;
    char *big = repeat('q', 3000);
    big[0] = 'Q';
    big[2999] = 'E';
    char raw[4096];
    /* Nine fields: over max_headers (8) after X-Big is whole. */
    snprintf(raw, sizeof(raw),
             "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"
             "E: 5\r\nF: 6\r\nG: 7\r\n\r\n",
             big);
    fht_response_t r;
    ask_str(raw, &r);
    assert_int_equal(r.status, 431);
    assert_int_equal(r.body_len, 3000);
    assert_memory_equal(r.body, big, 3000);
    fht_response_free(&r);
    /* In two reads: the bytes then sit in the connection's own buffer,
     * which is freed as soon as the refusal is queued. */
    int fd = fht_connect(fht_port);
    size_t half = strlen(raw) / 2;
    fht_send(fd, raw, half);
    usleep(100 * 1000);
    fht_send(fd, raw + half, strlen(raw) - half);
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_int_equal(r.status, 431);
    assert_int_equal(r.body_len, 3000);
    assert_memory_equal(r.body, big, 3000);
    fht_response_free(&r);
    assert_int_equal(fht_wait_closed(fd, 3000), 1);
    fht_close(fd);
    free(big);
    stop();
}

/* ------------------------------------------------------- hostile input */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *const seeds[] = {
    "GET /a?a=1&b=%41 HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-A: 2\r\n\r\n",
    "POST /p/%2e%2E HTTP/1.1\r\nHost: b\r\nContent-Length: 5\r\n\r\nhello",
    "PUT /c HTTP/1.1\r\nHost: c\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET http://h/x?y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: d\r\n\r\n",
};

/* Garbage and mutated requests, each on its own connection, with a hook
 * chain that reads every view and logs. Every answer is a well-formed
 * response; every refusal is logged, and nothing else is. */
static void test_hostile_input(void **state) {
    (void)state;
    start_chain(probe_hook, FH_LOG_COMBINED, 500);
    size_t refusals = 0;
    char buf[2048];
    for (int i = 0; i < 400; i++) {
        size_t n;
        if (i % 3 == 0) {
            n = 1 + next_rand() % 300;
            for (size_t k = 0; k < n; k++)
                buf[k] = (char)next_rand();
        } else {
            const char *s = seeds[next_rand() % (sizeof(seeds) / sizeof(seeds[0]))];
            n = strlen(s);
            memcpy(buf, s, n);
            int flips = 1 + (int)(next_rand() % 4);
            for (int f = 0; f < flips; f++) {
                size_t at = next_rand() % n;
                switch (next_rand() % 4) {
                case 0: buf[at] = (char)next_rand(); break;
                case 1: buf[at] = "\r\n :\0%/"[next_rand() % 7]; break;
                case 2: n = at + 1; break; /* cut short */
                default:                   /* duplicate a slice */
                    if (n + 40 < sizeof(buf)) {
                        memmove(buf + at + 20, buf + at, n - at);
                        n += 20;
                    }
                }
            }
        }
        int fd = fht_connect(fht_port);
        if (i % 5 == 1 && n > 1) {
            /* In two reads: the first part waits in the connection's own
             * buffer. */
            size_t part = 1 + next_rand() % (n - 1);
            fht_send(fd, buf, part);
            usleep(5 * 1000);
            fht_send(fd, buf + part, n - part);
        } else {
            fht_send(fd, buf, n);
        }
        shutdown(fd, SHUT_WR);
        fht_response_t r;
        while (fht_read_response(fd, &r, 0) == 0) {
            assert_true(r.status >= 200 && r.status <= 599);
            if (r.status != 200)
                refusals++;
            fht_response_free(&r);
        }
        assert_int_equal(fht_wait_closed(fd, 3000), 1);
        fht_close(fd);
    }
    stop_chain();
    assert_true(refusals > 100);
    assert_int_equal(fht_count_lines(fht_log_text()), refusals);
    fht_log_reset();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_hook),
        cmocka_unit_test(test_json_refusals),
        cmocka_unit_test(test_json_timeout),
        cmocka_unit_test(test_chain_logs_refusals),
        cmocka_unit_test(test_chain_json_log),
        cmocka_unit_test(test_hook_limits),
        cmocka_unit_test(test_hook_borrows_request_bytes),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
