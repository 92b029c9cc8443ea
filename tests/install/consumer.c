/* A program built out of tree against the installed library: it starts a
 * server on an ephemeral port, asks itself one request and checks the
 * answer, so linking and running are both proven. */
#include <fasthttp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int hello(fh_request_t *req, fh_response_t *res, void *data) {
    (void)req;
    (void)data;
    return fh_send_text(res, 200, "installed");
}

int main(void) {
    fh_server_config_t cfg = fh_server_config_default();
    cfg.host = "127.0.0.1";
    cfg.threads = 1;
    cfg.handler = hello;
    cfg.handle_signals = false;
    fh_server_t *s;
    if (fh_server_new(&s, &cfg) || fh_server_start(s))
        return 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)fh_server_port(s)) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        return 2;
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (write(fd, req, strlen(req)) < 0)
        return 3;
    char buf[1024] = { 0 };
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    fh_server_free(s);
    int ok = strstr(buf, "HTTP/1.1 200 OK") && strstr(buf, "\r\n\r\ninstalled");
    printf("%s\n", ok ? "consumer: ok" : "consumer: bad answer");
    return ok ? 0 : 4;
}
