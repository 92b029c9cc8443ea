/**
 * @file
 * fasthttp — HTTPS: TLS 1.2 and 1.3 over OpenSSL 3 (docs/tls.md).
 *
 * A server whose cfg.tls.cert_file is set speaks TLS on its port, with
 * every feature of plain HTTP on top (keep-alive, pipelining, streaming,
 * SSE, static files; a takeover is refused with FH_ENOTSUP):
 *
 *     cfg.tls.cert_file = "/etc/app/chain.pem";   // leaf first, then CAs
 *     cfg.tls.key_file = "/etc/app/key.pem";
 *
 * or, for every program that calls fh_server_config_env or
 * fh_server_config_args, TLS_CERT=... TLS_KEY=... in the environment.
 *
 * Defaults: TLS 1.2 and 1.3 only, Mozilla's "intermediate" cipher list,
 * ALPN "http/1.1", session tickets (their keys rotated) and a server-side
 * session cache, OCSP stapling when a response file is given, buffers released while a connection is idle, renegotiation
 * refused, a handshake timeout of its own. A client that sends plain HTTP
 * to the port is answered 400 ("a plain HTTP request was sent to an HTTPS
 * port") and closed.
 */
#ifndef FASTHTTP_TLS_H
#define FASTHTTP_TLS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A server (server.h). */
typedef struct fh_server fh_server_t;
/** A request (request.h). */
typedef struct fh_request fh_request_t;

/** A further certificate, chosen by the name the client asks for (SNI). */
typedef struct fh_tls_cert {
    /** The server name it serves: "api.example.com", or "*.example.com"
     * for every name one label under example.com. Matched without regard
     * to case. */
    const char *server_name;
    const char *cert_file; /**< PEM: the certificate, then its chain */
    const char *key_file;  /**< PEM: its private key */
    /** DER: an OCSP response for the certificate, stapled to handshakes
     * whose client asks (status_request); NULL: none. Read again by
     * fh_server_tls_reload: renew the file, then reload. */
    const char *ocsp_file;
} fh_tls_cert_t;

/** Whether clients must show a certificate (mTLS). */
typedef enum fh_tls_verify {
    FH_TLS_VERIFY_NONE = 0, /**< none is asked for (default) */
    FH_TLS_VERIFY_OPTIONAL, /**< asked for; one shown must verify */
    FH_TLS_VERIFY_REQUIRED, /**< a client without a valid one is refused */
} fh_tls_verify_t;

/** TLS settings (fh_server_config_t.tls). All zero: plain HTTP. The file
 * names are copied by fh_server_new and read again by fh_server_tls_reload. */
typedef struct fh_tls_config {
    /** PEM file: the server's certificate, then its intermediate CAs.
     * NULL: no TLS. Environment: TLS_CERT. */
    const char *cert_file;
    /** PEM file: the certificate's private key. Environment: TLS_KEY. */
    const char *key_file;
    /** DER file: an OCSP response for cert_file's certificate, stapled
     * when a client asks for one; NULL: none. Environment: TLS_OCSP. */
    const char *ocsp_file;
    /** Certificates chosen by SNI (copied by fh_server_new, with their
     * strings). A client asking for no name, or a name none of them
     * serves, gets cert_file's. */
    const fh_tls_cert_t *certs;
    size_t ncerts; /**< entries of certs */
    /** PEM file of the CAs that client certificates must chain to; set,
     * client certificates are asked for (verify_client, default
     * OPTIONAL when this is set). Environment: TLS_CLIENT_CA. */
    const char *client_ca_file;
    /** NONE, OPTIONAL or REQUIRED; REQUIRED needs client_ca_file.
     * Environment: TLS_VERIFY_CLIENT=none|optional|required. */
    fh_tls_verify_t verify_client;
    /** A handshake must complete within: 10000 ms (0: the default). The
     * request head's timeout starts when it has. */
    uint32_t handshake_ms;
    /** Session tickets' keys are replaced every this many seconds, and a
     * ticket is accepted for two such periods: 3600 (0: the default). */
    uint32_t ticket_rotate_s;
    /** A file of 80 bytes (16 of key name, 32 of AES key, 32 of HMAC key;
     * `openssl rand 80 > file`) that seals and opens tickets instead of
     * keys of the server's own, so that instances sharing the file resume
     * each other's sessions. The keys then change only when the file does:
     * fh_server_tls_reload reads it again, and the keys it replaces still
     * open tickets until the next reload. NULL: keys made at start and
     * rotated every ticket_rotate_s. Environment: TLS_TICKET_KEY. */
    const char *ticket_key_file;
    /** Sessions kept by the server's session cache (resumption without
     * tickets): 20480 (0: the default). */
    uint32_t session_cache_size;
} fh_tls_config_t;

/** Loads the certificates and keys again (the files named in the config,
 * and the client CAs): handshakes that start afterwards use the new ones,
 * connections already open keep theirs. fh_server_run calls it on SIGHUP.
 * Callable from any thread while the server runs. Returns 0, FH_ESTATE for
 * a server without TLS, or FH_ECONFIG when a file cannot be used: the old
 * certificates then stay, and the reason, naming the file, is written to
 * stderr and given by fh_server_config_error (in the calling thread). */
FH_API int fh_server_tls_reload(fh_server_t *server);

/** The subject of the certificate a client showed and that verified (mTLS),
 * in OpenSSL's one-line RFC 2253 form ("CN=client,O=Example"); an absent
 * view when the connection is not TLS or showed none. The bytes live in
 * the request's arena: valid until the response ends. */
FH_API fh_str_t fh_request_tls_subject(fh_request_t *req);

/** The subject alternative names (DNS names, e-mail addresses, URIs and IP
 * addresses, as text) of the client's verified certificate, written into
 * out (up to max of them). Returns how many the certificate holds (which
 * may exceed max), 0 when none. The views live in the request's arena:
 * valid until the response ends. */
FH_API size_t fh_request_tls_sans(fh_request_t *req, fh_str_t *out, size_t max);

/** The protocol the handshake agreed on by ALPN ("http/1.1"), an absent
 * view when none was or the connection is not TLS. Static: always valid. */
FH_API fh_str_t fh_request_tls_alpn(fh_request_t *req);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_TLS_H */
