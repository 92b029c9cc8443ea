/* Certificates reloaded without a restart (fh_server_tls_reload; SIGHUP is
 * tested on an example, tests/examples/tls.sh): handshakes after a reload
 * get the new certificate while connections already open keep theirs and
 * go on being served; a bad new file keeps the old certificate and says
 * why; and under load, with reloads every few milliseconds, no request is
 * lost. The clients are OpenSSL's own (the test's), and curl. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
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

#include "testutil.h"
#include "tls_files.h"

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "Hello");
}

static char out[1 << 16];
static char cert_path[256], key_path[256];

/* The served files become a copy of <base>.pem and <base>.key. */
static void serve_files(const char *base) {
    int st = fht_run(out, sizeof(out),
                     "cd '%s' && cp %s.pem served.tmp && mv served.tmp served.pem "
                     "&& cp %s.key served.tmp && mv served.tmp served.key",
                     fht_tls_dir(), base, base);
    assert_int_equal(st, 0);
}

static int setup(void **state) {
    (void)state;
    fht_tls_make_cert("one", "/CN=localhost/O=one", "DNS:localhost,IP:127.0.0.1", NULL);
    fht_tls_make_cert("two", "/CN=localhost/O=two", "DNS:localhost,IP:127.0.0.1", NULL);
    serve_files("one");
    snprintf(cert_path, sizeof(cert_path), "%s", fht_tls_path("served.pem"));
    snprintf(key_path, sizeof(key_path), "%s", fht_tls_path("served.key"));
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    cfg.tls.cert_file = cert_path;
    cfg.tls.key_file = key_path;
    fht_start(&cfg);
    return 0;
}

/* ------------------------------------------------------ a blocking client */

static SSL_CTX *client_ctx;

typedef struct client {
    int fd;
    SSL *ssl;
} client_t;

static int client_open(client_t *c) {
    c->fd = fht_connect_raw(fht_port);
    if (c->fd < 0)
        return -1;
    struct timeval tv = { 10, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    c->ssl = SSL_new(client_ctx);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set1_host(c->ssl, "localhost");
    if (SSL_connect(c->ssl) != 1) {
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static void client_close(client_t *c) {
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
}

/* The organization of the certificate the connection was served. */
static void client_org(const client_t *c, char *org, size_t cap) {
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    org[0] = '\0';
    if (x)
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_organizationName, org, (int)cap);
}

/* One GET; 0 when "Hello" came back whole. */
static int client_get(client_t *c) {
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    if (SSL_write(c->ssl, req, sizeof(req) - 1) != (int)sizeof(req) - 1)
        return -1;
    char buf[1024];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
        int r = SSL_read(c->ssl, buf + n, (int)(sizeof(buf) - 1 - n));
        if (r <= 0)
            return -1;
        n += (size_t)r;
        buf[n] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end && strlen(end + 4) >= 5)
            return strcmp(end + 4, "Hello") == 0 && strncmp(buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
    }
    return -1;
}

static void served_org(char *org, size_t cap) {
    client_t c = { -1, NULL };
    assert_int_equal(client_open(&c), 0);
    client_org(&c, org, cap);
    assert_int_equal(client_get(&c), 0);
    client_close(&c);
}

static int group_setup(void **state) {
    client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(client_ctx, fht_tls_path("ca.pem"), NULL);
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, NULL);
    return setup(state);
}

static int group_teardown(void **state) {
    fht_teardown(state);
    SSL_CTX_free(client_ctx);
    return 0;
}

/* ------------------------------------------------------------------ tests */

static void test_reload_keeps_connections(void **state) {
    (void)state;
    char org[64];
    served_org(org, sizeof(org));
    assert_string_equal(org, "one");
    client_t old = { -1, NULL };
    assert_int_equal(client_open(&old), 0);
    assert_int_equal(client_get(&old), 0);

    serve_files("two");
    assert_int_equal(fh_server_tls_reload(fht_server), 0);
    served_org(org, sizeof(org));
    assert_string_equal(org, "two");
    int st = fht_run(out, sizeof(out),
                     "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d 2>&1 | grep "
                     "'^subject='",
                     fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "subject=CN = localhost, O = two\n");
    /* The connection opened before goes on, with its certificate. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(client_get(&old), 0);
    client_org(&old, org, sizeof(org));
    assert_string_equal(org, "one");
    client_close(&old);

    serve_files("one");
    assert_int_equal(fh_server_tls_reload(fht_server), 0);
    served_org(org, sizeof(org));
    assert_string_equal(org, "one");
}

static void test_bad_reload_keeps_the_old(void **state) {
    (void)state;
    int st = fht_run(out, sizeof(out), "cd '%s' && echo 'not a certificate' > served.pem",
                     fht_tls_dir());
    assert_int_equal(st, 0);
    int err = fh_server_tls_reload(fht_server);
    assert_int_equal(err, FH_ECONFIG);
    const char *msg = fh_server_config_error(NULL, err);
    assert_non_null(strstr(msg, "config.tls.cert_file: no certificate in"));
    assert_non_null(strstr(msg, "served.pem"));
    char org[64];
    served_org(org, sizeof(org));
    assert_string_equal(org, "one");
    /* A key that is not the certificate's: refused too. */
    serve_files("one");
    st = fht_run(out, sizeof(out), "cd '%s' && cp two.key served.key", fht_tls_dir());
    assert_int_equal(st, 0);
    err = fh_server_tls_reload(fht_server);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(NULL, err), "config.tls.key_file"));
    served_org(org, sizeof(org));
    assert_string_equal(org, "one");
    serve_files("one");
    /* A server without TLS has nothing to reload. */
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.host = "127.0.0.1";
    fh_server_t *plain = NULL;
    assert_int_equal(fh_server_new(&plain, &cfg), 0);
    assert_int_equal(fh_server_tls_reload(plain), FH_ESTATE);
    fh_server_free(plain);
}

/* ------------------------------------------------------------ under load */

enum { LOAD_THREADS = 4, LOAD_REQUESTS = 150, PER_CONN = 10 };

static atomic_int load_ok, load_failed;
static atomic_bool load_done;

static void *load_thread(void *arg) {
    (void)arg;
    client_t c = { -1, NULL };
    for (int i = 0; i < LOAD_REQUESTS; i++) {
        if (i % PER_CONN == 0) {
            client_close(&c);
            if (client_open(&c) != 0) {
                atomic_fetch_add(&load_failed, 1);
                continue;
            }
        }
        if (client_get(&c) == 0)
            atomic_fetch_add(&load_ok, 1);
        else
            atomic_fetch_add(&load_failed, 1);
    }
    client_close(&c);
    return NULL;
}

static void *reload_thread(void *arg) {
    (void)arg;
    for (int i = 0; i < 200 && !atomic_load(&load_done); i++) {
        fh_server_tls_reload(fht_server);
        usleep(5000);
    }
    return NULL;
}

static void test_reload_under_load(void **state) {
    (void)state;
    fh_server_stats_t before, after;
    fh_server_stats(fht_server, &before);
    pthread_t load[LOAD_THREADS], reloader;
    for (int i = 0; i < LOAD_THREADS; i++)
        assert_int_equal(pthread_create(&load[i], NULL, load_thread, NULL), 0);
    assert_int_equal(pthread_create(&reloader, NULL, reload_thread, NULL), 0);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(load[i], NULL);
    atomic_store(&load_done, true);
    pthread_join(reloader, NULL);
    assert_int_equal(atomic_load(&load_failed), 0);
    assert_int_equal(atomic_load(&load_ok), LOAD_THREADS * LOAD_REQUESTS);
    fh_server_stats(fht_server, &after);
    assert_int_equal(after.requests - before.requests, LOAD_THREADS * LOAD_REQUESTS);
    assert_int_equal(after.connections_accepted - before.connections_accepted,
                     LOAD_THREADS * LOAD_REQUESTS / PER_CONN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_keeps_connections),
        cmocka_unit_test(test_bad_reload_keeps_the_old),
        cmocka_unit_test(test_reload_under_load),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
