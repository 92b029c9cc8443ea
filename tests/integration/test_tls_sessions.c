/* Session resumption against openssl s_client (-sess_out, then -sess_in):
 * tickets in TLS 1.3 and 1.2, the server's session cache (TLS 1.2 without
 * tickets), ticket keys replaced (a ticket of the previous keys still
 * resumes, one older does not) by the call and by the period, and tickets
 * resumed on another worker thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/tls.h"
#include "core/worker.h"
#include "testutil.h"
#include "tls_files.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "Hello");
}

static char out[1 << 16];

static void start(uint32_t rotate_s) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fht_tls_config(&cfg);
    cfg.tls.ticket_rotate_s = rotate_s;
    fht_start(&cfg);
}

/* One request over s_client with opts; "New" or "Reused" (or "" when the
 * handshake failed), after checking the answer came. */
static const char *handshake(const char *opts) {
    fht_run(out, sizeof(out),
            "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
            "timeout 20 openssl s_client -connect 127.0.0.1:%d -ign_eof %s",
            fht_port, opts);
    if (!strstr(out, "\r\n\r\nHello"))
        return "";
    if (strstr(out, "\nReused, "))
        return "Reused";
    return strstr(out, "\nNew, ") ? "New" : "";
}

static char sess[256];

static const char *save(const char *proto, const char *extra) {
    char opts[512];
    snprintf(opts, sizeof(opts), "%s %s -sess_out '%s'", proto, extra, sess);
    return handshake(opts);
}

static const char *resume(const char *proto, const char *extra) {
    char opts[512];
    snprintf(opts, sizeof(opts), "%s %s -sess_in '%s'", proto, extra, sess);
    return handshake(opts);
}

static int setup(void **state) {
    (void)state;
    snprintf(sess, sizeof(sess), "%s", fht_tls_path("session.pem"));
    start(0);
    return 0;
}

static void test_tickets(void **state) {
    (void)state;
    assert_string_equal(save("-tls1_3", ""), "New");
    for (int i = 0; i < 4; i++) /* two workers: some land on the other */
        assert_string_equal(resume("-tls1_3", ""), "Reused");
    assert_non_null(strstr(out, "Reused, TLSv1.3"));
    assert_string_equal(save("-tls1_2", ""), "New");
    assert_non_null(strstr(out, "TLS session ticket lifetime hint: 7200"));
    assert_string_equal(resume("-tls1_2", ""), "Reused");
    assert_non_null(strstr(out, "Reused, TLSv1.2"));
}

static void test_session_cache(void **state) {
    (void)state;
    /* No ticket: only the server's cache can resume it. */
    assert_string_equal(save("-tls1_2", "-no_ticket"), "New");
    assert_null(strstr(out, "TLS session ticket:"));
    for (int i = 0; i < 4; i++)
        assert_string_equal(resume("-tls1_2", "-no_ticket"), "Reused");
}

static void test_ticket_rotation(void **state) {
    (void)state;
    assert_string_equal(save("-tls1_3", ""), "New");
    fh__tls_rotate_tickets(fht_server->tls);
    assert_string_equal(resume("-tls1_3", ""), "Reused"); /* the previous keys */
    fh__tls_rotate_tickets(fht_server->tls);
    assert_string_equal(resume("-tls1_3", ""), "New"); /* older: a full handshake */
    /* A ticket of the current keys goes on resuming. */
    assert_string_equal(save("-tls1_3", ""), "New");
    assert_string_equal(resume("-tls1_3", ""), "Reused");
}

static void test_rotation_period(void **state) {
    (void)state;
    fht_stop();
    start(1);
    assert_string_equal(save("-tls1_3", ""), "New");
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    usleep(1200 * 1000); /* one period: the keys are replaced, the old ones still open */
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    usleep(2400 * 1000); /* two more: gone */
    assert_string_equal(resume("-tls1_3", ""), "New");
    fht_stop();
    start(0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tickets),
        cmocka_unit_test(test_session_cache),
        cmocka_unit_test(test_ticket_rotation),
        cmocka_unit_test(test_rotation_period),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
