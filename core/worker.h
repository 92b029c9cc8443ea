/* Internal: the server, its workers and their connections. */
#ifndef FH_CORE_WORKER_H
#define FH_CORE_WORKER_H

#include <fasthttp.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/date.h"
#include "core/request.h"

#define FH__LOOP_BUF_SIZE (64 * 1024)
#define FH__MAX_IOV 256

/* A per-thread counter that other threads may read: relaxed atomics, which
 * compile to plain loads and stores on the owning thread. */
typedef _Atomic uint64_t fh__counter_t;
#define FH__COUNT(c)                                                                               \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + 1,              \
                          memory_order_relaxed)
#define FH__COUNT_ADD(c, n)                                                                        \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) + (n),            \
                          memory_order_relaxed)
#define FH__COUNT_SUB(c, n)                                                                        \
    atomic_store_explicit(&(c), atomic_load_explicit(&(c), memory_order_relaxed) - (n),            \
                          memory_order_relaxed)
#define FH__COUNT_GET(c) atomic_load_explicit(&(c), memory_order_relaxed)

typedef struct fh__post {
    struct fh__post *next;
    fh_loop_fn fn;
    void *data;
} fh__post_t;

struct fh__worker {
    fh_server_t *server;
    int index;
    uv_loop_t loop;
    uv_poll_t listener; /* readable: connections to accept (conn.c) */
    uv_timer_t tick;    /* Date refresh and timeout sweep */
    uv_timer_t drain;   /* graceful stop deadline */
    uv_async_t wakeup;  /* stop requests and posted callbacks */
    uv_os_sock_t listen_fd;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    bool accept_paused;
    bool listener_open;
    bool wakeup_closed; /* guarded by post_lock */
    fh_arena_cache_t *arena_cache;
    llhttp_t *parsers; /* released parsers, linked through ->data */
    size_t nparsers;
    /* The batch being parsed (conn.c): end of the bytes given to llhttp,
     * where a message not yet begun would start, the clock at its first
     * dispatch. */
    const char *exec_end;
    const char *msg_start;
    uint64_t batch_ns;
    char *loop_buf;     /* shared read buffer of the loop */
    bool loop_buf_busy; /* handed to a read not yet consumed */
    fh__date_cache_t date;
    fh__conn_t *conns; /* all open connections (doubly linked) */
    size_t nconns;
    uint64_t next_req_id;
    /* While a written group's requests are released: the clock reading
     * their done hooks share (fh__request_done_ns), 0 until one asks. */
    bool releasing_group;
    uint64_t group_done_ns;
    uv_buf_t iov[FH__MAX_IOV];
    pthread_mutex_t post_lock;
    fh__post_t *posts;
    struct fh_takeover *takeovers; /* taken-over connections (takeover.c) */
    struct {
        fh__counter_t accepted, requests, errors_4xx, errors_5xx, timeouts, writes, conn_buffers;
    } stats;
};

struct fh_server {
    fh_server_config_t cfg;
    char *host;
    char *server_name;
    char *server_line; /* "Server: fasthttp\r\n" or "" */
    size_t server_line_len;
    int port;
    int nworkers;
    fh__worker_t *workers;
    _Atomic size_t nconns;
    _Atomic bool stop_requested;
    bool started;
    bool joined;
    bool trace_arena;
    uv_async_t *run_async; /* wakes fh_server_run's wait loop */
    pthread_mutex_t run_lock;
};

/* conn.c */
void fh__conn_on_listen(uv_poll_t *listener, int status, int events);
void fh__conn_sweep(fh__worker_t *w);
/* Serves a connected stream socket (TCP, or one end of a socketpair) on
 * w's loop, from w's thread, as if accepted. The fuzzers drive the real
 * connection code this way. Returns 0 or a libuv error (fd not taken). */
int fh__conn_open(fh__worker_t *w, uv_os_sock_t fd);
void fh__worker_stop_conns(fh__worker_t *w, bool force);
void fh__worker_try_resume_accept(fh__worker_t *w);
void fh__worker_free_parsers(fh__worker_t *w);
void fh__request_release(fh_request_t *req);

/* server.c: queues fn(data) for w's loop thread, from any thread. While the
 * server stops, posts are refused (FH_ESTATE) unless while_stopping, which
 * accepts them until the loop closes for good. */
int fh__worker_post(fh__worker_t *w, fh_loop_fn fn, void *data, bool while_stopping);

#endif
