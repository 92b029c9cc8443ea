/* The mistake docs/json.md warns about, made on purpose: GET /keep keeps
 * a value of its request in a global — a jansson object ("json") or an
 * arena string ("string") — and GET /use, a later request, reads it. In an
 * AddressSanitizer build that read must stop the program with a
 * heap-use-after-free report (tests/sanitize/kept_value.sh checks it). In
 * a Debug build without ASan released arena memory reads as
 * FH__ARENA_POISON_BYTE: /use answers the kept string's first byte in hex,
 * and a kept jansson object (FH_JSON_TRACK=0, so that it lies in the arena)
 * is no object any more: /use answers "(none)".
 *
 * Usage: keep_past_request json|string */
#include <fasthttp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bool json_mode;
static json_t *kept_json;  /* the mistake: a request's value kept */
static const char *kept_s; /* the same with an arena string */

/* Moves the arena 8,000 bytes into its first chunk, so that what /keep
 * keeps lies where /use, handed the same chunk from the cache, does not
 * write before reading it. Each piece stays under a quarter of the default
 * 16 KiB chunk: bigger ones would get blocks of their own. */
static bool skip(fh_request_t *req) { return fh_alloc(req, 4000) && fh_alloc(req, 4000); }

static int keep(fh_request_t *req, fh_response_t *res) {
    if (!skip(req))
        return fh_send_text(res, 500, "out of memory");
    if (json_mode)
        kept_json = json_pack("{s:s}", "name", "Ada Lovelace");
    else
        kept_s = fh_strdup(req, "Ada Lovelace");
    return fh_send_text(res, 200, "kept");
}

static int use(fh_response_t *res) {
    if (json_mode) {
        const char *name = json_string_value(json_object_get(kept_json, "name"));
        return fh_send_textf(res, 200, "%s", name ? name : "(none)");
    }
    return fh_send_textf(res, 200, "%02x", (unsigned char)kept_s[0]);
}

static int handler(fh_request_t *req, fh_response_t *res, void *data) {
    (void)data;
    return fh_str_eq(fh_request_path(req), "/keep") ? keep(req, res) : use(res);
}

/* One request on a new connection; the answer's body on stdout. */
static int ask(int port, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return -1;
    char req[128], buf[4096];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, strlen(req)) < 0)
        return -1;
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    printf("%s %s\n", path, body ? body + 4 : "(no answer)");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "json") && strcmp(argv[1], "string"))) {
        fprintf(stderr, "usage: keep_past_request json|string\n");
        return 2;
    }
    json_mode = strcmp(argv[1], "json") == 0;
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.handler = handler;
    cfg.handle_signals = false;
    fh_server_t *s;
    if (fh_server_new(&s, &cfg) || fh_server_start(s))
        return 3;
    /* Connection: close: /keep's arena is released once its answer is
     * written, before /use is even sent. */
    int rc = ask(fh_server_port(s), "/keep") || ask(fh_server_port(s), "/use");
    fh_server_free(s);
    return rc ? 4 : 0;
}
