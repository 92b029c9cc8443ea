/* A port belongs to one server unless every server on it says share_port.
 * A running server's port is asked for again by a second server in this
 * process (same address, every interface), by the hello example in
 * another process, and by a thousand servers in a row: every one is
 * refused with "address already in use" naming the address, and the
 * running server alone answers. With share_port on both, two servers
 * listen on one port. Once a server is freed, its port is free again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"

static int first(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "first");
}

static fh_server_config_t config(int port, const char *host) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = first;
    cfg.host = host;
    cfg.port = port;
    cfg.threads = 2;
    return cfg;
}

static void test_second_server_refused(void **state) {
    (void)state;
    fh_server_config_t cfg = config(0, "127.0.0.1");
    fht_start(&cfg);
    char want[128];
    snprintf(want, sizeof(want), "fasthttp: cannot listen on 127.0.0.1:%d: address already in use",
             fht_port);
    for (int i = 0; i < 1000; i++) {
        fh_server_config_t again = config(fht_port, "127.0.0.1");
        fh_server_t *s = NULL;
        int err = fh_server_new(&s, &again);
        assert_int_equal(err, FH_EADDRINUSE);
        assert_null(s);
        assert_string_equal(fh_server_config_error(&again, err), want);
    }
    /* Every interface, the same port: refused too. */
    fh_server_config_t any = config(fht_port, NULL);
    fh_server_t *s = NULL;
    int err = fh_server_new(&s, &any);
    assert_int_equal(err, FH_EADDRINUSE);
    assert_non_null(strstr(fh_server_config_error(&any, err), "address already in use"));
    /* The first server still answers, every time. */
    for (int i = 0; i < 20; i++) {
        fht_response_t r;
        fht_request("GET", "/", NULL, &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "first");
        fht_response_free(&r);
    }
    fht_stop();
}

/* The hello example, started as a user would on a port a server holds:
 * it exits with an error naming the address, and serves nothing. */
static void test_other_process_refused(void **state) {
    (void)state;
    const char *dir = getenv("FH_BINARY_DIR");
    assert_non_null(dir);
    char bin[1024];
    snprintf(bin, sizeof(bin), "%s/examples/hello/hello", dir);
    assert_int_equal(access(bin, X_OK), 0);
    fh_server_config_t cfg = config(0, "127.0.0.1");
    fht_start(&cfg);
    char cmd[1200], out[] = "/tmp/fh_listen_XXXXXX";
    int ofd = mkstemp(out);
    assert_true(ofd >= 0);
    close(ofd);
    snprintf(cmd, sizeof(cmd), "timeout 20 %s --host 127.0.0.1 --port %d > %s 2>&1", bin, fht_port,
             out);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_not_equal(WEXITSTATUS(rc), 0);
    assert_int_not_equal(WEXITSTATUS(rc), 124); /* did not run until the timeout */
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char text[1024] = { 0 };
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    unlink(out);
    text[n] = '\0';
    char want[128];
    snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%d: address already in use", fht_port);
    if (!strstr(text, want))
        fail_msg("hello said \"%s\", not \"%s\"", text, want);
    fht_response_t r;
    fht_request("GET", "/", NULL, &r);
    assert_string_equal(r.body, "first");
    fht_response_free(&r);
    fht_stop();
}

/* share_port on both: two servers on one port; once freed, the port is
 * free for a server that does not share. */
static void test_share_port(void **state) {
    (void)state;
    fh_server_config_t a = config(0, "127.0.0.1");
    a.share_port = true;
    fh_server_t *sa = NULL, *sb = NULL;
    assert_int_equal(fh_server_new(&sa, &a), 0);
    int port = fh_server_port(sa);
    fh_server_config_t b = config(port, "127.0.0.1");
    b.share_port = true;
    assert_int_equal(fh_server_new(&sb, &b), 0);
    assert_int_equal(fh_server_port(sb), port);
    fh_server_free(sb);
    fh_server_free(sa);
    fh_server_config_t c = config(port, "127.0.0.1");
    fh_server_t *sc = NULL;
    assert_int_equal(fh_server_new(&sc, &c), 0);
    /* ...and it holds the port now: a sharing server is refused. */
    fh_server_config_t d = config(port, "127.0.0.1");
    d.share_port = true;
    fh_server_t *sd = NULL;
    assert_int_equal(fh_server_new(&sd, &d), FH_EADDRINUSE);
    fh_server_free(sc);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_server_refused),
        cmocka_unit_test(test_other_process_refused),
        cmocka_unit_test(test_share_port),
    };
    return cmocka_run_group_tests(tests, NULL, fht_teardown);
}
