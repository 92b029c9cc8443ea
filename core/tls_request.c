/* What a request can learn of its TLS connection: the client's verified
 * certificate (subject, subject alternative names) and ALPN (tls.h). */
#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/x509v3.h>

#include "core/request.h"

static X509 *peer_cert_of(fh_request_t *req) {
    return req && req->ops && req->ops->peer_cert ? req->ops->peer_cert(req) : NULL;
}

static fh_str_t arena_copy(fh_request_t *req, const void *p, size_t n) {
    char *d = fh_arena_alloc(req->arena, n ? n : 1);
    if (!d)
        return (fh_str_t){ NULL, 0 };
    memcpy(d, p, n);
    return (fh_str_t){ d, n };
}

fh_str_t fh_request_tls_subject(fh_request_t *req) {
    X509 *x = peer_cert_of(req);
    if (!x)
        return (fh_str_t){ NULL, 0 };
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return (fh_str_t){ NULL, 0 };
    fh_str_t out = { NULL, 0 };
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        if (n >= 0)
            out = arena_copy(req, p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

/* One name as text, or an absent view for kinds it does not say. */
static fh_str_t san_text(fh_request_t *req, const GENERAL_NAME *g) {
    switch (g->type) {
    case GEN_DNS:
    case GEN_EMAIL:
    case GEN_URI: {
        const ASN1_IA5STRING *s = g->d.ia5;
        return arena_copy(req, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
    }
    case GEN_IPADD: {
        const ASN1_OCTET_STRING *s = g->d.ip;
        char text[INET6_ADDRSTRLEN];
        int len = ASN1_STRING_length(s);
        int af = len == 4 ? AF_INET : len == 16 ? AF_INET6 : -1;
        if (af < 0 || !inet_ntop(af, ASN1_STRING_get0_data(s), text, sizeof(text)))
            return (fh_str_t){ NULL, 0 };
        return arena_copy(req, text, strlen(text));
    }
    default: return (fh_str_t){ NULL, 0 };
    }
}

size_t fh_request_tls_sans(fh_request_t *req, fh_str_t *out, size_t max) {
    X509 *x = peer_cert_of(req);
    if (!x)
        return 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    if (!names)
        return 0;
    size_t count = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
        fh_str_t s = san_text(req, sk_GENERAL_NAME_value(names, i));
        if (!s.ptr)
            continue;
        if (count < max)
            out[count] = s;
        count++;
    }
    GENERAL_NAMES_free(names);
    return count;
}

fh_str_t fh_request_tls_alpn(fh_request_t *req) {
    const char *p = req && req->ops && req->ops->alpn ? req->ops->alpn(req) : NULL;
    return p ? (fh_str_t){ p, strlen(p) } : (fh_str_t){ NULL, 0 };
}
