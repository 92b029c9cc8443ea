/* TLS test material made at test time with the openssl command: a CA and
 * certificates it signs (ECDSA P-256), and running client commands (curl,
 * openssl s_client) with their output captured. */
#ifndef FH_TLS_FILES_H
#define FH_TLS_FILES_H

#include <fasthttp.h>
#include <stddef.h>

/* The folder (made once per process, removed at exit) holding ca.pem,
 * ca.key, and "localhost" (localhost.pem: leaf then CA; localhost.key) for DNS
 * localhost and IP 127.0.0.1. Fails the test when openssl fails. */
const char *fht_tls_dir(void);
/* The path of name in that folder, in one of four static buffers in turn. */
const char *fht_tls_path(const char *name);
/* Makes <base>.pem (leaf then CA) and <base>.key signed by the CA, for the
 * subject subj ("/CN=x") and subjectAltName san ("DNS:a,IP:1.2.3.4"); extra
 * is appended to the openssl x509 command (NULL: none). Fails the test on
 * error. */
void fht_tls_make_cert(const char *base, const char *subj, const char *san, const char *extra);
/* fht_tls_make_cert for a certificate valid only from start to end
 * ("20200101000000Z"; both NULL: from now, for two days), signed by the CA
 * with openssl ca, which records it in the CA's index. */
void fht_tls_make_cert_dated(const char *base, const char *subj, const char *san, const char *start,
                             const char *end);
/* Makes <base>.ocsp: the CA's OCSP response (DER) saying that <base>'s
 * certificate, made by fht_tls_make_cert_dated, is good. */
void fht_tls_make_ocsp(const char *base);
/* Makes <base>.pem and <base>.key, self-signed (no CA vouches for it). */
void fht_tls_make_self_signed(const char *base, const char *subj);
/* cfg->tls for the localhost certificate (paths in static storage). */
void fht_tls_config(fh_server_config_t *cfg);
/* Runs cmd with sh -c (stdin from /dev/null unless cmd says otherwise),
 * its stdout and stderr into out (NUL-terminated, cut to cap); returns its
 * exit status, or -1 when it could not run. */
int fht_run(char *out, size_t cap, const char *fmt, ...) FH_PRINTF(3, 4);
/* How many times needle occurs in hay. */
int fht_count(const char *hay, const char *needle);

#endif
