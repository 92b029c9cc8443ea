/* Internal: the zero-downtime restart (restart.c).
 *
 * fh_server_restart starts a new generation of the program (posix_spawn
 * of the same binary, or cfg.restart_path, with the same arguments and
 * environment) and hands it every listening socket of the server, each
 * distinct socket once (with SO_REUSEPORT, one per worker), and each TCP
 * port's claim (listener.c), as descriptors 3, 4...; and the write end of
 * a pipe. Variables of the child's environment say what is where:
 *
 *   FASTHTTP_LISTEN_PID        the parent's pid: the child takes the rest
 *                              only when it is its parent (a grandchild
 *                              that inherited the variables does not);
 *   FASTHTTP_LISTEN_FDS=N      descriptors 3 .. 3+N-1 are listening
 *                              sockets, several per address maybe;
 *   FASTHTTP_LISTEN_LOCKS=P,Q  the next descriptors are the claims of the
 *                              ports P, Q... in that order;
 *   FASTHTTP_LISTEN_ACTIVATED=1  the sockets came from systemd's socket
 *                              activation: served as the one listener,
 *                              whatever the config says (as systemd's);
 *   FASTHTTP_READY_FD=FD       written one byte once every worker's loop
 *                              runs (it accepts), then closed.
 *
 * The child's fh_server_new matches its config's listeners to the
 * sockets by their bound address (getsockname), binds only what is not
 * there, and closes inherited sockets no entry wants (logged). The parent
 * waits for the byte (timeouts.restart_ms): only then does it stop
 * accepting and drain, the sockets staying open in the child, so that no
 * connection in an accept queue is lost. An end of the pipe without the
 * byte (the child exited) or no byte in time (the child is sent SIGTERM)
 * leaves the parent serving, with the reason logged. */
#ifndef FH_CORE_RESTART_H
#define FH_CORE_RESTART_H

#include <fasthttp.h>
#include <stdbool.h>

/* What a parent handed over, kept while fh_server_new makes the server. */
typedef struct fh__inherit fh__inherit_t;

/* Reads the variables above (unsetting them) into *out: NULL when this
 * process was handed nothing. Each socket is checked (listening), made
 * close-on-exec; *ready_fd gets the pipe (-1 when none). Returns 0 or
 * FH_ENOMEM. */
int fh__inherit_read(fh__inherit_t **out, int *ready_fd);
/* Whether the sockets came from socket activation (served as entry 0). */
bool fh__inherit_activated(const fh__inherit_t *in);
/* Moves into fds (room for every inherited socket) the sockets not taken
 * yet that are bound to host and port as fh__listener_bind would bind
 * them (port 0: any port of that address, the first one handed over) and
 * returns how many; *bound gets their port. */
int fh__inherit_take_tcp(fh__inherit_t *in, const char *host, int port, int *fds, int *bound);
/* The same for a Unix-domain socket bound to path. */
int fh__inherit_take_unix(fh__inherit_t *in, const char *path, int *fds);
/* Every socket not taken yet (socket activation's), and *bound the port
 * of the first. */
int fh__inherit_take_all(fh__inherit_t *in, int *fds, int *bound);
/* The handed-over claim of port, moved to the caller, or -1. */
int fh__inherit_take_lock(fh__inherit_t *in, int port);
/* How many sockets were handed over (the room fds need). */
int fh__inherit_count(const fh__inherit_t *in);
/* Closes what no listener took (each socket logged with its address) and
 * frees in. NULL is a no-op. */
void fh__inherit_free(fh__inherit_t *in);

/* The restart itself (fh_server_restart), once s->restarting is set by
 * the caller, who clears it after. Blocks until the child is ready or has
 * failed. */
int fh__restart_run(fh_server_t *s);

/* Every worker's loop runs: writes the byte to the server's ready pipe
 * (a restart's new generation) and tells systemd READY=1 (notify.h).
 * Called once per server, on a worker thread. */
void fh__restart_ready(fh_server_t *s);

#endif
