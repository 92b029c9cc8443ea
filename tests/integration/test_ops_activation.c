/* systemd socket activation, the documented protocol (sd_listen_fds(3)):
 * the test makes the listening socket itself, puts it at descriptor 3 and
 * sets LISTEN_PID to this process and LISTEN_FDS=1, as systemd does. The
 * server then listens on that socket (its port, not cfg.port), answers on
 * it with every worker, and unsets the variables so that a second server
 * binds a port of its own. LISTEN_PID naming another process is ignored. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#include <fasthttp.h>

#include "testutil.h"

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "activated");
}

/* A listening socket on 127.0.0.1 at descriptor 3; returns its port. */
static int socket_at_3(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    if (fd != 3) {
        assert_int_equal(dup2(fd, 3), 3);
        close(fd);
    }
    return ntohs(sa.sin_port);
}

static void test_listen_fds(void **state) {
    (void)state;
    int saved = fcntl(3, F_DUPFD_CLOEXEC, 10); /* whatever was at 3 */
    int port = socket_at_3();
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    setenv("LISTEN_FDNAMES", "http", 1);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = hello;
    cfg.threads = 2;
    cfg.host = "127.0.0.1";
    cfg.port = 1; /* ignored: the socket is systemd's */
    fht_start(&cfg);
    assert_int_equal(fht_port, port);
    assert_null(getenv("LISTEN_PID"));
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_FDNAMES"));
    for (int i = 0; i < 50; i++) {
        fht_response_t r;
        fht_request("GET", "/", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "activated");
        fht_response_free(&r);
    }
    /* The variables are gone: a second server binds its own port. */
    fh_server_config_t other = fh_server_config_default();
    other.handler = hello;
    other.threads = 1;
    other.host = "127.0.0.1";
    other.port = 0;
    fh_server_t *s2 = NULL;
    assert_int_equal(fh_server_new(&s2, &other), 0);
    assert_int_not_equal(fh_server_port(s2), port);
    fh_server_free(s2);
    fht_stop();
    if (saved >= 0) {
        dup2(saved, 3);
        close(saved);
    }
}

static void test_other_pid_ignored(void **state) {
    (void)state;
    setenv("LISTEN_PID", "1", 1); /* not this process */
    setenv("LISTEN_FDS", "1", 1);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = hello;
    cfg.threads = 1;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    fht_start(&cfg);
    assert_true(fht_port > 0);
    fht_response_t r;
    fht_request("GET", "/", NULL, &r);
    assert_string_equal(r.body, "activated");
    fht_response_free(&r);
    fht_stop();
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_fds),
        cmocka_unit_test(test_other_pid_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, fht_teardown);
}
