/* Session resumption against openssl s_client (-sess_out, then -sess_in):
 * tickets in TLS 1.3 and 1.2, the server's session cache (TLS 1.2 without
 * tickets), ticket keys replaced (a ticket of the previous keys still
 * resumes, one older does not) by the call and by the period, tickets
 * resumed on another worker thread, and instances sharing a ticket key
 * file resuming each other's sessions. */
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
static int other_port; /* handshake goes there when set, else to fht_port */

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
            other_port ? other_port : fht_port, opts);
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
    start(2);
    assert_string_equal(save("-tls1_3", ""), "New");
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    usleep(2200 * 1000); /* one period: the keys are replaced, the old ones still open */
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    usleep(4500 * 1000); /* two more: gone */
    assert_string_equal(resume("-tls1_3", ""), "New");
    fht_stop();
    start(0);
}

static fh_server_t *start_keyed(const char *key_file) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 1;
    fht_tls_config(&cfg);
    cfg.tls.ticket_key_file = key_file;
    return fht_server_start(&cfg);
}

static void test_shared_ticket_key(void **state) {
    (void)state;
    char key[256];
    snprintf(key, sizeof(key), "%s", fht_tls_path("ticket.key"));
    assert_int_equal(fht_run(out, sizeof(out), "openssl rand 80 > '%s'", key), 0);
    /* Two instances sharing the key file resume each other's sessions. */
    fh_server_t *a = start_keyed(key), *b = start_keyed(key), *c = start_keyed(NULL);
    other_port = fh_server_port(a);
    assert_string_equal(save("-tls1_3", ""), "New");
    other_port = fh_server_port(b);
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    other_port = fh_server_port(c); /* keys of its own: a full handshake */
    assert_string_equal(resume("-tls1_3", ""), "New");
    /* A new file, reloaded: the keys it replaced still open tickets; one
     * more, and they do not. */
    assert_int_equal(fht_run(out, sizeof(out), "openssl rand 80 > '%s'", key), 0);
    assert_int_equal(fh_server_tls_reload(a), 0);
    other_port = fh_server_port(a);
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    assert_int_equal(fht_run(out, sizeof(out), "openssl rand 80 > '%s'", key), 0);
    assert_int_equal(fh_server_tls_reload(a), 0);
    assert_string_equal(resume("-tls1_3", ""), "New");
    /* A file of another size is refused, naming it; the keys stay. */
    assert_int_equal(fht_run(out, sizeof(out), "openssl rand 10 > '%s'", key), 0);
    int err = fh_server_tls_reload(a);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(NULL, err), "config.tls.ticket_key_file: "));
    assert_non_null(strstr(fh_server_config_error(NULL, err), "holds 10 bytes, not 80"));
    assert_string_equal(save("-tls1_3", ""), "New");
    assert_string_equal(resume("-tls1_3", ""), "Reused");
    other_port = 0;
    fht_server_stop(a);
    fht_server_stop(b);
    fht_server_stop(c);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    fht_tls_config(&cfg);
    cfg.tls.ticket_key_file = key;
    fh_server_t *s = NULL;
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "holds 10 bytes, not 80"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tickets),           cmocka_unit_test(test_session_cache),
        cmocka_unit_test(test_ticket_rotation),   cmocka_unit_test(test_rotation_period),
        cmocka_unit_test(test_shared_ticket_key),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
