/* The server: configuration, listening sockets, worker threads, stopping. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/worker.h"

fh_server_config_t fh_server_config_default(void) {
    fh_server_config_t c;
    memset(&c, 0, sizeof(c));
    c.port = 0;
    c.backlog = 1024;
    c.server_name = "fasthttp";
    c.handle_signals = true;
    return c;
}

int fh_error_keep(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)res;
    (void)data;
    return 0;
}

/* Fills zero fields with their defaults. */
static void apply_defaults(fh_server_config_t *c) {
    fh_limits_t *l = &c->limits;
    if (!l->max_target)
        l->max_target = 16384;
    if (!l->max_header_bytes)
        l->max_header_bytes = 32768;
    if (!l->max_headers)
        l->max_headers = 100;
    if (!l->max_body)
        l->max_body = 8u << 20;
    if (!l->max_chunk_ext)
        l->max_chunk_ext = 4096;
    if (!l->max_pipelined)
        l->max_pipelined = 64;
    if (!l->max_connections)
        l->max_connections = 10000;
    if (!l->max_discard)
        l->max_discard = 65536;
    fh_timeouts_t *t = &c->timeouts;
    if (!t->header_ms)
        t->header_ms = 10000;
    if (!t->body_ms)
        t->body_ms = 30000;
    if (!t->keepalive_ms)
        t->keepalive_ms = 60000;
    if (!t->write_ms)
        t->write_ms = 30000;
    if (!t->drain_ms)
        t->drain_ms = 5000;
    if (!c->backlog)
        c->backlog = 1024;
    if (!c->arena_chunk_size)
        c->arena_chunk_size = 16384;
    if (!c->arena_cache_bytes)
        c->arena_cache_bytes = 8u << 20;
    if (!c->server_name)
        c->server_name = "fasthttp";
}

static _Thread_local char config_msg[256];
static _Thread_local const char *config_field;
static _Thread_local const char *config_why;
/* An environment variable's refusal: config_why points here, and
 * config_field is then the variable's name. */
static _Thread_local char config_env_why[128];

/* A refusal whose whole text, naming its flag or field and quoting the
 * value, is here (fh__config_refuse): config_why and config_field then
 * point here. */
static _Thread_local char config_own[224];

static int config_error(const char *field, const char *why) {
    config_field = field;
    config_why = why;
    return FH_ECONFIG;
}

int fh__config_refuse(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(config_own, sizeof(config_own), fmt, ap);
    va_end(ap);
    return config_error(config_own, config_own);
}

void fh__config_quote(char *dst, size_t cap, const char *value) {
    snprintf(dst, cap, "\"%.48s%s\"", value, strlen(value) > 48 ? "..." : "");
}

bool fh__config_host_ok(const char *host) {
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    return strcmp(host, "localhost") == 0 || uv_ip6_addr(host, 0, &a6) == 0 ||
           uv_ip4_addr(host, 0, &a4) == 0;
}

/* The environment variable name, when set, as a whole decimal number in
 * 0..max (digits only: no sign, space or suffix) into *out. */
static int env_number(const char *name, long max, int *out) {
    const char *s = getenv(name);
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : -1;
    if (v < 0 || errno || *end || v > max) {
        snprintf(config_env_why, sizeof(config_env_why),
                 "\"%.48s%s\" is not a whole number in 0..%ld", s, strlen(s) > 48 ? "..." : "",
                 max);
        return config_error(name, config_env_why);
    }
    *out = (int)v;
    return 0;
}

int fh_server_config_env(fh_server_config_t *cfg) {
    int port = cfg->port, threads = cfg->threads;
    int err = env_number("PORT", 65535, &port);
    if (!err)
        err = env_number("THREADS", 1024, &threads);
    if (err)
        return err; /* cfg untouched */
    const char *host = getenv("HOST");
    if (host && host[0] != '\0' && strcmp(host, "*") != 0 && !fh__config_host_ok(host)) {
        char q[64];
        fh__config_quote(q, sizeof(q), host);
        return fh__config_refuse("environment variable HOST: %s is not an IPv4 or IPv6 address "
                                 "(or \"localhost\"; \"\" or \"*\" for every interface)",
                                 q);
    }
    cfg->port = port;
    cfg->threads = threads;
    if (host)
        cfg->host = host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host;
    return 0;
}

const char *fh_server_config_error(const fh_server_config_t *cfg, int err) {
    (void)cfg;
    if (err == FH_ECONFIG && config_field && config_why == config_own)
        snprintf(config_msg, sizeof(config_msg), "fasthttp: %s", config_own);
    else if (err == FH_ECONFIG && config_field && config_why == config_env_why)
        snprintf(config_msg, sizeof(config_msg), "fasthttp: environment variable %s: %s",
                 config_field, config_why);
    else if (err == FH_ECONFIG && config_field)
        snprintf(config_msg, sizeof(config_msg), "fasthttp: config.%s: %s", config_field,
                 config_why);
    else
        snprintf(config_msg, sizeof(config_msg), "fasthttp: %s", fh_strerror(err));
    return config_msg;
}

static int validate(const fh_server_config_t *c) {
    if (!c->handler)
        return config_error("handler", "required (a function answering requests)");
    if (c->port < 0 || c->port > 65535)
        return config_error("port", "must be 0..65535");
    if (c->threads < 0 || c->threads > 1024)
        return config_error("threads", "must be 0 (one per CPU) .. 1024");
    if (c->backlog < 0)
        return config_error("backlog", "must not be negative");
    if (c->limits.max_target < 16)
        return config_error("limits.max_target", "must be at least 16 bytes");
    if (c->limits.max_header_bytes < 256)
        return config_error("limits.max_header_bytes", "must be at least 256 bytes");
    if (c->limits.max_header_bytes < c->limits.max_target)
        return config_error("limits.max_header_bytes", "must be at least limits.max_target");
    if (c->limits.max_pipelined > 4096)
        return config_error("limits.max_pipelined", "must be at most 4096");
    if (c->arena_chunk_size < 4096 || c->arena_chunk_size > (64u << 20))
        return config_error("arena_chunk_size", "must be 4 KiB .. 64 MiB");
    if (c->server_name && strpbrk(c->server_name, "\r\n"))
        return config_error("server_name", "must not contain CR or LF");
    if (c->host && !fh__config_host_ok(c->host)) {
        char q[64];
        fh__config_quote(q, sizeof(q), c->host);
        return fh__config_refuse("config.host: %s is not an IPv4 or IPv6 address (or "
                                 "\"localhost\")",
                                 q);
    }
    return 0;
}

/* Makes a bound, listening, non-blocking socket with SO_REUSEPORT. */
static int make_listener(const char *host, int port, int backlog, uv_os_sock_t *out, int *bound) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    bool dual = false;
    if (!host) {
        host = "::";
        dual = true;
    } else if (strcmp(host, "localhost") == 0) {
        host = "127.0.0.1";
    }
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0 &&
        uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0)
        return config_error("host", "not an IPv4 or IPv6 address (or \"localhost\")");
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && dual && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&ss);
        dual = false;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0)
        return uv_translate_sys_error(errno);
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
#ifdef SO_REUSEPORT
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
#endif
    if (dual)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    socklen_t slen =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (bind(fd, (struct sockaddr *)&ss, slen) != 0 || listen(fd, backlog) != 0) {
        int err = uv_translate_sys_error(errno);
        close(fd);
        return err;
    }
    struct sockaddr_storage got;
    socklen_t glen = sizeof(got);
    getsockname(fd, (struct sockaddr *)&got, &glen);
    *bound = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
                                             : ((struct sockaddr_in *)&got)->sin_port);
    *out = fd;
    return 0;
}

static void worker_cleanup_memory(fh__worker_t *w) {
    fh__worker_free_parsers(w);
    fh_arena_cache_free(w->arena_cache);
    w->arena_cache = NULL;
    free(w->loop_buf);
    w->loop_buf = NULL;
    pthread_mutex_destroy(&w->post_lock);
}

int fh_server_new(fh_server_t **out, const fh_server_config_t *cfg) {
    config_field = NULL;
    if (!out || !cfg)
        return FH_EINVAL;
    fh_server_config_t c = *cfg;
    apply_defaults(&c);
    int err = validate(&c);
    if (err)
        return err;
    fh_server_t *s = calloc(1, sizeof(*s));
    if (!s)
        return FH_ENOMEM;
    s->cfg = c;
    s->nworkers = c.threads ? c.threads : (int)uv_available_parallelism();
    if (s->nworkers < 1)
        s->nworkers = 1;
    const char *trace = getenv("FH_TRACE_ARENA");
    s->trace_arena = c.trace_arena || (trace && strcmp(trace, "1") == 0);
    pthread_mutex_init(&s->run_lock, NULL);
    err = FH_ENOMEM;
    if (c.host && !(s->host = strdup(c.host)))
        goto error;
    s->cfg.host = s->host;
    s->server_name = strdup(c.server_name);
    if (!s->server_name)
        goto error;
    s->cfg.server_name = s->server_name;
    if (*s->server_name) {
        size_t n = strlen(s->server_name) + 10;
        s->server_line = malloc(n + 1);
        if (!s->server_line)
            goto error;
        snprintf(s->server_line, n + 1, "Server: %s\r\n", s->server_name);
        s->server_line_len = n;
    } else {
        s->server_line = strdup("");
        if (!s->server_line)
            goto error;
    }
    s->workers = calloc((size_t)s->nworkers, sizeof(fh__worker_t));
    if (!s->workers)
        goto error;
    for (int i = 0; i < s->nworkers; i++)
        s->workers[i].listen_fd = -1;

    /* A peer death must be an error code, never SIGPIPE. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    int port = c.port;
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        w->server = s;
        w->index = i;
        pthread_mutex_init(&w->post_lock, NULL);
        err = make_listener(s->host, port, c.backlog, &w->listen_fd, &s->port);
        if (err)
            goto error;
        port = s->port; /* the others share the first one's (maybe ephemeral) port */
        err = fh_arena_cache_new(&w->arena_cache, c.arena_chunk_size, c.arena_cache_bytes);
        if (err)
            goto error;
        w->loop_buf = malloc(FH__LOOP_BUF_SIZE);
        if (!w->loop_buf) {
            err = FH_ENOMEM;
            goto error;
        }
    }
    *out = s;
    return 0;

error:
    if (s->workers) {
        for (int i = 0; i < s->nworkers; i++) {
            fh__worker_t *w = &s->workers[i];
            if (w->listen_fd >= 0)
                close(w->listen_fd);
            if (w->server)
                worker_cleanup_memory(w);
        }
        free(s->workers);
    }
    pthread_mutex_destroy(&s->run_lock);
    free(s->host);
    free(s->server_name);
    free(s->server_line);
    free(s);
    return err;
}

int fh_server_port(const fh_server_t *s) { return s->port; }
int fh_server_threads(const fh_server_t *s) { return s->nworkers; }

/* ------------------------------------------------------------ worker loop */

static void on_handle_closed(uv_handle_t *h) { (void)h; }

static void worker_maybe_finish(fh__worker_t *w) {
    if (!w->stopping || w->nconns > 0 || w->listener_open)
        return;
    if (!uv_is_closing((uv_handle_t *)&w->tick)) {
        uv_close((uv_handle_t *)&w->tick, on_handle_closed);
        uv_close((uv_handle_t *)&w->drain, on_handle_closed);
        pthread_mutex_lock(&w->post_lock);
        w->wakeup_closed = true;
        uv_close((uv_handle_t *)&w->wakeup, on_handle_closed);
        pthread_mutex_unlock(&w->post_lock);
    }
}

static void on_listener_closed(uv_handle_t *h) {
    fh__worker_t *w = h->data;
    w->listener_open = false;
    close(w->listen_fd); /* a uv_poll_t leaves its descriptor open */
    w->listen_fd = -1;
    worker_maybe_finish(w);
}

static void on_tick(uv_timer_t *t) {
    fh__worker_t *w = t->data;
    fh__date_update(&w->date, time(NULL));
    fh__conn_sweep(w);
    fh__worker_try_resume_accept(w);
    worker_maybe_finish(w);
}

static void on_drain_timeout(uv_timer_t *t) {
    fh__worker_t *w = t->data;
    fh__worker_stop_conns(w, true);
    worker_maybe_finish(w);
}

static void worker_begin_stop(fh__worker_t *w) {
    if (w->stopping)
        return;
    w->stopping = true;
    if (w->listener_open && !uv_is_closing((uv_handle_t *)&w->listener))
        uv_close((uv_handle_t *)&w->listener, on_listener_closed);
    uv_timer_start(&w->drain, on_drain_timeout, w->server->cfg.timeouts.drain_ms, 0);
    fh__takeover_close_all(w);
    fh__worker_stop_conns(w, false);
    worker_maybe_finish(w);
}

static void on_wakeup(uv_async_t *a) {
    fh__worker_t *w = a->data;
    pthread_mutex_lock(&w->post_lock);
    fh__post_t *list = w->posts;
    w->posts = NULL;
    pthread_mutex_unlock(&w->post_lock);
    /* Run posted callbacks in the order they were posted. */
    fh__post_t *rev = NULL;
    while (list) {
        fh__post_t *next = list->next;
        list->next = rev;
        rev = list;
        list = next;
    }
    while (rev) {
        fh__post_t *next = rev->next;
        rev->fn(rev->data);
        free(rev);
        rev = next;
    }
    if (atomic_load(&w->server->stop_requested))
        worker_begin_stop(w);
}

static void close_leftover(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void *worker_main(void *arg) {
    fh__worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    /* Close whatever user code left open on this loop, then the loop. */
    uv_walk(&w->loop, close_leftover, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    return NULL;
}

static uint64_t tick_interval(const fh_timeouts_t *t) {
    uint32_t m = t->header_ms;
    if (t->body_ms < m)
        m = t->body_ms;
    if (t->keepalive_ms < m)
        m = t->keepalive_ms;
    if (t->write_ms < m)
        m = t->write_ms;
    uint64_t iv = m / 4;
    if (iv < 10)
        iv = 10;
    if (iv > 1000)
        iv = 1000;
    return iv;
}

static int worker_init(fh__worker_t *w) {
    int err = uv_loop_init(&w->loop);
    if (err)
        return err;
    w->loop.data = w;
    err = uv_poll_init_socket(&w->loop, &w->listener, w->listen_fd);
    if (err)
        return err;
    w->listener.data = w;
    w->listener_open = true; /* listen_fd is closed with the handle */
    err = uv_poll_start(&w->listener, UV_READABLE, fh__conn_on_listen);
    if (err)
        return err;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_init(&w->loop, &w->drain);
    w->drain.data = w;
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    fh__date_update(&w->date, time(NULL));
    uint64_t iv = tick_interval(&w->server->cfg.timeouts);
    uv_timer_start(&w->tick, on_tick, iv, iv);
    return 0;
}

int fh_server_start(fh_server_t *s) {
    if (s->started)
        return FH_ESTATE;
    s->started = true;
    for (int i = 0; i < s->nworkers; i++) {
        int err = worker_init(&s->workers[i]);
        if (err) {
            fprintf(stderr, "fasthttp: worker %d: %s\n", i, uv_strerror(err));
            abort(); /* a half-initialized loop cannot be unwound safely */
        }
    }
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        int err = pthread_create(&w->thread, NULL, worker_main, w);
        if (err) {
            fh_server_stop(s);
            fh_server_wait(s);
            return uv_translate_sys_error(err);
        }
        w->thread_started = true;
    }
    return 0;
}

void fh_server_stop(fh_server_t *s) {
    atomic_store(&s->stop_requested, true);
    if (!s->started)
        return;
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        pthread_mutex_lock(&w->post_lock);
        if (!w->wakeup_closed)
            uv_async_send(&w->wakeup);
        pthread_mutex_unlock(&w->post_lock);
    }
    pthread_mutex_lock(&s->run_lock);
    if (s->run_async)
        uv_async_send(s->run_async);
    pthread_mutex_unlock(&s->run_lock);
}

int fh__worker_post(fh__worker_t *w, fh_loop_fn fn, void *data, bool while_stopping) {
    fh_server_t *s = w->server;
    fh__post_t *p = malloc(sizeof(*p));
    if (!p)
        return FH_ENOMEM;
    p->fn = fn;
    p->data = data;
    pthread_mutex_lock(&w->post_lock);
    if (!s->started || w->wakeup_closed || (!while_stopping && atomic_load(&s->stop_requested))) {
        pthread_mutex_unlock(&w->post_lock);
        free(p);
        return FH_ESTATE;
    }
    p->next = w->posts;
    w->posts = p;
    uv_async_send(&w->wakeup);
    pthread_mutex_unlock(&w->post_lock);
    return 0;
}

int fh_server_post(fh_server_t *s, int worker, fh_loop_fn fn, void *data) {
    if (worker < 0 || worker >= s->nworkers || !fn)
        return FH_EINVAL;
    return fh__worker_post(&s->workers[worker], fn, data, false);
}

int fh_server_wait(fh_server_t *s) {
    if (!s->started || s->joined)
        return 0;
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        if (w->thread_started)
            pthread_join(w->thread, NULL);
        /* Callbacks posted after the loop stopped are dropped. */
        fh__post_t *p = w->posts;
        while (p) {
            fh__post_t *next = p->next;
            free(p);
            p = next;
        }
        w->posts = NULL;
    }
    s->joined = true;
    return 0;
}

static void on_run_wake(uv_async_t *a) { uv_stop(a->loop); }

static void on_signal(uv_signal_t *sig, int signum) {
    (void)signum;
    uv_stop(sig->loop);
}

int fh_server_run(fh_server_t *s) {
    int err = fh_server_start(s);
    if (err)
        return err;
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t sigint, sigterm;
    err = uv_loop_init(&loop);
    if (err) {
        fh_server_stop(s);
        fh_server_wait(s);
        return err;
    }
    uv_async_init(&loop, &wake, on_run_wake);
    if (s->cfg.handle_signals) {
        uv_signal_init(&loop, &sigint);
        uv_signal_init(&loop, &sigterm);
        uv_signal_start(&sigint, on_signal, SIGINT);
        uv_signal_start(&sigterm, on_signal, SIGTERM);
    }
    pthread_mutex_lock(&s->run_lock);
    s->run_async = &wake;
    bool already = atomic_load(&s->stop_requested);
    pthread_mutex_unlock(&s->run_lock);
    if (!already)
        uv_run(&loop, UV_RUN_DEFAULT);
    pthread_mutex_lock(&s->run_lock);
    s->run_async = NULL;
    pthread_mutex_unlock(&s->run_lock);
    fh_server_stop(s);
    uv_close((uv_handle_t *)&wake, NULL);
    if (s->cfg.handle_signals) {
        uv_close((uv_handle_t *)&sigint, NULL);
        uv_close((uv_handle_t *)&sigterm, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return fh_server_wait(s);
}

void fh_server_free(fh_server_t *s) {
    if (!s)
        return;
    if (s->started && !s->joined) {
        fh_server_stop(s);
        fh_server_wait(s);
    }
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        if (w->listen_fd >= 0)
            close(w->listen_fd);
        worker_cleanup_memory(w);
    }
    free(s->workers);
    pthread_mutex_destroy(&s->run_lock);
    free(s->host);
    free(s->server_name);
    free(s->server_line);
    free(s);
}

void fh_server_stats(const fh_server_t *s, fh_server_stats_t *out) {
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        out->connections_accepted += FH__COUNT_GET(w->stats.accepted);
        out->requests += FH__COUNT_GET(w->stats.requests);
        out->errors_4xx += FH__COUNT_GET(w->stats.errors_4xx);
        out->errors_5xx += FH__COUNT_GET(w->stats.errors_5xx);
        out->timeouts += FH__COUNT_GET(w->stats.timeouts);
        out->writes += FH__COUNT_GET(w->stats.writes);
        out->conn_buffers += FH__COUNT_GET(w->stats.conn_buffers);
    }
    out->connections_open = atomic_load_explicit(&s->nconns, memory_order_relaxed);
}
