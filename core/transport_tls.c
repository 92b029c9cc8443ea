/* The TLS transport (see tls.h).
 *
 * Reading: OpenSSL reads the socket itself (a socket BIO, read-ahead on),
 * since the connection reads when its poll handle says the socket is
 * readable, not through libuv's read callbacks: a memory BIO fed from a
 * read of ours would only add a copy. Records OpenSSL read ahead and has
 * not yet decrypted are reported through pending.
 *
 * Writing: records go to a BIO of ours that appends them to the thread's
 * scratch buffer; everything one writev encrypts (the responses of a
 * pipelined batch, coalesced into records of up to 16 KiB) then leaves in
 * one send. Only ciphertext the socket does not take at once is copied to
 * a buffer of the connection's own, freed once sent. The connection is
 * told the plaintext was taken once its ciphertext has left: until then
 * writev answers FH_EAGAIN, the write stays queued, and the bytes offered
 * again (the same ones: a queue never reorders) are not encrypted twice.
 *
 * Plain HTTP sent to the port (a first byte that is a letter, where a TLS
 * handshake starts with 0x16) gets a 400 in clear text, and the connection
 * lingers and closes. Renegotiation is refused (SSL_OP_NO_RENEGOTIATION);
 * a handshake has its own deadline; an idle connection holds no OpenSSL
 * buffer (SSL_MODE_RELEASE_BUFFERS). */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/conn.h"
#include "core/tls.h"
#include "core/worker.h"

enum {
    MODE_HANDSHAKE, /* before the handshake completes */
    MODE_OPEN,      /* records both ways */
    MODE_PLAIN,     /* plain HTTP was refused: raw bytes, dropped */
};

/* Plaintext one writev encrypts at most, and the scratch buffer that holds
 * its records (with room for their headers and tags). */
#define WRITE_MAX (64 * 1024)
#define SCRATCH_SIZE (WRITE_MAX + 8192)
#define RECORD_PLAIN 16384

typedef struct tls_conn {
    SSL *ssl;
    fh__tls_set_t *set;
    char *out;      /* ciphertext not yet sent: scratch or own */
    size_t out_off; /* bytes of out already sent */
    size_t out_len, out_cap;
    bool out_own; /* out is malloc'ed (freed once sent) */
    bool peeked;  /* the first byte was looked at */
    uint8_t mode;
    size_t owed;        /* plaintext encrypted, not yet reported taken */
    uint64_t opened_at; /* loop ms */
} tls_conn_t;

/* The thread's scratch buffer, freed when the thread ends. */
static _Thread_local char *scratch;
static pthread_key_t scratch_key;

static tls_conn_t *tls_of(const fh__conn_t *c) { return c->transport_data; }

/* ---------------------------------------------------------- the output BIO */

static int out_bio_write(BIO *b, const char *data, size_t len, size_t *written) {
    tls_conn_t *t = BIO_get_data(b);
    size_t need = t->out_len + len;
    if (need > t->out_cap) {
        size_t ncap = need * 2;
        char *nb = t->out_own ? realloc(t->out, ncap) : malloc(ncap);
        if (!nb)
            return 0;
        if (!t->out_own)
            memcpy(nb, t->out, t->out_len);
        t->out = nb;
        t->out_cap = ncap;
        t->out_own = true;
    }
    memcpy(t->out + t->out_len, data, len);
    t->out_len += len;
    *written = len;
    return 1;
}

static long out_bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int out_bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *out_method;
static pthread_once_t out_method_once = PTHREAD_ONCE_INIT;

static void out_method_make(void) {
    if (pthread_key_create(&scratch_key, free) != 0)
        return;
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fasthttp out");
    if (m && BIO_meth_set_write_ex(m, out_bio_write) == 1 &&
        BIO_meth_set_ctrl(m, out_bio_ctrl) == 1 && BIO_meth_set_create(m, out_bio_create) == 1)
        out_method = m;
    else
        BIO_meth_free(m);
}

/* Before an OpenSSL call that may write: records land in the scratch
 * buffer unless ciphertext of an earlier call still waits. */
static int out_begin(tls_conn_t *t) {
    if (t->out_len)
        return 0;
    if (!scratch) {
        if (!(scratch = malloc(SCRATCH_SIZE)))
            return FH_ENOMEM;
        pthread_setspecific(scratch_key, scratch);
    }
    t->out = scratch;
    t->out_cap = SCRATCH_SIZE;
    t->out_own = false;
    t->out_off = 0;
    return 0;
}

/* Sends what waits. Returns 0 when everything left, FH_EAGAIN when the
 * socket is full (the rest is then the connection's own), or an error. */
static int out_flush(fh__conn_t *c, tls_conn_t *t) {
    int err = 0;
    while (t->out_off < t->out_len) {
        ssize_t r = send(c->fd, t->out + t->out_off, t->out_len - t->out_off, MSG_NOSIGNAL);
        if (r >= 0) {
            t->out_off += (size_t)r;
            continue;
        }
        if (errno == EINTR)
            continue;
        err = errno == EAGAIN || errno == EWOULDBLOCK ? FH_EAGAIN : uv_translate_sys_error(errno);
        break;
    }
    if (t->out_off == t->out_len) {
        if (t->out_own)
            free(t->out);
        t->out = NULL;
        t->out_off = t->out_len = t->out_cap = 0;
        t->out_own = false;
        return 0;
    }
    if (!t->out_own) {
        /* The scratch buffer is the thread's: keep the rest apart. */
        size_t left = t->out_len - t->out_off;
        char *own = malloc(left);
        if (!own)
            return FH_ENOMEM;
        memcpy(own, t->out + t->out_off, left);
        t->out = own;
        t->out_off = 0;
        t->out_len = t->out_cap = left;
        t->out_own = true;
    }
    return err;
}

/* ----------------------------------------------------------------- opening */

static int tls_open(fh__conn_t *c) {
    fh__tls_t *tls = c->w->server->tls;
    pthread_once(&out_method_once, out_method_make);
    if (!out_method)
        return FH_ENOMEM;
    tls_conn_t *t = calloc(1, sizeof(*t));
    if (!t)
        return FH_ENOMEM;
    c->transport_data = t;
    t->set = fh__tls_set_ref(tls);
    t->ssl = SSL_new(fh__tls_set_ctx(t->set));
    BIO *rb = BIO_new_socket(c->fd, BIO_NOCLOSE);
    BIO *wb = BIO_new(out_method);
    if (!t->ssl || !rb || !wb) {
        BIO_free(rb);
        BIO_free(wb);
        return FH_ENOMEM; /* tls_free frees the rest */
    }
    BIO_set_data(wb, t);
    SSL_set_bio(t->ssl, rb, wb);
    SSL_set_accept_state(t->ssl);
    uint64_t now = uv_now(&c->w->loop);
    t->opened_at = now;
    fh__conn_set_transport_deadline(c, now + fh__tls_handshake_ms(tls));
    return 0;
}

static void tls_free(fh__conn_t *c) {
    tls_conn_t *t = tls_of(c);
    if (!t)
        return;
    /* A connection ending with nothing left to send says so (close_notify),
     * so that the client can tell the end from a truncation. */
    if (t->mode == MODE_OPEN && !t->out_len && out_begin(t) == 0) {
        if (SSL_shutdown(t->ssl) >= 0)
            out_flush(c, t);
        ERR_clear_error();
    }
    SSL_free(t->ssl);
    if (t->out_own)
        free(t->out);
    fh__tls_set_unref(t->set);
    free(t);
    c->transport_data = NULL;
}

/* ------------------------------------------------------------------ reading */

static ssize_t raw_read(int fd, char *buf, size_t len) {
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? FH_EAGAIN : uv_translate_sys_error(errno);
    }
}

#define PLAIN_BODY_LEN 64
#define PLAIN_BODY "400 Bad Request: a plain HTTP request was sent to an HTTPS port\n"
#define STR_(x) #x
#define STR(x) STR_(x)
static const char plain_refusal[] = "HTTP/1.1 400 Bad Request\r\n"
                                    "Content-Type: text/plain\r\n"
                                    "Content-Length: " STR(PLAIN_BODY_LEN) "\r\n"
                                                                           "Connection: close\r\n"
                                                                           "\r\n" PLAIN_BODY;
_Static_assert(sizeof(PLAIN_BODY) - 1 == PLAIN_BODY_LEN, "PLAIN_BODY_LEN is PLAIN_BODY's length");

/* Plain HTTP came: what it sent so far is dropped, the 400 goes out in
 * clear, and the connection lingers (what still comes is dropped too). */
static void refuse_plain(fh__conn_t *c, tls_conn_t *t) {
    char drop[4096];
    for (int i = 0; i < 16 && raw_read(c->fd, drop, sizeof(drop)) > 0; i++) {
    }
    t->mode = MODE_PLAIN;
    fh__conn_set_transport_deadline(c, 0);
    ssize_t r;
    do
        r = send(c->fd, plain_refusal, sizeof(plain_refusal) - 1, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    fh__conn_linger(c, 2000, 65536);
}

/* What an OpenSSL call's failure means for the connection. */
static ssize_t ssl_failure(tls_conn_t *t, int ret, int flushed) {
    int e = SSL_get_error(t->ssl, ret);
    ERR_clear_error();
    if (flushed < 0 && flushed != FH_EAGAIN)
        return flushed;
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return FH_EAGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
    case SSL_ERROR_SYSCALL: return errno && errno != EAGAIN ? uv_translate_sys_error(errno) : 0;
    default: return UV_EPROTO; /* a bad record, a failed handshake */
    }
}

/* A failed handshake is logged once, with the peer's address; at most
 * LOG_PER_SECOND lines a second per thread, the rest counted and said in
 * one line the next second one fails. */
#define LOG_PER_SECOND 10
static _Thread_local uint64_t log_second;
static _Thread_local unsigned log_lines, log_dropped;

static void log_failure(fh__conn_t *c, const char *what) {
    uint64_t second = uv_now(&c->w->loop) / 1000;
    if (second != log_second) {
        if (log_dropped)
            fprintf(stderr, "fasthttp: TLS: %u more failed handshakes not logged\n", log_dropped);
        log_second = second;
        log_lines = log_dropped = 0;
    }
    if (log_lines >= LOG_PER_SECOND) {
        log_dropped++;
        return;
    }
    log_lines++;
    char addr[INET6_ADDRSTRLEN + 8] = "an unknown peer";
    const struct sockaddr *sa = fh__conn_peer(c);
    char ip[INET6_ADDRSTRLEN];
    if (sa && sa->sa_family == AF_INET &&
        uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip)) == 0)
        snprintf(addr, sizeof(addr), "%s:%u", ip,
                 ntohs(((const struct sockaddr_in *)sa)->sin_port));
    else if (sa && sa->sa_family == AF_INET6 &&
             uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip)) == 0)
        snprintf(addr, sizeof(addr), "[%s]:%u", ip,
                 ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
    fprintf(stderr, "fasthttp: TLS handshake with %s failed: %s\n", addr, what);
}

/* Moves the handshake on; 1 when it has completed, else what read returns. */
static ssize_t handshake_step(fh__conn_t *c, tls_conn_t *t) {
    if (!t->peeked) {
        unsigned char first;
        ssize_t r = recv(c->fd, &first, 1, MSG_PEEK);
        if (r == 0)
            return 0;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
                       ? FH_EAGAIN
                       : uv_translate_sys_error(errno);
        t->peeked = true;
        if (first >= 'A' && first <= 'Z') {
            log_failure(c, "plain HTTP was sent (answered 400)");
            refuse_plain(c, t);
            return FH_EAGAIN;
        }
    }
    int err = out_begin(t);
    if (err)
        return err;
    int r = SSL_do_handshake(t->ssl);
    int f = out_flush(c, t);
    if (r != 1) {
        if (SSL_get_error(t->ssl, r) == SSL_ERROR_SSL) {
            const char *why = ERR_reason_error_string(ERR_peek_error());
            log_failure(c, why ? why : "a protocol error");
        }
        return ssl_failure(t, r, f);
    }
    if (f < 0 && f != FH_EAGAIN)
        return f;
    t->mode = MODE_OPEN;
    /* The protocol's first deadline counts from here. */
    uint64_t now = uv_now(&c->w->loop);
    fh__conn_set_transport_deadline(c, 0);
    if (c->read_deadline)
        fh__conn_set_read_deadline(c, c->read_deadline + (now - t->opened_at));
    return 1;
}

static ssize_t tls_read(fh__conn_t *c, char *buf, size_t len) {
    tls_conn_t *t = tls_of(c);
    if (t->mode == MODE_PLAIN)
        return raw_read(c->fd, buf, len);
    if (t->mode == MODE_HANDSHAKE) {
        ssize_t r = handshake_step(c, t);
        if (r != 1)
            return r;
    }
    int err = out_begin(t);
    if (err)
        return err;
    size_t got = 0;
    int r = SSL_read_ex(t->ssl, buf, len, &got);
    int f = t->out_len ? out_flush(c, t) : 0; /* tickets, alerts */
    if (r == 1)
        return (ssize_t)got;
    return ssl_failure(t, r, f);
}

static bool tls_pending(const fh__conn_t *c) {
    const tls_conn_t *t = tls_of(c);
    return t->mode == MODE_OPEN && SSL_has_pending(t->ssl);
}

/* ------------------------------------------------------------------ writing */

static int seal(tls_conn_t *t, const char *p, size_t n) {
    size_t w;
    if (SSL_write_ex(t->ssl, p, n, &w) != 1 || w != n) {
        ERR_clear_error();
        return UV_EPROTO;
    }
    return 0;
}

static ssize_t tls_writev(fh__conn_t *c, const uv_buf_t *bufs, unsigned n, bool more) {
    (void)more; /* records are sealed per writev; nothing to hold back */
    tls_conn_t *t = tls_of(c);
    if (t->mode != MODE_OPEN)
        return UV_EPROTO; /* nothing is sent before the handshake */
    if (t->out_len) {
        int f = out_flush(c, t);
        if (f)
            return f;
    }
    if (t->owed) {
        size_t total = 0;
        for (unsigned i = 0; i < n && total < t->owed; i++)
            total += bufs[i].len;
        size_t r = total < t->owed ? total : t->owed;
        t->owed -= r;
        return (ssize_t)r;
    }
    int err = out_begin(t);
    if (err)
        return err;
    /* Small buffers are gathered into records of up to 16 KiB; a large
     * one is sealed from where it lies. */
    char stage[RECORD_PLAIN];
    size_t staged = 0, taken = 0;
    for (unsigned i = 0; i < n && taken + staged < WRITE_MAX && !err; i++) {
        const char *p = bufs[i].base;
        size_t left = bufs[i].len;
        while (left && taken + staged < WRITE_MAX && !err) {
            size_t room = WRITE_MAX - taken - staged;
            if (!staged && left >= RECORD_PLAIN) {
                size_t k = left < room ? left : room;
                err = seal(t, p, k);
                taken += k;
                p += k;
                left -= k;
                continue;
            }
            size_t k = sizeof(stage) - staged;
            if (k > left)
                k = left;
            if (k > room)
                k = room;
            memcpy(stage + staged, p, k);
            staged += k;
            p += k;
            left -= k;
            if (staged == sizeof(stage)) {
                err = seal(t, stage, staged);
                taken += staged;
                staged = 0;
            }
        }
    }
    if (staged && !err) {
        err = seal(t, stage, staged);
        taken += staged;
    }
    int f = out_flush(c, t);
    if (err)
        return err;
    if (f == FH_EAGAIN) {
        t->owed = taken; /* reported once the records have left */
        return FH_EAGAIN;
    }
    return f ? f : (ssize_t)taken;
}

static int tls_shutdown(fh__conn_t *c) {
    tls_conn_t *t = tls_of(c);
    if (t->mode == MODE_OPEN && out_begin(t) == 0) {
        SSL_shutdown(t->ssl); /* close_notify */
        ERR_clear_error();
        out_flush(c, t);
    }
    return shutdown(c->fd, SHUT_WR) == 0 ? 0 : uv_translate_sys_error(errno);
}

/* ------------------------------------------------------------------ queries */

static void *tls_peer_cert(const fh__conn_t *c) {
    const tls_conn_t *t = tls_of(c);
    if (t->mode != MODE_OPEN || SSL_get_verify_result(t->ssl) != X509_V_OK)
        return NULL;
    return SSL_get0_peer_certificate(t->ssl);
}

static const char *tls_alpn(const fh__conn_t *c) {
    const tls_conn_t *t = tls_of(c);
    const unsigned char *p;
    unsigned len;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    if (len == 8 && memcmp(p, "http/1.1", 8) == 0)
        return "http/1.1";
    return NULL;
}

const fh__transport_t fh__transport_tls = {
    .name = "tls",
    .open = tls_open,
    .read = tls_read,
    .pending = tls_pending,
    .writev = tls_writev,
    .shutdown = tls_shutdown,
    .can_sendfile = false,
    .can_hand_over = false,
    .peer_cert = tls_peer_cert,
    .alpn = tls_alpn,
    .free = tls_free,
};
