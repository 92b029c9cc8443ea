/* Internal: TLS (tls_context.c: certificates, keys, tickets and reloads;
 * transport_tls.c: the transport).
 *
 * The server's TLS state holds the current context set: the SSL_CTX of the
 * default certificate and one per SNI certificate, built together from the
 * files and replaced as one by a reload. Each connection holds a reference
 * to the set it started with, so that a reload never changes a connection
 * in flight. Session ticket keys belong to the server state, not to a set:
 * tickets stay valid across reloads. */
#ifndef FH_CORE_TLS_H
#define FH_CORE_TLS_H

#include <fasthttp.h>
#include <openssl/ssl.h>

#include "core/transport.h"

typedef struct fh__tls fh__tls_t;
typedef struct fh__tls_set fh__tls_set_t;

/* Builds the TLS state for cfg (cfg->cert_file set), loading every file.
 * Returns 0, FH_ENOMEM, or FH_ECONFIG with a message naming the field and
 * the file (fh__config_refuse). */
int fh__tls_new(fh__tls_t **out, const fh_tls_config_t *cfg);
void fh__tls_free(fh__tls_t *tls);
/* Loads the files again; on success new connections get the new set. */
int fh__tls_reload(fh__tls_t *tls);
/* The current set, with a reference taken (fh__tls_set_unref lets it go),
 * and its default context. */
fh__tls_set_t *fh__tls_set_ref(fh__tls_t *tls);
void fh__tls_set_unref(fh__tls_set_t *set);
SSL_CTX *fh__tls_set_ctx(const fh__tls_set_t *set);
/* The handshake timeout, in ms. */
uint32_t fh__tls_handshake_ms(const fh__tls_t *tls);
/* Makes the ticket keys be replaced now, as if the period had passed
 * (tests). */
void fh__tls_rotate_tickets(fh__tls_t *tls);

/* The TLS transport: OpenSSL reading the socket, records written through
 * the connection's own output buffer, one send per batch. */
extern const fh__transport_t fh__transport_tls;

#endif
