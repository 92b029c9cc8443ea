/* fasthttp — rate limit middleware: a token bucket per client address.
 *
 * Each client has a bucket of `burst` tokens that refills at `rate` tokens
 * per second; a request takes one. A request that finds the bucket empty is
 * answered here:
 *
 *     HTTP/1.1 429 Too Many Requests
 *     Retry-After: <seconds until a token is back>
 *     RateLimit-Limit: <burst>
 *     RateLimit-Remaining: 0
 *     RateLimit-Reset: <seconds until the bucket is full>
 *     RateLimit-Policy: <burst>;w=<seconds to refill from empty>
 *
 * Allowed responses carry the same RateLimit-* headers (from the after
 * hook, so errors get them too) unless no_headers is set. Header names
 * follow the IETF httpapi rate-limit draft's first form.
 *
 * Per thread: every worker thread keeps its own table, with no lock and no
 * shared counter. A client whose connections land on several workers (the
 * kernel spreads new connections over SO_REUSEPORT listeners) can get up to
 * threads x rate; size rate for that, or run the limiter with threads = 1.
 * A keep-alive connection stays on one worker.
 *
 * Bounded memory: each table holds max_clients buckets in sets of 8 (a
 * set-associative cache); a new client takes the free or least recently
 * seen bucket of its set, so an evicted idle client simply starts again
 * with a full bucket. The hash is keyed per table with random bits, so
 * clients cannot aim at one set.
 *
 * Client address: the connection's peer, IPv6 addresses reduced to their
 * first ipv6_prefix bits (one /64 is usually one client). Behind a proxy,
 * trusted_header names a header the proxy sets (X-Forwarded-For,
 * X-Real-IP): its last comma-separated address is used — the one the
 * proxy itself appended — falling back to the peer when it is missing or
 * malformed. Only set it when every request comes through that proxy.
 */
#ifndef FASTHTTP_MW_RATE_LIMIT_H
#define FASTHTTP_MW_RATE_LIMIT_H

#include "middleware.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of fh_rate_limit_new (a token bucket per client). */
typedef struct fh_rate_limit_options {
    /** Tokens per second added to each bucket; required, > 0. */
    double rate;
    /** Bucket size (the burst a fresh client may send at once):
     * 0 = rate rounded up, at least 1. */
    uint32_t burst;
    /** Buckets per worker thread: 0 = 16384; rounded up to a multiple of
     * 8; at most 1 << 24. */
    size_t max_clients;
    /** A request header with the client address, set by a trusted proxy;
     * NULL = the connection's peer address. */
    const char *trusted_header;
    /** Bits of an IPv6 address that identify a client: 0 = 64; 1..128. */
    int ipv6_prefix;
    /** Leave RateLimit-* headers off allowed responses (default false). */
    bool no_headers;
} fh_rate_limit_options_t;

/** Fills *out. FH_ECONFIG names a bad field. Free with
 * fh_middleware_release after the server is freed. */
FH_API int fh_rate_limit_new(fh_middleware_t *out, const fh_rate_limit_options_t *opt);

#ifdef __cplusplus
}
#endif
#endif /* FASTHTTP_MW_RATE_LIMIT_H */
