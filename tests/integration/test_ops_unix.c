/* Several listeners per server (config.listen): IPv4, IPv6 (::1, skipped
 * with the reason when the kernel has no IPv6 loopback) and a Unix-domain
 * socket with its file mode, each answering requests on every worker. A
 * stale socket file is replaced; a socket file something listens on, and a
 * file that is not a socket, are refused and left alone, a thousand times.
 * Bad entries are refused naming config.listen[i] and quoting the value. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <fasthttp.h>

#include "testutil.h"

static int answer(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t ip = fh_request_remote_ip(req);
    char body[96];
    snprintf(body, sizeof(body), "from %.*s", ip.len ? (int)ip.len : 1, ip.len ? ip.ptr : "-");
    return fh_send_text(res, 200, body);
}

static fh_server_config_t config(const char *const *listen) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.handler = answer;
    cfg.threads = 2;
    cfg.listen = listen;
    return cfg;
}

static void with_timeout(int fd) {
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static int connect_v6(int port) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
    inet_pton(AF_INET6, "::1", &sa.sin6_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    with_timeout(fd);
    return fd;
}

/* A connection to the Unix socket at path: the descriptor, or -1 and errno. */
static int connect_unix(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    with_timeout(fd);
    return fd;
}

/* n keep-alive requests on fd, each answered 200 with body want. */
static void expect_requests(int fd, int n, const char *want) {
    for (int i = 0; i < n; i++) {
        fht_send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        fht_response_t r;
        assert_int_equal(fht_read_response(fd, &r, 0), 0);
        assert_int_equal(r.status, 200);
        if (strcmp(r.body, want) != 0)
            fail_msg("answered \"%s\", not \"%s\"", r.body, want);
        fht_response_free(&r);
    }
    close(fd);
}

static bool ipv6_loopback(char *why, size_t cap) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, cap, "socket(AF_INET6): %s", strerror(errno));
        return false;
    }
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "::1", &sa.sin6_addr);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (!ok)
        snprintf(why, cap, "bind [::1]:0: %s", strerror(errno));
    close(fd);
    return ok;
}

static char dir[64];
static char path[96];

static void make_dir(void) {
    snprintf(dir, sizeof(dir), "/tmp/fh_unix_XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/http.sock", dir);
}

static void remove_dir(void) {
    unlink(path);
    rmdir(dir);
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static void test_three_listeners(void **state) {
    (void)state;
    make_dir();
    char unix_entry[160], why[128];
    snprintf(unix_entry, sizeof(unix_entry), "unix:%s", path);
    bool v6 = ipv6_loopback(why, sizeof(why));
    if (!v6)
        printf("IPv6 listener not tested: this kernel has no IPv6 loopback (%s)\n", why);
    const char *with_v6[] = { "127.0.0.1:0", unix_entry, "[::1]:0", NULL };
    const char *without_v6[] = { "127.0.0.1:0", unix_entry, NULL };
    fh_server_config_t cfg = config(v6 ? with_v6 : without_v6);
    cfg.unix_mode = 0600;
    fh_server_t *s = fht_server_start(&cfg);
    int p4 = fh_server_listen_port(s, 0);
    assert_true(p4 > 0);
    assert_int_equal(fh_server_port(s), p4);
    assert_int_equal(fh_server_listen_port(s, 1), 0);
    assert_int_equal(fh_server_listen_port(s, v6 ? 3 : 2), FH_EINVAL);
    assert_int_equal(fh_server_listen_port(s, -1), FH_EINVAL);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    /* Many connections on each, so both workers take some. */
    for (int c = 0; c < 8; c++) {
        expect_requests(fht_connect(p4), 10, "from 127.0.0.1");
        int u = connect_unix(path);
        assert_true(u >= 0);
        expect_requests(u, 10, "from -");
        if (v6) {
            int p6 = fh_server_listen_port(s, 2);
            assert_true(p6 > 0 && p6 != p4);
            expect_requests(connect_v6(p6), 10, "from ::1");
        }
    }
    fht_server_stop(s);
    /* The server removes its socket file, and nothing listens there. */
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(connect_unix(path), -1);
    remove_dir();
}

/* The default mode, 0660, and a stale socket file (bound, nothing
 * listening) replaced by the server's own. */
static void test_stale_socket(void **state) {
    (void)state;
    make_dir();
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    assert_int_equal(connect_unix(path), -1);
    assert_int_equal(errno, ECONNREFUSED);
    char entry[160];
    snprintf(entry, sizeof(entry), "unix:%s", path);
    const char *listen[] = { entry, NULL };
    fh_server_config_t cfg = config(listen);
    fh_server_t *s = fht_server_start(&cfg);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0660);
    int u = connect_unix(path);
    assert_true(u >= 0);
    expect_requests(u, 5, "from -");
    fht_server_stop(s);
    remove_dir();
}

/* A socket file a running server listens on: a thousand more servers are
 * refused with the path in the message, no descriptor leaks, the file stays
 * and the running server still answers. A plain file there is refused and
 * kept. */
static void test_live_socket_refused(void **state) {
    (void)state;
    make_dir();
    char entry[160], want[256];
    snprintf(entry, sizeof(entry), "unix:%s", path);
    snprintf(want, sizeof(want), "fasthttp: cannot listen on unix:%s: address already in use",
             path);
    const char *listen[] = { entry, NULL };
    fh_server_config_t cfg = config(listen);
    fh_server_t *s = fht_server_start(&cfg);
    int fds = open_fds();
    for (int i = 0; i < 1000; i++) {
        fh_server_config_t again = config(listen);
        fh_server_t *t = NULL;
        int err = fh_server_new(&t, &again);
        assert_int_equal(err, FH_EADDRINUSE);
        assert_null(t);
        assert_string_equal(fh_server_config_error(&again, err), want);
    }
    /* Each refusal's probe connected to the running server, which closes
     * its end once it reads the EOF: wait for that (5 s at most). */
    uint64_t until = fht_now_ms() + 5000;
    while (open_fds() != fds && fht_now_ms() < until)
        usleep(10000);
    assert_int_equal(open_fds(), fds);
    int u = connect_unix(path);
    assert_true(u >= 0);
    expect_requests(u, 5, "from -");
    fht_server_stop(s);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a socket", f);
    fclose(f);
    fh_server_config_t file = config(listen);
    fh_server_t *t = NULL;
    assert_int_equal(fh_server_new(&t, &file), FH_EADDRINUSE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 12);
    remove_dir();
}

/* The config error's quoting: up to 48 bytes, then "...". */
static void quote(char *dst, size_t cap, const char *v) {
    snprintf(dst, cap, "\"%.48s%s\"", v, strlen(v) > 48 ? "..." : "");
}

static void refused(const char *const *listen, unsigned mode, const char *want) {
    fh_server_config_t cfg = config(listen);
    cfg.unix_mode = mode;
    fh_server_t *s = NULL;
    int err = fh_server_new(&s, &cfg);
    assert_int_equal(err, FH_ECONFIG);
    assert_null(s);
    const char *msg = fh_server_config_error(&cfg, err);
    if (strcmp(msg, want) != 0)
        fail_msg("said \"%s\", not \"%s\"", msg, want);
}

static void test_bad_entries(void **state) {
    (void)state;
    static const struct {
        const char *value, *why;
    } bad[] = {
        { "127.0.0.1", "is not \"HOST:PORT\", \"[IPV6]:PORT\" or \"unix:PATH\"" },
        { "::1:80", "is not \"HOST:PORT\", \"[IPV6]:PORT\" or \"unix:PATH\"" },
        { "127.0.0.1:70000", "has no port 0..65535" },
        { "127.0.0.1:8a", "has no port 0..65535" },
        { "127.0.0.1:", "has no port 0..65535" },
        { "127.0.0.1:99999999999999999999", "has no port 0..65535" },
        { ":80", "has no address before the port" },
        { "[::1]80", "is not \"[IPV6]:PORT\"" },
        { "[127.0.0.1]:80", "is not an IPv4 or [IPv6] address (or \"localhost\") and a port" },
        { "example.org:80", "is not an IPv4 or [IPv6] address (or \"localhost\") and a port" },
        { "unix:", "has no path after \"unix:\"" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *listen[] = { "127.0.0.1:0", bad[i].value, NULL };
        char q[80], want[256];
        quote(q, sizeof(q), bad[i].value);
        snprintf(want, sizeof(want), "fasthttp: config.listen[1]: %s %s", q, bad[i].why);
        refused(listen, 0, want);
    }
    char longpath[300] = "unix:/tmp/";
    memset(longpath + 10, 'a', 200);
    longpath[210] = '\0';
    const char *too_long[] = { longpath, NULL };
    char q[80], want[256];
    quote(q, sizeof(q), longpath);
    snprintf(want, sizeof(want),
             "fasthttp: config.listen[0]: %s is a Unix socket path longer than 107 bytes", q);
    refused(too_long, 0, want);
    const char *nine[] = { "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0",
                           "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0",
                           "127.0.0.1:0", NULL };
    refused(nine, 0, "fasthttp: config.listen: has more than 8 addresses");
    const char *empty[] = { NULL };
    refused(empty, 0, "fasthttp: config.listen: is empty (NULL: host and port)");
    const char *one[] = { "127.0.0.1:0", NULL };
    refused(one, 01777, "fasthttp: config.unix_mode: must be a file mode, at most 0777");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_listeners),
        cmocka_unit_test(test_stale_socket),
        cmocka_unit_test(test_live_socket_refused),
        cmocka_unit_test(test_bad_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
