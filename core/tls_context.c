/* TLS contexts: certificates and keys loaded from their files, the protocol
 * versions, ciphers and ALPN, SNI, client verification, the session cache
 * and the session ticket keys, and reloads (see tls.h). */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/tls.h"

/* Mozilla's "intermediate" configuration (version 5.7): TLS 1.2 suites
 * with forward secrecy and AEAD only; TLS 1.3's three suites. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                                   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS "X25519:prime256v1:secp384r1"

typedef struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} ticket_key_t;

/* A DER OCSP response stapled by a context. */
typedef struct ocsp_staple {
    unsigned char *der;
    size_t len;
} ocsp_staple_t;

typedef struct sni_entry {
    char *name; /* lower case; "*.example.com" for a wildcard */
    SSL_CTX *ctx;
    ocsp_staple_t ocsp;
} sni_entry_t;

struct fh__tls_set {
    atomic_int refs;
    SSL_CTX *ctx; /* the default certificate's */
    ocsp_staple_t ocsp;
    sni_entry_t *sni;
    size_t nsni;
};

struct fh__tls {
    fh_tls_config_t cfg; /* strings below are the state's own copies */
    fh_tls_cert_t *certs;
    pthread_mutex_t lock; /* set, keys, keys_at */
    fh__tls_set_t *set;
    ticket_key_t keys[2]; /* [0] seals new tickets, [1] still opens them */
    bool have_old;
    uint64_t keys_at; /* monotonic ms of the last replacement */
};

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* OpenSSL's first reason (the cause), for a message. */
static const char *ssl_reason(void) {
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    return r ? r : "not a usable PEM file";
}

/* -------------------------------------------------------------- callbacks */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
    (void)ssl;
    (void)arg;
    /* The server's list in its order of preference; "h2" joins it ahead
     * of http/1.1 when HTTP/2 exists. */
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* only protocols we do not speak */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static bool name_matches(const char *pattern, const char *name) {
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot && dot != name && strcasecmp(dot, pattern + 1) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static int sni_select(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    const fh__tls_set_t *set = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name)
        return SSL_TLSEXT_ERR_OK;
    for (size_t i = 0; i < set->nsni; i++) {
        if (name_matches(set->sni[i].name, name)) {
            SSL_set_SSL_CTX(ssl, set->sni[i].ctx);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK;
}

static void keys_fresh(ticket_key_t *k) {
    RAND_bytes(k->name, sizeof(k->name));
    RAND_bytes(k->aes, sizeof(k->aes));
    RAND_bytes(k->hmac, sizeof(k->hmac));
}

/* Reads the 80-byte key file into *k; a refusal names the file. */
static int keys_read(const char *path, ticket_key_t *k) {
    char q[64];
    fh__config_quote(q, sizeof(q), path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fh__config_refuse("config.tls.ticket_key_file: cannot read %s: %s", q,
                                 strerror(errno));
    unsigned char b[81];
    size_t n = fread(b, 1, sizeof(b), f);
    fclose(f);
    if (n != 80) {
        OPENSSL_cleanse(b, sizeof(b));
        return fh__config_refuse("config.tls.ticket_key_file: %s holds %s%zu bytes, not 80 (16 of "
                                 "name, 32 of AES key, 32 of HMAC key)",
                                 q, n > 80 ? "over " : "", n > 80 ? (size_t)80 : n);
    }
    memcpy(k->name, b, 16);
    memcpy(k->aes, b + 16, 32);
    memcpy(k->hmac, b + 48, 32);
    OPENSSL_cleanse(b, sizeof(b));
    return 0;
}

/* Under the lock: replaces the keys when the period has passed (unless
 * they come from a file). */
static void keys_rotate_due(fh__tls_t *t) {
    uint64_t now = mono_ms();
    if (t->cfg.ticket_key_file || now - t->keys_at < 1000ull * t->cfg.ticket_rotate_s)
        return;
    /* The keys replaced may have sealed a ticket a moment ago (replacing
     * waits for the next handshake): they still open tickets for a
     * period, and the session's timeout (two periods) bounds the rest. */
    t->keys[1] = t->keys[0];
    t->have_old = true;
    keys_fresh(&t->keys[0]);
    t->keys_at = now;
}

void fh__tls_rotate_tickets(fh__tls_t *t) {
    pthread_mutex_lock(&t->lock);
    t->keys[1] = t->keys[0];
    t->have_old = true;
    keys_fresh(&t->keys[0]);
    t->keys_at = mono_ms();
    pthread_mutex_unlock(&t->lock);
}

/* Seals (enc) or opens a session ticket: AES-256-CBC and HMAC-SHA256 with
 * the current keys; a ticket sealed with the previous keys opens and is
 * replaced (2), an older one does not (0: a full handshake). */
static int ticket_keys(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *ectx,
                       EVP_MAC_CTX *hctx, int enc) {
    fh__tls_t *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    ticket_key_t k;
    int ret = 1;
    pthread_mutex_lock(&t->lock);
    keys_rotate_due(t);
    if (enc) {
        k = t->keys[0];
    } else if (memcmp(name, t->keys[0].name, 16) == 0) {
        k = t->keys[0];
    } else if (t->have_old && memcmp(name, t->keys[1].name, 16) == 0) {
        k = t->keys[1];
        ret = 2;
    } else {
        ret = 0;
    }
    pthread_mutex_unlock(&t->lock);
    if (ret == 0)
        return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string("key", k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string("digest", (char *)"sha256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (enc) {
        memcpy(name, k.name, 16);
        if (RAND_bytes(iv, 16) != 1 ||
            EVP_EncryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
            ret = -1;
    } else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes, iv) != 1) {
        ret = -1;
    }
    if (ret > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
        ret = -1;
    OPENSSL_cleanse(&k, sizeof(k));
    return ret;
}

/* Staples the context's OCSP response when the client asked for one. */
static int ocsp_staple(SSL *ssl, void *arg) {
    const ocsp_staple_t *o = arg;
    if (SSL_get_tlsext_status_type(ssl) != TLSEXT_STATUSTYPE_ocsp)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char *copy = OPENSSL_malloc(o->len); /* OpenSSL frees it */
    if (!copy)
        return SSL_TLSEXT_ERR_NOACK;
    memcpy(copy, o->der, o->len);
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)o->len) != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* Reads path (an OCSP response in DER) into o, checking that it is one;
 * a refusal names field and the file. */
static int ocsp_load(const char *field, const char *path, ocsp_staple_t *o) {
    char q[64];
    fh__config_quote(q, sizeof(q), path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return fh__config_refuse("%s: cannot read %s: %s", field, q, strerror(errno));
    unsigned char *der = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (len == cap) {
            unsigned char *nd = cap < (1u << 20) ? realloc(der, cap ? cap * 2 : 4096) : NULL;
            if (!nd) {
                err = cap < (1u << 20) ? FH_ENOMEM
                                       : fh__config_refuse("%s: %s is over 1 MiB", field, q);
                break;
            }
            der = nd;
            cap = cap ? cap * 2 : 4096;
        }
        size_t n = fread(der + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = err ? NULL : d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    if (!err && !resp)
        err = fh__config_refuse("%s: %s is not an OCSP response (DER)", field, q);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    if (err) {
        free(der);
        return err;
    }
    o->der = der;
    o->len = len;
    return 0;
}

/* --------------------------------------------------------------- contexts */

/* A readable file, or a refusal naming field and the file. */
static int file_check(const char *field, const char *path) {
    char q[64];
    fh__config_quote(q, sizeof(q), path);
    FILE *f = fopen(path, "r");
    if (!f)
        return fh__config_refuse("%s: cannot read %s: %s", field, q, strerror(errno));
    fclose(f);
    return 0;
}

static int refuse_ssl(const char *field, const char *path, const char *what) {
    char q[64];
    fh__config_quote(q, sizeof(q), path);
    int err = fh__config_refuse("%s: %s %s: %s", field, what, q, ssl_reason());
    ERR_clear_error();
    return err;
}

/* A context serving one certificate, with everything else the config
 * says; NULL with *err set (a refusal naming the field and file). */
static SSL_CTX *ctx_build(fh__tls_t *t, const char *field, const char *cert, const char *key,
                          int *err) {
    char cert_field[64], key_field[64];
    snprintf(cert_field, sizeof(cert_field), "%s.cert_file", field);
    snprintf(key_field, sizeof(key_field), "%s.key_file", field);
    if ((*err = file_check(cert_field, cert)) || (*err = file_check(key_field, key)))
        return NULL;
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        *err = FH_ENOMEM;
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
        *err = fh__config_refuse("%s: OpenSSL refuses the cipher list: %s", field, ssl_reason());
        goto error;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        *err = refuse_ssl(cert_field, cert, "no certificate in");
        goto error;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
        *err =
            refuse_ssl(key_field, key,
                       mismatch ? "the certificate's key is not the one in" : "no private key in");
        goto error;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        *err = refuse_ssl(key_field, key, "the key does not match the certificate in");
        goto error;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_app_data(ctx, t);
    static const unsigned char sid_ctx[] = "fasthttp";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, t->cfg.session_cache_size);
    SSL_CTX_set_timeout(ctx, (long)t->cfg.ticket_rotate_s * 2);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_keys);
    if (t->cfg.client_ca_file) {
        const char *ca = t->cfg.client_ca_file;
        if ((*err = file_check("config.tls.client_ca_file", ca)))
            goto error;
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
        if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            *err = refuse_ssl("config.tls.client_ca_file", ca, "no CA certificate in");
            goto error;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (t->cfg.verify_client == FH_TLS_VERIFY_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    return ctx;

error:
    SSL_CTX_free(ctx);
    return NULL;
}

static void set_free(fh__tls_set_t *set) {
    if (!set)
        return;
    for (size_t i = 0; i < set->nsni; i++) {
        SSL_CTX_free(set->sni[i].ctx);
        free(set->sni[i].name);
        free(set->sni[i].ocsp.der);
    }
    free(set->sni);
    SSL_CTX_free(set->ctx);
    free(set->ocsp.der);
    free(set);
}

/* A new set from the files, or NULL with *err set. */
static fh__tls_set_t *set_build(fh__tls_t *t, int *err) {
    fh__tls_set_t *set = calloc(1, sizeof(*set));
    if (!set || (t->cfg.ncerts && !(set->sni = calloc(t->cfg.ncerts, sizeof(sni_entry_t))))) {
        free(set);
        *err = FH_ENOMEM;
        return NULL;
    }
    atomic_init(&set->refs, 1);
    set->ctx = ctx_build(t, "config.tls", t->cfg.cert_file, t->cfg.key_file, err);
    if (!set->ctx)
        goto error;
    if (t->cfg.ocsp_file) {
        if ((*err = ocsp_load("config.tls.ocsp_file", t->cfg.ocsp_file, &set->ocsp)) != 0)
            goto error;
        SSL_CTX_set_tlsext_status_cb(set->ctx, ocsp_staple);
        SSL_CTX_set_tlsext_status_arg(set->ctx, &set->ocsp);
    }
    for (size_t i = 0; i < t->cfg.ncerts; i++) {
        char field[40];
        snprintf(field, sizeof(field), "config.tls.certs[%zu]", i);
        const fh_tls_cert_t *c = &t->certs[i];
        sni_entry_t *e = &set->sni[set->nsni];
        if (!(e->name = strdup(c->server_name))) {
            *err = FH_ENOMEM;
            goto error;
        }
        for (char *p = e->name; *p; p++)
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        e->ctx = ctx_build(t, field, c->cert_file, c->key_file, err);
        if (!e->ctx) {
            free(e->name);
            goto error;
        }
        set->nsni++;
        if (c->ocsp_file) {
            char ofield[56];
            snprintf(ofield, sizeof(ofield), "%s.ocsp_file", field);
            if ((*err = ocsp_load(ofield, c->ocsp_file, &e->ocsp)) != 0)
                goto error;
            SSL_CTX_set_tlsext_status_cb(e->ctx, ocsp_staple);
            SSL_CTX_set_tlsext_status_arg(e->ctx, &e->ocsp);
        }
    }
    if (set->nsni) {
        SSL_CTX_set_tlsext_servername_callback(set->ctx, sni_select);
        SSL_CTX_set_tlsext_servername_arg(set->ctx, set);
    }
    return set;

error:
    set_free(set);
    return NULL;
}

fh__tls_set_t *fh__tls_set_ref(fh__tls_t *t) {
    pthread_mutex_lock(&t->lock);
    fh__tls_set_t *set = t->set;
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&t->lock);
    return set;
}

void fh__tls_set_unref(fh__tls_set_t *set) {
    if (atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        set_free(set);
}

SSL_CTX *fh__tls_set_ctx(const fh__tls_set_t *set) { return set->ctx; }
uint32_t fh__tls_handshake_ms(const fh__tls_t *t) { return t->cfg.handshake_ms; }

/* ------------------------------------------------------------- lifetime */

static char *dup_or_null(const char *s, bool *oom) {
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static void tls_strings_free(fh__tls_t *t) {
    free((char *)t->cfg.cert_file);
    free((char *)t->cfg.key_file);
    free((char *)t->cfg.client_ca_file);
    free((char *)t->cfg.ocsp_file);
    free((char *)t->cfg.ticket_key_file);
    for (size_t i = 0; t->certs && i < t->cfg.ncerts; i++) {
        free((char *)t->certs[i].ocsp_file);
        free((char *)t->certs[i].server_name);
        free((char *)t->certs[i].cert_file);
        free((char *)t->certs[i].key_file);
    }
    free(t->certs);
}

int fh__tls_new(fh__tls_t **out, const fh_tls_config_t *cfg) {
    if (!cfg->key_file)
        return fh__config_refuse("config.tls.key_file: required with config.tls.cert_file");
    if (cfg->verify_client == FH_TLS_VERIFY_REQUIRED && !cfg->client_ca_file)
        return fh__config_refuse("config.tls.verify_client: REQUIRED needs "
                                 "config.tls.client_ca_file (the CAs client certificates "
                                 "chain to)");
    if ((unsigned)cfg->verify_client > FH_TLS_VERIFY_REQUIRED)
        return fh__config_refuse("config.tls.verify_client: %d is not NONE, OPTIONAL or REQUIRED",
                                 (int)cfg->verify_client);
    if (cfg->ncerts && !cfg->certs)
        return fh__config_refuse("config.tls.certs: NULL with ncerts %zu", cfg->ncerts);
    for (size_t i = 0; i < cfg->ncerts; i++) {
        const fh_tls_cert_t *c = &cfg->certs[i];
        if (!c->server_name || !*c->server_name || !c->cert_file || !c->key_file)
            return fh__config_refuse("config.tls.certs[%zu]: server_name, cert_file and "
                                     "key_file are required",
                                     i);
    }
    fh__tls_t *t = calloc(1, sizeof(*t));
    if (!t)
        return FH_ENOMEM;
    t->cfg = *cfg;
    bool oom = false;
    t->cfg.cert_file = dup_or_null(cfg->cert_file, &oom);
    t->cfg.key_file = dup_or_null(cfg->key_file, &oom);
    t->cfg.client_ca_file = dup_or_null(cfg->client_ca_file, &oom);
    t->cfg.ocsp_file = dup_or_null(cfg->ocsp_file, &oom);
    t->cfg.ticket_key_file = dup_or_null(cfg->ticket_key_file, &oom);
    if (cfg->ncerts && !(t->certs = calloc(cfg->ncerts, sizeof(fh_tls_cert_t))))
        oom = true;
    for (size_t i = 0; t->certs && i < cfg->ncerts; i++) {
        t->certs[i].server_name = dup_or_null(cfg->certs[i].server_name, &oom);
        t->certs[i].cert_file = dup_or_null(cfg->certs[i].cert_file, &oom);
        t->certs[i].key_file = dup_or_null(cfg->certs[i].key_file, &oom);
        t->certs[i].ocsp_file = dup_or_null(cfg->certs[i].ocsp_file, &oom);
    }
    t->cfg.certs = t->certs;
    if (oom) {
        tls_strings_free(t);
        free(t);
        return FH_ENOMEM;
    }
    if (t->cfg.client_ca_file && t->cfg.verify_client == FH_TLS_VERIFY_NONE)
        t->cfg.verify_client = FH_TLS_VERIFY_OPTIONAL;
    if (!t->cfg.handshake_ms)
        t->cfg.handshake_ms = 10000;
    if (!t->cfg.ticket_rotate_s)
        t->cfg.ticket_rotate_s = 3600;
    if (!t->cfg.session_cache_size)
        t->cfg.session_cache_size = 20480;
    pthread_mutex_init(&t->lock, NULL);
    int err = 0;
    if (t->cfg.ticket_key_file)
        err = keys_read(t->cfg.ticket_key_file, &t->keys[0]);
    else
        keys_fresh(&t->keys[0]);
    t->keys_at = mono_ms();
    if (err) {
        fh__tls_free(t);
        return err;
    }
    t->set = set_build(t, &err);
    if (!t->set) {
        fh__tls_free(t);
        return err;
    }
    *out = t;
    return 0;
}

int fh__tls_reload(fh__tls_t *t) {
    int err = 0;
    ticket_key_t k;
    if (t->cfg.ticket_key_file && (err = keys_read(t->cfg.ticket_key_file, &k)) != 0)
        return err;
    fh__tls_set_t *set = set_build(t, &err);
    if (!set) {
        OPENSSL_cleanse(&k, sizeof(k));
        return err;
    }
    pthread_mutex_lock(&t->lock);
    fh__tls_set_t *old = t->set;
    t->set = set;
    if (t->cfg.ticket_key_file && memcmp(k.name, t->keys[0].name, 16) != 0) {
        t->keys[1] = t->keys[0]; /* still opens the tickets it sealed */
        t->have_old = true;
        t->keys[0] = k;
    }
    pthread_mutex_unlock(&t->lock);
    OPENSSL_cleanse(&k, sizeof(k));
    fh__tls_set_unref(old); /* connections that hold it keep it */
    return 0;
}

void fh__tls_free(fh__tls_t *t) {
    if (!t)
        return;
    if (t->set)
        fh__tls_set_unref(t->set);
    OPENSSL_cleanse(t->keys, sizeof(t->keys));
    pthread_mutex_destroy(&t->lock);
    tls_strings_free(t);
    free(t);
}
