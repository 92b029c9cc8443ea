/* The conformance runner: every case in tests/conformance/cases/ (files
 * named *.case) is raw request bytes sent over a real socket to a real
 * server, and the outcome that must follow. See tests/conformance/README.md for the format.
 *
 *   runner [-v] [-l] [-t] [-k ID] CASE_DIR_OR_FILE...
 *     -v  print every case     -l  only count cases per rule and section
 *     -k  run only the case whose id contains ID
 *     -t  over TLS: every server has a certificate (made by the openssl
 *         command), and each connection of a case goes through a relay
 *         thread that speaks TLS to the server and passes the plain bytes
 *         to the case's socket, so every case runs unchanged
 *
 * Every response read is also checked for what holds for all responses: a
 * Date in IMF-fixdate, a Content-Length equal to the body (none on 1xx, 204
 * and 304), Connection: close on any response the server closes after, and
 * framework error responses small and counted in fh_server_stats.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fasthttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls_relay.h"

#define MAX_CONNS 8
#define READ_MS 3000

/* ------------------------------------------------------------ the server */

static char big_body[16u << 20];

typedef struct deferred {
    uv_timer_t timer;
    fh_response_t *res;
} deferred_t;

static void deferred_closed(uv_handle_t *h) {
    deferred_t *d = h->data;
    fh_request_t *req = fh_response_request(d->res);
    fh_send_textf(d->res, 200, "late %.*s", FH_STR_FMT(fh_request_path(req)));
}

static void deferred_fire(uv_timer_t *t) { uv_close((uv_handle_t *)t, deferred_closed); }

/* /r/... goes through a router: GET and POST /r/item exist. */
static fh_router_t *router;

static int item_get(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "item");
}

static int item_post(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t b = fh_request_body(req);
    return fh_send(res, 201, "text/plain", b.ptr, b.len);
}

static const fh_route_t routes[] = {
    FH_GET("/item", item_get),
    FH_POST("/item", item_post),
    FH_ROUTES_END,
};

/* Echoes what a case may want to check in X- headers; every response the
 * handler makes carries X-Handler, so framework responses are those without. */
static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    fh_str_t path = fh_request_path(req);
    fh_str_t host = fh_request_header(req, "Host");
    fh_str_t body = fh_request_body(req);
    fh_response_header(res, "X-Handler", "1");
    fh_response_header_str(res, FH_STR_LIT("X-Path"), path);
    fh_response_header_str(res, FH_STR_LIT("X-Method"), fh_request_method(req));
    fh_response_header_str(res, FH_STR_LIT("X-Host"), host.ptr ? host : FH_STR_LIT("(none)"));
    fh_response_headerf(res, "X-Body-Len", "%zu", body.len);
    fh_response_headerf(res, "X-Headers", "%zu", fh_request_header_count(req));
    fh_response_headerf(res, "X-Version", "%d", fh_request_version(req));
    if (fh_str_eq(path, "/echo")) {
        fh_response_body(res, body.ptr, body.len);
        return 0;
    }
    if (fh_str_starts_with(path, "/r/"))
        return fh_router_handle(req, res, router);
    if (fh_str_starts_with(path, "/status/")) {
        int code = atoi(path.ptr + 8);
        return fh_send_text(res, code, "x");
    }
    if (fh_str_starts_with(path, "/defer/")) {
        deferred_t *d = fh_alloc(req, sizeof(*d));
        if (!d || fh_response_defer(res) != 0)
            return -1;
        d->res = res;
        uv_timer_init(fh_request_loop(req), &d->timer);
        d->timer.data = d;
        uv_timer_start(&d->timer, deferred_fire, strtoul(path.ptr + 7, NULL, 10), 0);
        return 0;
    }
    if (fh_str_starts_with(path, "/big/")) {
        size_t n = strtoul(path.ptr + 5, NULL, 10) * 1024;
        if (n > sizeof(big_body))
            n = sizeof(big_body);
        fh_response_body_borrow(res, big_body, n);
        return 0;
    }
    if (fh_str_eq(path, "/inject")) {
        /* Response splitting attempts must fail and add nothing. */
        int e1 = fh_response_header(res, "X-Injected", "a\r\nEvil: 1");
        int e2 = fh_response_header(res, "X-Injected", "a\nEvil: 1");
        int e3 = fh_response_header(res, "Evil: 1\r\nX", "a");
        return fh_send_textf(res, 200, "%s %s %s", e1 == FH_EHEADER_VALUE ? "refused" : "accepted",
                             e2 == FH_EHEADER_VALUE ? "refused" : "accepted",
                             e3 == FH_EHEADER_VALUE ? "refused" : "accepted");
    }
    if (fh_str_eq(path, "/fail"))
        return -1;
    if (fh_str_eq(path, "/close")) {
        fh_response_close(res);
        return fh_send_text(res, 200, "bye");
    }
    if (fh_str_eq(path, "/header")) {
        fh_str_t v = fh_request_header(req, "X-Test");
        return fh_send_textf(res, 200, "[%.*s]", FH_STR_FMT(v.ptr ? v : FH_STR_LIT("(none)")));
    }
    return fh_send_text(res, 200, "ok");
}

typedef struct server {
    fh_server_t *s;
    int port;
} server_t;

static uint64_t now_ms(void);

/* -t: the certificate every server serves, and the relays' context. */
static bool over_tls;
static char tls_dir[64], tls_cert[128], tls_key[128];

static void tls_cleanup(void) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tls_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tls_dir);
}

static int tls_setup(void) {
    snprintf(tls_dir, sizeof(tls_dir), "/tmp/fh-conformance-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    atexit(tls_cleanup);
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout key.pem -out cert.pem -days 2 -subj /CN=localhost 2>/dev/null",
             tls_dir);
    if (system(cmd) != 0)
        return -1;
    snprintf(tls_cert, sizeof(tls_cert), "%s/cert.pem", tls_dir);
    snprintf(tls_key, sizeof(tls_key), "%s/key.pem", tls_dir);
    return 0;
}

static int server_start(server_t *srv, const fh_server_config_t *base) {
    fh_server_config_t cfg = *base;
    if (over_tls) {
        cfg.tls.cert_file = tls_cert;
        cfg.tls.key_file = tls_key;
    }
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    cfg.handle_signals = false;
    cfg.handler = handler;
    int err = fh_server_new(&srv->s, &cfg);
    if (err) {
        fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
        return -1;
    }
    err = fh_server_start(srv->s);
    if (err) {
        fprintf(stderr, "fh_server_start: %s\n", fh_strerror(err));
        fh_server_free(srv->s);
        return -1;
    }
    srv->port = fh_server_port(srv->s);
    return 0;
}

static void server_stop(server_t *srv) {
    if (!srv->s)
        return;
    fh_server_stop(srv->s);
    fh_server_wait(srv->s);
    fh_server_free(srv->s);
    srv->s = NULL;
}

/* ----------------------------------------------------------- the cases */

enum {
    ST_SEND,
    ST_PAUSE,
    ST_EXPECT,
    ST_CLOSED,
    ST_OPEN,
    ST_SILENT,
    ST_CONN,
    ST_CLOSE,
    ST_SHUTDOWN,
    ST_DRAIN
};

typedef struct step {
    int kind;
    int line;
    char *bytes; /* ST_SEND */
    size_t len;
    long arg; /* ms, status, connection index, byte bound */
    long arg2;
    char **checks; /* ST_EXPECT: check words */
    int nchecks;
} step_t;

typedef struct kase {
    char id[96];
    char file[256];
    int line;
    int rule;
    char config[512];
    char **never;
    size_t *never_len;
    int nnever;
    bool nocount;
    step_t *steps;
    int nsteps;
} case_t;

static case_t *cases;
static int ncases;

static void die(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_put(buf_t *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 256;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Unescapes \r \n \t \s \0 \\ \{ \xHH and expands {N*text} into out. */
static void unescape(const char *s, buf_t *out, const char *file, int line) {
    while (*s) {
        if (*s == '\\') {
            char c = s[1], ch;
            switch (c) {
            case 'r': ch = '\r'; break;
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 's': ch = ' '; break;
            case '0': ch = '\0'; break;
            case '\\': ch = '\\'; break;
            case '{': ch = '{'; break;
            case 'x': {
                int h = hexval(s[2]), l = h >= 0 ? hexval(s[3]) : -1;
                if (l < 0)
                    die(file, line, "bad \\x escape");
                ch = (char)(h * 16 + l);
                s += 2;
                break;
            }
            default: die(file, line, "unknown escape \\%c", c); return;
            }
            buf_put(out, &ch, 1);
            s += 2;
        } else if (*s == '{') {
            char *end;
            long n = strtol(s + 1, &end, 10);
            if (end == s + 1 || *end != '*' || n < 0)
                die(file, line, "bad repetition (write \\{ for a brace)");
            const char *close = strchr(end, '}');
            if (!close)
                die(file, line, "unclosed repetition");
            char *inner = strndup(end + 1, (size_t)(close - end - 1));
            buf_t one = { 0 };
            unescape(inner, &one, file, line);
            for (long i = 0; i < n; i++)
                buf_put(out, one.p ? one.p : "", one.len);
            free(one.p);
            free(inner);
            s = close + 1;
        } else {
            buf_put(out, s, 1);
            s++;
        }
    }
}

static case_t *cur_case(const char *file, int line) {
    if (!ncases)
        die(file, line, "a directive before the first 'case'");
    return &cases[ncases - 1];
}

static step_t *add_step(case_t *c, int kind, int line) {
    c->steps = realloc(c->steps, (size_t)(c->nsteps + 1) * sizeof(step_t));
    step_t *s = &c->steps[c->nsteps++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->line = line;
    return s;
}

static void load_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f)
        die(path, 0, "%s", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '#')
            continue;
        char *arg = strchr(s, ' ');
        if (arg)
            *arg++ = '\0';
        else
            arg = s + strlen(s);
        if (strcmp(s, "case") == 0) {
            cases = realloc(cases, (size_t)(ncases + 1) * sizeof(case_t));
            case_t *c = &cases[ncases++];
            memset(c, 0, sizeof(*c));
            char *colon = strchr(arg, ':');
            if (colon)
                *colon = '\0';
            if (sscanf(arg, "%d %95s", &c->rule, c->id) != 2)
                die(path, lineno, "expected: case RULE ID: description");
            snprintf(c->file, sizeof(c->file), "%s", path);
            c->line = lineno;
            for (int i = 0; i < ncases - 1; i++)
                if (strcmp(cases[i].id, c->id) == 0)
                    die(path, lineno, "duplicate case id %s", c->id);
            continue;
        }
        case_t *c = cur_case(path, lineno);
        if (strcmp(s, "config") == 0) {
            snprintf(c->config, sizeof(c->config), "%s", arg);
        } else if (strcmp(s, "send") == 0) {
            buf_t b = { 0 };
            unescape(arg, &b, path, lineno);
            step_t *st = c->nsteps ? &c->steps[c->nsteps - 1] : NULL;
            if (!st || st->kind != ST_SEND)
                st = add_step(c, ST_SEND, lineno);
            buf_t all = { st->bytes, st->len, st->len + 1 };
            if (!all.p)
                all.cap = 0;
            buf_put(&all, b.p ? b.p : "", b.len);
            st->bytes = all.p;
            st->len = all.len;
            free(b.p);
        } else if (strcmp(s, "pause") == 0) {
            add_step(c, ST_PAUSE, lineno)->arg = atol(arg);
        } else if (strcmp(s, "expect") == 0 || strcmp(s, "expectn") == 0) {
            /* expectn N STATUS ...: N responses alike */
            long times = 1;
            if (s[6] == 'n') {
                times = strtol(arg, &arg, 10);
                while (*arg == ' ')
                    arg++;
                if (times < 1)
                    die(path, lineno, "expectn needs a count");
            }
            for (long t = 0; t < times; t++) {
                step_t *st = add_step(c, ST_EXPECT, lineno);
                char *words = strdup(arg), *save = NULL;
                char *w = strtok_r(words, " ", &save);
                if (!w)
                    die(path, lineno, "expect needs a status");
                st->arg = atol(w);
                while ((w = strtok_r(NULL, " ", &save))) {
                    st->checks = realloc(st->checks, (size_t)(st->nchecks + 1) * sizeof(char *));
                    buf_t b = { 0 };
                    unescape(w, &b, path, lineno);
                    st->checks[st->nchecks++] = b.p;
                }
                free(words);
            }
        } else if (strcmp(s, "closed") == 0) {
            add_step(c, ST_CLOSED, lineno)->arg = *arg ? atol(arg) : READ_MS;
        } else if (strcmp(s, "open") == 0) {
            add_step(c, ST_OPEN, lineno)->arg = *arg ? atol(arg) : 150;
        } else if (strcmp(s, "silent") == 0) {
            add_step(c, ST_SILENT, lineno)->arg = atol(arg);
        } else if (strcmp(s, "conn") == 0) {
            long k = atol(arg);
            if (k < 0 || k >= MAX_CONNS)
                die(path, lineno, "connection index out of range");
            add_step(c, ST_CONN, lineno)->arg = k;
        } else if (strcmp(s, "close") == 0) {
            add_step(c, ST_CLOSE, lineno);
        } else if (strcmp(s, "shutdown") == 0) {
            add_step(c, ST_SHUTDOWN, lineno);
        } else if (strcmp(s, "drain") == 0) {
            step_t *st = add_step(c, ST_DRAIN, lineno);
            if (sscanf(arg, "%ld %ld", &st->arg, &st->arg2) != 2)
                die(path, lineno, "expected: drain MS MAX_BYTES");
        } else if (strcmp(s, "never") == 0) {
            buf_t b = { 0 };
            unescape(arg, &b, path, lineno);
            c->never = realloc(c->never, (size_t)(c->nnever + 1) * sizeof(char *));
            c->never_len = realloc(c->never_len, (size_t)(c->nnever + 1) * sizeof(size_t));
            c->never[c->nnever] = b.p;
            c->never_len[c->nnever++] = b.len;
        } else if (strcmp(s, "nocount") == 0) {
            c->nocount = true;
        } else {
            die(path, lineno, "unknown directive '%s'", s);
        }
    }
    free(line);
    fclose(f);
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        die(path, 0, "%s", strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        die(path, 0, "%s", strerror(errno));
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 5 && strcmp(e->d_name + l - 5, ".case") == 0) {
            names = realloc(names, (size_t)(n + 1) * sizeof(char *));
            names[n] = malloc(strlen(path) + l + 2);
            sprintf(names[n], "%s/%s", path, e->d_name);
            n++;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_names);
    for (int i = 0; i < n; i++) {
        load_file(names[i]);
        free(names[i]);
    }
    free(names);
}

/* ---------------------------------------------------------- the client */

typedef struct conn {
    int fd;
    buf_t in; /* received, not yet consumed */
    bool eof;
    bool reset;
} conn_t;

typedef struct run {
    case_t *c;
    server_t *srv;
    conn_t conns[MAX_CONNS];
    int cur;
    buf_t all; /* everything received, for 'never' */
    int framework_errors;
    bool shut[MAX_CONNS]; /* the client shut its side: the close is its doing */
    char why[2048];
} run_t;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fail(run_t *r, const step_t *st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(r->why, sizeof(r->why), "line %d: ", st ? st->line : r->c->line);
    vsnprintf(r->why + n, sizeof(r->why) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int conn_open(run_t *r, int k) {
    conn_t *c = &r->conns[k];
    if (c->fd > 0)
        return 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return fail(r, NULL, "socket: %s", strerror(errno));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)r->srv->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return fail(r, NULL, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (over_tls && (c->fd = fht_tls_relay(c->fd)) < 0)
        return fail(r, NULL, "relay: %s", strerror(errno));
    struct timeval tv = { 3, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

/* Reads what is there within ms; returns bytes read, 0 on EOF/reset or
 * timeout (c->eof tells which). */
static ssize_t conn_fill(run_t *r, conn_t *c, int ms) {
    if (c->eof)
        return 0;
    struct pollfd pfd = { c->fd, POLLIN, 0 };
    int pr = poll(&pfd, 1, ms);
    if (pr <= 0)
        return 0;
    char tmp[65536];
    ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (n > 0) {
        buf_put(&c->in, tmp, (size_t)n);
        buf_put(&r->all, tmp, (size_t)n);
        return n;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = true;
        c->reset = n < 0;
    }
    return 0;
}

static const char *find(const char *hay, size_t n, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return hay + i;
    return NULL;
}

/* The value of header name in head (NUL-terminated), copied; NULL if none. */
static bool header(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line && line[2] && !(line[2] == '\r' && line[3] == '\n')) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (out) {
                if (vl >= cap)
                    vl = cap - 1;
                memcpy(out, v, vl);
                out[vl] = '\0';
            }
            return true;
        }
        line = eol;
    }
    return false;
}

static void printable(const char *p, size_t n, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20 || c >= 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        else
            out[o++] = (char)c;
    }
    out[o] = '\0';
}

static bool is_imf_fixdate(const char *d) {
    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    static const char *days = "MonTueWedThuFriSatSun";
    if (strlen(d) != 29 || d[3] != ',' || d[4] != ' ' || d[7] != ' ' || d[11] != ' ' ||
        d[16] != ' ' || d[19] != ':' || d[22] != ':' || strcmp(d + 25, " GMT") != 0)
        return false;
    bool day = false;
    for (int i = 0; i < 7; i++)
        day |= strncmp(d, days + 3 * i, 3) == 0;
    return day && isdigit((unsigned char)d[5]) && isdigit((unsigned char)d[12]);
}

/* Reads and checks one response for an expect step. closes_after tells
 * whether the case expects the server to close right after it. */
static int expect_response(run_t *r, const step_t *st, bool closes_after) {
    conn_t *c = &r->conns[r->cur];
    uint64_t deadline = now_ms() + READ_MS;
    const char *end;
    while (!(c->in.p && (end = find(c->in.p, c->in.len, "\r\n\r\n")))) {
        if (c->eof || now_ms() >= deadline) {
            char got[512];
            printable(c->in.p ? c->in.p : "", c->in.len, got, sizeof(got));
            return fail(r, st, "expected a %ld response, got %s after '%s'", st->arg,
                        c->eof ? (c->reset ? "a reset" : "EOF") : "nothing", got);
        }
        conn_fill(r, c, (int)(deadline - now_ms()));
    }
    size_t hlen = (size_t)(end - c->in.p) + 4;
    char *head = strndup(c->in.p, hlen);
    int status = 0;
    int rc = 0;
    char v[256];
    if (sscanf(head, "HTTP/1.1 %3d ", &status) != 1 || strncmp(head, "HTTP/1.1 ", 9) != 0) {
        char got[300];
        printable(head, hlen, got, sizeof(got));
        rc = fail(r, st, "not an HTTP/1.1 status line: %s", got);
        goto done;
    }
    bool head_req = false;
    for (int i = 0; i < st->nchecks; i++)
        head_req |= strcmp(st->checks[i], "head") == 0;
    bool bodyless = status < 200 || status == 204 || status == 304;
    bool has_cl = header(head, "Content-Length", v, sizeof(v));
    size_t cl = has_cl ? strtoul(v, NULL, 10) : 0;
    if (bodyless && (has_cl || header(head, "Transfer-Encoding", NULL, 0))) {
        rc = fail(r, st, "a %d response with Content-Length or Transfer-Encoding", status);
        goto done;
    }
    if (!bodyless && !has_cl) {
        rc = fail(r, st, "a %d response without Content-Length", status);
        goto done;
    }
    if (status >= 200 && (!header(head, "Date", v, sizeof(v)) || !is_imf_fixdate(v))) {
        rc = fail(r, st, "no IMF-fixdate Date in the %d response", status);
        goto done;
    }
    size_t blen = bodyless || head_req ? 0 : cl;
    while (c->in.len < hlen + blen) {
        if (c->eof || now_ms() >= deadline) {
            rc = fail(r, st, "the %d response's body is short: %zu of %zu bytes", status,
                      c->in.len - hlen, blen);
            goto done;
        }
        conn_fill(r, c, (int)(deadline - now_ms()));
    }
    char *body = strndup(c->in.p + hlen, blen);
    memmove(c->in.p, c->in.p + hlen + blen, c->in.len - hlen - blen);
    c->in.len -= hlen + blen;

    bool from_handler = header(head, "X-Handler", NULL, 0);
    if (!from_handler && status >= 400) {
        r->framework_errors++;
        if (blen > 64)
            rc = fail(r, st, "a framework %d response of %zu bytes", status, blen);
    }
    if (closes_after && !r->shut[r->cur] &&
        (!header(head, "Connection", v, sizeof(v)) || strcasecmp(v, "close") != 0))
        rc = fail(r, st, "the %d response before the close lacks Connection: close", status);
    if (status != st->arg && rc == 0) {
        char got[400];
        printable(head, hlen, got, sizeof(got));
        rc = fail(r, st, "status %d, expected %ld (%s)", status, st->arg, got);
    }
    for (int i = 0; i < st->nchecks && rc == 0; i++) {
        const char *ck = st->checks[i];
        if (strcmp(ck, "head") == 0)
            continue;
        if (strncmp(ck, "body=", 5) == 0) {
            if (strcmp(body, ck + 5) != 0) {
                char got[300];
                printable(body, blen, got, sizeof(got));
                rc = fail(r, st, "body '%s', expected '%s'", got, ck + 5);
            }
        } else if (ck[0] == '+') {
            if (!header(head, ck + 1, NULL, 0))
                rc = fail(r, st, "no %s header", ck + 1);
        } else if (ck[0] == '-') {
            if (header(head, ck + 1, NULL, 0))
                rc = fail(r, st, "an unexpected %s header", ck + 1);
        } else if (strchr(ck, '=')) {
            char name[128];
            size_t nl = (size_t)(strchr(ck, '=') - ck);
            snprintf(name, sizeof(name), "%.*s", (int)nl, ck);
            if (!header(head, name, v, sizeof(v)))
                rc = fail(r, st, "no %s header", name);
            else if (strcmp(v, ck + nl + 1) != 0)
                rc = fail(r, st, "%s: '%s', expected '%s'", name, v, ck + nl + 1);
        } else {
            rc = fail(r, st, "unknown check '%s'", ck);
        }
    }
    free(body);
done:
    free(head);
    return rc;
}

static int check_closed(run_t *r, const step_t *st) {
    conn_t *c = &r->conns[r->cur];
    uint64_t deadline = now_ms() + (uint64_t)st->arg;
    while (!c->eof && now_ms() < deadline && c->in.len == 0)
        conn_fill(r, c, (int)(deadline - now_ms()));
    if (c->in.len) {
        char got[400];
        printable(c->in.p, c->in.len, got, sizeof(got));
        return fail(r, st, "expected the close, got more bytes: %s", got);
    }
    if (!c->eof)
        return fail(r, st, "the connection is still open after %ld ms", st->arg);
    return 0;
}

static int check_silent(run_t *r, const step_t *st, bool open) {
    conn_t *c = &r->conns[r->cur];
    uint64_t deadline = now_ms() + (uint64_t)st->arg;
    while (!c->eof && now_ms() < deadline)
        conn_fill(r, c, (int)(deadline - now_ms()));
    if (c->in.len) {
        char got[400];
        printable(c->in.p, c->in.len, got, sizeof(got));
        return fail(r, st, "expected silence, got: %s", got);
    }
    if (open && c->eof)
        return fail(r, st, "expected the connection to stay open, it closed");
    return 0;
}

static int do_send(run_t *r, const step_t *st) {
    conn_t *c = &r->conns[r->cur];
    size_t off = 0;
    while (off < st->len) {
        ssize_t n = send(c->fd, st->bytes + off, st->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0; /* the server may close early: what it said is checked next */
        off += (size_t)n;
    }
    return 0;
}

static int do_drain(run_t *r, const step_t *st) {
    conn_t *c = &r->conns[r->cur];
    uint64_t deadline = now_ms() + (uint64_t)st->arg;
    size_t total = c->in.len;
    c->in.len = 0;
    while (!c->eof && now_ms() < deadline) {
        char tmp[65536];
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
            continue;
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n > 0)
            total += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->eof = true;
    }
    if (!c->eof)
        return fail(r, st, "no close within %ld ms (%zu bytes read)", st->arg, total);
    if ((long)total >= st->arg2)
        return fail(r, st, "%zu bytes arrived, expected fewer than %ld", total, st->arg2);
    return 0;
}

static bool next_is_closed(const case_t *c, int i) {
    return i + 1 < c->nsteps && c->steps[i + 1].kind == ST_CLOSED;
}

static int apply_config(fh_server_config_t *cfg, const char *spec, const case_t *c) {
    char *copy = strdup(spec), *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(w, '=');
        if (!eq)
            die(c->file, c->line, "config wants key=value");
        *eq = '\0';
        unsigned long v = strtoul(eq + 1, NULL, 10);
        fh_limits_t *l = &cfg->limits;
        fh_timeouts_t *t = &cfg->timeouts;
        if (!strcmp(w, "threads"))
            cfg->threads = (int)v;
        else if (!strcmp(w, "max_target"))
            l->max_target = v;
        else if (!strcmp(w, "max_header_bytes"))
            l->max_header_bytes = v;
        else if (!strcmp(w, "max_headers"))
            l->max_headers = v;
        else if (!strcmp(w, "max_body"))
            l->max_body = v;
        else if (!strcmp(w, "max_chunk_ext"))
            l->max_chunk_ext = v;
        else if (!strcmp(w, "max_pipelined"))
            l->max_pipelined = v;
        else if (!strcmp(w, "max_connections"))
            l->max_connections = v;
        else if (!strcmp(w, "max_discard"))
            l->max_discard = v;
        else if (!strcmp(w, "header_ms"))
            t->header_ms = (uint32_t)v;
        else if (!strcmp(w, "body_ms"))
            t->body_ms = (uint32_t)v;
        else if (!strcmp(w, "keepalive_ms"))
            t->keepalive_ms = (uint32_t)v;
        else if (!strcmp(w, "write_ms"))
            t->write_ms = (uint32_t)v;
        else
            die(c->file, c->line, "unknown config key %s", w);
    }
    free(copy);
    return 0;
}

static uint64_t errors_of(server_t *srv) {
    fh_server_stats_t st;
    fh_server_stats(srv->s, &st);
    return st.errors_4xx + st.errors_5xx;
}

static int run_case(case_t *c, server_t *shared) {
    run_t r;
    memset(&r, 0, sizeof(r));
    r.c = c;
    server_t own = { 0 };
    r.srv = shared;
    if (c->config[0]) {
        fh_server_config_t cfg = fh_server_config_default();
        cfg.threads = 1;
        apply_config(&cfg, c->config, c);
        if (server_start(&own, &cfg) != 0) {
            snprintf(r.why, sizeof(r.why), "the server did not start");
            printf("not ok - %s: %s\n", c->id, r.why);
            return -1;
        }
        r.srv = &own;
    }
    uint64_t errors_before = errors_of(r.srv);
    int rc = conn_open(&r, 0);
    for (int i = 0; i < c->nsteps && rc == 0; i++) {
        step_t *st = &c->steps[i];
        switch (st->kind) {
        case ST_SEND: rc = do_send(&r, st); break;
        case ST_PAUSE: usleep((useconds_t)st->arg * 1000); break;
        case ST_EXPECT: rc = expect_response(&r, st, next_is_closed(c, i)); break;
        case ST_CLOSED: rc = check_closed(&r, st); break;
        case ST_OPEN: rc = check_silent(&r, st, true); break;
        case ST_SILENT: rc = check_silent(&r, st, false); break;
        case ST_CONN:
            r.cur = (int)st->arg;
            rc = conn_open(&r, r.cur);
            break;
        case ST_CLOSE:
            close(r.conns[r.cur].fd);
            r.conns[r.cur].fd = -1;
            break;
        case ST_SHUTDOWN:
            shutdown(r.conns[r.cur].fd, SHUT_WR);
            r.shut[r.cur] = true;
            break;
        case ST_DRAIN: rc = do_drain(&r, st); break;
        }
    }
    for (int k = 0; rc == 0 && k < c->nnever; k++) {
        for (size_t i = 0; i + c->never_len[k] <= r.all.len; i++) {
            if (memcmp(r.all.p + i, c->never[k], c->never_len[k]) == 0) {
                char what[200];
                printable(c->never[k], c->never_len[k], what, sizeof(what));
                rc = fail(&r, NULL, "'%s' appeared in a response", what);
                break;
            }
        }
    }
    for (int k = 0; k < MAX_CONNS; k++)
        if (r.conns[k].fd > 0)
            close(r.conns[k].fd);
    if (rc == 0 && !c->nocount) {
        /* The counter moves before the response is written: no wait needed. */
        uint64_t counted = errors_of(r.srv) - errors_before;
        if (counted != (uint64_t)r.framework_errors)
            rc = fail(&r, NULL, "%llu framework errors counted, %d seen",
                      (unsigned long long)counted, r.framework_errors);
    }
    server_stop(&own);
    for (int k = 0; k < MAX_CONNS; k++)
        free(r.conns[k].in.p);
    free(r.all.p);
    if (rc != 0)
        printf("not ok - %s (%s:%d) %s\n", c->id, c->file, c->line, r.why);
    return rc;
}

/* The sections of CONFORMANCE.md and the rules they hold. */
static const struct {
    const char *name;
    int first, last;
} sections[] = {
    { "llhttp as shipped by Debian", 0, 0 },
    { "Framing and smuggling", 1, 6 },
    { "Syntax", 7, 12 },
    { "Limits and time", 13, 16 },
    { "Connection", 17, 19 },
    { "Responses", 20, 20 },
};

static void print_counts(void) {
    int per_rule[21] = { 0 };
    for (int i = 0; i < ncases; i++)
        if (cases[i].rule >= 0 && cases[i].rule <= 20)
            per_rule[cases[i].rule]++;
    for (size_t s = 0; s < sizeof(sections) / sizeof(sections[0]); s++) {
        int total = 0;
        for (int k = sections[s].first; k <= sections[s].last; k++)
            total += per_rule[k];
        printf("# %-30s %3d cases (", sections[s].name, total);
        for (int k = sections[s].first; k <= sections[s].last; k++)
            printf("%srule %d: %d", k == sections[s].first ? "" : ", ", k, per_rule[k]);
        printf(")\n");
    }
    printf("# total %d cases\n", ncases);
}

int main(int argc, char **argv) {
    bool verbose = false, list = false;
    const char *only = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "vltk:")) != -1) {
        switch (opt) {
        case 'v': verbose = true; break;
        case 't': over_tls = true; break;
        case 'l': list = true; break;
        case 'k': only = optarg; break;
        default: fprintf(stderr, "usage: %s [-v] [-l] [-t] [-k ID] CASES...\n", argv[0]); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "usage: %s [-v] [-l] [-t] [-k ID] CASES...\n", argv[0]);
        return 2;
    }
    for (int i = optind; i < argc; i++)
        load_path(argv[i]);
    for (int i = 0; i < ncases; i++)
        if (cases[i].rule < 0 || cases[i].rule > 20)
            die(cases[i].file, cases[i].line, "rule must be 0..20");
    print_counts();
    if (list)
        return 0;
    for (size_t i = 0; i < sizeof(big_body); i++)
        big_body[i] = (char)('a' + i % 26);
    if (over_tls && tls_setup() != 0) {
        fprintf(stderr, "-t: could not make a certificate with openssl\n");
        return 1;
    }
    if (fh_router_new(&router, NULL) != 0 || fh_router_mount(router, "/r", routes, NULL) != 0) {
        fprintf(stderr, "router: %s\n", router ? fh_router_error(router) : "no memory");
        return 1;
    }
    fh_server_config_t cfg = fh_server_config_default();
    cfg.threads = 2;
    server_t shared = { 0 };
    if (server_start(&shared, &cfg) != 0)
        return 1;
    int failed = 0, ran = 0;
    uint64_t t0 = now_ms();
    for (int i = 0; i < ncases; i++) {
        if (only && !strstr(cases[i].id, only))
            continue;
        ran++;
        uint64_t t = now_ms();
        if (run_case(&cases[i], &shared) != 0)
            failed++;
        else if (verbose)
            printf("ok - %s (%llu ms)\n", cases[i].id, (unsigned long long)(now_ms() - t));
    }
    server_stop(&shared);
    printf("# %d of %d cases passed in %llu ms\n", ran - failed, ran,
           (unsigned long long)(now_ms() - t0));
    fh_router_free(router);
    for (int i = 0; i < ncases; i++) {
        case_t *c = &cases[i];
        for (int k = 0; k < c->nsteps; k++) {
            free(c->steps[k].bytes);
            for (int j = 0; j < c->steps[k].nchecks; j++)
                free(c->steps[k].checks[j]);
            free(c->steps[k].checks);
        }
        free(c->steps);
        for (int k = 0; k < c->nnever; k++)
            free(c->never[k]);
        free(c->never);
        free(c->never_len);
    }
    free(cases);
    return failed ? 1 : 0;
}
