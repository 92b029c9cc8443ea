/* Shared bits of the benchmark peers: argument parsing, the endpoint
 * contract's constants, the per-request JSON body and a signal wait.
 *
 * Every peer serves, on 127.0.0.1 only:
 *   GET /plaintext  -> 200 text/plain        "Hello, World!"
 *   GET /json       -> 200 application/json  {"message":"Hello, World!"}
 *                      (a jansson object built and serialized per request)
 *   GET /user/:id   -> 200 text/plain        "User ID: <id>"
 *   anything else   -> 404
 *
 * Usage of every peer:  <peer> [PORT [THREADS]]
 * or the environment:   PORT=8080 THREADS=4 <peer>
 * argv wins over the environment; THREADS defaults to the number of online
 * CPUs, PORT to 8080. */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_HOST "127.0.0.1"
#define PEER_PLAINTEXT "Hello, World!"
#define PEER_USER_PREFIX "/user/"
#define PEER_USER_BODY_PREFIX "User ID: "
#define PEER_NOT_FOUND "Not Found"

typedef struct {
    int port;
    int threads;
} peer_opts_t;

static inline int peer_parse_int(const char *s, int lo, int hi, const char *what) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "peer: bad %s '%s' (want %d..%d)\n", what, s, lo, hi);
        exit(2);
    }
    return (int)v;
}

static inline peer_opts_t peer_parse_args(int argc, char **argv) {
    peer_opts_t o;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o.port = 8080;
    o.threads = ncpu > 0 ? (int)ncpu : 1;
    const char *e;
    if ((e = getenv("PORT")) && *e)
        o.port = peer_parse_int(e, 1, 65535, "PORT");
    if ((e = getenv("THREADS")) && *e)
        o.threads = peer_parse_int(e, 1, 1024, "THREADS");
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        fprintf(stderr, "usage: %s [PORT [THREADS]]  (or PORT=, THREADS= in the environment)\n",
                argv[0]);
        exit(0);
    }
    if (argc > 1)
        o.port = peer_parse_int(argv[1], 1, 65535, "port");
    if (argc > 2)
        o.threads = peer_parse_int(argv[2], 1, 1024, "threads");
    return o;
}

/* The /json body: a fresh jansson object serialized on every call. The
 * caller frees the string with free() (jansson's default allocator). */
static inline char *peer_json_body(size_t *len) {
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    if (json_object_set_new(obj, "message", json_string(PEER_PLAINTEXT))) {
        json_decref(obj);
        return NULL;
    }
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (s && len)
        *len = strlen(s);
    return s;
}

/* An id is a non-empty path segment: what follows "/user/" up to the end,
 * with no further '/'. Returns its length, or 0 when the path does not match. */
static inline size_t peer_user_id(const char *path, size_t len, const char **id) {
    size_t plen = sizeof(PEER_USER_PREFIX) - 1;
    if (len <= plen || memcmp(path, PEER_USER_PREFIX, plen))
        return 0;
    if (memchr(path + plen, '/', len - plen))
        return 0;
    *id = path + plen;
    return len - plen;
}

/* Blocks the calling thread until SIGINT or SIGTERM. Call peer_block_signals()
 * before starting any thread so that workers inherit the blocked mask. */
static inline void peer_block_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static inline int peer_wait_signal(void) {
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &sig);
    return sig;
}

#endif
