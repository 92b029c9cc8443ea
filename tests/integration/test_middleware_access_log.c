/* The access log over real sockets: Common, Combined and JSON lines with
 * their exact fields and escaping, HEAD and error responses, latency of a
 * deferred response, the request id and auth user, output to a file, a
 * FILE * and a callback, per-thread buffers flushed when full, on the timer
 * and on release, many requests from two worker threads, and bad
 * options. */
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "log_capture.h"
#include "testutil.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FHT_HAS_ASAN 1
#endif
#endif
#ifndef FHT_HAS_ASAN
#define FHT_HAS_ASAN 0
#endif

/* ---------------------------------------------------------- the app */

static void send_late(fh_response_t *res, void *data) {
    (void)data;
    fh_send_text(res, 200, "late");
}

/* A stream whose last chunk comes 60 ms after its head. */
typedef struct slow_stream {
    uv_timer_t timer;
    fh_stream_t *st;
} slow_stream_t;

static void slow_closed(uv_handle_t *h) {
    slow_stream_t *s = h->data;
    fh_stream_write(s->st, "tail", 4);
    fh_stream_end(s->st);
}

static void slow_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, slow_closed); }

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    if (fh_str_eq(path, "/stream")) {
        slow_stream_t *s = fh_alloc(req, sizeof(*s));
        if (fh_stream_begin(res, &s->st, NULL) != 0)
            return -1;
        fh_stream_write(s->st, "head", 4);
        uv_timer_init(fh_request_loop(req), &s->timer);
        s->timer.data = s;
        uv_timer_start(&s->timer, slow_fire, 60, 0);
        return 0;
    }
    if (fh_str_eq(path, "/fail"))
        return -1;
    if (fh_str_eq(path, "/empty"))
        return fh_send_status(res, 204);
    if (fh_str_eq(path, "/defer")) {
        fh_response_defer(res);
        return fht_later(res, 60, send_late, NULL);
    }
    return fh_send_text(res, 200, "hello");
}

/* A before hook standing in for auth: the user is the X-User header. */
static int fake_auth(fh_request_t *req, fh_response_t *res, void *data) {
    (void)res;
    (void)data;
    fh_str_t u = fh_request_header(req, "X-User");
    return u.ptr ? fh_auth_set_user(req, u) : FH_NEXT;
}

static fh_middleware_t log_mw, rid_mw;

/* The server: the log, request ids and fake_auth around handler. */
static void start(const fh_access_log_options_t *opt, int threads) {
    assert_int_equal(fh_access_log_new(&log_mw, opt), 0);
    assert_int_equal(fh_request_id_new(&rid_mw, NULL), 0);
    fh_middleware_t mws[] = { log_mw, rid_mw, { .name = "fake_auth", .before = fake_auth } };
    fht_start_chain(handler, NULL, threads, mws, 3);
}

/* Stops the server and releases the log, which writes what is buffered. */
static void stop(void) {
    fht_stop();
    fh_middleware_release(&log_mw);
    fh_middleware_release(&rid_mw);
}

static void exchange(int fd, const char *req, int status, int head) {
    fht_send_str(fd, req);
    fht_expect_response(fd, head, status, NULL, -1);
}

static void assert_matches(const char *line, const char *pattern) {
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, line, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("line\n  %s\ndoes not match\n  %s", line, pattern);
}

/* The n-th line (0-based) of s, copied. */
static char *line_at(const char *s, size_t n) {
    static char out[16384];
    for (size_t i = 0; i < n && s; i++) {
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    assert_non_null(s);
    const char *e = strchr(s, '\n');
    assert_non_null(e);
    size_t len = (size_t)(e - s);
    assert_true(len < sizeof(out));
    memcpy(out, s, len);
    out[len] = '\0';
    return out;
}

#define TIME_RE                                                                                    \
    "\\[[0-3][0-9]/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/"                             \
    "20[0-9]{2}:[0-2][0-9]:[0-5][0-9]:[0-6][0-9] \\+0000\\]"

/* -------------------------------------------------------------- tests */

static void test_common(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .format = FH_LOG_COMMON, .write = fht_log_write };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    exchange(fd, "GET /a?b=1 HTTP/1.1\r\nHost: t\r\nX-User: alice\r\n\r\n", 200, 0);
    exchange(fd, "HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n", 200, 1);
    exchange(fd, "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", 204, 0);
    exchange(fd, "GET /fail HTTP/1.1\r\nHost: t\r\nX-User: b\"o\\b\r\n\r\n", 500, 0);
    exchange(fd, "POST /x%20y HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi", 200, 0);
    fht_close(fd);
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), 5);
    assert_matches(line_at(fht_log_text(), 0),
                   "^127\\.0\\.0\\.1 - alice " TIME_RE " \"GET /a\\?b=1 HTTP/1\\.1\" 200 5$");
    assert_matches(line_at(fht_log_text(), 1),
                   "^127\\.0\\.0\\.1 - - " TIME_RE " \"HEAD /a HTTP/1\\.1\" 200 -$");
    assert_matches(line_at(fht_log_text(), 2),
                   "^127\\.0\\.0\\.1 - - " TIME_RE " \"GET /empty HTTP/1\\.1\" 204 -$");
    /* A user name is escaped like Apache's %u: quote and backslash. */
    assert_matches(line_at(fht_log_text(), 3), "^127\\.0\\.0\\.1 - b\\\\\"o\\\\\\\\b " TIME_RE
                                               " \"GET /fail HTTP/1\\.1\" 500 21$");
    assert_matches(line_at(fht_log_text(), 4),
                   "^127\\.0\\.0\\.1 - - " TIME_RE " \"POST /x%20y HTTP/1\\.0\" 200 5$");
}

static void test_combined_escaping_and_extras(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = {
        .format = FH_LOG_COMBINED, .write = fht_log_write, .latency = true, .request_id = true
    };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    exchange(fd,
             "GET / HTTP/1.1\r\nHost: t\r\nReferer: http://r/\"x\"\r\n"
             "User-Agent: caf\xc3\xa9\t\\o/\r\nX-Request-ID: abc-123\r\n\r\n",
             200, 0);
    exchange(fd, "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0);
    fht_close(fd);
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), 2);
    /* Referer and User-Agent quoted, with \" \\ and \xhh escapes; then the
     * latency in microseconds and the request id. */
    assert_matches(line_at(fht_log_text(), 0),
                   "^127\\.0\\.0\\.1 - - " TIME_RE " \"GET / HTTP/1\\.1\" 200 5 "
                   "\"http://r/\\\\\"x\\\\\"\" \"caf\\\\xc3\\\\xa9\\\\x09\\\\\\\\o/\" "
                   "[0-9]+ \"abc-123\"$");
    /* Absent headers are "-"; the deferred response took >= 60 ms, and the
     * latency counts until it was written. */
    char *l = line_at(fht_log_text(), 1);
    assert_matches(l,
                   "^127\\.0\\.0\\.1 - - " TIME_RE " \"GET /defer HTTP/1\\.1\" 200 4 \"-\" \"-\" "
                   "[0-9]+ \"[0-9a-f]{16}-[0-9a-f]{12}\"$");
    const char *lat = strstr(l, "\"-\" \"-\" ") + 8;
    assert_true(strtoul(lat, NULL, 10) >= 55000);
}

/* Lines that repeat the start of the previous one (a thread keeps it) and
 * lines that differ from it in one field each, of the same length where a
 * field can have one: every line shows its own request. */
static void test_repeated_and_near_lines(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = {
        .format = FH_LOG_COMBINED, .write = fht_log_write, .latency = true, .request_id = true
    };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    static const struct {
        const char *req;
        int status, head;
        const char *line; /* after the time */
    } steps[] = {
        { "GET /aa HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0,
          "\"GET /aa HTTP/1\\.1\" 200 5 \"-\" \"-\"" },
        { "GET /aa HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0,
          "\"GET /aa HTTP/1\\.1\" 200 5 \"-\" \"-\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"-\" \"-\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\nReferer: z\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"z\" \"-\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: z\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"-\" \"z\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: y\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"-\" \"y\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: y\r\nX-User: u\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"-\" \"y\"" },
        { "GET /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: y\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.1\" 200 5 \"-\" \"y\"" },
        { "PUT /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: y\r\nContent-Length: 0\r\n\r\n", 200, 0,
          "\"PUT /ab HTTP/1\\.1\" 200 5 \"-\" \"y\"" },
        { "HEAD /ab HTTP/1.1\r\nHost: t\r\nUser-Agent: y\r\n\r\n", 200, 1,
          "\"HEAD /ab HTTP/1\\.1\" 200 - \"-\" \"y\"" },
        { "GET /ab HTTP/1.0\r\nHost: t\r\nUser-Agent: y\r\nConnection: keep-alive\r\n\r\n", 200, 0,
          "\"GET /ab HTTP/1\\.0\" 200 5 \"-\" \"y\"" },
        { "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", 500, 0,
          "\"GET /fail HTTP/1\\.1\" 500 21 \"-\" \"-\"" },
        { "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n", 500, 0,
          "\"GET /fail HTTP/1\\.1\" 500 21 \"-\" \"-\"" },
        { "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", 204, 0,
          "\"GET /empty HTTP/1\\.1\" 204 - \"-\" \"-\"" },
        { "GET /aa HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0,
          "\"GET /aa HTTP/1\\.1\" 200 5 \"-\" \"-\"" },
    };
    size_t n = sizeof(steps) / sizeof(steps[0]);
    for (size_t i = 0; i < n; i++)
        exchange(fd, steps[i].req, steps[i].status, steps[i].head);
    fht_close(fd);
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), n);
    for (size_t i = 0; i < n; i++) {
        char pattern[512];
        snprintf(pattern, sizeof(pattern),
                 "^127\\.0\\.0\\.1 - %s " TIME_RE " %s [0-9]+ \"[0-9a-f]{16}-[0-9a-f]{12}\"$",
                 i == 6 ? "u" : "-", steps[i].line);
        assert_matches(line_at(fht_log_text(), i), pattern);
    }
}

static void test_json(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .format = FH_LOG_JSON, .write = fht_log_write };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    exchange(
        fd,
        "GET /j?q=\"1\" HTTP/1.1\r\nHost: t\r\nUser-Agent: ua\\\t\xff\r\nX-User: al\xc3\xa9\r\n"
        "X-Request-ID: rid-1\r\n\r\n",
        200, 0);
    exchange(fd, "GET /empty HTTP/1.1\r\nHost: t\r\n\r\n", 204, 0);
    fht_close(fd);
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), 2);
    assert_matches(
        line_at(fht_log_text(), 0),
        "^\\{\"time\":\"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\\.[0-9]{3}"
        "Z\","
        "\"remote\":\"127\\.0\\.0\\.1\",\"method\":\"GET\",\"target\":\"/j\\?q=\\\\\"1\\\\\"\","
        "\"proto\":\"HTTP/1\\.1\",\"status\":200,\"bytes\":5,"
        "\"user_agent\":\"ua\\\\\\\\\\\\t\xef\xbf\xbd\",\"user\":\"al\xc3\xa9\","
        "\"request_id\":\"rid-1\",\"latency_us\":[0-9]+\\}$");
    /* No referer, no user: left out; a generated id is there. */
    assert_matches(line_at(fht_log_text(), 1),
                   "^\\{\"time\":\"[^\"]+\",\"remote\":\"127\\.0\\.0\\.1\",\"method\":\"GET\","
                   "\"target\":\"/empty\",\"proto\":\"HTTP/1\\.1\",\"status\":204,\"bytes\":0,"
                   "\"request_id\":\"[0-9a-f]{16}-[0-9a-f]{12}\",\"latency_us\":[0-9]+\\}$");
}

/* A streamed response is logged once the stream has ended. */
static void test_stream(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .format = FH_LOG_JSON, .write = fht_log_write };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    fht_send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, 0), 0);
    assert_string_equal(r.body, "headtail");
    fht_response_free(&r);
    fht_close(fd);
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), 1);
    assert_non_null(
        strstr(fht_log_text(), "\"target\":\"/stream\",\"proto\":\"HTTP/1.1\",\"status\":200,"));
    const char *lat = strstr(fht_log_text(), "\"latency_us\":");
    assert_non_null(lat);
    assert_true(strtoul(lat + 13, NULL, 10) >= 55000);
}

/* Requests that finish while the server stops are logged, and reach the
 * output when the middleware is released. */
static void test_logged_during_stop(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .write = fht_log_write, .flush_ms = 60000 };
    start(&opt, 2);
    int fds[4];
    for (int i = 0; i < 4; i++) {
        fds[i] = fht_connect(fht_port);
        fht_send_str(fds[i], "GET /defer HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    /* Stop only once all four are being handled: a connection whose
     * request has not arrived yet is idle, and stopping closes it. */
    uint64_t t0 = fht_now_ms();
    fh_server_stats_t st;
    do {
        usleep(2000);
        fh_server_stats(fht_server, &st);
    } while (st.requests < 4 && fht_now_ms() - t0 < 5000);
    assert_true(st.requests >= 4);
    fh_server_stop(fht_server); /* the deferred answers still go out */
    for (int i = 0; i < 4; i++) {
        fht_response_t r;
        assert_int_equal(fht_read_response(fds[i], &r, 0), 0);
        assert_string_equal(r.body, "late");
        fht_response_free(&r);
        fht_close(fds[i]);
    }
    fh_server_wait(fht_server);
    fh_server_free(fht_server);
    fht_server = NULL;
    assert_int_equal(fht_count_lines(fht_log_text()), 0); /* still buffered */
    fh_middleware_release(&log_mw);
    fh_middleware_release(&rid_mw);
    fht_stop(); /* the chain */
    assert_int_equal(fht_count_lines(fht_log_text()), 4);
    assert_non_null(strstr(fht_log_text(), "\"GET /defer HTTP/1.1\" 200 4\n"));
}

/* The time field is when the request arrived, in UTC. */
static void test_time_is_now(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .format = FH_LOG_JSON, .write = fht_log_write };
    start(&opt, 1);
    time_t before = time(NULL);
    int fd = fht_connect(fht_port);
    exchange(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0);
    fht_close(fd);
    time_t after = time(NULL);
    stop();
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(fht_log_text(), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm));
    time_t logged = timegm(&tm);
    assert_true(logged >= before - 1 && logged <= after);
}

typedef struct client {
    int port, n;
} client_t;

static void *client_main(void *p) {
    client_t *c = p;
    int fd = fht_connect(c->port);
    char req[128];
    for (int i = 0; i < c->n; i++) {
        snprintf(req, sizeof(req), "GET /n/%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
        fht_send_str(fd, req);
        fht_response_t r;
        if (fht_read_response(fd, &r, 0) != 0)
            break;
        fht_response_free(&r);
    }
    fht_close(fd);
    return NULL;
}

/* Two worker threads, a small buffer: lines are flushed while serving,
 * none is lost or torn, and the rest comes out on release. */
static void test_many_threads_small_buffer(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = {
        .format = FH_LOG_COMBINED, .write = fht_log_write, .buffer_size = 4096, .flush_ms = 60000
    };
    start(&opt, 2);
    enum { CLIENTS = 16, EACH = 100 };
    pthread_t th[CLIENTS];
    client_t c = { fht_port, EACH };
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client_main, &c), 0);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    size_t during, writes, max_write;
    fht_log_stats(&during, &writes, &max_write);
    assert_true(during > 0 && during < CLIENTS * EACH); /* flushed when full... */
    assert_true(writes >= 2 && max_write <= 4096);      /* ...in 4 KiB pieces */
    stop();
    assert_int_equal(fht_count_lines(fht_log_text()), CLIENTS * EACH); /* ...and all on release */
    /* Every line is whole. */
    for (size_t i = 0; i < CLIENTS * EACH; i++)
        assert_matches(line_at(fht_log_text(), i),
                       "^127\\.0\\.0\\.1 - - " TIME_RE
                       " \"GET /n/[0-9]+ HTTP/1\\.1\" 200 5 \"-\" \"-\"$");
}

/* Creates an empty file named after path's template (XXXXXX), in place. */
static void temp_file(char *path) {
    int tmp = mkstemp(path);
    assert_true(tmp >= 0);
    close(tmp);
}

/* Whole lines of a path's file that contain want ("": every whole line),
 * also while the server runs; -1 when it cannot be read. */
static int lines_in(const char *path, const char *want) {
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof(line), f))
        if (strchr(line, '\n') && strstr(line, want))
            lines++;
    fclose(f);
    return lines;
}

/* Lines reach the file within flush_ms while the server runs. */
static void test_file_and_timer(void **state) {
    (void)state;
    char path[] = "/tmp/fh_access_XXXXXX";
    temp_file(path);
    fh_access_log_options_t opt = { .path = path, .flush_ms = 50 };
    start(&opt, 2);
    int fd = fht_connect(fht_port);
    exchange(fd, "GET /timer HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0);
    char buf[1024] = { 0 };
    uint64_t t0 = fht_now_ms();
    size_t n = 0;
    while (fht_now_ms() - t0 < 2000) {
        FILE *f = fopen(path, "r");
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        if (n)
            break;
        usleep(10000);
    }
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"GET /timer HTTP/1.1\" 200 5\n"));
    /* The timer keeps working on the same thread. */
    exchange(fd, "GET /timer2 HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0);
    fht_close(fd);
    t0 = fht_now_ms();
    while (fht_now_ms() - t0 < 2000) {
        FILE *f = fopen(path, "r");
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (strstr(buf, "/timer2"))
            break;
        usleep(10000);
    }
    assert_non_null(strstr(buf, "\"GET /timer2 HTTP/1.1\" 200 5\n"));
    stop();
    unlink(path);
}

/* n requests for target on one connection, pipelined by 50. */
static void many_requests(int n, const char *target) {
    int fd = fht_connect(fht_port);
    char req[256];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    uint64_t t0 = fht_now_ms();
    for (int done = 0; done < n;) {
        int k = n - done < 50 ? n - done : 50;
        for (int i = 0; i < k; i++)
            fht_send_str(fd, req);
        for (int i = 0; i < k; i++)
            fht_expect_response(fd, 0, 200, NULL, -1);
        done += k;
        assert_true(fht_now_ms() - t0 < 60000); /* a worker never waits for the log */
    }
    fht_close(fd);
}

/* A path output: every line reaches the file through the writer thread
 * by the time the log is released after a graceful stop. */
static void test_path_every_line_after_stop(void **state) {
    (void)state;
    char path[] = "/tmp/fh_access_XXXXXX";
    temp_file(path);
    fh_access_log_options_t opt = { .path = path, .buffer_size = 4096, .max_pending = 1 << 20 };
    start(&opt, 2);
    many_requests(5000, "/n");
    fht_stop();
    assert_int_equal(fh_access_log_dropped(&log_mw), 0);
    fh_middleware_release(&log_mw);
    fh_middleware_release(&rid_mw);
    assert_int_equal(lines_in(path, ""), 5000);
    assert_int_equal(lines_in(path, "\"GET /n HTTP/1.1\" 200"), 5000);
    unlink(path);
}

/* A path output while the server runs: the writer's batch wait ends by
 * time, so lines flushed by a worker reach the file within the flush
 * period and the batch time, without a stop; the second group of lines,
 * written after the writer emptied its queue (and went back to the
 * queue's start), arrives too. */
static void test_path_lines_while_running(void **state) {
    (void)state;
    char path[] = "/tmp/fh_access_XXXXXX";
    temp_file(path);
    fh_access_log_options_t opt = { .path = path, .flush_ms = 30 };
    start(&opt, 1);
    for (int group = 1; group <= 3; group++) {
        many_requests(100, "/running");
        uint64_t t0 = fht_now_ms();
        while (lines_in(path, "\"GET /running HTTP/1.1\" 200") < group * 100) {
            assert_true(fht_now_ms() - t0 < 5000);
            usleep(5000);
        }
        assert_int_equal(lines_in(path, "\"GET /running HTTP/1.1\" 200"), group * 100);
    }
    stop();
    assert_int_equal(fh_access_log_dropped(&log_mw), 0);
    unlink(path);
}

/* A queue as small as one worker buffer (max_pending == buffer_size, the
 * least allowed): the writer never waits for a batch, and under 20,000
 * pipelined requests from two threads every request is either a whole
 * line in the file or counted as dropped, exactly. */
static void test_path_smallest_queue_counts_every_line(void **state) {
    (void)state;
    char path[] = "/tmp/fh_access_XXXXXX";
    temp_file(path);
    fh_access_log_options_t opt = { .path = path, .buffer_size = 4096, .max_pending = 4096 };
    start(&opt, 2);
    int n = 20000;
    many_requests(n, "/small");
    fht_stop();
    uint64_t dropped = fh_access_log_dropped(&log_mw);
    fh_middleware_release(&log_mw);
    fh_middleware_release(&rid_mw);
    /* Every line whole and of this test: lines_in counts whole lines only. */
    int lines = lines_in(path, "\"GET /small HTTP/1.1\" 200");
    assert_int_equal(lines_in(path, ""), lines);
    assert_int_equal((uint64_t)lines + dropped, (uint64_t)n);
    unlink(path);
}

/* A pipe nobody reads: requests are answered all the same, the log holds
 * no more than max_pending, the lines that did not fit are counted as
 * dropped, and releasing the log ends (after its 1 s grace). */
static void test_pipe_nobody_reads(void **state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
    fh_access_log_options_t opt = {
        .path = path, .buffer_size = 4096, .max_pending = 16384, .flush_ms = 20
    };
    start(&opt, 2);
    close(p[1]);  /* the log has its own descriptor of the pipe */
    int n = 4000; /* about 80 bytes a line: far more than the pipe and the queue hold */
    size_t rss0 = fht_rss_kb();
    many_requests(n, "/pipe");
    fht_stop();
    uint64_t dropped = fh_access_log_dropped(&log_mw);
    assert_true(dropped > 0);
#if !defined(__SANITIZE_ADDRESS__) && !FHT_HAS_ASAN
    assert_true(fht_rss_kb() < rss0 + 4096); /* bounded: no queue of every line */
#else
    (void)rss0; /* the sanitizer's quarantine holds freed memory */
#endif
    uint64_t t0 = fht_now_ms();
    fh_middleware_release(&log_mw);
    fh_middleware_release(&rid_mw);
    assert_true(fht_now_ms() - t0 < 10000);
    /* What the pipe holds now, and what was dropped, never exceed what
     * was logged. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    static char buf[1 << 20];
    size_t got = 0;
    ssize_t r;
    while ((r = read(p[0], buf + got, sizeof(buf) - got)) > 0)
        got += (size_t)r;
    close(p[0]);
    size_t in_pipe = 0;
    for (size_t i = 0; i < got; i++)
        in_pipe += buf[i] == '\n';
    assert_true(in_pipe > 0);
    assert_true(in_pipe + dropped <= (uint64_t)n);
}

/* A FILE * output and a line longer than the whole buffer. */
static void test_file_pointer_and_long_line(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fh_access_log_options_t opt = { .file = f, .buffer_size = 4096 };
    start(&opt, 1);
    int fd = fht_connect(fht_port);
    char *req = malloc(8192);
    strcpy(req, "GET /");
    memset(req + 5, 'x', 6000);
    strcpy(req + 6005, " HTTP/1.1\r\nHost: t\r\n\r\n");
    exchange(fd, "GET /short HTTP/1.1\r\nHost: t\r\n\r\n", 200, 0);
    exchange(fd, req, 200, 0);
    fht_close(fd);
    free(req);
    stop();
    rewind(f);
    char *buf = calloc(1, 16384);
    size_t n = fread(buf, 1, 16383, f);
    fclose(f);
    assert_true(n > 6000);
    assert_int_equal(fht_count_lines(buf), 2);
    /* In order: the short line was flushed before the long one went out. */
    assert_non_null(strstr(line_at(buf, 0), "\"GET /short HTTP/1.1\""));
    assert_non_null(strstr(line_at(buf, 1), "xxxxxxxxxx HTTP/1.1\" 200 5"));
    free(buf);
}

/* The log sees requests a later middleware answers, and 500s. */
static int refuse(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    fh_send_status(res, 429);
    return FH_STOP;
}

static void test_answered_by_middleware(void **state) {
    (void)state;
    fht_log_reset();
    fh_access_log_options_t opt = { .write = fht_log_write };
    assert_int_equal(fh_access_log_new(&log_mw, &opt), 0);
    fh_middleware_t mws[] = { log_mw, { .name = "refuse", .before = refuse } };
    fht_start_chain(handler, NULL, 1, mws, 2);
    int fd = fht_connect(fht_port);
    exchange(fd, "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 429, 0);
    fht_close(fd);
    fht_stop();
    fh_middleware_release(&log_mw);
    assert_int_equal(fht_count_lines(fht_log_text()), 1);
    assert_non_null(strstr(fht_log_text(), "\"GET / HTTP/1.1\" 429 18\n"));
}

static void test_bad_options(void **state) {
    (void)state;
    fh_middleware_t m;
    fh_access_log_options_t opt = { .path = "/tmp/x", .write = fht_log_write };
    assert_int_equal(fh_access_log_new(&m, &opt), FH_ECONFIG);
    assert_non_null(
        strstr(fh_middleware_error(), "access_log.path: set only one of path, file and write"));
    opt = (fh_access_log_options_t){ .format = (fh_log_format_t)7 };
    assert_int_equal(fh_access_log_new(&m, &opt), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "access_log.format"));
    opt = (fh_access_log_options_t){ .buffer_size = 100 };
    assert_int_equal(fh_access_log_new(&m, &opt), FH_ECONFIG);
    assert_non_null(strstr(fh_middleware_error(), "access_log.buffer_size: 100 is under 4096"));
    opt = (fh_access_log_options_t){ .path = "/nonexistent-dir/x.log" };
    assert_int_equal(fh_access_log_new(&m, &opt), UV_ENOENT);
    assert_non_null(
        strstr(fh_middleware_error(), "access_log.path: cannot open \"/nonexistent-dir/x.log\""));
    /* Defaults: Common on stdout. */
    assert_int_equal(fh_access_log_new(&m, NULL), 0);
    assert_string_equal(fh_middleware_error(), "");
    assert_string_equal(m.name, "access_log");
    fh_middleware_release(&m);
    assert_null(m.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common),
        cmocka_unit_test(test_combined_escaping_and_extras),
        cmocka_unit_test(test_repeated_and_near_lines),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_logged_during_stop),
        cmocka_unit_test(test_time_is_now),
        cmocka_unit_test(test_many_threads_small_buffer),
        cmocka_unit_test(test_file_and_timer),
        cmocka_unit_test(test_path_every_line_after_stop),
        cmocka_unit_test(test_path_lines_while_running),
        cmocka_unit_test(test_path_smallest_queue_counts_every_line),
        cmocka_unit_test(test_pipe_nobody_reads),
        cmocka_unit_test(test_file_pointer_and_long_line),
        cmocka_unit_test(test_answered_by_middleware),
        cmocka_unit_test(test_bad_options),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fht_log_reset();
    return rc;
}
