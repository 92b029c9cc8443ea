/* The ceiling for bench/upload: a bare receive loop on a blocking socket.
 * Accepts one connection at a time on 127.0.0.1:PORT, reads a request head
 * up to its empty line, then exactly Content-Length body bytes into a
 * 64 KiB buffer it never looks at, answers "201 Created" and closes. No
 * parsing beyond that, no allocation, no event loop: what moving the bytes
 * out of the kernel costs, and nothing else.
 *
 *   upload_sink PORT      (runs until killed) */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536];

static void serve(int fd) {
    size_t have = 0;
    char *end = NULL;
    while (!end && have < sizeof(buf) - 1) {
        ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    if (!end)
        return;
    unsigned long long left = 0;
    for (char *p = buf; p < end; p++)
        if ((p == buf || p[-1] == '\n') && strncasecmp(p, "Content-Length:", 15) == 0)
            left = strtoull(p + 15, NULL, 10);
    size_t got = have - (size_t)(end + 4 - buf);
    left = got >= left ? 0 : left - got;
    while (left > 0) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        left = (size_t)n >= left ? 0 : left - (size_t)n;
    }
    static const char ok[] =
        "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (write(fd, ok, sizeof(ok) - 1) < 0)
        return;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: upload_sink PORT\n");
        return 2;
    }
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(argv[1])),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 16) != 0) {
        perror("upload_sink");
        return 1;
    }
    printf("upload_sink: listening on port %s with 1 thread\n", argv[1]);
    fflush(stdout);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        serve(fd);
        close(fd);
    }
}
