/**
 * @file
 * fasthttp — the server: worker threads, listeners, limits, timeouts.
 *
 * Each worker thread runs its own uv_loop_t with its own listening socket
 * (SO_REUSEPORT, so the kernel balances accepted connections), its own
 * connections, timers, arena cache and Date string. Everything a request
 * touches stays on the thread that accepted it; there are no locks on the
 * request path.
 *
 *     fh_server_config_t cfg = fh_server_config_default();
 *     cfg.port = 3000;
 *     cfg.handler = hello;
 *     fh_server_t *server;
 *     int err = fh_server_new(&server, &cfg);
 *     if (err) { fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err)); ... }
 *     err = fh_server_run(server);   // returns after SIGINT/SIGTERM
 *     fh_server_free(server);
 *
 * The error handler. Requests the core refuses never reach cfg.handler, so
 * by default no middleware sees them: the access log does not log them and
 * a JSON service answers them in text. cfg.error_handler, when set, is
 * called for each of them. When it runs, res already holds the core's
 * answer: the status, a text/plain body naming it ("Bad Request") and, for
 * refusals while reading, Connection: close. It may
 *   - replace the body and its Content-Type, add headers (a problem+json
 *     body, a request id), and end the response (fh_send_*, fh_response_end)
 *     or just return 0, which ends it as built;
 *   - read whatever of the request was parsed: for garbage the method and
 *     target are absent views, fh_request_method_id is FH_METHOD_OTHER and
 *     fh_request_version is 0; headers may be missing or cut short, the
 *     body partial or absent. Every request accessor is safe on such a
 *     request. Views stay valid while the handler runs only: copy what a
 *     done hook needs (the access log does);
 *   - not change the status: a status set by the handler (fh_send_problem
 *     with another code, fh_send_status...) is put back to the core's;
 *   - not keep the connection open: it closes when the core said so;
 *   - not defer, stream or take over the response (fh_response_defer,
 *     fh_stream_begin, fh_request_takeover and fh_offload return
 *     FH_ESTATE), nor send raw bytes: after fh_send_raw, or a negative
 *     return with the response not ended, the core's own answer is sent.
 * Since fh_chain_handle (middleware.h) has the handler signature, the error
 * handler can be a chain: the access log and request id middleware around
 * a final handler that keeps the core's answer (fh_error_keep) or turns it
 * into problem+json (fh_json_error_handler, json.h):
 *
 *     fh_chain_new(&errors, fh_json_error_handler, NULL);
 *     fh_chain_use(errors, &access_log);   // the same middleware values
 *     fh_chain_use(errors, &request_id);   // as in the main chain
 *     cfg.error_handler = fh_chain_handle;
 *     cfg.error_handler_data = errors;
 *
 * It runs on the loop thread, inside a JSON arena scope as handlers do, and
 * costs nothing when NULL. It is not called for the 500 the core sends when
 * a handler fails: that request went through the handler's chain, whose
 * error and after hooks see it.
 */
#ifndef FASTHTTP_SERVER_H
#define FASTHTTP_SERVER_H

#include <stdio.h>

#include "common.h"
#include "request.h"
#include "tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Metrics a server counts into (metrics.h). */
typedef struct fh_metrics fh_metrics_t;

/** A server (opaque): its workers, listeners and connections. */
typedef struct fh_server fh_server_t;

/** Limits. A request over a limit gets the status in brackets, with
 * Connection: close, and the connection closes after it. 0 in a field means
 * "the default" (given here). docs/conformance.md lists every rule the
 * parser enforces and the status each breach gets. */
typedef struct fh_limits {
    size_t max_target;         /**< request target bytes: 16384 [414] */
    size_t max_header_bytes;   /**< request line + header section: 32768 [431] */
    size_t max_headers;        /**< header fields: 100 [431] */
    size_t max_body;           /**< body bytes: 8 MiB [413, sent at once] */
    size_t max_chunk_ext;      /**< chunk-extension bytes per chunk: 4096 [400] */
    size_t max_pipelined;      /**< unanswered requests per connection: 64;
                                 reading pauses at the cap */
    size_t max_connections;    /**< open connections per server: 10000;
                                 accepting pauses at the cap */
    size_t max_discard;        /**< after an error response the socket is
                                 shut for writing and up to this many
                                 bytes the client still sends (the rest
                                 of a body, pipelined requests) are read
                                 and dropped; past them nothing more is
                                 read; it is closed when the client ends
                                 its side, or after at most 2 s: the
                                 client then reads the error instead of
                                 a reset: 65536 */
    size_t max_request_memory; /**< memory one request may hold (its arena,
                                 jansson values built during it included):
                                 16 x max_body (128 MiB by default). An
                                 allocation past it fails; a request whose
                                 handler then fails is answered 413 (a
                                 problem document under an error handler),
                                 and its memory goes with it [413] */
} fh_limits_t;

/** Timeouts in milliseconds. 0 in a field means "the default". A timed-out
 * connection is closed (header and body timeouts answer 408 first). */
typedef struct fh_timeouts {
    uint32_t header_ms;    /**< request head must arrive within: 10000 */
    uint32_t body_ms;      /**< each body read must arrive within: 30000 */
    uint32_t keepalive_ms; /**< idle keep-alive connection: 60000 */
    uint32_t write_ms;     /**< pending response bytes must start leaving
                                within (a reader that stops; one that
                                reads slowly but steadily is kept): 30000 */
    uint32_t drain_ms;     /**< graceful stop waits for in-flight: 5000 */
    /** A restart's new generation must be ready (every worker of its
     * server accepting) within: 30000; otherwise it is sent SIGTERM and
     * this one keeps serving (fh_server_restart). */
    uint32_t restart_ms;
} fh_timeouts_t;

/** Everything a server is told; start from fh_server_config_default(). */
typedef struct fh_server_config {
    /** Address to listen on: an IPv4 or IPv6 literal or "localhost".
     * NULL (default) = all interfaces, IPv6 and IPv4 ("::" dual-stack, or
     * "0.0.0.0" where IPv6 is unavailable). */
    const char *host;
    /** 0 = an ephemeral port (see fh_server_port). Under systemd socket
     * activation (LISTEN_PID is this process, LISTEN_FDS at least 1) host
     * and port are ignored: every worker accepts on descriptor 3, the
     * socket systemd passed, and fh_server_new unsets LISTEN_PID,
     * LISTEN_FDS and LISTEN_FDNAMES. */
    int port;
    /** Several listeners: a NULL-terminated list of at most 8 addresses,
     * each "IPV4:PORT" (or "localhost:PORT"), "[IPV6]:PORT" or
     * "unix:PATH" (a Unix-domain socket, made with the mode unix_mode; a
     * socket file left there is removed only when nothing listens on it,
     * and the file is removed by fh_server_free). PORT 0 is an ephemeral
     * port (fh_server_listen_port). When set, host and port are ignored;
     * NULL (default): host and port are the one listener. The strings are
     * read by fh_server_new only. A bad entry is a config error naming
     * config.listen[i] and quoting it. */
    const char *const *listen;
    /** File mode of the Unix-domain sockets in listen: 0 (default) =
     * 0660; at most 0777. */
    unsigned unix_mode;
    int threads;           /**< worker threads; 0 = one per CPU (default) */
    int backlog;           /**< listen backlog: 1024 */
    fh_handler_fn handler; /**< required */
    void *handler_data;    /**< passed to handler */
    /** Called for every response the core produces itself, which no
     * handler or middleware sees otherwise: a request refused while it was
     * read (malformed [400], over a limit [413, 414, 431], a timeout
     * [408], an unknown method [501], an unsupported version [505], an
     * expectation [417]...). NULL (default): the core sends its short
     * text answer and nothing is called. See "The error handler" above. */
    fh_handler_fn error_handler;
    void *error_handler_data; /**< passed to error_handler */
    /** Which requests stream their body (body.h): called when the head of
     * a request with a body is complete; returns the most body bytes the
     * request may send when its body streams to the handler, 0 when it is
     * read whole (up to limits.max_body) as usual. fh_router_body_stream
     * answers for a router's routes. NULL (default): no body streams. */
    uint64_t (*body_stream)(fh_request_t *req, void *data);
    void *body_stream_data; /**< passed to body_stream */
    void *user_data;        /**< fh_request_server_data() */
    /** Server header value; default "fasthttp". "" sends none. */
    const char *server_name;
    fh_limits_t limits;       /**< request size and connection limits */
    fh_timeouts_t timeouts;   /**< connection timeouts */
    size_t arena_chunk_size;  /**< bytes per arena chunk: 16384 */
    size_t arena_cache_bytes; /**< free chunks kept per thread: 8 MiB */
    /** Print each request's arena use to stderr when it is released. Also
     * switched on by the environment variable FH_TRACE_ARENA=1. */
    bool trace_arena;
    /** Let other servers, in this process or another, listen on the same
     * port, the kernel spreading new connections over all of them
     * (SO_REUSEPORT). false (default): the port is this server's; a second
     * server asking for it, in any process of this machine
     * (a lock on /tmp/fasthttp-tcp-PORT.lock), fails with FH_EADDRINUSE and fh_server_config_error says
     * "cannot listen on 127.0.0.1:3000: address already in use", also when
     * the first one listens on another address of the same port. Each
     * server that shares the port sets it; a program that listens there
     * without SO_REUSEPORT (nginx without reuseport) is always refused. */
    bool share_port;
    /** Metrics the server counts into (metrics.h), from fh_metrics_new;
     * NULL (default): none, and nothing is counted for them. One server at
     * a time per metrics (FH_ECONFIG otherwise); free the metrics after the
     * server. */
    fh_metrics_t *metrics;
    /** fh_server_run stops on SIGINT and SIGTERM, reopens the access
     * logs' files on SIGUSR1 (fh_access_log_reopen), restarts without
     * downtime on SIGUSR2 (fh_server_restart, on a thread of its own) and,
     * with TLS, reloads the certificates on SIGHUP (default true). */
    bool handle_signals;
    /** The program a restart (fh_server_restart, SIGUSR2) runs, with this
     * process's arguments and environment. NULL (default): the file now at
     * the path this process was started from, so that a deploy that
     * replaced the binary runs the new one. Copied by fh_server_new. */
    const char *restart_path;
    /** HTTPS on the port when tls.cert_file is set (tls.h). */
    fh_tls_config_t tls;
} fh_server_config_t;

/** The defaults listed above. */
FH_API fh_server_config_t fh_server_config_default(void);

/** Reads the environment variables a deployment sets into cfg, those that
 * are set; the others leave cfg's fields as they are:
 * - PORT: a whole decimal number 0..65535 (0: an ephemeral port);
 * - THREADS: a whole decimal number 0..1024 (0: one per CPU);
 * - HOST: the address to listen on; "" or "*" for every interface (NULL).
 *   cfg->host then points into the environment: valid until HOST is set
 *   or unset again (fh_server_new copies it).
 * - TLS_CERT, TLS_KEY: cfg->tls.cert_file and key_file (one without the
 *   other is refused); TLS_CLIENT_CA: cfg->tls.client_ca_file;
 *   TLS_VERIFY_CLIENT: "none", "optional" or "required"; TLS_OCSP:
 *   cfg->tls.ocsp_file; TLS_TICKET_KEY: cfg->tls.ticket_key_file. Pointers into
 *   the environment, as HOST's. The files are read by fh_server_new, whose
 *   message names a file it cannot use.
 * Returns 0, or FH_ECONFIG with cfg unchanged when PORT or THREADS is not
 * such a number: fh_server_config_error then names the variable and its
 * value ("fasthttp: environment variable PORT: "80a" is not a whole number
 * in 0..65535"). */
FH_API int fh_server_config_env(fh_server_config_t *cfg);

/* ---- The command line ------------------------------------------------------ */

/** The kinds of a program's own flag (fh_flag_t). */
typedef enum fh_flag_kind {
    FH_FLAG_TEXT = 0, /**< --name VALUE: *text points at the value */
    FH_FLAG_NUMBER,   /**< --name N: a whole decimal number in min..max into *number */
    FH_FLAG_SWITCH,   /**< --name, without a value: *on becomes true */
} fh_flag_kind_t;

/** A flag of the program's own, read by fh_server_config_args beside the
 * server's. Write them with the FH_*_FLAG macros below. */
typedef struct fh_flag {
    /** "root" for --root: letters, digits and '-'; NULL ends a list. The
     * server's names (host, port, threads, tls-cert, tls-key, tls-ca,
     * tls-verify, help) are taken. */
    const char *name;
    fh_flag_kind_t kind; /**< what it takes and where it goes */
    const char *arg;     /**< the value's name in the usage ("DIR"); NULL: "VALUE" or "N" */
    /** An environment variable read when the flag is not given; NULL:
     * none. For a switch, "1", "true" and "yes" switch it on, "", "0",
     * "false" and "no" off. */
    const char *env;
    const char *help; /**< one line for the usage; NULL: none */
    /** FH_FLAG_TEXT: receives a pointer into argv or into the environment
     * (valid while they are); left as it is when neither gives a value,
     * and its value then is the default the usage shows. */
    const char **text;
    long *number; /**< FH_FLAG_NUMBER: receives the number; its value is the default */
    long min;     /**< FH_FLAG_NUMBER: the smallest value accepted */
    long max;     /**< FH_FLAG_NUMBER: the largest value accepted */
    bool *on;     /**< FH_FLAG_SWITCH: set by the flag or the environment */
} fh_flag_t;

/** @{ */
/** Entries of a flag list: a text, a number in lo..hi, a switch, and the
 * entry that ends the list. */
#define FH_TEXT_FLAG(name, arg, env, help, out)                                                    \
    { (name), FH_FLAG_TEXT, (arg), (env), (help), (out), NULL, 0, 0, NULL }
#define FH_NUMBER_FLAG(name, arg, env, help, out, lo, hi)                                          \
    { (name), FH_FLAG_NUMBER, (arg), (env), (help), NULL, (out), (lo), (hi), NULL }
#define FH_SWITCH_FLAG(name, env, help, out)                                                       \
    { (name), FH_FLAG_SWITCH, NULL, (env), (help), NULL, NULL, 0, 0, (out) }
#define FH_FLAGS_END                                                                               \
    { NULL, FH_FLAG_TEXT, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL }
/** @} */

/** What a program tells fh_server_config_args and fh_server_usage beyond
 * the server's flags. A zeroed struct (or NULL) means: no flags of its
 * own, no operands. */
typedef struct fh_args {
    const char *program;    /**< the name in the usage; NULL: argv[0] without its folders */
    const char *summary;    /**< one line under the usage line; NULL: none */
    const fh_flag_t *flags; /**< the program's own flags, ended by FH_FLAGS_END; NULL: none */
    /** Names of flags (the server's or the program's) that bare arguments
     * fill, in order, NULL-terminated: {"port", "threads", NULL} makes
     * `app 8080 2` mean `app --port 8080 --threads 2`. NULL: a bare
     * argument is refused. */
    const char *const *operands;
} fh_args_t;

/** fh_server_config_args's answer to -h and --help: print the usage
 * (fh_server_usage) to stdout and exit with status 0. */
#define FH_ARGS_HELP 1

/** Reads the command line and the environment into cfg and the program's
 * flags. The server's flags are
 *   --host HOST     HOST     as in fh_server_config_env ("" or "*": every
 *                            interface; checked to be an address)
 *   --port PORT     PORT     0..65535 (0: an ephemeral port)
 *   --threads N     THREADS  0..1024 (0: one per CPU)
 *   --tls-cert FILE TLS_CERT cfg->tls.cert_file: serve HTTPS (with --tls-key)
 *   --tls-key FILE  TLS_KEY  cfg->tls.key_file
 *   --tls-ca FILE   TLS_CLIENT_CA      cfg->tls.client_ca_file
 *   --tls-verify MODE TLS_VERIFY_CLIENT none, optional or required
 *   -h, --help
 * and the program's are args->flags. A flag is written "--name VALUE" or
 * "--name=VALUE"; "--" ends the flags. A flag given wins over its
 * environment variable, which wins over the value already in cfg (or in
 * the flag's target): set the program's defaults first. A flag given twice
 * keeps the last value.
 *
 * cfg may be NULL, for a program that serves nothing (a benchmark): then
 * only args->flags are read, and --host, --port and --threads are unknown.
 *
 * Returns 0 with everything read; FH_ARGS_HELP (1) when -h or --help was
 * given; or FH_ECONFIG for an unknown flag, a missing value, a value out of
 * range or not a number, an unexpected argument, or a bad args (a flag
 * name taken twice): fh_server_config_error then names the flag or the
 * variable and quotes the value ("fasthttp: --port: \"80a\" is not a whole
 * number in 0..65535"; "fasthttp: environment variable THREADS: ..."). On
 * anything but 0, cfg and every flag's target are unchanged, so
 * fh_server_usage still shows the defaults. Every example does:
 *
 *     int err = fh_server_config_args(&cfg, argc, argv, &args);
 *     if (err == FH_ARGS_HELP) {
 *         fh_server_usage(stdout, argv[0], &cfg, &args);
 *         return 0;
 *     }
 *     if (err) {
 *         fprintf(stderr, "%s\n", fh_server_config_error(&cfg, err));
 *         return 2;
 *     }
 *
 * cfg->host then points into argv or the environment (fh_server_new copies
 * it). Reads only its arguments and getenv: call it from one thread. */
FH_API int fh_server_config_args(fh_server_config_t *cfg, int argc, char **argv,
                                 const fh_args_t *args);

/** Writes the usage of a program that reads its command line with
 * fh_server_config_args to `to`: the usage line, args->summary, then one
 * line per flag, the server's first (none when cfg is NULL), each with its
 * environment variable and its default, read from cfg and the flags'
 * targets as they are now (call it before a successful
 * fh_server_config_args changes them). argv0 names the program when
 * args->program is NULL. */
FH_API void fh_server_usage(FILE *to, const char *argv0, const fh_server_config_t *cfg,
                            const fh_args_t *args);

/** A final handler for an error chain (cfg.error_handler) that leaves the
 * core's answer as it is: returns 0 and touches nothing, so the middleware
 * around it (access log, request id) see and decorate the core's text
 * response. data is ignored. */
FH_API int fh_error_keep(fh_request_t *req, fh_response_t *res, void *data);

/** Validates cfg, binds every worker's listening socket and allocates the
 * server; nothing runs yet. The config is copied (host and server_name too).
 * Returns 0, FH_ECONFIG (fh_server_config_error names the field), or a
 * libuv error from binding (FH_EADDRINUSE...). */
FH_API int fh_server_new(fh_server_t **out, const fh_server_config_t *cfg);
/** A message for an fh_server_new error, naming the bad field when it is a
 * config error ("fasthttp: config.port: must be 0..65535"), or the
 * environment variable fh_server_config_env refused. Static string owned by
 * the library, valid until the next fh_server_new, fh_server_config_env or
 * fh_server_config_error in this thread. */
FH_API const char *fh_server_config_error(const fh_server_config_t *cfg, int err);

/** Starts the worker threads and returns once they accept connections. */
FH_API int fh_server_start(fh_server_t *server);
/** fh_server_start, then waits until fh_server_stop is called (from any
 * thread) or, with handle_signals, SIGINT/SIGTERM arrives; then stops
 * gracefully and returns 0. */
FH_API int fh_server_run(fh_server_t *server);
/** Graceful stop, callable from any thread, any number of times: listeners
 * close, in-flight requests finish within drain_ms, idle connections close,
 * threads join. Does not wait; fh_server_wait does. */
FH_API void fh_server_stop(fh_server_t *server);
/** Zero-downtime restart: starts a new generation of the program
 * (cfg.restart_path, or the binary at the path this one was started
 * from; the same arguments and environment) and hands it every listening
 * socket of this server, open: it accepts from the same accept queues,
 * so no connection waiting in one is refused or reset. The new
 * generation's fh_server_new takes the sockets whose address its config
 * lists (binding only the others) and, once every worker of its server
 * accepts, tells this one, which only then stops as fh_server_stop does:
 * /readyz fails, it stops accepting (leaving what is queued to the new
 * generation), answers what it has received (the last answer on each
 * connection with Connection: close), keeps a connection answered or
 * accepted less than a second ago (at most drain_ms / 2) open for its
 * next request, answered with Connection: close, closes the other idle
 * connections, and its threads end (fh_server_run returns 0: exit then).
 * Under systemd (NOTIFY_SOCKET) it sends MAINPID= with the new pid, and
 * every generation sends READY=1 once it accepts.
 *
 * Blocks until the new generation is ready or has failed, at most
 * timeouts.restart_ms (30 s): call it from a thread of its own, not from
 * a handler (fh_server_run calls it on SIGUSR2). Returns 0 (handed over,
 * this server stopping), FH_EBUSY (a restart is under way), FH_ESTATE
 * (not running, or stopping), FH_ERESTART (the new generation exited
 * before it was ready: a config error, a crash...), FH_ETIMEDOUT (not
 * ready in time: it was sent SIGTERM), FH_ECANCELED (this server was
 * asked to stop before the new generation was ready: the new one is sent
 * SIGTERM too, and the stop goes on), or an error starting it (FH_ENOENT:
 * no such program). On every error this generation keeps serving as
 * before, and the reason is written to stderr with the child's pid and
 * exit status. Only the server it is called on is handed over: a program
 * with two servers serves the other one's addresses anew. */
FH_API int fh_server_restart(fh_server_t *server);
/** Waits until a started server has fully stopped (threads joined). */
FH_API int fh_server_wait(fh_server_t *server);
/** Stops (if running), waits, frees everything. NULL is a no-op. */
FH_API void fh_server_free(fh_server_t *server);

/** The bound port (useful with port 0). */
FH_API int fh_server_port(const fh_server_t *server);
/** The port listen[i] is bound to (ephemeral ports resolved); 0 for a
 * Unix-domain socket; FH_EINVAL when i is not an entry. Without listen,
 * entry 0 is host and port. */
FH_API int fh_server_listen_port(const fh_server_t *server, int i);
/** Number of worker threads. */
FH_API int fh_server_threads(const fh_server_t *server);

/** @{ */
/** Counters, summed over workers (approximate while running). */
typedef struct fh_server_stats {
    uint64_t connections_accepted; /**< connections accepted since the start */
    uint64_t connections_open;     /**< connections open now */
    uint64_t requests;             /**< requests handled */
    uint64_t errors_4xx;           /**< error responses produced by the framework */
    uint64_t errors_5xx;           /**< 5xx responses produced by the framework */
    uint64_t timeouts;             /**< connections closed by a timeout */
    uint64_t writes;               /**< write system calls (uv_try_write + uv_write) */
    /** Connections holding a read buffer of their own right now (only those
     * with an incomplete or paused request: idle ones hold none). */
    uint64_t conn_buffers;
    /** Pieces of files (fh_send_fd, static files) sent with sendfile(2) on
     * the loop because their pages were in memory. */
    uint64_t file_steps_loop;
    /** Pieces of files read on the thread pool first (their pages were not
     * in memory, so a read could have blocked the loop), then sent. */
    uint64_t file_steps_pool;
} fh_server_stats_t;
/** @copydoc fh_server_stats_t */
FH_API void fh_server_stats(const fh_server_t *server, fh_server_stats_t *out);
/** @} */

/** @{ */
/** Runs fn(data) on the loop thread of the given worker (index 0..threads-1),
 * from any thread. Returns FH_ENOMEM or FH_ESTATE (server stopping). */
typedef void (*fh_loop_fn)(void *data);
/** @} */
/** @copydoc fh_loop_fn */
FH_API int fh_server_post(fh_server_t *server, int worker, fh_loop_fn fn, void *data);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_SERVER_H */
