/* Test helpers: a server on an ephemeral loopback port, raw client sockets
 * and a small HTTP/1.1 response reader. Used by unit and integration tests. */
#ifndef FH_TESTUTIL_H
#define FH_TESTUTIL_H

#include <fasthttp.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Starts a server on 127.0.0.1 (port 0) with the given config (handler
 * required; host/port/handle_signals are overridden). Fails the test on
 * error. */
fh_server_t *fht_server_start(fh_server_config_t *cfg);
/* Stops, waits and frees. */
void fht_server_stop(fh_server_t *s);
/* FH_TEST_TLS=1: every server fht_server_start (and fht_start) starts
 * serves HTTPS with the test certificate (tls_files.h), unless its config
 * has one, and fht_connect and fht_connect_raw connect through a TLS relay
 * (tls_relay.h): a plain-HTTP test reruns over TLS unchanged. */
bool fht_over_tls(void);

/* A blocking TCP connection to 127.0.0.1:port with a 5 s receive timeout. */
int fht_connect(int port);
/* The same connection without the receive timeout, TCP_NODELAY, the
 * per-fd buffer or any assertion, for client threads and for tests that
 * read with plain recv: returns the fd (close-on-exec), or -1. */
int fht_connect_raw(int port);
/* Sends everything; fails the test on error. */
void fht_send(int fd, const void *buf, size_t len);
void fht_send_str(int fd, const char *s);

typedef struct fht_response {
    int status;
    char head[8192]; /* status line and headers, NUL-terminated */
    char *body;      /* malloc'ed, NUL-terminated */
    size_t body_len;
    int chunked; /* body was chunked (de-chunked here) */
} fht_response_t;

/* Reads one response (Content-Length, chunked, or no body for HEAD when
 * head_request). Returns 0, or -1 on EOF/timeout/parse error. Buffered bytes
 * for the connection are kept in a per-fd buffer between calls. */
int fht_read_response(int fd, fht_response_t *out, int head_request);
void fht_response_free(fht_response_t *r);
/* Value of a header in r->head (case-insensitive), copied into out; returns
 * 1 if present. */
int fht_header(const fht_response_t *r, const char *name, char *out, size_t cap);
/* Waits up to ms for the peer to close: returns 1 if it closed (EOF or
 * reset) with no further bytes, 0 if still open, -1 if bytes arrived. */
int fht_wait_closed(int fd, int ms);
/* Closes fd and forgets its buffered bytes. */
void fht_close(int fd);
/* This process's resident memory (VmRSS), in KiB. */
size_t fht_rss_kb(void);
/* Milliseconds on a monotonic clock. */
uint64_t fht_now_ms(void);
/* n bytes (at least one allocated) of a fixed, non-repeating-looking text
 * pattern, malloc'ed: the caller frees it. */
char *fht_pattern(size_t n);

/* ---- the shared fixture ----
 * Most test files run one server at a time: fht_start starts it (as
 * fht_server_start does) and sets fht_server and fht_port; fht_stop stops
 * it, and fht_teardown, usable as a cmocka group teardown, does the same. */
extern fh_server_t *fht_server;
extern int fht_port;
void fht_start(fh_server_config_t *cfg);
/* fht_start with the default config, handler and threads. */
void fht_start_handler(fh_handler_fn handler, void *data, int threads);
/* fht_start_handler of a chain (fht_chain) of the n middleware mws, in
 * order (copied, as fh_chain_use does), around handler and its data;
 * fht_stop frees the chain once the server has stopped. The middleware
 * stay the caller's to release. */
extern fh_chain_t *fht_chain;
void fht_start_chain(fh_handler_fn handler, void *data, int threads, const fh_middleware_t *mws,
                     size_t n);
/* fht_start of cfg with router as its handler and its streamed-body
 * dispatcher (fh_router_handle, fh_router_body_stream); the router stays
 * the caller's, freed after fht_stop. */
void fht_start_router(fh_server_config_t *cfg, fh_router_t *router);
void fht_stop(void);
int fht_teardown(void **state);

/* Sends raw on a new connection to fht_port, reads one response into *r
 * (no body when raw is a HEAD request) and closes. Free r with
 * fht_response_free. */
void fht_exchange(const char *raw, fht_response_t *r);
/* fht_exchange of "<method> <target> HTTP/1.1", "Host: t" and the header
 * lines extra (each ending in CRLF; NULL for none). */
void fht_request(const char *method, const char *target, const char *extra, fht_response_t *r);
/* The value of header name in r, "" when absent: one of four static buffers
 * in turn (valid until the fourth call after it; the test's thread only). */
const char *fht_hdr(const fht_response_t *r, const char *name);

/* Reads one response (head_request as in fht_read_response) and checks its
 * status, its body when body is not NULL, its framing when chunked is 1
 * (chunked) or 0 (not chunked; -1: either), and that it carries a 29-byte
 * Date, as every response must. fht_expect and fht_expect_head are its
 * short forms. */
void fht_expect_response(int fd, int head_request, int status, const char *body, int chunked);
void fht_expect(int fd, int status, const char *body);
void fht_expect_head(int fd, int status);
/* Waits up to 5 s for the counter to reach want; fails the test otherwise
 * (or at once when it went past want). */
void fht_wait_for(const atomic_int *counter, int want);
/* Reads exactly n bytes into buf (buffered bytes first); returns 0, or -1 on
 * EOF, reset or timeout, with *got set to the bytes read before it. */
int fht_recv_exact(int fd, void *buf, size_t n, size_t *got);
/* For the zero-malloc tests: `rounds` times, sends reqs copies of req in
 * one write (pipelined when reqs > 1) and reads back exactly reqs *
 * resp_len bytes, with plain send/recv into static buffers, allocating
 * nothing (the test's thread only; reqs * strlen(req) up to 8 KiB). */
void fht_round_trips(int fd, const char *req, int reqs, int rounds, size_t resp_len);
/* Sends buf (which must stay valid) from a thread of its own, so that the
 * test can read while the server is still being sent to; one at a time.
 * fht_send_async_join waits for it and fails the test if a send failed. */
void fht_send_async(int fd, const void *buf, size_t len);
void fht_send_async_join(void);

/* ---- server side ----
 * A handler's answer given later: fht_later calls fn(res, data) ms
 * milliseconds from now, from a one-shot timer on the loop of res's request,
 * once that timer's handle is closed (so that fn may end the response,
 * which can release the request and the timer's memory, taken from the
 * request's arena). The caller has deferred res (fh_response_defer); data
 * must stay valid until fn runs (the request's arena, or static). Returns 0
 * or FH_ENOMEM (fn is then never called). Call it on the loop's thread (from
 * the handler, or a callback of that loop). */
typedef void (*fht_later_fn)(fh_response_t *res, void *data);
int fht_later(fh_response_t *res, uint64_t ms, fht_later_fn fn, void *data);

#endif
