/* Log files reopened on SIGUSR1, as logrotate asks: a server run by
 * fh_server_run (signals handled) logs a request to its access log file;
 * the file is renamed, SIGUSR1 is raised, and the next request's line goes
 * to a new file by the old name while the renamed one keeps the first.
 * fh_access_log_reopen itself: a path that can no longer be opened is an
 * error and the log keeps its file. The server keeps serving throughout
 * and still stops on SIGTERM. Counted: N requests, a reopen, M requests
 * give exactly N lines in the renamed file and M in the new one, none
 * dropped (what the writer thread had queued went to the old file). */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"
#include "tls_files.h"

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "hi");
}

static fh_server_t *server;

static void *run(void *arg) {
    (void)arg;
    fh_server_run(server);
    return NULL;
}

/* Whether the file holds needle, waiting up to 5 s (lines are flushed
 * within flush_ms). */
static bool file_holds(const char *path, const char *needle) {
    for (uint64_t until = fht_now_ms() + 5000; fht_now_ms() < until; usleep(10000)) {
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char buf[8192];
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (strstr(buf, needle))
            return true;
    }
    return false;
}

static bool file_lacks(const char *path, const char *needle) {
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) == NULL;
}

static void get(int port, const char *target) {
    int fd = fht_connect(port);
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    fht_send_str(fd, req);
    fht_expect(fd, 200, "hi");
    fht_close(fd);
}

static void test_sigusr1_reopens(void **state) {
    (void)state;
    char dir[] = "/tmp/fh_reopen_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], rotated[256];
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
    fh_access_log_options_t opt = { .path = path, .flush_ms = 50 };
    fh_middleware_t log = { 0 };
    assert_int_equal(fh_access_log_new(&log, &opt), 0);
    fh_chain_t *chain;
    assert_int_equal(fh_chain_new(&chain, hello, NULL), 0);
    assert_int_equal(fh_chain_use(chain, &log), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 2;
    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    /* Started here (fh_server_run needs it), not by fht_server_start: over
     * TLS it needs the test certificate itself, as fht_connect speaks TLS. */
    if (fht_over_tls())
        fht_tls_config(&cfg);
    assert_int_equal(fh_server_new(&server, &cfg), 0);
    int port = fh_server_port(server);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run, NULL), 0);
    /* fh_server_run installs its signal handlers right after it starts
     * the workers: the first line's round trip leaves it time. */
    get(port, "/before");
    assert_true(file_holds(path, "GET /before "));
    usleep(100000);
    assert_int_equal(rename(path, rotated), 0);
    for (int round = 0; round < 3; round++) {
        /* Reopening again and again, under requests, loses no line. */
        assert_int_equal(kill(getpid(), SIGUSR1), 0);
        usleep(100000);
    }
    get(port, "/after");
    assert_true(file_holds(path, "GET /after "));
    assert_true(file_lacks(path, "GET /before "));
    assert_true(file_lacks(rotated, "GET /after "));
    assert_true(file_holds(rotated, "GET /before "));
    /* A path that cannot be opened any more: an error, and the old file
     * goes on. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(rotated), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_true(fh_access_log_reopen() < 0);
    get(port, "/still");
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    pthread_join(th, NULL);
    fh_server_free(server);
    fh_chain_free(chain);
    fh_middleware_release(&log);
    /* With no log open by path, reopening does nothing. */
    assert_int_equal(fh_access_log_reopen(), 0);
}

static size_t count_lines_in(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t k = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        k += ch == '\n';
    fclose(f);
    return k;
}

/* n keep-alive requests on one connection, answered one by one. */
static void get_many(int port, int n, const char *target) {
    int fd = fht_connect(port);
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", target);
    for (int i = 0; i < n; i++) {
        fht_send_str(fd, req);
        fht_expect(fd, 200, "hi");
    }
    fht_close(fd);
}

static void test_counted_lines_across_reopen(void **state) {
    (void)state;
    enum { N = 3000, M = 2000 };
    char dir[] = "/tmp/fh_reopen_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], rotated[256];
    snprintf(path, sizeof(path), "%s/access.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/access.log.1", dir);
    fh_access_log_options_t opt = { .path = path, .flush_ms = 10 };
    fh_middleware_t log = { 0 };
    assert_int_equal(fh_access_log_new(&log, &opt), 0);
    fh_chain_t *chain;
    assert_int_equal(fh_chain_new(&chain, hello, NULL), 0);
    assert_int_equal(fh_chain_use(chain, &log), 0);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.threads = 2;
    cfg.handler = fh_chain_handle;
    cfg.handler_data = chain;
    if (fht_over_tls())
        fht_tls_config(&cfg);
    assert_int_equal(fh_server_new(&server, &cfg), 0);
    int port = fh_server_port(server);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run, NULL), 0);
    get(port, "/first");
    assert_true(file_holds(path, "GET /first "));
    get_many(port, N - 1, "/old");
    /* Every worker's buffer reaches the writer's queue within flush_ms;
     * the reopen comes right after, while the writer may still be writing
     * the queue to the old file. */
    usleep(1000000);
    assert_int_equal(rename(path, rotated), 0);
    assert_int_equal(fh_access_log_reopen(), 0);
    get_many(port, M, "/new");
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    pthread_join(th, NULL);
    fh_server_free(server);
    fh_chain_free(chain);
    uint64_t dropped = fh_access_log_dropped(&log);
    fh_middleware_release(&log); /* every line written */
    assert_int_equal(dropped, 0);
    assert_int_equal(count_lines_in(rotated), N);
    assert_int_equal(count_lines_in(path), M);
    assert_true(file_lacks(path, "GET /old "));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(rotated), 0);
    assert_int_equal(rmdir(dir), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigusr1_reopens),
        cmocka_unit_test(test_counted_lines_across_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
