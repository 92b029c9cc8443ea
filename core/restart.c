/* The zero-downtime restart: the parent's side (fh_server_restart) and
 * the child's (what fh_server_new inherits). See restart.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/notify.h"
#include "core/restart.h"
#include "core/worker.h"

extern char **environ;

/* More sockets than this in FASTHTTP_LISTEN_FDS is a malformed variable:
 * 1024 workers times 8 entries. */
enum { INHERIT_MAX = 8192 };

typedef struct inherited {
    int fd; /* -1 once taken */
    struct sockaddr_storage addr;
} inherited_t;

struct fh__inherit {
    inherited_t *socks;
    int n;
    int lock_port[FH__LISTENERS_MAX];
    int lock_fd[FH__LISTENERS_MAX]; /* -1 once taken */
    int nlocks;
    bool activated;
};

/* ------------------------------------------------------------ the child */

/* A whole decimal number 0..max, or -1. */
static long env_long(const char *s, long max) {
    if (!s || s[0] < '0' || s[0] > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno || *end || v > max ? -1 : v;
}

static void inherit_unset(void) {
    unsetenv("FASTHTTP_LISTEN_PID");
    unsetenv("FASTHTTP_LISTEN_FDS");
    unsetenv("FASTHTTP_LISTEN_LOCKS");
    unsetenv("FASTHTTP_LISTEN_ACTIVATED");
    unsetenv("FASTHTTP_READY_FD");
}

/* "P,Q,..." into in's lock ports; false when malformed. */
static bool parse_locks(fh__inherit_t *in, const char *s) {
    if (!s || !*s)
        return true;
    while (*s) {
        char *end;
        if (*s < '0' || *s > '9' || in->nlocks == FH__LISTENERS_MAX)
            return false;
        long p = strtol(s, &end, 10);
        if (p < 1 || p > 65535 || (*end && *end != ','))
            return false;
        in->lock_port[in->nlocks] = (int)p;
        in->lock_fd[in->nlocks++] = -1;
        s = *end ? end + 1 : end;
    }
    return true;
}

int fh__inherit_read(fh__inherit_t **out, int *ready_fd) {
    *out = NULL;
    *ready_fd = -1;
    long ppid = env_long(getenv("FASTHTTP_LISTEN_PID"), INT_MAX);
    if (ppid < 0 || ppid != (long)getppid()) {
        inherit_unset();
        return 0; /* nothing handed over, or to an ancestor of ours */
    }
    long n = env_long(getenv("FASTHTTP_LISTEN_FDS"), INHERIT_MAX);
    long ready = env_long(getenv("FASTHTTP_READY_FD"), INT_MAX);
    const char *activated = getenv("FASTHTTP_LISTEN_ACTIVATED");
    fh__inherit_t *in = calloc(1, sizeof(*in));
    if (!in || (n > 0 && !(in->socks = calloc((size_t)n, sizeof(*in->socks))))) {
        free(in);
        inherit_unset();
        return FH_ENOMEM;
    }
    in->activated = activated && strcmp(activated, "1") == 0;
    if (n < 0 || !parse_locks(in, getenv("FASTHTTP_LISTEN_LOCKS"))) {
        fprintf(stderr, "fasthttp: FASTHTTP_LISTEN_FDS or FASTHTTP_LISTEN_LOCKS is malformed: "
                        "no socket is taken over\n");
        in->nlocks = 0;
        n = 0;
    }
    for (int i = 0; i < (int)n; i++) {
        int fd = 3 + i, listening = 0;
        struct stat st;
        socklen_t len = sizeof(listening);
        inherited_t *k = &in->socks[in->n];
        socklen_t alen = sizeof(k->addr);
        if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening ||
            getsockname(fd, (struct sockaddr *)&k->addr, &alen) != 0)
            continue; /* not a listening socket: not ours to take */
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        k->fd = fd;
        in->n++;
    }
    for (int i = 0; i < in->nlocks; i++) {
        int fd = 3 + (int)n + i;
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
            in->lock_fd[i] = fd;
    }
    if (ready >= 3 && fcntl((int)ready, F_SETFD, FD_CLOEXEC) == 0)
        *ready_fd = (int)ready;
    inherit_unset();
    *out = in;
    return 0;
}

bool fh__inherit_activated(const fh__inherit_t *in) { return in && in->activated; }
int fh__inherit_count(const fh__inherit_t *in) { return in ? in->n : 0; }

static int addr_port(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

/* Same family and address (the port aside). */
static bool addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return false;
}

/* Same bound address: path, or address and port. */
static bool bound_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family == AF_UNIX && b->ss_family == AF_UNIX)
        return strncmp(((const struct sockaddr_un *)a)->sun_path,
                       ((const struct sockaddr_un *)b)->sun_path,
                       sizeof(((const struct sockaddr_un *)a)->sun_path)) == 0;
    return addr_same(a, b) && addr_port(a) == addr_port(b);
}

/* Takes every socket not taken yet bound where the first one is. */
static int take_like(fh__inherit_t *in, int first, int *fds) {
    int n = 0;
    struct sockaddr_storage want = in->socks[first].addr;
    for (int i = first; i < in->n; i++) {
        inherited_t *k = &in->socks[i];
        if (k->fd >= 0 && bound_same(&k->addr, &want)) {
            fds[n++] = k->fd;
            k->fd = -1;
        }
    }
    return n;
}

int fh__inherit_take_tcp(fh__inherit_t *in, const char *host, int port, int *fds, int *bound) {
    struct sockaddr_storage want, v4any;
    bool dual;
    if (!in || fh__listener_addr(host, port, &want, &dual) != 0)
        return 0;
    memset(&v4any, 0, sizeof(v4any));
    uv_ip4_addr("0.0.0.0", port, (struct sockaddr_in *)&v4any);
    for (int i = 0; i < in->n; i++) {
        inherited_t *k = &in->socks[i];
        if (k->fd < 0 || (k->addr.ss_family != AF_INET && k->addr.ss_family != AF_INET6))
            continue;
        /* Every interface is "::", or "0.0.0.0" where there is no IPv6. */
        bool addr_ok = addr_same(&k->addr, &want) || (dual && addr_same(&k->addr, &v4any));
        if (!addr_ok || (port != 0 && addr_port(&k->addr) != port))
            continue;
        *bound = addr_port(&k->addr);
        return take_like(in, i, fds);
    }
    return 0;
}

int fh__inherit_take_unix(fh__inherit_t *in, const char *path, int *fds) {
    for (int i = 0; in && i < in->n; i++) {
        inherited_t *k = &in->socks[i];
        const struct sockaddr_un *u = (const struct sockaddr_un *)&k->addr;
        if (k->fd >= 0 && k->addr.ss_family == AF_UNIX &&
            strncmp(u->sun_path, path, sizeof(u->sun_path)) == 0)
            return take_like(in, i, fds);
    }
    return 0;
}

int fh__inherit_take_all(fh__inherit_t *in, int *fds, int *bound) {
    int n = 0;
    for (int i = 0; in && i < in->n; i++) {
        if (in->socks[i].fd < 0)
            continue;
        if (n == 0)
            *bound = addr_port(&in->socks[i].addr);
        fds[n++] = in->socks[i].fd;
        in->socks[i].fd = -1;
    }
    return n;
}

int fh__inherit_take_lock(fh__inherit_t *in, int port) {
    for (int i = 0; in && i < in->nlocks; i++) {
        if (in->lock_port[i] == port && in->lock_fd[i] >= 0) {
            int fd = in->lock_fd[i];
            in->lock_fd[i] = -1;
            return fd;
        }
    }
    return -1;
}

/* addr as "127.0.0.1:8080", "[::1]:8080" or "unix:PATH". */
static void addr_text(const struct sockaddr_storage *a, char *out, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->ss_family == AF_UNIX) {
        snprintf(out, cap, "unix:%.107s", ((const struct sockaddr_un *)a)->sun_path);
    } else if (a->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%d", ip, addr_port(a));
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%d", ip, addr_port(a));
    }
}

void fh__inherit_free(fh__inherit_t *in) {
    if (!in)
        return;
    for (int i = 0; i < in->n; i++) {
        if (in->socks[i].fd < 0)
            continue;
        char text[128];
        addr_text(&in->socks[i].addr, text, sizeof(text));
        fprintf(stderr,
                "fasthttp: the socket on %s handed over by the previous generation is in no "
                "listener of the config: closed\n",
                text);
        close(in->socks[i].fd);
    }
    for (int i = 0; i < in->nlocks; i++)
        if (in->lock_fd[i] >= 0)
            close(in->lock_fd[i]);
    free(in->socks);
    free(in);
}

void fh__restart_ready(fh_server_t *s) {
    if (s->ready_fd >= 0) {
        ssize_t n;
        do
            n = write(s->ready_fd, "R", 1);
        while (n < 0 && errno == EINTR);
        close(s->ready_fd);
        s->ready_fd = -1;
    }
    fh__notify("READY=1");
}

/* ----------------------------------------------------------- the parent */

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The binary a restart runs: cfg.restart_path, or the file now at the
 * path this process was started from (a deploy that replaced it is run,
 * not the old file that /proc/self/exe still opens). Malloc'ed or NULL. */
static char *restart_binary(const fh_server_t *s) {
    if (s->restart_path)
        return strdup(s->restart_path);
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    const char *gone = " (deleted)";
    size_t glen = strlen(gone);
    if ((size_t)n > glen && strcmp(buf + n - glen, gone) == 0)
        buf[n - glen] = '\0';
    return strdup(buf);
}

/* This process's arguments, from /proc/self/cmdline: a malloc'ed array
 * whose strings live in *text (malloc'ed too). NULL when unreadable. */
static char **own_argv(char **text) {
    *text = NULL;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (len == cap) {
            char *more = realloc(buf, 2 * cap + 1);
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf || len == 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        argc += buf[i] == '\0';
    if (buf[len - 1] != '\0')
        argc++;
    char **argv = calloc(argc + 1, sizeof(*argv));
    if (!argv) {
        free(buf);
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < len && k < argc; i += strlen(buf + i) + 1)
        argv[k++] = buf + i;
    *text = buf;
    return argv;
}

/* The child's environment: this one without the handover's variables
 * (and systemd's socket-activation ones, which name this process), then
 * extra. A malloc'ed array of environ's strings and extra's. */
static char **child_env(char **extra, int nextra) {
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + (size_t)nextra + 1, sizeof(*env));
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "FASTHTTP_LISTEN_", 16) == 0 || strncmp(e, "FASTHTTP_READY_FD=", 18) == 0 ||
            strncmp(e, "LISTEN_PID=", 11) == 0 || strncmp(e, "LISTEN_FDS=", 11) == 0 ||
            strncmp(e, "LISTEN_FDNAMES=", 15) == 0)
            continue;
        env[k++] = environ[i];
    }
    for (int i = 0; i < nextra; i++)
        env[k++] = extra[i];
    return env;
}

/* Waits for the child after it was told to go, or went: its status, or
 * -1 when it has not ended within grace_ms (it is then killed). */
static int reap(pid_t pid, uint64_t grace_ms) {
    uint64_t end = now_ms() + grace_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return 0; /* reaped elsewhere (SIGCHLD ignored): it is gone */
        if (now_ms() >= end) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

static void status_text(int st, char *out, size_t cap) {
    if (st == -1)
        snprintf(out, cap, "did not end and was killed");
    else if (WIFEXITED(st))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, cap, "was killed by signal %d", WTERMSIG(st));
    else
        snprintf(out, cap, "ended");
}

/* The descriptors to hand over, dup'ed at base or above (so that the
 * child's dup2 onto 3, 4... never overwrites one not moved yet): the
 * distinct listening sockets into socks, the ports' claims into locks
 * (and their ports). Under the handover lock, so that a stop does not
 * close them meanwhile. Returns 0, FH_ESTATE (stopping) or an error;
 * on error nothing is left open. */
static int collect(fh_server_t *s, int *socks, int *nsocks, int *locks, int *ports, int *nlocks) {
    int err = 0, base = 3 + *nsocks + *nlocks + 1;
    *nsocks = *nlocks = 0;
    pthread_mutex_lock(&s->handover_lock);
    if (atomic_load(&s->stop_requested))
        err = FH_ESTATE;
    for (int i = 0; !err && i < s->nworkers; i++) {
        fh__worker_t *w = &s->workers[i];
        for (int j = 0; !err && j < w->nlisteners; j++) {
            if (w->listeners[j].dup || w->listeners[j].fd < 0)
                continue;
            int fd = fcntl(w->listeners[j].fd, F_DUPFD_CLOEXEC, base);
            if (fd < 0)
                err = uv_translate_sys_error(errno);
            else
                socks[(*nsocks)++] = fd;
        }
    }
    for (int j = 0; !err && j < s->nlisten; j++) {
        if (s->listen_lock[j] < 0)
            continue;
        int fd = fcntl(s->listen_lock[j], F_DUPFD_CLOEXEC, base);
        if (fd < 0) {
            err = uv_translate_sys_error(errno);
        } else {
            ports[*nlocks] = s->listen_port[j];
            locks[(*nlocks)++] = fd;
        }
    }
    pthread_mutex_unlock(&s->handover_lock);
    if (err) {
        for (int k = 0; k < *nsocks; k++)
            close(socks[k]);
        for (int k = 0; k < *nlocks; k++)
            close(locks[k]);
        *nsocks = *nlocks = 0;
    }
    return err;
}

/* The sockets a collect will find: every non-dup listener. */
static int count_sockets(fh_server_t *s) {
    int n = 0;
    for (int i = 0; i < s->nworkers; i++)
        for (int j = 0; j < s->workers[i].nlisteners; j++)
            n += !s->workers[i].listeners[j].dup;
    return n;
}

/* Starts the child with the descriptors in place. Returns 0 (*pid set)
 * or an error (errno's, from posix_spawn: the binary missing, say). */
static int spawn(fh_server_t *s, const char *path, const int *socks, int nsocks, const int *locks,
                 const int *ports, int nlocks, int ready, pid_t *pid) {
    char v_pid[48], v_fds[48], v_ready[48], v_locks[32 + 6 * FH__LISTENERS_MAX];
    char v_act[] = "FASTHTTP_LISTEN_ACTIVATED=1";
    snprintf(v_pid, sizeof(v_pid), "FASTHTTP_LISTEN_PID=%ld", (long)getpid());
    snprintf(v_fds, sizeof(v_fds), "FASTHTTP_LISTEN_FDS=%d", nsocks);
    snprintf(v_ready, sizeof(v_ready), "FASTHTTP_READY_FD=%d", 3 + nsocks + nlocks);
    size_t off = (size_t)snprintf(v_locks, sizeof(v_locks), "FASTHTTP_LISTEN_LOCKS=");
    for (int k = 0; k < nlocks; k++)
        off +=
            (size_t)snprintf(v_locks + off, sizeof(v_locks) - off, "%s%d", k ? "," : "", ports[k]);
    char *extra[] = { v_pid, v_fds, v_ready, v_locks, v_act };
    char *argv_text;
    char **argv = own_argv(&argv_text);
    char *fallback[] = { (char *)path, NULL };
    char **env = child_env(extra, s->activated ? 5 : 4);
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = env ? 0 : ENOMEM;
    if (!rc)
        rc = posix_spawn_file_actions_init(&fa);
    if (rc) {
        free(env);
        free(argv);
        free(argv_text);
        return uv_translate_sys_error(rc);
    }
    for (int k = 0; !rc && k < nsocks; k++)
        rc = posix_spawn_file_actions_adddup2(&fa, socks[k], 3 + k);
    for (int k = 0; !rc && k < nlocks; k++)
        rc = posix_spawn_file_actions_adddup2(&fa, locks[k], 3 + nsocks + k);
    if (!rc)
        rc = posix_spawn_file_actions_adddup2(&fa, ready, 3 + nsocks + nlocks);
    if (!rc)
        rc = posix_spawnattr_init(&attr);
    if (!rc) {
        /* The child starts with no signal blocked, whichever thread asks. */
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
        rc = posix_spawn(pid, path, &fa, &attr, argv ? argv : fallback, env);
        posix_spawnattr_destroy(&attr);
    }
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    free(argv);
    free(argv_text);
    return rc ? uv_translate_sys_error(rc) : 0;
}

/* Waits up to ms for the child's byte: 1 ready, 0 the pipe ended (the
 * child is gone or gave it up), -1 not in time. */
static int wait_ready(int fd, uint32_t ms) {
    uint64_t end = now_ms() + ms;
    for (;;) {
        uint64_t now = now_ms();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll(&p, 1, now >= end ? 0 : (int)(end - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0) {
            char b;
            ssize_t n = read(fd, &b, 1);
            if (n < 0 && errno == EINTR)
                continue;
            return n == 1 ? 1 : 0;
        }
        if (now >= end)
            return -1;
    }
}

int fh__restart_run(fh_server_t *s) {
    if (!s->started || atomic_load(&s->stop_requested)) {
        fprintf(stderr, "fasthttp: restart refused: the server is not running\n");
        return FH_ESTATE;
    }
    int max = count_sockets(s), nsocks = max, nlocks = FH__LISTENERS_MAX;
    int *socks = malloc(sizeof(int) * (size_t)(max ? max : 1));
    int locks[FH__LISTENERS_MAX], ports[FH__LISTENERS_MAX], pipefd[2] = { -1, -1 }, ready = -1;
    char *path = restart_binary(s);
    int err = socks && path ? 0 : FH_ENOMEM;
    if (!err)
        err = collect(s, socks, &nsocks, locks, ports, &nlocks);
    if (!err && pipe2(pipefd, O_CLOEXEC) != 0)
        err = uv_translate_sys_error(errno);
    if (!err && (ready = fcntl(pipefd[1], F_DUPFD_CLOEXEC, 4 + max + FH__LISTENERS_MAX)) < 0)
        err = uv_translate_sys_error(errno);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    pid_t pid = -1;
    if (!err)
        err = spawn(s, path, socks, nsocks, locks, ports, nlocks, ready, &pid);
    /* The child has its own copies now. */
    if (ready >= 0)
        close(ready);
    for (int k = 0; socks && k < nsocks; k++)
        close(socks[k]);
    for (int k = 0; k < nlocks; k++)
        close(locks[k]);
    free(socks);
    if (err) {
        if (err != FH_ESTATE)
            fprintf(stderr,
                    "fasthttp: restart failed, this generation keeps serving: cannot "
                    "start %s: %s\n",
                    path ? path : "the program", fh_strerror(err));
        else
            fprintf(stderr, "fasthttp: restart refused: the server is stopping\n");
        if (pipefd[0] >= 0)
            close(pipefd[0]);
        free(path);
        return err;
    }
    int got = wait_ready(pipefd[0], s->cfg.timeouts.restart_ms);
    close(pipefd[0]);
    if (got == 1) {
        atomic_store(&s->handed_over, true);
        fprintf(stderr,
                "fasthttp: restart: the new generation (pid %ld, %s) is ready; pid %ld stops "
                "accepting, drains and exits\n",
                (long)pid, path, (long)getpid());
        char mainpid[48];
        snprintf(mainpid, sizeof(mainpid), "MAINPID=%ld", (long)pid);
        fh__notify(mainpid);
        free(path);
        fh_server_stop(s);
        return 0;
    }
    char why[128];
    if (got == 0) {
        status_text(reap(pid, 2000), why, sizeof(why));
        err = FH_ERESTART;
    } else {
        kill(pid, SIGTERM);
        char st[48];
        status_text(reap(pid, s->cfg.timeouts.drain_ms + 1000), st, sizeof(st));
        snprintf(why, sizeof(why), "was not ready within %u ms; sent SIGTERM, it %s",
                 s->cfg.timeouts.restart_ms, st);
        err = FH_ETIMEDOUT;
    }
    fprintf(stderr,
            "fasthttp: restart failed, this generation keeps serving: the new one (pid %ld, %s) "
            "%s%s\n",
            (long)pid, path, why, got == 0 ? " before it was ready" : "");
    free(path);
    return err;
}

int fh_server_restart(fh_server_t *s) {
    if (!s)
        return FH_EINVAL;
    if (atomic_exchange(&s->restarting, true)) {
        fprintf(stderr, "fasthttp: restart refused: one is already under way\n");
        return FH_EBUSY;
    }
    int err = fh__restart_run(s);
    atomic_store(&s->restarting, false);
    return err;
}
