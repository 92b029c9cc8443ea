/* Certificates over HTTPS against curl and openssl s_client: SNI choosing
 * among several certificates (exact names and a wildcard, the default for
 * others), client certificates (mTLS) required and optional, accepted and
 * refused, with the verified subject and SANs read from the request, and
 * the server's certificate rejected by curl when it has expired or names
 * another host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "tls_files.h"

/* /who: the client certificate's subject and SANs, or "anonymous". */
static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    if (!fh_str_eq(fh_request_path(req), "/who"))
        return fh_send_text(res, 200, "Hello");
    fh_str_t subject = fh_request_tls_subject(req);
    if (!subject.ptr)
        return fh_send_text(res, 200, "anonymous");
    fh_str_t sans[4];
    size_t n = fh_request_tls_sans(req, sans, 4);
    char text[1024];
    int len = snprintf(text, sizeof(text), "%.*s;%zu", FH_STR_FMT(subject), n);
    for (size_t i = 0; i < n && i < 4 && len < (int)sizeof(text); i++)
        len += snprintf(text + len, sizeof(text) - (size_t)len, ";%.*s", FH_STR_FMT(sans[i]));
    return fh_send_text(res, 200, text);
}

static char out[1 << 16];
static char paths[8][256];

static const char *keep(int i, const char *path) {
    snprintf(paths[i], sizeof(paths[i]), "%s", path);
    return paths[i];
}

static void start_with(void (*tweak)(fh_server_config_t *)) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.threads = 2;
    fht_tls_config(&cfg);
    if (tweak)
        tweak(&cfg);
    fht_start(&cfg);
}

static int setup(void **state) {
    (void)state;
    fht_tls_make_cert("a", "/CN=a.test", "DNS:a.test", NULL);
    fht_tls_make_cert("wild", "/CN=*.b.test", "DNS:*.b.test", NULL);
    fht_tls_make_cert("client", "/CN=client one/O=fasthttp tests",
                      "DNS:client.example,email:one@client.example,IP:10.1.2.3", NULL);
    fht_tls_make_self_signed("stranger", "/CN=stranger");
    fht_tls_make_cert_dated("expired", "/CN=localhost", "DNS:localhost,IP:127.0.0.1",
                            "20200101000000Z", "20200201000000Z");
    fht_tls_make_cert("elsewhere", "/CN=elsewhere.test", "DNS:elsewhere.test", NULL);
    return 0;
}

/* The subject line s_client prints for the certificate it was served. */
static int served_subject(const char *servername, char *subject, size_t cap) {
    char sni[128] = "-noservername";
    if (servername)
        snprintf(sni, sizeof(sni), "-servername %s", servername);
    int st = fht_run(out, sizeof(out),
                     "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d %s 2>&1 | "
                     "grep '^subject='",
                     fht_port, sni);
    snprintf(subject, cap, "%.200s", out);
    char *nl = strchr(subject, '\n');
    if (nl)
        *nl = '\0';
    return st;
}

/* ------------------------------------------------------------------ SNI */

static fh_tls_cert_t sni_certs[2];

static void sni_tweak(fh_server_config_t *cfg) {
    sni_certs[0] = (fh_tls_cert_t){ .server_name = "A.TEST",
                                    .cert_file = keep(0, fht_tls_path("a.pem")),
                                    .key_file = keep(1, fht_tls_path("a.key")) };
    sni_certs[1] = (fh_tls_cert_t){ .server_name = "*.b.test",
                                    .cert_file = keep(2, fht_tls_path("wild.pem")),
                                    .key_file = keep(3, fht_tls_path("wild.key")) };
    cfg->tls.certs = sni_certs;
    cfg->tls.ncerts = 2;
}

static void test_sni(void **state) {
    (void)state;
    start_with(sni_tweak);
    char subject[256];
    assert_int_equal(served_subject("a.test", subject, sizeof(subject)), 0);
    assert_string_equal(subject, "subject=CN = a.test");
    assert_int_equal(served_subject("x.b.test", subject, sizeof(subject)), 0);
    assert_string_equal(subject, "subject=CN = *.b.test");
    /* One label only under a wildcard; unknown names and none: default. */
    assert_int_equal(served_subject("y.x.b.test", subject, sizeof(subject)), 0);
    assert_string_equal(subject, "subject=CN = localhost");
    assert_int_equal(served_subject("unknown.test", subject, sizeof(subject)), 0);
    assert_string_equal(subject, "subject=CN = localhost");
    assert_int_equal(served_subject(NULL, subject, sizeof(subject)), 0);
    assert_string_equal(subject, "subject=CN = localhost");
    /* curl verifies each name against its own certificate. */
    int st = fht_run(out, sizeof(out),
                     "timeout 20 curl -sS --cacert '%s' --resolve a.test:%d:127.0.0.1 --resolve "
                     "x.b.test:%d:127.0.0.1 https://a.test:%d/ https://x.b.test:%d/ "
                     "https://localhost:%d/",
                     fht_tls_path("ca.pem"), fht_port, fht_port, fht_port, fht_port, fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "HelloHelloHello");
    fht_stop();
}

/* ----------------------------------------------------------------- mTLS */

static void mtls_required(fh_server_config_t *cfg) {
    cfg->tls.client_ca_file = keep(4, fht_tls_path("ca.pem"));
    cfg->tls.verify_client = FH_TLS_VERIFY_REQUIRED;
}

static void mtls_optional(fh_server_config_t *cfg) {
    cfg->tls.client_ca_file = keep(4, fht_tls_path("ca.pem"));
}

static int curl_who(const char *cert) {
    char opts[600] = "";
    if (cert)
        snprintf(opts, sizeof(opts), "--cert '%s.pem' --key '%s.key'", cert, cert);
    return fht_run(out, sizeof(out),
                   "timeout 20 curl -sS --cacert '%s' %s https://localhost:%d/who",
                   fht_tls_path("ca.pem"), opts, fht_port);
}

static void test_mtls_required(void **state) {
    (void)state;
    start_with(mtls_required);
    char client[256], stranger[256];
    snprintf(client, sizeof(client), "%s", fht_tls_path("client"));
    snprintf(stranger, sizeof(stranger), "%s", fht_tls_path("stranger"));
    assert_int_equal(curl_who(client), 0);
    assert_string_equal(out, "O=fasthttp tests,CN=client one;3;client.example;one@client.example;"
                             "10.1.2.3");
    /* No certificate, or one no trusted CA signed: refused. */
    assert_int_not_equal(curl_who(NULL), 0);
    assert_int_not_equal(curl_who(stranger), 0);
    int st = fht_run(out, sizeof(out),
                     "printf 'GET /who HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | "
                     "timeout 20 openssl s_client -connect 127.0.0.1:%d -quiet -ign_eof",
                     fht_port);
    (void)st;
    assert_null(strstr(out, "HTTP/1.1 200"));
    assert_non_null(strstr(out, "alert"));
    /* The server still serves the client it trusts. */
    assert_int_equal(curl_who(client), 0);
    fht_stop();
}

static void test_mtls_optional(void **state) {
    (void)state;
    start_with(mtls_optional);
    char client[256], stranger[256];
    snprintf(client, sizeof(client), "%s", fht_tls_path("client"));
    snprintf(stranger, sizeof(stranger), "%s", fht_tls_path("stranger"));
    assert_int_equal(curl_who(NULL), 0);
    assert_string_equal(out, "anonymous");
    assert_int_equal(curl_who(client), 0);
    assert_non_null(strstr(out, "CN=client one;3;"));
    /* A certificate shown must verify, even when none is required. */
    assert_int_not_equal(curl_who(stranger), 0);
    fht_stop();
}

/* ------------------------------------------------- the server's certificate */

static const char *serve_base;

static void serve_tweak(fh_server_config_t *cfg) {
    char p[256];
    snprintf(p, sizeof(p), "%s.pem", serve_base);
    cfg->tls.cert_file = keep(5, fht_tls_path(p));
    snprintf(p, sizeof(p), "%s.key", serve_base);
    cfg->tls.key_file = keep(6, fht_tls_path(p));
}

static void test_bad_server_certs_rejected(void **state) {
    (void)state;
    serve_base = "expired";
    start_with(serve_tweak);
    int st = fht_run(out, sizeof(out), "timeout 20 curl -sS --cacert '%s' https://localhost:%d/",
                     fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 60);
    assert_non_null(strstr(out, "expired"));
    fht_stop();
    serve_base = "elsewhere";
    start_with(serve_tweak);
    st = fht_run(out, sizeof(out), "timeout 20 curl -sS --cacert '%s' https://localhost:%d/",
                 fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 60);
    assert_non_null(strstr(out, "localhost"));
    /* The name it is for passes. */
    st = fht_run(out, sizeof(out),
                 "timeout 20 curl -sS --cacert '%s' --resolve elsewhere.test:%d:127.0.0.1 "
                 "https://elsewhere.test:%d/",
                 fht_tls_path("ca.pem"), fht_port, fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello");
    fht_stop();
}

/* ------------------------------------------------------------------ OCSP */

static void ocsp_tweak(fh_server_config_t *cfg) {
    cfg->tls.cert_file = keep(5, fht_tls_path("stapled.pem"));
    cfg->tls.key_file = keep(6, fht_tls_path("stapled.key"));
    cfg->tls.ocsp_file = keep(7, fht_tls_path("stapled.ocsp"));
}

static void test_ocsp_stapling(void **state) {
    (void)state;
    fht_tls_make_cert_dated("stapled", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", NULL, NULL);
    fht_tls_make_ocsp("stapled");
    start_with(ocsp_tweak);
    int st = fht_run(out, sizeof(out),
                     "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d -status", fht_port);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "OCSP Response Status: successful"));
    assert_non_null(strstr(out, "Cert Status: good"));
    /* A client that does not ask gets none. */
    st = fht_run(out, sizeof(out), "echo | timeout 20 openssl s_client -connect 127.0.0.1:%d",
                 fht_port);
    assert_int_equal(st, 0);
    assert_null(strstr(out, "OCSP Response Status"));
    /* curl checks the stapled status against the certificate. */
    st = fht_run(out, sizeof(out),
                 "timeout 20 curl -sS --cert-status --cacert '%s' https://localhost:%d/",
                 fht_tls_path("ca.pem"), fht_port);
    assert_int_equal(st, 0);
    assert_string_equal(out, "Hello");
    fht_stop();
    /* A file that is no OCSP response is refused by name. */
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    ocsp_tweak(&cfg);
    cfg.tls.ocsp_file = cfg.tls.cert_file; /* PEM, not a DER response */
    fh_server_t *s = NULL;
    int err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "config.tls.ocsp_file: "));
    assert_non_null(strstr(fh_server_config_error(&cfg, err), "is not an OCSP response (DER)"));
}

static void test_config_refusals(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    fht_tls_config(&cfg);
    fh_server_t *s = NULL;
    cfg.tls.verify_client = FH_TLS_VERIFY_REQUIRED;
    int err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err),
                           "config.tls.verify_client: REQUIRED needs config.tls.client_ca_file"));
    cfg.tls.client_ca_file = "/nonexistent/ca.pem";
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_string_equal(fh_server_config_error(&cfg, err),
                        "fasthttp: config.tls.client_ca_file: cannot read \"/nonexistent/ca.pem\": "
                        "No such file or directory");
    cfg.tls.client_ca_file = NULL;
    cfg.tls.verify_client = FH_TLS_VERIFY_NONE;
    fh_tls_cert_t bad = { .server_name = "a.test",
                          .cert_file = "/nonexistent/a.pem",
                          .key_file = "/nonexistent/a.key" };
    cfg.tls.certs = &bad;
    cfg.tls.ncerts = 1;
    err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_non_null(strstr(fh_server_config_error(&cfg, err),
                           "config.tls.certs[0].cert_file: cannot read \"/nonexistent/a.pem\""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni),           cmocka_unit_test(test_mtls_required),
        cmocka_unit_test(test_mtls_optional), cmocka_unit_test(test_bad_server_certs_rejected),
        cmocka_unit_test(test_ocsp_stapling), cmocka_unit_test(test_config_refusals),
    };
    return cmocka_run_group_tests(tests, setup, fht_teardown);
}
