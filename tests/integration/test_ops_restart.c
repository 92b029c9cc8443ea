/* The zero-downtime restart (fh_server_restart), with this program as the
 * new generation: run again by the restart with FHT_RESTART_ROLE set, it
 * exits at once ("exit"), never gets ready ("hang"), or serves "child
 * PID" on the listeners of FHT_RESTART_LISTEN with FHT_RESTART_THREADS
 * workers ("serve").
 *
 * - A new generation that exits before it is ready: FH_ERESTART, the
 *   reason and its exit status logged, and this server answers as before;
 *   one that is not ready within timeouts.restart_ms: FH_ETIMEDOUT, it is
 *   sent SIGTERM and reaped, and this server answers as before.
 * - 4 workers handing over to 1, and 1 to 3: the port's listening sockets
 *   (their inodes in /proc/net/tcp) are the same before and after, all
 *   held by the child, none closed, none added; the child answers on TCP
 *   and on the Unix socket, whose file outlives the old server; the port's
 *   claim went with the sockets (a new server on it is refused); systemd's
 *   notify socket got READY=1 from each generation and MAINPID= with the
 *   child's pid from the parent; the child exits 0 on SIGTERM and removes
 *   the socket file.
 * - A socket no listener of the child's config wants is closed: the port
 *   refuses connections once the old server has stopped.
 * - A socket-activated server hands systemd's socket over, and the child
 *   serves it whatever its config's port. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"

/* ------------------------------------------------ the new generation */

static int child_answer(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_textf(res, 200, "child %ld", (long)getpid());
}

static int child_main(const char *role) {
    if (strcmp(role, "exit") == 0)
        return 3;
    if (strcmp(role, "hang") == 0) {
        sleep(60); /* the restart's SIGTERM ends it */
        return 4;
    }
    static char entries[512];
    const char *listen[9] = { NULL };
    const char *spec = getenv("FHT_RESTART_LISTEN");
    snprintf(entries, sizeof(entries), "%s", spec ? spec : "");
    int n = 0;
    for (char *save, *e = strtok_r(entries, ",", &save); e && n < 8; e = strtok_r(NULL, ",", &save))
        listen[n++] = e;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = child_answer;
    cfg.threads = atoi(getenv("FHT_RESTART_THREADS") ? getenv("FHT_RESTART_THREADS") : "1");
    if (n)
        cfg.listen = listen;
    else
        cfg.port = 1; /* activation: the handed-over socket wins */
    fh_server_t *s;
    int err = fh_server_new(&s, &cfg);
    if (err) {
        fprintf(stderr, "child: %s\n", fh_server_config_error(&cfg, err));
        return 2;
    }
    err = fh_server_run(s); /* SIGTERM: a graceful stop */
    fh_server_free(s);
    return err ? 1 : 0;
}

/* ----------------------------------------------------------- helpers */

static int parent_answer(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "parent");
}

/* GET / over a new close-on-exec connection (TCP port, or path when set):
 * the body into out, or "" when refused; returns the status or -1. */
static int get(int port, const char *path, char *out, size_t cap) {
    out[0] = '\0';
    int fd;
    if (path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fd);
            return -1;
        }
    } else {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    const char *req = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    char buf[2048];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    int status = -1;
    if (sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        return -1;
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out, cap, "%s", body ? body + 4 : "");
    return status;
}

/* The inodes of the sockets listening on 127.0.0.1:port (/proc/net/tcp),
 * sorted; returns how many. */
static int listening_inodes(int port, unsigned long *out, int cap) {
    FILE *f = fopen("/proc/net/tcp", "r");
    assert_non_null(f);
    char line[512];
    int n = 0;
    fgets(line, sizeof(line), f);
    while (fgets(line, sizeof(line), f)) {
        unsigned addr, lport, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %x:%x %*x:%*x %x %*x:%*x %*x:%*x %*x %*d %*d %lu", &addr, &lport,
                   &st, &inode) == 4 &&
            st == 0x0A && (int)lport == port && n < cap)
            out[n++] = inode;
    }
    fclose(f);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            unsigned long t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* Whether process pid holds a descriptor of the socket inode. */
static bool holds_socket(long pid, unsigned long inode) {
    char dir[64], want[64];
    snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    assert_non_null(d);
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        char p[400], link[128];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(p, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, want) == 0;
        }
    }
    closedir(d);
    return found;
}

/* stderr into a file while a restart runs; the text after. */
static char logged[8192];
static int saved_stderr = -1;
static char log_path[64];

static void capture_begin(void) {
    snprintf(log_path, sizeof(log_path), "/tmp/fht-restart-log-%ld", (long)getpid());
    fflush(stderr);
    saved_stderr = dup(2);
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);
}

static const char *capture_end(void) {
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(logged, 1, sizeof(logged) - 1, f) : 0;
    logged[n] = '\0';
    if (f)
        fclose(f);
    unlink(log_path);
    return logged;
}

static fh_server_t *parent_start(const char *const *listen, int threads, uint32_t restart_ms) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = parent_answer;
    cfg.threads = threads;
    cfg.handle_signals = false;
    cfg.timeouts.restart_ms = restart_ms;
    if (listen) {
        cfg.listen = listen;
    } else {
        cfg.host = "127.0.0.1";
        cfg.port = 0;
    }
    fh_server_t *s;
    int err = fh_server_new(&s, &cfg);
    if (err)
        fail_msg("%s", fh_server_config_error(&cfg, err));
    assert_int_equal(fh_server_start(s), 0);
    return s;
}

static void assert_parent_serves(int port) {
    char body[256];
    for (int i = 0; i < 20; i++) {
        assert_int_equal(get(port, NULL, body, sizeof(body)), 200);
        assert_string_equal(body, "parent");
    }
}

/* ------------------------------------------------------------- tests */

static void test_child_exits(void **state) {
    (void)state;
    fh_server_t *s = parent_start(NULL, 2, 0);
    int port = fh_server_port(s);
    setenv("FHT_RESTART_ROLE", "exit", 1);
    capture_begin();
    int err = fh_server_restart(s);
    const char *log = capture_end();
    assert_int_equal(err, FH_ERESTART);
    assert_non_null(strstr(log, "restart failed, this generation keeps serving"));
    assert_non_null(strstr(log, "exited with status 3 before it was ready"));
    assert_parent_serves(port);
    /* And again: nothing was left half-done. */
    capture_begin();
    err = fh_server_restart(s);
    capture_end();
    assert_int_equal(err, FH_ERESTART);
    assert_parent_serves(port);
    unsetenv("FHT_RESTART_ROLE");
    fh_server_free(s);
}

static void test_child_not_ready(void **state) {
    (void)state;
    fh_server_t *s = parent_start(NULL, 2, 300);
    int port = fh_server_port(s);
    setenv("FHT_RESTART_ROLE", "hang", 1);
    capture_begin();
    uint64_t t0 = fht_now_ms();
    int err = fh_server_restart(s);
    uint64_t took = fht_now_ms() - t0;
    const char *log = capture_end();
    unsetenv("FHT_RESTART_ROLE");
    assert_int_equal(err, FH_ETIMEDOUT);
    assert_true(took >= 300 && took < 5000);
    assert_non_null(strstr(log, "was not ready within 300 ms; sent SIGTERM, it was killed by "
                                "signal 15"));
    long pid = 0;
    const char *p = strstr(log, "the new one (pid ");
    assert_non_null(p);
    pid = strtol(p + strlen("the new one (pid "), NULL, 10);
    assert_true(pid > 0);
    assert_int_equal(kill((pid_t)pid, 0), -1); /* reaped: no such process */
    assert_int_equal(errno, ESRCH);
    assert_parent_serves(port);
    fh_server_free(s);
}

/* A datagram socket standing in for systemd's notify socket. */
static int notify_socket(char *path, size_t cap) {
    snprintf(path, cap, "/tmp/fht-notify-%ld", (long)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    return fd;
}

/* Every datagram waiting, joined by '|'. */
static void notify_read(int fd, char *out, size_t cap) {
    size_t len = 0;
    out[0] = '\0';
    for (;;) {
        char b[256];
        ssize_t n = recv(fd, b, sizeof(b) - 1, 0);
        if (n < 0)
            break;
        b[n] = '\0';
        len += (size_t)snprintf(out + len, cap - len, "%s|", b);
    }
}

static void handover(int parent_threads, int child_threads) {
    char sock_path[64], listen0[64], listen1[80], spec[160], notify_path[64];
    snprintf(sock_path, sizeof(sock_path), "/tmp/fht-restart-%ld.sock", (long)getpid());
    int nfd = notify_socket(notify_path, sizeof(notify_path));
    snprintf(listen1, sizeof(listen1), "unix:%s", sock_path);
    const char *listen[] = { "127.0.0.1:0", listen1, NULL };
    fh_server_t *s = parent_start(listen, parent_threads, 0);
    int port = fh_server_listen_port(s, 0);
    assert_parent_serves(port);
    unsigned long before[64], after[64];
    int nbefore = listening_inodes(port, before, 64);
    assert_int_equal(nbefore, parent_threads); /* one SO_REUSEPORT socket per worker */

    snprintf(listen0, sizeof(listen0), "127.0.0.1:%d", port);
    snprintf(spec, sizeof(spec), "%s,%s", listen0, listen1);
    char threads[16];
    snprintf(threads, sizeof(threads), "%d", child_threads);
    setenv("FHT_RESTART_ROLE", "serve", 1);
    setenv("FHT_RESTART_LISTEN", spec, 1);
    setenv("FHT_RESTART_THREADS", threads, 1);
    capture_begin();
    int err = fh_server_restart(s);
    const char *log = capture_end();
    unsetenv("FHT_RESTART_ROLE");
    if (err)
        fail_msg("restart: %s\n%s", fh_strerror(err), log);
    assert_non_null(strstr(log, "is ready; pid"));
    assert_int_equal(fh_server_wait(s), 0); /* the old server drained and stopped */
    fh_server_free(s);

    char body[256];
    long child = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(get(port, NULL, body, sizeof(body)), 200);
        assert_int_equal(strncmp(body, "child ", 6), 0);
        child = strtol(body + 6, NULL, 10);
    }
    assert_int_equal(get(0, sock_path, body, sizeof(body)), 200);
    assert_int_equal(strtol(body + 6, NULL, 10), child);
    struct stat st;
    assert_int_equal(stat(sock_path, &st), 0); /* kept by the old server */

    /* The same sockets, all in the child: no accept queue was closed. */
    int nafter = listening_inodes(port, after, 64);
    assert_int_equal(nafter, nbefore);
    for (int i = 0; i < nafter; i++) {
        assert_int_equal(after[i], before[i]);
        assert_true(holds_socket(child, after[i]));
    }
    /* The port's claim went with them. */
    fh_server_config_t again = fh_server_config_default();
    again.handler = parent_answer;
    again.host = "127.0.0.1";
    again.port = port;
    fh_server_t *other = NULL;
    assert_int_equal(fh_server_new(&other, &again), FH_EADDRINUSE);

    char notes[1024] = "";
    char want[64];
    snprintf(want, sizeof(want), "MAINPID=%ld|", child);
    for (int i = 0; i < 100 && !strstr(notes, want); i++) {
        usleep(10000);
        size_t len = strlen(notes);
        notify_read(nfd, notes + len, sizeof(notes) - len);
    }
    /* The parent's READY=1 at its start, the child's, the parent's MAINPID. */
    assert_non_null(strstr(notes, want));
    const char *r1 = strstr(notes, "READY=1|");
    assert_non_null(r1);
    assert_non_null(strstr(r1 + 1, "READY=1|"));
    close(nfd);
    unlink(notify_path);
    unsetenv("NOTIFY_SOCKET");

    assert_int_equal(kill((pid_t)child, SIGTERM), 0);
    int wst;
    assert_int_equal(waitpid((pid_t)child, &wst, 0), child);
    assert_true(WIFEXITED(wst));
    assert_int_equal(WEXITSTATUS(wst), 0);
    assert_int_equal(stat(sock_path, &st), -1); /* the child removed it */
    assert_int_equal(get(port, NULL, body, sizeof(body)), -1);
}

static void test_four_workers_to_one(void **state) {
    (void)state;
    handover(4, 1);
}

static void test_one_worker_to_three(void **state) {
    (void)state;
    handover(1, 3);
}

static void test_unwanted_socket_closed(void **state) {
    (void)state;
    char sock_path[64], listen1[80];
    snprintf(sock_path, sizeof(sock_path), "/tmp/fht-restart-u%ld.sock", (long)getpid());
    snprintf(listen1, sizeof(listen1), "unix:%s", sock_path);
    const char *listen[] = { "127.0.0.1:0", listen1, NULL };
    fh_server_t *s = parent_start(listen, 2, 0);
    int port = fh_server_listen_port(s, 0);
    setenv("FHT_RESTART_ROLE", "serve", 1);
    setenv("FHT_RESTART_LISTEN", listen1, 1); /* the TCP port is not in it */
    setenv("FHT_RESTART_THREADS", "1", 1);
    capture_begin();
    int err = fh_server_restart(s);
    const char *log = capture_end();
    unsetenv("FHT_RESTART_ROLE");
    assert_int_equal(err, 0);
    char want[128];
    snprintf(want, sizeof(want),
             "the socket on 127.0.0.1:%d handed over by the previous generation is in no "
             "listener of the config: closed",
             port);
    assert_non_null(strstr(log, want));
    fh_server_wait(s);
    fh_server_free(s);
    char body[256];
    assert_int_equal(get(port, NULL, body, sizeof(body)), -1); /* refused */
    assert_int_equal(get(0, sock_path, body, sizeof(body)), 200);
    long child = strtol(body + 6, NULL, 10);
    assert_int_equal(kill((pid_t)child, SIGTERM), 0);
    int wst;
    assert_int_equal(waitpid((pid_t)child, &wst, 0), child);
    assert_int_equal(WEXITSTATUS(wst), 0);
}

static void test_activated_socket(void **state) {
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    int port = ntohs(sa.sin_port);
    int saved = fcntl(3, F_DUPFD_CLOEXEC, 10);
    if (fd != 3) {
        assert_int_equal(dup2(fd, 3), 3);
        close(fd);
    }
    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("LISTEN_PID", pid, 1);
    setenv("LISTEN_FDS", "1", 1);
    fh_server_t *s = parent_start(NULL, 2, 0);
    assert_int_equal(fh_server_port(s), port);
    assert_parent_serves(port);
    setenv("FHT_RESTART_ROLE", "serve", 1);
    setenv("FHT_RESTART_LISTEN", "", 1); /* port 1 in the child's config */
    setenv("FHT_RESTART_THREADS", "2", 1);
    capture_begin();
    int err = fh_server_restart(s);
    const char *log = capture_end();
    unsetenv("FHT_RESTART_ROLE");
    if (err)
        fail_msg("restart: %s\n%s", fh_strerror(err), log);
    fh_server_wait(s);
    fh_server_free(s);
    if (saved >= 0) {
        dup2(saved, 3);
        close(saved);
    }
    char body[256];
    assert_int_equal(get(port, NULL, body, sizeof(body)), 200);
    assert_int_equal(strncmp(body, "child ", 6), 0);
    long child = strtol(body + 6, NULL, 10);
    assert_int_equal(kill((pid_t)child, SIGTERM), 0);
    int wst;
    assert_int_equal(waitpid((pid_t)child, &wst, 0), child);
    assert_int_equal(WEXITSTATUS(wst), 0);
}

static void test_refused_states(void **state) {
    (void)state;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = parent_answer;
    cfg.host = "127.0.0.1";
    fh_server_t *s;
    assert_int_equal(fh_server_new(&s, &cfg), 0);
    capture_begin();
    int err = fh_server_restart(s); /* not started */
    const char *log = capture_end();
    assert_int_equal(err, FH_ESTATE);
    assert_non_null(strstr(log, "restart refused: the server is not running"));
    fh_server_free(s);
    assert_int_equal(fh_server_restart(NULL), FH_EINVAL);
}

int main(void) {
    const char *role = getenv("FHT_RESTART_ROLE");
    if (role)
        return child_main(role);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_exits),
        cmocka_unit_test(test_child_not_ready),
        cmocka_unit_test(test_four_workers_to_one),
        cmocka_unit_test(test_one_worker_to_three),
        cmocka_unit_test(test_unwanted_socket_closed),
        cmocka_unit_test(test_activated_socket),
        cmocka_unit_test(test_refused_states),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
