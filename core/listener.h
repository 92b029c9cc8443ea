/* Internal: listening sockets and accepting (listener.c).
 *
 * Each worker has its own listening socket (SO_REUSEPORT), watched with a
 * uv_poll_t and accepted from here rather than through uv_listen, so that
 * accepting can pause: at the connection cap, and when the process is out
 * of descriptors (EMFILE, ENFILE) or of memory. Paused, the watcher is
 * stopped and pending connections wait in the kernel's queue; a closing
 * connection or the next tick resumes. (libuv's listener cannot pause on
 * an accept error: its spare-descriptor trick is one per loop, threads race
 * for the freed slot, and a loop that loses it gets the error back on every
 * turn of a level-triggered poll: a spin.) Every accepted socket becomes a
 * connection over the server's transport (TCP or TLS) speaking HTTP/1.1. */
#ifndef FH_CORE_LISTENER_H
#define FH_CORE_LISTENER_H

#include <fasthttp.h>
#include <sys/socket.h>

typedef struct fh__worker fh__worker_t;

/* Listening addresses per server (config.listen). */
enum { FH__LISTENERS_MAX = 8 };

typedef struct fh__listener {
    uv_poll_t poll;
    uv_os_sock_t fd; /* -1 when none */
    fh__worker_t *w;
    int entry;   /* the config.listen entry it serves (0 for host and port) */
    bool open;   /* the poll handle is initialized and not closed */
    bool paused; /* accepting stopped (cap, descriptors, memory) */
    /* A dup of another worker's socket (a Unix socket, an activated or
     * inherited one shared by more workers than there are sockets): a
     * restart hands over the socket once, through its first holder. */
    bool dup;
} fh__listener_t;

/* Claims port for this server, alone or shared: a lock on a file named
 * after the port (/tmp/fasthttp-tcp-PORT.lock), exclusive or shared, held
 * while the descriptor is open, which conflicts with the other servers'
 * claims in every process of the machine. Returns the descriptor (close it
 * to give the port up), FH_EADDRINUSE when another server holds a claim
 * that conflicts, FH_ENOENT when no such file can be made (nothing is
 * claimed then), or another error. */
int fh__listener_claim_port(int port, bool share);

/* The listening socket systemd passed (socket activation: LISTEN_PID is
 * this process and LISTEN_FDS at least 1): descriptor 3, made
 * non-blocking, with LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES unset so
 * that no later server or child takes it again; -1 when there is none. */
int fh__listener_activated(void);

/* Makes a bound, listening, non-blocking socket with SO_REUSEPORT on host
 * (NULL: every interface, IPv6 and IPv4; "localhost": 127.0.0.1) and port
 * (0: an ephemeral one). *bound gets the port. Returns 0, FH_ECONFIG with
 * *why set (a bad host), or a libuv error. */
int fh__listener_bind(const char *host, int port, int backlog, uv_os_sock_t *out, int *bound,
                      const char **why);
/* The address fh__listener_bind binds for host and port into *ss (the
 * dual-stack "::" for NULL; *dual then true). Returns 0, or FH_ECONFIG when
 * host is not an address. */
int fh__listener_addr(const char *host, int port, struct sockaddr_storage *ss, bool *dual);
/* Makes a listening, non-blocking Unix-domain stream socket at path with
 * the file mode mode. A socket file already there is removed only when
 * nothing listens on it (a connect is refused); one that answers, or a
 * file that is not a socket, is FH_EADDRINUSE. Returns 0 or an error. */
int fh__listener_bind_unix(const char *path, unsigned mode, int backlog, uv_os_sock_t *out);
/* Starts accepting on l's socket (already in l->fd) on w's loop. */
int fh__listener_start(fh__listener_t *l, fh__worker_t *w);
/* Resumes accepting when it paused and the cause is gone. */
void fh__listener_resume(fh__listener_t *l);
/* Stops for good: accepts what the kernel has queued already (those
 * connections are served like any other), then closes the socket, so
 * that a client connecting later is refused rather than reset. */
void fh__listener_close(fh__listener_t *l);

#endif
