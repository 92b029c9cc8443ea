/* Metrics, liveness and readiness (metrics.h) against a real server.
 *
 * Under bounded load (keep-alive connections, pipelined batches, thousands
 * of distinct raw paths on one parameter route, failing handlers and
 * malformed requests), a second thread scrapes /metrics over and over; one
 * scrape taken during the load and the final one are checked by promtool
 * (Debian's prometheus package), and the final values are compared with
 * the requests sent: per route pattern, method and status class, the
 * histogram's count, the core's own errors by status, the bytes, and the
 * application's counter, gauge and histogram. Readiness fails as soon as a
 * stop begins and while the application's check says so. Bad metrics
 * configurations are refused with a message naming the field. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"

enum { CONNS = 4, BATCH = 10, ROUNDS = 60, FAILS = 7, BAD = 3 };

static fh_metric_t *user_counter, *user_gauge, *user_hist;
static atomic_bool app_ready = true;

static bool check_ready(void *data) {
    (void)data;
    return atomic_load(&app_ready);
}

static const fh_readiness_t readiness = { check_ready, NULL };

static int user_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_metric_add(user_counter, 1);
    fh_metric_observe(user_hist, (double)fh_request_param(req, "id").len);
    return fh_send_text(res, 200, "user");
}

static int fail_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return FH_EINVAL; /* the core answers 500 */
}

static int post_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 201, "made");
}

/* Begins a stop, then answers as /readyz would. */
static int stop_then_ready(fh_request_t *req, fh_response_t *res, void *data) {
    fh_server_stop(fht_server);
    return fh_health_ready(req, res, data);
}

static fh_router_t *router;
static fh_metrics_t *metrics;

static void start(const fh_metrics_config_t *mcfg, int threads) {
    assert_int_equal(fh_metrics_new(&metrics, mcfg), 0);
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/user/:id", user_handler, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_POST, "/user", post_handler, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/fail", fail_handler, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/metrics", fh_metrics_handler, metrics),
                     0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/healthz", fh_health_live, NULL), 0);
    assert_int_equal(
        fh_router_add(router, FH_METHOD_GET, "/readyz", fh_health_ready, (void *)&readiness), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/stop", stop_then_ready, NULL), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.threads = threads;
    cfg.metrics = metrics;
    fht_start(&cfg);
}

static void stop(void) {
    fht_stop();
    fh_router_free(router);
    fh_metrics_free(metrics);
    router = NULL;
    metrics = NULL;
    user_counter = user_gauge = user_hist = NULL; /* freed with the metrics */
}

/* One GET on a new connection, "Connection: close", read to the end: the
 * whole answer (malloc'd), or NULL. For the scraping thread. */
static char *get_close(const char *target) {
    int fd = fht_connect_raw(fht_port);
    if (fd < 0)
        return NULL;
    char req[256];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                     target);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (int reads = 0; buf && reads < 100000; reads++) {
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* The body of an answer from get_close, or NULL when it is not a 200. */
static const char *body_of(const char *answer) {
    if (!answer || strncmp(answer, "HTTP/1.1 200 ", 13) != 0)
        return NULL;
    const char *b = strstr(answer, "\r\n\r\n");
    return b ? b + 4 : NULL;
}

/* promtool check metrics on text: its exit status (0: valid). */
static int promtool_check(const char *text) {
    char path[] = "/tmp/fh_metrics_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    int ok = write(fd, text, len) == (ssize_t)len;
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s.out 2>&1", path, path);
    int rc = ok ? system(cmd) : -1;
    if (rc != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s.out >&2", path);
        (void)system(cmd);
    }
    snprintf(cmd, sizeof(cmd), "%s.out", path);
    unlink(cmd);
    unlink(path);
    return rc;
}

/* The value of the sample line that starts with `series ` in text; -1 when
 * there is none. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return -1;
}

typedef struct scraper {
    atomic_bool done;
    atomic_int scrapes;
    int valid_under_load;
    char *under_load; /* one scrape taken while the load ran */
} scraper_t;

static void *scrape_loop(void *arg) {
    scraper_t *sc = arg;
    for (int i = 0; i < 2000 && !atomic_load(&sc->done); i++) {
        char *a = get_close("/metrics");
        const char *b = body_of(a);
        if (b) {
            if (atomic_fetch_add(&sc->scrapes, 1) + 1 >= 3 && !sc->under_load) {
                sc->under_load = strdup(b);
            }
        }
        free(a);
        usleep(2000);
    }
    return NULL;
}

static void test_scrape_under_load(void **state) {
    (void)state;
    static const double buckets[] = { 0.001, 0.1, 10 };
    fh_metrics_config_t mcfg = fh_metrics_config_default();
    mcfg.buckets = buckets;
    mcfg.nbuckets = 3;
    assert_int_equal(fh_metrics_new(&metrics, &mcfg), 0);
    /* The application's own, made before the server. */
    fh_metrics_t *m0 = metrics;
    assert_int_equal(fh_metrics_counter(m0, "app_users_total", "Users served.", &user_counter), 0);
    assert_int_equal(fh_metrics_gauge(m0, "app_temperature", "A gauge.", &user_gauge), 0);
    static const double lens[] = { 1, 2, 3 };
    assert_int_equal(fh_metrics_histogram(m0, "app_id_length", "Id lengths.", lens, 3, &user_hist),
                     0);
    metrics = NULL;
    /* start() makes its own metrics: use this one instead. */
    assert_int_equal(fh_router_new(&router, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/user/:id", user_handler, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/fail", fail_handler, NULL), 0);
    assert_int_equal(fh_router_add(router, FH_METHOD_GET, "/metrics", fh_metrics_handler, m0), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.threads = 2;
    cfg.metrics = m0;
    metrics = m0;
    fht_start(&cfg);
    /* After the server is made, no more metrics of one's own. */
    fh_metric_t *late;
    assert_int_equal(fh_metrics_counter(m0, "app_late_total", "", &late), FH_ESTATE);
    fh_metric_set(user_gauge, 21.5);
    fh_metric_gauge_add(user_gauge, -0.5);
    fh_metric_add(user_counter, 5); /* from a thread that is not a worker */

    scraper_t sc = { 0 };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, scrape_loop, &sc), 0);

    int fds[CONNS];
    for (int c = 0; c < CONNS; c++)
        fds[c] = fht_connect(fht_port);
    size_t sent_bytes = 0;
    int users = 0, rounds = 0;
    /* ROUNDS at least, and on until the scraper has seen the load three
     * times (a loaded machine may schedule it late), within a bound. */
    for (int r = 0; r < ROUNDS || (atomic_load(&sc.scrapes) < 3 && r < 100 * ROUNDS);
         r++, rounds++) {
        for (int c = 0; c < CONNS; c++) {
            char batch[BATCH * 64];
            size_t len = 0;
            for (int k = 0; k < BATCH; k++) /* distinct raw paths, one route */
                len += (size_t)snprintf(batch + len, sizeof(batch) - len,
                                        "GET /user/%d HTTP/1.1\r\nHost: t\r\n\r\n",
                                        (r * CONNS + c) * BATCH + k);
            fht_send(fds[c], batch, len);
            sent_bytes += len;
        }
        for (int c = 0; c < CONNS; c++)
            for (int k = 0; k < BATCH; k++) {
                fht_expect(fds[c], 200, "user");
                users++;
            }
    }
    for (int i = 0; i < FAILS; i++) {
        const char *f = "GET /fail HTTP/1.1\r\nHost: t\r\n\r\n";
        fht_send_str(fds[0], f);
        sent_bytes += strlen(f);
        fht_expect(fds[0], 500, NULL);
    }
    for (int c = 0; c < CONNS; c++)
        fht_close(fds[c]);
    for (int i = 0; i < BAD; i++) {
        fht_response_t r;
        fht_exchange("GET /user/1 HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", &r);
        assert_int_equal(r.status, 400);
        fht_response_free(&r);
    }
    atomic_store(&sc.done, true);
    pthread_join(th, NULL);
    assert_true(atomic_load(&sc.scrapes) >= 3);
    assert_non_null(sc.under_load);
    assert_int_equal(promtool_check(sc.under_load), 0);
    free(sc.under_load);

    /* Every request above is done (answered, read): the final scrape counts
     * them all. */
    /* A worker counts a request once it is past the write that answered
     * it: a scrape may be behind for a moment, so scrape until nothing but
     * the scrape itself is in flight (at most 5 s). */
    char *a = NULL;
    const char *t = NULL;
    for (uint64_t until = fht_now_ms() + 5000; fht_now_ms() < until; usleep(1000)) {
        free(a);
        a = get_close("/metrics");
        t = body_of(a);
        assert_non_null(t);
        if (sample(t, "fasthttp_requests_in_flight") == 1 &&
            sample(t, "fasthttp_core_errors_total{code=\"400\"}") == BAD)
            break;
    }
    assert_int_equal(promtool_check(t), 0);
    assert_int_equal(users, CONNS * BATCH * rounds);
    assert_true(
        sample(t, "fasthttp_requests_total{route=\"/user/:id\",method=\"GET\",code=\"2xx\"}") ==
        users);
    assert_true(sample(t, "fasthttp_requests_total{route=\"/fail\",method=\"GET\",code=\"5xx\"}") ==
                FAILS);
    assert_true(sample(t, "fasthttp_request_duration_seconds_count{route=\"/user/:id\",method="
                          "\"GET\"}") == users);
    assert_true(sample(t, "fasthttp_request_duration_seconds_bucket{route=\"/user/:id\",method="
                          "\"GET\",le=\"+Inf\"}") == users);
    assert_true(sample(t, "fasthttp_request_duration_seconds_bucket{route=\"/user/:id\",method="
                          "\"GET\",le=\"10\"}") == users);
    assert_true(sample(t, "fasthttp_core_errors_total{code=\"400\"}") == BAD);
    assert_true(sample(t, "fasthttp_core_errors_total{code=\"500\"}") == FAILS);
    /* The malformed requests matched no route; their method was not read. */
    assert_true(
        sample(t, "fasthttp_requests_total{route=\"unmatched\",method=\"OTHER\",code=\"4xx\"}") ==
        BAD);
    /* Raw paths never become labels. */
    assert_null(strstr(t, "/user/1\""));
    assert_null(strstr(t, "/user/17"));
    assert_true(sample(t, "fasthttp_received_bytes_total") >= (double)sent_bytes);
    assert_true(sample(t, "fasthttp_sent_bytes_total") > users * 50.0);
    assert_true(sample(t, "fasthttp_connections_accepted_total") >=
                CONNS + BAD + atomic_load(&sc.scrapes));
    assert_true(sample(t, "fasthttp_connections_refused_total") == 0);
    assert_true(sample(t, "fasthttp_worker_threads") == 2);
    /* The scrape itself is the one request in flight, on its connection. */
    assert_true(sample(t, "fasthttp_requests_in_flight") == 1);
    assert_true(sample(t, "fasthttp_connections_open") >= 1);
    double start = sample(t, "process_start_time_seconds");
    assert_true(start > 1.6e9 && start <= (double)time(NULL) + 1);
    assert_true(sample(t, "app_users_total") == users + 5);
    assert_true(sample(t, "app_temperature") == 21);
    assert_true(sample(t, "app_id_length_count") == users);
    /* ids 0..9 have one digit: 10 of them in the first bucket */
    assert_true(sample(t, "app_id_length_bucket{le=\"1\"}") == 10);
    assert_true(sample(t, "app_id_length_bucket{le=\"+Inf\"}") == users);
    free(a);
    stop();
}

static void test_health(void **state) {
    (void)state;
    start(NULL, 1);
    fht_response_t r;
    fht_request("GET", "/healthz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok\n");
    assert_string_equal(fht_hdr(&r, "Cache-Control"), "no-store");
    fht_response_free(&r);
    fht_request("GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ready\n");
    fht_response_free(&r);
    atomic_store(&app_ready, false);
    fht_request("GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "not ready\n");
    fht_response_free(&r);
    atomic_store(&app_ready, true);
    fht_request("GET", "/readyz", NULL, &r);
    assert_int_equal(r.status, 200);
    fht_response_free(&r);
    /* Readiness fails from the moment a stop begins; liveness does not. */
    fht_request("GET", "/stop", NULL, &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "draining\n");
    fht_response_free(&r);
    stop();
}

static void test_route_cap(void **state) {
    (void)state;
    /* Two series per thread: the rest are counted as route="other". */
    fh_metrics_config_t mcfg = fh_metrics_config_default();
    mcfg.max_routes = 2;
    start(&mcfg, 1);
    const char *paths[] = { "/healthz", "/user/1", "/readyz", "/fail", "/user/2" };
    for (int i = 0; i < 5; i++) {
        fht_response_t r;
        fht_request("GET", paths[i], NULL, &r);
        fht_response_free(&r);
    }
    /* Scraped until the last request is counted (at most 5 s). */
    char *a = NULL;
    const char *t = NULL;
    for (uint64_t until = fht_now_ms() + 5000; fht_now_ms() < until; usleep(1000)) {
        free(a);
        a = get_close("/metrics");
        t = body_of(a);
        assert_non_null(t);
        if (sample(t, "fasthttp_requests_in_flight") == 1 &&
            sample(t, "fasthttp_requests_total{route=\"/user/:id\",method=\"GET\",code=\"2xx\"}") ==
                2)
            break;
    }
    assert_true(
        sample(t, "fasthttp_requests_total{route=\"/healthz\",method=\"GET\",code=\"2xx\"}") == 1);
    assert_true(
        sample(t, "fasthttp_requests_total{route=\"/user/:id\",method=\"GET\",code=\"2xx\"}") == 2);
    assert_true(sample(t, "fasthttp_requests_total{route=\"other\",method=\"GET\",code=\"2xx\"}") ==
                1);
    assert_true(sample(t, "fasthttp_requests_total{route=\"other\",method=\"GET\",code=\"5xx\"}") ==
                1);
    assert_null(strstr(t, "route=\"/readyz\""));
    assert_int_equal(promtool_check(t), 0);
    free(a);
    stop();
}

static void expect_config_error(const fh_metrics_config_t *c, const char *needle) {
    fh_metrics_t *m = (fh_metrics_t *)1;
    assert_int_equal(fh_metrics_new(&m, c), FH_ECONFIG);
    assert_null(m);
    if (!strstr(fh_metrics_error(), needle))
        fail_msg("\"%s\" does not hold \"%s\"", fh_metrics_error(), needle);
}

static void test_bad_config(void **state) {
    (void)state;
    fh_metrics_config_t c = fh_metrics_config_default();
    double down[] = { 0.1, 0.05 };
    c.buckets = down;
    c.nbuckets = 2;
    expect_config_error(&c, "metrics.buckets[1]: 0.05 is not above 0.1");
    double neg[] = { -1 };
    c.buckets = neg;
    c.nbuckets = 1;
    expect_config_error(&c, "metrics.buckets[0]: -1 is not a positive");
    double many[FH_METRICS_MAX_BUCKETS + 1];
    for (int i = 0; i < FH_METRICS_MAX_BUCKETS + 1; i++)
        many[i] = i + 1;
    c.buckets = many;
    c.nbuckets = FH_METRICS_MAX_BUCKETS + 1;
    expect_config_error(&c, "metrics.buckets: 33 buckets");
    c.nbuckets = FH_METRICS_MAX_BUCKETS; /* at the limit: fine */
    fh_metrics_t *m;
    assert_int_equal(fh_metrics_new(&m, &c), 0);
    fh_metric_t *x;
    assert_int_equal(fh_metrics_counter(m, "9lives", "", &x), FH_ECONFIG);
    assert_non_null(strstr(fh_metrics_error(), "\"9lives\""));
    assert_int_equal(fh_metrics_counter(m, "a-b", "", &x), FH_ECONFIG);
    assert_int_equal(fh_metrics_counter(m, "fasthttp_mine", "", &x), FH_ECONFIG);
    assert_int_equal(fh_metrics_counter(m, "ok_total", "line\nbreak", &x), FH_ECONFIG);
    assert_int_equal(fh_metrics_counter(m, "ok_total", "fine", &x), 0);
    assert_int_equal(fh_metrics_gauge(m, "ok_total", "", &x), FH_ECONFIG);
    assert_non_null(strstr(fh_metrics_error(), "taken"));
    assert_int_equal(fh_metrics_histogram(m, "h", "", down, 2, &x), FH_ECONFIG);
    assert_non_null(strstr(fh_metrics_error(), "h[1]"));
    /* Ten thousand metrics of one's own: each is a few lines of text. */
    char name[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(name, sizeof(name), "many_%d_total", i);
        assert_int_equal(fh_metrics_counter(m, name, "", &x), 0);
    }
    c = fh_metrics_config_default();
    c.max_routes = 1000000;
    expect_config_error(&c, "metrics.max_routes: 1000000");
    /* One metrics object, one server at a time. */
    start(NULL, 1);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = fh_router_handle;
    cfg.handler_data = router;
    cfg.port = 0;
    cfg.host = "127.0.0.1";
    cfg.metrics = metrics;
    fh_server_t *second = NULL;
    assert_int_equal(fh_server_new(&second, &cfg), FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, FH_ECONFIG), "metrics"));
    /* m has 10000 counters: attached to a server it scrapes them all. */
    cfg.metrics = m;
    assert_int_equal(fh_server_new(&second, &cfg), 0);
    char *text;
    size_t len;
    assert_int_equal(fh_metrics_text(m, &text, &len), 0);
    assert_non_null(strstr(text, "many_9999_total 0\n"));
    assert_true(len < 10001 * 200);
    free(text);
    fh_server_free(second);
    assert_int_equal(fh_metrics_text(m, &text, &len), FH_ESTATE);
    fh_metrics_free(m);
    stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrape_under_load),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_route_cap),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, fht_teardown);
}
