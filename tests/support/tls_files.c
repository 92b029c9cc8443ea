/* TLS test material and client commands (tls_files.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>

#include <cmocka.h>

#include "tls_files.h"

static char dir[64];

static void remove_dir(void) {
    char cmd[128];
    if (!dir[0])
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int fht_run(char *out, size_t cap, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof(full), "exec 2>&1 </dev/null; %s", cmd);
    /* The command's own redirections (a pipe into s_client) come after the
     * </dev/null and win. */
    FILE *p = popen(full, "r");
    if (!p)
        return -1;
    size_t n = 0;
    if (out && cap) {
        size_t r;
        while (n + 1 < cap && (r = fread(out + n, 1, cap - 1 - n, p)) > 0)
            n += r;
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof(sink), p) > 0) {
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int fht_count(const char *hay, const char *needle) {
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

const char *fht_tls_path(const char *name) {
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "%s/%s", fht_tls_dir(), name);
    return b;
}

void fht_tls_make_cert(const char *base, const char *subj, const char *san, const char *extra) {
    const char *d = fht_tls_dir();
    char out[4096];
    int st =
        fht_run(out, sizeof(out),
                "cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                "-nodes -keyout '%s.key' -out '%s.csr' -subj '%s' && "
                "printf 'subjectAltName=%s\\nbasicConstraints=CA:FALSE\\n' > '%s.ext' && "
                "openssl x509 -req -in '%s.csr' -CA ca.pem -CAkey ca.key -CAcreateserial "
                "-days 2 -extfile '%s.ext' -out '%s.leaf' %s && cat '%s.leaf' ca.pem > '%s.pem'",
                d, base, base, subj, san, base, base, base, base, extra ? extra : "", base, base);
    if (st != 0)
        fail_msg("openssl could not make %s: %s", base, out);
}

void fht_tls_make_cert_dated(const char *base, const char *subj, const char *san, const char *start,
                             const char *end) {
    const char *d = fht_tls_dir();
    char out[4096];
    int st = fht_run(
        out, sizeof(out),
        "cd '%s' && mkdir -p cadb && touch cadb/index.txt && { [ -f cadb/serial ] || echo 01 > "
        "cadb/serial; } && printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=cadb/index.txt\\n"
        "serial=cadb/serial\\nnew_certs_dir=cadb\\ncertificate=ca.pem\\nprivate_key=ca.key\\n"
        "default_md=sha256\\npolicy=p\\ncopy_extensions=copy\\nunique_subject=no\\n[p]\\n"
        "commonName=supplied\\n' > ca.cnf && openssl req -new -newkey ec -pkeyopt "
        "ec_paramgen_curve:prime256v1 -nodes -keyout '%s.key' -out '%s.csr' -subj '%s' -addext "
        "'subjectAltName=%s' && openssl ca -batch -config ca.cnf -in '%s.csr' -out '%s.leaf' "
        "%s%s %s%s -notext && cat '%s.leaf' ca.pem > '%s.pem'",
        d, base, base, subj, san, base, base, start ? "-startdate " : "-days 2", start ? start : "",
        end ? "-enddate " : "", end ? end : "", base, base);
    if (st != 0)
        fail_msg("openssl could not make %s: %s", base, out);
}

void fht_tls_make_ocsp(const char *base) {
    char out[4096];
    int st = fht_run(out, sizeof(out),
                     "cd '%s' && openssl ocsp -issuer ca.pem -cert '%s.leaf' -reqout '%s.req' "
                     "-no_nonce && openssl ocsp -index cadb/index.txt -rsigner ca.pem -rkey ca.key "
                     "-CA ca.pem -reqin '%s.req' -respout '%s.ocsp' -ndays 1",
                     fht_tls_dir(), base, base, base, base);
    if (st != 0)
        fail_msg("openssl could not make an OCSP response for %s: %s", base, out);
}

void fht_tls_make_self_signed(const char *base, const char *subj) {
    char out[4096];
    int st = fht_run(out, sizeof(out),
                     "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                     "ec_paramgen_curve:prime256v1 -nodes -keyout '%s.key' -out '%s.pem' -days 2 "
                     "-subj '%s'",
                     fht_tls_dir(), base, base, subj);
    if (st != 0)
        fail_msg("openssl could not make %s: %s", base, out);
}

const char *fht_tls_dir(void) {
    if (dir[0])
        return dir;
    snprintf(dir, sizeof(dir), "/tmp/fh-tls-XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        fail_msg("mkdtemp failed");
    }
    atexit(remove_dir);
    char out[4096];
    int st = fht_run(out, sizeof(out),
                     "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
                     "ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 "
                     "-subj '/CN=fasthttp test CA'",
                     dir);
    if (st != 0)
        fail_msg("openssl could not make the CA: %s", out);
    fht_tls_make_cert("localhost", "/CN=localhost", "DNS:localhost,IP:127.0.0.1", NULL);
    return dir;
}

void fht_tls_config(fh_server_config_t *cfg) {
    static char cert[256], key[256];
    snprintf(cert, sizeof(cert), "%s", fht_tls_path("localhost.pem"));
    snprintf(key, sizeof(key), "%s", fht_tls_path("localhost.key"));
    cfg->tls.cert_file = cert;
    cfg->tls.key_file = key;
}
