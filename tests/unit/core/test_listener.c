/* The listener on a loop run here: binding (a bad host names why, port 0
 * gives a port), accepting up to the connection cap and resuming when one
 * closes, and closing for good after taking what the kernel had queued, so
 * that a later client is refused rather than reset. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/conn.h"
#include "core/worker.h"

static fh_server_t server;
static fh__worker_t worker;
static int port;

static void spin(int rounds) {
    for (int i = 0; i < rounds; i++) {
        uv_run(&worker.loop, UV_RUN_NOWAIT);
        usleep(500);
    }
}

static int setup(void **state) {
    (void)state;
    memset(&server, 0, sizeof(server));
    fh_server_config_t d = fh_server_config_default();
    server.cfg = d;
    server.cfg.limits.max_connections = 2;
    server.cfg.limits.max_header_bytes = 8192;
    server.cfg.limits.max_body = 8192;
    server.cfg.timeouts.header_ms = 10000;
    server.cfg.timeouts.write_ms = 10000;
    server.cfg.timeouts.keepalive_ms = 10000;
    server.transport = &fh__transport_tcp;
    assert_int_equal(fh__worker_new(&worker, &server, 0), 0);
    worker.listeners = calloc(1, sizeof(*worker.listeners));
    assert_non_null(worker.listeners);
    worker.nlisteners = 1;
    assert_int_equal(uv_loop_init(&worker.loop), 0);
    worker.loop.data = &worker;
    const char *why = NULL;
    assert_int_equal(fh__listener_bind("127.0.0.1", 0, 64, &worker.listeners[0].fd, &port, &why),
                     0);
    assert_true(port > 0);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fh__conn_stop_all(&worker, true);
    spin(5);
    assert_int_equal(uv_loop_close(&worker.loop), 0);
    fh__worker_free(&worker);
    return 0;
}

static int client(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

static void test_bind_errors(void **state) {
    (void)state;
    uv_os_sock_t fd;
    int p;
    const char *why = NULL;
    assert_int_equal(fh__listener_bind("300.1.1.1", 0, 8, &fd, &p, &why), FH_ECONFIG);
    assert_non_null(why);
    assert_non_null(strstr(why, "IPv4 or IPv6"));
    /* An address that is not this machine's. */
    assert_int_equal(fh__listener_bind("192.0.2.1", 0, 8, &fd, &p, &why), UV_EADDRNOTAVAIL);
}

static void test_cap_pauses_and_resumes(void **state) {
    (void)state;
    assert_int_equal(fh__listener_start(&worker.listeners[0], &worker), 0);
    int a = client(), b = client(), c = client();
    assert_true(a >= 0 && b >= 0 && c >= 0); /* the kernel queues the third */
    spin(20);
    assert_int_equal(worker.nconns, 2);
    assert_true(worker.listeners[0].paused);
    /* One leaves: the third is taken. */
    close(a);
    spin(20);
    assert_int_equal(worker.nconns, 2);
    close(b);
    close(c);
    spin(20);
    assert_int_equal(worker.nconns, 0);
    assert_false(worker.listeners[0].paused);
}

static void test_close_takes_the_queue_then_refuses(void **state) {
    (void)state;
    /* Connected but not accepted yet: the loop has not run. */
    int a = client(), b = client();
    assert_true(a >= 0 && b >= 0);
    worker.stopping = true;
    fh__listener_close(&worker.listeners[0]);
    assert_int_equal(worker.nconns, 2); /* taken, to be served, not reset */
    spin(10);
    assert_int_equal(worker.listeners[0].fd, -1);
    assert_int_equal(client(), -ECONNREFUSED);
    /* The stop itself is the worker's (its timers are not made here). */
    worker.stopping = false;
    close(a);
    close(b);
}

static int no_handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_status(res, 200);
}

/* The server's messages name the address it could not listen on. */
static void test_listen_errors_name_the_address(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* no SO_REUSEPORT: exclusive */
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    int taken = ntohs(sa.sin_port);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = no_handler;
    cfg.host = "127.0.0.1";
    cfg.port = taken;
    cfg.threads = 1;
    fh_server_t *s = NULL;
    int err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_EADDRINUSE);
    char want[128];
    snprintf(want, sizeof(want), "fasthttp: cannot listen on 127.0.0.1:%d: address already in use",
             taken);
    assert_string_equal(fh_server_config_error(&cfg, err), want);
    close(fd);
    cfg.port = 0;
    cfg.host = "192.0.2.1"; /* not this machine's */
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, UV_EADDRNOTAVAIL);
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "cannot listen on 192.0.2.1:0: "));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_errors),
        cmocka_unit_test(test_cap_pauses_and_resumes),
        cmocka_unit_test(test_close_takes_the_queue_then_refuses),
        cmocka_unit_test(test_listen_errors_name_the_address),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
