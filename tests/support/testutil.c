#include "testutil.h"
#include "tls_files.h"
#include "tls_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

bool fht_over_tls(void) {
    const char *v = getenv("FH_TEST_TLS");
    return v && strcmp(v, "1") == 0;
}

fh_server_t *fht_server_start(fh_server_config_t *cfg) {
    if (fht_over_tls() && !cfg->tls.cert_file)
        fht_tls_config(cfg);
    cfg->host = "127.0.0.1";
    cfg->port = 0;
    cfg->handle_signals = false;
    fh_server_t *s = NULL;
    int err = fh_server_new(&s, cfg);
    if (err)
        fail_msg("fh_server_new: %s", fh_server_config_error(cfg, err));
    err = fh_server_start(s);
    if (err)
        fail_msg("fh_server_start: %s", fh_strerror(err));
    return s;
}

void fht_server_stop(fh_server_t *s) {
    fh_server_stop(s);
    fh_server_wait(s);
    fh_server_free(s);
}

uint64_t fht_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Per-fd read buffers (tests use few sockets; fds are small). */
#define FHT_MAX_FD 4096
typedef struct {
    char *data;
    size_t len, cap;
} rbuf_t;
static rbuf_t rbufs[FHT_MAX_FD];
/* File descriptors are reused across client threads: taking this lock
 * around socket()/close() orders one thread's buffer reset before the next
 * owner's use (the kernel orders it too, but sanitizers cannot see that). */
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int fht_connect_raw(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fht_over_tls() ? fht_tls_relay(fd) : fd;
}

int fht_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = loopback(port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect: %s", strerror(errno));
    if (fht_over_tls() && (fd = fht_tls_relay(fd)) < 0)
        fail_msg("the TLS relay did not start");
    pthread_mutex_lock(&fd_lock);
    if (fd < FHT_MAX_FD)
        rbufs[fd].len = 0;
    pthread_mutex_unlock(&fd_lock);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    assert_true(fd < FHT_MAX_FD);
    return fd;
}

void fht_close(int fd) {
    pthread_mutex_lock(&fd_lock);
    if (fd >= 0 && fd < FHT_MAX_FD) {
        free(rbufs[fd].data);
        memset(&rbufs[fd], 0, sizeof(rbufs[fd]));
    }
    close(fd);
    pthread_mutex_unlock(&fd_lock);
}

void fht_send(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            fail_msg("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void fht_send_str(int fd, const char *s) { fht_send(fd, s, strlen(s)); }

/* Reads more bytes into the fd's buffer; returns bytes read, 0 on EOF, -1. */
static ssize_t fill(int fd) {
    rbuf_t *b = &rbufs[fd];
    if (b->cap - b->len < 65536) {
        size_t ncap = b->cap ? b->cap * 2 : 131072;
        while (ncap - b->len < 65536)
            ncap *= 2;
        b->data = realloc(b->data, ncap);
        assert_non_null(b->data);
        b->cap = ncap;
    }
    for (;;) {
        ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            b->len += (size_t)n;
        return n;
    }
}

static void consume(int fd, size_t n) {
    rbuf_t *b = &rbufs[fd];
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static char *find_mem(char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

int fht_header(const fht_response_t *r, const char *name, char *out, size_t cap) {
    size_t nlen = strlen(name);
    const char *line = strstr(r->head, "\r\n");
    while (line && line[2]) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            eol = line + strlen(line);
        if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
            strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = (size_t)(eol - v);
            if (out && cap) {
                if (vl >= cap)
                    vl = cap - 1;
                memcpy(out, v, vl);
                out[vl] = '\0';
            }
            return 1;
        }
        line = eol;
        if (!*eol)
            break;
    }
    return 0;
}

int fht_read_response(int fd, fht_response_t *out, int head_request) {
    memset(out, 0, sizeof(*out));
    rbuf_t *b = &rbufs[fd];
    char *end;
    while (!(b->data && (end = find_mem(b->data, b->len, "\r\n\r\n")))) {
        if (fill(fd) <= 0)
            return -1;
    }
    size_t hlen = (size_t)(end - b->data) + 4;
    if (hlen >= sizeof(out->head))
        return -1;
    memcpy(out->head, b->data, hlen);
    out->head[hlen] = '\0';
    if (sscanf(out->head, "HTTP/1.%*d %d", &out->status) != 1)
        return -1;
    consume(fd, hlen);
    char v[64];
    int bodyless = head_request || out->status < 200 || out->status == 204 || out->status == 304;
    if (bodyless) {
        out->body = calloc(1, 1);
        return 0;
    }
    if (fht_header(out, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "chunked") == 0) {
        out->chunked = 1;
        size_t cap = 1024, len = 0;
        out->body = malloc(cap);
        for (;;) {
            char *eol;
            while (!(b->data && (eol = find_mem(b->data, b->len, "\r\n"))))
                if (fill(fd) <= 0)
                    return -1;
            size_t size = strtoul(b->data, NULL, 16);
            consume(fd, (size_t)(eol - b->data) + 2);
            while (b->len < size + 2)
                if (fill(fd) <= 0)
                    return -1;
            if (len + size + 1 > cap) {
                while (len + size + 1 > cap)
                    cap *= 2;
                out->body = realloc(out->body, cap);
            }
            memcpy(out->body + len, b->data, size);
            len += size;
            consume(fd, size + 2);
            if (size == 0)
                break;
        }
        out->body[len] = '\0';
        out->body_len = len;
        return 0;
    }
    size_t cl = 0;
    if (fht_header(out, "Content-Length", v, sizeof(v)))
        cl = strtoul(v, NULL, 10);
    else {
        /* Close-delimited: read to EOF. */
        ssize_t n;
        while ((n = fill(fd)) > 0)
            ;
        cl = b->len;
    }
    while (b->len < cl)
        if (fill(fd) <= 0)
            return -1;
    out->body = malloc(cl + 1);
    memcpy(out->body, b->data, cl);
    out->body[cl] = '\0';
    out->body_len = cl;
    consume(fd, cl);
    return 0;
}

void fht_response_free(fht_response_t *r) {
    free(r->body);
    r->body = NULL;
}

int fht_wait_closed(int fd, int ms) {
    if (rbufs[fd].len)
        return -1;
    struct pollfd pfd = { fd, POLLIN, 0 };
    int r = poll(&pfd, 1, ms);
    if (r <= 0)
        return 0;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
        return 1;
    if (n > 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- fixture */

fh_server_t *fht_server;
int fht_port;
fh_chain_t *fht_chain;

void fht_start(fh_server_config_t *cfg) {
    fht_server = fht_server_start(cfg);
    fht_port = fh_server_port(fht_server);
}

void fht_start_handler(fh_handler_fn handler, void *data, int threads) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = handler;
    cfg.handler_data = data;
    cfg.threads = threads;
    fht_start(&cfg);
}

void fht_start_router(fh_server_config_t *cfg, fh_router_t *router) {
    cfg->handler = fh_router_handle;
    cfg->handler_data = router;
    cfg->body_stream = fh_router_body_stream;
    cfg->body_stream_data = router;
    fht_start(cfg);
}

char *fht_pattern(size_t n) {
    char *b = malloc(n ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        b[i] = (char)('a' + (i * 7 + i / 251) % 26);
    return b;
}

void fht_start_chain(fh_handler_fn handler, void *data, int threads, const fh_middleware_t *mws,
                     size_t n) {
    assert_int_equal(fh_chain_new(&fht_chain, handler, data), 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fh_chain_use(fht_chain, &mws[i]), 0);
    fht_start_handler(fh_chain_handle, fht_chain, threads);
}

void fht_stop(void) {
    if (fht_server)
        fht_server_stop(fht_server);
    fht_server = NULL;
    fht_port = 0;
    fh_chain_free(fht_chain);
    fht_chain = NULL;
}

int fht_teardown(void **state) {
    (void)state;
    fht_stop();
    return 0;
}

void fht_exchange(const char *raw, fht_response_t *r) {
    int fd = fht_connect(fht_port);
    fht_send_str(fd, raw);
    assert_int_equal(fht_read_response(fd, r, strncmp(raw, "HEAD ", 5) == 0), 0);
    fht_close(fd);
}

void fht_request(const char *method, const char *target, const char *extra, fht_response_t *r) {
    char raw[2048];
    int n = snprintf(raw, sizeof(raw), "%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n", method, target,
                     extra ? extra : "");
    assert_true(n > 0 && (size_t)n < sizeof(raw));
    fht_exchange(raw, r);
}

const char *fht_hdr(const fht_response_t *r, const char *name) {
    static char v[4][512];
    static int slot;
    char *out = v[slot++ % 4];
    if (!fht_header(r, name, out, sizeof(v[0])))
        out[0] = '\0';
    return out;
}

void fht_expect_response(int fd, int head_request, int status, const char *body, int chunked) {
    fht_response_t r;
    assert_int_equal(fht_read_response(fd, &r, head_request), 0);
    assert_int_equal(r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    if (chunked >= 0)
        assert_int_equal(r.chunked, chunked);
    char date[64];
    assert_true(fht_header(&r, "Date", date, sizeof(date)));
    assert_int_equal(strlen(date), 29);
    fht_response_free(&r);
}

void fht_expect(int fd, int status, const char *body) {
    fht_expect_response(fd, 0, status, body, -1);
}

void fht_expect_head(int fd, int status) { fht_expect_response(fd, 1, status, NULL, -1); }

void fht_wait_for(const atomic_int *counter, int want) {
    uint64_t t0 = fht_now_ms();
    while (atomic_load(counter) < want && fht_now_ms() - t0 < 5000)
        usleep(1000);
    assert_int_equal(atomic_load(counter), want);
}

int fht_recv_exact(int fd, void *buf, size_t n, size_t *got) {
    rbuf_t *b = &rbufs[fd];
    char *out = buf;
    size_t have = b->len < n ? b->len : n;
    if (have) {
        memcpy(out, b->data, have);
        consume(fd, have);
    }
    while (have < n) {
        ssize_t k = recv(fd, out + have, n - have, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        have += (size_t)k;
    }
    if (got)
        *got = have;
    return have == n ? 0 : -1;
}

void fht_round_trips(int fd, const char *req, int reqs, int rounds, size_t resp_len) {
    static char out[16 * 512];
    static char in[1 << 17];
    size_t rl = strlen(req);
    assert_true(reqs >= 1 && (size_t)reqs * rl <= sizeof(out));
    for (int i = 0; i < reqs; i++)
        memcpy(out + (size_t)i * rl, req, rl);
    for (int r = 0; r < rounds; r++) {
        size_t n = (size_t)reqs * rl, off = 0;
        while (off < n) {
            ssize_t s = send(fd, out + off, n - off, MSG_NOSIGNAL);
            assert_true(s > 0);
            off += (size_t)s;
        }
        size_t want = (size_t)reqs * resp_len, got = 0;
        while (got < want) {
            ssize_t s = recv(fd, in, sizeof(in), 0);
            assert_true(s > 0);
            got += (size_t)s;
        }
        assert_int_equal(got, want);
    }
}

static struct {
    pthread_t thread;
    int fd;
    const char *p;
    size_t len;
    int err;
} async_send;

static void *async_send_main(void *arg) {
    (void)arg;
    const char *p = async_send.p;
    size_t len = async_send.len;
    while (len) {
        ssize_t n = send(async_send.fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            async_send.err = errno ? errno : EPIPE;
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    return NULL;
}

void fht_send_async(int fd, const void *buf, size_t len) {
    async_send.fd = fd;
    async_send.p = buf;
    async_send.len = len;
    async_send.err = 0;
    assert_int_equal(pthread_create(&async_send.thread, NULL, async_send_main, NULL), 0);
}

void fht_send_async_join(void) {
    pthread_join(async_send.thread, NULL);
    if (async_send.err)
        fail_msg("send: %s", strerror(async_send.err));
}

/* ------------------------------------------------------------- server side */

typedef struct later {
    uv_timer_t timer;
    fh_response_t *res;
    fht_later_fn fn;
    void *data;
} later_t;

static void later_closed(uv_handle_t *h) {
    later_t *l = h->data;
    l->fn(l->res, l->data);
}

static void later_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, later_closed); }

int fht_later(fh_response_t *res, uint64_t ms, fht_later_fn fn, void *data) {
    fh_request_t *req = fh_response_request(res);
    later_t *l = fh_alloc(req, sizeof(*l));
    if (!l)
        return FH_ENOMEM;
    l->res = res;
    l->fn = fn;
    l->data = data;
    uv_timer_init(fh_request_loop(req), &l->timer);
    l->timer.data = l;
    uv_timer_start(&l->timer, later_fire, ms, 0);
    return 0;
}

size_t fht_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoul(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}
