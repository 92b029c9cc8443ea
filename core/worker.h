/* Internal: the server and its workers (server.c, worker.c).
 *
 * A worker is one thread with its own loop, listening socket, connections,
 * timers, arena cache, parser pool and Date line. Everything a request
 * touches stays on the worker that accepted its connection. */
#ifndef FH_CORE_WORKER_H
#define FH_CORE_WORKER_H

#include <fasthttp.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/date.h"
#include "core/listener.h"

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

typedef struct fh__conn fh__conn_t;

typedef struct fh__post {
    struct fh__post *next;
    fh_loop_fn fn;
    void *data;
} fh__post_t;

struct fh__worker {
    fh_server_t *server;
    int index;
    uv_loop_t loop;
    /* Its listening sockets: at least one per config.listen entry, more
     * when a restart handed over more sockets than there are workers
     * (server.c deals them). Owned; the descriptors are closed with them. */
    fh__listener_t *listeners;
    int nlisteners;
    uv_timer_t tick;   /* Date refresh and timeout sweep */
    uv_timer_t drain;  /* graceful stop deadline */
    uv_async_t wakeup; /* stop requests and posted callbacks */
    pthread_t thread;
    bool thread_started;
    bool stopping;
    bool draining;      /* every worker's listener is closed: connections end */
    bool wakeup_closed; /* guarded by post_lock */
    fh_arena_cache_t *arena_cache;
    void *parsers; /* released llhttp parsers (http1_parser.c) */
    size_t nparsers;
    char *loop_buf; /* shared read buffer of the loop */
    fh__date_cache_t date;
    fh__conn_t *conns; /* all open connections (doubly linked, conn.c) */
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
        fh__counter_t file_steps_loop, file_steps_pool;
        fh__counter_t refused;             /* accepted but dropped: no memory */
        fh__counter_t bytes_in, bytes_out; /* read from and written to sockets */
        fh__counter_t created, released;   /* requests: in flight = the difference */
        /* Answers the core gave itself, by status (400..599): refusals while
         * reading, 500 for a failed handler, 413 over the memory budget. */
        fh__counter_t core_errors[200];
    } stats;
    /* The metrics this worker counts into (metrics.c), or NULL. */
    struct fh__metrics_shard *metrics;
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
    /* Workers whose listener has closed in this stop; connections start
     * to end only once all have (worker.c). */
    _Atomic int listeners_closed;
    bool started;
    bool joined;
    bool trace_arena;
    /* FH_H1_LLHTTP_ONLY=1: every head goes through llhttp, none through the
     * strict parser alone (http1_parser.c), so that tests can check that
     * both ways answer the same. */
    bool h1_llhttp_only;
    /* FH_SENDFILE_POOL=1: every piece of a file is read on the thread pool
     * before it is sent, as if its pages were never in memory, so that
     * tests reach that path (stream.c). */
    bool sendfile_via_pool;
    /* What every accepted socket is served over: TCP, or TLS with tls's
     * certificates (NULL without TLS). */
    const struct fh__transport *transport;
    struct fh__tls *tls;
    struct fh_metrics *metrics; /* cfg.metrics, attached (metrics.c) */
    int port_lock;              /* the port's claim (listener.c), or -1 */
    /* config.listen, parsed (or the host/port shorthand as one entry). */
    int nlisten;
    int listen_port[FH__LISTENERS_MAX];   /* bound port; 0 for a Unix socket */
    int listen_lock[FH__LISTENERS_MAX];   /* each TCP entry's port claim, or -1 */
    char *listen_unix[FH__LISTENERS_MAX]; /* the Unix socket made here, removed at free */
    /* While fh_server_new runs: each entry's distinct sockets (bound here
     * or handed over), before they are dealt to the workers (server.c). */
    struct {
        int *fd;
        int n;
    } socks[FH__LISTENERS_MAX];
    /* The restart (restart.c). */
    struct fh__inherit *inherit; /* what a parent handed over, while fh_server_new runs */
    int ready_fd;                /* the parent's ready pipe until written, or -1 */
    _Atomic int nrunning;        /* workers whose loop runs */
    _Atomic bool restarting;     /* a restart is under way */
    _Atomic bool handed_over;    /* a new generation serves the sockets (keep the Unix files) */
    bool activated;              /* entry 0 is systemd's socket (here or in a parent) */
    char *restart_path;          /* cfg.restart_path, copied */
    /* Held while the listeners' descriptors are closed (a stop) or dup'ed
     * (a handover), which may happen on different threads. */
    pthread_mutex_t handover_lock;
    pthread_t restart_thread; /* fh_server_run's, for SIGUSR2 */
    bool restart_thread_started;
    uv_async_t *run_async; /* wakes fh_server_run's wait loop */
    pthread_mutex_t run_lock;
    struct fh_pool *pools; /* freed with the server (fh_server_own_pool) */
};

/* ---- server.c ---- */

/* fn runs on SIGUSR1 while fh_server_run waits with handle_signals (the
 * access log's reopen, registered when it opens a file by path). */
void fh__server_on_reopen(void (*fn)(void));

/* ---- pool.c ---- */

/* Frees every pool of a server's list, once its workers have stopped. */
void fh__pools_free(struct fh_pool *head);

/* ---- worker.c ---- */

/* Fills in w (index i of s) with everything but its loop: the arena cache,
 * the loop buffer and the post lock. Returns 0 or FH_ENOMEM. */
int fh__worker_new(fh__worker_t *w, fh_server_t *s, int i);
/* Frees what fh__worker_new made, and the parser pool. */
void fh__worker_free(fh__worker_t *w);
/* Starts w's loop: listener, timers, wakeup. A failure leaves a loop that
 * cannot be unwound (the server aborts). */
int fh__worker_init(fh__worker_t *w);
/* The worker thread's body: runs the loop until the worker has stopped. */
void *fh__worker_main(void *arg);
/* Queues fn(data) for w's loop thread, from any thread. While the server
 * stops, posts are refused (FH_ESTATE) unless while_stopping, which
 * accepts them until the loop closes for good. */
int fh__worker_post(fh__worker_t *w, fh_loop_fn fn, void *data, bool while_stopping);
/* Wakes w's loop to look at the server's stop request. */
void fh__worker_wake(fh__worker_t *w);
/* A connection of w opened (+1) or closed (-1): counts, the accept cap, and
 * the end of a stop. */
void fh__worker_conn_count(fh__worker_t *w, int delta);
/* Drops the callbacks posted after the loop stopped. */
void fh__worker_drop_posts(fh__worker_t *w);

#endif
