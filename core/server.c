/* The server: configuration, its workers' threads, starting, stopping and
 * waiting. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/tls.h"
#include "core/metrics.h"
#include "core/restart.h"
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

/* Sets a zero field to its default. */
#define FH__DEFAULT(field, value)                                                                  \
    do {                                                                                           \
        if (!(field))                                                                              \
            (field) = (value);                                                                     \
    } while (0)

/* Fills zero fields with their defaults (documented in server.h). */
static void apply_defaults(fh_server_config_t *c) {
    fh_limits_t *l = &c->limits;
    FH__DEFAULT(l->max_target, 16384);
    FH__DEFAULT(l->max_header_bytes, 32768);
    FH__DEFAULT(l->max_headers, 100);
    FH__DEFAULT(l->max_body, 8u << 20);
    FH__DEFAULT(l->max_chunk_ext, 4096);
    FH__DEFAULT(l->max_pipelined, 64);
    FH__DEFAULT(l->max_connections, 10000);
    FH__DEFAULT(l->max_discard, 65536);
    FH__DEFAULT(l->max_request_memory, l->max_body <= SIZE_MAX / 16 ? 16 * l->max_body : SIZE_MAX);
    fh_timeouts_t *t = &c->timeouts;
    FH__DEFAULT(t->header_ms, 10000);
    FH__DEFAULT(t->body_ms, 30000);
    FH__DEFAULT(t->keepalive_ms, 60000);
    FH__DEFAULT(t->write_ms, 30000);
    FH__DEFAULT(t->drain_ms, 5000);
    FH__DEFAULT(t->restart_ms, 30000);
    FH__DEFAULT(c->backlog, 1024);
    FH__DEFAULT(c->arena_chunk_size, 16384);
    FH__DEFAULT(c->arena_cache_bytes, 8u << 20);
    FH__DEFAULT(c->server_name, "fasthttp");
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

/* A failure of the system to listen where the config says (the address in
 * use, not this machine's...), with the address: fh_server_config_error
 * gives it for config_sys_err. */
static _Thread_local char config_sys_msg[192];
static _Thread_local int config_sys_err;

static int listen_error(const char *host, int port, int err) {
    bool v6 = host && strchr(host, ':');
    snprintf(config_sys_msg, sizeof(config_sys_msg), "cannot listen on %s%s%s:%d: %s",
             v6 ? "[" : "", host ? host : "* (every interface)", v6 ? "]" : "", port,
             fh_strerror(err));
    config_sys_err = err;
    return err;
}

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
    int handshake_ms = (int)cfg->tls.handshake_ms, rotate_s = (int)cfg->tls.ticket_rotate_s;
    int cache_size = (int)cfg->tls.session_cache_size;
    if (!err)
        err = env_number("TLS_HANDSHAKE_MS", 3600000, &handshake_ms);
    if (!err)
        err = env_number("TLS_TICKET_ROTATE_S", 604800, &rotate_s);
    if (!err)
        err = env_number("TLS_SESSION_CACHE_SIZE", 16777216, &cache_size);
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
    const char *cert = getenv("TLS_CERT"), *key = getenv("TLS_KEY");
    const char *ca = getenv("TLS_CLIENT_CA"), *verify = getenv("TLS_VERIFY_CLIENT");
    const char *ocsp = getenv("TLS_OCSP"), *ticket_key = getenv("TLS_TICKET_KEY");
    if ((cert && *cert) != (key && *key))
        return fh__config_refuse("environment variable %s: set without %s (a certificate "
                                 "needs its key)",
                                 cert && *cert ? "TLS_CERT" : "TLS_KEY",
                                 cert && *cert ? "TLS_KEY" : "TLS_CERT");
    fh_tls_verify_t vc = cfg->tls.verify_client;
    if (verify) {
        if (strcmp(verify, "none") == 0 || !*verify) {
            vc = FH_TLS_VERIFY_NONE;
        } else if (strcmp(verify, "optional") == 0) {
            vc = FH_TLS_VERIFY_OPTIONAL;
        } else if (strcmp(verify, "required") == 0) {
            vc = FH_TLS_VERIFY_REQUIRED;
        } else {
            char q[64];
            fh__config_quote(q, sizeof(q), verify);
            return fh__config_refuse("environment variable TLS_VERIFY_CLIENT: %s is not "
                                     "\"none\", \"optional\" or \"required\"",
                                     q);
        }
    }
    if (cert && *cert) {
        cfg->tls.cert_file = cert;
        cfg->tls.key_file = key;
    }
    if (ca && *ca)
        cfg->tls.client_ca_file = ca;
    if (ocsp && *ocsp)
        cfg->tls.ocsp_file = ocsp;
    if (ticket_key && *ticket_key)
        cfg->tls.ticket_key_file = ticket_key;
    cfg->tls.verify_client = vc;
    cfg->tls.handshake_ms = (uint32_t)handshake_ms;
    cfg->tls.ticket_rotate_s = (uint32_t)rotate_s;
    cfg->tls.session_cache_size = (uint32_t)cache_size;
    cfg->port = port;
    cfg->threads = threads;
    if (host)
        cfg->host = host[0] == '\0' || strcmp(host, "*") == 0 ? NULL : host;
    return 0;
}

const char *fh_server_config_error(const fh_server_config_t *cfg, int err) {
    (void)cfg;
    if (err != FH_ECONFIG && err == config_sys_err)
        snprintf(config_msg, sizeof(config_msg), "fasthttp: %s", config_sys_msg);
    else if (err == FH_ECONFIG && config_field && config_why == config_own)
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

/* Splits a config.listen entry: "unix:PATH" sets *path; otherwise host
 * (copied into host, cap bytes) and *port. Returns NULL, or why the entry
 * is refused. */
static const char *listen_parse(const char *v, char *host, size_t cap, int *port,
                                const char **path) {
    *path = NULL;
    if (strncmp(v, "unix:", 5) == 0) {
        if (!v[5])
            return "has no path after \"unix:\"";
        if (strlen(v + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return "is a Unix socket path longer than 107 bytes";
        *path = v + 5;
        return NULL;
    }
    const char *colon, *h = v;
    size_t hlen;
    if (v[0] == '[') {
        const char *close = strchr(v, ']');
        if (!close || close[1] != ':')
            return "is not \"[IPV6]:PORT\"";
        h = v + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(v, ':');
        if (!colon || memchr(v, ':', (size_t)(colon - v)))
            return "is not \"HOST:PORT\", \"[IPV6]:PORT\" or \"unix:PATH\"";
        hlen = (size_t)(colon - v);
    }
    if (hlen == 0 || hlen >= cap)
        return "has no address before the port";
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    if ((v[0] == '[') != (strchr(host, ':') != NULL) || !fh__config_host_ok(host))
        return "is not an IPv4 or [IPv6] address (or \"localhost\") and a port";
    const char *d = colon + 1;
    if (!*d || strlen(d) > 5 || strspn(d, "0123456789") != strlen(d) || atoi(d) > 65535)
        return "has no port 0..65535";
    *port = atoi(d);
    return NULL;
}

static int validate(const fh_server_config_t *c) {
    if (!c->tls.cert_file && (c->tls.key_file || c->tls.client_ca_file || c->tls.ncerts ||
                              c->tls.ocsp_file || c->tls.ticket_key_file))
        return config_error("tls.cert_file", "required with the other TLS settings");
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
    if (c->unix_mode > 0777)
        return config_error("unix_mode", "must be a file mode, at most 0777");
    for (int i = 0; c->listen && c->listen[i]; i++) {
        char q[64], host[64];
        int port;
        const char *path, *why;
        if (i == FH__LISTENERS_MAX)
            return config_error("listen", "has more than 8 addresses");
        fh__config_quote(q, sizeof(q), c->listen[i]);
        if ((why = listen_parse(c->listen[i], host, sizeof(host), &port, &path)))
            return fh__config_refuse("config.listen[%d]: %s %s", i, q, why);
    }
    if (c->listen && !c->listen[0])
        return config_error("listen", "is empty (NULL: host and port)");
    if (c->host && !fh__config_host_ok(c->host)) {
        char q[64];
        fh__config_quote(q, sizeof(q), c->host);
        return fh__config_refuse("config.host: %s is not an IPv4 or IPv6 address (or "
                                 "\"localhost\")",
                                 q);
    }
    return 0;
}

/* Frees a server that is not running, whatever part of it was made. */
static void server_release(fh_server_t *s) {
    if (s->port_lock >= 0)
        close(s->port_lock);
    /* After a restart the new generation serves the Unix sockets: their
     * files stay. */
    bool keep_files = atomic_load(&s->handed_over);
    for (int j = 0; j < s->nlisten; j++) {
        if (s->listen_lock[j] >= 0)
            close(s->listen_lock[j]);
        if (s->listen_unix[j] && !keep_files)
            unlink(s->listen_unix[j]);
        free(s->listen_unix[j]);
    }
    for (int j = 0; j < FH__LISTENERS_MAX; j++) {
        for (int k = 0; k < s->socks[j].n; k++)
            if (s->socks[j].fd[k] >= 0)
                close(s->socks[j].fd[k]);
        free(s->socks[j].fd);
    }
    fh__inherit_free(s->inherit);
    if (s->ready_fd >= 0)
        close(s->ready_fd);
    if (s->metrics)
        fh__metrics_detach(s->metrics);
    /* Every worker has stopped, so every offload has returned: nothing holds
     * a handle of these pools any more. */
    fh__pools_free(s->pools);
    if (s->workers) {
        for (int i = 0; i < s->nworkers; i++)
            fh__worker_free(&s->workers[i]);
        free(s->workers);
    }
    pthread_mutex_destroy(&s->run_lock);
    pthread_mutex_destroy(&s->handover_lock);
    free(s->restart_path);
    fh__tls_free(s->tls);
    free(s->host);
    free(s->server_name);
    free(s->server_line);
    free(s);
}

/* The server's own copies of the config's strings, and its Server line. */
static int server_strings(fh_server_t *s, const fh_server_config_t *c) {
    if (c->host && !(s->host = strdup(c->host)))
        return FH_ENOMEM;
    s->cfg.host = s->host;
    s->server_name = strdup(c->server_name);
    if (!s->server_name)
        return FH_ENOMEM;
    s->cfg.server_name = s->server_name;
    if (c->restart_path && !(s->restart_path = strdup(c->restart_path)))
        return FH_ENOMEM;
    s->cfg.restart_path = s->restart_path;
    if (!*s->server_name) {
        s->server_line = strdup("");
        return s->server_line ? 0 : FH_ENOMEM;
    }
    size_t n = strlen(s->server_name) + 10;
    s->server_line = malloc(n + 1);
    if (!s->server_line)
        return FH_ENOMEM;
    snprintf(s->server_line, n + 1, "Server: %s\r\n", s->server_name);
    s->server_line_len = n;
    return 0;
}

/* Room for entry j's sockets: one per worker, or every handed-over one. */
static int socks_alloc(fh_server_t *s, int j) {
    int n = fh__inherit_count(s->inherit);
    if (n < s->nworkers)
        n = s->nworkers;
    s->socks[j].fd = malloc(sizeof(int) * (size_t)n);
    return s->socks[j].fd ? 0 : FH_ENOMEM;
}

/* Entry 0: the socket systemd passed, or the ones a parent that had it
 * handed over. */
static int listen_activated(fh_server_t *s, int activated) {
    s->nlisten = 1;
    s->activated = true;
    int err = socks_alloc(s, 0);
    if (err) {
        if (activated >= 0)
            close(activated);
        return err;
    }
    if (activated >= 0) {
        s->socks[0].fd[s->socks[0].n++] = activated;
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        getsockname(activated, (struct sockaddr *)&ss, &slen);
        s->listen_port[0] = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                           : ((struct sockaddr_in *)&ss)->sin_port);
    } else {
        s->socks[0].n = fh__inherit_take_all(s->inherit, s->socks[0].fd, &s->listen_port[0]);
    }
    return 0;
}

/* The port's claim for entry j: the one a parent handed over (taken again
 * in this server's mode), or a new one. */
static int claim(fh_server_t *s, int j, const char *host) {
    int port = s->listen_port[j];
    int lock = fh__inherit_take_lock(s->inherit, port);
    if (lock >= 0 && flock(lock, (s->cfg.share_port ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        close(lock);
        return listen_error(host, port, FH_EADDRINUSE);
    }
    if (lock < 0)
        lock = fh__listener_claim_port(port, s->cfg.share_port);
    if (lock < 0 && lock != FH_ENOENT)
        return listen_error(host, port, lock);
    s->listen_lock[j] = lock;
    return 0;
}

/* Entry j on TCP: the sockets a parent handed over for host and port, or
 * one SO_REUSEPORT socket per worker on host and port, the others on the
 * first one's (maybe ephemeral) port; and the port's claim: a second
 * server on it, here or in another process, is refused instead of sharing
 * it, unless both say share_port. */
static int listen_tcp(fh_server_t *s, int j, const char *host, int port) {
    int err = socks_alloc(s, j);
    if (err)
        return err;
    s->socks[j].n =
        fh__inherit_take_tcp(s->inherit, host, port, s->socks[j].fd, &s->listen_port[j]);
    if (s->socks[j].n > 0)
        return claim(s, j, host);
    for (int i = 0; i < s->nworkers; i++) {
        const char *why = NULL;
        int fd;
        err = fh__listener_bind(host, port, s->cfg.backlog, &fd, &s->listen_port[j], &why);
        if (err == FH_ECONFIG)
            return config_error("host", why);
        if (err)
            return listen_error(host, port, err);
        s->socks[j].fd[s->socks[j].n++] = fd;
        if (i == 0 && (err = claim(s, j, host)))
            return err;
        port = s->listen_port[j];
    }
    return 0;
}

/* Entry j on a Unix-domain socket: the one a parent handed over, or a new
 * one; the workers share it. */
static int listen_unix(fh_server_t *s, int j, const char *path) {
    int err = socks_alloc(s, j);
    if (err)
        return err;
    s->listen_port[j] = 0;
    s->socks[j].n = fh__inherit_take_unix(s->inherit, path, s->socks[j].fd);
    if (s->socks[j].n == 0) {
        int fd = -1;
        unsigned mode = s->cfg.unix_mode ? s->cfg.unix_mode : 0660;
        err = fh__listener_bind_unix(path, mode, s->cfg.backlog, &fd);
        if (err) {
            snprintf(config_sys_msg, sizeof(config_sys_msg), "cannot listen on unix:%s: %s", path,
                     fh_strerror(err));
            config_sys_err = err;
            return err;
        }
        s->socks[j].fd[s->socks[j].n++] = fd;
    }
    s->listen_unix[j] = strdup(path);
    return s->listen_unix[j] ? 0 : FH_ENOMEM;
}

/* Deals each entry's sockets to the workers: with as many sockets as
 * workers or more, worker i takes sockets i, i + workers, ... (every
 * socket is accepted from, none left with its queue unread); with fewer,
 * worker i takes socket i % n, a dup past the first holder. */
static int listen_deal(fh_server_t *s) {
    int W = s->nworkers, orig[FH__LISTENERS_MAX];
    for (int j = 0; j < s->nlisten; j++) {
        /* Fewer sockets than workers: dups for the others, made first. */
        int n = orig[j] = s->socks[j].n;
        for (int k = n; k < W; k++) {
            int d = fcntl(s->socks[j].fd[k % n], F_DUPFD_CLOEXEC, 3);
            if (d < 0)
                return uv_translate_sys_error(errno);
            s->socks[j].fd[s->socks[j].n++] = d;
        }
    }
    for (int i = 0; i < W; i++) {
        int count = 0;
        for (int j = 0; j < s->nlisten; j++)
            count += (s->socks[j].n - i + W - 1) / W;
        s->workers[i].listeners = calloc((size_t)count, sizeof(fh__listener_t));
        if (!s->workers[i].listeners)
            return FH_ENOMEM;
    }
    for (int j = 0; j < s->nlisten; j++) {
        for (int k = 0; k < s->socks[j].n; k++) {
            fh__worker_t *w = &s->workers[k % W];
            fh__listener_t *l = &w->listeners[w->nlisteners++];
            l->fd = s->socks[j].fd[k];
            l->entry = j;
            l->dup = k >= orig[j];
            s->socks[j].fd[k] = -1;
        }
        s->socks[j].n = 0;
    }
    return 0;
}

int fh_server_new(fh_server_t **out, const fh_server_config_t *cfg) {
    config_field = NULL;
    config_sys_err = 0;
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
    s->port_lock = -1;
    s->ready_fd = -1;
    pthread_mutex_init(&s->handover_lock, NULL);
    s->nworkers = c.threads ? c.threads : (int)uv_available_parallelism();
    if (s->nworkers < 1)
        s->nworkers = 1;
    const char *trace = getenv("FH_TRACE_ARENA");
    s->trace_arena = c.trace_arena || (trace && strcmp(trace, "1") == 0);
    const char *llhttp_only = getenv("FH_H1_LLHTTP_ONLY");
    s->h1_llhttp_only = llhttp_only && strcmp(llhttp_only, "1") == 0;
    const char *via_pool = getenv("FH_SENDFILE_POOL");
    s->sendfile_via_pool = via_pool && strcmp(via_pool, "1") == 0;
    pthread_mutex_init(&s->run_lock, NULL);
    err = server_strings(s, &c);
    if (err)
        goto error;
    s->transport = &fh__transport_tcp;
    if (c.tls.cert_file) {
        err = fh__tls_new(&s->tls, &c.tls);
        if (err)
            goto error;
        s->transport = &fh__transport_tls;
    }
    err = FH_ENOMEM;
    s->workers = calloc((size_t)s->nworkers, sizeof(fh__worker_t));
    if (!s->workers)
        goto error;

    /* A peer death must be an error code, never SIGPIPE (the core's own
     * writes say MSG_NOSIGNAL; user code on taken-over sockets may not). */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);

    for (int j = 0; j < FH__LISTENERS_MAX; j++)
        s->listen_lock[j] = -1;
    for (int i = 0; i < s->nworkers; i++) {
        err = fh__worker_new(&s->workers[i], s, i);
        if (err)
            goto error;
    }
    /* A restart's new generation: the sockets its parent handed over. */
    err = fh__inherit_read(&s->inherit, &s->ready_fd);
    if (err)
        goto error;
    /* Socket activation: the workers share the socket systemd passed (or
     * the parent had). */
    int activated = fh__listener_activated();
    if (activated >= 0 || (fh__inherit_activated(s->inherit) && fh__inherit_count(s->inherit))) {
        err = listen_activated(s, activated);
    } else if (!c.listen) {
        s->nlisten = 1;
        err = listen_tcp(s, 0, s->host, c.port);
    } else {
        for (int j = 0; !err && c.listen[j]; j++) {
            char host[64];
            int port;
            const char *path;
            listen_parse(c.listen[j], host, sizeof(host), &port, &path);
            s->nlisten = j + 1;
            err = path ? listen_unix(s, j, path) : listen_tcp(s, j, host, port);
        }
    }
    if (!err)
        err = listen_deal(s);
    if (err)
        goto error;
    fh__inherit_free(s->inherit); /* what no listener took is closed */
    s->inherit = NULL;
    s->port = s->listen_port[0];
    if (c.metrics) {
        err = fh__metrics_attach(c.metrics, s);
        if (err == FH_ESTATE)
            err = config_error("metrics", "counting for another server already");
        if (err)
            goto error;
        s->metrics = c.metrics;
    }
    *out = s;
    return 0;

error:
    server_release(s);
    return err;
}

int fh_server_port(const fh_server_t *s) { return s->port; }
int fh_server_threads(const fh_server_t *s) { return s->nworkers; }
int fh_server_listen_port(const fh_server_t *s, int i) {
    return i >= 0 && i < s->nlisten ? s->listen_port[i] : FH_EINVAL;
}

static void on_running(void *data) {
    fh__worker_t *w = data;
    fh_server_t *s = w->server;
    if (atomic_fetch_add(&s->nrunning, 1) + 1 == s->nworkers)
        fh__restart_ready(s);
}

int fh_server_start(fh_server_t *s) {
    if (s->started)
        return FH_ESTATE;
    s->started = true;
    for (int i = 0; i < s->nworkers; i++) {
        int err = fh__worker_init(&s->workers[i]);
        if (err) {
            fprintf(stderr, "fasthttp: worker %d: %s\n", i, uv_strerror(err));
            abort(); /* a half-initialized loop cannot be unwound safely */
        }
    }
    for (int i = 0; i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        int err = pthread_create(&w->thread, NULL, fh__worker_main, w);
        if (err) {
            fh_server_stop(s);
            fh_server_wait(s);
            return uv_translate_sys_error(err);
        }
        w->thread_started = true;
    }
    /* Once every loop runs (each takes this post in its first turn), the
     * server accepts: a restart's parent and systemd are told. */
    for (int i = 0; i < s->nworkers; i++)
        if (fh__worker_post(&s->workers[i], on_running, &s->workers[i], false) != 0)
            fprintf(stderr, "fasthttp: worker %d: cannot report that it runs\n", i);
    return 0;
}

void fh_server_stop(fh_server_t *s) {
    atomic_store(&s->stop_requested, true);
    if (!s->started)
        return;
    for (int i = 0; i < s->nworkers; i++)
        fh__worker_wake(&s->workers[i]);
    pthread_mutex_lock(&s->run_lock);
    if (s->run_async)
        uv_async_send(s->run_async);
    pthread_mutex_unlock(&s->run_lock);
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
        fh__worker_drop_posts(w);
    }
    s->joined = true;
    return 0;
}

int fh_server_tls_reload(fh_server_t *s) {
    if (!s || !s->tls)
        return FH_ESTATE;
    config_field = NULL;
    int err = fh__tls_reload(s->tls);
    if (err)
        fprintf(stderr, "fasthttp: TLS reload refused, the certificates in use stay: %s\n",
                fh_server_config_error(&s->cfg, err) + strlen("fasthttp: "));
    return err;
}

static void on_run_wake(uv_async_t *a) { uv_stop(a->loop); }

static void on_sighup(uv_signal_t *sig, int signum) {
    (void)signum;
    fh_server_tls_reload(sig->data);
}
static void (*_Atomic reopen_fn)(void);

void fh__server_on_reopen(void (*fn)(void)) { atomic_store(&reopen_fn, fn); }

static void *restart_main(void *arg) {
    fh_server_t *s = arg;
    fh__restart_run(s);
    atomic_store(&s->restarting, false);
    return NULL;
}

/* SIGUSR2: a restart on a thread of its own, so that this loop still
 * takes SIGTERM meanwhile; one at a time. */
static void on_sigusr2(uv_signal_t *sig, int signum) {
    (void)signum;
    fh_server_t *s = sig->data;
    if (atomic_exchange(&s->restarting, true)) {
        fprintf(stderr, "fasthttp: SIGUSR2 ignored: a restart is already under way\n");
        return;
    }
    if (s->restart_thread_started)
        pthread_join(s->restart_thread, NULL); /* the previous one, ended */
    s->restart_thread_started = pthread_create(&s->restart_thread, NULL, restart_main, s) == 0;
    if (!s->restart_thread_started) {
        fprintf(stderr, "fasthttp: SIGUSR2: cannot start the restart's thread\n");
        atomic_store(&s->restarting, false);
    }
}

static void on_signal(uv_signal_t *sig, int signum) {
    if (signum == SIGUSR1) {
        void (*fn)(void) = atomic_load(&reopen_fn);
        if (fn)
            fn();
        return;
    }
    uv_stop(sig->loop);
}

int fh_server_run(fh_server_t *s) {
    if (s->started)
        return FH_ESTATE;
    uv_loop_t loop;
    uv_async_t wake;
    uv_signal_t sigint, sigterm, sighup, sigusr1, sigusr2;
    bool hup = s->cfg.handle_signals && s->tls;
    int err = uv_loop_init(&loop);
    if (err)
        return err;
    uv_async_init(&loop, &wake, on_run_wake);
    if (s->cfg.handle_signals) {
        uv_signal_init(&loop, &sigint);
        uv_signal_init(&loop, &sigterm);
        uv_signal_start(&sigint, on_signal, SIGINT);
        uv_signal_start(&sigterm, on_signal, SIGTERM);
        uv_signal_init(&loop, &sigusr1);
        uv_signal_start(&sigusr1, on_signal, SIGUSR1); /* reopen log files */
        uv_signal_init(&loop, &sigusr2);
        sigusr2.data = s;
        uv_signal_start(&sigusr2, on_sigusr2, SIGUSR2); /* zero-downtime restart */
    }
    if (hup) {
        uv_signal_init(&loop, &sighup);
        sighup.data = s;
        uv_signal_start(&sighup, on_sighup, SIGHUP);
    }
    /* The signals are caught before the server accepts: a restart's parent
     * may send the next SIGUSR2 or SIGTERM as soon as it is told that this
     * generation is ready. */
    err = fh_server_start(s);
    pthread_mutex_lock(&s->run_lock);
    s->run_async = &wake;
    bool already = atomic_load(&s->stop_requested);
    pthread_mutex_unlock(&s->run_lock);
    if (!already && !err)
        uv_run(&loop, UV_RUN_DEFAULT);
    pthread_mutex_lock(&s->run_lock);
    s->run_async = NULL;
    pthread_mutex_unlock(&s->run_lock);
    fh_server_stop(s);
    uv_close((uv_handle_t *)&wake, NULL);
    if (s->cfg.handle_signals) {
        uv_close((uv_handle_t *)&sigint, NULL);
        uv_close((uv_handle_t *)&sigterm, NULL);
        uv_close((uv_handle_t *)&sigusr1, NULL);
        uv_close((uv_handle_t *)&sigusr2, NULL);
    }
    if (hup)
        uv_close((uv_handle_t *)&sighup, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (s->restart_thread_started) {
        pthread_join(s->restart_thread, NULL);
        s->restart_thread_started = false;
    }
    int werr = fh_server_wait(s);
    return err ? err : werr;
}

void fh_server_free(fh_server_t *s) {
    if (!s)
        return;
    if (s->started && !s->joined) {
        fh_server_stop(s);
        fh_server_wait(s);
    }
    server_release(s);
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
        out->file_steps_loop += FH__COUNT_GET(w->stats.file_steps_loop);
        out->file_steps_pool += FH__COUNT_GET(w->stats.file_steps_pool);
    }
    out->connections_open = atomic_load_explicit(&s->nconns, memory_order_relaxed);
}
