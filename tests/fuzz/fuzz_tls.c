/* libFuzzer target: the TLS transport under the real connection code, with
 * the server's handshake.
 *
 * Input: one byte choosing the mode, then the client's bytes.
 *   mode 0: the bytes are what the client sends before any handshake (a
 *           ClientHello or anything else: plain HTTP, garbage, records cut
 *           short), in fragments;
 *   mode 1: an OpenSSL client completes the handshake, then sends the bytes
 *           as application data, one record per fragment (HTTP requests,
 *           pipelined, through the transport's read path), and reads every
 *           answer;
 *   mode 2: the handshake completes, then the bytes follow raw (records the
 *           server cannot decrypt, alerts, a second ClientHello).
 * Whatever comes, the connection must end once the client has closed its
 * side, without a sanitizer report, and with every allocation freed. The
 * certificate is made by the openssl command when the target starts.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn_driver.h"
#include "core/tls.h"

static SSL_CTX *client_ctx;
static char dir[64];

static void cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_tls: could not remove %s\n", dir);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t body = fh_request_body(req);
    return fh_send(res, 200, "text/plain", body.ptr, body.len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    (void)fz_connection; /* the plain driver: this target opens TLS connections itself */
    snprintf(dir, sizeof(dir), "/tmp/fh-fuzz-tls-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost 2>/dev/null",
             dir);
    if (system(cmd) != 0)
        abort();
    static char cert[128], key[128];
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.limits.max_body = 65536;
    cfg.tls.cert_file = cert;
    cfg.tls.key_file = key;
    fz_init(&cfg);
    client_ctx = SSL_CTX_new(TLS_client_method());
    if (!client_ctx)
        abort();
    SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

/* Runs the server's loop a few turns. */
static void turn(void) {
    for (int i = 0; i < 4; i++)
        uv_run(&fz_worker->loop, UV_RUN_NOWAIT);
}

/* Reads what the server sent: decrypted by the client when there is one,
 * dropped raw otherwise. */
static void client_drain(SSL *c, int fd) {
    char buf[16384];
    if (!c) {
        while (read(fd, buf, sizeof(buf)) > 0) {
        }
        return;
    }
    for (int i = 0; i < 64; i++) {
        int r = SSL_read(c, buf, sizeof(buf));
        if (r <= 0)
            break;
    }
    ERR_clear_error();
}

static bool handshake(SSL *c) {
    for (int round = 0; round < 64; round++) {
        int r = SSL_do_handshake(c);
        if (r == 1)
            return true;
        int e = SSL_get_error(c, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            break;
        turn();
    }
    ERR_clear_error();
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    uint32_t seed = data[0] / 3;
    data++;
    size--;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (fh__conn_open(fz_worker, sv[0], &fh__transport_tls, &fh__http1_protocol) != 0)
        abort();
    SSL *c = NULL;
    bool raw = true;
    if (mode != 0) {
        c = SSL_new(client_ctx);
        if (!c || SSL_set_fd(c, sv[1]) != 1)
            abort();
        SSL_set_connect_state(c);
        SSL_set_alpn_protos(c, (const unsigned char *)"\x08http/1.1", 9);
        raw = !handshake(c) || mode == 2;
    }
    fz_cuts_t cuts = { seed * 2654435761u + 1, seed ? 1 + (int)(seed % 4) : 0 };
    size_t off = 0;
    while (off < size && fz_worker->nconns > 0) {
        size_t n = fz_next_fragment(&cuts, size - off);
        ssize_t w;
        if (raw) {
            w = send(sv[1], data + off, n, MSG_NOSIGNAL);
        } else {
            w = SSL_write(c, data + off, (int)n);
            if (w <= 0) {
                ERR_clear_error();
                w = SSL_get_error(c, (int)w) == SSL_ERROR_WANT_WRITE ? 0 : -1;
            }
        }
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;
        turn();
        client_drain(raw ? NULL : c, sv[1]);
    }
    shutdown(sv[1], SHUT_WR);
    for (int round = 0; fz_worker->nconns > 0 && round < 200; round++) {
        turn();
        client_drain(raw ? NULL : c, sv[1]);
    }
    if (fz_worker->nconns > 0) {
        fprintf(stderr, "fuzz_tls: the connection did not end after the client closed\n");
        abort();
    }
    while (uv_run(&fz_worker->loop, UV_RUN_NOWAIT))
        ;
    SSL_free(c);
    close(sv[1]);
    return 0;
}
