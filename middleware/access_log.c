/* Access log: Common, Combined or JSON lines, formatted when the request is
 * done into a per-thread buffer, written when full, on a timer and on
 * release.
 *
 * The before hook copies what the line needs from the request (method,
 * target, Referer, User-Agent, the peer's address) into the arena: the
 * done hook runs after the write, when the request's views may point into
 * a read buffer that holds other bytes already. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/worker.h"
#include "middleware/mw.h"

typedef struct access_log access_log_t;

/* Sizes of the per-thread copy of the last line's start (log_buf_t). */
#define LAST_KEY 256
#define LAST_TEXT 512

typedef struct log_buf {
    access_log_t *log;
    uv_timer_t timer;
    bool timer_on; /* timer initialized (it may be closed since) */
    char *data;
    size_t len;
    int64_t clf_sec, iso_sec; /* second of the cached strings below */
    uint64_t clock_at;        /* monotonic ns when wall_offset was taken */
    int64_t wall_offset;      /* realtime - monotonic, in ns */
    char clf_time[32];        /* "[10/Oct/2000:13:55:36 +0000]" */
    char iso_time[24];        /* "2000-10-10T13:55:36" */
    uint8_t clf_len, iso_len;
    /* The last peer address formatted: a thread's lines mostly come from
     * a few clients, often one. */
    uint8_t addr_family; /* 0: none yet */
    uint8_t addr_len;
    uint8_t addr[16];
    char addr_text[48];
    /* The last Common or Combined line up to its latency field, and what
     * it was made of: a line of the same peer, second, request line,
     * status, size, Referer and User-Agent, with no user, starts with the
     * same bytes. Requests that repeat (health checks, load, pipelined
     * batches) copy them instead of formatting them again. */
    bool last_ok;
    uint8_t last_method; /* fh_method_t, a known one */
    uint8_t last_version;
    uint8_t last_family;
    uint8_t last_addr[16];
    int last_status;
    int64_t last_sec;
    uint64_t last_bytes;
    uint16_t last_target_len, last_referer_len, last_ua_len;
    uint16_t last_len;       /* bytes of last_text */
    char last_key[LAST_KEY]; /* target, Referer and User-Agent, as copied */
    char last_text[LAST_TEXT];
} log_buf_t;

struct access_log {
    fh_log_format_t format;
    int fd;
    bool own_fd;
    char *path;                   /* for fh_access_log_reopen, when own_fd */
    struct access_log *next_file; /* in open_files */
    FILE *file;
    fh_log_write_fn write;
    void *write_data;
    bool latency, request_id;
    size_t cap;
    uint32_t flush_ms;
    fh__perloop_t loops;
    pthread_mutex_t direct_lock; /* only when a thread has no buffer */
    /* The path output: the workers' flushes are copied into a ring that a
     * writer thread empties, so a slow disk (or a pipe nobody reads) never
     * holds a worker; a flush that finds the ring full is dropped and its
     * lines counted. */
    pthread_t writer;
    bool writer_on;
    pthread_mutex_t ring_lock;
    pthread_cond_t ring_cond;
    char *ring;
    size_t ring_cap;
    size_t ring_wake;              /* bytes waiting that end a batch wait (ring_cap / 8) */
    uint64_t ring_head, ring_tail; /* bytes ever put in and taken out */
    /* The count of bytes at the ring's start: set to ring_head whenever the
     * writer empties the ring, so that the next bytes go at its start and a
     * log that keeps up touches only the ring's first pages. */
    uint64_t ring_base;
    /* What the writer waits for, so that a worker signals it only when it
     * must: WRITER_IDLE, any byte; WRITER_BATCHING, ring_wake bytes or the
     * end of its batch time; WRITER_BUSY, nothing (it looks again before
     * it waits). */
    uint8_t writer_state;
    bool stopping;
    uint64_t stop_ms;
    /* A reopen waiting for the writer: once everything queued before it
     * (up to reopen_at) is written to the old file, reopen_fd takes its
     * number (dup2). -1: none. */
    int reopen_fd;
    uint64_t reopen_at;
    uint64_t dropped_reported;
    _Atomic uint64_t dropped; /* lines */
};

#define WRITER_STOP_GRACE_MS 1000 /* at release, how long a stalled output is waited for */
/* Once bytes arrive in an empty ring, the writer waits up to this long for
 * more (or for ring_wake bytes) before it writes: one wake-up and one
 * write(2) per batch instead of one per worker buffer. */
#define WRITER_BATCH_MS 20

enum { WRITER_BUSY, WRITER_IDLE, WRITER_BATCHING };

typedef struct log_entry {
    access_log_t *log;
    fh_response_t *res;
    fh__hook_t done; /* the done hook's storage */
    fh_str_t method, target, referer, ua;
    const char *key; /* the copies of target, Referer and User-Agent, */
    size_t key_len;  /* one after the other */
    uint8_t version;
    uint8_t mid;       /* fh_method_t */
    bool method_known; /* method is a static name (fh_method_name) */
    uint8_t family;    /* AF_INET, AF_INET6, or 0: no peer address */
    uint8_t addr[16];  /* the peer's address, formatted only when logged */
} log_entry_t;

/* ------------------------------------------------------------- output */

static uint64_t count_lines(const char *p, size_t n) {
    uint64_t k = 0;
    for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        k++;
    return k;
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Copies n bytes of whole lines into the ring for the writer thread, or
 * counts them as dropped when they do not fit. */
static void ring_put(access_log_t *log, const char *p, size_t n) {
    pthread_mutex_lock(&log->ring_lock);
    size_t used = (size_t)(log->ring_head - log->ring_tail);
    if (log->ring_cap - used < n) {
        pthread_mutex_unlock(&log->ring_lock);
        atomic_fetch_add_explicit(&log->dropped, count_lines(p, n), memory_order_relaxed);
        return;
    }
    size_t at = (size_t)((log->ring_head - log->ring_base) % log->ring_cap);
    size_t first = log->ring_cap - at < n ? log->ring_cap - at : n;
    memcpy(log->ring + at, p, first);
    memcpy(log->ring, p + first, n - first);
    log->ring_head += n;
    if (log->writer_state == WRITER_IDLE || (log->writer_state == WRITER_BATCHING &&
                                             used < log->ring_wake && used + n >= log->ring_wake))
        pthread_cond_signal(&log->ring_cond);
    pthread_mutex_unlock(&log->ring_lock);
}

/* Writes some of [p, p + n) to the log's descriptor; waits (in steps, so
 * that a release is seen) while a non-blocking output is full. Returns
 * the bytes written, or -1 when the output failed or stayed full past the
 * grace time of a release. */
static ssize_t writer_write(access_log_t *log, const char *p, size_t n) {
    for (;;) {
        ssize_t w = write(log->fd, p, n);
        if (w > 0)
            return w;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pthread_mutex_lock(&log->ring_lock);
            bool give_up = log->stopping && mono_ms() - log->stop_ms > WRITER_STOP_GRACE_MS;
            pthread_mutex_unlock(&log->ring_lock);
            if (give_up)
                return -1;
            struct pollfd pfd = { .fd = log->fd, .events = POLLOUT };
            poll(&pfd, 1, 100);
            continue;
        }
        return -1;
    }
}

static void report_dropped(access_log_t *log) {
    uint64_t d = atomic_load_explicit(&log->dropped, memory_order_relaxed);
    if (d != log->dropped_reported) {
        fprintf(stderr,
                "fasthttp: access_log: %llu lines dropped so far (the output was too slow)\n",
                (unsigned long long)d);
        log->dropped_reported = d;
    }
}

static void *writer_main(void *arg) {
    access_log_t *log = arg;
    pthread_mutex_lock(&log->ring_lock);
    for (;;) {
        while (log->ring_head == log->ring_tail && !log->stopping && log->reopen_fd < 0) {
            log->writer_state = WRITER_IDLE;
            pthread_cond_wait(&log->ring_cond, &log->ring_lock);
        }
        if (!log->stopping && log->reopen_fd < 0 &&
            log->ring_head - log->ring_tail < log->ring_wake) {
            /* A batch: more lines for the same write, unless the ring
             * fills to ring_wake first. */
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_nsec += WRITER_BATCH_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            log->writer_state = WRITER_BATCHING;
            while (!log->stopping && log->reopen_fd < 0 &&
                   log->ring_head - log->ring_tail < log->ring_wake)
                if (pthread_cond_timedwait(&log->ring_cond, &log->ring_lock, &until) == ETIMEDOUT)
                    break;
        }
        log->writer_state = WRITER_BUSY;
        if (log->reopen_fd >= 0 && log->ring_tail >= log->reopen_at) {
            /* What was queued before the reopen is in the old file: the
             * rest goes to the new one. */
            dup2(log->reopen_fd, log->fd);
            close(log->reopen_fd);
            log->reopen_fd = -1;
            continue;
        }
        if (log->ring_head == log->ring_tail)
            break; /* stopping, and everything written */
        size_t at = (size_t)((log->ring_tail - log->ring_base) % log->ring_cap);
        size_t used = (size_t)(log->ring_head - log->ring_tail);
        if (log->reopen_fd >= 0 && log->reopen_at - log->ring_tail < used)
            used = (size_t)(log->reopen_at - log->ring_tail); /* the old file's part */
        size_t n = log->ring_cap - at < used ? log->ring_cap - at : used;
        pthread_mutex_unlock(&log->ring_lock);
        ssize_t w = writer_write(log, log->ring + at, n); /* the workers write elsewhere */
        pthread_mutex_lock(&log->ring_lock);
        if (w > 0) {
            log->ring_tail += (uint64_t)w;
            if (log->ring_tail == log->ring_head)
                log->ring_base = log->ring_head;
        } else {
            /* A failed output: what waits is lost, and counted. */
            uint64_t k = 0;
            while (log->ring_tail != log->ring_head) {
                at = (size_t)((log->ring_tail - log->ring_base) % log->ring_cap);
                used = (size_t)(log->ring_head - log->ring_tail);
                n = log->ring_cap - at < used ? log->ring_cap - at : used;
                k += count_lines(log->ring + at, n);
                log->ring_tail += n;
            }
            atomic_fetch_add_explicit(&log->dropped, k, memory_order_relaxed);
            log->ring_base = log->ring_head;
        }
        report_dropped(log);
    }
    pthread_mutex_unlock(&log->ring_lock);
    report_dropped(log);
    return NULL;
}

static void output(access_log_t *log, const char *p, size_t n) {
    if (n == 0)
        return;
    if (log->writer_on) {
        ring_put(log, p, n);
    } else if (log->write) {
        log->write(p, n, log->write_data);
    } else if (log->file) {
        fwrite(p, 1, n, log->file);
        fflush(log->file);
    } else {
        while (n) {
            ssize_t w = write(log->fd, p, n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return; /* a log that cannot be written drops lines */
            p += w;
            n -= (size_t)w;
        }
    }
}

static void buf_flush(log_buf_t *b) {
    output(b->log, b->data, b->len);
    b->len = 0;
}

static void on_flush_timer(uv_timer_t *t) { buf_flush(t->data); }

static void buf_start_timer(log_buf_t *b, uv_loop_t *loop) {
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, on_flush_timer, b->log->flush_ms, b->log->flush_ms);
    /* The timer must not keep a stopping worker's loop alive: the server
     * closes it with the loop's other leftovers. */
    uv_unref((uv_handle_t *)&b->timer);
    b->timer_on = true;
}

static void *buf_create(void *owner, uv_loop_t *loop) {
    access_log_t *log = owner;
    log_buf_t *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->data = malloc(log->cap);
    if (!b->data) {
        free(b);
        return NULL;
    }
    b->log = log;
    b->clf_sec = b->iso_sec = -1;
    (void)loop; /* buf_get starts the timer */
    return b;
}

static void buf_destroy(void *owner, void *state) {
    (void)owner;
    log_buf_t *b = state;
    buf_flush(b);
    free(b->data);
    free(b);
}

/* The buffer of the request's thread, with its flush timer started on first
 * use. The timer is closed with the loop's
 * leftovers when a server stops; a later server whose loop has the same
 * address gets it restarted. A loop that is no longer alive (a request
 * released while its worker shuts down) gets none: the lines wait for the
 * release of the middleware. */
static log_buf_t *buf_get(access_log_t *log, uv_loop_t *loop) {
    log_buf_t *b = fh__perloop_get(&log->loops, loop);
    if (b && (!b->timer_on || uv_is_closing((uv_handle_t *)&b->timer)) && uv_loop_alive(loop))
        buf_start_timer(b, loop);
    return b;
}

/* ---------------------------------------------------------- formatting */

static inline char *put(char *p, const char *s, size_t n) { return fh__put(p, s, n); }

/* The peer address as text: IPv4 by hand (the common case, without
 * printf), IPv6 through libuv. */
static size_t format_addr(char *p, const log_entry_t *e) {
    char *start = p;
    if (e->family == AF_INET) {
        for (int i = 0; i < 4; i++) {
            unsigned v = e->addr[i];
            if (i)
                *p++ = '.';
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
        }
        return (size_t)(p - start);
    }
    char tmp[64];
    if (uv_inet_ntop(AF_INET6, e->addr, tmp, sizeof(tmp)) != 0)
        return (size_t)(put(p, "-", 1) - start);
    return (size_t)(put(p, tmp, strlen(tmp)) - start);
}

/* The peer address, from the thread's copy of the last one formatted when
 * it is the same. */
static char *put_addr(char *p, const log_entry_t *e, log_buf_t *b) {
    size_t n = e->family == AF_INET ? 4 : 16;
    if (b->addr_family != e->family || memcmp(b->addr, e->addr, n) != 0) {
        b->addr_len = (uint8_t)format_addr(b->addr_text, e);
        memcpy(b->addr, e->addr, n);
        b->addr_family = e->family;
    }
    return put(p, b->addr_text, b->addr_len);
}

/* A status code: three digits (fh_response_status keeps it in 100..999). */
static char *put_status(char *p, int v) {
    *p++ = (char)('0' + v / 100 % 10);
    *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

static char *put_2(char *p, int v) {
    *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* Bytes Apache's escaping leaves alone: printable ASCII but '"' and '\\'. */
static const uint8_t clf_plain[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Some byte of the word x needs Apache's escaping: under 0x20, 0x7f and
 * up, '"' or '\\'. */
static inline uint64_t clf_escape8(uint64_t x) {
    return fh__below8(x, 0x20) | (((x + FH__ONES) | x) & FH__HIGH) | fh__has8(x, '"') |
           fh__has8(x, '\\');
}

/* One byte, escaped when it must be. */
static inline char *put_clf_byte(char *p, unsigned char c) {
    static const char hex[] = "0123456789abcdef";
    if (clf_plain[c]) {
        *p++ = (char)c;
    } else if (c == '"' || c == '\\') {
        *p++ = '\\';
        *p++ = (char)c;
    } else {
        *p++ = '\\';
        *p++ = 'x';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 15];
    }
    return p;
}

/* Apache's escaping for %r and %{...}i: \" \\ and \xhh. Eight bytes at a
 * time are tested and copied as they are when none needs escaping, which
 * is nearly always. */
static char *put_clf(char *p, fh_str_t s) {
    const unsigned char *u = (const unsigned char *)s.ptr;
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t x = fh__load8(u + i);
        if (!clf_escape8(x)) {
            memcpy(p, &x, 8);
            p += 8;
            continue;
        }
        for (size_t k = i; k < i + 8; k++)
            p = put_clf_byte(p, u[k]);
    }
    for (; i < s.len; i++)
        p = put_clf_byte(p, u[i]);
    return p;
}

/* A part of %r: escaped, or "-" when absent or empty. */
static char *put_clf_or_dash(char *p, fh_str_t s) { return s.len ? put_clf(p, s) : put(p, "-", 1); }

/* A quoted Combined field: "value" or "-". */
static char *put_clf_quoted(char *p, fh_str_t s) {
    *p++ = '"';
    p = s.ptr && s.len ? put_clf(p, s) : put(p, "-", 1);
    *p++ = '"';
    return p;
}

static char *put_json_field(char *p, const char *name, fh_str_t s) {
    if (!s.ptr)
        return p;
    *p++ = ',';
    *p++ = '"';
    p = put(p, name, strlen(name));
    p = put(p, "\":\"", 3);
    p += fh__mw_json_escape(p, s);
    *p++ = '"';
    return p;
}

static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void time_strings(log_buf_t *b, int64_t sec, bool iso) {
    if ((iso ? b->iso_sec : b->clf_sec) == sec)
        return;
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char *p;
    if (iso) {
        p = fh__put_u64(b->iso_time, (uint64_t)(tm.tm_year + 1900));
        *p++ = '-';
        p = put_2(p, tm.tm_mon + 1);
        *p++ = '-';
        p = put_2(p, tm.tm_mday);
        *p++ = 'T';
        p = put_2(p, tm.tm_hour);
        *p++ = ':';
        p = put_2(p, tm.tm_min);
        *p++ = ':';
        p = put_2(p, tm.tm_sec);
        *p = '\0';
        b->iso_len = (uint8_t)(p - b->iso_time);
        b->iso_sec = sec;
    } else {
        p = b->clf_time;
        *p++ = '[';
        p = put_2(p, tm.tm_mday);
        *p++ = '/';
        p = put(p, months[tm.tm_mon], 3);
        *p++ = '/';
        p = fh__put_u64(p, (uint64_t)(tm.tm_year + 1900));
        *p++ = ':';
        p = put_2(p, tm.tm_hour);
        *p++ = ':';
        p = put_2(p, tm.tm_min);
        *p++ = ':';
        p = put_2(p, tm.tm_sec);
        p = put(p, " +0000]", 7);
        *p = '\0';
        b->clf_len = (uint8_t)(p - b->clf_time);
        b->clf_sec = sec;
    }
}

/* The request's method: a known one's static name, else the copy. */
static fh_str_t entry_method(const log_entry_t *e) {
    return e->method_known ? fh_str(fh_method_name((fh_method_t)e->mid)) : e->method;
}

/* The most bytes format_line writes for e. */
static size_t line_bound(const log_entry_t *e, fh_str_t user, fh_str_t id) {
    size_t strings = 46 /* an IPv6 address */ + (e->method_known ? 32 : e->method.len) +
                     e->target.len + e->referer.len + e->ua.len + user.len + id.len;
    return 320 + 6 * strings;
}

static bool last_same(const log_buf_t *b, const log_entry_t *e, int64_t sec, int status,
                      uint64_t bytes);
static void last_keep(log_buf_t *b, const log_entry_t *e, const char *p, size_t n, int64_t sec,
                      int status, uint64_t bytes);
static char *format_start(const log_entry_t *e, log_buf_t *tc, char *p, fh_str_t user,
                          fh_str_t proto, int64_t sec, int status, uint64_t bytes);

static char *put_tail(const access_log_t *log, char *p, uint64_t latency_us, fh_str_t id,
                      bool id_plain);
static inline size_t tail_bound(fh_str_t id) { return 1 + 20 + 1 + 4 * id.len + 2 + 1; }

/* The size of e's response as logged: none for responses without a body. */
static inline uint64_t logged_bytes(const log_entry_t *e, int status) {
    bool bodyless = status < 200 || status == 204 || status == 304 ||
                    fh__request_method_of(fh__response_req(e->res)) == FH_METHOD_HEAD;
    return bodyless ? 0 : fh__response_body_len(e->res);
}

static size_t format_line(const log_entry_t *e, log_buf_t *tc, char *dst, fh_str_t user,
                          fh_str_t id, bool id_plain, uint64_t latency_us, int64_t start_ms) {
    const access_log_t *log = e->log;
    int status = fh__response_status_of(e->res);
    uint64_t bytes = logged_bytes(e, status);
    /* Version 0: the core refused the request before its version was
     * known (see "Requests the core refused" in mw_access_log.h). */
    fh_str_t proto = e->version == 10   ? FH_STR_LIT("HTTP/1.0")
                     : e->version == 11 ? FH_STR_LIT("HTTP/1.1")
                                        : (fh_str_t){ NULL, 0 };
    int64_t sec = start_ms / 1000;
    char *p = dst;
    if (log->format == FH_LOG_JSON) {
        time_strings(tc, sec, true);
        p = put(p, "{\"time\":\"", 9);
        p = put(p, tc->iso_time, tc->iso_len);
        int ms = (int)(start_ms % 1000);
        *p++ = '.';
        *p++ = (char)('0' + ms / 100);
        p = put_2(p, ms % 100);
        p = put(p, "Z\"", 2);
        if (e->family) {
            p = put(p, ",\"remote\":\"", 11);
            p = put_addr(p, e, tc);
            *p++ = '"';
        }
        p = put_json_field(p, "method", entry_method(e));
        p = put_json_field(p, "target", e->target);
        p = put_json_field(p, "proto", proto);
        p = put(p, ",\"status\":", 10);
        p = put_status(p, status);
        p = put(p, ",\"bytes\":", 9);
        p = fh__put_u64(p, bytes);
        p = put_json_field(p, "referer", e->referer);
        p = put_json_field(p, "user_agent", e->ua);
        p = put_json_field(p, "user", user);
        p = put_json_field(p, "request_id", id);
        p = put(p, ",\"latency_us\":", 14);
        p = fh__put_u64(p, latency_us);
        *p++ = '}';
        *p++ = '\n';
        return (size_t)(p - dst);
    }
    bool cacheable = e->method_known && !(user.ptr && user.len) && e->key_len <= LAST_KEY;
    if (cacheable && last_same(tc, e, sec, status, bytes)) {
        p = put(p, tc->last_text, tc->last_len);
    } else {
        p = format_start(e, tc, p, user, proto, sec, status, bytes);
        if (cacheable && (size_t)(p - dst) <= LAST_TEXT)
            last_keep(tc, e, dst, (size_t)(p - dst), sec, status, bytes);
    }
    return (size_t)(put_tail(log, p, latency_us, id, id_plain) - dst);
}

/* What a Common or Combined line has after its start: the latency and the
 * request id when asked for, and the newline. At most tail_bound bytes. */
static char *put_tail(const access_log_t *log, char *p, uint64_t latency_us, fh_str_t id,
                      bool id_plain) {
    if (log->latency) {
        *p++ = ' ';
        p = fh__put_u64(p, latency_us);
    }
    if (log->request_id) {
        *p++ = ' ';
        if (id_plain && id.len) {
            *p++ = '"';
            p = put(p, id.ptr, id.len);
            *p++ = '"';
        } else {
            p = put_clf_quoted(p, id);
        }
    }
    *p++ = '\n';
    return p;
}

/* Whether a Common or Combined line for e starts as the thread's last one:
 * the same request line, peer, second, status, size and headers, and no
 * user (the caller checks that). */
static bool last_same(const log_buf_t *b, const log_entry_t *e, int64_t sec, int status,
                      uint64_t bytes) {
    if (!b->last_ok || b->last_sec != sec || b->last_status != status || b->last_bytes != bytes ||
        b->last_method != e->mid || b->last_version != e->version || b->last_family != e->family ||
        b->last_target_len != e->target.len || b->last_referer_len != e->referer.len ||
        b->last_ua_len != e->ua.len)
        return false;
    if (e->family == AF_INET    ? memcmp(b->last_addr, e->addr, 4) != 0
        : e->family == AF_INET6 ? memcmp(b->last_addr, e->addr, 16) != 0
                                : false)
        return false;
    return memcmp(b->last_key, e->key, e->key_len) == 0;
}

/* Keeps the n bytes of text at p as the start of the lines like e's. */
static void last_keep(log_buf_t *b, const log_entry_t *e, const char *p, size_t n, int64_t sec,
                      int status, uint64_t bytes) {
    b->last_ok = true;
    b->last_sec = sec;
    b->last_status = status;
    b->last_bytes = bytes;
    b->last_method = e->mid;
    b->last_version = e->version;
    b->last_family = e->family;
    memcpy(b->last_addr, e->addr, sizeof(b->last_addr));
    b->last_target_len = (uint16_t)e->target.len;
    b->last_referer_len = (uint16_t)e->referer.len;
    b->last_ua_len = (uint16_t)e->ua.len;
    memcpy(b->last_key, e->key, e->key_len);
    memcpy(b->last_text, p, n);
    b->last_len = (uint16_t)n;
}

/* A Common or Combined line up to its latency field. */
static char *format_start(const log_entry_t *e, log_buf_t *tc, char *p, fh_str_t user,
                          fh_str_t proto, int64_t sec, int status, uint64_t bytes) {
    const access_log_t *log = e->log;
    time_strings(tc, sec, false);
    p = e->family ? put_addr(p, e, tc) : put(p, "-", 1);
    p = put(p, " - ", 3);
    p = user.ptr && user.len ? put_clf(p, user) : put(p, "-", 1);
    *p++ = ' ';
    /* The whole array (a fixed-size copy; line_bound has room), then only
     * its length counts. */
    memcpy(p, tc->clf_time, sizeof(tc->clf_time));
    p += tc->clf_len;
    p = put(p, " \"", 2);
    fh_str_t method = entry_method(e);
    if (!method.len && !e->target.len && !proto.ptr) {
        /* No request line at all (garbage): "-", as Apache logs it. */
        *p++ = '-';
    } else {
        /* A known method's name holds nothing to escape. */
        p = e->method_known ? put(p, method.ptr, method.len) : put_clf_or_dash(p, method);
        *p++ = ' ';
        p = put_clf_or_dash(p, e->target);
        *p++ = ' ';
        p = proto.ptr ? put(p, proto.ptr, 8) : put(p, "-", 1);
    }
    p = put(p, "\" ", 2);
    p = put_status(p, status);
    *p++ = ' ';
    p = bytes ? fh__put_u64(p, bytes) : put(p, "-", 1);
    if (log->format == FH_LOG_COMBINED) {
        *p++ = ' ';
        p = put_clf_quoted(p, e->referer);
        *p++ = ' ';
        p = put_clf_quoted(p, e->ua);
    }
    return p;
}

/* -------------------------------------------------------------- hooks */

/* Wall-clock minus monotonic time, in ns; b caches it for a second so a
 * request needs one clock read, not two. */
static int64_t wall_offset(log_buf_t *b, uint64_t now) {
    if (b && b->clock_at && now - b->clock_at < 1000000000u)
        return b->wall_offset;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t off = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec - (int64_t)now;
    if (b) {
        b->clock_at = now;
        b->wall_offset = off;
    }
    return off;
}

static void log_done(fh_request_t *req, void *data) {
    log_entry_t *e = data;
    access_log_t *log = e->log;
    uint64_t start = fh__request_start_of(req);
    uint64_t now = fh__request_done_ns(req);
    uint64_t latency_us = now > start ? (now - start) / 1000 : 0;
    bool id_plain;
    fh_str_t user, id = fh__mw_request_id_user(req, &id_plain, &user);
    log_buf_t *b = buf_get(log, fh_request_loop(req));
    /* Wall-clock time of the request's arrival. */
    int64_t start_ms = ((int64_t)start + wall_offset(b, now)) / 1000000;
    if (b && b->last_ok && e->method_known && !(user.ptr && user.len) && e->key_len <= LAST_KEY) {
        /* The line may start as the thread's last one: copied, then only
         * the tail is formatted. */
        int status = fh__response_status_of(e->res);
        size_t need = b->last_len + tail_bound(id);
        if (need <= log->cap && last_same(b, e, start_ms / 1000, status, logged_bytes(e, status))) {
            if (b->len + need > log->cap)
                buf_flush(b);
            char *p = put(b->data + b->len, b->last_text, b->last_len);
            b->len = (size_t)(put_tail(log, p, latency_us, id, id_plain) - b->data);
            return;
        }
    }
    size_t bound = line_bound(e, user, id);
    if (b && bound <= log->cap) {
        if (b->len + bound > log->cap)
            buf_flush(b);
        b->len += format_line(e, b, b->data + b->len, user, id, id_plain, latency_us, start_ms);
        return;
    }
    /* A line longer than the buffer, or a thread without one. */
    char *tmp = fh_alloc(req, bound);
    if (!tmp)
        return;
    log_buf_t local = { .log = log, .clf_sec = -1, .iso_sec = -1 };
    size_t n = format_line(e, b ? b : &local, tmp, user, id, id_plain, latency_us, start_ms);
    if (b) {
        buf_flush(b);
        output(log, tmp, n);
    } else {
        pthread_mutex_lock(&log->direct_lock);
        output(log, tmp, n);
        pthread_mutex_unlock(&log->direct_lock);
    }
}

/* Copies s to *p (advanced past it); an absent view stays absent. */
static inline fh_str_t copy_str(char **p, fh_str_t s) {
    if (!s.ptr)
        return s;
    char *d = *p;
    *p = fh__put(d, s.ptr, s.len);
    return (fh_str_t){ d, s.len };
}

static int log_before(fh_request_t *req, fh_response_t *res, void *data) {
    access_log_t *log = data;
    bool combined = log->format != FH_LOG_COMMON;
    fh_method_t mid = fh__request_method_of(req);
    /* A known method's name is static text: only other tokens are copied. */
    /* A known method's name is looked up when a line needs it. */
    fh_str_t method = mid != FH_METHOD_OTHER ? (fh_str_t){ NULL, 0 } : fh_request_method(req);
    fh_str_t target = fh__request_target_of(req);
    fh_str_t referer = { NULL, 0 }, ua = { NULL, 0 };
    if (combined) {
        /* One pass for both headers (the first of each counts). */
        size_t nh;
        const fh__header_t *h = fh__request_headers_of(req, &nh);
        for (size_t i = 0; i < nh; i++) {
            if (h[i].name.len == 7 && !referer.ptr && fh_str_ieq(h[i].name, FH_STR_LIT("Referer")))
                referer = h[i].value;
            else if (h[i].name.len == 10 && !ua.ptr &&
                     fh_str_ieq(h[i].name, FH_STR_LIT("User-Agent")))
                ua = h[i].value;
        }
    }
    bool copy_method = mid == FH_METHOD_OTHER;
    size_t n = (copy_method ? method.len : 0) + target.len + referer.len + ua.len;
    log_entry_t *e = fh__alloc(req, sizeof(*e) + n);
    if (!e)
        return FH_ENOMEM;
    char *p = (char *)(e + 1);
    e->method = copy_method ? copy_str(&p, method) : method;
    e->method_known = !copy_method;
    e->key = p;
    e->target = copy_str(&p, target);
    e->referer = copy_str(&p, referer);
    e->ua = copy_str(&p, ua);
    e->key_len = (size_t)(p - e->key);
    e->mid = (uint8_t)mid;
    e->log = log;
    e->res = res;
    e->family = 0;
    const struct sockaddr *peer = fh__request_peer(req);
    if (peer && peer->sa_family == AF_INET) {
        e->family = AF_INET;
        memcpy(e->addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer && peer->sa_family == AF_INET6) {
        e->family = AF_INET6;
        memcpy(e->addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    e->version = (uint8_t)fh__request_version_of(req);
    fh__request_on_done_node(req, &e->done, log_done, e);
    return FH_NEXT;
}

/* ------------------------------------------------------------- set-up */

/* The logs writing to a file they opened by path, for fh_access_log_reopen. */
static pthread_mutex_t open_files_lock = PTHREAD_MUTEX_INITIALIZER;
static access_log_t *open_files;

int fh_access_log_reopen(void) {
    int first_err = 0;
    pthread_mutex_lock(&open_files_lock);
    for (access_log_t *log = open_files; log; log = log->next_file) {
        int fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0 && log->writer_on) {
            /* The writer finishes what is queued in the old file first. */
            pthread_mutex_lock(&log->ring_lock);
            if (log->reopen_fd >= 0)
                close(log->reopen_fd); /* an earlier reopen not yet applied */
            log->reopen_fd = fd;
            log->reopen_at = log->ring_head;
            pthread_cond_signal(&log->ring_cond);
            pthread_mutex_unlock(&log->ring_lock);
            continue;
        }
        /* dup2 puts the new file under the old number at once: writers on
         * other threads go on with the same descriptor, no lock needed. */
        if (fd < 0 || dup2(fd, log->fd) < 0) {
            if (!first_err)
                first_err = -errno;
        }
        if (fd >= 0)
            close(fd);
    }
    pthread_mutex_unlock(&open_files_lock);
    return first_err;
}

static void reopen_on_signal(void) { (void)fh_access_log_reopen(); }

static void log_release(void *data) {
    access_log_t *log = data;
    if (!log)
        return;
    if (log->path) {
        pthread_mutex_lock(&open_files_lock);
        for (access_log_t **p = &open_files; *p; p = &(*p)->next_file)
            if (*p == log) {
                *p = log->next_file;
                break;
            }
        pthread_mutex_unlock(&open_files_lock);
        free(log->path);
    }
    fh__perloop_free(&log->loops); /* flushes every thread's buffer */
    if (log->writer_on) {
        pthread_mutex_lock(&log->ring_lock);
        log->stopping = true;
        log->stop_ms = mono_ms();
        pthread_cond_signal(&log->ring_cond);
        pthread_mutex_unlock(&log->ring_lock);
        pthread_join(log->writer, NULL); /* every line written, or counted dropped */
    }
    pthread_mutex_destroy(&log->ring_lock);
    pthread_cond_destroy(&log->ring_cond);
    free(log->ring);
    if (log->reopen_fd >= 0)
        close(log->reopen_fd);
    if (log->own_fd)
        close(log->fd);
    pthread_mutex_destroy(&log->direct_lock);
    free(log);
}

int fh_access_log_new(fh_middleware_t *out, const fh_access_log_options_t *opt) {
    static const fh_access_log_options_t defaults = { 0 };
    memset(out, 0, sizeof(*out));
    if (!opt)
        opt = &defaults;
    if (opt->format != FH_LOG_COMMON && opt->format != FH_LOG_COMBINED &&
        opt->format != FH_LOG_JSON)
        return fh__mw_fail(FH_ECONFIG, "access_log.format: %d is not a fh_log_format_t",
                           (int)opt->format);
    int outputs = (opt->path != NULL) + (opt->file != NULL) + (opt->write != NULL);
    if (outputs > 1)
        return fh__mw_fail(FH_ECONFIG, "access_log.path: set only one of path, file and write");
    if (opt->path && !opt->path[0])
        return fh__mw_fail(FH_ECONFIG, "access_log.path: empty");
    if (opt->buffer_size && opt->buffer_size < 4096)
        return fh__mw_fail(FH_ECONFIG, "access_log.buffer_size: %zu is under 4096",
                           opt->buffer_size);
    size_t cap = opt->buffer_size ? opt->buffer_size : 65536;
    if (opt->max_pending && opt->max_pending < cap)
        return fh__mw_fail(FH_ECONFIG, "access_log.max_pending: %zu is under buffer_size (%zu)",
                           opt->max_pending, cap);
    access_log_t *log = calloc(1, sizeof(*log));
    if (!log)
        return FH_ENOMEM;
    log->format = opt->format;
    log->fd = -1;
    log->reopen_fd = -1;
    log->file = opt->file;
    log->write = opt->write;
    log->write_data = opt->write_data;
    if (outputs == 0)
        log->file = stdout;
    log->latency = opt->latency;
    log->request_id = opt->request_id;
    log->cap = opt->buffer_size ? opt->buffer_size : 65536;
    log->flush_ms = opt->flush_ms ? opt->flush_ms : 1000;
    pthread_mutex_init(&log->direct_lock, NULL);
    pthread_mutex_init(&log->ring_lock, NULL);
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC); /* the batch wait's clock */
    pthread_cond_init(&log->ring_cond, &cattr);
    pthread_condattr_destroy(&cattr);
    if (fh__perloop_init(&log->loops, 256, buf_create, buf_destroy, log) != 0) {
        log_release(log);
        return FH_ENOMEM;
    }
    if (opt->path) {
        log->fd = open(opt->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log->fd < 0) {
            int e = errno;
            log_release(log);
            return fh__mw_fail(-e, "access_log.path: cannot open \"%s\": %s", opt->path,
                               strerror(e));
        }
        log->own_fd = true;
        log->path = strdup(opt->path);
        if (!log->path) {
            log_release(log);
            return FH_ENOMEM;
        }
        /* A pipe or socket is never waited on by a write: the writer
         * polls it, so that a release ends even if nobody reads. */
        struct stat sb;
        if (fstat(log->fd, &sb) == 0 && (S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode)))
            fcntl(log->fd, F_SETFL, fcntl(log->fd, F_GETFL) | O_NONBLOCK);
        log->ring_cap = opt->max_pending ? opt->max_pending : (size_t)8 << 20;
        /* Never more than leaves room for one more buffer: a ring as small
         * as one buffer is written at once. */
        log->ring_wake =
            log->ring_cap / 8 < log->ring_cap - cap ? log->ring_cap / 8 : log->ring_cap - cap;
        log->ring = malloc(log->ring_cap);
        if (!log->ring || pthread_create(&log->writer, NULL, writer_main, log) != 0) {
            log_release(log);
            return FH_ENOMEM;
        }
        log->writer_on = true;
        /* Registered once the writer runs: a reopen hands it the new file. */
        pthread_mutex_lock(&open_files_lock);
        log->next_file = open_files;
        open_files = log;
        pthread_mutex_unlock(&open_files_lock);
        fh__server_on_reopen(reopen_on_signal); /* SIGUSR1 in fh_server_run */
    }
    out->name = "access_log";
    out->before = log_before;
    out->data = log;
    out->release = log_release;
    fh__mw_ok();
    return 0;
}

uint64_t fh_access_log_dropped(const fh_middleware_t *mw) {
    const access_log_t *log = mw ? mw->data : NULL;
    return log ? atomic_load_explicit(&log->dropped, memory_order_relaxed) : 0;
}
